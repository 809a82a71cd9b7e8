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

from __future__ import annotations

import dataclasses
import logging
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from vocabguard._src.core.builder import TokenCounter
from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.vocabulary import INT64, STRING, Vocabulary
from vocabguard._src.engines.readers import EXTENSIONS as READER_EXTENSIONS
from vocabguard._src.engines.records import BadRecord, iter_records

NAMESPACE = "vocabguard"
BAD_RECORD_POLICIES = ("fail", "skip")
DEFAULT_BATCH_SIZE = 2048
# Partial counts are sharded by token so that no single worker merges every
# distinct token; a bundle flushes early once its pending counts exceed FLUSH_ROWS.
SHARDS = 8
FLUSH_ROWS = 1 << 20
PROGRESS_SECONDS = 10.0
# The in-process readers' extensions, plus TFRecord (Beam jobs only).
EXTENSIONS = {**READER_EXTENSIONS, ".tfrecord": "tfrecord", ".tfrecords": "tfrecord"}

_log = logging.getLogger(__name__)


def format_for(path: str, format: str | None = None) -> str:
    """The input format: ``format`` if given, else from the extension (``.gz`` ignored)."""
    if format:
        return format
    name = path[:-3] if path.endswith(".gz") else path
    for extension, found in EXTENSIONS.items():
        if name.endswith(extension) or (".tfrecord" in extension and f"{extension}-" in name):
            return found
    raise ConfigError(
        f"Cannot tell the format of {path} from its extension; set the input format "
        f"(one of text, jsonl, csv, parquet, tfrecord). " + received(path=path)
    )


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature of a job: which field, how it is tokenized, and its vocabulary name."""

    field: str
    name: str
    spec: VocabSpec = dataclasses.field(default_factory=VocabSpec)
    # Stable ids: grow this published version (every parent token keeps its id).
    parent: str | None = None
    # With ``parent``: parent tokens now below min_count map to OOV (rows kept).
    retire: bool = False


@dataclasses.dataclass(frozen=True)
class RecordBatch:
    """Consecutive good records of one file: their numbers and one list per field."""

    path: str
    numbers: tuple[int, ...]
    columns: dict[str, list]
    # Records skipped (bad_records: skip) since the previous batch, by reason.
    skipped: tuple[tuple[str, int], ...] = ()

    def __len__(self) -> int:
        return len(self.numbers)

    def take(self, rows: Sequence[int], skipped: Mapping[str, int] | None = None) -> RecordBatch:
        merged = dict(self.skipped)
        for reason, count in (skipped or {}).items():
            merged[reason] = merged.get(reason, 0) + count
        return RecordBatch(
            self.path,
            tuple(self.numbers[i] for i in rows),
            {f: [v[i] for i in rows] for f, v in self.columns.items()},
            tuple(sorted(merged.items())),
        )


def _check_policy(bad_records: str) -> None:
    if bad_records not in BAD_RECORD_POLICIES:
        raise ConfigError(
            "`bad_records` must be 'fail' (stop, naming the file and record) or 'skip' (drop "
            "and count). " + received(bad_records=bad_records)
        )


class _BadRecords:
    """Applies the bad-record policy: raise, or count by reason (Beam metrics and batches)."""

    def __init__(self, policy: str):
        self.policy = policy
        self.pending: dict[str, int] = {}

    def handle(self, bad: BadRecord) -> None:
        if self.policy == "fail":
            raise bad.error()
        Metrics.counter(NAMESPACE, "bad_records").inc()
        Metrics.counter(NAMESPACE, f"bad_records.{bad.reason}").inc()
        self.pending[bad.reason] = self.pending.get(bad.reason, 0) + 1

    def drain(self) -> dict[str, int]:
        """The counts since the last drain (they travel with the next batch)."""
        pending, self.pending = self.pending, {}
        return pending


class _ReadFile(beam.DoFn):
    def __init__(
        self,
        format: str | None,
        fields: Sequence[str],
        batch_size: int,
        policy: str,
        passthrough: Sequence[str] = (),
    ):
        self.format = format
        self.typed = list(fields)
        self.passthrough = [f for f in passthrough if f not in fields]
        self.fields = [*self.typed, *self.passthrough]
        self.batch_size = batch_size
        self.policy = policy

    def setup(self):
        self.bad = _BadRecords(self.policy)
        self.records_read = Metrics.counter(NAMESPACE, "records_read")

    def process(self, readable: fileio.ReadableFile) -> Iterable[RecordBatch]:
        path = readable.metadata.path
        format = format_for(path, self.format)
        compression = (
            CompressionTypes.UNCOMPRESSED
            if format in ("parquet", "tfrecord")
            else CompressionTypes.AUTO
        )
        numbers: list[int] = []
        columns: dict[str, list] = {f: [] for f in self.fields}
        started = last_log = time.monotonic()
        total = 0
        with FileSystems.open(path, compression_type=compression) as handle:
            records = iter_records(handle, path, format, self.typed, passthrough=self.passthrough)
            for item in records:
                if isinstance(item, BadRecord):
                    self.bad.handle(item)
                    continue
                number, values = item
                numbers.append(number)
                for field in self.fields:
                    columns[field].append(values[field])
                if len(numbers) >= self.batch_size:
                    total += len(numbers)
                    self.records_read.inc(len(numbers))
                    yield RecordBatch(path, tuple(numbers), columns, _items(self.bad.drain()))
                    numbers, columns = [], {f: [] for f in self.fields}
                    now = time.monotonic()
                    if now - last_log >= PROGRESS_SECONDS:
                        last_log = now
                        _log.info(
                            "vocabguard: %s: %d records read (%.0f records/s)",
                            path,
                            total,
                            total / (now - started),
                        )
        skipped = self.bad.drain()
        if numbers or skipped:
            total += len(numbers)
            self.records_read.inc(len(numbers))
            yield RecordBatch(path, tuple(numbers), columns, _items(skipped))
        _log.info("vocabguard: %s: done, %d records", path, total)


def _items(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items()))


class ReadRecordBatches(beam.PTransform):
    """Files matching ``patterns`` -> ``RecordBatch`` elements holding ``fields``.

    Args:
        patterns: file patterns (any Beam filesystem: local, gs://, s3://, hdfs://).
        fields: the fields to read (for text files, ``["text"]``).
        format: text, jsonl, csv, parquet or tfrecord; ``None`` = from each extension.
        batch_size: records per batch.
        bad_records: ``fail`` or ``skip`` (skipped records are counted as Beam metrics
            ``vocabguard:bad_records`` and ``vocabguard:bad_records.<reason>``).
        passthrough: more fields to read, copied and never tokenized: any non-null value
            (e.g. a float label) is accepted.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        fields: Sequence[str],
        *,
        format: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        bad_records: str = "fail",
        passthrough: Sequence[str] = (),
    ):
        super().__init__()
        _check_policy(bad_records)
        self.patterns = [str(p) for p in patterns]
        # Several features may read one field: read (and batch) it once.
        self.fields = list(dict.fromkeys(fields))
        self.passthrough = [f for f in dict.fromkeys(passthrough) if f not in self.fields]
        self.format = format
        self.batch_size = batch_size
        self.bad_records = bad_records

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll(empty_match_treatment=fileio.EmptyMatchTreatment.DISALLOW)
            # Spread files over workers (Create puts all patterns in one bundle).
            | "SpreadFiles" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches()
            | "Parse"
            >> beam.ParDo(
                _ReadFile(
                    self.format, self.fields, self.batch_size, self.bad_records, self.passthrough
                )
            )
        )


