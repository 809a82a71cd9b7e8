#!/usr/bin/env python
"""Get Beam's Flink and Spark job servers for the installed Beam; print their jar paths.

Usage::

    python scripts/jobservers.py [flink] [spark]

Each job server is Beam's own jar where its repository serves it (downloaded as the
runner would, into ``~/.apache_beam/cache/jars``), else built from Maven Central: that
needs ``mvn`` and ``java`` (17) on PATH, and for Spark the ``pyspark`` 3.5 wheel
(``pip install 'vocabguard[spark]'``); the built jars are cached under
``$XDG_CACHE_HOME/vocabguard/jobservers/`` (``~/.cache`` by default). Pass a printed
path to ``--flink_job_server_jar`` / ``--spark_job_server_jar`` (docs/guides/beam.md, "Runners").

A script, not part of the runtime package: ``vocabguard`` never imports it (the runtime
names it in its error when Beam cannot download a job server).

Beam job servers for ``FlinkRunner`` and ``SparkRunner``: Beam's jar, else built with Maven.

Beam's Python ``FlinkRunner`` and ``SparkRunner`` submit through a Java job server
(``--flink_job_server_jar`` / ``--spark_job_server_jar``) of the same Beam version
as the Python SDK. ``job_server_jar`` first fetches Beam's own job-server jar for the
installed Beam, as the runner itself would. Maven Central, as reached here, serves no
``beam-runners-*-job-server`` jar at any version, but it does serve the runner
libraries themselves with all their dependencies (up to Beam ``NEWEST_RESOLVED``).
Where Beam's jar is missing, ``job_server_jar`` resolves the runner library with
Maven (``mvn dependency:copy-dependencies``) into the cache directory and writes a
*launcher jar* next to it: an empty jar whose manifest names the job server's main
class and the resolved jars (``Main-Class`` and ``Class-Path``), so ``java -jar
launcher.jar`` is the job server, as Beam's own fat jar would be, and the path can be
passed to the runner's jar flag.

- Flink: ``org.apache.beam:beam-runners-flink-1.19`` (with Flink 1.19 inside; the
  job server runs an embedded cluster with ``--flink_master [local]``).
- Spark: ``org.apache.beam:beam-runners-spark-3``, whose Spark dependencies are
  ``provided``: Spark itself is the ``jars/`` folder of the installed ``pyspark``
  3.5 wheel (Scala 2.12), the same Spark that ``spark-class`` starts a cluster
  with. Beam's Guava comes first on the class path (Spark ships an old one), jars
  that pyspark already has are left out, and the manifest opens the JDK packages
  Spark needs on Java 17.

The cache is ``$XDG_CACHE_HOME/vocabguard/jobservers/<runner>-<beam version>/``
(``~/.cache`` without ``XDG_CACHE_HOME``); a second call reuses it.

>>> coordinates("flink", "2.62.0")
'org.apache.beam:beam-runners-flink-1.19:2.62.0'
>>> manifest_lines("Class-Path: " + "lib/a-very-long-name.jar " * 4)[1].startswith(" ")
True
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path
from urllib.request import pathname2url

from vocabguard._src.core.errors import ConfigError, VocabguardError, received
from vocabguard._src.engines.runners import NEWEST_RESOLVED  # noqa: F401 (tests read it here)

# runner -> (Maven artifact of org.apache.beam, the job server's main class)
RUNNERS = {
    "flink": ("beam-runners-flink-1.19", "org.apache.beam.runners.flink.FlinkJobServerDriver"),
    "spark": ("beam-runners-spark-3", "org.apache.beam.runners.spark.SparkJobServerDriver"),
}
# Flink's job server logs through SLF4J and brings no binding of its own.
EXTRA = {"flink": [("org.slf4j", "slf4j-simple", "1.7.30")], "spark": []}
# What Spark 3.5 opens on Java 17 (its launcher passes these as --add-opens).
SPARK_OPENS = (
    "java.base/java.lang java.base/java.lang.invoke java.base/java.lang.reflect "
    "java.base/java.io java.base/java.net java.base/java.nio java.base/java.util "
    "java.base/java.util.concurrent java.base/java.util.concurrent.atomic "
    "java.base/jdk.internal.ref java.base/sun.nio.ch java.base/sun.nio.cs "
    "java.base/sun.security.action java.base/sun.util.calendar"
)
MAVEN_TIMEOUT = 1800  # seconds for Maven to resolve a runner (about 250 MB from empty)
_VERSION_SUFFIX = re.compile(r"-[0-9][0-9.]*.*jar$")  # jackson-core-2.15.2.jar -> jackson-core


def coordinates(runner: str, beam_version: str) -> str:
    """The Maven coordinates of Beam's runner library for ``runner`` (flink, spark)."""
    return f"org.apache.beam:{RUNNERS[runner][0]}:{beam_version}"


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/vocabguard/jobservers`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "vocabguard" / "jobservers"


def job_server_jar(runner: str, *, beam_version: str | None = None) -> str:
    """The path of a launcher jar for Beam's ``runner`` job server (``flink`` or ``spark``).

    Resolves the runner from Maven Central on first use (needs ``mvn`` and ``java``),
    then reuses the cache. ``beam_version`` defaults to the installed ``apache-beam``,
    which the job server must equal. Errors are ``ConfigError`` with one line.
    """
    name = runner.lower().removesuffix("runner")
    if name not in RUNNERS:
        raise ConfigError(
            f"No job server for runner {runner!r}: expected one of {', '.join(RUNNERS)}. "
            + received(runner=runner)
        )
    version = beam_version or importlib.metadata.version("apache-beam")
    downloaded = beam_job_server(name, version)
    if downloaded is not None:
        return downloaded
    directory = cache_root() / f"{name}-{version}"
    lib = directory / "lib"
    if not (lib / ".resolved").exists():
        _resolve(name, version, directory)
    artifact, main_class = RUNNERS[name]
    if name == "flink":
        jar = directory / f"beam-{artifact.removeprefix('beam-runners-')}-job-server-{version}.jar"
        _write_launcher(jar, main_class, sorted(lib.glob("*.jar")))
    else:
        spark_jars, spark_version = _pyspark_jars()
        ours = sorted(lib.glob("*.jar"))
        theirs = {_VERSION_SUFFIX.sub("", p.name) for p in spark_jars}
        guava = [p for p in ours if p.name.startswith("guava-")]
        rest = [p for p in ours if _VERSION_SUFFIX.sub("", p.name) not in theirs]
        jar = directory / f"beam-spark-3-job-server-{version}-pyspark-{spark_version}.jar"
        # Beam's Guava before Spark's (Spark ships Guava 14, Beam needs 33).
        _write_launcher(jar, main_class, [*guava, *spark_jars, *rest], add_opens=SPARK_OPENS)
    return str(jar)


def beam_job_server(runner: str, version: str) -> str | None:
    """Beam's own job-server jar for ``runner``, downloaded as Beam does (into Beam's
    cache, ``~/.apache_beam/cache/jars``), or None where the repository lacks it."""
    from apache_beam.utils.subprocess_server import JavaJarServer

    artifact = RUNNERS[runner][0]  # beam-runners-flink-1.19 -> :runners:flink:1.19:...
    target = ":" + artifact.removeprefix("beam-").replace("-", ":") + ":job-server:shadowJar"
    try:
        return JavaJarServer.local_jar(JavaJarServer.path_to_beam_jar(target, version=version))
    except Exception:  # a 404 from a mirror, no network: the Maven fallback builds one
        return None


def _tools_missing(runner: str, version: str) -> None:
    missing = [tool for tool in ("mvn", "java") if shutil.which(tool) is None]
    if missing:
        raise ConfigError(
            f"Building Beam's {runner.capitalize()} job server needs Maven (mvn) and Java 17 "
            f"on PATH; {' and '.join(missing)} not found. Install them (e.g. `apt-get install "
            "maven openjdk-17-jdk-headless`), or pass a Beam job-server jar of the SDK's "
            f"version with --{runner}_job_server_jar. "
            + received(missing=missing, coordinates=coordinates(runner, version))
        )


