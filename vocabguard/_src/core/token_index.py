"""``TokenIndex``: the row of each token of a fixed Arrow array, built once, O(batch) a query.

``pc.index_in`` hashes its whole value set on every call, so a batch of 1,000 values
against a 10 M-token vocabulary would pay for 10 M tokens. A ``TokenIndex`` pays for the
vocabulary once and then only for the batch:

- integer tokens: the values sorted once; a batch is ``np.searchsorted`` (exact);
- byte-string tokens: polars' vectorized 64-bit ``Series.hash`` of every token, sorted
  once, with a directory of where each run of leading hash bits starts (about two keys
  a run); a batch is hashed, each hash goes straight to its run (a cache miss or two,
  not the ~20 of a binary search over millions of keys, so a batch of 1,000 costs per
  value what a batch of 100,000 does), and every hit is checked byte for byte against
  the token it points at, so a hash collision can never give a wrong id (colliding keys
  are all tried).

All are numpy arrays (about 20 bytes per token) with no Python object per token.

>>> import pyarrow as pa
>>> index = TokenIndex(pa.array([b"b", b"a", b"c"]))
>>> index.rows(pa.array([b"a", b"zz", b"c", b"b"])).tolist()
[1, -1, 2, 0]
>>> TokenIndex(pa.array([7, -3], pa.int64())).rows(pa.array([-3, 5], pa.int64())).tolist()
[1, -1]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Polars hashes with this seed; both sides of a lookup use it (hashes never leave the process).
_SEED = 0


def hash64(values: pa.Array) -> np.ndarray:
    """64-bit hashes of binary values (polars' ``Series.hash``; stable within a process).

    >>> a = hash64(pa.array([b"x", b"y", b"x"]))
    >>> a.dtype, bool(a[0] == a[2]), bool(a[0] == a[1])
    (dtype('uint64'), True, False)
    """
    import polars as pl

    return pl.Series(values, dtype=pl.Binary).hash(seed=_SEED).to_numpy()


def _sort(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, values[order])``: polars' parallel sort (about twice numpy's ``argsort``
    on 64-bit keys here); equal values may come in any order."""
    import polars as pl

    series = pl.Series(values)
    order = series.arg_sort()
    return order.to_numpy().astype(np.int64, copy=False), series.gather(order).to_numpy()


class TokenIndex:
    """Row numbers of tokens in ``keys`` (binary or int64, no nulls); ``-1`` when absent.

    Duplicate keys give the first row holding them (as ``pc.index_in`` does).
    """

    def __init__(self, keys: pa.Array):
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()
        self.keys = keys
        self.integer = pa.types.is_integer(keys.type)
        if self.integer:
            values = keys.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        else:
            self.keys = keys = keys.cast(pa.binary())
            values = hash64(keys)
        self._order, self._sorted = _sort(values)
        # The longest run of equal sorted values: 1 unless two keys collide (or repeat).
        self._longest_run = 1
        equal = np.flatnonzero(self._sorted[1:] == self._sorted[:-1])
        if len(equal):
            # Equal values (collisions, repeated keys): in row order, so the first row
            # holding a key is found first.
            at = np.union1d(equal, equal + 1)
            within = np.lexsort((self._order[at], self._sorted[at]))
            self._order[at] = self._order[at][within]
            starts = np.flatnonzero(np.diff(self._sorted)) + 1
            bounds = np.concatenate([[0], starts, [len(values)]])
            self._longest_run = int(np.diff(bounds).max())
        self._directory = None if self.integer else _directory(self._sorted)

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, values: pa.Array) -> np.ndarray:
        """The row of each value in ``keys`` (int64), ``-1`` where it is not there."""
        n = len(values)
        rows = np.full(n, -1, dtype=np.int64)
        if not n or not len(self.keys):
            return rows
        if self.integer:
            probes = values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        else:
            values = values.cast(pa.binary())
            return self._hashed_rows(values, hash64(values), rows)
        # Searching in sorted order walks the sorted keys once (cache-friendly: ten
        # times faster than random probes into 1M sorted hashes, measured).
        sorter = np.argsort(probes)
        found = np.empty(n, dtype=np.int64)
        found[sorter] = np.searchsorted(self._sorted, probes[sorter])
        pending = np.arange(n)
        for step in range(self._longest_run):
            at = found[pending] + step
            inside = at < len(self._sorted)
            pending, at = pending[inside], at[inside]
            same_hash = self._sorted[at] == probes[pending]
            pending, at = pending[same_hash], at[same_hash]
            if not len(pending):
                break
            candidates = self._order[at]
            if self.integer:
                rows[pending] = candidates
                break
            # The byte check: a hash match is a hit only if the bytes are the same.
            same = pc.equal(values.take(pending), self.keys.take(candidates)).to_numpy(
                zero_copy_only=False
            )
            rows[pending[same]] = candidates[same]
            pending = pending[~same]  # collisions: try the next key with the same hash
        return rows

    def _hashed_rows(self, values: pa.Array, probes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``rows`` of binary ``values`` with hashes ``probes``: each probe scans its run of
        the sorted hashes (found in the directory) to the first equal hash, and every such
        hit is byte-checked at once; a probe whose hit was a collision scans on."""
        shift, starts = self._directory
        run = (probes >> shift).astype(np.intp)
        pending = np.arange(len(probes))
        at = starts[run].astype(np.int64)
        end = starts[run + 1].astype(np.int64)
        while len(pending):
            # Numpy only: move each probe to the first position whose hash is not below it.
            hit_p, hit_at = [], []
            while len(pending):
                live = at < end
                pending, at, end = pending[live], at[live], end[live]
                key, want = self._sorted[at], probes[pending]
                same = key == want
                hit_p.append(pending[same])
                hit_at.append(at[same])
                below = key < want  # sorted: a larger hash means the probe is absent
                pending, at, end = pending[below], at[below] + 1, end[below]
            hit_p, hit_at = np.concatenate(hit_p), np.concatenate(hit_at)
            if not len(hit_p):
                break
            # The byte check: a hash match is a hit only if the bytes are the same;
            # equal hashes sit in row order, so the first row holding a key wins.
            candidates = self._order[hit_at]
            equal = _bools(pc.equal(values.take(hit_p), self.keys.take(candidates)))
            rows[hit_p[equal]] = candidates[equal]
            # Collisions (never seen in practice): scan on past the colliding key.
            wrong = ~equal
            pending, at = hit_p[wrong], hit_at[wrong] + 1
            end = starts[run[pending] + 1].astype(np.int64)
        return rows


def _directory(hashes: np.ndarray) -> tuple[np.uint64, np.ndarray]:
    """``(shift, starts)``: sorted ``hashes`` whose top bits are ``r`` lie at
    ``starts[r]:starts[r + 1]``; about two hashes per run."""
    bits = int(min(30, max(1, np.ceil(np.log2(max(len(hashes), 2))) - 1)))
    shift = np.uint64(64 - bits)
    counts = np.bincount((hashes >> shift).astype(np.intp), minlength=1 << bits)
    starts = np.zeros(len(counts) + 1, dtype=np.int32 if len(hashes) < 2**31 else np.int64)
    np.cumsum(counts, out=starts[1:])
    return shift, starts


def _bools(mask: pa.BooleanArray) -> np.ndarray:
    """A boolean Arrow array without nulls as numpy, from its bitmap (``to_numpy`` of a
    boolean array goes through pyarrow's pandas check, which costs an import attempt
    per call where pandas is not installed: most of a small batch's time)."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    bits = np.frombuffer(mask.buffers()[1], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[mask.offset : mask.offset + len(mask)].view(bool)


__all__ = ["TokenIndex", "hash64"]
