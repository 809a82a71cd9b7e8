"""Migrate a saved Keras model to a newer vocabulary (``vocabguard migrate-model``).

Every ``Embedding`` built from the old vocabulary is resized to the new
vocabulary's ``input_dim`` and its rows are moved by token
(``vocabguard.remap``): a token in both keeps its trained row, new tokens get
the initializer's rows. A Dense layer over the vocabulary (``units`` equal to
the old ``input_dim``, e.g. a language-model head) has its columns and bias
moved the same way, so its output grows to the new ``input_dim``. A
standalone ``IdGuard`` sized for the old vocabulary gets the new size. Every
migrated Embedding becomes a ``VocabEmbedding`` that records the new
vocabulary's fingerprint, name and version; all other weights are copied
unchanged, so the migrated model gives the old model's outputs on any text
whose tokens both vocabularies hold.

Which layers were built from the old vocabulary: a ``VocabEmbedding`` whose
recorded fingerprint is the old vocabulary's; a plain ``Embedding`` of the
old ``input_dim`` only when the old vocabulary is given explicitly (``--from``),
because it records no vocabulary. Without ``--from`` the old vocabulary is the
one the layers record, loaded from the store and checked by fingerprint.

A model built on Keras' own ``StringLookup`` / ``IntegerLookup`` /
``TextVectorization`` + ``Embedding`` (no layer records a vocabulary) is migrated
by token too (``migrate_keras_lookups``): the lookup layer that shares the most
tokens with the new vocabulary is re-pointed at its ids (a ``TextVectorization``
keeps its text handling; a ``StringLookup`` / ``IntegerLookup`` becomes
``vocabguard.keras.string_lookup``), and each Embedding it feeds becomes a
guarded ``VocabEmbedding`` whose rows moved to their tokens' new ids. Migrated
onto the layer's own imported vocabulary (``vocabguard import MODEL --format
keras-model``), the model gives the same predictions.

The output is written atomically (a temporary ``.keras`` file next to it,
checked, then moved into place; an existing file is never replaced), loaded
again and checked against the new vocabulary before it appears. It is saved
uncompiled: the old optimizer's slots were sized for the old vocabulary, so
compile the model again to continue training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vocabguard._src.core.errors import (
    ConfigError,
    InputDataError,
    OutputExistsError,
    StoreError,
    VocabguardError,
    VocabularyMismatchError,
    received,
)
from vocabguard._src.core.vocabulary import INT64, display_token
from vocabguard._src.tools.importer import lookup_layers
from vocabguard._src.tools.model_check import _keras, check_model, iter_layers, load_model
from vocabguard._src.tools.remap import (
    INIT,
    OOV_MEAN,
    RowMap,
    check_init,
    remap_dense,
    remap_rows,
    row_map,
)

# vocabguard._src.engines.keras (TensorFlow and Keras) is imported inside the functions
# that use it: heavy, and this module loads without the tf extra.

EMBEDDING = "embedding"
HEAD = "head"
GUARD = "guard"
LOOKUP = "lookup"  # a Keras StringLookup / IntegerLookup / TextVectorization, re-pointed


@dataclasses.dataclass
class LayerChange:
    """One layer of the output model that was resized (``name`` is its path in the model).

    ``rows`` describes where its rows (a head: its columns) came from; ``None``
    for an ``IdGuard``, which has no rows.
    """

    name: str
    cls: str
    kind: str  # "embedding", "head" (Dense over the vocabulary) or "guard"
    old_input_dim: int
    new_input_dim: int
    rows: RowMap | None = None

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "class": self.cls,
            "kind": self.kind,
            "old_input_dim": self.old_input_dim,
            "new_input_dim": self.new_input_dim,
        }
        if self.rows is not None:
            rows = self.rows.to_dict()
            out.update(
                kept=rows["kept"],
                initialized=rows["initialized"],
                oov_averaged=rows["oov_averaged"],
                dropped=rows["dropped"],
            )
        return out


def _vocab_dict(vocab: Any) -> dict:
    return {"ref": vocab.ref, "fingerprint": vocab.fingerprint, "input_dim": vocab.input_dim}


@dataclasses.dataclass
class MigrationResult:
    """What ``migrate_model`` did: the vocabularies, each resized layer, and notes."""

    model: str
    output: str
    old: dict  # {"ref", "fingerprint", "input_dim"}
    new: dict
    init: str
    seed: int | None
    layers: list[LayerChange]
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``--json`` form."""
        return {
            "model": self.model,
            "output": self.output,
            "from": dict(self.old),
            "to": dict(self.new),
            "init": self.init,
            "seed": self.seed,
            "layers": [layer.to_dict() for layer in self.layers],
            "notes": list(self.notes),
        }


