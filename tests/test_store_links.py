"""Links under every store path, and links swapped in while the store works.

On a local disk every path below the root is opened from a handle of the root, one
component at a time, never through a link (``rooted_dir``). A link anywhere below the
root (``.pins``, ``.gc``, a tombstone, a staging directory, a version being claimed)
is refused with a ``StoreError`` naming it, and nothing outside the root is read,
written or deleted; also while a directory of the store is exchanged with a link
(``renameat2(RENAME_EXCHANGE)``) over and over while publishes, pins and gc run.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import threading
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.artifact import MANIFEST
from vocabguard._src.core.store import GC_DIR, PINS_DIR, STAGING_PREFIX, TOMBSTONE
from vocabguard.errors import StoreError, VersionNotFoundError


def build(text: str):
    return build_vocabulary([text], VocabSpec(), progress=False)


def snapshot(directory: Path) -> dict[str, str]:
    """Every entry below ``directory`` (links not followed): path -> kind and content hash."""
    found = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(base) / name
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                found[rel] = f"link {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def outside(tmp_path) -> Path:
    """A directory outside the store that looks like a store's, to tempt a write or delete."""
    outside = tmp_path / "outside"
    (outside / "v1").mkdir(parents=True)
    (outside / "v1.json").write_text('{"reason": "not the store\'s"}')
    (outside / "v1" / MANIFEST).write_text("not the store's")
    (outside / "v1-0123").write_text("an intent that is not the store's")
    return outside


def published(store: VocabStore, count: int = 3) -> list:
    return [store.publish(build(f"text number {i}"), "news") for i in range(count)]


# -- point 1: a link under each housekeeping path --


def test_a_linked_pins_directory_is_refused_by_pin_unpin_list_and_gc(store, store_root, outside):
    published(store)
    before = snapshot(outside)
    link = store_root / "news" / PINS_DIR
    link.symlink_to(outside, target_is_directory=True)
    for operation in (
        lambda: store.pin("news@v1", reason="prod"),
        lambda: store.unpin("news@v1"),
        lambda: store.pins("news"),
        lambda: store.gc("news", keep=1),
        lambda: store.versions("news"),  # any listing of the name meets the link
    ):
        with pytest.raises(StoreError) as info:
            operation()
        assert str(info.value).startswith(f"{link} is a symbolic link (to {outside}) inside")
    assert snapshot(outside) == before  # v1.json neither overwritten nor deleted
    link.unlink()
    assert store.versions("news") == [1, 2, 3]  # gc stopped before deleting anything


def test_a_linked_gc_directory_is_refused_and_no_intent_is_written_through_it(
    store, store_root, outside
):
    published(store)
    before = snapshot(outside)
    link = store_root / "news" / GC_DIR
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError, match=f"{link} is a symbolic link"):
        store.gc("news", keep=1)
    with pytest.raises(StoreError, match=f"{link} is a symbolic link"):
        store.pin("news@v1")  # its handshake lists .gc
    assert snapshot(outside) == before
    link.unlink()
    assert store.versions("news") == [1, 2, 3]


def test_a_linked_tombstone_is_refused_and_its_target_kept(store, store_root, outside):
    published(store)
    assert store.gc("news", keep=1) == ["news@v1", "news@v2"]
    tombstone = store_root / "news" / "v1" / TOMBSTONE
    tombstone.unlink()
    tombstone.symlink_to(outside / "v1.json")
    before = snapshot(outside)
    with pytest.raises(StoreError, match=f"{tombstone} is a symbolic link"):
        store.load("news@v1")  # reads the tombstone to say when gc deleted it
    with pytest.raises(StoreError, match=f"{tombstone} is a symbolic link"):
        store.gc("news", keep=1)  # lists v1 for leftovers
    assert snapshot(outside) == before


