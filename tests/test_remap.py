"""Embedding warm start (``vocabguard.remap``): rows move by token, never by index."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import VocabSpec, build_vocabulary
from vocabguard.errors import ConfigError, VocabularyMismatchError
from vocabguard.remap import remap_dense, row_map


def build(texts, spec=None, **kwargs):
    return build_vocabulary(texts, spec or VocabSpec(), progress=False, **kwargs)


def rows_by_token(vocab) -> dict:
    """``{token: id}`` of every reserved and learned row (retired rows included)."""
    start = vocab.layout.reserved_start
    return {token: start + i for i, token in enumerate(vocab.token_bytes)}


def live_learned_ids(vocab) -> list[int]:
    return [
        i
        for i in range(vocab.layout.learned_start, vocab.layout.used_ids)
        if i not in vocab.retired
    ]


def expected_init_stats(weights: np.ndarray, old) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the rows ``init`` draws from: live learned rows, else the OOV rows."""
    ids = live_learned_ids(old) or list(old.oov_ids)
    reference = weights[ids].astype(np.float64)
    return reference.mean(axis=0), reference.std(axis=0)


def check_remap(weights, old, new, result, init) -> None:
    """Every property of ``remap_embedding``, checked by token."""
    assert result.shape == (new.input_dim, weights.shape[1])
    assert result.dtype == weights.dtype
    np.testing.assert_array_equal(result[new.pad_id], weights[old.pad_id])
    if old.num_oov_buckets == new.num_oov_buckets:
        np.testing.assert_array_equal(result[list(new.oov_ids)], weights[list(old.oov_ids)])
    else:
        mean_oov = weights[list(old.oov_ids)].astype(np.float64).mean(axis=0)
        for i in new.oov_ids:
            np.testing.assert_allclose(result[i], mean_oov.astype(weights.dtype), rtol=1e-6)
    old_rows, new_rows = rows_by_token(old), rows_by_token(new)
    for token, new_id in new_rows.items():
        if token in old_rows:
            np.testing.assert_array_equal(result[new_id], weights[old_rows[token]])
    fresh = [i for t, i in new_rows.items() if t not in old_rows]
    fresh += list(range(new.layout.used_ids, new.input_dim))  # unused capacity rows
    mean, std = expected_init_stats(weights, old)
    for i in fresh:
        if init == "zeros":
            assert not result[i].any()
        elif init == "mean":
            np.testing.assert_allclose(result[i], mean.astype(weights.dtype), rtol=1e-6, atol=1e-7)
        else:
            assert np.isfinite(result[i]).all()
            # A zero std (a single reference row) leaves no room to draw.
            zero = std == 0
            np.testing.assert_allclose(result[i][zero], mean[zero].astype(weights.dtype))


WORDS = st.lists(st.sampled_from([f"w{i}" for i in range(25)]), min_size=0, max_size=30)


@settings(max_examples=40, deadline=None)
@given(
    first=WORDS,
    second=WORDS,
    lineage=st.booleans(),
    retire=st.booleans(),
    min_count=st.integers(1, 2),
    old_oov=st.integers(1, 3),
    new_oov=st.integers(1, 3),
    room=st.one_of(st.none(), st.integers(0, 4)),
    init=st.sampled_from(["mean", "zeros", "normal"]),
    seed=st.integers(0, 2**16),
)
def test_rows_move_by_token(
    first, second, lineage, retire, min_count, old_oov, new_oov, room, init, seed
):
    old = build([" ".join(first)], VocabSpec(min_count=min_count, num_oov_buckets=old_oov))
    if lineage:
        # A child: same lineage fields; grown from more data; ids are stable.
        new = build(
            [" ".join(first), " ".join(second)],
            VocabSpec(min_count=min_count, num_oov_buckets=old_oov),
            parent=old,
            retire=retire,
        )
    else:
        # An independent rebuild: ids move, the OOV bucket count may change.
        capacity = None if room is None else len(build([" ".join(second)])) + room + new_oov
        new = build([" ".join(second)], VocabSpec(num_oov_buckets=new_oov, capacity=capacity))
    weights = np.random.default_rng(seed).normal(size=(old.input_dim, 3)).astype("float32")
    result = vg.remap_embedding(weights, old, new, init=init, seed=seed)
    check_remap(weights, old, new, result, init)
    if lineage:
        # Along a lineage every parent row is copied unchanged, retired rows included.
        np.testing.assert_array_equal(result[: old.layout.used_ids], weights[: old.layout.used_ids])
    again = vg.remap_embedding(weights, old, new, init=init, seed=seed)
    np.testing.assert_array_equal(result, again)  # deterministic given the seed


def test_named_tokens_keep_their_rows_when_ids_move():
    old = build(["apple apple apple banana banana cherry"])
    new = build(["cherry cherry cherry cherry date apple"])
    assert old.token_to_id("cherry") != new.token_to_id("cherry")  # the ids did move
    weights = np.arange(old.input_dim * 2, dtype="float32").reshape(old.input_dim, 2)
    result = vg.remap_embedding(weights, old, new)
    for token in ("apple", "cherry"):
        np.testing.assert_array_equal(
            result[new.token_to_id(token)], weights[old.token_to_id(token)]
        )
    learned = [old.token_to_id(t) for t in ("apple", "banana", "cherry")]
    np.testing.assert_array_equal(result[new.token_to_id("date")], weights[learned].mean(axis=0))
    rows = row_map(old, new)
    # pad + OOV + apple + cherry kept; date new; banana's row dropped.
    assert (rows.kept, rows.initialized, rows.dropped) == (4, 1, 1)


