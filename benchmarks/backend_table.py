"""What an out-of-range id does on each backend, without and with vocabguard's guard.

For ids 127 and -1 fed to ``Embedding(input_dim=127)`` (row ``i`` holds the value
``i + 1``, so a zero row, the last row and NaN can be told apart), every case
runs in its own subprocess (Keras fixes its backend at import) and reports what
actually came out: an error (type and the start of its text) or which row the
id read. Columns: a plain ``keras.layers.Embedding``; ``VocabEmbedding`` with
the default ``guard="raise"``; and, for Keras ``predict``, ``guard="count"``
with ``IdGuardCallback`` (the guard that keeps XLA).

    .venv/bin/python benchmarks/backend_table.py          # markdown table
    .venv/bin/python benchmarks/backend_table.py --json   # raw results
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

INPUT_DIM = 127
BAD_IDS = (127, -1)
# (case, KERAS_BACKEND, row label)
CASES = [
    ("tf_eager", "tensorflow", "TF eager"),
    ("tf_function", "tensorflow", "`tf.function`"),
    ("tf_xla", "tensorflow", "`tf.function(jit_compile=True)`"),
    ("tf_keras_jit", "tensorflow", "Keras `predict`, `jit_compile=True` (TF)"),
    ("jax_eager", "jax", "JAX eager"),
    ("jax_keras_jit", "jax", "JAX jit (Keras `predict`)"),
]
MARKERS = [
    r"Id -?\d+ at position",
    r"\d+ ids outside \[0",
    r"indices\[[\d,]*\] = -?\d+ is not in",
    r"The id guard cannot run inside XLA",
]


def summarize(err: BaseException, width: int = 60) -> str:
    """Error type and the first ``width`` characters of its meaningful text."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # Keras bolds the messages it wraps
    for marker in MARKERS:
        match = re.search(marker, text)
        if match:
            text = text[match.start() :]
            break
    else:
        text = text.strip().splitlines()[0] if text.strip() else ""
    text = " ".join(text.split())
    return f"raise {type(err).__name__}: {text[:width]}…"


def classify(vector, weights) -> str:
    """Which row an embedding output equals (measured, not assumed)."""
    import numpy as np

    vector = np.asarray(vector, dtype=np.float64)
    if np.isnan(vector).any():
        return "NaN"
    if not vector.any():
        return "zero row"
    for row in range(len(weights)):
        if np.allclose(vector, weights[row]):
            return "last row (126)" if row == len(weights) - 1 else f"row {row}"
    return "other values"


def run_case(case: str) -> dict:
    """Run one case in this process (the backend is set by KERAS_BACKEND)."""
    warnings.simplefilter("ignore")
    import keras
    import numpy as np

    from vocabguard import keras as vk

    weights = np.repeat(np.arange(1, INPUT_DIM + 1, dtype="float32")[:, None], 4, axis=1)

    def layer(kind: str):
        if kind == "plain":
            emb = keras.layers.Embedding(INPUT_DIM, 4)
        else:
            emb = vk.VocabEmbedding(INPUT_DIM, 4, vocab_fingerprint="bench", guard=kind)
        emb.build((None, None))
        emb.embeddings.assign(weights)  # not set_weights: a counting guard adds variables
        return emb

    def keras_predict(emb, callbacks=()):
        inputs = keras.Input(shape=(None,), dtype="int32")
        model = keras.Model(inputs, emb(inputs))
        model.compile(jit_compile=True)
        return lambda ids: model.predict(ids, verbose=0, callbacks=list(callbacks))

    def runner(kind: str):
        emb = layer(kind)
        if case in ("tf_eager", "jax_eager"):
            return emb
        if case in ("tf_function", "tf_xla"):
            import tensorflow as tf

            return tf.function(lambda ids: emb(ids), jit_compile=case == "tf_xla")
        callbacks = [vk.IdGuardCallback()] if kind == "count" else []
        return keras_predict(emb, callbacks)

    kinds = ["plain", "raise"] + (["count"] if case.endswith("keras_jit") else [])
    result = {}
    for kind in kinds:
        for bad in BAD_IDS:
            ids = np.array([[5, bad]], dtype="int32")
            try:
                out = keras.ops.convert_to_numpy(runner(kind)(ids))
                outcome = classify(out[0, 1], weights)
            except Exception as err:  # the table reports whatever was raised
                outcome = summarize(err)
            result[f"{kind} {bad}"] = outcome
    return result


def run_all() -> dict:
    def spawn(entry):
        case, backend, _ = entry
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.setdefault("JAX_PLATFORMS", "cpu")
        proc = subprocess.run(
            [sys.executable, __file__, "--case", case], env=env, capture_output=True, text=True
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            raise RuntimeError(f"case {case} failed:\n{proc.stderr[-2000:]}")
        return case, json.loads(lines[-1])

    with ThreadPoolExecutor(3) as pool:
        return dict(pool.map(spawn, CASES))


def markdown(results: dict) -> str:
    head = (
        "| where | id 127, `Embedding(127)` | id -1 | with `VocabEmbedding` (guard='raise'), "
        "id 127 | id -1 | guard='count' + `IdGuardCallback`, id 127 |\n|---|---|---|---|---|---|"
    )
    rows = [head]
    for case, _, label in CASES:
        r = results[case]
        cells = [r["plain 127"], r["plain -1"], r["raise 127"], r["raise -1"]]
        cells.append(r.get("count 127", "—"))
        rows.append(f"| {label} | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return
    results = run_all()
    print(json.dumps(results, indent=2) if args.json else markdown(results))


if __name__ == "__main__":
    main()
