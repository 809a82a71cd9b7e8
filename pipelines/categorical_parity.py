"""Every field of the real categorical tables: numpy, tf.data and Beam give identical ids.

    python pipelines/categorical_parity.py [--store vocab_store] [--config configs/movies.yaml ...]

For each table config (default: configs/movies.yaml and configs/flights.yaml) it
loads each feature's published vocabulary (run the training jobs first: `make
categorical`), reads the whole table (``data/movies/movies.jsonl``,
``data/flights/flights.jsonl``: nulls, lists and all; records no path accepts,
such as the films whose Title is a number, are skipped and counted), and encodes
every field three ways:

- numpy: ``Vocabulary.encode``;
- tf.data: ``vocabguard.tf.encode_fn`` mapped over a dataset of the column;
- Beam: ``ReadRecordBatches | EncodeWithVocabularies`` (DirectRunner), joined back
  on the ``row`` field.

It exits 1 on the first difference, naming the field, the row and both id lists,
or when an id lies outside ``[0, input_dim)``; else it prints one line per field.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

TABLES = {
    "configs/movies.yaml": "data/movies/movies.jsonl",
    "configs/flights.yaml": "data/flights/flights.jsonl",
}


def rows_of(ids) -> list:
    import numpy as np

    if isinstance(ids, list):
        return [row.tolist() for row in ids]
    return np.asarray(ids).tolist()


def tf_rows(values, vocab) -> list:
    import tensorflow as tf

    import vocabguard.tf as vtf
    from vocabguard.training import tf_column

    encoder = vtf.encode_fn(vocab)
    out = []
    for batch in (
        tf.data.Dataset.from_tensor_slices(tf_column(values, vocab)).batch(512).map(encoder)
    ):
        out += batch.to_list() if isinstance(batch, tf.RaggedTensor) else batch.numpy().tolist()
    return out


def beam_rows(path, store, features, vocabs, fields) -> dict:
    """``{row: {column: ids}}`` from the Beam encoder."""
    import apache_beam as beam
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.options.pipeline_options import PipelineOptions

    from vocabguard.beam import EncodeWithVocabularies, ReadRecordBatches, field_rules

    transform = EncodeWithVocabularies(
        store, vocabs, fields, {"row": pa.int64()}, bad_records="skip"
    )
    read_fields = list(dict.fromkeys(f for names in fields.values() for f in names))
    with tempfile.TemporaryDirectory() as tmp:
        options = PipelineOptions(["--runner=DirectRunner"])
        with beam.Pipeline(options=options) as pipeline:
            _ = (
                pipeline
                | ReadRecordBatches(
                    [path],
                    read_fields,
                    bad_records="skip",
                    passthrough=["row"],
                    rules=field_rules(features),
                )
                | transform
                | beam.io.WriteToParquetBatched(
                    f"{tmp}/part", schema=transform.schema, file_name_suffix=".parquet"
                )
            )
        table = pq.read_table(tmp).to_pylist()
    return {record.pop("row"): record for record in table}


def check_table(config_path: str, data_path: str, store_root: str) -> int:
    from vocabguard import VocabStore
    from vocabguard.beam import Feature, column_name
    from vocabguard.formats import read_records
    from vocabguard.training import TableConfig

    config = TableConfig.from_yaml(config_path, store=store_root)
    store = VocabStore(store_root)
    vocabs = {f.key: store.load(f.ref) for f in config.features}
    fields = {f.key: list(f.fields) for f in config.features}
    # Encoding needs no weights: only the token fields are read.
    features = [
        Feature(f.fields[0], f.key, vocabs[f.key].spec, fields=f.fields) for f in config.features
    ]
    skipped: dict = {}
    records = list(
        read_records(
            [data_path],
            fields=[*dict.fromkeys(x for names in fields.values() for x in names), "row"],
            missing="skip",  # each vocabulary applies its own `missing` policy
            bad_records="skip",
            skipped=skipped,
        )
    )
    beam = beam_rows(data_path, store_root, features, vocabs, fields)
    rows = [r["row"] for r in records]
    if sorted(beam) != sorted(rows):
        only = sorted(set(beam) ^ set(rows))[:5]
        print(f"FAIL {data_path}: Beam and Python read different records (e.g. rows {only})")
        return 1
    compared = 0
    for key, names in fields.items():
        vocab = vocabs[key]
        for field in names:
            values = [r.get(field) for r in records]
            numpy_ids = rows_of(vocab.encode(values))
            tf_ids = tf_rows(values, vocab)
            column = column_name(key, field, names)
            beam_ids = [beam[row][column] for row in rows]
            for index, (a, b, c) in enumerate(zip(numpy_ids, tf_ids, beam_ids)):
                if not a == b == c:
                    print(
                        f"FAIL {data_path} field {field!r} row {rows[index]} (value "
                        f"{values[index]!r}): numpy {a}, tf.data {b}, Beam {c}"
                    )
                    return 1
            flat = [i for row in numpy_ids for i in (row if isinstance(row, list) else [row])]
            if flat and not (min(flat) >= 0 and max(flat) < vocab.input_dim):
                print(f"FAIL {data_path} field {field!r}: ids outside [0, {vocab.input_dim})")
                return 1
            missing = sum(
                sum(e is None or e == "" for e in v) if isinstance(v, list) else v in (None, "")
                for v in values
            )
            compared += len(flat)
            print(
                f"{data_path} {field!r} ({vocab.ref}, input_dim {vocab.input_dim}): "
                f"{len(values)} records, {len(flat)} ids, {missing} missing values: numpy == "
                "tf.data == Beam"
            )
    print(
        f"{data_path}: {compared} ids identical on all three paths; records skipped by every "
        f"path: {skipped or 'none'}"
    )
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=os.environ.get("VOCABGUARD_STORE", "vocab_store"))
    parser.add_argument("--config", action="append", help="table config (default: both)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    configs = args.config or list(TABLES)
    status = 0
    for config in configs:
        status |= check_table(config, TABLES.get(config, ""), args.store)
    return status


if __name__ == "__main__":
    sys.exit(main())
