"""Instant feedback for the graded exercises.

Each chapter has a module here (``gdl.checks.ch01`` for Chapter 1, ...) whose ``check_*`` functions
take the learner's function, call it on random shapes and values, test properties and reference values,
and show one of three verdicts:

- **passed**;
- **not yet complete**: the function still raises ``NotImplementedError``;
- **failed**, with a specific message ("you returned the variance, not the standard deviation").

A check never crashes the notebook: an exception in the learner's code becomes a "failed" verdict.
The environment variable ``GDL_CHECKS_MODE`` turns verdicts into errors for the tests:
``solutions`` raises on anything but "passed", ``exercises`` on anything but "not yet complete".

Writing a check (for course authors)::

    def _test_square(square):
        x = random_array()
        expect_close(square(x), x**2, "square(x)")

    check_square = make_check("square", _test_square)

Inside a test, call ``fail("message")`` (or the ``expect_*`` helpers) to report a failure, and draw every
random input from ``new_rng()``: each evaluation draws a seed of its own (or takes ``seed=``), so a failure
names the seed and ``check_square(fn, seed=...)`` poses the same problem again. ``GDL_CHECKS_SEED`` makes
the seeds themselves reproducible (the tests and the grader set it).
``check_square.evaluate(fn)`` returns the verdict without showing it or applying the mode.
"""

import functools
import html
import inspect
import linecache
import os
import re
import traceback
from contextlib import contextmanager

import numpy as np

MODE_VAR = "GDL_CHECKS_MODE"
SEED_VAR = "GDL_CHECKS_SEED"
PASSED, INCOMPLETE, FAILED = "passed", "not yet complete", "failed"


class CheckFailed(AssertionError):
    """Raised inside a check's test when the learner's function is wrong."""


class CheckModeError(AssertionError):
    """Raised in the test modes when a verdict is not the one expected."""


class Result:
    """The verdict of one check: ``status`` is PASSED, INCOMPLETE or FAILED; ``message`` says why."""

    _STYLE = {
        PASSED: ("#1a7f37", "#e6f4ea", "\u2705"),
        INCOMPLETE: ("#9a6700", "#fff8c5", "\u23f3"),
        FAILED: ("#cf222e", "#ffebe9", "\u274c"),
    }

    def __init__(self, name, status, message):
        self.name, self.status, self.message = name, status, message

    @property
    def passed(self):
        return self.status == PASSED

    def __str__(self):
        return f"{self._STYLE[self.status][2]} {self.name}: {self.status}. {self.message}"

    __repr__ = __str__

    def _repr_html_(self):
        fg, bg, icon = self._STYLE[self.status]
        return (
            f'<div class="gdl-check" style="border-left:4px solid {fg};background:{bg};'
            f'padding:0.5em 0.8em;margin:0.3em 0;color:#1f2328">'
            f"{icon} <code>{html.escape(self.name)}</code>: <b style='color:{fg}'>{self.status}</b>. "
            f"{html.escape(self.message)}</div>"
        )


def fail(message):
    """Report, from inside a check's test, that the learner's function is wrong."""
    raise CheckFailed(message)


def mode():
    """The checks mode from ``GDL_CHECKS_MODE``: ``""`` (learners), ``"solutions"`` or ``"exercises"``."""
    value = os.environ.get(MODE_VAR, "").strip().lower()
    if value not in ("", "solutions", "exercises"):
        raise ValueError(f"{MODE_VAR}={value!r}: use 'solutions', 'exercises', or leave it unset.")
    return value


def _names(fn):
    """The names a learner's function can have in a traceback (AutoGraph renames ``f`` to ``tf__f``)."""
    name = getattr(fn, "__name__", None)
    return {name, f"tf__{name}"} if name else set()


def _frames(err):
    return traceback.extract_tb(err.__traceback__)


_LIBRARY_PARTS = ("gdl" + os.sep + "checks", "site-packages", "dist-packages")


def _learner_line(err, functions=()):
    """Where in the learner's code an exception came from, as `` (at `line`)``, or ``""``.

    The learner's own frames come first (the file their function was defined in, or a frame with its
    name); failing that, the innermost frame outside the checks, Keras, TensorFlow and NumPy. Inside a
    ``tf.function`` the frames are AutoGraph's generated code; TensorFlow then lists the user's frames in
    the message ("in user code: File ..., line N, in name"), which is read instead.
    """
    files = {getattr(getattr(f, "__code__", None), "co_filename", None) for f in functions} - {None}
    names = set().union(*(_names(f) for f in functions))
    frames = [(f.filename, f.lineno, f.name) for f in _frames(err)]
    frames += [(m[0], int(m[1]), m[2]) for m in re.findall(r'File "(.+?)", line (\d+), in (\w+)', str(err))]
    frames = [f for f in frames if "__autograph_generated" not in f[0]]
    mine = [f for f in frames if f[0] in files or f[2] in names]
    if not mine:
        mine = [f for f in frames if not any(part in f[0] for part in _LIBRARY_PARTS)]
    for filename, lineno, _ in reversed(mine):
        line = linecache.getline(filename, lineno).strip()
        if line:
            return f" (at `{line}`)"
    return ""


