"""``rooted_filesystem``: a local directory as a ``pyarrow.fs`` filesystem that never
follows a link below its root.

Every operation starts from a handle (file descriptor) of the root and opens each
path component relative to its parent's handle with ``O_NOFOLLOW | O_DIRECTORY``;
the final step is one of the ``*at`` calls (``openat``, ``mkdirat``, ``renameat``,
``unlinkat``, ``fstatat`` without following) on the parent's handle. There is no
check-then-use window: a directory swapped for a link between two operations is
met as a link by the next one, and an operation already holding a handle keeps
working on the real directory, wherever it was moved. A link anywhere below the
root is refused with a ``StoreError`` naming it; nothing outside the root is read,
written or deleted. The root itself may be a link (it is opened like any path).

Reads refuse anything but regular files (a FIFO named ``manifest.json`` would block
``list`` forever), and errors name the path: "permission denied", "no space left
on device".

>>> import tempfile, os
>>> root = tempfile.mkdtemp()
>>> fs = rooted_filesystem(root)
>>> fs.create_dir(f"{root}/a", recursive=True)
>>> with fs.open_output_stream(f"{root}/a/x.txt") as f:
...     _ = f.write(b"hi")
>>> os.symlink("/etc", f"{root}/a/etc")
>>> fs.get_file_info(f"{root}/a/etc/passwd")
Traceback (most recent call last):
...
vocabguard.errors.StoreError: ...a/etc is a symbolic link (to /etc) inside the store ...
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import shutil
import stat
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.fs as pafs

from vocabguard._src.core.errors import StoreError, received

# Directories: opened only to be walked through or listed, never followed if a link.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def rooted_filesystem(root: str, display: str | None = None) -> pafs.FileSystem:
    """A ``pyarrow.fs.FileSystem`` over the local directory ``root`` (absolute paths
    below it) that refuses every link below the root; ``display`` names the store in
    errors."""
    return pafs.PyFileSystem(RootedDirHandler(root, display))


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class _NamedFile(io.FileIO):
    """A file whose write errors (ENOSPC, EIO, EDQUOT) name its path."""

    def __init__(self, fd: int, mode: str, path: str):
        super().__init__(fd, mode, closefd=True)
        self.path = path

    def write(self, data) -> int:
        view, done = memoryview(data).cast("B"), 0
        try:
            while done < len(view):  # a raw write may write less than it was given
                done += os.write(self.fileno(), view[done:])
        except OSError as err:
            raise write_error(err, self.path) from None
        return done

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        chunks, left = [], size
        while left > 0:  # a raw read returns at most about 2 GiB at once
            chunk = super().read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        try:
            super().close()
        except OSError as err:
            raise write_error(err, self.path) from None


def write_error(err: OSError, path: str) -> StoreError:
    """The error of a failed write, naming the path and the cause (ENOSPC, EACCES...)."""
    reason = os.strerror(err.errno).lower() if err.errno else str(err)
    fix = {
        errno.ENOSPC: "Free space on that disk (or move the store), then run the command "
        "again; nothing half-written is left visible.",
        errno.EDQUOT: "Raise the disk quota (or move the store), then run the command again.",
        errno.EACCES: "Give this user write permission there (or pass another --store).",
        errno.EPERM: "Give this user write permission there (or pass another --store).",
        errno.EROFS: "The disk is read-only: pass a writable --store.",
    }.get(err.errno, "Check the disk, then run the command again.")
    return StoreError(
        f"Cannot write {path}: {reason}. {fix} " + received(path=path),
        cases=[path],
        errno=err.errno,
        path=path,
    )


def read_error(err: OSError, path: str) -> OSError | StoreError:
    """The error of a failed read: permission errors say so and name the path; a
    missing file stays ``FileNotFoundError`` (callers tell "absent" from "broken")."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return StoreError(
            f"Cannot read {path}: permission denied. Give this user read permission there "
            "(or pass another --store). " + received(path=path),
            cases=[path],
            errno=err.errno,
            path=path,
        )
    if isinstance(err, FileNotFoundError | NotADirectoryError):
        return FileNotFoundError(errno.ENOENT, "No such file or directory", path)
    return type(err)(err.errno, err.strerror, path)


def lock_held(handle: int) -> bool:
    """Whether another open file holds an exclusive ``flock`` on ``handle``'s file (see
    ``RootedDirHandler.hold``); closes ``handle``."""
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(handle)


