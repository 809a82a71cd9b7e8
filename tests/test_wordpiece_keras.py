"""WordPiece for Keras (issue 14, point 1): ``export --format keras`` and keras_hub's
``WordPieceTokenizer`` (``vocabguard.keras.WordPieceTokenizer``) give vocabguard's ids."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wordpiece_texts import CORPUS, ENGLISH, JAPANESE, RUSSIAN

import vocabguard as vg
from vocabguard import VocabSpec, build_vocabulary
from vocabguard import tf as vtf
from vocabguard.cli import main
from vocabguard.errors import ArtifactError, ConfigError, SpecError
from vocabguard.keras import WordPieceTokenizer, wordpiece_tokenizer

# Words keras_hub's own pre-tokenizer or 100-byte rule would treat otherwise: a long
# Russian word (over 100 bytes), a long Japanese run, non-ASCII whitespace, a format
# character, NUL, combining accents, uppercase that NFKC case folding maps otherwise.
HARD = [
    "кошачьисобакиисобачьикошкисиделинаковресчастливокошки",
    "猫はマットの上に座った" * 4,
    "cats\u00a0dogs\u3000cats\u200bdogs",
    "ca\x00ts déjà ÉCOLE ß İstanbul ﬁ",
    "",
]


def wordpiece(**fields) -> VocabSpec:
    return VocabSpec(tokenizer="wordpiece", **{"vocab_size": 200, "lowercase": True, **fields})


@pytest.fixture(scope="module")
def vocab():
    return build_vocabulary(CORPUS * 2, wordpiece(normalization="NFKC"), progress=False)


@pytest.fixture(scope="module")
def encoder(vocab):
    return vtf.encode_fn(vocab)


@pytest.fixture(scope="module")
def exported(vocab, tmp_path_factory):
    """``vocabguard export --format keras`` of ``vocab``: the output directory."""
    root = tmp_path_factory.mktemp("wpexport")
    store = vg.VocabStore(root / "store")
    store.publish(vocab, "pieces")
    output = root / "exported"
    argv = ["export", "pieces@v1", "--format", "keras", "--output", str(output)]
    assert main([*argv, "--store", str(root / "store")]) == 0
    return output


@pytest.fixture(scope="module")
def tokenizer(exported):
    return wordpiece_tokenizer(exported)


def rows(output) -> list:
    """A tokenizer's output as lists (keras_hub returns a list for ragged eager output)."""
    if isinstance(output, tf.RaggedTensor):
        return output.to_list()
    return np.asarray(output).tolist() if not isinstance(output, list) else output


def numpy_ids(vocab, texts):
    return [row.tolist() for row in vocab.encode(texts)]


# -- the export's files --


def test_export_writes_the_vocabulary_by_id_and_the_layer_arguments(vocab, exported, capsys):
    assert sorted(p.name for p in exported.iterdir()) == ["vocabulary.txt", "wordpiece_config.json"]
    lines = (exported / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    assert lines[:-1] == vocab.tokens and lines[-1] == ""  # line i is id i
    config = json.loads((exported / "wordpiece_config.json").read_text(encoding="utf-8"))
    assert config["layer"] == "vocabguard.keras.WordPieceTokenizer"
    assert config["subclass_of"] == "keras_hub.tokenizers.WordPieceTokenizer"
    assert config["kwargs"] == {
        "vocabulary": "vocabulary.txt",
        "sequence_length": None,
        "normalization": "NFKC",
        "lowercase": True,
        "max_chars_per_word": 100,
        "suffix_indicator": "##",
        "oov_token": "[UNK]",
        "input_dim": vocab.input_dim,
        "fingerprint": vocab.fingerprint,
        "dtype": "int32",
    }
    assert config["input_dim"] == vocab.input_dim and config["fingerprint"] == vocab.fingerprint
    assert (
        "keras_hub's own keras_hub.tokenizers.WordPieceTokenizer given this file gives "
        in (config["notes"])
    )


def test_the_tokenizer_is_keras_hubs(tokenizer, vocab):
    assert isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer)
    assert tokenizer.get_vocabulary() == vocab.tokens
    assert tokenizer.vocabulary_size() == len(vocab)
    assert tokenizer.input_dim == vocab.input_dim
    assert tokenizer.token_to_id("[UNK]") == 1 and tokenizer.id_to_token(0) == "[PAD]"


# -- the same ids as Vocabulary.encode and vocabguard.tf.encode_fn --


