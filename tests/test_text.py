"""Text vocabularies (issue 14): document-frequency pruning, n-grams, WordPiece."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard.cli import main
from vocabguard.errors import SpecError

DOCS = [
    "the cat sat on the mat",
    "the dog sat",
    "the cat ran",
    "a bird sang the song",
    "the end",
]


# -- document-frequency pruning --


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"min_document_count": 0},
            "`min_document_count` must be an integer >= 1: tokens in fewer documents are "
            "dropped; or leave it unset. Received: min_document_count=0",
        ),
        (
            {"min_document_count": 1.5},
            "`min_document_count` must be an integer >= 1",
        ),
        (
            {"max_document_fraction": 0},
            "`max_document_fraction` must be a number in (0, 1]: tokens in a larger share of "
            "the documents are dropped (e.g. 0.9 for stopwords); or leave it unset. "
            "Received: max_document_fraction=0",
        ),
        ({"max_document_fraction": 1.5}, "Received: max_document_fraction=1.5"),
        ({"max_document_fraction": True}, "Received: max_document_fraction=True"),
        ({"max_document_fraction": "0.9"}, "Received: max_document_fraction='0.9'"),
    ],
)
def test_document_fields_are_validated(fields, message):
    with pytest.raises(SpecError) as caught:
        VocabSpec(**fields)
    assert message in str(caught.value)
    assert caught.value.key == next(iter(fields))


def test_max_documents_reads_the_fraction_as_written():
    # 0.29 * 100 is 28.999999999999996 in binary floating point.
    assert VocabSpec(max_document_fraction=0.29).max_documents(100) == 29
    assert VocabSpec(max_document_fraction=0.9).max_documents(10) == 9
    assert VocabSpec(max_document_fraction=1).max_documents(7) == 7
    assert VocabSpec(max_document_fraction=1).max_document_fraction == 1.0
    assert VocabSpec().max_documents(7) is None


def test_document_rules_prune_and_record_document_counts():
    spec = VocabSpec(min_document_count=2, max_document_fraction=0.6)
    vocab = build_vocabulary(DOCS, spec, progress=False)
    # "the": 6 times in 5 documents > 0.6 * 5 = 3; "cat", "sat": 2 documents each;
    # everything else is in one document.
    assert vocab.tokens[2:] == ["cat", "sat"]
    assert vocab.counts == [2, 2]
    assert vocab.document_counts == [2, 2]
    assert vocab.stats["document_rule"] == {"min_documents": 2, "max_documents": 3}
    plain = build_vocabulary(DOCS, progress=False)
    assert plain.document_counts is None
    assert "document_rule" not in plain.stats


def test_a_token_repeated_in_one_document_counts_one_document():
    vocab = build_vocabulary(
        ["x x x x", "y", "y z"], VocabSpec(min_document_count=2), progress=False
    )
    assert vocab.tokens[2:] == ["y"]
    assert vocab.counts == [2]


def test_document_counts_do_not_depend_on_the_batch_size():
    spec = VocabSpec(min_document_count=2, max_document_fraction=0.7)
    want = build_vocabulary(DOCS * 3, spec, progress=False)
    for size in (1, 2, 7):
        got = build_vocabulary(DOCS * 3, spec, progress=False, batch_size=size)
        assert got.fingerprint == want.fingerprint
        assert got.document_counts == want.document_counts


def test_several_fields_count_a_record_once_per_token():
    records = [
        {"a": "x y", "b": "x"},
        {"a": "y", "b": ["x", "z"]},
        {"a": "w", "b": None},
    ]
    spec = VocabSpec(min_document_count=2, missing="skip")
    vocab = build_vocabulary(records, spec, fields=["a", "b"], progress=False, batch_size=2)
    assert vocab.tokens[2:] == ["x", "y"]
    assert vocab.counts == [3, 2]
    assert vocab.document_counts == [2, 2]


def test_weighted_counts_keep_unweighted_document_counts():
    records = [{"t": "a b", "w": 3}, {"t": "a", "w": 0.5}, {"t": "b b", "w": 1}]
    spec = VocabSpec(min_document_count=2, max_document_fraction=0.9)
    vocab = build_vocabulary(records, spec, fields=["t"], weight_field="w", progress=False)
    assert vocab.tokens[2:] == ["b", "a"]
    assert vocab.counts == [5_000_000, 3_500_000]
    assert vocab.document_counts == [2, 2]


def test_categorical_values_are_their_own_documents():
    vocab = build_vocabulary(
        ["de", "fr", "de", "us", "de"],
        VocabSpec(tokenizer="none", max_document_fraction=0.5),
        progress=False,
    )
    assert vocab.tokens[2:] == ["fr", "us"]
    assert vocab.document_counts == [1, 1]


def test_from_counts_needs_document_counts_under_document_rules():
    with pytest.raises(SpecError, match="need document counts per token"):
        vg.Vocabulary.from_counts({b"a": 3}, VocabSpec(min_document_count=2))
    with pytest.raises(SpecError, match="needs the number of documents"):
        vg.Vocabulary.from_counts(
            {b"a": 3}, VocabSpec(max_document_fraction=0.5), document_counts={b"a": 1}
        )


def test_lineage_keeps_parent_tokens_and_retire_retires_pruned_ones():
    spec = VocabSpec(max_document_fraction=0.7)  # at most 2 of 3 documents
    parent = build_vocabulary(["a b", "b c", "a"], spec, progress=False)
    assert parent.tokens[2:] == ["a", "b", "c"]
    # "a" is now in every document: kept with its id, or retired with retire=True.
    docs = ["a b", "a c", "a d d"]
    kept = build_vocabulary(docs, spec, parent=parent, progress=False)
    assert kept.tokens[2:] == ["a", "b", "c", "d"]
    assert kept.document_counts == [3, 1, 1, 1]
    retired = build_vocabulary(docs, spec, parent=parent, retire=True, progress=False)
    assert retired.encode(["a d"])[0].tolist() == [1, retired.token_to_id("d")]
    assert retired.token_to_id("a") == 1


def test_document_counts_round_trip_through_the_store(store_root):
    spec = VocabSpec(min_document_count=2, max_document_fraction=0.6)
    vocab = build_vocabulary(DOCS, spec, progress=False)
    published = VocabStore(store_root).publish(vocab, "news")
    loaded = VocabStore(store_root).load("news@v1")
    assert loaded.document_counts == vocab.document_counts
    assert loaded.fingerprint == vocab.fingerprint == published.fingerprint
    table = pq.read_table(store_root / "news" / "v1" / "tokens.parquet")
    assert table.column_names == ["id", "token", "count", "kind", "documents"]
    assert table["documents"].to_pylist() == [0, 0, 2, 2]
    # A vocabulary without document rules keeps the four columns.
    VocabStore(store_root).publish(build_vocabulary(DOCS, progress=False), "plain")
    plain = pq.read_table(store_root / "plain" / "v1" / "tokens.parquet")
    assert plain.column_names == ["id", "token", "count", "kind"]


def test_cli_build_inspect_and_report_show_document_counts(capsys, store_root, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(d + "\n" for d in DOCS), encoding="utf-8")
    argv = ["build", "--name", "news", "--input", str(corpus), "--store", str(store_root)]
    assert main([*argv, "--min-document-count", "2", "--max-document-fraction", "0.6"]) == 0
    capsys.readouterr()
    assert main(["inspect", "news@v1", "--store", str(store_root)]) == 0
    out = capsys.readouterr().out
    assert (
        "document rule   learned tokens occur in 2..3 of 5 documents (min_document_count=2, "
        "max_document_fraction=0.6); per-token counts in tokens.parquet"
    ) in out
    manifest = VocabStore(store_root).manifest("news@v1")
    assert manifest["spec"]["min_document_count"] == 2
    assert manifest["spec"]["max_document_fraction"] == 0.6
    output = tmp_path / "report"
    assert main(["report", "news@v1", "--output", str(output), "--store", str(store_root)]) == 0
    html = (output / "report.html").read_text(encoding="utf-8")
    assert "<th>documents</th>" in html
    assert (
        '<td><code>cat</code></td><td class="n">2</td><td class="n">2</td><td class="n">2</td>'
        in html
    )


def test_config_file_sets_document_rules(capsys, store_root, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(d + "\n" for d in DOCS), encoding="utf-8")
    config = tmp_path / "spec.yaml"
    config.write_text("spec:\n  max_document_fraction: 0.5\n", encoding="utf-8")
    argv = ["build", "--name", "news", "--input", str(corpus), "--config", str(config)]
    assert main([*argv, "--store", str(store_root)]) == 0
    capsys.readouterr()
    vocab = VocabStore(store_root).load("news@v1")
    assert "the" not in vocab.tokens
    assert vocab.stats["document_rule"] == {"min_documents": 0, "max_documents": 2}
    assert json.loads(json.dumps(vocab.spec.to_dict()))["max_document_fraction"] == 0.5


@settings(max_examples=40, deadline=None)
@given(
    docs=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=5).map(" ".join),
        min_size=1,
        max_size=20,
    ),
    low=st.none() | st.integers(1, 4),
    fraction=st.none() | st.floats(0.05, 1.0),
    max_tokens=st.none() | st.integers(1, 4),
)
def test_document_rules_match_a_brute_force_count(docs, low, fraction, max_tokens):
    spec = VocabSpec(min_document_count=low, max_document_fraction=fraction, max_tokens=max_tokens)
    if not spec.counts_documents:
        return
    vocab = build_vocabulary(docs, spec, progress=False, batch_size=3)
    counts: dict[str, int] = {}
    documents: dict[str, int] = {}
    for doc in docs:
        for token in doc.split():
            counts[token] = counts.get(token, 0) + 1
        for token in set(doc.split()):
            documents[token] = documents.get(token, 0) + 1
    high = spec.max_documents(len(docs))
    allowed = [
        t for t in counts if documents[t] >= (low or 0) and (high is None or documents[t] <= high)
    ]
    allowed.sort(key=lambda t: (-counts[t], t.encode()))
    assert vocab.tokens[2:] == allowed[:max_tokens]
    assert vocab.document_counts == [documents[t] for t in vocab.tokens[2:]]
    assert pa.array(vocab.encode(docs[:1])[0]).to_pylist() == [
        vocab.token_to_id(t) for t in docs[0].split()
    ]


# -- n-grams --


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"ngrams": 0},
            "`ngrams` must be an integer n >= 1 (widths 1..n) or a list of distinct widths "
            ">= 1, e.g. 2 or [1, 2]; or leave it unset. Received: ngrams=0",
        ),
        ({"ngrams": [1, 1]}, "Received: ngrams=[1, 1]"),
        ({"ngrams": []}, "Received: ngrams=[]"),
        ({"ngrams": "2"}, "Received: ngrams='2'"),
        ({"ngrams": [2, True]}, "Received: ngrams=[2, True]"),
        (
            {"ngrams": 2, "tokenizer": "none"},
            "`ngrams` needs a tokenizer that splits text into words (whitespace, regex, "
            "unicode_script); with `tokenizer: none` each value is one token. "
            "Received: tokenizer='none', ngrams=[1, 2]",
        ),
        (
            {"ngram_separator": ""},
            "`ngram_separator` must be a non-empty string (default ' ', as Keras). "
            "Received: ngram_separator=''",
        ),
    ],
)
def test_ngram_fields_are_validated(fields, message):
    with pytest.raises(SpecError) as caught:
        VocabSpec(**fields)
    assert message in str(caught.value)


def test_ngrams_resolve_to_sorted_widths_and_round_trip():
    assert VocabSpec(ngrams=3).ngrams == (1, 2, 3)
    assert VocabSpec(ngrams=[3, 1]).ngrams == (1, 3)
    spec = VocabSpec(ngrams=2, ngram_separator="_")
    assert spec.to_dict()["ngrams"] == [1, 2]
    assert VocabSpec.from_dict(spec.to_dict()) == spec


def test_ngrams_are_counted_and_selected_like_words():
    spec = VocabSpec(ngrams=2, min_count=2)
    vocab = build_vocabulary(["the cat sat", "the cat ran", "a cat"], spec, progress=False)
    assert vocab.tokens[2:] == ["cat", "the", "the cat"]
    assert vocab.counts == [3, 2, 2]
    # A row's 1-grams, then its 2-grams.
    assert vocab.encode(["the cat the cat"])[0].tolist() == [3, 2, 3, 2, 4, 1, 4]
    only_bigrams = build_vocabulary(["a b c"], VocabSpec(ngrams=[2]), progress=False)
    assert only_bigrams.tokens[2:] == ["a b", "b c"]
    assert only_bigrams.encode(["a", "a b"])[0].tolist() == []


def test_ngrams_with_document_rules_and_a_separator():
    spec = VocabSpec(ngrams=[1, 3], ngram_separator="_", max_document_fraction=0.5)
    vocab = build_vocabulary(["x a b c", "a b c", "y", "z"], spec, progress=False)
    # At most 2 of 4 documents: "a", "b", "c" and "a_b_c" are in 2 (widths 1 and 3 only).
    assert vocab.tokens[2:] == ["a", "a_b_c", "b", "c", "x", "x_a_b", "y", "z"]
    assert vocab.document_counts == [2, 2, 2, 2, 1, 1, 1, 1]


def test_ngrams_are_part_of_the_contract_and_the_lineage():
    plain = build_vocabulary(["a b"], progress=False)
    grams = build_vocabulary(["a b"], VocabSpec(ngrams=[1]), progress=False)
    assert plain.tokens == grams.tokens
    assert plain.fingerprint != grams.fingerprint
    assert "ngrams" not in plain.contract()
    assert grams.contract()["ngrams"] == [1]
    with pytest.raises(vg.errors.LineageError, match="`ngrams` differs from"):
        build_vocabulary(["a b"], VocabSpec(ngrams=2), parent=plain, progress=False)


def test_cli_build_and_encode_with_ngrams(capsys, store_root, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat\nthe cat ran\n", encoding="utf-8")
    config = tmp_path / "spec.yaml"
    config.write_text("ngrams: 2\nngram_separator: '+'\n", encoding="utf-8")
    argv = ["build", "--name", "grams", "--input", str(corpus), "--config", str(config)]
    assert main([*argv, "--store", str(store_root)]) == 0
    vocab = VocabStore(store_root).load("grams@v1")
    assert "the+cat" in vocab.tokens
    output = tmp_path / "ids.parquet"
    argv = ["encode", "grams@v1", "--input", str(corpus), "--output", str(output)]
    assert main([*argv, "--store", str(store_root)]) == 0
    capsys.readouterr()
    ids = pq.read_table(output)["ids"].to_pylist()
    texts = ["the cat sat", "the cat ran"]
    assert ids == [row.tolist() for row in vocab.encode(texts)]
    assert len(ids[0]) == 5
