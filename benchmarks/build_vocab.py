#!/usr/bin/env python
"""Build one top-100k vocabulary from one corpus with vocabguard (Beam and in-process) and peers.

Usage::

    python benchmarks/build_vocab.py [--mb 100] [--repeat 3] [--json OUT]
                                     [--corpus zipf|real] [--shards 8] [--skip-tft]
                                     [--only ROW ...] [--profile ROW]

Every row builds the same vocabulary: whitespace tokenization, lowercase, the
100,000 most frequent tokens (``--top-k``), from the same shard files:

- ``vg-beam-1``: ``p | ReadRecordBatches([pattern], ["text"]) | BuildVocabularies(
  {"text": Feature("text", NAME, VocabSpec(lowercase=True, max_tokens=K))}, store=TMPDIR)``
  on the DirectRunner with ``--direct_num_workers=1``;
- ``vg-beam-2``: the same with ``--direct_num_workers=2
  --direct_running_mode=multi_processing`` (two worker processes);
- ``vg-inproc``: ``build_vocabulary(read_documents([pattern]), spec)`` in one process
  (what ``vocabguard build`` runs);
- ``pyarrow``: bare pyarrow over the same files: ``csv.read_csv`` (one column, every
  line one value), ``ascii_lower`` + ``ascii_split_whitespace`` (the kernels
  vocabguard picks for ASCII text; ``utf8_*`` otherwise), ``value_counts``. Counts
  only, no top-k, no vocabulary object;
- ``keras``: ``StringLookup(max_tokens=K + 1, num_oov_indices=1, mask_token=None)
  .adapt(TextLineDataset(shards).batch(2048).map(split(lower(x, "utf-8"))))``;
- ``beam-wordcount``: plain Beam, ``ReadFromText | FlatMap(line.lower().split()) |
  Count.PerElement | Top.Of(K, key=(-count, token), reverse=True)``, DirectRunner,
  1 worker;
- ``tft-vocab``: TensorFlow Transform 1.21 ``tft.vocabulary(tokens, top_k=K)`` inside
  ``tft_beam.AnalyzeDataset`` on the DirectRunner (instance dicts from
  ``ReadFromText``; tokens ``tf.strings.split(tf.strings.lower(line, "utf-8"))``);
- ``tft-approx``: the same with ``tft.experimental.approximate_vocabulary(top_k=K)``.

TFT pins its own library versions, so its rows run in their own virtualenv
(``.venv-tft``, git-ignored) through ``benchmarks/tft_build.py``. When that
virtualenv is missing, this script creates it (``python -m venv .venv-tft`` and
``pip install tensorflow-transform==1.21.0``; a few minutes, once) and says so;
``--skip-tft`` leaves the TFT rows out. If TFT cannot be installed or imported, the
other rows still run and the output says ``TFT: not available (reason)``.

Corpus (``--corpus``): ``zipf`` (default) is ``benchmarks/gen_zipf.py``'s
deterministic synthetic Zipf text, ``--mb`` MB in ``--shards`` files under
``.cache/bench/`` (written once, reused): ~10.8 M tokens and ~770k distinct
tokens at 100 MB, so the top-100k cut is real. ``real`` is BBC News + the Brown
corpus (``data/``, ``python scripts/fetch_data.py --corpus all``; ~11 MB,
~90k distinct lowercased tokens, so "top-100k" keeps every token there) cut
into the same number of shards; ``--mb`` does not apply to it.

Method: every row runs in its own process (the Python of this virtualenv, or of
``.venv-tft``), ``--repeat`` times in that process (``--slow-repeat`` for the slow
peers ``beam-wordcount``, ``tft-vocab`` and ``tft-approx``), and the median is
reported. The timer covers the work from the files on disk to a vocabulary (for
Beam rows: building and running the pipeline, including writing the vocabulary:
vocabguard's store publish, TFT's ``WriteTransformFn``, the word count's token
file), not interpreter start-up or imports. tokens/s = the corpus' token count
(from the corpus manifest; rows that count tokens themselves are checked against
it) / median seconds. Peak RSS is for the whole process tree: the row's process
and every process it starts (the Beam multi_processing workers), summed, sampled
every 0.1 s from ``/proc`` (and never below the row process's own
``getrusage`` peak); shared pages count once per process. Nothing asserts on
timings; the numbers describe this machine, this load, these versions.

After the table the script prints checks (vocabguard's Beam with 1 and 2 workers
and the in-process build give one fingerprint; their tokens, in id order, equal
the plain Beam word count's top-k and the exact top-k computed from pyarrow's
counts, count descending then UTF-8 bytes ascending; whether the Keras and TFT
vocabularies are valid top-k sets), the targets of the issue with met / missed,
and the machine.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_zipf  # noqa: E402  (benchmarks/ is not a package)

TOP_K = 100_000
FEATURE_NAME = "bench_text"
DEFAULT_MB = 100.0
DEFAULT_SHARDS = 8
KERAS_BATCH = 2048
TFT_VERSION = "1.21.0"
TFT_VENV = REPO / ".venv-tft"
TFT_SCRIPT = Path(__file__).resolve().parent / "tft_build.py"
REAL_SOURCES = (
    REPO / "data" / "bbc_news" / "articles.txt",
    REPO / "data" / "brown" / "sentences.txt",
)
WORKER_TIMEOUT_S = 1800
RSS_SAMPLE_S = 0.1
RESULT_PREFIX = "RESULT "


@dataclass(frozen=True)
class Row:
    tool: str
    what: str
    slow: bool = False  # measured --slow-repeat times
    tft: bool = False  # runs in .venv-tft through tft_build.py


ROWS: dict[str, Row] = {
    "vg-beam-1": Row(
        "vocabguard Beam", "ReadRecordBatches | BuildVocabularies, DirectRunner, 1 worker"
    ),
    "vg-beam-2": Row(
        "vocabguard Beam",
        "same, DirectRunner, 2 workers (multi_processing)",
    ),
    "vg-inproc": Row("vocabguard", "build_vocabulary(read_documents(shards)), in-process"),
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
        tft=True,
    ),
    "tft-approx": Row(
        "TFT",
        "tft.experimental.approximate_vocabulary(top_k) in AnalyzeDataset, DirectRunner",
        slow=True,
        tft=True,
    ),
}
VOCABGUARD_ROWS = ("vg-beam-1", "vg-beam-2", "vg-inproc")

# -- corpus -------------------------------------------------------------------


def _real_corpus(shards: int) -> dict:
    """BBC News + Brown, one document per line, cut into ``shards`` files (once)."""
    missing = [str(p) for p in REAL_SOURCES if not p.is_file()]
    if missing:
        raise SystemExit(
            f"error: {', '.join(missing)} not found. Fetch the real corpora first with:\n"
            "    python scripts/fetch_data.py --corpus all"
        )
    folder = REPO / ".cache" / "bench" / f"real_bbc_brown_{shards}shards"
    manifest_path = folder / "MANIFEST.json"
    sources = [{"path": str(p.relative_to(REPO)), "bytes": p.stat().st_size} for p in REAL_SOURCES]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest["sources"] == sources and all(
            (folder / f["name"]).stat().st_size == f["bytes"] for f in manifest["files"]
        ):
            return manifest
    except (OSError, ValueError, KeyError):
        pass
    lines: list[bytes] = []
    for path in REAL_SOURCES:
        lines.extend(path.read_bytes().rstrip(b"\n").split(b"\n"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("part-*.txt"):
        old.unlink()
    files = []
    per = -(-len(lines) // shards)
    for index in range(shards):
        part = lines[index * per : (index + 1) * per]
        data = b"".join(line + b"\n" for line in part)
        name = gen_zipf.shard_name(index, shards)
        (folder / name).write_bytes(data)
        files.append({"name": name, "bytes": len(data), "lines": len(part)})
    distinct: set[str] = set()
    tokens = 0
    for line in lines:
        words = line.decode("utf-8").lower().split()
        tokens += len(words)
        distinct.update(words)
    manifest = {
        "sources": sources,
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "lines": len(lines),
        "tokens": tokens,  # str.split(); the rows' own counts are checked against it
        "distinct_tokens": len(distinct),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def prepare_corpus(kind: str, mb: float, shards: int) -> tuple[str, dict, str]:
    """(glob pattern of the shard files, manifest, description)."""
    if kind == "zipf":
        folder = gen_zipf.corpus_dir(mb, shards)
        manifest = gen_zipf.existing(mb, shards)
        if manifest is None:
            # In a child process: the generator needs ~0.5 GB, and this process stays small
            # (a child started with vfork reports its parent's peak RSS as its own).
            script = Path(gen_zipf.__file__).resolve()
            command = [sys.executable, str(script), "--mb", f"{mb:g}", "--shards", str(shards)]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            manifest = gen_zipf.existing(mb, shards)
        description = (
            f"synthetic Zipf (s={gen_zipf.ZIPF_S}, {gen_zipf.LEXICON:,}-word lexicon, "
            f"seed {gen_zipf.SEED}; benchmarks/gen_zipf.py)"
        )
    else:
        manifest = _real_corpus(shards)
        folder = REPO / ".cache" / "bench" / f"real_bbc_brown_{shards}shards"
        description = "real text: BBC News articles + Brown corpus sentences (data/)"
    return str(folder / "part-*.txt"), manifest, description


# -- worker side (one row per process) -------------------------------------------


def _peak_rss_mb(who: int) -> float:
    peak = resource.getrusage(who).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _write_tokens(path: str, tokens: list) -> None:
    """One token per line (tokens hold no whitespace), UTF-8."""
    data = [t if isinstance(t, bytes) else str(t).encode("utf-8") for t in tokens]
    Path(path).write_bytes(b"".join(t + b"\n" for t in data))


def _beam_options(workers: int) -> list[str]:
    options = ["--runner=DirectRunner", f"--direct_num_workers={workers}"]
    if workers > 1:
        options.append("--direct_running_mode=multi_processing")
    return options


def task_vg_beam(workers: int):
    def task(pattern: str, top_k: int, work: str):
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        from vocabguard import VocabSpec, VocabStore
        from vocabguard.beam import BuildVocabularies, Feature, ReadRecordBatches

        spec = VocabSpec(lowercase=True, max_tokens=top_k)
        options = _beam_options(workers)

        def run() -> str:
            store = tempfile.mkdtemp(prefix="store_", dir=work)
            with beam.Pipeline(options=PipelineOptions(options)) as p:
                _ = (
                    p
                    | ReadRecordBatches([pattern], ["text"])
                    | BuildVocabularies({"text": Feature("text", FEATURE_NAME, spec)}, store=store)
                )
            return store

        def after(store: str, out: str) -> dict:
            vocab = VocabStore(store).load(f"{FEATURE_NAME}@latest")
            _write_tokens(out, vocab.token_bytes[vocab.layout.num_reserved :])  # learned, id order
            return {
                "fingerprint": vocab.fingerprint,
                "tokens": vocab.stats["total_tokens"],
                "distinct": vocab.stats["distinct_tokens"],
            }

        return run, after

    return task


def task_vg_inproc(pattern: str, top_k: int, work: str):
    from vocabguard import VocabSpec, build_vocabulary
    from vocabguard._src.engines.readers import read_documents

    spec = VocabSpec(lowercase=True, max_tokens=top_k)

    def run():
        return build_vocabulary(read_documents([pattern]), spec, progress=False)

    def after(vocab, out: str) -> dict:
        _write_tokens(out, vocab.token_bytes[vocab.layout.num_reserved :])  # learned, id order
        return {
            "fingerprint": vocab.fingerprint,
            "tokens": vocab.stats["total_tokens"],
            "distinct": vocab.stats["distinct_tokens"],
        }

    return run, after


def task_pyarrow(pattern: str, top_k: int, work: str):
    import glob

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    files = sorted(glob.glob(pattern))
    read_options = csv.ReadOptions(column_names=["text"], block_size=32 << 20)
    # One column, no quoting: every line is one value, as in the other rows.
    parse_options = csv.ParseOptions(
        delimiter="\x1f",
        quote_char=False,
        escape_char=False,
        double_quote=False,
        ignore_empty_lines=False,
    )
    convert_options = csv.ConvertOptions(
        column_types={"text": pa.string()}, strings_can_be_null=False
    )

    def run():
        chunks = []
        for path in files:
            table = csv.read_csv(path, read_options, parse_options, convert_options)
            chunks.extend(table.column("text").chunks)
        text = pa.chunked_array(chunks, type=pa.string())
        if pc.all(pc.string_is_ascii(text)).as_py() is not False:
            lists = pc.ascii_split_whitespace(pc.ascii_lower(text))
        else:
            lists = pc.utf8_split_whitespace(pc.utf8_lower(text))
        return pc.value_counts(pc.list_flatten(lists))

    def after(tallies, out: str) -> dict:
        # Untimed: the reference for the checks. Every token counted at least as often
        # as the top_k-th token, with its count (any exact top-k is drawn from these).
        values, counts = tallies.field("values"), tallies.field("counts")
        keep = pc.greater(pc.binary_length(values), 0)  # edge whitespace gives ""
        values, counts = values.filter(keep), counts.filter(keep)
        array = counts.to_numpy()
        kth = int(np.sort(array)[-top_k]) if len(array) >= top_k else int(array.min())
        at_least = pc.greater_equal(counts, kth)
        pairs = zip(values.filter(at_least).to_pylist(), counts.filter(at_least).to_pylist())
        Path(out + ".counts").write_text(
            "".join(f"{count}\t{token}\n" for token, count in pairs), encoding="utf-8"
        )
        return {
            "tokens": int(array.sum()),
            "distinct": len(array),
            "reference_counts": out + ".counts",
        }

    return run, after


def task_keras(pattern: str, top_k: int, work: str):
    import glob

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    files = sorted(glob.glob(pattern))

    def tokenize(lines):
        return tf.strings.split(tf.strings.lower(lines, encoding="utf-8"))

    def run():
        dataset = (
            tf.data.TextLineDataset(files)
            .batch(KERAS_BATCH)
            .map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )
        # max_tokens counts the OOV index: top_k learned tokens + 1 OOV, no mask token.
        layer = keras.layers.StringLookup(max_tokens=top_k + 1, num_oov_indices=1, mask_token=None)
        layer.adapt(dataset)
        return layer.get_vocabulary()[1:]

    def after(tokens, out: str) -> dict:
        _write_tokens(out, tokens)
        return {"keras": keras.__version__, "tensorflow": tf.__version__}

    return run, after


def task_beam_wordcount(pattern: str, top_k: int, work: str):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    options = _beam_options(1)
    target = os.path.join(work, "wordcount.tokens")
    counter = beam.metrics.Metrics.counter("bench", "tokens")

    def split(line: str) -> list[str]:
        tokens = line.lower().split()
        counter.inc(len(tokens))
        return tokens

    def write(top: list) -> None:
        _write_tokens(target, [token for token, _ in top])

    def run():
        p = beam.Pipeline(options=PipelineOptions(options))
        _ = (
            p
            | beam.io.ReadFromText(pattern)
            | beam.FlatMap(split)
            | beam.combiners.Count.PerElement()
            # key (-count, token), smallest first: count descending, then token ascending.
            | beam.combiners.Top.Of(top_k, key=lambda kv: (-kv[1], kv[0]), reverse=True)
            | beam.Map(write)
        )
        result = p.run()
        result.wait_until_finish()
        return result

    def after(result, out: str) -> dict:
        shutil.move(target, out)
        counted = result.metrics().query(beam.metrics.MetricsFilter().with_name("tokens"))
        found = [c.committed for c in counted["counters"]]
        return {"tokens": found[0]} if found else {}

    return run, after


TASKS: dict[str, Callable] = {
    "vg-beam-1": task_vg_beam(1),
    "vg-beam-2": task_vg_beam(2),
    "vg-inproc": task_vg_inproc,
    "pyarrow": task_pyarrow,
    "keras": task_keras,
    "beam-wordcount": task_beam_wordcount,
}


def worker(name: str, pattern: str, top_k: int, repeat: int, work: str) -> dict:
    import logging

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    run, after = TASKS[name](pattern, top_k, work)
    import_s = time.perf_counter() - started
    seconds, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        seconds.append(time.perf_counter() - start)
    tokens_file = os.path.join(work, f"{name}.tokens")
    facts = after(out, tokens_file)
    return {
        "row": name,
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "import_s": import_s,
        "tokens_file": tokens_file,
        "self_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_SELF),
        "children_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
        "cpu_self_s": _cpu_s(resource.RUSAGE_SELF),
        "cpu_children_s": _cpu_s(resource.RUSAGE_CHILDREN),
        **facts,
    }


# -- parent side ------------------------------------------------------------------


def _process_tree_rss_mb(root: int) -> tuple[float, int]:
    """Summed VmRSS of ``root`` and all its descendants (MB), and how many processes."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    total_kb, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
                        count += 1
                        break
        except OSError:
            continue
        todo.extend(parents.get(pid, []))
    return total_kb / 1024, count


