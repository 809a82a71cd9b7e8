"""Beam's Flink and Spark job servers: Beam's jar, else launcher jars built with Maven;
the cache; the errors, including a runner that cannot get its job server.

A stand-in ``mvn`` on PATH records its calls and writes the jars Maven would copy, and
Beam's download is replaced, so these tests need neither the network nor Maven
(tests/test_runners_jvm.py runs the real thing). The cache is a temporary
``XDG_CACHE_HOME``.
"""

from __future__ import annotations

import doctest
import importlib.metadata
import os
import stat
import sys
import zipfile
from pathlib import Path
from urllib.error import HTTPError

import pytest
from apache_beam.utils.subprocess_server import JavaJarServer

from vocabguard.cli import main
from vocabguard.errors import ConfigError

# The Maven set-up is a script (scripts/jobservers.py), outside the runtime package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import jobservers

# Copies nothing from anywhere: creates the jars named in $FAKE_JARS in -DoutputDirectory.
FAKE_MVN = """#!/bin/sh
echo "$@" >> "$FAKE_CALLS"
if [ -n "$FAKE_ERROR" ]; then echo "[ERROR] $FAKE_ERROR"; exit 1; fi
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
done
mkdir -p "$out"
for jar in $FAKE_JARS; do printf 'PK' > "$out/$jar"; done
"""


def tool(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_maven(tmp_path, monkeypatch):
    # Beam's own download finds no job-server jar (as on Maven Central here, offline).
    monkeypatch.setattr(jobservers, "beam_job_server", lambda runner, version: None)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool(bin_dir, "mvn", FAKE_MVN)
    tool(bin_dir, "java", "#!/bin/sh\n")
    calls = tmp_path / "calls"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_CALLS", str(calls))
    monkeypatch.setenv("FAKE_JARS", "beam-runners-flink-1.19-2.62.0.jar slf4j-simple-1.7.30.jar")
    monkeypatch.delenv("FAKE_ERROR", raising=False)
    return calls


def manifest(jar: str) -> tuple[list[str], dict[str, str]]:
    """The manifest's raw lines, and its headers with continuation lines joined."""
    with zipfile.ZipFile(jar) as archive:
        raw = archive.read("META-INF/MANIFEST.MF").decode("utf-8")
    lines = raw.split("\r\n")
    headers: dict[str, str] = {}
    key = None
    for line in lines:
        if line.startswith(" ") and key:
            headers[key] += line[1:]
        elif line:
            key, _, value = line.partition(": ")
            headers[key] = value
    return lines, headers


def test_flink_launcher_names_the_driver_and_every_resolved_jar(fake_maven, tmp_path):
    jar = jobservers.job_server_jar("FlinkRunner", beam_version="2.62.0")
    root = tmp_path / "cache" / "vocabguard" / "jobservers" / "flink-2.62.0"
    assert jar == str(root / "beam-flink-1.19-job-server-2.62.0.jar")
    lines, headers = manifest(jar)
    assert all(len(line.encode()) <= 72 for line in lines)
    assert headers["Main-Class"] == "org.apache.beam.runners.flink.FlinkJobServerDriver"
    assert headers["Class-Path"].split(" ") == [
        "lib/beam-runners-flink-1.19-2.62.0.jar",
        "lib/slf4j-simple-1.7.30.jar",
    ]
    pom = (root / "pom.xml").read_text()
    assert "<artifactId>beam-runners-flink-1.19</artifactId><version>2.62.0</version>" in pom
    (call,) = fake_maven.read_text().splitlines()
    assert "dependency:copy-dependencies" in call and str(root / "pom.xml") in call


def test_a_second_call_uses_the_cache(fake_maven):
    first = jobservers.job_server_jar("flink", beam_version="2.62.0")
    mtime = os.stat(first).st_mtime_ns
    assert jobservers.job_server_jar("flink", beam_version="2.62.0") == first
    assert len(fake_maven.read_text().splitlines()) == 1  # Maven ran once
    assert os.stat(first).st_mtime_ns == mtime  # the unchanged launcher is kept


def test_spark_launcher_puts_beams_guava_first_then_pyspark_without_duplicates(
    fake_maven, monkeypatch
):
    pyspark_jars, _ = jobservers._pyspark_jars()
    assert any(p.name.startswith("jackson-core-") for p in pyspark_jars)
    monkeypatch.setenv(
        "FAKE_JARS",
        "beam-runners-spark-3-2.62.0.jar guava-33.3.1-android.jar jackson-core-2.99.0.jar",
    )
    jar = jobservers.job_server_jar("spark", beam_version="2.62.0")
    assert Path(jar).name.startswith("beam-spark-3-job-server-2.62.0-pyspark-3.")
    _, headers = manifest(jar)
    entries = headers["Class-Path"].split(" ")
    assert entries[0] == "lib/guava-33.3.1-android.jar"
    assert entries[1:-1] == [str(p.resolve()) for p in pyspark_jars]
    assert entries[-1] == "lib/beam-runners-spark-3-2.62.0.jar"  # Beam's jackson-core left out
    assert headers["Main-Class"] == "org.apache.beam.runners.spark.SparkJobServerDriver"
    assert "java.base/sun.nio.ch" in headers["Add-Opens"]


def test_missing_maven_and_java_is_one_line_naming_the_coordinates(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ConfigError) as err:
        jobservers.job_server_jar("flink", beam_version="2.62.0")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        "Building Beam's Flink job server needs Maven (mvn) and Java 17 on PATH; "
        "mvn and java not found."
    )
    assert "--flink_job_server_jar" in message
    assert message.endswith(
        "Received: missing=['mvn', 'java'], "
        "coordinates='org.apache.beam:beam-runners-flink-1.19:2.62.0'"
    )


