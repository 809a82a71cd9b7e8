"""The text format: each line is one document, read as UTF-8, field ``text``.

Only the line ending (``\\n`` or ``\\r\\n``) is removed, and a leading UTF-8 BOM.

>>> import io
>>> list(text_records(io.BytesIO(b"to be\\nor not\\n"), "a.txt", Wanted(["text"])))
[(1, {'text': 'to be'}), (2, {'text': 'or not'})]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from vocabguard._src.core.errors import InputDataError, received
from vocabguard._src.engines.formats.common import (
    DEFAULT_MAX_RECORD_BYTES,
    BadRecord,
    Oversized,
    decode,
    decode_or_raise,
    lines,
    skippable_line,
    too_large,
)
from vocabguard._src.engines.formats.compression import open_input
from vocabguard._src.engines.formats.fields import KindChecker, Wanted

TEXT_FIELD = "text"


def text_records(
    handle: BinaryIO, path: str, wanted: Wanted
) -> Iterator[tuple[int, dict] | BadRecord]:
    """``iter_records`` for text: ``(line, {"text": line})`` or a ``BadRecord``."""
    if wanted.names != [TEXT_FIELD]:
        raise InputDataError(
            f"{path} is a text file: each line is one document, read as field 'text'. "
            f"Use field 'text' (or a jsonl/csv/parquet input for other fields). "
            + received(fields=wanted.names)
        )
    for number, raw in lines(handle, wanted.limit):
        if isinstance(raw, Oversized):
            yield too_large(path, number, wanted.limit)
            continue
        text = decode(path, number, raw)
        yield text if isinstance(text, BadRecord) else (number, {TEXT_FIELD: text})


def read_text(
    path: str, checker: KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[str | InputDataError]:
    """The lines of a local text file; an over-long line is yielded as its error
    (raised by ``read_documents``, counted by ``read_records`` under skip)."""
    first = True
    with open_input(path) as handle:
        for number, raw in lines(handle, limit):
            if isinstance(raw, Oversized):
                yield skippable_line(too_large(path, number, limit))
                continue
            text = decode_or_raise(path, number, raw)
            if first:
                checker.check(text, f"{path}, line {number}", None, {"file": path, "line": number})
                first = False
            yield text


__all__ = ["TEXT_FIELD", "read_text", "text_records"]
