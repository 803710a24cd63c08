"""The exercise-check framework: verdicts, messages, the CI modes, and `needs`."""

import numpy as np
import pytest

from gdl import checks


def _test_square(f):
    x = np.random.default_rng().uniform(-3, 3, size=7)
    checks.expect_close(f(x), x**2, "square(x)")


check_square = checks.make_check("square", _test_square)


def test_verdicts():
    assert check_square.evaluate(lambda x: x * x).status == checks.PASSED
    r = check_square.evaluate(lambda x: (_ for _ in ()).throw(NotImplementedError()))
    assert r.status == checks.INCOMPLETE and "NotImplementedError" in r.message


def test_wrong_values_name_the_element():
    r = check_square.evaluate(lambda x: x**2 + np.arange(7) * (np.arange(7) == 3))
    assert r.status == checks.FAILED and "square(x) at index (3,)" in r.message


def test_wrong_shape_and_nan():
    assert "has shape (1, 7), expected (7,)" in check_square.evaluate(lambda x: (x**2)[None]).message
    assert "NaN or infinity" in check_square.evaluate(lambda x: x**2 * np.nan).message


def test_exception_in_learner_code_is_a_verdict_not_a_crash():
    def broken(x):
        return x @ np.ones((3, 3))

    r = check_square.evaluate(broken)
    assert r.status == checks.FAILED
    assert "Your function raised ValueError" in r.message and "x @ np.ones((3, 3))" in r.message


def test_not_a_function():
    assert check_square.evaluate(42).message == "Expected a function, got int."


def test_check_shows_and_returns_nothing(capsys):
    assert check_square(lambda x: x**2) is None
    assert "square: passed" in capsys.readouterr().out


def test_html_escapes_messages():
    r = checks.Result("f", checks.FAILED, "<script>")
    assert "<script>" not in r._repr_html_() and "&lt;script&gt;" in r._repr_html_()


@pytest.mark.parametrize(
    "mode, fn, raises",
    [
        ("solutions", lambda x: x**2, False),
        ("solutions", lambda x: x, True),
        ("exercises", lambda x: (_ for _ in ()).throw(NotImplementedError()), False),
        ("exercises", lambda x: x**2, True),  # a filled-in exercise notebook is a mistake in CI
        ("exercises", lambda x: x, True),
    ],
)
def test_modes(monkeypatch, capsys, mode, fn, raises):
    monkeypatch.setenv("GDL_CHECKS_MODE", mode)
    if raises:
        with pytest.raises(checks.CheckModeError, match=f"GDL_CHECKS_MODE={mode}"):
            check_square(fn)
    else:
        check_square(fn)


def test_bad_mode(monkeypatch):
    monkeypatch.setenv("GDL_CHECKS_MODE", "strict")
    with pytest.raises(ValueError, match="use 'solutions', 'exercises'"):
        check_square(lambda x: x**2)


def stub():
    raise NotImplementedError()


def test_needs_says_what_is_missing(capsys):
    with checks.needs(stub):
        stub()
    assert "uses `stub`, which is not finished yet" in capsys.readouterr().out
    with checks.needs(stub, test_verdicts):
        stub()
    assert "`stub` and `test_verdicts`, and one of them is not finished yet" in capsys.readouterr().out


def test_needs_lets_other_errors_through_and_reraises_in_solutions_mode(monkeypatch):
    with pytest.raises(ZeroDivisionError):
        with checks.needs(stub):
            raise ZeroDivisionError()
    monkeypatch.setenv("GDL_CHECKS_MODE", "solutions")
    with pytest.raises(NotImplementedError):
        with checks.needs(stub):
            stub()
