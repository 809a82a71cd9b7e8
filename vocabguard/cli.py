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
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vocabguard.store import VocabStore
    from vocabguard.vocabulary import Vocabulary

PROG = "vocabguard"
STORE_ENV = "VOCABGUARD_STORE"
DEBUG_ENV = "VOCABGUARD_DEBUG"
DEFAULT_STORE = "./vocab_store"  # the same default as vocabguard.store.DEFAULT_STORE
ENCODE_BATCH_SIZE = 8192
KERAS_VOCABULARY = "vocabulary.txt"
KERAS_CONFIG = "lookup_config.json"
TFT_VOCABULARY = "vocabulary.txt"
TFT_NOTES = "NOTES.txt"

# VocabSpec fields settable from `build` flags: argparse dest -> spec field.
_SPEC_FLAGS = {
    "tokenizer": "tokenizer",
    "pattern": "pattern",
    "lowercase": "lowercase",
    "normalization": "normalization",
    "min_count": "min_count",
    "max_tokens": "max_tokens",
    "num_oov_buckets": "num_oov_buckets",
    "reserved_token": "reserved_tokens",
    "capacity": "capacity",
    "max_token_bytes": "max_token_bytes",
    "sequence_length": "sequence_length",
    "id_dtype": "id_dtype",
}


# -- argument parsing --


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as ``vocabguard: error: ...`` plus a pointer to --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{PROG}: error: {message}\nRun '{self.prog} --help' for usage.\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _version() -> str:
    from vocabguard import __version__

    return __version__


class _VersionAction(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"{PROG} {_version()}")
        parser.exit(0)


