"""Rooms of a readable size: no function in ``_src/core``, ``_src/tools`` or
``_src/engines`` is longer than ``MAX_LINES`` (its ``def`` line to its
last, docstring included) unless its docstring says why, in a sentence starting
``Why long:``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "vocabguard" / "_src"
FOLDERS = ("core", "tools", "engines")
MAX_LINES = 80
# Functions long today (none left): an entry leaves this list when its function is
# split or says why it is long.
KNOWN: set[str] = set()


def functions(path: Path):
    """``(qualified name, lines, docstring)`` of every function and method in ``path``."""

    def walk(node: ast.AST, prefix: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = child.end_lineno - child.lineno + 1
                yield f"{prefix}{child.name}", lines, ast.get_docstring(child) or ""
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")

    yield from walk(ast.parse(path.read_text(encoding="utf-8")), "")


def over_limit(path: Path) -> list[tuple[str, int]]:
    """``(name, lines)`` of the functions in ``path`` over ``MAX_LINES`` that do not say why."""
    return [
        (name, lines)
        for name, lines, doc in functions(path)
        if lines > MAX_LINES and "Why long:" not in doc
    ]


def long_functions() -> list[str]:
    found = []
    for folder in FOLDERS:
        for path in sorted((SRC / folder).rglob("*.py")):
            where = path.relative_to(SRC).as_posix()
            found += [f"{where}:{name} ({lines} lines)" for name, lines in over_limit(path)]
    return found


def test_functions_fit_a_screen_or_say_why():
    unexplained = [f for f in long_functions() if f.rsplit(" (", 1)[0] not in KNOWN]
    assert unexplained == [], (
        f"Split these below {MAX_LINES} lines, or say why in the docstring ('Why long: ...')"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n" + "    x = 1\n" * 80, ["f"]),
        ("def f():\n" + "    x = 1\n" * 79, []),
        ('def f():\n    """Why long: one table."""\n' + "    x = 1\n" * 90, []),
        ("class C:\n    def m(self):\n" + "        x = 1\n" * 90, ["C.m"]),
    ],
)
def test_the_rule_counts_def_to_last_line(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [name for name, _ in over_limit(path)] == expected
