#!/usr/bin/env python
"""26 categorical vocabularies at recommender scale: a Criteo-shaped table (the Kaggle
day's 26 columns and cardinalities; ``harness/criteo.py`` documents the generator) at
1 M, 10 M and 45.8 M rows, built by vocabguard and its peers on the same Parquet files,
every figure in one run.

Usage::

    python benchmarks/cardinality.py --json out/cardinality.json      # 1m 10m 45.8m
    python benchmarks/cardinality.py --sizes 1m --only duckdb vg-inproc largest
    python benchmarks/cardinality.py --table-from out/cardinality.json  # markdown again
    python benchmarks/cardinality.py --generate-only --sizes 45.8m --gen-jobs 2

Rows (each its own process, started in its own process group: time of the work,
imports and setup excluded; peak RSS of every process in its tree, sampled from /proc):

- ``duckdb``: one ``GROUP BY`` per column over ``read_parquet`` (all threads): the
  reference every other row is checked against;
- ``vg-inproc``: ``vocabguard build --config job.yaml --runner inprocess`` (all 26
  features in one pass, published to a store);
- ``vg-beam-1`` / ``vg-beam-2``: the same job on Beam's DirectRunner, 1 worker and 2
  workers (multi_processing);
- ``polars``: ``scan_parquet(...).group_by(column).len()`` per column;
- ``pyarrow``: ``parquet.read_table(columns=[c])`` then ``value_counts``, per column;
- ``tft``: TensorFlow Transform's ``tft.vocabulary`` (full, with frequencies) of the 26
  columns in one ``AnalyzeDataset`` on the DirectRunner (1 worker), fed Arrow record
  batches as TFX feeds it; it runs in ``.venv-tft`` (``make tft-venv``; TFT pins its
  own TensorFlow and Beam);
- ``keras``: ``StringLookup().adapt`` per column (values fed as ``tf.data`` batches;
  reading the files is not timed);
- ``largest``, at the largest size only: for the largest vocabulary (C3) of
  ``vg-inproc``'s store: load, publish, ``vocabguard inspect --token`` (a process,
  imports included), numpy lookup of 1 M values in batches of 1,000 and of 100,000
  (values as a numpy object array; a Python list and an Arrow array beside it),
  ``vocabguard.tf.encode_fn`` table build, Keras ``StringLookup(vocabulary=)``
  construction, beside plain ``pyarrow.parquet`` writing and reading the same token
  and count columns.

values/s: the non-null values of the 26 columns (DuckDB's count) per second. A row
still running after ``--timeout`` seconds (default 30 min) is stopped with every
process it started and reported as such; at a larger size, a row that was stopped, or
whose time scaled by the row count would exceed the timeout, is not started
(``--no-predict`` starts it anyway).

Exactness: every vocabulary (vocabguard's token order and counts; polars', pyarrow's and
TFT's counts; Keras' token set) is compared with DuckDB's count at every size.
Goals (printed met / missed; nothing asserts on time): in-process within 2x DuckDB at
10 M rows and above; Beam 1 worker within 4x DuckDB; Beam 2 workers >= 1.5x one;
peak RSS < 2 GB (in-process, every Beam process) at 45.8 M rows; publish / load within
2x plain pyarrow.parquet; ``inspect --token`` < 1 s; lookup in batches of 1,000 at
least 0.5x the throughput of batches of 100,000. The files are written once under
``.cache/criteo/<size>/`` (git-ignored; 45.8 M rows is 19 files, 4.2 GB).

Output: the lines as rows finish, then the goals; ``--json`` (rewritten after every
row, so a stopped run keeps what it measured) and ``--markdown`` (default: the JSON's
name with ``.md``): the tables the README's Scale section quotes.
"""

from __future__ import annotations

