"""The id layout: [pad][OOV x k][reserved][learned][unused up to capacity], and its ordering rule."""

from __future__ import annotations

import collections
import json
import math
from fractions import Fraction
from pathlib import Path

import farmhash
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, build_vocabulary
from vocabguard._src.core.layout import IdLayout, oov_bucket, order_key, select_tokens
from vocabguard.errors import IdRangeError, LayoutError

GOLDEN = Path(__file__).parent / "golden"

# Four learned tokens; counts a=3, b=2, c=1, d=1 (c before d: equal counts, bytes ascending).
LAYOUT_CORPUS = ["a b c a", "b a d"]
RESERVED = {0: (), 1: ("[CLS]",), 3: ("[CLS]", "[SEP]", "[MASK]")}


def rule_order(counts: collections.abc.Mapping) -> list:
    """Tokens by count descending, ties by UTF-8 bytes ascending (the contract, spelled out)."""

    def key(token):
        raw = token.encode("utf-8") if isinstance(token, str) else token
        return (-counts[token], raw)

    return sorted(counts, key=key)


def assert_rule(tokens: list, counts: list) -> None:
    """Adjacent learned tokens: count descending, equal counts in ascending byte order."""
    for (t1, c1), (t2, c2) in zip(zip(tokens, counts), zip(tokens[1:], counts[1:])):
        b1 = t1.encode("utf-8") if isinstance(t1, str) else t1
        b2 = t2.encode("utf-8") if isinstance(t2, str) else t2
        assert c1 > c2 or (c1 == c2 and b1 < b2), (t1, c1, t2, c2)


# -- every combination of OOV buckets, reserved tokens and capacity --


@pytest.mark.parametrize("capacity_kind", [None, "exact", "larger", "smaller"])
@pytest.mark.parametrize("num_reserved", [0, 1, 3])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_layout_and_input_dim(k, num_reserved, capacity_kind):
    reserved = RESERVED[num_reserved]
    counts = collections.Counter(" ".join(LAYOUT_CORPUS).split())
    learned = rule_order(counts)
    used = 1 + k + num_reserved + len(learned)
    capacity = {None: None, "exact": used, "larger": used + 7, "smaller": used - 1}[capacity_kind]
    spec = VocabSpec(num_oov_buckets=k, reserved_tokens=reserved, capacity=capacity)

    if capacity_kind == "smaller":
        with pytest.raises(LayoutError) as info:
            build_vocabulary(LAYOUT_CORPUS, spec, progress=False)
        message = str(info.value)
        assert f"`capacity` {capacity} is smaller than the layout's {used} ids" in message
        assert f"(1 pad + {k} OOV + {num_reserved} reserved + {len(learned)} learned)" in message
        assert f"Raise capacity to at least {used}" in message
        assert message.endswith(f"Received: capacity={capacity}")
        assert (info.value.capacity, info.value.used_ids) == (capacity, used)
        return

    vocab = build_vocabulary(LAYOUT_CORPUS, spec, progress=False)
    input_dim = capacity if capacity is not None else used
    assert vocab.input_dim == input_dim
    assert len(vocab) == used
    assert vocab.tokens == ["[PAD]"] + ["[UNK]"] * k + list(reserved) + learned

    layout = vocab.layout
    assert (layout.pad_id, list(layout.oov_ids)) == (0, list(range(1, k + 1)))
    assert layout.reserved_start == k + 1
    assert layout.learned_start == k + 1 + num_reserved
    assert layout.to_dict() == {
        "pad_id": 0,
        "num_oov_buckets": k,
        "oov_ids": [1, k],
        "num_reserved": num_reserved,
        "reserved_ids": [k + 1, k + num_reserved] if num_reserved else [],
        "num_learned": len(learned),
        "learned_ids": [k + 1 + num_reserved, used - 1],
        "used_ids": used,
        "capacity": capacity,
        "pad_to_multiple_of": None,
        "unused_ids": input_dim - used,
        "input_dim": input_dim,
    }

    # Reserved and learned tokens get their ids; the pad token 0; unknown tokens 1..k.
    assert vocab.lookup(list(reserved)).tolist() == list(range(k + 1, k + 1 + num_reserved))
    assert vocab.lookup(learned).tolist() == list(range(k + 1 + num_reserved, used))
    unknown = ["zz", "[UNK]", "qq", "A", "é"]
    assert vocab.lookup(unknown).tolist() == [oov_bucket(t.encode(), k) for t in unknown]
    assert vocab.token_to_id("[PAD]") == 0
    rows = vocab.encode([*LAYOUT_CORPUS, "zz [PAD] [CLS] qq", ""])
    flat = np.concatenate(rows)
    assert flat.min() >= 0 and flat.max() < input_dim

    # Every id below input_dim decodes (unused capacity rows read as the OOV token).
    every = vocab.decode(np.arange(input_dim), skip_pad=False)
    assert every[:used] == vocab.tokens
    assert every[used:] == ["[UNK]"] * (input_dim - used)
    for bad in (input_dim, -1):
        with pytest.raises(IdRangeError) as info:
            vocab.decode([bad])
        assert f"Id {bad} at position [0] is not in [0, {input_dim})" in str(info.value)


