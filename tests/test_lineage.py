"""Stable-id lineage: parent tokens keep their ids, new tokens append, nothing is reused."""

from __future__ import annotations

import collections
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, build_vocabulary
from vocabguard._src.core.vocabulary import Vocabulary, retired_key
from vocabguard.errors import LineageError


def build(texts, spec=None, **kwargs):
    return build_vocabulary(texts, spec or VocabSpec(), progress=False, **kwargs)


def learned_ids(vocab) -> dict:
    """``{token: id}`` of every reserved/learned row, retired ones included."""
    start = vocab.layout.reserved_start
    return {token: id_ for id_, token in enumerate(vocab.token_bytes, start=start)}


# A small alphabet so that growing slices share tokens, with skewed counts.
WORDS = st.lists(st.sampled_from([f"w{i}" for i in range(30)]), min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    slices=st.lists(WORDS, min_size=2, max_size=4),
    min_count=st.integers(1, 3),
    max_tokens=st.one_of(st.none(), st.integers(1, 25)),
    retire=st.booleans(),
)
def test_lineage_keeps_ids_and_never_reuses(slices, min_count, max_tokens, retire):
    spec = VocabSpec(min_count=min_count, max_tokens=max_tokens)
    corpus: list[str] = []
    parent = None
    for words in slices:
        corpus.append(" ".join(words))
        vocab = build(corpus, spec, parent=parent, retire=retire)
        if parent is not None:
            old, new = learned_ids(parent), learned_ids(vocab)
            # Every parent token keeps its id; ids are never reused.
            assert all(new[token] == id_ for token, id_ in old.items())
            assert len(set(new.values())) == len(new)
            # input_dim never shrinks; new ids come after the parent's last one.
            assert vocab.input_dim >= parent.input_dim
            assert min(set(new.values()) - set(old.values()), default=parent.input_dim) >= (
                parent.layout.used_ids
            )
            # Once retired, always retired; only learned rows are retired.
            assert parent.retired <= vocab.retired
            if not retire:
                assert vocab.retired == parent.retired
            if max_tokens is not None:
                assert vocab.layout.num_learned <= max(max_tokens, parent.layout.num_learned)
            assert vocab.parent == {
                "ref": None,
                "fingerprint": parent.fingerprint,
                "input_dim": parent.input_dim,
            }
        # Every id emitted lies in [0, input_dim), and retired tokens map to OOV.
        ids = np.concatenate(vocab.encode([*corpus, "unseen words here"]) or [[0]])
        assert ids.min() >= 0 and ids.max() < vocab.input_dim
        assert not set(ids.tolist()) & vocab.retired
        parent = vocab


def test_new_tokens_follow_the_usual_order_after_the_parent():
    v1 = build(["b b a"])
    v2 = build(["b b a", "d d d c c e e e"], parent=v1)
    # Parent rows first (b, a), then the new ones by count descending, ties by bytes.
    assert v2.tokens[2:] == ["b", "a", "d", "e", "c"]
    assert v2.token_to_id("a") == v1.token_to_id("a") == 3


def test_tokens_below_min_count_keep_ids_unless_retired():
    spec = VocabSpec(min_count=2)
    v1 = build(["x x y y z z"], spec)
    slice2 = ["x x y z z w w"]  # y fell to 1
    kept = build(slice2, spec, parent=v1)
    assert kept.token_to_id("y") == v1.token_to_id("y")
    assert not kept.retired

    retired = build(slice2, spec, parent=v1, retire=True)
    y = v1.token_to_id("y")
    assert retired.retired == {y}
    assert retired.token_to_id("y") == 1  # OOV now
    assert retired.tokens[y] == "y"  # the row is reserved, not reassigned
    assert retired.token_to_id("w") == v1.input_dim  # appended, y's row is not reused
    assert retired.encode(["y x"])[0].tolist() == [1, v1.token_to_id("x")]
    assert retired.id_to_token(y) == "[UNK]"
    # Retiring changes the ids, so it changes the fingerprint.
    assert retired.fingerprint != kept.fingerprint
    assert retired.contract()["retired_ids"] == [y]
    # A retired row stays retired in later versions, even when the token comes back.
    later = build([*slice2, "y y y y"], spec, parent=retired)
    assert later.retired == {y} and later.token_to_id("y") == 1


def test_lookup_keys_stand_in_for_retired_rows():
    spec = VocabSpec(min_count=2)
    v1 = build(["x x y y"], spec)
    v2 = build(["x x y"], spec, parent=v1, retire=True)
    y = v1.token_to_id("y")
    keys = v2.lookup_keys
    assert keys[y - v2.layout.reserved_start] == retired_key(y)
    assert v2.token_bytes[y - v2.layout.reserved_start] == b"y"


def test_capacity_stays_until_exhausted_then_suggests_a_new_one():
    spec = VocabSpec(capacity=8)
    v1 = build(["a b c"], spec)
    v2 = build(["a b c d e"], spec, parent=v1)
    assert v1.input_dim == v2.input_dim == 8
    with pytest.raises(LineageError) as info:
        build(["a b c d e f g h"], spec, parent=v2)
    message = str(info.value)
    assert "capacity 8 is exhausted" in message
    assert "uses 7 ids and this build adds 3 new tokens, 10 ids in all" in message
    assert "--capacity 13" in message
    assert message.endswith("Received: capacity=8, needed_ids=10, new_tokens=3")
    assert pickle.loads(pickle.dumps(info.value)).needed_ids == 10