class _CountTokens(beam.DoFn):
    """Counts the tokens of every feature in a batch; emits distinct (key, count) pairs."""

    def __init__(
        self,
        features: Sequence[Feature],
        policy: str,
        shards: int = SHARDS,
        flush_rows: int = FLUSH_ROWS,
    ):
        self.features = list(features)
        self.policy = policy
        self.shards = shards
        self.flush_rows = flush_rows

    def setup(self):
        self.bad = _BadRecords(self.policy)
        self.counters = [TokenCounter(f.spec) for f in self.features]

    def _bad_rows(self, batch: RecordBatch) -> set[int]:
        """Rows with a value of the wrong type, or a token over max_token_bytes."""
        bad: dict[int, BadRecord] = {}
        for feature in self.features:
            values = batch.columns[feature.field]
            needs_text = feature.spec.tokenizer != "none"
            for row, value in enumerate(values):
                # Mixed integers and strings under tokenizer none are not a per-record
                # fault: the vocabulary's kind is global, so _publish rejects the mix
                # (the same answer whatever the batch size).
                if needs_text and isinstance(value, int) and row not in bad:
                    bad[row] = BadRecord(
                        batch.path,
                        batch.numbers[row],
                        feature.field,
                        "wrong_type",
                        f"expected a string for tokenizer {feature.spec.tokenizer!r}, found "
                        f"the integer {value}",
                    )
            limit = feature.spec.max_token_bytes
            if limit is None or not needs_text:
                continue
            good = [r for r in range(len(values)) if r not in bad]
            lists = TokenCounter(feature.spec).tokenizer.tokenize_arrow(
                pa.array([values[r] for r in good])
            )
            too_long = pc.greater(pc.binary_length(lists.flatten()), limit)
            for parent in set(pc.list_parent_indices(lists).filter(too_long).to_pylist()):
                row = good[parent]
                bad.setdefault(
                    row,
                    BadRecord(
                        batch.path,
                        batch.numbers[row],
                        feature.field,
                        "token_too_long",
                        f"a token is longer than max_token_bytes={limit}",
                    ),
                )
        for row in sorted(bad):
            self.bad.handle(bad[row])
        return set(bad)

    def start_bundle(self):
        for counter in self.counters:
            counter.reset()
        self.stats = [{} for _ in self.features]

    def process(self, batch: RecordBatch):
        bad_rows = self._bad_rows(batch)
        batch = batch.take([r for r in range(len(batch)) if r not in bad_rows], self.bad.drain())
        for index, (feature, counter) in enumerate(zip(self.features, self.counters)):
            values = batch.columns[feature.field]
            documents, tokens = counter.documents, counter.total_tokens
            if values and all(isinstance(v, int) for v in values):
                counter.add_arrow(pa.array(values, type=pa.int64()))
            elif values and any(isinstance(v, int) for v in values):
                raise _mixed_kinds(feature)
            elif values:
                text_type = pa.string() if all(isinstance(v, str) for v in values) else pa.binary()
                counter.add_arrow(pa.array(values, type=text_type))
            stats = self.stats[index]
            for key, n in [
                ("documents", counter.documents - documents),
                ("total_tokens", counter.total_tokens - tokens),
                *((f"bad_records.{reason}", n) for reason, n in batch.skipped),
            ]:
                stats[key] = stats.get(key, 0) + n
            if counter._pending_rows > self.flush_rows:
                yield from self._flush(index, counter, windowed=False)

    def finish_bundle(self):
        for index, counter in enumerate(self.counters):
            yield from self._flush(index, counter, windowed=True)
            stats = tuple(sorted(self.stats[index].items()))
            yield _windowed(beam.pvalue.TaggedOutput("stats", (index, stats)), True)

    def _flush(self, index: int, counter: TokenCounter, windowed: bool):
        """Emit the bundle's partial counts as one Arrow table per (feature, shard)."""
        table = counter.table()
        counter.reset()
        if not len(table):
            return
        shards = _shard_of(table["token"], self.shards)
        for shard in range(self.shards):
            part = table.filter(pa.array(shards == shard))
            if len(part):
                yield _windowed(((index, shard), part), windowed)


