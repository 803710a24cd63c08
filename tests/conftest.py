import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent

# tools/model_cells.py runs a chapter's `model-definition` cells: tests use the chapters' own models.
_spec = importlib.util.spec_from_file_location("model_cells", ROOT / "tools" / "model_cells.py")
model_cells = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_cells)


@pytest.fixture
def root():
    return ROOT


@pytest.fixture(autouse=True)
def _no_checks_mode(monkeypatch):
    """Unit tests see verdicts as a learner does, whatever GDL_CHECKS_MODE the caller set."""
    monkeypatch.delenv("GDL_CHECKS_MODE", raising=False)


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
