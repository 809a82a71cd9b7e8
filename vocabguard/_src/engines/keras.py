"""Keras layers sized and filled from a vocabulary artifact, and the id guard in models.

``embedding(vocab, output_dim)`` returns a ``VocabEmbedding``: a Keras
``Embedding`` whose ``input_dim`` comes from the artifact, that records the
vocabulary's fingerprint (saved with the model) and checks every id before the
gather. ``string_lookup(vocab)`` returns a Keras lookup layer that gives exactly
vocabguard's ids. ``load_model(path, vocab)`` loads a model and checks that it
was built from ``vocab``.

>>> import vocabguard
>>> vocab = vocabguard.build_vocabulary(["a b b"], vocabguard.VocabSpec(), progress=False)
>>> layer = embedding(vocab, 8)
>>> layer.input_dim, layer.mask_zero, layer.guard
(4, True, 'raise')
>>> layer.vocab_fingerprint == vocab.fingerprint
True

The guard, by backend and mode (``guard="raise"`` is the default):

- eager (any backend): ``IdRangeError`` naming the first offending id, its
  position and ``input_dim``;
- TensorFlow graph (``tf.function``, Keras ``fit``/``predict``): the same text
  as ``tf.errors.InvalidArgumentError``. XLA would drop the check, so a
  ``"raise"`` guard marks its layer ``supports_jit=False`` and Keras runs the
  model without XLA (warning "Model doesn't support `jit_compile=True`");
  tracing it inside your own ``tf.function(jit_compile=True)`` is a ``ConfigError``;
- JAX under ``jax.jit`` (Keras' compiled steps): a host callback raises, and
  JAX reports it as ``jax.errors.JaxRuntimeError`` whose text contains our message;
- ``guard="count"``: works inside any compiled code (XLA included): offending
  ids become the pad id 0 for that step and are counted in non-trainable
  variables; ``IdGuardCallback`` raises ``IdRangeError`` after the batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np

from vocabguard._src.core.errors import (
    ConfigError,
    IdRangeError,
    VocabguardError,
    VocabularyMismatchError,
    received,
)
from vocabguard._src.core.guard import guard_ids
from vocabguard._src.core.vocabulary import INT64, Vocabulary, display_token

GUARD_MODES = ("raise", "count")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _check_mode(mode: str | None, argument: str, allow_none: bool) -> str | None:
    allowed = (*GUARD_MODES, None) if allow_none else GUARD_MODES
    if mode not in allowed:
        raise ConfigError(
            f"`{argument}` must be one of {', '.join(repr(m) for m in allowed)}: 'raise' fails on "
            "the first out-of-range id, 'count' replaces such ids by the pad id 0 and counts them "
            "(for XLA; pair it with IdGuardCallback)"
            + (", None disables the guard" if allow_none else "")
            + ". "
            + received(**{argument: mode})
        )
    return mode


def _raise_supports_jit() -> bool:
    """Whether a ``"raise"`` guard can run under the backend's JIT.

    TF's XLA silently drops assertions, so the layer must opt out of XLA there;
    JAX host callbacks raise fine inside ``jax.jit``.
    """
    return keras.backend.backend() != "tensorflow"


def _host_check(ids: np.ndarray, *, input_dim: int) -> None:
    guard_ids(np.asarray(ids), input_dim)


def guard_tensor(ids: Any, input_dim: int, *, name: str = "id_guard") -> Any:
    """Return ``ids`` unchanged if all lie in ``[0, input_dim)``; raise otherwise.

    Works on the current Keras backend's tensors, eager or traced (see the
    module docstring for what is raised where).

    >>> keras.ops.convert_to_numpy(guard_tensor(keras.ops.convert_to_tensor([0, 126]), 127))
    array([  0, 126], dtype=int32)
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from vocabguard._src.engines import tf as vtf

        return vtf.guard_ids(ids, input_dim, name=name)
    if backend == "jax":
        import jax

        if isinstance(ids, jax.core.Tracer):
            # The callback runs on the host with concrete ids when the compiled
            # step executes; an exception there fails the step.
            jax.debug.callback(functools.partial(_host_check, input_dim=int(input_dim)), ids)
            return ids
    guard_ids(keras.ops.convert_to_numpy(ids), input_dim)
    return ids


