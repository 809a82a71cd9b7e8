"""WordPiece vocabularies (issue 14): learning from word counts, numpy and tf.data encoding."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wordpiece_texts import CORPUS, ENGLISH, JAPANESE, RUSSIAN

import vocabguard as vg
from vocabguard import VocabSpec, build_vocabulary
from vocabguard import tf as vtf
from vocabguard._src.core.tokenizer import WHITESPACE, Tokenizer
from vocabguard._src.core.wordpiece import join_pieces
from vocabguard.errors import LineageError, SpecError


def wordpiece(**fields) -> VocabSpec:
    return VocabSpec(tokenizer="wordpiece", **{"vocab_size": 200, "lowercase": True, **fields})


@pytest.fixture(scope="module")
def vocab():
    return build_vocabulary(CORPUS * 2, wordpiece(), progress=False)


@pytest.fixture(scope="module")
def encoder(vocab):
    return vtf.encode_fn(vocab)


# -- the spec --


@pytest.mark.parametrize(
    "fields, message",
    [
        (
            {"tokenizer": "wordpiece"},
            "`tokenizer: wordpiece` needs `vocab_size`, the target number of learned pieces "
            "(e.g. 30000, as BERT). Received: vocab_size=None",
        ),
        (
            {"vocab_size": 100},
            "`vocab_size` is only used with `tokenizer: wordpiece`; remove it or set tokenizer "
            "to wordpiece. Received: tokenizer='whitespace', vocab_size=100",
        ),
        ({"joiner": "##"}, "`joiner` is only used with `tokenizer: wordpiece`"),
        (
            {"tokenizer": "wordpiece", "vocab_size": 10, "joiner": "# #"},
            "`joiner` must be a non-empty string without whitespace (default '##'). "
            "Received: joiner='# #'",
        ),
        (
            {"tokenizer": "wordpiece", "vocab_size": 10, "num_oov_buckets": 2},
            "`num_oov_buckets` is not supported with `tokenizer: wordpiece` (one OOV id, as "
            "BERT's [UNK]; the size is set by vocab_size; one text per value). Remove "
            "num_oov_buckets or use another tokenizer. Received: num_oov_buckets=2",
        ),
        (
            {"tokenizer": "wordpiece", "vocab_size": 10, "max_tokens": 5},
            "Received: max_tokens=5",
        ),
        (
            {"tokenizer": "wordpiece", "vocab_size": 0},
            "`vocab_size` must be an integer >= 1",
        ),
    ],
)
def test_wordpiece_fields_are_validated(fields, message):
    with pytest.raises(SpecError) as caught:
        VocabSpec(**fields)
    assert message in str(caught.value)


# -- learning: the id order --

# The pinned id order of a small corpus (the determinism rule: piece count descending,
# then UTF-8 bytes ascending; a piece's count is its occurrences over the counted words).
GOLDEN_CORPUS = ["the cats sat", "the cat sat", "a cat", "cats", "the sat cat!"]
GOLDEN_TOKENS = [
    "[PAD]",
    "[UNK]",
    "cat",
    "sat",
    "the",
    "cats",
    "!",
    "a",
    "##!",
    "##a",
    "##c",
    "##e",
    "##h",
    "##s",
    "##t",
    "c",
    "e",
    "h",
    "s",
    "t",
]


def test_learned_pieces_follow_the_documented_order():
    vocab = build_vocabulary(
        GOLDEN_CORPUS, VocabSpec(tokenizer="wordpiece", vocab_size=30), progress=False
    )
    assert vocab.tokens == GOLDEN_TOKENS
    assert vocab.counts[:6] == [3, 3, 3, 2, 1, 1]  # 'cats' is one piece, not cat + ##s
    keys = [(-c, t.encode()) for c, t in zip(vocab.counts, vocab.tokens[2:])]
    assert keys == sorted(keys)


# Words over a small alphabet (so pieces repeat), with '#' and '@' so that words can
# start with the joiner's characters (a word start and a continuation share a key).
WORD = st.text(alphabet="ab#@é日x", min_size=1, max_size=9)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.dictionaries(WORD, st.integers(1, 60), min_size=1, max_size=40),
    vocab_size=st.integers(4, 90),
    lower_thresh=st.one_of(st.none(), st.integers(1, 6)),
    upper_thresh=st.one_of(st.none(), st.integers(1, 80)),
    iterations=st.integers(1, 4),
    max_token_length=st.integers(1, 10),
    max_unique_chars=st.integers(1, 8),
    max_input_tokens=st.sampled_from([5_000_000, -1, 7]),
    joiner=st.sampled_from(["##", "#", "@@"]),
)
def test_learner_gives_tf_texts_vocabulary(
    counts,
    vocab_size,
    lower_thresh,
    upper_thresh,
    iterations,
    max_token_length,
    max_unique_chars,
    max_input_tokens,
    joiner,
):
    """vocabguard's learner returns exactly what tf-text's ``learn`` returns."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as lib

    from vocabguard._src.core.wordpiece_learner import learn

    words = sorted(counts.items())
    options = dict(
        vocab_size=vocab_size,
        lower_thresh=lower_thresh,
        upper_thresh=upper_thresh,
        num_iterations=iterations,
        max_token_length=max_token_length,
        max_unique_chars=max_unique_chars,
        max_input_tokens=max_input_tokens,
        joiner=joiner,
    )
    expected = lib.learn(words, reserved_tokens=[], include_joiner_token=True, **options)
    assert learn(words, **options) == expected


