"""Chapter 4's model-definition cells run on their own (the benchmark uses them) and train: both GANs, with the
moving average of the generator, the class-conditional DCGAN-style model, the augmentation hook, and the losses on
logits."""

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


def test_chapter_gradient_penalty_passes_the_exercise_check_and_is_exact_for_a_linear_critic():
    import keras
    import tensorflow as tf

    from gdl.checks import PASSED, ch04

    ns = load()
    result = ch04.check_gradient_penalty.evaluate(ns["gradient_penalty"])
    assert result.status == PASSED, result.message
    # A linear critic f(x) = w.x + b has gradient w everywhere: the penalty is (|w| - 1)^2, images or vectors.
    for shape in [(3,), (4, 4, 1)]:
        critic = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])
        w = np.random.default_rng(0).normal(size=critic.get_weights()[0].shape).astype("float32")
        critic.set_weights([w, np.zeros(1, "float32")])
        real = tf.random.normal((5, *shape))
        eps = tf.random.uniform((5,) + (1,) * len(shape))
        value = float(ns["gradient_penalty"](critic, real, -real, eps))
        np.testing.assert_allclose(value, (np.linalg.norm(w) - 1) ** 2, rtol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
def test_wgan_gp_trains_the_critic_five_times_per_generator_step(jit):
    import keras

    ns = load()

    def mlp(inputs, outputs):
        return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dense(outputs)])

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(3).normal(size=(160, 2)).astype("float32")
    generator, critic = mlp(4, 2), mlp(2, 1)
    before = [w.copy() for w in generator.get_weights()]
    gan, history, snapshots = ns["train_wgan"](generator, critic, x, 2, 4, batch_size=16, n_critic=5,
                                               gp_weight=10.0, lr=1e-3, seed=1, n_snapshot=7,
                                               jit_compile=jit)
    # 160 examples, 5 x 16 per step: 2 steps per epoch, each with 5 critic updates.
    assert int(gan.g_optimizer.iterations) == 4 and int(gan.d_optimizer.iterations) == 20
    assert set(history.history) == {"d_loss", "g_loss", "w_estimate", "penalty"}
    assert all(np.all(np.isfinite(v)) for v in history.history.values())
    assert all(p >= 0 for p in history.history["penalty"])
    assert len(snapshots) == 2 and snapshots[-1].shape == (7, 2)
    assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights()))


@pytest.mark.parametrize("jit", [False, True])
def test_conditional_dcgan_trains_and_its_label_changes_the_image(jit):
    """The chapter's DCGAN cell with num_classes: both networks take [input, label], fit() takes the labels."""
    import keras
    from keras import ops

    ns = load()
    latent_dim, n_classes = 8, 10
    generator = ns["dcgan_generator"](latent_dim, width=8, num_classes=n_classes)
    discriminator = ns["dcgan_discriminator"](width=4, num_classes=n_classes)
    assert [tuple(i.shape) for i in generator.inputs] == [(None, latent_dim), (None,)]
    assert [tuple(i.shape) for i in discriminator.inputs] == [(None, 28, 28, 1), (None,)]
    assert discriminator.output_shape == (None, 1)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(4).uniform(-1, 1, (64, 28, 28, 1)).astype("float32")
    labels = np.arange(64) % n_classes
    before = [w.copy() for w in generator.get_weights()]
    gan, history, snapshots = ns["train_gan"](generator, discriminator, x, 1, latent_dim, 16, labels=labels,
                                              n_snapshot=20, label_smoothing=0.1, ema_decay=0.9,
                                              jit_compile=jit)
    assert int(gan.g_optimizer.iterations) == 4 and int(gan.d_optimizer.iterations) == 4
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert len(snapshots) == 1 and snapshots[0].shape == (20, 28, 28, 1)
    assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights()))
    # The same noise with two different labels gives two different images, and so does the discriminator's logit.
    z = keras.random.normal((2, latent_dim), seed=1)
    z = ops.concatenate([z[:1], z[:1]])
    images = ops.convert_to_numpy(gan.ema_generator([z, ops.convert_to_tensor([3, 7])], training=False))
    assert not np.allclose(images[0], images[1])
    logits = ops.convert_to_numpy(gan.discriminator([ops.convert_to_tensor(x[:2] * 0 + x[:1]),
                                                     ops.convert_to_tensor([3, 7])], training=False))
    assert not np.allclose(logits[0], logits[1])


def test_augment_transforms_what_the_discriminator_sees_real_and_fake():
    """augment(x, seed) is applied to every batch the discriminator judges: with an augmentation that blanks the
    images, the discriminator sees only constants and its logits on real and fake agree."""
    import keras

    ns = load()
    calls = []

    def blank(images, seed):
        calls.append(tuple(images.shape))
        return images * 0.0  # constant images, but a (zero) gradient for the generator

    keras.utils.set_random_seed(0)
    gan = ns["make_gan"](ns["mlp_generator"](4), ns["mlp_discriminator"](), 4, augment=blank, jit_compile=False)
    x = np.random.default_rng(5).uniform(-1, 1, (16, 784)).astype("float32")
    history = gan.fit(x, batch_size=16, epochs=1, verbose=0)
    assert len(calls) >= 3  # real and fake for the discriminator, fake for the generator (traced at least once)
    np.testing.assert_allclose(history.history["d_real"][-1], history.history["d_fake"][-1], rtol=1e-6)


@pytest.mark.parametrize("shape", [(6,), (4, 4, 1)])
def test_r1_penalty_adds_gamma_w_to_a_linear_discriminators_gradient(shape):
    """For a linear discriminator a(x) = w.x + b, grad_x a = w at every x: R1 = (gamma / 2) |w|^2, whose gradient
    gamma w is the only difference between a step with the penalty and one without (same fakes, plain SGD)."""
    import keras

    ns = load()
    gamma, lr, latent_dim = 3.0, 0.1, 4
    x = np.random.default_rng(6).uniform(-1, 1, (8, *shape)).astype("float32")
    kernels = []
    for r1_weight in (0.0, gamma):
        keras.utils.set_random_seed(0)
        generator = keras.Sequential([keras.Input((latent_dim,)), keras.layers.Dense(int(np.prod(shape))),
                                      keras.layers.Reshape(shape)])
        discriminator = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1)])
        w0 = discriminator.get_weights()[0].copy()
        gan = ns["GAN"](generator, discriminator, latent_dim, seed=1, r1_weight=r1_weight)
        gan.compile(d_optimizer=keras.optimizers.SGD(lr), g_optimizer=keras.optimizers.SGD(lr))
        gan.fit(x, batch_size=8, epochs=1, verbose=0)
        kernels.append(discriminator.get_weights()[0])
    assert not np.allclose(kernels[0], w0)
    np.testing.assert_allclose(kernels[1] - kernels[0], -lr * gamma * w0, rtol=1e-4, atol=1e-6)