@keras.saving.register_keras_serializable(package="vocabguard")
class IdGuard(keras.layers.Layer):
    """Checks that integer ids lie in ``[0, input_dim)``; put it before an ``Embedding``.

    Args:
        input_dim: the ``Embedding``'s ``input_dim``.
        mode: ``"raise"``: fail on the first out-of-range or negative id
            (``IdRangeError`` eagerly; inside compiled steps see the module
            docstring). ``"count"``: replace such ids by the pad id 0 and count
            them in non-trainable variables (``violations``, ``min_bad_id``,
            ``max_bad_id``), which works under XLA; add ``IdGuardCallback()``
            to ``fit``/``evaluate``/``predict`` to raise after the batch.

    >>> guard = IdGuard(127)
    >>> guard(keras.ops.convert_to_tensor([[3, 127]]))
    Traceback (most recent call last):
    ...
    vocabguard.errors.IdRangeError: Id 127 at position [0, 1] is not in [0, 127): ...
    >>> counting = IdGuard(127, mode="count")
    >>> keras.ops.convert_to_numpy(counting(keras.ops.convert_to_tensor([[3, 127]]))).tolist()
    [[3, 0]]
    >>> counting.counts()
    {'violations': 1, 'min_bad_id': 127, 'max_bad_id': 127}
    """

    def __init__(self, input_dim: int, mode: str = "raise", **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)):
            raise ConfigError(
                "IdGuard's input_dim must be a positive integer (the Embedding's input_dim). "
                + received(input_dim=input_dim)
            )
        if input_dim < 1:
            raise ConfigError(
                "IdGuard's input_dim must be a positive integer (the Embedding's input_dim). "
                + received(input_dim=input_dim)
            )
        self.input_dim = int(input_dim)
        self.mode = _check_mode(mode, "mode", allow_none=False)
        self.supports_masking = True  # the input mask passes through unchanged
        self.autocast = False
        if self.mode == "raise" and not _raise_supports_jit():
            # Keras then runs the whole model without XLA (a warning says so):
            # the assertion only fires outside XLA.
            self.supports_jit = False

    def build(self, input_shape: Any = None) -> None:
        if self.mode == "count":
            # int32 on every backend (JAX has no int64 without x64 mode).
            def counter(name: str, value: int) -> keras.Variable:
                return self.add_weight(
                    shape=(),
                    dtype="int32",
                    initializer=keras.initializers.Constant(value),
                    trainable=False,
                    name=name,
                )

            self.violations = counter("violations", 0)
            self.min_bad_id = counter("min_bad_id", _INT32_MAX)
            self.max_bad_id = counter("max_bad_id", _INT32_MIN)
        self.built = True

    def call(self, inputs: Any) -> Any:
        ids = inputs
        if "int" not in keras.backend.standardize_dtype(ids.dtype):
            ids = keras.ops.cast(ids, "int32")  # what Embedding does with float ids
        if self.mode == "raise":
            try:
                return guard_tensor(ids, self.input_dim, name=self.name)
            except VocabguardError as err:
                # Keras re-creates errors raised in call() as `type(err)(message)`
                # with the arguments appended, dropping `cases` and `input_dim`;
                # this flag makes it re-raise ours unchanged.
                err._keras_call_info_injected = True
                raise
        return self._count(ids)

    def _count(self, ids: Any) -> Any:
        ops = keras.ops
        bad = ops.logical_or(ops.less(ids, 0), ops.greater_equal(ids, self.input_dim))
        # Clip before the cast so ids beyond int32 do not wrap into range.
        ids32 = ops.cast(ops.clip(ids, _INT32_MIN, _INT32_MAX), "int32")
        self.violations.assign_add(ops.sum(ops.cast(bad, "int32")))
        low = ops.min(ops.where(bad, ids32, _INT32_MAX), initial=_INT32_MAX)
        high = ops.max(ops.where(bad, ids32, _INT32_MIN), initial=_INT32_MIN)
        self.min_bad_id.assign(ops.minimum(self.min_bad_id, low))
        self.max_bad_id.assign(ops.maximum(self.max_bad_id, high))
        return ops.where(bad, ops.zeros_like(ids), ids)

    def counts(self) -> dict[str, int]:
        """The counters of a ``mode="count"`` guard as Python ints (empty before use)."""
        if self.mode != "count" or not self.built:
            return {}
        return {
            name: int(keras.ops.convert_to_numpy(getattr(self, name)))
            for name in ("violations", "min_bad_id", "max_bad_id")
        }

    def reset_counts(self) -> None:
        """Set the counters of a ``mode="count"`` guard back to "nothing seen"."""
        if self.mode == "count" and self.built:
            self.violations.assign(0)
            self.min_bad_id.assign(_INT32_MAX)
            self.max_bad_id.assign(_INT32_MIN)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any) -> Any:
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        return keras.KerasTensor(inputs.shape, dtype=dtype if "int" in dtype else "int32")

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim, "mode": self.mode}


