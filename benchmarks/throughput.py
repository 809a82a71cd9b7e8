#!/usr/bin/env python
"""Throughput of vocabguard's build and encode on a real corpus, next to bare peers.

Usage::

    python scripts/fetch_data.py --corpus bbc        # once: fetches the corpus
    python benchmarks/throughput.py [--corpus data/bbc_news/articles.txt]
                                    [--repeat 3] [--scale 4] [--json OUT]

The corpus has one document per line (``\\n``-separated); ``--scale N`` concatenates
it N times for a bigger input. Every measurement runs in its own Python process
(so each peak RSS is its own and TensorFlow is only imported by the Keras one),
``--repeat`` times, and the median is reported. Numbers describe this machine only;
nothing here asserts on timings. See benchmarks/README.md.

Build (count tokens and make a vocabulary; lowercase + whitespace split):

- vocabguard ``build_vocabulary(lines, VocabSpec(lowercase=True))`` on a list of str;
- bare pyarrow: CSV read of the same bytes (from memory), ``utf8_lower`` (or
  ``ascii_lower`` when all ASCII, as vocabguard does), ``split_pattern_regex`` with
  vocabguard's whitespace pattern, ``flatten``, ``value_counts``;
- the same with ``utf8_split_whitespace`` (Arrow's whitespace set; a reference for
  the cost of the regex split, token-identical only when the text holds no rare
  whitespace);
- Keras ``StringLookup.adapt`` over a ``tf.data`` dataset of the pre-split tokens.

Encode (text to ids with the built vocabulary):

- vocabguard ``Vocabulary.encode(lines)`` (tokenize + lookup, list of numpy arrays);
- plain Python: ``[[ids.get(t, 1) for t in line.lower().split()] for line in lines]``;
- bare ``pyarrow.compute.index_in`` over the already flattened tokens (lookup only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness import machine, report
from harness.process import emit, peak_rss_mb, run_measured, timed

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO / "data" / "bbc_news" / "articles.txt"
DEFAULT_SCALE = 4  # BBC News x4: ~20 MB, ~3.4 M tokens; about 2 minutes on 2 cores
KERAS_MAX_SCALE = 4  # above this, StringLookup.adapt runs at scale 1 (it is the slowest)
KERAS_BATCH = 8192
WORKER_TIMEOUT_S = 1800

# -- input --------------------------------------------------------------------


class Input:
    """The corpus bytes (scaled) and what the tasks derive from them, computed once."""

    def __init__(self, path: Path, scale: int):
        raw = path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            raw += b"\n"
        self.raw = raw * scale
        self.scale = scale
        self._lines: list[str] | None = None
        self._vocab = None
        self._flat = None

    @property
    def mb(self) -> float:
        return len(self.raw) / 1e6

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.raw.decode("utf-8").split("\n")[:-1]
        return self._lines

    def spec(self):
        from vocabguard import VocabSpec

        return VocabSpec(lowercase=True)

    def vocabulary(self):
        if self._vocab is None:
            from vocabguard import build_vocabulary

            self._vocab = build_vocabulary(self.lines, self.spec(), progress=False)
        return self._vocab

    def flat_tokens(self):
        """vocabguard's tokens of every line, as one flat Arrow binary array."""
        if self._flat is None:
            import pyarrow as pa

            from vocabguard._src.core.tokenizer import Tokenizer

            lists = Tokenizer(self.spec()).tokenize_arrow(pa.array(self.lines, pa.string()))
            self._flat = lists.flatten()
        return self._flat


# -- tasks (each returns a timed callable, and facts to check after running it) ----

Task = Callable[[Input], tuple[Callable[[], dict], dict]]


def vocabguard_build(data: Input):
    from vocabguard import build_vocabulary

    lines, spec = data.lines, data.spec()

    def run() -> dict:
        vocab = build_vocabulary(lines, spec, progress=False)
        return {"tokens": vocab.stats["total_tokens"], "distinct": vocab.stats["distinct_tokens"]}

    return run, {}


