"""``vocabguard migrate-model``: a trained model warm-started on a newer vocabulary."""

from __future__ import annotations

import json
import os
import re

import keras
import numpy as np
import pytest

import vocabguard as vg
from vocabguard import keras as vk
from vocabguard._src.engines.keras import _all_layers as all_layers
from vocabguard._src.engines.training import ModelConfig, build_model
from vocabguard._src.tools.migration import format_migration, migrate_model
from vocabguard.cli import main
from vocabguard.errors import (
    ConfigError,
    InputDataError,
    OutputExistsError,
    StoreError,
)

SPEC = vg.VocabSpec(sequence_length=8)


def corpus(n: int, seed: int = 0) -> list[str]:
    """Documents whose later ones use more words, so growing slices add tokens."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        width = 10 + i  # word i+9 first appears in document i
        words = rng.zipf(1.5, size=12) % width
        docs.append(" ".join(f"word{w}" for w in words))
    return docs


def live_tokens(vocab) -> list[str]:
    """The learned tokens that text can reach (retired rows left out)."""
    start = vocab.layout.learned_start
    return [
        t
        for i, t in enumerate(vocab.tokens[start:], start=start)
        if i not in vocab.retired and vocab.token_to_id(t) == i
    ]


def texts_of(tokens: list[str], n: int = 12, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(tokens, size=rng.integers(1, 8))) for _ in range(n)]


def embedding_rows(model) -> np.ndarray:
    layer = next(layer for layer in all_layers(model) if isinstance(layer, keras.layers.Embedding))
    return keras.ops.convert_to_numpy(layer.embeddings)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """A lineage demo@v1 -> v2 -> v3, an unrelated rebuild, and a classifier trained on v1."""
    root = tmp_path_factory.mktemp("migration")
    store = vg.VocabStore(root / "store")
    docs = corpus(60)
    versions, parent = [], None
    for end in (20, 40, 60):
        parent = store.publish(vg.build_vocabulary(docs[:end], SPEC, parent=parent), "demo")
        versions.append(parent)
    v1, v2, v3 = versions
    assert v1.input_dim < v2.input_dim < v3.input_dim
    # Another corpus, no parent: the shared tokens get other ids.
    rebuilt = store.publish(vg.build_vocabulary(corpus(40, seed=7), SPEC), "rebuilt")
    model = build_model(ModelConfig(embedding_dim=6, hidden_units=5, dropout=0.1), v1, 3)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(v1.encode(docs[:20]), rng.integers(0, 3, 20), epochs=2, batch_size=8, verbose=0)
    path = root / "model_v1.keras"
    model.save(path)
    return {
        "root": root,
        "store": store,
        "v1": v1,
        "v2": v2,
        "v3": v3,
        "rebuilt": rebuilt,
        "model": str(path),
        "trained": model,
    }


def run(capsys, setup: dict, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--store", str(setup["root"] / "store")])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_lineage_migration_gives_identical_outputs_on_v1_texts(capsys, setup, tmp_path):
    v1, v3 = setup["v1"], setup["v3"]
    out = tmp_path / "model_v3.keras"
    # No --from: the layer records demo@v1, loaded from the store.
    code, text, err = run(
        capsys, setup, "migrate-model", setup["model"], "--to", "demo@v3", "--output", str(out)
    )
    assert code == 0, err
    assert f"from   demo@v1  input_dim {v1.input_dim}  fingerprint {v1.fingerprint[:12]}" in text
    assert f"to     demo@v3  input_dim {v3.input_dim}" in text
    new_rows = v3.input_dim - v1.input_dim
    # All v1 rows kept, one initialized per new token, none dropped.
    row = rf"demo_embedding\s+VocabEmbedding\s+{v1.input_dim} -> {v3.input_dim}\s+"
    assert re.search(row + rf"{v1.input_dim}\s+{new_rows}\s+0\n", text), text
    assert f"OK: 1 Embedding migrated; {out} records demo@v3" in text
    migrated = vk.load_model(str(out), v3)  # records v3's fingerprint
    texts = texts_of(live_tokens(v1))
    before = setup["trained"].predict(v1.encode(texts), verbose=0)
    after = migrated.predict(v3.encode(texts), verbose=0)
    np.testing.assert_array_equal(after, before)
    # Rows by token: every v1 token keeps its row; v3's new tokens start at the mean row.
    old, new = embedding_rows(setup["trained"]), embedding_rows(migrated)
    for token in live_tokens(v1):
        np.testing.assert_array_equal(new[v3.token_to_id(token)], old[v1.token_to_id(token)])
    mean = old[[v1.token_to_id(t) for t in live_tokens(v1)]].astype("float64").mean(axis=0)
    added = [t for t in live_tokens(v3) if t not in set(live_tokens(v1))]
    assert len(added) == new_rows
    for token in added:
        np.testing.assert_allclose(new[v3.token_to_id(token)], mean, rtol=1e-6, atol=1e-7)
    code, text, _ = run(capsys, setup, "check-model", str(out), "--vocab", "demo@v3")
    assert code == 0 and "OK: 1 layer checked, 0 errors" in text
    code, _, _ = run(capsys, setup, "check-model", str(out), "--vocab", "demo@v1")
    assert code == 1


def test_rebuild_with_moved_ids_keeps_outputs_on_shared_tokens(setup, tmp_path):
    v1, rebuilt = setup["v1"], setup["rebuilt"]
    shared = sorted(set(live_tokens(v1)) & set(live_tokens(rebuilt)))
    moved = [t for t in shared if v1.token_to_id(t) != rebuilt.token_to_id(t)]
    assert moved, "the rebuild must move some shared ids"
    out = tmp_path / "rebuilt.keras"
    result = migrate_model(
        setup["model"], rebuilt, out, old_vocab=v1, init="normal", seed=5, store=setup["store"]
    )
    migrated = vk.load_model(str(out), rebuilt)
    texts = texts_of(shared)
    np.testing.assert_array_equal(
        migrated.predict(rebuilt.encode(texts), verbose=0),
        setup["trained"].predict(v1.encode(texts), verbose=0),
    )
    # The counts in the result, computed from the token lists.
    (layer,) = result.to_dict()["layers"]
    head = 1 + v1.num_oov_buckets  # pad + OOV rows carry over
    assert layer["kept"] == head + len(shared)
    assert layer["initialized"] == rebuilt.input_dim - head - len(shared)
    assert layer["dropped"] == v1.input_dim - head - len(shared)
    assert layer["new_input_dim"] == rebuilt.input_dim
    # init="normal" with a seed is reproducible.
    again = tmp_path / "again.keras"
    migrate_model(setup["model"], rebuilt, again, old_vocab=v1, init="normal", seed=5)
    np.testing.assert_array_equal(
        embedding_rows(vk.load_model(str(again))), embedding_rows(migrated)
    )


def test_language_model_head_and_nested_encoder(setup, tmp_path):
    v1, rebuilt = setup["v1"], setup["rebuilt"]
    encoder = keras.Sequential(
        [vk.embedding(v1, 4), keras.layers.GlobalAveragePooling1D()], name="encoder"
    )
    ids = keras.Input((SPEC.sequence_length,), dtype="int32")
    logits = keras.layers.Dense(v1.input_dim, name="next_token")(encoder(ids))
    lm = keras.Model(ids, logits, name="lm")
    rng = np.random.default_rng(2)
    lm.layers[-1].bias.assign(rng.normal(size=v1.input_dim))  # a bias worth carrying
    path = tmp_path / "lm.keras"
    lm.save(path)
    out = tmp_path / "lm_rebuilt.keras"
    result = migrate_model(path, rebuilt, out, store=setup["store"], old_vocab=v1)
    text = format_migration(result)
    assert "encoder/demo_embedding" in text and "next_token (head)" in text
    assert "OK: 1 Embedding and 1 output head migrated" in text
    migrated = vk.load_model(str(out), rebuilt)
    assert migrated.output_shape == (None, rebuilt.input_dim)
    shared = sorted(set(live_tokens(v1)) & set(live_tokens(rebuilt)))
    texts = texts_of(shared)
    before = lm.predict(v1.encode(texts), verbose=0)
    after = migrated.predict(rebuilt.encode(texts), verbose=0)
    for token in shared:  # logits by token
        np.testing.assert_allclose(
            after[:, rebuilt.token_to_id(token)], before[:, v1.token_to_id(token)], rtol=1e-6
        )
    head = lm.get_layer("next_token")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in (head.kernel, head.bias))
    new_head = migrated.get_layer("next_token")
    new_kernel, new_bias = (keras.ops.convert_to_numpy(w) for w in (new_head.kernel, new_head.bias))
    learned = [v1.token_to_id(t) for t in live_tokens(v1)]
    for token in sorted(set(live_tokens(rebuilt)) - set(shared)):
        i = rebuilt.token_to_id(token)
        expected = kernel[:, learned].astype("float64").mean(axis=1)
        np.testing.assert_allclose(new_kernel[:, i], expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(new_bias[i], bias[learned].astype("float64").mean(), rtol=1e-6)


def test_plain_embedding_needs_from_and_becomes_a_vocab_embedding(capsys, setup, tmp_path):
    v1, v2 = setup["v1"], setup["v2"]
    model = keras.Sequential(
        [
            keras.Input((SPEC.sequence_length,), dtype="int32"),
            vk.IdGuard(v1.input_dim, name="guard"),
            keras.layers.Embedding(v1.input_dim, 3, name="tokens"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    path = tmp_path / "plain.keras"
    model.save(path)
    out = tmp_path / "plain_v2.keras"
    code, _, err = run(
        capsys, setup, "migrate-model", str(path), "--to", "demo@v2", "--output", str(out)
    )
    assert code == 1
    assert "No Embedding of" in err and "records the vocabulary it was built from" in err
    assert "'tokens' (Embedding, input_dim" in err
    assert "--from REF" in err and "Received: model=" in err
    assert not out.exists()
    code, text, err = run(
        capsys,
        setup,
        "migrate-model",
        str(path),
        "--to",
        "demo@v2",
        "--from",
        "demo@v1",
        "--output",
        str(out),
        "--json",
    )
    assert code == 0, err
    result = json.loads(text)
    kinds = {layer["name"]: (layer["kind"], layer["class"]) for layer in result["layers"]}
    assert kinds == {"tokens": ("embedding", "VocabEmbedding"), "guard": ("guard", "IdGuard")}
    assert result["from"]["ref"] == "demo@v1" and result["to"]["ref"] == "demo@v2"
    migrated = vk.load_model(str(out), v2)
    assert migrated.get_layer("guard").input_dim == v2.input_dim
    tokens = migrated.get_layer("tokens")
    assert tokens.vocab_ref == "demo@v2" and tokens.guard == "raise" and not tokens.mask_zero
    texts = texts_of(live_tokens(v1))
    np.testing.assert_array_equal(
        migrated.predict(v2.encode(texts), verbose=0), model.predict(v1.encode(texts), verbose=0)
    )


# -- errors --


def test_existing_or_non_keras_output_is_refused(capsys, setup, tmp_path):
    out = tmp_path / "taken.keras"
    out.write_bytes(b"keep me")
    code, _, err = run(
        capsys, setup, "migrate-model", setup["model"], "--to", "demo@v3", "--output", str(out)
    )
    assert code == 1 and f"Output model {out} already exists" in err
    assert out.read_bytes() == b"keep me"
    with pytest.raises(OutputExistsError, match="vocabguard never overwrites outputs"):
        migrate_model(setup["model"], setup["v3"], out, store=setup["store"])
    with pytest.raises(
        ConfigError, match=r"must be a \.keras file .* Name it e\.g\. .*model\.keras"
    ):
        migrate_model(setup["model"], setup["v3"], tmp_path / "model.h5", store=setup["store"])


def test_nothing_to_migrate_and_missing_recorded_vocabulary(setup, tmp_path):
    out = tmp_path / "out.keras"
    with pytest.raises(InputDataError) as info:
        migrate_model(setup["model"], setup["v1"], out, store=setup["store"])
    assert "was built from demo@v1, the vocabulary it would be migrated to" in str(info.value)
    assert "nothing to migrate" in str(info.value)
    empty = vg.VocabStore(tmp_path / "empty_store")
    with pytest.raises(StoreError) as info:
        migrate_model(setup["model"], setup["v3"], out, store=empty)
    text = str(info.value)
    assert "was trained with demo@v1 (recorded by layer 'demo_embedding')" in text
    assert "--from REF" in text and text.endswith("Received: recorded_ref='demo@v1'")
    # Nothing was written, not even a temp file.
    assert os.listdir(tmp_path) == []


def test_wrong_old_vocabulary_is_named(setup, tmp_path):
    with pytest.raises(InputDataError) as info:
        migrate_model(
            setup["model"], setup["v3"], tmp_path / "out.keras", old_vocab=setup["rebuilt"]
        )
    text = str(info.value)
    assert "No Embedding of" in text and "was built from rebuilt@v1" in text
    assert "'demo_embedding' (VocabEmbedding, input_dim" in text and "vocabulary demo@v1" in text
    assert "Pass the vocabulary the model was trained with to --from" in text
    assert not (tmp_path / "out.keras").exists()


def test_dense_of_vocabulary_width_feeding_another_layer_is_refused(setup, tmp_path):
    v1, v2 = setup["v1"], setup["v2"]
    model = keras.Sequential(
        [
            keras.Input((SPEC.sequence_length,), dtype="int32"),
            vk.embedding(v1, 4),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(v1.input_dim, name="wide"),  # a hidden layer, not a head
            keras.layers.Dense(2, name="out"),
        ]
    )
    path = tmp_path / "wide.keras"
    model.save(path)
    with pytest.raises(InputDataError) as info:
        migrate_model(path, v2, tmp_path / "out.keras", old_vocab=v1)
    text = str(info.value)
    assert (
        f"has shape ({v1.input_dim}, 2), but the rebuilt model expects ({v2.input_dim}, 2)" in text
    )
    assert "The Dense layer(s) wide were taken as vocabulary heads" in text
    assert "Received: model=" in text and "weight='out/kernel'" in text
    with pytest.raises(
        InputDataError, match=r"The old and the new vocabulary are the same \(demo@v2\)"
    ):
        migrate_model(path, v2, tmp_path / "out.keras", old_vocab=v2)
    assert sorted(os.listdir(tmp_path)) == ["wide.keras"]


def test_two_vocabularies_only_the_one_being_replaced_moves(setup, tmp_path):
    v1, v2 = setup["v1"], setup["v2"]
    tags = setup["store"].publish(vg.build_vocabulary(["x y z z"], progress=False), "tags")
    words = keras.Input((SPEC.sequence_length,), dtype="int32", name="words")
    labels = keras.Input((2,), dtype="int32", name="tags")
    pooled = [
        keras.layers.GlobalAveragePooling1D()(vk.embedding(v1, 4, guard="count")(words)),
        keras.layers.GlobalAveragePooling1D()(vk.embedding(tags, 4)(labels)),
    ]
    model = keras.Model([words, labels], keras.layers.Dense(2)(keras.layers.Concatenate()(pooled)))
    path = tmp_path / "two.keras"
    model.save(path)
    # No --from: of the two recorded vocabularies, the one named like --to is replaced.
    result = migrate_model(path, v2, tmp_path / "two_v2.keras", store=setup["store"])
    assert [layer.name for layer in result.layers] == ["demo_embedding"]
    assert result.notes == ["tags_embedding: records another vocabulary (tags@v1); left unchanged"]
    assert "note: tags_embedding: records another vocabulary" in format_migration(result)
    migrated = vk.load_model(str(tmp_path / "two_v2.keras"), [v2, tags])
    assert [layer.guard for layer in vk.vocab_layers(migrated)] == ["count", "raise"]
    texts = texts_of(live_tokens(v1), n=4)
    tag_ids = np.array([[2, 3]] * 4)
    np.testing.assert_array_equal(
        migrated.predict([v2.encode(texts), tag_ids], verbose=0),
        model.predict([v1.encode(texts), tag_ids], verbose=0),
    )
