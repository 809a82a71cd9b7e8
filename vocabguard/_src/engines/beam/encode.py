"""Encoding records to ids on Beam (``EncodeWithVocabularies``), Parquet or TFRecord out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from vocabguard._src.core.vocabulary import INT64, Vocabulary
from vocabguard._src.engines.beam.read import NAMESPACE, BadRecords, RecordBatch, check_policy
from vocabguard._src.engines.records import BadRecord


class _EncodeBatch(beam.DoFn):
    """Encodes the features of a batch into an Arrow table, counting ids as metrics."""

    def __init__(
        self,
        store: str,
        refs: Mapping[str, str],
        fields: Mapping[str, str],
        passthrough: Sequence[str],
        schema: pa.Schema,
        policy: str,
    ):
        self.store = store
        self.refs = dict(refs)
        self.fields = dict(fields)
        self.passthrough = list(passthrough)
        self.schema = schema
        self.policy = policy

    def setup(self):
        from vocabguard._src.core.store import VocabStore

        store = VocabStore(self.store)
        self.vocabs = {key: store.load(ref) for key, ref in self.refs.items()}
        self.bad = BadRecords(self.policy)
        self.metric = {
            name: Metrics.counter(NAMESPACE, name)
            for name in ("documents", "ids", "oov_ids", "pad_ids", "out_of_range_ids")
        }

    def process(self, batch: RecordBatch):
        bad = {}
        for key, vocab in self.vocabs.items():
            column = batch.columns[self.fields[key]]
            if vocab.token_type == INT64:
                # Inputs are never mutated in place (Beam may reuse them).
                column = list(column)
                batch = dataclasses.replace(
                    batch, columns={**batch.columns, self.fields[key]: column}
                )
                # CSV (and some JSON) carries integers as text: accept "2020" for an
                # integer vocabulary; anything else is a bad record.
                for row, value in enumerate(column):
                    if isinstance(value, int):
                        continue
                    try:
                        column[row] = int(value)
                    except (TypeError, ValueError):
                        bad.setdefault(
                            row,
                            BadRecord(
                                batch.path,
                                batch.numbers[row],
                                self.fields[key],
                                "wrong_type",
                                f"expected an integer for {vocab.ref}, found {value!r:.60}",
                            ),
                        )
                continue
            if vocab.spec.tokenizer == "none":
                continue
            for row, value in enumerate(column):
                if isinstance(value, int) and row not in bad:
                    bad[row] = BadRecord(
                        batch.path,
                        batch.numbers[row],
                        self.fields[key],
                        "wrong_type",
                        f"expected a string, found {value}",
                    )
        for row in sorted(bad):
            self.bad.handle(bad[row])
        if bad:
            batch = batch.take([r for r in range(len(batch)) if r not in bad])
        if not len(batch):
            return
        columns = {}
        for key, vocab in self.vocabs.items():
            values = batch.columns[self.fields[key]]
            column = vocab.encode_arrow(values)
            flat = (column.flatten() if pa.types.is_list(column.type) else column).to_numpy()
            out_of_range = int(((flat < 0) | (flat >= vocab.input_dim)).sum())
            oov = int(((flat >= vocab.oov_ids.start) & (flat < vocab.oov_ids.stop)).sum())
            self.metric["ids"].inc(int(flat.size))
            self.metric["oov_ids"].inc(oov)
            self.metric["pad_ids"].inc(int((flat == vocab.pad_id).sum()))
            self.metric["out_of_range_ids"].inc(out_of_range)
            columns[key] = column
        for field in self.passthrough:
            columns[field] = pa.array(batch.columns[field])
        self.metric["documents"].inc(len(batch))
        yield pa.Table.from_pydict(columns).cast(self.schema)


def encoded_schema(
    vocabs: Mapping[str, Vocabulary], passthrough_types: Mapping[str, pa.DataType]
) -> pa.Schema:
    """The output schema: one id column per feature, then passthrough fields, with metadata."""
    fields = []
    metadata = {}
    for key, vocab in vocabs.items():
        id_type = pa.from_numpy_dtype(np.dtype(vocab.spec.id_dtype))
        one_per_value = vocab.token_type == INT64 or vocab.spec.tokenizer == "none"
        fields.append(pa.field(key, id_type if one_per_value else pa.list_(id_type)))
        metadata[f"vocabguard.{key}.ref"] = vocab.ref
        metadata[f"vocabguard.{key}.fingerprint"] = vocab.fingerprint
        metadata[f"vocabguard.{key}.input_dim"] = str(vocab.input_dim)
    fields.extend(pa.field(name, type_) for name, type_ in passthrough_types.items())
    return pa.schema(fields, metadata=metadata)


def table_to_examples(table: pa.Table, fingerprints: Mapping[str, str]) -> Iterable[bytes]:
    from tensorflow.core.example import example_pb2

    rows = table.to_pylist()
    for row in rows:
        example = example_pb2.Example()
        feature = example.features.feature
        for key, value in row.items():
            if key in fingerprints:
                feature[key].int64_list.value.extend(value if isinstance(value, list) else [value])
                feature[f"{key}_vocab_fingerprint"].bytes_list.value.append(
                    fingerprints[key].encode()
                )
            elif isinstance(value, int):
                feature[key].int64_list.value.append(value)
            elif isinstance(value, float):
                feature[key].float_list.value.append(value)
            else:
                feature[key].bytes_list.value.append(
                    value.encode("utf-8") if isinstance(value, str) else value
                )
        yield example.SerializeToString()


class EncodeWithVocabularies(beam.PTransform):
    """``RecordBatch`` elements -> Arrow tables of ids (one column per feature).

    Every worker loads the same pinned versions (``name@vN``) from the store.
    Beam metrics ``vocabguard:documents``, ``ids``, ``oov_ids``, ``pad_ids`` and
    ``out_of_range_ids`` (always 0) report what was written.

    Args:
        store: the store root.
        vocabs: feature key -> a loaded ``Vocabulary`` (its ``ref`` pins the version).
        fields: feature key -> input field.
        passthrough: input fields copied unchanged (e.g. labels), with their Arrow types.
    """

    def __init__(
        self,
        store: str,
        vocabs: Mapping[str, Vocabulary],
        fields: Mapping[str, str],
        passthrough: Mapping[str, pa.DataType] | None = None,
        *,
        bad_records: str = "fail",
    ):
        super().__init__()
        check_policy(bad_records)
        self.store = str(store)
        self.refs = {key: vocab.ref for key, vocab in vocabs.items()}
        self.fields = dict(fields)
        self.passthrough = dict(passthrough or {})
        self.schema = encoded_schema(vocabs, self.passthrough)
        self.bad_records = bad_records

    def expand(self, batches):
        return batches | "Encode" >> beam.ParDo(
            _EncodeBatch(
                self.store,
                self.refs,
                self.fields,
                list(self.passthrough),
                self.schema,
                self.bad_records,
            )
        )
