"""A job config's features built in one pass over the files, in this process, without Beam.

``vocabguard build --config job.yaml --runner inprocess`` reads every input once and
counts every feature's tokens as it goes; it publishes the vocabularies the Beam build
would (same tokens, ids, counts and fingerprints; the build info says ``inprocess``).

Why it is fast: Parquet columns are counted as Arrow arrays, never as Python values.
For each batch of rows, each feature's column is filtered of its missing values and
counted with a hash aggregation (``pyarrow.compute.value_counts``), one thread per
feature (Arrow releases the GIL); each feature's partial counts are compacted with a
hash ``group_by`` once they outgrow its distinct tokens, so memory follows the distinct
tokens, not the rows. What this columnar path does not cover (text tokenizers, lists,
weights, document counts, records that break a rule, other formats) goes through the
Beam build's own counting step (``_CountTokens``), called directly, so every path
applies one set of rules.

>>> import pathlib, tempfile
>>> import pyarrow as pa, pyarrow.parquet as pq
>>> from vocabguard._src.engines.jobs import JobConfig
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> pq.write_table(pa.table({"c": ["x", "y", "x", None]}), root / "t.parquet")
>>> config = JobConfig.from_dict({"inputs": [str(root / "t.parquet")], "store": str(root / "s"),
...     "features": {"c": {"spec": {"tokenizer": "none", "missing": "skip"}}}})
>>> [r["ref"] for r in run_build(config)]
['c@v1']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.builder import (
    MISSING_TOKEN_COUNT,
    MISSING_TOKEN_DOCUMENTS,
    candidate_table,
    compact_tables,
    with_missing_token,
)
from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.core.extras import requires
from vocabguard._src.core.journal import publish_together
from vocabguard._src.core.store import VocabStore
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard._src.core.values import WEIGHT_SCALE
from vocabguard._src.core.vocabulary import INT64, STRING, vocabulary_from_counts
from vocabguard._src.engines.columnar import _column_kind, _columnar, _count_column
from vocabguard._src.engines.features import (
    Feature,
    build_record,
    check_not_empty,
    check_skipped,
    published_results,
)
from vocabguard._src.engines.features import manifest_stats as job_manifest_stats
from vocabguard._src.engines.formats.common import BadRecord
from vocabguard._src.engines.formats.fields import Wanted
from vocabguard._src.engines.formats.inputs import detect_format, expand_inputs
from vocabguard._src.engines.formats.parquet import batch_records, batches, parquet_file, valid_utf8
from vocabguard._src.engines.formats.read import iter_records

RUNNER_NAMES = ("inprocess", "in-process", "in_process", "inprocessrunner")
# Rows per Arrow batch read from Parquet: large enough that per-batch overhead is small,
# small enough that a batch of 26 string columns stays well under 100 MB.
ARROW_BATCH_ROWS = 1 << 18
# Compact a feature's partial counts once they exceed this many rows (and twice the
# rows of its last compacted table): memory ~ distinct tokens, amortized linear time.
COMPACT_ROWS = 1 << 21

# What needs Beam's counting step (and so the `beam` extra): named in MissingExtraError.
_RECORD_PATH = (
    "The in-process runner's record-by-record path (text tokenizers, lists, weights, "
    "bad records, inputs other than Parquet)"
)

_log = logging.getLogger(__name__)


def is_inprocess(runner: str | None) -> bool:
    """True for the runner names that pick this engine (``--runner inprocess``)."""
    return bool(runner) and str(runner).lower().replace(" ", "") in RUNNER_NAMES


class _NeedsBatches(Exception):
    """A value the streaming count cannot judge alone: count file by file instead."""


class _Counts:
    """One feature's counts so far: Arrow ``(token, count)`` tables and summed stats."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.pending = 0
        self.compacted = 0
        self.stats: dict[str, int] = {}
        self.kinds: set[str] = set()
        self.unique = True  # every table holds each token once (else: merge even one)

    def add(self, table: pa.Table | None, stats: Mapping[str, int], *, unique: bool = True) -> None:
        if table is not None and len(table):
            self.unique = self.unique and unique
            is_int = pa.types.is_integer(table.schema.field("token").type)
            self.kinds.add(INT64 if is_int else STRING)
            if len(self.kinds) == 1:
                self.tables.append(table)
                self.pending += len(table)
                if self.pending > max(COMPACT_ROWS, 2 * self.compacted):
                    self.compact()
        for key, n in stats.items():
            self.stats[key] = self.stats.get(key, 0) + n

    def compact(self) -> pa.Table | None:
        if len(self.tables) == 1 and not self.unique:
            self.tables.append(self.tables[0].slice(0, 0))  # compact_tables merges 2+
        self.tables = compact_tables(self.tables)
        self.unique = True
        self.pending = self.compacted = len(self.tables[0]) if self.tables else 0
        return self.tables[0] if self.tables else None


