"""Checks for the Chapter 1 exercises (``exercises/01_gaussian.ipynb``).

- ``check_gaussian_log_density(f)``: ``f(x, mu, sigma)`` returns log N(x; mu, sigma^2) element-wise, also
  far in the tails (40 and 1,000 standard deviations from mu), for 1-D and 2-D arrays x.
- ``check_fit_gaussian(f)``: ``f(x)`` returns the maximum-likelihood ``(mu_hat, sigma_hat)``.
- ``check_sample_gaussian(f)``: ``f(mu, sigma, n, rng)`` returns n samples mu + sigma * eps, eps drawn from
  ``rng.standard_normal(n)``.
- ``check_mixture_log_density(f)``: ``f(x, weights, means, stds)`` returns log p(x) of a 2-D isotropic
  mixture, shape (n,), finite for points 200 standard deviations away (log-sum-exp).
- ``check_em_step(f)``: ``f(x, weights, means, stds)`` returns one EM update ``(weights, means, stds)``,
  with K = 1 and several components and with far points (responsibilities in log space).
- ``check_sample_mixture(f)``: ``f(weights, means, stds, n, rng)`` returns ``(x, labels)`` from a
  2-D isotropic Gaussian mixture, with all its randomness drawn from ``rng``.

Every run tries every input shape the exercise allows (1-D and 2-D x; several sample sizes and numbers of
components, n = 1 included), so no answer passes by luck.
"""

import numpy as np

from gdl.checks import (
    as_array,
    expect_close,
    expect_finite,
    expect_shape,
    expect_standard_normal,
    fail,
    first_match,
    make_check,
    new_rng,
)

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
    rng = new_rng()
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
    rng = new_rng()
    # The formulas hold for any data, so the last problem is skewed: there the median, which can come
    # within the tolerance of the average on a symmetric sample, is far from it.
    for n, noise in [(int(rng.integers(2, 6)), rng.standard_normal),
                     (int(rng.integers(50, 300)), rng.standard_normal),
                     (int(rng.integers(50, 300)), rng.exponential)]:
        mu = rng.choice([-1, 1]) * rng.uniform(1.0, 5.0)  # far from 0: sqrt(mean(x^2)) is not the std
        sigma = rng.uniform(0.5, 4.0)
        x = mu + sigma * noise(size=n)
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
    rng = new_rng()
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
        return x, labels, weights, means, stds, seed
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
    noise = []
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
        noise.append(eps)
    expect_standard_normal(np.concatenate(noise), "the noise (x - means[label]) / stds[label]",
                           "Draw it from a Gaussian, rng.standard_normal((n, 2)).")
    return x, labels, weights, means, stds, seed


def _expect_random_counts(f, weights, means, stds, n, seed, calls=10):
    """The component counts of ``calls`` samples vary as multinomial counts do: a sampler that takes exactly
    round(w_k n) samples of each component (then shuffles) fails. Its chi-square statistic (calls * (K - 1)
    degrees of freedom, at least 10) is below 0.1 with probability under 3e-9 for a correct sampler; such a
    sampler gives at most calls * K / (n min_k w_k) = 0.05 here."""
    k = len(weights)
    chi2 = 0.0
    for i in range(calls):
        out = _pair(f(weights, means, stds, n, np.random.default_rng(seed + 2 + i)), "sample_mixture", "x",
                    "labels")
        counts = np.bincount(np.asarray(as_array(out[1], "labels"), dtype=int).ravel(), minlength=k)[:k]
        chi2 += float(np.sum((counts - n * weights) ** 2 / (n * weights)))
    if chi2 < 0.1:
        fail(f"In {calls} calls with different generators, each component got (almost) exactly weights * n samples "
             f"every time (chi-square {chi2:.3g} over {calls * (k - 1)} degrees of freedom, where independent draws "
             "give about as many as the degrees of freedom): the samples are not independent. Pick each sample's "
             "component at random, rng.choice(K, size=n, p=weights), so that the counts vary from call to call.")


