#!/usr/bin/env python
"""Get Beam's Flink and Spark job servers for the installed Beam; print their jar paths.

Usage::

    python scripts/jobservers.py [flink] [spark]

Each job server is Beam's own jar where its repository serves it (downloaded as the
runner would, into ``~/.apache_beam/cache/jars``), else built from Maven Central: that
needs ``mvn`` and ``java`` (17) on PATH, and for Spark the ``pyspark`` 3.5 wheel
(``pip install 'vocabguard[spark]'``); the built jars are cached under
``$XDG_CACHE_HOME/vocabguard/jobservers/`` (``~/.cache`` by default). Pass a printed
path to ``--flink_job_server_jar`` / ``--spark_job_server_jar`` (README "Runners").
"""

from __future__ import annotations

import sys
import time

from vocabguard._src.core.errors import VocabguardError
from vocabguard._src.engines.jobservers import cache_root, coordinates, job_server_jar


def main(argv: list[str]) -> int:
    import importlib.metadata

    version = importlib.metadata.version("apache-beam")
    for runner in argv or ["flink", "spark"]:
        start = time.monotonic()
        try:
            path = job_server_jar(runner)
        except VocabguardError as err:
            print(f"jobservers: error: {err}", file=sys.stderr)
            return 1
        took = time.monotonic() - start
        built = path.startswith(str(cache_root()))
        source = f"built with Maven from {coordinates(runner, version)}" if built else "Beam's jar"
        print(f"{runner}: {path}  ({source}, {took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
