"""Keras layers and helpers whose sizes come from the artifact: ``embedding``, ``IdGuard``.

Importing this module imports Keras.

A public face: the implementation lives in ``vocabguard._src.engines.keras``.
"""

from vocabguard._src.engines.keras import (
    GUARD_MODES,
    IdGuard,
    IdGuardCallback,
    VocabEmbedding,
    check_vocabulary,
    counting_error,
    embedding,
    guard_tensor,
    load_model,
    string_lookup,
    vocab_layers,
)

__all__ = [
    "GUARD_MODES",
    "IdGuard",
    "IdGuardCallback",
    "VocabEmbedding",
    "check_vocabulary",
    "counting_error",
    "embedding",
    "guard_tensor",
    "load_model",
    "string_lookup",
    "vocab_layers",
]
