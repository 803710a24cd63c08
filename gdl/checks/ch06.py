"""Checks for the Chapter 6 exercises (``exercises/06_diffusion.ipynb``).

Arrays over timesteps have length T and are indexed 0..T-1: index i holds timestep t = i + 1.

- ``check_alpha_bar(f)``: ``f(betas)`` returns alpha_bar, the cumulative product of alpha = 1 - beta.
- ``check_q_sample(f)``: ``f(x0, t, alpha_bar, eps)`` returns sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) eps,
  one timestep index per example.
- ``check_diffusion_loss(f)``: ``f(model, x0, t, alpha_bar, eps)`` returns the eps-prediction loss
  mean((eps - model(x_t, t))^2) with x_t from q_sample.
- ``check_reverse_step(f)``: ``f(x_t, t, eps_pred, betas, alpha_bar, z)`` returns one DDPM ancestral step
  x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred) / sqrt(alpha_t) + sqrt(beta_t) z (no noise at
  the last step, index 0).

Every run tries points (n, d) and image batches (n, h, w, c), the first and last indices 0 and T - 1
(and 1 for the reverse step), and a T other than the notebook's 1000.
"""

import numpy as np

from gdl.checks import _learner_line, _short, as_array, expect_close, expect_finite, expect_shape, fail, make_check


def _betas(rng, low=20, high=200):
    T = int(rng.integers(low, high))
    return np.linspace(rng.uniform(1e-4, 1e-3), rng.uniform(0.02, 0.2), T)


def _shape_of(coefficient, x):
    return coefficient.reshape((-1,) + (1,) * (x.ndim - 1))


def _q(x0, t, alpha_bar, eps):
    a = _shape_of(alpha_bar[t], x0)
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


def _close(a, b, atol=1e-6):
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=atol)


# In float32, 1 - alpha_bar near t = 0 (about 1e-4) keeps only a few digits: x_t is then good to about 1e-5.
_Q_ATOL = 1e-5


def _shapes(rng):
    """A batch of points (n, d) and a batch of images (n, h, w, c), n never equal to another axis."""
    n = int(rng.integers(9, 16))
    image = (n + 1, int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 4)))
    return [(n, int(rng.integers(2, 7))), image]


def _timesteps(rng, n, T):
    """One index per example, always including the first (0) and the last (T - 1), in random places."""
    t = np.concatenate([[0, T - 1], rng.integers(1, T - 1, size=n - 2)])
    return rng.permutation(t)


def _call(f, args, what):
    """Call the learner's function; turn an indexing or broadcasting error into advice."""
    try:
        return f(*args)
    except NotImplementedError:
        raise  # the exercise stub: "not yet complete"
    except IndexError as err:
        fail(f"{what} raised IndexError: {_short(err, 150)}{_learner_line(err, (f,))}. Index the arrays over "
             "timesteps with t itself: indices run from 0 to T - 1 (index i is timestep i + 1).")
    except ValueError as err:
        if "broadcast" not in str(err):
            raise
        fail(f"{what} raised ValueError: {_short(err, 150)}{_learner_line(err, (f,))}. Reshape the per-example "
             "coefficients to (n, 1, ..., 1) so that they broadcast over the other axes of points and images "
             "alike, e.g. a.reshape((-1,) + (1,) * (x0.ndim - 1)).")


