"""Stream documents out of local input files: text, JSON Lines, CSV and Parquet.

``read_documents`` yields one value per document (a ``str``, ``bytes`` from a
Parquet binary column, or an ``int``), file after file, without loading whole
files: text, JSON Lines and CSV are read line by line, Parquet in record
batches. Every malformed record raises ``InputDataError`` naming the file, the
line (or, for Parquet, the 1-based record number) and the field.

Formats (``format=None`` picks one from each file's extension):

- ``text`` (``.txt``, ``.text``): each line is one document; only the line
  ending (``\\n`` or ``\\r\\n``) is removed. Read as UTF-8.
- ``jsonl`` (``.jsonl``, ``.json``): one JSON value per line, read as UTF-8;
  blank lines are skipped. A line is an object holding ``field``, or (without
  ``field``) an object with exactly one key, or a bare string or integer.
- ``csv`` (``.csv``): the first row is the header; ``field`` names a column
  (optional when there is only one). Values are strings, or integers when
  ``kind="integer"``.
- ``parquet`` (``.parquet``): ``field`` names a string, binary or integer
  column (optional when there is only one column).

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.txt").write_text("to be\\nor not\\n", encoding="utf-8")
>>> _ = (folder / "b.jsonl").write_text('{"text": "to be"}\\n', encoding="utf-8")
>>> list(read_documents([str(folder / "*.txt")]))
['to be', 'or not']
>>> list(read_documents([str(folder / "b.jsonl")], field="text"))
['to be']
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.engines.records import (
    _STREAM_ERRORS,
    COMPRESSIONS,
    DEFAULT_MAX_RECORD_BYTES,
    BadRecord,
    Oversized,
    _JsonTooDeep,
    bounded_lines,
    check_max_record_bytes,
    column_values,
    compression_of,
    csv_rows,
    decompressed,
    int_problem,
    parse_json,
    spooled,
    strip_compression,
    too_large_detail,
    unreadable_file,
)

FORMATS = ("text", "jsonl", "csv", "parquet")
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
STRING = "string"
INTEGER = "integer"
KINDS = (STRING, INTEGER)
PARQUET_BATCH_SIZE = 8192

_BOM = b"\xef\xbb\xbf"

Value = str | bytes | int


class InputNotFoundError(InputDataError, FileNotFoundError):
    """An input path or glob matches no file."""


# -- input paths --


def expand_inputs(patterns: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Resolve input paths and globs to a list of files.

    A pattern that names an existing file is used as is (even if it contains
    glob characters); otherwise a pattern with ``*``, ``?`` or ``[`` is expanded
    (``**`` recurses) and its matches are sorted. Files matched twice are read
    once, in the order first matched.

    >>> expand_inputs(["/no/such/dir/*.txt"])
    Traceback (most recent call last):
    ...
    vocabguard._src.engines.readers.InputNotFoundError: Input '/no/such/dir/*.txt' matches no files. Expected a file path or a glob such as 'data/*.txt' that matches at least one file; check the path (globs are relative to the current directory). Received: input='/no/such/dir/*.txt'

    Raises:
        InputNotFoundError: a pattern matches no file, or a path does not exist.
        InputDataError: a path is a directory.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files: list[str] = []
    seen: set[str] = set()
    for raw in patterns:
        pattern = os.path.expanduser(os.fspath(raw))
        if os.path.isfile(pattern):
            matches = [pattern]
        elif glob.has_magic(pattern):
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not matches:
                raise InputNotFoundError(
                    f"Input {pattern!r} matches no files. Expected a file path or a glob such "
                    "as 'data/*.txt' that matches at least one file; check the path (globs are "
                    "relative to the current directory). " + received(input=pattern),
                    cases=[pattern],
                )
        elif os.path.isdir(pattern):
            raise InputDataError(
                f"Input {pattern!r} is a directory. Expected a file or a glob; pass "
                f"'{os.path.join(pattern, '*')}' to read every file in it. "
                + received(input=pattern),
                cases=[pattern],
            )
        else:
            raise InputNotFoundError(
                f"Input file {pattern!r} does not exist. Expected an existing file or a glob; "
                "check the path. " + received(input=pattern),
                cases=[pattern],
            )
        for match in matches:
            key = os.path.abspath(match)
            if key not in seen:
                seen.add(key)
                files.append(match)
    return files


def detect_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The input format of ``path``: ``format`` if given, else from the file extension.

    >>> detect_format("corpus/part-0.jsonl"), detect_format("notes.md", "text")
    ('jsonl', 'text')
    """
    if format is not None:
        if format not in FORMATS:
            raise ConfigError(
                f"Unknown input format {format!r}; expected one of {', '.join(FORMATS)}. "
                + received(format=format)
            )
        return format
    extension = os.path.splitext(strip_compression(os.fspath(path)))[1].lower()
    found = EXTENSIONS.get(extension)
    if found is None:
        known = ", ".join(f"{ext} ({fmt})" for ext, fmt in EXTENSIONS.items())
        raise ConfigError(
            f"Cannot tell the format of {os.fspath(path)!r} from its extension {extension!r}. "
            f"Known extensions: {known}, each optionally compressed "
            f"({', '.join(COMPRESSIONS)}). Pass --format text|jsonl|csv|parquet. "
            + received(file=os.fspath(path))
        )
    return found


