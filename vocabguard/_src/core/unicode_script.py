"""The ``unicode_script`` tokenizer: ICU's script boundaries, from tensorflow-text.

ICU's script data lives only in tensorflow-text, so this is the one place where
the core touches TensorFlow, and only when a spec asks for ``unicode_script``:
TensorFlow is imported inside the functions. ``vocabguard.tf`` calls
``split_tensor`` in its graphs; the numpy/pyarrow tokenizer calls ``split_arrow``,
which runs the same op eagerly, so both paths give identical tokens by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa


def split_tensor(texts: Any) -> Any:
    """Split a string tensor (valid UTF-8) on script boundaries -> ``RaggedTensor``."""
    import tensorflow_text as tf_text

    return tf_text.UnicodeScriptTokenizer().tokenize(texts)


def split_arrow(text: pa.Array) -> pa.ListArray:
    """Split an Arrow string array on script boundaries -> ``list<binary>``."""
    import tensorflow as tf

    values = [b"" if v is None else v.encode("utf-8") for v in text.to_pylist()]
    tokens = split_tensor(tf.constant(values, dtype=tf.string))
    return pa.ListArray.from_arrays(
        pa.array(tokens.row_splits.numpy().astype(np.int32)),
        pa.array(tokens.flat_values.numpy().tolist(), type=pa.binary()),
    )
