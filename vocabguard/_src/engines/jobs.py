"""The batch jobs: build vocabularies and encode datasets with Beam, from a YAML config.

``JobConfig`` is a job config, checked; ``run_encode(config, pipeline_options=...)``
encodes its inputs on Beam (its build is ``engines/build_job.run_job``). The command
line (``vocabguard build|encode --config FILE``, ``cli/jobs.py``) gives them standard
Beam pipeline options (``--runner``, ``--direct_num_workers``, ``--project``, ...);
an unknown option is an error. The DirectRunner is the default; the same code
runs on Dataflow, Flink or Spark through those options.

A job config (see ``configs/bbc_news_job.yaml``)::

    store: vocab_store               # path or URI; default $VOCABGUARD_STORE or ./vocab_store
    inputs: [data/corpus-*.jsonl]    # paths or globs, any Beam filesystem
    format: jsonl                    # text|jsonl|csv|parquet|tfrecord; default: by extension
    bad_records: fail                # fail | skip (skipped records are counted)
    batch_size: 2048                 # records per batch (Parquet read as Arrow: at least 65536)
    shards: 8                        # token shards, each merged by one worker (exact results);
                                     #   default: 8, one more per 64 MiB of input past 512 MiB
    split_bytes: 67108864            # one large file is read by several workers, in splits
                                     #   of this size (text/jsonl/csv by bytes, parquet by
                                     #   row groups); 0 = whole files
    max_record_bytes: 67108864       # a longer line (decompressed) is a bad record
    max_bad_fraction: 0.1            # fail (publish nothing) if more records are skipped
    features:
      text: {field: text, name: news_text, spec: {lowercase: true, max_tokens: 100000}}
      country: {field: country, name: news_country, spec: {tokenizer: none}}
      # one id space over several fields, counted by a weight (docs/guides/categorical.md)
      # items: {fields: [hist, tgt], weight_field: w, spec: {tokenizer: none, missing: token}}
      # stable ids: grow a published version (parent ids kept; see `vocabguard build --parent`)
      # text: {field: text, name: news_text, parent: news_text@v2, retire: false, spec: ...}
      # allow_empty: true lets a feature publish an empty vocabulary (else an error);
      # a top-level allow_empty (default false) is every feature's default
    encode:
      output: out/news_encoded       # a directory that must not exist yet
      format: parquet                # parquet | tfrecord
      features: [text, country]      # default: all
      passthrough: {label: int64}    # fields copied as they are, with their types
      vocabularies: {text: news_text@v3}   # default: <name>@latest, pinned at start
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from vocabguard._src.core.errors import (
    ConfigError,
    InputDataError,
    OutputExistsError,
    check_keys,
    received,
)
from vocabguard._src.core.spec import VocabSpec, load_yaml
from vocabguard._src.core.store import VocabStore
from vocabguard._src.engines.features import Feature, check_skipped
from vocabguard._src.engines.formats.common import BAD_RECORD_POLICIES
from vocabguard._src.engines.runners import beam_options, check_job_server, runner_name

OUTPUT_FORMATS = ("parquet", "tfrecord")
PASSTHROUGH_TYPES = ("string", "int64", "float64", "binary")

_log = logging.getLogger(__name__)


def _unknown_keys(data: Mapping, allowed: Sequence[str], where: str) -> None:
    escaped = where.replace("{", "{{").replace("}", "}}")
    check_keys(data, list(allowed), "Unknown key '{key}' in " + escaped)


def _expect(value: Any, kind: type | tuple, key: str, where: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"`{key}` in {where} must be {what}. " + received(**{key: value}))
    return value


@dataclasses.dataclass(frozen=True)
class EncodeConfig:
    """The ``encode:`` section of a job config."""

    output: str
    format: str = "parquet"
    features: tuple[str, ...] = ()
    passthrough: Mapping[str, str] = dataclasses.field(default_factory=dict)
    vocabularies: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.format not in OUTPUT_FORMATS:
            raise ConfigError(
                f"`encode.format` must be one of {', '.join(OUTPUT_FORMATS)}. "
                + received(format=self.format)
            )
        for field, type_name in self.passthrough.items():
            if type_name not in PASSTHROUGH_TYPES:
                raise ConfigError(
                    f"`encode.passthrough.{field}` must be one of {', '.join(PASSTHROUGH_TYPES)}. "
                    + received(**{field: type_name})
                )


@dataclasses.dataclass(frozen=True)
class JobConfig:
    """A validated job config (``JobConfig.from_yaml(path)``)."""

    inputs: tuple[str, ...]
    features: Mapping[str, Any]  # key -> vocabguard.beam.Feature
    store: str
    format: str | None = None
    bad_records: str = "fail"
    batch_size: int = 2048
    shards: int | None = None  # None: follows the input's size (beam.build.default_shards)
    flush_rows: int = 1 << 20
    split_bytes: int = 64 << 20
    max_record_bytes: int = 64 << 20
    encode: EncodeConfig | None = None
    source: str = "<config>"

    def __post_init__(self) -> None:
        if self.bad_records not in BAD_RECORD_POLICIES:
            raise ConfigError(
                f"`bad_records` in {self.source} must be 'fail' or 'skip'. "
                + received(bad_records=self.bad_records)
            )
        if not self.inputs:
            raise ConfigError(f"{self.source} names no `inputs`. " + received(inputs=[]))
        if not self.features:
            raise ConfigError(f"{self.source} names no `features`. " + received(features={}))
        names = [feature.name for feature in self.features.values()]
        shared = [name for name in names if names.count(name) > 1]
        if shared:
            raise ConfigError(
                f"Two features in {self.source} have the vocabulary name {shared[0]!r}; each "
                "feature publishes its own vocabulary, so give each a distinct `name`. "
                + received(names=names)
            )
        if self.encode:
            unknown = [f for f in self.encode.features if f not in self.features]
            if unknown:
                raise ConfigError(
                    f"`encode.features` in {self.source} names {unknown[0]!r}, which is not a "
                    f"feature; features: {', '.join(self.features)}. "
                    + received(features=list(self.encode.features))
                )

    @property
    def fields(self) -> list[str]:
        fields = []
        for feature in self.features.values():
            for field in (*feature.all_fields, *filter(None, [feature.weight_field])):
                if field not in fields:
                    fields.append(field)
        if self.encode:
            fields.extend(f for f in self.encode.passthrough if f not in fields)
        return fields

    @classmethod
    def from_dict(cls, data: Mapping, *, source: str = "<config>", store: str | None = None):
        """A validated config from a mapping (a YAML file's contents); ``source`` names
        it in errors, ``store`` replaces its ``store``."""
        where = source
        _expect(data, Mapping, "config", where, "a mapping")
        _unknown_keys(data, JOB_KEYS, where)
        inputs = data.get("inputs")
        if isinstance(inputs, str):
            inputs = [inputs]
        _expect(inputs, list, "inputs", where, "a list of paths or globs")
        raw_features = _expect(data.get("features"), Mapping, "features", where, "a mapping")
        features = {
            key: _feature_from_dict(key, raw, data, f"{where} features.{key}")
            for key, raw in raw_features.items()
        }
        return cls(
            inputs=tuple(str(p) for p in inputs),
            features=features,
            store=store
            or str(data.get("store") or os.environ.get("VOCABGUARD_STORE", "./vocab_store")),
            format=data.get("format"),
            bad_records=data.get("bad_records", "fail"),
            batch_size=positive(data, "batch_size", 2048, where),
            shards=positive(data, "shards", None, where) if "shards" in data else None,
            flush_rows=positive(data, "flush_rows", 1 << 20, where),
            split_bytes=non_negative(data, "split_bytes", 64 << 20, where),
            max_record_bytes=positive(data, "max_record_bytes", 64 << 20, where),
            encode=_encode_from_dict(data.get("encode"), features, where),
            source=source,
        )

    @classmethod
    def from_yaml(cls, path: str, *, store: str | None = None) -> JobConfig:
        return cls.from_dict(load_yaml(path) or {}, source=str(path), store=store)

    def with_output(self, output: str) -> JobConfig:
        """This config with ``encode.output`` set to ``output`` (an ``encode`` section
        over every feature when it has none)."""
        if self.encode is None:
            encode = EncodeConfig(output=output, features=tuple(self.features))
        else:
            encode = dataclasses.replace(self.encode, output=output)
        return dataclasses.replace(self, encode=encode)


# The keys of a job config, of a feature and of the encode section, in the order that
# "Unknown key" errors list them.
JOB_KEYS = (
    "store",
    "inputs",
    "format",
    "bad_records",
    "batch_size",
    "shards",
    "flush_rows",
    "split_bytes",
    "max_record_bytes",
    "max_bad_fraction",
    "allow_empty",
    "features",
    "encode",
)
FEATURE_KEYS = (
    "field",
    "name",
    "spec",
    "spec_file",
    "parent",
    "retire",
    "allow_empty",
    "max_bad_fraction",
    "fields",
    "weight_field",
)
ENCODE_KEYS = ("output", "format", "features", "passthrough", "vocabularies")


def _feature_fields(raw: Mapping, section: str) -> list[str] | None:
    """A feature's ``fields`` (None without them): a non-empty list of names, not beside
    ``field``."""
    fields = raw.get("fields")
    if fields is None:
        return None
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise ConfigError(
            f"`fields` in {section} must be a list of field names that share this "
            "vocabulary, e.g. [hist, tgt]. " + received(fields=fields)
        )
    if "field" in raw:
        raise ConfigError(
            f"{section} sets both `field` and `fields`; use `fields` alone. "
            + received(field=raw["field"], fields=fields)
        )
    return fields


def _feature_spec(raw: Mapping, section: str) -> VocabSpec:
    """A feature's ``spec``, or the spec in its ``spec_file`` (at the top or under ``spec:``)."""
    if "spec_file" not in raw:
        return VocabSpec.from_dict(raw.get("spec") or {}, source=section)
    spec_data = load_yaml(raw["spec_file"]) or {}
    if isinstance(spec_data, Mapping) and isinstance(spec_data.get("spec"), Mapping):
        spec_data = spec_data["spec"]
    return VocabSpec.from_dict(spec_data, source=str(raw["spec_file"]))


def _feature_from_dict(key: str, raw: Any, data: Mapping, section: str) -> Feature:
    """One ``features.<key>`` section; ``data`` (the whole config) gives the defaults of
    ``allow_empty`` and ``max_bad_fraction``."""
    raw = _expect(raw or {}, Mapping, key, section, "a mapping")
    _unknown_keys(raw, FEATURE_KEYS, section)
    fields = _feature_fields(raw, section)
    weight_field = raw.get("weight_field")
    if weight_field is not None:
        _expect(weight_field, str, "weight_field", section, "a field name")
    spec = _feature_spec(raw, section)
    parent = raw.get("parent")
    if parent is not None:
        _expect(parent, str, "parent", section, "a reference such as news_text@v2")
    retire = _expect(raw.get("retire", False), bool, "retire", section, "true or false")
    if retire and parent is None:
        raise ConfigError(
            f"`retire` in {section} needs a `parent`: only a parent's tokens can be "
            "retired. Add parent: NAME@vN or remove retire. " + received(retire=retire)
        )
    try:
        return Feature(
            field=str(fields[0] if fields else raw.get("field", key)),
            fields=tuple(fields or ()),
            weight_field=weight_field,
            name=str(raw.get("name", key)),
            spec=spec,
            parent=parent,
            retire=retire,
            allow_empty=raw.get("allow_empty", data.get("allow_empty", False)),
            max_bad_fraction=raw.get("max_bad_fraction", data.get("max_bad_fraction", 0.1)),
        )
    except ConfigError as err:
        raise ConfigError(f"In {section}: {err}") from None


def _encode_from_dict(raw: Any, features: Mapping[str, Feature], where: str) -> EncodeConfig | None:
    """The ``encode`` section (None without one); its features default to all."""
    if raw is None:
        return None
    raw = _expect(raw, Mapping, "encode", where, "a mapping")
    _unknown_keys(raw, ENCODE_KEYS, f"{where} encode")
    if "output" not in raw:
        raise ConfigError(
            f"`encode` in {where} needs `output`, a directory that does not exist yet. "
            + received(encode=dict(raw))
        )
    return EncodeConfig(
        output=str(raw["output"]),
        format=raw.get("format", "parquet"),
        features=tuple(raw.get("features") or features),
        passthrough=dict(raw.get("passthrough") or {}),
        vocabularies=dict(raw.get("vocabularies") or {}),
    )


def non_negative(data: Mapping, key: str, default: int, where: str) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(
            f"`{key}` in {where} must be an integer >= 0. " + received(**{key: value})
        )
    return value


def positive(data: Mapping, key: str, default: int, where: str) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(
            f"`{key}` in {where} must be an integer >= 1. " + received(**{key: value})
        )
    return value


PASSTHROUGH_ARROW = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "binary": pa.binary(),
}


