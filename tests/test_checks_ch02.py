"""Chapter 2 checks: the reference solutions pass; wrong ones fail with a specific message."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import layers, ops

from gdl.checks import ch02

# ----------------------------------------------------------------------------- reference solutions


def build(input_dim, hidden_dims, code_dim, code_activation=None, out_activation="sigmoid", mirror=True,
          hidden_activation="relu", code_units=None, extra=False):
    inputs = keras.Input(shape=(input_dim,))
    h = inputs
    for units in hidden_dims:
        h = layers.Dense(units, activation=hidden_activation)(h)
    h = layers.Dense(code_units or code_dim, activation=code_activation)(h)
    for units in hidden_dims[::-1] if mirror else hidden_dims:
        h = layers.Dense(units, activation=hidden_activation)(h)
    if extra:
        h = layers.Dense(input_dim, activation="relu")(h)
    outputs = layers.Dense(input_dim, activation=out_activation)(h)
    return keras.Model(inputs, outputs)


def build_nested(input_dim, hidden_dims, code_dim):
    """Encoder and decoder as separate models, composed: must be accepted too."""
    enc = keras.Sequential([keras.Input(shape=(input_dim,))] + [layers.Dense(u, activation="relu") for u in hidden_dims]
                           + [layers.Dense(code_dim)])
    dec = keras.Sequential([keras.Input(shape=(code_dim,))]
                           + [layers.Dense(u, activation="relu") for u in hidden_dims[::-1]]
                           + [layers.Dense(input_dim, activation="sigmoid")])
    x = keras.Input(shape=(input_dim,))
    return keras.Model(x, dec(enc(x)))


def bce(x, x_hat):
    x_hat = ops.clip(x_hat, 1e-7, 1 - 1e-7)
    per_pixel = -(x * ops.log(x_hat) + (1 - x) * ops.log(1 - x_hat))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=1)


def bce_numpy(x, x_hat):
    x_hat = np.clip(x_hat, 1e-7, 1 - 1e-7)
    return -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat)).reshape(len(x), -1).sum(1)


def score(autoencoder, x):
    x_hat = np.asarray(autoencoder.predict(x, verbose=0))
    return np.mean((x_hat - x) ** 2, axis=tuple(range(1, np.ndim(x))))


CASES = {
    "build_autoencoder": (ch02.check_build_autoencoder, [build, build_nested]),
    "reconstruction_loss": (ch02.check_reconstruction_loss, [bce, bce_numpy]),
    "anomaly_score": (ch02.check_anomaly_score, [score, lambda ae, x: np.mean(
        (np.asarray(ae(x)) - x).reshape(len(x), -1) ** 2, axis=1)]),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_passes_and_stub_is_incomplete(name):
    check, references = CASES[name]
    assert_references_pass_and_stub_is_incomplete(check, *references)


def flat_err(ae, x):
    return (np.asarray(ae(x)) - x).reshape(len(x), -1)


WRONG = [
    # build_autoencoder
    (ch02.check_build_autoencoder, lambda i, h, c: "model", "should return a keras.Model"),
    (ch02.check_build_autoencoder, lambda i, h, c: build(i, h, c, out_activation=None), "use 'sigmoid'"),
    (ch02.check_build_autoencoder, lambda i, h, c: build(i, h, c, code_activation="relu"), "leave it linear"),
    (ch02.check_build_autoencoder, lambda i, h, c: build(i, h, c, code_units=c + 1), "no Dense layer has code_dim"),
    (ch02.check_build_autoencoder, lambda i, h, c: build(i, h + [4], c), "expected"),
    (ch02.check_build_autoencoder, lambda i, h, c: build(i, h, c, hidden_activation="tanh"), "use 'relu'"),
    (ch02.check_build_autoencoder, lambda i, h, c: build(i, h, c, extra=True), "units, expected"),
    (ch02.check_build_autoencoder,
     lambda i, h, c: keras.Sequential([keras.Input(shape=(i,)), layers.Dense(i, activation="sigmoid")]),
     "the bottleneck is the code layer"),
    # reconstruction_loss
    (ch02.check_reconstruction_loss, lambda x, xh: np.mean(bce_numpy(x, xh)), "has shape ()"),
    (ch02.check_reconstruction_loss, lambda x, xh: -bce_numpy(x, xh), "your loss is negative"),
    (ch02.check_reconstruction_loss, lambda x, xh: bce_numpy(x, xh) / np.prod(np.shape(x)[1:]),
     "averaged over the pixels"),
    (ch02.check_reconstruction_loss, lambda x, xh: -(x * np.log(xh)).reshape(len(x), -1).sum(1),
     "(1 - x) log(1 - x_hat)"),
    (ch02.check_reconstruction_loss, lambda x, xh: ((x - xh) ** 2).reshape(len(x), -1).sum(1), "squared error"),
    (ch02.check_reconstruction_loss,
     lambda x, xh: -(x * np.log(xh) + (1 - x) * np.log(1 - xh)).reshape(len(x), -1).sum(1), "clip x_hat"),
    (ch02.check_reconstruction_loss, lambda x, xh: np.full(len(x), 5.0), "expected"),
    # anomaly_score
    (ch02.check_anomaly_score, lambda ae, x: np.mean(flat_err(ae, x) ** 2), "has shape ()"),
    (ch02.check_anomaly_score, lambda ae, x: np.sum(flat_err(ae, x) ** 2, axis=1), "summed the squared errors"),
    (ch02.check_anomaly_score, lambda ae, x: np.mean(np.abs(flat_err(ae, x)), axis=1), "absolute error"),
    (ch02.check_anomaly_score, lambda ae, x: np.sqrt(np.mean(flat_err(ae, x) ** 2, axis=1)), "square root"),
    (ch02.check_anomaly_score, lambda ae, x: np.mean(np.reshape(x, (len(x), -1)) ** 2, axis=1), "Reconstruct x"),
    (ch02.check_anomaly_score, lambda ae, x: np.asarray(ae(x)), "has shape"),
]


@pytest.mark.parametrize("check, wrong, message", WRONG)
def test_wrong_implementations_fail_with_a_specific_message(check, wrong, message):
    assert_fails_with(check, wrong, message)