def test_a_linked_staging_directory_is_neither_written_nor_deleted(store, store_root, outside):
    published(store, 1)
    link = store_root / "news" / f"{STAGING_PREFIX}old"
    link.symlink_to(outside, target_is_directory=True)
    os.utime(link, (0, 0), follow_symlinks=False)  # "untouched for an hour": a leftover
    before = snapshot(outside)
    for operation in (
        lambda: store.publish(build("new words"), "news"),
        lambda: store.gc("news", keep=1),
    ):
        with pytest.raises(StoreError, match=f"{link} is a symbolic link"):
            operation()
    assert snapshot(outside) == before
    assert link.is_symlink()


@pytest.mark.parametrize("where", ["version", "claim"])
def test_a_claimed_version_that_is_a_link_is_refused(store, store_root, outside, where):
    """The object-store protocol (claim files in ``v<N>``) on a local disk."""
    store._atomic_rename = False
    published(store, 1)
    if where == "version":
        link = store_root / "news" / "v2"
        link.symlink_to(outside / "v1", target_is_directory=True)
    else:
        (store_root / "news" / "v2").mkdir()
        link = store_root / "news" / "v2" / ".claim-abc"
        link.symlink_to(outside / "v1.json")
    before = snapshot(outside)
    with pytest.raises(StoreError, match=f"{link} is a symbolic link"):
        store.publish(build("new words"), "news")
    assert snapshot(outside) == before


def test_a_linked_name_in_the_root_is_named_and_nothing_is_followed(store, store_root, outside):
    published(store, 1)
    link = store_root / "evil"
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for operation in (
        store.names,
        lambda: store.publish(build("x"), "evil"),
        lambda: store.load("evil@v1"),
        lambda: store.gc("evil", keep=1),
    ):
        with pytest.raises(StoreError, match=f"{link} is a symbolic link"):
            operation()
    assert snapshot(outside) == before
    assert store.load("news").ref == "news@v1"  # other names keep working


PLACES = [
    "news",
    f"news/{PINS_DIR}",
    f"news/{GC_DIR}",
    f"news/{STAGING_PREFIX}x",
    "news/v9",
    f"news/v1/{TOMBSTONE}",
    f"news/v1/{MANIFEST}",
    f"news/{PINS_DIR}/v1.json",
]
OPERATIONS = ["publish", "pin", "unpin", "gc", "load", "verify", "pins", "versions"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True),
    operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=6),
)
def test_links_anywhere_below_the_root_never_let_anything_outside_change(
    tmp_path_factory, places, operations
):
    """Property: whatever links are placed and whatever runs, each operation succeeds
    or raises an error, and the directory the links point to is unchanged."""
    tmp = tmp_path_factory.mktemp("links")
    root, outside = tmp / "store", tmp / "outside"
    (outside / "v1").mkdir(parents=True)
    (outside / "v1.json").write_text("{}")
    store = VocabStore(root)
    store.publish(build("first words"), "news")
    store.pin("news@v1")
    for place in places:
        path = root / place
        if path.is_symlink() or not path.parent.is_dir():
            continue
        if path.is_dir():
            os.rename(path, tmp / f"moved-{path.name}")
        elif path.exists():
            path.unlink()
        path.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    for i, operation in enumerate(operations):
        text = f"words {i}"
        call = {
            "publish": lambda: store.publish(build(text), "news"),  # noqa: B023 (called at once)
            "pin": lambda: store.pin("news@v1"),
            "unpin": lambda: store.unpin("news@v1"),
            "gc": lambda: store.gc("news", keep=1),
            "load": lambda: store.load("news@latest"),
            "verify": lambda: store.verify("news@latest"),
            "pins": lambda: store.pins("news"),
            "versions": lambda: store.versions("news"),
        }[operation]
        try:
            call()
        except (StoreError, VersionNotFoundError):
            pass  # refused (a link) or nothing to do (unpinned twice)
        except Exception as err:  # anything else from the store is a defect
            raise AssertionError(f"{operation} raised {err!r}") from err
    assert snapshot(outside) == before


# -- point 2: a directory exchanged with a link while the store works --

RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is None:
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    return function


