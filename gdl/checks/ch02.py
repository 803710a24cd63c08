"""Checks for the Chapter 2 exercises (``exercises/02_autoencoders.ipynb``).

- ``check_build_autoencoder(f)``: ``f(input_dim, hidden_dims, code_dim)`` returns a Keras model:
  Dense(h, relu) for each h in hidden_dims, a linear Dense(code_dim) code, the mirror image of the
  encoder, and a Dense(input_dim, sigmoid) output. Tried with one and with two hidden layers in every run;
  the model's output is compared with the specification's computed from its own weights.
- ``check_reconstruction_loss(f)``: ``f(x, x_hat)`` returns the binary cross-entropy of each example,
  summed over its pixels (shape (n,)), for (n, d) and (n, height, width) batches of binary and grey pixels,
  finite and right where x_hat is exactly 0 or 1.
- ``check_pca_reconstruct(f)``: ``f(x_train, x, k)`` returns x reconstructed from the top k principal
  components of x_train (centred by x_train's mean), k = 1 and several.
- ``check_roc_auc(f)``: ``f(normal, anomalous)`` returns the ROC AUC of two score arrays (ties count
  one half), on overlapping, tied, separable (both ways) and all-equal scores.
- ``check_anomaly_score(f)``: ``f(autoencoder, x)`` returns each example's mean squared reconstruction
  error (shape (n,)), for (n, d) and (n, height, width) batches.
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, first_match, make_check, new_rng


def _per_example(value, n, shape, what):
    """The learner's (n,) output as an array; a specific message for the usual wrong shapes."""
    arr = as_array(value, what)
    if arr.shape == (n,):
        return arr
    if arr.shape == ():
        fail(f"{what} is a single number: return one value per example, shape ({n},), not the batch's mean or sum.")
    if arr.shape == tuple(shape[:-1]) and len(shape) > 2:
        fail(f"{what} has shape {arr.shape}: you reduced only the last axis; reduce every axis but the first "
             f"(flatten each example first), giving shape ({n},).")
    if arr.shape == tuple(shape[1:]) or arr.shape == (int(np.prod(shape[1:])),):
        fail(f"{what} has shape {arr.shape}: you reduced over the examples (axis 0); reduce over each example's "
             f"pixels instead, giving shape ({n},).")
    fail(f"{what} has shape {arr.shape}, expected ({n},).")


# ----------------------------------------------------------------------------- build_autoencoder