def test_learner_refuses_what_it_does_not_compute():
    from vocabguard._src.core.wordpiece_learner import learn

    assert learn([], 10) == []
    with pytest.raises(ValueError, match="word counts must be >= 1"):
        learn([("a", 0)], 10)
    with pytest.raises(ValueError, match="joiner must be a non-empty string"):
        learn([("a", 1)], 10, joiner="")


def test_learning_is_deterministic_and_batch_independent(vocab):
    again = build_vocabulary(list(reversed(CORPUS * 2)), wordpiece(), progress=False, batch_size=3)
    assert again.fingerprint == vocab.fingerprint
    assert again.tokens == vocab.tokens


def test_every_id_is_in_range_and_the_artifact_says_input_dim(vocab):
    assert vocab.contract()["joiner"] == "##"
    assert vocab.contract()["max_chars_per_word"] == 100
    assert vocab.input_dim == len(vocab.tokens)
    for row in vocab.encode([*CORPUS, "zzz ☃ 𝔘"]):
        assert row.min() >= 0 and row.max() < vocab.input_dim


def test_reserved_tokens_come_first_and_are_never_learned():
    spec = VocabSpec(tokenizer="wordpiece", vocab_size=30, reserved_tokens=["[CLS]", "cat"])
    vocab = build_vocabulary(GOLDEN_CORPUS, spec, progress=False)
    assert vocab.tokens[:4] == ["[PAD]", "[UNK]", "[CLS]", "cat"]
    assert vocab.tokens.count("cat") == 1
    assert vocab.encode(["cat"])[0].tolist() == [3]


# -- encoding --


def test_unseen_words_decompose_and_undecomposable_words_are_oov(vocab):
    ids = vocab.encode(["catlike dogs", "☃"])
    assert vocab.decode(ids[0])[:2] == ["cat", "##l"]
    assert len(ids[0]) > 2 and 1 not in ids[0].tolist()
    assert ids[1].tolist() == [vocab.oov_ids.start]  # a character no word had
    too_long = build_vocabulary(GOLDEN_CORPUS, wordpiece(max_chars_per_word=3), progress=False)
    assert too_long.encode(["cats cat"])[0].tolist() == [1, too_long.token_to_id("cat")]


def test_decode_text_rejoins_pieces(vocab):
    texts = ["the catlike dogs sat, happily", "кошки лаяли"]
    assert vocab.decode_text(vocab.encode(texts)[0]) == "the catlike dogs sat , happily"
    assert vocab.decode_text(vocab.encode(texts)[1]) == "кошки лаяли"
    assert join_pieces(["##a", "b", "##c"]) == "##a bc"


@pytest.mark.parametrize("corpus", [ENGLISH, RUSSIAN, JAPANESE], ids=["latin", "cyrillic", "cjk"])
def test_numpy_and_tf_data_give_identical_ids_on_three_scripts(vocab, encoder, corpus):
    numpy_rows = [row.tolist() for row in vocab.encode(corpus)]
    tf_rows = [
        row
        for batch in tf.data.Dataset.from_tensor_slices(corpus).batch(2).map(encoder)
        for row in batch.to_list()
    ]
    assert numpy_rows == tf_rows
    assert all(1 not in row for row in numpy_rows)  # every training word decomposes


