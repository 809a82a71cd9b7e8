"""A job's vocabularies become visible together or not at all.

A job publishing ``topic`` and ``text`` (``publish_together``, the final step of a
Beam build) is attacked where ``text`` cannot be published: a file where its
directory should be, a full disk (a small tmpfs, and an injected ENOSPC at each
write), and ``kill -9`` at each step of the commit (a subprocess that kills itself
at a named pause point, and at each write). After each: both versions are visible or
neither is, and the next store operation finishes or rolls back the job.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid

import pytest
from test_object_store import endpoint  # noqa: F401  (a fixture: moto on loopback)

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.journal import JOBS_DIR, MARKER_PREFIX, publish_together
from vocabguard.cli import main
from vocabguard.errors import StoreError

NAMES = ("news_topic", "news_text")
RUN_SECONDS = 120


def vocabs(tag: str = "", text_tokens: int = 5):
    topic = build_vocabulary([f"sport{tag} politics"], VocabSpec(), progress=False)
    text = build_vocabulary(
        [" ".join(f"w{tag}{i}" for i in range(text_tokens))], VocabSpec(), progress=False
    )
    return [("topic", NAMES[0], topic), ("text", NAMES[1], text)]


def state(root) -> list[list[int]]:
    """The published versions of both names, as a fresh process sees them."""
    store = VocabStore(root)
    return [store.versions(name) for name in NAMES]


def assert_settled(root) -> None:
    """No job is left in the store, and no reserved (never visible) version of one: a
    rolled-back reservation leaves only its empty directory (its number stays used)."""
    jobs = os.path.join(root, JOBS_DIR)
    assert not os.path.exists(jobs) or os.listdir(jobs) == [], os.listdir(jobs)
    for name in NAMES:
        directory = os.path.join(root, name)
        for entry in os.listdir(directory) if os.path.isdir(directory) else []:
            files = os.listdir(os.path.join(directory, entry))
            assert not any(f.startswith(MARKER_PREFIX) for f in files), (entry, files)
            if entry.startswith("v"):
                assert "manifest.json" in files or files == [], (entry, files)


def test_a_reserved_versions_marker_is_a_claim_that_verify_and_gc_leave_alone():
    from vocabguard._src.core.store import CLAIM_PREFIX

    assert MARKER_PREFIX.startswith(CLAIM_PREFIX)


def test_a_job_publishes_every_new_version_and_reuses_unchanged_ones(store_root):
    store = VocabStore(store_root)
    first = publish_together(store, vocabs())
    assert [(v.ref, v.newly_published) for v in first] == [
        ("news_topic@v1", True),
        ("news_text@v1", True),
    ]
    assert_settled(store_root)
    assert all(store.verify(v.ref)["fingerprint"] == v.fingerprint for v in first)
    entries = vocabs()
    entries[1] = vocabs("new")[1]
    points = []
    store._hook = lambda point, _name, _version: points.append(point)
    again = publish_together(store, entries)
    assert [(v.ref, v.newly_published) for v in again] == [
        ("news_topic@v1", False),
        ("news_text@v2", True),
    ]
    assert points == ["numbered", "checked"]  # one new version: a plain publish, no job


def test_a_file_where_the_second_features_directory_should_be(store_root):
    store = VocabStore(store_root)
    store_root.mkdir()
    (store_root / NAMES[1]).write_text("not a directory")
    with pytest.raises(StoreError) as caught:
        publish_together(store, vocabs())
    message = str(caught.value)
    assert message.startswith(f"Could not publish feature 'text' as '{NAMES[1]}': {store_root}")
    assert "Nothing was published" in message and "\n" not in message
    assert VocabStore(store_root).versions(NAMES[0]) == []
    (store_root / NAMES[1]).unlink()
    assert state(store_root) == [[], []]
    assert_settled(store_root)
    again = publish_together(store, vocabs())
    assert state(store_root) == [[v.version] for v in again]  # a rolled-back number stays used


@pytest.mark.parametrize("runner", ["DirectRunner", "inprocess"])
def test_a_job_whose_second_feature_fails_prints_one_error_line(tmp_path, capsys, runner):
    """End to end: ``vocabguard build --config`` on the DirectRunner and in process."""
    import yaml

    data = tmp_path / "news.jsonl"
    data.write_text(
        "".join(json.dumps({"topic": t, "text": f"{t} words here"}) + "\n" for t in "abcab")
    )
    store_root = tmp_path / "store"
    config = {
        "store": str(store_root),
        "inputs": [str(data)],
        "features": {
            "topic": {"field": "topic", "name": NAMES[0], "spec": {"tokenizer": "none"}},
            "text": {"field": "text", "name": NAMES[1], "spec": {}},
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config))
    store_root.mkdir()
    (store_root / NAMES[1]).write_text("not a directory")
    code = main(["build", "--runner", runner, "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    lines = [line for line in err.splitlines() if line.startswith("vocabguard: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    assert lines[0].startswith(
        f"vocabguard: error: Could not publish feature 'text' as '{NAMES[1]}': {store_root}"
    ), err
    assert VocabStore(store_root).versions(NAMES[0]) == []
    (store_root / NAMES[1]).unlink()
    assert state(store_root) == [[], []]
    assert main(["build", "--runner", runner, "--config", str(path)]) == 0
    assert state(store_root) == [[1], [1]]
    assert_settled(store_root)


def no_space_at(store: VocabStore, failing: int) -> list[str]:
    """Make the ``failing``-th write of ``store`` (1-based) fail with ENOSPC; the paths
    written so far are recorded in the returned list."""
    original, written = store._write, []

    def write(path, data):
        written.append(path)
        if len(written) == failing:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        original(path, data)

    store._write = write
    return written


def test_enospc_at_each_write_publishes_all_or_nothing(tmp_path):
    failing = 0
    while True:
        failing += 1
        root = tmp_path / f"store{failing}"
        store = VocabStore(root)
        publish_together(store, vocabs("old"))  # v1 of both: the state to keep
        written = no_space_at(store, failing)
        try:
            publish_together(store, vocabs())
        except StoreError as err:
            message = str(err)
            assert "no space left on device" in message.lower(), message
            assert "Could not publish feature '" in message and "\n" not in message
            # The file that failed (a temp file: the one it was to become).
            assert f"path='{written[failing - 1].split('.tmp-')[0]}" in message, (message, written)
            assert state(root) == [[1], [1]], failing
            assert_settled(root)
            continue
        assert failing > len(written)  # every write succeeded: the job is complete
        assert state(root) == [[1, 2], [1, 2]]
        assert_settled(root)
        break
    assert failing > 6  # plan, staged files, held-back manifests, decision


def mount_tmpfs(path, size: str) -> bool:
    """Mount a tmpfs of ``size`` at ``path``; False where this process may not."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_full_disk_under_the_second_feature(tmp_path):
    """A 256 KiB disk: ``topic`` fits, ``text`` (about 500 KB) does not. Where mounting
    is not allowed, the same disk is emulated: writes past 256 KiB raise ENOSPC."""
    disk = tmp_path / "disk"
    mounted = mount_tmpfs(disk, "256k")
    try:
        root = disk / "store"
        store = VocabStore(root)
        if not mounted:
            original, used = store._write, [0]

            def write(path, data):
                used[0] += len(data)
                if used[0] > 256 * 1024:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
                original(path, data)

            store._write = write
        with pytest.raises(StoreError, match=r"(?i)no space left on device") as caught:
            publish_together(store, vocabs(text_tokens=40_000))
        assert "Could not publish feature 'text'" in str(caught.value)
        assert str(root / NAMES[1]) in str(caught.value) or str(root / JOBS_DIR) in str(
            caught.value
        )
        assert state(root) == [[], []]
        assert_settled(root)
        again = publish_together(store, vocabs(text_tokens=50))  # the space came back
        assert state(root) == [[v.version] for v in again]
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)


