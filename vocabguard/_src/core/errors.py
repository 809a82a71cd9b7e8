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

from typing import Any


def received(**kwargs: Any) -> str:
    """Format the closing ``Received: a=1, b='x'`` clause of an error message."""
    return "Received: " + ", ".join(f"{key}={value!r}" for key, value in kwargs.items())


def check_keys(data: Any, allowed: list[str], unknown: str, error: type | None = None) -> None:
    """Raise ``error`` (default ``ConfigError``) for the first key of ``data`` not allowed.

    ``unknown`` is the message's start, with ``{key}``, e.g. ``"Unknown key '{key}' in
    job.yaml"``; the rest suggests the closest allowed key, lists them all and ends
    with ``Received: key=value``.
    """
    import difflib

    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise (error or ConfigError)(
                f"{unknown.format(key=key)}.{hint} Allowed keys: {', '.join(allowed)}. "
                + received(**{str(key): data[key]}),
                key=key,
            )


def _restore(cls: type, args: tuple, state: dict) -> VocabguardError:
    err = cls.__new__(cls)
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
