"""Chapter 5's RealNVP, defined by the chapter's own model-definition cells: invertible, with the right log-det."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, model_cells


@pytest.fixture(scope="module")
def chapter():
    return model_cells.load(ROOT / "chapters" / "05_flows.ipynb")


def random_flow(chapter, d, n_layers, floatx):
    """A RealNVP with random (non-identity) weights, built in the given float type."""
    previous = keras.config.dtype_policy()  # (set_floatx is not enough once a layer has been built)
    keras.config.set_dtype_policy(floatx)
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        masks = chapter["alternating_masks"]((np.arange(d) % 2).astype("float32"), n_layers)
        flow = chapter["RealNVP"](masks, hidden=(16, 16), shift=rng.normal(size=d), scale=rng.uniform(0.5, 2, size=d))
        flow(np.zeros((1, d), dtype=floatx))  # build
        for w in flow.weights:  # the last layers start at zero (identity): make every coupling do something
            w.assign(rng.normal(scale=0.5, size=w.shape).astype(floatx))
    finally:
        keras.config.set_dtype_policy(previous)
    return flow


@pytest.mark.parametrize("d", [2, 5])
def test_inverse_undoes_forward(chapter, d):
    flow = random_flow(chapter, d, n_layers=4, floatx="float32")
    x = np.random.default_rng(1).normal(size=(64, d)).astype("float32")
    z, _ = flow(x)
    assert np.max(np.abs(np.asarray(z) - x)) > 0.1  # the flow is not the identity
    np.testing.assert_allclose(np.asarray(flow.inverse(z)), x, atol=1e-4)
    z_back = flow(flow.inverse(x))[0]
    np.testing.assert_allclose(np.asarray(z_back), x, atol=1e-4)


@pytest.mark.parametrize("d", [2, 4])
def test_log_det_matches_a_finite_difference_jacobian(chapter, d):
    flow = random_flow(chapter, d, n_layers=3, floatx="float64")
    x = np.random.default_rng(2).normal(size=(6, d))
    _, log_det = flow(tf.constant(x))  # a float64 tensor: Keras would convert a NumPy array to float32 first
    h = 1e-6
    for i in range(len(x)):
        jac = np.empty((d, d))
        for j in range(d):
            step = np.zeros(d)
            step[j] = h
            plus, minus = flow(tf.constant(np.stack([x[i] + step, x[i] - step])))[0]
            jac[:, j] = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
        sign, numeric = np.linalg.slogdet(jac)
        assert sign != 0
        np.testing.assert_allclose(float(log_det[i]), numeric, rtol=1e-6, atol=1e-6)


def test_log_prob_integrates_to_one_in_2d(chapter):
    flow = random_flow(chapter, 2, n_layers=4, floatx="float64")
    xs = np.linspace(-12, 12, 601)
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    density = np.exp(np.asarray(flow.log_prob(tf.constant(grid))))
    total = density.sum() * (xs[1] - xs[0]) ** 2
    assert abs(total - 1) < 1e-2, total


def test_training_lowers_the_nll(chapter):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(3).normal(size=(512, 2)).astype("float32") * [2.0, 0.3] + [1.0, -1.0]
    flow = chapter["RealNVP"](chapter["alternating_masks"]([1, 0], 2), hidden=(16,), shift=0.0, scale=1.0)
    flow.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = flow.fit(x, batch_size=128, epochs=5, verbose=0)
    assert history.history["nll"][-1] < history.history["nll"][0] - 0.5
    assert np.isclose(flow.evaluate(x, verbose=0), -np.mean(np.asarray(flow.log_prob(x))), rtol=1e-4)
    assert isinstance(flow.sample(3), tf.Tensor) and flow.sample(3).shape == (3, 2)


# ----------------------------------------------------------------------------- the convolutional image flow


def random_conv_flow(chapter, floatx, size=8):
    """The chapter's ConvFlow on size x size images with random (non-identity) weights, in the given float type."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(floatx)
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        flow = chapter["ConvFlow"]((size, size), layers=4, hidden=(4,), alpha=0.05)
        v = rng.normal(size=(16, size, size, 1)).astype(floatx)
        flow.initialize(v)
        for w in flow.weights:  # the last convolutions start at zero: make every coupling do something
            w.assign(np.asarray(w) + rng.normal(scale=0.1, size=w.shape).astype(floatx))
    finally:
        keras.config.set_dtype_policy(previous)
    return flow