# -- the model's layers --


@dataclasses.dataclass
class ModelLayers:
    """The layers of a model that take or produce vocabulary ids, by path."""

    embeddings: list[tuple[str, Any]]
    guards: list[tuple[str, Any]]
    denses: list[tuple[str, Any]]


def model_layers(model: Any) -> ModelLayers:
    """Every Embedding, standalone IdGuard and Dense layer of ``model``, nested models too.

    An Embedding is not entered: a ``VocabEmbedding``'s own guard is part of it.
    A layer shared by several nested models is listed once.
    """
    keras = _keras()
    from vocabguard._src.engines.keras import IdGuard

    found = ModelLayers([], [], [])
    seen: set[int] = set()
    leaf = lambda layer: isinstance(layer, keras.layers.Embedding)  # noqa: E731
    for path, layer in iter_layers(model, leaf=leaf):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, keras.layers.Embedding):
            found.embeddings.append((path, layer))
        elif isinstance(layer, IdGuard):
            found.guards.append((path, layer))
        elif isinstance(layer, keras.layers.Dense):
            found.denses.append((path, layer))
    return found


def describe_layer(layer: Any) -> str:
    """``'name' (Class, input_dim N, vocabulary REF)`` for messages."""
    from vocabguard._src.engines.keras import VocabEmbedding

    what = f"{type(layer).__name__}, input_dim {layer.input_dim}"
    if isinstance(layer, VocabEmbedding):
        what += f", vocabulary {layer.vocab_ref or layer.vocab_fingerprint[:12]}"
    return f"'{layer.name}' ({what})"


# -- rebuilding --


@dataclasses.dataclass
class _Plan:
    """One layer to replace: the new class and config, and how its rows move."""

    path: str
    layer: Any
    kind: str
    cls: type
    config: dict
    rows: RowMap | None
    new_size: int | None = None  # LOOKUP: the new vocabulary size

    def change(self) -> LayerChange:
        if self.kind == LOOKUP:
            old_size = self.layer.vocabulary_size()
            return LayerChange(self.path, self.cls.__name__, LOOKUP, old_size, self.new_size)
        old = self.layer.units if self.kind == HEAD else self.layer.input_dim
        new = self.config["units"] if self.kind == HEAD else self.config["input_dim"]
        return LayerChange(self.path, self.cls.__name__, self.kind, old, new, self.rows)


def plan_embedding(path: str, layer: Any, vocab: Any, rows: RowMap) -> _Plan:
    """Replace ``layer`` by a ``VocabEmbedding`` of ``vocab.input_dim`` that records ``vocab``.

    The layer's other settings (name, mask_zero, regularizers, dtype) are kept;
    a plain Embedding gets the default guard (``"raise"``), a ``VocabEmbedding``
    keeps its own.
    """
    keras = _keras()
    from vocabguard._src.engines.keras import VocabEmbedding

    config = dict(layer.get_config())
    config.update(
        input_dim=vocab.input_dim,
        vocab_fingerprint=vocab.fingerprint,
        vocab_name=vocab.name,
        vocab_version=vocab.version,
    )
    cls: type = VocabEmbedding
    if not isinstance(layer, VocabEmbedding):
        if type(layer) is keras.layers.Embedding:
            config["guard"] = "raise"
        else:  # another Embedding subclass: keep its class, it cannot record a vocabulary
            cls = type(layer)
            for key in ("vocab_fingerprint", "vocab_name", "vocab_version"):
                config.pop(key)
    return _Plan(path, layer, EMBEDDING, cls, config, rows)


def plan_head(path: str, layer: Any, rows: RowMap) -> _Plan:
    """Resize a Dense layer over the vocabulary to ``rows.new_input_dim`` units."""
    config = dict(layer.get_config())
    config["units"] = rows.new_input_dim
    return _Plan(path, layer, HEAD, type(layer), config, rows)


def plan_guard(path: str, layer: Any, input_dim: int) -> _Plan:
    """Give a standalone ``IdGuard`` the new ``input_dim``."""
    config = dict(layer.get_config())
    config["input_dim"] = input_dim
    return _Plan(path, layer, GUARD, type(layer), config, None)