def exchanger():
    """``exchange(a, b)``: swap two paths atomically (``renameat2(RENAME_EXCHANGE)``); where
    the C library or the filesystem lacks it, two ``os.replace`` calls through a third
    name (the swap is then not atomic, which only widens the window it attacks)."""
    function = _renameat2()

    def by_replace(a: Path, b: Path) -> None:
        hold = a.with_name(a.name + ".hold")
        os.replace(a, hold)
        os.replace(b, a)
        os.replace(hold, b)

    def exchange(a: Path, b: Path) -> None:
        if function is None:
            return by_replace(a, b)
        if function(_AT_FDCWD, bytes(a), _AT_FDCWD, bytes(b), RENAME_EXCHANGE) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOSYS):
                return by_replace(a, b)
            raise OSError(err, os.strerror(err), str(a))
        return None

    return exchange


def test_a_name_exchanged_with_a_link_during_publishes_pins_and_gc(tmp_path):
    """The attack: ``store/news`` and a link to an outside directory trade places over
    and over (``renameat2(RENAME_EXCHANGE)``) while threads publish, pin, unpin and gc.

    Bounded: at most ROUNDS operations per thread and DEADLINE seconds. Asserted,
    whatever the interleaving: nothing below the outside directory was created,
    changed or deleted; each publish that returned is in the store (its version
    loads with its fingerprint, or gc's tombstone records that fingerprint).
    """
    rounds, deadline = 12, time.monotonic() + 60
    root, outside = tmp_path / "store", tmp_path / "outside"
    (outside / "v1").mkdir(parents=True)
    (outside / "v1.json").write_text("{}")
    store = VocabStore(root)
    store.publish(build("first words"), "news")
    swap = root / ".swap"  # inside the root: the real directory never leaves it
    swap.symlink_to(outside, target_is_directory=True)
    before = snapshot(outside)
    exchange = exchanger()
    stop = threading.Event()
    successes, errors, unexpected, exchanges = [], [], [], [0]

    def attacker():
        while not stop.is_set():
            exchange(root / "news", swap)
            exchanges[0] += 1

    def publisher(worker: int):
        for i in range(rounds):
            if time.monotonic() > deadline:
                return
            vocab = build(f"worker {worker} round {i} words")
            try:
                got = store.publish(vocab, "news")
                successes.append((got.ref, vocab.fingerprint))
            except StoreError as err:
                errors.append(err)
            except Exception as err:  # reported below
                unexpected.append(err)

    def housekeeper():
        for i in range(rounds):
            if time.monotonic() > deadline:
                return
            reason = f"round {i}"
            for operation in (
                lambda: store.pin("news@v1", reason=reason),  # noqa: B023 (called at once)
                lambda: store.gc("news", keep=2),
                lambda: store.unpin("news@v1"),
            ):
                try:
                    operation()
                except StoreError as err:
                    errors.append(err)
                except Exception as err:  # reported below
                    unexpected.append(err)

    threads = [threading.Thread(target=attacker)] + [
        threading.Thread(target=publisher, args=(w,)) for w in range(2)
    ]
    threads.append(threading.Thread(target=housekeeper))
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join()
    stop.set()
    threads[0].join()
    if (root / "news").is_symlink():
        exchange(root / "news", swap)  # put the real directory back
    assert not (root / "news").is_symlink() and swap.is_symlink()

    assert snapshot(outside) == before  # nothing created, changed or deleted outside
    # Every refusal is a store error (a link met, or a race lost), never a raw OSError.
    assert unexpected == [], "".join(traceback.format_exception(unexpected[0]))
    swap.unlink()
    for ref, fingerprint in successes:
        version = int(ref.rsplit("@v", 1)[1])
        tombstone = root / "news" / f"v{version}" / TOMBSTONE
        if tombstone.exists():  # collected by the gc thread since
            assert json.loads(tombstone.read_text())["fingerprint"] == fingerprint
        else:
            assert store.load(ref).fingerprint == fingerprint
    assert exchanges[0] > 0
