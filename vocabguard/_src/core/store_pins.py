"""Pins: versions that gc keeps, as ``<name>/.pins/v<N>.json`` beside the versions.

A pin and a gc meet in a handshake: gc announces a deletion (an intent under
``<name>/.gc/``) *before* it looks for a pin, and a new pin looks for intents
*after* it is written, so either gc sees the pin and keeps the version, or the
pin sees gc and is withdrawn. ``VocabStore.pin``/``unpin``/``pins`` call these.

>>> import tempfile
>>> from vocabguard import VocabSpec, VocabStore, build_vocabulary
>>> store = VocabStore(tempfile.mkdtemp())
>>> _ = store.publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "demo")
>>> pin(store, "demo@v1", reason="prod"), sorted(pins(store, "demo"))
('demo@v1', [1])
"""

from __future__ import annotations

import datetime
from typing import Any

from vocabguard._src.core.errors import StoreError, received
from vocabguard._src.core.store_names import GC_DIR, PINS_DIR, RECORD_RE, STALE_SECONDS, Ref
from vocabguard._src.core.store_records import json_bytes, older, utc_now

# A VocabStore, which imports this module (so not imported here: no cycle).
Store = Any


# Housekeeping records live next to the version directories, never inside them
# (a version is immutable), in directories whose names no version can have.
def pin_path(store: Store, name: str, version: int) -> str:
    """Where the pin of ``name@v<version>`` is (whether or not it exists)."""
    return f"{store._dir(name)}/{PINS_DIR}/v{int(version)}.json"


def pins(store: Store, name: str) -> dict[int, dict]:
    """Pinned versions of ``name``: ``{version: {"reason", "pinned_utc", "fingerprint"}}``."""
    found = {}
    for info in store._entries(f"{store._dir(name)}/{PINS_DIR}"):
        if match := RECORD_RE.match(info.base_name):
            record = store._read_json(info.path)
            if record is not None:  # unpinned since the listing
                found[int(match.group(1))] = {
                    key: record.get(key) for key in ("reason", "pinned_utc", "fingerprint")
                }
    return dict(sorted(found.items()))


def pin(store: Store, ref: str, reason: str | None = None) -> str:
    """Protect a version from gc; return its ``name@vN``. Pinning again updates the reason."""
    name, version = store.resolve(ref)
    path = pin_path(store, name, version)
    manifest = store.manifest(f"{name}@v{version}")
    before = store._read_json(path) or {}
    record = {
        "ref": f"{name}@v{version}",
        "fingerprint": manifest["fingerprint"],
        "reason": reason,
        "pinned_utc": before.get("pinned_utc") or utc_now(),
    }
    store.fs.create_dir(f"{store._dir(name)}/{PINS_DIR}", recursive=True)
    store._write_atomic(path, json_bytes(record))
    if before:
        return f"{name}@v{version}"  # already protected: only the reason changed
    # Handshake with gc, which announces a deletion *before* it checks for a pin:
    # either gc sees this pin and keeps the version, or this sees gc's intent.
    # The pin's own mtime is "now" by the store's clock, as the intents' are.
    pending = deletion_pending(store, name, version, now=store._mtime(path))
    if pending or not store._visible(name, version):
        store._delete_file(path)
        raise StoreError(
            f"{name}@v{version} is being deleted by a concurrent `vocabguard gc`, so it "
            f"was not pinned. Run `vocabguard list {name}` and pin it again if it is "
            "still listed. " + received(ref=ref),
            cases=[ref],
        )
    return f"{name}@v{version}"


def unpin(store: Store, ref: str) -> str:
    """Remove the pin of a version, so gc may delete it; return its ``name@vN``."""
    parsed = Ref.parse(ref)
    if parsed.version is not None and store._exists(pin_path(store, parsed.name, parsed.version)):
        name, version = parsed.name, parsed.version  # even if it no longer resolves
    else:
        name, version = store.resolve(ref)
    if not store._delete_file(pin_path(store, name, version)):
        pinned = ", ".join(f"v{v}" for v in store.pins(name)) or "none"
        raise StoreError(
            f"{name}@v{version} is not pinned, so there is nothing to unpin; pinned "
            f"versions of '{name}': {pinned}. " + received(ref=ref),
            cases=[ref],
        )
    return f"{name}@v{version}"


def deletion_pending(
    store: Store, name: str, version: int, *, now: datetime.datetime | None
) -> bool:
    """Whether a live gc has announced it is deleting ``version``; an intent counts as
    live unless it is ``STALE_SECONDS`` older than ``now`` (the store's clock)."""
    prefix = f"v{int(version)}-"
    for info in store._entries(f"{store._dir(name)}/{GC_DIR}"):
        if info.base_name.startswith(prefix) and not older(info, now, STALE_SECONDS):
            if store._local and not store.fs.handler.is_held(info.path):
                # Its gc died (kill -9, a crash): the lock died with it. A gc
                # between writing and locking its intent still sees this pin:
                # it looks for pins only once it holds the lock.
                continue
            return True
    return False
