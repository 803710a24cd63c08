"""Chapter 1 checks: the reference solutions pass; wrong ones fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete

from gdl.checks import PASSED, ch01

# ----------------------------------------------------------------------------- reference solutions


def log_density(x, mu, sigma):
    return -0.5 * np.log(2 * np.pi) - np.log(sigma) - (np.asarray(x) - mu) ** 2 / (2 * sigma**2)


def fit(x):
    return x.mean(), x.std()


def sample(mu, sigma, n, rng):
    return mu + sigma * rng.standard_normal(n)


def mixture(weights, means, stds, n, rng):
    labels = rng.choice(len(weights), size=n, p=weights)
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


CASES = {
    "gaussian_log_density": (ch01.check_gaussian_log_density, log_density),
    "fit_gaussian": (ch01.check_fit_gaussian, fit),
    "sample_gaussian": (ch01.check_sample_gaussian, sample),
    "sample_mixture": (ch01.check_sample_mixture, mixture),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_passes_and_stub_is_incomplete(name):
    check, reference = CASES[name]
    assert_references_pass_and_stub_is_incomplete(check, reference)


def test_numpy_normal_is_accepted():
    # rng.normal(mu, sigma, n) computes mu + sigma * standard_normal(n): the same reparameterization.
    assert ch01.check_sample_gaussian.evaluate(lambda mu, s, n, rng: rng.normal(mu, s, n)).status == PASSED


WRONG = [
    # gaussian_log_density
    (ch01.check_gaussian_log_density, lambda x, mu, s: np.zeros(3), "has shape (3,), expected"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: np.full(np.shape(x), -0.9), "is -0.9, expected"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: np.exp(log_density(x, mu, s)), "not its logarithm"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: log_density(x, mu, s) + 0.5 * np.log(2 * np.pi),
     "the term -1/2 log(2 pi) is missing"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: log_density(x, mu, s) + np.log(s),
     "the term -log(sigma) is missing"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: -0.5 * np.log(2 * np.pi) - np.log(s) - (x - mu) ** 2 / (2 * s),
     "not by 2 sigma"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: -0.5 * np.log(2 * np.pi) - np.log(s) - (x - mu) ** 2 / 2,
     "expected"),
    (ch01.check_gaussian_log_density, lambda x, mu, s: np.sum(log_density(x, mu, s)), "has shape ()"),
    # fit_gaussian
    (ch01.check_fit_gaussian, lambda x: (x.mean(), x.std(ddof=1)), "divided by n - 1"),
    (ch01.check_fit_gaussian, lambda x: (x.mean(), x.var()), "returned the variance"),
    (ch01.check_fit_gaussian, lambda x: (0.0, 1.0), "mu_hat is 0, expected"),
    (ch01.check_fit_gaussian, lambda x: (np.median(x), x.std()), "sample average"),
    (ch01.check_fit_gaussian, lambda x: x.mean(), "should return a pair"),
    (ch01.check_fit_gaussian, lambda x: (x, x.std()), "single numbers"),
    (ch01.check_fit_gaussian, lambda x: (x.mean(), np.abs(x - x.mean()).mean()), "sigma_hat is"),
    (ch01.check_fit_gaussian, lambda x: (x.mean(), x.std()) if x.sort() is None else None, "changed its input"),
    # sample_gaussian
    (ch01.check_sample_gaussian, lambda mu, s, n, rng: mu + s * rng.standard_normal((n, 1)), "has shape"),
    (ch01.check_sample_gaussian, lambda mu, s, n, rng: mu + s**2 * rng.standard_normal(n), "not sigma^2"),
    (ch01.check_sample_gaussian, lambda mu, s, n, rng: np.full(n, mu), "standard deviation 0.000"),
    (ch01.check_sample_gaussian, lambda mu, s, n, rng: s * rng.standard_normal(n), "expected mu"),
    (ch01.check_sample_gaussian, lambda mu, s, n, rng: mu + s * np.random.default_rng(0).standard_normal(n),
     "different random generators gave the same samples"),
    (ch01.check_sample_gaussian, lambda mu, s, n, rng: mu + s * rng.uniform(-np.sqrt(3), np.sqrt(3), n),
     "rng.standard_normal(n)"),
    # sample_mixture
    (ch01.check_sample_mixture, lambda w, m, s, n, rng: (np.zeros((n, 3)), np.zeros(n)), "has shape"),
    (ch01.check_sample_mixture,
     lambda w, m, s, n, rng: (m[np.zeros(n, int)] + rng.standard_normal((n, 2)), np.zeros(n)),
     "Every sample comes from component 0"),
    (ch01.check_sample_mixture, lambda w, m, s, n, rng: mixture(np.full(len(w), 1 / len(w)), m, s, n, rng),
     "choose components with probabilities `weights`"),
    (ch01.check_sample_mixture,
     lambda w, m, s, n, rng: (lambda x, lab: (x, rng.permutation(lab)))(*mixture(w, m, s, n, rng)),
     "sample x from the component you picked"),
    (ch01.check_sample_mixture,
     lambda w, m, s, n, rng: (lambda lab: (m[lab] + (s**2)[lab, None] * rng.standard_normal((n, 2)), lab))(
         rng.choice(len(w), size=n, p=w)),
     "standard deviation"),
    (ch01.check_sample_mixture, lambda w, m, s, n, rng: (np.ones((n, 2)), np.ones(n) * 7), "component indices"),
    (ch01.check_sample_mixture, lambda w, m, s, n, rng: mixture(w, m, s, n, rng)[0], "should return a pair"),
]


@pytest.mark.parametrize("check, wrong, message", WRONG)
def test_wrong_implementations_fail_with_a_specific_message(check, wrong, message):
    assert_fails_with(check, wrong, message)
