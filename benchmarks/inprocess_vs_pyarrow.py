#!/usr/bin/env python
"""vocabguard's in-process build next to bare pyarrow (read + lower + split +
``value_counts``, counts only) on the same files.

Usage::

    python benchmarks/inprocess_vs_pyarrow.py                  # 100 MB Zipf in 8 files
    python benchmarks/inprocess_vs_pyarrow.py --files 1 8 --repeat 5
    python benchmarks/inprocess_vs_pyarrow.py --profile        # cProfile the in-process build

Target (issue 12, point 5): the in-process build within 1.2x of bare pyarrow's time.
"""

from __future__ import annotations

from harness.compare import script
from harness.profiling import profile_task
from harness.report import verdict

ROWS = ["vg-inproc", "pyarrow"]


def targets(results, corpora) -> list[str]:
    lines = []
    for files, by_row in results.items():
        inproc, bare = by_row.get("vg-inproc", {}), by_row.get("pyarrow", {})
        if "median_s" not in inproc or "median_s" not in bare:
            continue
        ratio = inproc["median_s"] / bare["median_s"]
        cpu = ""
        if inproc.get("cpu_per_run_s") and bare.get("cpu_per_run_s"):
            cpu = (
                f"; CPU per run {inproc['cpu_per_run_s']:.1f} s vs {bare['cpu_per_run_s']:.1f} s: "
                f"{inproc['cpu_per_run_s'] / bare['cpu_per_run_s']:.2f}x"
            )
        lines.append(
            f"in-process build <= 1.2x bare pyarrow ({corpora[files].mb:.0f} MB in {files} "
            f"file(s)): {ratio:.2f}x ({inproc['median_s']:.2f} s vs {bare['median_s']:.2f} s"
            f"{cpu}) -> {verdict(ratio <= 1.2)}"
        )
    return lines


def add_arguments(parser) -> None:
    parser.add_argument("--profile", action="store_true", help="cProfile vg-inproc, no table")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")


def special(args, corpora):
    if args.profile:
        profile_task("vg-inproc", next(iter(corpora.values())).pattern, args.top_k, args.top)
        return 0
    return None


if __name__ == "__main__":
    script(
        __doc__,
        rows=ROWS,
        files=[8],
        reference="pyarrow",
        targets=targets,
        add_arguments=add_arguments,
        special=special,
    )
