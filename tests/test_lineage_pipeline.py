"""pipelines/lineage.py end to end on a tiny synthetic corpus: a v1 -> v2 -> v3
lineage keeps every id, diff calls it id-compatible, and a model trained on v1 and
migrated to v3 gives identical outputs on texts made only of v1 tokens."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
import yaml

from vocabguard import VocabStore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_pipeline():
    spec = importlib.util.spec_from_file_location(
        "lineage_pipeline", os.path.join(ROOT, "pipelines", "lineage.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lineage = _load_pipeline()

TOPICS = {
    "sport": "match goal team score win league player coach cup final derby keeper".split(),
    "money": "bank market shares profit price bond rate trade fund yield debt loan".split(),
}


def write_corpus(path, n: int, seed: int) -> str:
    """Each record draws words from its topic, plus one word no other record has."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        for topic, words in TOPICS.items():
            # The record's own word: every growing prefix meets new tokens.
            text = " ".join([*rng.choice(words, size=6), f"{topic}{seed}x{i}"])
            rows.append({"text": text, "topic": topic})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def config_path(tmp_path) -> str:
    config = {
        "data": {
            "train": write_corpus(tmp_path / "train.jsonl", 30, seed=0),
            "test": write_corpus(tmp_path / "test.jsonl", 8, seed=1),
            "format": "jsonl",
            "text_field": "text",
            "label_field": "topic",
        },
        "vocabulary": {
            "store": str(tmp_path / "store"),
            "ref": "unused@latest",
            "spec": {"lowercase": True, "min_count": 1, "sequence_length": 8},
        },
        "model": {"embedding_dim": 8, "hidden_units": 8, "dropout": 0.0},
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.01, "seed": 1},
        "output": str(tmp_path / "unused"),
    }
    path = tmp_path / "lineage.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def test_lineage_job_keeps_ids_and_migrated_model_agrees(tmp_path, config_path, capsys):
    output = tmp_path / "out"
    argv = ["--config", config_path, "--name", "grow", "--slices", "3", "--output", str(output)]
    assert lineage.run(argv) == 0

    store = VocabStore(tmp_path / "store")
    assert store.versions("grow") == [1, 2, 3]
    v1, v2, v3 = (store.load(f"grow@v{n}") for n in (1, 2, 3))
    # Growing data met new tokens, and input_dim never shrank.
    assert v1.input_dim < v3.input_dim
    assert v1.input_dim <= v2.input_dim <= v3.input_dim
    for earlier, later in ((v1, v2), (v2, v3), (v1, v3)):
        for token in earlier.tokens[earlier.num_oov_buckets + 1 :]:
            assert later.token_to_id(token) == earlier.token_to_id(token), token
    assert v2.parent["fingerprint"] == v1.fingerprint
    assert v3.parent["fingerprint"] == v2.fingerprint

    summary = json.loads((output / "lineage.json").read_text(encoding="utf-8"))
    assert [v["ref"] for v in summary["versions"]] == ["grow@v1", "grow@v2", "grow@v3"]
    assert set(summary["diff"]) == {
        "grow@v1 -> grow@v2",
        "grow@v2 -> grow@v3",
        "grow@v1 -> grow@v3",
    }
    assert summary["v1_only"]["texts"] > 0
    assert summary["v1_only"]["identical"] is True
    assert summary["v1_only"]["max_abs_difference"] == 0.0
    assert summary["migration"]["model"] == str(output / "model_v1" / "model.keras")
    assert summary["migration"]["output"] == str(output / "model_v3.keras")
    assert summary["migration"]["to"]["fingerprint"] == v3.fingerprint
    assert "the first 20 of 60 records" in v1.build["input"]
    assert (output / "model_v1" / "model.keras").is_file()
    assert (output / "model_v3.keras").is_file()
    out = capsys.readouterr().out
    records = len((tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines())
    for k in (1, 2, 3):  # growing prefixes of the train records
        assert f"grow@v{k}: {round(records * k / 3)} documents" in out
    assert "diff grow@v1 grow@v3:" in out


def test_lineage_job_refuses_existing_output_and_name(tmp_path, config_path, capsys):
    existing = tmp_path / "taken"
    existing.mkdir()
    argv = ["--config", config_path, "--name", "grow", "--output", str(existing)]
    assert lineage.run(argv) == 1
    err = capsys.readouterr().err
    assert f"Output {existing} already exists; the lineage job never overwrites outputs" in err

    store = VocabStore(tmp_path / "store")
    from vocabguard import VocabSpec, build_vocabulary

    store.publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "grow")
    argv = ["--config", config_path, "--name", "grow", "--output", str(tmp_path / "new")]
    assert lineage.run(argv) == 1
    err = capsys.readouterr().err
    assert "Vocabulary 'grow' already exists in store" in err
    assert "Received: name='grow'" in err
    assert not (tmp_path / "new").exists()
    assert store.versions("grow") == [1]


def test_lineage_job_needs_two_slices(tmp_path, config_path, capsys):
    argv = ["--config", config_path, "--slices", "1", "--output", str(tmp_path / "o")]
    assert lineage.run(argv) == 1
    assert "A lineage needs at least 2 slices" in capsys.readouterr().err


def test_a_failure_mid_lineage_names_what_was_published_and_leaves_no_partial_version(
    tmp_path,
):
    from vocabguard import VocabSpec
    from vocabguard._src.core.store_names import STAGING_PREFIX
    from vocabguard.errors import LineageError

    store = VocabStore(tmp_path / "store")
    real_write = store._write
    written = []

    def disk_full_during_v2(path, data):
        if store.versions("grow"):  # v1 is published: these are v2's files
            written.append(path)
            if len(written) == 2:  # after v2's first file, before its manifest
                raise OSError(28, "No space left on device")
        return real_write(path, data)

    store._write = disk_full_during_v2
    texts = [f"common words here unique{i}" for i in range(12)]
    with pytest.raises(LineageError) as caught:
        lineage.build_lineage(texts, VocabSpec(), store, "grow", slices=3, seed=0)
    message = str(caught.value)
    assert message.startswith(
        "The lineage 'grow' stopped at slice 2 of 3: [Errno 28] No space left on device "
        "grow@v1 stay published, each complete (the store publishes a version whole); "
        "nothing of grow@v2 was written."
    ), message
    assert message.endswith("Received: name='grow', published=['grow@v1'], failed_slice=2"), message
    assert isinstance(caught.value.__cause__, OSError)
    assert len(written) == 2  # the failure struck inside v2's publish
    # v1 is whole and verifies; v2 left neither a version nor its staging directory.
    store._write = real_write
    assert store.versions("grow") == [1]
    assert store.load("grow@v1").ref == "grow@v1"
    entries = sorted(os.listdir(tmp_path / "store" / "grow"))
    assert not [e for e in entries if e.startswith(STAGING_PREFIX)], entries
    assert "v2" not in entries, entries


def test_a_failure_at_the_first_slice_is_the_error_itself(tmp_path):
    from vocabguard import VocabSpec
    from vocabguard.errors import InvalidNameError

    store = VocabStore(tmp_path / "store")
    with pytest.raises(InvalidNameError):
        lineage.build_lineage(["a b"], VocabSpec(), store, "no spaces", slices=2, seed=0)
    assert not (tmp_path / "store").exists() or store.names() == []
