"""The build rows (one vocabulary, top-k, lowercase + whitespace split, from the same
files), and running one of them in its own process."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import tft
from harness.corpus import Corpus
from harness.dask_cluster import dask_cluster
from harness.process import run_measured
from harness.tasks import KERAS_BATCH

WORKER = Path(__file__).resolve().parent / "worker.py"
WORKER_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Row:
    tool: str
    what: str
    slow: bool = False  # measured --slow-repeat times
    tft_mode: str | None = None  # runs in .venv-tft through tft_worker.py
    dask_workers: int = 0  # runs against a fresh Dask cluster of this many workers

    @property
    def tft(self) -> bool:
        return self.tft_mode is not None


ROWS: dict[str, Row] = {
    "vg-beam-1": Row(
        "vocabguard Beam", "ReadRecordBatches | BuildVocabularies, DirectRunner, 1 worker"
    ),
    "vg-beam-2": Row("vocabguard Beam", "same, DirectRunner, 2 workers (multi_processing)"),
    "vg-dask-2": Row(
        "vocabguard Beam",
        "same, DaskRunner, dask.distributed scheduler + 2 worker processes (1 thread each)",
        dask_workers=2,
    ),
    "vg-inproc": Row("vocabguard", "build_vocabulary(read_documents(files)), in-process"),
    "pyarrow": Row(
        "pyarrow (bare)",
        "csv read + lower + split on whitespace (ascii_* kernels, utf8_* if not all ASCII) "
        "+ value_counts (counts only)",
    ),
    "keras": Row(
        "Keras",
        f"StringLookup.adapt(TextLineDataset.batch({KERAS_BATCH}).map(split(lower)))",
    ),
    "beam-wordcount": Row(
        "Beam (plain)",
        "ReadFromText | FlatMap(lower.split) | Count.PerElement | Top.Of, DirectRunner, 1 worker",
        slow=True,
    ),
    "tft-vocab": Row(
        "TFT",
        "tft.vocabulary(top_k) in AnalyzeDataset, DirectRunner",
        slow=True,
        tft_mode="vocabulary",
    ),
    "tft-approx": Row(
        "TFT",
        "tft.experimental.approximate_vocabulary(top_k) in AnalyzeDataset, DirectRunner",
        slow=True,
        tft_mode="approximate",
    ),
}
VOCABGUARD_ROWS = ("vg-beam-1", "vg-beam-2", "vg-dask-2", "vg-inproc")


def run_row(
    name: str,
    corpus: Corpus,
    *,
    top_k: int,
    repeat: int,
    work: str,
    tft_python: Path | None = None,
) -> dict:
    """Run row ``name`` ``repeat`` times in its own process; its result and measures."""
    row = ROWS[name]
    log_path = os.path.join(work, f"{name}.log")
    tokens_out = os.path.join(work, f"{name}.tokens")
    result_file = None
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    with (
        dask_cluster(row.dask_workers) if row.dask_workers else contextlib.nullcontext() as cluster
    ):
        if row.tft:
            result_file = os.path.join(work, f"{name}.json")
            command = tft.command(
                tft_python,
                row.tft_mode,
                corpus.pattern,
                top_k,
                repeat,
                work,
                result_file,
                tokens_out,
            )
        else:
            command = [sys.executable, str(WORKER), name, "--pattern", corpus.pattern]
            command += ["--top-k", str(top_k), "--repeat", str(repeat), "--work", work]
            if cluster is not None:
                command += ["--address", cluster.address]
        result = run_measured(
            command,
            log_path=log_path,
            timeout_s=WORKER_TIMEOUT_S,
            env=env,
            services=cluster.pids if cluster else (),
            result_file=result_file,
        )
    return {"row": name, "repeat": repeat, **result}


def largest_process_mb(result: dict) -> float:
    """The largest single process' peak RSS: sampled, or a process' own getrusage peak."""
    sampled = max((p["peak_mb"] for p in result.get("processes", [])), default=0.0)
    return max(
        sampled, result.get("self_peak_rss_mb", 0.0), result.get("children_peak_rss_mb", 0.0)
    )
