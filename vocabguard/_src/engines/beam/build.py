"""Counting tokens on Beam and publishing every feature's vocabulary (``BuildVocabularies``)."""

from __future__ import annotations

import dataclasses
import logging
import zlib
from collections.abc import Mapping, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.builder import TokenCounter
from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.vocabulary import INT64, STRING, Vocabulary
from vocabguard._src.engines.beam.read import (
    FLUSH_ROWS,
    SHARDS,
    BadRecords,
    RecordBatch,
    check_policy,
)
from vocabguard._src.engines.records import BadRecord

_log = logging.getLogger(__name__)


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
        self.bad = BadRecords(self.policy)
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
        check_policy(bad_records)
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
