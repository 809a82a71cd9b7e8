"""Tests of ``vocabguard report``: report.html and coverage.png of a vocabulary version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run

import vocabguard as vg
from vocabguard._src.tools.report import coverage_curve, top_tokens
from vocabguard.cli import main

CORPUS = [
    "the cat sat on the mat <script> alert(1) </script>",
    "the dog sat on the log & the cat",
    "a cat and a dog",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def published(capsys, store_root: Path, tmp_path: Path) -> dict:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(line + "\n" for line in CORPUS), encoding="utf-8")
    argv = ["build", "--name", "demo", "--input", str(corpus), "--max-tokens", "6"]
    assert main([*argv, "--reserved-token", "<script>", "--store", str(store_root)]) == 0
    capsys.readouterr()
    return {"store": str(store_root), "vocab": vg.VocabStore(store_root).load("demo@v1")}


def test_report_writes_html_and_png(capsys, published, tmp_path):
    vocab = published["vocab"]
    sample = tmp_path / "sample.jsonl"
    sample.write_text(
        "".join(json.dumps({"body": t}) + "\n" for t in ["the cat", "a yak & a <b>gnu</b>"]),
        encoding="utf-8",
    )
    output = tmp_path / "reports" / "demo_v1"
    code, out, err = run(
        capsys,
        published,
        "report",
        "demo@v1",
        "--data",
        str(sample),
        "--field",
        "body",
        "--output",
        str(output),
    )
    assert code == 0, err
    assert out.strip() == str(output / "report.html")
    assert (output / "coverage.png").read_bytes().startswith(PNG_MAGIC)
    page = (output / "report.html").read_text(encoding="utf-8")
    assert '<img src="coverage.png"' in page
    assert vocab.fingerprint in page and f'<td class="n">{vocab.input_dim}</td>' in page
    # Tokens are user data: escaped, never markup.
    assert "<script>" not in page and "<b>" not in page
    assert "<code>&lt;script&gt;</code>" in page  # a reserved token, in the top tokens
    assert "<code>&amp;</code>" in page  # an OOV token of the sample
    # The sample: 2 + 5 tokens, "yak", "<b>gnu</b>" (and "&" if not learned) are OOV.
    ids = [i for row in vocab.encode(["the cat", "a yak & a <b>gnu</b>"]) for i in row.tolist()]
    oov = sum(1 for i in ids if i in vocab.oov_ids)
    assert "OOV rate (of non-pad tokens)" in page
    assert f"<td>{oov / len(ids):.4f}</td>" in page
    assert "&lt;b&gt;gnu&lt;/b&gt;" in page  # among the top OOV tokens
    assert f"sample: 2 documents, {len(ids)} tokens, OOV rate {oov / len(ids):.4f}" in err
    assert f"wrote {output / 'report.html'} and coverage.png for demo@v1" in err


def test_report_without_sample_and_top_tokens_table(capsys, published, tmp_path):
    vocab = published["vocab"]
    output = tmp_path / "out"
    output.mkdir()  # an empty directory is fine
    code, _, err = run(capsys, published, "report", "demo", "--output", str(output), "--top", "3")
    assert code == 0, err
    page = (output / "report.html").read_text(encoding="utf-8")
    assert "OOV rate on the sample" not in page
    (token, id_, count), *_ = top_tokens(vocab, 3)
    assert token == b"the" and id_ == vocab.token_to_id("the") and count == 5
    assert f'<tr><td><code>the</code></td><td class="n">{id_}</td><td class="n">5</td></tr>' in page
    assert "<h2>Top 3 tokens</h2>" in page


def test_refuses_a_non_empty_output_directory(capsys, published, tmp_path):
    output = tmp_path / "taken"
    output.mkdir()
    (output / "notes.txt").write_text("keep me", encoding="utf-8")
    code, out, err = run(capsys, published, "report", "demo@v1", "--output", str(output))
    assert code == 1 and out == ""
    assert (
        f"vocabguard: error: Output directory {output} already exists; vocabguard never "
        "overwrites outputs." in err
    )
    assert err.rstrip().endswith(f"Received: output={str(output)!r}")
    assert sorted(p.name for p in output.iterdir()) == ["notes.txt"]
    assert not list(tmp_path.glob(".taken*"))  # no staging left behind


def test_coverage_curve_matches_the_build_stats(published):
    vocab = published["vocab"]
    curve = coverage_curve(vocab)
    assert curve.chosen == vocab.layout.num_learned == 6
    assert curve.total_tokens == vocab.stats["total_tokens"]
    # The curve ends at the manifest's coverage (reserved + learned tokens).
    assert curve.coverage[-1] == pytest.approx(vocab.stats["coverage"])
    assert list(curve.coverage) == sorted(curve.coverage)
    assert curve.size_for(0.99) is None  # max_tokens=6 cut tokens: 99 % is not reached
    first = curve.size_for(curve.coverage[2])
    assert first == 2


def test_report_page_notes_unreached_targets(capsys, published, tmp_path):
    output = tmp_path / "r"
    assert run(capsys, published, "report", "demo@v1", "--output", str(output))[0] == 0
    page = (output / "report.html").read_text(encoding="utf-8")
    assert "not reached with 6 learned tokens" in page
    assert "raise max_tokens or lower min_count" in page


def test_integer_vocabulary_report(capsys, store_root, tmp_path):
    store = vg.VocabStore(store_root)
    vocab = store.publish(
        vg.build_vocabulary([3, 7, 7, 9], vg.VocabSpec(tokenizer="none"), progress=False), "cats"
    )
    sample = tmp_path / "ids.jsonl"
    sample.write_text("7\n11\n", encoding="utf-8")
    output = tmp_path / "cats_report"
    argv = ["report", vocab.ref, "--data", str(sample), "--output", str(output)]
    code = main([*argv, "--store", str(store_root)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "sample: 2 documents, 2 tokens, OOV rate 0.5000" in err
    page = (output / "report.html").read_text(encoding="utf-8")
    assert "<code>11</code>" in page  # the OOV value


def test_negative_top_is_a_usage_error(capsys, published, tmp_path):
    output = tmp_path / "r"
    code, _, err = run(capsys, published, "report", "demo", "--output", str(output), "--top", "-1")
    assert code == 1
    assert "The number of top tokens to list must be 0 or more. Received: top=-1" in err
    assert not output.exists()
