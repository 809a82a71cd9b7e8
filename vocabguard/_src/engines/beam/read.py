"""Reading input files into ``RecordBatch``es on Beam, with the bad-record policy."""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from vocabguard._src.core.builder import NoProgress, progress_bar
from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.values import check_value, is_list
from vocabguard._src.engines.formats.common import (
    DEFAULT_MAX_RECORD_BYTES,
    BadRecord,
    check_max_record_bytes,
    check_policy,
)
from vocabguard._src.engines.formats.compression import compression_of
from vocabguard._src.engines.formats.fields import NO_RULES, FieldRules
from vocabguard._src.engines.formats.inputs import format_for
from vocabguard._src.engines.formats.parquet import ArrowRows
from vocabguard._src.engines.formats.read import iter_records

NAMESPACE = "vocabguard"
DEFAULT_BATCH_SIZE = 2048
# Rows of a Parquet batch read as Arrow columns (at least batch_size): large enough that
# per-batch costs (a value_counts and a shard split per feature) are small, small enough
# that a batch counted record by record (it holds a bad record) stays well under 1 GB.
ARROW_BATCH_ROWS = 1 << 16
# Target size of one split of a large input file (one worker reads one split).
DEFAULT_SPLIT_BYTES = 64 << 20
# Partial counts are sharded by token so that no single worker merges every
# distinct token; a bundle flushes early once its pending counts exceed FLUSH_ROWS.
SHARDS = 8
FLUSH_ROWS = 1 << 20
PROGRESS_SECONDS = 10.0

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RecordBatch:
    """Consecutive good records of one file: their numbers and one list per field.

    ``arrow``: the same records as a ``pyarrow.RecordBatch`` (Parquet batches whose
    every value passed the reader's checks); ``columns`` then makes each field's
    Python list from it only when asked, so the Arrow counting path never builds one.
    """

    path: str
    numbers: Sequence[int]
    columns: Mapping[str, list]
    # Records skipped (bad_records: skip) since the previous batch, by reason.
    skipped: tuple[tuple[str, int], ...] = ()
    arrow: Any = None

    @classmethod
    def from_arrow(
        cls, path: str, first: int, batch: Any, skipped: tuple[tuple[str, int], ...] = ()
    ) -> RecordBatch:
        """The records of an Arrow batch numbered from ``first``.

        >>> import pyarrow as pa
        >>> b = RecordBatch.from_arrow("f.parquet", 5, pa.record_batch({"c": ["x", None]}))
        >>> list(b.numbers), b.columns["c"], len(b)
        ([5, 6], ['x', None], 2)
        """
        rows = range(first, first + batch.num_rows)
        return cls(path, rows, ArrowColumns(batch), skipped, batch)

    def __len__(self) -> int:
        return len(self.numbers)

    def bad_record(self, row: int, field: str, reason: str, detail: str) -> BadRecord:
        """The ``BadRecord`` of row ``row`` (it names the file and the record's number).

        >>> RecordBatch("a.jsonl", (7,), {"c": [1]}).bad_record(0, "c", "wrong_type", "x").record
        7
        """
        return BadRecord(self.path, self.numbers[row], field, reason, detail)

    def check_values(self, field: str, spec: VocabSpec, bad: dict[int, BadRecord]) -> None:
        """Add to ``bad`` each row not in it yet whose ``field`` value breaks ``spec``
        (``check_value``: shape, missing values, kinds); a plain scalar passes unchecked
        unless the spec wants lists.

        >>> bad = {}
        >>> RecordBatch("a.jsonl", (1, 2), {"c": ["x", None]}).check_values("c", VocabSpec(), bad)
        >>> {row: (b.record, b.reason) for row, b in bad.items()}
        {1: (2, 'missing_field')}
        """
        for row, value in enumerate(self.columns[field]):
            plain = not (value is None or is_list(value) or value == "")
            if row in bad or (plain and spec.value_shape != "list"):
                continue
            problem = check_value(value, spec)
            if problem is not None:
                bad[row] = self.bad_record(row, field, *problem)

    def take(self, rows: Sequence[int], skipped: Mapping[str, int] | None = None) -> RecordBatch:
        merged = dict(self.skipped)
        for reason, count in (skipped or {}).items():
            merged[reason] = merged.get(reason, 0) + count
        return RecordBatch(
            self.path,
            tuple(self.numbers[i] for i in rows),
            {f: [v[i] for i in rows] for f, v in self.columns.items()},
            tuple(sorted(merged.items())),
        )


