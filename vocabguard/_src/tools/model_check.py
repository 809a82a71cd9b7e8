"""Check a saved Keras model against a vocabulary artifact (``vocabguard check-model``).

Every ``Embedding`` (subclasses included) and ``IdGuard`` layer of the model,
nested models too, is compared with the artifact:

- ``input_dim`` smaller than the artifact's is an **error**: valid ids have no
  row (TensorFlow on CPU raises, on GPU returns a zero row, XLA clamps);
- ``input_dim`` larger is a **warning**: rows that no id reaches;
- a recorded vocabulary fingerprint (``vocabguard.keras`` layers record one)
  that differs from the artifact's is an **error**: the same id means another token.

``judge`` holds the rules and needs no Keras:

>>> judge("Embedding", 100, None, expected_input_dim=127, expected_fingerprint="ab" * 32)[0]
'error'
>>> judge("Embedding", 127, None, expected_input_dim=127, expected_fingerprint="ab" * 32)
('ok', 'input_dim matches; the layer records no vocabulary (vocabguard.keras.embedding(vocab, ...) records one)')
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vocabguard._src.core.errors import InputDataError, InputNotFoundError, received

# Keras and vocabguard._src.engines.keras are imported inside the functions that load a
# model: heavy, and a .keras file's config is read without them.

OK = "ok"
WARNING = "warning"
ERROR = "error"
SKIPPED = "skipped"
NOT_RECORDED = "not recorded"
_SEVERITY = {SKIPPED: 0, OK: 1, WARNING: 2, ERROR: 3}


@dataclasses.dataclass
class LayerCheck:
    """The verdict on one Embedding or IdGuard layer.

    ``name`` is the layer's path inside the model (``encoder/token_embedding``);
    ``fingerprint`` is the recorded vocabulary fingerprint, or ``None``.
    """

    name: str
    cls: str
    input_dim: int | None
    expected_input_dim: int
    fingerprint: str | None
    status: str
    message: str
    vocab_ref: str | None = None  # the recorded name@vN, when the layer records one

    def to_dict(self) -> dict:
        """The ``--json`` form (a stable schema)."""
        return {
            "name": self.name,
            "class": self.cls,
            "input_dim": self.input_dim,
            "expected_input_dim": self.expected_input_dim,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "message": self.message,
        }


@dataclasses.dataclass
class ModelCheck:
    """The result of ``check_model``: the model, the artifact and one entry per layer."""

    model: str
    ref: str | None
    fingerprint: str
    input_dim: int
    layers: list[LayerCheck]

    @property
    def ok(self) -> bool:
        """True when no checked layer has an error (warnings are allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[LayerCheck]:
        return [layer for layer in self.layers if layer.status == ERROR]

    @property
    def warnings(self) -> list[LayerCheck]:
        return [layer for layer in self.layers if layer.status == WARNING]

    def to_dict(self) -> dict:
        """``{"model", "vocab": {"ref", "fingerprint", "input_dim"}, "layers": [...], "ok"}``."""
        return {
            "model": self.model,
            "vocab": {
                "ref": self.ref,
                "fingerprint": self.fingerprint,
                "input_dim": self.input_dim,
            },
            "layers": [layer.to_dict() for layer in self.layers],
            "ok": self.ok,
        }


def judge(
    cls: str,
    input_dim: int | None,
    fingerprint: str | None,
    *,
    expected_input_dim: int,
    expected_fingerprint: str,
    ref: str | None = None,
    recorded_ref: str | None = None,
    guard: bool = False,
) -> tuple[str, str]:
    """``(status, message)`` for a layer with ``input_dim`` and a recorded ``fingerprint``.

    ``guard`` marks an ``IdGuard`` (it rejects ids, it has no rows).
    """
    ref = ref or "the vocabulary"
    problems: list[tuple[str, str]] = []
    if input_dim is None:
        problems.append((ERROR, f"{cls} has no input_dim attribute; cannot check it"))
    elif input_dim < expected_input_dim:
        gap = (
            f"ids {input_dim}..{expected_input_dim - 1}"
            if expected_input_dim - input_dim > 1
            else f"id {input_dim}"
        )
        consequence = (
            f"the guard rejects valid {gap}"
            if guard
            else f"valid {gap} have no row (TensorFlow raises on CPU, returns a zero row on GPU, "
            "clamps under XLA; Keras on JAX gives NaN)"
        )
        problems.append(
            (
                ERROR,
                f"input_dim {input_dim} is smaller than {ref}'s input_dim "
                f"{expected_input_dim}: {consequence}. Build the layer from the artifact "
                f"(vocabguard.keras.embedding(vocab, ...)) or set input_dim={expected_input_dim}",
            )
        )
    elif input_dim > expected_input_dim:
        problems.append(
            (
                WARNING,
                f"input_dim {input_dim} is larger than {ref}'s input_dim {expected_input_dim}: "
                f"rows {expected_input_dim}..{input_dim - 1} are never used (or the model was "
                f"sized for another vocabulary). Use input_dim={expected_input_dim}, or set "
                "capacity in the spec if the spare rows are room to grow",
            )
        )
    if fingerprint is not None and fingerprint != expected_fingerprint:
        recorded = f"{recorded_ref} " if recorded_ref else ""
        fix = f"check it with --vocab {recorded_ref}" if recorded_ref else "check the right one"
        problems.append(
            (
                ERROR,
                f"the layer was built for vocabulary {recorded}(fingerprint {fingerprint[:12]}), "
                f"not {ref} (fingerprint {expected_fingerprint[:12]}): the same id means a "
                f"different token. If the model belongs to that vocabulary, {fix}; otherwise "
                f"retrain it with {ref}",
            )
        )
    if not problems:
        if fingerprint is None:
            return OK, (
                "input_dim matches; the layer records no vocabulary "
                "(vocabguard.keras.embedding(vocab, ...) records one)"
            )
        return OK, "input_dim and vocabulary fingerprint match"
    status = max((status for status, _ in problems), key=_SEVERITY.__getitem__)
    return status, "; ".join(message for _, message in problems)


# -- Keras --


def _keras():
    # TensorFlow's C++ start-up chatter would bury the report.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    import vocabguard._src.engines.keras  # noqa: F401  (registers vocabguard's layers for deserialization)

    return keras


def load_model(path: str | os.PathLike) -> Any:
    """Load a saved Keras model safely (``safe_mode=True``, not compiled).

    Raises ``InputDataError`` naming the file and the fix when it is missing,
    not a Keras model file, or cannot be deserialized.
    """

    path = check_model_path(path)
    keras = _keras()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # Keras raises ValueError, TypeError, KeyError, OSError, ...
        detail = " ".join(str(err).split())
        if len(detail) > 400:
            detail = detail[:400] + "..."
        raise InputDataError(
            f"Cannot load the Keras model {path!r}: {type(err).__name__}: {detail}. "
            "If the model uses custom layers, import the module that registers them first "
            "(vocabguard's are registered); Lambda layers are refused because the model is "
            "loaded with safe_mode=True. " + received(model=path),
            cases=[path],
        ) from err


def check_model_path(path: str | os.PathLike) -> str:
    """``path`` if it names a Keras model file; else ``InputDataError`` naming the fix."""
    path = os.fspath(path)
    save_hint = "Save the model with model.save('model.keras') and pass that file."
    if not os.path.lexists(path):
        raise InputNotFoundError(
            f"Model file {path!r} does not exist. Expected a Keras model file (.keras); "
            "check the path. " + received(model=path),
            cases=[path],
        )
    if os.path.isdir(path):
        what = (
            "a TensorFlow SavedModel directory, which Keras 3 cannot load"
            if os.path.exists(os.path.join(path, "saved_model.pb"))
            else "a directory"
        )
        raise InputDataError(
            f"Model path {path!r} is {what}. Expected a Keras model file (.keras). {save_hint} "
            + received(model=path),
            cases=[path],
        )
    lower = path.lower()
    if lower.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise InputDataError(
                f"{path!r} is not a Keras model file: a .keras file is a zip archive, and this "
                f"one is not (truncated, or another format renamed). {save_hint} "
                + received(model=path),
                cases=[path],
            )
    elif not lower.endswith((".h5", ".hdf5")):
        hint = (
            " It is a zip archive: if it was saved by Keras 3, rename it to end in .keras."
            if zipfile.is_zipfile(path)
            else ""
        )
        raise InputDataError(
            f"{path!r} is not a Keras model file: expected a .keras file (or a legacy .h5)."
            f"{hint} {save_hint} " + received(model=path),
            cases=[path],
        )
    return path


# -- the .keras archive's config.json, read without Keras --

_MODELS = ("Functional", "Sequential")
# Keys of a layer config that hold other layers (wrappers, RNN cells): their
# sublayers are not listed as layers, so only Keras itself can find an Embedding there.
_NESTED_KEYS = ("layer", "layers", "cell", "cells", "forward_layer", "backward_layer")


class _NeedsKeras(Exception):
    """The config alone cannot answer: a custom or wrapping layer, a subclassed model."""


def _config_layers(config: dict, prefix: str = "") -> Iterator[tuple[str, str, dict]]:
    """``(path, kind, layer_config)`` for every Embedding / IdGuard layer in a Functional or
    Sequential model's serialized config, nested models included, as ``iter_layers``
    finds them; ``_NeedsKeras`` when a layer could hide one the config does not list."""
    if config.get("class_name") not in _MODELS:
        raise _NeedsKeras(config.get("class_name"))
    for layer in config.get("config", {}).get("layers", []):
        module = str(layer.get("module") or "")
        cls = layer.get("class_name")
        registered = str(layer.get("registered_name") or "")
        inner = layer.get("config") or {}
        name = inner.get("name") or layer.get("name")
        path = f"{prefix}{name}"
        if cls in _MODELS and module.startswith("keras"):
            yield from _config_layers(layer, prefix=f"{path}/")
            continue
        ours = registered.startswith("vocabguard>")
        if not (ours or (module.startswith("keras") and not registered.count(">"))):
            raise _NeedsKeras(cls)  # a custom layer may create an Embedding inside
        if not ours and any(key in inner for key in _NESTED_KEYS):
            raise _NeedsKeras(cls)  # Bidirectional, TimeDistributed, RNN cells, ...
        if cls in ("Embedding", "VocabEmbedding"):
            yield path, "embedding", {**inner, "class_name": cls}
        elif cls == "IdGuard" and ours:
            yield path, "guard", {**inner, "class_name": cls}


def saved_model_layers(path: str) -> list[tuple[str, str, dict]] | None:
    """The Embedding / IdGuard layers of a ``.keras`` file, read from its ``config.json``
    without importing TensorFlow or Keras; ``None`` when Keras must load the model."""
    if not path.lower().endswith(".keras"):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        return list(_config_layers(config))
    except (_NeedsKeras, KeyError, ValueError, OSError, zipfile.BadZipFile, AttributeError):
        return None


def iter_layers(
    model: Any, prefix: str = "", *, leaf: Callable[[Any], bool] | None = None
) -> Iterator[tuple[str, Any]]:
    """``(path, layer)`` for every layer inside ``model``, depth first, nested models included.

    The path joins the names of the enclosing models with ``/``. Layers for
    which ``leaf(layer)`` is true are yielded but not entered.
    """
    children = (
        model._flatten_layers(include_self=False, recursive=False)
        if hasattr(model, "_flatten_layers")
        else getattr(model, "layers", [])
    )
    for layer in children:
        path = f"{prefix}{layer.name}"
        yield path, layer
        if leaf is None or not leaf(layer):
            yield from iter_layers(layer, prefix=f"{path}/", leaf=leaf)


def _config(layer: Any) -> dict:
    try:
        return dict(layer.get_config())
    except Exception:  # a custom layer without a usable get_config
        return {}


def _recorded(layer: Any, config: dict, key: str) -> Any:
    value = getattr(layer, key, None)
    return config.get(key) if value is None else value


def _kind(keras: Any, layer: Any) -> str | None:
    import vocabguard._src.engines.keras as vk

    guard_class = getattr(vk, "IdGuard", None)
    if isinstance(layer, keras.layers.Embedding):
        return "embedding"
    if (guard_class is not None and isinstance(layer, guard_class)) or (
        type(layer).__name__ == "IdGuard"
    ):
        return "guard"
    return None


def check_layer(
    path: str,
    layer: Any,
    *,
    expected_input_dim: int,
    expected_fingerprint: str,
    ref: str | None,
    guard: bool = False,
    cls: str | None = None,
) -> LayerCheck:
    """Compare one Embedding or IdGuard layer with the artifact."""
    config = _config(layer)
    input_dim = _recorded(layer, config, "input_dim")
    input_dim = int(input_dim) if input_dim is not None else None
    fingerprint = _recorded(layer, config, "vocab_fingerprint") or None
    name = _recorded(layer, config, "vocab_name")
    version = _recorded(layer, config, "vocab_version")
    recorded_ref = f"{name}@v{version}" if name and version else name or None
    cls = cls or type(layer).__name__
    status, message = judge(
        cls,
        input_dim,
        fingerprint,
        expected_input_dim=expected_input_dim,
        expected_fingerprint=expected_fingerprint,
        ref=ref,
        recorded_ref=recorded_ref,
        guard=guard,
    )
    return LayerCheck(
        name=path,
        cls=cls,
        input_dim=input_dim,
        expected_input_dim=expected_input_dim,
        fingerprint=fingerprint,
        status=status,
        message=message,
        vocab_ref=recorded_ref,
    )


def check_model(
    model: Any,
    vocab: Any,
    *,
    layers: Sequence[str] | None = None,
    model_name: str | None = None,
) -> ModelCheck:
    """Check every Embedding and IdGuard layer of ``model`` against ``vocab``.

    Args:
        model: a Keras model, or the path of a saved one (``.keras``).
        vocab: a ``Vocabulary`` (``ref``, ``fingerprint`` and ``input_dim`` are used).
        layers: check only these layers (names or paths); the others are ``skipped``.
            For models with several vocabularies (one per input).
        model_name: how to name the model in the result (default: its path or name).

    Raises:
        InputDataError: the model cannot be loaded, has no Embedding or IdGuard
            layer, or ``layers`` names a layer it does not have.
    """
    if isinstance(model, (str, os.PathLike)):
        model_name = model_name or os.fspath(model)
        fast = saved_model_layers(check_model_path(model))
        if fast is not None:
            found = [
                (path, _ConfigLayer(config), kind, config["class_name"])
                for path, kind, config in fast
            ]
            return _check_found(found, vocab, layers, model_name)
        model = load_model(model)
    keras = _keras()
    model_name = model_name or getattr(model, "name", "model")
    # An Embedding is a leaf: VocabEmbedding's own IdGuard sublayer is part of it.
    found = [
        (path, layer, kind, type(layer).__name__)
        for path, layer in iter_layers(
            model, leaf=lambda layer: isinstance(layer, keras.layers.Embedding)
        )
        if (kind := _kind(keras, layer)) is not None
    ]
    return _check_found(found, vocab, layers, model_name)


class _ConfigLayer:
    """A layer as its saved config describes it (``name`` and ``get_config`` only)."""

    def __init__(self, config: dict):
        self._config = config
        self.name = config.get("name")

    def get_config(self) -> dict:
        return dict(self._config)


def _check_found(found: list, vocab: Any, layers: Sequence[str] | None, model_name: str):
    ref = vocab.ref
    if not found:
        raise InputDataError(
            f"The model {model_name!r} has no Embedding or IdGuard layer, so there is nothing to "
            "compare with the vocabulary. check-model checks the layers that take vocabulary ids; "
            "pass the model that embeds them (build its Embedding with "
            "vocabguard.keras.embedding(vocab, ...)). " + received(model=model_name),
            cases=[model_name],
        )
    wanted = set(layers or ())
    if wanted:
        known = {path for path, *_ in found} | {layer.name for _, layer, *_ in found}
        missing = sorted(wanted - known)
        if missing:
            names = ", ".join(path for path, *_ in found)
            raise InputDataError(
                f"The model {model_name!r} has no Embedding or IdGuard layer named "
                f"{missing[0]!r}. Its Embedding and IdGuard layers are: {names}. Pass one of "
                "them to --layer. " + received(layer=missing[0]),
                cases=missing,
            )
    checks = []
    for path, layer, kind, cls in found:
        check = check_layer(
            path,
            layer,
            expected_input_dim=vocab.input_dim,
            expected_fingerprint=vocab.fingerprint,
            ref=ref,
            guard=kind == "guard",
            cls=cls,
        )
        if wanted and path not in wanted and layer.name not in wanted:
            check.status, check.message = SKIPPED, "not selected by --layer"
        checks.append(check)
    return ModelCheck(
        model=model_name,
        ref=ref,
        fingerprint=vocab.fingerprint,
        input_dim=vocab.input_dim,
        layers=checks,
    )


# -- output --


def format_report(result: ModelCheck) -> str:
    """The human-readable ``check-model`` report: a table, then each problem in full."""
    header = ("layer", "class", "input_dim", "expected", "fingerprint", "status")
    rows = [
        (
            check.name,
            check.cls,
            "-" if check.input_dim is None else str(check.input_dim),
            str(check.expected_input_dim),
            check.fingerprint[:12] if check.fingerprint else NOT_RECORDED,
            check.status.upper() if check.status in (ERROR, WARNING) else check.status,
        )
        for check in result.layers
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"model  {result.model}",
        f"vocab  {result.ref or 'unpublished'}  input_dim {result.input_dim}  "
        f"fingerprint {result.fingerprint[:12]}",
        "",
    ]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    problems = [c for c in result.layers if c.status in (ERROR, WARNING)]
    if problems:
        lines.append("")
    for check in problems:
        lines.append(f"{check.status.upper()} {check.name}: {check.message}.")
    checked = [c for c in result.layers if c.status != SKIPPED]
    errors, warnings = len(result.errors), len(result.warnings)
    lines.append("")
    lines.append(
        f"{'OK' if result.ok else 'FAILED'}: {len(checked)} layer"
        f"{'' if len(checked) == 1 else 's'} checked, {errors} error"
        f"{'' if errors == 1 else 's'}, {warnings} warning{'' if warnings == 1 else 's'}"
    )
    return "\n".join(lines)


__all__ = [
    "LayerCheck",
    "ModelCheck",
    "check_layer",
    "check_model",
    "format_report",
    "iter_layers",
    "judge",
    "load_model",
]
