"""Text to tokens, without TensorFlow: the Python/pyarrow twin of ``vocabguard.tf``.

Every path applies the same steps, in this order:

1. invalid UTF-8 is replaced by U+FFFD, one per maximal invalid subpart (what
   ``bytes.decode("utf-8", "replace")`` and ICU's transcoder both do);
2. Unicode normalization (``none``, ``NFC`` or ``NFKC``);
3. lowercasing with full Unicode case mapping (``str.lower``; TF's ICU lowercasing);
   then the spec's ``standardize`` (Keras ``TextVectorization``'s: ASCII lowercasing as
   ``tf.strings.lower``, removing Keras' punctuation class ``STRIP_PUNCTUATION``; RE2 on
   both paths);

   steps 2 and 3 act only on the code points both implementations map alike: the
   code points of ``unicode_table.KEPT_RANGES`` (unassigned in the Unicode version
   the table was generated with, or mapped differently by Python's ``unicodedata``
   and TensorFlow's ICU) are kept unchanged by every path, and the text between
   them is transformed piece by piece, so the paths agree whatever Unicode version
   each library ships;
4. splitting:

   - ``whitespace``: on runs of Unicode White_Space (the 25 code points listed in
     ``WHITESPACE``), the same explicit class on every path;
   - ``regex``: on matches of an RE2 pattern (pyarrow and tensorflow-text both run RE2);
   - ``unicode_script``: tensorflow-text's ICU script tokenizer (no pure-Python twin:
     this path calls tensorflow-text, so ids stay identical by construction);
   - ``none``: the value is the token. With no normalization and no lowercasing,
     values are opaque bytes and pass through unchanged (even invalid UTF-8).

Empty tokens are dropped by every splitting tokenizer. Tokens are ``bytes``
(UTF-8): a token can be any byte string, and the artifact stores it exactly.

>>> from vocabguard._src.core.spec import VocabSpec
>>> Tokenizer(VocabSpec(lowercase=True)).tokenize("Hello\\u00a0WORLD  ok")
[b'hello', b'world', b'ok']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.unicode_script import split_arrow
from vocabguard._src.core.unicode_table import KEPT_RANGES
from vocabguard._src.core.wordpiece import (
    CLEAN_PATTERN,
    CLEAN_PATTERN_PY,
    never_split_pattern,
    word_char_pattern,
)

# Unicode White_Space (PropList.txt). Written out rather than `\s` because `\s`
# means different sets in Python (adds U+001C..U+001F), RE2 (ASCII only) and ICU.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# One pattern string, valid in Python `re` and in RE2, used by both twins.
WHITESPACE_PATTERN = "[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
_WHITESPACE_RE = re.compile(WHITESPACE_PATTERN)
# Keras TextVectorization's punctuation class (``strip_punctuation``), verbatim.
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
_STRIP_RE = re.compile(STRIP_PUNCTUATION)
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _kept_class(escape) -> str:
    parts = []
    for first, last in KEPT_RANGES:
        # RE2 (TensorFlow) has no surrogates: text is valid UTF-8 there.
        for lo, hi in ((first, min(last, 0xD7FF)), (max(first, 0xE000), last)):
            if lo <= hi:
                parts.append(escape(lo) if lo == hi else f"{escape(lo)}-{escape(hi)}")
    return "[" + "".join(parts) + "]"


# The code points lowercasing and normalization keep (see the module docstring):
# one class, written for Python's `re` and for RE2 (vocabguard.tf).
KEPT_PATTERN_RE2 = _kept_class(lambda c: f"\\x{{{c:X}}}")
# Membership of every code point, one byte each (1.1 MB): Python's `re` tests a
# class of non-BMP ranges one range at a time, too slow for a class this size.
_KEPT = bytearray(0x110000)
for _first, _last in KEPT_RANGES:
    _KEPT[_first : _last + 1] = b"\x01" * (_last - _first + 1)
del _first, _last
# The non-ASCII part of WHITESPACE. Without these, splitting on White_Space is
# splitting on ASCII whitespace (\t \n \v \f \r and space), which Arrow does
# without a regex engine, several times faster; the property tests cover both.
NON_ASCII_WHITESPACE_PATTERN = "[\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def _to_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class Tokenizer:
    """Tokenizes text the way a ``VocabSpec`` says, in pure Python or over Arrow arrays.

    Args:
        spec: the vocabulary spec whose tokenizer fields apply.
    """

    def __init__(self, spec: VocabSpec):
        self.spec = spec
        self._transforms = (
            spec.normalization != "none"
            or spec.lowercase
            or spec.standardize is not None
            or spec.strip_accents
            or spec.clean_text
        )

    # -- one value --

    def normalize(self, value: str | bytes) -> str:
        """Steps 1-3 (decode, normalize, lowercase) on one value."""
        text = _to_text(value)
        if not self._transforms:
            return text
        if self.spec.clean_text:
            text = re.sub(CLEAN_PATTERN_PY, "", text)
        return _standardize(self._transform_around_kept(text), self.spec.standardize)

    def _transform_around_kept(self, text: str) -> str:
        """Kept code points stay as they are; the pieces between are transformed alone."""
        out, start = [], 0
        for i, char in enumerate(text):
            if _KEPT[ord(char)]:
                out.append(self._transform(text[start:i]))
                out.append(char)
                start = i + 1
        if not out:
            return self._transform(text)
        out.append(self._transform(text[start:]))
        return "".join(out)

    def _transform(self, text: str) -> str:
        if self.spec.normalization != "none":
            text = unicodedata.normalize(self.spec.normalization, text)
        if self.spec.lowercase:
            text = text.lower()
        if self.spec.strip_accents:
            text = "".join(
                c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
            )
        return text

    def tokenize(self, value: str | bytes) -> list[bytes]:
        """The tokens of one text, as UTF-8 bytes."""
        return self.tokenize_arrow(pa.array([value])).flatten().to_pylist()

    # -- Arrow batches (the fast path used by build and encode) --

    def normalize_arrow(self, values: pa.Array) -> pa.Array:
        """Steps 1-3 over an Arrow string/binary array; returns a string array."""
        return _standardize_arrow(self._normalize_arrow(values), self.spec.standardize)

    def _normalize_arrow(self, values: pa.Array) -> pa.Array:
        values = _as_valid_utf8(values)
        if not self._transforms:
            return values
        if self.spec.clean_text:  # BERT's: before everything else, ASCII controls too
            values = pc.replace_substring_regex(values, CLEAN_PATTERN, "")
        # ASCII is invariant under NFC/NFKC, and ASCII lowercasing equals full
        # Unicode lowercasing on ASCII: those rows stay in Arrow.
        fast = pc.ascii_lower(values) if self.spec.lowercase else values
        if _all_ascii(values):
            return fast
        is_ascii = pc.string_is_ascii(values)
        # Arrow's utf8_lower/utf8_normalize use utf8proc, whose case mapping differs
        # from ICU's (final sigma, U+0130); Python's matches TF's, so the other
        # rows go through Python.
        slow_rows = pc.indices_nonzero(pc.invert(is_ascii.fill_null(True)))
        slow_values = values.take(slow_rows)
        # Rows holding a kept code point (found by RE2, vectorized) go piece by piece.
        has_kept = pc.match_substring_regex(slow_values, KEPT_PATTERN_RE2).to_pylist()
        slow = [
            None if v is None else self._transform_around_kept(v) if kept else self._transform(v)
            for v, kept in zip(slow_values.to_pylist(), has_kept)
        ]
        return pc.replace_with_mask(
            fast, pc.invert(is_ascii.fill_null(True)), pa.array(slow, type=pa.string())
        )

    def wordpiece_spaced_arrow(self, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """WordPiece's words of each text as one string: normalized, with a space on
        both sides of every punctuation character. Its words are its runs of characters
        other than Unicode White_Space (``tokenize_arrow`` splits it there)."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        spaced = _punctuation_spaced(self.normalize_arrow(values), self.spec.split_cjk)
        if not self.spec.never_split:
            return spaced
        return self._with_never_split(_as_valid_utf8(values), spaced)

    def _with_never_split(self, values: pa.Array, spaced: pa.Array) -> pa.Array:
        """``spaced`` with the texts that hold a ``never_split`` token redone: each such
        token (found before normalization, leftmost and longest first) is a word as it
        is, and the text between them is normalized and spaced piece by piece."""
        pattern = never_split_pattern(self.spec.never_split)
        has = pc.match_substring_regex(values, pattern).fill_null(False)
        if not pc.any(has).as_py():
            return spaced
        splitter = re.compile(f"({pattern})")
        parts = [splitter.split(text) for text in values.filter(has).to_pylist()]
        # Even positions are the text between tokens, odd ones the tokens.
        between = [piece for row in parts for piece in row[::2]]
        done = iter(
            _punctuation_spaced(
                self.normalize_arrow(pa.array(between, type=pa.string())), self.spec.split_cjk
            ).to_pylist()
        )
        rows = [
            " ".join(piece if i % 2 else next(done) for i, piece in enumerate(row)) for row in parts
        ]
        return pc.replace_with_mask(spaced, has, pa.array(rows, type=pa.string()))

    def tokenize_arrow(self, values: pa.Array | pa.ChunkedArray) -> pa.ListArray:
        """Tokenize an Arrow array of texts into a list<binary> array (one list per text)."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        tokenizer = self.spec.tokenizer
        if tokenizer == "none":
            if not self._transforms:
                flat = values.cast(pa.binary()) if pa.types.is_string(values.type) else values
            else:
                flat = self.normalize_arrow(values).cast(pa.binary())
            offsets = pa.array(range(len(flat) + 1), type=pa.int32())
            return pa.ListArray.from_arrays(offsets, flat)
        if tokenizer == "wordpiece":
            return _drop_empty(
                pc.split_pattern_regex(self.wordpiece_spaced_arrow(values), WHITESPACE_PATTERN)
            ).cast(pa.list_(pa.binary()))  # no n-grams with WordPiece (spec)
        text = self.normalize_arrow(values)
        if tokenizer == "unicode_script":
            words = split_arrow(text)
        else:
            if tokenizer == "whitespace" and (
                _all_ascii(text)
                or not pc.any(pc.match_substring_regex(text, NON_ASCII_WHITESPACE_PATTERN)).as_py()
            ):
                pieces = pc.ascii_split_whitespace(text)
            else:
                pattern = WHITESPACE_PATTERN if tokenizer == "whitespace" else self.spec.pattern
                pieces = pc.split_pattern_regex(text, pattern)
            words = _drop_empty(pieces).cast(pa.list_(pa.binary()))
        if self.spec.ngrams is None:
            return words
        return ngrams_arrow(words, self.spec.ngrams, self.spec.ngram_separator)


def _standardize(text: str, standardize: str | None) -> str:
    """Keras' standardization of one text (``VocabSpec.standardize``)."""
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = text.translate(_ASCII_LOWER)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = _STRIP_RE.sub("", text)
    return text


