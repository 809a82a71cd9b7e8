"""``vocabguard import``: vocabularies made by TFT, Keras lists, BERT and Hugging Face
keep their token order, the manifest records the source, and each source id's place
is printed; bad files are one-line errors naming the file and the first bad line or key.

Keras models (``--format keras-model``) are tested in ``test_migrate_keras.py``.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard._src.tools.importer import IdMap, format_import
from vocabguard.cli import main
from vocabguard.errors import ConfigError, InputDataError

BERT_LINES = [
    "[PAD]",
    "[unused0]",
    "[unused1]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "!",
    ",",
    ".",
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "un",
    "##able",
    "##s",
    "a",
    "b",
    "##b",
]


def write(path, text: str | bytes):
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_tft_file_keeps_order_and_records_the_source(tmp_path, store):
    path = write(tmp_path / "vocab", "world\nhello\ngoodbye\n")
    result = vg.import_vocabulary(path, "tft", name="tft_words", store=store)
    vocab = result.vocab
    # Not re-sorted: the source's order is the id order (TFT id i -> i + 2).
    assert vocab.tokens == ["[PAD]", "[UNK]", "world", "hello", "goodbye"]
    assert result.id_map.array().tolist() == [2, 3, 4]
    assert vocab.encode(["hello world zzz"])[0].tolist() == [3, 2, 1]
    loaded = store.load("tft_words@v1")
    record = loaded.manifest["build"]["import"]
    assert record["format"] == "tft"
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["id_map"]["runs"] == [[0, 2, 3]]
    # Importing the same file again publishes nothing new.
    again = vg.import_vocabulary(path, "tft", name="tft_words", store=store)
    assert again.vocab.ref == "tft_words@v1" and again.vocab.newly_published is False


def test_built_vocabularies_have_no_import_record(store):
    """The new manifest field is absent for built vocabularies: fingerprints unchanged."""
    built = store.publish(vg.build_vocabulary(["a b b"], vg.VocabSpec(), progress=False), "b")
    assert "import" not in store.load(built.ref).manifest["build"]
    assert (
        built.fingerprint == vg.Vocabulary(vg.VocabSpec(), "string", ["b", "a"], [2, 1]).fingerprint
    )


def test_tft_frequency_file_splits_at_the_first_space(tmp_path):
    path = write(tmp_path / "freq", "7 new york\n5 the\n5 a\n")
    vocab = vg.import_vocabulary(path, "tft-frequency", tokenizer="none").vocab
    assert vocab.tokens[2:] == ["new york", "the", "a"]
    assert vocab.counts == [7, 5, 5]
    assert vocab.lookup(["new york", "the"]).tolist() == [2, 3]


def test_tft_frequency_with_fractional_weights_keeps_order(tmp_path):
    path = write(tmp_path / "freq", "0.75 b\n0.5 a\n")
    result = vg.import_vocabulary(path, "tft-frequency")
    assert result.vocab.tokens[2:] == ["b", "a"] and result.vocab.counts == [0, 0]
    assert "not whole numbers" in result.notes[0]


def test_text_file_with_counts(tmp_path):
    path = write(tmp_path / "v.tsv", "b\t3\na\t9\n")
    vocab = vg.import_vocabulary(path, "text").vocab
    assert vocab.tokens[2:] == ["b", "a"] and vocab.counts == [3, 9]


def test_keras_list_with_mask_maps_one_to_one(tmp_path, store):
    path = write(tmp_path / "v.json", json.dumps(["", "[UNK]", "[UNK]", "the", "cat"]))
    result = vg.import_vocabulary(path, "keras", name="kv", store=store)
    vocab = result.vocab
    assert (vocab.pad_token, vocab.num_oov_buckets) == ("", 2)
    assert result.id_map.identical
    assert result.id_map.describe() == ["identical: source id i is vocabguard id i for i in 0..4"]
    assert vocab.lookup(["the", "cat"]).tolist() == [3, 4]


def test_keras_list_without_mask_is_shifted_by_one(tmp_path):
    path = write(tmp_path / "v.txt", "[UNK]\nthe\ncat\n")
    result = vg.import_vocabulary(path, "keras")
    assert result.id_map.array().tolist() == [1, 2, 3]
    assert "vocabguard id 0: pad '[PAD]' (not in the source)" in result.id_map.describe()


def test_keras_integer_list(tmp_path):
    path = write(tmp_path / "v.json", json.dumps([-1, 7, 0, 42]))
    result = vg.import_vocabulary(path, "keras")
    vocab = result.vocab
    assert vocab.token_type == "int64"
    # The layer had no mask: 0 is a real value, so the pad is a value no token holds.
    assert vocab.pad_token not in (7, 0, 42, -1)
    assert vocab.lookup([7, 0, 42, 5]).tolist() == [2, 3, 4, 1]
    assert result.id_map.array().tolist() == [1, 2, 3, 4]


def bert_vocab(tmp_path):
    return write(tmp_path / "vocab.txt", "\n".join(BERT_LINES) + "\n")


def test_bert_vocab_layout(tmp_path):
    result = vg.import_vocabulary(bert_vocab(tmp_path), "bert")
    vocab = result.vocab
    assert vocab.spec.tokenizer == "wordpiece" and vocab.spec.lowercase
    assert vocab.spec.reserved_tokens == ("[unused0]", "[unused1]", "[CLS]", "[SEP]", "[MASK]")
    # [UNK] moves to 1, the two [unused] before it up by one; from [CLS] on, ids are BERT's.
    assert result.id_map.array().tolist() == [0, 2, 3, 1, *range(4, len(BERT_LINES))]
    assert result.id_map.describe()[-1] == "source ids 4..20 -> vocabguard ids 4..20 (same ids)"


def test_bert_ids_equal_hugging_face_through_the_map(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    path = bert_vocab(tmp_path)
    result = vg.import_vocabulary(path, "bert")
    hf = tokenizers.BertWordPieceTokenizer(str(path), lowercase=True)
    texts = ["The cat sat on the mat!", "unable, cats.", "bb zzz", "The  CATS sat"]
    ids = result.vocab.encode(texts)
    mapping = result.id_map.array()
    for text, row in zip(texts, ids):
        expected = mapping[hf.encode(text, add_special_tokens=False).ids]
        assert row.tolist() == expected.tolist(), text


def hf_tokenizer_json(tmp_path, model: str = "WordPiece"):
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {t: i for i, t in enumerate(BERT_LINES)}
    if model == "WordPiece":
        tok = tokenizers.Tokenizer(tokenizers.models.WordPiece(vocab, unk_token="[UNK]"))
        tok.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    elif model == "WordLevel":
        tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
        tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    else:
        tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path, tok


def test_tokenizer_json_wordpiece(tmp_path):
    path, tok = hf_tokenizer_json(tmp_path)
    result = vg.import_vocabulary(path, "tokenizer-json")
    vocab = result.vocab
    assert vocab.spec.tokenizer == "wordpiece" and vocab.spec.lowercase
    assert vocab.spec.reserved_tokens == ("[unused0]", "[unused1]", "[CLS]", "[SEP]", "[MASK]")
    # BertNormalizer's clean_text and the special added tokens, kept whole in text.
    assert vocab.spec.clean_text
    assert vocab.spec.never_split == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    mapping = result.id_map.array()
    texts = ["The cat sat on the mat!", "unable cats", "zzz bb", "[CLS] the[MASK]cat [cls]\u200b"]
    for text in texts:
        assert vocab.encode([text])[0].tolist() == mapping[tok.encode(text).ids].tolist()
    assert result.source["model_type"] == "WordPiece"


def test_tokenizer_json_wordlevel(tmp_path):
    path, tok = hf_tokenizer_json(tmp_path, "WordLevel")
    result = vg.import_vocabulary(path, "tokenizer-json", tokenizer="whitespace")
    mapping = result.id_map.array()
    text = "the cat sat on zzz mat"
    assert result.vocab.encode([text])[0].tolist() == mapping[tok.encode(text).ids].tolist()


# -- refusals: one line, naming the file and the first offending line or key --


@pytest.mark.parametrize(
    "fmt, content, where, what",
    [
        ("tft", "a\nb\na\n", "line 3", "duplicate token 'a' (first at line 1)"),
        ("tft", "a\n\nb\n", "line 2", "empty line"),
        ("tft", "a\nb\n\n", "line 3", "empty line"),
        ("tft", b"a\n\xff\xfe\n", "line 2", "not valid UTF-8"),
        ("tft", "a\nx\u2028y\n", "line 2", "holds line break '\\u2028'"),
        ("tft", "a\nnew york\n", "line 2", "token 'new york' cannot round-trip"),
        ("tft-frequency", "the\ncat\n", "line 1", "expected '<count> <token>'"),
        ("text", "a\t1\nb\n", "line 2", "expected 'token<TAB>count'"),
        ("text", "a\nb\t1\n", "line 2", "a tab in a file whose first line has none"),
        ("keras", '["", "the"]', "entry 0", "no OOV token '[UNK]'"),
        ("keras", '["[UNK]", "a", "a"]', "entry 2", "duplicate token 'a' (first at entry 1)"),
        ("bert", "the\ncat\n", "line 1", "no OOV token '[UNK]' in the file"),
        ("bert", "[PAD]\n[UNK]\ndon't\ncat\n", "line 3", 'token "don\'t" cannot round-trip'),
        ("tokenizer-json", "[1, 2]", "key 'model'", "not a Hugging Face tokenizer.json"),
        (
            "tokenizer-json",
            '{"model": {"type": "WordLevel", "vocab": {"a": 0, "a": 1}, "unk_token": "a"}}',
            "key 'a'",
            "duplicate key 'a'",
        ),
        (
            "tokenizer-json",
            '{"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 0}, "unk_token": "a"}}',
            "key 'b'",
            "id 0 is also the id of 'a'",
        ),
        (
            "tokenizer-json",
            '{"model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "[UNK]"}}',
            "key 'model.unk_token'",
            "unk_token '[UNK]' is not in the vocabulary",
        ),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, fmt, content, where, what):
    path = write(tmp_path / "input", content)
    with pytest.raises(InputDataError) as info:
        vg.import_vocabulary(path, fmt)
    message = str(info.value)
    assert message.startswith(f"{path}, {where}: ")
    assert what in message
    assert "\n" not in message and message.rstrip().split(" Received: ")[1]


def test_unsupported_tokenizer_json_model_type(tmp_path):
    path, _ = hf_tokenizer_json(tmp_path, "BPE")
    with pytest.raises(InputDataError) as info:
        vg.import_vocabulary(path, "tokenizer-json")
    message = str(info.value)
    assert message.startswith(f"{path}, key 'model.type': model type 'BPE' is not supported")
    assert "\n" not in message and message.endswith(f"Received: file='{path}', model_type='BPE'")


@pytest.mark.parametrize("fmt", ["tft", "text", "bert", "tft-frequency"])
def test_a_file_of_another_format_is_named_as_such(tmp_path, fmt):
    json_path, _ = hf_tokenizer_json(tmp_path)
    keras_list = write(tmp_path / "vocabulary.json", '[\n  "",\n  "[UNK]",\n  "the"\n]\n')
    for path, what, fix in (
        (json_path, "a JSON object", "a Hugging Face tokenizer.json is --format tokenizer-json"),
        (keras_list, "a JSON list", "a Keras get_vocabulary() list is --format keras"),
    ):
        with pytest.raises(InputDataError) as info:
            vg.import_vocabulary(path, fmt)
        assert str(info.value) == (
            f"{path}, line 1: the file is {what}, not a {fmt} vocabulary file (one token per "
            f"line). Check --format: {fix}. Received: file='{path}', format='{fmt}'"
        )
    # A .keras model (a zip) is not text: the first invalid line is named.
    model = write(tmp_path / "model.keras", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe")
    with pytest.raises(InputDataError, match=rf"line 1: not valid UTF-8 .*not a {fmt} vocab"):
        vg.import_vocabulary(model, fmt)


def test_unknown_format_and_option():
    with pytest.raises(ConfigError, match="Unknown import format 'csv'"):
        vg.import_vocabulary("x", "csv")
    with pytest.raises(ConfigError, match="Unknown import option 'colour'"):
        vg.import_vocabulary("x", "tft", colour="red")


def test_cli_import_prints_the_id_map(tmp_path, store_root, capsys):
    path = bert_vocab(tmp_path)
    code = main(
        ["import", str(path), "--format", "bert", "--name", "bert", "--store", str(store_root)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "as        bert@v1  input_dim 21" in out
    assert "source id 3 -> vocabguard id 1 (offset -2)" in out
    assert "source ids 1..2 -> vocabguard ids 2..3 (offset +1)" in out
    code = main(
        [
            "import",
            str(path),
            "--format",
            "bert",
            "--name",
            "bert",
            "--json",
            "--store",
            str(store_root),
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ref"] == "bert@v1" and data["source"]["format"] == "bert"


def test_cli_import_error_is_one_line(tmp_path, store_root, capsys):
    path = write(tmp_path / "dup.txt", "a\nb\nb\n")
    code = main(["import", str(path), "--format", "tft", "--name", "d", "--store", str(store_root)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"vocabguard: error: {path}, line 3: duplicate token 'b'")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1),
        min_size=1,
        max_size=12,
        unique=True,
    )
)
def test_every_tft_token_keeps_its_place(tokens):
    """Any token list that survives a text file imports in order, each id in range."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, "vocab")
        with open(path, "w", encoding="utf-8", newline="") as out:
            out.write("".join(t + "\n" for t in tokens))
        result = vg.import_vocabulary(path, "tft", tokenizer="none")
    vocab = result.vocab
    assert vocab.tokens[2:] == tokens
    ids = vocab.lookup(tokens)
    assert ids.tolist() == result.id_map.array().tolist() == list(range(2, 2 + len(tokens)))
    assert (ids < vocab.input_dim).all()


def test_id_map_runs_and_report():
    id_map = IdMap.from_pairs([(0, 0), (1, 2), (2, 3), (3, 1), (4, 4)])
    assert id_map.runs == ((0, 0, 1), (1, 2, 2), (3, 1, 1), (4, 4, 1))
    assert not id_map.identical
    assert np.array_equal(id_map.array(), [0, 2, 3, 1, 4])


def test_format_import_names_source_and_layout(tmp_path):
    result = vg.import_vocabulary(write(tmp_path / "v", "a\nb\n"), "tft")
    text = format_import(result)
    assert "(tft, sha256 " in text
    assert "layout    pad 0 '[PAD]', OOV 1 '[UNK]', 0 reserved, 2 learned" in text
