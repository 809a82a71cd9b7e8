"""The in-process job runner (``vocabguard build --config job.yaml --runner inprocess``):
many features in one pass over the files, without Beam, with the Beam build's tokens,
ids, counts and fingerprints (columnar Parquet path and record-by-record path)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabStore
from vocabguard._src.engines import inprocess
from vocabguard.cli import jobs
from vocabguard.errors import ConfigError, InputDataError

CLI = "import sys; from vocabguard.cli import main; sys.exit(main(sys.argv[1:]))"
STRINGS = ["a", "b", "c", "dd", "é", ""]


def table(rows: int, seed: int = 0) -> pa.Table:
    """Strings with nulls and empties, integers with nulls, two fields sharing a vocabulary."""
    import random

    rng = random.Random(seed)

    def pick(values, null=0.1):
        return [None if rng.random() < null else rng.choice(values) for _ in range(rows)]

    return pa.table(
        {
            "s": pa.array(pick(STRINGS), pa.string()),
            "full": pa.array([rng.choice("xyz") for _ in range(rows)], pa.string()),
            "i": pa.array(pick([1, 2, 3, 40, -5]), pa.int64()),
            "hist": pa.array(pick(["a", "b", "q"]), pa.string()),
            "tgt": pa.array(pick(["a", "q", "r"]), pa.string()),
            "text": pa.array([rng.choice(["to be", "or not", "to"]) for _ in range(rows)]),
        }
    )


FEATURES = {
    "s_skip": {"field": "s", "name": "s_skip", "spec": {"tokenizer": "none", "missing": "skip"}},
    "s_oov": {"field": "s", "name": "s_oov", "spec": {"tokenizer": "none", "missing": "oov"}},
    "s_token": {
        "field": "s",
        "name": "s_token",
        "spec": {"tokenizer": "none", "missing": "token", "lowercase": True},
    },
    "full": {"field": "full", "name": "full", "spec": {"tokenizer": "none", "max_tokens": 2}},
    "i": {
        "field": "i",
        "name": "ints",
        "spec": {"tokenizer": "none", "missing": "skip", "min_count": 2},
    },
    "pair": {
        "fields": ["hist", "tgt"],
        "name": "pair",
        "spec": {"tokenizer": "none", "missing": "skip", "pad_to_multiple_of": 8},
    },
}


def write_job(tmp_path, inputs, features, *, store, **extra) -> str:
    config = {"inputs": inputs, "store": str(store), "features": features, **extra}
    path = tmp_path / f"job-{store.name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def build_both(tmp_path, inputs, features, **extra):
    """(Beam results, in-process results) and the two stores, same config."""
    beam_job = write_job(tmp_path, inputs, features, store=tmp_path / "beam", **extra)
    local_job = write_job(tmp_path, inputs, features, store=tmp_path / "local", **extra)
    beam = jobs.run_build(["--config", beam_job])
    local = jobs.run_build_inprocess(["--config", local_job])
    return beam, local, VocabStore(tmp_path / "beam"), VocabStore(tmp_path / "local")


def assert_same(beam, local, beam_store, local_store):
    assert [r["feature"] for r in local] == [r["feature"] for r in beam]
    for b, lo in zip(beam, local):
        assert lo["fingerprint"] == b["fingerprint"], b["feature"]
        assert lo["input_dim"] == b["input_dim"]
        want, got = beam_store.load(b["ref"]), local_store.load(lo["ref"])
        assert got.tokens == want.tokens and got.counts == want.counts
        for key in ("documents", "total_tokens", "distinct_tokens", "missing"):
            assert got.stats.get(key) == want.stats.get(key), (b["feature"], key)
        assert got.build["builder"] == "inprocess"


def test_parquet_columnar_matches_beam(tmp_path, monkeypatch):
    # Small batches and compactions: many partial tables merged, as at scale.
    monkeypatch.setattr(inprocess, "ARROW_BATCH_ROWS", 37)
    monkeypatch.setattr(inprocess, "COMPACT_ROWS", 5)
    data = table(400)
    (tmp_path / "in").mkdir()
    pq.write_table(data.slice(0, 150), tmp_path / "in" / "a.parquet")
    pq.write_table(data.slice(150), tmp_path / "in" / "b.parquet", row_group_size=50)
    beam, local, beam_store, local_store = build_both(
        tmp_path, [str(tmp_path / "in" / "*.parquet")], FEATURES
    )
    assert_same(beam, local, beam_store, local_store)
    # The missing policies were exercised: nulls and empty strings are missing values.
    s_skip = local_store.load("s_skip@latest")
    assert s_skip.stats["missing"]["s"] == sum(1 for v in data["s"].to_pylist() if not v)
    assert local_store.load("s_token@latest").tokens[2] == "[MISSING]"


def test_columnar_counting_needs_no_beam(tmp_path):
    pq.write_table(table(50), tmp_path / "t.parquet")
    job = write_job(tmp_path, [str(tmp_path / "t.parquet")], FEATURES, store=tmp_path / "s")
    code = (
        "import sys; from vocabguard.cli import jobs; "
        f"r = jobs.run_build_inprocess(['--config', {job!r}]); "
        "print(len(r), 'apache_beam' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(FEATURES)), "False"]


def test_records_path_matches_beam_jsonl_and_text_features(tmp_path):
    """JSONL input and a text feature: the record-by-record path (Beam's counting step)."""
    data = table(120, seed=3).to_pylist()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in data), encoding="utf-8"
    )
    pq.write_table(table(80, seed=4), tmp_path / "in" / "t.parquet")
    features = {
        **FEATURES,
        "text": {"field": "text", "name": "text", "spec": {"lowercase": True}},
    }
    inputs = [str(tmp_path / "in" / "r.jsonl"), str(tmp_path / "in" / "t.parquet")]
    assert_same(*build_both(tmp_path, inputs, features))