def _standardize_arrow(text: pa.Array, standardize: str | None) -> pa.Array:
    """``_standardize`` over an Arrow string array (RE2, as TensorFlow)."""
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = pc.ascii_lower(text)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = pc.replace_substring_regex(text, STRIP_PUNCTUATION, "")
    return text


def _punctuation_spaced(text: pa.Array, split_cjk: bool = False) -> pa.Array:
    """WordPiece's pre-tokenizer, first step: every punctuation character (and with
    ``split_cjk`` every CJK ideograph) is its own word."""
    return pc.replace_substring_regex(text, word_char_pattern(split_cjk), " \\0 ")


def ngrams_arrow(words: pa.ListArray, widths: Sequence[int], separator: str) -> pa.ListArray:
    """The n-grams of each list of words, in ``tf.strings.ngrams``' order.

    Each row becomes its 1-grams, then its 2-grams, ... (for the ``widths`` given),
    each n-gram the ``separator``-joined words ``i..i+n-1``; a row shorter than
    ``n`` has no n-gram of width ``n``.

    >>> words = pa.array([[b"a", b"b", b"c"], [b"d"]], type=pa.list_(pa.binary()))
    >>> ngrams_arrow(words, (1, 2), " ").to_pylist()
    [[b'a', b'b', b'c', b'a b', b'b c'], [b'd']]
    """
    words = words.cast(pa.list_(pa.binary()))
    if words.offset or words.null_count:
        words = pa.ListArray.from_arrays(
            pa.array(
                np.concatenate([[0], np.cumsum(pc.list_value_length(words).fill_null(0))]).astype(
                    np.int32
                )
            ),
            words.flatten(),
        )
    flat = words.flatten()
    offsets = words.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    rows = len(words)
    lengths = np.diff(offsets)
    row_of = np.repeat(np.arange(rows), lengths)
    row_end = np.repeat(offsets[1:], lengths)
    position = np.arange(len(flat), dtype=np.int64)
    sep = pa.scalar(separator.encode("utf-8"), type=pa.binary())
    pieces, keys_row, keys_width, keys_position = [], [], [], []
    for rank, n in enumerate(widths):
        start = position[position + n <= row_end]
        if n == 1:
            gram = flat.take(pa.array(start))
        else:
            parts = [flat.take(pa.array(start + k)) for k in range(n)]
            gram = pc.binary_join_element_wise(*parts, sep)
        pieces.append(gram)
        keys_row.append(row_of[start])
        keys_width.append(np.full(len(start), rank))
        keys_position.append(start)
    gram_rows = np.concatenate(keys_row)
    order = np.lexsort((np.concatenate(keys_position), np.concatenate(keys_width), gram_rows))
    values = pa.concat_arrays([p.cast(pa.binary()) for p in pieces]).take(pa.array(order))
    counts = np.bincount(gram_rows, minlength=rows)
    new_offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(counts, out=new_offsets[1:])
    return pa.ListArray.from_arrays(pa.array(new_offsets), values)


