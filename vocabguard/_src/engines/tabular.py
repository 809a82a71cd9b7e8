"""Config-driven classification over categorical features of a table (issue 13).

``vocabguard train --config configs/movies.yaml`` runs this job when the config
has a ``features:`` section (the text job otherwise). Each feature names one or
more fields that share one vocabulary (one id space, one ``Embedding``):

    data:
      train: data/movies/train.jsonl
      test: data/movies/test.jsonl
      label_field: label
      bad_records: skip             # fail | skip (skipped records are counted)
    store: vocab_store
    features:
      director:
        fields: [Director]
        ref: movies_director@latest  # built from the train split when missing
        spec: {tokenizer: none, missing: token, min_count: 2, pad_to_multiple_of: 8}
      distributor:
        fields: [Distributor]
        weight_field: IMDB Votes     # counts are sums of this field
        ref: movies_distributor@latest
        spec: {tokenizer: none, missing: token, min_count: 20000}
    model: {embedding_dim: 16, hidden_units: 32, dropout: 0.2}
    training: {epochs: 10, batch_size: 64, learning_rate: 0.003, seed: 0}
    output: out/movies_model

Every vocabulary is resolved (or built from the train split; the built ones are
published together, all or nothing, like a build job's features); every field is encoded in ``tf.data`` with ``vocabguard.tf.encode_fn``, and the
job checks that the numpy encoder gives the same ids for every field. The model
embeds each field with its feature's ``vocabguard.keras.embedding`` (input_dim
from the artifact; fields of one feature share the layer), takes the mean over
real ids, concatenates, and classifies. It writes ``metrics.json`` (held-out
accuracy and the majority-class baseline) and ``model.keras`` to a new ``output``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from typing import Any

from vocabguard._src.core.builder import build_vocabulary
from vocabguard._src.core.errors import ConfigError, InputDataError, check_keys, received
from vocabguard._src.core.journal import publish_together
from vocabguard._src.core.spec import VocabSpec, load_yaml
from vocabguard._src.core.store import Ref, VocabStore
from vocabguard._src.core.vocabulary import INT64
from vocabguard._src.engines.formats.read import read_records
from vocabguard._src.engines.training import ModelConfig, TrainingConfig

METRICS_FILE = "metrics.json"
MODEL_FILE = "model.keras"


_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Feature:
    key: str
    fields: tuple[str, ...]
    ref: str
    spec: VocabSpec | None
    weight_field: str | None = None


@dataclasses.dataclass(frozen=True)
class TableConfig:
    train: str
    test: str
    label_field: str
    features: tuple[Feature, ...]
    store: str
    model: ModelConfig
    training: TrainingConfig
    output: str
    bad_records: str = "fail"
    source: str = "<config>"

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<config>", store: str | None = None):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source} must be a mapping. " + received(config=data))
        top = ["data", "store", "features", "model", "training", "output"]
        check_keys(data, top, "Unknown key '{key}' in " + source.replace("{", "{{"))
        raw_data = _section(data, "data", source)
        check_keys(
            raw_data,
            ["train", "test", "label_field", "bad_records"],
            "Unknown key '{key}' in data of " + source.replace("{", "{{"),
        )
        for key in ("train", "test"):
            path = raw_data.get(key)
            if not isinstance(path, str) or not os.path.isfile(path):
                raise ConfigError(
                    f"`data.{key}` in {source} must name an existing file; fetch the real "
                    "tables with `make data-categorical` (python scripts/fetch_data.py --corpus "
                    "vega), or fix the path. " + received(**{key: path})
                )
        bad_records = raw_data.get("bad_records", "fail")
        if bad_records not in ("fail", "skip"):
            raise ConfigError(
                f"`data.bad_records` in {source} must be 'fail' or 'skip'. "
                + received(bad_records=bad_records)
            )
        features = [
            _feature_from_dict(key, raw, f"features.{key} of {source}")
            for key, raw in _section(data, "features", source).items()
        ]
        if not features:
            raise ConfigError(f"{source} names no `features`. " + received(features={}))
        model = dict(_section(data, "model", source, required=False))
        if "input_dim" in model:
            raise ConfigError(
                f"`model.input_dim` in {source}: each feature's Embedding takes input_dim from "
                "its vocabulary artifact; remove it. " + received(input_dim=model["input_dim"])
            )
        output = data.get("output")
        if not isinstance(output, str):
            raise ConfigError(
                f"`output` in {source} must be a directory. " + received(output=output)
            )
        return cls(
            train=raw_data["train"],
            test=raw_data["test"],
            label_field=str(raw_data.get("label_field", "label")),
            features=tuple(features),
            store=store
            or str(data.get("store") or os.environ.get("VOCABGUARD_STORE", "vocab_store")),
            model=ModelConfig(**model, source=source),
            training=TrainingConfig(
                **dict(_section(data, "training", source, required=False)), source=source
            ),
            output=output,
            bad_records=bad_records,
            source=source,
        )

    @classmethod
    def from_yaml(cls, path: str, *, store: str | None = None) -> TableConfig:
        return cls.from_dict(load_yaml(path) or {}, source=str(path), store=store)


def _feature_from_dict(key: Any, raw: Any, where: str) -> Feature:
    """One ``features.<key>`` entry of a table config."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"`{where}` must be a mapping. " + received(**{key: raw}))
    check_keys(
        raw,
        ["fields", "ref", "spec", "weight_field"],
        "Unknown key '{key}' in " + where.replace("{", "{{"),
    )
    fields = raw.get("fields", [key])
    if isinstance(fields, str):
        fields = [fields]
    if not fields or not all(isinstance(f, str) for f in fields):
        raise ConfigError(
            f"`fields` in {where} must be a list of field names. " + received(fields=fields)
        )
    spec = raw.get("spec")
    spec = None if spec is None else VocabSpec.from_dict(spec, source=where)
    return Feature(
        key=str(key),
        fields=tuple(fields),
        ref=str(raw.get("ref", f"{key}@latest")),
        spec=spec,
        weight_field=raw.get("weight_field"),
    )


