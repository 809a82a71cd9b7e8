"""Audit encoded data against a vocabulary artifact (``vocabguard audit``).

Reads Parquet files (a ``list<int>`` or integer id column) or TFRecord files
of ``tf.train.Example`` (an ``int64_list`` feature) in batches, so memory stays
bounded by one batch, and counts what a model would meet: ids ``>= input_dim``
and negative ids (violations), null ids, OOV and pad ids, the OOV rate (OOV
ids / non-pad ids), and the id range. It also compares the vocabulary
fingerprint the data records (``vocabguard encode`` and the Beam encode job
write one) with the artifact's: a different one means the data was encoded
with another vocabulary, and is reported as an error.

The files are read by ``encoded_data.scan_ids`` (Parquet, and TFRecord without
TensorFlow).

>>> tally = Tally(input_dim=5, oov_ids=range(1, 2), pad_id=0)
>>> import numpy as np
>>> tally.add("f.parquet", 0, np.array([0, 1, 4, 5, -1]), np.array([3, 2]))
>>> tally.out_of_range, tally.negative, tally.oov, tally.pad
(1, 1, 1, 1)
>>> [(v.row, v.position, v.id) for v in tally.violations]
[(1, 0, 5), (1, 1, -1)]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vocabguard._src.core.errors import received
from vocabguard._src.tools.encoded_data import (
    BATCH_ROWS,
    FingerprintMismatch,
    choose_column,
    data_format,
    example_class,
    expand_data,
    read_tfrecord,
    scan_ids,
)

MAX_VIOLATIONS = 10


@dataclasses.dataclass(frozen=True)
class Violation:
    """One bad id: ``row`` is the 0-based row (record) of ``file``, ``position`` the index
    in that row's id list (``None`` for a column of single ids)."""

    file: str
    row: int
    position: int | None
    id: int | None
    kind: str  # "out_of_range" (>= input_dim), "negative" or "null"

    def describe(self, input_dim: int) -> str:
        where = f"{self.file} row {self.row}" + (
            f" position {self.position}" if self.position is not None else ""
        )
        what = {
            "out_of_range": f"id {self.id} >= input_dim {input_dim}",
            "negative": f"negative id {self.id}",
            "null": "null id",
        }[self.kind]
        return f"{where}: {what}"


class Tally:
    """Running counts over batches of ids (flat values plus each row's length)."""

    def __init__(
        self,
        input_dim: int,
        oov_ids: range,
        pad_id: int = 0,
        max_violations: int = MAX_VIOLATIONS,
        *,
        missing_id: int | None = None,
        used_ids: int | None = None,
    ):
        self.input_dim = int(input_dim)
        # `missing: token`: ids of missing values; rows >= used_ids (capacity,
        # pad_to_multiple_of) hold no token, so this vocabulary never emits them.
        self.missing_id = missing_id
        self.used_ids = int(input_dim) if used_ids is None else int(used_ids)
        self.missing = 0
        self.unused = 0
        self.oov_ids = oov_ids
        self.pad_id = int(pad_id)
        self.max_violations = max_violations
        self.rows = 0
        self.null_rows = 0
        self.ids = 0
        self.out_of_range = 0
        self.negative = 0
        self.null_ids = 0
        self.oov = 0
        self.pad = 0
        self.min_id: int | None = None
        self.max_id: int | None = None
        self.violations: list[Violation] = []

    def add(
        self,
        file: str,
        first_row: int,
        values: np.ndarray,
        lengths: np.ndarray | None,
        nulls: np.ndarray | None = None,
    ) -> None:
        """Count one batch.

        ``values``: the flat ids of the batch's rows; ``lengths``: each row's
        number of ids (``None``: one id per row); ``nulls``: a mask of null ids.
        """
        values = np.asarray(values, dtype=np.int64)
        rows = len(values) if lengths is None else len(lengths)
        self.rows += rows
        valid = values if nulls is None else values[~nulls]
        self.ids += int(valid.size)
        if valid.size:
            low, high = int(valid.min()), int(valid.max())
            self.min_id = low if self.min_id is None else min(self.min_id, low)
            self.max_id = high if self.max_id is None else max(self.max_id, high)
        negative = values < 0
        too_big = values >= self.input_dim
        if nulls is not None:
            negative &= ~nulls
            too_big &= ~nulls
            self.null_ids += int(nulls.sum())
        self.negative += int(negative.sum())
        self.out_of_range += int(too_big.sum())
        self.oov += int(((valid >= self.oov_ids.start) & (valid < self.oov_ids.stop)).sum())
        self.pad += int((valid == self.pad_id).sum())
        if self.missing_id is not None:
            self.missing += int((valid == self.missing_id).sum())
        if self.used_ids < self.input_dim:
            self.unused += int(((valid >= self.used_ids) & (valid < self.input_dim)).sum())
        bad = negative | too_big if nulls is None else negative | too_big | nulls
        room = self.max_violations - len(self.violations)
        if room > 0 and bad.any():
            self._record(file, first_row, values, lengths, nulls, np.flatnonzero(bad)[:room])

    def _record(self, file, first_row, values, lengths, nulls, indices) -> None:
        if lengths is None:
            rows, positions = indices, [None] * len(indices)
        else:
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            # The row of flat index i: the last row starting at or before i (empty rows skipped).
            rows = np.searchsorted(starts, indices, side="right") - 1
            positions = (indices - starts[rows]).tolist()
        for index, row, position in zip(indices.tolist(), np.asarray(rows).tolist(), positions):
            if nulls is not None and nulls[index]:
                kind, value = "null", None
            else:
                value = int(values[index])
                kind = "negative" if value < 0 else "out_of_range"
            self.violations.append(Violation(file, first_row + row, position, value, kind))


