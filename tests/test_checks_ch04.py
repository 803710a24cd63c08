"""Chapter 4 checks: correct solutions written differently pass; learners' mistakes fail with a specific message."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl import metrics
from gdl.checks import ch04

EPS = 1e-7

# ----------------------------------------------------------------------------- discriminator_loss


def d_loss(real_output, fake_output, smoothing=0.0):
    real_output, fake_output = ops.clip(real_output, EPS, 1 - EPS), ops.clip(fake_output, EPS, 1 - EPS)
    t = 1.0 - smoothing
    return -ops.mean(t * ops.log(real_output) + (1 - t) * ops.log(1 - real_output)) - ops.mean(ops.log(1 - fake_output))


def d_loss_keras(real_output, fake_output, smoothing=0.0):
    bce = keras.losses.BinaryCrossentropy()
    return bce(ops.full_like(real_output, 1.0 - smoothing), real_output) + bce(ops.zeros_like(fake_output), fake_output)


def d_loss_tf64(real_output, fake_output, smoothing=0.0):
    """TensorFlow in float64, with an epsilon added inside the logs instead of clipping."""
    r, f = tf.cast(real_output, tf.float64), tf.cast(fake_output, tf.float64)
    t = 1.0 - smoothing
    real_part = t * tf.math.log(r + EPS) + (1 - t) * tf.math.log(1 - r + EPS)
    return -tf.reduce_mean(real_part) - tf.reduce_mean(tf.math.log(1 - f + EPS))


def d_numpy(r, f, smoothing=0.0):  # NumPy: right on arrays, but the compiled train step cannot run it
    r, f = np.clip(r, EPS, 1 - EPS), np.clip(f, EPS, 1 - EPS)
    t = 1 - smoothing
    return -np.mean(t * np.log(r) + (1 - t) * np.log(1 - r)) - np.mean(np.log(1 - f))


def d_no_clip(r, f, smoothing=0.0):  # logs of the raw outputs: infinite or NaN at 0 and 1
    t = 1 - smoothing
    return -ops.mean(t * ops.log(r) + (1 - t) * ops.log(1 - r)) - ops.mean(ops.log(1 - f))


def d_clip_real_only(r, f, smoothing=0.0):  # clipping forgotten for the fakes
    r = ops.clip(r, EPS, 1 - EPS)
    t = 1 - smoothing
    return -ops.mean(t * ops.log(r) + (1 - t) * ops.log(1 - r)) - ops.mean(ops.log(1 - f))


def d_clip_wide(r, f, smoothing=0.0):  # clipping far too much: [0.01, 0.99]
    return d_loss(ops.clip(r, 0.01, 0.99), ops.clip(f, 0.01, 0.99), smoothing)


def d_from_logits(r, f, smoothing=0.0):  # probabilities treated as logits
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    return bce(ops.full_like(r, 1.0 - smoothing), r) + bce(ops.zeros_like(f), f)


def d_keras_label_smoothing(r, f, smoothing=0.0):  # Keras's label_smoothing is two-sided, towards 1/2
    bce = keras.losses.BinaryCrossentropy(label_smoothing=smoothing)
    return bce(ops.ones_like(r), r) + bce(ops.zeros_like(f), f)


def d_smoothing_scales_log(r, f, smoothing=0.0):  # the s log(1 - D(x)) term forgotten
    r, f = ops.clip(r, EPS, 1 - EPS), ops.clip(f, EPS, 1 - EPS)
    return -ops.mean((1 - smoothing) * ops.log(r)) - ops.mean(ops.log(1 - f))


def d_two_sided(r, f, smoothing=0.0):  # fake labels smoothed too: target s for fakes
    r, f = ops.clip(r, EPS, 1 - EPS), ops.clip(f, EPS, 1 - EPS)
    s = smoothing
    return -ops.mean((1 - s) * ops.log(r) + s * ops.log(1 - r)) - ops.mean(s * ops.log(f) + (1 - s) * ops.log(1 - f))


def d_per_example(r, f, smoothing=0.0):  # no mean: one loss per example
    r, f = ops.clip(r, EPS, 1 - EPS), ops.clip(f, EPS, 1 - EPS)
    return -((1 - smoothing) * ops.log(r) + smoothing * ops.log(1 - r)) - ops.log(1 - f)


# ----------------------------------------------------------------------------- generator_loss


def g_loss(fake_output):
    return -ops.mean(ops.log(ops.clip(fake_output, EPS, 1 - EPS)))


def g_loss_keras(fake_output):
    return keras.losses.BinaryCrossentropy()(ops.ones_like(fake_output), fake_output)


def g_loss_tf64(fake_output):
    return -tf.reduce_mean(tf.math.log(tf.cast(fake_output, tf.float64) + EPS))


# ----------------------------------------------------------------------------- gan_train_step


def make_step(d_loss_fn=d_loss, g_loss_fn=g_loss, simultaneous=False, d_in_g_step=False, d_sign=1.0, g_sign=1.0,
              use_smoothing=True, swap=False, one_optimizer=False, new_noise=False, loss_after=False,
              fake_outside_tape=False):
    """A GAN step built from parts, so that each wrong variant differs from the reference in one way."""

    def step(generator, discriminator, g_optimizer, d_optimizer, real_images, z, smoothing=0.0):
        if swap:
            g_optimizer, d_optimizer = d_optimizer, g_optimizer
        if one_optimizer:
            g_optimizer = d_optimizer
        s = smoothing if use_smoothing else 0.0
        with tf.GradientTape() as tape:
            loss_d = d_loss_fn(discriminator(real_images), discriminator(generator(z)), s)
            signed = d_sign * loss_d
        grads = tape.gradient(signed, discriminator.trainable_weights)
        z_g = tf.random.normal(tf.shape(z)) if new_noise else z
        if simultaneous:
            with tf.GradientTape() as tape:
                loss_g = g_loss_fn(discriminator(generator(z_g)))
                signed = g_sign * loss_g
            g_grads = tape.gradient(signed, generator.trainable_weights)
            d_optimizer.apply_gradients(zip(grads, discriminator.trainable_weights))
            g_optimizer.apply_gradients(zip(g_grads, generator.trainable_weights))
            return loss_d, loss_g
        d_optimizer.apply_gradients(zip(grads, discriminator.trainable_weights))
        weights = generator.trainable_weights + (discriminator.trainable_weights if d_in_g_step else [])
        fake = generator(z_g)
        with tf.GradientTape() as tape:
            loss_g = g_loss_fn(discriminator(fake if fake_outside_tape else generator(z_g)))
            signed = g_sign * loss_g
        grads = tape.gradient(signed, weights)
        g_optimizer.apply_gradients(zip(grads[: len(generator.trainable_weights)], generator.trainable_weights))
        if d_in_g_step:
            d_optimizer.apply_gradients(zip(grads[len(generator.trainable_weights):], discriminator.trainable_weights))
        if loss_after:
            return d_loss_fn(discriminator(real_images), discriminator(generator(z)), s), g_loss_fn(
                discriminator(generator(z)))
        return loss_d, loss_g

    return step


def step_plain(generator, discriminator, g_optimizer, d_optimizer, real_images, z, smoothing=0.0):
    """Written out as in the notebook, with the Keras-loss versions and optimizer.apply."""
    with tf.GradientTape() as tape:
        loss_d = d_loss_keras(discriminator(real_images), discriminator(generator(z)), smoothing)
    d_optimizer.apply(tape.gradient(loss_d, discriminator.trainable_variables), discriminator.trainable_variables)
    with tf.GradientTape() as tape:
        loss_g = g_loss_keras(discriminator(generator(z)))
    g_optimizer.apply(tape.gradient(loss_g, generator.trainable_variables), generator.trainable_variables)
    return loss_d, loss_g


def step_numpy_losses(*args, **kwargs):  # returns .numpy() values: fails inside tf.function
    d, g = make_step()(*args, **kwargs)
    return d.numpy(), g.numpy()


# ----------------------------------------------------------------------------- mode_coverage


def coverage(samples, means, std, min_count):
    d = np.linalg.norm(samples[:, None] - means[None], axis=-1)
    nearest, good = d.argmin(1), d.min(1) < 3 * std
    return int(np.sum(np.bincount(nearest[good], minlength=len(means)) >= min_count)), float(good.mean())


def coverage_loop(samples, means, std, min_count):
    """A loop over the samples, in float32, with squared distances."""
    counts, good = [0] * len(means), 0
    for x in np.asarray(samples, dtype="float32"):
        d2 = [float(np.sum((x - np.asarray(m, dtype="float32")) ** 2)) for m in means]
        j = int(np.argmin(d2))
        if d2[j] < (3 * std) ** 2:
            counts[j] += 1
            good += 1
    return sum(c >= min_count for c in counts), good / len(samples)


def _cov_with(rule, count_rule=lambda counts, c: counts >= c):
    def f(samples, means, std, min_count):
        diff = samples[:, None] - means[None]
        d = np.linalg.norm(diff, axis=-1)
        nearest = d.argmin(1)
        good = rule(diff[np.arange(len(samples)), nearest], d.min(1), std)
        counts = np.bincount(nearest[good], minlength=len(means))
        return int(np.sum(count_rule(counts, min_count))), float(good.mean())

    return f


# --------------------------------------------------------------------------------------------- the tables

CHECKS = {
    "discriminator_loss": ch04.check_discriminator_loss,
    "generator_loss": ch04.check_generator_loss,
    "gan_train_step": ch04.check_gan_train_step,
    "mode_coverage": ch04.check_mode_coverage,
}

REFERENCES = {
    "discriminator_loss": [d_loss, d_loss_keras, d_loss_tf64],
    "generator_loss": [g_loss, g_loss_keras, g_loss_tf64],
    "gan_train_step": [make_step(), step_plain],
    "mode_coverage": [coverage, coverage_loop, metrics.mode_coverage],
}

WRONG = {
    "discriminator_loss": [
        (lambda r, f, smoothing=0.0: -d_loss(r, f, smoothing), "wrong sign"),
        (lambda r, f, smoothing=0.0: d_loss(r, f, smoothing) / 2, "averaged the two terms"),  # or mean of concat
        (lambda r, f, smoothing=0.0: -ops.mean(ops.log(r)), "only the real term"),
        (lambda r, f, smoothing=0.0: -ops.mean(ops.log(1 - f)), "only the fake term"),
        (lambda r, f, smoothing=0.0: d_loss(f, r, smoothing), "labels are swapped"),
        (lambda r, f, smoothing=0.0: 1.386, "expected"),  # a constant
        (d_per_example, "single number"),
        (lambda r, f, smoothing=0.0: d_loss(r, f) * len(r), "summed over the batch"),
        (lambda r, f, smoothing=0.0: d_loss(r, f), "made no difference"),  # smoothing ignored
        (d_two_sided, "smoothed the fake labels too"),
        (lambda r, f, smoothing=0.0: d_loss(r, f, 1 - smoothing if smoothing else 0.0), "not smoothing"),
        (d_keras_label_smoothing, "two-sided, towards"),
        (d_smoothing_scales_log, "smoothing * log(1 - D(x)) is missing"),
        (d_from_logits, "as logits"),
        (d_no_clip, "clipped to [1e-7, 1 - 1e-7]"),
        (d_clip_real_only, "clipped to [1e-7, 1 - 1e-7]"),
        (d_clip_wide, "With some outputs at exactly 0 and 1"),
        (d_numpy, "inside a tf.function"),
    ],
    "generator_loss": [
        (lambda f: ops.mean(ops.log(1 - f)), "minimax (saturating)"),
        (lambda f: ops.mean(ops.log(ops.clip(f, EPS, 1 - EPS))), "wrong sign"),
        (lambda f: -ops.sum(ops.log(ops.clip(f, EPS, 1 - EPS))), "summed over the batch"),
        (lambda f: -ops.sum(ops.log(ops.clip(f, EPS, 1 - EPS))) / 256, "expected"),  # the notebook's batch size
        (lambda f: 0.693, "expected"),
        (lambda f: -ops.log(ops.clip(f, EPS, 1 - EPS)), "single number"),
        (lambda f: -ops.mean(ops.log(1 - ops.clip(f, EPS, 1 - EPS))), "the discriminator's loss on the fakes"),
        (lambda f: keras.losses.BinaryCrossentropy(from_logits=True)(ops.ones_like(f), f), "as logits"),
        (lambda f: -ops.mean(ops.log(f)), "clipped to [1e-7, 1 - 1e-7]"),  # no clipping
        (lambda f: -ops.mean(ops.log(ops.clip(f, 0.0, 1.0))), "clipped to [1e-7, 1 - 1e-7]"),  # clip does nothing
        (lambda f: -ops.mean(ops.log(ops.clip(f, 1e-3, 1 - 1e-3))), "With some outputs at exactly 0 and 1"),
        (lambda f: -np.mean(np.log(np.clip(f, EPS, 1 - EPS))), "inside a tf.function"),  # NumPy
    ],
    "gan_train_step": [
        (make_step(simultaneous=True), "used the discriminator from before its update"),
        (make_step(d_in_g_step=True), "discriminator changed in the generator step"),
        (make_step(g_loss_fn=lambda f: ops.mean(ops.log(1 - f))), "saturating loss"),
        (make_step(g_sign=-1.0), "generator moved up its loss"),
        (make_step(d_sign=-1.0), "discriminator moved up its loss"),
        (make_step(use_smoothing=False), "ignored smoothing"),
        (make_step(d_sign=0.0), "discriminator's weights did not change"),
        (make_step(g_sign=0.0), "generator's weights did not change"),
        (make_step(swap=True), "optimizers are swapped"),
        (make_step(one_optimizer=True), "one optimizer updated both models"),
        (make_step(new_noise=True), "draws noise of its own"),
        (make_step(loss_after=True), "after the discriminator's update"),
        (make_step(fake_outside_tape=True), "inside the GradientTape"),
        (step_numpy_losses, "inside the compiled train step"),
        (lambda *a, **k: make_step()(*a, **k)[0], "should return the pair"),
        (lambda *a, **k: (1.0, 1.0) if make_step()(*a, **k) else None, "the returned d_loss"),
    ],
    "mode_coverage": [
        (lambda s, m, std, c: len(np.unique(np.linalg.norm(s[:, None] - m[None], axis=-1).argmin(1))),
         "should return the pair"),
        (lambda s, m, std, c: (coverage(s, m, std, c)[0], 1.0), "every sample counted"),
        (lambda s, m, std, c: (coverage(s, m, std, c)[0], coverage(s, m, std, c)[1] * len(s)), "is a count"),
        (_cov_with(lambda diff, d, std: d < std), "within 1 std"),
        (_cov_with(lambda diff, d, std: d <= 3 * std), "exactly 3 std"),
        (_cov_with(lambda diff, d, std: np.all(np.abs(diff) < 3 * std, axis=1)), "not each coordinate"),
        (_cov_with(lambda diff, d, std: d**2 < 3 * std), "squared distance"),
        (_cov_with(lambda diff, d, std: d < 3 * std**2), "3 * std**2"),
        (_cov_with(lambda diff, d, std: d < 3 * 0.05), "the notebook's std"),
        (_cov_with(lambda diff, d, std: d < 3 * std, lambda counts, c: counts > c), ">=, not >"),
        (_cov_with(lambda diff, d, std: d < 3 * std, lambda counts, c: counts >= 20), "not the notebook's 20"),
        (_cov_with(lambda diff, d, std: d < 3 * std, lambda counts, c: counts > 0), "not just one"),
        (lambda s, m, std, c: (len(np.unique(np.linalg.norm(s[:, None] - m[None], axis=-1).argmin(1))),
                               coverage(s, m, std, c)[1]), "a mode counts only when"),
        (lambda s, m, std, c: (coverage(s, m, 1e9, c)[0], coverage(s, m, std, c)[1]), "count only the high-quality"),
        (lambda s, m, std, c: (len(m), coverage(s, m, std, c)[1]), "modes_covered is"),
    ],
}

# Each evaluation of the first three compiles a tf.function: fewer repeats keep this file within ~30 s. The long
# sweeps (hundreds of evaluations of each implementation, no wrong verdict) are run by hand, not here.
REFERENCE_REPEATS = {"discriminator_loss": 3, "generator_loss": 3, "gan_train_step": 1}
WRONG_REPEATS = {"discriminator_loss": 2, "generator_loss": 2, "gan_train_step": 1}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name],
                                                  repeats=REFERENCE_REPEATS.get(name, 5))


@pytest.mark.parametrize("name, index", [(name, i) for name, wrongs in WRONG.items() for i in range(len(wrongs))])
def test_wrong_implementations_fail_with_a_specific_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message, repeats=WRONG_REPEATS.get(name, 3))
