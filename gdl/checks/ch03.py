"""Checks for the Chapter 3 exercises (``exercises/03_vae.ipynb``).

- ``check_reparameterize(f)``: ``f(z_mean, z_log_var)`` returns z = z_mean + exp(z_log_var / 2) * eps,
  eps ~ N(0, I) independent across rows and coordinates, fresh on every call, also inside a ``tf.function``
  whose batch size is unknown (as the notebook's compiled training step calls it), differentiable in both inputs.
- ``check_kl_divergence(f)``: ``f(z_mean, z_log_var)`` returns KL(N(z_mean, exp(z_log_var)) || N(0, I)) per
  example, summed over the latent dimensions (shape (n,)), and runs and differentiates inside a ``tf.function``.
- ``check_negative_elbo(f)``: ``f(x, x_logits, z_mean, z_log_var)`` returns each example's reconstruction
  (binary cross-entropy from logits, summed over pixels, right for logits of +-40 and +-100 too) plus KL,
  shape (n,), and runs and differentiates inside a ``tf.function``.
- ``check_iw_log_likelihood(f)``: ``f(x, z_mean, z_log_var, decoder, eps)`` returns the importance-weighted
  estimate log (1/K) sum_i p(x | z^(i)) p(z^(i)) / q(z^(i) | x) per example, with the codes made from the
  given eps (K, n, d_z); K = 1 and several, log-weights below -700 nats and logits of +-40.
- ``check_sample_prior(f)``: ``f(decoder, n, latent_dim)`` draws z ~ N(0, I) of shape (n, latent_dim), independent
  across rows and coordinates and fresh on every call, and returns sigmoid(decoder(z)).

Every run tries two latent sizes (and two image sizes), so that no size typed into the code passes.
"""


import numpy as np

from gdl.checks import (
    as_array,
    compiled_errors,
    expect_close,
    expect_finite,
    expect_standard_normal,
    fail,
    first_match,
    make_check,
    new_rng,
)

_KERAS_OPS = ("write it with keras.ops (and keras.random), not NumPy, and take shapes with ops.shape(...), not "
              ".shape (the batch size is unknown there), so that the compiled training step can run and "
              "differentiate it")


def _kl(z_mean, z_log_var):
    z_mean, z_log_var = np.asarray(z_mean, "float64"), np.asarray(z_log_var, "float64")
    return 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=-1)


def _softplus(a):
    return np.logaddexp(0, a)


def _bce_logits(x, logits):
    x, logits = np.asarray(x, "float64"), np.asarray(logits, "float64")
    return np.sum(_softplus(logits) - x * logits, axis=-1)


def _per_example(value, n, what):
    arr = as_array(value, what)
    if arr.shape == (n,):
        return arr
    if arr.shape == ():
        fail(f"{what} is a single number: return one value per example, shape ({n},), not the batch's mean or sum.")
    if arr.shape == (n, 1):
        fail(f"{what} has shape (n, 1) = {arr.shape}: return shape ({n},) (no keepdims).")
    fail(f"{what} has shape {arr.shape}, expected ({n},): reduce over each example's dimensions (the last axis), "
         "not over the examples.")


def _compiled(f, name, args, watch, calls=1):
    """Call ``f`` ``calls`` times through one ``tf.function`` whose inputs have an unknown batch size, as the
    notebook's training step does; return, for each call, its output and the gradients of ``sum(output)`` with
    respect to the arguments listed in ``watch`` (zeros where no gradient flows)."""
    import tensorflow as tf

    specs = [tf.TensorSpec((None,) + a.shape[1:], tf.float32) for a in args]

    @tf.function(input_signature=specs)
    def step(*tensors):
        with tf.GradientTape() as tape:
            for i in watch:
                tape.watch(tensors[i])
            out = f(*tensors)
            total = tf.reduce_sum(tf.cast(out, tf.float32))
        grads = tape.gradient(total, [tensors[i] for i in watch], unconnected_gradients="zero")
        return out, grads

    results = []
    for _ in range(calls):
        where = "a compiled training step (a tf.function, as the notebook's training cell runs it)"
        with compiled_errors(f, name, where, f"{_KERAS_OPS[0].upper()}{_KERAS_OPS[1:]}."):
            out, grads = step(*[tf.constant(a, tf.float32) for a in args])
        results.append((np.asarray(out, dtype="float64"), [np.asarray(g, dtype="float64") for g in grads]))
    return results if calls > 1 else results[0]


def _expect_gradient(grad, expected, name, wrt):
    if np.all(grad == 0) and np.any(expected != 0):
        fail(f"No gradient reaches `{wrt}` through your `{name}` inside the compiled training step: {_KERAS_OPS} "
             "(NumPy values, .numpy() or stop_gradient cut the gradient).")
    expect_close(grad, expected, f"the gradient of sum({name}(...)) with respect to {wrt}", rtol=1e-3, atol=1e-4)


# ----------------------------------------------------------------------------- reparameterize


def _expect_not_antithetic(eps, what):
    """Fail when the second half of the rows of ``eps`` (n, d) mirrors the first (antithetic noise: eps, then
    -eps), in either order. For independent rows each correlation is about N(0, 1 / (n d / 2)), and n d / 2 is
    at least 8,000 here: 0.1 is 9 standard errors."""
    h = len(eps) // 2
    first, second = eps[:h].ravel(), eps[h:2 * h].ravel()
    for other in (second, eps[h:2 * h][::-1].ravel()):
        if np.corrcoef(first, other)[0, 1] < -0.1:
            fail(f"the second half of your {what} mirrors the first (antithetic noise, -eps for half the rows): the "
                 f"rows are not independent. Draw independent noise for every row, of the full shape.")


