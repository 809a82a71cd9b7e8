"""Griffe extension: the docstrings' ``>>>`` examples rendered as code blocks.

vocabguard's docstrings hold doctests as plain paragraphs (pytest runs them). Markdown
would read ``['a']`` in an expected output as a link, so each run of ``>>>`` lines and
their output becomes a ``pycon`` fenced block before mkdocstrings renders it.

>>> print(fence(">>> 1 + 1\\n2\\n\\ntext"))
```pycon
>>> 1 + 1
2
```
<BLANKLINE>
text
"""

from __future__ import annotations

from typing import Any

import griffe


def fence(text: str) -> str:
    """``text`` with every doctest run (``>>>`` to the next blank line) fenced."""
    out: list[str] = []
    lines = text.splitlines()
    index = 0
    in_fence = False
    while index < len(lines):
        line = lines[index]
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>") or len(indent) >= 4:
            out.append(line)
            index += 1
            continue
        out.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            out.append(lines[index])
            index += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fence the doctests of every docstring griffe loads."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:  # the griffe extension signature
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and ">>>" in docstring.value:
            docstring.value = fence(docstring.value)