def _add_store(parser: argparse.ArgumentParser, *, default: Any) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR",
        default=default,
        help=f"vocabulary store root (default: ${STORE_ENV}, else {DEFAULT_STORE})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``vocabguard`` argument parser (imports nothing beyond the standard library)."""
    parser = _Parser(
        prog=PROG,
        description="Versioned token vocabularies whose ids always fit the Embedding.",
        formatter_class=_Formatter,
        epilog=(
            "examples:\n"
            "  vocabguard build --name sotu --input 'speeches/*.txt' --lowercase\n"
            "  vocabguard inspect sotu@v1\n"
            "  vocabguard encode sotu@latest --input 2024.txt --output ids.parquet\n\n"
            "Run 'vocabguard COMMAND --help' for the options of a command."
        ),
    )
    parser.add_argument("--version", action=_VersionAction)
    _add_store(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable, help: str, epilog: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog="example:\n  " + epilog,
            formatter_class=_Formatter,
        )
        # SUPPRESS keeps a --store given before the command name.
        _add_store(sub, default=argparse.SUPPRESS)
        sub.set_defaults(func=func)
        return sub

    build = command(
        "build",
        _cmd_build,
        "build a vocabulary from input files and publish it as the next version of NAME",
        "vocabguard build --name sotu --input 'speeches/*.txt' --lowercase --max-tokens 20000",
    )
    build.add_argument("--name", required=True, help="vocabulary name (letters, digits, _ . -)")
    build.add_argument(
        "--parent",
        metavar="REF",
        help="grow this version with stable ids: every parent token keeps its id, new tokens "
        "are appended (spec defaults to the parent's)",
    )
    build.add_argument(
        "--retire",
        action="store_true",
        help="with --parent: parent tokens now below min_count map to OOV (rows stay reserved)",
    )
    _add_input_options(build, repeat_help="may be repeated")
    spec = build.add_argument_group(
        "vocabulary spec", "override the --config values (see vocabguard.VocabSpec)"
    )
    spec.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file of VocabSpec fields (or with a top-level 'spec:' section)",
    )
    spec.add_argument("--tokenizer", choices=("whitespace", "unicode_script", "regex", "none"))
    spec.add_argument("--pattern", metavar="RE", help="RE2 delimiter pattern (--tokenizer regex)")
    spec.add_argument(
        "--lowercase",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lowercase text (full Unicode case mapping)",
    )
    spec.add_argument("--normalization", choices=("none", "NFC", "NFKC"))
    spec.add_argument("--min-count", type=int, metavar="N", help="drop tokens seen fewer times")
    spec.add_argument("--max-tokens", type=int, metavar="N", help="cap on learned tokens")
    spec.add_argument("--num-oov-buckets", type=int, metavar="K", help="OOV ids 1..K")
    spec.add_argument(
        "--reserved-token",
        nargs="+",
        action="extend",
        metavar="TOK",
        help="tokens placed right after the OOV ids, in order (replaces the config's list)",
    )
    spec.add_argument("--capacity", type=int, metavar="N", help="fixed input_dim, room to grow")
    spec.add_argument("--max-token-bytes", type=int, metavar="N", help="never learn longer tokens")
    spec.add_argument("--sequence-length", type=int, metavar="N", help="pad/truncate encoded rows")
    spec.add_argument("--id-dtype", choices=("int32", "int64"))

    inspect = command(
        "inspect",
        _cmd_inspect,
        "show a published version: input_dim, id layout, spec and stats",
        "vocabguard inspect sotu@v1 --json",
    )
    inspect.add_argument("ref", metavar="REF", help="name, name@latest, name@vN or name@<hex>")
    inspect.add_argument("--json", action="store_true", help="print the manifest as JSON")

    listing = command(
        "list",
        _cmd_list,
        "list published versions: ref, created, input_dim, fingerprint, bytes, learned tokens, "
        "parent, pin",
        "vocabguard list sotu",
    )
    listing.add_argument("name", metavar="NAME", nargs="?", help="only this vocabulary")
    listing.add_argument("--json", action="store_true", help="print one JSON object per version")

    verify = command(
        "verify",
        _cmd_verify,
        "re-check the sha256 of every file of a version",
        "vocabguard verify sotu@v1",
    )
    verify.add_argument("ref", metavar="REF")

    encode = command(
        "encode",
        _cmd_encode,
        "encode documents to ids and write them to a new Parquet file",
        "vocabguard encode sotu@v1 --input 2024.txt --output ids.parquet",
    )
    encode.add_argument("ref", metavar="REF")
    _add_input_options(encode, repeat_help="may be repeated; rows follow the input order")
    encode.add_argument(
        "--output", required=True, metavar="OUT", help="Parquet file to create (never replaced)"
    )

    export = command(
        "export",
        _cmd_export,
        "write a version's vocabulary for Keras StringLookup or TFT apply_vocabulary",
        "vocabguard export sotu@v1 --format keras --output exported/sotu",
    )
    export.add_argument("ref", metavar="REF")
    export.add_argument("--format", required=True, choices=("keras", "tft"))
    export.add_argument(
        "--output", required=True, metavar="DIR", help="new (or empty) directory to write"
    )

    # -- check-model, audit, report: checks of models and data against an artifact --
    check_model = command(
        "check-model",
        _cmd_check_model,
        "check that a saved Keras model's Embedding layers fit a vocabulary version",
        "vocabguard check-model model.keras --vocab sotu@v1 --json",
    )
    check_model.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    check_model.add_argument("--vocab", required=True, metavar="REF", help="the vocabulary")
    check_model.add_argument(
        "--layer",
        action="append",
        metavar="NAME",
        help="check only this layer (name or path; may be repeated), for models with several "
        "vocabularies",
    )
    check_model.add_argument("--json", action="store_true", help="print the result as JSON")

    audit = command(
        "audit",
        _cmd_audit,
        "check that every id in encoded data lies in [0, input_dim) of a vocabulary version",
        "vocabguard audit 'encoded/*.parquet' --vocab sotu@v1 --column ids",
    )
    audit.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="Parquet or TFRecord (tf.train.Example) files, directories or globs",
    )
    audit.add_argument("--vocab", required=True, metavar="REF", help="the vocabulary")
    audit.add_argument(
        "--column",
        metavar="NAME",
        help="id column / int64 feature (default: the one the file's metadata names, else "
        "the only list<int> column)",
    )
    audit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on a terminal only)",
    )
    audit.add_argument("--json", action="store_true", help="print the result as JSON")

    report = command(
        "report",
        _cmd_report,
        "write an HTML report of a vocabulary version: coverage curve, OOV rate, top tokens",
        "vocabguard report sotu@v1 --data sample.txt --output reports/sotu_v1",
    )
    report.add_argument("ref", metavar="REF")
    report.add_argument(
        "--data",
        action="append",
        metavar="PATH_OR_GLOB",
        help="sample documents to measure the OOV rate on (may be repeated)",
    )
    report.add_argument(
        "--format",
        choices=("text", "jsonl", "csv", "parquet"),
        help="--data format (default: from each file's extension)",
    )
    report.add_argument("--field", help="JSON key / CSV or Parquet column holding the document")
    report.add_argument(
        "--top", type=int, default=50, metavar="N", help="top tokens to list (default: 50)"
    )
    report.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="new (or empty) directory for report.html and coverage.png",
    )
    # -- end of check-model, audit, report --

    # -- diff, migrate-model, repair-model: vocabularies over time --
    diff = command(
        "diff",
        _cmd_diff,
        "compare two versions: tokens added, removed and retired, ids moved, input_dim change, "
        "id compatibility",
        "vocabguard diff news@v1 news@v2 --data sample.jsonl --field text",
    )
    diff.add_argument("old", metavar="A", help="the earlier version (REF)")
    diff.add_argument("new", metavar="B", help="the later version (REF)")
    diff.add_argument(
        "--data",
        action="append",
        metavar="PATH_OR_GLOB",
        help="sample documents: coverage and OOV rate of A and B on them (may be repeated)",
    )
    diff.add_argument(
        "--format",
        choices=("text", "jsonl", "csv", "parquet"),
        help="--data format (default: from each file's extension)",
    )
    diff.add_argument("--field", help="JSON key / CSV or Parquet column holding the document")
    diff.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="tokens listed per section in the text output (default: 20; --json lists all)",
    )
    diff.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless B is id-compatible with A (every token of A keeps its id in B)",
    )
    diff.add_argument("--json", action="store_true", help="print the result as JSON")

    migrate = command(
        "migrate-model",
        _cmd_migrate_model,
        "warm-start a saved Keras model on a newer vocabulary: every token keeps its trained row",
        "vocabguard migrate-model model.keras --to news@v3 --output model_v3.keras",
    )
    migrate.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    migrate.add_argument("--to", required=True, metavar="REF", help="the new vocabulary")
    migrate.add_argument(
        "--from",
        dest="from_ref",
        metavar="REF",
        help="the vocabulary the model was trained with (default: the one its layers record)",
    )
    migrate.add_argument(
        "--output", required=True, metavar="OUT", help=".keras file to create (never replaced)"
    )
    migrate.add_argument(
        "--init",
        choices=("mean", "zeros", "normal"),
        default="mean",
        help="rows of new tokens: mean of the trained rows, zeros, or normal(mean, std) "
        "(default: mean)",
    )
    migrate.add_argument("--seed", type=int, default=0, help="seed for --init normal")
    migrate.add_argument("--json", action="store_true", help="print the result as JSON")

    repair = command(
        "repair-model",
        _cmd_repair_model,
        "resize a saved model's undersized Embedding layers to a vocabulary's input_dim",
        "vocabguard repair-model model.keras --vocab news@v1 --data ids.parquet "
        "--output fixed.keras",
    )
    repair.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    repair.add_argument("--vocab", required=True, metavar="REF", help="the vocabulary")
    repair.add_argument(
        "--data",
        nargs="+",
        metavar="ENCODED_DATA",
        help="encoded training data (Parquet or TFRecord): report which ids were out of range "
        "and how many examples they affected",
    )
    repair.add_argument("--column", metavar="NAME", help="id column / int64 feature of --data")
    repair.add_argument(
        "--output", required=True, metavar="OUT", help=".keras file to create (never replaced)"
    )
    repair.add_argument(
        "--init",
        choices=("mean", "zeros", "normal"),
        default="mean",
        help="rows added by the resize (default: mean of the trained rows)",
    )
    repair.add_argument("--seed", type=int, default=0, help="seed for --init normal")
    repair.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr while scanning --data (default: on a terminal only)",
    )
    repair.add_argument("--json", action="store_true", help="print the result as JSON")
    # -- end of diff, migrate-model, repair-model --

    # -- gc, pin, unpin: store housekeeping --
    gc = command(
        "gc",
        _cmd_gc,
        "delete old versions of NAME, keeping the newest N, the latest and every pinned version",
        "vocabguard gc news --keep 3 --dry-run",
    )
    gc.add_argument("name", metavar="NAME")
    gc.add_argument(
        "--keep", required=True, type=int, metavar="N", help="newest versions to keep (>= 1)"
    )
    gc.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted, delete nothing"
    )

    pin = command(
        "pin",
        _cmd_pin,
        "protect a version from gc (e.g. the one a production model was trained with)",
        "vocabguard pin news@v3 --reason 'model prod-2026-11'",
    )
    pin.add_argument("ref", metavar="REF")
    pin.add_argument("--reason", help="why it is pinned (shown by list)")

    unpin = command(
        "unpin",
        _cmd_unpin,
        "remove a pin, so gc may delete the version again",
        "vocabguard unpin news@v3",
    )
    unpin.add_argument("ref", metavar="REF")
    # -- end of gc, pin, unpin --

    train = command(
        "train",
        _cmd_train,
        "train a text classifier from a YAML config (vocabulary resolved or built, tf.data "
        "encoding, Keras model, held-out evaluation, serving export)",
        "vocabguard train --config configs/bbc_news.yaml",
    )
    train.add_argument(
        "--config", required=True, metavar="FILE", help="training config (see README)"
    )
    return parser


