"""The checks of one record's fields, shared by every input format.

Two views of one record, for two kinds of caller:

- ``pick`` (with ``FieldRules``) for ``iter_records``, the Beam jobs' reader: a
  record that breaks a rule is a ``BadRecord``, for the caller's policy;
- ``KindChecker`` and ``RecordChecker`` for ``read_documents`` and
  ``read_records`` (the in-process builder): a bad record is an
  ``InputDataError`` whose ``reason`` ``bad_records: skip`` counts.

>>> pick("f.jsonl", 3, {"t": "a", "n": 2}, Wanted(["t"]))
(3, {'t': 'a'})
>>> pick("f.jsonl", 4, {"t": True}, Wanted(["t"])).reason
'wrong_type'
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vocabguard._src.core.errors import InputDataError, quoted, received
from vocabguard._src.core.values import check_weight, int_problem, is_list, short
from vocabguard._src.core.values import describe as describe_value
from vocabguard._src.engines.formats.common import DEFAULT_MAX_RECORD_BYTES, BadRecord, bad

STRING = "string"
INTEGER = "integer"
KINDS = (STRING, INTEGER)


@dataclasses.dataclass(frozen=True)
class FieldRules:
    """What the reader accepts beyond one non-null string or integer per field.

    ``shapes``: field -> ``any`` (one value or a list) or ``list`` (always a list:
    a TFRecord feature of one value is a list of one); ``missing``: fields that
    may be null or absent (read as ``None``); ``weights``: fields holding a
    record weight (a finite number >= 0). The counting and encoding steps apply
    each feature's own spec to what the reader let through.
    """

    shapes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    missing: frozenset = frozenset()
    weights: frozenset = frozenset()


NO_RULES = FieldRules()
# ``(where, location, {field: value} or the error of a bad record)`` per record, for
# ``read_records`` (which checks each with a ``RecordChecker``).
Rows = Iterator[tuple[str, dict, Any]]


@dataclasses.dataclass(frozen=True)
class Wanted:
    """What ``iter_records`` reads of each record: ``fields`` (checked token values),
    ``passthrough`` (copied, any non-null value), the ``rules`` and the bound on one
    record (``limit``, decompressed bytes)."""

    fields: Sequence[str]
    passthrough: Sequence[str] = ()
    rules: FieldRules = NO_RULES
    limit: int = DEFAULT_MAX_RECORD_BYTES

    @property
    def names(self) -> list[str]:
        """Every field read, the passthrough ones last."""
        return [*self.fields, *self.passthrough]


def check_columns(path: str, where: str, what: str, names: Sequence[str], wanted: Wanted):
    """Refuse a file whose columns lack a field the job config names."""
    missing = [f for f in wanted.names if f not in names]
    if missing:
        raise InputDataError(
            f"{where}: the {what} has no column {missing[0]!r} (columns: "
            f"{', '.join(map(repr, names))}). Fix the field name in the job config. "
            + received(file=path, field=missing[0])
        )


def missing_field_detail(field: str, names: Sequence[str]) -> str:
    """Why a record lacks ``field``: the fields it has, and the closest one.

    >>> missing_field_detail("topik", ["id", "text", "topic"])
    "the record has no field 'topik' (its fields: 'id', 'text', 'topic'; closest: 'topic')"
    """
    listed = ", ".join(map(repr, list(names)[:20])) or "none"
    if len(names) > 20:
        listed += f", ... ({len(names)} in all)"
    close = difflib.get_close_matches(str(field), [str(n) for n in names], n=1, cutoff=0.6)
    hint = f"; closest: {close[0]!r}" if close else ""
    return f"the record has no field {field!r} (its fields: {listed}{hint})"


# -- the Beam jobs' view: BadRecord --


def _check_list(path: str, number: int, field: str, value: list, rules: FieldRules):
    kinds = set()
    for element in value:
        if element is None and field in rules.missing:
            continue
        if isinstance(element, bool) or not isinstance(element, (str, bytes, int)):
            return BadRecord(
                path,
                number,
                field,
                "wrong_type",
                f"the list holds {type(element).__name__} {quoted(element, chars=40)}, "
                "expected strings or integers",
            )
        problem = int_problem(element)
        if problem is not None:
            return BadRecord(
                path, number, field, "integer_out_of_range", f"the list holds {problem}"
            )
        kinds.add(int if isinstance(element, int) else str)
    if len(kinds) > 1:
        return BadRecord(
            path,
            number,
            field,
            "mixed_types",
            f"the list mixes strings and integers ({quoted(value, chars=60)})",
        )
    return None


def check_value(
    path: str,
    number: int,
    field: str,
    value: Any,
    any_type: bool = False,
    rules: FieldRules = NO_RULES,
) -> BadRecord | None:
    """Why one field's value is a bad record (``None``: it is not); ``any_type``
    accepts any non-null value (a passthrough field)."""
    if field in rules.weights:
        problem = check_weight(value)
        return None if problem is None else BadRecord(path, number, field, "bad_weight", problem)
    if value is None:
        if field in rules.missing:
            return None
        return BadRecord(path, number, field, "missing_field", "the field is null")
    if isinstance(value, list) and field in rules.shapes:
        return _check_list(path, number, field, value, rules)
    if not any_type and (isinstance(value, bool) or not isinstance(value, (str, bytes, int))):
        return BadRecord(
            path,
            number,
            field,
            "wrong_type",
            f"expected a string or an integer, found {type(value).__name__} "
            f"{quoted(value, chars=60)}",
        )
    problem = int_problem(value)
    if problem is not None:
        return BadRecord(path, number, field, "integer_out_of_range", f"the value is {problem}")
    return None


def pick(path: str, number: int, record: dict, wanted: Wanted) -> tuple[int, dict] | BadRecord:
    """``(number, {field: value})`` of the wanted fields of a parsed record, checked;
    or the ``BadRecord`` of the first field that breaks a rule."""
    values = {}
    rules, passthrough = wanted.rules, wanted.passthrough
    for field in wanted.names:
        if field not in record:
            if field in rules.missing:
                values[field] = None
                continue
            if field in rules.weights:
                return BadRecord(path, number, field, "bad_weight", "the weight is missing")
            return BadRecord(
                path, number, field, "missing_field", missing_field_detail(field, list(record))
            )
        bad_value = check_value(path, number, field, record[field], field in passthrough, rules)
        if bad_value:
            return bad_value
        values[field] = record[field]
    return number, values


# -- the in-process builder's view: InputDataError --


def kind_of(value: Any) -> str | None:
    """``string``, ``integer`` or ``None`` (not a token value) for one value."""
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, int) and not isinstance(value, bool):
        return INTEGER
    return None


def describe(value: Any) -> str:
    """How an offending value is named in errors, a boolean spelled as JSON spells it.

    >>> describe(True), describe(2.5)
    ('a boolean (true)', 'a number with a fraction or exponent (2.5)')
    """
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    return describe_value(value)


def field_part(field: str | None) -> str:
    return f"field {field!r}" if field is not None else "the value"


def keys(record: dict | Sequence[str], shown: int = 10) -> str:
    """The first keys of a record (or columns), and how many more: a record may hold
    10**6 keys.

    >>> keys(dict.fromkeys("abcdefghijkl"))
    "'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j' and 2 more"
    """
    listed = ", ".join(quoted(key, chars=60) for key, _ in zip(record, range(shown)))
    more = f" and {len(record) - shown:,} more" if len(record) > shown else ""
    return (listed + more) or "none"


def pick_column(
    path: str, what: str, columns: Sequence[str], field: str | None, line: int | None = None
) -> str:
    """The document column: ``field``, or the only column when ``field`` is None."""
    listed = keys(columns)
    where = f"{path}, line {line}" if line else path
    if field is None:
        if len(columns) != 1:
            raise InputDataError(
                f"{path}: the {what} has {len(columns)} columns ({listed}), so the document "
                "column is ambiguous. Pass --field with the column holding the text. "
                + received(file=path, field=None),
                cases=[path],
                file=path,
            )
        return columns[0]
    if field not in columns:
        raise InputDataError(
            f"{where}: the {what} has no column {field!r} (columns: {listed}). "
            "Pass the right --field. " + received(file=path, field=field),
            cases=[path],
            file=path,
        )
    return field


def ambiguous_record(where: str, location: dict, record: dict) -> InputDataError:
    """A JSON record of several fields read without ``--field``."""
    return InputDataError(
        f"{where}: the record has {len(record):,} fields ({keys(record)}), so the document "
        "field is ambiguous. Pass --field with the key holding the text. "
        + received(**location, field=None),
        cases=[(location["file"], location["line"])],
        **location,
    )


def not_an_object(where: str, location: dict, record: Any, field: str) -> InputDataError:
    """A JSON line that is no object, read for ``field``."""
    return InputDataError(
        f"{where}: the record is {describe(record)}, not an object with field "
        f"{field!r}. Expected one JSON object per line; fix the line. "
        + received(**location, field=field),
        cases=[(location["file"], location["line"])],
        **location,
    )


def not_an_integer(where: str, location: dict, field: str, value: str) -> InputDataError:
    """A CSV value read for an integer vocabulary that is no integer."""
    return InputDataError(
        f"{where}: column {field!r} is {value!r}, expected an integer (the "
        "vocabulary holds integer tokens). Fix the row. "
        + received(**location, field=field, value=value),
        cases=[(location["file"], location["line"])],
        **location,
    )


class KindChecker:
    """Every value must be a string, or every value an integer."""

    def __init__(self, kind: str | None):
        self.kind = kind
        self.fixed = kind is not None
        self.first: str | None = None  # where the first value was read

    def check(self, value: Any, where: str, field: str | None, location: dict) -> None:
        found = kind_of(value)
        if found is None:
            raise InputDataError(
                f"{where}: {field_part(field)} is {describe(value)}, expected a string or an "
                "integer. Fix or drop the record (every document must be a string, or every "
                "document an integer). " + received(**location, field=field, value=value),
                cases=[(where, repr(value))],
                **location,
            )
        problem = int_problem(value)
        if problem is not None:
            raise bad(
                where,
                location,
                f"{field_part(field)} is {problem}",
                "Integer tokens are int64; fix or drop the record (bad_records: skip).",
                "integer_out_of_range",
                field=field,
            )
        if self.kind is None:
            self.kind, self.first = found, where
            return
        if found != self.kind:
            if self.fixed:
                why = (
                    f"the vocabulary holds {'integer' if self.kind == INTEGER else 'string'} tokens"
                )
            else:
                why = f"the first document ({self.first}) is {'an integer' if self.kind == INTEGER else 'a string'}"
            raise InputDataError(
                f"{where}: {field_part(field)} is {describe(value)}, but {why}. Every document "
                "must have the same kind: all strings or all integers. Fix the record or the "
                "input. " + received(**location, field=field, value=value),
                cases=[(where, repr(value))],
                **location,
            )


# (problem, fix, reason) of each way ``read_records`` refuses one field.
_REFUSALS = {
    "scalar_list": (
        "is a list, but the feature declares value_shape: scalar",
        "Give one value per record, or set value_shape: list (or any).",
        "wrong_shape",
    ),
    "list_scalar": (
        "is {described}, but the feature declares value_shape: list",
        "Wrap it in a list, or set value_shape: scalar (or any).",
        "wrong_shape",
    ),
    "null": (
        "is null (or absent), expected a value",
        "Fill it, drop the record, or accept missing values with --missing "
        "skip|oov|token (config: missing).",
        "missing_value",
    ),
    "null_element": (
        "holds a null element",
        "Remove it, or accept missing values with --missing skip|oov|token.",
        "missing_value",
    ),
    "wrong_element": (
        "holds {described}, expected strings or integers",
        "Fix or drop the record.",
        "wrong_type",
    ),
    "int64": (
        "holds {described}",
        "Integer tokens are int64; fix or drop the record.",
        "integer_out_of_range",
    ),
    "mixed": (
        "mixes element types in one list (strings and integers)",
        "Every element must be a string, or every element an integer.",
        "mixed_types",
    ),
    "weight": (
        "{described}",
        "Fix the weight, or drop the record (bad_records: skip).",
        "bad_weight",
    ),
}


def _refuse(place: tuple, value: Any, refusal: str, described: str = "") -> InputDataError:
    """The error for one field's ``value`` refused as ``_REFUSALS[refusal]`` says;
    ``place`` is ``(where, location, field)``."""
    where, location, field = place
    problem, fix, reason = _REFUSALS[refusal]
    problem = problem.format(described=described)
    shown = value if len(repr(value)) <= 60 else short(value)
    error = InputDataError(
        f"{where}: field {field!r} {problem}. {fix} "
        + received(**location, field=field, value=shown),
        cases=[(where, field, short(value))],
        **location,
    )
    error.reason = reason
    return error


class RecordChecker:
    """The checks of ``read_records`` for one record: missing values, shapes, kinds,
    weights (see there)."""

    def __init__(self, kind, missing, value_shape, weights):
        self.kind = kind
        self.checkers: dict[str, KindChecker] = {}  # one per field: fields may differ
        self.missing = missing
        self.value_shape = value_shape
        self.weights = list(weights)  # the weight fields, in order
        self.weight_fields = set(weights)

    def kinds(self, field: str) -> KindChecker:
        if field not in self.checkers:
            self.checkers[field] = KindChecker(self.kind)
        return self.checkers[field]

    def check(self, record: dict, where: str, location: dict) -> dict:
        """``record`` checked field by field; the first bad field raises."""
        out = {}
        for field, value in record.items():
            place = (where, location, field)  # a tuple: one check per field and record
            if field in self.weight_fields and field not in out:
                problem = check_weight(value)
                if problem is not None:
                    weight = problem.replace("the weight is", "(the weight) is", 1)
                    raise _refuse(place, value, "weight", weight)
            elif value is None:
                if self.missing == "error":
                    raise _refuse(place, None, "null")
            elif is_list(value):
                value = self._list(place, list(value))
            else:
                self._scalar(place, value)
            out[field] = value
        return out

    def _list(self, place: tuple, value: list) -> list:
        if self.value_shape == "scalar":
            raise _refuse(place, value, "scalar_list")
        kinds = set()
        for element in value:
            if element is None:
                if self.missing == "error":
                    raise _refuse(place, value, "null_element")
                continue
            found = kind_of(element)
            if found is None:
                raise _refuse(place, value, "wrong_element", describe(element))
            problem = int_problem(element)
            if problem is not None:
                raise _refuse(place, value, "int64", problem)
            kinds.add(found)
        if len(kinds) > 1:
            raise _refuse(place, value, "mixed")
        where, location, field = place
        for element in value:
            if element is not None:
                self.kinds(field).check(element, where, field, location)
                break
        return value

    def _scalar(self, place: tuple, value: Any) -> None:
        if self.value_shape == "list":
            raise _refuse(place, value, "list_scalar", describe(value))
        where, location, field = place
        try:
            self.kinds(field).check(value, where, field, location)
        except InputDataError as err:
            err.reason = getattr(err, "reason", "wrong_type")
            raise


__all__ = [
    "NO_RULES",
    "FieldRules",
    "KindChecker",
    "RecordChecker",
    "Wanted",
    "check_value",
    "pick",
]
