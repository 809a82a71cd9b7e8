"""The Beam transforms give the in-process builder's exact vocabularies and ids.

ReadRecordBatches (every input format), BuildVocabularies (sharding, batch size,
worker count, max_tokens ties, bad records under both policies) and
EncodeWithVocabularies, run as real pipelines on the DirectRunner.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline as beam_testing
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.layout import select_tokens
from vocabguard.beam import (
    BuildVocabularies,
    EncodeWithVocabularies,
    Feature,
    ReadRecordBatches,
    encoded_schema,
)
from vocabguard.errors import ConfigError

WORDS = ["the", "The", "cat", "dog", "sat", "mat", "on", "a", "log", "Zebra", "éclair", "日本", "x"]
COUNTRIES = ["fr", "de", "us", "jp", "br", "[UNK]"]
YEARS = [1999, 2000, 2001, 2020, -1, 0]  # 0 and -1: the integer pad and OOV tokens
SHARD_FORMATS = ["jsonl", "parquet", "tfrecord", "jsonl.gz", "jsonl"]


# -- data --


def make_records(n: int = 150, seed: int = 7) -> list[dict]:
    """Records with a text (sometimes empty), a country, a year, an id and a score."""
    rng = random.Random(seed)
    return [
        {
            "id": i,
            "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8))),
            "country": COUNTRIES[min(i % 8, 5)],  # five tied, [UNK] most
            "year": rng.choice(YEARS),
            "score": i / 4,
        }
        for i in range(n)
    ]


def tf_example(record: dict) -> bytes:
    feature = {}
    for key, value in record.items():
        if isinstance(value, float):
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif isinstance(value, int):
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            raw = value.encode() if isinstance(value, str) else value
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def write_records(path, records: list[dict], format: str) -> str:
    """Write ``records`` to ``path`` in ``format``; returns the path as a string."""
    path = str(path)
    if format == "text":
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(r["text"] + "\n" for r in records)
    elif format in ("jsonl", "jsonl.gz"):
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        with open(path, "wb") as handle:
            handle.write(gzip.compress(data) if format.endswith(".gz") else data)
    elif format == "csv":
        import csv

        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    elif format == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=16)
    elif format == "tfrecord":
        with tf.io.TFRecordWriter(path) as writer:
            for record in records:
                writer.write(tf_example(record))
    else:
        raise AssertionError(format)
    return path


def write_shards(directory, records: list[dict], shards: int) -> list[str]:
    """``records`` split into ``shards`` contiguous files of several formats."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-len(records) // shards)
    paths = []
    for index in range(shards):
        format = SHARD_FORMATS[index % len(SHARD_FORMATS)]
        path = directory / f"part-{index}.{format}"
        paths.append(write_records(path, records[index * size : (index + 1) * size], format))
    return paths


def tie_cut(values, spec: VocabSpec) -> int:
    """A ``max_tokens`` that cuts inside a group of equal counts (a tie at the cut-off)."""
    counter = build_vocabulary(values, spec, progress=False)
    counts = dict(zip(counter.token_bytes, counter.counts))
    learned = select_tokens(counts, min_count=spec.min_count)
    for index in range(len(learned) - 1):
        if learned[index][1] == learned[index + 1][1]:
            return index + 1
    raise AssertionError(f"no tie among the learned counts {learned}")


# -- pipelines --


def pipeline(*flags: str) -> beam_testing.TestPipeline:
    return beam_testing.TestPipeline(options=PipelineOptions(["--runner=DirectRunner", *flags]))


def run(p: beam_testing.TestPipeline):
    # test_runner_api=False: skip the proto round trip, which doubles construction time.
    return p.run(test_runner_api=False)


def counters(result) -> dict[str, int]:
    """The committed ``vocabguard`` counters of a finished pipeline, summed over steps."""
    totals: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace("vocabguard"))
    for counter in query["counters"]:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + counter.committed
    return totals


def features_for(**specs: VocabSpec) -> dict[str, Feature]:
    """Features that, like the in-process builder, accept empty results and any skip share
    (the build's own invariants have tests of their own)."""
    return {
        field: Feature(field, f"news_{field}", spec, allow_empty=True, max_bad_fraction=1.0)
        for field, spec in specs.items()
    }


def in_process(records: list[dict], feature: Feature):
    return build_vocabulary([r[feature.field] for r in records], feature.spec, progress=False)


