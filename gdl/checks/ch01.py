"""Checks for the Chapter 1 exercises (``exercises/01_gaussian.ipynb``).

- ``check_gaussian_log_density(f)``: ``f(x, mu, sigma)`` returns log N(x; mu, sigma^2) element-wise.
- ``check_fit_gaussian(f)``: ``f(x)`` returns the maximum-likelihood ``(mu_hat, sigma_hat)``.
- ``check_sample_gaussian(f)``: ``f(mu, sigma, n, rng)`` returns n samples mu + sigma * eps.
- ``check_sample_mixture(f)``: ``f(weights, means, stds, n, rng)`` returns ``(x, labels)`` from a
  2-D isotropic Gaussian mixture.
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def _log_density(x, mu, sigma):
    return -HALF_LOG_2PI - np.log(sigma) - (x - mu) ** 2 / (2 * sigma**2)


def _test_gaussian_log_density(f):
    rng = np.random.default_rng()
    for shape in [(int(rng.integers(5, 40)),), (int(rng.integers(2, 6)), int(rng.integers(2, 6)))]:
        mu, sigma = rng.uniform(-3, 3), rng.uniform(0.2, 3.0)
        x = mu + sigma * rng.uniform(-3, 3, size=shape)
        out = expect_shape(f(x, mu, sigma), shape, f"gaussian_log_density(x, mu, sigma) for x of shape {shape}")
        expect_finite(out, "gaussian_log_density(...)")
        ref = _log_density(x, mu, sigma)
        if np.allclose(out, ref, rtol=1e-5, atol=1e-6):
            continue
        if np.allclose(out, np.exp(ref), rtol=1e-5, atol=1e-8):
            fail("You returned the density p(x), not its logarithm log p(x).")
        if np.allclose(out, -HALF_LOG_2PI - np.log(sigma) - (x - mu) ** 2 / (2 * sigma), rtol=1e-5, atol=1e-6):
            fail("Divide (x - mu)^2 by 2 sigma^2, not by 2 sigma.")
        offset = out - ref
        if np.ptp(offset) < 1e-6:
            c = float(offset.mean())
            hint = "check the normalising terms -1/2 log(2 pi) - log(sigma)"
            if np.isclose(c, HALF_LOG_2PI, atol=1e-4):
                hint = "the term -1/2 log(2 pi) is missing"
            elif np.isclose(c, np.log(sigma), atol=1e-4):
                hint = "the term -log(sigma) is missing"
            fail(f"Your values are off by the same constant {c:+.4f} for every x: {hint}.")
        expect_close(out, ref, f"gaussian_log_density(x, mu={mu:.3f}, sigma={sigma:.3f})")


def _test_fit_gaussian(f):
    rng = np.random.default_rng()
    n = int(rng.integers(20, 200))
    mu, sigma = rng.uniform(-5, 5), rng.uniform(0.1, 4.0)
    x = mu + sigma * rng.standard_normal(n)
    x_before = x.copy()
    out = f(x)
    if not np.array_equal(x, x_before):
        fail("`fit_gaussian` changed its input array; compute the estimates without modifying x.")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"`fit_gaussian` should return a pair (mu_hat, sigma_hat), got {type(out).__name__}.")
    mu_hat = as_array(out[0], "mu_hat")
    sigma_hat = as_array(out[1], "sigma_hat")
    if mu_hat.shape != () or sigma_hat.shape != ():
        fail(f"`mu_hat` and `sigma_hat` should be single numbers, got shapes {mu_hat.shape} and {sigma_hat.shape}.")
    expect_close(mu_hat, x.mean(), "mu_hat", hint="The MLE of the mean is the sample average.")
    if np.isclose(sigma_hat, x.std(ddof=1), rtol=1e-7) and not np.isclose(sigma_hat, x.std(), rtol=1e-7):
        fail("You divided by n - 1 (the unbiased estimate); the maximum-likelihood estimate divides by n.")
    if np.isclose(sigma_hat, x.var(), rtol=1e-6) and not np.isclose(sigma_hat, x.std(), rtol=1e-6):
        fail("You returned the variance sigma_hat^2; return its square root, sigma_hat.")
    expect_close(sigma_hat, x.std(), "sigma_hat", hint="sigma_hat = sqrt(mean((x - mu_hat)^2)).")


def _test_sample_gaussian(f):
    rng = np.random.default_rng()
    # |mu| >= 1 tells a missing mu from sampling noise; sigma > 1.5 tells sigma from sigma^2.
    mu, sigma = rng.choice([-1, 1]) * rng.uniform(1.0, 5.0), rng.uniform(1.5, 4.0)
    n = 20_000
    seed = int(rng.integers(2**31))
    x = expect_shape(f(mu, sigma, n, np.random.default_rng(seed)), (n,), f"sample_gaussian(mu, sigma, n={n}, rng)")
    expect_finite(x, "your samples")
    if np.isclose(x.std(), sigma**2, rtol=0.05):
        fail(f"Your samples have standard deviation sigma^2 = {sigma**2:.3f}: scale eps by sigma, not sigma^2.")
    if abs(x.std() - sigma) > 0.05 * sigma:
        fail(f"Your samples have standard deviation {x.std():.3f}, expected sigma = {sigma:.3f}.")
    if abs(x.mean() - mu) > 6 * sigma / np.sqrt(n):
        fail(f"Your samples have mean {x.mean():.3f}, expected mu = {mu:.3f}.")
    again = as_array(f(mu, sigma, n, np.random.default_rng(seed + 1)), "a second call")
    if np.array_equal(x, again):
        fail("Two calls with different random generators gave the same samples: draw eps from `rng`.")
    eps = np.random.default_rng(seed).standard_normal(n)
    expect_close(
        x, mu + sigma * eps, "your samples", rtol=1e-6, atol=1e-6,
        hint="Draw eps = rng.standard_normal(n) and return mu + sigma * eps (the reparameterization).",
    )


def _test_sample_mixture(f):
    rng = np.random.default_rng()
    k = int(rng.integers(2, 6))
    weights = rng.dirichlet(np.full(k, 3.0))
    while weights.max() < 1.5 / k or weights.min() < 0.05:  # clearly unequal, yet every component is visible
        weights = rng.dirichlet(np.full(k, 3.0))
    means = rng.uniform(-10, 10, size=(k, 2))
    stds = rng.uniform(0.2, 0.7, size=k)  # below 1, so that sigma^2 is far from sigma
    n = 20_000
    out = f(weights, means, stds, n, np.random.default_rng(int(rng.integers(2**31))))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"`sample_mixture` should return a pair (x, labels), got {type(out).__name__}.")
    x = expect_shape(out[0], (n, 2), f"x from sample_mixture(weights, means, stds, n={n}, rng)")
    expect_finite(x, "x")
    labels = expect_shape(out[1], (n,), "labels")
    if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() >= k:
        fail(f"`labels` should be component indices 0..{k - 1}.")
    labels = labels.astype(int)
    counts = np.bincount(labels, minlength=k)
    if (counts > 0).sum() == 1:
        fail(f"Every sample comes from component {labels[0]}: pick each sample's component at random.")
    freq = counts / n
    tol = 6 * np.sqrt(weights * (1 - weights) / n)
    j = int(np.argmax(np.abs(freq - weights) - tol))
    if abs(freq[j] - weights[j]) > tol[j]:
        fail(
            f"Component {j} was picked for {freq[j]:.3f} of the samples, but its weight is {weights[j]:.3f}: "
            "choose components with probabilities `weights`."
        )
    for j in range(k):
        xj = x[labels == j]
        centre, spread = xj.mean(axis=0), xj.std(axis=0)
        if np.max(np.abs(centre - means[j])) > 6 * stds[j] / np.sqrt(len(xj)) + 1e-9:
            fail(
                f"The samples labelled {j} are centred at {np.round(centre, 2)}, not at means[{j}] = "
                f"{np.round(means[j], 2)}: sample x from the component you picked for it."
            )
        if np.max(np.abs(spread - stds[j])) > 0.1 * stds[j]:
            fail(
                f"The samples labelled {j} have standard deviation {np.round(spread, 3)}, expected "
                f"stds[{j}] = {stds[j]:.3f} in each coordinate."
            )


check_gaussian_log_density = make_check("gaussian_log_density", _test_gaussian_log_density)
check_fit_gaussian = make_check("fit_gaussian", _test_fit_gaussian)
check_sample_gaussian = make_check("sample_gaussian", _test_sample_gaussian)
check_sample_mixture = make_check("sample_mixture", _test_sample_mixture)
