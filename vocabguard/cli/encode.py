"""``vocabguard encode``: documents to ids, written to a new Parquet file."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vocabguard._src.core.vocabulary import Vocabulary

from vocabguard.cli._common import (
    add_input_options,
    new_temp_path,
    note,
    refuse_existing,
    store_from_args,
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    encode = command(
        "encode",
        _cmd_encode,
        "encode documents to ids and write them to a new Parquet file",
        "vocabguard encode sotu@v1 --input 2024.txt --output ids.parquet",
    )
    encode.add_argument("ref", metavar="REF")
    add_input_options(encode, repeat_help="may be repeated; rows follow the input order")
    encode.add_argument(
        "--output", required=True, metavar="OUT", help="Parquet file to create (never replaced)"
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


def _encode_batch(vocab: Vocabulary, batch: list, id_type, stats: _EncodeStats):
    """The ``ids`` column of one batch of documents."""
    import pyarrow as pa

    from vocabguard._src.core.guard import guard_ids
    from vocabguard._src.core.tokenizer import text_array
    from vocabguard._src.core.vocabulary import INT64

    texts = pa.array(batch, type=pa.int64()) if vocab.token_type == INT64 else text_array(batch)
    column = vocab.encode_arrow(texts)
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabguard._src.core.builder import batches, progress_bar
    from vocabguard._src.core.vocabulary import INT64
    from vocabguard._src.engines.readers import (
        INTEGER,
        STRING,
        detect_format,
        expand_inputs,
        read_documents,
    )

    output = args.output
    if os.path.lexists(output):
        refuse_existing(output, "Output")
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    files = expand_inputs(args.input)
    for path in files:
        detect_format(path, args.format)
    store = store_from_args(args)
    vocab = store.load(args.ref)
    kind = INTEGER if vocab.token_type == INT64 else STRING
    values = read_documents(files, format=args.format, field=args.field, kind=kind)

    id_type = pa.int32() if vocab.spec.id_dtype == "int32" else pa.int64()
    one_per_document = vocab.token_type == INT64 or vocab.spec.tokenizer == "none"
    column_type = id_type if one_per_document else pa.list_(id_type)
    schema = pa.schema(
        [pa.field("ids", column_type)],
        metadata={
            "vocabguard.fingerprint": vocab.fingerprint,
            "vocabguard.ref": vocab.ref or args.ref,
            "vocabguard.input_dim": str(vocab.input_dim),
            "vocabguard.id_dtype": vocab.spec.id_dtype,
        },
    )
    stats = _EncodeStats(vocab.num_oov_buckets)
    tmp = new_temp_path(directory, os.path.basename(output))
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies
    try:
        with (
            pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
            progress_bar(None, None, "encoding", unit=" docs") as bar,
        ):
            for batch in batches(values, ENCODE_BATCH_SIZE):
                column = _encode_batch(vocab, batch, id_type, stats)
                writer.write_table(pa.Table.from_arrays([column], schema=schema))
                bar.update(len(batch))
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
