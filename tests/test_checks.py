"""The exercise-check framework: verdicts, messages, the CI modes, and `needs`."""

import importlib
import re

import numpy as np
import pytest
from conftest import ROOT

from gdl import checks


def _test_square(f):
    x = np.random.default_rng().uniform(-3, 3, size=7)
    checks.expect_close(f(x), x**2, "square(x)")


check_square = checks.make_check("square", _test_square)


def square_stub(x):
    # YOUR CODE HERE
    raise NotImplementedError()


def test_verdicts():
    assert check_square.evaluate(lambda x: x * x).status == checks.PASSED
    r = check_square.evaluate(square_stub)
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
        ("exercises", square_stub, False),
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


def other_stub(x):
    # YOUR CODE HERE
    raise NotImplementedError()


def test_needs_says_what_is_missing(capsys):
    with checks.needs(stub):
        stub()
    assert "uses `stub`, which is not finished yet" in capsys.readouterr().out
    with checks.needs(other_stub, stub):
        stub()
    assert "uses `stub`, which is not finished yet" in capsys.readouterr().out  # the one that raised


def test_needs_lets_other_errors_through_and_reraises_in_solutions_mode(monkeypatch):
    with pytest.raises(ZeroDivisionError):  # not raised in a learner's function: not the learner's
        with checks.needs(stub):
            raise ZeroDivisionError()
    monkeypatch.setenv("GDL_CHECKS_MODE", "solutions")
    with pytest.raises(NotImplementedError):
        with checks.needs(stub):
            stub()


def numpy_kl(mean, log_var):
    """A learner's KL in NumPy: its check can pass, but it cannot run inside a compiled step."""
    return 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=-1)


def test_needs_reports_an_error_in_the_learners_function_not_an_unfinished_one(capsys):
    import tensorflow as tf

    @tf.function
    def train_step(x):
        return numpy_kl(x, x)

    with checks.needs(numpy_kl, stub):
        train_step(tf.ones((2, 3)))  # TensorFlow raises NotImplementedError: NumPy on a symbolic tensor
    out = capsys.readouterr().out
    assert "not finished" not in out
    assert "error in your `numpy_kl`" in out and "Cannot convert a symbolic" in out
    assert "(at `return 0.5 * np.sum(np.exp(log_var)" in out  # the learner's line, not Keras's
    assert "in user code" not in out  # no TensorFlow trace dumped on the learner


def test_needs_finds_the_stub_inside_a_compiled_function(capsys):
    import tensorflow as tf

    with checks.needs(other_stub):
        tf.function(other_stub)(tf.ones(2))
    assert "uses `other_stub`, which is not finished yet" in capsys.readouterr().out


def kl_stub(mean, log_var):
    # YOUR CODE HERE
    raise NotImplementedError()


def test_a_stub_traced_by_a_check_is_incomplete_and_tensorflow_errors_are_failures():
    import tensorflow as tf

    check = checks.make_check("kl", lambda f: tf.function(f)(tf.ones((2, 3)), tf.ones((2, 3))))
    assert check.evaluate(kl_stub).status == checks.INCOMPLETE
    result = check.evaluate(numpy_kl)
    assert result.status == checks.FAILED and "Cannot convert a symbolic" in result.message
    assert "(at `return 0.5 * np.sum(np.exp(log_var)" in result.message


def test_learner_line_points_at_the_learners_code_not_into_a_library():
    import keras

    def bad_loss(x):
        return keras.ops.matmul(x, np.ones((5, 5)))  # shapes do not match

    result = check_square.evaluate(bad_loss)
    assert result.status == checks.FAILED
    assert "(at `return keras.ops.matmul(x, np.ones((5, 5)))" in result.message


def test_a_function_that_changes_its_input_in_place_fails_though_its_value_is_right():
    def in_place_square(x):
        x **= 2  # modifies its argument, and returns the right value
        return x

    r = check_square.evaluate(in_place_square)
    assert r.status == checks.FAILED and "your function changed its input `x` in place" in r.message


def test_keyword_arguments_reach_the_learner_under_their_own_names():
    """Checks hand NumPy inputs over as copies, keyword arguments too (Exercise 4.1 passes `smoothing=`)."""

    def scaled(f):
        x = np.arange(3.0)
        out = checks.as_array(f(x, scale=np.float64(2.0)), "f")
        checks.expect_close(out, 2 * np.arange(3.0), "f(x, scale=2)")

    check = checks.make_check("scaled", scaled)

    def times(x, scale=1.0):
        return x * scale

    r = check.evaluate(times)
    assert r.status == checks.PASSED, r.message


# ----------------------------------------------------------------------------- the standard, for every chapter

CHAPTER_TESTS = sorted((ROOT / "tests").glob("test_checks_ch[0-9][0-9].py"))


