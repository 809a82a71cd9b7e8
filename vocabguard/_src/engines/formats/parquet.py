"""The Parquet format: named columns of strings, binary, integers or lists, in batches.

``batches`` is the one way a Parquet file is read (record batches, never the
whole file); strings that are not valid UTF-8 (Parquet does not check when
writing) are found by ``column_values``, never raised by ``to_pylist``. Its views
are ``parquet_records`` (the Beam jobs: ``BadRecord`` per bad record),
``read_parquet`` (one document column) and ``parquet_rows`` (several fields, for
``read_records``); ``batch_records`` turns one batch into checked records (the
in-process job runner uses it for the batches its columnar path cannot take).

>>> import pyarrow as pa
>>> raw = pa.array([b"ok", b"\\xff"]).view(pa.string())
>>> valid_utf8(raw), column_values(raw)[0]
(False, ['ok', None])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vocabguard._src.core.errors import InputDataError, received
from vocabguard._src.core.values import int_problem
from vocabguard._src.engines.formats.common import ArrowRows, BadRecord, as_record_unit, bad
from vocabguard._src.engines.formats.compression import compression_of, open_input, spooled
from vocabguard._src.engines.formats.fields import (
    KindChecker,
    RecordChecker,
    Rows,
    Wanted,
    check_columns,
    pick,
    pick_column,
)

PARQUET_BATCH_SIZE = 8192
# What a Parquet file that cannot be opened or read to its end raises.
_PARQUET_ERRORS = (pa.ArrowException, OSError)


# -- columns --


def _leaf(type_: Any) -> Any:
    while pa.types.is_list(type_) or pa.types.is_large_list(type_):
        type_ = type_.value_type
    return type_


def _with_leaf(type_: Any, leaf: Any) -> Any:
    if pa.types.is_list(type_):
        return pa.list_(_with_leaf(type_.value_type, leaf))
    if pa.types.is_large_list(type_):
        return pa.large_list(_with_leaf(type_.value_type, leaf))
    return leaf


def valid_utf8(column: Any) -> bool:
    """Whether every string of an Arrow column is valid UTF-8 (non-string columns: True)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary  # its values; the indices are numbers
    leaf = _leaf(column.type)
    if not (pa.types.is_string(leaf) or pa.types.is_large_string(leaf)):
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

    >>> raw = pa.array([b"ok", b"\\xff"]).view(pa.string())
    >>> column_values(raw)
    (['ok', None], {1: "bytes b'\\\\xff' at column 1 are not valid UTF-8"})
    """
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


def decoded_rows(batch: Any, names: Sequence[str]) -> Iterator[tuple[int, dict | tuple]]:
    """``(offset, {name: value})`` per row of a record batch, or ``(offset, (name,
    problem))`` for a row holding a string that is not UTF-8."""
    columns, undecodable = {}, {}
    for name in names:
        columns[name], problems = column_values(batch.column(name))
        for row, problem in problems.items():
            undecodable.setdefault(row, (name, problem))
    for offset in range(batch.num_rows):
        if offset in undecodable:
            yield offset, undecodable[offset]
        else:
            yield offset, {name: columns[name][offset] for name in names}


# -- files --


def _detail(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def parquet_file(source: Any, **options: Any) -> Any:
    """``pyarrow.parquet.ParquetFile(source, **options)``: a local path or an open
    seekable binary file. Every reader of Parquet input opens it here; an unreadable
    file raises ``pyarrow.ArrowException`` or ``OSError`` for the caller to name."""
    return pq.ParquetFile(source, **options)


def batches(
    parquet: Any,
    columns: Sequence[str],
    row_groups: Sequence[int] | None = None,
    batch_size: int = PARQUET_BATCH_SIZE,
) -> Iterator[Any]:
    """The record batches of ``columns``; a corrupt data page ends them with the
    exception it raised, yielded (the records before were good; the file is not)."""
    stream = parquet.iter_batches(
        batch_size=batch_size, columns=list(columns), row_groups=row_groups
    )
    while True:
        try:
            batch = next(stream, None)
        except _PARQUET_ERRORS as err:
            yield err
            return
        if batch is None:
            return
        yield batch


def open_parquet(path: str) -> Any:
    """A local ``ParquetFile`` (decompressed first if the file is compressed); an
    unreadable file is one ``InputDataError`` naming it."""
    try:
        if compression_of(path) is not None:
            with open_input(path) as handle:
                return parquet_file(spooled(handle))  # on disk past 64 MiB
        return parquet_file(path)
    except (*_PARQUET_ERRORS, EOFError) as err:
        raise InputDataError(
            f"{path} is not a readable Parquet file ({err}). Check the file, or pass --format "
            "if it is not Parquet. " + received(file=path),
            cases=[path],
            file=path,
        ) from None


def _local_batches(path: str, parquet: Any, columns: Sequence[str]) -> Iterator[Any]:
    for batch in batches(parquet, columns):
        if isinstance(batch, BaseException):
            raise InputDataError(
                f"{path} is not a readable Parquet file ({_detail(batch)}). Check the file. "
                + received(file=path),
                cases=[path],
                file=path,
            ) from None
        yield batch


# -- the Beam jobs' view --


def _unreadable(path: str, err: BaseException) -> BadRecord:
    """A Parquet file that cannot be read: one bad *file* (``unreadable_file``)."""
    detail = f"not a readable Parquet file ({_detail(err)})"
    return BadRecord(path, 0, None, "unreadable_file", detail, "file")


def batch_records(
    path: str, batch: Any, first: int, wanted: Wanted
) -> Iterator[tuple[int, dict] | BadRecord]:
    """The records of one record batch, numbered from ``first + 1``, checked."""
    for offset, row in decoded_rows(batch, batch.schema.names):
        number = first + offset + 1
        if isinstance(row, tuple):  # not UTF-8: a bad record
            yield BadRecord(path, number, row[0], "undecodable", row[1], "record")
        else:
            yield as_record_unit(pick(path, number, row, wanted))


def parquet_records(
    handle: BinaryIO,
    path: str,
    wanted: Wanted,
    row_groups: Sequence[int] | None = None,
    arrow: Callable[[Any], bool] | None = None,
    arrow_rows: int = PARQUET_BATCH_SIZE,
) -> Iterator[tuple[int, dict] | BadRecord | ArrowRows]:
    """``iter_records`` for Parquet; ``row_groups`` reads just those row groups,
    numbering records as in the whole file (how the Beam reader splits a file).
    A batch of ``arrow_rows`` records that ``arrow`` passes is yielded whole
    (``ArrowRows``), without per-record work."""
    if compression_of(path) is not None:
        handle = spooled(handle)  # Parquet needs to seek
    try:
        parquet = parquet_file(handle)
    except _PARQUET_ERRORS as err:
        yield _unreadable(path, err)
        return
    names = parquet.schema_arrow.names
    check_columns(path, path, "Parquet file", names, wanted)
    number = 0
    if row_groups is not None:
        row_groups = sorted(row_groups)
        metadata = parquet.metadata
        number = sum(
            metadata.row_group(g).num_rows for g in range(row_groups[0] if row_groups else 0)
        )
    size = arrow_rows if arrow is not None else PARQUET_BATCH_SIZE
    for batch in batches(parquet, wanted.names, row_groups, size):
        if isinstance(batch, BaseException):
            yield _unreadable(path, batch)
            return
        if arrow is not None and arrow(batch):
            yield ArrowRows(number + 1, batch)
        else:
            yield from batch_records(path, batch, number, wanted)
        number += batch.num_rows


# -- the in-process builder's view --


def _check_column_type(path: str, field: str, column_type: Any) -> None:
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


def _check_batch(path: str, field: str, values: Any, first: int) -> list:
    """The Python values of one batch of the document column; the first null, string
    that is not UTF-8 or integer past int64 raises, naming its record."""
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
    if values.type == pa.uint64() and len(values):
        # uint64 values past 2**63 - 1 are no int64 token (ids would wrap).
        too_big = pc.greater(values, pa.scalar(2**63 - 1, pa.uint64()))
        if pc.any(too_big).as_py():
            row = pc.index(too_big, True).as_py()
            bad_row = row if bad_row is None else min(bad_row, row)
    if bad_row is not None:
        record = first + bad_row + 1
        if bad_row in undecodable:
            detail = f"column {field!r}: {undecodable[bad_row]}"
        else:
            detail = f"column {field!r} is {int_problem(items[bad_row])}"
        raise bad(
            f"{path}, record {record}",
            {"file": path, "record": record},
            detail,
            "Fix or drop the record.",
            "undecodable" if bad_row in undecodable else "integer_out_of_range",
            field=field,
        )
    return items


def read_parquet(path: str, field: str | None, checker: KindChecker) -> Iterator[Any]:
    """The values of the document column (strings, binary or integers), batch by batch."""
    with open_parquet(path) as parquet:
        schema = parquet.schema_arrow
        field = pick_column(path, "Parquet file", schema.names, field)
        _check_column_type(path, field, schema.field(field).type)
        first = 0  # 0-based index of the batch's first record in the file
        for batch in _local_batches(path, parquet, [field]):
            items = _check_batch(path, field, batch.column(0), first)
            if items:
                location = {"file": path, "record": first + 1}
                checker.check(items[0], f"{path}, record {first + 1}", field, location)
            first += len(items)
            yield from items


def parquet_rows(path: str, fields: Sequence[str], checker: RecordChecker) -> Rows:
    """``(where, location, {field: value})`` per record for ``read_records`` (unchecked);
    a string that is not UTF-8 is yielded as its error (``undecodable``)."""
    with open_parquet(path) as parquet:
        names = parquet.schema_arrow.names
        wanted = [pick_column(path, "Parquet file", names, f) for f in (fields or [None])]
        weights = checker.weights
        wanted += [pick_column(path, "Parquet file", names, w) for w in weights if w not in wanted]
        first = 0
        for batch in _local_batches(path, parquet, wanted):
            for offset, row in decoded_rows(batch, wanted):
                record = first + offset + 1
                where, location = f"{path}, record {record}", {"file": path, "record": record}
                if isinstance(row, tuple):  # not UTF-8: a bad record, counted under skip
                    name, problem = row
                    fix = "Fix or drop the record (bad_records: skip)."
                    detail = f"field {name!r}: {problem}"
                    row = bad(where, location, detail, fix, "undecodable", field=name)
                yield where, location, row
            first += batch.num_rows


__all__ = [
    "PARQUET_BATCH_SIZE",
    "ArrowRows",
    "batch_records",
    "batches",
    "column_values",
    "parquet_file",
    "parquet_records",
    "parquet_rows",
    "read_parquet",
    "valid_utf8",
]
