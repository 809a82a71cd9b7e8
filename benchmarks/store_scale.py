"""Publish, load, ``inspect --token/--id`` and ``list`` of one large vocabulary, beside
writing and reading the same token and count columns with plain ``pyarrow.parquet``.

    python benchmarks/store_scale.py --tokens 10000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from lookup_index import hex_tokens

# The console script beside this interpreter (the package has no __main__).
CLI = os.path.join(os.path.dirname(sys.executable), "vocabguard")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10_000_000)
    args = parser.parse_args()
    from vocabguard import VocabSpec, VocabStore
    from vocabguard._src.core.vocabulary import STRING, Vocabulary

    rng = np.random.default_rng(0)
    tokens = hex_tokens(rng.permutation(np.arange(args.tokens, dtype=np.uint32) * 7))
    counts = np.arange(args.tokens, 0, -1, dtype=np.int64)
    vocab = Vocabulary(VocabSpec(tokenizer="none"), STRING, tokens, counts)
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        pq.write_table(
            pa.table({"token": tokens, "count": counts}),
            f"{root}/plain.parquet",
            compression="zstd",
        )
        print(f"plain pyarrow.parquet write: {time.perf_counter() - start:.2f} s", flush=True)
        start = time.perf_counter()
        pq.read_table(f"{root}/plain.parquet")
        print(f"plain pyarrow.parquet read:  {time.perf_counter() - start:.2f} s", flush=True)
        store = VocabStore(f"{root}/store")
        start = time.perf_counter()
        store.publish(vocab, "big")
        print(f"publish: {time.perf_counter() - start:.2f} s", flush=True)
        start = time.perf_counter()
        store.load("big")
        print(f"load (sha256, fingerprint, vocab.txt checked): {time.perf_counter() - start:.2f} s")
        token = tokens[args.tokens // 2].as_py().decode()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        for extra in (["--no-verify"], []):
            for query in (["--token", token], ["--id", str(args.tokens // 3)]):
                argv = ["inspect", "big", *query, *extra, "--store", f"{root}/store"]
                start = time.perf_counter()
                done = subprocess.run(
                    [CLI, *argv],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                seconds = time.perf_counter() - start
                assert done.returncode == 0, done.stderr
                print(f"vocabguard {' '.join(argv[2:-2])}: {seconds:.2f} s (process)", flush=True)
        start = time.perf_counter()
        subprocess.run(
            [CLI, "list", "--store", f"{root}/store"],
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"vocabguard list: {time.perf_counter() - start:.2f} s (process)", flush=True)


if __name__ == "__main__":
    main()
