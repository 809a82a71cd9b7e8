"""Vocabulary: encode / lookup / decode, integer and categorical vocabularies, stats, input errors."""

from __future__ import annotations

import collections

import farmhash
import numpy as np
import pytest

from vocabguard import VocabSpec, build_vocabulary
from vocabguard._src.core.layout import oov_bucket
from vocabguard.errors import IdRangeError, InputDataError, SpecError

CORPUS = ["the cat sat", "the dog sat on the mat", "a cat", ""]


def build(values, **spec):
    return build_vocabulary(values, VocabSpec(**spec), progress=False)


def ids_of(vocab, tokens: list) -> list[int]:
    """Ids by position in ``vocab.tokens`` (first occurrence), the layout read directly."""
    return [vocab.tokens.index(t) for t in tokens]


# -- encode / lookup --


@pytest.mark.parametrize("id_dtype", ["int32", "int64"])
def test_encode_ragged(id_dtype):
    vocab = build(CORPUS, id_dtype=id_dtype)
    rows = vocab.encode(["the cat", "mat zzz the", ""])
    assert isinstance(rows, list) and len(rows) == 3
    assert all(row.dtype == np.dtype(id_dtype) for row in rows)
    assert rows[0].tolist() == ids_of(vocab, ["the", "cat"])
    assert rows[1].tolist() == [vocab.tokens.index("mat"), 1, vocab.tokens.index("the")]
    assert rows[2].tolist() == []


@pytest.mark.parametrize("id_dtype", ["int32", "int64"])
def test_encode_pads_and_truncates_to_sequence_length(id_dtype):
    vocab = build(CORPUS, sequence_length=4, id_dtype=id_dtype)
    texts = ["the cat", "the dog sat on the mat", "", "a b c d"]
    out = vocab.encode(texts)
    assert isinstance(out, np.ndarray)
    assert out.shape == (4, 4) and out.dtype == np.dtype(id_dtype)
    for text, row in zip(texts, out):
        tokens = text.split()[:4]
        expected = [vocab.token_to_id(t) for t in tokens] + [0] * (4 - len(tokens))
        assert row.tolist() == expected
    assert out[0, 2:].tolist() == [0, 0]  # padding is id 0
    assert out[2].tolist() == [0, 0, 0, 0]
    assert out[1].tolist() == ids_of(vocab, ["the", "dog", "sat", "on"])  # truncated


def test_lookup_flat_and_nested():
    vocab = build(CORPUS)
    flat = vocab.lookup(["the", "nope", "[PAD]", b"cat"])
    assert isinstance(flat, np.ndarray) and flat.dtype == np.int32
    assert flat.tolist() == [vocab.tokens.index("the"), 1, 0, vocab.tokens.index("cat")]
    nested = vocab.lookup([["the", "cat"], [], ["mat"]])
    assert [r.tolist() for r in nested] == [
        ids_of(vocab, ["the", "cat"]),
        [],
        ids_of(vocab, ["mat"]),
    ]
    padded = build(CORPUS, sequence_length=3).lookup([["the", "cat"], ["a", "a", "a", "a"]])
    assert padded.tolist() == [
        [*ids_of(vocab, ["the", "cat"]), 0],
        ids_of(vocab, ["a", "a", "a"]),
    ]


def test_lookup_and_encode_agree_with_token_to_id():
    vocab = build(CORPUS, num_oov_buckets=4, reserved_tokens=["[CLS]"])
    tokens = "[CLS] the zzz [PAD] cat [UNK] dog qq".split()
    expected = [vocab.token_to_id(t) for t in tokens]
    assert vocab.lookup(tokens).tolist() == expected
    assert vocab.encode([" ".join(tokens)])[0].tolist() == expected


def test_encode_applies_the_spec_tokenizer():
    vocab = build(["Hello World", "hello"], lowercase=True)
    assert vocab.tokens == ["[PAD]", "[UNK]", "hello", "world"]
    assert vocab.encode(["HELLO\u00a0wOrLd"])[0].tolist() == [2, 3]


def test_max_token_bytes_keeps_long_tokens_oov():
    vocab = build(["ab abc abcd abcd é"], max_token_bytes=3)
    assert vocab.tokens[2:] == sorted(
        [t for t in {"ab", "abc", "é"}], key=lambda t: t.encode("utf-8")
    )
    assert vocab.token_to_id("abcd") == 1


# -- pad, OOV and reserved tokens --


