"""A serving export: a raw-string SavedModel that carries its vocabulary's fingerprint.

A public face: the implementation lives in ``vocabguard._src.engines.serving``.
"""

from vocabguard._src.core.extras import requires

# Without the extra, importing this face is one line naming it (MissingExtraError).
with requires("vocabguard.serving"):
    from vocabguard._src.engines.serving import (
        ServingModule,
        export_serving,
        load_serving,
        predict,
        read_manifest,
    )

__all__ = [
    "ServingModule",
    "export_serving",
    "load_serving",
    "predict",
    "read_manifest",
]