def _test_reparameterize_once(f, rng, n, d):
    z_mean = rng.uniform(-3, 3, size=(n, d)).astype("float32")
    # log-variances away from 0, so that sigma, sigma^2 and log sigma^2 are all different
    z_log_var = (rng.choice([-1, 1], size=(n, d)) * rng.uniform(1.0, 2.0, size=(n, d))).astype("float32")
    call = f"reparameterize(z_mean, z_log_var) for inputs of shape {(n, d)}"
    z = as_array(f(z_mean, z_log_var), call)
    if z.shape != (n, d):
        fail(f"{call} has shape {z.shape}, expected {(n, d)}: one z of the shape of z_mean.")
    expect_finite(z, call)
    m, lv = z_mean.astype("float64"), z_log_var.astype("float64")
    sigma = np.exp(0.5 * lv)
    noise = z - m
    if np.all(np.abs(noise) < 1e-6):
        fail("your z has no noise: add exp(z_log_var / 2) * eps with eps ~ N(0, I).")
    if np.all(np.ptp(noise / sigma, axis=0) < 1e-3):
        fail("every row of your z got the same eps: draw eps of the full shape of z_mean, "
             "keras.random.normal(ops.shape(z_mean)), not one per batch.")
    eps = noise / sigma
    std = eps.std(axis=0)
    if np.all(np.abs((z / sigma).std(axis=0) - 1) < 0.05) and np.all(np.abs((z / sigma).mean(axis=0)) < 0.1):
        fail("your z is not centred on z_mean (it is centred on 0): z = z_mean + exp(0.5 * z_log_var) * eps.")
    def scaled_by(scale):
        """True when noise / scale has unit spread where z_log_var > 0 AND where it is < 0 (a wrong scale gives a
        spread that changes with z_log_var; noise of the wrong law does not fit both)."""
        r = noise / scale
        return all(abs(r[mask].std() - 1) < 0.05 for mask in (lv > 0, lv < 0))

    if np.any(np.abs(std - 1) > 0.05):
        if scaled_by(np.exp(lv)):
            fail("the spread of your z is exp(z_log_var) = sigma^2, the variance: the standard deviation is "
                 "exp(0.5 * z_log_var).")
        if scaled_by(np.abs(lv)):
            fail("you scaled eps by z_log_var itself: the standard deviation is exp(0.5 * z_log_var).")
        if scaled_by(np.exp(0.25 * lv)):
            fail("you scaled eps by exp(0.25 * z_log_var) = sqrt(sigma): the standard deviation is "
                 "exp(0.5 * z_log_var).")
        j = int(np.argmax(np.abs(std - 1)))
        fail(f"in dimension {j} your (z - z_mean) / exp(0.5 * z_log_var) has standard deviation {std[j]:.3f}, "
             "expected 1: z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, I).")
    if np.any(np.abs(eps.mean(axis=0)) > 6 / np.sqrt(n)):
        fail(f"your z is not centred on z_mean (the mean of (z - z_mean) / sigma is {np.round(eps.mean(0), 3)}): "
             "z = z_mean + exp(0.5 * z_log_var) * eps.")
    tails = np.mean(np.abs(eps) > 2)
    if abs(tails - 0.0455) > 0.008:
        fail(f"{tails:.1%} of your eps lie beyond 2 standard deviations; for N(0, 1) it is 4.6%: draw eps from a "
             "Gaussian (keras.random.normal), not another distribution with the same variance.")
    corr = np.corrcoef(eps, rowvar=False)
    if np.max(np.abs(corr - np.eye(d))) > 0.05:
        fail("the noise of different coordinates of z is correlated: draw an independent eps for every element "
             "(shape of z_mean), not one per row shared by its coordinates.")
    if abs(np.corrcoef(eps[::2].ravel(), eps[1::2].ravel())[0, 1]) > 0.05:
        fail("the noise of different rows of z is correlated: draw an independent eps for every element.")
    _expect_not_antithetic(eps, "eps")
    expect_standard_normal(eps, "your eps = (z - z_mean) / exp(0.5 * z_log_var)",
                           "Draw eps from N(0, I), keras.random.normal(ops.shape(z_mean)), and use it unchanged.")
    again = as_array(f(z_mean, z_log_var), "a second call")
    if np.array_equal(z, again):
        fail("two calls gave the same z: draw fresh noise in each call (keras.random.normal without a fixed seed).")


def _test_reparameterize(f):
    rng = new_rng()
    d1, d2 = int(rng.integers(3, 6)), 2
    _test_reparameterize_once(f, rng, 20_000, d1)
    _test_reparameterize_once(f, rng, 20_000, d2)
    # inside a compiled training step: runs with an unknown batch size, fresh noise in every call, gradients
    m = rng.uniform(-3, 3, size=(6, d1)).astype("float32")
    lv = rng.uniform(-2, 2, size=(6, d1)).astype("float32")
    (z1, (g_m, g_lv)), (z2, _) = _compiled(f, "reparameterize", [m, lv], watch=[0, 1], calls=2)
    if z1.shape != m.shape:
        fail(f"inside a compiled training step your reparameterize returned shape {z1.shape}, expected {m.shape}.")
    if np.array_equal(z1, z2):
        fail("inside a compiled training step (a tf.function) two calls of your reparameterize gave the same z: the "
             "noise was fixed when TensorFlow traced the function (NumPy noise, or a seed computed in Python). Draw "
             "it with keras.random.normal(ops.shape(z_mean)), without a seed, so each training step gets fresh eps.")
    _expect_gradient(g_m, np.ones_like(z1), "reparameterize", "z_mean")
    _expect_gradient(g_lv, 0.5 * (z1 - m), "reparameterize", "z_log_var")


# ----------------------------------------------------------------------------- kl_divergence


