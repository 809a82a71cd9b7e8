"""In-process cost of categorical records: lists, nulls, weights, two fields.

Synthetic records (seeded): ``hist``, a list of 0-10 items drawn from 50,000,
and ``tgt``, one item or null (10 %), with a weight ``w``. Times (median of
``--repeats`` runs, ``time.perf_counter``, after a warm-up):

- ``build_vocabulary(records, fields=["hist", "tgt"])``, unweighted and weighted;
- ``Vocabulary.encode`` of the ``hist`` lists, of ``tgt`` (nulls included), and of
  ``tgt`` with the nulls filled (the plain path, for comparison).

    .venv/bin/python benchmarks/categorical.py [--records 200000] [--repeats 3]

A benchmark, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time


def timed(repeats: int, func) -> float:
    func()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import vocabguard as vg

    rng = random.Random(0)
    items = [f"item{i}" for i in range(50_000)]
    records = [
        {
            "hist": [rng.choice(items) for _ in range(rng.randint(0, 10))],
            "tgt": rng.choice(items) if rng.random() > 0.1 else None,
            "w": rng.random() * 3,
        }
        for _ in range(args.records)
    ]
    values = sum(len(r["hist"]) + 1 for r in records)
    spec = vg.VocabSpec(tokenizer="none", missing="token", pad_to_multiple_of=8)
    fields = ["hist", "tgt"]
    print(f"{args.records:,} records, {values:,} values (median of {args.repeats})")
    for weight in (None, "w"):
        seconds = timed(
            args.repeats,
            lambda weight=weight: vg.build_vocabulary(
                records, spec, fields=fields, weight_field=weight, progress=False
            ),
        )
        label = "weighted" if weight else "unweighted"
        print(f"build {label:10}  {seconds:6.2f} s  {values / seconds / 1e6:5.2f} M values/s")
    vocab = vg.build_vocabulary(records, spec, fields=fields, progress=False)
    hist = [r["hist"] for r in records]
    tgt = [r["tgt"] for r in records]
    filled = [t or "item1" for t in tgt]
    ids = sum(map(len, hist))
    for label, column, n in (
        ("encode lists", hist, ids),
        ("encode nulls", tgt, len(tgt)),
        ("encode plain", filled, len(filled)),
    ):
        seconds = timed(args.repeats, lambda column=column: vocab.encode(column))
        print(f"{label:16}  {seconds:6.2f} s  {n / seconds / 1e6:5.2f} M ids/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
