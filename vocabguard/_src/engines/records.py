"""Records with several fields, out of open files, for the Beam jobs.

``iter_records(handle, path, format, fields)`` parses one open file (binary
mode; from ``open()``, ``apache_beam.io.filesystems`` or ``pyarrow.fs``) and
yields ``(record_number, {field: value})``. Record numbers are 1-based lines
for text, JSON Lines and CSV (the header is line 1), and 1-based record
indices for Parquet and TFRecord. A malformed record yields a ``BadRecord``
instead, naming the file, the record and the field, so the caller applies its
policy (fail, or skip and count).

Formats: ``text`` (the whole line is field ``text``), ``jsonl``, ``csv``,
``parquet``, ``tfrecord`` (``tf.train.Example``; a field holds exactly one
bytes or int64 value).

``passthrough`` fields (copied to an output, never tokenized, e.g. a float
label) are read too and may hold any non-null value.

>>> import io
>>> rows = iter_records(io.BytesIO(b'{"t": "a b"}\\n{"x": 1}\\n'), "f.jsonl", "jsonl", ["t"])
>>> [r if isinstance(r, tuple) else r.reason for r in rows]
[(1, {'t': 'a b'}), 'missing_field']
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from vocabguard._src.core.errors import InputDataError, received

FORMATS = ("text", "jsonl", "csv", "parquet", "tfrecord")
TEXT_FIELD = "text"
_BOM = b"\xef\xbb\xbf"
_CSV_FIELD_LIMIT = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """A record that cannot be used, with where and why."""

    path: str
    record: int
    field: str | None
    reason: str  # missing_field, wrong_type, undecodable, bad_json, token_too_long, ...
    detail: str
    unit: str = "line"  # "line" (text, jsonl, csv) or "record" (parquet, tfrecord)

    def error(self) -> InputDataError:
        """The error the ``fail`` policy raises for this record."""
        where = f"{self.path}, {self.unit} {self.record}"
        field = f", field {self.field!r}" if self.field else ""
        return InputDataError(
            f"{where}{field}: {self.detail}. Fix the record, or run with bad_records: skip "
            "to drop and count such records. "
            + received(file=self.path, record=self.record, field=self.field, reason=self.reason),
            cases=[(self.path, self.record, self.field, self.reason)],
            file=self.path,
            record=self.record,
            field=self.field,
            reason=self.reason,
        )


def _check_value(
    path: str, number: int, field: str, value: Any, any_type: bool = False
) -> BadRecord | None:
    if value is None:
        return BadRecord(path, number, field, "missing_field", "the field is null")
    if not any_type and (isinstance(value, bool) or not isinstance(value, (str, bytes, int))):
        return BadRecord(
            path,
            number,
            field,
            "wrong_type",
            f"expected a string or an integer, found {type(value).__name__} {value!r:.60}",
        )
    return None


def _pick(
    path: str, number: int, record: dict, fields: Sequence[str], passthrough: Sequence[str] = ()
):
    values = {}
    for field in (*fields, *passthrough):
        if field not in record:
            return BadRecord(path, number, field, "missing_field", "the field is missing")
        bad = _check_value(path, number, field, record[field], field in passthrough)
        if bad:
            return bad
        values[field] = record[field]
    return number, values


def _decode(path: str, number: int, raw: bytes) -> str | BadRecord:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return BadRecord(
            path,
            number,
            None,
            "undecodable",
            f"bytes {raw[err.start : err.end]!r} at column {err.start + 1} are not valid UTF-8 "
            "(re-encode the file as UTF-8)",
        )


def _raw_lines(handle: BinaryIO) -> Iterator[bytes]:
    """The lines of a binary file, line endings kept.

    Beam's ``CompressedFile`` (``.gz`` inputs) is not iterable; it has ``readline``.
    """
    return iter(handle) if hasattr(handle, "__iter__") else iter(handle.readline, b"")


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(_raw_lines(handle), start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        # Exactly one line ending, as vocabguard._src.engines.readers removes it (a lone "\r" stays).
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield number, raw


def iter_records(
    handle: BinaryIO,
    path: str,
    format: str,
    fields: Sequence[str],
    *,
    passthrough: Sequence[str] = (),
    row_groups: Sequence[int] | None = None,
) -> Iterator[tuple[int, dict] | BadRecord]:
    """Parse one open binary file into ``(record_number, {field: value})`` or ``BadRecord``.

    ``row_groups`` (Parquet only) reads just those row groups, numbering records as
    in the whole file: that is how the Beam reader splits a Parquet file.
    """
    passthrough = [f for f in passthrough if f not in fields]
    if format not in FORMATS:
        raise InputDataError(
            f"Unknown input format {format!r} for {path}; expected one of {', '.join(FORMATS)}. "
            + received(format=format)
        )
    if format == "text":
        yield from _text(handle, path, [*fields, *passthrough])
    elif format == "jsonl":
        yield from _jsonl(handle, path, fields, passthrough)
    elif format == "csv":
        yield from _csv(handle, path, fields, passthrough)
    elif format == "parquet":
        yield from _parquet(handle, path, fields, passthrough, row_groups)
    else:
        yield from _tfrecord(handle, path, fields, passthrough)


def _text(handle, path, fields):
    if list(fields) != [TEXT_FIELD]:
        raise InputDataError(
            f"{path} is a text file: each line is one document, read as field 'text'. "
            f"Use field 'text' (or a jsonl/csv/parquet input for other fields). "
            + received(fields=list(fields))
        )
    for number, raw in _lines(handle):
        text = _decode(path, number, raw)
        yield text if isinstance(text, BadRecord) else (number, {TEXT_FIELD: text})


def _jsonl(handle, path, fields, passthrough):
    for number, raw in _lines(handle):
        if not raw.strip():
            continue
        text = _decode(path, number, raw)
        if isinstance(text, BadRecord):
            yield text
            continue
        try:
            record = json.loads(text)
        except ValueError as err:
            yield BadRecord(path, number, None, "bad_json", f"invalid JSON ({err})")
            continue
        if not isinstance(record, dict):
            yield BadRecord(
                path,
                number,
                None,
                "wrong_type",
                f"expected a JSON object, found {type(record).__name__}",
            )
            continue
        yield _pick(path, number, record, fields, passthrough)


def _csv(handle, path, fields, passthrough):
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)  # documents can exceed the 128 KiB default
    undecodable: list[BadRecord] = []

    def lines():
        # Decoded one line at a time (as vocabguard._src.engines.readers does), so an undecodable
        # line is reported as itself and the lines after it are still read.
        for number, raw in enumerate(_raw_lines(handle), start=1):
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.append(_decode(path, number, raw.rstrip(b"\r\n")))
                text = "\n"  # a blank row in its place
            yield text

    reader = csv.reader(lines())
    try:
        header = next(reader, None)
    except csv.Error as err:
        yield BadRecord(path, 1, None, "bad_csv", f"malformed CSV header ({err})")
        return
    if undecodable:  # the header line: no record of the file can be read
        yield undecodable[0]
        return
    if header is None:
        return  # an empty file holds no records
    wanted = [*fields, *passthrough]
    missing = [f for f in wanted if f not in header]
    if missing:
        raise InputDataError(
            f"{path}, line 1: the CSV header has no column {missing[0]!r} (columns: "
            f"{', '.join(map(repr, header))}). Fix the field name in the job config. "
            + received(file=path, field=missing[0])
        )
    columns = {field: header.index(field) for field in wanted}
    line_end = reader.line_num
    while True:
        try:
            row = next(reader, None)
            error = None
        except csv.Error as err:  # e.g. a line break inside an unquoted field
            row, error = [], err
        number, line_end = line_end + 1, reader.line_num
        if undecodable:  # lines of this row: report them, drop the row
            yield from undecodable
            undecodable.clear()
            row = row if row is None else []
        if error is not None:
            yield BadRecord(path, number, None, "bad_csv", f"malformed CSV ({error})")
        if row is None:
            return
        if not row:
            continue  # a blank line, or a row reported above
        short = [field for field, column in columns.items() if column >= len(row)]
        if short:
            yield BadRecord(
                path,
                number,
                short[0],
                "missing_field",
                f"the row has {len(row)} columns, the header {len(header)}",
            )
            continue
        record = {field: row[column] for field, column in columns.items()}
        yield _pick(path, number, record, fields, passthrough)


def _parquet(handle, path, fields, passthrough, row_groups=None):
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    names = parquet.schema_arrow.names
    missing = [f for f in (*fields, *passthrough) if f not in names]
    if missing:
        raise InputDataError(
            f"{path}: the Parquet file has no column {missing[0]!r} (columns: "
            f"{', '.join(map(repr, names))}). Fix the field name in the job config. "
            + received(file=path, field=missing[0])
        )
    number = 0
    if row_groups is not None:
        row_groups = sorted(row_groups)
        metadata = parquet.metadata
        number = sum(
            metadata.row_group(g).num_rows for g in range(row_groups[0] if row_groups else 0)
        )
    batches = parquet.iter_batches(
        batch_size=8192, columns=[*fields, *passthrough], row_groups=row_groups
    )
    for batch in batches:
        for row in batch.to_pylist():
            number += 1
            yield _as_record_unit(_pick(path, number, row, fields, passthrough))


def _as_record_unit(item):
    return dataclasses.replace(item, unit="record") if isinstance(item, BadRecord) else item


def _tfrecord(handle, path, fields, passthrough):
    from apache_beam.io.tfrecordio import _TFRecordUtil
    from tensorflow.core.example import example_pb2

    number = 0
    while True:
        try:
            raw = _TFRecordUtil.read_record(handle)
        except ValueError as err:  # a bad length or CRC
            yield BadRecord(
                path, number + 1, None, "corrupt", f"corrupt TFRecord framing ({err})", "record"
            )
            return
        if raw is None:
            return
        number += 1
        example = example_pb2.Example()
        try:
            example.ParseFromString(raw)
        except Exception as err:  # protobuf's DecodeError
            yield BadRecord(
                path, number, None, "bad_example", f"not a tf.train.Example ({err})", "record"
            )
            continue
        record = {}
        for field in (*fields, *passthrough):
            feature = example.features.feature.get(field)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = list(getattr(feature, kind).value) if kind else []
            if len(values) != 1 or (kind == "float_list" and field not in passthrough):
                record = BadRecord(
                    path,
                    number,
                    field,
                    "missing_field" if not values else "wrong_type",
                    "expected exactly one bytes or int64 value, found "
                    + (f"{len(values)} {kind} values" if kind else "no feature"),
                )
                break
            value = values[0]
            if kind == "bytes_list":
                decoded = _decode(path, number, value)
                if isinstance(decoded, BadRecord):
                    record = dataclasses.replace(decoded, field=field)
                    break
                value = decoded
            record[field] = value
        yield _as_record_unit(record) if isinstance(record, BadRecord) else (number, record)
