"""Warm start: move trained Embedding rows and Dense columns to a new vocabulary, by token (numpy only).

A public face: the implementation lives in ``vocabguard._src.tools.remap``.
"""

from vocabguard._src.tools.remap import (
    INITS,
    RowMap,
    check_init,
    remap_dense,
    remap_embedding,
    remap_rows,
    row_map,
)

__all__ = [
    "INITS",
    "RowMap",
    "check_init",
    "remap_dense",
    "remap_embedding",
    "remap_rows",
    "row_map",
]