ALPHABET = WHITESPACE + "abcAB猫犬кошΣςİßÅ😀\u0301\x00,;.!-#[] "
TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(ALPHABET), st.characters(codec="utf-8")), max_size=30
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_numpy_and_tf_encoders_agree_on_arbitrary_unicode(vocab, encoder, texts):
    numpy_rows = [row.tolist() for row in vocab.encode(texts)]
    assert numpy_rows == encoder(tf.constant([t.encode("utf-8") for t in texts])).to_list()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_pre_tokenizer_is_the_same_on_both_paths(texts):
    spec = wordpiece()
    expected = vtf.tokenize(tf.constant([t.encode("utf-8") for t in texts]), spec).to_list()
    assert Tokenizer(spec).tokenize_arrow(__import__("pyarrow").array(texts)).to_pylist() == (
        expected
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    corpus=st.lists(TEXT, min_size=1, max_size=8),
    queries=st.lists(TEXT, min_size=1, max_size=4),
    max_chars=st.sampled_from([None, 2, 5]),
)
def test_learned_from_random_unicode_both_paths_agree(corpus, queries, max_chars):
    spec = VocabSpec(tokenizer="wordpiece", vocab_size=50, max_chars_per_word=max_chars)
    vocab = build_vocabulary(corpus, spec, progress=False)
    numpy_rows = [row.tolist() for row in vocab.encode(queries + corpus)]
    assert numpy_rows == vtf.encode_fn(vocab)(tf.constant(queries + corpus)).to_list()


def test_words_holding_nul_or_u0011_are_oov_on_both_paths():
    # tensorflow-text's tokenizer cannot hold a piece with a NUL byte ("zero-length
    # key"), and its builder fails on a piece "\x11" that starts another piece (the one
    # code point that does, building it with every code point), so words holding them
    # are not learned from and encode to the OOV id everywhere.
    spec = VocabSpec(tokenizer="wordpiece", vocab_size=50)
    corpus = ["\x00", "a\x00b c", "\x11\x97", "\x11", "c"]
    vocab = build_vocabulary(corpus, spec, progress=False)
    assert not any("\x00" in token or "\x11" in token for token in vocab.tokens)
    texts = ["\x00", "a\x00b c", "c \x11\x97"]
    numpy_rows = [row.tolist() for row in vocab.encode(texts)]
    c = vocab.tokens.index("c")
    assert numpy_rows == [[1], [1, c], [c, 1]]
    assert numpy_rows == vtf.encode_fn(vocab)(tf.constant(texts)).to_list()


def test_tokens_tf_text_cannot_hold_are_refused_in_the_spec():
    with pytest.raises(SpecError) as info:
        VocabSpec(tokenizer="wordpiece", vocab_size=50, reserved_tokens=["[X\x00]"])
    assert str(info.value) == (
        "`reserved_tokens` holds '[X\\x00]': with `tokenizer: wordpiece` no piece or token "
        "may hold U+0000 or U+0011, which tensorflow-text's WordPiece tokenizer (the tf.data "
        "path) cannot hold. Remove those characters. Received: reserved_tokens='[X\\x00]'"
    )
    with pytest.raises(SpecError, match="`joiner` holds '#\\\\x11'"):
        VocabSpec(tokenizer="wordpiece", vocab_size=50, joiner="#\x11")


def test_sequence_length_and_saved_model_export(tmp_path):
    vocab = build_vocabulary(GOLDEN_CORPUS, wordpiece(sequence_length=6), progress=False)
    encoder = vtf.encode_fn(vocab)
    texts = tf.constant(["the catcat sat!", "☃"])
    expected = encoder(texts).numpy()
    np.testing.assert_array_equal(expected, vocab.encode(["the catcat sat!", "☃"]))
    tf.saved_model.save(encoder, str(tmp_path / "encoder"))
    restored = tf.saved_model.load(str(tmp_path / "encoder"))
    np.testing.assert_array_equal(restored(texts).numpy(), expected)


