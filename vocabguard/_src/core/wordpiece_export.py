"""What a WordPiece vocabulary's Keras export holds, and when it cannot give vocabguard's ids.

The Keras export of ``tokenizer: wordpiece`` is ``vocabguard.keras.WordPieceTokenizer``
(a subclass of ``keras_hub.tokenizers.WordPieceTokenizer``) over a vocabulary file
whose line ``i`` is the token of id ``i``: ``[PAD]`` (0), ``[UNK]`` (1), the reserved
tokens, the learned pieces. This module (no TensorFlow) gives that file's lines and
the layer's arguments, and refuses what would give other ids than vocabguard's:

- a token that is not one text line after keras_hub's reader (``line.rstrip()``):
  a line break, or trailing characters ``str.rstrip`` strips (``\\x1c``..``\\x1f``
  are not Unicode White_Space, so a piece may end with one), or that holds NUL
  (``FastWordpieceTokenizer`` cannot build with it, as in ``vocabguard.tf``);
- a pad or OOV token that a word could match: keras_hub looks words up in the whole
  file, so a pad token ``pad`` would give the word ``pad`` id 0, where vocabguard
  splits it into pieces. A token holding whitespace or punctuation (outside a
  leading joiner) is never a word nor a piece of one, as ``[PAD]`` / ``[UNK]``.

>>> from vocabguard._src.core.spec import VocabSpec
>>> matchable_by_words("[UNK]", "##"), matchable_by_words("unk", "##")
(False, True)
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence

from vocabguard._src.core.artifact import export_identity
from vocabguard._src.core.errors import ArtifactError, SpecError, received
from vocabguard._src.core.tokenizer import WHITESPACE
from vocabguard._src.core.wordpiece import resolved_joiner, resolved_max_chars

# The ASCII symbols BERT (and the pre-tokenizer) treat as punctuation besides Unicode P*.
_ASCII_PUNCTUATION = frozenset(
    chr(c) for c in [*range(0x21, 0x30), *range(0x3A, 0x41), *range(0x5B, 0x61), *range(0x7B, 0x7F)]
)
_WHITESPACE = frozenset(WHITESPACE)

KERAS_LAYER = "vocabguard.keras.WordPieceTokenizer"
VOCABULARY_FILE = "vocabulary.txt"
CONFIG_FILE = "wordpiece_config.json"
KERAS_HUB_LAYER = "keras_hub.tokenizers.WordPieceTokenizer"


def _splits_words(char: str) -> bool:
    """Whether the pre-tokenizer never leaves ``char`` inside a word."""
    return (
        char in _WHITESPACE
        or char in _ASCII_PUNCTUATION
        or unicodedata.category(char).startswith("P")
    )


def matchable_by_words(token: str, joiner: str) -> bool:
    """Whether greedy WordPiece could emit ``token`` for some pre-tokenized word.

    A word holds no whitespace nor punctuation, so a vocabulary entry with one is never
    a word's first piece; as a continuation piece it is matched without its joiner.
    """
    if not any(_splits_words(c) for c in token):
        return True
    rest = token[len(joiner) :] if token.startswith(joiner) else None
    return bool(rest) and not any(_splits_words(c) for c in rest)


def unsafe_vocabulary_line(token: str) -> str | None:
    """Why ``token`` does not survive keras_hub's vocabulary file (``rstrip``ped lines)."""
    if not token:
        return "an empty token would be an empty line"
    if "\n" in token or "\r" in token:
        return f"token {token!r} contains a line break, which would split it in two"
    if "\x00" in token:
        return (
            f"token {token!r} contains NUL, which tensorflow-text's FastWordpieceTokenizer "
            "(keras_hub's WordPiece step) cannot hold"
        )
    if token.rstrip() != token:
        return (
            f"token {token!r} ends with {token[-1]!r}, which keras_hub's reader strips "
            "(line.rstrip())"
        )
    return None


