"""Chapter 6's diffusion code, run from the chapter's own model-definition cells."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from conftest import ROOT, model_cells


@pytest.fixture(scope="module")
def chapter():
    return model_cells.load(ROOT / "chapters" / "06_diffusion.ipynb")


def test_q_sample_is_the_closed_form(chapter):
    betas = np.linspace(1e-4, 0.02, 50)
    diffusion = chapter["Diffusion"](chapter["build_mlp_denoiser"](), betas)
    rng = np.random.default_rng(0)
    x0, eps = rng.normal(size=(6, 2)).astype("float32"), rng.normal(size=(6, 2)).astype("float32")
    t = np.array([0, 1, 10, 20, 30, 49])
    a = np.cumprod(1 - betas)[t][:, None]
    np.testing.assert_allclose(np.asarray(diffusion.q_sample(x0, t, eps)), np.sqrt(a) * x0 + np.sqrt(1 - a) * eps,
                               rtol=1e-5, atol=1e-5)


def test_unet_keeps_the_image_shape_and_uses_the_timestep(chapter):
    keras.utils.set_random_seed(0)
    unet = chapter["build_unet"](channels=(8, 16), emb_dim=16)
    out_layer = unet.layers[-1]
    out_layer.kernel.assign(np.random.default_rng(0).normal(size=out_layer.kernel.shape).astype("float32"))
    x = np.random.default_rng(1).normal(size=(3, 28, 28, 1)).astype("float32")
    early, late = unet([x, np.zeros(3, "int32")]), unet([x, np.full(3, 500, "int32")])
    assert early.shape == (3, 28, 28, 1)
    assert np.max(np.abs(np.asarray(early) - np.asarray(late))) > 1e-4


def test_samplers_with_the_ideal_denoiser_recover_a_gaussian(chapter):
    """For data N(m, s^2 I) the best noise predictor is known; both samplers must then produce N(m, s^2 I)."""
    m, s, T = 1.5, 0.5, 200
    betas = np.linspace(1e-4, 0.05, T)
    alpha_bar = np.cumprod(1 - betas).astype("float32")

    class Ideal(keras.layers.Layer):
        def call(self, inputs):
            x, t = inputs
            a = keras.ops.take(alpha_bar, keras.ops.cast(t, "int32"))[:, None]  # a Layer casts inputs to float
            return keras.ops.sqrt(1 - a) * (x - keras.ops.sqrt(a) * m) / (a * s**2 + 1 - a)

    diffusion = chapter["Diffusion"](Ideal(), betas)
    ddpm, ddim = chapter["make_samplers"](diffusion)
    for x in (ddpm((4000, 1), seed=1), ddim((4000, 1), steps=40, seed=1)):
        assert abs(x.mean() - m) < 0.05 and abs(x.std() - s) < 0.05, (x.mean(), x.std())
