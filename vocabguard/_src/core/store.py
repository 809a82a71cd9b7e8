"""``VocabStore``: named, immutable, versioned vocabularies under one root.

Layout: ``<root>/<name>/v<N>/{manifest.json, tokens.parquet, vocab.txt}``. A
version is visible only once its manifest exists, and it is never modified.
Root is a local path or any URI ``pyarrow.fs`` understands (``gs://``, ``s3://``,
``hdfs://``); all IO goes through ``pyarrow.fs``. A local root is served by
``rooted_dir``: every path below it is opened from a handle of the root, never
through a link, so nothing outside the root is read, written or deleted.

Pins sit beside the versions, never inside them: ``<name>/.pins/v<N>.json``
(``pin``: gc keeps the version). ``gc`` empties a version's directory but leaves
``v<N>/deleted.json`` in it, a tombstone: the number is never reused (a late
publisher's rename into a non-empty directory fails) and ``name@vN`` says it
was collected.

References: ``name`` or ``name@latest`` (newest), ``name@v3``, ``name@<8+ hex>``
(a fingerprint prefix).

>>> import tempfile
>>> from vocabguard import VocabSpec, build_vocabulary
>>> store = VocabStore(tempfile.mkdtemp())
>>> v1 = store.publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "demo")
>>> v1.ref, store.load("demo@latest").fingerprint == v1.fingerprint
('demo@v1', True)
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import errno
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from vocabguard._src.core.artifact import (
    MANIFEST,
    TOKENS,
    VERSION_FILES,
    VOCAB_TXT,
    build_manifest,
    check_identity,
    dump_manifest,
    load_version,
    parse_manifest,
    read_file,
    read_manifest,
    render_files,
)
from vocabguard._src.core.errors import (
    ArtifactError,
    ConfigError,
    InvalidNameError,
    StoreError,
    VersionNotFoundError,
    received,
)
from vocabguard._src.core.rooted_dir import RootedDirHandler, rooted_filesystem, write_error
from vocabguard._src.core.vocabulary import Vocabulary

# \Z, not $: `$` also matches before a trailing newline, so "name\n" would pass.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
# At most 18 digits: every number fits an int64 and a directory name.
VERSION_RE = re.compile(r"^v([1-9][0-9]{0,17})\Z")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{8,64}\Z")
DEFAULT_STORE = "./vocab_store"
STAGING_PREFIX = ".staging-"
MAX_PUBLISH_ATTEMPTS = 1000
# Housekeeping under <root>/<name>/, beside the immutable version directories:
PINS_DIR = ".pins"  # v<N>.json: a pinned version (gc keeps it)
TOMBSTONE = "deleted.json"  # v<N>/deleted.json: all that gc leaves of a version
GC_DIR = ".gc"  # v<N>-<uuid>: a gc announcing it is deleting v<N> (see pin())
CLAIM_PREFIX = ".claim-"  # object stores: a publisher claiming v<N> (see _publish_in_place)
CLOCK_PREFIX = ".clock-"  # a probe written to read the store's clock (see _server_now)
RECORD_RE = re.compile(r"^v([1-9][0-9]{0,17})\.json\Z")
STALE_SECONDS = 3600  # staging dirs and gc intents untouched this long are leftovers
MAX_READ_ATTEMPTS = 20
TWIN_WAIT_SECONDS = 60.0
# Pin records and tombstones are a few hundred bytes; one larger is not vocabguard's.
MAX_RECORD_BYTES = 1 << 20
TEMP_INFIX = ".tmp-"  # <file>.tmp-<uuid>: a small record being written (see _write_atomic)


def validate_name(name: str) -> str:
    """Check a vocabulary name: letters, digits, ``_ . -``; no path separators, no ``..``."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise InvalidNameError(
            "A vocabulary name must start with a letter or digit and hold only letters, digits, "
            "'_', '.' and '-' (at most 128 characters, no '..'), so it cannot leave the store's "
            "root. " + received(name=name),
            cases=[name],
        )
    return name


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``name`` plus one of latest / a version / a fingerprint prefix."""

    name: str
    version: int | None = None
    fingerprint_prefix: str | None = None

    @classmethod
    def parse(cls, ref: str) -> Ref:
        """Parse ``name``, ``name@latest``, ``name@v3`` or ``name@<hex prefix>``.

        >>> Ref.parse("news@v3"), Ref.parse("news").version
        (Ref(name='news', version=3, fingerprint_prefix=None), None)
        """
        name, _, selector = str(ref).partition("@")
        validate_name(name)
        if selector in ("", "latest"):
            return cls(name)
        if match := VERSION_RE.match(selector):
            return cls(name, version=int(match.group(1)))
        if FINGERPRINT_RE.match(selector):
            return cls(name, fingerprint_prefix=selector)
        if re.match(r"^v[1-9][0-9]{18,}\Z", selector):
            raise InvalidNameError(
                f"Version numbers have at most 18 digits, so reference "
                f"{ref[:60]!r}{'...' if len(ref) > 60 else ''} names no version. Use "
                f"'{name}@v3' or '{name}@latest'. " + received(version_digits=len(selector) - 1),
                cases=[ref],
            )
        raise InvalidNameError(
            f"Cannot read the version part of reference {ref!r}: expected '{name}@latest', "
            f"'{name}@v3' or '{name}@' followed by 8 or more hex digits of a fingerprint. "
            + received(ref=ref),
            cases=[ref],
        )


class VocabStore:
    """A directory (or bucket) of named, versioned, immutable vocabularies.

    Args:
        root: a local path or a URI (``gs://bucket/vocab``). Default ``./vocab_store``.
        filesystem: a ``pyarrow.fs.FileSystem`` to use with ``root`` as a path in it
            (e.g. an ``S3FileSystem`` with explicit credentials).
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        *,
        filesystem: pafs.FileSystem | None = None,
    ):
        root = os.fspath(root) if root is not None else DEFAULT_STORE
        if filesystem is not None and type(filesystem) is not pafs.LocalFileSystem:
            # Used as given (a LocalFileSystem subclass too: the caller's own rules).
            self.fs, path = filesystem, root
        elif "://" in root:
            self.fs, path = pafs.FileSystem.from_uri(root)
        else:
            path = os.path.abspath(root)
            # Every path below the root is opened from a handle of the root, never
            # through a link, with no check-then-use window (see rooted_dir).
            self.fs = rooted_filesystem(path, display=root)
        self.root = root
        self._base = path.rstrip("/") or "/"
        self._local = isinstance(self.fs, pafs.PyFileSystem) and isinstance(
            self.fs.handler, RootedDirHandler
        )
        # Atomic directory rename (POSIX) makes publishing all-or-nothing.
        self._atomic_rename = self._local or isinstance(self.fs, pafs.LocalFileSystem)
        # Tests set this to ``f(point, name, version)`` to stop a publisher at a
        # named point and interleave others deterministically.
        self._hook: Callable[[str, str, int], None] | None = None
        # Object stores: how long a publisher waits for a twin (the same content,
        # claimed at a lower number) before it publishes its own version.
        self.twin_wait_seconds = TWIN_WAIT_SECONDS

    def __repr__(self) -> str:
        return f"VocabStore({self.root!r})"

    # -- paths --

    def _dir(self, name: str, version: int | None = None) -> str:
        path = f"{self._base}/{validate_name(name)}"
        return path if version is None else f"{path}/v{int(version)}"

    def _file(self, name: str, version: int, file_name: str) -> str:
        """A file of a version: root + name + number + one of its fixed file names.

        On a local disk the filesystem refuses a link at any component below the
        root, at the moment of use (``rooted_dir``); object stores have none.
        """
        if file_name not in VERSION_FILES and file_name != TOMBSTONE:
            raise ValueError(f"not a version file: {file_name!r}")
        return f"{self._dir(name, version)}/{file_name}"

    def root_exists(self) -> bool:
        """Whether the store's root (directory, or bucket and prefix) exists.

        Only a publish creates it; read commands fail on a store that does not exist
        rather than report it empty.
        """
        try:
            return self.fs.get_file_info(self._base).type == pafs.FileType.Directory
        except FileNotFoundError:
            return False

    def require_root(self) -> None:
        """Raise ``StoreError`` unless the store's root exists (see ``root_exists``)."""
        if not self.root_exists():
            raise StoreError(self._no_root_message() + received(store=self.root), cases=[self.root])

    def _no_root_message(self) -> str:
        return (
            f"The store {self.root} does not exist (no directory or bucket there). Pass "
            "--store (or set VOCABGUARD_STORE) to an existing store, or create this one "
            "with `vocabguard build`. "
        )

    def _check_version_dir(self, name: str, version: int, *, strict: bool) -> None:
        """Refuse links among a version's files; with ``strict`` also unknown files."""
        # Listing refuses a link (on a local disk) and names it.
        entries = self._entries(self._dir(name, version))
        if not strict:
            return
        unknown = sorted(
            info.base_name
            for info in entries
            if info.base_name not in VERSION_FILES and not info.base_name.startswith(CLAIM_PREFIX)
        )
        if unknown:
            raise ArtifactError(
                f"{self.root}/{name}/v{version} holds file(s) that are not part of a version: "
                f"{', '.join(unknown)} (a version holds only {', '.join(VERSION_FILES)}). "
                "Something other than vocabguard wrote there; remove them or restore the "
                "version from a backup. " + received(unknown=unknown),
                cases=unknown,
                file=unknown[0],
            )

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

    # Housekeeping records live next to the version directories, never inside them
    # (a version is immutable), in directories whose names no version can have.
    def _pin_path(self, name: str, version: int) -> str:
        return f"{self._dir(name)}/{PINS_DIR}/v{int(version)}.json"

    def _tombstone_path(self, name: str, version: int) -> str:
        return self._file(name, version, TOMBSTONE)

    def _visible(self, name: str, version: int) -> bool:
        try:
            return self._exists(self._file(name, version, MANIFEST))
        except StoreError as err:
            if getattr(err, "errno", None) in (errno.EACCES, errno.EPERM):
                # Unreadable, but there: it counts (its number is used), and reading it
                # reports "permission denied" for this version alone.
                return True
            raise

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

    # -- listing --

    def names(self) -> list[str]:
        """Names that have at least one published version."""
        found = [
            i.base_name for i in self._entries(self._base) if i.type == pafs.FileType.Directory
        ]
        # Skip directories that are not valid names (e.g. "a..b" made by hand):
        # versions() would reject them.
        return sorted(n for n in found if NAME_RE.match(n) and ".." not in n and self.versions(n))

    def versions(self, name: str) -> list[int]:
        """Published version numbers of ``name`` (those with a manifest), ascending."""
        self._settle_jobs(name)
        numbers = []
        for info in self._entries(self._dir(name)):
            match = VERSION_RE.match(info.base_name)
            if match and self._visible(name, int(match.group(1))):
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def manifest(self, ref: str) -> dict:
        """The verified manifest of a reference (its own checksum is checked)."""
        return self._read_resolved(ref, self._read_manifest)

    def _read_manifest(self, name: str, version: int) -> dict:
        self._check_version_dir(name, version, strict=False)
        where = f"{self.root}/{name}/v{version}"
        raw = read_manifest(self.fs, self._file(name, version, MANIFEST), where)
        manifest = parse_manifest(raw, where)
        check_identity(manifest, name, version, where)
        return manifest

    def _read_resolved(self, ref: str, read: Callable[[str, int], Any]) -> Any:
        """``read(name, version)`` of what ``ref`` resolves to.

        gc may delete a version between resolve() and the read (``name@latest``
        resolved just before a newer version was published and the old one
        collected): then the reference is resolved again, so ``name@latest`` reads
        the new latest and ``name@v3`` fails with VersionNotFoundError.
        """
        for _ in range(MAX_READ_ATTEMPTS):
            name, version = self.resolve(ref)
            try:
                return read(name, version)
            except (ArtifactError, OSError):
                if self._visible(name, version):
                    raise  # still published: a real fault (changed or unreadable file)
        raise StoreError(
            f"{ref} was deleted by a concurrent `vocabguard gc` each of the "
            f"{MAX_READ_ATTEMPTS} times it was read. Pin the versions readers need "
            "(`vocabguard pin`) or run gc with a larger --keep. " + received(ref=ref),
            cases=[ref],
        )

    # -- references --

    def resolve(self, ref: str) -> tuple[str, int]:
        """``(name, version)`` of a reference; ``VersionNotFoundError`` if none matches."""
        parsed = Ref.parse(ref)
        versions = self.versions(parsed.name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            if known == "none" and not self.root_exists():
                raise VersionNotFoundError(
                    f"No published vocabulary named '{parsed.name}' in store {self.root}; names "
                    f"there: none. {self._no_root_message()}" + received(ref=ref),
                    cases=[ref],
                )
            raise VersionNotFoundError(
                f"No published vocabulary named '{parsed.name}' in store {self.root}; names "
                f"there: {known}. Build one with `vocabguard build --name {parsed.name} ...` or "
                "pass --store. " + received(ref=ref),
                cases=[ref],
            )
        if parsed.version is not None:
            if parsed.version not in versions:
                tombstone = self._read_json(self._tombstone_path(parsed.name, parsed.version))
                deleted = (
                    f" v{parsed.version} (fingerprint {(tombstone.get('fingerprint') or '?')[:12]}) "
                    f"was deleted by `vocabguard gc` at {tombstone.get('deleted_utc')}; pin "
                    "versions that must stay with `vocabguard pin`."
                    if tombstone
                    else ""
                )
                raise VersionNotFoundError(
                    f"'{parsed.name}' has no version v{parsed.version}; published: "
                    f"{', '.join(f'v{v}' for v in versions)}.{deleted} " + received(ref=ref),
                    cases=[ref],
                )
            return parsed.name, parsed.version
        if parsed.fingerprint_prefix is not None:
            hits = []
            for v in versions:
                try:
                    fingerprint = self._read_manifest(parsed.name, v)["fingerprint"]
                except (ArtifactError, OSError):
                    if self._visible(parsed.name, v):
                        raise
                    continue  # deleted by gc since versions() listed it
                if fingerprint.startswith(parsed.fingerprint_prefix):
                    hits.append(v)
            if not hits:
                raise VersionNotFoundError(
                    f"No version of '{parsed.name}' has a fingerprint starting with "
                    f"{parsed.fingerprint_prefix}; `vocabguard list {parsed.name}` shows them. "
                    + received(ref=ref),
                    cases=[ref],
                )
            # Identical content is never published twice in a row, but a lineage can
            # return to an earlier vocabulary: the newest match wins.
            return parsed.name, hits[-1]
        return parsed.name, versions[-1]

    def path(self, ref: str) -> str:
        """The directory (or URI path) of a published version."""
        return self._dir(*self.resolve(ref))

    # -- load / verify --

    def load(self, ref: str) -> Vocabulary:
        """Load a version, verifying the sha256 of every file; errors name the file.

        The manifest must name this version, and every field derived from the
        tokens (``input_dim``, ``layout``, ``contract``, ``vocab.txt``...) must match them.
        """
        return self._read_resolved(ref, self._load_version)

    def _load_version(self, name: str, version: int) -> Vocabulary:
        self._check_version_dir(name, version, strict=False)
        return load_version(
            self.fs,
            self._dir(name, version),
            where=f"{self.root}/{name}/v{version}",
            identity=(name, version),
        )

    def verify(self, ref: str) -> dict:
        """Re-check every checksum and derived field of a version; return its manifest.

        Unlike ``load``, files in the version directory that are not a version's
        (anything but ``manifest.json``, ``tokens.parquet``, ``vocab.txt``) fail it.
        """

        def check(name: str, version: int) -> dict:
            self._check_version_dir(name, version, strict=True)
            return self._load_version(name, version).manifest

        return self._read_resolved(ref, check)

    # -- publish --

    def publish(self, vocab: Vocabulary, name: str) -> Vocabulary:
        """Publish ``vocab`` as the next version of ``name``; return it with name and version.

        If the latest version of ``name`` has the same fingerprint (the same ids for
        every input) and the same spec, that version is returned and nothing is
        written; counts and stats of the new build are not recorded then. The
        returned vocabulary's ``newly_published`` says which case happened. Publishing is
        atomic: the files are written to a staging directory and renamed into place,
        so a crash leaves no visible, partial version; concurrent publishers get
        distinct version numbers, and a number is never reused, even after gc.
        Concurrent publishers of identical content all get the one version the
        first of them published (on object stores a twin waits for the other's
        claimed version, up to ``twin_wait_seconds``; see ``_publish_in_place``).
        """
        validate_name(name)
        unchanged = self._unchanged(vocab, name)
        if unchanged is not None:
            return unchanged
        published = copy.copy(vocab)
        published.name = name
        published.build = {**vocab.build, "created_utc": _now()}
        files, vocab_txt = render_files(published)
        self.fs.create_dir(self._dir(name), recursive=True)
        if self._atomic_rename:
            result = self._publish_by_rename(published, name, files, vocab_txt)
        else:
            result = self._publish_in_place(published, name, files, vocab_txt)
        if result.newly_published is None:
            result.newly_published = True
        return result

    def _unchanged(self, vocab: Vocabulary, name: str) -> Vocabulary | None:
        """The latest version of ``name`` if it has ``vocab``'s ids and spec, else None."""
        for _ in range(MAX_READ_ATTEMPTS):
            if not self.versions(name):
                return None
            latest = self.manifest(name)
            # Same ids for every input and the same spec: nothing new to publish.
            if latest["fingerprint"] != vocab.fingerprint or latest["spec"] != vocab.spec.to_dict():
                return None
            try:
                unchanged = self.load(f"{name}@v{latest['version']}")
            except VersionNotFoundError:
                continue  # collected by gc after a newer version appeared: look again
            unchanged.newly_published = False
            return unchanged
        return None

    def _write(self, path: str, data: bytes) -> None:
        try:
            with self.fs.open_output_stream(path) as stream:
                stream.write(data)
        except OSError as err:  # object stores (local writes already name the path)
            raise write_error(err, path) from None

    def _next_number(self, name: str) -> int:
        """One more than every version number ever used by ``name``.

        Counts directories without a manifest too: a publish in progress, a crashed
        one, and versions gc deleted (their tombstone stays), so a number never
        names two vocabularies.
        """
        used = [0]
        for info in self._entries(self._dir(name)):
            if match := VERSION_RE.match(info.base_name):
                used.append(int(match.group(1)))
        return max(used) + 1

    def _settle_jobs(self, name: str) -> None:
        """Finish or roll back interrupted multi-vocabulary jobs publishing ``name``, so
        that a job's versions are seen all together or not at all (see ``journal``)."""
        from vocabguard._src.core.journal import settle

        settle(self, name)

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

    def _pause(self, point: str, name: str, version: int) -> None:
        if self._hook is not None:
            self._hook(point, name, version)

    def _taken(self, name: str, version: int) -> bool:
        # A version directory, once there, never goes away (gc leaves a tombstone).
        return self._exists(self._dir(name, version))

    def _publish_by_rename(self, vocab, name, files, vocab_txt) -> Vocabulary:
        staging = f"{self._dir(name)}/{STAGING_PREFIX}{uuid.uuid4().hex}"
        self.fs.create_dir(staging, recursive=True)
        try:
            for file_name, data in files.items():
                self._write(f"{staging}/{file_name}", data)
            version = self._next_number(name)
            for _ in range(MAX_PUBLISH_ATTEMPTS):
                target = self._dir(name, version)
                if not self._taken(name, version):
                    self._pause("numbered", name, version)
                    # "Same as the latest?" is asked again *after* numbering. A twin
                    # that became visible before our number was chosen is seen here;
                    # one that renames later used our number (then our rename fails
                    # and we look again below) or a lower one chosen before ours, in
                    # which case every version between was already there. So two
                    # identical concurrent publishes never give two versions in a row.
                    unchanged = self._unchanged(vocab, name)
                    if unchanged is not None:
                        return unchanged
                    self._pause("checked", name, version)
                    vocab.version = version
                    # The manifest names its version, so it is (re)written for each
                    # attempt, last, just before the rename that makes it visible.
                    self._write(
                        f"{staging}/{MANIFEST}",
                        dump_manifest(build_manifest(vocab, files, vocab_txt)),
                    )
                    # Verified before it is visible; loading it after the rename could
                    # race with a gc that collects it once a newer version exists.
                    result = load_version(
                        self.fs,
                        staging,
                        where=f"{self.root}/{name}/v{version}",
                        identity=(name, version),
                    )
                    try:
                        # rename(2) fails with ENOTEMPTY when another publisher took the
                        # number since the check above. It would silently replace an
                        # *empty* directory, but a version directory is never empty:
                        # it arrives full, and gc leaves its tombstone in it.
                        self.fs.move(staging, target)
                        return result
                    except OSError:
                        if not self._exists(target):
                            raise
                # Another publisher took this number. If it published the same
                # content, that version is the answer (no duplicate in a row).
                unchanged = self._unchanged(vocab, name)
                if unchanged is not None:
                    return unchanged
                version = max(version + 1, self._next_number(name))
            raise StoreError(
                f"Could not claim a version number for '{name}' in {MAX_PUBLISH_ATTEMPTS} "
                "attempts: other publishers kept taking them. Publish again. " + received(name=name)
            )
        finally:
            if self._exists(staging):
                self.fs.delete_dir(staging)

    def _publish_in_place(self, vocab, name, files, vocab_txt) -> Vocabulary:
        # Object stores have no atomic directory rename: claim a number by writing a
        # claim file into v<N>, then list v<N>. A publisher proceeds only if its claim
        # is all it sees there; of two racing claims at least one sees the other
        # (stores whose writes and listings are strongly consistent: S3, GCS, local)
        # and backs off. Then the files go in, manifest last, so the version is
        # visible only when complete, and the claim is removed.
        #
        # The claim's name carries the content's fingerprint, so a publisher of
        # identical content that claimed a higher number waits for its twin's lower
        # claim to become a version (and returns it) or to disappear: identical
        # concurrent publishes give one version.
        version = self._next_number(name)
        tag = _claim_tag(vocab)
        for _ in range(MAX_PUBLISH_ATTEMPTS):
            if self._taken(name, version):
                version = max(version + 1, self._next_number(name))
                continue
            target = self._dir(name, version)
            claim = f"{CLAIM_PREFIX}{tag}-{uuid.uuid4().hex}"
            self.fs.create_dir(target, recursive=True)
            with self.fs.open_output_stream(f"{target}/{claim}"):
                pass  # an empty marker, not part of the version
            if [i.base_name for i in self._entries(target)] != [claim]:
                self._delete_file(f"{target}/{claim}")
                unchanged = self._unchanged(vocab, name)
                if unchanged is not None:
                    return unchanged
                version = max(version + 1, self._next_number(name))
                continue
            self._pause("claimed", name, version)
            unchanged = self._unchanged(vocab, name) or self._await_twins(
                vocab, name, version, tag, claim
            )
            if unchanged is not None:
                self._delete_file(f"{target}/{claim}")  # v<N> stays used, never reused
                return unchanged
            vocab.version = version
            written = []
            try:
                for file_name, data in files.items():
                    written.append(self._file(name, version, file_name))
                    self._write(written[-1], data)
                self._write(
                    self._file(name, version, MANIFEST),
                    dump_manifest(build_manifest(vocab, files, vocab_txt)),
                )
            except BaseException:
                # A failed write (a full bucket, no permission) leaves no files behind,
                # nor a claim that a twin would wait for.
                for path in [*written, f"{target}/{claim}"]:
                    with contextlib.suppress(OSError, StoreError):
                        self._delete_file(path)
                raise
            self._delete_file(f"{target}/{claim}")
            return self.load(f"{name}@v{version}")
        raise StoreError(
            f"Could not claim a version number for '{name}' in {MAX_PUBLISH_ATTEMPTS} "
            "attempts: other publishers kept taking them. Publish again. " + received(name=name)
        )

    def _await_twins(
        self, vocab, name: str, version: int, tag: str, claim: str
    ) -> Vocabulary | None:
        """Wait for lower claims of the same content; the version one became, or None."""
        deadline = time.monotonic() + self.twin_wait_seconds
        # A twin's age is measured against our own claim, both stamped by the server's
        # clock: this machine's clock may run minutes ahead or behind it.
        now = self._mtime(f"{self._dir(name, version)}/{claim}")
        while True:
            visible = self.versions(name)
            pending = [
                int(m.group(1))
                for info in self._entries(self._dir(name))
                if (m := VERSION_RE.match(info.base_name))
                and int(m.group(1)) < version
                and int(m.group(1)) > (visible[-1] if visible else 0)
            ]
            twins = [
                v
                for v in pending
                if any(
                    i.base_name.startswith(f"{CLAIM_PREFIX}{tag}-")
                    # An older claim is a publisher that died: not waited for.
                    and not _older(i, now, self.twin_wait_seconds)
                    for i in self._entries(self._dir(name, v))
                )
            ]
            if not twins:
                return self._unchanged(vocab, name)
            self._pause("twin", name, version)
            unchanged = self._unchanged(vocab, name)
            if unchanged is not None:
                return unchanged
            if time.monotonic() > deadline:
                return None  # a twin that died while publishing: publish ours
            time.sleep(0.05)

    # -- pins --

    def pins(self, name: str) -> dict[int, dict]:
        """Pinned versions of ``name``: ``{version: {"reason", "pinned_utc", "fingerprint"}}``.

        >>> import tempfile
        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> store = VocabStore(tempfile.mkdtemp())
        >>> _ = store.publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "demo")
        >>> store.pin("demo@v1", reason="prod model"), store.pins("demo")[1]["reason"]
        ('demo@v1', 'prod model')
        """
        found = {}
        for info in self._entries(f"{self._dir(name)}/{PINS_DIR}"):
            if match := RECORD_RE.match(info.base_name):
                record = self._read_json(info.path)
                if record is not None:  # unpinned since the listing
                    found[int(match.group(1))] = {
                        key: record.get(key) for key in ("reason", "pinned_utc", "fingerprint")
                    }
        return dict(sorted(found.items()))

    def pin(self, ref: str, reason: str | None = None) -> str:
        """Protect a version from gc; return its ``name@vN``. Pinning again updates the reason."""
        name, version = self.resolve(ref)
        path = self._pin_path(name, version)
        manifest = self.manifest(f"{name}@v{version}")
        before = self._read_json(path) or {}
        record = {
            "ref": f"{name}@v{version}",
            "fingerprint": manifest["fingerprint"],
            "reason": reason,
            "pinned_utc": before.get("pinned_utc") or _now(),
        }
        self.fs.create_dir(f"{self._dir(name)}/{PINS_DIR}", recursive=True)
        self._write_atomic(path, _json_bytes(record))
        if before:
            return f"{name}@v{version}"  # already protected: only the reason changed
        # Handshake with gc, which announces a deletion *before* it checks for a pin:
        # either gc sees this pin and keeps the version, or this sees gc's intent.
        # The pin's own mtime is "now" by the store's clock, as the intents' are.
        pending = self._deletion_pending(name, version, now=self._mtime(path))
        if pending or not self._visible(name, version):
            self._delete_file(path)
            raise StoreError(
                f"{name}@v{version} is being deleted by a concurrent `vocabguard gc`, so it "
                f"was not pinned. Run `vocabguard list {name}` and pin it again if it is "
                "still listed. " + received(ref=ref),
                cases=[ref],
            )
        return f"{name}@v{version}"

    def unpin(self, ref: str) -> str:
        """Remove the pin of a version, so gc may delete it; return its ``name@vN``."""
        parsed = Ref.parse(ref)
        if parsed.version is not None and self._exists(self._pin_path(parsed.name, parsed.version)):
            name, version = parsed.name, parsed.version  # even if it no longer resolves
        else:
            name, version = self.resolve(ref)
        if not self._delete_file(self._pin_path(name, version)):
            pinned = ", ".join(f"v{v}" for v in self.pins(name)) or "none"
            raise StoreError(
                f"{name}@v{version} is not pinned, so there is nothing to unpin; pinned "
                f"versions of '{name}': {pinned}. " + received(ref=ref),
                cases=[ref],
            )
        return f"{name}@v{version}"

    def _deletion_pending(self, name: str, version: int, *, now: datetime.datetime | None) -> bool:
        """Whether a live gc has announced it is deleting ``version``; an intent counts as
        live unless it is ``STALE_SECONDS`` older than ``now`` (the store's clock)."""
        prefix = f"v{int(version)}-"
        for info in self._entries(f"{self._dir(name)}/{GC_DIR}"):
            if info.base_name.startswith(prefix) and not _older(info, now, STALE_SECONDS):
                if self._local and not self.fs.handler.is_held(info.path):
                    # Its gc died (kill -9, a crash): the lock died with it. A gc
                    # between writing and locking its intent still sees this pin:
                    # it looks for pins only once it holds the lock.
                    continue
                return True
        return False

    # -- gc --

    def gc(
        self,
        name: str,
        keep: int,
        dry_run: bool = False,
        *,
        on_leftover: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Delete all but the newest ``keep`` versions of ``name``; return their refs.

        The latest version and every pinned one are always kept. A deleted number
        is never reused: the tombstone ``<name>/v<N>/deleted.json`` stays, and
        ``load("name@vN")`` then says gc deleted it. Also removes what crashed
        processes left: staging directories untouched for an hour (a live publisher
        may be writing a younger one) and the files of half-deleted versions;
        ``on_leftover`` is called with each such path. Readers and publishers may
        run meanwhile: a version disappears at once (its manifest is deleted
        first), and readers of ``name@latest`` that lose the race resolve again.

        >>> import tempfile
        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> store = VocabStore(tempfile.mkdtemp())
        >>> for text in ["a", "b", "c", "d"]:
        ...     _ = store.publish(build_vocabulary([text], VocabSpec(), progress=False), "demo")
        >>> _ = store.pin("demo@v1")
        >>> store.gc("demo", keep=2), store.versions("demo")
        (['demo@v2'], [1, 3, 4])
        """
        if "@" in str(name):
            raise InvalidNameError(
                f"gc takes a vocabulary NAME, not a reference: it keeps the newest --keep "
                f"versions of the name. To protect one version from gc, pin it: "
                f"`vocabguard pin {name}`. " + received(name=name),
                cases=[name],
            )
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigError(
                "gc needs keep (--keep) of at least 1: the latest version of a name is never "
                "deleted. Pass 1 to keep only the latest and the pinned versions. "
                + received(keep=keep),
                cases=[keep],
            )
        name = self.resolve(name)[0]  # an unknown name fails here, listing the names
        versions = self.versions(name)
        keep_set = set(versions[-keep:]) | set(self.pins(name))
        doomed = [v for v in versions if v not in keep_set]
        if dry_run:
            return [f"{name}@v{v}" for v in doomed]
        deleted = [f"{name}@v{v}" for v in doomed if self._delete_version(name, v)]
        for path in self._remove_leftovers(name):
            if on_leftover is not None:
                on_leftover(path)
        return deleted

    def _delete_version(self, name: str, version: int) -> bool:
        """Delete one version unless it is pinned; ``False`` if it was kept or already gone."""
        gc_dir = f"{self._dir(name)}/{GC_DIR}"
        intent = f"{gc_dir}/v{version}-{uuid.uuid4().hex}"
        self.fs.create_dir(gc_dir, recursive=True)
        held = None
        try:
            # Inside the try: an intent whose write failed (a full disk leaves it
            # empty) is removed too, so it never blocks a pin.
            self._write(intent, _now().encode())
            if self._local:
                # Locked while this gc lives: a pin ignores the intent of a dead gc.
                held = self.fs.handler.hold(intent)
            # Announce, then check for a pin (pin() does the reverse): see pin().
            if self._exists(self._pin_path(name, version)):
                return False
            self._pause("gc-unpinned", name, version)
            try:
                manifest = self._read_manifest(name, version)
            except (ArtifactError, OSError):
                if not self._visible(name, version):
                    return False  # another gc deleted it
                manifest = {}  # unreadable, but still a version: delete it all the same
            # Tombstone first, then the manifest (the version is gone for readers),
            # then its files: the directory is never empty, so no late publisher can
            # rename a new version into it (rename(2) replaces an empty directory).
            tombstone = {
                "ref": f"{name}@v{version}",
                "fingerprint": manifest.get("fingerprint"),
                "deleted_utc": _now(),
            }
            self._write_atomic(self._tombstone_path(name, version), _json_bytes(tombstone))
            directory = self._dir(name, version)
            if not self._delete_file(f"{directory}/{MANIFEST}"):
                return False  # another gc deleted it first
            # Only the version's own files (fixed names, never names from the
            # manifest): a racing gc's temp tombstone may be there.
            for file_name in (TOKENS, VOCAB_TXT):
                self._delete_file(self._file(name, version, file_name))
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                self._delete_file(intent)
            if held is not None:
                os.close(held)

    def _remove_leftovers(self, name: str) -> list[str]:
        """Remove what crashed processes left under ``name``; return the paths removed."""
        try:
            now = self._server_now(f"{self._dir(name)}/{GC_DIR}")
        except (OSError, StoreError):
            now = None  # e.g. a full disk: nothing counts as old, this time
        removed = []
        for info in self._entries(self._dir(name)):
            base = info.base_name
            if base.startswith(STAGING_PREFIX) and self._untouched(info, now):
                # Younger staging directories may belong to a live publisher.
                self._remove_tree(info.path)
                removed.append(info.path)
            elif VERSION_RE.match(base):
                entries = self._entries(info.path)
                held = {entry.base_name for entry in entries}
                for entry in entries:
                    # A temp tombstone a killed gc left (a live gc's is younger).
                    if (
                        entry.base_name.startswith(f"{TOMBSTONE}{TEMP_INFIX}")
                        and _older(entry, now, STALE_SECONDS)
                        and self._delete_file(entry.path)
                    ):
                        removed.append(entry.path)
                # A gc that crashed after the tombstone: finish it, once the manifest
                # is gone (a version it left visible is collected by the next gc).
                if TOMBSTONE not in held or MANIFEST in held:
                    continue
                for entry in entries:
                    if not entry.base_name.startswith(TOMBSTONE) and self._delete_file(entry.path):
                        removed.append(entry.path)
        for info in self._entries(f"{self._dir(name)}/{GC_DIR}"):
            if _older(info, now, STALE_SECONDS) and self._delete_file(info.path):
                removed.append(info.path)
        return removed

    def _untouched(self, info: pafs.FileInfo, now: datetime.datetime | None) -> bool:
        """Whether a directory and everything directly in it is older than an hour."""
        entries = [info, *self._entries(info.path)]
        return all(_older(entry, now, STALE_SECONDS) for entry in entries)


def _claim_tag(vocab: Vocabulary) -> str:
    """What identifies a publish's content in its claim's name: fingerprint and spec."""
    spec = json.dumps(vocab.spec.to_dict(), sort_keys=True).encode()
    return hashlib.sha256(vocab.fingerprint.encode() + b"\0" + spec).hexdigest()[:32]


def _clock() -> datetime.datetime:
    """This machine's clock (UTC): for the times records show (``created_utc``...)."""
    return datetime.datetime.now(datetime.timezone.utc)


def _now() -> str:
    return _clock().isoformat(timespec="seconds")


def _older(info: pafs.FileInfo, now: datetime.datetime | None, seconds: float) -> bool:
    """Whether ``info`` was last modified more than ``seconds`` before ``now``, a time read
    from the store's own clock, never this machine's (unknown: no)."""
    mtime = info.mtime
    if mtime is None or now is None:
        return False
    if mtime.tzinfo is None:
        mtime = mtime.replace(tzinfo=datetime.timezone.utc)
    return (now - mtime).total_seconds() > seconds


def _json_bytes(record: dict) -> bytes:
    return json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"
