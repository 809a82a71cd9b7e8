"""The job mode of ``vocabguard build`` / ``encode`` and the ``pipelines/`` scripts.

``--config JOB.yaml`` (``store``, ``inputs``, ``features``; see
``vocabguard._src.engines.jobs``) plus ``--store``, ``--runner`` and Beam pipeline
options: the arguments are parsed here, once, into the build use case's parameters
(``engines/build_job.run_job``) or the encode job's, and the result is printed here.

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

from vocabguard.cli._common import PROG
from vocabguard.cli.quiet import BeamLines, progress_lines, stderr_lines

DEBUG_ENVS = ("VOCABGUARD_DEBUG", "VOCABGUARD_VERBOSE")


class _JobArgumentParser(argparse.ArgumentParser):
    """Usage errors as two lines, like the rest of the command line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(
            2,
            f"{PROG}: error: {message} (the Beam mode of {self.prog} takes a job config)\n"
            f"Run '{self.prog} --help' for usage.\n",
        )


def _job_parser(prog: str) -> argparse.ArgumentParser:
    parser = _JobArgumentParser(
        prog=prog,
        description="Run the vocabguard Beam job. Other flags are Beam pipeline options "
        "(--runner, --direct_num_workers, --direct_running_mode, --project, ...).",
    )
    parser.add_argument("--config", required=True, help="the job config YAML")
    parser.add_argument("--store", help="store root (overrides the config's store)")
    if prog.endswith("encode"):
        parser.add_argument(
            "--output", help="output directory (overrides the config's encode.output)"
        )
    return parser


def parse_job(argv: Sequence[str] | None, prog: str):
    """``(JobConfig, Beam flags)`` from a job's argv: ``--config``, ``--store`` (and
    ``--output`` for encode) applied to the config; the rest are Beam's flags."""
    from vocabguard._src.engines.jobs import JobConfig

    args, beam_args = _job_parser(prog).parse_known_args(
        list(sys.argv[1:] if argv is None else argv)
    )
    config = JobConfig.from_yaml(args.config, store=args.store)
    output = getattr(args, "output", None)
    if output is not None:
        config = config.with_output(output)
    return config, beam_args


def _runner_flag(beam_args: Sequence[str]) -> str | None:
    runner = None
    for index, arg in enumerate(beam_args):
        if arg == "--runner" and index + 1 < len(beam_args):
            runner = beam_args[index + 1]
        elif arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
    return runner


def pipeline_options(beam_args: Sequence[str]):
    """``PipelineOptions`` from Beam flags; unknown flags are an error, not a warning.

    ``--runner`` takes Beam's short names (``DirectRunner``, ``DaskRunner``,
    ``FlinkRunner``, ...) or a runner class path. The DirectRunner is the default
    (Beam may otherwise pick Prism, which downloads a binary and cannot run offline).
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from vocabguard._src.core.errors import ConfigError, received
    from vocabguard._src.engines.runners import resolve_runner

    beam_args = list(beam_args)
    runner = _runner_flag(beam_args)
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


def inprocess_argv(argv: Sequence[str]) -> list[str] | None:
    """``argv`` without ``--runner inprocess`` when it names the in-process runner, else None."""
    from vocabguard._src.engines.inprocess import is_inprocess

    argv = list(argv)
    for index, arg in enumerate(argv):
        if arg.startswith("--runner="):
            if is_inprocess(arg.split("=", 1)[1]):
                return argv[:index] + argv[index + 1 :]
        elif arg == "--runner" and index + 1 < len(argv) and is_inprocess(argv[index + 1]):
            return argv[:index] + argv[index + 2 :]
    return None


def run_build(argv: Sequence[str] | None = None, *, config: Any = None) -> list[dict]:
    """Build and publish every feature's vocabulary in one pass on a Beam runner; return
    one dict per feature (``feature``, ``ref``, ``fingerprint``, ``input_dim``,
    ``newly_published``).

    ``argv``: ``--config FILE`` and Beam pipeline options; or, with ``config`` given
    (a ``JobConfig``), the Beam pipeline options alone.
    """
    from vocabguard._src.engines.build_job import run_job

    if config is None:
        config, beam_args = parse_job(argv, f"{PROG} build")
    else:
        beam_args = list(argv or [])
    result = run_job(config, pipeline_options=pipeline_options(beam_args))
    # The Beam job's results have always been these five keys (no ``name``).
    keys = ("feature", "ref", "fingerprint", "input_dim", "newly_published")
    return [{key: item.as_dict()[key] for key in keys} for item in result.published]


def run_build_inprocess(argv: Sequence[str], *, config: Any = None) -> list[dict]:
    """The job's features built in this process, in one pass, without Beam
    (``--runner inprocess``); other flags: ``--config`` and ``--store`` only."""
    from vocabguard._src.engines.build_job import run_job

    if config is None:
        config, argv = parse_job(argv, f"{PROG} build")
    result = run_job(config, runner="inprocess", pipeline_options=list(argv))
    return [item.as_dict() for item in result.published]


def run_encode(argv: Sequence[str] | None = None) -> dict:
    """Encode the config's inputs with pinned vocabulary versions; return the summary."""
    from vocabguard._src.engines.jobs import run_encode as encode_job

    config, beam_args = parse_job(argv, f"{PROG} encode")
    return encode_job(config, pipeline_options=pipeline_options(beam_args))


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


def main_build(argv: Sequence[str] | None = None, *, config: Any = None) -> int:
    """Entry point of ``pipelines/build_vocab.py`` and ``vocabguard build --config JOB``
    (``--runner inprocess``: one pass in this process, no Beam)."""
    rest = inprocess_argv(sys.argv[1:] if argv is None else argv)
    if rest is not None:
        built = run_build_inprocess(rest, config=config)
    else:
        quiet_beam_logs()
        with quiet_workers():
            built = run_build(argv, config=config)
    print_published(built)
    return 0


def main_encode(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pipelines/encode_dataset.py`` and ``vocabguard encode --config JOB``."""
    quiet_beam_logs()
    with quiet_workers():
        summary = run_encode(argv)
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
    return 0
