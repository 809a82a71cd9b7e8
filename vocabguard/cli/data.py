"""Commands over data checked against a version: audit (ids in range), report (coverage)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from vocabguard._src.core.outputs import check_new_directory
from vocabguard.cli._common import (
    PROG,
    note,
    store_from_args,
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    audit = command(
        "audit",
        _cmd_audit,
        "check that every id in encoded data lies in [0, input_dim) of a vocabulary version",
        "vocabguard audit 'encoded/*.parquet' --vocab sotu@v1 --column ids",
    )
    audit.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="Parquet or TFRecord (tf.train.Example) files, directories or globs",
    )
    audit.add_argument("--vocab", required=True, metavar="REF", help="the vocabulary")
    audit.add_argument(
        "--column",
        metavar="NAME",
        help="id column / int64 feature (default: the one the file's metadata names, else "
        "the only list<int> column)",
    )
    audit.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on a terminal only)",
    )
    audit.add_argument("--json", action="store_true", help="print the result as JSON")

    report = command(
        "report",
        _cmd_report,
        "write an HTML report of a vocabulary version: coverage curve, OOV rate, top tokens",
        "vocabguard report sotu@v1 --data sample.txt --output reports/sotu_v1",
    )
    report.add_argument("ref", metavar="REF")
    report.add_argument(
        "--data",
        action="append",
        metavar="PATH_OR_GLOB",
        help="sample documents to measure the OOV rate on (may be repeated)",
    )
    report.add_argument(
        "--format",
        choices=("text", "jsonl", "csv", "parquet"),
        help="--data format (default: from each file's extension)",
    )
    report.add_argument("--field", help="JSON key / CSV or Parquet column holding the document")
    report.add_argument(
        "--top", type=int, default=50, metavar="N", help="top tokens to list (default: 50)"
    )
    report.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="new (or empty) directory for report.html and coverage.png",
    )


def _cmd_audit(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.tools.audit import audit, format_report

    vocab = store_from_args(args).load(args.vocab)
    result = audit(args.data, vocab, column=args.column, progress=args.progress)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
    if not result.ok:
        note(f"{PROG}: error: {result.summary()}")
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from vocabguard._src.tools.report import write_report

    output = args.output
    check_new_directory(output)
    vocab = store_from_args(args).load(args.ref)
    summary = write_report(
        vocab, output, data=args.data, format=args.format, field=args.field, top=args.top
    )
    note(summary)
    print(os.path.join(output, "report.html"))
    return 0
