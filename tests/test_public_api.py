"""Each public face's ``__all__``, written out: the public surface changes only on purpose.

Adding or removing a name is a change to this file too (and to the README and the
CHANGELOG). Read statically, so the test loads neither TensorFlow nor Beam.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vocabguard"

FACES = {
    "vocabguard": [
        "Tokenizer",
        "VocabSpec",
        "VocabStore",
        "Vocabulary",
        "__version__",
        "build_vocabulary",
        "errors",
        "guard_ids",
        "import_vocabulary",
        "remap_embedding",
    ],
    "vocabguard.beam": [
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
    ],
    "vocabguard.errors": [
        "ArtifactError",
        "ChecksumMismatchError",
        "ConfigError",
        "IdRangeError",
        "InputDataError",
        "InputNotFoundError",
        "InvalidNameError",
        "LayoutError",
        "LineageError",
        "MissingExtraError",
        "OutputExistsError",
        "SpecError",
        "StoreError",
        "VersionNotFoundError",
        "VocabguardError",
        "VocabularyMismatchError",
        "check_keys",
        "received",
    ],
    "vocabguard.formats": [
        "detect_format",
        "expand_inputs",
        "read_documents",
        "read_records",
    ],
    "vocabguard.jobs": [
        "BuildOptions",
        "BuildResult",
        "EncodeConfig",
        "JobConfig",
        "PublishedFeature",
        "build",
        "encode_job",
        "run_job",
    ],
    "vocabguard.keras": [
        "GUARD_MODES",
        "IdGuard",
        "IdGuardCallback",
        "VocabEmbedding",
        "check_vocabulary",
        "counting_error",
        "embedding",
        "guard_tensor",
        "load_model",
        "string_lookup",
        "vocab_layers",
    ],
    "vocabguard.lineage": [
        "MigrationResult",
        "VocabDiff",
        "diff_vocabularies",
        "migrate_model",
    ],
    "vocabguard.output_modes": [
        "BAG_MODES",
        "OUTPUT_MODES",
        "encode",
        "idf_weights",
        "num_columns",
    ],
    "vocabguard.remap": [
        "INITS",
        "RowMap",
        "check_init",
        "remap_dense",
        "remap_embedding",
        "remap_rows",
        "row_map",
    ],
    "vocabguard.serving": [
        "ServingModule",
        "export_serving",
        "load_serving",
        "predict",
        "read_manifest",
    ],
    "vocabguard.tf": [
        "BagEncoder",
        "Encoder",
        "Lookup",
        "encode_fn",
        "guard_ids",
        "in_xla_context",
        "lookup_fn",
        "tokenize",
        "xla_guard_error",
    ],
    "vocabguard.training": [
        "TableConfig",
        "TrainConfig",
        "describe_train",
        "load_splits",
        "tf_column",
        "train",
        "train_table",
    ],
}


def _path(face: str) -> Path:
    parts = face.split(".")[1:]
    return PACKAGE / "__init__.py" if not parts else PACKAGE.joinpath(*parts).with_suffix(".py")


def declared_all(face: str) -> list[str]:
    """The literal ``__all__`` of a face's module (an error if it has none)."""
    for node in ast.parse(_path(face).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"{face} declares no __all__")


def test_every_face_is_listed():
    faces = {"vocabguard"} | {
        f"vocabguard.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"
    }
    assert sorted(faces) == sorted(FACES)


@pytest.mark.parametrize("face", sorted(FACES))
def test_public_names_are_exactly_the_snapshot(face):
    assert declared_all(face) == FACES[face]


@pytest.mark.parametrize(
    "face",
    [
        "vocabguard",
        "vocabguard.errors",
        "vocabguard.formats",
        "vocabguard.jobs",
        "vocabguard.lineage",
        "vocabguard.training",
    ],
)
def test_light_faces_export_what_they_declare(face):
    # The faces that load neither TensorFlow nor Beam: every declared name resolves.
    import importlib

    module = importlib.import_module(face)
    missing = [name for name in FACES[face] if not hasattr(module, name)]
    assert missing == []
