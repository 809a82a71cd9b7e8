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

import bz2
import csv
import dataclasses
import gzip
import io
import json
import lzma
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from vocabguard._src.core.errors import InputDataError, quoted, received
from vocabguard._src.core.values import int_problem

FORMATS = ("text", "jsonl", "csv", "parquet", "tfrecord")
# The compressions Beam reads (CompressionTypes.AUTO), by suffix, plus LZ4 frames.
# Every path (in-process readers and Beam) decompresses through ``decompressed``,
# so a truncated or corrupt file is an error on each of them alike.
COMPRESSIONS = {
    ".gz": "gzip",
    ".bz2": "bz2",
    ".xz": "lzma",
    ".lzma": "lzma",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".lz4": "lz4",
}
TEXT_FIELD = "text"
_BOM = b"\xef\xbb\xbf"

# Bounds on one record, so a small hostile file cannot take the host's memory (a
# 4 MB .gz can hold one 4 GiB line) nor the stack (JSON nested 10**5 deep). A record
# past a bound is a bad record: an error naming file and line under
# `bad_records: fail`, counted under `skip`; its bytes are read past, never held.
DEFAULT_MAX_RECORD_BYTES = 64 << 20  # decompressed bytes of one line (CSV: one field)
MAX_JSON_DEPTH = 100  # nesting of arrays and objects in one JSON record


def check_max_record_bytes(value: Any) -> int:
    """``value`` as the record size bound, or a ``ConfigError``."""
    from vocabguard._src.core.errors import ConfigError

    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            "`max_record_bytes` must be an integer >= 1: the most (decompressed) bytes one "
            f"record may hold (default {DEFAULT_MAX_RECORD_BYTES:,}). "
            + received(max_record_bytes=value)
        )
    return value


def too_large_detail(limit: int, what: str = "line") -> str:
    """Why a record over ``max_record_bytes`` is bad, naming the knob."""
    return (
        f"the {what} holds more than max_record_bytes ({limit:,} bytes, decompressed); "
        "raise max_record_bytes (CLI --max-record-bytes, job config max_record_bytes) if "
        "records this large are expected"
    )


class _JsonTooDeep(ValueError):
    pass


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings skipped).

    >>> json_depth('{"a": [[1], "[[["]}')
    3
    """
    import re

    import numpy as np

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    codes = np.frombuffer(bare.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    steps = (
        (codes == ord("[")).astype(np.int32)
        + (codes == ord("{"))
        - (codes == ord("]"))
        - (codes == ord("}"))
    )
    return int(np.cumsum(steps).max()) if len(steps) else 0


def parse_json(text: str) -> Any:
    """``json.loads(text)``, refusing records nested deeper than ``MAX_JSON_DEPTH``.

    Raises ``ValueError`` for invalid JSON, and its subclass ``_JsonTooDeep`` (message:
    the detail) for nesting past the bound, before Python's parser recurses that deep.
    """
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:  # cheap: most records pass
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise _JsonTooDeep(
                f"the JSON record is nested {depth:,} levels deep, more than {MAX_JSON_DEPTH} "
                "(arrays and objects); flatten the record"
            )
    try:
        return json.loads(text)
    except RecursionError:  # a bound Python's stack could not reach: still too deep
        raise _JsonTooDeep(
            f"the JSON record is nested too deep to parse (more than {MAX_JSON_DEPTH} levels); "
            "flatten the record"
        ) from None


class Oversized:
    """A line longer than ``max_record_bytes``; its bytes are read past, never held."""


def bounded_lines(handle: BinaryIO, max_record_bytes: int) -> Iterator[bytes | Oversized]:
    """The lines of a binary file, line endings kept, each at most ``max_record_bytes``
    (plus its line ending); a longer line is one ``Oversized``. Its rest is read past
    in 1 MiB pieces, and only if the caller asks for the next line (under
    ``bad_records: fail`` it stops at once): memory stays bounded whatever its length.

    Beam's ``CompressedFile`` (``.gz`` inputs) is not iterable; it has ``readline``.
    """
    limit = max_record_bytes + 2  # room for "\r\n"
    while True:
        raw = handle.readline(limit)
        if not raw:
            return
        if raw.endswith(b"\n") or len(raw) < limit:
            body = len(raw) - (2 if raw.endswith(b"\r\n") else 1 if raw.endswith(b"\n") else 0)
            yield raw if body <= max_record_bytes else Oversized()
            continue
        del raw
        yield Oversized()
        while True:
            piece = handle.readline(1 << 20)
            if not piece or piece.endswith(b"\n"):
                break


def compression_of(path: str) -> str | None:
    """The compression of a file from its suffix (``None``: not compressed).

    >>> compression_of("part-0.csv.gz"), compression_of("a.jsonl")
    ('gzip', None)
    """
    lower = str(path).lower()
    return next((c for suffix, c in COMPRESSIONS.items() if lower.endswith(suffix)), None)


def strip_compression(path: str) -> str:
    """``path`` without its compression suffix (``a.csv.gz`` -> ``a.csv``)."""
    lower = str(path).lower()
    for suffix in COMPRESSIONS:
        if lower.endswith(suffix):
            return str(path)[: -len(suffix)]
    return str(path)


class _ArrowRaw(io.RawIOBase):
    """An Arrow input stream as a raw Python file (for ``io.BufferedReader``'s lines)."""

    def __init__(self, stream):
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def decompressed(handle: BinaryIO, path: str) -> BinaryIO:
    """``handle`` (an open binary file) decompressed according to ``path``'s suffix.

    gzip, bz2 and xz through Python's modules, zstd and LZ4 frames through Arrow's
    codecs: each raises on a truncated stream (unlike a decoder that stops quietly
    at the end of what arrived), which ``iter_records`` and the readers turn into
    an error naming the file.
    """
    compression = compression_of(path)
    if compression is None:
        return handle
    if compression == "gzip":
        return gzip.GzipFile(fileobj=handle, mode="rb")
    if compression == "bz2":
        return bz2.BZ2File(handle, mode="rb")
    if compression == "lzma":
        return lzma.LZMAFile(handle, mode="rb")
    import pyarrow as pa

    if not pa.Codec.is_available(compression):
        raise InputDataError(
            f"{path} is {compression}-compressed, but this pyarrow has no {compression} codec. "
            "Install a pyarrow built with it, or decompress the file. " + received(file=path),
            cases=[path],
            file=path,
        )
    stream = pa.CompressedInputStream(pa.PythonFile(handle, mode="r"), compression)
    return io.BufferedReader(_ArrowRaw(stream), buffer_size=1 << 20)


# What a truncated or corrupt compressed stream raises while it is read.
_STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError)


