"""What the numbers were measured on: CPUs, memory, versions, load, vocabguard source."""

from __future__ import annotations

import datetime
import hashlib
import importlib.util
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = (
    "vocabguard",
    "apache-beam",
    "pyarrow",
    "numpy",
    "tensorflow",
    "keras",
    "dask",
    "distributed",
)


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_facts() -> dict:
    """Which vocabguard source the rows import: its folder, a hash of its .py files, and
    (inside this repository) the commit and whether vocabguard/ has uncommitted edits."""
    spec = importlib.util.find_spec("vocabguard")  # honours PYTHONPATH, imports nothing
    if spec is None or not spec.origin:
        return {"path": None}
    folder = Path(spec.origin).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    facts = {"path": str(folder), "py_sha256": digest.hexdigest()[:12]}
    if folder.is_relative_to(REPO):

        def git(*command: str) -> str | None:
            try:
                done = subprocess.run(
                    ["git", *command], cwd=REPO, capture_output=True, check=True, timeout=30
                )
            except (OSError, subprocess.SubprocessError):
                return None
            return done.stdout.decode("utf-8", "replace")

        head = git("rev-parse", "--short", "HEAD")
        diff = git("diff", "HEAD", "--stat", "--", str(folder))
        facts["commit"] = head.strip() if head else None
        facts["uncommitted_edits"] = None if diff is None else bool(diff.strip())
    return facts


def describe_source(facts: dict) -> str:
    text = f"{facts.get('path')} (.py sha256 {facts.get('py_sha256')}"
    if "commit" in facts:
        edits = facts["uncommitted_edits"]
        text += f", commit {facts['commit']}" + (", with uncommitted edits" if edits else "")
    return text + ")"


def machine_facts(source: bool = True) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gb = None
    facts = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(memory_gb, 1) if memory_gb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{dist.replace("-", "_"): version(dist) for dist in DISTRIBUTIONS},
        # Other work slows every row; a load above nproc means contention.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    if source:
        facts["source"] = source_facts()
    return facts


def describe(facts: dict, tft_env: dict | None = None) -> str:
    """One line: the machine, the versions, the load, the source measured."""
    text = (
        f"machine: {facts['nproc']} CPUs usable ({facts['cpu_count']} online), "
        f"{facts['cpu_model']}, {facts['memory_gb']} GiB RAM; Python {facts['python']}; "
        f"vocabguard {facts['vocabguard']}, apache-beam {facts['apache_beam']}, pyarrow "
        f"{facts['pyarrow']}, numpy {facts['numpy']}, TensorFlow {facts['tensorflow']}, "
        f"Keras {facts['keras']}, dask {facts['dask']}"
    )
    if tft_env is not None:
        text += "; TFT env: " + (", ".join(f"{k} {v}" for k, v in tft_env.items()) or "n/a")
    if facts.get("source"):
        text += f"; vocabguard source: {describe_source(facts['source'])}"
    code = ("path", "py_sha256", "uncommitted_edits")  # a new commit alone changes no code
    at_start, at_end = facts.get("source_at_start"), facts.get("source") or {}
    if at_start and any(at_start.get(k) != at_end.get(k) for k in code):
        text += f" (CHANGED during the run; at start: {describe_source(facts['source_at_start'])})"
    start = facts.get("load_average_at_start")
    text += "; load average (1/5/15 min) " + (f"{start} at start, " if start else "")
    return text + f"{facts['load_average_1_5_15']} at end; {facts['date']}"
