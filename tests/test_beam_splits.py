"""One large file read by several workers, and the Beam build's own invariants.

A file splits into byte ranges (text, jsonl, csv) or row groups (Parquet); a
record straddling a boundary is read exactly once, so any split size gives the
fingerprint of whole-file reading. Before publishing, the build checks that the
counting step saw every record the reader produced, that documents + skipped =
records read, and that inputs holding records give a non-empty vocabulary.
"""

from __future__ import annotations

import io
import json
import os
import random
import typing

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.engines.beam.build import Feature, check_build, shard_ids
from vocabguard._src.engines.beam.read import Split, _read_range, plan_splits
from vocabguard.beam import ReadRecordBatches
from vocabguard.cli import main
from vocabguard.cli.jobs import run_build
from vocabguard.errors import InputDataError

WORDS = ["alpha", "beta", "gamma", "delta", "épée", "日本", "x", "yy"]
TWO_WORKERS = ["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"]


def lines(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 9))) for _ in range(n)]


def write_jsonl(path, texts) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
    return str(path)


def job(tmp_path, inputs, **extra) -> str:
    config = {
        "store": str(tmp_path / "store"),
        "inputs": list(inputs),
        "batch_size": 7,
        "features": {"text": {"field": "text", "name": "words", "spec": {"lowercase": True}}},
        **extra,
    }
    path = tmp_path / f"job-{len(os.listdir(tmp_path))}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


# -- byte ranges --


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet='ab \né,"', max_size=12), min_size=0, max_size=30),
    split=st.integers(min_value=1, max_value=40),
)
def test_byte_ranges_read_every_line_exactly_once(texts, split):
    data = "".join(t.replace("\n", " ") + "\n" for t in texts).encode("utf-8")
    pieces = []
    for start in range(0, max(len(data), 1), split):
        part = Split("f.txt", "text", start, min(start + split, len(data)))
        pieces.append(_read_range(io.BytesIO(data), part).getvalue())
    assert b"".join(pieces) == data


def test_a_file_without_a_final_newline_keeps_its_last_record():
    data = b"one\ntwo\nthree"
    pieces = [
        _read_range(io.BytesIO(data), Split("f.txt", "text", s, min(s + 4, len(data)))).getvalue()
        for s in range(0, len(data), 4)
    ]
    assert pieces == [b"one\n", b"two\n", b"three", b""]


def test_csv_splits_repeat_the_header():
    data = b"text,label\na b,1\nc d,0\ne f,1\n"
    second = _read_range(io.BytesIO(data), Split("f.csv", "csv", 15, len(data))).getvalue()
    assert second == b"text,label\nc d,0\ne f,1\n"