def _pom(runner: str, version: str) -> str:
    deps = [("org.apache.beam", RUNNERS[runner][0], version), *EXTRA[runner]]
    body = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>\n    "
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>vocabguard.jobservers</groupId><artifactId>{runner}</artifactId>"
        f"<version>{version}</version>\n"
        f"  <dependencies>\n    {body.rstrip()}\n  </dependencies>\n</project>\n"
    )


def _resolve(runner: str, version: str, directory: Path) -> None:
    """Copy the runner's jars (with every dependency) from Maven into ``directory/lib``."""
    _tools_missing(runner, version)
    directory.mkdir(parents=True, exist_ok=True)
    pom = directory / "pom.xml"
    pom.write_text(_pom(runner, version), encoding="utf-8")
    partial = directory / f"lib.partial-{uuid.uuid4().hex[:8]}"
    argv = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=MAVEN_TIMEOUT)
    except subprocess.TimeoutExpired:
        shutil.rmtree(partial, ignore_errors=True)
        raise ConfigError(
            f"Maven did not resolve {coordinates(runner, version)} within {MAVEN_TIMEOUT} s. "
            "Check the network, then run again (what was downloaded stays in ~/.m2). "
            + received(command=" ".join(argv))
        ) from None
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        output = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
        errors = [line.removeprefix("[ERROR] ") for line in output if "ERROR" in line]
        errors = errors or [line for line in output if line][-1:]
        raise ConfigError(
            f"Maven could not resolve {coordinates(runner, version)} (Beam's "
            f"{runner.capitalize()} runner, same version as the Python SDK): "
            f"{errors[0] if errors else 'exit status ' + str(done.returncode)}. Check that "
            "Maven Central is reachable and serves this Beam version. "
            + received(coordinates=coordinates(runner, version), command=" ".join(argv))
        )
    (partial / ".resolved").write_text(coordinates(runner, version) + "\n", encoding="utf-8")
    try:
        partial.rename(directory / "lib")
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(partial, ignore_errors=True)