def rebuild(
    model: Any, plans: Sequence[_Plan], init: str, seed: int | None, model_name: str
) -> Any:
    """A copy of ``model`` with the planned layers replaced and their rows moved.

    Every other weight is copied unchanged. Raises ``InputDataError`` when the
    model cannot be cloned, or when a layer after a resized one has weights of
    another shape (it consumed the resized output: it is not a vocabulary head).
    """
    keras = _keras()

    by_id = {id(plan.layer): plan for plan in plans}
    lookups = tuple(
        getattr(keras.layers, name)
        for name in ("StringLookup", "IntegerLookup", "TextVectorization")
    )

    def clone(layer: Any) -> Any:
        plan = by_id.get(id(layer))
        if plan is not None:
            return plan.cls.from_config(plan.config)
        config = layer.get_config()
        if isinstance(layer, lookups) and config.get("vocabulary") is None:
            # An adapted lookup layer's config holds no vocabulary: pass it on.
            config["vocabulary"] = _plain_values(layer.get_vocabulary(include_special_tokens=False))
        return layer.__class__.from_config(config)

    try:
        new_model = keras.models.clone_model(model, clone_function=clone, recursive=True)
    except Exception as err:  # Keras raises ValueError/TypeError for models it cannot clone
        raise InputDataError(
            f"Cannot rebuild the model {model_name!r} with resized layers: "
            f"{type(err).__name__}: {_short(err)}. Only Functional and Sequential models "
            "(nested ones included) can be rebuilt; a subclassed model needs its layers "
            "resized in code (vocabguard.remap_embedding gives the new weights). "
            + received(model=model_name),
            cases=[model_name],
        ) from err
    _copy_weights(model, new_model, plans, model_name)
    _move_rows(keras, new_model, plans, init, seed)
    return new_model


def _copy_weights(model: Any, new_model: Any, plans: Sequence[_Plan], model_name: str) -> None:
    """Copy every weight of ``model`` into ``new_model`` but those of replaced layers;
    a weight whose shape changed is refused (a layer after a resized one depends on it)."""
    # Variables of replaced layers get new values below; all others are copied.
    replaced = {id(v) for plan in plans for v in plan.layer.weights}
    old_weights, new_weights = model.weights, new_model.weights
    if len(old_weights) != len(new_weights):
        raise InputDataError(
            f"Rebuilding {model_name!r} changed its number of weights from {len(old_weights)} "
            f"to {len(new_weights)}, so they cannot be copied over. " + received(model=model_name),
            cases=[model_name],
        )
    for old, new in zip(old_weights, new_weights):
        if id(old) in replaced:
            continue
        if tuple(old.shape) != tuple(new.shape) or old.name != new.name:
            heads = [p.path for p in plans if p.kind == HEAD]
            why = (
                f" The Dense layer(s) {', '.join(heads)} were taken as vocabulary heads because "
                "their units equal the old input_dim, but a later layer consumes their output; "
                "such a model cannot be migrated automatically."
                if heads
                else ""
            )
            raise InputDataError(
                f"Weight {old.path!r} of {model_name!r} has shape {tuple(old.shape)}, but the "
                f"rebuilt model expects {tuple(new.shape)} for {new.path!r}: a layer after a "
                f"resized one depends on the vocabulary size.{why} "
                + received(model=model_name, weight=old.path),
                cases=[model_name],
            )
        new.assign(old.numpy() if hasattr(old, "numpy") else np.asarray(old))


def _move_rows(
    keras: Any, new_model: Any, plans: Sequence[_Plan], init: str, seed: int | None
) -> None:
    """Fill each replaced Embedding and head of ``new_model``: old rows moved by token,
    the rows of new tokens initialized by ``init``."""
    new_layers = dict(iter_layers(new_model))
    rng = np.random.default_rng(seed)
    for plan in plans:
        target = new_layers[plan.path]
        if plan.kind == EMBEDDING:
            old = keras.ops.convert_to_numpy(plan.layer.embeddings)
            target.embeddings.assign(remap_rows(old, plan.rows, init, rng))
        elif plan.kind == HEAD:
            bias = plan.layer.bias if plan.layer.use_bias else None
            kernel, bias = remap_dense(
                keras.ops.convert_to_numpy(plan.layer.kernel),
                None if bias is None else keras.ops.convert_to_numpy(bias),
                None,
                None,
                init,
                rng,
                rows=plan.rows,
            )
            target.kernel.assign(kernel)
            if bias is not None:
                target.bias.assign(bias)


def _short(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit] + "..."


# -- output --


def check_output(output: str | os.PathLike) -> str:
    """``output`` as a string if it is a new ``.keras`` path; else the error."""
    output = os.fspath(output)
    if os.path.lexists(output):
        raise OutputExistsError(
            f"Output model {output} already exists; vocabguard never overwrites outputs. Choose "
            "a new path, or delete the old one first. " + received(output=output),
            cases=[output],
        )
    if not output.lower().endswith(".keras"):
        raise ConfigError(
            f"The output model must be a .keras file (the Keras 3 format that check-model and "
            f"load_model read). Name it e.g. {os.path.splitext(output)[0] or 'model'}.keras. "
            + received(output=output)
        )
    return output


