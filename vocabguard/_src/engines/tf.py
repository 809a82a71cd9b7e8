"""TensorFlow twins of the numpy encoder, and the id guard for tensors.

Everything here runs in eager mode, inside ``tf.function`` and in ``tf.data``
map functions, and is built from TF ops (tensorflow-text for tokenization,
``tf.lookup`` tables for ids), so an encoder survives SavedModel export.

>>> import vocabguard, tensorflow as tf
>>> vocab = vocabguard.build_vocabulary(["a b b"], vocabguard.VocabSpec(), progress=False)
>>> encode = encode_fn(vocab)
>>> encode(tf.constant(["b a zzz"])).to_list()
[[2, 3, 1]]
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from vocabguard._src.core import unicode_script
from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.guard import MAX_REPORTED_CASES, check_input_dim, range_error
from vocabguard._src.core.tokenizer import (
    KEPT_PATTERN_RE2,
    NON_ASCII_WHITESPACE_PATTERN,
    STRIP_PUNCTUATION,
    WHITESPACE_PATTERN,
)
from vocabguard._src.core.vocabulary import INT64, Vocabulary, arrow_token_type, binary_buffers

_REPLACEMENT_CHAR = 0xFFFD


def tokenize(texts: tf.Tensor, vocab_or_spec) -> tf.RaggedTensor:
    """Tokenize a 1-D string tensor exactly as ``vocabguard._src.core.tokenizer.Tokenizer`` does.

    Steps: invalid UTF-8 -> U+FFFD, normalization, lowercasing, splitting.
    Returns a ``[batch, None]`` ragged string tensor.
    """
    spec = getattr(vocab_or_spec, "spec", vocab_or_spec)
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    standardize = getattr(spec, "standardize", None)
    if spec.tokenizer != "none" or _transforms(spec) or standardize is not None:
        texts = tf.strings.unicode_transcode(
            texts, "UTF-8", "UTF-8", errors="replace", replacement_char=_REPLACEMENT_CHAR
        )
    if spec.tokenizer == "wordpiece":
        # WordPiece's pre-tokenizer: every punctuation character is its own word
        # (the pieces are Encoder's step: they need the vocabulary). No n-grams (spec).
        return _split_whitespace(_wordpiece_spaced(texts, spec))
    texts = _normalize(texts, spec)
    if spec.tokenizer == "none":
        return tf.RaggedTensor.from_tensor(tf.expand_dims(texts, -1))
    if spec.tokenizer == "unicode_script":
        words = unicode_script.split_tensor(texts)
    elif spec.tokenizer == "whitespace":
        words = _split_whitespace(texts)
    else:
        words = _split_utf8(texts, spec.pattern)
    if spec.ngrams is None:
        return words
    # Keras TextVectorization(ngrams=...) does the same: each row's 1-grams, then 2-grams, ...
    return tf.strings.ngrams(
        words, ngram_width=list(spec.ngrams), separator=spec.ngram_separator
    ).with_row_splits_dtype(words.row_splits.dtype)


def _transforms(spec) -> bool:
    return bool(
        spec.normalization != "none"
        or spec.lowercase
        or spec.strip_accents
        or getattr(spec, "clean_text", False)
    )


def _normalize(texts: tf.Tensor, spec) -> tf.Tensor:
    """Steps 2-3 of valid UTF-8 texts: BERT's clean_text, normalization, lowercasing,
    accent stripping, then Keras' standardization (``Tokenizer.normalize_arrow``)."""
    if getattr(spec, "clean_text", False):
        from vocabguard._src.core.wordpiece import CLEAN_PATTERN

        texts = tf.strings.regex_replace(texts, CLEAN_PATTERN, "")
    if _transforms(spec):
        texts = tf.reshape(texts, [-1])
        texts = tf.cond(
            _any_match(texts, KEPT_PATTERN_RE2),
            lambda: _transform_around_kept(texts, spec),
            lambda: _transform(texts, spec),
        )
    standardize = getattr(spec, "standardize", None)
    if standardize in ("lower", "lower_and_strip_punctuation"):
        texts = tf.strings.lower(texts)  # ASCII only, as Keras TextVectorization
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        texts = tf.strings.regex_replace(texts, STRIP_PUNCTUATION, "")
    return texts


