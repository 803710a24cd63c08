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
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check


def _betas(rng):
    T = int(rng.integers(20, 200))
    return np.linspace(rng.uniform(1e-4, 1e-3), rng.uniform(0.02, 0.2), T)


def _q(x0, t, alpha_bar, eps):
    a = alpha_bar[t].reshape((-1,) + (1,) * (x0.ndim - 1))
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


def _close(a, b):
    a, b = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-6)


def _test_alpha_bar(f):
    rng = np.random.default_rng()
    betas = _betas(rng)
    before = betas.copy()
    out = expect_shape(f(betas), betas.shape, f"alpha_bar(betas) for {len(betas)} betas")
    if not np.array_equal(betas, before):
        fail("`alpha_bar` changed its input `betas`; compute a new array.")
    expect_finite(out, "alpha_bar")
    ref = np.cumprod(1 - betas)
    if _close(out, ref):
        return None
    if _close(out, 1 - np.cumprod(betas)) or _close(out, np.cumprod(betas)):
        fail("Multiply the alphas, alpha_t = 1 - beta_t, not the betas.")
    if _close(out, 1 - np.cumsum(betas)) or _close(out, np.cumsum(1 - betas)):
        fail("alpha_bar is a cumulative product of alpha_t = 1 - beta_t (np.cumprod), not a sum.")
    if _close(out, 1 - betas):
        fail("You returned alpha_t = 1 - beta_t itself; alpha_bar_t multiplies all of alpha_1, ..., alpha_t.")
    if _close(out, np.concatenate([[1.0], ref[:-1]])):
        fail("Off by one: index 0 is timestep 1, so alpha_bar[0] = 1 - beta[0], not 1.")
    expect_close(out, ref, "alpha_bar", hint="alpha_bar_t = prod_{s <= t} (1 - beta_s).")


def _test_q_sample(f):
    rng = np.random.default_rng()
    alpha_bar = np.cumprod(1 - _betas(rng))
    n = int(rng.integers(4, 12))
    shape = (n,) + tuple(int(s) for s in rng.integers(2, 5, size=int(rng.integers(1, 3))))
    x0 = rng.uniform(-1, 1, size=shape)
    eps = rng.normal(size=shape)
    t = rng.permutation(len(alpha_bar))[:n]  # distinct timesteps: one per example
    out = expect_shape(f(x0, t, alpha_bar, eps), shape, f"q_sample(x0, t, alpha_bar, eps) for x0 of shape {shape}")
    expect_finite(out, "q_sample(...)")
    ref = _q(x0, t, alpha_bar, eps)
    if _close(out, ref):
        return None
    a = alpha_bar[t].reshape((-1,) + (1,) * (x0.ndim - 1))
    if _close(out, a * x0 + (1 - a) * eps):
        fail("Use the square roots: sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps; alpha_bar_t is a variance.")
    if _close(out, np.sqrt(1 - a) * x0 + np.sqrt(a) * eps):
        fail("The coefficients are swapped: x0 is scaled by sqrt(alpha_bar_t), the noise by sqrt(1 - alpha_bar_t).")
    if _close(out, x0 + np.sqrt(1 - a) * eps):
        fail("Scale x0 down by sqrt(alpha_bar_t) too, or the variance of x_t grows instead of staying near 1.")
    if _close(out, _q(x0, t + 1 if t.max() + 1 < len(alpha_bar) else t, alpha_bar, eps)) or _close(
            out, _q(x0, np.maximum(t - 1, 0), alpha_bar, eps)):
        fail("Off by one: index alpha_bar with t itself (index i is timestep i + 1).")
    expect_close(out, ref, "q_sample(...)", hint="Each example i uses its own alpha_bar[t[i]].")


def _fake_model(rng, d):
    w = rng.normal(size=(d, d)) / np.sqrt(d)

    def model(x_t, t):
        x_t = np.asarray(x_t, dtype="float64")
        t = np.asarray(t)
        if t.shape != (len(x_t),):
            raise ValueError(f"model(x_t, t) expects one timestep per example, t of shape ({len(x_t)},)")
        return np.tanh(x_t @ w) + 0.01 * t[:, None]

    return model