def run_encode(
    config: JobConfig, *, runner: str | None = None, pipeline_options: Any = None
) -> dict:
    """Encode the config's inputs with pinned vocabulary versions on a Beam runner; return
    the summary (``pipeline_options``: Beam ``PipelineOptions`` or a list of Beam flags).

    Locally the files are written beside the output and renamed into place at the end;
    a failed job leaves no half-written output behind.
    """
    import apache_beam as beam

    options = beam_options(pipeline_options, runner)
    if config.encode is None:
        raise ConfigError(
            f"{config.source} has no `encode` section; add one with at least `output`. "
            + received(config=config.source)
        )
    fs, output = _new_output(config.encode.output)
    # Pin every reference once, here: all workers then load the same versions.
    store = VocabStore(config.store)
    vocabs = {
        key: store.load(config.encode.vocabularies.get(key, f"{config.features[key].name}@latest"))
        for key in config.encode.features
    }
    local = isinstance(fs, pafs.LocalFileSystem)
    staging = f"{output}.incomplete-{uuid.uuid4().hex[:8]}" if local else output
    pipeline = beam.Pipeline(options=options)
    _encode_steps(pipeline, config, vocabs, staging, runner_name(options))
    check_job_server(options)  # Flink/Spark: Beam's job-server jar, or one line saying why not
    try:
        pipeline.run().wait_until_finish()
        summary = _read_summary(f"{staging}/summary.json")
    except BaseException:
        if local and fs.get_file_info(staging).type != pafs.FileType.NotFound:
            fs.delete_dir(staging)
        raise
    if local:
        fs.move(staging, output)
    return summary


