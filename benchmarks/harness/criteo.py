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
import os
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
VERSION = 1  # bump when the generated values or the file layout change (caches regenerate)
SIZES = {"1m": 1_000_000, "10m": 10_000_000, "45.8m": KAGGLE_ROWS}

# Each byte's two lowercase hex digits as one little-endian uint16: indexing this table
# with a number's 4 big-endian bytes gives its 8 hex digits in order, in one numpy take
# (4x faster than shifting out 8 nibbles; the same bytes).
_PAIRS = np.array(
    [int.from_bytes(f"{i:02x}".encode(), "little") for i in range(256)], dtype=np.uint16
)


def hex8(numbers: np.ndarray) -> np.ndarray:
    """uint32-range numbers -> an (n, 8) uint8 array of their lowercase hex digits.

    >>> hex8(np.array([0x0123ABCD], dtype=np.uint64)).tobytes()
    b'0123abcd'
    """
    big_endian = numbers.astype(">u4").view(np.uint8)
    return _PAIRS[big_endian].view(np.uint8).reshape(-1, 8)


def column_block(column: int, block: int, rows: int):
    """One block of one column: an Arrow string array (nulls where drawn)."""
    import pyarrow as pa

    rng = np.random.default_rng([SEED, column, block])
    cardinality = CARDINALITIES[column]
    # u ** ALPHA with np.power, not u * u * u: the product differs in the last bit for a
    # quarter of the draws, which would move some ranks and change the files.
    ranks = (cardinality * rng.random(rows) ** ALPHA).astype(np.uint32)  # floor: u >= 0
    np.minimum(ranks, cardinality - 1, out=ranks)
    # uint32 arithmetic wraps around: the same (rank * ODD + salt) mod 2**32, in half the
    # memory traffic of uint64.
    salt = np.uint32(((column + 1) * 0x01000193) & 0xFFFFFFFF)
    values = ranks * np.uint32(ODD) + salt
    data = hex8(values).reshape(-1)
    offsets = np.arange(0, 8 * rows + 1, 8, dtype=np.int32)
    mask = None
    if COLUMNS[column] in NULL_COLUMNS:
        null = rng.random(rows) < NULL_FRACTION
        mask = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.Array.from_buffers(
        pa.string(), rows, [mask, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


class _Blocks:
    """The blocks of the file being written, kept until the next file: consecutive files
    share their boundary block, so each block is drawn once (not twice)."""

    def __init__(self) -> None:
        self.kept: dict[tuple[int, int], object] = {}

    def get(self, column: int, block: int):
        key = (column, block)
        if key not in self.kept:
            self.kept[key] = column_block(column, block, BLOCK_ROWS)
        return self.kept[key]

    def keep_only(self, column: int, block: int) -> None:
        """Drop the column's blocks before ``block`` (the next file starts in it)."""
        for key in [k for k in self.kept if k[0] == column and k[1] < block]:
            del self.kept[key]


def rows_of(start: int, stop: int, blocks: _Blocks | None = None) -> dict:
    """Rows ``[start, stop)`` of the table: {column: Arrow array} (block-aligned draws)."""
    import pyarrow as pa

    blocks = blocks or _Blocks()
    first, last = start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS
    out = {}
    for index, name in enumerate(COLUMNS):
        chunks = []
        for block in range(first, last + 1):
            lo = block * BLOCK_ROWS
            array = blocks.get(index, block)
            chunks.append(
                array.slice(max(start, lo) - lo, min(stop, lo + BLOCK_ROWS) - max(start, lo))
            )
        out[name] = pa.concat_arrays(chunks)
        blocks.keep_only(index, last)  # memory: one block per column between files
    return out


def _complete(path: Path, rows: int) -> bool:
    """A file written whole: its footer reads and holds the expected row count."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows == rows
    except Exception:  # a missing, truncated or foreign file: written again
        return False


def generate(rows: int, directory: Path, jobs: int = 1) -> list[Path]:
    """Write ``rows`` rows as Parquet files under ``directory`` (kept when complete).

    Each file is written under a temporary name and renamed when whole, and
    ``MANIFEST.partial.json`` names the parameters meanwhile, so an interrupted run
    resumes with the files it finished. ``jobs`` > 1 writes that many files at once
    (threads: numpy and the Parquet writer release the GIL; each holds a file's table,
    ~0.8 GB at 2.5 M rows). The files do not depend on ``jobs``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / "MANIFEST.json"
    partial = directory / "MANIFEST.partial.json"
    files = max(4, math.ceil(rows / ROWS_PER_FILE))
    bounds = [rows * i // files for i in range(files + 1)]
    names = [directory / f"part-{i:05d}.parquet" for i in range(files)]
    expected = {"rows": rows, "files": [p.name for p in names], "seed": SEED, "alpha": ALPHA}
    if VERSION != 1:  # version 1 manifests carry no version (the files they name are v1)
        expected["version"] = VERSION
    if manifest.exists() and json.loads(manifest.read_text()) == expected:
        if all(p.exists() for p in names):
            return names
    resume = partial.exists() and json.loads(partial.read_text()) == expected
    manifest.unlink(missing_ok=True)
    partial.write_text(json.dumps(expected))
    todo = [
        (path, start, stop)
        for path, start, stop in zip(names, bounds, bounds[1:])
        if not (resume and _complete(path, stop - start))
    ]
    started = time.perf_counter()

    def write(path: Path, start: int, stop: int, blocks: _Blocks | None) -> None:
        table = pa.table(rows_of(start, stop, blocks))
        scratch = path.with_name(path.name + ".tmp")
        pq.write_table(table, scratch, row_group_size=ROW_GROUP_ROWS, compression="snappy")
        os.replace(scratch, path)
        print(
            f"  {path.name}: rows {start:,}..{stop:,} "
            f"({time.perf_counter() - started:.0f} s since start)",
            flush=True,
        )

    if jobs <= 1:
        blocks = _Blocks()  # consecutive files share a block: draw it once
        for path, start, stop in todo:
            write(path, start, stop, blocks)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            for future in [pool.submit(write, *item, None) for item in todo]:
                future.result()
    manifest.write_text(json.dumps(expected))
    partial.unlink(missing_ok=True)
    print(
        f"generated {rows:,} rows in {files} files under {directory} "
        f"({len(todo)} written, {time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return names
