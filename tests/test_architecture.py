"""The package's layers: imports flow one way, with no cycles (walked with ``ast``).

Layers, bottom to top: ``_src/core`` -> ``_src/engines`` -> ``_src/tools`` -> the
public faces (``vocabguard/*.py``) -> ``cli``. A module may import its own layer
and the layers below it, never above; nothing imports the CLI; within the
package there is no import cycle (module-level or inside functions).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vocabguard"
LAYERS = ("core", "engines", "tools", "faces", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "_src":
        return parts[2]
    if len(parts) >= 2 and parts[1] == "cli":
        return "cli"
    if parts == ["vocabguard", "_src"]:
        return "core"
    return "faces"  # vocabguard, vocabguard.tf, vocabguard.keras, ...


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The vocabguard modules ``path`` imports, anywhere in its code (not docstrings)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # `from vocabguard._src.core import errors` imports the module errors.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != me and name.startswith("vocabguard"):
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) for name, path in paths.items()}


GRAPH = import_graph()


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_flow_down_the_layers(module):
    mine = LAYERS.index(layer_of(module))
    upward = sorted(dep for dep in GRAPH[module] if LAYERS.index(layer_of(dep)) > mine)
    assert not upward, f"{module} ({layer_of(module)}) imports a higher layer: {upward}"


def test_nothing_imports_the_cli():
    importers = sorted(
        m
        for m, deps in GRAPH.items()
        if layer_of(m) != "cli" and any(layer_of(d) == "cli" for d in deps)
    )
    assert importers == []


def test_no_import_cycles():
    # Edges into a package's __init__ from its own submodules are how Python loads
    # packages, not a dependency; the __init__ files of _src are docstrings only.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(GRAPH.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    assert cycles == []


def test_layers_are_folders():
    folders = sorted(
        p.name for p in (PACKAGE / "_src").iterdir() if p.is_dir() and p.name[0] != "_"
    )
    assert folders == ["core", "engines", "tools"]
    assert (PACKAGE / "cli" / "__init__.py").exists()


def test_the_graph_sees_real_edges():
    # Guards the walker itself: a test that finds no edges would pass vacuously.
    assert "vocabguard._src.core.errors" in GRAPH["vocabguard._src.core.spec"]
    assert "vocabguard._src.core.unicode_script" in GRAPH["vocabguard._src.engines.tf"]
    assert "vocabguard._src.core.vocabulary" in GRAPH["vocabguard._src.engines.tf"]
    assert layer_of("vocabguard._src.tools.audit") == "tools"
    assert layer_of("vocabguard.tf") == "faces"
    assert layer_of("vocabguard.cli.build") == "cli"