def test_what_maven_cannot_resolve_is_one_line_and_nothing_is_cached(fake_maven, monkeypatch):
    answer = (
        "Failed to execute goal on project flink: Could not find artifact "
        "org.apache.beam:beam-runners-flink-1.19:jar:9.9.9 in central"
    )
    monkeypatch.setenv("FAKE_ERROR", answer)
    with pytest.raises(ConfigError) as err:
        jobservers.job_server_jar("flink", beam_version="9.9.9")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        "Maven could not resolve org.apache.beam:beam-runners-flink-1.19:9.9.9 (Beam's Flink "
        f"runner, same version as the Python SDK): {answer}."
    )
    assert "Received: coordinates='org.apache.beam:beam-runners-flink-1.19:9.9.9'" in message
    root = jobservers.cache_root() / "flink-9.9.9"
    assert [p.name for p in root.iterdir()] == ["pom.xml"]  # no lib/, no launcher


def test_an_unknown_runner_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"expected one of flink, spark\. Received: runner="):
        jobservers.job_server_jar("DaskRunner")


def test_beams_own_job_server_jar_is_used_where_it_downloads(tmp_path, monkeypatch):
    fetched = []

    def local_jar(url, cache_dir=None):
        fetched.append(url)
        return str(tmp_path / os.path.basename(url))

    monkeypatch.setattr(JavaJarServer, "local_jar", local_jar)
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn: Maven must not be needed
    jar = jobservers.job_server_jar("spark", beam_version="2.99.0")
    assert jar == str(tmp_path / "beam-runners-spark-3-job-server-2.99.0.jar")
    assert fetched == [
        "https://repo.maven.apache.org/maven2/org/apache/beam/beam-runners-spark-3-job-server/"
        "2.99.0/beam-runners-spark-3-job-server-2.99.0.jar"
    ]
    assert jobservers.beam_job_server("flink", "2.99.0").endswith(
        "beam-runners-flink-1.19-job-server-2.99.0.jar"
    )


def missing_jar(url, cache_dir=None):
    """Beam's ``local_jar`` where the repository answers 404 (its own error chain)."""
    try:
        raise HTTPError(url, 404, "Not Found", None, None)
    except HTTPError as e:
        raise RuntimeError(f"Unable to fetch remote job server jar at {url}: {e}.") from None


@pytest.mark.parametrize(
    "runner, flags",
    [("FlinkRunner", ["--flink_master", "[local]"]), ("SparkRunner", [])],
)
def test_a_runner_without_its_job_server_is_one_line_naming_the_jar_and_the_fallback(
    tmp_path, monkeypatch, capsys, runner, flags
):
    monkeypatch.setattr(JavaJarServer, "local_jar", missing_jar)
    (tmp_path / "docs.txt").write_text("a b\nb c\n")
    status = main(
        [
            "build",
            *("--store", str(tmp_path / "store"), "--name", "docs"),
            *("--input", str(tmp_path / "docs.txt"), "--runner", runner, *flags),
        ]
    )
    assert status == 1
    beam = importlib.metadata.version("apache-beam")
    name = runner.removesuffix("Runner").lower()
    jar = {
        "flink": f"beam-runners-flink-1.19-job-server-{beam}.jar",
        "spark": f"beam-runners-spark-3-job-server-{beam}.jar",
    }[name]
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"vocabguard: error: {runner} needs Beam's {name.capitalize()} job server {jar} "
        f"(the installed Beam is {beam}), and Beam could not download it from https://"
    )
    assert "(HTTP Error 404: Not Found). Build one from Maven Central with `make jobservers`" in err
    assert f"pass its path with --{name}_job_server_jar JAR" in err
    assert f"resolves there is {jobservers.NEWEST_RESOLVED}" in err
    assert err.endswith(f"Received: runner={runner!r}, jar={jar!r}, beam={beam!r}\n")
    assert not (tmp_path / "store").exists()  # nothing published


def test_a_given_job_server_jar_or_endpoint_is_not_fetched(monkeypatch):
    from vocabguard._src.engines.runners import check_job_server
    from vocabguard.cli.jobs import pipeline_options

    monkeypatch.setattr(JavaJarServer, "local_jar", missing_jar)
    for flags in (
        ["--runner", "FlinkRunner", "--flink_job_server_jar", "x.jar"],
        ["--runner", "SparkRunner", "--job_endpoint", "localhost:8099"],
        ["--runner", "DirectRunner"],
    ):
        check_job_server(pipeline_options(flags))  # no fetch: missing_jar would raise
    with pytest.raises(ConfigError, match="needs Beam's Spark job server"):
        check_job_server(pipeline_options(["--runner", "SparkRunner"]))


def test_the_scripts_examples_hold():
    # scripts/ is outside pytest's doctest paths: run the module's examples here.
    assert doctest.testmod(jobservers).failed == 0
