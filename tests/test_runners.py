"""The same Beam jobs on every runner we can start here, with unchanged code.

DirectRunner (1 worker, and 2 worker processes), PortableRunner through Beam's
Job API with an external SDK worker pool (the path Flink and Spark use to run
Python), and DaskRunner against a ``dask.distributed`` scheduler with two worker
processes. Each test starts its services on 127.0.0.1, bounds their time, and
stops them. Every runner must publish the same fingerprints and write the same
rows (compared sorted by a passthrough key).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from vocabguard import VocabStore
from vocabguard.cli import main

BIN = Path(sys.executable).parent
START_TIMEOUT = 60  # seconds for a service to open its port
WORDS = ["alpha", "beta", "gamma", "delta", "épée", "日本", "x", "yy", "z"]
COUNTRIES = ["fr", "de", "us", "jp"]

# An SDK worker pool bound to 127.0.0.1 only (worker_pool_main binds every interface).
LOOPBACK_POOL = """
import sys, grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor
server = grpc.server(thread_pool_executor.shared_unbounded_instance())
server.add_insecure_port(f"127.0.0.1:{sys.argv[1]}")
beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
    BeamFnExternalWorkerPoolServicer(use_process=True), server)
server.start()
server.wait_for_termination()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(log: Path | None, lines: int = 20) -> str:
    if log is None or not log.exists():
        return ""
    return "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_for_port(port: int, process: subprocess.Popen, what: str, log: Path | None = None):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with status {process.returncode} before listening{log_tail(log)}"
            )
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT} s{log_tail(log)}"
    )


def service_env() -> dict[str, str]:
    # Workers spawned by the pool run `python` from PATH and must import this checkout.
    root = str(Path(__file__).resolve().parent.parent)
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


@contextlib.contextmanager
def services(*commands: tuple[list[str], int | None, str], logs: Path | None = None):
    """Start each ``(argv, port, name)`` in its own process group; stop them all after.

    With ``logs``, each service's output goes to ``logs/<name>.log`` (its tail is in the
    error when a service does not start)."""
    started: list[subprocess.Popen] = []
    try:
        for argv, port, name in commands:
            log = logs / f"{name.replace(' ', '-')}.log" if logs else None
            with open(log or os.devnull, "wb") as out:
                process = subprocess.Popen(
                    argv,
                    env=service_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            started.append(process)
            if port is not None:
                wait_for_port(port, process, name, log)
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def wait_for_dask_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT)


@pytest.fixture(scope="module")
def dask_cluster():
    """A scheduler and two worker processes, as `dask scheduler` / `dask worker` start them."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = (
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        port,
        "dask scheduler",
    )
    workers = [
        (
            [
                str(BIN / "dask"),
                "worker",
                address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
            None,
            f"dask worker {i}",
        )
        for i in range(2)
    ]
    with services(scheduler, *workers):
        wait_for_dask_workers(address, 2)
        yield address
        close_dask_clients()


def close_dask_clients() -> None:
    """The DaskRunner leaves its client open; close it before the cluster stops, so it
    does not try to reconnect (and log) for the rest of the session."""
    import distributed

    for client in list(distributed.client._global_clients.values()):
        with contextlib.suppress(Exception):
            client.close(timeout=10)


@pytest.fixture(scope="module")
def job_service():
    """Beam's Job API (the local job service) and an external SDK worker pool."""
    job_port, pool_port = free_port(), free_port()
    with services(
        (
            [
                sys.executable,
                "-m",
                "apache_beam.runners.portability.local_job_service_main",
                f"--port={job_port}",
            ],
            job_port,
            "job service",
        ),
        ([sys.executable, "-c", LOOPBACK_POOL, str(pool_port)], pool_port, "worker pool"),
    ):
        yield job_port, pool_port


def make_corpus(directory: Path) -> str:
    rng = random.Random(11)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(1500):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8)))
            record = {"id": i, "text": text, "country": rng.choice(COUNTRIES)}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return str(path)


def job(tmp_path: Path, inputs: str, store: Path, output: Path) -> str:
    config = {
        "store": str(store),
        "inputs": [inputs],
        "batch_size": 100,
        "split_bytes": 16 << 10,  # one file, several splits: several workers read it
        "features": {
            "text": {"field": "text", "name": "words", "spec": {"lowercase": True}},
            "country": {"field": "country", "name": "countries", "spec": {"tokenizer": "none"}},
        },
        "encode": {"output": str(output), "passthrough": {"id": "int64"}},
    }
    path = tmp_path / f"job-{store.name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def run_everything(tmp_path: Path, label: str, runner_flags: list[str]) -> tuple[dict, list]:
    corpus = make_corpus(tmp_path / "data")
    store, output = tmp_path / f"store-{label}", tmp_path / f"encoded-{label}"
    config = job(tmp_path, corpus, store, output)
    assert main(["build", "--config", config, *runner_flags]) == 0
    assert main(["encode", "--config", config, *runner_flags]) == 0
    fingerprints = {
        name: VocabStore(store).load(name).fingerprint for name in ("words", "countries")
    }
    rows = pq.read_table(sorted(glob.glob(str(output / "*.parquet")))).sort_by("id").to_pylist()
    return fingerprints, rows


@pytest.fixture(scope="module")
def direct_result(tmp_path_factory):
    return run_everything(tmp_path_factory.mktemp("direct"), "direct", ["--runner", "DirectRunner"])


def assert_same(result, direct_result):
    fingerprints, rows = result
    assert fingerprints == direct_result[0]
    assert len(rows) == 1500
    assert rows == direct_result[1]