@dataclasses.dataclass
class AuditResult:
    """What ``audit`` found; ``ok`` is False on any bad id or fingerprint mismatch."""

    files: list[str]
    column: str
    ref: str | None
    fingerprint: str
    input_dim: int
    tally: Tally
    recorded_fingerprints: int  # files (TFRecord: records) that record a fingerprint
    mismatches: list[FingerprintMismatch]

    @property
    def violations(self) -> int:
        return self.tally.out_of_range + self.tally.negative + self.tally.null_ids

    @property
    def oov_rate(self) -> float:
        """OOV ids / non-pad ids (0.0 when there are none)."""
        non_pad = self.tally.ids - self.tally.pad
        return self.tally.oov / non_pad if non_pad else 0.0

    @property
    def ok(self) -> bool:
        return self.violations == 0 and not self.mismatches

    def summary(self) -> str:
        """One line: what is wrong and how to fix it (or that all ids fit)."""
        t = self.tally
        ref = self.ref or "the vocabulary"
        parts = []
        # A fingerprint mismatch first: it explains any bad ids that follow.
        if self.mismatches:
            first = self.mismatches[0]
            other = first.ref or f"fingerprint {first.fingerprint[:12]}"
            files = len(self.mismatches)
            parts.append(
                f"{files} file{'s were' if files > 1 else ' was'} encoded with another "
                f"vocabulary ({first.file}: {other}, not {ref}): the ids mean other tokens. "
                f"Audit with --vocab {first.ref or '<that vocabulary>'}, or re-encode with {ref}"
            )
        if self.violations:
            kinds = [
                f"{n} {label}"
                for n, label in (
                    (t.out_of_range, f">= input_dim {self.input_dim}"),
                    (t.negative, "negative"),
                    (t.null_ids, "null"),
                )
                if n
            ]
            parts.append(
                f"{self.violations} of {t.ids + t.null_ids} ids in column {self.column!r} are "
                f"not in [0, {self.input_dim}) ({', '.join(kinds)}); the first is "
                f"{t.violations[0].describe(self.input_dim)}. Re-encode the data with {ref} "
                "(vocabguard encode), or audit it with the vocabulary it was encoded with"
            )
        if not parts:
            return (
                f"all {t.ids} ids of {t.rows} rows are in [0, {self.input_dim}) for {ref}; "
                f"OOV rate {self.oov_rate:.4f}"
            )
        return "; ".join(parts) + ". " + received(vocab=self.ref, column=self.column)

    def to_dict(self) -> dict:
        """The ``--json`` form."""
        t = self.tally
        return {
            "data": self.files,
            "column": self.column,
            "vocab": {
                "ref": self.ref,
                "fingerprint": self.fingerprint,
                "input_dim": self.input_dim,
            },
            "files": len(self.files),
            "rows": t.rows,
            "null_rows": t.null_rows,
            "ids": t.ids,
            "out_of_range_ids": t.out_of_range,
            "negative_ids": t.negative,
            "null_ids": t.null_ids,
            "oov_ids": t.oov,
            "pad_ids": t.pad,
            "missing_ids": t.missing if t.missing_id is not None else None,
            "unused_row_ids": t.unused,
            "oov_rate": self.oov_rate,
            "min_id": t.min_id,
            "max_id": t.max_id,
            "violations": [dataclasses.asdict(v) for v in t.violations],
            "fingerprint_mismatches": [dataclasses.asdict(m) for m in self.mismatches],
            "recorded_fingerprints": self.recorded_fingerprints,
            "ok": self.ok,
        }


