"""Record values to token lists: scalars, lists and missing values, in one place.

A record's value for a field is one value (a string, bytes or an integer), a
list of values, or missing (``None``: null or absent). With ``tokenizer: none``
each element is one token; with a tokenizer each element is a text whose tokens
are concatenated. An empty list is a record with no tokens. With
``tokenizer: none`` and a ``missing`` policy other than ``error``, an empty
string is missing too (no tokenizer emits the empty token).

``record_tokens`` turns a batch of values into one token list per record, in
which every missing value is a *null slot*; the builder and every encoder then
apply the spec's ``missing`` policy to the slots (``error`` fails before that):

- ``skip``: not counted when building; encoded as the pad id 0 (masked);
- ``oov``: counted as an OOV occurrence; encoded as the first OOV id (1);
- ``token``: counted as ``missing_token``; encoded as its fixed id
  (``num_oov_buckets + 1``, the first reserved id).

Weights (``weight_units``) are turned into exact fixed-point integers, so
weighted counts are integer sums, identical whatever the sharding or order.

>>> from vocabguard._src.core.spec import VocabSpec
>>> spec = VocabSpec(tokenizer="none", missing="token")
>>> record_tokens(["a", None, ["b", "c"], []], spec).lists.to_pylist()
[[b'a'], [None], [b'b', b'c'], []]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.errors import InputDataError, SpecError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.tokenizer import Tokenizer

STRING = "string"
INT64 = "int64"

# Weighted counts are integers in units of 1 / WEIGHT_SCALE: each record's weight
# is rounded once to the nearest unit (round-half-even of w * 10**6), and sums of
# integers do not depend on order or grouping, so sharding cannot change a count.
WEIGHT_SCALE = 1_000_000


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def int_problem(value: Any) -> str | None:
    """Why an integer cannot be a token (outside int64), or ``None``.

    >>> int_problem(2**64)
    'the integer 18446744073709551616, outside int64 [-2**63, 2**63 - 1]'
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = int(value)  # numpy's uint64 reaches 2**64 - 1
        if not INT64_MIN <= value <= INT64_MAX:
            bits = value.bit_length()
            # str() of a huge int is slow, and refused past 4300 digits: describe it.
            shown = str(value) if bits <= 128 else f"of about {int(bits * 0.30103):,} digits"
            return f"the integer {shown}, outside int64 [-2**63, 2**63 - 1]"
    return None


def plain_value(value: Any) -> bool:
    """One string, or one int64 integer: a value the Arrow fast paths take as it is
    (anything else, e.g. a float, a list or an integer past int64, is checked by
    ``record_tokens``).

    >>> plain_value("a"), plain_value(3), plain_value(2.9), plain_value(2**64)
    (True, True, False, False)
    """
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return False
    return INT64_MIN <= value <= INT64_MAX


def value_kind(value: Any) -> str | None:
    """``string``, ``int64`` or ``None`` (not a token value) for one element."""
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return INT64
    return None