def _test_alpha_bar(f):
    rng = np.random.default_rng()
    for betas in (_betas(rng), _betas(rng, 2, 8).astype("float32")):  # a long and a short schedule, two precisions
        what = f"alpha_bar(betas) for {len(betas)} {betas.dtype} betas"
        out = expect_shape(_call(f, (betas,), what), betas.shape, what)
        expect_finite(out, "alpha_bar")
        b = betas.astype("float64")
        ref = np.cumprod(1 - b)
        if _close(out, ref):
            continue
        candidates = [
            (np.cumprod(b), "Multiply the alphas, alpha_t = 1 - beta_t, not the betas."),
            (1 - np.cumprod(b), "Multiply the alphas, alpha_t = 1 - beta_t, not the betas."),
            (1 - np.cumsum(b), "alpha_bar is a cumulative product of alpha_t = 1 - beta_t (np.cumprod), not a sum."),
            (np.cumsum(1 - b), "alpha_bar is a cumulative product of alpha_t = 1 - beta_t (np.cumprod), not a sum."),
            (np.exp(-np.cumsum(b)), "exp(-sum of betas) only approximates the product for small betas: compute "
                                    "the product of (1 - beta_s) itself (np.cumprod)."),
            (1 - b, "You returned alpha_t = 1 - beta_t itself; alpha_bar_t multiplies all of alpha_1, ..., alpha_t."),
            (np.concatenate([[1.0], ref[:-1]]), "Off by one: index 0 is timestep 1, so alpha_bar[0] = 1 - beta[0], "
                                                "not 1."),
            (np.sqrt(ref), "You returned sqrt(alpha_bar); alpha_bar itself is the product of the alphas."),
            (np.cumprod((1 - b)[::-1])[::-1], "Multiply from the first timestep: alpha_bar[i] = (1 - beta[0]) ... "
                                              "(1 - beta[i]), so alpha_bar decreases with i."),
            (np.full_like(b, ref[-1]), "alpha_bar has one value per timestep, the product up to that step "
                                       "(np.cumprod), not the product of all of them."),
        ]
        for value, message in candidates:
            if _close(out, value):
                fail(message)
        expect_close(out, ref, what, hint="alpha_bar_t = prod_{s <= t} (1 - beta_s).")


def _test_q_sample(f):
    rng = np.random.default_rng()
    alpha_bar = np.cumprod(1 - _betas(rng))
    T = len(alpha_bar)
    for shape in _shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        x0, eps = rng.uniform(-1, 1, size=shape), rng.normal(size=shape)
        t = _timesteps(rng, shape[0], T)
        what = f"q_sample(x0, t, alpha_bar, eps) for {kind} x0 of shape {shape}"
        out = expect_shape(_call(f, (x0, t, alpha_bar, eps), what), shape, what)
        expect_finite(out, what)
        ref = _q(x0, t, alpha_bar, eps)
        if _close(out, ref, _Q_ATOL):
            continue
        a = _shape_of(alpha_bar[t], x0)
        candidates = [
            (a * x0 + (1 - a) * eps, "Use the square roots: sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps; "
                                     "alpha_bar_t is a variance."),
            (a * x0 + np.sqrt(1 - a) * eps, "Scale x0 by sqrt(alpha_bar_t), not alpha_bar_t."),
            (np.sqrt(a) * x0 + (1 - a) * eps, "Scale the noise by its standard deviation sqrt(1 - alpha_bar_t), not "
                                              "by the variance 1 - alpha_bar_t."),
            (np.sqrt(1 - a) * x0 + np.sqrt(a) * eps, "The coefficients are swapped: x0 is scaled by sqrt(alpha_bar_t), "
                                                     "the noise by sqrt(1 - alpha_bar_t)."),
            (x0 + np.sqrt(1 - a) * eps, "Scale x0 down by sqrt(alpha_bar_t) too, or the variance of x_t grows "
                                        "instead of staying near 1."),
            (_q(x0, np.maximum(t - 1, 0), alpha_bar, eps), "Off by one: index alpha_bar with t itself (index i is "
                                                           "timestep i + 1)."),
            (_q(x0, t - 1, alpha_bar, eps), "Off by one: index alpha_bar with t itself (index i is timestep i + 1)."),
            (_q(x0, np.full_like(t, t[0]), alpha_bar, eps), "Each example i uses its own alpha_bar[t[i]], not the "
                                                            "first example's."),
            (_q(x0, t, alpha_bar, eps[:1]), "Each example has its own noise eps[i]: use all of eps, not its first "
                                            "row."),
        ]
        for value, message in candidates:
            if _close(out, value, _Q_ATOL):
                fail(f"With {kind}: {message}")
        if not _close(_call(f, (x0, t, alpha_bar, eps), what), out):
            fail(f"With {kind}: your q_sample gives another x_t for the same inputs, so it draws noise of its own: "
                 "use the eps argument.")
        expect_close(out, ref, what, atol=_Q_ATOL,
                     hint="x_t = sqrt(alpha_bar[t[i]]) x0[i] + sqrt(1 - alpha_bar[t[i]]) eps[i].")


