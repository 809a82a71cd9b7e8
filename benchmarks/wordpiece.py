#!/usr/bin/env python
"""WordPiece: learning a vocabulary and encoding with it, next to tf-text and Hugging Face.

Usage::

    python benchmarks/wordpiece.py                        # learn on BBC News and the 100 MB Zipf corpus, encode BBC x4
    python benchmarks/wordpiece.py --learn bbc --encode   # only some parts
    python benchmarks/wordpiece.py --learn zipf --mb 10 --learn-timeout 900
    python benchmarks/wordpiece.py --json out/wordpiece.json

Every row runs in its own process (``harness.process``: peak RSS, CPU, contention),
imports not timed. Learning rows (``vocab_size`` 30,000, lowercase), one timed run each:

- ``vg-build``: what ``vocabguard build`` runs for ``tokenizer: wordpiece,
  vocab_size: 30000, lowercase: true``: ``build_vocabulary(read_documents(files), spec)``
  (count words with vocabguard's pre-tokenizer, learn the pieces from the counts, order
  them); ``learn s`` is the learning step alone (``wordpiece.learn_pieces`` on the counts);
- ``tftext``: ``bert_vocab_from_dataset(TextLineDataset(files).batch(1024), 30000,
  ["[PAD]", "[UNK]", "[START]", "[END]"], bert_tokenizer_params={"lower_case": True})``
  (tf-text's tutorial parameters; its learner's defaults, e.g. ``lower_thresh=10``);
  ``learn s`` is its ``learn`` step alone (after ``count_words``);
- ``hf``: Hugging Face ``Tokenizer(WordPiece(unk_token="[UNK]"))`` with a ``Lowercase``
  normalizer and ``BertPreTokenizer``, ``train(files, WordPieceTrainer(vocab_size=30000,
  special_tokens=[PAD, UNK, CLS, SEP, MASK]))``.

Encoding rows (BBC News x ``--scale``; every row uses the vocabulary vocabguard learned
from one copy of the corpus, written as ``vocab.txt``, one token a line in id order, so
line numbers are ids), ``--repeat`` timed runs after a warm-up, median:

- numpy: ``Vocabulary.encode(lines)`` vs Hugging Face ``BertWordPieceTokenizer``'s pipeline
  (``Tokenizer(WordPiece.from_file(vocab.txt))``, ``BertNormalizer(lowercase=True,
  strip_accents=False, handle_chinese_chars=False)``, ``BertPreTokenizer``; the class itself
  refuses a vocabulary without ``[CLS]``/``[SEP]``) ``.encode_batch(lines,
  add_special_tokens=False)`` and each encoding's ``.ids``;
- tf.data (``TextLineDataset(files).batch(256).map(f, AUTOTUNE).prefetch(2)``):
  ``vocabguard.tf.encode_fn(vocab)`` vs ``tensorflow_text.BertTokenizer(vocab table,
  lower_case=True, token_out_type=int64)`` and ``FastBertTokenizer(vocab,
  lower_case_nfd_strip_accents=True)``, pieces merged to one id list per text.

Each encode row's ids on one copy of the corpus are compared with ``Vocabulary.encode``'s
(texts with identical ids). BERT's ``lower_case`` also strips accents (NFD) and BertTokenizer
caps words at 100 bytes (vocabguard and HF: 100 characters), so non-ASCII text can differ.

Nothing asserts on time; targets (issue 14, point 5) are printed met / missed: learning at
least as fast as ``bert_vocab_from_dataset``; encoding within 1.3x of the fastest peer.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import corpus, machine, report
from harness.process import emit, process_cpu_s, run_measured, rusage_facts

VOCAB_SIZE = 30_000
BBC = corpus.REPO / "data" / "bbc_news" / "articles.txt"
LEARN_ROWS = ("vg-build", "tftext", "hf")
ENCODE_ROWS = ("vg-numpy", "hf-numpy", "vg-tfdata", "tftext-bert", "tftext-fastbert")
ENCODE_WHAT = {
    "vg-numpy": ("numpy", "vocabguard `Vocabulary.encode(lines)`"),
    "hf-numpy": ("numpy", "HF `BertWordPieceTokenizer` pipeline `.encode_batch(lines)` + `.ids`"),
    "vg-tfdata": ("tf.data", "vocabguard `vocabguard.tf.encode_fn(vocab)`"),
    "tftext-bert": ("tf.data", "tf-text `BertTokenizer(lower_case=True)`"),
    "tftext-fastbert": (
        "tf.data",
        "tf-text `FastBertTokenizer(lower_case_nfd_strip_accents=True)`",
    ),
}
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TF_RESERVED = ["[PAD]", "[UNK]", "[START]", "[END]"]


def spec():
    from vocabguard import VocabSpec

    return VocabSpec(tokenizer="wordpiece", vocab_size=VOCAB_SIZE, lowercase=True)


# -- worker side: one row in this process ------------------------------------------


def learn_task(row: str, files: list[str]):
    """(run, pieces of its result, the learning step's seconds of the last run)."""
    spent: dict[str, float] = {}

    def clocked(module, name: str):
        inner = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[name] = time.perf_counter() - start

        setattr(module, name, wrapper)

    if row == "vg-build":
        from vocabguard import build_vocabulary
        from vocabguard._src.core import wordpiece
        from vocabguard._src.engines.formats.read import read_documents

        clocked(wordpiece, "learn_pieces")
        vg_spec = spec()

        def run():
            return build_vocabulary(read_documents(files), vg_spec, progress=False)

        def pieces(vocab):
            return len(vocab.tokens) - vocab.layout.num_reserved

        return run, pieces, lambda: spent.get("learn_pieces")
    if row == "tftext":
        import tensorflow as tf
        from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bv
        from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as lib

        clocked(lib, "learn")

        def run():
            dataset = tf.data.TextLineDataset(files).batch(1024).prefetch(tf.data.AUTOTUNE)
            return bv.bert_vocab_from_dataset(
                dataset,
                vocab_size=VOCAB_SIZE,
                reserved_tokens=TF_RESERVED,
                bert_tokenizer_params={"lower_case": True},
                learn_params={},
            )

        return run, lambda vocab: len(vocab) - len(TF_RESERVED), lambda: spent.get("learn")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    def run():
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.Lowercase()
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=VOCAB_SIZE, special_tokens=SPECIALS, show_progress=False
        )
        tokenizer.train(files, trainer)
        return tokenizer

    return run, lambda t: t.get_vocab_size() - len(SPECIALS), lambda: None


