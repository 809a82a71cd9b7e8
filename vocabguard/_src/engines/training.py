"""Config-driven text classification: vocabulary, ``tf.data``, Keras model, serving export.

``vocabguard train --config FILE`` (or ``python pipelines/train.py --config FILE``)
resolves a vocabulary from a store (building and publishing it from the train
split when the reference does not exist yet), encodes the data inside
``tf.data`` with ``vocabguard.tf.encode_fn``, trains a small Keras model whose
``Embedding`` takes ``input_dim`` from the artifact, evaluates it on the held-out
split and writes ``metrics.json``, ``model.keras`` and a ``serving/`` SavedModel
into a new output directory. A config never sets ``input_dim``.

A config (see ``configs/bbc_news.yaml``)::

    data:
      train: data/bbc_news/train.jsonl   # or `path` + `test_fraction` (+ `split_seed`)
      test: data/bbc_news/test.jsonl
      format: jsonl                      # jsonl | csv | parquet; default by extension
      text_field: text
      label_field: topic
    vocabulary:
      store: vocab_store
      ref: bbc_news_train@latest         # built from the train split if missing
      spec: configs/bbc_news_vocab.yaml  # or an inline mapping of VocabSpec fields
    model: {embedding_dim: 64, hidden_units: 64, dropout: 0.3}
    training: {epochs: 8, batch_size: 32, learning_rate: 0.003, seed: 0}
    output: out/bbc_news_model           # must not exist (or be empty)

Relative paths (data files, spec file, store, output) resolve against the
current directory, as everywhere else in vocabguard; run from the repository root.

>>> TrainingConfig(epochs=3).batch_size
32
>>> TrainingConfig(epochs="3")
Traceback (most recent call last):
...
vocabguard.errors.ConfigError: `training.epochs` in <config> must be an integer >= 1. Received: epochs='3'
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from vocabguard._src.core.builder import build_vocabulary, progress_bar
from vocabguard._src.core.errors import (
    ConfigError,
    InputDataError,
    InvalidNameError,
    OutputExistsError,
    VersionNotFoundError,
    check_keys,
    received,
)
from vocabguard._src.core.spec import VocabSpec, load_yaml
from vocabguard._src.core.store import Ref, VocabStore
from vocabguard._src.engines.formats.read import read_documents

DATA_FORMATS = ("jsonl", "csv", "parquet")
ARCHITECTURES = ("bag_of_embeddings",)
DATA_FIX = (
    "If it is the BBC News corpus, fetch it with `make data` (python scripts/fetch_data.py "
    "--corpus bbc); otherwise fix the path"
)
METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"
SERVING_DIR = "serving"


_log = logging.getLogger(__name__)


# -- validation helpers --


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad(section: str, key: str, value: Any, what: str, source: str) -> ConfigError:
    return ConfigError(
        f"`{section}.{key}` in {source} must be {what}. " + received(**{key: value}),
        key=f"{section}.{key}",
    )


def _int(section: str, key: str, value: Any, source: str, minimum: int = 1) -> None:
    if not _is_int(value) or value < minimum:
        raise _bad(section, key, value, f"an integer >= {minimum}", source)


def _string(section: str, key: str, value: Any, source: str) -> None:
    if not isinstance(value, str) or not value:
        raise _bad(section, key, value, "a non-empty string", source)


def _existing_file(section: str, key: str, path: str, source: str) -> None:
    if not os.path.isfile(path):
        raise ConfigError(
            f"`{section}.{key}` in {source} names {path}, which does not exist (relative paths "
            f"resolve against the current directory, {os.getcwd()}). {DATA_FIX}. "
            + received(**{key: path}),
            key=f"{section}.{key}",
        )


def _mapping(section: str, value: Any, source: str) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"`{section}` in {source} must be a mapping of keys to values. "
            + received(**{section: value}),
            key=section,
        )
    return value


def _keys(data: Mapping, cls: type, section: str, source: str) -> None:
    allowed = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
    escaped = source.replace("{", "{{").replace("}", "}}")
    check_keys(data, allowed, f"Unknown key '{{key}}' in the `{section}` section of {escaped}")


# -- config sections --


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the labelled texts are: ``train`` + ``test`` files, or ``path`` + ``test_fraction``.

    >>> DataConfig(train="a.jsonl", test="b.jsonl", source="x.yaml")
    Traceback (most recent call last):
    ...
    vocabguard.errors.ConfigError: `data.train` in x.yaml names a.jsonl, which does not exist ...
    """

    train: str | None = None
    test: str | None = None
    path: str | None = None
    test_fraction: float | None = None
    split_seed: int = 0
    format: str | None = None
    text_field: str = "text"
    label_field: str = "label"
    source: str = dataclasses.field(default="<config>", compare=False, repr=False)

    def __post_init__(self) -> None:
        src = self.source
        for key in ("train", "test", "path", "format"):
            if getattr(self, key) is not None:
                _string("data", key, getattr(self, key), src)
        _string("data", "text_field", self.text_field, src)
        _string("data", "label_field", self.label_field, src)
        _int("data", "split_seed", self.split_seed, src, minimum=0)
        if self.format is not None and self.format not in DATA_FORMATS:
            raise _bad("data", "format", self.format, f"one of {', '.join(DATA_FORMATS)}", src)
        if self.path is not None:
            if self.train is not None or self.test is not None:
                raise ConfigError(
                    f"`data` in {src} sets both `path` and `train`/`test`. Give either `train` and "
                    "`test` files, or one `path` with a `test_fraction` to hold out. "
                    + received(path=self.path, train=self.train, test=self.test)
                )
            fraction = self.test_fraction
            if fraction is None or not _is_number(fraction) or not 0 < fraction < 1:
                raise _bad(
                    "data",
                    "test_fraction",
                    fraction,
                    "a number between 0 and 1 (exclusive) when `path` is one file to split",
                    src,
                )
            _existing_file("data", "path", self.path, src)
        else:
            if self.train is None or self.test is None:
                missing = "train" if self.train is None else "test"
                raise ConfigError(
                    f"`data` in {src} needs `{missing}`: give `train` and `test` files, or one "
                    "`path` with a `test_fraction` to hold out. "
                    + received(train=self.train, test=self.test)
                )
            if self.test_fraction is not None:
                raise ConfigError(
                    f"`data.test_fraction` in {src} applies only to one `path`; with `train` and "
                    "`test` files the test file is the held-out split. Remove test_fraction. "
                    + received(test_fraction=self.test_fraction)
                )
            _existing_file("data", "train", self.train, src)
            _existing_file("data", "test", self.test, src)