def _fake_model(rng, shape, T):
    """A stand-in noise predictor for points and images: mixes all coordinates and depends on t clearly."""
    size = int(np.prod(shape[1:]))
    w = rng.normal(size=(size, size)) / np.sqrt(size)
    phase = rng.uniform(0, 2 * np.pi, size=size)

    def model(x_t, t):
        x_t = np.asarray(x_t, dtype="float64")
        t = np.asarray(t)
        if t.shape != (len(x_t),):
            raise ValueError(f"model(x_t, t) expects one timestep per example, t of shape ({len(x_t)},)")
        flat = x_t.reshape(len(x_t), -1)
        out = np.tanh(flat @ w) + 0.5 * np.sin(3.0 * t[:, None] / T * 2 * np.pi + phase)
        return out.reshape(x_t.shape)

    return model


def _test_diffusion_loss(f):
    rng = np.random.default_rng()
    alpha_bar = np.cumprod(1 - _betas(rng))
    T = len(alpha_bar)
    for shape in _shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        model = _fake_model(rng, shape, T)
        x0, eps = rng.uniform(-1, 1, size=shape), rng.normal(size=shape)
        t = _timesteps(rng, shape[0], T)
        what = f"diffusion_loss(...) for {kind} of shape {shape}"
        out = as_array(_call(f, (model, x0, t, alpha_bar, eps), what), what)
        if out.shape != ():
            fail(f"{what} returned shape {out.shape}: average over examples and coordinates, one number.")
        out = float(out)
        expect_finite(np.asarray(out), what)
        x_t = _q(x0, t, alpha_bar, eps)
        err = eps - model(x_t, t)
        ref = np.mean(err**2)
        if np.isclose(out, ref, rtol=1e-5, atol=1e-8):
            continue
        candidates = [
            (np.mean((eps - model(x0, t)) ** 2), "Give the network the noisy x_t = q_sample(x0, t, ...), not the "
                                                 "clean x0."),
            (np.mean((x0 - model(x_t, t)) ** 2), "The network predicts the noise eps (Ho et al.'s objective): compare "
                                                 "its output with eps, not x0."),
            (np.mean((x_t - model(x_t, t)) ** 2), "Compare the network's output with the noise eps, not with x_t."),
            (np.sum(err**2), "You summed the squared errors: take their mean."),
            (np.mean(np.sum(err.reshape(len(err), -1) ** 2, axis=1)), "You summed over the coordinates of each "
                                                                      "example: average over them too (one mean "
                                                                      "over everything)."),
            (np.mean(np.abs(err)), "Use the squared error (eps - prediction)^2, not the absolute error."),
            (np.sqrt(ref), "Return the mean squared error itself, not its square root."),
            (np.mean((eps - model(x_t, np.minimum(t + 1, T - 1))) ** 2), "Give the network the timestep index t "
                                                                         "itself, as it was used for x_t."),
            (np.mean((eps - model(x_t, t / T)) ** 2), "Give the network the integer timestep index t, not t / T."),
            (np.mean((eps - model(x_t, t / 1000)) ** 2), "Give the network the integer timestep index t, not "
                                                         "t / 1000."),
            (np.mean((eps - model(_q(x0, t, alpha_bar, eps[:1]), t)) ** 2), "Each example has its own noise eps[i]: "
                                                                            "use all of eps."),
        ]
        for value, message in candidates:
            if np.isclose(out, value, rtol=1e-5, atol=1e-8):
                fail(f"With {kind}: {message}")
        again = float(as_array(_call(f, (model, x0, t, alpha_bar, eps), what), what).reshape(()))
        if not np.isclose(again, out, rtol=1e-9, atol=0):
            fail(f"With {kind}: your diffusion_loss gives another value for the same inputs, so it draws noise or "
                 "timesteps of its own: use the eps and t arguments.")
        fail(f"{what} is {out:.6g}, expected {ref:.6g}: loss = mean((eps - model(q_sample(x0, t, alpha_bar, eps), "
             "t))^2) with the given eps and t (do not draw noise or timesteps of your own).")


def _step(x_t, i, eps_pred, betas, alpha_bar, z):
    mean = (x_t - betas[i] / np.sqrt(1 - alpha_bar[i]) * eps_pred) / np.sqrt(1 - betas[i])
    return mean + (np.sqrt(betas[i]) * z if i > 0 else 0.0)


