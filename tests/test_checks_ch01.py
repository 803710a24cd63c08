"""Chapter 1 checks: differently written correct answers pass; the mistakes learners make fail, each with its message.

CHECKS, REFERENCES and WRONG follow the convention of every tests/test_checks_chNN.py: the exercise's check,
its correct implementations, and (wrong implementation, a fragment of the message it must get).
"""

import math

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops
from scipy.special import logsumexp

from gdl.checks import ch01

# ----------------------------------------------------------------------------- gaussian_log_density

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def log_density(x, mu, sigma):
    return -HALF_LOG_2PI - np.log(sigma) - (np.asarray(x) - mu) ** 2 / (2 * sigma**2)


def log_density_float32_ops(x, mu, sigma):
    z = (ops.convert_to_tensor(x, "float32") - mu) / sigma
    return ops.convert_to_numpy(-0.5 * ops.square(z) - math.log(sigma) - 0.5 * math.log(2 * math.pi))


def log_density_loop(x, mu, sigma):
    out = np.empty(np.shape(x))
    for i, value in np.ndenumerate(x):
        out[i] = -0.5 * math.log(2 * math.pi * sigma**2) - (value - mu) ** 2 / (2 * sigma**2)
    return out


def log_of_density(x, mu, sigma):  # took the log of the density: -inf where it underflows (40 sigma out)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi)))


def log_of_clipped_density(x, mu, sigma):  # the same, "made safe" with a clip: finite but wrong in the tails
    return np.log(np.maximum(np.exp(-((x - mu) ** 2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi)), 1e-300))


def log_sigma_squared(x, mu, sigma):  # -log(sigma^2) instead of -log(sigma)
    return -HALF_LOG_2PI - np.log(sigma**2) - (x - mu) ** 2 / (2 * sigma**2)


# ----------------------------------------------------------------------------- fit_gaussian


def fit(x):
    return x.mean(), x.std()


def fit_loop_float32(x):
    x = np.asarray(x, dtype="float32")
    mu = sum(x) / len(x)
    return float(mu), math.sqrt(sum((v - mu) ** 2 for v in x) / len(x))


# ----------------------------------------------------------------------------- sample_gaussian


def sample(mu, sigma, n, rng):
    return mu + sigma * rng.standard_normal(n)


def sample_normal(mu, sigma, n, rng):  # rng.normal computes mu + sigma * standard_normal(n) itself
    return rng.normal(mu, sigma, size=n)


def sample_float32(mu, sigma, n, rng):
    return np.float32(mu) + np.float32(sigma) * rng.standard_normal(n).astype("float32")


def sample_global(mu, sigma, n, rng):  # ignores rng: NumPy's global generator
    return mu + sigma * np.random.standard_normal(n)


def sample_fixed_seed(mu, sigma, n, rng):  # ignores rng: a generator with a fixed seed
    return mu + sigma * np.random.default_rng(0).standard_normal(n)


def sample_one_eps(mu, sigma, n, rng):  # one eps for the whole batch
    return mu + sigma * rng.standard_normal() * np.ones(n)


# ----------------------------------------------------------------------------- sample_mixture


def mixture(weights, means, stds, n, rng):
    labels = rng.choice(len(weights), size=n, p=weights)
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


def mixture_cumsum(weights, means, stds, n, rng):  # inverse-CDF sampling of the labels, then noise
    labels = np.searchsorted(np.cumsum(weights), rng.uniform(size=n), side="right")
    labels = np.minimum(labels, len(weights) - 1)
    eps = rng.standard_normal((n, 2))
    return np.take(means, labels, axis=0) + np.expand_dims(stds[labels], -1) * eps, labels


def mixture_shared_coordinates(weights, means, stds, n, rng):  # one eps per sample, used for both coordinates
    labels = rng.choice(len(weights), size=n, p=weights)
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 1)), labels


def mixture_shared_rows(weights, means, stds, n, rng):  # one eps for the whole batch
    labels = rng.choice(len(weights), size=n, p=weights)
    return means[labels] + stds[labels, None] * rng.standard_normal(2), labels