def is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def describe(value: Any) -> str:
    """How an offending value is named in errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, float):
        return f"a number with a fraction or exponent ({value!r})"
    if is_list(value):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (str, bytes)):
        return "a string"
    if isinstance(value, (int, np.integer)):
        return "an integer"
    return type(value).__name__


def short(value: Any, limit: int = 60) -> str:
    text = repr(list(value) if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass
class TokenLists:
    """One token list per record; ``None`` items are missing values (null slots)."""

    lists: pa.ListArray
    token_type: str
    missing: int  # missing values (null slots)
    has_lists: bool  # some record held a list
    found_kind: str | None = None  # the kind of the values seen (None: no value at all)

    @property
    def flat(self) -> pa.Array:
        return self.lists.flatten()

    def lengths(self) -> np.ndarray:
        return pc.list_value_length(self.lists).fill_null(0).to_numpy(zero_copy_only=False)


def _where(index: int, source: str | None, field: str | None) -> tuple[str, dict]:
    place = f"record {index}" + (f" of {source}" if source else "")
    location = {"record": index}
    if field is not None:
        place += f", field {field!r}"
        location["field"] = field
    return place[0].upper() + place[1:], location


def bad_value(
    index: int, value: Any, problem: str, fix: str, source: str | None, field: str | None
) -> InputDataError:
    place, location = _where(index, source, field)
    return InputDataError(
        f"{place}: {problem}. {fix} "
        + received(**location, value=value if len(repr(value)) <= 60 else short(value)),
        cases=[(index, short(value))],
        **location,
    )


def missing_error(
    index: int, source: str | None, field: str | None, value: Any = None
) -> InputDataError:
    return bad_value(
        index,
        value,
        "the value is missing (null, absent or empty)",
        "Fill it, drop the record, or set `missing` (skip, oov or token; CLI --missing) to "
        "accept missing values.",
        source,
        field,
    )


class _Elements:
    """The elements of a batch of record values, checked one by one (``record_tokens``'
    general path): a missing one is a null slot; every other one a string or an int64,
    all of one kind."""

    def __init__(self, spec: VocabSpec, kind: str | None, source, field):
        self.spec, self.kind, self.source, self.field = spec, kind, source, field
        # No tokenizer emits the empty token: with `tokenizer: none` an empty value is
        # missing (refused under `missing: error`), on every path alike.
        self.empty_is_missing = spec.tokenizer == "none"
        self.elements: list = []
        self.missing: list[bool] = []
        self.record_offsets = [0]
        self.has_lists = False

    def refuse(self, index: int, value: Any, problem: str, fix: str) -> InputDataError:
        return bad_value(index, value, problem, fix, self.source, self.field)

    def add_record(self, index: int, value: Any) -> None:
        shape = self.spec.value_shape
        if is_list(value):
            if shape == "scalar":
                raise self.refuse(
                    index,
                    value,
                    "the value is a list, but the feature declares value_shape: scalar",
                    "Give one value per record, or set value_shape: list (or any).",
                )
            self.has_lists = True
            for element in value:
                if is_list(element):
                    raise self.refuse(
                        index,
                        value,
                        "the list holds a nested list",
                        "Flatten it: each element must be a string or an integer.",
                    )
                self.add(element, index, value)
        else:
            if shape == "list" and value is not None:
                raise self.refuse(
                    index,
                    value,
                    f"the value is {describe(value)}, but the feature declares value_shape: list",
                    "Wrap it in a list, or set value_shape: scalar (or any).",
                )
            self.add(value, index, value)
        self.record_offsets.append(len(self.elements))

    def add(self, element: Any, index: int, record_value: Any) -> None:
        if element is None or (self.empty_is_missing and element in ("", b"")):
            if self.spec.missing == "error":
                raise missing_error(index, self.source, self.field, element)
            self.elements.append(None)
            self.missing.append(True)
            return
        found = value_kind(element)
        if found is None:
            inner = " in the list" if record_value is not element else ""
            raise self.refuse(
                index,
                record_value,
                f"an element{inner} is {describe(element)}, expected a string or an integer",
                "Fix or drop the record.",
            )
        problem = int_problem(element) if found == INT64 else None
        if problem is not None:
            raise self.refuse(
                index,
                record_value,
                f"an element is {problem}",
                "Integer tokens are int64; fix or drop the record.",
            )
        if self.kind is None:
            self.kind = found
        elif found != self.kind:
            where = "in one list" if record_value is not element else "across records"
            raise self.refuse(
                index,
                record_value,
                f"{describe(element)} {short(element)} mixes element types {where}: the "
                f"vocabulary holds {'integers' if self.kind == INT64 else 'strings'}",
                "Every value must be a string, or every value an integer; fix the record.",
            )
        self.elements.append(element)
        self.missing.append(False)

    def token_lists(self, tokenizer: Tokenizer) -> TokenLists:
        """The records' token lists: each element tokenized, a null slot per missing one."""
        found_kind = self.kind
        kind = self.kind or STRING
        if kind == INT64 and self.spec.tokenizer != "none":
            raise SpecError(
                "Integer values need `tokenizer: none` (each value is one token, like "
                "Keras IntegerLookup). " + received(tokenizer=self.spec.tokenizer),
                key="tokenizer",
            )
        elements, missing = self.elements, self.missing
        if kind == INT64:
            filled = [0 if m else int(e) for e, m in zip(elements, missing)]
            flat = pa.array(filled, type=pa.int64())
            element_lists = pa.ListArray.from_arrays(
                pa.array(np.arange(len(flat) + 1, dtype=np.int32)), flat
            )
        else:
            filled = ["" if m else e for e, m in zip(elements, missing)]
            text_type = pa.string() if all(isinstance(e, str) for e in filled) else pa.binary()
            if text_type == pa.binary():
                filled = [e.encode("utf-8") if isinstance(e, str) else e for e in filled]
            element_lists = tokenizer.tokenize_arrow(pa.array(filled, type=text_type))
        return _with_slots(
            element_lists,
            np.asarray(missing, dtype=bool),
            np.asarray(self.record_offsets, dtype=np.int64),
            kind,
            self.has_lists,
            found_kind,
        )


