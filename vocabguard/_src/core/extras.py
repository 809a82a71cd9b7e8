"""Optional dependencies: which extra installs a module, and the error when one is missing.

``pip install vocabguard`` installs the core (numpy, pyarrow and small helpers);
TensorFlow, Keras, Beam, matplotlib and the runners' libraries come with extras
(``pip install 'vocabguard[tf]'``). A face or command whose extra is missing
raises ``MissingExtraError``: one line naming the extra to install.

>>> extra_for("tensorflow.python.ops"), extra_for("apache_beam"), extra_for("json")
('tf', 'beam', None)
>>> err = missing_extra(ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib"),
...                     "vocabguard report")
>>> print(err)
vocabguard report needs matplotlib, which is not installed. Install it with \
`pip install 'vocabguard[report]'`. Received: module='matplotlib'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from vocabguard._src.core.errors import MissingExtraError, received

# Top-level module -> (the extra that installs it, what it is called in messages).
EXTRAS = {
    "tensorflow": ("tf", "TensorFlow"),
    "tensorflow_text": ("tf", "tensorflow-text"),
    "keras": ("tf", "Keras"),
    "apache_beam": ("beam", "Apache Beam"),
    "google_crc32c": ("beam", "google-crc32c"),
    "matplotlib": ("report", "matplotlib"),
    "keras_hub": ("keras-hub", "keras_hub"),
    "dask": ("dask", "Dask"),
    "distributed": ("dask", "dask.distributed"),
    "pyspark": ("spark", "pyspark"),
    "jax": ("jax", "JAX"),
}


def extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (any submodule of it), or None."""
    if not module:
        return None
    found = EXTRAS.get(module.split(".")[0])
    return found[0] if found else None


def missing_extra(error: BaseException, what: str) -> MissingExtraError | None:
    """``MissingExtraError`` for ``error`` when it is a missing optional module, else None.

    ``what`` names the feature that needed it (``vocabguard.tf``, ``vocabguard report``).
    """
    if isinstance(error, MissingExtraError):
        return error
    if not isinstance(error, ModuleNotFoundError):
        return None
    module = getattr(error, "name", None)
    extra = extra_for(module)
    if extra is None:
        return None
    top = module.split(".")[0]
    return MissingExtraError(
        f"{what} needs {EXTRAS[top][1]}, which is not installed. Install it with "
        f"`pip install 'vocabguard[{extra}]'`. " + received(module=module),
        module=module,
        extra=extra,
    )


@contextlib.contextmanager
def requires(what: str) -> Iterator[None]:
    """Turn a missing optional module imported inside the block into ``MissingExtraError``.

    >>> with requires("vocabguard.tf"):
    ...     import json  # present: nothing happens
    """
    try:
        yield
    except ModuleNotFoundError as error:
        converted = missing_extra(error, what)
        if converted is None:
            raise
        raise converted from None
