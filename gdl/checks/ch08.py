"""Checks for the Chapter 8 exercises (``exercises/08_energy.ipynb``).

The RBM has visible units v (n, d_v), hidden units h (n, d_h), weights W (d_v, d_h), visible biases b (d_v,)
and hidden biases c (d_h,); E(v, h) = -b.v - c.h - v W h.

- ``check_free_energy(f)``: ``f(v, W, b, c)`` returns F(v) = -b.v - sum_j softplus(c_j + v.W[:, j]), one value
  per row (shape (n,)), finite for pre-activations far from 0, and runs inside a ``tf.function``.
- ``check_gibbs_step(f)``: ``f(v, W, b, c, u_h, u_v)`` returns ``(v_new, h)``: h_j = 1 where u_h < sigmoid(c +
  v W), then v_new_i = 1 where u_v < sigmoid(b + h W^T); u_h (n, d_h) and u_v (n, d_v) are the uniform noise.
- ``check_cd_gradient(f)``: ``f(v_data, v_model, W, b, c)`` returns the ascent direction ``(dW, db, dc)``:
  data statistics minus model statistics with hidden probabilities, each averaged over its own rows
  (v_data and v_model may have different numbers of rows), and runs inside a ``tf.function``.
- ``check_langevin_step(f)``: ``f(x, score_fn, step_size, z)`` returns x + step_size / 2 * score_fn(x) +
  sqrt(step_size) * z, and runs inside a ``tf.function``.
- ``check_dsm_loss(f)``: ``f(score_model, x, sigma, eps)`` returns the sigma^2-weighted denoising score-matching
  loss mean_i 1/2 |sigma_i score_model(x_i + sigma_i eps_i, sigma) + eps_i|^2 (sigma (n,) one level per
  example), and gradients reach the score model's weights inside a ``tf.function``.
"""


import numpy as np

from gdl.checks import as_array, compiled_errors, expect_close, expect_finite, expect_shape, fail, make_check, new_rng

_TF_HINT = ("Use TensorFlow or keras.ops operations (tf.nn.softplus, tf.sigmoid, @, tf.reduce_sum) rather than "
            "NumPy, and no .numpy() or float(): inside a compiled step the values are symbolic tensors.")


def _softplus(a):
    return np.logaddexp(0.0, a)


def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def _close(a, b, rtol=1e-4, atol=1e-5):
    try:
        a = np.asarray(a, dtype="float64")
    except Exception:
        return False
    b = np.asarray(b, dtype="float64")
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and np.allclose(a, b, rtol=rtol, atol=atol)


def _in_graph(f, name, args, watch=()):
    """Call ``f`` inside one ``tf.function`` on float32 tensors; return its outputs (NumPy) and the gradients of the
    sum of its (first) output with respect to the arguments listed in ``watch``."""
    import tensorflow as tf

    tensors = [a if callable(a) else tf.constant(np.asarray(a), tf.float32) for a in args]

    @tf.function
    def run(*values):
        with tf.GradientTape() as tape:
            for i in watch:
                tape.watch(values[i])
            out = f(*values)
            first = out[0] if isinstance(out, (tuple, list)) else out
            total = tf.reduce_sum(tf.cast(first, tf.float32))
        grads = tape.gradient(total, [values[i] for i in watch], unconnected_gradients="zero") if watch else []
        return out, grads

    with compiled_errors(f, name, "a compiled step (a tf.function, as the notebook runs it)", _TF_HINT):
        out, grads = run(*tensors)
    if isinstance(out, (tuple, list)):
        out = tuple(np.asarray(o, dtype="float64") for o in out)
    else:
        out = np.asarray(out, dtype="float64")
    return out, [np.asarray(g, dtype="float64") for g in grads]


