"""Checks for the Chapter 3 exercises (``exercises/03_vae.ipynb``).

- ``check_reparameterize(f)``: ``f(z_mean, z_log_var)`` returns z = z_mean + exp(z_log_var / 2) * eps,
  eps ~ N(0, I), differentiable in both inputs.
- ``check_kl_divergence(f)``: ``f(z_mean, z_log_var)`` returns KL(N(z_mean, exp(z_log_var)) || N(0, I)) per
  example, summed over the latent dimensions (shape (n,)).
- ``check_negative_elbo(f)``: ``f(x, x_logits, z_mean, z_log_var)`` returns each example's reconstruction
  (binary cross-entropy from logits, summed over pixels) plus KL, shape (n,).
- ``check_sample_prior(f)``: ``f(decoder, n, latent_dim)`` draws z ~ N(0, I) of shape (n, latent_dim) and
  returns sigmoid(decoder(z)).
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check


def _kl(z_mean, z_log_var):
    return 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=-1)


def _test_reparameterize(f):
    import tensorflow as tf

    rng = np.random.default_rng()
    n, d = 20_000, int(rng.integers(2, 5))
    mean_row = rng.uniform(-3, 3, size=d)
    # log-variances away from 0, so that sigma, sigma^2 and log sigma^2 are all different
    log_var_row = rng.choice([-1, 1], size=d) * rng.uniform(1.0, 2.0, size=d)
    z_mean = tf.constant(np.tile(mean_row, (n, 1)), dtype="float32")
    z_log_var = tf.constant(np.tile(log_var_row, (n, 1)), dtype="float32")
    z = expect_shape(f(z_mean, z_log_var), (n, d), f"reparameterize(z_mean, z_log_var) for inputs of shape {(n, d)}")
    expect_finite(z, "z")
    std, sigma = z.std(axis=0), np.exp(0.5 * log_var_row)
    if np.all(std < 1e-6):
        fail("your z has no noise: add exp(z_log_var / 2) * eps with eps ~ N(0, I).")
    j = int(np.argmax(np.abs(std / sigma - 1)))
    if abs(std[j] / sigma[j] - 1) > 0.05:
        if np.allclose(std, np.exp(log_var_row), rtol=0.05):
            fail("the spread of your z is exp(log sigma^2) = sigma^2, the variance: the standard deviation is "
                 "exp(0.5 * z_log_var).")
        if np.allclose(std, np.abs(log_var_row), rtol=0.05):
            fail("you scaled eps by z_log_var itself: the standard deviation is exp(0.5 * z_log_var).")
        fail(f"in dimension {j} your z has standard deviation {std[j]:.3f}, expected "
             f"exp(0.5 * z_log_var) = {sigma[j]:.3f}.")
    mean = z.mean(axis=0)
    if np.any(np.abs(mean - mean_row) > 6 * sigma / np.sqrt(n)):
        fail(f"your z has mean {np.round(mean, 3)}, expected z_mean = {np.round(mean_row, 3)}.")
    if abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) > 0.05 or abs(np.corrcoef(z[::2, 0], z[1::2, 0])[0, 1]) > 0.05:
        fail("the noise of different elements is correlated: draw an independent eps for every element.")
    again = as_array(f(z_mean, z_log_var), "a second call")
    if np.array_equal(z, again):
        fail("two calls gave the same z: draw fresh noise in each call (keras.random.normal without a fixed seed).")
    mu = tf.Variable(z_mean[:5])
    log_var = tf.Variable(z_log_var[:5])
    with tf.GradientTape() as tape:
        out = f(mu, log_var)
        total = tf.reduce_sum(out)
    grad_mu, grad_log_var = tape.gradient(total, [mu, log_var])
    if grad_mu is None or grad_log_var is None:
        missing = "z_mean" if grad_mu is None else "z_log_var"
        fail(f"no gradient reaches {missing}: compute z with keras.ops (or TensorFlow) from the inputs, "
             "not with NumPy, so that back-propagation can pass through it.")
    expect_close(grad_mu, np.ones((5, d)), "d sum(z) / d z_mean", rtol=1e-4, atol=1e-5,
                 hint="z should be z_mean + (something that does not depend on z_mean).")
    expect_close(grad_log_var, 0.5 * (np.asarray(out) - np.asarray(mu)), "d sum(z) / d z_log_var", rtol=1e-3,
                 atol=1e-4,
                 hint="with z = z_mean + exp(0.5 z_log_var) eps, dz/dz_log_var = 0.5 exp(0.5 z_log_var) eps.")


def _test_kl_divergence(f):
    rng = np.random.default_rng()
    n, d = int(rng.integers(3, 10)), int(rng.integers(2, 6))
    zeros = np.zeros((n, d), dtype="float32")
    at_prior = expect_shape(f(zeros, zeros), (n,), f"kl_divergence(z_mean, z_log_var) for inputs of shape {(n, d)}")
    expect_finite(at_prior, "kl_divergence")
    if np.any(np.abs(at_prior) > 1e-5):
        offset = float(at_prior[0])
        hint = " (the -1 inside the sum is missing)" if np.isclose(offset, 0.5 * d, rtol=1e-4) else ""
        fail(f"the KL is {offset:.4g} for z_mean = 0 and z_log_var = 0, where q is the prior itself: it should be 0"
             f"{hint}.")
    z_mean = rng.normal(0, 1.5, size=(n, d)).astype("float32")
    z_log_var = rng.uniform(-2, 2, size=(n, d)).astype("float32")
    out = expect_shape(f(z_mean, z_log_var), (n,), "kl_divergence(z_mean, z_log_var)")
    expect_finite(out, "kl_divergence")
    ref = _kl(z_mean.astype("float64"), z_log_var.astype("float64"))
    if np.allclose(out, ref, rtol=1e-4, atol=1e-5):
        return
    if np.allclose(out, 0.5 * np.sum(np.exp(0.5 * z_log_var) + z_mean**2 - 1 - z_log_var, axis=-1), rtol=1e-4):
        fail("you used exp(0.5 * log_var) = sigma where the formula has exp(log_var) = sigma^2.")
    if np.any(out < -1e-6):
        fail(f"your KL is negative ({out.min():.4g}) for some inputs; a KL divergence is never negative: check "
             "the signs (KL = 0.5 sum(exp(log_var) + mean^2 - 1 - log_var)).")
    if np.allclose(out, 2 * ref, rtol=1e-4):
        fail("your KL is twice the right value: the factor 1/2 in front of the sum is missing.")
    if np.allclose(out, ref / d, rtol=1e-4):
        fail("you averaged over the latent dimensions: sum over them instead.")
    expect_close(out, ref, "kl_divergence(z_mean, z_log_var)", rtol=1e-4, atol=1e-5,
                 hint="KL = 0.5 * sum over dimensions of (exp(log_var) + mean^2 - 1 - log_var).")


def _bce_logits(x, logits):
    return np.sum(np.logaddexp(0, logits) - x * logits, axis=-1)


def _test_negative_elbo(f):
    rng = np.random.default_rng()
    n, d_x, d_z = int(rng.integers(3, 10)), int(rng.integers(10, 40)), int(rng.integers(2, 5))
    x = (rng.uniform(size=(n, d_x)) < 0.4).astype("float32")
    logits = rng.normal(0, 3, size=(n, d_x)).astype("float32")
    z_mean = rng.normal(0, 1.5, size=(n, d_z)).astype("float32")
    z_log_var = rng.uniform(-2, 2, size=(n, d_z)).astype("float32")
    what = f"negative_elbo(x, x_logits, z_mean, z_log_var) for x of shape {(n, d_x)}"
    out = expect_shape(f(x, logits, z_mean, z_log_var), (n,), what)
    expect_finite(out, what)
    rec, kl = _bce_logits(x, logits.astype("float64")), _kl(z_mean.astype("float64"), z_log_var.astype("float64"))
    ref = rec + kl
    if np.allclose(out, ref, rtol=1e-4, atol=1e-4):
        return
    if np.allclose(out, -ref, rtol=1e-4, atol=1e-4):
        fail("you returned the ELBO; the loss is its negative, reconstruction + KL (both positive).")
    if np.allclose(out, rec, rtol=1e-4, atol=1e-4):
        fail("the KL term is missing: the negative ELBO is reconstruction + KL.")
    if np.allclose(out, kl, rtol=1e-4, atol=1e-4):
        fail("the reconstruction term is missing: the negative ELBO is reconstruction + KL.")
    if np.allclose(out, rec / d_x + kl, rtol=1e-4, atol=1e-4):
        fail("you averaged the reconstruction over the pixels: sum it over each example's pixels (nats per image).")
    if np.allclose(out, rec - kl, rtol=1e-4, atol=1e-4):
        fail("you subtracted the KL: the negative ELBO ADDS it to the reconstruction term.")
    clipped = np.clip(logits, 1e-7, 1 - 1e-7)
    as_probs = -np.sum(x * np.log(clipped) + (1 - x) * np.log(1 - clipped), axis=-1) + kl
    if np.allclose(out, as_probs, rtol=1e-3, atol=1e-3):
        fail("you treated the logits as probabilities: use the cross-entropy from logits (from_logits=True), "
             "or apply the sigmoid first.")
    expect_close(out, ref, what, rtol=1e-4, atol=1e-4,
                 hint="Reconstruction: binary cross-entropy of x given the logits, summed over pixels; plus the KL.")


class _FakeDecoder:
    """A decoder stand-in: a fixed linear map to logits, recording the codes it was given."""

    def __init__(self, rng, latent_dim, d_out):
        self.w = rng.normal(0, 1.0, size=(latent_dim, d_out)).astype("float32")
        self.codes = []

    def __call__(self, z, training=False):
        z = np.asarray(z, dtype="float32")
        self.codes.append(z)
        return z @ self.w

    def predict(self, z, verbose=None, batch_size=None, **kwargs):
        return self(z)


def _test_sample_prior(f):
    rng = np.random.default_rng()
    latent_dim, d_out, n = int(rng.integers(2, 6)), int(rng.integers(8, 14)), 5_000  # d_out != latent_dim
    decoder = _FakeDecoder(rng, latent_dim, d_out)
    out = expect_shape(f(decoder, n, latent_dim), (n, d_out), f"sample_prior(decoder, n={n}, latent_dim={latent_dim})")
    expect_finite(out, "sample_prior(...)")
    if not decoder.codes:
        fail("sample_prior never called the decoder: return the decoder's output for your codes z.")
    z = decoder.codes[-1]
    if z.shape != (n, latent_dim):
        fail(f"you gave the decoder codes of shape {z.shape}, expected (n, latent_dim) = {(n, latent_dim)}.")
    if np.any(np.abs(z.mean(0)) > 0.1) or np.any(np.abs(z.std(0) - 1) > 0.05):
        fail(f"your codes have mean {np.round(z.mean(0), 2)} and standard deviation {np.round(z.std(0), 2)}: draw z "
             "from the prior N(0, I) (keras.random.normal).")
    tails = np.mean(np.abs(z) > 2)
    if abs(tails - 0.0455) > 0.01:
        fail(f"{tails:.1%} of your codes lie beyond 2 standard deviations; for N(0, I) it is 4.6%: draw z from a "
             "Gaussian, not another distribution with the same variance.")
    logits = z @ decoder.w
    if np.allclose(out, logits, rtol=1e-5, atol=1e-5):
        fail("you returned the decoder's logits: apply the sigmoid to get pixel probabilities in [0, 1].")
    expect_close(out, 1 / (1 + np.exp(-logits)), "sample_prior(...)", rtol=1e-4, atol=1e-5,
                 hint="Return sigmoid(decoder(z)).")
    again = as_array(f(decoder, n, latent_dim), "a second call")
    if np.array_equal(out, again):
        fail("two calls gave the same samples: draw fresh codes in each call (no fixed seed).")


check_reparameterize = make_check("reparameterize", _test_reparameterize)
check_kl_divergence = make_check("kl_divergence", _test_kl_divergence)
check_negative_elbo = make_check("negative_elbo", _test_negative_elbo)
check_sample_prior = make_check("sample_prior", _test_sample_prior)
