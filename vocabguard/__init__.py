"""vocabguard: versioned token vocabularies whose ids always fit the Embedding.

Every id vocabguard emits lies in ``[0, input_dim)``; the artifact records
``input_dim``, and training code takes it from there.

The public surface is deliberately small:

- ``VocabSpec``: how text becomes tokens, and which tokens get ids;
- ``Tokenizer``: a spec's tokens of a text, with numpy and pyarrow (what ``encode`` looks up);
- ``build_vocabulary``: count and select tokens in this process;
- ``Vocabulary``: ids, ``encode`` / ``lookup`` / ``decode`` with numpy;
- ``VocabStore``: publish and load immutable, checksummed versions;
- ``guard_ids``: check integer ids against ``input_dim``;
- ``import_vocabulary``: publish a TFT, Keras, BERT or Hugging Face vocabulary, keeping
  its token order;
- ``errors``: the error hierarchy.

TensorFlow lives in ``vocabguard.tf`` and Keras in ``vocabguard.keras``; neither
is imported here. The exports load on first use (PEP 562), so ``import
vocabguard`` and ``vocabguard --help`` do not even load numpy or pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vocabguard._src.core.version import __version__

_EXPORTS = {
    "Tokenizer": "vocabguard._src.core.tokenizer",
    "VocabSpec": "vocabguard._src.core.spec",
    "VocabStore": "vocabguard._src.core.store",
    "Vocabulary": "vocabguard._src.core.vocabulary",
    "build_vocabulary": "vocabguard._src.core.builder",
    "guard_ids": "vocabguard._src.core.guard",
    "import_vocabulary": "vocabguard._src.tools.importer",
    "remap_embedding": "vocabguard.remap",
}

__all__ = [
    "Tokenizer",
    "VocabSpec",
    "VocabStore",
    "Vocabulary",
    "__version__",
    "build_vocabulary",
    "errors",
    "guard_ids",
    "import_vocabulary",
    "remap_embedding",
]

if TYPE_CHECKING:
    from vocabguard import errors
    from vocabguard._src.core.builder import build_vocabulary
    from vocabguard._src.core.guard import guard_ids
    from vocabguard._src.core.spec import VocabSpec
    from vocabguard._src.core.store import VocabStore
    from vocabguard._src.core.tokenizer import Tokenizer
    from vocabguard._src.core.vocabulary import Vocabulary
    from vocabguard._src.tools.importer import import_vocabulary
    from vocabguard.remap import remap_embedding


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