def _pyspark_jars() -> tuple[list[Path], str]:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "Beam's Spark job server runs on the Spark of the pyspark wheel, which is not "
            "installed. Install it with `pip install 'vocabguard[spark]'` (pyspark 3.5). "
            + received(module="pyspark")
        )
    version = importlib.metadata.version("pyspark")
    if not version.startswith("3."):
        raise ConfigError(
            f"Beam's Spark 3 runner needs pyspark 3.5 (Scala 2.12); pyspark {version} is "
            "installed (pyspark 4 is Scala 2.13). Install `pip install 'vocabguard[spark]'`. "
            + received(pyspark=version)
        )
    jars = Path(next(iter(spec.submodule_search_locations))) / "jars"
    return sorted(jars.glob("*.jar")), version


def manifest_lines(line: str) -> list[str]:
    """A manifest header split into lines of at most 72 bytes (continuations start with a
    space), as the JAR format requires."""
    data = line.encode("utf-8")
    pieces, data = [data[:72]], data[72:]
    while data:
        pieces.append(b" " + data[:71])
        data = data[71:]
    return [piece.decode("utf-8", "surrogateescape") for piece in pieces]


def _write_launcher(
    jar: Path, main_class: str, classpath: list[Path], add_opens: str | None = None
) -> None:
    """Write (or keep, when unchanged) an empty jar whose manifest runs ``main_class``.

    Class-Path entries are URLs relative to the jar's folder, or absolute paths.
    """
    entries = []
    for path in classpath:
        try:
            entries.append(pathname2url(str(path.relative_to(jar.parent))))
        except ValueError:
            entries.append(pathname2url(str(path.resolve())))
    headers = ["Manifest-Version: 1.0", f"Main-Class: {main_class}"]
    headers.append("Class-Path: " + " ".join(entries))
    if add_opens:
        headers.append(f"Add-Opens: {add_opens}")
    lines = [piece for header in headers for piece in manifest_lines(header)]
    manifest = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    if jar.exists():
        try:
            with zipfile.ZipFile(jar) as existing:
                if existing.read("META-INF/MANIFEST.MF") == manifest:
                    return
        except (OSError, KeyError, zipfile.BadZipFile):
            pass
    partial = jar.with_name(f"{jar.name}.{uuid.uuid4().hex[:8]}")
    with zipfile.ZipFile(partial, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", manifest)
    os.replace(partial, jar)


def main(argv: list[str]) -> int:
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
