"""In-process vocabulary building: stream values, count tokens, select, order.

Memory is bounded by the token counts (one dict entry per distinct token),
not by the input: values are consumed in Arrow batches and counted in C.

>>> from vocabguard import VocabSpec
>>> vocab = build_vocabulary(["to be or not to be"], VocabSpec(), progress=False)
>>> vocab.tokens[2:]
['be', 'to', 'not', 'or']
>>> build_vocabulary([3, 7, 7], VocabSpec(tokenizer="none"), progress=False).tokens
[None, -1, 7, 3]
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from vocabguard._src.core.errors import InputDataError, SpecError, received
from vocabguard._src.core.layout import is_in, rule_order
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.tokenizer import Tokenizer
from vocabguard._src.core.values import (
    WEIGHT_SCALE,
    check_total_weight,
    plain_value,
    record_tokens,
    weight_units,
)
from vocabguard._src.core.version import __version__
from vocabguard._src.core.vocabulary import (
    INT64,
    STRING,
    Vocabulary,
    arrow_token_type,
    as_token,
    special_tokens,
    token_array,
    vocabulary_from_counts,
)

BATCH_SIZE = 8192
# Threads that tokenize and count text blocks at once in build_vocabulary (read_documents
# input): on 2 cores, 100 MB of text counts in about half the wall time of one thread.
TALLY_THREADS = 2


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


def _record_weights(
    count: int, weights: Sequence | None, first_index: int, source: str | None, field: str
) -> np.ndarray:
    """Each record's weight in units of ``1 / WEIGHT_SCALE`` (int64); 1 each without
    weights. Bad weights are errors naming the record (``values.weight_units``)."""
    if weights is None:
        return np.full(count, WEIGHT_SCALE, dtype=np.int64)
    if isinstance(weights, np.ndarray) and weights.dtype == np.int64:
        return weights
    return weight_units(weights, first_index=first_index, source=source, field=field)


def _exact_sum(units: np.ndarray) -> int:
    """The exact sum of int64 weight units, even past int64's range."""
    # An int64 sum is exact below 2**62; beyond, sum Python ints (exact) so the
    # check sees the overflow instead of a wrapped number.
    approx = float(units.sum(dtype=np.float64))
    return int(units.sum()) if approx < 2**62 else sum(int(x) for x in units)


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
    # size of the last compacted table). Beam's accumulators (_Partial, one per
    # feature and token shard, many per process) compact at COMPACT_ROWS; a counter
    # (one per feature) waits for PENDING_ROWS: at 100 MB of text, six blocks' partial
    # counts (1.4 M rows) then meet in one merge instead of two (0.5 of 1.2 CPU s).
    COMPACT_ROWS = 1 << 20
    PENDING_ROWS = 1 << 21

    def __init__(self, spec: VocabSpec, token_type: str | None = None, *, weighted: bool = False):
        self.spec = spec
        self.tokenizer = Tokenizer(spec)
        self.token_type = token_type
        # Weighted counts are integers in units of 1 / WEIGHT_SCALE (exact sums).
        self.weighted = weighted
        # Document counts per token (a ``documents`` column beside ``count``), only
        # when the spec prunes by them: they cost a hash aggregation per batch.
        self.count_documents = spec.counts_documents
        self.reset()

    def reset(self) -> None:
        """Forget all counts (the spec and token type stay)."""
        self._tables: list[pa.Table] = []
        self._pending_rows = 0
        self._compacted_rows = 0
        self._dict: dict | None = None
        self.documents = 0
        self.total_tokens = 0
        self.total_weight_units = 0
        self.missing: dict[str, int] = {}  # missing values per field
        self.fields: list[str] = []
        self.list_fields: set[str] = set()  # fields in which some record held a list
        # (token, record) pairs of the fields of the current records, when several
        # fields share one vocabulary: a record counts once per token (flush_documents).
        self._doc_pairs: list[pa.Table] = []
        # Under ``missing: token`` the missing token is counted here, never as a row of
        # the count tables: its type (string or integer) is the vocabulary's, known only
        # once every value is seen (``with_missing_token`` adds its row then).
        self.missing_token_count = 0  # occurrences (weight units when weighted)
        self.missing_token_documents = 0  # records with a missing value (document rules)
        self._missing_records: list[np.ndarray] = []  # of the current records (records=False)

    def add_arrow(
        self, values: pa.Array, *, records: bool = True, lists: pa.ListArray | None = None
    ) -> None:
        """Count the tokens of an Arrow array of texts (or int64 values).

        ``records=False``: the values are one field of records whose documents are
        counted by the caller (several fields, one vocabulary; see ``flush_documents``).
        ``lists``: ``self.tokenizer.tokenize_arrow(values)`` when the caller already has
        it (the Beam build tokenizes once for its max_token_bytes check and its counts).
        """
        nested = pa.types.is_list(values.type) or pa.types.is_large_list(values.type)
        if self.weighted or nested or values.null_count or self.spec.value_shape == "list":
            self.add_batch(values.to_pylist(), records=records)
            return
        if pa.types.is_integer(values.type):
            flat = values.cast(pa.int64())
            lists = None
        else:
            if lists is None:
                lists = self.tokenizer.tokenize_arrow(values)
            flat = lists.flatten()
        if records:
            self.documents += len(values)
        self.total_tokens += len(flat)
        if not len(flat):
            return
        if not self.count_documents:
            tallies = pc.value_counts(flat)
            self.add_table(
                pa.table({"token": tallies.field("values"), "count": tallies.field("counts")})
            )
            return
        if lists is None:  # one value per record
            parents = pa.array(np.arange(len(flat), dtype=np.int64))
        else:
            parents = pc.list_parent_indices(lists)
        self._add_tallies(flat, parents, None, records)

    def _add_tallies(
        self, flat: pa.Array, parents: pa.Array, units: np.ndarray | None, records: bool
    ) -> None:
        """Add counts (or weight units) and document counts of flat tokens and their records."""
        columns = {"token": flat, "record": parents}
        aggregations = [("record", "count"), ("record", "count_distinct")]
        if units is not None:
            columns["units"] = pa.array(units, type=pa.int64())
            aggregations = [("units", "sum"), ("record", "count_distinct")]
        grouped = pa.table(columns).group_by("token", use_threads=False).aggregate(aggregations)
        counts = grouped[aggregations[0][0] + "_" + aggregations[0][1]].cast(pa.int64())
        documents = grouped["record_count_distinct"].cast(pa.int64())
        if not records:
            # Several fields of the same records: their document counts are taken
            # over all fields at once, by flush_documents.
            self._doc_pairs.append(pa.table({"token": flat, "record": parents}))
            documents = pa.array(np.zeros(len(grouped), dtype=np.int64))
        self.add_table(
            pa.table({"token": grouped["token"], "count": counts, "documents": documents})
        )

    def flush_documents(self) -> None:
        """Count the documents of the records whose fields were added with ``records=False``.

        A token in two fields of one record is in one document. A no-op unless the
        counter counts documents.
        """
        missing, self._missing_records = self._missing_records, []
        if missing:
            # Records with a missing value in any field, less those that hold the
            # missing token itself (their document is counted with the token's pairs).
            rows = np.unique(np.concatenate(missing))
            for pair in self._doc_pairs:
                spelled = self._missing_token_records(
                    pair["token"].combine_chunks(), pair["record"].combine_chunks()
                )
                rows = np.setdiff1d(rows, spelled)
            self.missing_token_documents += len(rows)
        pairs, self._doc_pairs = self._doc_pairs, []
        if not pairs:
            return
        try:
            table = pa.concat_tables(pairs)
        except pa.ArrowInvalid:
            raise _mixed_token_types(pairs) from None
        grouped = table.group_by("token", use_threads=False).aggregate(
            [("record", "count_distinct")]
        )
        self.add_table(
            pa.table(
                {
                    "token": grouped["token"],
                    "count": pa.array(np.zeros(len(grouped), dtype=np.int64)),
                    "documents": grouped["record_count_distinct"].cast(pa.int64()),
                }
            )
        )

    def _missing_token_records(self, tokens: pa.Array, records: pa.Array) -> np.ndarray:
        """The records (of ``tokens``' parallel ``records``) whose value is the missing
        token itself, typed as ``tokens`` (nulls never match)."""
        integer = pa.types.is_integer(tokens.type)
        token = as_token(self.spec.resolved_missing_token(integer), INT64 if integer else STRING)
        value = pa.array([token], pa.int64() if integer else pa.binary()).cast(tokens.type)
        hit = pc.is_in(tokens, value_set=value)
        return records.filter(hit).to_numpy(zero_copy_only=False)

    def add_table(self, table: pa.Table) -> None:
        """Add a ``(token, count)`` table of partial counts."""
        self._tables.append(table)
        self._pending_rows += len(table)
        self._dict = None
        if self._pending_rows > max(self.PENDING_ROWS, 2 * self._compacted_rows):
            self._compact()

    def _compact(self) -> None:
        self._tables = compact_tables(self._tables)
        self._compacted_rows = self._pending_rows = len(self._tables[0]) if self._tables else 0

    def table(self) -> pa.Table:
        """All counts so far as one ``(token, count)`` table, one row per distinct token
        (``(token, count, documents)`` when the counter counts documents)."""
        self.flush_documents()
        self._compact()
        if self._tables:
            return self._tables[0]
        token_type = pa.int64() if self.token_type == INT64 else pa.binary()
        columns = {"token": pa.array([], token_type), "count": pa.array([], pa.int64())}
        if self.count_documents:
            columns["documents"] = pa.array([], pa.int64())
        return pa.table(columns)

    @property
    def counts(self) -> dict:
        """``{token: count}`` (bytes or int tokens), materialized on demand."""
        if self._dict is None:
            table = self.table()
            self._dict = dict(zip(table["token"].to_pylist(), table["count"].to_pylist()))
        return self._dict

    def add_batch(
        self,
        values: list,
        *,
        first_index: int = 0,
        source: str | None = None,
        weights: Sequence | None = None,
        field: str | None = None,
        records: bool = True,
        weight_field: str = "weight",
    ) -> None:
        """Count a Python list of values, checking their types.

        Args:
            values: one value per record: a string/bytes/int, a list of them, or
                ``None`` (missing; see ``VocabSpec.missing``).
            first_index, source, field: name the records in errors (and ``field``
                keys the per-field missing counts).
            weights: one weight per record (a weighted counter only): numbers, or
                already an int64 array of ``values.weight_units``; ``weight_field``
                names them in errors.
            records: count ``values`` as documents (off when one record feeds
                several fields).
        """
        key = field or "value"
        if key not in self.fields:
            self.fields.append(key)
        if weights is not None and not self.weighted:
            raise ValueError("weights need TokenCounter(..., weighted=True)")
        if self.weighted or not _plain(values, self.spec):
            self._add_records(values, first_index, source, weights, key, records, weight_field)
            return
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
            self.add_arrow(pa.array([int(v) for v in values], type=pa.int64()), records=records)
        else:
            self.add_arrow(pa.array(values, type=_arrow_text_type(values)), records=records)

    def add_text_array(
        self, values: pa.Array, *, first_index: int = 0, source: str | None = None
    ) -> None:
        """Count an Arrow string array of documents, one per record (``add_batch``'s
        rules; the usual case, plain strings, never leaves Arrow).

        >>> counter = TokenCounter(VocabSpec())
        >>> counter.add_text_array(pa.array(["a b", "b"]))
        >>> dict(counter.counts), counter.documents
        ({b'a': 1, b'b': 2}, 2)
        """
        if not self.plain_text(values):
            self.add_batch(values.to_pylist(), first_index=first_index, source=source)
        elif self.count_documents:
            self.add_arrow(values)
        else:
            self.add_tally(*self.tally_text(values))

    def plain_text(self, values: pa.Array) -> bool:
        """Whether an Arrow array of documents is counted in Arrow as it is: strings, no
        nulls, no weights, and none of the values ``add_batch`` must look at one by one."""
        return (
            pa.types.is_string(values.type)
            and not values.null_count
            and not self.weighted
            and self.token_type in (None, STRING)
            and self.spec.value_shape != "list"
            and not (
                self.spec.tokenizer == "none"  # '' is a missing value there
                and pc.any(pc.equal(pc.binary_length(values), 0)).as_py()
            )
        )

    def tally_text(self, values: pa.Array) -> tuple[pa.Table, int, int]:
        """``(token, count)`` table, documents and tokens of plain text (``plain_text``).

        Changes nothing in the counter (``add_tally`` adds the result), so several
        threads can tally blocks at once: Arrow's kernels run without the GIL.
        """
        flat = self.tokenizer.tokenize_arrow(values).flatten()
        tallies = pc.value_counts(flat)
        table = pa.table({"token": tallies.field("values"), "count": tallies.field("counts")})
        return table, len(values), len(flat)

    def add_tally(self, table: pa.Table, documents: int, tokens: int) -> None:
        """Add a ``tally_text`` result."""
        if "value" not in self.fields:
            self.fields.append("value")
        self.token_type = STRING
        self.documents += documents
        self.total_tokens += tokens
        if len(table):
            self.add_table(table)

    def _add_records(
        self,
        values: list,
        first_index: int,
        source: str | None,
        weights: Sequence | None,
        key: str,
        records: bool,
        weight_field: str,
    ) -> None:
        tokens = record_tokens(
            values,
            self.spec,
            self.tokenizer,
            self.token_type,
            first_index=first_index,
            source=source,
            field=None if key == "value" else key,
        )
        if tokens.found_kind is not None:
            self.token_type = self.token_type or tokens.found_kind
        if tokens.has_lists:
            self.list_fields.add(key)
        flat = tokens.flat
        parents = pc.list_parent_indices(tokens.lists) if self.count_documents else None
        null = flat.is_null().to_numpy(zero_copy_only=False)
        policy = self.spec.missing
        if records:
            self.documents += len(values)
        self.missing[key] = self.missing.get(key, 0) + tokens.missing
        counted = len(flat) if policy in ("oov", "token") else len(flat) - tokens.missing
        self.total_tokens += counted
        keep = ~null
        per_token = None
        if self.weighted:
            units = _record_weights(len(values), weights, first_index, source, weight_field)
            per_token = np.repeat(units, tokens.lengths())
        if policy == "token" and tokens.missing:
            # Counted as stats, not as a typed row: a batch of nulls alone cannot know
            # whether the vocabulary holds strings or integers.
            self.missing_token_count += (
                _exact_sum(per_token[null]) if per_token is not None else tokens.missing
            )
            if self.count_documents:
                rows = parents.to_numpy(zero_copy_only=False)[null]
                if records:
                    # A record that also holds the missing token itself is one document.
                    spelled = self._missing_token_records(flat, parents)
                    self.missing_token_documents += len(np.setdiff1d(rows, spelled))
                else:
                    self._missing_records.append(rows)
        if per_token is not None:
            selected = per_token if policy in ("oov", "token") else per_token[keep]
            self.total_weight_units += _exact_sum(selected)
            check_total_weight(self.total_weight_units)
            if keep.any() and self.count_documents:
                mask = pa.array(keep)
                self._add_tallies(flat.filter(mask), parents.filter(mask), per_token[keep], records)
            elif keep.any():
                table = pa.table({"token": flat.filter(pa.array(keep)), "count": per_token[keep]})
                grouped = table.group_by("token", use_threads=False).aggregate([("count", "sum")])
                self.add_table(pa.table({"token": grouped["token"], "count": grouped["count_sum"]}))
            return
        if tokens.missing:
            flat = flat.filter(pa.array(keep))
            if parents is not None:
                parents = parents.filter(pa.array(keep))
        if len(flat) and self.count_documents:
            self._add_tallies(flat, parents, None, records)
        elif len(flat):
            tallies = pc.value_counts(flat)
            self.add_table(
                pa.table({"token": tallies.field("values"), "count": tallies.field("counts")})
            )

    def merge(self, other: TokenCounter) -> TokenCounter:
        self.flush_documents()
        other.flush_documents()
        for table in other._tables:
            self.add_table(table)
        self.documents += other.documents
        self.total_tokens += other.total_tokens
        self.total_weight_units += other.total_weight_units
        self.missing_token_count += other.missing_token_count
        self.missing_token_documents += other.missing_token_documents
        for key, n in other.missing.items():
            self.missing[key] = self.missing.get(key, 0) + n
        self.fields += [f for f in other.fields if f not in self.fields]
        self.list_fields |= other.list_fields
        self.token_type = self.token_type or other.token_type
        return self

    def to_vocabulary(
        self,
        *,
        input_description: str | None = None,
        parent: Vocabulary | None = None,
        retire: bool = False,
        fields: Sequence[str] | None = None,
        weight_field: str | None = None,
    ) -> Vocabulary:
        """Select and order the counted tokens (grown from ``parent`` when given).

        ``fields`` / ``weight_field`` are recorded in the build info (the manifest).
        """
        token_type = self.token_type or STRING
        table = with_missing_token(
            self.table(),
            self.spec,
            token_type,
            self.missing_token_count,
            self.missing_token_documents,
        )
        stats: dict[str, Any] = {
            "documents": self.documents,
            "total_tokens": self.total_tokens,
            "distinct_tokens": len(table),
        }
        if self.spec.missing != "error" or any(self.missing.values()):
            stats["missing"] = {f: self.missing.get(f, 0) for f in (fields or self.fields)}
        if self.list_fields:
            # Which fields held lists: encoders that write a fixed schema (Beam, the
            # CLI) give these fields an id list per record.
            stats["list_fields"] = sorted(self.list_fields)
        scale = 1
        if self.weighted:
            scale = WEIGHT_SCALE
            stats["weighted"] = True
            stats["weight_unit"] = 1 / WEIGHT_SCALE
            stats["total_weight"] = self.total_weight_units / WEIGHT_SCALE
            stats["total_weight_units"] = self.total_weight_units
        limit = self.spec.max_token_bytes
        over = table.slice(0, 0)
        if limit is not None and token_type == STRING and len(table):
            # Never learned (they map to the OOV ids): counted, so a runaway token
            # (a whole file without a separator) shows up in the manifest.
            over = table.filter(pc.greater(pc.binary_length(table["token"]), limit))
        if len(over):
            stats["tokens_over_max_token_bytes"] = {
                "distinct": len(over),
                "occurrences": (pc.sum(over["count"]).as_py() or 0) / scale
                if self.weighted
                else pc.sum(over["count"]).as_py() or 0,
                "max_token_bytes": limit,
            }
        build: dict[str, Any] = {"vocabguard_version": __version__, "input": input_description}
        if fields:
            build["fields"] = list(fields)
        if weight_field:
            build["weight_field"] = weight_field
        inherited = parent.token_array if parent is not None else ()
        chosen = candidate_table(
            table,
            self.spec,
            token_type,
            inherited=inherited,
            count_scale=scale,
            total_documents=self.documents,
        )
        # Columns straight into the selection: no Python object per token.
        return vocabulary_from_counts(
            chosen["token"],
            chosen["count"],
            self.spec,
            token_type,
            document_counts=chosen["documents"] if "documents" in chosen.column_names else None,
            stats=stats,
            build=build,
            parent=parent,
            retire=retire,
            count_scale=scale,
        )