def _test_diffusion_loss(f):
    rng = np.random.default_rng()
    alpha_bar = np.cumprod(1 - _betas(rng))
    n, d = int(rng.integers(8, 40)), int(rng.integers(2, 6))
    model = _fake_model(rng, d)
    x0 = rng.uniform(-1, 1, size=(n, d))
    eps = rng.normal(size=(n, d))
    t = rng.integers(0, len(alpha_bar), size=n)
    out = as_array(f(model, x0, t, alpha_bar, eps), "diffusion_loss(...)")
    if out.shape == (n,) or out.shape == (n, d):
        fail(f"`diffusion_loss` returned shape {out.shape}: average over examples and coordinates, one number.")
    out = expect_shape(out, (), "diffusion_loss(...)")
    x_t = _q(x0, t, alpha_bar, eps)
    ref = np.mean((eps - model(x_t, t)) ** 2)
    if np.isclose(out, ref, rtol=1e-5, atol=1e-8):
        return None
    if np.isclose(out, np.mean((eps - model(x0, t)) ** 2), rtol=1e-5, atol=1e-8):
        fail("Give the network the noisy x_t = q_sample(x0, t, ...), not the clean x0.")
    if np.isclose(out, np.mean((x0 - model(x_t, t)) ** 2), rtol=1e-5, atol=1e-8):
        fail("The network predicts the noise eps (Ho et al.'s objective): compare its output with eps, not x0.")
    if np.isclose(out, np.mean((x_t - model(x_t, t)) ** 2), rtol=1e-5, atol=1e-8):
        fail("Compare the network's output with the noise eps, not with x_t.")
    if np.isclose(out, np.sum((eps - model(x_t, t)) ** 2), rtol=1e-5, atol=1e-8):
        fail("You summed the squared errors: take their mean.")
    if np.isclose(out, np.mean(np.abs(eps - model(x_t, t))), rtol=1e-5, atol=1e-8):
        fail("Use the squared error (eps - prediction)^2, not the absolute error.")
    hint = "loss = mean((eps - model(q_sample(x0, t, alpha_bar, eps), t))^2)."
    expect_close(out, ref, "diffusion_loss(...)", hint=hint)


def _step(x_t, i, eps_pred, betas, alpha_bar, z):
    mean = (x_t - betas[i] / np.sqrt(1 - alpha_bar[i]) * eps_pred) / np.sqrt(1 - betas[i])
    return mean + (np.sqrt(betas[i]) * z if i > 0 else 0.0)


def _test_reverse_step(f):
    rng = np.random.default_rng()
    betas = _betas(rng)
    alpha_bar = np.cumprod(1 - betas)
    shape = (int(rng.integers(3, 10)), int(rng.integers(2, 6)))
    x_t, eps_pred, z = rng.normal(size=shape), rng.normal(size=shape), rng.normal(size=shape)
    for i in (int(rng.integers(1, len(betas))), len(betas) - 1, 0):
        out = expect_shape(f(x_t, i, eps_pred, betas, alpha_bar, z), shape,
                           f"reverse_step(x_t, t={i}, ...) for x_t of shape {shape}")
        expect_finite(out, f"reverse_step(x_t, t={i}, ...)")
        ref = _step(x_t, i, eps_pred, betas, alpha_bar, z)
        if _close(out, ref):
            continue
        mean = ref - (np.sqrt(betas[i]) * z if i > 0 else 0.0)
        if i == 0 and _close(out, mean + np.sqrt(betas[i]) * z):
            fail("At the last step (t index 0) add no noise: return the mean alone.")
        if i > 0 and _close(out, mean):
            fail(f"At t index {i} add the noise sqrt(beta_t) z: without it every sample follows the same path "
                 "and the samples lose their diversity.")
        if _close(out, (x_t - betas[i] / np.sqrt(1 - alpha_bar[i]) * eps_pred) / np.sqrt(alpha_bar[i])
                   + (np.sqrt(betas[i]) * z if i > 0 else 0.0)):
            fail("Divide by sqrt(alpha_t) = sqrt(1 - beta_t) of this step, not by sqrt(alpha_bar_t).")
        if _close(out, (x_t - np.sqrt(1 - alpha_bar[i]) * eps_pred) / np.sqrt(1 - betas[i])
                   + (np.sqrt(betas[i]) * z if i > 0 else 0.0)):
            fail("The noise coefficient is beta_t / sqrt(1 - alpha_bar_t), not sqrt(1 - alpha_bar_t).")
        if _close(out, mean + betas[i] * z) and i > 0:
            fail("The noise's standard deviation is sqrt(beta_t), not beta_t.")
        hint = "x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_pred) / sqrt(1 - beta_t) + sqrt(beta_t) z."
        expect_close(out, ref, f"reverse_step(x_t, t={i}, ...)", hint=hint)


check_alpha_bar = make_check("alpha_bar", _test_alpha_bar)
check_q_sample = make_check("q_sample", _test_q_sample)
check_diffusion_loss = make_check("diffusion_loss", _test_diffusion_loss)
check_reverse_step = make_check("reverse_step", _test_reverse_step)
