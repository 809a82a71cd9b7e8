"""Repair a model whose Embedding is smaller than its vocabulary (``vocabguard repair-model``).

The textbook bug: ids in ``[0, 128)`` fed to ``Embedding(input_dim=127)``.
TensorFlow raises on CPU, but on GPU the gather returns a zero row for id 127
and XLA clamps it to row 126, so the model trains without an error and never
learns a row for the ids it cannot hold. ``repair_model``:

- resizes every Embedding whose ``input_dim`` is below the vocabulary's to
  the vocabulary's ``input_dim``: rows ``0..old-1`` are kept unchanged (the ids
  are the vocabulary's own; only rows were missing), the added rows come from
  ``init`` (``"mean"`` of the trained learned rows, ``"zeros"``, or ``"normal"``,
  as in ``vocabguard.remap``);
- makes each of them a ``VocabEmbedding`` that records the vocabulary's
  fingerprint, name and version (guard ``"raise"`` for a plain Embedding), so
  the repaired model passes ``check-model`` and rejects out-of-range ids;
- resizes a standalone ``IdGuard`` of the old size, and a Dense layer whose
  ``units`` equal an undersized Embedding's ``input_dim`` (an output head over
  the ids), keeping its columns;
- with ``data`` (the encoded training data), reports which ids at or above the
  old ``input_dim`` occur, how often, and how many examples hold at least one:
  the examples the model saw with an untrained (zero or clamped) row.

A model with no undersized Embedding is an error that says so: nothing is
written. The output is written as ``migrate-model`` writes it (atomically,
checked against the vocabulary before it appears, uncompiled).

>>> tally = RangeTally(trained_input_dim=3, input_dim=5, oov_ids=range(1, 2))
>>> import numpy as np
>>> tally.add("f.parquet", 0, np.array([0, 3, 3, 2, 4, 1]), np.array([3, 1, 2]))
>>> dict(tally.untrained), tally.affected_rows, tally.rows
({3: 2, 4: 1}, 2, 3)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vocabguard._src.core.errors import InputDataError, VocabularyMismatchError, received
from vocabguard._src.tools import encoded_data as reader
from vocabguard._src.tools.audit import Tally
from vocabguard._src.tools.migration import (
    HEAD,
    LayerChange,
    check_output,
    describe_layer,
    format_changes,
    model_layers,
    plan_embedding,
    plan_guard,
    plan_head,
    rebuild,
    save_checked,
    verify,
)
from vocabguard._src.tools.model_check import load_model
from vocabguard._src.tools.remap import RowMap, check_init

# vocabguard._src.engines.keras (TensorFlow and Keras) is imported inside the function
# that uses it: heavy, and this module loads without the tf extra.

MAX_LISTED_IDS = 20  # ids listed in the text report (--json lists all)


class RangeTally(Tally):
    """An audit ``Tally`` that also counts each id at or above ``trained_input_dim``
    and the rows (examples) holding at least one."""

    def __init__(self, trained_input_dim: int, input_dim: int, oov_ids: range, pad_id: int = 0):
        super().__init__(trained_input_dim, oov_ids, pad_id)
        self.vocab_input_dim = int(input_dim)
        self.untrained: dict[int, int] = {}
        self.affected_rows = 0

    def add(
        self,
        file: str,
        first_row: int,
        values: np.ndarray,
        lengths: np.ndarray | None,
        nulls: np.ndarray | None = None,
    ) -> None:
        super().add(file, first_row, values, lengths, nulls)
        values = np.asarray(values, dtype=np.int64)
        high = values >= self.input_dim
        if nulls is not None:
            high &= ~nulls
        if not high.any():
            return
        ids, counts = np.unique(values[high], return_counts=True)
        for id_, count in zip(ids.tolist(), counts.tolist()):
            self.untrained[id_] = self.untrained.get(id_, 0) + count
        if lengths is None:
            self.affected_rows += int(high.sum())
        else:
            row_of = np.repeat(np.arange(len(lengths)), lengths)
            self.affected_rows += int(np.unique(row_of[high]).size)


@dataclasses.dataclass
class DataReport:
    """What the training data says about the missing rows."""

    files: list[str]
    column: str
    trained_input_dim: int  # the undersized Embedding's input_dim
    input_dim: int  # the vocabulary's
    examples: int
    ids: int
    pad_ids: int
    affected_examples: int
    untrained_ids: dict[int, int]  # id -> occurrences, for ids >= trained_input_dim
    negative_ids: int
    mismatched_files: list[str]  # files that record another vocabulary's fingerprint

    @property
    def affected_share(self) -> float:
        return self.affected_examples / self.examples if self.examples else 0.0

    @property
    def beyond_vocabulary(self) -> int:
        """Occurrences of ids at or above the vocabulary's input_dim (not this vocabulary's)."""
        return sum(n for id_, n in self.untrained_ids.items() if id_ >= self.input_dim)

    def to_dict(self) -> dict:
        return {
            "data": self.files,
            "column": self.column,
            "trained_input_dim": self.trained_input_dim,
            "input_dim": self.input_dim,
            "examples": self.examples,
            "ids": self.ids,
            "pad_ids": self.pad_ids,
            "affected_examples": self.affected_examples,
            "affected_share": self.affected_share,
            "untrained_ids": [
                {"id": id_, "count": n} for id_, n in sorted(self.untrained_ids.items())
            ],
            "untrained_occurrences": sum(self.untrained_ids.values()),
            "beyond_vocabulary": self.beyond_vocabulary,
            "negative_ids": self.negative_ids,
            "fingerprint_mismatches": list(self.mismatched_files),
        }


@dataclasses.dataclass
class RepairResult:
    """What ``repair_model`` did: the resized layers, the data report, the final check."""

    model: str
    output: str
    vocab: dict  # {"ref", "fingerprint", "input_dim"}
    init: str
    seed: int | None
    layers: list[LayerChange]
    data: DataReport | None
    check_ok: bool
    check_problems: list[str]  # check-model errors and warnings on layers left unchanged
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``--json`` form."""
        return {
            "model": self.model,
            "output": self.output,
            "vocab": dict(self.vocab),
            "init": self.init,
            "seed": self.seed,
            "layers": [layer.to_dict() for layer in self.layers],
            "data": None if self.data is None else self.data.to_dict(),
            "check_model": {"ok": self.check_ok, "problems": list(self.check_problems)},
            "notes": list(self.notes),
        }


