"""A store written by an earlier release (tests/data/legacy_store) still loads, verifies
and gives the same ids: string, int64, n-gram, WordPiece, categorical-with-missing,
document-count and lineage (retired rows) versions.

The store and its expected.json were written by tests/data/make_legacy_store.py run with
the code of main at e2bfaaf, before tokens became Arrow columns from counting to lookup.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vocabguard import VocabStore
from vocabguard._src.core.artifact import render_files

LEGACY = pathlib.Path(__file__).parent / "data" / "legacy_store"
EXPECTED = json.loads((LEGACY / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # A copy: loading never writes, but a test must not be able to touch the committed data.
    root = tmp_path_factory.mktemp("legacy") / "store"
    shutil.copytree(LEGACY, root, ignore=shutil.ignore_patterns("expected.json"))
    return VocabStore(root)


@pytest.mark.parametrize("ref", sorted(EXPECTED))
def test_old_version_loads_verifies_and_gives_the_same_ids(store, ref):
    want = EXPECTED[ref]
    vocab = store.load(ref)
    assert store.verify(ref)["fingerprint"] == want["fingerprint"]
    assert vocab.fingerprint == want["fingerprint"]
    assert vocab.input_dim == want["input_dim"]
    shown = [t if isinstance(t, (str, int)) else repr(t) for t in vocab.tokens]
    assert shown == want["tokens"]
    if ref.startswith("pieces@"):
        got = [row.tolist() for row in vocab.encode(want["probe"])]
    else:
        got = vocab.lookup(want["probe"]).tolist()
    assert got == want["ids"]


@pytest.mark.parametrize("ref", sorted(EXPECTED))
def test_republishing_an_old_version_writes_the_same_token_file(store, ref):
    """Publishing the loaded vocabulary again renders the same tokens.parquet table
    (columns, types, metadata) and a byte-identical vocab.txt: the columnar writer keeps
    the old format. (Parquet bytes are not compared: they name the writing pyarrow.)"""
    vocab = store.load(ref)
    name, version = ref.split("@v")
    old = LEGACY / name / f"v{version}"
    files, _ = render_files(vocab)
    assert sorted(files) == sorted(p.name for p in old.iterdir() if p.name != "manifest.json")
    table = pq.read_table(pa.BufferReader(files["tokens.parquet"]))
    assert table.equals(pq.read_table(old / "tokens.parquet"), check_metadata=True)
    if "vocab.txt" in files:
        assert files["vocab.txt"] == (old / "vocab.txt").read_bytes()