def _latent_inputs(rng, n, d):
    z_mean = rng.normal(0, 1.5, size=(n, d))
    z_log_var = rng.uniform(-2, 2, size=(n, d))
    z_mean[0, :2], z_log_var[0, :2] = [40.0, -40.0], [-20.0, 8.0]  # far from the prior: a huge KL, still finite
    return z_mean.astype("float32"), z_log_var.astype("float32")


def _expect_finite_kl(out, call):
    if not np.all(np.isfinite(out)):
        fail(f"{call} contains NaN or infinity. z_log_var is log sigma^2, often 0 or negative: sigma^2 is "
             "exp(z_log_var); never take the log or the square root of z_log_var itself.")


def _test_kl_once(f, rng, n, d):
    zeros = np.zeros((n, d), dtype="float32")
    call = f"kl_divergence(z_mean, z_log_var) for inputs of shape {(n, d)}"
    at_prior = _per_example(f(zeros, zeros), n, call)
    _expect_finite_kl(at_prior, call)
    if np.any(np.abs(at_prior) > 1e-5):
        offset = float(at_prior[0])
        hint = " (the -1 inside the sum is missing)" if np.isclose(offset, 0.5 * d, rtol=1e-4) else ""
        fail(f"the KL is {offset:.4g} for z_mean = 0 and z_log_var = 0, where q is the prior itself: it should be 0"
             f"{hint}.")
    z_mean, z_log_var = _latent_inputs(rng, n, d)
    out = _per_example(f(z_mean, z_log_var), n, call)
    _expect_finite_kl(out, call)
    ref = _kl(z_mean, z_log_var)
    if np.allclose(out, ref, rtol=1e-4, atol=1e-4):
        return
    m, lv = z_mean.astype("float64"), z_log_var.astype("float64")
    first_match(out, [
        (0.5 * np.sum(np.exp(0.5 * lv) + m**2 - 1 - lv, axis=-1), "you used exp(0.5 * log_var) = sigma where the "
         "formula has exp(log_var) = sigma^2."),
        (-ref, "your KL is negative: a KL divergence is never negative; KL = 0.5 sum(exp(log_var) + mean^2 - 1 - "
         "log_var)."),
        (2 * ref, "your KL is twice the right value: the factor 1/2 in front of the sum is missing."),
        (ref / d, "you averaged over the latent dimensions: sum over them instead."),
        (0.5 * np.sum(np.exp(lv) + m**2 - 1 + lv, axis=-1), "the sign of log_var is wrong: the sum has "
         "- log sigma^2 = - log_var."),
        (0.5 * np.sum(np.exp(lv) + np.abs(m) - 1 - lv, axis=-1), "use mean^2, not |mean|."),
        (0.5 * np.sum(np.exp(lv) + m - 1 - lv, axis=-1), "use mean^2, not the mean itself."),
        (0.5 * np.sum(np.exp(lv) ** 2 + m**2 - 1 - 2 * lv, axis=-1), "you treated z_log_var as log sigma: it is "
         "log sigma^2, so sigma^2 = exp(log_var)."),
    ], rtol=1e-4, atol=1e-4)
    if np.any(out < -1e-6):
        fail(f"your KL is negative ({out.min():.4g}) for some inputs; a KL divergence is never negative: check the "
             "signs (KL = 0.5 sum(exp(log_var) + mean^2 - 1 - log_var)).")
    expect_close(out, ref, call, rtol=1e-4, atol=1e-4,
                 hint="KL = 0.5 * sum over dimensions of (exp(log_var) + mean^2 - 1 - log_var).")


def _test_kl_divergence(f):
    rng = new_rng()
    d1, d2 = int(rng.integers(3, 6)), 2
    _test_kl_once(f, rng, int(rng.integers(7, 12)), d1)
    _test_kl_once(f, rng, int(rng.integers(3, 7)), d2)
    m, lv = rng.normal(0, 1.5, size=(5, d1)).astype("float32"), rng.uniform(-2, 2, size=(5, d1)).astype("float32")
    out, (g_m, g_lv) = _compiled(f, "kl_divergence", [m, lv], watch=[0, 1])
    expect_close(out, _kl(m, lv), "kl_divergence inside a compiled training step", rtol=1e-4, atol=1e-4)
    _expect_gradient(g_m, m, "kl_divergence", "z_mean")
    _expect_gradient(g_lv, 0.5 * (np.exp(lv.astype("float64")) - 1), "kl_divergence", "z_log_var")


# ----------------------------------------------------------------------------- negative_elbo


def _elbo_inputs(rng, n, d_x, d_z):
    x = (rng.uniform(size=(n, d_x)) < 0.4).astype("float32")
    logits = rng.normal(0, 3, size=(n, d_x)).astype("float32")
    # large logits in the first row: right or confidently wrong pixels, where sigmoid-then-log and log(1 + exp) break
    x[0, :6] = [0, 1, 0, 1, 1, 0]
    logits[0, :6] = [40, -40, 100, -100, 100, -100]
    z_mean, z_log_var = _latent_inputs(rng, n, d_z)
    z_mean[0, :2], z_log_var[0, :2] = rng.normal(0, 1.5, 2), rng.uniform(-2, 2, 2)  # the KL stays moderate here
    return x, logits, z_mean, z_log_var


