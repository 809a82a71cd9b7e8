"""Text vocabularies on Beam (issue 14): one fingerprint with the in-process build."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.engines.beam import BuildVocabularies, Feature, ReadRecordBatches
from vocabguard._src.engines.beam.build import field_rules
from vocabguard.cli.jobs import run_build, run_encode


def beam_build(tmp_path, records, features, files, batch_size, count_shards):
    """Write ``records`` as ``files`` JSONL files; run the Beam build; load each vocabulary."""
    directory = tmp_path / "shards"
    directory.mkdir(parents=True, exist_ok=True)
    size = max(1, -(-len(records) // files))
    for index in range(files):
        chunk = records[index * size : (index + 1) * size]
        if chunk:
            (directory / f"part-{index}.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in chunk), encoding="utf-8"
            )
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
            [str(directory / "part-*")],
            fields,
            batch_size=batch_size,
            rules=field_rules(features.values()),
        )
        | BuildVocabularies(features, store_root, shards=count_shards)
    )
    p.run(test_runner_api=False).wait_until_finish()
    store = VocabStore(store_root)
    return {key: store.load(f"{f.name}@latest") for key, f in features.items()}


def assert_same(got, want):
    assert got.tokens == want.tokens
    assert got.counts == want.counts
    assert got.document_counts == want.document_counts
    assert got.input_dim == want.input_dim
    assert got.fingerprint == want.fingerprint
    assert got.stats["document_rule"] == want.stats["document_rule"]
    assert got.stats["documents"] == want.stats["documents"]


WORD = st.sampled_from(["a", "b", "c", "A", "dd", "é", "the"])
RECORD = st.fixed_dictionaries(
    {
        "text": st.lists(WORD, max_size=6).map(" ".join),
        "title": st.lists(WORD, max_size=3).map(" ".join),
        "country": st.sampled_from(["fr", "de", "us"]),
        "w": st.integers(0, 3),
    }
)
DF_SPEC = st.builds(
    VocabSpec,
    lowercase=st.booleans(),
    min_count=st.integers(1, 2),
    max_tokens=st.none() | st.integers(1, 4),
    min_document_count=st.none() | st.integers(1, 3),
    max_document_fraction=st.sampled_from([0.25, 0.5, 0.9, 1.0]),
    ngrams=st.none() | st.sampled_from([2, [1, 3], [2]]),
)
# Ties at the max_tokens cut-off and a stopword ("the", in every document) to drop.
TIED = (
    [{"text": "the a b", "title": "the", "country": "fr", "w": 1}] * 2
    + [{"text": "the c dd", "title": "a", "country": "de", "w": 2}] * 2
    + [{"text": "the é", "title": "dd", "country": "fr", "w": 0}],
    VocabSpec(max_tokens=2, min_document_count=2, max_document_fraction=0.9),
    2,
    1,
    3,
)


@settings(
    max_examples=4,
    deadline=None,
    # Each example runs a pipeline; shrinking a failure would take minutes.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@example(case=TIED)
@given(
    case=st.tuples(
        st.lists(RECORD, min_size=1, max_size=25),
        DF_SPEC,
        st.integers(1, 3),  # input files
        st.sampled_from([1, 4, 100]),  # batch size
        st.integers(1, 4),  # count shards
    )
)
def test_document_rules_give_one_fingerprint_on_beam_and_in_process(tmp_path_factory, case):
    records, spec, files, batch_size, count_shards = case
    tmp_path = tmp_path_factory.mktemp("df")
    category = VocabSpec(tokenizer="none", max_document_fraction=0.5)
    features = {
        "text": Feature("text", "text", spec, allow_empty=True),
        "both": Feature(
            "text", "both", spec, allow_empty=True, fields=("text", "title"), weight_field="w"
        ),
        "country": Feature("country", "country", category, allow_empty=True),
    }
    got = beam_build(tmp_path, records, features, files, batch_size, count_shards)
    want = {
        "text": build_vocabulary([r["text"] for r in records], spec, progress=False),
        "both": build_vocabulary(
            records, spec, fields=["text", "title"], weight_field="w", progress=False
        ),
        "country": build_vocabulary([r["country"] for r in records], category, progress=False),
    }
    for key in features:
        assert_same(got[key], want[key])


def test_beam_build_and_encode_jobs_with_ngrams_match_in_process(tmp_path):
    records = [
        {"text": "the cat sat on the mat", "label": 1},
        {"text": "the cat ran", "label": 0},
        {"text": "a dog sat", "label": 1},
        {"text": "", "label": 0},
    ]
    (tmp_path / "in").mkdir()
    for index in range(2):
        (tmp_path / "in" / f"part-{index}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records[index * 2 : index * 2 + 2]),
            encoding="utf-8",
        )
    config = tmp_path / "job.yaml"
    config.write_text(
        f"inputs: [{tmp_path}/in/part-*]\nstore: {tmp_path}/store\n"
        "features:\n"
        "  text: {spec: {ngrams: [1, 2], min_document_count: 2, max_document_fraction: 0.9}}\n"
        f"encode: {{output: {tmp_path}/out, passthrough: {{label: int64}}}}\n"
    )
    run_build(["--config", str(config)])
    spec = VocabSpec(ngrams=[1, 2], min_document_count=2, max_document_fraction=0.9)
    want = build_vocabulary([r["text"] for r in records], spec, progress=False)
    vocab = VocabStore(tmp_path / "store").load("text@v1")
    assert vocab.fingerprint == want.fingerprint
    assert vocab.tokens[2:] == ["the", "cat", "sat", "the cat"]
    assert vocab.document_counts == [2, 2, 2, 2]
    summary = run_encode(["--config", str(config)])
    assert summary["out_of_range_ids"] == 0
    files = sorted(map(str, (tmp_path / "out").glob("*.parquet")))
    rows = pq.ParquetDataset(files).read().to_pylist()
    got = sorted(tuple(r["text"]) for r in rows)
    assert got == sorted(tuple(ids.tolist()) for ids in vocab.encode([r["text"] for r in records]))


def test_wordpiece_learned_from_beam_word_counts_has_the_in_process_fingerprint(tmp_path):
    texts = [
        "The cats sat on the mat, happily!",
        "The dog sat; the dogs barked at the cats.",
        "Кошки сидели на ковре.",
        "猫はマットの上に座った。",
        "",
    ] * 3
    spec = VocabSpec(tokenizer="wordpiece", vocab_size=80, lowercase=True)
    features = {"text": Feature("text", "pieces", spec)}
    records = [{"text": t} for t in texts]
    for count_shards in (1, 3):
        got = beam_build(tmp_path / str(count_shards), records, features, 2, 4, count_shards)
        want = build_vocabulary(texts, spec, progress=False)
        assert got["text"].fingerprint == want.fingerprint
        assert got["text"].tokens == want.tokens
        assert got["text"].counts == want.counts
        assert got["text"].build["builder"] == "beam"


def test_beam_jobs_with_wordpiece_encode_like_numpy_and_grow_a_lineage(tmp_path):
    records = [
        {"text": "The cats sat on the mat, happily!", "label": 1},
        {"text": "The dog sat; the dogs barked.", "label": 0},
        {"text": "Catlike dogs and doglike cats.", "label": 1},
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part-0.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    spec = "{tokenizer: wordpiece, vocab_size: 60, lowercase: true}"
    config = tmp_path / "job.yaml"
    config.write_text(
        f"inputs: [{tmp_path}/in/part-*]\nstore: {tmp_path}/store\n"
        f"features:\n  text: {{spec: {spec}}}\n"
        f"encode: {{output: {tmp_path}/out, passthrough: {{label: int64}}}}\n"
    )
    run_build(["--config", str(config)])
    store = VocabStore(tmp_path / "store")
    vocab = store.load("text@v1")
    texts = [r["text"] for r in records]
    want = build_vocabulary(
        texts, VocabSpec(tokenizer="wordpiece", vocab_size=60, lowercase=True), progress=False
    )
    assert vocab.fingerprint == want.fingerprint
    summary = run_encode(["--config", str(config)])
    assert summary["out_of_range_ids"] == 0
    files = sorted(map(str, (tmp_path / "out").glob("*.parquet")))
    rows = pq.ParquetDataset(files).read().to_pylist()
    assert sorted(tuple(r["text"]) for r in rows) == sorted(
        tuple(ids.tolist()) for ids in vocab.encode(texts)
    )
    # A second build with the first as parent keeps every piece's id.
    (tmp_path / "in" / "part-1.jsonl").write_text(
        json.dumps({"text": "Кошки сидели на ковре.", "label": 0}) + "\n", encoding="utf-8"
    )
    grown = tmp_path / "grow.yaml"
    grown.write_text(
        f"inputs: [{tmp_path}/in/part-*]\nstore: {tmp_path}/store\n"
        f"features:\n  text: {{spec: {spec}, parent: text@v1}}\n"
    )
    run_build(["--config", str(grown)])
    child = store.load("text@v2")
    assert child.tokens[: len(vocab.tokens)] == vocab.tokens
    assert child.parent["ref"] == "text@v1"
    in_process = build_vocabulary(
        [*texts, "Кошки сидели на ковре."], want.spec, parent=vocab, progress=False
    )
    assert child.fingerprint == in_process.fingerprint
