"""``Vocabulary``: tokens with ids under the id contract, and the numpy encoder.

>>> from vocabguard import VocabSpec, build_vocabulary
>>> vocab = build_vocabulary(["a b b", "c b a"], VocabSpec(), progress=False)
>>> vocab.input_dim, vocab.tokens
(5, ['[PAD]', '[UNK]', 'b', 'a', 'c'])
>>> vocab.encode(["b a zzz"])[0].tolist()
[2, 3, 1]
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.errors import (
    IdRangeError,
    InputDataError,
    LayoutError,
    SpecError,
    received,
)
from vocabguard._src.core.guard import guard_ids
from vocabguard._src.core.layout import IdLayout, is_in, oov_bucket, select_rows, take_tokens
from vocabguard._src.core.lineage import (
    check_lineage,
    grow,
    newly_retired,
    refuse_wordpiece_retire,
)
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.token_index import TokenIndex
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard._src.core.values import missing_error, plain_value, record_tokens
from vocabguard._src.core.wordpiece import (
    PieceEncoder,
    join_pieces,
    learn_pieces,
    lists_with_lengths,
    order_pieces,
    piece_counts,
    resolved_joiner,
    resolved_max_chars,
)

STRING = "string"
INT64 = "int64"
TOKEN_TYPES = (STRING, INT64)

Token = bytes | int
# Tokens hashed per fingerprint chunk: bounds the framed copy (~1 MB for short tokens,
# which stays in cache between being laid out and being hashed).
_FINGERPRINT_CHUNK = 1 << 16


def arrow_token_type(token_type: str) -> pa.DataType:
    """The Arrow type that holds tokens of ``token_type``: ``binary`` or ``int64``."""
    return pa.int64() if token_type == INT64 else pa.binary()


def token_array(tokens: Iterable | pa.Array | pa.ChunkedArray, token_type: str) -> pa.Array:
    """Tokens as one contiguous Arrow array in canonical form (``binary`` or ``int64``).

    Arrow input is cast (``string`` to ``binary`` is free); a Python sequence goes
    through ``as_token`` (the small-API path: tests, hand-made vocabularies).

    >>> token_array(["a", b"b"], STRING).to_pylist(), token_array([3], INT64).type
    ([b'a', b'b'], DataType(int64))
    """
    arrow_type = arrow_token_type(token_type)
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks()
    if not isinstance(tokens, pa.Array):
        return pa.array([as_token(t, token_type) for t in tokens], type=arrow_type)
    integer = pa.types.is_integer(tokens.type)
    if integer != (token_type == INT64) or tokens.null_count:
        kind = "integers" if token_type == INT64 else "strings"
        raise TypeError(
            f"Expected {kind} without nulls as tokens. "
            + received(type=str(tokens.type), nulls=tokens.null_count)
        )
    return tokens.cast(arrow_type)


def int64_array(values: Iterable | pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    """Counts (or document counts) as an int64 numpy array."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return np.asarray(values.to_numpy(), dtype=np.int64)
    if isinstance(values, np.ndarray):
        return values.astype(np.int64, copy=False)
    return np.fromiter((int(v) for v in values), dtype=np.int64)


def as_token(value: Any, token_type: str) -> Token:
    """Canonical form of a token: UTF-8 bytes for strings, ``int`` for integers."""
    if token_type == INT64:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        raise TypeError(f"Expected an integer token. Received: token={value!r}")
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError(f"Expected a str or bytes token. Received: token={value!r}")


def display_token(token: Token) -> str | bytes | int:
    """A token as users see it: ``str`` when it is valid UTF-8, else ``bytes``."""
    if isinstance(token, bytes):
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            return token
    return token


def printable_token(token: Token | str) -> str:
    """A token as text for terminals and reports: invisible or undecodable ones as literals.

    >>> printable_token(b"cat"), printable_token("new\\nline"), printable_token(b"\\xff")
    ('cat', "'new\\\\nline'", "b'\\\\xff'")
    """
    token = display_token(token) if isinstance(token, bytes) else token
    if isinstance(token, (bytes, int)):
        return repr(token) if isinstance(token, bytes) else str(token)
    if token == "" or not token.isprintable() or token != token.strip():
        return repr(token)
    return token


def encoding_contract(spec: VocabSpec, token_type: str, layout: IdLayout) -> dict:
    """Everything, besides the tokens, that decides which id a value gets."""
    integer = token_type == INT64
    contract = {
        "token_type": token_type,
        "tokenizer": spec.tokenizer,
        "pattern": spec.pattern,
        "normalization": spec.normalization,
        "lowercase": spec.lowercase,
        "pad_token": spec.resolved_pad_token(integer),
        "oov_token": spec.resolved_oov_token(integer),
        "oov_hash": "floormod" if integer else "farmhash_fingerprint64",
        "num_oov_buckets": layout.num_oov_buckets,
        "num_reserved": layout.num_reserved,
        "num_learned": layout.num_learned,
        "input_dim": layout.input_dim,
    }
    if spec.ngrams is not None:
        # What a token is; absent without n-grams, so older fingerprints stay.
        contract["ngrams"] = list(spec.ngrams)
        contract["ngram_separator"] = spec.ngram_separator
    if spec.tokenizer == "wordpiece":
        contract["joiner"] = resolved_joiner(spec)
        contract["max_chars_per_word"] = resolved_max_chars(spec)
    if spec.standardize is not None:
        # Keras' standardization; absent by default, so older fingerprints stay.
        contract["standardize"] = spec.standardize
    for key in ("split_cjk", "strip_accents", "clean_text"):
        if getattr(spec, key):  # BERT's pre-tokenizer options; absent by default
            contract[key] = True
    if spec.never_split:
        contract["never_split"] = list(spec.never_split)
    if spec.tie_break != "bytes_ascending":
        # Which tokens a max_tokens cut keeps; absent by default, so older fingerprints stay.
        contract["tie_break"] = spec.tie_break
    if spec.missing != "error":
        # Which id a missing value gets; absent for the default, so vocabularies
        # built before `missing` existed keep their fingerprints.
        contract["missing"] = spec.missing
        contract["missing_token"] = spec.resolved_missing_token(integer)
    return contract


def retired_key(id_: int) -> bytes:
    """The lookup key that stands in for a retired token: never matched by real text.

    It starts with byte 0xFF, which no valid UTF-8 string contains; every
    tokenizer repairs invalid UTF-8 to U+FFFD first, so no token can equal it.
    The retired token itself stays in the artifact (its row is reserved).

    >>> retired_key(42)
    b'\\xff\\xferetired:42'
    """
    return b"\xff\xferetired:%d" % id_