@pytest.mark.parametrize(
    "texts", [ENGLISH, RUSSIAN, JAPANESE, HARD], ids=["latin", "cyrillic", "cjk", "hard"]
)
def test_same_ids_as_numpy_and_tf_data_on_three_scripts(vocab, tokenizer, encoder, texts):
    expected = numpy_ids(vocab, texts)
    assert rows(tokenizer(texts)) == expected
    assert encoder(tf.constant(texts)).to_list() == expected
    in_tf_data = [
        row
        for batch in tf.data.Dataset.from_tensor_slices(texts).batch(2).map(tokenizer)
        for row in batch.to_list()
    ]
    assert in_tf_data == expected
    assert tokenizer(texts[0]).numpy().tolist() == expected[0]  # a scalar: one row


def test_keras_hubs_own_pre_tokenizer_gives_other_ids(vocab, tokenizer):
    """Why the subclass: keras_hub's stock layer, given the same file and its closest
    arguments, splits and limits words otherwise (so its ids differ)."""
    stock = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=vocab.tokens, lowercase=True, split_on_cjk=False, oov_token="[UNK]"
    )
    assert len(HARD[0].encode("utf-8")) > 100 and len(HARD[1].encode("utf-8")) > 100
    for text in (*HARD[:2], "cats\u00a0dogs", "cats\u200bdogs"):
        assert np.asarray(stock([text])[0]).tolist() != rows(tokenizer([text]))[0], text
    assert rows(tokenizer(["cats\u00a0dogs"])) == numpy_ids(vocab, ["cats\u00a0dogs"])


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(
            "\t\n\x0b\x0c\r \x85\xa0\u3000\u200babcABкошΣςİßÅ猫犬😀\u0301\x00,;.!-#[]ﬁ"
        ),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_same_ids_on_arbitrary_unicode(vocab, tokenizer, encoder, texts):
    expected = numpy_ids(vocab, texts)
    assert rows(tokenizer(texts)) == expected
    assert encoder(tf.constant(texts)).to_list() == expected


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=st.lists(TEXT, min_size=1, max_size=8),
    queries=st.lists(TEXT, min_size=1, max_size=4),
    max_chars=st.sampled_from([None, 2, 5]),
    lowercase=st.booleans(),
)
def test_learned_from_random_unicode_the_keras_tokenizer_agrees(
    corpus, queries, max_chars, lowercase
):
    spec = VocabSpec(
        tokenizer="wordpiece", vocab_size=50, max_chars_per_word=max_chars, lowercase=lowercase
    )
    vocab = build_vocabulary(corpus, spec, progress=False)
    try:
        tokenizer = wordpiece_tokenizer(vocab)
    except ArtifactError as error:  # a piece keras_hub's file cannot hold: refused, not wrong
        assert any(
            reason in str(error) for reason in ("reader strips", "line break", "contains NUL")
        )
        return
    texts = queries + corpus
    assert rows(tokenizer(texts)) == numpy_ids(vocab, texts)


def test_sequence_length_pads_with_zero_and_truncates(exported):
    tokenizer = wordpiece_tokenizer(exported, sequence_length=6)
    spec = wordpiece(normalization="NFKC", sequence_length=6)
    same_spec = build_vocabulary(CORPUS * 2, spec, progress=False)
    texts = ["The cats sat on the mat, happily!", "☃"]
    expected = same_spec.encode(texts)
    np.testing.assert_array_equal(tokenizer(texts).numpy(), expected)
    np.testing.assert_array_equal(vtf.encode_fn(same_spec)(tf.constant(texts)).numpy(), expected)
    assert expected[1].tolist() == [1, 0, 0, 0, 0, 0]


def test_saved_in_a_keras_model_and_reloaded(vocab, tmp_path):
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, wordpiece_tokenizer(vocab, sequence_length=12)(inputs))
    model.save(tmp_path / "tokenizer.keras")
    restored = keras.models.load_model(tmp_path / "tokenizer.keras")
    texts = CORPUS[:2] + HARD[:2]
    expected = [(row + [0] * 12)[:12] for row in numpy_ids(vocab, texts)]
    assert restored(tf.constant(texts)).numpy().tolist() == expected
    layer = restored.layers[-1]
    assert isinstance(layer, WordPieceTokenizer) and layer.fingerprint == vocab.fingerprint


def test_get_config_round_trip(tokenizer):
    config = tokenizer.get_config()
    assert config["lowercase"] is True and config["normalization"] == "NFKC"
    assert "split" not in config and "strip_accents" not in config
    again = WordPieceTokenizer.from_config({**config, "vocabulary": tokenizer.get_vocabulary()})
    assert rows(again(CORPUS)) == rows(tokenizer(CORPUS))


