"""Encode a dataset into ids with pinned vocabulary versions, with Apache Beam.

    python pipelines/encode_dataset.py --config configs/bbc_news_job.yaml [Beam options]

Writes Parquet (list<int32|int64> id columns; the vocabulary refs, fingerprints and
input_dims in the file metadata) or TFRecord (tf.train.Example with int64 id lists
and a <feature>_vocab_fingerprint feature) under the config's encode.output
directory, plus summary.json (documents, ids, OOV rate, out-of-range ids = 0,
skipped bad records). Refuses to overwrite an existing output.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    from vocabguard.cli import run_guarded
    from vocabguard.cli.jobs import main_encode

    return run_guarded(main_encode, argv)


if __name__ == "__main__":
    from vocabguard.cli import quiet_argv  # before Beam is imported; -v shows Beam's logs

    sys.exit(run(quiet_argv(sys.argv[1:])))