def published_rows(features: dict[str, Feature], expected: dict) -> list[dict]:
    """What BuildVocabularies emits for a fresh store: one dict per feature."""
    return [
        {
            "feature": feature.field,
            "name": feature.name,
            "ref": f"{feature.name}@v1",
            "fingerprint": expected[key].fingerprint,
            "input_dim": expected[key].input_dim,
            "newly_published": True,
        }
        for key, feature in features.items()
    ]


def assert_same_vocabulary(got, want, *, stats: bool = True) -> None:
    """Fingerprint, tokens, ids, counts, layout and stats all equal."""
    assert got.token_type == want.token_type
    assert got.spec == want.spec
    assert got.tokens == want.tokens
    assert got.token_bytes == want.token_bytes
    assert got.counts == want.counts
    assert got.input_dim == want.input_dim
    assert got.layout == want.layout
    assert got.fingerprint == want.fingerprint
    for token in want.token_bytes:
        assert got.token_to_id(token) == want.token_to_id(token)
    if stats:
        assert got.stats == want.stats


def build_and_compare(tmp_path, records, features, *flags, batch_size=7):
    """Run ReadRecordBatches | BuildVocabularies; check every vocabulary against in-process."""
    expected = {key: in_process(records, feature) for key, feature in features.items()}
    store_root = str(tmp_path / "store")
    p = pipeline(*flags)
    published = (
        p
        | ReadRecordBatches(
            [str(tmp_path / "shards" / "part-*")],
            sorted({f.field for f in features.values()}),
            batch_size=batch_size,
        )
        | BuildVocabularies(features, store_root)
    )
    assert_that(published, equal_to(published_rows(features, expected)))
    result = run(p)
    store = VocabStore(store_root)
    for key, feature in features.items():
        assert store.versions(feature.name) == [1]
        vocab = store.load(f"{feature.name}@latest")
        assert_same_vocabulary(vocab, expected[key])
        assert vocab.build["builder"] == "beam"
        assert "bad_records_skipped" not in vocab.stats
    totals = counters(result)
    assert totals["records_read"] == len(records)
    assert "bad_records" not in totals
    return store


# -- ReadRecordBatches --

READ_CASES = {
    # format: (file name, fields, explicit format, expected record numbers)
    "text": ("in.txt", ["text"], None, list(range(1, 9))),
    "jsonl": ("in.jsonl", ["text", "country", "year"], None, list(range(1, 9))),
    "jsonl.gz": ("in.jsonl.gz", ["text", "year"], None, list(range(1, 9))),
    "csv": ("in.csv", ["country", "text", "year"], None, list(range(2, 10))),
    "parquet": ("in.parquet", ["year", "text"], None, list(range(1, 9))),
    "tfrecord": ("in.tfrecord", ["text", "country", "year"], None, list(range(1, 9))),
    "jsonl-explicit": ("in.data", ["country"], "jsonl", list(range(1, 9))),
}


@pytest.mark.parametrize("case", list(READ_CASES))
def test_read_record_batches_formats(tmp_path, case):
    name, fields, format, numbers = READ_CASES[case]
    records = make_records(8, seed=3)
    path = write_records(tmp_path / name, records, (format or case).replace("-explicit", ""))
    expected = []
    for number, record in zip(numbers, records):
        values = {f: record[f] for f in fields}
        if case == "csv":
            values["year"] = str(values["year"])  # CSV values are strings
        expected.append((path, number, json.dumps(values, sort_keys=True)))

    p = pipeline()
    # arrow=False: records one by one, batch_size at a time (Arrow batches of Parquet
    # records: tests/test_beam_columnar.py).
    batches = p | ReadRecordBatches([path], fields, format=format, batch_size=3, arrow=False)
    rows = batches | beam.FlatMap(
        lambda b: [
            (b.path, n, json.dumps({f: b.columns[f][i] for f in b.columns}, sort_keys=True))
            for i, n in enumerate(b.numbers)
        ]
    )
    assert_that(rows, equal_to(expected))
    shapes = batches | beam.Map(lambda b: (len(b), list(b.numbers) == sorted(b.numbers), b.skipped))
    assert_that(
        shapes, equal_to([(3, True, ()), (3, True, ()), (2, True, ())]), label="CheckBatches"
    )
    assert counters(run(p))["records_read"] == 8


