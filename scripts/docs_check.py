#!/usr/bin/env python
"""Run every code block of the documentation pages and the README, in order, as written.

    python scripts/docs_check.py            # on data/bbc_news (after `make data`)
    python scripts/docs_check.py --sample   # on a small generated corpus: no network
    python scripts/docs_check.py --list     # what each page's blocks are, without running

Every fenced block says what it is in its info string, and each kind is checked:

- ``sh`` / ``bash``: run with ``bash -e -o pipefail``;
- ``python``: run as a script with the virtualenv's Python (TensorFlow's start-up banner
  filtered, as the CLI does); a block whose first line starts with ``>>>`` (or a
  ``pycon`` block) is a doctest and must print what it shows;
- ``yaml``: parsed, and a ``spec`` mapping in it must be a valid ``VocabSpec``;
- ``text``, ``console``, ``mermaid``: output, transcripts and diagrams; shown, not run.

A ``sh`` or ``python`` block that cannot run here (a cloud bucket, the whole test suite)
has the line ``<!-- not run: REASON -->`` right before its fence; it is still checked for
syntax (``bash -n``, ``compile``). A block that starts services (a Spark cluster) has
``<!-- services: REASON -->`` instead: checked for syntax, and run with ``--services``. A block without an info string, or with
another one, is an error: every block is accounted for.

Each docs page runs in a shell of its own, in a temporary copy of the repository's
tracked files (so the pages can run in parallel: tests/test_docs.py checks each as a test
of its own). A page whose blocks use what another page's blocks made says so with
``<!-- docs-check: runs after PAGE -->`` (PAGE as in ``mkdocs.yml``'s ``nav``, earlier in
it): it runs in that page's shell, after it, and the pages of one shell keep the ``nav``
order. A shell starts with the virtualenv on ``PATH`` (a reader who has set up), unless
one of its pages activates it (``source .venv/bin/activate``, in getting-started): that
page checks that it does. The README runs the same way in a copy of its own. In each copy
``.venv`` points at this Python's virtualenv and ``data/bbc_news`` is the fetched corpus
(a symlink) or, with ``--sample``, a generated corpus of the same shape (``id``, ``text``,
``topic``; the same four files). Nothing in the repository is written. Exit status 0 when
every block passes; otherwise the failing block (page and line), its output, and 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOT_RUN = re.compile(r"^<!-- (not run|services): (.+?) -->$")
# A page that uses what an earlier page's blocks made runs after it, in its shell.
RUNS_AFTER = re.compile(r"^<!-- docs-check: runs after (\S+\.md)\b.*-->$", re.M)
ACTIVATE = "source .venv/bin/activate"
SHELL = {"sh", "bash"}
SHOWN = {"text", "console", "mermaid"}
KINDS = SHELL | SHOWN | {"python", "pycon", "yaml"}
# Before a Python block: TensorFlow's start-up banner filtered, as in the CLI.
_QUIET = "from vocabguard.cli.quiet import quiet\n\nquiet()\n"
# Runs one doctest block (a file) and exits 1 on a failure, printing it.
_DOCTEST_RUNNER = """\
import doctest, sys
from vocabguard.cli.quiet import quiet
quiet()
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
test = doctest.DocTestParser().get_doctest(text, {}, path, path, 0)
runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
runner.run(test)
sys.exit(1 if runner.failures else 0)
"""
TOPICS = ("business", "entertainment", "politics", "sport", "tech")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: where it is, what it is, and its text."""

    page: str
    line: int  # 1-based line of the opening fence
    kind: str  # the info string's first word ("" when there is none)
    text: str
    not_run: str | None = None  # the reason, for a block marked <!-- not run: ... -->
    # A block marked <!-- services: REASON --> starts services (a cluster): not run
    # unless --services is given.
    services: bool = False

    @property
    def runs(self) -> bool:
        return self.not_run is None and self.kind in SHELL | {"python", "pycon"}

    @property
    def doctest(self) -> bool:
        first = next((line for line in self.text.splitlines() if line.strip()), "")
        return self.kind == "pycon" or first.lstrip().startswith(">>>")

    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(text: str, page: str) -> list[Block]:
    """The fenced blocks of a Markdown page, in order.

    >>> [(b.kind, b.runs) for b in blocks("x\\n```sh\\necho hi\\n```\\n```text\\nhi\\n```\\n", "p")]
    [('sh', True), ('text', False)]
    >>> blocks("<!-- not run: a sketch -->\\n```python\\nf(x)\\n```\\n", "p")[0].not_run
    'a sketch'
    """
    found = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^(`{3,})\s*([^\s`]*)", lines[index])
        if not opening:
            index += 1
            continue
        fence, kind, start = opening.group(1), opening.group(2).lower(), index
        index += 1
        body = []
        while index < len(lines) and not re.match(rf"^{fence}\s*$", lines[index]):
            body.append(lines[index])
            index += 1
        index += 1
        marker = NOT_RUN.match(lines[start - 1].strip()) if start else None
        found.append(
            Block(
                page,
                start + 1,
                kind,
                "\n".join(body) + "\n",
                marker.group(2) if marker else None,
                services=bool(marker) and marker.group(1) == "services",
            )
        )
    return found


