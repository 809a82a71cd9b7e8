"""Models built on Keras' own lookup layers: ``vocabguard import --format keras-model``
and ``migrate-model`` onto vocabguard's layers, with identical predictions.

A small topic corpus is made here (three topics, shared function words, punctuation
and case), a Keras model is trained on it for a few epochs, then imported and migrated.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard._src.tools.migration import migrate_model
from vocabguard.cli import main
from vocabguard.errors import InputDataError

TOPICS = {
    "sport": "match goal team coach league striker keeper penalty season cup final fans",
    "weather": "rain storm cloud wind forecast sunny cold snow temperature humid fog heat",
    "food": "recipe oven flour butter sugar garlic onion bake roast salad spicy dinner",
}
COMMON = "the a of and in on was is it this that very with for today".split()


def corpus(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Sentences mixing a topic's words with function words, some capitalized, with
    punctuation (what TextVectorization's default standardization strips)."""
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(len(names)))
        words = TOPICS[names[label]].split()
        picked = list(rng.choice(words, size=4)) + list(rng.choice(COMMON, size=5))
        rng.shuffle(picked)
        picked[0] = picked[0].capitalize()
        texts.append(" ".join(picked) + rng.choice([".", "!", "?", ", indeed."]))
        labels.append(label)
    return texts, np.array(labels)


def strings(texts) -> tf.Tensor:
    return tf.constant(list(texts))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A TextVectorization + Embedding classifier trained on the corpus, saved."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("keras_native")
    texts, labels = corpus(240, seed=0)
    vectorize = keras.layers.TextVectorization(output_sequence_length=12, name="vectorize")
    vectorize.adapt(texts)
    inputs = keras.Input(shape=(), dtype="string")
    x = vectorize(inputs)
    x = keras.layers.Embedding(vectorize.vocabulary_size(), 8, name="embed")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(strings(texts), labels, epochs=8, batch_size=32, verbose=0)
    path = root / "topics.keras"
    model.save(path)
    return {"root": root, "path": path, "model": model, "vocabulary": vectorize.get_vocabulary()}


def test_text_vectorization_model_imports_with_identical_ids(trained, store):
    result = vg.import_vocabulary(trained["path"], "keras-model", name="topics", store=store)
    assert result.id_map.identical
    assert result.source["layer"] == "vectorize"
    assert result.source["layer_class"] == "TextVectorization"
    assert result.vocab.tokens[2:] == trained["vocabulary"][2:]
    spec = result.vocab.spec
    assert spec.sequence_length == 12 and spec.standardize == "lower_and_strip_punctuation"


def test_imported_text_vectorization_encodes_as_the_layer(trained):
    """Keras' standardization and ASCII-whitespace split, reproduced: numpy and tf.data
    give the layer's own ids, on punctuation, case, non-ASCII letters and spaces."""
    from vocabguard import tf as vtf

    vocab = vg.import_vocabulary(trained["path"], "keras-model").vocab
    texts, _ = corpus(30, seed=5)
    texts += ["Don't STOP: the GOAL!!", "Été\u00a0rain, Rain.", "a\tb\u2003c", "", "?!"]
    layer = trained["model"].get_layer("vectorize")
    expected = keras.ops.convert_to_numpy(layer(strings(texts)))
    np.testing.assert_array_equal(vocab.encode(texts), expected)
    np.testing.assert_array_equal(vtf.encode_fn(vocab)(strings(texts)).numpy(), expected)


def test_migrated_text_vectorization_model_predicts_the_same(trained, store_root, capsys):
    root, path = trained["root"], str(trained["path"])
    store = ["--store", str(store_root)]
    assert main(["import", path, "--format", "keras-model", "--name", "topics", *store]) == 0
    assert "identical: source id i is vocabguard id i" in capsys.readouterr().out
    output = str(root / "topics_vg.keras")
    code = main(["migrate-model", path, "--to", "topics@v1", "--output", output, *store])
    report = capsys.readouterr().out
    assert code == 0, report
    assert "TextVectorization 'vectorize'" in report
    held_out, labels = corpus(60, seed=1)
    held_out += ["Zebra quantum, unseen words!", ""]
    migrated = vk.load_model(output, vg.VocabStore(store_root).load("topics@v1"))
    before = trained["model"].predict(strings(held_out), verbose=0)
    after = migrated.predict(strings(held_out), verbose=0)
    np.testing.assert_array_equal(after, before)
    accuracy = float((before[:60].argmax(1) == labels).mean())
    assert accuracy > 0.9, accuracy  # it learned the topics: the comparison means something
    embedding = migrated.get_layer("embed")
    assert type(embedding) is vk.VocabEmbedding and embedding.guard == "raise"
    assert main(["check-model", output, "--vocab", "topics@v1", *store]) == 0


