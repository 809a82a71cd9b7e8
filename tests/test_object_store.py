"""The store on a real S3 API: a ``moto`` server on loopback, through ``pyarrow.fs``.

The same filesystem layer users get (``pyarrow.fs.S3FileSystem``, or an ``s3://``
URI with ``endpoint_override``), against a server started and stopped by these tests
on 127.0.0.1 (bounded in time). Checks the object-store publish protocol (claim the
number, list, write, manifest last) with real processes: distinct numbers for
different content, one version for identical content, no visible half version after
a kill, readers beside publishers and gc, and pin/gc as on a local disk.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import moto.server  # noqa: F401  (the test extra; the server runs as `python -m moto.server`)
import pyarrow.fs as pafs
import pytest

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard.errors import VersionNotFoundError

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
START_SECONDS = 60
RUN_SECONDS = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server on 127.0.0.1, for this module's tests; stopped at the end."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "the moto server exited at start"
                assert time.monotonic() < deadline, "the moto server did not start in time"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def s3(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region="us-east-1",
        allow_bucket_creation=True,
    )


@pytest.fixture
def bucket(endpoint):
    name = f"vg-{uuid.uuid4().hex[:12]}"
    s3(endpoint).create_dir(name)
    return name


def build(texts):
    return build_vocabulary(texts, VocabSpec(), progress=False)


def test_publish_load_verify_gc_pin_through_s3_filesystem(endpoint, bucket):
    store = VocabStore(f"{bucket}/vocab", filesystem=s3(endpoint))
    assert not store._atomic_rename  # the object-store protocol, not a rename
    for text in ["a b", "c d", "e f", "g h"]:
        store.publish(build([text]), "news")
    assert store.publish(build(["g h"]), "news").ref == "news@v4"  # unchanged: no v5
    assert store.pin("news@v2", reason="prod") == "news@v2"
    assert store.gc("news", keep=1) == ["news@v1", "news@v3"]
    assert store.versions("news") == [2, 4]
    assert store.verify("news@v2")["fingerprint"] == build(["c d"]).fingerprint
    with pytest.raises(VersionNotFoundError, match="was deleted by `vocabguard gc`"):
        store.load("news@v1")
    assert store.publish(build(["new"]), "news").ref == "news@v5"  # numbers never reused


def test_an_s3_uri_with_an_endpoint_and_credentials_from_the_environment(
    endpoint, bucket, monkeypatch
):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    uri = f"s3://{bucket}/vocab?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    VocabStore(uri).publish(build(["a b"]), "news")
    assert VocabStore(uri).load("news").ref == "news@v1"


# A publisher process: waits for "go", publishes COUNT vocabularies (CONTENT "same":
# identical ones; else distinct per worker and round), prints refs and new flags.
PUBLISHER = textwrap.dedent(
    """
    import json, os, sys, time
    import pyarrow.fs as pafs
    from vocabguard import VocabSpec, VocabStore, build_vocabulary

    endpoint, root, worker, count, content, signals = sys.argv[1:7]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    store = VocabStore(root, filesystem=fs)
    open(os.path.join(signals, f"ready-{worker}"), "w").close()
    while not os.path.exists(os.path.join(signals, "go")):
        time.sleep(0.005)
    out = []
    for i in range(int(count)):
        text = "the same words" if content == "same" else f"worker{worker} round{i} words"
        vocab = store.publish(build_vocabulary([text], VocabSpec(), progress=False), "news")
        out.append([vocab.ref, vocab.newly_published, vocab.fingerprint])
    print(json.dumps(out))
    """
)


def run_together(tmp_path, argvs) -> list[list]:
    """Start processes, release them together, return each one's JSON output."""
    signals = tmp_path / "signals"
    signals.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, *argv, str(signals)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        deadline = time.monotonic() + RUN_SECONDS
        while len(list(signals.glob("ready-*"))) < len(procs):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.monotonic() < deadline, "publishers did not start in time"
            time.sleep(0.05)
        (signals / "go").touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


WORKERS, ROUNDS = 4, 3


def test_concurrent_publishers_of_different_content_never_share_a_number(
    endpoint, bucket, tmp_path
):
    root = f"{bucket}/vocab"
    argvs = [[endpoint, root, str(w), str(ROUNDS), "distinct"] for w in range(WORKERS)]
    results = run_together(tmp_path, argvs)
    refs = [ref for out in results for ref, new, _ in out]
    assert all(new for out in results for _, new, _ in out)
    assert len(refs) == len(set(refs)) == WORKERS * ROUNDS  # distinct, none lost
    store = VocabStore(root, filesystem=s3(endpoint))
    assert len(store.versions("news")) == WORKERS * ROUNDS
    for out in results:
        for ref, _, fingerprint in out:
            assert store.verify(ref)["fingerprint"] == fingerprint  # nothing overwritten
    print(f"\ns3: {len(refs)} concurrent publishes ({WORKERS} processes), all distinct")


def test_concurrent_publishers_of_identical_content_give_one_version(endpoint, bucket, tmp_path):
    root = f"{bucket}/vocab"
    results = run_together(tmp_path, [[endpoint, root, str(w), "1", "same"] for w in range(6)])
    refs = {out[0][0] for out in results}
    assert len(refs) == 1, refs  # every publisher got the one version
    assert [out[0][1] for out in results].count(True) == 1
    store = VocabStore(root, filesystem=s3(endpoint))
    assert [f"news@v{v}" for v in store.versions("news")] == sorted(refs)


