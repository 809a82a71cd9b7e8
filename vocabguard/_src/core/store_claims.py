"""Claims: how publishers on an object store (no atomic directory rename) share numbers.

A publisher claims ``v<N>`` by writing an empty ``.claim-<tag>-<uuid>`` file into
it, then lists it: it proceeds only if its claim is all it sees. The tag is the
content's fingerprint and spec, so a publisher of identical content that claimed
a higher number waits for its twin (``await_twins``): identical concurrent
publishes give one version. ``VocabStore.publish`` calls ``publish_in_place``
where the filesystem cannot rename a directory atomically.

>>> import tempfile
>>> from vocabguard import VocabSpec, VocabStore, build_vocabulary
>>> store = VocabStore(tempfile.mkdtemp())
>>> store._atomic_rename = False  # publish as on an object store
>>> store.publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "demo").ref
'demo@v1'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
import uuid
from typing import Any

from vocabguard._src.core.artifact import (
    MANIFEST,
    as_published,
    build_manifest,
    check_written,
    dump_manifest,
)
from vocabguard._src.core.errors import StoreError, received
from vocabguard._src.core.store_names import CLAIM_PREFIX, MAX_PUBLISH_ATTEMPTS, VERSION_RE
from vocabguard._src.core.store_records import older
from vocabguard._src.core.vocabulary import Vocabulary

# A VocabStore, which imports this module (so not imported here: no cycle).
Store = Any


def claim_tag(vocab: Vocabulary) -> str:
    """What identifies a publish's content in its claim's name: fingerprint and spec."""
    spec = json.dumps(vocab.spec.to_dict(), sort_keys=True).encode()
    return hashlib.sha256(vocab.fingerprint.encode() + b"\0" + spec).hexdigest()[:32]


def publish_in_place(
    store: Store, vocab: Vocabulary, name: str, files: dict, vocab_txt: bytes
) -> Vocabulary:
    """Publish on an object store, which has no atomic directory rename.

    Claim a number by writing a claim file into ``v<N>``, then list ``v<N>``. A
    publisher proceeds only if its claim is all it sees there; of two racing claims
    at least one sees the other (stores whose writes and listings are strongly
    consistent: S3, GCS, local) and backs off. Then the files go in, manifest last,
    so the version is visible only when complete, and the claim is removed.

    The claim's name carries the content's fingerprint, so a publisher of identical
    content that claimed a higher number waits for its twin's lower claim to become
    a version (and returns it) or to disappear: identical concurrent publishes give
    one version.
    """
    tag = claim_tag(vocab)
    for version in store._numbers(name):
        if store._taken(name, version):
            continue
        target = store._dir(name, version)
        claim = f"{CLAIM_PREFIX}{tag}-{uuid.uuid4().hex}"
        store.fs.create_dir(target, recursive=True)
        with store.fs.open_output_stream(f"{target}/{claim}"):
            pass  # an empty marker, not part of the version
        if [i.base_name for i in store._entries(target)] != [claim]:
            store._delete_file(f"{target}/{claim}")
            unchanged = store._unchanged(vocab, name)
            if unchanged is not None:
                return unchanged
            continue
        store._pause("claimed", name, version)
        unchanged = store._unchanged(vocab, name) or await_twins(
            store, vocab, name, version, tag, claim
        )
        if unchanged is not None:
            store._delete_file(f"{target}/{claim}")  # v<N> stays used, never reused
            return unchanged
        vocab.version = version
        written = []
        manifest = dump_manifest(build_manifest(vocab, files, vocab_txt))
        where = f"{store.root}/{name}/v{version}"
        try:
            for file_name, data in files.items():
                written.append(store._file(name, version, file_name))
                store._write(written[-1], data)
            store._write(store._file(name, version, MANIFEST), manifest)
            # Checked from the buffers just written (the manifest's sha256 are theirs):
            # the version is not read back and reparsed.
            sizes = {store._file(name, version, f): len(data) for f, data in files.items()}
            sizes[store._file(name, version, MANIFEST)] = len(manifest)
            check_written(store.fs, sizes, where)
        except BaseException:
            # A failed write (a full bucket, no permission) leaves no files behind,
            # nor a claim that a twin would wait for.
            for path in [*written, f"{target}/{claim}"]:
                with contextlib.suppress(OSError, StoreError):
                    store._delete_file(path)
            raise
        store._delete_file(f"{target}/{claim}")
        return as_published(vocab, manifest, where)
    raise StoreError(
        f"Could not claim a version number for '{name}' in {MAX_PUBLISH_ATTEMPTS} "
        "attempts: other publishers kept taking them. Publish again. " + received(name=name)
    )


def await_twins(
    store: Store, vocab: Vocabulary, name: str, version: int, tag: str, claim: str
) -> Vocabulary | None:
    """Wait for lower claims of the same content; the version one became, or None."""
    deadline = time.monotonic() + store.twin_wait_seconds
    # A twin's age is measured against our own claim, both stamped by the server's
    # clock: this machine's clock may run minutes ahead or behind it.
    now = store._mtime(f"{store._dir(name, version)}/{claim}")
    while True:
        visible = store.versions(name)
        pending = [
            int(m.group(1))
            for info in store._entries(store._dir(name))
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
                and not older(i, now, store.twin_wait_seconds)
                for i in store._entries(store._dir(name, v))
            )
        ]
        if not twins:
            return store._unchanged(vocab, name)
        store._pause("twin", name, version)
        unchanged = store._unchanged(vocab, name)
        if unchanged is not None:
            return unchanged
        if time.monotonic() > deadline:
            return None  # a twin that died while publishing: publish ours
        time.sleep(0.05)