def _test_negative_elbo_once(f, rng, n, d_x, d_z):
    x, logits, z_mean, z_log_var = _elbo_inputs(rng, n, d_x, d_z)
    what = f"negative_elbo(x, x_logits, z_mean, z_log_var) for x of shape {(n, d_x)}"
    out = _per_example(f(x, logits, z_mean, z_log_var), n, what)
    rec, kl = _bce_logits(x, logits), _kl(z_mean, z_log_var)
    ref = rec + kl
    if not np.all(np.isfinite(out)):
        if np.all(np.isfinite(out[1:])):
            fail(f"{what} is infinite or NaN for large logits (|logit| = 40 or 100, in the first row): sigmoid then "
                 "log, or log(1 + exp(logit)), overflows in float32. Use the cross-entropy from logits, "
                 "ops.binary_crossentropy(x, x_logits, from_logits=True), which stays exact there.")
        expect_finite(out, what)
    if np.allclose(out, ref, rtol=1e-4, atol=1e-4):
        return
    d = x.astype("float64")
    lg = logits.astype("float64")
    candidates = [
        (-ref, "you returned the ELBO; the loss is its negative, reconstruction + KL (both positive)."),
        (rec, "the KL term is missing: the negative ELBO is reconstruction + KL."),
        (kl, "the reconstruction term is missing: the negative ELBO is reconstruction + KL."),
        (rec / d_x + kl, "you averaged the reconstruction over the pixels: sum it over each example's pixels."),
        (rec - kl, "you subtracted the KL: the negative ELBO ADDS it to the reconstruction term."),
        (np.sum(_softplus(d) - d * lg, axis=-1) + kl, "you swapped x and x_logits in the cross-entropy: the labels "
         "are the pixels x, the logits are the decoder's output."),
    ]
    for high in (1 - 1e-7, float(np.float32(1 - 1e-7))):
        p = np.clip(lg, 1e-7, high)
        candidates.append((-np.sum(d * np.log(p) + (1 - d) * np.log(1 - p), axis=-1) + kl, "you treated the logits "
                           "as probabilities: use the cross-entropy from logits (from_logits=True), or apply the "
                           "sigmoid first."))
    first_match(out, candidates, rtol=1e-3, atol=1e-3)
    if np.allclose(out[1:], ref[1:], rtol=1e-4, atol=1e-4):
        fail(f"{what} is right for moderate logits but wrong for large ones (|logit| = 40 or 100, in the first row: "
             f"{out[0]:.4g} instead of {ref[0]:.4g}): the sigmoid rounds to exactly 0 or 1 in float32 there, and "
             "clipping it before the log changes the loss. Use the cross-entropy from logits, "
             "ops.binary_crossentropy(x, x_logits, from_logits=True).")
    expect_close(out, ref, what, rtol=1e-4, atol=1e-4,
                 hint="Reconstruction: binary cross-entropy of x given the logits, summed over pixels; plus the KL.")


def _test_negative_elbo(f):
    rng = new_rng()
    d_z1, d_z2 = int(rng.integers(3, 6)), 2
    _test_negative_elbo_once(f, rng, int(rng.integers(3, 8)), int(rng.integers(10, 40)), d_z1)
    _test_negative_elbo_once(f, rng, int(rng.integers(3, 8)), int(rng.integers(50, 80)), d_z2)
    x, logits, m, lv = _elbo_inputs(rng, 5, int(rng.integers(10, 20)), d_z1)
    x, logits = x[1:], logits[1:]  # moderate logits only: the gradient check below is about the graph, not numerics
    m, lv = m[1:], lv[1:]
    out, (g_logits, g_m, g_lv) = _compiled(f, "negative_elbo", [x, logits, m, lv], watch=[1, 2, 3])
    expect_close(out, _bce_logits(x, logits) + _kl(m, lv), "negative_elbo inside a compiled training step",
                 rtol=1e-4, atol=1e-4)
    _expect_gradient(g_logits, 1 / (1 + np.exp(-logits.astype("float64"))) - x, "negative_elbo", "x_logits")
    _expect_gradient(g_m, m, "negative_elbo", "z_mean")
    _expect_gradient(g_lv, 0.5 * (np.exp(lv.astype("float64")) - 1), "negative_elbo", "z_log_var")


# ----------------------------------------------------------------------------- sample_prior


class _FakeDecoder:
    """A decoder stand-in: a fixed linear map to logits, recording the codes it was given. Like a Keras model,
    calling it returns a TensorFlow tensor and ``predict`` a NumPy array."""

    def __init__(self, rng, latent_dim, d_out):
        self.latent_dim = latent_dim
        self.w = rng.normal(0, 1.0, size=(latent_dim, d_out)).astype("float32")
        self.codes = []

    def logits(self, z):
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            fail(f"you gave the decoder codes of shape {z.shape}, expected (n, latent_dim) = (n, {self.latent_dim}).")
        self.codes.append(z)
        return z @ self.w

    def __call__(self, z, training=False):
        import tensorflow as tf

        return tf.constant(self.logits(z))

    def predict(self, z, verbose=None, batch_size=None, **kwargs):
        return self.logits(z)