def encode_task(row: str, files: list[str], store: str, vocab_txt: str):
    """(run, ids(files) -> list of id lists) for one encode row."""
    import numpy as np

    from vocabguard import VocabStore

    vocab = VocabStore(store).load("bench")
    oov = vocab.oov_token
    if row in ("vg-numpy", "hf-numpy"):
        lines = [line for path in files for line in Path(path).read_text("utf-8").splitlines()]
        if row == "vg-numpy":

            def encode(texts):
                return vocab.encode(texts)

        else:
            from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

            # BertWordPieceTokenizer's pipeline (it insists on [CLS]/[SEP] in the vocabulary,
            # which this one does not hold; no special tokens are added here anyway).
            tokenizer = Tokenizer(
                models.WordPiece.from_file(vocab_txt, unk_token=oov, max_input_chars_per_word=100)
            )
            tokenizer.normalizer = normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=True
            )
            tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()

            def encode(texts):
                return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]

        def ids(paths):
            texts = [t for p in paths for t in Path(p).read_text("utf-8").splitlines()]
            return [np.asarray(row, dtype=np.int64).tolist() for row in encode(texts)]

        return (lambda: encode(lines)), ids
    import tensorflow as tf
    import tensorflow_text as tf_text

    if row == "vg-tfdata":
        from vocabguard import tf as vtf

        fn = vtf.encode_fn(vocab)
    else:
        tokens = Path(vocab_txt).read_text("utf-8").splitlines()
        if row == "tftext-bert":
            table = tf.lookup.StaticVocabularyTable(
                tf.lookup.KeyValueTensorInitializer(
                    tokens, tf.range(len(tokens), dtype=tf.int64), value_dtype=tf.int64
                ),
                num_oov_buckets=1,
            )
            tokenizer = tf_text.BertTokenizer(
                table, lower_case=True, token_out_type=tf.int64, unknown_token=oov
            )
        else:
            tokenizer = tf_text.FastBertTokenizer(
                tokens,
                lower_case_nfd_strip_accents=True,
                token_out_type=tf.int64,
                unknown_token=oov,
            )

        def fn(x):
            out = tokenizer.tokenize(x)
            return out.merge_dims(-2, -1) if out.ragged_rank > 1 else out

    def dataset(paths):
        data = tf.data.TextLineDataset(paths).batch(256)
        return data.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)

    def run():
        for _ in dataset(files):
            pass

    def ids(paths):
        return [row for batch in dataset(paths) for row in batch.to_list()]

    return run, ids


