"""Encoded data on disk: find the files, choose the id column, stream its ids.

Reads Parquet files (a ``list<int>`` or integer id column) or TFRecord files of
``tf.train.Example`` (an ``int64_list`` feature) in batches, so memory stays
bounded by one batch, and notes the vocabulary fingerprint each file records
(``vocabguard encode`` and the Beam encode job write one). ``scan_ids`` is the
one scanning loop behind ``vocabguard audit`` and ``repair-model --data``.

TFRecord files are read without TensorFlow: the framing (with CRC32C checks)
is read here and ``tf.train.Example`` is parsed with a copy of its protobuf
schema in a private descriptor pool.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from vocabguard._src.core.errors import InputDataError, received

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
    from vocabguard._src.engines.readers import expand_inputs

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
    import pyarrow as pa

    return pa.types.is_integer(type_)


def _is_int_list(type_: Any) -> bool:
    import pyarrow as pa

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
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    except (pa.ArrowException, OSError):
        return None


def _parquet_batches(
    path: str, requested: str | None, fingerprint: str, batch_rows: int
) -> tuple[str, str | None, str | None, Iterator[tuple[Any, int]]]:
    """``(column, recorded fingerprint, recorded ref, batches)`` of one Parquet file."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
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

    def batches() -> Iterator[tuple[Any, int]]:
        import pyarrow as pa

        stream = parquet.iter_batches(batch_size=batch_rows, columns=[column])
        while True:
            try:
                batch = next(stream, None)
            except (pa.ArrowException, OSError) as err:  # corrupt data pages
                detail = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise InputDataError(
                    f"{path} is not a readable Parquet file ({detail}). Restore or rewrite it. "
                    + received(data=path),
                    cases=[path],
                ) from None
            if batch is None:
                return
            yield batch.column(0), batch.num_rows

    return column, fp, ref, batches()


def _add_arrow(tally: Any, path: str, first_row: int, array: Any) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

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


_EXAMPLE_CLASS = None


def example_class() -> type:
    """``tf.train.Example`` as a protobuf class, without TensorFlow (a private pool)."""
    global _EXAMPLE_CLASS
    if _EXAMPLE_CLASS is not None:
        return _EXAMPLE_CLASS
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="vocabguard_example.proto", package="tensorflow", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]]):
        msg = proto.message_type.add(name=name)
        for field_name, number, label, type_, type_name in fields:
            field = msg.field.add(name=field_name, number=number, label=label, type=type_)
            if type_name:
                field.type_name = type_name
        return msg

    repeated, optional = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, repeated, F.TYPE_BYTES, None)])
    message("FloatList", [("value", 1, repeated, F.TYPE_FLOAT, None)])
    message("Int64List", [("value", 1, repeated, F.TYPE_INT64, None)])
    feature = message(
        "Feature",
        [
            ("bytes_list", 1, optional, F.TYPE_MESSAGE, ".tensorflow.BytesList"),
            ("float_list", 2, optional, F.TYPE_MESSAGE, ".tensorflow.FloatList"),
            ("int64_list", 3, optional, F.TYPE_MESSAGE, ".tensorflow.Int64List"),
        ],
    )
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    features = message(
        "Features",
        [("feature", 1, repeated, F.TYPE_MESSAGE, ".tensorflow.Features.FeatureEntry")],
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=optional, type=F.TYPE_STRING)
    entry.field.add(
        name="value", number=2, label=optional, type=F.TYPE_MESSAGE, type_name=".tensorflow.Feature"
    )
    message("Example", [("features", 1, optional, F.TYPE_MESSAGE, ".tensorflow.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    _EXAMPLE_CLASS = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.Example")
    )
    return _EXAMPLE_CLASS


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecord(path: str) -> Iterator[bytes]:
    """The records of a TFRecord file (gzip detected), CRCs checked.

    Raises ``InputDataError`` naming the file and the record on corrupt framing.
    """
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
        number = 0
        while True:
            header = fh.read(12)
            if not header:
                return
            problem = None
            if len(header) < 12:
                problem = "the file ends inside a record header (truncated)"
            else:
                length, length_crc = struct.unpack("<QI", header)
                if _masked_crc(header[:8]) != length_crc:
                    problem = "the length's CRC does not match (corrupt, or not a TFRecord file)"
                else:
                    data = fh.read(length)
                    footer = fh.read(4)
                    if len(data) < length or len(footer) < 4:
                        problem = "the file ends inside a record (truncated)"
                    elif _masked_crc(data) != struct.unpack("<I", footer)[0]:
                        problem = "the data's CRC does not match (corrupt)"
            if problem:
                raise InputDataError(
                    f"{path}, record {number} (0-based): {problem}. Re-write the file, or leave "
                    "it out of the audit. " + received(data=path, record=number),
                    cases=[(path, number)],
                )
            yield data
            number += 1


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
        self.example = example_class()
        self.records = read_tfrecord(path)
        self.first = next(self.records, None)
        self.recorded = 0
        self.other: dict[str, int] = {}
        if self.first is None:
            self.column = requested
            return
        example = self.example()
        example.ParseFromString(self.first)
        columns, recorded, listing = _tfrecord_columns(example)
        self.column = choose_column(
            columns, recorded, path, fingerprint, requested, listing, what="feature"
        )

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """``(values, lengths, missing rows)`` per batch of records."""
        if self.first is None:
            return
        import itertools

        column = self.column
        fp_key = f"{column}{FINGERPRINT_FEATURE_SUFFIX}"
        example = self.example()
        records = itertools.chain([self.first], self.records)
        number = 0
        while True:
            chunk = list(itertools.islice(records, self.batch_rows))
            if not chunk:
                return
            parts, lengths, missing = [], [], 0
            for raw in chunk:
                try:
                    example.ParseFromString(raw)
                except Exception as err:  # protobuf's DecodeError
                    raise InputDataError(
                        f"{self.path}, record {number} (0-based) is not a tf.train.Example "
                        f"({err}). Audit TFRecord files of tf.train.Example. "
                        + received(data=self.path, record=number),
                        cases=[(self.path, number)],
                    ) from err
                features = example.features.feature
                if column in features:
                    feature = features[column]
                    kind = feature.WhichOneof("kind")
                    if kind not in ("int64_list", None):
                        raise InputDataError(
                            f"{self.path}, record {number} (0-based): feature {column!r} is a "
                            f"{kind}, not an int64_list of ids. Pass the id feature to --column. "
                            + received(data=self.path, column=column, record=number),
                            cases=[(self.path, number)],
                        )
                    values = feature.int64_list.value
                    parts.append(np.array(values, dtype=np.int64))
                    lengths.append(len(values))
                else:
                    missing += 1
                    lengths.append(0)
                if fp_key in features:
                    self.recorded += 1
                    recorded = features[fp_key].bytes_list.value
                    fp = recorded[0].decode("utf-8", "replace") if recorded else ""
                    if fp != self.fingerprint:
                        self.other[fp] = self.other.get(fp, 0) + 1
                number += 1
            values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            yield values, np.array(lengths, dtype=np.int64), missing


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

    from vocabguard._src.core.builder import progress_bar

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
