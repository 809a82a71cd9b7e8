#!/usr/bin/env python
"""Run the README's runnable shell blocks, in order, in a temporary copy of the repository.

    python scripts/readme_check.py            # on data/bbc_news (after `make data`)
    python scripts/readme_check.py --sample   # on a small generated corpus: no network

A block is runnable when the line before its opening fence is ``<!-- runnable -->``;
a ``python`` block runs as ``python - <<'PYTHON'`` with the virtualenv's Python, quiet
as the CLI is (TensorFlow's start-up banner filtered: ``vocabguard.cli.quiet``).
The blocks run one after another with ``bash -e -o pipefail`` in one temporary copy of
the repository's tracked files, where ``.venv`` points at this Python's virtualenv
(so ``source .venv/bin/activate`` and ``.venv/bin/vocabguard`` work as in a clone) and
``data/bbc_news`` is the fetched corpus (a symlink) or, with ``--sample``, a generated
corpus of the same shape (``id``, ``text``, ``topic``; the same four files). Nothing in
the repository is written. Exit status 0 when every block passes; otherwise the failing
block, its output and 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MARKER = "<!-- runnable -->"
_BLOCK = re.compile(
    r"^" + re.escape(MARKER) + r"\n```(sh|bash|console|python)\n(.*?)^```", re.M | re.S
)
# Before a Python block: TensorFlow's start-up banner filtered, as in the CLI.
_QUIET = "from vocabguard.cli.quiet import quiet\n\nquiet()\n"
TOPICS = ("business", "entertainment", "politics", "sport", "tech")


def runnable_blocks(readme: str) -> list[str]:
    """The blocks marked runnable, in order, as shell (a Python block is fed to ``python``).

    >>> runnable_blocks("x\\n<!-- runnable -->\\n```sh\\necho hi\\n```\\n```sh\\nno\\n```\\n")
    ['echo hi\\n']
    >>> runnable_blocks("<!-- runnable -->\\n```python\\nprint(1)\\n```\\n")[0].splitlines()[-2:]
    ['print(1)', 'PYTHON']
    """
    return [
        f"python - <<'PYTHON'\n{_QUIET}{match.group(2)}PYTHON\n"
        if match.group(1) == "python"
        else match.group(2)
        for match in _BLOCK.finditer(readme)
    ]


def write_sample_corpus(folder: Path, articles: int = 250, seed: int = 0) -> None:
    """A BBC-News-shaped corpus: ``articles.jsonl`` (id, text, topic), ``articles.txt``,
    and an 80/20 ``train.jsonl`` / ``test.jsonl`` split, with topic-specific words."""
    rng = random.Random(seed)
    common = [f"w{i}" for i in range(400)]
    rows = []
    for index in range(articles):
        topic = TOPICS[(index // 3) % len(TOPICS)]
        words = [f"{topic}{rng.randrange(60)}" for _ in range(25)]
        words += [rng.choice(common) for _ in range(rng.randrange(40, 120))]
        rng.shuffle(words)
        rows.append({"id": f"{topic}_{index:04d}", "text": " ".join(words), "topic": topic})
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, items: list[dict]) -> None:
        with open(folder / name, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(item) + "\n" for item in items)

    dump("articles.jsonl", rows)
    (folder / "articles.txt").write_text("".join(r["text"] + "\n" for r in rows))
    dump("train.jsonl", [r for i, r in enumerate(rows) if i % 5])
    dump("test.jsonl", [r for i, r in enumerate(rows) if not i % 5])


def prepare(workdir: Path, sample: bool) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        target = workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    venv = Path(sys.prefix)
    (workdir / ".venv").symlink_to(venv, target_is_directory=True)
    data = workdir / "data" / "bbc_news"
    if sample:
        write_sample_corpus(data)
    else:
        fetched = REPO / "data" / "bbc_news"
        if not (fetched / "articles.jsonl").exists():
            raise SystemExit(
                f"readme-check: {fetched} is missing; run `make data` first (or pass --sample)."
            )
        data.parent.mkdir(parents=True, exist_ok=True)
        data.symlink_to(fetched, target_is_directory=True)


def run_blocks(blocks: list[str], workdir: Path, timeout: float, show: bool = False) -> int:
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    env.pop("VOCABGUARD_STORE", None)
    env.pop("VIRTUAL_ENV", None)
    # As in a fresh shell: the virtualenv is not on PATH until a block activates it.
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )
    # One shell for all blocks, so `source .venv/bin/activate` carries over, as for a reader.
    script = "\n".join(
        f"echo '--- readme-check: block {n}' >&2\n{block}" for n, block in enumerate(blocks, 1)
    )
    started = time.perf_counter()
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    if show and result.returncode == 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    if result.returncode != 0:
        failed = re.findall(r"--- readme-check: block (\d+)", result.stderr)
        number = int(failed[-1]) if failed else 0
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        print(
            f"readme-check: block {number} of {len(blocks)} failed (exit {result.returncode}):\n"
            + (blocks[number - 1] if number else ""),
            file=sys.stderr,
        )
        return 1
    print(f"readme-check: {len(blocks)} runnable blocks passed in {seconds:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", action="store_true", help="a generated corpus, no network")
    parser.add_argument("--readme", default=str(REPO / "README.md"))
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for all blocks")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--show", action="store_true", help="print the blocks' output")
    args = parser.parse_args(argv)
    blocks = runnable_blocks(Path(args.readme).read_text(encoding="utf-8"))
    if not blocks:
        print(f"readme-check: no block in {args.readme} is marked {MARKER}", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="readme-check-"))
    try:
        prepare(workdir, args.sample)
        return run_blocks(blocks, workdir, args.timeout, show=args.show)
    finally:
        if args.keep:
            print(f"readme-check: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