def _add_input_options(parser: argparse.ArgumentParser, *, repeat_help: str) -> None:
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
    parser.add_argument("--field", help="JSON key / CSV or Parquet column holding the document")


# -- entry point --


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error, 2 usage error).

    ``argv`` defaults to ``sys.argv[1:]``; the console script does
    ``sys.exit(main())``.

    >>> main(["verify", "no_such_vocab", "--store", "/nonexistent/store"])
    1
    """
    return run(sys.argv[1:] if argv is None else argv)


def _is_beam_job(argv: Sequence[str]) -> bool:
    """``build``/``encode`` with ``--runner`` run the Beam job (``vocabguard.jobs``)."""
    return (
        len(argv) > 0
        and argv[0] in ("build", "encode")
        and any(a == "--runner" or a.startswith("--runner=") for a in argv[1:])
    )


def run(argv: Sequence[str]) -> int:
    """Parse ``argv`` and run the command; user errors become ``vocabguard: error:`` lines."""
    argv = list(argv)
    if _is_beam_job(argv):
        from vocabguard import jobs

        job = jobs.main_build if argv[0] == "build" else jobs.main_encode
        return run_guarded(job, argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return _exit_status(exit_.code)
    return run_guarded(lambda _: args.func(args), None)


def run_guarded(func: Callable[[Any], Any], argument: Any) -> int:
    """Call ``func(argument)``; user errors become one ``vocabguard: error:`` line, exit 1."""
    try:
        return int(func(argument) or 0)
    except SystemExit as exit_:  # argparse inside a job: --help or a usage error
        return _exit_status(exit_.code)
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

    from vocabguard.errors import VocabguardError

    if isinstance(err, VocabguardError):
        return None
    found = re.findall(r"vocabguard\.errors\.\w+: ([^\n]+)", str(err))
    return found[-1].strip() if found else None


def _exit_status(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _is_user_error(err: BaseException) -> bool:
    from vocabguard.errors import VocabguardError

    # OSError covers missing inputs, permissions, full disks and directories in the way.
    return isinstance(err, (VocabguardError, OSError))


def _print_error(err: BaseException) -> None:
    from vocabguard.errors import VocabguardError

    if isinstance(err, OSError) and not isinstance(err, VocabguardError):
        target = err.filename if err.filename is not None else ""
        what = err.strerror or str(err)
        message = f"{what}: {target}" if target else what
    else:
        message = str(err)
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _store(args: argparse.Namespace) -> VocabStore:
    from vocabguard.store import VocabStore

    root = getattr(args, "store", None) or os.environ.get(STORE_ENV) or DEFAULT_STORE
    return VocabStore(root)


def _note(message: str) -> None:
    print(message, file=sys.stderr)


# -- build --


def load_config_spec(path: str | os.PathLike):
    """The ``VocabSpec`` of a YAML config: the whole file, or its top-level ``spec:`` section.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "news.yaml"
    >>> _ = path.write_text("spec:\\n  lowercase: true\\n  max_tokens: 100\\n")
    >>> spec = load_config_spec(path)
    >>> spec.lowercase, spec.max_tokens
    (True, 100)
    """
    from collections.abc import Mapping

    from vocabguard.spec import VocabSpec, load_yaml

    data = load_yaml(path)
    if isinstance(data, Mapping) and "spec" in data:
        return VocabSpec.from_yaml(path, key="spec")
    return VocabSpec.from_yaml(path)


def spec_from_args(args: argparse.Namespace, parent=None):
    """The ``VocabSpec`` of ``build``: ``--config`` values (else the parent's spec, with
    ``--parent``), overridden by explicit flags."""
    from vocabguard.spec import VocabSpec

    overrides = {
        field: getattr(args, dest)
        for dest, field in _SPEC_FLAGS.items()
        if getattr(args, dest, None) is not None
    }
    if "reserved_tokens" in overrides:
        overrides["reserved_tokens"] = list(overrides["reserved_tokens"])
    if not args.config and parent is None:
        return VocabSpec.from_dict(overrides, source="command-line flags")
    base = load_config_spec(args.config) if args.config else parent.spec
    # --tokenizer other than regex replaces the config's regex tokenizer and its pattern.
    if overrides.get("tokenizer", "regex") != "regex" and "pattern" not in overrides:
        overrides["pattern"] = None
    return base.replace(**overrides) if overrides else base


def _peek(values: Iterable) -> tuple[Any, Iterator]:
    """The first value (or ``None``) and an iterator that still yields it."""
    import itertools

    iterator = iter(values)
    for first in iterator:
        return first, itertools.chain([first], iterator)
    return None, iterator


def _match_token_kinds(spec, first: Any, from_flags: bool):
    """Make the spec's special tokens the kind of the data (integers or strings).

    ``--reserved-token`` values arrive as strings: with integer data and
    ``--tokenizer none`` they are read as integers.
    """
    from vocabguard.errors import SpecError, received

    if first is None:
        return spec
    integer = isinstance(first, int) and not isinstance(first, bool)
    reserved = list(spec.reserved_tokens)
    if integer and from_flags and reserved and all(isinstance(t, str) for t in reserved):
        try:
            numbers = [int(t) for t in reserved]
        except ValueError:
            numbers = None  # not all integers: reported below
        if numbers is not None:
            spec = spec.replace(reserved_tokens=numbers)
    kind = int if integer else str
    for key in ("reserved_tokens", "pad_token", "oov_token"):
        value = getattr(spec, key)
        values = list(value) if key == "reserved_tokens" else [] if value is None else [value]
        wrong = [v for v in values if not isinstance(v, kind) or isinstance(v, bool)]
        if wrong:
            what = "integers" if integer else "strings"
            raise SpecError(
                f"The input documents are {what}, but `{key}` holds {wrong[0]!r}, which is "
                f"not one of them: special tokens must be the same kind as the data. Use "
                f"{what} for {key}. " + received(**{key: value}),
                key=key,
            )
    return spec


def _input_description(patterns: Sequence[str], files: Sequence[str]) -> str:
    if len(files) <= 20:
        return ", ".join(files)
    return f"{', '.join(patterns)} ({len(files)} files)"


def _cmd_build(args: argparse.Namespace) -> int:
    from vocabguard.builder import build_vocabulary
    from vocabguard.errors import ConfigError, received
    from vocabguard.readers import detect_format, expand_inputs, read_documents
    from vocabguard.store import validate_name

    validate_name(args.name)
    if args.retire and not args.parent:
        raise ConfigError(
            "--retire needs --parent: only a parent's tokens can be retired. Add --parent "
            "NAME@vN, or drop --retire. " + received(retire=True, parent=None)
        )
    store = _store(args)
    parent = store.load(args.parent) if args.parent else None
    spec = spec_from_args(args, parent)
    files = expand_inputs(args.input)
    for path in files:
        detect_format(path, args.format)
    first, values = _peek(read_documents(files, format=args.format, field=args.field))
    spec = _match_token_kinds(spec, first, from_flags=args.reserved_token is not None)
    description = _input_description(args.input, files)
    vocab = build_vocabulary(
        values,
        spec,
        progress=None,
        input_description=description,
        parent=parent,
        retire=args.retire,
    )
    published = store.publish(vocab, args.name)
    stats = published.stats
    status = (
        f"published {published.ref}"
        if published.newly_published
        else f"unchanged: same ids as {published.ref}, nothing written"
    )
    _note(
        f"{status} ({store.root})\n"
        f"  input_dim {published.input_dim}: pad 0, OOV 1..{published.num_oov_buckets}, "
        f"{published.layout.num_reserved} reserved, {published.layout.num_learned} learned\n"
        f"  {stats.get('documents')} documents, {stats.get('total_tokens')} tokens, "
        f"{stats.get('distinct_tokens')} distinct; coverage {stats.get('coverage', 0.0):.4f}\n"
        f"  fingerprint {published.fingerprint}"
        + (
            f"\n  parent {parent.ref}: every id kept; {stats.get('new_tokens', 0)} new tokens "
            f"appended, {stats.get('retired_tokens', 0)} retired rows; input_dim "
            f"{parent.input_dim} -> {published.input_dim}"
            if parent is not None
            else ""
        )
    )
    print(published.ref)
    return 0


# -- inspect / list / verify --


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from vocabguard.artifact import describe

    manifest = _store(args).manifest(args.ref)
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
    else:
        print(describe(manifest))
    return 0


def list_entry(manifest: dict, pin: dict | None = None) -> dict:
    """The facts ``vocabguard list`` shows for one version (``--json`` prints them)."""
    parent = manifest.get("parent")
    return {
        "ref": f"{manifest['name']}@v{manifest['version']}",
        "created_utc": manifest.get("build", {}).get("created_utc"),
        "input_dim": manifest["input_dim"],
        "fingerprint": manifest["fingerprint"],
        # The bytes of the files the manifest lists (the manifest itself not counted).
        "bytes": sum(int(meta["bytes"]) for meta in manifest.get("files", {}).values()),
        "learned": manifest["layout"]["num_learned"],
        "parent": None if not parent else parent.get("ref") or parent["fingerprint"],
        "parent_fingerprint": None if not parent else parent["fingerprint"],
        "pinned": pin is not None,
        "pin_reason": None if pin is None else pin.get("reason"),
        "pinned_utc": None if pin is None else pin.get("pinned_utc"),
    }


def list_line(manifest: dict, pin: dict | None = None) -> str:
    """One ``vocabguard list`` line of a manifest (and its pin record, if pinned).

    Columns: ref, created (UTC), input_dim, fingerprint prefix, bytes (sum of
    the files the manifest lists), learned tokens, parent ref (``-`` for a root;
    a fingerprint prefix if the parent was never published), then
    ``pinned`` or ``pinned(reason)`` for a version gc keeps.

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> from vocabguard.artifact import build_manifest, render_files
    >>> vocab = build_vocabulary(["a b"], VocabSpec(), progress=False)
    >>> vocab.name, vocab.version = "demo", 1
    >>> line = list_line(build_manifest(vocab, *render_files(vocab)), {"reason": "prod"})
    >>> line.split()[0], line.split()[-2:]
    ('demo@v1', ['parent=-', 'pinned(prod)'])
    """
    entry = list_entry(manifest, pin)
    parent = (manifest.get("parent") or {}).get("ref") or (entry["parent"] or "-")[:12]
    line = (
        f"{entry['ref']:<24} {entry['created_utc'] or '-':<25} "
        f"input_dim={entry['input_dim']:<8} fingerprint={entry['fingerprint'][:12]} "
        f"bytes={entry['bytes']:<10} learned={entry['learned']:<8} parent={parent}"
    )
    if entry["pinned"]:
        reason = entry["pin_reason"]
        line += f" pinned({reason})" if reason else " pinned"
    return line


def _cmd_list(args: argparse.Namespace) -> int:
    import json

    from vocabguard.errors import VersionNotFoundError, VocabguardError

    store = _store(args)
    if args.name is not None:
        # resolve() names the store's vocabularies when there is no such name.
        names = [store.resolve(args.name)[0]]
    else:
        names = store.names()
        if not names:
            _note(f"No vocabularies in store {store.root}.")
            return 0
    failed = 0
    for name in names:
        pins = store.pins(name)
        for version in store.versions(name):
            try:
                manifest = store.manifest(f"{name}@v{version}")
            except VersionNotFoundError:
                continue  # deleted by a gc since versions() listed it
            except VocabguardError as err:
                failed += 1
                if args.json:
                    print(json.dumps({"ref": f"{name}@v{version}", "error": str(err)}))
                else:
                    print(f"{f'{name}@v{version}':<24} UNREADABLE", flush=True)
                _print_error(err)
                continue
            if args.json:
                print(json.dumps(list_entry(manifest, pins.get(version)), sort_keys=True))
            else:
                print(list_line(manifest, pins.get(version)))
    return 1 if failed else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    manifest = _store(args).verify(args.ref)
    print(f"OK {manifest['name']}@v{manifest['version']} {manifest['fingerprint']}")
    return 0


# -- encode --


def _refuse_existing(path: str, what: str) -> None:
    from vocabguard.errors import OutputExistsError, received

    raise OutputExistsError(
        f"{what} {path} already exists; vocabguard never overwrites outputs. Choose a new "
        "path, or delete the old one first. " + received(output=path),
        cases=[path],
    )


class _EncodeStats:
    def __init__(self, num_oov_buckets: int):
        self.k = num_oov_buckets
        self.documents = 0
        self.tokens = 0
        self.oov = 0
        self.max_id = -1

    def add(self, documents: int, ids, *, padded: bool) -> None:
        import numpy as np

        self.documents += documents
        self.tokens += int(np.count_nonzero(ids)) if padded else int(ids.size)
        self.oov += int(np.count_nonzero((ids >= 1) & (ids <= self.k)))
        if ids.size:
            self.max_id = max(self.max_id, int(ids.max()))


def _encode_batch(vocab: Vocabulary, batch: list, id_type, stats: _EncodeStats):
    """The ``ids`` column of one batch of documents."""
    import pyarrow as pa

    from vocabguard.guard import guard_ids
    from vocabguard.tokenizer import text_array
    from vocabguard.vocabulary import INT64

    texts = pa.array(batch, type=pa.int64()) if vocab.token_type == INT64 else text_array(batch)
    column = vocab.encode_arrow(texts)
    nested = pa.types.is_list(column.type)
    flat = (column.flatten() if nested else column).to_numpy()
    guard_ids(flat, vocab.input_dim)
    stats.add(len(batch), flat, padded=nested and vocab.spec.sequence_length is not None)
    return column


def _new_temp_path(directory: str, base: str) -> str:
    """A fresh hidden path next to the output, so the final rename stays on one filesystem."""
    import uuid

    return os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp")


def _commit_file(tmp: str, output: str) -> None:
    """Move a finished temp file to ``output``, never replacing an existing file."""
    try:
        os.link(tmp, output)  # fails if output appeared meanwhile
    except FileExistsError:
        _refuse_existing(output, "Output")
    except OSError:  # no hard links on this filesystem
        if os.path.lexists(output):
            _refuse_existing(output, "Output")
        os.rename(tmp, output)


def _cmd_encode(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabguard.builder import batches, progress_bar
    from vocabguard.readers import INTEGER, STRING, detect_format, expand_inputs, read_documents
    from vocabguard.vocabulary import INT64

    output = args.output
    if os.path.lexists(output):
        _refuse_existing(output, "Output")
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    files = expand_inputs(args.input)
    for path in files:
        detect_format(path, args.format)
    store = _store(args)
    vocab = store.load(args.ref)
    kind = INTEGER if vocab.token_type == INT64 else STRING
    values = read_documents(files, format=args.format, field=args.field, kind=kind)

    id_type = pa.int32() if vocab.spec.id_dtype == "int32" else pa.int64()
    one_per_document = vocab.token_type == INT64 or vocab.spec.tokenizer == "none"
    column_type = id_type if one_per_document else pa.list_(id_type)
    schema = pa.schema(
        [pa.field("ids", column_type)],
        metadata={
            "vocabguard.fingerprint": vocab.fingerprint,
            "vocabguard.ref": vocab.ref or args.ref,
            "vocabguard.input_dim": str(vocab.input_dim),
            "vocabguard.id_dtype": vocab.spec.id_dtype,
        },
    )
    stats = _EncodeStats(vocab.num_oov_buckets)
    tmp = _new_temp_path(directory, os.path.basename(output))
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
    try:
        with (
            pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
            progress_bar(None, None, "encoding", unit=" docs") as bar,
        ):
            for batch in batches(values, ENCODE_BATCH_SIZE):
                column = _encode_batch(vocab, batch, id_type, stats)
                writer.write_table(pa.Table.from_arrays([column], schema=schema))
                bar.update(len(batch))
        _commit_file(tmp, output)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    rate = stats.oov / stats.tokens if stats.tokens else 0.0
    max_id = str(stats.max_id) if stats.max_id >= 0 else "none"
    tokens_label = "non-pad ids" if vocab.spec.sequence_length else "tokens"
    _note(
        f"encoded {stats.documents} documents with {vocab.ref} -> {output}\n"
        f"  {stats.tokens} {tokens_label}, OOV rate {rate:.4f} ({stats.oov} OOV ids), "
        f"max id {max_id} < input_dim {vocab.input_dim}"
    )
    return 0


# -- export --


def vocabulary_lines(vocab: Vocabulary) -> str:
    """The reserved and learned tokens (ids ``k+1`` on), one per line.

    Raises ``ArtifactError`` when a token cannot be one text line (a line break,
    invalid UTF-8, the empty token): skipping it would shift every later id.
    """
    from vocabguard.artifact import unsafe_text_line
    from vocabguard.errors import ArtifactError, received

    start = vocab.layout.reserved_start
    for offset, token in enumerate(vocab.lookup_keys):
        reason = (
            "a retired row must match no token, which no text line can express"
            if start + offset in vocab.retired
            else unsafe_text_line(token)
        )
        if reason:
            raise ArtifactError(
                f"Cannot export {vocab.ref} as a text vocabulary: id {start + offset}: {reason}. "
                "A one-token-per-line file would shift every later id. Use "
                "vocabguard.keras.string_lookup(vocab) (it passes the tokens in memory) or "
                "the version's tokens.parquet. " + received(ref=vocab.ref, id=start + offset),
                cases=[start + offset],
            )
    return "".join(
        (str(t) if isinstance(t, int) else t.decode("utf-8")) + "\n" for t in vocab.token_bytes
    )


def keras_lookup_config(vocab: Vocabulary) -> dict:
    """``lookup_config.json``: the exact Keras lookup-layer arguments for ``vocabulary.txt``."""
    from vocabguard.vocabulary import INT64

    integer = vocab.token_type == INT64
    return {
        "layer": "IntegerLookup" if integer else "StringLookup",
        "kwargs": {
            "vocabulary": KERAS_VOCABULARY,
            "mask_token": vocab.pad_token,
            "oov_token": vocab.oov_token,
            "num_oov_indices": vocab.num_oov_buckets,
        },
        "input_dim": vocab.input_dim,
        "vocabulary_size": len(vocab),
        "ref": vocab.ref,
        "fingerprint": vocab.fingerprint,
        "spec": vocab.spec.to_dict(),
        "notes": (
            f"{KERAS_VOCABULARY} is relative to this file. The layer gives vocabguard's ids for "
            "already tokenized input (apply the spec's tokenizer, normalization and lowercasing "
            "first). Size the Embedding with input_dim, not vocabulary_size: they differ when "
            "the spec sets capacity."
        ),
    }


def tft_notes(vocab: Vocabulary) -> str:
    """``NOTES.txt`` of a TFT export: which TFT arguments reproduce vocabguard's ids."""
    k = vocab.num_oov_buckets
    n = len(vocab.token_bytes)
    start = vocab.layout.reserved_start
    oov = (
        "1"
        if k == 1
        else f"1 + tf.strings.to_hash_bucket_fast(tokens, {k})"
        if vocab.token_type != "int64"
        else f"1 + tf.math.floormod(tokens, {k})"
    )
    spec = vocab.spec
    return f"""TFT vocabulary export of {vocab.ref} (fingerprint {vocab.fingerprint})

{TFT_VOCABULARY}: {n} lines, one token per line: the reserved then learned tokens,
which are vocabguard ids {start}..{start + n - 1}, in id order. It is the text layout
tft.vocabulary writes and tft.apply_vocabulary reads (line i <-> TFT id i).

THE IDS ARE NOT THE SAME AS VOCABGUARD'S IF YOU USE THIS FILE DIRECTLY.
  vocabguard: id 0 = padding {vocab.pad_token!r}, ids 1..{k} = OOV, then this file from id {start}.
  TFT:        this file from id 0; OOV gets default_value (-1) with num_oov_buckets=0,
              or ids {n}..{n + k - 1} with num_oov_buckets={k}: TFT puts OOV buckets AFTER
              the vocabulary. No choice of TFT arguments moves the vocabulary up by {start}.
  So  tft.apply_vocabulary(tokens, path, num_oov_buckets={k})  gives ids that differ
  from vocabguard's for every token, and the Embedding size would differ too.

To reproduce vocabguard's ids inside a preprocessing_fn:
    idx = tft.apply_vocabulary(tokens, tf.constant(path_to_{TFT_VOCABULARY}),
                               default_value=-1, num_oov_buckets=0)
    ids = tf.where(idx >= 0, idx + {start}, {oov})
    ids = tf.where(tokens == {vocab.pad_token!r}, 0, ids)   # the pad token is not in the file
Simpler and exact: vocabguard.tf.encode_fn(vocab) (tokenizes too) or vocabguard.tf.lookup_fn(vocab).

Tokenize first, exactly as the spec says (TFT does not): tokenizer={spec.tokenizer!r}
pattern={spec.pattern!r} normalization={spec.normalization!r} lowercase={spec.lowercase}.
Embedding: input_dim={vocab.input_dim} (from the vocabguard artifact).
Do not regenerate this file with tft.vocabulary: TFT breaks count ties in reverse
byte order while vocabguard breaks them ascending, so the order (and ids) would change.
"""