def test_read_record_batches_reports_a_pattern_that_matches_nothing(tmp_path):
    # Files are matched when the pipeline is built: the error comes before any work.
    p = pipeline()
    with pytest.raises(ConfigError) as info:
        _ = p | ReadRecordBatches([str(tmp_path / "missing-*.jsonl")], ["text"])
    assert "No input file matches" in str(info.value)
    assert "missing-*.jsonl" in str(info.value)


# -- BuildVocabularies: same answer as in-process --


def two_feature_specs(records):
    """A whitespace text spec and a categorical country spec, both tied at max_tokens."""
    text = VocabSpec(lowercase=True, min_count=2, num_oov_buckets=2, reserved_tokens=["cat"])
    text = dataclasses.replace(text, max_tokens=tie_cut([r["text"] for r in records], text))
    country = VocabSpec(tokenizer="none", num_oov_buckets=3)
    country = dataclasses.replace(
        country, max_tokens=tie_cut([r["country"] for r in records], country)
    )
    return text, country


@pytest.mark.parametrize(("shards", "batch_size"), [(1, 1000), (2, 7), (5, 1)])
def test_build_vocabularies_matches_in_process_whatever_the_sharding(tmp_path, shards, batch_size):
    records = make_records()
    write_shards(tmp_path / "shards", records, shards)
    text, country = two_feature_specs(records)
    year = VocabSpec(tokenizer="none", num_oov_buckets=3, reserved_tokens=[2020])
    features = features_for(text=text, country=country, year=year)
    store = build_and_compare(tmp_path, records, features, batch_size=batch_size)
    vocab = store.load("news_year@v1")
    assert vocab.token_type == "int64" and vocab.tokens[:5] == [None, -1, -1, -1, 2020]


@pytest.mark.parametrize("workers", [1, 2])
def test_build_vocabularies_matches_in_process_whatever_the_worker_count(tmp_path, workers):
    records = make_records()
    write_shards(tmp_path / "shards", records, 4)
    text, country = two_feature_specs(records)
    flags = [f"--direct_num_workers={workers}"]
    if workers > 1:
        flags.append("--direct_running_mode=multi_processing")
    build_and_compare(
        tmp_path, records, features_for(text=text, country=country), *flags, batch_size=5
    )


def test_max_tokens_ties_at_the_cut_off_break_like_in_process(tmp_path):
    # Each shard holds one side of the ties, and the winners come last, so a wrong
    # merge of the per-worker heaps would keep the wrong tokens.
    shards = [
        [{"text": "c c c é é é d d", "year": 7}, {"text": "zz zz", "year": 7}],
        [{"text": "b b b", "year": 5}, {"text": "", "year": 5}],
        [{"text": "a a a", "year": 3}, {"text": "d", "year": 3}],
    ]
    directory = tmp_path / "shards"
    directory.mkdir()
    for index, records in enumerate(shards):
        write_records(directory / f"part-{index}.jsonl", records, "jsonl")
    records = [r for shard in shards for r in shard]
    features = features_for(
        text=VocabSpec(max_tokens=2), year=VocabSpec(tokenizer="none", max_tokens=2)
    )
    store = build_and_compare(tmp_path, records, features, batch_size=1)
    # Count descending, then UTF-8 bytes (or integer values) ascending.
    assert store.load("news_text").tokens == ["[PAD]", "[UNK]", "a", "b"]
    assert store.load("news_year").tokens == [None, -1, 3, 5]