def _rbm(rng, n=None, d_v=None, d_h=None, scale=1.0):
    n = int(rng.integers(5, 10)) if n is None else n  # n > d_h: one value per image is told apart
    d_v = int(rng.integers(5, 13)) if d_v is None else d_v
    d_h = int(rng.integers(2, 5)) if d_h is None else d_h  # d_h < d_v: a transposed W cannot fit
    v = (rng.uniform(size=(n, d_v)) < 0.5).astype("float64")
    W = rng.normal(0, scale, size=(d_v, d_h))
    # biases of 1 to 2.5 in size: leaving one out changes many units' probabilities
    b = rng.choice([-1, 1], size=d_v) * rng.uniform(1, 2.5, size=d_v)
    c = rng.choice([-1, 1], size=d_h) * rng.uniform(1, 2.5, size=d_h)
    return v, W, b, c


# ----------------------------------------------------------------------------- free_energy


def _free_energy(v, W, b, c):
    return -v @ b - np.sum(_softplus(v @ W + c), axis=-1)


def _test_free_energy(f):
    rng = new_rng()
    v, W, b, c = _rbm(rng)
    n = len(v)
    call = f"free_energy(v, W, b, c) for {n} images of {v.shape[1]} pixels and {W.shape[1]} hidden units"
    out = as_array(f(v, W, b, c), call)
    if out.shape == ():
        fail(f"{call} is a single number: return one free energy per image (row of v), shape ({n},).")
    if out.shape == (W.shape[1],):
        fail(f"{call} has shape {out.shape}: sum softplus over the hidden units (axis=-1), one value per image.")
    out = expect_shape(out, (n,), call)
    ref = _free_energy(v, W, b, c)
    a = v @ W + c
    if not _close(out, ref):
        if _close(out, -ref):
            fail("The sign is flipped: F(v) = -b.v - sum_j softplus(c_j + v.W[:, j]) (low free energy = likely).")
        if _close(out, -np.sum(_softplus(a), axis=-1)):
            fail("The visible-bias term -b.v is missing.")
        if _close(out, -v @ b - np.sum(_softplus(v @ W), axis=-1)):
            fail("The hidden biases are missing: each hidden unit's input is c_j + v.W[:, j].")
        if _close(out, -v @ b - np.mean(_softplus(a), axis=-1)):
            fail("Sum softplus over the hidden units, do not average it.")
        if _close(out, v @ b - np.sum(_softplus(a), axis=-1)) or _close(out, -v @ b + np.sum(_softplus(a), axis=-1)):
            fail("One of the two terms has the wrong sign: both -b.v and -sum_j softplus(...) are subtracted.")
        h = _sigmoid(a)
        if _close(out, -v @ b - h @ c - np.sum((v @ W) * h, axis=-1)):
            fail("That is the energy at the mean hidden activities, E(v, sigmoid(...)): the free energy sums "
                 "exp(-E) over all hidden states, which gives softplus(c_j + v.W[:, j]) per unit.")
        if _close(out, -v @ b - np.sum(_sigmoid(a), axis=-1)) or _close(out, -v @ b - np.sum(np.exp(a), axis=-1)):
            fail("Summing h_j over {0, 1} gives log(1 + exp(a_j)) = softplus(a_j), not sigmoid(a_j) or exp(a_j).")
        expect_close(out, ref, call, rtol=1e-4, atol=1e-5)
    # far from 0: log(1 + exp(a)) written literally overflows (float32 inputs: exp(a) = inf above 89)
    v2, W2, b2, c2 = _rbm(rng, n=4, d_v=int(rng.integers(5, 9)), d_h=3)
    c2[:] = [300.0, -300.0, 0.0]  # hidden inputs of a few hundred, of both signs
    v2, W2, b2, c2 = (x.astype("float32") for x in (v2, W2, b2, c2))
    ref2 = _free_energy(*(x.astype("float64") for x in (v2, W2, b2, c2)))
    out2 = as_array(f(v2, W2, b2, c2), "free_energy(...)")
    if out2.shape == ref2.shape and not np.all(np.isfinite(out2)):
        fail("free_energy(...) is infinite or NaN for hidden inputs of a few hundred: log(1 + exp(a)) overflows. "
             "Use a stable softplus (tf.nn.softplus, keras.ops.softplus or np.logaddexp(0, a)).")
    expect_close(out2, ref2, "free_energy(...) for large weights (hidden inputs of a few hundred)", rtol=1e-4,
                 atol=1e-2)
    graph, _ = _in_graph(f, "free_energy", (v, W, b, c))
    expect_close(graph, ref, "free_energy(...) inside a tf.function", rtol=1e-4, atol=1e-3)


