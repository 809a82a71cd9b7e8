"""Hostile input: small files that ask for unbounded memory, records that used to
raise tracebacks, and values the paths disagreed on.

Each test reproduces one attack and checks the error TEXT (one line, naming what
was too large or where, and the knob or fix), and, for records, that
``bad_records: skip`` counts them. Memory bounds are checked without timing: the
attack runs in a subprocess under ``RLIMIT_AS``, so it either fails cleanly or is
killed by the limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vocabguard import VocabSpec
from vocabguard._src.core.errors import quoted, received
from vocabguard._src.core.guard import guard_ids
from vocabguard._src.core.spec import MAX_INPUT_DIM, MAX_NUM_OOV_BUCKETS, load_yaml
from vocabguard.cli import main
from vocabguard.errors import ConfigError, SpecError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_limited(code: str, limit_mb: int, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python whose address space is capped at ``limit_mb``."""
    prelude = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit_mb} << 20, {limit_mb} << 20))\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- YAML: one loader, bounded --

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    "tail",
    ["", "reserved_tokens: *i\n"],
    ids=["unknown_keys", "reserved_tokens"],
)
def test_yaml_alias_bomb_is_refused_before_expansion(tmp_path, capsys, tail):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + tail)
    assert path.stat().st_size < 600
    with pytest.raises(ConfigError) as info:
        VocabSpec.from_yaml(path)
    assert str(info.value) == (
        f"Config file {path} expands to more than 1,000,000 values: its aliases (*name) "
        "repeat anchored values, each use counted (a YAML alias bomb). Write the values out "
        f"without aliases, or shorten the file. Received: path='{path}'"
    )
    argv = ["build", "--name", "n", "--input", str(path), "--config", str(path)]
    assert main([*argv, "--store", str(tmp_path / "st")]) == 1
    assert "expands to more than 1,000,000 values" in one_line(capsys.readouterr().err)


def test_yaml_alias_bomb_stays_within_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + "reserved_tokens: *i\n")
    result = run_limited(
        """
        import sys
        from vocabguard._src.core.spec import VocabSpec
        try:
            VocabSpec.from_yaml(sys.argv[1])
        except Exception as err:
            print(type(err).__name__)
        """,
        1024,
        str(path),
    )
    assert result.stdout.strip() == "ConfigError", result.stderr


def test_yaml_aliases_that_expand_a_little_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {tokenizer: none, missing: oov}\nspec: *b\n")
    assert VocabSpec.from_yaml(path, key="spec").missing == "oov"


def test_yaml_alias_holding_itself_is_refused(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text("reserved_tokens: &a [x, *a]\n")
    with pytest.raises(ConfigError, match=r"a YAML alias refers to a value that holds it"):
        load_yaml(path)


def test_yaml_nested_too_deep_and_fifo_are_one_line_errors(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml is not valid YAML: .*nesting depth"):
        load_yaml(deep)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"fifo\.yaml is not a regular file; pass a YAML"):
        load_yaml(fifo)


def test_every_yaml_load_goes_through_one_loader():
    offenders = []
    for folder, _, files in os.walk(os.path.join(REPO, "vocabguard")):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                if "yaml.safe_load" in text or "yaml.load(" in text:
                    offenders.append(name)
    assert offenders == []


# -- sizes in the spec: num_oov_buckets, capacity, pad_to_multiple_of --


def test_num_oov_buckets_of_three_billion_fails_fast_without_allocating(tmp_path):
    (tmp_path / "c.txt").write_text("a b c\n")
    result = run_limited(
        """
        import sys
        from vocabguard.cli import main
        sys.exit(main(sys.argv[1:]))
        """,
        2048,
        "build",
        "--name",
        "n",
        "--input",
        str(tmp_path / "c.txt"),
        "--num-oov-buckets",
        "3000000000",
        "--store",
        str(tmp_path / "st"),
    )
    assert result.returncode == 1, result.stderr
    assert one_line(result.stderr) == (
        "vocabguard: error: `num_oov_buckets` may be at most 4,194,304: each OOV id is a row "
        "of the artifact and of the embedding. Use fewer buckets (hash high-cardinality values "
        "into a separate keras.layers.Hashing input) (in command-line flags). Received: "
        "num_oov_buckets=3000000000"
    )
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_num_oov_buckets_maximum_is_allowed():
    assert VocabSpec(num_oov_buckets=MAX_NUM_OOV_BUCKETS).num_oov_buckets == 2**22


@pytest.mark.parametrize("key", ["capacity", "pad_to_multiple_of"])
def test_absurd_input_dim_is_refused_and_int64_lifts_the_int32_cap(key):
    with pytest.raises(SpecError) as info:
        VocabSpec(**{key: 10**20})
    assert str(info.value) == (
        f"`{key}` 100,000,000,000,000,000,000 is larger than the largest input_dim int32 ids "
        "can address (2,147,483,647). Lower it, or set id_dtype: int64 (input_dim up to "
        f"2**53). Received: {key}=100000000000000000000"
    )
    assert getattr(VocabSpec(**{key: 2**31 - 1}), key) == MAX_INPUT_DIM["int32"]
    assert getattr(VocabSpec(**{key: 2**40, "id_dtype": "int64"}), key) == 2**40
    with pytest.raises(SpecError, match=r"int64 ids can address \(9,007,199,254,740,992\)"):
        VocabSpec(**{key: 10**20, "id_dtype": "int64"})


def test_rounding_up_past_the_cap_is_refused():
    with pytest.raises(SpecError, match=r"rounds input_dim up to 2,147,483,648, larger than"):
        VocabSpec(capacity=2**31 - 1, pad_to_multiple_of=8)


def test_published_huge_capacity_has_int32_ids(tmp_path):
    from vocabguard import VocabStore, build_vocabulary

    vocab = build_vocabulary(["a b"], VocabSpec(capacity=2**31 - 1), progress=False)
    published = VocabStore(tmp_path / "st").publish(vocab, "n")
    assert published.input_dim == 2**31 - 1
    assert VocabStore(tmp_path / "st").verify("n@v1") is not None


@pytest.mark.parametrize("input_dim", [2**63, 2**64, 10**20, 0, -1, 2.5, True])
def test_guard_ids_refuses_impossible_input_dim_on_numpy_and_tf(input_dim):
    from vocabguard._src.engines.tf import guard_ids as tf_guard_ids

    for guard in (guard_ids, tf_guard_ids):
        with pytest.raises(ConfigError) as info:
            guard([1, 2], input_dim)
        assert str(info.value).startswith(
            "`input_dim` must be an integer in [1, 9,007,199,254,740,992] (the largest "
            "input_dim of int64 ids); pass the vocabulary's input_dim. Received: input_dim="
        )


def test_guard_ids_accepts_the_largest_input_dim():
    assert guard_ids(np.array([0, 2**53 - 1]), 2**53).tolist() == [0, 2**53 - 1]


# -- messages quote a bounded part of what they received --


def test_quoted_values_are_bounded():
    assert quoted(dict.fromkeys(range(1_000_000), 0)).endswith("9: 0, ... and 999,990 more}")
    assert quoted("x" * 10**7).endswith("'... (10,000,000 characters)")
    nested: list = ["lol"] * 10
    for _ in range(30):
        nested = [nested] * 10
    assert len(received(value=nested)) < 1200