class _Engine:
    """Counts every feature of a job over its files, in one pass."""

    def __init__(self, config) -> None:
        self.config = config
        self.keys = list(config.features)
        self.features: list[Feature] = list(config.features.values())
        self.counts = [_Counts() for _ in self.features]
        self.records_read = 0
        self.fields = list(
            dict.fromkeys(
                f
                for feature in self.features
                for f in (*feature.all_fields, feature.weight_field)
                if f
            )
        )

        self.tokenizers = [Tokenizer(f.spec) for f in self.features]
        # Fields where a null is a bad record (for the reader or for a feature's spec):
        # a batch holding one is counted record by record, under the bad-record policy.
        self.required = [
            f
            for f in self.fields
            if any(f in x.all_fields and x.spec.missing == "error" for x in self.features)
        ]
        # One rule for the whole batch: a record one feature rejects is skipped by all.
        self.columnar = all(_columnar(f) for f in self.features)
        self._records = None  # the record-by-record counter, made when first needed
        threads = max(1, min(len(self.features), os.cpu_count() or 1))
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None

    # -- the record-by-record path (Beam's counting step, without a pipeline) --

    def _record_counter(self):
        if self._records is None:
            with requires(_RECORD_PATH):
                from vocabguard._src.engines.beam.build import _CountTokens

            counter = _CountTokens(self.features, self.config.bad_records, shards=1)
            counter.setup()
            self._records = counter
        return self._records

    def count_records(self, batch) -> None:
        """A ``RecordBatch`` of Python values, counted as the Beam build counts it."""
        for (index, _shard), partial in self._record_counter().process(batch):
            table = partial.table
            self.counts[index].add(table, partial.stats)

    def read_records(self, path: str, format: str) -> None:

        with requires(_RECORD_PATH):
            from vocabguard._src.engines.beam.build import field_rules
            from vocabguard._src.engines.beam.read import BadRecords, RecordBatch

        rules = field_rules(self.features)
        bad = BadRecords(self.config.bad_records)
        with open(path, "rb") as handle:
            items = iter_records(
                handle,
                path,
                format,
                self.fields,
                rules=rules,
                max_record_bytes=self.config.max_record_bytes,
            )
            # One batch per file at least, even an empty one (its skipped records count).
            for numbers, columns in _columns(items, bad, self.fields, self.config.batch_size):
                skipped = tuple(sorted(bad.drain().items()))
                self.records_read += len(numbers) + sum(n for _, n in skipped)
                self.count_records(RecordBatch(path, tuple(numbers), columns, skipped))

    # -- the columnar path (Parquet) --

    def read_parquet(self, path: str) -> None:

        try:
            parquet = parquet_file(path)
        except (pa.ArrowException, OSError):
            self.read_records(path, "parquet")  # names the unreadable file as Beam does
            return
        schema = parquet.schema_arrow
        kinds = {
            f: _column_kind(schema.field(f).type) if f in schema.names else None
            for f in self.fields
        }
        if any(kind is None for kind in kinds.values()):
            self.read_records(path, "parquet")  # a missing column, lists, floats, ...
            return
        if not self.columnar:
            self.read_records(path, "parquet")
            return
        # Strings as Parquet's dictionaries: counting a batch is a bincount of its indices
        # (Arrow builds a dictionary for the row groups written without one).
        strings = [f for f in self.fields if kinds[f] == STRING]
        if strings:
            parquet = parquet_file(path, read_dictionary=strings)
        number = 0
        for batch in batches(parquet, self.fields, batch_size=ARROW_BATCH_ROWS):
            if isinstance(batch, BaseException):  # a corrupt data page
                raise batch
            self.records_read += batch.num_rows
            if not self._batch_is_plain(batch):
                self._records_of(path, batch, number)
            else:
                self._count_batch(batch)
            number += batch.num_rows

    def _batch_is_plain(self, batch: pa.RecordBatch) -> bool:
        """No value the record-by-record rules would reject or treat specially (a null or
        an empty string where missing values are errors, a string that is not UTF-8)."""

        for field in self.fields:
            column = batch.column(field)
            if not valid_utf8(column):
                return False
            if field in self.required:
                if column.null_count:
                    return False
                if pa.types.is_dictionary(column.type):
                    column = column.dictionary  # an empty entry, used or not: to be safe
                if not pa.types.is_integer(column.type) and len(column):
                    if pc.any(pc.equal(pc.binary_length(column), 0)).as_py():
                        return False  # '' is missing under tokenizer: none
        return True

    def _records_of(self, path: str, batch: pa.RecordBatch, first: int) -> None:
        """Rows of a Parquet batch counted record by record (they need the rules)."""

        with requires(_RECORD_PATH):
            from vocabguard._src.engines.beam.build import field_rules
            from vocabguard._src.engines.beam.read import BadRecords, RecordBatch

        rules = field_rules(self.features)
        bad = BadRecords(self.config.bad_records)
        items = batch_records(path, batch, first, Wanted(self.fields, rules=rules))
        # A bad record (e.g. not UTF-8) is skipped as on the Beam path.
        ((numbers, columns),) = _columns(items, bad, self.fields, None)
        skipped = tuple(sorted(bad.drain().items()))
        self.count_records(RecordBatch(path, tuple(numbers), columns, skipped))

    def _count_batch(self, batch: pa.RecordBatch) -> None:
        rows = batch.num_rows

        def one(index: int) -> None:
            feature = self.features[index]
            stats: dict[str, int] = {"records": rows, "batches": 1, "documents": rows}
            tables = []
            for field in feature.all_fields:
                table, more = _count_column(
                    feature, self.tokenizers[index], batch.column(field), field
                )
                if table is not None:
                    tables.append(table)
                for key, n in more.items():
                    stats[key] = stats.get(key, 0) + n
            unique = not any(
                pa.types.is_dictionary(batch.column(f).type) for f in feature.all_fields
            )
            for table in tables[:-1]:
                self.counts[index].add(table, {}, unique=unique)
            self.counts[index].add(tables[-1] if tables else None, stats, unique=unique)

        indices = range(len(self.features))
        if self.pool is None:
            for index in indices:
                one(index)
        else:
            for future in [self.pool.submit(one, i) for i in indices]:
                future.result()

    # -- the whole job in one streaming query per field (Parquet, plain values) --

    def count_parquet_at_once(self, paths: list[str]) -> bool:
        """Count every field of every file with polars' streaming ``group_by`` (one
        query per field, each reading only its column, all collected together so polars
        runs them in parallel; memory follows the distinct values). The checks the batch
        path makes per row (missing values where they are errors, strings that are not
        UTF-8) are made on the distinct values instead. Returns False, having counted
        nothing, when anything needs the batch path's rules: the caller then counts file
        by file.

        A string column whose values all have one width of 1, 2, 4 or 8 bytes (hashed
        ids such as Criteo's 8-hex values) is grouped by those bytes read as one unsigned
        integer: hashing an integer is about twice as fast as hashing a string (measured:
        the 10 M-row Criteo-shaped C3 column, 2.4 s CPU against 5.4 s). The width is
        guessed from the first rows; a value of another width shows in the same query
        (``_WIDTH_MISMATCH``) and the column is counted again as strings.
        """
        if not paths or not self.columnar:
            return False
        try:
            import polars as pl
        except ImportError:  # pragma: no cover - polars is a core dependency
            return False

        rows = 0
        kinds: dict[str, str] = {}
        try:
            for path in paths:
                parquet = parquet_file(path)
                schema = parquet.schema_arrow
                for field in self.fields:
                    if field not in schema.names:
                        return False
                    kind = _column_kind(schema.field(field).type)
                    if kind is None or kinds.setdefault(field, kind) != kind:
                        return False  # lists, floats, dictionaries, mixed kinds: batch path
                rows += parquet.metadata.num_rows
            widths = _fixed_widths(paths[0], [f for f in self.fields if kinds[f] == STRING])
            scan = pl.scan_parquet(paths, glob=False, hive_partitioning=False)
            fields = list(self.fields)
            frames = pl.collect_all(
                [_count_query(scan, f, widths.get(f)) for f in fields], engine="streaming"
            )
            grouped = {f: _grouped(frame, widths.get(f)) for f, frame in zip(fields, frames)}
            again = [f for f in fields if grouped[f][0] is None]  # a value of another width
            if again:
                frames = pl.collect_all([_count_query(scan, f) for f in again], engine="streaming")
                grouped.update({f: _grouped(frame) for f, frame in zip(again, frames)})
            del frames
            parts = [self._feature_counts(i, grouped, kinds) for i in range(len(self.features))]
        except (_NeedsBatches, pl.exceptions.PolarsError, pa.ArrowException, OSError):
            return False
        for index, tables in enumerate(parts):
            stats = {"records": rows, "batches": 1, "documents": rows}
            for table, more, unique in tables:
                self.counts[index].add(table, more, unique=unique)
            self.counts[index].add(None, stats)
        self.records_read = rows
        return True

    def _feature_counts(
        self, index: int, grouped: dict[str, tuple[pa.Table, int]], kinds: dict[str, str]
    ):
        """One feature's ``(table, stats, unique)`` per field, from the grouped values
        (``grouped``: per field, its ``(token, count)`` table without nulls and its nulls)."""
        feature = self.features[index]
        spec = feature.spec
        tokenizer = self.tokenizers[index]
        out = []
        for field in feature.all_fields:
            table, nulls = grouped[field]
            if field in self.required and nulls:
                raise _NeedsBatches  # a null is a bad record under missing: error
            tokens = table["token"].combine_chunks()
            counts = table["count"].combine_chunks().cast(pa.int64())
            integer = kinds[field] == INT64
            n_missing = nulls
            if not integer and len(tokens):
                empty = pc.equal(pc.binary_length(tokens), 0)
                if empty.true_count:  # one row at most: the tokens are distinct
                    if field in self.required:
                        raise _NeedsBatches  # '' is a bad record under missing: error
                    if spec.missing != "error":
                        n_missing += int(pc.sum(counts.filter(empty)).as_py())
                        kept = pc.invert(empty)
                        tokens, counts = tokens.filter(kept), counts.filter(kept)
            merge = False
            if integer:
                tokens = tokens.cast(pa.int64())
            else:
                if tokenizer._transforms:
                    tokens = tokenizer.normalize_arrow(tokens)  # may make two values one
                    merge = True
                tokens = tokens.cast(pa.binary())
            total = counted = int(pc.sum(counts).as_py() or 0)
            if spec.missing in ("oov", "token"):
                total += n_missing
            stats = {"total_tokens": total, "counted_units": counted, f"missing.{field}": n_missing}
            if n_missing and spec.missing == "token":
                # A stat, not a typed row: the row is added with the vocabulary's type.
                stats[MISSING_TOKEN_COUNT] = n_missing
            table = pa.table({"token": tokens, "count": counts}) if len(tokens) else None
            out.append((table, stats, not merge))
        return out

    # -- one pass over every file --

    def run(self, files: Sequence[tuple[str, str]]) -> None:
        paths = [path for path, format in files if format == "parquet"]
        if len(paths) == len(files) and self.count_parquet_at_once(paths):
            if self.pool is not None:
                self.pool.shutdown()
            return
        try:
            for path, format in files:
                _log.info("vocabguard: counting %s", path)
                if format == "parquet":
                    self.read_parquet(path)
                else:
                    self.read_records(path, format)
        finally:
            if self.pool is not None:
                self.pool.shutdown()


