"""The JSON Lines format: one JSON value per line, read as UTF-8; blank lines skipped.

``json_values`` is the one parser; its views are ``jsonl_records`` (the Beam
jobs: an object per line, bad lines as ``BadRecord``), ``read_jsonl`` (one
document field) and ``jsonl_rows`` (several fields, for ``read_records``).
A record nested past ``MAX_JSON_DEPTH`` is refused before Python's parser
recurses that deep (a bad record, ``too_deep``).

>>> import io
>>> rows = jsonl_records(io.BytesIO(b'{"t": "a b"}\\n{"x": 1}\\n'), "f.jsonl", Wanted(["t"]))
>>> [r if isinstance(r, tuple) else r.reason for r in rows]
[(1, {'t': 'a b'}), 'missing_field']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from vocabguard._src.core.errors import InputDataError, received
from vocabguard._src.engines.formats.common import (
    DEFAULT_MAX_RECORD_BYTES,
    BadRecord,
    Oversized,
    lines,
    skippable_line,
    too_large,
    undecodable,
    undecodable_error,
)
from vocabguard._src.engines.formats.compression import open_input
from vocabguard._src.engines.formats.fields import (
    KindChecker,
    RecordChecker,
    Rows,
    Wanted,
    ambiguous_record,
    missing_field_detail,
    not_an_object,
    pick,
)

MAX_JSON_DEPTH = 100  # nesting of arrays and objects in one JSON record


class _JsonTooDeep(ValueError):
    """Internal: ``parse_json``'s refusal, turned into a bad record by every view."""


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (strings skipped).

    >>> json_depth('{"a": [[1], "[[["]}')
    3
    """
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


class _Problem:
    """A line that holds no JSON value: why, as the exception (or marker) that says it."""

    __slots__ = ("cause", "text")

    def __init__(self, cause: Oversized | UnicodeDecodeError | ValueError, text: str = ""):
        self.cause = cause
        self.text = text


def json_values(
    handle: BinaryIO, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` for each non-blank line: the parsed JSON value, or a ``_Problem``
    (a line over ``limit`` bytes, undecodable bytes, invalid or too deep JSON) that each
    view turns into its bad record or error."""
    for number, raw in lines(handle, limit):
        if isinstance(raw, Oversized):
            yield number, _Problem(raw)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, _Problem(err)
            continue
        if not text.strip():
            continue
        try:
            yield number, parse_json(text)
        except ValueError as err:  # JSONDecodeError, _JsonTooDeep, an int of 4300+ digits
            yield number, _Problem(err, text)


# -- the Beam jobs' view --


def _bad_line(path: str, number: int, problem: _Problem, limit: int) -> BadRecord:
    cause = problem.cause
    if isinstance(cause, Oversized):
        return too_large(path, number, limit)
    if isinstance(cause, UnicodeDecodeError):
        return undecodable(path, number, cause)
    if isinstance(cause, _JsonTooDeep):
        return BadRecord(path, number, None, "too_deep", str(cause))
    return BadRecord(path, number, None, "bad_json", f"invalid JSON ({cause})")


def jsonl_records(
    handle: BinaryIO, path: str, wanted: Wanted
) -> Iterator[tuple[int, dict] | BadRecord]:
    """``iter_records`` for JSON Lines: one object per line, its fields picked and checked."""
    for number, record in json_values(handle, wanted.limit):
        if isinstance(record, _Problem):
            yield _bad_line(path, number, record, wanted.limit)
        elif not isinstance(record, dict):
            yield BadRecord(
                path,
                number,
                None,
                "wrong_type",
                f"expected a JSON object, found {type(record).__name__}",
            )
        else:
            yield pick(path, number, record, wanted)


# -- the in-process builder's view --


