#!/usr/bin/env python
"""26 categorical vocabularies at recommender scale: a Criteo-shaped table (the Kaggle
day's 26 columns and cardinalities; see ``harness/criteo.py`` for the generator's
choices) at 1 M, 10 M and 45.8 M rows, built by vocabguard and its peers on the same
Parquet files, in one run.

Usage::

    python benchmarks/cardinality.py                                 # 1m 10m
    python benchmarks/cardinality.py --sizes 1m 10m 45.8m --json out/cardinality.json
    python benchmarks/cardinality.py --sizes 1m --only duckdb vg-inproc
    python benchmarks/cardinality.py --generate-only --sizes 45.8m   # just the files

Rows (each its own process: time of the work, imports excluded; peak RSS of every
process in its tree, sampled from /proc):

- ``vg-inproc``: ``vocabguard build --config job.yaml --runner inprocess`` (all 26
  features in one pass, published to a store);
- ``vg-beam-1`` / ``vg-beam-2``: the same job on Beam's DirectRunner, 1 worker and 2
  workers (multi_processing);
- ``duckdb``: one ``GROUP BY`` per column over ``read_parquet`` (all threads);
- ``polars``: ``scan_parquet(...).group_by(column).len()`` per column;
- ``pyarrow``: ``parquet.read_table`` then ``value_counts`` per column;
- ``keras``: ``StringLookup().adapt`` per column (values fed as ``tf.data`` batches);
- ``largest``: for the largest vocabulary (C3) of the largest size: publish, load,
  ``vocabguard inspect --token``, numpy lookup of 1 M values in batches of 1,000 and
  of 100,000, ``vocabguard.tf.encode_fn`` table build, Keras ``StringLookup(vocabulary=)``
  construction; beside plain ``pyarrow.parquet`` writing/reading the same token and
  count columns.

Exactness: every vocabulary (vocabguard's token order and counts; polars' and
pyarrow's counts; Keras' token set) is compared with DuckDB's count at every size.
Goals (printed met / missed; nothing asserts on time): in-process within 2x DuckDB at
10 M rows and above; Beam 1 worker within 4x DuckDB; Beam 2 workers >= 1.5x one;
peak RSS < 2 GB (in-process, every Beam process); publish / load within 2x plain
pyarrow.parquet; ``inspect --token`` < 1 s; lookup in batches of 1,000 at least 0.5x
the throughput of batches of 100,000. Rows that would take longer than ``--timeout``
are stopped and reported as such. The files are written once under
``.cache/criteo/<size>/`` (git-ignored; 45.8 M rows is about 3.8 GB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import criteo, machine, report
from harness.process import emit, peak_rss_mb, run_measured

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "criteo"
ROWS = ["duckdb", "polars", "pyarrow", "vg-inproc", "vg-beam-1", "vg-beam-2", "keras"]
LARGEST = "C3"
GOAL_RSS_MB = 2000


# -- worker side: one row, timed, in its own process -----------------------------


def job_config(data: Path, store: Path, work: Path) -> str:
    """The job config of the 26 features (tokenizer none, missing skip)."""
    import yaml

    features = {
        c: {"field": c, "name": c.lower(), "spec": {"tokenizer": "none", "missing": "skip"}}
        for c in criteo.COLUMNS
    }
    config = {"inputs": [str(data / "*.parquet")], "store": str(store), "features": features}
    path = work / f"job-{store.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return str(path)


def write_counts(out: Path, column: str, tokens, counts) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    table = pa.table({"token": pa.array(tokens).cast(pa.binary()), "count": pa.array(counts)})
    pq.write_table(table, out / f"{column}.parquet")


def work_duckdb(data: Path, work: Path):
    import duckdb

    con = duckdb.connect()
    con.execute(f"PRAGMA threads={os.cpu_count()}")
    source = f"read_parquet('{data}/*.parquet')"

    def run():
        return {
            c: con.execute(
                f"SELECT {c} AS token, count(*) AS n FROM {source} "
                f"WHERE {c} IS NOT NULL GROUP BY {c}"
            ).to_arrow_table()
            for c in criteo.COLUMNS
        }

    def after(out):
        for c, table in out.items():
            write_counts(work / "duckdb", c, table["token"], table["n"].cast("int64"))
        return {"distinct": sum(len(t) for t in out.values())}

    return run, after


def work_polars(data: Path, work: Path):
    import polars as pl

    def run():
        frame = pl.scan_parquet(str(data / "*.parquet"))
        return {c: frame.select(c).drop_nulls().group_by(c).len().collect() for c in criteo.COLUMNS}

    def after(out):
        for c, frame in out.items():
            table = frame.to_arrow()
            write_counts(work / "polars", c, table[c], table["len"].cast("int64"))
        return {"distinct": sum(len(f) for f in out.values())}

    return run, after


def work_pyarrow(data: Path, work: Path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = sorted(data.glob("*.parquet"))

    def run():
        table = pq.read_table(files)
        return {c: pc.value_counts(table[c].drop_null()) for c in criteo.COLUMNS}

    def after(out):
        for c, tallies in out.items():
            write_counts(work / "pyarrow", c, tallies.field("values"), tallies.field("counts"))
        return {"distinct": sum(len(t) for t in out.values())}

    return run, after


def work_vg(runner: str):
    def work(data: Path, work: Path):
        import vocabguard  # noqa: F401
        from vocabguard._src.engines import jobs

        store = work / f"store-{runner}"
        config = job_config(data, store, work)
        if runner == "inproc":
            argv = ["--config", config]
        else:
            import apache_beam  # noqa: F401

            workers = int(runner.split("-")[1])
            argv = ["--config", config, "--runner=DirectRunner", f"--direct_num_workers={workers}"]
            if workers > 1:
                argv.append("--direct_running_mode=multi_processing")

        def run():
            shutil.rmtree(store, ignore_errors=True)
            if runner == "inproc":
                return jobs.run_build_inprocess(argv)
            jobs._quiet_beam_logs()
            return jobs.run_build(argv)

        def after(results):
            return {"store": str(store), "refs": [r["ref"] for r in results]}

        return run, after

    return work


def work_keras(data: Path, work: Path):
    import numpy as np
    import pyarrow.parquet as pq

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    table = pq.read_table(sorted(data.glob("*.parquet")))
    # Setup, not timed: each column's non-null values as a numpy bytes array.
    columns = {
        c: np.asarray(table[c].drop_null().cast("binary").to_numpy(zero_copy_only=False), "S8")
        for c in criteo.COLUMNS
    }
    del table

    def run():
        out = {}
        for c, values in columns.items():
            layer = keras.layers.StringLookup(num_oov_indices=1, mask_token=None)
            layer.adapt(tf.data.Dataset.from_tensor_slices(values).batch(1 << 16))
            out[c] = layer.get_vocabulary()[1:]
        return out

    def after(out):
        for c, tokens in out.items():
            write_counts(work / "keras", c, [t.encode() for t in tokens], [0] * len(tokens))
        return {"distinct": sum(len(t) for t in out.values())}

    return run, after


def timed_s(run, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def work_largest(data: Path, work: Path):
    """The largest vocabulary's publish, load, inspect, lookup and table builds."""
    import subprocess

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabguard import VocabStore

    source = VocabStore(work / "store-inproc")
    ref = f"{LARGEST.lower()}@latest"

    def run():
        facts: dict = {}
        start = time.perf_counter()
        vocab = source.load(ref)
        facts["load_s"] = time.perf_counter() - start
        facts["tokens"] = len(vocab)
        target = Path(tempfile.mkdtemp(dir=work, prefix="publish-"))
        start = time.perf_counter()
        published = VocabStore(target).publish(vocab, "largest")
        facts["publish_s"] = time.perf_counter() - start
        # Plain pyarrow.parquet: the same token and count columns, written and read.
        counts = vocab.counts
        table = pa.table(
            {
                "token": pa.array(vocab.token_bytes[-len(counts) :], pa.binary()),
                "count": pa.array(counts, pa.int64()),
            }
        )
        path = target / "plain.parquet"
        facts["pq_write_s"] = timed_s(lambda: pq.write_table(table, path))
        facts["pq_read_s"] = timed_s(lambda: pq.read_table(path))
        facts["load_again_s"] = timed_s(lambda: VocabStore(target).load(published.ref))
        token = table["token"][len(table) // 2].as_py().decode()
        command = [
            sys.executable,
            "-c",
            "import sys; from vocabguard.cli import main; sys.exit(main(sys.argv[1:]))",
            "inspect",
            published.ref,
            "--token",
            token,
            "--store",
            str(target),
        ]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        facts["inspect_token_s"] = time.perf_counter() - start
        facts["inspect_ok"] = done.returncode == 0 and token in done.stdout
        # Lookup of 1 M values of the column (the data's own mix of frequent and rare).
        values = pq.read_table(sorted(data.glob("*.parquet"))[0], columns=[LARGEST])[LARGEST]
        values = values.drop_null().slice(0, 1_000_000).to_pylist()
        values = (values * (1_000_000 // max(1, len(values)) + 1))[:1_000_000]
        for size in (100_000, 1_000):
            batches = [values[i : i + size] for i in range(0, len(values), size)]
            vocab.lookup(batches[0])  # a first call builds what the lookup needs
            seconds = timed_s(lambda b=batches: [vocab.lookup(x) for x in b])
            facts[f"lookup_{size}_s"] = seconds
            facts[f"lookup_{size}_values_per_s"] = len(values) / seconds
        ids = vocab.lookup(values[:1000])
        facts["lookup_ok"] = bool(np.all(ids >= 0) and np.all(ids < vocab.input_dim))
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        import tensorflow as tf

        import vocabguard.tf as vtf

        start = time.perf_counter()
        encoder = vtf.encode_fn(vocab)
        encoder(tf.constant([token]))
        facts["encode_fn_table_s"] = time.perf_counter() - start
        tokens = [t.decode() for t in table["token"].to_pylist()]
        start = time.perf_counter()
        layer = keras.layers.StringLookup(vocabulary=tokens, num_oov_indices=1, mask_token=None)
        layer(tf.constant([token]))
        facts["keras_stringlookup_s"] = time.perf_counter() - start
        return facts

    def after(facts):
        return facts

    return run, after


WORK = {
    "duckdb": work_duckdb,
    "polars": work_polars,
    "pyarrow": work_pyarrow,
    "vg-inproc": work_vg("inproc"),
    "vg-beam-1": work_vg("beam-1"),
    "vg-beam-2": work_vg("beam-2"),
    "keras": work_keras,
    "largest": work_largest,
}


def worker(row: str, data: Path, work: Path) -> int:
    try:
        run, after = WORK[row](data, work)
        from harness.process import process_cpu_s

        cpu_before = process_cpu_s()
        start = time.perf_counter()
        out = run()
        seconds = time.perf_counter() - start
        cpu = process_cpu_s() - cpu_before
        facts = after(out)
        emit(
            {
                "median_s": seconds,
                "seconds": [seconds],
                "cpu_per_run_s": cpu,
                "self_peak_rss_mb": peak_rss_mb(),
                **facts,
            }
        )
    except Exception as err:  # reported as the row's error, not a crash of the run
        import traceback

        traceback.print_exc()
        emit({"error": f"{type(err).__name__}: {str(err)[:300]}"})
    return 0


# -- checks: every vocabulary against DuckDB's count -----------------------------


_REFERENCE: dict = {}


def reference(work: Path):
    """DuckDB's counts of every column, in vocabguard's order (read and sorted once)."""
    import pyarrow.parquet as pq

    if work not in _REFERENCE:
        _REFERENCE.clear()
        _REFERENCE[work] = {
            c: ordered(pq.read_table(work / "duckdb" / f"{c}.parquet")).combine_chunks()
            for c in criteo.COLUMNS
        }
    return _REFERENCE[work]


def ordered(table):
    """(token, count) sorted as vocabguard orders them: count desc, token bytes asc."""
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("token", "ascending")])
    return table.take(order)


def check(row: str, work: Path, ref: dict, result: dict) -> str:
    """'exact' or what differs."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = []
    for c in criteo.COLUMNS:
        want = ref[c]
        if row.startswith("vg-"):
            from vocabguard import VocabStore

            vocab = VocabStore(result["store"]).load(f"{c.lower()}@latest")
            learned = vocab.layout.num_reserved
            got_tokens = pa.array(vocab.token_bytes[learned:], pa.binary())
            ok = got_tokens.equals(want["token"].combine_chunks()) and list(vocab.counts) == (
                want["count"].to_pylist()
            )
        else:
            got = pq.read_table(work / row / f"{c}.parquet")
            if row == "keras":  # its own tie order: compare the token sets
                ok = set(got["token"].to_pylist()) == set(want["token"].to_pylist())
            else:
                ok = ordered(got).equals(want)
        if not ok:
            bad.append(c)
    return "exact" if not bad else f"DIFFERS in {', '.join(bad)}"


# -- driver ----------------------------------------------------------------------


def run_size(size: str, rows: list[str], args, results: dict, payload: dict) -> None:
    rows_n = criteo.SIZES[size]
    data = CACHE / size
    criteo.generate(rows_n, data)
    work = Path(tempfile.mkdtemp(prefix=f"cardinality-{size}-", dir=args.work))
    values = rows_n * len(criteo.COLUMNS)
    results[size] = {}
    order = ["duckdb", *[r for r in rows if r != "duckdb"]]
    if "largest" in rows and "vg-inproc" not in rows:
        order.insert(1, "vg-inproc")
    for row in order:
        log = work / f"{row}.log"
        command = [sys.executable, __file__, "--worker", row, "--data", str(data)]
        command += ["--work-dir", str(work)]
        print(f"[{time.strftime('%H:%M:%S')}] {size} {row} ...", flush=True)
        result = run_measured(command, log_path=str(log), timeout_s=args.timeout)
        if "error" not in result and row not in ("largest",):
            result["values_per_s"] = values / result["median_s"]
            if row != "duckdb" and "error" not in results[size].get("duckdb", {"error": 1}):
                result["exact"] = check(row, work, reference(work), result)
            elif row == "duckdb":
                result["exact"] = "reference"
        results[size][row] = result
        print(f"    {summary(row, result)}", flush=True)
        if args.json:
            report.write_json(args.json, payload)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def summary(row: str, r: dict) -> str:
    if "error" in r:
        return f"{row}: ERROR {r['error']}"
    procs = ", ".join(f"{p['name'][:30]} {p['peak_mb']:.0f}" for p in r.get("processes", [])[:4])
    text = (
        f"{row}: {r['median_s']:.2f} s (process {r['process_wall_s']:.1f} s, CPU "
        f"{r.get('own_cpu_s', 0):.1f} s), peak RSS {r['peak_rss_mb']:.0f} MiB [{procs}], "
        f"other work {r.get('other_cpu_cores', 0):.2f} cores"
    )
    if "values_per_s" in r:
        text += f", {r['values_per_s'] / 1e6:.1f} M values/s, {r.get('exact', '')}"
    if row == "largest":
        keys = [k for k in r if k.endswith("_s") and k not in ("median_s", "process_wall_s")]
        text += "; " + ", ".join(f"{k} {r[k]:.3f}" for k in keys)
    return text


def goals(results: dict) -> list[str]:
    lines = []
    for size, rows in results.items():
        duck = rows.get("duckdb", {}).get("median_s")
        for name, limit in (("vg-inproc", 2.0), ("vg-beam-1", 4.0)):
            r = rows.get(name, {})
            if duck and "median_s" in r:
                ratio = r["median_s"] / duck
                lines.append(
                    f"{size}: {name} within {limit:g}x DuckDB: {ratio:.1f}x "
                    f"({r['median_s']:.1f} s vs {duck:.1f} s) -> {report.verdict(ratio <= limit)}"
                )
        one, two = rows.get("vg-beam-1", {}), rows.get("vg-beam-2", {})
        if "median_s" in one and "median_s" in two:
            speedup = one["median_s"] / two["median_s"]
            lines.append(
                f"{size}: Beam 2 workers >= 1.5x one: {speedup:.2f}x -> "
                f"{report.verdict(speedup >= 1.5)}"
            )
        for name in ("vg-inproc", "vg-beam-1", "vg-beam-2"):
            r = rows.get(name, {})
            if "processes" in r:
                most = max(p["peak_mb"] for p in r["processes"]) * 2**20 / 1e6
                lines.append(
                    f"{size}: {name} largest process < 2 GB: {most:,.0f} MB -> "
                    f"{report.verdict(most < GOAL_RSS_MB)}"
                )
        big = rows.get("largest", {})
        if "publish_s" in big:
            for what, ours, plain in (
                ("publish", "publish_s", "pq_write_s"),
                ("load", "load_again_s", "pq_read_s"),
            ):
                ratio = big[ours] / big[plain]
                lines.append(
                    f"{size}: {what} of {LARGEST} ({big['tokens']:,} tokens) within 2x plain "
                    f"pyarrow.parquet: {big[ours]:.2f} s vs {big[plain]:.2f} s = {ratio:.1f}x "
                    f"-> {report.verdict(ratio <= 2)}"
                )
            lines.append(
                f"{size}: inspect --token < 1 s: {big['inspect_token_s']:.2f} s "
                f"(process, imports included) -> {report.verdict(big['inspect_token_s'] < 1)}"
            )
            ratio = big["lookup_1000_values_per_s"] / big["lookup_100000_values_per_s"]
            lines.append(
                f"{size}: lookup, batches of 1,000 >= 0.5x the throughput of 100,000: "
                f"{ratio:.2f}x ({big['lookup_1000_values_per_s'] / 1e6:.2f} vs "
                f"{big['lookup_100000_values_per_s'] / 1e6:.2f} M values/s) -> "
                f"{report.verdict(ratio >= 0.5)}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1m", "10m"], choices=list(criteo.SIZES))
    parser.add_argument("--only", nargs="+", choices=[*ROWS, "largest"], help="these rows")
    parser.add_argument("--skip", nargs="+", default=[], help="leave these rows out")
    parser.add_argument(
        "--rows-at",
        nargs="+",
        default=[],
        metavar="SIZE=ROW,ROW",
        help="at SIZE, only these rows (e.g. 45.8m=duckdb,vg-inproc): the slow rows "
        "where they finish in time",
    )
    parser.add_argument("--largest-at", default=None, help="size for the 'largest' row")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per row")
    parser.add_argument("--json", type=Path, metavar="OUT")
    parser.add_argument("--work", default=None, help="scratch directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and outputs")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.data, args.work_dir)
    if args.generate_only:
        for size in args.sizes:
            criteo.generate(criteo.SIZES[size], CACHE / size)
        return 0
    rows = [r for r in (args.only or [*ROWS, "largest"]) if r not in args.skip]
    largest_at = args.largest_at or args.sizes[-1]
    facts = machine.machine_facts()
    payload: dict = {
        "argv": sys.argv,
        "machine": facts,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    results: dict = {}
    payload["results"] = results
    print(machine.describe(facts), flush=True)
    started = time.perf_counter()
    rows_at = dict(item.split("=", 1) for item in args.rows_at)
    for size in args.sizes:
        size_rows = [r for r in rows if r != "largest" or size == largest_at]
        if size in rows_at:
            size_rows = [r for r in size_rows if r in rows_at[size].split(",")]
        run_size(size, size_rows, args, results, payload)
    payload["wall_s"] = time.perf_counter() - started
    payload["goals"] = goals(results)
    print("\n".join(payload["goals"]))
    print(f"wall time of the run: {payload['wall_s']:.0f} s")
    if args.json:
        report.write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