def test_layout_needs_an_oov_id():
    with pytest.raises(LayoutError) as info:
        IdLayout(num_oov_buckets=0, num_reserved=0, num_learned=3)
    assert str(info.value).startswith("At least one OOV id is required")
    assert str(info.value).endswith("Received: num_oov_buckets=0")


def test_layout_without_learned_tokens():
    layout = IdLayout(num_oov_buckets=2, num_reserved=0, num_learned=0)
    assert layout.input_dim == 3
    assert layout.to_dict()["learned_ids"] == []
    assert layout.to_dict()["reserved_ids"] == []
    vocab = build_vocabulary([], VocabSpec(num_oov_buckets=2), progress=False)
    assert vocab.input_dim == 3
    assert vocab.tokens == ["[PAD]", "[UNK]", "[UNK]"]


# -- the tie-break golden test --


def golden_corpus() -> list[str]:
    return (GOLDEN / "tiebreak_corpus.txt").read_text(encoding="utf-8").splitlines()


def test_tiebreak_golden_ids():
    golden = json.loads((GOLDEN / "tiebreak_ids.json").read_text(encoding="utf-8"))
    spec = VocabSpec.from_dict(golden["spec"])
    vocab = build_vocabulary(golden_corpus(), spec, progress=False)
    assert vocab.input_dim == golden["input_dim"]
    assert vocab.tokens == golden["tokens"]
    assert dict(enumerate(vocab.tokens)) == dict(enumerate(golden["tokens"]))


def test_tiebreak_follows_the_rule():
    """Not a snapshot: the order is derived from the corpus counts by the rule itself."""
    lines = golden_corpus()
    # The corpus holds ASCII spaces only, so str.split() is the whitespace tokenizer here.
    counts = collections.Counter(token for line in lines for token in line.split(" "))
    vocab = build_vocabulary(lines, VocabSpec(), progress=False)
    learned = vocab.tokens[2:]
    assert learned == rule_order(counts)
    assert vocab.counts == [counts[t] for t in learned]
    assert_rule(learned, vocab.counts)

    # The corpus really exercises the ties the rule decides.
    by_count = collections.defaultdict(set)
    for token, count in counts.items():
        by_count[count].add(token)
    tied = set().union(*(group for group in by_count.values() if len(group) > 1))
    assert {"zebra", "Zebra", "ZEBRA"} <= tied  # differ only by case
    assert {"apple", "\u00c9", "\u65e5\u672c", "\U0001f600", "\uff71"} <= tied
    assert {"e", "e\u0301", "\u00e4", "\u4e2d", "\U0001f642"} <= tied
    # U+FF71 sorts before U+1F600 in UTF-8 (and code points), after it in UTF-16.
    assert learned.index("\uff71") < learned.index("\U0001f600")
    assert "\uff71".encode("utf-16-be") > "\U0001f600".encode("utf-16-be")


