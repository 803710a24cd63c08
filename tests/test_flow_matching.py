"""Chapter 9's model cells: the samplers on a flow known in closed form, the flow-matching loss's minimiser,
guidance, and the models train (the cells the chapter runs, loaded from the notebook)."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tools import model_cells

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def chapter():
    return model_cells.load(ROOT / "chapters" / "09_flow_matching.ipynb")


# For data x1 ~ N(m, s^2 I) and noise x0 ~ N(0, I), x_t is Gaussian and the marginal velocity of the straight
# path is affine: u_t(x) = m + b_t (x - t m), b_t = (t s^2 - (1 - t)) / ((1 - t)^2 + t^2 s^2). Its flow maps
# N(0, I) exactly onto N(m, s^2 I).
M, S = np.array([1.5, -0.5]), 0.4


def exact_velocity(x, t):
    b = (t * S**2 - (1 - t)) / ((1 - t) ** 2 + t**2 * S**2)
    return M + b * (np.asarray(x) - t * M)


def test_euler_and_heun_transport_noise_to_the_right_gaussian(chapter):
    z = np.random.default_rng(0).standard_normal((200_000, 2))
    exact = M + S * z  # the exact flow at t = 1: psi_t(z) = t m + sqrt((1 - t)^2 + t^2 s^2) z
    errors = {}
    for name in ("euler", "heun"):
        for steps in (8, 16, 32):
            x = np.asarray(chapter[name](exact_velocity, z, steps))
            errors[name, steps] = np.abs(x - exact).max()
        x = np.asarray(chapter[name](exact_velocity, z, {"euler": 1024, "heun": 64}[name]))
        np.testing.assert_allclose(x.mean(axis=0), M, atol=0.01)
        np.testing.assert_allclose(np.cov(x.T), S**2 * np.eye(2), atol=0.005)
    # first order: halving h halves Euler's error; second order: Heun's falls by about four
    assert 1.6 < errors["euler", 8] / errors["euler", 16] < 2.6, errors
    assert 3.0 < errors["heun", 8] / errors["heun", 16] < 5.0, errors
    assert errors["heun", 16] < errors["euler", 32], errors  # fewer evaluations, smaller error


def test_samplers_use_the_given_grid(chapter):
    calls = []

    def velocity(x, t):
        calls.append(float(t))
        return np.ones_like(x)

    x = chapter["euler"](velocity, np.zeros((3, 2)), 4, times=[0.0, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(x, 1.0)
    assert calls == [0.0, 0.5, 0.9]
    calls.clear()
    chapter["heun"](velocity, np.zeros((3, 2)), 2)
    assert calls == [0.0, 0.5, 0.5, 1.0]


def test_flow_matching_loss_is_minimised_by_the_marginal_velocity(chapter):
    """The conditional loss, estimated on samples, has zero gradient at the exact marginal velocity."""
    rng = np.random.default_rng(1)
    n, d = 400_000, 2
    x0 = rng.standard_normal((n, d)).astype("float32")
    x1 = (M + S * rng.standard_normal((n, d))).astype("float32")
    t = rng.uniform(0.02, 0.98, size=n).astype("float32")
    # The family u(x, t) = a * m + c * b_t (x - t m): a = c = 1 is the marginal velocity.
    a, c = tf.Variable(1.0), tf.Variable(1.0)
    b = (t * S**2 - (1 - t)) / ((1 - t) ** 2 + t**2 * S**2)

    def velocity(x, s):
        return a * M.astype("float32") + c * b[:, None] * (x - s[:, None] * M.astype("float32"))

    def gradient():
        with tf.GradientTape() as tape:
            loss = chapter["flow_matching_loss"](velocity, x0, x1, t)
        return np.array([g.numpy() for g in tape.gradient(loss, [a, c])]), float(loss)

    at_truth, loss_truth = gradient()
    assert np.all(np.abs(at_truth) < 0.01), at_truth  # zero within sampling error (about 0.003)
    a.assign(1.3)
    c.assign(0.7)
    away, loss_away = gradient()
    assert np.all(np.abs(away) > 0.05), away
    assert loss_away > loss_truth


def test_guidance_at_w_0_is_unconditional_and_at_w_1_conditional(chapter):
    keras.utils.set_random_seed(0)
    net = chapter["build_code_velocity"](6, 10, hidden=16, depth=1, emb_dim=8)
    out = net.layers[-1]
    out.kernel.assign(np.random.default_rng(0).normal(size=out.kernel.shape).astype("float32"))
    call = chapter["compiled"](net, jit=False)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    labels = np.array([0, 3, 9, 3, 1])
    uncond = np.asarray(net([x, np.full(5, 0.4, "float32"), np.full(5, 10)]))
    cond = np.asarray(net([x, np.full(5, 0.4, "float32"), labels]))
    assert np.max(np.abs(cond - uncond)) > 1e-3  # the label matters
    for w, expected in ((0.0, uncond), (1.0, cond), (2.5, uncond + 2.5 * (cond - uncond))):
        v = chapter["velocity_fn"](call, labels, w, null_label=10)
        np.testing.assert_allclose(np.asarray(v(x, 0.4)), expected, rtol=1e-5, atol=1e-5)
    v = chapter["velocity_fn"](call, labels, 0.5, null_label=10)  # the batched two-label path
    np.testing.assert_allclose(np.asarray(v(x, 0.4)), uncond + 0.5 * (cond - uncond), rtol=1e-5, atol=1e-5)


def test_interpolate_is_the_straight_path(chapter):
    x0, x1 = np.zeros((3, 2, 2, 1), "float32"), np.ones((3, 2, 2, 1), "float32")
    x_t, target = chapter["interpolate"](x0, x1, np.array([0.0, 0.25, 1.0], "float32"))
    np.testing.assert_allclose(np.asarray(x_t)[:, 0, 0, 0], [0.0, 0.25, 1.0])
    np.testing.assert_allclose(np.asarray(target), 1.0)


@pytest.mark.parametrize("kind", ["points", "labelled codes", "pairs"])
def test_flow_matching_trains_and_lowers_its_loss(chapter, kind):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if kind == "points":
        model = chapter["FlowMatching"](chapter["build_point_velocity"](hidden=32, depth=2, emb_dim=8), seed=0)
        x, y = (0.5 + 0.1 * rng.standard_normal((512, 2))).astype("float32"), None
    elif kind == "labelled codes":
        net = chapter["build_code_velocity"](4, 10, hidden=32, depth=1, emb_dim=8)
        model = chapter["FlowMatching"](net, num_classes=10, p_uncond=0.2, seed=0)
        y = rng.integers(0, 10, 512).astype("int32")
        centres = rng.standard_normal((10, 4))
        x = (centres[y] + 0.1 * rng.standard_normal((512, 4))).astype("float32")  # one cluster per label
    else:
        model = chapter["FlowMatching"](chapter["build_point_velocity"](hidden=32, depth=2, emb_dim=8),
                                        coupled=True, seed=0)
        x = rng.standard_normal((512, 2)).astype("float32")
        y = (x + 1.0).astype("float32")  # straight pairs: the velocity is the constant 1
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(x, y, batch_size=64, epochs=8, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < history[0], history
