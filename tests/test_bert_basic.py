"""BERT's basic tokenizer for WordPiece (``split_cjk``, ``strip_accents``): an imported BERT
``vocab.txt`` gives Hugging Face's BERT tokenizer's ids (built from the same file, no
download) on multilingual text, on the numpy path and in tf.data alike."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import vocabguard as vg
from vocabguard import tf as vtf
from vocabguard.errors import SpecError

tokenizers = pytest.importorskip("tokenizers")

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
]


def hf_bert(tmp_path, lowercase: bool):
    tok = tokenizers.BertWordPieceTokenizer(lowercase=lowercase)
    tok.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1)
    folder = tmp_path / ("uncased" if lowercase else "cased")
    folder.mkdir()
    tok.save_model(str(folder))
    path = folder / "vocab.txt"
    # Rebuilt from the file alone, as BertTokenizerFast(vocab_file=...) does.
    return path, tokenizers.BertWordPieceTokenizer(str(path), lowercase=lowercase)


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_imported_bert_vocab_gives_hugging_face_ids(tmp_path, lowercase):
    path, hf = hf_bert(tmp_path, lowercase)
    result = vg.import_vocabulary(path, "bert")
    vocab = result.vocab
    assert vocab.spec.split_cjk and vocab.spec.strip_accents == lowercase
    assert vocab.spec.lowercase == lowercase
    mapping = result.id_map.array()
    expected = [mapping[hf.encode(t, add_special_tokens=False).ids].tolist() for t in HELD_OUT]
    assert [row.tolist() for row in vocab.encode(HELD_OUT)] == expected
    assert vtf.encode_fn(vocab)(tf.constant(HELD_OUT)).to_list() == expected
    # Each CJK ideograph is its own word: known ones get their own ids, not [UNK].
    ids = vocab.encode(["北京"])[0].tolist()
    assert ids == [vocab.token_to_id("北"), vocab.token_to_id("京")]


def test_without_split_cjk_a_run_of_ideographs_is_one_word(tmp_path):
    path, _ = hf_bert(tmp_path, True)
    plain = vg.import_vocabulary(path, "bert", split_cjk=False).vocab
    bert = vg.import_vocabulary(path, "bert").vocab
    assert plain.encode(["北京"])[0].tolist() != bert.encode(["北京"])[0].tolist()


def test_options_are_wordpiece_only_and_absent_by_default():
    with pytest.raises(SpecError, match="`split_cjk` is BERT's pre-tokenizer option"):
        vg.VocabSpec(split_cjk=True)
    with pytest.raises(SpecError, match="`strip_accents` must be true or false"):
        vg.VocabSpec(tokenizer="wordpiece", vocab_size=5, strip_accents="yes")
    spec = vg.VocabSpec(tokenizer="wordpiece", vocab_size=5)
    assert "split_cjk" not in spec.to_dict() and "strip_accents" not in spec.to_dict()
    vocab = vg.Vocabulary(spec, "string", ["a"], [1])
    assert "split_cjk" not in vocab.contract()
    bert = vg.Vocabulary(spec.replace(split_cjk=True, strip_accents=True), "string", ["a"], [1])
    assert bert.contract()["split_cjk"] and bert.fingerprint != vocab.fingerprint


def test_numpy_and_tf_agree_on_accents_and_cjk():
    spec = vg.VocabSpec(
        tokenizer="wordpiece", vocab_size=200, lowercase=True, split_cjk=True, strip_accents=True
    )
    vocab = vg.build_vocabulary(CORPUS, spec, progress=False)
    texts = [*HELD_OUT, "İstanbul ǅemal ﬁnance ㋿ 𠀀𠀁", "a\u0301\u0327 e\u20dd"]
    numpy_ids = [row.tolist() for row in vocab.encode(texts)]
    assert numpy_ids == vtf.encode_fn(vocab)(tf.constant(texts)).to_list()
    assert np.all(np.concatenate([np.asarray(r, dtype=int) for r in numpy_ids]) < vocab.input_dim)