def _columns(
    items: Iterable, bad, fields: Sequence[str], size: int | None
) -> Iterator[tuple[list[int], dict[str, list]]]:
    """The good records of ``items`` as ``(numbers, columns)`` batches of ``size`` records
    (all in one without a size); the last batch may be empty. A ``BadRecord`` goes to
    ``bad`` (a ``BadRecords``), to be drained with the batch it fell in.

    >>> [n for n, _ in _columns([(0, {"f": "a"}), (1, {"f": "b"}), (2, {"f": "c"})], None, ["f"], 2)]
    [[0, 1], [2]]
    """
    numbers: list[int] = []
    columns: dict[str, list] = {f: [] for f in fields}
    for item in items:
        if isinstance(item, BadRecord):
            bad.handle(item)
            continue
        number, values = item
        numbers.append(number)
        for field in fields:
            columns[field].append(values[field])
        if size is not None and len(numbers) >= size:
            yield numbers, columns
            numbers, columns = [], {f: [] for f in fields}
    yield numbers, columns


# Values of these byte widths group as one unsigned integer (big-endian: its order is
# the bytes' order); polars reads a value of another width as null.
_WIDTH_TYPES = {1: "UInt8", 2: "UInt16", 4: "UInt32", 8: "UInt64"}
_WIDTH_MISMATCH = "other_width"  # per group: values that are not null yet not of the width
_WIDTH_PROBE_ROWS = 4096