def text_array(values: Sequence[str | bytes]) -> pa.Array:
    """A batch of documents as Arrow: ``string`` when all are ``str``, else ``binary``.

    >>> text_array(["a", b"b"]).type
    DataType(binary)
    """
    if all(isinstance(v, str) for v in values):
        return pa.array(values, type=pa.string())
    return pa.array(
        [v.encode("utf-8") if isinstance(v, str) else v for v in values], type=pa.binary()
    )


def _as_valid_utf8(values: pa.Array) -> pa.Array:
    """A string array with invalid UTF-8 replaced by U+FFFD (step 1)."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values
    if pa.types.is_null(values.type):  # no values, or only nulls: nothing to decode
        return values.cast(pa.string())
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        try:
            return values.cast(pa.string())  # validates UTF-8
        except pa.ArrowInvalid:
            pass
        return pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in values.to_pylist()],
            type=pa.string(),
        )
    raise TypeError(f"Expected an Arrow string or binary array. Received: type={values.type}")


def _data_range(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The value offsets (rebased to 0) and the data bytes of a string/binary array,
    as numpy views of its buffers (no copy)."""
    _, offsets, data = values.buffers()[:3]
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    offsets = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    if data is None or not len(offsets):
        return offsets - (offsets[0] if len(offsets) else 0), np.zeros(0, dtype=np.uint8)
    return offsets - offsets[0], np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]