def unreadable_file(path: str, err: BaseException) -> InputDataError:
    """The error for a file that cannot be read to its end (truncated, corrupt)."""
    what = f"{compression_of(path)}-compressed " if compression_of(path) else ""
    return InputDataError(
        f"{path}: the {what}file is truncated or corrupt ({type(err).__name__}: {err}); its "
        "records cannot all be read, so none of it is used silently. Restore or re-create "
        "the file. " + received(file=path),
        cases=[(path, "unreadable_file")],
        file=path,
        reason="unreadable_file",
    )


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """A record that cannot be used, with where and why."""

    path: str
    record: int
    field: str | None
    reason: str  # missing_field, wrong_type, undecodable, bad_json, token_too_long, ...
    detail: str
    unit: str = "line"  # "line" (text, jsonl, csv) or "record" (parquet, tfrecord)

    def error(self, policy_hint: bool = True) -> InputDataError:
        """The error the ``fail`` policy raises for this record: the likely cause and its
        fix first; ``bad_records: skip`` last, for the few bad records it is meant for."""
        where = self.path if self.unit == "file" else f"{self.path}, {self.unit} {self.record}"
        field = f", field {self.field!r}" if self.field else ""
        if self.reason == "missing_field":
            fix = (
                "If the field name in the job config is misspelled, fix it there; if only "
                "some records lack the field, fix them"
            )
        else:
            fix = "Fix the file" if self.unit == "file" else "Fix the record"
        what = "files" if self.unit == "file" else "records"
        hint = (
            f"{fix}. bad_records: skip drops and counts bad {what} instead, for a few of them "
            "(a build that skips more than max_bad_fraction of its records still fails). "
            if policy_hint
            else f"{fix}. "
        )
        return InputDataError(
            f"{where}{field}: {self.detail}. {hint}"
            + received(file=self.path, record=self.record, field=self.field, reason=self.reason),
            cases=[(self.path, self.record, self.field, self.reason)],
            file=self.path,
            record=self.record,
            field=self.field,
            reason=self.reason,
        )


