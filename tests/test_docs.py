"""The documentation runs as written: every block of the docs pages and of the README is
accounted for, and the runnable ones pass, in order, in a temporary copy of the
repository, on a small generated corpus shaped like BBC News (no network): one test per
run of scripts/docs_check.py (a page, with the pages that run after it, or the README),
so the runs spread over the test processes. The CLI reference is generated from the
parsers, and the README stays a short front page."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import docs_check  # noqa: E402


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "docs" / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _all_blocks() -> list[docs_check.Block]:
    return [
        block
        for _, pages, _ in docs_check.documents()
        for page in pages
        for block in docs_check.blocks((REPO / page).read_text(encoding="utf-8"), page)
    ]


def _runs_with_blocks_to_run() -> list[str]:
    """The runs of docs_check.py that run a block (the others are checked above)."""
    return [
        name
        for name, pages, _ in docs_check.documents()
        if any(
            block.runs
            for page in pages
            for block in docs_check.blocks((REPO / page).read_text(encoding="utf-8"), page)
        )
    ]


def test_every_page_of_the_nav_exists_and_every_page_is_in_the_nav():
    nav = docs_check.nav_pages(REPO / "mkdocs.yml")
    assert len(nav) == len(set(nav))
    on_disk = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert set(nav) == on_disk


def test_every_public_face_has_an_api_reference_page():
    faces = {p.stem for p in (REPO / "vocabguard").glob("*.py") if p.stem != "__init__"}
    pages = {p.stem for p in (REPO / "docs/reference/api").glob("*.md")}
    assert faces | {"vocabguard"} == pages
    for face in faces:
        text = (REPO / f"docs/reference/api/{face}.md").read_text(encoding="utf-8")
        assert f"::: vocabguard.{face}\n" in text


def test_every_block_is_accounted_for_and_the_not_run_ones_give_a_reason():
    every = _all_blocks()
    assert [p for b in every for p in docs_check.problems(b)] == []
    kinds = {b.kind for b in every}
    assert {"sh", "python", "yaml", "text"} <= kinds
    # Most code runs; what does not names why, and is at least syntax-checked.
    code = [b for b in every if b.kind in docs_check.SHELL | {"python", "pycon"}]
    assert sum(b.runs for b in code) >= 0.6 * len(code)
    for block in code:
        if not block.runs:
            assert len(block.not_run) > 10, block.where()
            assert docs_check.syntax_error(block) is None, block.where()
    for block in every:
        if block.kind == "yaml":
            assert docs_check.yaml_error(block) is None, block.where()


def test_the_checker_refuses_unlabelled_blocks_and_reports_syntax_errors():
    bare = docs_check.blocks("```\nvocabguard list\n```\n", "page.md")[0]
    assert docs_check.problems(bare) == [
        "page.md:1: a block with no info string; give it one of: "
        "bash, console, mermaid, pycon, python, sh, text, yaml"
    ]
    sketch = docs_check.blocks("<!-- not run: a sketch -->\n```python\nf(x\n```\n", "p.md")[0]
    assert not sketch.runs
    assert "was never closed" in docs_check.syntax_error(sketch)
    spec = docs_check.blocks("```yaml\nspec:\n  lowercsae: true\n```\n", "p.md")[0]
    assert "Did you mean 'lowercase'?" in docs_check.yaml_error(spec)


def test_blocks_that_start_services_stop_exactly_those_and_keep_their_logs_in_files():
    marked = docs_check.blocks("<!-- services: a cluster -->\n```sh\nsleep 1 &\n```\n", "p.md")
    assert marked[0].services and not marked[0].runs
    started = [b for b in _all_blocks() if b.kind in docs_check.SHELL and "&\n" in b.text]
    assert started, "the Spark block"
    for block in started:
        assert block.services, block.where()
        assert not re.search(r"\b(pkill|killall)\b", block.text), block.where()
        assert "PIDS" in block.text and "kill $PIDS" in block.text, block.where()
        # Every daemon started in the background writes to a log file, not the terminal.
        for command in re.findall(r"(?s)(?:^|\n)(?!\s*#)([^\n]*?(?:\\\n[^\n]*?)*)&\n", block.text):
            assert re.search(r'> "?\$RUN/[^ ]+\.log"? 2>&1 $', command), command


def test_the_readme_is_a_short_front_page_and_the_docs_name_no_issue_numbers():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < 250
    for heading in ("## Install", "## Two commands", "## A short example"):
        assert heading in readme
    for command in ("make demo", "make test"):
        assert f"```sh\n{command}\n```" in readme
    texts = {"README.md": readme}
    texts.update({str(p): p.read_text(encoding="utf-8") for p in (REPO / "docs").rglob("*.md")})
    for name, text in texts.items():
        assert not re.search(r"\bissues?\s*#?\d", text, re.I), name


def test_the_cli_reference_lists_every_command_and_option_of_the_parsers():
    from vocabguard.cli import build_parser

    rendered = _hook("cli_reference").render()
    root = build_parser()
    for name, sub in root.get_default("_commands").items():
        assert f"## vocabguard {name}\n" in rendered
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings or [action.metavar or action.dest]:
                assert f"`{flag}" in rendered, (name, flag)
    assert "<!-- cli-reference -->" in (REPO / "docs/reference/cli.md").read_text()


def test_docstring_doctests_become_code_blocks_for_the_api_reference():
    fence = _hook("griffe_doctest").fence
    assert fence("Text.\n\n>>> f(['a'])\n['a']\n\nMore.") == (
        "Text.\n\n```pycon\n>>> f(['a'])\n['a']\n```\n\nMore."
    )
    already = "```python\n>>> x\n```"
    assert fence(already) == already


def test_every_page_is_in_one_run_in_nav_order_after_the_pages_it_needs():
    runs = docs_check.documents()
    nav = [f"docs/{page}" for page in docs_check.nav_pages(REPO / "mkdocs.yml")]
    pages = [page for _, run, _ in runs for page in run]
    assert sorted(pages) == sorted([*nav, "README.md"])
    for name, run, activated in runs:
        assert name == run[0]
        assert run == sorted(run, key=[*nav, "README.md"].index)
        # The shell that runs getting-started's `source .venv/bin/activate` starts without.
        assert activated == (name != "docs/getting-started.md")
    by_name = {name: run for name, run, _ in runs}
    assert by_name["docs/getting-started.md"] == [
        "docs/getting-started.md",
        "docs/guides/migration.md",
        "docs/guides/training.md",
    ]
    assert {"docs/index.md", "docs/guides/text.md", "README.md"} <= set(_runs_with_blocks_to_run())


def test_a_page_can_only_run_after_an_earlier_page(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "mkdocs.yml").write_text("nav:\n  - a.md\n  - b.md\n")
    (tmp_path / "docs/a.md").write_text("# A\n\n<!-- docs-check: runs after b.md (x) -->\n")
    (tmp_path / "docs/b.md").write_text("# B\n")
    with pytest.raises(
        ValueError, match=re.escape("docs/a.md: runs after 'b.md', which is not an earlier")
    ):
        docs_check.documents(tmp_path)
    (tmp_path / "docs/a.md").write_text("# A\n")
    (tmp_path / "docs/b.md").write_text(
        "<!-- docs-check: runs after a.md -->\nsource .venv/bin/activate\n"
    )
    assert docs_check.documents(tmp_path) == [
        ("docs/a.md", ["docs/a.md", "docs/b.md"], False),
        ("README.md", ["README.md"], True),
    ]


@pytest.mark.parametrize("run", _runs_with_blocks_to_run())
def test_docs_and_readme_blocks_pass_on_a_generated_corpus(run):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "docs_check.py"),
            "--sample",
            "--show",
            "--only",
            run,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=7500,  # the blocks train small models and run Beam; 24 min at load average 20
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"docs-check: {run} passed" in result.stdout
    # Quiet by default: no TensorFlow banner, no Beam chatter, no traceback.
    for noise in ("absl::InitializeLog", "cuInit", "apitools", "INFO:apache_beam", "Traceback"):
        assert noise not in result.stderr, result.stderr
