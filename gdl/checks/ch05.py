"""Checks for the Chapter 5 exercises (``exercises/05_flows.ipynb``).

- ``check_coupling_forward(f)``: ``f(x, mask, scale_fn, translation_fn)`` returns ``(y, log_det)`` of an
  affine coupling layer, y = b*x + (1-b)*(x*exp(s) + t) with s, t computed from b*x, and
  log_det = sum of s over the transformed coordinates, one number per example.
- ``check_coupling_inverse(f)``: ``f(y, mask, scale_fn, translation_fn)`` returns the x that the forward
  pass maps to y.
- ``check_flow_nll(f)``: ``f(z, log_det)`` returns the mean negative log-likelihood in nats per example,
  -mean(log N(z; 0, I) + log_det).

- ``check_image_bpd(f)``: ``f(log_p_v, pixels, noise, alpha)`` returns bits/dim per image on the 8-bit scale:
  u = (k + noise)/256, p = alpha + (1 - 2 alpha) u, v = logit(p), and
  (-(log_p_v + log|det dv/du|) + d log 256) / (d ln 2), one number per image.
- ``check_squeeze(f)`` and ``check_unsqueeze(f)``: (n, h, w, c) -> (n, h/2, w/2, 4c), each 2 x 2 block of
  neighbouring pixels becoming 4c channels in the order (row in the block, column in the block, channel), and
  back.

Every run of the coupling checks tries the notebook's two 2-D masks, the first and the last half of a
larger dimension kept, and a random mask; every run of the NLL check tries d = 2 and a larger d, with
some coordinates 40 standard deviations out.
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check, new_rng

LOG_2PI = np.log(2 * np.pi)


def _networks(rng, d):
    """Two conditioner networks like the chapter's: each maps (n, d) to (n, d) and uses every input."""
    w_s, w_t = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    b_s, b_t = rng.normal(size=d), rng.normal(size=d)

    def scale_fn(h):  # tanh-bounded, like the chapter's scale network
        return 1.5 * np.tanh(np.asarray(h, dtype="float64") @ w_s + b_s)

    def translation_fn(h):
        return np.asarray(h, dtype="float64") @ w_t + b_t

    return scale_fn, translation_fn


def _problems(rng):
    """(x, mask, scale_fn, translation_fn, name) for every kind of mask, with n never equal to d.

    The random mask comes first and is never a contiguous half, so that a layer which slices x[:, :d // 2]
    instead of using the mask is told so; then both halves of a larger d, then the notebook's 2-D masks.
    """
    d = int(rng.integers(3, 9))
    half = np.zeros(d)
    half[: d // 2] = 1.0
    while True:
        random_mask = np.zeros(d)
        random_mask[rng.permutation(d)[: int(rng.integers(1, d))]] = 1.0  # at least one kept and one transformed
        if not (np.array_equal(random_mask, half) or np.array_equal(random_mask, 1 - half)):
            break
    masks = [(random_mask, f"the mask {random_mask.astype(int).tolist()}"),
             (half, f"the first {d // 2} of {d} coordinates kept"),
             (1 - half, f"the last {d - d // 2} of {d} coordinates kept"),
             (np.array([1.0, 0.0]), "mask [1, 0]"), (np.array([0.0, 1.0]), "mask [0, 1]")]
    out = []
    for mask, name in masks:
        n = int(rng.integers(10, 30))
        x = rng.normal(size=(n, len(mask))) * 1.5
        out.append((x, mask, *_networks(rng, len(mask)), name))
    return out


def _s_t(x, mask, scale_fn, translation_fn):
    return scale_fn(x * mask) * (1 - mask), translation_fn(x * mask) * (1 - mask)


def _forward(x, mask, scale_fn, translation_fn):
    s, t = _s_t(x, mask, scale_fn, translation_fn)
    return x * mask + (1 - mask) * (x * np.exp(s) + t), s.sum(axis=1)


def _pair(out, what, names):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"`{what}` should return a pair ({names}), got {type(out).__name__}.")
    return out


def _close(a, b, atol=1e-6):
    return np.allclose(a, b, rtol=1e-5, atol=atol)


