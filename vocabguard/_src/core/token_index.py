"""``TokenIndex``: the row of each token of a fixed Arrow array, built once, O(batch) a query.

``pc.index_in`` hashes its whole value set on every call, so a batch of 1,000 values
against a 10 M-token vocabulary would pay for 10 M tokens. A ``TokenIndex`` pays for the
vocabulary once and then only for the batch:

- integer tokens: the values sorted once; a batch is ``np.searchsorted`` (exact);
- byte-string tokens: polars' vectorized 64-bit hash of every token, sorted once, with
  a directory of where each run of leading hash bits starts (about two keys a run); a
  batch is hashed, each hash goes straight to its run (a cache miss or two, not the ~20
  of a binary search over millions of keys), and every hit is checked byte for byte
  against the token it points at, so a hash collision can never give a wrong id
  (colliding keys are all tried). A query is a fixed number of numpy, Arrow and polars
  calls (tens of microseconds in all) plus a cost per value, so a batch of 1,000 costs
  per value about what a batch of 100,000 does.

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
    """64-bit hashes of binary values (polars' row hash; stable within a process).

    >>> a = hash64(pa.array([b"x", b"y", b"x"]))
    >>> a.dtype, bool(a[0] == a[2]), bool(a[0] == a[1])
    (dtype('uint64'), True, False)
    """
    import polars as pl

    # ``DataFrame.hash_rows`` of a one-column frame: straight into polars' Rust, where
    # ``Series.hash`` or a ``select`` builds and runs a query plan per call. Of a batch
    # of 1,000 looked up on the busy machine, best tenth of calls: 0.6 ms with hash_rows,
    # 1.0-1.3 ms with a select (hash_rows hands the work to polars' thread pool, so its
    # slow calls wait for a worker: the median was 1.5-4.4 ms against 2.2-2.3 ms).
    frame = pl.DataFrame(pl.Series("", values, dtype=pl.Binary))
    return frame.hash_rows(seed=_SEED).to_numpy()


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
        equal = np.flatnonzero(self._sorted[1:] == self._sorted[:-1])
        if len(equal):
            # Equal values (collisions, repeated keys): in row order, so the first row
            # holding a key is found first.
            at = np.union1d(equal, equal + 1)
            within = np.lexsort((self._order[at], self._sorted[at]))
            self._order[at] = self._order[at][within]
        # No two keys share a hash (or a value): a probe has at most one candidate.
        self._unique = not len(equal)
        self._directory = None
        if not self.integer:
            self._directory = _directory(self._sorted)
            # Each sorted hash beside its row, so a probe's hash and row share a cache line;
            # as one 16-byte item (complex128: numpy gathers a 1-D array of those about
            # four times faster than rows of an (n, 2) array, measured).
            pairs = np.stack([self._sorted, self._order.view(np.uint64)], axis=1)
            self._pairs = pairs.view(np.complex128).reshape(-1)
            del self._sorted, self._order

    def __len__(self) -> int:
        return len(self.keys)

    def rows(self, values: pa.Array) -> np.ndarray:
        """The row of each value in ``keys`` (int64), ``-1`` where it is not there."""
        n = len(values)
        rows = np.full(n, -1, dtype=np.int64)
        if not n or not len(self.keys):
            return rows
        if not self.integer:
            if values.type != pa.binary():
                values = values.cast(pa.binary())
            return self._hashed_rows(values, hash64(values), rows)
        probes = values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        # Searching in sorted order walks the sorted keys once (cache-friendly: ten
        # times faster than random probes into 1M sorted keys, measured). The leftmost
        # equal key is the first row holding the value (equal keys sit in row order).
        sorter = np.argsort(probes)
        found = np.empty(n, dtype=np.int64)
        found[sorter] = np.searchsorted(self._sorted, probes[sorter])
        np.minimum(found, len(self._sorted) - 1, out=found)
        hit = self._sorted[found] == probes
        rows[hit] = self._order[found[hit]]
        return rows

    def _hashed_rows(self, values: pa.Array, probes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``rows`` of binary ``values`` with hashes ``probes``: every probe is paired with
        each key of its run of the sorted hashes (found in the directory: about two), the
        pairs whose hashes are equal are byte-checked in one call, and each probe keeps its
        first match. A fixed number of numpy and Arrow calls whatever the batch: no loop
        whose length depends on the data, so a batch of 1,000 pays little beyond its values."""
        shift, starts = self._directory
        run = probes >> shift
        first = starts[run]
        count = starts[1:][run] - first
        # Pair each probe with each position of its run (probe-major, positions ascending).
        probe = np.repeat(np.arange(len(probes)), count)
        ends = np.cumsum(count)
        at = np.arange(len(probe)) + np.repeat(first - (ends - count), count)
        pairs = self._pairs[at].view(np.uint64).reshape(-1, 2)  # (hash, row) each
        same = pairs[:, 0] == probes[probe]
        probe, candidates = probe[same], pairs[same, 1].view(np.int64)
        if not len(probe):
            return rows
        # The byte check: a hash match is a hit only if the bytes are the same.
        if self._unique:
            # One candidate a probe at most: each value is compared with its candidate in
            # place, so the values need no ``take`` even when some are unknown (one Arrow
            # call fewer a batch). Row 0 stands in where a value has no candidate: it can
            # never match there, since a value equal to key 0 has key 0's hash, which is
            # then its candidate. (Arrow indices: ``take`` of a numpy array is slower.)
            if len(probe) < len(probes):
                each = np.zeros(len(probes), dtype=np.int64)
                each[probe] = candidates
                candidates = each
            equal = _bools(pc.equal(values, self.keys.take(pa.array(candidates))))
            return np.where(equal, candidates, -1)
        equal = _bools(pc.equal(values.take(pa.array(probe)), self.keys.take(pa.array(candidates))))
        probe, candidates = probe[equal], candidates[equal]
        # Equal hashes sit in row order, so a probe's first match is the first row holding
        # its key (two only when the keys repeat one).
        keep = np.ones(len(probe), dtype=bool)
        keep[1:] = probe[1:] != probe[:-1]
        rows[probe[keep]] = candidates[keep]
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
