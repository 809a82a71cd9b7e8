"""Build and publish the vocabularies of a job config with Apache Beam, in one pass.

    python pipelines/build_vocab.py --config configs/bbc_news_job.yaml \
        [--runner DirectRunner] [--direct_num_workers 2 --direct_running_mode multi_processing]

On Dataflow: add --runner DataflowRunner --project P --region R --temp_location gs://...
(and gs:// paths in the config); on Flink or Spark, their runners' standard options.
Prints each published reference (e.g. bbc_text@v1) on stdout.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    from vocabguard.cli import run_guarded
    from vocabguard.cli.jobs import main_build

    return run_guarded(main_build, argv)


if __name__ == "__main__":
    from vocabguard.cli import quiet_argv  # before Beam is imported; -v shows Beam's logs

    sys.exit(run(quiet_argv(sys.argv[1:])))
