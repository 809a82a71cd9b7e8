"""TensorFlow Transform's own virtualenv, ``.venv-tft`` (TFT pins its own TensorFlow,
tfx-bsl and Beam versions); ``tft_worker.py`` runs there.

The recipe (``make tft-venv`` runs it; the benchmarks run it when the venv is missing)::

    python3.11 -m venv .venv-tft
    .venv-tft/bin/pip install -c benchmarks/tft-constraints.txt tensorflow-transform==1.21.0

``benchmarks/tft-constraints.txt`` pins every package the install resolved (``pip
freeze`` of a working venv), so a new venv gets the same versions. ``VOCABGUARD_TFT_VENV``
points the benchmarks at a venv elsewhere (e.g. one shared by several checkouts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TFT_VERSION = "1.21.0"
TFT_VENV = Path(os.environ.get("VOCABGUARD_TFT_VENV") or REPO / ".venv-tft")
TFT_CONSTRAINTS = REPO / "benchmarks" / "tft-constraints.txt"
TFT_WORKER = Path(__file__).resolve().parent / "tft_worker.py"
READY_FILE = ".vocabguard-ready"


def _stamp() -> str:
    """What a ready venv was installed from: the TFT version and the constraints' hash."""
    import hashlib

    pins = TFT_CONSTRAINTS.read_bytes() if TFT_CONSTRAINTS.exists() else b""
    return f"tensorflow-transform=={TFT_VERSION} {hashlib.sha256(pins).hexdigest()}\n"


def ensure_tft(venv: Path = TFT_VENV) -> tuple[Path | None, str | None]:
    """The venv's interpreter, created (or completed) when it is not ready; or (None, why
    not). Ready means ``READY_FILE`` holds this version and constraints' stamp, written
    only after pip succeeded, so an interrupted install is finished on the next run."""
    python = venv / "bin" / "python"
    ready = venv / READY_FILE
    if python.exists() and ready.exists() and ready.read_text() == _stamp():
        return python, None
    constraints = ["-c", str(TFT_CONSTRAINTS)] if TFT_CONSTRAINTS.exists() else []
    print(
        f"TFT: {venv} is not ready; installing: {sys.executable} -m venv {venv} && "
        f"{python} -m pip install {' '.join(constraints)} tensorflow-transform=={TFT_VERSION} "
        "(a few minutes and ~2 GB, once; --skip-tft leaves the TFT rows out) ...",
        flush=True,
    )
    steps = [] if python.exists() else [[sys.executable, "-m", "venv", str(venv)]]
    package = f"tensorflow-transform=={TFT_VERSION}"
    steps.append([str(python), "-m", "pip", "install", "-q", *constraints, package])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
            return None, f"`{' '.join(step[-3:])}` failed: {' | '.join(tail)}"
    ready.write_text(_stamp())
    print(f"TFT: {venv} is ready", flush=True)
    return python, None


def command(
    python: Path,
    mode: str,
    pattern: str,
    top_k: int,
    repeat: int,
    work: str,
    result: str,
    tokens_out: str,
) -> list[str]:
    return [
        str(python),
        str(TFT_WORKER),
        "--mode",
        mode,
        "--pattern",
        pattern,
        "--top-k",
        str(top_k),
        "--repeat",
        str(repeat),
        "--work",
        work,
        "--result",
        result,
        "--tokens-out",
        tokens_out,
    ]


if __name__ == "__main__":  # `make tft-venv`: create or complete the venv, nothing else
    interpreter, why = ensure_tft()
    print(interpreter if why is None else f"TFT venv not created: {why}")
    sys.exit(0 if why is None else 1)
