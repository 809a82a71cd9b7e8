"""A deterministic Criteo-shaped table: the 26 categorical columns of the public Criteo
Kaggle day, as Parquet (``python benchmarks/cardinality.py --generate-only``).

The choices, documented (the real values are not redistributable):

- Columns ``C1`` .. ``C26`` with the Kaggle day's distinct counts (``CARDINALITIES``);
  a column of cardinality ``K`` draws ranks from ``0 .. K-1``.
- Heavy head: rank ``floor(K * u**ALPHA)`` with ``u`` uniform in [0, 1) and ``ALPHA = 3``:
  rank 0 is the most frequent, and the tail is long. At 1 M rows the largest column
  (C3) shows about 0.8 M distinct values, at 10 M about 4.8 M (the real day, 45.8 M rows,
  holds 10.1 M: the draw never exceeds the published count).
- Values: 8 lowercase hex characters, ``(rank * ODD + salt(column)) mod 2**32``: a
  bijection on 32-bit numbers, so distinct ranks give distinct strings, and the
  same rank gives different strings in different columns.
- Nulls: 5% of the rows are null in every third column (C3, C6, ..., C24), drawn
  independently per column.
- Determinism: rows are drawn in blocks of ``BLOCK_ROWS`` with a seed per (column,
  block), so a table of N rows is the first N rows of any larger one, whatever the
  file split, and the files are byte-identical from run to run (same pyarrow).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

CARDINALITIES = [
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
]  # fmt: skip
COLUMNS = [f"C{i + 1}" for i in range(len(CARDINALITIES))]
NULL_COLUMNS = frozenset(COLUMNS[2::3])  # C3, C6, ..., C24
NULL_FRACTION = 0.05
ALPHA = 3.0
ODD = np.uint64(0x9E3779B1)  # odd: multiplication by it is a bijection mod 2**32
SEED = 20240611
BLOCK_ROWS = 1 << 20
ROWS_PER_FILE = 2_500_000
ROW_GROUP_ROWS = 1 << 17
KAGGLE_ROWS = 45_840_617
SIZES = {"1m": 1_000_000, "10m": 10_000_000, "45.8m": KAGGLE_ROWS}

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex8(numbers: np.ndarray) -> np.ndarray:
    """uint32-range numbers -> an (n, 8) uint8 array of their lowercase hex digits."""
    shifts = np.arange(28, -4, -4, dtype=np.uint64)
    nibbles = (numbers.astype(np.uint64)[:, None] >> shifts) & np.uint64(15)
    return _HEX[nibbles]


def column_block(column: int, block: int, rows: int):
    """One block of one column: an Arrow string array (nulls where drawn)."""
    import pyarrow as pa

    rng = np.random.default_rng([SEED, column, block])
    cardinality = CARDINALITIES[column]
    ranks = np.floor(cardinality * rng.random(rows) ** ALPHA).astype(np.uint64)
    np.minimum(ranks, cardinality - 1, out=ranks)
    salt = np.uint64((column + 1) * 0x01000193)
    values = (ranks * ODD + salt) & np.uint64(0xFFFFFFFF)
    data = hex8(values).reshape(-1)
    offsets = np.arange(0, 8 * rows + 1, 8, dtype=np.int32)
    mask = None
    if COLUMNS[column] in NULL_COLUMNS:
        null = rng.random(rows) < NULL_FRACTION
        mask = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(), rows, [mask, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def rows_of(start: int, stop: int) -> dict:
    """Rows ``[start, stop)`` of the table: {column: Arrow array} (block-aligned draws)."""
    import pyarrow as pa

    out = {}
    for index, name in enumerate(COLUMNS):
        chunks = []
        first = start // BLOCK_ROWS
        for block in range(first, (stop - 1) // BLOCK_ROWS + 1):
            lo = block * BLOCK_ROWS
            array = column_block(index, block, BLOCK_ROWS)
            chunks.append(
                array.slice(max(start, lo) - lo, min(stop, lo + BLOCK_ROWS) - max(start, lo))
            )
        out[name] = pa.concat_arrays(chunks)
    return out


def generate(rows: int, directory: Path) -> list[Path]:
    """Write ``rows`` rows as Parquet files under ``directory`` (kept when complete)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / "MANIFEST.json"
    files = max(4, math.ceil(rows / ROWS_PER_FILE))
    bounds = [rows * i // files for i in range(files + 1)]
    names = [directory / f"part-{i:05d}.parquet" for i in range(files)]
    expected = {"rows": rows, "files": [p.name for p in names], "seed": SEED, "alpha": ALPHA}
    if manifest.exists() and json.loads(manifest.read_text()) == expected:
        if all(p.exists() for p in names):
            return names
    started = time.perf_counter()
    for path, start, stop in zip(names, bounds, bounds[1:]):
        table = pa.table(rows_of(start, stop))
        pq.write_table(table, path, row_group_size=ROW_GROUP_ROWS, compression="snappy")
    manifest.write_text(json.dumps(expected))
    print(
        f"generated {rows:,} rows in {files} files under {directory} "
        f"({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return names