def _all_ascii(values: pa.Array) -> bool:
    """Whether every byte of a string array's values is ASCII: one numpy pass over its
    data buffer (several times faster than ``string_is_ascii``; bytes under null slots
    count too, which can only send a batch to the slower exact path).

    >>> _all_ascii(pa.array(["ab", "c"])), _all_ascii(pa.array(["a", "\u00e9"]))
    (True, False)
    """
    if isinstance(values, pa.ChunkedArray) or not (
        pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    ):
        return False
    _, data = _data_range(values)
    return not len(data) or int(data.max()) < 0x80


def _drop_empty(pieces: pa.ListArray) -> pa.ListArray:
    """Remove empty strings from each list, keeping list boundaries."""
    flat = pieces.flatten()
    if not flat.null_count and (pa.types.is_string(flat.type) or pa.types.is_binary(flat.type)):
        offsets, _ = _data_range(flat)
        if not len(flat) or int(np.diff(offsets).min()) > 0:
            return pieces  # no empty piece (the usual case): no copy
    keep = pc.greater(pc.binary_length(flat), 0)
    if pc.all(keep).as_py() is not False:
        return pieces
    # Count the kept tokens of each list, then rebuild the offsets.
    parents = pc.list_parent_indices(pieces).filter(keep).to_numpy()
    offsets = np.zeros(len(pieces) + 1, dtype=np.int32)
    np.cumsum(np.bincount(parents, minlength=len(pieces)), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), flat.filter(keep))


def tokenize_batch(spec: VocabSpec, values: Sequence[str | bytes]) -> list[list[bytes]]:
    """Tokenize a Python sequence of texts (convenience over ``Tokenizer``)."""
    return Tokenizer(spec).tokenize_arrow(pa.array(list(values))).to_pylist()
