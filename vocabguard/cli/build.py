"""``vocabguard build``: count tokens in input files and publish the next version of a name."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from vocabguard.cli._common import (
    add_input_options,
    note,
    store_from_args,
)

BEAM_MODE = """
Two modes, one command:
  in-process   the flags above; reads local files in this process.
  Beam         a job config (store, inputs, features; see README "Batch jobs on
               Apache Beam") runs as an Apache Beam pipeline:
                 vocabguard {command} --config configs/bbc_news_job.yaml
                 vocabguard {command} --config JOB.yaml --runner DataflowRunner --project P ...
               Without --runner it runs on the DirectRunner (this machine). Other
               flags are Beam pipeline options (--direct_num_workers 2, ...).
               Prints {prints} on stdout.
"""


def add_beam_options(parser: argparse.ArgumentParser) -> None:
    """Document the Beam mode's flags (a ``--runner`` or a job config sends the command
    to ``vocabguard._src.engines.jobs`` before this parser runs)."""
    beam = parser.add_argument_group(
        "Beam mode", "with a job config as --config (see the end of this help)"
    )
    beam.add_argument(
        "--runner",
        metavar="RUNNER",
        help="Beam runner: DirectRunner (default), DaskRunner, PortableRunner, FlinkRunner, "
        "SparkRunner, DataflowRunner, or a class path; or inprocess: every feature of the "
        "job config in one pass over local files in this process, without Beam (same "
        "fingerprints). Without --config, this command's flags (--name, --input, --field, "
        "spec flags) run as a one-feature job",
    )


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    build = command(
        "build",
        _cmd_build,
        "build a vocabulary from input files and publish it as the next version of NAME",
        "vocabguard build --name sotu --input 'speeches/*.txt' --lowercase --max-tokens 20000\n"
        + BEAM_MODE.format(command="build", prints="each published ref"),
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
    add_input_options(build, repeat_help="may be repeated", several_fields=True)
    build.add_argument(
        "--weight-field",
        metavar="FIELD",
        help="count each record's tokens by this field's weight (a finite number >= 0)",
    )
    build.add_argument(
        "--bad-records",
        choices=("fail", "skip"),
        default="fail",
        help="fail on a bad record (default), or skip and count it",
    )
    build.add_argument(
        "--max-record-bytes",
        type=int,
        default=64 << 20,
        metavar="N",
        help="a line (CSV: a field) longer than this, decompressed, is a bad record "
        "(default: 67108864, 64 MiB); it is read past, never held",
    )
    build.add_argument(
        "--allow-empty",
        action="store_true",
        help="publish even when the inputs hold no documents (otherwise an error)",
    )
    build.add_argument(
        "--max-bad-fraction",
        type=float,
        default=0.1,
        metavar="F",
        help="with --bad-records skip: fail, publishing nothing, when more than this share "
        "of the records is skipped (default: 0.1)",
    )
    add_beam_options(build)
    spec = build.add_argument_group(
        "vocabulary spec", "override the --config values (see vocabguard.VocabSpec)"
    )
    spec.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file of VocabSpec fields (or with a top-level 'spec:' section); a Beam job "
        "config (with 'features:') runs the Beam mode",
    )
    spec.add_argument(
        "--tokenizer", choices=("whitespace", "unicode_script", "regex", "none", "wordpiece")
    )
    spec.add_argument(
        "--vocab-size", type=int, metavar="N", help="target learned pieces (--tokenizer wordpiece)"
    )
    spec.add_argument("--pattern", metavar="RE", help="RE2 delimiter pattern (--tokenizer regex)")
    spec.add_argument(
        "--lowercase",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lowercase text (full Unicode case mapping)",
    )
    spec.add_argument("--normalization", choices=("none", "NFC", "NFKC"))
    spec.add_argument(
        "--min-count",
        type=_number,
        metavar="N",
        help="drop tokens seen fewer times (a fraction such as 0.5 for weighted counts)",
    )
    spec.add_argument(
        "--tie-break",
        choices=("bytes_ascending", "bytes_descending"),
        help="order of equal counts (and so which tokens a --max-tokens cut keeps): UTF-8 "
        "bytes ascending (default) or descending (TFT's and Keras' order)",
    )
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
    spec.add_argument(
        "--max-token-bytes",
        type=lambda v: "none" if v.lower() == "none" else int(v),
        metavar="N",
        help="never learn longer tokens (default 1024; 'none' lifts the limit)",
    )
    spec.add_argument("--sequence-length", type=int, metavar="N", help="pad/truncate encoded rows")
    spec.add_argument("--id-dtype", choices=("int32", "int64"))
    spec.add_argument(
        "--missing",
        choices=("error", "skip", "oov", "token"),
        help="null/absent/empty values: error (default), skip, oov, or token ([MISSING])",
    )
    spec.add_argument("--missing-token", metavar="TOK", help="the token of --missing token")
    spec.add_argument(
        "--min-document-count", type=int, metavar="N", help="drop tokens in fewer documents"
    )
    spec.add_argument(
        "--max-document-fraction",
        type=float,
        metavar="F",
        help="drop tokens in more than this share of documents (e.g. 0.9)",
    )
    spec.add_argument(
        "--pad-to-multiple-of", type=int, metavar="N", help="round input_dim up to a multiple of N"
    )


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
    "missing": "missing",
    "missing_token": "missing_token",
    "pad_to_multiple_of": "pad_to_multiple_of",
    "vocab_size": "vocab_size",
    "min_document_count": "min_document_count",
    "max_document_fraction": "max_document_fraction",
    "tie_break": "tie_break",
}


def _number(text: str) -> int | float:
    """An integer flag value, or a float where the text is not an integer (``0.5``).

    >>> _number("3"), _number("0.5")
    (3, 0.5)
    """
    try:
        return int(text)
    except ValueError:
        return float(text)


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

    from vocabguard._src.core.spec import VocabSpec, load_yaml

    data = load_yaml(path)
    if isinstance(data, Mapping) and "spec" in data:
        return VocabSpec.from_yaml(path, key="spec")
    return VocabSpec.from_yaml(path)


def spec_from_args(args: argparse.Namespace, parent=None):
    """The ``VocabSpec`` of ``build``: ``--config`` values (else the parent's spec, with
    ``--parent``), overridden by explicit flags."""
    from vocabguard._src.core.spec import VocabSpec

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
    from vocabguard._src.core.errors import SpecError, received

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


def _first_value(record: Any, fields: Sequence[str]) -> Any:
    """The first token value of a record (for ``_match_token_kinds``), or ``None``."""
    for field in fields:
        value = (record or {}).get(field)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                return item
    return None


def check_skipped(skipped: dict, stats: dict, description: str, *, max_bad_fraction: float) -> None:
    """No gutted results: skipping more than ``max_bad_fraction`` of the records is an
    error naming the counts and the top reasons (nothing is published)."""
    from vocabguard._src.core.errors import ConfigError, InputDataError, received

    if not 0 <= max_bad_fraction <= 1:
        raise ConfigError(
            "--max-bad-fraction must be a number from 0 to 1. "
            + received(max_bad_fraction=max_bad_fraction)
        )
    bad = sum(skipped.values())
    read = bad + int(stats.get("documents", 0))
    if not bad or bad <= max_bad_fraction * read:
        return
    reasons = ", ".join(
        f"{reason} {count}" for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1])[:3]
    )
    raise InputDataError(
        f"{bad} of {read} records were skipped ({100 * bad / read:.1f}%), more than "
        f"--max-bad-fraction {max_bad_fraction}; top reasons: {reasons}. Nothing was published. "
        f"Fix the input or the --field names ({description}), or raise --max-bad-fraction if "
        "this is expected. " + received(skipped=bad, records=read),
        cases=[description],
    )


def check_not_empty(stats: dict, description: str, *, allow_empty: bool, what: str) -> None:
    """No silent empty results: inputs without documents (or without a single token)
    are an error unless ``--allow-empty``."""
    from vocabguard._src.core.errors import InputDataError, received

    if allow_empty:
        return
    documents, tokens = stats.get("documents", 0), stats.get("total_tokens", 0)
    if documents and tokens:
        return
    found = "no documents" if not documents else f"{documents} documents but not one token"
    raise InputDataError(
        f"The inputs hold {found}: {description}. An empty {what} is almost always a wrong "
        "path, glob, --format or --field. Check the inputs, or pass --allow-empty if an empty "
        f"result is intended. " + received(input=description, documents=documents, tokens=tokens),
        cases=[description],
    )


def _input_description(patterns: Sequence[str], files: Sequence[str]) -> str:
    if len(files) <= 20:
        return ", ".join(files)
    return f"{', '.join(patterns)} ({len(files)} files)"


def _store_and_spec(args: argparse.Namespace):
    """The store, the parent (or None) and the ``VocabSpec`` of a ``build`` (the name and
    --retire checked)."""
    from vocabguard._src.core.errors import ConfigError, received
    from vocabguard._src.core.store import validate_name

    validate_name(args.name)
    if args.retire and not args.parent:
        raise ConfigError(
            "--retire needs --parent: only a parent's tokens can be retired. Add --parent "
            "NAME@vN, or drop --retire. " + received(retire=True, parent=None)
        )
    store = store_from_args(args)
    parent = store.load(args.parent) if args.parent else None
    return store, parent, spec_from_args(args, parent)


def _cmd_build(args: argparse.Namespace) -> int:
    from vocabguard._src.core.artifact import categorical_facts
    from vocabguard._src.core.builder import build_vocabulary
    from vocabguard._src.core.errors import ConfigError, received
    from vocabguard._src.engines.readers import (
        detect_format,
        expand_inputs,
        read_documents,
        read_records,
    )

    store, parent, spec = _store_and_spec(args)
    files = expand_inputs(args.input)
    formats = [detect_format(path, args.format) for path in files]
    fields = list(args.field or [])
    if args.weight_field and not fields:
        raise ConfigError(
            "--weight-field needs --field: name the field(s) whose tokens it weighs. "
            + received(weight_field=args.weight_field, field=None)
        )
    description = _input_description(args.input, files)
    skipped: dict = {}
    if all(f == "text" for f in formats) and not fields:
        first, values = _peek(
            read_documents(files, format=args.format, max_record_bytes=args.max_record_bytes)
        )
        records_fields = None
    else:
        records = read_records(
            files,
            format=args.format,
            fields=fields,
            weight_field=args.weight_field,
            missing=spec.missing,
            value_shape=spec.value_shape,
            bad_records=args.bad_records,
            skipped=skipped,
            max_record_bytes=args.max_record_bytes,
        )
        head, values = _peek(records)
        records_fields = fields or ([next(iter(head))] if head else ["value"])
        first = _first_value(head, records_fields)
    spec = _match_token_kinds(spec, first, from_flags=args.reserved_token is not None)
    vocab = build_vocabulary(
        values,
        spec,
        progress=None,
        input_description=description,
        parent=parent,
        retire=args.retire,
        fields=records_fields,
        weight_field=args.weight_field,
    )
    if skipped:
        vocab.stats["bad_records_skipped"] = dict(sorted(skipped.items()))
    check_skipped(skipped, vocab.stats, description, max_bad_fraction=args.max_bad_fraction)
    check_not_empty(vocab.stats, description, allow_empty=args.allow_empty, what="build")
    published = store.publish(vocab, args.name)
    stats = published.stats
    status = (
        f"published {published.ref}"
        if published.newly_published
        else f"unchanged: same ids as {published.ref}, nothing written"
    )
    note(
        f"{status} ({store.root})\n"
        f"  input_dim {published.input_dim}: pad 0, OOV 1..{published.num_oov_buckets}, "
        f"{published.layout.num_reserved} reserved, {published.layout.num_learned} learned\n"
        f"  {stats.get('documents')} documents, {stats.get('total_tokens')} tokens, "
        f"{stats.get('distinct_tokens')} distinct; coverage {stats.get('coverage', 0.0):.4f}\n"
        + "".join(f"  {line}\n" for line in categorical_facts(published.manifest or {}))
        + f"  fingerprint {published.fingerprint}"
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


def run_on_runner(argv: Sequence[str], parser: argparse.ArgumentParser) -> int:
    """``vocabguard build --runner R`` with the in-process flags instead of ``--config``.

    The flags (``--name``, ``--input``, ``--field``, ``--weight-field``, spec flags,
    ``--store``, ``--bad-records``) become a one-feature job config; every other flag
    is a Beam pipeline option (``--runner``, ``--dask_client_address``, ...). So a
    build moves from a laptop to a cluster by adding one flag. ``parser`` is the
    root ``vocabguard`` parser.
    """
    from vocabguard._src.engines import jobs

    args, beam_args = parser.parse_known_args(["build", *argv])
    if getattr(args, "runner", None):  # documented in --help, so the parser took it
        beam_args = ["--runner", args.runner, *beam_args]
    store, _parent, spec = _store_and_spec(args)
    fields = list(args.field or [])
    feature = {
        "name": args.name,
        "spec": spec.to_dict(),
        **({"fields": fields} if len(fields) > 1 else {"field": fields[0] if fields else "text"}),
    }
    for key in ("parent", "retire", "weight_field", "allow_empty"):
        value = getattr(args, key, None)
        if value not in (None, False):
            feature[key] = value
    data = {
        "store": str(store.root),
        "inputs": list(args.input),
        "bad_records": getattr(args, "bad_records", None) or "fail",
        "max_record_bytes": getattr(args, "max_record_bytes", None) or 64 << 20,
        "features": {args.name: feature},
    }
    if args.format:
        data["format"] = args.format
    config = jobs.JobConfig.from_dict(data, source="vocabguard build flags")
    return jobs.main_build(beam_args, config=config)