def test_a_twin_that_claimed_a_higher_number_waits_for_the_lower_one(endpoint, bucket):
    """Deterministic: A claims v1 and stops; B claims v2, sees A's claim and waits;
    A finishes; B returns A's version."""
    root = f"{bucket}/vocab"
    vocab = build(["the same words"])
    a_store, b_store = (VocabStore(root, filesystem=s3(endpoint)) for _ in range(2))
    a_claimed, a_resume, b_waiting = threading.Event(), threading.Event(), threading.Event()

    def a_hook(point, _name, _version):
        if point == "claimed":
            a_claimed.set()
            assert a_resume.wait(60)

    def b_hook(point, _name, version):
        if point == "twin":
            assert version == 2
            b_waiting.set()

    a_store._hook, b_store._hook = a_hook, b_hook
    out = {}
    a = threading.Thread(target=lambda: out.update(a=a_store.publish(vocab, "news")))
    a.start()
    assert a_claimed.wait(60)
    b = threading.Thread(target=lambda: out.update(b=b_store.publish(vocab, "news")))
    b.start()
    assert b_waiting.wait(60)
    a_resume.set()
    a.join(60)
    b.join(60)
    assert (out["a"].ref, out["a"].newly_published) == ("news@v1", True)
    assert (out["b"].ref, out["b"].newly_published) == ("news@v1", False)
    assert a_store.versions("news") == [1]
    assert b_store.publish(build(["other"]), "news").ref == "news@v3"  # v2 stays used


def test_a_killed_publisher_leaves_no_visible_version(endpoint, bucket, tmp_path):
    root = f"{bucket}/vocab"
    store = VocabStore(root, filesystem=s3(endpoint))
    store.publish(build(["first"]), "news")
    script = textwrap.dedent(
        """
        import os, signal, sys
        import pyarrow.fs as pafs
        from vocabguard import VocabSpec, VocabStore, build_vocabulary
        endpoint, root, kill_on = sys.argv[1:4]
        fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                               secret_key="testing", region="us-east-1")
        store = VocabStore(root, filesystem=fs)
        original = store._write
        def write(path, data):
            if path.endswith(kill_on):
                os.kill(os.getpid(), signal.SIGKILL)
            original(path, data)
        store._write = write
        vocab = build_vocabulary([f"killed at {kill_on}"], VocabSpec(), progress=False)
        store.publish(vocab, "news")
        """
    )
    for kill_on in ["tokens.parquet", "vocab.txt", "manifest.json"]:
        done = subprocess.run(
            [sys.executable, "-c", script, endpoint, root, kill_on],
            capture_output=True,
            timeout=RUN_SECONDS,
        )
        assert done.returncode == -signal.SIGKILL
        assert store.versions("news") == [1]
        assert store.load("news").ref == "news@v1"
    # The numbers the killed publishers claimed are never reused.
    assert store.publish(build(["after"]), "news").ref == "news@v5"
    assert store.versions("news") == [1, 5]
    # Republishing what a killed publisher was publishing waits for it only while its
    # claim is younger than twin_wait_seconds.
    store.twin_wait_seconds = 0.5
    time.sleep(0.6)
    assert store.publish(build(["killed at vocab.txt"]), "news").ref == "news@v6"


READER_GC = textwrap.dedent(
    """
    import json, os, sys, time, traceback
    import pyarrow.fs as pafs
    from vocabguard import VocabStore

    endpoint, root, role, signals = sys.argv[1:5]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    store = VocabStore(root, filesystem=fs)
    rounds, errors = 0, []
    while not os.path.exists(os.path.join(signals, "stop")):
        try:
            if role == "reader":
                vocab = store.load("news@latest")  # every file's sha256 checked
                assert vocab.fingerprint == vocab.manifest["fingerprint"]
            else:
                store.gc("news", keep=1)
        except Exception:
            errors.append(traceback.format_exc())
        rounds += 1
    print(json.dumps({"rounds": rounds, "errors": errors}))
    """
)


def test_readers_and_gc_beside_publishers_see_no_half_version(endpoint, bucket, tmp_path):
    root = f"{bucket}/vocab"
    store = VocabStore(root, filesystem=s3(endpoint))
    store.publish(build(["seed"]), "news")
    store.pin("news@v1", reason="kept")
    signals = tmp_path / "loop"
    signals.mkdir()
    loops = [
        subprocess.Popen(
            [sys.executable, "-c", READER_GC, endpoint, root, role, str(signals)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in ("reader", "reader", "gc")
    ]
    try:
        results = run_together(
            tmp_path, [[endpoint, root, str(w), "3", "distinct"] for w in range(3)]
        )
    finally:
        (signals / "stop").touch()
        outputs = [json.loads(p.communicate(timeout=RUN_SECONDS)[0]) for p in loops]
    assert [o["errors"] for o in outputs] == [[], [], []]
    assert all(o["rounds"] > 0 for o in outputs)
    published = [ref for out in results for ref, _, _ in out]
    assert len(set(published)) == 9
    latest = max(int(ref.split("@v")[1]) for ref in published)
    assert store.versions("news")[-1] == latest and 1 in store.versions("news")
    store.gc("news", keep=1)  # the loop's last round may predate the last publish
    assert store.versions("news") == [1, latest]  # the pinned one and the latest
