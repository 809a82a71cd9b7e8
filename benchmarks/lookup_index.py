"""Which hash index for ``Vocabulary.lookup``: build time, memory, per-batch cost.

Each candidate maps a batch of binary tokens to row numbers of a vocabulary of
``--tokens`` distinct 8-hex tokens (-1 when absent), built once, then queried with
batches of 1,000 and 100,000 values (half known, half unknown):

- ``pyarrow index_in``: ``pc.index_in(batch, value_set=vocab)`` (rebuilds its hash set
  from the whole vocabulary on every call: no build, but every batch pays for it);
- ``pandas object Index``: ``pd.Index(object array).get_indexer`` (a Python bytes
  object per token);
- ``pandas str Index``: the same over pandas' Arrow-backed string dtype;
- ``polars hash + numpy searchsorted``: ``pl.Series.hash`` (vectorized 64-bit) of every
  token, sorted once; a batch is hashed, ``np.searchsorted``, and hits byte-checked;
- ``polars hash + pandas UInt64 Index``: the same hashes in pandas' khash-based index;
- ``polars join``: a left join of each batch against the vocabulary frame;
- ``vocabguard TokenIndex``: what ``Vocabulary.lookup`` uses (polars hash, polars sort,
  needles sorted before ``np.searchsorted``, byte check on hits).

    python benchmarks/lookup_index.py --tokens 1000000 10000000
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def hex_tokens(ids: np.ndarray) -> pa.Array:
    """8-hex binary tokens of uint32 ids, without Python objects (bytes from a lookup table)."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    shifts = np.arange(28, -1, -4, dtype=np.uint32)
    data = digits[(ids[:, None] >> shifts) & 0xF].astype(np.uint8).reshape(-1)
    offsets = np.arange(0, 8 * len(ids) + 1, 8, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), len(ids), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def candidates():
    import pandas as pd
    import polars as pl

    def arrow_index_in(vocab):
        return lambda batch: pc.index_in(batch, value_set=vocab).fill_null(-1).to_numpy()

    def pandas_object(vocab):
        index = pd.Index(vocab.to_numpy(zero_copy_only=False), dtype=object)
        index.get_indexer([b"x"])  # builds its engine
        return lambda batch: index.get_indexer(batch.to_numpy(zero_copy_only=False))

    def pandas_str(vocab):
        index = pd.Index(pd.array(vocab.cast(pa.string()), dtype=pd.ArrowDtype(pa.string())))
        index.get_indexer(pd.array(["x"], dtype=pd.ArrowDtype(pa.string())))
        return lambda batch: index.get_indexer(
            pd.array(batch.cast(pa.string()), dtype=pd.ArrowDtype(pa.string()))
        )

    def polars_hashes(array):
        return pl.Series(array).hash(seed=0).to_numpy()

    def polars_sorted(vocab):
        hashes = polars_hashes(vocab)
        order = np.argsort(hashes, kind="stable")
        sorted_hashes = hashes[order]

        def lookup(batch):
            h = polars_hashes(batch)
            pos = np.searchsorted(sorted_hashes, h)
            pos[pos == len(sorted_hashes)] = 0
            rows = order[pos]
            hit = sorted_hashes[pos] == h
            same = pc.equal(batch, vocab.take(pa.array(rows))).to_numpy(zero_copy_only=False)
            return np.where(hit & same, rows, -1)

        return lookup

    def polars_pandas(vocab):
        index = pd.Index(polars_hashes(vocab))
        index.get_indexer(np.zeros(1, dtype=np.uint64))

        def lookup(batch):
            rows = index.get_indexer(polars_hashes(batch))
            safe = np.where(rows < 0, 0, rows)
            same = pc.equal(batch, vocab.take(pa.array(safe))).to_numpy(zero_copy_only=False)
            return np.where((rows >= 0) & same, rows, -1)

        return lookup

    def polars_join(vocab):
        frame = pl.DataFrame({"token": pl.Series(vocab), "row": np.arange(len(vocab))})

        def lookup(batch):
            joined = pl.DataFrame({"token": pl.Series(batch)}).join(
                frame, on="token", how="left", maintain_order="left"
            )
            return joined["row"].fill_null(-1).to_numpy()

        return lookup

    def vocabguard_index(vocab):
        from vocabguard._src.core.token_index import TokenIndex

        return TokenIndex(vocab).rows

    return {
        "vocabguard TokenIndex": vocabguard_index,
        "pyarrow index_in (per call)": arrow_index_in,
        "pandas object Index": pandas_object,
        "pandas str Index": pandas_str,
        "polars hash + numpy searchsorted": polars_sorted,
        "polars hash + pandas UInt64 Index": polars_pandas,
        "polars join (per call)": polars_join,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--values", type=int, default=200_000, help="values looked up per size")
    parser.add_argument("--only", nargs="*", help="candidate names containing these words")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for size in args.tokens:
        ids = rng.permutation(np.arange(size, dtype=np.uint32) * 2)  # even ids known
        vocab = hex_tokens(ids)
        probe_ids = rng.integers(0, 2 * size, args.values).astype(np.uint32)
        probe = hex_tokens(probe_ids)
        want = np.full(args.values, -1)
        known = probe_ids % 2 == 0
        where = np.empty(2 * size, dtype=np.int64)
        where[ids] = np.arange(size)
        want[known] = where[probe_ids[known]]
        print(f"vocabulary of {size:,} tokens; {args.values:,} values looked up")
        for name, make in candidates().items():
            if args.only and not any(w in name for w in args.only):
                continue
            gc.collect()
            before = rss_mb()
            start = time.perf_counter()
            lookup = make(vocab)
            build = time.perf_counter() - start
            memory = rss_mb() - before
            row = [f"  {name:36s} build {build:7.2f} s  +{memory:6.0f} MB"]
            for batch in (1_000, 100_000):
                n = min(args.values, batch * 3) if "per call" in name else args.values
                start = time.perf_counter()
                got = [lookup(probe.slice(i, batch)) for i in range(0, n, batch)]
                seconds = time.perf_counter() - start
                assert (np.concatenate(got) == want[:n]).all(), name
                row.append(f"batch {batch:>7,}: {n / seconds / 1e6:7.3f} M values/s")
            print("  ".join(row), flush=True)
            del lookup
        del vocab


if __name__ == "__main__":
    main()
