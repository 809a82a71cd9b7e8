"""The docs' conformance table (docs/guides/migration.md) is the one the case data gives
(it cannot drift)."""

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
    page = script.PAGE.read_text(encoding="utf-8")
    assert script.BEGIN in page and script.END in page
    assert script.replace(page, table()) == page, (
        f"{script.PAGE.relative_to(ROOT)}'s conformance table is stale: "
        "run `python scripts/conformance_table.py --write`"
    )
    # One page shows it: the README links there rather than holding a copy.
    assert script.BEGIN not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_counts_add_up():
    for peer in PEERS:
        result = counts(peer)
        assert result["cases"] == len(load(peer)) > 0
        assert result["cases"] == sum(
            result[s] for s in ("identical", "id_map", "different", "unsupported")
        )
        assert sum(result["why"].values()) == result["different"] + result["unsupported"]
