"""``VocabStore``: named, immutable, versioned vocabularies under one root.

Layout: ``<root>/<name>/v<N>/{manifest.json, tokens.parquet, vocab.txt}``. A
version is visible only once its manifest exists, and it is never modified.
Root is a local path or any URI ``pyarrow.fs`` understands (``gs://``, ``s3://``,
``hdfs://``); all IO goes through ``pyarrow.fs``.

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
import datetime
import os
import re
import uuid
from dataclasses import dataclass

import pyarrow.fs as pafs

from vocabguard.artifact import (
    MANIFEST,
    build_manifest,
    dump_manifest,
    load_version,
    parse_manifest,
    read_file,
    render_files,
    verify_files,
)
from vocabguard.errors import InvalidNameError, StoreError, VersionNotFoundError, received
from vocabguard.vocabulary import Vocabulary

# \Z, not $: `$` also matches before a trailing newline, so "name\n" would pass.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
VERSION_RE = re.compile(r"^v([1-9][0-9]*)\Z")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{8,64}\Z")
DEFAULT_STORE = "./vocab_store"
STAGING_PREFIX = ".staging-"
MAX_PUBLISH_ATTEMPTS = 1000


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
        if filesystem is not None:
            self.fs, path = filesystem, root
        elif "://" in root:
            self.fs, path = pafs.FileSystem.from_uri(root)
        else:
            self.fs, path = pafs.LocalFileSystem(), os.path.abspath(root)
        self.root = root
        self._base = path.rstrip("/")
        # Atomic directory rename (POSIX) makes publishing all-or-nothing.
        self._atomic_rename = isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"VocabStore({self.root!r})"

    # -- paths --

    def _dir(self, name: str, version: int | None = None) -> str:
        path = f"{self._base}/{validate_name(name)}"
        return path if version is None else f"{path}/v{int(version)}"

    def _exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    # -- listing --

    def names(self) -> list[str]:
        """Names that have at least one published version."""
        info = self.fs.get_file_info(self._base)
        if info.type == pafs.FileType.NotFound:
            return []
        selector = pafs.FileSelector(self._base, recursive=False)
        found = [
            i.base_name
            for i in self.fs.get_file_info(selector)
            if i.type == pafs.FileType.Directory
        ]
        # Skip directories that are not valid names (e.g. "a..b" made by hand):
        # versions() would reject them.
        return sorted(n for n in found if NAME_RE.match(n) and ".." not in n and self.versions(n))

    def versions(self, name: str) -> list[int]:
        """Published version numbers of ``name`` (those with a manifest), ascending."""
        directory = self._dir(name)
        if not self._exists(directory):
            return []
        selector = pafs.FileSelector(directory, recursive=False)
        numbers = []
        for info in self.fs.get_file_info(selector):
            match = VERSION_RE.match(info.base_name)
            if match and self._exists(f"{info.path}/{MANIFEST}"):
                numbers.append(int(match.group(1)))
        return sorted(numbers)

    def manifest(self, ref: str) -> dict:
        """The verified manifest of a reference (its own checksum is checked)."""
        name, version = self.resolve(ref)
        where = f"{name}@v{version}"
        return parse_manifest(read_file(self.fs, f"{self._dir(name, version)}/{MANIFEST}"), where)

    # -- references --

    def resolve(self, ref: str) -> tuple[str, int]:
        """``(name, version)`` of a reference; ``VersionNotFoundError`` if none matches."""
        parsed = Ref.parse(ref)
        versions = self.versions(parsed.name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise VersionNotFoundError(
                f"No published vocabulary named '{parsed.name}' in store {self.root}; names "
                f"there: {known}. Build one with `vocabguard build --name {parsed.name} ...` or "
                "pass --store. " + received(ref=ref),
                cases=[ref],
            )
        if parsed.version is not None:
            if parsed.version not in versions:
                raise VersionNotFoundError(
                    f"'{parsed.name}' has no version v{parsed.version}; published: "
                    f"{', '.join(f'v{v}' for v in versions)}. " + received(ref=ref),
                    cases=[ref],
                )
            return parsed.name, parsed.version
        if parsed.fingerprint_prefix is not None:
            hits = [
                v
                for v in versions
                if self.manifest(f"{parsed.name}@v{v}")["fingerprint"].startswith(
                    parsed.fingerprint_prefix
                )
            ]
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
        """Load a version, verifying the sha256 of every file; errors name the file."""
        name, version = self.resolve(ref)
        return load_version(
            self.fs, self._dir(name, version), where=f"{self.root}/{name}/v{version}"
        )

    def verify(self, ref: str) -> dict:
        """Re-check every checksum of a version; return its manifest."""
        name, version = self.resolve(ref)
        where = f"{self.root}/{name}/v{version}"
        manifest = self.manifest(f"{name}@v{version}")
        verify_files(self.fs, self._dir(name, version), manifest, where)
        load_version(self.fs, self._dir(name, version), where=where)
        return manifest

    # -- publish --

    def publish(self, vocab: Vocabulary, name: str) -> Vocabulary:
        """Publish ``vocab`` as the next version of ``name``; return it with name and version.

        If the latest version of ``name`` has the same fingerprint (the same ids for
        every input) and the same spec, that version is returned and nothing is
        written; counts and stats of the new build are not recorded then. The
        returned vocabulary's ``newly_published`` says which case happened. Publishing is
        atomic: the files are written to a staging directory and renamed into place,
        so a crash leaves no visible, partial version; concurrent publishers get
        distinct version numbers.
        """
        validate_name(name)
        existing = self.versions(name)
        if existing:
            latest = self.manifest(f"{name}@v{existing[-1]}")
            # Same ids for every input and the same spec: nothing new to publish.
            if (
                latest["fingerprint"] == vocab.fingerprint
                and latest["spec"] == vocab.spec.to_dict()
            ):
                unchanged = self.load(f"{name}@v{existing[-1]}")
                unchanged.newly_published = False
                return unchanged
        published = copy.copy(vocab)
        published.name = name
        published.build = {
            **vocab.build,
            "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
        }
        files, vocab_txt = render_files(published)
        self.fs.create_dir(self._dir(name), recursive=True)
        version = (existing[-1] if existing else 0) + 1
        if self._atomic_rename:
            version = self._publish_by_rename(published, name, version, files, vocab_txt)
        else:
            version = self._publish_in_place(published, name, version, files, vocab_txt)
        result = self.load(f"{name}@v{version}")
        result.newly_published = True
        return result

    def _write(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path) as stream:
            stream.write(data)

    def _publish_by_rename(self, vocab, name, version, files, vocab_txt) -> int:
        staging = f"{self._dir(name)}/{STAGING_PREFIX}{uuid.uuid4().hex}"
        self.fs.create_dir(staging, recursive=True)
        try:
            for file_name, data in files.items():
                self._write(f"{staging}/{file_name}", data)
            for _ in range(MAX_PUBLISH_ATTEMPTS):
                vocab.version = version
                # The manifest names its version, so it is (re)written for each
                # attempt, last, just before the rename that makes it visible.
                self._write(
                    f"{staging}/{MANIFEST}", dump_manifest(build_manifest(vocab, files, vocab_txt))
                )
                target = self._dir(name, version)
                if not self._exists(target):
                    try:
                        self.fs.move(staging, target)  # rename(2): fails if target exists
                        return version
                    except OSError:
                        if not self._exists(target):
                            raise
                version += 1  # another publisher took this number
            raise StoreError(
                f"Could not claim a version number for '{name}'. " + received(name=name)
            )
        finally:
            if self._exists(staging):
                self.fs.delete_dir(staging)

    def _publish_in_place(self, vocab, name, version, files, vocab_txt) -> int:
        # Object stores have no atomic directory rename: write into the version
        # directory, manifest last, so the version becomes visible only when complete.
        while self._exists(self._dir(name, version)):
            version += 1
        vocab.version = version
        target = self._dir(name, version)
        self.fs.create_dir(target, recursive=True)
        for file_name, data in files.items():
            self._write(f"{target}/{file_name}", data)
        self._write(f"{target}/{MANIFEST}", dump_manifest(build_manifest(vocab, files, vocab_txt)))
        return version