def _section(data: Mapping, key: str, source: str, required: bool = True) -> Mapping:
    value = data.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"`{key}` in {source} must be a mapping. " + received(**{key: value}))
    return value


def is_table_config(data: Any) -> bool:
    return isinstance(data, Mapping) and "features" in data


def read_table(config: TableConfig, path: str, skipped: dict) -> list[dict]:
    """The records of ``path`` with every feature field, its weight and a label."""

    fields = [f for feature in config.features for f in feature.fields]
    fields = list(dict.fromkeys([*fields, config.label_field]))
    weights = sorted({f.weight_field for f in config.features if f.weight_field})
    records = []
    for record in read_records(
        [path],
        fields=fields,
        weight_field=weights,
        missing="skip",  # each feature's own policy applies when it is encoded
        bad_records=config.bad_records,
        skipped=skipped,
    ):
        if record.get(config.label_field) is None:
            if config.bad_records == "fail":
                raise InputDataError(
                    f"{path}: a record has no label in field {config.label_field!r}. Drop it, "
                    "or set data.bad_records: skip. " + received(file=path)
                )
            skipped["missing_label"] = skipped.get("missing_label", 0) + 1
            continue
        records.append(record)
    return records


def resolve_all(config: TableConfig, train: list[dict]) -> tuple[dict, dict]:
    """Each feature's vocabulary, loaded from the store or built from the train split.

    The built ones are published together (``journal.publish_together``, as a build
    job's): they all become visible or none does, even if this process is killed, so a
    failure (a full disk, a file where a directory should be, a feature that can be
    neither loaded nor built) leaves no new version of any feature. Returns ``({key: vocab}, {key: built_now})``.
    """

    store = VocabStore(config.store)
    vocabs: dict = {}
    building: set[str] = set()  # the names this job builds
    entries = []
    for feature in config.features:
        name = Ref.parse(feature.ref).name
        if name in building:
            continue  # another feature builds it: loaded once published, as before
        if store.versions(name):
            vocabs[feature.key] = store.load(feature.ref)
            continue
        building.add(name)
        entries.append((feature.key, name, _build(config, feature, train)))
    built = {key: True for key, _, _ in entries}
    for (key, _, _), vocab in zip(entries, publish_together(store, entries)):
        vocabs[key] = vocab
    for feature in config.features:
        if feature.key not in vocabs:  # its name was built by an earlier feature
            vocabs[feature.key] = store.load(feature.ref)
    keys = [feature.key for feature in config.features]
    return {key: vocabs[key] for key in keys}, {key: built.get(key, False) for key in keys}


def _build(config: TableConfig, feature: Feature, train: list[dict]):
    """The feature's vocabulary built from the train split (an error without a spec)."""
    if feature.spec is None:
        raise ConfigError(
            f"The vocabulary {feature.ref} of feature {feature.key!r} is not in store "
            f"{config.store}; add a `spec` so it can be built from the train split. "
            + received(ref=feature.ref)
        )
    return build_vocabulary(
        train,
        feature.spec,
        progress=False,
        fields=list(feature.fields),
        weight_field=feature.weight_field,
        input_description=f"{config.train} (fields {', '.join(feature.fields)})",
    )