def _wordpiece_spaced(texts: tf.Tensor, spec) -> tf.Tensor:
    """WordPiece's words of valid UTF-8 texts as one string each, split on White_Space
    next (``Tokenizer.wordpiece_spaced_arrow``): normalized, each punctuation character
    (and with split_cjk each CJK ideograph) spaced; ``never_split`` tokens, found before
    normalization, kept as they are, the text between them normalized piece by piece."""
    from vocabguard._src.core.wordpiece import never_split_pattern, word_char_pattern

    def spaced(values):
        return tf.strings.regex_replace(
            _normalize(values, spec), word_char_pattern(spec.split_cjk), " \\0 "
        )

    never_split = getattr(spec, "never_split", ())
    if not never_split:
        return spaced(texts)
    pattern = never_split_pattern(never_split)
    marked = tf.strings.regex_replace(
        tf.reshape(texts, [-1]), f"({pattern})", _SENTINEL + b"\\1" + _SENTINEL
    )
    pieces = tf.strings.split(marked, sep=_SENTINEL)
    flat = pieces.flat_values
    # A piece is a token exactly when it matches whole: the text between two matches
    # holds none (matching scans it left to right).
    special = tf.strings.regex_full_match(flat, pattern)
    flat = tf.where(special, flat, spaced(flat))
    return tf.strings.reduce_join(pieces.with_flat_values(flat), axis=-1, separator=" ")


def _transform(texts: tf.Tensor, spec) -> tf.Tensor:
    """Normalization, then lowercasing (ICU)."""
    if spec.normalization != "none":
        texts = tf_text.normalize_utf8(texts, spec.normalization)
    if spec.lowercase:
        texts = _lower_utf8(texts)
    if spec.strip_accents:  # BERT's: decompose, drop nonspacing marks
        texts = tf.strings.regex_replace(tf_text.normalize_utf8(texts, "NFD"), "\\p{Mn}", "")
    return texts


def _transform_around_kept(texts: tf.Tensor, spec) -> tf.Tensor:
    """``_transform`` with the kept code points (``unicode_table``) left as they are and
    the pieces between them transformed alone, as the numpy path does."""
    marked = tf.strings.regex_replace(
        texts, f"({KEPT_PATTERN_RE2})", _SENTINEL + b"\\1" + _SENTINEL
    )
    pieces = tf.strings.split(marked, sep=_SENTINEL)
    flat = pieces.flat_values
    kept = tf.strings.regex_full_match(flat, KEPT_PATTERN_RE2)
    flat = tf.where(kept, flat, _transform(flat, spec))
    return tf.strings.reduce_join(pieces.with_flat_values(flat), axis=-1)


def _any_match(texts: tf.Tensor, pattern: str) -> tf.Tensor:
    return tf.reduce_any(tf.strings.regex_full_match(texts, f"(?s).*{pattern}.*"))


def _split_whitespace(texts: tf.Tensor) -> tf.RaggedTensor:
    """Split on Unicode White_Space; without non-ASCII White_Space in the batch,
    ``tf.strings.split``'s separators (absl ascii_isspace: \\t \\n \\v \\f \\r and
    space) are exactly White_Space, and it is several times faster than a regex."""
    texts = tf.reshape(texts, [-1])
    return tf.cond(
        _any_match(texts, NON_ASCII_WHITESPACE_PATTERN),
        lambda: _split_utf8(texts, WHITESPACE_PATTERN),
        lambda: tf.strings.split(texts).with_row_splits_dtype(tf.int64),
    )


# tf_text.regex_split and tf.strings.lower both stop at the first NUL byte
# (they treat strings as C strings): "a \x00 b" would lose "b". These two
# helpers use only NUL-safe ops; the property tests include "\x00".
_SENTINEL = b"\xff"  # never present in valid UTF-8, and text is valid UTF-8 here


def _split_utf8(texts: tf.Tensor, pattern: str) -> tf.RaggedTensor:
    """Split on matches of an RE2 pattern and drop empty pieces."""
    marked = tf.strings.regex_replace(texts, pattern, _SENTINEL)
    pieces = tf.strings.split(marked, sep=_SENTINEL)
    return tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)


