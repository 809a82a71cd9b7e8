"""The Beam mode of ``vocabguard build`` / ``encode`` and the ``pipelines/`` scripts.

``--config JOB.yaml`` (``store``, ``inputs``, ``features``; see
``vocabguard._src.engines.jobs``) plus ``--store``, ``--runner`` and Beam pipeline
options. The command line parses them once, with the in-process flags
(``_common.parse_beam_mode``), and comes here with the parsed ``args``
(``build_from_args``, ``encode_from_args``); the pipelines' scripts parse theirs once
with ``parse_job``. Either way the job config, the runner and the Beam pipeline options
go to the build use case (``engines/build_job.run_job``) or the encode job, and the
result is printed here.

``run_build(argv)`` / ``run_build_inprocess(argv)`` / ``run_encode(argv)`` return what
was published or written; ``main_build`` / ``main_encode`` print it (each published
ref on stdout, a summary on stderr).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from vocabguard.cli._common import PROG, job_usage_error, note
from vocabguard.cli.quiet import BeamLines, progress_lines, stderr_lines

DEBUG_ENVS = ("VOCABGUARD_DEBUG", "VOCABGUARD_VERBOSE")


class _JobArgumentParser(argparse.ArgumentParser):
    """Usage errors as two lines, like the rest of the command line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        job_usage_error(self, message)


def _job_parser(prog: str) -> argparse.ArgumentParser:
    parser = _JobArgumentParser(
        prog=prog,
        description="Run the vocabguard Beam job. Other flags are Beam pipeline options "
        "(--direct_num_workers, --direct_running_mode, --project, ...).",
    )
    parser.add_argument("--config", required=True, help="the job config YAML")
    parser.add_argument("--store", help="store root (overrides the config's store)")
    parser.add_argument(
        "--runner",
        help="Beam runner (default: DirectRunner), or inprocess: this process, without Beam",
    )
    if prog.endswith("encode"):
        parser.add_argument(
            "--output", help="output directory (overrides the config's encode.output)"
        )
    return parser


def parse_job(argv: Sequence[str] | None, prog: str) -> tuple[Any, str | None, list[str]]:
    """``(JobConfig, runner, Beam flags)`` from a job script's argv, in one parse:
    ``--config``, ``--store`` (and ``--output`` for encode) applied to the config,
    ``--runner`` (None: not given), and the rest: Beam's pipeline options."""
    args, beam_args = _job_parser(prog).parse_known_args(
        list(sys.argv[1:] if argv is None else argv)
    )
    return job_config(args), args.runner, beam_args


def job_config(args: argparse.Namespace):
    """The job config of parsed Beam-mode flags: ``--config`` with ``--store`` (and
    encode's ``--output``) in place of the config's own."""
    from vocabguard._src.engines.jobs import JobConfig

    config = JobConfig.from_yaml(args.config, store=getattr(args, "store", None))
    output = getattr(args, "output", None)
    return config if output is None else config.with_output(output)


def pipeline_options(beam_args: Sequence[str], runner: str | None = None):
    """``PipelineOptions`` from Beam flags; unknown flags are an error, not a warning.

    ``runner`` (else a ``--runner`` among the flags, as Beam takes it) is one of Beam's
    short names (``DirectRunner``, ``DaskRunner``, ``FlinkRunner``, ...) or a runner
    class path; its module is imported before the check, so its own flags pass. The
    DirectRunner is the default (Beam may otherwise pick Prism, which downloads a binary
    and cannot run offline).
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from vocabguard._src.core.errors import ConfigError, received
    from vocabguard._src.engines.runners import resolve_runner

    beam_args = list(beam_args)
    if runner is None:  # a list of Beam flags from Python code: its own --runner
        runner_parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
        runner_parser.add_argument("--runner")
        given, beam_args = runner_parser.parse_known_args(beam_args)
        runner = given.runner
    path = resolve_runner(runner) if runner else None
    parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    seen: set[type] = set()
    pending = list(PipelineOptions.__subclasses__())
    while pending:  # options classes and their subclasses (runners extend some)
        options_class = pending.pop()
        if options_class in seen:
            continue
        seen.add(options_class)
        pending.extend(options_class.__subclasses__())
        try:
            options_class._add_argparse_args(parser)
        except argparse.ArgumentError:
            pass  # a subclass re-adding its parent's flags
    _, unknown = parser.parse_known_args(beam_args)
    if unknown:
        raise ConfigError(
            f"Unknown pipeline option(s) {' '.join(unknown)}: not a vocabguard job flag nor a "
            "Beam pipeline option. Check the spelling (Beam options use underscores, e.g. "
            "--direct_num_workers). " + received(options=list(unknown))
        )
    options = PipelineOptions(beam_args)
    standard = options.view_as(StandardOptions)
    standard.runner = path or "DirectRunner"
    return options


# The Beam job's results have always been these five keys (no ``name``).
BEAM_RESULT_KEYS = ("feature", "ref", "fingerprint", "input_dim", "newly_published")


def build_job(config: Any, runner: str | None, beam_args: Sequence[str]) -> list[dict]:
    """Every feature of ``config`` built and published in one pass: in this process
    (``runner`` inprocess, no Beam options) or on a Beam runner with ``beam_args``;
    Beam's own log lines kept quiet. One dict per feature (``print_published``)."""
    from vocabguard._src.engines.build_job import run_job
    from vocabguard._src.engines.inprocess import is_inprocess

    if is_inprocess(runner):
        result = run_job(config, runner="inprocess", pipeline_options=list(beam_args))
        return [item.as_dict() for item in result.published]
    quiet_beam_logs()
    with quiet_workers():
        result = run_job(config, pipeline_options=pipeline_options(beam_args, runner=runner))
    return [{key: item.as_dict()[key] for key in BEAM_RESULT_KEYS} for item in result.published]