def _test_sample_prior_once(f, rng, n, latent_dim):
    d_out = int(rng.integers(8, 14))  # never latent_dim
    decoder = _FakeDecoder(rng, latent_dim, d_out)
    call = f"sample_prior(decoder, n={n}, latent_dim={latent_dim})"
    out = as_array(f(decoder, n, latent_dim), call)
    if not decoder.codes:
        fail("sample_prior never called the decoder: return the decoder's output for your codes z.")
    z = decoder.codes[-1]
    if z.shape != (n, latent_dim):
        fail(f"you gave the decoder codes of shape {z.shape}, expected (n, latent_dim) = {(n, latent_dim)}.")
    if out.shape != (n, d_out):
        fail(f"{call} has shape {out.shape}, expected (n, the decoder's output size) = {(n, d_out)}.")
    expect_finite(out, call)
    if np.all(np.ptp(z, axis=0) == 0):
        fail("all your codes are the same: draw a fresh z for every sample, shape (n, latent_dim).")
    if np.any(np.abs(z.mean(0)) > 0.1) or np.any(np.abs(z.std(0) - 1) > 0.05):
        fail(f"your codes have mean {np.round(z.mean(0), 2)} and standard deviation {np.round(z.std(0), 2)}: draw z "
             "from the prior N(0, I) (keras.random.normal).")
    tails = np.mean(np.abs(z) > 2)
    if abs(tails - 0.0455) > 0.01:
        fail(f"{tails:.1%} of your codes lie beyond 2 standard deviations; for N(0, I) it is 4.6%: draw z from a "
             "Gaussian, not another distribution with the same variance.")
    corr = np.corrcoef(z, rowvar=False)
    if np.max(np.abs(corr - np.eye(latent_dim))) > 0.1:
        fail("the coordinates of your codes are correlated: draw every element of z independently, shape "
             "(n, latent_dim), not one number per sample shared by its coordinates.")
    _expect_not_antithetic(z.astype("float64"), "codes")
    expect_standard_normal(z, "your codes z", "Draw z from the prior N(0, I), keras.random.normal((n, latent_dim)), "
                           "and give it to the decoder unchanged (no clipping).")
    logits = z.astype("float64") @ decoder.w
    if np.allclose(out, logits, rtol=1e-5, atol=1e-5):
        fail("you returned the decoder's logits: apply the sigmoid to get pixel probabilities in [0, 1].")
    expect_close(out, 1 / (1 + np.exp(-logits)), call, rtol=1e-4, atol=1e-5, hint="Return sigmoid(decoder(z)).")
    again = as_array(f(decoder, n, latent_dim), "a second call")
    if np.array_equal(out, again):
        fail("two calls gave the same samples: draw fresh codes in each call (no fixed seed).")


def _test_sample_prior(f):
    rng = new_rng()
    _test_sample_prior_once(f, rng, 10_000, int(rng.integers(3, 6)))
    _test_sample_prior_once(f, rng, int(rng.integers(8_000, 12_000)), 2)


check_reparameterize = make_check("reparameterize", _test_reparameterize)
check_kl_divergence = make_check("kl_divergence", _test_kl_divergence)
check_negative_elbo = make_check("negative_elbo", _test_negative_elbo)
check_sample_prior = make_check("sample_prior", _test_sample_prior)


# ----------------------------------------------------------------------------- iw_log_likelihood


class _LinearDecoder:
    """Stands in for a decoder: codes (m, d_z) -> logits (m, d_x), an affine map with a few fixed logits of +-40.
    Accepts NumPy arrays and tensors; returns a NumPy array, and counts the codes it decodes."""

    def __init__(self, rng, d_z, d_x):
        self.w = rng.normal(0, 3.0 / np.sqrt(d_z), size=(d_z, d_x))
        self.b = rng.normal(0, 6.0, size=d_x)
        self.b[:4] = [40.0, 40.0, -40.0, -40.0]  # confident and right: cost nothing, unless log(sigmoid(...))
        self.w[:, :4] = 0.0

    def __call__(self, z, training=False):
        z = np.asarray(z, dtype="float64")
        logits = (z.reshape(-1, z.shape[-1]) @ self.w + self.b).reshape(z.shape[:-1] + (len(self.b),))
        return logits.astype("float32")  # as a Keras model's output


def _iw_terms(x, z_mean, z_log_var, decoder, eps, std_power=0.5, q_sigma=False):
    """log p(x | z^(i)), log p(z^(i)), log q(z^(i) | x), each of shape (K, n)."""
    z = z_mean[None] + np.exp(std_power * z_log_var)[None] * eps
    logits = np.asarray(decoder(z), dtype="float64")
    log_px = -np.sum(_softplus(logits) - x[None] * logits, axis=-1)
    log_pz = -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=-1)
    power = 0.5 if q_sigma else 1.0  # the mistake: sigma where sigma^2 belongs
    log_qz = -0.5 * np.sum((z - z_mean) ** 2 / np.exp(power * z_log_var) + power * z_log_var + np.log(2 * np.pi),
                           axis=-1)
    return log_px, log_pz, log_qz


def _log_w(terms):
    log_px, log_pz, log_qz = terms
    return log_px + log_pz - log_qz


def _log_mean_exp(a, axis=0):
    top = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.mean(np.exp(a - top), axis=axis))


