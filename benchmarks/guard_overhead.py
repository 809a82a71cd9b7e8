"""What the id guard costs on a batch of 1M ids (all in range: the common case).

Times (median of ``--repeats`` runs, ``time.perf_counter``, after a warm-up):

- ``vocabguard.guard_ids`` (numpy) and ``vocabguard.tf.guard_ids`` eager and
  inside ``tf.function`` (against ``tf.identity`` in the same function);
- a Keras model ``Embedding -> mean`` over the same ids with ``predict_on_batch``:
  plain ``keras.layers.Embedding``, ``VocabEmbedding(guard="raise")`` and
  ``guard="count"``, compiled with ``jit_compile=True``, on the TensorFlow and
  JAX backends (each in a subprocess: Keras fixes its backend at import). On
  TF, ``guard="raise"`` makes Keras run without XLA, so its row also shows a
  plain Embedding without XLA.

    .venv/bin/python benchmarks/guard_overhead.py [--repeats 7] [--json]

A benchmark, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

NUM_IDS = 1_000_000
SHAPE = (1000, 1000)
INPUT_DIM = 50_000
OUTPUT_DIM = 16


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: tracing, compilation, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e3, 2)


def ids():
    import numpy as np

    return np.random.default_rng(0).integers(0, INPUT_DIM, size=SHAPE, dtype=np.int64)


def bench_guards(repeats: int) -> dict:
    import tensorflow as tf

    from vocabguard import tf as vtf
    from vocabguard._src.core.guard import guard_ids

    array = ids()
    tensor = tf.constant(array)
    guarded = tf.function(lambda t: vtf.guard_ids(t, INPUT_DIM))
    identity = tf.function(tf.identity)
    return {
        "numpy guard_ids": median_ms(lambda: guard_ids(array, INPUT_DIM), repeats),
        "tf.guard_ids eager": median_ms(lambda: vtf.guard_ids(tensor, INPUT_DIM), repeats),
        "tf.guard_ids in tf.function": median_ms(lambda: guarded(tensor).numpy(), repeats),
        "tf.identity in tf.function (baseline)": median_ms(
            lambda: identity(tensor).numpy(), repeats
        ),
    }


def bench_keras(repeats: int) -> dict:
    warnings.simplefilter("ignore")
    import keras
    import numpy as np

    from vocabguard import keras as vk

    array = ids().astype(np.int32)

    def timed(layer, jit_compile: bool) -> float:
        inputs = keras.Input(shape=(SHAPE[1],), dtype="int32")
        outputs = keras.ops.mean(layer(inputs), axis=(1, 2))
        model = keras.Model(inputs, outputs)
        model.compile(jit_compile=jit_compile)
        return median_ms(lambda: np.asarray(model.predict_on_batch(array)), repeats)

    def vocab_embedding(guard):
        return vk.VocabEmbedding(
            INPUT_DIM, OUTPUT_DIM, vocab_fingerprint="bench", guard=guard, mask_zero=False
        )

    backend = keras.backend.backend()
    results = {
        "Embedding, jit_compile=True": timed(keras.layers.Embedding(INPUT_DIM, OUTPUT_DIM), True),
        "VocabEmbedding guard='raise', jit_compile=True": timed(vocab_embedding("raise"), True),
        "VocabEmbedding guard='count', jit_compile=True": timed(vocab_embedding("count"), True),
    }
    if backend == "tensorflow":
        results["Embedding, jit_compile=False"] = timed(
            keras.layers.Embedding(INPUT_DIM, OUTPUT_DIM), False
        )
    return {f"Keras {backend}: {key}": value for key, value in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keras", help=argparse.SUPPRESS)  # internal: one backend
    args = parser.parse_args()
    if args.keras:
        print(json.dumps(bench_keras(args.repeats)))
        return
    results = bench_guards(args.repeats)
    for backend in ("tensorflow", "jax"):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.setdefault("JAX_PLATFORMS", "cpu")
        proc = subprocess.run(
            [sys.executable, __file__, "--keras", backend, "--repeats", str(args.repeats)],
            env=env,
            capture_output=True,
            text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            raise RuntimeError(f"Keras {backend} run failed:\n{proc.stderr[-2000:]}")
        results.update(json.loads(lines[-1]))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"| {NUM_IDS:,} ids, shape {SHAPE} | median ms ({args.repeats} runs) |\n|---|---:|")
    for name, ms in results.items():
        print(f"| {name} | {ms} |")


if __name__ == "__main__":
    main()