import argparse
import json
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
# duckdb first (the reference), vg-inproc before largest (its store), slow rows last.
ROWS = ["duckdb", "vg-inproc", "largest", "vg-beam-1", "vg-beam-2", "polars", "pyarrow"]
ROWS += ["tft", "keras"]
WHAT = {
    "duckdb": "DuckDB: SELECT c, count(*) ... GROUP BY c per column, read_parquet, all threads",
    "vg-inproc": "vocabguard build --config job.yaml --runner inprocess: 26 features, one pass",
    "vg-beam-1": "vocabguard build --config job.yaml, Beam DirectRunner, 1 worker",
    "vg-beam-2": "the same, DirectRunner, 2 workers (multi_processing)",
    "polars": "polars: scan_parquet().select(c).drop_nulls().group_by(c).len() per column",
    "pyarrow": "pyarrow: parquet.read_table(columns=[c]) + compute.value_counts per column",
    "tft": "TFT tft.vocabulary(store_frequency) x 26 in one AnalyzeDataset, DirectRunner 1 worker",
    "keras": "Keras StringLookup().adapt(tf.data batches of 65,536) per column (read not timed)",
    "largest": "the largest vocabulary (C3): publish, load, inspect, lookup, table builds",
}
LARGEST = "C3"
GOAL_RSS_MB = 2000
LOOKUP_VALUES = 1_000_000
LOOKUP_BATCHES = (100_000, 1_000)


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
    import pyarrow.compute as pc

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
        return {
            "distinct": sum(len(t) for t in out.values()),
            "values": sum(pc.sum(t["n"]).as_py() for t in out.values()),
        }

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
        # Column by column: the whole 45.8 M-row table would be ~14 GB in memory.
        return {
            c: pc.value_counts(pq.read_table(files, columns=[c])[c].drop_null())
            for c in criteo.COLUMNS
        }

    def after(out):
        for c, tallies in out.items():
            write_counts(work / "pyarrow", c, tallies.field("values"), tallies.field("counts"))
        return {"distinct": sum(len(t) for t in out.values())}

    return run, after


def work_vg(runner: str):
    def work(data: Path, work: Path):
        import vocabguard  # noqa: F401
        from vocabguard.cli import jobs

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
            jobs.quiet_beam_logs()
            return jobs.run_build(argv)

        def after(results):
            return {"store": str(store), "refs": [r["ref"] for r in results]}

        return run, after

    return work


def fixed_width(column, width: int = 8):
    """An Arrow string column of ``width``-byte values as a numpy ``S{width}`` array
    over its own data buffer (no copy, no Python object per value)."""
    import numpy as np

    array = column.drop_null().combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset :][: len(array) + 1]
    if not (np.diff(offsets) == width).all():
        raise ValueError(f"values of {width} bytes expected. Received: column={column.type}")
    data = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.view(f"S{width}")


def work_keras(data: Path, work: Path):
    import pyarrow.parquet as pq

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    files = sorted(data.glob("*.parquet"))

    def run():
        out, reading = {}, 0.0
        for c in criteo.COLUMNS:
            start = time.perf_counter()  # reading a column is setup: not timed
            values = fixed_width(pq.read_table(files, columns=[c])[c])
            reading += time.perf_counter() - start
            layer = keras.layers.StringLookup(num_oov_indices=1, mask_token=None)
            layer.adapt(tf.data.Dataset.from_tensor_slices(values).batch(1 << 16))
            out[c] = layer.get_vocabulary()[1:]
            del values, layer
        return out, reading

    def after(done):
        out, reading = done
        for c, tokens in out.items():
            write_counts(work / "keras", c, [t.encode() for t in tokens], [0] * len(tokens))
        return {"distinct": sum(len(t) for t in out.values()), "untimed_s": reading}

    return run, after


