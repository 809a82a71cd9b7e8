"""VocabStore: publish / load, references, immutability, checksums, names, crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.artifact import (
    MANIFEST,
    TOKENS,
    VOCAB_TXT,
    parse_manifest,
    unsafe_text_line,
)
from vocabguard.errors import (
    ArtifactError,
    ChecksumMismatchError,
    InvalidNameError,
    VersionNotFoundError,
)

CORPUS = ["the cat sat", "the dog sat on the mat", "a cat"]
OTHER = ["completely different words here", "words words"]
VERSION_FILES = {MANIFEST, TOKENS, VOCAB_TXT}


def build(values, **spec):
    return build_vocabulary(values, VocabSpec(**spec), progress=False)


def tree(path) -> set[str]:
    """Every path under ``path`` (relative), to prove nothing else was created."""
    return {
        os.path.relpath(os.path.join(d, n), path) for d, ds, fs in os.walk(path) for n in ds + fs
    }


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- publish / load --


def test_publish_load_round_trip(store, store_root):
    spec = VocabSpec(num_oov_buckets=3, reserved_tokens=["[CLS]"], capacity=64, sequence_length=5)
    vocab = build_vocabulary(CORPUS, spec, progress=False)
    published = store.publish(vocab, "news")
    assert (published.name, published.version, published.ref) == ("news", 1, "news@v1")
    assert vocab.name is None and vocab.version is None  # the input is not mutated

    loaded = store.load("news")
    assert loaded.ref == "news@v1"
    assert loaded.spec == spec
    assert loaded.tokens == vocab.tokens
    assert loaded.token_bytes == vocab.token_bytes
    assert loaded.counts == vocab.counts
    assert loaded.input_dim == vocab.input_dim == 64
    assert loaded.fingerprint == vocab.fingerprint
    assert loaded.stats == vocab.stats
    texts = ["the cat zzz", "mat on the dog sat a cat", ""]
    assert (loaded.encode(texts) == vocab.encode(texts)).all()

    directory = store_root / "news" / "v1"
    assert store.path("news") == str(directory)
    assert {p.name for p in directory.iterdir()} == VERSION_FILES
    manifest = json.loads((directory / MANIFEST).read_text())
    assert manifest == store.manifest("news@v1") == loaded.manifest
    assert (manifest["name"], manifest["version"]) == ("news", 1)
    assert manifest["input_dim"] == 64
    assert manifest["fingerprint"] == vocab.fingerprint
    assert manifest["layout"] == vocab.layout.to_dict()
    assert manifest["spec"] == spec.to_dict()
    assert manifest["oov_ids"] == [1, 3]
    for name in (TOKENS, VOCAB_TXT):
        assert manifest["files"][name]["sha256"] == sha256(directory / name)
        assert manifest["files"][name]["bytes"] == (directory / name).stat().st_size
    assert not [p for p in (store_root / "news").iterdir() if p.name.startswith(".staging")]
    assert store.verify("news") == manifest


def test_integer_vocabulary_round_trip(store):
    vocab = build([5, 0, -1, 5, 7, 7, 7, -(2**63)], tokenizer="none", num_oov_buckets=2)
    loaded = store.load(store.publish(vocab, "ids").ref)
    assert loaded.token_type == "int64"
    assert loaded.tokens == vocab.tokens
    assert loaded.fingerprint == vocab.fingerprint
    values = [0, -1, 5, 7, 99, -(2**63)]
    assert loaded.encode(values).tolist() == vocab.encode(values).tolist()


def test_vocab_txt_lines_are_the_tokens_from_id_k_plus_1(store, store_root):
    k = 3
    vocab = build([*CORPUS, "日本 😀 é"], num_oov_buckets=k, reserved_tokens=["[CLS]", "[SEP]"])
    store.publish(vocab, "news")
    text = (store_root / "news" / "v1" / VOCAB_TXT).read_bytes().decode("utf-8")
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert lines == vocab.tokens[k + 1 :]
    # Line i of vocab.txt is id k + 1 + i.
    assert [vocab.token_to_id(line) for line in lines] == list(range(k + 1, vocab.input_dim))
    assert store.manifest("news")["vocab_txt"] == {
        "written": True,
        "first_id": k + 1,
        "lines": len(lines),
    }


def test_vocab_txt_of_an_integer_vocabulary(store, store_root):
    vocab = build([3, 3, -7, 12], tokenizer="none")
    store.publish(vocab, "ids")
    lines = (store_root / "ids" / "v1" / VOCAB_TXT).read_text().split("\n")[:-1]
    assert lines == [str(t) for t in vocab.tokens[2:]]


def test_tab_and_space_tokens_are_safe_text_lines(store, store_root):
    vocab = build(["a\tb", " ", "x y", "tab\t"], tokenizer="none")
    store.publish(vocab, "spaces")
    text = (store_root / "spaces" / "v1" / VOCAB_TXT).read_text(encoding="utf-8")
    assert text.split("\n")[:-1] == vocab.tokens[2:]


# -- tokens that are not text lines --


# No "": under tokenizer none the empty string is a missing value, never a token.
WEIRD = ["a\nb", "tab\there", " ", b"\xff\xfe", "plain", "x y", "line\r", "\u2028"]


def test_weird_tokens_round_trip(store, store_root):
    values = [*WEIRD, "plain", b"\xff\xfe"]
    vocab = build(values, tokenizer="none")
    published = store.publish(vocab, "weird")
    loaded = store.load("weird")
    assert loaded.token_bytes == vocab.token_bytes
    raw = {t.encode("utf-8") if isinstance(t, str) else t for t in WEIRD}
    assert set(loaded.token_bytes) == raw
    assert loaded.tokens == vocab.tokens
    assert b"\xff\xfe" in loaded.tokens  # not valid UTF-8: shown as bytes
    assert loaded.encode(WEIRD).tolist() == vocab.encode(WEIRD).tolist()
    assert [loaded.token_to_id(t) for t in WEIRD] == [
        vocab.layout.reserved_start
        + vocab.token_bytes.index(t.encode() if isinstance(t, str) else t)
        for t in WEIRD
    ]
    # Decoding gives str for valid UTF-8 and the raw bytes otherwise: the values back.
    assert loaded.decode(loaded.encode(WEIRD), skip_pad=False) == WEIRD

    directory = store_root / "weird" / "v1"
    assert not (directory / VOCAB_TXT).exists()
    manifest = store.manifest(published.ref)
    assert VOCAB_TXT not in manifest["files"]
    status = manifest["vocab_txt"]
    assert status["written"] is False
    unsafe = [t for t in vocab.token_bytes if unsafe_text_line(t)]
    assert {b"a\nb", b"\xff\xfe", b"line\r", "\u2028".encode()} == set(unsafe)
    assert status["reason"].startswith(f"{len(unsafe)} token(s) cannot be written as text lines")
    assert "tokens.parquet" in status["reason"]


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("a\nb", "contains line break '\\n'"),
        ("a\rb", "contains line break '\\r'"),
        ("a\u2028b", "contains line break '\\u2028'"),
        ("a\x85b", "contains line break '\\x85'"),
        ("", "an empty token would be an empty line"),
        (b"\xff\xfe", "is not valid UTF-8"),
    ],
)
def test_vocab_txt_reason_names_the_token(store, store_root, token, why):
    from vocabguard import Vocabulary

    if token == "":  # no build learns "" (a missing value); a store may still hold it
        vocab = Vocabulary(VocabSpec(tokenizer="none"), "string", [b"ok", b""], [1, 1])
    else:
        vocab = build(["ok", token], tokenizer="none")
    store.publish(vocab, "one")
    status = store.manifest("one")["vocab_txt"]
    assert status["written"] is False
    assert status["reason"].startswith("1 token(s) cannot be written as text lines; first: ")
    assert why in status["reason"]
    assert not (store_root / "one" / "v1" / VOCAB_TXT).exists()
    assert store.load("one").token_bytes == vocab.token_bytes


# -- versions and references --


def test_same_content_twice_is_one_version(store):
    first = store.publish(build(CORPUS), "news")
    again = store.publish(build(list(CORPUS)), "news")
    assert again.ref == first.ref == "news@v1"
    assert again.fingerprint == first.fingerprint
    assert store.versions("news") == [1]


def test_different_content_is_a_new_version(store, store_root):
    v1 = store.publish(build(CORPUS), "news")
    before = {p.name: sha256(p) for p in (store_root / "news" / "v1").iterdir()}
    v2 = store.publish(build(OTHER), "news")
    assert (v1.version, v2.version) == (1, 2)
    assert store.versions("news") == [1, 2]
    # Published versions are never modified.
    assert {p.name: sha256(p) for p in (store_root / "news" / "v1").iterdir()} == before
    # Only the latest version is compared: returning to earlier content is a new version.
    v3 = store.publish(build(CORPUS), "news")
    assert v3.ref == "news@v3" and v3.fingerprint == v1.fingerprint
    assert store.resolve(f"news@{v1.fingerprint[:8]}") == ("news", 3)  # newest match wins


def test_a_spec_change_that_changes_ids_is_a_new_version(store):
    store.publish(build(CORPUS), "news")
    assert store.publish(build(CORPUS, num_oov_buckets=2), "news").version == 2
    assert store.publish(build(CORPUS, num_oov_buckets=2, capacity=100), "news").version == 3


def test_refs(store):
    v1 = store.publish(build(CORPUS), "news")
    v2 = store.publish(build(OTHER), "news")
    store.publish(build(["x"]), "other")
    assert store.names() == ["news", "other"]
    assert store.resolve("news") == ("news", 2)
    assert store.resolve("news@latest") == ("news", 2)
    assert store.resolve("news@v1") == ("news", 1)
    assert store.resolve(f"news@{v1.fingerprint[:8]}") == ("news", 1)
    assert store.resolve(f"news@{v1.fingerprint}") == ("news", 1)
    assert store.resolve(f"news@{v2.fingerprint[:12]}") == ("news", 2)
    assert store.load("news").fingerprint == v2.fingerprint
    assert store.load("news@latest").ref == "news@v2"
    assert store.load("news@v1").tokens == v1.tokens
    assert store.load(f"news@{v2.fingerprint[:8]}").tokens == v2.tokens


def test_unknown_name(store):
    store.publish(build(CORPUS), "news")
    store.publish(build(CORPUS), "books")
    with pytest.raises(VersionNotFoundError) as info:
        store.load("nope")
    message = str(info.value)
    assert message.startswith(f"No published vocabulary named 'nope' in store {store.root}")
    assert "names there: books, news." in message
    assert message.endswith("Received: ref='nope'")
    assert info.value.cases == ["nope"]


def test_unknown_name_in_an_empty_store(store, store_root):
    with pytest.raises(VersionNotFoundError) as info:
        store.load("news@v1")
    assert "names there: none." in str(info.value)
    assert store.names() == [] and store.versions("news") == []
    assert not store_root.exists()


def test_unknown_version(store):
    store.publish(build(CORPUS), "news")
    store.publish(build(OTHER), "news")
    with pytest.raises(VersionNotFoundError) as info:
        store.load("news@v9")
    message = str(info.value)
    assert message.startswith("'news' has no version v9; published: v1, v2.")
    assert message.endswith("Received: ref='news@v9'")


def test_unknown_fingerprint(store):
    vocab = store.publish(build(CORPUS), "news")
    prefix = next(p for p in ("deadbeef", "00000000") if not vocab.fingerprint.startswith(p))
    with pytest.raises(VersionNotFoundError) as info:
        store.load(f"news@{prefix}")
    message = str(info.value)
    assert f"No version of 'news' has a fingerprint starting with {prefix}" in message
    assert message.endswith(f"Received: ref='news@{prefix}'")


@pytest.mark.parametrize(
    "ref",
    [
        "news@v0",
        "news@V1",
        "news@v01",
        "news@abc",
        "news@abcdef1",
        "news@ABCDEF12",
        "news@latest2",
        "news@v1\n",
        "news@v1@v2",
    ],
)
def test_malformed_ref(store, ref):
    store.publish(build(CORPUS), "news")
    with pytest.raises(InvalidNameError) as info:
        store.load(ref)
    message = str(info.value)
    assert message.startswith(f"Cannot read the version part of reference {ref!r}")
    assert "'news@latest', 'news@v3' or 'news@' followed by 8 or more hex digits" in message
    assert message.endswith(f"Received: ref={ref!r}")


# -- names --


BAD_NAMES = [
    "../x",
    "a/b",
    ".hidden",
    "",
    "a..b",
    "..",
    ".",
    "/abs",
    "a\\b",
    "a b",
    "-x",
    "_x",
    "x" * 129,
    "name\n",
    "a\x00b",
    "é",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names_are_rejected(tmp_path, store, name):
    before = tree(tmp_path)
    vocab = build(CORPUS)
    for call in (
        lambda: store.publish(vocab, name),
        lambda: store.load(name),
        lambda: store.load(f"{name}@v1"),
        lambda: store.versions(name),
    ):
        with pytest.raises(InvalidNameError) as info:
            call()
        message = str(info.value)
        assert message.startswith("A vocabulary name must start with a letter or digit")
        assert "so it cannot leave the store's root" in message
        assert message.endswith(f"Received: name={name!r}")
        assert info.value.cases == [name]
    assert tree(tmp_path) == before


def test_non_string_name_is_rejected(store):
    with pytest.raises(InvalidNameError) as info:
        store.publish(build(CORPUS), None)
    assert str(info.value).endswith("Received: name=None")


@pytest.mark.parametrize("name", ["a", "News_2024", "v1", "a.b-c_d", "0", "x" * 128])
def test_valid_names(store, store_root, name):
    store.publish(build(CORPUS), name)
    assert store.names() == [name]
    assert (store_root / name / "v1" / MANIFEST).is_file()


# -- checksums: any changed byte of any file is caught, naming the file --


def flip_middle_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_version_files_are_the_ones_checked(store, store_root):
    """The parametrization below covers every file a version directory holds."""
    store.publish(build(CORPUS), "news")
    assert {p.name for p in (store_root / "news" / "v1").iterdir()} == VERSION_FILES


@pytest.mark.parametrize("file_name", sorted(VERSION_FILES))
def test_flipped_byte_is_caught(store, store_root, file_name):
    published = store.publish(build(CORPUS), "news")
    path = store_root / "news" / "v1" / file_name
    flip_middle_byte(path)
    # load reads what a vocabulary is built from; vocab.txt (for readers outside
    # vocabguard, unchanged in size here) is read and hashed by verify.
    check = store.verify if file_name == VOCAB_TXT else store.load
    if file_name == VOCAB_TXT:
        assert store.load("news").fingerprint == published.fingerprint
    for ref in ("news", "news@v1"):
        with pytest.raises(ChecksumMismatchError) as info:
            check(ref)
        err = info.value
        assert isinstance(err, ArtifactError)
        assert err.file == file_name and err.cases == [file_name]
        message = str(err)
        assert f"news/v1/{file_name}" in message
        assert "changed after publishing" in message or "is corrupt" in message
        assert message.endswith(f"Received: file='{store.root}/news/v1/{file_name}'")
    with pytest.raises(ChecksumMismatchError):
        store.verify("news")
    with pytest.raises(ArtifactError):
        check(f"news@{published.fingerprint[:8]}")


def test_every_changed_byte_of_the_manifest_is_caught(store, store_root):
    store.publish(build(CORPUS, reserved_tokens=["[CLS]"]), "news")
    raw = (store_root / "news" / "v1" / MANIFEST).read_bytes()
    assert parse_manifest(raw, "news/v1")["name"] == "news"
    for position in range(len(raw)):
        for mask in (0x01, 0x20):
            changed = bytearray(raw)
            changed[position] ^= mask
            with pytest.raises(ChecksumMismatchError) as info:
                parse_manifest(bytes(changed), "news/v1")
            assert info.value.file == MANIFEST
    # Appended or removed whitespace counts too.
    for changed in (raw + b"\n", raw.rstrip(b"\n"), raw.replace(b"  ", b" ", 1)):
        with pytest.raises(ChecksumMismatchError):
            parse_manifest(changed, "news/v1")


@pytest.mark.parametrize("file_name", [TOKENS, VOCAB_TXT])
def test_missing_file_is_caught(store, store_root, file_name):
    store.publish(build(CORPUS), "news")
    (store_root / "news" / "v1" / file_name).unlink()
    with pytest.raises(ArtifactError) as info:
        store.load("news")
    message = str(info.value)
    assert f"news/v1/{file_name} is missing, but the manifest lists it" in message
    assert info.value.file == file_name


def test_version_without_manifest_is_not_visible(store, store_root):
    store.publish(build(CORPUS), "news")
    store.publish(build(OTHER), "news")
    (store_root / "news" / "v2" / MANIFEST).unlink()
    assert store.versions("news") == [1]
    assert store.load("news").ref == "news@v1"


# -- a writer killed mid-publish --

KILLED_PUBLISHER = textwrap.dedent(
    """
    import os, sys
    from vocabguard import VocabSpec, VocabStore, build_vocabulary
    from vocabguard._src.core.store import VocabStore as Store

    root, name, kill_on = sys.argv[1:4]
    write = Store._write

    def dying_write(self, path, data):
        if path.endswith("/" + kill_on):
            os._exit(1)  # no cleanup, no finally blocks: like a SIGKILL
        write(self, path, data)

    Store._write = dying_write
    vocab = build_vocabulary(sys.argv[4:], VocabSpec(), progress=False)
    VocabStore(root).publish(vocab, name)
    sys.exit(0)  # never reached
    """
)


def run_killed_publisher(root, name, kill_on, texts) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISHER, str(root), name, kill_on, *texts],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 1, result.stderr


@pytest.mark.parametrize("kill_on", [TOKENS, VOCAB_TXT, MANIFEST])
def test_killed_publisher_leaves_the_store_consistent(store, store_root, kill_on):
    v1 = store.publish(build(CORPUS), "news")
    run_killed_publisher(store_root, "news", kill_on, OTHER)

    # It died inside its staging directory: files written, nothing visible.
    staging = [p for p in (store_root / "news").iterdir() if p.name.startswith(".staging-")]
    assert len(staging) == 1
    written = {p.name for p in staging[0].iterdir()}
    assert kill_on not in written and written < VERSION_FILES
    assert store.versions("news") == [1]
    assert store.names() == ["news"]
    assert store.load("news").fingerprint == v1.fingerprint
    assert store.verify("news@latest")["version"] == 1

    # The next publish takes the next number and loads.
    v2 = store.publish(build(OTHER), "news")
    assert v2.ref == "news@v2"
    assert store.versions("news") == [1, 2]
    assert store.load("news").tokens == build(OTHER).tokens


def test_killed_first_publish_leaves_no_name(store, store_root):
    run_killed_publisher(store_root, "fresh", MANIFEST, CORPUS)
    assert (store_root / "fresh").is_dir()
    assert store.versions("fresh") == []
    assert store.names() == []
    with pytest.raises(VersionNotFoundError) as info:
        store.load("fresh")
    assert "No published vocabulary named 'fresh'" in str(info.value)
    assert store.publish(build(CORPUS), "fresh").ref == "fresh@v1"
    assert store.load("fresh").tokens == build(CORPUS).tokens


def test_store_root_as_string(tmp_path):
    root = str(tmp_path / "s")
    store = VocabStore(root)
    assert repr(store) == f"VocabStore({root!r})"
    assert store.publish(build(CORPUS), "news").ref == "news@v1"
    assert VocabStore(root).load("news").ref == "news@v1"


def test_stray_entries_in_the_root_are_not_names(store, store_root):
    store.publish(build(CORPUS), "news")
    for stray in ("a..b", ".staging-x", "empty"):
        (store_root / stray).mkdir()
    (store_root / "README").write_text("not a vocabulary\n")
    assert store.names() == ["news"]


# -- concurrent publishers --

PUBLISHER = textwrap.dedent(
    """
    import sys
    from vocabguard import VocabSpec, VocabStore, build_vocabulary

    root, name = sys.argv[1:3]
    vocab = build_vocabulary(sys.argv[3:], VocabSpec(), progress=False)
    print(VocabStore(root).publish(vocab, name).ref)
    """
)


def test_concurrent_publishers_get_distinct_versions(store, store_root):
    """Whatever the interleaving, every publisher gets its own complete version, and
    each process exits cleanly (status 0, no abort while the interpreter shuts down)."""
    contents = [[f"doc {i}", f"word{i} word{i} shared"] for i in range(4)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(store_root), "news", *texts],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        for texts in contents
    ]
    refs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "terminate called" not in err
        refs.append(out.strip())
    assert sorted(refs) == [f"news@v{i}" for i in range(1, 5)]
    assert store.versions("news") == [1, 2, 3, 4]
    for ref, texts in zip(refs, contents):
        assert store.load(ref).fingerprint == build(texts).fingerprint
    assert not [p for p in (store_root / "news").iterdir() if p.name.startswith(".staging")]


def test_publisher_with_a_stale_view_takes_the_next_free_number(store, store_root, monkeypatch):
    store.publish(build(CORPUS), "news")
    other = VocabStore(store_root)
    v2 = other.publish(build(OTHER), "news")
    v2_files = {p.name: sha256(p) for p in (store_root / "news" / "v2").iterdir()}

    # `store` lists versions before `other` published v2.
    real_versions = VocabStore.versions
    stale = iter([[1]])
    monkeypatch.setattr(
        store, "versions", lambda name: next(stale, None) or real_versions(store, name)
    )
    v3 = store.publish(build(["a third vocabulary"]), "news")
    assert v3.ref == "news@v3"
    assert real_versions(store, "news") == [1, 2, 3]
    assert {p.name: sha256(p) for p in (store_root / "news" / "v2").iterdir()} == v2_files
    assert store.load("news@v2").fingerprint == v2.fingerprint
    assert store.load("news@v3").tokens == build(["a third vocabulary"]).tokens


def test_processes_that_publish_and_load_exit_cleanly(tmp_path):
    """Regression: reading tokens.parquet from Python bytes let an Arrow worker thread
    drop the buffer during interpreter shutdown, aborting about every other process with
    "terminate called without an active exception" (exit status 134). A clean exit is
    required every time; several runs make the old failure show reliably."""
    for run in range(4):
        result = subprocess.run(
            [sys.executable, "-c", PUBLISHER, str(tmp_path / "store"), f"run{run}", "a b c"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        assert (result.returncode, result.stdout.strip()) == (0, f"run{run}@v1"), result.stderr
        assert "terminate called" not in result.stderr


def test_object_store_path_publishes_in_place_with_the_manifest_last():
    # A filesystem without atomic directory rename (like gs:// or s3://): files go
    # straight into v<N>, manifest last; the version is visible only when complete.
    import pyarrow.fs as pafs

    written = []
    mock = pafs._MockFileSystem()
    store = VocabStore("/bucket/vocab", filesystem=mock)
    original_write = store._write

    def recording_write(path, data):
        written.append(path.rsplit("/", 1)[-1])
        original_write(path, data)

    store._write = recording_write
    vocab = build_vocabulary(["a b b", "c"], VocabSpec(), progress=False)
    first = store.publish(vocab, "remote")
    assert (first.ref, written[-1]) == ("remote@v1", "manifest.json")
    assert set(written) == {"tokens.parquet", "vocab.txt", "manifest.json"}
    assert store.load("remote@v1").fingerprint == vocab.fingerprint
    second = store.publish(build_vocabulary(["x"], VocabSpec(), progress=False), "remote")
    assert second.ref == "remote@v2"
    assert store.versions("remote") == [1, 2]
    # A partial version (no manifest yet) stays invisible and is never reused.
    mock.create_dir("/bucket/vocab/remote/v3", recursive=True)
    assert store.versions("remote") == [1, 2]
    third = store.publish(build_vocabulary(["y"], VocabSpec(), progress=False), "remote")
    assert third.ref == "remote@v4"
