"""Chapter 3 checks: the reference solutions pass; wrong ones fail with a specific message."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl.checks import PASSED, ch03

# ----------------------------------------------------------------------------- reference solutions


def reparameterize(z_mean, z_log_var):
    eps = keras.random.normal(ops.shape(z_mean))
    return z_mean + ops.exp(0.5 * z_log_var) * eps


def kl(z_mean, z_log_var):
    return 0.5 * ops.sum(ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=-1)


def kl_np(m, lv):
    return 0.5 * np.sum(np.exp(lv) + m**2 - 1 - lv, axis=-1)


def neg_elbo(x, logits, z_mean, z_log_var):
    reconstruction = ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=-1)
    return reconstruction + kl(z_mean, z_log_var)


def rec_np(x, logits):
    return np.sum(np.logaddexp(0, logits) - x * logits, axis=-1)


def sample_prior(decoder, n, latent_dim):
    z = keras.random.normal((n, latent_dim))
    return ops.sigmoid(decoder(z))


CASES = {
    "reparameterize": (ch03.check_reparameterize, reparameterize),
    "kl_divergence": (ch03.check_kl_divergence, kl),
    "negative_elbo": (ch03.check_negative_elbo, neg_elbo),
    "sample_prior": (ch03.check_sample_prior, sample_prior),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_passes_and_stub_is_incomplete(name):
    check, reference = CASES[name]
    assert_references_pass_and_stub_is_incomplete(check, reference)


def test_numpy_versions_of_kl_and_elbo_are_accepted():
    assert ch03.check_kl_divergence.evaluate(kl_np).status == PASSED
    assert ch03.check_negative_elbo.evaluate(lambda x, lg, m, lv: rec_np(x, lg) + kl_np(m, lv)).status == PASSED


def shape_of(t):
    return ops.shape(t)


WRONG = [
    # reparameterize
    (ch03.check_reparameterize, lambda m, lv: m + ops.exp(lv) * keras.random.normal(shape_of(m)), "the variance"),
    (ch03.check_reparameterize, lambda m, lv: m + lv * keras.random.normal(shape_of(m)), "by z_log_var itself"),
    (ch03.check_reparameterize, lambda m, lv: m, "no noise"),
    (ch03.check_reparameterize, lambda m, lv: ops.exp(0.5 * lv) * keras.random.normal(shape_of(m)), "expected z_mean"),
    (ch03.check_reparameterize, lambda m, lv: m + ops.exp(0.5 * lv) * keras.random.normal(shape_of(m), seed=1),
     "two calls gave the same z"),
    (ch03.check_reparameterize,
     lambda m, lv: m + ops.exp(0.5 * lv) * keras.random.normal((ops.shape(m)[0], 1)), "correlated"),
    (ch03.check_reparameterize,
     lambda m, lv: np.asarray(m) + np.exp(0.5 * np.asarray(lv)) * np.random.standard_normal(np.shape(m)),
     "no gradient reaches z_mean"),
    (ch03.check_reparameterize,
     lambda m, lv: m + ops.stop_gradient(ops.exp(0.5 * lv)) * keras.random.normal(shape_of(m)), "z_log_var"),
    (ch03.check_reparameterize, lambda m, lv: ops.sum(reparameterize(m, lv), axis=1), "has shape"),
    # kl_divergence
    (ch03.check_kl_divergence, lambda m, lv: -kl_np(m, lv), "negative"),
    (ch03.check_kl_divergence, lambda m, lv: 2 * kl_np(m, lv), "factor 1/2"),
    (ch03.check_kl_divergence, lambda m, lv: kl_np(m, lv) / np.shape(m)[1], "averaged over the latent dimensions"),
    (ch03.check_kl_divergence, lambda m, lv: 0.5 * np.sum(np.exp(lv) + m**2 - lv, axis=-1), "the -1 inside the sum"),
    (ch03.check_kl_divergence, lambda m, lv: 0.5 * np.sum(np.exp(0.5 * lv) + m**2 - 1 - lv, axis=-1), "sigma^2"),
    (ch03.check_kl_divergence, lambda m, lv: np.sum(kl_np(m, lv)), "has shape ()"),
    (ch03.check_kl_divergence, lambda m, lv: 0.5 * np.sum(np.exp(lv) + np.abs(m) - 1 - lv, axis=-1), "expected"),
    # negative_elbo
    (ch03.check_negative_elbo, lambda x, lg, m, lv: -(rec_np(x, lg) + kl_np(m, lv)), "you returned the ELBO"),
    (ch03.check_negative_elbo, lambda x, lg, m, lv: rec_np(x, lg), "the KL term is missing"),
    (ch03.check_negative_elbo, lambda x, lg, m, lv: kl_np(m, lv), "the reconstruction term is missing"),
    (ch03.check_negative_elbo, lambda x, lg, m, lv: rec_np(x, lg) / x.shape[1] + kl_np(m, lv), "averaged the reconstr"),
    (ch03.check_negative_elbo, lambda x, lg, m, lv: rec_np(x, lg) - kl_np(m, lv), "you subtracted the KL"),
    (ch03.check_negative_elbo, lambda x, lg, m, lv: ops.sum(ops.binary_crossentropy(x, lg), axis=-1) + kl(m, lv),
     "treated the logits as probabilities"),
    (ch03.check_negative_elbo, lambda x, lg, m, lv: np.mean(rec_np(x, lg) + kl_np(m, lv)), "has shape ()"),
    # sample_prior
    (ch03.check_sample_prior, lambda dec, n, d: dec(keras.random.normal((n, d))), "the decoder's logits"),
    (ch03.check_sample_prior, lambda dec, n, d: ops.sigmoid(dec(keras.random.uniform((n, d)))), "draw z"),
    (ch03.check_sample_prior,
     lambda dec, n, d: ops.sigmoid(dec(keras.random.uniform((n, d), -np.sqrt(3), np.sqrt(3)))), "not another"),
    (ch03.check_sample_prior, lambda dec, n, d: ops.sigmoid(dec(keras.random.normal((n, d), seed=3))),
     "two calls gave the same samples"),
    (ch03.check_sample_prior, lambda dec, n, d: ops.sigmoid(dec(ops.zeros((n, d)))), "draw z"),
    (ch03.check_sample_prior, lambda dec, n, d: ops.sigmoid(keras.random.normal((n, d))), "has shape"),
]


@pytest.mark.parametrize("check, wrong, message", WRONG)
def test_wrong_implementations_fail_with_a_specific_message(check, wrong, message):
    assert_fails_with(check, wrong, message)
