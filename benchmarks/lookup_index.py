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
- ``vocabguard TokenIndex``: what ``Vocabulary.lookup`` uses (polars row hash, sorted
  once with a directory of hash runs; a batch is a fixed number of numpy/Arrow calls,
  hits byte-checked).

Then ``Vocabulary.lookup`` itself, the way users call it, with the same values as a
Python list of ``str``, a numpy object array and an Arrow string array: values/s in
batches of 1,000 and of 100,000 and their ratio (the goal: batches of 1,000 at least
0.5x the throughput of batches of 100,000). Each timing is the best of ``--repeat``
runs, the two batch sizes interleaved, so a busy machine slows both alike.

    python benchmarks/lookup_index.py --tokens 1000000 10000000
    python benchmarks/lookup_index.py --tokens 4660000 --only none --values 1000000
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
    import polars as pl

    try:
        import pandas as pd
    except ImportError:  # not a vocabguard dependency: its rows are left out
        pd = None

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

    found = {
        "vocabguard TokenIndex": vocabguard_index,
        "pyarrow index_in (per call)": arrow_index_in,
        "pandas object Index": pandas_object,
        "pandas str Index": pandas_str,
        "polars hash + numpy searchsorted": polars_sorted,
        "polars hash + pandas UInt64 Index": polars_pandas,
        "polars join (per call)": polars_join,
    }
    if pd is None:
        print("  (pandas is not installed: its candidates are left out)")
        found = {name: make for name, make in found.items() if "pandas" not in name}
    return found


def vocabulary_lookup(vocab: pa.Array, probe: pa.Array, want: np.ndarray, repeat: int) -> None:
    """``Vocabulary.lookup`` of ``probe`` as a list, a numpy array and an Arrow array, in
    batches of 1,000 and of 100,000 (best of ``repeat``, interleaved), ids checked."""
    from vocabguard import VocabSpec, Vocabulary

    start = time.perf_counter()
    vocabulary = Vocabulary(
        VocabSpec(tokenizer="none"), "string", vocab, np.arange(len(vocab), 0, -1)
    )
    vocabulary.lookup(probe.slice(0, 1))  # builds the index, shared by every call
    print(f"  Vocabulary.lookup (built with its index in {time.perf_counter() - start:.1f} s)")
    # Known values are at row r: id reserved_start + r; unknown ones get the OOV id 1.
    ids = np.where(want >= 0, want + vocabulary.layout.reserved_start, 1)
    text = probe.cast(pa.string())
    forms = {
        "list of str": text.to_pylist(),
        "numpy object": np.array(text.to_pylist(), dtype=object),
        "Arrow string": text,
    }
    sizes = (1_000, 100_000)
    for name, values in forms.items():
        best = dict.fromkeys(sizes, float("inf"))
        for _ in range(repeat):
            for size in sizes:
                batches = [values[i : i + size] for i in range(0, len(probe), size)]
                start = time.perf_counter()
                got = [vocabulary.lookup(batch) for batch in batches]
                best[size] = min(best[size], time.perf_counter() - start)
                assert np.array_equal(np.concatenate(got), ids), name
        rate = {size: len(probe) / best[size] / 1e6 for size in sizes}
        print(
            f"    {name:14s} batch 1,000: {rate[1_000]:6.3f} M values/s  "
            f"batch 100,000: {rate[100_000]:6.3f} M values/s  "
            f"ratio {rate[1_000] / rate[100_000]:.2f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--values", type=int, default=200_000, help="values looked up per size")
    parser.add_argument("--only", nargs="*", help="candidate names containing these words")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
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
        vocabulary_lookup(vocab, probe, want, args.repeat)
        del vocab


if __name__ == "__main__":
    main()