def record_tokens(
    values: Sequence,
    spec: VocabSpec,
    tokenizer: Tokenizer | None = None,
    token_type: str | None = None,
    *,
    first_index: int = 0,
    source: str | None = None,
    field: str | None = None,
) -> TokenLists:
    """Token lists of a batch of record values (see the module docstring).

    Raises ``InputDataError`` naming the record (``first_index``-based), the
    field and the value for: a missing value under ``missing: error``, a list
    under ``value_shape: scalar`` or a single value under ``value_shape: list``,
    an element that is neither a string nor an integer, and elements of both
    kinds (in one list, or across records).
    """
    tokenizer = tokenizer or Tokenizer(spec)
    fast = _arrow_lists(values, spec, tokenizer, token_type)
    if fast is not None:
        return fast
    elements = _Elements(spec, token_type, source, field)
    for offset, value in enumerate(values):
        elements.add_record(first_index + offset, value)
    return elements.token_lists(tokenizer)


def _with_slots(
    element_lists: pa.ListArray,
    missing_mask: np.ndarray,
    offsets: np.ndarray,
    kind: str,
    has_lists: bool,
    found_kind: str | None,
) -> TokenLists:
    """Per-record token lists from each element's tokens, a null slot per missing element."""
    n_missing = int(missing_mask.sum())
    if not n_missing:
        # Each record's tokens are its elements' tokens, in order.
        element_offsets = element_lists.offsets.to_numpy()
        lists = pa.ListArray.from_arrays(
            pa.array(element_offsets[offsets].astype(np.int32)), element_lists.flatten()
        )
        return TokenLists(lists, kind, 0, has_lists, found_kind)
    # Insert one null slot per missing element, keeping every token's position.
    old_lengths = pc.list_value_length(element_lists).to_numpy(zero_copy_only=False)
    old_starts = element_lists.offsets.to_numpy()[:-1]
    new_lengths = np.where(missing_mask, 1, old_lengths)
    new_offsets = np.zeros(len(new_lengths) + 1, dtype=np.int64)
    np.cumsum(new_lengths, out=new_offsets[1:])
    owner = np.repeat(np.arange(len(new_lengths)), new_lengths)
    within = np.arange(int(new_offsets[-1])) - new_offsets[:-1][owner]
    take = old_starts[owner] + within
    null = missing_mask[owner]
    flat_tokens = element_lists.flatten()
    take[null] = 0
    if len(flat_tokens) == 0:
        tokens = pa.nulls(len(take), type=flat_tokens.type)
    else:
        tokens = flat_tokens.take(pa.array(take, mask=null))
    lists = pa.ListArray.from_arrays(pa.array(new_offsets[offsets].astype(np.int32)), tokens)
    return TokenLists(lists, kind, n_missing, has_lists, found_kind)


def _arrow_lists(
    values: Sequence, spec: VocabSpec, tokenizer: Tokenizer, token_type: str | None
) -> TokenLists | None:
    """``record_tokens`` in Arrow for a list of lists, strings, integers and ``None``s;
    ``None`` when the batch needs the general path (anything that may be a bad value)."""
    if not isinstance(values, list) or not values:
        return None
    nulls = lists = scalars = 0
    for value in values:
        kind_of = type(value)
        if value is None:
            nulls += 1
        elif kind_of is list:
            lists += 1
        elif kind_of is str or kind_of is bytes or kind_of is int:
            scalars += 1
        else:
            return None
    if (lists and spec.value_shape == "scalar") or (scalars and spec.value_shape == "list"):
        return None  # a wrong shape: the general path names the record
    if (not lists and not nulls) or (nulls and spec.missing == "error"):
        return None
    try:
        if lists:
            rows = (
                values
                if not (nulls or scalars)
                else [v if type(v) is list else [v] for v in values]
            )
            array = pa.array(rows)
        else:  # single values and missing ones: one element per record
            flat = pa.array(values)
            array = pa.ListArray.from_arrays(
                pa.array(np.arange(len(flat) + 1, dtype=np.int32)), flat
            )
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None  # mixed or unsupported element types: the general path names them
    if not pa.types.is_list(array.type):
        return None
    elements = array.flatten()
    element_type = elements.type
    if pa.types.is_null(element_type):
        found = None
    elif pa.types.is_string(element_type) or pa.types.is_binary(element_type):
        found = STRING
    elif pa.types.is_int64(element_type):
        found = INT64
    else:
        return None
    if found is not None and token_type is not None and found != token_type:
        return None
    kind = token_type or found or STRING
    if kind == INT64 and spec.tokenizer != "none":
        return None
    missing_mask = elements.is_null().to_numpy(zero_copy_only=False)
    if kind != INT64 and found is not None and spec.tokenizer == "none" and len(elements):
        empty = pc.equal(pc.binary_length(elements), 0).fill_null(False)
        missing_mask = missing_mask | empty.to_numpy(zero_copy_only=False)
    if spec.missing == "error" and missing_mask.any():
        return None  # the general path names the record
    if kind == INT64:
        flat = elements.cast(pa.int64()).fill_null(0)
        element_lists = pa.ListArray.from_arrays(
            pa.array(np.arange(len(flat) + 1, dtype=np.int32)), flat
        )
    else:
        text = elements.cast(pa.string()) if found is None else elements
        element_lists = tokenizer.tokenize_arrow(text.fill_null(""))
    offsets = array.offsets.to_numpy().astype(np.int64)
    return _with_slots(
        element_lists,
        np.asarray(missing_mask, dtype=bool),
        offsets,
        kind,
        bool(lists),
        token_type or found,
    )


