"""The store under attack and accident: forged manifests, misplaced versions, symlinks.

Each test reproduces one defect of issue 11 (it failed before the fix): paths come
from the root, the validated name and the version number, never from a manifest;
a manifest must name its own directory; everything derived from the tokens is
recomputed on load; links inside the store are refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading

import pytest

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.artifact import MANIFEST, TOKENS, VOCAB_TXT, dump_manifest
from vocabguard.errors import (
    ArtifactError,
    ChecksumMismatchError,
    InvalidNameError,
    StoreError,
)

CORPUS = ["the cat sat", "the dog sat on the mat", "a cat"]
OTHER = ["completely different words here", "words words"]


def build(values, **spec):
    return build_vocabulary(values, VocabSpec(**spec), progress=False)


def forge(version_dir, change) -> None:
    """Edit a version's manifest with ``change(manifest)`` and re-sign it (a forger
    who knows the format recomputes the self-checksum)."""
    path = version_dir / MANIFEST
    manifest = json.loads(path.read_bytes())
    change(manifest)
    path.write_bytes(dump_manifest(manifest))


def file_entry(path) -> dict:
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


# -- defect 1: file names in the manifest --


def test_manifest_entry_outside_the_store_is_corrupt_and_gc_leaves_the_file(
    store, store_root, tmp_path
):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"not the store's\n")
    store.publish(build(CORPUS), "news")
    forge(
        store_root / "news" / "v1",
        lambda m: m["files"].update({"../../../victim.txt": file_entry(victim)}),
    )
    for check in (store.verify, store.load):
        with pytest.raises(ChecksumMismatchError) as info:
            check("news@v1")
        message = str(info.value)
        assert "manifest.json is corrupt" in message
        assert "'../../../victim.txt', which is not one of this version's files" in message
        assert "expected exactly ['tokens.parquet', 'vocab.txt']" in message
    store.publish(build(OTHER), "news")
    assert store.gc("news", keep=1) == ["news@v1"]
    assert victim.read_bytes() == b"not the store's\n"  # gc deleted only the version's files
    assert sorted(os.listdir(store_root / "news" / "v1")) == ["deleted.json"]


def test_manifest_entry_naming_dev_zero_fails_without_reading_it(store, store_root):
    store.publish(build(CORPUS), "news")
    forge(
        store_root / "news" / "v1",
        lambda m: m["files"].update({"/dev/zero": {"sha256": "0" * 64, "bytes": 1}}),
    )
    with pytest.raises(ChecksumMismatchError, match="'/dev/zero', which is not one of"):
        store.verify("news@v1")


def test_a_known_file_missing_from_the_files_map_is_corrupt(store, store_root):
    store.publish(build(CORPUS), "news")
    forge(store_root / "news" / "v1", lambda m: m["files"].pop(VOCAB_TXT))
    with pytest.raises(ChecksumMismatchError, match=r"its entry for vocab\.txt is None"):
        store.load("news@v1")


def test_a_file_longer_than_recorded_is_read_only_up_to_its_size(store, store_root):
    store.publish(build(CORPUS), "news")
    size = (store_root / "news" / "v1" / VOCAB_TXT).stat().st_size
    with open(store_root / "news" / "v1" / VOCAB_TXT, "ab") as f:
        f.write(b"x" * 10_000)
    with pytest.raises(ChecksumMismatchError) as info:
        store.verify("news@v1")
    assert "vocab.txt does not match the sha256" in str(info.value)
    assert f"(more than {size} bytes, {size} recorded)" in str(info.value)


# -- defect 2: a version copied into another's directory --


def test_version_restored_into_the_wrong_directory_is_refused(store, store_root):
    store.publish(build(CORPUS), "prod")
    store.publish(build(OTHER), "other")
    shutil.rmtree(store_root / "prod" / "v1")
    shutil.copytree(store_root / "other" / "v1", store_root / "prod" / "v1")
    for check in (store.load, store.verify, store.manifest):
        with pytest.raises(ChecksumMismatchError) as info:
            check("prod@v1")
        assert (
            "prod/v1/manifest.json is corrupt: its name is 'other' but it sits in the directory "
            "of prod@v1 (expected name 'prod')" in str(info.value)
        )
    store.publish(build(OTHER), "other")  # same content: still v1
    shutil.copytree(store_root / "other" / "v1", store_root / "other" / "v2")
    with pytest.raises(ChecksumMismatchError, match=r"its version is 1 but .* of other@v2"):
        store.load("other@v2")


# -- defect 3: symbolic links --


def test_publish_through_a_linked_name_is_refused(store, store_root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    store.publish(build(CORPUS), "news")
    (store_root / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError) as info:
        store.publish(build(CORPUS), "evil")
    message = str(info.value)
    assert message.startswith(f"{store_root}/evil is a symbolic link (to {outside}) inside")
    assert "The store never follows links" in message
    assert os.listdir(outside) == []  # nothing written outside the root
    with pytest.raises(StoreError, match="evil is a symbolic link"):
        store.names()


def test_gc_does_not_delete_another_store_through_a_linked_version(tmp_path):
    other = VocabStore(tmp_path / "other")
    other.publish(build(OTHER), "shared")
    store = VocabStore(tmp_path / "store")
    store.publish(build(CORPUS), "good")
    store.publish(build(OTHER), "good")
    shutil.rmtree(tmp_path / "store" / "good" / "v1")
    (tmp_path / "store" / "good" / "v1").symlink_to(tmp_path / "other" / "shared" / "v1")
    with pytest.raises(StoreError, match="good/v1 is a symbolic link"):
        store.gc("good", keep=1)
    with pytest.raises(StoreError, match="good/v1 is a symbolic link"):
        store.load("good@v1")
    assert other.verify("shared@v1")["fingerprint"] == build(OTHER).fingerprint


@pytest.mark.parametrize("file_name", [MANIFEST, TOKENS, VOCAB_TXT])
def test_a_linked_file_inside_a_version_is_refused(store, store_root, tmp_path, file_name):
    store.publish(build(CORPUS), "news")
    version = store_root / "news" / "v1"
    os.replace(version / file_name, tmp_path / file_name)
    (version / file_name).symlink_to(tmp_path / file_name)
    for check in (store.load, store.verify):
        with pytest.raises(StoreError, match=f"news/v1/{file_name} is a symbolic link"):
            check("news@v1")


def test_a_store_root_that_is_itself_a_link_is_allowed(tmp_path):
    VocabStore(tmp_path / "real").publish(build(CORPUS), "news")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert VocabStore(tmp_path / "alias").load("news").ref == "news@v1"


# -- minor: derived fields and vocab.txt --


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("layout", lambda m: m["layout"].update(num_learned=12345)),
        ("oov_ids", lambda m: m.update(oov_ids=[1, 7])),
        ("pad_id", lambda m: m.update(pad_id=3)),
        ("contract", lambda m: m["contract"].update(lowercase=True)),
        ("input_dim", lambda m: m.update(input_dim=10_000)),
        ("pad_token", lambda m: m.update(pad_token="<pad>")),
        ("reserved_tokens", lambda m: m.update(reserved_tokens=["[CLS]"])),
        ("vocab_txt", lambda m: m["vocab_txt"].update(first_id=5)),
    ],
)
def test_a_forged_derived_field_is_caught(store, store_root, field, change):
    store.publish(build(CORPUS), "news")
    before = json.loads((store_root / "news" / "v1" / MANIFEST).read_bytes())[field]
    forge(store_root / "news" / "v1", change)
    after = json.loads((store_root / "news" / "v1" / MANIFEST).read_bytes())[field]
    for check in (store.load, store.verify):
        with pytest.raises(ChecksumMismatchError) as info:
            check("news@v1")
        assert (
            f"manifest.json is corrupt: its {field} is {after!r}, but the tokens in "
            f"tokens.parquet give {before!r}" in str(info.value)
        )


def test_swapped_vocab_txt_lines_with_recomputed_checksums_are_caught(store, store_root):
    store.publish(build(CORPUS), "news")
    version = store_root / "news" / "v1"
    lines = (version / VOCAB_TXT).read_bytes().split(b"\n")
    lines[0], lines[1] = lines[1], lines[0]
    (version / VOCAB_TXT).write_bytes(b"\n".join(lines))
    forge(version, lambda m: m["files"].update({VOCAB_TXT: file_entry(version / VOCAB_TXT)}))
    with pytest.raises(ChecksumMismatchError) as info:
        store.verify("news@v1")
    assert "news/v1/vocab.txt is corrupt: it differs from the file regenerated from " in str(
        info.value
    )
    assert "(first difference at line 1)" in str(info.value)


# -- minor: extra files, long version numbers --


def test_verify_reports_unknown_files_in_a_version(store, store_root):
    store.publish(build(CORPUS), "news")
    (store_root / "news" / "v1" / "notes.md").write_text("hand-made\n")
    with pytest.raises(ArtifactError) as info:
        store.verify("news@v1")
    assert "news/v1 holds file(s) that are not part of a version: notes.md" in str(info.value)
    assert store.load("news@v1").ref == "news@v1"  # loading reads only the version's files


def test_a_400_digit_version_is_a_clean_name_error(store):
    store.publish(build(CORPUS), "ok")
    ref = "ok@v" + "9" * 400
    for call in (store.load, store.verify, store.resolve, store.pin):
        with pytest.raises(InvalidNameError) as info:
            call(ref)
        assert str(info.value).startswith("Version numbers have at most 18 digits")
        assert str(info.value).endswith("Received: version_digits=400")


# -- defect 7: identical concurrent publishes, interleaved deterministically --


def paused_publisher(root, vocab, name, point):
    """A publisher in a thread that stops at ``point``; returns (store, resume, paused, out)."""
    store = VocabStore(root)
    paused, resume, out = threading.Event(), threading.Event(), {}

    def hook(at, _name, _version):
        if at == point and not paused.is_set():
            paused.set()
            assert resume.wait(30), "the test never resumed the publisher"

    store._hook = hook

    def run():
        out["result"] = store.publish(vocab, name)

    thread = threading.Thread(target=run)
    thread.start()
    assert paused.wait(30), f"the publisher never reached {point!r}"
    return thread, resume, out


@pytest.mark.parametrize("point", ["numbered", "checked"])
def test_a_twin_that_publishes_while_another_is_paused_gives_one_version(store_root, point):
    """The paused publisher chose its number; its twin publishes meanwhile.

    At "numbered" (before the second "same as latest?" check) the paused one finds
    the twin's version on resuming. At "checked" (after the check) both hold the same
    number: the twin's rename wins, the paused one's fails and it finds the twin.
    """
    vocab = build(CORPUS)
    thread, resume, out = paused_publisher(store_root, vocab, "news", point)
    twin = VocabStore(store_root).publish(vocab, "news")
    resume.set()
    thread.join(30)
    assert (twin.ref, twin.newly_published) == ("news@v1", True)
    assert (out["result"].ref, out["result"].newly_published) == ("news@v1", False)
    assert VocabStore(store_root).versions("news") == [1]


def test_a_twin_numbered_after_another_publish_still_finds_it(store_root):
    """The race that made two versions: the paused publisher asked "same as latest?"
    before its twin published and chose its number after (so a higher one)."""
    vocab = build(CORPUS)
    store = VocabStore(store_root)
    store.publish(build(OTHER), "news")  # v1: other content
    paused, resume, out = threading.Event(), threading.Event(), {}
    original = store._next_number

    def next_number(name):
        if not paused.is_set():
            paused.set()
            assert resume.wait(30)
        return original(name)

    store._next_number = next_number
    thread = threading.Thread(target=lambda: out.update(result=store.publish(vocab, "news")))
    thread.start()
    assert paused.wait(30)
    twin = VocabStore(store_root).publish(vocab, "news")  # v2, while the other is paused
    resume.set()
    thread.join(30)
    assert twin.ref == "news@v2"
    assert (out["result"].ref, out["result"].newly_published) == ("news@v2", False)
    assert store.versions("news") == [1, 2]
