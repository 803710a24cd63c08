"""Checks for the Chapter 4 exercises (``exercises/04_gans.ipynb``).

The discriminator outputs probabilities D(x) in (0, 1) (a sigmoid output, as in the chapter).

- ``check_discriminator_loss(f)``: ``f(real_output, fake_output, smoothing=0.0)`` returns the binary
  cross-entropy -mean[(1 - s) log D(x) + s log(1 - D(x))] - mean[log(1 - D(G(z)))] (one-sided smoothing s).
- ``check_generator_loss(f)``: ``f(fake_output)`` returns the non-saturating loss -mean[log D(G(z))].
- ``check_gan_train_step(f)``: ``f(generator, discriminator, g_optimizer, d_optimizer, real_images, z,
  smoothing=0.0)`` takes one discriminator step, then one generator step against the updated
  discriminator, with the same noise ``z``; returns ``(d_loss, g_loss)`` computed before each update.
- ``check_mode_coverage(f)``: ``f(samples, means, std, min_count)`` returns ``(modes_covered,
  high_quality_fraction)`` for 2-D samples of a Gaussian mixture.
"""

import numpy as np

from gdl import data, metrics
from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check

EPS = 1e-7


def _bce_terms(real, fake, smoothing):
    t = 1.0 - smoothing
    real_term = -np.mean(t * np.log(real) + (1 - t) * np.log(1 - real))
    fake_term = -np.mean(np.log(1 - fake))
    return real_term, fake_term


def _probabilities(rng, n):
    return rng.uniform(0.02, 0.98, size=(n, 1)).astype("float32")


def _scalar(value, what):
    arr = as_array(value, what)
    if arr.size != 1:
        fail(f"{what} should be a single number (the mean over the batch), got shape {arr.shape}.")
    arr = arr.reshape(())
    expect_finite(arr, what)
    return float(arr)


def _test_discriminator_loss(f):
    rng = np.random.default_rng()
    n = int(rng.integers(8, 64))
    # Outputs as a fair discriminator gives them: real ones above 1/2, fake ones below. (With fakes spread
    # evenly around 1/2, smoothing the fake labels too would change the loss by about nothing.)
    real = (0.5 + 0.48 * _probabilities(rng, n)).astype("float32")
    fake = (0.02 + 0.28 * _probabilities(rng, n)).astype("float32")  # so that the two terms differ clearly
    got = _scalar(f(real, fake), "discriminator_loss(real_output, fake_output)")
    real_term, fake_term = _bce_terms(real, fake, 0.0)
    ref = real_term + fake_term
    if not np.isclose(got, ref, rtol=1e-4, atol=1e-5):
        if np.isclose(got, -ref, rtol=1e-4):
            fail("Your loss has the wrong sign: the discriminator minimises -log D(x) - log(1 - D(G(z))), "
                 "a positive number.")
        if np.isclose(got, ref / 2, rtol=1e-4):
            fail("you averaged the two terms; the loss is their sum, -V(D, G) = -E[log D(x)] - E[log(1 - D(G(z)))].")
        if np.isclose(got, real_term, rtol=1e-4):
            fail("only the real term is there: add -mean(log(1 - D(G(z)))) for the fake images (label 0).")
        if np.isclose(got, fake_term, rtol=1e-4):
            fail("only the fake term is there: add -mean(log D(x)) for the real images (label 1).")
        if np.isclose(got, -np.mean(np.log(1 - real)) - np.mean(np.log(fake)), rtol=1e-4):
            fail("the labels are swapped: real images have label 1 (-log D(x)), fakes label 0 (-log(1 - D(G(z)))).")
        fail(f"discriminator_loss is {got:.6g}, expected {ref:.6g} = -mean(log D(x)) - mean(log(1 - D(G(z)))).")
    s = float(rng.uniform(0.05, 0.3))
    got = _scalar(f(real, fake, smoothing=s), f"discriminator_loss(..., smoothing={s:.3f})")
    real_term, fake_term = _bce_terms(real, fake, s)
    ref = real_term + fake_term
    if np.isclose(got, ref, rtol=1e-4, atol=1e-5):
        return
    if np.isclose(got, sum(_bce_terms(real, fake, 0.0)), rtol=1e-4):
        fail(f"smoothing={s:.3f} made no difference: with one-sided label smoothing the real target is 1 - smoothing.")
    two_sided = real_term - np.mean(s * np.log(fake) + (1 - s) * np.log(1 - fake))
    if np.isclose(got, two_sided, rtol=1e-4):
        fail("you smoothed the fake labels too; smooth only the real ones (one-sided): the fake target stays 0.")
    fail(f"with smoothing={s:.3f} the loss is {got:.6g}, expected {ref:.6g}: the real target is 1 - smoothing.")


