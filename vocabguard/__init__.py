"""vocabguard: versioned token vocabularies whose ids always fit the Embedding.

Every id vocabguard emits lies in ``[0, input_dim)``; the artifact records
``input_dim``, and training code takes it from there.

The public surface is deliberately small:

- ``VocabSpec``: how text becomes tokens, and which tokens get ids;
- ``build_vocabulary``: count and select tokens in this process;
- ``Vocabulary``: ids, ``encode`` / ``lookup`` / ``decode`` with numpy;
- ``VocabStore``: publish and load immutable, checksummed versions;
- ``guard_ids``: check integer ids against ``input_dim``;
- ``errors``: the error hierarchy.

TensorFlow lives in ``vocabguard.tf`` and Keras in ``vocabguard.keras``; neither
is imported here. The exports load on first use (PEP 562), so ``import
vocabguard`` and ``vocabguard --help`` do not even load numpy or pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "VocabSpec": "vocabguard.spec",
    "VocabStore": "vocabguard.store",
    "Vocabulary": "vocabguard.vocabulary",
    "build_vocabulary": "vocabguard.builder",
    "guard_ids": "vocabguard.guard",
    "remap_embedding": "vocabguard.remap",
}

__all__ = [
    "VocabSpec",
    "VocabStore",
    "Vocabulary",
    "__version__",
    "build_vocabulary",
    "errors",
    "guard_ids",
    "remap_embedding",
]

if TYPE_CHECKING:
    from vocabguard import errors
    from vocabguard.builder import build_vocabulary
    from vocabguard.guard import guard_ids
    from vocabguard.remap import remap_embedding
    from vocabguard.spec import VocabSpec
    from vocabguard.store import VocabStore
    from vocabguard.vocabulary import Vocabulary


def __getattr__(name: str):
    if name == "errors":
        return importlib.import_module("vocabguard.errors")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vocabguard' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
