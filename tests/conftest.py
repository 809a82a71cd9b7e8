"""Shared fixtures for the vocabguard test suite."""

from __future__ import annotations

import os

# Before any test module imports TensorFlow: keep its C++ logging quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from vocabguard import VocabStore


@pytest.fixture
def store_root(tmp_path):
    """The root directory of a fresh store (a subdirectory, so tests can look outside it)."""
    return tmp_path / "store"


@pytest.fixture
def store(store_root):
    """A fresh, empty ``VocabStore`` under ``tmp_path``."""
    return VocabStore(store_root)