def _test_generator_loss(f):
    rng = np.random.default_rng()
    n = int(rng.integers(8, 64))
    fake = _probabilities(rng, n)
    got = _scalar(f(fake), "generator_loss(fake_output)")
    ref = -np.mean(np.log(fake))
    if np.isclose(got, ref, rtol=1e-4, atol=1e-5):
        return
    if np.isclose(got, np.mean(np.log(1 - fake)), rtol=1e-4):
        fail("this is the minimax (saturating) loss mean(log(1 - D(G(z)))); use the non-saturating -mean(log D(G(z))).")
    if np.isclose(got, -ref, rtol=1e-4):
        fail("your loss has the wrong sign: the generator minimises -log D(G(z)).")
    if np.isclose(got, n * ref, rtol=1e-4):
        fail("you summed over the batch; take the mean, so the loss does not depend on the batch size.")
    fail(f"generator_loss is {got:.6g}, expected {ref:.6g} = -mean(log D(G(z))).")


# ------------------------------------------------------------------------------------------- one train step


def _tiny_models(seed, latent_dim, data_dim):
    import keras
    from keras import layers

    def init(i):
        return keras.initializers.GlorotUniform(seed=seed + i)

    generator = keras.Sequential(
        [keras.Input((latent_dim,)), layers.Dense(8, activation="tanh", kernel_initializer=init(0)),
         layers.Dense(data_dim, kernel_initializer=init(1))], name="generator")
    discriminator = keras.Sequential(
        [keras.Input((data_dim,)), layers.Dense(8, activation="tanh", kernel_initializer=init(2)),
         layers.Dense(1, activation="sigmoid", kernel_initializer=init(3))], name="discriminator")
    return generator, discriminator


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def _same(a, b):
    return all(np.allclose(x, y, rtol=1e-4, atol=1e-6) for x, y in zip(a, b))