def timed_s(run, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def lookup_values(data: Path):
    """``LOOKUP_VALUES`` values of the largest column, in the data's own mix of frequent
    and rare, as an Arrow string array (repeated when the column holds fewer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunks, have = [], 0
    for path in sorted(data.glob("*.parquet")):
        column = pq.read_table(path, columns=[LARGEST])[LARGEST].drop_null()
        chunks.append(column.combine_chunks())
        have += len(column)
        if have >= LOOKUP_VALUES:
            break
    values = pa.concat_arrays(chunks)
    while len(values) < LOOKUP_VALUES:
        values = pa.concat_arrays([values, values])
    return values.slice(0, LOOKUP_VALUES)


def work_largest(data: Path, work: Path):
    """The largest vocabulary's publish, load, inspect, lookup and table builds."""
    import subprocess

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from vocabguard import VocabStore

    source = VocabStore(work / "store-inproc")
    ref = f"{LARGEST.lower()}@latest"
    arrow_values = lookup_values(data)  # setup, not timed
    inputs = {
        "numpy": np.array(arrow_values.to_pylist(), dtype=object),
        "list": arrow_values.to_pylist(),
        "arrow": arrow_values,
    }

    def run():
        facts: dict = {"column": LARGEST}
        start = time.perf_counter()
        vocab = source.load(ref)
        facts["load_s"] = time.perf_counter() - start
        facts["tokens"] = len(vocab)
        target = Path(tempfile.mkdtemp(dir=work, prefix="publish-"))
        start = time.perf_counter()
        published = VocabStore(target).publish(vocab, "largest")
        facts["publish_s"] = time.perf_counter() - start
        facts["load_again_s"] = timed_s(lambda: VocabStore(target).load(published.ref))
        # Plain pyarrow.parquet: the same token and count columns, written and read.
        reserved = vocab.layout.num_reserved  # token_array: reserved, then learned tokens
        table = pa.table(
            {
                "token": vocab.token_array.slice(reserved),
                "count": pa.array(vocab.count_array[reserved:], pa.int64()),
            }
        )
        path = target / "plain.parquet"
        facts["pq_write_s"] = timed_s(lambda: pq.write_table(table, path))
        facts["pq_read_s"] = timed_s(lambda: pq.read_table(path))
        token = table["token"][len(table) // 2].as_py().decode()

        def cli(*argv: str) -> tuple[float, subprocess.CompletedProcess]:
            code = "import sys; from vocabguard.cli import main; sys.exit(main(sys.argv[1:]))"
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code, *argv], capture_output=True, text=True
            )
            return time.perf_counter() - start, done

        facts["inspect_token_s"], done = cli(
            "--store", str(target), "inspect", published.ref, "--token", token
        )
        facts["inspect_ok"] = done.returncode == 0 and token in done.stdout
        if not facts["inspect_ok"]:
            facts["inspect_output"] = (done.stdout + done.stderr)[-500:]
        facts["cli_start_s"], _ = cli("--help")  # of inspect's time: start-up and imports
        # Lookup: the same 1 M values in batches of 100,000 and of 1,000, three input forms.
        ids = {}
        for form, values in inputs.items():
            for size in LOOKUP_BATCHES:
                batches = [values[i : i + size] for i in range(0, LOOKUP_VALUES, size)]
                vocab.lookup(batches[0])  # a first call builds the index (shared by all)
                seconds = timed_s(lambda b=batches: [vocab.lookup(x) for x in b])
                facts[f"lookup_{form}_{size}_s"] = seconds
                facts[f"lookup_{form}_{size}_values_per_s"] = LOOKUP_VALUES / seconds
            ids[form] = vocab.lookup(values[:100_000])
        # Checked independently: each value's position in token_array (pc.index_in), whose
        # ids start at reserved_start; every value of the column is in its vocabulary.
        rows = pc.index_in(arrow_values.slice(0, 100_000).cast(pa.binary()), vocab.token_array)
        want = rows.to_numpy(zero_copy_only=False) + vocab.layout.reserved_start
        facts["lookup_ok"] = bool(
            rows.null_count == 0
            and all(np.array_equal(want, got) for got in ids.values())
            and want.max() < vocab.input_dim
        )
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        import tensorflow as tf

        import vocabguard.tf as vtf

        start = time.perf_counter()
        encoder = vtf.encode_fn(vocab)
        encoder(tf.constant([token]))
        facts["encode_fn_table_s"] = time.perf_counter() - start
        tokens = [t.decode() for t in table["token"].to_pylist()]  # Keras' input, untimed
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
        seconds -= facts.pop("untimed_s", 0.0)  # setup inside the run (Keras' reading)
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


