"""``standardize``: Keras TextVectorization's standardization, the same in numpy and
tf.data, and equal to Keras' own."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import tf as vtf
from vocabguard._src.core.spec import STANDARDIZE
from vocabguard._src.core.tokenizer import STRIP_PUNCTUATION, tokenize_batch
from vocabguard.errors import SpecError

TEXTS = [
    "Don't stop believing!",
    "U.S.A. -- e-mail: A@B.com (100%)",
    "Ünïcode ÉCOLE straße «quotes» ‘curly’",
    "tabs\tand\u00a0nbsp",
    "",
    "[CLS] {x} ~y^ |z| `w`",
]


def test_the_pattern_is_keras_own():
    import inspect

    from keras.src.layers.preprocessing import text_vectorization

    assert STRIP_PUNCTUATION in inspect.getsource(text_vectorization)


@pytest.mark.parametrize("mode", STANDARDIZE)
def test_tokens_equal_keras_text_vectorization(mode):
    """Keras' split is tf.strings.split (ASCII whitespace): the regex tokenizer on it."""
    spec = vg.VocabSpec(tokenizer="regex", pattern="[\\t\\n\\x0b\\x0c\\r ]+", standardize=mode)
    layer = keras.layers.TextVectorization(standardize=mode, output_mode="int")
    layer.adapt(TEXTS)
    tokens = layer.get_vocabulary()[2:]
    vocab = vg.Vocabulary(spec, "string", tokens, [0] * len(tokens))
    expected = keras.ops.convert_to_numpy(layer(tf.constant(TEXTS)))
    width = expected.shape[1]
    ours = [np.pad(row, (0, width - len(row))) for row in vocab.encode(TEXTS)]
    np.testing.assert_array_equal(np.stack(ours), expected)
    tf_ids = vtf.encode_fn(vocab)(tf.constant(TEXTS)).to_tensor(shape=[None, width]).numpy()
    np.testing.assert_array_equal(tf_ids, expected)


def test_lowercasing_is_ascii_only_as_keras():
    spec = vg.VocabSpec(standardize="lower_and_strip_punctuation")
    assert tokenize_batch(spec, ["Don't ÉCOLE!"]) == [[b"dont", "École".encode()]]


def test_default_is_unchanged_and_absent_from_the_contract():
    plain = vg.build_vocabulary(TEXTS, vg.VocabSpec(), progress=False)
    assert "standardize" not in plain.contract() and "standardize" not in plain.spec.to_dict()
    keras_like = vg.build_vocabulary(
        TEXTS, vg.VocabSpec(standardize="strip_punctuation"), progress=False
    )
    assert keras_like.contract()["standardize"] == "strip_punctuation"
    assert "dont" not in plain.tokens and "Dont" in keras_like.tokens


def test_bad_values_are_refused():
    with pytest.raises(SpecError, match="`standardize` must be one of lower, strip_punctuation"):
        vg.VocabSpec(standardize="upper")
    with pytest.raises(
        SpecError, match="`standardize` is not supported with `tokenizer: wordpiece`"
    ):
        vg.VocabSpec(tokenizer="wordpiece", vocab_size=10, standardize="lower")


@pytest.fixture(scope="module")
def encoder():
    vocab = vg.build_vocabulary(
        ["dont stop a b c"], vg.VocabSpec(standardize="lower_and_strip_punctuation"), progress=False
    )
    return vocab, vtf.encode_fn(vocab)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=3, max_size=3))
def test_numpy_and_tf_agree_on_any_text(encoder, texts):
    vocab, encode = encoder
    tf_rows = encode(tf.constant(texts)).to_list()
    assert [row.tolist() for row in vocab.encode(texts)] == tf_rows