def save_checked(model: Any, output: str, check: Callable[[str], None]) -> None:
    """Save ``model`` to ``output`` atomically: a temp file next to it, ``check(temp)``, move.

    Nothing appears at ``output`` unless the check passed; an existing file is
    never replaced (not even one that appears while saving).
    """
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    base = os.path.basename(output)
    tmp = os.path.join(directory, f".{base}.{uuid.uuid4().hex[:12]}.tmp.keras")
    try:
        model.save(tmp)
        check(tmp)
        try:
            os.link(tmp, output)  # fails if output appeared meanwhile
        except FileExistsError:
            check_output(output)
            raise
        except OSError:  # no hard links on this filesystem
            check_output(output)
            os.rename(tmp, output)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def verify(path: str, vocab: Any, paths: Sequence[str], output: str) -> Any:
    """Load ``path`` and check its ``paths`` layers against ``vocab``; return the full check.

    Raises ``VocabularyMismatchError`` if a resized layer does not fit ``vocab``.
    """
    from vocabguard._src.engines.keras import check_vocabulary

    model = load_model(path)
    own = check_model(model, vocab, layers=list(paths), model_name=output)
    if not own.ok:
        first = own.errors[0]
        raise VocabularyMismatchError(
            f"The rebuilt model does not pass check-model against {vocab.ref or 'the vocabulary'}"
            f": layer {first.name}: {first.message}. Nothing was written. This is a bug in "
            "vocabguard; please report it with the model's summary. "
            + received(output=output, layer=first.name)
        )
    if any(layer.fingerprint for layer in own.layers):
        check_vocabulary(model, vocab)
    return check_model(model, vocab, model_name=output)


# -- migrate --


def _recorded_vocab(layers: list[tuple[str, Any]], new_vocab: Any, store: Any, model: str) -> Any:
    """The vocabulary the model's VocabEmbeddings record, loaded from ``store``."""
    from vocabguard._src.engines.keras import VocabEmbedding

    recorded = [layer for _, layer in layers if isinstance(layer, VocabEmbedding)]
    hint = "Pass the vocabulary the model was trained with: --from REF (old_vocab=...)."
    if not recorded:
        listing = ", ".join(describe_layer(layer) for _, layer in layers)
        raise InputDataError(
            f"No Embedding of {model!r} records the vocabulary it was built from ({listing}), "
            f"so vocabguard cannot tell which one to migrate. {hint} "
            + received(model=model, old_vocab=None),
            cases=[model],
        )
    by_fingerprint = {layer.vocab_fingerprint: layer for layer in recorded}
    if len(by_fingerprint) > 1 and new_vocab.name:
        # Several vocabularies: the one of the same name as the target is being replaced.
        same = {
            fp: layer for fp, layer in by_fingerprint.items() if layer.vocab_name == new_vocab.name
        }
        by_fingerprint = same or by_fingerprint
    if len(by_fingerprint) > 1:
        listing = ", ".join(describe_layer(layer) for layer in by_fingerprint.values())
        raise InputDataError(
            f"The Embeddings of {model!r} record {len(by_fingerprint)} vocabularies ({listing}), "
            f"so which one {new_vocab.ref or 'the new vocabulary'} replaces is ambiguous. {hint} "
            + received(model=model, old_vocab=None),
            cases=[model],
        )
    layer = next(iter(by_fingerprint.values()))
    if layer.vocab_fingerprint == new_vocab.fingerprint:
        return new_vocab
    ref = layer.vocab_ref
    if ref is None or store is None:
        why = (
            "was never published (no name@version recorded)"
            if ref is None
            else "cannot be loaded without a store"
        )
        raise InputDataError(
            f"Layer {describe_layer(layer)} of {model!r} records vocabulary fingerprint "
            f"{layer.vocab_fingerprint[:12]}, which {why}. {hint} "
            + received(model=model, recorded_ref=ref),
            cases=[model],
        )
    try:
        old = store.load(ref)
    except VocabguardError as err:
        why = str(err).split(" Received: ")[0]  # one closing Received clause: ours
        raise StoreError(
            f"The model {model!r} was trained with {ref} (recorded by layer '{layer.name}'), but "
            f"it cannot be loaded from the store: {why} {hint} " + received(recorded_ref=ref),
            cases=[ref],
        ) from err
    if old.fingerprint != layer.vocab_fingerprint:
        raise VocabularyMismatchError(
            f"Layer '{layer.name}' of {model!r} records {ref} with fingerprint "
            f"{layer.vocab_fingerprint[:12]}, but {ref} in the store has fingerprint "
            f"{old.fingerprint[:12]} (another store, or the version was re-created). {hint} "
            + received(
                recorded_ref=ref,
                model_fingerprint=layer.vocab_fingerprint,
                store_fingerprint=old.fingerprint,
            ),
            model_fingerprint=layer.vocab_fingerprint,
            vocab_fingerprint=old.fingerprint,
        )
    return old