check_free_energy = make_check("free_energy", _test_free_energy)


# ----------------------------------------------------------------------------- gibbs_step


def _gibbs(v, W, b, c, u_h, u_v):
    h = (u_h < _sigmoid(v @ W + c)).astype("float64")
    return (u_v < _sigmoid(h @ W.T + b)).astype("float64"), h


def _test_gibbs_step(f):
    rng = new_rng()
    # three independent draws: a wrong rule that matches the right one on one draw by luck fails on another
    for _ in range(3):
        v, W, b, c = _rbm(rng, n=int(rng.integers(20, 31)))  # many units: a wrong rule flips some of them
        n, d_v, d_h = v.shape[0], v.shape[1], W.shape[1]
        u_h, u_v = rng.uniform(size=(n, d_h)), rng.uniform(size=(n, d_v))
        call = f"gibbs_step(v, W, b, c, u_h, u_v) for {n} images of {d_v} pixels and {d_h} hidden units"
        out = f(v, W, b, c, u_h, u_v)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail(f"{call} should return the pair (v_new, h).")
        v_new, h = (as_array(o, call) for o in out)
        if v_new.shape == (n, d_h) and h.shape == (n, d_v):
            fail("Return (v_new, h) in that order: the new visible units first, then the hidden sample.")
        expect_shape(h, (n, d_h), "h")
        expect_shape(v_new, (n, d_v), "v_new")
        ref_v, ref_h = _gibbs(v, W, b, c, u_h, u_v)
        p_h = _sigmoid(v @ W + c)
        if not np.all((h == 0) | (h == 1)):
            if _close(h, p_h):
                fail("h holds the probabilities sigmoid(c + v W): sample the hidden units, h = (u_h < p).")
            fail("h must be binary (0 or 1): each hidden unit is on where u_h < p(h_j = 1 | v).")
        if not np.array_equal(h, ref_h):
            if np.array_equal(h, (u_h > p_h).astype(float)) or np.array_equal(h, (u_h > 1 - p_h).astype(float)):
                fail("A unit is on where its uniform is BELOW its probability: h = (u_h < p), so P(h_j = 1) = p.")
            if np.array_equal(h, (u_h < _sigmoid(v @ W)).astype(float)):
                fail("The hidden biases c are missing from p(h_j = 1 | v) = sigmoid(c_j + v.W[:, j]).")
            fail("h is wrong: h_j = 1 where u_h < sigmoid(c_j + v.W[:, j]), with u_h[a, j] for image a, unit j.")
        if not np.all((v_new == 0) | (v_new == 1)):
            if _close(v_new, _sigmoid(h @ W.T + b)):
                fail("v_new holds the probabilities sigmoid(b + h W^T): sample it too, v_new = (u_v < p).")
            if _close(v_new, (u_v < _sigmoid(p_h @ W.T + b)).astype(float)) or _close(v_new, _sigmoid(p_h @ W.T + b)):
                fail("Compute p(v | h) from the sampled h, not from the hidden probabilities.")
            fail("v_new must be binary (0 or 1).")
        if not np.array_equal(v_new, ref_v):
            if np.array_equal(v_new, (u_v < _sigmoid(p_h @ W.T + b)).astype(float)):
                fail("Compute p(v | h) from the sampled h, not from the hidden probabilities.")
            p_v = _sigmoid(h @ W.T + b)
            if np.array_equal(v_new, (u_v > p_v).astype(float)) or np.array_equal(v_new, (u_v > 1 - p_v).astype(float)):
                fail("A unit is on where its uniform is BELOW its probability: v_new = (u_v < p).")
            if np.array_equal(v_new, (u_v < _sigmoid(h @ W.T)).astype(float)):
                fail("The visible biases b are missing from p(v_i = 1 | h) = sigmoid(b_i + W[i, :].h).")
            fail("v_new is wrong: v_new_i = 1 where u_v < sigmoid(b_i + W[i, :].h), using the sampled h.")
    # certain units: probabilities at 0 and 1 must give 0 and 1 whatever the noise
    v2, W2, b2, c2 = _rbm(rng, scale=200.0)
    u_h2, u_v2 = rng.uniform(size=(len(v2), W2.shape[1])), rng.uniform(size=v2.shape)
    want_v, want_h = _gibbs(v2, W2, b2, c2, u_h2, u_v2)
    out2 = f(v2, W2, b2, c2, u_h2, u_v2)
    expect_close(out2[1], want_h, "h for saturated units (probabilities 0 and 1)")
    expect_close(out2[0], want_v, "v_new for saturated units (probabilities 0 and 1)")
    (g_v, g_h), _ = _in_graph(f, "gibbs_step", (v, W, b, c, u_h, u_v))
    # float32 inside the graph: compare away from the thresholds
    safe_h = np.abs(u_h - p_h) > 1e-4
    safe_v = np.abs(u_v - _sigmoid(ref_h @ W.T + b)) > 1e-4
    if not (np.array_equal(g_h[safe_h], ref_h[safe_h]) and np.array_equal(g_v[safe_v], ref_v[safe_v])):
        fail("gibbs_step inside a tf.function gives different units than outside: use TensorFlow operations "
             "on the arguments you are given.")


