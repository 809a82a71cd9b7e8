"""The Beam build stays Arrow end to end: Parquet batches read and counted as Arrow
columns (no Python value per record unless a record breaks a rule), shard splits, shard
summaries, the combiner's merges and the exact top-k are Arrow tables (pickled as Arrow
IPC), and the default number of token shards follows the input's size."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec
from vocabguard._src.core.builder import candidate_table
from vocabguard._src.engines.beam.build import (
    MAX_SHARDS,
    SHARDS,
    Feature,
    _best_cut,
    _Candidates,
    _MergeSummaries,
    _Partial,
    _Spill,
    _summarize_shard,
    default_shards,
    shard_ids,
    split_by_shard,
)
from vocabguard._src.engines.jobs import JobConfig

TOKENS = st.lists(st.binary(max_size=6), unique=True, max_size=60)


@settings(deadline=None)  # no timing: a loaded machine must not fail it
@given(tokens=TOKENS, shards=st.integers(1, 9))
def test_split_by_shard_partitions_the_table(tokens, shards):
    table = pa.table(
        {"token": pa.array(tokens, pa.binary()), "count": pa.array(range(len(tokens)), pa.int64())}
    )
    parts = list(split_by_shard(table, shards))
    assert parts[0][0] == 0  # shard 0 always comes (it carries the batch's stats)
    seen = []
    for shard, part in parts:
        assert set(shard_ids(part["token"], shards).tolist()) <= {shard}
        seen += part["token"].to_pylist()
    assert sorted(seen) == sorted(tokens)
    assert len(parts) == len({*shard_ids(table["token"], shards).tolist(), 0})


@settings(deadline=None)  # no timing: a loaded machine must not fail it
@given(
    tokens=st.lists(st.binary(max_size=12), min_size=1, max_size=40),
    width=st.integers(1, 9),
    shards=st.integers(1, 9),
)
def test_a_tokens_shard_does_not_depend_on_its_neighbours(tokens, width, shards):
    """Each process shards its own batches: a token's shard is a function of the token
    alone, whether its array holds tokens of one length (a fast path) or of many."""
    same_length = [t.ljust(width, b"x")[:width] for t in tokens]
    for array in (tokens, same_length):
        alone = [int(shard_ids(pa.array([t], pa.binary()), shards)[0]) for t in array]
        assert shard_ids(pa.array(array, pa.binary()), shards).tolist() == alone
        sliced = pa.array([b"pad", *array], pa.binary()).slice(1)  # an offset into buffers
        assert shard_ids(sliced, shards).tolist() == alone


@settings(deadline=None)  # no timing: a loaded machine must not fail it
@given(
    counts=st.dictionaries(st.binary(min_size=1, max_size=4), st.integers(1, 9), max_size=80),
    shards=st.integers(1, 5),
    max_tokens=st.one_of(st.none(), st.integers(1, 12)),
)
def test_merged_summaries_are_the_exact_top_k_in_arrow(counts, shards, max_tokens):
    """Shard summaries merged in any order give candidate_table over all the counts."""
    spec = VocabSpec(tokenizer="none", max_tokens=max_tokens)
    feature = Feature("v", "v", spec)
    table = pa.table(
        {
            "token": pa.array(list(counts), pa.binary()),
            "count": pa.array(list(counts.values()), pa.int64()),
        }
    )
    combine = _MergeSummaries([feature], [()])
    acc = combine.create_accumulator()
    for shard, part in split_by_shard(table, shards):
        _, summary = _summarize_shard(((0, shard), _Partial(part, {"records": 1})), [feature], [()])
        summary = pickle.loads(pickle.dumps(summary))  # as after a shuffle
        acc = combine.add_input(acc, (0, summary))
    _, merged = combine.extract_output(acc)
    assert isinstance(merged["counts"], _Candidates)
    got = merged["counts"].table
    want = candidate_table(table, spec, "string")
    as_dict = dict(zip(got["token"].to_pylist(), got["count"].to_pylist())) if got else {}
    assert as_dict == dict(zip(want["token"].to_pylist(), want["count"].to_pylist()))
    assert merged["distinct"] == len(counts)
    assert merged["counted_tokens"] == sum(counts.values())


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    counts=st.dictionaries(st.binary(min_size=1, max_size=4), st.integers(1, 9), max_size=80),
    shards=st.integers(1, 6),
    max_tokens=st.one_of(st.none(), st.integers(1, 12)),
    order=st.randoms(use_true_random=False),
)
def test_spilled_shard_candidates_give_the_unsharded_selection(
    tmp_path, counts, shards, max_tokens, order
):
    """Each shard's candidates staged as a file (only its name crosses the shuffle),
    merged in any order and read back one file at a time by the stage step, give
    exactly candidate_table over all the counts; the files live under the job's staging
    directory, which discard_staged deletes."""
    import uuid

    from vocabguard import VocabStore
    from vocabguard._src.core.journal import discard_staged, staging_dir

    store = VocabStore(tmp_path / f"s{uuid.uuid4().hex}")
    store.fs.create_dir(store._base, recursive=True)
    staging = uuid.uuid4().hex
    spill = _Spill(str(store.root), staging)
    spec = VocabSpec(tokenizer="none", max_tokens=max_tokens)
    feature = Feature("v", "v", spec)
    table = pa.table(
        {
            "token": pa.array(list(counts), pa.binary()),
            "count": pa.array(list(counts.values()), pa.int64()),
        }
    )
    summaries = []
    for shard, part in split_by_shard(table, shards):
        partial = _Partial(part, {"records": 1})
        _, summary = _summarize_shard(((0, shard), partial), [feature], [()], spill=spill)
        assert summary["counts"].table is None  # spilled: nothing but names in memory
        summaries.append(pickle.loads(pickle.dumps(summary)))  # as after a shuffle
    order.shuffle(summaries)
    combine = _MergeSummaries([feature], [()])
    acc = combine.create_accumulator()
    for summary in summaries:
        acc = combine.add_input(acc, (0, summary))
    _, merged = combine.extract_output(acc)
    candidates = merged["counts"]
    assert len(candidates.files) == sum(1 for s in summaries if len(s["counts"]))
    got = candidates.load(store.fs, _best_cut(spec, merged["kinds"], (), 1))
    want = candidate_table(table, spec, "string")
    as_dict = dict(zip(got["token"].to_pylist(), got["count"].to_pylist())) if got else {}
    assert as_dict == dict(zip(want["token"].to_pylist(), want["count"].to_pylist()))
    assert merged["distinct"] == len(counts)
    discard_staged(store, staging)
    assert not store._exists(staging_dir(store, staging))


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.dictionaries(st.binary(min_size=1, max_size=3), st.integers(1, 9), max_size=30),
        max_size=12,
    ),
    bundles=st.integers(1, 3),
)
def test_spilling_accumulators_merge_to_the_same_counts(tmp_path, monkeypatch, batches, bundles):
    """An accumulator that spills its runs to the staging directory (thresholds made
    tiny here), pickled as file names across the shuffle and merged, gives exactly
    the counts of the in-memory merge, and its stats."""
    import uuid

    from vocabguard._src.engines.beam import build

    monkeypatch.setattr(build, "SPILL_ROWS", 4)
    monkeypatch.setattr(build, "SPILL_PENDING_ROWS", 3)
    monkeypatch.setattr(build, "SPILL_PICKLE_ROWS", 2)
    (tmp_path / "store").mkdir(exist_ok=True)
    spill = _Spill(str(tmp_path / "store"), uuid.uuid4().hex)
    elements = [
        _Partial(
            pa.table({"token": pa.array(list(b), pa.binary()), "count": list(b.values())}),
            {"records": 1},
        )
        for b in batches
    ]
    combine = build._MergeCounts(spill)
    accumulators = []
    for bundle in range(bundles):  # each bundle's accumulator crosses the shuffle pickled
        acc = combine.create_accumulator()
        for element in elements[bundle::bundles]:
            acc = combine.add_input(acc, element)
        accumulators.append(pickle.loads(pickle.dumps(acc)))
    merged = combine.extract_output(combine.merge_accumulators(accumulators))
    want: dict[bytes, int] = {}
    for b in batches:
        for token, n in b.items():
            want[token] = want.get(token, 0) + n
    got = merged.table
    assert (dict(zip(got["token"].to_pylist(), got["count"].to_pylist())) if got else {}) == want
    assert merged.stats == ({"records": len(batches)} if batches else {})


def test_a_lost_spilled_shard_is_an_error_naming_its_file(tmp_path):
    import uuid

    from vocabguard import VocabStore
    from vocabguard._src.core.errors import StoreError

    store = VocabStore(tmp_path)
    spill = _Spill(str(tmp_path), uuid.uuid4().hex)
    table = pa.table({"token": pa.array([b"a", b"b"]), "count": pa.array([3, 1])})
    candidates = spill.write(table, "candidates.0.0")
    assert candidates.load(store.fs).equals(table)
    (path,) = candidates.files
    store.fs.delete_file(path)
    try:
        candidates.load(store.fs)
    except StoreError as err:
        message = str(err)
    else:
        raise AssertionError("a lost staged file must not be read as no candidates")
    assert "nothing was published. Rerun the job." in message
    assert message.endswith(f"Received: path={path!r}")


def test_candidates_pickle_as_arrow_ipc_empty_or_not():
    table = pa.table({"token": pa.array([b"a", b"b"]), "count": pa.array([3, 1])})
    back = pickle.loads(pickle.dumps(_Candidates(table)))
    assert back.table.equals(table)
    empty = pickle.loads(pickle.dumps(_Candidates()))
    assert empty.table is None and len(empty) == 0


def test_default_shards_follow_the_input_size():
    assert default_shards(0) == default_shards(512 << 20) == SHARDS
    assert default_shards(4 << 30) == 64  # 64 MiB of input per shard
    assert default_shards(1 << 50) == MAX_SHARDS
    sizes = np.array([default_shards(n << 20) for n in range(0, 10_000, 97)])
    assert (np.diff(sizes) >= 0).all()
    config = {"inputs": ["x.txt"], "features": {"t": {}}}
    assert JobConfig.from_dict(config).shards is None  # chosen from the inputs' size
    assert JobConfig.from_dict({**config, "shards": 3}).shards == 3


# -- Parquet read and counted as Arrow columns --

VALUES = st.one_of(st.none(), st.sampled_from(["a", "b", "B", "c", "é", ""]))


def _beam_build(paths, features, store, *, arrow=True, shards=SHARDS, bad_records="fail"):
    """ReadRecordBatches | BuildVocabularies on the DirectRunner; the published vocabularies."""
    import apache_beam as beam

    from vocabguard import VocabStore
    from vocabguard._src.engines.beam.build import BuildVocabularies, field_rules
    from vocabguard._src.engines.beam.read import ReadRecordBatches

    fields = sorted({f for feature in features.values() for f in feature.all_fields})
    with beam.Pipeline() as p:
        _ = (
            p
            | ReadRecordBatches(
                paths,
                fields,
                rules=field_rules(features.values()),
                arrow=arrow,
                bad_records=bad_records,
            )
            | BuildVocabularies(features, str(store), shards=shards, bad_records=bad_records)
        )
    return {key: VocabStore(store).load(f"{f.name}@latest") for key, f in features.items()}


def _same(got, want):
    assert (got.tokens, got.counts, got.input_dim, got.fingerprint) == (
        want.tokens,
        want.counts,
        want.input_dim,
        want.fingerprint,
    )
    assert got.stats == want.stats


def test_parquet_batches_arrive_as_arrow_columns(tmp_path):
    import apache_beam as beam
    import pyarrow.parquet as pq
    from apache_beam.testing.util import assert_that, equal_to

    from vocabguard._src.engines.beam.read import ReadRecordBatches
    from vocabguard._src.engines.formats.fields import FieldRules

    table = pa.table({"s": ["x", None, "y", "x"], "i": pa.array([1, 2, 3, 4], pa.int32())})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=3)
    rules = FieldRules(missing=frozenset({"s"}))
    with beam.Pipeline() as p:
        batches = p | ReadRecordBatches([str(tmp_path / "t.parquet")], ["s", "i"], rules=rules)
        shapes = batches | beam.Map(
            lambda b: (b.arrow is not None, list(b.numbers), b.columns["s"], b.columns["i"])
        )
        # One Arrow batch (at least ARROW_BATCH_ROWS rows, not batch_size), numbered
        # as records, its Python lists made from the Arrow columns when asked.
        assert_that(shapes, equal_to([(True, [1, 2, 3, 4], ["x", None, "y", "x"], [1, 2, 3, 4])]))


def test_a_bad_record_sends_its_batch_record_by_record(tmp_path):
    """A null where the field is required: the batch is read record by record, so the
    bad record is named (fail) or skipped and counted (skip) as before."""
    import pyarrow.parquet as pq
    import pytest

    from vocabguard import VocabSpec, build_vocabulary
    from vocabguard.errors import InputDataError

    values = ["a", "b", None, "a", "c"]
    pq.write_table(pa.table({"s": values}), tmp_path / "t.parquet")
    features = {"s": Feature("s", "s", VocabSpec(tokenizer="none"), max_bad_fraction=0.5)}
    with pytest.raises(InputDataError, match=r"t\.parquet, record 3, field 's'"):
        _beam_build([str(tmp_path / "t.parquet")], features, tmp_path / "f")
    got = _beam_build([str(tmp_path / "t.parquet")], features, tmp_path / "s", bad_records="skip")
    assert got["s"].stats["bad_records_skipped"] == {"missing_field": 1}
    assert got["s"].tokens[-3:] == ["a", "b", "c"]
    assert (
        got["s"].counts
        == build_vocabulary(
            [v for v in values if v], VocabSpec(tokenizer="none"), progress=False
        ).counts
    )


def test_arrow_counting_builds_no_python_value_per_record():
    from vocabguard import VocabSpec
    from vocabguard._src.engines.beam.build import _CountTokens
    from vocabguard._src.engines.beam.read import RecordBatch

    batch = RecordBatch.from_arrow("t.parquet", 1, pa.record_batch({"s": ["a", None, "b", "a"]}))
    counter = _CountTokens([Feature("s", "s", VocabSpec(tokenizer="none", missing="skip"))], "fail")
    counter.setup()
    out = list(counter.process(batch))
    assert batch.columns._lists == {}  # no column was made into a Python list
    (key, partial), *_ = out
    assert key == (0, 0) and partial.stats["documents"] == 4 and partial.stats["missing.s"] == 1
    counts = {}
    for _, part in out:
        if part.table is not None:
            counts.update(zip(part.table["token"].to_pylist(), part.table["count"].to_pylist()))
    assert counts == {b"a": 2, b"b": 1}


FEATURE_SPECS = {
    "skip": {"tokenizer": "none", "missing": "skip"},
    "oov": {"tokenizer": "none", "missing": "oov", "max_tokens": 2},
    "token": {"tokenizer": "none", "missing": "token", "lowercase": True},
    "error": {"tokenizer": "none"},
}


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(VALUES, min_size=1, max_size=40),
    ints=st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=40, max_size=40),
    rows=st.integers(1, 9),
    shards=st.integers(1, 5),
    dictionary=st.booleans(),
    which=st.sampled_from(sorted(FEATURE_SPECS)),
)
# An int column whose only row is null under missing: token: the missing token was
# typed from the Arrow column (an integer) on one path and as a string on the other.
@example(values=["a"], ints=[None] * 40, rows=1, shards=1, dictionary=False, which="token").via(
    "discovered failure"
)
def test_property_arrow_path_equals_record_path(
    tmp_path_factory, monkeypatch, values, ints, rows, shards, dictionary, which
):
    """Parquet counted as Arrow columns publishes what the record-by-record path does
    (tokens, ids, counts, stats, fingerprints), for any batch size, sharding, missing
    policy, integer or string column, dictionary-encoded or not."""
    import pyarrow.parquet as pq

    from vocabguard import VocabSpec
    from vocabguard._src.engines.beam import read

    tmp_path = tmp_path_factory.mktemp("arrow")
    monkeypatch.setattr(read, "ARROW_BATCH_ROWS", rows)
    strings = pa.array(values, pa.string())
    table = pa.table(
        {
            "s": strings.dictionary_encode() if dictionary else strings,
            "i": pa.array(ints[: len(values)], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=max(1, rows // 2))
    spec = VocabSpec(**FEATURE_SPECS[which])
    features = {
        field: Feature(field, field, spec, allow_empty=True, max_bad_fraction=1.0)
        for field in ("s", "i")
    }
    paths = [str(tmp_path / "t.parquet")]
    arrow = _beam_build(paths, features, tmp_path / "a", shards=shards, bad_records="skip")
    records = _beam_build(paths, features, tmp_path / "r", arrow=False, bad_records="skip")
    for key in features:
        _same(arrow[key], records[key])


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    counts=st.lists(st.integers(1, 4), min_size=1, max_size=30),
    files=st.integers(1, 3),
    shards=st.integers(1, 7),
    max_tokens=st.one_of(st.none(), st.integers(1, 10)),
    spill=st.booleans(),
)
def test_property_sharding_does_not_change_the_vocabulary(
    tmp_path_factory, counts, files, shards, max_tokens, spill
):
    """Many tokens with tied counts, split over files and token shards: the Beam build
    (Arrow shard summaries, merges and top-k) equals the in-process build exactly,
    also when every partial count is spilled to the staging directory (tiny
    thresholds), which is deleted once the job publishes."""
    import pyarrow.parquet as pq
    import pytest

    from vocabguard import VocabSpec, build_vocabulary
    from vocabguard._src.engines.beam import build

    tmp_path = tmp_path_factory.mktemp("shards")
    values = [f"t{i:02d}" for i, n in enumerate(counts) for _ in range(n)]
    values = values[1::2] + values[::2]  # tokens spread over files and batches
    step = -(-len(values) // files)
    paths = []
    for f in range(files):
        part = values[f * step : (f + 1) * step]
        pq.write_table(pa.table({"v": pa.array(part, pa.string())}), tmp_path / f"{f}.parquet")
        paths.append(str(tmp_path / f"{f}.parquet"))
    spec = VocabSpec(tokenizer="none", max_tokens=max_tokens)
    features = {"v": Feature("v", "v", spec, allow_empty=True)}
    with pytest.MonkeyPatch.context() as patch:
        if spill:  # the DirectRunner runs in this process: the module's thresholds apply
            patch.setattr(build, "SPILL_ROWS", 2)
            patch.setattr(build, "SPILL_PENDING_ROWS", 1)
            patch.setattr(build, "SPILL_PICKLE_ROWS", 1)
        got = _beam_build(paths, features, tmp_path / "s", shards=shards)["v"]
    _same(got, build_vocabulary(values, spec, progress=False))
    assert not list((tmp_path / "s" / ".jobs").glob("*.staged"))
