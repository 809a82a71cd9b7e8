"""Lineage: a child vocabulary grown from a parent keeps every parent id.

A child must mean the same by a token as its parent (``LINEAGE_FIELDS`` equal),
keep its alignment rule and never shrink ``input_dim``; new tokens go after the
parent's last id, and retired parent tokens keep their rows. ``Vocabulary``'s
builds call ``check_lineage`` on the way in and ``grow`` on the way out.

>>> from vocabguard import VocabSpec
>>> from vocabguard._src.core.vocabulary import Vocabulary
>>> parent = Vocabulary.from_counts({b"a": 5}, VocabSpec(capacity=8))
>>> check_lineage(parent, VocabSpec(), "string").capacity
8
>>> check_lineage(parent, VocabSpec(lowercase=True), "string")
Traceback (most recent call last):
...
vocabguard.errors.LineageError: `lowercase` differs from parent ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocabguard._src.core.errors import LayoutError, LineageError, received
from vocabguard._src.core.spec import VocabSpec

# The parent, a Vocabulary: vocabulary imports this module, so it is not imported here.
Parent = Any

# The spec fields that decide what a token is and which OOV id it gets: a child
# vocabulary must share them with its parent, or "the same id" means nothing.
LINEAGE_FIELDS = (
    "tokenizer",
    "pattern",
    "lowercase",
    "normalization",
    "num_oov_buckets",
    "reserved_tokens",
    "pad_token",
    "oov_token",
    "missing",
    "missing_token",
    "ngrams",
    "ngram_separator",
    "joiner",
    "max_chars_per_word",
    "standardize",
    "split_cjk",
    "strip_accents",
    "clean_text",
    "never_split",
    "tie_break",
)


def check_lineage(parent: Parent, spec: VocabSpec, token_type: str) -> VocabSpec:
    """The child's spec, checked against the parent's (and given its capacity if unset)."""
    where = parent.ref or f"parent {parent.fingerprint[:12]}"
    if token_type != parent.token_type:
        raise LineageError(
            f"The data's tokens are {token_type}, but {where} holds {parent.token_type} tokens; "
            "a child vocabulary must hold the same kind. Check the input field. "
            + received(token_type=token_type, parent_token_type=parent.token_type)
        )
    changed = [f for f in LINEAGE_FIELDS if getattr(spec, f) != getattr(parent.spec, f)]
    if changed:
        field = changed[0]
        raise LineageError(
            f"`{field}` differs from {where}'s, so a token would not mean the same in both and "
            "ids cannot be kept. Use the parent's value (vocabguard inspect "
            f"{parent.ref or 'PARENT'} --json shows its spec), or start a new lineage without "
            "--parent. "
            + received(
                **{field: getattr(spec, field), f"parent_{field}": getattr(parent.spec, field)}
            )
        )
    spec = _inherit_alignment(parent, spec, where)
    if spec.capacity is None and parent.spec.capacity is not None:
        # input_dim never shrinks: the child inherits the parent's fixed size.
        spec = spec.replace(capacity=parent.spec.capacity)
    if spec.capacity is not None and spec.capacity < parent.input_dim:
        raise LineageError(
            f"capacity {spec.capacity} is smaller than {where}'s input_dim {parent.input_dim}; "
            "input_dim never shrinks along a lineage (trained Embedding rows would be cut off). "
            f"Set capacity to at least {parent.input_dim}. "
            + received(capacity=spec.capacity, parent_input_dim=parent.input_dim)
        )
    return spec


def _inherit_alignment(parent: Parent, spec: VocabSpec, where: str) -> VocabSpec:
    """The child's spec with the parent's ``pad_to_multiple_of`` (one rule per lineage)."""
    if spec.pad_to_multiple_of is None and parent.spec.pad_to_multiple_of is not None:
        # The lineage keeps its alignment rule as it grows.
        return spec.replace(pad_to_multiple_of=parent.spec.pad_to_multiple_of)
    if spec.pad_to_multiple_of != parent.spec.pad_to_multiple_of and (
        parent.spec.pad_to_multiple_of is not None
    ):
        raise LineageError(
            f"`pad_to_multiple_of` {spec.pad_to_multiple_of} differs from {where}'s "
            f"{parent.spec.pad_to_multiple_of}; a lineage keeps one alignment rule, so input_dim "
            "only grows. Use the parent's value or leave it unset (it is inherited). "
            + received(
                pad_to_multiple_of=spec.pad_to_multiple_of,
                parent_pad_to_multiple_of=parent.spec.pad_to_multiple_of,
            )
        )
    return spec


def refuse_wordpiece_retire(spec: VocabSpec) -> None:
    """WordPiece lineages cannot retire pieces: that would change how other words split."""
    raise LineageError(
        "`--retire` is not supported with `tokenizer: wordpiece`: a retired piece "
        "would change how other words split. Build without --retire. "
        + received(tokenizer=spec.tokenizer, retire=True)
    )


def newly_retired(
    parent: Parent,
    inherited_counts: np.ndarray,
    rows: np.ndarray,
    keep: np.ndarray | None,
    min_documents: int | None,
    min_units: int,
) -> list[int]:
    """Ids of the parent's learned tokens that this build retires (``--retire``).

    ``inherited_counts``: the count of each parent token in this build's data (0 when
    absent); ``rows``: its row among the counted tokens (-1 when absent); ``keep``: the
    document rule's verdict per counted token (``None``: no rule).
    """
    dropped = inherited_counts < min_units
    if keep is not None:
        # Not counted: 0 documents, which passes only when min_documents is 0.
        ok = np.full(len(rows), 0 >= min_documents)
        ok[rows >= 0] = keep[rows[rows >= 0]]
        dropped |= ~ok
    start = parent.layout.learned_start
    return (start + np.flatnonzero(dropped)).tolist()


def capacity_exhausted(parent: Parent, new: int, capacity: int, needed: int) -> LineageError:
    """The error of a child whose new tokens do not fit the lineage's capacity."""
    # Suggest room for the same growth again, so the next build does not fail too.
    suggestion = needed + max(new, needed - parent.layout.used_ids, 1)
    return LineageError(
        f"capacity {capacity} is exhausted: {parent.ref or 'the parent'} uses "
        f"{parent.layout.used_ids} ids and this build adds {new} new tokens, {needed} ids in "
        f"all. Rebuild with a larger capacity (e.g. --capacity {suggestion}); input_dim then "
        f"grows from {capacity} to the new capacity, so resize the model's Embedding with "
        "`vocabguard migrate-model`. Or raise min_count / lower max_tokens to add fewer "
        "tokens. " + received(capacity=capacity, needed_ids=needed, new_tokens=new),
        capacity=capacity,
        needed_ids=needed,
    )


def grow(cls: type, parent: Parent | None, new_tokens: int, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)`` recording ``parent`` (if any) as its lineage; a layout
    that runs out of capacity for the ``new_tokens`` is the parent's capacity error."""
    lineage = None
    if parent is not None:
        lineage = {
            "ref": parent.ref,
            "fingerprint": parent.fingerprint,
            "input_dim": parent.input_dim,
        }
    try:
        return cls(*args, parent=lineage, **kwargs)
    except LayoutError as err:
        if parent is None or getattr(err, "capacity", None) is None:
            raise
        raise capacity_exhausted(parent, new_tokens, err.capacity, err.used_ids) from None
