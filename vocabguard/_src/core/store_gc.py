"""gc: delete all but the newest versions of a name, leaving tombstones, and sweep
what crashed processes left (staging directories, half-deleted versions, intents).

A deleted version's directory keeps ``deleted.json`` (a tombstone): the number is
never reused (a late publisher's rename into a non-empty directory fails) and
``name@vN`` says gc collected it. ``VocabStore.gc`` calls ``gc`` here.

>>> import tempfile
>>> from vocabguard import VocabSpec, VocabStore, build_vocabulary
>>> store = VocabStore(tempfile.mkdtemp())
>>> for text in ["a", "b", "c"]:
...     _ = store.publish(build_vocabulary([text], VocabSpec(), progress=False), "demo")
>>> gc(store, "demo", keep=1), store.versions("demo")
(['demo@v1', 'demo@v2'], [3])
"""

from __future__ import annotations

import contextlib
import datetime
import os
import uuid
from collections.abc import Callable
from typing import Any

import pyarrow.fs as pafs

from vocabguard._src.core.artifact import MANIFEST, TOKENS, VOCAB_TXT
from vocabguard._src.core.errors import (
    ArtifactError,
    ConfigError,
    InvalidNameError,
    StoreError,
    received,
)
from vocabguard._src.core.store_names import (
    GC_DIR,
    STAGING_PREFIX,
    STALE_SECONDS,
    TEMP_INFIX,
    TOMBSTONE,
    VERSION_RE,
)
from vocabguard._src.core.store_pins import pin_path
from vocabguard._src.core.store_records import json_bytes, older, utc_now

# A VocabStore, which imports this module (so not imported here: no cycle).
Store = Any


def gc(
    store: Store,
    name: str,
    keep: int,
    dry_run: bool = False,
    *,
    on_leftover: Callable[[str], None] | None = None,
) -> list[str]:
    """Delete all but the newest ``keep`` versions of ``name``; return their refs.

    See ``VocabStore.gc``: the latest and every pinned version are kept; leftovers
    of crashed processes are removed and reported to ``on_leftover``.
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
    name = store.resolve(name)[0]  # an unknown name fails here, listing the names
    versions = store.versions(name)
    keep_set = set(versions[-keep:]) | set(store.pins(name))
    doomed = [v for v in versions if v not in keep_set]
    if dry_run:
        return [f"{name}@v{v}" for v in doomed]
    deleted = [f"{name}@v{v}" for v in doomed if delete_version(store, name, v)]
    for path in remove_leftovers(store, name):
        if on_leftover is not None:
            on_leftover(path)
    return deleted


def tombstone_path(store: Store, name: str, version: int) -> str:
    """Where the tombstone of ``name@v<version>`` is (whether or not it exists)."""
    return store._file(name, version, TOMBSTONE)


def delete_version(store: Store, name: str, version: int) -> bool:
    """Delete one version unless it is pinned; ``False`` if it was kept or already gone."""
    gc_dir = f"{store._dir(name)}/{GC_DIR}"
    intent = f"{gc_dir}/v{version}-{uuid.uuid4().hex}"
    store.fs.create_dir(gc_dir, recursive=True)
    held = None
    try:
        # Inside the try: an intent whose write failed (a full disk leaves it
        # empty) is removed too, so it never blocks a pin.
        store._write(intent, utc_now().encode())
        if store._local:
            # Locked while this gc lives: a pin ignores the intent of a dead gc.
            held = store.fs.handler.hold(intent)
        # Announce, then check for a pin (pin() does the reverse): see store_pins.
        if store._exists(pin_path(store, name, version)):
            return False
        store._pause("gc-unpinned", name, version)
        try:
            manifest = store._read_manifest(name, version)
        except (ArtifactError, OSError):
            if not store._visible(name, version):
                return False  # another gc deleted it
            manifest = {}  # unreadable, but still a version: delete it all the same
        return _bury(store, name, version, manifest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            store._delete_file(intent)
        if held is not None:
            os.close(held)


def _bury(store: Store, name: str, version: int, manifest: dict) -> bool:
    """Tombstone first, then the manifest (the version is gone for readers), then its
    files: the directory is never empty, so no late publisher can rename a new version
    into it (rename(2) replaces an empty directory). ``False`` if another gc was first."""
    tombstone = {
        "ref": f"{name}@v{version}",
        "fingerprint": manifest.get("fingerprint"),
        "deleted_utc": utc_now(),
    }
    store._write_atomic(tombstone_path(store, name, version), json_bytes(tombstone))
    directory = store._dir(name, version)
    if not store._delete_file(f"{directory}/{MANIFEST}"):
        return False  # another gc deleted it first
    # Only the version's own files (fixed names, never names from the
    # manifest): a racing gc's temp tombstone may be there.
    for file_name in (TOKENS, VOCAB_TXT):
        store._delete_file(store._file(name, version, file_name))
    return True


def remove_leftovers(store: Store, name: str) -> list[str]:
    """Remove what crashed processes left under ``name``; return the paths removed."""
    try:
        now = store._server_now(f"{store._dir(name)}/{GC_DIR}")
    except (OSError, StoreError):
        now = None  # e.g. a full disk: nothing counts as old, this time
    removed = []
    for info in store._entries(store._dir(name)):
        base = info.base_name
        if base.startswith(STAGING_PREFIX) and _untouched(store, info, now):
            # Younger staging directories may belong to a live publisher.
            store._remove_tree(info.path)
            removed.append(info.path)
        elif VERSION_RE.match(base):
            removed += _finish_version(store, info, now)
    for info in store._entries(f"{store._dir(name)}/{GC_DIR}"):
        if older(info, now, STALE_SECONDS) and store._delete_file(info.path):
            removed.append(info.path)
    return removed


def _finish_version(store: Store, info: pafs.FileInfo, now: datetime.datetime | None) -> list[str]:
    """In one version directory, remove a killed gc's temp tombstone and finish a
    deletion a crashed gc left half done; return the paths removed."""
    removed = []
    entries = store._entries(info.path)
    held = {entry.base_name for entry in entries}
    for entry in entries:
        # A temp tombstone a killed gc left (a live gc's is younger).
        if (
            entry.base_name.startswith(f"{TOMBSTONE}{TEMP_INFIX}")
            and older(entry, now, STALE_SECONDS)
            and store._delete_file(entry.path)
        ):
            removed.append(entry.path)
    # A gc that crashed after the tombstone: finish it, once the manifest
    # is gone (a version it left visible is collected by the next gc).
    if TOMBSTONE not in held or MANIFEST in held:
        return removed
    for entry in entries:
        if not entry.base_name.startswith(TOMBSTONE) and store._delete_file(entry.path):
            removed.append(entry.path)
    return removed


def _untouched(store: Store, info: pafs.FileInfo, now: datetime.datetime | None) -> bool:
    """Whether a directory and everything directly in it is older than an hour."""
    entries = [info, *store._entries(info.path)]
    return all(older(entry, now, STALE_SECONDS) for entry in entries)