def worker(args) -> int:
    files = json.loads(args.files)
    started = time.perf_counter()
    if args.worker in LEARN_ROWS:
        run, pieces, learn_s = learn_task(args.worker, files)
    else:
        run, ids = encode_task(args.worker, files, args.store, args.vocab_txt)
        run()  # warm-up: tracing, tables, caches
    import_s = time.perf_counter() - started
    cpu_before = process_cpu_s()
    seconds, out = [], None
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = run()
        seconds.append(time.perf_counter() - start)
    result = {"row": args.worker, **rusage_facts(seconds, process_cpu_s() - cpu_before)}
    result["import_s"] = import_s
    if args.worker in LEARN_ROWS:
        result.update(pieces=pieces(out), learn_s=learn_s())
    else:
        out_path = Path(args.work) / f"{args.worker}.ids.json"
        out_path.write_text(json.dumps(ids(files[:1])), encoding="utf-8")
        result["ids_file"] = str(out_path)
    emit(result)
    return 0


# -- parent side --------------------------------------------------------------------


def run_row(args, row: str, files: list[str], work: str, timeout_s: float, **extra) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        row,
        "--files",
        json.dumps(files),
        "--work",
        work,
        "--repeat",
        str(extra.get("repeat", 1)),
    ]
    if "store" in extra:
        command += ["--store", extra["store"], "--vocab-txt", extra["vocab_txt"]]
    print(f"  running {row} ...", file=sys.stderr, flush=True)
    result = run_measured(command, log_path=os.path.join(work, f"{row}.log"), timeout_s=timeout_s)
    result.setdefault("row", row)
    return result


def seconds_cell(r: dict) -> str:
    if "error" in r:
        return f"> {r['process_wall_s']:.0f} (stopped)" if "timed out" in r["error"] else "failed"
    return f"{r['median_s']:.2f}"


