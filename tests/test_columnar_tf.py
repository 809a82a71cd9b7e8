"""The tf.data lookup table is built from the vocabulary's Arrow column (keys cut from
its data buffer by ``tf.strings.substr``): the same ids as the numpy path for any bytes,
retired rows and integers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf

from vocabguard import VocabSpec, Vocabulary
from vocabguard._src.core.vocabulary import INT64, STRING
from vocabguard._src.engines.tf import Lookup, key_tensor


def test_key_tensor_keeps_every_byte_and_slice():
    keys = pa.array([b"", b"\x00a", b"\xff\xfe", "é".encode(), b"x" * 300, b"z"])
    for start in (0, 2):
        got = key_tensor(keys.slice(start)).numpy().tolist()
        assert got == keys.slice(start).to_pylist()


@pytest.mark.parametrize("kind", [STRING, INT64])
def test_table_from_columns_gives_the_numpy_ids(kind):
    if kind == STRING:
        tokens = pa.array([b"b", b"\xff", b"a b", b"", b"tail"], pa.binary())
        probe = [b"b", b"\xff", b"a b", b"", b"tail", b"nope", b"[PAD]"]
        retired = [5]
    else:
        tokens = pa.array([7, -2, 40, 0, 9], pa.int64())
        probe = [7, -2, 40, 9, 11, 0, -1]
        retired = []
    spec = VocabSpec(tokenizer="none", num_oov_buckets=3, max_token_bytes=None)
    if kind == INT64:
        spec = spec.replace(pad_token=-100, oov_token=-101)
    vocab = Vocabulary(spec, kind, tokens, np.arange(5, 0, -1), retired=retired)
    dtype = tf.int64 if kind == INT64 else tf.string
    ids = Lookup(vocab)(tf.constant(probe, dtype=dtype)).numpy().tolist()
    want = vocab.lookup(pa.array(probe, type=tokens.type)).tolist()
    assert ids == want