def test_golden_file_itself_follows_the_rule():
    golden = json.loads((GOLDEN / "tiebreak_ids.json").read_text(encoding="utf-8"))
    counts = collections.Counter(" ".join(golden_corpus()).split(" "))
    learned = golden["tokens"][2:]
    assert sorted(learned) == sorted(counts)
    assert_rule(learned, [counts[t] for t in learned])


def test_select_tokens_rule():
    counts = {b"b": 2, b"a": 2, b"c": 5, b"d": 1, b"\xff": 2, b"": 2}
    selected = select_tokens(counts, min_count=2)
    assert [t for t, _ in selected] == rule_order({k: v for k, v in counts.items() if v >= 2})
    assert select_tokens(counts, max_tokens=2) == selected[:2]
    assert select_tokens(counts, exclude=[b"c"], max_token_bytes=0) == [(b"", 2)]
    assert order_key((b"x", 3)) < order_key((b"a", 2))


# -- property: ids in range, the rule, min_count and max_tokens --

# Non-empty: under tokenizer none "" is a missing value, never a token.
_byte_tokens = st.text(min_size=1, max_size=4).map(str.encode) | st.binary(min_size=1, max_size=4)


@settings(max_examples=75, deadline=None)
@given(
    counts=st.dictionaries(_byte_tokens, st.integers(1, 12), max_size=25),
    k=st.integers(1, 6),
    min_count=st.integers(1, 4),
    max_tokens=st.none() | st.integers(1, 15),
    max_token_bytes=st.none() | st.integers(1, 4),
    extra_capacity=st.none() | st.integers(0, 5),
    reserved=st.lists(st.text(min_size=1, max_size=3), max_size=3, unique=True),
    unknown=st.lists(_byte_tokens, max_size=10),
    id_dtype=st.sampled_from(["int32", "int64"]),
    data=st.data(),
)
def test_property_ids_and_selection(
    counts,
    k,
    min_count,
    max_tokens,
    max_token_bytes,
    extra_capacity,
    reserved,
    unknown,
    id_dtype,
    data,
):
    reserved = [t for t in reserved if t not in ("[PAD]", "[UNK]")]
    values = data.draw(st.permutations([t for t, n in counts.items() for _ in range(n)]))
    base = VocabSpec(
        tokenizer="none",
        num_oov_buckets=k,
        min_count=min_count,
        max_tokens=max_tokens,
        max_token_bytes=max_token_bytes,
        reserved_tokens=reserved,
        id_dtype=id_dtype,
    )
    specials = {b"[PAD]", b"[UNK]", *(t.encode() for t in reserved)}
    eligible = {
        t: n
        for t, n in counts.items()
        if n >= min_count
        and t not in specials
        and (max_token_bytes is None or len(t) <= max_token_bytes)
    }
    expected = rule_order(eligible)[:max_tokens]
    used = 1 + k + len(reserved) + len(expected)
    capacity = None if extra_capacity is None else used + extra_capacity
    vocab = build_vocabulary(values, base.replace(capacity=capacity), progress=False)

    learned = vocab.token_bytes[len(reserved) :]
    assert vocab.token_bytes[: len(reserved)] == [t.encode() for t in reserved]
    assert learned == expected
    assert_rule(learned, vocab.counts[len(reserved) :])
    assert all(counts[t] >= min_count for t in learned)
    assert max_tokens is None or len(learned) <= max_tokens
    assert vocab.input_dim == (capacity if capacity is not None else used)

    ids = vocab.encode([*values, *unknown, b"[PAD]", *(t.encode() for t in reserved)])
    assert ids.dtype == np.dtype(id_dtype)
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < vocab.input_dim)
    position = {t: vocab.layout.reserved_start + i for i, t in enumerate(vocab.token_bytes)}
    for token in {*counts, *unknown}:
        got = vocab.token_to_id(token)
        if token == b"[PAD]":
            assert got == 0
        elif token in position:
            assert got == position[token]
        else:
            assert got == 1 + farmhash.fingerprint64(token) % k


