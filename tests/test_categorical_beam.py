"""Categorical features on Beam (issue 13): fields sharing one vocabulary, missing values,
weights and lists give the in-process build's ids; the encode job writes one id column
per field, identical to the numpy encoder."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.engines.beam import BuildVocabularies, Feature, ReadRecordBatches
from vocabguard._src.engines.beam.build import field_rules
from vocabguard.cli.jobs import run_build, run_encode
from vocabguard.errors import InputDataError


def write_shards(directory, records, shards):
    directory.mkdir(parents=True, exist_ok=True)
    size = max(1, -(-len(records) // shards))
    for index in range(shards):
        chunk = records[index * size : (index + 1) * size]
        if chunk:
            (directory / f"part-{index}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in chunk), encoding="utf-8"
            )


def beam_build(tmp_path, records, features, shards, batch_size, count_shards):
    write_shards(tmp_path / "shards", records, shards)
    store_root = str(tmp_path / "store")
    fields = sorted(
        {
            f
            for feature in features.values()
            for f in (*feature.all_fields, feature.weight_field)
            if f
        }
    )
    options = PipelineOptions(["--runner=DirectRunner", "--direct_running_mode=in_memory"])
    p = test_pipeline.TestPipeline(options=options)
    _ = (
        p
        | ReadRecordBatches(
            [str(tmp_path / "shards" / "part-*")],
            fields,
            batch_size=batch_size,
            rules=field_rules(features.values()),
        )
        | BuildVocabularies(features, store_root, shards=count_shards)
    )
    p.run(test_runner_api=False).wait_until_finish()
    store = VocabStore(store_root)
    return {key: store.load(f"{f.name}@latest") for key, f in features.items()}


ITEM = st.sampled_from(["a", "b", "c", "dd", "é"])
RECORD = st.fixed_dictionaries(
    {
        "hist": st.one_of(st.none(), st.lists(st.one_of(ITEM, st.none()), max_size=4)),
        "tgt": st.one_of(st.none(), ITEM, st.just("")),
        "country": st.one_of(st.none(), st.sampled_from(["fr", "de", "us"])),
        "w": st.one_of(st.integers(0, 5), st.floats(0, 3, allow_nan=False)),
    }
)


@settings(
    # Each example runs a Beam pipeline (about 3 s); raise it for a deeper check.
    max_examples=int(os.environ.get("VOCABGUARD_BEAM_PROPERTY_EXAMPLES", "4")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    records=st.lists(RECORD, min_size=1, max_size=30),
    policy=st.sampled_from(["token", "oov", "skip"]),
    shards=st.integers(1, 4),
    batch_size=st.sampled_from([1, 3, 50]),
    count_shards=st.integers(1, 3),
    min_count=st.integers(1, 2),
)
def test_beam_and_in_process_give_one_fingerprint(
    tmp_path_factory, records, policy, shards, batch_size, count_shards, min_count
):
    tmp_path = tmp_path_factory.mktemp("categorical")
    items_spec = VocabSpec(tokenizer="none", missing=policy, min_count=min_count)
    country_spec = VocabSpec(tokenizer="none", missing="token", pad_to_multiple_of=8)
    features = {
        "items": Feature(
            "hist",
            "items",
            items_spec,
            fields=("hist", "tgt"),
            weight_field="w",
            allow_empty=True,
            max_bad_fraction=1.0,
        ),
        "country": Feature("country", "country", country_spec, allow_empty=True),
    }
    beam = beam_build(tmp_path, records, features, shards, batch_size, count_shards)
    items = build_vocabulary(
        records, items_spec, fields=["hist", "tgt"], weight_field="w", progress=False
    )
    country = build_vocabulary([r["country"] for r in records], country_spec, progress=False)
    for got, want in ((beam["items"], items), (beam["country"], country)):
        assert got.fingerprint == want.fingerprint
        assert got.tokens == want.tokens and got.counts == want.counts
        assert got.input_dim == want.input_dim
    assert beam["items"].stats["missing"] == items.stats["missing"]
    assert beam["items"].stats["total_weight"] == items.stats["total_weight"]
    assert beam["items"].build["fields"] == ["hist", "tgt"]
    assert beam["items"].build["weight_field"] == "w"


def test_beam_bad_categorical_records_fail_or_are_counted(tmp_path):
    records = [
        {"hist": ["a", "b"], "w": 1},
        {"hist": ["a", 3], "w": 1},  # mixed element types
        {"hist": ["b"], "w": -1},  # negative weight
        {"hist": None, "w": 1},  # missing under missing: error
    ]
    write_shards(tmp_path / "in", records, 1)
    config = tmp_path / "job.yaml"
    config.write_text(
        f"inputs: [{tmp_path}/in/part-*]\nstore: {tmp_path}/store\nbad_records: BAD\n"
        "features:\n  items: {fields: [hist], weight_field: w, max_bad_fraction: 1.0,"
        " spec: {tokenizer: none}}\n"
    )
    text = config.read_text()
    config.write_text(text.replace("BAD", "fail"))
    with pytest.raises(InputDataError) as info:
        run_build(["--config", str(config)])
    message = str(info.value)
    assert (
        "part-0.jsonl, line 2, field 'hist'" in message and "mixes strings and integers" in message
    )
    config.write_text(text.replace("BAD", "skip"))
    run_build(["--config", str(config)])
    vocab = VocabStore(tmp_path / "store").load("items@latest")
    assert vocab.tokens[2:] == ["a", "b"]
    assert vocab.stats["bad_records_skipped"] == {
        "bad_weight": 1,
        "missing_field": 1,
        "mixed_types": 1,
    }


def test_beam_encode_job_one_column_per_field_matches_numpy(tmp_path):
    records = [
        {"hist": ["a", "b", "c"], "tgt": "a", "country": "fr", "w": 2.0, "label": 1},
        {"hist": ["b", "d"], "tgt": "e", "country": None, "w": 1.0, "label": 0},
        {"hist": [], "tgt": "zz", "country": "de", "w": 0.5, "label": 1},
    ]
    write_shards(tmp_path / "in", records, 2)
    config = tmp_path / "job.yaml"
    config.write_text(
        f"inputs: [{tmp_path}/in/part-*]\nstore: {tmp_path}/store\n"
        "features:\n"
        "  items: {fields: [hist, tgt], weight_field: w,"
        " spec: {tokenizer: none, value_shape: any}}\n"
        "  country: {spec: {tokenizer: none, missing: token, pad_to_multiple_of: 8}}\n"
        f"encode: {{output: {tmp_path}/out, passthrough: {{label: int64}}}}\n"
    )
    run_build(["--config", str(config)])
    summary = run_encode(["--config", str(config)])
    assert summary["out_of_range_ids"] == 0
    table = pq.ParquetDataset(sorted(map(str, (tmp_path / "out").glob("*.parquet")))).read()
    table = table.to_pylist()
    rows = sorted(table, key=lambda r: (r["label"], r["tgt"]))
    store = VocabStore(tmp_path / "store")
    items, country = store.load("items@v1"), store.load("country@v1")
    ordered = sorted(records, key=lambda r: (r["label"], items.encode([r["tgt"]])[0]))
    assert [r["tgt"] for r in rows] == items.encode([r["tgt"] for r in ordered]).tolist()
    assert [r["hist"] for r in rows] == [
        x.tolist() for x in items.encode([r["hist"] for r in ordered])
    ]
    assert items.stats["list_fields"] == ["hist"]
    assert [r["country"] for r in rows] == country.encode([r["country"] for r in ordered]).tolist()
    assert country.input_dim == 8 and country.missing_id == 2
    schema = pq.read_schema(next((tmp_path / "out").glob("*.parquet")))
    assert schema.metadata[b"vocabguard.tgt.fingerprint"].decode() == items.fingerprint
    assert schema.metadata[b"vocabguard.hist.fingerprint"].decode() == items.fingerprint


def test_beam_reads_tfrecord_and_parquet_lists(tmp_path):
    import pyarrow as pa
    import tensorflow as tf

    records = [
        {"hist": ["a", "b"], "ids": [3, 4], "w": 1.0},
        {"hist": ["b"], "ids": [4], "w": 2.0},
        {"hist": [], "ids": [], "w": 0.5},
    ]
    (tmp_path / "tf").mkdir()
    with tf.io.TFRecordWriter(str(tmp_path / "tf" / "part-0.tfrecord")) as writer:
        for r in records:
            feature = {
                "hist": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[x.encode() for x in r["hist"]])
                ),
                "ids": tf.train.Feature(int64_list=tf.train.Int64List(value=r["ids"])),
                "w": tf.train.Feature(float_list=tf.train.FloatList(value=[r["w"]])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    (tmp_path / "pq").mkdir()
    pq.write_table(
        pa.table(
            {
                "hist": pa.array([r["hist"] for r in records], pa.list_(pa.string())),
                "ids": pa.array([r["ids"] for r in records], pa.list_(pa.int64())),
                "w": [r["w"] for r in records],
            }
        ),
        tmp_path / "pq" / "part-0.parquet",
    )
    for folder in ("tf", "pq"):
        config = tmp_path / f"{folder}.yaml"
        config.write_text(
            f"inputs: [{tmp_path}/{folder}/part-*]\nstore: {tmp_path}/store_{folder}\n"
            "features:\n"
            "  hist: {weight_field: w, spec: {tokenizer: none, value_shape: list}}\n"
            "  ids: {spec: {tokenizer: none, value_shape: list}}\n"
        )
        run_build(["--config", str(config)])
        store = VocabStore(tmp_path / f"store_{folder}")
        hist, ids = store.load("hist@v1"), store.load("ids@v1")
        want = build_vocabulary(
            records, VocabSpec(tokenizer="none", value_shape="list"), fields=["hist"],
            weight_field="w", progress=False,
        )  # fmt: skip
        assert hist.fingerprint == want.fingerprint and hist.counts == want.counts
        assert ids.tokens == [None, -1, 4, 3]


def test_beam_value_shape_violations_are_bad_records(tmp_path):
    records = [{"ids": ["a", "b"]}, {"ids": "c"}, {"ids": ["c"]}]
    write_shards(tmp_path / "in", records, 1)
    config = tmp_path / "job.yaml"
    config.write_text(
        f"inputs: [{tmp_path}/in/part-*]\nstore: {tmp_path}/store\nbad_records: skip\n"
        "features:\n  ids: {max_bad_fraction: 1.0, spec: {tokenizer: none, value_shape: list}}\n"
        f"encode: {{output: {tmp_path}/out}}\n"
    )
    run_build(["--config", str(config)])
    vocab = VocabStore(tmp_path / "store").load("ids@v1")
    assert vocab.tokens[2:] == ["a", "b", "c"]
    assert vocab.stats["bad_records_skipped"] == {"wrong_shape": 1}
    summary = run_encode(["--config", str(config)])
    assert summary["bad_records_skipped"] == {"wrong_shape": 1}
