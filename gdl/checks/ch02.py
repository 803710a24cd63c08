"""Checks for the Chapter 2 exercises (``exercises/02_autoencoders.ipynb``).

- ``check_build_autoencoder(f)``: ``f(input_dim, hidden_dims, code_dim)`` returns a Keras model:
  Dense(h, relu) for each h in hidden_dims, a linear Dense(code_dim) code, the mirror image of the
  encoder, and a Dense(input_dim, sigmoid) output.
- ``check_reconstruction_loss(f)``: ``f(x, x_hat)`` returns the binary cross-entropy of each example,
  summed over its pixels (shape (n,)), finite even where x_hat is exactly 0 or 1.
- ``check_anomaly_score(f)``: ``f(autoencoder, x)`` returns each example's mean squared reconstruction
  error (shape (n,)).
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check


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


def _test_build_autoencoder(f):
    import keras

    rng = np.random.default_rng()
    input_dim = int(rng.integers(20, 60))
    hidden = sorted(rng.choice(np.arange(5, 19), size=int(rng.integers(1, 3)), replace=False).tolist(), reverse=True)
    code_dim = int(rng.integers(2, 5))
    model = f(input_dim, list(hidden), code_dim)
    if not isinstance(model, keras.Model):
        fail(f"build_autoencoder should return a keras.Model, got {type(model).__name__}.")
    call = f"build_autoencoder({input_dim}, {hidden}, {code_dim})"
    x = rng.uniform(0, 1, size=(7, input_dim)).astype("float32")
    out = expect_shape(np.asarray(model(x)), (7, input_dim), f"the output of {call} for 7 inputs")
    expect_finite(out, "the model's output")
    dense = _dense_layers(model)
    units = [layer.units for layer in dense]
    expected = hidden + [code_dim] + hidden[::-1] + [input_dim]
    if units != expected:
        if code_dim not in units:
            fail(f"{call}: no Dense layer has code_dim = {code_dim} units; the bottleneck is the code layer.")
        if units == hidden + [code_dim] + hidden + [input_dim] and hidden != hidden[::-1]:
            fail(f"{call}: the decoder's layers have {hidden} units; it should mirror the encoder: {hidden[::-1]}.")
        fail(f"{call}: the Dense layers have {units} units, expected {expected}.")
    names = [_activation_name(layer) for layer in dense]
    n = len(hidden)
    if names[-1] != "sigmoid":
        fail(f"the output layer has activation '{names[-1]}': use 'sigmoid' so outputs lie in [0, 1] like pixels.")
    if names[n] != "linear":
        fail(f"the code layer has activation '{names[n]}': leave it linear (no activation) so codes can be any real "
             "value (a relu code can get stuck at 0).")
    bad = [i for i in list(range(n)) + list(range(n + 1, 2 * n + 1)) if names[i] != "relu"]
    if bad:
        fail(f"Dense layer {bad[0]} ({units[bad[0]]} units) has activation '{names[bad[0]]}'; the hidden layers use "
             "'relu'.")
    expected_params = sum(a * b + b for a, b in zip([input_dim] + expected[:-1], expected))
    if model.count_params() != expected_params:
        fail(f"the model has {model.count_params()} parameters, expected {expected_params}: "
             "use only the Dense layers of the specification.")
    big = np.asarray(model(rng.normal(0, 30, size=(50, input_dim)).astype("float32")))
    if big.min() < 0 or big.max() > 1:
        fail("some outputs lie outside [0, 1]: the model's output must be the sigmoid layer's output.")


def _bce(x, x_hat):
    x_hat = np.clip(x_hat, 1e-7, 1 - 1e-7)
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(axis=1)


def _test_reconstruction_loss(f):
    rng = np.random.default_rng()
    for shape in [(int(rng.integers(3, 9)), int(rng.integers(20, 50))), (int(rng.integers(3, 9)), 6, 7)]:
        x = (rng.uniform(size=shape) < 0.4).astype("float32")
        if x.sum() == 0:
            x.flat[0] = 1.0
        x_hat = rng.uniform(0.05, 0.95, size=shape).astype("float32")
        n, d = shape[0], int(np.prod(shape[1:]))
        what = f"reconstruction_loss(x, x_hat) for x of shape {shape}"
        out = expect_shape(f(x, x_hat), (n,), what)
        expect_finite(out, what)
        ref = _bce(x, x_hat)
        if np.allclose(out, ref, rtol=1e-4, atol=1e-4):
            continue
        if np.allclose(out, -ref, rtol=1e-4, atol=1e-4):
            fail("your loss is negative: the cross-entropy is MINUS the sum of x log x_hat + (1 - x) log(1 - x_hat).")
        if np.allclose(out, ref / d, rtol=1e-4, atol=1e-5):
            fail("you averaged over the pixels: sum the cross-entropy over each example's pixels instead.")
        only_ones = -(x * np.log(x_hat)).reshape(n, -1).sum(1)
        if np.allclose(out, only_ones, rtol=1e-4, atol=1e-4):
            fail("the term (1 - x) log(1 - x_hat) is missing: pixels that are 0 must cost something too.")
        if np.allclose(out, ((x - x_hat) ** 2).reshape(n, -1).sum(1), rtol=1e-4, atol=1e-4):
            fail("you computed the squared error; use the binary cross-entropy.")
        expect_close(out, ref, what, rtol=1e-4, atol=1e-4,
                     hint="Compute -sum(x log x_hat + (1 - x) log(1 - x_hat)) over all pixels of each example.")
    x = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype="float32")
    edge = as_array(f(x, np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 0.5]], dtype="float32")),
                    "reconstruction_loss for x_hat with values exactly 0 and 1")
    if not np.all(np.isfinite(edge)):
        fail("for x_hat exactly 0 or 1 your loss is infinite or NaN: clip x_hat to [1e-7, 1 - 1e-7] before the log.")


class _FakeAutoencoder:
    """Stands in for a trained model: a fixed affine map, callable and with ``predict``."""

    def __init__(self, rng, d):
        self.a = rng.uniform(0.3, 0.9)
        self.b = rng.uniform(0.05, 0.2, size=d).astype("float32")

    def __call__(self, x, training=False):
        x = np.asarray(x, dtype="float32")
        return self.a * x + self.b.reshape(x.shape[1:])

    def predict(self, x, verbose=None, batch_size=None, **kwargs):
        return self(x)


def _test_anomaly_score(f):
    rng = np.random.default_rng()
    for shape in [(int(rng.integers(5, 15)), int(rng.integers(20, 60))), (int(rng.integers(5, 15)), 5, 6)]:
        model = _FakeAutoencoder(rng, int(np.prod(shape[1:])))
        x = rng.uniform(0, 1, size=shape).astype("float32")
        what = f"anomaly_score(autoencoder, x) for x of shape {shape}"
        out = expect_shape(f(model, x), (shape[0],), what)
        expect_finite(out, what)
        err = (np.asarray(model(x)) - x).reshape(shape[0], -1)
        ref = np.mean(err**2, axis=1)
        if np.allclose(out, ref, rtol=1e-5, atol=1e-7):
            continue
        if np.allclose(out, np.sum(err**2, axis=1), rtol=1e-5):
            fail("you summed the squared errors: take their mean over each example's pixels.")
        if np.allclose(out, np.mean(np.abs(err), axis=1), rtol=1e-5):
            fail("you took the absolute error: the score is the mean SQUARED error.")
        if np.allclose(out, np.sqrt(ref), rtol=1e-5):
            fail("you took the square root (an RMSE): the score is the mean squared error itself.")
        expect_close(out, ref, what, rtol=1e-5, atol=1e-7,
                     hint="Reconstruct x with the autoencoder, then average (x_hat - x)^2 over each example's pixels.")


check_build_autoencoder = make_check("build_autoencoder", _test_build_autoencoder)
check_reconstruction_loss = make_check("reconstruction_loss", _test_reconstruction_loss)
check_anomaly_score = make_check("anomaly_score", _test_anomaly_score)