def _refuse_same(old: Any, new_vocab: Any, name: str, *, explicit: bool) -> None:
    """Migrating to the vocabulary the model already has is an error (nothing to do)."""
    old_name = old.ref or f"fingerprint {old.fingerprint[:12]}"
    if old.fingerprint == new_vocab.fingerprint:
        what = (
            f"The old and the new vocabulary are the same ({old_name})"
            if explicit
            else f"The model {name!r} was built from {old_name}, the vocabulary it would be "
            "migrated to"
        )
        raise InputDataError(
            f"{what}: nothing to migrate, and no output was written. Pass a newer version to "
            "--to. " + received(model=name, to=new_vocab.ref)
        )


def _plan_embeddings(
    found: ModelLayers, old: Any, new_vocab: Any, rows: RowMap, *, explicit: bool, model: str
) -> tuple[list[_Plan], list[str]]:
    """Plans for the Embeddings built from ``old`` and notes on those left unchanged; a
    layer recording ``old`` with another input_dim is refused. Plain Embeddings of
    ``old``'s input_dim are planned only when ``old`` was given (``explicit``)."""
    from vocabguard._src.engines.keras import VocabEmbedding

    name = model
    old_name = old.ref or f"fingerprint {old.fingerprint[:12]}"
    plans: list[_Plan] = []
    notes: list[str] = []
    for path, layer in found.embeddings:
        if isinstance(layer, VocabEmbedding):
            if layer.vocab_fingerprint != old.fingerprint:
                notes.append(
                    f"{path}: records another vocabulary "
                    f"({layer.vocab_ref or layer.vocab_fingerprint[:12]}); left unchanged"
                )
                continue
            if layer.input_dim != old.input_dim:
                raise VocabularyMismatchError(
                    f"Layer '{path}' of {name!r} records {old_name} but has input_dim "
                    f"{layer.input_dim}, not its {old.input_dim}: its rows do not line up with "
                    "the vocabulary's ids. Repair it first (vocabguard repair-model) or "
                    "rebuild it from the artifact. "
                    + received(layer=path, input_dim=layer.input_dim, old_input_dim=old.input_dim)
                )
        elif layer.input_dim != old.input_dim:
            notes.append(
                f"{path}: input_dim {layer.input_dim} is not {old_name}'s {old.input_dim}; "
                "left unchanged"
            )
            continue
        elif not explicit:
            notes.append(
                f"{path}: a {type(layer).__name__} of input_dim {layer.input_dim} that records no "
                f"vocabulary; left unchanged (pass --from {old.ref or 'REF'} to migrate it too)"
            )
            continue
        plans.append(plan_embedding(path, layer, new_vocab, rows))
    if not plans:
        listing = ", ".join(describe_layer(layer) for _, layer in found.embeddings)
        raise InputDataError(
            f"No Embedding of {name!r} was built from {old_name} (input_dim {old.input_dim}): "
            f"{listing}. Pass the vocabulary the model was trained with to --from. "
            + received(model=name, old_vocab=old.ref, old_fingerprint=old.fingerprint),
            cases=[name],
        )
    return plans, notes


