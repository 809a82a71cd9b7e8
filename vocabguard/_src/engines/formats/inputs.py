"""Input paths and their formats: globs to files, a file's format from its extension.

>>> detect_format("corpus/part-0.jsonl"), detect_format("notes.md", "text")
('jsonl', 'text')
>>> format_for("gs://b/part-00001.tfrecord.gz")
'tfrecord'
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from vocabguard._src.core.errors import (
    ConfigError,
    InputDataError,
    InputNotFoundError,
    received,
)
from vocabguard._src.engines.formats.compression import COMPRESSIONS, strip_compression

# The formats of the in-process readers (``read_documents``, ``read_records``).
FORMATS = ("text", "jsonl", "csv", "parquet")
# Every format ``iter_records`` (the Beam jobs) reads.
RECORD_FORMATS = (*FORMATS, "tfrecord")
EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
RECORD_EXTENSIONS = {**EXTENSIONS, ".tfrecord": "tfrecord", ".tfrecords": "tfrecord"}


def _matches(pattern: str) -> list[str]:
    """The files one input pattern names (see ``expand_inputs``)."""
    if os.path.isfile(pattern):
        return [pattern]
    if glob.has_magic(pattern):
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matches:
            raise InputNotFoundError(
                f"Input {pattern!r} matches no files. Expected a file path or a glob such "
                "as 'data/*.txt' that matches at least one file; check the path (globs are "
                "relative to the current directory). " + received(input=pattern),
                cases=[pattern],
            )
        return matches
    if os.path.isdir(pattern):
        raise InputDataError(
            f"Input {pattern!r} is a directory. Expected a file or a glob; pass "
            f"'{os.path.join(pattern, '*')}' to read every file in it. " + received(input=pattern),
            cases=[pattern],
        )
    raise InputNotFoundError(
        f"Input file {pattern!r} does not exist. Expected an existing file or a glob; "
        "check the path. " + received(input=pattern),
        cases=[pattern],
    )


def expand_inputs(patterns: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Resolve input paths and globs to a list of files.

    A pattern that names an existing file is used as is (even if it contains
    glob characters); otherwise a pattern with ``*``, ``?`` or ``[`` is expanded
    (``**`` recurses) and its matches are sorted. Files matched twice are read
    once, in the order first matched.

    >>> expand_inputs(["/no/such/dir/*.txt"])
    Traceback (most recent call last):
    ...
    vocabguard.errors.InputNotFoundError: Input '/no/such/dir/*.txt' matches no files. Expected a file path or a glob such as 'data/*.txt' that matches at least one file; check the path (globs are relative to the current directory). Received: input='/no/such/dir/*.txt'

    Raises:
        InputNotFoundError: a pattern matches no file, or a path does not exist.
        InputDataError: a path is a directory.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files: list[str] = []
    seen: set[str] = set()
    for raw in patterns:
        for match in _matches(os.path.expanduser(os.fspath(raw))):
            key = os.path.abspath(match)
            if key not in seen:
                seen.add(key)
                files.append(match)
    return files


def detect_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The in-process input format of ``path``: ``format`` if given, else from the file
    extension (a compression suffix such as ``.gz`` ignored).

    >>> detect_format("corpus/part-0.jsonl.gz")
    'jsonl'
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


def format_for(path: str, format: str | None = None) -> str:
    """The Beam jobs' input format: ``format`` if given, else from the extension (a
    compression suffix ignored; a sharded ``.tfrecord-00001`` is TFRecord)."""
    if format:
        return format
    name = strip_compression(path)
    for extension, found in RECORD_EXTENSIONS.items():
        if name.endswith(extension) or (".tfrecord" in extension and f"{extension}-" in name):
            return found
    raise ConfigError(
        f"Cannot tell the format of {path} from its extension; set the input format "
        f"(one of text, jsonl, csv, parquet, tfrecord). " + received(path=path)
    )


__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "RECORD_EXTENSIONS",
    "RECORD_FORMATS",
    "detect_format",
    "expand_inputs",
    "format_for",
]