def test_pad_token_string_maps_to_zero():
    vocab = build(["[PAD] a [PAD] b"])
    assert "[PAD]" not in vocab.tokens[1:]
    assert vocab.token_to_id("[PAD]") == 0
    assert vocab.encode(["a [PAD] b"])[0].tolist() == [
        vocab.tokens.index("a"),
        0,
        vocab.tokens.index("b"),
    ]
    assert vocab.decode([0, 2], skip_pad=False) == ["[PAD]", vocab.tokens[2]]


def test_custom_pad_token():
    vocab = build(["<pad> a [PAD] [PAD]"], pad_token="<pad>")
    assert vocab.tokens[0] == "<pad>"
    assert "<pad>" not in vocab.tokens[1:]
    # With a custom pad token, '[PAD]' is an ordinary (learned) token.
    assert vocab.tokens[2] == "[PAD]"
    assert vocab.lookup(["<pad>", "[PAD]"]).tolist() == [0, 2]


@pytest.mark.parametrize("k", [1, 3, 7])
def test_oov_token_string_is_hashed_like_any_unknown_token(k):
    vocab = build(["[UNK] [UNK] [UNK] a"], num_oov_buckets=k)
    assert vocab.tokens == ["[PAD]"] + ["[UNK]"] * k + ["a"]
    expected = 1 + farmhash.fingerprint64(b"[UNK]") % k
    assert vocab.token_to_id("[UNK]") == expected
    assert vocab.lookup(["[UNK]"]).tolist() == [expected]
    assert vocab.encode(["[UNK] a"])[0].tolist() == [expected, k + 1]


def test_custom_oov_token():
    vocab = build(["<unk> [UNK] [UNK]"], oov_token="<unk>", num_oov_buckets=2)
    assert vocab.tokens == ["[PAD]", "<unk>", "<unk>", "[UNK]"]
    assert vocab.token_to_id("[UNK]") == 3
    assert vocab.token_to_id("<unk>") == oov_bucket(b"<unk>", 2)


def test_reserved_tokens_in_the_corpus_are_not_duplicated():
    corpus = ["a [CLS] b [CLS] a", "[SEP] a"]
    counts = collections.Counter(" ".join(corpus).split())
    vocab = build(corpus, reserved_tokens=["[MASK]", "[CLS]", "[SEP]"], num_oov_buckets=2)
    assert vocab.tokens == ["[PAD]", "[UNK]", "[UNK]", "[MASK]", "[CLS]", "[SEP]", "a", "b"]
    assert len(set(vocab.tokens[3:])) == len(vocab.tokens[3:])
    assert vocab.counts == [0, counts["[CLS]"], counts["[SEP]"], counts["a"], counts["b"]]
    assert vocab.lookup(["[MASK]", "[CLS]", "[SEP]"]).tolist() == [3, 4, 5]


def test_reserved_tokens_ignore_min_count_and_max_tokens():
    vocab = build(["x x x y y z"], reserved_tokens=["[CLS]"], min_count=2, max_tokens=1)
    assert vocab.tokens == ["[PAD]", "[UNK]", "[CLS]", "x"]


# -- decode --


def test_decode():
    vocab = build(CORPUS, num_oov_buckets=2)
    ids = vocab.encode(["the cat zzz"])[0]
    assert vocab.decode(ids) == ["the", "cat", "[UNK]"]
    assert vocab.decode([0, *ids.tolist(), 0]) == ["the", "cat", "[UNK]"]
    assert vocab.decode([0, 3], skip_pad=False) == ["[PAD]", vocab.tokens[3]]
    assert vocab.decode(np.array([[3, 0], [4, 1]])) == [
        [vocab.tokens[3]],
        [*vocab.tokens[4:5], "[UNK]"],
    ]
    assert vocab.decode([]) == []
    assert [vocab.id_to_token(i) for i in range(vocab.input_dim)] == vocab.tokens


@pytest.mark.parametrize("bad", ["input_dim", -1, 10**6])
def test_decode_out_of_range_raises(bad):
    vocab = build(CORPUS)
    value = vocab.input_dim if bad == "input_dim" else bad
    with pytest.raises(IdRangeError) as info:
        vocab.decode([2, value])
    message = str(info.value)
    assert message.startswith(f"Id {value} at position [1] is not in [0, {vocab.input_dim})")
    assert info.value.input_dim == vocab.input_dim
    assert info.value.cases == [((1,), value)]
    with pytest.raises(IdRangeError):
        vocab.id_to_token(value)
    with pytest.raises(IdRangeError):
        vocab.check_ids(np.array([value]))


