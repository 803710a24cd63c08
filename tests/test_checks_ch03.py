"""Chapter 3 checks: differently written correct answers pass; the mistakes learners make fail, each with its message.

CHECKS, REFERENCES and WRONG follow the convention of every tests/test_checks_chNN.py: the exercise's check,
its correct implementations, and (wrong implementation, a fragment of the message it must get).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops
from scipy.special import logsumexp

from gdl.checks import ch03

# ----------------------------------------------------------------------------- reparameterize


def reparameterize(z_mean, z_log_var):
    eps = keras.random.normal(ops.shape(z_mean))
    return z_mean + ops.exp(0.5 * z_log_var) * eps


def reparameterize_tf(z_mean, z_log_var):
    return z_mean + tf.sqrt(tf.exp(z_log_var)) * tf.random.normal(tf.shape(z_mean))


def rep_numpy(m, lv):  # NumPy noise and arithmetic: no gradient, and frozen or failing when traced
    return np.asarray(m) + np.exp(0.5 * np.asarray(lv)) * np.random.standard_normal(np.shape(m))


def rep_numpy_eps(m, lv):  # NumPy noise of one row's shape, added with keras.ops: frozen and shared across rows
    return m + ops.exp(0.5 * lv) * np.random.standard_normal(m.shape[1:]).astype("float32")


def rep_python_seed(m, lv):  # a seed drawn in Python: fresh eagerly, frozen when the training step is traced
    return m + ops.exp(0.5 * lv) * keras.random.normal(ops.shape(m), seed=int(np.random.randint(2**30)))


def rep_static_shape(m, lv):  # m.shape has None as its batch size inside the compiled step
    return m + ops.exp(0.5 * lv) * tf.random.normal(m.shape)


def rep_latent_typed_in(m, lv):  # the notebook's latent size (8) typed in
    return m + ops.exp(0.5 * lv) * keras.random.normal((ops.shape(m)[0], 8))


def antithetic(m):  # eps for the first half of the rows, -eps for the rest
    half = keras.random.normal((ops.shape(m)[0] // 2, ops.shape(m)[1]))
    return ops.concatenate([half, -half], axis=0)


def rep_noise(draw):  # reparameterization with noise drawn by `draw(z_mean)`
    return lambda m, lv: m + ops.exp(0.5 * lv) * draw(m)


# ----------------------------------------------------------------------------- kl_divergence


def kl(z_mean, z_log_var):
    return 0.5 * ops.sum(ops.exp(z_log_var) + ops.square(z_mean) - 1.0 - z_log_var, axis=-1)


def kl_loop_tf(z_mean, z_log_var):
    """A loop over the latent dimensions (known when the step is traced), in TensorFlow."""
    total = 0.0
    for i in range(z_mean.shape[-1]):
        m, lv = z_mean[:, i], z_log_var[:, i]
        total += -0.5 * (1.0 + lv - tf.square(m) - tf.exp(lv))
    return total


def kl_np(m, lv):  # NumPy: right values, but the compiled training step cannot run or differentiate it
    return 0.5 * np.sum(np.exp(lv) + np.asarray(m) ** 2 - 1 - lv, axis=-1)


def kl_loop_rows(z_mean, z_log_var):  # a Python loop over the examples: len() of an unknown batch size
    return ops.stack([kl(z_mean[i : i + 1], z_log_var[i : i + 1])[0] for i in range(len(z_mean))])


# ----------------------------------------------------------------------------- negative_elbo


def neg_elbo(x, logits, z_mean, z_log_var):
    reconstruction = ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=-1)
    return reconstruction + kl(z_mean, z_log_var)


def neg_elbo_softplus(x, logits, z_mean, z_log_var):
    reconstruction = tf.reduce_sum(tf.nn.softplus(logits) - x * logits, axis=1)
    return reconstruction + kl_loop_tf(z_mean, z_log_var)


def rec_np(x, logits):
    return np.sum(np.logaddexp(0, logits) - x * logits, axis=-1)


def elbo_sigmoid_then_log(x, logits, m, lv):  # probabilities first: -inf where the sigmoid rounds to 0 or 1
    p = ops.sigmoid(logits)
    return -ops.sum(x * ops.log(p) + (1 - x) * ops.log(1 - p), axis=-1) + kl(m, lv)


def elbo_sigmoid_then_clip(x, logits, m, lv):  # finite, but clipped where the sigmoid rounds to 0 or 1
    p = ops.clip(ops.sigmoid(logits), 1e-7, 1 - 1e-7)
    return -ops.sum(x * ops.log(p) + (1 - x) * ops.log(1 - p), axis=-1) + kl(m, lv)


def elbo_naive_softplus(x, logits, m, lv):  # log(1 + exp(logit)) overflows for logit = 100 in float32
    return ops.sum(ops.log(1 + ops.exp(logits)) - x * logits, axis=-1) + kl(m, lv)


def elbo_numpy(x, logits, m, lv):  # right values; the compiled training step cannot use it
    return rec_np(x, logits) + kl_np(m, lv)


def elbo_swapped(x, logits, m, lv):
    return ops.sum(ops.binary_crossentropy(logits, x, from_logits=True), axis=-1) + kl(m, lv)


# ----------------------------------------------------------------------------- sample_prior


def sample_prior(decoder, n, latent_dim):
    z = keras.random.normal((n, latent_dim))
    return ops.sigmoid(decoder(z))


def sample_prior_numpy(decoder, n, latent_dim):
    z = np.random.standard_normal((n, latent_dim)).astype("float32")
    return 1 / (1 + np.exp(-np.asarray(decoder.predict(z, verbose=0))))


# ----------------------------------------------------------------------------- iw_log_likelihood


def iw(x, z_mean, z_log_var, decoder, eps):
    k, n, d_z = eps.shape
    z = z_mean + np.exp(0.5 * z_log_var) * eps  # (K, n, d_z)
    logits = np.asarray(decoder(z.reshape(k * n, d_z))).reshape(k, n, -1)
    log_px = -np.sum(np.logaddexp(0, logits) - x * logits, axis=-1)
    log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
    log_qz = -0.5 * np.sum(eps**2 + z_log_var + np.log(2 * np.pi), axis=-1)
    return logsumexp(log_px + log_pz - log_qz, axis=0) - np.log(k)


def iw_ops_loop(x, z_mean, z_log_var, decoder, eps):  # keras.ops, one sample at a time
    log_w = []
    for e in eps:
        z = z_mean + ops.exp(0.5 * z_log_var) * e
        log_px = -ops.sum(ops.binary_crossentropy(x, decoder(z), from_logits=True), axis=-1)
        log_pz = -0.5 * ops.sum(ops.square(z) + np.log(2 * np.pi), axis=-1)
        log_qz = -0.5 * ops.sum(ops.square(e) + z_log_var + np.log(2 * np.pi), axis=-1)
        log_w.append(log_px + log_pz - log_qz)
    return ops.convert_to_numpy(ops.logsumexp(ops.stack(log_w), axis=0) - np.log(len(eps)))


def iw_variant(x, z_mean, z_log_var, decoder, eps, reduce="lme", std_power=0.5, prior=True, posterior=True,
               swap=False, sigmoid=False, pixel_mean=False, q_sigma=False, ignore_eps=False, axis=0):
    x, z_mean, z_log_var, eps = (np.asarray(a, "float64") for a in (x, z_mean, z_log_var, eps))
    if ignore_eps:
        eps = np.zeros_like(eps)
    z = z_mean + np.exp(std_power * z_log_var) * eps
    logits = np.asarray(decoder(z), "float64")
    if sigmoid:
        p = (1 / (1 + np.exp(-logits))).astype("float32")
        with np.errstate(all="ignore"):
            per_pixel = x * np.log(p) + (1 - x) * np.log(1 - p)
    else:
        per_pixel = x * logits - np.logaddexp(0, logits)
    log_px = np.mean(per_pixel, axis=-1) if pixel_mean else np.sum(per_pixel, axis=-1)
    log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
    var = np.exp(0.5 * z_log_var) if q_sigma else np.exp(z_log_var)
    log_qz = -0.5 * np.sum((z - z_mean) ** 2 / var + (0.5 if q_sigma else 1) * z_log_var + np.log(2 * np.pi), -1)
    if swap:
        log_pz, log_qz = log_qz, log_pz
    log_w = log_px + (log_pz if prior else 0) - (log_qz if posterior else 0)
    with np.errstate(all="ignore"):
        if reduce == "mean":
            return np.mean(log_w, axis=axis)
        if reduce == "lse":
            return logsumexp(log_w, axis=axis)
        if reduce == "none":
            return log_w
        if reduce == "naive":
            return np.log(np.mean(np.exp(log_w), axis=axis))
    return logsumexp(log_w, axis=axis) - np.log(log_w.shape[axis])


# ----------------------------------------------------------------------------- vae_train_step


def train_step(x, encoder, decoder, optimizer, beta):
    weights = encoder.trainable_weights + decoder.trainable_weights
    with tf.GradientTape() as tape:
        z_mean, z_log_var = encoder(x)
        z = reparameterize(z_mean, z_log_var)
        reconstruction = ops.sum(ops.binary_crossentropy(x, decoder(z), from_logits=True), axis=-1)
        loss = ops.mean(reconstruction + beta * kl(z_mean, z_log_var))
    optimizer.apply(tape.gradient(loss, weights), weights)
    return loss


def train_step_tf(x, encoder, decoder, optimizer, beta):  # TensorFlow ops, apply_gradients, the two means apart
    with tf.GradientTape() as tape:
        z_mean, z_log_var = encoder(x, training=True)
        z = z_mean + tf.exp(0.5 * z_log_var) * tf.random.normal(tf.shape(z_mean))
        logits = decoder(z, training=True)
        rec = tf.reduce_mean(tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), 1))
        kl_term = tf.reduce_mean(-0.5 * tf.reduce_sum(1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), 1))
        loss = rec + beta * kl_term
    variables = encoder.trainable_variables + decoder.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss


def step_variant(x, encoder, decoder, optimizer, beta, reduce="mean", beta_on="kl", pixel_mean=False, which="both",
                 sign=1.0, code="sample", kl_on=True, apply=True, as_probabilities=False, per_example=False,
                 clip_probabilities=False):
    weights = {"both": encoder.trainable_weights + decoder.trainable_weights, "encoder": encoder.trainable_weights,
               "decoder": decoder.trainable_weights}[which]
    with tf.GradientTape() as tape:
        z_mean, z_log_var = encoder(x)
        if code == "sample":
            z = reparameterize(z_mean, z_log_var)
        elif code == "mean":
            z = z_mean
        elif code == "shared":  # one eps for the whole batch
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal((1, ops.shape(z_mean)[1]))
        elif code == "variance":  # exp(log sigma^2) used as the standard deviation
            z = z_mean + ops.exp(z_log_var) * keras.random.normal(ops.shape(z_mean))
        elif code == "seeded":
            z = z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=7)
        else:  # NumPy noise: drawn once when the step is traced
            z = z_mean + ops.exp(0.5 * z_log_var) * np.random.standard_normal(z_mean.shape[1:]).astype("float32")
        logits = decoder(z)
        # as_probabilities: the logits taken for probabilities (Keras clips them into (0, 1))
        per_pixel = ops.binary_crossentropy(x, logits, from_logits=not as_probabilities)
        if clip_probabilities:  # the sigmoid, clipped away from 0 and 1, then the cross-entropy
            p = ops.clip(ops.sigmoid(logits), 1e-7, 1 - 1e-7)
            per_pixel = -(x * ops.log(p) + (1 - x) * ops.log(1 - p))
        rec = ops.mean(per_pixel, axis=-1) if pixel_mean else ops.sum(per_pixel, axis=-1)
        kl_term = kl(z_mean, z_log_var) if kl_on else 0.0
        per = (rec + beta * kl_term) if beta_on == "kl" else (beta * rec + kl_term)
        per = per if beta_on != "none" else rec + kl_term
        loss = ops.sum(per) if reduce == "sum" else ops.mean(per)
        minimised = sign * loss
    if apply:
        grads = tape.gradient(minimised, weights)
        optimizer.apply(grads, weights)
    return per if per_example else loss


CHECKS = {
    "reparameterize": ch03.check_reparameterize,
    "kl_divergence": ch03.check_kl_divergence,
    "negative_elbo": ch03.check_negative_elbo,
    "sample_prior": ch03.check_sample_prior,
    "iw_log_likelihood": ch03.check_iw_log_likelihood,
    "vae_train_step": ch03.check_vae_train_step,
}

REFERENCES = {
    "reparameterize": [reparameterize, reparameterize_tf],
    "kl_divergence": [kl, kl_loop_tf],
    "negative_elbo": [neg_elbo, neg_elbo_softplus],
    "sample_prior": [sample_prior, sample_prior_numpy],
    "iw_log_likelihood": [iw, iw_ops_loop],
    "vae_train_step": [train_step, train_step_tf],
}


def normal(t, **kwargs):
    return keras.random.normal(ops.shape(t), **kwargs)


WRONG = {
    "reparameterize": [
        (lambda m, lv: m + ops.exp(lv) * normal(m), "the variance"),
        (lambda m, lv: m + lv * normal(m), "by z_log_var itself"),
        (lambda m, lv: m + ops.exp(0.25 * lv) * normal(m), "sqrt(sigma)"),
        (lambda m, lv: m, "no noise"),
        (lambda m, lv: ops.exp(0.5 * lv) * normal(m), "not centred on z_mean"),
        (lambda m, lv: m + ops.exp(0.5 * lv) * normal(m, seed=1), "two calls gave the same z"),
        (lambda m, lv: m + ops.exp(0.5 * lv) * keras.random.normal((ops.shape(m)[0], 1)), "coordinates of z is corr"),
        (lambda m, lv: m + ops.exp(0.5 * lv) * keras.random.normal((1, ops.shape(m)[1])), "every row of your z got"),
        (lambda m, lv: m + ops.exp(0.5 * lv) * keras.random.normal(()), "every row of your z got"),
        (lambda m, lv: m + ops.exp(0.5 * lv) * keras.random.uniform(ops.shape(m), -3**0.5, 3**0.5), "Gaussian"),
        (rep_noise(lambda m: ops.sign(normal(m))), "Gaussian"),  # random signs +-1: mean 0, variance 1
        (rep_noise(antithetic), "antithetic"),
        (rep_noise(lambda m: ops.clip(normal(m), -3.0, 3.0)), "clipped or truncated"),
        (rep_noise(lambda m: keras.random.truncated_normal(ops.shape(m))), "has standard deviation 0.8"),
        (rep_noise(lambda m: keras.random.truncated_normal(ops.shape(m)) / 0.8796), "Gaussian"),
        (rep_numpy, "Inside a compiled training step"),
        (rep_numpy_eps, "every row of your z got"),
        (rep_python_seed, "the noise was fixed when TensorFlow traced the function"),
        (rep_static_shape, "not .shape"),
        (rep_latent_typed_in, "Your function raised"),
        (lambda m, lv: m + ops.stop_gradient(ops.exp(0.5 * lv)) * normal(m), "No gradient reaches `z_log_var`"),
        (lambda m, lv: ops.sum(reparameterize(m, lv), axis=1), "has shape"),
    ],
    "kl_divergence": [
        (lambda m, lv: -kl(m, lv), "negative"),
        (lambda m, lv: 2 * kl(m, lv), "factor 1/2"),
        (lambda m, lv: ops.mean(ops.exp(lv) + m**2 - 1 - lv, axis=-1) / 2, "averaged over the latent dimensions"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + m**2 - lv, axis=-1), "the -1 inside the sum"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(0.5 * lv) + m**2 - 1 - lv, axis=-1), "sigma^2"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + m**2 - 1 + lv, axis=-1), "the sign of log_var"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + ops.abs(m) - 1 - lv, axis=-1), "not |mean|"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(2 * lv) + m**2 - 1 - 2 * lv, axis=-1), "log sigma^2"),
        (lambda m, lv: ops.sum(kl(m, lv)), "is a single number"),
        (lambda m, lv: ops.mean(kl(m, lv)), "is a single number"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + m**2 - 1 - lv, axis=0), "not over the examples"),
        (lambda m, lv: 0.5 * ops.sum(ops.exp(lv) + m**2 - 1 - lv, axis=-1, keepdims=True), "no keepdims"),
        (kl_np, "so that the compiled training step can run and differentiate it"),
        (kl_loop_rows, "Inside a compiled training step"),
        # z_log_var taken for the variance
        (lambda m, lv: 0.5 * ops.sum(lv + m**2 - 1 - ops.log(lv), axis=-1), "never take the log"),
    ],
    "negative_elbo": [
        (lambda x, lg, m, lv: -neg_elbo(x, lg, m, lv), "you returned the ELBO"),
        (lambda x, lg, m, lv: ops.sum(ops.binary_crossentropy(x, lg, from_logits=True), axis=-1), "KL term is missing"),
        (lambda x, lg, m, lv: kl(m, lv), "the reconstruction term is missing"),
        (lambda x, lg, m, lv: ops.mean(ops.binary_crossentropy(x, lg, from_logits=True), axis=-1) + kl(m, lv),
         "averaged the reconstruction"),
        (lambda x, lg, m, lv: neg_elbo(x, lg, m, lv) - 2 * kl(m, lv), "you subtracted the KL"),
        (lambda x, lg, m, lv: ops.sum(ops.binary_crossentropy(x, lg), axis=-1) + kl(m, lv),
         "treated the logits as probabilities"),
        (elbo_sigmoid_then_log, "infinite or NaN for large logits"),
        (elbo_sigmoid_then_clip, "right for moderate logits but wrong for large ones"),
        (elbo_naive_softplus, "infinite or NaN for large logits"),
        (elbo_swapped, "you swapped x and x_logits"),
        (elbo_numpy, "so that the compiled training step can run and differentiate it"),
        (lambda x, lg, m, lv: ops.mean(neg_elbo(x, lg, m, lv)), "is a single number"),
        (lambda x, lg, m, lv: ops.sum(ops.binary_crossentropy(x, lg, from_logits=True), axis=0), "shape"),
    ],
    "sample_prior": [
        (lambda dec, n, d: dec(keras.random.normal((n, d))), "the decoder's logits"),
        (lambda dec, n, d: ops.sigmoid(dec(keras.random.uniform((n, d)))), "draw z"),
        (lambda dec, n, d: ops.sigmoid(dec(keras.random.uniform((n, d), -3**0.5, 3**0.5))), "not another"),
        (lambda dec, n, d: ops.sigmoid(dec(keras.random.normal((n, d), seed=3))), "two calls gave the same samples"),
        (lambda dec, n, d: ops.sigmoid(dec(keras.random.normal((n, 1)) * ops.ones((1, d)))), "are correlated"),
        (lambda dec, n, d: ops.sigmoid(dec(ops.tile(keras.random.normal((1, d)), (n, 1)))), "all your codes are"),
        (lambda dec, n, d: ops.sigmoid(dec(keras.random.normal((n, d), stddev=2.0))), "draw z"),
        (lambda dec, n, d: ops.sigmoid(dec(ops.zeros((n, d)))), "all your codes are the same"),
        (lambda dec, n, d: ops.sigmoid(dec(keras.random.normal((n, 2)))), "expected (n, latent_dim)"),
        (lambda dec, n, d: ops.softmax(dec(keras.random.normal((n, d)))), "sigmoid(decoder(z))"),
        (lambda dec, n, d: ops.sigmoid(keras.random.normal((n, d))), "never called the decoder"),
        (lambda dec, n, d: ops.sigmoid(dec(ops.clip(keras.random.normal((n, d)), -3.0, 3.0))), "clipped or truncated"),
        (lambda dec, n, d: ops.sigmoid(dec(antithetic(ops.zeros((n, d))))), "antithetic"),
        (lambda dec, n, d: ops.sigmoid(dec(ops.sign(keras.random.normal((n, d))))), "Gaussian"),
    ],
    "iw_log_likelihood": [
        (lambda *a: iw_variant(*a, reduce="mean"), "you averaged the log-weights"),
        (lambda *a: iw_variant(*a, reduce="lse"), "log-SUM-exp"),
        (lambda *a: iw_variant(*a, reduce="naive"), "log-mean-exp"),
        (lambda *a: iw_variant(*a, std_power=1.0), "sigma = exp(z_log_var / 2)"),
        (lambda *a: iw_variant(*a, prior=False), "log p(z) is missing"),
        (lambda *a: iw_variant(*a, posterior=False), "-log q(z | x) is missing"),
        (lambda *a: iw_variant(*a, swap=True), "are swapped"),
        (lambda *a: iw_variant(*a, sigmoid=True), "from the logits"),
        (lambda *a: iw_variant(*a, pixel_mean=True), "averaged the cross-entropy over the pixels"),
        (lambda *a: iw_variant(*a, q_sigma=True), "uses sigma instead of sigma^2"),
        (lambda *a: iw_variant(*a, ignore_eps=True), "ignore eps"),
        (lambda *a: iw_variant(*a, axis=1), "you combined the examples"),
        (lambda x, m, lv, dec, eps: iw(x, m, lv, dec, np.random.default_rng().standard_normal(eps.shape)),
         "Use the given eps"),
        (lambda *a: iw_variant(*a, reduce="none"), "has shape"),
    ],
    "vae_train_step": [
        (lambda *a: step_variant(*a, reduce="sum"), "n times too large"),
        (lambda *a: step_variant(*a, beta_on="none"), "ignores beta"),
        (lambda *a: step_variant(*a, beta_on="reconstruction"), "multiplies the reconstruction"),
        (lambda *a: step_variant(*a, pixel_mean=True), "averaged the cross-entropy over the pixels"),
        (lambda *a: step_variant(*a, kl_on=False), "KL term is missing"),
        (lambda *a: step_variant(*a, which="decoder"), "the encoder's weights did not change"),
        (lambda *a: step_variant(*a, which="encoder"), "the decoder's weights did not change"),
        (lambda *a: step_variant(*a, sign=-1.0), "went uphill"),
        (lambda *a: step_variant(*a, apply=False), "no weight changed"),
        (lambda *a: step_variant(*a, code="mean"), "the same loss at every call"),
        (lambda *a: step_variant(*a, code="seeded"), "the same loss at every call"),
        (lambda *a: step_variant(*a, code="numpy"), "every example of the batch got the same eps"),  # one row's
        (lambda *a: step_variant(*a, per_example=True), "returned shape"),
        (lambda *a: step_variant(*a, as_probabilities=True), "the change of the weights"),
        (lambda *a: step_variant(*a, clip_probabilities=True), "clipped into [1e-7, 1 - 1e-7]"),
        (lambda *a: step_variant(*a, code="shared"), "every example of the batch got the same eps"),
        (lambda *a: step_variant(*a, code="variance"), "sigma^2, the variance"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, wrong, message", [(name, *case) for name in WRONG for case in WRONG[name]])
def test_wrong_implementations_fail_with_a_specific_message(name, wrong, message):
    assert_fails_with(CHECKS[name], wrong, message)
