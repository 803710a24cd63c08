"""gdl.metrics against cases with a known answer: a decoder that ignores z, and a 1-D latent model whose
log p(x) is computed by Gauss-Hermite quadrature."""

import numpy as np
import pytest

from gdl import metrics

RNG = np.random.default_rng(0)
D_X = 6
X = (RNG.uniform(size=(40, D_X)) < 0.5).astype("float32")


def bernoulli_log_prob(x, logits):
    return np.sum(x * logits - np.logaddexp(0, logits), axis=-1)


# --------------------------------------------------------------- a decoder that ignores z: p(x) is exact

LOGITS = RNG.normal(size=D_X)


def constant_decoder(z):
    return np.tile(LOGITS, (len(z), 1))


def test_negative_elbo_with_a_decoder_that_ignores_z_is_nll_plus_kl():
    mean = RNG.normal(size=(len(X), 3))
    log_var = RNG.normal(size=(len(X), 3))
    nll = -bernoulli_log_prob(X, LOGITS).mean()
    kl = (0.5 * (np.exp(log_var) + mean**2 - 1 - log_var).sum(1)).mean()
    value = metrics.negative_elbo(X, lambda x: (mean[: len(x)], log_var[: len(x)]), constant_decoder)
    assert np.isclose(value, nll + kl, rtol=1e-10)
    assert kl > 0.5  # the test case is not degenerate: the KL term matters


def test_importance_weighted_nll_is_exact_when_q_is_the_prior_and_decoder_ignores_z():
    zeros = np.zeros((len(X), 2))
    value = metrics.importance_weighted_nll(X, lambda x: (zeros[: len(x)], zeros[: len(x)]), constant_decoder, k=100)
    assert np.isclose(value, -bernoulli_log_prob(X, LOGITS).mean(), rtol=1e-10)


# --------------------------------------------------------------- a 1-D latent model, exact by quadrature

W = np.array([2.0, -1.5, 3.0, 0.5, -2.5, 1.0])
B = np.array([0.3, -0.2, 0.1, 0.0, 0.4, -0.6])
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(200)  # integrates f(t) exp(-t^2 / 2)
WEIGHTS = WEIGHTS / np.sqrt(2 * np.pi)  # now sum_i w_i f(t_i) = E_{t ~ N(0, 1)}[f(t)]


def linear_decoder(z):
    return np.asarray(z, dtype="float64")[:, :1] * W + B


def exact_log_px(x):
    """log p(x) = log E_{z ~ N(0,1)} p(x | z), by quadrature."""
    log_likelihood = bernoulli_log_prob(x[:, None, :], NODES[None, :, None] * W + B)  # (n, nodes)
    return np.log(np.sum(WEIGHTS * np.exp(log_likelihood), axis=1))


def posterior_moments(x):
    """Mean and log-variance of the exact posterior p(z | x), by quadrature: a good q."""
    likelihood = WEIGHTS * np.exp(bernoulli_log_prob(x[:, None, :], NODES[None, :, None] * W + B))
    post = likelihood / likelihood.sum(1, keepdims=True)
    mean = (post * NODES).sum(1)
    var = (post * NODES**2).sum(1) - mean**2
    return mean[:, None], np.log(var)[:, None]


def encoder_near_posterior(x):
    mean, log_var = posterior_moments(np.asarray(x, dtype="float64"))
    return mean + 0.2, log_var + 0.3  # deliberately off, so q differs from the posterior


def test_importance_weighted_nll_approaches_the_exact_value():
    exact = -exact_log_px(X).mean()
    iw = metrics.importance_weighted_nll(X, encoder_near_posterior, linear_decoder, k=2000, seed=1)
    assert abs(iw - exact) < 0.005, (iw, exact)


def test_importance_weighted_nll_takes_the_proposals_themselves():
    """Per-image proposals given as the pair (z_mean, z_log_var) give the estimate the encoder gives."""
    from_encoder = metrics.importance_weighted_nll(X, encoder_near_posterior, linear_decoder, k=50, seed=4,
                                                   max_codes=200)
    given = metrics.importance_weighted_nll(X, encoder_near_posterior(X), linear_decoder, k=50, seed=4,
                                            max_codes=200)
    assert given == from_encoder


def test_negative_elbo_matches_its_quadrature_value_and_the_bounds_are_ordered():
    mean, log_var = encoder_near_posterior(X)
    sigma = np.exp(0.5 * log_var)
    z = mean + sigma * NODES[None, :]  # quadrature nodes under q(z | x)
    expected_rec = -np.sum(WEIGHTS * bernoulli_log_prob(X[:, None, :], z[..., None] * W + B), axis=1)
    kl = 0.5 * (np.exp(log_var) + mean**2 - 1 - log_var)[:, 0]
    reference = (expected_rec + kl).mean()
    value = metrics.negative_elbo(X, encoder_near_posterior, linear_decoder, samples=20_000, seed=2)
    assert abs(value - reference) < 0.01, (value, reference)
    exact = -exact_log_px(X).mean()
    iw_100 = metrics.importance_weighted_nll(X, encoder_near_posterior, linear_decoder, k=100, seed=3)
    assert reference > iw_100 > exact - 0.005  # -ELBO >= IW-NLL(k=100) >= -log p(x)
    assert reference - exact > 0.01  # q is off, so the ELBO gap is visible


