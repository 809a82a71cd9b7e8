"""Apache Beam transforms: read records, build every feature's vocabulary, encode.

``field_rules(features)`` tells ``ReadRecordBatches`` which fields may hold lists,
missing values or weights; ``column_name(key, field, fields)`` is the id column
``EncodeWithVocabularies`` writes for a feature's field.

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
    from vocabguard._src.engines.beam.build import field_rules
    from vocabguard._src.engines.beam.encode import column_name

__all__ = [
    "BAD_RECORD_POLICIES",
    "BuildVocabularies",
    "EncodeWithVocabularies",
    "Feature",
    "ReadRecordBatches",
    "RecordBatch",
    "column_name",
    "encoded_schema",
    "field_rules",
    "format_for",
]
