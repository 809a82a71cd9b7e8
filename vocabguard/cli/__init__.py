"""The ``vocabguard`` command line: build, inspect, list, verify, encode and export.

Examples::

    vocabguard build --name sotu --input 'speeches/*.txt' --lowercase --max-tokens 20000
    vocabguard build --name news --input news.jsonl --field body --config configs/news.yaml
    vocabguard list
    vocabguard inspect sotu@v1
    vocabguard verify sotu@latest
    vocabguard encode sotu@v1 --input speeches/2024.txt --output ids.parquet
    vocabguard export sotu@v1 --format keras --output exported/sotu_keras

Every subcommand takes ``--store DIR`` (else ``$VOCABGUARD_STORE``, else
``./vocab_store``). ``build`` prints the published reference (``sotu@v1``) as the
last line of stdout; summaries and progress go to stderr.

This module imports only the standard library at import time; the library
(numpy, pyarrow, and never TensorFlow or Beam) is imported inside the commands,
so ``vocabguard --help`` answers without loading any of it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from vocabguard.cli._common import (
    PROG,
    Formatter,
    Parser,
    VersionAction,
    add_store,
    add_verbose,
    exit_status,
    run_guarded,
    unrecognized,
    usage_error,
)

# Command groups, each a module with its parsers beside its handlers, in --help order.
_GROUPS = ("build", "store", "encode", "export", "importing", "data", "models")


def build_parser() -> argparse.ArgumentParser:
    """The ``vocabguard`` argument parser (imports nothing beyond the standard library)."""
    parser = Parser(
        prog=PROG,
        description="Versioned token vocabularies whose ids always fit the Embedding.",
        formatter_class=Formatter,
        epilog=(
            "examples:\n"
            "  vocabguard build --name sotu --input 'speeches/*.txt' --lowercase\n"
            "  vocabguard inspect sotu@v1\n"
            "  vocabguard encode sotu@latest --input 2024.txt --output ids.parquet\n\n"
            "Run 'vocabguard COMMAND --help' for the options of a command."
        ),
    )
    parser.add_argument("--version", action=VersionAction)
    add_store(parser, default=None)
    add_verbose(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable, help: str, epilog: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog="example:\n  " + epilog,
            formatter_class=Formatter,
        )
        # SUPPRESS keeps a --store given before the command name.
        add_store(sub, default=argparse.SUPPRESS)
        add_verbose(sub)
        sub.set_defaults(func=func)
        return sub

    for group in _GROUPS:
        importlib.import_module(f"vocabguard.cli.{group}").register(command)
    parser.set_defaults(_commands=commands.choices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error, 2 usage error).

    ``argv`` defaults to ``sys.argv[1:]``; the console script does
    ``sys.exit(main())``.

    >>> main(["verify", "no_such_vocab", "--store", "/nonexistent/store"])
    1
    """
    return run(sys.argv[1:] if argv is None else argv)


def _strip_verbose(argv: Sequence[str]) -> list[str]:
    out, passthrough = [], False
    for arg in argv:
        if arg == "--":
            passthrough = True
        if passthrough or arg not in ("-v", "--verbose"):
            out.append(arg)
    return out


def quiet_argv(argv: Sequence[str]) -> list[str]:
    """For the ``pipelines/`` scripts: quiet TensorFlow and Beam unless ``-v``/``--verbose``
    is in ``argv`` (then their INFO logs are shown); return ``argv`` without it."""
    import logging

    from vocabguard.cli.quiet import quiet, verbose_requested

    verbose = verbose_requested(argv)
    quiet(verbose=verbose)
    if verbose:
        logging.basicConfig(level=logging.INFO)
    return _strip_verbose(argv)


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command; user errors become ``vocabguard: error:`` lines."""
    from vocabguard.cli.quiet import quiet, verbose_requested

    argv = list(argv)
    quiet(verbose=verbose_requested(argv))
    argv = _strip_verbose(argv)
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            sub = args._commands.get(getattr(args, "command", None), parser)
            sys.stderr.write(usage_error(unrecognized(extras, sub), sub.prog))
            return 2
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_status(exit_.code)
    return run_guarded(lambda _: args.func(args), None, getattr(args, "command", None))
