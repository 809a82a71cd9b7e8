"""``vocabguard diff A B``: tokens added, removed, retired and moved; id compatibility."""

from __future__ import annotations

import base64
import inspect
import itertools
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.tools.diff import diff_vocabularies, format_diff, token_to_json
from vocabguard.cli import main
from vocabguard.errors import ConfigError


def build(texts, spec=None, **kwargs):
    return build_vocabulary(texts, spec or VocabSpec(), progress=False, **kwargs)


def live(vocab) -> dict:
    """``{token: id}`` of the tokens text can reach (reserved and learned, not retired)."""
    start = vocab.layout.reserved_start
    return {t: i for i, t in enumerate(vocab.token_bytes, start) if i not in vocab.retired}


def real_corpus() -> list[str]:
    """Real English prose that every Python install carries: stdlib module docs."""
    import argparse
    import collections
    import csv
    import difflib
    import json as json_module
    import textwrap

    modules = (argparse, json_module, collections, textwrap, difflib, csv)
    return [
        line.strip()
        for module in modules
        for line in (inspect.getdoc(module) or "").splitlines()
        if line.strip()
    ]


def cli(capsys, store: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--store", str(store)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# -- lineages --


def test_lineage_from_growing_slices_of_a_real_corpus_is_id_compatible(capsys, tmp_path):
    corpus = real_corpus()
    store_root = tmp_path / "store"
    spec = VocabSpec(lowercase=True, min_count=2)
    thirds = [corpus[: len(corpus) * k // 3] for k in (1, 2, 3)]
    # Through the CLI, as a user grows a lineage: v1 -> v2 -> v3.
    for k, lines in enumerate(thirds, start=1):
        path = tmp_path / f"slice{k}.txt"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        argv = ["build", "--name", "docs", "--input", str(path)]
        if k == 1:
            argv += ["--lowercase", "--min-count", "2"]
        else:
            argv += ["--parent", f"docs@v{k - 1}"]
        assert cli(capsys, store_root, *argv)[0] == 0
    store = VocabStore(store_root)
    v1, v2, v3 = (store.load(f"docs@v{k}") for k in (1, 2, 3))
    assert v1.spec == spec and v3.spec == spec
    assert len(live(v3)) > len(live(v2)) > len(live(v1)) > 20  # the corpus really grows

    for old, new in ((v1, v2), (v2, v3), (v1, v3)):
        result = diff_vocabularies(old, new, store=store)
        assert result.id_compatible, result.summary()
        assert result.moved == [] and result.removed == [] and result.retired == []
        assert result.kept == len(live(old))
        expected_added = [(t, i) for t, i in live(new).items() if t not in live(old)]
        assert result.added == expected_added
        assert all(i >= old.input_dim for _, i in result.added)  # appended after A's ids
        assert result.reassigned == 0
        assert result.summary() == (
            f"{new.ref} is id-compatible with {old.ref}: all {len(live(old))} tokens of A keep "
            f"their ids; {len(expected_added)} added, input_dim {old.input_dim} -> "
            f"{new.input_dim}"
        )

    # The store lets diff follow v3 <- v2 <- v1.
    code, out, err = cli(capsys, store_root, "diff", "docs@v1", "docs@v3", "--check")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"A  docs@v1  fingerprint {v1.fingerprint[:16]}  input_dim {v1.input_dim}"
    assert "  lineage        B descends from A: docs@v3 <- docs@v2 <- docs@v1" in lines
    added = len(live(v3)) - len(live(v1))
    assert (
        f"  tokens of A    {len(live(v1))}: {len(live(v1))} kept, 0 moved, 0 retired, 0 removed"
        in lines
    )
    assert f"  added in B     {added}" in lines
    assert any(line.startswith("id-compatible: yes. docs@v3 is id-compatible") for line in lines)
    # Sections list up to --limit tokens, in B's id order.
    first = next(iter(t for t in live(v3) if t not in live(v1)))
    assert f"added (token: id in B) ({added}, first 20):" in lines
    assert f"  {first.decode()}: {live(v3)[first]}" in lines
    assert f"  ... {added - 20} more (--limit N or --json lists them)" in lines

    code, out, _ = cli(capsys, store_root, "diff", "docs@v2", "docs@v3", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["id_compatible"] is True and payload["reasons"] == []
    assert payload["lineage"] == {
        "relation": "descendant",
        "chain": ["docs@v3", "docs@v2"],
        "stopped": None,
    }
    assert payload["a"]["fingerprint"] == v2.fingerprint
    assert payload["b"]["parent"]["fingerprint"] == v2.fingerprint
    assert payload["input_dim"] == {
        "a": v2.input_dim,
        "b": v3.input_dim,
        "change": v3.input_dim - v2.input_dim,
    }
    assert payload["added"] == [
        {"token": t.decode(), "id": i} for t, i in live(v3).items() if t not in live(v2)
    ]
    assert payload["counts"]["kept"] == len(live(v2)) and payload["moved"] == []


def test_an_independent_rebuild_moves_ids_and_is_incompatible(capsys, tmp_path):
    corpus = real_corpus()
    store_root = tmp_path / "store"
    store = VocabStore(store_root)
    half = len(corpus) // 2
    a = store.publish(build(corpus[:half], VocabSpec(min_count=2)), "docs")
    # A fresh build (no --parent) over other data orders tokens by its own counts.
    b = store.publish(build(corpus[half:], VocabSpec(min_count=2)), "docs")
    la, lb = live(a), live(b)
    expected_moved = [(t, i, lb[t]) for t, i in la.items() if t in lb and lb[t] != i]
    expected_removed = [(t, i) for t, i in la.items() if t not in lb]
    by_id = {i: t for t, i in lb.items()}
    reassigned = sum(1 for t, i in la.items() if i in by_id and by_id[i] != t)
    assert expected_moved and expected_removed and reassigned  # the data makes them exist

    result = diff_vocabularies(a, b, store=store)
    assert result.moved == expected_moved  # checked by token: (token, id in A, id in B)
    assert result.removed == expected_removed
    assert result.added == [(t, i) for t, i in lb.items() if t not in la]
    assert result.kept == sum(1 for t, i in la.items() if lb.get(t) == i)
    assert result.reassigned == reassigned
    assert not result.id_compatible
    assert result.ancestry.relation == "unrelated"
    assert result.reasons() == [
        f"{len(expected_moved)} tokens of A moved to other ids",
        f"{len(expected_removed)} tokens of A are not in B",
    ]
    assert result.summary() == (
        f"docs@v2 is not id-compatible with docs@v1: {len(expected_moved)} tokens of A moved "
        f"to other ids; {len(expected_removed)} tokens of A are not in B. Warm-start a model "
        "trained on A with `vocabguard migrate-model MODEL --to docs@v2` (rows follow tokens), "
        "or build B with --parent docs@v1 to keep ids."
    )

    code, out, err = cli(capsys, store_root, "diff", "docs@v1", "docs@v2", "--check")
    assert code == 1
    assert err == (f"vocabguard: error: {result.summary()} Received: a='docs@v1', b='docs@v2'\n")
    assert "  lineage        B does not descend from A" in out.splitlines()
    assert f"  reassigned     {reassigned} ids of A hold another token in B" in out
    token, old_id, new_id = expected_moved[0]
    assert f"  {token.decode()}: {old_id} -> {new_id}" in out.splitlines()
    # Without --check the verdict is reported, not an error.
    assert cli(capsys, store_root, "diff", "docs@v1", "docs@v2")[0] == 0

    payload = json.loads(cli(capsys, store_root, "diff", "docs@v1", "docs@v2", "--json")[1])
    assert payload["moved"] == [
        {"token": t.decode(), "a_id": i, "b_id": j} for t, i, j in expected_moved
    ]
    assert payload["removed"] == [{"token": t.decode(), "id": i} for t, i in expected_removed]
    assert payload["counts"]["reassigned_ids"] == reassigned


def test_retired_tokens_break_compatibility_but_reuse_no_id(capsys, tmp_path):
    spec = VocabSpec(min_count=2)
    store_root = tmp_path / "store"
    store = VocabStore(store_root)
    v1 = store.publish(build(["x x y y z z"], spec), "n")
    v2 = store.publish(build(["x x y z z w w"], spec, parent=v1, retire=True), "n")
    y = v1.token_to_id("y")
    result = diff_vocabularies(v1, v2, store=store)
    assert result.retired == [(b"y", y, y)]  # the row in B is still y's, reserved
    assert result.moved == [] and result.removed == [] and result.reassigned == 0
    assert result.added == [(b"w", v1.input_dim)]
    assert result.kept == len(live(v1)) - 1
    assert not result.id_compatible
    assert result.summary() == (
        "n@v2 is not id-compatible with n@v1: 1 token of A retires in B (read as OOV now; the "
        "rows stay reserved). No id of A means another token in B: a model trained on A reads "
        "B's ids correctly, with the retired token as OOV."
    )
    code, out, err = cli(capsys, store_root, "diff", "n@v1", "n@v2", "--check")
    assert code == 1 and "1 token of A retires in B" in err
    assert "retired in B (token: id in A, row in B; reads as OOV) (1):" in out
    assert f"  y: {y}, row {y}" in out.splitlines()
    assert "  retired rows   0 -> 1" in out.splitlines()
    payload = json.loads(cli(capsys, store_root, "diff", "n@v1", "n@v2", "--json")[1])
    assert payload["retired"] == [{"token": "y", "a_id": y, "b_id": y}]
    assert payload["b"]["num_retired"] == 1

    # A token retired in A is not a token of A: it stays out of every list later on.
    v3 = store.publish(build(["x x y y y z z w w"], spec, parent=v2), "n")
    later = diff_vocabularies(v2, v3, store=store)
    assert later.id_compatible and later.retired == [] and later.added == []
    assert later.a_tokens == len(live(v2)) == len(live(v1))


def test_a_tokenization_change_is_incompatible_even_when_ids_line_up(capsys, tmp_path):
    corpus = ["the cat sat", "the cat ran", "a dog sat"]  # lowercase: both specs agree on it
    a = build(corpus, VocabSpec(lowercase=False))
    b = build(corpus, VocabSpec(lowercase=True, min_count=1, max_tokens=100))
    assert a.tokens == b.tokens
    result = diff_vocabularies(a, b)
    assert result.moved == [] and result.kept == len(live(a)) and result.added == []
    assert result.tokenization_changes == ["lowercase"]
    assert result.spec_changes == {"lowercase": (False, True), "max_tokens": (None, 100)}
    assert not result.id_compatible
    assert result.reasons() == ["the same text gives other tokens in B (lowercase False -> True)"]
    assert "Build B with A's tokenizer settings" in result.summary()
    text = format_diff(result)
    assert "  spec changes   TOKENIZATION: lowercase False -> True; max_tokens None -> 100" in (
        text.splitlines()
    )
    # Only selection fields changed: the same text, the same tokens, the same ids.
    c = build(corpus, VocabSpec(max_tokens=100))
    assert diff_vocabularies(a, c).id_compatible


def test_layout_changes_are_reported_and_incompatible():
    corpus = ["b b a"]
    a = build(corpus, VocabSpec(reserved_tokens=("<s>",)))
    b = build(corpus, VocabSpec(reserved_tokens=("<s>", "</s>"), num_oov_buckets=2))
    result = diff_vocabularies(a, b)
    la, lb = live(a), live(b)
    assert result.moved == [(t, i, lb[t]) for t, i in la.items()]  # every token shifts
    assert result.added == [(b"</s>", lb[b"</s>"])]
    assert (
        result.reasons()[0]
        == "the OOV ids changed: 1..1 -> 1..2 (unknown tokens hash to other ids)"
    )
    text = format_diff(result).splitlines()
    assert "  OOV ids        1..1 -> 1..2; pad id 0 = '[PAD]'" in text
    assert "  reserved       ['<s>'] -> ['<s>', '</s>']" in text
    other_pad = build(corpus, VocabSpec(reserved_tokens=("<s>",), pad_token="<pad>"))
    pad_change = diff_vocabularies(a, other_pad)
    assert pad_change.moved == [] and pad_change.added == []
    assert pad_change.reasons() == ["the pad token (id 0) changed: '[PAD]' -> '<pad>'"]
    assert "migrate-model" in pad_change.summary()


# -- the sample --


def _expected_coverage(vocab, texts, lowercase=False):
    """Coverage of whitespace-split texts, computed without vocabguard's tokenizer."""
    tokens = [t.encode() for text in texts for t in (text.lower() if lowercase else text).split()]
    known = live(vocab)
    oov = sum(1 for t in tokens if t not in known)
    distinct = set(tokens)
    distinct_oov = sum(1 for t in distinct if t not in known)
    return {
        "tokens": len(tokens),
        "pad_tokens": 0,
        "oov_tokens": oov,
        "known_tokens": len(tokens) - oov,
        "oov_rate": oov / len(tokens),
        "coverage": (len(tokens) - oov) / len(tokens),
        "distinct_tokens": len(distinct),
        "distinct_oov_tokens": distinct_oov,
        "distinct_coverage": (len(distinct) - distinct_oov) / len(distinct),
    }


def test_data_gives_coverage_and_oov_rate_of_each(capsys, tmp_path):
    spec = VocabSpec(min_count=2)
    store_root = tmp_path / "store"
    store = VocabStore(store_root)
    v1 = store.publish(build(["alpha alpha beta beta gamma gamma"], spec), "n")
    v2 = store.publish(
        build(["alpha alpha beta gamma gamma delta delta"], spec, parent=v1, retire=True), "n"
    )
    texts = ["alpha beta delta", "delta omega", "gamma beta beta", "Alpha"]
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps({"body": t}) + "\n" for t in texts), encoding="utf-8")
    expected_a, expected_b = _expected_coverage(v1, texts), _expected_coverage(v2, texts)
    assert expected_a["oov_rate"] != expected_b["oov_rate"]  # beta retired, delta added

    result = diff_vocabularies(v1, v2, data=[str(sample)], field="body", progress=False)
    assert result.sample.documents == len(texts)
    assert result.sample.old.to_dict() == expected_a
    assert result.sample.new.to_dict() == expected_b

    code, out, _ = cli(
        capsys, store_root, "diff", "n@v1", "n@v2", "--data", str(sample), "--field", "body"
    )
    assert code == 0
    lines = out.splitlines()
    assert f"  sample         1 file, {len(texts)} documents" in lines
    for name, e in (("A", expected_a), ("B", expected_b)):
        assert (
            f"    {name}  {e['tokens']} tokens, {e['oov_tokens']} OOV: OOV rate "
            f"{e['oov_rate']:.4f}, coverage {e['coverage']:.4f}; distinct "
            f"{e['distinct_tokens']}, {e['distinct_oov_tokens']} OOV "
            f"({e['distinct_coverage']:.4f} covered)"
        ) in lines
    payload = json.loads(
        cli(
            capsys,
            store_root,
            "diff",
            "n@v1",
            "n@v2",
            "--data",
            str(sample),
            "--field",
            "body",
            "--json",
        )[1]
    )
    assert payload["sample"] == {
        "files": [str(sample)],
        "documents": len(texts),
        "a": expected_a,
        "b": expected_b,
    }


def test_each_vocabulary_tokenizes_the_sample_with_its_own_spec(tmp_path):
    corpus = ["Red red GREEN green blue"]
    a = build(corpus, VocabSpec())
    b = build(corpus, VocabSpec(lowercase=True))
    texts = ["RED Green blue", "red red purple"]
    sample = tmp_path / "sample.txt"
    sample.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    result = diff_vocabularies(a, b, data=str(sample), progress=False)
    assert result.sample.old.to_dict() == _expected_coverage(a, texts)
    assert result.sample.new.to_dict() == _expected_coverage(b, texts, lowercase=True)


def test_sample_for_vocabularies_of_different_token_types_is_refused(tmp_path):
    a = build(["a b"], VocabSpec())
    b = build([3, 4], VocabSpec(tokenizer="none"))
    sample = tmp_path / "sample.txt"
    sample.write_text("a b\n", encoding="utf-8")
    assert diff_vocabularies(a, b).tokenization_changes == ["token_type", "tokenizer"]
    with pytest.raises(ConfigError) as info:
        diff_vocabularies(a, b, data=str(sample))
    message = str(info.value)
    assert "holds string tokens and B (the new vocabulary) holds int64 tokens" in message
    assert message.endswith("Received: a_token_type='string', b_token_type='int64'")


# -- tokens as users see them --


def test_bytes_and_control_tokens_are_shown_safely(capsys, tmp_path):
    spec = VocabSpec(tokenizer="none")
    a = build([b"keep", b"keep"], spec)
    values = [b"keep", b"keep", b"\xff\xfe", b"\xff\xfe", "tab\there", "new\nline", " pad "]
    b = build(values, spec, parent=a)
    result = diff_vocabularies(a, b)
    assert result.id_compatible
    text = format_diff(result).splitlines()
    ids = live(b)
    # Undecodable bytes, control characters and edge spaces as Python literals.
    for token, shown in (
        (b"\xff\xfe", "b'\\xff\\xfe'"),
        (b"tab\there", "'tab\\there'"),
        (b"new\nline", "'new\\nline'"),
        (b" pad ", "' pad '"),
    ):
        assert f"  {shown}: {ids[token]}" in text
    # JSON holds text as strings and other bytes as base64, so every token round-trips.
    added = json.loads(json.dumps(result.to_dict()))["added"]
    encoded = base64.b64encode(b"\xff\xfe").decode()
    assert {"token": {"base64": encoded}, "id": ids[b"\xff\xfe"]} in added
    assert {"token": "new\nline", "id": ids[b"new\nline"]} in added
    assert token_to_json(b"\xff\xfe") == {"base64": "//4="}


def test_integer_vocabularies():
    spec = VocabSpec(tokenizer="none")
    a = build([5, 5, 7], spec)
    b = build([7, 7, 9, 5], spec)  # rebuilt: 7 now first
    result = diff_vocabularies(a, b)
    assert result.moved == [(5, 2, 3), (7, 3, 2)]
    assert result.added == [(9, 4)]
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["moved"][0] == {"token": 5, "a_id": 2, "b_id": 3}
    # The pad of an integer vocabulary is the id 0, no value.
    assert payload["a"]["pad_token"] is None and payload["a"]["oov_token"] == -1


def test_limit_caps_each_section(capsys, tmp_path):
    a = build(["a"])
    b = build(["a b c d e"], parent=a)
    text = format_diff(diff_vocabularies(a, b), limit=2).splitlines()
    assert "added (token: id in B) (4, first 2):" in text
    assert "  ... 2 more (--limit N or --json lists them)" in text
    assert "added (token: id in B) (4):" in format_diff(diff_vocabularies(a, b), limit=4)
    quiet = format_diff(diff_vocabularies(a, b), limit=0).splitlines()
    assert quiet[-1] == "added (token: id in B) (4; --limit N or --json lists them)"
    with pytest.raises(ConfigError, match=r"0 or more\. Received: limit=-1$"):
        format_diff(diff_vocabularies(a, b), limit=-1)


# -- lineage records --


def test_lineage_is_followed_through_the_store_and_reports_a_gap(tmp_path):
    store = VocabStore(tmp_path / "store")
    v1 = store.publish(build(["a"]), "n")
    v2 = store.publish(build(["a b"], parent=v1), "n")
    v3 = store.publish(build(["a b c"], parent=v2), "n")
    assert diff_vocabularies(v1, v3, store=store).ancestry.chain == ["n@v3", "n@v2", "n@v1"]
    without = diff_vocabularies(v1, v3).ancestry
    assert without.relation == "unrelated"
    assert without.describe() == (
        "B does not descend from A as far as the records show: n@v2 was not followed further "
        "(no store given)"
    )
    backwards = diff_vocabularies(v3, v1, store=store)
    assert backwards.ancestry.describe() == (
        "A descends from B (the diff runs backwards): n@v3 <- n@v2 <- n@v1"
    )
    assert backwards.removed == [(b"b", 3), (b"c", 4)] and not backwards.id_compatible
    shutil.rmtree(Path(store.path("n@v2")))  # as if deleted by gc
    gap = diff_vocabularies(v1, v3, store=store).ancestry
    assert gap.describe() == (
        "B does not descend from A as far as the records show: n@v2 is no longer in the store"
    )


def test_bad_reference_names_it(capsys, tmp_path):
    store = VocabStore(tmp_path / "store")
    store.publish(build(["a"]), "n")
    code, out, err = cli(capsys, tmp_path / "store", "diff", "n@v1", "n@v7")
    assert code == 1 and out == ""
    assert err == "vocabguard: error: 'n' has no version v7; published: v1. Received: ref='n@v7'\n"
    code, _, err = cli(capsys, tmp_path / "store", "diff", "nope@v1", "n@v1")
    assert code == 1
    assert err.startswith("vocabguard: error: No published vocabulary named 'nope' in store ")
    assert err.endswith("Received: ref='nope@v1'\n")
    code, _, err = cli(capsys, tmp_path / "store", "diff", "n@v1", "n@v1", "--limit", "-1")
    assert code == 1 and err.endswith("Received: limit=-1\n")


# -- invariants --

WORDS = st.lists(st.sampled_from([f"w{i}" for i in range(25)]), max_size=30)


@settings(max_examples=40, deadline=None)
@given(
    slices=st.lists(WORDS, min_size=2, max_size=4),
    min_count=st.integers(1, 3),
    max_tokens=st.one_of(st.none(), st.integers(1, 20)),
    retire=st.booleans(),
)
def test_every_lineage_step_keeps_ids(slices, min_count, max_tokens, retire):
    spec = VocabSpec(min_count=min_count, max_tokens=max_tokens)
    corpus: list[str] = []
    chain = []
    for words in slices:
        corpus.append(" ".join(words))
        chain.append(build(corpus, spec, parent=chain[-1] if chain else None, retire=retire))
    for parent, child in itertools.pairwise(chain):
        result = diff_vocabularies(parent, child)
        assert result.moved == [] and result.removed == [] and result.reassigned == 0
        newly_retired = sorted(child.retired - parent.retired)
        assert [i for _, i, _ in result.retired] == newly_retired
        assert result.id_compatible == (not newly_retired)
        assert result.ancestry.relation in ("descendant", "identical")
        if not retire:
            assert result.id_compatible, result.summary()
    for vocab in chain:
        same = diff_vocabularies(vocab, vocab)
        assert same.added == same.removed == same.moved == same.retired == []
        assert same.id_compatible and same.ancestry.relation == "identical"
        assert same.kept == len(live(vocab))
    # Across the whole lineage too: the first version's tokens keep their ids.
    whole = diff_vocabularies(chain[0], chain[-1])
    assert whole.moved == [] and whole.removed == []