# -- integer vocabularies --


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("id_dtype", ["int32", "int64"])
def test_integer_vocabulary(k, id_dtype):
    values = [5, 0, -1, 5, 7, -1, -1, 3, 7, 5, np.int64(3), 3]
    counts = collections.Counter(int(v) for v in values)
    vocab = build(values, tokenizer="none", num_oov_buckets=k, id_dtype=id_dtype)
    # The pad is the id 0, not a value: 0 is a category like any other; the OOV
    # label -1 is never learned.
    learned = sorted((v for v in counts if v != -1), key=lambda v: (-counts[v], v))
    assert 0 in learned
    assert vocab.token_type == "int64"
    assert vocab.tokens == [None] + [-1] * k + learned
    assert vocab.counts == [counts[v] for v in learned]
    ids = vocab.encode([-1, *learned, 99])
    assert ids.dtype == np.dtype(id_dtype)
    assert ids.tolist() == [
        oov_bucket(-1, k),
        *range(k + 1, k + 1 + len(learned)),
        oov_bucket(99, k),
    ]
    assert 0 not in ids.tolist()
    assert vocab.decode(ids, skip_pad=False) == [-1, *learned, -1]


def test_integer_vocabulary_custom_special_tokens():
    vocab = build([0, 0, 9, -1], tokenizer="none", pad_token=-100, oov_token=-200)
    assert vocab.tokens == [-100, -200, 0, -1, 9]
    assert vocab.lookup([-100, -200, 0]).tolist() == [0, 1, 2]


def test_integer_values_need_tokenizer_none():
    with pytest.raises(SpecError) as info:
        build([1, 2, 3])
    message = str(info.value)
    assert message.startswith("Integer values need `tokenizer: none`")
    assert message.endswith("Received: tokenizer='whitespace'")


# -- string categorical values (tokenizer none) --


def test_string_categorical():
    values = ["New York", "Paris", "New York", "new york", " ", "Paris", "New York"]
    counts = collections.Counter(values)
    vocab = build(values, tokenizer="none")
    learned = sorted(counts, key=lambda t: (-counts[t], t.encode("utf-8")))
    assert vocab.tokens == ["[PAD]", "[UNK]", *learned]
    ids = vocab.encode(["New York", "Berlin", "new york", "[PAD]"])
    assert isinstance(ids, np.ndarray) and ids.ndim == 1
    assert ids.tolist() == [*ids_of(vocab, ["New York"]), 1, *ids_of(vocab, ["new york"]), 0]


def test_string_categorical_lowercase_merges_values():
    vocab = build(["New York", "new york", "NEW YORK", "Paris"], tokenizer="none", lowercase=True)
    assert vocab.tokens == ["[PAD]", "[UNK]", "new york", "paris"]
    assert vocab.counts == [3, 1]


# -- stats --


def test_stats_on_a_small_corpus():
    corpus = ["the cat sat", "the dog [PAD] sat zzz", "", "cat cat [UNK]", "[CLS] the"]
    spec = VocabSpec(min_count=2, reserved_tokens=["[CLS]", "[SEP]"], num_oov_buckets=2)
    vocab = build_vocabulary(corpus, spec, progress=False)

    tokens = [t for text in corpus for t in text.split()]
    counts = collections.Counter(tokens)
    learned = [
        t for t, n in counts.items() if n >= 2 and t not in ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
    ]
    known = sum(counts[t] for t in ["[CLS]", "[SEP]", *learned])
    total = len(tokens)
    stats = vocab.stats
    assert stats["documents"] == len(corpus)
    assert stats["total_tokens"] == total
    assert stats["distinct_tokens"] == len(counts)
    assert stats["learned_tokens"] == len(learned)
    assert stats["coverage"] == pytest.approx(known / total)
    assert stats["oov_rate"] == pytest.approx((total - known - counts["[PAD]"]) / total)

    # Cross-check against the ids the vocabulary actually emits for the corpus.
    ids = np.concatenate(vocab.encode(corpus))
    assert ids.size == total
    assert stats["oov_rate"] == pytest.approx(np.isin(ids, list(vocab.oov_ids)).mean())
    assert stats["coverage"] == pytest.approx((ids > vocab.num_oov_buckets).mean())


def test_stats_of_an_empty_input():
    vocab = build([])
    assert vocab.stats["documents"] == 0
    assert vocab.stats["total_tokens"] == 0
    assert (vocab.stats["coverage"], vocab.stats["oov_rate"]) == (0.0, 0.0)
    assert vocab.tokens == ["[PAD]", "[UNK]"]