@dataclasses.dataclass(frozen=True)
class FieldRules:
    """What the reader accepts beyond one non-null string or integer per field.

    ``shapes``: field -> ``any`` (one value or a list) or ``list`` (always a list:
    a TFRecord feature of one value is a list of one); ``missing``: fields that
    may be null or absent (read as ``None``); ``weights``: fields holding a
    record weight (a finite number >= 0). The counting and encoding steps apply
    each feature's own spec to what the reader let through.
    """

    shapes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    missing: frozenset = frozenset()
    weights: frozenset = frozenset()


NO_RULES = FieldRules()


def _check_value(
    path: str,
    number: int,
    field: str,
    value: Any,
    any_type: bool = False,
    rules: FieldRules = NO_RULES,
) -> BadRecord | None:
    if field in rules.weights:
        from vocabguard._src.core.values import check_weight

        problem = check_weight(value)
        return None if problem is None else BadRecord(path, number, field, "bad_weight", problem)
    if value is None:
        if field in rules.missing:
            return None
        return BadRecord(path, number, field, "missing_field", "the field is null")
    if isinstance(value, list) and field in rules.shapes:
        kinds = set()
        for element in value:
            if element is None and field in rules.missing:
                continue
            if isinstance(element, bool) or not isinstance(element, (str, bytes, int)):
                return BadRecord(
                    path,
                    number,
                    field,
                    "wrong_type",
                    f"the list holds {type(element).__name__} {quoted(element, chars=40)}, "
                    "expected strings or integers",
                )
            problem = int_problem(element)
            if problem is not None:
                return BadRecord(
                    path, number, field, "integer_out_of_range", f"the list holds {problem}"
                )
            kinds.add(int if isinstance(element, int) else str)
        if len(kinds) > 1:
            return BadRecord(
                path,
                number,
                field,
                "mixed_types",
                f"the list mixes strings and integers ({quoted(value, chars=60)})",
            )
        return None
    if not any_type and (isinstance(value, bool) or not isinstance(value, (str, bytes, int))):
        return BadRecord(
            path,
            number,
            field,
            "wrong_type",
            f"expected a string or an integer, found {type(value).__name__} "
            f"{quoted(value, chars=60)}",
        )
    problem = int_problem(value)
    if problem is not None:
        return BadRecord(path, number, field, "integer_out_of_range", f"the value is {problem}")
    return None


def missing_field_detail(field: str, names: Sequence[str]) -> str:
    """Why a record lacks ``field``: the fields it has, and the closest one.

    >>> missing_field_detail("topik", ["id", "text", "topic"])
    "the record has no field 'topik' (its fields: 'id', 'text', 'topic'; closest: 'topic')"
    """
    import difflib

    listed = ", ".join(map(repr, list(names)[:20])) or "none"
    if len(names) > 20:
        listed += f", ... ({len(names)} in all)"
    close = difflib.get_close_matches(str(field), [str(n) for n in names], n=1, cutoff=0.6)
    hint = f"; closest: {close[0]!r}" if close else ""
    return f"the record has no field {field!r} (its fields: {listed}{hint})"


def _pick(
    path: str,
    number: int,
    record: dict,
    fields: Sequence[str],
    passthrough: Sequence[str] = (),
    rules: FieldRules = NO_RULES,
):
    values = {}
    for field in (*fields, *passthrough):
        if field not in record:
            if field in rules.missing:
                values[field] = None
                continue
            if field in rules.weights:
                return BadRecord(path, number, field, "bad_weight", "the weight is missing")
            return BadRecord(
                path, number, field, "missing_field", missing_field_detail(field, list(record))
            )
        bad = _check_value(path, number, field, record[field], field in passthrough, rules)
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


def _lines(
    handle: BinaryIO, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes | Oversized]]:
    for number, raw in enumerate(bounded_lines(handle, max_record_bytes), start=1):
        if isinstance(raw, Oversized):
            yield number, raw
            continue
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        # Exactly one line ending, as vocabguard._src.engines.readers removes it (a lone "\r" stays).
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield number, raw


def _too_large(path: str, number: int, raw: Oversized, limit: int) -> BadRecord:
    return BadRecord(path, number, None, "too_large", too_large_detail(limit))


