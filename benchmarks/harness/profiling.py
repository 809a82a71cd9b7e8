"""What bounds a row: cProfile of one run in this process, and stage timings of
vocabguard's Beam build (cumulative prefixes of its pipeline)."""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Callable


def label_pyarrow_compute() -> None:
    """Give each pyarrow.compute function its own name in cProfile output.

    pyarrow's generated compute functions all show up as ``compute.py(wrapper)``;
    wrapping each in a function whose code object carries the real name tells
    ``split_pattern_regex`` and ``value_counts`` apart. Profile mode only.
    """
    import pyarrow.compute as pc

    def labelled(name: str, fn: Callable) -> Callable:
        def call(*args, **kwargs):
            return fn(*args, **kwargs)

        call.__code__ = call.__code__.replace(co_name=f"pyarrow.compute.{name}")
        return call

    for name in pc.list_functions():
        fn = getattr(pc, name, None)
        if callable(fn):
            setattr(pc, name, labelled(name, fn))


def profile_call(label: str, run: Callable[[], object], top: int) -> None:
    """cProfile one call of ``run``; print the top functions by cumulative and own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    run()
    profiler.disable()
    print(f"cProfile of {label} ({time.perf_counter() - started:.1f} s under the profiler)")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def profile_task(name: str, pattern: str, top_k: int, top: int) -> None:
    """cProfile one run of a build row in this process (Beam with 1 worker runs its
    SDK harness in this process, so the profile covers the worker's work too)."""
    from harness.tasks import TASKS

    label_pyarrow_compute()
    work = tempfile.mkdtemp(prefix="bench_profile_")
    try:
        run, _ = TASKS[name](pattern, top_k, work, None)
        profile_call(f"{name} over {pattern}", run, top)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stages(pattern: str, top_k: int, workers: int = 1) -> list[tuple[str, dict]]:
    """Time cumulative prefixes of vocabguard's Beam build on the DirectRunner.

    Each line runs a longer prefix of the pipeline; the difference between two lines
    is what the added step costs. The counting and merging steps are private
    (``_CountTokens``, ``_MergeCounts`` of ``vocabguard._src.engines.beam.build``): if
    they change, that line reports the error and the rest runs.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from harness.tasks import direct_options, vg_feature
    from vocabguard.beam import BuildVocabularies, ReadRecordBatches

    feature = vg_feature(top_k)
    options = PipelineOptions(direct_options(workers))

    def read(p):
        return p | ReadRecordBatches([pattern], ["text"])

    def counted(p):
        from vocabguard._src.engines.beam.build import SHARDS, _CountTokens

        return read(p) | beam.ParDo(_CountTokens([feature], "fail", SHARDS))

    def merged(p):
        from vocabguard._src.engines.beam.build import _MergeCounts

        return counted(p) | beam.CombinePerKey(_MergeCounts())

    def count_elements(pcoll) -> None:
        _ = (
            pcoll
            | beam.combiners.Count.Globally()
            | beam.Map(lambda n: print(f"    ({n:,} elements out)", flush=True))
        )

    store = tempfile.mkdtemp(prefix="stages_")

    def full(p):
        return read(p) | BuildVocabularies({"text": feature}, store=tempfile.mkdtemp(dir=store))

    prefixes = [
        ("empty pipeline: Create | Map", lambda p: p | beam.Create([1]) | beam.Map(lambda x: x)),
        ("ReadRecordBatches (plan splits, read, parse into batches)", read),
        ("+ _CountTokens (tokenize and count each batch, cut into token shards)", counted),
        ("+ CombinePerKey(_MergeCounts) (merge the partial counts per shard)", merged),
        ("full BuildVocabularies (+ summaries, checks, selection, publish)", full),
    ]
    print(
        f"stages of vocabguard's Beam build, DirectRunner {workers} worker(s), {pattern} "
        "(each prefix in a fresh forked process: wall seconds, CPU seconds of that process "
        "and its waited-for children, its peak RSS):"
    )

    def run_prefix(build, queue) -> None:
        from harness.process import peak_rss_mb, process_cpu_s

        started, cpu = time.perf_counter(), process_cpu_s()
        try:
            with beam.Pipeline(options=options) as p:
                out = build(p)
                if build is not full:
                    count_elements(out)
        except Exception as err:  # a private step changed: report it, go on
            queue.put({"error": f"{type(err).__name__}: {str(err)[:200]}"})
            return
        queue.put(
            {
                "seconds": time.perf_counter() - started,
                "cpu_s": process_cpu_s() - cpu,
                "peak_rss_mb": peak_rss_mb(),
            }
        )

    context = multiprocessing.get_context("fork")
    timings = []
    for label, build in prefixes:
        queue = context.Queue()
        child = context.Process(target=run_prefix, args=(build, queue))
        child.start()
        out = queue.get()
        child.join()
        if "error" in out:
            print(f"  failed: {label}: {out['error']}", flush=True)
            continue
        timings.append((label, out))
        print(
            f"  {out['seconds']:6.1f} s  {out['cpu_s']:6.1f} CPU s  {out['peak_rss_mb']:7,.0f} MiB"
            f"  {label}",
            flush=True,
        )
    shutil.rmtree(store, ignore_errors=True)
    return timings