@keras.saving.register_keras_serializable(package="vocabguard")
class VocabEmbedding(keras.layers.Embedding):
    """A ``keras.layers.Embedding`` that remembers its vocabulary and guards its ids.

    Build it with ``embedding(vocab, output_dim)``. ``vocab_fingerprint``,
    ``vocab_name`` and ``vocab_version`` are saved in the model's config, so a
    loaded model can be checked against a vocabulary (``check_vocabulary``).
    ``guard``: ``"raise"`` (default), ``"count"`` (XLA speed, with
    ``IdGuardCallback``) or ``None`` (no check), as for ``IdGuard``.

    >>> layer = VocabEmbedding(5, 2, vocab_fingerprint="ab12")
    >>> layer(keras.ops.convert_to_tensor([[1, 5]]))
    Traceback (most recent call last):
    ...
    vocabguard.errors.IdRangeError: Id 5 at position [0, 1] is not in [0, 5): ...
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        *,
        vocab_fingerprint: str,
        vocab_name: str | None = None,
        vocab_version: int | None = None,
        guard: str | None = "raise",
        mask_zero: bool = True,
        **kwargs: Any,
    ):
        super().__init__(input_dim, output_dim, mask_zero=mask_zero, **kwargs)
        self.vocab_fingerprint = vocab_fingerprint
        self.vocab_name = vocab_name
        self.vocab_version = vocab_version
        self.guard = _check_mode(guard, "guard", allow_none=True)
        # A sublayer, so "count" variables are saved and restored with the model.
        self.id_guard = (
            IdGuard(input_dim, mode=self.guard, name=f"{self.name}_id_guard") if guard else None
        )
        if self.id_guard is not None and not self.id_guard.supports_jit:
            self.supports_jit = False
        if self.built and self.id_guard is not None:  # Embedding built itself (weights=)
            self.id_guard.build()

    @property
    def vocab_ref(self) -> str | None:
        """``name@vN`` of the recorded vocabulary, when it was published."""
        if self.vocab_name and self.vocab_version:
            return f"{self.vocab_name}@v{self.vocab_version}"
        return None

    def build(self, input_shape: Any = None) -> None:
        if self.id_guard is not None and not self.id_guard.built:
            self.id_guard.build(input_shape)
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        if self.id_guard is not None:
            inputs = self.id_guard(inputs)
        return super().call(inputs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        mask = super().compute_mask(inputs, mask)
        if mask is not None and self.guard == "count":
            # Offending ids were replaced by the pad id: mask them like padding.
            mask = keras.ops.logical_and(mask, keras.ops.less(inputs, self.input_dim))
        return mask

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_fingerprint": self.vocab_fingerprint,
            "vocab_name": self.vocab_name,
            "vocab_version": self.vocab_version,
            "guard": self.guard,
        }


def _guards(layer: keras.layers.Layer) -> list[IdGuard]:
    return [sub for sub in _all_layers(layer) if isinstance(sub, IdGuard)]


def _all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    # _flatten_layers is what Keras itself uses to find every sublayer, nested
    # models included; it has no public equivalent.
    return list(model._flatten_layers(include_self=True, recursive=True))


class IdGuardCallback(keras.callbacks.Callback):
    """Raise ``IdRangeError`` after the first batch in which a counting guard saw bad ids.

    Use it with ``IdGuard(mode="count")`` or ``embedding(vocab, ..., guard="count")``,
    the guard that works under XLA: the step itself cannot raise there, so the
    offending ids were replaced by the pad id 0 and counted; this callback reads
    the counters after each train/test/predict batch (a small device-to-host
    read) and stops at the first batch that added to them. With
    ``steps_per_execution > 1`` it sees a group of batches at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[int, int] = {}

    def _counting_guards(self) -> list[IdGuard]:
        return [g for g in _guards(self.model) if g.mode == "count" and g.built]

    def _baseline(self, logs: Any = None) -> None:
        self._seen = {id(g): g.counts()["violations"] for g in self._counting_guards()}

    on_train_begin = on_test_begin = on_predict_begin = _baseline

    def _check(self, phase: str, batch: int) -> None:
        for guard in self._counting_guards():
            counts = guard.counts()
            before = self._seen.get(id(guard), 0)
            if counts["violations"] > before:
                self._seen[id(guard)] = counts["violations"]
                raise counting_error(guard, counts, counts["violations"] - before, phase, batch)

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self._check("train", batch)

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        self._check("test", batch)

    def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
        self._check("predict", batch)


