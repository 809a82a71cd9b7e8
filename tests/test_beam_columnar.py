"""The Beam build stays Arrow end to end: shard splits, shard summaries, the combiner's
merges and the exact top-k are Arrow tables (pickled as Arrow IPC), and the default
number of token shards follows the input's size."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from vocabguard import VocabSpec
from vocabguard._src.core.builder import candidate_table
from vocabguard._src.engines.beam.build import (
    MAX_SHARDS,
    SHARDS,
    Feature,
    _Candidates,
    _MergeSummaries,
    _Partial,
    _summarize_shard,
    default_shards,
    shard_ids,
    split_by_shard,
)
from vocabguard._src.engines.jobs import JobConfig

TOKENS = st.lists(st.binary(max_size=6), unique=True, max_size=60)


@given(tokens=TOKENS, shards=st.integers(1, 9))
def test_split_by_shard_partitions_the_table(tokens, shards):
    table = pa.table(
        {"token": pa.array(tokens, pa.binary()), "count": pa.array(range(len(tokens)), pa.int64())}
    )
    parts = list(split_by_shard(table, shards))
    assert parts[0][0] == 0  # shard 0 always comes (it carries the batch's stats)
    seen = []
    for shard, part in parts:
        assert set(shard_ids(part["token"], shards).tolist()) <= {shard}
        seen += part["token"].to_pylist()
    assert sorted(seen) == sorted(tokens)
    assert len(parts) == len({*shard_ids(table["token"], shards).tolist(), 0})


@given(
    counts=st.dictionaries(st.binary(min_size=1, max_size=4), st.integers(1, 9), max_size=80),
    shards=st.integers(1, 5),
    max_tokens=st.one_of(st.none(), st.integers(1, 12)),
)
def test_merged_summaries_are_the_exact_top_k_in_arrow(counts, shards, max_tokens):
    """Shard summaries merged in any order give candidate_table over all the counts."""
    spec = VocabSpec(tokenizer="none", max_tokens=max_tokens)
    feature = Feature("v", "v", spec)
    table = pa.table(
        {
            "token": pa.array(list(counts), pa.binary()),
            "count": pa.array(list(counts.values()), pa.int64()),
        }
    )
    combine = _MergeSummaries([feature], [()])
    acc = combine.create_accumulator()
    for shard, part in split_by_shard(table, shards):
        _, summary = _summarize_shard(((0, shard), _Partial(part, {"records": 1})), [feature], [()])
        summary = pickle.loads(pickle.dumps(summary))  # as after a shuffle
        acc = combine.add_input(acc, (0, summary))
    _, merged = combine.extract_output(acc)
    assert isinstance(merged["counts"], _Candidates)
    got = merged["counts"].table
    want = candidate_table(table, spec, "string")
    as_dict = dict(zip(got["token"].to_pylist(), got["count"].to_pylist())) if got else {}
    assert as_dict == dict(zip(want["token"].to_pylist(), want["count"].to_pylist()))
    assert merged["distinct"] == len(counts)
    assert merged["counted_tokens"] == sum(counts.values())


def test_candidates_pickle_as_arrow_ipc_empty_or_not():
    table = pa.table({"token": pa.array([b"a", b"b"]), "count": pa.array([3, 1])})
    back = pickle.loads(pickle.dumps(_Candidates(table)))
    assert back.table.equals(table)
    empty = pickle.loads(pickle.dumps(_Candidates()))
    assert empty.table is None and len(empty) == 0


def test_default_shards_follow_the_input_size():
    assert default_shards(0) == default_shards(512 << 20) == SHARDS
    assert default_shards(4 << 30) == 64  # 64 MiB of input per shard
    assert default_shards(1 << 50) == MAX_SHARDS
    sizes = np.array([default_shards(n << 20) for n in range(0, 10_000, 97)])
    assert (np.diff(sizes) >= 0).all()
    config = {"inputs": ["x.txt"], "features": {"t": {}}}
    assert JobConfig.from_dict(config).shards is None  # chosen from the inputs' size
    assert JobConfig.from_dict({**config, "shards": 3}).shards == 3