def tf_column(values: list, vocab):
    """A field's values as a TF tensor: strings (missing -> "", TF has no null), or ragged lists."""
    import tensorflow as tf

    dtype = tf.int64 if vocab.token_type == INT64 else tf.string
    if vocab.token_type == INT64 and any(
        v is None or (isinstance(v, list) and None in v) for v in values
    ):
        raise InputDataError(
            "An integer field holds missing values, which TensorFlow tensors cannot represent. "
            "Fill them in the data. " + received(vocabulary=vocab.ref)
        )

    def text(v):
        return "" if v is None else (str(v) if not isinstance(v, bytes) else v)

    lists = vocab.spec.value_shape == "list" or any(isinstance(v, list) for v in values)
    if lists:
        rows = [
            [text(e) if dtype == tf.string else e for e in (v if isinstance(v, list) else [v])]
            for v in values
        ]
        return tf.ragged.constant(rows, dtype=dtype, row_splits_dtype=tf.int64, inner_shape=())
    if dtype == tf.int64:
        return tf.constant(values, dtype=tf.int64)
    return tf.constant([text(v) for v in values], dtype=tf.string)


def _dense(ids):
    import tensorflow as tf

    if isinstance(ids, tf.RaggedTensor):
        return ids.to_tensor(default_value=0)
    if ids.shape.rank == 1:
        return tf.expand_dims(ids, -1)
    return ids


def encode_all(config: TableConfig, vocabs: dict, records: list[dict]) -> dict:
    """Every field's ids from the tf.data encoder, checked against the numpy encoder."""
    import numpy as np
    import tensorflow as tf

    from vocabguard._src.engines import tf as vtf

    out = {}
    for feature in config.features:
        vocab = vocabs[feature.key]
        encoder = vtf.encode_fn(vocab)
        for field in feature.fields:
            values = [r.get(field) for r in records]
            tensor = tf_column(values, vocab)
            ds = tf.data.Dataset.from_tensor_slices(tensor).batch(256).map(encoder)
            rows = []
            for batch in ds:
                rows += (
                    batch.to_list()
                    if isinstance(batch, tf.RaggedTensor)
                    else batch.numpy().tolist()
                )
            numpy_ids = vocab.encode(values)
            numpy_rows = (
                [row.tolist() for row in numpy_ids]
                if isinstance(numpy_ids, list)
                else np.asarray(numpy_ids).tolist()
            )
            if rows != numpy_rows:
                bad = next(i for i, (a, b) in enumerate(zip(rows, numpy_rows)) if a != b)
                raise AssertionError(
                    f"tf.data and numpy ids differ for field {field!r} at record {bad}: "
                    f"{rows[bad]} vs {numpy_rows[bad]} (value {values[bad]!r})"
                )
            width = max([len(r) if isinstance(r, list) else 1 for r in rows] + [1])
            dense = np.zeros((len(rows), width), dtype=vocab.spec.id_dtype)
            for i, row in enumerate(rows):
                row = row if isinstance(row, list) else [row]
                dense[i, : len(row)] = row
            out[(feature.key, field)] = dense
            out["compared"] = out.get("compared", 0) + sum(
                len(r) if isinstance(r, list) else 1 for r in rows
            )
            assert dense.min() >= 0 and dense.max() < vocab.input_dim
    return out


def build_model(config: TableConfig, vocabs: dict, widths: dict, num_classes: int):
    import keras
    from keras import ops

    from vocabguard._src.engines import keras as vk

    inputs, pooled = [], []
    for feature in config.features:
        vocab = vocabs[feature.key]
        embedding = vk.embedding(vocab, config.model.embedding_dim, name=f"{feature.key}_embedding")
        for field in feature.fields:
            ids = keras.Input(
                (widths[(feature.key, field)],), dtype=vocab.spec.id_dtype, name=_name(field)
            )
            inputs.append(ids)
            vectors = embedding(ids)  # one layer per feature: its fields share the rows
            real = ops.expand_dims(ops.cast(ops.not_equal(ids, 0), vectors.dtype), -1)
            pooled.append(ops.sum(vectors * real, axis=1) / ops.maximum(ops.sum(real, axis=1), 1.0))
    x = keras.layers.Concatenate()(pooled) if len(pooled) > 1 else pooled[0]
    if config.model.dropout:
        x = keras.layers.Dropout(config.model.dropout)(x)
    if config.model.hidden_units:
        x = keras.layers.Dense(config.model.hidden_units, activation="relu", name="hidden")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, out, name="table_classifier")


def _name(field: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in field)


