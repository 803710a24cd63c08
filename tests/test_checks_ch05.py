"""Chapter 5 checks: correct solutions written differently pass; learners' mistakes fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl.checks import ch05

LOG_2PI = np.log(2 * np.pi)

# ----------------------------------------------------------------------------- coupling_forward


def s_t(x, mask, scale_fn, translation_fn):
    return scale_fn(x * mask) * (1 - mask), translation_fn(x * mask) * (1 - mask)


def forward(x, mask, scale_fn, translation_fn):
    s, t = s_t(x, mask, scale_fn, translation_fn)
    return x * mask + (1 - mask) * (x * np.exp(s) + t), np.sum(s, axis=1)


def forward_ops32(x, mask, scale_fn, translation_fn):
    """keras.ops in float32, masking after the exponential, log-det from the transformed columns."""
    x32, m = ops.cast(x, "float32"), ops.cast(mask, "float32")
    s = ops.cast(scale_fn(ops.convert_to_numpy(x32 * m)), "float32")
    t = ops.cast(translation_fn(ops.convert_to_numpy(x32 * m)), "float32")
    y = m * x32 + (1 - m) * (x32 * ops.exp(s) + t)
    return y, ops.sum(s * (1 - m), axis=-1)


def forward_indexed(x, mask, scale_fn, translation_fn):
    """Boolean indexing and a loop over the examples."""
    free = mask == 0
    s_full, t_full = scale_fn(x * mask), translation_fn(x * mask)
    y, log_det = x.copy(), np.zeros(len(x))
    for i in range(len(x)):
        y[i, free] = x[i, free] * np.exp(s_full[i, free]) + t_full[i, free]
        log_det[i] = s_full[i, free].sum()
    return y, log_det


def fw_exp_minus(x, m, sf, tf):  # exp(-s): the inverse's scaling
    s, t = s_t(x, m, sf, tf)
    return x * m + (1 - m) * (x * np.exp(-s) + t), s.sum(1)


def fw_translate_first(x, m, sf, tf):  # (x + t) * exp(s)
    s, t = s_t(x, m, sf, tf)
    return x * m + (1 - m) * ((x + t) * np.exp(s)), s.sum(1)


def fw_times_s(x, m, sf, tf):  # multiplied by s instead of exp(s)
    s, t = s_t(x, m, sf, tf)
    return x * m + (1 - m) * (x * s + t), s.sum(1)


def fw_unmasked_input(x, m, sf, tf):  # the networks see all of x
    s, t = sf(x) * (1 - m), tf(x) * (1 - m)
    return x * m + (1 - m) * (x * np.exp(s) + t), s.sum(1)


def fw_all_transformed(x, m, sf, tf):  # no pass-through for the kept coordinates
    s, t = sf(x * m), tf(x * m)
    return x * np.exp(s) + t, s.sum(1)


def fw_t_unmasked(x, m, sf, tf):  # t added to every coordinate
    s = sf(x * m) * (1 - m)
    return x * m + (1 - m) * x * np.exp(s) + tf(x * m), s.sum(1)


def fw_inverted_mask(x, m, sf, tf):  # b = 1 read as "transformed"
    return forward(x, 1 - m, sf, tf)


def fw_fixed_half(x, m, sf, tf):  # the RealNVP slicing x[:, :d // 2], ignoring the mask
    first = np.zeros(x.shape[1])
    first[: x.shape[1] // 2] = 1.0
    return forward(x, first, sf, tf)


def fw_log_det_all(x, m, sf, tf):  # s summed over the kept coordinates too
    return forward(x, m, sf, tf)[0], sf(x * m).sum(1)


def fw_log_det_axis0(x, m, sf, tf):  # summed over the examples
    return forward(x, m, sf, tf)[0], s_t(x, m, sf, tf)[0].sum(0)


def fw_log_det_mean(x, m, sf, tf):  # mean over the coordinates
    return forward(x, m, sf, tf)[0], s_t(x, m, sf, tf)[0].mean(1)


# ----------------------------------------------------------------------------- coupling_inverse


def inverse(y, mask, scale_fn, translation_fn):
    s, t = s_t(y, mask, scale_fn, translation_fn)
    return y * mask + (1 - mask) * ((y - t) * np.exp(-s))


def inverse_divide_pair(y, mask, scale_fn, translation_fn):
    """np.where and a division by exp(s); returns the pair (x, -log_det)."""
    s, t = scale_fn(y * mask), translation_fn(y * mask)
    x = np.where(mask == 1, y, (y - t) / np.exp(s))
    return x, -np.sum(np.where(mask == 1, 0.0, s), axis=1)


def inverse_ops32(y, mask, scale_fn, translation_fn):
    y32, m = ops.cast(y, "float32"), ops.cast(mask, "float32")
    s = ops.cast(scale_fn(ops.convert_to_numpy(y32 * m)), "float32") * (1 - m)
    t = ops.cast(translation_fn(ops.convert_to_numpy(y32 * m)), "float32") * (1 - m)
    return m * y32 + (1 - m) * (y32 - t) * ops.exp(-s)


def inv_exp_plus(y, m, sf, tf):  # exp(+s)
    s, t = s_t(y, m, sf, tf)
    return y * m + (1 - m) * ((y - t) * np.exp(s))


def inv_wrong_order(y, m, sf, tf):  # divides first, then subtracts t
    s, t = s_t(y, m, sf, tf)
    return y * m + (1 - m) * (y * np.exp(-s) - t)


def inv_divide_by_s(y, m, sf, tf):  # s for exp(s)
    s, t = sf(y * m), tf(y * m)
    return y * m + (1 - m) * ((y - t) / s)


def inv_unmasked_input(y, m, sf, tf):  # the networks see all of y
    s, t = sf(y) * (1 - m), tf(y) * (1 - m)
    return y * m + (1 - m) * ((y - t) * np.exp(-s))


def inv_no_pass_through(y, m, sf, tf):  # the kept coordinates transformed too
    s, t = sf(y * m), tf(y * m)
    return (y - t) * np.exp(-s)


def inv_inverted_mask(y, m, sf, tf):
    return inverse(y, 1 - m, sf, tf)


def inv_fixed_half(y, m, sf, tf):
    first = np.zeros(y.shape[1])
    first[: y.shape[1] // 2] = 1.0
    return inverse(y, first, sf, tf)


# ----------------------------------------------------------------------------- flow_nll


def nll(z, log_det):
    return -np.mean(-0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=1) + log_det)


def nll_ops(z, log_det):
    """keras.ops in float32, the constant outside the sum."""
    z = ops.cast(z, "float32")
    d = ops.cast(ops.shape(z)[1], "float32")
    log_pz = -0.5 * ops.sum(ops.square(z), axis=1) - 0.5 * d * float(LOG_2PI)
    return -ops.mean(log_pz + ops.cast(log_det, "float32"))


def nll_loop(z, log_det):
    total = 0.0
    for row, ld in zip(np.asarray(z, dtype="float64"), log_det):
        total += sum(0.5 * v * v + 0.5 * LOG_2PI for v in row) - ld
    return total / len(z)


def log_p(z):
    return -0.5 * np.sum(z**2 + LOG_2PI, axis=1)


def nll_density_first(z, ld):  # the log of a product of densities: 0 far in the tails, log 0 = -inf
    density = np.prod(np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi), axis=1)
    with np.errstate(divide="ignore"):
        return -np.mean(np.log(density) + ld)


# --------------------------------------------------------------------------------------------- the tables

CHECKS = {
    "coupling_forward": ch05.check_coupling_forward,
    "coupling_inverse": ch05.check_coupling_inverse,
    "flow_nll": ch05.check_flow_nll,
}

REFERENCES = {
    "coupling_forward": [forward, forward_ops32, forward_indexed],
    "coupling_inverse": [inverse, inverse_divide_pair, inverse_ops32],
    "flow_nll": [nll, nll_ops, nll_loop],
}

WRONG = {
    "coupling_forward": [
        (lambda x, m, sf, tf: forward(x, m, sf, tf)[0], "should return a pair"),
        (lambda x, m, sf, tf: (x[:, :1], np.zeros(len(x))), "has shape"),
        (fw_exp_minus, "you used exp(-s)"),
        (fw_translate_first, "not (x + t) * exp(s)"),
        (fw_times_s, "Multiply by exp(s), not by s"),
        (fw_unmasked_input, "Feed `x * mask`"),
        (fw_all_transformed, "kept coordinates (where mask is 1) changed"),
        (fw_t_unmasked, "kept coordinates (where mask is 1) changed"),
        (fw_inverted_mask, "b = 1 marks the kept coordinates"),
        (fw_fixed_half, "not a fixed split"),
        (lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], -forward(x, m, sf, tf)[1]), "wrong sign"),
        (fw_log_det_all, "transformed coordinates only"),
        (lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], s_t(x, m, sf, tf)[0]), "one number per example"),
        (fw_log_det_axis0, "summed over the examples (axis 0)"),
        (fw_log_det_mean, "not their mean"),
        (lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], np.exp(s_t(x, m, sf, tf)[0]).sum(1)), "not of exp(s)"),
        (lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], np.zeros(len(x))), "log_det (the mask ["),
    ],
    "coupling_inverse": [
        (lambda y, m, sf, tf: y, "returned y unchanged"),
        (inv_exp_plus, "Undo the scaling with exp(-s)"),
        (inv_wrong_order, "reverse order"),
        (inv_divide_by_s, "Divide by exp(s), not by s"),
        (inv_unmasked_input, "Feed `y * mask`"),
        (lambda y, m, sf, tf: forward(y, m, sf, tf)[0], "applied the forward pass"),
        (lambda y, m, sf, tf: inverse(y, m, sf, tf)[:, 1:], "has shape"),
        (lambda y, m, sf, tf: np.where(m == 1, 0.0, inverse(y, m, sf, tf)), "kept coordinates (where mask is 1)"),
        (inv_no_pass_through, "kept coordinates (where mask is 1)"),
        (inv_inverted_mask, "kept coordinates (where mask is 1)"),
        (inv_fixed_half, "not a fixed split"),
    ],
    "flow_nll": [
        (lambda z, ld: -(log_p(z) + ld), "return their mean"),
        (lambda z, ld: -np.mean(log_p(z) - ld), "subtract log_det"),
        (lambda z, ld: np.mean(log_p(z) + ld), "returned the log-likelihood"),
        (lambda z, ld: -np.mean(-0.5 * np.sum(z**2, axis=1) + ld), "1/2 log(2 pi) per coordinate is missing"),
        (lambda z, ld: -np.mean(-0.5 * np.sum(z**2, axis=1) - 0.5 * LOG_2PI + ld), "you added it once"),
        (lambda z, ld: -np.mean(-0.5 * np.sum(z**2, axis=1) - LOG_2PI + ld), "do not assume d = 2"),
        (lambda z, ld: -np.sum(log_p(z) + ld), "summed over the examples"),
        (lambda z, ld: -np.mean(log_p(z) + ld) / z.shape[1], "divided by the dimension"),
        (lambda z, ld: -np.mean(-np.sum(z**2 + 0.5 * LOG_2PI, axis=1) + ld), "you used z^2"),
        (lambda z, ld: -np.mean(-0.5 * np.mean(z**2 + LOG_2PI, axis=1) + ld), "do not average them"),
        (lambda z, ld: -np.mean(-0.5 * np.sum(z**2) - z.shape[1] / 2 * LOG_2PI + ld), "not over the whole batch"),
        (nll_density_first, "not the log of the density"),
        (lambda z, ld: 0.5 * np.mean(z**2), "flow_nll(z, log_det) for z of shape"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, index", [(name, i) for name, wrongs in WRONG.items() for i in range(len(wrongs))])
def test_wrong_implementations_fail_with_a_specific_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message)
