"""The TensorFlow, numpy/pyarrow and Keras paths give identical tokens and ids."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard import tf as vtf
from vocabguard._src.core.tokenizer import WHITESPACE, Tokenizer

# Characters chosen to stress tokenization: every Unicode White_Space code point,
# look-alikes that are NOT White_Space (Python's str.split splits on \x1c-\x1f),
# combining marks, CJK, right-to-left scripts, emoji (with ZWJ and skin tones),
# controls, case-mapping oddities (final sigma, dotted I, ligatures, titlecase).
TRICKY = (
    WHITESPACE
    + "\x1c\x1d\x1e\x1f\u200b\u180e\ufeff\u2060"
    + "\u0301\u0308\u0323\u20dd"
    + "日本語中文한국어"
    + "שלוםمرحبا\u200f\u200e"
    + "😀👍🏽👩\u200d💻🇫🇷"
    + "\x00\x01\x07\x7f\x9f"
    + "ΣσςİıŉǅﬁẞßÅÅΩ"
    + "abcABC xyz.,;-"
)
text_strategy = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")), max_size=30
)
texts_strategy = st.lists(text_strategy, min_size=1, max_size=6)
REGEX_PATTERNS = ["[,;. ]+", "\\d+", "[\\p{P}\\s]+", "\u3000|ß"]


@st.composite
def spec_strategy(draw):
    tokenizer = draw(st.sampled_from(["whitespace", "regex", "none"]))
    return vg.VocabSpec(
        tokenizer=tokenizer,
        pattern=draw(st.sampled_from(REGEX_PATTERNS)) if tokenizer == "regex" else None,
        lowercase=draw(st.booleans()),
        normalization=draw(st.sampled_from(["none", "NFC", "NFKC"])),
        num_oov_buckets=draw(st.sampled_from([1, 2, 7])),
    )


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Each example of the encoder tests traces a tf.function and builds Keras layers.
SLOW = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def tf_tokens(texts, spec) -> list[list[bytes]]:
    return vtf.tokenize(tf.constant(texts, dtype=tf.string), spec).to_list()


@FAST
@given(texts=texts_strategy, spec=spec_strategy())
def test_python_and_tf_tokenizers_agree_on_arbitrary_unicode(texts, spec):
    expected = tf_tokens([t.encode("utf-8") for t in texts], spec)
    assert Tokenizer(spec).tokenize_arrow(_arrow(texts)).to_pylist() == expected


@FAST
@given(
    raw=st.lists(st.binary(max_size=20), min_size=1, max_size=6),
    spec=spec_strategy().filter(lambda s: s.tokenizer != "none" or s.lowercase),
)
def test_invalid_utf8_is_replaced_the_same_way_on_both_paths(raw, spec):
    # Invalid UTF-8 becomes U+FFFD per maximal invalid subpart on both paths.
    import pyarrow as pa

    python = Tokenizer(spec).tokenize_arrow(pa.array(raw, type=pa.binary())).to_pylist()
    assert python == tf_tokens(raw, spec)
    for tokens in python:
        for token in tokens:
            token.decode("utf-8")  # every token is valid UTF-8 afterwards


def test_opaque_bytes_pass_unchanged_with_tokenizer_none():
    import pyarrow as pa

    spec = vg.VocabSpec(tokenizer="none")
    raw = [b"\xff\xfe", b"a\nb", b""]
    assert Tokenizer(spec).tokenize_arrow(pa.array(raw, type=pa.binary())).to_pylist() == [
        [t] for t in raw
    ]
    assert tf_tokens(raw, spec) == [[t] for t in raw]


def _arrow(texts):
    import pyarrow as pa

    return pa.array(texts, type=pa.string())


def _corpus_vocab(corpus, spec):
    return vg.build_vocabulary(corpus, spec, progress=False)


@SLOW
@given(
    corpus=st.lists(text_strategy, min_size=1, max_size=8),
    queries=texts_strategy,
    spec=spec_strategy(),
    sequence_length=st.sampled_from([None, 3]),
)
def test_numpy_and_tf_data_encoders_agree(corpus, queries, spec, sequence_length):
    if spec.tokenizer != "none":
        spec = spec.replace(sequence_length=sequence_length)
    refused = spec.tokenizer == "none" and spec.missing == "error"
    if refused:  # '' is a missing value there, refused on every path
        corpus = [text for text in corpus if text] or ["x"]
    vocab = _corpus_vocab(corpus, spec)
    dataset = tf.data.Dataset.from_tensor_slices(queries).batch(4).map(vtf.encode_fn(vocab))
    if refused and "" in queries:
        with pytest.raises(vg.errors.InputDataError, match="the value is missing"):
            vocab.encode(queries)
        with pytest.raises(tf.errors.InvalidArgumentError, match="empty string"):
            list(dataset)
        return
    numpy_ids = vocab.encode(queries)
    tf_rows = []
    for batch in dataset:
        rows = batch.to_list() if isinstance(batch, tf.RaggedTensor) else batch.numpy().tolist()
        tf_rows.extend(rows)
    if spec.tokenizer == "none":
        assert np.asarray(numpy_ids).tolist() == tf_rows
    else:
        assert [np.asarray(r).tolist() for r in numpy_ids] == tf_rows
    flat = np.concatenate([np.ravel(np.asarray(r)) for r in numpy_ids] + [np.zeros(0, int)])
    assert flat.size == 0 or (flat.min() >= 0 and flat.max() < vocab.input_dim)


@pytest.mark.parametrize("num_oov_buckets", [1, 3])
@SLOW
@given(
    corpus=st.lists(st.text(alphabet="abcdefgh ÅΩ日", max_size=20), min_size=1, max_size=10),
    queries=st.lists(st.text(alphabet="abcdefghijk ÅΩ日本", max_size=20), min_size=1, max_size=6),
)
def test_keras_string_lookup_from_vocab_txt_matches_vocabguard(
    tmp_path_factory, num_oov_buckets, corpus, queries
):
    spec = vg.VocabSpec(num_oov_buckets=num_oov_buckets, reserved_tokens=["[CLS]"])
    store = vg.VocabStore(tmp_path_factory.mktemp("store"))
    vocab = store.publish(_corpus_vocab(corpus, spec), "parity")
    vocab_txt = os.path.join(store.path("parity"), "vocab.txt")
    layer = keras.layers.StringLookup(
        vocabulary=vocab_txt,
        mask_token=vocab.pad_token,
        oov_token=vocab.oov_token,
        num_oov_indices=num_oov_buckets,
    )
    # Whole texts: tokenize, then Keras' layer, vs vocabguard's numpy and tf.data encoders.
    keras_rows = layer(vtf.tokenize(tf.constant(queries), spec)).to_list()
    assert keras_rows == [row.tolist() for row in vocab.encode(queries)]
    tf_data_rows = [
        row
        for batch in tf.data.Dataset.from_tensor_slices(queries).batch(3).map(vtf.encode_fn(vocab))
        for row in batch.to_list()
    ]
    assert keras_rows == tf_data_rows
    # Single tokens, including the special strings.
    tokens = [t for q in queries for t in q.split(" ") if t] + ["[PAD]", "[UNK]", "[CLS]"]
    keras_ids = layer(tf.constant(tokens)).numpy().tolist()
    assert keras_ids == vocab.lookup(tokens).tolist()
    assert keras_ids == vtf.lookup_fn(vocab)(tf.constant(tokens)).numpy().tolist()
    assert keras_ids == vk.string_lookup(vocab)(tf.constant(tokens)).numpy().tolist()
    assert layer.vocabulary_size() == vocab.input_dim


def test_integer_vocabulary_matches_keras_integer_lookup():
    spec = vg.VocabSpec(tokenizer="none", num_oov_buckets=3)
    vocab = _corpus_vocab([5, 7, 7, 9, 9, 9, -1], spec)
    values = [0, 5, 7, 9, 11, -1, -8, 10**12]
    keras_ids = vk.string_lookup(vocab)(tf.constant(values, dtype=tf.int64)).numpy().tolist()
    assert keras_ids == vocab.encode(values).tolist()
    assert keras_ids == vtf.encode_fn(vocab)(tf.constant(values)).numpy().tolist()


def test_unicode_script_numpy_path_uses_the_same_ops():
    spec = vg.VocabSpec(tokenizer="unicode_script", lowercase=True)
    texts = ["Hello,world! 日本語abc", "Ωmega 42x", ""]
    vocab = _corpus_vocab(texts, spec)
    assert [r.tolist() for r in vocab.encode(texts)] == vtf.encode_fn(vocab)(
        tf.constant(texts)
    ).to_list()
    assert b"," in vocab.token_bytes  # punctuation is its own token in the script tokenizer


def test_encoder_survives_saved_model_export(tmp_path):
    vocab = _corpus_vocab(["a b b c"], vg.VocabSpec(num_oov_buckets=2, sequence_length=5))
    encoder = vtf.encode_fn(vocab)
    texts = tf.constant(["a b zz", "c"])
    expected = encoder(texts).numpy()
    tf.saved_model.save(encoder, str(tmp_path / "encoder"))
    restored = tf.saved_model.load(str(tmp_path / "encoder"))
    np.testing.assert_array_equal(restored(texts).numpy(), expected)
    np.testing.assert_array_equal(expected, vocab.encode(["a b zz", "c"]))


def test_scalar_input_gives_one_row():
    vocab = _corpus_vocab(["a b"], vg.VocabSpec(sequence_length=4))
    row = vtf.encode_fn(vocab)(tf.constant("b a")).numpy()
    assert row.tolist() == vocab.encode(["b a"])[0].tolist()


class TestGuardIds:
    def test_eager_raises_id_range_error_naming_value_position_and_input_dim(self):
        with pytest.raises(vg.errors.IdRangeError) as info:
            vtf.guard_ids(tf.constant([[3, 5], [126, 127]]), 127)
        message = str(info.value)
        assert "Id 127 at position [1, 1] is not in [0, 127)" in message
        assert "Embedding(input_dim=127)" in message
        assert message.endswith("Received: input_dim=127, min_id=3, max_id=127")
        assert info.value.cases == [((1, 1), 127)]

    def test_negative_id_is_caught(self):
        with pytest.raises(vg.errors.IdRangeError, match=r"Id -1 at position \[2\]"):
            vtf.guard_ids(tf.constant([0, 1, -1]), 127)

    def test_graph_mode_raises_with_the_same_text(self):
        guarded = tf.function(lambda ids: vtf.guard_ids(ids, 127))
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            guarded(tf.constant([[1, 2, 127]]))
        assert "Id 127 at position [0, 2] is not in [0, 127)" in str(info.value)
        assert "Received: input_dim=127" in str(info.value)
        assert guarded(tf.constant([[1, 126]])).numpy().tolist() == [[1, 126]]

    def test_tf_data_pipeline_raises(self):
        dataset = tf.data.Dataset.from_tensor_slices([[1, 2], [3, -1]]).map(
            lambda ids: vtf.guard_ids(ids, 10)
        )
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Id -1 at position \[1\]"):
            list(dataset)

    def test_ragged_ids_report_row_and_column(self):
        with pytest.raises(vg.errors.IdRangeError) as info:
            vtf.guard_ids(tf.ragged.constant([[1], [2, 200]]), 127)
        assert info.value.cases == [((1, 1), 200)]

    def test_in_range_ids_pass_unchanged(self):
        ids = tf.constant([[0, 126]])
        assert vtf.guard_ids(ids, 127).numpy().tolist() == [[0, 126]]


def test_keras_embedding_takes_input_dim_from_the_artifact():
    vocab = _corpus_vocab(["a b c"], vg.VocabSpec(capacity=20))
    layer = vk.embedding(vocab, 8)
    assert (layer.input_dim, layer.output_dim, layer.mask_zero) == (20, 8, True)
    with pytest.raises(vg.errors.ConfigError) as info:
        vk.embedding(vocab, 8, input_dim=19)
    assert "input_dim comes from the vocabulary artifact (20" in str(info.value)
    assert "Received: input_dim=19, artifact_input_dim=20" in str(info.value)


def test_tokens_with_spaces_and_tabs_survive_vocab_txt_in_keras(tmp_path):
    # tokenizer none keeps inner, leading and trailing spaces/tabs: vocab.txt is
    # still a faithful file for Keras' file-backed StringLookup.
    corpus = [" a", "b\t", "c d", "c d", "plain"]
    store = vg.VocabStore(tmp_path / "store")
    vocab = store.publish(_corpus_vocab(corpus, vg.VocabSpec(tokenizer="none")), "spaced")
    assert vocab.manifest["vocab_txt"]["written"] is True
    layer = keras.layers.StringLookup(
        vocabulary=os.path.join(store.path("spaced"), "vocab.txt"),
        mask_token=vocab.pad_token,
        oov_token=vocab.oov_token,
    )
    queries = [*corpus, "a", "b", "c", "unknown"]
    assert layer(tf.constant(queries)).numpy().tolist() == vocab.encode(queries).tolist()
    assert layer.vocabulary_size() == vocab.input_dim


def test_newline_tokens_skip_vocab_txt_but_string_lookup_keeps_ids(tmp_path):
    corpus = ["line\nbreak", "ok", "\u2028sep"]
    store = vg.VocabStore(tmp_path / "store")
    vocab = store.publish(_corpus_vocab(corpus, vg.VocabSpec(tokenizer="none")), "broken")
    assert vocab.manifest["vocab_txt"]["written"] is False
    assert "line break" in vocab.manifest["vocab_txt"]["reason"]
    assert not os.path.exists(os.path.join(store.path("broken"), "vocab.txt"))
    layer = vk.string_lookup(vocab)
    assert layer(tf.constant(corpus)).numpy().tolist() == vocab.encode(corpus).tolist()