def _write_export_dir(output: str, files: dict[str, str]) -> None:
    """Write ``files`` into ``output`` (new, or an empty directory) all at once."""
    import shutil

    if os.path.lexists(output) and not (os.path.isdir(output) and not os.listdir(output)):
        _refuse_existing(output, "Output directory" if os.path.isdir(output) else "Output")
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    staging = _new_temp_path(parent, os.path.basename(output))
    os.mkdir(staging)  # umask applies, unlike tempfile.mkdtemp's 0o700
    try:
        for name, text in files.items():
            with open(os.path.join(staging, name), "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
        if os.path.isdir(output):
            os.rmdir(output)  # empty (checked above); fails if something appeared since
        try:
            os.rename(staging, output)
        except OSError:
            if os.path.lexists(output):
                _refuse_existing(output, "Output directory")
            raise
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)


def _cmd_export(args: argparse.Namespace) -> int:
    import json

    output = args.output
    if os.path.lexists(output) and not (os.path.isdir(output) and not os.listdir(output)):
        _refuse_existing(output, "Output directory" if os.path.isdir(output) else "Output")
    vocab = _store(args).load(args.ref)
    lines = vocabulary_lines(vocab)
    if args.format == "keras":
        config = json.dumps(keras_lookup_config(vocab), indent=2, ensure_ascii=False) + "\n"
        files = {KERAS_VOCABULARY: lines, KERAS_CONFIG: config}
    else:
        files = {TFT_VOCABULARY: lines, TFT_NOTES: tft_notes(vocab)}
    _write_export_dir(output, files)
    _note(
        f"exported {vocab.ref} for {args.format} -> {output}/ ({', '.join(files)}); "
        f"input_dim {vocab.input_dim}"
    )
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from vocabguard import training

    config = training.TrainConfig.from_yaml(args.config)
    if getattr(args, "store", None):  # an explicit --store beats the config's store
        config = dataclasses.replace(
            config, vocabulary=dataclasses.replace(config.vocabulary, store=args.store)
        )
    return training.run_and_report(config)