def _pyarrow_count(data: Input, split: str):
    import pyarrow as pa
    import pyarrow.compute as pc
    from harness.tasks import pyarrow_text_reader

    from vocabguard._src.core.tokenizer import WHITESPACE_PATTERN

    raw = data.raw
    read = pyarrow_text_reader(block_size=1 << 22)

    def run() -> dict:
        text = read(pa.BufferReader(raw)).combine_chunks()
        all_ascii = pc.all(pc.string_is_ascii(text)).as_py() is not False
        lower = pc.ascii_lower(text) if all_ascii else pc.utf8_lower(text)
        if split == "regex":
            lists = pc.split_pattern_regex(lower, WHITESPACE_PATTERN)
        else:
            lists = pc.utf8_split_whitespace(lower)
        tallies = pc.value_counts(lists.flatten())
        values, counts = tallies.field("values"), tallies.field("counts")
        # Leading/trailing whitespace gives empty strings; they are not tokens.
        nonempty = pc.greater(pc.utf8_length(values), 0)
        return {
            "tokens": pc.sum(pc.filter(counts, nonempty)).as_py() or 0,
            "distinct": pc.sum(nonempty.cast(pa.int64())).as_py() or 0,
            "lines": len(text),
        }

    return run, {}


def pyarrow_count_regex(data: Input):
    return _pyarrow_count(data, "regex")


def pyarrow_count_whitespace(data: Input):
    return _pyarrow_count(data, "whitespace")


def keras_adapt(data: Input):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tokens = tf.constant(data.flat_tokens().to_numpy(zero_copy_only=False))
    dataset = tf.data.Dataset.from_tensor_slices(tokens).batch(KERAS_BATCH)

    def run() -> dict:
        layer = keras.layers.StringLookup()  # 1 OOV index, no mask token
        layer.adapt(dataset)
        return {"tokens": int(tokens.shape[0]), "distinct": layer.vocabulary_size() - 1}

    return run, {"keras": keras.__version__}


def vocabguard_encode(data: Input):
    vocab, lines = data.vocabulary(), data.lines

    def run() -> dict:
        ids = vocab.encode(lines)
        return {"tokens": int(sum(len(row) for row in ids))}

    return run, {}


def python_dict(data: Input):
    vocab, lines = data.vocabulary(), data.lines
    start = vocab.layout.reserved_start
    oov = vocab.oov_ids.start  # the vocabularies here have one OOV id
    ids = {token: i for i, token in enumerate(vocab.tokens) if i >= start}

    def encode(texts: list[str]) -> list[list[int]]:
        get = ids.get
        return [[get(t, oov) for t in text.lower().split()] for text in texts]

    def run() -> dict:
        rows = encode(lines)
        return {"tokens": sum(len(row) for row in rows)}

    sample = lines[:500]  # check the baseline gives vocabguard's ids (untimed)
    same = [list(map(int, row)) for row in vocab.encode(sample)] == encode(sample)
    return run, {"ids_match_vocabguard_on_500_lines": same}


def pyarrow_index_in(data: Input):
    import pyarrow as pa
    import pyarrow.compute as pc

    vocab = data.vocabulary()
    flat = data.flat_tokens()
    value_set = pa.array(vocab.token_bytes, pa.binary())

    def run() -> dict:
        index = pc.index_in(flat, value_set=value_set)
        return {"tokens": len(index)}

    return run, {}


# name: (tool, what, group, task)
TASKS: dict[str, tuple[str, str, str, Task]] = {
    "vocabguard-build": (
        "vocabguard",
        "build_vocabulary(lines, VocabSpec(lowercase=True))",
        "build",
        vocabguard_build,
    ),
    "pyarrow-count": (
        "pyarrow",
        "csv read + lower + split_pattern_regex(ws) + flatten + value_counts",
        "build",
        pyarrow_count_regex,
    ),
    "pyarrow-count-ws": (
        "pyarrow",
        "same, utf8_split_whitespace instead of the regex split",
        "build",
        pyarrow_count_whitespace,
    ),
    "keras-adapt": (
        "keras",
        f"StringLookup.adapt(tf.data of pre-split tokens, batch {KERAS_BATCH})",
        "build",
        keras_adapt,
    ),
    "vocabguard-encode": ("vocabguard", "Vocabulary.encode(lines)", "encode", vocabguard_encode),
    "python-dict": (
        "python",
        "dict.get over line.lower().split(), list of lists",
        "encode",
        python_dict,
    ),
    "pyarrow-index_in": (
        "pyarrow",
        "pc.index_in(flat tokens, vocabulary) (lookup only)",
        "encode",
        pyarrow_index_in,
    ),
}
REFERENCE = {"build": "vocabguard-build", "encode": "vocabguard-encode"}


