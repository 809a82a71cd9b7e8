"""Categorical features in tf.data and Keras (issue 13): list-valued records, missing
values and shared fields give the numpy encoder's ids; one embedding over two columns."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard import tf as vtf
from vocabguard._src.tools.model_check import check_model, format_report


def build(values, spec, **kwargs):
    return vg.build_vocabulary(values, spec, progress=False, **kwargs)


def ragged(rows, dtype=tf.string):
    return tf.ragged.constant(rows, dtype=dtype, row_splits_dtype=tf.int64)


def as_lists(ids):
    if isinstance(ids, tf.RaggedTensor):
        return ids.to_list()
    if isinstance(ids, list):
        return [row.tolist() for row in ids]
    return np.asarray(ids).tolist()


ELEMENT = st.sampled_from(["a", "b", "B", "c d", "", "é", "zz"])


@functools.cache
def list_encoder(policy: str, tokenizer: str, length: int | None):
    """A vocabulary of lists and its TensorFlow encoder, built once per spec (12 specs for
    the property's 40 examples: building the lookup tables was most of its time)."""
    spec = vg.VocabSpec(
        tokenizer=tokenizer,
        missing=policy,
        lowercase=True,
        value_shape="list",
        sequence_length=length,
        num_oov_buckets=2,
    )
    vocab = build([["a", "b"], ["c d", "a", ""], ["B"]], spec)
    return vocab, vtf.encode_fn(vocab)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(ELEMENT, max_size=4), min_size=1, max_size=8),
    policy=st.sampled_from(["skip", "oov", "token"]),
    tokenizer=st.sampled_from(["none", "whitespace"]),
    length=st.sampled_from([None, 3]),
)
def test_tf_encoder_matches_numpy_on_lists(rows, policy, tokenizer, length):
    vocab, encode = list_encoder(policy, tokenizer, length)
    expected = as_lists(vocab.encode(rows))
    got = as_lists(encode(ragged(rows)))
    assert got == expected
    flat = [i for row in expected for i in row]
    assert all(0 <= i < vocab.input_dim for i in flat)


def test_tf_encoder_scalars_with_missing_and_integer_lists():
    vocab = build(["fr", None, "de", ""], vg.VocabSpec(tokenizer="none", missing="token"))
    encode = vtf.encode_fn(vocab)
    values = ["fr", "", "xx", "de"]
    expected = [4, 2, 1, 3]  # de (3) and fr (4) tie: bytes ascending; "" is missing (2)
    assert encode(tf.constant(values)).numpy().tolist() == vocab.encode(values).tolist() == expected
    ints = build([[3, 4], [4], []], vg.VocabSpec(tokenizer="none"))
    rows = [[4, 3, 9], [], [3]]
    assert as_lists(vtf.encode_fn(ints)(ragged(rows, tf.int64))) == as_lists(ints.encode(rows))


def test_tf_data_pipeline_encodes_two_fields_with_one_vocabulary():
    records = [
        {"hist": ["a", "b", "c"], "tgt": "a"},
        {"hist": ["b", "d"], "tgt": "e"},
        {"hist": [], "tgt": "b"},
    ]
    vocab = build(records, vg.VocabSpec(tokenizer="none"), fields=["hist", "tgt"])
    encode = vtf.encode_fn(vocab)
    ds = tf.data.Dataset.from_tensor_slices(
        {
            "hist": ragged([r["hist"] for r in records]),
            "tgt": tf.constant([r["tgt"] for r in records]),
        }
    )
    ds = ds.batch(2).map(lambda x: {"hist": encode(x["hist"]), "tgt": encode(x["tgt"])})
    hist, tgt = [], []
    for batch in ds:
        hist += batch["hist"].to_list()
        tgt += batch["tgt"].numpy().tolist()
    assert hist == as_lists(vocab.encode([r["hist"] for r in records]))
    assert tgt == vocab.encode([r["tgt"] for r in records]).tolist()
    assert tgt[0] == hist[0][0]  # the same item has the same id in both fields


def test_one_embedding_shared_by_two_id_columns(tmp_path):
    records = [{"hist": ["a", "b"], "tgt": "c"}, {"hist": ["c"], "tgt": "a"}]
    store = vg.VocabStore(tmp_path / "store")
    vocab = store.publish(
        build(
            records,
            vg.VocabSpec(tokenizer="none", pad_to_multiple_of=8),
            fields=["hist", "tgt"],
        ),
        "items",
    )
    assert vocab.input_dim == 8
    hist_in = keras.Input((None,), dtype="int32", name="hist")
    tgt_in = keras.Input((1,), dtype="int32", name="tgt")
    shared = vk.embedding(vocab, 4)
    pooled = keras.layers.GlobalAveragePooling1D()(shared(hist_in))
    target = keras.layers.GlobalAveragePooling1D()(shared(tgt_in))
    score = keras.layers.Dot(axes=1)([pooled, target])
    model = keras.Model([hist_in, tgt_in], score)
    hist = np.asarray([[2, 3], [4, 0]], dtype="int32")
    tgt = np.asarray([[4], [2]], dtype="int32")
    assert model.predict([hist, tgt], verbose=0).shape == (2, 1)
    path = tmp_path / "two_towers.keras"
    model.save(path)
    result = check_model(str(path), vocab)
    assert [layer.status for layer in result.layers] == ["ok"]  # reported once
    assert format_report(result).count("items_embedding") == 1
    with pytest.raises(Exception, match="is not in \\[0, 8\\)"):
        model([hist, np.asarray([[8], [2]], dtype="int32")])


