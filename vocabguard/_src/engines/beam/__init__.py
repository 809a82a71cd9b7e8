"""Apache Beam transforms: many vocabularies in one pass over the data, and batch encoding.

Composable inside your own pipelines::

    with beam.Pipeline(options=options) as p:
        batches = p | ReadRecordBatches(["gs://b/corpus-*.jsonl"], fields=["text", "country"])
        refs = batches | BuildVocabularies(
            {"text": Feature("text", "news_text", VocabSpec(lowercase=True, max_tokens=100_000)),
             "country": Feature("country", "news_country", VocabSpec(tokenizer="none"))},
            store="gs://b/vocab_store",
        )

Design (why it is fast and gives the in-process builder's exact answer):

- files are read whole by one worker each (``fileio.MatchAll | Reshuffle |
  ReadMatches``), so bad records are named by file and line, and any filesystem
  Beam supports works; parallelism comes from the number of input files;
- records travel in batches (``RecordBatch``), never one element per token:
  each batch is tokenized and counted in Arrow, and a worker accumulates its
  bundle's counts in Arrow (hash ``group_by``), flushing them as one partial
  ``(token, count)`` table per (feature, shard) -- tokens are sharded by crc32;
- ``CombinePerKey`` merges the tables of each (feature, shard) in Arrow, so no
  worker merges every distinct token; each shard keeps only its best
  ``max_tokens`` candidates and the shards' summaries are merged per feature
  (exact: every token lives in exactly one shard). Without ``max_tokens`` the
  final step holds the vocabulary itself, the tokens >= min_count;
- the selected counts go through ``Vocabulary.from_counts``, the same selection
  rule as ``build_vocabulary``: same tokens, ids, counts and fingerprint, for any
  sharding, bundle size or worker count.
"""

from vocabguard._src.engines.beam.build import BuildVocabularies, Feature
from vocabguard._src.engines.beam.encode import EncodeWithVocabularies, encoded_schema
from vocabguard._src.engines.beam.read import (
    DEFAULT_BATCH_SIZE,
    NAMESPACE,
    ReadRecordBatches,
    RecordBatch,
)
from vocabguard._src.engines.formats.common import BAD_RECORD_POLICIES
from vocabguard._src.engines.formats.inputs import RECORD_EXTENSIONS as EXTENSIONS
from vocabguard._src.engines.formats.inputs import format_for

__all__ = [
    "BAD_RECORD_POLICIES",
    "DEFAULT_BATCH_SIZE",
    "EXTENSIONS",
    "NAMESPACE",
    "BuildVocabularies",
    "EncodeWithVocabularies",
    "Feature",
    "ReadRecordBatches",
    "RecordBatch",
    "encoded_schema",
    "format_for",
]
