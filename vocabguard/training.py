"""Config-driven training: a text classifier and a model over a table's categorical fields.

- ``TrainConfig.from_yaml(path)`` then ``train(config)``: the text classifier of
  ``vocabguard train`` (its data, vocabulary, model and training sections);
  ``load_splits(config.data)`` reads its train and held-out splits, and
  ``describe_train(config.data)`` is the input a vocabulary built from the train
  split records;
- ``TableConfig.from_yaml(path)`` then ``train_table(config)``: the table job of
  ``vocabguard train`` (a config with ``features:``); ``tf_column(values, vocab)``
  turns one field's values into the tensor ``vocabguard.tf.encode_fn`` takes.

Importing this module loads neither TensorFlow nor Beam; training loads TensorFlow.

A public face: the implementation lives in ``vocabguard._src.engines.training`` and
``vocabguard._src.engines.tabular``.
"""

from vocabguard._src.engines.tabular import TableConfig, tf_column
from vocabguard._src.engines.tabular import train as train_table
from vocabguard._src.engines.training import TrainConfig, describe_train, load_splits, train

__all__ = [
    "TableConfig",
    "TrainConfig",
    "describe_train",
    "load_splits",
    "tf_column",
    "train",
    "train_table",
]
