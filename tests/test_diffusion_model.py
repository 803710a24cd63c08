"""Chapter 6's diffusion code, run from the chapter's own model-definition cells."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
import tensorflow as tf
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


def _ideal(alpha_bar, m, s):
    class Ideal(keras.layers.Layer):
        def call(self, inputs):
            x, t = inputs
            a = keras.ops.take(alpha_bar, keras.ops.cast(t, "int32"))[:, None]  # a Layer casts inputs to float
            return keras.ops.sqrt(1 - a) * (x - keras.ops.sqrt(a) * m) / (a * s**2 + 1 - a)

    return Ideal()


@pytest.mark.parametrize("m, s, clip", [(1.5, 0.5, False), (0.4, 0.2, True)])
@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
def test_samplers_with_the_ideal_denoiser_recover_a_gaussian(chapter, m, s, clip, variance):
    """For data N(m, s^2 I) the best noise predictor is known; every sampler must then produce N(m, s^2 I)."""
    T = 200
    betas = np.linspace(1e-4, 0.05, T)
    alpha_bar = np.cumprod(1 - betas).astype("float32")
    diffusion = chapter["Diffusion"](_ideal(alpha_bar, m, s), betas)
    ddpm, ddim = chapter["make_samplers"](diffusion, clip=clip, variance=variance)
    samples = {"ddpm": ddpm((4000, 1), seed=1), "ddim": ddim((4000, 1), steps=40, seed=1),
               "ddim eta 1": ddim((4000, 1), steps=T, seed=1, eta=1.0)}  # big stochastic jumps lose variance
    for name, x in samples.items():
        assert x.dtype == np.float32
        assert abs(x.mean() - m) < 0.05 and abs(x.std() - s) < 0.05, (name, x.mean(), x.std())
    assert np.array_equal(samples["ddim"], ddim((4000, 1), steps=40, seed=1))  # eta = 0 is deterministic
    assert not np.array_equal(samples["ddim"], samples["ddim eta 1"])


def test_ddim_with_eta_1_and_every_step_is_the_ancestral_step_with_the_posterior_variance(chapter):
    """One step of each sampler from the same x_t and z: DDIM (eta = 1, tau = t - 1) equals DDPM with beta_tilde."""
    betas = np.linspace(1e-4, 0.05, 50)
    alpha_bar = np.cumprod(1 - betas).astype("float32")
    diffusion = chapter["Diffusion"](_ideal(alpha_bar, 0.3, 0.4), betas)
    ddpm, ddim = chapter["make_samplers"](diffusion, clip=False)
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 3)).astype("float32")
    for i in (1, 20, 49):
        one = ddpm.step(x, tf.constant(i), z)
        other = ddim.step(x, tf.constant(i), tf.constant(i - 1), z, tf.constant(1.0))
        np.testing.assert_allclose(np.asarray(one), np.asarray(other), rtol=1e-4, atol=1e-5)
    differs = chapter["make_samplers"](diffusion, clip=False, variance="beta")[0].step(x, tf.constant(1), z)
    assert np.max(np.abs(np.asarray(differs) - np.asarray(ddpm.step(x, tf.constant(1), z)))) > 1e-3


def test_cosine_schedule_reaches_zero_signal_and_starts_gently():
    import nbformat

    cell = next(c.source for c in nbformat.read(ROOT / "chapters" / "06_diffusion.ipynb", 4).cells
                if c.cell_type == "code" and "def cosine_betas" in c.source)
    namespace = {}
    exec(cell.split("schedules =")[0], {"np": np}, namespace)  # noqa: S102 (our own notebook)
    betas = namespace["cosine_betas"](1000)
    alpha_bar = np.cumprod(1 - betas)
    assert betas.shape == (1000,) and betas.max() == 0.999 and 0 < betas[0] < 1e-4
    assert alpha_bar[-1] < 1e-6 and 0.45 < alpha_bar[499] < 0.55  # half the signal variance left half-way


def _as_v(eps_layer, alpha_bar):
    """Turn a noise predictor into the equivalent v predictor, v = (eps - sqrt(1 - abar) x) / sqrt(abar)."""

    class AsV(keras.layers.Layer):
        def call(self, inputs):
            x, t = inputs
            a = keras.ops.take(alpha_bar, keras.ops.cast(t, "int32"))[:, None]
            return (eps_layer(inputs) - keras.ops.sqrt(1 - a) * x) / keras.ops.sqrt(a)

    return AsV()


@pytest.mark.parametrize("clip", [False, True])
def test_samplers_read_a_v_network_with_the_ideal_denoiser(chapter, clip):
    """The same ideal denoiser written as v: the samplers must turn it back into eps and x0_hat."""
    T, m, s = 200, 0.4, 0.3
    betas = np.linspace(1e-4, 0.05, T)
    alpha_bar = np.cumprod(1 - betas).astype("float32")
    diffusion = chapter["Diffusion"](_as_v(_ideal(alpha_bar, m, s), alpha_bar), betas, target="v")
    ddpm, ddim = chapter["make_samplers"](diffusion, clip=clip)
    samples = {"ddpm": ddpm((4000, 1), seed=2), "ddim": ddim((4000, 1), steps=40, seed=2)}
    for name, x in samples.items():
        assert abs(x.mean() - m) < 0.05 and abs(x.std() - s) < 0.05, (name, x.mean(), x.std())
    eps_diffusion = chapter["Diffusion"](_ideal(alpha_bar, m, s), betas)
    same = chapter["make_samplers"](eps_diffusion, clip=clip)[1]((4000, 1), steps=40, seed=2)
    np.testing.assert_allclose(samples["ddim"], same, atol=1e-3)  # the same ODE, read through v


@pytest.mark.parametrize("target", ["v", "eps"])
def test_v_target_is_sqrt_abar_eps_minus_sqrt_one_minus_abar_x0(chapter, target):
    """Data x0 = 0: then v = sqrt(abar) eps = sqrt(abar / (1 - abar)) x_t, and a network predicting exactly that has
    zero loss with target "v"; with target "eps" (the answer is eps = x_t / sqrt(1 - abar)) its loss is the mean of
    (1 - sqrt(abar_t))^2 over t, about 0.15 for this schedule."""
    T = 100
    betas = np.linspace(1e-4, 0.05, T)
    alpha_bar = np.cumprod(1 - betas).astype("float32")

    class PerfectV(keras.layers.Layer):
        def build(self, shapes):
            self.w = self.add_weight(shape=(), initializer="ones")

        def call(self, inputs):
            x, t = inputs
            a = keras.ops.take(alpha_bar, keras.ops.cast(t, "int32"))[:, None]
            return self.w * keras.ops.sqrt(a / (1 - a)) * x

    diffusion = chapter["Diffusion"](PerfectV(), betas, seed=0, target=target)
    diffusion.compile(optimizer=keras.optimizers.SGD(0.0))
    loss = diffusion.fit(np.zeros((256, 2), "float32"), batch_size=256, epochs=1, verbose=0).history["loss"][-1]
    assert (loss < 1e-8) if target == "v" else (0.05 < loss < 0.5), loss
    with pytest.raises(ValueError, match="target"):
        chapter["Diffusion"](PerfectV(), betas, target="x0")


def test_autoencoder_maps_digits_to_codes_and_back():
    from gdl import latent

    keras.utils.set_random_seed(0)
    encoder, decoder = latent.build_autoencoder(code_dim=8)
    x = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    codes = np.asarray(encoder(x))
    images = np.asarray(decoder(codes))
    assert codes.shape == (3, 8)
    assert images.shape == (3, 28, 28, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_code_denoiser_starts_at_zero_and_uses_the_timestep(chapter):
    keras.utils.set_random_seed(0)
    net = chapter["build_code_denoiser"](6, hidden=16, depth=2, emb_dim=8)
    z = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    early = np.asarray(net([z, np.zeros(4, "int32")]))
    assert early.shape == (4, 6)
    assert np.all(early == 0.0)  # the zero-initialised output layer: v = 0 before training
    out_layer = net.layers[-1]
    out_layer.kernel.assign(np.random.default_rng(0).normal(size=out_layer.kernel.shape).astype("float32"))
    early, late = net([z, np.zeros(4, "int32")]), net([z, np.full(4, 500, "int32")])
    assert np.max(np.abs(np.asarray(early) - np.asarray(late))) > 1e-4


def test_latent_diffusion_trains_and_samples_codes_with_the_same_samplers(chapter):
    keras.utils.set_random_seed(0)
    betas = np.linspace(1e-4, 0.05, 50)
    diffusion = chapter["Diffusion"](chapter["build_code_denoiser"](5, hidden=16, depth=1), betas, target="v")
    diffusion.compile(optimizer=keras.optimizers.Adam(1e-3))
    codes = np.random.default_rng(2).normal(size=(64, 5)).astype("float32")
    history = diffusion.fit(codes, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    ddpm, ddim = chapter["make_samplers"](diffusion, clip=False)
    for samples in (ddim((7, 5), steps=4, seed=0), ddim((7, 5), steps=4, seed=0, eta=1.0), ddpm((7, 5), seed=0)):
        assert samples.shape == (7, 5)
        assert np.all(np.isfinite(samples))