def train(config: TableConfig) -> dict:
    """Run a table config end to end (vocabularies, encoding, model); return its metrics."""
    import numpy as np

    started = time.perf_counter()
    output = os.path.abspath(config.output)
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise ConfigError(
            f"Output {config.output} already exists and is not empty; training never overwrites "
            "a previous run. Set `output` to a new directory. " + received(output=config.output)
        )
    skipped_train: dict = {}
    skipped_test: dict = {}
    train_records = read_table(config, config.train, skipped_train)
    test_records = read_table(config, config.test, skipped_test)
    labels = sorted({r[config.label_field] for r in train_records})
    index = {label: i for i, label in enumerate(labels)}
    train_y = np.array([index[r[config.label_field]] for r in train_records], dtype=np.int32)
    test_y = np.array([index[r[config.label_field]] for r in test_records], dtype=np.int32)
    _note(
        f"data: {len(train_records)} train, {len(test_records)} held-out; labels {labels}; "
        f"skipped bad records: train {skipped_train or 0}, held-out {skipped_test or 0}"
    )
    vocabs, built = resolve_all(config, train_records)
    for feature in config.features:
        _note_vocabulary(feature, vocabs[feature.key], built[feature.key])

    import keras

    keras.utils.set_random_seed(config.training.seed)
    train_x = encode_all(config, vocabs, train_records)
    test_x = encode_all(config, vocabs, test_records)
    checked = train_x.pop("compared", 0) + test_x.pop("compared", 0)
    widths = _fit_widths(train_x, test_x)
    model = build_model(config, vocabs, widths, len(labels))
    model.compile(
        optimizer=keras.optimizers.Adam(config.training.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    order = list(train_x)
    history = model.fit(
        [train_x[k] for k in order],
        train_y,
        epochs=config.training.epochs,
        batch_size=config.training.batch_size,
        verbose=2,
        shuffle=True,
    )
    loss, accuracy = model.evaluate([test_x[k] for k in order], test_y, verbose=0)
    majority = float(np.mean(test_y == np.bincount(train_y).argmax()))
    auc, positive = _rarer_class_auc(model, [test_x[k] for k in order], train_y, test_y, labels)
    metrics = {
        "accuracy": float(accuracy),
        "loss": float(loss),
        "majority_baseline": majority,
        "auc": auc,
        "auc_positive_label": labels[positive] if auc is not None else None,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "n_train": len(train_records),
        "n_test": len(test_records),
        "labels": labels,
        "skipped": {"train": skipped_train, "test": skipped_test},
        "numpy_tf_identical_ids": checked,
        "vocabularies": {
            f.key: {
                "ref": vocabs[f.key].ref,
                "fields": list(f.fields),
                "fingerprint": vocabs[f.key].fingerprint,
                "input_dim": vocabs[f.key].input_dim,
                "used_ids": vocabs[f.key].layout.used_ids,
                "built_now": built[f.key],
            }
            for f in config.features
        },
        "config": config.source,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    _write_run(output, model, metrics)
    return metrics


def _rarer_class_auc(model: Any, inputs: list, train_y, test_y, labels: list):
    """``(AUC, label index)`` of the rarer training class for two labels (ranking
    quality where accuracy says little); ``(None, None)`` otherwise."""
    import numpy as np

    if len(labels) != 2:
        return None, None
    positive = int(np.bincount(train_y, minlength=2).argmin())
    scores = model.predict(inputs, verbose=0)[:, positive]
    return roc_auc(test_y == positive, scores), positive


def _note_vocabulary(feature: Feature, vocab: Any, built: bool) -> None:
    _note(
        f"vocabulary {feature.key}: {vocab.ref} (fields {', '.join(feature.fields)}), "
        f"input_dim {vocab.input_dim} ({vocab.layout.used_ids} used ids)"
        + (", built from the train split now" if built else "")
    )


def _fit_widths(train_x: dict, test_x: dict) -> dict:
    """The train widths of each input; held-out lists are padded or cut to them (in place)."""
    import numpy as np

    widths = {key: a.shape[1] for key, a in train_x.items()}
    for key, array in test_x.items():
        fitted = np.zeros((len(array), widths[key]), dtype=array.dtype)
        n = min(widths[key], array.shape[1])
        fitted[:, :n] = array[:, :n]
        test_x[key] = fitted
    return widths


def _write_run(output: str, model: Any, metrics: dict) -> None:
    """The model and ``metrics.json``, staged beside ``output`` and renamed into place,
    so a failed run leaves no partial output."""
    parent, base = os.path.split(output)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{base}.incomplete-{uuid.uuid4().hex[:8]}")
    try:
        os.makedirs(staging)
        model.save(os.path.join(staging, MODEL_FILE))
        with open(os.path.join(staging, METRICS_FILE), "w", encoding="utf-8") as handle:
            json.dump(metrics, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def roc_auc(positive, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U; tied scores share their mean rank).

    >>> roc_auc([True, False, True, False], [0.9, 0.1, 0.4, 0.4])
    0.875
    """
    import numpy as np

    positive = np.asarray(positive, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    start = 0
    for end in range(1, len(scores) + 1):
        if end == len(scores) or sorted_scores[end] != sorted_scores[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _note(message: str) -> None:
    """A progress line (the command line shows them on stderr; see ``vocabguard.cli``)."""
    _log.info(message)