def _windowed(value, windowed: bool):
    """finish_bundle must emit WindowedValues (global window: a batch job)."""
    if not windowed:
        return value
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.timestamp import MIN_TIMESTAMP
    from apache_beam.utils.windowed_value import WindowedValue

    if isinstance(value, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(
            value.tag, WindowedValue(value.value, MIN_TIMESTAMP, [GlobalWindow()])
        )
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


def _shard_of(tokens: pa.Array, shards: int) -> np.ndarray:
    """A shard per token, the same in every process (crc32 of bytes; ints mod shards)."""
    if pa.types.is_integer(tokens.type):
        return np.mod(tokens.to_numpy(), shards)
    return np.fromiter(
        (zlib.crc32(t) % shards for t in tokens.to_pylist()), dtype=np.int64, count=len(tokens)
    )


def _mixed_kinds(feature: Feature) -> InputDataError:
    return InputDataError(
        f"Feature {feature.field!r} holds both integer and string values; a vocabulary "
        "holds one kind. Make the field consistent (or cast it in the input). "
        + received(feature=feature.field)
    )


class _MergeCounts(beam.CombineFn):
    """Merges partial ``(token, count)`` tables of one (feature, shard) in Arrow."""

    def __init__(self, features: Sequence[Feature]):
        self.features = list(features)

    def create_accumulator(self):
        return None

    def add_input(self, acc, table):
        counter = TokenCounter(VocabSpec())
        for part in (acc, table):
            if part is not None:
                counter.add_table(part)
        try:
            return counter.table()
        except InputDataError:
            raise InputDataError(
                "A feature holds both integer and string values; a vocabulary holds one kind. "
                "Make the field consistent (or cast it in the input). "
                + received(
                    token_types=sorted(
                        {str(acc.schema.field("token").type), str(table.schema.field("token").type)}
                    )
                )
            ) from None

    def merge_accumulators(self, accumulators):
        merged = None
        for acc in accumulators:
            if acc is not None:
                merged = self.add_input(merged, acc)
        return merged

    def extract_output(self, acc):
        return acc


def _summarize_shard(item, features: Sequence[Feature], inherited: Sequence[tuple]):
    """(feature, shard) counts -> (feature, summary): distinct count and the candidates."""
    from vocabguard._src.core.builder import candidate_counts

    (index, _shard), table = item
    feature = features[index]
    token_type = INT64 if pa.types.is_integer(table.schema.field("token").type) else STRING
    counts = candidate_counts(table, feature.spec, token_type, inherited=inherited[index])
    return index, {"distinct": len(table), "kinds": (token_type,), "counts": counts}


class _MergeSummaries(beam.CombineFn):
    """Merges shard summaries of one feature, keeping the best ``max_tokens`` candidates.

    Every token lives in exactly one shard, so the global best ``max_tokens`` are
    among the shards' best ``max_tokens``: the result is exact.
    """

    def __init__(self, spec: VocabSpec, inherited: tuple = ()):
        self.spec = spec
        self.inherited = inherited  # the parent's tokens: kept whatever their count

    def create_accumulator(self):
        return {"distinct": 0, "kinds": (), "counts": {}}

    def add_input(self, acc, summary):
        counts = {**acc["counts"], **summary["counts"]}  # disjoint: tokens are sharded
        kinds = tuple(sorted(set(acc["kinds"]) | set(summary["kinds"])))
        if self.spec.max_tokens is not None and len(kinds) == 1:
            counts = _keep_best(counts, self.spec, kinds[0], self.inherited)
        return {"distinct": acc["distinct"] + summary["distinct"], "kinds": kinds, "counts": counts}

    def merge_accumulators(self, accumulators):
        out = self.create_accumulator()
        for acc in accumulators:
            out = self.add_input(out, acc)
        return out

    def extract_output(self, acc):
        return acc


def _keep_best(counts: dict, spec: VocabSpec, token_type: str, inherited: tuple = ()) -> dict:
    from vocabguard._src.core.builder import candidate_counts

    arrow_type = pa.int64() if token_type == INT64 else pa.binary()
    table = pa.table(
        {
            "token": pa.array(list(counts), type=arrow_type),
            "count": pa.array(list(counts.values()), type=pa.int64()),
        }
    )
    return candidate_counts(table, spec, token_type, inherited=inherited)


class _SumDicts(beam.CombineFn):
    """Sums dicts of counters key by key."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, value):
        for key, count in dict(value).items():
            acc[key] = acc.get(key, 0) + count
        return acc

    def merge_accumulators(self, accumulators):
        out: dict = {}
        for acc in accumulators:
            self.add_input(out, acc)
        return out

    def extract_output(self, acc):
        return dict(acc)


def _publish(
    index: int,
    feature: Feature,
    store: str,
    summary: dict,
    stats: dict,
    description: str,
    parent_ref: str | None = None,
) -> dict:
    from vocabguard._src.core.store import VocabStore
    from vocabguard._src.core.version import __version__

    kinds = summary["kinds"]
    if len(kinds) > 1:
        raise _mixed_kinds(feature)
    token_type = kinds[0] if kinds else STRING
    counts = summary["counts"]
    distinct = summary["distinct"]
    skipped = {k.split(".", 1)[1]: v for k, v in sorted(stats.items()) if k.startswith("bad_")}
    manifest_stats = {
        "documents": stats.get("documents", 0),
        "total_tokens": stats.get("total_tokens", 0),
        "distinct_tokens": distinct,
    }
    if skipped:
        manifest_stats["bad_records_skipped"] = skipped
    parent = VocabStore(store).load(parent_ref) if parent_ref else None
    vocab = Vocabulary.from_counts(
        counts,
        feature.spec,
        token_type,
        stats=manifest_stats,
        build={"vocabguard_version": __version__, "input": description, "builder": "beam"},
        parent=parent,
        retire=feature.retire,
    )
    published = VocabStore(store).publish(vocab, feature.name)
    _log.info("vocabguard: published %s (input_dim %d)", published.ref, published.input_dim)
    return {
        "feature": feature.field,
        "name": feature.name,
        "ref": published.ref,
        "fingerprint": published.fingerprint,
        "input_dim": published.input_dim,
        "newly_published": published.newly_published,
    }


class BuildVocabularies(beam.PTransform):
    """``RecordBatch`` elements -> one dict per feature: ``{feature, name, ref, fingerprint, ...}``.

    Counts every feature's tokens in one pass, selects them with the in-process
    rule, and publishes each vocabulary to ``store`` (a path or URI).

    Args:
        features: feature key -> ``Feature``.
        store: the store root, reachable from the workers.
        bad_records: ``fail`` or ``skip`` for values of the wrong type and tokens over
            ``max_token_bytes``.
        input_description: recorded in each manifest's build info.
        shards: partial counts are split into this many token shards; each shard's
            counts are merged by one worker, so a worker holds about 1/shards of the
            distinct tokens. Raise it for very large vocabularies.
        flush_rows: a worker flushes its bundle's counts once they exceed this many
            distinct tokens, bounding its memory. Lower it to bound memory further.
            Both knobs trade memory for shuffle volume; the result stays exact.
    """

    def __init__(
        self,
        features: Mapping[str, Feature],
        store: str,
        *,
        bad_records: str = "fail",
        input_description: str | None = None,
        shards: int = SHARDS,
        flush_rows: int = FLUSH_ROWS,
    ):
        super().__init__()
        _check_policy(bad_records)
        for key, value in (("shards", shards), ("flush_rows", flush_rows)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"`{key}` must be an integer >= 1. " + received(**{key: value}))
        self.shards = shards
        self.flush_rows = flush_rows
        self.keys = list(features)
        self.features = list(features.values())
        names = [f.name for f in self.features]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(
                    f"Two features publish the vocabulary name {name!r}; each feature needs "
                    "its own name. " + received(names=names)
                )
        self.store = str(store)
        self.bad_records = bad_records
        self.description = input_description
        # Parents are resolved once, at construction: `news@latest` names one exact
        # version for the whole job, and a missing parent fails before any work.
        self.parent_refs: list[str | None] = []
        self.inherited: list[tuple] = []
        for feature in self.features:
            if feature.parent is None:
                self.parent_refs.append(None)
                self.inherited.append(())
                continue
            from vocabguard._src.core.store import VocabStore

            parent = VocabStore(self.store).load(feature.parent)
            self.parent_refs.append(parent.ref)
            self.inherited.append(tuple(parent.token_bytes))

    def expand(self, batches):
        features = self.features
        counted = batches | "CountTokens" >> beam.ParDo(
            _CountTokens(features, self.bad_records, self.shards, self.flush_rows)
        ).with_outputs("stats", main="counts")
        summaries = (
            counted.counts
            | "MergeShards" >> beam.CombinePerKey(_MergeCounts(features))
            | "SummarizeShards" >> beam.Map(_summarize_shard, features, self.inherited)
        )
        by_feature = summaries | "ByFeature" >> beam.Partition(lambda kv, n: kv[0], len(features))
        stats = counted.stats | "SumStats" >> beam.CombinePerKey(_SumDicts())
        stats_parts = stats | "StatsByFeature" >> beam.Partition(lambda kv, n: kv[0], len(features))
        results = []
        for index, (key, feature) in enumerate(zip(self.keys, features)):
            # Labels are keyed by feature, not field: several features may read one field.
            label = f"[{key}]"
            summary = (
                by_feature[index]
                | f"Summaries{label}" >> beam.Values()
                | f"Merge{label}"
                >> beam.CombineGlobally(_MergeSummaries(feature.spec, self.inherited[index]))
            )
            feature_stats = (
                stats_parts[index]
                | f"StatsValues{label}" >> beam.Values()
                | f"StatsTotal{label}" >> beam.CombineGlobally(_SumDicts())
            )
            published = (
                batches.pipeline
                | f"Start{label}" >> beam.Create([index])
                | f"Publish{label}"
                >> beam.Map(
                    _publish,
                    feature,
                    self.store,
                    summary=beam.pvalue.AsSingleton(summary),
                    stats=beam.pvalue.AsSingleton(feature_stats),
                    description=self.description,
                    parent_ref=self.parent_refs[index],
                )
            )
            results.append(published)
        return results | "Published" >> beam.Flatten()


# -- encoding --


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
        self.bad = _BadRecords(self.policy)
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


def _table_to_examples(table: pa.Table, fingerprints: Mapping[str, str]) -> Iterable[bytes]:
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
        _check_policy(bad_records)
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


__all__ = [
    "BuildVocabularies",
    "EncodeWithVocabularies",
    "Feature",
    "ReadRecordBatches",
    "RecordBatch",
    "encoded_schema",
    "format_for",
]