def _test_iw_once(f, rng, n, k, d_z, d_x):
    x = (rng.uniform(size=(n, d_x)) < 0.5).astype("float64")
    x[:, :4] = [1.0, 1.0, 0.0, 0.0]  # the pixels with logits +-40 agree with them
    decoder = _LinearDecoder(rng, d_z, d_x)
    z_mean = rng.normal(0, 1, size=(n, d_z))
    z_log_var = rng.uniform(0.5, 1.5, size=(n, d_z))  # sigma, sigma^2 and their logs all differ
    eps = rng.standard_normal((k, n, d_z))
    call = f"iw_log_likelihood(x, z_mean, z_log_var, decoder, eps) with n = {n}, K = {k}, d_z = {d_z}"
    out = as_array(f(x.astype("float32"), z_mean.astype("float32"), z_log_var.astype("float32"), decoder,
                     eps.astype("float32")), call)
    if out.shape == (k,) and k != n:
        fail(f"{call} has shape ({k},): you combined the examples; combine the K samples of each example "
             f"(axis 0 of eps), giving shape ({n},).")
    if out.shape == (k, n):
        fail(f"{call} has shape (K, n) = {out.shape}: combine the K log-weights of each example with "
             "log-mean-exp over axis 0.")
    out = _per_example(out, n, call)
    log_px, log_pz, log_qz = _iw_terms(x, z_mean, z_log_var, decoder, eps)
    log_w = log_px + log_pz - log_qz
    ref = _log_mean_exp(log_w)
    if not np.all(np.isfinite(out)):
        fail(f"{call} contains NaN or infinity. The log-weights here are below -700 nats (as for real images), "
             "so exp underflows to 0 and log(mean(exp(...))) is -inf: subtract the largest log-weight before "
             "exponentiating (log-mean-exp). And compute log p(x | z) from the logits (a logit of 40 has "
             "sigmoid exactly 1 in float32, and log(1 - 1) is -inf).")
    if np.allclose(out, ref, rtol=1e-5, atol=1e-2):
        return
    with np.errstate(all="ignore"):
        first_match(out, [
            (np.mean(log_w, axis=0), "you averaged the log-weights: that is the ELBO (Jensen's inequality), not "
             "the importance-weighted estimate; average the weights themselves, log-mean-exp over the K samples."),
            (ref + np.log(k), "you took log-SUM-exp: divide the sum of the K weights by K (subtract log K)."),
            (_log_mean_exp(log_px - log_qz), "the prior term log p(z) is missing from the log-weights."),
            (_log_mean_exp(log_px + log_pz), "the term -log q(z | x) is missing from the log-weights."),
            (_log_mean_exp(log_px - log_pz + log_qz), "the signs of log p(z) and log q(z | x) are swapped: the "
             "weight is p(x | z) p(z) / q(z | x)."),
            (_log_mean_exp(_log_w(_iw_terms(x, z_mean, z_log_var, decoder, eps, q_sigma=True))), "log q(z | x) uses "
             "sigma instead of sigma^2: it is -1/2 sum[(z - mu)^2 / sigma^2 + log sigma^2 + log 2 pi]."),
            (_log_mean_exp(_log_w(_iw_terms(x, z_mean, z_log_var, decoder, eps, std_power=1.0))),
             "your codes use exp(z_log_var) as the standard deviation: sigma = exp(z_log_var / 2)."),
            (_log_mean_exp(log_px / d_x + log_pz - log_qz), "you averaged the cross-entropy over the pixels: "
             "log p(x | z) sums over them."),
            (_log_w(_iw_terms(x, z_mean, z_log_var, decoder, np.zeros_like(eps[:1])))[0],
             "your codes ignore eps (z = z_mean): use z^(i) = z_mean + sigma * eps[i] for each of the K samples."),
        ], rtol=1e-5, atol=1e-2)
    expect_close(out, ref, call, rtol=1e-5, atol=1e-2,
                 hint="Use the given eps (a fresh draw gives other values): z^(i) = z_mean + exp(z_log_var / 2) * "
                      "eps[i], log w = log p(x | z) + log p(z) - log q(z | x), then log-mean-exp over the K samples.")


def _test_iw_log_likelihood(f):
    rng = new_rng()
    for k, d_z in [(1, 2), (int(rng.integers(5, 12)), int(rng.integers(3, 6)))]:  # K = 1 (the ELBO) and more
        n = int(rng.integers(2, 5))  # never equal to K > 1: a wrong axis shows
        _test_iw_once(f, rng, n, k, d_z, int(rng.integers(500, 700)))


check_iw_log_likelihood = make_check("iw_log_likelihood", _test_iw_log_likelihood)


# ----------------------------------------------------------------------------- vae_train_step


def _small_vae(rng, d_x, d_z, hidden, log_var_bias):
    """A tiny encoder (x -> [z_mean, z_log_var]) and decoder (z -> logits) with random weights."""
    import keras

    def normal(std):
        return keras.initializers.RandomNormal(0.0, std, seed=int(rng.integers(1e6)))

    def dense(units, activation=None):
        return keras.layers.Dense(units, activation=activation, kernel_initializer=normal(0.5),
                                  bias_initializer=normal(0.3))

    x = keras.Input(shape=(d_x,))
    h = x
    for units in hidden:
        h = dense(units, "tanh")(h)
    z_mean = dense(d_z)(h)
    z_log_var = keras.layers.Dense(d_z, kernel_initializer="zeros",
                                   bias_initializer=keras.initializers.Constant(log_var_bias))(h)
    encoder = keras.Model(x, [z_mean, z_log_var])
    z = keras.Input(shape=(d_z,))
    h = z
    for units in hidden[::-1]:
        h = dense(units, "tanh")(h)
    decoder = keras.Model(z, dense(d_x)(h))
    return encoder, decoder


def _step_loss(x, encoder, decoder, beta, z=None, rec_beta=1.0, pixel_mean=False, batch_sum=False, kl_on=True,
               rec_on=True, clipped=False):
    """The loss a (possibly wrong) training step minimises, as a TensorFlow scalar; z = z_mean unless given."""
    import tensorflow as tf

    z_mean, z_log_var = encoder(x)
    z = z_mean if z is None else z
    logits = decoder(z)
    if clipped:
        p = tf.clip_by_value(tf.sigmoid(logits), 1e-7, 1 - 1e-7)
        per_pixel = -(x * tf.math.log(p) + (1 - x) * tf.math.log(1 - p))
    else:
        per_pixel = tf.nn.softplus(logits) - x * logits
    rec = tf.reduce_mean(per_pixel, axis=-1) if pixel_mean else tf.reduce_sum(per_pixel, axis=-1)
    kl = 0.5 * tf.reduce_sum(tf.exp(z_log_var) + tf.square(z_mean) - 1.0 - z_log_var, axis=-1)
    per_example = (rec_beta * rec if rec_on else 0.0) + (beta * kl if kl_on else 0.0)
    return tf.reduce_sum(per_example) if batch_sum else tf.reduce_mean(per_example)


def _gradients(loss_fn, weights):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
    grads = tape.gradient(loss, weights)  # None where a weight does not reach the loss
    return float(loss), [np.zeros(w.shape) if g is None else np.asarray(g, "float64") for g, w in zip(grads, weights)]