def test_string_lookup_without_mask_moves_every_row(tmp_path, store):
    """StringLookup(mask_token=None): Keras ids are vocabguard's minus one; rows follow."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(2)
    cities = np.array(["paris", "oslo", "lima", "rome", "kyiv", "doha"])
    values = rng.choice(cities, size=200)
    labels = np.isin(values, ["paris", "rome", "oslo"]).astype("int32")
    lookup = keras.layers.StringLookup(name="city_lookup")
    lookup.adapt(values)
    inputs = keras.Input(shape=(1,), dtype="string")
    x = keras.layers.Embedding(lookup.vocabulary_size(), 4, name="city_embed")(lookup(inputs))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "binary_crossentropy")
    model.fit(tf.constant(values[:, None]), labels, epochs=3, verbose=0)
    path = tmp_path / "cities.keras"
    model.save(path)
    result = vg.import_vocabulary(path, "keras-model", name="cities", store=store)
    assert result.id_map.array().tolist() == list(range(1, lookup.vocabulary_size() + 1))
    output = tmp_path / "cities_vg.keras"
    migration = migrate_model(path, result.vocab, output)
    kinds = [layer.kind for layer in migration.layers]
    assert kinds == ["lookup", "embedding"]
    migrated = vk.load_model(str(output), result.vocab)
    held_out = tf.constant([["rome"], ["doha"], ["atlantis"], ["oslo"]])
    np.testing.assert_array_equal(
        migrated.predict(held_out, verbose=0), model.predict(held_out, verbose=0)
    )
    old_rows = keras.ops.convert_to_numpy(model.get_layer("city_embed").embeddings)
    new_rows = keras.ops.convert_to_numpy(migrated.get_layer("city_embed").embeddings)
    np.testing.assert_array_equal(new_rows[1:], old_rows)  # every Keras row, one id up
    assert migrated.get_layer("city_lookup").get_vocabulary()[0] == "[PAD]"


def test_migrating_onto_a_rebuilt_vocabulary_moves_rows_by_token(trained, store, tmp_path):
    texts, _ = corpus(40, seed=3)
    spec = vg.VocabSpec(lowercase=True, pattern="[^a-z]+", tokenizer="regex")
    rebuilt = store.publish(vg.build_vocabulary(texts, spec, progress=False), "rebuilt")
    output = tmp_path / "rebuilt.keras"
    migrate_model(trained["path"], rebuilt, output)
    migrated = vk.load_model(str(output), rebuilt)
    old_rows = keras.ops.convert_to_numpy(trained["model"].get_layer("embed").embeddings)
    new_rows = keras.ops.convert_to_numpy(migrated.get_layer("embed").embeddings)
    old_ids = {t: i for i, t in enumerate(trained["vocabulary"])}
    for token in ("goal", "rain", "butter", "the"):
        np.testing.assert_array_equal(
            new_rows[rebuilt.token_to_id(token)], old_rows[old_ids[token]]
        )
    assert migrated.get_layer("vectorize").get_vocabulary()[2:] == rebuilt.tokens[2:]


def test_model_without_lookup_layer_is_a_one_line_error(tmp_path, store):
    inputs = keras.Input(shape=(3,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Embedding(10, 2)(inputs))
    path = tmp_path / "ids_only.keras"
    model.save(path)
    with pytest.raises(InputDataError) as info:
        vg.import_vocabulary(path, "keras-model", name="x", store=store)
    message = str(info.value)
    assert message.startswith(f"{path}, model: no lookup layer (StringLookup, IntegerLookup, ")
    assert "\n" not in message


def test_two_lookup_layers_need_layer(tmp_path, store):
    a = keras.layers.StringLookup(vocabulary=["x", "y"], name="first")
    b = keras.layers.IntegerLookup(vocabulary=[0, 4, 9], name="second")
    s_in = keras.Input(shape=(1,), dtype="string")
    i_in = keras.Input(shape=(1,), dtype="int64")
    model = keras.Model([s_in, i_in], [a(s_in), b(i_in)])
    path = tmp_path / "two.keras"
    model.save(path)
    with pytest.raises(InputDataError, match=r"layer 'second': 2 lookup layers \(first, second\)"):
        vg.import_vocabulary(path, "keras-model")
    vocab = vg.import_vocabulary(path, "keras-model", layer="second").vocab
    # IntegerLookup without a mask: 0 is a real value, and the pad is the id 0, no value.
    assert vocab.token_type == "int64" and vocab.pad_token is None
    assert vocab.lookup([0, 4, 9, 5]).tolist() == [2, 3, 4, 1]
    assert json.dumps(vocab.build["import"]["layer"]) == '"second"'
