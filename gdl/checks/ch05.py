"""Checks for the Chapter 5 exercises (``exercises/05_flows.ipynb``).

- ``check_coupling_forward(f)``: ``f(x, mask, scale_fn, translation_fn)`` returns ``(y, log_det)`` of an
  affine coupling layer, y = b*x + (1-b)*(x*exp(s) + t) with s, t computed from b*x, and
  log_det = sum of s over the transformed coordinates, one number per example.
- ``check_coupling_inverse(f)``: ``f(y, mask, scale_fn, translation_fn)`` returns the x that the forward
  pass maps to y.
- ``check_flow_nll(f)``: ``f(z, log_det)`` returns the mean negative log-likelihood in nats per example,
  -mean(log N(z; 0, I) + log_det).
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check

LOG_2PI = np.log(2 * np.pi)


def _problem(rng):
    """Random inputs: x (n, d), a mask with kept and transformed coordinates, and two conditioner networks."""
    n, d = int(rng.integers(5, 30)), int(rng.integers(3, 8))
    mask = np.zeros(d)
    mask[rng.permutation(d)[: int(rng.integers(1, d))]] = 1.0  # at least one kept and one transformed
    w_s, w_t = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    b_s, b_t = rng.normal(size=d), rng.normal(size=d)

    def scale_fn(h):  # like the chapter's scale network: tanh-bounded; depends on every input it is given
        return 1.5 * np.tanh(np.asarray(h, dtype="float64") @ w_s + b_s)

    def translation_fn(h):
        return np.asarray(h, dtype="float64") @ w_t + b_t

    x = rng.normal(size=(n, d)) * 1.5
    return x, mask, scale_fn, translation_fn


def _forward(x, mask, scale_fn, translation_fn):
    s = scale_fn(x * mask) * (1 - mask)
    t = translation_fn(x * mask) * (1 - mask)
    return x * mask + (1 - mask) * (x * np.exp(s) + t), s.sum(axis=1)


def _inverse(y, mask, scale_fn, translation_fn):
    s = scale_fn(y * mask) * (1 - mask)
    t = translation_fn(y * mask) * (1 - mask)
    return y * mask + (1 - mask) * ((y - t) * np.exp(-s))


def _pair(out, what, names):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"`{what}` should return a pair ({names}), got {type(out).__name__}.")
    return out


def _test_coupling_forward(f):
    rng = np.random.default_rng()
    x, mask, scale_fn, translation_fn = _problem(rng)
    n, d = x.shape
    x_before = x.copy()
    y, log_det = _pair(f(x, mask, scale_fn, translation_fn), "coupling_forward", "y, log_det")
    if not np.array_equal(x, x_before):
        fail("`coupling_forward` changed its input `x`; compute y without modifying x.")
    y = expect_shape(y, (n, d), f"y for x of shape {(n, d)}")
    expect_finite(y, "y")
    y_ref, ld_ref = _forward(x, mask, scale_fn, translation_fn)
    kept = mask == 1
    if not np.allclose(y[:, kept], x[:, kept], rtol=1e-5, atol=1e-6):
        fail("The kept coordinates (where mask is 1) must pass through unchanged: y = x there.")
    s = scale_fn(x * mask) * (1 - mask)
    t = translation_fn(x * mask) * (1 - mask)
    free = ~kept
    if not np.allclose(y, y_ref, rtol=1e-5, atol=1e-6):
        if np.allclose(y[:, free], (x * np.exp(-s) + t)[:, free], rtol=1e-5, atol=1e-6):
            fail("The transformed coordinates should be x * exp(s) + t; you used exp(-s), which is the inverse's.")
        if np.allclose(y[:, free], ((x + t) * np.exp(s))[:, free], rtol=1e-5, atol=1e-6):
            fail("Scale first, then translate: x * exp(s) + t, not (x + t) * exp(s).")
        s_all = scale_fn(x) * (1 - mask)
        t_all = translation_fn(x) * (1 - mask)
        if np.allclose(y[:, free], (x * np.exp(s_all) + t_all)[:, free], rtol=1e-5, atol=1e-6):
            fail("Feed `x * mask` (the kept coordinates only) to `scale_fn` and `translation_fn`, not all of `x`: "
                 "otherwise the layer cannot be inverted.")
        expect_close(y, y_ref, "y", hint="y = mask * x + (1 - mask) * (x * exp(s) + t), with s, t from x * mask.")
    log_det = as_array(log_det, "log_det")
    if log_det.shape == (n, d):
        fail(f"`log_det` has shape {(n, d)}: sum over the coordinates, one number per example, shape ({n},).")
    log_det = expect_shape(log_det, (n,), "log_det")
    if np.allclose(log_det, -ld_ref, rtol=1e-5, atol=1e-6):
        fail("`log_det` has the wrong sign: the forward pass multiplies by exp(s), so log|det| = +sum(s).")
    s_unmasked = scale_fn(x * mask).sum(axis=1)
    if np.allclose(log_det, s_unmasked, rtol=1e-5, atol=1e-6):
        fail("Sum s over the transformed coordinates only (where mask is 0): the kept ones are not scaled.")
    if np.allclose(log_det, np.exp(s).sum(axis=1) - mask.sum(), rtol=1e-5, atol=1e-6) or np.allclose(
            log_det, np.exp(s).sum(axis=1), rtol=1e-5, atol=1e-6):
        fail("`log_det` is the sum of the scales s themselves (they are already logarithms), not of exp(s).")
    expect_close(log_det, ld_ref, "log_det", hint="log|det dy/dx| = sum of s over the transformed coordinates.")


def _test_coupling_inverse(f):
    rng = np.random.default_rng()
    x, mask, scale_fn, translation_fn = _problem(rng)
    n, d = x.shape
    y, _ = _forward(x, mask, scale_fn, translation_fn)
    x_back = f(y, mask, scale_fn, translation_fn)
    if isinstance(x_back, (tuple, list)) and len(x_back) == 2 and np.shape(x_back[0]) == (n, d):
        x_back = x_back[0]  # a (x, log_det) pair is fine too
    x_back = expect_shape(x_back, (n, d), f"coupling_inverse(y, ...) for y of shape {(n, d)}")
    expect_finite(x_back, "your inverse")
    if np.allclose(x_back, x, rtol=1e-5, atol=1e-6):
        return "Well done: your inverse undoes the forward pass."
    s = scale_fn(y * mask) * (1 - mask)
    t = translation_fn(y * mask) * (1 - mask)
    free = mask == 0
    if not np.allclose(x_back[:, ~free], x[:, ~free], rtol=1e-5, atol=1e-6):
        fail("The kept coordinates (where mask is 1) must pass through unchanged: x = y there.")
    if np.allclose(x_back[:, free], (y * np.exp(s) + t)[:, free], rtol=1e-5, atol=1e-6):
        fail("You applied the forward pass y * exp(s) + t again; the inverse undoes it: x = (y - t) * exp(-s).")
    if np.allclose(x_back[:, free], ((y - t) * np.exp(s))[:, free], rtol=1e-5, atol=1e-6):
        fail("Undo the scaling with exp(-s): x = (y - t) * exp(-s) on the transformed coordinates.")
    if np.allclose(x_back[:, free], (y * np.exp(-s) - t)[:, free], rtol=1e-5, atol=1e-6):
        fail("Undo the steps in reverse order: subtract t first, then divide by exp(s): (y - t) * exp(-s).")
    s_all = scale_fn(y) * (1 - mask)
    t_all = translation_fn(y) * (1 - mask)
    if np.allclose(x_back[:, free], ((y - t_all) * np.exp(-s_all))[:, free], rtol=1e-5, atol=1e-6):
        fail("Feed `y * mask` to `scale_fn` and `translation_fn`: the kept coordinates are the same in x and y, "
             "so they give back the very s and t of the forward pass.")
    expect_close(x_back, x, "coupling_inverse(coupling_forward(x))", hint="It should give back x.")


def _test_flow_nll(f):
    rng = np.random.default_rng()
    n, d = int(rng.integers(5, 50)), int(rng.integers(2, 10))
    z = rng.normal(size=(n, d)) * rng.uniform(0.5, 2.0)
    log_det = rng.normal(size=n) * 3 + rng.uniform(-5, 5)
    log_pz = -0.5 * (z**2 + LOG_2PI).sum(axis=1)
    ref = -np.mean(log_pz + log_det)
    out = as_array(f(z, log_det), "flow_nll(z, log_det)")
    if out.shape == (n,):
        fail(f"`flow_nll` returned one value per example, shape ({n},): return their mean, a single number.")
    out = expect_shape(out, (), "flow_nll(z, log_det)")
    expect_finite(out, "flow_nll(z, log_det)")
    if np.isclose(out, ref, rtol=1e-5, atol=1e-6):
        return None
    if np.isclose(out, -np.mean(log_pz - log_det), rtol=1e-5, atol=1e-6):
        fail("The log-determinant adds to log p(x): NLL = -mean(log N(z; 0, I) + log_det), so subtract log_det.")
    if np.isclose(out, -ref, rtol=1e-5, atol=1e-6):
        fail("You returned the log-likelihood; the NLL is its negative.")
    if np.isclose(out, ref - 0.5 * d * LOG_2PI, rtol=1e-5, atol=1e-6):
        fail("The normalising term 1/2 log(2 pi) per coordinate is missing from log N(z; 0, I).")
    if np.isclose(out, -np.sum(log_pz + log_det), rtol=1e-5, atol=1e-6):
        fail("You summed over the examples: return the mean NLL per example.")
    if np.isclose(out, ref / d, rtol=1e-5, atol=1e-6):
        fail("You divided by the dimension d: return nats per example (bits/dim comes later, from this).")
    hint = "NLL = mean over examples of 1/2 sum(z^2 + log 2 pi) - log_det."
    expect_close(out, ref, "flow_nll(z, log_det)", hint=hint)


check_coupling_forward = make_check("coupling_forward", _test_coupling_forward)
check_coupling_inverse = make_check("coupling_inverse", _test_coupling_inverse)
check_flow_nll = make_check("flow_nll", _test_flow_nll)
