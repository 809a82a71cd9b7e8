"""``StoreFiles``: the file operations every room of the store shares.

Existence, listing, whole-file writes (all-or-nothing locally: a temp file renamed
into place), deletes that tolerate a racing gc, small JSON records, and the
store's own clock (an mtime the store gives a probe), against ``self.fs``, a
``pyarrow.fs`` filesystem. ``VocabStore`` is one; its rooms (``store_pins``,
``store_gc``, ``store_claims``, ``journal``) call these through the store, so a
test can replace one on an instance (a write that fails at a chosen point).

>>> import tempfile, pyarrow.fs as pafs
>>> files = StoreFiles()
>>> files.fs, files._atomic_rename = pafs.LocalFileSystem(), True
>>> root = tempfile.mkdtemp()
>>> files._write_atomic(f"{root}/a.json", b'{"ref": "news@v1"}')
>>> files._read_json(f"{root}/a.json"), files._read_json(f"{root}/missing.json")
({'ref': 'news@v1'}, None)
"""

from __future__ import annotations

import contextlib
import datetime
import json
import uuid

import pyarrow.fs as pafs

from vocabguard._src.core.artifact import read_file
from vocabguard._src.core.errors import StoreError
from vocabguard._src.core.rooted_dir import write_error
from vocabguard._src.core.store_names import CLOCK_PREFIX, MAX_RECORD_BYTES, TEMP_INFIX


class StoreFiles:
    """File operations on ``self.fs`` (set by the subclass, with ``_atomic_rename``:
    whether a rename replaces a file atomically there)."""

    fs: pafs.FileSystem
    _atomic_rename: bool

    def _exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def _entries(self, directory: str) -> list[pafs.FileInfo]:
        """The entries directly under ``directory`` (none if it does not exist)."""
        selector = pafs.FileSelector(directory, allow_not_found=True, recursive=False)
        try:
            return self.fs.get_file_info(selector)
        except FileNotFoundError:
            # Despite allow_not_found, Arrow raises when the directory appears while
            # it is being listed (another process publishing the name's first
            # version); it was absent when the listing began, so it was empty.
            return []

    def _write_atomic(self, path: str, data: bytes) -> None:
        """Write a small file all-or-nothing: a temp file renamed into place (locally).

        A failed write (a full disk) removes its temp file: a temp tombstone left in a
        version would make it fail verification.
        """
        if not self._atomic_rename:
            self._write(path, data)  # an object store PUT is already all-or-nothing
            return
        temp = f"{path}{TEMP_INFIX}{uuid.uuid4().hex}"
        try:
            self._write(temp, data)
            self.fs.move(temp, path)  # rename(2) replaces a file atomically
        except BaseException:
            with contextlib.suppress(OSError, StoreError):
                self._delete_file(temp)
            raise

    def _delete_file(self, path: str) -> bool:
        """Delete a file; ``False`` if it was already gone (e.g. another gc took it)."""
        try:
            self.fs.delete_file(path)
            return True
        except FileNotFoundError:
            return False

    def _remove_tree(self, path: str) -> None:
        """Delete a directory tree that another gc may be deleting at the same time."""
        for _ in range(3):
            try:
                self.fs.delete_dir(path)
                return
            except OSError:
                if not self._exists(path):
                    return
        self.fs.delete_dir(path)  # still there: let the real error out

    def _read_json(self, path: str) -> dict | None:
        """A pin or tombstone record; None if absent, ``{}`` if unreadable (still counts)."""
        try:
            raw = read_file(self.fs, path, limit=MAX_RECORD_BYTES)
            record = json.loads(raw) if len(raw) <= MAX_RECORD_BYTES else {}
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def _write(self, path: str, data: bytes) -> None:
        try:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
        except OSError as err:  # object stores (local writes already name the path)
            raise write_error(err, path) from None

    def _server_now(self, directory: str) -> datetime.datetime:
        """The store's own clock: the mtime it gives a probe file written in ``directory``.

        Ages of claims, intents and staging directories are measured against this, never
        against this machine's clock, which may run ahead or behind the server's.
        """
        probe = f"{directory}/{CLOCK_PREFIX}{uuid.uuid4().hex}"
        self.fs.create_dir(directory, recursive=True)
        self._write(probe, b"")
        try:
            return self._mtime(probe)
        finally:
            self._delete_file(probe)

    def _mtime(self, path: str) -> datetime.datetime | None:
        """When the store says ``path`` was last written (its clock); None if unknown."""
        mtime = self.fs.get_file_info(path).mtime
        if mtime is not None and mtime.tzinfo is None:
            mtime = mtime.replace(tzinfo=datetime.timezone.utc)
        return mtime
