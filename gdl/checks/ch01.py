"""Checks for the Chapter 1 exercises (``exercises/01_gaussian.ipynb``).

- ``check_gaussian_log_density(f)``: ``f(x, mu, sigma)`` returns log N(x; mu, sigma^2) element-wise, also
  far in the tails (40 and 1,000 standard deviations from mu), for 1-D and 2-D arrays x.
- ``check_fit_gaussian(f)``: ``f(x)`` returns the maximum-likelihood ``(mu_hat, sigma_hat)``.
- ``check_sample_gaussian(f)``: ``f(mu, sigma, n, rng)`` returns n samples mu + sigma * eps, eps drawn from
  ``rng.standard_normal(n)``.
- ``check_sample_mixture(f)``: ``f(weights, means, stds, n, rng)`` returns ``(x, labels)`` from a
  2-D isotropic Gaussian mixture, with all its randomness drawn from ``rng``.

Every run tries every input shape the exercise allows (1-D and 2-D x; several sample sizes and numbers of
components, n = 1 included), so no answer passes by luck.
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, first_match, make_check

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def _log_density(x, mu, sigma):
    return -HALF_LOG_2PI - np.log(sigma) - (x - mu) ** 2 / (2 * sigma**2)


def _pair(out, name, first, second):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"`{name}` should return a pair ({first}, {second}), got {type(out).__name__}.")
    return out


# ----------------------------------------------------------------------------- gaussian_log_density


def _log_density_inputs(rng, shape, sigma):
    """x of ``shape`` near mu, at mu itself, and far in both tails (40 and 1,000 sigma away)."""
    mu = rng.choice([-1, 1]) * rng.uniform(0.5, 3)
    z = rng.uniform(-3, 3, size=shape)
    far = rng.choice(z.size, size=5, replace=False)
    z.flat[far] = [0.0, 40.0, -40.0, 1000.0, -1000.0]
    return mu + sigma * z, mu, np.abs(z) >= 40


def _test_gaussian_log_density(f):
    rng = np.random.default_rng()
    # sigma below 1 in one call and above 1 in the other: log(sigma) and sigma^2 vs sigma never vanish
    for shape, sigma in [((int(rng.integers(8, 40)),), rng.uniform(0.1, 0.5)),
                         ((int(rng.integers(3, 6)), int(rng.integers(3, 6))), rng.uniform(2.0, 5.0))]:
        x, mu, tail = _log_density_inputs(rng, shape, sigma)
        call = f"gaussian_log_density(x, mu={mu:.3f}, sigma={sigma:.3f}) for x of shape {shape}"
        out = expect_shape(f(x, mu, sigma), shape, call)
        ref = _log_density(x, mu, sigma)
        if not np.all(np.isfinite(out)):
            if np.all(np.isfinite(out[~tail])):
                fail(f"{call} is infinite or NaN far from mu (|x - mu| = 40 sigma and more), where the density "
                     "itself underflows to 0: compute the log-density directly, never log(p(x)).")
            expect_finite(out, call)
        if np.allclose(out, ref, rtol=1e-5, atol=1e-5):  # float32 arithmetic is welcome
            continue
        first_match(out, [
            (np.exp(ref), "You returned the density p(x), not its logarithm log p(x)."),
            (-HALF_LOG_2PI - np.log(sigma) - (x - mu) ** 2 / (2 * sigma), "Divide (x - mu)^2 by 2 sigma^2, not by "
             "2 sigma."),
            (-HALF_LOG_2PI - np.log(sigma) - (x - mu) ** 2 / sigma**2, "The quadratic term is (x - mu)^2 / "
             "(2 sigma^2): the factor 1/2 is missing."),
            (-HALF_LOG_2PI - np.log(sigma) + (x - mu) ** 2 / (2 * sigma**2), "The quadratic term has the wrong "
             "sign: log p(x) decreases as x moves away from mu."),
            (-HALF_LOG_2PI - np.log(sigma) - x**2 / (2 * sigma**2), "Subtract mu: the quadratic term is "
             "(x - mu)^2 / (2 sigma^2)."),
            (-HALF_LOG_2PI - np.log(sigma) - (x - mu) ** 2 / 2, "Divide (x - mu)^2 by 2 sigma^2: the division by "
             "sigma^2 is missing."),
        ])
        far = np.abs(out - ref) > 1e-5 * np.abs(ref) + 1e-5
        if np.all(~far[~tail]):
            fail(f"{call}: your values are right near mu but wrong far from it (|x - mu| = 40 sigma and more): "
                 "compute the log-density directly, never log(p(x)).")
        offset = (out - ref)[~tail]
        if np.ptp(offset) < 1e-5 and abs(offset.mean()) > 1e-5:
            c = float(offset.mean())
            hint = "check the normalising terms -1/2 log(2 pi) - log(sigma)"
            if np.isclose(c, HALF_LOG_2PI, atol=1e-4):
                hint = "the term -1/2 log(2 pi) is missing"
            elif np.isclose(c, np.log(sigma), atol=1e-4):
                hint = "the term -log(sigma) is missing"
            elif np.isclose(c, -np.log(sigma), atol=1e-4):
                hint = "you subtracted log(sigma^2); the normalising term is -log(sigma)"
            fail(f"{call}: your values are off by the same constant {c:+.4f} for every x: {hint}.")
        expect_close(out, ref, call, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- fit_gaussian


def _test_fit_gaussian(f):
    rng = np.random.default_rng()
    for n in [int(rng.integers(2, 6)), int(rng.integers(50, 300))]:
        mu = rng.choice([-1, 1]) * rng.uniform(1.0, 5.0)  # far from 0: sqrt(mean(x^2)) is not the std
        sigma = rng.uniform(0.5, 4.0)
        x = mu + sigma * rng.standard_normal(n)
        out = _pair(f(x), "fit_gaussian", "mu_hat", "sigma_hat")
        mu_hat, sigma_hat = as_array(out[0], "mu_hat"), as_array(out[1], "sigma_hat")
        if mu_hat.shape != () or sigma_hat.shape != ():
            fail(f"`mu_hat` and `sigma_hat` should be single numbers, got shapes {mu_hat.shape} and "
                 f"{sigma_hat.shape}.")
        expect_finite(np.array([mu_hat, sigma_hat]), f"fit_gaussian(x) for {n} samples")
        m, s = x.mean(), x.std()
        if np.isclose(mu_hat, m, rtol=2e-5, atol=1e-9) and np.isclose(sigma_hat, s, rtol=2e-5, atol=1e-9):
            continue
        if np.isclose(mu_hat, s, rtol=2e-5) and np.isclose(sigma_hat, m, rtol=2e-5):
            fail("You returned (sigma_hat, mu_hat): return the pair in the order (mu_hat, sigma_hat).")
        expect_close(mu_hat, m, "mu_hat", rtol=2e-5, atol=1e-9, hint="The MLE of the mean is the sample average.")
        first_match(sigma_hat, [
            (x.std(ddof=1), "You divided by n - 1 (the unbiased estimate); the maximum-likelihood estimate divides "
             "by n."),
            (x.var(), "You returned the variance sigma_hat^2; return its square root, sigma_hat."),
            (x.var(ddof=1), "You returned the unbiased variance; the MLE divides by n and is a standard deviation "
             "(take the square root)."),
            (np.sqrt(np.mean(x**2)), "You forgot to subtract mu_hat: sigma_hat = sqrt(mean((x - mu_hat)^2))."),
            (np.mean(np.abs(x - m)), "You averaged |x - mu_hat|; the MLE averages the SQUARES, then takes the "
             "square root."),
        ], rtol=2e-5, atol=1e-9)
        expect_close(sigma_hat, s, f"sigma_hat for {n} samples", rtol=2e-5, atol=1e-9,
                     hint="sigma_hat = sqrt(mean((x - mu_hat)^2)).")


# ----------------------------------------------------------------------------- sample_gaussian


def _test_sample_gaussian(f):
    rng = np.random.default_rng()
    # |mu| >= 1 tells a missing mu from sampling noise; sigma > 1.5 tells sigma from sigma^2.
    mu, sigma = rng.choice([-1, 1]) * rng.uniform(1.0, 5.0), rng.uniform(1.5, 4.0)
    n = int(rng.integers(15_000, 25_000))
    seed = int(rng.integers(2**31))
    call = f"sample_gaussian(mu, sigma, n={n}, rng)"
    x = expect_shape(f(mu, sigma, n, np.random.default_rng(seed)), (n,), call)
    expect_finite(x, "your samples")
    if np.ptp(x) == 0:
        fail("All your samples are equal: draw one eps per sample, rng.standard_normal(n).")
    if np.isclose(x.std(), sigma**2, rtol=0.05):
        fail(f"Your samples have standard deviation sigma^2 = {sigma**2:.3f}: scale eps by sigma, not sigma^2.")
    if np.isclose(x.std(), np.sqrt(sigma), rtol=0.05):
        fail(f"Your samples have standard deviation sqrt(sigma) = {np.sqrt(sigma):.3f}: sigma is already the "
             "standard deviation, scale eps by sigma itself.")
    if abs(x.std() - sigma) > 0.05 * sigma:
        fail(f"Your samples have standard deviation {x.std():.3f}, expected sigma = {sigma:.3f}.")
    if abs(x.mean() - mu) > 6 * sigma / np.sqrt(n):
        fail(f"Your samples have mean {x.mean():.3f}, expected mu = {mu:.3f}.")
    same = as_array(f(mu, sigma, n, np.random.default_rng(seed)), "a second call")
    if not np.array_equal(x, same):
        fail("Two calls with generators seeded alike gave different samples: draw eps from the `rng` you are "
             "given (rng.standard_normal), not from np.random, so that results are reproducible.")
    again = as_array(f(mu, sigma, n, np.random.default_rng(seed + 1)), "a third call")
    if np.array_equal(x, again):
        fail("Two calls with different random generators gave the same samples: draw eps from `rng`, not from a "
             "generator with a fixed seed.")
    eps = np.random.default_rng(seed).standard_normal(n)
    expect_close(x, mu + sigma * eps, "your samples", rtol=1e-6, atol=1e-6,
                 hint="Draw eps = rng.standard_normal(n) and return mu + sigma * eps (the reparameterization).")
    for small in (1, int(rng.integers(2, 6))):
        out = expect_shape(f(mu, sigma, small, np.random.default_rng(seed)), (small,),
                           f"sample_gaussian(mu, sigma, n={small}, rng)")
        expect_close(out, mu + sigma * eps[:small], f"sample_gaussian(mu, sigma, n={small}, rng)", rtol=1e-6,
                     atol=1e-6, hint="Draw eps = rng.standard_normal(n) and return mu + sigma * eps.")


# ----------------------------------------------------------------------------- sample_mixture


def _mixture_parameters(rng, k):
    weights = rng.dirichlet(np.full(k, 3.0))
    while weights.max() < 1.5 / k or weights.min() < 0.05:  # clearly unequal, yet every component is visible
        weights = rng.dirichlet(np.full(k, 3.0))
    means = rng.uniform(-10, 10, size=(k, 2))
    # below 0.6, so that sigma^2 and sqrt(sigma) are far from sigma; at least 40% apart from one another
    stds = 0.12 * 1.4 ** rng.permutation(k) * rng.uniform(1.0, 1.1)
    return weights, means, stds


def _test_sample_mixture_once(f, rng, k, n):
    weights, means, stds = _mixture_parameters(rng, k)
    seed = int(rng.integers(2**31))
    call = f"sample_mixture(weights, means, stds, n={n}, rng) with {k} components"
    out = _pair(f(weights, means, stds, n, np.random.default_rng(seed)), "sample_mixture", "x", "labels")
    x = expect_shape(out[0], (n, 2), f"x from {call}")
    expect_finite(x, "x")
    labels = expect_shape(out[1], (n,), f"labels from {call}")
    if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() >= k:
        fail(f"`labels` should be component indices 0..{k - 1}.")
    labels = labels.astype(int)
    same = _pair(f(weights, means, stds, n, np.random.default_rng(seed)), "sample_mixture", "x", "labels")
    if not (np.array_equal(as_array(same[0], "x"), x) and np.array_equal(as_array(same[1], "labels"), labels)):
        fail("Two calls with generators seeded alike gave different samples: draw all the randomness (components "
             "and noise) from the `rng` you are given, not from np.random.")
    if n < 1000:
        return x, labels
    other = _pair(f(weights, means, stds, n, np.random.default_rng(seed + 1)), "sample_mixture", "x", "labels")
    if np.array_equal(as_array(other[0], "x"), x):
        fail("Two calls with different random generators gave the same samples: use `rng`, not a generator with "
             "a fixed seed.")
    counts = np.bincount(labels, minlength=k)
    if (counts > 0).sum() == 1:
        fail(f"Every sample comes from component {labels[0]}: pick each sample's component at random.")
    if np.all(np.diff(labels) >= 0):
        fail("Your labels come sorted, component after component: the samples are not drawn one by one. Pick each "
             "sample's component independently, rng.choice(K, size=n, p=weights).")
    freq = counts / n
    tol = 6 * np.sqrt(weights * (1 - weights) / n)
    j = int(np.argmax(np.abs(freq - weights) - tol))
    if abs(freq[j] - weights[j]) > tol[j]:
        fail(f"Component {j} was picked for {freq[j]:.3f} of the samples, but its weight is {weights[j]:.3f}: "
             "choose components with probabilities `weights`.")
    for j in range(k):
        xj = x[labels == j]
        centre, spread = xj.mean(axis=0), xj.std(axis=0)
        if np.all(spread < 1e-9):
            fail(f"All samples labelled {j} are the same point: draw a fresh eps for every sample "
                 "(rng.standard_normal((n, 2))), not one for the whole batch.")
        if np.max(np.abs(centre - means[j])) > 6 * stds[j] / np.sqrt(len(xj)) + 1e-9:
            fail(f"The samples labelled {j} are centred at {np.round(centre, 2)}, not at means[{j}] = "
                 f"{np.round(means[j], 2)}: sample x from the component you picked for it.")
        if np.max(np.abs(spread - stds[j])) > 0.15 * stds[j]:
            fail(f"The samples labelled {j} have standard deviation {np.round(spread, 3)}, expected "
                 f"stds[{j}] = {stds[j]:.3f} in each coordinate.")
        eps = (xj - means[j]) / stds[j]
        if abs(np.corrcoef(eps[:, 0], eps[:, 1])[0, 1]) > 0.3:
            fail(f"In the samples labelled {j} the two coordinates move together: draw an independent eps for each "
                 "coordinate, shape (n, 2), not one per sample shared by both coordinates.")
    return x, labels


def _test_sample_mixture(f):
    rng = np.random.default_rng()
    # two components and several (never the notebook's 3 only), a large n for statistics, and n = 1
    for k, n in [(2, 20_000), (int(rng.integers(4, 6)), 20_000), (int(rng.integers(2, 6)), 1)]:
        _test_sample_mixture_once(f, rng, k, n)


check_gaussian_log_density = make_check("gaussian_log_density", _test_gaussian_log_density)
check_fit_gaussian = make_check("fit_gaussian", _test_fit_gaussian)
check_sample_gaussian = make_check("sample_gaussian", _test_sample_gaussian)
check_sample_mixture = make_check("sample_mixture", _test_sample_mixture)
