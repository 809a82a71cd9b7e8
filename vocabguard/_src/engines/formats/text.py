"""The text format: each line is one document, read as UTF-8, field ``text``.

Only the line ending (``\\n`` or ``\\r\\n``) is removed, and a leading UTF-8 BOM.

Lines are read a block at a time (``line_blocks``): a block of whole lines is split,
checked (UTF-8, ``max_record_bytes``) and kept as one Arrow string array, with no
Python object per line; a block that holds a ``\\r``, a line over the bound or bytes
that are not UTF-8 is read line by line instead, so every such line is reported
exactly as before (its file and line number).

>>> import io
>>> list(text_records(io.BytesIO(b"to be\\nor not\\n"), "a.txt", Wanted(["text"])))
[(1, {'text': 'to be'}), (2, {'text': 'or not'})]
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.errors import InputDataError, received
from vocabguard._src.engines.formats.common import (
    _BOM,
    DEFAULT_MAX_RECORD_BYTES,
    ArrowRows,
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
# Bytes read at a time: large enough that per-block costs (an Arrow split, a count)
# are small, small enough that a block and its tokens stay far under the memory goals.
BLOCK_BYTES = 16 << 20


@dataclasses.dataclass(frozen=True)
class LineBlock:
    """Consecutive lines of a text file as one Arrow string array (line endings removed)."""

    first: int  # the 1-based number of its first line
    lines: pa.Array  # pa.string(), no nulls


class _Prefixed(io.RawIOBase):
    """``prefix``, then the rest of ``handle``: the bytes a block reader has read ahead,
    given back to a line-by-line reader."""

    def __init__(self, prefix: bytes, handle: BinaryIO):
        self._prefix = memoryview(prefix)
        self._handle = handle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if len(self._prefix):
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def line_blocks(
    handle: BinaryIO, limit: int = DEFAULT_MAX_RECORD_BYTES, block_bytes: int | None = None
) -> Iterator[LineBlock | tuple[int, bytes | Oversized]]:
    """The lines of a binary text file, read ``block_bytes`` (default ``BLOCK_BYTES``) at
    a time: ``LineBlock``s of whole lines, or, for a block Arrow cannot take as it is,
    that block's ``(line number, raw line)`` pairs from ``common.lines`` (a line over
    ``limit`` there is an ``Oversized``).

    A line longer than ``limit`` plus a block is never held: from there on the file is
    read line by line (``common.bounded_lines`` reads past it in pieces).

    >>> blocks = list(line_blocks(io.BytesIO(b"\\xef\\xbb\\xbfa b\\n\\nc"), 10))
    >>> [(b.first, b.lines.to_pylist()) for b in blocks]
    [(1, ['a b', '']), (3, ['c'])]
    >>> list(line_blocks(io.BytesIO(b"a\\r\\nb\\xff\\n"), 10))
    [(1, b'a'), (2, b'b\\xff')]
    """
    block_bytes = block_bytes or BLOCK_BYTES
    number = 0  # lines yielded so far
    carry = b""
    while True:
        chunk = handle.read(block_bytes)
        data = carry + chunk if carry else chunk
        if not chunk:
            if data:  # the last line, without a line ending
                yield from _block(data, number + 1, limit)
            return
        cut = data.rfind(b"\n") + 1
        if not cut:
            if len(data) > limit + 2:  # no line ending within the bound: too large
                rest = io.BufferedReader(_Prefixed(data, handle), 1 << 20)
                yield from lines(rest, limit, start=number + 1)
                return
            carry = data
            continue
        block, carry = data[:cut], data[cut:]
        for item in _block(block, number + 1, limit):
            number += len(item.lines) if isinstance(item, LineBlock) else 1
            yield item


def _block(data: bytes, first: int, limit: int) -> Iterator[LineBlock | tuple]:
    """One block of whole lines (the last may lack its line ending) as a ``LineBlock``,
    or line by line when it holds a ``\\r``, a line over ``limit`` or invalid UTF-8."""
    body = data[len(_BOM) :] if first == 1 and data.startswith(_BOM) else data
    if b"\r" not in body:
        # One binary value over the block's bytes (no copy), split on "\n" in C.
        whole = pa.Array.from_buffers(
            pa.binary(),
            1,
            [None, pa.py_buffer(np.array([0, len(body)], dtype=np.int32)), pa.py_buffer(body)],
        )
        pieces = pc.split_pattern(whole, "\n").flatten()
        if body.endswith(b"\n"):
            pieces = pieces.slice(0, len(pieces) - 1)  # the empty piece after the last "\n"
        offsets = np.frombuffer(pieces.buffers()[1], dtype=np.int32)
        lengths = np.diff(offsets[pieces.offset : pieces.offset + len(pieces) + 1])
        if len(body) < len(data):
            lengths[0] += len(_BOM)  # the bound counts a line's bytes as read, BOM included
        if len(pieces) and int(lengths.max()) <= limit:
            try:
                yield LineBlock(first, pieces.cast(pa.string()))  # validates UTF-8
                return
            except pa.ArrowInvalid:
                pass  # read line by line below: each bad line is named
    yield from lines(io.BytesIO(data), limit, start=first)


def text_records(
    handle: BinaryIO,
    path: str,
    wanted: Wanted,
    arrow: Callable[[Any], bool] | None = None,
    arrow_rows: int = 1 << 16,
) -> Iterator[tuple[int, dict] | BadRecord | ArrowRows]:
    """``iter_records`` for text: ``(line, {"text": line})`` or a ``BadRecord``; with
    ``arrow``, up to ``arrow_rows`` lines of a block at a time as ``ArrowRows`` (one
    ``text`` column) when ``arrow`` passes them."""
    if wanted.names != [TEXT_FIELD]:
        raise InputDataError(
            f"{path} is a text file: each line is one document, read as field 'text'. "
            f"Use field 'text' (or a jsonl/csv/parquet input for other fields). "
            + received(fields=wanted.names)
        )
    for item in line_blocks(handle, wanted.limit):
        if isinstance(item, LineBlock):
            # Equal parts of at most arrow_rows lines (no small remainder batch).
            parts = max(1, -(-len(item.lines) // arrow_rows))
            size = max(1, -(-len(item.lines) // parts))
            for start in range(0, len(item.lines), size if arrow is not None else 1 << 30):
                part = item.lines.slice(start, size) if arrow is not None else item.lines
                batch = pa.record_batch({TEXT_FIELD: part}) if arrow is not None else None
                if batch is not None and arrow(batch):
                    yield ArrowRows(item.first + start, batch)
                    continue
                for offset, text in enumerate(part.to_pylist()):
                    yield (item.first + start + offset, {TEXT_FIELD: text})
            continue
        number, raw = item
        if isinstance(raw, Oversized):
            yield too_large(path, number, wanted.limit)
            continue
        text = decode(path, number, raw)
        yield text if isinstance(text, BadRecord) else (number, {TEXT_FIELD: text})


def text_arrays(
    path: str, checker: KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[pa.Array | str | InputDataError]:
    """The lines of a local text file: Arrow string arrays of whole blocks, or single
    ``str`` lines where a block is read line by line; an over-long line is yielded as
    its error (raised by ``read_documents``, counted by ``read_records`` under skip)."""
    first = True
    with open_input(path) as handle:
        for item in line_blocks(handle, limit):
            if isinstance(item, LineBlock):
                if first and len(item.lines):
                    where = f"{path}, line {item.first}"
                    text = item.lines[0].as_py()
                    checker.check(text, where, None, {"file": path, "line": item.first})
                    first = False
                yield item.lines
                continue
            number, raw = item
            if isinstance(raw, Oversized):
                yield skippable_line(too_large(path, number, limit))
                continue
            text = decode_or_raise(path, number, raw)
            if first:
                checker.check(text, f"{path}, line {number}", None, {"file": path, "line": number})
                first = False
            yield text


def read_text(
    path: str, checker: KindChecker, limit: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[str | InputDataError]:
    """The lines of a local text file; an over-long line is yielded as its error
    (raised by ``read_documents``, counted by ``read_records`` under skip)."""
    for item in text_arrays(path, checker, limit):
        if isinstance(item, pa.Array):
            yield from item.to_pylist()
        else:
            yield item


__all__ = ["BLOCK_BYTES", "TEXT_FIELD", "LineBlock", "line_blocks", "read_text", "text_records"]
