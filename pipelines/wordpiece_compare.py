"""Held-out accuracy and OOV rates of two trained models: word-level vs WordPiece.

    python pipelines/wordpiece_compare.py --store vocab_store \
        --words out/bbc_news_model --pieces out/bbc_news_wordpiece_model \
        --test data/bbc_news/test.jsonl --field text --output out/wordpiece_compare.json

Reads each training run's ``metrics.json`` (held-out accuracy, the vocabulary it used),
loads both vocabularies from the store, and encodes the held-out texts with each (the
numpy path, full length: no ``sequence_length`` truncation) to measure:

- ``oov_id_rate``: the share of the ids that are OOV ids;
- ``oov_word_rate``: the share of held-out words (WordPiece's pre-tokenizer's words)
  that get an OOV id (word-level: the word is unknown; WordPiece: it cannot be split);
- ``ids_per_document``: the mean encoded length (WordPiece rows are longer).

Prints a table and writes the figures as JSON to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelines/wordpiece_compare.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--store", default="vocab_store")
    parser.add_argument("--words", required=True, help="the word-level training output dir")
    parser.add_argument("--pieces", required=True, help="the WordPiece training output dir")
    parser.add_argument("--test", required=True, help="held-out JSONL file")
    parser.add_argument("--field", default="text")
    parser.add_argument("--output", required=True, help="where to write the figures (JSON)")
    return parser


def _unpadded(vocab):
    """The vocabulary with sequence_length unset (same tokens, same ids)."""
    import vocabguard as vg

    spec = vocab.spec.replace(sequence_length=None)
    return vg.Vocabulary(spec, vocab.token_type, vocab.token_bytes, vocab.counts)


def measure(vocab, texts: Sequence[str]) -> dict:
    import numpy as np

    from vocabguard import Tokenizer, VocabSpec

    full = _unpadded(vocab)
    rows = full.encode(list(texts))
    ids = np.concatenate(rows)
    oov = (ids >= full.oov_ids.start) & (ids < full.oov_ids.stop)
    # Words as WordPiece's pre-tokenizer splits them, with each vocabulary's normalization.
    words_spec = VocabSpec(
        tokenizer="wordpiece",
        vocab_size=1,
        lowercase=vocab.spec.lowercase,
        normalization=vocab.spec.normalization,
    )
    words = Tokenizer(words_spec).tokenize_arrow(__import__("pyarrow").array(list(texts))).flatten()
    if vocab.spec.tokenizer == "wordpiece":
        word_ids = full.encode([w.decode("utf-8") for w in words.to_pylist()])
        unknown = sum(1 for row in word_ids if len(row) == 1 and row[0] == full.oov_ids.start)
    else:
        # Word-level: a held-out word is OOV when its own tokens include an OOV id.
        word_rows = full.encode([w.decode("utf-8") for w in words.to_pylist()])
        unknown = sum(
            1 for row in word_rows if any(full.oov_ids.start <= i < full.oov_ids.stop for i in row)
        )
    return {
        "ref": vocab.ref,
        "input_dim": vocab.input_dim,
        "oov_id_rate": float(oov.mean()) if ids.size else 0.0,
        "oov_word_rate": unknown / len(words) if len(words) else 0.0,
        "ids_per_document": float(ids.size / len(rows)) if rows else 0.0,
        "documents": len(rows),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import vocabguard as vg

    with open(args.test, encoding="utf-8") as handle:
        texts = [json.loads(line)[args.field] for line in handle if line.strip()]
    store = vg.VocabStore(args.store)
    results = {}
    for label, directory in (("words", args.words), ("wordpiece", args.pieces)):
        with open(os.path.join(directory, "metrics.json"), encoding="utf-8") as handle:
            metrics = json.load(handle)
        vocab = store.load(metrics["vocabulary"]["ref"])
        results[label] = {
            "accuracy": metrics["accuracy"],
            "wall_seconds": metrics["wall_seconds"],
            "sequence_length": vocab.spec.sequence_length,
            **measure(vocab, texts),
        }
    print(
        f"{'':10} {'ref':32} {'input_dim':>9} {'accuracy':>8} {'OOV ids':>8} "
        f"{'OOV words':>9} {'ids/doc':>8}"
    )
    for label, r in results.items():
        print(
            f"{label:10} {r['ref']:32} {r['input_dim']:>9} {r['accuracy']:>8.4f} "
            f"{r['oov_id_rate']:>8.4f} {r['oov_word_rate']:>9.4f} {r['ids_per_document']:>8.1f}"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
