"""The CSV format: the first row is the header; values are strings (CSV has no types).

``csv_rows`` is the one CSV parser of every path: Python's ``csv`` in strict
mode, decoded as UTF-8 one line at a time. Its views are ``csv_records`` (the
Beam jobs), ``read_csv`` (one document column) and ``csv_dict_rows`` (several
fields, for ``read_records``).

>>> import io
>>> list(csv_rows(io.BytesIO(b'text,label\\n"a, b",1\\nc\\n'), "f.csv"))[1:]
[(2, ['a, b', '1']), BadRecord(path='f.csv', record=3, field=None, reason='wrong_field_count', detail='the row has 1 fields, expected 2 as in the header (quote values that contain commas)', unit='line')]
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from vocabguard._src.engines.formats.common import (
    _BOM,
    DEFAULT_MAX_RECORD_BYTES,
    BadRecord,
    Oversized,
    bounded_lines,
    decode,
    too_large,
    too_large_detail,
)
from vocabguard._src.engines.formats.compression import open_input
from vocabguard._src.engines.formats.fields import (
    INTEGER,
    KindChecker,
    RecordChecker,
    Rows,
    Wanted,
    check_columns,
    not_an_integer,
    pick,
    pick_column,
)


class _Lines:
    """The decoded lines of a CSV file, for ``csv.reader``: a line that is too large or
    not UTF-8 is a blank row in its place, and its ``BadRecord`` waits in ``bad``."""

    def __init__(self, handle: BinaryIO, path: str, limit: int):
        self.handle, self.path, self.limit = handle, path, limit
        self.bad: list[BadRecord] = []
        self.physical = 0  # lines read so far

    def __iter__(self) -> Iterator[str]:
        # Decoded one line at a time, so an undecodable line is reported as itself
        # and the lines after it are still read.
        for number, raw in enumerate(bounded_lines(self.handle, self.limit), start=1):
            self.physical = number
            if isinstance(raw, Oversized):
                self.bad.append(too_large(self.path, number, self.limit))
                yield "\n"  # a blank row in its place
                continue
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.append(decode(self.path, number, raw.rstrip(b"\r\n")))
                text = "\n"  # a blank row in its place
            yield text


def _parse_error(path: str, number: int, physical: int, error: csv.Error, limit: int):
    """``(bad record, whether the file's records end here)`` for a row ``csv`` refused."""
    if "unexpected end of data" in str(error):
        return (
            BadRecord(
                path,
                number,
                None,
                "unterminated_quote",
                f"a quoted field opened on line {number} is never closed: the rest of the "
                f"file ({physical - number + 1} lines) would be one field; expected a "
                "closing '\"' (double any '\"' inside a quoted field)",
            ),
            True,
        )
    if "field larger than field limit" in str(error):
        # Inside a quoted field the parser cannot find where the next record
        # starts: like an unterminated quote, this ends the file's records.
        detail = too_large_detail(limit, "quoted field")
        return BadRecord(path, number, None, "field_too_large", detail), True
    return BadRecord(path, number, None, "bad_csv", f"malformed CSV ({error})"), False


def csv_rows(
    handle: BinaryIO, path: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, list[str]] | BadRecord]:
    """The rows of a CSV file: ``(line, fields)`` (the header first, line 1) or ``BadRecord``.

    A row whose number of fields differs from the header's (``hello, world,1`` under
    ``text,label``) is a bad record (``wrong_field_count``), and so is a quote that is
    never closed (``unterminated_quote``: the rest of the file would be one field),
    never a silently shortened document. A line, or a quoted field, over
    ``max_record_bytes`` is a bad record (``too_large``).
    """
    # Documents can exceed csv's 128 KiB default; a field spanning many lines must not
    # grow past the record bound (the limit is process-wide: set on each call).
    csv.field_size_limit(max_record_bytes)
    source = _Lines(handle, path, max_record_bytes)
    reader = csv.reader(source, strict=True)
    header: list[str] | None = None
    line_end = 0
    while True:
        try:
            row = next(reader, None)
            error = None
        except csv.Error as err:  # e.g. a line break inside an unquoted field
            row, error = [], err
        number, line_end = line_end + 1, reader.line_num
        if source.bad:  # lines of this row: report them, drop the row
            yield from source.bad
            source.bad.clear()
            if header is None:
                return  # the header line: no record of the file can be read
            row = row if row is None else []
        if error is not None:
            bad_row, last = _parse_error(path, number, source.physical, error, max_record_bytes)
            yield bad_row
            if last or header is None:
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