def counting_error(
    guard: IdGuard, counts: Mapping[str, int], new: int, phase: str, batch: int
) -> IdRangeError:
    """The ``IdRangeError`` for ids a ``mode="count"`` guard replaced in a batch."""
    low, high = counts["min_bad_id"], counts["max_bad_id"]
    dim = guard.input_dim
    return IdRangeError(
        f"{new} ids outside [0, {dim}) reached layer '{guard.name}' in {phase} batch {batch} "
        f"(ids {low}..{high} seen out of range since the counters were reset); the guard "
        "(mode='count') replaced them by the pad id 0, so this step ran on padding instead. "
        f"An Embedding(input_dim={dim}) would raise on CPU, return a zero row on GPU, or clamp "
        "to the last row under XLA. Build the Embedding from the vocabulary artifact "
        "(vocabguard.keras.embedding(vocab, ...)) or re-encode the data with the vocabulary it "
        "was built with. "
        + received(input_dim=dim, num_bad=new, min_bad_id=low, max_bad_id=high, batch=batch),
        cases=[(None, low), (None, high)],
        input_dim=dim,
        num_bad=new,
        layer=guard.name,
    )


def embedding(
    vocab: Vocabulary,
    output_dim: int,
    *,
    mask_zero: bool = True,
    guard: str | None = "raise",
    **kwargs: Any,
) -> VocabEmbedding:
    """A ``VocabEmbedding`` whose ``input_dim`` is ``vocab.input_dim``.

    ``mask_zero`` defaults to True because id 0 is always padding. Passing an
    ``input_dim`` that disagrees with the artifact is an error naming both.
    The layer records the vocabulary's fingerprint, name and version.
    """
    requested = kwargs.pop("input_dim", vocab.input_dim)
    if requested != vocab.input_dim:
        raise ConfigError(
            f"input_dim comes from the vocabulary artifact ({vocab.input_dim} for "
            f"{vocab.ref or 'this vocabulary'}); remove input_dim from the layer arguments. "
            + received(input_dim=requested, artifact_input_dim=vocab.input_dim)
        )
    kwargs.setdefault("name", f"{vocab.name}_embedding" if vocab.name else None)
    return VocabEmbedding(
        input_dim=vocab.input_dim,
        output_dim=output_dim,
        vocab_fingerprint=vocab.fingerprint,
        vocab_name=vocab.name,
        vocab_version=vocab.version,
        guard=guard,
        mask_zero=mask_zero,
        **kwargs,
    )


def vocab_layers(model: keras.layers.Layer) -> list[VocabEmbedding]:
    """Every ``VocabEmbedding`` in ``model``, nested layers and models included."""
    return [layer for layer in _all_layers(model) if isinstance(layer, VocabEmbedding)]


def _describe(name: str | None, version: int | None, fingerprint: str, input_dim: int) -> str:
    ref = f"{name}@v{version}" if name and version else (name or "an unpublished vocabulary")
    return f"{ref} (fingerprint {fingerprint[:12]}, input_dim {input_dim})"


