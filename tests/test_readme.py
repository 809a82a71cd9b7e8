"""The README runs as written: its runnable shell blocks, in order, in a temporary copy of
the repository, on a small generated corpus shaped like BBC News (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import readme_check  # noqa: E402


def test_readme_marks_the_first_steps_training_checking_and_beam_blocks_runnable():
    blocks = readme_check.runnable_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 4
    assert blocks[0].startswith("source .venv/bin/activate\n")
    joined = "".join(blocks)
    for command in ("vocabguard train", "vocabguard check-model", "vocabguard build  --config"):
        assert command in joined
    # Nothing that needs the network or editing a file.
    assert "fetch_data" not in joined and "make " not in joined


def test_readme_runnable_blocks_pass_on_a_generated_corpus():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "readme_check.py"), "--sample", "--show"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,  # the blocks train two small models; a shared CPU is slow
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert result.stdout.rstrip().splitlines()[-1].startswith("readme-check: ")
    assert "runnable blocks passed" in result.stdout
    # Quiet by default: no TensorFlow banner, no Beam chatter, no traceback.
    for noise in ("absl::InitializeLog", "cuInit", "apitools", "INFO:apache_beam", "Traceback"):
        assert noise not in result.stderr, result.stderr
