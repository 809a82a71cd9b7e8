"""tensorflow-text's WordPiece learner, computed with Arrow and Hugging Face ``tokenizers``.

``learn`` returns exactly what
``tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib.learn`` returns
with ``reserved_tokens=[]`` and ``include_joiner_token=True`` (a hypothesis property in
``tests/test_wordpiece.py`` checks it against tf-text's own code), without importing
TensorFlow and without its per-substring Python loops:

- tf-text's learner binary-searches a count threshold; for each threshold it runs
  ``num_iterations`` passes. A pass counts every substring ``word[start:end]`` that
  begins where the current vocabulary's greedy longest-match split of the word puts
  a piece (every position in the first pass) and runs to any ``end``, then walks the
  counts from the longest substrings down, subtracting each one's count from its
  prefixes. After that walk a substring's count is the count of the words whose
  split has a piece starting where it starts and that end where it ends: the
  substring is the whole rest of the word. So a pass is "count ``word[start:]`` for
  every piece start" (``len(word)`` keys per word instead of ``len(word)**2 / 2``).
- The first pass does not depend on the threshold: it is counted once for the search.
- The greedy longest-match split of every word by the current vocabulary is
  WordPiece encoding: Hugging Face ``tokenizers``' WordPiece model does it in Rust.

A key that is both a continuation (joiner + rest) and a word start (a word that
begins with the joiner's characters) is one vocabulary entry, as in tf-text: the
continuation's count wins when it passes the threshold (tf-text's walk sets it last).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tokenizers import Tokenizer, models

_CHUNK_WORDS = 8192  # words per pre-tokenized sequence given to tokenizers' encode_batch
_EMPTY = pa.scalar("", pa.large_string())


def learn(
    word_counts: Iterable[tuple[str, int]],
    vocab_size: int,
    *,
    upper_thresh: int | None = 10**7,
    lower_thresh: int | None = 10,
    num_iterations: int = 4,
    max_input_tokens: int | None = 5 * 10**6,
    max_token_length: int = 50,
    max_unique_chars: int = 1000,
    slack_ratio: float = 0.05,
    joiner: str = "##",
) -> list[str]:
    """The WordPiece vocabulary tf-text's ``learn`` finds (same arguments, same result;
    no reserved tokens, suffix pieces carry ``joiner``). Counts must be >= 1."""
    if not joiner:
        raise ValueError("joiner must be a non-empty string")
    pairs = [(w, int(c)) for w, c in word_counts]
    if not pairs:
        return []
    counts = np.array([c for _, c in pairs], dtype=np.int64)
    if counts.min() < 1:
        raise ValueError("word counts must be >= 1")
    upper = int(counts.max()) if upper_thresh is None else min(int(counts.max()), upper_thresh)
    lower = int(counts.min()) if lower_thresh is None else max(int(counts.min()), lower_thresh)
    words = [w for w, _ in pairs]
    keep = np.array([len(w) <= max_token_length for w in words], dtype=bool)
    words = [w for w, k in zip(words, keep) if k]
    counts = counts[keep]
    words, counts = _filter_input_words(words, counts, max_unique_chars, max_input_tokens)
    learner = _Learner(words, counts, joiner, num_iterations)
    slack = max(slack_ratio * vocab_size, 0)
    while True:  # tf-text's learn_binary_search, without the recursion
        thresh = (upper + lower) // 2
        tokens = learner.tokens(thresh)
        size = len(tokens)
        if (size <= vocab_size and vocab_size - size <= slack) or lower >= upper or thresh <= 1:
            return learner.vocabulary(tokens)
        if size > vocab_size:
            lower = thresh + 1
        else:
            upper = thresh - 1


def _code_points(words: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every character of ``words`` as a code point, and each word's length."""
    lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    points = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return points, lengths


def _filter_input_words(words, counts, max_unique_chars, max_input_tokens):
    """tf-text's get_allowed_chars + filter_input_words: keep the words made of the
    ``max_unique_chars`` most counted characters, most counted words first, at most
    ``max_input_tokens`` of them."""
    if not words:
        return words, counts
    points, lengths = _code_points(words)
    weights = np.repeat(counts, lengths)
    chars, inverse = np.unique(points, return_inverse=True)
    char_counts = np.zeros(len(chars), dtype=np.int64)
    np.add.at(char_counts, inverse, weights)
    # Count descending, then character ascending (np.unique sorted them ascending).
    order = np.argsort(-char_counts, kind="stable")
    allowed = np.zeros(len(chars), dtype=bool)
    allowed[order[:max_unique_chars]] = True
    bad = np.concatenate([[0], np.cumsum(~allowed[inverse])])
    ends = np.cumsum(lengths)
    ok = (bad[ends] - bad[ends - lengths]) == 0
    order = np.argsort(-counts, kind="stable")  # count descending, input order in ties
    order = order[ok[order]]
    if max_input_tokens is not None and max_input_tokens != -1:
        order = order[:max_input_tokens]
    return [words[i] for i in order], counts[order]


