"""Reading input files into ``RecordBatch``es on Beam, with the bad-record policy."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping, Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.engines.readers import EXTENSIONS as READER_EXTENSIONS
from vocabguard._src.engines.records import BadRecord, iter_records

NAMESPACE = "vocabguard"
BAD_RECORD_POLICIES = ("fail", "skip")
DEFAULT_BATCH_SIZE = 2048
# Partial counts are sharded by token so that no single worker merges every
# distinct token; a bundle flushes early once its pending counts exceed FLUSH_ROWS.
SHARDS = 8
FLUSH_ROWS = 1 << 20
PROGRESS_SECONDS = 10.0
# The in-process readers' extensions, plus TFRecord (Beam jobs only).
EXTENSIONS = {**READER_EXTENSIONS, ".tfrecord": "tfrecord", ".tfrecords": "tfrecord"}

_log = logging.getLogger(__name__)


def format_for(path: str, format: str | None = None) -> str:
    """The input format: ``format`` if given, else from the extension (``.gz`` ignored)."""
    if format:
        return format
    name = path[:-3] if path.endswith(".gz") else path
    for extension, found in EXTENSIONS.items():
        if name.endswith(extension) or (".tfrecord" in extension and f"{extension}-" in name):
            return found
    raise ConfigError(
        f"Cannot tell the format of {path} from its extension; set the input format "
        f"(one of text, jsonl, csv, parquet, tfrecord). " + received(path=path)
    )


@dataclasses.dataclass(frozen=True)
class RecordBatch:
    """Consecutive good records of one file: their numbers and one list per field."""

    path: str
    numbers: tuple[int, ...]
    columns: dict[str, list]
    # Records skipped (bad_records: skip) since the previous batch, by reason.
    skipped: tuple[tuple[str, int], ...] = ()

    def __len__(self) -> int:
        return len(self.numbers)

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


def check_policy(bad_records: str) -> None:
    if bad_records not in BAD_RECORD_POLICIES:
        raise ConfigError(
            "`bad_records` must be 'fail' (stop, naming the file and record) or 'skip' (drop "
            "and count). " + received(bad_records=bad_records)
        )


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


class _ReadFile(beam.DoFn):
    def __init__(
        self,
        format: str | None,
        fields: Sequence[str],
        batch_size: int,
        policy: str,
        passthrough: Sequence[str] = (),
    ):
        self.format = format
        self.typed = list(fields)
        self.passthrough = [f for f in passthrough if f not in fields]
        self.fields = [*self.typed, *self.passthrough]
        self.batch_size = batch_size
        self.policy = policy

    def setup(self):
        self.bad = BadRecords(self.policy)
        self.records_read = Metrics.counter(NAMESPACE, "records_read")

    def process(self, readable: fileio.ReadableFile) -> Iterable[RecordBatch]:
        path = readable.metadata.path
        format = format_for(path, self.format)
        compression = (
            CompressionTypes.UNCOMPRESSED
            if format in ("parquet", "tfrecord")
            else CompressionTypes.AUTO
        )
        numbers: list[int] = []
        columns: dict[str, list] = {f: [] for f in self.fields}
        started = last_log = time.monotonic()
        total = 0
        with FileSystems.open(path, compression_type=compression) as handle:
            records = iter_records(handle, path, format, self.typed, passthrough=self.passthrough)
            for item in records:
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
                    yield RecordBatch(path, tuple(numbers), columns, count_items(self.bad.drain()))
                    numbers, columns = [], {f: [] for f in self.fields}
                    now = time.monotonic()
                    if now - last_log >= PROGRESS_SECONDS:
                        last_log = now
                        _log.info(
                            "vocabguard: %s: %d records read (%.0f records/s)",
                            path,
                            total,
                            total / (now - started),
                        )
        skipped = self.bad.drain()
        if numbers or skipped:
            total += len(numbers)
            self.records_read.inc(len(numbers))
            yield RecordBatch(path, tuple(numbers), columns, count_items(skipped))
        _log.info("vocabguard: %s: done, %d records", path, total)


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
    ):
        super().__init__()
        check_policy(bad_records)
        self.patterns = [str(p) for p in patterns]
        # Several features may read one field: read (and batch) it once.
        self.fields = list(dict.fromkeys(fields))
        self.passthrough = [f for f in dict.fromkeys(passthrough) if f not in self.fields]
        self.format = format
        self.batch_size = batch_size
        self.bad_records = bad_records

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll(empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
            # Spread files over workers (Create puts all patterns in one bundle).
            | "SpreadFiles" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches()
            | "Parse"
            >> beam.ParDo(
                _ReadFile(
                    self.format, self.fields, self.batch_size, self.bad_records, self.passthrough
                )
            )
        )
