"""Failed writes, hostile files and unreadable parts of a local store.

- A write that fails (a full disk, no permission) removes its temporary file and
  names the path; a gc intent whose write failed never blocks ``pin``.
- A 3 GiB (sparse) ``manifest.json`` is refused at the size limit, never read whole;
  a FIFO in place of a version file is refused without blocking ``list``/``verify``.
- One unreadable version leaves the others readable; permission errors say
  "permission denied"; a store that does not exist is an error on read commands.

Full disks are a real small tmpfs where this process may mount one (root on Linux),
and an injected ``OSError(ENOSPC)`` from ``os.write`` otherwise, and in the tests
that aim at one particular write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from unittest import mock

import pytest
import test_object_store
from time_limit import bounded

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.artifact import MANIFEST, TOKENS, VOCAB_TXT
from vocabguard._src.core.store import GC_DIR, PINS_DIR, STAGING_PREFIX, TOMBSTONE
from vocabguard.cli import main
from vocabguard.errors import ArtifactError, StoreError, VersionNotFoundError

VERSION = {MANIFEST, TOKENS, VOCAB_TXT}
# The moto S3 server of the object-store tests (a module-scoped fixture: one server here).
endpoint = test_object_store.endpoint
CREDENTIALS = test_object_store.CREDENTIALS


def build(text: str):
    return build_vocabulary([text], VocabSpec(), progress=False)


def published(store: VocabStore, count: int = 3) -> list:
    return [store.publish(build(f"text number {i} words"), "news") for i in range(count)]


def fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def failing_writes(fragment: str, code: int = errno.ENOSPC) -> contextlib.AbstractContextManager:
    """``os.write`` fails with ``code`` for files whose path holds ``fragment`` (a disk
    that fills up exactly there); every other write goes through."""
    real = os.write

    def write(fd, data):
        if fragment in fd_path(fd):
            raise OSError(code, os.strerror(code))
        return real(fd, data)

    return mock.patch.object(os, "write", write)


def refused_opens(name: str, *, directory: bool) -> contextlib.AbstractContextManager:
    """``os.open`` of the entry ``name`` (a directory, or a file for reading) fails with
    EACCES, as for a user without permission (chmod has no effect on root)."""
    real = os.open

    def open_(path, flags, *args, **kwargs):
        wants_dir = bool(flags & os.O_DIRECTORY)
        if os.path.basename(str(path)) == name and wants_dir == directory:
            if not flags & (os.O_WRONLY | os.O_RDWR):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, flags, *args, **kwargs)

    return mock.patch.object(os, "open", open_)


def debris(root: Path) -> list[str]:
    """Temporary files, staging directories and gc intents anywhere in the store."""
    found = []
    for base, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = Path(base) / entry
            if ".tmp-" in entry or entry.startswith(STAGING_PREFIX) or path.parent.name == GC_DIR:
                found.append(str(path.relative_to(root)))
    return found


# -- failed writes --


def test_gc_on_a_full_disk_leaves_no_temp_tombstone_and_the_version_verifies(store, store_root):
    published(store)
    with failing_writes(f"/v1/{TOMBSTONE}.tmp-"), pytest.raises(StoreError) as info:
        store.gc("news", keep=1)
    message = str(info.value)
    assert message.startswith(f"Cannot write {store_root}/news/v1/{TOMBSTONE}.tmp-")
    assert ": no space left on device. Free space on that disk" in message
    assert debris(store_root) == []
    assert set(os.listdir(store_root / "news" / "v1")) == VERSION
    assert store.verify("news@v1")["version"] == 1  # no "Something other than vocabguard"
    assert store.gc("news", keep=1) == ["news@v1", "news@v2"]  # space freed: it works


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_gc_intent_that_could_not_be_written_never_blocks_a_pin(store, store_root, code):
    published(store)
    with failing_writes(f"/{GC_DIR}/v1-", code), pytest.raises(StoreError) as info:
        store.gc("news", keep=1)
    assert f"Cannot write {store_root}/news/{GC_DIR}/v1-" in str(info.value)
    assert os.strerror(code).lower() in str(info.value)
    assert os.listdir(store_root / "news" / GC_DIR) == []  # no empty intent left
    assert store.pin("news@v1", reason="right after") == "news@v1"  # not "being deleted"
    assert store.versions("news") == [1, 2, 3]


KILLED_GC = """
import os, signal, sys
from vocabguard import VocabStore
store = VocabStore(sys.argv[1])
real_exists = store._exists