def _fixed_widths(path: str, fields: list[str]) -> dict[str, int]:
    """``{field: width}`` for the string ``fields`` whose first rows in ``path`` (nulls
    aside) all have one byte width in ``_WIDTH_TYPES``: a guess the count then checks."""

    if not fields:
        return {}
    batch = next(batches(parquet_file(path), fields, batch_size=_WIDTH_PROBE_ROWS), None)
    widths = {}
    for field in fields if isinstance(batch, pa.RecordBatch) else ():
        low, high = pc.min_max(pc.binary_length(batch.column(field))).values()
        if low.is_valid and low.as_py() == high.as_py() and low.as_py() in _WIDTH_TYPES:
            widths[field] = low.as_py()
    return widths


def _count_query(scan, field: str, width: int | None = None):
    """polars' lazy ``(token, count)`` of ``field``; nulls are a group of their own.

    With a ``width``, the token is the value's bytes as one big-endian unsigned integer,
    and each group also counts the values of another width (``_WIDTH_MISMATCH``: all in
    the null group, as polars reads them as null).
    """
    import polars as pl

    if width is None:
        return (
            scan.select(pl.col(field).alias("token")).group_by("token").agg(pl.len().alias("count"))
        )
    value = pl.col(field).cast(pl.Binary)
    key = value.bin.reinterpret(dtype=getattr(pl, _WIDTH_TYPES[width]), endianness="big")
    other = key.is_null() & value.is_not_null()
    return (
        scan.select(key.alias("token"), other.alias(_WIDTH_MISMATCH))
        .group_by("token")
        .agg(pl.len().alias("count"), pl.col(_WIDTH_MISMATCH).sum())
    )


