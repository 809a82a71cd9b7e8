"""Every error vocabguard raises, in one hierarchy (pickle-safe, carrying ``.cases``).

>>> from vocabguard.errors import IdRangeError, VocabguardError
>>> issubclass(IdRangeError, VocabguardError)
True

A public face: the implementation lives in ``vocabguard._src.core.errors``.
"""

from vocabguard._src.core.errors import (
    ArtifactError,
    ChecksumMismatchError,
    ConfigError,
    IdRangeError,
    InputDataError,
    InputNotFoundError,
    InvalidNameError,
    LayoutError,
    LineageError,
    MissingExtraError,
    OutputExistsError,
    SpecError,
    StoreError,
    VersionNotFoundError,
    VocabguardError,
    VocabularyMismatchError,
    check_keys,
    received,
)

__all__ = [
    "ArtifactError",
    "ChecksumMismatchError",
    "ConfigError",
    "IdRangeError",
    "InputDataError",
    "InputNotFoundError",
    "InvalidNameError",
    "LayoutError",
    "LineageError",
    "MissingExtraError",
    "OutputExistsError",
    "SpecError",
    "StoreError",
    "VersionNotFoundError",
    "VocabguardError",
    "VocabularyMismatchError",
    "check_keys",
    "received",
]
