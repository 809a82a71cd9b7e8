"""``vocabguard repair-model``: the textbook ``Embedding(input_dim=127)`` over ids up to 127."""

from __future__ import annotations

import json
import os
import re

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest
from cli_run import run

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard._src.tools.repair import format_repair, repair_model
from vocabguard.cli import main
from vocabguard.errors import InputDataError, VocabularyMismatchError

WORDS = [f"w{i}" for i in range(126)]  # pad + OOV + 126 learned tokens: input_dim 128
LENGTH = 10


def rows(layer) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer.embeddings)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """textbook@v1 (input_dim 128), encoded training data, and a model trained with
    Embedding(127) on it (under XLA, which clamps id 127 instead of raising)."""
    root = tmp_path_factory.mktemp("repair")
    store = root / "store"
    # Word i appears 200 - i times: every word is learned, ids follow the counts.
    counts = " ".join(w for i, w in enumerate(WORDS) for _ in range(200 - i))
    vocab = vg.VocabStore(store).publish(
        vg.build_vocabulary([counts], vg.VocabSpec(sequence_length=LENGTH), progress=False),
        "textbook",
    )
    assert vocab.input_dim == 128
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(3, LENGTH + 1))) for _ in range(300)]
    sample = root / "train.txt"
    sample.write_text("\n".join(texts) + "\n")
    data = root / "ids.parquet"
    code = main(
        ["encode", "textbook", "--input", str(sample), "--output", str(data), "--store", str(store)]
    )
    assert code == 0
    ids = np.array(pq.read_table(data).column("ids").to_pylist())
    assert ids.max() == 127 and (ids == 127).any()
    model = keras.Sequential(
        [
            keras.Input((LENGTH,), dtype="int32"),
            keras.layers.Embedding(127, 4, name="tokens"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, name="label"),
        ],
        name="textbook",
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss, jit_compile=True)
    model.fit(ids, rng.integers(0, 2, len(ids)), epochs=1, batch_size=64, verbose=0)
    path = root / "model.keras"
    model.save(path)
    return {
        "root": root,
        "store": str(store),
        "vocab": vocab,
        "data": str(data),
        "ids": ids,
        "model": str(path),
        "trained": model,
    }


def test_repair_resizes_reports_the_data_and_passes_check_model(capsys, setup, tmp_path):
    ids, out = setup["ids"], tmp_path / "fixed.keras"
    code, text, err = run(
        capsys,
        setup,
        "repair-model",
        setup["model"],
        "--vocab",
        "textbook",
        "--data",
        setup["data"],
        "--output",
        str(out),
    )
    assert code == 0, err
    # The report, computed independently from the encoded ids.
    occurrences = int((ids >= 127).sum())
    affected = int((ids >= 127).any(axis=1).sum())
    assert re.search(r"tokens\s+VocabEmbedding\s+127 -> 128\s+127\s+1\s+0\n", text), text
    assert f"examples {len(ids)}  ids {ids.size} ({int((ids != 0).sum())} non-pad)" in text
    assert "ids >= 127 (no row in the old Embedding" in text
    assert f"1 distinct, {occurrences} occurrences" in text
    assert f"  127 ({occurrences}x)" in text
    assert (
        f"affected {affected} of {len(ids)} examples ({affected / len(ids):.2%}) hold at least "
        "one of them" in text
    )
    assert f"OK: 1 layer resized to input_dim 128; {out} records textbook@v1" in text
    assert "passes check-model" in text
    # The repaired model loads and passes check-model.
    code, text, err = run(capsys, setup, "check-model", str(out), "--vocab", "textbook")
    assert code == 0, text + err
    assert "OK: 1 layer checked, 0 errors, 0 warnings" in text
    fixed = vk.load_model(str(out), setup["vocab"])
    old, new = rows(setup["trained"].get_layer("tokens")), rows(fixed.get_layer("tokens"))
    np.testing.assert_array_equal(new[:127], old)
    learned = old[2:127].astype("float64").mean(axis=0)  # ids 2..126: the trained learned rows
    np.testing.assert_allclose(new[127], learned, rtol=1e-6, atol=1e-7)
    # Same outputs on examples without id 127 (both uncompiled: the trained model's
    # XLA predict rounds differently); those with it now run (no clamp, no error).
    clean = ~(ids >= 127).any(axis=1)
    before = vk.load_model(setup["model"], compile=False)
    np.testing.assert_array_equal(
        fixed.predict(ids[clean], verbose=0), before.predict(ids[clean], verbose=0)
    )
    assert np.isfinite(fixed.predict(ids[~clean], verbose=0)).all()


def test_json_report(capsys, setup, tmp_path):
    ids = setup["ids"]
    code, text, err = run(
        capsys,
        setup,
        "repair-model",
        setup["model"],
        "--vocab",
        "textbook",
        "--data",
        setup["data"],
        "--column",
        "ids",
        "--init",
        "zeros",
        "--output",
        str(tmp_path / "fixed.keras"),
        "--json",
    )
    assert code == 0, err
    result = json.loads(text)
    data = result["data"]
    assert data["untrained_ids"] == [{"id": 127, "count": int((ids == 127).sum())}]
    assert data["affected_examples"] == int((ids == 127).any(axis=1).sum())
    assert data["examples"] == len(ids) and data["trained_input_dim"] == 127
    assert data["beyond_vocabulary"] == 0 and data["fingerprint_mismatches"] == []
    assert result["check_model"] == {"ok": True, "problems": []}
    (layer,) = result["layers"]
    assert (layer["old_input_dim"], layer["new_input_dim"], layer["initialized"]) == (127, 128, 1)
    fixed = vk.load_model(str(tmp_path / "fixed.keras"))
    assert not rows(fixed.get_layer("tokens"))[127].any()  # --init zeros