check_gibbs_step = make_check("gibbs_step", _test_gibbs_step)


# ----------------------------------------------------------------------------- cd_gradient


def _cd(v_data, v_model, W, b, c):
    h_d, h_m = _sigmoid(v_data @ W + c), _sigmoid(v_model @ W + c)
    dW = v_data.T @ h_d / len(v_data) - v_model.T @ h_m / len(v_model)
    return dW, v_data.mean(0) - v_model.mean(0), h_d.mean(0) - h_m.mean(0)


def _test_cd_gradient(f):
    rng = new_rng()
    v_data, W, b, c = _rbm(rng)
    d_v, d_h = W.shape
    n_model = len(v_data) + int(rng.integers(2, 6))  # persistent chains: another batch size
    v_model = (rng.uniform(size=(n_model, d_v)) < 0.5).astype("float64")
    call = f"cd_gradient(v_data, v_model, W, b, c) for {len(v_data)} data and {n_model} model images"
    out = f(v_data, v_model, W, b, c)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(f"{call} should return the three directions (dW, db, dc).")
    dW, db, dc = (as_array(o, call) for o in out)
    if dW.shape == (d_h, d_v):
        fail(f"dW has shape {dW.shape}: it matches W, (d_v, d_h) = {(d_v, d_h)}; use v^T h, not h^T v.")
    expect_shape(dW, (d_v, d_h), "dW")
    expect_shape(db, (d_v,), "db")
    expect_shape(dc, (d_h,), "dc")
    rW, rb, rc = _cd(v_data, v_model, W, b, c)
    if _close(dW, -rW) and _close(db, -rb) and _close(dc, -rc):
        fail("The sign is flipped: the ascent direction is data statistics MINUS model statistics.")
    h_d, h_m = _sigmoid(v_data @ W + c), _sigmoid(v_model @ W + c)
    if _close(dW, v_data.T @ h_d / len(v_data)):
        fail("dW has only the data term: subtract the model term v_model^T h(v_model) / n_model.")
    if _close(dW, v_data.T @ h_d - v_model.T @ h_m):
        fail("Average each term over its own rows (divide by n_data and n_model), do not sum.")
    if _close(dW, (v_data.T @ h_d - v_model.T @ h_m) / len(v_data)) or _close(
            dW, (v_data.T @ h_d - v_model.T @ h_m) / n_model):
        fail("v_data and v_model can have different numbers of rows (persistent chains): divide each term by "
             "its own count.")
    if _close(dW, np.outer(v_data.mean(0), h_d.mean(0)) - np.outer(v_model.mean(0), h_m.mean(0))):
        fail("dW is the mean of the products v h^T over the rows, not the product of the means.")
    a_d, a_m = v_data @ W + c, v_model @ W + c
    if _close(dW, v_data.T @ a_d / len(v_data) - v_model.T @ a_m / len(v_model)):
        fail("Use the hidden probabilities sigmoid(c + v W), not the pre-activations c + v W.")
    t_d, t_m = (h_d > 0.5).astype(float), (h_m > 0.5).astype(float)
    if _close(dW, v_data.T @ t_d / len(v_data) - v_model.T @ t_m / len(v_model)):
        fail("Use the hidden probabilities themselves, not thresholded ones: they give a lower-variance estimate.")
    expect_close(dW, rW, "dW", rtol=1e-4, atol=1e-6)
    if _close(db, rc) or db.shape != rb.shape:
        fail("db is for the visible biases: mean(v_data) - mean(v_model).")
    expect_close(db, rb, "db", rtol=1e-4, atol=1e-6, hint="db = mean(v_data) - mean(v_model) over rows.")
    if _close(dc, h_d.mean(0)):
        fail("dc has only the data term: subtract the model's mean hidden probabilities.")
    if _close(dc, (v_data @ W + c).mean(0) - (v_model @ W + c).mean(0)):
        fail("dc uses the hidden probabilities sigmoid(c + v W), not the pre-activations.")
    expect_close(dc, rc, "dc", rtol=1e-4, atol=1e-6, hint="dc = mean(h(v_data)) - mean(h(v_model)).")
    graph, _ = _in_graph(f, "cd_gradient", (v_data, v_model, W, b, c))
    for got, want, what in zip(graph, (rW, rb, rc), ("dW", "db", "dc")):
        expect_close(got, want, f"{what} inside a tf.function", rtol=1e-3, atol=1e-5)