def test_direct_runner_two_worker_processes(tmp_path, direct_result):
    flags = [
        "--runner",
        "DirectRunner",
        "--direct_num_workers",
        "2",
        "--direct_running_mode",
        "multi_processing",
    ]
    assert_same(run_everything(tmp_path, "direct2", flags), direct_result)


def test_portable_runner_with_an_external_worker_pool(tmp_path, job_service, direct_result):
    job_port, pool_port = job_service
    flags = [
        "--runner",
        "PortableRunner",
        "--job_endpoint",
        f"localhost:{job_port}",
        "--environment_type",
        "EXTERNAL",
        "--environment_config",
        f"localhost:{pool_port}",
    ]
    assert_same(run_everything(tmp_path, "portable", flags), direct_result)


def test_dask_runner_on_a_two_worker_cluster(tmp_path, dask_cluster, direct_result):
    flags = ["--runner", "DaskRunner", "--dask_client_address", dask_cluster]
    assert_same(run_everything(tmp_path, "dask", flags), direct_result)


def test_misspelled_field_fails_on_dask_and_publishes_nothing(tmp_path, dask_cluster, capsys):
    corpus = make_corpus(tmp_path / "data")
    config = job(tmp_path, corpus, tmp_path / "store", tmp_path / "out")
    data = yaml.safe_load(open(config))
    data["bad_records"] = "skip"
    data["features"]["country"]["field"] = "contry"
    open(config, "w").write(yaml.safe_dump(data))
    code = main(
        [
            "build",
            "--config",
            config,
            "--runner",
            "DaskRunner",
            "--dask_client_address",
            dask_cluster,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "1500 of 1500 records were skipped" in err and "missing_field 1500" in err
    assert VocabStore(tmp_path / "store").names() == []


@pytest.mark.parametrize(
    "runner, message",
    [
        (
            "DirectRuner",
            "Unknown runner 'DirectRuner'. Did you mean 'DirectRunner'? Known runners:",
        ),
        ("no.such.module.Runner", "Runner 'no.such.module.Runner' cannot be loaded"),
    ],
)
def test_unknown_runner_is_one_line(tmp_path, capsys, runner, message):
    config = job(tmp_path, make_corpus(tmp_path / "d"), tmp_path / "s", tmp_path / "o")
    assert main(["build", "--config", config, "--runner", runner]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vocabguard: error: {message}")
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2


def test_runner_short_names_and_their_options_pass_the_option_check():
    from vocabguard.cli.jobs import pipeline_options

    options = pipeline_options(["--runner", "DaskRunner", "--dask_client_address", "tcp://x:1"])
    runner = options.get_all_options()["runner"]
    assert runner == "vocabguard._src.engines.dask_runner.DaskRunner"  # Beam's, own options only
    assert options.get_all_options()["address"] == "tcp://x:1"  # DaskOptions' dest
    flink = pipeline_options(["--runner", "flink", "--flink_master", "[local]"])
    assert flink.get_all_options()["runner"].endswith("FlinkRunner")


class _DaskOptionsLike278:
    """How Beam 2.78 declares its Dask options: a mutually exclusive group and a
    store_true flag, which a recorder of ``add_argument`` calls alone cannot take."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--dask_client_address", dest="address", type=str, default=None)
        parser.add_argument(
            "--dask_connection_limit", dest="connection_limit", type=int, default=512
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--dask_npartitions", dest="npartitions", type=int, default=None)
        group.add_argument("--dask_partition_size", dest="partition_size", type=int, default=None)
        parser.add_argument("--dask_lazy_side_inputs", dest="lazy_side_inputs", action="store_true")


def test_dask_flags_take_argument_groups_and_switches(monkeypatch):
    import argparse
    import types

    from vocabguard._src.engines import dask_runner

    # A stand-in for Beam's DaskOptions, not a PipelineOptions subclass: those register
    # themselves for every later parse in this process.
    monkeypatch.setattr(dask_runner._beam_dask, "DaskOptions", _DaskOptionsLike278)
    parser = argparse.ArgumentParser()
    _DaskOptionsLike278._add_argparse_args(parser)
    argv = ["--dask_client_address", "tcp://h:1", "--dask_npartitions", "8"]
    parsed = parser.parse_args([*argv, "--dask_lazy_side_inputs"])
    options = types.SimpleNamespace(view_as=lambda cls: parsed)
    flags = dask_runner.dask_flags(options)
    assert flags == [
        "--dask_client_address=tcp://h:1",
        "--dask_npartitions=8",
        "--dask_lazy_side_inputs",
    ]
    assert parser.parse_args(flags) == parsed  # the flags say what the options said


def test_build_flags_run_on_a_runner_without_a_config(tmp_path, capsys, dask_cluster):
    """From a laptop to a cluster by adding one flag: the in-process flags on a runner."""
    corpus = make_corpus(tmp_path / "data")
    flags = ["--name", "words", "--input", corpus, "--field", "text", "--lowercase"]
    assert main(["build", "--store", str(tmp_path / "local"), *flags]) == 0
    for label, runner in {
        "direct": ["--runner", "DirectRunner"],
        "dask": ["--runner", "DaskRunner", "--dask_client_address", dask_cluster],
    }.items():
        store = tmp_path / label
        assert main(["build", "--store", str(store), *flags, *runner]) == 0
        out = capsys.readouterr().out
        assert out.strip().splitlines()[-1] == "words@v1"
        assert (
            VocabStore(store).load("words").fingerprint
            == VocabStore(tmp_path / "local").load("words").fingerprint
        ), label