def _mismatch(layer: VocabEmbedding, vocab: Vocabulary) -> VocabularyMismatchError:
    built_from = _describe(
        layer.vocab_name, layer.vocab_version, layer.vocab_fingerprint, layer.input_dim
    )
    given = _describe(vocab.name, vocab.version, vocab.fingerprint, vocab.input_dim)
    fix = f"load {layer.vocab_name}@{layer.vocab_fingerprint[:12]}" if layer.vocab_name else "it"
    return VocabularyMismatchError(
        f"Layer '{layer.name}' was built from vocabulary {built_from}, but the given vocabulary "
        f"is {given}: ids encoded with it would index the wrong embedding rows. Expected the "
        f"same fingerprint. Encode the data with the model's vocabulary ({fix}), or retrain "
        "the model with the new one. "
        + received(
            layer=layer.name,
            model_fingerprint=layer.vocab_fingerprint,
            vocab_fingerprint=vocab.fingerprint,
            model_input_dim=layer.input_dim,
            vocab_input_dim=vocab.input_dim,
        ),
        layer=layer.name,
        model_fingerprint=layer.vocab_fingerprint,
        vocab_fingerprint=vocab.fingerprint,
    )


def check_vocabulary(
    model: keras.layers.Layer, vocab: Vocabulary | Iterable[Vocabulary]
) -> list[VocabEmbedding]:
    """Check that ``model`` was built from ``vocab`` (or from each of several vocabularies).

    A vocabulary matches when some ``VocabEmbedding`` records its fingerprint;
    every layer that records the vocabulary's name must record its fingerprint.
    Raises ``VocabularyMismatchError`` naming both fingerprints, both
    ``input_dim``\\ s and the layer, or when the model records no vocabulary.
    Returns the layers that matched.

    >>> import vocabguard
    >>> vocab = vocabguard.build_vocabulary(["a b b"], vocabguard.VocabSpec(), progress=False)
    >>> model = keras.Sequential([embedding(vocab, 4, name="words")])
    >>> [layer.name for layer in check_vocabulary(model, vocab)]
    ['words']
    """
    vocabs = [vocab] if isinstance(vocab, Vocabulary) else list(vocab)
    layers = vocab_layers(model)
    if not layers:
        raise VocabularyMismatchError(
            f"Model '{model.name}' has no VocabEmbedding layer, so it records no vocabulary and "
            "cannot be checked. Expected embeddings built with vocabguard.keras.embedding(vocab, "
            "...). Rebuild the model's embeddings with it (weights can be copied over). "
            + received(
                model=model.name, vocab_fingerprint=vocabs[0].fingerprint if vocabs else None
            )
        )
    matched = []
    for v in vocabs:
        same_name = [layer for layer in layers if v.name and layer.vocab_name == v.name]
        for layer in same_name:
            if layer.vocab_fingerprint != v.fingerprint:
                raise _mismatch(layer, v)
        hits = [layer for layer in layers if layer.vocab_fingerprint == v.fingerprint]
        if not hits:
            if len(layers) == 1:
                raise _mismatch(layers[0], v)
            recorded = "; ".join(
                f"'{layer.name}': "
                + _describe(
                    layer.vocab_name, layer.vocab_version, layer.vocab_fingerprint, layer.input_dim
                )
                for layer in layers
            )
            raise VocabularyMismatchError(
                "No layer of the model was built from vocabulary "
                f"{_describe(v.name, v.version, v.fingerprint, v.input_dim)}; its layers record "
                f"{recorded}. Expected one of them to record the same fingerprint. Encode the "
                "data with the model's vocabulary or retrain the model with the new one. "
                + received(
                    vocab_fingerprint=v.fingerprint,
                    model_fingerprints=[layer.vocab_fingerprint for layer in layers],
                ),
                vocab_fingerprint=v.fingerprint,
            )
        matched.extend(layer for layer in hits if layer not in matched)
    return matched


def load_model(
    path: str,
    vocab: Vocabulary | Iterable[Vocabulary] | None = None,
    *,
    compile: bool = True,
    safe_mode: bool = True,
) -> keras.Model:
    """``keras.saving.load_model`` with vocabguard's layers registered, then ``check_vocabulary``.

    Without ``vocab`` the model is only loaded; its ``vocab_layers`` still
    record which vocabulary each embedding was built from.
    """
    model = keras.saving.load_model(path, compile=compile, safe_mode=safe_mode)
    if vocab is not None:
        check_vocabulary(model, vocab)
    return model