def mixture_global(weights, means, stds, n, rng):  # ignores rng for the noise
    labels = rng.choice(len(weights), size=n, p=weights)
    return means[labels] + stds[labels, None] * np.random.standard_normal((n, 2)), labels


def mixture_fixed_seed(weights, means, stds, n, rng):  # ignores rng: a fixed seed
    return mixture(weights, means, stds, n, np.random.default_rng(42))


def mixture_uniform_components(weights, means, stds, n, rng):  # ignores the weights
    labels = rng.integers(len(weights), size=n)
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


def mixture_variances(weights, means, stds, n, rng):  # stds used as variances
    labels = rng.choice(len(weights), size=n, p=weights)
    return means[labels] + (stds**2)[labels, None] * rng.standard_normal((n, 2)), labels


def mixture_unmatched_labels(weights, means, stds, n, rng):  # labels drawn apart from the x they describe
    x, _ = mixture(weights, means, stds, n, rng)
    return x, rng.choice(len(weights), size=n, p=weights)


def mixture_sorted(weights, means, stds, n, rng):  # counts per component, then the samples in blocks
    labels = np.repeat(np.arange(len(weights)), rng.multinomial(n, weights))
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


def mixture_three_components(weights, means, stds, n, rng):  # a constant from the notebook's example (K = 3)
    labels = rng.choice(3, size=n, p=weights)
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


def mixture_squeezed(weights, means, stds, n, rng):  # np.squeeze drops the sample axis when n = 1
    x, labels = mixture(weights, means, stds, n, rng)
    return np.squeeze(x), np.squeeze(labels)


def mixture_exact_counts(weights, means, stds, n, rng):  # exactly round(w_k n) of each component, shuffled
    counts = np.round(np.asarray(weights) * n).astype(int)
    counts[-1] = n - counts[:-1].sum()
    labels = rng.permutation(np.repeat(np.arange(len(weights)), counts))
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


def mixture_noise(draw):  # noise of mean 0 and variance 1 that is not Gaussian
    def sampler(weights, means, stds, n, rng):
        labels = rng.choice(len(weights), size=n, p=weights)
        return means[labels] + stds[labels, None] * draw(rng, (n, 2)), labels

    return sampler


def mixture_in_place(weights, means, stds, n, rng):  # inverse-CDF sampling with the cumsum written into `weights`
    np.cumsum(weights, out=weights)
    labels = np.minimum(np.searchsorted(weights, rng.uniform(size=n), side="right"), len(weights) - 1)
    return means[labels] + stds[labels, None] * rng.standard_normal((n, 2)), labels


# ----------------------------------------------------------------------------- mixture_log_density


def mix_logpdf(x, weights, means, stds):
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    return logsumexp(np.log(weights) - np.log(2 * np.pi * stds**2) - sq / (2 * stds**2), axis=1)


def mix_logpdf_loop_float32(x, weights, means, stds):  # a loop over components, stabilised by hand
    x = np.asarray(x, "float64")
    terms = []
    for w, m, s in zip(weights, means, stds):
        d = np.sum((x - m) ** 2, axis=1)
        terms.append(np.log(w) - 2 * np.log(s) - np.log(2 * np.pi) - 0.5 * d / s**2)
    terms = np.stack(terms, axis=1)
    top = terms.max(axis=1)
    return (top + np.log(np.exp(terms - top[:, None]).sum(1))).astype("float32")


def mix_logpdf_ops(x, weights, means, stds):  # keras.ops
    sq = ops.sum(ops.square(ops.expand_dims(x, 1) - ops.expand_dims(means, 0)), axis=-1)
    return ops.convert_to_numpy(ops.logsumexp(ops.log(weights) - ops.log(2 * np.pi * stds**2)
                                              - sq / (2 * stds**2), axis=1))


def mix_logpdf_naive(x, weights, means, stds):  # log of a sum of densities: -inf far away
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(weights * np.exp(-sq / (2 * stds**2)) / (2 * np.pi * stds**2), axis=1))


def mix_terms(x, weights, means, stds, norm=None, denom=None, half=0.5):
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    norm = np.log(2 * np.pi * stds**2) if norm is None else norm
    denom = stds**2 if denom is None else denom
    return np.log(weights) - norm - half * sq / denom


