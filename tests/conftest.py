"""Shared fixtures for the kit's own tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_NOTEBOOK = REPO / "reference" / "rnn_embeddings.ipynb"
RELEASE_NOTEBOOK = REPO / "assignment" / "rnn_embeddings.ipynb"  # the untouched student release
FIXTURE = REPO / "data_fixtures"
sys.path.insert(0, str(REPO / "reference"))  # `import fakenews_lesson`, as the notebook beside it does


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    """Every test starts from the defaults, whatever the developer's shell exports."""
    for name in ("FAKENEWS_DATA", "FAKENEWS_KAGGLE_HANDLE", "FAKENEWS_FIXTURE_DIR", "FAKENEWS_FIGURES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def reference():
    """The reference notebook's definitions (ClassifierWithRNN, ClassifierWithMean, train), executed."""
    from autograder.notebook import load_definitions

    return load_definitions(REFERENCE_NOTEBOOK)
