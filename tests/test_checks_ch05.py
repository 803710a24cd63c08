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



# ----------------------------------------------------------------------------- image_bpd


def bpd(log_p_v, pixels, noise, alpha):
    d = np.prod(pixels.shape[1:])
    p = alpha + (1 - 2 * alpha) * (pixels + noise) / 256
    axes = tuple(range(1, pixels.ndim))
    log_dv_du = np.sum(np.log(1 - 2 * alpha) - np.log(p) - np.log(1 - p), axis=axes)
    return (-(log_p_v + log_dv_du) + d * np.log(256)) / (d * np.log(2))


def bpd_ops(log_p_v, pixels, noise, alpha):
    """keras.ops in float32 on flattened images, the logit Jacobian written as log(dv/du) directly."""
    n = pixels.shape[0]
    u = ops.reshape(ops.cast(pixels, "float32") + ops.cast(noise, "float32"), (n, -1)) / 256.0
    p = alpha + (1 - 2 * alpha) * u
    log_dv_du = ops.sum(ops.log((1 - 2 * alpha) / (p * (1 - p))), axis=1)
    d = u.shape[1]
    bits = -(ops.cast(log_p_v, "float32") + log_dv_du) / np.log(2) + 8 * d
    return bits / d


def bpd_loop(log_p_v, pixels, noise, alpha):
    """One image at a time, in bits throughout."""
    out = []
    for lp, k, e in zip(log_p_v, pixels.reshape(len(pixels), -1), noise.reshape(len(noise), -1)):
        p = alpha + (1 - 2 * alpha) * (k.astype("float64") + e) / 256
        log2_dv_du = np.sum(np.log2(1 - 2 * alpha) - np.log2(p) - np.log2(1 - p))
        out.append((-lp / np.log(2) - log2_dv_du) / k.size + 8)
    return np.array(out)


def bpd_parts(log_p_v, pixels, noise, alpha, u_div=256, with_noise=True, one_minus=True, sign=1):
    d = np.prod(pixels.shape[1:])
    u = (pixels + (noise if with_noise else 0)) / u_div
    p = alpha + (1 - 2 * alpha) * u
    axes = tuple(range(1, pixels.ndim))
    log_dv_du = np.sum((np.log(1 - 2 * alpha) if one_minus else 0) - np.log(p) - np.log(1 - p), axis=axes)
    return (-(log_p_v + sign * log_dv_du) + d * np.log(256)) / (d * np.log(2))


# ----------------------------------------------------------------------------- squeeze / unsqueeze


