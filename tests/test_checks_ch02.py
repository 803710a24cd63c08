"""Chapter 2 checks: differently written correct answers pass; the mistakes learners make fail, each with its message.

CHECKS, REFERENCES and WRONG follow the convention of every tests/test_checks_chNN.py: the exercise's check,
its correct implementations, and (wrong implementation, a fragment of the message it must get).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import layers, ops

from gdl.checks import ch02

# ----------------------------------------------------------------------------- build_autoencoder


def build(input_dim, hidden_dims, code_dim, code_activation=None, out_activation="sigmoid", mirror=True,
          hidden_activation="relu", code_units=None, extra=False, use_bias=True):
    inputs = keras.Input(shape=(input_dim,))
    h = inputs
    for units in hidden_dims:
        h = layers.Dense(units, activation=hidden_activation, use_bias=use_bias)(h)
    h = layers.Dense(code_units or code_dim, activation=code_activation)(h)
    for units in hidden_dims[::-1] if mirror else hidden_dims:
        h = layers.Dense(units, activation=hidden_activation)(h)
    if extra:
        h = layers.Dense(input_dim, activation="relu")(h)
    outputs = layers.Dense(input_dim, activation=out_activation)(h)
    return keras.Model(inputs, outputs)


def build_nested(input_dim, hidden_dims, code_dim):
    """Encoder and decoder as separate Sequential models, composed."""
    enc = keras.Sequential([keras.Input(shape=(input_dim,))] + [layers.Dense(u, activation="relu") for u in hidden_dims]
                           + [layers.Dense(code_dim)])
    dec = keras.Sequential([keras.Input(shape=(code_dim,))]
                           + [layers.Dense(u, activation="relu") for u in hidden_dims[::-1]]
                           + [layers.Dense(input_dim, activation="sigmoid")])
    x = keras.Input(shape=(input_dim,))
    return keras.Model(x, dec(enc(x)))


def build_activation_layers(input_dim, hidden_dims, code_dim):
    """One Sequential model, with the activations as separate layers."""
    model = keras.Sequential([keras.Input(shape=(input_dim,))])
    for units in hidden_dims:
        model.add(layers.Dense(units))
        model.add(layers.ReLU())
    model.add(layers.Dense(code_dim))
    for units in reversed(hidden_dims):
        model.add(layers.Dense(units))
        model.add(layers.Activation("relu"))
    model.add(layers.Dense(input_dim))
    model.add(layers.Activation("sigmoid"))
    return model


def build_first_hidden_only(input_dim, hidden_dims, code_dim):  # used hidden_dims[0] only
    return build(input_dim, hidden_dims[:1], code_dim)


def build_relu_code_layer(input_dim, hidden_dims, code_dim):  # a separate ReLU after the code layer
    inputs = keras.Input(shape=(input_dim,))
    h = inputs
    for units in hidden_dims:
        h = layers.Dense(units, activation="relu")(h)
    h = layers.ReLU()(layers.Dense(code_dim)(h))
    for units in reversed(hidden_dims):
        h = layers.Dense(units, activation="relu")(h)
    return keras.Model(inputs, layers.Dense(input_dim, activation="sigmoid")(h))


def build_double_sigmoid(input_dim, hidden_dims, code_dim):  # sigmoid in the Dense layer and again after it
    model = build(input_dim, hidden_dims, code_dim)
    return keras.Model(model.inputs, layers.Activation("sigmoid")(model.outputs[0]))


# ----------------------------------------------------------------------------- reconstruction_loss


def bce(x, x_hat):
    x_hat = ops.clip(x_hat, 1e-7, 1 - 1e-7)
    per_pixel = -(x * ops.log(x_hat) + (1 - x) * ops.log(1 - x_hat))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=1)


def bce_numpy_float64(x, x_hat):
    x, x_hat = np.asarray(x, "float64"), np.clip(np.asarray(x_hat, "float64"), 1e-7, 1 - 1e-7)
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(1)


def bce_keras(x, x_hat):  # Keras's per-pixel cross-entropy (it clips to [1e-7, 1 - 1e-7] itself), summed
    per_pixel = ops.binary_crossentropy(x, x_hat)
    return ops.sum(per_pixel, axis=tuple(range(1, len(x.shape))))


def bce_binary_only(x, x_hat):  # picks one log per pixel: right only for binary x
    x_hat = np.clip(x_hat, 1e-7, 1 - 1e-7)
    return -np.where(x > 0.5, np.log(x_hat), np.log(1 - x_hat)).reshape(len(x), -1).sum(1)


def bce_unclipped(x, x_hat):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(1)


def bce_add_epsilon(x, x_hat):  # log(x_hat + 1e-3): finite, but a different loss near 0 and 1
    return -(x * np.log(x_hat + 1e-3) + (1 - x) * np.log(1 - x_hat + 1e-3)).reshape(len(x), -1).sum(1)


def bce_wide_clip(x, x_hat):  # clipped to [1e-3, 1 - 1e-3]: finite, but a confident mistake costs only 6.9 nats
    x_hat = np.clip(x_hat, 1e-3, 1 - 1e-3)
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(1)


def bce_last_axis(x, x_hat):  # summed over the last axis only: (n, h) for images
    return ops.sum(ops.binary_crossentropy(x, x_hat), axis=-1)


def bce_swapped(x, x_hat):  # the arguments of the cross-entropy swapped
    return bce(x_hat, x)


# ----------------------------------------------------------------------------- anomaly_score


def score(autoencoder, x):
    x_hat = np.asarray(autoencoder.predict(x, verbose=0))
    return np.mean((x_hat - x) ** 2, axis=tuple(range(1, np.ndim(x))))


def score_ops(autoencoder, x):
    error = ops.reshape(autoencoder(x) - x, (ops.shape(x)[0], -1))
    return ops.convert_to_numpy(ops.mean(ops.square(error), axis=1))


def flat_err(ae, x):
    return (np.asarray(ae(x)) - x).reshape(len(x), -1)


def score_tensor_reshape(ae, x):  # a Keras model returns a tensor, which has no .reshape
    return np.mean(((ae(x) - x).reshape(len(x), -1)) ** 2, axis=1)


# ----------------------------------------------------------------------------- roc_auc


def auc_pairs(normal, anomalous):
    diff = np.subtract.outer(anomalous, normal)
    return np.mean(diff > 0) + 0.5 * np.mean(diff == 0)


def auc_ranks(normal, anomalous):  # Mann-Whitney: average ranks of the anomalies, ties averaged
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([normal, anomalous]))
    n, m = len(normal), len(anomalous)
    return float((ranks[n:].sum() - m * (m + 1) / 2) / (n * m))


def auc_loop(normal, anomalous):
    won = 0.0
    for a in anomalous:
        for b in normal:
            won += 1.0 if a > b else 0.5 if a == b else 0.0
    return won / (len(normal) * len(anomalous))


def auc_trapezoid(normal, anomalous):  # integrates the ROC curve over all thresholds, ties as diagonal steps
    thresholds = np.unique(np.concatenate([normal, anomalous]))[::-1]
    hit_rate = [0.0] + [np.mean(anomalous >= t) for t in thresholds]
    false_alarm_rate = [0.0] + [np.mean(normal >= t) for t in thresholds]
    return float(np.trapezoid(hit_rate, false_alarm_rate))


# ----------------------------------------------------------------------------- pca_reconstruct


def pca_svd(x_train, x, k):
    mean = x_train.mean(axis=0)
    _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    return mean + (x - mean) @ vt[:k].T @ vt[:k]


def pca_eigh_float32(x_train, x, k):  # eigenvectors of the covariance, sorted by decreasing eigenvalue
    mean = x_train.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(x_train.T))
    top = vectors[:, np.argsort(values)[::-1][:k]].astype("float32")
    return (mean + (x - mean).astype("float32") @ top @ top.T).astype("float32")


def pca_eig(x_train, x, k, sort=True):  # np.linalg.eig of the covariance: sorted (right) or not (wrong)
    mean = x_train.mean(axis=0)
    values, vectors = np.linalg.eig(np.cov(x_train, rowvar=False))
    order = np.argsort(values.real)[::-1] if sort else np.arange(len(values))
    top = vectors[:, order[:k]].real
    return mean + (x - mean) @ top @ top.T


def pca_sklearn(x_train, x, k):
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k).fit(x_train)
    return pca.inverse_transform(pca.transform(x))


def pca_variant(x_train, x, k, centre=True, add_back=True, smallest=False, extra=0, own_mean=False,
                fit_on_x=False, codes=False):
    data = x if fit_on_x else x_train
    mean = data.mean(0) if centre else 0.0
    _, _, vt = np.linalg.svd(data - mean, full_matrices=False)
    v = vt[-k:] if smallest else vt[:k + extra]
    m = x.mean(0) if own_mean else mean
    z = (x - m) @ v.T
    if codes:
        return z
    return (m if add_back else 0.0) + z @ v


CHECKS = {
    "build_autoencoder": ch02.check_build_autoencoder,
    "reconstruction_loss": ch02.check_reconstruction_loss,
    "anomaly_score": ch02.check_anomaly_score,
    "roc_auc": ch02.check_roc_auc,
    "pca_reconstruct": ch02.check_pca_reconstruct,
}

REFERENCES = {
    "build_autoencoder": [build, build_nested, build_activation_layers],
    "reconstruction_loss": [bce, bce_numpy_float64, bce_keras],
    "anomaly_score": [score, score_ops],
    "roc_auc": [auc_pairs, auc_ranks, auc_loop, auc_trapezoid],
    "pca_reconstruct": [pca_svd, pca_eigh_float32, pca_sklearn, pca_eig],
}

WRONG = {
    "build_autoencoder": [
        (lambda i, h, c: build(i, h, c, out_activation=None), "use 'sigmoid'"),
        (lambda i, h, c: build(i, h, c, out_activation="softmax"), "has activation 'softmax'"),
        (lambda i, h, c: build(i, h, c, code_activation="relu"), "leave it linear"),
        (build_relu_code_layer, "expected"),
        (lambda i, h, c: build(i, h, c, code_units=c + 1), "no Dense layer has code_dim"),
        (lambda i, h, c: build(i, h, c, mirror=False), "it should mirror the encoder"),
        (build_first_hidden_only, "units, expected"),
        (lambda i, h, c: build(i, h + [4], c), "units, expected"),
        (lambda i, h, c: build(i, h, c, hidden_activation="tanh"), "the hidden layers use 'relu'"),
        (lambda i, h, c: build(i, h, c, hidden_activation="sigmoid"), "the hidden layers use 'relu'"),
        (lambda i, h, c: build(i, h, c, extra=True), "units, expected"),
        (lambda i, h, c: build(i, h, c, use_bias=False), "parameters, expected"),
        (build_double_sigmoid, "no other activation or layer in between"),
        (lambda i, h, c: build(784, h, c), "cannot be called on a batch"),  # the notebook's input size typed in
        (lambda i, h, c: "model", "should return a keras.Model"),
        (lambda i, h, c: keras.Sequential([keras.Input(shape=(i,)), layers.Dense(i, activation="sigmoid")]),
         "the bottleneck is the code layer"),
    ],
    "reconstruction_loss": [
        (lambda x, xh: np.mean(bce_numpy_float64(x, xh)), "is a single number"),
        (lambda x, xh: -bce_numpy_float64(x, xh), "your loss is negative"),
        (lambda x, xh: bce_numpy_float64(x, xh) / np.prod(np.shape(x)[1:]), "averaged over the pixels"),
        (lambda x, xh: ops.mean(ops.reshape(ops.binary_crossentropy(x, xh), (len(x), -1)), axis=1),
         "averaged over the pixels"),
        (lambda x, xh: -(x * np.log(xh)).reshape(len(x), -1).sum(1), "(1 - x) log(1 - x_hat)"),
        (lambda x, xh: ((x - xh) ** 2).reshape(len(x), -1).sum(1), "squared error"),
        (bce_binary_only, "you treated x as binary"),
        (bce_swapped, "you swapped the arguments"),
        (lambda x, xh: bce_numpy_float64(x, xh) / np.log(2), "log base 2"),
        (bce_last_axis, "you reduced only the last axis"),
        (lambda x, xh: ops.sum(ops.binary_crossentropy(x, xh), axis=0), "you reduced over the examples"),
        (bce_unclipped, "clip x_hat"),
        (bce_wide_clip, "a pixel predicted exactly wrong costs"),
        (bce_add_epsilon, "expected"),
        (lambda x, xh: np.full(len(x), 5.0), "expected"),
    ],
    "anomaly_score": [
        (lambda ae, x: np.mean(flat_err(ae, x) ** 2), "is a single number"),
        (lambda ae, x: np.sum(flat_err(ae, x) ** 2, axis=1), "summed the squared errors"),
        (lambda ae, x: np.mean(np.abs(flat_err(ae, x)), axis=1), "absolute error"),
        (lambda ae, x: np.sqrt(np.mean(flat_err(ae, x) ** 2, axis=1)), "square root"),
        (lambda ae, x: np.mean(flat_err(ae, x), axis=1), "square each error before averaging"),
        (lambda ae, x: np.mean(np.reshape(x, (len(x), -1)) ** 2, axis=1), "does not use the autoencoder"),
        (lambda ae, x: np.mean((np.asarray(ae(x)) - x) ** 2, axis=-1), "you reduced only the last axis"),
        (lambda ae, x: np.mean(flat_err(ae, x) ** 2, axis=0), "you reduced over the examples"),
        (lambda ae, x: ops.mean(ops.binary_crossentropy(x, ae(x)), axis=tuple(range(1, len(x.shape)))),
         "you computed the cross-entropy"),
        (score_tensor_reshape, "Your function raised AttributeError"),
        (lambda ae, x: np.asarray(ae(x)), "has shape"),
    ],
    "roc_auc": [
        (lambda n, a: auc_pairs(a, n), "1 minus the right one"),
        (lambda n, a: np.mean(np.subtract.outer(a, n) > 0), "ties are not counted"),
        (lambda n, a: np.mean(np.subtract.outer(a, n) >= 0), "ties count fully"),
        (lambda n, a: np.sum(np.subtract.outer(a, n) > 0) / (len(n) + len(a)), "number of PAIRS"),
        (lambda n, a: np.sum(np.subtract.outer(a, n) > 0) / len(n) ** 2, "not n_normal squared"),
        (lambda n, a: np.sum(np.subtract.outer(a, n) > 0), "divide the number of pairs won"),
        (lambda n, a: np.mean(a > np.median(n)), "one threshold"),
        (lambda n, a: np.mean(a > np.mean(n)), "one threshold"),
        (lambda n, a: np.subtract.outer(a, n) > 0, "return one number"),
        (lambda n, a: np.mean(a > np.max(n)), "expected"),  # only anomalies above every normal score
    ],
    "pca_reconstruct": [
        (lambda xt, x, k: pca_variant(xt, x, k, centre=False), "did not centre"),
        (lambda xt, x, k: pca_variant(xt, x, k, add_back=False), "add the training mean back"),
        (lambda xt, x, k: pca_variant(xt, x, k, smallest=True), "SMALLEST variance"),
        (lambda xt, x, k: pca_eig(xt, x, k, sort=False), "np.linalg.eig"),  # eigenvalues left unsorted
        (lambda xt, x, k: pca_variant(xt, x, k, extra=1), "k + 1 components"),
        (lambda xt, x, k: pca_variant(xt, x, k, extra=-1), "k - 1 components"),
        (lambda xt, x, k: pca_variant(xt, x, k, own_mean=True), "centred with the mean of x"),
        (lambda xt, x, k: pca_variant(xt, x, k, fit_on_x=True), "fitted the PCA on x"),
        (lambda xt, x, k: pca_variant(xt, x, k, codes=True), "those are the codes"),
        (lambda xt, x, k: x, "returned x unchanged"),
        (lambda xt, x, k: pca_svd(xt, x, 2), "keep exactly k"),  # the notebook's k typed in
        (lambda xt, x, k: pca_svd(xt, x, k).T, "has shape"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, wrong, message", [(name, *case) for name in WRONG for case in WRONG[name]])
def test_wrong_implementations_fail_with_a_specific_message(name, wrong, message):
    assert_fails_with(CHECKS[name], wrong, message)
