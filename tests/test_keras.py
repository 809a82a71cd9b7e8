"""vocabguard.keras: VocabEmbedding, IdGuard, the counting callback, and models that
remember their vocabulary (TensorFlow backend; JAX runs in tests/test_guard_backends.py)."""

from __future__ import annotations

import pickle
import re
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard.errors import ConfigError, IdRangeError, VocabularyMismatchError

# The classic failure: integer ids in [0, 128) and an Embedding sized 127 by hand.
IDS = np.arange(128, dtype=np.int64).reshape(4, 32)  # id 127 sits at position [3, 31]


def _pooled_model(layer: keras.layers.Layer, dtype: str = "int64") -> keras.Model:
    inputs = keras.Input(shape=(None,), dtype=dtype)
    outputs = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    return keras.Model(inputs, keras.layers.Dense(1)(outputs))


def _vocab(corpus=("a b b c", "c d"), **spec):
    return vg.build_vocabulary(list(corpus), vg.VocabSpec(**spec), progress=False)


class TestClassicFailure:
    def test_hand_sized_embedding_with_the_guard_names_id_position_and_input_dim(self):
        guard = vk.IdGuard(127)
        embed = keras.layers.Embedding(input_dim=127, output_dim=4)
        with pytest.raises(IdRangeError) as info:
            embed(guard(IDS))
        message = str(info.value)
        assert message.startswith("Id 127 at position [3, 31] is not in [0, 127): 1 of 128 ids")
        assert "Embedding(input_dim=127)" in message
        assert message.endswith("Received: input_dim=127, min_id=0, max_id=127")
        assert info.value.cases == [((3, 31), 127)]
        assert info.value.input_dim == 127

    def test_hand_sized_embedding_in_a_compiled_model_fails_the_step(self):
        model = keras.Sequential([vk.IdGuard(127), keras.layers.Embedding(127, 4)])
        model.compile(jit_compile=False)
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            model.predict(IDS, verbose=0)
        assert "Id 127 at position [3, 31] is not in [0, 127): 1 of 128 ids" in str(info.value)

    def test_embedding_from_a_vocabguard_artifact_over_the_same_data_fits(self):
        vocab = vg.build_vocabulary(IDS.ravel().tolist(), vg.VocabSpec(tokenizer="none"))
        ids = vocab.lookup(IDS.ravel()).reshape(IDS.shape)
        layer = vk.embedding(vocab, 4)
        # pad, OOV, 128 learned values: 0 is a value like any other (the pad is an id).
        assert layer.input_dim == vocab.input_dim == 130
        assert ids.max() < layer.input_dim
        model = _pooled_model(layer)
        model.compile(optimizer="sgd", loss="mse")
        model.fit(ids, np.zeros((4, 1)), verbose=0)
        assert model.predict(ids, verbose=0).shape == (4, 1)


