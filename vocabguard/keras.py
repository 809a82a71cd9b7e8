"""Keras layers and helpers whose sizes come from the artifact: ``embedding``, ``IdGuard``.

Importing this module imports Keras. ``WordPieceTokenizer`` and ``wordpiece_tokenizer``
(keras_hub's WordPiece tokenizer giving vocabguard's ids) load keras_hub on first use
(the ``keras-hub`` extra).

A public face: the implementation lives in ``vocabguard._src.engines.keras``.
"""

from vocabguard._src.core.extras import requires

# Without the extra, importing this face is one line naming it (MissingExtraError).
with requires("vocabguard.keras"):
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

_KERAS_HUB = ("WordPieceTokenizer", "wordpiece_tokenizer")


def __getattr__(name):
    if name not in _KERAS_HUB:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from vocabguard._src.engines import keras_wordpiece
    except ImportError as error:
        if getattr(error, "name", "") and error.name.split(".")[0] != "keras_hub":
            raise
        from vocabguard._src.core.errors import ConfigError, received

        raise ConfigError(
            f"vocabguard.keras.{name} is built on keras_hub, which is not installed. "
            "Install it with `pip install 'vocabguard[keras-hub]'`. " + received(name=name)
        ) from None
    return getattr(keras_wordpiece, name)


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
]  # and, loaded on first use (keras_hub): WordPieceTokenizer, wordpiece_tokenizer
