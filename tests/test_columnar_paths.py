"""The columnar paths at scale, by behaviour: the in-process job's streaming count equals
the file-by-file count and an independent one; publishing verifies from the buffers it
wrote (no reload); the order rule's fixed-width fast path is the Python rule."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core import artifact
from vocabguard._src.core.journal import publish_together
from vocabguard._src.engines import inprocess
from vocabguard._src.engines.jobs import JobConfig

STRINGS = ["a", "B", "b", "dd", "é", "", "[MISSING]"]

FEATURES = {
    "skip": {"field": "s", "spec": {"tokenizer": "none", "missing": "skip"}},
    "oov": {"field": "s", "spec": {"tokenizer": "none", "missing": "oov"}},
    "token": {"field": "s", "spec": {"tokenizer": "none", "missing": "token", "lowercase": True}},
    "ints": {"field": "i", "spec": {"tokenizer": "none", "missing": "skip"}},
    "pair": {"fields": ["s", "t"], "spec": {"tokenizer": "none", "missing": "skip"}},
    "strict": {"field": "t", "spec": {"tokenizer": "none"}},
}


def counted(tmp_path, table: pa.Table, features: dict, *, at_once: bool):
    """``(tables, stats, records)`` of the in-process engine over ``table`` (two files)."""
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    half = len(table) // 2
    pq.write_table(table.slice(0, half), tmp_path / "in" / "a.parquet")
    pq.write_table(table.slice(half), tmp_path / "in" / "b.parquet", row_group_size=7)
    config = JobConfig.from_dict(
        {
            "inputs": [str(tmp_path / "in" / "*.parquet")],
            "store": str(tmp_path / "s"),
            "features": features,
        }
    )
    engine = inprocess._Engine(config)
    if not at_once:
        engine.count_parquet_at_once = lambda paths: False
    engine.run(list(inprocess._files(config)))
    tables = []
    for counts in engine.counts:
        merged = counts.compact()
        rows = (
            {}
            if merged is None
            else dict(zip(*(merged[c].to_pylist() for c in ("token", "count"))))
        )
        tables.append(rows)
    stats = [{k: v for k, v in c.stats.items() if k != "batches"} for c in engine.counts]
    return tables, stats, engine.records_read


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    strings=st.lists(st.one_of(st.none(), st.sampled_from(STRINGS)), min_size=2, max_size=60),
    seed=st.integers(0, 1000),
)
def test_streaming_count_equals_file_by_file_and_an_independent_count(
    tmp_path_factory, strings, seed
):
    rng = np.random.default_rng(seed)
    n = len(strings)
    ints = [None if rng.random() < 0.2 else int(rng.integers(-3, 4)) for _ in range(n)]
    other = [str(rng.choice(["x", "y", "zz"])) for _ in range(n)]  # no missing: "strict"
    table = pa.table(
        {
            "s": pa.array(strings, pa.string()),
            "i": pa.array(ints, pa.int64()),
            "t": pa.array(other, pa.string()),
        }
    )
    fast = counted(tmp_path_factory.mktemp("fast"), table, FEATURES, at_once=True)
    slow = counted(tmp_path_factory.mktemp("slow"), table, FEATURES, at_once=False)
    assert fast == slow
    tables, stats, records = fast
    assert records == n
    # Independent: Python counts of the raw values, by each feature's rule.
    present = [s for s in strings if s]
    assert tables[0] == {k.encode(): v for k, v in collections.Counter(present).items()}
    missing = n - len(present)
    lowered = collections.Counter(s.lower() for s in present)
    lowered["[MISSING]"] += missing  # appended after lowercasing, as it is
    assert tables[2] == {k.encode(): v for k, v in lowered.items() if v}
    assert tables[3] == dict(collections.Counter(i for i in ints if i is not None))
    pair = collections.Counter(present) + collections.Counter(other)
    assert tables[4] == {k.encode(): v for k, v in pair.items()}
    assert stats[0]["missing.s"] == stats[1]["missing.s"] == missing
    assert stats[1]["total_tokens"] == n and stats[0]["total_tokens"] == len(present)


def test_the_streaming_count_is_taken_for_plain_parquet_and_not_for_bad_records(tmp_path):
    table = pa.table({"s": ["a", "b", None, "a"], "t": ["x", "y", "x", "x"]})
    features = {"skip": FEATURES["skip"], "strict": FEATURES["strict"]}
    taken = []
    original = inprocess._Engine.count_parquet_at_once

    def spy(self, paths):
        taken.append(original(self, paths))
        return taken[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inprocess._Engine, "count_parquet_at_once", spy)
        tables, _, _ = counted(tmp_path / "plain", table, features, at_once=True)
        assert taken == [True] and tables[1] == {b"x": 3, b"y": 1}
        # A null where missing values are errors is a bad record: the file-by-file path
        # (and its error naming file, record and field) decides.
        bad = table.set_column(1, "t", pa.array(["x", None, "x", "x"]))
        with pytest.raises(Exception, match=r"record \d+, field 't'"):
            counted(tmp_path / "bad", bad, features, at_once=True)
        assert taken == [True, False]


def test_publish_verifies_from_its_buffers_without_reloading(tmp_path, monkeypatch):
    vocab = build_vocabulary(["a b b c", "c c d"], VocabSpec(), progress=False)
    other = build_vocabulary(["x y y"], VocabSpec(), progress=False)
    store = VocabStore(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("publishing read back and reparsed what it wrote")

    with monkeypatch.context() as patch:
        patch.setattr(artifact, "load_version", refuse)
        patch.setattr(VocabStore, "load", refuse)
        published = store.publish(vocab, "one")
        together = publish_together(store, [("a", "two", vocab), ("b", "three", other)])
    for result in (published, *together):
        loaded = store.load(result.ref)
        assert result.newly_published is True
        assert result.manifest == loaded.manifest
        assert result.fingerprint == loaded.fingerprint
        assert result.tokens == loaded.tokens and result.counts == loaded.counts
        assert (result.stats, result.build) == (loaded.stats, loaded.build)


def test_a_cut_write_is_an_error_naming_the_file(tmp_path, monkeypatch):
    store = VocabStore(tmp_path)
    vocab = build_vocabulary(["a b"], VocabSpec(), progress=False)
    write = VocabStore._write

    def short(self, path, data):
        write(self, path, data[:-1] if path.endswith("vocab.txt") else data)

    monkeypatch.setattr(VocabStore, "_write", short)
    with pytest.raises(artifact.ArtifactError, match=r"v1/vocab.txt has \d+ bytes right after"):
        store.publish(vocab, "cut")
    monkeypatch.undo()
    assert store.versions("cut") == []


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.binary(min_size=8, max_size=8), st.integers(1, 3), max_size=50),
    st.booleans(),
)
def test_rule_order_of_fixed_width_tokens_is_the_python_rule(counts, descending):
    """8-byte tokens (hashed ids, hex keys) take the one-view sort key path."""
    from vocabguard._src.core.layout import rule_order

    tokens = list(counts)
    order = rule_order(
        pa.array(tokens, pa.binary()), np.array(list(counts.values())), descending=descending
    )
    got = [tokens[i] for i in order]
    want = sorted(tokens, reverse=descending)
    assert got == sorted(want, key=lambda t: -counts[t])
