"""Training configs and runs: validation errors (their text), vocabulary resolution,
the input_dim contract, and a tiny end-to-end run (1 epoch, synthetic data)."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from vocabguard import VocabSpec, VocabStore
from vocabguard._src.engines.training import (
    ModelConfig,
    TrainConfig,
    VocabularyConfig,
    check_input_dim,
    resolve_vocabulary,
    train,
)
from vocabguard.cli.models import train_main as main
from vocabguard.errors import ConfigError, OutputExistsError, VersionNotFoundError

SPORT = "match goal team score win league player coach".split()
MONEY = "bank market shares profit price bond rate trade".split()


def _texts(words: list[str], n: int, offset: int) -> list[str]:
    return [" ".join(words[(i + j + offset) % len(words)] for j in range(5)) for i in range(n)]


def write_corpus(folder, name: str, n: int, offset: int = 0) -> str:
    rows = [{"text": t, "topic": "sport"} for t in _texts(SPORT, n, offset)]
    rows += [{"text": t.upper(), "topic": "money"} for t in _texts(MONEY, n, offset)]
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def config(tmp_path) -> dict:
    """A valid config dict over a tiny two-topic corpus, everything under tmp_path."""
    return {
        "data": {
            "train": write_corpus(tmp_path, "train.jsonl", 16),
            "test": write_corpus(tmp_path, "test.jsonl", 4, offset=3),
            "format": "jsonl",
            "text_field": "text",
            "label_field": "topic",
        },
        "vocabulary": {
            "store": str(tmp_path / "store"),
            "ref": "tiny@latest",
            "spec": {"lowercase": True, "sequence_length": 8},
        },
        "model": {"embedding_dim": 8, "hidden_units": 8, "dropout": 0.1},
        "training": {"epochs": 1, "batch_size": 8, "learning_rate": 0.01, "seed": 1},
        "output": str(tmp_path / "out" / "run"),
    }


def write_config(tmp_path, data: dict, name: str = "train.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def config_error(tmp_path, data: dict) -> str:
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_yaml(path)
    return str(err.value)


# -- validation --


def test_valid_config_loads_with_spec_and_defaults(tmp_path, config):
    loaded = TrainConfig.from_yaml(write_config(tmp_path, config))
    assert loaded.vocabulary.spec == VocabSpec(lowercase=True, sequence_length=8)
    assert loaded.model.embedding_dim == 8 and loaded.training.epochs == 1
    del config["model"], config["training"]
    loaded = TrainConfig.from_dict(config)
    assert loaded.model == ModelConfig() and loaded.training.batch_size == 32


def test_unknown_key_names_section_and_suggests(tmp_path, config):
    config["model"]["embeding_dim"] = 16
    message = config_error(tmp_path, config)
    assert message.startswith("Unknown key 'embeding_dim' in the `model` section of ")
    assert "Did you mean 'embedding_dim'?" in message
    assert message.endswith("Received: embeding_dim=16")


def test_key_typos_are_reported_before_missing_files(tmp_path, config):
    config["data"]["train"] = "missing.jsonl"
    config["training"]["epoch"] = 3
    assert "Unknown key 'epoch' in the `training` section" in config_error(tmp_path, config)


def test_unknown_top_level_key_suggests(tmp_path, config):
    config["outptu"] = "x"
    message = config_error(tmp_path, config)
    assert "Unknown top-level key 'outptu'" in message and "Did you mean 'output'?" in message


def test_unknown_spec_key_is_a_spec_error(tmp_path, config):
    config["vocabulary"]["spec"]["lowercse"] = True
    message = config_error(tmp_path, config)
    assert "Unknown vocabulary spec key 'lowercse'" in message
    assert "Did you mean 'lowercase'?" in message


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("training", "epochs", "ten", "must be an integer >= 1. Received: epochs='ten'"),
        ("training", "learning_rate", "fast", "must be a number > 0. Received: learning_rate="),
        ("model", "dropout", 1, "must be a number in [0, 1). Received: dropout=1"),
        ("model", "embedding_dim", True, "must be an integer >= 1. Received: embedding_dim=True"),
        ("data", "text_field", 3, "must be a non-empty string. Received: text_field=3"),
        ("data", "format", "xml", "must be one of jsonl, csv, parquet. Received: format='xml'"),
    ],
)
def test_wrong_type_names_field_and_value(tmp_path, config, section, key, value, expected):
    config[section][key] = value
    message = config_error(tmp_path, config)
    assert message.startswith(f"`{section}.{key}` in {tmp_path / 'train.yaml'} ")
    assert expected in message


def test_section_must_be_a_mapping(tmp_path, config):
    config["model"] = [1, 2]
    assert "`model` in" in config_error(tmp_path, config)


def test_missing_data_file_names_key_path_and_fix(tmp_path, config):
    missing = str(tmp_path / "nope" / "train.jsonl")
    config["data"]["train"] = missing
    message = config_error(tmp_path, config)
    assert message.startswith(f"`data.train` in {tmp_path / 'train.yaml'} names {missing}")
    assert "does not exist" in message and "make data" in message
    assert "relative paths resolve against the current directory" in message
    assert message.endswith(f"Received: train='{missing}'")


def test_missing_spec_file_names_key(tmp_path, config):
    config["vocabulary"]["spec"] = "no/such/spec.yaml"
    message = config_error(tmp_path, config)
    assert message.startswith("`vocabulary.spec` in ") and "no/such/spec.yaml" in message


def test_spec_file_with_spec_section(tmp_path, config):
    (tmp_path / "spec.yaml").write_text("spec:\n  min_count: 2\n", encoding="utf-8")
    config["vocabulary"]["spec"] = str(tmp_path / "spec.yaml")
    loaded = TrainConfig.from_yaml(write_config(tmp_path, config))
    assert loaded.vocabulary.spec == VocabSpec(min_count=2)


def test_missing_sections_and_ref(tmp_path, config):
    del config["output"]
    assert "has no `output`" in config_error(tmp_path, config)
    config["output"] = "x"
    del config["vocabulary"]["ref"]
    assert "`vocabulary` in" in config_error(tmp_path, config)
    config["vocabulary"]["ref"] = "a/b"
    assert "A vocabulary name must start" in config_error(tmp_path, config)


def test_one_file_with_test_fraction(tmp_path, config):
    config["data"]["path"] = config["data"].pop("train")
    message = config_error(tmp_path, config)
    assert "sets both `path` and `train`/`test`" in message
    del config["data"]["test"]
    assert "`data.test_fraction`" in config_error(tmp_path, config)
    config["data"]["test_fraction"] = 0.25
    loaded = TrainConfig.from_yaml(write_config(tmp_path, config))
    from vocabguard._src.engines.training import load_splits

    train_split, test_split = load_splits(loaded.data)
    assert (len(train_split.texts), len(test_split.texts)) == (24, 8)
    again = load_splits(loaded.data)[1]
    assert again.texts == test_split.texts  # seeded: the same split every run


# -- vocabulary and input_dim --


def test_vocabulary_built_when_missing_then_reused(tmp_path):
    spec = VocabSpec(lowercase=True)
    vconfig = VocabularyConfig(ref="news@latest", store=str(tmp_path / "s"), spec=spec)
    first, built = resolve_vocabulary(vconfig, ["a b", "b c"], "train.jsonl")
    assert built and first.ref == "news@v1" and first.build["input"] == "train.jsonl"
    again, built = resolve_vocabulary(vconfig, ["other texts entirely"], "train.jsonl")
    assert not built and again.fingerprint == first.fingerprint
    assert VocabStore(tmp_path / "s").versions("news") == [1]


def test_vocabulary_missing_without_spec_is_version_not_found(tmp_path):
    vconfig = VocabularyConfig(ref="news@latest", store=str(tmp_path / "s"))
    with pytest.raises(VersionNotFoundError, match=r"add `vocabulary\.spec`"):
        resolve_vocabulary(vconfig, ["a"], "x")
    pinned = VocabularyConfig(ref="news@v3", store=str(tmp_path / "s"), spec=VocabSpec())
    with pytest.raises(VersionNotFoundError, match="use `news@latest`"):
        resolve_vocabulary(pinned, ["a"], "x")


def test_vocabulary_spec_disagreeing_with_published_is_an_error(tmp_path):
    root = str(tmp_path / "s")
    resolve_vocabulary(VocabularyConfig("news", root, VocabSpec()), ["a b"], "x")
    changed = VocabularyConfig("news", root, VocabSpec(min_count=2))
    with pytest.raises(ConfigError, match=r"differs from the spec of the published news@v1"):
        resolve_vocabulary(changed, ["a b"], "x")


def test_input_dim_conflict_names_both_numbers(tmp_path, config, capsys):
    config["model"]["input_dim"] = 5
    assert main(["--config", write_config(tmp_path, config)]) == 1
    err = capsys.readouterr().err
    input_dim = VocabStore(tmp_path / "store").load("tiny@latest").input_dim
    assert f"`model.input_dim` in {tmp_path / 'train.yaml'} is 5, but the vocabulary " in err
    assert f"tiny@v1 has input_dim {input_dim}" in err
    assert err.strip().endswith(f"Received: input_dim=5, artifact_input_dim={input_dim}")
    assert not os.path.exists(config["output"])


def test_agreeing_input_dim_is_a_note():
    vocab = type("V", (), {"input_dim": 7, "ref": "x@v1"})()
    assert "redundant" in check_input_dim(ModelConfig(input_dim=7), vocab)
    assert check_input_dim(ModelConfig(), vocab) is None


# -- runs --


def test_end_to_end_writes_outputs_and_refuses_to_overwrite(tmp_path, config, capsys):
    from vocabguard import keras as vk

    path = write_config(tmp_path, config)
    assert main(["--config", path]) == 0
    captured = capsys.readouterr()
    assert "held-out accuracy" in captured.out and "on 8 documents" in captured.out
    assert "built tiny@v1 from the train split" in captured.err
    out = config["output"]
    assert sorted(os.listdir(out)) == ["metrics.json", "model.keras", "serving"]
    metrics = json.loads(open(os.path.join(out, "metrics.json"), encoding="utf-8").read())
    vocab = VocabStore(tmp_path / "store").load("tiny@latest")
    assert metrics["vocabulary"]["fingerprint"] == vocab.fingerprint
    assert metrics["vocabulary"]["input_dim"] == vocab.input_dim
    assert metrics["vocabulary"]["ref"] == "tiny@v1"
    assert (metrics["n_train"], metrics["n_test"]) == (32, 8)
    assert metrics["labels"] == ["money", "sport"] and 0 <= metrics["accuracy"] <= 1
    assert len(metrics["history"]["loss"]) == 1 and metrics["config"] == path
    model = vk.load_model(os.path.join(out, "model.keras"), vocab)  # checks the fingerprint
    assert [layer.input_dim for layer in vk.vocab_layers(model)] == [vocab.input_dim]

    assert main(["--config", path]) == 1
    err = capsys.readouterr().err
    assert f"Output {out} already exists and is not empty" in err
    assert "Received: output=" in err
    assert os.listdir(os.path.dirname(out)) == ["run"]  # no staging directory left behind


def test_failed_run_leaves_nothing(tmp_path, config, monkeypatch):
    import vocabguard._src.engines.serving

    def broken(*args, **kwargs):
        raise RuntimeError("export failed")

    monkeypatch.setattr(vocabguard._src.engines.serving, "export_serving", broken)
    with pytest.raises(RuntimeError, match="export failed"):
        train(TrainConfig.from_dict(config))
    assert os.listdir(tmp_path / "out") == []


def test_unknown_held_out_label_is_an_error(tmp_path, config, capsys):
    (tmp_path / "test.jsonl").write_text('{"text": "x", "topic": "weather"}\n', encoding="utf-8")
    assert main(["--config", write_config(tmp_path, config)]) == 1
    assert "label 'weather' in field 'topic', which the training data never has" in (
        capsys.readouterr().err
    )


def test_existing_output_refused_before_training(tmp_path, config):
    os.makedirs(config["output"])
    open(os.path.join(config["output"], "keep.txt"), "w").close()
    with pytest.raises(OutputExistsError, match="already exists and is not empty"):
        train(TrainConfig.from_dict(config))
    assert not os.path.exists(tmp_path / "store")  # failed before any work


def test_cli_train_command_and_store_override(tmp_path, config, capsys):
    from vocabguard import cli

    config["vocabulary"]["store"] = str(tmp_path / "unused_store")
    path = write_config(tmp_path, config)
    other = tmp_path / "cli_store"
    assert cli.main(["train", "--config", path, "--store", str(other)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    assert VocabStore(other).versions("tiny") == [1]
    assert not os.path.exists(tmp_path / "unused_store")  # --store beat the config's store
    assert cli.main(["train", "--config", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml" in capsys.readouterr().err