def iter_records(
    handle: BinaryIO,
    path: str,
    format: str,
    fields: Sequence[str],
    *,
    passthrough: Sequence[str] = (),
    row_groups: Sequence[int] | None = None,
    rules: FieldRules = NO_RULES,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    arrow: Callable[[Any], bool] | None = None,
    arrow_rows: int = 8192,
) -> Iterator[tuple[int, dict] | BadRecord | ArrowRows]:
    """Parse one open binary file into ``(record_number, {field: value})`` or ``BadRecord``.

    ``rules`` (``FieldRules``) lets fields hold lists, missing values or weights.
    ``max_record_bytes`` bounds one line (text, JSON Lines, CSV; decompressed) and one
    Parquet value: a larger record is a ``BadRecord`` (``too_large``), never held whole.

    ``row_groups`` (Parquet only) reads just those row groups, numbering records as
    in the whole file: that is how the Beam reader splits a Parquet file.

    ``arrow`` (Parquet only): a test of one ``pyarrow.RecordBatch`` of ``arrow_rows``
    rows; a batch it passes is yielded whole, as ``ArrowRows``, without per-record
    work (the test stands for the per-record checks: it passes only batches every
    record of which would pass them); the other batches yield records as above.
    """
    passthrough = [f for f in passthrough if f not in fields]
    if format not in FORMATS:
        raise InputDataError(
            f"Unknown input format {format!r} for {path}; expected one of {', '.join(FORMATS)}. "
            + received(format=format)
        )
    limit = check_max_record_bytes(max_record_bytes)
    handle = decompressed(handle, path)
    try:
        if format == "text":
            yield from _text(handle, path, [*fields, *passthrough], limit)
        elif format == "jsonl":
            yield from _jsonl(handle, path, fields, passthrough, rules, limit)
        elif format == "csv":
            yield from _csv(handle, path, fields, passthrough, rules, limit)
        elif format == "parquet":
            yield from _parquet(
                handle, path, fields, passthrough, row_groups, rules, limit, arrow, arrow_rows
            )
        else:
            yield from _tfrecord(handle, path, fields, passthrough, rules)
    except _STREAM_ERRORS as err:
        # A truncated or corrupt (compressed) file: an error under both policies,
        # since the records it did yield may be a fraction of it.
        raise unreadable_file(path, err) from None


def _text(handle, path, fields, limit=DEFAULT_MAX_RECORD_BYTES):
    if list(fields) != [TEXT_FIELD]:
        raise InputDataError(
            f"{path} is a text file: each line is one document, read as field 'text'. "
            f"Use field 'text' (or a jsonl/csv/parquet input for other fields). "
            + received(fields=list(fields))
        )
    for number, raw in _lines(handle, limit):
        if isinstance(raw, Oversized):
            yield _too_large(path, number, raw, limit)
            continue
        text = _decode(path, number, raw)
        yield text if isinstance(text, BadRecord) else (number, {TEXT_FIELD: text})


def _jsonl(handle, path, fields, passthrough, rules=NO_RULES, limit=DEFAULT_MAX_RECORD_BYTES):
    for number, raw in _lines(handle, limit):
        if isinstance(raw, Oversized):
            yield _too_large(path, number, raw, limit)
            continue
        if not raw.strip():
            continue
        text = _decode(path, number, raw)
        if isinstance(text, BadRecord):
            yield text
            continue
        try:
            record = parse_json(text)
        except _JsonTooDeep as err:
            yield BadRecord(path, number, None, "too_deep", str(err))
            continue
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
        yield _pick(path, number, record, fields, passthrough, rules)