# -- check-model, audit, report --


def _cmd_check_model(args: argparse.Namespace) -> int:
    import json

    from vocabguard.model_check import check_model, format_report

    vocab = _store(args).load(args.vocab)
    result = check_model(args.model, vocab, layers=args.layer)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
    if not result.ok:
        errors = len(result.errors)
        _note(
            f"{PROG}: error: {args.model} does not fit {vocab.ref}: {errors} layer"
            f"{' has' if errors == 1 else 's have'} errors (see above)."
        )
        return 1
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    import json

    from vocabguard.audit import audit, format_report

    vocab = _store(args).load(args.vocab)
    result = audit(args.data, vocab, column=args.column, progress=args.progress)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
    if not result.ok:
        _note(f"{PROG}: error: {result.summary()}")
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from vocabguard.report import write_report

    output = args.output
    if os.path.lexists(output) and not (os.path.isdir(output) and not os.listdir(output)):
        _refuse_existing(output, "Output directory" if os.path.isdir(output) else "Output")
    vocab = _store(args).load(args.ref)
    summary = write_report(
        vocab, output, data=args.data, format=args.format, field=args.field, top=args.top
    )
    _note(summary)
    print(os.path.join(output, "report.html"))
    return 0


# -- end of check-model, audit, report --


# -- diff, migrate-model, repair-model --


