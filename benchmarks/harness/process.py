"""One process per row: run it, sample the memory of every process it starts, and
measure how much CPU other work on the machine took meanwhile (contention).

Worker side: ``peak_rss_mb``, ``cpu_s``, ``timed`` and ``emit`` (the ``RESULT`` line
the parent reads back). Parent side: ``run_measured``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

RESULT_PREFIX = "RESULT "
RSS_SAMPLE_S = 0.1
CONTENDED_CORES = 0.25  # other work above this many cores slowed the row

# -- worker side ---------------------------------------------------------------


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak RSS in MiB (``getrusage``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s() -> float:
    """CPU seconds of this process and the children it has waited for."""
    return cpu_s(resource.RUSAGE_SELF) + cpu_s(resource.RUSAGE_CHILDREN)


def timed(run: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    """``repeat`` timed calls of ``run``: (seconds of each, the last result)."""
    seconds, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        seconds.append(time.perf_counter() - start)
    return seconds, out


def rusage_facts(seconds: list[float], cpu_timed_s: float | None = None) -> dict:
    """Timings and this process' own rusage, for a worker's result. ``cpu_timed_s``:
    the CPU seconds the timed runs used (this process and its waited-for children),
    per run: on a contended machine, a measure that other work does not inflate."""
    return {
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "cpu_per_run_s": None if cpu_timed_s is None else cpu_timed_s / len(seconds),
        "self_peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "children_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "cpu_self_s": cpu_s(resource.RUSAGE_SELF),
        "cpu_children_s": cpu_s(resource.RUSAGE_CHILDREN),
    }


def emit(result: dict) -> None:
    """Print the worker's result as the line ``run_measured`` reads back."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    return None


# -- /proc ------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_s() -> float | None:
    """CPU seconds all processes on this machine have used since boot (/proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(values[:7]) - values[3] - values[4]  # user..softirq, minus idle and iowait
    return busy / _TICK


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    return parents


def tree(roots: Iterable[int]) -> list[int]:
    """``roots`` and all their living descendants."""
    parents = _children()
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def label(pid: int) -> str:
    """A short name for a process: its command line, shortened."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = [a.decode("utf-8", "replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return "?"
    if not argv:
        return "?"
    words = [Path(argv[0]).name] + [Path(a).name if "/" in a else a for a in argv[1:4]]
    return " ".join(words)[:80]


def tree_cpu_s(roots: Iterable[int]) -> float:
    """CPU seconds used by ``roots``' living trees (utime + stime + reaped children's)."""
    total = 0
    for pid in tree(roots):
        fields = _stat(pid)
        if fields:
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


class RssSampler(threading.Thread):
    """Every ``RSS_SAMPLE_S`` s: the summed RSS of the trees under ``roots``, and each
    process' own peak (so "every Beam process under 1 GB" can be read off)."""

    def __init__(self, roots: Iterable[int]):
        super().__init__(daemon=True)
        self.roots = list(roots)
        self.peak_mb = 0.0
        self.max_processes = 0
        self.per_process: dict[int, dict] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        total, count = 0.0, 0
        for pid in tree(self.roots):
            rss = rss_mb(pid)
            if rss is None:
                continue
            total += rss
            count += 1
            seen = self.per_process.get(pid)
            if seen is None:
                self.per_process[pid] = {"pid": pid, "name": label(pid), "peak_mb": rss}
            elif rss > seen["peak_mb"]:
                seen["peak_mb"] = rss
        self.peak_mb = max(self.peak_mb, total)
        self.max_processes = max(self.max_processes, count)

    def run(self) -> None:
        if not os.path.isdir("/proc"):
            return
        while not self.done.wait(RSS_SAMPLE_S):
            self.sample()


# -- parent side -------------------------------------------------------------------


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL ``process``' group (it leads its own session), then reap it."""
    try:
        os.killpg(process.pid, 9)
    except OSError:  # already gone
        process.kill()
    process.communicate()


def run_measured(
    command: list[str],
    *,
    log_path: str,
    timeout_s: float,
    env: dict | None = None,
    services: Iterable[int] = (),
    result_file: str | None = None,
) -> dict:
    """Run ``command``; return its result (the ``RESULT`` line, or ``result_file``'s
    JSON) with what the parent measured around it:

    - ``peak_rss_mb``: the most RSS the row's tree and ``services``' trees held at
      once (summed; at least the process' own ``getrusage`` peak), ``max_processes``,
      and ``processes``: each process' own peak RSS;
    - ``other_cpu_cores``: CPU that processes outside the row (and its services)
      used while it ran, in cores: above ``CONTENDED_CORES``, other work slowed it;
    - ``process_wall_s``, ``load_1min_before_after``; ``error`` when it failed.
    """
    services = list(services)
    busy_before = machine_busy_s()
    cpu_before = cpu_s(resource.RUSAGE_CHILDREN) + cpu_s(resource.RUSAGE_SELF)
    services_cpu_before = tree_cpu_s(services) if services else 0.0
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        # Its own process group: a row stopped at its timeout (or by Ctrl-C here) takes
        # the processes it started with it (Beam's workers, TFT's), not only itself.
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env or dict(os.environ),
            start_new_session=True,
        )
        sampler = RssSampler([process.pid, *services])
        sampler.start()
        try:
            stdout, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout = None
        except BaseException:
            _kill_group(process)
            raise
        sampler.done.set()
        sampler.join()
    wall = time.perf_counter() - started
    busy_after = machine_busy_s()
    own = cpu_s(resource.RUSAGE_CHILDREN) + cpu_s(resource.RUSAGE_SELF) - cpu_before
    if services:
        own += tree_cpu_s(services) - services_cpu_before
    base: dict = {
        "process_wall_s": wall,
        "log": log_path,
        "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if busy_before is not None and busy_after is not None and wall > 0:
        base["other_cpu_cores"] = round(max(0.0, busy_after - busy_before - own) / wall, 2)
        base["own_cpu_s"] = round(own, 1)
    processes = sorted(sampler.per_process.values(), key=lambda p: -p["peak_mb"])
    processes = [{**p, "peak_mb": round(p["peak_mb"], 1)} for p in processes]
    if stdout is None:  # what it held until it was stopped is still worth reporting
        return {
            **base,
            "error": f"timed out after {timeout_s:g} s (stopped)",
            "timed_out": True,
            "peak_rss_mb": sampler.peak_mb,
            "processes": processes,
        }
    result = None
    if result_file:
        try:
            result = json.loads(Path(result_file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = None
    else:
        result = parse_result(stdout)
    if result is None or "error" in result:
        tail = Path(log_path).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        reason = (result or {}).get("error") or " | ".join(tail[-3:]) or "no result"
        return {**base, "error": reason, "returncode": process.returncode}
    result.update(base)
    result["exit_code"] = process.returncode
    result["tree_peak_rss_mb"] = sampler.peak_mb
    result["max_processes"] = sampler.max_processes
    result["peak_rss_mb"] = max(sampler.peak_mb, result.get("self_peak_rss_mb", 0.0))
    result["processes"] = processes
    return result