def _mixed_token_types(tables: Sequence[pa.Table]) -> InputDataError:
    return InputDataError(
        "The values hold both integers and strings; a vocabulary holds one kind. "
        "Make the field consistent (or cast it in the input). "
        + received(token_types=sorted({str(t.schema.field("token").type) for t in tables}))
    )


MISSING_TOKEN_COUNT = "missing_token.count"
MISSING_TOKEN_DOCUMENTS = "missing_token.documents"


def missing_token_stats(counter: TokenCounter) -> dict[str, int]:
    """The counting-step stats of a counter's missing tokens (they merge by summing).

    Zero entries are left out, as the columnar counting leaves them out: every path of
    one batch gives the same stats keys.
    """
    stats = {
        MISSING_TOKEN_COUNT: counter.missing_token_count,
        MISSING_TOKEN_DOCUMENTS: counter.missing_token_documents,
    }
    return {key: n for key, n in stats.items() if n}


def with_missing_token(
    table: pa.Table | None,
    spec: VocabSpec,
    token_type: str,
    count: int,
    documents: int = 0,
) -> pa.Table | None:
    """A counts table with the row of the missing token (``missing: token``) added.

    The counting steps keep the missing token out of their tables (a batch of nulls
    alone does not know whether the vocabulary holds strings or integers, and Beam
    shards tokens by their typed value): its ``count`` (and ``documents``) are
    summed as stats and its row is added here, typed as the vocabulary. Merged with
    the row of the same token found in the data, if any.

    >>> spec = VocabSpec(tokenizer="none", missing="token")
    >>> t = pa.table({"token": pa.array([3], pa.int64()), "count": pa.array([1])})
    >>> with_missing_token(t, spec, INT64, 2).to_pydict()
    {'token': [3, -2], 'count': [1, 2]}
    """
    if spec.missing != "token" or not count:
        return table
    integer = token_type == INT64
    token = as_token(spec.resolved_missing_token(integer), token_type)
    columns = {
        "token": pa.array([token], pa.int64() if integer else pa.binary()),
        "count": pa.array([count], pa.int64()),
    }
    if table is None or not len(table):
        if spec.counts_documents:
            columns["documents"] = pa.array([documents], pa.int64())
        return pa.table(columns)
    if "documents" in table.column_names:
        columns["documents"] = pa.array([documents], pa.int64())
    row = pa.table(columns)
    if table.schema.field("token").type != row.schema.field("token").type:
        row = row.cast(pa.schema([table.schema.field("token"), *row.schema[1:]]))
    if not _trues(is_in(table["token"], row["token"])):
        return pa.concat_tables([table, row.select(table.column_names)])
    return compact_tables([table, row.select(table.column_names)])[0]