def _dense_layers(model):
    """The Dense layers of a model in order, looking inside nested models."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(_dense_layers(layer))
    return found


def _activation_name(layer):
    return getattr(layer.activation, "__name__", str(layer.activation))


def _forward(x, weights):
    """The specification's output computed from the Dense layers' weights: relu, linear code, relu, sigmoid."""
    h, code = x.astype("float64"), len(weights) // 2 - 1
    for i, (kernel, bias) in enumerate(weights):
        h = h @ kernel + bias
        if i == len(weights) - 1:
            h = 1 / (1 + np.exp(-h))
        elif i != code:
            h = np.maximum(h, 0)
    return h


def _test_one_autoencoder(f, rng, input_dim, hidden, code_dim):
    import keras

    call = f"build_autoencoder({input_dim}, {hidden}, {code_dim})"
    model = f(input_dim, list(hidden), code_dim)
    if not isinstance(model, keras.Model):
        fail(f"{call} should return a keras.Model, got {type(model).__name__}.")
    x = rng.uniform(0, 1, size=(7, input_dim)).astype("float32")
    try:
        out = np.asarray(model(x))
    except Exception as err:
        fail(f"{call} cannot be called on a batch of shape (7, {input_dim}): {type(err).__name__}: "
             f"{str(err)[:300]}")
    expect_shape(out, (7, input_dim), f"the output of {call} for 7 inputs")
    dense = _dense_layers(model)
    units = [layer.units for layer in dense]
    expected = hidden + [code_dim] + hidden[::-1] + [input_dim]
    if units != expected:
        if code_dim not in units:
            fail(f"{call}: no Dense layer has code_dim = {code_dim} units; the bottleneck is the code layer.")
        if units == hidden + [code_dim] + hidden + [input_dim]:
            fail(f"{call}: the decoder's layers have {hidden} units; it should mirror the encoder: {hidden[::-1]}.")
        fail(f"{call}: the Dense layers have {units} units, expected {expected}.")
    expected_params = sum(a * b + b for a, b in zip([input_dim] + expected[:-1], expected))
    if model.count_params() != expected_params:
        fail(f"{call}: the model has {model.count_params()} parameters, expected {expected_params}: use only the "
             "Dense layers of the specification (each with its bias).")
    # Weights of our own, so that every unit is sometimes positive and sometimes negative before its activation.
    weights = []
    for layer in dense:
        fan_in, units_out = layer.kernel.shape
        weights.append((rng.normal(0, 1.5 / np.sqrt(fan_in), size=(fan_in, units_out)).astype("float32"),
                        rng.normal(0, 0.5, size=units_out).astype("float32")))
        layer.set_weights(list(weights[-1]))
    x = np.concatenate([rng.uniform(0, 1, size=(40, input_dim)), rng.normal(0, 3, size=(40, input_dim))])
    out = as_array(model(x.astype("float32")), f"the output of {call}")
    expect_finite(out, f"the output of {call}")
    ref = _forward(x.astype("float32"), weights)
    if np.allclose(out, ref, rtol=1e-4, atol=1e-5):
        return
    names = [_activation_name(layer) for layer in dense]
    n = len(hidden)
    if out.min() < 0 or out.max() > 1 or names[-1] not in ("sigmoid", "linear"):
        fail(f"{call}: the output layer has activation '{names[-1]}' and outputs from {out.min():.3g} to "
             f"{out.max():.3g}: use 'sigmoid' so that outputs lie in [0, 1] like pixels.")
    if names[n] != "linear":
        fail(f"{call}: the code layer has activation '{names[n]}': leave it linear (no activation) so codes can be "
             "any real value (a relu code can get stuck at 0).")
    bad = [i for i in list(range(n)) + list(range(n + 1, 2 * n + 1)) if names[i] != "relu"]
    if bad:
        after = " and is not followed by a ReLU" if names[bad[0]] == "linear" else ""
        fail(f"{call}: Dense layer {bad[0]} ({units[bad[0]]} units) has activation '{names[bad[0]]}'{after}; the "
             "hidden layers use 'relu'.")
    if names[-1] != "sigmoid":
        fail(f"{call}: the output Dense layer has no activation and the outputs are not sigmoid(Dense(...)): use "
             "Dense(input_dim, activation='sigmoid').")
    expect_close(out, ref, f"the output of {call}", rtol=1e-4, atol=1e-5,
                 hint="The model should be exactly the Dense layers of the specification, one after the other, with "
                      "no other activation or layer in between.")


def _test_build_autoencoder(f):
    rng = new_rng()
    for depth in (1, 2):  # one and several hidden layers in every run
        input_dim, code_dim = int(rng.integers(20, 60)), int(rng.integers(2, 5))
        hidden = sorted(rng.choice(np.arange(5, 19), size=depth, replace=False).tolist(), reverse=True)
        _test_one_autoencoder(f, rng, input_dim, hidden, code_dim)


# ----------------------------------------------------------------------------- reconstruction_loss


_HIGH32 = float(np.float32(1 - 1e-7))  # 1 - 1e-7 as float32 rounds it: a clip in float32 uses this bound


def _bce(x, x_hat, low=1e-7, high=1 - 1e-7):
    x, x_hat = np.asarray(x, "float64"), np.clip(np.asarray(x_hat, "float64"), low, high)
    with np.errstate(all="ignore"):
        return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(axis=1)


def _loss_inputs(rng, shape):
    """Binary and grey pixels (the notebook scores grey MNIST digits), predictions from 0.001 to 0.999."""
    x = rng.uniform(size=shape).astype("float32")
    binary = rng.uniform(size=shape) < 0.5
    x[binary] = (x[binary] < 0.4).astype("float32")
    x.flat[:2] = [1.0, 0.0]
    x_hat = rng.uniform(0.05, 0.95, size=shape).astype("float32")
    pushed = rng.choice(x_hat.size, size=4, replace=False)
    x_hat.flat[pushed] = [1e-3, 1 - 1e-3, 0.01, 0.99]
    return x, x_hat


def _test_reconstruction_loss(f):
    rng = new_rng()
    for shape in [(int(rng.integers(3, 9)), int(rng.integers(20, 50))), (int(rng.integers(3, 9)), 6, 7)]:
        x, x_hat = _loss_inputs(rng, shape)
        n, d = shape[0], int(np.prod(shape[1:]))
        what = f"reconstruction_loss(x, x_hat) for x of shape {shape}"
        out = _per_example(f(x, x_hat), n, shape, what)
        expect_finite(out, what)
        ref = _bce(x, x_hat)
        if np.allclose(out, ref, rtol=1e-4, atol=1e-4):
            continue
        flat_x, flat_x_hat = x.reshape(n, -1).astype("float64"), x_hat.reshape(n, -1).astype("float64")
        first_match(out, [
            (-ref, "your loss is negative: the cross-entropy is MINUS the sum of x log x_hat + (1 - x) "
             "log(1 - x_hat)."),
            (ref / d, "you averaged over the pixels: sum the cross-entropy over each example's pixels instead."),
            (-(flat_x * np.log(flat_x_hat)).sum(1), "the term (1 - x) log(1 - x_hat) is missing: pixels that are 0 "
             "must cost something too."),
            (-((1 - flat_x) * np.log(1 - flat_x_hat)).sum(1), "the term x log x_hat is missing: pixels that are 1 "
             "must cost something too."),
            (((flat_x - flat_x_hat) ** 2).sum(1), "you computed the squared error; use the binary cross-entropy."),
            (-np.where(flat_x > 0.5, np.log(flat_x_hat), np.log(1 - flat_x_hat)).sum(1), "you treated x as binary "
             "(choosing log x_hat or log(1 - x_hat) per pixel): the notebook scores grey digits, whose pixels lie "
             "between 0 and 1; use x log x_hat + (1 - x) log(1 - x_hat) for every pixel."),
            (_bce(flat_x_hat, flat_x, high=_HIGH32), "you swapped the arguments: x is the data and x_hat the "
             "reconstruction; the loss is -sum(x log x_hat + (1 - x) log(1 - x_hat))."),
            (_bce(flat_x_hat, flat_x), "you swapped the arguments: x is the data and x_hat the reconstruction; the "
             "loss is -sum(x log x_hat + (1 - x) log(1 - x_hat))."),
            (ref / np.log(2), "you used log base 2 (bits); use the natural logarithm (nats)."),
            (ref / np.log(10), "you used log base 10; use the natural logarithm (nats)."),
        ], rtol=1e-4, atol=1e-4)
        expect_close(out, ref, what, rtol=1e-4, atol=1e-4,
                     hint="Compute -sum(x log x_hat + (1 - x) log(1 - x_hat)) over all pixels of each example.")
    # Predictions of exactly 0 and 1: row 0 gets two pixels confidently right and two confidently wrong;
    # row 1 gets four right. With x_hat clipped to [1e-7, 1 - 1e-7] a wrong pixel costs -log(1e-7) = 16.1 nats
    # (15.9 when 1 - 1e-7 is rounded to float32), a right one almost nothing.
    x = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]], dtype="float32")
    x_hat = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]], dtype="float32")
    what = "reconstruction_loss(x, x_hat) for x_hat with values exactly 0 and 1"
    edge = _per_example(f(x, x_hat), 2, x.shape, what)
    if not np.all(np.isfinite(edge)):
        fail("for x_hat exactly 0 or 1 your loss is infinite or NaN: clip x_hat to [1e-7, 1 - 1e-7] before the log.")
    low, high = 2 * -np.log(1 - _HIGH32) - 1e-3, 2 * -np.log(1e-7) + 1e-3
    if not low <= edge[0] <= high or abs(edge[1]) > 1e-4:
        fail(f"{what}: your losses are {np.round(edge, 4)}, expected about [32.2, 0]: a pixel predicted exactly "
             "wrong costs -log(1e-7) = 16.1 nats once x_hat is clipped to [1e-7, 1 - 1e-7], a pixel predicted "
             "exactly right costs nothing; clip with these bounds (not another margin, nor by adding a constant).")


# ----------------------------------------------------------------------------- anomaly_score


class _FakeAutoencoder:
    """Stands in for a trained Keras model: a fixed affine map. Like Keras, calling it returns a TensorFlow
    tensor and ``predict`` a NumPy array."""

    def __init__(self, rng, d):
        self.a = rng.uniform(0.3, 0.75)  # with b, reconstructions stay inside [0, 1] as a sigmoid's do
        self.b = rng.uniform(0.05, 0.2, size=d).astype("float32")

    def reconstruct(self, x):
        x = np.asarray(x, dtype="float32")
        return self.a * x + self.b.reshape(x.shape[1:])

    def __call__(self, x, training=False):
        import tensorflow as tf

        return tf.constant(self.reconstruct(x))

    def predict(self, x, verbose=None, batch_size=None, **kwargs):
        return self.reconstruct(x)


def _test_anomaly_score(f):
    rng = new_rng()
    for shape in [(int(rng.integers(5, 15)), int(rng.integers(20, 60))), (int(rng.integers(5, 15)), 5, 6)]:
        model = _FakeAutoencoder(rng, int(np.prod(shape[1:])))
        x = rng.uniform(0, 1, size=shape).astype("float32")
        what = f"anomaly_score(autoencoder, x) for x of shape {shape}"
        out = _per_example(f(model, x), shape[0], shape, what)
        expect_finite(out, what)
        err = (model.reconstruct(x) - x).reshape(shape[0], -1).astype("float64")
        ref = np.mean(err**2, axis=1)
        if np.allclose(out, ref, rtol=1e-5, atol=1e-7):
            continue
        flat_x = x.reshape(shape[0], -1).astype("float64")
        first_match(out, [
            (np.sum(err**2, axis=1), "you summed the squared errors: take their mean over each example's pixels."),
            (np.mean(np.abs(err), axis=1), "you took the absolute error: the score is the mean SQUARED error."),
            (np.sqrt(ref), "you took the square root (an RMSE): the score is the mean squared error itself."),
            (np.mean(err, axis=1), "you averaged the signed errors, so that too-bright and too-dark pixels cancel: "
             "square each error before averaging."),
            (-np.mean(err, axis=1), "you averaged the signed errors, so that too-bright and too-dark pixels cancel: "
             "square each error before averaging."),
            (np.mean(flat_x**2, axis=1), "your score does not use the autoencoder: reconstruct x with it first, then "
             "average (x_hat - x)^2."),
            (_bce(flat_x, flat_x + err) / flat_x.shape[1], "you computed the cross-entropy: the score is the mean "
             "squared error."),
            (_bce(flat_x, flat_x + err), "you computed the cross-entropy: the score is the mean squared error."),
        ], rtol=1e-5, atol=1e-7)
        expect_close(out, ref, what, rtol=1e-5, atol=1e-7,
                     hint="Reconstruct x with the autoencoder, then average (x_hat - x)^2 over each example's pixels.")


check_build_autoencoder = make_check("build_autoencoder", _test_build_autoencoder, points=2)
check_reconstruction_loss = make_check("reconstruction_loss", _test_reconstruction_loss)
check_anomaly_score = make_check("anomaly_score", _test_anomaly_score)


# ----------------------------------------------------------------------------- roc_auc


def _auc(normal, anomalous):
    normal, anomalous = np.asarray(normal, "float64"), np.asarray(anomalous, "float64")
    greater = (anomalous[:, None] > normal[None, :]).mean()
    ties = (anomalous[:, None] == normal[None, :]).mean()
    return greater + 0.5 * ties


def _test_roc_auc(f):
    rng = new_rng()
    cases = []
    # separable in one direction, then overlapping, with ties (rounded scores), unequal sizes every run
    n, m = int(rng.integers(200, 300)), int(rng.integers(101, 150))  # fine fractions: no chance ties of formulas
    cases.append(("overlapping scores", rng.normal(0, 1, n), rng.normal(0.8, 1, m)))
    rounded_n, rounded_m = np.round(rng.normal(0, 1, n), 1), np.round(rng.normal(0.5, 1, m), 1)
    rounded_m[:3] = rounded_n[:3]  # some exact ties
    cases.append(("scores with ties", rounded_n, rounded_m))
    cases.append(("every anomaly scoring higher", rng.uniform(0, 1, n), rng.uniform(2, 3, m)))
    cases.append(("every anomaly scoring lower", rng.uniform(2, 3, n), rng.uniform(0, 1, m)))
    cases.append(("all scores equal", np.full(n, 0.3), np.full(m, 0.3)))
    for what, normal, anomalous in cases:
        call = f"roc_auc(normal, anomalous) with {len(normal)} normal and {len(anomalous)} anomalous {what}"
        value = as_array(f(normal, anomalous), call)
        if value.shape != ():
            fail(f"{call} has shape {value.shape}: return one number, the area under the ROC curve.")
        ref = _auc(normal, anomalous)
        if abs(float(value) - ref) <= 1e-9:
            continue
        greater = (anomalous[:, None] > normal[None, :]).mean()
        geq = (anomalous[:, None] >= normal[None, :]).mean()
        first_match(value, [
            (greater, "ties are not counted: a pair with equal scores counts one half (the ROC curve's diagonal "
             "step)."),
            (geq, "ties count fully: a pair with equal scores counts one half, not one."),
            (1 - ref, "your AUC is 1 minus the right one: it is the probability that an ANOMALY scores higher than "
             "a normal example (high scores flag anomalies)."),
            ((anomalous[:, None] > normal[None, :]).sum() / (len(normal) + len(anomalous)), "divide the number of "
             "pairs won by the number of PAIRS, n_normal * n_anomalous."),
            ((anomalous[:, None] > normal[None, :]).sum() / len(normal) ** 2, "divide the number of pairs won by "
             "n_normal * n_anomalous, not n_normal squared."),
            ((anomalous[:, None] > normal[None, :]).sum(), "divide the number of pairs won by the number of pairs."),
            ((anomalous > np.median(normal)).mean(), "you compared the anomalies with one threshold (the median of "
             "the normal scores): compare every anomaly with every normal example, or integrate the ROC curve "
             "over all thresholds."),
            ((anomalous > normal.mean()).mean(), "you compared the anomalies with one threshold (the mean of the "
             "normal scores): compare every anomaly with every normal example, or integrate the ROC curve over "
             "all thresholds."),
        ], rtol=0, atol=1e-9)
        expect_close(value, ref, call, rtol=0, atol=1e-9,
                     hint="AUC = P(anomalous score > normal score) + 1/2 P(equal scores), over all pairs.")


check_roc_auc = make_check("roc_auc", _test_roc_auc)


# ----------------------------------------------------------------------------- pca_reconstruct


def _pca_basis(x_train, k, centre=True):
    mean = x_train.mean(0) if centre else np.zeros(x_train.shape[1])
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean, vt


def _pca_inputs(rng, n_train, n, d):
    """Data with distinct variances along random orthogonal directions, an offset mean far from 0."""
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scales = np.sort(rng.uniform(0.2, 1.0, d))[::-1] * np.geomspace(4, 0.5, d)

    def draw(m):
        return (rng.normal(size=(m, d)) * scales) @ basis.T

    offset = rng.uniform(1, 3, d)
    return draw(n_train) + offset, draw(n) + offset + rng.normal(0, 0.3, d)


def _pca_inputs_axes(rng, n_train, n, d):
    """Data whose principal directions are the coordinate axes, with variances INCREASING along them (the
    training covariance is diagonal up to rounding). np.linalg.eig returns the eigenvalues of such a matrix in
    the order of its diagonal, not sorted: an answer that takes its first k eigenvectors unsorted keeps the
    k directions of smallest variance here (on the rotated data above eig happens to sort them)."""
    scales = np.geomspace(0.5, 4, d) * rng.uniform(0.98, 1.02, d)  # neighbours at least 11% apart
    a = rng.normal(size=(n_train, d))
    q, _ = np.linalg.qr(a - a.mean(0))  # centred, exactly uncorrelated columns
    offset = rng.uniform(1, 3, d)
    return q * np.sqrt(n_train) * scales + offset, rng.normal(size=(n, d)) * scales + offset


def _test_pca_reconstruct(f):
    rng = new_rng()
    d = int(rng.integers(8, 20))
    problems = [(1, _pca_inputs), (int(rng.integers(2, d // 2)), _pca_inputs),  # one component and several
                (int(rng.integers(1, d // 2)), _pca_inputs_axes)]
    for k, inputs in problems:
        n_train, n = int(rng.integers(60, 120)), int(rng.integers(3, 8))  # n < d: a transpose shows
        x_train, x = inputs(rng, n_train, n, d)
        call = f"pca_reconstruct(x_train, x, k={k}) for x_train of shape {x_train.shape}, x of shape {x.shape}"
        out = as_array(f(x_train, x, k), call)
        if out.shape == (n, k):
            fail(f"{call} has shape {out.shape}: those are the codes (the projections on the k components); "
                 "map them back to the data space and add the mean: x_hat = mean + (x - mean) V_k V_k^T.")
        expect_shape(out, (n, d), call)
        expect_finite(out, call)
        mean, vt = _pca_basis(x_train, k)
        ref = mean + (x - mean) @ vt[:k].T @ vt[:k]
        if np.allclose(out, ref, rtol=1e-4, atol=1e-4):
            continue
        _, vt0 = _pca_basis(x_train, k, centre=False)
        mean_x, vt_x = _pca_basis(x, k) if n > k else (mean, vt)
        first_match(out, [
            (x @ vt0[:k].T @ vt0[:k], "you did not centre the data: subtract the training mean before the SVD "
             "and the projection, and add it back at the end."),
            ((x - mean) @ vt[:k].T @ vt[:k], "add the training mean back: x_hat = mean + (x - mean) V_k V_k^T."),
            (mean + (x - mean) @ vt[-k:].T @ vt[-k:], "you kept the k directions of SMALLEST variance: keep the "
             "top k (np.linalg.eigh sorts eigenvalues in ascending order, np.linalg.svd in descending, and "
             "np.linalg.eig does not sort them at all: sort them yourself, np.argsort(values)[::-1])."),
            (mean + (x - mean) @ vt[:k + 1].T @ vt[:k + 1], "you kept k + 1 components: keep exactly k."),
            (mean + (x - mean) @ vt[: max(k - 1, 0)].T @ vt[: max(k - 1, 0)], "you kept k - 1 components: keep "
             "exactly k."),
            (x.mean(0) + (x - x.mean(0)) @ vt[:k].T @ vt[:k], "you centred with the mean of x: use the mean of "
             "x_train, the data the PCA was fitted on, for both subtracting and adding back."),
            (mean_x + (x - mean_x) @ vt_x[:k].T @ vt_x[:k], "you fitted the PCA on x: fit it on x_train (the "
             "training images) and only reconstruct x with it."),
            (x, "you returned x unchanged: project it onto the top k principal directions."),
        ], rtol=1e-4, atol=1e-4)
        expect_close(out, ref, call, rtol=1e-4, atol=1e-4,
                     hint="x_hat = mean + (x - mean) V_k V_k^T, with V_k the top k right singular vectors of "
                          "x_train - mean (the eigenvectors of the k LARGEST eigenvalues of its covariance: "
                          "np.linalg.eig returns them unsorted).")


check_pca_reconstruct = make_check("pca_reconstruct", _test_pca_reconstruct)
