#!/usr/bin/env python
"""vocabguard's Beam build with 1 and 2 workers: DirectRunner (1 worker; 2 workers in
multi_processing mode) and DaskRunner on a ``dask.distributed`` cluster of a scheduler
and 2 single-threaded worker processes on 127.0.0.1, on the same text in one file and
in 8 files.

Usage::

    python benchmarks/build_workers.py                        # 100 MB Zipf, 1 file and 8 files
    python benchmarks/build_workers.py --files 8 --repeat 1 --only vg-beam-1 vg-beam-2
    python benchmarks/build_workers.py --profile              # cProfile vg-beam-1 in-process
    python benchmarks/build_workers.py --stages               # time prefixes of the pipeline

Target (issue 12, point 5): 2 workers at least 1.3x faster than 1 on the 2-core
machine; Dask with 2 workers is reported beside DirectRunner with 1 (no target).
Each row also reports its CPU seconds (its process, its workers and, for Dask, the
cluster): the ratio of CPU to wall time says how much of the 2 cores a row used.
"""

from __future__ import annotations

from harness.compare import script
from harness.profiling import profile_task, stages
from harness.report import verdict

ROWS = ["vg-beam-1", "vg-beam-2", "vg-dask-2"]


def targets(results, corpora) -> list[str]:
    lines = []
    for files, by_row in results.items():
        one = by_row.get("vg-beam-1", {})
        where = f"{corpora[files].mb:.0f} MB in {files} file(s)"
        for name, label in (("vg-beam-2", "DirectRunner"), ("vg-dask-2", "DaskRunner")):
            two = by_row.get(name, {})
            if "median_s" not in one or "median_s" not in two:
                continue
            ratio = one["median_s"] / two["median_s"]
            cpu = ", ".join(
                f"{n} {r['own_cpu_s']:.1f} CPU s in {r['process_wall_s']:.1f} s, all processes"
                for n, r in ((n, by_row[n]) for n in ("vg-beam-1", name))
                if "own_cpu_s" in r
            )
            text = (
                f"{label} 2 workers vs DirectRunner 1 worker ({where}): {ratio:.2f}x faster "
                f"({one['median_s']:.2f} s -> {two['median_s']:.2f} s; {cpu})"
            )
            if name == "vg-beam-2":
                text = "2 workers >= 1.3x faster than 1: " + text + f" -> {verdict(ratio >= 1.3)}"
            lines.append(text)
    return lines


def add_arguments(parser) -> None:
    parser.add_argument("--profile", action="store_true", help="cProfile vg-beam-1, no table")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--stages", action="store_true", help="time prefixes of the Beam build")


def special(args, corpora):
    pattern = corpora[max(corpora)].pattern
    if args.profile:
        profile_task("vg-beam-1", pattern, args.top_k, args.top)
        return 0
    if args.stages:
        stages(pattern, args.top_k)
        return 0
    return None


if __name__ == "__main__":
    script(
        __doc__,
        rows=ROWS,
        files=[1, 8],
        reference="vg-beam-1",
        targets=targets,
        add_arguments=add_arguments,
        special=special,
    )
