"""``vocabguard export``: a version's vocabulary for Keras StringLookup or TFT."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vocabguard._src.core.vocabulary import Vocabulary

from vocabguard._src.core.outputs import check_new_directory
from vocabguard.cli._common import (
    note,
    store_from_args,
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    export = command(
        "export",
        _cmd_export,
        "write a version's vocabulary for Keras StringLookup or TFT apply_vocabulary",
        "vocabguard export sotu@v1 --format keras --output exported/sotu",
    )
    export.add_argument("ref", metavar="REF")
    export.add_argument("--format", required=True, choices=("keras", "tft"))
    export.add_argument(
        "--output", required=True, metavar="DIR", help="new (or empty) directory to write"
    )


KERAS_VOCABULARY = "vocabulary.txt"


KERAS_CONFIG = "lookup_config.json"


TFT_VOCABULARY = "vocabulary.txt"


TFT_NOTES = "NOTES.txt"


def vocabulary_lines(vocab: Vocabulary) -> str:
    """The reserved and learned tokens (ids ``k+1`` on), one per line.

    Raises ``ArtifactError`` when a token cannot be one text line (a line break,
    invalid UTF-8, the empty token): skipping it would shift every later id.
    """
    from vocabguard._src.core.artifact import unsafe_text_line
    from vocabguard._src.core.errors import ArtifactError, received

    start = vocab.layout.reserved_start
    for offset, token in enumerate(vocab.lookup_keys):
        reason = (
            "a retired row must match no token, which no text line can express"
            if start + offset in vocab.retired
            else unsafe_text_line(token)
        )
        if reason:
            raise ArtifactError(
                f"Cannot export {vocab.ref} as a text vocabulary: id {start + offset}: {reason}. "
                "A one-token-per-line file would shift every later id. Use "
                "vocabguard.keras.string_lookup(vocab) (it passes the tokens in memory) or "
                "the version's tokens.parquet. " + received(ref=vocab.ref, id=start + offset),
                cases=[start + offset],
            )
    return "".join(
        (str(t) if isinstance(t, int) else t.decode("utf-8")) + "\n" for t in vocab.token_bytes
    )


def keras_lookup_config(vocab: Vocabulary) -> dict:
    """``lookup_config.json``: the exact Keras lookup-layer arguments for ``vocabulary.txt``."""
    from vocabguard._src.core.artifact import export_identity
    from vocabguard._src.core.vocabulary import INT64

    integer = vocab.token_type == INT64
    mask = vocab.pad_token
    if mask is None:  # an integer pad that is an id only: Keras needs a value no token holds
        from vocabguard._src.core.vocabulary import free_integer

        mask = free_integer(vocab.token_array)
    return {
        "layer": "IntegerLookup" if integer else "StringLookup",
        "kwargs": {
            "vocabulary": KERAS_VOCABULARY,
            "mask_token": mask,
            "oov_token": vocab.oov_token,
            "num_oov_indices": vocab.num_oov_buckets,
        },
        **export_identity(vocab),
        "notes": (
            f"{KERAS_VOCABULARY} is relative to this file. The layer gives vocabguard's ids for "
            "already tokenized input (apply the spec's tokenizer, normalization and lowercasing "
            "first). Size the Embedding with input_dim, not vocabulary_size: they differ when "
            "the spec sets capacity."
        ),
    }


def tft_notes(vocab: Vocabulary) -> str:
    """``NOTES.txt`` of a TFT export: which TFT arguments reproduce vocabguard's ids."""
    k = vocab.num_oov_buckets
    n = len(vocab.token_bytes)
    start = vocab.layout.reserved_start
    oov = (
        "1"
        if k == 1
        else f"1 + tf.strings.to_hash_bucket_fast(tokens, {k})"
        if vocab.token_type != "int64"
        else f"1 + tf.math.floormod(tokens, {k})"
    )
    spec = vocab.spec
    pad_line = (
        ""  # an integer pad that is an id only: no value maps to 0
        if vocab.pad_token is None
        else f"    ids = tf.where(tokens == {vocab.pad_token!r}, 0, ids)"
        "   # the pad token is not in the file\n"
    )
    return f"""TFT vocabulary export of {vocab.ref} (fingerprint {vocab.fingerprint})

{TFT_VOCABULARY}: {n} lines, one token per line: the reserved then learned tokens,
which are vocabguard ids {start}..{start + n - 1}, in id order. It is the text layout
tft.vocabulary writes and tft.apply_vocabulary reads (line i <-> TFT id i).

THE IDS ARE NOT THE SAME AS VOCABGUARD'S IF YOU USE THIS FILE DIRECTLY.
  vocabguard: id 0 = padding {vocab.pad_token!r}, ids 1..{k} = OOV, then this file from id {start}.
  TFT:        this file from id 0; OOV gets default_value (-1) with num_oov_buckets=0,
              or ids {n}..{n + k - 1} with num_oov_buckets={k}: TFT puts OOV buckets AFTER
              the vocabulary. No choice of TFT arguments moves the vocabulary up by {start}.
  So  tft.apply_vocabulary(tokens, path, num_oov_buckets={k})  gives ids that differ
  from vocabguard's for every token, and the Embedding size would differ too.

To reproduce vocabguard's ids inside a preprocessing_fn:
    idx = tft.apply_vocabulary(tokens, tf.constant(path_to_{TFT_VOCABULARY}),
                               default_value=-1, num_oov_buckets=0)
    ids = tf.where(idx >= 0, idx + {start}, {oov})
{pad_line}Simpler and exact: vocabguard.tf.encode_fn(vocab) (tokenizes too) or vocabguard.tf.lookup_fn(vocab).

Tokenize first, exactly as the spec says (TFT does not): tokenizer={spec.tokenizer!r}
pattern={spec.pattern!r} normalization={spec.normalization!r} lowercase={spec.lowercase}.
Embedding: input_dim={vocab.input_dim} (from the vocabguard artifact).
Do not regenerate this file with tft.vocabulary: TFT breaks count ties in reverse
byte order while vocabguard breaks them ascending, so the order (and ids) would change.
"""