def _new_output(path: str):
    """The filesystem and path of an encode output that must not exist yet."""
    fs, output = _filesystem(path)
    if fs.get_file_info(output).type != pafs.FileType.NotFound:
        raise OutputExistsError(
            f"Output {path} already exists; vocabguard never overwrites encoded data. "
            "Choose a new output directory or delete the old one. " + received(output=path),
            cases=[path],
        )
    return fs, output


def _encode_steps(pipeline, config: JobConfig, vocabs: Mapping, staging: str, runner: str):
    """Read -> encode and write -> one final step that checks the job's invariants and
    writes ``summary.json`` (one sink)."""
    import apache_beam as beam

    from vocabguard._src.engines.beam import EncodeWithVocabularies, ReadRecordBatches
    from vocabguard._src.engines.beam.build import field_rules, records_in
    from vocabguard._src.engines.beam.encode import WriteEncodedFiles

    encode = config.encode
    features = [config.features[key] for key in encode.features]
    # One id column per field: a feature over several fields encodes each of them.
    fields = {key: list(config.features[key].all_fields) for key in encode.features}
    passthrough = {name: PASSTHROUGH_ARROW[t] for name, t in encode.passthrough.items()}
    transform = EncodeWithVocabularies(
        config.store, vocabs, fields, passthrough, bad_records=config.bad_records
    )
    batches = pipeline | "Read" >> ReadRecordBatches(
        config.inputs,
        list(dict.fromkeys(f for names in fields.values() for f in names)),
        format=config.format,
        batch_size=config.batch_size,
        bad_records=config.bad_records,
        passthrough=list(passthrough),
        split_bytes=config.split_bytes,
        max_record_bytes=config.max_record_bytes,
        rules=field_rules(features),
    )
    written = (
        batches
        | "EncodeAndWrite"
        >> WriteEncodedFiles(transform, staging, encode.format, transform.fingerprints)
        | "TagWritten" >> beam.Map(lambda stats: ("written", stats))
    )
    read = (
        batches
        | "RecordsRead" >> beam.Map(records_in)
        | "SumRecordsRead" >> beam.CombinePerKey(sum)
    )
    summary_base = {
        "output": encode.output,
        "format": encode.format,
        "vocabularies": {
            key: {"ref": v.ref, "fingerprint": v.fingerprint, "input_dim": v.input_dim}
            for key, v in vocabs.items()
        },
    }
    _ = (
        (written, read)
        | "Join" >> beam.Flatten()
        | "Gather" >> beam.combiners.ToList()
        | "Summarize" >> beam.Map(_finish_encode, summary_base, features, staging, runner)
    )