check_cd_gradient = make_check("cd_gradient", _test_cd_gradient, points=2)


# ----------------------------------------------------------------------------- langevin_step


def _score_np(x, centre, scale):
    return (centre - x) / scale**2 + np.sin(x)


def _score_tf(centre, scale):
    import tensorflow as tf

    def score(x):
        return (tf.cast(centre, x.dtype) - x) / scale**2 + tf.sin(x)

    return score


def _test_langevin_step(f):
    rng = new_rng()
    steps = rng.permutation([1e-4, 0.03, 0.7])  # tiny, moderate, large: sqrt(step), step and step^2 differ
    for d, step in zip((1, 2, int(rng.integers(3, 7))), steps):  # one, two and several dimensions, every run
        n = int(rng.integers(3, 9))
        step = float(step)
        x = rng.normal(0, 3, size=(n, d))
        z = rng.normal(size=(n, d))
        centre, scale = rng.normal(size=d), float(rng.uniform(0.5, 2))
        calls = []

        def score(y, centre=centre, scale=scale, calls=calls):
            y_arr = np.asarray(y, dtype="float64")
            calls.append(y_arr)
            return _score_np(y_arr, centre, scale)

        call = f"langevin_step(x, score_fn, step_size={step}, z) for x of shape {(n, d)}"
        raw = f(x, score, step, z)
        out = expect_shape(raw, (n, d), call)
        s = _score_np(x, centre, scale)
        ref = x + 0.5 * step * s + np.sqrt(step) * z
        tol = 1e-8 + 1e-6 * np.abs(ref)
        if "float32" in str(getattr(raw, "dtype", "")):
            # float32 arithmetic: each term is rounded to 2^-24 of its size (x itself too, and the score is then
            # taken at a rounded x), so the sum is only good to a few 2^-24 of the terms' sizes, however small
            # the result; float64 answers keep the tolerance above
            terms = np.abs(x) * (1 + step * (1 / scale**2 + 1)) + np.abs(0.5 * step * s) + np.abs(np.sqrt(step) * z)
            tol = tol + 4 * 2.0**-24 * terms

        def within_tol(a, b, tol=tol):  # the tolerance above, float32 too
            try:
                a = np.asarray(a, dtype="float64")
            except Exception:
                return False
            return a.shape == np.shape(b) and bool(np.all(np.abs(a - b) <= tol))

        if within_tol(out, ref):
            continue
        if not calls:
            fail("Call score_fn(x) to get the score at the current point.")
        if within_tol(out, x + step * s + np.sqrt(step) * z):
            fail("The drift is step_size / 2 times the score: x + (step/2) s(x) + sqrt(step) z.")
        if within_tol(out, x - 0.5 * step * s + np.sqrt(step) * z):
            fail("Move UP the score (the gradient of log p): x + (step/2) s(x), not minus.")
        if within_tol(out, x + 0.5 * step * s + step * z):
            fail("The noise is scaled by sqrt(step_size), not step_size: its variance is the step size.")
        if within_tol(out, x + 0.5 * step * s + z):
            fail("Scale the noise by sqrt(step_size).")
        if within_tol(out, x + 0.5 * step * s + np.sqrt(step) * z / 2) or within_tol(
                out, x + 0.5 * step * s + np.sqrt(step / 2) * z):
            fail("Only the drift has the 1/2: the noise term is sqrt(step_size) z.")
        if within_tol(out, x + 0.5 * step * s):
            fail("The noise term sqrt(step_size) z is missing: without it the chain only climbs to a mode.")
        y = x + np.sqrt(step) * z
        if within_tol(out, y + 0.5 * step * _score_np(y, centre, scale)):
            fail("Evaluate the score at the current x, before adding the noise.")
        expect_finite(out, call)
        i = np.unravel_index(np.argmax(np.abs(out - ref) - tol), out.shape)
        fail(f"{call} at index {tuple(int(j) for j in i)} is {out[i]:.9g}, expected {ref[i]:.9g}. "
             "x + step/2 * score_fn(x) + sqrt(step) * z.")
    graph, _ = _in_graph(lambda x_, z_: f(x_, _score_tf(centre, scale), step, z_), "langevin_step", (x, z))
    expect_close(graph, x + 0.5 * step * _score_np(x, centre, scale) + np.sqrt(step) * z,
                 "langevin_step(...) inside a tf.function", rtol=1e-4, atol=1e-4)


