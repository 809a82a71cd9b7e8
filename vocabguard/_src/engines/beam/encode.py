"""Encoding records to ids on Beam (``EncodeWithVocabularies``), Parquet or TFRecord out."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.values import is_list
from vocabguard._src.core.vocabulary import INT64, Vocabulary
from vocabguard._src.engines.beam.read import NAMESPACE, BadRecords, RecordBatch, check_policy
from vocabguard._src.engines.formats.common import BadRecord
from vocabguard._src.engines.formats.tfrecord import frame, table_to_examples


class _EncodeBatch(beam.DoFn):
    """Encodes the features of a batch into an Arrow table, counting ids as metrics."""

    def __init__(
        self,
        store: str,
        refs: Mapping[str, str],
        fields: Mapping[str, Sequence[str]],
        passthrough: Sequence[str],
        schema: pa.Schema,
        policy: str,
        keyed: bool = False,
    ):
        self.store = store
        self.refs = dict(refs)
        self.fields = {key: list(names) for key, names in fields.items()}
        self.passthrough = list(passthrough)
        self.schema = schema
        self.policy = policy
        # keyed: emit (split label, (first record, table or None, stats)) so that the
        # statistics travel with the data (runners without metrics) and each split's
        # rows can be written to one file.
        self.keyed = keyed

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
        records = len(batch) + sum(n for _, n in batch.skipped)
        first = batch.numbers[0] if len(batch) else 0
        stats = {"records": records, **{f"bad_records.{r}": n for r, n in batch.skipped}}
        batch = self._good_records(batch, stats)
        if not len(batch):
            if self.keyed:
                yield batch.path, (first, None, stats)
            return
        columns = self._encode(batch, stats)
        for field in self.passthrough:
            columns[field] = pa.array(batch.columns[field])
        self.metric["documents"].inc(len(batch))
        stats["documents"] = len(batch)
        table = pa.Table.from_pydict(columns).cast(self.schema)
        if self.keyed:
            yield batch.path, (first, table, stats)
        else:
            yield table

    def _good_records(self, batch: RecordBatch, stats: dict[str, int]) -> RecordBatch:
        """``batch`` without its bad records (each handled by the policy and counted in
        ``stats``), integer fields as ``int`` (CSV's "2020" for an integer vocabulary)."""
        bad: dict[int, BadRecord] = {}
        for key, field in ((k, f) for k, names in self.fields.items() for f in names):
            vocab = self.vocabs[key]
            batch.check_values(field, vocab.spec, bad)
            column = batch.columns[field]
            if vocab.token_type == INT64:
                # Inputs are never mutated in place (Beam may reuse them).
                column = list(column)
                batch = dataclasses.replace(batch, columns={**batch.columns, field: column})
                # CSV (and some JSON) carries integers as text: accept "2020" for an
                # integer vocabulary; anything else is a bad record.
                for row, value in enumerate(column):
                    if isinstance(value, int) or value is None or is_list(value):
                        continue
                    try:
                        column[row] = int(value)
                    except (TypeError, ValueError):
                        bad.setdefault(
                            row,
                            batch.bad_record(
                                row,
                                field,
                                "wrong_type",
                                f"expected an integer for {vocab.ref}, found {value!r:.60}",
                            ),
                        )
                continue
            if vocab.spec.tokenizer == "none":
                continue
            for row, value in enumerate(column):
                if isinstance(value, int) and row not in bad:
                    bad[row] = batch.bad_record(
                        row, field, "wrong_type", f"expected a string, found {value}"
                    )
        for row in sorted(bad):
            self.bad.handle(bad[row])
            key = f"bad_records.{bad[row].reason}"
            stats[key] = stats.get(key, 0) + 1
        return batch.take([r for r in range(len(batch)) if r not in bad]) if bad else batch

    def _encode(self, batch: RecordBatch, stats: dict[str, int]) -> dict[str, pa.Array]:
        """Each feature field's id column, with its ids, OOV, padding and out-of-range
        counts added to the Beam metrics and to ``stats``."""
        columns = {}
        for key, field in ((k, f) for k, names in self.fields.items() for f in names):
            vocab = self.vocabs[key]
            name = column_name(key, field, self.fields[key])
            column = vocab.encode_arrow(batch.columns[field])
            expected = self.schema.field(name).type
            if column.type != expected:
                if not pa.types.is_list(expected):
                    raise ConfigError(
                        f"Field {field!r} holds lists, but the vocabulary {vocab.ref} encodes one "
                        "id per record in it (tokenizer none, value_shape any, and no list in "
                        "this field when it was built). Rebuild it with value_shape: list so "
                        "every record gets an id list. "
                        + received(field=field, value_shape=vocab.spec.value_shape)
                    )
                offsets = pa.array(range(len(column) + 1), type=pa.int32())
                column = pa.ListArray.from_arrays(offsets, column)
            flat = (column.flatten() if pa.types.is_list(column.type) else column).to_numpy()
            out_of_range = int(((flat < 0) | (flat >= vocab.input_dim)).sum())
            oov = int(((flat >= vocab.oov_ids.start) & (flat < vocab.oov_ids.stop)).sum())
            pads = int((flat == vocab.pad_id).sum())
            for metric, n in (
                ("ids", int(flat.size)),
                ("oov_ids", oov),
                ("pad_ids", pads),
                ("out_of_range_ids", out_of_range),
            ):
                self.metric[metric].inc(n)
                stats[metric] = stats.get(metric, 0) + n
            columns[name] = column
        return columns


def column_name(key: str, field: str, fields: Sequence[str]) -> str:
    """The id column of ``field``: the feature key, or with several fields each field's name."""
    return key if len(fields) == 1 else field


def encoded_schema(
    vocabs: Mapping[str, Vocabulary],
    passthrough_types: Mapping[str, pa.DataType],
    fields: Mapping[str, Sequence[str]] | None = None,
) -> pa.Schema:
    """The output schema: one id column per feature field, then passthrough fields, with
    metadata (each id column records its vocabulary)."""
    out = []
    metadata = {}
    for key, vocab in vocabs.items():
        names = list((fields or {}).get(key) or [key])
        for field in names:
            name = column_name(key, field, names)
            id_type = pa.from_numpy_dtype(np.dtype(vocab.spec.id_dtype))
            one_per_value = (
                (vocab.token_type == INT64 or vocab.spec.tokenizer == "none")
                and vocab.spec.value_shape != "list"
                and field not in vocab.stats.get("list_fields", ())
            )
            out.append(pa.field(name, id_type if one_per_value else pa.list_(id_type)))
            metadata[f"vocabguard.{name}.ref"] = vocab.ref
            metadata[f"vocabguard.{name}.fingerprint"] = vocab.fingerprint
            metadata[f"vocabguard.{name}.input_dim"] = str(vocab.input_dim)
    fields = out
    fields.extend(pa.field(name, type_) for name, type_ in passthrough_types.items())
    return pa.schema(fields, metadata=metadata)


class EncodeWithVocabularies(beam.PTransform):
    """``RecordBatch`` elements -> Arrow tables of ids (one column per feature).

    Every worker loads the same pinned versions (``name@vN``) from the store.
    Beam metrics ``vocabguard:documents``, ``ids``, ``oov_ids``, ``pad_ids`` and
    ``out_of_range_ids`` (always 0) report what was written.

    Args:
        store: the store root.
        vocabs: feature key -> a loaded ``Vocabulary`` (its ``ref`` pins the version).
        fields: feature key -> input field, or the list of fields sharing its vocabulary
            (then each field gets its own id column, named after the field).
        passthrough: input fields copied unchanged (e.g. labels), with their Arrow types.
    """

    def __init__(
        self,
        store: str,
        vocabs: Mapping[str, Vocabulary],
        fields: Mapping[str, str | Sequence[str]],
        passthrough: Mapping[str, pa.DataType] | None = None,
        *,
        bad_records: str = "fail",
    ):
        super().__init__()
        check_policy(bad_records)
        self.store = str(store)
        self.refs = {key: vocab.ref for key, vocab in vocabs.items()}
        self.fields = {
            key: [names] if isinstance(names, str) else list(names) for key, names in fields.items()
        }
        self.passthrough = dict(passthrough or {})
        self.schema = encoded_schema(vocabs, self.passthrough, self.fields)
        self.fingerprints = {
            column_name(key, field, names): vocabs[key].fingerprint
            for key, names in self.fields.items()
            for field in names
        }
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


def _sum_stats(items: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for stats in items:
        for key, n in stats.items():
            total[key] = total.get(key, 0) + n
    return total


class _WriteSplit(beam.DoFn):
    """Writes the encoded rows of one input split to one file, in record order.

    The file name derives from the split, so a retried write replaces its own file
    instead of adding one: no duplicated rows whatever the runner retries.
    """

    def __init__(self, directory: str, format: str, fingerprints: Mapping[str, str]):
        self.directory = directory
        self.format = format
        self.fingerprints = dict(fingerprints)

    def process(self, element):
        import hashlib

        from apache_beam.io.filesystems import FileSystems

        label, parts = element
        parts = sorted(parts, key=lambda part: part[0])
        stats = _sum_stats(part[2] for part in parts)
        tables = [part[1] for part in parts if part[1] is not None]
        rows = sum(len(t) for t in tables)
        stats["rows_written"] = rows
        stats["files"] = 0
        if rows:
            name = hashlib.sha1(label.encode("utf-8")).hexdigest()[:16]
            suffix = ".parquet" if self.format == "parquet" else ".tfrecord"
            path = f"{self.directory.rstrip('/')}/part-{name}{suffix}"
            table = pa.concat_tables(tables)
            with FileSystems.create(path) as handle:
                if self.format == "parquet":
                    import pyarrow.parquet as pq

                    pq.write_table(table, handle)
                else:
                    for record in table_to_examples(table, self.fingerprints):
                        handle.write(frame(record))
            stats["files"] = 1
        yield stats


class WriteEncodedFiles(beam.PTransform):
    """``RecordBatch`` elements -> encoded files in ``directory``; outputs one stats dict.

    One file per input split (Parquet, or TFRecord of ``tf.train.Example``), written
    by plain DoFns (no file sink, so it behaves alike on every runner), and one
    element: the summed statistics (records, documents, ids, oov_ids, pad_ids,
    out_of_range_ids, bad_records.<reason>, rows_written, files), computed from the
    data itself rather than from runner metrics, which some runners lack.
    """

    def __init__(
        self,
        encode: EncodeWithVocabularies,
        directory: str,
        format: str = "parquet",
        fingerprints: Mapping[str, str] | None = None,
    ):
        super().__init__()
        self.encode = encode
        self.directory = directory
        self.format = format
        self.fingerprints = dict(fingerprints or {})

    def expand(self, batches):
        encode = self.encode
        return (
            batches
            | "EncodeKeyed"
            >> beam.ParDo(
                _EncodeBatch(
                    encode.store,
                    encode.refs,
                    encode.fields,
                    list(encode.passthrough),
                    encode.schema,
                    encode.bad_records,
                    keyed=True,
                )
            )
            | "BySplit" >> beam.GroupByKey()
            | "WriteSplits"
            >> beam.ParDo(_WriteSplit(self.directory, self.format, self.fingerprints))
            | "SumStats" >> beam.CombineGlobally(_sum_stats)
        )
