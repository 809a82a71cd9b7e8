#!/usr/bin/env python
"""Encode throughput: ``vocabguard.tf.encode_fn`` in ``tf.data`` next to Keras
``StringLookup`` fed the same tokens, and vocabguard's numpy/pyarrow paths next to
theirs.

Usage::

    python benchmarks/encode_tfdata.py                        # 100 MB Zipf, top-100k vocabulary
    python benchmarks/encode_tfdata.py --mb 20 --repeat 5
    python benchmarks/encode_tfdata.py --text data/bbc_news/articles.txt --scale 4

Rows (same lines, same vocabulary, lowercase + whitespace tokens), all in this
process, each warmed up once (tracing, table creation) and then timed ``--repeat``
times (median):

- tf.data, ``TextLineDataset`` lines, ``batch(256)``, ``map(num_parallel_calls=AUTOTUNE)``:
  ``vocabguard.tf.encode_fn(vocab)`` (tokenize + lookup) vs Keras
  ``StringLookup(vocabulary=the same tokens)`` applied to ``vocabguard.tf.tokenize(x)``
  (the same tokens), and to ``tf.strings.split(tf.strings.lower(x))`` (Keras' usual
  tokenization: the same tokens on this ASCII, space-separated corpus);
- numpy/pyarrow: ``Vocabulary.encode`` (tokenize + lookup) vs a plain ``dict.get``
  over ``str.lower().split()``; the lookup alone, ``Vocabulary.lookup`` over pre-split
  Arrow tokens vs bare ``pyarrow.compute.index_in``.

Targets (printed met / missed; nothing asserts on time): tf.data encode at least 1.2x
Keras ``StringLookup`` fed the same tokens (issue 12, point 5); ``Vocabulary.lookup``
at least 0.8x bare ``index_in``.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import corpus, machine, report
from harness.compare import TOP_K
from harness.process import cpu_s, machine_busy_s, timed

STRINGLOOKUP_SAME = "Keras StringLookup(vocabguard.tf.tokenize(x))"
ENCODE_FN = "vocabguard.tf.encode_fn(vocab)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100.0, help="Zipf corpus size in MB")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--text", type=Path, help="a text file instead (one document a line)")
    parser.add_argument("--scale", type=int, default=1, help="with --text: repeat it N times")
    parser.add_argument("--top-k", type=int, default=TOP_K, help="vocabulary size (learned)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args(argv)
    if args.text is not None:
        if not args.text.is_file():
            print(f"{args.text} is missing (python scripts/fetch_data.py)", file=sys.stderr)
            return 1
        files = [str(args.text)] * args.scale
        described = f"{args.text} x{args.scale}"
    else:
        c = corpus.prepare("zipf", args.mb, args.files)
        files = sorted(glob.glob(c.pattern))
        described = c.summary()

    import keras
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import tensorflow as tf

    import vocabguard as vg
    from vocabguard import tf as vtf
    from vocabguard._src.core.tokenizer import Tokenizer

    lines = [line for path in files for line in Path(path).read_text("utf-8").splitlines()]
    spec = vg.VocabSpec(lowercase=True, max_tokens=args.top_k)
    vocab = vg.build_vocabulary(lines, spec, progress=False)
    tokens = Tokenizer(spec).tokenize_arrow(pa.array(lines)).flatten()
    n_tokens = len(tokens)
    megabytes = sum(len(line.encode()) + 1 for line in lines) / 1e6

    encoder = vtf.encode_fn(vocab)
    layer = keras.layers.StringLookup(
        vocabulary=[str(t) for t in vocab.tokens[1 + vocab.num_oov_buckets :]],
        mask_token=vocab.pad_token,
        oov_token=vocab.oov_token,
        num_oov_indices=vocab.num_oov_buckets,
    )
    dataset = tf.data.TextLineDataset(files).batch(256)

    def run_tf(fn):
        def run():
            for _ in dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2):
                pass

        return run

    def keras_split(x):
        return layer(tf.strings.split(tf.strings.lower(x, encoding="utf-8")))

    mapping = {t: i for i, t in enumerate(vocab.tokens) if i > vocab.num_oov_buckets}
    mapping[vocab.pad_token] = 0

    def dict_encode():
        return [
            np.array([mapping.get(t, 1) for t in line.lower().split()], dtype=np.int32)
            for line in lines
        ]

    value_set = pa.array([vocab.pad_token.encode(), *vocab.token_bytes], type=pa.binary())
    # The same ids from both tf.data rows (untimed check, first 2 batches).
    sample = dataset.take(2)
    same_ids = all(
        np.array_equal(
            encoder(x).to_tensor().numpy().astype(np.int64),
            layer(vtf.tokenize(x, spec)).to_tensor().numpy().astype(np.int64),
        )
        for x in sample
    )
    rows = [
        ("tf.data", ENCODE_FN, run_tf(encoder)),
        ("tf.data", STRINGLOOKUP_SAME, run_tf(lambda x: layer(vtf.tokenize(x, spec)))),
        (
            "tf.data",
            "Keras StringLookup(tf.strings.split(tf.strings.lower(x)))",
            run_tf(keras_split),
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
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    results = []
    for tool, what, func in rows:
        print(f"  running {what} ...", file=sys.stderr, flush=True)
        func()  # warm-up: tracing, table creation, caches
        busy, own = machine_busy_s(), cpu_s()
        seconds, _ = timed(func, args.repeat)
        r = {"tool": tool, "what": what, "seconds": seconds, "median_s": statistics.median(seconds)}
        if busy is not None:
            # CPU the machine used beyond this process' own while the row ran, in cores.
            other = machine_busy_s() - busy - (cpu_s() - own)
            r["other_cpu_cores"] = round(max(0.0, other) / sum(seconds), 2)
        results.append(r)

    print(
        f"\ncorpus: {described}: {megabytes:.1f} MB, {n_tokens:,} tokens; top-{args.top_k:,} "
        f"vocabulary, input_dim {vocab.input_dim}; median of {args.repeat} after a warm-up\n"
    )
    table = [
        [
            r["tool"],
            r["what"],
            f"{r['median_s']:.3f}",
            f"{n_tokens / r['median_s'] / 1e6:.2f} M",
            report.contention(r),
        ]
        for r in results
    ]
    print(report.markdown(["path", "what", "seconds", "tokens/s", "other CPU (cores)"], table))
    seconds = {r["what"]: r["median_s"] for r in results}
    tf_ratio = seconds[STRINGLOOKUP_SAME] / seconds[ENCODE_FN]
    np_ratio = (
        seconds["bare pc.index_in(pre-split tokens)"]
        / seconds["Vocabulary.lookup(pre-split tokens)"]
    )
    dict_ratio = seconds["dict.get over line.lower().split()"] / seconds["Vocabulary.encode(lines)"]
    print(
        f"\ncheck: {'OK' if same_ids else 'MISMATCH'}: encode_fn and StringLookup(tokenize) give "
        "the same ids on the first 2 batches"
    )
    goals = [
        f"tf.data encode_fn >= 1.2x Keras StringLookup fed the same tokens: {tf_ratio:.2f}x "
        f"({seconds[ENCODE_FN]:.2f} s vs {seconds[STRINGLOOKUP_SAME]:.2f} s) -> "
        f"{report.verdict(tf_ratio >= 1.2)}",
        f"Vocabulary.lookup >= 0.8x bare pc.index_in: {np_ratio:.2f}x -> "
        f"{report.verdict(np_ratio >= 0.8)}",
        f"Vocabulary.encode (tokenize + lookup) vs plain dict: {dict_ratio:.2f}x",
    ]
    for goal in goals:
        print(f"target: {goal}")
    facts = {**machine.machine_facts(), "load_average_at_start": load_at_start}
    print(machine.describe(facts))
    if args.json:
        report.write_json(
            args.json,
            {
                "argv": sys.argv,
                "corpus": described,
                "tokens": n_tokens,
                "mb": megabytes,
                "rows": results,
                "same_ids": same_ids,
                "targets": goals,
                "machine": facts,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
