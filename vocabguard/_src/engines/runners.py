"""Beam runners by name, and pipeline options checked strictly.

``--runner`` takes Beam's short names (``DirectRunner``, ``DaskRunner``,
``FlinkRunner``, ..., any case, ``Runner`` optional) or a runner class path; the
runner's module is imported first, so its own options pass the check. An unknown
runner or option is a ``ConfigError`` that lists the known ones.

>>> resolve_runner("direct")
'apache_beam.runners.direct.direct_runner.DirectRunner'
"""

from __future__ import annotations

from typing import Any

from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.extras import missing_extra

# Runners Beam knows by a short name but does not list in StandardOptions (their
# options register only when their module is imported). DaskRunner is Beam's, handed
# only its own options (see dask_runner.py: Beam 2.62 gives the dask client them all).
EXTRA_RUNNERS = {"DaskRunner": "vocabguard._src.engines.dask_runner.DaskRunner"}
# Beam runner class paths run through the subclass above.
REPLACED_RUNNERS = {"apache_beam.runners.dask.dask_runner.DaskRunner": EXTRA_RUNNERS["DaskRunner"]}


def known_runners() -> dict[str, str]:
    """Short runner name -> class path: Beam's own list plus ``EXTRA_RUNNERS``."""
    from apache_beam.options.pipeline_options import StandardOptions

    known = {path.rsplit(".", 1)[-1]: path for path in StandardOptions.ALL_KNOWN_RUNNERS}
    return {**known, **EXTRA_RUNNERS}


def resolve_runner(name: str) -> str:
    """A runner's class path from a short name (any case, ``Runner`` optional) or a path.

    The runner's module is imported so that its own options (``--dask_client_address``,
    ``--flink_master``, ...) pass the strict option check. An unknown runner is a
    ``ConfigError`` listing the known ones.
    """
    import difflib
    import importlib

    known = known_runners()
    by_lower = {short.lower(): path for short, path in known.items()}
    path = by_lower.get(name.lower()) or by_lower.get(name.lower() + "runner")
    if path is None and "." in name:
        path = REPLACED_RUNNERS.get(name, name)
    if path is None:
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown runner {name!r}.{hint} Known runners: {', '.join(sorted(known))}; or "
            "give a runner class path such as apache_beam.runners.dask.dask_runner.DaskRunner. "
            + received(runner=name)
        )
    module, _, attribute = path.rpartition(".")
    try:
        runner_class = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as err:
        missing = missing_extra(err, f"Runner {name!r}")
        if missing is not None:
            raise missing from None
        extra = " (pip install 'vocabguard[dask]')" if "dask" in path else ""
        raise ConfigError(
            f"Runner {name!r} cannot be loaded: {err}{extra}. " + received(runner=name)
        ) from None
    if not isinstance(runner_class, type):
        raise ConfigError(f"{path} is not a runner class. " + received(runner=name))
    return path


def beam_options(given: Any, runner: str | None = None):
    """Beam ``PipelineOptions``: ``given`` as they are, or made from a list of Beam flags;
    the runner (``runner``, else the options' own) is resolved by ``resolve_runner`` (a
    short name or a class path). The DirectRunner is the default (Beam may otherwise pick
    Prism, which downloads a binary and cannot run offline).

    The command line checks its flags strictly first (``vocabguard.cli.jobs``).
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    if given is not None and hasattr(given, "view_as"):
        options = given
    else:
        options = PipelineOptions(list(given or []))
    standard = options.view_as(StandardOptions)
    chosen = runner or standard.runner
    if isinstance(chosen, str) and chosen:
        standard.runner = resolve_runner(chosen)
    elif not chosen:
        standard.runner = "DirectRunner"
    return options


# The newest Beam whose Flink and Spark runner libraries Maven Central resolves with every
# dependency, as reached here (2.70's Flink runner needs beam-runners-java-job-service
# 2.70.0, which it does not serve): what constraints/test.txt pins for the JVM tests.
NEWEST_RESOLVED = "2.62.0"


# Runner -> (job server, its options class, the jar flag's attribute, Beam's Gradle target).
JOB_SERVERS = {
    "FlinkRunner": ("flink", "FlinkRunnerOptions", "flink_job_server_jar", "flink:{flink}"),
    "SparkRunner": ("spark", "SparkRunnerOptions", "spark_job_server_jar", "spark:3"),
}


def check_job_server(options) -> None:
    """For ``FlinkRunner``/``SparkRunner`` without a job-server jar or endpoint, fetch
    Beam's job-server jar of the installed Beam version before the pipeline is built
    (the jobs call this), as Beam would at run time
    (into Beam's own cache, which Beam then uses). Where that download fails (a mirror
    without the jar, no network), raise a one-line ``ConfigError`` naming the jar and
    the fallback (``make jobservers``), instead of Beam's traceback.
    """
    from apache_beam.options import pipeline_options as beam_options

    short = runner_name(options)
    if short not in JOB_SERVERS:
        return
    name, options_class, flag, target = JOB_SERVERS[short]
    portable = options.view_as(beam_options.PortableOptions)
    if getattr(portable, "job_endpoint", None) or getattr(
        options.view_as(getattr(beam_options, options_class)), flag
    ):
        return  # the user's own job server (endpoint or jar): Beam checks it
    flink = getattr(options.view_as(beam_options.FlinkRunnerOptions), "flink_version", "")
    fetch_job_server(short, name, f":runners:{target.format(flink=flink)}:job-server:shadowJar")


def fetch_job_server(runner: str, name: str, gradle_target: str) -> str:
    """Beam's job-server jar for ``gradle_target`` (downloaded once into Beam's cache).

    Errors are one-line ``ConfigError``s naming the jar and ``make jobservers``.
    """
    import importlib.metadata
    import os

    from apache_beam.utils.subprocess_server import JavaJarServer

    url = JavaJarServer.path_to_beam_jar(gradle_target)
    jar = os.path.basename(url)
    try:
        return JavaJarServer.local_jar(url)
    except Exception as err:  # urllib, filesystem and Beam errors alike
        reason = " ".join(str(err.__context__ or err).split())
        version = importlib.metadata.version("apache-beam")
        raise ConfigError(
            f"{runner} needs Beam's {name.capitalize()} job server {jar} (the installed "
            f"Beam is {version}), and Beam could not download it from {url} ({reason}). "
            f"Build one from Maven Central with `make jobservers` (or `python "
            f"scripts/jobservers.py {name}`; needs mvn and Java 17) and pass its path with "
            f"--{name}_job_server_jar JAR; the newest Beam whose {name.capitalize()} runner "
            f"resolves there is {NEWEST_RESOLVED}"
            + (
                ""
                if version == NEWEST_RESOLVED
                else f" (pip install 'apache-beam=={NEWEST_RESOLVED}')"
            )
            + ". "
            + received(runner=runner, jar=jar, beam=version)
        ) from None


def runner_name(options) -> str:
    """The short name of the options' runner, for messages (``DaskRunner``)."""
    from apache_beam.options.pipeline_options import StandardOptions

    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    return runner.rsplit(".", 1)[-1] if isinstance(runner, str) else type(runner).__name__