def test_bits_per_dim():
    assert np.isclose(metrics.bits_per_dim(784 * np.log(2), 784), 1.0)
    with pytest.raises(ValueError, match="d_x must be a positive integer"):
        metrics.bits_per_dim(1.0, 0)


def test_gaussian_kl_is_zero_at_the_prior_and_positive_elsewhere():
    assert np.allclose(metrics.gaussian_kl(np.zeros((3, 4)), np.zeros((3, 4))), 0.0)
    assert np.all(metrics.gaussian_kl(RNG.normal(size=(5, 4)), RNG.normal(size=(5, 4))) > 0)


# --------------------------------------------------------------- clear errors on bad input

GOOD_ENCODE = encoder_near_posterior


@pytest.mark.parametrize(
    "x, encode, decoder, message",
    [
        (np.full((3, D_X), np.nan), GOOD_ENCODE, linear_decoder, "NaN"),
        (X * 0.5, GOOD_ENCODE, linear_decoder, "binarized"),
        (X[0], GOOD_ENCODE, linear_decoder, r"shape \(n, ...\)"),
        (X, lambda x: np.zeros((len(x), 1)), linear_decoder, r"the pair \(z_mean, z_log_var\)"),
        (X, lambda x: (np.zeros((len(x), 2)), np.zeros((len(x), 3))), linear_decoder, "z_mean and z_log_var of shape"),
        (X, lambda x: (np.zeros((len(x) - 1, 1)), np.zeros((len(x) - 1, 1))), linear_decoder, "of shape"),
        (X, lambda x: (np.full((len(x), 1), np.nan), np.zeros((len(x), 1))), linear_decoder, "encode.*NaN"),
        (X, GOOD_ENCODE, lambda z: np.zeros((len(z), D_X + 1)), "logits per code"),
        (X, GOOD_ENCODE, lambda z: np.full((len(z), D_X), np.nan), r"decoder\(z\) returned NaN"),
    ],
)
@pytest.mark.parametrize("metric", [metrics.negative_elbo, metrics.importance_weighted_nll])
def test_bad_input_raises_a_clear_error(metric, x, encode, decoder, message):
    with pytest.raises(ValueError, match=message):
        metric(x, encode, decoder)


def test_bad_sample_counts():
    with pytest.raises(ValueError, match="k must be a positive integer"):
        metrics.importance_weighted_nll(X, GOOD_ENCODE, linear_decoder, k=0)
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        metrics.negative_elbo(X, GOOD_ENCODE, linear_decoder, samples=1.5)


# ----------------------------------------------------------------------------- holes in a code space


def test_hole_fraction_is_small_for_a_code_space_without_holes():
    rng = np.random.default_rng(0)
    train, test = rng.uniform(size=(5_000, 2)), rng.uniform(size=(1_000, 2))
    fraction, radius = metrics.hole_fraction(train, test)
    assert fraction < 0.05 and 0 < radius < 0.05


def test_hole_fraction_returns_the_probe_codes_it_counted():
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(-5, 0.1, (300, 2)), rng.normal(5, 0.1, (300, 2))])
    fraction, radius, probe, in_hole = metrics.hole_fraction(train, train[::3], seed=3, return_probe=True)
    assert (fraction, radius) == metrics.hole_fraction(train, train[::3], seed=3)
    assert probe.shape == (2_000, 2) and in_hole.dtype == bool and in_hole.mean() == fraction
    near = np.min(np.linalg.norm(probe[:, None] - train[None], axis=-1), axis=1)  # brute force
    np.testing.assert_array_equal(in_hole, near > radius)


def test_hole_fraction_is_large_between_two_tight_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [1.0, 1.0]])
    train = centres[rng.integers(0, 2, 4_000)] + 0.01 * rng.standard_normal((4_000, 2))
    test = centres[rng.integers(0, 2, 1_000)] + 0.01 * rng.standard_normal((1_000, 2))
    fraction, radius = metrics.hole_fraction(train, test, seed=3)
    assert fraction > 0.9 and radius < 0.05


@pytest.mark.parametrize("train, test, message", [
    (np.zeros((5, 2)), np.zeros((3, 3)), "same d"),
    (np.zeros(5), np.zeros((3, 1)), "same d"),
    (np.zeros((1, 2)), np.zeros((3, 2)), "at least two"),
    (np.full((5, 2), np.nan), np.zeros((3, 2)), "NaN"),
])
def test_hole_fraction_rejects_bad_codes(train, test, message):
    with pytest.raises(ValueError, match=message):
        metrics.hole_fraction(train, test)
