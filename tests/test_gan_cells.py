"""Chapter 4's model-definition cells run on their own (the benchmark uses them) and train: both GANs, with the
moving average of the generator, and the losses on logits."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import ROOT, model_cells  # noqa: E402

CELLS = ROOT / "chapters" / "04_gans.ipynb"


def load():
    return model_cells.load(CELLS)  # no notebook globals: everything comes in as arguments


def test_losses_on_logits_are_exact_and_keep_their_gradient_at_extreme_logits():
    import tensorflow as tf

    ns = load()
    a = tf.constant([[-300.0], [-30.0], [0.0], [30.0], [300.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(a)
        g_loss = ns["generator_loss"](a)
        d_loss = ns["discriminator_loss"](a, a, 0.1)
    softplus = np.logaddexp(0, a.numpy().astype("float64"))
    softplus_neg = np.logaddexp(0, -a.numpy().astype("float64"))
    np.testing.assert_allclose(float(g_loss), softplus_neg.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(d_loss), (0.9 * softplus_neg + 0.1 * softplus).mean() + softplus.mean(),
                               rtol=1e-6)
    grad = tape.gradient(g_loss, a).numpy().ravel()
    sigmoid = 1 / (1 + np.exp(-a.numpy().astype("float64").ravel()))
    np.testing.assert_allclose(grad, -(1 - sigmoid) / 5, atol=1e-7)  # -1/n at a = -300: no saturation
    assert np.all(np.isfinite(tape.gradient(d_loss, a).numpy()))


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_chapter_gans_build_and_train_with_the_moving_average(model):
    import keras

    ns = load()
    latent_dim = 8
    if model == "mlp":
        generator, discriminator = ns["mlp_generator"](latent_dim), ns["mlp_discriminator"]()
        image_shape = (784,)
    else:
        generator, discriminator = ns["dcgan_generator"](latent_dim, width=8), ns["dcgan_discriminator"](width=4)
        image_shape = (28, 28, 1)
    assert generator.output_shape == (None, *image_shape) and discriminator.output_shape == (None, 1)
    keras.utils.set_random_seed(0)
    gan = ns["make_gan"](generator, discriminator, latent_dim, label_smoothing=0.1, ema_decay=0.9, seed=3,
                         jit_compile=False, steps_per_execution=2)
    assert gan.sampler() is gan.ema_generator
    before = [w.copy() for w in gan.generator.get_weights()]
    ema_before = [w.copy() for w in gan.ema_generator.get_weights()]
    x = np.random.default_rng(0).uniform(-1, 1, (64, *image_shape)).astype("float32")
    history = gan.fit(x, batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    after = gan.generator.get_weights()
    ema_after = gan.ema_generator.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    # The average moved, and is not the trained generator (its exact update is tested below).
    assert any(not np.allclose(a, b) for a, b in zip(ema_before, ema_after))
    assert any(not np.allclose(a, b) for a, b in zip(after, ema_after))


def test_ema_update_is_the_average_of_the_weights():
    """One step with decay 0.5 (its warm-up value at step 1 is min(0.5, 2/11)): ema = b ema0 + (1 - b) w1."""
    import keras

    ns = load()
    keras.utils.set_random_seed(0)
    gan = ns["make_gan"](ns["mlp_generator"](4), ns["mlp_discriminator"](), 4, ema_decay=0.5, jit_compile=False)
    ema0 = [w.copy() for w in gan.ema_generator.get_weights()]
    x = np.random.default_rng(1).uniform(-1, 1, (16, 784)).astype("float32")
    gan.fit(x, batch_size=16, epochs=1, verbose=0)
    b = min(0.5, 2 / 11)  # t = 1 after the first generator update
    for e0, e1, w in zip(ema0, gan.ema_generator.get_weights(), gan.generator.get_weights()):
        np.testing.assert_allclose(e1, b * e0 + (1 - b) * w, rtol=1e-5, atol=1e-6)


def test_without_ema_the_sampler_is_the_generator_and_five_generator_steps_run():
    ns = load()
    gan = ns["make_gan"](ns["mlp_generator"](4), ns["mlp_discriminator"](), 4, generator_steps=5, jit_compile=False)
    assert gan.ema_generator is None and gan.sampler() is gan.generator
    x = np.random.default_rng(2).uniform(-1, 1, (32, 784)).astype("float32")
    gan.fit(x, batch_size=16, epochs=1, verbose=0)
    assert int(gan.g_optimizer.iterations) == 10 and int(gan.d_optimizer.iterations) == 2
