"""The store's small JSON records (pins, tombstones) and the clocks they are stamped with.

Two clocks: this machine's (``_clock``), for the times records *show*
(``created_utc``, ``pinned_utc``, ``deleted_utc``); and the store's own, an
object's mtime, for every *age* (claims, gc intents, staging directories),
since this machine's clock may run minutes ahead of or behind the server's.

>>> json_bytes({"b": 1, "a": None})
b'{\\n  "a": null,\\n  "b": 1\\n}\\n'
"""

from __future__ import annotations

import datetime
import json

import pyarrow.fs as pafs


def _clock() -> datetime.datetime:
    """This machine's clock (UTC): for the times records show (``created_utc``...)."""
    return datetime.datetime.now(datetime.timezone.utc)


def utc_now() -> str:
    """This machine's time, to the second, as a record shows it (ISO 8601, UTC)."""
    return _clock().isoformat(timespec="seconds")


def older(info: pafs.FileInfo, now: datetime.datetime | None, seconds: float) -> bool:
    """Whether ``info`` was last modified more than ``seconds`` before ``now``, a time read
    from the store's own clock, never this machine's (unknown: no)."""
    mtime = info.mtime
    if mtime is None or now is None:
        return False
    if mtime.tzinfo is None:
        mtime = mtime.replace(tzinfo=datetime.timezone.utc)
    return (now - mtime).total_seconds() > seconds


def json_bytes(record: dict) -> bytes:
    """A record as written to the store: indented, sorted keys, a final newline."""
    return json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