def _fixed_halves(x, mask):
    """The masks a learner who slices x[:, :d // 2] instead of using ``mask`` would have."""
    d = x.shape[1]
    first = np.zeros(d)
    first[: d // 2] = 1.0
    return [m for m in (first, 1 - first) if not (np.array_equal(m, mask) or np.array_equal(m, 1 - mask))]


def _forward_y_diagnosis(y, x, mask, scale_fn, translation_fn, where):
    s, t = _s_t(x, mask, scale_fn, translation_fn)
    free = mask == 0
    for other in _fixed_halves(x, mask):
        if _close(y, _forward(x, other, scale_fn, translation_fn)[0]):
            fail(f"With {where} your layer kept other coordinates than the mask says: use `mask` "
                 "(b = 1: kept), not a fixed split such as x[:, :d // 2].")
    if _close(y, _forward(x, 1 - mask, scale_fn, translation_fn)[0]):
        fail(f"With {where} you transformed the coordinates where mask is 1: b = 1 marks the kept coordinates, "
             "which go into the networks; b = 0 the transformed ones.")
    if not _close(y[:, ~free], x[:, ~free]):
        fail(f"With {where} the kept coordinates (where mask is 1) changed: they must pass through unchanged, y = x "
             "there (multiply the transformed part by 1 - mask, t included).")
    candidates = [
        (x * np.exp(-s) + t, "The transformed coordinates should be x * exp(s) + t; you used exp(-s), which is the "
                             "inverse's."),
        ((x + t) * np.exp(s), "Scale first, then translate: x * exp(s) + t, not (x + t) * exp(s)."),
        (x * s + t, "Multiply by exp(s), not by s: the scale network outputs a log-scale, so that exp(s) > 0 and "
                    "the layer is invertible."),
    ]
    s_all, t_all = scale_fn(x) * (1 - mask), translation_fn(x) * (1 - mask)
    candidates.append((x * np.exp(s_all) + t_all, "Feed `x * mask` (the kept coordinates only) to `scale_fn` and "
                                                  "`translation_fn`, not all of `x`: otherwise the layer cannot be "
                                                  "inverted."))
    for value, message in candidates:
        if _close(y[:, free], value[:, free]):
            fail(f"With {where}: {message}")


def _test_coupling_forward(f):
    rng = new_rng()
    for x, mask, scale_fn, translation_fn, where in _problems(rng):
        n, d = x.shape
        y, log_det = _pair(f(x, mask, scale_fn, translation_fn), "coupling_forward", "y, log_det")
        y = expect_shape(y, (n, d), f"y for x of shape {(n, d)} ({where})")
        expect_finite(y, "y")
        y_ref, ld_ref = _forward(x, mask, scale_fn, translation_fn)
        if not _close(y, y_ref):
            _forward_y_diagnosis(y, x, mask, scale_fn, translation_fn, where)
            expect_close(y, y_ref, f"y ({where})", hint="y = mask * x + (1 - mask) * (x * exp(s) + t), with s, t "
                                                        "from x * mask.")
        log_det = as_array(log_det, "log_det")
        if log_det.shape == (n, d):
            fail(f"`log_det` has shape {(n, d)}: sum over the coordinates, one number per example, shape ({n},).")
        if log_det.shape == (d,):
            fail(f"`log_det` has shape ({d},): you summed over the examples (axis 0); sum over the coordinates "
                 f"(axis 1), one number per example, shape ({n},).")
        log_det = expect_shape(log_det, (n,), "log_det")
        expect_finite(log_det, "log_det")
        if _close(log_det, ld_ref):
            continue
        s, _ = _s_t(x, mask, scale_fn, translation_fn)
        candidates = [
            (-ld_ref, "`log_det` has the wrong sign: the forward pass multiplies by exp(s), so log|det| = +sum(s)."),
            (scale_fn(x * mask).sum(axis=1), "Sum s over the transformed coordinates only (where mask is 0): the "
                                             "kept ones are not scaled."),
            (np.exp(s).sum(axis=1) - mask.sum(), "`log_det` is the sum of the scales s themselves (they are already "
                                                 "logarithms), not of exp(s)."),
            (np.exp(s).sum(axis=1), "`log_det` is the sum of the scales s themselves (they are already logarithms), "
                                    "not of exp(s)."),
            (s.mean(axis=1), "`log_det` is the sum of s over the coordinates, not their mean."),
            (s[:, mask == 0].mean(axis=1), "`log_det` is the sum of s over the transformed coordinates, not their "
                                           "mean."),
        ]
        for value, message in candidates:
            if _close(log_det, value):
                fail(f"With {where}: {message}")
        expect_close(log_det, ld_ref, f"log_det ({where})", hint="log|det dy/dx| = sum of s over the transformed "
                                                                 "coordinates.")


def _test_coupling_inverse(f):
    rng = new_rng()
    for x, mask, scale_fn, translation_fn, where in _problems(rng):
        n, d = x.shape
        y, _ = _forward(x, mask, scale_fn, translation_fn)
        x_back = f(y, mask, scale_fn, translation_fn)
        if isinstance(x_back, (tuple, list)) and len(x_back) == 2 and np.shape(x_back[0]) == (n, d):
            x_back = x_back[0]  # a (x, log_det) pair is fine too
        x_back = expect_shape(x_back, (n, d), f"coupling_inverse(y, ...) for y of shape {(n, d)} ({where})")
        expect_finite(x_back, "your inverse")
        # (y - t) * exp(-s) cancels digits: in float32 its error grows with |y|. Wrong inverses are off by far more.
        atol = 2e-6 * max(1.0, float(np.abs(y).max()))
        if _close(x_back, x, atol):
            continue
        free = mask == 0
        for other in _fixed_halves(x, mask):
            s_o, t_o = _s_t(y, other, scale_fn, translation_fn)
            if _close(x_back, y * other + (1 - other) * ((y - t_o) * np.exp(-s_o))):
                fail(f"With {where} your inverse kept other coordinates than the mask says: use `mask` (b = 1: kept), "
                     "not a fixed split such as y[:, :d // 2].")
        if not _close(x_back[:, ~free], x[:, ~free]):
            fail(f"With {where} the kept coordinates (where mask is 1) changed: they pass through unchanged, x = y "
                 "there.")
        s, t = _s_t(y, mask, scale_fn, translation_fn)
        s_all, t_all = scale_fn(y) * (1 - mask), translation_fn(y) * (1 - mask)
        candidates = [
            (y, "Your inverse returned y unchanged: undo the transformation, x = (y - t) * exp(-s) where mask is 0."),
            (y * np.exp(s) + t, "You applied the forward pass y * exp(s) + t again; the inverse undoes it: "
                                "x = (y - t) * exp(-s)."),
            ((y - t) * np.exp(s), "Undo the scaling with exp(-s): x = (y - t) * exp(-s) on the transformed "
                                  "coordinates."),
            (y * np.exp(-s) - t, "Undo the steps in reverse order: subtract t first, then divide by exp(s): "
                                 "(y - t) * exp(-s)."),
            ((y - t) / np.where(s == 0, 1.0, s), "Divide by exp(s), not by s: x = (y - t) * exp(-s)."),
            ((y - t_all) * np.exp(-s_all), "Feed `y * mask` to `scale_fn` and `translation_fn`: the kept coordinates "
                                           "are the same in x and y, so they give back the very s and t of the "
                                           "forward pass."),
        ]
        for value, message in candidates:
            if _close(x_back[:, free], value[:, free]):
                fail(f"With {where}: {message}")
        expect_close(x_back, x, f"coupling_inverse(coupling_forward(x)) ({where})", atol=atol,
                     hint="It should give back x.")


def _test_flow_nll(f):
    rng = new_rng()
    for d in (2, int(rng.integers(3, 10))):
        n = int(rng.integers(12, 50))
        z = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0)
        z[0, 0], z[1, -1] = 40.0, -40.0  # far in the tails: a density computed first underflows to 0 there
        log_det = rng.normal(size=n) * 3 + rng.uniform(-5, 5)
        log_pz = -0.5 * (z**2 + LOG_2PI).sum(axis=1)
        ref = -np.mean(log_pz + log_det)
        dtype = "float32" if d == 2 else "float64"  # both precisions, every run
        out = as_array(f(z.astype(dtype), log_det.astype(dtype)), "flow_nll(z, log_det)")
        what = f"flow_nll(z, log_det) for z of shape {(n, d)}"
        if out.shape == (n,):
            fail(f"`flow_nll` returned one value per example, shape ({n},): return their mean, a single number.")
        out = float(expect_shape(out, (), what))
        if not np.isfinite(out):
            fail(f"{what} is {out}: with entries of z 40 standard deviations out, the density exp(-z^2/2) is 0 in "
                 "floating point. Compute log N(z; 0, I) = -1/2 sum(z^2 + log 2 pi) directly, not the log of the "
                 "density.")
        if np.isclose(out, ref, rtol=1e-5, atol=1e-5):
            continue
        sq = (z**2).sum(axis=1)
        candidates = [
            (-np.mean(log_pz - log_det), "The log-determinant adds to log p(x): NLL = -mean(log N(z; 0, I) + log_det), "
                                         "so subtract log_det."),
            (-ref, "You returned the log-likelihood; the NLL is its negative."),
            (ref - 0.5 * d * LOG_2PI, "The normalising term 1/2 log(2 pi) per coordinate is missing from "
                                      "log N(z; 0, I)."),
            (ref - 0.5 * (d - 1) * LOG_2PI, f"The normalising term is 1/2 log(2 pi) per coordinate, d/2 log(2 pi) "
                                            f"in all (here d = {d}); you added it once."),
            (ref - 0.5 * (d - 2) * LOG_2PI, f"The normalising term is d/2 log(2 pi) with d = {d} here: do not "
                                            "assume d = 2."),
            (-np.sum(log_pz + log_det), "You summed over the examples: return the mean NLL per example."),
            (ref / d, "You divided by the dimension d: return nats per example (bits/dim comes later, from this)."),
            (ref + 0.5 * np.mean(sq), "Each coordinate contributes z^2 / 2 (the variance is 1): you used z^2."),
            (-np.mean(-0.5 * (z**2 + LOG_2PI).mean(axis=1) + log_det), "Sum log N over the d coordinates of each "
                                                                       "example, do not average them."),
            (-np.mean(-0.5 * np.sum(sq) - 0.5 * d * LOG_2PI + log_det), "Sum z^2 over the coordinates of each "
                                                                        "example (axis=1), not over the whole batch."),
        ]
        for value, message in candidates:
            if np.isclose(out, value, rtol=1e-5, atol=1e-5):
                fail(message)
        expect_close(out, ref, what, rtol=1e-5, atol=1e-5,
                     hint="NLL = mean over examples of 1/2 sum(z^2 + log 2 pi) - log_det.")


