"""The compression layer under every input format: a file's bytes, decompressed by suffix.

Every reader (the in-process build, Beam's read, encode and audit) opens its
input through ``decompressed``, so a truncated or corrupt compressed file is an
error on each path alike, naming the file (``unreadable_file``).

>>> compression_of("part-0.csv.gz"), strip_compression("part-0.csv.gz")
('gzip', 'part-0.csv')
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import tempfile
import zlib
from typing import BinaryIO

from vocabguard._src.core.errors import InputDataError, received

# The compressions Beam reads (CompressionTypes.AUTO), by suffix, plus LZ4 frames.
COMPRESSIONS = {
    ".gz": "gzip",
    ".bz2": "bz2",
    ".xz": "lzma",
    ".lzma": "lzma",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".lz4": "lz4",
}

# What a truncated or corrupt compressed stream raises while it is read.
STREAM_ERRORS: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error, lzma.LZMAError)


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
    at the end of what arrived), which the readers turn into an error naming the
    file (``unreadable_file``).
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


def open_input(path: str) -> BinaryIO:
    """The local file ``path`` opened for reading in binary, decompressed by its suffix."""
    return decompressed(open(path, "rb"), path)


def spooled(handle: BinaryIO) -> BinaryIO:
    """A seekable copy of a (decompressed) stream, on disk past 64 MiB: Parquet needs
    to seek, and a small compressed file may hold gigabytes."""
    copy = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    shutil.copyfileobj(handle, copy, 1 << 20)
    copy.seek(0)
    return copy


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


__all__ = [
    "COMPRESSIONS",
    "STREAM_ERRORS",
    "compression_of",
    "decompressed",
    "open_input",
    "spooled",
    "strip_compression",
    "unreadable_file",
]
