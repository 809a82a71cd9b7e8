"""Shared fixtures for the vocabguard test suite."""

from __future__ import annotations

import os

# Before any test module imports TensorFlow: keep its C++ logging quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from vocabguard import VocabStore

# The markers of pytest.ini, applied here rather than in each file: `make test-fast`
# (-m "not jvm and not cluster and not slow") is the quick loop, `make test` runs all.
JVM_FILES = {"test_runners_jvm.py"}
CLUSTER_FIXTURES = {"dask_cluster", "job_service", "spark_cluster", "endpoint"}
# Measured (CPU seconds of the test and its subprocesses) on the 2-core VM: files and
# tests of more than a few seconds each: Beam on several workers or splits, property
# tests through TensorFlow, training runs, TensorFlow or Beam imported in subprocesses.
SLOW_FILES = {
    "test_beam_splits.py",  # 37 s: 1 and 2 workers, byte-range splits
    "test_categorical_beam.py",  # 16 s
    "test_serving.py",  # 31 s: SavedModel exports of trained models
    "test_lineage_pipeline.py",  # trains on every step of a lineage
    "test_training.py",  # end-to-end training runs
}
SLOW_TESTS = {  # test function names (any parameters)
    "test_tf_encoder_matches_numpy_on_lists",  # 50 s
    "test_config_driven_table_job",  # 10 s
    "test_build_vocabularies_matches_in_process_whatever_the_worker_count",  # 19 s
    "test_beam_and_in_process_builds_agree_on_random_corpora",  # 8 s
    "test_importing_tensorflow_from_the_cli_prints_nothing",  # 24 s
    "test_train_stderr_holds_only_vocabguard_lines_and_output_overrides",  # 20 s
    "test_job_config_without_runner_runs_on_the_direct_runner",  # 4 s
    "test_console_script_build_inspect_encode",  # 4 s
    "test_the_cli_without_any_extra_builds_encodes_and_audits",  # 4 s
    "test_to_dict_from_dict_round_trip",  # 4 s
    "test_docs_and_readme_blocks_pass_on_a_generated_corpus",  # every docs and README block
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        file = item.path.name
        if file in JVM_FILES:
            item.add_marker(pytest.mark.jvm)
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
        name = getattr(item, "originalname", item.name)
        if file in SLOW_FILES or name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def store_root(tmp_path):
    """The root directory of a fresh store (a subdirectory, so tests can look outside it)."""
    return tmp_path / "store"


@pytest.fixture
def store(store_root):
    """A fresh, empty ``VocabStore`` under ``tmp_path``."""
    return VocabStore(store_root)