def _sgd_step(model, loss_fn, lr):
    """One plain gradient-descent step on ``loss_fn()`` for ``model``'s weights; returns the loss."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
    grads = tape.gradient(loss, model.trainable_weights)
    for w, g in zip(model.trainable_weights, grads):
        w.assign(w - lr * g)
    return float(loss)


def _d_loss(g, d, real, z, s):
    import keras

    p_real = keras.ops.clip(d(real), EPS, 1 - EPS)
    p_fake = keras.ops.clip(d(g(z)), EPS, 1 - EPS)
    t = 1.0 - s
    return -keras.ops.mean(t * keras.ops.log(p_real) + (1 - t) * keras.ops.log(1 - p_real)) - keras.ops.mean(
        keras.ops.log(1 - p_fake))


def _g_loss(g, d, z):
    import keras

    return -keras.ops.mean(keras.ops.log(keras.ops.clip(d(g(z)), EPS, 1 - EPS)))


def _test_gan_train_step(f):
    import keras

    rng = np.random.default_rng()
    seed = int(rng.integers(1000))
    latent_dim, data_dim, n = int(rng.integers(2, 5)), int(rng.integers(3, 7)), int(rng.integers(8, 32))
    lr, s = 0.1, float(rng.uniform(0.05, 0.2))
    real = rng.normal(1.0, 0.5, size=(n, data_dim)).astype("float32")
    z = rng.standard_normal((n, latent_dim)).astype("float32")

    def fresh():
        return _tiny_models(seed, latent_dim, data_dim)

    g0, d0 = fresh()
    w_g0, w_d0 = _weights(g0), _weights(d0)

    # The reference: a discriminator step, then a generator step against the updated discriminator.
    g, d = fresh()
    d_loss_ref = _sgd_step(d, lambda: _d_loss(g, d, real, z, s), lr)
    w_d1 = _weights(d)
    g_loss_ref = _sgd_step(g, lambda: _g_loss(g, d, z), lr)
    w_g1 = _weights(g)

    g, d = fresh()
    out = f(g, d, keras.optimizers.SGD(lr), keras.optimizers.SGD(lr), real, z, smoothing=s)
    w_g, w_d = _weights(g), _weights(d)
    if _same(w_d, w_d0):
        fail("the discriminator's weights did not change: apply its gradients with d_optimizer.")
    if _same(w_g, w_g0):
        fail("the generator's weights did not change: apply its gradients with g_optimizer.")
    if not _same(w_d, w_d1):
        # Did the discriminator also move in the generator step?
        g2, d2 = fresh()
        g2.set_weights(w_g0)
        d2.set_weights(w_d1)
        _sgd_step(d2, lambda: _g_loss(g2, d2, z), lr)
        if _same(w_d, _weights(d2)):
            fail("the discriminator changed in the generator step: differentiate the generator loss with respect to "
                 "generator.trainable_weights only.")
        g3, d3 = fresh()
        _sgd_step(d3, lambda: _d_loss(g3, d3, real, z, 0.0), lr)
        if _same(w_d, _weights(d3)):
            fail(f"the discriminator step ignored smoothing={s:.3f}: pass it on to discriminator_loss.")
        g4, d4 = fresh()
        _sgd_step(d4, lambda: -_d_loss(g4, d4, real, z, s), lr)
        if _same(w_d, _weights(d4)):
            fail("the discriminator moved up its loss: apply the gradients of discriminator_loss (a loss to minimise).")
        fail("after your step the discriminator's weights differ from one gradient step on discriminator_loss "
             "(real_images against generator(z)).")
    if not _same(w_g, w_g1):
        g5, d5 = fresh()  # simultaneous updates: the generator step sees the old discriminator
        _sgd_step(g5, lambda: _g_loss(g5, d5, z), lr)
        if _same(w_g, _weights(g5)):
            fail("the generator step used the discriminator from before its update: update the discriminator first, "
                 "then compute the generator loss with the updated discriminator (alternating updates).")
        g6, d6 = fresh()
        d6.set_weights(w_d1)
        _sgd_step(g6, lambda: keras.ops.mean(keras.ops.log(1 - keras.ops.clip(d6(g6(z)), EPS, 1 - EPS))), lr)
        if _same(w_g, _weights(g6)):
            fail("the generator step minimised the saturating loss log(1 - D(G(z))); use generator_loss, "
                 "-mean(log D(G(z))).")
        g7, d7 = fresh()
        d7.set_weights(w_d1)
        _sgd_step(g7, lambda: -_g_loss(g7, d7, z), lr)
        if _same(w_g, _weights(g7)):
            fail("the generator moved up its loss: apply the gradients of generator_loss (a loss to minimise).")
        fail("after your step the generator's weights differ from one gradient step on generator_loss "
             "(discriminator(generator(z)) with the updated discriminator).")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"gan_train_step should return the pair (d_loss, g_loss), got {type(out).__name__}.")
    expect_close(_scalar(out[0], "d_loss"), d_loss_ref, "the returned d_loss", rtol=1e-4, atol=1e-5,
                 hint="Return the discriminator loss computed before its update.")
    expect_close(_scalar(out[1], "g_loss"), g_loss_ref, "the returned g_loss", rtol=1e-4, atol=1e-5,
                 hint="Return the generator loss computed before its update.")


# ------------------------------------------------------------------------------------------- mode coverage


def _test_mode_coverage(f):
    rng = np.random.default_rng()
    k = int(rng.integers(5, 10))
    means = data.ring_means(k, radius=float(rng.uniform(1.5, 3.0))).astype("float64")
    std, min_count = float(rng.uniform(0.03, 0.1)), int(rng.integers(5, 15))
    # Full modes, one mode with too few samples, one with none, and off-mode samples.
    counts = rng.integers(min_count + 5, 4 * min_count, size=k)
    counts[0], counts[1] = min_count - 2, 0
    on = np.concatenate([means[j] + std * rng.standard_normal((c, 2)).clip(-2.5, 2.5) for j, c in enumerate(counts)])
    # Near mode 0 but further than 3 std: these count for no mode (so mode 0 stays uncovered).
    angle = rng.uniform(0, 2 * np.pi, size=3 * min_count)
    near = means[0] + 3.5 * std * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    between = (means[rng.integers(0, k, 40)] + means[rng.integers(0, k, 40)]) / 2 + rng.uniform(-0.5, 0.5, (40, 2))
    between = between[np.min(np.linalg.norm(between[:, None] - means[None], axis=-1), axis=1) > 3 * std]
    samples = rng.permutation(np.concatenate([on, near, between]))
    out = f(samples, means, std, min_count)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"mode_coverage should return the pair (modes_covered, high_quality_fraction), got {type(out).__name__}.")
    covered = expect_shape(out[0], (), "modes_covered")
    fraction = expect_shape(out[1], (), "high_quality_fraction")
    ref_covered, ref_fraction = metrics.mode_coverage(samples, means, std, min_count)
    if not np.isclose(fraction, ref_fraction, atol=1e-9):
        if np.isclose(fraction, 1.0):
            fail("every sample counted as high quality: only samples within 3 std of their nearest mean are.")
        if np.isclose(fraction, ref_fraction * len(samples)):
            fail("high_quality_fraction is a count; divide by the number of samples.")
        fail(f"high_quality_fraction is {float(fraction):.4f}, expected {ref_fraction:.4f}: the fraction of samples "
             "within 3 std of their nearest mean.")
    if covered != ref_covered:
        nearest = np.argmin(np.linalg.norm(samples[:, None] - means[None], axis=-1), axis=1)
        if covered == len(np.unique(nearest)):
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: a mode counts only when at least "
                 "min_count high-quality samples (within 3 std) fall on it.")
        if covered == np.sum(np.bincount(nearest, minlength=k) >= min_count):
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: count only the high-quality samples "
                 "(within 3 std) of each mode.")
        fail(f"modes_covered is {int(covered)}, expected {ref_covered}.")


check_discriminator_loss = make_check("discriminator_loss", _test_discriminator_loss)
check_generator_loss = make_check("generator_loss", _test_generator_loss)
check_gan_train_step = make_check("gan_train_step", _test_gan_train_step)
check_mode_coverage = make_check("mode_coverage", _test_mode_coverage)
