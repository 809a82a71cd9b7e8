"""The id layout: the single owner of vocabguard's id invariants.

Ids are laid out as ``[pad][OOV x k][reserved...][learned...][unused up to capacity]``::

    id 0                    padding (the pad token maps here, like Keras' mask token)
    ids 1..k                OOV buckets (k = num_oov_buckets >= 1)
    ids k+1..k+R            reserved tokens, in the order given
    ids k+R+1..k+R+L        learned tokens, count descending, ties by UTF-8 bytes ascending
                            (``tie_break: bytes_descending``: descending, as TFT and Keras)
    ids k+R+L+1..input_dim-1  unused rows, only when ``capacity`` leaves room to grow
                            or ``pad_to_multiple_of`` rounds input_dim up

This is the layout of ``keras.layers.StringLookup(mask_token=pad, num_oov_indices=k)``,
so both give identical ids.

>>> layout = IdLayout(num_oov_buckets=2, num_reserved=1, num_learned=3)
>>> layout.input_dim, list(layout.oov_ids), layout.reserved_start, layout.learned_start
(7, [1, 2], 3, 4)
>>> IdLayout(num_oov_buckets=1, num_reserved=0, num_learned=10, capacity=5)
Traceback (most recent call last):
...
vocabguard.errors.LayoutError: `capacity` 5 is smaller than the layout's 12 ids (1 pad + 1 OOV + 0 reserved + 10 learned). Raise capacity to at least 12, or lower max_tokens. Received: capacity=5
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping

import farmhash
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.errors import LayoutError, received

PAD_ID = 0


@dataclasses.dataclass(frozen=True)
class IdLayout:
    """Where each kind of id lives, and ``input_dim``."""

    num_oov_buckets: int
    num_reserved: int
    num_learned: int
    capacity: int | None = None
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if self.num_oov_buckets < 1:
            raise LayoutError(
                "At least one OOV id is required, so that no token ever maps to -1. "
                + received(num_oov_buckets=self.num_oov_buckets)
            )
        if self.capacity is not None and self.capacity < self.used_ids:
            raise LayoutError(
                f"`capacity` {self.capacity} is smaller than the layout's {self.used_ids} ids "
                f"(1 pad + {self.num_oov_buckets} OOV + {self.num_reserved} reserved + "
                f"{self.num_learned} learned). Raise capacity to at least {self.used_ids}, "
                "or lower max_tokens. " + received(capacity=self.capacity),
                capacity=self.capacity,
                used_ids=self.used_ids,
            )

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def oov_ids(self) -> range:
        return range(1, 1 + self.num_oov_buckets)

    @property
    def reserved_start(self) -> int:
        return 1 + self.num_oov_buckets

    @property
    def learned_start(self) -> int:
        return self.reserved_start + self.num_reserved

    @property
    def used_ids(self) -> int:
        """Ids that carry a token (pad, OOV, reserved, learned)."""
        return self.learned_start + self.num_learned

    @property
    def input_dim(self) -> int:
        """The ``Embedding(input_dim)`` every emitted id is below.

        ``capacity`` (or the used ids), rounded up to a multiple of
        ``pad_to_multiple_of`` when set (the extra rows are unused, like capacity's).

        >>> IdLayout(1, 0, 5, pad_to_multiple_of=8).input_dim
        8
        """
        size = self.capacity if self.capacity is not None else self.used_ids
        multiple = self.pad_to_multiple_of
        if multiple:
            size = -(-size // multiple) * multiple
        return size

    def to_dict(self) -> dict:
        return {
            "pad_id": PAD_ID,
            "num_oov_buckets": self.num_oov_buckets,
            "oov_ids": [1, self.num_oov_buckets],
            "num_reserved": self.num_reserved,
            "reserved_ids": [self.reserved_start, self.learned_start - 1]
            if self.num_reserved
            else [],
            "num_learned": self.num_learned,
            "learned_ids": [self.learned_start, self.used_ids - 1] if self.num_learned else [],
            "used_ids": self.used_ids,
            "capacity": self.capacity,
            "pad_to_multiple_of": self.pad_to_multiple_of,
            "unused_ids": self.input_dim - self.used_ids,
            "input_dim": self.input_dim,
        }


def oov_bucket(token: bytes | int, num_oov_buckets: int) -> int:
    """The OOV id of an unknown token, exactly as Keras computes it.

    Strings: ``1 + Fingerprint64(token) % k`` (``tf.strings.to_hash_bucket_fast``,
    what ``StringLookup`` uses). Integers: ``1 + token mod k`` (``IntegerLookup``'s
    default ``oov_method="floormod"``).

    >>> oov_bucket(b"zz", 3), oov_bucket(-1, 3)
    (2, 3)
    """
    if num_oov_buckets == 1:
        return 1
    if isinstance(token, int):
        return 1 + token % num_oov_buckets  # Python's % is a floor-mod, as in Keras.

    return 1 + farmhash.fingerprint64(token) % num_oov_buckets


def order_key(item: tuple[Hashable, int]) -> tuple:
    """Sort key of a ``(token, count)`` pair: count descending, then token ascending.

    Ties are broken by UTF-8 bytes ascending (integers: value ascending).
    Why ascending: it is the order torchtext, Hugging Face's WordLevel trainer and
    tf-text's WordPiece learner use, it equals code-point order for valid UTF-8,
    and it needs no locale. TFT and Keras break ties the opposite way (reverse
    lexicographic), so ids are pinned by a golden test, not by any peer's choice;
    ``VocabSpec(tie_break="bytes_descending")`` asks for theirs.
    """
    token, count = item
    return (-count, token)


def is_candidate(
    token: Hashable,
    count: int,
    min_count: int,
    excluded: set | frozenset,
    max_token_bytes: int | None,
) -> bool:
    """Whether a counted token may become a learned token (before the max_tokens cap)."""
    return (
        count >= min_count
        and token not in excluded
        and (max_token_bytes is None or isinstance(token, int) or len(token) <= max_token_bytes)
    )


def select_rows(
    tokens: pa.Array,
    counts: pa.Array | np.ndarray,
    *,
    min_count: int = 1,
    max_tokens: int | None = None,
    exclude: pa.Array | None = None,
    max_token_bytes: int | None = None,
    keep: np.ndarray | None = None,
    descending: bool = False,
) -> np.ndarray:
    """The rows of distinct ``tokens`` that become learned tokens, in id order (columnar).

    Count descending, ties by UTF-8 bytes ascending (integers: value ascending; both
    descending with ``descending=True``, ``tie_break: bytes_descending``): one Arrow
    sort on (count desc, token asc/desc), which compares binary values byte by byte.
    ``exclude``: tokens that never become learned (pad, OOV label, reserved, the
    parent's); ``keep``: an optional boolean mask of rows allowed at all (document rules).

    >>> import pyarrow as pa
    >>> select_rows(pa.array([b"b", b"a", b"c", b"d"]), pa.array([2, 2, 5, 1]), min_count=2)
    array([2, 1, 0])
    >>> select_rows(pa.array([b"b", b"a", b"c"]), pa.array([2, 2, 5]), max_tokens=2, descending=True)
    array([2, 0])
    """
    counts = counts if isinstance(counts, pa.Array) else pa.array(counts, type=pa.int64())
    mask = pc.greater_equal(counts, min_count)
    if keep is not None:
        mask = pc.and_(mask, pa.array(keep, type=pa.bool_()))
    if exclude is not None and len(exclude):
        mask = pc.and_(mask, pc.invert(is_in(tokens, exclude)))
    if max_token_bytes is not None and not pa.types.is_integer(tokens.type):
        mask = pc.and_(mask, pc.less_equal(pc.binary_length(tokens), max_token_bytes))
    rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    if not len(rows):
        return rows
    values = counts.to_numpy(zero_copy_only=False)
    if len(rows) < len(tokens):  # else every row is a candidate: no copy
        tokens, values = take_tokens(tokens, rows), values[rows]
    if max_tokens is not None and max_tokens < len(rows):
        # Tokens are distinct, so (count, token) is a total order: the top k is exact.
        table = pa.table({"token": tokens, "count": values})
        top = pc.select_k_unstable(table, max_tokens, sort_keys=rule_sort_keys(descending))
        top = np.asarray(top, dtype=np.int64)
        rows, tokens, values = rows[top], take_tokens(tokens, top), values[top]
    return rows[rule_order(tokens, values, descending=descending)]


# Up to this many values, membership is one vectorized equality per value: cheaper than
# hashing every token (the special tokens a build excludes are two or three).
_SMALL_SET = 8


def is_in(tokens: pa.Array | pa.ChunkedArray, values: pa.Array) -> pa.Array | pa.ChunkedArray:
    """``pc.is_in(tokens, value_set=values)`` for distinct non-null ``tokens``; a small
    ``values`` (the special tokens) is compared value by value instead of hashing every
    token (a fifth of the CPU on 4.7 M 8-byte tokens).

    >>> is_in(pa.array([b"a", b"b", b"c"]), pa.array([b"c", b"a"])).to_pylist()
    [True, False, True]
    """
    if len(values) > _SMALL_SET:
        return pc.is_in(tokens, value_set=values)
    if not len(values):
        return pa.array(np.zeros(len(tokens), dtype=bool))
    hit = pc.equal(tokens, values[0])
    for value in values[1:]:
        hit = pc.or_(hit, pc.equal(tokens, value))
    return hit


def take_tokens(tokens: pa.Array, rows: np.ndarray) -> pa.Array:
    """``tokens.take(rows)``; binary tokens of one width (hashed ids, hex keys) are
    gathered as fixed-size numpy items, about 5x less CPU than Arrow's binary take.

    >>> take_tokens(pa.array([b"ab", b"cd", b"ef"]), np.array([2, 0])).to_pylist()
    [b'ef', b'ab']
    """
    rows = np.asarray(rows, dtype=np.int64)
    width = _one_width(tokens)
    if width is None:
        return tokens.take(pa.array(rows, type=pa.int64()))
    _, offsets, data = tokens.buffers()
    start = np.frombuffer(offsets, dtype=np.int32, count=1, offset=4 * tokens.offset)[0]
    items = np.frombuffer(data, dtype=f"V{width}", count=len(tokens), offset=int(start))
    out = items[rows]
    n = len(out)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


def _one_width(tokens: pa.Array) -> int | None:
    """The byte width all of ``binary`` ``tokens`` share (1 or more, ``n * width`` under
    2 GiB), else None (other types, nulls, no tokens, or several widths)."""
    n = len(tokens)
    if not n or not pa.types.is_binary(tokens.type) or tokens.null_count:
        return None
    _, offsets, _ = tokens.buffers()
    offsets = np.frombuffer(offsets, dtype=np.int32)[tokens.offset : tokens.offset + n + 1]
    width = int(offsets[1] - offsets[0])
    if width < 1 or int(offsets[-1] - offsets[0]) != n * width:
        return None
    if (n + 1) * width >= 2**31 or not (np.diff(offsets) == width).all():
        return None
    return width


def rule_sort_keys(descending: bool = False) -> list[tuple[str, str]]:
    """Arrow ``sort_keys`` of the rule on a ``(token, count)`` table.

    >>> rule_sort_keys(), rule_sort_keys(True)[1]
    ([('count', 'descending'), ('token', 'ascending')], ('token', 'descending'))
    """
    return [("count", "descending"), ("token", "descending" if descending else "ascending")]


def rule_order(tokens: pa.Array, counts: np.ndarray, *, descending: bool = False) -> np.ndarray:
    """The permutation that puts distinct ``tokens`` in id order: count descending,
    then UTF-8 bytes ascending (integers: value ascending); with ``descending=True``
    ties go by bytes (value) descending, the exact reverse among equal counts.

    Two numpy sorts, no key per token in Python: the tokens' first 8 bytes as a
    big-endian integer (integers: the value) sorted once, then a stable sort by count
    descending, which keeps that order among equal counts. Two tokens that share
    their first 8 bytes and their count (longer tokens, or trailing zero bytes) sit
    next to each other afterwards; only those rows are ordered again by an Arrow sort
    that compares their bytes. (Measured on 4 M 8-byte tokens: a third of a 3-key
    ``np.lexsort``'s CPU time.)

    >>> rule_order(pa.array([b"b", b"a", b"abcdefghij", b"abcdefghi", b"c"]), np.array([2, 2, 2, 2, 5]))
    array([4, 1, 3, 2, 0])
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(tokens)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    integer = pa.types.is_integer(tokens.type)
    if integer:
        values = tokens.to_numpy(zero_copy_only=False).astype(np.int64)
        # ~v = -v - 1 reverses the order without overflowing at the int64 minimum.
        key = ~values if descending else values
    else:
        tokens = tokens.cast(pa.binary())
        key = _prefix_key(tokens)
        key = ~key if descending else key
    by_key = _arg_sort(key)
    order = by_key[np.argsort(-counts[by_key], kind="stable")]
    if integer:
        return order  # distinct values: the order is total
    # Rows that tie on (count, first 8 bytes): their full bytes decide.
    prefix, counted = key[order], counts[order]
    same = np.zeros(n, dtype=bool)
    same[1:] = (prefix[1:] == prefix[:-1]) & (counted[1:] == counted[:-1])
    if same.any():
        tied = same.copy()
        tied[:-1] |= same[1:]  # the first row of each tied run too
        positions = np.flatnonzero(tied)
        subset = order[positions]
        table = pa.table({"token": tokens.take(pa.array(subset)), "count": counts[subset]})
        by_rule = pc.sort_indices(table, sort_keys=rule_sort_keys(descending)).to_numpy()
        # The tied runs sit in rule order relative to each other and to the other rows,
        # so the subset's own rule order fills exactly the positions it occupies.
        order[positions] = subset[by_rule]
    return order


# Keys from which polars sorts (below, numpy's sort costs less than importing polars).
_POLARS_SORT_MIN = 1 << 20


def _arg_sort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values)`` (equal values in any order) with polars' sort, about 30%
    less CPU than numpy's on 64-bit keys and parallel (measured on 4 M keys); numpy's
    for fewer than ``_POLARS_SORT_MIN`` keys (a 100k-token vocabulary: about 10 ms,
    where importing polars takes 0.3 s)."""
    if len(values) < _POLARS_SORT_MIN:
        return np.argsort(values)
    import polars as pl

    return pl.Series(values).arg_sort().to_numpy().astype(np.int64, copy=False)


def _prefix_key(tokens: pa.Array) -> np.ndarray:
    """The first 8 bytes of each binary token as a big-endian uint64 (zero-padded):
    ordering by it orders by bytes, up to ties of tokens sharing those 8 bytes."""
    _, offsets, data = tokens.buffers()
    n = len(tokens)
    offsets = np.frombuffer(offsets, dtype=np.int32)[tokens.offset : tokens.offset + n + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, np.uint8)
    lengths = np.diff(offsets).astype(np.int64)
    if n and (lengths == 8).all():
        # Tokens of 8 bytes (hashed ids, hex keys): the key is the bytes themselves.
        return data[offsets[0] : offsets[-1]].view(">u8").astype(np.uint64)
    if not len(data):
        data = np.zeros(1, dtype=np.uint8)
    starts = offsets[:-1].astype(np.int64)
    prefix = np.zeros(n, dtype=np.uint64)
    for j in range(8):  # byte j of each token (0 past its end), most significant first
        byte = data[np.minimum(starts + j, len(data) - 1)].astype(np.uint64)
        byte[lengths <= j] = 0
        prefix |= byte << np.uint64(56 - 8 * j)
    return prefix


def select_tokens(
    counts: Mapping[Hashable, int],
    *,
    min_count: int = 1,
    max_tokens: int | None = None,
    exclude: Iterable[Hashable] = (),
    max_token_bytes: int | None = None,
    descending: bool = False,
) -> list[tuple[Hashable, int]]:
    """The learned tokens, in id order, as ``(token, count)`` pairs (``select_rows`` over a
    mapping, for small uses and tests; builds call ``select_rows`` on columns).

    Tokens in ``exclude`` (pad, OOV label, reserved tokens) never become learned
    tokens: they already have ids or must stay OOV.

    >>> select_tokens({b"b": 2, b"a": 2, b"c": 5, b"d": 1}, min_count=2)
    [(b'c', 5), (b'a', 2), (b'b', 2)]
    """
    keys = list(counts)
    integer = bool(keys) and isinstance(keys[0], int)
    token_type = pa.int64() if integer else pa.binary()
    tokens = pa.array(keys, type=token_type)
    values = pa.array(list(counts.values()), type=pa.int64())
    rows = select_rows(
        tokens,
        values,
        min_count=min_count,
        max_tokens=max_tokens,
        exclude=pa.array(list(exclude), type=token_type),
        max_token_bytes=max_token_bytes,
        descending=descending,
    )
    return [(keys[i], counts[keys[i]]) for i in rows.tolist()]