def learn_part(args, name: str, files: list[str], work: str, lines: list[str]) -> dict:
    results = {}
    for row in LEARN_ROWS:
        if args.only and row not in args.only:
            continue
        timeout = args.learn_timeout if row == "tftext" else args.learn_timeout * 4
        results[row] = run_row(args, row, files, work, timeout)
    megabytes = sum(Path(f).stat().st_size for f in files) / 1e6
    print(f"\nlearn: {name}: {megabytes:.1f} MB, {len(lines):,} lines; vocab_size {VOCAB_SIZE:,}\n")
    tf_s = results.get("tftext", {}).get("median_s")
    table = []
    for row, r in results.items():
        ok = "error" not in r
        vs = (
            f"{tf_s / r['median_s']:.2f}x"
            if ok and tf_s
            else ("n/a (tf-text stopped)" if ok and row != "tftext" else "n/a")
        )
        table.append(
            [
                f"`{row}`",
                f"{r['pieces']:,}" if ok else "n/a",
                seconds_cell(r),
                f"{r['learn_s']:.2f}" if ok and r.get("learn_s") is not None else "n/a",
                report.cpu(r) if ok else "n/a",
                f"{r['peak_rss_mb']:,.0f}" if ok else "n/a",
                report.contention(r),
                vs,
            ]
        )
    print(
        report.markdown(
            [
                "row",
                "pieces learned",
                "seconds",
                "learn s (from counts)",
                "CPU s/run",
                "peak RSS MiB",
                "other CPU (cores)",
                "speed vs tf-text",
            ],
            table,
        )
    )
    vg, tf_row = results.get("vg-build"), results.get("tftext")
    if vg and tf_row and "error" not in vg:
        if "error" not in tf_row:
            ratio = tf_row["median_s"] / vg["median_s"]
            verdict = report.verdict(ratio >= 1.0)
            text = f"{ratio:.2f}x ({vg['median_s']:.2f} s vs {tf_row['median_s']:.2f} s)"
        elif "timed out" in tf_row["error"]:
            ok = vg["median_s"] < tf_row["process_wall_s"]
            verdict = report.verdict(ok)
            text = (
                f"vocabguard {vg['median_s']:.2f} s; bert_vocab_from_dataset stopped after "
                f"{tf_row['process_wall_s']:.0f} s without a result"
            )
        else:
            verdict, text = "n/a", f"tf-text failed: {tf_row['error']}"
        print(
            f"\ntarget: {name}: learning at least as fast as bert_vocab_from_dataset: {text}"
            f" -> {verdict}"
        )
    for row, r in results.items():
        if "error" in r:
            print(f"note: {row}: {r['error']}")
    return results


