"""Tokens stay columns from selection to lookup: the columnar fingerprint equals the
per-token definition, ``vocabulary_from_counts`` on Arrow arrays equals
``Vocabulary.from_counts`` on a dict, the lookup index is exact under hash collisions
and built once per vocabulary."""

from __future__ import annotations

import hashlib
import json
import threading

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, Vocabulary, build_vocabulary
from vocabguard._src.core import token_index, vocabulary
from vocabguard._src.core.token_index import TokenIndex
from vocabguard._src.core.vocabulary import compute_fingerprint, vocabulary_from_counts


def reference_fingerprint(contract: dict, tokens: list) -> str:
    """The fingerprint's definition, one token at a time (as vocabguard computed it
    before tokens became columns)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(contract, sort_keys=True, ensure_ascii=True).encode())
    for token in tokens:
        raw = token.to_bytes(8, "little", signed=True) if isinstance(token, int) else token
        digest.update(len(raw).to_bytes(8, "little"))
        digest.update(raw)
    return digest.hexdigest()


@settings(max_examples=60, deadline=None)
@given(
    tokens=st.lists(st.binary(max_size=12), max_size=40)
    | st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40),
    start=st.integers(0, 3),
)
def test_columnar_fingerprint_equals_the_per_token_definition(tokens, start):
    integer = bool(tokens) and isinstance(tokens[0], int)
    array = pa.array(tokens, type=pa.int64() if integer else pa.binary())
    want = reference_fingerprint({"k": 1}, tokens[start:])
    assert compute_fingerprint({"k": 1}, array.slice(start)) == want  # a sliced array too
    # Chunk boundaries do not change it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vocabulary, "_FINGERPRINT_CHUNK", 3)
        assert compute_fingerprint({"k": 1}, array.slice(start)) == want


@settings(max_examples=40, deadline=None)
@given(
    counts=st.dictionaries(st.binary(max_size=3), st.integers(1, 6), max_size=30),
    min_count=st.integers(1, 3),
    max_tokens=st.none() | st.integers(1, 10),
    docs=st.lists(st.integers(0, 6), min_size=30, max_size=30),
)
def test_vocabulary_from_counts_on_arrays_equals_from_counts_on_a_dict(
    counts, min_count, max_tokens, docs
):
    spec = VocabSpec(
        min_count=min_count, max_tokens=max_tokens, num_oov_buckets=2, min_document_count=2
    )
    keys = list(counts)
    documents = dict(zip(keys, docs))
    stats = {"documents": 10}
    want = Vocabulary.from_counts(counts, spec, stats=stats, document_counts=documents)
    got = vocabulary_from_counts(
        pa.array(keys, pa.binary()),
        pa.array([counts[k] for k in keys], pa.int64()),
        spec,
        document_counts=np.array([documents[k] for k in keys], dtype=np.int64),
        stats=stats,
    )
    assert got.fingerprint == want.fingerprint
    assert got.token_bytes == want.token_bytes
    assert got.counts == want.counts and got.document_counts == want.document_counts
    assert got.stats == want.stats


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.binary(max_size=3), max_size=30),
    probes=st.lists(st.binary(max_size=3), max_size=30),
    buckets=st.sampled_from([1, 2, 1 << 64]),
)
def test_token_index_is_exact_when_hashes_collide(keys, probes, buckets):
    """With hashes cut to 1 or 2 values every key collides: hits are byte-checked, and
    the first row holding a key is found, as with ``pc.index_in``."""
    real = token_index.hash64
    with pytest.MonkeyPatch.context() as patch:
        cut = (
            (lambda v: real(v)) if buckets == 1 << 64 else (lambda v: real(v) % np.uint64(buckets))
        )
        patch.setattr(token_index, "hash64", cut)
        index = TokenIndex(pa.array(keys, pa.binary()))
        probes = probes + keys
        got = index.rows(pa.array(probes, pa.binary())).tolist()
    first = {}
    for row, key in enumerate(keys):
        first.setdefault(key, row)
    assert got == [first.get(p, -1) for p in probes]


def test_lookup_builds_its_index_once_per_vocabulary(monkeypatch):
    """Every lookup, encode and token_to_id call of one vocabulary shares one index:
    a batch costs the batch, not the vocabulary. (Counts builds, no timing.)"""
    builds = []

    class Counting(TokenIndex):
        def __init__(self, keys):
            builds.append(len(keys))
            super().__init__(keys)

    monkeypatch.setattr(vocabulary, "TokenIndex", Counting)
    vocab = build_vocabulary(["a b b c", "d a"], VocabSpec(num_oov_buckets=3), progress=False)
    assert builds == []  # lazily: building the vocabulary builds no index
    for _ in range(3):
        vocab.lookup(["a", "zz", "b"])
        vocab.encode(["a b zz"])
        vocab.token_to_id("c")
    threads = [threading.Thread(target=vocab.lookup, args=(["d"] * 100,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [len(vocab) - vocab.num_oov_buckets]  # once: pad + the tokens
    want = [vocab.tokens.index("a"), vocab.token_to_id("zz"), 0]
    assert vocab.lookup(["a", "zz", "[PAD]"]).tolist() == want


def test_copies_share_the_index_and_pickles_rebuild_it(monkeypatch):
    import copy
    import pickle

    builds = []

    class Counting(TokenIndex):
        def __init__(self, keys):
            builds.append(1)
            super().__init__(keys)

    monkeypatch.setattr(vocabulary, "TokenIndex", Counting)
    vocab = build_vocabulary(["x y y"], VocabSpec(), progress=False)
    vocab.lookup(["x"])
    copy.copy(vocab).lookup(["y"])
    assert len(builds) == 1
    clone = pickle.loads(pickle.dumps(vocab))
    assert clone.lookup(["y", "x", "q"]).tolist() == [2, 3, 1]
    assert len(builds) == 2


@pytest.mark.parametrize("kind", ["string", "int64"])
def test_vocabulary_keeps_columns(kind):
    values = ["b a a", "c"] if kind == "string" else [5, 5, 9]
    spec = VocabSpec() if kind == "string" else VocabSpec(tokenizer="none")
    vocab = build_vocabulary(values, spec, progress=False)
    assert isinstance(vocab.token_array, pa.Array)
    assert vocab.token_array.type == (pa.binary() if kind == "string" else pa.int64())
    assert vocab.count_array.dtype == np.int64
    assert vocab.token_array.to_pylist() == vocab.token_bytes


@pytest.mark.parametrize(
    "values, spec",
    [
        (["the cat", "the dog", "a cat"], VocabSpec(num_oov_buckets=2)),
        ([7, 7, 3, 9], VocabSpec(tokenizer="none")),
        (["a b", "b c", "c d a"], VocabSpec(min_document_count=2)),
        (["fr", None, "de", "fr"], VocabSpec(tokenizer="none", missing="token")),
    ],
    ids=["string", "int64", "documents", "missing"],
)
def test_build_publish_load_lookup_never_list_the_tokens(tmp_path, monkeypatch, values, spec):
    """The list properties (a Python object per token) are for small API uses: build,
    publish, load and lookup, of a root and of a lineage child, never call them."""
    from vocabguard import VocabStore

    for name in ("tokens", "token_bytes", "lookup_keys", "counts", "document_counts"):

        def refuse(self, name=name):
            raise AssertionError(f"a hot path called Vocabulary.{name}")

        monkeypatch.setattr(Vocabulary, name, property(refuse))
    store = VocabStore(tmp_path)
    root = store.publish(build_vocabulary(values, spec, progress=False), "v")
    loaded = store.load("v")
    assert loaded.fingerprint == root.fingerprint
    store.verify("v")
    child = build_vocabulary(values + values[:2], spec, parent=loaded, progress=False)
    again = store.load(store.publish(child, "v").ref)
    probe = [v for v in values if v is not None]
    assert again.lookup(probe).tolist() == loaded.lookup(probe).tolist()


@settings(max_examples=100, deadline=None)
@given(
    counts=st.dictionaries(
        st.lists(st.sampled_from([b"a", b"b", b"\x00", b"\xff"]), max_size=12).map(b"".join),
        st.integers(1, 3),
        max_size=40,
    ),
)
def test_rule_order_matches_the_python_rule_on_long_shared_prefixes(counts):
    """Tokens longer than the 8-byte sort prefix, sharing it, with zero bytes and
    0xFF: the columnar order equals sorting by (count desc, bytes asc)."""
    from vocabguard._src.core.layout import order_key, rule_order

    keys = list(counts)
    order = rule_order(pa.array(keys, pa.binary()), np.array([counts[k] for k in keys]))
    got = [keys[i] for i in order]
    assert got == [t for t, _ in sorted(counts.items(), key=order_key)]


def test_inspect_rows_read_only_the_asked_rows(tmp_path, capsys, monkeypatch):
    """``inspect --token/--id/--rows`` answers from a filtered read of tokens.parquet:
    the same rows as the loaded Vocabulary gives, and nothing loads the version."""
    from vocabguard import VocabStore
    from vocabguard._src.core import artifact
    from vocabguard.cli import main
    from vocabguard.cli.store import describe_id, row_table

    store = VocabStore(tmp_path)
    vocab = build_vocabulary(["the cat sat", "the dog", "zebra the"], VocabSpec(capacity=20))
    child = build_vocabulary(["the cat", "new new"], VocabSpec(min_count=2), parent=vocab)
    store.publish(vocab, "v")
    child = store.load(store.publish(child, "v").ref)
    tokens, ids = ["the", "cat", "nope", "new"], [0, 1, 3, 4, 19, 25]
    rows = artifact.VersionRows.read(
        store.fs,
        store.path("v@v2"),
        child.manifest,
        tokens=[t.encode() for t in tokens],
        ids=[*ids, *range(2, 6)],
    )
    assert row_table(rows, rows="2:6", tokens=tokens, ids=ids) == row_table(
        child, rows="2:6", tokens=tokens, ids=ids
    )
    assert describe_id(rows, 3)["kind"] == describe_id(child, 3)["kind"]

    def refuse(*args, **kwargs):
        raise AssertionError("inspect --token loaded the whole version")

    monkeypatch.setattr(artifact, "load_version", refuse)
    monkeypatch.setattr(VocabStore, "load", refuse)
    argv = ["--store", str(tmp_path), "inspect", "v@v2", "--no-verify", "--token", "cat"]
    assert main([*argv, "--id", "4", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the title line
    want = [("cat", child.token_to_id("cat")), (child.id_to_token(4), 4)]
    assert [(r["token"], r["id"]) for r in printed] == want


@settings(max_examples=80, deadline=None)
@given(
    tokens=st.lists(
        st.binary(max_size=6)
        | st.text(alphabet=st.sampled_from("ab \n\r\x0b\x1c\x85\u2028\u2029é"), max_size=5).map(
            str.encode
        ),
        max_size=30,
    )
)
def test_unsafe_vocab_txt_lines_found_over_the_column_as_one_by_one(tokens):
    from vocabguard._src.core.artifact import _unsafe_lines, unsafe_text_line

    got = _unsafe_lines(pa.array(tokens, pa.binary())).tolist()
    assert got == [i for i, t in enumerate(tokens) if unsafe_text_line(t)]
