"""``vocabguard build``: count tokens in input files and publish the next version of a name."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vocabguard.cli._common import BeamMode, add_input_options, note

BEAM_MODE = """
Two modes, one command:
  in-process   the flags above; reads local files in this process.
  Beam         a job config (store, inputs, features; see the docs' guide
               docs/guides/beam.md) runs as an Apache Beam pipeline:
                 vocabguard {command} --config configs/bbc_news_job.yaml
                 vocabguard {command} --config JOB.yaml --runner DataflowRunner --project P ...
               Without --runner it runs on the DirectRunner (this machine). Other
               flags are Beam pipeline options (--direct_num_workers 2, ...).
               Prints {prints} on stdout.
"""


def add_beam_options(parser: argparse.ArgumentParser) -> None:
    """The Beam mode's ``--runner`` (the parser keeps the flags it does not know as Beam
    pipeline options: see ``_common.parse_beam_mode``)."""
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
    _add_record_options(build)
    add_beam_options(build)
    _add_spec_options(build)
    # --config runs the Beam mode when it names a job config, or beside --runner; --runner
    # alone runs these flags as a one-feature job.
    build.beam_mode = BeamMode(
        is_job=lambda args: (
            args.config is not None and (args.runner is not None or is_job_config(args.config))
        ),
        job_flags=frozenset({"config", "store", "runner", "verbose"}),
        runner_job=True,
    )


def is_job_config(path: str) -> bool:
    """True when ``path`` is a Beam job config (it has ``features``), not a VocabSpec file."""
    from collections.abc import Mapping

    from vocabguard._src.core.spec import load_yaml

    try:
        data = load_yaml(path)
    except Exception:  # a missing or broken file: the command reports it
        return False
    return isinstance(data, Mapping) and "features" in data


def _add_record_options(build: argparse.ArgumentParser) -> None:
    """How ``build`` weighs records and what it does with bad or missing ones."""
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


def _add_spec_options(build: argparse.ArgumentParser) -> None:
    """The ``VocabSpec`` flags of ``build`` (each overrides the --config value)."""
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


def options_from_args(args: argparse.Namespace, pipeline_options=None):
    """The build use case's ``BuildOptions`` from the parsed ``build`` flags."""
    from vocabguard._src.engines.build_job import BuildOptions

    overrides = {
        field: getattr(args, dest)
        for dest, field in _SPEC_FLAGS.items()
        if getattr(args, dest, None) is not None
    }
    return BuildOptions(
        name=args.name,
        inputs=tuple(args.input),
        spec=args.config or None,
        spec_overrides=overrides,
        store=getattr(args, "store", None),
        format=args.format,
        fields=tuple(args.field or ()),
        weight_field=args.weight_field,
        parent=args.parent,
        retire=args.retire,
        bad_records=getattr(args, "bad_records", None) or "fail",
        max_record_bytes=getattr(args, "max_record_bytes", None) or 64 << 20,
        allow_empty=args.allow_empty,
        max_bad_fraction=args.max_bad_fraction,
        reserved_tokens_as_text=args.reserved_token is not None,
        runner=getattr(args, "runner", None),
        pipeline_options=pipeline_options,
    )


def _cmd_build(args: argparse.Namespace) -> int:
    """``vocabguard build`` in the mode its one parse found (``args.beam_mode``).

    In process: the flags are a ``BuildOptions``. With ``--runner R`` and no job config
    they become a one-feature job on that runner, the arguments the parser did not know
    (``args.beam_args``) its Beam pipeline options: a build moves from a laptop to a
    cluster by adding one flag. With a job config: every feature of it, in one pass.
    """
    from vocabguard._src.engines.build_job import build
    from vocabguard._src.engines.inprocess import is_inprocess
    from vocabguard.cli import jobs

    if args.beam_mode == "job":
        return jobs.build_from_args(args)
    if args.beam_mode is None or is_inprocess(args.runner):
        report(build(options_from_args(args, pipeline_options=args.beam_args or None)))
        return 0
    flags = jobs.pipeline_options(args.beam_args, runner=args.runner)
    options = options_from_args(args, pipeline_options=flags)
    jobs.quiet_beam_logs()
    with jobs.quiet_workers():
        result = build(options)
    report(result)
    return 0


def report(result) -> None:
    """Print a ``BuildResult``: the summary on stderr, each published ref on stdout."""
    from vocabguard._src.core.artifact import categorical_facts
    from vocabguard.cli.jobs import print_published

    published, parent = result.vocabulary, result.parent
    if published is None:  # a job on a runner
        print_published([item.as_dict() for item in result.published])
        return
    stats = published.stats
    status = (
        f"published {published.ref}"
        if published.newly_published
        else f"unchanged: same ids as {published.ref}, nothing written"
    )
    note(
        f"{status} ({result.store})\n"
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