def _test_train_step_update(f, rng, n, d_x, d_z, hidden, beta):
    """Near-zero encoder variance (z = z_mean up to 1e-7), plain SGD: the update is -lr * gradient."""
    import keras
    import tensorflow as tf

    encoder, decoder = _small_vae(rng, d_x, d_z, hidden, log_var_bias=-30.0)
    # two pixels the decoder gets confidently wrong (logits near +-30): a loss computed on probabilities, clipped
    # into [1e-7, 1 - 1e-7] as Keras does, is flat there, so its gradient misses theirs
    bias = decoder.layers[-1].bias
    bias.assign(np.concatenate([[30.0, -30.0], np.asarray(bias)[2:]]).astype("float32"))
    enc_w, dec_w = encoder.trainable_weights, decoder.trainable_weights
    x = (rng.uniform(size=(n, d_x)) < 0.4).astype("float32")
    x[:, :2] = [0.0, 1.0]
    x = tf.constant(x)
    lr = 0.01
    before = [np.asarray(w, "float64") for w in enc_w + dec_w]
    ref_loss, ref_grads = _gradients(lambda: _step_loss(x, encoder, decoder, beta), enc_w + dec_w)
    call = (f"vae_train_step(x, encoder, decoder, optimizer, beta={beta:g}) with x of shape {(n, d_x)}, d_z = {d_z}, "
            f"{len(hidden)} hidden layer(s)")
    out = as_array(f(x, encoder, decoder, keras.optimizers.SGD(lr), beta), call)
    if out.shape != ():
        fail(f"{call} returned shape {out.shape}: return the loss of the batch as one number, the mean over the "
             "examples of reconstruction + beta * KL.")
    step = [np.asarray(w, "float64") - b for w, b in zip(enc_w + dec_w, before)]
    n_enc = len(enc_w)
    moved = [np.any(s != 0) for s in step]
    if not any(moved):
        fail("no weight changed: compute the gradients of the loss with respect to encoder.trainable_weights + "
             "decoder.trainable_weights and apply them with optimizer.apply(grads, weights).")
    if not any(moved[:n_enc]):
        fail("the encoder's weights did not change: take the gradients with respect to the encoder's trainable "
             "weights too (encoder.trainable_weights + decoder.trainable_weights).")
    if not any(moved[n_enc:]):
        fail("the decoder's weights did not change: take the gradients with respect to the decoder's trainable "
             "weights too (encoder.trainable_weights + decoder.trainable_weights).")
    flat = np.concatenate([s.ravel() for s in step])

    def update(**kwargs):
        _, grads = _gradients(lambda: _step_loss(x, encoder_0, decoder_0, **kwargs), weights_0)
        return -lr * np.concatenate([g.ravel() for g in grads])

    # the variants are computed on the weights as they were before the learner's step
    encoder_0, decoder_0 = encoder, decoder
    for w, b in zip(enc_w + dec_w, before):
        w.assign(b.astype("float32"))
    weights_0 = enc_w + dec_w
    expected = -lr * np.concatenate([g.ravel() for g in ref_grads])
    if not np.allclose(flat, expected, rtol=2e-3, atol=1e-7):
        first_match(flat, [
            (-expected, "your step went uphill: the weights moved along +gradient. Minimise the loss "
             "(reconstruction + beta * KL, the negative ELBO), not the ELBO: optimizer.apply(grads, weights)."),
            (n * expected, "your step is n times too large: the loss is the SUM over the batch; take the mean over "
             "the examples (ops.mean)."),
            (update(beta=1.0), f"your step ignores beta (here beta = {beta:g}): the loss is reconstruction + "
             "beta * KL."),
            (update(beta=1.0, rec_beta=beta), "beta multiplies the reconstruction term: it weights the KL term."),
            (update(beta=beta, pixel_mean=True), "you averaged the cross-entropy over the pixels: sum it (the "
             "mean-BCE bug of Chapter 3, an implicit KL weight of d_x)."),
            (update(beta=beta, kl_on=False), "the KL term is missing from your loss."),
            (update(beta=beta, rec_on=False), "the reconstruction term is missing from your loss."),
            (update(beta=1.0 / beta), "you divided the KL term by beta: multiply it."),
            (update(beta=beta, clipped=True), "your loss is computed on probabilities clipped into [1e-7, 1 - 1e-7] "
             "(the sigmoid, then a clip, or binary_crossentropy without from_logits=True): where the decoder is "
             "confidently wrong the clip flattens the loss and its gradient vanishes. Use the cross-entropy from "
             "the logits, ops.binary_crossentropy(x, logits, from_logits=True)."),
        ], rtol=2e-3, atol=1e-7)
        expect_close(flat, expected, "the change of the weights after one step of plain SGD", rtol=2e-3, atol=1e-7,
                     hint="One step: loss = mean over the batch of BCE (summed over pixels) + beta * KL; gradients "
                          "of it with respect to all trainable weights; optimizer.apply(grads, weights).")
    expect_close(out, ref_loss, f"the loss returned by {call}", rtol=1e-4, atol=1e-4,
                 hint="Return the loss computed before the update: the batch mean of reconstruction + beta * KL.")


