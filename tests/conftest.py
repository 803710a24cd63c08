import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root():
    return ROOT


@pytest.fixture(autouse=True)
def _no_checks_mode(monkeypatch):
    """Unit tests see verdicts as a learner does, whatever GDL_CHECKS_MODE the caller set."""
    monkeypatch.delenv("GDL_CHECKS_MODE", raising=False)
