"""Counting tokens on Beam and publishing every feature's vocabulary (``BuildVocabularies``)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.builder import (
    MISSING_TOKEN_COUNT,
    MISSING_TOKEN_DOCUMENTS,
    TokenCounter,
    missing_token_stats,
    with_missing_token,
)
from vocabguard._src.core.errors import (
    ConfigError,
    InputDataError,
    StoreError,
    VocabguardError,
    received,
)
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.vocabulary import INT64, STRING, Vocabulary
from vocabguard._src.engines.beam.read import (
    FLUSH_ROWS,
    SHARDS,
    BadRecords,
    RecordBatch,
    check_policy,
)
from vocabguard._src.engines.columnar import _columnar, _count_column
from vocabguard._src.engines.features import (
    Feature,
    build_record,
    check_not_empty,
    check_skipped,
    published_results,
)
from vocabguard._src.engines.features import manifest_stats as job_manifest_stats
from vocabguard._src.engines.formats.common import BadRecord

_log = logging.getLogger(__name__)


class _CountTokens(beam.DoFn):
    """Counts each batch's tokens per feature; emits ``((feature, shard), Partial)``.

    Only ``process`` emits (no ``finish_bundle`` output, which some runners drop):
    pre-aggregation across a bundle is the combiner's job (combiner lifting). Each
    batch emits, per feature, one element keyed by shard 0 that carries the batch's
    statistics even when it holds no token, so the final step can check that no
    batch was lost.
    """

    def __init__(self, features: Sequence[Feature], policy: str, shards: int = SHARDS):
        self.features = list(features)
        self.policy = policy
        self.shards = shards

    def setup(self):
        self.bad = BadRecords(self.policy)
        self.counters = [
            TokenCounter(f.spec, weighted=f.weight_field is not None) for f in self.features
        ]
        self._tokens: dict[tuple[int, str], pa.ListArray] = {}  # set by _bad_rows

    def _bad_rows(self, batch: RecordBatch) -> set[int]:
        """Rows with a value of the wrong type, or a token over max_token_bytes."""
        bad: dict[int, BadRecord] = {}
        # Each field's tokens, kept for counting when every row passes (the usual
        # case): tokenizing is the costliest step, so it is done once per batch.
        self._tokens = {}
        pairs = ((i, f, x) for i, f in enumerate(self.features) for x in f.all_fields)
        for index, feature, field in pairs:
            values = batch.columns[field]
            needs_text = feature.spec.tokenizer != "none"
            batch.check_values(field, feature.spec, bad)
            for row, value in enumerate(values):
                # Mixed integers and strings under tokenizer none are not a per-record
                # fault: the vocabulary's kind is global, so _publish rejects the mix
                # (the same answer whatever the batch size).
                if needs_text and isinstance(value, int) and row not in bad:
                    bad[row] = batch.bad_record(
                        row,
                        field,
                        "wrong_type",
                        f"expected a string for tokenizer {feature.spec.tokenizer!r}, found "
                        f"the integer {value}",
                    )
            limit = feature.spec.max_token_bytes
            if limit is None or not needs_text:
                continue
            good = [
                r
                for r in range(len(values))
                if r not in bad and isinstance(values[r], (str, bytes))
            ]
            texts = pa.array([values[r] for r in good])
            lists = self.counters[index].tokenizer.tokenize_arrow(texts)
            if len(good) == len(values) and pa.types.is_string(texts.type):
                self._tokens[index, field] = lists
            too_long = pc.greater(pc.binary_length(lists.flatten()), limit)
            for parent in set(pc.list_parent_indices(lists).filter(too_long).to_pylist()):
                row = good[parent]
                bad.setdefault(
                    row,
                    batch.bad_record(
                        row,
                        field,
                        "token_too_long",
                        f"a token is longer than max_token_bytes={limit}",
                    ),
                )
        for row in sorted(bad):
            self.bad.handle(bad[row])
        return set(bad)

    def process(self, batch: RecordBatch):
        records = len(batch) + sum(n for _, n in batch.skipped)
        counted = self._arrow_counts(batch) if batch.arrow is not None else None
        if counted is None:
            counted = self._record_counts(batch)
        for index, table, stats in counted:
            stats = {"records": records, "batches": 1, **stats}
            if table is None:
                yield (index, 0), _Partial(None, stats)
                continue
            for shard, part in split_by_shard(table, self.shards):
                if shard == 0:
                    yield (index, 0), _Partial(part, stats)
                elif len(part):
                    yield (index, shard), _Partial(part)

    def _record_counts(self, batch: RecordBatch):
        """``(feature, counts table, stats)`` of a batch, record by record (the rules)."""
        bad_rows = self._bad_rows(batch)
        if bad_rows:  # the rows change: the tokens kept by _bad_rows no longer line up
            self._tokens = {}
        batch = batch.take([r for r in range(len(batch)) if r not in bad_rows], self.bad.drain())
        for index, (feature, counter) in enumerate(zip(self.features, self.counters)):
            counter.reset()
            units = None
            if feature.weight_field is not None and len(batch):
                from vocabguard._src.core.values import weight_units

                units = weight_units(batch.columns[feature.weight_field], source=batch.path)
            for field in feature.all_fields:
                tokens = self._tokens.get((index, field))
                self._count(feature, counter, batch.columns[field], field, units, tokens)
            counter.documents = len(batch)
            table = counter.table()
            yield (
                index,
                table,
                {
                    "documents": counter.documents,
                    "total_tokens": counter.total_tokens,
                    "counted_units": int(pc.sum(table["count"]).as_py() or 0) if len(table) else 0,
                    "total_weight_units": counter.total_weight_units,
                    **{f"missing.{field}": n for field, n in counter.missing.items()},
                    **missing_token_stats(counter),  # summed; its row added at publish
                    **{f"lists.{field}": 1 for field in counter.list_fields},
                    **{f"bad_records.{reason}": n for reason, n in batch.skipped},
                },
            )

    def _arrow_counts(self, batch: RecordBatch) -> list | None:
        """``(feature, counts table, stats)`` of a batch of Arrow columns, counted with
        Arrow (``value_counts``; the in-process runner's columnar counting; text features
        tokenized in Arrow, ``_text_counts``), or ``None`` when a feature or a record
        needs the record-by-record rules: lists, weights, document counts (tokenizer
        none), a null or '' where missing values are errors, integer and string fields
        in one feature, a null or a non-string value under a text tokenizer, or a token
        over ``max_token_bytes``.
        """
        columns = batch.arrow
        for feature in self.features:
            if not _columnar(feature):
                if not _arrow_text(feature, columns):
                    return None
                continue
            kinds = set()
            for field in feature.all_fields:
                column = columns.column(field)
                values = column.dictionary if pa.types.is_dictionary(column.type) else column
                integer = pa.types.is_integer(values.type)
                kinds.add(integer)
                if feature.spec.missing != "error":
                    continue
                if column.null_count:
                    return None
                if not integer and len(values):
                    # '' is a missing value under tokenizer none (a dictionary's unused
                    # entries too: to be safe, the record path decides).
                    if pc.any(pc.equal(pc.binary_length(values), 0)).as_py():
                        return None
            if len(kinds) > 1:
                return None
        counted = []
        skipped = {f"bad_records.{reason}": n for reason, n in batch.skipped}
        for index, (feature, counter) in enumerate(zip(self.features, self.counters)):
            if not _columnar(feature):
                table, stats = _text_counts(feature, counter, columns)
                if stats is None:
                    return None  # a token over max_token_bytes: the record path names it
                counted.append((index, table, {**stats, **skipped}))
                continue
            stats: dict[str, int] = {
                "documents": len(batch),
                "total_tokens": 0,
                "counted_units": 0,
                "total_weight_units": 0,
            }
            tables = []
            merge = False
            for field in feature.all_fields:
                column = columns.column(field)
                table, more = _count_column(feature, counter.tokenizer, column, field)
                if table is not None:
                    tables.append(table)
                    # A dictionary may hold a value twice (Arrow does not promise one
                    # entry per value): its counts are merged by token.
                    merge = merge or pa.types.is_dictionary(column.type)
                for key, n in more.items():
                    stats[key] = stats.get(key, 0) + n
            stats.update(skipped)
            if len(tables) == 1 and merge:
                tables.append(tables[0].slice(0, 0))  # compact_tables merges 2 or more
            from vocabguard._src.core.builder import compact_tables

            tables = compact_tables(tables)
            counted.append((index, tables[0] if tables else None, stats))
        return counted

    @staticmethod
    def _count(
        feature: Feature,
        counter: TokenCounter,
        values: list,
        field: str,
        units,
        tokens: pa.ListArray | None = None,
    ) -> None:
        from vocabguard._src.core.builder import _plain

        if not values:
            return
        if units is not None or not _plain(values, feature.spec):
            counter.add_batch(values, weights=units, field=field, records=False)
            return
        counter.missing.setdefault(field, 0)
        # records=False: the batch's documents are set by process, and document counts
        # per token are taken over all of a feature's fields (counter.table flushes them).
        if all(isinstance(v, int) for v in values):
            counter.add_arrow(pa.array(values, type=pa.int64()), records=False)
        elif any(isinstance(v, int) for v in values):
            raise _mixed_kinds(feature)
        else:
            text_type = pa.string() if all(isinstance(v, str) for v in values) else pa.binary()
            texts = pa.array(values, type=text_type)
            lists = tokens if pa.types.is_string(text_type) else None
            counter.add_arrow(texts, records=False, lists=lists)


def _arrow_text(feature: Feature, columns: pa.RecordBatch) -> bool:
    """Whether a text feature's fields of an Arrow batch can be tokenized and counted in
    Arrow: plain string (or binary) values, no nulls, no weights, no lists."""
    spec = feature.spec
    if spec.tokenizer == "none" or feature.weight_field is not None:
        return False
    if spec.value_shape == "list":
        return False
    for field in feature.all_fields:
        column = columns.column(field)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if column.null_count or not (
            pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind)
        ):
            return False
    return True


def _text_counts(feature: Feature, counter: TokenCounter, columns: pa.RecordBatch):
    """``(counts table, stats)`` of a text feature over an Arrow batch (``_arrow_text``),
    tokenized once and counted in Arrow; ``(None, None)`` when a token is over
    ``max_token_bytes`` (the record path makes those records bad records)."""
    counter.reset()
    limit = feature.spec.max_token_bytes
    for field in feature.all_fields:
        column = columns.column(field)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        lists = counter.tokenizer.tokenize_arrow(column)
        flat = lists.flatten()
        if limit is not None and len(flat) and pc.max(pc.binary_length(flat)).as_py() > limit:
            return None, None
        counter.missing.setdefault(field, 0)
        counter.add_arrow(column, records=False, lists=lists)
    counter.documents = columns.num_rows
    table = counter.table()
    stats = {
        "documents": counter.documents,
        "total_tokens": counter.total_tokens,
        "counted_units": int(pc.sum(table["count"]).as_py() or 0) if len(table) else 0,
        "total_weight_units": 0,
        **{f"missing.{field}": n for field, n in counter.missing.items()},
    }
    return (table if len(table) else None), stats


def field_rules(features, passthrough=()):
    """The reader's ``FieldRules`` for these features: which fields may hold lists,
    missing values or weights (each feature's spec is applied when counting)."""
    from vocabguard._src.engines.formats.fields import FieldRules

    shapes: dict[str, str] = {}
    missing: set[str] = set()
    weights: set[str] = set()
    for feature in features:
        for field in feature.all_fields:
            if feature.spec.value_shape != "scalar":
                shapes[field] = "list" if feature.spec.value_shape == "list" else "any"
            if feature.spec.missing != "error":
                missing.add(field)
        if feature.weight_field:
            weights.add(feature.weight_field)
    return FieldRules(shapes, frozenset(missing), frozenset(weights))


_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime
BYTES_PER_SHARD = 64 << 20
MAX_SHARDS = 4096


def split_by_shard(table: pa.Table, shards: int):
    """``(shard, rows)`` for every shard of a ``(token, ...)`` table, shard 0 always
    (perhaps empty): one stable sort by shard id and slices, not a filter per shard.

    >>> t = pa.table({"token": pa.array([4, 1, 6, 3]), "count": pa.array([1, 1, 1, 1])})
    >>> [(shard, part["token"].to_pylist()) for shard, part in split_by_shard(t, 2)]
    [(0, [4, 6]), (1, [1, 3])]
    """
    if not len(table):
        yield 0, table
        return
    shard_of = shard_ids(table["token"], shards)
    order = np.argsort(shard_of, kind="stable")
    bounds = np.searchsorted(shard_of[order], np.arange(shards + 1))
    ordered = table.take(pa.array(order))
    for shard in range(shards):
        start, stop = int(bounds[shard]), int(bounds[shard + 1])
        if shard == 0 or stop > start:
            yield shard, ordered.slice(start, stop - start)


def default_shards(input_bytes: int) -> int:
    """Token shards for a job reading ``input_bytes``: ``SHARDS`` (8) up to 512 MiB of
    input, then one more per ``BYTES_PER_SHARD`` (64 MiB), at most ``MAX_SHARDS``.

    A feature's distinct tokens grow at most with the bytes it is read from, so each
    shard, merged by one worker, stays about the same size whatever the input; shards
    a small feature leaves empty cost nothing (only non-empty parts are emitted).

    >>> default_shards(0), default_shards(1 << 30), default_shards(1 << 40)
    (8, 16, 4096)
    """
    return min(MAX_SHARDS, max(SHARDS, -(-int(input_bytes) // BYTES_PER_SHARD)))


def input_bytes(patterns: Sequence[str]) -> int:
    """The total size of the files ``patterns`` match (any Beam filesystem)."""
    from apache_beam.io.filesystems import FileSystems

    total = 0
    for pattern in patterns:
        try:
            (result,) = FileSystems.match([pattern])
        except Exception:  # the reader reports unmatched inputs, by name
            continue
        total += sum(meta.size_in_bytes for meta in result.metadata_list)
    return total


def shard_ids(tokens: pa.Array | pa.ChunkedArray, shards: int) -> np.ndarray:
    """A shard per token, the same in every process and on every machine.

    Integers: ``value mod shards``. Bytes: a polynomial hash over the token's bytes,
    computed for the whole array at once in numpy (no per-token Python).

    >>> ids = shard_ids(pa.array([b"a", b"b", b"a", b""]), 4)
    >>> bool(ids[0] == ids[2] == shard_ids(pa.array([b"a"]), 4)[0])
    True
    """
    if isinstance(tokens, pa.ChunkedArray):
        tokens = tokens.combine_chunks()
    if pa.types.is_integer(tokens.type):
        return np.mod(tokens.to_numpy(zero_copy_only=False), shards)
    if len(tokens) == 0:
        return np.zeros(0, dtype=np.int64)
    tokens = tokens.cast(pa.large_binary())
    offsets = np.frombuffer(tokens.buffers()[1], dtype=np.int64)[
        tokens.offset : tokens.offset + len(tokens) + 1
    ]
    data = np.frombuffer(tokens.buffers()[2], dtype=np.uint8) if tokens.buffers()[2] else None
    lengths = np.diff(offsets)
    hashes = np.zeros(len(tokens), dtype=np.uint64)
    nonempty = lengths > 0
    if data is not None and nonempty.any():
        start, stop = offsets[0], offsets[-1]
        values = data[start:stop].astype(np.uint64)
        longest = int(lengths.max())
        # weight of byte j of a token: multiplier**j (mod 2**64: uint64 products wrap)
        powers = _powers(longest)
        with np.errstate(over="ignore"):
            if int(lengths.min()) == longest:  # one length (ids, hashes): a matrix row sum
                sums = (values.reshape(len(tokens), longest) * powers).sum(axis=1, dtype=np.uint64)
                hashes = sums + lengths.astype(np.uint64)
            else:
                position = np.arange(stop - start, dtype=np.int64) - np.repeat(
                    offsets[:-1] - start, lengths
                )
                sums = np.add.reduceat(values * powers[position], (offsets[:-1] - start)[nonempty])
                hashes[nonempty] = sums + lengths[nonempty].astype(np.uint64)
            hashes ^= hashes >> np.uint64(29)
            hashes *= np.uint64(0xBF58476D1CE4E5B9)
            hashes ^= hashes >> np.uint64(32)
    return (hashes % np.uint64(shards)).astype(np.int64)


def _powers(n: int) -> np.ndarray:
    """``multiplier**j mod 2**64`` for ``j < n`` (uint64 products wrap)."""
    with np.errstate(over="ignore"):
        powers = np.full(n, _HASH_MULTIPLIER, dtype=np.uint64)
        powers[0] = 1
        return np.cumprod(powers, dtype=np.uint64)


def _mixed_kinds(feature: Feature) -> InputDataError:
    return InputDataError(
        f"Feature {feature.field!r} holds both integer and string values; a vocabulary "
        "holds one kind. Make the field consistent (or cast it in the input). "
        + received(feature=feature.field)
    )


def _ipc_bytes(table: pa.Table) -> bytes:
    """A table as one Arrow IPC stream (LZ4-compressed where pyarrow has the codec)."""
    codec = "lz4" if pa.Codec.is_available("lz4") else None
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=codec)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


# Accumulators that spill (``_MergeCounts(spill)``): pending rows are compacted once
# over ``SPILL_PENDING_ROWS`` (and twice the last compacted size), and a compacted
# table of ``SPILL_ROWS`` or more is written to the job's staging directory. A process
# holds every (feature, shard) accumulator of its bundle at once (combiner lifting
# flushes them only when the bundle ends), so without this it held every batch's
# partial counts: 1.4 GB of Arrow at 10 M Criteo rows, growing with the input.
SPILL_ROWS = 1 << 15
SPILL_PENDING_ROWS = 1 << 14
# Partial counts of at least this many rows cross a shuffle as a file's name.
SPILL_PICKLE_ROWS = 1 << 12


class _Partial:
    """Partial counts of one (feature, shard): ``(token, count)`` tables (compacted in
    Arrow), runs spilled to files (``files``) and stats. The elements the counting step
    emits, the combiner's accumulator and its output.

    Pickled as Arrow IPC streams, not as pickled tables: pickling a ``pa.Table`` copies
    its buffers several times over, and runners pickle every element and accumulator
    that crosses a shuffle (at 1 GB this took the 1-worker DirectRunner job from about
    0.6 to 1.7 GB of peak RSS). The streams are kept until the counts change: Beam
    pickles a sample of elements a second time to estimate their size. With ``spill``
    (an accumulator of ``_MergeCounts``), large counts are written to the job's staging
    directory instead and only the files' names are pickled: with ``multi_processing``
    the runner's parent holds everything that crosses a shuffle.
    """

    __slots__ = ("_streams", "compacted", "files", "rows", "spill", "stats", "tables")

    def __init__(
        self,
        table: pa.Table | None = None,
        stats: Mapping[str, int] | None = None,
        spill: _Spill | None = None,
    ):
        self._streams: list[bytes] | None = None
        self.tables: list[pa.Table] = []
        self.files: list[str] = []
        self.spill = spill
        self.rows = 0
        self.compacted = 0
        self.stats: dict[str, int] = {}
        if table is not None or stats is not None:
            self.add(table, stats)

    @property
    def table(self) -> pa.Table | None:
        """All counts as one table (``None`` when there are none); spilled runs are
        read back and merged."""
        if self.files:
            from vocabguard._src.core.builder import compact_tables

            fs, _ = self.spill.fs_and_dir()  # files come only to accumulators that spill
            # Each run is compacted; runs share tokens: merged as separate tables.
            runs = [_Candidates(None, [path]).load(fs) for path in self.files]
            self.tables = compact_tables(self.tables + [t for t in runs if len(t)])
            self.files = []
            self._streams = None
            self.rows = self.compacted = len(self.tables[0]) if self.tables else 0
        self.compact()
        return self.tables[0] if self.tables else None

    def add(self, table: pa.Table | None, stats: Mapping[str, int] | None) -> None:
        if table is not None and len(table):
            self._streams = None
            self.tables.append(table)
            self.rows += len(table)
            if self.spill is None:
                if self.rows > max(TokenCounter.COMPACT_ROWS, 2 * self.compacted):
                    self.compact()
            elif self.rows > max(SPILL_PENDING_ROWS, 2 * self.compacted):
                self.compact()
                if self.compacted >= SPILL_ROWS:
                    self._spill_tables()
        for key, n in (stats or {}).items():
            self.stats[key] = self.stats.get(key, 0) + n

    def add_files(self, files: Sequence[str]) -> None:
        if files:
            self._streams = None
            self.files.extend(files)

    def compact(self) -> None:
        from vocabguard._src.core.builder import compact_tables

        if len(self.tables) > 1:
            self._streams = None
            self.tables = compact_tables(self.tables)
        self.rows = self.compacted = len(self.tables[0]) if self.tables else 0

    def _spill_tables(self) -> None:
        """The in-memory counts written as one run file (the counts stay the same)."""
        self.compact()
        if self.tables and len(self.tables[0]):
            self.files.extend(self.spill.write(self.tables[0], "counts").files)
        self.tables = []
        self.rows = self.compacted = 0
        self._streams = None

    def __getstate__(self):
        self.compact()
        if self.spill is not None and (self.files or self.rows >= SPILL_PICKLE_ROWS):
            self._spill_tables()
        if self._streams is None:
            self._streams = [_ipc_bytes(t) for t in self.tables]
        return (self._streams, self.stats, self.files)

    def __setstate__(self, state):
        streams, self.stats, self.files = state
        self.spill = None
        self._streams = None
        self.tables = [pa.ipc.open_stream(s).read_all() for s in streams]
        self.rows = self.compacted = sum(len(t) for t in self.tables)


class _MergeCounts(beam.CombineFn):
    """Merges the partial counts of one (feature, shard) in Arrow; sums the stats.

    With ``spill``, large accumulators are written to the job's staging directory as
    they grow (``_Partial``), so a process's memory does not grow with the input.
    """

    def __init__(self, spill: _Spill | None = None):
        self.spill = spill

    def create_accumulator(self):
        return _Partial(spill=self.spill)

    def add_input(self, acc, element):
        try:
            for table in element.tables:
                acc.add(table, None)
            acc.add_files(element.files)
            acc.add(None, element.stats)
        except InputDataError:
            raise _MIXED_KINDS_ERROR() from None
        return acc

    def merge_accumulators(self, accumulators):
        merged = _Partial(spill=self.spill)
        for acc in accumulators:
            self.add_input(merged, acc)
        return merged

    def compact(self, acc):
        try:
            acc.compact()
        except InputDataError:
            raise _MIXED_KINDS_ERROR() from None
        return acc

    def extract_output(self, acc):
        try:
            _ = acc.table  # reads the spilled runs back and merges them
        except InputDataError:
            raise _MIXED_KINDS_ERROR() from None
        return acc


def _MIXED_KINDS_ERROR() -> InputDataError:
    return InputDataError(
        "A feature holds both integer and string values; a vocabulary holds one kind. "
        "Make the field consistent (or cast it in the input). " + received(token_types="mixed")
    )


class _Candidates:
    """A shard's (or a feature's) candidate rows: an Arrow ``(token, count[, documents])``
    table held in memory, and/or Arrow IPC files in the job's staging directory
    (``files``, ``file_rows`` rows in all) that only the feature's stage step reads.

    Pickled as an Arrow IPC stream (runners pickle what crosses a shuffle; the stream
    is kept: Beam pickles a sample of elements twice, once to estimate size). Spilled
    candidates cross the shuffle as file names only: with ``multi_processing`` the
    runner's parent holds everything that crosses a shuffle, and every feature's
    candidates (all distinct tokens of the job) held there went over 2 GB.
    """

    __slots__ = ("_stream", "file_rows", "files", "table")

    def __init__(
        self, table: pa.Table | None = None, files: Sequence[str] = (), file_rows: int = 0
    ):
        self.table = table
        self.files = list(files)
        self.file_rows = file_rows
        self._stream: bytes | None = None

    def __len__(self) -> int:
        return (0 if self.table is None else len(self.table)) + self.file_rows

    def __getstate__(self):
        # A tuple, never a false value: pickle skips __setstate__ for those.
        if self._stream is None and self.table is not None:
            self._stream = _ipc_bytes(self.table)
        return (self._stream, self.files, self.file_rows)

    def __setstate__(self, state):
        stream, self.files, self.file_rows = state
        self._stream = None
        self.table = None if stream is None else pa.ipc.open_stream(stream).read_all()

    def merged(self, other: _Candidates, cut) -> _Candidates:
        """Both candidates (disjoint: tokens are sharded); ``cut(table)`` keeps the best
        of an in-memory table (``max_tokens``), or ``None`` keeps every row."""
        tables = [t for t in (self.table, other.table) if t is not None and len(t)]
        table = None
        if len(tables) > 1:
            table = pa.concat_tables(tables)
            table = cut(table) if cut is not None else table
        elif tables:
            table = tables[0]
        return _Candidates(table, self.files + other.files, self.file_rows + other.file_rows)

    def load(self, fs, cut=None) -> pa.Table | None:
        """Every candidate as one table (spilled files read one at a time; with ``cut``,
        the best kept as they come, so at most about twice ``max_tokens`` rows wait)."""
        table, pieces = self.table, 0 if self.table is None else 1
        for path in self.files:
            try:
                with fs.open_input_stream(path) as handle:
                    part = pa.ipc.open_stream(handle).read_all()
            except OSError as err:
                raise StoreError(
                    f"Could not read a shard's staged candidates ({err}); the job's staging "
                    "directory was deleted or is unreadable, so nothing was published. Rerun "
                    "the job. " + received(path=path)
                ) from None
            table = part if table is None else pa.concat_tables([table, part])
            pieces += 1
            if cut is not None and pieces > 1:
                table = cut(table)
        return table


class _Spill:
    """Where partial counts and shard candidates are staged:
    ``<store>/.jobs/<staging>.staged/spilled/``,
    under the job's staging directory, so the publish step (or ``discard_staged``, or a
    later job's clean-up of abandoned staging) deletes them with the staged versions."""

    def __init__(self, store: str, staging: str):
        self.store = store
        self.staging = staging
        self._where = None

    def __getstate__(self):
        return (self.store, self.staging)

    def __setstate__(self, state):
        self.store, self.staging = state
        self._where = None

    def fs_and_dir(self):
        """``(filesystem, directory)``: the store's filesystem (made once per process)."""
        if self._where is None:
            from vocabguard._src.core.journal import staging_dir
            from vocabguard._src.core.store import VocabStore

            vocab_store = VocabStore(self.store)
            directory = f"{staging_dir(vocab_store, self.staging)}/spilled"
            vocab_store.fs.create_dir(directory, recursive=True)
            self._where = (vocab_store.fs, directory)
        return self._where

    def write(self, table: pa.Table, prefix: str) -> _Candidates:
        # A retried step writes a file of its own: the attempt whose output wins names it.
        path = "?"
        codec = "lz4" if pa.Codec.is_available("lz4") else None
        try:
            fs, directory = self.fs_and_dir()
            path = f"{directory}/{prefix}.{uuid.uuid4().hex}.arrows"
            with fs.open_output_stream(path) as handle:
                options = pa.ipc.IpcWriteOptions(compression=codec)
                with pa.ipc.new_stream(handle, table.schema, options=options) as writer:
                    writer.write_table(table)
        except OSError as err:
            raise StoreError(
                f"Could not stage a shard's candidates in the store ({err}); nothing was "
                "published. Check that the store is writable from the workers. "
                + received(path=path)
            ) from None
        return _Candidates(None, [path], len(table))


def _summarize_shard(
    item,
    features: Sequence[Feature],
    inherited: Sequence[tuple],
    totals: Mapping | None = None,
    *,
    spill: _Spill | None = None,
):
    """(feature, shard) counts -> (feature, summary): candidates, distinct and token sums.

    ``totals``: each feature's documents (a side input), for ``max_document_fraction``.
    The candidates stay one Arrow table (``_Candidates``), never a dict; with ``spill``
    they are written to the job's staging directory and only their file name goes on.
    """
    from vocabguard._src.core.builder import candidate_table

    (index, _shard), partial = item
    table, stats = partial.table, partial.stats
    feature = features[index]
    summary = {
        "distinct": 0,
        "kinds": (),
        "counts": _Candidates(),
        "max_token_documents": 0,
        "counted_tokens": 0,
        "stats": stats,
    }
    if table is not None and len(table):
        token_type = INT64 if pa.types.is_integer(table.schema.field("token").type) else STRING
        chosen = candidate_table(
            table,
            feature.spec,
            token_type,
            inherited=inherited[index],
            count_scale=_scale(feature),
            total_documents=(totals or {}).get(index),
        )
        summary.update(
            distinct=len(table),
            kinds=(token_type,),
            counts=spill.write(chosen, f"candidates.{index}.{_shard}")
            if spill and len(chosen)
            else _Candidates(chosen),
            counted_tokens=int(pc.sum(table["count"]).as_py() or 0),
        )
        if "documents" in table.column_names:
            summary["max_token_documents"] = int(pc.max(table["documents"]).as_py() or 0)
    return index, summary


def _feature_documents(item) -> tuple[int, int]:
    """A (feature, shard 0) merge result -> (feature, documents counted)."""
    (index, _shard), partial = item
    return index, partial.stats.get("documents", 0)


class _MergeSummaries(beam.CombineFn):
    """Merges shard summaries of each feature, keeping the best ``max_tokens`` candidates.

    Every token lives in exactly one shard, so the global best ``max_tokens`` are
    among the shards' best ``max_tokens``: the result is exact. The candidates are
    Arrow tables, concatenated and cut with one Arrow sort (``candidate_table``).
    """

    def __init__(self, features: Sequence[Feature], inherited: Sequence[tuple]):
        self.specs = [f.spec for f in features]
        self.scales = [_scale(f) for f in features]
        self.inherited = list(inherited)  # the parents' tokens: kept whatever their count

    def create_accumulator(self):
        return None

    def add_input(self, acc, element):
        index, summary = element
        if acc is None:
            return (index, {**summary, "stats": dict(summary["stats"])})
        _, merged = acc
        kinds = tuple(sorted(set(merged["kinds"]) | set(summary["kinds"])))
        first, second = merged["counts"], summary["counts"]
        if len(kinds) > 1:
            counts = first if len(first) else second  # mixed kinds: the stage step reports them
        else:
            counts = first.merged(second, self._cut(index, kinds))
        stats = dict(merged["stats"])
        for key, n in summary["stats"].items():
            stats[key] = stats.get(key, 0) + n
        return index, {
            "distinct": merged["distinct"] + summary["distinct"],
            "kinds": kinds,
            "counts": counts,
            "max_token_documents": max(
                merged["max_token_documents"], summary["max_token_documents"]
            ),
            "counted_tokens": merged["counted_tokens"] + summary["counted_tokens"],
            "stats": stats,
        }

    def _cut(self, index: int, kinds: tuple):
        return _best_cut(self.specs[index], kinds, self.inherited[index], self.scales[index])

    def merge_accumulators(self, accumulators):
        out = None
        for acc in accumulators:
            if acc is not None:
                out = self.add_input(out, acc)
        return out

    def extract_output(self, acc):
        return acc


def _is_shard_zero(item) -> bool:
    return item[0][1] == 0


def _keyed_by_feature(item):
    """(feature, summary) -> (feature, (feature, summary)): merged per feature."""
    return item[0], item


def _scale(feature: Feature) -> int:
    from vocabguard._src.core.values import WEIGHT_SCALE

    return WEIGHT_SCALE if feature.weight_field else 1


def _best_cut(spec: VocabSpec, kinds: tuple, inherited: tuple, count_scale: int):
    """``table -> its best max_tokens candidates`` (``_keep_best``), or ``None`` when
    every candidate is kept (no ``max_tokens``, or no token kind yet)."""
    if spec.max_tokens is None or not kinds:
        return None
    return lambda table: _keep_best(table, spec, kinds[0], inherited, count_scale)


def _keep_best(
    table: pa.Table,
    spec: VocabSpec,
    token_type: str,
    inherited: tuple = (),
    count_scale: int = 1,
) -> pa.Table:
    """The best ``max_tokens`` candidates of merged shard candidates (and the specials)."""
    from vocabguard._src.core.builder import candidate_table

    if spec.counts_documents:
        # The shards applied the document rules already (with the job's total documents).
        spec = spec.replace(min_document_count=None, max_document_fraction=None)
    return candidate_table(table, spec, token_type, inherited=inherited, count_scale=count_scale)


def _missing(stats: Mapping) -> dict[str, int]:
    """``with_missing_token``'s count and documents, from a feature's merged stats."""
    return {
        "count": stats.get(MISSING_TOKEN_COUNT, 0),
        "documents": stats.get(MISSING_TOKEN_DOCUMENTS, 0),
    }


def _vocabulary(candidates: _Candidates, feature: Feature, token_type: str, **kwargs) -> Vocabulary:
    """A feature's vocabulary from its merged candidates (Arrow columns, no dict)."""
    from vocabguard._src.core.vocabulary import arrow_token_type, vocabulary_from_counts

    table = candidates.table
    if table is None:
        table = pa.table(
            {"token": pa.array([], arrow_token_type(token_type)), "count": pa.array([], pa.int64())}
        )
    documents = None
    if feature.spec.counts_documents:
        documents = table["documents"] if "documents" in table.column_names else []
    return vocabulary_from_counts(
        table["token"],
        table["count"],
        feature.spec,
        token_type,
        document_counts=documents,
        retire=feature.retire,
        count_scale=_scale(feature),
        **kwargs,
    )


def records_in(batch: RecordBatch) -> tuple[str, int]:
    return ("read", len(batch) + sum(n for _, n in batch.skipped))


def check_build(
    feature: Feature, summary: dict | None, records_read: int, runner: str
) -> dict[str, int]:
    """The checks a build passes before anything is published; returns the feature's stats.

    Per feature: the batches' records equal the records the reader produced;
    documents + skipped records = records read; the tokens in the merged counts
    equal the tokens counted; at most ``max_bad_fraction`` of the records skipped;
    and inputs that held records give a non-empty vocabulary (unless
    ``allow_empty``). Each failure names the runner, the feature and both numbers.
    """
    stats = dict(summary["stats"]) if summary else {}
    where = f"On {runner}, feature {feature.field!r} (vocabulary {feature.name!r})"
    seen = stats.get("records", 0)
    if seen != records_read:
        raise InputDataError(
            f"{where}: the counting step saw {seen} records but the reader produced "
            f"{records_read}; the runner lost or duplicated data, so nothing was published. "
            "Rerun, or report the runner and its version. "
            + received(runner=runner, counted_records=seen, records_read=records_read)
        )
    skipped = {k.split(".", 1)[1]: n for k, n in stats.items() if k.startswith("bad_records.")}
    skipped_total = sum(skipped.values())
    documents = stats.get("documents", 0)
    if documents + skipped_total != records_read:
        raise InputDataError(
            f"{where}: documents counted ({documents}) + records skipped ({skipped_total}) "
            f"!= records read ({records_read}); nothing was published. "
            + received(runner=runner, documents=documents, skipped=skipped_total)
        )
    most = summary.get("max_token_documents", 0) if summary else 0
    if most > documents:
        raise InputDataError(
            f"{where}: a token is counted in {most} documents but only {documents} documents "
            "were counted; the runner duplicated counts, so nothing was published. "
            + received(runner=runner, token_documents=most, documents=documents)
        )
    counted = summary["counted_tokens"] if summary else 0
    # Weights and missing values make the counts' sum differ from the tokens seen; the
    # counting step records what it put into the counts.
    expected = stats.get("counted_units", stats.get("total_tokens", 0))
    if counted != expected:
        raise InputDataError(
            f"{where}: the merged counts hold {counted} tokens but {expected} "
            "were counted; the runner lost or duplicated counts, so nothing was published. "
            + received(runner=runner, merged=counted, counted=expected)
        )
    reasons = check_skipped(where, skipped, records_read, feature.max_bad_fraction, runner)
    # Nothing learned: no candidate row, or no token counted.
    tokens = counted if summary and summary["counts"] else 0
    tokens += stats.get(MISSING_TOKEN_COUNT, 0)  # a row added with the vocabulary
    check_not_empty(
        where,
        records_read,
        tokens,
        feature.allow_empty,
        runner,
        reasons=reasons,
        documents=documents,
    )
    return stats


_NO_SUMMARY = {"kinds": (), "distinct": 0, "stats": {}}


def _stage_feature(
    item,
    features: Sequence[Feature],
    keys: Sequence[str],
    store: str,
    description: str | None,
    parent_refs: Sequence[str | None],
    staging: str,
    inherited: Sequence[tuple] = (),
):
    """A feature's merged summary -> ``("feature", index, summary, staged)``: its
    vocabulary built and its files staged in the store (``journal.stage_version``) as
    soon as it is selected, so no process holds every feature's tokens.

    ``summary`` is the summary without its candidates (what the checks need);
    ``staged`` a ``StagedVersion``, or the error that building it raised: the publish
    step raises it after every feature's checks, in feature order, as when every
    vocabulary was built there.
    """
    from vocabguard._src.core.journal import stage_version
    from vocabguard._src.core.store import VocabStore

    _, (index, summary) = item
    feature = features[index]
    vocab_store = VocabStore(store)
    candidates = summary.get("counts") or _Candidates()
    small = {key: value for key, value in summary.items() if key != "counts"}
    small["counts"] = len(candidates)  # the checks ask only whether there are any
    try:
        kinds = summary["kinds"]
        if len(kinds) > 1:
            raise _mixed_kinds(feature)
        stats = summary["stats"]
        parent = vocab_store.load(parent_refs[index]) if parent_refs[index] else None
        if candidates.files:  # spilled shards: read one at a time, the best kept
            parents = inherited[index] if inherited else ()
            cut = _best_cut(feature.spec, kinds, parents, _scale(feature))
            candidates = _Candidates(candidates.load(vocab_store.fs, cut))
        token_type = kinds[0] if kinds else STRING
        # The missing token's row, typed as the vocabulary (counted as stats).
        before = len(candidates)
        candidates = _Candidates(
            with_missing_token(candidates.table, feature.spec, token_type, **_missing(stats))
        )
        vocab = _vocabulary(
            candidates,
            feature,
            token_type,
            stats=job_manifest_stats(
                feature, stats, summary["distinct"] + len(candidates) - before
            ),
            build=build_record(feature, description, "beam"),
            parent=parent,
        )
        candidates.table = None  # the vocabulary holds what it needs
        staged = stage_version(vocab_store, staging, keys[index], feature.name, vocab)
    except VocabguardError as err:
        staged = err
    return ("feature", index, small, staged)


def _publish_all(
    items: list,
    features: Sequence[Feature],
    keys: Sequence[str],
    store: str,
    description: str | None,
    parent_refs: Sequence[str | None],
    runner: str,
    results_path: str | None,
    staging: str,
) -> list[dict]:
    """Check every feature, then publish every feature's staged vocabulary: all or
    nothing is published (a job journal), and what was staged is deleted either way."""
    from vocabguard._src.core.journal import discard_staged, publish_staged
    from vocabguard._src.core.store import VocabStore

    vocab_store = VocabStore(store)
    try:
        records_read = sum(n for kind, *rest in items if kind == "read" for n in rest)
        staged = {rest[0]: rest[1:] for kind, *rest in items if kind == "feature"}
        for index, feature in enumerate(features):
            summary = staged[index][0] if index in staged else None
            check_build(feature, summary, records_read, runner)
        ready = []
        for index in range(len(features)):
            if index not in staged:  # no batch at all (no input): an empty vocabulary
                args = (features, keys, store, description, parent_refs, staging)
                staged[index] = _stage_feature((index, (index, dict(_NO_SUMMARY))), *args)[2:]
            item = staged[index][1]
            if isinstance(item, BaseException):
                raise item
            ready.append(item)
        # All or nothing: the new versions become visible together (a job journal in
        # the store; see vocabguard/_src/core/journal.py), even if this process is killed.
        published_all = publish_staged(vocab_store, ready)
    finally:
        discard_staged(vocab_store, staging)
    for published in published_all:
        verb = "published" if published.newly_published else "reused (identical to the latest)"
        _log.info("vocabguard: %s %s (input_dim %d)", verb, published.ref, published.input_dim)
    results = published_results(keys, features, published_all)
    if results_path:
        import json

        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(results_path) as handle:
            handle.write(json.dumps(results, sort_keys=True).encode("utf-8"))
    return results


class BuildVocabularies(beam.PTransform):
    """``RecordBatch`` elements -> one dict per feature: ``{feature, name, ref, fingerprint, ...}``.

    Counts every feature's tokens in one pass, selects them with the in-process
    rule, and publishes each vocabulary to ``store`` (a path or URI).

    Large partial counts and each shard's candidates are spilled to the job's
    staging directory in the store (``.jobs/<id>.staged/spilled/``, Arrow IPC files
    deleted with the staged versions when the job publishes or fails), so a worker's
    memory does not grow with the input and what crosses a shuffle is file names;
    the store needs room for them (about 2 GB at 45.8 M Criteo rows).

    Args:
        features: feature key -> ``Feature``.
        store: the store root, reachable from the workers.
        bad_records: ``fail`` or ``skip`` for values of the wrong type and tokens over
            ``max_token_bytes``.
        input_description: recorded in each manifest's build info.
        shards: partial counts are split into this many token shards; each shard's
            counts are merged by one worker, so a worker holds about 1/shards of the
            distinct tokens. Raise it for very large vocabularies.
        flush_rows: accepted for compatibility; per-bundle pre-aggregation is now the
            combiner's (combiner lifting), whose accumulators compact in Arrow.
        results_path: where the publish step writes its results as JSON (a path any
            worker and the launcher can reach), for the launcher to report.
    """

    def __init__(
        self,
        features: Mapping[str, Feature],
        store: str,
        *,
        bad_records: str = "fail",
        input_description: str | None = None,
        shards: int = SHARDS,
        flush_rows: int = FLUSH_ROWS,
        results_path: str | None = None,
    ):
        super().__init__()
        check_policy(bad_records)
        for key, value in (("shards", shards), ("flush_rows", flush_rows)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"`{key}` must be an integer >= 1. " + received(**{key: value}))
        self.shards = shards
        self.flush_rows = flush_rows  # kept for compatibility: combiners bound memory now
        self.results_path = results_path
        self.keys = list(features)
        self.features = list(features.values())
        names = [f.name for f in self.features]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(
                    f"Two features publish the vocabulary name {name!r}; each feature needs "
                    "its own name. " + received(names=names)
                )
        self.store = str(store)
        # Where the features' vocabularies wait for the publish step (in the store, under
        # .jobs/; see journal.stage_version): deleted by that step, or by discard_staged.
        self.staging = uuid.uuid4().hex
        self.bad_records = bad_records
        self.description = input_description
        # Parents are resolved once, at construction: `news@latest` names one exact
        # version for the whole job, and a missing parent fails before any work.
        self.parent_refs: list[str | None] = []
        self.inherited: list[tuple] = []
        for feature in self.features:
            if feature.parent is None:
                self.parent_refs.append(None)
                self.inherited.append(())
                continue
            from vocabguard._src.core.store import VocabStore

            parent = VocabStore(self.store).load(feature.parent)
            self.parent_refs.append(parent.ref)
            self.inherited.append(tuple(parent.token_bytes))

    def discard_staged(self) -> None:
        """Delete what this transform's job staged in the store and did not publish
        (the publish step does it; a launcher calls it when the job failed before)."""
        from vocabguard._src.core.journal import discard_staged
        from vocabguard._src.core.store import VocabStore

        discard_staged(VocabStore(self.store), self.staging)

    def expand(self, batches):
        from apache_beam.options.pipeline_options import StandardOptions

        features = self.features
        options = batches.pipeline.options
        runner = (options.view_as(StandardOptions).runner if options else None) or "DirectRunner"
        runner = runner.rsplit(".", 1)[-1] if isinstance(runner, str) else type(runner).__name__
        spill = _Spill(self.store, self.staging)
        merged = (
            batches
            | "CountTokens" >> beam.ParDo(_CountTokens(features, self.bad_records, self.shards))
            | "MergeShards" >> beam.CombinePerKey(_MergeCounts(spill))
        )
        # Each feature's documents, from shard 0 (every batch's statistics go there), for
        # max_document_fraction: known only once every batch is counted. Only when a
        # feature needs them: a side input computed from the merged counts keeps their
        # summaries out of the merge's stage, so every shard's counts would cross one
        # more shuffle (serialized and read back whole).
        totals = ()
        if any(f.spec.max_document_fraction is not None for f in features):
            documents = (
                merged
                | "DocumentShards" >> beam.Filter(_is_shard_zero)
                | "FeatureDocuments" >> beam.Map(_feature_documents)
            )
            totals = (beam.pvalue.AsDict(documents),)
        # Each feature's shard summaries merged (the best max_tokens kept as they
        # come), its vocabulary built and staged in the store, one feature per element:
        # a process holds one feature's candidates at a time, never all of them.
        staged = (
            merged
            | "SummarizeShards"
            >> beam.Map(_summarize_shard, features, self.inherited, *totals, spill=spill)
            | "KeyByFeature" >> beam.Map(_keyed_by_feature)
            | "MergeSummaries" >> beam.CombinePerKey(_MergeSummaries(features, self.inherited))
            | "Stage"
            >> beam.Map(
                _stage_feature,
                features,
                self.keys,
                self.store,
                self.description,
                self.parent_refs,
                self.staging,
                self.inherited,
            )
        )
        # An independent count of the records read, checked against the counting step.
        read = (
            batches
            | "RecordsRead" >> beam.Map(records_in)
            | "SumRecordsRead" >> beam.CombinePerKey(sum)
        )
        # One final step publishes every feature (one sink: some runners compute only
        # the last of several), after checking the job's invariants for all of them. Its
        # input is small: each feature's checks' numbers and where its files are staged.
        return (
            (staged, read)
            | "Join" >> beam.Flatten()
            | "Gather" >> beam.combiners.ToList().without_defaults()
            | "Publish"
            >> beam.FlatMap(
                _publish_all,
                features,
                self.keys,
                self.store,
                self.description,
                self.parent_refs,
                runner,
                self.results_path,
                self.staging,
            )
        )
