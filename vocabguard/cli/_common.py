"""What every command shares: the parser classes, the store option, one error path."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vocabguard._src.core.store import VocabStore


PROG = "vocabguard"


STORE_ENV = "VOCABGUARD_STORE"


DEBUG_ENV = "VOCABGUARD_DEBUG"


DEFAULT_STORE = "./vocab_store"  # the same default as vocabguard._src.core.store.DEFAULT_STORE


@dataclasses.dataclass(frozen=True)
class BeamMode:
    """The Beam mode of a command that also runs in this process (``build``, ``encode``).

    Attributes:
        is_job: whether the parsed flags ask for a job config's Beam mode.
        job_flags: the destinations that mode takes; every other flag is the in-process
            mode's, an error beside a job config.
        runner_job: ``--runner`` without a job config runs the in-process flags as a
            one-feature job (``build``); for a command with positionals it is False.
    """

    is_job: Callable[[argparse.Namespace], bool]
    job_flags: frozenset[str]
    runner_job: bool = False


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as ``vocabguard: error: ...`` plus a pointer to --help.

    An invalid choice gets a "did you mean" when one choice is close. A command with a
    ``beam_mode`` reads both modes' flags in one parse (see ``parse_beam_mode``).
    """

    beam_mode: BeamMode | None = None
    # While a Beam-mode parse sets them aside: (action, required, nargs, default) as declared.
    _declared: tuple = ()

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, usage_error(with_suggestion(message), self.prog))

    def format_usage(self) -> str:
        with _as_declared(self._declared):
            return super().format_usage()

    def format_help(self) -> str:  # --help during a Beam-mode parse shows the declared usage
        with _as_declared(self._declared):
            return super().format_help()

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self.beam_mode is None:
            return super().parse_known_args(args, namespace)
        return parse_beam_mode(self, self.beam_mode, args, namespace)


def parse_beam_mode(
    parser: Parser, mode: BeamMode, args: Sequence[str] | None, namespace: Any
) -> tuple[argparse.Namespace, list[str]]:
    """One parse of a two-mode command's arguments; ``beam_mode`` says which mode they ask
    for (``"job"``, ``"runner"`` or None: in process) and ``beam_args`` holds the
    arguments the command does not know, in order: Beam pipeline options, which Beam's
    own parser checks when the job runs (``cli.jobs.pipeline_options``).

    In process, those arguments are unrecognized (the caller reports them) and the
    required arguments are required; beside a job config, the in-process flags are a
    usage error.
    """
    # Required arguments and positionals belong to the in-process mode: set aside for
    # this parse, a positional would take the value of a Beam flag (``--flag 2``).
    required = [a for a in parser._actions if a.required]
    positionals = [a for a in parser._actions if not a.option_strings]
    parser._declared = tuple(
        (a, a.required, a.nargs, a.default) for a in dict.fromkeys([*required, *positionals])
    )
    for action in required:
        action.required = False
    for action in positionals:  # as argparse's own intermixed parse does
        action.nargs = action.default = argparse.SUPPRESS
    try:
        parsed, rest = argparse.ArgumentParser.parse_known_args(parser, args, namespace)
    finally:
        _restore(parser._declared)
        parser._declared = ()
    if mode.is_job(parsed):
        if getattr(parsed, "config", None) is None:
            job_usage_error(parser, "the following arguments are required: --config")
        given = [
            "/".join(a.option_strings)
            for a in parser._actions
            if a.option_strings and a.dest not in mode.job_flags and _given(parsed, a)
        ]
        if given:
            job_usage_error(
                parser,
                f"{', '.join(given)}: in-process flag{'s' if len(given) > 1 else ''}; "
                "a job config names its inputs, fields and specs",
            )
        parsed.beam_mode, parsed.beam_args = "job", rest
        return parsed, []
    if positionals:  # the in-process mode of a command with positionals: argparse as usual
        parsed, rest = argparse.ArgumentParser.parse_known_args(parser, args, namespace)
        parsed.beam_mode, parsed.beam_args = None, []
        return parsed, rest
    missing = [a for a in required if not _given(parsed, a)]
    if missing:
        parser.error(
            "the following arguments are required: "
            + ", ".join(argparse._get_action_name(a) or a.dest for a in missing)
        )
    if mode.runner_job and getattr(parsed, "runner", None) is not None:
        parsed.beam_mode, parsed.beam_args = "runner", rest
        return parsed, []
    parsed.beam_mode, parsed.beam_args = None, []
    return parsed, rest


def _restore(declared: tuple) -> None:
    for action, required, nargs, default in declared:
        action.required, action.nargs, action.default = required, nargs, default


@contextlib.contextmanager
def _as_declared(declared: tuple) -> Iterator[None]:
    """The actions as declared for a while (help printed in the middle of a parse)."""
    current = tuple((a, a.required, a.nargs, a.default) for a, *_ in declared)
    _restore(declared)
    try:
        yield
    finally:
        _restore(current)


def _given(namespace: argparse.Namespace, action: argparse.Action) -> bool:
    """Whether the command line set ``action``'s value (argparse stores the default
    object itself otherwise; a flag given with its default value changes nothing)."""
    return getattr(namespace, action.dest, action.default) is not action.default