def die_at_the_pin_check(path):
    if "/.pins/" in path:  # the intent is written and locked: now it dies
        os.kill(os.getpid(), signal.SIGKILL)
    return real_exists(path)

store._exists = die_at_the_pin_check
store.gc("news", keep=1)
"""


def test_the_intent_of_a_killed_gc_does_not_block_a_pin(store, store_root):
    """kill -9 leaves the intent file, but its lock died with the process: a pin right
    after is not refused (no hour of waiting for the intent to go stale)."""
    published(store)
    result = subprocess.run(
        [sys.executable, "-c", KILLED_GC, str(store_root)], capture_output=True, timeout=300
    )
    assert result.returncode == -signal.SIGKILL
    intents = os.listdir(store_root / "news" / GC_DIR)
    assert len(intents) == 1 and intents[0].startswith("v1-")
    assert store.pin("news@v1", reason="right after") == "news@v1"
    assert store.gc("news", keep=1) == ["news@v2"]  # the pin holds
    assert store.versions("news") == [1, 3]


def test_a_live_gc_intent_still_refuses_a_pin(store, store_root):
    published(store)
    intent = store_root / "news" / GC_DIR / "v1-live"
    intent.parent.mkdir()
    intent.write_text("")
    live = store.fs.handler.hold(str(intent))
    try:
        with pytest.raises(StoreError, match="is being deleted by a concurrent"):
            store.pin("news@v1")
    finally:
        os.close(live)
    assert store.pin("news@v1") == "news@v1"  # its gc is gone


def test_a_publish_on_a_full_disk_names_the_file_and_leaves_no_staging(store, store_root):
    published(store, 1)
    with failing_writes(f"/{TOKENS}"), pytest.raises(StoreError) as info:
        store.publish(build("new words"), "news")
    message = str(info.value)
    assert message.startswith(f"Cannot write {store_root}/news/{STAGING_PREFIX}")
    assert f"/{TOKENS}: no space left on device." in message
    assert info.value.cases == [info.value.path]
    assert debris(store_root) == []
    assert store.versions("news") == [1]


def test_a_failed_in_place_publish_leaves_no_files_nor_claim(store, store_root):
    """The object-store protocol (claim, files, manifest last) on a local disk: a
    failed write removes what it wrote and its claim, which a twin would wait for."""
    store._atomic_rename = False
    published(store, 1)
    with failing_writes(f"/v2/{VOCAB_TXT}"), pytest.raises(StoreError) as info:
        store.publish(build("new words"), "news")
    assert str(info.value).startswith(f"Cannot write {store_root}/news/v2/{VOCAB_TXT}: no space")
    assert os.listdir(store_root / "news" / "v2") == []
    assert store.versions("news") == [1]
    assert store.publish(build("new words"), "news").ref == "news@v3"  # v2 stays used


def test_a_pin_on_a_full_disk_leaves_no_temp_record(store, store_root):
    published(store)
    with failing_writes(f"/{PINS_DIR}/v2.json.tmp-"), pytest.raises(StoreError) as info:
        store.pin("news@v2")
    assert f"Cannot write {store_root}/news/{PINS_DIR}/v2.json.tmp-" in str(info.value)
    assert debris(store_root) == [] and store.pins("news") == {}


def test_permission_denied_on_a_write_names_the_path(store, store_root):
    published(store, 1)
    real = os.open

    def open_(path, flags, *args, **kwargs):
        if path == TOKENS and flags & os.O_WRONLY:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real(path, flags, *args, **kwargs)

    os.open = open_
    try:
        with pytest.raises(StoreError) as info:
            store.publish(build("new words"), "news")
    finally:
        os.open = real
    message = str(info.value)
    assert message.startswith(f"Cannot write {store_root}/news/{STAGING_PREFIX}")
    assert f"/{TOKENS}: permission denied. Give this user write permission there" in message
    assert debris(store_root) == []


@contextlib.contextmanager
def small_disk(path: Path, size: str = "512k"):
    """A tmpfs of ``size`` mounted at ``path``; None where this process may not mount."""
    path.mkdir()
    mounted = False
    if os.geteuid() == 0:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=30,
        )
        mounted = result.returncode == 0
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def fill(directory: Path) -> Path:
    """Write a file in ``directory`` until the disk is full; return it."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"x" * 4096)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"x")
    return filler


