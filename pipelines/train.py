"""Train a text classifier from a YAML config (docs/guides/training.md), as `vocabguard train`.

    python pipelines/train.py --config configs/bbc_news.yaml

Resolves the vocabulary (building and publishing it from the train split if the
reference is missing), trains, evaluates on the held-out split and writes
metrics.json, model.keras and serving/ (a raw-string SavedModel) to the config's
output directory, which must not exist yet. Ends with the held-out accuracy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    from vocabguard.cli.models import train_main

    return train_main(argv)


if __name__ == "__main__":
    from vocabguard.cli import quiet_argv  # before TensorFlow is imported; -v shows its logs

    sys.exit(run(quiet_argv(sys.argv[1:])))