def _finish_encode(items: list, base: dict, features: Sequence, staging: str, runner: str) -> dict:
    """Check the encode job's invariants, then write ``summary.json`` into ``staging``."""
    from apache_beam.io.filesystems import FileSystems

    records_read = sum(value for kind, value in items if kind == "read")
    stats: dict[str, int] = {}
    for kind, value in items:
        if kind == "written":
            for key, n in value.items():
                stats[key] = stats.get(key, 0) + n
    skipped = {k.split(".", 1)[1]: n for k, n in stats.items() if k.startswith("bad_records.")}
    skipped_total = sum(skipped.values())
    documents = stats.get("documents", 0)
    where = f"On {runner}, the encode job"  # "…: N of M records were skipped …"
    checks = [
        (
            stats.get("records", 0) == records_read,
            "records encoded",
            stats.get("records", 0),
            "records read",
            records_read,
        ),
        (
            documents + skipped_total == records_read,
            "documents + skipped",
            documents + skipped_total,
            "records read",
            records_read,
        ),
        (
            stats.get("rows_written", 0) == documents,
            "rows written",
            stats.get("rows_written", 0),
            "documents encoded",
            documents,
        ),
        (
            stats.get("out_of_range_ids", 0) == 0,
            "ids outside [0, input_dim)",
            stats.get("out_of_range_ids", 0),
            "expected",
            0,
        ),
    ]
    for ok, what, value, against, expected in checks:
        if not ok:
            raise ConfigError(
                f"{where} counted {what} = {value} but {against} = {expected}; the output is "
                "incomplete or wrong, so it was not committed. Rerun, or report the runner. "
                + received(runner=runner, **{what.replace(" ", "_"): value})
            )
    max_bad = min((f.max_bad_fraction for f in features), default=0.1)
    check_skipped(where, skipped, records_read, max_bad, runner)
    if records_read == 0 and not all(f.allow_empty for f in features):
        raise InputDataError(
            f"{where} read no records, so the output would be empty; nothing was committed. "
            "Check the input paths, or set allow_empty: true on the features. "
            + received(runner=runner, records_read=0)
        )
    ids = stats.get("ids", 0)
    summary = {
        **base,
        "documents": documents,
        "ids": ids,
        "oov_ids": stats.get("oov_ids", 0),
        "oov_rate": stats.get("oov_ids", 0) / ids if ids else 0.0,
        "pad_ids": stats.get("pad_ids", 0),
        "out_of_range_ids": stats.get("out_of_range_ids", 0),
        "bad_records_skipped": skipped,
        "files": stats.get("files", 0),
    }
    with FileSystems.create(f"{staging.rstrip('/')}/summary.json") as handle:
        handle.write(json.dumps(summary, indent=2, sort_keys=True).encode() + b"\n")
    return summary


def _read_summary(path: str) -> dict:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(
            "The Beam encode job finished but left no summary.json, so its output cannot be "
            "trusted (the runner may have skipped the final step); nothing was committed. "
            + received(summary=path)
        ) from err


def _filesystem(path: str):
    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), os.path.abspath(path)
