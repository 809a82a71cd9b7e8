"""Every input form of ``Vocabulary.lookup`` gives the same ids: lists, numpy arrays
(``str``, ``bytes``, object, integer), Arrow arrays (string, binary, large, dictionary,
chunked, lists), in one batch or many; each equals the id contract computed token by
token; and a batch only ever hashes the batch, never the vocabulary again."""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, Vocabulary
from vocabguard._src.core import token_index
from vocabguard._src.core import vocabulary as vocabulary_module
from vocabguard._src.core.layout import oov_bucket
from vocabguard._src.core.token_index import TokenIndex

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=6)


def contract_ids(vocab: Vocabulary, tokens: list) -> list[int]:
    """The id contract one token at a time: 0 for the pad token, ``reserved_start + i``
    for the i-th reserved or learned token (first occurrence), else the token's OOV
    bucket (``1 + Fingerprint64 % k``, as Keras)."""
    keys = vocab.token_array.to_pylist()
    first: dict = {}
    for row, key in enumerate(keys):
        first.setdefault(key, vocab.layout.reserved_start + row)
    want = []
    for token in tokens:
        key = token.encode() if isinstance(token, str) else token
        if key == vocab.pad_token.encode():
            want.append(0)
        else:
            want.append(first.get(key, oov_bucket(key, vocab.num_oov_buckets)))
    return want


def string_vocabulary(tokens: list[str], buckets: int) -> Vocabulary:
    counts = {t.encode(): len(tokens) - i for i, t in enumerate(dict.fromkeys(tokens))}
    return Vocabulary.from_counts(counts, VocabSpec(tokenizer="none", num_oov_buckets=buckets))


@settings(max_examples=80, deadline=None)
@given(
    known=st.lists(TEXT, min_size=1, max_size=25),
    unknown=st.lists(TEXT, max_size=10),
    buckets=st.sampled_from([1, 3]),
    cut=st.integers(1, 9),
    data=st.data(),
)
def test_every_string_input_form_gives_the_contract_ids(known, unknown, buckets, cut, data):
    vocab = string_vocabulary(known, buckets)
    probe = data.draw(st.permutations(known + unknown + ["[PAD]", "[UNK]"]))
    want = contract_ids(vocab, probe)
    arrow = pa.array(probe, pa.string())
    forms = {
        "list of str": probe,
        "list of bytes": [t.encode() for t in probe],
        "tuple": tuple(probe),
        "numpy object": np.array(probe, dtype=object),
        "numpy object of bytes": np.array([t.encode() for t in probe], dtype=object),
        "arrow string": arrow,
        "arrow binary": arrow.cast(pa.binary()),
        "arrow large_string": arrow.cast(pa.large_string()),
        "arrow large_binary": arrow.cast(pa.large_binary()),
        "arrow dictionary": arrow.dictionary_encode(),
        "arrow sliced": pa.array(["pre", *probe]).slice(1),
        "arrow chunked": pa.chunked_array([arrow.slice(0, cut), arrow.slice(cut)]),
    }
    for name, tokens in forms.items():
        assert vocab.lookup(tokens).tolist() == want, name
    # numpy's fixed-width str and bytes drop trailing NULs, as their elements do.
    for array in (np.array(probe), np.array([t.encode() for t in probe], dtype=bytes)):
        assert vocab.lookup(array).tolist() == contract_ids(vocab, array.tolist())
    # Batches of any size: the same ids as one batch, against the one shared index.
    batches = [arrow.slice(i, cut) for i in range(0, len(arrow), cut)]
    assert np.concatenate([vocab.lookup(b) for b in batches]).tolist() == want
    # Nested: a list of lists, and Arrow list and large_list arrays.
    rows = [probe[i : i + cut] for i in range(0, len(probe), cut)]
    for nested in (rows, pa.array(rows), pa.array(rows, pa.large_list(pa.string()))):
        assert [r.tolist() for r in vocab.lookup(nested)] == [
            want[i : i + cut] for i in range(0, len(probe), cut)
        ]


@settings(max_examples=60, deadline=None)
@given(
    known=st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=20),
    unknown=st.lists(st.integers(-(2**40), 2**40), max_size=10),
    buckets=st.sampled_from([1, 3]),
)
def test_every_integer_input_form_gives_the_contract_ids(known, unknown, buckets):
    counts = {t: len(known) - i for i, t in enumerate(dict.fromkeys(known))}
    vocab = Vocabulary.from_counts(
        counts, VocabSpec(tokenizer="none", num_oov_buckets=buckets), token_type="int64"
    )
    probe = known + unknown
    start = vocab.layout.reserved_start
    rows = {t: start + i for i, t in reversed(list(enumerate(vocab.token_array.to_pylist())))}
    want = [rows.get(t, 1 + t % buckets) for t in probe]
    forms = {
        "list": probe,
        "numpy int64": np.array(probe, dtype=np.int64),
        "numpy object": np.array(probe, dtype=object),
        "arrow int64": pa.array(probe, pa.int64()),
    }
    small = [t for t in probe if -(2**31) <= t < 2**31]
    for name, tokens in forms.items():
        assert vocab.lookup(tokens).tolist() == want, name
    assert vocab.lookup(np.array(small, dtype=np.int32)).tolist() == vocab.lookup(small).tolist()