class TestVocabEmbedding:
    def test_embedding_returns_a_vocab_embedding_recording_the_vocabulary(self):
        vocab = _vocab(capacity=20)
        layer = vk.embedding(vocab, 8)
        assert isinstance(layer, vk.VocabEmbedding)
        assert (layer.input_dim, layer.output_dim, layer.mask_zero) == (20, 8, True)
        assert (layer.vocab_fingerprint, layer.vocab_name, layer.vocab_version) == (
            vocab.fingerprint,
            None,
            None,
        )
        assert layer.guard == "raise"
        config = layer.get_config()
        for key in ("vocab_fingerprint", "vocab_name", "vocab_version", "guard"):
            assert key in config

    def test_input_dim_conflict_error_is_unchanged(self):
        with pytest.raises(ConfigError) as info:
            vk.embedding(_vocab(capacity=20), 8, input_dim=19)
        assert "Received: input_dim=19, artifact_input_dim=20" in str(info.value)

    def test_published_vocabulary_names_the_layer(self, store):
        vocab = store.publish(_vocab(), "words")
        layer = vk.embedding(vocab, 4)
        assert layer.name == "words_embedding"
        assert (layer.vocab_name, layer.vocab_version, layer.vocab_ref) == (
            "words",
            1,
            "words@v1",
        )

    def test_guard_raises_before_the_gather_and_none_disables_it(self):
        vocab = _vocab()
        bad = np.array([[1, vocab.input_dim]])
        with pytest.raises(IdRangeError) as info:
            vk.embedding(vocab, 4)(bad)
        assert f"Id {vocab.input_dim} at position [0, 1] is not in [0, {vocab.input_dim})" in str(
            info.value
        )
        # guard=None: only TF's CPU gather notices (a GPU or XLA would not).
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices\[0,1\] = 6 is not"):
            vk.embedding(vocab, 4, guard=None)(bad)

    def test_negative_ids_are_caught(self):
        with pytest.raises(IdRangeError) as info:
            vk.embedding(_vocab(), 4)(np.array([[2, -1]]))
        assert str(info.value).startswith("Id -1 at position [0, 1] is not in [0, 6)")
        assert "Negative ids are read as the last rows by Keras 3" in str(info.value)

    def test_bad_guard_mode_is_a_config_error(self):
        with pytest.raises(ConfigError) as info:
            vk.embedding(_vocab(), 4, guard="warn")
        assert str(info.value).endswith("Received: guard='warn'")

    def test_raise_guard_opts_out_of_xla_on_tensorflow(self):
        model = _pooled_model(vk.embedding(_vocab(), 4))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        assert any("doesn't support `jit_compile=True`" in str(w.message) for w in caught)
        assert model.jit_compile is False
        # The counting guard keeps XLA.
        counting = _pooled_model(vk.embedding(_vocab(), 4, guard="count"))
        counting.compile(optimizer="sgd", loss="mse", jit_compile=True)
        assert counting.jit_compile is True

    def test_jit_compiled_keras_model_raises_in_fit_and_predict(self):
        vocab = _vocab()
        model = _pooled_model(vk.embedding(vocab, 4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        bad = np.array([[1, 2], [3, vocab.input_dim]])
        expected = f"Id {vocab.input_dim} at position [1, 1] is not in [0, {vocab.input_dim})"
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(expected)):
            # Positions are within the batch (shuffle off keeps row 1 at row 1).
            model.fit(bad, np.zeros((2, 1)), shuffle=False, verbose=0)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"is not in \[0, 6\)"):
            model.predict(bad, verbose=0)
        assert model.predict(bad[:1], verbose=0).shape == (1, 1)  # the model still works


class TestCountMode:
    def test_count_replaces_by_pad_and_callback_raises_after_the_batch(self):
        vocab = _vocab()
        layer = vk.embedding(vocab, 4, guard="count", name="words")
        model = _pooled_model(layer)
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)  # XLA stays on
        good = np.array([[1, 2, 3]] * 4)
        data = np.concatenate([good, [[1, 9, -4]], good])
        with pytest.raises(IdRangeError) as info:
            model.predict(data, batch_size=4, verbose=0, callbacks=[vk.IdGuardCallback()])
        message = str(info.value)
        assert message.startswith(
            "2 ids outside [0, 6) reached layer 'words_id_guard' in predict batch 1"
        )
        assert "replaced them by the pad id 0" in message
        assert message.endswith(
            "Received: input_dim=6, num_bad=2, min_bad_id=-4, max_bad_id=9, batch=1"
        )
        assert layer.id_guard.counts() == {"violations": 2, "min_bad_id": -4, "max_bad_id": 9}

    def test_count_in_fit_and_reset(self):
        vocab = _vocab()
        layer = vk.embedding(vocab, 4, guard="count")
        model = _pooled_model(layer)
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        model.fit(np.array([[1, 2]]), np.zeros((1, 1)), verbose=0, callbacks=[vk.IdGuardCallback()])
        with pytest.raises(IdRangeError, match="in train batch 0"):
            model.fit(np.array([[1, 99]]), np.zeros((1, 1)), callbacks=[vk.IdGuardCallback()])
        layer.id_guard.reset_counts()
        assert layer.id_guard.counts()["violations"] == 0

    def test_counted_ids_are_masked_like_padding(self):
        layer = vk.embedding(_vocab(), 2, guard="count")
        mask = layer.compute_mask(tf.constant([[0, 3, 7]]))
        assert mask.numpy().tolist() == [[False, True, False]]
        out = layer(tf.constant([[0, 7]])).numpy()
        np.testing.assert_array_equal(out[0, 0], out[0, 1])  # 7 became the pad row

    def test_ids_beyond_int32_are_counted_not_wrapped(self):
        guard = vk.IdGuard(5, mode="count")
        out = guard(tf.constant([[2**32 + 1, 3]], dtype=tf.int64))
        assert out.numpy().tolist() == [[0, 3]]
        assert guard.counts()["max_bad_id"] == 2**31 - 1  # clipped, still out of range


