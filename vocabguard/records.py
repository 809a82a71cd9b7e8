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

>>> import io
>>> rows = iter_records(io.BytesIO(b'{"t": "a b"}\\n{"x": 1}\\n'), "f.jsonl", "jsonl", ["t"])
>>> [r if isinstance(r, tuple) else r.reason for r in rows]
[(1, {'t': 'a b'}), 'missing_field']
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from vocabguard.errors import InputDataError, received

FORMATS = ("text", "jsonl", "csv", "parquet", "tfrecord")
TEXT_FIELD = "text"


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


def _check_value(path: str, number: int, field: str, value: Any) -> BadRecord | None:
    if value is None:
        return BadRecord(path, number, field, "missing_field", "the field is null")
    if isinstance(value, bool) or not isinstance(value, (str, bytes, int)):
        return BadRecord(
            path,
            number,
            field,
            "wrong_type",
            f"expected a string or an integer, found {type(value).__name__} {value!r:.60}",
        )
    return None


def _pick(path: str, number: int, record: dict, fields: Sequence[str]):
    values = {}
    for field in fields:
        if field not in record:
            return BadRecord(path, number, field, "missing_field", "the field is missing")
        bad = _check_value(path, number, field, record[field])
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


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        yield number, raw.rstrip(b"\n").rstrip(b"\r")


def iter_records(
    handle: BinaryIO, path: str, format: str, fields: Sequence[str]
) -> Iterator[tuple[int, dict] | BadRecord]:
    """Parse one open binary file into ``(record_number, {field: value})`` or ``BadRecord``."""
    if format not in FORMATS:
        raise InputDataError(
            f"Unknown input format {format!r} for {path}; expected one of {', '.join(FORMATS)}. "
            + received(format=format)
        )
    if format == "text":
        yield from _text(handle, path, fields)
    elif format == "jsonl":
        yield from _jsonl(handle, path, fields)
    elif format == "csv":
        yield from _csv(handle, path, fields)
    elif format == "parquet":
        yield from _parquet(handle, path, fields)
    else:
        yield from _tfrecord(handle, path, fields)


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


def _jsonl(handle, path, fields):
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
        yield _pick(path, number, record, fields)


def _csv(handle, path, fields):
    text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
        missing = [f for f in fields if f not in header]
        if missing:
            raise InputDataError(
                f"{path}, line 1: the CSV header has no column {missing[0]!r} (columns: "
                f"{', '.join(map(repr, header))}). Fix the field name in the job config. "
                + received(file=path, field=missing[0])
            )
        line_end = reader.line_num
        for row in reader:
            number, line_end = line_end + 1, reader.line_num
            yield _pick(path, number, row, fields)
    except UnicodeDecodeError as err:
        yield BadRecord(path, reader.line_num + 1, None, "undecodable", f"not valid UTF-8 ({err})")
    finally:
        text.detach()


def _parquet(handle, path, fields):
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    names = parquet.schema_arrow.names
    missing = [f for f in fields if f not in names]
    if missing:
        raise InputDataError(
            f"{path}: the Parquet file has no column {missing[0]!r} (columns: "
            f"{', '.join(map(repr, names))}). Fix the field name in the job config. "
            + received(file=path, field=missing[0])
        )
    number = 0
    for batch in parquet.iter_batches(batch_size=8192, columns=list(fields)):
        for row in batch.to_pylist():
            number += 1
            yield _as_record_unit(_pick(path, number, row, fields))


def _as_record_unit(item):
    return dataclasses.replace(item, unit="record") if isinstance(item, BadRecord) else item


def _tfrecord(handle, path, fields):
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
        for field in fields:
            feature = example.features.feature.get(field)
            kind = feature.WhichOneof("kind") if feature is not None else None
            values = list(getattr(feature, kind).value) if kind else []
            if len(values) != 1 or kind == "float_list":
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