@settings(max_examples=50, deadline=None)
@given(
    counts=st.dictionaries(st.integers(-50, 50), st.integers(1, 8), min_size=1, max_size=20),
    k=st.integers(1, 6),
    min_count=st.integers(1, 3),
    max_tokens=st.none() | st.integers(1, 10),
)
def test_property_integer_selection(counts, k, min_count, max_tokens):
    values = [t for t, n in counts.items() for _ in range(n)]
    spec = VocabSpec(
        tokenizer="none", num_oov_buckets=k, min_count=min_count, max_tokens=max_tokens
    )
    vocab = build_vocabulary(values, spec, progress=False)
    # The default integer pad is an id, not a value (0 is an ordinary category); -1 is
    # the OOV token, never learned.
    eligible = {t: n for t, n in counts.items() if n >= min_count and t != -1}
    expected = sorted(eligible, key=lambda t: (-eligible[t], t))[:max_tokens]
    assert vocab.tokens == [None] + [-1] * k + expected
    ids = vocab.encode(values)
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < vocab.input_dim)


# -- OOV buckets --


def floor_mod(value: int, k: int) -> int:
    """value mod k in [0, k), computed exactly without Python's % operator."""
    return value - k * math.floor(Fraction(value, k))


@settings(max_examples=100, deadline=None)
@given(token=st.binary(max_size=16), k=st.integers(1, 1000))
def test_oov_bucket_is_fingerprint64(token, k):
    assert oov_bucket(token, k) == 1 + farmhash.fingerprint64(token) % k


@settings(max_examples=100, deadline=None)
@given(value=st.integers(-(2**63), 2**63 - 1), k=st.integers(1, 1000))
def test_oov_bucket_of_integers_is_floor_mod(value, k):
    expected = 1 + floor_mod(value, k)
    assert 1 <= expected <= k
    assert oov_bucket(value, k) == expected


@pytest.mark.parametrize("k", [1, 2, 3, 7, 64])
def test_unknown_strings_hash_into_buckets(k):
    vocab = build_vocabulary(["known words"], VocabSpec(num_oov_buckets=k), progress=False)
    unknown = ["zz", "[UNK]", "Known", "日本", "😀", "x" * 100]
    expected = [1 + farmhash.fingerprint64(t.encode("utf-8")) % k for t in unknown]
    assert vocab.lookup(unknown).tolist() == expected
    assert [vocab.token_to_id(t) for t in unknown] == expected
    assert [r.tolist() for r in vocab.encode(unknown)] == [[e] for e in expected]
    # Non-UTF-8 bytes (tokenizer none, no transforms) hash their raw bytes.
    raw = VocabSpec(tokenizer="none", num_oov_buckets=k)
    opaque = build_vocabulary([b"known"], raw, progress=False)
    tokens = [b"\xff\xfe", b"\x80", b"a\x00b"]
    assert opaque.encode(tokens).tolist() == [1 + farmhash.fingerprint64(t) % k for t in tokens]


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_unknown_integers_floor_mod_into_buckets(k):
    vocab = build_vocabulary([10, 10, 20], VocabSpec(tokenizer="none", num_oov_buckets=k))
    unknown = [-1, -2, -3, -4, -7, 3, 4, 99, -(2**63), 2**63 - 1]
    expected = [1 + floor_mod(v, k) for v in unknown]
    assert vocab.encode(unknown).tolist() == expected
    assert vocab.lookup(unknown).tolist() == expected
    assert [vocab.token_to_id(v) for v in unknown] == expected
    assert all(1 <= e <= k for e in expected)
