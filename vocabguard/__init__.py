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
is imported here, so ``import vocabguard`` stays light.
"""

from vocabguard import errors
from vocabguard.builder import build_vocabulary
from vocabguard.guard import guard_ids
from vocabguard.spec import VocabSpec
from vocabguard.store import VocabStore
from vocabguard.vocabulary import Vocabulary

__version__ = "0.1.0"

__all__ = [
    "VocabSpec",
    "VocabStore",
    "Vocabulary",
    "__version__",
    "build_vocabulary",
    "errors",
    "guard_ids",
]