check_langevin_step = make_check("langevin_step", _test_langevin_step)


# ----------------------------------------------------------------------------- dsm_loss


def _model_np(A, bias):
    def model(x_noisy, sigma):
        s = np.asarray(sigma, dtype="float64").reshape(-1, 1)
        return (np.asarray(x_noisy, dtype="float64") @ A + bias) / s

    return model


def _dsm(x, sigma, eps, A, bias):
    s = sigma[:, None]
    score = _model_np(A, bias)(x + s * eps, sigma)
    return 0.5 * np.mean(np.sum((s * score + eps) ** 2, axis=1))


def _test_dsm_loss(f):
    rng = new_rng()
    n = int(rng.integers(6, 12))
    d = int(rng.integers(2, 5))  # d < n: sigma of shape (n,) cannot broadcast against (n, d) by accident
    x = rng.normal(0, 2, size=(n, d))
    sigma = np.exp(rng.uniform(np.log(0.05), np.log(3.0), size=n))
    sigma[0], sigma[1] = 0.05, 3.0  # small and large noise in every run: sigma and sigma^2 differ a lot
    eps = rng.normal(size=(n, d))
    A = rng.normal(0, 0.5, size=(d, d))
    bias = rng.normal(0, 0.5, size=d)
    call = f"dsm_loss(score_model, x, sigma, eps) for x of shape {(n, d)}"
    out = as_array(f(_model_np(A, bias), x, sigma, eps), call)
    if out.shape == (n,):
        fail(f"{call} has shape ({n},): average over the examples, return one number.")
    if out.size != 1:
        fail(f"{call} should be a single number, got shape {out.shape}.")
    out = float(out.reshape(()))
    ref = _dsm(x, sigma, eps, A, bias)
    s = sigma[:, None]
    model = _model_np(A, bias)

    def variant(noisy=None, sig=sigma, weight=s, target=eps, half=0.5, reduce=np.mean, inner=np.sum):
        noisy = x + s * eps if noisy is None else noisy
        return half * reduce(inner((weight * model(noisy, sig) + target) ** 2, axis=1))

    if not np.isclose(out, ref, rtol=1e-4, atol=1e-8):
        guesses = [
            (variant(target=-eps), "The target has the wrong sign: sigma * score should be close to -eps, so the "
             "loss is |sigma s(x + sigma eps) + eps|^2 (the score points back toward the clean x)."),
            (variant(noisy=x), "Evaluate the score model at the noisy point x + sigma eps, not at the clean x."),
            (variant(noisy=x + s**2 * eps), "The noisy point is x + sigma eps: sigma is a standard deviation, "
             "not a variance."),
            (variant(weight=1.0, target=eps / s), "Weight each example by sigma^2: use |sigma s + eps|^2, not "
             "|s + eps / sigma|^2 (which lets the smallest noise levels dominate)."),
            (variant(weight=s**2, target=eps), "Multiply the score by sigma, not sigma^2."),
            (variant(half=1.0), "The loss has a factor 1/2: mean of 1/2 |sigma s + eps|^2."),
            (variant(reduce=np.sum), "Average over the examples (mean), do not sum."),
            (variant(inner=np.mean), "Sum the squared error over the coordinates of each example, then average "
             "over the examples."),
            (variant(sig=sigma**2), "Pass the noise level sigma (a standard deviation) to the score model, not "
             "sigma^2."),
        ]
        for value, message in guesses:
            if np.isclose(out, value, rtol=1e-4, atol=1e-8):
                fail(message)
        fail(f"{call} is {out:.6g}, expected {ref:.6g}: mean over examples of 1/2 |sigma s(x + sigma eps, sigma) "
             "+ eps|^2, with each example's own sigma.")
    # gradients reach the score model's weights inside a compiled step
    import tensorflow as tf

    A_var, b_var = tf.Variable(A, dtype=tf.float32), tf.Variable(bias, dtype=tf.float32)

    def tf_model(x_noisy, sig):
        return (x_noisy @ A_var + b_var) / tf.reshape(tf.cast(sig, tf.float32), (-1, 1))

    @tf.function
    def step(x_, sigma_, eps_):
        with tf.GradientTape() as tape:
            loss = f(tf_model, x_, sigma_, eps_)
        return loss, tape.gradient(loss, [A_var, b_var])

    with compiled_errors(f, "dsm_loss", "a compiled training step (a tf.function)", _TF_HINT):
        loss, grads = step(*(tf.constant(a, tf.float32) for a in (x, sigma, eps)))
    if any(g is None for g in grads):
        fail("No gradient reaches the score model's weights through your dsm_loss: compute it with TensorFlow "
             "operations on the model's output (no NumPy, no .numpy()).")
    expect_close(np.asarray(loss).reshape(()), ref, "dsm_loss(...) inside a tf.function", rtol=1e-3, atol=1e-5)
    # the reference gradient, by the chain rule: d/dA of 1/2 mean |(x_noisy A + bias) + eps|^2
    x_noisy = x + s * eps
    r = x_noisy @ A + bias + eps
    expect_close(grads[0], x_noisy.T @ r / n, "the gradient of dsm_loss with respect to the model's weights",
                 rtol=1e-3, atol=1e-4)


check_dsm_loss = make_check("dsm_loss", _test_dsm_loss)
