"""``vocabguard encode``: documents to ids, written to a new Parquet file."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vocabguard._src.core.vocabulary import Vocabulary

from vocabguard._src.core.outputs import refuse_existing
from vocabguard._src.core.outputs import staging_path as new_temp_path
from vocabguard.cli._common import (
    BeamMode,
    add_input_options,
    note,
    store_from_args,
)
from vocabguard.cli.build import BEAM_MODE, add_beam_options


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    encode = command(
        "encode",
        _cmd_encode,
        "encode documents to ids and write them to a new Parquet file",
        "vocabguard encode sotu@v1 --input 2024.txt --output ids.parquet\n"
        + BEAM_MODE.format(command="encode", prints="the output directory")
        + "               --output DIR overrides the config's encode.output.\n",
    )
    encode.add_argument("ref", metavar="REF")
    add_input_options(
        encode, repeat_help="may be repeated; rows follow the input order", several_fields=True
    )
    encode.add_argument(
        "--output",
        required=True,
        metavar="OUT",
        help="Parquet file to create (never replaced); in Beam mode, the output directory",
    )
    encode.add_argument(
        "--allow-empty",
        action="store_true",
        help="write the file even when the inputs hold no documents (otherwise an error)",
    )
    add_beam_options(encode)
    encode.add_argument(
        "--config", metavar="JOB", help="Beam mode: a job config with an encode section"
    )
    # --config (always a job config here) or --runner runs the Beam mode.
    encode.beam_mode = BeamMode(
        is_job=lambda args: args.config is not None or args.runner is not None,
        job_flags=frozenset({"config", "store", "runner", "output", "verbose"}),
    )


ENCODE_BATCH_SIZE = 8192


class _EncodeStats:
    def __init__(self, num_oov_buckets: int):
        self.k = num_oov_buckets
        self.documents = 0
        self.tokens = 0
        self.oov = 0
        self.max_id = -1

    def add(self, documents: int, ids, *, padded: bool) -> None:
        import numpy as np

        self.documents += documents
        self.tokens += int(np.count_nonzero(ids)) if padded else int(ids.size)
        self.oov += int(np.count_nonzero((ids >= 1) & (ids <= self.k)))
        if ids.size:
            self.max_id = max(self.max_id, int(ids.max()))


def _encode_batch(vocab: Vocabulary, batch: list, id_type, stats: _EncodeStats, column_type=None):
    """The ``ids`` column of one batch of documents (values, lists or None)."""
    import pyarrow as pa

    from vocabguard._src.core.guard import guard_ids
    from vocabguard._src.core.tokenizer import text_array
    from vocabguard._src.core.vocabulary import INT64

    plain = all(v is not None and not isinstance(v, list) for v in batch)
    if not plain:
        texts = batch
    elif vocab.token_type == INT64:
        texts = pa.array(batch, type=pa.int64())
    else:
        texts = text_array(batch)
    column = vocab.encode_arrow(texts)
    if column_type is not None and column.type != column_type:
        if pa.types.is_list(column_type):  # single values in a list column: one-id lists
            offsets = pa.array(range(len(column) + 1), type=pa.int32())
            column = pa.ListArray.from_arrays(offsets, column)
        else:
            from vocabguard._src.core.errors import InputDataError, received

            raise InputDataError(
                "A record holds a list, but the first record held a single value, so the id "
                "column was started as one id per record. Set value_shape: list in the "
                "vocabulary's spec (or put a list-valued record first). "
                + received(value_shape=vocab.spec.value_shape)
            )
    nested = pa.types.is_list(column.type)
    flat = (column.flatten() if nested else column).to_numpy()
    guard_ids(flat, vocab.input_dim)
    stats.add(len(batch), flat, padded=nested and vocab.spec.sequence_length is not None)
    return column


def _commit_file(tmp: str, output: str) -> None:
    """Move a finished temp file to ``output``, never replacing an existing file."""
    try:
        os.link(tmp, output)  # fails if output appeared meanwhile
    except FileExistsError:
        refuse_existing(output, "Output")
    except OSError:  # no hard links on this filesystem
        if os.path.lexists(output):
            refuse_existing(output, "Output")
        os.rename(tmp, output)


def _cmd_encode(args: argparse.Namespace) -> int:
    # The library loads inside the handlers: `vocabguard --help` imports the standard
    # library alone.
    from vocabguard._src.core.errors import InputDataError, received
    from vocabguard._src.engines.formats.inputs import detect_format, expand_inputs

    if args.beam_mode == "job":
        from vocabguard.cli import jobs

        return jobs.encode_from_args(args)
    output = args.output
    if os.path.lexists(output):
        refuse_existing(output, "Output")
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    files = expand_inputs(args.input)
    for path in files:
        detect_format(path, args.format)
    vocab = store_from_args(args).load(args.ref)
    names, records, types, schema = _open_records(args, files, vocab)
    stats = _EncodeStats(vocab.num_oov_buckets)
    tmp = new_temp_path(directory, os.path.basename(output))
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
    try:
        _write_ids(tmp, schema, vocab, records, names, types, stats)
        if not stats.documents and not args.allow_empty:
            raise InputDataError(
                f"The inputs hold no documents: {', '.join(files)}. An empty encode is almost "
                "always a wrong path, glob, --format or --field; nothing was written. Check the "
                "inputs, or pass --allow-empty to write an empty file. "
                + received(input=args.input, documents=0),
                cases=list(files),
            )
        _commit_file(tmp, output)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    rate = stats.oov / stats.tokens if stats.tokens else 0.0
    max_id = str(stats.max_id) if stats.max_id >= 0 else "none"
    tokens_label = "non-pad ids" if vocab.spec.sequence_length else "tokens"
    note(
        f"encoded {stats.documents} documents with {vocab.ref} -> {output}\n"
        f"  {stats.tokens} {tokens_label}, OOV rate {rate:.4f} ({stats.oov} OOV ids), "
        f"max id {max_id} < input_dim {vocab.input_dim}"
    )
    return 0


def _open_records(args: argparse.Namespace, files: list[str], vocab: Vocabulary):
    """The fields to encode, the records, their id column types and the file's schema."""
    import pyarrow as pa

    from vocabguard._src.core.vocabulary import INT64
    from vocabguard._src.engines.build_job import peek
    from vocabguard._src.engines.formats.fields import INTEGER, STRING
    from vocabguard._src.engines.formats.read import read_documents, read_records

    kind = INTEGER if vocab.token_type == INT64 else STRING
    fields = list(args.field or [])
    plain = len(fields) <= 1 and vocab.spec.missing == "error" and vocab.spec.value_shape == "any"
    first_record = None
    if plain:
        values = read_documents(
            files, format=args.format, field=fields[0] if fields else None, kind=kind
        )
        records = ({"ids": v} for v in values)
        names = ["ids"]
    else:
        first_record, records = peek(
            read_records(
                files,
                format=args.format,
                fields=fields,
                kind=kind,
                missing=vocab.spec.missing,
                value_shape=vocab.spec.value_shape,
            )
        )
        names = fields or list(first_record or ["ids"])
    id_type = pa.int32() if vocab.spec.id_dtype == "int32" else pa.int64()

    def column_type_of(name: str):
        one_per_document = vocab.token_type == INT64 or vocab.spec.tokenizer == "none"
        first = (first_record or {}).get(name)
        listed = name in vocab.stats.get("list_fields", ())
        if vocab.spec.value_shape == "list" or isinstance(first, list) or listed:
            one_per_document = False
        return id_type if one_per_document else pa.list_(id_type)

    types = [column_type_of(name) for name in names]
    return names, records, types, _schema(vocab, names, types, args.ref)


