"""Keras layers sized and filled from a vocabulary artifact.

``embedding(vocab, output_dim)`` takes ``input_dim`` from the artifact, so the
model and the data cannot drift apart; ``string_lookup(vocab)`` returns a Keras
lookup layer that gives exactly vocabguard's ids.

>>> import vocabguard
>>> vocab = vocabguard.build_vocabulary(["a b b"], vocabguard.VocabSpec(), progress=False)
>>> layer = embedding(vocab, 8)
>>> layer.input_dim, layer.mask_zero
(4, True)
"""

from __future__ import annotations

from typing import Any

import keras

from vocabguard.errors import ConfigError, received
from vocabguard.vocabulary import INT64, Vocabulary, display_token


def embedding(
    vocab: Vocabulary, output_dim: int, *, mask_zero: bool = True, **kwargs: Any
) -> keras.layers.Embedding:
    """A ``keras.layers.Embedding`` whose ``input_dim`` is ``vocab.input_dim``.

    ``mask_zero`` defaults to True because id 0 is always padding. Passing an
    ``input_dim`` that disagrees with the artifact is an error naming both.
    """
    requested = kwargs.pop("input_dim", vocab.input_dim)
    if requested != vocab.input_dim:
        raise ConfigError(
            f"input_dim comes from the vocabulary artifact ({vocab.input_dim} for "
            f"{vocab.ref or 'this vocabulary'}); remove input_dim from the layer arguments. "
            + received(input_dim=requested, artifact_input_dim=vocab.input_dim)
        )
    kwargs.setdefault("name", f"{vocab.name}_embedding" if vocab.name else None)
    return keras.layers.Embedding(
        input_dim=vocab.input_dim, output_dim=output_dim, mask_zero=mask_zero, **kwargs
    )


def string_lookup(vocab: Vocabulary, **kwargs: Any) -> keras.layers.Layer:
    """A Keras lookup layer with vocabguard's ids.

    String vocabularies give ``StringLookup(mask_token=pad, oov_token=oov,
    num_oov_indices=k, vocabulary=[reserved..., learned...])``; integer ones give
    the matching ``IntegerLookup``. The tokens are passed in memory, not as a
    file path, so the layer keeps working after the store moves and every byte
    string survives (a ``vocab.txt`` cannot hold tokens with line breaks).
    """
    common = dict(
        mask_token=vocab.pad_token,
        oov_token=vocab.oov_token,
        num_oov_indices=vocab.num_oov_buckets,
        **kwargs,
    )
    if vocab.token_type == INT64:
        return keras.layers.IntegerLookup(vocabulary=vocab.token_bytes, **common)
    tokens = [display_token(t) for t in vocab.token_bytes]
    if any(isinstance(t, bytes) for t in tokens):
        import numpy as np

        tokens = np.array(vocab.token_bytes, dtype=object)
    return keras.layers.StringLookup(vocabulary=tokens, **common)