@contextmanager
def compiled_errors(f, name, where, hint):
    """Inside: the learner's ``f`` runs in a compiled step (a ``tf.function``). An exception there, other
    than a check's own verdict, becomes a verdict that names ``name``, the learner's line and ``hint``::

        with compiled_errors(f, "dsm_loss", "a compiled training step (a tf.function)", HINT):
            loss = step(x)
    """
    try:
        yield
    except CheckFailed:
        raise
    except Exception as err:
        fail(f"Inside {where} your `{name}` raised {type(err).__name__}: {_short(err, 200)}"
             f"{_learner_line(err, (inspect.unwrap(f),))}. {hint}")


def _copying(fn):
    """``fn`` called with copies of its NumPy-array arguments, so that a check's own inputs stay intact.

    A learner may modify an input in place; the check still compares with a reference computed from
    the inputs as they were before the call, and the call fails, naming the input, when a copy it was
    given has changed (a notebook that reuses the array afterwards would see the changed values).
    """

    def copy(value):
        return value.copy() if isinstance(value, np.ndarray) else value

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def arg_name(i):
        return f"`{positional[i]}`" if i < len(positional) else f"number {i + 1}"

    @functools.wraps(fn)
    def call(*args, **kwargs):
        given = [(arg_name(i), a, copy(a)) for i, a in enumerate(args)]
        copies_kw = {k: copy(v) for k, v in kwargs.items()}
        given_kw = [(f"`{k}`", v, copies_kw[k]) for k, v in kwargs.items()]
        out = fn(*(c for _, _, c in given), **copies_kw)
        for name, original, passed in given + given_kw:
            if isinstance(original, np.ndarray) and not _unchanged(original, passed):
                fail(f"your function changed its input {name} in place: leave the arrays you are given as they "
                     "are (compute on a copy, `x = x + 1` rather than `x += 1`), since the caller still uses them.")
        return out

    return call


def _unchanged(original, passed):
    if passed.shape != original.shape or passed.dtype != original.dtype:
        return False
    try:
        return bool(np.array_equal(original, passed, equal_nan=original.dtype.kind in "fc"))
    except Exception:
        return True


def _short(err, limit=300):
    """The exception's own message, without TensorFlow's "in user code" trace, and not pages long."""
    text = str(err).strip()
    if "in user code:" in text:  # TensorFlow: a trace of the user's frames, then "Type: message"
        text = text.split("\n\n")[-1].strip()
        text = re.sub(r"^\w+: ?", "", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def _raised(err, functions):
    return f"Your function raised {type(err).__name__}: {_short(err)}{_learner_line(err, functions)}"


def _is_stub(err, functions):
    """True when a NotImplementedError is an exercise stub: ``raise NotImplementedError()`` in one of
    ``functions`` or in another function of the learner's (an unfinished helper it calls)."""
    return _stub_name(err, functions) is not None


def _stub_name(err, functions):
    """The name of the function whose ``raise NotImplementedError`` line raised ``err``, or None when ``err`` is
    not a learner's stub (TensorFlow and the libraries raise NotImplementedError too)."""
    frames = _frames(err)
    if not (isinstance(err, NotImplementedError) and frames):
        return None
    last = frames[-1]
    names = set().union(*(_names(f) for f in functions))
    if last.name not in names and any(part in last.filename for part in _LIBRARY_PARTS):
        return None
    # TensorFlow also raises NotImplementedError (NumPy called on a symbolic tensor), and it hides its
    # own frames from tracebacks: only the stub's own line counts.
    line = last.line or ""
    if not (line.startswith("raise") and "NotImplementedError" in line):
        return None
    name = last.name
    return name[4:] if name.startswith("tf__") else name


_state = {"problem": None, "draws": 0}


def new_rng():
    """A NumPy generator for a check's random inputs, reproducible from the seed of the running evaluation.

    Each call gives an independent stream (spawned from the evaluation's seed); outside an evaluation (a
    test calling a check's helper directly) it is freshly seeded.
    """
    problem = _state["problem"]
    return np.random.default_rng(None if problem is None else problem.spawn(1)[0])


def next_seed():
    """The seed of the next evaluation: random, or the next of a fixed sequence when ``GDL_CHECKS_SEED`` is set."""
    base = os.environ.get(SEED_VAR, "").strip()
    if not base:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if not base.isdigit():
        raise ValueError(f"{SEED_VAR}={base!r}: use a whole number >= 0, or leave it unset.")
    _state["draws"] += 1
    return int(np.random.SeedSequence([int(base), _state["draws"]]).generate_state(1)[0])


def evaluate(name, test, fn, seed=None, rerun=None):
    """Run ``test(fn)`` on the random problem of ``seed`` (a fresh one if None) and return a Result.

    Never raises because of the learner's code. A failure names the seed and, with ``rerun`` (the check's
    name as the learner calls it, "ch03.check_kl_divergence"), the call that poses the same problem again.
    """
    if not callable(fn):
        return Result(name, FAILED, f"Expected a function, got {type(fn).__name__}.")
    if seed is None:
        seed = next_seed()
    elif not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= seed < 2**32):
        raise ValueError(f"seed must be a whole number in [0, 2**32), got {seed!r}")
    seed = int(seed)
    previous, _state["problem"] = _state["problem"], np.random.SeedSequence(seed)
    try:
        note = test(_copying(fn))
    except CheckFailed as err:
        return Result(name, FAILED, str(err) + _again(seed, rerun, fn))
    except Exception as err:  # the learner's code raised: report it, don't crash the notebook
        stub = _stub_name(err, (fn,))
        if stub is not None:
            message = "Replace `raise NotImplementedError()` with your code, then run this cell again."
            if stub not in _names(fn) and stub not in ("<lambda>", "<module>"):
                message = (f"Your function calls `{stub}`, which is not finished yet (it still raises "
                           f"NotImplementedError): complete `{stub}` first, then run this cell again.")
            return Result(name, INCOMPLETE, message)
        return Result(name, FAILED, _raised(err, (fn,)) + _again(seed, rerun, fn))
    finally:
        _state["problem"] = previous
    return Result(name, PASSED, note or "Well done.")


