"""New output files and directories: never overwritten, never half-written.

Every command that writes an output (an encoded Parquet file, an export or
report directory) refuses an existing one and writes to a hidden staging path
beside it, renamed into place at the end, so a failure leaves nothing behind.

>>> import os, tempfile
>>> out = os.path.join(tempfile.mkdtemp(), "report")
>>> with new_directory(out) as staging:
...     _ = open(os.path.join(staging, "a.txt"), "w").write("x")
>>> sorted(os.listdir(out))
['a.txt']
>>> with new_directory(out) as staging:
...     pass
Traceback (most recent call last):
...
vocabguard.errors.OutputExistsError: Output directory ... already exists; vocabguard never overwrites outputs. ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator

from vocabguard._src.core.errors import OutputExistsError, received


def refuse_existing(path: str, what: str | None = None) -> None:
    """Raise ``OutputExistsError`` for ``path`` (``what``: how to name it)."""
    what = what or ("Output directory" if os.path.isdir(path) else "Output")
    raise OutputExistsError(
        f"{what} {path} already exists; vocabguard never overwrites outputs. Choose a new "
        "path, or delete the old one first. " + received(output=path),
        cases=[path],
    )


def staging_path(directory: str, base: str) -> str:
    """A fresh hidden path next to the output, so the final rename stays on one filesystem."""
    return os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp")


def check_new_directory(output: str) -> None:
    """Refuse ``output`` unless it is missing or an empty directory."""
    if os.path.lexists(output) and not (os.path.isdir(output) and not os.listdir(output)):
        refuse_existing(output)


@contextlib.contextmanager
def new_directory(output: str | os.PathLike) -> Iterator[str]:
    """Yield a staging directory; on success it becomes ``output`` (new or empty) at once.

    On an error inside the block, the staging directory is deleted and ``output``
    is left as it was.
    """
    output = os.fspath(output)
    check_new_directory(output)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    staging = staging_path(parent, os.path.basename(output))
    os.mkdir(staging)  # umask applies, unlike tempfile.mkdtemp's 0o700
    try:
        yield staging
        if os.path.isdir(output):
            os.rmdir(output)  # empty (checked above); fails if something appeared since
        try:
            os.rename(staging, output)
        except OSError:
            if os.path.lexists(output):
                refuse_existing(output, "Output directory")
            raise
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