def problems(block: Block) -> list[str]:
    """Why a block cannot be accounted for (an unknown kind, a marker on a shown block)."""
    if block.kind not in KINDS:
        known = ", ".join(sorted(KINDS))
        what = f"info string {block.kind!r}" if block.kind else "no info string"
        return [f"{block.where()}: a block with {what}; give it one of: {known}"]
    if block.not_run and block.kind not in SHELL | {"python"}:
        return [f"{block.where()}: only sh and python blocks can be marked not run"]
    return []


def syntax_error(block: Block) -> str | None:
    """For a block that is not run: its syntax error (``bash -n``, ``compile``), or None."""
    if block.kind in SHELL:
        result = subprocess.run(
            ["bash", "-n"], input=block.text, capture_output=True, text=True, check=False
        )
        return result.stderr.strip() or None
    if block.kind == "python" and not block.doctest:
        try:
            compile(block.text, block.where(), "exec")
        except SyntaxError as err:
            return f"{err.msg} (line {err.lineno})"
    return None


def yaml_error(block: Block) -> str | None:
    """For a ``yaml`` block: why it does not parse, or its ``spec`` is invalid; else None."""
    import yaml

    from vocabguard import VocabSpec

    try:
        data = yaml.safe_load(block.text)
        specs = [data.get("spec")] if isinstance(data, dict) else []
        if isinstance(data, dict) and isinstance(data.get("features"), dict):
            specs += [f.get("spec") for f in data["features"].values() if isinstance(f, dict)]
        for spec in specs:
            if isinstance(spec, dict):
                VocabSpec.from_dict(spec)
    except Exception as err:  # any failure is reported with its block
        return f"{type(err).__name__}: {err}"
    return None


