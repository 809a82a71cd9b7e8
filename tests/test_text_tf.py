"""Text vocabularies in TensorFlow (issue 14): n-grams on the tf.data path and in Keras."""

from __future__ import annotations

import os

import keras
import numpy as np
import pyarrow as pa
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import tf as vtf
from vocabguard._src.core.tokenizer import WHITESPACE, Tokenizer

ALPHABET = WHITESPACE + "abcAB日本ΣςİßÅ😀\u0301\x00,;. "
TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(ALPHABET), st.characters(codec="utf-8")), max_size=25
)


@st.composite
def ngram_specs(draw):
    tokenizer = draw(st.sampled_from(["whitespace", "regex", "unicode_script"]))
    return vg.VocabSpec(
        tokenizer=tokenizer,
        pattern="[,;. ]+" if tokenizer == "regex" else None,
        lowercase=draw(st.booleans()),
        ngrams=draw(st.sampled_from([1, 2, 3, [2], [1, 3], [2, 3]])),
        ngram_separator=draw(st.sampled_from([" ", "_", "\u2581"])),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXT, min_size=1, max_size=6), spec=ngram_specs())
def test_arrow_and_tf_ngrams_agree_on_arbitrary_unicode(texts, spec):
    expected = vtf.tokenize(tf.constant([t.encode("utf-8") for t in texts]), spec).to_list()
    assert Tokenizer(spec).tokenize_arrow(pa.array(texts, type=pa.string())).to_pylist() == (
        expected
    )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    corpus=st.lists(st.text(alphabet="abcd  é", max_size=16), min_size=1, max_size=8),
    queries=st.lists(st.text(alphabet="abcdex  é", max_size=16), min_size=1, max_size=5),
    ngrams=st.sampled_from([2, 3, [1, 2], [2], [1, 3]]),
    num_oov_buckets=st.sampled_from([1, 3]),
)
def test_ngram_ids_equal_keras_text_vectorization_and_tf_data(
    tmp_path_factory, corpus, queries, ngrams, num_oov_buckets
):
    spec = vg.VocabSpec(ngrams=ngrams, num_oov_buckets=num_oov_buckets)
    corpus = [*corpus, "a b c"]  # Keras cannot load an empty vocab.txt
    store = vg.VocabStore(tmp_path_factory.mktemp("store"))
    vocab = store.publish(vg.build_vocabulary(corpus, spec, progress=False), "grams")
    vocab_txt = os.path.join(store.path("grams"), "vocab.txt")
    layer = None
    if num_oov_buckets == 1:  # TextVectorization has one OOV index
        layer = keras.layers.TextVectorization(
            vocabulary=vocab_txt,
            ngrams=tuple(spec.ngrams) if isinstance(ngrams, list) else ngrams,
            standardize=None,
            split="whitespace",
            output_mode="int",
            ragged=True,
        )
    numpy_rows = [row.tolist() for row in vocab.encode(queries)]
    tf_rows = [
        row
        for batch in tf.data.Dataset.from_tensor_slices(queries).batch(2).map(vtf.encode_fn(vocab))
        for row in batch.to_list()
    ]
    assert numpy_rows == tf_rows
    if layer is not None:
        # Its vocabulary is vocab.txt (ids 2.. on): the ids are vocabguard's.
        assert layer(tf.constant(queries)).to_list() == numpy_rows
        assert layer.vocabulary_size() == vocab.input_dim


def test_ngram_encoder_survives_saved_model_export(tmp_path):
    spec = vg.VocabSpec(ngrams=2, sequence_length=6, num_oov_buckets=2)
    vocab = vg.build_vocabulary(["a b c", "b c d"], spec, progress=False)
    encoder = vtf.encode_fn(vocab)
    texts = tf.constant(["a b c zz", "d"])
    expected = encoder(texts).numpy()
    np.testing.assert_array_equal(expected, vocab.encode(["a b c zz", "d"]))
    tf.saved_model.save(encoder, str(tmp_path / "encoder"))
    restored = tf.saved_model.load(str(tmp_path / "encoder"))
    np.testing.assert_array_equal(restored(texts).numpy(), expected)
