"""WordPiece versions in the tools (issue 14): ``inspect``, ``report``, and ``migrate-model``
moving a trained model's rows by piece along a ``--parent`` lineage."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from cli_run import run
from wordpiece_texts import ENGLISH, RUSSIAN

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard._src.engines.keras import _all_layers as all_layers
from vocabguard._src.engines.training import ModelConfig, build_model

GOLDEN_CORPUS = ["the cats sat", "the cat sat", "a cat", "cats", "the sat cat!"]


def wordpiece(**fields) -> vg.VocabSpec:
    return vg.VocabSpec(tokenizer="wordpiece", **{"vocab_size": 200, "lowercase": True, **fields})


# -- inspect and report --


def test_inspect_prints_the_wordpiece_lines(capsys, store_root):
    spec = wordpiece(vocab_size=30, reserved_tokens=["[CLS]"])
    vocab = vg.VocabStore(store_root).publish(
        vg.build_vocabulary(GOLDEN_CORPUS, spec, progress=False), "golden"
    )
    learned = vocab.tokens[3:]  # [PAD], [UNK], [CLS], then the pieces
    continuing = [p for p in learned if p.startswith("##")]
    assert len(learned) == 18 and len(continuing) == 7  # tests/test_wordpiece.py's golden order
    code, out, _ = run(capsys, store_root, "inspect", "golden@v1")
    assert code == 0
    lines = out.splitlines()
    assert "  tokenizer       wordpiece, lowercase=True, normalization=none" in lines
    assert (
        "  wordpiece       vocab_size 30 (target); 18 pieces learned; joiner '##'; "
        "max_chars_per_word 100" in lines
    )
    assert "  pieces          11 word-initial, 7 continuation ('##'...)" in lines
    # 13 words ('!' is one), 6 distinct; each is one piece ('cats' is a piece).
    assert (
        "  words           13 counted (6 distinct, 6 learned from) -> 13 pieces; 0 OOV words"
        in lines
    ), out
    # The joiner and the limit as set.
    spec = wordpiece(vocab_size=30, joiner="@@", max_chars_per_word=3)
    vg.VocabStore(store_root).publish(vg.build_vocabulary(GOLDEN_CORPUS, spec, progress=False), "j")
    _, out, _ = run(capsys, store_root, "inspect", "j@v1", "--no-verify")
    assert "joiner '@@'; max_chars_per_word 3" in out
    assert re.search(r"pieces          \d+ word-initial, \d+ continuation \('@@'\.\.\.\)", out)
    assert "-> 11 pieces; 2 OOV words" in out, out  # 'cats' (twice) is over 3 characters
    # A word-level version has no WordPiece lines.
    vg.VocabStore(store_root).publish(
        vg.build_vocabulary(GOLDEN_CORPUS, vg.VocabSpec(), progress=False), "words"
    )
    _, out, _ = run(capsys, store_root, "inspect", "words@v1")
    assert "wordpiece" not in out and "  pieces  " not in out


def test_report_on_a_wordpiece_version_counts_pieces(capsys, store_root, tmp_path):
    vg.VocabStore(store_root).publish(
        vg.build_vocabulary(ENGLISH + RUSSIAN, wordpiece(), progress=False), "p"
    )
    sample = tmp_path / "sample.txt"
    sample.write_text("the cats\n☃ cat\n", encoding="utf-8")
    output = tmp_path / "report"
    code, out, err = run(
        capsys, store_root, "report", "p@v1", "--data", str(sample), "--output", str(output)
    )
    assert code == 0, err
    text = out + err
    coverage = float(re.search(r"coverage (\S+) with (\d+) learned pieces;", text).group(1))
    assert coverage == 1.0  # every counted word splits; the units are pieces, not words
    assert "sample: 2 documents, 4 tokens, OOV rate 0.2500" in text
    page = (output / "report.html").read_text(encoding="utf-8")
    assert "<td>corpus pieces</td>" in page
    assert re.search(r"<td>pieces</td><td>\d+ word-initial, \d+ continuation", page)
    assert "WordPiece: the units are pieces" in page


# -- migrate-model along a WordPiece lineage --


def embedding_rows(model) -> np.ndarray:
    layer = next(layer for layer in all_layers(model) if isinstance(layer, keras.layers.Embedding))
    return keras.ops.convert_to_numpy(layer.embeddings)


@pytest.fixture
def lineage(store_root, tmp_path):
    store = vg.VocabStore(store_root)
    spec = wordpiece(sequence_length=16)
    v1 = store.publish(vg.build_vocabulary(ENGLISH, spec, progress=False), "pieces")
    v2 = store.publish(
        vg.build_vocabulary(ENGLISH + RUSSIAN, spec, parent=v1, progress=False), "pieces"
    )
    model = build_model(ModelConfig(embedding_dim=6, hidden_units=5, dropout=0.1), v1, 3)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(v1.encode(ENGLISH), rng.integers(0, 3, len(ENGLISH)), epochs=2, verbose=0)
    path = tmp_path / "model_v1.keras"
    model.save(path)
    return v1, v2, model, path


def test_migrate_model_moves_rows_by_piece(capsys, store_root, tmp_path, lineage):
    v1, v2, trained, path = lineage
    added = v2.tokens[len(v1.tokens) :]
    assert v2.tokens[: len(v1.tokens)] == v1.tokens and added
    out = tmp_path / "model_v2.keras"
    code, text, err = run(
        capsys, store_root, "migrate-model", str(path), "--to", "pieces@v2", "--output", str(out)
    )
    assert code == 0, err
    assert f"from   pieces@v1  input_dim {v1.input_dim}" in text
    row = (
        rf"VocabEmbedding\s+{v1.input_dim} -> {v2.input_dim}\s+{v1.input_dim}\s+{len(added)}\s+0\n"
    )
    assert re.search(row, text), text
    migrated = vk.load_model(str(out), v2)
    old, new = embedding_rows(trained), embedding_rows(migrated)
    # Every parent piece (continuation pieces included) keeps its trained row.
    for piece in v1.tokens[2:]:
        np.testing.assert_array_equal(new[v2.token_to_id(piece)], old[v1.token_to_id(piece)])
    assert any(p.startswith("##") for p in v1.tokens[2:])
    # The appended pieces (Cyrillic) start at the mean of the trained learned rows.
    mean = old[v1.layout.learned_start : v1.input_dim].astype("float64").mean(axis=0)
    for piece in added:
        np.testing.assert_allclose(new[v2.token_to_id(piece)], mean, rtol=1e-6, atol=1e-7)
    # English text keeps its ids, so the migrated model gives the same outputs on it.
    np.testing.assert_array_equal(v2.encode(ENGLISH), v1.encode(ENGLISH))
    np.testing.assert_array_equal(
        migrated.predict(v2.encode(ENGLISH), verbose=0),
        trained.predict(v1.encode(ENGLISH), verbose=0),
    )
    code, text, _ = run(capsys, store_root, "check-model", str(out), "--vocab", "pieces@v2")
    assert code == 0 and "OK: 1 layer checked, 0 errors" in text
