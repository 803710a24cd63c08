import pytest

from gdl import budget


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", " CPU "])
def test_profile_from_environment(monkeypatch, name):
    monkeypatch.setenv("GDL_PROFILE", name)
    assert budget.profile() == name.strip().lower()
    assert budget.budget(smoke=1, cpu=2, gpu=3) == {"smoke": 1, "cpu": 2, "gpu": 3}[name.strip().lower()]


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("GDL_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast' is not a profile; use one of smoke, cpu, gpu"):
        budget.budget(smoke=1, cpu=2, gpu=3)


@pytest.mark.parametrize("gpu, expected", [(True, "gpu"), (False, "cpu")])
def test_default_profile_follows_the_hardware(monkeypatch, gpu, expected):
    monkeypatch.delenv("GDL_PROFILE", raising=False)
    monkeypatch.setattr(budget, "_gpu_visible", lambda: gpu)
    assert budget.profile() == expected
    assert "chosen from the hardware" in budget.describe()


def test_budget_needs_every_profile():
    with pytest.raises(TypeError):
        budget.budget(smoke=1, cpu=2)