# A publisher of the job that kills itself (SIGKILL) at the N-th time it reaches
# POINT: a named pause point of the journal, or "write" (each file it writes).
KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from vocabguard import VocabSpec, VocabStore, build_vocabulary
    from vocabguard._src.core.journal import publish_together

    root, point, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    topic = build_vocabulary(["sport politics"], VocabSpec(), progress=False)
    text = build_vocabulary([" ".join(f"w{i}" for i in range(5))], VocabSpec(), progress=False)
    store = VocabStore(root)
    seen = [0]

    def reached(here):
        if here == point:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    store._hook = lambda here, _name, _version: reached(here)
    original = store._write
    def write(path, data):
        reached("write")
        original(path, data)
    store._write = write
    entries = [("topic", "news_topic", topic), ("text", "news_text", text)]
    if sys.argv[4] == "staged":  # as a Beam job: each staged first, then published
        from vocabguard._src.core.journal import discard_staged, publish_staged, stage_version

        job = "0" * 32
        publish_staged(store, [stage_version(store, job, *entry) for entry in entries])
        discard_staged(store, job)
    else:
        publish_together(store, entries)
    print("finished")
    """
)


def run_killed(root, point: str, nth: int, mode: str = "together") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", KILLED, str(root), point, str(nth), mode],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


STEPS = [
    ("job-planned", 1, "none"),
    ("job-reserved", 1, "none"),
    ("job-reserved", 2, "none"),
    ("job-committed", 1, "all"),
    ("job-revealed", 1, "all"),
    ("job-revealed", 2, "all"),
]


@pytest.mark.parametrize("mode", ["together", "staged"])
@pytest.mark.parametrize(("point", "nth", "expected"), STEPS)
def test_kill_9_at_each_step_of_the_commit(tmp_path, monkeypatch, point, nth, expected, mode):
    import vocabguard._src.core.journal as journal_module

    # Staged versions that no job took yet stay until stale: made stale at once here.
    monkeypatch.setattr(journal_module, "STAGED_STALE_SECONDS", -1)
    root = tmp_path / "store"
    done = run_killed(root, point, nth, mode)
    assert done.returncode == -signal.SIGKILL, done.stderr
    if (point, nth) == ("job-revealed", 1):
        # On disk, one manifest is in place and the other not: readers must not see that.
        assert (root / NAMES[0] / "v1" / "manifest.json").exists()
        assert not (root / NAMES[1] / "v1" / "manifest.json").exists()
    # A reader of the *second* name first: it must finish the job, or see none of it.
    store = VocabStore(root)
    text_versions = store.versions(NAMES[1])
    assert state(root) == ([[1], [1]] if expected == "all" else [[], []])
    assert text_versions == ([1] if expected == "all" else [])
    assert_settled(root)
    if expected == "all":
        assert all(store.verify(f"{name}@v1") for name in NAMES)  # no marker left
    after = publish_together(store, vocabs("after"))
    assert all(v.newly_published for v in after)
    before = [1] if expected == "all" else []
    assert state(root) == [[*before, v.version] for v in after]


def test_kill_9_at_each_write_of_the_job(tmp_path):
    nth = 0
    while True:
        nth += 1
        root = tmp_path / f"store{nth}"
        done = run_killed(root, "write", nth)
        if done.returncode == 0:
            assert done.stdout.strip() == "finished"
            assert state(root) == [[1], [1]]
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert state(root) == [[], []], nth  # every write precedes the commit's link
        assert_settled(root)
    assert nth > 6


def test_kill_9_at_each_write_of_a_staged_job(tmp_path, monkeypatch):
    """Killed while staging or publishing: nothing visible; what was staged and never
    published is deleted by a reader once it is stale."""
    import vocabguard._src.core.journal as journal_module

    nth = 0
    while True:
        nth += 1
        root = tmp_path / f"store{nth}"
        done = run_killed(root, "write", nth, "staged")
        if done.returncode == 0:
            assert state(root) == [[1], [1]]
            assert_settled(root)
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        assert state(root) == [[], []], nth
        with monkeypatch.context() as patch:
            patch.setattr(journal_module, "STAGED_STALE_SECONDS", -1)
            assert state(root) == [[], []]
        assert_settled(root)
    assert nth > 8


def test_staged_versions_are_published_as_publish_together_publishes(tmp_path):
    """The same files and manifests (but for the time), all or nothing, reused when
    unchanged; the staged directories go with the commit or with discard_staged."""
    from vocabguard._src.core.journal import discard_staged, publish_staged, stage_version

    together, staged_store = VocabStore(tmp_path / "a"), VocabStore(tmp_path / "b")
    publish_together(together, vocabs())
    job = uuid.uuid4().hex
    staged = [stage_version(staged_store, job, *entry) for entry in vocabs()]
    assert state(tmp_path / "b") == [[], []]  # staged: nothing visible
    published = publish_staged(staged_store, staged)
    assert [(v.ref, v.newly_published) for v in published] == [
        ("news_topic@v1", True),
        ("news_text@v1", True),
    ]
    discard_staged(staged_store, job)
    assert_settled(tmp_path / "b")
    for name, item in zip(NAMES, published):
        want, got = together.manifest(f"{name}@v1"), staged_store.manifest(f"{name}@v1")
        assert item.fingerprint == got["fingerprint"] and item.input_dim == got["input_dim"]
        for manifest in (want, got):
            manifest["build"].pop("created_utc")
            manifest.pop("manifest_sha256", None)
        assert got == want
        assert staged_store.verify(f"{name}@v1")
    again = [stage_version(staged_store, job, *entry) for entry in vocabs()]
    assert [v.newly_published for v in publish_staged(staged_store, again)] == [False, False]
    discard_staged(staged_store, job)
    assert_settled(tmp_path / "b")


def test_a_staged_job_whose_second_name_is_a_file_publishes_nothing(tmp_path):
    from vocabguard._src.core.journal import discard_staged, publish_staged, stage_version

    store = VocabStore(tmp_path / "store")
    job = uuid.uuid4().hex
    staged = [stage_version(store, job, *entry) for entry in vocabs()]
    (tmp_path / "store" / NAMES[1]).write_text("not a directory")
    with pytest.raises(StoreError, match="Could not publish feature 'text' as 'news_text'"):
        publish_staged(store, staged)
    discard_staged(store, job)
    (tmp_path / "store" / NAMES[1]).unlink()
    assert state(tmp_path / "store") == [[], []]
    assert_settled(tmp_path / "store")


def test_a_live_job_is_neither_rolled_back_nor_seen(store_root):
    """Readers in the middle of a live job see nothing of it and leave it alone."""
    store = VocabStore(store_root)
    seen = {}

    def hook(point, name, version):
        if point == "job-reserved" and name == NAMES[1]:
            reader = VocabStore(store_root)
            seen["mid"] = [reader.versions(n) for n in NAMES]
            seen["jobs"] = os.listdir(store_root / JOBS_DIR)

    store._hook = hook
    publish_together(store, vocabs())
    assert seen["mid"] == [[], []]
    assert len(seen["jobs"]) == 1 and len(seen["jobs"][0]) == len(uuid.uuid4().hex)
    assert state(store_root) == [[1], [1]]
    assert_settled(store_root)


# -- object stores: the same journal through the claim protocol (moto on loopback) --


@pytest.fixture
def s3_store(endpoint, monkeypatch):  # noqa: F811
    from test_object_store import CREDENTIALS, s3

    bucket = f"vg-job-{uuid.uuid4().hex[:12]}"
    s3(endpoint).create_dir(bucket)
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    uri = f"s3://{bucket}/vocab?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    return uri, VocabStore(f"{bucket}/vocab", filesystem=s3(endpoint))


def s3_state(store: VocabStore) -> list[list[int]]:
    return [store.versions(name) for name in NAMES]


def s3_leftovers(store: VocabStore) -> list[str]:
    """Journal entries and job markers left in the bucket."""
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(store._base, recursive=True, allow_not_found=True)
    return sorted(
        i.path
        for i in store.fs.get_file_info(selector)
        if i.type == pafs.FileType.File and (f"/{JOBS_DIR}/" in i.path or MARKER_PREFIX in i.path)
    )


def test_a_job_on_an_object_store_is_all_or_nothing(s3_store):
    _, store = s3_store
    assert [v.ref for v in publish_together(store, vocabs("old"))] == [
        "news_topic@v1",
        "news_text@v1",
    ]
    assert all(store.verify(f"{name}@v1") for name in NAMES)
    assert s3_leftovers(store) == []
    written = no_space_at(store, 6)  # plan; topic: claim, 2 files, manifest; text: claim
    with pytest.raises(StoreError, match="Could not publish feature 'text'") as caught:
        publish_together(store, vocabs())
    assert f"path='{written[5]}'" in str(caught.value)
    assert s3_state(store) == [[1], [1]]
    assert s3_leftovers(store) == []


@pytest.mark.parametrize(("point", "nth", "expected"), [("job-reserved", 2, "none"), *STEPS[3:5]])
def test_kill_9_during_a_job_on_an_object_store(s3_store, monkeypatch, point, nth, expected):
    import vocabguard._src.core.journal as journal_module

    uri, store = s3_store
    done = run_killed(uri, point, nth)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert s3_state(store) == ([[1], [1]] if expected == "all" else [[], []])
    if expected == "none":
        # A live publisher cannot be told from a dead one by a lock here: the job is
        # rolled back once its plan is STALE_SECONDS old by the server's clock.
        assert s3_leftovers(store) != []
        monkeypatch.setattr(journal_module, "STALE_SECONDS", -1)
        assert s3_state(store) == [[], []]
    assert s3_leftovers(store) == []
    after = publish_together(store, vocabs("after"))
    assert all(v.newly_published for v in after)
    before = [1] if expected == "all" else []
    assert s3_state(store) == [[*before, v.version] for v in after]


def test_staged_versions_on_an_object_store(s3_store):
    """Staged files are copied into the reserved versions; nothing is left behind."""
    from vocabguard._src.core.journal import discard_staged, publish_staged, stage_version

    _, store = s3_store
    job = uuid.uuid4().hex
    staged = [stage_version(store, job, *entry) for entry in vocabs()]
    assert s3_state(store) == [[], []]
    assert [v.ref for v in publish_staged(store, staged)] == ["news_topic@v1", "news_text@v1"]
    discard_staged(store, job)
    assert all(store.verify(f"{name}@v1") for name in NAMES)
    assert s3_leftovers(store) == []