def test_child_inherits_capacity_and_never_shrinks():
    v1 = build(["a b"], VocabSpec(capacity=10))
    v2 = build(["a b c"], VocabSpec(), parent=v1)
    assert v2.input_dim == 10 and v2.spec.capacity == 10
    with pytest.raises(LineageError, match=r"capacity 6 is smaller than .* input_dim 10"):
        build(["a b c"], VocabSpec(capacity=6), parent=v1)


def test_spec_that_changes_token_meaning_is_refused():
    v1 = build(["A b"], VocabSpec(lowercase=True))
    with pytest.raises(LineageError) as info:
        build(["A b"], VocabSpec(lowercase=False), parent=v1)
    assert "`lowercase` differs from" in str(info.value)
    assert str(info.value).endswith("Received: lowercase=False, parent_lowercase=True")
    with pytest.raises(LineageError, match="num_oov_buckets"):
        build(["a"], VocabSpec(lowercase=True, num_oov_buckets=2), parent=v1)
    # Fields that only select tokens may change along a lineage.
    child = build(["a b b"], VocabSpec(lowercase=True, min_count=2), parent=v1)
    assert child.token_to_id("a") == v1.token_to_id("a")


def test_integer_lineage_and_retire_refused():
    spec = VocabSpec(tokenizer="none", min_count=2)
    v1 = build([5, 5, 7, 7], spec)
    v2 = build([5, 5, 7, 9, 9], spec, parent=v1)
    assert v2.tokens[2:] == [5, 7, 9]
    with pytest.raises(Exception, match="Integer vocabularies cannot retire ids"):
        build([5, 5, 7], spec, parent=v1, retire=True)


def test_lineage_round_trips_through_the_store(store):
    spec = VocabSpec(min_count=2)
    v1 = store.publish(build(["x x y y z z"], spec), "news")
    v2 = store.publish(build(["x x y z z w w"], spec, parent=v1, retire=True), "news")
    loaded = store.load("news@v2")
    assert loaded.fingerprint == v2.fingerprint
    assert loaded.retired == v2.retired == {v1.token_to_id("y")}
    assert loaded.parent == {"ref": "news@v1", "fingerprint": v1.fingerprint, "input_dim": 5}
    manifest = store.manifest("news@v2")
    assert manifest["parent"]["ref"] == "news@v1" and manifest["num_retired"] == 1
    assert manifest["vocab_txt"]["written"] is False
    assert "retired row(s) must match no token" in manifest["vocab_txt"]["reason"]
    assert loaded.encode(["y w"])[0].tolist() == [1, 5]


def test_tf_lookup_agrees_on_retired_rows():
    import tensorflow as tf

    from vocabguard.tf import encode_fn

    spec = VocabSpec(min_count=2)
    v1 = build(["x x y y z z"], spec)
    v2 = build(["x x y z z w w"], spec, parent=v1, retire=True)
    texts = ["y x w q", "z y"]
    expected = [row.tolist() for row in v2.encode(texts)]
    assert encode_fn(v2)(tf.constant(texts)).to_list() == expected


def test_growing_counts_match_a_fresh_build_when_nothing_moves():
    # With no earlier version, a lineage build equals a plain build.
    corpus = ["a b b c c c"]
    plain = build(corpus)
    assert Vocabulary.from_counts(collections.Counter(), VocabSpec()).input_dim == 2
    child = build(corpus, parent=build([""]))
    assert child.tokens == plain.tokens


def test_cli_build_with_parent_and_retire(tmp_path, capsys):
    from vocabguard import VocabStore
    from vocabguard.cli import main

    (tmp_path / "s1.txt").write_text("a a b b c c\n", encoding="utf-8")
    (tmp_path / "s2.txt").write_text("a a b c c d d d\n", encoding="utf-8")
    store = str(tmp_path / "st")
    assert (
        main(
            [
                "build",
                "--store",
                store,
                "--name",
                "n",
                "--input",
                str(tmp_path / "s1.txt"),
                "--min-count",
                "2",
            ]
        )
        == 0
    )
    # The spec defaults to the parent's (min_count 2 here, without repeating the flag).
    assert (
        main(
            [
                "build",
                "--store",
                store,
                "--name",
                "n",
                "--input",
                str(tmp_path / "s2.txt"),
                "--parent",
                "n@v1",
                "--retire",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "parent n@v1: every id kept; 1 new tokens appended, 1 retired rows" in err
    v1, v2 = VocabStore(store).load("n@v1"), VocabStore(store).load("n@v2")
    assert v2.spec.min_count == 2 and v2.retired == {v1.token_to_id("b")}
    assert (
        main(
            [
                "build",
                "--store",
                store,
                "--name",
                "n",
                "--input",
                str(tmp_path / "s2.txt"),
                "--retire",
            ]
        )
        == 1
    )
    assert "--retire needs --parent" in capsys.readouterr().err


def test_keras_string_lookup_agrees_on_retired_rows():
    from vocabguard.keras import string_lookup

    spec = VocabSpec(min_count=2)
    v1 = build(["x x y y z z"], spec)
    v2 = build(["x x y z z w w"], spec, parent=v1, retire=True)
    tokens = ["y", "x", "w", "q", "z"]
    layer = string_lookup(v2)
    assert np.asarray(layer(tokens)).tolist() == v2.lookup(tokens).tolist()
    assert v2.lookup(["y"]).tolist() == [1]