def encode_config(config: Any, runner: str | None, beam_args: Sequence[str]) -> dict:
    """Encode ``config``'s inputs with pinned versions on a Beam runner; the summary."""
    from vocabguard._src.engines.jobs import run_encode as encode_job

    quiet_beam_logs()
    with quiet_workers():
        return encode_job(config, pipeline_options=pipeline_options(beam_args, runner=runner))


def _on_the_direct_runner(args: argparse.Namespace, command: str) -> None:
    if args.runner is None and os.path.exists(args.config):
        note(
            f"{PROG}: {command}: running the job config on the DirectRunner "
            "(--runner NAME picks another runner)"
        )


def build_from_args(args: argparse.Namespace) -> int:
    """``vocabguard build --config JOB`` from its parsed flags (``args.beam_args``: the
    Beam pipeline options); prints each published ref."""
    _on_the_direct_runner(args, "build")
    print_published(build_job(job_config(args), args.runner, args.beam_args))
    return 0


def encode_from_args(args: argparse.Namespace) -> int:
    """``vocabguard encode --config JOB`` from its parsed flags; prints the output."""
    _on_the_direct_runner(args, "encode")
    print_encoded(encode_config(job_config(args), args.runner, args.beam_args))
    return 0


def run_build(argv: Sequence[str] | None = None, *, config: Any = None) -> list[dict]:
    """Build and publish every feature's vocabulary in one pass on a Beam runner; return
    one dict per feature (``feature``, ``ref``, ``fingerprint``, ``input_dim``,
    ``newly_published``).

    ``argv``: ``--config FILE``, ``--runner`` and Beam pipeline options; or, with
    ``config`` given (a ``JobConfig``), the Beam pipeline options alone.
    """
    from vocabguard._src.engines.build_job import run_job

    if config is None:
        config, runner, beam_args = parse_job(argv, f"{PROG} build")
    else:
        runner, beam_args = None, list(argv or [])
    result = run_job(config, pipeline_options=pipeline_options(beam_args, runner=runner))
    return [{key: item.as_dict()[key] for key in BEAM_RESULT_KEYS} for item in result.published]


def run_build_inprocess(argv: Sequence[str], *, config: Any = None) -> list[dict]:
    """The job's features built in this process, in one pass, without Beam
    (``--runner inprocess``); other flags: ``--config`` and ``--store`` only."""
    from vocabguard._src.engines.build_job import run_job

    if config is None:
        config, _, argv = parse_job(argv, f"{PROG} build")
    result = run_job(config, runner="inprocess", pipeline_options=list(argv))
    return [item.as_dict() for item in result.published]


def run_encode(argv: Sequence[str] | None = None) -> dict:
    """Encode the config's inputs with pinned vocabulary versions; return the summary."""
    from vocabguard._src.engines.jobs import run_encode as encode_job

    config, runner, beam_args = parse_job(argv, f"{PROG} encode")
    return encode_job(config, pipeline_options=pipeline_options(beam_args, runner=runner))


def _loud() -> bool:
    return any(os.environ.get(name) for name in DEBUG_ENVS)


def quiet_beam_logs() -> None:
    """Progress lines from vocabguard on stderr; Beam's own INFO chatter and its
    tracebacks of user errors (reported once, as one line) stay out of the way."""
    if _loud():
        return
    logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    progress_lines()


def quiet_workers() -> stderr_lines:
    """Beam's worker processes (``multi_processing``) log INFO to the inherited stderr:
    keep vocabguard's lines and errors, drop Beam's chatter (unless verbose/debug)."""
    return stderr_lines(BeamLines(), enabled=not _loud())


def print_published(built: Sequence[dict]) -> None:
    """Each published ref on stdout (the last lines), a line about it on stderr."""
    for item in built:
        verb = "published" if item.get("newly_published", True) else "reused (identical to latest)"
        print(
            f"{verb} {item['ref']} for feature {item['feature']}: input_dim "
            f"{item['input_dim']}, fingerprint {item['fingerprint'][:16]}",
            file=sys.stderr,
        )
        print(item["ref"])


def main_build(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pipelines/build_vocab.py`` (``--runner inprocess``: one pass in
    this process, no Beam)."""
    print_published(build_job(*parse_job(argv, f"{PROG} build")))
    return 0


def main_encode(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pipelines/encode_dataset.py``."""
    print_encoded(encode_config(*parse_job(argv, f"{PROG} encode")))
    return 0


def print_encoded(summary: dict) -> None:
    """The encode job's summary on stderr, its output directory on stdout."""
    skipped = sum(summary["bad_records_skipped"].values())
    refs = ", ".join(f"{key} {v['ref']}" for key, v in summary["vocabularies"].items())
    print(
        f"encoded {summary['documents']} documents with {refs} -> {summary['output']}\n"
        f"  {summary['ids']} ids, OOV rate {summary['oov_rate']:.4f}, "
        f"{summary['out_of_range_ids']} out of range, {skipped} bad records skipped "
        "(details in summary.json)",
        file=sys.stderr,
    )
    print(summary["output"])
