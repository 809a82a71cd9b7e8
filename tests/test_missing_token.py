"""``missing: token``: the missing token's type (string or integer) is the vocabulary's,
whatever the batching, the order of batches or the path that counted them: a batch of
nulls alone never decides it."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec
from vocabguard._src.core.builder import TokenCounter, with_missing_token
from vocabguard._src.core.errors import InputDataError
from vocabguard._src.core.vocabulary import INT64, STRING

SPEC = VocabSpec(tokenizer="none", missing="token")


def _build(batches, spec=SPEC):
    counter = TokenCounter(spec)
    for batch in batches:
        counter.add_batch(batch)
    return counter.to_vocabulary()


def _count(vocab, token):
    """A token's count (``counts`` are those of the tokens after PAD and OOV)."""
    counted = vocab.tokens[len(vocab.tokens) - len(vocab.counts) :]
    return dict(zip(counted, vocab.counts))[token]


def _summary(vocab):
    return (vocab.tokens, vocab.counts, vocab.input_dim, vocab.fingerprint, vocab.stats)


@pytest.mark.parametrize("batches", [[[None], [3]], [[3], [None]], [[None, 3]], [[3, None]]])
def test_nulls_before_integers_give_the_integer_missing_token(batches):
    vocab = _build(batches)
    assert vocab.tokens == [None, -1, -2, 3]
    assert _count(vocab, -2) == 1
    assert vocab.stats["missing"] == {"value": 1}


def test_nulls_alone_give_the_string_missing_token():
    assert _build([[None], [None]]).tokens == ["[PAD]", "[UNK]", "[MISSING]"]


def test_the_missing_token_in_the_data_is_counted_with_the_missing_values():
    vocab = _build([[None, "[MISSING]"], ["a", None]])
    assert _count(vocab, "[MISSING]") == 3
    assert vocab.stats["distinct_tokens"] == 2  # 'a' and '[MISSING]', once
    assert _summary(vocab) == _summary(_build([["[MISSING]", None, None, "a"]]))


def test_with_missing_token_types_the_row_as_the_vocabulary():
    empty = pa.table({"token": pa.array([], pa.binary()), "count": pa.array([], pa.int64())})
    assert with_missing_token(empty, SPEC, INT64, 2).to_pydict() == {"token": [-2], "count": [2]}
    assert with_missing_token(None, SPEC, STRING, 1).to_pydict() == {
        "token": [b"[MISSING]"],
        "count": [1],
    }
    skip = VocabSpec(tokenizer="none", missing="skip")
    assert with_missing_token(empty, skip, STRING, 2) is empty


SPECS = [
    SPEC,
    VocabSpec(tokenizer="none", missing="token", min_document_count=1),
    VocabSpec(tokenizer="none", missing="token", max_tokens=2, min_count=1),
]


def _outcome(batches, spec):
    try:
        return _summary(_build(batches, spec))
    except InputDataError:
        return "mixed"  # integers and strings in one field: an error however split


@settings(max_examples=150, deadline=None)
@given(
    values=st.one_of(
        st.lists(st.one_of(st.none(), st.integers(-3, 3)), min_size=1, max_size=12),
        st.lists(
            st.one_of(st.none(), st.sampled_from(["a", "b", "", "[MISSING]"])),
            min_size=1,
            max_size=12,
        ),
        st.lists(st.one_of(st.none(), st.integers(-3, 3), st.just("a")), min_size=1, max_size=12),
    ),
    cuts=st.lists(st.integers(0, 12), max_size=5),
    spec=st.sampled_from(SPECS),
)
def test_property_any_batching_gives_the_same_vocabulary(values, cuts, spec):
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    batches = [values[a:b] for a, b in itertools.pairwise(bounds)]
    assert _outcome(batches, spec) == _outcome([values], spec)
    assert _outcome(batches[::-1], spec) == _outcome([values], spec) or len(batches) < 2


DOCS = VocabSpec(tokenizer="none", missing="token", min_document_count=1)


def test_the_missing_tokens_documents_are_records_with_a_missing_value():
    counter = TokenCounter(DOCS)
    # Record 0 holds the missing token itself and a null: one document.
    counter.add_batch(["[MISSING]", None], field="a", records=False)
    counter.add_batch([None, "x"], field="b", records=False)
    counter.documents = 2
    vocab = counter.to_vocabulary()
    assert vocab.tokens == ["[PAD]", "[UNK]", "[MISSING]", "x"]
    assert (vocab.counts, vocab.document_counts) == ([3, 1], [2, 1])
    lists = TokenCounter(DOCS.replace(value_shape="list"))
    lists.add_batch([[None, "[MISSING]"], None])
    assert lists.to_vocabulary().document_counts == [2]


@pytest.mark.parametrize("batches", [[[None], [3, None]], [[3, None], [None]], [[None, 3, None]]])
def test_document_counts_of_the_missing_token_do_not_depend_on_batching(batches):
    vocab = _build(batches, DOCS)
    assert (vocab.tokens, vocab.counts, vocab.document_counts) == (
        [None, -1, -2, 3],
        [2, 1],
        [2, 1],
    )