check_coupling_forward = make_check("coupling_forward", _test_coupling_forward)
check_coupling_inverse = make_check("coupling_inverse", _test_coupling_inverse)
check_flow_nll = make_check("flow_nll", _test_flow_nll, points=2)


# ----------------------------------------------------------------------------- bits/dim on the 8-bit scale


def _logit_parts(pixels, noise, alpha):
    """p, and log|det dv/du| per image, for u = (k + noise)/256 and v = logit(alpha + (1 - 2 alpha) u)."""
    p = alpha + (1 - 2 * alpha) * (pixels + noise) / 256
    axes = tuple(range(1, pixels.ndim))
    return p, np.sum(np.log(1 - 2 * alpha) - np.log(p) - np.log1p(-p), axis=axes)


def _image_bpd(log_p_v, pixels, noise, alpha):
    d = int(np.prod(pixels.shape[1:]))
    _, log_dv_du = _logit_parts(pixels, noise, alpha)
    return (-(log_p_v + log_dv_du) + d * np.log(256)) / (d * np.log(2))


def _bpd_problems(rng):
    """Vectors and image batches, alpha = 0.05 and 1e-6, pixels 0 and 255, noise near 0 and near 1: every run."""
    out = []
    for shape, alpha, dtype in (((int(rng.integers(5, 12)), int(rng.integers(6, 20))), 0.05, "float64"),
                                ((int(rng.integers(5, 12)), 6, 5, 1), 1e-6, "float32"),
                                ((int(rng.integers(5, 12)), 4, 6, 1), 0.05, "float64")):
        pixels = rng.integers(0, 256, size=shape).astype("float64")
        pixels.reshape(shape[0], -1)[:, 0] = 0.0
        pixels.reshape(shape[0], -1)[:, -1] = 255.0
        noise = rng.uniform(size=shape)
        noise.reshape(shape[0], -1)[0, :2] = (1e-4, 0.9999)
        log_p_v = rng.normal(size=shape[0]) * 20 - 5 * np.prod(shape[1:])
        out.append((log_p_v, pixels, noise, alpha, dtype))
    return out


