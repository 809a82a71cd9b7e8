#!/usr/bin/env python
"""vocabguard's Beam build next to TensorFlow Transform (exact and approximate), Keras,
plain Beam and bare pyarrow: one top-100k vocabulary from the same text, in one file
and in 8 files.

Usage::

    python benchmarks/build_vs_tft.py                      # 100 MB Zipf, 1 file and 8 files
    python benchmarks/build_vs_tft.py --repeat 1 --only vg-beam-1 pyarrow tft-vocab tft-approx
    python benchmarks/build_vs_tft.py --files 8 --skip-tft --json out/build_vs_tft.json

Targets (issue 12, point 5; printed met / missed, nothing asserts on time): vocabguard's
Beam build on the DirectRunner with 1 worker at least 10x TFT's ``tft.vocabulary``
throughput and at least 3x ``tft.experimental.approximate_vocabulary``, on one file and
on 8 files. Rows, corpus and method: benchmarks/README.md.
"""

from __future__ import annotations

from harness.compare import script
from harness.report import speed, verdict

ROWS = ["vg-beam-1", "vg-inproc", "pyarrow", "keras", "beam-wordcount", "tft-vocab", "tft-approx"]
GOALS = (
    ("tft-vocab", 10.0, "TFT tft.vocabulary"),
    ("tft-approx", 3.0, "TFT approximate_vocabulary"),
)


def targets(results, corpora) -> list[str]:
    lines = []
    for files, by_row in results.items():
        tokens = corpora[files].tokens
        own = speed(by_row.get("vg-beam-1"), tokens)
        for peer, need, label in GOALS:
            other = speed(by_row.get(peer), tokens)
            where = f"{corpora[files].mb:.0f} MB in {files} file(s)"
            if own is None or other is None:
                lines.append(f"Beam 1 worker >= {need:g}x {label} ({where}): not measured")
                continue
            ratio = own / other
            mine, theirs = by_row["vg-beam-1"], by_row[peer]
            cpu = ""
            if mine.get("cpu_per_run_s") and theirs.get("cpu_per_run_s"):
                cpu = (
                    f"; CPU per run {mine['cpu_per_run_s']:.1f} s vs "
                    f"{theirs['cpu_per_run_s']:.1f} s: "
                    f"{theirs['cpu_per_run_s'] / mine['cpu_per_run_s']:.2f}x"
                )
            lines.append(
                f"Beam 1 worker >= {need:g}x {label} ({where}): {ratio:.2f}x "
                f"({mine['median_s']:.2f} s vs {theirs['median_s']:.2f} s{cpu}) "
                f"-> {verdict(ratio >= need)}"
            )
    return lines


if __name__ == "__main__":
    script(__doc__, rows=ROWS, files=[1, 8], reference="tft-vocab", targets=targets)
