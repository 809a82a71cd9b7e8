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


def _calls_print(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
        for node in ast.walk(tree)
    )


def _imports_argparse(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "argparse":
            return True
    return False


def _runtime_modules(*layers: str) -> dict[str, ast.AST]:
    return {
        module_name(path): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
        if layer_of(module_name(path)) in layers
    }


def test_core_and_engines_neither_parse_argv_nor_print():
    # The command line parses and prints; the layers below it take parameters and return
    # results (their progress lines go through logging, which the command line shows).
    modules = _runtime_modules("core", "engines")
    assert len(modules) > 20  # the walk sees the layers
    assert sorted(m for m, tree in modules.items() if _imports_argparse(tree)) == []
    assert sorted(m for m, tree in modules.items() if _calls_print(tree)) == []


def test_the_walkers_see_argparse_and_print():
    # Guards the two checks above: the CLI does both.
    tree = ast.parse((PACKAGE / "cli" / "jobs.py").read_text(encoding="utf-8"))
    assert _imports_argparse(tree) and _calls_print(tree)


def test_one_build_use_case_for_every_engine():
    # The CLI builds through engines/build_job.py, not through the builder or the engines'
    # own entry points, and the job-server set-up (Maven) is a script, not the runtime.
    build_cli = GRAPH["vocabguard.cli.build"]
    assert "vocabguard._src.engines.build_job" in build_cli
    assert "vocabguard._src.core.builder" not in build_cli
    assert not any("jobservers" in m for m in GRAPH)
    assert not any("jobservers" in dep for deps in GRAPH.values() for dep in deps)
    assert "vocabguard.cli.quiet" in GRAPH and "vocabguard._src.core.quiet" not in GRAPH


# -- one reader per input format --

FORMATS = PACKAGE / "_src" / "engines" / "formats"
READER_OF = {
    "csv": "vocabguard._src.engines.formats.csv",
    "jsonl": "vocabguard._src.engines.formats.jsonl",
    "parquet": "vocabguard._src.engines.formats.parquet",
    "tfrecord": "vocabguard._src.engines.formats.tfrecord",
}
# The artifact's own tokens.parquet is the store's file format, not an input format.
OWN_FILES = {"vocabguard._src.core.artifact": {"parquet"}}
PARQUET_READS = {"ParquetFile", "ParquetDataset", "read_table", "read_schema", "iter_batches"}
TFRECORD_READS = {"ParseFromString", "read_record", "TFRecordDataset"}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def formats_parsed(path: Path) -> set[str]:
    """The input formats a module parses itself, by what its code calls or imports:
    CSV (the ``csv`` module), JSON Lines (``json.loads`` in a loop), Parquet
    (opening or reading a Parquet file), TFRecord (framing or ``tf.train.Example``).
    Writing a format (``pq.write_table``, ``SerializeToString``) is not parsing it."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "csv" for a in node.names):
            found.add("csv")
        elif isinstance(node, ast.ImportFrom) and node.module == "csv" and not node.level:
            found.add("csv")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("example_pb2"):
            found.add("tfrecord")
        elif isinstance(node, ast.ImportFrom) and any(a.name == "example_pb2" for a in node.names):
            found.add("tfrecord")
        elif isinstance(node, (ast.For, ast.While)):
            # One JSON value per iteration: json.loads (or the reader's parse_json,
            # which bounds the nesting) called in the body of a loop.
            for inner in ast.walk(node):
                if not isinstance(inner, ast.Call):
                    continue
                owner = getattr(getattr(inner.func, "value", None), "id", "")
                if _called(inner) == "parse_json" or (
                    _called(inner) in ("loads", "load") and owner in ("json", "orjson", "ujson")
                ):
                    found.add("jsonl")
        elif isinstance(node, ast.Call):
            name = _called(node)
            owner = getattr(getattr(node.func, "value", None), "id", "")
            if name in ("ParquetFile", "ParquetDataset", "iter_batches") or (
                name in PARQUET_READS and owner in ("pq", "parquet")
            ):
                found.add("parquet")
            if name in TFRECORD_READS:
                found.add("tfrecord")
    return found


PARSERS = {module_name(p): formats_parsed(p) for p in PACKAGE.rglob("*.py") if formats_parsed(p)}


def test_each_format_has_one_reader_module():
    for format_name, module in READER_OF.items():
        assert format_name in PARSERS.get(module, set()), (format_name, module)
    readers = {m for m in GRAPH if m.startswith("vocabguard._src.engines.formats.")}
    expected = {
        f"vocabguard._src.engines.formats.{name}"
        for name in ("common", "compression", "fields", "inputs", "read", "text")
    } | set(READER_OF.values())
    assert readers == expected


def test_no_other_module_parses_an_input_format():
    elsewhere = {
        module: sorted(found - {f for f, m in READER_OF.items() if m == module})
        for module, found in PARSERS.items()
    }
    for module, own in OWN_FILES.items():
        elsewhere[module] = sorted(set(elsewhere.get(module, ())) - own)
    assert {m: f for m, f in elsewhere.items() if f} == {}


def test_the_format_walker_sees_real_parsers(tmp_path):
    # Guards the walker: each marker is found in a module written to hold it.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import csv, json\n"
        "import pyarrow.parquet as pq\n"
        "from tensorflow.core.example import example_pb2\n"
        "for line in open('f'):\n"
        "    json.loads(line)\n"
        "pq.ParquetFile('f')\n",
        encoding="utf-8",
    )
    assert formats_parsed(sample) == {"csv", "jsonl", "parquet", "tfrecord"}
    plain = tmp_path / "plain.py"
    plain.write_text("import json\njson.loads('{}')\n", encoding="utf-8")
    assert formats_parsed(plain) == set()


def test_bad_record_policies_have_one_definition():
    defined = sorted(
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "BAD_RECORD_POLICIES" for t in node.targets)
    )
    assert defined == ["vocabguard._src.engines.formats.common"]


PIPELINES = PACKAGE.parent / "pipelines"


def vocabguard_imports(source: str) -> set[str]:
    """Every vocabguard module or name a script imports (``from vocabguard import x``
    gives ``vocabguard`` and ``vocabguard.x``), anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "vocabguard"}


def test_pipelines_use_only_the_public_faces():
    # The pipelines are what users copy: they import what users may import.
    scripts = sorted(PIPELINES.glob("*.py"))
    assert len(scripts) >= 5  # the walk sees the scripts
    private = {
        path.name: sorted(n for n in vocabguard_imports(path.read_text()) if "_src" in n.split("."))
        for path in scripts
    }
    assert {name: found for name, found in private.items() if found} == {}


def test_the_pipeline_walker_sees_private_imports():
    # Guards the check above: each form of a private import is found, a face's is not.
    source = (
        "def f():\n"
        "    from vocabguard._src.core.tokenizer import Tokenizer\n"
        "    import vocabguard._src.engines.tabular\n"
        "    from vocabguard import _src\n"
        "    from vocabguard.lineage import diff_vocabularies\n"
    )
    private = sorted(n for n in vocabguard_imports(source) if "_src" in n.split("."))
    assert private == [
        "vocabguard._src",
        "vocabguard._src.core.tokenizer",
        "vocabguard._src.core.tokenizer.Tokenizer",
        "vocabguard._src.engines.tabular",
    ]
    assert "vocabguard.lineage.diff_vocabularies" in vocabguard_imports(source)
