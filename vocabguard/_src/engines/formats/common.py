"""What every input format shares: bad records and their policies, bounds, lines.

A reader yields a ``BadRecord`` for a record it cannot use (naming the file,
the record and the field); the caller applies one of ``BAD_RECORD_POLICIES``:
``fail`` raises ``BadRecord.error()``, ``skip`` drops and counts it by reason.

Bounds on one record, so a small hostile file cannot take the host's memory (a
4 MB .gz can hold one 4 GiB line): a line past ``max_record_bytes`` is one
``Oversized`` (a ``too_large`` bad record), read past in pieces, never held.

>>> import io
>>> list(lines(io.BytesIO(b"\\xef\\xbb\\xbfa\\r\\nb\\n"), 10))
[(1, b'a'), (2, b'b')]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from vocabguard._src.core.errors import ConfigError, InputDataError, received

BAD_RECORD_POLICIES = ("fail", "skip")
DEFAULT_MAX_RECORD_BYTES = 64 << 20  # decompressed bytes of one line (CSV: one field)
_BOM = b"\xef\xbb\xbf"


def check_policy(bad_records: Any) -> str:
    """``bad_records`` as a policy, or a ``ConfigError``.

    >>> check_policy("skip")
    'skip'
    """
    if bad_records not in BAD_RECORD_POLICIES:
        raise ConfigError(
            "`bad_records` must be 'fail' (stop, naming the file and record) or 'skip' (drop "
            "and count). " + received(bad_records=bad_records)
        )
    return bad_records


def check_max_record_bytes(value: Any) -> int:
    """``value`` as the record size bound, or a ``ConfigError``."""
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


def as_record_unit(item: Any) -> Any:
    """``item`` with a ``BadRecord`` counted in records (Parquet, TFRecord), not lines."""
    return dataclasses.replace(item, unit="record") if isinstance(item, BadRecord) else item


def bad(where: str, location: dict, detail: str, fix: str, reason: str, **extra) -> InputDataError:
    """A bad record as the error ``read_records(bad_records="skip")`` counts under ``reason``."""
    error = InputDataError(
        f"{where}: {detail}. {fix} " + received(**location, **extra),
        cases=[(where, reason)],
        **location,
    )
    error.reason = reason
    return error


# -- lines (text, JSON Lines, CSV) --


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


def lines(
    handle: BinaryIO, limit: int = DEFAULT_MAX_RECORD_BYTES, start: int = 1
) -> Iterator[tuple[int, bytes | Oversized]]:
    """``(line number, raw line)`` with exactly one line ending removed (``\\n`` or
    ``\\r\\n``; a lone ``\\r`` stays) and a leading UTF-8 BOM dropped. A line over
    ``limit`` bytes is an ``Oversized``, never read whole. ``start``: the number of the
    handle's first line (a BOM is only dropped from line 1 of a file)."""
    for number, raw in enumerate(bounded_lines(handle, limit), start=start):
        if isinstance(raw, Oversized):
            yield number, raw
            continue
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        yield number, raw


@dataclasses.dataclass(frozen=True)
class ArrowRows:
    """Consecutive records as one Arrow batch (``iter_records(arrow=...)``): Parquet
    record batches, and blocks of text lines (one ``text`` column)."""

    first: int  # the 1-based number of the batch's first record
    batch: Any  # pyarrow.RecordBatch


def too_large(path: str, number: int, limit: int) -> BadRecord:
    """A line over ``max_record_bytes``, as a bad record."""
    return BadRecord(path, number, None, "too_large", too_large_detail(limit))


def skippable_line(record: BadRecord) -> InputDataError:
    """A bad line (too large, too deep) as the error ``read_records`` counts under skip."""
    return bad(
        f"{record.path}, line {record.record}",
        {"file": record.path, "line": record.record},
        record.detail,
        "Fix the line, or drop it (bad_records: skip).",
        record.reason,
    )


def undecodable(path: str, number: int, err: UnicodeDecodeError) -> BadRecord:
    """A line that is not UTF-8, as a bad record naming its bytes."""
    wrong = err.object[err.start : err.end]
    return BadRecord(
        path,
        number,
        None,
        "undecodable",
        f"bytes {wrong!r} at column {err.start + 1} are not valid UTF-8 "
        "(re-encode the file as UTF-8)",
    )


def undecodable_error(path: str, number: int, err: UnicodeDecodeError) -> InputDataError:
    """A line that is not UTF-8, as an error with the fix (always raised)."""
    wrong = err.object[err.start : err.end]
    return InputDataError(
        f"{path}, line {number}: bytes {wrong!r} at byte {err.start + 1} of the line are "
        "not valid UTF-8. Input files are read as UTF-8; re-encode the file, e.g. "
        f"`iconv -f latin1 -t utf-8 {path} > fixed{os.path.splitext(path)[1]}`. "
        + received(file=path, line=number),
        cases=[(path, number)],
        file=path,
        line=number,
    )


def decode(path: str, number: int, raw: bytes) -> str | BadRecord:
    """``raw`` as UTF-8 text, or the bad record (``undecodable``) naming its bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return undecodable(path, number, err)


def decode_or_raise(path: str, number: int, raw: bytes) -> str:
    """``raw`` as UTF-8 text; undecodable bytes raise ``InputDataError`` with the fix."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise undecodable_error(path, number, err) from None


__all__ = [
    "BAD_RECORD_POLICIES",
    "DEFAULT_MAX_RECORD_BYTES",
    "ArrowRows",
    "BadRecord",
    "Oversized",
    "bounded_lines",
    "check_max_record_bytes",
    "check_policy",
    "lines",
    "too_large_detail",
]