class RootedDirHandler(pafs.FileSystemHandler):
    """The ``pyarrow.fs.FileSystemHandler`` of ``rooted_filesystem``.

    Paths are absolute: the root, or the root + ``/`` + components (no ``.``, ``..``
    or empty ones). Anything else is refused.
    """

    def __init__(self, root: str, display: str | None = None):
        self.root = os.path.abspath(root).rstrip("/") or "/"
        self.display = display or self.root

    def __eq__(self, other) -> bool:
        return isinstance(other, RootedDirHandler) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __reduce__(self):
        return (RootedDirHandler, (self.root, self.display))

    # -- walking --

    def _parts(self, path: str) -> list[str]:
        path = str(path).rstrip("/") or "/"
        if path == self.root:
            return []
        prefix = self.root.rstrip("/") + "/"
        parts = path[len(prefix) :].split("/") if path.startswith(prefix) else None
        if parts is None or any(p in ("", ".", "..") for p in parts):
            raise StoreError(
                f"{path} is not a path inside the store's root {self.root}; the store only "
                "reads, writes and deletes inside its root. " + received(path=path),
                cases=[path],
            )
        return parts

    def _join(self, parts: list[str]) -> str:
        return "/".join([self.root.rstrip("/"), *parts]) if parts else self.root

    def link_error(self, parent: int, name: str, path: str) -> StoreError:
        try:
            target = os.readlink(name, dir_fd=parent)
        except OSError:
            target = "?"
        return StoreError(
            f"{path} is a symbolic link (to {target}) inside the store {self.display}. "
            "The store never follows links, so that a publish cannot write, nor gc delete, "
            "files outside it. Replace the link by a real directory or file (or move the "
            "store). " + received(path=path),
            cases=[path],
            path=path,
        )

    def swapped_error(self, path: str) -> StoreError:
        return StoreError(
            f"{path} was not a directory when the store opened it, and is one now: something "
            f"is swapping entries of the store {self.display} (a link swapped in and out?). "
            "The store never follows links; nothing was read or written through it. Stop "
            "whatever swaps them, then run the command again. " + received(path=path),
            cases=[path],
            path=path,
        )

    def _is_dir(self, parent: int, name: str) -> bool:
        try:
            return stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def _is_link(self, parent: int, name: str) -> bool:
        try:
            return stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def _open_root(self, create: bool = False) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not create:
                raise FileNotFoundError(
                    errno.ENOENT, "No such file or directory", self.root
                ) from None
        except OSError as err:
            raise read_error(err, self.root) from None
        os.makedirs(self.root, exist_ok=True)  # only publish creates a store's root
        return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _open_dir(self, parent: int, name: str, path: str, create: bool = False) -> int:
        """A handle of directory ``name`` in ``parent``; a link there is refused."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", path) from None
        except OSError as err:
            # O_NOFOLLOW on a link: ELOOP, or ENOTDIR with O_DIRECTORY on some kernels.
            if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                if self._is_link(parent, name):
                    raise self.link_error(parent, name, path) from None
                if self._is_dir(parent, name):  # a link when opened, a directory now
                    raise self.swapped_error(path) from None
            raise read_error(err, path) from None
        with contextlib.suppress(FileExistsError):
            try:
                os.mkdir(name, dir_fd=parent)
            except OSError as err:
                if isinstance(err, FileExistsError):
                    raise
                raise write_error(err, path) from None
        return self._open_dir(parent, name, path)

    @contextlib.contextmanager
    def _dir(self, parts: list[str], create: bool = False) -> Iterator[int]:
        """A handle of the directory ``parts`` below the root, walked one component at a
        time from the root's handle, never through a link; closed on exit."""
        fd = self._open_root(create)
        try:
            for i, name in enumerate(parts):
                child = self._open_dir(fd, name, self._join(parts[: i + 1]), create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _parent(self, path: str, create: bool = False) -> Iterator[tuple[int, str, str]]:
        """``(handle of the parent directory, last component, full path)`` of ``path``."""
        parts = self._parts(path)
        if not parts:
            raise StoreError(
                f"The store's root {self.root} itself cannot be opened as a file, moved or "
                "deleted. " + received(path=path),
                cases=[path],
            )
        with self._dir(parts[:-1], create) as fd:
            yield fd, parts[-1], self._join(parts)

    # -- information --

    def get_type_name(self) -> str:
        return "vocabguard-rooted"

    def normalize_path(self, path: str) -> str:
        return path

    def _info(self, parent: int, name: str, path: str) -> pafs.FileInfo:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return pafs.FileInfo(path, pafs.FileType.NotFound)
        except OSError as err:
            raise read_error(err, path) from None
        if stat.S_ISLNK(st.st_mode):
            raise self.link_error(parent, name, path)
        if stat.S_ISDIR(st.st_mode):
            kind, size = pafs.FileType.Directory, None
        elif stat.S_ISREG(st.st_mode):
            kind, size = pafs.FileType.File, st.st_size
        else:
            kind, size = pafs.FileType.Unknown, None  # a FIFO, socket or device
        return pafs.FileInfo(path, kind, mtime_ns=st.st_mtime_ns, size=size)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        infos = []
        for path in paths:
            parts = self._parts(path)
            try:
                if not parts:
                    with self._dir([]) as fd:
                        st = os.fstat(fd)
                    infos.append(
                        pafs.FileInfo(path, pafs.FileType.Directory, mtime_ns=st.st_mtime_ns)
                    )
                    continue
                with self._parent(path) as (fd, name, full):
                    infos.append(self._info(fd, name, full))
            except FileNotFoundError:
                infos.append(pafs.FileInfo(path, pafs.FileType.NotFound))
        return infos

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        base = selector.base_dir.rstrip("/") or "/"
        parts = self._parts(base)
        try:
            with self._dir(parts) as fd:
                return self._list(fd, base, selector.recursive)
        except FileNotFoundError:
            if selector.allow_not_found:
                return []
            raise

    def _list(self, fd: int, base: str, recursive: bool) -> list[pafs.FileInfo]:
        infos = []
        try:
            names = sorted(os.listdir(fd))
        except OSError as err:
            raise read_error(err, base) from None
        for name in names:
            info = self._info(fd, name, f"{base}/{name}")
            if info.type == pafs.FileType.NotFound:
                continue  # deleted since the listing
            infos.append(info)
            if recursive and info.type == pafs.FileType.Directory:
                with contextlib.suppress(FileNotFoundError):
                    child = self._open_dir(fd, name, info.path)
                    try:
                        infos.extend(self._list(child, info.path, recursive))
                    finally:
                        os.close(child)
        return infos

    # -- directories --

    def create_dir(self, path: str, recursive: bool) -> None:
        parts = self._parts(path)
        if not parts:
            os.close(self._open_root(create=True))
            return
        with self._dir(parts[:-1], create=recursive) as fd:
            try:
                os.mkdir(parts[-1], dir_fd=fd)
            except FileExistsError:
                # One look (it may be swapped for a link at any moment): a link is refused.
                info = self._info(fd, parts[-1], path)
                if info.type not in (pafs.FileType.Directory, pafs.FileType.NotFound):
                    raise FileExistsError(
                        errno.EEXIST, "Exists and is not a directory", path
                    ) from None
            except OSError as err:
                raise write_error(err, path) from None

    def delete_dir(self, path: str) -> None:
        with self._parent(path) as (fd, name, full):
            if self._is_link(fd, name):
                raise self.link_error(fd, name, full)
            try:
                # With dir_fd, rmtree walks by handles and never follows a link: a link
                # inside is removed itself, its target untouched.
                shutil.rmtree(name, dir_fd=fd)
            except FileNotFoundError:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", full) from None
            except OSError as err:
                raise write_error(err, err.filename or full) from None

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        for info in self.get_file_info_selector(
            pafs.FileSelector(path, allow_not_found=missing_dir_ok)
        ):
            if info.type == pafs.FileType.Directory:
                self.delete_dir(info.path)
            else:
                self.delete_file(info.path)

    def delete_root_dir_contents(self) -> None:
        raise StoreError("The store never deletes everything under its root.")

    # -- files --

    def delete_file(self, path: str) -> None:
        with self._parent(path) as (fd, name, full):
            info = self._info(fd, name, full)  # refuses a link
            if info.type == pafs.FileType.NotFound:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", full)
            if info.type == pafs.FileType.Directory:
                raise IsADirectoryError(errno.EISDIR, "Is a directory", full)
            try:
                os.unlink(name, dir_fd=fd)  # unlinkat never follows a link
            except FileNotFoundError:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", full) from None
            except OSError as err:
                raise write_error(err, full) from None

    def move(self, src: str, dest: str) -> None:
        with self._parent(src) as (src_fd, src_name, src_full):
            if self._is_link(src_fd, src_name):
                raise self.link_error(src_fd, src_name, src_full)
            same = self._parts(src)[:-1] == self._parts(dest)[:-1]
            with contextlib.ExitStack() as stack:
                if same:  # one handle: both names in the very same directory
                    dest_fd, dest_name = src_fd, self._parts(dest)[-1]
                else:
                    dest_fd, dest_name, _ = stack.enter_context(self._parent(dest))
                # renameat replaces a link at dest by src (it never writes through it).
                os.rename(src_name, dest_name, src_dir_fd=src_fd, dst_dir_fd=dest_fd)

    def copy_file(self, src: str, dest: str) -> None:
        with self.open_input_stream(src) as source, self.open_output_stream(dest) as target:
            target.write(source.read())

    def _open_read(self, fd: int, name: str, full: str) -> int:
        """``name`` in the directory ``fd`` opened for reading, never through a link."""
        try:
            return os.open(name, _READ_FLAGS, dir_fd=fd)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise self.link_error(fd, name, full) from None
            raise read_error(err, full) from None

    def _open_file(self, path: str) -> pa.PythonFile:
        handle, full = self._open_fd(path)
        return pa.PythonFile(_NamedFile(handle, "r", full), mode="r")

    def read_buffer(self, path: str, limit: int | None = None) -> pa.Buffer:
        """The bytes of the regular file ``path`` (with ``limit``, at most that many), read
        straight into Arrow-owned memory: one copy, no Python ``bytes`` (a version's 40 MB
        token file is hashed and parsed from this buffer)."""
        handle, full = self._open_fd(path)
        try:
            # No larger than the file (+1 byte to see one that grew): a forged size in a
            # manifest does not allocate terabytes.
            size = os.fstat(handle).st_size + 1
            size = size if limit is None else min(limit, size)
            buffer = pa.allocate_buffer(size)
            view, done = memoryview(buffer), 0
            while done < size:  # a raw read returns at most about 2 GiB at once
                got = os.readv(handle, [view[done:]])
                if not got:
                    break
                done += got
            return buffer.slice(0, done)
        except OSError as err:
            raise read_error(err, full) from None
        finally:
            os.close(handle)

    def read_bytes(self, path: str, limit: int | None = None) -> bytes:
        """The bytes of the regular file ``path`` (with ``limit``, at most that many),
        read into one ``bytes`` object (no intermediate copy), never larger than the file."""
        handle, full = self._open_fd(path)
        try:
            size = os.fstat(handle).st_size + 1
            size = size if limit is None else min(limit, size)
            chunks, left = [], size
            while left > 0:  # a raw read returns at most about 2 GiB at once
                chunk = os.read(handle, left)
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except OSError as err:
            raise read_error(err, full) from None
        finally:
            os.close(handle)

    def _open_fd(self, path: str) -> tuple[int, str]:
        """A blocking read handle of the regular file ``path`` (never through a link),
        and the path as errors name it."""
        with self._parent(path) as (fd, name, full):
            info = self._info(fd, name, full)  # refuses a link
            if info.type == pafs.FileType.NotFound:
                raise FileNotFoundError(errno.ENOENT, "No such file or directory", full)
            if info.type != pafs.FileType.File:  # not even opened: a device may act on open
                raise self._not_regular(os.stat(name, dir_fd=fd, follow_symlinks=False), full)
            handle = self._open_read(fd, name, full)
        st = os.fstat(handle)
        if not stat.S_ISREG(st.st_mode):  # swapped since the look above
            os.close(handle)
            raise self._not_regular(st, full)
        os.set_blocking(handle, True)
        return handle, full

    @staticmethod
    def _not_regular(st: os.stat_result, full: str) -> StoreError:
        return StoreError(
            f"{full} is {_kind(st.st_mode)}, not a regular file; the store reads only regular "
            "files (a FIFO or device would block or never end). Replace it by the real "
            "file or restore the version from a backup. " + received(path=full),
            cases=[full],
            path=full,
        )

    def open_input_stream(self, path: str) -> pa.PythonFile:
        return self._open_file(path)

    def open_input_file(self, path: str) -> pa.PythonFile:
        return self._open_file(path)

    def open_output_stream(self, path: str, metadata=None) -> pa.PythonFile:
        with self._parent(path) as (fd, name, full):
            try:
                handle = os.open(name, _WRITE_FLAGS, 0o666, dir_fd=fd)
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise self.link_error(fd, name, full) from None
                raise write_error(err, full) from None
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            os.close(handle)
            raise StoreError(
                f"{full} is {_kind(mode)}, not a regular file; the store writes only regular "
                "files. Remove it. " + received(path=full),
                cases=[full],
                path=full,
            )
        os.set_blocking(handle, True)
        return pa.PythonFile(_NamedFile(handle, "w", full), mode="w")

    # -- liveness: a lock that dies with its process --

    def hold(self, path: str) -> int:
        """An open handle of the file ``path`` holding an exclusive ``flock``: while it is
        open, ``is_held(path)`` is true. The kernel releases it when the process ends,
        ``kill -9`` included, so a record left by a dead process is told from a live one
        at once, without clocks."""
        with self._parent(path) as (fd, name, full):
            handle = self._open_read(fd, name, full)
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    def is_held(self, path: str) -> bool:
        """Whether a live process holds ``path`` (see ``hold``); False if it is gone."""
        with self._parent(path) as (fd, name, full):
            try:
                handle = os.open(name, _READ_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                return False
            except OSError as err:
                if err.errno == errno.ELOOP:
                    raise self.link_error(fd, name, full) from None
                raise read_error(err, full) from None
        return lock_held(handle)

    def open_append_stream(self, path: str, metadata=None):
        raise StoreError("The store never appends to a file: versions are immutable.")
