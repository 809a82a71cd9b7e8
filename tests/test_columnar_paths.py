"""The columnar paths at scale, by behaviour: the in-process job's streaming count equals
the file-by-file count and an independent one; publishing verifies from the buffers it
wrote (no reload); the order rule's fixed-width fast path is the Python rule."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core import artifact
from vocabguard._src.core.builder import MISSING_TOKEN_COUNT, with_missing_token
from vocabguard._src.core.journal import publish_together
from vocabguard._src.core.vocabulary import STRING
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
    for feature, counts in zip(engine.features, engine.counts):
        # As the vocabulary is assembled: the missing token's row (counted as stats,
        # typed as the vocabulary) added to the counted tokens.
        merged = with_missing_token(
            counts.compact(),
            feature.spec,
            next(iter(counts.kinds), STRING),
            counts.stats.get(MISSING_TOKEN_COUNT, 0),
        )
        rows = (
            {}
            if merged is None
            else dict(zip(*(merged[c].to_pylist() for c in ("token", "count"))))
        )
        tables.append(rows)
    stats = [
        {k: v for k, v in c.stats.items() if k not in ("batches", MISSING_TOKEN_COUNT)}
        for c in engine.counts
    ]
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


# Values of one byte width (1, 2, 4 or 8: grouped as integers; NULs and two-byte
# characters included) and, sometimes, a few of other widths.
WIDE = {
    1: ["a", "z", "B"],
    2: ["\u00e9", "zz", "B\0"],
    4: ["ab\0c", "z\u00e9!", "B\0\0\0"],
    8: ["ab\0cd\u00e9f", "zzzzzzzz", "B\0\0\0\0\0\0\0"],
}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    width=st.sampled_from([1, 2, 4, 8]),
    picks=st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=2, max_size=40),
    others=st.lists(st.sampled_from(["", "a", "ABC", "dd\0", "toolongvalue"]), max_size=3),
    probe=st.integers(1, 50),
)
@example(width=8, picks=[0, 1, None, 2], others=["a"], probe=1)  # 8 bytes, then 1
def test_fixed_width_count_equals_file_by_file_and_an_independent_count(
    tmp_path_factory, width, picks, others, probe
):
    """Columns of one byte width are grouped as unsigned integers; a value of another
    width after the rows that set the width (``probe``) sends the column to the string
    count. Either way: the file-by-file count and Python's."""
    strings = [None if p is None else WIDE[width][p] for p in picks] + others
    table = pa.table({"s": pa.array(strings, pa.string()), "t": pa.array(["xy"] * len(strings))})
    features = {k: FEATURES[k] for k in ("skip", "oov", "token", "strict")}
    queried = []
    real = inprocess._count_query

    def spy(scan, field, width=None):
        queried.append((field, width))
        return real(scan, field, width)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inprocess, "_WIDTH_PROBE_ROWS", probe)
        patch.setattr(inprocess, "_count_query", spy)
        fast = counted(tmp_path_factory.mktemp("fast"), table, features, at_once=True)
    slow = counted(tmp_path_factory.mktemp("slow"), table, features, at_once=False)
    assert fast == slow
    present = [s for s in strings if s]
    assert fast[0][0] == {k.encode(): v for k, v in collections.Counter(present).items()}
    assert fast[0][3] == {b"xy": len(strings)}
    assert ("t", 2) in queried  # "xy" everywhere: grouped as a 2-byte integer
    first = [s for s in strings[: len(strings) // 2][:probe] if s is not None]
    if first and len({len(s.encode()) for s in first}) == 1:
        assert ("s", len(first[0].encode())) in queried
        if len({len(s.encode()) for s in strings if s is not None}) > 1:
            assert ("s", None) in queried  # another width later: counted again as strings


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


@settings(max_examples=80, deadline=None)
@given(
    width=st.integers(0, 9),
    data=st.data(),
    start=st.integers(0, 3),
)
def test_take_tokens_and_is_in_are_arrows(width, data, start):
    """The fixed-width gather and the small-set membership give Arrow's take and is_in
    (one width or several, sliced arrays, sets of every size)."""
    import pyarrow.compute as pc

    from vocabguard._src.core.layout import is_in, take_tokens

    size = {"min_size": width, "max_size": width} if width else {"max_size": 9}
    values = data.draw(st.lists(st.binary(**size), min_size=start, max_size=30, unique=True))
    tokens = pa.array(values, pa.binary()).slice(start)
    rows = data.draw(st.lists(st.integers(0, max(len(tokens) - 1, 0)), max_size=40))
    rows = np.array(rows if len(tokens) else [], dtype=np.int64)
    assert take_tokens(tokens, rows).equals(tokens.take(pa.array(rows, pa.int64())))
    needles = pa.array(data.draw(st.lists(st.binary(max_size=9), max_size=12)), pa.binary())
    assert is_in(tokens, needles).equals(pc.is_in(tokens, value_set=needles))


def test_inspect_rows_after_verifying_read_the_version_once_and_no_token_list(
    tmp_path, capsys, monkeypatch
):
    """``inspect --token/--id/--rows`` (verifying, the default) answers from the verified
    version's columns: the same rows as the Vocabulary gives, without its token list,
    its lookup index or a second read of tokens.parquet."""
    import json

    from vocabguard import Vocabulary
    from vocabguard.cli import main
    from vocabguard.cli.store import row_table

    store = VocabStore(tmp_path)
    parent = Vocabulary.from_counts({b"a": 5, b"b": 3, b"c": 2}, VocabSpec(capacity=12))
    child = Vocabulary.from_counts(
        {b"a": 4, b"d": 9}, VocabSpec(min_count=2), parent=parent, retire=True
    )
    store.publish(parent, "v")
    child = store.load(store.publish(child, "v").ref)
    tokens, ids = ["a", "b", "d", "nope"], [0, 1, 2, 3, 4, 5, 11, 40]
    want = row_table(child, rows="2:7", tokens=tokens, ids=ids)
    assert any("retired" in row["kind"] for row in want)

    def refuse(*args, **kwargs):
        raise AssertionError("inspect built the token list, the index or read rows again")

    for name in ("tokens", "token_bytes", "lookup_keys"):
        monkeypatch.setattr(Vocabulary, name, property(refuse))
    monkeypatch.setattr(Vocabulary, "lookup_index", refuse)
    monkeypatch.setattr(artifact.VersionRows, "read", classmethod(refuse))
    argv = ["--store", str(tmp_path), "inspect", "v@v2", "--rows", "2:7", "--json"]
    for token in tokens:
        argv += ["--token", token]
    for id_ in ids:
        argv += ["--id", str(id_)]
    assert main(argv) == 0
    title, body = capsys.readouterr().out.split("\n", 1)
    assert "verified: sha256 of tokens.parquet and the manifest match" in title
    assert json.loads(body) == want
    # A corrupt version is still refused before any row is answered.
    path = tmp_path / "v" / "v2" / "tokens.parquet"
    path.write_bytes(path.read_bytes() + b"\0")
    assert main(argv) == 1
    assert "does not match the sha256" in capsys.readouterr().err


@pytest.mark.parametrize("cut", [None, 1 << 40, 3])
def test_token_index_runs_find_every_key_as_index_in_does(cut):
    """Thousands of keys (runs of several hashes in the directory, hashes cut so that
    many collide): every probe's row is ``pc.index_in``'s, batch by batch."""
    import pyarrow.compute as pc

    from vocabguard._src.core import token_index

    rng = np.random.default_rng(7)
    keys = pa.array([b"k%d" % i for i in rng.permutation(5000)] + [b"k1", b""], pa.binary())
    probes = pa.array([b"k%d" % i for i in rng.integers(-50, 6000, 3000)] + [b""], pa.binary())
    with pytest.MonkeyPatch.context() as patch:
        if cut is not None:
            real = token_index.hash64
            patch.setattr(token_index, "hash64", lambda v: real(v) % np.uint64(cut))
        index = token_index.TokenIndex(keys)
        got = np.concatenate([index.rows(probes.slice(i, 7)) for i in range(0, len(probes), 7)])
    want = pc.index_in(probes, value_set=keys).fill_null(-1).to_numpy()
    assert got.tolist() == want.tolist()
