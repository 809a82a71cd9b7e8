"""The same Beam jobs on Beam's FlinkRunner and SparkRunner, for real, on loopback.

Each runner's job server is the launcher jar that the project builds from Maven
Central (``scripts/jobservers.py``: Beam's runner library and its
dependencies, resolved with ``mvn``; the first run downloads about 250 MB, later runs
reuse the cache). Flink runs on the embedded cluster the job server starts
(``--flink_master [local]``); Spark on a standalone cluster of a master and two
workers started with the ``pyspark`` wheel's own ``spark-class``. Both run the Python
code in the submitting process (``--environment_type LOOPBACK``). The build must
publish the fingerprints, and the encode job write the rows (sorted by ``id``), of
the DirectRunner with one worker. Without ``java`` or ``mvn`` these tests fail with
the reason; they are never skipped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from test_runners import (
    START_TIMEOUT,
    assert_same,
    direct_result,  # noqa: F401 (a fixture)
    free_port,
    run_everything,
    services,
)
from time_limit import bounded

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from jobservers import job_server_jar

JOB_TIMEOUT = 600  # seconds for a build and an encode on one runner, JVM start-up included
# The embedded Flink cluster's servers on 127.0.0.1 (read from $FLINK_CONF_DIR).
FLINK_CONF = """\
jobmanager.bind-host: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.address: 127.0.0.1
"""


def stop_job_servers(jar: str) -> None:
    """Stop the job-server JVMs the runner started from ``jar`` (Beam stops them only
    when the Python process exits)."""
    mine = psutil.Process().children(recursive=True)
    servers = []
    for process in mine:
        with contextlib.suppress(psutil.Error):
            if jar in process.cmdline():
                servers.append(process)
    for process in servers:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(servers, timeout=20)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


@pytest.fixture(scope="module")
def flink_jar():
    return job_server_jar("flink")  # a ConfigError naming what is missing fails the test


@pytest.fixture(scope="module")
def spark_jar():
    return job_server_jar("spark")


def spark_home() -> str:
    spec = importlib.util.find_spec("pyspark")
    assert spec is not None, "pyspark is not installed: pip install -e '.[test]'"
    return next(iter(spec.submodule_search_locations))


def alive_workers(webui_port: int) -> int:
    """Workers registered with the master, from its web UI's JSON."""
    url = f"http://127.0.0.1:{webui_port}/json/"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return int(json.load(reply)["aliveworkers"])
    except OSError:
        return 0


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A standalone Spark master and two workers (1 core, 1 GB each) on 127.0.0.1."""
    home = spark_home()
    spark_class = os.path.join(home, "bin", "spark-class")
    port, webui = free_port(), free_port()
    master = f"spark://127.0.0.1:{port}"
    commands = [
        (
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(webui)),
            ],
            port,
            "spark master",
        )
    ]
    work_dirs = [tmp_path_factory.mktemp(f"spark-worker-{i}") for i in range(2)]
    for i, work_dir in enumerate(work_dirs):
        ui = free_port()
        commands.append(
            (
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    master,
                    *("--host", "127.0.0.1", "--cores", "1", "--memory", "1g"),
                    *("--webui-port", str(ui), "--work-dir", str(work_dir)),
                ],
                ui,
                f"spark worker {i}",
            )
        )
    with pytest.MonkeyPatch.context() as env:
        # Every Spark process, and the job server's driver, binds 127.0.0.1.
        env.setenv("SPARK_HOME", home)
        env.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        with services(*commands, logs=tmp_path_factory.mktemp("spark-logs")):
            deadline = time.monotonic() + START_TIMEOUT
            while alive_workers(webui) < 2:
                assert time.monotonic() < deadline, "the Spark workers did not register"
                time.sleep(0.2)
            yield master, work_dirs


def test_flink_runner_on_an_embedded_cluster(tmp_path, monkeypatch, flink_jar, direct_result):  # noqa: F811
    conf = tmp_path / "flink-conf"
    conf.mkdir()
    (conf / "flink-conf.yaml").write_text(FLINK_CONF, encoding="utf-8")
    monkeypatch.setenv("FLINK_CONF_DIR", str(conf))
    flags = [
        "--runner",
        "FlinkRunner",
        "--flink_master",
        "[local]",
        "--flink_job_server_jar",
        flink_jar,
        "--environment_type",
        "LOOPBACK",
        "--parallelism",
        "2",
    ]
    try:
        with bounded(JOB_TIMEOUT, "build and encode on FlinkRunner"):
            result = run_everything(tmp_path, "flink", flags)
    finally:
        stop_job_servers(flink_jar)
    assert_same(result, direct_result)


def test_spark_runner_on_a_standalone_cluster_of_two_workers(
    tmp_path,
    spark_cluster,
    spark_jar,
    direct_result,  # noqa: F811
):
    master, work_dirs = spark_cluster
    flags = [
        "--runner",
        "SparkRunner",
        "--spark_master_url",
        master,
        "--spark_job_server_jar",
        spark_jar,
        "--environment_type",
        "LOOPBACK",
        # The job server's Spark driver on 127.0.0.1, without a web UI.
        "--job_server_jvm_properties=-Dspark.driver.host=127.0.0.1",
        "--job_server_jvm_properties=-Dspark.driver.bindAddress=127.0.0.1",
        "--job_server_jvm_properties=-Dspark.ui.enabled=false",
    ]
    try:
        with bounded(JOB_TIMEOUT, "build and encode on SparkRunner"):
            result = run_everything(tmp_path, "spark", flags)
    finally:
        stop_job_servers(spark_jar)
    assert_same(result, direct_result)
    # Both workers ran executors of the jobs (a folder per application and executor).
    for work_dir in work_dirs:
        assert list(Path(work_dir).glob("app-*/*")), f"no executor ran in {work_dir}"
