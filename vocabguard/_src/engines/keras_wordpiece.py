"""keras_hub's ``WordPieceTokenizer`` giving vocabguard's WordPiece ids.

``WordPieceTokenizer`` subclasses ``keras_hub.tokenizers.WordPieceTokenizer`` (its
vocabulary handling, ``tensorflow_text.FastWordpieceTokenizer``, ``detokenize``,
``save_to_preset``, saving in ``.keras`` models) and changes three things so that its
ids are vocabguard's, on any text:

1. Pre-tokenization is vocabguard's (``vocabguard.tf.tokenize``): invalid UTF-8 to
   U+FFFD, the spec's normalization and lowercasing, a split on Unicode White_Space,
   every punctuation character (Unicode P*, BERT's ASCII symbols) its own word.
   keras_hub's own pre-tokenizer is switched off (``split=False, lowercase=False,
   strip_accents=False, split_on_cjk=False``): it splits on ASCII whitespace only,
   drops control and format characters (``\\p{Cc}``, ``\\p{Cf}``) and lowercases by
   NFKC case folding, so its words differ from vocabguard's.
2. A word longer than ``max_chars_per_word`` characters is the OOV id 1 (keras_hub
   counts 100 *bytes* instead: a 34-character Japanese word is over it).
3. Always the TensorFlow path (keras_hub's eager calls otherwise take a Python twin
   that has the 100-byte rule built in).

Importing this module imports Keras, TensorFlow and keras_hub.
"""

from __future__ import annotations

import json
import os

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.utils.tensor_utils import preprocessing_function

from vocabguard._src.core.errors import ConfigError, SpecError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.vocabulary import Vocabulary
from vocabguard._src.core.wordpiece_export import (
    CONFIG_FILE,
    check_keras_vocabulary,
    keras_wordpiece_kwargs,
)
from vocabguard._src.engines.tf import tokenize

# keras_hub's own pre-tokenizer arguments: fixed off (vocabguard's pre-tokenizer runs instead).
_FIXED = {"split": False, "strip_accents": False, "split_on_cjk": False}