def _lower_utf8(texts: tf.Tensor) -> tf.Tensor:
    """ICU full-case-mapping lowercase (as ``str.lower``), NUL bytes preserved."""
    return tf.cond(
        _any_match(texts, "\\x00"),
        lambda: _lower_keeping_nul(texts),
        lambda: tf.strings.lower(texts, encoding="utf-8"),
    )


def _lower_keeping_nul(texts: tf.Tensor) -> tf.Tensor:
    pieces = tf.strings.split(texts, sep="\x00")
    lowered = tf.strings.lower(pieces.flat_values, encoding="utf-8")
    # Re-insert the NULs as tensor data: a NUL in an op attribute (reduce_join's
    # separator) is truncated too.
    ends = tf.gather(pieces.row_splits[1:], pieces.value_rowids())
    is_last = tf.equal(tf.range(tf.size(lowered, out_type=tf.int64)) + 1, ends)
    suffix = tf.where(is_last, tf.constant(b""), tf.constant(b"\x00"))
    joined = pieces.with_flat_values(tf.strings.join([lowered, suffix]))
    return tf.strings.reduce_join(joined, axis=-1)


def key_tensor(keys) -> tf.Tensor:
    """A 1-D ``tf.string`` (or ``tf.int64``) tensor of an Arrow array of keys.

    Strings: the Arrow data buffer becomes one scalar string, cut by ``tf.strings.substr``
    at the Arrow offsets, so no Python object is made per key.

    >>> import pyarrow as pa
    >>> key_tensor(pa.array([b"ab", b"", b"c"])).numpy().tolist()
    [b'ab', b'', b'c']
    """
    import pyarrow as pa

    if pa.types.is_integer(keys.type):
        return tf.constant(keys.to_numpy(zero_copy_only=False).astype(np.int64), dtype=tf.int64)
    offsets, data = binary_buffers(keys)
    body = tf.constant(data[offsets[0] : offsets[-1]].tobytes())
    return tf.strings.substr(body, offsets[:-1] - offsets[0], np.diff(offsets), unit="BYTE")


class Lookup(tf.Module):
    """Maps string (or int64) token tensors to ids with a ``tf.lookup`` table.

    Same ids as ``Vocabulary.lookup``: the pad token -> 0, known tokens -> their
    ids, unknown tokens -> ``1 + Fingerprint64(token) % k`` (integers ``1 + x mod k``),
    which is what Keras ``StringLookup`` / ``IntegerLookup`` compute.
    """

    def __init__(self, vocab: Vocabulary, name: str | None = None):
        super().__init__(name=name)
        self.input_dim = vocab.input_dim
        self.fingerprint = vocab.fingerprint
        self.num_oov_buckets = vocab.num_oov_buckets
        self.integer = vocab.token_type == INT64
        self.id_dtype = tf.as_dtype(vocab.spec.id_dtype)
        import pyarrow as pa

        pad = vocab.pad_token if self.integer else str(vocab.pad_token).encode("utf-8")
        # Retired rows hold keys no token matches. Straight from the Arrow column: no
        # Python object per token. An integer vocabulary without a pad value (its pad
        # is the id 0 only) has no pad key: every value is looked up as a token.
        head = [] if pad is None else [pad]
        keys = pa.concat_arrays(
            [pa.array(head, type=arrow_token_type(vocab.token_type)), vocab.lookup_key_array]
        )
        start = vocab.layout.reserved_start  # ids of reserved, then learned tokens
        values = np.concatenate(
            [[vocab.pad_id] * len(head), start + np.arange(len(keys) - len(head))]
        ).astype(np.int64)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                key_tensor(keys), tf.constant(values, dtype=tf.int64)
            ),
            default_value=-1,
        )

    def lookup_flat(self, tokens: tf.Tensor) -> tf.Tensor:
        ids = self.table.lookup(tokens)
        k = self.num_oov_buckets
        if k == 1:
            oov = tf.ones_like(ids)
        elif self.integer:
            oov = 1 + tf.math.floormod(tokens, k)
        else:
            oov = 1 + tf.strings.to_hash_bucket_fast(tokens, k)
        return tf.cast(tf.where(ids < 0, oov, ids), self.id_dtype)

    def __call__(self, tokens):
        """Ids of a dense or ragged token tensor, same shape."""
        if isinstance(tokens, tf.RaggedTensor):
            return tokens.with_flat_values(self.lookup_flat(tokens.flat_values))
        return self.lookup_flat(tf.convert_to_tensor(tokens))


