"""The raw-string serving export: self-contained (the store may vanish) and equal to the
training pipeline's predictions."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import vocabguard as vg
from vocabguard import tf as vtf
from vocabguard._src.engines.training import ModelConfig, build_model, make_dataset
from vocabguard.errors import ArtifactError, OutputExistsError
from vocabguard.serving import export_serving, load_serving, predict, read_manifest

TRAIN = ["good great fine", "bad awful poor", "great good", "poor bad", "fine good great"] * 4
LABELS = [1, 0, 1, 0, 1] * 4
PROBES = ["good", "awful poor", "never seen words", "", "GOOD bad great\x00x"]


def trained(store, spec: vg.VocabSpec, name: str):
    vocab = store.publish(vg.build_vocabulary(TRAIN, spec, progress=False), name)
    model = build_model(ModelConfig(embedding_dim=4, hidden_units=4), vocab, 2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ds = make_dataset(TRAIN, np.array(LABELS, np.int32), vtf.encode_fn(vocab), 4, shuffle_seed=0)
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    return vocab, model


@pytest.mark.parametrize("sequence_length", [6, None], ids=["dense", "ragged"])
def test_export_reloads_without_store_and_matches_training_pipeline(
    tmp_path, store, store_root, sequence_length
):
    spec = vg.VocabSpec(lowercase=True, sequence_length=sequence_length)
    vocab, model = trained(store, spec, "sentiment")
    ids = vtf.encode_fn(vocab)(tf.constant(PROBES))
    if isinstance(ids, tf.RaggedTensor):
        ids = ids.to_tensor()
    expected = model(ids, training=False).numpy()
    published = (store_root / "sentiment" / "v1" / "manifest.json").read_bytes()

    path = export_serving(model, vocab, tmp_path / "serving", labels=["neg", "pos"])
    shutil.rmtree(store_root)  # the export must not need the store
    served = load_serving(path)
    got = predict(served, PROBES)
    np.testing.assert_allclose(got["probabilities"], expected, rtol=1e-5, atol=1e-6)
    names = np.array(["neg", "pos"])[expected.argmax(axis=1)]
    assert [label.decode() for label in got["label"]] == names.tolist()

    assert (tmp_path / "serving" / "assets" / "manifest.json").read_bytes() == published
    assert read_manifest(served)["fingerprint"] == vocab.fingerprint
    assert served.vocab_fingerprint.numpy().decode() == vocab.fingerprint
    assert int(served.input_dim.numpy()) == vocab.input_dim
    assert served.vocab_ref.numpy() == b"sentiment@v1"
    assert [x.decode() for x in served.labels.numpy()] == ["neg", "pos"]
    signature = served.signatures["serving_default"]
    assert signature.structured_input_signature[1]["texts"].dtype == tf.string
    assert set(signature.structured_outputs) == {"probabilities", "label"}


def test_training_run_export_matches_model_keras(tmp_path):
    """The serving/ directory of a training run predicts what model.keras predicts."""
    import yaml

    from vocabguard import keras as vk
    from vocabguard.cli.models import train_main as main

    rows = [{"t": text, "y": ["neg", "pos"][y]} for text, y in zip(TRAIN, LABELS)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = {
        "data": {"path": str(data), "test_fraction": 0.2, "text_field": "t", "label_field": "y"},
        "vocabulary": {"store": str(tmp_path / "s"), "ref": "words", "spec": {}},
        "model": {"embedding_dim": 4, "hidden_units": 0},
        "training": {"epochs": 1},
        "output": str(tmp_path / "run"),
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["--config", str(tmp_path / "c.yaml")]) == 0
    vocab = vg.VocabStore(tmp_path / "s").load("words@v1")
    model = vk.load_model(str(tmp_path / "run" / "model.keras"), vocab)
    expected = model(vtf.encode_fn(vocab)(tf.constant(PROBES)).to_tensor()).numpy()
    shutil.rmtree(tmp_path / "s")
    got = predict(load_serving(tmp_path / "run" / "serving"), PROBES)
    np.testing.assert_allclose(got["probabilities"], expected, rtol=1e-5, atol=1e-6)


def test_export_refuses_non_empty_directory_and_unpublished_vocab(tmp_path, store):
    vocab, model = trained(store, vg.VocabSpec(sequence_length=4), "s")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(OutputExistsError, match="already exists and is not empty"):
        export_serving(model, vocab, tmp_path / "taken", labels=["a", "b"])
    with pytest.raises(ValueError, match="2 outputs but 3 labels"):
        export_serving(model, vocab, tmp_path / "new", labels=["a", "b", "c"])
    unpublished = vg.build_vocabulary(TRAIN, vg.VocabSpec(sequence_length=4), progress=False)
    with pytest.raises(ArtifactError, match="needs a published vocabulary"):
        export_serving(model, unpublished, tmp_path / "new", labels=["a", "b"])
    assert not os.path.exists(tmp_path / "new")