def _test_train_step_noise(f, rng, d_x, d_z, beta):
    """Unit encoder variance and a zero learning rate, inside tf.function: the loss must use fresh codes."""
    import keras
    import tensorflow as tf

    encoder, decoder = _small_vae(rng, d_x, d_z, (8,), log_var_bias=-1.0)
    x = tf.constant((rng.uniform(size=(64, d_x)) < 0.4).astype("float32"))
    optimizer = keras.optimizers.SGD(0.0)
    step = tf.function(lambda batch: f(batch, encoder, decoder, optimizer, beta))
    with compiled_errors(f, "vae_train_step", "a compiled training step (tf.function)",
                         f"{_KERAS_OPS[0].upper()}{_KERAS_OPS[1:]}."):
        losses = np.array([float(step(x)) for _ in range(200)])
    if np.ptp(losses) == 0:
        fail("inside a tf.function your step returned the same loss at every call: the code must be a fresh sample "
             "z = reparameterize(z_mean, z_log_var) at every step (not z = z_mean, not noise drawn once in NumPy "
             "or with a fixed seed).")
    z_mean, z_log_var = (np.asarray(v, "float64") for v in encoder(x))
    eps = rng.standard_normal((400,) + z_mean.shape)
    z = tf.constant((z_mean + np.exp(0.5 * z_log_var) * eps).reshape(-1, d_z).astype("float32"))
    x_rep = tf.tile(x, (400, 1))
    mean_z_mean = tf.constant(np.tile(z_mean, (400, 1)).astype("float32"))
    expected = float(_step_loss(x_rep, lambda _: (mean_z_mean, tf.constant(np.tile(z_log_var, (400, 1)), "float32")),
                                decoder, beta, z=z))
    at_mean = float(_step_loss(x, encoder, decoder, beta))
    tolerance = 5 * losses.std() / np.sqrt(len(losses)) + 0.05
    if abs(losses.mean() - expected) > tolerance:
        if abs(losses.mean() - at_mean) < abs(losses.mean() - expected):
            fail("your loss behaves as if the code were z_mean: decode a sample z = reparameterize(z_mean, "
                 "z_log_var), with the standard deviation exp(z_log_var / 2).")
        fail(f"over 200 compiled steps your loss averaged {losses.mean():.3f}, but with codes z ~ q(z | x) it should "
             f"average {expected:.3f}: decode z = z_mean + exp(z_log_var / 2) * eps with eps ~ N(0, I).")


def _recording(decoder):
    """The decoder, wrapped so that the codes it is given in eager calls are kept (in ``.codes``)."""
    import keras
    import tensorflow as tf

    class Recording(keras.Model):
        def __init__(self):
            super().__init__()
            self.inner, self.codes = decoder, []

        def call(self, z, training=False):
            if tf.executing_eagerly():
                self.codes.append(np.asarray(z, dtype="float64"))
            return self.inner(z)

    return Recording()


def _test_train_step_codes(f, rng, d_x, d_z, beta):
    """One eager step on a large batch, learning rate 0: the codes given to the decoder must be
    z_mean + exp(z_log_var / 2) * eps with eps ~ N(0, I) independent across rows and coordinates."""
    import keras
    import tensorflow as tf

    log_var = 1.0  # sigma = 1.65, sigma^2 = 2.72, sqrt(sigma) = 1.28
    encoder, decoder = _small_vae(rng, d_x, d_z, (8,), log_var_bias=log_var)
    n = 5000
    x = tf.constant((rng.uniform(size=(n, d_x)) < 0.4).astype("float32"))
    recording = _recording(decoder)
    f(x, encoder, recording, keras.optimizers.SGD(0.0), beta)
    codes = [z for z in recording.codes if z.shape == (n, d_z)]
    if not codes:  # the decoder was not called eagerly on the batch's codes: the other tests judge the step
        return
    z_mean = np.asarray(encoder(x)[0], dtype="float64")
    eps = (codes[-1] - z_mean) / np.exp(0.5 * log_var)
    if np.all(np.abs(eps) < 1e-6):  # z = z_mean: the test of the compiled steps below says so
        return
    if np.all(np.ptp(eps, axis=0) < 1e-3):
        fail("every example of the batch got the same eps: draw eps of the full shape of z_mean "
             "(reparameterize(z_mean, z_log_var)), one for each example and coordinate.")
    std = float(eps.std())
    for power, text in [(1.0, "exp(z_log_var) = sigma^2, the variance"), (0.25, "exp(z_log_var / 4) = sqrt(sigma)")]:
        if abs(std - np.exp((power - 0.5) * log_var)) < 0.05 * np.exp((power - 0.5) * log_var):
            fail(f"the codes your step decodes spread with standard deviation {text}: the standard deviation is "
                 "exp(z_log_var / 2), z = z_mean + exp(0.5 * z_log_var) * eps.")
    if abs(std - 1) > 0.05:
        fail(f"the codes your step decodes have (z - z_mean) / exp(z_log_var / 2) of standard deviation {std:.3f}, "
             "expected 1: z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, I).")
    if np.max(np.abs(np.corrcoef(eps, rowvar=False) - np.eye(d_z))) > 0.1:
        fail("the noise of the coordinates of your codes is correlated: draw an independent eps for every element.")
    _expect_not_antithetic(eps, "eps")
    expect_standard_normal(eps, "the eps of the codes your step decodes", "Draw eps from N(0, I) "
                           "(keras.random.normal(ops.shape(z_mean))) and use it unchanged.")


def _test_vae_train_step(f):
    rng = new_rng()
    for hidden in [(int(rng.integers(6, 12)),), (int(rng.integers(6, 12)), int(rng.integers(4, 8)))]:
        beta = float(rng.choice([0.5, 2.0, 3.0]))
        _test_train_step_update(f, rng, int(rng.integers(3, 7)), int(rng.integers(10, 20)), int(rng.integers(2, 5)),
                                hidden, beta)
    _test_train_step_codes(f, rng, int(rng.integers(10, 20)), int(rng.integers(3, 5)), 1.0)
    _test_train_step_noise(f, rng, int(rng.integers(10, 20)), int(rng.integers(2, 5)), 1.0)


check_vae_train_step = make_check("vae_train_step", _test_vae_train_step, points=2)
