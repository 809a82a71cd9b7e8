"""What changed between two vocabulary versions (``vocabguard diff A B``).

Tokens are compared by token, never by position. A token of a vocabulary is
*live* when it has an id that text can reach: a reserved or learned row that
is not retired. Going from A to B, a token of A is

- **kept**: live in B at the same id;
- **moved**: live in B at another id (a model trained on A reads it as some
  other row);
- **retired**: B still holds its row, retired: the token maps to OOV and the
  row stays reserved (``build --parent A --retire``);
- **removed**: B does not hold it at all.

A token live in B but not in A is **added** (a token that A had retired and B
holds live again counts as added too: A read it as OOV).

B is **id-compatible** with A when text encoded with B gives every token of A
the id A gave it, so a model trained on A reads B's ids as before:

- both hold the same kind of token and tokenize text the same way
  (``tokenizer``, ``pattern``, ``lowercase``, ``normalization``): otherwise
  the same text yields other tokens, even where every id lines up;
- the pad token (id 0) and the OOV ids ``1..k`` are the same (``k`` decides
  the OOV id of every unknown token);
- every live token of A is kept: none moved, removed or retired. A retired
  token breaks compatibility because it now reads as OOV, although no id of A
  means another token (the summary says which case it is);
- ``input_dim`` does not shrink.

A lineage grown with ``build --parent`` (without ``--retire``) is id-compatible
by construction; ``diff`` checks it from the tokens themselves.

>>> from vocabguard import VocabSpec, build_vocabulary
>>> v1 = build_vocabulary(["a a b"], VocabSpec(), progress=False)
>>> v2 = build_vocabulary(["a a b", "c c c"], VocabSpec(), progress=False, parent=v1)
>>> result = diff_vocabularies(v1, v2)
>>> result.id_compatible, [t for t, _ in result.added], result.moved
(True, [b'c'], [])
>>> rebuilt = build_vocabulary(["c c c b b a"], VocabSpec(), progress=False)
>>> diff_vocabularies(v1, rebuilt).id_compatible
False
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.errors import ConfigError, VocabguardError, received
from vocabguard._src.core.vocabulary import INT64, printable_token
from vocabguard._src.tools.coverage import (
    TOKENIZATION_FIELDS,
    Sample,
    SampleCoverage,
    sample_coverage,
)

# Spec fields that decide which tokens a text yields: a change means the same
# text gives other tokens, so ids lining up is not enough.
# Relations of B to A, from the manifests' parent records.
IDENTICAL = "identical"
DESCENDANT = "descendant"  # B was grown from A (directly or through versions between)
ANCESTOR = "ancestor"  # A was grown from B: the diff runs backwards
UNRELATED = "unrelated"
_MAX_ANCESTRY = 100_000  # a guard against a cycle in hand-edited manifests


def token_to_json(token: bytes | int) -> str | int | dict:
    """A token in ``--json`` output: ``int`` for integers, ``str`` for UTF-8 text, and
    ``{"base64": ...}`` for bytes that are not valid UTF-8 (JSON strings hold text only).

    >>> token_to_json(b"caf\\xc3\\xa9"), token_to_json(b"\\xff"), token_to_json(7)
    ('café', {'base64': '/w=='}, 7)
    """
    if isinstance(token, int):
        return token
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(token).decode("ascii")}


def display(token: Any) -> str:
    """A token for a terminal: invisible or undecodable ones as Python literals."""
    return printable_token(token)


# -- one side of the diff --


@dataclasses.dataclass
class VersionInfo:
    """The facts about A or B that the diff reports."""

    label: str  # name@vN, or "unpublished <fingerprint prefix>"
    ref: str | None
    fingerprint: str
    token_type: str
    input_dim: int
    used_ids: int
    capacity: int | None
    num_oov_buckets: int
    pad_token: Any
    oov_token: Any
    reserved_tokens: list
    num_learned: int
    num_retired: int
    parent: dict | None
    spec: dict
    fields: list | None = None  # the fields that share this id space (build info)
    missing: str | None = None  # "token -> id 2", or None under missing: error

    @classmethod
    def of(cls, vocab: Any) -> VersionInfo:
        layout = vocab.layout
        ref = vocab.ref
        return cls(
            label=ref or f"unpublished {vocab.fingerprint[:12]}",
            ref=ref,
            fingerprint=vocab.fingerprint,
            token_type=vocab.token_type,
            input_dim=vocab.input_dim,
            used_ids=layout.used_ids,
            capacity=layout.capacity,
            num_oov_buckets=layout.num_oov_buckets,
            pad_token=vocab.pad_token,
            oov_token=vocab.oov_token,
            reserved_tokens=list(vocab.token_bytes[: layout.num_reserved]),
            num_learned=layout.num_learned,
            num_retired=len(vocab.retired),
            parent=dict(vocab.parent) if vocab.parent else None,
            spec=vocab.spec.to_dict(),
            fields=list(vocab.build.get("fields") or []) or None,
            missing=None
            if vocab.missing_id is None
            else f"{vocab.spec.missing} -> id {vocab.missing_id}",
        )

    def to_dict(self) -> dict:
        return {
            "ref": self.ref,
            "fingerprint": self.fingerprint,
            "token_type": self.token_type,
            "input_dim": self.input_dim,
            "used_ids": self.used_ids,
            "capacity": self.capacity,
            "num_oov_buckets": self.num_oov_buckets,
            "oov_ids": [1, self.num_oov_buckets],
            "pad_token": self.pad_token,
            "oov_token": self.oov_token,
            "reserved_tokens": [token_to_json(t) for t in self.reserved_tokens],
            "num_learned": self.num_learned,
            "num_retired": self.num_retired,
            "parent": self.parent,
            "pad_to_multiple_of": self.spec.get("pad_to_multiple_of"),
            "fields": self.fields,
            "missing": self.missing,
        }


@dataclasses.dataclass
class Ancestry:
    """How B relates to A through the ``parent`` records of the manifests.

    ``chain`` lists labels from the later version back to the earlier one
    (``["news@v3", "news@v2", "news@v1"]``) when one descends from the other.
    ``stopped`` says why the search for A among B's ancestors ended before a
    root: a parent no longer in the store (deleted by ``gc``), or no store to
    read the parents' records from.
    """

    relation: str
    chain: list[str]
    stopped: str | None = None

    def describe(self) -> str:
        if self.relation == IDENTICAL:
            return "A and B are the same vocabulary (same fingerprint)"
        if self.relation == DESCENDANT:
            how = "B's parent is A" if len(self.chain) == 2 else "B descends from A"
            return f"{how}: {' <- '.join(self.chain)}"
        if self.relation == ANCESTOR:
            return f"A descends from B (the diff runs backwards): {' <- '.join(self.chain)}"
        if self.stopped:
            return f"B does not descend from A as far as the records show: {self.stopped}"
        return "B does not descend from A"


def _label(parent: dict) -> str:
    return parent.get("ref") or f"unpublished {parent['fingerprint'][:12]}"


def _chain(later: Any, earlier: Any, store: Any) -> tuple[list[str] | None, str | None]:
    """Labels from ``later`` back to ``earlier`` along parent records, else ``(None, why)``.

    Without a store only ``later``'s own parent record is known; with one, the
    parents' manifests (small JSON files, not the tokens) continue the chain.
    ``why`` is ``None`` when the chain ended at a root.
    """
    chain = [later.ref or f"unpublished {later.fingerprint[:12]}"]
    parent = later.parent
    seen: set[str] = set()
    while parent and len(chain) < _MAX_ANCESTRY:
        chain.append(_label(parent))
        if parent["fingerprint"] == earlier.fingerprint:
            return chain, None
        ref = parent.get("ref")
        if not ref:
            return None, f"{_label(parent)} was never published, so its parent is not recorded"
        if store is None:
            return None, f"{ref} was not followed further (no store given)"
        if parent["fingerprint"] in seen:
            return None, None
        seen.add(parent["fingerprint"])
        try:
            manifest = store.manifest(ref)
        except (VocabguardError, OSError):
            return None, f"{ref} is no longer in the store"  # e.g. deleted by gc
        if manifest.get("fingerprint") != parent["fingerprint"]:
            return None, f"{ref} in the store is not the version B's lineage records"
        parent = manifest.get("parent")
    return None, None


def ancestry(old: Any, new: Any, store: Any = None) -> Ancestry:
    """Whether ``new`` was grown from ``old`` (or the other way round).

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> v1 = build_vocabulary(["a"], VocabSpec(), progress=False)
    >>> v2 = build_vocabulary(["a b"], VocabSpec(), progress=False, parent=v1)
    >>> ancestry(v1, v2).relation, ancestry(v2, v1).relation, ancestry(v1, v1).relation
    ('descendant', 'ancestor', 'identical')
    """
    if old.fingerprint == new.fingerprint:
        return Ancestry(IDENTICAL, [])
    chain, stopped = _chain(new, old, store)
    if chain:
        return Ancestry(DESCENDANT, chain)
    back, _ = _chain(old, new, store)
    if back:
        return Ancestry(ANCESTOR, back)
    return Ancestry(UNRELATED, [], stopped)


# -- the diff --


@dataclasses.dataclass
class VocabDiff:
    """What changed from A (``old``) to B (``new``); see the module docstring.

    Token lists hold canonical tokens (``bytes``, or ``int``) in A's id order
    (``added``: B's): ``added`` and ``removed`` as ``(token, id)``, ``moved``
    and ``retired`` as ``(token, id in A, id in B)``.
    """

    old: VersionInfo
    new: VersionInfo
    added: list[tuple[Any, int]]
    removed: list[tuple[Any, int]]
    retired: list[tuple[Any, int, int]]
    moved: list[tuple[Any, int, int]]
    kept: int
    reassigned: int  # ids of A's live tokens that hold another live token in B
    spec_changes: dict[str, tuple[Any, Any]]
    ancestry: Ancestry
    sample: Sample | None = None

    # -- verdicts --

    @property
    def tokenization_changes(self) -> list[str]:
        """Spec fields (and ``token_type``) whose change makes the same text give other tokens."""
        fields = ["token_type"] if self.old.token_type != self.new.token_type else []
        return fields + [f for f in TOKENIZATION_FIELDS if f in self.spec_changes]

    @property
    def a_tokens(self) -> int:
        """Live tokens of A (reserved and learned, not retired)."""
        return self.kept + len(self.moved) + len(self.removed) + len(self.retired)

    def reasons(self) -> list[str]:
        """Why B is not id-compatible with A (empty when it is), most fundamental first."""
        reasons = []
        a, b = self.old, self.new
        changed = self.tokenization_changes
        if changed:
            what = ", ".join(
                f"{f} {self._spec_value(f, a)!r} -> {self._spec_value(f, b)!r}" for f in changed
            )
            reasons.append(f"the same text gives other tokens in B ({what})")
        if a.pad_token != b.pad_token:
            reasons.append(f"the pad token (id 0) changed: {a.pad_token!r} -> {b.pad_token!r}")
        if a.num_oov_buckets != b.num_oov_buckets:
            reasons.append(
                f"the OOV ids changed: 1..{a.num_oov_buckets} -> 1..{b.num_oov_buckets} "
                "(unknown tokens hash to other ids)"
            )
        if self.moved:
            reasons.append(f"{_n(self.moved, 'token')} of A moved to other ids")
        if self.removed:
            verb = "is" if len(self.removed) == 1 else "are"
            reasons.append(f"{_n(self.removed, 'token')} of A {verb} not in B")
        if self.retired:
            verb = "retires" if len(self.retired) == 1 else "retire"
            reasons.append(
                f"{_n(self.retired, 'token')} of A {verb} in B (read as OOV now; the rows stay "
                "reserved)"
            )
        if b.input_dim < a.input_dim:
            reasons.append(f"input_dim shrinks: {a.input_dim} -> {b.input_dim}")
        return reasons

    @property
    def id_compatible(self) -> bool:
        """Text encoded with B gives every token of A the id A gave it."""
        return not self.reasons()

    def _spec_value(self, field: str, info: VersionInfo) -> Any:
        return info.token_type if field == "token_type" else info.spec.get(field)

    def summary(self) -> str:
        """One line: the verdict and why."""
        a, b = self.old.label, self.new.label
        growth = f"input_dim {self.old.input_dim} -> {self.new.input_dim}"
        if self.id_compatible:
            return (
                f"{b} is id-compatible with {a}: all {self.a_tokens} tokens of A keep their ids; "
                f"{len(self.added)} added, {growth}"
            )
        reasons = self.reasons()
        a_ref, b_ref = self.old.ref or "A", self.new.ref or "B"
        layout_changed = (
            self.old.pad_token != self.new.pad_token
            or self.old.num_oov_buckets != self.new.num_oov_buckets
        )
        if self.tokenization_changes:
            fix = (
                f"Build B with A's tokenizer settings (vocabguard inspect {a_ref} --json shows "
                "them), or retrain"
            )
        elif self.moved or self.removed or self.reassigned or layout_changed:
            fix = (
                f"Warm-start a model trained on A with `vocabguard migrate-model MODEL --to "
                f"{b_ref}` (rows follow tokens), or build B with --parent {a_ref} to keep ids"
            )
        elif self.retired:
            # Retired tokens only: no id of A means another token in B.
            fix = (
                "No id of A means another token in B: a model trained on A reads B's ids "
                f"correctly, with the retired {'token' if len(self.retired) == 1 else 'tokens'} "
                "as OOV"
            )
        else:
            fix = (
                "input_dim never shrinks along a lineage: build B with --capacity "
                f"{self.old.input_dim} or more"
            )
        return f"{b} is not id-compatible with {a}: {'; '.join(reasons)}. {fix}."

    # -- output --

    def to_dict(self) -> dict:
        """The ``--json`` form: every token listed (see ``token_to_json``)."""
        t = token_to_json
        return {
            "a": self.old.to_dict(),
            "b": self.new.to_dict(),
            "id_compatible": self.id_compatible,
            "reasons": self.reasons(),
            "summary": self.summary(),
            "lineage": {
                "relation": self.ancestry.relation,
                "chain": self.ancestry.chain,
                "stopped": self.ancestry.stopped,
            },
            "input_dim": {
                "a": self.old.input_dim,
                "b": self.new.input_dim,
                "change": self.new.input_dim - self.old.input_dim,
            },
            "counts": {
                "a_tokens": self.a_tokens,
                "kept": self.kept,
                "added": len(self.added),
                "removed": len(self.removed),
                "retired": len(self.retired),
                "moved": len(self.moved),
                "reassigned_ids": self.reassigned,
            },
            "tokenization_changes": self.tokenization_changes,
            "spec_changes": {k: {"a": va, "b": vb} for k, (va, vb) in self.spec_changes.items()},
            "added": [{"token": t(tok), "id": i} for tok, i in self.added],
            "removed": [{"token": t(tok), "id": i} for tok, i in self.removed],
            "retired": [{"token": t(tok), "a_id": i, "b_id": j} for tok, i, j in self.retired],
            "moved": [{"token": t(tok), "a_id": i, "b_id": j} for tok, i, j in self.moved],
            "sample": self.sample.to_dict() if self.sample else None,
        }


def _n(items: Any, noun: str) -> str:
    count = items if isinstance(items, int) else len(items)
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _id_range(start: int, stop: int) -> str:
    return f"id {start}" if stop - start == 1 else f"ids {start}..{stop - 1}"


class _Rows:
    """One vocabulary's reserved and learned rows as arrays: tokens, ids, liveness."""

    def __init__(self, vocab: Any):
        self.tokens = vocab.token_bytes  # id order, from reserved_start on
        self.start = vocab.layout.reserved_start
        self.ids = np.arange(self.start, self.start + len(self.tokens), dtype=np.int64)
        self.live = np.ones(len(self.tokens), dtype=bool)
        if vocab.retired:
            self.live[np.fromiter(vocab.retired, dtype=np.int64) - self.start] = False
        arrow_type = pa.int64() if vocab.token_type == INT64 else pa.binary()
        self.array = pa.array(self.tokens, type=arrow_type)

    def positions_in(self, other: _Rows) -> Any:
        """For each row, the position of its token among ``other``'s rows, or -1."""
        if self.array.type != other.array.type or not len(other.tokens):
            return np.full(len(self.tokens), -1, dtype=np.int64)
        found = pc.index_in(self.array, value_set=other.array)
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _match(a: _Rows, b: _Rows) -> tuple[list, list, list, list, int, int]:
    """A's tokens matched in B: ``(moved, retired, removed, added, kept, reassigned)``.

    ``moved``/``retired``: (token, id in A, id in B); ``removed``: (token, id in A);
    ``added``: (token, id in B); ``reassigned``: ids of A whose row in B holds another
    live token.
    """
    pos = a.positions_in(b)  # where each token of A sits in B
    found = pos >= 0
    b_live = np.zeros(len(pos), dtype=bool)
    b_live[found] = b.live[pos[found]]
    b_ids = np.where(found, pos + b.start, -1)
    same = b_ids == a.ids
    kept_mask = a.live & b_live & same
    moved_at = np.flatnonzero(a.live & b_live & ~same)
    retired_at = np.flatnonzero(a.live & found & ~b_live)
    removed_at = np.flatnonzero(a.live & ~found)
    back = b.positions_in(a)  # where each token of B sits in A
    in_a_live = np.zeros(len(back), dtype=bool)
    in_a_live[back >= 0] = a.live[back[back >= 0]]
    added_at = np.flatnonzero(b.live & ~in_a_live)
    # An id of A whose row in B holds another live token: the worst case, a model
    # trained on A silently reads that row for a different token.
    at_b = a.ids - b.start
    inside = a.live & (at_b >= 0) & (at_b < len(b.tokens))
    other = np.zeros(len(at_b), dtype=bool)
    other[inside] = b.live[at_b[inside]] & (pos[inside] != at_b[inside])
    reassigned = int(other.sum())

    def rows(at: Any, *columns: Any) -> list[tuple]:
        index = at.tolist()
        lists = [[a.tokens[i] for i in index]] + [c[at].tolist() for c in columns]
        return list(zip(*lists))

    moved = rows(moved_at, a.ids, b_ids)
    retired = rows(retired_at, a.ids, b_ids)
    removed = rows(removed_at, a.ids)
    added = [(b.tokens[i], i + b.start) for i in added_at.tolist()]
    return moved, retired, removed, added, int(kept_mask.sum()), reassigned


def diff_vocabularies(
    old: Any,
    new: Any,
    *,
    data: str | Sequence[str] | None = None,
    format: str | None = None,
    field: str | None = None,
    store: Any = None,
    progress: bool | None = None,
) -> VocabDiff:
    """Compare vocabulary ``old`` (A) with ``new`` (B), token by token.

    Args:
        old, new: ``Vocabulary`` objects (e.g. ``store.load("news@v1")``).
        data: sample documents (files or globs): measure coverage and OOV rate of both.
        format, field: how to read ``data`` (as in ``vocabguard report``).
        store: the ``VocabStore`` holding them, to follow the lineage through
            intermediate versions (``v3 <- v2 <- v1``); without it only B's own
            parent record is checked.
        progress: progress bar while reading ``data`` (``None``: on a terminal only).

    Matching runs as Arrow hash lookups over all tokens at once: a million
    tokens take well under a second.
    """
    a, b = _Rows(old), _Rows(new)
    moved, retired, removed, added, kept, reassigned = _match(a, b)
    a_spec, b_spec = old.spec.to_dict(), new.spec.to_dict()
    spec_changes = {
        key: (a_spec.get(key), b_spec.get(key))
        for key in dict.fromkeys([*a_spec, *b_spec])
        if a_spec.get(key) != b_spec.get(key)
    }
    sample = None
    if data:
        sample = sample_coverage(old, new, data, format=format, field=field, progress=progress)
    return VocabDiff(
        old=VersionInfo.of(old),
        new=VersionInfo.of(new),
        added=added,
        removed=removed,
        retired=retired,
        moved=moved,
        kept=kept,
        reassigned=reassigned,
        spec_changes=spec_changes,
        ancestry=ancestry(old, new, store),
        sample=sample,
    )


# -- text --


def _section(title: str, items: list, row: Any, limit: int) -> list[str]:
    """A titled list of up to ``limit`` items (only those are formatted: lists may be huge)."""
    total = len(items)
    if not total:
        return []
    if total <= limit:
        return [f"{title} ({total}):", *(f"  {row(*item)}" for item in items)]
    more = "--limit N or --json lists them"
    if limit == 0:
        return [f"{title} ({total}; {more})"]
    return [
        f"{title} ({total}, first {limit}):",
        *(f"  {row(*item)}" for item in items[:limit]),
        f"  ... {total - limit} more ({more})",
    ]


def format_diff(result: VocabDiff, *, limit: int = 20) -> str:
    """The text form of a diff: a header, then up to ``limit`` tokens per section."""
    if limit < 0:
        raise ConfigError(
            "The number of tokens to list per section must be 0 or more. " + received(limit=limit)
        )
    a, b = result.old, result.new
    lines = _header_lines(result)
    if result.spec_changes or result.tokenization_changes:
        lines.append(f"  spec changes   {'; '.join(_spec_changes(result))}")
    sample = result.sample
    if sample is not None:
        lines.append(
            f"  sample         {_n(len(sample.files), 'file')}, {_n(sample.documents, 'document')}"
        )
        for name, cov in (("A", sample.old), ("B", sample.new)):
            lines.append(
                f"    {name}  {cov.tokens} tokens, {cov.oov} OOV: OOV rate {cov.oov_rate:.4f}, "
                f"coverage {cov.coverage:.4f}; distinct {cov.distinct}, "
                f"{cov.distinct_oov} OOV ({cov.distinct_coverage:.4f} covered)"
            )
    if result.id_compatible and b.input_dim > a.input_dim:
        # Compatible, yet a model sized for A has no rows for B's new ids.
        lines.append(
            f"  note           a model sized for A (input_dim {a.input_dim}) reads B's ids as "
            f"before, but {_id_range(a.input_dim, b.input_dim)} of B need"
            f"{'s' if b.input_dim - a.input_dim == 1 else ''} a larger Embedding: "
            f"vocabguard migrate-model MODEL --to {b.ref or 'B'}"
        )
    verdict = "yes" if result.id_compatible else "NO"
    lines.append(f"id-compatible: {verdict}. {result.summary()}")
    for section in _token_sections(result, limit):
        if section:
            lines += ["", *section]
    return "\n".join(lines)


def _header_lines(result: VocabDiff) -> list[str]:
    """A and B, then what changed in their ids, special tokens and fields."""
    a, b = result.old, result.new
    change = b.input_dim - a.input_dim
    lines = [
        f"A  {a.label}  fingerprint {a.fingerprint[:16]}  input_dim {a.input_dim}",
        f"B  {b.label}  fingerprint {b.fingerprint[:16]}  input_dim {b.input_dim}",
        f"  lineage        {result.ancestry.describe()}",
        f"  input_dim      {a.input_dim} -> {b.input_dim} ({change:+d})"
        + (
            f"; capacity {a.capacity} -> {b.capacity}"
            if a.capacity is not None or b.capacity is not None
            else ""
        )
        + (
            f"; used ids {a.used_ids} -> {b.used_ids}, pad_to_multiple_of "
            f"{a.spec.get('pad_to_multiple_of')} -> {b.spec.get('pad_to_multiple_of')}"
            if a.spec.get("pad_to_multiple_of") or b.spec.get("pad_to_multiple_of")
            else ""
        ),
        f"  tokens of A    {result.a_tokens}: {result.kept} kept, {len(result.moved)} moved, "
        f"{len(result.retired)} retired, {len(result.removed)} removed",
        f"  added in B     {len(result.added)}",
    ]
    if result.reassigned:
        lines.append(f"  reassigned     {_n(result.reassigned, 'id')} of A hold another token in B")
    lines.append(
        f"  OOV ids        1..{a.num_oov_buckets}"
        + (f" -> 1..{b.num_oov_buckets}" if a.num_oov_buckets != b.num_oov_buckets else "")
        + f"; pad id 0 = {a.pad_token!r}"
        + (f" -> {b.pad_token!r}" if a.pad_token != b.pad_token else "")
    )
    if a.reserved_tokens != b.reserved_tokens:
        lines.append(
            f"  reserved       {[display(t) for t in a.reserved_tokens]} -> "
            f"{[display(t) for t in b.reserved_tokens]}"
        )
    if a.num_retired or b.num_retired:
        lines.append(f"  retired rows   {a.num_retired} -> {b.num_retired}")
    if a.fields or b.fields:
        lines.append(f"  fields         {a.fields} -> {b.fields}")
    if a.missing or b.missing:
        lines.append(f"  missing        {a.missing or 'error'} -> {b.missing or 'error'}")
    return lines


def _spec_changes(result: VocabDiff) -> list[str]:
    """Each changed spec field as ``key A -> B``; tokenization changes first, flagged."""
    a, b = result.old, result.new
    changes = [
        f"{key} {va!r} -> {vb!r}"
        for key, (va, vb) in result.spec_changes.items()
        if key not in TOKENIZATION_FIELDS
    ]
    if result.tokenization_changes:
        changes.insert(
            0,
            "TOKENIZATION: "
            + ", ".join(
                f"{f} {result._spec_value(f, a)!r} -> {result._spec_value(f, b)!r}"
                for f in result.tokenization_changes
            ),
        )
    return changes


def _token_sections(result: VocabDiff, limit: int) -> list[list[str]]:
    """The moved, retired, removed and added tokens, up to ``limit`` of each."""
    return [
        _section(
            "moved (token: id in A -> id in B)",
            result.moved,
            lambda tok, i, j: f"{display(tok)}: {i} -> {j}",
            limit,
        ),
        _section(
            "retired in B (token: id in A, row in B; reads as OOV)",
            result.retired,
            lambda tok, i, j: f"{display(tok)}: {i}, row {j}",
            limit,
        ),
        _section(
            "removed (token: id in A)",
            result.removed,
            lambda tok, i: f"{display(tok)}: {i}",
            limit,
        ),
        _section(
            "added (token: id in B)",
            result.added,
            lambda tok, i: f"{display(tok)}: {i}",
            limit,
        ),
    ]


__all__ = [
    "Ancestry",
    "Sample",
    "SampleCoverage",
    "VersionInfo",
    "VocabDiff",
    "ancestry",
    "diff_vocabularies",
    "format_diff",
    "sample_coverage",
    "token_to_json",
]
