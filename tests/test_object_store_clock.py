"""Object-store claims, pins and gc intents do not depend on the client's clock.

A client whose clock runs ahead of the S3 server (moto on loopback) sees every
object the server just wrote as old. Ages are measured by the server's own clock
(an object's ``LastModified``), so skewing the store's clock changes nothing:
two identical publishes stay one version, and a pin racing gc is kept or refused,
never accepted while gc deletes the version.
"""

from __future__ import annotations

import datetime
import threading

import pytest
from test_object_store import build, endpoint, s3  # noqa: F401  (endpoint: a fixture)

import vocabguard._src.core.store_records as store_module
from vocabguard import VocabStore
from vocabguard.errors import StoreError

WAIT = 60


@pytest.fixture
def bucket(endpoint):  # noqa: F811
    import uuid

    name = f"vg-clock-{uuid.uuid4().hex[:12]}"
    s3(endpoint).create_dir(name)
    return name


def skew(monkeypatch, seconds: float) -> None:
    """Run this process's store clock ``seconds`` ahead of the server's."""
    real = store_module._clock
    ahead = datetime.timedelta(seconds=seconds)
    monkeypatch.setattr(store_module, "_clock", lambda: real() + ahead)


def test_a_publisher_120_s_ahead_still_waits_for_its_twin(endpoint, bucket, monkeypatch):  # noqa: F811
    """A claims v1 and stops; B, 120 s ahead (twin_wait_seconds is 60), claims v2. B must
    take A's fresh claim for a live twin and wait, not publish a second identical version."""
    skew(monkeypatch, 120)
    root = f"{bucket}/vocab"
    vocab = build(["the same words"])
    a_store, b_store = (VocabStore(root, filesystem=s3(endpoint)) for _ in range(2))
    a_claimed, a_resume, b_waited_or_done = threading.Event(), threading.Event(), threading.Event()

    def a_hook(point, _name, _version):
        if point == "claimed":
            a_claimed.set()
            assert a_resume.wait(WAIT)

    def b_hook(point, _name, _version):
        if point == "twin":
            b_waited_or_done.set()

    a_store._hook, b_store._hook = a_hook, b_hook
    out = {}
    a = threading.Thread(target=lambda: out.update(a=a_store.publish(vocab, "news")))
    a.start()
    assert a_claimed.wait(WAIT)

    def run_b():
        try:
            out["b"] = b_store.publish(vocab, "news")
        finally:
            b_waited_or_done.set()

    b = threading.Thread(target=run_b)
    b.start()
    assert b_waited_or_done.wait(WAIT)
    a_resume.set()
    a.join(WAIT)
    b.join(WAIT)
    assert (out["a"].ref, out["a"].newly_published) == ("news@v1", True)
    assert (out["b"].ref, out["b"].newly_published) == ("news@v1", False)
    assert a_store.versions("news") == [1]


def gc_paused_after_its_pin_check(store: VocabStore, name: str, keep: int):
    """Start ``store.gc(name, keep)`` in a thread stopped after it found no pin on the
    version it deletes; returns (thread, resume event, result dict)."""
    checked, resume, out = threading.Event(), threading.Event(), {}

    def hook(point, _name, _version):
        if point == "gc-unpinned":
            checked.set()
            assert resume.wait(WAIT)

    store._hook = hook
    thread = threading.Thread(target=lambda: out.update(deleted=store.gc(name, keep=keep)))
    thread.start()
    assert checked.wait(WAIT)
    return thread, resume, out


def assert_pin_kept_or_refused(store: VocabStore, pinned: str | None) -> None:
    """After the race: the version survives with its pin, or the pin was refused."""
    if pinned is None:
        assert 1 not in store.pins("news")
    else:
        assert 1 in store.versions("news"), "gc deleted a version whose pin was accepted"
        assert 1 in store.pins("news")


def test_a_pinner_2_h_ahead_never_has_its_pin_accepted_while_gc_deletes(
    endpoint,  # noqa: F811
    bucket,
    monkeypatch,
):
    root = f"{bucket}/vocab"
    gc_store, pinner = (VocabStore(root, filesystem=s3(endpoint)) for _ in range(2))
    for text in ["a", "b"]:
        gc_store.publish(build([text]), "news")
    thread, resume, out = gc_paused_after_its_pin_check(gc_store, "news", keep=1)
    skew(monkeypatch, 2 * 3600)
    pinned = None
    with pytest.raises(StoreError, match="being deleted by a concurrent `vocabguard gc`"):
        pinned = pinner.pin("news@v1", reason="prod")
    resume.set()
    thread.join(WAIT)
    assert out["deleted"] == ["news@v1"]
    assert_pin_kept_or_refused(pinner, pinned)


def test_a_gc_2_h_ahead_does_not_take_a_live_gc_intent_for_a_leftover(
    endpoint,  # noqa: F811
    bucket,
    monkeypatch,
):
    """gc A announces it deletes v1 and stops; gc B, 2 h ahead, cleans leftovers: A's
    fresh intent must stay, so that a pin of v1 is refused, not lost."""
    root = f"{bucket}/vocab"
    a_store, b_store, pinner = (VocabStore(root, filesystem=s3(endpoint)) for _ in range(3))
    for text in ["a", "b", "c"]:
        a_store.publish(build([text]), "news")
    thread, resume, out = gc_paused_after_its_pin_check(a_store, "news", keep=2)
    skew(monkeypatch, 2 * 3600)
    assert b_store.gc("news", keep=3) == []
    pinned = None
    with pytest.raises(StoreError, match="being deleted by a concurrent `vocabguard gc`"):
        pinned = pinner.pin("news@v1")
    resume.set()
    thread.join(WAIT)
    assert out["deleted"] == ["news@v1"]
    assert_pin_kept_or_refused(pinner, pinned)