def migrate_model(
    model_path: str | os.PathLike,
    new_vocab: Any,
    output: str | os.PathLike,
    *,
    old_vocab: Any | None = None,
    store: Any | None = None,
    init: str = "mean",
    seed: int | None = 0,
) -> MigrationResult:
    """Write ``output``: the model at ``model_path`` warm-started on ``new_vocab``.

    Args:
        model_path: a saved Keras model (``.keras``).
        new_vocab: the vocabulary to move to.
        output: the ``.keras`` file to create (never replaced).
        old_vocab: the vocabulary the model was trained with; default: the one
            its ``VocabEmbedding`` layers record, loaded from ``store``.
            Given explicitly, plain ``Embedding`` layers of its ``input_dim``
            are migrated too.
        store: a ``VocabStore`` to load the recorded vocabulary from.
        init: rows of new tokens: ``"mean"``, ``"zeros"`` or ``"normal"``.
        seed: for ``init="normal"``.

    Raises:
        OutputExistsError, ConfigError: ``output`` exists or is not a ``.keras`` path.
        InputDataError: the model cannot be loaded, no layer was built from the
            old vocabulary, the old and new vocabulary are the same, or the
            model cannot be rebuilt.
        StoreError, VocabularyMismatchError: the recorded vocabulary cannot be
            loaded, or differs from the store's.
    """
    from vocabguard._src.engines.keras import VocabEmbedding

    check_init(init)
    output = check_output(output)
    name = os.fspath(model_path)
    model = load_model(name)
    found = model_layers(model)
    if not found.embeddings:
        raise InputDataError(
            f"The model {name!r} has no Embedding layer, so there is nothing to migrate. Pass the "
            "model that embeds the vocabulary's ids. " + received(model=name),
            cases=[name],
        )
    explicit = old_vocab is not None
    if not explicit and not any(isinstance(layer, VocabEmbedding) for _, layer in found.embeddings):
        keras_lookups = lookup_layers(model)
        if keras_lookups:  # built on Keras' own lookup layers: re-point them and move rows
            return migrate_keras_lookups(
                model, name, found, keras_lookups, new_vocab, output, init=init, seed=seed
            )
    old = old_vocab if explicit else _recorded_vocab(found.embeddings, new_vocab, store, name)
    _refuse_same(old, new_vocab, name, explicit=explicit)
    rows = row_map(old, new_vocab)
    plans, notes = _plan_embeddings(found, old, new_vocab, rows, explicit=explicit, model=name)
    for path, layer in found.denses:
        if layer.units == old.input_dim:
            plans.append(plan_head(path, layer, rows))
    for path, layer in found.guards:
        if layer.input_dim == old.input_dim:
            plans.append(plan_guard(path, layer, new_vocab.input_dim))
    new_model = rebuild(model, plans, init, seed, name)
    embedded = [plan.path for plan in plans if plan.kind in (EMBEDDING, GUARD)]
    save_checked(new_model, output, lambda tmp: verify(tmp, new_vocab, embedded, output))
    return MigrationResult(
        model=name,
        output=output,
        old=_vocab_dict(old),
        new=_vocab_dict(new_vocab),
        init=init,
        seed=seed,
        layers=[plan.change() for plan in plans],
        notes=notes,
    )


# -- models on Keras' own lookup layers --


def _plain_values(values: Sequence) -> list:
    """``get_vocabulary()`` entries as ``str`` / ``int`` (Keras gives numpy scalars)."""
    out = [v.item() if hasattr(v, "item") else v for v in values]
    return [v.decode("utf-8") if isinstance(v, bytes) else v for v in out]


def keras_layout(layer: Any) -> tuple[list, Any, int]:
    """``(get_vocabulary(), mask_token, num_oov_indices)`` of a Keras lookup layer in int
    mode (``TextVectorization``: mask ``''``, one OOV index)."""
    values = _plain_values(layer.get_vocabulary())
    if type(layer).__name__ == "TextVectorization" or not hasattr(layer, "num_oov_indices"):
        return values, "", 1
    return values, layer.mask_token, layer.num_oov_indices


def keras_row_map(layer: Any, vocab: Any, old_input_dim: int) -> RowMap:
    """Where each row of ``vocab``'s Embedding comes from, for an Embedding fed by the Keras
    lookup ``layer``: by token (its pad row from the mask row, its OOV rows from the
    layer's OOV rows when the counts match, else their mean)."""
    values, mask, num_oov = keras_layout(layer)
    start = 0 if mask is None else 1
    old_oov = np.arange(start, start + num_oov, dtype=np.int64)
    ids = {value: i for i, value in enumerate(values) if i >= start + num_oov}
    source = np.full(vocab.input_dim, INIT, dtype=np.int64)
    if mask is not None:
        source[vocab.pad_id] = 0
    new_oov = np.asarray(vocab.oov_ids, dtype=np.int64)
    if num_oov == len(new_oov):  # same bucket count: same hash bucket (FarmHash % k)
        source[new_oov] = old_oov
    elif num_oov:
        source[new_oov] = OOV_MEAN
    first = vocab.layout.reserved_start
    for new_id, token in enumerate(vocab.token_bytes, start=first):
        old_id = ids.get(display_token(token))
        if old_id is not None and new_id not in vocab.retired:
            source[new_id] = old_id
    return RowMap(old_input_dim, source, np.array(sorted(ids.values()), dtype=np.int64), old_oov)