@pytest.mark.parametrize("shards", [1, 3])
def test_build_with_a_parent_matches_in_process_lineage(tmp_path, shards):
    # v1 from early documents, in process; v2 from later ones on Beam with the
    # parent, retiring, and a max_tokens budget that cuts through ties.
    rng = random.Random(11)
    early = [{"text": " ".join(rng.choices([f"w{i}" for i in range(12)], k=8))} for _ in range(20)]
    later = [
        {"text": " ".join(rng.choices([f"w{i}" for i in range(8, 40)], k=6))} for _ in range(60)
    ]
    spec = VocabSpec(min_count=3, max_tokens=30)
    store = VocabStore(tmp_path / "store")
    parent = store.publish(
        build_vocabulary([r["text"] for r in early], spec, progress=False), "news_text"
    )
    write_shards(tmp_path / "shards", later, 3)
    feature = Feature("text", "news_text", spec, parent="news_text@latest", retire=True)
    p = pipeline()
    _ = (
        p
        | ReadRecordBatches([str(tmp_path / "shards" / "part-*")], ["text"], batch_size=7)
        | BuildVocabularies({"text": feature}, str(tmp_path / "store"), shards=shards)
    )
    run(p)
    got = store.load("news_text@v2")
    want = build_vocabulary(
        [r["text"] for r in later], spec, progress=False, parent=parent, retire=True
    )
    assert want.stats["new_tokens"] > 0 and want.retired  # the case is not trivial
    assert want.layout.num_learned == 30  # the budget binds
    assert_same_vocabulary(got, want, stats=False)
    assert got.retired == want.retired
    assert got.parent == {
        "ref": "news_text@v1",
        "fingerprint": parent.fingerprint,
        "input_dim": parent.input_dim,
    }
    start = parent.layout.reserved_start
    for id_, token in enumerate(parent.token_bytes, start=start):
        assert got.token_bytes[id_ - start] == token  # every parent row kept


def test_job_config_retire_needs_a_parent():
    from vocabguard._src.engines.jobs import JobConfig

    data = {"inputs": ["x.txt"], "features": {"text": {"retire": True}}}
    with pytest.raises(ConfigError) as info:
        JobConfig.from_dict(data, source="job.yaml", store="s")
    assert "`retire` in job.yaml features.text needs a `parent`" in str(info.value)
    data["features"]["text"]["parent"] = "news@v1"
    config = JobConfig.from_dict(data, source="job.yaml", store="s")
    assert config.features["text"].parent == "news@v1" and config.features["text"].retire


TOKENS = ["a", "b", "c", "A", "dd", "é", "[PAD]", "[UNK]", "[CLS]"]


@st.composite
def corpora(draw):
    docs = draw(
        st.lists(
            st.lists(st.sampled_from(TOKENS), max_size=6).map(" ".join), min_size=1, max_size=24
        )
    )
    categories = draw(
        st.lists(
            st.sampled_from(["x", "y", "z", "[UNK]", "[PAD]"]),
            min_size=len(docs),
            max_size=len(docs),
        )
    )
    text_spec = VocabSpec(
        lowercase=draw(st.booleans()),
        min_count=draw(st.integers(1, 3)),
        max_tokens=draw(st.none() | st.integers(1, 5)),
        num_oov_buckets=draw(st.integers(1, 3)),
        reserved_tokens=draw(st.lists(st.sampled_from(["[CLS]", "b", "zz"]), unique=True)),
    )
    category_spec = VocabSpec(
        tokenizer="none",
        min_count=draw(st.integers(1, 2)),
        max_tokens=draw(st.none() | st.integers(1, 3)),
        num_oov_buckets=draw(st.integers(1, 2)),
        reserved_tokens=draw(st.lists(st.sampled_from(["y", "w"]), unique=True)),
    )
    shards = draw(st.integers(1, 3))
    batch_size = draw(st.sampled_from([1, 3, 100]))
    return docs, categories, text_spec, category_spec, shards, batch_size