class _Learner:
    """The passes of tf-text's ``learn_with_thresh`` for one word list, any threshold."""

    def __init__(self, words: list[str], counts: np.ndarray, joiner: str, iterations: int):
        self.joiner = joiner
        self.iterations = iterations
        nonempty = np.fromiter((bool(w) for w in words), dtype=bool, count=len(words))
        self.words = [w for w, k in zip(words, nonempty) if k]
        self.counts = counts[nonempty]
        self.array = pa.array(self.words, type=pa.large_string())
        points, self.lengths = _code_points(self.words)
        self.chars = [chr(c) for c in np.unique(points)]
        # Word starts (start 0): the same in every pass, since every word splits (its
        # characters, with and without the joiner, are always in the vocabulary).
        self.starts = _summed(self.array, self.counts)
        # The first pass's continuations: every position > 0 of every word.
        index = np.repeat(np.arange(len(self.words)), np.maximum(self.lengths - 1, 0))
        offsets = _positions_after_first(self.lengths)
        self.first_rests = self._rests(index, offsets)

    def _rests(self, index: np.ndarray, offsets: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """``word[offset:]`` for each (word index, offset) pair, summed by key with the
        words' counts: (keys, counts)."""
        if not len(index):
            return pa.array([], type=pa.large_string()), np.zeros(0, dtype=np.int64)
        parts, weights = [], []
        order = np.argsort(offsets, kind="stable")
        index, offsets = index[order], offsets[order]
        bounds = np.flatnonzero(np.diff(offsets)) + 1
        for chunk_index, chunk_offsets in zip(
            np.split(index, bounds), np.split(offsets, bounds), strict=True
        ):
            start = int(chunk_offsets[0])
            parts.append(pc.utf8_slice_codeunits(self.array.take(chunk_index), start=start))
            weights.append(self.counts[chunk_index])
        return _summed(pa.concat_arrays(parts), np.concatenate(weights))

    def _selected(self, rests: tuple[pa.Array, np.ndarray], thresh: int) -> dict[str, int]:
        """The vocabulary entries of one pass: word starts and continuations counted at
        least ``thresh`` times (a continuation replaces a word start with its key)."""
        tokens = _at_least(self.starts, thresh)
        keys, counts = rests
        mask = counts >= thresh
        if mask.any():
            joined = pc.binary_join_element_wise(
                pa.scalar(self.joiner, pa.large_string()), keys.filter(pa.array(mask)), _EMPTY
            )
            tokens.update(zip(joined.to_pylist(), counts[mask].tolist(), strict=True))
        for char in self.chars:  # tf-text's ensure_all_tokens_exist
            tokens.setdefault(char, 1)
            tokens.setdefault(self.joiner + char, 1)
        return tokens

    def tokens(self, thresh: int) -> dict[str, int]:
        """tf-text's ``curr_tokens`` after all passes at ``thresh``: token -> count."""
        tokens = self._selected(self.first_rests, thresh)
        for _ in range(1, self.iterations):
            tokens = self._selected(self._rests(*self._piece_starts(tokens)), thresh)
        return tokens

    def _piece_starts(self, tokens: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        """(word index, offset) of every piece after the first of each word, split
        greedily longest-match-first by ``tokens`` (WordPiece, in Rust)."""
        if not self.words:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        table = {token: i for i, token in enumerate(tokens)}
        unk = "\ufffe[vocabguard-unk]"
        while unk in table:
            unk += "\ufffe"
        table[unk] = len(table)
        sizes = np.array([len(t) for t in table], dtype=np.int64)
        tokenizer = Tokenizer(
            models.WordPiece(
                vocab=table,
                unk_token=unk,
                max_input_chars_per_word=int(self.lengths.max(initial=0)) + 1,
                continuing_subword_prefix=self.joiner,
            )
        )
        chunks = [self.words[i : i + _CHUNK_WORDS] for i in range(0, len(self.words), _CHUNK_WORDS)]
        encodings = tokenizer.encode_batch(chunks, is_pretokenized=True, add_special_tokens=False)
        ids, word_ids = [], []
        for number, encoding in enumerate(encodings):
            ids.append(np.asarray(encoding.ids, dtype=np.int64))
            word_ids.append(np.asarray(encoding.word_ids, dtype=np.int64) + number * _CHUNK_WORDS)
        ids, word_ids = np.concatenate(ids), np.concatenate(word_ids)
        if (ids == table[unk]).any():  # cannot happen: every character is a piece
            raise AssertionError("a word did not split into pieces")
        first = np.ones(len(ids), dtype=bool)
        first[1:] = word_ids[1:] != word_ids[:-1]
        lengths = sizes[ids] - np.where(first, 0, len(self.joiner))
        ends = np.cumsum(lengths)
        word_start = np.maximum.accumulate(np.where(first, np.arange(len(ids)), 0))
        offsets = ends - lengths - (ends - lengths)[word_start]
        return word_ids[~first], offsets[~first]

    def vocabulary(self, tokens: dict[str, int]) -> list[str]:
        """tf-text's generate_final_vocabulary: the characters sorted, then the tokens by
        count descending, then alphabetically; each once."""
        seen = set(self.chars)
        ranked = sorted(tokens.items(), key=lambda item: (-item[1], item[0]))
        return sorted(self.chars) + [t for t, _ in ranked if t not in seen]


def _positions_after_first(lengths: np.ndarray) -> np.ndarray:
    """1, 2, ..., n-1 for each length n (concatenated)."""
    rest = np.maximum(lengths - 1, 0)
    total = int(rest.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(np.cumsum(rest) - rest, rest)
    return np.arange(total, dtype=np.int64) - starts + 1


def _summed(keys: pa.Array, counts: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Counts summed per distinct key (a hash table in Arrow, sums in numpy: several
    times faster than Arrow's ``group_by`` here)."""
    encoded = pc.dictionary_encode(keys)
    sums = np.zeros(len(encoded.dictionary), dtype=np.int64)
    np.add.at(sums, encoded.indices.to_numpy(), counts)
    return encoded.dictionary, sums


def _at_least(keyed: tuple[pa.Array, np.ndarray], thresh: int) -> dict[str, int]:
    keys, counts = keyed
    mask = counts >= thresh
    return dict(zip(keys.filter(pa.array(mask)).to_pylist(), counts[mask].tolist(), strict=True))


__all__ = ["learn"]
