"""Tests of the ``vocabguard`` command line and its input readers.

Most tests call ``vocabguard.cli.main(argv)`` in process; a few run the real
``vocabguard`` console script in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vocabguard import VocabStore
from vocabguard._src.engines.formats.inputs import expand_inputs
from vocabguard._src.engines.formats.read import read_documents
from vocabguard.cli import main
from vocabguard.errors import InputDataError, InputNotFoundError

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
]
SCRIPT = Path(sys.executable).with_name("vocabguard")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("".join(line + "\n" for line in CORPUS), encoding="utf-8")
    return path


def cli(capsys, store_root: Path, *argv: str) -> tuple[int, str, str]:
    """Run ``vocabguard ARGV --store STORE`` in process: (exit status, stdout, stderr)."""
    code = main([*argv, "--store", str(store_root)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def build(capsys, store_root: Path, *argv: str, name: str = "demo") -> str:
    code, out, err = cli(capsys, store_root, "build", "--name", name, *argv)
    assert code == 0, err
    return out.strip().splitlines()[-1]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# -- build --


def test_build_prints_the_ref_last_and_publishes(capsys, store_root, corpus):
    code, out, err = cli(capsys, store_root, "build", "--name", "demo", "--input", str(corpus))
    assert code == 0
    assert out.strip().splitlines()[-1] == "demo@v1"
    assert "published demo@v1" in err and "input_dim" in err
    vocab = VocabStore(store_root).load("demo@v1")
    assert vocab.tokens[:4] == ["[PAD]", "[UNK]", "the", "a"]
    assert vocab.stats["documents"] == 3
    assert str(corpus) in vocab.build["input"]

    # The same input again: the same ids, so no new version.
    code, out, err = cli(capsys, store_root, "build", "--name", "demo", "--input", str(corpus))
    assert code == 0 and out.strip() == "demo@v1" and "unchanged" in err
    assert VocabStore(store_root).versions("demo") == [1]


def test_build_reads_globs_repeated_inputs_and_formats(capsys, store_root, tmp_path):
    (tmp_path / "b.txt").write_text("zeta\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("alpha beta\r\n", encoding="utf-8")
    records = write_jsonl(tmp_path / "c.jsonl", [{"text": "alpha", "id": 1}])
    ref = build(
        capsys,
        store_root,
        "--input",
        str(tmp_path / "*.txt"),
        "--input",
        str(records),
        "--field",
        "text",
    )
    vocab = VocabStore(store_root).load(ref)
    assert vocab.tokens[2:] == ["alpha", "beta", "zeta"]  # '\r\n' is a line ending
    assert vocab.stats["documents"] == 3
    description = vocab.build["input"]
    assert description.index("a.txt") < description.index("b.txt") < description.index("c.jsonl")


def test_build_csv_and_parquet_fields(capsys, store_root, tmp_path):
    csv_path = tmp_path / "docs.csv"
    csv_path.write_text('id,text\n1,"red, green"\n2,"blue\nred"\n', encoding="utf-8")
    ref = build(
        capsys,
        store_root,
        "--input",
        str(csv_path),
        "--field",
        "text",
        "--pattern",
        "[ ,\n]+",
        "--tokenizer",
        "regex",
        name="csvdocs",
    )
    assert VocabStore(store_root).load(ref).tokens[2:] == ["red", "blue", "green"]

    parquet_path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"body": ["x y", "y"], "n": [1, 2]}), parquet_path)
    ref = build(capsys, store_root, "--input", str(parquet_path), "--field", "body", name="pq")
    assert VocabStore(store_root).load(ref).tokens[2:] == ["y", "x"]


def test_build_needs_field_when_records_have_several(capsys, store_root, tmp_path):
    csv_path = tmp_path / "docs.csv"
    csv_path.write_text("id,text\n1,hello\n", encoding="utf-8")
    code, out, err = cli(capsys, store_root, "build", "--name", "x", "--input", str(csv_path))
    assert code == 1 and out == ""
    assert err.startswith("vocabguard: error:")
    assert "docs.csv" in err and "--field" in err and "'id', 'text'" in err


def test_build_integer_values_make_an_integer_vocabulary(capsys, store_root, tmp_path):
    path = write_jsonl(tmp_path / "ids.jsonl", [{"item": 7}, {"item": 3}, {"item": 7}])
    ref = build(
        capsys,
        store_root,
        "--input",
        str(path),
        "--field",
        "item",
        "--tokenizer",
        "none",
        "--reserved-token",
        "100",
        "200",
        name="items",
    )
    vocab = VocabStore(store_root).load(ref)
    assert vocab.token_type == "int64"
    assert vocab.tokens == [None, -1, 100, 200, 7, 3]

    parquet_path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"item": pa.array([5, 5, 9], pa.int64())}), parquet_path)
    ref = build(
        capsys, store_root, "--input", str(parquet_path), "--tokenizer", "none", name="pqids"
    )
    assert VocabStore(store_root).load(ref).tokens == [None, -1, 5, 9]


def test_build_config_file_with_flag_overrides(capsys, store_root, corpus, tmp_path):
    config = tmp_path / "vocab.yaml"
    config.write_text(
        "spec:\n  lowercase: true\n  max_tokens: 2\n  num_oov_buckets: 2\n"
        "  reserved_tokens: ['[CLS]']\nname: ignored-by-build\n",
        encoding="utf-8",
    )
    ref = build(
        capsys,
        store_root,
        "--input",
        str(corpus),
        "--config",
        str(config),
        "--max-tokens",
        "3",
        "--id-dtype",
        "int64",
    )
    spec = VocabStore(store_root).manifest(ref)["spec"]
    assert spec["lowercase"] is True  # from the config
    assert spec["num_oov_buckets"] == 2 and spec["reserved_tokens"] == ["[CLS]"]
    assert spec["max_tokens"] == 3 and spec["id_dtype"] == "int64"  # flags win

    flat = tmp_path / "flat.yaml"
    flat.write_text("tokenizer: regex\npattern: '[ ]+'\nmin_count: 2\n", encoding="utf-8")
    ref = build(
        capsys,
        store_root,
        "--input",
        str(corpus),
        "--config",
        str(flat),
        "--tokenizer",
        "whitespace",
        "--no-lowercase",
        name="flat",
    )
    spec = VocabStore(store_root).manifest(ref)["spec"]
    assert spec["tokenizer"] == "whitespace" and spec["pattern"] is None
    assert spec["min_count"] == 2 and spec["lowercase"] is False


def test_build_config_errors_name_the_key(capsys, store_root, corpus, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("lowercse: true\n", encoding="utf-8")
    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(corpus), "--config", str(config)
    )
    assert code == 1
    assert "lowercse" in err and "Did you mean 'lowercase'" in err and "bad.yaml" in err

    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(corpus), "--min-count", "0"
    )
    assert code == 1 and "min_count" in err and "Received: min_count=0" in err


def test_build_input_matching_no_files_is_an_error(capsys, store_root, tmp_path):
    pattern = str(tmp_path / "missing" / "*.txt")
    code, out, err = cli(capsys, store_root, "build", "--name", "x", "--input", pattern)
    assert code == 1 and out == ""
    assert err.startswith("vocabguard: error:") and pattern in err
    assert not store_root.exists()

    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(tmp_path / "no.txt")
    )
    assert code == 1 and "no.txt" in err and "does not exist" in err


def test_build_missing_field_names_file_and_line(capsys, store_root, tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"text": "a"}, {"text": "b"}, {"body": "c"}])
    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(path), "--field", "text"
    )
    assert code == 1
    assert "docs.jsonl, line 3" in err and "no field 'text'" in err and "'body'" in err
    assert "Received: file=" in err


def test_build_bad_json_names_file_and_line(capsys, store_root, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": oops}\n', encoding="utf-8")
    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(path), "--field", "text"
    )
    assert code == 1
    assert "bad.jsonl, line 3" in err and "invalid JSON" in err


def test_build_non_utf8_line_names_file_and_line(capsys, store_root, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("first line\ncafé au lait\n".encode("latin-1"))
    code, _, err = cli(capsys, store_root, "build", "--name", "x", "--input", str(path))
    assert code == 1
    assert "latin1.txt, line 2" in err and "UTF-8" in err and "re-encode" in err


def test_build_null_and_wrong_kind_values_are_errors(capsys, store_root, tmp_path):
    path = write_jsonl(tmp_path / "nulls.jsonl", [{"text": "a"}, {"text": None}])
    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(path), "--field", "text"
    )
    assert code == 1 and "nulls.jsonl, line 2" in err and "null" in err and "'text'" in err

    path = write_jsonl(tmp_path / "mixed.jsonl", [{"v": "a"}, {"v": 3}])
    code, _, err = cli(capsys, store_root, "build", "--name", "x", "--input", str(path))
    assert code == 1 and "mixed.jsonl, line 2" in err and "all strings or all integers" in err

    parquet_path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"t": ["a", "b", None]}), parquet_path)
    code, _, err = cli(capsys, store_root, "build", "--name", "x", "--input", str(parquet_path))
    assert code == 1 and "nulls.parquet, record 3" in err and "null" in err


# -- usage errors, version, store selection --


def test_usage_errors_exit_2_without_traceback(capsys, store_root, corpus):
    code, out, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(corpus), "--bogus"
    )
    assert code == 2 and out == ""
    assert err.startswith("vocabguard: error:") and "--bogus" in err
    assert len(err.strip().splitlines()) <= 2

    code, _, err = cli(capsys, store_root, "build", "--input", str(corpus))
    assert code == 2 and "--name" in err

    code, _, err = cli(capsys, store_root, "export", "demo", "--format", "onnx", "--output", "x")
    assert code == 2 and "invalid choice" in err


def test_version(capsys):
    from vocabguard import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vocabguard {__version__}"


def test_store_from_environment_and_before_the_command(capsys, tmp_path, corpus, monkeypatch):
    env_store = tmp_path / "env_store"
    monkeypatch.setenv("VOCABGUARD_STORE", str(env_store))
    assert main(["build", "--name", "envy", "--input", str(corpus)]) == 0
    assert capsys.readouterr().out.strip() == "envy@v1"
    assert VocabStore(env_store).versions("envy") == [1]

    other = tmp_path / "other"
    assert main(["--store", str(other), "build", "--name", "front", "--input", str(corpus)]) == 0
    assert VocabStore(other).versions("front") == [1]
    assert main(["--store", str(other), "list"]) == 0
    assert capsys.readouterr().out.startswith("front@v1")


# -- inspect / list / verify --


def test_inspect_human_and_json(capsys, store_root, corpus):
    build(capsys, store_root, "--input", str(corpus))
    code, out, _ = cli(capsys, store_root, "inspect", "demo@v1")
    assert code == 0
    assert out.startswith("demo@v1  fingerprint")
    assert "Embedding(input_dim=" in out

    code, out, _ = cli(capsys, store_root, "inspect", "demo", "--json")
    manifest = json.loads(out)
    assert code == 0
    assert manifest == VocabStore(store_root).manifest("demo@v1")


def test_list_shows_one_line_per_version(capsys, store_root, corpus, tmp_path):
    build(capsys, store_root, "--input", str(corpus))
    build(capsys, store_root, "--input", str(corpus), "--lowercase", "--max-tokens", "2")
    other = tmp_path / "other.txt"
    other.write_text("x y\n", encoding="utf-8")
    build(capsys, store_root, "--input", str(other), name="zz")

    code, out, _ = cli(capsys, store_root, "list")
    lines = out.strip().splitlines()
    assert code == 0
    assert [line.split()[0] for line in lines] == ["demo@v1", "demo@v2", "zz@v1"]
    manifest = VocabStore(store_root).manifest("demo@v2")
    size = sum(meta["bytes"] for meta in manifest["files"].values())
    fields = lines[1].split()
    assert fields[1] == manifest["build"]["created_utc"]
    assert f"input_dim={manifest['input_dim']}" in fields
    assert f"fingerprint={manifest['fingerprint'][:12]}" in fields
    assert f"bytes={size}" in fields and "learned=2" in fields

    code, out, _ = cli(capsys, store_root, "list", "zz")
    assert code == 0 and out.strip().splitlines() == [lines[2]]


def test_list_empty_store_and_unknown_name(capsys, store_root, corpus):
    code, out, err = cli(capsys, store_root, "list")  # a mistyped --store is an error
    assert code == 1 and out == "" and f"The store {store_root} does not exist" in err
    store_root.mkdir()
    code, out, err = cli(capsys, store_root, "list")
    assert code == 0 and out == "" and "No vocabularies" in err

    build(capsys, store_root, "--input", str(corpus))
    code, out, err = cli(capsys, store_root, "list", "nope")
    assert code == 1 and out == ""
    assert "No published vocabulary named 'nope'" in err and "demo" in err


def test_unknown_ref_errors(capsys, store_root, corpus):
    build(capsys, store_root, "--input", str(corpus))
    code, out, err = cli(capsys, store_root, "inspect", "nope@v1")
    assert code == 1 and out == ""
    assert err.startswith("vocabguard: error: No published vocabulary named 'nope'")
    assert "names there: demo" in err

    code, _, err = cli(capsys, store_root, "verify", "demo@v7")
    assert code == 1 and "'demo' has no version v7; published: v1" in err

    code, _, err = cli(
        capsys,
        store_root,
        "encode",
        "demo@latest!",
        "--input",
        str(corpus),
        "--output",
        "x.parquet",
    )
    assert code == 1 and "Cannot read the version part" in err


def test_verify_ok_and_flipped_byte(capsys, store_root, corpus):
    ref = build(capsys, store_root, "--input", str(corpus))
    manifest = VocabStore(store_root).manifest(ref)
    code, out, _ = cli(capsys, store_root, "verify", ref)
    assert code == 0 and out.strip() == f"OK demo@v1 {manifest['fingerprint']}"

    tokens = Path(VocabStore(store_root).path(ref)) / "tokens.parquet"
    data = bytearray(tokens.read_bytes())
    data[len(data) // 2] ^= 0x01
    tokens.write_bytes(bytes(data))
    code, out, err = cli(capsys, store_root, "verify", ref)
    assert code == 1 and out == ""
    assert err.startswith("vocabguard: error:")
    assert "tokens.parquet" in err and "sha256" in err


# -- encode --


def test_encode_writes_ids_and_metadata(capsys, store_root, corpus, tmp_path):
    ref = build(capsys, store_root, "--input", str(corpus), "--max-tokens", "3")
    vocab = VocabStore(store_root).load(ref)
    docs = tmp_path / "new.txt"
    docs.write_text("the cat\nunknown words here\n\nsat the mat\n", encoding="utf-8")
    output = tmp_path / "ids.parquet"
    code, out, err = cli(
        capsys, store_root, "encode", ref, "--input", str(docs), "--output", str(output)
    )
    assert code == 0 and out == ""

    table = pq.read_table(output)
    assert table.schema.field("ids").type == pa.list_(pa.int32())
    texts = ["the cat", "unknown words here", "", "sat the mat"]
    assert table["ids"].to_pylist() == [row.tolist() for row in vocab.encode(texts)]
    metadata = table.schema.metadata
    assert metadata[b"vocabguard.fingerprint"] == vocab.fingerprint.encode()
    assert metadata[b"vocabguard.ref"] == b"demo@v1"
    assert metadata[b"vocabguard.input_dim"] == str(vocab.input_dim).encode()
    assert "4 documents" in err and "8 tokens" in err and "OOV rate 0.6250 (5 OOV ids)" in err
    assert f"< input_dim {vocab.input_dim}" in err
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_encode_int64_sequence_length_and_integer_values(capsys, store_root, corpus, tmp_path):
    ref = build(
        capsys,
        store_root,
        "--input",
        str(corpus),
        "--id-dtype",
        "int64",
        "--sequence-length",
        "4",
        name="padded",
    )
    output = tmp_path / "padded.parquet"
    code, _, err = cli(
        capsys, store_root, "encode", ref, "--input", str(corpus), "--output", str(output)
    )
    table = pq.read_table(output)
    assert code == 0 and "non-pad ids" in err
    assert table.schema.field("ids").type == pa.list_(pa.int64())
    expected = VocabStore(store_root).load(ref).encode(CORPUS).tolist()
    assert table["ids"].to_pylist() == expected
    assert all(len(row) == 4 for row in expected)

    ids_path = write_jsonl(tmp_path / "ids.jsonl", [{"i": 7}, {"i": 3}, {"i": 7}])
    ref = build(capsys, store_root, "--input", str(ids_path), "--tokenizer", "none", name="ints")
    unseen = write_jsonl(tmp_path / "unseen.jsonl", [{"i": 3}, {"i": 99}])
    output = tmp_path / "ints.parquet"
    code, _, err = cli(
        capsys,
        store_root,
        "encode",
        ref,
        "--input",
        str(unseen),
        "--field",
        "i",
        "--output",
        str(output),
    )
    table = pq.read_table(output)
    assert code == 0
    assert table.schema.field("ids").type == pa.int32()
    assert table["ids"].to_pylist() == [3, 1]  # 7 -> 2, 3 -> 3, unknown -> OOV id 1


def test_encode_refuses_to_overwrite(capsys, store_root, corpus, tmp_path):
    ref = build(capsys, store_root, "--input", str(corpus))
    output = tmp_path / "ids.parquet"
    output.write_bytes(b"precious")
    code, out, err = cli(
        capsys, store_root, "encode", ref, "--input", str(corpus), "--output", str(output)
    )
    assert code == 1 and out == ""
    assert str(output) in err and "already exists" in err
    assert output.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt", "ids.parquet", "store"]


def test_encode_input_errors_leave_no_output(capsys, store_root, corpus, tmp_path):
    ref = build(capsys, store_root, "--input", str(corpus))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n" * 20000 + b"caf\xe9\n")
    output = tmp_path / "out.parquet"
    code, _, err = cli(
        capsys, store_root, "encode", ref, "--input", str(bad), "--output", str(output)
    )
    assert code == 1 and "bad.txt, line 20001" in err
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "corpus.txt", "store"]


# -- export --


def test_export_keras_matches_vocabulary_encode(capsys, store_root, corpus, tmp_path):
    import keras
    import numpy as np

    ref = build(
        capsys,
        store_root,
        "--input",
        str(corpus),
        "--num-oov-buckets",
        "3",
        "--reserved-token",
        "[CLS]",
    )
    vocab = VocabStore(store_root).load(ref)
    output = tmp_path / "keras"
    code, _, err = cli(
        capsys, store_root, "export", ref, "--format", "keras", "--output", str(output)
    )
    assert code == 0 and "exported demo@v1" in err
    assert sorted(p.name for p in output.iterdir()) == ["lookup_config.json", "vocabulary.txt"]

    lines = (output / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert lines == vocab.tokens[1 + 3 :]
    config = json.loads((output / "lookup_config.json").read_text(encoding="utf-8"))
    assert config["layer"] == "StringLookup"
    assert config["input_dim"] == vocab.input_dim
    kwargs = dict(config["kwargs"])
    assert kwargs == {
        "vocabulary": "vocabulary.txt",
        "mask_token": "[PAD]",
        "oov_token": "[UNK]",
        "num_oov_indices": 3,
    }
    kwargs["vocabulary"] = str(output / kwargs["vocabulary"])
    layer = keras.layers.StringLookup(**kwargs)
    text = "the cat [CLS] zebra sat quux [PAD] dog xylophone"
    keras_ids = np.asarray(layer(np.array(text.split()))).tolist()
    assert keras_ids == vocab.encode([text])[0].tolist()
    assert max(keras_ids) < vocab.input_dim and 0 in keras_ids


def test_export_tft_layout_and_notes(capsys, store_root, corpus, tmp_path):
    ref = build(capsys, store_root, "--input", str(corpus), "--num-oov-buckets", "2")
    vocab = VocabStore(store_root).load(ref)
    output = tmp_path / "tft"
    output.mkdir()  # an existing empty directory is fine
    code, _, _ = cli(capsys, store_root, "export", ref, "--format", "tft", "--output", str(output))
    assert code == 0
    assert sorted(p.name for p in output.iterdir()) == ["NOTES.txt", "vocabulary.txt"]
    lines = (output / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert lines == vocab.tokens[3:]
    notes = (output / "NOTES.txt").read_text(encoding="utf-8")
    assert "AFTER" in notes and "num_oov_buckets" in notes and "default_value" in notes
    assert "idx + 3" in notes and f"input_dim={vocab.input_dim}" in notes


def test_export_refuses_non_empty_directory(capsys, store_root, corpus, tmp_path):
    ref = build(capsys, store_root, "--input", str(corpus))
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine", encoding="utf-8")
    code, _, err = cli(
        capsys, store_root, "export", ref, "--format", "keras", "--output", str(output)
    )
    assert code == 1 and str(output) in err and "already exists" in err
    assert [p.name for p in output.iterdir()] == ["keep.txt"]
    assert (output / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_export_fails_on_a_token_that_is_not_a_text_line(capsys, store_root, tmp_path):
    path = write_jsonl(tmp_path / "lines.jsonl", [{"t": "one"}, {"t": "two\nlines"}])
    ref = build(capsys, store_root, "--input", str(path), "--tokenizer", "none")
    output = tmp_path / "out"
    code, _, err = cli(
        capsys, store_root, "export", ref, "--format", "tft", "--output", str(output)
    )
    assert code == 1
    assert "line break" in err and "shift" in err
    assert not output.exists()


# -- readers --


def test_expand_inputs_sorts_globs_and_drops_duplicates(tmp_path):
    for name in ("b.txt", "a.txt", "c.md"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    files = expand_inputs([str(tmp_path / "*.txt"), str(tmp_path / "a.txt")])
    assert [Path(p).name for p in files] == ["a.txt", "b.txt"]
    with pytest.raises(InputNotFoundError, match=r"nothing-\*\.txt' matches no files"):
        expand_inputs([str(tmp_path / "nothing-*.txt")])
    with pytest.raises(FileNotFoundError):
        expand_inputs(str(tmp_path / "absent.txt"))
    with pytest.raises(InputDataError, match="is a directory"):
        expand_inputs([str(tmp_path)])


def test_read_documents_streams_lines_and_records(tmp_path):
    text = tmp_path / "docs.txt"
    text.write_bytes(b"\xef\xbb\xbffirst  line \r\n\nlast")
    assert list(read_documents([text])) == ["first  line ", "", "last"]

    records = write_jsonl(tmp_path / "one_key.jsonl", [{"body": "a"}, {"body": "b"}])
    assert list(read_documents(records)) == ["a", "b"]

    csv_path = tmp_path / "nums.csv"
    csv_path.write_text("n\n4\n5\n", encoding="utf-8")
    assert list(read_documents([csv_path])) == ["4", "5"]
    assert list(read_documents([csv_path], kind="integer")) == [4, 5]

    values = read_documents([text, tmp_path / "missing.txt"])
    with pytest.raises(InputNotFoundError, match=r"missing\.txt"):
        next(values)  # every input is resolved before the first document


def test_read_documents_type_errors_name_the_record(tmp_path):
    path = write_jsonl(tmp_path / "types.jsonl", [{"v": "ok"}, {"v": 1.5}])
    with pytest.raises(InputDataError, match=r"types.jsonl, line 2: field 'v' is a number"):
        list(read_documents([path], field="v"))
    path = write_jsonl(tmp_path / "flags.jsonl", [{"v": True}])
    with pytest.raises(InputDataError, match="boolean"):
        list(read_documents([path]))
    path = tmp_path / "plain.txt"
    path.write_text("x\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="vocabulary holds integer tokens"):
        list(read_documents([path], kind="integer"))


# -- the console script --


def run_script(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_console_script_build_inspect_encode(tmp_path, corpus):
    store = str(tmp_path / "store")
    built = run_script(
        "build", "--name", "sotu", "--input", str(corpus), "--store", store, cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip().splitlines()[-1] == "sotu@v1"
    assert "published sotu@v1" in built.stderr

    inspected = run_script("inspect", "sotu@v1", "--json", "--store", store, cwd=tmp_path)
    assert inspected.returncode == 0, inspected.stderr
    input_dim = json.loads(inspected.stdout)["input_dim"]

    output = tmp_path / "ids.parquet"
    encode_args = ("encode", "sotu@v1", "--input", str(corpus), "--output", str(output))
    encoded = run_script(*encode_args, "--store", store, cwd=tmp_path)
    assert encoded.returncode == 0, encoded.stderr
    table = pq.read_table(output)
    vocab = VocabStore(store).load("sotu@v1")
    assert table["ids"].to_pylist() == [row.tolist() for row in vocab.encode(CORPUS)]
    assert table.schema.metadata[b"vocabguard.ref"] == b"sotu@v1"
    assert table.schema.metadata[b"vocabguard.input_dim"] == str(input_dim).encode()

    again = run_script(*encode_args, "--store", store, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith("vocabguard: error:") and "Traceback" not in again.stderr


def test_console_script_help_and_errors(tmp_path):
    helped = run_script("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "build" in helped.stdout and "encode" in helped.stdout
    usage = run_script("verify", cwd=tmp_path)
    assert usage.returncode == 2
    assert usage.stderr.startswith("vocabguard: error:") and "REF" in usage.stderr


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "import vocabguard.cli as c\n"
        "for argv in (['--help'], ['build', '--help'], ['encode', '--help'], ['--version']):\n"
        "    assert c.main(argv) == 0, argv\n"
        "heavy = [m for m in ('tensorflow', 'apache_beam', 'keras', 'tensorflow_text')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('light')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "light"


def test_cli_module_itself_imports_no_library_code():
    # vocabguard/__init__.py imports numpy and pyarrow; load cli.py under a bare
    # package so only what cli.py itself imports for --help is counted.
    code = (
        "import importlib.util, sys, types\n"
        "spec = importlib.util.find_spec('vocabguard')\n"
        "package = types.ModuleType('vocabguard')\n"
        "package.__path__ = list(spec.submodule_search_locations)\n"
        "package.__version__ = '0.0.test'\n"
        "sys.modules['vocabguard'] = package\n"
        "import vocabguard.cli as c\n"
        "for argv in (['--help'], ['build', '--help'], ['export', '--help'], ['--version']):\n"
        "    assert c.main(argv) == 0, argv\n"
        "heavy = [m for m in ('numpy', 'pyarrow', 'yaml', 'tqdm', 'tensorflow', 'apache_beam')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('light')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "light"
    assert "vocabguard 0.0.test" in result.stdout
