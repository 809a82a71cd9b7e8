"""Defaults that bound what a runaway input can do (issue 11).

A token without any separator (a whole file) used to be learned as-is: a 200 MB
``vocab.txt`` entry. ``max_token_bytes`` now defaults to 1 KiB (``none`` lifts it),
and the tokens over it are counted in the build's stats. ``guard_ids([])`` behaves
the same in numpy and TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.guard import guard_ids as numpy_guard_ids
from vocabguard._src.core.spec import DEFAULT_MAX_TOKEN_BYTES
from vocabguard._src.engines.tf import guard_ids as tf_guard_ids
from vocabguard.cli import main

RUNAWAY = "x" * 2_000_000


def test_max_token_bytes_defaults_to_one_kib_and_counts_what_it_drops(tmp_path):
    assert VocabSpec().max_token_bytes == DEFAULT_MAX_TOKEN_BYTES == 1024
    vocab = build_vocabulary([f"a b {RUNAWAY}", RUNAWAY, "y" * 1024], VocabSpec(), progress=False)
    assert vocab.tokens[2:] == ["a", "b", "y" * 1024]  # exactly 1024 bytes is allowed
    assert vocab.stats["tokens_over_max_token_bytes"] == {
        "distinct": 1,
        "occurrences": 2,
        "max_token_bytes": 1024,
    }
    assert vocab.encode([RUNAWAY])[0].tolist() == [1]  # an OOV id
    published = VocabStore(tmp_path / "st").publish(vocab, "news")
    assert (tmp_path / "st" / "news" / "v1" / "vocab.txt").stat().st_size < 2000
    assert published.manifest["stats"]["tokens_over_max_token_bytes"]["occurrences"] == 2


@pytest.mark.parametrize("lifted", [None, "none", "None"])
def test_none_lifts_the_limit(lifted):
    spec = VocabSpec(max_token_bytes=lifted)
    assert spec.max_token_bytes is None
    assert VocabSpec.from_dict({"max_token_bytes": lifted}).max_token_bytes is None
    vocab = build_vocabulary([RUNAWAY], spec, progress=False)
    assert vocab.tokens[2:] == [RUNAWAY]
    assert "tokens_over_max_token_bytes" not in vocab.stats


def test_the_limit_is_configurable_on_the_command_line(tmp_path, capsys):
    (tmp_path / "c.txt").write_text(f"a {'z' * 2000}\n")
    for name, flag in [("small", "20"), ("lifted", "none")]:
        argv = ["build", "--name", name, "--input", str(tmp_path / "c.txt")]
        code = main([*argv, "--max-token-bytes", flag, "--store", str(tmp_path / "st")])
        assert code == 0, capsys.readouterr().err
    store = VocabStore(tmp_path / "st")
    assert store.load("small").tokens[2:] == ["a"]
    assert store.load("lifted").tokens[2:] == ["a", "z" * 2000]
    assert store.load("lifted").spec.max_token_bytes is None


def test_guard_ids_of_an_empty_list_agrees_on_numpy_and_tf():
    ours = numpy_guard_ids([], 5)
    theirs = tf_guard_ids([], 5)
    assert ours.size == 0 and np.issubdtype(ours.dtype, np.integer)
    assert theirs.shape == (0,) and theirs.dtype == tf.int64
    with pytest.raises(TypeError, match="integer ids"):
        tf_guard_ids([1.5], 5)
