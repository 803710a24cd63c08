import os
from pathlib import Path

import pytest

# The environment every test runs in, set once, before any test imports Keras or Matplotlib.
for _name, _value in {
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "MPLBACKEND": "Agg",
}.items():
    os.environ.setdefault(_name, _value)

from tools import model_cells  # noqa: E402, F401  (re-exported: the chapters' own model cells, for the tests)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root():
    return ROOT


@pytest.fixture(autouse=True)
def _no_checks_mode(monkeypatch):
    """Unit tests see verdicts as a learner does, whatever GDL_CHECKS_MODE the caller set."""
    monkeypatch.delenv("GDL_CHECKS_MODE", raising=False)


@pytest.fixture(autouse=True)
def _reproducible_check_problems(monkeypatch):
    """Every test sees the same random problems on every run: the checks draw their seeds from GDL_CHECKS_SEED,
    0 unless the caller set it (`make test-seeds` runs the checks' tests over many)."""
    from gdl import checks

    monkeypatch.setenv(checks.SEED_VAR, os.environ.get(checks.SEED_VAR, "0"))
    monkeypatch.setitem(checks._state, "draws", 0)


# ----------------------------------------------------------------------------- exercise-check tests


def unfinished(*args, **kwargs):
    """An exercise not yet done: the stub that tools/make_exercises.py writes."""
    raise NotImplementedError()


def assert_references_pass_and_stub_is_incomplete(check, *references, repeats=5):
    """Each reference passes every time (the inputs are random: no luck allowed); the stub is incomplete."""
    from gdl.checks import INCOMPLETE, PASSED

    for reference in references:
        for _ in range(repeats):
            result = check.evaluate(reference)
            assert result.status == PASSED, result.message
    assert check.evaluate(unfinished).status == INCOMPLETE


def assert_fails_with(check, wrong, message, repeats=3):
    """A wrong implementation fails every time, with a message that names its mistake."""
    from gdl.checks import FAILED

    for _ in range(repeats):
        result = check.evaluate(wrong)
        assert result.status == FAILED, f"a wrong implementation passed: {result}"
        assert message in result.message, result.message