def scan_data(
    data: str | os.PathLike | Sequence[str | os.PathLike],
    vocab: Any,
    trained_input_dim: int,
    *,
    column: str | None = None,
    progress: bool | None = None,
    batch_rows: int | None = None,
) -> DataReport:
    """Count the ids of encoded ``data`` that an ``Embedding(trained_input_dim)`` had no row for.

    Reads Parquet and TFRecord files as ``vocabguard audit`` does (same column
    choice and errors), in batches.
    """
    tally = RangeTally(trained_input_dim, vocab.input_dim, vocab.oov_ids, vocab.pad_id)
    scan = reader.scan_ids(
        data,
        vocab.fingerprint,
        tally,
        column=column,
        progress=progress,
        batch_rows=batch_rows or reader.BATCH_ROWS,
        what="scanning",
    )
    # A file recording another vocabulary is named once, however many records differ.
    mismatched = list(dict.fromkeys(m.file for m in scan.mismatches))
    return DataReport(
        files=scan.files,
        column=scan.column,
        trained_input_dim=int(trained_input_dim),
        input_dim=vocab.input_dim,
        examples=tally.rows,
        ids=tally.ids,
        pad_ids=tally.pad,
        affected_examples=tally.affected_rows,
        untrained_ids=dict(sorted(tally.untrained.items())),
        negative_ids=tally.negative,
        mismatched_files=mismatched,
    )