def _document_error(path: str, number: int, problem: _Problem, limit: int) -> InputDataError:
    """The error of a line that holds no JSON value; ``reason`` set when skip may count it."""
    where, location = f"{path}, line {number}", {"file": path, "line": number}
    cause = problem.cause
    if isinstance(cause, (Oversized, _JsonTooDeep)):
        return skippable_line(_bad_line(path, number, problem, limit))
    if isinstance(cause, UnicodeDecodeError):
        return undecodable_error(path, number, cause)
    if not isinstance(cause, json.JSONDecodeError):  # an integer of over 4300 digits
        message = f"{where}: invalid JSON ({cause}). Fix or remove the line. " + received(
            **location
        )
    else:
        text = problem.text
        snippet = text if len(text) <= 80 else text[:77] + "..."
        message = (
            f"{where}: invalid JSON ({cause.msg} at column {cause.colno}). Expected one JSON "
            "value per line (JSON Lines). Fix or remove the line. "
            + received(**location, text=snippet)
        )
    return InputDataError(message, cases=[(path, number)], **location)


def document_lines(
    path: str, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[tuple[int, str, dict, Any]]:
    """The JSON value of each non-blank line: ``(line, "path, line N", location, value)``.

    Invalid JSON and undecodable bytes raise ``InputDataError`` naming the file, the
    line and the column. A line over ``limit`` bytes or nested past ``MAX_JSON_DEPTH`` is
    yielded as its ``InputDataError`` in place of the value (``bad_records: skip`` counts
    it).
    """
    with open_input(path) as handle:
        for number, value in json_values(handle, limit):
            where, location = f"{path}, line {number}", {"file": path, "line": number}
            if isinstance(value, _Problem):
                error = _document_error(path, number, value, limit)
                if getattr(error, "reason", None) is None:
                    raise error
                value = error
            yield number, where, location, value


def _missing_field(where: str, location: dict, name: str, record: dict, fix: str):
    return InputDataError(
        f"{where}: {missing_field_detail(name, list(record))}. Every record needs "
        f"the field named by --field; {fix} " + received(**location, field=name),
        cases=[(location["file"], location["line"])],
        **location,
    )


def read_jsonl(
    path: str, field: str | None, checker: KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[str | bytes | int]:
    """The document of each line: ``field`` of an object, the only field of an object
    (without ``field``), or a bare string or integer."""
    auto_field: str | None = None
    for _number, where, location, record in document_lines(path, limit):
        if isinstance(record, InputDataError):
            raise record
        name = field or auto_field
        if isinstance(record, dict):
            if name is None:
                if len(record) != 1:
                    raise ambiguous_record(where, location, record)
                name = auto_field = next(iter(record))
            if name not in record:
                fix = "pass the right --field or fix the record."
                raise _missing_field(where, location, name, record, fix)
            value = record[name]
        elif name is not None:
            raise not_an_object(where, location, record, name)
        else:
            value = record
        checker.check(value, where, name, location)
        yield value


def jsonl_rows(path: str, fields: Sequence[str], checker: RecordChecker, limit: int) -> Rows:
    """``(where, location, {field: value})`` per line for ``read_records`` (unchecked)."""
    auto: list[str] | None = None
    weights, missing = checker.weights, checker.missing
    wanted = list(fields) + [w for w in weights if w not in fields]
    for _number, where, location, record in document_lines(path, limit):
        if isinstance(record, InputDataError):
            yield where, location, record
            continue
        if not isinstance(record, dict):
            if wanted:
                raise not_an_object(where, location, record, wanted[0])
            yield where, location, {"value": record}
            continue
        names = wanted or auto
        if names is None:
            if len(record) != 1:
                raise ambiguous_record(where, location, record)
            names = auto = [next(iter(record))]
        for name in names:
            if name not in record and missing == "error" and name not in weights:
                fix = (
                    "pass the right --field, fix the record, or accept missing values with "
                    "--missing skip|oov|token."
                )
                raise _missing_field(where, location, name, record, fix)
        yield where, location, {name: record.get(name) for name in names}


__all__ = ["MAX_JSON_DEPTH", "json_values", "jsonl_records", "parse_json", "read_jsonl"]
