"""``VocabStore``: named, immutable, versioned vocabularies under one root.

Layout: ``<root>/<name>/v<N>/{manifest.json, tokens.parquet, vocab.txt}``. A
version is visible only once its manifest exists, and it is never modified.
Root is a local path or any URI ``pyarrow.fs`` understands (``gs://``, ``s3://``,
``hdfs://``); all IO goes through ``pyarrow.fs``. A local root is served by
``rooted_dir``: every path below it is opened from a handle of the root, never
through a link, so nothing outside the root is read, written or deleted.

This module resolves references, publishes and loads; the housekeeping has
rooms of its own, which ``VocabStore``'s methods call: ``store_names`` (names,
references, the layout on disk), ``store_pins`` (pins: versions gc keeps),
``store_gc`` (gc, its tombstones and the sweep of crashed processes' leftovers),
``store_claims`` (publishing on object stores, which cannot rename a directory
atomically), ``store_records`` (small JSON records and the clocks) and
``store_files`` (the file operations they all share: ``VocabStore`` is a ``StoreFiles``).

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

import copy
import errno
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow.fs as pafs

from vocabguard._src.core import store_gc, store_pins
from vocabguard._src.core.artifact import (
    MANIFEST,
    VERSION_FILES,
    as_published,
    build_manifest,
    check_identity,
    check_written,
    dump_manifest,
    load_version,
    parse_manifest,
    read_manifest,
    render_files,
    verified_files,
)
from vocabguard._src.core.errors import (
    ArtifactError,
    StoreError,
    VersionNotFoundError,
    received,
)
from vocabguard._src.core.journal import settle
from vocabguard._src.core.rooted_dir import RootedDirHandler, rooted_filesystem
from vocabguard._src.core.store_claims import publish_in_place
from vocabguard._src.core.store_files import StoreFiles
from vocabguard._src.core.store_gc import tombstone_path
from vocabguard._src.core.store_names import (
    CLAIM_PREFIX,
    DEFAULT_STORE,
    GC_DIR,
    MAX_PUBLISH_ATTEMPTS,
    MAX_READ_ATTEMPTS,
    NAME_RE,
    PINS_DIR,
    STAGING_PREFIX,
    TOMBSTONE,
    TWIN_WAIT_SECONDS,
    VERSION_RE,
    Ref,
    validate_name,
)
from vocabguard._src.core.store_records import utc_now as _now
from vocabguard._src.core.vocabulary import Vocabulary

# Names other modules and tests import from here (their home is store_names).
__all__ = [
    "CLAIM_PREFIX",
    "DEFAULT_STORE",
    "GC_DIR",
    "PINS_DIR",
    "STAGING_PREFIX",
    "TOMBSTONE",
    "Ref",
    "VocabStore",
    "validate_name",
]


class VocabStore(StoreFiles):
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

    def _visible(self, name: str, version: int) -> bool:
        try:
            return self._exists(self._file(name, version, MANIFEST))
        except StoreError as err:
            if getattr(err, "errno", None) in (errno.EACCES, errno.EPERM):
                # Unreadable, but there: it counts (its number is used), and reading it
                # reports "permission denied" for this version alone.
                return True
            raise

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
                fix = self._no_root_message()
            else:
                fix = (
                    f"Build one with `vocabguard build --name {parsed.name} ...` or pass --store. "
                )
            raise VersionNotFoundError(
                f"No published vocabulary named '{parsed.name}' in store {self.root}; names "
                f"there: {known}. {fix}" + received(ref=ref),
                cases=[ref],
            )
        if parsed.version is not None:
            if parsed.version not in versions:
                tombstone = self._read_json(tombstone_path(self, parsed.name, parsed.version))
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
        """Load a version, verifying what it is built from; errors name the file.

        The manifest's own checksum and the sha256 of ``tokens.parquet`` are checked, the
        manifest must name this version, and every field derived from the tokens
        (``input_dim``, ``layout``, ``contract``, the fingerprint...) must match them.
        ``vocab.txt`` (for readers outside vocabguard) is not read: it must be there with
        its recorded size; ``verify`` checks its sha256 and that it is exactly the tokens.
        """
        return self._read_resolved(ref, self._load_version)

    def _load_version(self, name: str, version: int, *, vocab_txt: bool = False) -> Vocabulary:
        self._check_version_dir(name, version, strict=False)
        return load_version(
            self.fs,
            self._dir(name, version),
            where=f"{self.root}/{name}/v{version}",
            identity=(name, version),
            vocab_txt=vocab_txt,
        )

    def verify(self, ref: str) -> dict:
        """Re-check every checksum and derived field of a version; return its manifest.

        Unlike ``load``, ``vocab.txt`` is read: its sha256 is checked and it must be
        exactly the file the tokens render to; and files in the version directory that
        are not a version's (anything but ``manifest.json``, ``tokens.parquet``,
        ``vocab.txt``) fail it.
        """

        return self.verified(ref).manifest

    def verified(self, ref: str) -> Vocabulary:
        """``verify``, returning the verified version itself (its manifest is ``.manifest``):
        what a caller that also reads rows needs (``inspect --token``), with one read."""

        def check(name: str, version: int) -> Vocabulary:
            self._check_version_dir(name, version, strict=True)
            return self._load_version(name, version, vocab_txt=True)

        return self._read_resolved(ref, check)

    def verified_files(
        self, ref: str, *, files: Sequence[str] | None = None, hints: Sequence[str] = ()
    ) -> tuple[dict, dict[str, Any]]:
        """``verify``'s checks of the files alone, nothing parsed: the manifest (its own
        checksum, naming this version, no foreign file beside it) and the bytes of each
        file (or of those of ``files``), which match their sha256. What a reader of a few
        rows needs (``inspect --token``); the fields derived from the tokens are not
        recomputed. ``hints``: files also read, unchecked (see ``artifact.verified_files``).
        """

        def check(name: str, version: int) -> tuple[dict, dict[str, Any]]:
            self._check_version_dir(name, version, strict=True)
            where = f"{self.root}/{name}/v{version}"
            return verified_files(
                self.fs,
                self._dir(name, version),
                where=where,
                identity=(name, version),
                files=files,
                hints=hints,
            )

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
        return self._unchanged_as(vocab.fingerprint, vocab.spec.to_dict(), name)

    def _unchanged_as(self, fingerprint: str, spec: dict, name: str) -> Vocabulary | None:
        """The latest version of ``name`` if it has this fingerprint and spec, else None."""
        for _ in range(MAX_READ_ATTEMPTS):
            if not self.versions(name):
                return None
            latest = self.manifest(name)
            # Same ids for every input and the same spec: nothing new to publish.
            if latest["fingerprint"] != fingerprint or latest["spec"] != spec:
                return None
            try:
                unchanged = self.load(f"{name}@v{latest['version']}")
            except VersionNotFoundError:
                continue  # collected by gc after a newer version appeared: look again
            unchanged.newly_published = False
            return unchanged
        return None

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

    def _numbers(self, name: str, attempts: int = MAX_PUBLISH_ATTEMPTS) -> Iterator[int]:
        """The version numbers a new version of ``name`` tries, ``attempts`` at most: the
        next one, then after each try that lost (another publisher took the number), one
        past it or past every number used by then. The caller skips a ``_taken`` one.

        >>> import tempfile
        >>> list(VocabStore(tempfile.mkdtemp())._numbers("demo", 3))
        [1, 2, 3]
        """
        version = self._next_number(name)
        for _ in range(attempts):
            yield version
            version = max(version + 1, self._next_number(name))

    def _move_in(self, staging: str, target: str) -> bool:
        """Rename a full staging directory to the version directory ``target``: False if
        another publisher took that number meanwhile (then ``staging`` stays).

        rename(2) fails with ENOTEMPTY when another publisher took the number since it
        was checked. It would silently replace an *empty* directory, but a version
        directory is never empty: it arrives full, and gc leaves its tombstone in it.
        """
        try:
            self.fs.move(staging, target)
            return True
        except OSError:
            if not self._exists(target):
                raise
            return False

    def _settle_jobs(self, name: str) -> None:
        """Finish or roll back interrupted multi-vocabulary jobs publishing ``name``, so
        that a job's versions are seen all together or not at all (see ``journal``)."""

        settle(self, name)

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
            for version in self._numbers(name):
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
                    manifest = dump_manifest(build_manifest(vocab, files, vocab_txt))
                    self._write(f"{staging}/{MANIFEST}", manifest)
                    # Checked before it is visible, from the buffers just written (the
                    # manifest's sha256 are theirs): nothing is read back and reparsed.
                    where = f"{self.root}/{name}/v{version}"
                    sizes = {f"{staging}/{f}": len(data) for f, data in files.items()}
                    check_written(self.fs, {**sizes, f"{staging}/{MANIFEST}": len(manifest)}, where)
                    result = as_published(vocab, manifest, where)
                    if self._move_in(staging, target):
                        return result
                # Another publisher took this number. If it published the same
                # content, that version is the answer (no duplicate in a row).
                unchanged = self._unchanged(vocab, name)
                if unchanged is not None:
                    return unchanged
            raise StoreError(
                f"Could not claim a version number for '{name}' in {MAX_PUBLISH_ATTEMPTS} "
                "attempts: other publishers kept taking them. Publish again. " + received(name=name)
            )
        finally:
            if self._exists(staging):
                self.fs.delete_dir(staging)

    def _publish_in_place(self, vocab, name, files, vocab_txt) -> Vocabulary:
        # Object stores: claim a number, then write in place (see store_claims).
        return publish_in_place(self, vocab, name, files, vocab_txt)

    # -- housekeeping: pins and gc (store_pins, store_gc) --

    def pins(self, name: str) -> dict[int, dict]:
        """Pinned versions of ``name``: ``{version: {"reason", "pinned_utc", "fingerprint"}}``.

        >>> import tempfile
        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> store = VocabStore(tempfile.mkdtemp())
        >>> _ = store.publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "demo")
        >>> store.pin("demo@v1", reason="prod model"), store.pins("demo")[1]["reason"]
        ('demo@v1', 'prod model')
        """
        return store_pins.pins(self, name)

    def pin(self, ref: str, reason: str | None = None) -> str:
        """Protect a version from gc; return its ``name@vN``. Pinning again updates the reason."""
        return store_pins.pin(self, ref, reason)

    def unpin(self, ref: str) -> str:
        """Remove the pin of a version, so gc may delete it; return its ``name@vN``."""
        return store_pins.unpin(self, ref)

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
        return store_gc.gc(self, name, keep, dry_run, on_leftover=on_leftover)