def _undersized(found: Any, vocab: Any, name: str, ref: str) -> list[tuple[str, Any]]:
    """The model's Embeddings smaller than ``vocab``'s input_dim, as ``(path, layer)``;
    refused if there are none, or if one records another vocabulary."""
    from vocabguard._src.engines.keras import VocabEmbedding

    small = [(path, layer) for path, layer in found.embeddings if layer.input_dim < vocab.input_dim]
    if not small:
        listing = (
            ", ".join(describe_layer(layer) for _, layer in found.embeddings) or "no Embedding"
        )
        raise InputDataError(
            f"Nothing to repair in {name!r}: no Embedding is smaller than {ref}'s input_dim "
            f"{vocab.input_dim} ({listing}), so no output was written. vocabguard check-model "
            f"{name} --vocab {vocab.ref or 'REF'} reports any other problem. "
            + received(model=name, input_dim=vocab.input_dim),
            cases=[name],
        )
    for path, layer in small:
        if isinstance(layer, VocabEmbedding) and layer.vocab_fingerprint != vocab.fingerprint:
            raise VocabularyMismatchError(
                f"Layer '{path}' of {name!r} was built from vocabulary "
                f"{layer.vocab_ref or layer.vocab_fingerprint[:12]}, not {ref}: resizing it "
                "would not make its rows mean this vocabulary's tokens. Use vocabguard "
                f"migrate-model {name} --to {vocab.ref or 'REF'} to move its rows by token. "
                + received(
                    layer=path,
                    model_fingerprint=layer.vocab_fingerprint,
                    vocab_fingerprint=vocab.fingerprint,
                ),
                layer=path,
                model_fingerprint=layer.vocab_fingerprint,
                vocab_fingerprint=vocab.fingerprint,
            )
    return small


def _plans(found: Any, small: list, sizes: list[int], vocab: Any) -> list:
    """What to change: the undersized Embeddings, the output heads of their sizes, and
    the guards that check ids against the old input_dim."""
    plans = [
        plan_embedding(path, layer, vocab, RowMap.resize(layer.input_dim, vocab))
        for path, layer in small
    ]
    plans += [
        plan_head(path, layer, RowMap.resize(layer.units, vocab))
        for path, layer in found.denses
        if layer.units in sizes
    ]
    plans += [
        plan_guard(path, layer, vocab.input_dim)
        for path, layer in found.guards
        if layer.input_dim < vocab.input_dim
    ]
    return plans


def repair_model(
    model_path: str | os.PathLike,
    vocab: Any,
    output: str | os.PathLike,
    *,
    data: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    column: str | None = None,
    init: str = "mean",
    seed: int | None = 0,
    progress: bool | None = None,
) -> RepairResult:
    """Write ``output``: the model at ``model_path`` with its undersized Embeddings resized.

    Args:
        model_path: a saved Keras model (``.keras``).
        vocab: the vocabulary the model's data was encoded with.
        output: the ``.keras`` file to create (never replaced).
        data: encoded training data (Parquet/TFRecord files, directories, globs):
            report the ids the undersized Embedding had no row for.
        column: the id column of ``data`` (default as in ``vocabguard audit``).
        init: the added rows: ``"mean"``, ``"zeros"`` or ``"normal"``.
        seed: for ``init="normal"``.
        progress: a progress bar while scanning ``data`` (``None``: on a terminal).

    Raises:
        OutputExistsError, ConfigError: ``output`` exists or is not a ``.keras`` path.
        InputDataError: the model cannot be loaded or has no undersized Embedding
            (nothing to repair), or ``data`` cannot be read.
        VocabularyMismatchError: an undersized layer records another vocabulary.
    """
    check_init(init)
    output = check_output(output)
    name = os.fspath(model_path)
    ref = vocab.ref or f"the vocabulary (fingerprint {vocab.fingerprint[:12]})"
    model = load_model(name)
    found = model_layers(model)
    small = _undersized(found, vocab, name, ref)
    sizes = sorted({layer.input_dim for _, layer in small})
    report = None
    if data is not None:
        # Before anything is written: a bad --data fails the command with no output.
        report = scan_data(data, vocab, sizes[0], column=column, progress=progress)
    plans = _plans(found, small, sizes, vocab)
    notes = [
        f"{path}: input_dim {layer.input_dim} already covers {ref}; left unchanged"
        for path, layer in found.embeddings
        if layer.input_dim >= vocab.input_dim
    ]
    if report is not None and len(sizes) > 1:
        notes.append(f"--data was compared with the smallest input_dim, {sizes[0]}")
    new_model = rebuild(model, plans, init, seed, name)
    checked: list[Any] = []
    repaired = [plan.path for plan in plans if plan.kind != HEAD]
    save_checked(
        new_model, output, lambda tmp: checked.append(verify(tmp, vocab, repaired, output))
    )
    check = checked[0]
    problems = [
        f"{layer.status.upper()} {layer.name}: {layer.message}"
        for layer in check.layers
        if layer.status in ("error", "warning")
    ]
    return RepairResult(
        model=name,
        output=output,
        vocab={"ref": vocab.ref, "fingerprint": vocab.fingerprint, "input_dim": vocab.input_dim},
        init=init,
        seed=seed,
        layers=[plan.change() for plan in plans],
        data=report,
        check_ok=check.ok,
        check_problems=problems,
        notes=notes,
    )


