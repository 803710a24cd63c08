"""Chapter 4 checks: the reference solutions pass; wrong ones fail with a specific message."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl import metrics
from gdl.checks import PASSED, ch04

EPS = 1e-7

# ----------------------------------------------------------------------------- reference solutions


def d_loss(real_output, fake_output, smoothing=0.0):
    real_output, fake_output = ops.clip(real_output, EPS, 1 - EPS), ops.clip(fake_output, EPS, 1 - EPS)
    t = 1.0 - smoothing
    return -ops.mean(t * ops.log(real_output) + (1 - t) * ops.log(1 - real_output)) - ops.mean(ops.log(1 - fake_output))


def g_loss(fake_output):
    return -ops.mean(ops.log(ops.clip(fake_output, EPS, 1 - EPS)))


def make_step(d_loss_fn=d_loss, g_loss_fn=g_loss, simultaneous=False, d_in_g_step=False, d_sign=1.0, g_sign=1.0,
              use_smoothing=True):
    """A GAN step built from parts, so that each wrong variant differs from the reference in one way."""

    def step(generator, discriminator, g_optimizer, d_optimizer, real_images, z, smoothing=0.0):
        s = smoothing if use_smoothing else 0.0
        with tf.GradientTape() as tape:
            loss_d = d_loss_fn(discriminator(real_images), discriminator(generator(z)), s)
            signed = d_sign * loss_d
        grads = tape.gradient(signed, discriminator.trainable_weights)
        if simultaneous:
            with tf.GradientTape() as tape:
                loss_g = g_loss_fn(discriminator(generator(z)))
                signed = g_sign * loss_g
            g_grads = tape.gradient(signed, generator.trainable_weights)
            d_optimizer.apply_gradients(zip(grads, discriminator.trainable_weights))
            g_optimizer.apply_gradients(zip(g_grads, generator.trainable_weights))
            return loss_d, loss_g
        d_optimizer.apply_gradients(zip(grads, discriminator.trainable_weights))
        weights = generator.trainable_weights + (discriminator.trainable_weights if d_in_g_step else [])
        with tf.GradientTape() as tape:
            loss_g = g_loss_fn(discriminator(generator(z)))
            signed = g_sign * loss_g
        grads = tape.gradient(signed, weights)
        g_optimizer.apply_gradients(zip(grads[: len(generator.trainable_weights)], generator.trainable_weights))
        if d_in_g_step:
            d_optimizer.apply_gradients(zip(grads[len(generator.trainable_weights):], discriminator.trainable_weights))
        return loss_d, loss_g

    return step


def coverage(samples, means, std, min_count):
    d = np.linalg.norm(samples[:, None] - means[None], axis=-1)
    nearest, good = d.argmin(1), d.min(1) < 3 * std
    return int(np.sum(np.bincount(nearest[good], minlength=len(means)) >= min_count)), float(good.mean())


CASES = {
    "discriminator_loss": (ch04.check_discriminator_loss, d_loss),
    "generator_loss": (ch04.check_generator_loss, g_loss),
    "gan_train_step": (ch04.check_gan_train_step, make_step()),
    "mode_coverage": (ch04.check_mode_coverage, coverage),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_passes_and_stub_is_incomplete(name):
    check, reference = CASES[name]
    assert_references_pass_and_stub_is_incomplete(check, reference)


def test_keras_binary_crossentropy_and_the_metrics_function_are_accepted():
    bce = keras.losses.BinaryCrossentropy()

    def keras_d_loss(real, fake, smoothing=0.0):
        return bce(ops.full_like(real, 1.0 - smoothing), real) + bce(ops.zeros_like(fake), fake)

    assert ch04.check_discriminator_loss.evaluate(keras_d_loss).status == PASSED
    assert ch04.check_generator_loss.evaluate(lambda fake: bce(ops.ones_like(fake), fake)).status == PASSED
    assert ch04.check_mode_coverage.evaluate(metrics.mode_coverage).status == PASSED


def _no_smoothing(real, fake, smoothing=0.0):
    return d_loss(real, fake)


def _two_sided(real, fake, smoothing=0.0):
    return d_loss(real, fake, smoothing) - ops.mean(
        smoothing * ops.log(fake) + (1 - smoothing) * ops.log(1 - fake)) + ops.mean(ops.log(1 - fake))


WRONG = [
    # discriminator_loss
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: -d_loss(r, f, smoothing), "wrong sign"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: d_loss(r, f, smoothing) / 2, "averaged the two terms"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: -ops.mean(ops.log(r)), "only the real term"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: -ops.mean(ops.log(1 - f)), "only the fake term"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: d_loss(f, r, smoothing), "labels are swapped"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: 1.386, "expected"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: -ops.log(r) - ops.log(1 - f), "single number"),
    (ch04.check_discriminator_loss, _no_smoothing, "made no difference"),
    (ch04.check_discriminator_loss, _two_sided, "smoothed the fake labels too"),
    (ch04.check_discriminator_loss, lambda r, f, smoothing=0.0: d_loss(r, f, 1 - smoothing if smoothing else 0.0),
     "the real target is 1 - smoothing"),
    # generator_loss
    (ch04.check_generator_loss, lambda f: ops.mean(ops.log(1 - f)), "minimax (saturating)"),
    (ch04.check_generator_loss, lambda f: ops.mean(ops.log(f)), "wrong sign"),
    (ch04.check_generator_loss, lambda f: -ops.sum(ops.log(f)), "summed over the batch"),
    (ch04.check_generator_loss, lambda f: 0.693, "expected"),
    (ch04.check_generator_loss, lambda f: -ops.log(f), "single number"),
    # gan_train_step
    (ch04.check_gan_train_step, make_step(simultaneous=True), "used the discriminator from before its update"),
    (ch04.check_gan_train_step, make_step(d_in_g_step=True), "discriminator changed in the generator step"),
    (ch04.check_gan_train_step, make_step(g_loss_fn=lambda f: ops.mean(ops.log(1 - f))), "saturating loss"),
    (ch04.check_gan_train_step, make_step(g_sign=-1.0), "generator moved up its loss"),
    (ch04.check_gan_train_step, make_step(d_sign=-1.0), "discriminator moved up its loss"),
    (ch04.check_gan_train_step, make_step(use_smoothing=False), "ignored smoothing"),
    (ch04.check_gan_train_step, make_step(d_sign=0.0), "discriminator's weights did not change"),
    (ch04.check_gan_train_step, make_step(g_sign=0.0), "generator's weights did not change"),
    (ch04.check_gan_train_step, lambda *a, **k: make_step()(*a, **k)[0], "should return the pair"),
    (ch04.check_gan_train_step, lambda *a, **k: (1.0, 1.0) if make_step()(*a, **k) else None, "the returned d_loss"),
    # mode_coverage
    (ch04.check_mode_coverage, lambda s, m, std, c: len(np.unique(np.linalg.norm(s[:, None] - m[None], axis=-1)
                                                                  .argmin(1))), "should return the pair"),
    (ch04.check_mode_coverage, lambda s, m, std, c: (coverage(s, m, std, c)[0], 1.0), "every sample counted"),
    (ch04.check_mode_coverage, lambda s, m, std, c: coverage(s, m, std / 3, c), "within 3 std"),
    (ch04.check_mode_coverage, lambda s, m, std, c: (coverage(s, m, std, c)[0], coverage(s, m, std, c)[1] * len(s)),
     "is a count"),
    (ch04.check_mode_coverage, lambda s, m, std, c: (len(np.unique(np.linalg.norm(s[:, None] - m[None], axis=-1)
                                                                   .argmin(1))), coverage(s, m, std, c)[1]),
     "high-quality"),
    (ch04.check_mode_coverage, lambda s, m, std, c: (coverage(s, m, 1e9, c)[0], coverage(s, m, std, c)[1]),
     "high-quality"),
    (ch04.check_mode_coverage, lambda s, m, std, c: (len(m), coverage(s, m, std, c)[1]), "modes_covered is"),
]


@pytest.mark.parametrize("check, wrong, message", WRONG)
def test_wrong_implementations_fail_with_a_specific_message(check, wrong, message):
    assert_fails_with(check, wrong, message)