@pytest.mark.parametrize(
    "tokens, error",
    [
        (["a", 1], "Expected a str or bytes token. Received: token=1"),
        (np.array(["a", 1.5], dtype=object), "Expected a str or bytes token. Received: token=1.5"),
        (np.array([1, 2]), "Expected a str or bytes token. Received: token=np.int64(1)"),
        (["a", "b\ud800"], "surrogates not allowed"),
    ],
    ids=["int in list", "float in object array", "integer array", "lone surrogate"],
)
def test_a_bad_token_is_named_whatever_the_input_form(tokens, error):
    vocab = string_vocabulary(["a", "b"], 1)
    with pytest.raises((TypeError, UnicodeEncodeError)) as caught:
        vocab.lookup(tokens)
    assert error in str(caught.value)


@pytest.mark.parametrize(
    "tokens, error",
    [
        ([1, True], "Expected an integer token. Received: token=True"),
        (np.array([1.0, 2.0]), "Expected an integer token. Received: token=np.float64(1.0)"),
        (["7"], "Expected an integer token. Received: token='7'"),
    ],
    ids=["bool", "floats", "str"],
)
def test_a_bad_integer_token_is_named_whatever_the_input_form(tokens, error):
    vocab = Vocabulary.from_counts({7: 2}, VocabSpec(tokenizer="none"), token_type="int64")
    with pytest.raises(TypeError) as caught:
        vocab.lookup(tokens)
    assert error in str(caught.value)


def test_a_batch_hashes_only_the_batch(monkeypatch):
    """After the index is built, each lookup hashes its own values once: what a batch
    costs follows the batch, not the vocabulary (counted, not timed)."""
    hashed = []
    real = token_index.hash64

    def counting(values):
        hashed.append(len(values))
        return real(values)

    monkeypatch.setattr(token_index, "hash64", counting)
    vocab = string_vocabulary([f"t{i}" for i in range(5000)], 3)
    vocab.lookup(["t1"])
    assert hashed == [5001, 1]  # the build (pad + tokens), then the first batch
    for form in (["t5", "zz"] * 500, np.array(["t7"] * 1000), pa.array(["t9"] * 1000)):
        hashed.clear()
        vocab.lookup(form)
        assert hashed == [1000]


def weak_hash(kind: str):
    """A stand-in for ``token_index.hash64`` that makes tokens collide: ``length`` gives
    every token of a length the same hash, ``constant`` gives all tokens one hash."""

    def hashed(values: pa.Array) -> np.ndarray:
        if kind == "constant":
            return np.full(len(values), 12345, dtype=np.uint64)
        lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
        return lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)

    return hashed


@settings(max_examples=80, deadline=None)
@given(
    known=st.lists(TEXT, min_size=1, max_size=30),
    unknown=st.lists(st.one_of(TEXT, st.binary(max_size=5)), max_size=15),
    buckets=st.sampled_from([1, 3]),
    hashing=st.sampled_from(["real", "length", "constant"]),
    data=st.data(),
)
def test_small_and_large_batches_agree_with_a_dict(known, unknown, buckets, hashing, data):
    """Batches of one and one batch of everything, from a list, a numpy object array and
    a sliced Arrow array, give the dict reference's ids, even when tokens' hashes collide
    with others': a hash match is a hit only when the bytes agree."""
    real = token_index.hash64
    with mock.patch.object(
        token_index, "hash64", real if hashing == "real" else weak_hash(hashing)
    ):
        vocab = string_vocabulary(known, buckets)
        probe = [t if isinstance(t, bytes) else t.encode() for t in known + unknown]
        probe = data.draw(st.permutations([*probe, b"[PAD]", b"[UNK]"]))
        want = contract_ids(vocab, probe)
        arrow = pa.array([b"pre", *probe], pa.binary()).slice(1)  # an offset, as slices have
        assert vocab.lookup(arrow).tolist() == want
        assert vocab.lookup(np.array(probe, dtype=object)).tolist() == want
        assert vocab.lookup(list(probe)).tolist() == want
        assert [vocab.lookup(probe[i : i + 1])[0] for i in range(len(probe))] == want
        assert [vocab.lookup(arrow.slice(i, 1))[0] for i in range(len(probe))] == want
        assert all(0 <= i < vocab.input_dim for i in want)


def test_the_index_is_built_once_per_vocabulary():
    """Every lookup, of any form and size and from any thread, shares one index; a copy
    shares it too; only an unpickled vocabulary builds its own."""
    built = []

    class Counting(TokenIndex):
        def __init__(self, keys):
            built.append(len(keys))
            super().__init__(keys)

    with mock.patch.object(vocabulary_module, "TokenIndex", Counting):
        vocab = string_vocabulary([f"t{i}" for i in range(300)], 3)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: vocab.lookup(["t1", "zz"]), range(8)))
        for form in (["t5"] * 1000, np.array(["t7"], dtype=object), pa.array(["t9"] * 20000)):
            vocab.lookup(form)
        assert vocab.token_to_id("t3") == vocab.lookup(["t3"])[0]
        assert copy.copy(vocab).lookup_index() is vocab.lookup_index()
        assert built == [301]  # pad + 300 tokens, once
        pickle.loads(pickle.dumps(vocab)).lookup(["t1"])
        assert built == [301, 301]
