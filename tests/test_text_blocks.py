"""Text read and counted in Arrow blocks: the same lines, errors, counts and vocabularies
as line by line, whatever the block size, and the exact top-k without a full sort."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, build_vocabulary
from vocabguard._src.core.builder import TokenCounter, best_rows
from vocabguard._src.core.layout import rule_sort_keys
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard._src.engines.beam.build import _CountTokens
from vocabguard._src.engines.beam.read import RecordBatch
from vocabguard._src.engines.features import Feature
from vocabguard._src.engines.formats.common import Oversized, lines
from vocabguard._src.engines.formats.read import read_documents
from vocabguard._src.engines.formats.text import LineBlock, line_blocks
from vocabguard.errors import InputDataError

# Bytes that exercise every path: line endings, a BOM, invalid UTF-8, Unicode
# White_Space (U+00A0, U+3000), a capital that lowercases, a kept-as-is code point.
PIECES = [b"a", b"B", b" ", b"\n", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\xff", b"\xc3\xa9"]
PIECES += [b"\xc2\xa0", b"\xe3\x80\x80", b"\xc3\x89", b"word", b"\t"]
CONTENT = st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join)


def _as_lines(items) -> list:
    """``line_blocks``' items as ``lines``' ``(number, raw bytes or Oversized)`` pairs."""
    out = []
    for item in items:
        if isinstance(item, LineBlock):
            out += [(item.first + i, t.encode()) for i, t in enumerate(item.lines.to_pylist())]
        else:
            out.append(item)
    return out


def _same(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        a[0] == b[0]
        and (isinstance(a[1], Oversized) if isinstance(b[1], Oversized) else a[1] == b[1])
        for a, b in zip(got, want)
    )


@settings(deadline=None)
@given(data=CONTENT, block=st.integers(1, 40), limit=st.integers(1, 30))
def test_blocks_give_the_lines_of_the_line_reader(data, block, limit):
    """Any bytes, any block size and bound: the same numbered lines and the same
    over-long lines as ``common.lines`` (which the block reader falls back to)."""
    got = _as_lines(line_blocks(io.BytesIO(data), limit, block))
    assert _same(got, list(lines(io.BytesIO(data), limit)))


def test_a_line_longer_than_the_bound_and_a_block_is_read_past_in_pieces():
    data = b"ok\n" + b"x" * 5000 + b"\nafter\n"
    got = _as_lines(line_blocks(io.BytesIO(data), 100, 64))
    assert got[0] == (1, b"ok") and isinstance(got[1][1], Oversized) and got[2] == (3, b"after")


@settings(deadline=None)
@given(docs=st.lists(st.text(max_size=12), max_size=30), block=st.integers(1, 64))
def test_read_documents_iterates_and_batches_the_same_documents(tmp_path_factory, docs, block):
    """``read_documents`` yields each line once, as before, iterated or in Arrow batches."""
    docs = [d.replace("\n", " ").replace("\r", " ") for d in docs]
    path = tmp_path_factory.mktemp("docs") / "a.txt"
    path.write_bytes("".join(d + "\n" for d in docs).encode())
    from vocabguard._src.engines.formats import text

    original = text.BLOCK_BYTES
    text.BLOCK_BYTES = block
    try:
        batches = list(read_documents([path]).arrow_batches(7))
        as_list = list(read_documents([path]))
        started = read_documents([path])
        head = [next(started)] if docs else []  # then the rest, in batches
        rest = [v for b in started.arrow_batches(7) for v in b]
    finally:
        text.BLOCK_BYTES = original
    flat = [v for b in batches for v in (b.to_pylist() if isinstance(b, pa.Array) else b)]
    assert as_list == flat == head + rest == docs


def test_a_bad_line_in_a_block_is_named_as_before(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"fine\nalso fine\nbad \xff here\n")
    with pytest.raises(InputDataError, match=r"a\.txt, line 3: bytes b'\\xff'"):
        build_vocabulary(read_documents([path]), VocabSpec(), progress=False)


@settings(deadline=None, max_examples=60)
@given(
    data=st.lists(st.sampled_from(PIECES[:4] + PIECES[8:]), max_size=80).map(b"".join),
    lowercase=st.booleans(),
    tokenizer=st.sampled_from(["whitespace", "none"]),
)
def test_arrow_blocks_build_the_vocabulary_of_the_documents(
    tmp_path_factory, data, lowercase, tokenizer
):
    """Counting ``read_documents``' Arrow blocks gives the fingerprint of counting its
    Python strings (the per-record path), for any text and tokenizer."""
    path = tmp_path_factory.mktemp("docs") / "a.txt"
    path.write_bytes(data)
    spec = VocabSpec(lowercase=lowercase, tokenizer=tokenizer, missing="skip")
    want = build_vocabulary(list(read_documents([path])), spec, progress=False)
    got = build_vocabulary(read_documents([path]), spec, progress=False)
    assert got.fingerprint == want.fingerprint
    assert got.stats == want.stats


@settings(deadline=None)
@given(
    texts=st.lists(st.text(alphabet="ab \u00a0\u3000Éé\t", max_size=8), min_size=1, max_size=20),
    start=st.integers(0, 5),
)
def test_tokenizing_a_slice_equals_tokenizing_each_text(texts, start):
    """Arrow slices (an offset into the buffers, as Beam's text batches are) tokenize like
    each text alone: the ASCII and empty-token shortcuts read the right bytes."""
    tokenizer = Tokenizer(VocabSpec(lowercase=True))
    sliced = pa.array(["\u00e9 x"] * start + texts, pa.string()).slice(start)
    got = tokenizer.tokenize_arrow(sliced).to_pylist()
    assert got == [tokenizer.tokenize(t) for t in texts]


@settings(deadline=None)
@given(
    counts=st.dictionaries(st.binary(max_size=3), st.integers(1, 4), max_size=40),
    k=st.integers(0, 45),
    descending=st.booleans(),
)
def test_best_rows_are_the_top_k_of_a_full_sort(counts, k, descending):
    table = pa.table(
        {"token": pa.array(list(counts), pa.binary()), "count": pa.array(list(counts.values()))}
    )
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=rule_sort_keys(descending)).to_numpy()
    assert best_rows(table, k, descending).tolist() == sorted(order[:k].tolist())


def test_best_rows_of_integer_tokens():
    table = pa.table({"token": pa.array([5, 3, 9, 1]), "count": pa.array([2, 2, 2, 7])})
    assert best_rows(table, 2).tolist() == [1, 3]
    assert best_rows(table, 2, descending=True).tolist() == [2, 3]


def _beam_counts(feature: Feature, batch: RecordBatch) -> dict:
    """``{shard: (counts, stats)}`` that the Beam counting step emits for one batch."""
    step = _CountTokens([feature], "skip", shards=3)
    step.setup()
    out = {}
    for (_, shard), partial in step.process(batch):
        partial = pickle.loads(pickle.dumps(partial))
        table = partial.table
        counts = dict(zip(table["token"].to_pylist(), table["count"].to_pylist())) if table else {}
        out[shard] = (counts, partial.stats)
    return out


@settings(deadline=None, max_examples=60)
@given(
    texts=st.lists(st.text(alphabet="ab \u00a0É\t", max_size=10), min_size=1, max_size=20),
    max_token_bytes=st.one_of(st.none(), st.integers(1, 4)),
    documents=st.booleans(),
)
# An empty text: no token and no missing value (both paths give the same stats keys).
@example(texts=[""], max_token_bytes=None, documents=False)
def test_beam_counts_arrow_text_as_it_counts_records(texts, max_token_bytes, documents):
    """A text batch carried as Arrow is counted (and its bad records found) exactly as
    the same records one by one: counts, documents, stats, per shard."""
    spec = VocabSpec(
        lowercase=True,
        max_token_bytes=max_token_bytes,
        min_document_count=1 if documents else None,
    )
    feature = Feature("text", "text", spec)
    arrow = RecordBatch.from_arrow("a.txt", 1, pa.record_batch({"text": pa.array(texts)}))
    records = RecordBatch("a.txt", tuple(range(1, len(texts) + 1)), {"text": list(texts)})
    assert _beam_counts(feature, arrow) == _beam_counts(feature, records)


def test_the_counter_adds_arrow_text_like_a_list():
    counter, listed = TokenCounter(VocabSpec()), TokenCounter(VocabSpec())
    counter.add_text_array(pa.array(["a b", "", "b"]))
    listed.add_batch(["a b", "", "b"])
    assert counter.table().equals(listed.table())
    assert (counter.documents, counter.total_tokens) == (listed.documents, listed.total_tokens)
    nulls = TokenCounter(VocabSpec(tokenizer="none", missing="skip"))
    nulls.add_text_array(pa.array(["x", None, ""]))  # the record path's rules
    assert dict(nulls.counts) == {b"x": 1} and nulls.missing == {"value": 2}
    assert np.array_equal(nulls.table()["count"].to_numpy(), [1])