class ArrowColumns(Mapping):
    """An Arrow batch's columns as Python lists, each made on first use (and kept)."""

    def __init__(self, batch: Any):
        self.batch = batch
        self._lists: dict[str, list] = {}

    def __getitem__(self, field: str) -> list:
        if field not in self._lists:
            # The reader checked the strings' UTF-8 (formats.parquet.valid_utf8).
            self._lists[field] = self.batch.column(field).to_pylist()
        return self._lists[field]

    def __iter__(self):
        return iter(self.batch.schema.names)

    def __len__(self) -> int:
        return self.batch.num_columns

    def __reduce__(self):
        return (ArrowColumns, (self.batch,))  # the lists are remade where needed


class BadRecords:
    """Applies the bad-record policy: raise, or count by reason (Beam metrics and batches)."""

    def __init__(self, policy: str):
        self.policy = policy
        self.pending: dict[str, int] = {}

    def handle(self, bad: BadRecord) -> None:
        if self.policy == "fail":
            raise bad.error()
        Metrics.counter(NAMESPACE, "bad_records").inc()
        Metrics.counter(NAMESPACE, f"bad_records.{bad.reason}").inc()
        self.pending[bad.reason] = self.pending.get(bad.reason, 0) + 1

    def drain(self) -> dict[str, int]:
        """The counts since the last drain (they travel with the next batch)."""
        pending, self.pending = self.pending, {}
        return pending


@dataclasses.dataclass(frozen=True)
class Split:
    """A part of one input file that one worker reads.

    Line-based files (text, jsonl, csv; uncompressed) split into byte ranges
    ``[start, end)``: a record belongs to the range holding its first byte, so a
    record straddling a boundary is read exactly once. Parquet files split by row
    groups. Compressed and TFRecord files are read whole (``start=0, end=None``).
    """

    path: str
    format: str
    start: int = 0
    end: int | None = None
    row_groups: tuple[int, ...] | None = None

    @property
    def label(self) -> str:
        """How errors name the place: a line number is only known from a file's start."""
        return self.path if self.start == 0 else f"{self.path} (from byte {self.start})"


def _is_compressed(path: str) -> bool:
    return compression_of(path) is not None


def plan_splits(
    patterns: Sequence[str], format: str | None, split_bytes: int | None
) -> list[Split]:
    """Match ``patterns`` (on the machine that builds the pipeline) and cut the files.

    ``split_bytes`` is the target size of a split (``None`` or 0: whole files).
    A pattern that matches nothing is an error naming it.
    """
    splits: list[Split] = []
    for pattern in patterns:
        found = FileSystems.match([pattern])[0].metadata_list
        if not found:
            raise ConfigError(
                f"No input file matches {pattern!r}. Check the path or glob (paths are read "
                "where the pipeline is built, and by the workers). " + received(pattern=pattern)
            )
        for meta in sorted(found, key=lambda m: m.path):
            splits.extend(_split_file(meta.path, meta.size_in_bytes, format, split_bytes))
    return splits


def _split_file(path: str, size: int, format: str | None, split_bytes: int | None) -> list[Split]:
    kind = format_for(path, format)
    if not split_bytes or _is_compressed(path):
        return [Split(path, kind)]
    if kind in ("text", "jsonl", "csv"):
        if size <= split_bytes:
            return [Split(path, kind)]
        return [
            Split(path, kind, start, min(start + split_bytes, size))
            for start in range(0, size, split_bytes)
        ]
    if kind == "parquet":
        from vocabguard._src.engines.formats.parquet import parquet_file

        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            try:
                metadata = parquet_file(handle).metadata
            except Exception:  # a corrupt file: the reader reports it, naming the file
                return [Split(path, kind)]
        groups: list[list[int]] = [[]]
        size_of_group = 0
        for index in range(metadata.num_row_groups):
            group_bytes = metadata.row_group(index).total_byte_size
            if groups[-1] and size_of_group + group_bytes > split_bytes:
                groups.append([])
                size_of_group = 0
            groups[-1].append(index)
            size_of_group += group_bytes
        if len(groups) == 1:
            return [Split(path, kind)]
        return [Split(path, kind, row_groups=tuple(g)) for g in groups]
    return [Split(path, kind)]


def _skip_line(handle) -> None:
    """Read past the rest of a line in 1 MiB pieces (a hostile line is never held)."""
    while True:
        piece = handle.readline(1 << 20)
        if not piece or piece.endswith(b"\n"):
            return