def nav_pages(config: Path) -> list[str]:
    """The Markdown pages of ``mkdocs.yml``'s ``nav``, in order (paths under docs/)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may hold !!python/name tags (superfences' formatters): not needed here.
    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    nav = yaml.load(config.read_text(encoding="utf-8"), Loader=Loader)["nav"]

    def walk(item) -> list[str]:
        if isinstance(item, str):
            return [item] if item.endswith(".md") else []
        if isinstance(item, dict):
            return [page for value in item.values() for page in walk(value)]
        return [page for value in item for page in walk(value)]

    return walk(nav)


def runs_after(text: str) -> str | None:
    """The page a page's ``<!-- docs-check: runs after PAGE -->`` names, or None.

    >>> runs_after("# Title\\n\\n<!-- docs-check: runs after a.md (its store) -->\\n")
    'a.md'
    """
    found = RUNS_AFTER.findall(text)
    return found[0] if found else None


def documents(root: Path = REPO) -> list[tuple[str, list[str], bool]]:
    """The runs to make, each in a shell and a copy of its own: (name, pages, whether the
    shell starts with the virtualenv on PATH). A docs page is a run of its own, named by
    its path, unless it runs after an earlier page (then it joins that page's run, in nav
    order); the README is the last run."""
    nav = nav_pages(root / "mkdocs.yml")
    runs: dict[str, list[str]] = {}  # the first page of a run -> its pages
    run_of: dict[str, str] = {}
    for page in nav:
        after = runs_after((root / "docs" / page).read_text(encoding="utf-8"))
        if after is None:
            runs[page] = [page]
            run_of[page] = page
        elif after in run_of:
            run_of[page] = run_of[after]
            runs[run_of[page]].append(page)
        else:
            raise ValueError(
                f"docs/{page}: runs after {after!r}, which is not an earlier page of "
                f"mkdocs.yml's nav. Received: runs_after={after!r}"
            )
    found = []
    for first, pages in runs.items():
        paths = [f"docs/{page}" for page in pages]
        texts = [(root / path).read_text(encoding="utf-8") for path in paths]
        found.append((f"docs/{first}", paths, not any(ACTIVATE in text for text in texts)))
    return [*found, ("README.md", ["README.md"], True)]


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
                f"docs-check: {fetched} is missing; run `make data` first (or pass --sample)."
            )
        data.parent.mkdir(parents=True, exist_ok=True)
        data.symlink_to(fetched, target_is_directory=True)
    (workdir / ".docs-check").mkdir()
    (workdir / ".docs-check" / "doctest_block.py").write_text(_DOCTEST_RUNNER)


def script(runnable: list[Block], workdir: Path) -> str:
    """One bash script running the blocks in order, each announced on stderr."""
    python = ".venv/bin/python"
    parts = []
    for number, block in enumerate(runnable, 1):
        where = f"{number} ({block.where()})"
        parts.append(f'echo "--- docs-check: block {where} at $(date +%s.%N)" >&2')
        if block.kind in SHELL:
            parts.append(block.text)
            continue
        path = workdir / ".docs-check" / f"block{number:03d}.{'txt' if block.doctest else 'py'}"
        if block.doctest:
            path.write_text(block.text, encoding="utf-8")
            parts.append(f"{python} .docs-check/doctest_block.py .docs-check/{path.name}")
        else:
            path.write_text(_QUIET + block.text, encoding="utf-8")
            parts.append(f"{python} .docs-check/{path.name}")
    return "\n".join(parts)


def run_document(
    name: str,
    pages: list[str],
    *,
    activated: bool,
    sample: bool,
    timeout: float,
    show: bool = False,
    keep: bool = False,
    services: bool = False,
) -> tuple[int, dict]:
    """Check one document (its pages' blocks, run in one shell); return (status, summary).

    With ``services``, the blocks marked ``<!-- services: ... -->`` run too.
    """
    every = [b for page in pages for b in blocks((REPO / page).read_text(encoding="utf-8"), page)]
    if services:
        every = [dataclasses.replace(b, not_run=None) if b.services else b for b in every]
    failures = [p for b in every for p in problems(b)]
    for block in every:
        if failures:
            break
        if block.kind == "yaml":
            error = yaml_error(block)
        elif not block.runs:
            error = syntax_error(block)
        else:
            continue
        if error:
            failures.append(f"{block.where()}: {block.kind} block: {error}")
    summary = {
        page: {
            "run": sum(b.runs for b in every if b.page == page),
            "checked": sum(
                b.kind == "yaml" or b.not_run is not None for b in every if b.page == page
            ),
            "shown": sum(b.kind in SHOWN for b in every if b.page == page),
        }
        for page in pages
    }
    if failures:
        print("\n".join(f"docs-check: {f}" for f in failures), file=sys.stderr)
        return 1, summary
    runnable = [b for b in every if b.runs]
    if not runnable:  # checked above; no shell and no copy needed
        return 0, summary
    workdir = Path(tempfile.mkdtemp(prefix=f"docs-check-{Path(name).stem}-"))
    try:
        prepare(workdir, sample)
        code, seconds = run_blocks(runnable, workdir, timeout, show, activated)
        for page, value in seconds.items():
            summary[page]["seconds"] = value
        return code, summary
    finally:
        if keep:
            print(f"docs-check: kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_blocks(
    runnable: list[Block], workdir: Path, timeout: float, show: bool, activated: bool
) -> tuple[int, dict[str, float]]:
    """Run the blocks in one shell; return the exit status and the seconds per page."""
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    env.pop("VOCABGUARD_STORE", None)
    env.pop("VIRTUAL_ENV", None)
    # As in a fresh shell: the virtualenv is not on PATH until a block activates it.
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env["PATH"] = os.pathsep.join([venv_bin, *path] if activated else path)
    started = time.perf_counter()
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script(runnable, workdir)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    seconds = time.perf_counter() - started
    # Each block's time: from its marker to the next one (the last: to the shell's end).
    marks = [
        (int(n), float(t))
        for n, t in re.findall(r"--- docs-check: block (\d+) \(.*?\) at ([\d.]+)", result.stderr)
    ]
    ends = [t for _, t in marks[1:]] + [time.time()]
    per_page: dict[str, float] = {}
    for (number, begun), end in zip(marks, ends):
        page = runnable[number - 1].page
        per_page[page] = per_page.get(page, 0.0) + end - begun
    if show or result.returncode != 0:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    if result.returncode != 0:
        failed = re.findall(r"--- docs-check: block (\d+)", result.stderr)
        block = runnable[int(failed[-1]) - 1] if failed else None
        print(
            f"docs-check: block {block.where() if block else '?'} failed "
            f"(exit {result.returncode}):\n{block.text if block else ''}",
            file=sys.stderr,
        )
        return 1, per_page
    print(f"docs-check: {len(runnable)} blocks ran in {seconds:.0f} s")
    return 0, per_page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", action="store_true", help="a generated corpus, no network")
    parser.add_argument(
        "--only",
        metavar="RUN",
        help="check one run: a name printed by --runs (docs/PAGE.md, README.md), or docs "
        "(every docs run)",
    )
    parser.add_argument("--runs", action="store_true", help="list the runs; run nothing")
    parser.add_argument(
        "--page",
        metavar="TEXT",
        help="only the pages whose path holds TEXT (its shell starts with the virtualenv "
        "on PATH; blocks that use earlier pages' results may fail)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per document")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("--show", action="store_true", help="print the blocks' output")
    parser.add_argument("--list", action="store_true", help="count the blocks; run nothing")
    parser.add_argument(
        "--services",
        action="store_true",
        help="also run the blocks that start services (a Spark cluster: Java 17 and the "
        "job-server jar of `make jobservers` needed)",
    )
    args = parser.parse_args(argv)
    status = 0
    runs = documents()
    if args.only and args.only not in {"docs"} | {name for name, _, _ in runs}:
        parser.error(f"--only: no run named {args.only!r}; see --runs")
    for name, pages, activated in runs:
        if args.only and args.only not in (name, "docs" if name != "README.md" else None):
            continue
        if args.runs:
            print(f"{name}\t{' '.join(pages)}")
            continue
        if args.page:
            pages, activated = [p for p in pages if args.page in p], True
            if not pages:
                continue
        if args.list:
            for page in pages:
                for b in blocks((REPO / page).read_text(encoding="utf-8"), page):
                    state = "run" if b.runs else f"not run: {b.not_run}" if b.not_run else "-"
                    print(f"{b.where()}\t{b.kind or '?'}\t{state}")
            continue
        started = time.perf_counter()
        code, summary = run_document(
            name,
            pages,
            activated=activated,
            sample=args.sample,
            timeout=args.timeout,
            show=args.show,
            keep=args.keep,
            services=args.services,
        )
        for page, counts in summary.items():
            if not any(counts.values()):
                continue
            took = f" in {counts['seconds']:.0f} s" if "seconds" in counts else ""
            print(
                f"docs-check: {page}: {counts['run']} run{took}, {counts['checked']} "
                f"checked (yaml, not-run syntax), {counts['shown']} shown"
            )
        verdict = "passed" if code == 0 else "FAILED"
        print(f"docs-check: {name} {verdict} in {time.perf_counter() - started:.0f} s")
        status |= code
    return status


if __name__ == "__main__":
    sys.exit(main())