# -- build inputs --


@pytest.mark.parametrize("batch_size", [1, 2, 8192])
def test_build_over_a_generator(batch_size):
    lines = [f"w{i % 5} w{i % 3} common" for i in range(23)]
    expected = build_vocabulary(lines, VocabSpec(), progress=False)
    vocab = build_vocabulary(
        (line for line in lines), VocabSpec(), progress=False, batch_size=batch_size
    )
    assert vocab.tokens == expected.tokens
    assert vocab.counts == expected.counts
    assert vocab.fingerprint == expected.fingerprint
    assert vocab.stats["documents"] == len(lines)
    counts = collections.Counter(" ".join(lines).split())
    assert vocab.tokens[2:] == sorted(counts, key=lambda t: (-counts[t], t.encode()))


def test_bytes_and_str_values_are_the_same_tokens():
    vocab = build(["a b", b"a c", "b"])
    assert vocab.tokens == ["[PAD]", "[UNK]", "a", "b", "c"]
    assert vocab.counts == [2, 2, 1]


@pytest.mark.parametrize(
    ("values", "index", "description"),
    [
        (["a", "b", 3], 2, "int 3, expected a string"),
        (["a", 1.5], 1, "float 1.5, expected a string"),
        ([1, 2, 3, "x"], 3, "str 'x', expected an integer"),
        ([1, 2, True], 2, "bool True, expected an integer"),
    ],
)
def test_bad_record_names_its_index(values, index, description):
    spec = VocabSpec(tokenizer="none")
    with pytest.raises(InputDataError) as info:
        build_vocabulary(iter(values), spec, progress=False, batch_size=2)
    err = info.value
    message = str(err)
    assert message.startswith(f"Record {index} is {description}.")
    assert message.endswith(f"Received: record={index}, value={values[index]!r}")
    assert err.record == index
    assert err.cases == [(index, repr(values[index]))]


@pytest.mark.parametrize(
    ("values", "index"),
    [(["a", "b", "c", "d", "e", None, "g"], 5), ([None, "a"], 0), ([1, None], 1)],
)
def test_missing_value_under_missing_error_names_its_index(values, index):
    with pytest.raises(InputDataError) as info:
        build_vocabulary(iter(values), VocabSpec(tokenizer="none"), progress=False, batch_size=2)
    message = str(info.value)
    assert message.startswith(f"Record {index}: the value is missing (null, absent or empty).")
    assert "set `missing` (skip, oov or token; CLI --missing)" in message
    assert message.endswith(f"Received: record={index}, value=None")
    assert info.value.record == index


def test_bad_record_names_the_source():
    with pytest.raises(InputDataError) as info:
        build_vocabulary(["a", None], progress=False, input_description="data.txt")
    assert str(info.value).startswith("Record 1 of data.txt: the value is missing")


# -- identity --


def test_fingerprint_and_repr():
    a = build(CORPUS)
    assert a.fingerprint == build(list(CORPUS)).fingerprint
    assert a.fingerprint != build(CORPUS, num_oov_buckets=2).fingerprint
    assert a.fingerprint != build([*CORPUS, "new"]).fingerprint
    assert a.ref is None
    assert repr(a) == (
        f"Vocabulary(unpublished, input_dim={a.input_dim}, oov_ids=1..1, "
        f"fingerprint={a.fingerprint[:12]})"
    )


@pytest.mark.parametrize("sequence_length", [None, 3])
@pytest.mark.parametrize("id_dtype", ["int32", "int64"])
def test_encode_arrow_matches_encode(sequence_length, id_dtype):
    import pyarrow as pa

    corpus = ["a b b c", "c c d", "e"]
    spec = VocabSpec(sequence_length=sequence_length, id_dtype=id_dtype, num_oov_buckets=2)
    vocab = build_vocabulary(corpus, spec, progress=False)
    queries = ["a b zz c d e", "", "q"]
    column = vocab.encode_arrow(queries)
    assert column.type == pa.list_(pa.from_numpy_dtype(np.dtype(id_dtype)))
    expected = vocab.encode(queries)
    assert column.to_pylist() == [np.asarray(row).tolist() for row in expected]


def test_encode_arrow_is_flat_for_one_token_per_value():
    vocab = build_vocabulary([3, 7, 7], VocabSpec(tokenizer="none"), progress=False)
    assert vocab.encode_arrow([7, 3, 5]).to_pylist() == vocab.encode([7, 3, 5]).tolist()