# An example with ties at both cut-offs: c and dd (2 each) for text, x, y and z for
# the category; the winners are not in the first shard.
TIED = (
    ["dd b b a a", "dd c a b c", "[CLS] [PAD] x"],
    ["z", "y", "x"],
    VocabSpec(max_tokens=3, num_oov_buckets=2, reserved_tokens=["[CLS]"]),
    VocabSpec(tokenizer="none", max_tokens=1),
    2,
    1,
)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@example(case=TIED)
@given(case=corpora())
def test_beam_and_in_process_builds_agree_on_random_corpora(tmp_path_factory, case):
    docs, categories, text_spec, category_spec, shards, batch_size = case
    tmp_path = tmp_path_factory.mktemp("property")
    records = [{"text": d, "category": c} for d, c in zip(docs, categories)]
    directory = tmp_path / "shards"
    directory.mkdir()
    size = -(-len(records) // shards)
    for index in range(shards):
        chunk = records[index * size : (index + 1) * size]
        if chunk:
            write_records(directory / f"part-{index}.jsonl", chunk, "jsonl")
    features = features_for(text=text_spec, category=category_spec)
    build_and_compare(
        tmp_path,
        records,
        features,
        "--direct_running_mode=in_memory",
        batch_size=batch_size,
    )


def test_the_tied_example_really_ties_at_the_cut_off():
    docs, categories, text_spec, category_spec, _, _ = TIED
    plain = build_vocabulary(docs, progress=False)
    learned = select_tokens(
        dict(zip(plain.token_bytes, plain.counts)), exclude=[b"[CLS]", b"[PAD]", b"[UNK]"]
    )
    assert learned[:4] == [(b"a", 3), (b"b", 3), (b"c", 2), (b"dd", 2)]  # max_tokens=3 cuts c|dd
    vocab = build_vocabulary(docs, text_spec, progress=False)
    assert vocab.tokens == ["[PAD]", "[UNK]", "[UNK]", "[CLS]", "a", "b", "c"]
    assert build_vocabulary(categories, category_spec, progress=False).tokens == [
        "[PAD]",
        "[UNK]",
        "x",
    ]


def test_two_features_may_read_one_field(tmp_path):
    records = make_records(40)
    write_shards(tmp_path / "shards", records, 2)
    features = {
        "words": Feature("text", "words", VocabSpec(lowercase=True)),
        # The records hold "": under tokenizer none a missing value, skipped here.
        "whole": Feature("text", "whole_texts", VocabSpec(tokenizer="none", missing="skip")),
    }
    expected = {key: in_process(records, f) for key, f in features.items()}
    p = pipeline()
    _ = (
        p
        | ReadRecordBatches([str(tmp_path / "shards" / "*")], ["text", "text"])
        | BuildVocabularies(features, str(tmp_path / "store"))
    )
    run(p)
    store = VocabStore(tmp_path / "store")
    assert_same_vocabulary(store.load("words"), expected["words"])
    whole = store.load("whole_texts")
    assert_same_vocabulary(whole, expected["whole"], stats=False)  # missing: per field name
    assert list(whole.stats["missing"].values()) == list(
        expected["whole"].stats["missing"].values()
    )


def test_two_features_may_not_publish_one_name(tmp_path):
    features = {
        "a": Feature("text", "same", VocabSpec()),
        "b": Feature("country", "same", VocabSpec(tokenizer="none")),
    }
    with pytest.raises(ConfigError) as info:
        BuildVocabularies(features, str(tmp_path))
    assert str(info.value) == (
        "Two features publish the vocabulary name 'same'; each feature needs its own name. "
        "Received: names=['same', 'same']"
    )


# -- bad records --

GOOD = [
    {"text": "the cat sat", "country": "fr"},
    {"text": "a dog", "country": "de"},
    {"text": "the mat", "country": "fr"},
]


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        (
            b'{"country": "fr"}',
            "line 3, field 'text': the record has no field 'text' (its fields: 'country')",
        ),
        (b'{"text": null, "country": "fr"}', "line 3, field 'text': the field is null"),
        (
            b'{"text": "ok", "country": 2.5}',
            "line 3, field 'country': expected a string or an integer, found float 2.5",
        ),
        (b'{"text": "caf\xe9", "country": "fr"}', "line 3: bytes b'\\xe9' at column 14"),
        (b'{"text": "unclosed, "country": "fr"}', "line 3: invalid JSON (Expecting ',' delimiter"),
    ],
    ids=["missing", "null", "float", "undecodable", "bad_json"],
)
def test_bad_records_fail_names_file_line_and_field(tmp_path, bad_line, expected):
    path = str(tmp_path / "news.jsonl")
    with open(path, "wb") as handle:
        handle.write(json.dumps(GOOD[0]).encode() + b"\n" + json.dumps(GOOD[1]).encode() + b"\n")
        handle.write(bad_line + b"\n" + json.dumps(GOOD[2]).encode() + b"\n")
    p = pipeline()
    _ = p | ReadRecordBatches([path], ["text", "country"], bad_records="fail")
    with pytest.raises(Exception) as info:
        run(p)
    text = str(info.value)
    assert f"{path}, {expected}" in text, text
    assert "bad_records: skip drops and counts bad records instead, for a few of them" in text
    assert f"Received: file={path!r}, record=3" in text


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"text": "fine supercalifragilistic", "country": "fr"},
            "line 2, field 'text': a token is longer than max_token_bytes=12",
        ),
        (
            {"text": 7, "country": "fr"},
            "line 2, field 'text': expected a string for tokenizer 'whitespace', found the "
            "integer 7",
        ),
    ],
    ids=["token_too_long", "integer_text"],
)
def test_bad_records_fail_in_build_vocabularies(tmp_path, record, expected):
    path = write_records(tmp_path / "news.jsonl", [GOOD[0], record, GOOD[1]], "jsonl")
    features = features_for(text=VocabSpec(max_token_bytes=12))
    p = pipeline()
    _ = p | ReadRecordBatches([path], ["text"]) | BuildVocabularies(features, str(tmp_path / "s"))
    with pytest.raises(Exception) as info:
        run(p)
    text = str(info.value)
    assert f"{path}, {expected}" in text, text
    assert "bad_records: skip drops and counts" in text and "Received: file=" in text
    assert not (tmp_path / "s").exists()  # nothing was published


