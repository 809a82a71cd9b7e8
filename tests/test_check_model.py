"""Tests of ``vocabguard check-model``: saved Keras models against a vocabulary artifact."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import pytest
from cli_run import run

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard._src.tools.model_check import check_model
from vocabguard.cli import main
from vocabguard.errors import InputDataError

CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """A store with demo@v1 and other@v1 (same input_dim, other tokens), and saved models."""
    root = tmp_path_factory.mktemp("check_model")
    store = vg.VocabStore(root / "store")
    vocab = store.publish(vg.build_vocabulary(CORPUS, vg.VocabSpec(), progress=False), "demo")
    other_corpus = [line.replace("cat", "cow") for line in CORPUS]
    other = store.publish(
        vg.build_vocabulary(other_corpus, vg.VocabSpec(), progress=False), "other"
    )
    assert other.input_dim == vocab.input_dim and other.fingerprint != vocab.fingerprint

    def save(name: str, *layers: keras.layers.Layer) -> str:
        inputs = keras.Input((None,), dtype="int32")
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        path = root / f"{name}.keras"
        keras.Model(inputs, outputs, name=name).save(path)
        return str(path)

    models = {
        "small": save("small", keras.layers.Embedding(vocab.input_dim - 3, 4, name="tokens")),
        "good": save(
            "good", keras.Sequential([vk.embedding(vocab, 4)], name="encoder")
        ),  # nested model
        "big": save("big", keras.layers.Embedding(vocab.input_dim + 5, 4, name="tokens")),
        "plain": save("plain", keras.layers.Embedding(vocab.input_dim, 4, name="tokens")),
        "other": save("other", vk.embedding(other, 4)),
        "dense": save("dense", keras.layers.Reshape((-1, 1)), keras.layers.Dense(2)),
    }
    return {"store": str(root / "store"), "vocab": vocab, "other": other, "models": models}


def test_undersized_embedding_is_an_error_naming_both_numbers(capsys, setup):
    vocab = setup["vocab"]
    small = vocab.input_dim - 3
    code, out, err = run(capsys, setup, "check-model", setup["models"]["small"], "--vocab", "demo")
    assert code == 1
    assert f"input_dim {small} is smaller than demo@v1's input_dim {vocab.input_dim}" in out
    assert f"valid ids {small}..{vocab.input_dim - 1} have no row" in out
    assert f"set input_dim={vocab.input_dim}" in out
    assert "tokens" in out and "ERROR" in out and "not recorded" in out
    assert "FAILED: 1 layer checked, 1 error, 0 warnings" in out
    assert "small.keras does not fit demo@v1: 1 layer has errors" in err


def test_model_built_from_the_artifact_passes(capsys, setup):
    vocab = setup["vocab"]
    code, out, err = run(capsys, setup, "check-model", setup["models"]["good"], "--vocab", "demo")
    assert code == 0, out + err
    # The nested model's layer is found and named by its path.
    assert "encoder/demo_embedding" in out
    assert "VocabEmbedding" in out and vocab.fingerprint[:12] in out
    assert "OK: 1 layer checked, 0 errors, 0 warnings" in out
    assert err == ""


def test_plain_embedding_of_the_right_size_passes_without_a_fingerprint(capsys, setup):
    code, out, _ = run(capsys, setup, "check-model", setup["models"]["plain"], "--vocab", "demo")
    assert code == 0
    assert "not recorded" in out and " ok" in out


def test_oversized_embedding_is_a_warning(capsys, setup):
    vocab = setup["vocab"]
    big = vocab.input_dim + 5
    code, out, err = run(capsys, setup, "check-model", setup["models"]["big"], "--vocab", "demo")
    assert code == 0
    assert f"WARNING tokens: input_dim {big} is larger than demo@v1's input_dim" in out
    assert f"rows {vocab.input_dim}..{big - 1} are never used" in out
    assert "OK: 1 layer checked, 0 errors, 1 warning" in out
    assert err == ""


def test_fingerprint_mismatch_is_an_error_naming_the_recorded_vocabulary(capsys, setup):
    vocab, other = setup["vocab"], setup["other"]
    code, out, _ = run(capsys, setup, "check-model", setup["models"]["other"], "--vocab", "demo")
    assert code == 1
    assert (
        f"the layer was built for vocabulary other@v1 (fingerprint {other.fingerprint[:12]}), "
        f"not demo@v1 (fingerprint {vocab.fingerprint[:12]}): the same id means a different "
        "token" in out
    )
    assert "check it with --vocab other@v1" in out
    # The same model passes against its own vocabulary.
    code, out, _ = run(capsys, setup, "check-model", setup["models"]["other"], "--vocab", "other")
    assert code == 0


def test_json_schema(capsys, setup):
    vocab = setup["vocab"]
    code, out, _ = run(
        capsys, setup, "check-model", setup["models"]["small"], "--vocab", "demo@v1", "--json"
    )
    assert code == 1
    result = json.loads(out)
    assert set(result) == {"model", "vocab", "layers", "ok"}
    assert result["model"] == setup["models"]["small"]
    assert result["vocab"] == {
        "ref": "demo@v1",
        "fingerprint": vocab.fingerprint,
        "input_dim": vocab.input_dim,
    }
    assert result["ok"] is False
    (layer,) = result["layers"]
    assert set(layer) == {
        "name",
        "class",
        "input_dim",
        "expected_input_dim",
        "fingerprint",
        "status",
        "message",
    }
    assert layer["name"] == "tokens" and layer["class"] == "Embedding"
    assert layer["input_dim"] == vocab.input_dim - 3
    assert layer["expected_input_dim"] == vocab.input_dim
    assert layer["fingerprint"] is None and layer["status"] == "error"

    code, out, _ = run(
        capsys, setup, "check-model", setup["models"]["good"], "--vocab", "demo", "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["ok"] is True
    assert result["layers"][0]["fingerprint"] == vocab.fingerprint
    assert result["layers"][0]["status"] == "ok"


def test_layer_selection_skips_the_other_vocabularies_layers(setup):
    vocab, other = setup["vocab"], setup["other"]
    inputs = keras.Input((None,), dtype="int32")
    model = keras.Model(inputs, [vk.embedding(vocab, 2)(inputs), vk.embedding(other, 2)(inputs)])
    assert not check_model(model, vocab).ok  # other_embedding records another vocabulary
    result = check_model(model, vocab, layers=["demo_embedding"])
    assert result.ok
    assert [(c.name, c.status) for c in result.layers] == [
        ("demo_embedding", "ok"),
        ("other_embedding", "skipped"),
    ]
    with pytest.raises(InputDataError, match="has no Embedding or IdGuard layer named 'nope'"):
        check_model(model, vocab, layers=["nope"])


def test_undersized_id_guard_is_an_error(setup):
    vocab = setup["vocab"]
    inputs = keras.Input((None,), dtype="int32")
    guarded = vk.IdGuard(vocab.input_dim - 1, name="guard")(inputs)
    model = keras.Model(inputs, keras.layers.Embedding(vocab.input_dim, 2, name="emb")(guarded))
    result = check_model(model, vocab)
    statuses = {c.name: c.status for c in result.layers}
    assert statuses == {"guard": "error", "emb": "ok"}
    message = next(c.message for c in result.layers if c.name == "guard")
    assert f"the guard rejects valid id {vocab.input_dim - 1}" in message


def test_missing_file(capsys, setup, tmp_path):
    path = str(tmp_path / "nope.keras")
    code, out, err = run(capsys, setup, "check-model", path, "--vocab", "demo")
    assert code == 1 and out == ""
    assert f"vocabguard: error: Model file {path!r} does not exist" in err
    assert err.rstrip().endswith(f"Received: model={path!r}")


def test_not_a_keras_file(capsys, setup, tmp_path):
    text = tmp_path / "model.keras"
    text.write_text("not a zip", encoding="utf-8")
    code, _, err = run(capsys, setup, "check-model", str(text), "--vocab", "demo")
    assert code == 1
    assert "is not a Keras model file: a .keras file is a zip archive" in err
    assert "model.save('model.keras')" in err

    other = tmp_path / "weights.bin"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("x", "y")
    code, _, err = run(capsys, setup, "check-model", str(other), "--vocab", "demo")
    assert code == 1 and "rename it to end in .keras" in err

    saved_model = tmp_path / "exported"
    saved_model.mkdir()
    (saved_model / "saved_model.pb").write_bytes(b"")
    code, _, err = run(capsys, setup, "check-model", str(saved_model), "--vocab", "demo")
    assert code == 1 and "a TensorFlow SavedModel directory, which Keras 3 cannot load" in err


def test_broken_keras_archive_names_the_file(capsys, setup, tmp_path):
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("config.json", "{not json")
    code, _, err = run(capsys, setup, "check-model", str(broken), "--vocab", "demo")
    assert code == 1
    assert f"Cannot load the Keras model {str(broken)!r}" in err
    assert "safe_mode=True" in err


def test_model_without_embedding(capsys, setup):
    path = setup["models"]["dense"]
    code, _, err = run(capsys, setup, "check-model", path, "--vocab", "demo")
    assert code == 1
    assert f"The model {path!r} has no Embedding or IdGuard layer" in err
    assert "vocabguard.keras.embedding(vocab, ...)" in err


def test_help_lists_the_command(capsys):
    assert main(["check-model", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--vocab REF" in out and "--json" in out and "--layer" in out


def test_path_argument_loads_the_model(setup):
    result = check_model(Path(setup["models"]["good"]), setup["vocab"])
    assert result.ok and result.model.endswith("good.keras")
    assert result.to_dict()["layers"][0]["class"] == "VocabEmbedding"