# -- worker -------------------------------------------------------------------


def worker(name: str, corpus: Path, scale: int, repeat: int) -> dict:
    data = Input(corpus, scale)
    run, facts = TASKS[name][3](data)
    rss_before = peak_rss_mb()
    seconds, out = timed(run, repeat)
    return {
        "task": name,
        "scale": scale,
        "mb": data.mb,
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_before_timing": rss_before,
        **out,
        **facts,
    }


def run_worker(name: str, corpus: Path, scale: int, repeat: int, work: str) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--corpus", str(corpus)]
    command += ["--scale", str(scale), "--repeat", str(repeat)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = os.path.join(work, f"{name}.log")
    result = run_measured(command, log_path=log, timeout_s=WORKER_TIMEOUT_S, env=env)
    return {"task": name, "scale": scale, **result}


# -- profile ------------------------------------------------------------------


def profile(name: str, corpus: Path, scale: int, top: int) -> None:
    from harness.profiling import label_pyarrow_compute, profile_call

    label_pyarrow_compute()
    data = Input(corpus, scale)
    run, _ = TASKS[name][3](data)
    run()  # warm-up: imports and lazy state, so the profile shows steady-state work
    profile_call(f"{name} at scale {scale} ({data.mb:.1f} MB)", run, top)


# -- report -------------------------------------------------------------------


def build_rows(results: list[dict]) -> list[dict]:
    by_name = {r["task"]: r for r in results}
    rows = []
    for r in results:
        tool, what, group, _ = TASKS[r["task"]]
        row = {"task": r["task"], "tool": tool, "what": what, "group": group, "scale": r["scale"]}
        if "error" in r:
            rows.append({**row, "error": r["error"]})
            continue
        tokens_per_s = r["tokens"] / r["median_s"] if r["median_s"] else float("inf")
        ref = by_name.get(REFERENCE[group], {})
        ref_speed = ref["tokens"] / ref["median_s"] if ref.get("median_s") else None
        rows.append(
            {
                **row,
                "tokens": r["tokens"],
                "mb": r["mb"],
                "seconds_median": r["median_s"],
                "seconds_all": r["seconds"],
                "tokens_per_s": tokens_per_s,
                "mb_per_s": r["mb"] / r["median_s"] if r["median_s"] else float("inf"),
                "speed_vs_vocabguard": tokens_per_s / ref_speed if ref_speed else None,
                "peak_rss_mb": r["peak_rss_mb"],
                "other_cpu_cores": r.get("other_cpu_cores"),
                "distinct": r.get("distinct"),
                **{k: v for k, v in r.items() if k.startswith("ids_match") or k == "keras"},
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    headers = ["tool", "what", "scale", "tokens", "MB", "seconds (median)", "tokens/s", "MB/s"]
    headers += ["speed vs vocabguard", "peak RSS MiB", "other CPU (cores)"]
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["tool"], r["what"], r["scale"], f"failed: {r['error']}"] + [""] * 7)
            continue
        ratio = r["speed_vs_vocabguard"]
        table.append(
            [
                r["tool"],
                r["what"],
                r["scale"],
                f"{r['tokens']:,}",
                f"{r['mb']:.1f}",
                f"{r['seconds_median']:.3f}",
                f"{r['tokens_per_s'] / 1e6:.2f} M",
                f"{r['mb_per_s']:.1f}",
                "n/a" if ratio is None else f"{ratio:.2f}x",
                f"{r['peak_rss_mb']:.0f}",
                report.contention(r),
            ]
        )
    return report.markdown(headers, table)


def checks(rows: list[dict]) -> list[str]:
    """Whether the tools of each group saw the same tokens (a benchmark of different
    work would be meaningless), and whether the dict baseline gives vocabguard's ids."""
    notes = []
    for group in ("build", "encode"):
        ok = [r for r in rows if r["group"] == group and "error" not in r]
        if not ok:
            continue
        per_scale = {r["task"]: r["tokens"] // r["scale"] for r in ok}
        distinct = {r["task"]: r["distinct"] for r in ok if r.get("distinct") is not None}
        if len(set(per_scale.values())) > 1:
            notes.append(f"{group}: MISMATCH in tokens per corpus copy: {per_scale}")
        elif len(set(distinct.values())) > 1:
            notes.append(f"{group}: MISMATCH in distinct tokens: {distinct}")
        else:
            tokens = next(iter(per_scale.values()))
            also = f" and {next(iter(distinct.values())):,} distinct tokens" if distinct else ""
            notes.append(f"{group}: all {len(ok)} rows saw {tokens:,} tokens per corpus copy{also}")
    for r in rows:
        if r.get("ids_match_vocabguard_on_500_lines") is False:
            notes.append(f"{r['task']}: MISMATCH: ids differ from vocabguard's (first 500 lines)")
        elif r.get("ids_match_vocabguard_on_500_lines"):
            notes.append(f"{r['task']}: same ids as vocabguard on the first 500 lines")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Throughput of vocabguard build/encode next to pyarrow, Keras and Python.",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="text file, one document per line (default: data/bbc_news/articles.txt)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    parser.add_argument(
        "--scale", type=int, default=DEFAULT_SCALE, help="concatenate the corpus N times"
    )
    parser.add_argument(
        "--keras-scale",
        type=int,
        default=None,
        help=f"scale for StringLookup.adapt (default: --scale up to {KERAS_MAX_SCALE}, else 1)",
    )
    parser.add_argument("--skip-keras", action="store_true", help="leave out the Keras peer")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    parser.add_argument(
        "--profile",
        choices=("build", "encode"),
        help="instead of the table: cProfile vocabguard's build or encode (in this process)",
    )
    parser.add_argument("--top", type=int, default=15, help="functions shown by --profile")
    parser.add_argument("--worker", choices=sorted(TASKS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.scale < 1 or (args.keras_scale is not None and args.keras_scale < 1):
        parser.error("--repeat, --scale and --keras-scale must be >= 1")

    if not args.corpus.is_file():
        print(
            f"error: corpus file {args.corpus} not found. Fetch the real corpora first with:\n"
            "    python scripts/fetch_data.py\n"
            "(or pass --corpus PATH: a text file with one document per line).",
            file=sys.stderr,
        )
        return 1

    if args.profile:
        profile(REFERENCE[args.profile], args.corpus, args.scale, args.top)
        return 0

    if args.worker:
        result = worker(args.worker, args.corpus, args.scale, args.repeat)
        emit(result)
        return 0

    keras_scale = args.keras_scale or (args.scale if args.scale <= KERAS_MAX_SCALE else 1)
    names = [n for n in TASKS if not (args.skip_keras and n == "keras-adapt")]
    size_mb = args.corpus.stat().st_size / 1e6
    print(
        f"corpus {args.corpus} ({size_mb:.1f} MB) x {args.scale} = {size_mb * args.scale:.1f} MB; "
        f"{args.repeat} timed runs each, median reported; one process per row",
        flush=True,
    )
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    results = []
    with tempfile.TemporaryDirectory(prefix="throughput_") as work:
        for name in names:
            scale = keras_scale if name == "keras-adapt" else args.scale
            print(f"  running {name} (scale {scale}) ...", flush=True)
            results.append(run_worker(name, args.corpus, scale, args.repeat, work))

    rows = build_rows(results)
    facts = {**machine.machine_facts(), "load_average_at_start": load_at_start}
    print()
    print(markdown_table(rows))
    print()
    tokens = next((r["tokens"] for r in rows if r["task"] == "vocabguard-build"), None)
    if tokens is not None:
        print(f"input: {size_mb * args.scale:.1f} MB, {tokens:,} tokens (lowercased, whitespace)")
    if "keras-adapt" in names and keras_scale != args.scale:
        print(
            f"note: Keras StringLookup.adapt ran at scale {keras_scale}, not {args.scale} "
            f"(it is the slowest row; --keras-scale {args.scale} runs it at full scale); "
            "compare it by tokens/s."
        )
    for note in checks(rows):
        print(f"check: {note}")
    print(
        "speed vs vocabguard: tokens/s relative to vocabguard's build (build rows) or "
        "encode (encode rows); > 1 is faster. Peak RSS is per process and includes the "
        "input and imports."
    )
    line = report.contention_line({r["task"]: r for r in rows}, facts["nproc"])
    if line:
        print(line)
    print(machine.describe(facts))
    if args.json:
        payload = {
            "corpus": str(args.corpus),
            "corpus_mb": size_mb,
            "scale": args.scale,
            "keras_scale": keras_scale,
            "repeat": args.repeat,
            "machine": facts,
            "rows": rows,
            "checks": checks(rows),
        }
        report.write_json(args.json, payload)
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
