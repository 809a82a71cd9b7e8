"""One build row in this process: ``python benchmarks/harness/worker.py ROW --pattern P ...``.

Run by ``harness.rows`` (one process per row); prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    # benchmarks/ instead of this folder (whose module names must not shadow the stdlib)
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from harness.process import emit, process_cpu_s, rusage_facts, timed
    from harness.tasks import TASKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("row", choices=sorted(TASKS))
    parser.add_argument("--pattern", required=True)
    parser.add_argument("--top-k", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", required=True)
    parser.add_argument("--address", help="the Dask scheduler (vg-dask-2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    run, after = TASKS[args.row](args.pattern, args.top_k, args.work, args.address)
    import_s = time.perf_counter() - started
    cpu_before = process_cpu_s()
    seconds, out = timed(run, args.repeat)
    cpu_timed = process_cpu_s() - cpu_before
    tokens_file = os.path.join(args.work, f"{args.row}.tokens")
    facts = after(out, tokens_file)
    emit(
        {
            "row": args.row,
            **rusage_facts(seconds, cpu_timed),
            "import_s": import_s,
            "tokens_file": tokens_file,
            **facts,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