def _format_data(report: DataReport, limit: int) -> list[str]:
    occurrences = sum(report.untrained_ids.values())
    listed = list(report.untrained_ids.items())
    shown = ", ".join(f"{id_} ({n}x)" for id_, n in listed[:limit])
    more = (
        f", ... ({len(listed) - limit} more ids; --json lists all)" if len(listed) > limit else ""
    )
    n = len(report.files)
    lines = [
        f"data     {report.files[0] if n == 1 else f'{n} files ({report.files[0]} ...)'}  "
        f"column {report.column!r}",
        f"examples {report.examples}  ids {report.ids} ({report.ids - report.pad_ids} non-pad)",
    ]
    if not listed:
        lines.append(
            f"no id >= {report.trained_input_dim} occurs: every example was embedded with a "
            "trained row"
        )
        return lines
    lines += [
        f"ids >= {report.trained_input_dim} (no row in the old Embedding; zero row on GPU, "
        f"clamped to row {report.trained_input_dim - 1} under XLA): {len(listed)} distinct, "
        f"{occurrences} occurrences",
        f"  {shown}{more}",
        f"affected {report.affected_examples} of {report.examples} examples "
        f"({report.affected_share:.2%}) hold at least one of them",
    ]
    if report.beyond_vocabulary:
        lines.append(
            f"WARNING: {report.beyond_vocabulary} ids are >= the vocabulary's input_dim "
            f"{report.input_dim} too: that data was not encoded with this vocabulary "
            "(vocabguard audit tells more)"
        )
    if report.mismatched_files:
        lines.append(
            f"WARNING: {len(report.mismatched_files)} file(s) record another vocabulary's "
            f"fingerprint ({report.mismatched_files[0]}); the ids may mean other tokens"
        )
    if report.negative_ids:
        lines.append(f"WARNING: {report.negative_ids} negative ids in the data")
    return lines


def format_repair(result: RepairResult, limit: int = MAX_LISTED_IDS) -> str:
    """The human-readable ``repair-model`` report (at most ``limit`` ids listed)."""
    vocab = result.vocab
    lines = [
        f"model    {result.model} -> {result.output}",
        f"vocab    {vocab['ref'] or 'unpublished'}  input_dim {vocab['input_dim']}  "
        f"fingerprint {vocab['fingerprint'][:12]}",
        f"init     {result.init}" + (f" (seed {result.seed})" if result.init == "normal" else ""),
        "",
        *format_changes(result.layers),
    ]
    if result.data is not None:
        lines += ["", *_format_data(result.data, limit)]
    if result.notes or result.check_problems:
        lines.append("")
    lines.extend(f"note: {note}" for note in result.notes)
    lines.extend(result.check_problems)
    resized = len(result.layers)
    status = (
        "passes check-model"
        if result.check_ok
        else "still FAILS check-model in layers it did not resize (above)"
    )
    lines += [
        "",
        f"OK: {resized} layer{'' if resized == 1 else 's'} resized to input_dim "
        f"{vocab['input_dim']}; {result.output} records {vocab['ref'] or 'the vocabulary'} and "
        f"{status}.",
    ]
    return "\n".join(lines)


__all__ = [
    "DataReport",
    "RangeTally",
    "RepairResult",
    "format_repair",
    "repair_model",
    "scan_data",
]