@keras.saving.register_keras_serializable(package="vocabguard")
class IntegerValueLookup(keras.layers.IntegerLookup):
    """``keras.layers.IntegerLookup`` that refuses floats and uint64 values past int64.

    Keras' own layer casts its input to int64: 2.9 would be token 2 and 2**64 - 1
    token -1. Every vocabguard path (numpy, tf.data, this layer) makes them errors.
    """

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, (np.ndarray, list, tuple)):
            import tensorflow as tf

            # Keras casts numpy input to the layer's int64 before `call` sees its dtype.
            inputs = tf.convert_to_tensor(np.asarray(inputs))
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf

        from vocabguard._src.engines.tf import integer_values

        if isinstance(inputs, tf.RaggedTensor):
            return super().call(inputs.with_flat_values(integer_values(inputs.flat_values)))
        if isinstance(inputs, tf.SparseTensor):
            return super().call(inputs)
        return super().call(integer_values(inputs))


def string_lookup(vocab: Vocabulary, **kwargs: Any) -> keras.layers.Layer:
    """A Keras lookup layer with vocabguard's ids.

    String vocabularies give ``StringLookup(mask_token=pad, oov_token=oov,
    num_oov_indices=k, vocabulary=[reserved..., learned...])``; integer ones give
    the matching ``IntegerLookup``. The tokens are passed in memory, not as a
    file path, so the layer keeps working after the store moves and every byte
    string survives (a ``vocab.txt`` cannot hold tokens with line breaks).

    ``output_mode="multi_hot"|"count"|"tf_idf"`` gives the rows of
    ``vocabguard.output_modes.encode`` (Keras drops the mask column there too);
    ``tf_idf`` takes its ``idf_weights`` from the document counts the build recorded.
    """
    if kwargs.get("output_mode", "int") == "tf_idf" and "idf_weights" not in kwargs:
        from vocabguard._src.core.output_modes import token_idf

        # The tokens' IDFs; Keras gives the OOV columns their mean, as vocabguard does.
        kwargs["idf_weights"] = token_idf(vocab).astype("float32")
    mask = vocab.pad_token
    if mask is None:
        # The pad is the id 0 only; Keras needs a mask value to keep that layout, so
        # it gets a value no token holds (numpy and tf.data map it to OOV; Keras to 0).
        from vocabguard._src.core.vocabulary import free_integer

        mask = free_integer(vocab.token_array)
    common = dict(
        mask_token=mask,
        oov_token=vocab.oov_token,
        num_oov_indices=vocab.num_oov_buckets,
        **kwargs,
    )
    if vocab.token_type == INT64:
        return IntegerValueLookup(vocabulary=vocab.token_bytes, **common)
    undecodable = [t for t in vocab.token_bytes if isinstance(display_token(t), bytes)]
    if undecodable:
        # StringLookup keeps such tokens in memory, but model.save writes its vocabulary
        # as UTF-8 text and fails (UnicodeDecodeError): refuse before a model is built.
        raise ConfigError(
            f"Vocabulary {vocab.ref or '(unpublished)'} holds {len(undecodable):,} token(s) "
            f"that are not valid UTF-8 (first: {undecodable[0]!r:.60}); a Keras StringLookup "
            "over them works in memory but cannot be saved (.keras files store its vocabulary "
            "as UTF-8 text). Map ids with vocabguard.tf.lookup_fn(vocab) or encode_fn(vocab) "
            "(tf.lookup tables hold any bytes), or rebuild the vocabulary from UTF-8 input. "
            + received(tokens=len(undecodable), first=undecodable[0])
        )
    # lookup_keys: a retired row holds a key no text can produce, so it maps to OOV.
    keys = vocab.lookup_keys
    tokens = [display_token(t) for t in keys]
    if any(isinstance(t, bytes) for t in tokens):
        tokens = np.array(keys, dtype=object)
    return keras.layers.StringLookup(vocabulary=tokens, **common)
