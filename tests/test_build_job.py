"""The build use case (``vocabguard.jobs``): one call for the single in-process build and
every runner; it returns what it published and prints nothing (the CLI prints)."""

from __future__ import annotations

import json

import pytest

from vocabguard import VocabSpec
from vocabguard.cli import main
from vocabguard.errors import ConfigError, InputDataError
from vocabguard.jobs import BuildOptions, JobConfig, build, run_job


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "news.jsonl"
    # One good record and two whose value is of the wrong type (bad records).
    rows = [{"text": "a b a"}, {"text": 1.5}, {"text": [1.5]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_build_returns_what_it_published_and_prints_nothing(tmp_path, corpus, capsys):
    options = BuildOptions(
        name="news",
        inputs=(str(corpus),),
        fields=("text",),
        store=str(tmp_path / "store"),
        spec=VocabSpec(num_oov_buckets=2),
        bad_records="skip",
        max_bad_fraction=1.0,
    )
    first = build(options)
    assert first.refs == ["news@v1"] and first.published[0].newly_published
    assert first.vocabulary.input_dim == 1 + 2 + 2  # pad, 2 OOV ids, a and b
    assert first.vocabulary.stats["bad_records_skipped"] == {"wrong_type": 2}
    again = build(options)
    assert again.refs == ["news@v1"] and not again.published[0].newly_published
    assert capsys.readouterr() == ("", "")


def test_one_skip_check_for_the_single_build(tmp_path, corpus):
    options = BuildOptions(
        name="news",
        inputs=(str(corpus),),
        fields=("text",),
        store=str(tmp_path / "store"),
        bad_records="skip",
    )
    with pytest.raises(InputDataError, match=r"^2 of 3 records were skipped \(66.7%\)"):
        build(options)
    with pytest.raises(ConfigError, match="--max-bad-fraction must be a number from 0 to 1"):
        build(BuildOptions(name="news", inputs=(str(corpus),), max_bad_fraction=2))


def test_runner_build_honours_max_bad_fraction(tmp_path, corpus, capsys):
    argv = ["build", "--store", str(tmp_path / "store"), "--name", "news"]
    argv += ["--input", str(corpus), "--field", "text", "--bad-records", "skip"]
    argv += ["--runner", "inprocess"]
    assert main(argv) == 1
    assert "2 of 3 records were skipped" in capsys.readouterr().err
    assert main([*argv, "--max-bad-fraction", "0.9"]) == 0
    assert capsys.readouterr().out == "news@v1\n"


def test_the_in_process_runner_takes_no_beam_options(tmp_path, corpus):
    config = JobConfig.from_dict(
        {"inputs": [str(corpus)], "store": str(tmp_path / "s"), "features": {"text": {}}}
    )
    with pytest.raises(ConfigError, match=r"takes no Beam pipeline options.*--direct_num"):
        run_job(config, runner="inprocess", pipeline_options=["--direct_num_workers", "2"])