def compact_tables(tables: list[pa.Table]) -> list[pa.Table]:
    """Partial count tables merged into one: one row per token, every other column summed.

    Tables without a ``documents`` column (none counted) merge with those that have one
    only if all lack it; the counters of one feature all share one schema.
    """
    if len(tables) <= 1:
        return tables
    try:
        merged = pa.concat_tables(tables)
    except pa.ArrowInvalid:
        raise _mixed_token_types(tables) from None
    columns = [name for name in merged.column_names if name != "token"]
    grouped = merged.group_by("token", use_threads=False).aggregate(
        [(name, "sum") for name in columns]
    )
    return [
        pa.table({"token": grouped["token"], **{name: grouped[f"{name}_sum"] for name in columns}})
    ]


def document_limits(spec: VocabSpec, total_documents: int) -> tuple[int, int | None]:
    """``(min_documents, max_documents)`` a learned token must lie within (inclusive)."""
    return spec.min_document_count or 0, spec.max_documents(total_documents)


def candidate_table(
    table: pa.Table,
    spec: VocabSpec,
    token_type: str,
    *,
    inherited: Iterable | pa.Array = (),
    count_scale: int = 1,
    total_documents: int | None = None,
) -> pa.Table:
    """The rows of a ``(token, count[, documents])`` table that ``from_counts`` needs.

    Only the tokens that can matter: the special tokens (for stats), the
    parent's tokens (``inherited``: they keep their ids whatever their count),
    and the new learned-token candidates (``min_count``, ``max_token_bytes`` and
    the document rules applied), cut to the best ``max_tokens`` (count descending,
    token bytes ascending, or descending with ``tie_break: bytes_descending``;
    ``best_rows``), in no particular order.
    ``total_documents`` is needed with ``max_document_fraction``.
    """
    reserved, pad_and_oov = special_tokens(spec, token_type)
    arrow_type = table.schema.field("token").type
    inherited = token_array(inherited, token_type).cast(arrow_type)
    fixed = pa.array(reserved + pad_and_oov, type=arrow_token_type(token_type))
    specials = pa.concat_arrays([fixed.cast(arrow_type), inherited])
    is_special = is_in(table["token"], specials)
    keep = pc.and_(
        pc.greater_equal(table["count"], spec.min_count_units(count_scale)),
        pc.invert(is_special),
    )
    if spec.max_token_bytes is not None and not pa.types.is_integer(arrow_type):
        keep = pc.and_(keep, pc.less_equal(pc.binary_length(table["token"]), spec.max_token_bytes))
    if spec.counts_documents:
        if "documents" not in table.column_names:
            raise ValueError("document rules need a counts table with a 'documents' column")
        if spec.max_document_fraction is not None and total_documents is None:
            raise ValueError("max_document_fraction needs total_documents")
        low, high = document_limits(spec, total_documents or 0)
        keep = pc.and_(keep, pc.greater_equal(table["documents"], low))
        if high is not None:
            keep = pc.and_(keep, pc.less_equal(table["documents"], high))
    # Most builds keep every row: no copy of the (possibly 10^7-row) table then.
    candidates = table if _trues(keep) == len(table) else table.filter(keep)
    budget = spec.max_tokens
    if budget is not None and len(inherited):
        # max_tokens caps the learned rows of the lineage; the parent's come first.
        budget = max(0, budget - (len(inherited) - len(reserved)))
    if budget is not None and len(candidates) > budget:
        descending = spec.tie_break == "bytes_descending"
        candidates = candidates.take(best_rows(candidates, budget, descending))
    if not _trues(is_special):
        return candidates
    return pa.concat_tables([candidates, table.filter(is_special)])