# -- documents --


def read_documents(
    paths_or_globs: str | os.PathLike | Iterable[str | os.PathLike],
    format: str | None = None,
    field: str | None = None,
    *,
    kind: str | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[Value]:
    """Yield the documents of every input file, in order, one value at a time.

    Args:
        paths_or_globs: file paths and globs (see ``expand_inputs``).
        format: ``text``, ``jsonl``, ``csv`` or ``parquet``; ``None`` picks one per
            file from its extension.
        field: the JSON key, CSV column or Parquet column holding the document;
            optional when records have exactly one. Text files (one document per
            line) ignore it, but it is an error when every input is text.
        kind: ``"string"`` or ``"integer"`` to require that kind of value (CSV
            values are parsed as integers with ``"integer"``); ``None`` accepts
            either, as long as every value has the kind of the first one.
        max_record_bytes: the most bytes one line may hold, decompressed (default
            64 MiB); a longer line is an error naming the file and the line, read
            past in pieces, never held whole.

    Yields:
        ``str`` (or ``bytes`` for a Parquet binary column) or ``int`` values.

    Raises:
        InputDataError: a missing field, invalid JSON, undecodable bytes, a null
            or a value that is neither string nor integer; the message names the
            file, the line or record, and the field.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ids.jsonl"
    >>> _ = path.write_text('{"id": 3}\\n{"id": 7}\\n', encoding="utf-8")
    >>> list(read_documents([path], field="id"))
    [3, 7]
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(
            f"`kind` must be one of {', '.join(KINDS)} or None. " + received(kind=kind)
        )
    files = expand_inputs(paths_or_globs)
    formats = [detect_format(path, format) for path in files]  # fail before reading
    if field is not None and all(f == "text" for f in formats):
        raise ConfigError(
            f"--field {field!r} does not apply to text input ({files[0]}): each line is a "
            "document. Remove --field, or pass --format jsonl|csv|parquet. "
            + received(file=files[0], field=field)
        )
    limit = check_max_record_bytes(max_record_bytes)
    checker = _KindChecker(kind)
    for path, file_format in zip(files, formats):
        try:
            if file_format == "text":
                for text in _read_text(path, checker, limit):  # `field` is for the others
                    if isinstance(text, InputDataError):
                        raise text
                    yield text
            elif file_format == "jsonl":
                yield from _read_jsonl(path, field, checker, limit)
            elif file_format == "csv":
                yield from _read_csv(path, field, checker, limit)
            else:
                yield from _read_parquet(path, field, checker)
        except _STREAM_ERRORS as err:
            if isinstance(err, FileNotFoundError):
                raise
            raise unreadable_file(path, err) from None


def _open(path: str):
    """``path`` opened for reading in binary, decompressed by its suffix (``.gz``...)."""
    return decompressed(open(path, "rb"), path)


def _bad(where: str, location: dict, detail: str, fix: str, reason: str, **extra) -> InputDataError:
    """A bad record that ``read_records(bad_records="skip")`` counts under ``reason``."""
    error = InputDataError(
        f"{where}: {detail}. {fix} " + received(**location, **extra),
        cases=[(where, reason)],
        **location,
    )
    error.reason = reason
    return error


def _too_large(path: str, number: int, raw: Oversized, limit: int) -> InputDataError:
    return _bad(
        f"{path}, line {number}",
        {"file": path, "line": number},
        too_large_detail(limit),
        "Fix the line, or drop it (bad_records: skip).",
        "too_large",
    )


def _kind_of(value: Any) -> str | None:
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, int) and not isinstance(value, bool):
        return INTEGER
    return None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, float):
        return f"a number with a fraction or exponent ({value!r})"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (str, bytes)):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    return type(value).__name__


def _field_part(field: str | None) -> str:
    return f"field {field!r}" if field is not None else "the value"


class _KindChecker:
    """Every value must be a string, or every value an integer."""

    def __init__(self, kind: str | None):
        self.kind = kind
        self.fixed = kind is not None
        self.first: str | None = None  # where the first value was read

    def check(self, value: Any, where: str, field: str | None, location: dict) -> None:
        found = _kind_of(value)
        if found is None:
            raise InputDataError(
                f"{where}: {_field_part(field)} is {_describe(value)}, expected a string or an "
                "integer. Fix or drop the record (every document must be a string, or every "
                "document an integer). " + received(**location, field=field, value=value),
                cases=[(where, repr(value))],
                **location,
            )
        problem = int_problem(value)
        if problem is not None:
            raise _bad(
                where,
                location,
                f"{_field_part(field)} is {problem}",
                "Integer tokens are int64; fix or drop the record (bad_records: skip).",
                "integer_out_of_range",
                field=field,
            )
        if self.kind is None:
            self.kind, self.first = found, where
            return
        if found != self.kind:
            if self.fixed:
                why = (
                    f"the vocabulary holds {'integer' if self.kind == INTEGER else 'string'} tokens"
                )
            else:
                why = f"the first document ({self.first}) is {'an integer' if self.kind == INTEGER else 'a string'}"
            raise InputDataError(
                f"{where}: {_field_part(field)} is {_describe(value)}, but {why}. Every document "
                "must have the same kind: all strings or all integers. Fix the record or the "
                "input. " + received(**location, field=field, value=value),
                cases=[(where, repr(value))],
                **location,
            )


def _undecodable(path: str, line: int, raw: bytes, err: UnicodeDecodeError) -> InputDataError:
    bad = raw[err.start : err.end]
    return InputDataError(
        f"{path}, line {line}: bytes {bad!r} at byte {err.start + 1} of the line are not valid "
        "UTF-8. Input files are read as UTF-8; re-encode the file, e.g. "
        f"`iconv -f latin1 -t utf-8 {path} > fixed{os.path.splitext(path)[1]}`. "
        + received(file=path, line=line),
        cases=[(path, line)],
        file=path,
        line=line,
    )


def _lines(
    path: str, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes | Oversized]]:
    """``(line number, raw line without its line ending)``; a leading UTF-8 BOM is dropped.
    A line over ``limit`` bytes is an ``Oversized`` (its size), never read whole."""
    with _open(path) as handle:
        for number, raw in enumerate(bounded_lines(handle, limit), 1):
            if isinstance(raw, Oversized):
                yield number, raw
                continue
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            yield number, raw


def _decode(path: str, number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _undecodable(path, number, raw, err) from None


def _read_text(
    path: str, checker: _KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[str | InputDataError]:
    """The lines of a text file; an over-long line is yielded as its error (raised by
    ``read_documents``, counted by ``read_records`` under skip)."""
    first = True
    for number, raw in _lines(path, limit):
        if isinstance(raw, Oversized):
            yield _too_large(path, number, raw, limit)
            continue
        text = _decode(path, number, raw)
        if first:
            checker.check(text, f"{path}, line {number}", None, {"file": path, "line": number})
            first = False
        yield text


def _json_lines(
    path: str, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, str, dict, Any]]:
    """The JSON value of each non-blank line: ``(line, "path, line N", location, value)``.

    Invalid JSON is an ``InputDataError`` naming the file, the line and the column. A
    line over ``limit`` bytes or nested past ``MAX_JSON_DEPTH`` is yielded as its
    ``InputDataError`` in place of the value (a bad record ``bad_records: skip`` counts).
    """
    for number, raw in _lines(path, limit):
        where = f"{path}, line {number}"
        location = {"file": path, "line": number}
        if isinstance(raw, Oversized):
            yield number, where, location, _too_large(path, number, raw, limit)
            continue
        text = _decode(path, number, raw)
        if not text.strip():
            continue
        try:
            record = parse_json(text)
        except _JsonTooDeep as err:
            fix = "Fix the line, or drop it (bad_records: skip)."
            yield number, where, location, _bad(where, location, str(err), fix, "too_deep")
            continue
        except ValueError as err:  # JSONDecodeError, or an integer of over 4300 digits
            if not isinstance(err, json.JSONDecodeError):
                raise InputDataError(
                    f"{where}: invalid JSON ({err}). Fix or remove the line. "
                    + received(**location),
                    cases=[(path, number)],
                    **location,
                ) from None
            snippet = text if len(text) <= 80 else text[:77] + "..."
            raise InputDataError(
                f"{where}: invalid JSON ({err.msg} at column {err.colno}). Expected one JSON "
                "value per line (JSON Lines). Fix or remove the line. "
                + received(**location, text=snippet),
                cases=[(path, number)],
                **location,
            ) from None
        yield number, where, location, record


def _read_jsonl(
    path: str, field: str | None, checker: _KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[Value]:
    auto_field: str | None = None
    for number, where, location, record in _json_lines(path, limit):
        if isinstance(record, InputDataError):
            raise record
        name = field or auto_field
        if isinstance(record, dict):
            if name is None:
                if len(record) != 1:
                    keys = _keys(record)
                    raise InputDataError(
                        f"{where}: the record has {len(record):,} fields ({keys}), so the document "
                        "field is ambiguous. Pass --field with the key holding the text. "
                        + received(**location, field=None),
                        cases=[(path, number)],
                        **location,
                    )
                name = auto_field = next(iter(record))
            if name not in record:
                from vocabguard._src.engines.records import missing_field_detail

                raise InputDataError(
                    f"{where}: {missing_field_detail(name, list(record))}. Every record needs "
                    "the field named by --field; pass the right --field or fix the record. "
                    + received(**location, field=name),
                    cases=[(path, number)],
                    **location,
                )
            value = record[name]
        elif name is not None:
            raise InputDataError(
                f"{where}: the record is {_describe(record)}, not an object with field "
                f"{name!r}. Expected one JSON object per line; fix the line. "
                + received(**location, field=name),
                cases=[(path, number)],
                **location,
            )
        else:
            value = record
        checker.check(value, where, name, location)
        yield value


def _keys(record: dict | Sequence[str], shown: int = 10) -> str:
    """The first keys of a record (or columns), and how many more: a record may hold
    10**6 keys.

    >>> _keys(dict.fromkeys("abcdefghijkl"))
    "'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j' and 2 more"
    """
    from vocabguard._src.core.errors import quoted

    listed = ", ".join(quoted(key, chars=60) for key, _ in zip(record, range(shown)))
    more = f" and {len(record) - shown:,} more" if len(record) > shown else ""
    return (listed + more) or "none"


def _pick_column(
    path: str, what: str, columns: Sequence[str], field: str | None, line: int | None = None
) -> str:
    """The document column: ``field``, or the only column when ``field`` is None."""
    listed = _keys(columns)
    where = f"{path}, line {line}" if line else path
    if field is None:
        if len(columns) != 1:
            raise InputDataError(
                f"{path}: the {what} has {len(columns)} columns ({listed}), so the document "
                "column is ambiguous. Pass --field with the column holding the text. "
                + received(file=path, field=None),
                cases=[path],
                file=path,
            )
        return columns[0]
    if field not in columns:
        raise InputDataError(
            f"{where}: the {what} has no column {field!r} (columns: {listed}). "
            "Pass the right --field. " + received(file=path, field=field),
            cases=[path],
            file=path,
        )
    return field


def _read_csv(
    path: str, field: str | None, checker: _KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[Value]:
    # The same parser as the Beam jobs (records.csv_rows): a row with the wrong
    # number of fields or a quote that never closes is an error, never a shortened
    # document.
    integers = checker.kind == INTEGER
    with _open(path) as handle:
        rows = csv_rows(handle, path, limit)
        column = None
        for item in rows:
            if isinstance(item, BadRecord):
                raise item.error(policy_hint=False)
            number, row = item
            if column is None:  # the header
                field = _pick_column(path, "CSV header", row, field, line=1)
                column = row.index(field)
                continue
            where = f"{path}, line {number}"
            location = {"file": path, "line": number}
            value: Value = row[column]
            if integers:
                try:
                    value = int(value)
                except ValueError:
                    raise InputDataError(
                        f"{where}: column {field!r} is {value!r}, expected an integer (the "
                        "vocabulary holds integer tokens). Fix the row. "
                        + received(**location, field=field, value=value),
                        cases=[(path, number)],
                        **location,
                    ) from None
            checker.check(value, where, field, location)
            yield value


def _open_parquet(path: str):
    """A ``ParquetFile`` (decompressed first if the file is compressed); an unreadable
    file is one ``InputDataError`` naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if compression_of(path) is not None:
            with _open(path) as handle:
                return pq.ParquetFile(spooled(handle))  # on disk past 64 MiB
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, EOFError) as err:
        raise InputDataError(
            f"{path} is not a readable Parquet file ({err}). Check the file, or pass --format "
            "if it is not Parquet. " + received(file=path),
            cases=[path],
            file=path,
        ) from None


