"""TensorFlow Transform's own virtualenv, ``.venv-tft`` (TFT pins its own TensorFlow,
tfx-bsl and Beam versions); ``tft_worker.py`` runs there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TFT_VERSION = "1.21.0"
TFT_VENV = REPO / ".venv-tft"
TFT_WORKER = Path(__file__).resolve().parent / "tft_worker.py"


def ensure_tft(venv: Path = TFT_VENV) -> tuple[Path | None, str | None]:
    """The .venv-tft interpreter, created when missing; or (None, why not)."""
    python = venv / "bin" / "python"
    if python.exists():
        return python, None
    print(
        f"TFT: {venv} is missing; creating it now: python -m venv {venv.name} && "
        f"{venv.name}/bin/pip install tensorflow-transform=={TFT_VERSION} "
        "(a few minutes, once; --skip-tft leaves the TFT rows out) ...",
        flush=True,
    )
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", f"tensorflow-transform=={TFT_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
            return None, f"`{' '.join(step[-3:])}` failed: {' | '.join(tail)}"
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