def _trues(mask: pa.Array | pa.ChunkedArray) -> int:
    """How many values of a boolean Arrow mask are true."""
    return int(pc.sum(mask).as_py() or 0)


def best_rows(table: pa.Table, k: int, descending: bool = False) -> np.ndarray:
    """The rows of the best ``k`` rows of a ``(token, count)`` table of distinct tokens
    under the order rule (count descending, then token bytes ascending; descending with
    ``descending``), in table order.

    No sort of the whole table: the ``k``-th largest count splits it (``np.partition``);
    rows above it are in, and only the rows that tie with it are ordered by their bytes
    (``layout.rule_order``: numpy sorts). Tokens are distinct, so the cut is exact.

    >>> t = pa.table({"token": [b"b", b"a", b"c", b"d"], "count": [2, 2, 5, 1]})
    >>> best_rows(t, 2).tolist(), best_rows(t, 2, descending=True).tolist()
    ([1, 2], [0, 2])
    """
    counts = table["count"].to_numpy()
    n = len(counts)
    if k >= n:
        return np.arange(n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(counts, n - k)[n - k]  # the k-th largest count
    above = np.flatnonzero(counts > kth)
    tied = np.flatnonzero(counts == kth)
    need = k - len(above)
    if need < len(tied):
        tokens = table["token"].take(pa.array(tied)).combine_chunks()
        order = rule_order(tokens, np.zeros(len(tied), dtype=np.int64), descending=descending)
        tied = np.sort(tied[order[:need]])
    return np.sort(np.concatenate([above, tied]))


def candidate_counts(
    table: pa.Table,
    spec: VocabSpec,
    token_type: str,
    *,
    inherited: Iterable = (),
    count_scale: int = 1,
    total_documents: int | None = None,
) -> dict:
    """``{token: count}`` of ``candidate_table``'s rows (what ``from_counts`` takes)."""
    chosen = candidate_table(
        table,
        spec,
        token_type,
        inherited=inherited,
        count_scale=count_scale,
        total_documents=total_documents,
    )
    return dict(zip(chosen["token"].to_pylist(), chosen["count"].to_pylist()))


def document_counts(table: pa.Table) -> dict | None:
    """``{token: documents}`` of a counts table (``None`` when documents were not counted)."""
    if "documents" not in table.column_names:
        return None
    return dict(zip(table["token"].to_pylist(), table["documents"].to_pylist()))


def _plain(values: list, spec: VocabSpec) -> bool:
    """Every value one plain string or integer (no lists, no missing values)."""
    if spec.value_shape == "list":
        return False
    empty_is_missing = spec.tokenizer == "none"  # refused under missing: error
    for value in values:
        if value is None or isinstance(value, (list, tuple, np.ndarray)):
            return False
        if empty_is_missing and value in ("", b""):
            return False
        if type(value) is int and not plain_value(value):
            return False  # past int64: values.record_tokens names it
    return True


def _arrow_text_type(values: list) -> pa.DataType:
    # Any bytes value makes the batch binary (str values are stored as UTF-8).
    return pa.string() if all(isinstance(v, str) for v in values) else pa.binary()


def batches(values: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of up to ``size`` values from any iterable."""
    iterator = iter(values)
    while batch := list(islice(iterator, size)):
        yield batch


class NoProgress:
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
        return NoProgress()

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
    fields: Sequence[str] | str | None = None,
    weight_field: str | None = None,
) -> Vocabulary:
    """Build a vocabulary from an iterable of texts (or integers) in this process.

    Args:
        values: documents (str or bytes), or integer categories (with ``tokenizer: none``).
            Consumed once, in batches; any iterable, including generators. An object
            with an ``arrow_batches(size)`` method (``read_documents``' result) is
            counted from it: Arrow string arrays (counted in Arrow, no Python object
            per document) and lists of values.
        spec: the vocabulary spec; default ``VocabSpec()``.
        progress: show a progress bar (``None``: only on a terminal, after 2 s).
        input_description: recorded in the manifest's build info (e.g. file names).
        batch_size: values per Arrow batch.
        parent: grow this published version with stable ids (see ``Vocabulary.from_counts``).
        retire: with ``parent``, map parent tokens now below ``min_count`` to OOV
            (their rows stay reserved, never reassigned).
        fields: with records (mappings) as ``values``: the fields whose values
            share this vocabulary (one id space); an absent field is missing.
        weight_field: with records: each record's tokens count its weight (a
            finite number >= 0) instead of 1; sums are exact (fixed point, see
            ``values.WEIGHT_SCALE``), whatever the batching.

    >>> recs = [{"h": ["a", "b"], "t": "a", "w": 2.0}, {"h": [], "t": "c", "w": 0.5}]
    >>> v = build_vocabulary(recs, fields=["h", "t"], weight_field="w", progress=False)
    >>> v.tokens[2:], v.counts  # counts in 1e-6 units; 'c' weighs 0.5 < min_count 1
    (['a', 'b'], [4000000, 2000000])

    Returns:
        An unpublished ``Vocabulary``; ``VocabStore.publish`` gives it a name and version.
    """
    spec = spec or VocabSpec()
    if isinstance(fields, str):
        fields = [fields]
    if weight_field is not None and not fields:
        raise SpecError(
            "`weight_field` needs `fields`: weights come from records (mappings) that hold "
            "both. Pass fields=[...] with the token fields. "
            + received(weight_field=weight_field, fields=fields)
        )
    counter = TokenCounter(spec, weighted=weight_field is not None)
    total = len(values) if hasattr(values, "__len__") else None
    seen = 0
    arrow = not fields and callable(getattr(values, "arrow_batches", None))
    with progress_bar(total, progress, "counting tokens") as bar:
        if arrow:  # read_documents: text files come as Arrow arrays of whole blocks of lines
            _count_arrow_batches(counter, values.arrow_batches(batch_size), bar, input_description)
        for batch in () if arrow else batches(values, batch_size):
            if fields:
                _add_records(counter, batch, fields, weight_field, seen, input_description)
            else:
                counter.add_batch(batch, first_index=seen, source=input_description)
            seen += len(batch)
            bar.update(len(batch))
    return counter.to_vocabulary(
        input_description=input_description,
        parent=parent,
        retire=retire,
        fields=fields,
        weight_field=weight_field,
    )


def _count_arrow_batches(
    counter: TokenCounter, chunks: Iterable[pa.Array | list], bar, source: str | None
) -> None:
    """Count ``Documents.arrow_batches``: plain Arrow text blocks are tallied on
    ``TALLY_THREADS`` threads while the next blocks are read (Arrow's kernels release
    the GIL), and added in order; anything else is counted here, in order, after them."""
    threads = max(1, min(TALLY_THREADS, os.cpu_count() or 1))
    seen = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque = deque()
        for batch in chunks:
            if (
                isinstance(batch, pa.Array)
                and not counter.count_documents
                and counter.plain_text(batch)
            ):
                pending.append(pool.submit(counter.tally_text, batch))
                counter.token_type = STRING  # what add_tally sets: later batches see it
            else:
                while pending:
                    counter.add_tally(*pending.popleft().result())
                if isinstance(batch, pa.Array):
                    counter.add_text_array(batch, first_index=seen, source=source)
                else:
                    counter.add_batch(batch, first_index=seen, source=source)
            # At most one block waits beyond those being tallied: memory stays a few blocks.
            while len(pending) > threads:
                counter.add_tally(*pending.popleft().result())
            seen += len(batch)
            bar.update(len(batch))
        while pending:
            counter.add_tally(*pending.popleft().result())


def _add_records(
    counter: TokenCounter,
    batch: list,
    fields: Sequence[str],
    weight_field: str | None,
    first_index: int,
    source: str | None,
) -> None:
    for offset, record in enumerate(batch):
        if not isinstance(record, Mapping):
            raise _bad_value(first_index + offset, record, "a record (a mapping)", source)

    weights = None
    if weight_field:
        raw = [r.get(weight_field) for r in batch]
        weights = weight_units(raw, first_index=first_index, source=source, field=weight_field)
    for field in fields:
        counter.add_batch(
            [r.get(field) for r in batch],
            first_index=first_index,
            source=source,
            weights=weights,
            field=field,
            records=False,
        )
    counter.flush_documents()  # record indices are per batch: count this batch's now
    counter.documents += len(batch)