# -- refused rather than other ids --


def export_error(capsys, store_root, vocab, fmt="keras") -> str:
    vg.VocabStore(store_root).publish(vocab, "p")
    argv = ["export", "p@v1", "--format", fmt, "--output", str(store_root / "out")]
    assert main([*argv, "--store", str(store_root)]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (store_root / "out").exists()
    return err


def test_a_pad_or_oov_token_a_word_could_match_is_refused(capsys, store_root):
    vocab = build_vocabulary(["unk cats"], wordpiece(oov_token="unk"), progress=False)
    err = export_error(capsys, store_root, vocab)
    assert (
        "Cannot export p@v1 for keras_hub: its oov_token 'unk' (id 1) could be a word or a "
        "piece of one, and keras_hub's WordPieceTokenizer would give such a word id 1 where "
        "vocabguard splits it into pieces." in err
    )
    assert err.rstrip().endswith("Received: oov_token='unk'")
    with pytest.raises(SpecError, match="its pad_token '##pad' \\(id 0\\) could be"):
        wordpiece_tokenizer(
            build_vocabulary(["cats"], wordpiece(pad_token="##pad"), progress=False)
        )


def test_a_piece_keras_hubs_reader_would_strip_is_refused(capsys, store_root):
    vocab = build_vocabulary(["a\x1cb cat"], wordpiece(), progress=False)
    err = export_error(capsys, store_root, vocab)
    assert "Cannot export p@v1 for keras_hub: id " in err
    assert "ends with '\\x1c', which keras_hub's reader strips (line.rstrip())" in err


def test_tft_export_of_wordpiece_is_refused(capsys, store_root):
    err = export_error(
        capsys, store_root, build_vocabulary(CORPUS, wordpiece(), progress=False), "tft"
    )
    assert "is a WordPiece vocabulary: `export --format tft` writes a token lookup" in err
    assert "Use `--format keras` (keras_hub's WordPieceTokenizer)" in err
    assert "Received: format='tft', tokenizer='wordpiece'" in err


def test_layer_arguments_are_checked(vocab, tokenizer):
    with pytest.raises(ConfigError, match="keras_hub's `split` is always False"):
        WordPieceTokenizer(vocabulary=vocab.tokens, split=True)
    with pytest.raises(SpecError, match="puts the OOV token at id 1"):
        WordPieceTokenizer(vocabulary=["[UNK]", "[PAD]", "cat"])
    with pytest.raises(ConfigError, match="takes a string or a batch of strings"):
        tokenizer(tf.constant([["a cat"]]))
    with pytest.raises(SpecError, match="is not a WordPiece vocabulary"):
        wordpiece_tokenizer(build_vocabulary(["a b"], VocabSpec(), progress=False))
    with pytest.raises(ConfigError, match="is not a WordPiece Keras export: it has no"):
        wordpiece_tokenizer("/nonexistent")


# -- keras_hub stays optional --


def test_keras_hub_loads_only_on_first_use():
    code = (
        "import sys, vocabguard, vocabguard.keras; "
        "print('keras_hub' in sys.modules); "
        "vocabguard.keras.WordPieceTokenizer; print('keras_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_without_keras_hub_the_error_names_the_extra():
    code = (
        "import sys; sys.modules['keras_hub'] = None; import vocabguard.keras\n"
        "try:\n    vocabguard.keras.wordpiece_tokenizer\n"
        "except Exception as e:\n    print(type(e).__name__, e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "ConfigError vocabguard.keras.wordpiece_tokenizer is built on keras_hub, which is not "
        "installed. Install it with `pip install 'vocabguard[keras-hub]'`. "
        "Received: name='wordpiece_tokenizer'"
    )


def test_the_export_command_imports_no_tensorflow(vocab, tmp_path):
    vg.VocabStore(tmp_path / "store").publish(vocab, "p")
    code = (
        "import sys; from vocabguard.cli import main; "
        f"rc = main(['export', 'p@v1', '--format', 'keras', '--output', {str(tmp_path / 'x')!r}, "
        f"'--store', {str(tmp_path / 'store')!r}]); "
        "heavy = {'tensorflow', 'keras', 'keras_hub', 'tensorflow_text', 'apache_beam'}; "
        "print(rc, sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "0 []"
    assert (tmp_path / "x" / "wordpiece_config.json").is_file()