def test_plan_splits_cuts_large_files_and_keeps_small_and_compressed_whole(tmp_path):
    big = write_jsonl(tmp_path / "big.jsonl", lines(400))
    small = write_jsonl(tmp_path / "small.jsonl", lines(3))
    (tmp_path / "c.jsonl.gz").write_bytes(__import__("gzip").compress(b'{"text": "a"}\n' * 500))
    size = os.path.getsize(big)
    splits = plan_splits([big, small, str(tmp_path / "c.jsonl.gz")], None, 1000)
    by_path = {}
    for s in splits:
        by_path.setdefault(os.path.basename(s.path), []).append(s)
    assert len(by_path["big.jsonl"]) == -(-size // 1000)
    assert by_path["big.jsonl"][0].start == 0 and by_path["big.jsonl"][-1].end == size
    assert [(s.start, s.end) for s in by_path["small.jsonl"]] == [(0, None)]
    assert [(s.start, s.end) for s in by_path["c.jsonl.gz"]] == [(0, None)]
    assert by_path["big.jsonl"][1].label == f"{big} (from byte 1000)"


def test_parquet_splits_by_row_group_and_numbers_records_as_the_whole_file(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": lines(100)}), path, row_group_size=10)
    splits = plan_splits([str(path)], None, 1)
    assert [s.row_groups for s in splits] == [(g,) for g in range(10)]
    with beam.Pipeline(options=PipelineOptions(["--runner", "DirectRunner"])) as p:
        numbers = (
            p
            | ReadRecordBatches([str(path)], ["text"], split_bytes=1, batch_size=3)
            | beam.FlatMap(lambda b: b.numbers)
        )
        assert_that(numbers, equal_to(list(range(1, 101))))


# -- one fingerprint whatever the splitting --


@pytest.mark.parametrize("workers", [[], TWO_WORKERS], ids=["1 worker", "2 workers"])
def test_one_file_seven_files_and_splits_give_one_fingerprint(tmp_path, workers):
    texts = lines(700, seed=3)
    whole = write_jsonl(tmp_path / "all.jsonl", texts)
    (tmp_path / "parts").mkdir()
    for k in range(7):
        write_jsonl(tmp_path / "parts" / f"p{k}.jsonl", texts[k::7])
    expected = build_vocabulary(texts, VocabSpec(lowercase=True), progress=False).fingerprint
    runs = {
        "whole file": job(tmp_path, [whole], split_bytes=0),
        "seven files": job(tmp_path, [str(tmp_path / "parts" / "p*.jsonl")]),
        "split 997 bytes": job(tmp_path, [whole], split_bytes=997),
    }
    for label, config in runs.items():
        (published,) = run_build(["--config", config, *workers])
        assert published["fingerprint"] == expected, label


def test_two_workers_each_read_part_of_one_file(tmp_path):
    """With 2 worker processes, the splits of one file are read in both processes."""
    path = write_jsonl(tmp_path / "one.jsonl", lines(2000, seed=4))
    out = tmp_path / "readers"
    # cloudpickle: a lambda travels by value to the worker processes (Beam 2.62's default,
    # dill, would pickle a reference to this test module, which the workers cannot import).
    flags = ["--runner", "DirectRunner", *TWO_WORKERS, "--pickle_library", "cloudpickle"]
    with beam.Pipeline(options=PipelineOptions(flags)) as p:
        _ = (
            p
            | ReadRecordBatches([path], ["text"], split_bytes=4096, batch_size=50)
            | beam.Map(lambda b: __import__("json").dumps([b.path, __import__("os").getpid()]))
            | beam.Distinct()
            | beam.io.WriteToText(str(out / "part"))
        )
    seen = [json.loads(line) for f in out.iterdir() for line in f.read_text().splitlines()]
    splits = {label for label, _ in seen}
    processes = {pid for _, pid in seen}
    assert len(splits) == -(-os.path.getsize(path) // 4096)  # every split was read
    assert len(processes) == 2, processes


# -- shards --


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=50))
def test_shard_ids_depend_on_the_token_alone(tokens):
    together = shard_ids(pa.array(tokens, pa.binary()), 8)
    alone = [int(shard_ids(pa.array([t], pa.binary()), 8)[0]) for t in tokens]
    assert together.tolist() == alone
    assert all(0 <= s < 8 for s in alone)
    sliced = pa.array([b"pad", *tokens], pa.binary()).slice(1)
    assert shard_ids(sliced, 8).tolist() == alone


def test_shard_ids_spread_tokens():
    tokens = pa.array([f"token{i}".encode() for i in range(8000)], pa.binary())
    counts = [int((shard_ids(tokens, 8) == s).sum()) for s in range(8)]
    assert min(counts) > 800, counts


# -- invariants: never publish an empty or gutted vocabulary --


def test_a_misspelled_field_with_skip_fails_and_publishes_nothing(tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", lines(50))
    config = job(tmp_path, [path], bad_records="skip")
    data = yaml.safe_load(open(config))
    data["features"]["text"]["field"] = "txet"
    open(config, "w").write(yaml.safe_dump(data))
    code = main(["build", "--config", config, "--runner", "DirectRunner"])
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "On DirectRunner, feature 'txet' (vocabulary 'words'): 50 of 50 records were skipped" in err
    )
    assert "missing_field 50" in err and "Nothing was published" in err
    assert VocabStore(tmp_path / "store").names() == []


def test_an_empty_input_is_an_error_unless_allowed(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    config = job(tmp_path, [str(empty)])
    assert main(["build", "--config", config, "--runner", "DirectRunner"]) == 1
    err = capsys.readouterr().err
    assert "the inputs held no records, so the vocabulary would be empty" in err
    assert VocabStore(tmp_path / "store").names() == []
    data = yaml.safe_load(open(config))
    data["features"]["text"]["allow_empty"] = True
    open(config, "w").write(yaml.safe_dump(data))
    assert main(["build", "--config", config, "--runner", "DirectRunner"]) == 0
    assert VocabStore(tmp_path / "store").load("words").input_dim == 2


def test_one_bad_feature_publishes_no_feature(tmp_path, capsys):
    path = write_jsonl(tmp_path / "in.jsonl", lines(30))
    config = job(tmp_path, [path])
    data = yaml.safe_load(open(config))
    data["features"]["never"] = {"field": "text", "name": "never", "spec": {"min_count": 10**6}}
    open(config, "w").write(yaml.safe_dump(data))
    assert main(["build", "--config", config, "--runner", "DirectRunner"]) == 1
    err = capsys.readouterr().err
    assert (
        "feature 'text' (vocabulary 'never'): 30 records were read but no token was learned" in err
    )
    assert VocabStore(tmp_path / "store").names() == []  # not even the good feature


def test_check_build_names_runner_feature_and_both_numbers():
    feature = Feature("text", "words")
    summary = {
        "stats": {"records": 9, "documents": 9, "total_tokens": 20},
        "counts": {b"a": 20},
        "counted_tokens": 20,
    }
    with pytest.raises(InputDataError) as info:
        check_build(feature, summary, 10, "DaskRunner")
    assert str(info.value).startswith(
        "On DaskRunner, feature 'text' (vocabulary 'words'): the counting step saw 9 records "
        "but the reader produced 10; the runner lost or duplicated data"
    )
    summary["stats"]["records"] = 10
    with pytest.raises(InputDataError, match=r"documents counted \(9\) \+ records skipped \(0\)"):
        check_build(feature, summary, 10, "DaskRunner")
    summary["stats"]["documents"] = 10
    summary["counted_tokens"] = 19
    with pytest.raises(
        InputDataError, match="the merged counts hold 19 tokens but 20 were counted"
    ):
        check_build(feature, summary, 10, "DaskRunner")
    summary["counted_tokens"] = 20
    assert check_build(feature, summary, 10, "DaskRunner")["documents"] == 10


def test_max_bad_fraction_is_validated():
    with pytest.raises(Exception, match=r"`max_bad_fraction` must be a number in \[0, 1\]"):
        Feature("text", "words", max_bad_fraction=1.5)


# -- progress --


class RecordingBar:
    """Stands in for the tqdm bar a terminal gets; collects what each split reports."""

    seen: typing.ClassVar[dict] = {}

    def __init__(self, total, progress, what, unit=" records"):
        self.what = what
        RecordingBar.seen.setdefault(what, 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        RecordingBar.seen[self.what] += n


def test_each_split_shows_records_read_on_a_terminal(tmp_path, monkeypatch):
    from vocabguard._src.engines.beam import read

    path = write_jsonl(tmp_path / "one.jsonl", lines(500, seed=9))
    RecordingBar.seen = {}
    monkeypatch.setattr(read, "progress_bar", RecordingBar)
    with beam.Pipeline(options=PipelineOptions(["--runner", "DirectRunner"])) as p:
        _ = p | ReadRecordBatches([path], ["text"], split_bytes=4096, batch_size=40)
    splits = plan_splits([path], None, 4096)
    assert sorted(RecordingBar.seen) == sorted(f"reading {s.label}" for s in splits)
    assert sum(RecordingBar.seen.values()) == 500