def test_every_exercise_notebook_has_checks_and_their_tests():
    for path in (ROOT / "solutions").glob("*.ipynb"):
        nn = path.stem[:2]
        assert (ROOT / "gdl" / "checks" / f"ch{nn}.py").exists(), f"solutions/{path.name}: no gdl/checks/ch{nn}.py"
        assert (ROOT / "tests" / f"test_checks_ch{nn}.py").exists(), f"solutions/{path.name}: no tests for its checks"


@pytest.mark.parametrize("path", CHAPTER_TESTS, ids=[p.stem for p in CHAPTER_TESTS])
def test_each_check_meets_the_standard(path):
    """Every check of a chapter is tested with >= 2 correct and >= 8 wrong implementations (CONTRIBUTING.md)."""
    tests = importlib.import_module(path.stem)
    chapter = importlib.import_module(f"gdl.checks.{path.stem.removeprefix('test_checks_')}")
    checks_defined = {name.removeprefix("check_") for name in vars(chapter) if name.startswith("check_")}
    assert set(tests.CHECKS) == checks_defined, "CHECKS must list every check of the chapter"
    for name in checks_defined:
        assert tests.CHECKS[name] is getattr(chapter, f"check_{name}")
        assert len(tests.REFERENCES.get(name, [])) >= 2, f"{name}: at least two correct implementations"
        assert len(tests.WRONG.get(name, [])) >= 8, f"{name}: at least eight wrong implementations"


def _square_on_random_inputs(f):
    x = checks.new_rng().normal(size=5)
    checks.expect_close(f(x), x**2, "square(x)")


check_random_square = checks.make_check("random_square", _square_on_random_inputs)


def test_a_failure_names_its_seed_and_that_seed_poses_the_same_problem_again(monkeypatch):
    monkeypatch.delenv(checks.SEED_VAR)  # as a learner runs it: a fresh seed for every evaluation

    def wrong(x):
        return x**2 + 0.01 * x

    first, second = check_random_square.evaluate(wrong), check_random_square.evaluate(wrong)
    seed = int(re.search(r"Random problem (\d+): ", first.message).group(1))
    assert f"`test_checks.check_random_square(wrong, seed={seed})` poses it again" in first.message
    assert first.message != second.message  # another problem: other values at the failing index
    assert check_random_square.evaluate(wrong, seed=seed).message == first.message
    assert check_random_square.evaluate(lambda x: x**2, seed=seed).passed
    for bad in (-1, 2**32, 1.5, "3", True):
        with pytest.raises(ValueError, match="seed must be a whole number"):
            check_random_square.evaluate(wrong, seed=bad)


def test_checks_seed_makes_the_sequence_of_problems_reproducible(monkeypatch):
    def messages():
        checks._state["draws"] = 0
        return [check_random_square.evaluate(lambda x: x**2 + 0.01 * x).message for _ in range(3)]

    monkeypatch.setenv(checks.SEED_VAR, "7")
    runs = messages(), messages()
    assert runs[0] == runs[1] and len(set(runs[0])) == 3
    monkeypatch.setenv(checks.SEED_VAR, "8")
    assert messages() != runs[0]
    monkeypatch.setenv(checks.SEED_VAR, "seven")
    with pytest.raises(ValueError, match="GDL_CHECKS_SEED='seven'"):
        check_random_square.evaluate(lambda x: x**2)


def test_a_chapter_check_names_the_call_that_reruns_it():
    from gdl.checks import ch01

    def gaussian_log_density(x, mu, sigma):
        return -(x - mu) ** 2 / (2 * sigma**2)

    message = ch01.check_gaussian_log_density.evaluate(gaussian_log_density).message
    assert re.search(r"`ch01\.check_gaussian_log_density\(gaussian_log_density, seed=\d+\)` poses it again",
                     message), message


def test_checks_draw_their_random_problems_from_new_rng():
    """An unseeded generator in a check would make its failures impossible to pose again."""
    for path in sorted((ROOT / "gdl" / "checks").glob("ch*.py")):
        source = path.read_text()
        assert "default_rng()" not in source and "np.random.seed(" not in source, path.name


def test_a_function_that_works_on_a_copy_of_its_input_passes():
    def square_copy(x):
        y = x.copy()
        y **= 2
        return y

    assert check_square.evaluate(square_copy).status == checks.PASSED


def unfinished_helper(x):
    # YOUR CODE HERE
    raise NotImplementedError()


def square_with_helper(x):
    return unfinished_helper(x) * x


def test_a_body_that_calls_an_unfinished_helper_is_incomplete_and_names_the_helper():
    r = check_square.evaluate(square_with_helper)
    assert r.status == checks.INCOMPLETE and "`unfinished_helper`" in r.message


def test_a_library_not_implemented_error_is_still_a_failure():
    def raises_from_message(x):
        raise NotImplementedError("not supported for this input")

    assert check_square.evaluate(raises_from_message).status == checks.INCOMPLETE  # its own raise line: a stub
    import tensorflow as tf

    r = check_square.evaluate(lambda x: tf.function(numpy_kl)(tf.ones((2, 3)), tf.ones((2, 3))))
    assert r.status == checks.FAILED