def compute_fingerprint(contract: Mapping, tokens: pa.Array | Sequence[Token]) -> str:
    """sha256 over the encoding contract and the ordered tokens (ids ``k+1`` on).

    Each token is hashed as its 8-byte little-endian length then its bytes (integers:
    8 bytes little-endian signed), so no token boundary is ambiguous. The framed bytes
    are laid out with numpy a chunk of tokens at a time: no Python object per token.

    >>> compute_fingerprint({}, [b"a", b"bc"]) == compute_fingerprint({}, pa.array([b"a", b"bc"]))
    True
    """
    if not isinstance(tokens, (pa.Array, pa.ChunkedArray)):
        items = list(tokens)
        integer = bool(items) and isinstance(items[0], (int, np.integer))
        tokens = token_array(items, INT64 if integer else STRING)
    elif isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks()
    digest = hashlib.sha256()
    digest.update(json.dumps(contract, sort_keys=True, ensure_ascii=True).encode())
    fixed = _fixed_width_digest(digest.copy(), tokens)
    if fixed is not None:
        return fixed.hexdigest()
    for start in range(0, len(tokens), _FINGERPRINT_CHUNK):
        digest.update(framed_tokens(tokens.slice(start, _FINGERPRINT_CHUNK)))
    return digest.hexdigest()


def _fixed_width_digest(digest, tokens: pa.Array):
    """``digest`` updated with the framed bytes of binary tokens of one length (ids,
    hashes, hex keys), laid out a chunk at a time in one reused buffer whose length
    prefixes are written once; ``None`` when the tokens are not binary of one length."""
    if pa.types.is_integer(tokens.type):
        return None
    offsets, data = binary_buffers(tokens, widen=False)
    width = one_width(offsets)
    if width is None:
        return None
    start = int(offsets[0])
    body = data[start : start + width * len(tokens)].reshape(len(tokens), width)
    rows = min(_FINGERPRINT_CHUNK, len(tokens))
    framed = np.empty((rows, 8 + width), dtype=np.uint8)
    framed[:, :8] = np.array([width], dtype="<u8").view(np.uint8)
    for start in range(0, len(tokens), rows):
        part = body[start : start + rows]
        framed[: len(part), 8:] = part
        digest.update(framed[: len(part)])
    return digest


def one_width(offsets: np.ndarray) -> int | None:
    """The length every token has, from the ``n + 1`` offsets of ``n >= 1`` tokens
    (``None`` when lengths differ or there are none), checked a block at a time.

    >>> one_width(np.array([0, 2, 4])), one_width(np.array([0, 2, 5]))
    (2, None)
    """
    n = len(offsets) - 1
    if n < 1:
        return None
    width = int(offsets[1]) - int(offsets[0])
    if int(offsets[-1]) - int(offsets[0]) != width * n:
        return None
    step = 1 << 16
    for start in range(0, n, step):  # blocks stay in cache; no n-long temporaries
        if (np.diff(offsets[start : start + step + 1]) != width).any():
            return None
    return width


def framed_tokens(tokens: pa.Array) -> np.ndarray:
    """The bytes the fingerprint hashes for ``tokens``: per token, its 8-byte
    little-endian length, then its bytes (int64: the 8-byte little-endian value).

    >>> bytes(framed_tokens(pa.array([b"ab"])))
    b'\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00ab'
    """
    n = len(tokens)
    if pa.types.is_integer(tokens.type):
        framed = np.empty((n, 2), dtype="<i8")
        framed[:, 0] = 8
        framed[:, 1] = tokens.to_numpy(zero_copy_only=False)
        return framed.view(np.uint8).reshape(-1)
    offsets, data = binary_buffers(tokens)
    lengths = np.ascontiguousarray(np.diff(offsets), dtype="<u8")
    if n and (lengths == lengths[0]).all():
        # Tokens of one length (ids, hashes): one 2-D copy, no kernel per token.
        width = int(lengths[0])
        framed = np.empty((n, 8 + width), dtype=np.uint8)
        framed[:, :8] = lengths[:1].view(np.uint8)
        framed[:, 8:] = data[offsets[0] : offsets[-1]].reshape(n, width)
        return framed.reshape(-1)
    tokens = tokens.cast(pa.large_binary())  # 64-bit offsets: no 2 GiB limit per chunk
    prefixes = pa.Array.from_buffers(pa.binary(8), n, [None, pa.py_buffer(lengths)]).cast(
        pa.large_binary()
    )
    # Arrow concatenates each prefix with its token in C++; the joined array's data
    # buffer is then exactly the framed bytes.
    joined = pc.binary_join_element_wise(prefixes, tokens, pa.scalar(b"", pa.large_binary()))
    offsets, data = binary_buffers(joined)
    return data[offsets[0] : offsets[-1]]


