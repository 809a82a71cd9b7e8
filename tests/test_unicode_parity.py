"""numpy/pyarrow and tf.data give the same tokens for every code point (issue 11).

Python's ``unicodedata``/``str.lower`` and TensorFlow's ICU ship different Unicode
versions; vocabguard transforms only the code points both map alike
(``unicode_table``) and keeps the others, on both paths. Checked exhaustively: every
code point (surrogates aside), alone and between other text, in one batch per spec.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import tensorflow as tf

from vocabguard import VocabSpec, build_vocabulary
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard._src.core.unicode_table import KEPT_RANGES
from vocabguard._src.engines.tf import encode_fn, tokenize

POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


# Each code point alone, and between cased letters, a final-sigma context and a
# combining mark (where its case-ignorable and combining properties matter).
CONTEXTS = ["{}", "A\u03a3{}e\u0301\u03a3"]

SPECS = {
    "lower": VocabSpec(tokenizer="none", lowercase=True),
    "NFC": VocabSpec(tokenizer="none", normalization="NFC"),
    "NFKC": VocabSpec(tokenizer="none", normalization="NFKC", lowercase=True),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_every_code_point_gives_the_same_token_on_both_paths(name):
    spec = SPECS[name]
    texts = [context.format(chr(c)) for context in CONTEXTS for c in POINTS]
    ours = Tokenizer(spec).tokenize_arrow(pa.array(texts, type=pa.string())).flatten()
    theirs = tokenize(tf.constant([t.encode("utf-8") for t in texts]), spec)
    theirs = pa.array(theirs.flat_values.numpy().tolist(), type=pa.binary())
    assert len(ours) == len(theirs) == len(texts)
    differ = pc.indices_nonzero(pc.invert(pc.equal(ours, theirs))).to_pylist()
    shown = [(hex(POINTS[i % len(POINTS)]), texts[i]) for i in differ[:20]]
    assert differ == [], f"{len(differ)} texts differ: {shown}"


def test_the_issue_example_encodes_alike():
    vocab = build_vocabulary(["Ⱟ Ⱟ"], VocabSpec(lowercase=True), progress=False)
    ours = vocab.encode(["Ⱟ", "ⱟ"])
    theirs = encode_fn(vocab)(tf.constant(["Ⱟ", "ⱟ"])).to_list()
    assert [list(row) for row in ours] == theirs


def test_kept_code_points_are_unchanged_and_few_among_assigned_ones():
    kept = {c for first, last in KEPT_RANGES for c in range(first, last + 1)}
    assert 0x2C2F in kept and 0x1CCD6 in kept  # the issue's examples
    assert 0x41 not in kept and 0x3A3 not in kept
    texts = ["\u2c2f\U0001ccd6"]
    for spec in SPECS.values():
        ours = Tokenizer(spec).tokenize_arrow(pa.array(texts)).to_pylist()
        theirs = tokenize(tf.constant([t.encode("utf-8") for t in texts]), spec).to_list()
        assert ours == theirs == [[texts[0].encode("utf-8")]]
    assert np.all(np.diff([first for first, _ in KEPT_RANGES]) > 0)
