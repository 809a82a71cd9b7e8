"""Peer-compatible options: TFT's and Keras' tie order (``tie_break: bytes_descending``)
and fractional ``min_count`` on weighted counts (TFT's ``frequency_threshold``), on
every build path (in process, the in-process job runner, Beam, lineage)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.layout import rule_order, select_rows
from vocabguard.cli import jobs
from vocabguard.errors import InputDataError, LineageError, SpecError

# -- the order rule --


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.binary(max_size=12), st.integers(1, 4), max_size=40),
    st.booleans(),
)
def test_rule_order_is_count_desc_then_bytes(counts, descending):
    tokens = list(counts)
    order = rule_order(
        pa.array(tokens, pa.binary()), np.array(list(counts.values())), descending=descending
    )
    assert sorted(order.tolist()) == list(range(len(tokens)))  # a permutation
    got = [tokens[i] for i in order]
    # Python compares bytes byte by byte, as the rule does.
    if descending:
        want = sorted(tokens, key=lambda t: t, reverse=True)
        want = sorted(want, key=lambda t: -counts[t])  # stable: ties stay descending
    else:
        want = sorted(tokens, key=lambda t: (-counts[t], t))
    assert got == want


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.integers(-(2**63), 2**63 - 1), st.integers(1, 3), max_size=30),
    st.booleans(),
    st.integers(0, 10),
)
def test_integer_rule_and_top_k_cut(counts, descending, k):
    tokens = list(counts)
    values = pa.array(tokens, pa.int64())
    sign = -1 if descending else 1
    want = sorted(tokens, key=lambda t: (-counts[t], sign * t))
    order = rule_order(values, np.array(list(counts.values())), descending=descending)
    assert [tokens[i] for i in order] == want
    rows = select_rows(values, pa.array(list(counts.values())), max_tokens=k, descending=descending)
    assert [tokens[i] for i in rows] == want[:k]


# -- peers' cases: the tie order decides which tokens a cut keeps --

# TFT compute_and_apply_vocabulary(top_k=...): hello x3, world x2, goodbye and aaaaa x1.
TFT_TOP_K = ["hello", "world", "hello", "hello", "goodbye", "world", "aaaaa"]


def test_tft_top_k_keeps_tfts_tokens():
    spec = VocabSpec(tokenizer="none", max_tokens=3, tie_break="bytes_descending")
    assert build_vocabulary(TFT_TOP_K, spec, progress=False).tokens[2:] == [
        "hello",
        "world",
        "goodbye",
    ]
    # The default keeps the ascending tie: aaaaa, not goodbye (a different token set).
    default = build_vocabulary(TFT_TOP_K, spec.replace(tie_break="bytes_ascending"))
    assert default.tokens[2:] == ["hello", "world", "aaaaa"]


def test_keras_max_tokens_cut():
    # StringLookup(max_tokens=...).adapt: equal counts come out c, b, a; the cut keeps
    # the last in byte order. IntegerLookup orders equal counts by value, descending.
    data = ["d", "d", "a", "b", "c"]
    spec = VocabSpec(tokenizer="none", max_tokens=3, tie_break="bytes_descending")
    assert build_vocabulary(data, spec, progress=False).tokens[2:] == ["d", "c", "b"]
    ints = [42, 42, 1138, 1729, 7]
    vocab = build_vocabulary(ints, spec.replace(pad_token=0, oov_token=-1), progress=False)
    assert vocab.tokens[2:] == [42, 1729, 1138]


def test_tie_break_recorded_only_when_set():
    spec = VocabSpec(tokenizer="none")
    plain = build_vocabulary(["a", "b"], spec, progress=False)
    peer = build_vocabulary(["a", "b"], spec.replace(tie_break="bytes_descending"))
    assert "tie_break" not in spec.to_dict()
    assert peer.spec.to_dict()["tie_break"] == "bytes_descending"
    assert peer.tokens[2:] == ["b", "a"] and plain.tokens[2:] == ["a", "b"]
    assert peer.fingerprint != plain.fingerprint
    # The same tokens in the same order under either rule still differ: the rule is
    # part of the contract, so a later build under it stays comparable.
    same = build_vocabulary(["a", "a", "b"], spec.replace(tie_break="bytes_descending"))
    assert same.tokens == build_vocabulary(["a", "a", "b"], spec).tokens
    assert same.fingerprint != build_vocabulary(["a", "a", "b"], spec).fingerprint


def test_tie_break_bad_value_and_wordpiece():
    with pytest.raises(SpecError) as err:
        VocabSpec(tie_break="reverse")
    assert str(err.value) == (
        "`tie_break` must be one of bytes_ascending, bytes_descending. "
        "Received: tie_break='reverse'"
    )
    with pytest.raises(SpecError, match="`tie_break` is not supported with `tokenizer: wordpiece`"):
        VocabSpec(tokenizer="wordpiece", vocab_size=10, tie_break="bytes_descending")


def test_lineage_orders_new_tokens_by_the_parents_rule():
    spec = VocabSpec(tokenizer="none", tie_break="bytes_descending")
    parent = build_vocabulary(["m", "m", "a"], spec, progress=False)
    child = build_vocabulary(["m", "a", "b", "c", "z", "z"], spec, parent=parent)
    assert child.tokens[: len(parent.tokens)] == parent.tokens
    assert child.tokens[len(parent.tokens) :] == ["z", "c", "b"]
    with pytest.raises(LineageError) as err:
        build_vocabulary(["b"], spec.replace(tie_break="bytes_ascending"), parent=parent)
    assert "`tie_break` differs from" in str(err.value)
    assert str(err.value).endswith(
        "Received: tie_break='bytes_ascending', parent_tie_break='bytes_descending'"
    )


# -- fractional min_count on weighted counts --

WEIGHTED = [
    {"t": "a", "w": 0.51},
    {"t": "b", "w": 0.5},
    {"t": "c", "w": 0.49},
    {"t": "d", "w": 0.25},
    {"t": "d", "w": 0.25},
]


def test_fractional_min_count_keeps_weighted_count_at_or_above():
    # TFT's frequency_threshold on weights: kept when the weighted count >= threshold.
    spec = VocabSpec(tokenizer="none", min_count=0.5)
    vocab = build_vocabulary(WEIGHTED, spec, fields="t", weight_field="w", progress=False)
    assert vocab.tokens[2:] == ["a", "b", "d"]
    assert vocab.spec.to_dict()["min_count"] == 0.5
    # The default min_count 1 keeps none of them (each weighs less than 1).
    none = build_vocabulary(WEIGHTED, VocabSpec(tokenizer="none"), fields="t", weight_field="w")
    assert none.tokens[2:] == []


def test_fractional_min_count_unweighted_and_whole_floats():
    data = ["a", "a", "b"]
    assert build_vocabulary(data, VocabSpec(tokenizer="none", min_count=1.5)).tokens[2:] == ["a"]
    # 2.0 is the integer 2: the same spec and fingerprint.
    whole = VocabSpec(tokenizer="none", min_count=2.0)
    assert whole == VocabSpec(tokenizer="none", min_count=2)
    assert isinstance(whole.to_dict()["min_count"], int)
    assert (
        build_vocabulary(data, whole).fingerprint
        == build_vocabulary(data, VocabSpec(tokenizer="none", min_count=2)).fingerprint
    )


@pytest.mark.parametrize("bad", [0, -1, 0.0, -0.5, float("nan"), float("inf"), True, "1"])
def test_min_count_bad_values(bad):
    with pytest.raises(SpecError) as err:
        VocabSpec(min_count=bad)
    assert str(err.value).startswith("`min_count` must be a number > 0")
    assert str(err.value).endswith(f"Received: min_count={bad!r}")


def test_min_count_and_tie_break_from_yaml_and_cli(tmp_path, capsys):
    from vocabguard.cli import main

    path = tmp_path / "spec.yaml"
    path.write_text("tokenizer: none\nmin_count: 0.5\ntie_break: bytes_descending\n")
    spec = VocabSpec.from_yaml(path)
    assert (spec.min_count, spec.tie_break) == (0.5, "bytes_descending")
    data = tmp_path / "in.txt"
    data.write_text("hello\nworld\nhello\nhello\ngoodbye\nworld\naaaaa\n")
    store = tmp_path / "store"
    args = ["build", "--store", str(store), "--name", "tft", "--input", str(data)]
    args += ["--tokenizer", "none", "--max-tokens", "3", "--tie-break", "bytes_descending"]
    assert main([*args, "--min-count", "0.5"]) == 0
    vocab = VocabStore(store).load("tft@latest")
    assert vocab.tokens[2:] == ["hello", "world", "goodbye"]
    assert vocab.spec.tie_break == "bytes_descending" and vocab.spec.min_count == 0.5


# -- in process == Beam --


def _job(tmp_path, store, inputs, features) -> str:
    path = tmp_path / f"job-{store}.yaml"
    config = {"inputs": inputs, "store": str(tmp_path / store), "features": features}
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def test_inprocess_runner_and_beam_agree_with_the_options(tmp_path):
    rows = [{"t": t, "w": 0.5 if t in ("aaaaa", "goodbye") else 0.25} for t in TFT_TOP_K]
    rows += [{"t": t, "w": 0.25} for t in ("x", "y", "z")]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    features = {
        "top": {
            "field": "t",
            "name": "top",
            "spec": {"tokenizer": "none", "max_tokens": 3, "tie_break": "bytes_descending"},
        },
        "weighted": {
            "field": "t",
            "name": "weighted",
            "weight_field": "w",
            "spec": {"tokenizer": "none", "min_count": 0.5, "tie_break": "bytes_descending"},
        },
    }
    beam = jobs.run_build(["--config", _job(tmp_path, "beam", [str(path)], features)])
    local = jobs.run_build_inprocess(["--config", _job(tmp_path, "local", [str(path)], features)])
    direct = {
        "top": build_vocabulary(
            [r["t"] for r in rows], VocabSpec.from_dict(features["top"]["spec"])
        ),
        "weighted": build_vocabulary(
            rows,
            VocabSpec.from_dict(features["weighted"]["spec"]),
            fields="t",
            weight_field="w",
        ),
    }
    assert [r["feature"] for r in beam] == [r["feature"] for r in local]
    for b, lo in zip(beam, local):
        assert b["fingerprint"] == lo["fingerprint"] == direct[b["feature"]].fingerprint
    loaded = VocabStore(tmp_path / "beam")
    # x, y, z, goodbye and aaaaa tie at 1: descending keeps z.
    assert loaded.load("top@latest").tokens[2:] == ["hello", "world", "z"]
    # hello 0.75, world 0.5, goodbye 0.5, aaaaa 0.5; x, y, z 0.25: below 0.5.
    assert loaded.load("weighted@latest").tokens[2:] == ["hello", "world", "goodbye", "aaaaa"]


# -- integer vocabularies: the pad is an id, not a value --

HOURS = [0, 0, 0, 1, 23, 23, 5]


def test_integer_zero_is_an_ordinary_category():
    vocab = build_vocabulary(HOURS, VocabSpec(tokenizer="none"), progress=False)
    assert vocab.tokens == [None, -1, 0, 23, 1, 5]  # 0 learned, the most frequent
    assert vocab.contract()["pad_token"] is None
    assert vocab.encode([0, 23, 7]).tolist() == [2, 3, 1]
    assert vocab.stats["coverage"] == 1.0
    # A value that is nothing's pad: with 0 learned, no value at all maps to id 0.
    assert 0 not in vocab.encode([0, 1, 5, 23, -1, -(2**63), 2**63 - 1]).tolist()


def test_integer_pad_round_trips_through_the_store(tmp_path):
    store = VocabStore(tmp_path / "s")
    vocab = build_vocabulary([*HOURS, -(2**63)], VocabSpec(tokenizer="none"), progress=False)
    loaded = store.load(store.publish(vocab, "hours").ref)
    assert loaded.fingerprint == vocab.fingerprint and loaded.tokens == vocab.tokens
    assert store.manifest("hours")["pad_token"] is None
    values = [0, 23, -(2**63), 2**63 - 1, 4]
    assert loaded.encode(values).tolist() == vocab.encode(values).tolist()


def test_explicit_integer_pad_in_the_data_is_an_error():
    spec = VocabSpec(tokenizer="none", pad_token=0)
    with pytest.raises(InputDataError) as err:
        build_vocabulary(HOURS, spec, progress=False)
    assert str(err.value).startswith(
        "The data holds the value 0, which is the integer vocabulary's `pad_token`, 3 times"
    )
    assert str(err.value).endswith("Received: pad_token=0, occurrences=3")
    # A pad value the data never holds is fine (and maps to 0, like Keras' mask token).
    vocab = build_vocabulary(HOURS, spec.replace(pad_token=-100), progress=False)
    assert vocab.tokens[:3] == [-100, -1, 0] and vocab.encode([-100, 0]).tolist() == [0, 2]


def test_integer_pad_numpy_tf_keras_agree():
    import tensorflow as tf

    from vocabguard import keras as vk
    from vocabguard import tf as vtf

    vocab = build_vocabulary(HOURS, VocabSpec(tokenizer="none", num_oov_buckets=3))
    values = [0, 1, 5, 23, 7, -1, -8, 10**12]
    want = vocab.encode(values).tolist()
    assert want[0] == 4  # 0 is learned: 1 + 3 OOV ids, then 0
    assert vtf.encode_fn(vocab)(tf.constant(values, dtype=tf.int64)).numpy().tolist() == want
    layer = vk.string_lookup(vocab)
    assert np.asarray(layer(tf.constant(values, dtype=tf.int64))).tolist() == want


def test_integer_pad_in_process_equals_beam(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"h": h}) + "\n" for h in HOURS), encoding="utf-8")
    features = {"h": {"field": "h", "name": "hours", "spec": {"tokenizer": "none"}}}
    beam = jobs.run_build(["--config", _job(tmp_path, "beam", [str(path)], features)])
    local = jobs.run_build_inprocess(["--config", _job(tmp_path, "local", [str(path)], features)])
    direct = build_vocabulary(HOURS, VocabSpec(tokenizer="none"), progress=False)
    assert beam[0]["fingerprint"] == local[0]["fingerprint"] == direct.fingerprint
    assert VocabStore(tmp_path / "beam").load("hours@latest").tokens == direct.tokens
