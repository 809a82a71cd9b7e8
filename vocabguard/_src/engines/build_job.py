"""The build use case: inputs -> counts -> checks -> vocabularies -> publish.

One call for every way a vocabulary is built; the command line, the ``pipelines/``
scripts and Python code all come here:

- ``build(BuildOptions(...))``: one vocabulary from local files. Without a runner it is
  counted in this process (``vocabguard build --name ... --input ...``); with a runner
  (``inprocess`` or a Beam runner) it runs as a one-feature job through ``run_job``.
- ``run_job(config, runner=..., pipeline_options=...)``: every feature of a job config
  (``vocabguard build --config job.yaml``), in one pass: in this process without Beam
  (``runner="inprocess"``, ``engines/inprocess.py``) or as a Beam pipeline on any
  runner (``engines/beam/build.py``).

Each path checks before it publishes: the records skipped stay under
``max_bad_fraction`` (``features.check_skipped``) and the inputs are not empty
(``features.check_not_empty`` here; the jobs' own checks for each feature), then all
vocabularies of a job are published together. Nothing here parses argv or prints: the
result says what was published, and the caller reports it.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "a.txt").write_text("to be or not to be\\n")
>>> result = build(BuildOptions(name="hamlet", inputs=(str(root / "a.txt"),),
...                             store=str(root / "store")))
>>> result.refs, result.vocabulary.input_dim
(['hamlet@v1'], 6)
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from vocabguard._src.core.builder import build_vocabulary
from vocabguard._src.core.errors import ConfigError, SpecError, received
from vocabguard._src.core.spec import VocabSpec, load_yaml
from vocabguard._src.core.store import DEFAULT_STORE, VocabStore, validate_name
from vocabguard._src.core.vocabulary import Vocabulary
from vocabguard._src.engines import inprocess
from vocabguard._src.engines.features import Feature, check_not_empty, check_skipped
from vocabguard._src.engines.formats.inputs import detect_format, expand_inputs
from vocabguard._src.engines.formats.read import read_documents, read_records
from vocabguard._src.engines.jobs import JobConfig, positive
from vocabguard._src.engines.runners import beam_options, check_job_server, runner_name

STORE_ENV = "VOCABGUARD_STORE"


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """One vocabulary from local files: the parameters of ``vocabguard build``.

    ``spec`` is a ``VocabSpec``, a YAML file (the whole file or its ``spec:`` section),
    or None (the parent's spec with ``parent``, else the defaults); ``spec_overrides``
    (VocabSpec fields) replace its values. ``runner``: None counts in this process;
    ``inprocess`` or a Beam runner name runs the build as a one-feature job, with
    ``pipeline_options`` (Beam's ``PipelineOptions``, for Beam runners).
    """

    name: str
    inputs: tuple[str, ...]
    spec: VocabSpec | str | os.PathLike | None = None
    spec_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    store: str | None = None  # None: $VOCABGUARD_STORE, else ./vocab_store
    format: str | None = None
    fields: tuple[str, ...] = ()
    weight_field: str | None = None
    parent: str | None = None
    retire: bool = False
    bad_records: str = "fail"
    max_record_bytes: int = 64 << 20
    allow_empty: bool = False
    max_bad_fraction: float = 0.1
    # The reserved tokens were typed as text (a command line): with integer data and
    # ``tokenizer: none`` they are read as integers.
    reserved_tokens_as_text: bool = False
    runner: str | None = None
    pipeline_options: Any = None


@dataclasses.dataclass(frozen=True)
class PublishedFeature:
    """What one feature of a build published (``newly_published`` False: an identical
    version already existed, nothing was written)."""

    feature: str
    name: str
    ref: str
    fingerprint: str
    input_dim: int
    newly_published: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """A finished build: one ``PublishedFeature`` per feature, in the config's order.

    The single in-process build also carries the published ``vocabulary`` and its
    ``parent`` (for a summary of its statistics).
    """

    published: tuple[PublishedFeature, ...]
    store: str
    runner: str | None = None
    vocabulary: Vocabulary | None = None
    parent: Vocabulary | None = None

    @property
    def refs(self) -> list[str]:
        return [item.ref for item in self.published]


def store_root(store: str | os.PathLike | None) -> str:
    """The store root: ``store``, else ``$VOCABGUARD_STORE``, else ``./vocab_store``."""
    return os.fspath(store) if store else os.environ.get(STORE_ENV) or DEFAULT_STORE


def load_config_spec(path: str | os.PathLike) -> VocabSpec:
    """The ``VocabSpec`` of a YAML config: the whole file, or its top-level ``spec:`` section.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "news.yaml"
    >>> _ = path.write_text("spec:\\n  lowercase: true\\n  max_tokens: 100\\n")
    >>> spec = load_config_spec(path)
    >>> spec.lowercase, spec.max_tokens
    (True, 100)
    """
    data = load_yaml(path)
    if isinstance(data, Mapping) and "spec" in data:
        return VocabSpec.from_yaml(path, key="spec")
    return VocabSpec.from_yaml(path)


def resolve_spec(
    spec: VocabSpec | str | os.PathLike | None,
    overrides: Mapping[str, Any],
    parent: Vocabulary | None = None,
) -> VocabSpec:
    """``spec`` (else the parent's) with ``overrides`` in place.

    >>> resolve_spec(None, {"lowercase": True}).lowercase
    True
    >>> resolve_spec(VocabSpec(tokenizer="regex", pattern="-"), {"tokenizer": "none"}).pattern
    """
    overrides = dict(overrides)
    if "reserved_tokens" in overrides:
        overrides["reserved_tokens"] = list(overrides["reserved_tokens"])
    if spec is None and parent is None:
        return VocabSpec.from_dict(overrides, source="command-line flags")
    if spec is None:
        base = parent.spec
    elif isinstance(spec, VocabSpec):
        base = spec
    else:
        base = load_config_spec(spec)
    # A tokenizer other than regex replaces the base's regex tokenizer and its pattern.
    if overrides.get("tokenizer", "regex") != "regex" and "pattern" not in overrides:
        overrides["pattern"] = None
    return base.replace(**overrides) if overrides else base


def peek(values: Iterable) -> tuple[Any, Iterator]:
    """The first value (or ``None``) and an iterator that still yields it.

    >>> first, rest = peek([1, 2])
    >>> first, list(rest)
    (1, [1, 2])
    """
    iterator = iter(values)
    for first in iterator:
        return first, itertools.chain([first], iterator)
    return None, iterator


def match_token_kinds(spec: VocabSpec, first: Any, reserved_as_text: bool) -> VocabSpec:
    """Make the spec's special tokens the kind of the data (integers or strings).

    Reserved tokens typed as text (``reserved_as_text``) are read as integers when the
    data are integers; any other mismatch is a ``SpecError``.
    """
    if first is None:
        return spec
    integer = isinstance(first, int) and not isinstance(first, bool)
    reserved = list(spec.reserved_tokens)
    if integer and reserved_as_text and reserved and all(isinstance(t, str) for t in reserved):
        try:
            numbers = [int(t) for t in reserved]
        except ValueError:
            numbers = None  # not all integers: reported below
        if numbers is not None:
            spec = spec.replace(reserved_tokens=numbers)
    kind = int if integer else str
    for key in ("reserved_tokens", "pad_token", "oov_token"):
        value = getattr(spec, key)
        values = list(value) if key == "reserved_tokens" else [] if value is None else [value]
        wrong = [v for v in values if not isinstance(v, kind) or isinstance(v, bool)]
        if wrong:
            what = "integers" if integer else "strings"
            raise SpecError(
                f"The input documents are {what}, but `{key}` holds {wrong[0]!r}, which is "
                f"not one of them: special tokens must be the same kind as the data. Use "
                f"{what} for {key}. " + received(**{key: value}),
                key=key,
            )
    return spec


def _first_value(record: Any, fields: Sequence[str]) -> Any:
    """The first token value of a record (for ``match_token_kinds``), or ``None``."""
    for field in fields:
        value = (record or {}).get(field)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                return item
    return None


def _input_description(patterns: Sequence[str], files: Sequence[str]) -> str:
    if len(files) <= 20:
        return ", ".join(files)
    return f"{', '.join(patterns)} ({len(files)} files)"


def _check_options(options: BuildOptions) -> None:
    validate_name(options.name)
    if options.retire and not options.parent:
        raise ConfigError(
            "--retire needs --parent: only a parent's tokens can be retired. Add --parent "
            "NAME@vN, or drop --retire. " + received(retire=True, parent=None)
        )
    fraction = options.max_bad_fraction
    if isinstance(fraction, bool) or not 0 <= fraction <= 1:
        raise ConfigError(
            "--max-bad-fraction must be a number from 0 to 1. "
            + received(max_bad_fraction=fraction)
        )


def build(options: BuildOptions) -> BuildResult:
    """Build one vocabulary from ``options.inputs`` and publish it as the next version of
    ``options.name``; in this process, or as a one-feature job on ``options.runner``."""
    _check_options(options)
    store = VocabStore(store_root(options.store))
    parent = store.load(options.parent) if options.parent else None
    spec = resolve_spec(options.spec, options.spec_overrides, parent)
    if options.runner:
        config = _one_feature_job(options, str(store.root), spec)
        return run_job(config, runner=options.runner, pipeline_options=options.pipeline_options)
    files = expand_inputs(list(options.inputs))
    formats = [detect_format(path, options.format) for path in files]
    fields = list(options.fields)
    if options.weight_field and not fields:
        raise ConfigError(
            "--weight-field needs --field: name the field(s) whose tokens it weighs. "
            + received(weight_field=options.weight_field, field=None)
        )
    description = _input_description(list(options.inputs), files)
    skipped: dict[str, int] = {}
    values, first, record_fields = _read_values(options, files, formats, spec, skipped)
    spec = match_token_kinds(spec, first, options.reserved_tokens_as_text)
    vocab = build_vocabulary(
        values,
        spec,
        progress=None,
        input_description=description,
        parent=parent,
        retire=options.retire,
        fields=record_fields,
        weight_field=options.weight_field,
    )
    if skipped:
        vocab.stats["bad_records_skipped"] = dict(sorted(skipped.items()))
    read = sum(skipped.values()) + int(vocab.stats.get("documents", 0))
    check_skipped(None, skipped, read, options.max_bad_fraction, None, description=description)
    documents, tokens = vocab.stats.get("documents", 0), vocab.stats.get("total_tokens", 0)
    check_not_empty(None, documents, tokens, options.allow_empty, None, description=description)
    published = store.publish(vocab, options.name)
    item = PublishedFeature(
        feature=options.name,
        name=options.name,
        ref=published.ref,
        fingerprint=published.fingerprint,
        input_dim=published.input_dim,
        newly_published=bool(published.newly_published),
    )
    return BuildResult((item,), str(store.root), vocabulary=published, parent=parent)


def _read_values(
    options: BuildOptions,
    files: Sequence[str],
    formats: Sequence[str],
    spec: VocabSpec,
    skipped: dict[str, int],
) -> tuple[Iterable, Any, list[str] | None]:
    """The values to count, the first token (for its kind) and the record fields (None
    for plain text documents); records skipped are counted into ``skipped``."""
    fields = list(options.fields)
    if all(f == "text" for f in formats) and not fields:
        documents = read_documents(
            files, format=options.format, max_record_bytes=options.max_record_bytes
        )
        # The documents themselves (not a peeked iterator): build_vocabulary counts their
        # Arrow blocks. The first value comes from a second reader (one block read twice).
        first, _ = peek(
            read_documents(files, format=options.format, max_record_bytes=options.max_record_bytes)
        )
        return documents, first, None
    records = read_records(
        files,
        format=options.format,
        fields=fields,
        weight_field=options.weight_field,
        missing=spec.missing,
        value_shape=spec.value_shape,
        bad_records=options.bad_records,
        skipped=skipped,
        max_record_bytes=options.max_record_bytes,
    )
    head, values = peek(records)
    record_fields = fields or ([next(iter(head))] if head else ["value"])
    return values, _first_value(head, record_fields), record_fields


def _one_feature_job(options: BuildOptions, store: str, spec: VocabSpec) -> JobConfig:
    """The job of a single build on a runner: one feature named like the vocabulary."""
    source = "vocabguard build flags"
    fields = tuple(options.fields)
    try:
        feature = Feature(
            field=fields[0] if fields else "text",
            fields=fields if len(fields) > 1 else (),
            weight_field=options.weight_field,
            name=options.name,
            spec=spec,
            parent=options.parent,
            retire=options.retire,
            allow_empty=options.allow_empty,
            max_bad_fraction=options.max_bad_fraction,
        )
    except ConfigError as err:
        raise ConfigError(f"In {source} features.{options.name}: {err}") from None
    return JobConfig(
        inputs=tuple(options.inputs),
        features={options.name: feature},
        store=store,
        format=options.format,
        bad_records=options.bad_records or "fail",
        max_record_bytes=positive(
            {"max_record_bytes": options.max_record_bytes}, "max_record_bytes", 64 << 20, source
        ),
        source=source,
    )


def run_job(
    config: JobConfig, *, runner: str | None = None, pipeline_options: Any = None
) -> BuildResult:
    """Build and publish every feature of ``config`` in one pass, all or nothing.

    ``runner``: ``inprocess`` (this process, no Beam; ``pipeline_options`` must be
    empty), or a Beam runner (default: the DirectRunner, or the runner of
    ``pipeline_options``, a Beam ``PipelineOptions`` or a list of Beam flags).
    """
    if inprocess.is_inprocess(runner):
        if pipeline_options:
            extra = list(pipeline_options) if not hasattr(pipeline_options, "view_as") else []
            raise ConfigError(
                "The in-process runner takes no Beam pipeline options; drop them or pick a "
                "Beam runner. " + received(options=extra)
            )
        results = inprocess.run_build(config, description=describe_inputs(config))
        name = "inprocess"
    else:
        options = beam_options(pipeline_options, runner)
        results = _run_on_beam(config, options)
        name = runner_name(options)
    published = tuple(
        PublishedFeature(
            feature=r["feature"],
            name=r.get("name") or config.features[r["feature"]].name,
            ref=r["ref"],
            fingerprint=r["fingerprint"],
            input_dim=r["input_dim"],
            newly_published=bool(r.get("newly_published", True)),
        )
        for r in results
    )
    return BuildResult(published, config.store, runner=name)


def describe_inputs(config: JobConfig) -> str:
    return ", ".join(config.inputs)


def _run_on_beam(config: JobConfig, options) -> list[dict]:
    """The job as a Beam pipeline: read -> count -> check -> select -> publish."""
    import apache_beam as beam

    from vocabguard._src.engines.beam import BuildVocabularies, ReadRecordBatches
    from vocabguard._src.engines.beam.build import default_shards, field_rules, input_bytes

    # Shards follow the input's size, so each shard (merged by one worker) stays bounded.
    shards = config.shards or default_shards(input_bytes(config.inputs))
    features = list(config.features.values())
    read_fields = list(
        dict.fromkeys(
            f for feature in features for f in (*feature.all_fields, feature.weight_field) if f
        )
    )
    results_dir, cleanup = _results_dir(options)
    results_path = f"{results_dir.rstrip('/')}/vocabguard-build-{uuid.uuid4().hex}.json"
    check_job_server(options)  # Flink/Spark: Beam's job-server jar, or one line saying why not
    try:
        build = BuildVocabularies(
            config.features,
            config.store,
            bad_records=config.bad_records,
            input_description=describe_inputs(config),
            shards=shards,
            results_path=results_path,
        )
        try:
            with beam.Pipeline(options=options) as pipeline:
                _ = (
                    pipeline
                    | "Read"
                    >> ReadRecordBatches(
                        config.inputs,
                        read_fields,
                        format=config.format,
                        batch_size=config.batch_size,
                        bad_records=config.bad_records,
                        split_bytes=config.split_bytes,
                        max_record_bytes=config.max_record_bytes,
                        rules=field_rules(features),
                    )
                    | "Build" >> build
                )
        except BaseException:
            # What the features staged before the job failed (the publish step cleans
            # up after itself): never visible, and not left behind either.
            with contextlib.suppress(Exception):
                build.discard_staged()
            raise
        return _read_results(results_path, config)
    finally:
        cleanup()


def _results_dir(options) -> tuple[str, Any]:
    """Where the publish step leaves its results for this process to read.

    ``--temp_location`` when given (required on Dataflow, where workers cannot write
    to this machine), else a local temporary directory (local and loopback clusters).
    """
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    temp = options.view_as(GoogleCloudOptions).temp_location
    if temp:
        return temp, lambda: None
    local = tempfile.mkdtemp(prefix="vocabguard-job-")
    return local, lambda: shutil.rmtree(local, ignore_errors=True)


def _read_results(path: str, config: JobConfig) -> list[dict]:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as handle:
            results = json.loads(handle.read().decode("utf-8"))
        FileSystems.delete([path])
    except (OSError, ValueError) as err:  # Beam wraps IO errors in BeamIOError (an OSError)
        raise ConfigError(
            "The Beam job finished but its publish step left no results, so what it "
            "published is unknown (the runner may have skipped the final step). Check the "
            "store with `vocabguard list`. "
            + received(results=path, features=list(config.features))
        ) from err
    keys = ("feature", "ref", "fingerprint", "input_dim", "newly_published")
    by_key = {r["feature"]: {k: r[k] for k in keys} for r in results}
    missing = [k for k in config.features if k not in by_key]
    if missing:
        raise ConfigError(
            "The Beam job's publish step reported no result for feature(s) "
            f"{', '.join(missing)}. " + received(results=results)
        )
    return [by_key[k] for k in config.features]