def _grouped(frame, width: int | None = None) -> tuple[pa.Table | None, int]:
    """A ``_count_query`` result as an Arrow ``(token, count)`` table without the null
    group, and the nulls counted; tokens of a ``width`` query are turned back into their
    bytes (``(None, 0)``: a value had another width)."""
    import numpy as np
    import polars as pl

    if width is not None and frame[_WIDTH_MISMATCH].sum():
        return None, 0
    null = pl.col("token").is_null()
    nulls = int(frame.filter(null)["count"].sum())
    if nulls:
        frame = frame.filter(~null)
    if width is None:
        return frame.to_arrow(), nulls
    # The keys' big-endian bytes, one after the other, are the tokens' data buffer.
    values = frame["token"].to_numpy().astype(f">u{width}", copy=False)
    n = len(values)
    large = n * width >= 2**31
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64 if large else np.int32)
    binary = pa.large_binary() if large else pa.binary()
    tokens = pa.Array.from_buffers(binary, n, [None, pa.py_buffer(offsets), pa.py_buffer(values)])
    return pa.table({"token": tokens, "count": frame["count"].to_arrow()}), nulls


def _files(config) -> Iterator[tuple[str, str]]:

    for path in expand_inputs(list(config.inputs)):
        if "://" in path:
            raise ConfigError(
                f"The in-process runner reads local files; {path} is a URI. Run the job on "
                "a Beam runner (--runner DirectRunner, DataflowRunner, ...) instead. "
                + received(input=path)
            )
        yield path, detect_format(path, config.format)


