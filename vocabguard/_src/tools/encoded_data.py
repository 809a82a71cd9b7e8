"""Encoded data on disk: find the files, choose the id column, stream its ids.

Reads Parquet files (a ``list<int>`` or integer id column) or TFRecord files of
``tf.train.Example`` (an ``int64_list`` feature) in batches, so memory stays
bounded by one batch, and notes the vocabulary fingerprint each file records
(``vocabguard encode`` and the Beam encode job write one). ``scan_ids`` is the
one scanning loop behind ``vocabguard audit`` and ``repair-model --data``.

TFRecord files are read without TensorFlow, by the one TFRecord reader
(``engines/formats/tfrecord.py``: framing with CRC32C checks, ``tf.train.Example``
from a copy of its protobuf schema in a private descriptor pool).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.builder import progress_bar
from vocabguard._src.core.errors import InputDataError, received
from vocabguard._src.engines.formats.inputs import expand_inputs
from vocabguard._src.engines.formats.parquet import batches, parquet_file
from vocabguard._src.engines.formats.tfrecord import example_class, read_examples, read_tfrecord

BATCH_ROWS = 8192
PARQUET = "parquet"
TFRECORD = "tfrecord"
# A Beam or tf.data writer's data files; _SUCCESS markers, CRC side files and
# hidden files in a directory are skipped.
_DATA_SUFFIXES = (".parquet", ".tfrecord", ".tfrecords", ".tfrecord.gz", ".tfrecords.gz")
FINGERPRINT_FEATURE_SUFFIX = "_vocab_fingerprint"  # the Beam job's per-example fingerprint


@dataclasses.dataclass(frozen=True)
class FingerprintMismatch:
    """A file that records another vocabulary's fingerprint for the audited column."""

    file: str
    fingerprint: str
    ref: str | None
    rows: int | None = None  # TFRecord: how many records carry it (None: the whole file)


