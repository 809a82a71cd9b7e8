"""One Criteo-shaped column through build, publish, load and lookup (seconds each).

A column of ``--rows`` 8-hex-character values drawn heavy-headed from ``--cardinality``
ids (the Criteo Kaggle day's C3 has 10,131,227; 1 M rows of it hold ~766 k distinct),
counted with ``TokenCounter.add_arrow`` (what ``vocabguard build`` does per Arrow batch),
then selected (``to_vocabulary``), published, loaded, and looked up in one batch of
``--batch`` values (the first call, which may build the index, and the next ones).

    python benchmarks/columnar_column.py --rows 1000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import numpy as np
import pyarrow as pa


def column(rows: int, cardinality: int, seed: int = 0) -> pa.Array:
    """8-hex strings: 22% of the rows from a Zipf head, the rest uniform over the ids
    (at 1 M rows over 10,131,227 ids: 767,243 distinct, like the Criteo day's C3)."""
    rng = np.random.default_rng(seed)
    head = rng.zipf(1.3, rows * 22 // 100) % cardinality
    tail = rng.integers(0, cardinality, rows - rows * 22 // 100)
    ids = rng.permutation(np.concatenate([head, tail])).astype(np.uint32)
    hexed = np.char.mod("%08x", ids)
    return pa.array(hexed.tolist(), type=pa.string())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cardinality", type=int, default=10_131_227)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()

    from vocabguard import VocabSpec, VocabStore
    from vocabguard._src.core.builder import TokenCounter

    values = column(args.rows, args.cardinality)
    spec = VocabSpec(tokenizer="none", missing="skip")
    times = {}
    start = time.perf_counter()
    counter = TokenCounter(spec)
    for offset in range(0, len(values), 1 << 16):
        counter.add_arrow(values.slice(offset, 1 << 16))
    times["count"] = time.perf_counter() - start
    start = time.perf_counter()
    vocab = counter.to_vocabulary()
    times["select (to_vocabulary)"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as root:
        store = VocabStore(root)
        start = time.perf_counter()
        store.publish(vocab, "c3")
        times["publish"] = time.perf_counter() - start
        start = time.perf_counter()
        loaded = store.load("c3")
        times["load"] = time.perf_counter() - start
    batch = values.slice(0, args.batch)
    for call in ("lookup first", "lookup second", "lookup third"):
        start = time.perf_counter()
        loaded.lookup(batch)
        times[f"{call} batch {args.batch}"] = time.perf_counter() - start
    print(f"rows {args.rows}, distinct {vocab.stats['distinct_tokens']}, ids {len(vocab)}")
    for what, seconds in times.items():
        print(f"  {what:32s} {seconds:8.3f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