def test_store_round_trip(store_root):
    store = vg.VocabStore(store_root)
    published = store.publish(build_vocabulary(CORPUS, wordpiece(), progress=False), "pieces")
    loaded = store.load("pieces@v1")
    assert loaded.fingerprint == published.fingerprint
    assert [r.tolist() for r in loaded.encode(CORPUS)] == [
        r.tolist() for r in published.encode(CORPUS)
    ]


def test_parent_pieces_keep_their_ids_and_new_pieces_are_appended(store_root):
    store = vg.VocabStore(store_root)
    v1 = store.publish(build_vocabulary(ENGLISH, wordpiece(), progress=False), "pieces")
    v2 = store.publish(
        build_vocabulary(ENGLISH + RUSSIAN, wordpiece(), parent=v1, progress=False), "pieces"
    )
    assert v2.tokens[: len(v1.tokens)] == v1.tokens
    new = v2.tokens[len(v1.tokens) :]
    assert "##о" in new or "о" in new
    assert v2.stats["new_tokens"] == len(new) > 0
    assert v2.parent == {
        "ref": "pieces@v1",
        "fingerprint": v1.fingerprint,
        "input_dim": v1.input_dim,
    }
    keys = [(-c, t.encode()) for c, t in zip(v2.counts[len(v1.tokens) - 2 :], new)]
    assert keys == sorted(keys)  # appended in the id rule's order
    # English text keeps its ids; Russian words, OOV under v1, now split into pieces.
    assert [r.tolist() for r in v2.encode(ENGLISH)] == [r.tolist() for r in v1.encode(ENGLISH)]
    assert 1 in v1.encode(RUSSIAN)[0].tolist() and 1 not in v2.encode(RUSSIAN)[0].tolist()
    assert (
        v2.encode(RUSSIAN)[0].tolist() == vtf.encode_fn(v2)(tf.constant(RUSSIAN[:1])).to_list()[0]
    )
    from vocabguard._src.tools.diff import diff_vocabularies

    report = diff_vocabularies(v1, v2)
    assert report.kept == len(v1.tokens) - 2 and len(report.added) == len(new)
    assert not report.moved and not report.removed
    # migrate-model's remap: every parent piece keeps its trained row.
    weights = np.arange(v1.input_dim * 2, dtype=np.float32).reshape(v1.input_dim, 2)
    moved = vg.remap_embedding(weights, v1, v2)
    assert moved.shape == (v2.input_dim, 2)
    np.testing.assert_array_equal(moved[: v1.input_dim], weights)
    with pytest.raises(LineageError, match="`--retire` is not supported with `tokenizer: "):
        build_vocabulary(CORPUS, wordpiece(), parent=v1, retire=True, progress=False)
    with pytest.raises(LineageError, match="`joiner` differs from pieces@v1's"):
        build_vocabulary(CORPUS, wordpiece(joiner="@@"), parent=v1, progress=False)


def test_lists_of_texts_are_refused_not_misencoded(vocab):
    with pytest.raises(SpecError, match="encodes one text per value"):
        vocab.encode([["the cat"]])


def test_cli_build_with_wordpiece(capsys, store_root, tmp_path):
    from vocabguard.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(t + "\n" for t in CORPUS), encoding="utf-8")
    argv = ["build", "--name", "pieces", "--input", str(corpus), "--store", str(store_root)]
    assert main([*argv, "--tokenizer", "wordpiece", "--vocab-size", "200", "--lowercase"]) == 0
    capsys.readouterr()
    vocab = vg.VocabStore(store_root).load("pieces@v1")
    assert vocab.fingerprint == build_vocabulary(CORPUS, wordpiece(), progress=False).fingerprint


def test_report_on_a_sample_counts_pieces_and_oov_words(store_root, tmp_path):
    from vocabguard._src.tools.report import sample_stats

    store = vg.VocabStore(store_root)
    vocab = store.publish(build_vocabulary(GOLDEN_CORPUS, wordpiece(), progress=False), "p")
    sample = tmp_path / "sample.txt"
    sample.write_text("the cats\n☃ cat\n", encoding="utf-8")
    stats = sample_stats(vocab, [str(sample)])
    assert stats.documents == 2
    assert stats.tokens == 4  # the, cats, [UNK] (☃), cat
    assert stats.oov == 1