def test_bad_records_skip_counts_and_builds_from_the_good_records(tmp_path):
    good_json = [
        *GOOD,
        {"text": "The Cat on the log", "country": "us"},
        {"text": "", "country": "de"},
        {"text": "short words only", "country": "fr"},
    ]
    lines = [
        json.dumps(good_json[0]).encode(),
        b'{"country": "fr"}',  # missing_field
        b'{"text": "a", "country": null}',  # missing_field
        b'{"text": "a", "country": 1.5}',  # wrong_type
        json.dumps(good_json[1]).encode(),
        b'{"text": "caf\xe9", "country": "fr"}',  # undecodable
        b'{"text": ',  # bad_json
        b'["not", "an", "object"]',  # wrong_type
        json.dumps(good_json[2]).encode(),
        b'{"text": "supercalifragilistic", "country": "fr"}',  # token_too_long
        b'{"text": 12, "country": "us"}',  # wrong_type (found by BuildVocabularies)
        json.dumps(good_json[3]).encode(),
        json.dumps(good_json[4]).encode(),
        b"{oops}",  # bad_json, the last line: its count travels in a batch of its own
    ]
    (tmp_path / "in").mkdir()
    with open(tmp_path / "in" / "a.jsonl", "wb") as handle:
        handle.write(b"\n".join(lines) + b"\n")
    pq.write_table(
        pa.table(
            {"text": [good_json[5]["text"], "x y"], "country": [good_json[5]["country"], None]}
        ),
        tmp_path / "in" / "b.parquet",
    )  # the null country: missing_field
    skipped = {
        "missing_field": 3,
        "wrong_type": 3,
        "undecodable": 1,
        "bad_json": 2,
        "token_too_long": 1,
    }
    features = features_for(
        text=VocabSpec(lowercase=True, max_token_bytes=12), country=VocabSpec(tokenizer="none")
    )
    store_root = str(tmp_path / "store")
    p = pipeline()
    _ = (
        p
        | ReadRecordBatches(
            [str(tmp_path / "in" / "*")], ["text", "country"], batch_size=2, bad_records="skip"
        )
        | BuildVocabularies(features, store_root, bad_records="skip")
    )
    totals = counters(run(p))
    assert totals["bad_records"] == sum(skipped.values()) == 10
    assert {k.split(".", 1)[1]: v for k, v in totals.items() if "." in k} == skipped
    assert totals["records_read"] == len(good_json) + 2  # two were dropped by the build step

    store = VocabStore(store_root)
    for feature in features.values():
        vocab = store.load(f"{feature.name}@v1")
        want = in_process(good_json, feature)
        assert_same_vocabulary(vocab, want, stats=False)
        assert vocab.stats.pop("bad_records_skipped") == skipped
        assert vocab.stats == want.stats
        assert vocab.manifest["stats"]["bad_records_skipped"] == skipped
        assert vocab.stats["documents"] == len(good_json)


# -- EncodeWithVocabularies --