class WordPieces(tf.Module):
    """Words to WordPiece pieces with ``tensorflow_text.FastWordpieceTokenizer``.

    Same pieces as the numpy path (Hugging Face ``tokenizers``): greedy longest match
    first; a word that cannot be split, or longer than ``max_chars_per_word``
    characters, becomes one token that no table holds, so it maps to the OOV id.
    """

    # Not a word the pre-tokenizer can produce ('[' is punctuation) nor a piece.
    UNKNOWN = "\ufffe[vocabguard-unk]"

    def __init__(self, vocab: Vocabulary, name: str | None = None):
        super().__init__(name=name)
        from vocabguard._src.core.wordpiece import (
            resolved_joiner,
            resolved_max_chars,
            special_pieces,
        )

        self.max_chars = resolved_max_chars(vocab.spec)
        pieces = [t.decode("utf-8") for t in vocab.lookup_keys]
        # never_split's pad and OOV tokens: pieces of their own (Lookup gives their ids).
        known = set(pieces)
        pieces += [
            t.decode("utf-8")
            for t in special_pieces(vocab.spec, 1)
            if t.decode("utf-8") not in known
        ]
        self.tokenizer = tf_text.FastWordpieceTokenizer(
            vocab=[*pieces, self.UNKNOWN],
            suffix_indicator=resolved_joiner(vocab.spec),
            # Bytes; the characters rule is applied first (a character is <= 4 bytes).
            max_bytes_per_word=4 * self.max_chars + 4,
            token_out_type=tf.string,
            unknown_token=self.UNKNOWN,
            no_pretokenization=True,
        )

    def __call__(self, words: tf.RaggedTensor) -> tf.RaggedTensor:
        flat = words.flat_values
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self.max_chars
        flat = tf.where(too_long, tf.constant(self.UNKNOWN), flat)
        pieces = self.tokenizer.tokenize(flat)
        splits = tf.gather(
            tf.cast(pieces.row_splits, tf.int64), tf.cast(words.row_splits, tf.int64)
        )
        return tf.RaggedTensor.from_row_splits(pieces.flat_values, splits)