def write_tfrecord(path, rows, fingerprint: str) -> str:
    """tf.train.Examples with an ``ids`` int64 list and the vocabulary's fingerprint."""
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for ids in rows:
            feature = {
                "ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
                "ids_vocab_fingerprint": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[fingerprint.encode()])
                ),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return str(path)


def test_tfrecord_data_is_scanned_like_parquet(capsys, setup, tmp_path):
    ids = setup["ids"]
    half = len(ids) // 2
    # Two shards: the second records another vocabulary's fingerprint.
    fingerprint = setup["vocab"].fingerprint
    first = write_tfrecord(tmp_path / "part-0.tfrecord", ids[:half].tolist(), fingerprint)
    second = tmp_path / "part-1.tfrecord"
    write_tfrecord(second, ids[half:].tolist(), "f" * 64)
    code, text, err = run(
        capsys,
        setup,
        "repair-model",
        setup["model"],
        "--vocab",
        "textbook",
        "--data",
        first.replace("part-0", "part-*"),
        "--output",
        str(tmp_path / "fixed.keras"),
        "--json",
    )
    assert code == 0, err
    data = json.loads(text)["data"]
    assert data["column"] == "ids"
    assert data["examples"] == len(ids)
    assert data["untrained_ids"] == [{"id": 127, "count": int((ids == 127).sum())}]
    assert data["affected_examples"] == int((ids == 127).any(axis=1).sum())
    assert data["fingerprint_mismatches"] == [str(second)]


def test_head_and_guard_of_the_old_size_are_resized(setup, tmp_path):
    vocab = setup["vocab"]
    lm = keras.Sequential(
        [
            keras.Input((LENGTH,), dtype="int32"),
            vk.IdGuard(127, name="guard"),
            keras.layers.Embedding(127, 3, name="tokens"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(127, name="next_token"),
        ]
    )
    path = tmp_path / "lm.keras"
    lm.save(path)
    result = repair_model(path, vocab, tmp_path / "lm_fixed.keras")
    kinds = {layer.name: (layer.kind, layer.new_input_dim) for layer in result.layers}
    assert kinds == {
        "tokens": ("embedding", 128),
        "next_token": ("head", 128),
        "guard": ("guard", 128),
    }
    text = format_repair(result)
    assert "next_token (head)" in text and "OK: 3 layers resized to input_dim 128" in text
    fixed = vk.load_model(str(tmp_path / "lm_fixed.keras"), vocab)
    head, new_head = lm.get_layer("next_token"), fixed.get_layer("next_token")
    kernel = keras.ops.convert_to_numpy(new_head.kernel)
    np.testing.assert_array_equal(kernel[:, :127], keras.ops.convert_to_numpy(head.kernel))
    assert fixed.get_layer("guard").input_dim == 128
    assert fixed.output_shape == (None, 128)


# -- errors --


def test_nothing_to_repair_writes_nothing(capsys, setup, tmp_path):
    good = tmp_path / "good.keras"
    keras.Sequential([keras.Input((LENGTH,), dtype="int32"), vk.embedding(setup["vocab"], 4)]).save(
        good
    )
    out = tmp_path / "out.keras"
    code, _, err = run(
        capsys, setup, "repair-model", str(good), "--vocab", "textbook", "--output", str(out)
    )
    assert code == 1
    assert "Nothing to repair in" in err
    assert "no Embedding is smaller than textbook@v1's input_dim 128" in err
    assert "(VocabEmbedding, input_dim 128, vocabulary textbook@v1)" in err
    assert "so no output was written" in err
    assert "Received: model=" in err and "input_dim=128" in err
    assert sorted(os.listdir(tmp_path)) == ["good.keras"]


def test_existing_output_and_bad_data_column_write_nothing(capsys, setup, tmp_path):
    out = tmp_path / "taken.keras"
    out.write_bytes(b"keep")
    argv = ["repair-model", setup["model"], "--vocab", "textbook", "--output"]
    code, _, err = run(capsys, setup, *argv, str(out))
    assert code == 1 and f"Output model {out} already exists" in err
    assert out.read_bytes() == b"keep"
    fresh = tmp_path / "fresh.keras"
    code, _, err = run(
        capsys, setup, *argv, str(fresh), "--data", setup["data"], "--column", "tokens"
    )
    assert code == 1 and "has no column 'tokens'" in err and "Its columns: ids" in err
    assert sorted(os.listdir(tmp_path)) == ["taken.keras"]


def test_undersized_layer_of_another_vocabulary_is_refused(setup, tmp_path):
    other = vg.build_vocabulary(["x y z"], vg.VocabSpec(), progress=False)
    model = keras.Sequential(
        [keras.Input((LENGTH,), dtype="int32"), vk.embedding(other, 4, name="other_tokens")]
    )
    path = tmp_path / "other.keras"
    model.save(path)
    with pytest.raises(VocabularyMismatchError) as info:
        repair_model(path, setup["vocab"], tmp_path / "out.keras")
    text = str(info.value)
    assert f"Layer 'other_tokens' of {str(path)!r} was built from vocabulary" in text
    assert "not textbook@v1" in text and "vocabguard migrate-model" in text
    assert f"model_fingerprint='{other.fingerprint}'" in text
    with pytest.raises(InputDataError, match=r"Model file .* does not exist"):
        repair_model(tmp_path / "missing.keras", setup["vocab"], tmp_path / "out.keras")
    assert not (tmp_path / "out.keras").exists()