def _again(seed, rerun, fn):
    call = f"`{rerun}({getattr(fn, '__name__', 'f')}, seed={seed})`" if rerun else f"`seed={seed}`"
    return f" (Random problem {seed}: {call} poses it again.)"


def show(result):
    """Display a Result in a notebook (as coloured HTML) or print it elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(result)
    else:
        print(result)


def enforce_mode(result):
    """In the test modes, raise unless the verdict is the expected one."""
    expected = {"solutions": PASSED, "exercises": INCOMPLETE}.get(mode())
    if expected is not None and result.status != expected:
        raise CheckModeError(f"{MODE_VAR}={mode()} expects '{expected}', got: {result}")


def make_check(name, test, points=1):
    """Turn a test function into a learner-facing check ``check(fn)``, which shows its verdict.

    ``points`` is what the exercise is worth when graded (``gdl.grade``); this is the one place it is declared.
    The exercises of a chapter are its module's checks, in the order they are defined.
    """
    if not (isinstance(points, int) and points > 0):
        raise ValueError(f"points must be a positive whole number, got {points!r}")

    rerun = f"{getattr(test, '__module__', '').rsplit('.', 1)[-1]}.check_{name}"

    def check(fn, seed=None):
        result = evaluate(name, test, fn, seed, rerun)
        show(result)
        enforce_mode(result)

    check.__name__ = f"check_{name}"
    check.__doc__ = (f"Check your `{name}`: shows passed, not yet complete, or what is wrong. `seed=` poses "
                     "the random problem of an earlier failure again.")
    check.evaluate = lambda fn, seed=None: evaluate(name, test, fn, seed, rerun)
    check.exercise, check.points = name, points
    return check


@contextmanager
def needs(*functions):
    """Run a cell that uses exercise functions; if one is unfinished, say so instead of crashing::

        with checks.needs(sample_mixture):
            x, labels = sample_mixture(...)

    Only the exercise stub (``raise NotImplementedError()`` directly inside one of ``functions``) counts
    as "not finished yet". Any other exception that passed through one of ``functions`` is shown as an
    error in that function, with the line of the learner's code it came from; an exception that did not
    pass through them is not the learner's and propagates unchanged. In the test modes
    (``GDL_CHECKS_MODE``) everything but the stub in ``exercises`` mode propagates.
    """
    try:
        yield
    except Exception as err:
        culprit = _culprit(err, functions)
        if culprit is None:
            raise
        if _is_stub(err, functions):
            if mode() == "solutions":
                raise
            print(f"\u23f3 This cell uses `{culprit}`, which is not finished yet: complete that exercise "
                  "above (its check says what is missing), then run this cell again.")
            return
        if mode():
            raise
        show(Result(culprit, FAILED, f"This cell stopped with an error in your `{culprit}`: "
                    f"{type(err).__name__}: {_short(err)}{_learner_line(err, functions)}. Its check may pass "
                    "while this cell, which uses it differently (for example inside a compiled training "
                    "step), does not: the exercise's text says what it must support."))


def _culprit(err, functions):
    """The name of the innermost of ``functions`` that the exception passed through, or None."""
    for frame in reversed(_frames(err)):
        for fn in functions:
            if frame.name in _names(fn):
                return getattr(fn, "__name__", str(fn))
    return None


# --------------------------------------------------------------------------- helpers for tests


def batch_shapes(rng):
    """A batch of points (n, d) and a batch of images (n, h, w, c), n never equal to another axis (Chapters 6, 9)."""
    n = int(rng.integers(9, 16))
    image = (n + 1, int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 4)))
    return [(n, int(rng.integers(2, 7))), image]


def same_values(a, b, atol=1e-6, rtol=1e-5):
    """True when ``a`` and ``b`` have the same shape and agree within the tolerances, compared in float64."""
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol)


def as_array(value, what):
    """Convert the learner's return value (NumPy, TensorFlow, list) to a float64 array, or fail."""
    try:
        arr = np.asarray(value, dtype="float64")
    except Exception:
        fail(f"{what} should be numbers, got {type(value).__name__}.")
    return arr


