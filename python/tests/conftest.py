"""Shared setup of the Python package's tests: the repository's fixtures, and the rule that
a test needing Keras fails in CI (CI=true) where Keras is missing instead of skipping."""

import importlib.util
import os
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "models"


def pytest_configure(config):
    config.addinivalue_line("markers", "keras: builds in-memory Keras 3 models (needs keras)")
    config.addinivalue_line("markers", "cargo: compares with the cargo-built keqv (KEQV_CARGO_BIN)")


def pytest_runtest_setup(item):
    if item.get_closest_marker("keras") and importlib.util.find_spec("keras") is None:
        message = "needs keras (pip install keras jax), which this Python lacks"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def models():
    return MODELS
