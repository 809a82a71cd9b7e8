#!/usr/bin/env python
"""vocabguard's build from 100 MB to 5 GB: in-process and Beam (DirectRunner, 1 and 2
workers) on Zipf corpora of growing size: time, tokens/s, peak RSS of every process,
and the fingerprint of every path.

Usage::

    python benchmarks/scale.py                                 # 100 MB, 1 GB, 5 GB in 8 files
    python benchmarks/scale.py --mb 100 1000 --json out/scale.json
    python benchmarks/scale.py --mb 100 --rows vg-inproc vg-beam-1
    python benchmarks/scale.py --mb 100 --lexicon-mb                 # no 20 M-lexicon corpus
    python benchmarks/scale.py --mb 100 --lexicon-mb 1000 --big-lexicon 20000000

Besides the sizes, a 1 GB corpus drawn from a 20 M-word lexicon (``--lexicon-mb``,
``--big-lexicon``): millions of distinct tokens, where the default lexicon (2 M words)
saturates. Its rows are a table of their own (no linear-time target across lexicons).

Goals (issue 12, point 5; printed met / missed, nothing asserts on time): time grows
linearly (the largest corpus within 1.1x its size ratio of the smallest: 5 GB within
55x of 100 MB), in-process peak RSS under 600 MB and every Beam process under 1 GB at
the largest size, and the same fingerprint from every path at each size. One run per
row (``--repeat``); the corpora are written once under ``.cache/bench/`` (5 GB takes
~25 min to generate on 2 cores and 5 GB of disk per copy). With ``--json``, the file is
rewritten after every row, so a long run that is stopped keeps what it measured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from harness import corpus, machine, report
from harness.checks import fingerprints
from harness.compare import TOP_K
from harness.rows import largest_process_mb, run_row

SIZES = [100.0, 1000.0, 5000.0]
BIG_LEXICON = 20_000_000
LEXICON_SIZES = [1000.0]  # corpora drawn from BIG_LEXICON words
PATHS = ["vg-inproc", "vg-beam-1", "vg-beam-2"]
LINEAR_SLACK = 1.1  # 5 GB within 55x of 100 MB: 1.1 x the size ratio
INPROC_RSS_MB = 600
BEAM_PROCESS_MB = 1000  # "under 1 GB"; MiB figures are compared against 1,000 MB = 954 MiB


def mib_to_mb(mib: float) -> float:
    return mib * 2**20 / 1e6


def targets(results: dict, corpora: dict) -> list[str]:
    lines = []
    sizes = sorted(results)
    small, large = sizes[0], sizes[-1]
    for name in PATHS:
        a, b = results[small].get(name, {}), results[large].get(name, {})
        if len(sizes) > 1 and "median_s" in a and "median_s" in b:
            size_ratio = corpora[large].mb / corpora[small].mb
            ratio = b["median_s"] / a["median_s"]
            cpu = ""
            if a.get("cpu_per_run_s") and b.get("cpu_per_run_s"):
                # CPU of the row's process (and its waited-for children): other work on
                # the machine inflates it much less than wall time.
                cpu = (
                    f"; CPU {a['cpu_per_run_s']:.1f} -> {b['cpu_per_run_s']:.1f} s, "
                    f"{b['cpu_per_run_s'] / a['cpu_per_run_s']:.1f}x"
                )
            lines.append(
                f"linear time, {name}: {corpora[large].mb:,.0f} MB took {ratio:.1f}x the time of "
                f"{corpora[small].mb:,.0f} MB ({a['median_s']:.1f} s -> {b['median_s']:.1f} s; "
                f"size ratio {size_ratio:.0f}x, goal <= {LINEAR_SLACK * size_ratio:.0f}x{cpu}) -> "
                f"{report.verdict(ratio <= LINEAR_SLACK * size_ratio)}"
            )
    at = corpora[large].mb
    inproc = results[large].get("vg-inproc", {})
    if "peak_rss_mb" in inproc:
        mb = mib_to_mb(inproc["peak_rss_mb"])
        lines.append(
            f"in-process peak RSS < {INPROC_RSS_MB} MB at {at:,.0f} MB: {mb:,.0f} MB "
            f"({inproc['peak_rss_mb']:,.0f} MiB) -> {report.verdict(mb < INPROC_RSS_MB)}"
        )
    for name in ("vg-beam-1", "vg-beam-2"):
        r = results[large].get(name, {})
        if "processes" not in r:
            continue
        mb = mib_to_mb(largest_process_mb(r))
        lines.append(
            f"every Beam process < 1 GB at {at:,.0f} MB, {name}: largest process {mb:,.0f} MB "
            f"({largest_process_mb(r):,.0f} MiB; all {r['max_processes']} together "
            f"{mib_to_mb(r['peak_rss_mb']):,.0f} MB) -> {report.verdict(mb < BEAM_PROCESS_MB)}"
        )
    for size in sizes:
        for note in fingerprints({n: r for n, r in results[size].items() if "error" not in r}):
            lines.append(f"same fingerprint from every path at {corpora[size].mb:,.0f} MB: {note}")
    return lines


def table(results: dict, corpora: dict) -> str:
    headers = ["corpus", "path", "seconds", "tokens/s", "seconds per 100 MB", "CPU s"]
    headers += ["peak RSS MiB, all processes", "largest process MiB", "other CPU (cores)"]
    headers += ["fingerprint"]
    rows = []
    for size, by_row in results.items():
        c = corpora[size]
        for name, r in by_row.items():
            where = f"{c.mb:,.0f} MB ({c.tokens / 1e6:,.0f} M tokens)"
            if "error" in r:
                rows.append([where, name, "failed: " + r["error"][:200]] + [""] * 7)
                continue
            per_100 = r["median_s"] / (c.mb / 100)
            rows.append(
                [
                    where,
                    name,
                    f"{r['median_s']:.1f}",
                    f"{report.speed(r, c.tokens) / 1e6:.2f} M",
                    f"{per_100:.1f} s",
                    report.cpu(r),
                    report.rss(r),
                    f"{largest_process_mb(r):,.0f}",
                    report.contention(r),
                    (r.get("fingerprint") or "")[:16],
                ]
            )
    return report.markdown(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, nargs="+", default=SIZES, help="corpus sizes in MB")
    parser.add_argument("--files", type=int, default=8, help="files per corpus")
    parser.add_argument("--rows", nargs="+", choices=PATHS, default=PATHS)
    parser.add_argument("--top-k", type=int, default=TOP_K)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="OUT")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--lexicon-mb",
        type=float,
        nargs="*",
        default=LEXICON_SIZES,
        help="sizes (MB) of corpora drawn from --big-lexicon words; none: skip them",
    )
    parser.add_argument("--big-lexicon", type=int, default=BIG_LEXICON)
    args = parser.parse_args(argv)
    sizes = sorted(args.mb)
    corpora = {}
    for mb in sizes:
        corpora[mb] = corpus.prepare("zipf", mb, args.files)
        print(f"corpus {mb:g} MB: {corpora[mb].summary()}", flush=True)
    lexicon_corpora = {}
    for mb in args.lexicon_mb:
        key = f"{mb:g} MB, {args.big_lexicon / 1e6:g} M-word lexicon"
        lexicon_corpora[key] = corpus.prepare("zipf", mb, args.files, args.big_lexicon)
        print(f"corpus {key}: {lexicon_corpora[key].summary()}", flush=True)
    lexicon_results: dict = {}
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    work_root = tempfile.mkdtemp(prefix="bench_scale_")
    results: dict = {}

    def payload() -> dict:
        return {
            "argv": sys.argv,
            "corpora": {
                mb: {"pattern": c.pattern} | {k: v for k, v in c.manifest.items() if k != "files"}
                for mb, c in corpora.items()
            },
            "top_k": args.top_k,
            "machine": {**machine.machine_facts(), "load_average_at_start": load_at_start},
            "rows": {
                mb: {
                    n: {**r, "tokens_per_s": report.speed(r, corpora[mb].tokens)}
                    for n, r in by_row.items()
                }
                for mb, by_row in results.items()
            },
            "targets": targets(results, corpora) if results else [],
            "big_lexicon": args.big_lexicon,
            "lexicon_rows": {
                key: {
                    n: {**r, "tokens_per_s": report.speed(r, lexicon_corpora[key].tokens)}
                    for n, r in by_row.items()
                }
                for key, by_row in lexicon_results.items()
            },
        }

    try:
        for mb in sizes:
            results[mb] = {}
            for name in args.rows:
                work = os.path.join(work_root, f"{mb:g}mb")
                os.makedirs(work, exist_ok=True)
                print(f"  [{mb:g} MB] running {name} ...", flush=True)
                r = run_row(name, corpora[mb], top_k=args.top_k, repeat=args.repeat, work=work)
                results[mb][name] = r
                if "error" in r:
                    print(f"    failed: {r['error'][:300]}", flush=True)
                else:
                    print(
                        f"    {r['median_s']:.1f} s; peak RSS {report.rss(r)} MiB, largest "
                        f"process {largest_process_mb(r):,.0f} MiB; own CPU "
                        f"{r.get('own_cpu_s')} s; other processes used {report.contention(r)} "
                        f"cores; fingerprint {(r.get('fingerprint') or '')[:16]}",
                        flush=True,
                    )
                if args.json:
                    report.write_json(args.json, payload())
        for key, c in lexicon_corpora.items():
            lexicon_results[key] = {}
            for name in args.rows:
                work = os.path.join(work_root, f"lexicon-{len(lexicon_results)}")
                os.makedirs(work, exist_ok=True)
                print(f"  [{key}] running {name} ...", flush=True)
                r = run_row(name, c, top_k=args.top_k, repeat=args.repeat, work=work)
                lexicon_results[key][name] = r
                done = r["error"][:300] if "error" in r else f"{r['median_s']:.1f} s"
                print(f"    {done}", flush=True)
                if args.json:
                    report.write_json(args.json, payload())
        print()
        print(table(results, corpora))
        if lexicon_results:
            print()
            print(table(lexicon_results, lexicon_corpora))
        print()
        print(report.METHOD)
        for mb in results:
            line = report.contention_line(results[mb], os.cpu_count())
            if line:
                print(f"[{mb:g} MB] {line}")
        for goal in targets(results, corpora):
            print(f"target: {goal}")
        facts = {**machine.machine_facts(), "load_average_at_start": load_at_start}
        print(machine.describe(facts))
        for mb in results:
            for name, r in results[mb].items():
                listed = ", ".join(
                    f"{p['name']} {p['peak_mb']:,.0f}" for p in r.get("processes", [])[:6]
                )
                print(f"processes [{mb:g} MB {name}] (peak MiB each): {listed}")
    finally:
        if args.keep:
            print(f"work directory kept: {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)
    every = [*results.values(), *lexicon_results.values()]
    failed = any("error" in r for by_row in every for r in by_row.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
