"""Bag-of-tokens rows (``multi_hot``, ``count``, ``tf_idf``) with numpy, as Keras makes them.

``vocabguard.tf.encode_fn(vocab, output_mode=...)`` and
``vocabguard.keras.string_lookup(vocab, output_mode=...)`` give the same rows.

A public face: the implementation lives in ``vocabguard._src.core.output_modes``.
"""

from vocabguard._src.core.output_modes import (
    BAG_MODES,
    OUTPUT_MODES,
    encode,
    idf_weights,
    num_columns,
)

__all__ = ["BAG_MODES", "OUTPUT_MODES", "encode", "idf_weights", "num_columns"]
