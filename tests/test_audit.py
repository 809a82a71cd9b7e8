"""Tests of ``vocabguard audit``: encoded data checked against a vocabulary artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_run import run

import vocabguard as vg
from vocabguard._src.tools.audit import audit, example_class, read_tfrecord
from vocabguard.cli import main
from vocabguard.errors import InputDataError

CORPUS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"]
SAMPLE = ["the cat sat", "a zebra and a yak", "", "dog dog dog"]


@pytest.fixture
def published(capsys, store_root: Path, tmp_path: Path) -> dict:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(line + "\n" for line in CORPUS), encoding="utf-8")
    assert (
        main(["build", "--name", "demo", "--input", str(corpus), "--store", str(store_root)]) == 0
    )
    capsys.readouterr()
    return {"store": str(store_root), "vocab": vg.VocabStore(store_root).load("demo@v1")}


def encode_with_cli(capsys, published: dict, tmp_path: Path) -> Path:
    sample = tmp_path / "sample.txt"
    sample.write_text("".join(line + "\n" for line in SAMPLE), encoding="utf-8")
    output = tmp_path / "encoded" / "ids.parquet"
    code, _, err = run(
        capsys, published, "encode", "demo@v1", "--input", str(sample), "--output", str(output)
    )
    assert code == 0, err
    return output


def test_clean_data_encoded_by_the_cli(capsys, published, tmp_path):
    vocab = published["vocab"]
    encoded = encode_with_cli(capsys, published, tmp_path)
    ids = np.concatenate(vocab.encode(SAMPLE))
    oov = int(((ids >= 1) & (ids <= vocab.num_oov_buckets)).sum())
    # A directory of Parquet files is read whole.
    code, out, err = run(capsys, published, "audit", str(encoded.parent), "--vocab", "demo")
    assert code == 0, err
    assert err == ""
    assert f"data     {encoded}  column 'ids'" in out
    assert "rows     4\n" in out
    assert f"ids      {ids.size}  (pad 0, OOV {oov}; OOV rate {oov / ids.size:.4f}" in out
    assert f"id range {ids.min()}..{ids.max()}  (valid: 0..{vocab.input_dim - 1})" in out
    assert "bad ids  0 >= input_dim, 0 negative" in out
    assert "fingerprint matches the vocabulary" in out
    assert f"OK: all {ids.size} ids of 4 rows are in [0, {vocab.input_dim})" in out

    code, out, _ = run(capsys, published, "audit", str(encoded), "--vocab", "demo", "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] is True
    assert result["files"] == 1 and result["rows"] == 4 and result["ids"] == ids.size
    assert result["oov_ids"] == oov and result["pad_ids"] == 0
    assert result["out_of_range_ids"] == 0 and result["negative_ids"] == 0
    assert result["min_id"] == int(ids.min()) and result["max_id"] == int(ids.max())
    assert result["recorded_fingerprints"] == 1 and result["fingerprint_mismatches"] == []
    assert result["vocab"]["input_dim"] == vocab.input_dim


def write_corrupt(path: Path, input_dim: int) -> Path:
    rows = [
        [2, 3, 4],
        [input_dim, 0, -1],  # one too big, one pad, one negative
        [],
        None,
        [1, 1, input_dim + 7],
    ]
    table = pa.table(
        {
            "ids": pa.array(rows, type=pa.list_(pa.int32())),
            "label": pa.array([1, 0, 1, 0, 1], type=pa.int64()),
        }
    )
    pq.write_table(table, path)
    return path


def test_corrupted_data_exact_counts_and_positions(capsys, published, tmp_path):
    vocab = published["vocab"]
    dim = vocab.input_dim
    path = write_corrupt(tmp_path / "bad.parquet", dim)
    code, out, err = run(capsys, published, "audit", str(path), "--vocab", "demo", "--json")
    assert code == 1
    result = json.loads(out)
    assert result["rows"] == 5 and result["null_rows"] == 1
    assert result["ids"] == 9
    assert result["out_of_range_ids"] == 2 and result["negative_ids"] == 1
    assert result["pad_ids"] == 1 and result["oov_ids"] == 2
    assert result["oov_rate"] == pytest.approx(2 / 8)
    assert result["min_id"] == -1 and result["max_id"] == dim + 7
    assert result["violations"] == [
        {"file": str(path), "row": 1, "position": 0, "id": dim, "kind": "out_of_range"},
        {"file": str(path), "row": 1, "position": 2, "id": -1, "kind": "negative"},
        {"file": str(path), "row": 4, "position": 2, "id": dim + 7, "kind": "out_of_range"},
    ]
    assert result["ok"] is False
    assert (
        f"vocabguard: error: 3 of 9 ids in column 'ids' are not in [0, {dim}) "
        f"(2 >= input_dim {dim}, 1 negative); the first is {path} row 1 position 0: id {dim} "
        f">= input_dim {dim}. Re-encode the data with demo@v1" in err
    )
    assert err.rstrip().endswith("Received: vocab='demo@v1', column='ids'")

    code, out, _ = run(capsys, published, "audit", str(path), "--vocab", "demo")
    assert code == 1
    assert "bad ids  2 >= input_dim, 1 negative" in out
    assert f"{path} row 1 position 2: negative id -1" in out
    assert "FAILED: 3 bad ids, 0 fingerprint mismatches" in out


def test_batches_and_violation_limit(published, tmp_path):
    vocab = published["vocab"]
    dim = vocab.input_dim
    rows = [[dim + i, 1] for i in range(25)]
    path = tmp_path / "many.parquet"
    pq.write_table(pa.table({"ids": pa.array(rows, type=pa.list_(pa.int64()))}), path)
    result = audit([str(path)], vocab, batch_rows=4, max_violations=5)
    assert result.tally.out_of_range == 25 and result.tally.rows == 25
    assert [(v.row, v.position, v.id) for v in result.tally.violations] == [
        (i, 0, dim + i) for i in range(5)
    ]


def test_data_encoded_with_another_vocabulary(capsys, published, tmp_path):
    store = vg.VocabStore(published["store"])
    other = store.publish(
        vg.build_vocabulary(["zebra yak zebra"], vg.VocabSpec(), progress=False), "other"
    )
    ids = other.encode_arrow(["zebra yak"])
    schema = pa.schema(
        [pa.field("ids", ids.type)],
        metadata={"vocabguard.fingerprint": other.fingerprint, "vocabguard.ref": other.ref},
    )
    path = tmp_path / "other.parquet"
    pq.write_table(pa.Table.from_arrays([ids], schema=schema), path)
    code, out, err = run(capsys, published, "audit", str(path), "--vocab", "demo")
    assert code == 1
    assert "fingerprint MISMATCH" in out
    assert (
        f"{path}: encoded with other@v1 (fingerprint {other.fingerprint[:12]}), not demo@v1" in out
    )
    assert (
        f"1 file was encoded with another vocabulary ({path}: other@v1, not demo@v1): the ids "
        "mean other tokens. Audit with --vocab other@v1, or re-encode with demo@v1" in err
    )


def test_beam_style_metadata_picks_this_vocabularys_column(published, tmp_path):
    vocab = published["vocab"]
    text = vocab.encode_arrow(["the cat"])
    topic = pa.array([[1]], type=pa.list_(pa.int32()))
    schema = pa.schema(
        [pa.field("text", text.type), pa.field("topic", topic.type)],
        metadata={
            "vocabguard.text.fingerprint": vocab.fingerprint,
            "vocabguard.topic.fingerprint": "f" * 64,
        },
    )
    path = tmp_path / "part-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_arrays([text, topic], schema=schema), path)
    result = audit(str(path), vocab)
    assert result.ok and result.column == "text" and result.tally.ids == 2


def test_column_selection_errors(capsys, published, tmp_path):
    path = tmp_path / "two.parquet"
    pq.write_table(
        pa.table(
            {
                "a": pa.array([[1]], type=pa.list_(pa.int32())),
                "b": pa.array([[2]], type=pa.list_(pa.int64())),
                "text": ["x"],
            }
        ),
        path,
    )
    code, _, err = run(capsys, published, "audit", str(path), "--vocab", "demo")
    assert code == 1
    assert f"Cannot tell which column of {path} holds the ids: 'a', 'b' all could" in err
    assert "Its columns: a (list<element: int32>), b (list<element: int64>), text (string)" in err
    assert "Pass the id column to --column" in err

    code, out, _ = run(capsys, published, "audit", str(path), "--vocab", "demo", "--column", "b")
    assert code == 0 and "column 'b'" in out

    code, _, err = run(capsys, published, "audit", str(path), "--vocab", "demo", "--column", "c")
    assert code == 1
    assert f"{path} has no column 'c'. Its columns: a (list<element: int32>)" in err
    assert err.rstrip().endswith(f"Received: file={str(path)!r}, column='c'")

    code, _, err = run(capsys, published, "audit", str(path), "--vocab", "demo", "--column", "text")
    assert code == 1 and f"{path}: column 'text' does not hold integer ids" in err

    strings = tmp_path / "strings.parquet"
    pq.write_table(pa.table({"text": ["x"]}), strings)
    code, _, err = run(capsys, published, "audit", str(strings), "--vocab", "demo")
    assert code == 1 and f"{strings} has no integer id column" in err


def test_unknown_file_kind_and_empty_directory(capsys, published, tmp_path):
    other = tmp_path / "ids.csv"
    other.write_text("1,2\n", encoding="utf-8")
    code, _, err = run(capsys, published, "audit", str(other), "--vocab", "demo")
    assert code == 1 and "Cannot tell whether" in err and "Parquet or TFRecord" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, published, "audit", str(empty), "--vocab", "demo")
    assert code == 1 and f"Directory {str(empty)!r} holds no Parquet or TFRecord files" in err


def write_tfrecord(path: Path, rows: list, fingerprint: str | None) -> Path:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for ids in rows:
            feature = {
                "ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids)),
                "label": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5])),
            }
            if fingerprint is not None:
                feature["ids_vocab_fingerprint"] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[fingerprint.encode()])
                )
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    return path


def test_tfrecord_input(capsys, published, tmp_path):
    vocab = published["vocab"]
    dim = vocab.input_dim
    clean = write_tfrecord(
        tmp_path / "part-00000-of-00002.tfrecord", [[2, 3], [1], []], vocab.fingerprint
    )
    code, out, err = run(capsys, published, "audit", str(clean), "--vocab", "demo", "--json")
    result = json.loads(out)
    assert code == 0, err
    assert result["column"] == "ids" and result["rows"] == 3 and result["ids"] == 3
    assert result["oov_ids"] == 1 and result["recorded_fingerprints"] == 3

    bad = write_tfrecord(tmp_path / "part-00001-of-00002.tfrecord", [[dim], [4, -2]], "0" * 64)
    code, out, err = run(
        capsys, published, "audit", str(tmp_path / "part-*.tfrecord"), "--vocab", "demo", "--json"
    )
    result = json.loads(out)
    assert code == 1
    assert result["files"] == 2 and result["rows"] == 5
    assert result["out_of_range_ids"] == 1 and result["negative_ids"] == 1
    assert result["violations"] == [
        {"file": str(bad), "row": 0, "position": 0, "id": dim, "kind": "out_of_range"},
        {"file": str(bad), "row": 1, "position": 1, "id": -2, "kind": "negative"},
    ]
    assert result["fingerprint_mismatches"] == [
        {"file": str(bad), "fingerprint": "0" * 64, "ref": None, "rows": 2}
    ]


def test_tfrecord_reader_matches_tensorflow_and_checks_crcs(tmp_path):
    path = write_tfrecord(tmp_path / "x.tfrecord", [[1, 2**40, -5]], None)
    (raw,) = list(read_tfrecord(str(path)))
    example = example_class()()
    example.ParseFromString(raw)
    assert list(example.features.feature["ids"].int64_list.value) == [1, 2**40, -5]
    assert list(example.features.feature["label"].float_list.value) == [0.5]

    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # inside the record's payload
    corrupt = tmp_path / "corrupt.tfrecord"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match=r"record 0 \(0-based\): the data's CRC does not"):
        list(read_tfrecord(str(corrupt)))


def test_tfrecord_column_errors(capsys, published, tmp_path):
    path = write_tfrecord(tmp_path / "x.tfrecord", [[1]], None)
    code, _, err = run(
        capsys, published, "audit", str(path), "--vocab", "demo", "--column", "label"
    )
    assert code == 1
    assert f"{path}: feature 'label' does not hold integer ids" in err
    assert "Its features: ids (int64_list), label (float_list)" in err
    assert "Pass the id feature to --column" in err