def test_retired_rows_are_kept_and_new_rows_follow_the_initializer():
    v1 = build(["a a a b b c"], VocabSpec(min_count=1))
    v2 = build(["a a a b b d d"], VocabSpec(min_count=2), parent=v1, retire=True)
    retired_id = v1.token_to_id("c")
    assert retired_id in v2.retired
    weights = np.random.default_rng(0).normal(size=(v1.input_dim, 4))
    result = vg.remap_embedding(weights, v1, v2, init="zeros")
    np.testing.assert_array_equal(result[retired_id], weights[retired_id])
    assert not result[v2.token_to_id("d")].any()
    # The seed decides "normal" draws; their scale follows the live learned rows.
    draws = [vg.remap_embedding(weights, v1, v2, init="normal", seed=s) for s in (1, 1, 2)]
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


def test_oov_bucket_count_change_averages_the_old_oov_rows():
    old = build(["a b b"], VocabSpec(num_oov_buckets=1))
    new = build(["a b b"], VocabSpec(num_oov_buckets=3))
    weights = np.random.default_rng(1).normal(size=(old.input_dim, 2)).astype("float32")
    result = vg.remap_embedding(weights, old, new)
    for i in new.oov_ids:  # with one old bucket, every new bucket takes that row
        np.testing.assert_array_equal(result[i], weights[1])
    assert row_map(old, new).averaged == 3


def test_dtype_is_kept():
    old, new = build(["a b"]), build(["b c"])
    weights = np.ones((old.input_dim, 2), dtype="float16")
    assert vg.remap_embedding(weights, old, new).dtype == np.float16


def test_dense_head_columns_and_bias_move_by_token():
    old = build(["x x x y y z"])
    new = build(["z z z z w x"], VocabSpec(capacity=8))
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(5, old.input_dim)).astype("float32")
    bias = rng.normal(size=(old.input_dim,)).astype("float32")
    new_kernel, new_bias = remap_dense(kernel, bias, old, new)
    assert new_kernel.shape == (5, new.input_dim) and new_bias.shape == (new.input_dim,)
    for token in ("x", "z"):
        o, n = old.token_to_id(token), new.token_to_id(token)
        np.testing.assert_array_equal(new_kernel[:, n], kernel[:, o])
        assert new_bias[n] == bias[o]
    learned = [old.token_to_id(t) for t in ("x", "y", "z")]
    for n in [new.token_to_id("w"), *range(new.layout.used_ids, new.input_dim)]:
        np.testing.assert_allclose(new_kernel[:, n], kernel[:, learned].mean(axis=1), rtol=1e-6)
        np.testing.assert_allclose(new_bias[n], bias[learned].mean(), rtol=1e-6)
    no_bias_kernel, none = remap_dense(kernel, None, old, new)
    assert none is None
    np.testing.assert_array_equal(no_bias_kernel, new_kernel)


# -- errors --


def test_wrong_number_of_rows_names_both_numbers_and_the_fix():
    old, new = build(["a b c"]), build(["a b c d"])
    with pytest.raises(VocabularyMismatchError) as info:
        vg.remap_embedding(np.zeros((old.input_dim + 2, 4)), old, new)
    text = str(info.value)
    assert f"has {old.input_dim + 2} rows" in text
    assert f"has input_dim {old.input_dim}" in text
    assert "Pass the vocabulary the model was trained with as the old one" in text
    assert "vocabguard repair-model" in text
    assert text.endswith(
        f"Received: rows={old.input_dim + 2}, old_input_dim={old.input_dim}, "
        f"shape=({old.input_dim + 2}, 4)"
    )
    with pytest.raises(VocabularyMismatchError, match="Dense kernel has 3 rows for ids"):
        remap_dense(np.zeros((2, 3)), None, old, new)


def test_bad_shapes_inits_and_token_types_are_errors():
    old, new = build(["a b c"]), build(["a b c d"])
    with pytest.raises(ValueError, match=r"Expected a 2-D embedding matrix .* shape=\(5,\)"):
        vg.remap_embedding(np.zeros(5), old, new)
    with pytest.raises(ConfigError) as info:
        vg.remap_embedding(np.zeros((old.input_dim, 2)), old, new, init="uniform")
    assert "init must be one of 'mean', 'zeros', 'normal'" in str(info.value)
    assert str(info.value).endswith("Received: init='uniform'")
    integers = build([3, 4, 4], VocabSpec(tokenizer="none"))
    with pytest.raises(ConfigError, match="holds string tokens and the new one int64 tokens"):
        vg.remap_embedding(np.zeros((old.input_dim, 2)), old, integers)
    with pytest.raises(ValueError, match=r"bias of shape \(5,\)"):
        remap_dense(np.zeros((2, 5)), np.zeros(3), build(["a b c"]), new)
