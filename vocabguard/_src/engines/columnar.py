"""Counting categorical columns as Arrow arrays: one batch of a Parquet column ->
``(token, count)`` table and stats, with no Python value per record.

Used by the in-process job runner and by the Beam build's counting step (for batches
the Beam reader carries as Arrow columns), so both apply one set of rules. Beam-free.

>>> import pyarrow as pa
>>> from vocabguard import VocabSpec
>>> from vocabguard._src.core.tokenizer import Tokenizer
>>> from vocabguard._src.engines.features import Feature
>>> f = Feature("c", "c", VocabSpec(tokenizer="none", missing="skip"))
>>> table, stats = _count_column(f, Tokenizer(f.spec), pa.array(["x", None, "x", ""]), "c")
>>> sorted(zip(table["token"].to_pylist(), table["count"].to_pylist())), stats["missing.c"]
([(b'x', 2)], 2)
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.vocabulary import INT64, STRING
from vocabguard._src.engines.features import Feature


def _columnar(feature: Feature) -> bool:
    """Whether a feature's values can be counted as Arrow columns (else: record by record)."""
    spec = feature.spec
    return (
        spec.tokenizer == "none"
        and feature.weight_field is None
        and spec.value_shape != "list"
        and not spec.counts_documents
    )


_PLAIN_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary)


def _column_kind(dtype: pa.DataType) -> str | None:
    """INT64 or STRING for a Parquet column the columnar path counts; None for others."""
    if any(check(dtype) for check in _PLAIN_TYPES) or pa.types.is_large_binary(dtype):
        return STRING
    if pa.types.is_integer(dtype) and not pa.types.is_uint64(dtype):
        return INT64
    return None


def _missing_mask(values: pa.Array, empty_is_missing: bool) -> np.ndarray:
    """True where a value is missing: null, or empty (tokenizer none, missing allowed)."""
    null = values.is_null()
    if pa.types.is_integer(values.type) or not empty_is_missing:
        missing = null
    else:
        missing = pc.or_kleene(null, pc.equal(pc.binary_length(values), 0))
    return missing.to_numpy(zero_copy_only=False)


def _count_dictionary(feature: Feature, tokenizer, values: pa.DictionaryArray, field: str):
    """``_count_column`` of a dictionary-encoded column (Parquet's own dictionary):
    each batch is its dictionary and a ``bincount`` of its indices, no hashing of values."""
    spec = feature.spec
    dictionary = values.dictionary
    indices = values.indices
    if indices.null_count:
        indices = indices.drop_null()
    counts = np.bincount(indices.to_numpy(zero_copy_only=False), minlength=len(dictionary))
    n_missing = values.null_count
    if spec.missing != "error" and len(dictionary):
        empty = pc.equal(pc.binary_length(dictionary), 0).to_numpy(zero_copy_only=False)
        n_missing += int(counts[empty].sum())
        counts[empty] = 0
    total = int(counts.sum())
    present = counts > 0
    tokens = dictionary.filter(pa.array(present))
    counts = counts[present]
    merge = bool(tokenizer._transforms)  # normalizing may make two values one token
    tokens = tokenizer.normalize_arrow(tokens) if merge else tokens
    tokens = tokens.cast(pa.binary())
    counted = total
    if spec.missing in ("oov", "token"):
        total += n_missing
    table = None
    if len(tokens):
        table = pa.table({"token": tokens, "count": pa.array(counts, pa.int64())})
        if merge:
            grouped = table.group_by("token", use_threads=False).aggregate([("count", "sum")])
            table = pa.table({"token": grouped["token"], "count": grouped["count_sum"]})
    stats = {"total_tokens": total, "counted_units": counted, f"missing.{field}": n_missing}
    stats.update(_missing_token(spec, n_missing))
    # Arrow does not promise a dictionary without repeats: the feature merges its
    # tables (a hash group_by) before they are used, even when there is just one.
    return table, stats


def _count_column(feature: Feature, tokenizer, values: pa.Array, field: str):
    """One field's values of one batch -> ((token, count) table, stats)."""
    spec = feature.spec
    if pa.types.is_dictionary(values.type):
        return _count_dictionary(feature, tokenizer, values, field)
    missing = _missing_mask(values, spec.missing != "error")
    n_missing = int(missing.sum())
    kept = values.filter(pa.array(~missing)) if n_missing else values
    if pa.types.is_integer(kept.type):
        flat = kept.cast(pa.int64())
    else:
        flat = tokenizer.normalize_arrow(kept) if tokenizer._transforms else kept
        flat = flat.cast(pa.binary())
    total = len(flat)
    if spec.missing in ("oov", "token"):
        total += n_missing
    table = None
    if len(flat):
        tallies = pc.value_counts(flat)
        table = pa.table({"token": tallies.field("values"), "count": tallies.field("counts")})
    stats = {
        "total_tokens": total,
        "counted_units": len(flat),
        f"missing.{field}": n_missing,
        **_missing_token(spec, n_missing),
    }
    return table, stats


def _missing_token(spec, n_missing: int) -> dict[str, int]:
    """Stats of the missing token under ``missing: token`` (never a row of the counts:
    its type is the vocabulary's, which an all-null batch or column does not know)."""
    if spec.missing != "token" or not n_missing:
        return {}
    from vocabguard._src.core.builder import MISSING_TOKEN_COUNT

    return {MISSING_TOKEN_COUNT: n_missing}