def test_a_full_disk_end_to_end(tmp_path):
    """The whole store on a full disk: a real tmpfs (filled to 0 bytes free) where it
    can be mounted, else every write under the store fails with an injected ENOSPC.
    gc, pin and publish fail naming a path, leave nothing behind, and work once
    there is space again."""
    with small_disk(tmp_path / "disk") as disk:
        root = (disk or tmp_path / "disk") / "store"
        store = VocabStore(root)
        published(store)
        filler = fill(disk) if disk else None
        with contextlib.nullcontext() if disk else failing_writes(str(root)):
            for operation in (
                lambda: store.gc("news", keep=1),
                lambda: store.pin("news@v1"),
                lambda: store.publish(build("more words than fit"), "news"),
            ):
                with pytest.raises(StoreError) as info:
                    operation()
                assert str(info.value).startswith(f"Cannot write {root}/news/")
                assert ": no space left on device." in str(info.value)
                assert debris(root) == []
            for version in (1, 2, 3):
                assert store.verify(f"news@v{version}")["version"] == version
        if filler:
            filler.unlink()
        assert store.pin("news@v1") == "news@v1"
        assert store.gc("news", keep=1) == ["news@v2"]
        assert store.publish(build("more words than fit"), "news").ref == "news@v4"
        assert debris(root) == []


# -- hostile files --


