"""Apache Beam transforms: read records, build every feature's vocabulary, encode.

Importing this module imports Apache Beam.

A public face: the implementation lives in ``vocabguard._src.engines.beam``.
"""

from vocabguard._src.core.extras import requires

# Without the extra, importing this face is one line naming it (MissingExtraError).
with requires("vocabguard.beam"):
    from vocabguard._src.engines.beam import (
        BAD_RECORD_POLICIES,
        BuildVocabularies,
        EncodeWithVocabularies,
        Feature,
        ReadRecordBatches,
        RecordBatch,
        encoded_schema,
        format_for,
    )

__all__ = [
    "BAD_RECORD_POLICIES",
    "BuildVocabularies",
    "EncodeWithVocabularies",
    "Feature",
    "ReadRecordBatches",
    "RecordBatch",
    "encoded_schema",
    "format_for",
]
