"""Encode throughput: vocabguard's tf.data and numpy/pyarrow paths next to their peers.

    python benchmarks/encode.py [--corpus data/bbc_news/articles.txt] [--scale 4] [--repeat 3]

Rows (same corpus, same vocabulary, lowercase + whitespace tokens):

- tf.data: ``vocabguard.tf.encode_fn`` (tokenize + lookup) vs Keras ``StringLookup``
  over the same tokenization (``vocabguard.tf.tokenize``), in the same pipeline
  (``batch(256)``, ``map(num_parallel_calls=AUTOTUNE)``);
- numpy/pyarrow: ``Vocabulary.encode`` (tokenize + lookup) vs a plain dict lookup
  over ``str.lower().split()``; and the lookup alone, ``Vocabulary.lookup`` over
  pre-split Arrow tokens vs bare ``pyarrow.compute.index_in``.

Prints a markdown table (median of --repeat runs) and the issue's targets. Nothing
asserts on timings. Needs ``python scripts/fetch_data.py --corpus bbc`` first.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _median_seconds(func, repeat: int) -> float:
    func()  # warm-up: tracing, table creation, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="data/bbc_news/articles.txt")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not os.path.exists(args.corpus):
        print(
            f"{args.corpus} is missing: run `python scripts/fetch_data.py --corpus bbc` first.",
            file=sys.stderr,
        )
        return 1

    import keras
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import tensorflow as tf

    import vocabguard as vg
    from vocabguard import tf as vtf

    with open(args.corpus, encoding="utf-8") as handle:
        lines = handle.read().splitlines() * args.scale
    spec = vg.VocabSpec(lowercase=True)
    vocab = vg.build_vocabulary(lines, spec, progress=False)
    tokens = vg.tokenizer.Tokenizer(spec).tokenize_arrow(pa.array(lines)).flatten()
    n_tokens = len(tokens)
    megabytes = sum(len(line.encode()) for line in lines) / 1e6

    encoder = vtf.encode_fn(vocab)
    layer = keras.layers.StringLookup(
        vocabulary=[str(t) for t in vocab.tokens[1 + vocab.num_oov_buckets :]],
        mask_token=vocab.pad_token,
        oov_token=vocab.oov_token,
        num_oov_indices=vocab.num_oov_buckets,
    )
    dataset = tf.data.Dataset.from_tensor_slices(lines).batch(256)

    def run_tf(fn):
        for _ in dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2):
            pass

    mapping = {t: i for i, t in enumerate(vocab.tokens) if i > vocab.num_oov_buckets}
    mapping[vocab.pad_token] = 0

    def dict_encode():
        return [
            np.array([mapping.get(t, 1) for t in line.lower().split()], dtype=np.int32)
            for line in lines
        ]

    value_set = pa.array([vocab.pad_token.encode(), *vocab.token_bytes], type=pa.binary())

    rows = [
        ("tf.data", "vocabguard.tf.encode_fn", lambda: run_tf(encoder)),
        (
            "tf.data",
            "Keras StringLookup(vocabguard.tf.tokenize(x))",
            lambda: run_tf(lambda x: layer(vtf.tokenize(x, spec))),
        ),
        ("numpy", "Vocabulary.encode(lines)", lambda: vocab.encode(lines)),
        ("python", "dict.get over line.lower().split()", dict_encode),
        ("pyarrow", "Vocabulary.lookup(pre-split tokens)", lambda: vocab.lookup(tokens)),
        (
            "pyarrow",
            "bare pc.index_in(pre-split tokens)",
            lambda: pc.index_in(tokens, value_set=value_set),
        ),
    ]
    results = []
    for tool, what, func in rows:
        print(f"  running {what} ...", file=sys.stderr)
        results.append((tool, what, _median_seconds(func, args.repeat)))

    print(
        f"\ncorpus: {args.corpus} x{args.scale}: {megabytes:.1f} MB, {n_tokens:,} tokens; "
        f"input_dim {vocab.input_dim}; median of {args.repeat}\n"
    )
    print("| path | what | seconds | tokens/s |")
    print("|---|---|---|---|")
    for tool, what, seconds in results:
        print(f"| {tool} | {what} | {seconds:.3f} | {n_tokens / seconds / 1e6:.2f} M |")
    seconds = {what: s for _, what, s in results}
    tf_ratio = (
        seconds["Keras StringLookup(vocabguard.tf.tokenize(x))"]
        / seconds["vocabguard.tf.encode_fn"]
    )
    np_ratio = (
        seconds["bare pc.index_in(pre-split tokens)"]
        / seconds["Vocabulary.lookup(pre-split tokens)"]
    )
    dict_ratio = seconds["dict.get over line.lower().split()"] / seconds["Vocabulary.encode(lines)"]
    print(
        f"\ntarget tf.data encode >= 1.2x Keras StringLookup: {tf_ratio:.2f}x "
        f"({'met' if tf_ratio >= 1.2 else 'missed'})"
    )
    print(
        f"target numpy/pyarrow lookup >= 0.8x bare pc.index_in: {np_ratio:.2f}x "
        f"({'met' if np_ratio >= 0.8 else 'missed'})"
    )
    print(f"numpy encode (tokenize + lookup) vs plain dict: {dict_ratio:.2f}x")
    print(
        f"\nmachine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}, pyarrow {pa.__version__}, vocabguard {vg.__version__}; "
        f"{datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
