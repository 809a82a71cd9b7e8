"""Stable ids over time: compare two versions, and carry a trained model to a newer one.

- ``diff_vocabularies(old, new)``: token by token, what changed between two versions
  and whether every id of ``old`` keeps its meaning in ``new`` (``id_compatible``);
- ``migrate_model(model_path, new_vocab, output)``: a saved Keras model warm-started on
  a newer version, each token keeping its trained row (TensorFlow loads when it runs).

Importing this module loads neither TensorFlow nor Beam.

A public face: the implementation lives in ``vocabguard._src.tools.diff`` and
``vocabguard._src.tools.migration``.

>>> import vocabguard as vg
>>> v1 = vg.build_vocabulary(["a b c"], vg.VocabSpec(), progress=False)
>>> v2 = vg.build_vocabulary(["a b c d d"], vg.VocabSpec(), parent=v1, progress=False)
>>> diff_vocabularies(v1, v2).id_compatible
True
"""

from vocabguard._src.tools.diff import VocabDiff, diff_vocabularies
from vocabguard._src.tools.migration import MigrationResult, migrate_model

__all__ = ["MigrationResult", "VocabDiff", "diff_vocabularies", "migrate_model"]
