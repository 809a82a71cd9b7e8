"""Serving export: a TF SavedModel that takes raw strings and carries its vocabulary.

``export_serving(model, vocab, directory, labels=...)`` saves a ``tf.Module``
holding the vocabulary's ``tf.data`` encoder (``vocabguard.tf.Encoder``: the
tokenizer and the ``tf.lookup`` table, stored in the SavedModel itself) and the
Keras model. Its ``serving_default`` signature maps ``texts: tf.string[None]``
to ``{"probabilities": float32[None, n_classes], "label": string[None]}``. The
vocabulary's ``manifest.json`` is copied into the SavedModel's ``assets/``, and
the loaded object carries ``vocab_fingerprint``, ``vocab_ref``, ``input_dim``
and ``labels``; nothing refers back to the vocabulary store.

>>> import tempfile, keras, vocabguard
>>> store = vocabguard.VocabStore(tempfile.mkdtemp())
>>> spec = vocabguard.VocabSpec(sequence_length=4)
>>> vocab = store.publish(vocabguard.build_vocabulary(["a b", "c"], spec, progress=False), "doc")
>>> model = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(
...     vocab.input_dim, 2), keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
>>> path = export_serving(model, vocab, tempfile.mkdtemp() + "/serving", labels=["x", "y"])
>>> served = load_serving(path)
>>> served.vocab_ref.numpy(), int(served.input_dim), sorted(predict(served, ["a c"]))
(b'doc@v1', 5, ['label', 'probabilities'])
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import tensorflow as tf

from vocabguard._src.core.errors import ArtifactError, ConfigError, OutputExistsError, received
from vocabguard._src.core.vocabulary import Vocabulary
from vocabguard._src.engines.tf import Encoder

MANIFEST_ASSET = "manifest.json"
SIGNATURE = "serving_default"


class ServingModule(tf.Module):
    """Raw strings in, class probabilities and label names out (see the module docstring)."""

    def __init__(self, model, vocab: Vocabulary, labels: Sequence[str], manifest_path: str):
        super().__init__(name="vocabguard_serving")
        self.encoder = Encoder(vocab)
        self.model = model
        # Variables (not Python attributes) so they survive tf.saved_model.load.
        self.labels = tf.Variable(list(labels), dtype=tf.string, trainable=False, name="labels")
        self.vocab_fingerprint = tf.Variable(vocab.fingerprint, trainable=False, name="fingerprint")
        self.vocab_ref = tf.Variable(vocab.ref or "", trainable=False, name="vocab_ref")
        self.input_dim = tf.Variable(vocab.input_dim, dtype=tf.int64, trainable=False)
        # Copied into assets/ by tf.saved_model.save; `manifest.asset_path` after loading.
        self.manifest = tf.saved_model.Asset(manifest_path)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(self, texts: tf.Tensor) -> dict[str, tf.Tensor]:
        ids = self.encoder(texts)
        if isinstance(ids, tf.RaggedTensor):  # no sequence_length: pad to the longest text
            ids = ids.to_tensor(default_value=0)
        probabilities = self.model(ids, training=False)
        label = tf.gather(self.labels, tf.argmax(probabilities, axis=-1))
        return {"probabilities": probabilities, "label": label}


def export_serving(
    model, vocab: Vocabulary, directory: str | os.PathLike, *, labels: Sequence[str]
) -> str:
    """Save a raw-string SavedModel of ``model`` with ``vocab``'s encoder inside; return its path.

    ``vocab`` must be a published version (loaded from or published to a store):
    its manifest is what the export records. ``labels`` name the model's output
    classes, in order. Refuses to write into an existing non-empty directory.
    """
    directory = os.fspath(directory)
    if vocab.manifest is None:
        raise ArtifactError(
            "export_serving needs a published vocabulary (its manifest.json goes into the "
            "export); publish it with VocabStore.publish or load it with VocabStore.load. "
            + received(vocab=repr(vocab))
        )
    outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if outputs is not None and outputs != len(labels):
        raise ConfigError(
            f"The model has {outputs} outputs but {len(labels)} labels were given; pass one "
            "label name per output class. " + received(labels=list(labels))
        )
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise OutputExistsError(
            f"{directory} already exists and is not empty; export to a new directory. "
            + received(directory=directory),
            cases=[directory],
        )
    from vocabguard._src.core.artifact import dump_manifest

    with tempfile.TemporaryDirectory() as scratch:
        # The Asset keeps the file's base name, so stage it as manifest.json.
        manifest_path = os.path.join(scratch, MANIFEST_ASSET)
        with open(manifest_path, "wb") as handle:
            handle.write(dump_manifest(vocab.manifest))  # the published bytes, checksum included
        module = ServingModule(model, vocab, [str(label) for label in labels], manifest_path)
        tf.saved_model.save(module, directory, signatures={SIGNATURE: module.serve})
    return directory


def load_serving(directory: str | os.PathLike):
    """Load an export; call ``.signatures["serving_default"](texts=...)`` or ``predict``."""
    return tf.saved_model.load(os.fspath(directory))


def predict(served, texts: Sequence[str]) -> dict:
    """Numpy outputs of a loaded export for a list of texts."""
    result = served.signatures[SIGNATURE](texts=tf.constant(list(texts), dtype=tf.string))
    return {key: value.numpy() for key, value in result.items()}


def read_manifest(served) -> dict:
    """The vocabulary manifest stored in a loaded export's ``assets/``."""
    import json

    with open(served.manifest.asset_path.numpy().decode(), encoding="utf-8") as handle:
        return json.load(handle)