def test_config_driven_table_job(tmp_path, capsys):
    import json

    from vocabguard.cli import main

    rng = np.random.default_rng(0)
    rows = []
    for i in range(120):
        origin, dest = rng.choice(["AAA", "BBB", "CCC", "DDD"], 2)
        rows.append(
            {
                "origin": str(origin),
                "dest": str(dest),
                "tags": [str(t) for t in rng.choice(["x", "y", "z"], int(rng.integers(0, 3)))]
                + ([None] if i % 7 == 0 else []),
                "maker": None if i % 5 == 0 else str(rng.choice(["m1", "m2"])),
                "votes": float(rng.integers(1, 100)),
                "title": 1776 if i == 3 else "a film",
                "label": "late" if origin == "AAA" else "on_time",
            }
        )
    for name, part in (("train", rows[:90]), ("test", rows[90:])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    config = tmp_path / "job.yaml"
    config.write_text(
        f"""
data: {{train: {tmp_path}/train.jsonl, test: {tmp_path}/test.jsonl, bad_records: skip}}
store: {tmp_path}/store
features:
  places: {{fields: [origin, dest], ref: places@latest, spec: {{tokenizer: none, pad_to_multiple_of: 8}}}}
  tags: {{ref: tags@latest, spec: {{tokenizer: none, missing: token, value_shape: list, sequence_length: 3}}}}
  maker: {{weight_field: votes, ref: maker@latest, spec: {{tokenizer: none, missing: token}}}}
  title: {{ref: title@latest, spec: {{tokenizer: whitespace}}}}
training: {{epochs: 2, batch_size: 16}}
output: {tmp_path}/out
"""
    )
    assert main(["train", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "ids identical in numpy and tf.data" in out
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["skipped"]["train"] == {"wrong_type": 1}  # the integer title
    places = metrics["vocabularies"]["places"]
    assert places["fields"] == ["origin", "dest"] and places["input_dim"] == 8
    store = vg.VocabStore(tmp_path / "store")
    maker = store.load("maker@v1")
    assert maker.stats["weighted"] and maker.manifest["build"]["weight_field"] == "votes"
    assert store.load("tags@v1").missing_id == 2
    model = keras.models.load_model(tmp_path / "out" / "model.keras")
    assert len([layer for layer in model.layers if "places_embedding" in layer.name]) == 1
    result = check_model(model, store.load("places@v1"), layers=["places_embedding"])
    assert [c.status for c in result.layers if c.status != "skipped"] == ["ok"]
    config.write_text(config.read_text().replace("training:", "model: {input_dim: 8}\ntraining:"))
    assert main(["train", "--config", str(config)]) == 1
    assert "takes input_dim from its vocabulary artifact" in capsys.readouterr().err


def test_migrate_model_along_an_aligned_lineage(tmp_path):
    from vocabguard._src.tools.migration import migrate_model

    store = vg.VocabStore(tmp_path / "store")
    spec = vg.VocabSpec(tokenizer="none", pad_to_multiple_of=8, missing="token")
    v1 = store.publish(build(["a", "b", None], spec), "cats")
    v2 = store.publish(build(["a", "b", "c", "d", "e", "f"], spec, parent=v1), "cats")
    assert (v1.input_dim, v2.input_dim, v2.layout.used_ids) == (8, 16, 9)
    ids = keras.Input((1,), dtype="int32")
    model = keras.Model(ids, vk.embedding(v1, 2, name="cats_embedding")(ids))
    trained = np.arange(16, dtype="float32").reshape(8, 2)
    model.get_layer("cats_embedding").set_weights([trained])
    model.save(tmp_path / "v1.keras")
    migrate_model(tmp_path / "v1.keras", v2, tmp_path / "v2.keras", store=store, init="zeros")
    moved = vk.load_model(tmp_path / "v2.keras", v2).get_layer("cats_embedding").get_weights()[0]
    assert moved.shape == (16, 2)
    np.testing.assert_array_equal(moved[: v1.layout.used_ids], trained[: v1.layout.used_ids])
    assert not moved[v1.layout.used_ids :].any()  # new tokens and padding rows: init
    assert check_model(str(tmp_path / "v2.keras"), v2).layers[0].status == "ok"


def test_keras_string_lookup_helper_keeps_the_missing_token_id():
    spec = vg.VocabSpec(tokenizer="none", missing="token", num_oov_buckets=2)
    vocab = build(["a", None, "b", "b"], spec)
    layer = vk.string_lookup(vocab)
    keras_ids = np.asarray(layer(tf.constant(["b", "[MISSING]", "zz", "a"]))).tolist()
    assert keras_ids == vocab.encode(["b", None, "zz", "a"]).tolist()
    assert keras_ids[1] == vocab.missing_id == 3