def job_usage_error(parser: argparse.ArgumentParser, message: str) -> None:
    """A usage error of a command's Beam mode (exits 2)."""
    parser.exit(
        2,
        usage_error(f"{message} (the Beam mode of {parser.prog} takes a job config)", parser.prog),
    )


def usage_error(message: str, prog: str) -> str:
    """The two lines of a usage error: the message, then where the options are listed."""
    return f"{PROG}: error: {message}\nRun '{prog} --help' for usage.\n"


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to ``word`` (difflib), or None when none is close.

    >>> closest("--lowercsae", ["--lowercase", "--min-count"])
    '--lowercase'
    """
    import difflib

    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def with_suggestion(message: str) -> str:
    """argparse's ``invalid choice`` message plus ``did you mean 'x'?`` when one is close."""
    import re

    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not match:
        return message
    choices = re.findall(r"'([^']*)'", match.group(2)) or [
        c.strip() for c in match.group(2).split(",")
    ]
    guess = closest(match.group(1), choices)
    return f"{message}; did you mean {guess!r}?" if guess else message


def unrecognized(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """The message for arguments ``parser`` does not take, with the closest option."""
    options = [s for action in parser._actions for s in action.option_strings]
    first = extras[0]
    flag = first.split("=", 1)[0]
    message = f"unrecognized argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"
    if flag.startswith("-"):
        guess = closest(flag, [o for o in options if o.startswith("--")] or options)
        if guess:
            message += f" (did you mean {guess}?)"
    return message


def add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show TensorFlow's, Keras' and Beam's own log output (quiet by default)",
    )


class Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _version() -> str:
    from vocabguard import __version__

    return __version__


class VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{PROG} {_version()}")
        parser.exit(0)


def add_store(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR",
        default=default,
        help=f"vocabulary store root (default: ${STORE_ENV}, else {DEFAULT_STORE})",
    )


def add_input_options(
    parser: argparse.ArgumentParser, *, repeat_help: str, several_fields: bool = False
) -> None:
    parser.add_argument(
        "--input",
        required=True,
        action="append",
        metavar="PATH_OR_GLOB",
        help=f"input file or glob such as 'data/*.jsonl' ({repeat_help})",
    )
    parser.add_argument(
        "--format",
        choices=("text", "jsonl", "csv", "parquet"),
        help="input format (default: from each file's extension)",
    )
    if several_fields:
        parser.add_argument(
            "--field",
            action="append",
            metavar="FIELD",
            help="JSON key / CSV or Parquet column holding the values; repeat it to give "
            "several fields one id space (--field hist --field tgt)",
        )
    else:
        parser.add_argument("--field", help="JSON key / CSV or Parquet column holding the document")


def run_guarded(func: Callable[[Any], Any], argument: Any, command: str | None = None) -> int:
    """Call ``func(argument)``; user errors become one ``vocabguard: error:`` line, exit 1.

    A missing optional dependency (TensorFlow for ``train``, Beam for ``--runner``, ...)
    is such a line too, naming the extra that installs it; ``command`` names the command.
    """
    try:
        return int(func(argument) or 0)
    except SystemExit as exit_:  # argparse inside a job: --help or a usage error
        return exit_status(exit_.code)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `vocabguard list | head`: stop quietly; keep Python's exit-time flush quiet too.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except Exception as err:
        if os.environ.get(DEBUG_ENV):
            raise
        from vocabguard._src.core.extras import missing_extra

        missing = missing_extra(err, f"{PROG} {command}" if command else "This command")
        if missing is not None:
            print(f"{PROG}: error: {missing}", file=sys.stderr)
            return 1
        remote = _remote_user_error(err)
        if remote is not None:
            print(f"{PROG}: error: {remote}", file=sys.stderr)
            return 1
        if not _is_user_error(err):
            raise
        _print_error(err)
        return 1


def _remote_user_error(err: BaseException) -> str | None:
    """The message of a vocabguard error raised on a Beam worker, if ``err`` carries one.

    Runners that execute DoFns in other processes re-raise worker failures as a
    RuntimeError holding the worker's traceback text; the user's mistake (a bad
    record, say) is its last ``vocabguard.errors.X: message`` line.
    """
    import re

    from vocabguard._src.core.errors import VocabguardError

    if isinstance(err, VocabguardError):
        return None
    found = re.findall(r"vocabguard\.errors\.\w+: ([^\n]+)", str(err))
    return found[-1].strip() if found else None


def exit_status(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _is_user_error(err: BaseException) -> bool:
    from vocabguard._src.core.errors import VocabguardError

    # OSError covers missing inputs, permissions, full disks and directories in the way.
    return isinstance(err, (VocabguardError, OSError))


def _print_error(err: BaseException) -> None:
    from vocabguard._src.core.errors import VocabguardError

    if isinstance(err, OSError) and not isinstance(err, VocabguardError):
        target = err.filename if err.filename is not None else ""
        what = err.strerror or str(err)
        message = f"{what}: {target}" if target else what
    else:
        message = str(err)
    print(f"{PROG}: error: {message}", file=sys.stderr)


def store_from_args(args: argparse.Namespace) -> VocabStore:
    from vocabguard._src.core.store import VocabStore

    root = getattr(args, "store", None) or os.environ.get(STORE_ENV) or DEFAULT_STORE
    return VocabStore(root)


def note(message: str) -> None:
    print(message, file=sys.stderr)