def sorted_tokens(table):
    """A table's tokens as one sorted binary array (a set, compared without Python)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table["token"].combine_chunks().cast(pa.binary())
    return column.take(pc.sort_indices(column))


def check(row: str, work: Path, ref: dict, result: dict) -> str:
    """'exact' or what differs (vocabguard: tokens in order and counts; the others:
    (token, count) pairs; Keras: the token set)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = []
    for c in criteo.COLUMNS:
        want = ref[c]
        if row.startswith("vg-"):
            from vocabguard import VocabStore

            vocab = VocabStore(result["store"]).load(f"{c.lower()}@latest")
            reserved = vocab.layout.num_reserved
            got_tokens = vocab.token_array.slice(reserved).cast(pa.binary())
            ok = got_tokens.equals(want["token"].combine_chunks()) and np.array_equal(
                vocab.count_array[reserved:], want["count"].to_numpy()
            )
        else:
            path = work / row / f"{c}.parquet"
            if not path.exists():
                bad.append(f"{c} (no output)")
                continue
            got = pq.read_table(path)
            if row == "keras":  # its own tie order: compare the token sets (sorted)
                ok = sorted_tokens(got).equals(sorted_tokens(want))
            else:
                got = got.select(["token", "count"]).cast(want.schema)
                ok = ordered(got).combine_chunks().equals(want)
        if not ok:
            bad.append(c)
    return "exact" if not bad else f"DIFFERS in {', '.join(bad)}"


# -- driver ----------------------------------------------------------------------


def tft_command(data: Path, work: Path, result_file: Path, args) -> list[str] | str:
    """The ``tft`` row's command in .venv-tft, or why it cannot run."""
    from harness import tft

    python, why = tft.ensure_tft(args.tft_venv)
    if python is None:
        return why
    command = tft.command(
        python, "categorical", str(data / "*.parquet"), 0, 1, str(work), str(result_file), ""
    )
    return [*command, "--columns", ",".join(criteo.COLUMNS), "--vocab-out", str(work / "tft")]


def not_started(row: str, rows_n: int, history: dict, timeout: float) -> str | None:
    """Why ``row`` is not started at ``rows_n`` rows: it was stopped at a smaller size,
    or its time there scaled by the row count exceeds the timeout; else None."""
    seen = history.get(row)
    if seen is None:
        return None
    size, seconds = seen
    if seconds is None:
        return f"not started: stopped at the {timeout:g} s timeout at {size}"
    predicted = seconds * rows_n / criteo.SIZES[size]
    if predicted > timeout:
        return (
            f"not started: predicted {predicted:,.0f} s (from {seconds:,.0f} s at {size}, "
            f"scaled by rows) > the {timeout:g} s timeout"
        )
    return None


