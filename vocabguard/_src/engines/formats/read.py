"""Stream documents and records out of input files, each format by its one reader.

- ``read_documents``: one value per document (a ``str``, ``bytes`` from a
  Parquet binary column, or an ``int``), local files one after another;
- ``read_records``: one checked ``{field: value}`` dict per record, with the
  bad-record policy (the in-process builder);
- ``iter_records``: ``(record number, {field: value})`` or a ``BadRecord`` per
  record of one open file (any filesystem), for the caller's policy (the Beam
  jobs, the in-process job runner).

Nothing is loaded whole: text, JSON Lines and CSV are read line by line,
Parquet in record batches, TFRecord record by record. Formats (``format=None``
picks one from each file's extension, a compression suffix ignored):

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
- ``tfrecord`` (``iter_records`` only): ``tf.train.Example`` records.

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

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import pyarrow as pa

from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.engines.formats.common import (
    DEFAULT_MAX_RECORD_BYTES,
    BadRecord,
    check_max_record_bytes,
    check_policy,
)
from vocabguard._src.engines.formats.compression import (
    STREAM_ERRORS,
    decompressed,
    unreadable_file,
)
from vocabguard._src.engines.formats.csv import csv_dict_rows, csv_records, read_csv
from vocabguard._src.engines.formats.fields import (
    KINDS,
    NO_RULES,
    FieldRules,
    KindChecker,
    RecordChecker,
    Wanted,
)
from vocabguard._src.engines.formats.inputs import RECORD_FORMATS, detect_format, expand_inputs
from vocabguard._src.engines.formats.jsonl import jsonl_records, jsonl_rows, read_jsonl
from vocabguard._src.engines.formats.parquet import (
    PARQUET_BATCH_SIZE,
    ArrowRows,
    parquet_records,
    parquet_rows,
    read_parquet,
)
from vocabguard._src.engines.formats.text import read_text, text_arrays, text_records
from vocabguard._src.engines.formats.tfrecord import tfrecord_records

_RECORD_READERS = {
    "text": text_records,
    "jsonl": jsonl_records,
    "csv": csv_records,
    "tfrecord": tfrecord_records,
}
Value = str | bytes | int
Paths = str | os.PathLike | Iterable[str | os.PathLike]


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise ConfigError(
            f"`kind` must be one of {', '.join(KINDS)} or None. " + received(kind=kind)
        )


def _unreadable(path: str, err: BaseException) -> BaseException:
    """A truncated or corrupt (compressed) file: an error under every policy, since the
    records it did yield may be a fraction of it. A missing file stays itself."""
    return err if isinstance(err, FileNotFoundError) else unreadable_file(path, err)


def read_documents(
    paths_or_globs: Paths,
    format: str | None = None,
    field: str | None = None,
    *,
    kind: str | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Documents:
    """The documents of every input file, in order: iterate for one value at a time.

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

    Returns:
        A ``Documents``: iterating it yields ``str`` (or ``bytes`` for a Parquet
        binary column) or ``int`` values; ``build_vocabulary`` counts text files from
        its ``arrow_batches`` (Arrow arrays of whole blocks of lines), with no Python
        object per line. Nothing is read before it is iterated.

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
    _check_kind(kind)
    return Documents(paths_or_globs, format, field, kind, max_record_bytes)


class Documents:
    """``read_documents``' result: an iterator over the documents, read as it goes (like
    a generator: consumed once).

    ``arrow_batches(size)`` consumes the same documents in batches instead: a text
    file's lines as Arrow string arrays (a block of whole lines each), the other
    formats' values as lists of at most ``size``. ``build_vocabulary`` counts those, so
    a text corpus is tokenized and counted with no Python object per line.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = path.write_text("to be\\nor not\\n", encoding="utf-8")
    >>> [b.to_pylist() for b in read_documents([path]).arrow_batches(100)]
    [['to be', 'or not']]
    """

    def __init__(
        self,
        paths_or_globs: Paths,
        format: str | None,
        field: str | None,
        kind: str | None,
        max_record_bytes: int,
    ):
        self._inputs = paths_or_globs
        self._format = format
        self._field = field
        self._kind = kind
        self._max_record_bytes = max_record_bytes
        self._values: Iterator[Value] | None = None  # set once iteration begins

    def __iter__(self) -> Documents:
        return self

    def __next__(self) -> Value:
        if self._values is None:
            self._values = self._one_by_one()
        return next(self._values)

    def _one_by_one(self) -> Iterator[Value]:
        for item in self._items():
            if isinstance(item, pa.Array):
                yield from item.to_pylist()
            else:
                yield item

    def arrow_batches(self, size: int) -> Iterator[pa.Array | list]:
        """The documents not yet read, as Arrow string arrays (text files) and lists of
        ``size`` values at most (the other formats, and the rest of a file whose
        values were already being iterated one by one), in order."""
        if self._values is not None:
            pending = list(itertools.islice(self._values, size))
            while pending:
                yield pending
                pending = list(itertools.islice(self._values, size))
            return
        self._values = iter(())  # consumed here
        pending = []
        for item in self._items():
            if isinstance(item, pa.Array):
                if pending:
                    yield pending
                    pending = []
                yield item
                continue
            pending.append(item)
            if len(pending) >= size:
                yield pending
                pending = []
        if pending:
            yield pending

    def _items(self) -> Iterator[Value | pa.Array]:
        """Values, and Arrow arrays of whole blocks of text lines."""
        files = expand_inputs(self._inputs)
        formats = [detect_format(path, self._format) for path in files]  # fail before reading
        field = self._field
        if field is not None and all(f == "text" for f in formats):
            raise ConfigError(
                f"--field {field!r} does not apply to text input ({files[0]}): each line is a "
                "document. Remove --field, or pass --format jsonl|csv|parquet. "
                + received(file=files[0], field=field)
            )
        limit = check_max_record_bytes(self._max_record_bytes)
        checker = KindChecker(self._kind)
        for path, file_format in zip(files, formats):
            try:
                if file_format == "text":
                    for text in text_arrays(path, checker, limit):  # `field` is for the others
                        if isinstance(text, InputDataError):
                            raise text
                        yield text
                elif file_format == "jsonl":
                    yield from read_jsonl(path, field, checker, limit)
                elif file_format == "csv":
                    yield from read_csv(path, field, checker, limit)
                else:
                    yield from read_parquet(path, field, checker)
            except STREAM_ERRORS as err:
                raise _unreadable(path, err) from None