def _machine_busy_s() -> float | None:
    """CPU seconds all processes on this machine have used since boot (/proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(values[:7]) - values[3] - values[4]  # user..softirq, minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


class TreeRssSampler(threading.Thread):
    """Samples the summed RSS of a process tree every ``RSS_SAMPLE_S`` seconds."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self.max_processes = 0
        self.done = threading.Event()

    def run(self) -> None:
        supported = os.path.isdir("/proc")
        while supported and not self.done.wait(RSS_SAMPLE_S):
            total, count = _process_tree_rss_mb(self.pid)
            self.peak_mb = max(self.peak_mb, total)
            self.max_processes = max(self.max_processes, count)


def run_row(name: str, args, pattern: str, work: str, tft_python: Path | None) -> dict:
    row = ROWS[name]
    repeat = args.slow_repeat if row.slow else args.repeat
    log_path = os.path.join(work, f"{name}.log")
    if row.tft:
        result_path = os.path.join(work, f"{name}.json")
        command = [
            str(tft_python),
            str(TFT_SCRIPT),
            "--mode",
            "vocabulary" if name == "tft-vocab" else "approximate",
            "--pattern",
            pattern,
            "--top-k",
            str(args.top_k),
            "--repeat",
            str(repeat),
            "--work",
            work,
            "--result",
            result_path,
            "--tokens-out",
            os.path.join(work, f"{name}.tokens"),
        ]
    else:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            name,
            "--pattern",
            pattern,
            "--top-k",
            str(args.top_k),
            "--repeat",
            str(repeat),
            "--work",
            work,
        ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    load_before = os.getloadavg()[0]
    busy_before = _machine_busy_s()
    cpu_before = _cpu_s(resource.RUSAGE_CHILDREN) + _cpu_s(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        sampler = TreeRssSampler(process.pid)
        sampler.start()
        try:
            stdout, _ = process.communicate(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            stdout = None
        sampler.done.set()
        sampler.join()
    wall = time.perf_counter() - started
    busy_after = _machine_busy_s()
    own_cpu = _cpu_s(resource.RUSAGE_CHILDREN) + _cpu_s(resource.RUSAGE_SELF) - cpu_before
    base = {"row": name, "repeat": repeat, "process_wall_s": wall, "log": log_path}
    if busy_before is not None and busy_after is not None and wall > 0:
        # CPU that processes outside this benchmark used while the row ran, in cores.
        base["other_cpu_cores"] = round(max(0.0, busy_after - busy_before - own_cpu) / wall, 2)
    if stdout is None:
        return {**base, "error": f"timed out after {WORKER_TIMEOUT_S} s"}
    result = None
    if row.tft:
        try:
            result = json.loads(Path(result_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = None
    else:
        for line in reversed(stdout.splitlines()):
            if line.startswith(RESULT_PREFIX):
                result = json.loads(line[len(RESULT_PREFIX) :])
                break
    if result is None or "error" in result:
        tail = Path(log_path).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        reason = (
            (result or {}).get("error") or " | ".join(tail[-3:]) or f"exit {process.returncode}"
        )
        return {**base, "error": reason, "returncode": process.returncode}
    result.update(base)
    result["exit_code"] = process.returncode  # TFT ends itself with os._exit(0)
    result["tree_peak_rss_mb"] = sampler.peak_mb
    result["max_processes"] = sampler.max_processes
    result["peak_rss_mb"] = max(sampler.peak_mb, result.get("self_peak_rss_mb", 0.0))
    result["load_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def ensure_tft(venv: Path) -> tuple[Path | None, str | None]:
    """The .venv-tft interpreter, created when missing; or (None, why not)."""
    python = venv / "bin" / "python"
    if python.exists():
        return python, None
    print(
        f"TFT: {venv} is missing; creating it now: python -m venv {venv.name} && "
        f"{venv.name}/bin/pip install tensorflow-transform=={TFT_VERSION} "
        "(a few minutes, once; --skip-tft leaves the TFT rows out) ...",
        flush=True,
    )
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", f"tensorflow-transform=={TFT_VERSION}"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
            return None, f"`{' '.join(step[-3:])}` failed: {' | '.join(tail)}"
    print(f"TFT: {venv} is ready", flush=True)
    return python, None


# -- checks and report -------------------------------------------------------------


def _read_tokens(path: str) -> list[bytes]:
    return Path(path).read_bytes().split(b"\n")[:-1]


def _reference(results: dict, top_k: int) -> tuple[dict, list[bytes]] | None:
    """Counts of every token that can be in a top-k, and the exact top-k (count desc, bytes asc)."""
    pyarrow = results.get("pyarrow", {})
    if "reference_counts" not in pyarrow:
        return None
    counts: dict[bytes, int] = {}
    for line in Path(pyarrow["reference_counts"]).read_bytes().split(b"\n")[:-1]:
        count, token = line.split(b"\t", 1)
        counts[token] = int(count)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return counts, [token for token, _ in order]


def _describe_topk(tokens: list[bytes], counts: dict, exact: list[bytes]) -> dict:
    """How a tool's vocabulary compares with the exact top-k."""
    kth = counts[exact[-1]] if exact else 0
    must = {t for t in exact if counts[t] > kth}  # in every exact top-k, whatever the tie rule
    have = set(tokens)
    got = [counts.get(t, 0) for t in tokens]
    valid = (
        len(tokens) == len(exact)
        and len(have) == len(tokens)
        and sorted(got) == sorted(counts[t] for t in exact)
    )
    ordered = all(a >= b for a, b in itertools.pairwise(got))
    ties = [(a, b) for a, b, ca, cb in zip(tokens, tokens[1:], got, got[1:]) if ca == cb]
    if not ties:
        tie_order = "none"
    elif all(a < b for a, b in ties):
        tie_order = "bytes ascending"
    elif all(a > b for a, b in ties):
        tie_order = "bytes descending"
    else:
        tie_order = "mixed"
    return {
        "same_as_exact": tokens == exact,
        "valid_topk": valid,
        "count_ordered": ordered,
        "tie_order": tie_order,
        "recall_above_cut": len(must & have) / len(must) if must else 1.0,
        "overlap": len(have & set(exact)) / len(exact) if exact else 1.0,
        "kth_count": kth,
    }


def checks(results: dict, manifest_tokens: int, top_k: int) -> list[str]:
    notes = []
    ok = {name: r for name, r in results.items() if "error" not in r}
    fingerprints = {name: ok[name]["fingerprint"] for name in VOCABGUARD_ROWS if name in ok}
    if len(fingerprints) > 1:
        if len(set(fingerprints.values())) == 1:
            notes.append(
                f"OK: same fingerprint {next(iter(fingerprints.values()))[:16]} from "
                + ", ".join(fingerprints)
            )
        else:
            notes.append(f"MISMATCH: fingerprints differ: {fingerprints}")
    counted = {name: r["tokens"] for name, r in ok.items() if r.get("tokens") is not None}
    wrong = {name: n for name, n in counted.items() if n != manifest_tokens}
    if counted and not wrong:
        notes.append(
            f"OK: {', '.join(counted)} counted {manifest_tokens:,} tokens, as the corpus manifest"
        )
    elif wrong:
        notes.append(
            f"MISMATCH: token counts differ from the manifest's {manifest_tokens:,}: {wrong}"
        )
    tokens = {name: _read_tokens(r["tokens_file"]) for name, r in ok.items() if name != "pyarrow"}
    reference = _reference(results, top_k)
    if "beam-wordcount" in tokens:
        wordcount = tokens["beam-wordcount"]
        for name in VOCABGUARD_ROWS:
            if name in tokens:
                same = tokens[name] == wordcount
                notes.append(
                    f"{'OK' if same else 'MISMATCH'}: {name} tokens in id order "
                    f"{'==' if same else '!='} plain Beam word count's Top.Of "
                    f"({len(wordcount):,} tokens, count desc then bytes asc)"
                )
    if reference is not None:
        counts, exact = reference
        for name, got in tokens.items():
            info = _describe_topk(got, counts, exact)
            results[name]["topk_check"] = info
            if info["same_as_exact"]:
                notes.append(
                    f"OK: {name} == the exact top-{len(exact):,} from pyarrow's counts "
                    "(count desc, bytes asc)"
                )
                continue
            kind = "OK" if info["valid_topk"] else "NOTE"
            notes.append(
                f"{kind}: {name}: "
                + ("a valid exact top-k set" if info["valid_topk"] else "NOT an exact top-k")
                + f", ties at the cut (count {info['kth_count']}) {info['tie_order']}, "
                f"{'count-ordered' if info['count_ordered'] else 'NOT count-ordered'}; holds "
                f"{info['recall_above_cut']:.1%} of the tokens every exact top-k holds, "
                f"{info['overlap']:.1%} overlap with vocabguard's"
            )
    return notes


def _speed(r: dict | None, tokens: int) -> float | None:
    if not r or "error" in r or not r.get("median_s"):
        return None
    return tokens / r["median_s"]


def targets(results: dict, tokens: int, corpus_mb: float) -> list[str]:
    """The issue's targets, each with the measured numbers and met / missed."""
    speed = {name: _speed(results.get(name), tokens) for name in ROWS}
    lines = []

    def verdict(ok: bool) -> str:
        return "MET" if ok else "MISSED"

    for peer, need, label in (
        ("tft-vocab", 10.0, "TFT tft.vocabulary"),
        ("tft-approx", 2.5, "TFT approximate_vocabulary"),
    ):
        if speed[peer] is None:
            lines.append(
                f"Beam build >= {need:g}x {label} throughput: not measured (no {peer} row)"
            )
            continue
        for name in ("vg-beam-1", "vg-beam-2"):
            if speed[name] is None:
                continue
            ratio = speed[name] / speed[peer]
            lines.append(
                f"Beam build ({name}) >= {need:g}x {label} throughput: {ratio:.2f}x "
                f"({speed[name] / 1e6:.2f} vs {speed[peer] / 1e6:.3f} M tokens/s) -> {verdict(ratio >= need)}"
            )
    inproc, bare = results.get("vg-inproc"), results.get("pyarrow")
    if speed["vg-inproc"] and speed["pyarrow"]:
        ratio = inproc["median_s"] / bare["median_s"]
        lines.append(
            f"in-process build <= 1.2x the time of bare pyarrow split+value_counts: {ratio:.2f}x "
            f"({inproc['median_s']:.2f} s vs {bare['median_s']:.2f} s) -> {verdict(ratio <= 1.2)}"
        )
    if speed["vg-beam-1"] and speed["vg-beam-2"]:
        one, two = results["vg-beam-1"]["median_s"], results["vg-beam-2"]["median_s"]
        lines.append(
            f"2 workers >= 1.6x faster than 1 worker: {one / two:.2f}x ({one:.1f} s -> {two:.1f} s) "
            f"-> {verdict(one / two >= 1.6)}"
        )
    peaks = {
        name: results[name]["peak_rss_mb"]
        for name in VOCABGUARD_ROWS
        if speed.get(name) is not None
    }
    if peaks:
        # RSS values are MiB; "1 GB" is taken as 1 GiB = 1,024 MiB (decimal GB shown too).
        if corpus_mb >= 1000:
            listed = ", ".join(
                f"{name} {mib:,.0f} MiB ({mib * 2**20 / 1e9:.2f} GB) {verdict(mib < 1024)}"
                for name, mib in peaks.items()
            )
            lines.append(f"peak memory for a 1 GB corpus < 1 GiB (1,024 MiB): {listed}")
        else:
            listed = ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in peaks.items())
            lines.append(
                f"peak memory for a 1 GB corpus < 1 GiB: NOT MEASURED at 1 GB (this run: "
                f"{corpus_mb:.0f} MB; peak RSS here {listed}; run --mb 1000 to measure)"
            )
    return lines


def markdown_table(results: dict, order: list[str], tokens: int) -> str:
    head = (
        "| row | tool | what | tokens | seconds (median) | runs | tokens/s | peak RSS MB "
        "| vs TFT exact |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    tft = _speed(results.get("tft-vocab"), tokens)
    for name in order:
        row, r = ROWS[name], results[name]
        what = row.what.replace("|", "\\|")
        if "error" in r:
            error = r["error"][:200].replace("|", "/")
            lines.append(f"| {name} | {row.tool} | {what} | failed: {error} | | | | | |")
            continue
        speed = _speed(r, tokens)
        ratio = f"{speed / tft:.2f}x" if tft else "n/a"
        rss = f"{r['peak_rss_mb']:,.0f}"
        if r.get("max_processes", 1) > 1:
            rss += f" ({r['max_processes']} procs)"
        lines.append(
            f"| {name} | {row.tool} | {what} | {tokens:,} | {r['median_s']:.2f} "
            f"| {r['repeat']} | {speed / 1e6:.2f} M | {rss} | {ratio} |"
        )
    return "\n".join(lines)


def source_facts() -> dict:
    """Which vocabguard source the rows import: its folder, a hash of its .py files, and
    (inside this repository) the commit and whether vocabguard/ has uncommitted edits."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("vocabguard")  # honours PYTHONPATH, imports nothing
    if spec is None or not spec.origin:
        return {"path": None}
    folder = Path(spec.origin).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    facts = {"path": str(folder), "py_sha256": digest.hexdigest()[:12]}
    if folder.is_relative_to(REPO):

        def git(*command: str) -> str | None:
            try:
                done = subprocess.run(
                    ["git", *command], cwd=REPO, capture_output=True, check=True, timeout=30
                )
            except (OSError, subprocess.SubprocessError):
                return None
            return done.stdout.decode("utf-8", "replace")

        head = git("rev-parse", "--short", "HEAD")
        diff = git("diff", "HEAD", "--stat", "--", str(folder))
        facts["commit"] = head.strip() if head else None
        facts["uncommitted_edits"] = None if diff is None else bool(diff.strip())
    return facts


def _describe_source(facts: dict) -> str:
    text = f"{facts.get('path')} (.py sha256 {facts.get('py_sha256')}"
    if "commit" in facts:
        edits = facts["uncommitted_edits"]
        text += f", commit {facts['commit']}" + (", with uncommitted edits" if edits else "")
    return text + ")"


def machine_facts(tft_versions: dict | None) -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory_gb = None

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(memory_gb, 1) if memory_gb else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "vocabguard": version("vocabguard"),
        "apache_beam": version("apache-beam"),
        "pyarrow": version("pyarrow"),
        "numpy": version("numpy"),
        "tensorflow": version("tensorflow"),
        "keras": version("keras"),
        "tft_env": tft_versions,
        "source": source_facts(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


# -- profile ----------------------------------------------------------------------


def profile(name: str, pattern: str, top_k: int, top: int) -> None:
    """cProfile one run of a row in this process (Beam: 1 worker runs in-process)."""
    import cProfile
    import pstats

    work = tempfile.mkdtemp(prefix="build_vocab_profile_")
    try:
        run, _ = TASKS[name](pattern, top_k, work)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        run()
        profiler.disable()
        print(f"cProfile of {name} ({time.perf_counter() - started:.1f} s under the profiler)")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stages(pattern: str, top_k: int) -> None:
    """Time cumulative prefixes of vocabguard's Beam build (DirectRunner, 1 worker, in-process).

    Each line runs a longer prefix of the pipeline; the difference between two lines
    is what the added step costs. The counting step uses ``vocabguard._src.engines.beam.build._CountTokens``
    (private: if its signature changes, that line reports the error and the rest runs).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from vocabguard import VocabSpec
    from vocabguard.beam import BuildVocabularies, Feature, ReadRecordBatches

    feature = Feature("text", FEATURE_NAME, VocabSpec(lowercase=True, max_tokens=top_k))
    options = PipelineOptions(_beam_options(1))

    def read(p):
        return p | ReadRecordBatches([pattern], ["text"])

    def counted(p):
        from vocabguard._src.engines.beam.build import _CountTokens

        step = beam.ParDo(_CountTokens([feature], "fail")).with_outputs("stats", main="counts")
        return (read(p) | step).counts

    def count_elements(pcoll) -> None:
        _ = (
            pcoll
            | beam.combiners.Count.Globally()
            | beam.Map(lambda n: print(f"    ({n:,} elements out)", flush=True))
        )

    prefixes = [
        ("empty pipeline: Create | Map", lambda p: p | beam.Create([1]) | beam.Map(lambda x: x)),
        ("ReadRecordBatches", read),
        ("+ _CountTokens (tokenize and count each batch)", counted),
    ]
    print(f"stages of vocabguard's Beam build, DirectRunner 1 worker, {pattern}:")
    for label, build in prefixes:
        started = time.perf_counter()
        try:
            with beam.Pipeline(options=options) as p:
                count_elements(build(p))
        except Exception as err:  # a private step changed: report it, go on
            print(f"  failed: {label}: {type(err).__name__}: {str(err)[:200]}", flush=True)
            continue
        print(f"  {time.perf_counter() - started:6.1f} s  {label}", flush=True)
    started = time.perf_counter()
    with beam.Pipeline(options=options) as p:
        store = tempfile.mkdtemp(prefix="stages_")
        _ = read(p) | BuildVocabularies({"text": feature}, store=store)
    print(
        f"  {time.perf_counter() - started:6.1f} s  full BuildVocabularies "
        "(+ merging counts, selection, stats, publish)",
        flush=True,
    )
    shutil.rmtree(store, ignore_errors=True)


# -- main -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="vocabguard's Beam and in-process vocabulary build next to TFT, Keras, "
        "plain Beam and pyarrow, on the same corpus.",
    )
    parser.add_argument("--mb", type=float, default=DEFAULT_MB, help="Zipf corpus size in MB")
    parser.add_argument("--corpus", choices=("zipf", "real"), default="zipf")
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS, help="input files")
    parser.add_argument("--top-k", type=int, default=TOP_K, help="vocabulary size (learned tokens)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (median)")
    parser.add_argument(
        "--slow-repeat",
        type=int,
        default=None,
        help="timed runs for beam-wordcount, tft-vocab, tft-approx (default: --repeat)",
    )
    parser.add_argument("--only", nargs="+", choices=sorted(ROWS), help="run only these rows")
    parser.add_argument("--skip-tft", action="store_true", help="leave out the TFT rows")
    parser.add_argument("--tft-venv", type=Path, default=TFT_VENV, help="TFT's virtualenv")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", choices=sorted(TASKS), help="cProfile one row, no table")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument(
        "--stages", action="store_true", help="time prefixes of vocabguard's Beam build, no table"
    )
    parser.add_argument("--worker", choices=sorted(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--pattern", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.slow_repeat is None:
        args.slow_repeat = args.repeat
    if min(args.repeat, args.slow_repeat, args.shards, args.top_k) < 1 or args.mb <= 0:
        parser.error("--repeat, --slow-repeat, --shards, --top-k must be >= 1 and --mb > 0")

    if args.worker:
        result = worker(args.worker, args.pattern, args.top_k, args.repeat, args.work)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    pattern, manifest, description = prepare_corpus(args.corpus, args.mb, args.shards)
    tokens = manifest["tokens"]
    corpus_mb = manifest["bytes"] / 1e6
    if args.profile:
        profile(args.profile, pattern, args.top_k, args.top)
        return 0
    if args.stages:
        stages(pattern, args.top_k)
        return 0

    names = [n for n in (args.only or ROWS) if not (args.skip_tft and ROWS[n].tft)]
    names = [n for n in ROWS if n in names]  # table order
    tft_python, tft_reason = None, None
    if any(ROWS[n].tft for n in names):
        tft_python, tft_reason = ensure_tft(args.tft_venv)
        if tft_python is None:
            names = [n for n in names if not ROWS[n].tft]
    print(
        f"corpus: {description}; {corpus_mb:.1f} MB in {len(manifest['files'])} files "
        f"({pattern}), {manifest['lines']:,} lines, {tokens:,} tokens; top-{args.top_k:,}, "
        f"lowercase + whitespace split; {args.repeat} timed runs per row "
        f"({args.slow_repeat} for the slow peers), median reported; one process per row",
        flush=True,
    )
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    source_at_start = source_facts()
    work = tempfile.mkdtemp(prefix="build_vocab_")
    results: dict = {}
    try:
        for name in names:
            repeat = args.slow_repeat if ROWS[name].slow else args.repeat
            print(f"  running {name} ({repeat} run{'s' if repeat > 1 else ''}) ...", flush=True)
            results[name] = run_row(name, args, pattern, work, tft_python)
            r = results[name]
            if "error" in r:
                print(f"    failed: {r['error'][:300]}", flush=True)
                if ROWS[name].tft and (
                    "ImportError" in r["error"] or "ModuleNotFound" in r["error"]
                ):
                    tft_reason = (
                        f"import failed in {args.tft_venv}: {r['error'][:200]}; delete it to "
                        "have it created again"
                    )
            else:
                runs = ", ".join(f"{s:.2f}" for s in r["seconds"])
                print(
                    f"    {runs} s; peak RSS {r['peak_rss_mb']:,.0f} MB; CPU s: process "
                    f"{r.get('cpu_self_s', 0):.1f}, its children {r.get('cpu_children_s', 0):.1f}; "
                    f"other processes on the machine used {r.get('other_cpu_cores', 'n/a')} cores",
                    flush=True,
                )
        tft_versions = next(
            (r.get("versions") for r in results.values() if r.get("versions")), None
        )
        notes = checks(results, tokens, args.top_k)
        goals = targets(results, tokens, corpus_mb)
        facts = {**machine_facts(tft_versions), "load_average_at_start": load_at_start}
        if facts["source"] != source_at_start:
            # vocabguard is installed editable: each row imports the tree as it is then.
            facts["source_at_start"] = source_at_start

        print()
        print(markdown_table(results, [n for n in ROWS if n in results], tokens))
        print()
        print(
            f"input: {corpus_mb:.1f} MB, {tokens:,} tokens, {manifest.get('distinct_tokens', 0):,} "
            f"distinct (lowercased), {len(manifest['files'])} shard files; {description}"
        )
        if args.skip_tft:
            print("TFT: skipped (--skip-tft)")
        elif tft_reason:
            print(f"TFT: not available ({tft_reason})")
        print(
            "seconds: median of the timed runs (runs column), from the files to a vocabulary; "
            "imports and interpreter start-up not included. tokens/s = corpus tokens / median "
            "seconds. vs TFT exact: tokens/s over TFT tft.vocabulary's. peak RSS (MB here "
            "means MiB, 2**20 bytes): the row's "
            "process plus every process it started (Beam multi_processing workers), summed, "
            f"sampled every {RSS_SAMPLE_S} s from /proc, and at least the process's own "
            "getrusage peak; 'procs' = the most processes seen at once when more than one."
        )
        others = {n: r["other_cpu_cores"] for n, r in results.items() if "other_cpu_cores" in r}
        if others:
            busiest = max(others.values())
            print(
                "contention: CPU used by other processes on the machine while each row ran, in "
                "cores (of "
                + str(os.cpu_count())
                + "): "
                + ", ".join(f"{n} {v:.2f}" for n, v in others.items())
                + (
                    "; above 0.25 the row was slowed by other work: rerun on a quiet machine"
                    if busiest > 0.25
                    else ""
                )
            )
        for note in notes:
            print(f"check: {note}")
        for goal in goals:
            print(f"target: {goal}")
        tft_env = facts["tft_env"] or {}
        print(
            f"machine: {facts['nproc']} CPUs usable ({facts['cpu_count']} online), "
            f"{facts['cpu_model']}, {facts['memory_gb']} GiB RAM; Python {facts['python']}; "
            f"vocabguard {facts['vocabguard']}, apache-beam {facts['apache_beam']}, pyarrow "
            f"{facts['pyarrow']}, numpy {facts['numpy']}, TensorFlow {facts['tensorflow']}, "
            f"Keras {facts['keras']}; TFT env: "
            + (", ".join(f"{k} {v}" for k, v in tft_env.items()) or "n/a")
            + f"; vocabguard source: {_describe_source(source_at_start)}"
            + (
                f" CHANGED during the run, at the end: {_describe_source(facts['source'])}"
                if "source_at_start" in facts
                else ""
            )
            + f"; load average (1/5/15 min) {facts['load_average_at_start']} at start, "
            f"{facts['load_average_1_5_15']} at end; {facts['date']}"
        )
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {
                "corpus": {"kind": args.corpus, "pattern": pattern, "description": description}
                | {k: v for k, v in manifest.items() if k != "files"},
                "top_k": args.top_k,
                "repeat": args.repeat,
                "slow_repeat": args.slow_repeat,
                "machine": facts,
                "tft": "skipped"
                if args.skip_tft
                else ("available" if tft_python else f"not available ({tft_reason})"),
                "rows": {
                    name: {
                        **results[name],
                        **ROWS[name].__dict__,
                        "tokens_per_s": _speed(results[name], tokens),
                    }
                    for name in results
                },
                "checks": notes,
                "targets": goals,
            }
            args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            print(f"wrote {args.json}")
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