def _read_range(
    handle, split: Split, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> io.BytesIO:
    """The whole lines whose first byte lies in ``[start, end)`` (csv: header first).

    Lines that cross the range's edges are read at most ``max_record_bytes`` (+2) far:
    a longer one is over the bound anyway, and the reader reports it as ``too_large``.
    """
    header = b""
    if split.format == "csv" and split.start > 0:
        header = handle.readline(max_record_bytes + 2)
        if not header.endswith(b"\n"):
            _skip_line(handle)
    if split.start > 0:
        # The line holding byte start-1 belongs to the previous split (or ends at
        # start-1 exactly, and then the next line starts at `start`).
        handle.seek(split.start - 1)
        _skip_line(handle)
    position = handle.tell()
    blob = handle.read(max(0, split.end - position)) if position < split.end else b""
    if blob and not blob.endswith(b"\n"):
        # The last record straddles `end`: it is ours (cut past the bound: too large).
        blob += handle.readline(max_record_bytes + 2)
    return io.BytesIO(header + blob)


class _ReadSplit(beam.DoFn):
    def __init__(
        self,
        fields: Sequence[str],
        batch_size: int,
        policy: str,
        passthrough: Sequence[str] = (),
        rules: FieldRules = NO_RULES,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        arrow: bool = True,
    ):
        self.rules = rules
        self.max_record_bytes = max_record_bytes
        self.arrow = arrow
        self.typed = list(fields)
        self.passthrough = [f for f in passthrough if f not in fields]
        self.fields = [*self.typed, *self.passthrough]
        self.batch_size = batch_size
        self.policy = policy

    def setup(self):
        self.bad = BadRecords(self.policy)
        self.records_read = Metrics.counter(NAMESPACE, "records_read")

    def arrow_ok(self, batch: Any) -> bool:
        """Whether every record of a Parquet batch passes the reader's per-record checks
        (``formats.fields.pick``), found per column: plain string, binary or integer values
        (not uint64: it may pass int64), valid UTF-8, nulls only where missing values
        are allowed, no weights (checked per record). Passthrough fields are read
        record by record.
        """
        from vocabguard._src.engines.formats.parquet import valid_utf8

        if self.passthrough:
            return False
        for field in self.typed:
            column = batch.column(field)
            kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
            plain = (
                pa.types.is_string(kind)
                or pa.types.is_large_string(kind)
                or pa.types.is_binary(kind)
                or pa.types.is_large_binary(kind)
                or (pa.types.is_integer(kind) and not pa.types.is_uint64(kind))
            )
            if not plain or field in self.rules.weights:
                return False
            if column.null_count and field not in self.rules.missing:
                return False
            if not valid_utf8(column):
                return False
        return True

    def process(self, split: Split) -> Iterable[RecordBatch]:
        path, label = split.path, split.label
        # Decompressed by iter_records (formats.compression.decompressed), as on the in-process path:
        # Beam's own gzip reader accepts a truncated file without a word.
        compression = CompressionTypes.UNCOMPRESSED
        numbers: list[int] = []
        columns: dict[str, list] = {f: [] for f in self.fields}
        started = last_log = time.monotonic()
        total = arrow_batches = 0
        # A bar per split on a terminal (workers share the launcher's stderr on local
        # runners); elsewhere, a log line every PROGRESS_SECONDS.
        bar = progress_bar(None, None, f"reading {label}")
        with bar, FileSystems.open(path, compression_type=compression) as handle:
            source = (
                _read_range(handle, split, self.max_record_bytes)
                if split.end is not None
                else handle
            )
            records = iter_records(
                source,
                label,
                split.format,
                self.typed,
                passthrough=self.passthrough,
                row_groups=split.row_groups,
                rules=self.rules,
                max_record_bytes=self.max_record_bytes,
                arrow=self.arrow_ok if self.arrow else None,
                arrow_rows=max(self.batch_size, ARROW_BATCH_ROWS),
            )
            for item in records:
                if isinstance(item, ArrowRows):
                    if numbers:  # the records before it, in order
                        total += len(numbers)
                        self.records_read.inc(len(numbers))
                        bar.update(len(numbers))
                        skipped = count_items(self.bad.drain())
                        yield RecordBatch(label, tuple(numbers), columns, skipped)
                        numbers, columns = [], {f: [] for f in self.fields}
                    rows = item.batch.num_rows
                    total += rows
                    self.records_read.inc(rows)
                    bar.update(rows)
                    skipped = count_items(self.bad.drain())
                    yield RecordBatch.from_arrow(label, item.first, item.batch, skipped)
                    arrow_batches += 1
                    continue
                if isinstance(item, BadRecord):
                    self.bad.handle(item)
                    continue
                number, values = item
                numbers.append(number)
                for field in self.fields:
                    columns[field].append(values[field])
                if len(numbers) >= self.batch_size:
                    total += len(numbers)
                    self.records_read.inc(len(numbers))
                    bar.update(len(numbers))
                    yield RecordBatch(label, tuple(numbers), columns, count_items(self.bad.drain()))
                    numbers, columns = [], {f: [] for f in self.fields}
                    now = time.monotonic()
                    if now - last_log >= PROGRESS_SECONDS and isinstance(bar, NoProgress):
                        last_log = now
                        _log.info(
                            "vocabguard: %s: %d records read (%.0f records/s)",
                            label,
                            total,
                            total / (now - started),
                        )
            bar.update(len(numbers))
        skipped = self.bad.drain()
        # Always one batch per split, even an empty one: the build checks that every
        # split was counted (records read = documents + skipped, per feature).
        total += len(numbers)
        self.records_read.inc(len(numbers))
        if numbers or skipped or not arrow_batches:
            yield RecordBatch(label, tuple(numbers), columns, count_items(skipped))
        _log.info("vocabguard: %s: done, %d records", label, total)


def count_items(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items()))