def _test_sample_mixture(f):
    rng = new_rng()
    # two components and several (never the notebook's 3 only), a large n for statistics, and n = 1
    for k, n in [(2, 20_000), (int(rng.integers(4, 6)), 20_000), (int(rng.integers(2, 6)), 1)]:
        _, _, weights, means, stds, seed = _test_sample_mixture_once(f, rng, k, n)
        if k == 2:
            _expect_random_counts(f, weights, means, stds, n, seed)


check_gaussian_log_density = make_check("gaussian_log_density", _test_gaussian_log_density)
check_fit_gaussian = make_check("fit_gaussian", _test_fit_gaussian)
check_sample_gaussian = make_check("sample_gaussian", _test_sample_gaussian)
check_sample_mixture = make_check("sample_mixture", _test_sample_mixture)


# ----------------------------------------------------------------------------- mixture_log_density


def _log_components(x, means, stds):
    """log N(x_i; mu_k, sigma_k^2 I) in 2-D, shape (n, K)."""
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    return -np.log(2 * np.pi * stds**2) - sq / (2 * stds**2)


def _logsumexp(a, axis):
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(a - top), axis=axis))


def _mixture_log_density(x, weights, means, stds):
    return _logsumexp(np.log(weights) + _log_components(x, means, stds), axis=1)


def _mixture_inputs(rng, k, n, far=True):
    """Mixture parameters and n points drawn from it; with ``far``, a few points 60 to 200 sigma away."""
    weights = rng.dirichlet(np.full(k, 2.0))
    means = rng.uniform(-4, 4, size=(k, 2))
    stds = rng.uniform(0.3, 1.5, size=k)
    if k > 1:  # two components that overlap, so that no point's density is one component's alone
        means[1] = means[0] + rng.normal(0, 0.5, size=2)
    labels = rng.choice(k, size=n, p=weights)
    x = means[labels] + stds[labels, None] * rng.standard_normal((n, 2))
    if k > 1:
        x[-1] = means[0]
    if far:
        x[:3] = [[60.0, -50.0], [-120.0, 90.0], [200.0, 200.0]]
    return x, weights, means, stds


def _test_mixture_log_density(f):
    rng = new_rng()
    for k in (1, int(rng.integers(2, 5))):  # one component and several in every run
        n = int(rng.integers(10, 40))
        x, weights, means, stds = _mixture_inputs(rng, k, n)
        call = f"mixture_log_density(x, weights, means, stds) with K = {k} components, x of shape {x.shape}"
        out = as_array(f(x, weights, means, stds), call)
        if out.shape == (n, k):
            fail(f"{call} has shape {out.shape}: that is one value per point AND component; combine the "
                 "components into log p(x) = log sum_k pi_k N(x; mu_k, sigma_k^2 I), shape (n,).")
        out = expect_shape(out, (n,), call)
        ref = _mixture_log_density(x, weights, means, stds)
        if not np.all(np.isfinite(out)):
            if np.all(np.isfinite(out[3:])):
                fail(f"{call} is infinite or NaN at points far from every component (60 to 200 standard "
                     "deviations), where every density underflows to 0: use log-sum-exp, subtracting the "
                     "largest log-term before exponentiating (scipy.special.logsumexp does it).")
            expect_finite(out, call)
        if np.allclose(out, ref, rtol=1e-6, atol=1e-6):
            continue
        logc = _log_components(x, means, stds)
        sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
        first_match(out, [
            (_logsumexp(logc, 1), "the mixture weights are missing: add log pi_k to each component's log-density."),
            (_logsumexp(np.log(weights) + logc + np.log(stds), 1), "each 2-D component's normalising constant "
             "is 1 / (2 pi sigma_k^2), not 1 / (2 pi sigma_k): square sigma_k (the log-term is -log(2 pi "
             "sigma_k^2), not -log(2 pi sigma_k)); in d dimensions it is (2 pi sigma^2)^(-d/2)."),
            (_logsumexp(np.log(weights) + logc + 0.5 * np.log(2 * np.pi * stds**2), 1), "each 2-D component's "
             "normalising constant is 1 / (2 pi sigma_k^2), not 1 / (sqrt(2 pi) sigma_k): in d dimensions it is "
             "(2 pi sigma^2)^(-d/2)."),
            (_logsumexp(np.log(weights) - np.log(2 * np.pi * stds**2) - sq / (2 * stds), 1),
             "divide the squared distance by 2 sigma_k^2, not by 2 sigma_k."),
            (_logsumexp(np.log(weights) - np.log(2 * np.pi * stds**2) - sq / stds**2, 1),
             "the factor 1/2 in the exponent is missing: -||x - mu_k||^2 / (2 sigma_k^2)."),
            (np.sum(np.log(weights) + logc, axis=1), "you summed the components' log-terms (a product of "
             "densities): the mixture is a SUM of weighted densities, so take log-sum-exp over k."),
            (np.max(np.log(weights) + logc, axis=1), "you kept only the largest component (a max): the mixture sums "
             "all of them, log-sum-exp over k."),
            (_logsumexp(logc, 1) - np.log(k), "you weighted the components equally (1/K): use the given weights."),
        ], rtol=1e-6, atol=1e-6)
        expect_close(out, ref, call, rtol=1e-6, atol=1e-6,
                     hint="log p(x) = logsumexp_k [log pi_k - log(2 pi sigma_k^2) - ||x - mu_k||^2 / (2 sigma_k^2)].")


