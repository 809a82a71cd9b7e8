"""A new user's first hour (issue 15): one CLI for both modes, one-line mistakes with
"did you mean", quiet output, no silent empty results, fast model checks, ``inspect``
that verifies and names rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vocabguard._src.engines.jobs import JobConfig
from vocabguard.cli import main, quiet
from vocabguard.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def cli(*argv: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """``vocabguard ARGV`` in a fresh process (imports, stderr and exit status as a user sees)."""
    return subprocess.run(
        [PYTHON, "-c", "import sys; from vocabguard.cli import main; sys.exit(main())", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def write_job(tmp_path, **extra) -> str:
    data = tmp_path / "news.jsonl"
    if not data.exists():
        data.write_text(
            "".join(
                json.dumps({"id": str(i), "text": f"the cat sat {i % 3}", "topic": "ab"[i % 2]})
                + "\n"
                for i in range(12)
            )
        )
    config = {
        "store": str(tmp_path / "store"),
        "inputs": [str(data)],
        "features": {
            "text": {"field": "text", "name": "news_text", "spec": {"lowercase": True}},
            "topic": {"field": "topic", "name": "news_topic", "spec": {"tokenizer": "none"}},
        },
        "encode": {"output": str(tmp_path / "encoded"), "passthrough": {"id": "string"}},
        **extra,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


# -- one CLI: mistakes are one or two lines, with "did you mean" --


def test_flag_typo_suggests_the_flag_and_points_to_the_subcommand_help(capsys):
    code = main(["build", "--name", "x", "--input", "y.txt", "--lowercsae"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (
        "vocabguard: error: unrecognized argument: --lowercsae (did you mean --lowercase?)\n"
        "Run 'vocabguard build --help' for usage.\n"
    )


def test_invalid_choice_and_command_typos_suggest_the_closest(capsys):
    assert main(["build", "--name", "x", "--input", "y", "--tokenizer", "whitespac"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'whitespac'" in err and "did you mean 'whitespace'?" in err
    assert err.endswith("Run 'vocabguard build --help' for usage.\n") and err.count("\n") == 2
    assert main(["biuld"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'build'?" in err and err.count("\n") == 2


def test_build_and_encode_help_document_both_modes(capsys):
    for command in ("build", "encode"):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--runner" in out and "job config" in out, out
        assert "DirectRunner" in out
        assert "-v, --verbose" in out


def test_mistyped_runner_is_one_line_listing_known_runners(tmp_path, capsys):
    config = write_job(tmp_path)
    code = main(["build", "--runner", "DirectRuner", "--config", config])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith(
        "vocabguard: error: Unknown runner 'DirectRuner'. Did you mean 'DirectRunner'? "
        "Known runners: "
    ), err
    assert "FlinkRunner" in err and err.count("\n") == 1
    assert not (tmp_path / "store").exists()


def test_job_config_without_runner_runs_on_the_direct_runner(tmp_path, capsys):
    config = write_job(tmp_path)
    assert main(["build", "--config", config]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["news_text@v1", "news_topic@v1"]
    assert "running the job config on the DirectRunner" in err
    assert "--name" not in err and "spec key" not in err
    # A rebuild with the same ids reuses the latest version and says so.
    assert main(["build", "--config", config]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["news_text@v1", "news_topic@v1"]
    assert "reused (identical to latest) news_text@v1 for feature text" in err
    assert "published news_text" not in err
    # encode with a job config needs no --runner either, and --output overrides the config's.
    assert main(["encode", "--config", config, "--output", str(tmp_path / "other")]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(tmp_path / "other")
    assert (tmp_path / "other" / "summary.json").exists()
    assert not (tmp_path / "encoded").exists()


# -- no silent empty results: the config keys the Beam jobs enforce --


def test_job_config_allow_empty_and_max_bad_fraction(tmp_path):
    config = JobConfig.from_yaml(write_job(tmp_path))
    assert [(f.allow_empty, f.max_bad_fraction) for f in config.features.values()] == [
        (False, 0.1),
        (False, 0.1),
    ]
    path = write_job(tmp_path, allow_empty=True, max_bad_fraction=0.25)
    data = yaml.safe_load(open(path))
    data["features"]["topic"]["max_bad_fraction"] = 0
    data["features"]["topic"]["allow_empty"] = False
    Path(path).write_text(yaml.safe_dump(data))
    config = JobConfig.from_yaml(path)
    assert (config.features["text"].allow_empty, config.features["text"].max_bad_fraction) == (
        True,
        0.25,
    )
    assert (config.features["topic"].allow_empty, config.features["topic"].max_bad_fraction) == (
        False,
        0.0,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"max_bad_fraction": 1.5},
            "In {path} features.text: `max_bad_fraction` must be a number in [0, 1]: the largest "
            "share of records a build may skip before it fails. Received: max_bad_fraction=1.5",
        ),
        (
            {"allow_empty": "yes"},
            "In {path} features.text: `allow_empty` must be true or false. "
            "Received: allow_empty='yes'",
        ),
    ],
)
def test_job_config_limits_are_validated(tmp_path, extra, message):
    path = write_job(tmp_path, **extra)
    with pytest.raises(ConfigError) as info:
        JobConfig.from_yaml(path)
    assert str(info.value) == message.format(path=path)


# -- quiet by default --


def test_tensorflow_banner_lines_are_noise_and_real_lines_are_not():
    assert quiet.is_noise(
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
    )
    assert quiet.is_noise(
        "I0000 00:00:1795794521.620846   22048 cudart_stub.cc:31] Could not find cuda drivers "
        "on your machine, GPU will not be used."
    )
    assert quiet.is_noise(
        "E0000 00:00:1795794524.874597   22048 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"
    )
    assert not quiet.is_noise("E0000 00:00:1.5   1 op.cc:1] a real kernel failure")
    assert not quiet.is_noise("held-out accuracy 0.975 on 445 documents")


def test_importing_tensorflow_from_the_cli_prints_nothing():
    code = (
        "import sys; from vocabguard.cli import quiet_argv; quiet_argv(sys.argv[1:]); "
        "import tensorflow as tf; import apache_beam; print(int(tf.constant(1) + 1))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    quiet_run = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert quiet_run.returncode == 0 and quiet_run.stdout == "2\n"
    assert quiet_run.stderr == ""
    loud = subprocess.run(
        [PYTHON, "-c", code, "--verbose"], capture_output=True, text=True, env=env, timeout=300
    )
    assert loud.returncode == 0 and loud.stdout == "2\n"
    # TensorFlow's start-up lines (absl's or, on TF 2.20, its own format) are shown.
    assert any(quiet.is_noise(line) for line in loud.stderr.splitlines()), loud.stderr


def test_beam_build_stderr_holds_only_vocabguard_lines(tmp_path):
    config = write_job(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [
            PYTHON,
            str(REPO / "pipelines" / "build_vocab.py"),
            "--config",
            config,
            "--direct_num_workers",
            "2",
            "--direct_running_mode",
            "multi_processing",
        ],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines, result.stderr
    assert all(line.startswith(("vocabguard: ", "published ")) for line in lines), result.stderr
    assert result.stdout.split() == ["news_text@v1", "news_topic@v1"]


# -- no silent empty results, in process --


def test_in_process_build_of_empty_input_is_an_error_unless_allow_empty(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    store = str(tmp_path / "store")
    code = main(["build", "--store", store, "--name", "empty", "--input", str(empty)])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == (
        f"vocabguard: error: The inputs hold no documents: {empty}. An empty build is almost "
        "always a wrong path, glob, --format or --field. Check the inputs, or pass --allow-empty "
        f"if an empty result is intended. Received: input='{empty}', documents=0, tokens=0\n"
    )
    assert not (tmp_path / "store").exists()
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n")
    assert main(["build", "--store", store, "--name", "blank", "--input", str(blank)]) == 1
    assert "The inputs hold 2 documents but not one token" in capsys.readouterr().err
    code = main(
        ["build", "--store", store, "--name", "empty", "--input", str(empty), "--allow-empty"]
    )
    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == "empty@v1"


def test_in_process_encode_of_empty_input_is_an_error_unless_allow_empty(tmp_path, capsys):
    store = str(tmp_path / "store")
    text = tmp_path / "a.txt"
    text.write_text("a b c\n")
    assert main(["build", "--store", store, "--name", "v", "--input", str(text)]) == 0
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    output = tmp_path / "ids.parquet"
    argv = ["encode", "--store", store, "v@v1", "--input", str(empty), "--output", str(output)]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vocabguard: error: The inputs hold no documents: {empty}.")
    assert "nothing was written" in err and err.count("\n") == 1
    assert not output.exists()
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []
    assert main([*argv, "--allow-empty"]) == 0
    assert output.exists()


def test_in_process_missing_field_names_the_fields_and_the_closest(tmp_path, capsys):
    data = tmp_path / "news.jsonl"
    data.write_text('{"id": "1", "text": "a b", "topic": "tech"}\n')
    argv = ["build", "--store", str(tmp_path / "s"), "--name", "t", "--input", str(data)]
    assert main([*argv, "--field", "topik"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"vocabguard: error: {data}, line 1: the record has no field 'topik' (its fields: 'id', "
        "'text', 'topic'; closest: 'topic'). Every record needs the field named by --field; "
        "pass the right --field"
    ), err


def test_in_process_build_skipping_too_many_records_fails(tmp_path, capsys):
    data = tmp_path / "news.jsonl"
    data.write_text('{"text": "a b"}\n{"text": 1.5}\n{"text": [1.5]}\n')
    argv = ["build", "--store", str(tmp_path / "s"), "--name", "t", "--input", str(data)]
    argv += ["--field", "text", "--bad-records", "skip"]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "vocabguard: error: 2 of 3 records were skipped (66.7%), more than --max-bad-fraction "
        "0.1; top reasons: wrong_type 2. Nothing was published. Fix the input or the --field "
        f"names ({data}), or raise --max-bad-fraction if this is expected. Received: skipped=2, "
        "records=3\n"
    )
    assert not (tmp_path / "s").exists()
    assert main([*argv, "--max-bad-fraction", "0.7"]) == 0
    assert capsys.readouterr().out.strip() == "t@v1"


# -- fast model checks: config.json, without TensorFlow --


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    import keras

    import vocabguard as vg
    from vocabguard import keras as vk

    root = tmp_path_factory.mktemp("fast_check")
    store = vg.VocabStore(root / "store")
    corpus = ["the cat sat on the mat", "a dog"]
    vocab = store.publish(vg.build_vocabulary(corpus, vg.VocabSpec(), progress=False), "demo")
    other = store.publish(
        vg.build_vocabulary(["x y z w", "v u"], vg.VocabSpec(), progress=False), "other"
    )

    def save(name, *layers, functional=True):
        inputs = keras.Input((None,), dtype="int32")
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        path = root / f"{name}.keras"
        keras.Model(inputs, outputs, name=name).save(path)
        return str(path)

    models = {
        "small": save("small", keras.layers.Embedding(vocab.input_dim - 3, 4, name="tokens")),
        "nested": save("nested", keras.Sequential([vk.embedding(vocab, 4)], name="encoder")),
        "big": save("big", keras.layers.Embedding(vocab.input_dim + 5, 4, name="tokens")),
        "other": save("other", vk.embedding(other, 4)),
        "guard": save(
            "guard",
            vk.IdGuard(vocab.input_dim - 1, name="guard"),
            keras.layers.Embedding(vocab.input_dim, 2, name="emb"),
        ),
        "dense": save("dense", keras.layers.Reshape((-1, 1)), keras.layers.Dense(2)),
        "wrapped": save(
            "wrapped",
            keras.layers.Reshape((-1, 1)),
            keras.layers.TimeDistributed(keras.layers.Dense(2), name="td"),
        ),
    }
    return {"store": store, "vocab": vocab, "models": models}


def test_check_model_from_the_config_equals_loading_the_model(saved_models):
    from vocabguard._src.tools.model_check import check_model, load_model, saved_model_layers

    vocab = saved_models["vocab"]
    for name, path in saved_models["models"].items():
        if name == "wrapped":
            assert saved_model_layers(path) is None  # a wrapper: Keras must load it
            continue
        assert saved_model_layers(path) is not None, name
        if name == "dense":
            with pytest.raises(Exception, match="has no Embedding or IdGuard layer"):
                check_model(path, vocab)
            continue
        fast = check_model(path, vocab).to_dict()
        slow = check_model(load_model(path), vocab, model_name=path).to_dict()
        assert fast == slow, name
    nested = check_model(saved_models["models"]["nested"], vocab, layers=["demo_embedding"])
    assert [(c.name, c.status) for c in nested.layers] == [("encoder/demo_embedding", "ok")]


def test_check_model_command_does_not_import_tensorflow(saved_models):
    code = (
        "import sys; from vocabguard.cli import main; code = main(sys.argv[1:]); "
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(code)"
    )
    store = str(saved_models["store"].root)
    model = saved_models["models"]["nested"]
    result = subprocess.run(
        [PYTHON, "-c", code, "--store", store, "check-model", model, "--vocab", "demo@v1"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "OK: 1 layer checked" in result.stdout
    assert result.stdout.strip().endswith("HEAVY []")
    assert result.stderr == ""


# -- train: quiet, --output, metrics --

SPORT = ["goal", "match", "team", "score", "win", "coach", "league"]
MONEY = ["bank", "stock", "market", "price", "trade", "fund", "rate"]


def train_config(tmp_path) -> str:
    def corpus(name, n, offset=0):
        rows = []
        for i in range(n):
            for words, topic in ((SPORT, "sport"), (MONEY, "money")):
                text = " ".join(words[(i + j + offset) % len(words)] for j in range(5))
                rows.append({"text": text, "topic": topic})
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    config = {
        "data": {
            "train": corpus("train.jsonl", 16),
            "test": corpus("test.jsonl", 4, offset=3),
            "label_field": "topic",
        },
        "vocabulary": {"store": str(tmp_path / "store"), "ref": "tiny@latest", "spec": {}},
        "model": {"embedding_dim": 8, "hidden_units": 8},
        "training": {"epochs": 2, "batch_size": 8},
        "output": str(tmp_path / "from_config"),
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_train_stderr_holds_only_vocabguard_lines_and_output_overrides(tmp_path):
    config = train_config(tmp_path)
    output = tmp_path / "from_flag"
    env = {"TF_CPP_MIN_LOG_LEVEL": ""}
    result = cli("train", "--config", config, "--output", str(output), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "data",
        "vocabulary",
        "vocabulary",
        "train",
        "train",
    ], result.stderr
    assert lines[-1].startswith("train: epoch 2/2: accuracy ")
    assert result.stdout.startswith("held-out accuracy ") and str(output) in result.stdout
    assert not (tmp_path / "from_config").exists()
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["model"]["input_dim"] == metrics["vocabulary"]["input_dim"] > 0


# -- inspect verifies; list --verify; which row is which --


@pytest.fixture
def store_with_versions(tmp_path, capsys):
    store = str(tmp_path / "store")
    text = tmp_path / "a.txt"
    text.write_text("the cat sat on the mat\nthe dog\nbell\x07ring ok\n")
    argv = ["build", "--store", store, "--input", str(text), "--reserved-token", "[CLS]"]
    assert main([*argv, "--name", "news", "--capacity", "16"]) == 0
    assert main([*argv, "--name", "news", "--lowercase"]) == 0
    capsys.readouterr()
    return store


def test_inspect_verifies_and_says_so_on_the_first_line(store_with_versions, capsys):
    store = store_with_versions
    assert main(["inspect", "--store", store, "news@v1"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("news@v1  fingerprint ")
    assert first.endswith("verified: sha256 of 2 files, the manifest and the fingerprint match")
    vocab_txt = Path(store) / "news" / "v1" / "vocab.txt"
    vocab_txt.write_text(vocab_txt.read_text().replace("cat", "cow"))
    assert main(["inspect", "--store", store, "news@v1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert (
        len(lines) == 2 and lines[0].startswith("vocabguard: error: ") and "vocab.txt" in lines[0]
    )
    assert lines[1] == "vocabguard: inspect news@v1 --no-verify shows it without verifying."
    assert main(["inspect", "--store", store, "news@v1", "--no-verify"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(
        "NOT VERIFIED (--no-verify): file checksums not re-checked; run `vocabguard verify news@v1`"
    )
    assert main(["list", "--store", store, "--verify"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["news@v1", "FAILED", "VERIFICATION"]
    assert lines[1].startswith("news@v2 ") and lines[1].endswith(" verified")
    assert "vocab.txt" in err
    assert main(["list", "--store", store]) == 0  # without --verify: manifests only


def test_inspect_rows_tokens_and_ids(store_with_versions, capsys):
    store = store_with_versions
    argv = ["inspect", "--store", store, "news@v1", "--rows", "0:5", "--token", "the"]
    argv += ["--token", "zebra", "--id", "4", "--id", "15", "--id", "16"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("news@v1  fingerprint ") and "verified" in lines[0]
    rows = [line.split(None, 3) for line in lines[1:]]
    assert rows[0] == ["id", "token", "kind", "count"]
    assert rows[1] == ["0", "[PAD]", "pad"]
    assert rows[2] == ["1", "[UNK]", "oov"]
    assert rows[3] == ["2", "[CLS]", "reserved", "0"]
    assert rows[4] == ["3", "the", "learned", "3"]
    assert rows[6] == ["3", "the", "learned", "3"]  # --token the
    assert lines[8].split(None, 2)[:2] == ["1", "zebra"]
    assert lines[8].endswith("not in the vocabulary: maps to OOV id 1")
    assert rows[8] == ["4", "'bell\\x07ring'", "learned", "1"]  # escaped
    assert lines[10].split(None, 2) == [
        "15",
        "-",
        "unused: capacity 16 reserves ids 11..15 for tokens a later version may add",
    ]
    assert lines[11].split(None, 2) == ["16", "-", "out of range: input_dim is 16, ids are 0..15"]
    assert main(["inspect", "--store", store, "news@v2", "--token", "The"]) == 0
    assert "the spec lowercases text, so look up the lowercase form" in capsys.readouterr().out
    assert main(["inspect", "--store", store, "news@v1", "--rows", "5-9"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "vocabguard: error: --rows takes A:B, the ids A..B-1 with 0 <= A <= B (e.g. 120:130). "
        "Received: rows='5-9'\n"
    )


# -- smaller points --


def test_pad_token_shows_as_used_in_lookup_config_and_report(store_with_versions, tmp_path):
    store = store_with_versions
    out = tmp_path / "exported"
    assert (
        main(["export", "--store", store, "news@v1", "--format", "keras", "--output", str(out)])
        == 0
    )
    config = json.loads((out / "lookup_config.json").read_text())
    assert config["spec"]["pad_token"] == "[PAD]" and config["spec"]["oov_token"] == "[UNK]"
    report = tmp_path / "report"
    assert main(["report", "--store", store, "news@v1", "--output", str(report)]) == 0
    html = (report / "report.html").read_text()
    assert "<code>pad_token</code></td><td><code>&#x27;[PAD]&#x27;</code>" in html, html


def test_beam_mode_usage_errors_are_two_lines(capsys, tmp_path):
    assert main(["encode", "--runner", "DirectRunner"]) == 2
    assert capsys.readouterr().err == (
        "vocabguard: error: the following arguments are required: --config (the Beam mode of "
        "vocabguard encode takes a job config)\nRun 'vocabguard encode --help' for usage.\n"
    )
    missing = str(tmp_path / "nope.yaml")
    assert main(["encode", "--config", missing]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vocabguard: error: Config file {missing} does not exist")
    assert err.count("\n") == 1  # no "running on the DirectRunner" note for a missing file
