"""The error hierarchy: pickling (Beam ships errors pickled) and the id guard's message."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

from vocabguard import VocabSpec, errors
from vocabguard._src.core.guard import guard_ids
from vocabguard.errors import IdRangeError, VocabguardError, received

ERROR_CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, VocabguardError) and cls.__module__ == errors.__name__
    ),
    key=lambda cls: cls.__name__,
)


def test_every_error_class_is_listed():
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {
        "VocabguardError",
        "ConfigError",
        "SpecError",
        "LayoutError",
        "InputDataError",
        "InputNotFoundError",
        "ArtifactError",
        "ChecksumMismatchError",
        "StoreError",
        "InvalidNameError",
        "VersionNotFoundError",
        "OutputExistsError",
        "IdRangeError",
    } <= names


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_error_pickles_with_message_cases_and_attributes(cls, protocol):
    message = f"{cls.__name__} happened; fix it. " + received(key="value", n=3)
    cases = [((0, 2), 127), ("record", 5)]
    err = cls(message, cases=cases, input_dim=127, file="tokens.parquet", key="min_count")
    copy = pickle.loads(pickle.dumps(err, protocol=protocol))
    assert type(copy) is cls
    assert str(copy) == message
    assert copy.message == message
    assert copy.args == (message,)
    assert copy.cases == cases
    assert (copy.input_dim, copy.file, copy.key) == (127, "tokens.parquet", "min_count")
    assert vars(copy) == vars(err)
    # Still catchable by every base class it had before pickling.
    for base in cls.__mro__:
        assert isinstance(copy, base)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_error_without_cases(cls):
    err = cls("just a message")
    assert err.cases == []
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.cases) == ("just a message", [])


def test_raised_errors_pickle_intact():
    with pytest.raises(errors.SpecError) as info:
        VocabSpec(min_count=0)
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value)
    assert copy.key == "min_count"
    assert str(copy).endswith("Received: min_count=0")


def test_error_bases():
    assert issubclass(errors.SpecError, errors.ConfigError)
    assert issubclass(errors.ChecksumMismatchError, errors.ArtifactError)
    assert issubclass(errors.InvalidNameError, errors.StoreError)
    assert issubclass(errors.InvalidNameError, ValueError)
    assert issubclass(errors.VersionNotFoundError, LookupError)
    assert issubclass(errors.OutputExistsError, FileExistsError)
    for cls in (errors.ConfigError, errors.LayoutError, errors.InputDataError, IdRangeError):
        assert issubclass(cls, ValueError)


def test_received_formats_reprs():
    assert received(a=1, b="x", c=None) == "Received: a=1, b='x', c=None"


# -- guard_ids --


def guard_error(ids, input_dim) -> IdRangeError:
    with pytest.raises(IdRangeError) as info:
        guard_ids(ids, input_dim)
    return info.value


def test_guard_names_value_position_and_input_dim():
    ids = np.array([[0, 5, 126], [3, 127, 1]])
    err = guard_error(ids, 127)
    message = str(err)
    assert message.startswith("Id 127 at position [1, 1] is not in [0, 127): 1 of 6 ids")
    assert "Embedding(input_dim=127)" in message
    assert message.endswith("Received: input_dim=127, min_id=0, max_id=127")
    assert err.cases == [((1, 1), 127)]
    assert (err.input_dim, err.num_bad) == (127, 1)


def test_guard_negative_id():
    err = guard_error([4, -1, 2], 127)
    message = str(err)
    assert message.startswith("Id -1 at position [1] is not in [0, 127): 1 of 3 ids")
    assert "negative ids" in message.lower()
    assert message.endswith("Received: input_dim=127, min_id=-1, max_id=4")
    assert err.cases == [((1,), -1)]


def test_guard_reports_every_bad_id_up_to_a_limit():
    ids = np.arange(-20, 20)
    err = guard_error(ids, 10)
    bad = [(i, int(v)) for i, v in enumerate(ids) if not 0 <= v < 10]
    assert err.num_bad == len(bad)
    assert f"{len(bad)} of {ids.size} ids are out of range" in str(err)
    assert err.cases == [((i,), v) for i, v in bad[:10]]
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.cases, copy.num_bad, copy.input_dim) == (err.cases, err.num_bad, 10)


def test_guard_passes_ids_in_range_unchanged():
    ids = np.array([[0, 126], [1, 2]], dtype=np.int32)
    out = guard_ids(ids, 127)
    assert out is ids or np.array_equal(out, ids)
    assert out.dtype == np.int32


def test_guard_accepts_an_empty_list():
    assert guard_ids([], 5).size == 0


def test_guard_rejects_non_integer_ids():
    with pytest.raises(TypeError) as info:
        guard_ids(np.array([1.0, 2.0]), 5)
    assert str(info.value) == "guard_ids expects integer ids. Received: dtype='float64'"