# ----------------------------------------------------------------------------- em_step


def em(x, weights, means, stds):
    log_r = np.log(weights) - np.log(2 * np.pi * stds**2) - ((x[:, None] - means) ** 2).sum(-1) / (2 * stds**2)
    r = np.exp(log_r - logsumexp(log_r, axis=1, keepdims=True))
    n_k = r.sum(0)
    means = r.T @ x / n_k[:, None]
    var = (r * ((x[:, None] - means) ** 2).sum(-1)).sum(0) / (2 * n_k)
    return n_k / len(x), means, np.sqrt(var)


def em_loop(x, weights, means, stds):  # the M-step as a loop over components, float32 responsibilities
    log_r = np.stack([np.log(w) - 2 * np.log(s) - np.log(2 * np.pi) - np.sum((x - m) ** 2, 1) / (2 * s * s)
                      for w, m, s in zip(weights, means, stds)], axis=1)
    log_r -= log_r.max(1, keepdims=True)
    r = np.exp(log_r)
    r /= r.sum(1, keepdims=True)
    new_w, new_m, new_s = [], [], []
    for k in range(len(weights)):
        n_k = r[:, k].sum()
        mu = (r[:, k:k + 1] * x).sum(0) / n_k
        new_w.append(n_k / len(x))
        new_m.append(mu)
        new_s.append(np.sqrt((r[:, k] * ((x - mu) ** 2).sum(1)).sum() / (2 * n_k)))
    return np.array(new_w), np.array(new_m), np.array(new_s)


def em_variant(x, weights, means, stds, log_space=True, use_weights=True, hard=False, old_means=False,
               divide_d=True, normalise=True, axis=1, norm_1d=False, return_var=False, pooled=True):
    log_c = -np.log(2 * np.pi * stds**2) - ((x[:, None] - means) ** 2).sum(-1) / (2 * stds**2)
    if norm_1d:
        log_c = log_c + np.log(stds)
    log_r = log_c + (np.log(weights) if use_weights else 0)
    if hard:
        r = np.eye(len(weights))[np.argmax(log_r, 1)]
    elif log_space:
        r = np.exp(log_r - logsumexp(log_r, axis=axis, keepdims=True))
    else:
        with np.errstate(all="ignore"):
            p = np.exp(log_r)
            r = p / p.sum(axis, keepdims=True)
    n_k = r.sum(0)
    new_means = r.T @ x / n_k[:, None]
    centre = means if old_means else new_means
    per_coord = (r[:, :, None] * (x[:, None] - centre) ** 2).sum(0) / n_k[:, None]
    var = per_coord.sum(-1) / (2 if divide_d else 1)
    stds_out = var if return_var else np.sqrt(var)
    if not pooled:
        stds_out = np.sqrt(per_coord)
    return (n_k / len(x) if normalise else n_k), new_means, stds_out


CHECKS = {
    "gaussian_log_density": ch01.check_gaussian_log_density,
    "fit_gaussian": ch01.check_fit_gaussian,
    "sample_gaussian": ch01.check_sample_gaussian,
    "sample_mixture": ch01.check_sample_mixture,
    "mixture_log_density": ch01.check_mixture_log_density,
    "em_step": ch01.check_em_step,
}

REFERENCES = {
    "gaussian_log_density": [log_density, log_density_float32_ops, log_density_loop],
    "fit_gaussian": [fit, fit_loop_float32, lambda x: (np.mean(x), np.sqrt(np.mean((x - np.mean(x)) ** 2)))],
    "sample_gaussian": [sample, sample_normal, sample_float32],
    "sample_mixture": [mixture, mixture_cumsum],
    "mixture_log_density": [mix_logpdf, mix_logpdf_loop_float32, mix_logpdf_ops],
    "em_step": [em, em_loop],
}

