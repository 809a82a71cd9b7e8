"""The id guard: every id must lie in ``[0, input_dim)``.

This module holds the numpy guard and the one message text every guard uses
(``vocabguard.tf.guard_ids`` formats its errors with ``range_error``).

>>> import numpy as np
>>> guard_ids(np.array([[1, 2, 5]]), input_dim=5)
Traceback (most recent call last):
...
vocabguard.errors.IdRangeError: Id 5 at position [0, 2] is not in [0, 5): 1 of 3 ids are out of range. An Embedding(input_dim=5) would raise on CPU, return a zero row on GPU, or clamp to the last row under XLA. Build the Embedding from the vocabulary artifact (vocabguard.keras.embedding(vocab, ...)) or re-encode the data with the vocabulary it was built with. Received: input_dim=5, min_id=1, max_id=5
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vocabguard._src.core.errors import ConfigError, IdRangeError, received
from vocabguard._src.core.spec import MAX_INPUT_DIM

MAX_REPORTED_CASES = 10


def range_error(
    input_dim: int,
    positions: Sequence[Sequence[int]],
    values: Sequence[int],
    num_bad: int,
    num_total: int,
    min_id: int,
    max_id: int,
) -> IdRangeError:
    """Build the ``IdRangeError`` for out-of-range ids (first offender named)."""
    first_position = ", ".join(str(int(p)) for p in positions[0])
    first = int(values[0])
    why = (
        "negative ids are read as the last rows by Keras 3 (ops.take) and as -1 OOV by TFT"
        if first < 0
        else f"an Embedding(input_dim={input_dim}) would raise on CPU, return a zero row on "
        "GPU, or clamp to the last row under XLA"
    )
    message = (
        f"Id {first} at position [{first_position}] is not in [0, {input_dim}): "
        f"{num_bad} of {num_total} ids are out of range. {why[0].upper()}{why[1:]}. "
        "Build the Embedding from the vocabulary artifact (vocabguard.keras.embedding(vocab, "
        "...)) or re-encode the data with the vocabulary it was built with. "
        + received(input_dim=int(input_dim), min_id=int(min_id), max_id=int(max_id))
    )
    cases = [
        (tuple(int(p) for p in position), int(value))
        for position, value in zip(positions[:MAX_REPORTED_CASES], values[:MAX_REPORTED_CASES])
    ]
    return IdRangeError(message, cases=cases, input_dim=int(input_dim), num_bad=int(num_bad))


def check_input_dim(input_dim: object) -> int:
    """``input_dim`` as an ``int``, or a ``ConfigError`` when no vocabulary can have it:
    not an integer, below 1, or above ``MAX_INPUT_DIM`` (2**53, for int64 ids).

    >>> check_input_dim(10**20)
    Traceback (most recent call last):
    ...
    vocabguard.errors.ConfigError: `input_dim` must be an integer in [1, 9,007,199,254,740,992] (the largest input_dim of int64 ids); pass the vocabulary's input_dim. Received: input_dim=100000000000000000000
    """
    limit = MAX_INPUT_DIM["int64"]
    if (
        isinstance(input_dim, (bool, np.bool_))
        or not isinstance(input_dim, (int, np.integer))
        or not 1 <= input_dim <= limit
    ):
        raise ConfigError(
            f"`input_dim` must be an integer in [1, {limit:,}] (the largest input_dim of "
            "int64 ids); pass the vocabulary's input_dim. " + received(input_dim=input_dim)
        )
    return int(input_dim)


def guard_ids(ids: np.ndarray | Sequence, input_dim: int) -> np.ndarray:
    """Return ``ids`` unchanged if all lie in ``[0, input_dim)``; raise ``IdRangeError`` if not.

    >>> guard_ids([0, 3, 4], input_dim=5)
    array([0, 3, 4])
    """
    check_input_dim(input_dim)
    array = np.asarray(ids)
    if array.size == 0 and not np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.int64)  # numpy reads [] as float64; no id is out of range
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError("guard_ids expects integer ids. " + received(dtype=str(array.dtype)))
    bad = (array < 0) | (array >= input_dim)
    if bad.any():
        positions = np.argwhere(bad)
        values = array[bad]
        raise range_error(
            input_dim,
            positions.tolist(),
            values.tolist(),
            int(bad.sum()),
            array.size,
            int(array.min()),
            int(array.max()),
        )
    return array
