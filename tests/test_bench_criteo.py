"""The Criteo-shaped benchmark table (benchmarks/harness/criteo.py): deterministic,
the same values whatever the file split or the number of writer threads, each value
the documented formula, and an interrupted generation resumed with the files it
finished. Small blocks keep it fast; the real sizes use the same code."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness import criteo

ROWS = 5_000


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 1,000 rows and files of 2,000: five blocks, three files (unaligned)."""
    monkeypatch.setattr(criteo, "BLOCK_ROWS", 1_000)
    monkeypatch.setattr(criteo, "ROWS_PER_FILE", 2_000)
    monkeypatch.setattr(criteo, "ROW_GROUP_ROWS", 700)


def read(directory: Path) -> pa.Table:
    names = json.loads((directory / "MANIFEST.json").read_text())["files"]
    return pa.concat_tables(pq.read_table(directory / n) for n in names)


def test_hex8_is_the_lowercase_hex_of_each_number():
    numbers = np.array([0, 1, 0xABCDEF01, 0xFFFFFFFF, 0x9E3779B1], dtype=np.uint64)
    got = [bytes(row).decode() for row in criteo.hex8(numbers)]
    assert got == [f"{int(n):08x}" for n in numbers]


def test_values_follow_the_documented_formula(small_blocks):
    # rank = floor(K * u**3), value = hex8((rank * ODD + salt(column)) mod 2**32),
    # with u (then the null draw) from the (seed, column, block) generator.
    column, block = 2, 3  # C3: the largest cardinality, and a null column
    array = criteo.column_block(column, block, 1_000)
    rng = np.random.default_rng([criteo.SEED, column, block])
    u = rng.random(1_000)
    null = rng.random(1_000) < criteo.NULL_FRACTION
    k = criteo.CARDINALITIES[column]
    ranks = [min(k - 1, math.floor(k * x**criteo.ALPHA)) for x in u]
    salt = (column + 1) * 0x01000193
    want = [
        None if n else f"{(r * int(criteo.ODD) + salt) % 2**32:08x}" for r, n in zip(ranks, null)
    ]
    assert array.to_pylist() == want
    assert 0 < array.null_count < 1_000


def test_the_files_do_not_depend_on_the_split_or_the_threads(small_blocks, tmp_path):
    one = criteo.generate(ROWS, tmp_path / "one", jobs=1)
    two = criteo.generate(ROWS, tmp_path / "two", jobs=2)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    assert len(one) == 4  # at least 4 files, cut between blocks
    table = read(tmp_path / "one")
    assert table.num_rows == ROWS
    assert table.column_names == criteo.COLUMNS
    # A table of N rows is the first N rows of a larger one, whatever its files.
    assert pa.table(criteo.rows_of(0, 3_000)).equals(table.slice(0, 3_000))
    assert pa.table(criteo.rows_of(1_500, 4_200)).equals(table.slice(1_500, 2_700))


def test_a_complete_directory_is_kept_and_an_interrupted_one_resumed(small_blocks, tmp_path):
    directory = tmp_path / "t"
    names = criteo.generate(ROWS, directory)
    # A file written again is a new inode (written aside, then renamed over the old one).
    first = {p.name: p.stat().st_ino for p in names}
    assert criteo.generate(ROWS, directory) == names
    assert {p.name: p.stat().st_ino for p in names} == first  # nothing rewritten
    # Interrupted: the manifest names the parameters as partial, one file is missing
    # and another was cut short; only those two are written again.
    manifest = directory / "MANIFEST.json"
    (directory / "MANIFEST.partial.json").write_text(manifest.read_text())
    manifest.unlink()
    names[1].unlink()
    names[2].write_bytes(names[2].read_bytes()[:100])
    assert criteo.generate(ROWS, directory) == names
    assert not (directory / "MANIFEST.partial.json").exists()
    assert names[0].stat().st_ino == first[names[0].name]
    assert names[3].stat().st_ino == first[names[3].name]
    fresh = criteo.generate(ROWS, tmp_path / "fresh")
    assert [p.read_bytes() for p in names] == [p.read_bytes() for p in fresh]


def test_a_manifest_of_other_parameters_regenerates(small_blocks, tmp_path):
    directory = tmp_path / "t"
    names = criteo.generate(ROWS, directory)
    manifest = directory / "MANIFEST.json"
    stale = json.loads(manifest.read_text())
    stale["alpha"] = 2.0
    manifest.write_text(json.dumps(stale))
    before = names[0].stat().st_ino
    criteo.generate(ROWS, directory)
    assert names[0].stat().st_ino != before
    assert json.loads(manifest.read_text())["alpha"] == criteo.ALPHA


def test_a_row_timeout_overrides_the_run_timeout_for_that_row_only():
    import argparse

    import cardinality

    args = argparse.Namespace(timeout=900.0, row_timeout=["tft=1800", "keras=60.5"])
    limits = {row: cardinality.row_timeout(args, row) for row in ("tft", "keras", "duckdb")}
    assert limits == {"tft": 1800.0, "keras": 60.5, "duckdb": 900.0}