def run_size(size: str, rows: list[str], args, payload: dict, history: dict) -> None:
    rows_n = criteo.SIZES[size]
    data = CACHE / size
    files = criteo.generate(rows_n, data, jobs=args.gen_jobs)
    work = Path(tempfile.mkdtemp(prefix=f"cardinality-{size}-", dir=args.work))
    results = payload["results"][size] = {}
    facts = payload["sizes"][size] = {
        "rows": rows_n,
        "files": len(files),
        "parquet_bytes": sum(p.stat().st_size for p in files),
        "work": str(work),
    }
    started = time.perf_counter()
    for row in rows:
        limit = row_timeout(args, row)
        skip = None if args.no_predict else not_started(row, rows_n, history, limit)
        if row == "largest" and "median_s" not in results.get("vg-inproc", {}):
            skip = "not started: needs vg-inproc's store at this size"
        print(f"[{time.strftime('%H:%M:%S')}] {size} {row} ...", flush=True)
        if skip:
            results[row] = {"error": skip, "not_started": True}
            print(f"    {row}: {skip}", flush=True)
            continue
        log = work / f"{row}.log"
        if row == "tft":
            result_file = work / "tft.json"
            command = tft_command(data, work, result_file, args)
            if isinstance(command, str):
                result = {"error": f"TFT venv: {command}"}
            else:
                env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
                result = run_measured(
                    command,
                    log_path=str(log),
                    timeout_s=limit,
                    env=env,
                    result_file=str(result_file),
                )
        else:
            command = [sys.executable, __file__, "--worker", row, "--data", str(data)]
            command += ["--work-dir", str(work)]
            result = run_measured(command, log_path=str(log), timeout_s=limit)
        if result.get("timed_out"):
            history[row] = (size, None)
        elif "median_s" in result:
            history[row] = (size, result["median_s"])
        if "error" not in result and row != "largest":
            if row == "duckdb":
                facts["values"] = result["values"]
                facts["distinct"] = result["distinct"]
                result["exact"] = "reference"
            elif "values" in facts:
                result["exact"] = check(row, work, reference(work), result)
            if "values" in facts:
                result["values_per_s"] = facts["values"] / result["median_s"]
            if row.startswith("vg-beam"):  # its store is checked; keep the disk for the rest
                shutil.rmtree(result["store"], ignore_errors=True)
        results[row] = result
        print(f"    {summary(row, result)}", flush=True)
        write_outputs(args, payload)
    facts["wall_s"] = time.perf_counter() - started
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def row_timeout(args, row: str) -> float:
    """The seconds ``row`` may run: its ``--row-timeout ROW=SECONDS``, else ``--timeout``."""
    limits = dict(item.split("=", 1) for item in args.row_timeout)
    return float(limits.get(row, args.timeout))


def largest_process_mb(r: dict) -> float:
    return max([p["peak_mb"] for p in r.get("processes", [])] + [r.get("self_peak_rss_mb", 0)])


def every_process(r: dict, limit: int = 6) -> str:
    """Each process' own peak RSS (MiB), largest first: '1,234 + 567 + 3 more'."""
    peaks = [f"{p['peak_mb']:,.0f}" for p in r.get("processes", [])]
    text = " + ".join(peaks[:limit])
    return text + (f" + {len(peaks) - limit} more" if len(peaks) > limit else "")


def summary(row: str, r: dict) -> str:
    if "error" in r:
        held = f" (peak RSS until then {r['peak_rss_mb']:,.0f} MiB)" if r.get("timed_out") else ""
        return f"{row}: {r['error']}{held}"
    text = (
        f"{row}: {r['median_s']:.2f} s (process {r['process_wall_s']:.1f} s, CPU "
        f"{r.get('own_cpu_s', 0):.1f} s), peak RSS {r['peak_rss_mb']:,.0f} MiB "
        f"[every process: {every_process(r, 4)}], other work {r.get('other_cpu_cores', 0):.2f} "
        "cores"
    )
    if "values_per_s" in r:
        text += f", {r['values_per_s'] / 1e6:.2f} M values/s, {r.get('exact', '')}"
    if row == "largest":
        keys = [k for k in r if k.endswith("_s") and k not in ("median_s", "process_wall_s")]
        keys = [k for k in keys if not k.startswith("lookup_") or k.count("_") == 3]
        text += "; " + ", ".join(f"{k} {r[k]:.3f}" for k in keys)
        text += f"; lookup_ok {r.get('lookup_ok')}, inspect_ok {r.get('inspect_ok')}"
    return text