def plan_lookup(path: str, layer: Any, vocab: Any, model_name: str) -> _Plan:
    """Re-point a Keras lookup layer at ``vocab``'s ids.

    ``TextVectorization`` keeps its class and text handling (standardize, split, n-grams,
    sequence length): its int ids (mask 0, OOV 1, then its vocabulary) are vocabguard's
    when the vocabulary has one OOV id. ``StringLookup`` / ``IntegerLookup`` become
    ``vocabguard.keras.string_lookup(vocab)`` under the same name.
    """
    from vocabguard._src.engines.keras import string_lookup

    kind = type(layer).__name__
    integer = vocab.token_type == INT64
    if (kind == "IntegerLookup") != integer:
        raise InputDataError(
            f"Layer '{path}' of {model_name!r} is a {kind}, but {vocab.ref or 'the vocabulary'} "
            f"holds {vocab.token_type} tokens; its ids cannot stand for the layer's values. "
            "Import the layer's own vocabulary (vocabguard import MODEL --format keras-model). "
            + received(layer=path, token_type=vocab.token_type),
            cases=[path],
        )
    if kind == "TextVectorization":
        if vocab.num_oov_buckets != 1:
            raise InputDataError(
                f"Layer '{path}' of {model_name!r} is a TextVectorization, which has one OOV "
                f"id, but {vocab.ref or 'the vocabulary'} has {vocab.num_oov_buckets}. Migrate "
                "to a vocabulary with num_oov_buckets 1. "
                + received(layer=path, num_oov_buckets=vocab.num_oov_buckets),
                cases=[path],
            )
        tokens = [display_token(t) for t in vocab.lookup_keys]
        if any(not isinstance(t, str) for t in tokens):
            raise InputDataError(
                f"{vocab.ref or 'The vocabulary'} holds tokens that are not UTF-8 text (or "
                f"retired rows), which a TextVectorization cannot hold. " + received(layer=path),
                cases=[path],
            )
        config = dict(layer.get_config())
        config.update(vocabulary=tokens, max_tokens=None, vocabulary_size=None)
        return _Plan(path, layer, LOOKUP, type(layer), config, None, vocab.input_dim)
    new = string_lookup(vocab, name=layer.name)
    return _Plan(path, layer, LOOKUP, type(new), new.get_config(), None, vocab.input_dim)


