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
- ``check_cosine_betas(f)``: ``f(T, s)`` returns the cosine schedule's betas, beta_t = min(1 - alpha_bar_t /
  alpha_bar_{t-1}, 0.999) with alpha_bar_t = f(t) / f(0), f(t) = cos^2((t / T + s) / (1 + s) pi / 2).
- ``check_ddim_step(f)``: ``f(x_t, t, t_prev, eps_pred, alpha_bar)`` returns one deterministic DDIM step
  sqrt(alpha_bar_prev) x0_hat + sqrt(1 - alpha_bar_prev) eps_pred, x0_hat = (x_t - sqrt(1 - alpha_bar_t)
  eps_pred) / sqrt(alpha_bar_t); t_prev = -1 is the data (alpha_bar = 1).

Every run tries points (n, d) and image batches (n, h, w, c), the first and last indices 0 and T - 1
(and 1 for the reverse step), and a T other than the notebook's 1000.
"""

import numpy as np

from gdl.checks import (
    _learner_line,
    _short,
    as_array,
    batch_shapes,
    expect_close,
    expect_finite,
    expect_shape,
    fail,
    make_check,
    new_rng,
    same_values,
)


def _betas(rng, low=20, high=200):
    T = int(rng.integers(low, high))
    return np.linspace(rng.uniform(1e-4, 1e-3), rng.uniform(0.02, 0.2), T)


def _shape_of(coefficient, x):
    return coefficient.reshape((-1,) + (1,) * (x.ndim - 1))


def _q(x0, t, alpha_bar, eps):
    a = _shape_of(alpha_bar[t], x0)
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


# In float32, 1 - alpha_bar near t = 0 (about 1e-4) keeps only a few digits: x_t is then good to about 1e-5.
_Q_ATOL = 1e-5


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
    rng = new_rng()
    for betas in (_betas(rng), _betas(rng, 2, 8).astype("float32")):  # a long and a short schedule, two precisions
        what = f"alpha_bar(betas) for {len(betas)} {betas.dtype} betas"
        out = expect_shape(_call(f, (betas,), what), betas.shape, what)
        expect_finite(out, "alpha_bar")
        b = betas.astype("float64")
        ref = np.cumprod(1 - b)
        if same_values(out, ref):
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
            if same_values(out, value):
                fail(message)
        expect_close(out, ref, what, hint="alpha_bar_t = prod_{s <= t} (1 - beta_s).")


def _test_q_sample(f):
    rng = new_rng()
    alpha_bar = np.cumprod(1 - _betas(rng))
    T = len(alpha_bar)
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        x0, eps = rng.uniform(-1, 1, size=shape), rng.normal(size=shape)
        t = _timesteps(rng, shape[0], T)
        what = f"q_sample(x0, t, alpha_bar, eps) for {kind} x0 of shape {shape}"
        out = expect_shape(_call(f, (x0, t, alpha_bar, eps), what), shape, what)
        expect_finite(out, what)
        ref = _q(x0, t, alpha_bar, eps)
        if same_values(out, ref, _Q_ATOL):
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
            if same_values(out, value, _Q_ATOL):
                fail(f"With {kind}: {message}")
        if not same_values(_call(f, (x0, t, alpha_bar, eps), what), out):
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
    rng = new_rng()
    alpha_bar = np.cumprod(1 - _betas(rng))
    T = len(alpha_bar)
    for shape in batch_shapes(rng):
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
    rng = new_rng()
    betas = _betas(rng)
    alpha_bar = np.cumprod(1 - betas)
    T = len(betas)
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        x_t, eps_pred, z = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
        for i in (int(rng.integers(2, T - 1)), T - 1, 1, 0):
            what = f"reverse_step(x_t, t={i}, ...) for {kind} of shape {shape}"
            out = expect_shape(_call(f, (x_t, i, eps_pred, betas, alpha_bar, z), what), shape, what)
            expect_finite(out, what)
            ref = _step(x_t, i, eps_pred, betas, alpha_bar, z)
            if same_values(out, ref):
                continue
            b, ab = betas[i], alpha_bar[i]
            mean = ref - (np.sqrt(b) * z if i > 0 else 0.0)
            noise = np.sqrt(b) * z if i > 0 else 0.0
            if i == 0 and same_values(out, mean + np.sqrt(b) * z):
                fail("At the last step (t index 0) add no noise: return the mean alone.")
            if i > 0 and same_values(out, mean):
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
                if same_values(out, value):
                    fail(f"With {kind} at t index {i}: {message}")
            if not same_values(_call(f, (x_t, i, eps_pred, betas, alpha_bar, z), what), out):
                fail(f"With {kind} at t index {i}: your reverse_step gives another result for the same inputs, so it "
                     "draws noise of its own: use the z argument.")
            hint = "x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred) / sqrt(1 - beta_t) + sqrt(beta_t) z."
            expect_close(out, ref, what, hint=hint)


check_alpha_bar = make_check("alpha_bar", _test_alpha_bar)
check_q_sample = make_check("q_sample", _test_q_sample)
check_diffusion_loss = make_check("diffusion_loss", _test_diffusion_loss, points=2)
check_reverse_step = make_check("reverse_step", _test_reverse_step)


# ----------------------------------------------------------------------------- the cosine schedule


def _cosine(T, s):
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    a = f / f[0]
    return np.minimum(1 - a[1:] / a[:-1], 0.999)


# Near t = T the cosine is close to 0: a float32 implementation keeps only about 4 digits of beta_t there.
_COS_RTOL, _COS_ATOL = 1e-4, 1e-6


def _test_cosine_betas(f):
    rng = new_rng()
    # a long schedule with a small offset too: its first betas are below 1e-5, so a clip from below (which the
    # schedule does not have) changes them
    for T, s in ((int(rng.integers(30, 300)), float(rng.uniform(0.004, 0.02))), (int(rng.integers(3, 8)), 0.008),
                 (int(rng.integers(2000, 4001)), float(rng.uniform(0.001, 0.003)))):
        what = f"cosine_betas({T}, s={s:.4g})"
        raw = _call(f, (T, s), what)
        out = expect_shape(raw, (T,), what)
        expect_finite(out, what)
        ref = _cosine(T, s)
        slack = _float32_slack(T, s) if "float32" in str(getattr(raw, "dtype", "")) and T > 1000 else 0.0

        def close_with_slack(a, b, atol, rtol, slack=slack):  # the float32 slack of the long schedule
            a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
            return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b) + slack))

        if close_with_slack(out, ref, _COS_ATOL, _COS_RTOL):
            continue
        t = np.arange(T + 1)
        g = np.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
        a = g / g[0]
        a_ref = a[1:]
        candidates = [
            (a_ref, "You returned alpha_bar_t; return beta_t = 1 - alpha_bar_t / alpha_bar_{t-1}."),
            (1 - ref, "You returned alpha_t = 1 - beta_t; return beta_t itself."),
            (np.minimum(1 - a_ref, 0.999), "beta_t = 1 - alpha_bar_t / alpha_bar_{t-1} (a ratio of neighbours), "
                                           "not 1 - alpha_bar_t."),
            (1 - a[1:] / a[:-1], "Clip beta_t at 0.999: at t = T alpha_bar_T = 0 makes beta_T = 1, and a step with "
                                 "alpha_T = 0 destroys everything (and divides by 0 in the reverse step)."),
            (_cosine(T, 0.0), "Use the offset s that you are given: it keeps beta_t from vanishing near t = 0."),
            (_cosine(T, 0.008), "Use the offset s that you are given (here not the default 0.008)."),
            (_cosine_sin(T, s), "Use cos^2, not sin^2."),
            (_cosine_power(T, s, 1), "alpha_bar uses the square of the cosine, cos^2(...)."),
            (_cosine_no_offset_scale(T, s), "Divide (t / T + s) by (1 + s): then alpha_bar_T is exactly 0."),
            (np.minimum(1 - a[1:] / a[:-1], 0.99), "Clip beta_t at 0.999, not 0.99 (as Nichol and Dhariwal)."),
            (_cosine_grid(T, s), "Evaluate the cosine at t = 0, 1, ..., T (T + 1 values, np.arange(T + 1)): "
                                 "alpha_bar_0 = 1 is the first of them."),
        ]
        low = float(np.min(out))
        if low > np.min(ref) + _COS_ATOL:
            candidates.append((np.maximum(ref, low), f"You clipped beta_t from below (at {low:.3g}), a clip the "
                               "schedule does not have: beta_t = min(1 - alpha_bar_t / alpha_bar_{t-1}, 0.999), "
                               "whose first betas are smaller than that for a long schedule."))
        for value, message in candidates:
            if value.shape == out.shape and close_with_slack(out, value, _COS_ATOL, _COS_RTOL):
                fail(f"With T = {T}: {message}")
        hint = ("alpha_bar_t = f(t) / f(0), f(t) = cos^2((t / T + s) / (1 + s) pi / 2); "
                "beta_t = min(1 - alpha_bar_t / alpha_bar_{t-1}, 0.999).")
        expect_close(out, ref, what, rtol=_COS_RTOL, atol=_COS_ATOL, hint=hint)


def _float32_slack(T, s):
    """How far a float32 computation of the T betas may be from the exact ones, beyond the usual tolerance.

    beta_t = 1 - cos^2(theta_t) / cos^2(theta_{t-1}): rounding theta to float32 (relative error 2^-24) moves
    beta_t by about 2 (1 - beta_t) (tan(theta_t) theta_t + tan(theta_{t-1}) theta_{t-1}) 2^-24, and the
    cosines' own rounding adds a few 2^-24. Neighbouring thetas of a long schedule are only pi / (2T) apart,
    so near t = T this is far above 1e-4 relative; near t = 0 (theta small) it is about 1e-7.
    """
    theta = (np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2
    with np.errstate(over="ignore", invalid="ignore"):
        size = np.nan_to_num(theta * np.abs(np.tan(theta)), nan=1e30, posinf=1e30)
    return 8 * 2.0**-24 * (2 + 2 * (size[1:] + size[:-1]))


def _cosine_sin(T, s):
    f = np.sin((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(1 - f[1:] / f[:-1], 0.999)


def _cosine_power(T, s, power):
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** power
    return np.minimum(1 - f[1:] / f[:-1], 0.999)


def _cosine_no_offset_scale(T, s):
    f = np.cos((np.arange(T + 1) / T + s) * np.pi / 2) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(1 - f[1:] / f[:-1], 0.999)


def _cosine_grid(T, s):
    f = np.cos((np.arange(T) / T + s) / (1 + s) * np.pi / 2) ** 2
    a = f / f[0]
    return np.minimum(1 - a / np.concatenate([[1.0], a[:-1]]), 0.999)


# ----------------------------------------------------------------------------- the DDIM step


def _ddim(x_t, i, i_prev, eps_pred, alpha_bar):
    a = alpha_bar[i]
    a_prev = alpha_bar[i_prev] if i_prev >= 0 else 1.0
    x0 = (x_t - np.sqrt(1 - a) * eps_pred) / np.sqrt(a)
    return np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps_pred


def _test_ddim_step(f):
    rng = new_rng()
    alpha_bar = np.cumprod(1 - _betas(rng, 40, 200))
    T = len(alpha_bar)
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        x_t, eps_pred = rng.normal(size=shape), rng.normal(size=shape)
        middle = int(rng.integers(T // 2, T - 1))
        for i, i_prev in ((T - 1, middle), (middle, int(rng.integers(1, middle - 5))), (int(rng.integers(3, 9)), 0),
                          (int(rng.integers(2, 9)), -1), (0, -1)):
            what = f"ddim_step(x_t, t={i}, t_prev={i_prev}, ...) for {kind} of shape {shape}"
            out = expect_shape(_call(f, (x_t, i, i_prev, eps_pred, alpha_bar), what), shape, what)
            expect_finite(out, what)
            ref = _ddim(x_t, i, i_prev, eps_pred, alpha_bar)
            if same_values(out, ref, _Q_ATOL):
                continue
            a = alpha_bar[i]
            a_prev = alpha_bar[i_prev] if i_prev >= 0 else 1.0
            x0 = (x_t - np.sqrt(1 - a) * eps_pred) / np.sqrt(a)
            candidates = [
                (x0, "You returned the estimate of x_0; move to t_prev: sqrt(alpha_bar_prev) x0_hat + "
                     "sqrt(1 - alpha_bar_prev) eps_pred."),
                (np.sqrt(alpha_bar[i_prev]) * x0 + np.sqrt(1 - alpha_bar[i_prev]) * eps_pred,
                 "t_prev = -1 means the data itself, alpha_bar = 1: alpha_bar[-1] is the LAST timestep in Python."),
                (a_prev * (x_t - (1 - a) * eps_pred) / a + (1 - a_prev) * eps_pred,
                 "Use the square roots of alpha_bar and 1 - alpha_bar throughout: alpha_bar is a variance."),
                (a_prev * x0 + (1 - a_prev) * eps_pred, "Use the square roots sqrt(alpha_bar_prev) and "
                                                        "sqrt(1 - alpha_bar_prev): alpha_bar is a variance."),
                ((x_t - (1 - a) * eps_pred) / a, "x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t): "
                                                 "the square roots are missing."),
                (np.sqrt(a_prev) * (x_t - np.sqrt(1 - a) * eps_pred) + np.sqrt(1 - a_prev) * eps_pred,
                 "Divide by sqrt(alpha_bar_t) to estimate x_0."),
                (np.sqrt(a_prev) * (x_t + np.sqrt(1 - a) * eps_pred) / np.sqrt(a) + np.sqrt(1 - a_prev) * eps_pred,
                 "Subtract the predicted noise to estimate x_0: x_t - sqrt(1 - alpha_bar_t) eps."),
                (np.sqrt(a_prev) * x0 - np.sqrt(1 - a_prev) * eps_pred, "Add the noise back with a plus sign: "
                                                                        "x_prev = sqrt(alpha_bar_prev) x0_hat + "
                                                                        "sqrt(1 - alpha_bar_prev) eps."),
                (np.sqrt(a_prev) * x0, "Add the predicted noise back at the level of t_prev: + sqrt(1 - "
                                       "alpha_bar_prev) eps_pred."),
                (np.sqrt(a_prev / a) * x_t, "Use eps_pred: x_prev = sqrt(alpha_bar_prev) x0_hat + sqrt(1 - "
                                            "alpha_bar_prev) eps_pred."),
            ]
            if i_prev >= 1:
                candidates.append((_ddim(x_t, i, i_prev - 1, eps_pred, alpha_bar),
                                   "Off by one: index alpha_bar with t_prev itself."))
            if i >= 1:
                candidates.append((_ddim(x_t, i - 1, i_prev, eps_pred, alpha_bar),
                                   "Off by one: index alpha_bar with t itself."))
            for value, message in candidates:
                if same_values(out, value, _Q_ATOL):
                    fail(f"With {kind}, t = {i}, t_prev = {i_prev}: {message}")
            if not same_values(_call(f, (x_t, i, i_prev, eps_pred, alpha_bar), what), out, 1e-9, 1e-9):
                fail(f"With {kind}: your ddim_step gives another result for the same inputs; DDIM (eta = 0) "
                     "is deterministic: draw no noise.")
            expect_close(out, ref, what, atol=_Q_ATOL, hint="x0_hat = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t); x_prev = "
                                              "sqrt(a_prev) x0_hat + sqrt(1 - a_prev) eps (a_prev = 1 at t_prev = -1).")


check_cosine_betas = make_check("cosine_betas", _test_cosine_betas)
check_ddim_step = make_check("ddim_step", _test_ddim_step)