def expand_data(patterns: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Files of the audit: paths, globs, and directories (their data files, sorted)."""
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    expanded: list[str] = []
    for raw in patterns:
        pattern = os.path.expanduser(os.fspath(raw))
        if os.path.isdir(pattern):
            files = sorted(
                os.path.join(pattern, name)
                for name in os.listdir(pattern)
                if not name.startswith((".", "_"))
                and _is_data_name(name)
                and os.path.isfile(os.path.join(pattern, name))
            )
            if not files:
                raise InputDataError(
                    f"Directory {pattern!r} holds no Parquet or TFRecord files (names ending "
                    f"in {', '.join(_DATA_SUFFIXES)}). Pass the files or a glob such as "
                    f"'{os.path.join(pattern, '*')}'. " + received(data=pattern),
                    cases=[pattern],
                )
            expanded.extend(files)
        else:
            expanded.append(pattern)
    return expand_inputs(expanded)


def _is_data_name(name: str) -> bool:
    lower = name.lower()
    # Beam shards: part-00000-of-00004.tfrecord, or name.tfrecord-00000-of-00004.
    return lower.endswith(_DATA_SUFFIXES) or ".tfrecord-" in lower or ".tfrecords-" in lower


def data_format(path: str) -> str:
    """``parquet`` or ``tfrecord``: from the name, else from the first bytes.

    >>> data_format("out/part-00000-of-00002.tfrecord"), data_format("ids.parquet")
    ('tfrecord', 'parquet')
    """
    lower = os.path.basename(path).lower()
    if lower.endswith(".parquet"):
        return PARQUET
    if _is_data_name(lower):
        return TFRECORD
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if head == b"PAR1":
        return PARQUET
    raise InputDataError(
        f"Cannot tell whether {path!r} is Parquet or TFRecord: its name ends in neither "
        ".parquet nor .tfrecord(s) and it does not start like a Parquet file. Rename it "
        "(audit reads Parquet and TFRecord files of tf.train.Example). " + received(data=path),
        cases=[path],
    )


def _is_int(type_: Any) -> bool:
    return pa.types.is_integer(type_)


def _is_int_list(type_: Any) -> bool:
    listy = pa.types.is_list(type_) or pa.types.is_large_list(type_)
    listy = listy or pa.types.is_fixed_size_list(type_)
    return listy and pa.types.is_integer(type_.value_type)


def _parquet_metadata(schema: Any) -> dict[str, str]:
    metadata = schema.metadata or {}
    out = {}
    for key, value in metadata.items():
        if key.startswith(b"vocabguard."):
            out[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return out


def recorded_vocabulary(schema: Any, column: str) -> tuple[str | None, str | None]:
    """``(fingerprint, ref)`` recorded in Parquet metadata for ``column``, or ``(None, None)``.

    ``vocabguard encode`` writes ``vocabguard.fingerprint`` for its one column
    ``ids``; the Beam job writes ``vocabguard.<column>.fingerprint`` per column.
    """
    meta = _parquet_metadata(schema)
    fingerprint = meta.get(f"vocabguard.{column}.fingerprint")
    if fingerprint is not None:
        return fingerprint, meta.get(f"vocabguard.{column}.ref")
    if "vocabguard.fingerprint" in meta and (column == "ids" or len(schema.names) == 1):
        return meta["vocabguard.fingerprint"], meta.get("vocabguard.ref")
    return None, None


def _describe_columns(schema: Any) -> str:
    return ", ".join(f"{name} ({schema.field(name).type})" for name in schema.names)


def choose_column(
    columns: dict[str, str],
    recorded: dict[str, str],
    path: str,
    fingerprint: str,
    requested: str | None,
    listing: str,
    what: str = "column",
) -> str:
    """The id column: ``requested``, else the one recorded for this vocabulary, else the only one.

    ``columns`` maps every column to ``"list"``, ``"int"`` or ``"other"``;
    ``recorded`` maps columns to the fingerprint their metadata records.

    >>> choose_column({"ids": "list", "label": "int"}, {}, "a.parquet", "f", None, "...")
    'ids'
    """
    flag = "--column"
    if requested is not None:
        if requested not in columns:
            raise InputDataError(
                f"{path} has no {what} {requested!r}. Its {what}s: {listing}. Pass one of them "
                f"to {flag}. " + received(file=path, column=requested),
                cases=[path],
            )
        if columns[requested] == "other":
            raise InputDataError(
                f"{path}: {what} {requested!r} does not hold integer ids (a list of integers or "
                f"an integer per row). Its {what}s: {listing}. Pass the id {what} to {flag}. "
                + received(file=path, column=requested),
                cases=[path],
            )
        return requested
    if recorded:
        matching = [c for c, fp in recorded.items() if fp == fingerprint]
        if len(recorded) == 1:
            return next(iter(recorded))
        if len(matching) == 1:
            return matching[0]
    lists = [c for c, kind in columns.items() if kind == "list"]
    ints = [c for c, kind in columns.items() if kind == "int"]
    candidates = list(recorded) or lists or ints
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputDataError(
            f"{path} has no integer id {what} (a list of integers per row). Its {what}s: "
            f"{listing}. Audit a file written by vocabguard encode, or pass the id {what} to "
            f"{flag}. " + received(file=path, column=None),
            cases=[path],
        )
    raise InputDataError(
        f"Cannot tell which {what} of {path} holds the ids: {', '.join(map(repr, candidates))} "
        f"all could. Its {what}s: {listing}. Pass the id {what} to {flag}. "
        + received(file=path, column=None),
        cases=[path],
    )


# -- Parquet --


def _total_rows(files: list[str]) -> int | None:
    """Rows in all the Parquet files, for the progress bar; ``None`` if one is unreadable
    (reading it then fails with a one-line error naming it)."""
    try:
        return sum(parquet_file(p).metadata.num_rows for p in files)
    except (pa.ArrowException, OSError):
        return None


def _parquet_batches(
    path: str, requested: str | None, fingerprint: str, batch_rows: int
) -> tuple[str, str | None, str | None, Iterator[tuple[Any, int]]]:
    """``(column, recorded fingerprint, recorded ref, batches)`` of one Parquet file."""
    try:
        parquet = parquet_file(path)
    except Exception as err:  # ArrowInvalid: not a Parquet file
        raise InputDataError(
            f"{path} is not a readable Parquet file ({err}). Pass Parquet or TFRecord files. "
            + received(data=path),
            cases=[path],
        ) from err
    schema = parquet.schema_arrow
    columns = {
        name: "list" if _is_int_list(t) else "int" if _is_int(t) else "other"
        for name, t in zip(schema.names, schema.types)
    }
    recorded = {}
    for name in schema.names:
        fp, _ = recorded_vocabulary(schema, name)
        if fp is not None:
            recorded[name] = fp
    column = choose_column(
        columns, recorded, path, fingerprint, requested, _describe_columns(schema)
    )
    fp, ref = recorded_vocabulary(schema, column)

    def ids() -> Iterator[tuple[Any, int]]:
        for batch in batches(parquet, [column], batch_size=batch_rows):
            if isinstance(batch, BaseException):  # corrupt data pages
                detail = str(batch).splitlines()[0] if str(batch) else type(batch).__name__
                raise InputDataError(
                    f"{path} is not a readable Parquet file ({detail}). Restore or rewrite it. "
                    + received(data=path),
                    cases=[path],
                ) from None
            yield batch.column(0), batch.num_rows

    return column, fp, ref, ids()


def _add_arrow(tally: Any, path: str, first_row: int, array: Any) -> None:
    if _is_int(array.type):
        nulls = array.is_null().to_numpy(zero_copy_only=False) if array.null_count else None
        values = array.fill_null(0).to_numpy(zero_copy_only=False)
        tally.add(path, first_row, values, None, nulls)
        return
    tally.null_rows += array.null_count
    lengths = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False)
    flat = array.flatten()
    if isinstance(flat, pa.ChunkedArray):
        flat = flat.combine_chunks()
    nulls = flat.is_null().to_numpy(zero_copy_only=False) if flat.null_count else None
    values = flat.fill_null(0).to_numpy(zero_copy_only=False)
    tally.add(path, first_row, values, lengths, nulls)


# -- TFRecord --


def _tfrecord_columns(example: Any) -> tuple[dict[str, str], dict[str, str], str]:
    columns, recorded = {}, {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        columns[name] = "list" if kind == "int64_list" else "other"
    for name in list(columns):
        if name.endswith(FINGERPRINT_FEATURE_SUFFIX):
            base = name[: -len(FINGERPRINT_FEATURE_SUFFIX)]
            values = example.features.feature[name].bytes_list.value
            if base in columns and values:
                recorded[base] = values[0].decode("utf-8", "replace")
    listing = ", ".join(
        f"{name} ({example.features.feature[name].WhichOneof('kind')})" for name in sorted(columns)
    )
    return columns, recorded, listing


class _TFRecordFile:
    """One TFRecord file's batches of one int64 feature, with its recorded fingerprints."""

    def __init__(self, path: str, requested: str | None, fingerprint: str, batch_rows: int):
        self.path = path
        self.fingerprint = fingerprint
        self.batch_rows = batch_rows
        # (number, example): one Example object, parsed anew for each record.
        self.records = read_examples(path)
        self.first = next(self.records, None)
        self.recorded = 0
        self.other: dict[str, int] = {}
        if self.first is None:
            self.column = requested
            return
        columns, recorded, listing = _tfrecord_columns(self.first[1])
        self.column = choose_column(
            columns, recorded, path, fingerprint, requested, listing, what="feature"
        )

    def _ids(self, number: int, example: Any) -> np.ndarray | None:
        """The ids of one record (``None``: it lacks the feature); notes its fingerprint."""
        column = self.column
        features = example.features.feature
        fp_key = f"{column}{FINGERPRINT_FEATURE_SUFFIX}"
        if fp_key in features:
            self.recorded += 1
            recorded = features[fp_key].bytes_list.value
            fp = recorded[0].decode("utf-8", "replace") if recorded else ""
            if fp != self.fingerprint:
                self.other[fp] = self.other.get(fp, 0) + 1
        if column not in features:
            return None
        feature = features[column]
        kind = feature.WhichOneof("kind")
        if kind not in ("int64_list", None):
            raise InputDataError(
                f"{self.path}, record {number} (0-based): feature {column!r} is a "
                f"{kind}, not an int64_list of ids. Pass the id feature to --column. "
                + received(data=self.path, column=column, record=number),
                cases=[(self.path, number)],
            )
        return np.array(feature.int64_list.value, dtype=np.int64)

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """``(values, lengths, missing rows)`` per batch of records."""
        if self.first is None:
            return

        parts: list[np.ndarray] = []
        lengths: list[int] = []
        missing = 0
        for number, example in itertools.chain([self.first], self.records):
            ids = self._ids(number, example)
            if ids is None:
                missing += 1
                lengths.append(0)
            else:
                parts.append(ids)
                lengths.append(len(ids))
            if len(lengths) == self.batch_rows:
                yield _batch(parts, lengths, missing)
                parts, lengths, missing = [], [], 0
        if lengths:
            yield _batch(parts, lengths, missing)


def _batch(parts: list, lengths: list[int], missing: int) -> tuple[np.ndarray, np.ndarray, int]:
    values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return values, np.array(lengths, dtype=np.int64), missing


@dataclasses.dataclass
class Scan:
    """What ``scan_ids`` read: the files, the id column chosen, the fingerprints they record."""

    files: list[str]
    column: str
    recorded_fingerprints: int
    mismatches: list[FingerprintMismatch]


def scan_ids(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    fingerprint: str,
    tally: Any,
    *,
    column: str | None = None,
    progress: bool | None = None,
    batch_rows: int = BATCH_ROWS,
    what: str = "auditing",
) -> Scan:
    """Stream the id column of Parquet or TFRecord files into ``tally``, batch by batch.

    ``tally`` is a ``Tally`` or a subclass counting something else (``repair-model``
    counts untrained ids). The column is chosen from the first file as documented
    in ``audit``; files recording another vocabulary than ``fingerprint`` are
    returned in ``Scan.mismatches``.
    """

    files = expand_data(data)
    formats = [data_format(path) for path in files]
    mismatches: list[FingerprintMismatch] = []
    recorded_count = 0
    chosen = column
    total = _total_rows(files) if all(f == PARQUET for f in formats) else None
    with progress_bar(total, progress, what, unit=" rows") as bar:
        for path, kind in zip(files, formats):
            if kind == PARQUET:
                name, fp, ref, batches = _parquet_batches(path, chosen, fingerprint, batch_rows)
                chosen = name
                if fp is not None:
                    recorded_count += 1
                    if fp != fingerprint:
                        mismatches.append(FingerprintMismatch(path, fp, ref))
                row = 0
                for array, rows in batches:
                    _add_arrow(tally, path, row, array)
                    row += rows
                    bar.update(rows)
            else:
                reader = _TFRecordFile(path, chosen, fingerprint, batch_rows)
                chosen = reader.column
                row = 0
                for values, lengths, missing in reader.batches():
                    tally.null_rows += missing
                    tally.add(path, row, values, lengths)
                    row += len(lengths)
                    bar.update(len(lengths))
                recorded_count += reader.recorded
                for fp, n in sorted(reader.other.items()):
                    mismatches.append(FingerprintMismatch(path, fp, None, rows=n))
    return Scan(files, chosen or "", recorded_count, mismatches)


__all__ = [
    "FingerprintMismatch",
    "Scan",
    "choose_column",
    "data_format",
    "example_class",
    "expand_data",
    "read_tfrecord",
    "recorded_vocabulary",
    "scan_ids",
]