def expect_shape(value, shape, what):
    arr = as_array(value, what)
    if arr.shape != tuple(shape):
        fail(f"{what} has shape {arr.shape}, expected {tuple(shape)}.")
    return arr


def expect_finite(arr, what):
    if not np.all(np.isfinite(arr)):
        fail(f"{what} contains NaN or infinity.")


def expect_close(value, expected, what, rtol=1e-5, atol=1e-6, hint=""):
    """Fail with the first mismatching element unless ``value`` matches ``expected``."""
    expected = np.asarray(expected, dtype="float64")
    arr = expect_shape(value, expected.shape, what)
    expect_finite(arr, what)
    bad = ~np.isclose(arr, expected, rtol=rtol, atol=atol)
    if bad.any():
        i = np.unravel_index(np.argmax(bad), bad.shape) if arr.ndim else ()
        got, want = arr[i], expected[i]
        where = f" at index {tuple(int(j) for j in i)}" if arr.ndim else ""
        fail(f"{what}{where} is {got:.6g}, expected {want:.6g}.{(' ' + hint) if hint else ''}")
    return arr


def first_match(out, candidates, rtol=1e-5, atol=1e-6):
    """Fail with the message of the first candidate ``(values, message)`` that ``out`` equals.

    For naming a mistake: the values a typical wrong answer gives, beside the message that explains it.
    """
    out = np.asarray(out, dtype="float64")
    for values, message in candidates:
        values = np.asarray(values, dtype="float64")
        with np.errstate(all="ignore"):
            if values.shape == out.shape and np.all(np.isfinite(values)) and np.allclose(out, values, rtol, atol):
                fail(message)


def expect_standard_normal(eps, what, fix):
    """Fail unless the values ``eps`` (flattened; many thousands of them) look like draws from N(0, 1).

    Their mean and spread are tested elsewhere; this tests the shape of the distribution, so that noise with
    the right mean and variance but another law (uniform or +-1 values scaled to unit variance, a clipped or
    truncated Gaussian) fails. The thresholds are many standard errors wide: a Gaussian fails with
    probability far below 1e-9. ``what`` names the values ("your eps"), ``fix`` says what to do.
    """
    from scipy.special import ndtr

    eps = np.sort(np.ravel(np.asarray(eps, dtype="float64")))
    n = eps.size
    centred = eps - eps.mean()
    kurtosis = float(np.mean(centred**4) / np.mean(centred**2) ** 2 - 3)
    cdf = ndtr(eps)
    ks = float(max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n)))
    if abs(kurtosis) > 10 * np.sqrt(24 / n) or ks > 4 / np.sqrt(n):
        fail(f"{what} has the right mean and spread but is not Gaussian: its excess kurtosis is {kurtosis:.2f} "
             f"(0 for a Gaussian; -1.2 for uniform noise, -2 for random signs +-1) and its distribution is "
             f"{ks:.3f} away from N(0, 1)'s (Kolmogorov-Smirnov). {fix}")
    expected = n * 2 * ndtr(-3.01)
    beyond = int(np.sum(np.abs(eps) > 3.01))
    if expected >= 25 and beyond < expected - 6 * np.sqrt(expected):
        fail(f"only {beyond} of your {n} values of {what} lie beyond 3 standard deviations, where a Gaussian puts "
             f"about {expected:.0f}: the noise is clipped or truncated (or not Gaussian). {fix}")