def test_bad_records_skipped_and_counted_as_on_beam(tmp_path):
    # "full" has no missing policy: its nulls are bad records, dropped for every feature.
    data = table(200, seed=5)
    full = data["full"].to_pylist()
    full[3] = full[77] = None
    data = data.set_column(1, "full", pa.array(full, pa.string()))
    pq.write_table(data, tmp_path / "t.parquet")
    features = {k: FEATURES[k] for k in ("s_skip", "full", "i")}
    beam, local, beam_store, local_store = build_both(
        tmp_path, [str(tmp_path / "t.parquet")], features, bad_records="skip"
    )
    assert_same(beam, local, beam_store, local_store)
    got = local_store.load("full@latest").stats
    assert got["bad_records_skipped"] == {"missing_field": 2}
    assert got["documents"] == 198
    # Under bad_records: fail, the first one is an error naming file, record and field.
    job = write_job(tmp_path, [str(tmp_path / "t.parquet")], features, store=tmp_path / "f")
    with pytest.raises(InputDataError, match=r"t\.parquet, record 4, field 'full'"):
        jobs.run_build_inprocess(["--config", job])
    assert not (tmp_path / "f").exists() or not VocabStore(tmp_path / "f").names()


def test_mixed_kinds_and_beam_options_are_errors(tmp_path):
    pq.write_table(pa.table({"v": pa.array([1, 2], pa.int64())}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"v": ["x", "y"]}), tmp_path / "b.parquet")
    features = {"v": {"spec": {"tokenizer": "none"}}}
    job = write_job(tmp_path, [str(tmp_path / "*.parquet")], features, store=tmp_path / "s")
    with pytest.raises(InputDataError, match="both integer and string values"):
        jobs.run_build_inprocess(["--config", job])
    with pytest.raises(ConfigError, match="takes no Beam pipeline options") as info:
        jobs.run_build_inprocess(["--config", job, "--direct_num_workers", "2"])
    assert str(info.value).endswith("Received: options=['--direct_num_workers', '2']")


def test_cli_runner_inprocess(tmp_path):
    pq.write_table(table(60), tmp_path / "t.parquet")
    features = {k: FEATURES[k] for k in ("s_skip", "i")}
    job = write_job(tmp_path, [str(tmp_path / "t.parquet")], features, store=tmp_path / "s")
    out = subprocess.run(
        [sys.executable, "-c", CLI, "build", "--config", job, "--runner", "inprocess"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == ["ints@v1", "s_skip@v1"]
    assert "published s_skip@v1 for feature s_skip" in out.stderr


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from(STRINGS)), min_size=1, max_size=40),
    batch=st.integers(1, 9),
)
def test_property_columnar_equals_beam(tmp_path_factory, values, batch):
    tmp_path = tmp_path_factory.mktemp("prop")
    inprocess_rows = inprocess.ARROW_BATCH_ROWS
    inprocess.ARROW_BATCH_ROWS = batch
    try:
        pq.write_table(pa.table({"s": pa.array(values, pa.string())}), tmp_path / "t.parquet")
        features = {k: {**FEATURES[k], "allow_empty": True} for k in ("s_skip", "s_oov", "s_token")}
        assert_same(*build_both(tmp_path, [str(tmp_path / "t.parquet")], features))
    finally:
        inprocess.ARROW_BATCH_ROWS = inprocess_rows


def test_record_path_without_beam_names_the_extra(tmp_path):
    """Without Beam, Parquet categorical columns still build; a JSONL input (the
    record-by-record path) is one MissingExtraError naming the `beam` extra."""
    pq.write_table(table(20), tmp_path / "t.parquet")
    (tmp_path / "r.jsonl").write_text('{"s": "a", "i": 1}\n', encoding="utf-8")
    features = {k: FEATURES[k] for k in ("s_skip", "i")}
    ok = write_job(tmp_path, [str(tmp_path / "t.parquet")], features, store=tmp_path / "a")
    bad = write_job(tmp_path, [str(tmp_path / "r.jsonl")], features, store=tmp_path / "b")
    code = (
        "import sys; sys.modules['apache_beam'] = None\n"
        "from vocabguard.cli import jobs\n"
        f"print(len(jobs.run_build_inprocess(['--config', {ok!r}])))\n"
        "try:\n"
        f"    jobs.run_build_inprocess(['--config', {bad!r}])\n"
        "except Exception as err:\n"
        "    print(type(err).__name__, err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.splitlines()
    assert first == "2"
    assert second.startswith("MissingExtraError The in-process runner's record-by-record path")
    assert "pip install 'vocabguard[beam]'" in second