def encode_part(args, work: str) -> dict:
    import numpy as np

    from vocabguard import VocabStore, build_vocabulary

    lines = BBC.read_text("utf-8").splitlines()
    vocab = build_vocabulary(lines, spec(), progress=False)
    store = os.path.join(work, "store")
    VocabStore(store).publish(vocab, "bench")
    vocab_txt = os.path.join(work, "vocab.txt")
    Path(vocab_txt).write_text("".join(t + "\n" for t in vocab.tokens), encoding="utf-8")
    files = [str(BBC)] * args.scale
    megabytes = BBC.stat().st_size * args.scale / 1e6
    n_pieces = sum(len(ids) for ids in vocab.encode(lines)) * args.scale
    results = {}
    for row in ENCODE_ROWS:
        if args.only and row not in args.only:
            continue
        results[row] = run_row(
            args,
            row,
            files,
            work,
            args.encode_timeout,
            repeat=args.repeat,
            store=store,
            vocab_txt=vocab_txt,
        )
    reference = None
    if "vg-numpy" in results and "error" not in results["vg-numpy"]:
        reference = json.loads(Path(results["vg-numpy"]["ids_file"]).read_text("utf-8"))
    fastest = {}
    for row, r in results.items():
        path = ENCODE_WHAT[row][0]
        if "error" not in r and not row.startswith("vg-"):
            fastest[path] = min(fastest.get(path, np.inf), r["median_s"])
    peers = [
        r["median_s"]
        for row, r in results.items()
        if "error" not in r and not row.startswith("vg-")
    ]
    print(
        f"\nencode: BBC News x{args.scale}: {megabytes:.1f} MB, {len(lines) * args.scale:,} texts, "
        f"{n_pieces:,} vocabguard ids; vocabulary learned by vocabguard from one copy "
        f"(input_dim {vocab.input_dim:,}); median of {args.repeat} after a warm-up\n"
    )
    table = []
    for row, r in results.items():
        path, what = ENCODE_WHAT[row]
        ok = "error" not in r
        same = "n/a"
        if ok and reference is not None:
            got = json.loads(Path(r["ids_file"]).read_text("utf-8"))
            equal = sum(a == b for a, b in zip(reference, got)) if len(got) == len(reference) else 0
            same = f"{equal / len(reference):.2%}"
            r["same_ids_share"] = equal / len(reference)
        ratio = f"{r['median_s'] / fastest[path]:.2f}x" if ok and path in fastest else "n/a"
        table.append(
            [
                path,
                what,
                seconds_cell(r),
                f"{megabytes / r['median_s']:.1f}" if ok else "n/a",
                f"{n_pieces / r['median_s'] / 1e6:.2f} M" if ok else "n/a",
                report.cpu(r) if ok else "n/a",
                f"{r['peak_rss_mb']:,.0f}" if ok else "n/a",
                report.contention(r),
                ratio,
                same,
            ]
        )
    print(
        report.markdown(
            [
                "path",
                "what",
                "seconds",
                "MB/s",
                "ids/s (vocabguard's count)",
                "CPU s/run",
                "peak RSS MiB",
                "other CPU (cores)",
                "time vs fastest peer on its path",
                "texts with vocabguard's ids",
            ],
            table,
        )
    )
    best = min(peers) if peers else None
    for row in ("vg-numpy", "vg-tfdata"):
        r = results.get(row)
        path = ENCODE_WHAT[row][0]
        if r and "error" not in r and path in fastest:
            ratio = r["median_s"] / fastest[path]
            overall = f"; {r['median_s'] / best:.2f}x the fastest peer of any path" if best else ""
            print(
                f"target: {row}: within 1.3x of the fastest {path} peer: {ratio:.2f}x "
                f"({r['median_s']:.2f} s vs {fastest[path]:.2f} s){overall} -> "
                f"{report.verdict(ratio <= 1.3)}"
            )
    for row, r in results.items():
        if "error" in r:
            print(f"note: {row}: {r['error']}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--learn",
        nargs="*",
        choices=["bbc", "zipf"],
        default=None,
        help="corpora to learn on (default: bbc zipf; none: skip)",
    )
    parser.add_argument("--encode", action="store_true", help="only the parts named")
    parser.add_argument("--mb", type=float, default=100.0, help="Zipf corpus size in MB")
    parser.add_argument("--scale", type=int, default=4, help="encode: BBC News repeated N times")
    parser.add_argument("--repeat", type=int, default=3, help="encode: timed runs per row")
    parser.add_argument(
        "--learn-timeout",
        type=float,
        default=300,
        help="seconds before the tf-text learning row is stopped (others: 4x)",
    )
    parser.add_argument("--encode-timeout", type=float, default=900)
    parser.add_argument("--only", nargs="*", choices=LEARN_ROWS + ENCODE_ROWS)
    parser.add_argument("--json", type=Path, metavar="OUT")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--vocab-txt", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if not BBC.is_file():
        print(f"{BBC} is missing: run python scripts/fetch_data.py --corpus bbc", file=sys.stderr)
        return 1
    learn = args.learn
    if learn is None:
        learn = [] if args.encode else ["bbc", "zipf"]
    encode = args.encode or args.learn is None
    facts_start = machine.machine_facts()
    out: dict = {"argv": sys.argv, "learn": {}, "encode": None}
    with tempfile.TemporaryDirectory(prefix="vg-wordpiece-") as work:
        if encode:
            out["encode"] = encode_part(args, work)
        for name in learn:
            if name == "bbc":
                files, label = [str(BBC)], "BBC News (data/bbc_news/articles.txt)"
            else:
                c = corpus.prepare("zipf", args.mb, 1)
                files, label = sorted(glob.glob(c.pattern)), c.summary()
            lines = [t for f in files for t in Path(f).read_text("utf-8").splitlines()]
            out["learn"][name] = learn_part(args, label, files, work, lines)
            del lines
    facts = {
        **machine.machine_facts(),
        "load_average_at_start": facts_start["load_average_1_5_15"],
        "source_at_start": facts_start.get("source"),
    }
    facts["tokenizers"] = machine.version("tokenizers")
    facts["tensorflow_text"] = machine.version("tensorflow-text")
    every = {f"{part}:{row}": r for part, rows in out["learn"].items() for row, r in rows.items()}
    every.update({f"encode:{row}": r for row, r in (out["encode"] or {}).items()})
    line = report.contention_line(every, facts["nproc"])
    if line:
        print("\n" + line)
    print(
        machine.describe(facts)
        + f"; tokenizers {facts['tokenizers']}, tensorflow-text {facts['tensorflow_text']}"
    )
    if args.json:
        out["machine"] = facts
        report.write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
