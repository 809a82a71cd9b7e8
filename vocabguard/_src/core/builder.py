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

from vocabguard._src.core.errors import InputDataError, SpecError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard._src.core.vocabulary import INT64, STRING, Vocabulary

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

    Counts stay in Arrow: each batch's ``value_counts`` is appended, and the
    pending tallies are compacted with a hash ``group_by(...).aggregate(sum)``
    once they outgrow the distinct tokens seen so far. Memory stays bounded by
    the distinct tokens, and no per-token Python work happens until the end.

    >>> counter = TokenCounter(VocabSpec())
    >>> counter.add_batch(["a b", "b"])
    >>> dict(counter.counts), counter.documents, counter.total_tokens
    ({b'a': 1, b'b': 2}, 2, 3)
    """

    # Compact pending tallies once they exceed this many rows (and twice the
    # size of the last compacted table).
    COMPACT_ROWS = 1 << 20

    def __init__(self, spec: VocabSpec, token_type: str | None = None):
        self.spec = spec
        self.tokenizer = Tokenizer(spec)
        self.token_type = token_type
        self.reset()

    def reset(self) -> None:
        """Forget all counts (the spec and token type stay)."""
        self._tables: list[pa.Table] = []
        self._pending_rows = 0
        self._compacted_rows = 0
        self._dict: dict | None = None
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
        if len(flat):
            tallies = pc.value_counts(flat)
            self.add_table(
                pa.table({"token": tallies.field("values"), "count": tallies.field("counts")})
            )

    def add_table(self, table: pa.Table) -> None:
        """Add a ``(token, count)`` table of partial counts."""
        self._tables.append(table)
        self._pending_rows += len(table)
        self._dict = None
        if self._pending_rows > max(self.COMPACT_ROWS, 2 * self._compacted_rows):
            self._compact()

    def _compact(self) -> None:
        if len(self._tables) > 1:
            try:
                merged = pa.concat_tables(self._tables)
            except pa.ArrowInvalid:
                raise InputDataError(
                    "The values hold both integers and strings; a vocabulary holds one kind. "
                    "Make the field consistent (or cast it in the input). "
                    + received(
                        token_types=sorted(
                            {str(t.schema.field("token").type) for t in self._tables}
                        )
                    )
                ) from None
            grouped = merged.group_by("token").aggregate([("count", "sum")])
            self._tables = [pa.table({"token": grouped["token"], "count": grouped["count_sum"]})]
        self._compacted_rows = self._pending_rows = len(self._tables[0]) if self._tables else 0

    def table(self) -> pa.Table:
        """All counts so far as one ``(token, count)`` table, one row per distinct token."""
        self._compact()
        if self._tables:
            return self._tables[0]
        token_type = pa.int64() if self.token_type == INT64 else pa.binary()
        return pa.table({"token": pa.array([], token_type), "count": pa.array([], pa.int64())})

    @property
    def counts(self) -> dict:
        """``{token: count}`` (bytes or int tokens), materialized on demand."""
        if self._dict is None:
            table = self.table()
            self._dict = dict(zip(table["token"].to_pylist(), table["count"].to_pylist()))
        return self._dict

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
        for table in other._tables:
            self.add_table(table)
        self.documents += other.documents
        self.total_tokens += other.total_tokens
        self.token_type = self.token_type or other.token_type
        return self

    def to_vocabulary(
        self,
        *,
        input_description: str | None = None,
        parent: Vocabulary | None = None,
        retire: bool = False,
    ) -> Vocabulary:
        """Select and order the counted tokens (grown from ``parent`` when given)."""
        from vocabguard._src.core.version import __version__

        table = self.table()
        token_type = self.token_type or STRING
        stats = {
            "documents": self.documents,
            "total_tokens": self.total_tokens,
            "distinct_tokens": len(table),
        }
        build = {"vocabguard_version": __version__, "input": input_description}
        inherited = parent.token_bytes if parent is not None else ()
        counts = candidate_counts(table, self.spec, token_type, inherited=inherited)
        return Vocabulary.from_counts(
            counts,
            self.spec,
            token_type,
            stats=stats,
            build=build,
            parent=parent,
            retire=retire,
        )


def candidate_counts(
    table: pa.Table, spec: VocabSpec, token_type: str, *, inherited: Iterable = ()
) -> dict:
    """The counts ``Vocabulary.from_counts`` needs from a ``(token, count)`` table.

    Only the tokens that can matter: the special tokens (for stats), the
    parent's tokens (``inherited``: they keep their ids whatever their count),
    and the new learned-token candidates, cut to the best ``max_tokens`` in
    Arrow (count descending, token bytes ascending: ``layout.order_key``'s order).
    """
    from vocabguard._src.core.vocabulary import special_tokens

    reserved, pad_and_oov = special_tokens(spec, token_type)
    inherited = list(inherited)
    specials = reserved + pad_and_oov + inherited
    arrow_type = table.schema.field("token").type
    is_special = pc.is_in(table["token"], value_set=pa.array(specials, type=arrow_type))
    keep = pc.and_(pc.greater_equal(table["count"], spec.min_count), pc.invert(is_special))
    if spec.max_token_bytes is not None and not pa.types.is_integer(arrow_type):
        keep = pc.and_(keep, pc.less_equal(pc.binary_length(table["token"]), spec.max_token_bytes))
    candidates = table.filter(keep)
    budget = spec.max_tokens
    if budget is not None and inherited:
        # max_tokens caps the learned rows of the lineage; the parent's come first.
        budget = max(0, budget - (len(inherited) - len(reserved)))
    if budget is not None and len(candidates) > budget:
        order = pc.sort_indices(
            candidates, sort_keys=[("count", "descending"), ("token", "ascending")]
        )
        candidates = candidates.take(order[:budget])
    chosen = pa.concat_tables([candidates, table.filter(is_special)])
    return dict(zip(chosen["token"].to_pylist(), chosen["count"].to_pylist()))


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
    parent: Vocabulary | None = None,
    retire: bool = False,
) -> Vocabulary:
    """Build a vocabulary from an iterable of texts (or integers) in this process.

    Args:
        values: documents (str or bytes), or integer categories (with ``tokenizer: none``).
            Consumed once, in batches; any iterable, including generators.
        spec: the vocabulary spec; default ``VocabSpec()``.
        progress: show a progress bar (``None``: only on a terminal, after 2 s).
        input_description: recorded in the manifest's build info (e.g. file names).
        batch_size: values per Arrow batch.
        parent: grow this published version with stable ids (see ``Vocabulary.from_counts``).
        retire: with ``parent``, map parent tokens now below ``min_count`` to OOV
            (their rows stay reserved, never reassigned).

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
    return counter.to_vocabulary(input_description=input_description, parent=parent, retire=retire)
