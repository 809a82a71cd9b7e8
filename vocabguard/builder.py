"""In-process vocabulary building: stream values, count tokens, select, order.

Memory is bounded by the token counts (one dict entry per distinct token),
not by the input: values are consumed in Arrow batches and counted in C.

>>> from vocabguard import VocabSpec
>>> vocab = build_vocabulary(["to be or not to be"], VocabSpec(), progress=False)
>>> vocab.tokens[2:]
['be', 'to', 'not', 'or']
>>> build_vocabulary([3, 7, 7], VocabSpec(tokenizer="none"), progress=False).tokens
[0, -1, 7, 3]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard.errors import InputDataError, SpecError, received
from vocabguard.spec import VocabSpec
from vocabguard.tokenizer import Tokenizer
from vocabguard.vocabulary import INT64, STRING, Vocabulary

BATCH_SIZE = 8192


def _value_kind(value: Any) -> str | None:
    if isinstance(value, (str, bytes)):
        return STRING
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return INT64
    return None


def _bad_value(index: int, value: Any, expected: str, source: str | None) -> InputDataError:
    where = f" of {source}" if source else ""
    return InputDataError(
        f"Record {index}{where} is {type(value).__name__} {value!r}, expected {expected}. "
        "Fix or drop the record (every record must be a string, or every record an integer). "
        + received(record=index, value=value),
        cases=[(index, repr(value))],
        record=index,
    )


class TokenCounter:
    """Counts tokens of batches of values under a spec; mergeable (for Beam combiners).

    >>> counter = TokenCounter(VocabSpec())
    >>> counter.add_batch(["a b", "b"])
    >>> dict(counter.counts), counter.documents, counter.total_tokens
    ({b'a': 1, b'b': 2}, 2, 3)
    """

    def __init__(self, spec: VocabSpec, token_type: str | None = None):
        self.spec = spec
        self.tokenizer = Tokenizer(spec)
        self.token_type = token_type
        self.counts: dict = {}
        self.documents = 0
        self.total_tokens = 0

    def add_arrow(self, values: pa.Array) -> None:
        """Count the tokens of an Arrow array of texts (or int64 values)."""
        if pa.types.is_integer(values.type):
            flat = values.cast(pa.int64())
        else:
            flat = self.tokenizer.tokenize_arrow(values).flatten()
        self.documents += len(values)
        self.total_tokens += len(flat)
        if len(flat) == 0:
            return
        tallies = pc.value_counts(flat)
        counts = self.counts
        for token, count in zip(
            tallies.field("values").to_pylist(), tallies.field("counts").to_pylist()
        ):
            counts[token] = counts.get(token, 0) + count

    def add_batch(self, values: list, *, first_index: int = 0, source: str | None = None) -> None:
        """Count a Python list of values, checking their types."""
        if self.token_type is None and values:
            self.token_type = _value_kind(values[0]) or STRING
        expected = self.token_type
        for offset, value in enumerate(values):
            if _value_kind(value) != expected:
                raise _bad_value(
                    first_index + offset,
                    value,
                    "an integer" if expected == INT64 else "a string",
                    source,
                )
        if expected == INT64:
            if self.spec.tokenizer != "none":
                raise SpecError(
                    "Integer values need `tokenizer: none` (each value is one token, like "
                    "Keras IntegerLookup). " + received(tokenizer=self.spec.tokenizer),
                    key="tokenizer",
                )
            self.add_arrow(pa.array([int(v) for v in values], type=pa.int64()))
        else:
            self.add_arrow(pa.array(values, type=_arrow_text_type(values)))

    def merge(self, other: TokenCounter) -> TokenCounter:
        for token, count in other.counts.items():
            self.counts[token] = self.counts.get(token, 0) + count
        self.documents += other.documents
        self.total_tokens += other.total_tokens
        self.token_type = self.token_type or other.token_type
        return self

    def to_vocabulary(self, *, input_description: str | None = None) -> Vocabulary:
        from vocabguard import __version__

        stats = {"documents": self.documents, "total_tokens": self.total_tokens}
        build = {"vocabguard_version": __version__, "input": input_description}
        return Vocabulary.from_counts(
            self.counts, self.spec, self.token_type or STRING, stats=stats, build=build
        )


def _arrow_text_type(values: list) -> pa.DataType:
    # Any bytes value makes the batch binary (str values are stored as UTF-8).
    return pa.string() if all(isinstance(v, str) for v in values) else pa.binary()


def batches(values: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of up to ``size`` values from any iterable."""
    iterator = iter(values)
    while batch := list(islice(iterator, size)):
        yield batch


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        pass


def progress_bar(total: int | None, progress: bool | None, what: str, unit: str = " records"):
    """A tqdm bar on stderr, or a no-op when progress is off.

    ``progress=None`` means: only on an interactive terminal, and only once the
    job has run for two seconds (short jobs stay quiet). A disabled bar is never
    created: tqdm starts a monitor thread even for disabled bars.
    """
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return _NoProgress()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, desc=what, delay=2.0)


def build_vocabulary(
    values: Iterable[str | bytes | int],
    spec: VocabSpec | None = None,
    *,
    progress: bool | None = None,
    input_description: str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Vocabulary:
    """Build a vocabulary from an iterable of texts (or integers) in this process.

    Args:
        values: documents (str or bytes), or integer categories (with ``tokenizer: none``).
            Consumed once, in batches; any iterable, including generators.
        spec: the vocabulary spec; default ``VocabSpec()``.
        progress: show a progress bar (``None``: only on a terminal, after 2 s).
        input_description: recorded in the manifest's build info (e.g. file names).
        batch_size: values per Arrow batch.

    Returns:
        An unpublished ``Vocabulary``; ``VocabStore.publish`` gives it a name and version.
    """
    spec = spec or VocabSpec()
    counter = TokenCounter(spec)
    total = len(values) if hasattr(values, "__len__") else None
    seen = 0
    with progress_bar(total, progress, "counting tokens") as bar:
        for batch in batches(values, batch_size):
            counter.add_batch(batch, first_index=seen, source=input_description)
            seen += len(batch)
            bar.update(len(batch))
    return counter.to_vocabulary(input_description=input_description)
