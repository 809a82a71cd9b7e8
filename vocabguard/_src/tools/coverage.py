"""How vocabularies cover sample documents: tokens, OOV and pad occurrences.

One reading loop (``iter_sample_tokens``) serves ``vocabguard diff --data`` and
``vocabguard report --data``: each vocabulary tokenizes the documents with its
own spec, as ``vocab.encode`` does, and the documents are read once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.builder import batches, progress_bar
from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.tokenizer import Tokenizer, text_array
from vocabguard._src.core.values import record_tokens
from vocabguard._src.core.vocabulary import INT64
from vocabguard._src.engines.formats.fields import INTEGER, STRING
from vocabguard._src.engines.formats.inputs import expand_inputs
from vocabguard._src.engines.formats.read import read_documents, read_records

# The spec fields that decide how text becomes tokens.
TOKENIZATION_FIELDS = ("tokenizer", "pattern", "lowercase", "normalization")
SAMPLE_BATCH_SIZE = 8192


def iter_sample_tokens(
    vocabs: Sequence[Any],
    files: Sequence[str],
    *,
    format: str | None = None,
    field: str | None = None,
    progress: bool | None = False,
    batch_size: int = SAMPLE_BATCH_SIZE,
) -> Iterator[tuple[int, list[Any]]]:
    """Per batch of documents: ``(documents, [flat tokens of each vocabulary])``.

    The vocabularies must hold one token type (string or integer). Vocabularies
    with the same tokenization share one tokenized array.
    """
    integer = vocabs[0].token_type == INT64
    kind = INTEGER if integer else STRING
    # Categorical vocabularies (missing values accepted, lists seen): read records,
    # where values may be null or lists; each vocabulary's own spec applies.
    categorical = any(
        v.spec.missing != "error" or v.spec.value_shape != "any" or v.stats.get("list_fields")
        for v in vocabs
    )
    if categorical:
        records = read_records(
            files, format=format, fields=[field] if field else None, kind=kind, missing="skip"
        )
        values = (next(iter(record.values())) for record in records)
    else:
        values = read_documents(files, format=format, field=field, kind=kind)
    # WordPiece's tokens are its pieces, which depend on the vocabulary itself.
    keys = [
        (_tokenization(v), v.fingerprint) if v.spec.tokenizer == "wordpiece" else _tokenization(v)
        for v in vocabs
    ]
    pieces = {key: v for key, v in zip(keys, vocabs) if v.spec.tokenizer == "wordpiece"}
    tokenizers = {key: Tokenizer(v.spec) for key, v in zip(keys, vocabs)}
    specs = {key: v.spec for key, v in zip(keys, vocabs)}
    with progress_bar(None, progress, "reading the sample", unit=" docs") as bar:
        for batch in batches(values, batch_size):
            flats = {}
            for key, tokenizer in tokenizers.items():
                if categorical:
                    # Missing values are not tokens: the sample's tokens are the rest.
                    lenient = specs[key].replace(missing="skip", value_shape="any")
                    flat = record_tokens(batch, lenient, Tokenizer(lenient)).flat
                    flats[key] = flat.drop_null()
                elif integer:
                    flats[key] = pa.array(batch, type=pa.int64())
                elif key in pieces:
                    # The pieces of each text (a word that cannot be split: the OOV token).
                    vocab = pieces[key]
                    ids = vocab.encode_arrow(text_array(batch)).flatten()
                    head = [str(vocab.pad_token).encode()] + [
                        str(vocab.oov_token).encode()
                    ] * vocab.num_oov_buckets
                    table = pa.array(head + vocab.token_bytes, type=pa.binary())
                    flats[key] = table.take(ids.cast(pa.int64()))
                else:
                    flats[key] = tokenizer.tokenize_arrow(text_array(batch)).flatten()
            yield len(batch), [flats[key] for key in keys]
            bar.update(len(batch))


@dataclasses.dataclass
class SampleCoverage:
    """How one vocabulary covers the sample documents.

    ``tokens`` counts every token occurrence (as ``vocab.encode`` yields them,
    before ``sequence_length``); ``pad`` those that are the pad token itself.
    Rates are over the non-pad occurrences; ``distinct*`` count distinct tokens.
    """

    tokens: int
    pad: int
    oov: int
    distinct: int
    distinct_oov: int

    @property
    def known(self) -> int:
        """Occurrences with a reserved or learned id."""
        return self.tokens - self.pad - self.oov

    @property
    def oov_rate(self) -> float:
        """OOV occurrences / non-pad occurrences."""
        non_pad = self.tokens - self.pad
        return self.oov / non_pad if non_pad else 0.0

    @property
    def coverage(self) -> float:
        """Occurrences with a reserved or learned id / non-pad occurrences."""
        non_pad = self.tokens - self.pad
        return self.known / non_pad if non_pad else 0.0

    @property
    def distinct_coverage(self) -> float:
        """Distinct tokens with an id / distinct (non-pad) tokens."""
        return (self.distinct - self.distinct_oov) / self.distinct if self.distinct else 0.0

    def to_dict(self) -> dict:
        return {
            "tokens": self.tokens,
            "pad_tokens": self.pad,
            "oov_tokens": self.oov,
            "known_tokens": self.known,
            "oov_rate": self.oov_rate,
            "coverage": self.coverage,
            "distinct_tokens": self.distinct,
            "distinct_oov_tokens": self.distinct_oov,
            "distinct_coverage": self.distinct_coverage,
        }


@dataclasses.dataclass
class Sample:
    """The sample documents and how A and B cover them."""

    files: list[str]
    documents: int
    old: SampleCoverage
    new: SampleCoverage

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "documents": self.documents,
            "a": self.old.to_dict(),
            "b": self.new.to_dict(),
        }


class _Tally:
    """Occurrence counts of one vocabulary over the sample, batch by batch."""

    def __init__(self, vocab: Any):
        self.vocab = vocab
        self.tokens = self.pad = self.oov = 0

    def add(self, flat: Any) -> None:
        ids = np.asarray(self.vocab.lookup(flat))
        oov = self.vocab.oov_ids
        self.tokens += int(ids.size)
        self.pad += int((ids == self.vocab.pad_id).sum())
        self.oov += int(((ids >= oov.start) & (ids < oov.stop)).sum())

    def coverage(self, distinct: Any) -> SampleCoverage:
        ids = np.asarray(self.vocab.lookup(distinct))
        oov = self.vocab.oov_ids
        is_pad = ids == self.vocab.pad_id
        return SampleCoverage(
            tokens=self.tokens,
            pad=self.pad,
            oov=self.oov,
            distinct=int((~is_pad).sum()),
            distinct_oov=int(((ids >= oov.start) & (ids < oov.stop)).sum()),
        )


def _tokenization(vocab: Any) -> tuple:
    return (vocab.token_type, *(getattr(vocab.spec, f) for f in TOKENIZATION_FIELDS))


def sample_coverage(
    old: Any,
    new: Any,
    data: str | Sequence[str],
    *,
    format: str | None = None,
    field: str | None = None,
    progress: bool | None = None,
) -> Sample:
    """Coverage and OOV rate of ``old`` and ``new`` on sample documents, read once.

    Each vocabulary tokenizes the documents with its own spec (as
    ``vocab.encode`` does), so a tokenization change shows in the numbers.
    """
    if old.token_type != new.token_type:
        raise ConfigError(
            f"A ({old.ref or 'the old vocabulary'}) holds {old.token_type} tokens and B "
            f"({new.ref or 'the new vocabulary'}) holds {new.token_type} tokens, so no sample "
            "can be read for both. Diff without --data, or measure each one with "
            "`vocabguard report REF --data ...`. "
            + received(a_token_type=old.token_type, b_token_type=new.token_type),
        )
    files = expand_inputs([data] if isinstance(data, str) else data)
    tallies = [_Tally(old), _Tally(new)]
    keys = [_tokenization(old), _tokenization(new)]
    distinct: dict[tuple, set] = {key: set() for key in keys}
    documents = 0
    sample = iter_sample_tokens([old, new], files, format=format, field=field, progress=progress)
    for count, flats in sample:
        documents += count
        for index, (key, flat, tally) in enumerate(zip(keys, flats, tallies)):
            if index == 0 or key != keys[0]:  # a shared tokenization is counted once
                distinct[key].update(pc.unique(flat).to_pylist())
            tally.add(flat)
    arrow_type = pa.int64() if old.token_type == INT64 else pa.binary()
    old_cov, new_cov = (
        tally.coverage(pa.array(sorted(distinct[key]), type=arrow_type))
        for key, tally in zip(keys, tallies)
    )
    return Sample(files=files, documents=documents, old=old_cov, new=new_cov)
