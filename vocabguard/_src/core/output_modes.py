"""Bag-of-tokens outputs (``multi_hot``, ``count``, ``tf_idf``) with numpy, as Keras makes them.

One row per text (or per list of values), one column per id except the pad: column
``j`` is id ``j + 1``, so the OOV ids ``1..k`` are columns ``0..k-1`` and token id
``i`` is column ``i - 1`` (Keras ``TextVectorization`` / ``StringLookup`` drop the mask
slot in these modes the same way). The width is ``len(vocab) - 1``; the pad id is
never counted.

- ``count``: how often each id occurs in the text;
- ``multi_hot``: 1 where it occurs;
- ``tf_idf``: the count times the id's IDF, ``log(1 + documents / (1 + document_count))``
  (Keras' formula), from the document counts the build recorded (set
  ``min_document_count: 1`` to record them); each OOV column's IDF is the mean of the
  tokens' IDFs, as Keras sets it.

Every value is ``float32`` (Keras' ``floatx``). A spec's ``sequence_length`` does not
truncate: every token of the text is counted, as Keras refuses ``output_sequence_length``
in these modes.

>>> from vocabguard import VocabSpec, build_vocabulary
>>> vocab = build_vocabulary(["a b b", "b c"], VocabSpec(min_document_count=1), progress=False)
>>> vocab.tokens
['[PAD]', '[UNK]', 'b', 'a', 'c']
>>> encode(vocab, ["b zz b a"], "count").tolist()
[[1.0, 2.0, 1.0, 0.0]]
>>> encode(vocab, ["b zz b a"], "multi_hot").tolist()
[[1.0, 1.0, 1.0, 0.0]]
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from vocabguard._src.core.errors import ConfigError, received

OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")
BAG_MODES = ("multi_hot", "count", "tf_idf")


def check_output_mode(output_mode: str, allowed: tuple = OUTPUT_MODES) -> str:
    """``output_mode`` if it is one of ``allowed``; else a ``ConfigError`` listing them."""
    if output_mode not in allowed:
        raise ConfigError(
            f"output_mode must be one of {', '.join(repr(m) for m in allowed)} (as Keras "
            "TextVectorization). " + received(output_mode=output_mode)
        )
    return output_mode


def num_columns(vocab: Any) -> int:
    """Columns of a bag-of-tokens row: one per id but the pad (``len(vocab) - 1``)."""
    return len(vocab) - 1


def token_idf(vocab: Any) -> np.ndarray:
    """IDF of each reserved and learned token (``vocab.token_bytes`` order), float64.

    Raises ``ConfigError`` when the build did not count documents.
    """
    documents = vocab.document_counts
    total = vocab.stats.get("documents")
    if documents is None or total is None:
        raise ConfigError(
            f"output_mode 'tf_idf' needs each token's document count, which "
            f"{vocab.ref or 'this vocabulary'} did not record. Rebuild it with "
            "min_document_count: 1 (--min-document-count 1), which records them and keeps "
            "every token. " + received(output_mode="tf_idf", ref=vocab.ref)
        )
    return np.log1p(total / (1.0 + np.asarray(documents, dtype=np.float64)))


def idf_weights(vocab: Any) -> np.ndarray:
    """IDF of every column (OOV columns first: the mean of the tokens' IDFs), float32.

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> vocab = build_vocabulary(["a b", "b"], VocabSpec(min_document_count=1), progress=False)
    >>> [round(float(w), 4) for w in idf_weights(vocab)]  # [UNK], b, a
    [0.602, 0.5108, 0.6931]
    """
    tokens = token_idf(vocab)
    oov = np.full(vocab.num_oov_buckets, tokens.mean() if len(tokens) else 0.0)
    weights = np.concatenate([oov, tokens])
    return np.pad(weights, (0, num_columns(vocab) - len(weights))).astype(np.float32)


def _uncut(vocab: Any) -> Any:
    """``vocab`` without ``sequence_length``: a bag counts every token."""
    if vocab.spec.sequence_length is None:
        return vocab
    uncut = copy.copy(vocab)
    uncut.spec = vocab.spec.replace(sequence_length=None)
    return uncut


def bag(ids: list[np.ndarray], vocab: Any, output_mode: str) -> np.ndarray:
    """The ``output_mode`` rows of per-text id arrays."""
    check_output_mode(output_mode, BAG_MODES)
    depth = len(vocab)
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    flat = np.concatenate(ids).astype(np.int64) if len(ids) else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(ids)), lengths)
    counts = np.bincount(rows * depth + flat, minlength=len(ids) * depth)
    out = counts.reshape(len(ids), depth)[:, 1:].astype(np.float32)  # the pad has no column
    if output_mode == "multi_hot":
        return np.minimum(out, 1.0)
    if output_mode == "tf_idf":
        return out * idf_weights(vocab)
    return out


def encode(vocab: Any, texts: Iterable, output_mode: str = "count") -> np.ndarray:
    """``[len(texts), len(vocab) - 1]`` float32 rows of ``output_mode`` (see the module).

    ``texts``: texts, or with ``tokenizer: none`` values (each its own row) or lists of
    values (one row per list). ``output_mode="int"`` is ``vocab.encode(texts)``.
    """
    check_output_mode(output_mode)
    if output_mode == "int":
        return vocab.encode(texts)
    if output_mode == "tf_idf":
        token_idf(vocab)  # refuse before encoding
    ids = _uncut(vocab).encode(texts)
    if isinstance(ids, np.ndarray) and ids.ndim == 1:  # one value per row
        ids = [ids[i : i + 1] for i in range(len(ids))]
    return bag(list(ids), vocab, output_mode)


__all__ = [
    "BAG_MODES",
    "OUTPUT_MODES",
    "check_output_mode",
    "encode",
    "idf_weights",
    "num_columns",
    "token_idf",
]