@pytest.mark.parametrize("file_name", [MANIFEST, TOKENS, VOCAB_TXT])
def test_a_fifo_in_place_of_a_version_file_is_refused_without_blocking(
    store, store_root, capsys, file_name
):
    published(store)
    fifo = store_root / "news" / "v1" / file_name
    fifo.unlink()
    os.mkfifo(fifo)
    with bounded(60, f"verify and load with a FIFO as {file_name}"):
        for check in (store.verify, store.load):
            with pytest.raises(StoreError) as info:
                check("news@v1")
            assert str(info.value).startswith(
                f"{fifo} is a FIFO (named pipe), not a regular file; the store reads only "
                "regular files"
            )
        assert store.verify("news@latest")["version"] == 3
        assert main(["list", "--verify", "--store", str(store_root)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["news@v1", "FAILED", "VERIFICATION"]
    assert [line.split()[0] for line in lines[1:]] == ["news@v2", "news@v3"]
    assert f"{fifo} is a FIFO" in err


def test_a_directory_or_device_in_place_of_a_version_file_is_refused_unopened(store, store_root):
    """A device is refused before it is opened (opening one may act); a character
    device (/dev/zero's numbers) is made where this process may (root)."""
    published(store)
    kinds = {"a directory": lambda path: path.mkdir()}
    if os.geteuid() == 0:
        kinds["a character device"] = lambda path: os.mknod(
            path, 0o600 | stat.S_IFCHR, os.makedev(1, 5)
        )
    for kind, make in kinds.items():
        path = store_root / "news" / "v1" / TOKENS
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
        make(path)
        with pytest.raises(StoreError) as info:
            store.load("news@v1")
        assert str(info.value).startswith(f"{path} is {kind}, not a regular file")
    assert store.verify("news@latest")["version"] == 3


def test_a_huge_sparse_manifest_is_refused_at_the_limit_not_read(store, store_root, capsys):
    published(store)
    manifest = store_root / "news" / "v1" / MANIFEST
    with open(manifest, "r+b") as f:
        f.truncate(3 << 30)  # 3 GiB, sparse: no disk used
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for check in (store.verify, store.manifest, store.load):
        with pytest.raises(ArtifactError) as info:
            check("news@v1")
        assert str(info.value).startswith(
            f"{manifest} is larger than 16,777,216 bytes, the limit for a manifest"
        )
        assert "raise VOCABGUARD_MAX_MANIFEST_BYTES" in str(info.value)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown < 1 << 20  # under 1 GiB more at the peak: 3 GiB were never read
    assert main(["list", "--store", str(store_root)]) == 1
    out, _ = capsys.readouterr()
    assert out.splitlines()[0].split() == ["news@v1", "UNREADABLE"]
    assert store.verify("news@latest")["version"] == 3


def test_the_manifest_limit_is_a_knob(store, monkeypatch):
    published(store, 1)
    monkeypatch.setenv("VOCABGUARD_MAX_MANIFEST_BYTES", "100")
    with pytest.raises(ArtifactError, match=r"is larger than 100 bytes.*limit=100"):
        store.load("news")


# -- unreadable parts, a store that does not exist --


def test_one_unreadable_version_directory_leaves_the_others_working(store, store_root, capsys):
    published(store)
    with refused_opens("v1", directory=True):
        assert store.versions("news") == [1, 2, 3]  # v1 counts: its number is used
        assert store.verify("news@latest")["version"] == 3
        assert store.load("news@v2").ref == "news@v2"
        with pytest.raises(StoreError) as info:
            store.verify("news@v1")
        assert str(info.value).startswith(
            f"Cannot read {store_root}/news/v1: permission denied. Give this user read "
            "permission there"
        )
        assert main(["list", "--store", str(store_root)]) == 1
        assert main(["verify", "news@latest", "--store", str(store_root)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["news@v1", "UNREADABLE"]
    assert [line.split()[0] for line in lines[1:3]] == ["news@v2", "news@v3"]
    assert lines[3].startswith("OK news@v3 ")
    assert "permission denied" in err and "missing" not in err


def test_an_unreadable_file_is_permission_denied_not_missing(store, store_root):
    published(store, 1)
    with refused_opens(TOKENS, directory=False), pytest.raises(StoreError) as info:
        store.load("news")
    assert str(info.value).startswith(
        f"Cannot read {store_root}/news/v1/{TOKENS}: permission denied."
    )
    assert "missing" not in str(info.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["list", "news"],
        ["verify", "news"],
        ["inspect", "news"],
        ["diff", "news@v1", "news@v2"],
        ["pin", "news@v1"],
        ["unpin", "news@v1"],
        ["gc", "news", "--keep", "1"],
    ],
)
def test_a_store_that_does_not_exist_is_an_error_on_every_read_command(tmp_path, capsys, argv):
    root = tmp_path / "no-such-store"
    assert main([*argv, "--store", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"The store {root} does not exist (no directory or bucket there)" in err
    assert "Traceback" not in err
    assert not root.exists()  # only build/publish create a store


def test_only_a_publish_creates_the_root(tmp_path):
    store = VocabStore(tmp_path / "new")
    with pytest.raises(VersionNotFoundError, match="does not exist"):
        store.load("news")
    assert not (tmp_path / "new").exists()
    assert store.publish(build("a b"), "news").ref == "news@v1"
    assert store.root_exists()


def test_a_bucket_that_does_not_exist_is_an_error(endpoint, capsys, monkeypatch):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = f"no-such-{uuid.uuid4().hex[:12]}"
    uri = f"s3://{bucket}/store?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    store = VocabStore(uri)
    assert not store.root_exists()
    with pytest.raises(StoreError) as info:
        store.require_root()
    assert str(info.value).startswith(f"The store {uri} does not exist")
    for argv in (["list"], ["verify", "news"]):
        assert main([*argv, "--store", uri]) == 1
        assert "does not exist (no directory or bucket there)" in capsys.readouterr().err
