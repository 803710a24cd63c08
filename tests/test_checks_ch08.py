"""Chapter 8 checks: correct solutions written differently pass; learners' mistakes fail with a specific message.

CHECKS, REFERENCES and WRONG follow the convention of every tests/test_checks_chNN.py: the exercise's check,
its correct implementations, and (wrong implementation, a fragment of the message it must get).
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl.checks import ch08

# ----------------------------------------------------------------------------- free_energy


def free_energy_tf(v, W, b, c):
    return -tf.linalg.matvec(v, b) - tf.reduce_sum(tf.nn.softplus(v @ W + c), axis=-1)


def free_energy_ops64(v, W, b, c):
    v, W, b, c = (ops.cast(t, "float64") for t in (v, W, b, c))
    return -ops.sum(v * b, axis=-1) - ops.sum(ops.softplus(ops.matmul(v, W) + c), axis=-1)


def free_energy_logaddexp(v, W, b, c):  # log(1 + e^a) = logaddexp(0, a), written with TensorFlow
    a = tf.matmul(v, W) + c
    return -tf.reduce_sum(v * b, axis=1) - tf.reduce_sum(tf.math.reduce_logsumexp(
        tf.stack([tf.zeros_like(a), a]), axis=0), axis=1)


def fe_numpy(v, W, b, c):  # right values, but NumPy cannot run inside the compiled step
    return -np.asarray(v) @ np.asarray(b) - np.sum(np.logaddexp(0, np.asarray(v) @ np.asarray(W) + c), axis=-1)


def fe_naive(v, W, b, c):  # log(1 + exp(a)) literally: overflows for large a
    return -tf.linalg.matvec(v, b) - tf.reduce_sum(tf.math.log(1 + tf.exp(v @ W + c)), axis=-1)


def fe_log1p(v, W, b, c):  # log1p(exp(a)) overflows just the same
    return -tf.linalg.matvec(v, b) - tf.reduce_sum(tf.math.log1p(tf.exp(v @ W + c)), axis=-1)


FE_WRONG = [
    (lambda v, W, b, c: -free_energy_tf(v, W, b, c), "sign is flipped"),
    (lambda v, W, b, c: -tf.reduce_sum(tf.nn.softplus(v @ W + c), axis=-1), "visible-bias term"),
    (lambda v, W, b, c: -tf.linalg.matvec(v, b) - tf.reduce_sum(tf.nn.softplus(v @ W), axis=-1), "hidden biases"),
    (lambda v, W, b, c: -tf.linalg.matvec(v, b) - tf.reduce_mean(tf.nn.softplus(v @ W + c), axis=-1),
     "do not average"),
    (lambda v, W, b, c: tf.linalg.matvec(v, b) - tf.reduce_sum(tf.nn.softplus(v @ W + c), axis=-1), "wrong sign"),
    (lambda v, W, b, c: -tf.linalg.matvec(v, b) - tf.reduce_sum(tf.sigmoid(v @ W + c), axis=-1), "not sigmoid"),
    (lambda v, W, b, c: -tf.linalg.matvec(v, b) - tf.linalg.matvec(tf.sigmoid(v @ W + c), c)
     - tf.reduce_sum((v @ W) * tf.sigmoid(v @ W + c), axis=-1), "mean hidden activities"),
    (lambda v, W, b, c: -tf.reduce_sum(v * b) - tf.reduce_sum(tf.nn.softplus(v @ W + c), axis=-1), "at index"),
    (lambda v, W, b, c: tf.reduce_mean(free_energy_tf(v, W, b, c)), "single number"),
    (lambda v, W, b, c: -tf.linalg.matvec(v, b) - tf.reduce_sum(tf.nn.softplus(v @ tf.transpose(W) + c), axis=-1),
     "raised"),
    (fe_naive, "overflows"),
    (fe_log1p, "overflows"),
    (fe_numpy, "Inside a compiled step"),
]

# ----------------------------------------------------------------------------- gibbs_step


def gibbs_tf(v, W, b, c, u_h, u_v):
    h = tf.cast(u_h < tf.sigmoid(v @ W + c), tf.float32 if tf.is_tensor(v) and v.dtype == tf.float32 else tf.float64)
    v_new = tf.cast(u_v < tf.sigmoid(h @ tf.transpose(W) + b), h.dtype)
    return v_new, h


def gibbs_ops(v, W, b, c, u_h, u_v):
    p_h = ops.sigmoid(ops.matmul(v, W) + c)
    h = ops.where(u_h < p_h, 1.0, 0.0)
    p_v = ops.sigmoid(ops.matmul(h, ops.transpose(ops.cast(W, h.dtype))) + ops.cast(b, h.dtype))
    return ops.where(ops.cast(u_v, p_v.dtype) < p_v, 1.0, 0.0), h


def _sig(a):
    return tf.sigmoid(a)


GIBBS_WRONG = [
    (lambda v, W, b, c, uh, uv: (tf.cast(uv < _sig(_sig(v @ W + c) @ tf.transpose(W) + b), tf.float64),
                                 _sig(v @ W + c)), "h holds the probabilities"),
    (lambda v, W, b, c, uh, uv: (_sig(tf.cast(uh < _sig(v @ W + c), tf.float64) @ tf.transpose(W) + b),
                                 tf.cast(uh < _sig(v @ W + c), tf.float64)), "v_new holds the probabilities"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, c, 1 - uh, 1 - uv), "BELOW"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, 0 * c, uh, uv), "hidden biases c are missing"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, 0 * b, c, uh, uv), "visible biases b are missing"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, c, uh, uv)[::-1], "in that order"),
    (lambda v, W, b, c, uh, uv: (tf.cast(uv < _sig(_sig(v @ W + c) @ tf.transpose(W) + b), tf.float64),
                                 tf.cast(uh < _sig(v @ W + c), tf.float64)), "from the sampled h"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, c, uh[::-1], uv), "h is wrong"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, c, uh, uv[:, ::-1]), "v_new is wrong"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, c, uh, uv)[1], "pair (v_new, h)"),
    (lambda v, W, b, c, uh, uv: gibbs_tf(v, W, b, c, 1 - uh, uv), "BELOW"),
    (lambda v, W, b, c, uh, uv: tuple(np.asarray(t) for t in gibbs_tf(np.asarray(v), np.asarray(W), b, c, uh, uv)),
     "Inside a compiled step"),
]

# ----------------------------------------------------------------------------- cd_gradient


def cd_tf(v_data, v_model, W, b, c):
    h_d, h_m = tf.sigmoid(v_data @ W + c), tf.sigmoid(v_model @ W + c)
    n_d, n_m = tf.cast(tf.shape(v_data)[0], W.dtype), tf.cast(tf.shape(v_model)[0], W.dtype)
    dW = tf.transpose(v_data) @ h_d / n_d - tf.transpose(v_model) @ h_m / n_m
    return dW, tf.reduce_mean(v_data, 0) - tf.reduce_mean(v_model, 0), tf.reduce_mean(h_d, 0) - tf.reduce_mean(h_m, 0)


def cd_einsum(v_data, v_model, W, b, c):
    def stats(v):
        h = ops.sigmoid(ops.matmul(v, W) + c)
        return ops.mean(ops.einsum("ni,nj->nij", v, h), axis=0), ops.mean(v, axis=0), ops.mean(h, axis=0)

    return tuple(p - m for p, m in zip(stats(v_data), stats(v_model)))


def _cd_parts(v_data, v_model, W, c):
    return tf.sigmoid(v_data @ W + c), tf.sigmoid(v_model @ W + c)


def cd_sum(vd, vm, W, b, c):
    hd, hm = _cd_parts(vd, vm, W, c)
    return tf.transpose(vd) @ hd - tf.transpose(vm) @ hm, tf.reduce_sum(vd, 0) - tf.reduce_sum(vm, 0), \
        tf.reduce_sum(hd, 0) - tf.reduce_sum(hm, 0)


def cd_same_n(vd, vm, W, b, c):
    hd, hm = _cd_parts(vd, vm, W, c)
    n = tf.cast(tf.shape(vd)[0], W.dtype)
    return (tf.transpose(vd) @ hd - tf.transpose(vm) @ hm) / n, tf.reduce_mean(vd, 0) - tf.reduce_mean(vm, 0), \
        tf.reduce_mean(hd, 0) - tf.reduce_mean(hm, 0)


def cd_outer_means(vd, vm, W, b, c):
    hd, hm = _cd_parts(vd, vm, W, c)
    dW = tf.tensordot(tf.reduce_mean(vd, 0), tf.reduce_mean(hd, 0), 0) - tf.tensordot(
        tf.reduce_mean(vm, 0), tf.reduce_mean(hm, 0), 0)
    return dW, tf.reduce_mean(vd, 0) - tf.reduce_mean(vm, 0), tf.reduce_mean(hd, 0) - tf.reduce_mean(hm, 0)


def _cd_with(vd, vm, W, c, act):
    hd, hm = act(vd @ W + c), act(vm @ W + c)
    dW = tf.transpose(vd) @ hd / vd.shape[0] - tf.transpose(vm) @ hm / vm.shape[0]
    return dW, tf.reduce_mean(vd, 0) - tf.reduce_mean(vm, 0), tf.reduce_mean(hd, 0) - tf.reduce_mean(hm, 0)


def cd_dc_preactivation(vd, vm, W, b, c):
    dW, db, _ = cd_tf(vd, vm, W, b, c)
    return dW, db, tf.reduce_mean(vd @ W + c, 0) - tf.reduce_mean(vm @ W + c, 0)


def cd_dc_data_only(vd, vm, W, b, c):
    dW, db, _ = cd_tf(vd, vm, W, b, c)
    return dW, db, tf.reduce_mean(tf.sigmoid(vd @ W + c), 0)


def cd_numpy(vd, vm, W, b, c):
    vd, vm, W, c = (np.asarray(t, dtype="float64") for t in (vd, vm, W, c))
    hd, hm = 1 / (1 + np.exp(-(vd @ W + c))), 1 / (1 + np.exp(-(vm @ W + c)))
    return vd.T @ hd / len(vd) - vm.T @ hm / len(vm), vd.mean(0) - vm.mean(0), hd.mean(0) - hm.mean(0)


CD_WRONG = [
    (lambda *a: tuple(-g for g in cd_tf(*a)), "sign is flipped"),
    (lambda vd, vm, W, b, c: (tf.transpose(vd) @ tf.sigmoid(vd @ W + c) / vd.shape[0],) + cd_tf(vd, vm, W, b, c)[1:],
     "only the data term"),
    (cd_sum, "do not sum"),
    (cd_same_n, "its own count"),
    (cd_outer_means, "not the product of the means"),
    (lambda vd, vm, W, b, c: _cd_with(vd, vm, W, c, lambda a: a), "not the pre-activations"),
    (lambda vd, vm, W, b, c: _cd_with(vd, vm, W, c, lambda a: tf.cast(a > 0, a.dtype)), "not thresholded"),
    (lambda *a: (tf.transpose(cd_tf(*a)[0]),) + cd_tf(*a)[1:], "v^T h"),
    (lambda *a: (cd_tf(*a)[0], cd_tf(*a)[2], cd_tf(*a)[1]), "has shape"),
    (cd_dc_preactivation, "dc uses the hidden probabilities"),
    (cd_dc_data_only, "dc has only the data term"),
    (lambda *a: cd_tf(*a)[:2], "three directions"),
    (cd_numpy, "Inside a compiled step"),
]

# ----------------------------------------------------------------------------- langevin_step


def langevin(x, score_fn, step_size, z):
    return x + 0.5 * step_size * score_fn(x) + np.sqrt(step_size) * z


def langevin_ops(x, score_fn, step_size, z):
    drift = ops.multiply(step_size / 2, score_fn(x))
    return ops.add(ops.add(x, drift), ops.multiply(ops.sqrt(ops.cast(step_size, "float32")), z))


def langevin_numpy_sqrt(x, score_fn, step_size, z):  # np.sqrt of a Python float is fine inside a tf.function
    noise = np.sqrt(step_size) * z
    return x + step_size * score_fn(x) / 2 + noise


def langevin_float32(x, score_fn, step_size, z, noise_scale=None):
    """In float32 throughout (as a GPU step runs): good to float32 precision, not to 1e-6 of a small result."""
    x, z = tf.cast(x, tf.float32), tf.cast(z, tf.float32)
    noise = tf.sqrt(tf.constant(step_size, tf.float32)) if noise_scale is None else noise_scale(step_size)
    return x + 0.5 * step_size * tf.cast(score_fn(x), tf.float32) + noise * z


LANGEVIN_WRONG = [
    (lambda x, s, e, z: x + e * s(x) + np.sqrt(e) * z, "step_size / 2"),
    (lambda x, s, e, z: x - 0.5 * e * s(x) + np.sqrt(e) * z, "UP the score"),
    (lambda x, s, e, z: x + 0.5 * e * s(x) + e * z, "not step_size"),
    (lambda x, s, e, z: langevin_float32(x, s, e, z, noise_scale=lambda e: e), "not step_size"),  # in float32
    (lambda x, s, e, z: x + 0.5 * e * s(x) + z, "Scale the noise"),
    (lambda x, s, e, z: x + 0.5 * e * s(x) + np.sqrt(e) * z / 2, "Only the drift"),
    (lambda x, s, e, z: x + 0.5 * e * s(x) + np.sqrt(e / 2) * z, "Only the drift"),
    (lambda x, s, e, z: x + 0.5 * e * s(x), "noise term"),
    (lambda x, s, e, z: (x + np.sqrt(e) * z) + 0.5 * e * s(x + np.sqrt(e) * z), "before adding the noise"),
    (lambda x, s, e, z: x + 0.5 * e * z + np.sqrt(e) * z, "Call score_fn"),
    (lambda x, s, e, z: x + 0.5 * e**2 * s(x) + np.sqrt(e) * z, "langevin_step(x, score_fn"),
    (lambda x, s, e, z: x + 0.5 * e * s(np.asarray(x)) + np.sqrt(e) * z, "Inside a compiled step"),
]

# ----------------------------------------------------------------------------- dsm_loss


def dsm(score_model, x, sigma, eps):
    s = tf.reshape(sigma, (-1, 1))
    return 0.5 * tf.reduce_mean(tf.reduce_sum((s * score_model(x + s * eps, sigma) + eps) ** 2, axis=-1))


def dsm_ops(score_model, x, sigma, eps):
    s = ops.expand_dims(sigma, -1)
    x_noisy = x + s * eps
    target = -eps / s  # the score of N(x, sigma^2 I) at the noisy point
    return ops.mean(ops.sum(s**2 * (score_model(x_noisy, sigma) - target) ** 2, axis=1)) / 2


def _dsm_with(model, x, sigma, eps, noisy=None, sig=None, weight=None, target=None, half=0.5,
              reduce=tf.reduce_mean, inner=tf.reduce_sum):
    s = tf.reshape(sigma, (-1, 1))
    noisy = x + s * eps if noisy is None else noisy
    weight = s if weight is None else weight
    target = eps if target is None else target
    return half * reduce(inner((weight * model(noisy, sigma if sig is None else sig) + target) ** 2, axis=1))


def _col(sigma):
    return tf.reshape(sigma, (-1, 1))


DSM_WRONG = [
    (lambda m, x, s, e: _dsm_with(m, x, s, e, target=-e), "wrong sign"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, noisy=x), "at the noisy point"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, noisy=x + _col(s) ** 2 * e), "not a variance"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, weight=1.0, target=e / _col(s)), "Weight each example"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, weight=_col(s) ** 2), "not sigma^2"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, half=1.0), "factor 1/2"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, reduce=tf.reduce_sum), "do not sum"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, inner=tf.reduce_mean), "Sum the squared error"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e, sig=s**2), "not sigma^2"),
    (lambda m, x, s, e: 0.5 * tf.reduce_sum((_col(s) * m(x + _col(s) * e, s) + e) ** 2, axis=1), "one number"),
    (lambda m, x, s, e: 0.5 * tf.reduce_mean(tf.reduce_sum((s * m(x + s * e, s) + e) ** 2, axis=1)), "raised"),
    (lambda m, x, s, e: _dsm_with(m, x, s, e) + 0.01, "expected"),
    (lambda m, x, s, e: np.float64(_dsm_with(m, np.asarray(x), np.asarray(s), np.asarray(e))), "compiled"),
]


CHECKS = {
    "free_energy": ch08.check_free_energy,
    "gibbs_step": ch08.check_gibbs_step,
    "cd_gradient": ch08.check_cd_gradient,
    "langevin_step": ch08.check_langevin_step,
    "dsm_loss": ch08.check_dsm_loss,
}

REFERENCES = {
    "free_energy": [free_energy_tf, free_energy_ops64, free_energy_logaddexp],
    "gibbs_step": [gibbs_tf, gibbs_ops],
    "cd_gradient": [cd_tf, cd_einsum],
    "langevin_step": [langevin, langevin_ops, langevin_numpy_sqrt, langevin_float32],
    "dsm_loss": [dsm, dsm_ops],
}

WRONG = {
    "free_energy": FE_WRONG,
    "gibbs_step": GIBBS_WRONG,
    "cd_gradient": CD_WRONG,
    "langevin_step": LANGEVIN_WRONG,
    "dsm_loss": DSM_WRONG,
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, wrong, message", [(name, *case) for name in WRONG for case in WRONG[name]])
def test_wrong_implementations_fail_with_a_specific_message(name, wrong, message):
    assert_fails_with(CHECKS[name], wrong, message)
