"""TensorFlow twins of vocabguard's encoders, for tf.data, tf.function and SavedModel.

>>> import vocabguard as vg
>>> from vocabguard import tf as vtf
>>> vocab = vg.build_vocabulary(["a b b"], vg.VocabSpec(), progress=False)
>>> vtf.encode_fn(vocab)(["b a zz"]).numpy().tolist()
[[2, 3, 1]]

Importing this module imports TensorFlow.

A public face: the implementation lives in ``vocabguard._src.engines.tf``.
"""

from vocabguard._src.core.extras import requires

# Without the extra, importing this face is one line naming it (MissingExtraError).
with requires("vocabguard.tf"):
    from vocabguard._src.engines.tf import (
        BagEncoder,
        Encoder,
        Lookup,
        encode_fn,
        guard_ids,
        in_xla_context,
        lookup_fn,
        tokenize,
        xla_guard_error,
    )

__all__ = [
    "BagEncoder",
    "Encoder",
    "Lookup",
    "encode_fn",
    "guard_ids",
    "in_xla_context",
    "lookup_fn",
    "tokenize",
    "xla_guard_error",
]