class ReadRecordBatches(beam.PTransform):
    """Files matching ``patterns`` -> ``RecordBatch`` elements holding ``fields``.

    Args:
        patterns: file patterns (any Beam filesystem: local, gs://, s3://, hdfs://).
        fields: the fields to read (for text files, ``["text"]``).
        format: text, jsonl, csv, parquet or tfrecord; ``None`` = from each extension.
        batch_size: records per batch.
        bad_records: ``fail`` or ``skip`` (skipped records are counted as Beam metrics
            ``vocabguard:bad_records`` and ``vocabguard:bad_records.<reason>``).
        passthrough: more fields to read, copied and never tokenized: any non-null value
            (e.g. a float label) is accepted.
        split_bytes: target bytes per split of one file, so several workers read one
            large file (text, jsonl and csv by byte range; Parquet by row groups);
            ``None`` or 0 reads each file whole. Compressed and TFRecord files are
            always read whole.
        rules: lets fields hold lists, missing values or weights (``FieldRules``;
            ``field_rules(features)`` derives them from the features' specs).
        max_record_bytes: the most (decompressed) bytes of one line or CSV field
            (default 64 MiB); a larger record is a bad record (``too_large``), read
            past in pieces, never held.
        arrow: Parquet batches whose every value passes the checks are carried as
            Arrow columns (``RecordBatch.arrow``, at least ``ARROW_BATCH_ROWS`` rows),
            so the build counts them without a Python value per record; ``False``
            reads every record one by one.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        fields: Sequence[str],
        *,
        format: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        bad_records: str = "fail",
        passthrough: Sequence[str] = (),
        split_bytes: int | None = DEFAULT_SPLIT_BYTES,
        rules: FieldRules = NO_RULES,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        arrow: bool = True,
    ):
        super().__init__()
        check_policy(bad_records)
        self.arrow = bool(arrow)
        self.max_record_bytes = check_max_record_bytes(max_record_bytes)
        self.rules = rules
        if split_bytes is not None and (
            not isinstance(split_bytes, int) or isinstance(split_bytes, bool) or split_bytes < 0
        ):
            raise ConfigError(
                "`split_bytes` must be an integer >= 0 (0: read each file whole). "
                + received(split_bytes=split_bytes)
            )
        self.split_bytes = split_bytes
        self.patterns = [str(p) for p in patterns]
        # Several features may read one field: read (and batch) it once.
        self.fields = list(dict.fromkeys(fields))
        self.passthrough = [f for f in dict.fromkeys(passthrough) if f not in self.fields]
        self.format = format
        self.batch_size = batch_size
        self.bad_records = bad_records

    def expand(self, pbegin):
        # Files are matched and cut when the pipeline is built, so every runner gets
        # a plain list of splits (no splittable DoFn, which some runners lack).
        splits = plan_splits(self.patterns, self.format, self.split_bytes)
        return (
            pbegin
            | "Splits" >> beam.Create(splits, reshuffle=False)
            # Spread splits over workers (Create puts them all in one bundle).
            | "SpreadSplits" >> beam.Reshuffle()
            | "Parse"
            >> beam.ParDo(
                _ReadSplit(
                    self.fields,
                    self.batch_size,
                    self.bad_records,
                    self.passthrough,
                    self.rules,
                    self.max_record_bytes,
                    self.arrow,
                )
            )
        )
