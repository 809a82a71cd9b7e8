"""WordPiece subwords without TensorFlow: learning pieces from word counts, and encoding.

``tokenizer: wordpiece`` splits text into words (the pre-tokenizer: Unicode
White_Space, and each punctuation character on its own, after normalization and
lowercasing), then each word into pieces by greedy longest-match-first, the way
BERT does: the first piece is a prefix of the word, the others carry the joiner
(``##``). A word that cannot be decomposed, or that is longer than
``max_chars_per_word`` characters, becomes the OOV id (BERT's ``[UNK]``).

- Learning: ``tensorflow_text``'s WordPiece learner
  (``wordpiece_tokenizer_learner_lib.learn``), run on the word counts the build
  produced (in process or on Beam), as ``wordpiece_learner.learn`` computes it: the
  same pieces, with Arrow and ``tokenizers`` instead of per-substring Python loops,
  and without importing TensorFlow.
- Encoding on the numpy path: Hugging Face ``tokenizers``' WordPiece model (Rust,
  no TensorFlow), given the vocabulary's own ids, so its output is vocabguard's ids.
  The ``tf.data`` path uses ``tensorflow_text.FastWordpieceTokenizer``; a property
  test checks both give the same ids on arbitrary Unicode.

Id order of the learned pieces (the determinism rule): like every learned token,
by count descending, then by UTF-8 bytes ascending, where a piece's count is how
often it occurs when every counted word is split into pieces (each word weighted
by its count). Pieces the learner keeps but no word uses (count 0) come last, by bytes.

>>> from vocabguard._src.core.spec import VocabSpec
>>> spec = VocabSpec(tokenizer="wordpiece", vocab_size=40)
>>> pieces = learn_pieces({b"cat": 5, b"cats": 3, b"dog": 2}, spec)
>>> b"cat" in pieces and b"##s" in pieces
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from itertools import chain

import numpy as np
import pyarrow as pa
from tokenizers import Tokenizer, models, pre_tokenizers

from vocabguard._src.core.wordpiece_learner import learn

DEFAULT_JOINER = "##"
DEFAULT_MAX_CHARS_PER_WORD = 100

# The punctuation the pre-tokenizer splits off (each character its own word): Unicode
# general category P*, plus the ASCII symbols BERT's tokenizer treats as punctuation
# ($ + < = > ^ ` | ~). One RE2 pattern, run by pyarrow and by TensorFlow alike.
PUNCTUATION_PATTERN = "[\\p{P}\\x{21}-\\x{2f}\\x{3a}-\\x{40}\\x{5b}-\\x{60}\\x{7b}-\\x{7e}]"
# BERT's CJK ideographs (``handle_chinese_chars``: tokenizers' is_chinese_char ranges).
CJK_RANGES = (
    "\\x{4e00}-\\x{9fff}\\x{3400}-\\x{4dbf}\\x{20000}-\\x{2a6df}\\x{2a700}-\\x{2b73f}"
    "\\x{2b740}-\\x{2b81f}\\x{2b820}-\\x{2ceaf}\\x{f900}-\\x{faff}\\x{2f800}-\\x{2fa1f}"
)


# BERT's ``clean_text``: the characters its normalizer drops. Control characters (Cc)
# but tab, newline and carriage return; format characters (Cf) as Hugging Face
# tokenizers' Unicode tables have them (Python 3.11's Unicode 14 adds U+0890, U+0891,
# U+08E2, U+110CD and U+13430..U+13438, which tokenizers keeps); private use (Co);
# U+FFFD. Written out, so the numpy and TensorFlow paths drop the same set whatever
# Unicode version each library ships.
CLEAN_RANGES = (
    (0x00, 0x08),
    (0x0B, 0x0C),
    (0x0E, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xE000, 0xF8FF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0xFFFD, 0xFFFD),
    (0x110BD, 0x110BD),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
)


def _class(ranges, escape) -> str:
    return (
        "[" + "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in ranges) + "]"
    )


# The same class for RE2 (pyarrow, TensorFlow) and for Python's ``re``.
CLEAN_PATTERN = _class(CLEAN_RANGES, lambda c: f"\\x{{{c:X}}}")
CLEAN_PATTERN_PY = _class(CLEAN_RANGES, lambda c: f"\\U{c:08X}")


def never_split_pattern(tokens: Sequence[str]) -> str:
    """An alternation matching any of ``tokens``, longest first, valid in RE2 and in
    Python's ``re``: leftmost-first matching then finds, at the leftmost position where
    one matches, the longest (Hugging Face's added-token matcher, leftmost-longest).

    >>> never_split_pattern(["[CLS]", "[C"])
    '\\\\[CLS\\\\]|\\\\[C'
    """
    ordered = sorted(set(tokens), key=lambda t: (-len(t), t))
    return "|".join(
        "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in t) for t in ordered
    )


def word_char_pattern(split_cjk: bool) -> str:
    """The RE2 class of characters that are words of their own: punctuation, and with
    ``split_cjk`` CJK ideographs (``VocabSpec.split_cjk``)."""
    return PUNCTUATION_PATTERN[:-1] + CJK_RANGES + "]" if split_cjk else PUNCTUATION_PATTERN


# Bytes no learned piece may hold (see learn_pieces).
_UNLEARNABLE = re.compile(b"[\x00\x11]")


def learn_pieces(word_counts: Mapping[bytes, int], spec) -> list[bytes]:
    """The pieces tensorflow-text's learner finds in ``word_counts`` (learner order).

    ``spec.vocab_size`` is the learner's target size (it always keeps the
    alphabet, so the result may exceed it slightly); ``spec.min_count`` is its
    lower count threshold; words over ``max_chars_per_word`` characters are not
    learned from. Reserved, pad and OOV tokens are left out of the result. Words
    holding U+0000 are not learned from either: tensorflow-text's tokenizer cannot
    hold a piece with a NUL byte, so such a word is OOV on every path; nor are words
    holding U+0011 (its trie builder fails on a piece "\\x11" that starts another
    piece: found by building it with every code point).
    """
    specials = never_split_words(spec)
    words = sorted(
        (word.decode("utf-8"), int(count))
        for word, count in word_counts.items()
        if count > 0 and not _UNLEARNABLE.search(word) and word not in specials
    )
    if not words:
        return []
    learned = learn(
        words,
        vocab_size=spec.vocab_size,
        lower_thresh=math.ceil(spec.min_count),  # the learner takes whole counts
        max_token_length=resolved_max_chars(spec),
        joiner=resolved_joiner(spec),  # suffix pieces carry the joiner (as BERT)
    )
    return [piece.encode("utf-8") for piece in learned]


def never_split_words(spec) -> frozenset[bytes]:
    """The special tokens the pre-tokenizer keeps whole (``spec.never_split``), as words:
    not learned from, and not counted as pieces."""
    return frozenset(t.encode("utf-8") for t in getattr(spec, "never_split", ()))


def special_pieces(spec, oov_id: int, pad_id: int = 0) -> dict[bytes, int]:
    """The pad and OOV tokens that ``never_split`` keeps whole, with their ids: the
    encoders hold them as pieces so such a word gets that id (BERT's ``[PAD]`` is
    id 0 in text too). Reserved tokens are pieces already."""
    out = {}
    for token, id_ in (
        (spec.resolved_pad_token(False), pad_id),
        (spec.resolved_oov_token(False), oov_id),
    ):
        if token in getattr(spec, "never_split", ()):
            out[str(token).encode("utf-8")] = id_
    return out


def resolved_joiner(spec) -> str:
    return spec.joiner if spec.joiner is not None else DEFAULT_JOINER


def resolved_max_chars(spec) -> int:
    if spec.max_chars_per_word is not None:
        return spec.max_chars_per_word
    return DEFAULT_MAX_CHARS_PER_WORD


def piece_counts(
    pieces: Sequence[bytes], word_counts: Mapping[bytes, int], spec, oov_id: int = 1
) -> tuple[dict[bytes, int], int]:
    """How often each piece occurs when the counted words are split (weighted by their
    counts), and the occurrences of words that cannot be split (OOV)."""
    vocab = {piece: index for index, piece in enumerate(pieces, start=oov_id + 1)}
    encoder = PieceEncoder(vocab, spec, oov_id)
    specials = never_split_words(spec)
    words = [w for w in word_counts if w not in specials]
    totals = np.zeros(len(pieces) + oov_id + 1, dtype=np.int64)
    if words:
        lists = pa.array([[w] for w in words], type=pa.list_(pa.binary()))
        lengths, ids = encoder.encode(lists)
        weights = np.repeat(np.array([word_counts[w] for w in words], dtype=np.int64), lengths)
        np.add.at(totals, ids, weights)
    counts = {piece: int(totals[index]) for piece, index in vocab.items()}
    return counts, int(totals[oov_id])


def order_pieces(counts: Mapping[bytes, int]) -> list[bytes]:
    """The id order of learned pieces: count descending, then bytes ascending."""
    return sorted(counts, key=lambda piece: (-counts[piece], piece))


class PieceEncoder:
    """Greedy longest-match-first WordPiece over Arrow lists of words (Hugging Face's
    ``tokenizers`` WordPiece model, given vocabguard's ids).

    Args:
        vocab: piece (UTF-8 bytes) -> id, for every reserved and learned piece.
        spec: gives the joiner and ``max_chars_per_word``.
        oov_id: the id of a word that cannot be split.
    """

    def __init__(self, vocab: Mapping[bytes, int], spec, oov_id: int = 1):
        self.oov_id = oov_id
        unk = "\ufffe[vocabguard-unk]"  # not a word the pre-tokenizer can produce
        table = {piece.decode("utf-8", "replace"): int(id_) for piece, id_ in vocab.items()}
        for piece, id_ in special_pieces(spec, oov_id).items():
            table.setdefault(piece.decode("utf-8"), id_)
        table[unk] = oov_id
        model = models.WordPiece(
            vocab=table,
            unk_token=unk,
            max_input_chars_per_word=resolved_max_chars(spec),
            continuing_subword_prefix=resolved_joiner(spec),
        )
        self._tokenizer = Tokenizer(model)
        self._model = model
        self._text_tokenizer = None  # built on first use of encode_texts

    def encode_texts(self, spaced: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """``(pieces per row, flat ids)`` of texts the pre-tokenizer has prepared
        (``Tokenizer.wordpiece_spaced_arrow``: normalized, punctuation spaced): each run
        of characters other than Unicode White_Space is a word. tokenizers splits them
        (``WhitespaceSplit``: Rust's ``char::is_whitespace`` is the White_Space property,
        the 25 code points of ``tokenizer.WHITESPACE``) and encodes them in Rust, in
        parallel, without the per-word Python objects of ``encode``."""
        if self._text_tokenizer is None:
            self._text_tokenizer = Tokenizer(self._model)
            self._text_tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        encodings = self._text_tokenizer.encode_batch_fast(
            spaced.to_pylist(), add_special_tokens=False
        )
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        ids = np.fromiter(
            chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=int(lengths.sum())
        )
        return lengths, ids

    def encode(self, words: pa.ListArray) -> tuple[np.ndarray, np.ndarray]:
        """``(pieces per row, flat ids)`` of a ``list<binary>`` array of words per row."""
        rows = [[w.decode("utf-8") for w in row] for row in words.to_pylist()]
        encodings = self._tokenizer.encode_batch(
            rows, is_pretokenized=True, add_special_tokens=False
        )
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        if not len(lengths) or not lengths.sum():
            return lengths, np.zeros(0, dtype=np.int64)
        ids = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encodings if e.ids])
        return lengths, ids


def join_pieces(pieces: Sequence[str], joiner: str = DEFAULT_JOINER) -> str:
    """Pieces back to text: a piece with the joiner continues the previous word.

    >>> join_pieces(["the", "cat", "##s", "sat"])
    'the cats sat'
    """
    out: list[str] = []
    for piece in pieces:
        if piece.startswith(joiner) and out:
            out[-1] += piece[len(joiner) :]
        else:
            out.append(piece)
    return " ".join(out)


def lists_with_lengths(lengths: np.ndarray) -> pa.ListArray:
    """A ``list<null>`` array with these row lengths (for callers that only need lengths)."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.nulls(int(offsets[-1])))


__all__ = ["PieceEncoder", "join_pieces", "learn_pieces", "order_pieces", "piece_counts"]