def _rows(path: str, file_format: str, fields: list, checker: RecordChecker, limit: int):
    """``(where, location, record or its error)`` of one file for ``read_records``."""
    if file_format == "text":
        return (
            ("", {}, text if isinstance(text, InputDataError) else {"text": text})
            for text in read_text(path, KindChecker(checker.kind), limit)
        )
    if file_format == "jsonl":
        return jsonl_rows(path, fields, checker, limit)
    if file_format == "csv":
        return csv_dict_rows(path, fields, checker, limit)
    return parquet_rows(path, fields, checker)


def read_records(
    paths_or_globs: Paths,
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
    _check_kind(kind)
    check_policy(bad_records)
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
    checker = RecordChecker(kind, missing, value_shape, weights)
    skipped = skipped if skipped is not None else {}
    for path, file_format in zip(files, formats):
        rows = _rows(path, file_format, fields, checker, limit)
        try:
            for where, location, record in rows:
                try:
                    if isinstance(record, InputDataError):  # a hostile record
                        raise record
                    if file_format != "text":
                        record = checker.check(record, where, location)
                    yield record
                except InputDataError as err:
                    if bad_records == "fail":
                        raise
                    reason = getattr(err, "reason", "bad_value")
                    skipped[reason] = skipped.get(reason, 0) + 1
        except STREAM_ERRORS as err:
            raise _unreadable(path, err) from None


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
    arrow_rows: int = PARQUET_BATCH_SIZE,
) -> Iterator[tuple[int, dict] | BadRecord | ArrowRows]:
    """Parse one open binary file into ``(record_number, {field: value})`` or ``BadRecord``.

    ``handle`` is binary (from ``open()``, ``apache_beam.io.filesystems`` or
    ``pyarrow.fs``), decompressed here by ``path``'s suffix. Record numbers are
    1-based lines for text, JSON Lines and CSV (the header is line 1), and 1-based
    record indices for Parquet and TFRecord. ``passthrough`` fields (copied to an
    output, never tokenized, e.g. a float label) are read too and may hold any
    non-null value.

    ``rules`` (``FieldRules``) lets fields hold lists, missing values or weights.
    ``max_record_bytes`` bounds one line (text, JSON Lines, CSV; decompressed) and one
    Parquet value: a larger record is a ``BadRecord`` (``too_large``), never held whole.

    ``row_groups`` (Parquet only) reads just those row groups, numbering records as
    in the whole file: that is how the Beam reader splits a Parquet file.

    ``arrow`` (Parquet and text): a test of one ``pyarrow.RecordBatch`` of up to
    ``arrow_rows`` rows; a batch it passes is yielded whole, as ``ArrowRows``, without
    per-record work (the test stands for the per-record checks: it passes only batches
    every record of which would pass them); the other batches yield records as above.
    Text batches are whole lines of one block (``formats.text.line_blocks``), one
    ``text`` string column.
    """
    passthrough = [f for f in passthrough if f not in fields]
    if format not in RECORD_FORMATS:
        raise InputDataError(
            f"Unknown input format {format!r} for {path}; expected one of "
            f"{', '.join(RECORD_FORMATS)}. " + received(format=format)
        )
    wanted = Wanted(fields, passthrough, rules, check_max_record_bytes(max_record_bytes))
    handle = decompressed(handle, path)
    try:
        if format == "parquet":
            yield from parquet_records(handle, path, wanted, row_groups, arrow, arrow_rows)
        elif format == "text":
            yield from text_records(handle, path, wanted, arrow, arrow_rows)
        else:
            yield from _RECORD_READERS[format](handle, path, wanted)
    except STREAM_ERRORS as err:
        # A truncated or corrupt (compressed) file: an error under both policies,
        # since the records it did yield may be a fraction of it.
        raise unreadable_file(path, err) from None


__all__ = ["Documents", "iter_records", "read_documents", "read_records"]