def _check(
    feature: Feature, counts: _Counts, records_read: int, table: pa.Table | None
) -> dict[str, int]:
    """The Beam build's checks before publishing (the counting is local, so fewer)."""
    stats = counts.stats
    if len(counts.kinds) > 1:
        raise InputDataError(
            f"Feature {feature.field!r} holds both integer and string values; a vocabulary "
            "holds one kind. Make the field consistent (or cast it in the input). "
            + received(token_types="mixed")
        )
    where = f"In process, feature {feature.field!r} (vocabulary {feature.name!r})"
    skipped = {k.split(".", 1)[1]: n for k, n in stats.items() if k.startswith("bad_records.")}
    reasons = check_skipped(where, skipped, records_read, feature.max_bad_fraction, "inprocess")
    tokens = 0 if table is None else len(table)
    check_not_empty(where, records_read, tokens, feature.allow_empty, "inprocess", reasons=reasons)
    return stats


def run_build(config, *, description: str | None = None) -> list[dict]:
    """Count, check, select and publish every feature of ``config`` (a ``JobConfig``), all or nothing.

    All features are checked before any is published. Returns one dict per feature:
    ``{feature, name, ref, fingerprint, input_dim, newly_published}``.
    """

    store = VocabStore(config.store)
    parents = [store.load(f.parent) if f.parent else None for f in config.features.values()]
    engine = _Engine(config)
    engine.run(list(_files(config)))
    description = description or ", ".join(config.inputs)

    def vocabulary(index: int):
        feature, counts, parent = engine.features[index], engine.counts[index], parents[index]
        table = counts.compact()
        counts.tables = []  # `table` is the last reference: freed once its vocabulary is built
        token_type = next(iter(counts.kinds), STRING)
        table = with_missing_token(
            table,
            feature.spec,
            token_type,
            counts.stats.get(MISSING_TOKEN_COUNT, 0),
            counts.stats.get(MISSING_TOKEN_DOCUMENTS, 0),
        )
        stats = _check(feature, counts, engine.records_read, table)
        scale = WEIGHT_SCALE if feature.weight_field else 1
        if table is None:
            arrow_type = pa.int64() if token_type == INT64 else pa.binary()
            table = pa.table({"token": pa.array([], arrow_type), "count": pa.array([], pa.int64())})
        chosen = candidate_table(
            table,
            feature.spec,
            token_type,
            inherited=parent.token_array if parent is not None else (),
            count_scale=scale,
            total_documents=stats.get("documents", 0),
        )
        documents = None
        if feature.spec.counts_documents and "documents" in chosen.column_names:
            documents = chosen["documents"]
        return vocabulary_from_counts(
            chosen["token"],
            chosen["count"],
            feature.spec,
            token_type,
            document_counts=documents,
            stats=job_manifest_stats(feature, stats, len(table)),
            build=build_record(feature, description, "inprocess"),
            parent=parent,
            retire=feature.retire,
            count_scale=scale,
        )

    # Features are selected and ordered two at a time: their sorts, takes and hashes run
    # in numpy and Arrow without the GIL. Errors come in feature order, as one by one.
    indices = range(len(engine.features))
    with ThreadPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        vocabs = list(pool.map(vocabulary, indices))
    # All or nothing, as the Beam build: the new versions become visible together (a job
    # journal in the store, vocabguard/_src/core/journal.py), even under kill -9.
    entries = [(key, f.name, v) for key, f, v in zip(engine.keys, engine.features, vocabs)]
    return published_results(engine.keys, engine.features, publish_together(store, entries))
