"""Every error vocabguard raises, in one hierarchy.

Messages follow one shape: what happened, what was expected, how to fix it,
and a closing ``Received: arg=value``. Errors carry the failing cases as data
(``err.cases``) so callers and Beam metrics can count them, and they survive
pickling, because Beam workers pickle exceptions to send them to the runner.

>>> import pickle
>>> err = IdRangeError("ids out of range", cases=[((0, 2), 127)], input_dim=127)
>>> copy = pickle.loads(pickle.dumps(err))
>>> copy.cases, copy.input_dim
([((0, 2), 127)], 127)
"""

from __future__ import annotations

import difflib
from typing import Any

# What an error message quotes of one value: a hostile input (a record with 10^6
# keys, a YAML alias bomb) must not become a megabyte message, nor take the memory
# to build one. Longer strings, and containers with more items, are cut with a count.
MAX_QUOTED_CHARS = 200
MAX_QUOTED_ITEMS = 10
_MAX_QUOTED_DEPTH = 3


def quoted(value: Any, *, chars: int = MAX_QUOTED_CHARS, items: int = MAX_QUOTED_ITEMS) -> str:
    """``repr(value)``, bounded: long strings and big containers are cut, with a count.

    Only the quoted part of ``value`` is visited, so quoting a huge (or deeply
    nested) value costs no more than quoting a small one.

    >>> quoted("x" * 1000)[-24:]
    "x'... (1,000 characters)"
    >>> quoted(dict.fromkeys(range(1_000_000), 0))[-33:]
    '8: 0, 9: 0, ... and 999,990 more}'
    """
    text = _quoted(value, chars, items, _MAX_QUOTED_DEPTH)
    limit = 5 * chars  # nested containers: 10 x 10 x 10 items would still be long
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


_BRACKETS = {list: "[]", tuple: "()", dict: "{}", set: "{}"}


def _quoted(value: Any, chars: int, items: int, depth: int) -> str:
    if isinstance(value, (str, bytes)):
        if len(value) <= chars:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:chars]!r}... ({len(value):,} {unit})"
    brackets = _BRACKETS.get(type(value))  # exact types: a subclass keeps its own repr
    if brackets is not None and value:
        if depth <= 0:
            return f"{brackets[0]}...{brackets[1]}"
        parts = []
        pairs = isinstance(value, dict)
        for count, item in enumerate(value.items() if pairs else value):
            if count == items:
                parts.append(f"... and {len(value) - items:,} more")
                break
            if pairs:
                key, inner = (_quoted(x, chars, items, depth - 1) for x in item)
                parts.append(f"{key}: {inner}")
            else:
                parts.append(_quoted(item, chars, items, depth - 1))
        text = ", ".join(parts) + ("," if type(value) is tuple and len(value) == 1 else "")
        return f"{brackets[0]}{text}{brackets[1]}"
    text = repr(value)
    return text if len(text) <= chars else f"{text[:chars]}... ({len(text):,} characters)"


def received(**kwargs: Any) -> str:
    """Format the closing ``Received: a=1, b='x'`` clause of an error message.

    Each value is quoted with ``quoted`` (bounded, whatever its size).
    """
    return "Received: " + ", ".join(f"{key}={quoted(value)}" for key, value in kwargs.items())


def check_keys(data: Any, allowed: list[str], unknown: str, error: type | None = None) -> None:
    """Raise ``error`` (default ``ConfigError``) for the first key of ``data`` not allowed.

    ``unknown`` is the message's start, with ``{key}``, e.g. ``"Unknown key '{key}' in
    job.yaml"``; the rest suggests the closest allowed key, lists them all and ends
    with ``Received: key=value``.
    """
    for key in data:
        if key not in allowed:
            name = str(key)
            if len(name) > MAX_QUOTED_CHARS:  # a hostile key: quote its start
                name = f"{name[:MAX_QUOTED_CHARS]}... ({len(name):,} characters)"
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise (error or ConfigError)(
                f"{unknown.format(key=name)}.{hint} Allowed keys: {', '.join(allowed)}. "
                + received(**{name: data[key]}),
                key=key,
            )


def _restore(cls: type, args: tuple, state: dict) -> VocabguardError:
    # An OSError subclass (InputNotFoundError, OutputExistsError) must be made by
    # OSError's own __new__: its C layout differs from ValueError's, found first
    # in the MRO of a class that is both.
    err = OSError.__new__(cls) if issubclass(cls, OSError) else cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class VocabguardError(Exception):
    """Base of every vocabguard error.

    Args:
        message: the full, human-readable message.
        cases: the failing cases (records, ids, keys), for programs to inspect.
        **details: extra named facts stored as attributes (e.g. ``input_dim``).
    """

    def __init__(self, message: str, *, cases: list | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.cases = list(cases or [])
        for key, value in details.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message

    # Exceptions with keyword-only constructor arguments do not unpickle by
    # default; Beam ships worker errors to the runner pickled.
    def __reduce__(self):
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ConfigError(VocabguardError, ValueError):
    """A config file, CLI flag or option has an unknown key or a bad value."""


class SpecError(ConfigError):
    """A ``VocabSpec`` field has a bad value or an unknown name."""


class LayoutError(VocabguardError, ValueError):
    """The id layout cannot be built (e.g. ``capacity`` smaller than the layout)."""


class InputDataError(VocabguardError, ValueError):
    """An input record is malformed: missing field, wrong type, undecodable bytes."""


class InputNotFoundError(InputDataError, FileNotFoundError):
    """An input path or glob matches no file."""


class ArtifactError(VocabguardError):
    """A vocabulary artifact is missing a file, or a file is unreadable."""


class ChecksumMismatchError(ArtifactError):
    """A file of a vocabulary artifact does not match the sha256 in its manifest."""


class StoreError(VocabguardError):
    """A vocabulary store operation failed."""


class InvalidNameError(StoreError, ValueError):
    """A vocabulary name or reference is not allowed (it could escape the store)."""


class VersionNotFoundError(StoreError, LookupError):
    """A reference names no published version."""


class OutputExistsError(StoreError, FileExistsError):
    """An output already exists; vocabguard never overwrites published data."""


class IdRangeError(VocabguardError, ValueError):
    """Integer ids fall outside ``[0, input_dim)``."""


class LineageError(ConfigError):
    """A child vocabulary cannot extend its parent (spec changed, ids would move or shrink)."""


class VocabularyMismatchError(VocabguardError, ValueError):
    """A model was built from a different vocabulary than the one given (fingerprints differ)."""


class MissingExtraError(VocabguardError, ImportError):
    """A feature needs an optional dependency that is not installed (``pip install
    'vocabguard[tf]'``); also an ``ImportError``, so ``except ImportError`` still works."""


# The classes are documented, pickled and shown in tracebacks under their public
# module, ``vocabguard.errors`` (a face over this one), not this internal path.
for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, VocabguardError):
        _cls.__module__ = "vocabguard.errors"
del _cls