class Encoder(tf.Module):
    """Text to ids in TensorFlow: ``tokenize`` then ``Lookup``.

    Call it on a 1-D string tensor (a batch) to get ``[batch, None]`` ragged ids,
    or ``[batch, sequence_length]`` ids padded with 0 when the spec sets
    ``sequence_length``; a scalar string gives a 1-D row. With ``tokenizer: none``
    each value is one id (same shape as the input).

    A ``[batch, None]`` ragged tensor is a batch of list-valued records (e.g.
    parsed with ``tf.io.RaggedFeature``): one id list per record (each element one
    value, or one text whose tokens are concatenated), padded/truncated with
    ``sequence_length``. TF strings cannot be null: with ``tokenizer: none`` and a
    ``missing`` policy, an empty string is the missing value (as in numpy).
    """

    def __init__(self, vocab: Vocabulary, name: str | None = None):
        super().__init__(name=name)
        self.spec = vocab.spec
        self.lookup = Lookup(vocab)
        self.input_dim = vocab.input_dim
        self.fingerprint = vocab.fingerprint
        self.sequence_length = vocab.spec.sequence_length
        self.missing_id = vocab.missing_id if vocab.spec.tokenizer == "none" else None
        # With tokenizer: none an empty string is missing; under missing: error it is
        # refused (as in numpy), never looked up as a token.
        self.refuse_empty = vocab.spec.tokenizer == "none" and vocab.spec.missing == "error"
        self.pieces = WordPieces(vocab) if vocab.spec.tokenizer == "wordpiece" else None

    def _tokens(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """The tokens of a batch of texts: ``tokenize``'s, or their WordPiece pieces."""
        tokens = tokenize(texts, self.spec)
        return tokens if self.pieces is None else self.pieces(tokens)

    @tf.function
    def __call__(self, texts):
        if isinstance(texts, tf.RaggedTensor):
            return self._encode_lists(texts)
        if self.lookup.integer:
            return self.lookup(integer_values(texts))
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if self.spec.tokenizer == "none":
            values = tf.reshape(texts, [-1])
            ids = self._missing(
                values, self.lookup.lookup_flat(tokenize(values, self.spec).flat_values)
            )
            return tf.reshape(ids, tf.shape(texts))
        scalar = texts.shape.rank == 0
        batch = tf.reshape(texts, [-1]) if scalar else texts
        ids = self.lookup(self._tokens(batch))
        if self.sequence_length is not None:
            ids = ids.to_tensor(default_value=0, shape=[None, self.sequence_length])
        return ids[0] if scalar else ids

    def _missing(self, values: tf.Tensor, ids: tf.Tensor) -> tf.Tensor:
        """With ``tokenizer: none`` and a ``missing`` policy, empty values are missing;
        under ``missing: error`` an empty value fails (``InvalidArgumentError``)."""
        if self.refuse_empty:
            empty = tf.equal(values, "")
            # where, not argmax: argmax of an empty batch is an error of its own
            first = tf.strings.reduce_join(tf.strings.as_string(tf.where(empty)[:1, 0]))
            check = tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(empty)),
                [
                    "Value",
                    first,
                    "(0-based, flattened) is the empty string: with tokenizer: none it is a "
                    "missing value, and the vocabulary's spec says missing: error. Fill it, "
                    "drop the record, or build with missing: skip|oov|token.",
                ],
            )
            with tf.control_dependencies([check]):
                return tf.identity(ids)
        if self.missing_id is None:
            return ids
        return tf.where(tf.equal(values, ""), tf.cast(self.missing_id, ids.dtype), ids)

    def _encode_lists(self, texts: tf.RaggedTensor):
        """A ``[batch, None]`` ragged batch of lists: one id list per record."""
        if self.lookup.integer:
            ids = texts.with_flat_values(self.lookup(integer_values(texts.flat_values)))
        elif self.spec.tokenizer == "none":
            values = texts.flat_values
            flat = self.lookup.lookup_flat(tokenize(values, self.spec).flat_values)
            ids = texts.with_flat_values(self._missing(values, flat))
        else:
            # Each element is a text: its tokens, then the next element's, per record.
            per_element = self.lookup(self._tokens(texts.flat_values))
            splits = tf.gather(per_element.row_splits, tf.cast(texts.row_splits, tf.int64))
            ids = tf.RaggedTensor.from_row_splits(per_element.flat_values, splits)
        if self.sequence_length is not None:
            ids = ids.to_tensor(default_value=0, shape=[None, self.sequence_length])
        return ids


class BagEncoder(tf.Module):
    """Text to ``multi_hot`` / ``count`` / ``tf_idf`` rows in TensorFlow (``output_modes``).

    Same values as ``vocabguard.output_modes.encode``: ``[batch, len(vocab) - 1]``
    float32, column ``j`` for id ``j + 1`` (the pad has no column). A 1-D batch of texts
    gives one row per text; with ``tokenizer: none``, a ``[batch, n]`` (dense or ragged)
    batch of values gives one row per record and a 1-D batch one row per value.
    """

    def __init__(self, vocab: Vocabulary, output_mode: str, name: str | None = None):
        super().__init__(name=name)
        from vocabguard._src.core.output_modes import BAG_MODES, check_output_mode, idf_weights

        self.output_mode = check_output_mode(output_mode, BAG_MODES)
        self.encoder = Encoder(vocab)
        self.encoder.sequence_length = None  # a bag counts every token
        self.depth = len(vocab)
        self.input_dim = vocab.input_dim
        self.fingerprint = vocab.fingerprint
        self.idf = (
            tf.constant(idf_weights(vocab), dtype=tf.float32) if output_mode == "tf_idf" else None
        )

    @tf.function
    def __call__(self, texts):
        ids = self.encoder(texts)
        if not isinstance(ids, tf.RaggedTensor) and ids.shape.rank == 1:
            # Texts: a scalar text gave one id row; values: each value is its own row.
            ids = ids[tf.newaxis, :] if self.encoder.spec.tokenizer != "none" else ids[:, None]
        counts = tf.math.bincount(
            tf.cast(ids, tf.int32),
            minlength=self.depth,
            maxlength=self.depth,
            dtype=tf.float32,
            axis=-1,
        )[:, 1:]  # the pad has no column
        if self.output_mode == "multi_hot":
            return tf.minimum(counts, 1.0)
        if self.output_mode == "tf_idf":
            return counts * self.idf
        return counts


