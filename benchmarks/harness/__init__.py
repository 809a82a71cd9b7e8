"""The shared harness of the comparison scripts in ``benchmarks/``.

- ``corpus``: the inputs (``gen_zipf``'s Zipf corpus in N files, or BBC News + Brown);
- ``process``: one process per row: its command, peak RSS of every process in its
  tree (and of services it uses, such as a Dask cluster), CPU, and contention (the
  CPU other work on the machine used meanwhile); worker-side rusage helpers;
- ``tasks``: what each build row times (run in the row's process by ``worker.py``);
- ``rows``: the table of build rows, and running them one process each;
- ``dask_cluster``: a ``dask.distributed`` scheduler and workers on 127.0.0.1;
- ``tft``: the ``.venv-tft`` virtualenv of TensorFlow Transform (``tft_worker.py``
  runs there, importing nothing from vocabguard or this harness);
- ``checks``: do the rows' vocabularies agree (fingerprints, exact top-k);
- ``machine``: CPU, memory, versions, load, which vocabguard source was measured;
- ``report``: markdown tables, the summary lines, JSON output;
- ``compare``: the driver every comparison script shares (arguments, corpora, rows,
  table, checks, targets, machine, JSON).

``benchmarks/`` is not a package: each script runs as ``python benchmarks/X.py``,
which puts ``benchmarks/`` on ``sys.path``, so ``import harness`` finds this folder.
"""