def csv_rows(
    handle: BinaryIO, path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, list[str]] | BadRecord]:
    """The rows of a CSV file: ``(line, fields)`` (the header first, line 1) or ``BadRecord``.

    The one CSV parser of every path (in-process readers and Beam): Python's
    ``csv`` in strict mode, decoded as UTF-8 one line at a time. A row whose number
    of fields differs from the header's (``hello, world,1`` under ``text,label``) is
    a bad record (``wrong_field_count``), and so is a quote that is never closed
    (``unterminated_quote``: the rest of the file would be one field), never a
    silently shortened document. A line, or a quoted field, over ``max_record_bytes``
    is a bad record (``too_large``).
    """
    # Documents can exceed csv's 128 KiB default; a field spanning many lines must not
    # grow past the record bound (the limit is process-wide: set on each call).
    csv.field_size_limit(max_record_bytes)
    undecodable: list[BadRecord] = []
    physical = [0]  # lines read so far

    def lines():
        # Decoded one line at a time, so an undecodable line is reported as itself
        # and the lines after it are still read.
        for number, raw in enumerate(bounded_lines(handle, max_record_bytes), start=1):
            physical[0] = number
            if isinstance(raw, Oversized):
                undecodable.append(_too_large(path, number, raw, max_record_bytes))
                yield "\n"  # a blank row in its place
                continue
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                undecodable.append(_decode(path, number, raw.rstrip(b"\r\n")))
                text = "\n"  # a blank row in its place
            yield text

    reader = csv.reader(lines(), strict=True)
    header: list[str] | None = None
    line_end = 0
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
            if header is None:
                return  # the header line: no record of the file can be read
            row = row if row is None else []
        if error is not None:
            if "unexpected end of data" in str(error):
                yield BadRecord(
                    path,
                    number,
                    None,
                    "unterminated_quote",
                    f"a quoted field opened on line {number} is never closed: the rest of the "
                    f"file ({physical[0] - number + 1} lines) would be one field; expected a "
                    "closing '\"' (double any '\"' inside a quoted field)",
                )
                return
            if "field larger than field limit" in str(error):
                # Inside a quoted field the parser cannot find where the next record
                # starts: like an unterminated quote, this ends the file's records.
                detail = too_large_detail(max_record_bytes, "quoted field")
                yield BadRecord(path, number, None, "field_too_large", detail)
                return
            yield BadRecord(path, number, None, "bad_csv", f"malformed CSV ({error})")
            if header is None:
                return
        if row is None:
            return
        if header is None:
            if error is None:
                header = row
                yield number, row
            continue
        if not row:
            continue  # a blank line, or a row reported above
        if len(row) != len(header):
            yield BadRecord(
                path,
                number,
                None,
                "wrong_field_count",
                f"the row has {len(row)} fields, expected {len(header)} as in the header "
                "(quote values that contain commas)",
            )
            continue
        yield number, row


def _csv(handle, path, fields, passthrough, rules=NO_RULES, limit=DEFAULT_MAX_RECORD_BYTES):
    rows = csv_rows(handle, path, limit)
    header = None
    for item in rows:
        if isinstance(item, BadRecord):
            yield item
            continue
        header = item[1]
        break
    if header is None:
        return  # an empty file (or an unreadable header) holds no records
    wanted = [*fields, *passthrough]
    missing = [f for f in wanted if f not in header]
    if missing:
        raise InputDataError(
            f"{path}, line 1: the CSV header has no column {missing[0]!r} (columns: "
            f"{', '.join(map(repr, header))}). Fix the field name in the job config. "
            + received(file=path, field=missing[0])
        )
    columns = {field: header.index(field) for field in wanted}
    for item in rows:
        if isinstance(item, BadRecord):
            yield item
            continue
        number, row = item
        record = {field: row[column] for field, column in columns.items()}
        for field in rules.weights & set(record):
            try:  # CSV carries numbers as text
                record[field] = float(record[field]) if record[field].strip() else None
            except ValueError:
                pass  # reported as a bad weight, with its text
        yield _pick(path, number, record, fields, passthrough, rules)


def spooled(handle: BinaryIO) -> BinaryIO:
    """A seekable copy of a (decompressed) stream, on disk past 64 MiB: Parquet needs
    to seek, and a small compressed file may hold gigabytes."""
    import shutil
    import tempfile

    copy = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    shutil.copyfileobj(handle, copy, 1 << 20)
    copy.seek(0)
    return copy


