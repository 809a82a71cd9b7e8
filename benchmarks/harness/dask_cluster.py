"""A ``dask.distributed`` cluster on 127.0.0.1 for the ``vg-dask-2`` row: a scheduler
and N worker processes started as ``dask scheduler`` / ``dask worker`` start them (the
approach of tests/test_runners.py), each in its own process group, stopped after.
Nothing binds or connects anywhere but the loopback interface."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60


@dataclass
class Cluster:
    address: str
    pids: list[int] = field(default_factory=list)  # scheduler first, then the workers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"dask scheduler did not listen on 127.0.0.1:{port}")


def _wait_for_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT_S) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT_S)


@contextlib.contextmanager
def dask_cluster(workers: int = 2) -> Iterator[Cluster]:
    """A scheduler and ``workers`` single-threaded worker processes that import this
    checkout's vocabguard (PYTHONPATH), yielded as a ``Cluster``; stopped on exit."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    dask = str(BIN / "dask")
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    worker = [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"]
    commands += [[*worker, "--name", f"w{i}"] for i in range(workers)]
    started: list[subprocess.Popen] = []
    try:
        for index, argv in enumerate(commands):
            process = subprocess.Popen(
                argv,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            started.append(process)
            if index == 0:
                _wait_for_port(port, process)
        _wait_for_workers(address, workers)
        yield Cluster(address, [p.pid for p in started])
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def close_clients() -> None:
    """The DaskRunner leaves its client open; close it before the process ends."""
    import distributed

    for client in list(distributed.client._global_clients.values()):
        with contextlib.suppress(Exception):
            client.close(timeout=10)