def _cmd_diff(args: argparse.Namespace) -> int:
    import json

    from vocabguard.diff import diff_vocabularies, format_diff
    from vocabguard.errors import received

    store = _store(args)
    old, new = store.load(args.old), store.load(args.new)
    # The store lets diff follow the lineage through versions in between (v3 <- v2 <- v1).
    result = diff_vocabularies(
        old, new, data=args.data, format=args.format, field=args.field, store=store
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_diff(result, limit=args.limit))
    if args.check and not result.id_compatible:
        _note(f"{PROG}: error: {result.summary()} " + received(a=args.old, b=args.new))
        return 1
    return 0


def _cmd_migrate_model(args: argparse.Namespace) -> int:
    import json

    from vocabguard.migration import format_migration, migrate_model

    if os.path.lexists(args.output):
        _refuse_existing(args.output, "Output model")
    store = _store(args)
    result = migrate_model(
        args.model,
        store.load(args.to),
        args.output,
        old_vocab=store.load(args.from_ref) if args.from_ref else None,
        store=store,
        init=args.init,
        seed=args.seed,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_migration(result))
    return 0


def _cmd_repair_model(args: argparse.Namespace) -> int:
    import json

    from vocabguard.repair import format_repair, repair_model

    if os.path.lexists(args.output):
        _refuse_existing(args.output, "Output model")
    result = repair_model(
        args.model,
        _store(args).load(args.vocab),
        args.output,
        data=args.data,
        column=args.column,
        init=args.init,
        seed=args.seed,
        progress=args.progress,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_repair(result))
    return 0


# -- end of diff, migrate-model, repair-model --


# -- gc, pin, unpin --


def _cmd_gc(args: argparse.Namespace) -> int:
    store = _store(args)
    deleted = store.gc(
        args.name,
        keep=args.keep,
        dry_run=args.dry_run,
        on_leftover=lambda path: _note(f"removed leftover of a crashed process: {path}"),
    )
    verb = "would delete" if args.dry_run else "deleted"
    for ref in deleted:
        print(f"{verb} {ref}")
    pinned = ", ".join(f"v{v}" for v in store.pins(args.name)) or "none"
    _note(
        f"{verb} {len(deleted)} version{'' if len(deleted) == 1 else 's'} of {args.name}; "
        f"kept the newest {args.keep} and the pinned ones ({pinned})."
    )
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    ref = _store(args).pin(args.ref, reason=args.reason)
    print(f"pinned {ref}")
    return 0


def _cmd_unpin(args: argparse.Namespace) -> int:
    ref = _store(args).unpin(args.ref)
    print(f"unpinned {ref}")
    return 0


# -- end of gc, pin, unpin --

if __name__ == "__main__":
    sys.exit(main())