# -- the audit --


def audit(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    vocab: Any,
    *,
    column: str | None = None,
    progress: bool | None = None,
    max_violations: int = MAX_VIOLATIONS,
    batch_rows: int = BATCH_ROWS,
) -> AuditResult:
    """Audit encoded data against ``vocab`` (a ``Vocabulary``), streaming in batches.

    Args:
        data: Parquet or TFRecord files, directories or globs.
        vocab: the vocabulary the data should have been encoded with.
        column: the id column (Parquet) or int64 feature (TFRecord); default: the
            one the file records a vocabulary for, else the only integer-list one.
            Chosen from the first file; every file must have it.
        progress: a progress bar on stderr (``None``: on a terminal only).
        max_violations: how many bad ids to keep, with file, row and position.

    Raises:
        InputDataError: a file is unreadable, or the id column is missing or ambiguous.
    """
    missing_id = getattr(vocab, "missing_id", None)
    tally = Tally(
        vocab.input_dim,
        vocab.oov_ids,
        vocab.pad_id,
        max_violations,
        missing_id=missing_id if missing_id not in (None, vocab.pad_id, 1) else None,
        used_ids=vocab.layout.used_ids,
    )
    scan = scan_ids(
        data, vocab.fingerprint, tally, column=column, progress=progress, batch_rows=batch_rows
    )
    return AuditResult(
        files=scan.files,
        column=scan.column,
        ref=vocab.ref,
        fingerprint=vocab.fingerprint,
        input_dim=vocab.input_dim,
        tally=tally,
        recorded_fingerprints=scan.recorded_fingerprints,
        mismatches=scan.mismatches,
    )


def format_report(result: AuditResult) -> str:
    """The human-readable ``audit`` report."""
    t = result.tally
    n = len(result.files)
    data = result.files[0] if n == 1 else f"{n} files ({result.files[0]} ...)"
    lines = [
        f"data     {data}  column {result.column!r}",
        f"vocab    {result.ref or 'unpublished'}  input_dim {result.input_dim}  "
        f"fingerprint {result.fingerprint[:12]}",
        f"files    {n}",
        f"rows     {t.rows}" + (f"  ({t.null_rows} null or missing)" if t.null_rows else ""),
        f"ids      {t.ids}  (pad {t.pad}, OOV {t.oov}; OOV rate {result.oov_rate:.4f} of "
        "non-pad ids)",
        f"id range {'-' if t.min_id is None else t.min_id}..{'-' if t.max_id is None else t.max_id}"
        f"  (valid: 0..{result.input_dim - 1})",
        f"bad ids  {t.out_of_range} >= input_dim, {t.negative} negative"
        + (f", {t.null_ids} null" if t.null_ids else ""),
    ]
    if t.missing_id is not None:
        lines.append(f"missing  {t.missing} ids = the missing token (id {t.missing_id})")
    if t.used_ids < result.input_dim:
        lines.append(
            f"unused   {t.unused} ids in rows {t.used_ids}..{result.input_dim - 1} (capacity or "
            "pad_to_multiple_of padding: no token of this vocabulary maps there"
            + ("; the data may come from another vocabulary)" if t.unused else ")")
        )
    if result.mismatches:
        lines.append("fingerprint MISMATCH")
        for m in result.mismatches:
            other = m.ref or "another vocabulary"
            rows = f" ({m.rows} records)" if m.rows is not None else ""
            lines.append(
                f"  {m.file}{rows}: encoded with {other} (fingerprint {m.fingerprint[:12]}), "
                f"not {result.ref or 'this vocabulary'}"
            )
    elif result.recorded_fingerprints:
        lines.append("fingerprint matches the vocabulary")
    else:
        lines.append("fingerprint not recorded in the data")
    if t.violations:
        shown = len(t.violations)
        lines.append(f"violations (first {shown} of {result.violations}):")
        lines.extend(f"  {v.describe(result.input_dim)}" for v in t.violations)
    lines.append("")
    if result.ok:
        lines.append(f"OK: {result.summary()}")
    else:
        lines.append(
            f"FAILED: {result.violations} bad ids, {len(result.mismatches)} fingerprint "
            f"mismatch{'es' if len(result.mismatches) != 1 else ''}"
        )
    return "\n".join(lines)


__all__ = [
    "AuditResult",
    "FingerprintMismatch",
    "Tally",
    "Violation",
    "audit",
    "choose_column",
    "data_format",
    "example_class",
    "expand_data",
    "format_report",
    "read_tfrecord",
    "scan_ids",
]