def check_keras_vocabulary(tokens: Sequence, joiner: str, ref: object = None) -> list[str]:
    """The export's vocabulary lines (token of id ``i`` at line ``i``), or an error.

    Raises ``ArtifactError`` for a token the file cannot hold as written, ``SpecError``
    for a pad or OOV token that a word could match.
    """
    lines: list[str] = []
    for id_, token in enumerate(tokens):
        if not isinstance(token, str):
            raise ArtifactError(
                f"Cannot export {ref} for keras_hub: id {id_} is {token!r}, not text. "
                "keras_hub's WordPieceTokenizer reads a UTF-8 vocabulary. "
                + received(ref=ref, id=id_),
                cases=[id_],
            )
        reason = unsafe_vocabulary_line(token)
        if reason:
            raise ArtifactError(
                f"Cannot export {ref} for keras_hub: id {id_}: {reason}. Every later id would "
                "shift or change. Use vocabguard.tf.encode_fn(vocab) (it passes the pieces in "
                "memory) or the serving SavedModel. " + received(ref=ref, id=id_),
                cases=[id_],
            )
        lines.append(token)
    for id_, name in ((0, "pad_token"), (1, "oov_token")):
        if id_ < len(lines) and matchable_by_words(lines[id_], joiner):
            raise SpecError(
                f"Cannot export {ref} for keras_hub: its {name} {lines[id_]!r} (id {id_}) could "
                "be a word or a piece of one, and keras_hub's WordPieceTokenizer would give such "
                f"a word id {id_} where vocabguard splits it into pieces. Use a {name} with "
                "punctuation or whitespace in it (the defaults '[PAD]' and '[UNK]'), or "
                "vocabguard.tf.encode_fn(vocab). " + received(**{name: lines[id_]}),
                key=name,
            )
    return lines


def keras_wordpiece_kwargs(vocab, vocabulary: object) -> dict:
    """The arguments of ``vocabguard.keras.WordPieceTokenizer`` giving ``vocab``'s ids."""
    spec = vocab.spec
    # BERT's basic-tokenizer options, only when set (older exports stay as they were).
    bert = {
        "split_cjk": spec.split_cjk,
        "strip_accents": spec.strip_accents,
        "clean_text": spec.clean_text,
        "never_split": list(spec.never_split),
    }
    return {
        **{key: value for key, value in bert.items() if value},
        "vocabulary": vocabulary,
        "sequence_length": spec.sequence_length,
        "normalization": spec.normalization,
        "lowercase": spec.lowercase,
        "max_chars_per_word": resolved_max_chars(spec),
        "suffix_indicator": resolved_joiner(spec),
        "oov_token": vocab.oov_token,
        "input_dim": vocab.input_dim,
        "fingerprint": vocab.fingerprint,
        "dtype": spec.id_dtype,
    }


def keras_export_files(vocab) -> dict[str, str]:
    """``vocabguard export --format keras`` of a WordPiece version: ``vocabulary.txt``
    (line ``i`` is id ``i``, pad and OOV included, as keras_hub reads it) and
    ``wordpiece_config.json`` (the arguments of ``vocabguard.keras.WordPieceTokenizer``)."""
    kwargs = keras_wordpiece_kwargs(vocab, VOCABULARY_FILE)
    lines = check_keras_vocabulary(vocab.tokens, kwargs["suffix_indicator"], ref=vocab.ref)
    config = {
        "layer": KERAS_LAYER,
        "subclass_of": KERAS_HUB_LAYER,
        "kwargs": kwargs,
        **export_identity(vocab),
        "notes": (
            f"{VOCABULARY_FILE} is relative to this file; line i is the token of id i. "
            "vocabguard.keras.wordpiece_tokenizer(DIR) builds the layer (pip install "
            "'vocabguard[keras-hub]'); it gives vocabguard's ids for raw text: it runs "
            "vocabguard's pre-tokenizer (normalization, lowercasing, Unicode White_Space and "
            "punctuation split, max_chars_per_word) before keras_hub's WordPiece step. "
            f"keras_hub's own {KERAS_HUB_LAYER} given this file gives other ids (its "
            "pre-tokenizer and its 100-byte word limit differ). Size the Embedding with "
            "input_dim."
        ),
    }
    return {
        VOCABULARY_FILE: "".join(line + "\n" for line in lines),
        CONFIG_FILE: json.dumps(config, indent=2, ensure_ascii=False) + "\n",
    }


__all__ = [
    "CONFIG_FILE",
    "KERAS_HUB_LAYER",
    "KERAS_LAYER",
    "VOCABULARY_FILE",
    "check_keras_vocabulary",
    "keras_export_files",
    "keras_wordpiece_kwargs",
    "matchable_by_words",
    "unsafe_vocabulary_line",
]
