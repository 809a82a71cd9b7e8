"""What each build row times, in the row's own process (``worker.py`` runs one).

A task is ``task(pattern, top_k, work, address) -> (run, after)``: ``run()`` is timed
(files on disk to a vocabulary); ``after(result, tokens_out)`` is not: it writes the
learned tokens in id order (one a line) for the checks and returns facts (fingerprint,
token counts). ``address`` is the Dask scheduler of the ``vg-dask-2`` row.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

FEATURE_NAME = "bench_text"
KERAS_BATCH = 2048


def write_tokens(path: str, tokens: list) -> None:
    """One token per line (tokens hold no whitespace), UTF-8."""
    data = [t if isinstance(t, bytes) else str(t).encode("utf-8") for t in tokens]
    Path(path).write_bytes(b"".join(t + b"\n" for t in data))


def vocabulary_facts(vocab, out: str) -> dict:
    write_tokens(out, vocab.token_bytes[vocab.layout.num_reserved :])  # learned, id order
    return {
        "fingerprint": vocab.fingerprint,
        "tokens": vocab.stats["total_tokens"],
        "distinct": vocab.stats["distinct_tokens"],
    }


def direct_options(workers: int) -> list[str]:
    options = ["--runner=DirectRunner", f"--direct_num_workers={workers}"]
    if workers > 1:
        options.append("--direct_running_mode=multi_processing")
    return options


def vg_feature(top_k: int):
    from vocabguard import VocabSpec
    from vocabguard.beam import Feature

    return Feature("text", FEATURE_NAME, VocabSpec(lowercase=True, max_tokens=top_k))


def vg_pipeline(pattern: str, top_k: int, store: str, runner: str, address: str | None):
    """vocabguard's Beam build on ``runner`` (``direct-N`` or ``dask``), not yet run."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from vocabguard.beam import BuildVocabularies, ReadRecordBatches

    if runner == "dask":
        from apache_beam.runners.dask.dask_runner import DaskRunner

        options = PipelineOptions(["--dask_client_address", address])
        p = beam.Pipeline(runner=DaskRunner(), options=options)
    else:
        p = beam.Pipeline(options=PipelineOptions(direct_options(int(runner.split("-")[1]))))
    _ = (
        p
        | ReadRecordBatches([pattern], ["text"])
        | BuildVocabularies({"text": vg_feature(top_k)}, store=store)
    )
    return p


def task_vg_beam(runner: str) -> Callable:
    def task(pattern: str, top_k: int, work: str, address: str | None = None):
        # Imported here, not timed: the first run would otherwise pay for them.
        import apache_beam

        import vocabguard.beam  # noqa: F401
        from vocabguard import VocabStore

        if runner == "dask":
            import apache_beam.runners.dask.dask_runner  # noqa: F401

        def run() -> str:
            store = tempfile.mkdtemp(prefix="store_", dir=work)
            result = vg_pipeline(pattern, top_k, store, runner, address).run()
            result.wait_until_finish()
            return store

        def after(store: str, out: str) -> dict:
            if runner == "dask":
                from harness.dask_cluster import close_clients

                close_clients()
            return vocabulary_facts(VocabStore(store).load(f"{FEATURE_NAME}@latest"), out)

        return run, after

    return task


def task_vg_inproc(pattern: str, top_k: int, work: str, address: str | None = None):
    from vocabguard import VocabSpec, build_vocabulary
    from vocabguard._src.engines.formats.read import read_documents

    spec = VocabSpec(lowercase=True, max_tokens=top_k)

    def run():
        return build_vocabulary(read_documents([pattern]), spec, progress=False)

    return run, vocabulary_facts


def pyarrow_text_reader(block_size: int = 32 << 20) -> Callable[[object], object]:
    """``read(path)`` -> the file's lines as one Arrow string column (``csv.read_csv``,
    one column, no quoting: every line is one value)."""
    import pyarrow as pa
    import pyarrow.csv as csv

    read_options = csv.ReadOptions(column_names=["text"], block_size=block_size)
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

    def read(source):
        table = csv.read_csv(source, read_options, parse_options, convert_options)
        return table.column("text")

    return read


def task_pyarrow(pattern: str, top_k: int, work: str, address: str | None = None):
    import glob

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    files = sorted(glob.glob(pattern))
    read = pyarrow_text_reader()

    def run():
        text = pa.chunked_array([c for path in files for c in read(path).chunks], pa.string())
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


def task_keras(pattern: str, top_k: int, work: str, address: str | None = None):
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
        write_tokens(out, tokens)
        return {"keras": keras.__version__, "tensorflow": tf.__version__}

    return run, after


def task_beam_wordcount(pattern: str, top_k: int, work: str, address: str | None = None):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    target = os.path.join(work, "wordcount.tokens")
    counter = beam.metrics.Metrics.counter("bench", "tokens")

    def split(line: str) -> list[str]:
        tokens = line.lower().split()
        counter.inc(len(tokens))
        return tokens

    def write(top: list) -> None:
        write_tokens(target, [token for token, _ in top])

    def run():
        p = beam.Pipeline(options=PipelineOptions(direct_options(1)))
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
    "vg-beam-1": task_vg_beam("direct-1"),
    "vg-beam-2": task_vg_beam("direct-2"),
    "vg-dask-2": task_vg_beam("dask"),
    "vg-inproc": task_vg_inproc,
    "pyarrow": task_pyarrow,
    "keras": task_keras,
    "beam-wordcount": task_beam_wordcount,
}