# ----------------------------------------------------------------------------- em_step


def _em_step(x, weights, means, stds, new_means_in_variance=True):
    log_r = np.log(weights) + _log_components(x, means, stds)
    r = np.exp(log_r - _logsumexp(log_r, 1)[:, None])
    n_k = r.sum(0)
    new_means = r.T @ x / n_k[:, None]
    centre = new_means if new_means_in_variance else means
    sq = ((x[:, None, :] - centre[None]) ** 2).sum(-1)
    var = (r * sq).sum(0) / (2 * n_k)
    return n_k / len(x), new_means, np.sqrt(var)


def _m_step(x, r):
    with np.errstate(all="ignore"):
        return _m_step_unguarded(x, r)


def _m_step_unguarded(x, r):
    n_k = r.sum(0)
    means = r.T @ x / n_k[:, None]
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    return n_k / len(x), means, np.sqrt((r * sq).sum(0) / (2 * n_k))


def _flat(params):
    return np.concatenate([np.ravel(np.asarray(p, dtype="float64")) for p in params])


def _test_em_step_once(f, rng, k, far):
    n = int(rng.integers(30, 80))
    x, weights, means, stds = _mixture_inputs(rng, k, n, far=far)
    # start from perturbed parameters, as EM does after its first step
    weights0 = rng.dirichlet(np.full(k, 3.0))
    means0 = means + rng.normal(0, 0.8, size=means.shape)
    stds0 = stds * rng.uniform(0.7, 1.4, size=k)
    call = f"em_step(x, weights, means, stds) with K = {k}, x of shape {x.shape}"
    if far:
        call += " (three points far from every component)"
    out = f(x, weights0, means0, stds0)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(f"`em_step` should return a triple (weights, means, stds), got {type(out).__name__}.")
    w, m, s = (as_array(v, call) for v in out)
    if w.shape == (k, 2) and m.shape == (k,):
        fail(f"{call}: the first value has shape (K, 2): return (weights, means, stds) in that order.")
    expect_shape(w, (k,), f"the weights from {call}")
    expect_shape(m, (k, 2), f"the means from {call}")
    if s.shape == (k, 2):
        fail(f"{call}: the stds have shape (K, 2), one per coordinate; the components are isotropic, so pool "
             "both coordinates: sigma_k^2 = sum_i r_ik ||x_i - mu_k||^2 / (2 N_k), shape (K,).")
    expect_shape(s, (k,), f"the stds from {call}")
    got = _flat((w, m, s))
    if np.all(np.isfinite(w)) and np.any(w == 0):
        fail(f"{call}: a component's new weight is exactly 0, as when each point is assigned to its most likely "
             "component (hard EM) and a component gets none: use the soft responsibilities r_ik, the posterior "
             "probabilities of the components, which are never exactly 0.")
    if not np.all(np.isfinite(got)):
        fail(f"{call} contains NaN or infinity. If only far points break it: the densities of points 60 "
             "standard deviations away underflow to 0, and 0 / 0 is NaN; compute the responsibilities in log "
             "space, r_ik = exp(log pi_k + log N_ik - logsumexp_k(...)).")
    ref = _em_step(x, weights0, means0, stds0)
    if np.allclose(got, _flat(ref), rtol=1e-5, atol=1e-6):
        return
    log_r = np.log(weights0) + _log_components(x, means0, stds0)
    r = np.exp(log_r - _logsumexp(log_r, 1)[:, None])
    lc = _log_components(x, means0, stds0)
    r_nw = np.exp(lc - _logsumexp(lc, 1)[:, None])
    hard = np.eye(k)[np.argmax(log_r, axis=1)]
    first = [
        (_flat(ref[::-1]), "return (weights, means, stds) in that order."),
        (_flat(_em_step(x, weights0, means0, stds0, new_means_in_variance=False)), "the variance update uses the "
         "old means: first compute the new means mu_k, then sigma_k^2 = sum_i r_ik ||x_i - mu_k||^2 / (2 N_k) "
         "around them."),
        (_flat((ref[0], ref[1], ref[2] ** 2)), "you returned the variances sigma_k^2: return the standard "
         "deviations sigma_k (their square roots)."),
        (_flat((ref[0], ref[1], ref[2] * np.sqrt(2))), "the variance is not divided by the dimension: each 2-D "
         "point contributes two squared coordinates, so sigma_k^2 = sum_i r_ik ||x_i - mu_k||^2 / (2 N_k)."),
        (_flat((r.sum(0), ref[1], ref[2])), "the weights must sum to 1: divide N_k = sum_i r_ik by n."),
        (_flat(_m_step(x, r_nw)), "the responsibilities ignore the weights: r_ik is proportional to "
         "pi_k N(x_i; mu_k, sigma_k^2 I), not to the density alone."),
        (_flat(_m_step(x, hard)), "you assigned each point to its most likely component (hard EM): use the soft "
         "responsibilities r_ik, the posterior probabilities of the components."),
    ]
    if n != k:
        r_axis = np.exp(log_r - _logsumexp(log_r, 0)[None, :])  # normalised over the points: wrong
        first.append((_flat(_m_step(x, r_axis)), "the responsibilities are normalised over the points: each "
                      "point's r_ik must sum to 1 over the components k (axis 1)."))
    lc1 = lc + np.log(stds0)  # 1-D normalisation
    log_r1 = np.log(weights0) + lc1
    first.append((_flat(_m_step(x, np.exp(log_r1 - _logsumexp(log_r1, 1)[:, None]))), "the component densities "
                  "use the 1-D normalising constant: in 2-D, N(x; mu, sigma^2 I) = exp(-||x - mu||^2 / (2 "
                  "sigma^2)) / (2 pi sigma^2)."))
    first_match(got, first, rtol=1e-5, atol=1e-6)
    if k > 1 and np.allclose(m, np.broadcast_to(x.mean(0), m.shape), rtol=1e-5, atol=1e-6):
        fail(f"{call}: every new mean is the mean of all points: weight each point by its responsibility, "
             "mu_k = sum_i r_ik x_i / N_k.")
    expect_close(w, ref[0], f"the weights from {call}", rtol=1e-5, atol=1e-6,
                 hint="pi_k = N_k / n, with N_k = sum_i r_ik.")
    expect_close(m, ref[1], f"the means from {call}", rtol=1e-5, atol=1e-6,
                 hint="mu_k = sum_i r_ik x_i / N_k.")
    expect_close(s, ref[2], f"the stds from {call}", rtol=1e-5, atol=1e-6,
                 hint="sigma_k^2 = sum_i r_ik ||x_i - mu_k||^2 / (2 N_k), around the new means.")


def _test_em_step(f):
    rng = new_rng()
    for k, far in [(1, False), (int(rng.integers(2, 5)), False), (int(rng.integers(2, 5)), True)]:
        _test_em_step_once(f, rng, k, far)
    return "Well done: one EM step. The log-likelihood of the data never decreases from one step to the next."


check_mixture_log_density = make_check("mixture_log_density", _test_mixture_log_density)
check_em_step = make_check("em_step", _test_em_step, points=2)