def _test_image_bpd(f):
    rng = new_rng()
    for log_p_v, pixels, noise, alpha, dtype in _bpd_problems(rng):
        n, d = len(pixels), int(np.prod(pixels.shape[1:]))
        what = f"image_bpd for pixels of shape {pixels.shape} (alpha = {alpha:g})"
        out = as_array(f(log_p_v.astype(dtype), pixels.astype(dtype), noise.astype(dtype), alpha), what)
        if out.shape == ():
            fail(f"{what} returned one number: return bits/dim for each image, shape ({n},).")
        out = expect_shape(out, (n,), what)
        if not np.all(np.isfinite(out)):
            fail(f"{what} contains NaN or infinity: u = (k + noise)/256 must stay inside (0, 1) for every k from 0 "
                 "to 255 and noise in [0, 1) (divide by 256, not 255), and take logs of p and 1 - p, never of 0.")
        ref = _image_bpd(*(a.astype(dtype).astype("float64") for a in (log_p_v, pixels, noise)), alpha)
        # float32 arithmetic loses digits in 1 - p next to 1 (p within about 1e-6 of 1 for alpha = 1e-6): a correct
        # float32 answer was measured 1.2e-4 (relative) off the float64 value; every mistake below is larger.
        tol = {"rtol": 1e-4, "atol": 1e-4} if np.dtype(dtype) == np.float64 else {"rtol": 1e-3, "atol": 1e-3}
        if np.allclose(out, ref, **tol):
            continue
        ln2, axes = np.log(2), tuple(range(1, pixels.ndim))
        _, jac = _logit_parts(pixels, noise, alpha)
        p_plain = alpha + (1 - 2 * alpha) * pixels / 256
        jac_no_noise = np.sum(np.log(1 - 2 * alpha) - np.log(p_plain) - np.log1p(-p_plain), axis=axes)
        p_255 = np.clip(alpha + (1 - 2 * alpha) * (pixels + noise) / 255, 1e-12, 1 - 1e-12)
        jac_255 = np.sum(np.log(1 - 2 * alpha) - np.log(p_255) - np.log1p(-p_255), axis=axes)
        last = pixels.shape[-1]
        candidates = [
            (ref - 8, "The change to the 8-bit scale is missing: add d log 256 nats (8 bits per dimension) for "
                      "u = (k + noise)/256."),
            (ref * ln2, "That is nats per dimension: divide by d ln 2, not by d."),
            (ref * d / last, f"d is the number of dimensions per image, {d} here (all axes but the first), "
                             f"not the size of the last axis ({last})."),
            (ref * d, "That is bits per image: divide by the number of dimensions d too."),
            ((-(log_p_v - jac) + d * np.log(256)) / (d * ln2), "The logit transform's log-determinant has the "
                                                                "wrong sign: log p(u) = log p(v) + log|dv/du|."),
            ((-log_p_v + d * np.log(256)) / (d * ln2), "The logit transform's log-determinant log|dv/du| is "
                                                        "missing: the flow models v, the bound is on u."),
            (ref + np.log(1 - 2 * alpha) / ln2, "The factor (1 - 2 alpha) of p = alpha + (1 - 2 alpha) u belongs "
                                                 "to dv/du: add log(1 - 2 alpha) per dimension."),
            ((-(log_p_v + jac_no_noise) + d * np.log(256)) / (d * ln2), "Use the dequantized u = (k + noise)/256: "
                                                                        "the noise is part of u."),
            ((-(log_p_v + jac_255) + d * np.log(256)) / (d * ln2), "Divide by 256, not 255: u = (k + noise)/256 "
                                                                   "puts each integer in its own cell of width 1/256."),
            ((-(log_p_v + jac) + d * 8) / (d * ln2), "d log 256 is in nats (d ln 256), not 8 d: convert "
                                                      "everything to bits at the end."),
        ]
        for value, message in candidates:
            if np.allclose(out, value, **tol):
                fail(f"{what}: {message}")
        expect_close(out, ref, what, hint="bits/dim = (-(log p(v) + log|dv/du|) + d ln 256) / (d ln 2).", **tol)


