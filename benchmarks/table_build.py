"""Building the tf.data lookup table of a large vocabulary, beside Keras ``StringLookup``.

A vocabulary of ``--tokens`` distinct 8-hex tokens (made from columns, as a build makes
it), then: ``vocabguard.tf.encode_fn``'s table (``Lookup``: the keys cut from the Arrow
buffer by ``tf.strings.substr``), and ``keras.layers.StringLookup(vocabulary=...)`` given
the same tokens as a Python list (how a Keras user passes them). Also the numpy path's
index build and one lookup of 1,000 values.

    python benchmarks/table_build.py --tokens 10000000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10_000_000)
    args = parser.parse_args()

    import numpy as np
    import pyarrow as pa
    from lookup_index import hex_tokens

    from vocabguard import VocabSpec
    from vocabguard._src.core.vocabulary import STRING, Vocabulary

    rng = np.random.default_rng(0)
    ids = rng.permutation(np.arange(args.tokens, dtype=np.uint32) * 7)
    tokens = hex_tokens(ids)
    counts = np.arange(args.tokens, 0, -1, dtype=np.int64)
    start = time.perf_counter()
    vocab = Vocabulary(VocabSpec(tokenizer="none"), STRING, tokens, counts)
    print(
        f"{args.tokens:,} tokens; Vocabulary from columns (fingerprint): "
        f"{time.perf_counter() - start:.2f} s",
        flush=True,
    )
    probe = tokens.slice(0, 1000)
    start = time.perf_counter()
    vocab.lookup_index()
    print(f"numpy lookup index build: {time.perf_counter() - start:.2f} s", flush=True)
    start = time.perf_counter()
    vocab.lookup(probe)
    print(f"numpy lookup of 1,000 values: {time.perf_counter() - start:.4f} s", flush=True)

    import tensorflow as tf

    from vocabguard._src.engines.tf import Lookup

    start = time.perf_counter()
    table = Lookup(vocab)
    print(f"vocabguard tf.data table (Lookup): {time.perf_counter() - start:.2f} s", flush=True)
    got = table(tf.constant(probe.to_pylist())).numpy()
    assert (got == vocab.lookup(probe)).all()
    words = [t.decode() for t in tokens.to_pylist()]
    import keras

    start = time.perf_counter()
    keras.layers.StringLookup(vocabulary=words, mask_token="[PAD]", oov_token="[UNK]")
    print(f"Keras StringLookup(vocabulary=list): {time.perf_counter() - start:.2f} s", flush=True)
    del pa


if __name__ == "__main__":
    main()
