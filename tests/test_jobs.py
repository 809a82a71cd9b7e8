"""The Beam jobs: ``run_build`` / ``run_encode``, their CLI form, config validation,
and encoded outputs that train a Keras model through tf.data.
"""

from __future__ import annotations

import glob
import json
import math
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.engines.jobs import JobConfig
from vocabguard.cli import main
from vocabguard.cli.jobs import run_build, run_encode
from vocabguard.errors import ConfigError, OutputExistsError

WORDS = ["the", "The", "cat", "dog", "sat", "mat", "on", "a", "log", "Zebra", "éclair", "x"]
COUNTRIES = ["fr", "de", "us", "jp", "br"]
TEXT_SPEC = {"lowercase": True, "max_tokens": 6, "num_oov_buckets": 2}
TEXT_FLAGS = ["--lowercase", "--max-tokens", "6", "--num-oov-buckets", "2"]
COUNTRY_SPEC = {"tokenizer": "none"}
COUNTRY_FLAGS = ["--tokenizer", "none"]
TWO_WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def make_records(n: int = 80, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "id": i,
            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 7))),
            "country": COUNTRIES[min(i % 7, 4)],
            "label": i % 2,
            "score": i / 8,
        }
        for i in range(n)
    ]


def write_corpus(directory, records: list[dict], shards: int = 2) -> str:
    """JSON Lines shards of ``records``; returns their glob."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(shards):
        with open(directory / f"news-{index}.jsonl", "w", encoding="utf-8") as handle:
            for record in records[index::shards]:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return str(directory / "news-*.jsonl")


def write_config(path, **sections) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(sections, handle, allow_unicode=True, sort_keys=False)
    return str(path)


def job_config(inputs: str, store, **extra) -> dict:
    """A two-feature job: whitespace text and a categorical country."""
    return {
        "store": str(store),
        "inputs": [inputs],
        "batch_size": 16,
        "features": {
            "text": {"field": "text", "name": "news_text", "spec": dict(TEXT_SPEC)},
            "country": {"field": "country", "name": "news_country", "spec": dict(COUNTRY_SPEC)},
        },
        **extra,
    }


@pytest.fixture
def corpus(tmp_path):
    records = make_records()
    return records, write_corpus(tmp_path / "data", records)


def in_process(records, field: str, spec: dict):
    return build_vocabulary([r[field] for r in records], VocabSpec(**spec), progress=False)


def in_process_cli(capsys, store_root, name: str, inputs: str, field: str, flags) -> str:
    """``vocabguard build --name ... --input ... --field ...`` in process; its fingerprint."""
    code = main(["build", "--name", name, "--input", inputs, "--field", field, *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    ref = out.strip().splitlines()[-1]
    return VocabStore(store_root).load(ref).fingerprint


# -- build --


def test_run_build_publishes_every_feature_with_in_process_fingerprints(
    tmp_path, corpus, capsys, monkeypatch
):
    records, inputs = corpus
    store_root = tmp_path / "store"
    config = write_config(tmp_path / "job.yaml", **job_config(inputs, tmp_path / "unused"))
    published = run_build(["--config", config, "--store", str(store_root)])

    text = in_process(records, "text", TEXT_SPEC)
    country = in_process(records, "country", COUNTRY_SPEC)
    for item in published:  # whether each version is new; the rest is compared below
        assert item.pop("newly_published") is True
    assert published == [
        {
            "feature": "text",
            "ref": "news_text@v1",
            "fingerprint": text.fingerprint,
            "input_dim": text.input_dim,
        },
        {
            "feature": "country",
            "ref": "news_country@v1",
            "fingerprint": country.fingerprint,
            "input_dim": country.input_dim,
        },
    ]
    store = VocabStore(store_root)
    assert store.names() == ["news_country", "news_text"]
    assert not (tmp_path / "unused").exists()  # --store overrides the config's store
    loaded = store.load("news_text@v1")
    assert loaded.tokens == text.tokens and loaded.stats == text.stats
    assert loaded.build["builder"] == "beam" and loaded.build["input"] == inputs

    # The in-process CLI over the same files gives the same fingerprints.
    monkeypatch.setenv("VOCABGUARD_STORE", str(tmp_path / "cli_store"))
    cli_root = tmp_path / "cli_store"
    assert in_process_cli(capsys, cli_root, "t", inputs, "text", TEXT_FLAGS) == text.fingerprint
    assert (
        in_process_cli(capsys, cli_root, "c", inputs, "country", COUNTRY_FLAGS)
        == country.fingerprint
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_cli_build_with_runner_prints_the_refs_last(tmp_path, corpus, capsys, workers):
    records, inputs = corpus
    store_root = tmp_path / "store"
    config = write_config(tmp_path / "job.yaml", **job_config(inputs, "ignored"))
    extra = TWO_WORKERS if workers == 2 else []
    argv = ["build", "--runner", "DirectRunner", "--config", config, "--store", str(store_root)]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip().splitlines()[-2:] == ["news_text@v1", "news_country@v1"]
    store = VocabStore(store_root)
    text, country = store.load("news_text@v1"), store.load("news_country@v1")
    assert f"published news_text@v1 for feature text: input_dim {text.input_dim}, " in err
    assert f"fingerprint {country.fingerprint[:16]}" in err

    assert text.fingerprint == in_process(records, "text", TEXT_SPEC).fingerprint
    assert country.fingerprint == in_process(records, "country", COUNTRY_SPEC).fingerprint
    cli_root = tmp_path / "cli_store"
    flags = ["--store", str(cli_root)]
    assert in_process_cli(capsys, cli_root, "t", inputs, "text", TEXT_FLAGS + flags) == (
        text.fingerprint
    )
    assert in_process_cli(capsys, cli_root, "c", inputs, "country", COUNTRY_FLAGS + flags) == (
        country.fingerprint
    )


def test_bad_record_fails_the_cli_build_naming_file_line_and_field(tmp_path, capsys):
    path = tmp_path / "news.jsonl"
    path.write_text('{"text": "a b", "country": "fr"}\n{"text": "c", "country": 3.5}\n')
    config = write_config(tmp_path / "job.yaml", **job_config(str(path), tmp_path / "store"))
    code = main(["build", "--runner", "DirectRunner", "--config", config])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith(
        f"vocabguard: error: {path}, line 2, field 'country': expected a string or an integer, "
        "found float 3.5. Fix the record. bad_records: skip drops and counts"
    ), err
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("command", ["build", "encode"])
def test_unknown_beam_option_is_an_error(tmp_path, corpus, capsys, command):
    _, inputs = corpus
    config = write_config(
        tmp_path / "job.yaml",
        **job_config(inputs, tmp_path / "store", encode={"output": str(tmp_path / "out")}),
    )
    code = main(
        [command, "--runner", "DirectRunner", "--config", config, "--direct_num_wrokers", "2"]
    )
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == (
        "vocabguard: error: Unknown pipeline option(s) --direct_num_wrokers 2: not a vocabguard "
        "job flag nor a Beam pipeline option. Check the spelling (Beam options use underscores, "
        "e.g. --direct_num_workers). Received: options=['--direct_num_wrokers', '2']\n"
    )
    assert not (tmp_path / "store").exists() and not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="Unknown pipeline option"):
        run_build(["--config", config, "--direct_num_wrokers=2"])


# -- config validation --

CONFIG_ERRORS = {
    "unknown key": (
        {"inptus": ["x.jsonl"]},
        "Unknown key 'inptus' in {path}. Did you mean 'inputs'? Allowed keys: store, inputs, "
        "format, bad_records, batch_size, shards, flush_rows, split_bytes, max_record_bytes, "
        "max_bad_fraction, allow_empty, features, encode. "
        "Received: inptus=['x.jsonl']",
    ),
    "unknown feature key": (
        {"features": {"text": {"field": "text", "spec_fil": "x.yaml"}}},
        "Unknown key 'spec_fil' in {path} features.text. Did you mean 'spec_file'? Allowed "
        "keys: field, name, spec, spec_file, parent, retire, allow_empty, max_bad_fraction, fields, "
        "weight_field. "
        "Received: spec_fil='x.yaml'",
    ),
    "unknown spec key": (
        {"features": {"text": {"spec": {"max_token": 5}}}},
        "Unknown vocabulary spec key 'max_token' in {path} features.text. Did you mean "
        "'max_tokens'?",
    ),
    "missing inputs": (
        {"inputs": None},
        "`inputs` in {path} must be a list of paths or globs. Received: inputs=None",
    ),
    "empty inputs": ({"inputs": []}, "{path} names no `inputs`. Received: inputs=[]"),
    "missing features": (
        {"features": None},
        "`features` in {path} must be a mapping. Received: features=None",
    ),
    "empty features": ({"features": {}}, "{path} names no `features`. Received: features={{}}"),
    "bad bad_records": (
        {"bad_records": "ignore"},
        "`bad_records` in {path} must be 'fail' or 'skip'. Received: bad_records='ignore'",
    ),
    "bad batch_size": (
        {"batch_size": 0},
        "`batch_size` in {path} must be an integer >= 1. Received: batch_size=0",
    ),
    "unknown encode feature": (
        {"encode": {"output": "out", "features": ["text", "topic"]}},
        "`encode.features` in {path} names 'topic', which is not a feature; features: text, "
        "country. Received: features=['text', 'topic']",
    ),
    "encode without output": (
        {"encode": {"format": "parquet"}},
        "`encode` in {path} needs `output`, a directory that does not exist yet. Received: "
        "encode={{'format': 'parquet'}}",
    ),
    "bad encode format": (
        {"encode": {"output": "out", "format": "csv"}},
        "`encode.format` must be one of parquet, tfrecord. Received: format='csv'",
    ),
    "bad passthrough type": (
        {"encode": {"output": "out", "passthrough": {"label": "int"}}},
        "`encode.passthrough.label` must be one of string, int64, float64, binary. Received: "
        "label='int'",
    ),
    "shared vocabulary name": (
        {"features": {"a": {"name": "same"}, "b": {"name": "same"}}},
        "Two features in {path} have the vocabulary name 'same'; each feature publishes its "
        "own vocabulary, so give each a distinct `name`. Received: names=['same', 'same']",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_errors_name_the_problem(tmp_path, case):
    overrides, message = CONFIG_ERRORS[case]
    data = job_config("in.jsonl", tmp_path / "store")
    for key, value in overrides.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    path = write_config(tmp_path / "job.yaml", **data)
    with pytest.raises(ConfigError) as info:
        JobConfig.from_yaml(path)
    assert message.format(path=path) in str(info.value)


def test_config_error_through_the_cli(tmp_path, capsys):
    data = job_config("in.jsonl", tmp_path / "store", bad_records="drop")
    path = write_config(tmp_path / "job.yaml", **data)
    assert main(["encode", "--runner", "DirectRunner", "--config", path]) == 1
    assert capsys.readouterr().err == (
        f"vocabguard: error: `bad_records` in {path} must be 'fail' or 'skip'. Received: "
        "bad_records='drop'\n"
    )


def test_missing_config_file(tmp_path, capsys):
    missing = str(tmp_path / "nope.yaml")
    assert main(["build", "--runner", "DirectRunner", "--config", missing]) == 1
    assert capsys.readouterr().err == (
        f"vocabguard: error: Config file {missing} does not exist; check the path. Received: "
        f"path={missing!r}\n"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        run_encode(["--config", missing])


def test_config_without_an_encode_section_cannot_encode(tmp_path, corpus):
    path = write_config(tmp_path / "job.yaml", **job_config(corpus[1], tmp_path / "store"))
    with pytest.raises(ConfigError) as info:
        run_encode(["--config", path])
    assert str(info.value) == (
        f"{path} has no `encode` section; add one with at least `output`. Received: config={path!r}"
    )


# -- encode --


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """A store with pinned and newer versions, and the job encoded as Parquet and TFRecord."""
    tmp_path = tmp_path_factory.mktemp("encode")
    records = make_records(60, seed=9)
    inputs = write_corpus(tmp_path / "data", records, shards=3)
    store = VocabStore(tmp_path / "store")
    # news_text@v1 from part of the data (so the encode meets OOV tokens); v2 is newer
    # but the config pins v1.
    text = store.publish(in_process(records[:20], "text", TEXT_SPEC), "news_text")
    store.publish(in_process(records, "text", {**TEXT_SPEC, "max_tokens": 2}), "news_text")
    country = store.publish(in_process(records, "country", COUNTRY_SPEC), "news_country")
    outputs = {}
    for format in ("parquet", "tfrecord"):
        output = str(tmp_path / "out" / format)
        encode = {
            "output": output,
            "format": format,
            "passthrough": {"id": "int64", "label": "int64", "score": "float64"},
            "vocabularies": {"text": "news_text@v1"},
        }
        config = write_config(
            tmp_path / f"{format}.yaml", **job_config(inputs, store.root, encode=encode)
        )
        outputs[format] = (config, output, run_encode(["--config", config]))
    by_id = sorted(records, key=lambda r: r["id"])
    expected = {
        "id": [r["id"] for r in by_id],
        "text": text.encode_arrow([r["text"] for r in by_id]).to_pylist(),
        "country": country.encode_arrow([r["country"] for r in by_id]).to_pylist(),
        "label": [r["label"] for r in by_id],
        "score": [r["score"] for r in by_id],
    }
    return {
        "store": store,
        "text": text,
        "country": country,
        "records": records,
        "outputs": outputs,
        "expected": expected,
    }


def read_parquet_output(output: str) -> pa.Table:
    files = sorted(glob.glob(os.path.join(output, "part-*.parquet")))
    assert files, os.listdir(output)
    tables = [pq.read_table(f) for f in files]
    for table in tables[1:]:
        assert table.schema.equals(tables[0].schema, check_metadata=True)
    return pa.concat_tables(tables).sort_by("id")


def test_run_encode_parquet_schema_metadata_and_ids(encoded):
    _, output, _ = encoded["outputs"]["parquet"]
    text, country = encoded["text"], encoded["country"]
    table = read_parquet_output(output)
    metadata = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert {k: v for k, v in metadata.items() if k.startswith("vocabguard.")} == {
        "vocabguard.text.ref": "news_text@v1",
        "vocabguard.text.fingerprint": text.fingerprint,
        "vocabguard.text.input_dim": str(text.input_dim),
        "vocabguard.country.ref": "news_country@v1",
        "vocabguard.country.fingerprint": country.fingerprint,
        "vocabguard.country.input_dim": str(country.input_dim),
    }
    assert table.schema.field("text").type == pa.list_(pa.int32())
    assert table.schema.field("country").type == pa.int32()
    assert table.schema.field("score").type == pa.float64()
    got = {name: table.column(name).to_pylist() for name in encoded["expected"]}
    assert got == encoded["expected"]
    assert max(max(row, default=0) for row in got["text"]) < text.input_dim


def expected_summary(encoded, output: str, format: str) -> dict:
    text, country = encoded["text"], encoded["country"]
    text_ids = [i for row in encoded["expected"]["text"] for i in row]
    country_ids = encoded["expected"]["country"]
    ids = len(text_ids) + len(country_ids)
    oov = sum(1 for i in text_ids if i in text.oov_ids)
    oov += sum(1 for i in country_ids if i in country.oov_ids)
    assert oov > 0
    return {
        "output": output,
        "format": format,
        "vocabularies": {
            "text": {"ref": text.ref, "fingerprint": text.fingerprint, "input_dim": text.input_dim},
            "country": {
                "ref": country.ref,
                "fingerprint": country.fingerprint,
                "input_dim": country.input_dim,
            },
        },
        "documents": len(encoded["records"]),
        "ids": ids,
        "oov_ids": oov,
        "oov_rate": oov / ids,
        "pad_ids": 0,
        "out_of_range_ids": 0,
        "bad_records_skipped": {},
        # one file per input split that holds rows
        "files": len([f for f in os.listdir(output) if f.startswith("part-")]),
    }


@pytest.mark.parametrize("format", ["parquet", "tfrecord"])
def test_run_encode_summary(encoded, format):
    _, output, summary = encoded["outputs"][format]
    with open(os.path.join(output, "summary.json"), encoding="utf-8") as handle:
        written = json.load(handle)
    assert written == summary == expected_summary(encoded, output, format)
    assert not glob.glob(f"{output}.incomplete-*")


def test_run_encode_tfrecord_examples(encoded):
    import tensorflow as tf

    _, output, _ = encoded["outputs"]["tfrecord"]
    files = sorted(glob.glob(os.path.join(output, "part-*.tfrecord")))
    assert files, os.listdir(output)
    rows = {}
    for raw in tf.data.TFRecordDataset(files).as_numpy_iterator():
        example = tf.train.Example.FromString(raw)
        feature = example.features.feature
        assert feature["text"].WhichOneof("kind") == "int64_list"
        assert feature["country"].WhichOneof("kind") == "int64_list"
        assert feature["text_vocab_fingerprint"].bytes_list.value == [
            encoded["text"].fingerprint.encode()
        ]
        assert feature["country_vocab_fingerprint"].bytes_list.value == [
            encoded["country"].fingerprint.encode()
        ]
        assert feature["score"].float_list.value[0] == pytest.approx(
            feature["id"].int64_list.value[0] / 8
        )
        rows[feature["id"].int64_list.value[0]] = (
            list(feature["text"].int64_list.value),
            list(feature["country"].int64_list.value),
            list(feature["label"].int64_list.value),
        )
    expected = encoded["expected"]
    assert sorted(rows) == expected["id"]
    assert [rows[i] for i in expected["id"]] == [
        (text, [country], [label])
        for text, country, label in zip(expected["text"], expected["country"], expected["label"])
    ]


def test_run_encode_refuses_to_overwrite(encoded, tmp_path, capsys):
    config, output, _ = encoded["outputs"]["parquet"]
    before = {p: os.path.getmtime(p) for p in glob.glob(os.path.join(output, "*"))}
    with pytest.raises(OutputExistsError) as info:
        run_encode(["--config", config])
    assert str(info.value) == (
        f"Output {output} already exists; vocabguard never overwrites encoded data. Choose a "
        f"new output directory or delete the old one. Received: output={output!r}"
    )
    assert main(["encode", "--runner", "DirectRunner", "--config", config]) == 1
    assert capsys.readouterr().err.startswith(f"vocabguard: error: Output {output} already exists")
    assert {p: os.path.getmtime(p) for p in glob.glob(os.path.join(output, "*"))} == before
    assert not glob.glob(f"{output}.incomplete-*")


def test_failed_encode_leaves_no_output(tmp_path, corpus):
    records, _ = corpus
    path = tmp_path / "news.jsonl"
    path.write_text('{"text": "a", "country": "fr"}\n{"text": "b", "country": null}\n')
    store = VocabStore(tmp_path / "store")
    store.publish(in_process(records, "text", TEXT_SPEC), "news_text")
    store.publish(in_process(records, "country", COUNTRY_SPEC), "news_country")
    output = str(tmp_path / "out" / "encoded")
    config = write_config(
        tmp_path / "job.yaml", **job_config(str(path), store.root, encode={"output": output})
    )
    with pytest.raises(Exception) as info:
        run_encode(["--config", config])
    assert f"{path}, line 2, field 'country': the field is null" in str(info.value)
    # neither the output nor a staging directory (nor, here, their parent)
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


# -- tf.data + Keras --


def tiny_model(text_vocab, country_vocab):
    import keras

    from vocabguard import keras as vk

    text_in = keras.Input(shape=(None,), dtype="int64", name="text")
    country_in = keras.Input(shape=(), dtype="int64", name="country")
    words = keras.layers.GlobalAveragePooling1D()(vk.embedding(text_vocab, 8)(text_in))
    country = vk.embedding(country_vocab, 8, mask_zero=False)(country_in)
    hidden = keras.layers.Concatenate()([words, country])
    output = keras.layers.Dense(1, activation="sigmoid")(hidden)
    model = keras.Model({"text": text_in, "country": country_in}, output)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    assert model.get_layer("news_text_embedding").input_dim == text_vocab.input_dim
    assert model.get_layer("news_country_embedding").input_dim == country_vocab.input_dim
    return model


def has_tokens(features, label):
    # Keras averages an all-padding (fully masked) row as 0/0 = NaN: documents without
    # tokens carry no signal, so the input pipeline drops them.
    import tensorflow as tf

    return tf.size(features["text"]) > 0


def fit_one_step(model, dataset) -> float:
    history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    [loss] = history.history["loss"]
    assert math.isfinite(loss)
    return loss


def test_tfrecord_output_trains_a_keras_model_through_tf_data(encoded):
    import tensorflow as tf

    store = encoded["store"]
    _, output, summary = encoded["outputs"]["tfrecord"]
    text = store.load(summary["vocabularies"]["text"]["ref"])
    country = store.load(summary["vocabularies"]["country"]["ref"])
    spec = {
        "text": tf.io.RaggedFeature(tf.int64),
        "country": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "text_vocab_fingerprint": tf.io.FixedLenFeature([], tf.string),
        "country_vocab_fingerprint": tf.io.VarLenFeature(tf.string),
    }
    files = sorted(glob.glob(os.path.join(output, "part-*.tfrecord")))
    parsed = tf.data.TFRecordDataset(files).map(lambda raw: tf.io.parse_single_example(raw, spec))
    fingerprints = {
        (
            e["text_vocab_fingerprint"].numpy(),
            tuple(e["country_vocab_fingerprint"].values.numpy().tolist()),
        )
        for e in parsed
    }
    assert fingerprints == {(text.fingerprint.encode(), (country.fingerprint.encode(),))}

    dataset = (
        parsed.map(lambda e: ({"text": e["text"], "country": e["country"]}, e["label"]))
        .filter(has_tokens)
        .padded_batch(16)
    )
    features, _ = next(iter(dataset))
    assert features["text"].dtype == tf.int64 and features["text"].shape[0] == 16
    assert int(tf.reduce_max(features["text"])) < text.input_dim
    fit_one_step(tiny_model(text, country), dataset)


def test_parquet_output_trains_a_keras_model_through_tf_data(encoded):
    import tensorflow as tf

    store = encoded["store"]
    _, output, _ = encoded["outputs"]["parquet"]
    table = read_parquet_output(output)
    metadata = table.schema.metadata
    text = store.load(metadata[b"vocabguard.text.ref"].decode())
    country = store.load(metadata[b"vocabguard.country.ref"].decode())
    assert metadata[b"vocabguard.text.fingerprint"].decode() == text.fingerprint
    assert metadata[b"vocabguard.country.fingerprint"].decode() == country.fingerprint
    assert int(metadata[b"vocabguard.text.input_dim"]) == text.input_dim

    column = table.column("text").combine_chunks()
    ragged = tf.RaggedTensor.from_row_splits(
        values=tf.constant(column.values.to_numpy(), dtype=tf.int64),
        row_splits=tf.constant(column.offsets.to_numpy(), dtype=tf.int64),
    )
    assert ragged.to_list() == encoded["expected"]["text"]
    countries = tf.constant(table.column("country").to_numpy(), dtype=tf.int64)
    labels = tf.constant(table.column("label").to_numpy(), dtype=tf.int64)
    dataset = (
        tf.data.Dataset.from_tensor_slices(({"text": ragged, "country": countries}, labels))
        .filter(has_tokens)
        .ragged_batch(16)
        .map(lambda x, y: ({"text": x["text"].to_tensor(), "country": x["country"]}, y))
    )
    features, _ = next(iter(dataset))
    assert features["text"].shape[0] == 16
    first = next(row for row in encoded["expected"]["text"] if row)
    assert features["text"].numpy()[0].tolist()[: len(first)] == first
    fit_one_step(tiny_model(text, country), dataset)


# -- the command line's one parse of a Beam-mode command --


def test_one_parse_gives_the_build_parameters_and_the_beam_flags_in_order(tmp_path):
    from vocabguard.cli import build_parser

    job = write_config(tmp_path / "job.yaml", **job_config("x.jsonl", tmp_path / "store"))
    cases = {
        # --runner without a job config: the in-process flags as a one-feature job.
        ("build", "--name", "n", "--input", "a.txt", "--runner", "DaskRunner",
         "--dask_client_address", "tcp://h:1", "--lowercase", "--num_workers", "2"): (
            "runner", ["--dask_client_address", "tcp://h:1", "--num_workers", "2"]
        ),
        # A job config: no --name or --input needed.
        ("build", "--config", job, "--direct_num_workers", "2", "--store", "s"): (
            "job", ["--direct_num_workers", "2"]
        ),
        # encode's REF positional does not take a Beam flag's value.
        ("encode", "--runner", "DirectRunner", "--config", job, "--direct_num_workers", "2",
         "--output", "o"): ("job", ["--direct_num_workers", "2"]),
        ("build", "--name", "n", "--input", "a.txt"): (None, []),
    }  # fmt: skip
    for argv, (mode, beam_args) in cases.items():
        args, extras = build_parser().parse_known_args(list(argv))
        assert (args.beam_mode, args.beam_args, extras) == (mode, beam_args, []), argv
    args, _ = build_parser().parse_known_args(list(next(iter(cases))))
    assert (args.name, args.input, args.lowercase, args.runner) == (
        "n",
        ["a.txt"],
        True,
        "DaskRunner",
    )
    args, _ = build_parser().parse_known_args(
        ["encode", "--config", job, "--output", "o", "--store", "s"]
    )
    assert (args.config, args.output, args.store) == (job, "o", "s")


def test_in_process_flags_beside_a_job_config_are_a_usage_error(tmp_path, capsys):
    job = write_config(tmp_path / "job.yaml", **job_config("x.jsonl", tmp_path / "store"))
    assert main(["build", "--config", job, "--lowercase", "--max-tokens", "3"]) == 2
    assert capsys.readouterr().err == (
        "vocabguard: error: --lowercase/--no-lowercase, --max-tokens: in-process flags; a job "
        "config names its inputs, fields and specs (the Beam mode of vocabguard build takes a "
        "job config)\nRun 'vocabguard build --help' for usage.\n"
    )
    assert main(["encode", "--config", job, "--input", "a.txt"]) == 2
    assert capsys.readouterr().err.startswith(
        "vocabguard: error: --input: in-process flag; a job config names its inputs"
    )
    assert not (tmp_path / "store").exists()


def test_help_shows_the_declared_usage_of_both_modes(capsys):
    for command, usage in (
        ("build", "--name NAME [--parent REF]"),
        ("encode", "--output OUT [--allow-empty] [--runner RUNNER]"),
    ):
        assert main([command, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert usage in out, out
    assert " ".join(out.split("options:")[0].split()).endswith("REF")