def goals(results: dict) -> list[str]:
    """Every goal the run measured, met or missed (the sizes the issue names)."""
    lines = []
    sizes = list(results)
    for size, rows in results.items():
        big = criteo.SIZES[size] >= 10_000_000
        duck = rows.get("duckdb", {}).get("median_s")
        for name, limit in (("vg-inproc", 2.0), ("vg-beam-1", 4.0)):
            r = rows.get(name, {})
            if name == "vg-inproc" and not big:
                continue  # the goal is for 10 M rows and above
            if duck and "median_s" in r:
                ratio = r["median_s"] / duck
                lines.append(
                    f"{size}: {name} within {limit:g}x DuckDB: {ratio:.1f}x "
                    f"({r['median_s']:.1f} s vs {duck:.1f} s) -> {report.verdict(ratio <= limit)}"
                )
            elif name in rows:
                lines.append(
                    f"{size}: {name} within {limit:g}x DuckDB: not measured "
                    f"({rows[name].get('error', 'no DuckDB time')})"
                )
        one, two = rows.get("vg-beam-1", {}), rows.get("vg-beam-2", {})
        if big and "median_s" in one and "median_s" in two:
            speedup = one["median_s"] / two["median_s"]
            lines.append(
                f"{size}: Beam 2 workers >= 1.5x one: {speedup:.2f}x -> "
                f"{report.verdict(speedup >= 1.5)}"
            )
        if size == "45.8m" or size == sizes[-1]:
            for name in ("vg-inproc", "vg-beam-1", "vg-beam-2"):
                r = rows.get(name, {})
                if "processes" in r and "error" not in r:
                    most = largest_process_mb(r) * 2**20 / 1e6
                    goal = "" if size == "45.8m" else " (the goal is at 45.8m)"
                    lines.append(
                        f"{size}: {name} every process < 2 GB: largest {most:,.0f} MB of "
                        f"{len(r['processes'])} [{every_process(r)} MiB] -> "
                        f"{report.verdict(most < GOAL_RSS_MB)}{goal}"
                    )
        for name, r in rows.items():
            if name not in ("duckdb", "largest") and r.get("exact") not in (None, "exact"):
                lines.append(f"{size}: {name} exact vs DuckDB: {r['exact']} -> MISSED")
            elif r.get("exact") == "exact":
                lines.append(f"{size}: {name} exact vs DuckDB (all 26 columns) -> MET")
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
                f"{size}: inspect --token < 1 s: {big['inspect_token_s']:.2f} s (a process; "
                f"its start-up and imports alone: {big['cli_start_s']:.2f} s) -> "
                f"{report.verdict(big['inspect_token_s'] < 1)}"
            )
            for form in ("numpy", "list", "arrow"):
                small = big[f"lookup_{form}_1000_values_per_s"]
                large = big[f"lookup_{form}_100000_values_per_s"]
                ratio = small / large
                lines.append(
                    f"{size}: {form} lookup, batches of 1,000 >= 0.5x the throughput of "
                    f"100,000: {ratio:.2f}x ({small / 1e6:.2f} vs {large / 1e6:.2f} M values/s)"
                    f" -> {report.verdict(ratio >= 0.5)}"
                )
    return lines


# -- markdown ----------------------------------------------------------------------


