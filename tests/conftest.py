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
SLOW_FILES: set[str] = set()
SLOW_TESTS: set[str] = set()  # test function names (without parameters)


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
