#!/usr/bin/env python
"""The TensorFlow Transform rows (``tft-vocab``, ``tft-approx``); run with ``.venv-tft``'s Python.

Usage (``harness.rows`` runs it; by hand)::

    .venv-tft/bin/python benchmarks/harness/tft_worker.py --mode vocabulary|approximate \\
        --pattern '.cache/bench/zipf_100mb_8shards/part-*.txt' --result OUT.json \\
        [--top-k 100000] [--repeat 1] [--tokens-out TOKENS] [--work DIR]

TFT 1.21 pins its own TensorFlow / tfx-bsl / Beam versions, so it lives in its own
virtualenv and this script imports nothing from vocabguard (from the harness only
``harness.process``, which is standard library only). Each timed run builds
and runs one pipeline on the DirectRunner (1 worker)::

    ReadFromText(pattern) | Map(line -> {"line": line})          # instance dicts
    (raw, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)  # the vocabulary pass
    transform_fn | tft_beam.WriteTransformFn(dir)                # writes assets/vocab

with ``tokens = tf.strings.split(tf.strings.lower(line, encoding="utf-8"))`` and
``tft.vocabulary(tokens, top_k=K)`` (``--mode vocabulary``) or
``tft.experimental.approximate_vocabulary(tokens, top_k=K)`` (``--mode approximate``).

``--mode categorical`` (``benchmarks/cardinality.py``'s ``tft`` row): the full
vocabulary (no top_k, ``store_frequency=True``) of each of ``--columns`` of the
Parquet files ``--pattern``, all in one ``AnalyzeDataset``, fed as TFX feeds TFT::

    ReadFromParquetBatched(pattern, columns)                     # a pyarrow.Table per row group
    | Map(table -> RecordBatch of list<binary> columns)          # a null is an empty list
    (batches, TensorAdapterConfig(varlen sparse per column)) | tft_beam.AnalyzeDataset(...)

Each column's vocabulary file (``count token`` lines) is written to ``--vocab-out``
as ``COLUMN.parquet`` (token binary, count int64) for the exactness check.

The result (seconds per run, peak RSS, versions) is written to ``--result`` as JSON,
and the vocabulary file of the last run to ``--tokens-out``. TFT 1.21 with TF 2.21
and Beam 2.77 can crash with SIGSEGV in interpreter teardown after all work is
done, so the process ends with ``os._exit`` once the result is on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # benchmarks/, not this folder

from harness.process import process_cpu_s, rusage_facts  # noqa: E402  (standard library only)


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for dist in (
        "tensorflow-transform",
        "tfx-bsl",
        "tensorflow",
        "apache-beam",
        "pyarrow",
        "numpy",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def measure(args) -> dict:
    started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import apache_beam as beam
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_transform.tf_metadata import dataset_metadata

    import_s = time.perf_counter() - started
    top_k = args.top_k
    metadata = dataset_metadata.DatasetMetadata.from_feature_spec(
        {"line": tf.io.FixedLenFeature([], tf.string)}
    )

    def preprocessing_fn(inputs):
        tokens = tf.strings.split(tf.strings.lower(inputs["line"], encoding="utf-8"))
        if args.mode == "approximate":
            tft.experimental.approximate_vocabulary(tokens, top_k=top_k, vocab_filename="vocab")
        else:
            tft.vocabulary(tokens, top_k=top_k, vocab_filename="vocab")
        return {"n": tokens.row_lengths()}

    def run_once(work: str) -> str:
        options = PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"])
        with beam.Pipeline(options=options) as p:
            with tft_beam.Context(temp_dir=os.path.join(work, "tmp")):
                raw = (
                    p
                    | "Read" >> beam.io.ReadFromText(args.pattern)
                    | "ToDict" >> beam.Map(lambda line: {"line": line})
                )
                transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
                _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(work, "out"))
        return os.path.join(work, "out", "transform_fn", "assets", "vocab")

    seconds = []  # not harness.process.timed: each run has its own directory, untimed
    cpu_timed = 0.0
    for _ in range(args.repeat):
        work = tempfile.mkdtemp(prefix=f"tft_{args.mode}_", dir=args.work)
        start, cpu_start = time.perf_counter(), process_cpu_s()
        vocab_file = run_once(work)
        seconds.append(time.perf_counter() - start)
        cpu_timed += process_cpu_s() - cpu_start
        if args.tokens_out:
            shutil.copy(vocab_file, args.tokens_out)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "row": "tft-vocab" if args.mode == "vocabulary" else "tft-approx",
        "mode": args.mode,
        **rusage_facts(seconds, cpu_timed),
        "import_s": import_s,
        "tokens_file": args.tokens_out,
        "versions": _versions(),
    }


def measure_categorical(args) -> dict:
    """Every column's full vocabulary (with counts) in one AnalyzeDataset, from Parquet."""
    started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import apache_beam as beam
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx_bsl.public import tfxio

    import_s = time.perf_counter() - started
    columns = args.columns.split(",")
    schema = pa.schema([(c, pa.list_(pa.binary())) for c in columns])
    representations = {
        c: schema_pb2.TensorRepresentation(
            varlen_sparse_tensor=schema_pb2.TensorRepresentation.VarLenSparseTensor(column_name=c)
        )
        for c in columns
    }

    def to_batch(table) -> pa.RecordBatch:
        """A Parquet row group as TFT reads it: one list<binary> per value (null: [])."""
        arrays = []
        for c in columns:
            column = table[c].combine_chunks()
            valid = column.is_valid().to_numpy(zero_copy_only=False)
            offsets = np.zeros(len(column) + 1, dtype=np.int32)
            np.cumsum(valid, out=offsets[1:])
            values = column.drop_null().cast(pa.binary())
            arrays.append(pa.ListArray.from_arrays(pa.array(offsets), values))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def preprocessing_fn(inputs):
        for c in columns:
            tft.vocabulary(inputs[c], vocab_filename=c, store_frequency=True)
        return {columns[0]: inputs[columns[0]]}  # AnalyzeDataset needs some output

    def run_once(work: str) -> str:
        options = PipelineOptions(["--runner=DirectRunner", "--direct_num_workers=1"])
        config = tfxio.TensorAdapterConfig(schema, representations)
        with beam.Pipeline(options=options) as p:
            with tft_beam.Context(temp_dir=os.path.join(work, "tmp")):
                batches = (
                    p
                    | "Read" >> beam.io.ReadFromParquetBatched(args.pattern, columns=columns)
                    | "ToLists" >> beam.Map(to_batch)
                )
                transform_fn = (batches, config) | tft_beam.AnalyzeDataset(preprocessing_fn)
                _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(work, "out"))
        return os.path.join(work, "out", "transform_fn", "assets")

    def save(assets: str) -> int:
        """Each ``count token`` vocabulary file as COLUMN.parquet; the tokens in all."""
        os.makedirs(args.vocab_out, exist_ok=True)
        total = 0
        for c in columns:
            with open(os.path.join(assets, c), "rb") as handle:
                pairs = [line.rstrip(b"\n").split(b" ", 1) for line in handle]
            table = pa.table(
                {
                    "token": pa.array([t for _, t in pairs], pa.binary()),
                    "count": pa.array([int(n) for n, _ in pairs], pa.int64()),
                }
            )
            pq.write_table(table, os.path.join(args.vocab_out, f"{c}.parquet"))
            total += len(table)
        return total

    seconds, cpu_timed, distinct = [], 0.0, 0
    for _ in range(args.repeat):
        work = tempfile.mkdtemp(prefix="tft_categorical_", dir=args.work)
        start, cpu_start = time.perf_counter(), process_cpu_s()
        assets = run_once(work)
        seconds.append(time.perf_counter() - start)
        cpu_timed += process_cpu_s() - cpu_start
        if args.vocab_out:  # after the clock: the check's copy, not TFT's work
            distinct = save(assets)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "row": "tft",
        "mode": args.mode,
        **rusage_facts(seconds, cpu_timed),
        "import_s": import_s,
        "distinct": distinct,
        "versions": _versions(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode", choices=("vocabulary", "approximate", "categorical"), default="vocabulary"
    )
    parser.add_argument("--pattern", required=True, help="glob of the input files")
    parser.add_argument("--columns", help="categorical: comma-separated Parquet columns")
    parser.add_argument("--vocab-out", help="categorical: COLUMN.parquet per vocabulary here")
    parser.add_argument("--top-k", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--result", required=True, help="JSON result file")
    parser.add_argument("--tokens-out", help="copy of the vocabulary file (last run)")
    parser.add_argument("--work", default=None, help="directory for temporary files")
    args = parser.parse_args()
    code = 0
    try:
        result = measure_categorical(args) if args.mode == "categorical" else measure(args)
    except BaseException as err:  # any failure, import errors included, goes to the result
        result = {"error": f"{type(err).__name__}: {err}"}
        traceback.print_exc()
        code = 1
    with open(args.result, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: TFT 1.21 / TF 2.21 / Beam 2.77 may segfault there.
    os._exit(code)


if __name__ == "__main__":
    main()