def flat_latent(flow, v):
    (z1, z2), log_det = flow(v)
    n = v.shape[0]
    return np.concatenate([np.asarray(z1).reshape(n, -1), np.asarray(z2).reshape(n, -1)], axis=1), log_det


def test_squeeze_is_a_permutation_that_unsqueeze_undoes(chapter):
    x = np.arange(2 * 6 * 4 * 3, dtype="float32").reshape(2, 6, 4, 3)
    y = np.asarray(chapter["squeeze"](x))
    assert y.shape == (2, 3, 2, 12)
    assert sorted(y.ravel()) == sorted(x.ravel())
    np.testing.assert_array_equal(y[0, 0, 0].reshape(2, 2, 3), x[0, :2, :2])  # one 2 x 2 block -> channels
    np.testing.assert_array_equal(np.asarray(chapter["unsqueeze"](y)), x)


def test_conv_flow_inverse_undoes_forward(chapter):
    flow = random_conv_flow(chapter, "float32")
    v = np.random.default_rng(1).normal(size=(5, 8, 8, 1)).astype("float32")
    (z1, z2), _ = flow(v)
    z, log_det = flat_latent(flow, v)
    assert z.shape == (5, 64) and np.min(np.abs(np.asarray(log_det))) > 0.1  # not a mere permutation of v
    np.testing.assert_allclose(np.asarray(flow.inverse(z1, z2)), v, atol=1e-4)


def test_conv_flow_log_det_matches_a_finite_difference_jacobian(chapter):
    flow = random_conv_flow(chapter, "float64")
    v = np.random.default_rng(2).normal(size=(2, 8, 8, 1))
    _, log_det = flat_latent(flow, tf.constant(v))
    h, d = 1e-6, 64
    for i in range(len(v)):
        jac = np.empty((d, d))
        for j in range(d):
            step = np.zeros(d)
            step[j] = h
            both = np.stack([v[i].ravel() + step, v[i].ravel() - step]).reshape(2, 8, 8, 1)
            plus, minus = flat_latent(flow, tf.constant(both))[0]
            jac[:, j] = (plus - minus) / (2 * h)
        sign, numeric = np.linalg.slogdet(jac)
        assert sign != 0
        np.testing.assert_allclose(float(log_det[i]), numeric, rtol=1e-6, atol=1e-5)


def test_conv_flow_nats_add_the_logit_jacobian_and_the_8_bit_scale(chapter):
    flow = random_conv_flow(chapter, "float64")
    rng = np.random.default_rng(3)
    k = rng.integers(0, 256, size=(3, 8, 8, 1)).astype("float64")
    noise = rng.uniform(size=k.shape)
    u = (k + noise) / 256
    p = 0.05 + 0.9 * u
    v = np.log(p / (1 - p))
    log_dv_du = np.sum(np.log(0.9) - np.log(p) - np.log(1 - p), axis=(1, 2, 3))
    expected = -(np.asarray(flow.log_prob(tf.constant(v))) + log_dv_du) + 64 * np.log(256)
    np.testing.assert_allclose(np.asarray(flow.nats(tf.constant(k), tf.constant(noise))), expected, rtol=1e-8)


def test_conv_flow_training_draws_fresh_noise_every_batch(chapter):
    flow = random_conv_flow(chapter, "float32")
    k = np.zeros((4, 8, 8, 1), dtype="float32")
    step = tf.function(lambda pixels: flow.fresh_noise(pixels))
    first, second = np.asarray(step(k)), np.asarray(step(k))
    assert first.shape == k.shape and 0 <= first.min() and first.max() < 1
    assert not np.allclose(first, second)  # compiled, and still new noise on every call