def _test_reverse_step(f):
    rng = np.random.default_rng()
    betas = _betas(rng)
    alpha_bar = np.cumprod(1 - betas)
    T = len(betas)
    for shape in _shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        x_t, eps_pred, z = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
        for i in (int(rng.integers(2, T - 1)), T - 1, 1, 0):
            what = f"reverse_step(x_t, t={i}, ...) for {kind} of shape {shape}"
            out = expect_shape(_call(f, (x_t, i, eps_pred, betas, alpha_bar, z), what), shape, what)
            expect_finite(out, what)
            ref = _step(x_t, i, eps_pred, betas, alpha_bar, z)
            if _close(out, ref):
                continue
            b, ab = betas[i], alpha_bar[i]
            mean = ref - (np.sqrt(b) * z if i > 0 else 0.0)
            noise = np.sqrt(b) * z if i > 0 else 0.0
            if i == 0 and _close(out, mean + np.sqrt(b) * z):
                fail("At the last step (t index 0) add no noise: return the mean alone.")
            if i > 0 and _close(out, mean):
                fail(f"At t index {i} add the noise sqrt(beta_t) z (only index 0 has none): without it every sample "
                     "follows the same path and the samples lose their diversity.")
            candidates = [
                ((x_t - b / np.sqrt(1 - ab) * eps_pred) / np.sqrt(ab) + noise,
                 "Divide by sqrt(alpha_t) = sqrt(1 - beta_t) of this step, not by sqrt(alpha_bar_t)."),
                ((x_t - b / np.sqrt(1 - ab) * eps_pred) / (1 - b) + noise,
                 "Divide by sqrt(alpha_t) = sqrt(1 - beta_t), not by alpha_t itself."),
                ((x_t - b / np.sqrt(1 - ab) * eps_pred) * np.sqrt(1 - b) + noise,
                 "Divide by sqrt(alpha_t) = sqrt(1 - beta_t), do not multiply by it."),
                ((x_t - np.sqrt(1 - ab) * eps_pred) / np.sqrt(1 - b) + noise,
                 "The noise coefficient is beta_t / sqrt(1 - alpha_bar_t), not sqrt(1 - alpha_bar_t)."),
                ((x_t - b / (1 - ab) * eps_pred) / np.sqrt(1 - b) + noise,
                 "The noise coefficient is beta_t / sqrt(1 - alpha_bar_t): the square root is missing."),
                ((x_t + b / np.sqrt(1 - ab) * eps_pred) / np.sqrt(1 - b) + noise,
                 "Subtract the predicted noise from x_t: x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred."),
                (mean + b * z, "The noise's standard deviation is sqrt(beta_t), not beta_t."),
                (mean + np.sqrt(b) * z[:1], "Each example has its own noise z[i]: use all of z, not its first row."),
            ]
            if i > 0:
                beta_tilde = (1 - alpha_bar[i - 1]) / (1 - ab) * b
                candidates.append((mean + np.sqrt(beta_tilde) * z, "This exercise uses sigma_t^2 = beta_t, not the "
                                                                   "posterior variance (1 - alpha_bar_{t-1}) / (1 - "
                                                                   "alpha_bar_t) beta_t."))
                candidates.append((_step(x_t, i - 1, eps_pred, betas, alpha_bar, z), "Off by one: index betas and "
                                                                                    "alpha_bar with t itself."))
            else:
                candidates.append((_step(x_t, -1, eps_pred, betas, alpha_bar, z), "Off by one: index betas and "
                                                                                      "alpha_bar with t itself (t - 1 "
                                                                                      "= -1 is the last timestep)."))
            for value, message in candidates:
                if _close(out, value):
                    fail(f"With {kind} at t index {i}: {message}")
            if not _close(_call(f, (x_t, i, eps_pred, betas, alpha_bar, z), what), out):
                fail(f"With {kind} at t index {i}: your reverse_step gives another result for the same inputs, so it "
                     "draws noise of its own: use the z argument.")
            hint = "x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred) / sqrt(1 - beta_t) + sqrt(beta_t) z."
            expect_close(out, ref, what, hint=hint)


check_alpha_bar = make_check("alpha_bar", _test_alpha_bar)
check_q_sample = make_check("q_sample", _test_q_sample)
check_diffusion_loss = make_check("diffusion_loss", _test_diffusion_loss)
check_reverse_step = make_check("reverse_step", _test_reverse_step)
