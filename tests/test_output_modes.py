"""``multi_hot``, ``count`` and ``tf_idf`` rows: numpy, tf.data and the Keras helper give
Keras' own values, with OOV and pad in Keras' columns (the pad has none)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard import output_modes
from vocabguard import tf as vtf
from vocabguard.errors import ConfigError

MODES = ("multi_hot", "count", "tf_idf")
CORPUS = [
    "the cat sat on the mat",
    "the dog sat",
    "a cat and a dog",
    "rain on the mat",
    "the the the cat",
    "dog",
]
QUERIES = ["the cat zebra zebra", "", "mat mat mat dog quokka", "a"]


@pytest.fixture(scope="module")
def vocab():
    spec = vg.VocabSpec(lowercase=True, min_document_count=1, sequence_length=3)
    return vg.build_vocabulary(CORPUS, spec, progress=False)


def keras_text_layer(vocab, mode: str):
    """TextVectorization over the same vocabulary (its tokens, no special tokens)."""
    extra = {}
    if mode == "tf_idf":
        extra["idf_weights"] = output_modes.idf_weights(vocab)[vocab.num_oov_buckets :]
    return keras.layers.TextVectorization(
        standardize="lower", output_mode=mode, vocabulary=vocab.tokens[2:], **extra
    )


@pytest.mark.parametrize("mode", MODES)
def test_text_rows_equal_text_vectorization(vocab, mode):
    expected = keras.ops.convert_to_numpy(keras_text_layer(vocab, mode)(tf.constant(QUERIES)))
    numpy_rows = output_modes.encode(vocab, QUERIES, mode)
    tf_rows = vtf.encode_fn(vocab, output_mode=mode)(tf.constant(QUERIES)).numpy()
    assert numpy_rows.shape == expected.shape == (len(QUERIES), len(vocab) - 1)
    np.testing.assert_allclose(numpy_rows, expected, rtol=1e-6)
    np.testing.assert_allclose(tf_rows, expected, rtol=1e-6)
    assert numpy_rows.dtype == tf_rows.dtype == np.float32


def test_oov_lands_in_column_zero_and_sequence_length_does_not_cut(vocab):
    rows = output_modes.encode(vocab, QUERIES, "count")
    assert rows[0, 0] == 2  # zebra twice: the OOV id 1 is column 0
    assert rows[0, vocab.token_to_id("the") - 1] == 1
    assert rows[2].sum() == 5  # five tokens, though sequence_length is 3
    assert rows[1].sum() == 0
    assert vtf.encode_fn(vocab, "count")(tf.constant("mat mat mat dog")).numpy().sum() == 4


def test_idf_equals_an_adapted_text_vectorization(vocab):
    """Keras' own IDF, from adapt() on the same corpus, per token (its order differs)."""
    layer = keras.layers.TextVectorization(standardize="lower", output_mode="tf_idf")
    layer.adapt(CORPUS)
    expected = keras.ops.convert_to_numpy(layer(tf.constant(QUERIES)))
    ours = output_modes.encode(vocab, QUERIES, "tf_idf")
    keras_tokens = layer.get_vocabulary()
    assert sorted(keras_tokens) == sorted(vocab.tokens[1:])
    columns = [0 if t == "[UNK]" else vocab.token_to_id(t) - 1 for t in keras_tokens]
    np.testing.assert_allclose(ours[:, columns], expected, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_string_lookup_helper_and_lists_of_values(mode):
    """tokenizer: none with two OOV buckets: the pad value is dropped, OOV values hash
    into Keras' buckets."""
    records = [["red", "blue"], ["blue", "green", "blue"], ["red"], ["teal"]]
    spec = vg.VocabSpec(tokenizer="none", num_oov_buckets=2, min_document_count=1)
    vocab = vg.build_vocabulary(records, spec, progress=False)
    queries = [["red", "[PAD]", "mauve", "ochre", "red"], ["blue"], []]
    ragged = tf.ragged.constant(queries, dtype=tf.string)
    expected = keras.ops.convert_to_numpy(vk.string_lookup(vocab, output_mode=mode)(ragged))
    np.testing.assert_allclose(output_modes.encode(vocab, queries, mode), expected, rtol=1e-6)
    np.testing.assert_allclose(vtf.encode_fn(vocab, mode)(ragged).numpy(), expected, rtol=1e-6)
    assert expected.shape == (3, len(vocab) - 1)


def test_one_value_per_row():
    vocab = vg.build_vocabulary(["x", "y", "y"], vg.VocabSpec(tokenizer="none"), progress=False)
    rows = output_modes.encode(vocab, ["y", "zz", "[PAD]"], "multi_hot")
    assert rows.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    np.testing.assert_array_equal(
        vtf.encode_fn(vocab, "multi_hot")(tf.constant(["y", "zz", "[PAD]"])).numpy(), rows
    )


def test_tf_idf_needs_document_counts():
    vocab = vg.build_vocabulary(CORPUS, vg.VocabSpec(), progress=False)
    message = "output_mode 'tf_idf' needs each token's document count"
    with pytest.raises(ConfigError, match=message):
        output_modes.encode(vocab, QUERIES, "tf_idf")
    with pytest.raises(ConfigError, match=message):
        vtf.encode_fn(vocab, "tf_idf")
    with pytest.raises(ConfigError, match=message):
        vk.string_lookup(vocab, output_mode="tf_idf")
    with pytest.raises(
        ConfigError, match=r"output_mode must be one of .* Received: output_mode='bag'"
    ):
        output_modes.encode(vocab, QUERIES, "bag")


def test_inside_tf_data(vocab):
    dataset = tf.data.Dataset.from_tensor_slices(QUERIES).batch(2)
    rows = np.concatenate([b.numpy() for b in dataset.map(vtf.encode_fn(vocab, "tf_idf"))])
    np.testing.assert_allclose(rows, output_modes.encode(vocab, QUERIES, "tf_idf"), rtol=1e-6)


WORDS = st.sampled_from(["the", "cat", "dog", "mat", "zebra", "quokka", "a", "sat"])


@pytest.fixture(scope="module")
def count_fn(vocab):
    return vtf.encode_fn(vocab, "count")  # one encoder: traced once for batches of 4


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(WORDS, max_size=8).map(" ".join), min_size=4, max_size=4))
def test_numpy_and_tf_agree_and_count_every_token(vocab, count_fn, texts):
    counts = output_modes.encode(vocab, texts, "count")
    np.testing.assert_array_equal(counts, count_fn(tf.constant(texts)).numpy())
    assert counts.sum(axis=1).tolist() == [len(t.split()) for t in texts]
    np.testing.assert_array_equal(output_modes.encode(vocab, texts, "multi_hot"), counts > 0)