class TestModelsRememberTheirVocabulary:
    def test_save_load_round_trip_keeps_the_record(self, store, tmp_path):
        vocab = store.publish(_vocab(), "words")
        model = _pooled_model(vk.embedding(vocab, 4))
        model.compile(optimizer="sgd", loss="mse")
        path = str(tmp_path / "model.keras")
        model.save(path)
        loaded = vk.load_model(path, vocab)
        (layer,) = vk.vocab_layers(loaded)
        assert isinstance(layer, vk.VocabEmbedding)
        assert (layer.vocab_fingerprint, layer.vocab_name, layer.vocab_version, layer.guard) == (
            vocab.fingerprint,
            "words",
            1,
            "raise",
        )
        with pytest.raises(IdRangeError):
            layer(np.array([[vocab.input_dim]]))  # the guard survives loading

    def test_loading_with_another_vocabulary_names_both_fingerprints(self, store, tmp_path):
        v1 = store.publish(_vocab(), "words")
        v2 = store.publish(_vocab(["x y z w v"]), "words")
        model = _pooled_model(vk.embedding(v1, 4))
        path = str(tmp_path / "model.keras")
        model.save(path)
        with pytest.raises(VocabularyMismatchError) as info:
            vk.load_model(path, v2)
        message = str(info.value)
        assert message.startswith(
            f"Layer 'words_embedding' was built from vocabulary words@v1 (fingerprint "
            f"{v1.fingerprint[:12]}, input_dim {v1.input_dim}), but the given vocabulary is "
            f"words@v2 (fingerprint {v2.fingerprint[:12]}, input_dim {v2.input_dim})"
        )
        assert message.endswith(
            f"Received: layer='words_embedding', model_fingerprint='{v1.fingerprint}', "
            f"vocab_fingerprint='{v2.fingerprint}', model_input_dim={v1.input_dim}, "
            f"vocab_input_dim={v2.input_dim}"
        )
        copy = pickle.loads(pickle.dumps(info.value))
        assert (type(copy), str(copy), copy.vocab_fingerprint) == (
            VocabularyMismatchError,
            message,
            v2.fingerprint,
        )

    def test_nested_models_and_several_vocabularies(self, store):
        text = store.publish(_vocab(), "text")
        country = store.publish(_vocab(["fr de fr"], tokenizer="none"), "country")
        inner = keras.Sequential([vk.embedding(text, 4)], name="inner")
        text_in = keras.Input(shape=(None,), dtype="int64")
        country_in = keras.Input(shape=(), dtype="int64")
        merged = keras.layers.Concatenate()(
            [
                keras.layers.GlobalAveragePooling1D()(inner(text_in)),
                vk.embedding(country, 4, mask_zero=False)(country_in),
            ]
        )
        model = keras.Model([text_in, country_in], merged)
        assert [layer.vocab_name for layer in vk.vocab_layers(model)] == ["text", "country"]
        assert len(vk.check_vocabulary(model, [text, country])) == 2
        other = _vocab(["q r s"])
        with pytest.raises(VocabularyMismatchError, match="No layer of the model was built from"):
            vk.check_vocabulary(model, other)

    def test_model_without_vocab_embedding_cannot_be_checked(self):
        model = keras.Sequential([keras.layers.Embedding(5, 2)], name="plain")
        with pytest.raises(VocabularyMismatchError, match="has no VocabEmbedding layer"):
            vk.check_vocabulary(model, _vocab())