def squeeze(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // 2, w // 2, 4 * c)


def squeeze_tf(x):
    import tensorflow as tf

    return tf.nn.space_to_depth(x, 2)  # the same layout: (row in block, column in block, channel)


def squeeze_loop(x):
    n, h, w, c = x.shape
    out = np.empty((n, h // 2, w // 2, 4 * c), dtype=x.dtype)
    for a in range(2):
        for b in range(2):
            out[..., (2 * a + b) * c:(2 * a + b + 1) * c] = x[:, a::2, b::2, :]
    return out


def unsqueeze(y):
    n, h, w, c4 = y.shape
    return y.reshape(n, h, w, 2, 2, c4 // 4).transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, c4 // 4)


def unsqueeze_tf(y):
    import tensorflow as tf

    return tf.nn.depth_to_space(y, 2)


def unsqueeze_loop(y):
    n, h, w, c4 = y.shape
    c = c4 // 4
    out = np.empty((n, 2 * h, 2 * w, c), dtype=y.dtype)
    for a in range(2):
        for b in range(2):
            out[:, a::2, b::2, :] = y[..., (2 * a + b) * c:(2 * a + b + 1) * c]
    return out


def squeeze_swapped(x):  # column in the block before row
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 4, 2, 5).reshape(n, h // 2, w // 2, 4 * c)


def squeeze_channel_major(x):  # channel first, then the position in the block
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, 4 * c)


def squeeze_strided(x):  # blocks made of pixels h/2 and w/2 apart
    n, h, w, c = x.shape
    return x.reshape(n, 2, h // 2, 2, w // 2, c).transpose(0, 2, 4, 1, 3, 5).reshape(n, h // 2, w // 2, 4 * c)


def squeeze_repeat(x):  # takes one pixel of each block four times
    return np.concatenate([x[:, ::2, ::2]] * 4, axis=-1)


def unsqueeze_swapped(y):
    n, h, w, c4 = y.shape
    return y.reshape(n, h, w, 2, 2, c4 // 4).transpose(0, 1, 4, 2, 3, 5).reshape(n, 2 * h, 2 * w, c4 // 4)


def unsqueeze_channel_major(y):
    n, h, w, c4 = y.shape
    return y.reshape(n, h, w, c4 // 4, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h, 2 * w, c4 // 4)


def unsqueeze_no_transpose(y):
    n, h, w, c4 = y.shape
    return y.reshape(n, 2 * h, 2 * w, c4 // 4)


def unsqueeze_strided(y):
    n, h, w, c4 = y.shape
    return y.reshape(n, h, w, 2, 2, c4 // 4).transpose(0, 3, 1, 4, 2, 5).reshape(n, 2 * h, 2 * w, c4 // 4)


def unsqueeze_repeat(y):
    c = y.shape[-1] // 4
    return np.repeat(np.repeat(y[..., :c], 2, axis=1), 2, axis=2)


# --------------------------------------------------------------------------------------------- the tables

CHECKS = {
    "coupling_forward": ch05.check_coupling_forward,
    "coupling_inverse": ch05.check_coupling_inverse,
    "flow_nll": ch05.check_flow_nll,
    "image_bpd": ch05.check_image_bpd,
    "squeeze": ch05.check_squeeze,
    "unsqueeze": ch05.check_unsqueeze,
}

REFERENCES = {
    "coupling_forward": [forward, forward_ops32, forward_indexed],
    "coupling_inverse": [inverse, inverse_divide_pair, inverse_ops32],
    "flow_nll": [nll, nll_ops, nll_loop],
    "image_bpd": [bpd, bpd_ops, bpd_loop],
    "squeeze": [squeeze, squeeze_tf, squeeze_loop],
    "unsqueeze": [unsqueeze, unsqueeze_tf, unsqueeze_loop],
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
    "image_bpd": [
        (lambda lp, k, e, a: np.mean(bpd(lp, k, e, a)), "return bits/dim for each image"),
        (lambda lp, k, e, a: bpd(lp, k, e, a) - 8, "8-bit scale is missing"),
        (lambda lp, k, e, a: bpd(lp, k, e, a) * np.log(2), "divide by d ln 2"),
        (lambda lp, k, e, a: bpd(lp, k, e, a) * np.prod(k.shape[1:]), "bits per image"),
        (lambda lp, k, e, a: bpd_parts(lp, k, e, a, sign=-1), "wrong sign"),
        (lambda lp, k, e, a: bpd_parts(lp, k, e, a, sign=0), "log|dv/du| is missing"),
        (lambda lp, k, e, a: bpd_parts(lp, k, e, a, one_minus=False), "factor (1 - 2 alpha)"),
        (lambda lp, k, e, a: bpd_parts(lp, k, e, a, with_noise=False), "the noise is part of u"),
        (lambda lp, k, e, a: bpd_parts(lp, k, e, a, u_div=255), "by 256, not 255"),
        (lambda lp, k, e, a: bpd(lp, k, e, a) - 8 + 8 / np.log(2), "not 8 d"),
        (lambda lp, k, e, a: bpd(lp, k, e, a) * np.prod(k.shape[1:]) / k.shape[-1], "not the size of the last axis"),
        (lambda lp, k, e, a: bpd(lp, k, e, 1e-6), "image_bpd for pixels of shape"),  # ignores alpha
        (lambda lp, k, e, a: bpd(lp, k, e, a)[:-1], "has shape"),
    ],
    "squeeze": [
        (lambda x: x.reshape(x.shape[0], x.shape[1] // 2, x.shape[2] // 2, -1), "a plain reshape"),
        (squeeze_strided, "not neighbours"),
        (squeeze_swapped, "wrong order of channels"),
        (squeeze_channel_major, "wrong order of channels"),
        (lambda x: squeeze(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3), "wrong order of channels"),
        (squeeze_repeat, "missing or repeated"),
        (lambda x: x, "has shape"),
        (lambda x: squeeze(x)[..., :4], "has shape"),  # assumes one channel
        (lambda x: squeeze(x) * 2, "missing or repeated"),
    ],
    "unsqueeze": [
        (unsqueeze_no_transpose, "a plain reshape scatters"),
        (unsqueeze_strided, "neighbouring pixels"),
        (unsqueeze_swapped, "does not give x back"),
        (unsqueeze_channel_major, "does not give x back"),
        (unsqueeze_repeat, "missing or repeated"),
        (lambda y: squeeze(unsqueeze(y)), "has shape"),
        (lambda y: y, "has shape"),
        (lambda y: unsqueeze(y)[..., :1], "has shape"),  # assumes one channel
        (lambda y: unsqueeze(y) + 1, "missing or repeated"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, index", [(name, i) for name, wrongs in WRONG.items() for i in range(len(wrongs))])
def test_wrong_implementations_fail_with_a_specific_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message)