# ----------------------------------------------------------------------------- squeeze / unsqueeze


def _squeeze(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // 2, w // 2, 4 * c)


def _unsqueeze(y):
    n, h, w, c4 = y.shape
    return y.reshape(n, h, w, 2, 2, c4 // 4).transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, c4 // 4)


def _squeeze_problems(rng):
    """Distinct values (so any misplaced value shows), h != w, c = 1 and c = 3, float32 and float64: every run."""
    out = []
    for c, dtype in ((1, "float32"), (3, "float64")):
        n, h, w = int(rng.integers(2, 4)), 2 * int(rng.integers(2, 4)), 2 * int(rng.integers(4, 6))
        out.append(rng.permutation(n * h * w * c).reshape(n, h, w, c).astype(dtype))
    return out


def _block_sets(x):
    """For an (n, h, w, c) array, the set of values in each 2 x 2 block of pixels, all channels."""
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(n, h // 2, w // 2, -1)
    return np.sort(blocks, axis=-1)


def _test_squeeze(f):
    rng = new_rng()
    for x in _squeeze_problems(rng):
        n, h, w, c = x.shape
        what = f"squeeze(x) for x of shape {x.shape}"
        out = expect_shape(f(x.copy()), (n, h // 2, w // 2, 4 * c), what)
        ref = _squeeze(x.astype("float64"))
        if np.array_equal(out, ref):
            continue
        if not np.array_equal(np.sort(out.ravel()), np.sort(x.ravel().astype("float64"))):
            fail(f"{what}: some values of x are missing or repeated; squeeze only rearranges them.")
        if not np.array_equal(np.sort(out, axis=-1), _block_sets(x.astype("float64"))):
            fail(f"{what}: the 4c channels at position (i, j) must be the 2 x 2 block of neighbouring pixels "
                 "x[2i:2i+2, 2j:2j+2] (all channels); a plain reshape takes pixels that are not neighbours. "
                 "Reshape to (n, h/2, 2, w/2, 2, c) and move the two 2s next to the channels.")
        fail(f"{what}: the right pixels, in the wrong order of channels. Order them (row in the block, column in "
             "the block, channel), as the chapter's squeeze: out[:, i, j, (2a + b) c + k] = x[:, 2i + a, 2j + b, k].")


def _test_unsqueeze(f):
    rng = new_rng()
    for x in _squeeze_problems(rng):
        n, h, w, c = x.shape
        y = _squeeze(x.astype("float64")).astype(x.dtype)
        what = f"unsqueeze(y) for y of shape {y.shape}"
        out = expect_shape(f(y.copy()), (n, h, w, c), what)
        if np.array_equal(out, x.astype("float64")):
            continue
        if not np.array_equal(np.sort(out.ravel()), np.sort(x.ravel().astype("float64"))):
            fail(f"{what}: some values are missing or repeated; unsqueeze only rearranges them.")
        if not np.array_equal(_block_sets(out), _block_sets(x.astype("float64"))):
            fail(f"{what}: the 4c channels at (i, j) must go back to the 2 x 2 block of neighbouring pixels "
                 "out[2i:2i+2, 2j:2j+2]; a plain reshape scatters them.")
        fail(f"{what}: unsqueeze(squeeze(x)) does not give x back: the pixels of each block are in the wrong "
             "places. Undo squeeze's steps in reverse order (reshape to (n, h, w, 2, 2, c), the same transpose, "
             "reshape).")


check_image_bpd = make_check("image_bpd", _test_image_bpd)
check_squeeze = make_check("squeeze", _test_squeeze)
check_unsqueeze = make_check("unsqueeze", _test_unsqueeze)