def markdown(payload: dict) -> str:
    """The run as markdown: one table of the rows per size, the largest vocabulary's
    table, the goals, and how it was measured."""
    out = [f"Command: `{' '.join(payload.get('argv', []))}`", ""]
    out.append(machine.describe(payload["machine"]) if "machine" in payload else "")
    headers = ["row", "seconds", "M values/s", "x DuckDB", "peak RSS MiB (sum)"]
    headers += ["every process MiB", "CPU s", "other CPU cores", "exact vs DuckDB"]
    for size, rows in payload["results"].items():
        facts = payload["sizes"].get(size, {})
        out += [
            "",
            f"### {size} rows ({facts.get('rows', 0):,} rows, "
            f"{facts.get('values', 0):,} non-null values, {facts.get('distinct', 0):,} "
            f"distinct in 26 columns, {facts.get('parquet_bytes', 0) / 1e6:,.0f} MB of "
            f"Parquet in {facts.get('files', '?')} files; size wall time "
            f"{facts.get('wall_s', 0):,.0f} s)",
            "",
        ]
        duck = rows.get("duckdb", {}).get("median_s")
        table = []
        for name, r in rows.items():
            if name == "largest":
                continue
            if "error" in r:
                held = ""
                if r.get("timed_out"):
                    held = f"{r['peak_rss_mb']:,.0f} (until stopped)"
                table.append(
                    [name, WHAT.get(name, ""), r["error"][:160], "", "", held]
                    + [every_process(r) if r.get("timed_out") else ""]
                    + [""] * 3
                )
                continue
            table.append(
                [
                    name,
                    WHAT.get(name, ""),
                    f"{r['median_s']:,.1f}",
                    f"{r['values_per_s'] / 1e6:,.2f}" if "values_per_s" in r else "",
                    f"{r['median_s'] / duck:,.1f}x" if duck else "",
                    f"{r['peak_rss_mb']:,.0f}",
                    every_process(r),
                    report.cpu(r),
                    report.contention(r),
                    r.get("exact", ""),
                ]
            )
        out.append(report.markdown([*headers[:1], "what", *headers[1:]], table))
        big = rows.get("largest")
        if big and "publish_s" in big:
            out += [
                "",
                f"Largest vocabulary at {size}: {LARGEST}, {big['tokens']:,} tokens "
                f"(lookup ids checked: {big.get('lookup_ok')}; inspect answered: "
                f"{big.get('inspect_ok')})",
                "",
            ]
            lines = [
                [
                    "publish (VocabStore.publish)",
                    f"{big['publish_s']:.2f}",
                    f"{big['publish_s'] / big['pq_write_s']:.1f}x pyarrow.parquet write "
                    f"({big['pq_write_s']:.2f} s)",
                ],
                [
                    "load (VocabStore.load, verified)",
                    f"{big['load_again_s']:.2f}",
                    f"{big['load_again_s'] / big['pq_read_s']:.1f}x pyarrow.parquet read "
                    f"({big['pq_read_s']:.2f} s)",
                ],
                ["first load (from the build's store)", f"{big['load_s']:.2f}", ""],
                [
                    "vocabguard inspect --token (a process)",
                    f"{big['inspect_token_s']:.2f}",
                    f"of it start-up + imports {big['cli_start_s']:.2f} s",
                ],
            ]
            for form in ("numpy", "list", "arrow"):
                for n in LOOKUP_BATCHES:
                    key = f"lookup_{form}_{n}"
                    lines.append(
                        [
                            f"lookup of {LOOKUP_VALUES:,} values ({form}), batches of {n:,}",
                            f"{big[key + '_s']:.2f}",
                            f"{big[key + '_values_per_s'] / 1e6:.2f} M values/s",
                        ]
                    )
            lines.append(
                [
                    "vocabguard.tf.encode_fn table build (+ first call)",
                    f"{big['encode_fn_table_s']:.2f}",
                    "",
                ]
            )
            lines.append(
                [
                    "Keras StringLookup(vocabulary=) construction (+ first call)",
                    f"{big['keras_stringlookup_s']:.2f}",
                    f"{big['keras_stringlookup_s'] / big['encode_fn_table_s']:.1f}x encode_fn",
                ]
            )
            out.append(report.markdown(["step", "seconds", "beside"], lines))
            out += ["", f"Largest row: peak RSS {big['peak_rss_mb']:,.0f} MiB"]
        elif big:
            out += ["", f"Largest vocabulary at {size}: {big.get('error', '')}"]
    out += ["", "Goals:", ""] + [f"- {line}" for line in payload.get("goals", [])]
    out += [
        "",
        f"Wall time of the run: {payload.get('wall_s', 0):,.0f} s.",
        "",
        "Method: " + METHOD,
    ]
    return "\n".join(out) + "\n"


