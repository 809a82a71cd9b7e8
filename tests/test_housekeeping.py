"""Store housekeeping: list (parent, pins), pin / unpin, gc, and concurrent processes.

The concurrency tests run real processes (``python -c``) that are released together
by a file signal, so their publishes, loads and gcs overlap on the same store.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.artifact import MANIFEST
from vocabguard._src.core.store import GC_DIR, PINS_DIR, STAGING_PREFIX, TOMBSTONE
from vocabguard.cli import main
from vocabguard.cli.store import list_line
from vocabguard.errors import ConfigError, InvalidNameError, StoreError, VersionNotFoundError

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
SCRIPT = Path(sys.executable).with_name("vocabguard")
HOUR = 3600


def build(values, parent=None):
    return build_vocabulary(values, VocabSpec(), parent=parent, progress=False)


def texts(i: int) -> list[str]:
    """Content of the i-th distinct vocabulary (i + 1 learned tokens)."""
    return [" ".join(f"tok{j}" for j in range(i + 1))]


def publish_versions(store: VocabStore, name: str, count: int) -> list:
    return [store.publish(build(texts(i)), name) for i in range(count)]


def cli(capsys, store_root, *argv) -> tuple[int, str, str]:
    code = main([*argv, "--store", str(store_root)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its sha256 (directories as ``dir``)."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for d in dirs:
            found[os.path.relpath(os.path.join(directory, d), root)] = "dir"
        for f in files:
            path = os.path.join(directory, f)
            found[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


def age(path: Path, seconds: float) -> None:
    """Make ``path`` (and what is directly in it) look ``seconds`` old."""
    then = time.time() - seconds
    for entry in [*path.iterdir(), path] if path.is_dir() else [path]:
        os.utime(entry, (then, then))


# -- list, pin, unpin --


def test_pin_unpin_and_list_through_the_cli(capsys, store, store_root):
    published = publish_versions(store, "news", 3)
    code, out, _ = cli(capsys, store_root, "pin", "news@v2", "--reason", "model prod-1")
    assert (code, out) == (0, "pinned news@v2\n")

    code, out, _ = cli(capsys, store_root, "list", "news")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == ["news@v1", "news@v2", "news@v3"]
    assert lines[1].endswith(" pinned(model prod-1)")
    assert "pinned" not in lines[0] and "pinned" not in lines[2]
    record = store.pins("news")
    assert list(record) == [2] and record[2]["reason"] == "model prod-1"
    assert record[2]["fingerprint"] == published[1].fingerprint
    pinned_utc = datetime.datetime.fromisoformat(record[2]["pinned_utc"])
    assert abs(datetime.datetime.now(datetime.timezone.utc) - pinned_utc).total_seconds() < HOUR

    # Pinning again (by fingerprint prefix) updates the reason, not the pin time.
    code, out, _ = cli(
        capsys, store_root, "pin", f"news@{published[1].fingerprint[:10]}", "--reason", "prod-2"
    )
    assert (code, out) == (0, "pinned news@v2\n")
    assert store.pins("news")[2] == {**record[2], "reason": "prod-2"}

    # A pin lives beside the version: the version's own files are untouched.
    assert store.verify("news@v2")["fingerprint"] == published[1].fingerprint
    assert (store_root / "news" / PINS_DIR / "v2.json").is_file()
    assert sorted(p.name for p in (store_root / "news" / "v2").iterdir()) == sorted(
        ["manifest.json", "tokens.parquet", "vocab.txt"]
    )
    assert store.versions("news") == [1, 2, 3] and store.names() == ["news"]

    code, out, _ = cli(capsys, store_root, "unpin", "news@v2")
    assert (code, out) == (0, "unpinned news@v2\n")
    assert store.pins("news") == {}
    code, out, _ = cli(capsys, store_root, "list", "news")
    assert "pinned" not in out and len(out.splitlines()) == 3


def test_pin_without_reason_and_list_json(capsys, store, store_root):
    root = store.publish(build(texts(0)), "news")
    child = store.publish(build(texts(1), parent=root), "news")
    store.pin("news@v1")
    code, out, _ = cli(capsys, store_root, "list", "--json")
    entries = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["ref"] for e in entries] == ["news@v1", "news@v2"]
    for entry, vocab in zip(entries, (root, child)):
        manifest = store.manifest(vocab.ref)
        assert entry["fingerprint"] == vocab.fingerprint
        assert entry["input_dim"] == vocab.input_dim
        assert entry["created_utc"] == manifest["build"]["created_utc"]
        assert entry["bytes"] == sum(meta["bytes"] for meta in manifest["files"].values())
        assert entry["learned"] == vocab.layout.num_learned
    assert (entries[0]["parent"], entries[0]["pinned"], entries[0]["pin_reason"]) == (
        None,
        True,
        None,
    )
    assert (
        entries[1]["parent"] == "news@v1" and entries[1]["parent_fingerprint"] == root.fingerprint
    )
    assert entries[1]["pinned"] is False

    code, out, _ = cli(capsys, store_root, "list")
    first, second = out.splitlines()
    assert first.endswith("parent=- pinned")
    assert second.endswith("parent=news@v1")


def test_list_line_of_an_unpublished_parent_shows_its_fingerprint():
    parent = build(texts(0))  # never published: no ref
    child = build(texts(1), parent=parent)
    child.name, child.version = "news", 1
    from vocabguard._src.core.artifact import build_manifest, render_files

    line = list_line(build_manifest(child, *render_files(child)))
    assert line.split()[-1] == f"parent={parent.fingerprint[:12]}"


def test_pin_and_unpin_errors(capsys, store, store_root):
    publish_versions(store, "news", 2)
    store.pin("news@v1", reason="keep")
    code, out, err = cli(capsys, store_root, "unpin", "news@v2")
    assert (code, out) == (1, "")
    assert err == (
        "vocabguard: error: news@v2 is not pinned, so there is nothing to unpin; pinned "
        "versions of 'news': v1. Received: ref='news@v2'\n"
    )
    with pytest.raises(StoreError) as info:
        store.unpin("news@v2")
    assert info.value.cases == ["news@v2"]

    store.unpin("news@v1")
    with pytest.raises(StoreError) as info:
        store.unpin("news")  # latest = v2
    assert "pinned versions of 'news': none." in str(info.value)

    code, _, err = cli(capsys, store_root, "pin", "news@v7")
    assert code == 1 and "'news' has no version v7; published: v1, v2." in err
    code, _, err = cli(capsys, store_root, "pin", "nope")
    assert (
        code == 1 and "No published vocabulary named 'nope'" in err and "names there: news" in err
    )
    assert store.pins("news") == {}


def test_pin_and_list_in_a_real_process(store, store_root):
    publish_versions(store, "news", 2)
    run = [str(SCRIPT), "--store", str(store_root)]
    result = subprocess.run(
        [*run, "pin", "news@v1", "--reason", "served by model A"],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )
    assert (result.returncode, result.stdout) == (0, "pinned news@v1\n"), result.stderr
    result = subprocess.run(
        [*run, "list", "news"], capture_output=True, text=True, timeout=300, env=ENV
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("news@v1") and lines[0].endswith("pinned(served by model A)")
    assert lines[1].startswith("news@v2") and "pinned" not in lines[1]
    result = subprocess.run(
        [*run, "gc", "news", "--keep", "1"], capture_output=True, text=True, timeout=300, env=ENV
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert "deleted 0 versions of news; kept the newest 1 and the pinned ones (v1)." in (
        result.stderr
    )


# -- gc --


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    count=st.integers(1, 6),
    keep=st.integers(1, 7),
    pinned=st.sets(st.integers(1, 6), max_size=3),
)
def test_gc_keeps_the_latest_the_pinned_and_the_newest_n(count, keep, pinned):
    pinned = {v for v in pinned if v <= count}
    with tempfile.TemporaryDirectory() as root:
        store = VocabStore(root)
        published = publish_versions(store, "news", count)
        for version in pinned:
            store.pin(f"news@v{version}")
        numbers = [v.version for v in published]
        kept = set(numbers[-keep:]) | pinned | {numbers[-1]}
        expected = [f"news@v{v}" for v in numbers if v not in kept]

        assert store.gc("news", keep=keep, dry_run=True) == expected
        assert store.versions("news") == numbers
        assert store.gc("news", keep=keep) == expected
        assert store.versions("news") == sorted(kept)
        for vocab in published:
            if vocab.version in kept:
                assert store.verify(vocab.ref)["fingerprint"] == vocab.fingerprint
            else:
                with pytest.raises(VersionNotFoundError) as info:
                    store.load(vocab.ref)
                assert (
                    f"v{vocab.version} (fingerprint {vocab.fingerprint[:12]}) was deleted by "
                    in (str(info.value))
                )
        # Nothing left to collect; a second gc deletes nothing.
        assert store.gc("news", keep=keep) == []
        # The next publish never reuses a number, deleted or not.
        assert store.publish(build(["fresh"]), "news").version == count + 1
        assert not [p for p in Path(root, "news").iterdir() if p.name.startswith(".staging")]


def test_gc_through_the_cli(capsys, store, store_root):
    published = publish_versions(store, "news", 5)
    store.pin("news@v1", reason="prod")
    code, out, err = cli(capsys, store_root, "gc", "news", "--keep", "2", "--dry-run")
    assert (code, out) == (0, "would delete news@v2\nwould delete news@v3\n")
    assert err == "would delete 2 versions of news; kept the newest 2 and the pinned ones (v1).\n"
    assert store.versions("news") == [1, 2, 3, 4, 5]

    code, out, err = cli(capsys, store_root, "gc", "news", "--keep", "2")
    assert (code, out) == (0, "deleted news@v2\ndeleted news@v3\n")
    assert err == "deleted 2 versions of news; kept the newest 2 and the pinned ones (v1).\n"
    code, out, _ = cli(capsys, store_root, "list", "news")
    assert [line.split()[0] for line in out.splitlines()] == ["news@v1", "news@v4", "news@v5"]
    # All that is left of a deleted version is its tombstone, so v2 is never reused.
    for version in (2, 3):
        left = list((store_root / "news" / f"v{version}").iterdir())
        assert [p.name for p in left] == [TOMBSTONE]
        tombstone = json.loads(left[0].read_text())
        assert tombstone["ref"] == f"news@v{version}"
        assert tombstone["fingerprint"] == published[version - 1].fingerprint

    code, _, err = cli(capsys, store_root, "inspect", "news@v3")
    assert code == 1
    assert "'news' has no version v3; published: v1, v4, v5. v3 (fingerprint " in err
    assert "was deleted by `vocabguard gc` at " in err


def test_gc_dry_run_changes_nothing(capsys, store, store_root):
    publish_versions(store, "news", 4)
    before = snapshot(store_root)
    code, out, _ = cli(capsys, store_root, "gc", "news", "--keep", "1", "--dry-run")
    assert code == 0 and out.splitlines() == [f"would delete news@v{v}" for v in (1, 2, 3)]
    assert snapshot(store_root) == before


@pytest.mark.parametrize("keep", [0, -1])
def test_gc_keep_below_one_is_refused(capsys, store, store_root, keep):
    publish_versions(store, "news", 2)
    before = snapshot(store_root)
    code, out, err = cli(capsys, store_root, "gc", "news", "--keep", str(keep))
    assert (code, out) == (1, "")
    assert err == (
        "vocabguard: error: gc needs keep (--keep) of at least 1: the latest version of a name "
        "is never deleted. Pass 1 to keep only the latest and the pinned versions. "
        f"Received: keep={keep}\n"
    )
    with pytest.raises(ConfigError) as info:
        store.gc("news", keep=keep, dry_run=True)
    assert info.value.cases == [keep]
    assert snapshot(store_root) == before


def test_gc_of_an_unknown_name_or_a_reference(capsys, store, store_root):
    publish_versions(store, "news", 2)
    publish_versions(store, "books", 1)
    code, _, err = cli(capsys, store_root, "gc", "nope", "--keep", "1")
    assert code == 1
    assert err.startswith(
        f"vocabguard: error: No published vocabulary named 'nope' in store {store_root}; "
        "names there: books, news."
    )
    with pytest.raises(InvalidNameError) as info:
        store.gc("news@v1", keep=1)
    assert str(info.value) == (
        "gc takes a vocabulary NAME, not a reference: it keeps the newest --keep versions of "
        "the name. To protect one version from gc, pin it: `vocabguard pin news@v1`. "
        "Received: name='news@v1'"
    )
    with pytest.raises(InvalidNameError):
        store.gc("../news", keep=1)
    assert store.versions("news") == [1, 2]


def test_gc_removes_leftovers_of_crashed_processes_only(store, store_root):
    publish_versions(store, "news", 3)
    news = store_root / "news"
    old, fresh = news / f"{STAGING_PREFIX}old", news / f"{STAGING_PREFIX}live"
    for directory in (old, fresh):
        directory.mkdir()
        (directory / "tokens.parquet").write_bytes(b"partial")
    age(old, 2 * HOUR)
    # A gc that crashed after the tombstone and the manifest: v3's files remain.
    (news / "v3" / TOMBSTONE).write_text("{}")
    (news / "v3" / MANIFEST).unlink()
    half_deleted = sorted(str(p) for p in (news / "v3").iterdir() if p.name != TOMBSTONE)
    assert len(half_deleted) == 2
    (news / GC_DIR).mkdir()
    stale_intent, live_intent = news / GC_DIR / "v1-dead", news / GC_DIR / "v2-live"
    stale_intent.write_text("")
    live_intent.write_text("")
    age(stale_intent, 2 * HOUR)
    live_gc = store.fs.handler.hold(str(live_intent))  # a live gc holds its intent's lock
    # A live gc announced it is deleting v2: pinning v2 is refused, not half-done.
    with pytest.raises(StoreError) as info:
        store.pin("news@v2")
    assert str(info.value) == (
        "news@v2 is being deleted by a concurrent `vocabguard gc`, so it was not pinned. Run "
        "`vocabguard list news` and pin it again if it is still listed. Received: ref='news@v2'"
    )
    assert store.pins("news") == {}
    # A stale intent (its gc crashed an hour ago) does not block pinning.
    assert store.pin("news@v1") == "news@v1"

    removed = []
    assert store.gc("news", keep=1, on_leftover=removed.append) == []  # v1 pinned
    assert sorted(removed) == sorted([str(old), str(stale_intent), *half_deleted])
    assert fresh.is_dir() and live_intent.exists()
    assert not old.exists() and not stale_intent.exists()
    assert [p.name for p in (news / "v3").iterdir()] == [TOMBSTONE]
    assert store.versions("news") == [1, 2]
    assert store.publish(build(["after the crash"]), "news").ref == "news@v4"
    os.close(live_gc)


def test_gc_keeps_a_version_pinned_after_it_listed_the_pins(store, store_root, monkeypatch):
    """gc rechecks each pin just before deleting: a pin newer than its listing counts."""
    publish_versions(store, "news", 3)
    VocabStore(store_root).pin("news@v1", reason="late")
    monkeypatch.setattr(store, "pins", lambda name: {})  # gc listed pins before that pin
    assert store.gc("news", keep=1) == ["news@v2"]
    assert store.versions("news") == [1, 3]
    assert VocabStore(store_root).pins("news")[1]["reason"] == "late"


def test_a_pin_racing_a_gc_that_already_checked_is_refused(store, store_root, monkeypatch):
    """pin() after gc announced the deletion and found no pin: the pin is refused."""
    publish_versions(store, "news", 3)
    other = VocabStore(store_root)
    real_read = VocabStore._read_manifest
    refused = []

    def pin_in_between(self, name, version):
        # gc reads the manifest for the tombstone after its pin check: too late to pin.
        if self is store and version == 1 and not refused:
            with pytest.raises(StoreError) as info:
                other.pin("news@v1")
            refused.append(str(info.value))
        return real_read(self, name, version)

    monkeypatch.setattr(VocabStore, "_read_manifest", pin_in_between)
    assert store.gc("news", keep=1) == ["news@v1", "news@v2"]
    assert len(refused) == 1
    assert refused[0].startswith("news@v1 is being deleted by a concurrent `vocabguard gc`")
    assert other.pins("news") == {}
    assert other.versions("news") == [3]


def test_readers_survive_a_gc_between_resolve_and_read(store, store_root, monkeypatch):
    """name@latest resolved to v2, then v3 is published and gc deletes v2 before the read."""
    publish_versions(store, "news", 2)
    other = VocabStore(store_root)
    real_resolve = VocabStore.resolve
    newer = [build(texts(5)), build(texts(6))]
    resolved = []

    def resolve_then_gc(self, ref):
        result = real_resolve(self, ref)
        if self is store:
            resolved.append(result)
            if len(resolved) == 1:  # only the first time: later reads see the new state
                latest = other.publish(newer.pop(0), "news")
                older = [f"news@v{v}" for v in other.versions("news") if v < latest.version]
                assert f"news@v{result[1]}" in older
                assert other.gc("news", keep=1) == older
        return result

    monkeypatch.setattr(VocabStore, "resolve", resolve_then_gc)
    loaded = store.load("news@latest")
    assert resolved == [("news", 2), ("news", 3)]
    assert (loaded.ref, loaded.fingerprint) == ("news@v3", build(texts(5)).fingerprint)

    # An explicit version that gc deleted meanwhile is not found, and says why.
    resolved.clear()
    with pytest.raises(VersionNotFoundError) as info:
        store.manifest("news@v3")
    message = str(info.value)
    assert message.startswith("'news' has no version v3; published: v4.")
    assert "v3 (fingerprint " in message and "was deleted by `vocabguard gc`" in message


def test_a_publisher_with_a_stale_view_never_reuses_a_deleted_number(store, monkeypatch):
    publish_versions(store, "news", 3)
    assert store.gc("news", keep=1) == ["news@v1", "news@v2"]
    # This publisher picks numbers as if v1 were next (it listed before anything existed).
    real_next = VocabStore._next_number
    stale = iter([1])
    monkeypatch.setattr(
        store, "_next_number", lambda name: next(stale, None) or real_next(store, name)
    )
    vocab = store.publish(build(["stale view"]), "news")
    assert vocab.ref == "news@v4"
    assert store.versions("news") == [3, 4]
    with pytest.raises(VersionNotFoundError):
        store.load("news@v1")


def test_gc_on_an_object_store_deletes_the_manifest_first():
    import pyarrow.fs as pafs

    store = VocabStore("/bucket/vocab", filesystem=pafs._MockFileSystem())
    published = publish_versions(store, "remote", 3)
    store.pin("remote@v1", reason="prod")
    order = []
    real_delete = store._delete_file
    store._delete_file = lambda path: order.append(path) or real_delete(path)
    assert store.gc("remote", keep=1) == ["remote@v2"]
    v2 = "/bucket/vocab/remote/v2"
    files = sorted(store.manifest("remote@v3")["files"])
    assert [path for path in order if path.startswith(v2)] == [
        f"{v2}/{MANIFEST}",
        *(f"{v2}/{name}" for name in files),
    ]
    left = store.fs.get_file_info(pafs.FileSelector(v2))
    assert [info.base_name for info in left] == [TOMBSTONE]
    assert store.versions("remote") == [1, 3]
    assert store.pins("remote")[1]["reason"] == "prod"
    assert store.load("remote@v1").fingerprint == published[0].fingerprint
    # Number 2 stays used on the object store too.
    assert store.publish(build(["new"]), "remote").ref == "remote@v4"


# -- concurrent processes --

# Builds its vocabularies, says it is ready, waits for the go signal, then publishes
# them one after another and prints what it got back as JSON.
PUBLISHER = textwrap.dedent(
    """
    import json, os, sys, time
    from vocabguard import VocabSpec, VocabStore, build_vocabulary

    root, name, worker, count, mode, signals = sys.argv[1:7]
    worker, count = int(worker), int(count)
    store = VocabStore(root)
    if mode == "in_place":
        # The object-store protocol on a local disk: no directory rename, and (as a
        # PUT to GCS or S3) every file appears all at once, never half-written.
        store._atomic_rename = False

        def put(path, data):
            temp = f"{path}.put-{os.getpid()}"
            with open(temp, "wb") as f:
                f.write(data)
            os.replace(temp, path)

        store._write = put
    vocabs = []
    for i in range(count):
        words = sys.argv[7:] or [" ".join(f"w{worker}x{i}t{j}" for j in range(3))]
        vocabs.append(build_vocabulary(words, VocabSpec(), progress=False))
    open(os.path.join(signals, f"ready-{worker}"), "w").close()
    while not os.path.exists(os.path.join(signals, "go")):
        time.sleep(0.005)
    out = []
    for vocab in vocabs:
        got = store.publish(vocab, name)
        out.append({"ref": got.ref, "fingerprint": vocab.fingerprint,
                    "new": got.newly_published, "words": vocab.tokens})
    print(json.dumps(out))
    """
)


def start_together(commands: list[list[str]], signals: Path) -> list[subprocess.Popen]:
    """Start processes that wait for ``signals/go`` once each wrote ``signals/ready-<i>``."""
    signals.mkdir(exist_ok=True)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for command in commands
    ]
    ready = {f"ready-{i}" for i in range(len(commands))}
    deadline = time.monotonic() + 240
    while not ready <= {p.name for p in signals.iterdir()}:
        failed = [p for p in processes if p.poll() not in (None, 0)]
        assert not failed and time.monotonic() < deadline, [p.communicate() for p in failed]
        time.sleep(0.01)
    (signals / "go").touch()
    return processes


def finish(processes: list[subprocess.Popen]) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "terminate called" not in err
        outputs.append(out)
    return outputs


WORKERS, PUBLISHES_EACH = 8, 4


@pytest.mark.parametrize("mode", ["rename", "in_place"])
def test_concurrent_publishers_of_different_content_lose_nothing(tmp_path, mode):
    root = tmp_path / "store"
    commands = [
        [PUBLISHER, str(root), "news", str(w), str(PUBLISHES_EACH), mode, str(tmp_path / "sig")]
        for w in range(WORKERS)
    ]
    results = [
        entry
        for out in finish(start_together(commands, tmp_path / "sig"))
        for entry in json.loads(out)
    ]
    store = VocabStore(root)
    tried = WORKERS * PUBLISHES_EACH
    refs = [entry["ref"] for entry in results]
    assert len(results) == tried and all(entry["new"] for entry in results)
    assert len(set(refs)) == tried  # distinct versions, one per publish
    numbers = sorted(int(ref.split("@v")[1]) for ref in refs)
    assert store.versions("news") == numbers
    if mode == "rename":
        assert numbers == list(range(1, tried + 1))  # no number skipped
    published = set()
    for entry in results:
        # Check the workers' claims against the store, and the store's files.
        manifest = store.verify(entry["ref"])
        assert manifest["fingerprint"] == entry["fingerprint"]
        assert store.load(entry["ref"]).tokens == entry["words"]
        published.add(entry["fingerprint"])
    in_store = {store.manifest(f"news@v{v}")["fingerprint"] for v in store.versions("news")}
    assert published == in_store and len(in_store) == tried  # none lost, none merged
    leftovers = [p.name for p in (root / "news").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    print(f"\n{mode}: {tried} concurrent publishes ({WORKERS} processes), none lost")


def test_concurrent_publishers_of_identical_content_share_one_version(tmp_path):
    root = tmp_path / "store"
    same = ["the same words in every process", "every process"]
    commands = [
        [PUBLISHER, str(root), "news", str(w), "1", "rename", str(tmp_path / "sig"), *same]
        for w in range(WORKERS)
    ]
    results = [json.loads(out)[0] for out in finish(start_together(commands, tmp_path / "sig"))]
    store = VocabStore(root)
    # The first rename wins; every other publisher finds its content is the latest.
    assert {entry["ref"] for entry in results} == {"news@v1"}
    assert [entry["new"] for entry in results].count(True) == 1
    assert store.versions("news") == [1]
    assert store.verify("news@v1")["fingerprint"] == build(same).fingerprint


# Loops until the stop file exists: "reader" loads REF and checks its fingerprint is one
# that was published; "gc" collects with keep=1. Prints its count of rounds and errors.
LOOPER = textwrap.dedent(
    """
    import json, os, sys, time, traceback
    from vocabguard import VocabStore

    root, role, ref, signals, worker = sys.argv[1:6]
    store = VocabStore(root)
    open(os.path.join(signals, f"ready-{worker}"), "w").close()
    while not os.path.exists(os.path.join(signals, "go")):
        time.sleep(0.005)
    rounds, errors, seen, deleted = 0, [], set(), []
    while True:
        stop = os.path.exists(os.path.join(signals, "stop"))
        try:
            if role == "reader":
                vocab = store.load(ref)  # every file's sha256 is checked
                seen.add(vocab.version)
                if vocab.fingerprint != vocab.manifest["fingerprint"]:
                    errors.append(f"{vocab.ref}: fingerprint differs from its manifest")
            else:
                deleted += store.gc("news", keep=1)
        except Exception:
            errors.append(traceback.format_exc())
        rounds += 1
        if stop:
            break
    print(json.dumps({"rounds": rounds, "errors": errors, "seen": sorted(seen),
                      "deleted": deleted}))
    """
)


PUBLISHERS, GC_PUBLISHES_EACH = 3, 8


def test_gc_while_publishing_and_reading_in_other_processes(tmp_path):
    """Publishers, two gcs and readers of name@latest and of a pinned version at once.

    Several publishers matter: one that checked a number was free just before
    another took it and gc deleted it must not rename its version into that slot.
    """
    root, signals = tmp_path / "store", tmp_path / "sig"
    store = VocabStore(root)
    pinned = store.publish(build(["pinned words"]), "news")
    store.pin(pinned.ref, reason="production")
    n = PUBLISHERS
    commands = [
        [PUBLISHER, str(root), "news", str(w), str(GC_PUBLISHES_EACH), "rename", str(signals)]
        for w in range(n)
    ]
    commands += [
        [LOOPER, str(root), "reader", "news@latest", str(signals), str(n)],
        [LOOPER, str(root), "reader", "news@latest", str(signals), str(n + 1)],
        [LOOPER, str(root), "reader", pinned.ref, str(signals), str(n + 2)],
        [LOOPER, str(root), "gc", "-", str(signals), str(n + 3)],
        [LOOPER, str(root), "gc", "-", str(signals), str(n + 4)],
    ]
    processes = start_together(commands, signals)
    results = [entry for out in finish(processes[:n]) for entry in json.loads(out)]
    (signals / "stop").touch()
    readers, gcs = (
        [json.loads(out) for out in finish(processes[n : n + 3])],
        [json.loads(out) for out in finish(processes[n + 3 :])],
    )

    tried = n * GC_PUBLISHES_EACH
    refs = [entry["ref"] for entry in results]
    assert len(set(refs)) == tried  # distinct versions, none shared
    numbers = sorted(int(ref.split("@v")[1]) for ref in refs)
    assert numbers == list(range(2, tried + 2))  # no number reused or skipped
    for loop in readers + gcs:
        assert loop["errors"] == [] and loop["rounds"] >= 1
    assert readers[2]["seen"] == [1]  # the pinned version was readable throughout
    deleted = [ref for loop in gcs for ref in loop["deleted"]]
    assert len(deleted) == len(set(deleted))  # each version deleted by one gc only
    latest = f"news@v{numbers[-1]}"
    assert pinned.ref not in deleted and latest not in deleted
    print(
        f"\ngc during {tried} publishes by {n} processes: {len(deleted)} versions "
        f"collected by 2 gcs, {readers[0]['rounds'] + readers[1]['rounds']} reads of latest, "
        "no errors"
    )

    # After one more gc only the pinned version and the latest remain; every other
    # published version left a tombstone that records the fingerprint it published.
    final = store.gc("news", keep=1)
    assert sorted(deleted + final) == sorted(ref for ref in refs if ref != latest)
    assert store.versions("news") == [1, numbers[-1]]
    assert store.verify(pinned.ref)["fingerprint"] == pinned.fingerprint
    for entry in results:
        directory = root / "news" / f"v{entry['ref'].split('@v')[1]}"
        if entry["ref"] == latest:
            assert store.verify(latest)["fingerprint"] == entry["fingerprint"]
        else:
            assert [p.name for p in directory.iterdir()] == [TOMBSTONE]
            tombstone = json.loads((directory / TOMBSTONE).read_text())
            assert tombstone["fingerprint"] == entry["fingerprint"]  # nothing overwritten
    hidden = {p.name for p in (root / "news").iterdir() if p.name.startswith(".")}
    assert hidden <= {PINS_DIR, GC_DIR}
    assert list((root / "news" / GC_DIR).iterdir()) == []


def test_an_unreadable_pin_record_still_protects_its_version(store, store_root):
    publish_versions(store, "news", 3)
    store.pin("news@v1", reason="prod")
    (store_root / "news" / PINS_DIR / "v1.json").write_text("{not json")
    assert store.pins("news") == {1: {"reason": None, "pinned_utc": None, "fingerprint": None}}
    assert store.gc("news", keep=1) == ["news@v2"]
    assert store.versions("news") == [1, 3]
    assert store.unpin("news@v1") == "news@v1"
    assert store.gc("news", keep=1) == ["news@v1"]


def test_listing_a_directory_another_process_is_creating(store_root):
    """Arrow raises FileNotFoundError, despite allow_not_found, when the directory
    appears while it is being listed (found with 16 processes publishing a new name)."""
    import pyarrow.fs as pafs

    raced = []

    class RacingFileSystem(pafs.LocalFileSystem):
        def get_file_info(self, paths_or_selector):
            if isinstance(paths_or_selector, pafs.FileSelector) and not raced:
                raced.append(paths_or_selector.base_dir)
                os.makedirs(paths_or_selector.base_dir, exist_ok=True)  # the other process
                raise FileNotFoundError(f"Cannot list directory '{paths_or_selector.base_dir}'")
            return super().get_file_info(paths_or_selector)

    store = VocabStore(store_root, filesystem=RacingFileSystem())
    assert store._atomic_rename  # a local disk still publishes by rename
    vocab = store.publish(build(texts(0)), "news")
    assert raced and vocab.ref == "news@v1"
    assert store.versions("news") == [1]
