"""Loading checks every file over its buffers: the fixed-width fingerprint equals the
per-token definition, vocab.txt is compared with the tokens without being rendered (and
still caught when it differs), the kind column is what the strings gave, and
``inspect --token/--id`` answers from the files' verified bytes, parsing only the row
groups that hold the asked rows."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, Vocabulary
from vocabguard._src.core import artifact, vocabulary
from vocabguard._src.core.errors import ChecksumMismatchError
from vocabguard._src.core.vocabulary import STRING, compute_fingerprint

# Tokens that exercise every branch of the safe-line check: control bytes that are and
# are not line breaks, multi-byte breaks, other non-ASCII text, invalid UTF-8, empty.
SPECIAL_TOKENS = [b"a\tb", b"a\rb", b"x\x1e", b"\xc2\x85", "\u2028".encode(), "\u2029x".encode()]
SPECIAL_TOKENS += ["\u00e9t\u00e9".encode(), b"\xff", b"\xe2\x80", b"", b"n\nl", b"\x0b"]
TOKEN_BYTES = st.binary(max_size=4) | st.sampled_from(SPECIAL_TOKENS)


def per_token_fingerprint(contract: dict, tokens: list[bytes]) -> str:
    digest = hashlib.sha256(json.dumps(contract, sort_keys=True, ensure_ascii=True).encode())
    for token in tokens:
        digest.update(len(token).to_bytes(8, "little") + token)
    return digest.hexdigest()


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(0, 9),
    n=st.integers(0, 40),
    start=st.integers(0, 3),
    chunk=st.sampled_from([1, 3, 1 << 16]),
    seed=st.integers(0, 2**32 - 1),
)
def test_fixed_width_fingerprint_is_the_per_token_definition(width, n, start, chunk, seed):
    """Tokens of one length take the reused-buffer path; chunking and a sliced array do
    not change the fingerprint, and a token of another length falls back exactly."""
    rng = np.random.default_rng(seed)
    tokens = [rng.bytes(width) for _ in range(n)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vocabulary, "_FINGERPRINT_CHUNK", chunk)
        array = pa.array(tokens, pa.binary()).slice(min(start, n))
        want = per_token_fingerprint({"k": 1}, tokens[min(start, n) :])
        assert compute_fingerprint({"k": 1}, array) == want
        mixed = [*tokens, b"z" * (width + 1)]
        assert compute_fingerprint({"k": 1}, pa.array(mixed, pa.binary())) == (
            per_token_fingerprint({"k": 1}, mixed)
        )


@settings(max_examples=150, deadline=None)
@given(st.lists(TOKEN_BYTES, max_size=12, unique=True))
def test_vocab_txt_checked_over_buffers_agrees_with_rendering(tokens):
    """``render_vocab_txt`` writes the file exactly when no token is unsafe, and
    ``matching_vocab_txt`` accepts exactly the rendered bytes: the same status, and
    ``None`` for a file with two lines swapped or a byte changed."""
    vocab = Vocabulary(VocabSpec(), STRING, pa.array(tokens, pa.binary()), [1] * len(tokens))
    data, status = artifact.render_vocab_txt(vocab)
    unsafe = [t for t in tokens if artifact.unsafe_text_line(t)]
    assert status["written"] is (not unsafe)
    # What load derives without reading the file is the status the file was written with.
    assert artifact.vocab_txt_status(vocab) == status
    if unsafe:
        assert status["reason"].startswith(f"{len(unsafe)} token(s) cannot be written")
        assert data is None
        return
    assert data == b"".join(t + b"\n" for t in tokens)
    assert artifact.matching_vocab_txt(vocab, data) == status
    if data:
        changed = bytes([data[0] ^ 1]) + data[1:]
        assert artifact.matching_vocab_txt(vocab, changed) is None
    if len(set(tokens)) > 1:
        lines = data.split(b"\n")
        lines[0], lines[1] = lines[1], lines[0]
        assert artifact.matching_vocab_txt(vocab, b"\n".join(lines)) is None


def test_loading_compares_vocab_txt_without_rendering_it(tmp_path, monkeypatch):
    """A clean verify never renders vocab.txt (it is compared over the buffers); a
    forged vocab.txt whose checksums were recomputed is still caught, naming the line."""
    store = VocabStore(tmp_path)
    vocab = Vocabulary.from_counts({b"k%03d" % i: 100 - i for i in range(50)}, VocabSpec())
    store.publish(vocab, "ids")
    render = artifact.render_vocab_txt

    def refuse(*args):
        raise AssertionError("load rendered vocab.txt to compare it")

    monkeypatch.setattr(artifact, "render_vocab_txt", refuse)
    assert store.load("ids").fingerprint == vocab.fingerprint
    assert store.verify("ids")["fingerprint"] == vocab.fingerprint
    monkeypatch.setattr(artifact, "render_vocab_txt", render)
    version = tmp_path / "ids" / "v1"
    text = (version / "vocab.txt").read_bytes().replace(b"k003", b"k999")
    (version / "vocab.txt").write_bytes(text)
    manifest = json.loads((version / "manifest.json").read_bytes())
    manifest["files"]["vocab.txt"]["sha256"] = hashlib.sha256(text).hexdigest()
    del manifest["manifest_sha256"]
    (version / "manifest.json").write_bytes(artifact.dump_manifest(manifest))
    assert store.load("ids").fingerprint == vocab.fingerprint  # load does not read it
    with pytest.raises(ChecksumMismatchError) as info:
        store.verify("ids")
    assert "vocab.txt is corrupt: it differs from the file regenerated from tokens.parquet" in (
        str(info.value)
    )
    assert "(first difference at line 4)" in str(info.value)


def string_kind_column(vocab: Vocabulary) -> pa.Array:
    """The kind column as the strings it stands for, dictionary-encoded (how it was
    built before codes)."""
    layout = vocab.layout
    kinds = ["pad"] + ["oov"] * vocab.num_oov_buckets + ["reserved"] * layout.num_reserved
    kinds += ["learned"] * layout.num_learned
    for id_ in vocab.retired:
        kinds[id_] = "retired"
    return pa.array(kinds, pa.string()).dictionary_encode()


@settings(max_examples=60, deadline=None)
@given(
    learned=st.integers(1, 8),
    buckets=st.integers(1, 3),
    reserved=st.lists(st.sampled_from(["[CLS]", "[SEP]", "[MASK]"]), unique=True),
    retired=st.sets(st.integers(0, 7)),
)
def test_kind_column_is_the_dictionary_encoded_strings(learned, buckets, reserved, retired):
    spec = VocabSpec(num_oov_buckets=buckets, reserved_tokens=reserved)
    tokens = [t.encode() for t in reserved] + [b"t%d" % i for i in range(learned)]
    start = 1 + buckets + len(reserved)  # the first learned id
    vocab = Vocabulary(
        spec,
        STRING,
        pa.array(tokens, pa.binary()),
        [1] * len(tokens),
        retired=[start + i for i in retired if i < learned],
    )
    got = artifact._kind_column(vocab)
    want = string_kind_column(vocab)
    assert got.dictionary.to_pylist() == want.dictionary.to_pylist()
    assert got.indices.to_pylist() == want.indices.to_pylist()
    assert list(artifact._kind_names(got)) == [
        artifact._KINDS.index(k) for k in want.cast(pa.string()).to_pylist()
    ]


@pytest.mark.parametrize("retire", [False, True])
def test_rows_from_verified_files_parse_only_their_row_groups(tmp_path, monkeypatch, retire):
    """``VersionRows.find`` over ``verified_files`` gives the rows the loaded Vocabulary
    gives (tokens found through vocab.txt, or by a scan when it was not written), and
    parses only the row groups that hold them."""
    from vocabguard.cli.store import row_table

    monkeypatch.setattr(artifact, "ROW_GROUP_ROWS", 7)
    store = VocabStore(tmp_path)
    counts = {b"w%02d" % i: 100 - i for i in range(40)}
    parent = Vocabulary.from_counts(counts, VocabSpec(num_oov_buckets=2))
    store.publish(parent, "v")
    if retire:
        del counts[b"w05"]
        store.publish(
            Vocabulary.from_counts(
                counts, VocabSpec(num_oov_buckets=2), parent=parent, retire=True
            ),
            "v",
        )
    ref = f"v@v{2 if retire else 1}"
    loaded = store.load(ref)
    manifest, contents = store.verified_files(ref)
    assert ("vocab.txt" in contents) is (not retire)
    tokens, ids = [b"w00", b"w05", b"w33", b"nope"], [0, 1, 3, 9, 41, 42, 43, 500]
    read = []
    real = artifact.pq.ParquetFile.read_row_group

    def counted(self, group, *args, **kwargs):
        read.append(group)
        return real(self, group, *args, **kwargs)

    monkeypatch.setattr(artifact.pq.ParquetFile, "read_row_group", counted)
    rows = artifact.VersionRows.find(manifest, contents, tokens=tokens, ids=[*ids, 2, 3, 4, 5])
    asked = [t.decode() for t in tokens]
    assert row_table(rows, rows="2:6", tokens=asked, ids=ids) == row_table(
        loaded, rows="2:6", tokens=asked, ids=ids
    )
    groups = len(loaded.token_array) // 7 + 1
    assert len(set(read)) < groups or retire  # a scan for a token reads token columns


def test_inspect_token_verifies_the_tokens_file_and_only_takes_hints_from_vocab_txt(
    tmp_path, capsys
):
    """``inspect --token`` checks the manifest and tokens.parquet's sha256 (a changed
    byte there is named); vocab.txt only points at rows, each confirmed in tokens.parquet,
    so a changed vocab.txt never changes the answer (``verify`` names it)."""
    from vocabguard.cli import main

    store = VocabStore(tmp_path)
    store.publish(Vocabulary.from_counts({b"cat": 3, b"dog": 2, b"emu": 1}, VocabSpec()), "pets")
    argv = ["--store", str(tmp_path), "inspect", "pets", "--json"]
    argv += ["--token", "dog", "--token", "emu", "--token", "yak"]
    assert main(argv) == 0
    title, body = capsys.readouterr().out.split("\n", 1)
    assert title.endswith("verified: sha256 of tokens.parquet and the manifest match")
    want = json.loads(body)
    assert [row["id"] for row in want[:2]] == [3, 4]
    tokens = tmp_path / "pets" / "v1" / "tokens.parquet"
    original = tokens.read_bytes()
    tokens.write_bytes(bytes([original[0] ^ 1]) + original[1:])
    assert main(argv) == 1
    assert "pets/v1/tokens.parquet does not match the sha256" in capsys.readouterr().err
    tokens.write_bytes(original)
    vocab_txt = tmp_path / "pets" / "v1" / "vocab.txt"
    # Lines swapped (a hint to the wrong row), a token renamed (no hint: a scan finds it),
    # a token that is not in the vocabulary added (a hint to a row that does not hold it),
    # a line dropped (an absent token is not believed: the file is not the one published).
    texts = [b"dog\ncat\nemu\n", b"cat\ndog\nemx\n", b"yak\ndog\nemu\n", b"cat\ndog\n"]
    for text in texts:
        vocab_txt.write_bytes(text)
        assert main(argv) == 0
        assert json.loads(capsys.readouterr().out.split("\n", 1)[1]) == want
        assert main(["--store", str(tmp_path), "verify", "pets"]) == 1
        assert "pets/v1/vocab.txt does not match the sha256" in capsys.readouterr().err


def test_load_checks_vocab_txt_by_its_size_and_verify_by_its_sha256(tmp_path, monkeypatch):
    """load never reads vocab.txt (it is not what a vocabulary is built from): a file of
    another size fails it, naming the file, both sizes and ``vocabguard verify``; a
    same-size change is left to verify, which reads it and checks its sha256."""
    store = VocabStore(tmp_path)
    vocab = Vocabulary.from_counts({b"k%03d" % i: 100 - i for i in range(50)}, VocabSpec())
    store.publish(vocab, "ids")
    path = tmp_path / "ids" / "v1" / "vocab.txt"
    read_file = artifact.read_file

    def no_vocab_txt(fs, file, limit=None):
        assert not file.endswith("/vocab.txt"), "load read vocab.txt"
        return read_file(fs, file, limit)

    monkeypatch.setattr(artifact, "read_file", no_vocab_txt)
    assert store.load("ids").fingerprint == vocab.fingerprint
    monkeypatch.setattr(artifact, "read_file", read_file)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ChecksumMismatchError) as info:
        store.load("ids")
    assert info.value.file == "vocab.txt"
    assert (
        f"ids/v1/vocab.txt has {size - 1} bytes but manifest.json records {size} bytes: the "
        "file was changed after publishing. Restore it or rebuild the vocabulary "
        "(`vocabguard verify` checks its sha256). "
    ) in str(info.value)
    path.write_bytes(b"k999" + read_file_bytes(path, size - 1)[4:] + b"\n")
    assert store.load("ids").fingerprint == vocab.fingerprint  # same size: load trusts it
    with pytest.raises(ChecksumMismatchError, match=r"ids/v1/vocab\.txt does not match the sha256"):
        store.verify("ids")


def read_file_bytes(path, size: int) -> bytes:
    data = path.read_bytes()
    assert len(data) == size
    return data


def test_a_changed_tokens_file_is_reported_by_its_sha256_not_a_parse_error(tmp_path):
    """tokens.parquet is hashed while it is parsed: a cut file, which Arrow cannot parse,
    is reported as not matching its sha256 (what happened), not as a parse failure."""
    store = VocabStore(tmp_path)
    store.publish(Vocabulary.from_counts({b"a": 2, b"b": 1}, VocabSpec()), "ids")
    path = tmp_path / "ids" / "v1" / "tokens.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
    with pytest.raises(ChecksumMismatchError) as info:
        store.load("ids")
    assert info.value.file == "tokens.parquet"
    assert "ids/v1/tokens.parquet does not match the sha256 in manifest.json" in str(info.value)


def test_publish_hashes_each_file_once_and_records_the_bytes_written(tmp_path, monkeypatch):
    """render_files hashes tokens.parquet and vocab.txt as it renders them (vocab.txt in a
    thread while the Parquet file is written); the manifest takes those digests, and
    they are the sha256 of the files as written."""
    hashed = []
    sha256 = artifact._sha256

    def counted(data):
        hashed.append(len(data))
        return sha256(data)

    monkeypatch.setattr(artifact, "_sha256", counted)
    store = VocabStore(tmp_path)
    vocab = Vocabulary.from_counts({b"k%03d" % i: 100 - i for i in range(50)}, VocabSpec())
    store.publish(vocab, "ids")
    version = tmp_path / "ids" / "v1"
    files = store.manifest("ids")["files"]
    for name in ("tokens.parquet", "vocab.txt"):
        data = (version / name).read_bytes()
        assert files[name] == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        assert hashed.count(len(data)) == 1, name