@keras.saving.register_keras_serializable(package="vocabguard")
class WordPieceTokenizer(keras_hub.tokenizers.WordPieceTokenizer):
    """keras_hub's WordPiece tokenizer with vocabguard's pre-tokenizer and id layout.

    Args:
        vocabulary: the token of each id, in id order (a list, or a file with one per
            line): ``[PAD]``, ``[UNK]``, reserved tokens, learned pieces, as
            ``vocabguard export --format keras`` writes ``vocabulary.txt``.
        sequence_length: pad (with id 0) or truncate every row to this length.
        normalization: ``none``, ``NFC``, ``NFKC``, ``NFD`` or ``NFKD``, as the spec.
        lowercase: lowercase after normalization (ICU full case mapping), as the spec.
        split_cjk, strip_accents, clean_text, never_split: BERT's basic-tokenizer
            options, as the spec (``VocabSpec``); keras_hub's own are off.
        max_chars_per_word: longer words are the OOV id, as the spec.
        suffix_indicator: the spec's ``joiner``.
        oov_token: the token of id 1.
        input_dim: the artifact's ``input_dim`` (recorded; size the Embedding with it).
        fingerprint: the vocabulary's fingerprint (recorded).
        dtype: ``int32``/``int64`` ids, or ``string`` for the pieces.
    """

    def __init__(
        self,
        vocabulary=None,
        sequence_length=None,
        normalization="none",
        lowercase=False,
        max_chars_per_word=100,
        suffix_indicator="##",
        oov_token="[UNK]",
        input_dim=None,
        fingerprint=None,
        dtype="int32",
        split_cjk=False,
        strip_accents=False,
        clean_text=False,
        never_split=(),
        **kwargs,
    ):
        for name, fixed in _FIXED.items():
            if kwargs.pop(name, fixed) != fixed:
                raise ConfigError(
                    f"vocabguard.keras.WordPieceTokenizer runs vocabguard's pre-tokenizer, so "
                    f"keras_hub's `{name}` is always {fixed}. Remove it; set `normalization` "
                    "and `lowercase` as the vocabulary's spec does. "
                    + received(**{name: not fixed})
                )
        kwargs.pop("_allow_python_workflow", None)
        # Validates the fields as a spec would (the same error text).
        self._spec = VocabSpec(
            tokenizer="wordpiece",
            vocab_size=1,
            normalization=normalization,
            lowercase=lowercase,
            joiner=suffix_indicator,
            max_chars_per_word=max_chars_per_word,
            split_cjk=split_cjk,
            strip_accents=strip_accents,
            clean_text=clean_text,
            never_split=tuple(never_split),
            # Only tokenize() reads this spec: the vocabulary gives the ids (the spec
            # wants each never_split token to be one of its special tokens).
            oov_token=oov_token,
            reserved_tokens=tuple(t for t in never_split if t not in (oov_token, "[PAD]")),
        )
        super().__init__(
            vocabulary=None,
            sequence_length=sequence_length,
            suffix_indicator=suffix_indicator,
            oov_token=oov_token,
            dtype=dtype,
            _allow_python_workflow=False,
            **_FIXED,
            **kwargs,
        )
        self.lowercase = lowercase  # vocabguard's lowercasing (keras_hub's own is off)
        self.normalization = normalization
        self.max_chars_per_word = max_chars_per_word
        self.split_cjk = split_cjk
        self.strip_accents_bert = strip_accents  # keras_hub's strip_accents stays False
        self.clean_text = clean_text
        self.never_split = list(never_split)
        self.input_dim = input_dim
        self.fingerprint = fingerprint
        self.set_vocabulary(vocabulary)

    def set_vocabulary(self, vocabulary):
        if vocabulary is not None and not isinstance(vocabulary, str):
            vocabulary = list(vocabulary)
            # Before keras_hub builds its tokenizer: ids would shift otherwise.
            check_keras_vocabulary(vocabulary, self.suffix_indicator, ref=self.fingerprint)
        super().set_vocabulary(vocabulary)
        if self.vocabulary is not None:
            check_keras_vocabulary(self.vocabulary, self.suffix_indicator, ref=self.fingerprint)
            if len(self.vocabulary) < 2 or self.vocabulary[1] != self.oov_token:
                found = self.vocabulary[1] if len(self.vocabulary) > 1 else None
                raise SpecError(
                    "vocabguard's id layout puts the OOV token at id 1 (line 2 of the "
                    "vocabulary file), after the pad token at id 0. Pass the vocabulary "
                    "vocabguard exported, or the oov_token it has at id 1. "
                    + received(oov_token=self.oov_token, id_1=found),
                    key="oov_token",
                )

    def _set_vocabulary_tf(self):
        self._fast_word_piece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary,
            token_out_type=self.compute_dtype,
            suffix_indicator=self.suffix_indicator,
            unknown_token=self.oov_token,
            no_pretokenization=True,
            support_detokenization=True,
            # Bytes; the characters rule is applied first (a character is <= 4 bytes).
            max_bytes_per_word=4 * self.max_chars_per_word + 4,
        )

    @preprocessing_function
    def _tokenize_tf(self, inputs):
        self._maybe_initialized_tf()
        if isinstance(inputs, tf.RaggedTensor) or inputs.shape.rank not in (0, 1):
            raise ConfigError(
                "vocabguard.keras.WordPieceTokenizer takes a string or a batch of strings "
                "(rank 0 or 1): it splits text into words itself. "
                + received(shape=str(inputs.shape))
            )
        scalar = inputs.shape.rank == 0
        texts = tf.reshape(inputs, [-1]) if scalar else inputs
        words = tokenize(texts, self._spec)
        flat = words.flat_values
        too_long = tf.strings.length(flat, unit="UTF8_CHAR") > self.max_chars_per_word
        words = words.with_flat_values(tf.where(too_long, tf.constant(self.oov_token), flat))
        pieces = self._fast_word_piece.tokenize(words).merge_dims(-2, -1)
        if self.sequence_length:
            pieces = pieces.to_tensor(shape=[None, self.sequence_length])
        return pieces[0] if scalar else pieces

    def _tokenize_python(self, inputs):  # never taken (always the TensorFlow path)
        return self._tokenize_tf(inputs)

    def get_config(self):
        config = super().get_config()
        for name in (*_FIXED, "special_tokens", "special_tokens_in_strings"):
            config.pop(name, None)
        config.update(
            normalization=self.normalization,
            lowercase=self.lowercase,
            max_chars_per_word=self.max_chars_per_word,
            input_dim=self.input_dim,
        )
        # BERT's options: written only when set, so older configs stay as they were.
        bert = {
            "split_cjk": self.split_cjk,
            "strip_accents": self.strip_accents_bert,
            "clean_text": self.clean_text,
            "never_split": self.never_split,
        }
        config.update({k: v for k, v in bert.items() if v})
        config.update(
            fingerprint=self.fingerprint,
        )
        return config


def wordpiece_tokenizer(vocab, sequence_length=None, dtype=None) -> WordPieceTokenizer:
    """A ``WordPieceTokenizer`` giving ``vocab``'s ids: a ``Vocabulary`` or a directory
    written by ``vocabguard export --format keras``.

    ``sequence_length`` and ``dtype`` default to the spec's (``sequence_length``, ``id_dtype``).
    """
    if isinstance(vocab, Vocabulary):
        if vocab.spec.tokenizer != "wordpiece":
            raise SpecError(
                f"{vocab.ref or 'This vocabulary'} is not a WordPiece vocabulary; use "
                "vocabguard.keras.string_lookup(vocab) for a token lookup. "
                + received(tokenizer=vocab.spec.tokenizer),
                key="tokenizer",
            )
        kwargs = keras_wordpiece_kwargs(vocab, list(vocab.tokens))
    else:
        path = os.path.join(os.fspath(vocab), CONFIG_FILE)
        if not os.path.isfile(path):
            raise ConfigError(
                f"{os.fspath(vocab)!r} is not a WordPiece Keras export: it has no "
                f"{CONFIG_FILE}. Pass a Vocabulary, or the directory `vocabguard export REF "
                "--format keras --output DIR` wrote for a WordPiece version. "
                + received(path=os.fspath(vocab))
            )
        with open(path, encoding="utf-8") as fh:
            kwargs = dict(json.load(fh)["kwargs"])
        kwargs["vocabulary"] = os.path.join(os.fspath(vocab), kwargs["vocabulary"])
    if sequence_length is not None:
        kwargs["sequence_length"] = sequence_length
    if dtype is not None:
        kwargs["dtype"] = dtype
    return WordPieceTokenizer(**kwargs)


__all__ = ["WordPieceTokenizer", "wordpiece_tokenizer"]