def _write_export_dir(output: str, files: dict[str, str]) -> None:
    """Write ``files`` into ``output`` (new, or an empty directory) all at once."""
    from vocabguard._src.core.outputs import new_directory

    with new_directory(output) as staging:
        for name, text in files.items():
            with open(os.path.join(staging, name), "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)


def _cmd_export(args: argparse.Namespace) -> int:
    import json

    output = args.output
    check_new_directory(output)
    vocab = store_from_args(args).load(args.ref)
    if vocab.spec.tokenizer == "wordpiece":
        if args.format == "keras":
            from vocabguard._src.core.wordpiece_export import keras_export_files

            files = keras_export_files(vocab)
            _write_export_dir(output, files)
            note(
                f"exported {vocab.ref} for keras (WordPiece, keras_hub) -> {output}/ "
                f"({', '.join(files)}); input_dim {vocab.input_dim}"
            )
            return 0
        from vocabguard._src.core.errors import SpecError, received

        # A TFT vocabulary maps whole tokens; WordPiece's tokens are pieces of words.
        raise SpecError(
            f"{vocab.ref} is a WordPiece vocabulary: `export --format tft` writes a token "
            "lookup, which cannot split words into pieces. Use `--format keras` (keras_hub's "
            "WordPieceTokenizer), the serving SavedModel or vocabguard.tf.encode_fn(vocab), "
            "which runs FastWordpieceTokenizer. "
            + received(format=args.format, tokenizer="wordpiece"),
            key="tokenizer",
        )
    lines = vocabulary_lines(vocab)
    if args.format == "keras":
        config = json.dumps(keras_lookup_config(vocab), indent=2, ensure_ascii=False) + "\n"
        files = {KERAS_VOCABULARY: lines, KERAS_CONFIG: config}
    else:
        files = {TFT_VOCABULARY: lines, TFT_NOTES: tft_notes(vocab)}
    _write_export_dir(output, files)
    note(
        f"exported {vocab.ref} for {args.format} -> {output}/ ({', '.join(files)}); "
        f"input_dim {vocab.input_dim}"
    )
    return 0