def integer_values(values) -> tf.Tensor:
    """Integer token values as int64, as every path reads them: floats and booleans are
    a ``TypeError`` (never truncated: 2.9 is not token 2), and uint64 values past
    2**63 - 1 fail (``InvalidArgumentError``) rather than wrap to negative tokens."""
    values = tf.convert_to_tensor(values, dtype_hint=tf.int64)
    if not values.dtype.is_integer:
        raise TypeError(
            "An integer vocabulary maps integer values; floats, booleans and strings are "
            "an error on every path (numpy, tf.data, Keras), never truncated or cast. Feed "
            "int64 values (cast them yourself only if they are whole numbers). "
            + received(dtype=values.dtype.name)
        )
    if values.dtype == tf.uint64:
        check = tf.debugging.assert_less_equal(
            values,
            tf.constant(2**63 - 1, tf.uint64),
            message="An integer token is past 2**63 - 1, outside int64; fix the value.",
        )
        with tf.control_dependencies([check]):
            values = tf.identity(values)
    return tf.cast(values, tf.int64)


def encode_fn(vocab: Vocabulary, output_mode: str = "int") -> Encoder | BagEncoder:
    """A ``tf.data``-ready encoder: ``dataset.map(encode_fn(vocab))``.

    Works on batches (1-D string tensors) and single strings, in eager mode,
    graph mode and ``tf.function``; attach it to a ``tf.Module`` or Keras model
    to export it in a SavedModel (its tables are tracked resources).

    ``output_mode``: ``"int"`` (ids), or ``"multi_hot"``, ``"count"``, ``"tf_idf"``
    (``BagEncoder``: one float32 row of ``len(vocab) - 1`` columns per text, as Keras
    ``TextVectorization`` gives them).
    """
    if output_mode != "int":
        return BagEncoder(vocab, output_mode)
    return Encoder(vocab)


def lookup_fn(vocab: Vocabulary) -> Lookup:
    """Ids of already-tokenized string (or int64) tensors, dense or ragged."""
    return Lookup(vocab)


def _format_position(position: tf.Tensor) -> tf.Tensor:
    return tf.strings.reduce_join(tf.strings.as_string(position), separator=", ")


