"""The README's conformance table is the one the case data gives (it cannot drift)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from _harness import PEERS, counts, load, table

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "conformance_table", ROOT / "scripts" / "conformance_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_the_cases():
    script = _script()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.BEGIN in readme and script.END in readme
    assert script.replace(readme, table()) == readme, (
        "README's conformance table is stale: run `python scripts/conformance_table.py --write`"
    )


def test_counts_add_up():
    for peer in PEERS:
        result = counts(peer)
        assert result["cases"] == len(load(peer)) > 0
        assert result["cases"] == sum(
            result[s] for s in ("identical", "id_map", "different", "unsupported")
        )
        assert sum(result["why"].values()) == result["different"] + result["unsupported"]
