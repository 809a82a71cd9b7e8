"""The driver every build comparison shares: arguments, corpora (the same text in one
file and in N files), one process per row, the table, checks, targets, machine, JSON.

A comparison script names its rows, its reference row (the ratio column) and a
``targets(results, corpora)`` function, and calls ``main``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness import corpus as corpora_
from harness import machine, report
from harness.checks import checks
from harness.corpus import Corpus
from harness.rows import ROWS, run_row
from harness.tft import TFT_VENV, ensure_tft

TOP_K = 100_000
DEFAULT_MB = 100.0

# results: files -> row -> result; corpora: files -> Corpus
Results = dict[int, dict[str, dict]]
Targets = Callable[[Results, dict[int, Corpus]], list[str]]


def add_common_arguments(parser: argparse.ArgumentParser, rows: list[str], files: list[int]):
    parser.add_argument("--mb", type=float, default=DEFAULT_MB, help="Zipf corpus size in MB")
    parser.add_argument(
        "--files",
        type=int,
        nargs="+",
        default=files,
        help=f"the same text cut into this many files, one table part each (default {files})",
    )
    parser.add_argument("--corpus", choices=("zipf", "real"), default="zipf")
    parser.add_argument("--top-k", type=int, default=TOP_K, help="vocabulary size (learned)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (median)")
    parser.add_argument(
        "--slow-repeat",
        type=int,
        default=None,
        help="timed runs for the slow peers (beam-wordcount, tft-*; default: --repeat)",
    )
    parser.add_argument("--only", nargs="+", choices=rows, help="run only these rows")
    if any(ROWS[n].tft for n in rows):
        parser.add_argument("--skip-tft", action="store_true", help="leave out the TFT rows")
        parser.add_argument("--tft-venv", type=Path, default=TFT_VENV, help="TFT's virtualenv")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")


def ratio_column(results: dict[str, dict], reference: str | None, tokens: int):
    base = report.speed(results.get(reference), tokens) if reference else None

    def ratio(result: dict) -> str:
        own = report.speed(result, tokens)
        return f"{own / base:.2f}x" if own and base else "n/a"

    return ratio


def table(results: Results, corpora: dict[int, Corpus], reference: str | None) -> str:
    headers = ["input", "row", "tool", "what", "seconds (median)", "runs", "tokens/s", "CPU s/run"]
    headers += ["peak RSS MiB", "other CPU (cores)", f"vs {reference}" if reference else "ratio"]
    rows = []
    for files, by_row in results.items():
        tokens = corpora[files].tokens
        ratio = ratio_column(by_row, reference, tokens)
        where = f"{corpora[files].mb:.0f} MB, {files} file{'s' if files > 1 else ''}"
        for name, r in by_row.items():
            row = ROWS[name]
            if "error" in r:
                rows.append([where, name, row.tool, row.what, "failed: " + r["error"][:200]])
                rows[-1] += [""] * (len(headers) - len(rows[-1]))
                continue
            rows.append(
                [
                    where,
                    name,
                    row.tool,
                    row.what,
                    f"{r['median_s']:.2f}",
                    r["repeat"],
                    f"{report.speed(r, tokens) / 1e6:.2f} M",
                    report.cpu(r),
                    report.rss(r),
                    report.contention(r),
                    ratio(r),
                ]
            )
    return report.markdown(headers, rows)


def main(
    argv: list[str] | None,
    *,
    description: str,
    rows: list[str],
    files: list[int],
    reference: str | None,
    targets: Targets,
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    special: Callable[[argparse.Namespace, dict[int, Corpus]], int | None] | None = None,
) -> int:
    parser = argparse.ArgumentParser(description=description)
    add_common_arguments(parser, rows, files)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if args.slow_repeat is None:
        args.slow_repeat = args.repeat
    if min(args.repeat, args.slow_repeat, args.top_k, *args.files) < 1 or args.mb <= 0:
        parser.error("--repeat, --slow-repeat, --files, --top-k must be >= 1 and --mb > 0")
    corpora = {n: corpora_.prepare(args.corpus, args.mb, n) for n in args.files}
    if special:
        code = special(args, corpora)
        if code is not None:
            return code

    names = [n for n in rows if n in (args.only or rows)]
    if getattr(args, "skip_tft", False):
        names = [n for n in names if not ROWS[n].tft]
    tft_python, tft_reason = None, None
    if any(ROWS[n].tft for n in names):
        tft_python, tft_reason = ensure_tft(args.tft_venv)
        if tft_python is None:
            names = [n for n in names if not ROWS[n].tft]
    for n, c in corpora.items():
        print(f"corpus ({n} file{'s' if n > 1 else ''}): {c.summary()}", flush=True)
    print(
        f"top-{args.top_k:,}, lowercase + whitespace split; {args.repeat} timed runs per row "
        f"({args.slow_repeat} for the slow peers), median reported; one process per row",
        flush=True,
    )
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    source_at_start = machine.source_facts()
    work_root = tempfile.mkdtemp(prefix="bench_")
    results: Results = {}
    try:
        for n, c in corpora.items():
            results[n] = {}
            for name in names:
                repeat = args.slow_repeat if ROWS[name].slow else args.repeat
                work = os.path.join(work_root, f"{n}files")
                os.makedirs(work, exist_ok=True)
                print(f"  [{n} file(s)] running {name} ({repeat} run(s)) ...", flush=True)
                r = run_row(
                    name, c, top_k=args.top_k, repeat=repeat, work=work, tft_python=tft_python
                )
                results[n][name] = r
                if "error" in r:
                    print(f"    failed: {r['error'][:300]}", flush=True)
                    if ROWS[name].tft and (
                        "ImportError" in r["error"] or "ModuleNotFound" in r["error"]
                    ):
                        tft_reason = f"import failed in {args.tft_venv}: {r['error'][:200]}"
                else:
                    runs = ", ".join(f"{s:.2f}" for s in r["seconds"])
                    print(
                        f"    {runs} s; peak RSS {report.rss(r)} MiB; own CPU "
                        f"{r.get('own_cpu_s', 'n/a')} s; other processes used "
                        f"{report.contention(r)} cores",
                        flush=True,
                    )
        notes = {n: checks(results[n], corpora[n].tokens, args.top_k) for n in results}
        goals = targets(results, corpora)
        tft_env = next(
            (
                r["versions"]
                for by_row in results.values()
                for r in by_row.values()
                if r.get("versions")
            ),
            None,
        )
        facts = {**machine.machine_facts(), "load_average_at_start": load_at_start}
        facts["source_at_start"] = source_at_start
        print()
        print(table(results, corpora, reference))
        print()
        if getattr(args, "skip_tft", False):
            print("TFT: skipped (--skip-tft)")
        elif tft_reason:
            print(f"TFT: not available ({tft_reason})")
        print(report.METHOD)
        for n in results:
            line = report.contention_line(results[n], facts["nproc"])
            if line:
                print(f"[{n} file(s)] {line}")
            for note in notes[n]:
                print(f"[{n} file(s)] check: {note}")
        for goal in goals:
            print(f"target: {goal}")
        print(machine.describe(facts, tft_env if any(ROWS[x].tft for x in names) else None))
        if args.json:
            report.write_json(
                args.json,
                {
                    "argv": sys.argv,
                    "corpora": {
                        n: {"pattern": c.pattern, "description": c.description}
                        | {k: v for k, v in c.manifest.items() if k != "files"}
                        for n, c in corpora.items()
                    },
                    "top_k": args.top_k,
                    "repeat": args.repeat,
                    "slow_repeat": args.slow_repeat,
                    "machine": facts,
                    "tft_env": tft_env,
                    "rows": {
                        n: {
                            name: {
                                **r,
                                **ROWS[name].__dict__,
                                "tokens_per_s": report.speed(r, corpora[n].tokens),
                            }
                            for name, r in by_row.items()
                        }
                        for n, by_row in results.items()
                    },
                    "checks": notes,
                    "targets": goals,
                },
            )
    finally:
        if args.keep:
            print(f"work directory kept: {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)
    failed = any("error" in r for by_row in results.values() for r in by_row.values())
    return 1 if failed else 0


def script(doc: str, **kwargs) -> None:
    """Run a comparison script: ``script(__doc__, rows=..., files=..., reference=...,
    targets=...)``; its description is the first paragraph of ``doc``."""
    sys.exit(main(None, description=doc.split("\n\n")[0], **kwargs))