def _read_parquet(path: str, field: str | None, checker: _KindChecker) -> Iterator[Value]:
    import pyarrow as pa
    import pyarrow.compute as pc

    parquet = _open_parquet(path)
    with parquet:
        schema = parquet.schema_arrow
        field = _pick_column(path, "Parquet file", schema.names, field)
        column_type = schema.field(field).type
        value_type = column_type.value_type if pa.types.is_dictionary(column_type) else column_type
        if not (
            pa.types.is_string(value_type)
            or pa.types.is_large_string(value_type)
            or pa.types.is_binary(value_type)
            or pa.types.is_large_binary(value_type)
            or pa.types.is_integer(value_type)
        ):
            raise InputDataError(
                f"{path}: column {field!r} has type {column_type}, expected strings, binary or "
                "integers. Convert the column, or pass --field with a text column. "
                + received(file=path, field=field, type=str(column_type)),
                cases=[path],
                file=path,
            )
        first = 0  # 0-based index of the batch's first record in the file
        for batch in _batches(path, parquet, field):
            values = batch.column(0)
            if values.null_count:
                record = first + pc.index(pc.is_null(values), True).as_py() + 1
                location = {"file": path, "record": record}
                raise InputDataError(
                    f"{path}, record {record}: column {field!r} is null, expected a string or "
                    "an integer. Fill or drop the null records. "
                    + received(**location, field=field, value=None),
                    cases=[(path, record)],
                    **location,
                )
            items, undecodable = column_values(values)
            bad_row = min(undecodable, default=None)
            if pa.types.is_integer(values.type) and len(values):
                # uint64 values past 2**63 - 1 are no int64 token (ids would wrap).
                too_big = pc.greater(values, pa.scalar(2**63 - 1, pa.uint64()))
                if values.type == pa.uint64() and pc.any(too_big).as_py():
                    row = pc.index(too_big, True).as_py()
                    bad_row = row if bad_row is None else min(bad_row, row)
            if bad_row is not None:
                record = first + bad_row + 1
                location = {"file": path, "record": record}
                if bad_row in undecodable:
                    detail = f"column {field!r}: {undecodable[bad_row]}"
                else:
                    detail = f"column {field!r} is {int_problem(items[bad_row])}"
                raise _bad(
                    f"{path}, record {record}",
                    location,
                    detail,
                    "Fix or drop the record.",
                    "undecodable" if bad_row in undecodable else "integer_out_of_range",
                    field=field,
                )
            if items:
                record = first + 1
                checker.check(
                    items[0],
                    f"{path}, record {record}",
                    field,
                    {"file": path, "record": record},
                )
            first += len(items)
            yield from items