def _string_type(type_: Any) -> bool:
    import pyarrow as pa

    while pa.types.is_list(type_) or pa.types.is_large_list(type_):
        type_ = type_.value_type
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def valid_utf8(column: Any) -> bool:
    """Whether every string of an Arrow column is valid UTF-8 (non-string columns: True)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):
        column = column.dictionary  # its values; the indices are numbers
    if not _string_type(column.type):
        return True
    try:
        column.validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False


def column_values(column: Any) -> tuple[list, dict[int, str]]:
    """The Python values of an Arrow column, and ``{row: problem}`` for the rows whose
    strings are not valid UTF-8 (those rows' values are ``None``): Parquet does not
    check UTF-8 when writing, and ``to_pylist`` would raise ``UnicodeDecodeError``.

    >>> import pyarrow as pa
    >>> raw = pa.array([b"ok", b"\\xff"]).view(pa.string())
    >>> column_values(raw)
    (['ok', None], {1: "bytes b'\\\\xff' at column 1 are not valid UTF-8"})
    """
    import pyarrow as pa

    if valid_utf8(column):
        return column.to_pylist(), {}
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    binary = pa.binary() if pa.types.is_string(_leaf(column.type)) else pa.large_binary()
    values = column.view(_with_leaf(column.type, binary)).to_pylist()  # same buffers
    problems: dict[int, str] = {}

    def decode(value: Any, row: int) -> Any:
        if isinstance(value, list):
            return [decode(v, row) for v in value]
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError as err:
                problems.setdefault(
                    row,
                    f"bytes {value[err.start : err.end]!r} at column {err.start + 1} are not "
                    "valid UTF-8",
                )
        return value

    out = [decode(value, row) for row, value in enumerate(values)]
    return [None if row in problems else value for row, value in enumerate(out)], problems


def _leaf(type_: Any) -> Any:
    import pyarrow as pa

    while pa.types.is_list(type_) or pa.types.is_large_list(type_):
        type_ = type_.value_type
    return type_


def _with_leaf(type_: Any, leaf: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_list(type_):
        return pa.list_(_with_leaf(type_.value_type, leaf))
    if pa.types.is_large_list(type_):
        return pa.large_list(_with_leaf(type_.value_type, leaf))
    return leaf


@dataclasses.dataclass(frozen=True)
class ArrowRows:
    """Consecutive Parquet records as one Arrow batch (``iter_records(arrow=...)``)."""

    first: int  # the 1-based number of the batch's first record
    batch: Any  # pyarrow.RecordBatch


def _parquet(
    handle,
    path,
    fields,
    passthrough,
    row_groups=None,
    rules=NO_RULES,
    limit=None,
    arrow=None,
    arrow_rows=8192,
):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if compression_of(path) is not None:
        handle = spooled(handle)  # Parquet needs to seek
    try:
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowException, OSError) as err:
        yield _unreadable_parquet(path, err)
        return
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
        batch_size=arrow_rows if arrow is not None else 8192,
        columns=[*fields, *passthrough],
        row_groups=row_groups,
    )
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as err:
            # Corrupt data pages: the records before were good; the file is not.
            yield _unreadable_parquet(path, err)
            return
        if batch is None:
            return
        if arrow is not None and arrow(batch):
            yield ArrowRows(number + 1, batch)
            number += batch.num_rows
            continue
        columns, undecodable = {}, {}
        for name in batch.schema.names:
            columns[name], problems = column_values(batch.column(name))
            for row, problem in problems.items():
                undecodable.setdefault(row, (name, problem))
        for row in range(batch.num_rows):
            number += 1
            if row in undecodable:
                name, problem = undecodable[row]
                yield BadRecord(path, number, name, "undecodable", problem, "record")
                continue
            values = {name: columns[name][row] for name in columns}
            yield _as_record_unit(_pick(path, number, values, fields, passthrough, rules))


def _unreadable_parquet(path: str, err: BaseException) -> BadRecord:
    """A Parquet file that cannot be read: one bad *file* (``unreadable_file``)."""
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    return BadRecord(
        path, 0, None, "unreadable_file", f"not a readable Parquet file ({detail})", "file"
    )


def _as_record_unit(item):
    return dataclasses.replace(item, unit="record") if isinstance(item, BadRecord) else item


def _tfrecord(handle, path, fields, passthrough, rules=NO_RULES):
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
            shape = rules.shapes.get(field)
            if (
                field in rules.weights
                or (shape and kind != "float_list")
                or (not values and field in rules.missing)
            ):
                # A list feature: each element one value (a feature of one value is one
                # value, unless the field's shape is `list`); absent: a missing value.
                decoded_values = []
                undecodable = None
                for value in values:
                    if kind == "bytes_list":
                        value = _decode(path, number, value)
                        if isinstance(value, BadRecord):
                            undecodable = value
                            break
                    decoded_values.append(value)
                if undecodable is not None:
                    record = dataclasses.replace(undecodable, field=field)
                    break
                if kind is None:
                    record[field] = None if field in rules.missing else []
                elif field in rules.weights:
                    record[field] = decoded_values[0] if len(decoded_values) == 1 else None
                elif shape == "list" or len(decoded_values) != 1:
                    record[field] = decoded_values
                else:
                    record[field] = decoded_values[0]
                bad = _check_value(path, number, field, record[field], field in passthrough, rules)
                if bad:
                    record = bad
                    break
                continue
            if len(values) != 1 or (kind == "float_list" and field not in passthrough):
                record = BadRecord(
                    path,
                    number,
                    field,
                    "missing_field" if not values else "wrong_type",
                    missing_field_detail(field, sorted(example.features.feature))
                    if feature is None
                    else "expected exactly one bytes or int64 value, found "
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