def weight_units(
    weights: Sequence, *, first_index: int = 0, source: str | None = None, field: str = "weight"
) -> np.ndarray:
    """Record weights as exact integers in units of ``1 / WEIGHT_SCALE``.

    A weight must be a finite number >= 0 (not a boolean, not null); anything
    else raises ``InputDataError`` naming the record, the field and the value.

    >>> weight_units([1, 0.5, 2.0000004]).tolist()
    [1000000, 500000, 2000000]
    """
    out = np.empty(len(weights), dtype=np.int64)
    for offset, weight in enumerate(weights):
        problem = check_weight(weight)
        if problem is None:
            units = (
                int(weight) * WEIGHT_SCALE
                if _is_int(weight)
                else round(float(weight) * WEIGHT_SCALE)
            )
            if units >= 2**62:
                problem = f"the weight {weight!r} is too large (at most {2**62 // WEIGHT_SCALE})"
        if problem is not None:
            raise bad_value(
                first_index + offset,
                weight,
                problem,
                "Fix the weight, or drop the record (bad_records: skip).",
                source,
                field,
            )
        out[offset] = units
    return out


MAX_TOTAL_UNITS = 2**63 - 1  # int64: the type of a count in tokens.parquet


def check_total_weight(units: int) -> None:
    """Weighted counts are int64 sums: refuse a total weight that could overflow one."""
    if units > MAX_TOTAL_UNITS:
        raise InputDataError(
            f"The weights sum to {units / WEIGHT_SCALE:.6g}, more than the "
            f"{MAX_TOTAL_UNITS / WEIGHT_SCALE:.6g} that exact int64 counts in units of "
            f"1/{WEIGHT_SCALE} can hold. Scale the weights down (e.g. thousands of votes "
            "instead of votes). " + received(total_weight=units / WEIGHT_SCALE)
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_weight(weight: Any) -> str | None:
    """Why ``weight`` is not a usable weight, or ``None`` when it is."""
    if weight is None:
        return "the weight is missing (null or absent)"
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)):
        return f"the weight is {describe(weight)}, expected a finite number >= 0"
    if not math.isfinite(weight):
        return f"the weight is {weight!r}, expected a finite number >= 0"
    if weight < 0:
        return f"the weight is negative ({weight!r}), expected a finite number >= 0"
    return None


__all__ = ["WEIGHT_SCALE", "TokenLists", "record_tokens", "weight_units"]


def check_value(value: Any, spec: VocabSpec) -> tuple[str, str] | None:
    """``(reason, detail)`` when one record's value breaks ``spec`` (shape, missing, kinds).

    The per-record form of ``record_tokens``' checks, for callers that skip bad
    records one by one (the Beam jobs); kinds across records are not checked here.

    >>> check_value(["a", 1], VocabSpec(tokenizer="none"))
    ('mixed_types', 'the list mixes strings and integers')
    >>> check_value(None, VocabSpec()) is None, check_value(None, VocabSpec(missing="oov"))
    (False, None)
    """
    empty_is_missing = spec.tokenizer == "none"  # as in record_tokens

    def missing(element: Any) -> bool:
        return element is None or (empty_is_missing and element in ("", b""))

    if is_list(value):
        if spec.value_shape == "scalar":
            return (
                "wrong_shape",
                "the value is a list, but the feature declares value_shape: scalar",
            )
        elements = list(value)
    else:
        if spec.value_shape == "list" and value is not None:
            return (
                "wrong_shape",
                f"the value is {describe(value)}, but the feature declares value_shape: list",
            )
        elements = [value]
    kinds = set()
    for element in elements:
        if missing(element):
            if spec.missing == "error":
                return "missing_field", "the field is null"
            continue
        kind = value_kind(element)
        if kind is None:
            return "wrong_type", f"expected a string or an integer, found {describe(element)}"
        if kind == INT64 and spec.tokenizer != "none":
            return (
                "wrong_type",
                f"expected a string for tokenizer {spec.tokenizer!r}, found the integer {element}",
            )
        problem = int_problem(element)
        if problem is not None:
            return "integer_out_of_range", f"the value is {problem}"
        kinds.add(kind)
    if len(kinds) > 1:
        return "mixed_types", "the list mixes strings and integers"
    return None
