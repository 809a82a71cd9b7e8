"""Writes tests/data/legacy_store: versions published by an earlier vocabguard release.

Run once, with the OLD code first on the path (the store was written by main at
e2bfaaf, before tokens became Arrow columns end to end), never by the test suite:

    PYTHONPATH=/path/to/old/checkout python tests/data/make_legacy_store.py OUT_DIR

It also writes ``OUT_DIR/expected.json``: each version's fingerprint, input_dim, and the
ids the old code gave a fixed probe batch, which test_legacy_store.py checks the current
code reproduces.
"""

from __future__ import annotations

import json
import sys

from vocabguard import VocabSpec, VocabStore, build_vocabulary

TEXTS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "Ünïcode wörds, and\tpunctuation!",
    "the the the end",
]
PROBES = {
    "text": ["the", "cat", "zebra", "sat", "", "[PAD]", "wörds", "qqq"],
    "ints": [7, 3, -1, 99, 0, 12],
    "bigrams": ["the cat", "cat", "sat on", "nope nope"],
    "pieces": ["the cats", "sattle", "dogged", "xyz"],
    "country": ["fr", None, "de", "zz", "us"],
    "grown": ["the", "cat", "new", "zebra", "words"],
    "docs": ["the", "cat", "dog", "mat", "zebra"],
}


def main(out: str) -> None:
    store = VocabStore(out)
    published = {}
    published["text"] = store.publish(
        build_vocabulary(TEXTS, VocabSpec(num_oov_buckets=3), progress=False), "text"
    )
    ints = [7, 7, 7, 3, 3, 12, -5, 12, 40, 7]
    published["ints"] = store.publish(
        build_vocabulary(ints, VocabSpec(tokenizer="none", num_oov_buckets=2), progress=False),
        "ints",
    )
    published["bigrams"] = store.publish(
        build_vocabulary(TEXTS, VocabSpec(ngrams=(1, 2)), progress=False), "bigrams"
    )
    published["pieces"] = store.publish(
        build_vocabulary(
            TEXTS * 3, VocabSpec(tokenizer="wordpiece", vocab_size=60), progress=False
        ),
        "pieces",
    )
    countries = ["fr", "de", None, "fr", "us", "", "fr", "de", None]
    published["country"] = store.publish(
        build_vocabulary(
            countries,
            VocabSpec(tokenizer="none", missing="token", reserved_tokens=("[CLS]",)),
            progress=False,
        ),
        "country",
    )
    published["docs"] = store.publish(
        build_vocabulary(TEXTS, VocabSpec(min_document_count=2), progress=False), "docs"
    )
    parent = store.publish(
        build_vocabulary(TEXTS[:3], VocabSpec(capacity=64), progress=False), "grown"
    )
    published["grown"] = store.publish(
        build_vocabulary(
            ["new words for the new version", "zebra zebra zebra"],
            VocabSpec(min_count=2),
            parent=parent,
            retire=True,
            progress=False,
        ),
        "grown",
    )
    expected = {}
    for name, vocab in published.items():
        probe = PROBES[name]
        if name == "pieces":
            ids = [row.tolist() for row in vocab.encode(probe)]
        else:
            ids = vocab.lookup(probe).tolist()
        expected[vocab.ref] = {
            "fingerprint": vocab.fingerprint,
            "input_dim": vocab.input_dim,
            "tokens": [t if isinstance(t, (str, int)) else repr(t) for t in vocab.tokens],
            "probe": probe,
            "ids": ids,
        }
    with open(f"{out}/expected.json", "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