def _schema(vocab: Vocabulary, names: list[str], types: list, ref: str):
    """One id column per field ("ids" for one field, else each field's name), with the
    vocabulary's ref, fingerprint and input_dim in the metadata."""
    import pyarrow as pa

    columns = ["ids"] if len(names) == 1 else names
    return pa.schema(
        [pa.field(column, t) for column, t in zip(columns, types)],
        metadata={
            "vocabguard.fingerprint": vocab.fingerprint,
            "vocabguard.ref": vocab.ref or ref,
            "vocabguard.input_dim": str(vocab.input_dim),
            "vocabguard.id_dtype": vocab.spec.id_dtype,
            # Several fields share the vocabulary: each id column records it (audit --column).
            **{
                f"vocabguard.{column}.{key}": value
                for column in (columns if len(columns) > 1 else [])
                for key, value in (
                    ("fingerprint", vocab.fingerprint),
                    ("ref", vocab.ref or ref),
                )
            },
        },
    )


def _write_ids(tmp, schema, vocab, records, names, types, stats: _EncodeStats) -> None:
    """Encode the records batch by batch into the Parquet file ``tmp``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabguard._src.core.builder import batches, progress_bar

    id_type = pa.int32() if vocab.spec.id_dtype == "int32" else pa.int64()
    with (
        pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
        progress_bar(None, None, "encoding", unit=" docs") as bar,
    ):
        for batch in batches(records, ENCODE_BATCH_SIZE):
            arrays = [
                _encode_batch(vocab, [r.get(name) for r in batch], id_type, stats, t)
                for name, t in zip(names, types)
            ]
            stats.documents -= len(batch) * (len(names) - 1)
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            bar.update(len(batch))