def binary_buffers(tokens: pa.Array, *, widen: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets, data)`` of a ``binary`` or ``large_binary`` array as numpy views
    (``offsets`` has n + 1 entries into ``data``; the array's slice offset applied).
    Offsets are int64 (a copy of 32-bit ones) unless ``widen=False`` keeps the view."""
    if not (pa.types.is_binary(tokens.type) or pa.types.is_large_binary(tokens.type)):
        tokens = tokens.cast(pa.binary())
    width = np.int64 if pa.types.is_large_binary(tokens.type) else np.int32
    _, offsets, data = tokens.buffers()
    if offsets is None or not len(tokens):
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(offsets, dtype=width)[tokens.offset : tokens.offset + len(tokens) + 1]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return (offsets.astype(np.int64, copy=False) if widen else offsets), data


def special_tokens(spec: VocabSpec, token_type: str) -> tuple[list[Token], list[Token]]:
    """``(reserved, [pad, oov])`` as canonical tokens; none of them is ever learned.

    The pad token maps to 0 and the OOV label must stay OOV (as in Keras, whose
    lookup layers refuse either inside the vocabulary).
    """
    integer = token_type == INT64
    _check_special_kinds(spec, token_type)
    reserved = [as_token(t, token_type) for t in spec.resolved_reserved_tokens(integer)]
    pad = spec.resolved_pad_token(integer)
    # An integer vocabulary's default pad is an id, not a value: nothing to exclude.
    pad_and_oov = [] if pad is None else [as_token(pad, token_type)]
    pad_and_oov.append(as_token(spec.resolved_oov_token(integer), token_type))
    return reserved, pad_and_oov


def _pad_in_data(spec: VocabSpec, pad: int, count: int, count_scale: int) -> InputDataError:
    """An integer pad value found in the data: it would be masked (id 0), so it is an error."""
    seen = count / count_scale if count_scale != 1 else count
    return InputDataError(
        f"The data holds the value {pad}, which is the integer vocabulary's `pad_token`, "
        f"{seen} times: it would be masked as padding (id 0) rather than learned. Leave "
        "pad_token unset (the pad is then an id, not a value, and every integer is a "
        "category), or set it to a value the data never holds. "
        + received(pad_token=pad, occurrences=seen)
    )


def _check_special_kinds(spec: VocabSpec, token_type: str) -> None:
    """Reserved, pad and OOV tokens must be of the same kind as the data's tokens."""
    integer = token_type == INT64
    kind = "integers" if integer else "strings"
    for key in ("reserved_tokens", "pad_token", "oov_token", "missing_token"):
        value = getattr(spec, key)
        values = list(value) if key == "reserved_tokens" else [value]
        wrong = [
            v
            for v in values
            if v is not None and (isinstance(v, int) and not isinstance(v, bool)) != integer
        ]
        if wrong:
            raise SpecError(
                f"The data's values are {kind}, so `{key}` must hold {kind} too "
                f"({wrong[0]!r} is not). Change {key}, or check the input field. "
                + received(**{key: value}),
                key=key,
            )


def _document_limits(spec: VocabSpec, stats: Mapping[str, Any] | None) -> tuple[int, int | None]:
    total = (stats or {}).get("documents")
    if spec.max_document_fraction is not None and total is None:
        raise SpecError(
            "`max_document_fraction` needs the number of documents: pass "
            "stats={'documents': N} to Vocabulary.from_counts. "
            + received(max_document_fraction=spec.max_document_fraction),
            key="max_document_fraction",
        )
    return spec.min_document_count or 0, spec.max_documents(total or 0)


def _document_rule(spec: VocabSpec, document_counts: Mapping | None, stats: Mapping | None):
    """A predicate: does a token pass ``min_document_count`` / ``max_document_fraction``?"""
    if not spec.counts_documents:
        return lambda token: True
    if document_counts is None:
        raise SpecError(
            "`min_document_count` / `max_document_fraction` need document counts per token; "
            "pass document_counts to Vocabulary.from_counts (build_vocabulary counts them). "
            + received(
                min_document_count=spec.min_document_count,
                max_document_fraction=spec.max_document_fraction,
            ),
            key="min_document_count",
        )
    low, high = _document_limits(spec, stats)
    return lambda token: (
        low <= document_counts.get(token, 0)
        and (high is None or document_counts.get(token, 0) <= high)
    )


def _uncounted(counts: Mapping, words: Mapping, fixed: set) -> int:
    """Occurrences of words left out of WordPiece learning (below min_count)."""
    return sum(c for t, c in counts.items() if t not in words and t not in fixed)


def _rows_of(needles: pa.Array, tokens: pa.Array) -> np.ndarray:
    """The row of each needle in distinct ``tokens`` (``-1`` when absent), for the
    special and inherited tokens a build looks up: the needles are hashed, not ``tokens``."""
    rows = np.full(len(needles), -1, dtype=np.int64)
    if not len(needles) or not len(tokens):
        return rows
    where = np.flatnonzero(is_in(tokens, needles).to_numpy(zero_copy_only=False))
    found = pc.index_in(needles, value_set=tokens.take(pa.array(where, type=pa.int64())))
    found = np.asarray(found.fill_null(-1).to_numpy(), dtype=np.int64)
    rows[found >= 0] = where[found[found >= 0]]
    return rows


def free_integer(keys: pa.Array) -> int:
    """An int64 value that is none of ``keys`` (distinct integers): the lowest one when
    free, else one below the smallest key or above the largest.

    >>> free_integer(pa.array([0, 5], pa.int64())), free_integer(pa.array([-2**63], pa.int64()))
    (-9223372036854775808, -9223372036854775807)
    """
    low = -(2**63)
    if not len(keys):
        return low
    values = keys.to_numpy(zero_copy_only=False)
    smallest, largest = int(values.min()), int(values.max())
    if smallest > low:
        return low
    if largest < 2**63 - 1:
        return largest + 1
    free = np.setdiff1d(np.arange(low, low + len(values) + 1, dtype=np.int64), values)
    return int(free[0])


def _take_or_zero(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``values[rows]``, 0 where ``rows`` is -1 (a token that was not counted)."""
    out = np.zeros(len(rows), dtype=np.int64)
    hit = rows >= 0
    out[hit] = values[rows[hit]]
    return out


def vocabulary_from_counts(
    tokens: pa.Array | pa.ChunkedArray,
    counts: pa.Array | pa.ChunkedArray | np.ndarray,
    spec: VocabSpec,
    token_type: str = STRING,
    *,
    document_counts: pa.Array | pa.ChunkedArray | np.ndarray | None = None,
    stats: Mapping[str, Any] | None = None,
    build: Mapping[str, Any] | None = None,
    parent: Vocabulary | None = None,
    retire: bool = False,
    count_scale: int = 1,
    cls: type | None = None,
) -> Vocabulary:
    """Select and order learned tokens from columns of distinct tokens and their counts
    (the one selection rule, columnar: ``Vocabulary.from_counts`` on arrays).

    ``tokens``: distinct tokens (Arrow ``binary``/``string``, or ``int64``);
    ``counts`` / ``document_counts``: parallel int64 columns. Everything else is as in
    ``Vocabulary.from_counts``. Tokens stay Arrow and numpy from selection to the
    fingerprint: no Python object per token (WordPiece, whose learner works on a word
    dictionary, is the exception).

    >>> import pyarrow as pa
    >>> from vocabguard import VocabSpec
    >>> v = vocabulary_from_counts(pa.array(["b", "a", "c"]), pa.array([2, 2, 5]), VocabSpec())
    >>> v.tokens
    ['[PAD]', '[UNK]', 'c', 'a', 'b']
    """
    cls = cls or Vocabulary
    tokens = token_array(tokens, token_type)
    counts = int64_array(counts)
    documents = None if document_counts is None else int64_array(document_counts)
    reserved, specials = special_tokens(spec, token_type)
    if spec.tokenizer == "wordpiece":
        # The WordPiece learner works on a word dictionary (its vocabulary is small).
        words = dict(zip(tokens.to_pylist(), counts.tolist()))
        return cls._from_word_counts(
            words, spec, token_type, reserved, specials, stats, build, parent, retire
        )
    arrow_type = arrow_token_type(token_type)
    reserved_array = pa.array(reserved, type=arrow_type)
    keep, low, high = _document_keep(spec, documents, stats)
    retired: set[int] = set()
    inherited = pa.array([], type=arrow_type)
    if parent is not None:
        spec, inherited, retired = _inherit(
            parent, spec, token_type, len(reserved), tokens, counts, keep, low, retire, count_scale
        )
    excluded = pa.concat_arrays([reserved_array, pa.array(specials, type=arrow_type), inherited])
    learned = _learned_rows(spec, tokens, counts, excluded, keep, len(inherited), count_scale)
    fixed = pa.concat_arrays([reserved_array, inherited])  # reserved + parent tokens
    chosen = pa.concat_arrays([fixed, take_tokens(tokens, learned)])
    token_counts, token_documents = _chosen_counts(fixed, learned, tokens, counts, documents)
    stats = dict(stats or {})
    if spec.counts_documents:
        stats["document_rule"] = {"min_documents": low, "max_documents": high}
    pad_count = _pad_count(spec, token_type, specials, tokens, counts, count_scale)
    coverage = _coverage(stats, spec, counts, token_counts, retired, pad_count, count_scale)
    stats.update(
        # Beam passes only the candidate counts, with the true distinct count.
        distinct_tokens=stats.get("distinct_tokens", len(tokens)),
        learned_tokens=len(chosen) - len(reserved) - len(retired),
        **coverage,
    )
    if parent is not None:
        stats.update(new_tokens=len(learned), retired_tokens=len(retired))
    return grow(
        cls,
        parent,
        len(learned),
        spec,
        token_type,
        chosen,
        token_counts,
        stats=stats,
        build=build,
        retired=retired,
        document_counts=token_documents,
    )


def _learned_rows(
    spec: VocabSpec,
    tokens: pa.Array,
    counts: np.ndarray,
    excluded: pa.Array,
    keep: np.ndarray | None,
    num_inherited: int,
    count_scale: int,
) -> np.ndarray:
    """Rows of ``tokens`` learned (the id rule's order); ``max_tokens`` caps the learned
    rows of the whole lineage, the ``num_inherited`` parent tokens included."""
    budget = spec.max_tokens
    if budget is not None:
        budget = max(0, budget - num_inherited)
    return select_rows(
        tokens,
        counts,
        min_count=spec.min_count_units(count_scale),
        max_tokens=budget,
        exclude=excluded,
        max_token_bytes=spec.max_token_bytes,
        keep=keep,
        descending=spec.tie_break == "bytes_descending",
    )


def _inherit(
    parent: Vocabulary,
    spec: VocabSpec,
    token_type: str,
    num_reserved: int,
    tokens: pa.Array,
    counts: np.ndarray,
    keep: np.ndarray | None,
    min_documents: int | None,
    retire: bool,
    count_scale: int,
) -> tuple[VocabSpec, pa.Array, set[int]]:
    """A child's ``(spec, inherited tokens, retired ids)``: the spec checked against the
    parent's (``lineage``), the parent's learned tokens, and its retired ids with those
    this build retires (``retire``)."""
    spec = check_lineage(parent, spec, token_type)
    inherited = parent.token_array.slice(num_reserved)
    retired = set(parent.retired)
    if retire:
        rows = _rows_of(inherited, tokens)
        inherited_counts = _take_or_zero(counts, rows)
        min_units = spec.min_count_units(count_scale)
        retired.update(
            newly_retired(parent, inherited_counts, rows, keep, min_documents, min_units)
        )
    return spec, inherited, retired


def _chosen_counts(
    fixed: pa.Array,
    learned: np.ndarray,
    tokens: pa.Array,
    counts: np.ndarray,
    documents: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Counts (and document counts) of the chosen tokens: the ``fixed`` ones (reserved and
    inherited, 0 when not counted), then the ``learned`` rows."""
    fixed_rows = _rows_of(fixed, tokens)
    token_counts = np.concatenate([_take_or_zero(counts, fixed_rows), counts[learned]])
    if documents is None:
        return token_counts, None
    return token_counts, np.concatenate([_take_or_zero(documents, fixed_rows), documents[learned]])


def _document_keep(
    spec: VocabSpec, documents: np.ndarray | None, stats: Mapping[str, Any] | None
) -> tuple[np.ndarray | None, int | None, int | None]:
    """The document rule per counted token: ``(keep, min_documents, max_documents)``
    (all ``None`` when the spec sets no rule)."""
    if not spec.counts_documents:
        return None, None, None
    if documents is None:
        _document_rule(spec, None, stats)  # raises: the rules need document counts
    low, high = _document_limits(spec, stats)
    keep = documents >= low
    if high is not None:
        keep &= documents <= high
    return keep, low, high


def _pad_count(
    spec: VocabSpec,
    token_type: str,
    specials: list[Token],
    tokens: pa.Array,
    counts: np.ndarray,
    count_scale: int,
) -> int:
    """How often the pad value occurs in the data; an integer pad found there is an error."""
    pad = spec.resolved_pad_token(token_type == INT64)
    if pad is None:
        return 0
    pad_row = _rows_of(pa.array(specials[:1], type=arrow_token_type(token_type)), tokens)
    pad_count = int(_take_or_zero(counts, pad_row)[0])
    if pad_count and token_type == INT64:
        raise _pad_in_data(spec, pad, pad_count, count_scale)
    return pad_count


def _coverage(
    stats: dict,
    spec: VocabSpec,
    counts: np.ndarray,
    token_counts: np.ndarray,
    retired: set[int],
    pad_count: int,
    count_scale: int,
) -> dict[str, float]:
    """``coverage`` and ``oov_rate``: shares of the total count (weight, when weighted)
    that the live tokens hold. Pops ``total_weight_units`` from ``stats``."""
    total = stats.get("total_tokens", int(counts.sum()))
    if count_scale != 1:
        # Weighted: coverage and OOV rate are shares of the total weight.
        total = stats.pop("total_weight_units", int(counts.sum()))
    start = 1 + spec.num_oov_buckets  # id of the first reserved token (row 0)
    live = np.ones(len(token_counts), dtype=bool)
    if retired:
        live[np.fromiter(retired, dtype=np.int64) - start] = False
    known = int(token_counts[live].sum())
    return {
        "coverage": (known / total) if total else 0.0,
        "oov_rate": ((total - known - pad_count) / total) if total else 0.0,
    }


def _checked_retired(retired: Iterable[int], layout: IdLayout, token_type: str) -> frozenset:
    """Retired ids, refused unless each is a learned id of a string vocabulary."""
    retired = frozenset(int(i) for i in retired)
    bad = sorted(i for i in retired if not layout.learned_start <= i < layout.used_ids)
    if bad:
        raise LayoutError(
            f"Retired id {bad[0]} is not a learned id (learned ids are "
            f"{layout.learned_start}..{layout.used_ids - 1}); only learned tokens "
            "can be retired. " + received(retired=bad[:10])
        )
    if retired and token_type == INT64:
        raise LayoutError(
            "Integer vocabularies cannot retire ids: every integer is a possible value, so "
            "no key can stand in for a retired row. Keep the ids (omit --retire). "
            + received(retired=sorted(retired)[:10])
        )
    return retired


# Arrow types a list or object array of tokens converts to that hold their UTF-8 bytes.
_TEXT_TYPES = (pa.string(), pa.binary(), pa.large_string(), pa.large_binary())


def _inner_nul(array: np.ndarray) -> bool:
    """True when a value of a numpy ``str`` or ``bytes`` array holds a NUL before its end
    (numpy keeps it; pyarrow's conversion of these arrays would cut the value there).

    >>> _inner_nul(np.array(["ab", "c"])), _inner_nul(np.array([b"a\\x00b", b"c"]))
    (False, True)
    """
    width = array.dtype.itemsize // (4 if array.dtype.kind == "U" else 1)
    if width < 2 or not len(array):
        return False
    unit = np.uint32 if array.dtype.kind == "U" else np.uint8
    zero = np.ascontiguousarray(array).view(unit).reshape(len(array), width) == 0
    # Trailing NULs are numpy's padding; a NUL followed by a character is inside a value.
    return bool((zero[:, :-1] & ~zero[:, 1:]).any())


class Vocabulary:
    """A vocabulary under the id contract.

    Ids: 0 pad, ``1..k`` OOV, then reserved tokens, then learned tokens; every
    id emitted lies in ``[0, input_dim)``. Build one with
    ``vocabguard.build_vocabulary`` or load one with ``VocabStore.load``.
    """

    def __init__(
        self,
        spec: VocabSpec,
        token_type: str,
        tokens: Sequence[Token] | pa.Array,
        counts: Sequence[int] | np.ndarray | pa.Array,
        *,
        name: str | None = None,
        version: int | None = None,
        stats: Mapping[str, Any] | None = None,
        build: Mapping[str, Any] | None = None,
        retired: Iterable[int] = (),
        parent: Mapping[str, Any] | None = None,
        document_counts: Sequence[int] | np.ndarray | pa.Array | None = None,
    ):
        """Tokens (ids ``k+1`` on: reserved, then learned) and their counts, as Arrow or
        numpy arrays (Python sequences are accepted and converted once)."""
        if token_type not in TOKEN_TYPES:
            raise ValueError(
                f"token_type must be one of {TOKEN_TYPES}. " + received(token_type=token_type)
            )
        self.spec = spec
        self.token_type = token_type
        integer = token_type == INT64
        self.pad_token = spec.resolved_pad_token(integer)
        self.oov_token = spec.resolved_oov_token(integer)
        # Columns, not Python objects: an Arrow array of tokens and numpy counts.
        self._token_array = token_array(tokens, token_type)
        self._count_array = int64_array(counts)
        if len(self._count_array) != len(self._token_array):
            raise ValueError(
                "counts must have one entry per token. "
                + received(tokens=len(self._token_array), counts=len(self._count_array))
            )
        # Documents holding each token (parallel to counts), when the build counted them.
        self._document_array = None if document_counts is None else int64_array(document_counts)
        if self._document_array is not None and len(self._document_array) != len(self._count_array):
            raise ValueError(
                "document_counts must have one entry per token. "
                + received(tokens=len(self._count_array), document_counts=len(self._document_array))
            )
        num_reserved = len(spec.resolved_reserved_tokens(integer))
        self.missing_token = spec.resolved_missing_token(integer)
        self.layout = IdLayout(
            num_oov_buckets=spec.num_oov_buckets,
            num_reserved=num_reserved,
            num_learned=len(self._token_array) - num_reserved,
            capacity=spec.capacity,
            pad_to_multiple_of=spec.pad_to_multiple_of,
        )
        self.name = name
        self.version = version
        self.stats = dict(stats or {})
        self.build = dict(build or {})
        self.retired = _checked_retired(retired, self.layout, token_type)
        # The parent this version was grown from: {"ref", "fingerprint", "input_dim"}.
        self.parent = dict(parent) if parent else None
        self.fingerprint = compute_fingerprint(self.contract(), self._token_array)
        # None: an integer vocabulary whose pad is an id only (no value maps to 0).
        self._pad_key = None if self.pad_token is None else as_token(self.pad_token, token_type)
        self._tokenizer = Tokenizer(spec)
        # The lookup index over [pad, *lookup keys]: built on the first lookup, then
        # shared by every call and thread (the lock makes the build happen once).
        self._index: TokenIndex | None = None
        self._index_lock = threading.Lock()
        self._piece_encoder = None  # WordPiece's numpy encoder, built on first use
        self.manifest: dict | None = None  # set when loaded from a store
        self.newly_published: bool | None = None  # set by VocabStore.publish

    def __getstate__(self) -> dict:
        # The lock cannot be pickled and the index is cheaper to rebuild than to ship.
        state = dict(self.__dict__)
        state.update(_index=None, _index_lock=None, _piece_encoder=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._index_lock = threading.Lock()

    def __copy__(self) -> Vocabulary:
        # A copy shares the columns and the built index, with a lock of its own.
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._index_lock = threading.Lock()
        return clone

    def lookup_index(self) -> TokenIndex:
        """The index every numpy lookup uses, over ``[pad, *lookup_key_array]``: built
        once per vocabulary (on first use, thread-safe), so a batch costs the batch."""
        index = self._index
        if index is None:
            with self._index_lock:
                index = self._index
                if index is None:
                    pad_key = self._pad_key
                    if pad_key is None:
                        pad_key = free_integer(self.lookup_key_array)  # matched rows -> OOV
                    pad = pa.array([pad_key], type=arrow_token_type(self.token_type))
                    keys = pa.concat_arrays([pad, self.lookup_key_array])
                    index = self._index = TokenIndex(keys)
        return index

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[Token, int],
        spec: VocabSpec,
        token_type: str = STRING,
        *,
        stats: Mapping[str, Any] | None = None,
        build: Mapping[str, Any] | None = None,
        parent: Vocabulary | None = None,
        retire: bool = False,
        count_scale: int = 1,
        document_counts: Mapping[Token, int] | None = None,
    ) -> Vocabulary:
        """Select and order learned tokens from token counts (the one selection rule).

        ``count_scale``: counts are weighted counts in units of ``1 / count_scale``
        (``min_count`` applies to the weighted count).

        ``document_counts``: documents holding each token, needed when the spec sets
        ``min_document_count`` / ``max_document_fraction`` (``stats["documents"]`` is
        the total); tokens outside those limits are not learned (parent tokens keep
        their ids, or with ``retire=True`` map to OOV).

        With ``parent``, ids are stable: every parent token keeps its id, new
        tokens are appended after the parent's last id (count descending, ties by
        bytes ascending), and no id is reused. Parent tokens whose count fell
        below ``min_count`` keep their ids, or with ``retire=True`` map to OOV
        while their rows stay reserved. ``max_tokens`` caps the learned rows of
        the whole lineage; ``input_dim`` never shrinks.

        >>> from vocabguard import VocabSpec
        >>> v1 = Vocabulary.from_counts({b"a": 5, b"b": 3}, VocabSpec())
        >>> v2 = Vocabulary.from_counts({b"c": 9, b"b": 1}, VocabSpec(), parent=v1)
        >>> v2.tokens[2:], v2.token_to_id("a") == v1.token_to_id("a")
        (['a', 'b', 'c'], True)
        """
        keys = list(counts)
        return vocabulary_from_counts(
            token_array(keys, token_type),
            np.fromiter((counts[k] for k in keys), dtype=np.int64, count=len(keys)),
            spec,
            token_type,
            document_counts=None
            if document_counts is None
            else np.fromiter(
                (document_counts.get(k, 0) for k in keys), dtype=np.int64, count=len(keys)
            ),
            stats=stats,
            build=build,
            parent=parent,
            retire=retire,
            count_scale=count_scale,
            cls=cls,
        )

    @classmethod
    def _from_word_counts(
        cls, counts, spec, token_type, reserved, specials, stats, build, parent, retire
    ):
        """WordPiece: learn pieces from the word counts; order them by the id rule.

        With ``parent``, every parent piece keeps its id and the newly learned pieces
        are appended (in the id rule's order, counted with the union of both, which is
        what encoding then uses).
        """

        inherited: list[Token] = []
        if parent is not None:
            if retire:
                refuse_wordpiece_retire(spec)
            spec = check_lineage(parent, spec, token_type)
            inherited = parent.token_bytes[len(reserved) :]
        if token_type != STRING:
            raise SpecError(
                "`tokenizer: wordpiece` needs text values. " + received(token_type=token_type),
                key="tokenizer",
            )
        fixed = set(reserved) | set(specials)
        words = {t: c for t, c in counts.items() if t not in fixed and c >= spec.min_count}
        kept = set(inherited)
        learned = [p for p in learn_pieces(words, spec) if p not in fixed and p not in kept]
        counted, oov_words = piece_counts(inherited + learned, words, spec)
        new = order_pieces({p: counted[p] for p in learned})
        pieces = inherited + new
        stats = dict(stats or {})
        total_words = stats.get("total_tokens", sum(counts.values()))
        stats.update(
            distinct_tokens=stats.get("distinct_tokens", len(counts)),
            learned_tokens=len(pieces),
            wordpiece={
                "words": int(total_words),
                "distinct_words": int(stats.get("distinct_tokens", len(counts))),
                "learned_from_words": len(words),
                "pieces_of_counted_words": int(sum(counted.values())),
                "oov_words": int(oov_words),
            },
            # Shares of the word occurrences: a word is covered when it splits into pieces
            # (words below min_count are not counted in, so they count as OOV here).
            coverage=((total_words - oov_words - _uncounted(counts, words, fixed)) / total_words)
            if total_words
            else 0.0,
        )
        stats["oov_rate"] = 1.0 - stats["coverage"] if total_words else 0.0
        if parent is not None:
            stats.update(new_tokens=len(new), retired_tokens=0)
        return grow(
            cls,
            parent,
            len(new),
            spec,
            token_type,
            reserved + pieces,
            [counts.get(t, 0) for t in reserved] + [counted[p] for p in pieces],
            stats=stats,
            build=build,
        )

    def decode_text(self, ids: Iterable[int] | np.ndarray) -> str | list[str]:
        """Text of ids: tokens joined by spaces; WordPiece pieces rejoined into words.

        A 2-D input gives one string per row. Pad ids are skipped; OOV ids give the
        OOV token. Raises ``IdRangeError`` for ids outside ``[0, input_dim)``.

        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> v = build_vocabulary(["cats cat"], VocabSpec(tokenizer="wordpiece", vocab_size=20),
        ...     progress=False)
        >>> v.decode_text(v.encode(["cats"])[0])
        'cats'
        """
        array = guard_ids(np.asarray(ids), self.input_dim)
        if array.ndim > 1:
            return [self.decode_text(row) for row in array]
        tokens = [str(t) for t in self.decode(array)]
        if self.spec.tokenizer != "wordpiece":
            return " ".join(tokens)

        return join_pieces(tokens, resolved_joiner(self.spec))

    # -- the contract --

    def contract(self) -> dict:
        contract = encoding_contract(self.spec, self.token_type, self.layout)
        if self.retired:
            # Retired rows change which id a token gets, so they are part of the
            # contract (and the fingerprint); vocabularies without any keep theirs.
            contract["retired_ids"] = sorted(self.retired)
        return contract

    @property
    def input_dim(self) -> int:
        """``Embedding(input_dim)`` for this vocabulary; every id is below it."""
        return self.layout.input_dim

    @property
    def pad_id(self) -> int:
        return self.layout.pad_id

    @property
    def oov_ids(self) -> range:
        return self.layout.oov_ids

    @property
    def num_oov_buckets(self) -> int:
        return self.layout.num_oov_buckets

    @property
    def ref(self) -> str | None:
        """``name@vN`` once published, else ``None``."""
        return f"{self.name}@v{self.version}" if self.name and self.version else None

    @property
    def tokens(self) -> list:
        """Token of each used id, in id order: ``[pad, oov x k, reserved..., learned...]``.

        Like Keras' ``get_vocabulary()``. Strings are ``str`` (``bytes`` if not
        valid UTF-8); integer vocabularies hold ``int``.
        """
        head = [self.pad_token] + [self.oov_token] * self.num_oov_buckets
        return head + [display_token(t) for t in self._token_array.to_pylist()]

    @property
    def token_array(self) -> pa.Array:
        """Reserved then learned tokens (ids ``k+1`` on) as an Arrow array (``binary``
        or ``int64``): what every large-scale path (publish, lookup, tables) reads."""
        return self._token_array

    @property
    def count_array(self) -> np.ndarray:
        """Corpus count of each token of ``token_array`` (int64)."""
        return self._count_array

    @property
    def document_array(self) -> np.ndarray | None:
        """``document_counts`` as an int64 array (``None`` when not counted)."""
        return self._document_array

    @property
    def token_bytes(self) -> list[Token]:
        """``token_array`` as a Python list of bytes (or int): for small uses only."""
        return self._token_array.to_pylist()

    @property
    def lookup_key_array(self) -> pa.Array:
        """``token_array`` as lookup tables hold it: retired rows get ``retired_key(id)``.

        Every lookup twin (numpy, tf.lookup, Keras StringLookup, exported
        vocab files) is built from these keys, so a retired token maps to OOV
        everywhere while its row stays reserved.
        """
        if not self.retired:
            return self._token_array
        start = self.layout.reserved_start
        ids = sorted(self.retired)
        mask = np.zeros(len(self._token_array), dtype=bool)
        mask[np.asarray(ids) - start] = True
        return pc.replace_with_mask(
            self._token_array, pa.array(mask), pa.array([retired_key(i) for i in ids])
        )

    @property
    def lookup_keys(self) -> list[Token]:
        """``lookup_key_array`` as a Python list (for small uses only)."""
        return self.lookup_key_array.to_pylist()

    @property
    def counts(self) -> list[int]:
        """Corpus count of each token of ``token_bytes`` (a list; see ``count_array``)."""
        return self._count_array.tolist()

    @property
    def document_counts(self) -> list[int] | None:
        """Documents holding each token of ``token_bytes`` (``None`` when not counted:
        only builds with ``min_document_count`` / ``max_document_fraction`` count them)."""
        return None if self._document_array is None else self._document_array.tolist()

    def __len__(self) -> int:
        return self.layout.used_ids

    def __repr__(self) -> str:
        where = self.ref or "unpublished"
        return (
            f"Vocabulary({where}, input_dim={self.input_dim}, "
            f"oov_ids={self.oov_ids.start}..{self.oov_ids.stop - 1}, "
            f"fingerprint={self.fingerprint[:12]})"
        )

    # -- single tokens --

    def token_to_id(self, token: str | bytes | int) -> int:
        """The id of one (already tokenized) token; unknown tokens get their OOV id."""
        key = as_token(token, self.token_type)
        return int(self._lookup_flat(pa.array([key], type=arrow_token_type(self.token_type)))[0])

    def row(self, id_: int) -> tuple[Token, int]:
        """``(token, count)`` of a reserved or learned id (canonical token: bytes or int)."""
        index = int(id_) - self.layout.reserved_start
        if not 0 <= index < len(self._token_array):
            raise IndexError(f"id {id_} is not a reserved or learned id. " + received(id=id_))
        return self._token_array[index].as_py(), int(self._count_array[index])

    def id_to_token(self, id_: int) -> str | bytes | int:
        """The token of one id (OOV ids give the OOV token; retired and unused rows too)."""
        guard_ids(np.asarray([id_]), self.input_dim)
        if id_ == self.pad_id:
            return self.pad_token
        index = int(id_) - self.layout.reserved_start
        if 0 <= index < len(self._token_array) and int(id_) not in self.retired:
            return display_token(self._token_array[index].as_py())
        return self.oov_token

    # -- batches --

    @property
    def id_dtype(self) -> np.dtype:
        return np.dtype(self.spec.id_dtype)

    def _lookup_flat(self, flat: pa.Array) -> np.ndarray:
        """Ids of a flat Arrow array of tokens (binary, or int64 for integer vocabularies)."""
        if self.token_type == STRING and not pa.types.is_binary(flat.type):
            # A string array is a binary one with the same buffers: a view, not a cast.
            flat = flat.view(pa.binary()) if flat.type == pa.string() else flat.cast(pa.binary())
        index = self.lookup_index().rows(flat)
        if self._pad_key is None:
            # No pad value: a stand-in key, any match is unknown.
            index = np.where(index == 0, -1, index)
        # Index row 0 is the pad token; index i >= 1 is the i-th reserved or
        # learned token, whose id is reserved_start + i - 1 (layout.py owns this).
        first = self.layout.reserved_start
        ids = index + (first - 1)
        below = ids < first  # the pad row or unknown: none in most batches
        if not below.any():
            return ids.astype(self.id_dtype, copy=False)
        ids[index == 0] = self.pad_id
        unknown = index < 0
        if unknown.any():
            if self.num_oov_buckets == 1:
                ids[unknown] = 1
            elif self.token_type == INT64:
                values = flat.to_numpy(zero_copy_only=False)[unknown]
                ids[unknown] = 1 + np.mod(values, self.num_oov_buckets)
            else:
                misses = flat.filter(pa.array(unknown)).to_pylist()
                ids[unknown] = [oov_bucket(t, self.num_oov_buckets) for t in misses]
        return ids.astype(self.id_dtype, copy=False)

    def lookup(self, tokens: Iterable) -> np.ndarray | list[np.ndarray]:
        """Ids of already-tokenized input: a flat sequence gives a 1-D array,
        a sequence of sequences gives a list of arrays (padded 2-D with sequence_length).

        Lists, numpy arrays (``str``, ``bytes``, object, integer) and Arrow arrays (string,
        binary, their large and dictionary forms, lists of them) give the same ids.

        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> v = build_vocabulary(["x y y"], VocabSpec(), progress=False)
        >>> v.lookup(["y", "nope", "[PAD]"]).tolist()
        [2, 1, 0]
        """
        if isinstance(tokens, pa.ChunkedArray):
            tokens = tokens.combine_chunks()
        if isinstance(tokens, pa.Array):
            kind = tokens.type
            if pa.types.is_list(kind) or pa.types.is_large_list(kind):
                return self._split(tokens, self._lookup_missing(tokens.flatten()))
            return self._lookup_missing(tokens)
        items = tokens if isinstance(tokens, np.ndarray) else list(tokens)
        arrow_type = pa.int64() if self.token_type == INT64 else pa.binary()
        nested = len(items) > 0 and isinstance(items[0], (list, tuple, np.ndarray))
        if not nested:
            values = self._one_conversion(items)
            if values is None:
                values = pa.array(
                    [None if t is None else as_token(t, self.token_type) for t in items],
                    type=arrow_type,
                )
            return self._lookup_missing(values)
        lists = pa.array(
            [[None if t is None else as_token(t, self.token_type) for t in row] for row in items],
            type=pa.list_(arrow_type),
        )
        return self._split(lists, self._lookup_missing(lists.flatten()))

    def _one_conversion(self, items: list | np.ndarray) -> pa.Array | None:
        """Flat tokens as an Arrow array in one call into pyarrow (no Python call per token),
        or ``None`` where the per-token path must decide: it names a bad token, and this
        accepts only what that path would turn into the same bytes or integers.

        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> v = build_vocabulary(["x"], VocabSpec(), progress=False)
        >>> v._one_conversion(np.array(["x", "é"])).to_pylist(), v._one_conversion([1, 2])
        (['x', 'é'], None)
        """
        integer = self.token_type == INT64
        plain = isinstance(items, list) or (items.dtype == object and items.ndim == 1)
        if not integer and plain:
            # Straight to binary: no type inference (most of a small batch's conversion)
            # and no cast after. It accepts exactly what the per-token path turns into the
            # same bytes (str as UTF-8, bytes-like, None) and raises on anything else.
            try:
                return pa.array(items, type=pa.binary())
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                return None
        if isinstance(items, np.ndarray):
            kind = items.dtype.kind
            if items.ndim != 1:
                return None
            if integer and (kind == "i" or (kind == "u" and items.dtype.itemsize < 8)):
                return pa.array(items.astype(np.int64, copy=False))
            if not integer and kind in "US" and not _inner_nul(items):
                return pa.array(items)  # numpy's fixed-width str / bytes, no Python objects
            if not integer and kind in "US":
                items = items.astype(object)  # pyarrow would cut each value at a NUL
            elif kind != "O":
                return None
        try:
            values = pa.array(items)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
        if integer:
            return values if values.type == pa.int64() else None
        return values if values.type in _TEXT_TYPES else None

    def _lookup_missing(self, flat: pa.Array) -> np.ndarray:
        """``_lookup_flat``, with null tokens mapped by the ``missing`` policy."""
        if not flat.null_count:
            return self._lookup_flat(flat)
        null = flat.is_null().to_numpy(zero_copy_only=False)
        if self.missing_id is None:
            raise missing_error(int(np.argmax(null)), None, None)
        ids = np.array(self._lookup_flat(flat.fill_null(0 if self.token_type == INT64 else b"")))
        ids[null] = self.missing_id
        return ids

    @property
    def missing_id(self) -> int | None:
        """The id a missing value encodes to: the missing token's (``missing: token``),
        the first OOV id (``oov``), the pad id (``skip``); ``None`` under ``error``."""
        policy = self.spec.missing
        if policy == "token":
            return self.layout.reserved_start
        if policy == "oov":
            return self.oov_ids.start
        if policy == "skip":
            return self.pad_id
        return None

    def _simple(self, values: Sequence) -> bool:
        """True when every value is one plain token or text (the fast Arrow path)."""
        if self.spec.value_shape == "list":
            return False
        empty_is_missing = self.spec.tokenizer == "none"  # refused under missing: error
        for value in values:
            if not plain_value(value) or (empty_is_missing and value in ("", b"")):
                return False  # values.record_tokens names a bad value
        return True

    def _tokens_and_ids(self, texts: Iterable) -> tuple[pa.ListArray | None, np.ndarray]:
        """Token lists (``None`` when each value is one token) and the flat ids."""
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        if isinstance(texts, pa.Array):
            nested = pa.types.is_list(texts.type) or pa.types.is_large_list(texts.type)
            # An integer vocabulary fed floats or uint64: each value is checked (an
            # error naming it), never cast (2.9 -> 2, 2**64 - 1 -> -1).
            unchecked = self.token_type == INT64 and texts.type != pa.int64()
            if nested or texts.null_count or self.spec.value_shape == "list" or unchecked:
                texts = texts.to_pylist()
            elif self.spec.tokenizer == "none":
                # Empty values are missing: only then leave the Arrow fast path.
                if (
                    not pa.types.is_integer(texts.type)
                    and pc.any(pc.equal(pc.binary_length(texts), 0)).as_py()
                ):
                    texts = texts.to_pylist()
        if not isinstance(texts, pa.Array):
            texts = texts if isinstance(texts, list) else list(texts)
            if not self._simple(texts):
                return self._record_ids(texts)
        values = (
            texts
            if isinstance(texts, pa.Array)
            else pa.array(texts, type=pa.int64() if self.token_type == INT64 else None)
        )
        if self.token_type == INT64:
            return None, self._lookup_flat(values.cast(pa.int64()))
        if self.spec.tokenizer == "wordpiece":
            return self._piece_ids(self._tokenizer.wordpiece_spaced_arrow(values))
        lists = self._tokenizer.tokenize_arrow(values)
        ids = self._lookup_flat(lists.flatten())
        return (None if self.spec.tokenizer == "none" else lists), ids

    def _piece_ids(self, spaced: pa.Array) -> tuple[pa.ListArray, np.ndarray]:
        """WordPiece: (lists with each text's number of pieces, the pieces' ids) of texts
        prepared by ``Tokenizer.wordpiece_spaced_arrow``."""

        if self._piece_encoder is None:
            start = self.layout.reserved_start
            vocab = {
                t: i
                for i, t in enumerate(self._token_array.to_pylist(), start)
                if i not in self.retired
            }
            self._piece_encoder = PieceEncoder(vocab, self.spec, self.oov_ids.start)
        lengths, ids = self._piece_encoder.encode_texts(spaced)
        return lists_with_lengths(lengths), ids.astype(self.id_dtype, copy=False)

    def _record_ids(self, values: list) -> tuple[pa.ListArray | None, np.ndarray]:
        """Ids of records holding lists or missing values (see ``values.record_tokens``)."""

        if self.spec.tokenizer == "wordpiece":
            raise SpecError(
                "`tokenizer: wordpiece` encodes one text per value; lists of texts and "
                "missing values are not supported. Pass strings. "
                + received(
                    value=next((v for v in values if not isinstance(v, (str, bytes))), None)
                ),
                key="tokenizer",
            )

        tokens = record_tokens(values, self.spec, self._tokenizer, self.token_type)
        flat = tokens.flat
        null = flat.is_null().to_numpy(zero_copy_only=False)
        if null.any():
            flat = flat.fill_null(0 if self.token_type == INT64 else b"")
        ids = self._lookup_flat(flat) if len(flat) else np.zeros(0, dtype=self.id_dtype)
        if null.any():
            ids = np.array(ids, copy=True)
            ids[null] = self.missing_id
        scalar = (
            self.spec.tokenizer == "none"
            and not tokens.has_lists
            and self.spec.value_shape != "list"
        )
        return (None if scalar else tokens.lists), ids

    def encode(self, texts: Iterable) -> np.ndarray | list[np.ndarray]:
        """Tokenize and look up texts with numpy/pyarrow (no TensorFlow import).

        Returns a list of 1-D id arrays, or a padded ``[n, sequence_length]``
        array when the spec sets ``sequence_length``. With ``tokenizer: none``
        each value is one token and the result is one 1-D array.
        """
        lists, ids = self._tokens_and_ids(texts)
        return ids if lists is None else self._split(lists, ids)

    def encode_arrow(self, texts: Iterable) -> pa.Array:
        """Like ``encode``, as an Arrow array ready for Parquet or Beam.

        ``list<int32|int64>`` with one list per text (each exactly
        ``sequence_length`` long, padded with 0, when set), or a flat int array
        when each value is one token (``tokenizer: none``, integers).

        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> v = build_vocabulary(["a b b"], VocabSpec(), progress=False)
        >>> v.encode_arrow(["b a", "zz"]).to_pylist()
        [[2, 3], [1]]
        """
        lists, ids = self._tokens_and_ids(texts)
        id_type = pa.from_numpy_dtype(self.id_dtype)
        if lists is None:
            return pa.array(ids, type=id_type)
        if self.spec.sequence_length is not None:
            padded = self._split(lists, ids)
            offsets = np.arange(0, padded.size + 1, self.spec.sequence_length, dtype=np.int32)
            return pa.ListArray.from_arrays(pa.array(offsets), pa.array(padded.reshape(-1)))
        lengths = pc.list_value_length(lists).fill_null(0).to_numpy()
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids, type=id_type))

    def _split(self, lists: pa.ListArray, ids: np.ndarray) -> np.ndarray | list[np.ndarray]:
        lengths = pc.list_value_length(lists).fill_null(0).to_numpy()
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        length = self.spec.sequence_length
        if length is None:
            return np.split(ids, bounds[1:-1])
        # Scatter each id to (row, column); columns past sequence_length are cut.
        rows = np.repeat(np.arange(len(lengths)), lengths)
        columns = np.arange(len(ids)) - np.repeat(bounds[:-1], lengths)
        keep = columns < length
        out = np.zeros((len(lengths), length), dtype=self.id_dtype)  # 0 is the pad id
        out[rows[keep], columns[keep]] = ids[keep]
        return out

    def decode(self, ids: Iterable[int] | np.ndarray, *, skip_pad: bool = True) -> list:
        """Tokens of ids (a 1-D sequence gives a list, 2-D a list of lists).

        Raises ``IdRangeError`` for any id outside ``[0, input_dim)``.
        """
        array = guard_ids(np.asarray(ids), self.input_dim)
        if array.ndim > 1:
            return [self.decode(row, skip_pad=skip_pad) for row in array]
        return [self.id_to_token(int(i)) for i in array if not (skip_pad and i == self.pad_id)]

    def check_ids(self, ids: np.ndarray) -> np.ndarray:
        """``guard_ids(ids, self.input_dim)``."""
        return guard_ids(ids, self.input_dim)


__all__ = ["IdRangeError", "Vocabulary"]