WRONG = {
    "gaussian_log_density": [
        (lambda x, mu, s: np.exp(log_density(x, mu, s)), "not its logarithm"),  # the density itself
        (log_of_density, "never log(p(x))"),
        (log_of_clipped_density, "wrong far from it"),
        (lambda x, mu, s: log_density(x, mu, s) + HALF_LOG_2PI, "the term -1/2 log(2 pi) is missing"),
        (lambda x, mu, s: log_density(x, mu, s) + np.log(s), "the term -log(sigma) is missing"),
        (log_sigma_squared, "you subtracted log(sigma^2)"),
        (lambda x, mu, s: -HALF_LOG_2PI - np.log(s) - (x - mu) ** 2 / (2 * s), "not by 2 sigma"),
        (lambda x, mu, s: -HALF_LOG_2PI - np.log(s) - (x - mu) ** 2 / s**2, "the factor 1/2 is missing"),
        (lambda x, mu, s: -HALF_LOG_2PI - np.log(s) + (x - mu) ** 2 / (2 * s**2), "the wrong sign"),
        (lambda x, mu, s: -HALF_LOG_2PI - np.log(s) - x**2 / (2 * s**2), "Subtract mu"),
        (lambda x, mu, s: -HALF_LOG_2PI - np.log(s) - (x - mu) ** 2 / 2, "division by sigma^2 is missing"),
        (lambda x, mu, s: np.sum(log_density(x, mu, s)), "has shape ()"),  # summed over x
        (lambda x, mu, s: log_density(np.ravel(x), mu, s), "has shape"),  # flattened a 2-D x
        (lambda x, mu, s: np.full(np.shape(x), -0.9), "expected"),
    ],
    "fit_gaussian": [
        (lambda x: (x.mean(), x.std(ddof=1)), "divided by n - 1"),
        (lambda x: (x.mean(), x.var()), "returned the variance"),
        (lambda x: (x.mean(), x.var(ddof=1)), "unbiased variance"),
        (lambda x: (x.mean(), np.sqrt(np.mean(x**2))), "forgot to subtract mu_hat"),
        (lambda x: (x.mean(), np.abs(x - x.mean()).mean()), "averaged |x - mu_hat|"),
        (lambda x: (x.std(), x.mean()), "in the order (mu_hat, sigma_hat)"),
        (lambda x: (np.median(x), x.std()), "sample average"),
        (lambda x: (x.sum() / 100, x.std()), "sample average"),  # a sample size typed in
        (lambda x: (x.mean(), np.sqrt(np.sum((x - x.mean()) ** 2)) / len(x)), "sigma_hat for"),  # sqrt before /n
        (lambda x: x.mean(), "should return a pair"),
        (lambda x: (x, x.std()), "single numbers"),
        (lambda x: (0.0, 1.0), "mu_hat is 0, expected"),
    ],
    "sample_gaussian": [
        (lambda mu, s, n, rng: mu + s**2 * rng.standard_normal(n), "not sigma^2"),
        (lambda mu, s, n, rng: mu + np.sqrt(s) * rng.standard_normal(n), "scale eps by sigma itself"),
        (lambda mu, s, n, rng: s * rng.standard_normal(n), "expected mu"),
        (lambda mu, s, n, rng: np.full(n, mu), "All your samples are equal"),
        (sample_one_eps, "All your samples are equal"),
        (sample_global, "not from np.random"),
        (sample_fixed_seed, "different random generators gave the same samples"),
        (lambda mu, s, n, rng: mu + s * rng.uniform(-np.sqrt(3), np.sqrt(3), n), "rng.standard_normal(n)"),
        (lambda mu, s, n, rng: mu + s * rng.standard_normal((n, 1)), "has shape"),
        (lambda mu, s, n, rng: mu + s * rng.standard_normal(1000), "has shape"),  # the notebook's n typed in
        (lambda mu, s, n, rng: rng.normal(mu, s**2, n), "not sigma^2"),
    ],
    "sample_mixture": [
        (mixture_shared_coordinates, "the two coordinates move together"),
        (mixture_shared_rows, "not one for the whole batch"),
        (mixture_global, "not from np.random"),
        (mixture_fixed_seed, "different random generators gave the same samples"),
        (mixture_uniform_components, "choose components with probabilities `weights`"),
        (mixture_variances, "standard deviation"),
        (mixture_unmatched_labels, "sample x from the component you picked"),
        (mixture_sorted, "Your labels come sorted"),
        (mixture_three_components, "Your function raised ValueError"),
        (mixture_squeezed, "has shape (2,), expected (1, 2)"),
        (lambda w, m, s, n, rng: (m[np.zeros(n, int)] + rng.standard_normal((n, 2)), np.zeros(n)),
         "Every sample comes from component 0"),
        (lambda w, m, s, n, rng: (np.ones((n, 2)), np.ones(n) * 7), "component indices"),
        (lambda w, m, s, n, rng: mixture(w, m, s, n, rng)[0], "should return a pair"),
        (lambda w, m, s, n, rng: (np.zeros((n, 3)), np.zeros(n)), "has shape"),
        (mixture_exact_counts, "exactly weights * n samples"),
        (mixture_noise(lambda rng, shape: rng.uniform(-np.sqrt(3), np.sqrt(3), shape)), "is not Gaussian"),
        (mixture_noise(lambda rng, shape: rng.choice([-1.0, 1.0], size=shape)), "not Gaussian"),
        (mixture_noise(lambda rng, shape: np.clip(rng.standard_normal(shape), -3, 3)), "clipped or truncated"),
        (mixture_in_place, "changed its input `weights` in place"),
    ],
    "mixture_log_density": [
        (mix_logpdf_naive, "use log-sum-exp"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, np.ones_like(w), m, s), axis=1), "weights are missing"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, w, m, s, norm=0.5 * np.log(2 * np.pi * s**2)), axis=1),
         "normalising constant"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, w, m, s, norm=np.log(2 * np.pi * s)), axis=1),
         "not 1 / (2 pi sigma_k): square sigma_k"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, w, m, s, norm=0.5 * np.log(2 * np.pi * s**2)), axis=1),
         "not 1 / (sqrt(2 pi) sigma_k)"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, w, m, s, denom=s), axis=1), "not by 2 sigma_k"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, w, m, s, half=1.0), axis=1), "factor 1/2"),
        (lambda x, w, m, s: np.sum(mix_terms(x, w, m, s), axis=1), "you summed the components"),
        (lambda x, w, m, s: np.max(mix_terms(x, w, m, s), axis=1), "only the largest component"),
        (lambda x, w, m, s: logsumexp(mix_terms(x, np.full(len(w), 1 / len(w)), m, s), axis=1),
         "weighted the components equally"),
        (lambda x, w, m, s: mix_terms(x, w, m, s), "one value per point AND component"),
        (lambda x, w, m, s: np.sum(mix_logpdf(x, w, m, s)), "has shape ()"),
        (lambda x, w, m, s: mix_logpdf(x, w, m, s) + 0.01, "expected"),
    ],
    "em_step": [
        (lambda *a: em_variant(*a, log_space=False), "in log space"),
        (lambda *a: em_variant(*a, old_means=True), "uses the old means"),
        (lambda *a: em_variant(*a, return_var=True), "you returned the variances"),
        (lambda *a: em_variant(*a, divide_d=False), "not divided by the dimension"),
        (lambda *a: em_variant(*a, normalise=False), "the weights must sum to 1"),
        (lambda *a: em_variant(*a, use_weights=False), "ignore the weights"),
        (lambda *a: em_variant(*a, hard=True), "hard EM"),
        (lambda *a: em_variant(*a, axis=0), "normalised over the points"),
        (lambda *a: em_variant(*a, norm_1d=True), "1-D normalising constant"),
        (lambda *a: em_variant(*a, pooled=False), "one per coordinate"),
        (lambda x, w, m, s: (w, np.broadcast_to(x.mean(0), m.shape), s), "expected"),
        (lambda x, w, m, s: em(x, w, m, s)[::-1], "in that order"),
        (lambda x, w, m, s: em(x, w, m, s)[:2], "should return a triple"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, wrong, message", [(name, *case) for name in WRONG for case in WRONG[name]])
def test_wrong_implementations_fail_with_a_specific_message(name, wrong, message):
    assert_fails_with(CHECKS[name], wrong, message)