def _fed_embeddings(layer: Any, embeddings: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The Embeddings that take ``layer``'s ids: those whose input comes from it in the
    graph, else (no graph) those with at least its vocabulary size rows."""
    fed = []
    for path, embedding in embeddings:
        for node in getattr(embedding, "_inbound_nodes", []):
            for tensor in getattr(node, "input_tensors", []):
                history = getattr(tensor, "_keras_history", None)
                if history is not None and history[0] is layer:
                    fed.append((path, embedding))
    if fed:
        return list(dict(fed).items())
    size = layer.vocabulary_size()
    return [(p, e) for p, e in embeddings if e.input_dim >= size]


def _chosen_lookup(lookups: list[tuple[str, Any]], new_vocab: Any, name: str) -> tuple[str, Any]:
    """The lookup layer sharing the most tokens with ``new_vocab``: ``(path, layer)``;
    none sharing a token, or a tie, is an error."""
    wanted = {display_token(t) for t in new_vocab.token_bytes}
    shared = [
        (sum(1 for v in keras_layout(layer)[0] if v in wanted), path, layer)
        for path, layer in lookups
    ]
    best = max(count for count, _, _ in shared)
    chosen = [(path, layer) for count, path, layer in shared if count == best]
    listing = ", ".join(f"'{p}' ({type(layer).__name__})" for p, layer in lookups)
    if best == 0:
        raise InputDataError(
            f"No lookup layer of {name!r} ({listing}) shares a token with "
            f"{new_vocab.ref or 'the vocabulary'}, so no trained row can be kept. Import the "
            f"layer's vocabulary first: vocabguard import {name} --format keras-model. "
            + received(model=name, to=new_vocab.ref),
            cases=[name],
        )
    if len(chosen) > 1:
        raise InputDataError(
            f"The lookup layers {', '.join(p for p, _ in chosen)} of {name!r} share "
            f"{best} tokens each with {new_vocab.ref or 'the vocabulary'}, so which one it "
            "replaces is ambiguous. Migrate a model with one lookup layer per vocabulary. "
            + received(model=name, to=new_vocab.ref),
            cases=[name],
        )
    return chosen[0]


def migrate_keras_lookups(
    model: Any,
    name: str,
    found: ModelLayers,
    lookups: list[tuple[str, Any]],
    new_vocab: Any,
    output: str,
    *,
    init: str = "mean",
    seed: int | None = 0,
) -> MigrationResult:
    """``migrate_model`` for a model built on Keras' ``StringLookup`` / ``IntegerLookup`` /
    ``TextVectorization`` + ``Embedding``: each lookup is re-pointed at ``new_vocab``'s ids
    and each Embedding it feeds becomes a guarded ``VocabEmbedding`` whose rows moved with
    their tokens (``keras_row_map``). Another lookup layer is left unchanged.

    Which lookup: the one sharing the most tokens with ``new_vocab`` (ties are an error).
    """
    path, layer = _chosen_lookup(lookups, new_vocab, name)
    embeddings = _fed_embeddings(layer, found.embeddings)
    if not embeddings:
        raise InputDataError(
            f"No Embedding of {name!r} takes the ids of lookup layer '{path}' "
            f"(vocabulary size {layer.vocabulary_size()}), so there are no rows to move. "
            + received(model=name, layer=path),
            cases=[name],
        )
    plans = [plan_lookup(path, layer, new_vocab, name)]
    old_dim = max(embedding.input_dim for _, embedding in embeddings)
    notes = []
    for epath, embedding in embeddings:
        rows = keras_row_map(layer, new_vocab, embedding.input_dim)
        if embedding.input_dim > layer.vocabulary_size():
            notes.append(
                f"{epath}: input_dim {embedding.input_dim} exceeds the lookup's vocabulary "
                f"size {layer.vocabulary_size()}; its extra rows were never used and are dropped"
            )
        plans.append(plan_embedding(epath, embedding, new_vocab, rows))
    for dpath, dense in found.denses:
        if dense.units == old_dim:
            plans.append(plan_head(dpath, dense, keras_row_map(layer, new_vocab, old_dim)))
    new_model = rebuild(model, plans, init, seed, name)
    embedded = [plan.path for plan in plans if plan.kind == EMBEDDING]
    save_checked(new_model, output, lambda tmp: verify(tmp, new_vocab, embedded, output))
    values = keras_layout(layer)[0]
    digest = hashlib.sha256(json.dumps(values, ensure_ascii=True).encode()).hexdigest()
    old = {
        "ref": f"{type(layer).__name__} '{path}'",
        "fingerprint": digest,
        "input_dim": layer.vocabulary_size(),
    }
    return MigrationResult(
        model=name,
        output=output,
        old=old,
        new=_vocab_dict(new_vocab),
        init=init,
        seed=seed,
        layers=[plan.change() for plan in plans],
        notes=notes,
    )


# -- output --


def _vocab_line(label: str, vocab: dict) -> str:
    return (
        f"{label}{vocab['ref'] or 'unpublished'}  input_dim {vocab['input_dim']}  "
        f"fingerprint {vocab['fingerprint'][:12]}"
    )


def format_changes(layers: Sequence[LayerChange], unit: str = "rows") -> list[str]:
    """The table of resized layers (shared with ``repair-model``)."""
    header = ("layer", "class", "input_dim", f"kept {unit}", "initialized", "dropped")
    table = []
    for layer in layers:
        rows = layer.rows
        kept = "-" if rows is None else str(rows.kept)
        if rows is not None and rows.averaged:
            kept += f" (+{rows.averaged} OOV averaged)"
        table.append(
            (
                layer.name + (" (head)" if layer.kind == HEAD else ""),
                layer.cls,
                f"{layer.old_input_dim} -> {layer.new_input_dim}",
                kept,
                "-" if rows is None else str(rows.initialized),
                "-" if rows is None else str(rows.dropped),
            )
        )
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in [header, *table]
    ]


def format_migration(result: MigrationResult) -> str:
    """The human-readable ``migrate-model`` report."""
    lines = [
        f"model  {result.model} -> {result.output}",
        _vocab_line("from   ", result.old),
        _vocab_line("to     ", result.new),
        f"init   {result.init}" + (f" (seed {result.seed})" if result.init == "normal" else ""),
        "",
        *format_changes(result.layers),
    ]
    if result.notes:
        lines.append("")
        lines.extend(f"note: {note}" for note in result.notes)
    embeddings = sum(1 for layer in result.layers if layer.kind == EMBEDDING)
    heads = sum(1 for layer in result.layers if layer.kind == HEAD)
    parts = [f"{embeddings} Embedding{'' if embeddings == 1 else 's'}"]
    if heads:
        parts.append(f"{heads} output head{'' if heads == 1 else 's'}")
    lines += [
        "",
        f"OK: {' and '.join(parts)} migrated; {result.output} records "
        f"{result.new['ref'] or 'the new vocabulary'} (fingerprint "
        f"{result.new['fingerprint'][:12]}) and passes check-model against it.",
    ]
    return "\n".join(lines)


__all__ = [
    "LayerChange",
    "MigrationResult",
    "ModelLayers",
    "check_output",
    "format_changes",
    "format_migration",
    "keras_row_map",
    "migrate_keras_lookups",
    "migrate_model",
    "model_layers",
    "rebuild",
    "save_checked",
    "verify",
]