def guard_ids(ids, input_dim: int, name: str = "guard_ids"):
    """Return ``ids`` unchanged if all lie in ``[0, input_dim)``; fail loudly if not.

    In eager mode this raises ``vocabguard.errors.IdRangeError`` (with the failing
    cases attached). Inside ``tf.function`` / ``tf.data`` it raises
    ``tf.errors.InvalidArgumentError`` carrying the same message: the offending
    value, its position, ``input_dim`` and the fix. Accepts dense or ragged ids.

    Inside XLA (``tf.function(jit_compile=True)``, Keras ``jit_compile=True``)
    no check can fail: XLA drops assertions and clamps out-of-range gathers to
    the last row. Tracing ``guard_ids`` there raises ``ConfigError`` at trace
    time, naming the alternatives (guard in ``tf.data``, or
    ``vocabguard.keras.IdGuard(mode="count")`` with ``IdGuardCallback``).

    >>> guard_ids(tf.constant([0, 126]), 127).numpy().tolist()
    [0, 126]
    """
    input_dim = check_input_dim(input_dim)  # e.g. 2**64: a ConfigError, not TF's ValueError
    # dtype_hint: an empty Python list is an empty int64 tensor (as numpy's guard_ids
    # accepts it), not float32.
    flat = (
        ids.flat_values
        if isinstance(ids, tf.RaggedTensor)
        else tf.convert_to_tensor(ids, dtype_hint=tf.int64)
    )
    if not flat.dtype.is_integer:
        raise TypeError(f"guard_ids expects integer ids. Received: dtype={flat.dtype.name}")
    if not tf.executing_eagerly() and in_xla_context():
        raise xla_guard_error(input_dim)
    values = tf.cast(flat, tf.int64)
    bad = tf.logical_or(values < 0, values >= input_dim)
    if tf.executing_eagerly():
        bad_np = bad.numpy()
        if bad_np.any():
            array = values.numpy()
            positions = _positions(ids, np.argwhere(bad_np)[:MAX_REPORTED_CASES])
            raise range_error(
                input_dim,
                positions,
                array[bad_np].tolist(),
                int(bad_np.sum()),
                array.size,
                int(array.min()),
                int(array.max()),
            )
        return flat if isinstance(ids, (list, tuple)) else ids
    with tf.name_scope(name):
        first = tf.where(bad)[:1]
        first_value = tf.gather_nd(values, first)
        position = _graph_position(ids, first)
        dim = str(int(input_dim))
        message = tf.strings.join(
            [
                "Id ",
                tf.strings.reduce_join(tf.strings.as_string(first_value)),
                " at position [",
                position,
                f"] is not in [0, {dim}): ",
                tf.strings.as_string(tf.reduce_sum(tf.cast(bad, tf.int64))),
                " of ",
                tf.strings.as_string(tf.size(values, out_type=tf.int64)),
                f" ids are out of range. An Embedding(input_dim={dim}) would raise on CPU, "
                "return a zero row on GPU, or clamp to the last row under XLA (negative ids "
                "read the last rows in Keras 3). Build the Embedding from the vocabulary "
                "artifact (vocabguard.keras.embedding(vocab, ...)) or re-encode the data with "
                f"the vocabulary it was built with. Received: input_dim={dim}",
            ]
        )
        check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [message], summarize=1)
        with tf.control_dependencies([check]):
            if isinstance(ids, tf.RaggedTensor):
                return ids.with_flat_values(tf.identity(ids.flat_values))
            return tf.identity(ids)


def in_xla_context() -> bool:
    """True while tracing code that XLA will compile (``jit_compile=True``), outer scopes included.

    >>> in_xla_context()
    False
    """
    # Not public API, but the check TF's own control flow uses; it sees the
    # XLA attribute of the graph being traced and of every enclosing graph.
    from tensorflow.python.ops import control_flow_util

    return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


def xla_guard_error(input_dim: int):
    """The trace-time error for an id guard compiled by XLA (where it could never fire)."""
    error = ConfigError(
        "The id guard cannot run inside XLA (jit_compile=True): XLA drops assertions "
        "(tf.debugging.Assert becomes a no-op) and clamps out-of-range gather indices to the "
        "last row, so an id outside [0, input_dim) would pass silently. Check the ids outside "
        "the compiled function: in the tf.data pipeline (dataset.map(lambda ids: "
        "vocabguard.tf.guard_ids(ids, input_dim))), or compile without XLA, or, to keep XLA, "
        "use vocabguard.keras.IdGuard(input_dim, mode='count') (or embedding(vocab, ..., "
        "guard='count')) with vocabguard.keras.IdGuardCallback(), which replace offending "
        "ids by the pad id, count them and raise after the batch. "
        + received(input_dim=int(input_dim), jit_compile=True),
        input_dim=int(input_dim),
    )
    # AutoGraph would re-wrap it as a StagingError (our constructor takes
    # keyword arguments); this attribute makes it pass through unchanged.
    error.ag_pass_through = True
    return error


def _positions(ids, flat_positions: np.ndarray) -> list[list[int]]:
    """Eager positions of offending values: N-d index for dense, [row, col] for 2-D ragged."""
    if not isinstance(ids, tf.RaggedTensor):
        return flat_positions.tolist()
    splits = ids.row_splits.numpy()
    out = []
    for (index,) in flat_positions.tolist():
        row = int(np.searchsorted(splits, index, side="right") - 1)
        out.append([row, index - int(splits[row])])
    return out


def _graph_position(ids, first: tf.Tensor) -> tf.Tensor:
    if isinstance(ids, tf.RaggedTensor) and ids.ragged_rank == 1:
        index = tf.reshape(first, [-1])[:1]
        row = tf.gather(ids.value_rowids(), index)
        column = index - tf.gather(ids.row_splits, row)
        return _format_position(tf.concat([row, column], axis=0))
    return _format_position(tf.reshape(first, [-1]))