@dataclasses.dataclass(frozen=True)
class VocabularyConfig:
    """Which vocabulary to use, and the spec to build it from if the reference is missing."""

    ref: str
    store: str = dataclasses.field(
        default_factory=lambda: os.environ.get("VOCABGUARD_STORE", "vocab_store")
    )
    spec: VocabSpec | None = None
    source: str = dataclasses.field(default="<config>", compare=False, repr=False)

    def __post_init__(self) -> None:
        _string("vocabulary", "ref", self.ref, self.source)
        _string("vocabulary", "store", self.store, self.source)

        try:
            Ref.parse(self.ref)  # a malformed reference fails now, not after loading data
        except InvalidNameError as err:
            raise ConfigError(
                f"`vocabulary.ref` in {self.source} is not a valid reference. {err.message}",
                key="vocabulary.ref",
            ) from None
        if self.spec is not None and not isinstance(self.spec, VocabSpec):
            raise _bad(
                "vocabulary",
                "spec",
                self.spec,
                "a mapping of VocabSpec fields or the path of a spec YAML file",
                self.source,
            )


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model hyperparameters; ``input_dim`` comes from the vocabulary artifact, never from here.

    >>> ModelConfig(dropout=1.5)
    Traceback (most recent call last):
    ...
    vocabguard.errors.ConfigError: `model.dropout` in <config> must be a number in [0, 1). Received: dropout=1.5
    """

    architecture: str = "bag_of_embeddings"
    embedding_dim: int = 64
    hidden_units: int = 64
    dropout: float = 0.2
    input_dim: int | None = None  # only checked against the artifact
    source: str = dataclasses.field(default="<config>", compare=False, repr=False)

    def __post_init__(self) -> None:
        src = self.source
        if self.architecture not in ARCHITECTURES:
            raise _bad(
                "model",
                "architecture",
                self.architecture,
                f"one of {', '.join(ARCHITECTURES)}",
                src,
            )
        _int("model", "embedding_dim", self.embedding_dim, src)
        _int("model", "hidden_units", self.hidden_units, src, minimum=0)
        if not _is_number(self.dropout) or not 0 <= self.dropout < 1:
            raise _bad("model", "dropout", self.dropout, "a number in [0, 1)", src)
        if self.input_dim is not None:
            _int("model", "input_dim", self.input_dim, src)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Optimization settings."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.001
    seed: int = 0
    source: str = dataclasses.field(default="<config>", compare=False, repr=False)

    def __post_init__(self) -> None:
        _int("training", "epochs", self.epochs, self.source)
        _int("training", "batch_size", self.batch_size, self.source)
        _int("training", "seed", self.seed, self.source, minimum=0)
        if not _is_number(self.learning_rate) or self.learning_rate <= 0:
            raise _bad("training", "learning_rate", self.learning_rate, "a number > 0", self.source)


SECTIONS = {
    "data": DataConfig,
    "vocabulary": VocabularyConfig,
    "model": ModelConfig,
    "training": TrainingConfig,
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A validated training config (``TrainConfig.from_yaml(path)``)."""

    data: DataConfig
    vocabulary: VocabularyConfig
    output: str
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    source: str = dataclasses.field(default="<config>", compare=False, repr=False)

    def __post_init__(self) -> None:
        _string("config", "output", self.output, self.source)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<config>") -> TrainConfig:
        """Validate a mapping (a parsed YAML file); errors name the section and key."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{source} must hold a mapping with `data`, `vocabulary`, `model`, `training` "
                "and `output`. " + received(config=data)
            )
        escaped = source.replace("{", "{{").replace("}", "}}")
        check_keys(data, [*SECTIONS, "output"], f"Unknown top-level key '{{key}}' in {escaped}")
        for required in ("data", "vocabulary", "output"):
            if data.get(required) is None:
                raise ConfigError(
                    f"{source} has no `{required}`; add it (see configs/bbc_news.yaml). "
                    + received(**{required: None})
                )
        raws = {name: dict(_mapping(name, data.get(name), source)) for name in SECTIONS}
        # Every section's key names first: a typo is reported before a missing file.
        for name, section_cls in SECTIONS.items():
            _keys(raws[name], section_cls, name, source)
        sections: dict[str, Any] = {}
        for name, section_cls in SECTIONS.items():
            raw = raws[name]
            if name == "vocabulary":
                if "ref" not in raw:
                    raise ConfigError(
                        f"`vocabulary` in {source} needs `ref`, e.g. 'bbc_news@latest' (built "
                        "from the train split when missing and `spec` is given). "
                        + received(vocabulary=dict(raw))
                    )
                raw["spec"] = _load_spec(raw.get("spec"), source)
            sections[name] = section_cls(**raw, source=source)
        return cls(output=data["output"], source=source, **sections)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> TrainConfig:
        """Load and validate a config file (relative paths in it: against the current dir)."""
        return cls.from_dict(load_yaml(path), source=str(path))


def _load_spec(value: Any, source: str) -> VocabSpec | None:
    """``vocabulary.spec``: an inline mapping, or the path of a spec YAML (fields at the
    top or under ``spec:``, as in ``configs/bbc_news_vocab.yaml``)."""
    if value is None or isinstance(value, VocabSpec):
        return value
    if isinstance(value, Mapping):
        return VocabSpec.from_dict(value, source=f"{source} vocabulary.spec")
    if isinstance(value, str):
        if not os.path.isfile(value):
            raise ConfigError(
                f"`vocabulary.spec` in {source} names {value}, which does not exist (relative "
                f"paths resolve against the current directory, {os.getcwd()}). Fix the path or "
                "write the spec inline as a mapping. " + received(spec=value),
                key="vocabulary.spec",
            )
        data = load_yaml(value) or {}
        if isinstance(data, Mapping) and isinstance(data.get("spec"), Mapping):
            data = data["spec"]
        return VocabSpec.from_dict(data, source=value)
    raise _bad(
        "vocabulary",
        "spec",
        value,
        "a mapping of VocabSpec fields or the path of a spec YAML file",
        source,
    )


# -- data --


@dataclasses.dataclass
class Split:
    """The texts and labels of one split, in file order."""

    texts: list
    labels: list


def _read(path: str, config: DataConfig) -> Split:

    # Two streaming passes (one per field) keep the readers' per-line error messages.
    texts = list(read_documents([path], config.format, config.text_field, kind="string"))
    labels = list(read_documents([path], config.format, config.label_field))
    return Split(texts, labels)


def load_splits(config: DataConfig) -> tuple[Split, Split]:
    """The train and held-out splits: two files, or one file split by ``test_fraction``.

    The split of one file is a seeded permutation (``split_seed``), so it is the
    same on every run and machine.
    """
    import numpy as np

    if config.path is None:
        return _read(config.train, config), _read(config.test, config)
    whole = _read(config.path, config)
    n = len(whole.texts)
    n_test = round(n * config.test_fraction)
    if not 1 <= n_test < n:
        raise ConfigError(
            f"`data.test_fraction` {config.test_fraction} of {n} records in {config.path} leaves "
            f"{n_test} held-out and {n - n_test} training records; both must be at least 1. "
            + received(test_fraction=config.test_fraction, records=n)
        )
    order = np.random.default_rng(config.split_seed).permutation(n)
    test_rows, train_rows = sorted(order[:n_test]), sorted(order[n_test:])
    pick = lambda rows: Split([whole.texts[i] for i in rows], [whole.labels[i] for i in rows])  # noqa: E731
    return pick(train_rows), pick(test_rows)


def describe_train(config: DataConfig) -> str:
    """The train split's description, which a vocabulary built from it records as its
    input (``train.jsonl (field text)``); a rerun reuses a vocabulary only when it matches."""
    if config.path is None:
        return f"{config.train} (field {config.text_field})"
    return (
        f"{config.path} (field {config.text_field}), train split: test_fraction "
        f"{config.test_fraction}, split_seed {config.split_seed}"
    )


# -- vocabulary --


def resolve_vocabulary(config: VocabularyConfig, train_texts: Sequence, description: str):
    """Load ``config.ref``; if its name has no version yet and a spec is given, build the
    vocabulary from ``train_texts`` (the train split only) and publish it.

    Returns ``(vocab, built)``.
    """

    store = VocabStore(config.store)
    ref = Ref.parse(config.ref)
    if store.versions(ref.name):
        vocab = store.load(config.ref)  # a missing @vN or fingerprint is an error here
        if config.spec is not None and config.spec.to_dict() != vocab.spec.to_dict():
            published, wanted = vocab.spec.to_dict(), config.spec.to_dict()
            differ = [k for k in wanted if wanted[k] != published.get(k)]
            raise ConfigError(
                f"`vocabulary.spec` differs from the spec of the published {vocab.ref} in "
                f"{config.store} (fields: {', '.join(differ)}), and published versions never "
                "change. Use a new vocabulary name in `ref`, or remove `spec` to train with "
                f"the published one. "
                + received(
                    **{k: wanted[k] for k in differ}, published={k: published[k] for k in differ}
                )
            )
        return vocab, False
    fresh = ref.version in (None, 1) and ref.fingerprint_prefix is None
    if config.spec is None or not fresh:
        why = (
            "add `vocabulary.spec` so it can be built from the train split"
            if config.spec is None
            else f"a new build would be published as {ref.name}@v1; use `{ref.name}@latest`"
        )
        raise VersionNotFoundError(
            f"The vocabulary {config.ref} is not in store {config.store}; {why}, or point "
            "`vocabulary.store` at the store that holds it. " + received(ref=config.ref),
            cases=[config.ref],
        )
    vocab = build_vocabulary(
        train_texts, config.spec, progress=False, input_description=description
    )
    return store.publish(vocab, ref.name), True


def check_input_dim(config: ModelConfig, vocab) -> str | None:
    """Compare ``model.input_dim`` (if set) with the artifact's; return a note or raise.

    >>> from types import SimpleNamespace
    >>> vocab = SimpleNamespace(input_dim=100, ref="news@v1")
    >>> check_input_dim(ModelConfig(input_dim=100), vocab)
    'note: model.input_dim 100 is redundant: it comes from the vocabulary news@v1; remove it from the config'
    >>> check_input_dim(ModelConfig(input_dim=99), vocab)
    Traceback (most recent call last):
    ...
    vocabguard.errors.ConfigError: `model.input_dim` in <config> is 99, but the vocabulary news@v1 has input_dim 100. ...
    """
    if config.input_dim is None:
        return None
    if config.input_dim != vocab.input_dim:
        raise ConfigError(
            f"`model.input_dim` in {config.source} is {config.input_dim}, but the vocabulary "
            f"{vocab.ref} has input_dim {vocab.input_dim}. The Embedding takes input_dim from the "
            "artifact so ids always fit; remove model.input_dim from the config. "
            + received(input_dim=config.input_dim, artifact_input_dim=vocab.input_dim),
            key="model.input_dim",
        )
    return (
        f"note: model.input_dim {config.input_dim} is redundant: it comes from the vocabulary "
        f"{vocab.ref}; remove it from the config"
    )


# -- model and datasets --


def build_model(config: ModelConfig, vocab, num_classes: int):
    """Embedding (from the artifact) -> mean over real tokens -> Dense -> softmax."""
    import keras
    from keras import ops

    from vocabguard._src.engines import keras as vk

    ids = keras.Input(shape=(vocab.spec.sequence_length,), dtype=vocab.spec.id_dtype, name="ids")
    vectors = vk.embedding(vocab, config.embedding_dim)(ids)
    # Mean over real tokens (id 0 is padding). Not GlobalAveragePooling1D: its masked
    # mean is 0/0 = NaN for a text with no tokens (an empty string at serving time).
    # Keras ops on symbolic tensors serialize with the model, so model.keras needs no
    # custom layer.
    real = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), vectors.dtype), -1)
    x = ops.sum(vectors * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1.0)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout)(x)
    if config.hidden_units:
        x = keras.layers.Dense(config.hidden_units, activation="relu", name="hidden")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout)(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(ids, probabilities, name="text_classifier")


def make_dataset(texts, label_ids, encoder, batch_size: int, *, shuffle_seed: int | None = None):
    """``(ids, label)`` batches: batch the raw strings first, then encode each batch in
    ``map`` with the vocabulary's ``tf.data`` encoder (dense ids, padded with 0)."""
    import tensorflow as tf

    def encode(batch, labels):
        ids = encoder(batch)
        if isinstance(ids, tf.RaggedTensor):  # no sequence_length: pad to the batch's longest
            ids = ids.to_tensor(default_value=0)
        return ids, labels

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(texts, tf.string), label_ids))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(encode, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


# -- the run --


def _note(message: str) -> None:
    """A progress line (the command line shows them on stderr; see ``vocabguard.cli``)."""
    _log.info(message)


def _check_output(output: str) -> None:
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise OutputExistsError(
            f"Output {output} already exists and is not empty; training never overwrites a "
            "previous run. Set `output` in the config to a new directory, or delete the old one. "
            + received(output=output),
            cases=[output],
        )


def _label_ids(split: Split, label_names: list, path: str, field: str):
    import numpy as np

    index = {label: i for i, label in enumerate(label_names)}
    unknown = [label for label in split.labels if label not in index]
    if unknown:
        raise InputDataError(
            f"The held-out data ({path}) has label {unknown[0]!r} in field '{field}', which the "
            f"training data never has; the model cannot predict it. Labels in training: "
            f"{', '.join(map(str, label_names))}. " + received(label=unknown[0]),
            cases=sorted(set(map(str, unknown))),
        )
    return np.array([index[label] for label in split.labels], dtype=np.int32)


def train(config: TrainConfig) -> dict:
    """Run a training config end to end; return the metrics written to ``metrics.json``.

    Everything is written to a staging directory beside ``config.output`` and renamed
    into place at the end, so a failed run leaves no partial output.
    """
    started = time.perf_counter()
    _check_output(config.output)  # before any expensive step
    train_split, test_split = load_splits(config.data)
    held_out = config.data.test or config.data.path
    label_names = sorted(set(train_split.labels))
    if len(label_names) < 2:
        raise InputDataError(
            f"The training data has {len(label_names)} distinct label(s) in field "
            f"'{config.data.label_field}'; a classifier needs at least 2. "
            + received(labels=label_names)
        )
    train_y = _label_ids(train_split, label_names, held_out, config.data.label_field)
    test_y = _label_ids(test_split, label_names, held_out, config.data.label_field)
    _note(
        f"data: {len(train_split.texts)} train, {len(test_split.texts)} held-out, "
        f"{len(label_names)} labels ({', '.join(map(str, label_names))})"
    )

    vocab, built = _training_vocabulary(config, train_split)
    note = check_input_dim(config.model, vocab)
    if note:
        _note(note)

    import keras

    from vocabguard._src.engines import tf as vtf

    keras.utils.set_random_seed(config.training.seed)
    encoder = vtf.encode_fn(vocab)
    batch = config.training.batch_size
    train_ds = make_dataset(
        train_split.texts, train_y, encoder, batch, shuffle_seed=config.training.seed
    )
    test_ds = make_dataset(test_split.texts, test_y, encoder, batch)
    model = build_model(config.model, vocab, len(label_names))
    model.compile(
        optimizer=keras.optimizers.Adam(config.training.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # The dataset shuffles itself (seeded); Keras' own shuffle does not apply to tf.data.
    loud = bool(os.environ.get("VOCABGUARD_VERBOSE"))
    history = model.fit(
        train_ds,
        epochs=config.training.epochs,
        verbose=2 if loud else 0,
        shuffle=False,
        callbacks=[] if loud else [_epoch_progress(keras, config.training.epochs)],
    )
    loss, accuracy = model.evaluate(test_ds, verbose=0)

    metrics = _metrics(
        config, vocab, built, label_names, history, loss, accuracy, (train_split, test_split)
    )
    metrics["wall_seconds"] = round(time.perf_counter() - started, 2)
    _write_output(config, model, vocab, label_names, metrics)
    return metrics


def _training_vocabulary(config: TrainConfig, train_split: Any) -> tuple[Any, bool]:
    """The config's vocabulary, loaded or built from the train split (and published),
    with the progress notes that say which and from what."""
    vocab, built = resolve_vocabulary(
        config.vocabulary, train_split.texts, describe_train(config.data)
    )
    if built:
        _note(f"vocabulary: built {vocab.ref} from the train split and published it")
    elif vocab.build.get("input") != describe_train(config.data):
        _note(
            f"note: {vocab.ref} was built from {vocab.build.get('input')!r}, not from this "
            "config's train split; make sure it saw no held-out data"
        )
    _note(
        f"vocabulary: {vocab.ref} in {config.vocabulary.store}, input_dim {vocab.input_dim}, "
        f"sequence_length {vocab.spec.sequence_length}, fingerprint {vocab.fingerprint[:16]}"
    )
    return vocab, built


def _metrics(config, vocab, built, label_names, history, loss, accuracy, splits) -> dict:
    """What ``metrics.json`` records of a run (its wall time is added by ``train``)."""
    import keras
    import tensorflow as tf

    return {
        "accuracy": float(accuracy),
        "loss": float(loss),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "epochs": config.training.epochs,
        "n_train": len(splits[0].texts),
        "n_test": len(splits[1].texts),
        "labels": [str(x) for x in label_names],
        "vocabulary": {
            "ref": vocab.ref,
            "name": vocab.name,
            "version": vocab.version,
            "fingerprint": vocab.fingerprint,
            "input_dim": vocab.input_dim,
            "store": config.vocabulary.store,
            "built_now": built,
        },
        "config": config.source,
        # input_dim as used (from the artifact); the config's optional check value is
        # never null here.
        "model": {**_settings(config.model), "input_dim": vocab.input_dim},
        "training": _settings(config.training),
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }


def _write_output(config: TrainConfig, model: Any, vocab: Any, label_names, metrics: dict):
    """The model, its serving export and ``metrics.json``, staged beside
    ``config.output`` and renamed into place, so a failed run leaves no partial output."""
    from vocabguard._src.engines.serving import export_serving

    output = os.path.abspath(config.output)
    parent, base = os.path.split(output)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{base}.incomplete-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(staging)
        model.save(os.path.join(staging, MODEL_FILE))
        export_serving(
            model, vocab, os.path.join(staging, SERVING_DIR), labels=[str(x) for x in label_names]
        )
        with open(os.path.join(staging, METRICS_FILE), "w", encoding="utf-8") as handle:
            json.dump(metrics, handle, indent=2, sort_keys=True)
            handle.write("\n")
        _check_output(config.output)  # another run may have written it meanwhile
        # rename(2) replaces an empty directory and fails on a non-empty one.
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _epoch_progress(keras: Any, epochs: int) -> Any:
    """A progress bar over the epochs on a terminal; elsewhere one line per epoch."""

    class EpochProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()
            self.bar = progress_bar(epochs, None, "train", unit=" epochs")
            self.terminal = sys.stderr.isatty()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            summary = ", ".join(
                f"{key} {logs[key]:.4f}" for key in ("accuracy", "loss") if key in logs
            )
            if self.terminal:
                self.bar.set_postfix_str(summary, refresh=False)
                self.bar.update(1)
            else:
                _note(
                    f"train: epoch {epoch + 1}/{epochs}: {summary} "
                    f"({time.perf_counter() - self.started:.0f} s)"
                )

        def on_train_end(self, logs=None):
            if self.terminal:
                self.bar.close()

    return EpochProgress()


def _settings(section: Any) -> dict:
    return {k: v for k, v in dataclasses.asdict(section).items() if k != "source"}


def with_overrides(config: TrainConfig, *, output: str | None, store: str | None) -> TrainConfig:
    """``config`` with the command line's ``--output`` and ``--store`` in place."""
    if output:
        config = dataclasses.replace(config, output=output)
    if store:
        config = dataclasses.replace(
            config, vocabulary=dataclasses.replace(config.vocabulary, store=store)
        )
    return config