METHOD = (
    "each row is its own process (its own process group) on the same files; seconds: the "
    "work only (imports, reading for Keras, writing the check's copy not included); values/s: "
    "non-null values of the 26 columns / seconds; peak RSS: every process of the row's tree "
    "sampled every 0.1 s from /proc (sum, and each process' own peak); CPU s: the row's "
    "process and its waited-for children; other CPU cores: what the rest of the machine used "
    "meanwhile (above 0.25 the row was slowed by other work); exact: each vocabulary against "
    "DuckDB's count (vocabguard: tokens in order and counts; polars, pyarrow, TFT: (token, "
    "count) pairs; Keras: the token set)."
)


def write_outputs(args, payload: dict) -> None:
    payload["goals"] = goals(payload["results"])
    if args.json:
        report.write_json(args.json, payload)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(payload), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from harness.tft import TFT_VENV

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", nargs="+", default=list(criteo.SIZES), choices=list(criteo.SIZES)
    )
    parser.add_argument("--only", nargs="+", choices=ROWS, help="these rows")
    parser.add_argument("--skip", nargs="+", default=[], choices=ROWS, help="not these rows")
    parser.add_argument(
        "--rows-at",
        nargs="+",
        default=[],
        metavar="SIZE=ROW,ROW",
        help="at SIZE, only these rows (e.g. 45.8m=duckdb,vg-inproc,largest)",
    )
    parser.add_argument("--largest-at", default=None, help="size of the 'largest' row")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per row")
    parser.add_argument(
        "--row-timeout",
        nargs="+",
        default=[],
        metavar="ROW=SECONDS",
        help="a row's own limit (e.g. tft=1800), instead of --timeout",
    )
    parser.add_argument(
        "--no-predict", action="store_true", help="start rows predicted to exceed --timeout"
    )
    parser.add_argument("--json", type=Path, metavar="OUT")
    parser.add_argument("--markdown", type=Path, metavar="OUT", help="default: the JSON's .md")
    parser.add_argument("--table-from", type=Path, metavar="JSON", help="markdown of a run")
    parser.add_argument("--tft-venv", type=Path, default=TFT_VENV, help="TFT's virtualenv")
    parser.add_argument("--work", default=None, help="scratch directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the stores and outputs")
    parser.add_argument("--generate-only", action="store_true", help="write the files, no rows")
    parser.add_argument(
        "--gen-jobs", type=int, default=1, help="files written at once (threads; quiet machine: 2)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.data, args.work_dir)
    if args.table_from:
        text = markdown(json.loads(args.table_from.read_text(encoding="utf-8")))
        if args.markdown:
            args.markdown.write_text(text, encoding="utf-8")
        print(text)
        return 0
    if args.generate_only:
        for size in args.sizes:
            criteo.generate(criteo.SIZES[size], CACHE / size, jobs=args.gen_jobs)
        return 0
    if args.json and not args.markdown:
        args.markdown = args.json.with_suffix(".md")
    chosen = [r for r in (args.only or ROWS) if r not in args.skip]
    rows = [r for r in ROWS if r in chosen]
    largest_at = args.largest_at or args.sizes[-1]
    payload: dict = {
        "argv": sys.argv,
        "machine": machine.machine_facts(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "sizes": {},
        "results": {},
    }
    print(machine.describe(payload["machine"]), flush=True)
    started = time.perf_counter()
    rows_at = dict(item.split("=", 1) for item in args.rows_at)
    history: dict = {}
    for size in args.sizes:
        size_rows = [r for r in rows if r != "largest" or size == largest_at]
        if size in rows_at:
            size_rows = [r for r in size_rows if r in rows_at[size].split(",")]
        run_size(size, size_rows, args, payload, history)
        payload["wall_s"] = time.perf_counter() - started
        write_outputs(args, payload)
    payload["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload["wall_s"] = time.perf_counter() - started
    write_outputs(args, payload)
    print("\n".join(payload["goals"]))
    print(f"wall time of the run: {payload['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