def _batches(path: str, parquet: Any, field: str | list[str]) -> Iterator[Any]:
    import pyarrow as pa

    columns = [field] if isinstance(field, str) else list(field)
    batches = parquet.iter_batches(batch_size=PARQUET_BATCH_SIZE, columns=columns)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as err:
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise InputDataError(
                f"{path} is not a readable Parquet file ({detail}). Check the file. "
                + received(file=path),
                cases=[path],
                file=path,
            ) from None
        if batch is None:
            return
        yield batch


# -- records: several fields, lists, missing values, weights --

BAD_RECORD_POLICIES = ("fail", "skip")


def read_records(
    paths_or_globs: str | os.PathLike | Iterable[str | os.PathLike],
    format: str | None = None,
    fields: Sequence[str] | None = None,
    *,
    weight_field: str | Sequence[str] | None = None,
    kind: str | None = None,
    missing: str = "error",
    value_shape: str = "any",
    bad_records: str = "fail",
    skipped: dict | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Iterator[dict]:
    """Yield one ``{field: value}`` dict per record, checked, file after file.

    Like ``read_documents`` for several fields at once. A value is a string
    (``bytes`` from a Parquet binary column), an integer, a list of them (a JSON
    array, a Parquet/Arrow list column) or ``None`` (null or absent, allowed only
    when ``missing`` is not ``error``). With ``weight_field`` the dict also holds
    the record's weight, a finite number >= 0 (several weight fields: a list).
    Each field's values must all be strings or all integers (fields may differ).

    Bad records (a missing value under ``missing: error``, a list where
    ``value_shape`` is ``scalar`` or a single value where it is ``list``, an
    element that is neither a string nor an integer, both kinds of values, a
    bad weight) raise ``InputDataError`` naming the file, the line or record,
    the field and the value; with ``bad_records="skip"`` they are dropped and
    counted in ``skipped`` (reason -> count) instead. So are hostile records: a line
    over ``max_record_bytes`` (``too_large``), JSON nested past ``MAX_JSON_DEPTH``
    (``too_deep``), an integer outside int64 (``integer_out_of_range``) and a Parquet
    string that is not UTF-8 (``undecodable``). Undecodable lines, invalid JSON and
    missing columns always raise.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> _ = path.write_text('{"h": ["a", "b"], "t": "a", "w": 2}\\n{"h": [], "w": 1}\\n')
    >>> list(read_records([path], fields=["h", "t"], weight_field="w", missing="oov"))
    [{'h': ['a', 'b'], 't': 'a', 'w': 2}, {'h': [], 't': None, 'w': 1}]
    """
    if kind is not None and kind not in KINDS:
        raise ConfigError(
            f"`kind` must be one of {', '.join(KINDS)} or None. " + received(kind=kind)
        )
    if bad_records not in BAD_RECORD_POLICIES:
        raise ConfigError(
            "`bad_records` must be 'fail' (stop, naming the file and record) or 'skip' (drop "
            "and count). " + received(bad_records=bad_records)
        )
    fields = list(fields or [])
    weights = [weight_field] if isinstance(weight_field, str) else list(weight_field or [])
    files = expand_inputs(paths_or_globs)
    formats = [detect_format(path, format) for path in files]  # fail before reading
    if all(f == "text" for f in formats) and (fields or weights):
        raise ConfigError(
            f"--field/--weight-field do not apply to text input ({files[0]}): each line is a "
            "document. Remove them, or pass --format jsonl|csv|parquet. "
            + received(file=files[0], fields=fields, weight_field=weight_field)
        )
    limit = check_max_record_bytes(max_record_bytes)
    checker = _RecordChecker(kind, missing, value_shape, weights)
    skipped = skipped if skipped is not None else {}
    for path, file_format in zip(files, formats):
        if file_format == "text":
            rows = (
                ("", {}, text if isinstance(text, InputDataError) else {"text": text})
                for text in _read_text(path, _KindChecker(kind), limit)
            )
        elif file_format == "jsonl":
            rows = _jsonl_rows(path, fields, weights, missing, limit)
        elif file_format == "csv":
            rows = _csv_rows(path, fields, weights, checker, limit)
        else:
            rows = _parquet_rows(path, fields, weights)
        try:
            for where, location, record in rows:
                try:
                    if isinstance(record, InputDataError):  # a hostile record (see above)
                        raise record
                    if file_format == "text":
                        yield record
                        continue
                    yield checker.check(record, where, location)
                except InputDataError as err:
                    if bad_records == "fail":
                        raise
                    reason = getattr(err, "reason", "bad_value")
                    skipped[reason] = skipped.get(reason, 0) + 1
        except _STREAM_ERRORS as err:
            # A truncated or corrupt compressed file: an error under both policies.
            if isinstance(err, FileNotFoundError):
                raise
            raise unreadable_file(path, err) from None


class _RecordChecker:
    """The checks of ``read_records`` for one record (see there)."""

    def __init__(self, kind, missing, value_shape, weight_fields):
        self.kind = kind
        self.checkers: dict[str, _KindChecker] = {}  # one per field: fields may differ
        self.missing = missing
        self.value_shape = value_shape
        self.weight_fields = set(weight_fields)

    def kinds(self, field: str) -> _KindChecker:
        if field not in self.checkers:
            self.checkers[field] = _KindChecker(self.kind)
        return self.checkers[field]

    def _error(self, where, location, field, value, problem, fix, reason):
        from vocabguard._src.core.values import short

        shown = value if len(repr(value)) <= 60 else short(value)
        error = InputDataError(
            f"{where}: field {field!r} {problem}. {fix} "
            + received(**location, field=field, value=shown),
            cases=[(where, field, short(value))],
            **location,
        )
        error.reason = reason
        return error

    def check(self, record: dict, where: str, location: dict) -> dict:
        from vocabguard._src.core.values import check_weight, is_list

        out = {}
        for field, value in record.items():
            if field in self.weight_fields and field not in out:
                problem = check_weight(value)
                if problem is not None:
                    raise self._error(
                        where,
                        location,
                        field,
                        value,
                        problem.replace("the weight is", "(the weight) is", 1),
                        "Fix the weight, or drop the record (bad_records: skip).",
                        "bad_weight",
                    )
                out[field] = value
                continue
            if value is None:
                if self.missing == "error":
                    raise self._error(
                        where,
                        location,
                        field,
                        None,
                        "is null (or absent), expected a value",
                        "Fill it, drop the record, or accept missing values with --missing "
                        "skip|oov|token (config: missing).",
                        "missing_value",
                    )
            elif is_list(value):
                if self.value_shape == "scalar":
                    raise self._error(
                        where,
                        location,
                        field,
                        value,
                        "is a list, but the feature declares value_shape: scalar",
                        "Give one value per record, or set value_shape: list (or any).",
                        "wrong_shape",
                    )
                value = list(value)
                kinds = set()
                for element in value:
                    if element is None:
                        if self.missing == "error":
                            raise self._error(
                                where,
                                location,
                                field,
                                value,
                                "holds a null element",
                                "Remove it, or accept missing values with --missing "
                                "skip|oov|token.",
                                "missing_value",
                            )
                        continue
                    found = _kind_of(element)
                    if found is None:
                        raise self._error(
                            where,
                            location,
                            field,
                            value,
                            f"holds {_describe(element)}, expected strings or integers",
                            "Fix or drop the record.",
                            "wrong_type",
                        )
                    problem = int_problem(element)
                    if problem is not None:
                        raise self._error(
                            where,
                            location,
                            field,
                            value,
                            f"holds {problem}",
                            "Integer tokens are int64; fix or drop the record.",
                            "integer_out_of_range",
                        )
                    kinds.add(found)
                if len(kinds) > 1:
                    raise self._error(
                        where,
                        location,
                        field,
                        value,
                        "mixes element types in one list (strings and integers)",
                        "Every element must be a string, or every element an integer.",
                        "mixed_types",
                    )
                for element in value:
                    if element is not None:
                        self.kinds(field).check(element, where, field, location)
                        break
            else:
                if self.value_shape == "list":
                    raise self._error(
                        where,
                        location,
                        field,
                        value,
                        f"is {_describe(value)}, but the feature declares value_shape: list",
                        "Wrap it in a list, or set value_shape: scalar (or any).",
                        "wrong_shape",
                    )
                try:
                    self.kinds(field).check(value, where, field, location)
                except InputDataError as err:
                    err.reason = getattr(err, "reason", "wrong_type")
                    raise
            out[field] = value
        return out


def _jsonl_rows(
    path, fields, weights, missing, limit=DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[str, dict, dict | InputDataError]]:
    auto: list[str] | None = None
    wanted = list(fields) + [w for w in weights if w not in fields]
    for number, where, location, record in _json_lines(path, limit):
        if isinstance(record, InputDataError):
            yield where, location, record
            continue
        if not isinstance(record, dict):
            if wanted:
                raise InputDataError(
                    f"{where}: the record is {_describe(record)}, not an object with field "
                    f"{wanted[0]!r}. Expected one JSON object per line; fix the line. "
                    + received(**location, field=wanted[0]),
                    cases=[(path, number)],
                    **location,
                )
            yield where, location, {"value": record}
            continue
        names = wanted or auto
        if names is None:
            if len(record) != 1:
                keys = _keys(record)
                raise InputDataError(
                    f"{where}: the record has {len(record):,} fields ({keys}), so the document "
                    "field is ambiguous. Pass --field with the key holding the text. "
                    + received(**location, field=None),
                    cases=[(path, number)],
                    **location,
                )
            names = auto = [next(iter(record))]
        for name in names:
            if name not in record and (missing == "error" or name in weights):
                if name in weights:
                    continue  # reported as a missing weight
                from vocabguard._src.engines.records import missing_field_detail

                raise InputDataError(
                    f"{where}: {missing_field_detail(name, list(record))}. Every record needs "
                    "the field named by --field; pass the right --field, fix the record, or "
                    "accept missing values with --missing skip|oov|token. "
                    + received(**location, field=name),
                    cases=[(path, number)],
                    **location,
                )
        yield where, location, {name: record.get(name) for name in names}


def _csv_rows(
    path, fields, weights, checker, limit=DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[str, dict, dict | InputDataError]]:
    integers = checker.kind == INTEGER
    with _open(path) as handle:
        header = None
        for item in csv_rows(handle, path, limit):
            if isinstance(item, BadRecord):
                error = item.error(policy_hint=False)
                if item.reason != "too_large" or header is None:
                    raise error
                error.reason = item.reason  # counted under skip
                yield f"{path}, line {item.record}", {"file": path, "line": item.record}, error
                continue
            number, row = item
            if header is None:
                header = row
                wanted = list(fields) or [_pick_column(path, "CSV header", header, None, line=1)]
                wanted += [w for w in weights if w not in wanted]
                columns = [
                    header.index(_pick_column(path, "CSV header", header, f, line=1))
                    for f in wanted
                ]
                continue
            where = f"{path}, line {number}"
            location = {"file": path, "line": number}
            record = {}
            for name, column in zip(wanted, columns):
                value: Any = row[column]
                if name in weights:
                    try:
                        value = float(value) if value.strip() else None
                    except ValueError:
                        pass  # reported by the weight check, with the text
                elif integers and value != "":
                    try:
                        value = int(value)
                    except ValueError:
                        raise InputDataError(
                            f"{where}: column {name!r} is {value!r}, expected an integer (the "
                            "vocabulary holds integer tokens). Fix the row. "
                            + received(**location, field=name, value=value),
                            cases=[(path, number)],
                            **location,
                        ) from None
                record[name] = value
            yield where, location, record


def _parquet_rows(path, fields, weights) -> Iterator[tuple[str, dict, dict]]:

    parquet = _open_parquet(path)
    with parquet:
        names = parquet.schema_arrow.names
        wanted = [_pick_column(path, "Parquet file", names, f) for f in (fields or [None])]
        wanted += [_pick_column(path, "Parquet file", names, w) for w in weights if w not in wanted]
        first = 0
        for batch in _batches(path, parquet, wanted):
            columns, undecodable = {}, {}
            for name in wanted:
                columns[name], problems = column_values(batch.column(name))
                for row, problem in problems.items():
                    undecodable.setdefault(row, (name, problem))
            for offset in range(batch.num_rows):
                record = first + offset + 1
                where, location = f"{path}, record {record}", {"file": path, "record": record}
                if offset in undecodable:  # not UTF-8: a bad record, counted under skip
                    name, problem = undecodable[offset]
                    fix = "Fix or drop the record (bad_records: skip)."
                    error = _bad(
                        where,
                        location,
                        f"field {name!r}: {problem}",
                        fix,
                        "undecodable",
                        field=name,
                    )
                    yield where, location, error
                    continue
                yield where, location, {name: columns[name][offset] for name in wanted}
            first += batch.num_rows


__all__ = [
    "FORMATS",
    "InputNotFoundError",
    "detect_format",
    "expand_inputs",
    "read_documents",
    "read_records",
]