def test_encode_with_vocabularies_gives_the_in_process_ids(tmp_path):
    records = make_records(60, seed=11)
    write_shards(tmp_path / "shards", records, 3)
    store = VocabStore(tmp_path / "store")
    # Built from part of the data, so every feature meets OOV values.
    specs = {
        "text": VocabSpec(lowercase=True, num_oov_buckets=3, max_tokens=5),
        "country": VocabSpec(tokenizer="none", num_oov_buckets=2, max_tokens=3),
        "year": VocabSpec(tokenizer="none", num_oov_buckets=2, max_tokens=2, id_dtype="int64"),
    }
    vocabs = {
        key: store.publish(
            build_vocabulary([r[key] for r in records[:20]], spec, progress=False), f"enc_{key}"
        )
        for key, spec in specs.items()
    }
    ordered = sorted(records, key=lambda r: r["id"])
    expected = {"id": [r["id"] for r in ordered], "score": [r["score"] for r in ordered]}
    oov_ids = pad_ids = 0
    for key, vocab in vocabs.items():
        values = [r[key] for r in ordered]
        ids = vocab.encode_arrow(values).to_pylist()
        encoded = vocab.encode(values)
        assert ids == (encoded.tolist() if key != "text" else [row.tolist() for row in encoded])
        expected[key] = ids
        flat = [i for row in ids for i in row] if key == "text" else ids
        oov_ids += sum(1 for i in flat if i in vocab.oov_ids)
        pad_ids += flat.count(vocab.pad_id)
    # The integer pad is an id, not a value: year 0 is a category, no value gets the pad.
    assert oov_ids > 0 and pad_ids == 0
    total_ids = sum(len(row) for row in expected["text"]) + 2 * len(records)
    passthrough = {"id": pa.int64(), "score": pa.float64()}
    schema = encoded_schema(vocabs, passthrough)
    assert schema.field("text").type == pa.list_(pa.int32())
    assert schema.field("country").type == pa.int32()
    assert schema.field("year").type == pa.int64()
    assert schema.metadata[b"vocabguard.text.fingerprint"] == vocabs["text"].fingerprint.encode()

    def matches(tables):
        table = pa.concat_tables(tables).sort_by("id")
        if table.schema != schema or table.schema.metadata != schema.metadata:
            raise BeamAssertException(f"schema {table.schema} != {schema}")
        got = {name: table.column(name).to_pylist() for name in table.column_names}
        if got != expected:
            raise BeamAssertException(f"ids differ: {got} != {expected}")

    p = pipeline()
    tables = (
        p
        | ReadRecordBatches(
            [str(tmp_path / "shards" / "*")],
            ["text", "country", "year"],
            batch_size=8,
            passthrough=["id", "score"],
        )
        | EncodeWithVocabularies(
            str(tmp_path / "store"),
            vocabs,
            {key: key for key in vocabs},
            passthrough,
        )
    )
    assert_that(tables, matches)
    totals = counters(run(p))
    assert totals["documents"] == len(records)
    assert totals["ids"] == total_ids
    assert totals["oov_ids"] == oov_ids
    assert totals["pad_ids"] == pad_ids
    assert totals["out_of_range_ids"] == 0


@pytest.mark.parametrize(("shards", "flush_rows"), [(1, 1), (3, 2), (64, 1 << 20)])
def test_memory_bounds_do_not_change_the_vocabulary(tmp_path, shards, flush_rows):
    # shards / flush_rows trade memory for shuffle volume; the answer stays exact.
    import json as _json

    import apache_beam as beam

    from vocabguard import VocabSpec, VocabStore, build_vocabulary
    from vocabguard.beam import BuildVocabularies, Feature, ReadRecordBatches

    texts = ["a b b c", "c c d e", "e e e f", "b a g", "z"] * 7
    path = tmp_path / "in.jsonl"
    path.write_text("".join(_json.dumps({"t": t}) + "\n" for t in texts), encoding="utf-8")
    spec = VocabSpec(max_tokens=4, num_oov_buckets=2)
    store = str(tmp_path / "store")
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | ReadRecordBatches([str(path)], ["t"], batch_size=3)
            | BuildVocabularies(
                {"t": Feature("t", "mem", spec)}, store, shards=shards, flush_rows=flush_rows
            )
        )
    built = VocabStore(store).load("mem")
    expected = build_vocabulary(texts, spec, progress=False)
    assert (built.fingerprint, built.counts, built.stats) == (
        expected.fingerprint,
        expected.counts,
        expected.stats,
    )


def test_memory_bounds_are_validated():
    from vocabguard.beam import BuildVocabularies, Feature
    from vocabguard.errors import ConfigError

    with pytest.raises(ConfigError, match=r"`shards` must be an integer >= 1. Received: shards=0"):
        BuildVocabularies({"t": Feature("t", "x")}, "/tmp/unused", shards=0)