# -- the Beam jobs' view --


def csv_records(
    handle: BinaryIO, path: str, wanted: Wanted
) -> Iterator[tuple[int, dict] | BadRecord]:
    """``iter_records`` for CSV: the named columns of each row, checked."""
    rows = csv_rows(handle, path, wanted.limit)
    header = None
    for item in rows:
        if isinstance(item, BadRecord):
            yield item
            continue
        header = item[1]
        break
    if header is None:
        return  # an empty file (or an unreadable header) holds no records
    check_columns(path, f"{path}, line 1", "CSV header", header, wanted)
    columns = {field: header.index(field) for field in wanted.names}
    for item in rows:
        if isinstance(item, BadRecord):
            yield item
            continue
        number, row = item
        record = {field: row[column] for field, column in columns.items()}
        for field in wanted.rules.weights & set(record):
            try:  # CSV carries numbers as text
                record[field] = float(record[field]) if record[field].strip() else None
            except ValueError:
                pass  # reported as a bad weight, with its text
        yield pick(path, number, record, wanted)


# -- the in-process builder's view --


def read_csv(
    path: str, field: str | None, checker: KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[str | int]:
    """The document column of each row (integers with ``checker.kind == "integer"``);
    a bad row raises."""
    integers = checker.kind == INTEGER
    with open_input(path) as handle:
        column = None
        for item in csv_rows(handle, path, limit):
            if isinstance(item, BadRecord):
                raise item.error(policy_hint=False)
            number, row = item
            if column is None:  # the header
                field = pick_column(path, "CSV header", row, field, line=1)
                column = row.index(field)
                continue
            where, location = f"{path}, line {number}", {"file": path, "line": number}
            value: str | int = row[column]
            if integers:
                try:
                    value = int(value)
                except ValueError:
                    raise not_an_integer(where, location, field, value) from None
            checker.check(value, where, field, location)
            yield value


def _header_columns(path: str, header: list[str], fields, weights) -> tuple[list, list]:
    wanted = list(fields) or [pick_column(path, "CSV header", header, None, line=1)]
    wanted += [w for w in weights if w not in wanted]
    columns = [header.index(pick_column(path, "CSV header", header, f, line=1)) for f in wanted]
    return wanted, columns


def _typed(value: str, name: str, weights, integers: bool, where: str, location: dict) -> Any:
    if name in weights:
        try:
            return float(value) if value.strip() else None
        except ValueError:
            return value  # reported by the weight check, with the text
    if integers and value != "":
        try:
            return int(value)
        except ValueError:
            raise not_an_integer(where, location, name, value) from None
    return value


def csv_dict_rows(path: str, fields: Sequence[str], checker: RecordChecker, limit: int) -> Rows:
    """``(where, location, {field: value})`` per row for ``read_records`` (unchecked); a
    line over the bound is yielded as its error (``too_large``, counted under skip)."""
    integers = checker.kind == INTEGER
    with open_input(path) as handle:
        wanted: list[str] | None = None
        for item in csv_rows(handle, path, limit):
            if isinstance(item, BadRecord):
                error = item.error(policy_hint=False)
                if item.reason != "too_large" or wanted is None:
                    raise error
                error.reason = item.reason  # counted under skip
                yield f"{path}, line {item.record}", {"file": path, "line": item.record}, error
                continue
            number, row = item
            if wanted is None:
                wanted, columns = _header_columns(path, row, fields, checker.weights)
                continue
            where, location = f"{path}, line {number}", {"file": path, "line": number}
            record = {
                name: _typed(row[column], name, checker.weight_fields, integers, where, location)
                for name, column in zip(wanted, columns)
            }
            yield where, location, record


__all__ = ["csv_dict_rows", "csv_records", "csv_rows", "read_csv"]
