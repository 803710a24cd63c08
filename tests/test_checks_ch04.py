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

# ----------------------------------------------------------------------------- discriminator_loss (on logits)


def d_loss(real_logits, fake_logits, smoothing=0.0):
    t = 1.0 - smoothing
    return ops.mean(t * ops.softplus(-real_logits) + (1 - t) * ops.softplus(real_logits)) + ops.mean(
        ops.softplus(fake_logits))


def d_loss_keras(real_logits, fake_logits, smoothing=0.0):
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    return bce(ops.full_like(real_logits, 1.0 - smoothing), real_logits) + bce(ops.zeros_like(fake_logits),
                                                                               fake_logits)


def d_loss_tf64(real_logits, fake_logits, smoothing=0.0):
    """TensorFlow in float64, with sigmoid_cross_entropy_with_logits."""
    r, f = tf.cast(real_logits, tf.float64), tf.cast(fake_logits, tf.float64)
    xent = tf.nn.sigmoid_cross_entropy_with_logits
    return tf.reduce_mean(xent(tf.fill(tf.shape(r), tf.constant(1.0 - smoothing, tf.float64)), r)) + tf.reduce_mean(
        xent(tf.zeros_like(f), f))


def d_numpy(r, f, smoothing=0.0):  # NumPy: right on arrays, but the compiled train step cannot run it
    t = 1 - smoothing
    return np.mean(t * np.logaddexp(0, -r) + (1 - t) * np.logaddexp(0, r)) + np.mean(np.logaddexp(0, f))


def d_clipped(r, f, smoothing=0.0):  # the chapter's old loss: sigmoid, then clipped probabilities
    p_r, p_f = ops.clip(ops.sigmoid(r), EPS, 1 - EPS), ops.clip(ops.sigmoid(f), EPS, 1 - EPS)
    t = 1.0 - smoothing
    return -ops.mean(t * ops.log(p_r) + (1 - t) * ops.log(1 - p_r)) - ops.mean(ops.log(1 - p_f))


def d_log_sigmoid(r, f, smoothing=0.0):  # log(sigmoid(a)) without care: log(0) at large |a|
    t = 1.0 - smoothing
    return -ops.mean(t * ops.log(ops.sigmoid(r)) + (1 - t) * ops.log(1 - ops.sigmoid(r))) - ops.mean(
        ops.log(1 - ops.sigmoid(f)))


def d_probabilities(r, f, smoothing=0.0):  # the logits passed to a cross-entropy that expects probabilities
    bce = keras.losses.BinaryCrossentropy()
    return bce(ops.full_like(r, 1.0 - smoothing), r) + bce(ops.zeros_like(f), f)


def d_keras_label_smoothing(r, f, smoothing=0.0):  # Keras's label_smoothing is two-sided, towards 1/2
    bce = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing)
    return bce(ops.ones_like(r), r) + bce(ops.zeros_like(f), f)


def d_smoothing_scales_log(r, f, smoothing=0.0):  # the s log(1 - D(x)) term forgotten
    return ops.mean((1 - smoothing) * ops.softplus(-r)) + ops.mean(ops.softplus(f))


def d_two_sided(r, f, smoothing=0.0):  # fake labels smoothed too: target s for fakes
    s = smoothing
    return ops.mean((1 - s) * ops.softplus(-r) + s * ops.softplus(r)) + ops.mean(
        (1 - s) * ops.softplus(f) + s * ops.softplus(-f))


def d_per_example(r, f, smoothing=0.0):  # no mean: one loss per example
    return (1 - smoothing) * ops.softplus(-r) + smoothing * ops.softplus(r) + ops.softplus(f)


# ----------------------------------------------------------------------------- generator_loss (on logits)


def g_loss(fake_logits):
    return ops.mean(ops.softplus(-fake_logits))


def g_loss_keras(fake_logits):
    return keras.losses.BinaryCrossentropy(from_logits=True)(ops.ones_like(fake_logits), fake_logits)


def g_loss_tf64(fake_logits):
    a = tf.cast(fake_logits, tf.float64)
    return -tf.reduce_mean(tf.math.log_sigmoid(a))


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


# ----------------------------------------------------------------------------- ema_update


def ema(ema_variables, variables, decay):
    for e, w in zip(ema_variables, variables):
        e.assign(decay * e + (1 - decay) * w)


def ema_assign_sub(ema_variables, variables, decay):
    """The same update written as a step towards the weights, with keras.ops."""
    for e, w in zip(ema_variables, variables):
        e.assign_sub(ops.multiply(1 - decay, ops.subtract(e, w)))


def ema_indexed(ema_variables, variables, decay):
    """An index loop in float64, cast back."""
    for i in range(len(variables)):
        mixed = tf.cast(decay, tf.float64) * tf.cast(ema_variables[i], tf.float64) + (
            1 - tf.cast(decay, tf.float64)) * tf.cast(variables[i], tf.float64)
        ema_variables[i].assign(tf.cast(mixed, ema_variables[i].dtype))


def ema_wrong(update=None, target="ema", first_only=False):
    def f(ema_variables, variables, decay):
        pairs = list(zip(ema_variables, variables))[:1] if first_only else zip(ema_variables, variables)
        for e, w in pairs:
            value = update(e, w, decay) if update else decay * e + (1 - decay) * w
            (e if target == "ema" else w).assign(value)

    return f


def ema_returned(ema_variables, variables, decay):  # computes the average, assigns nothing
    return [decay * e + (1 - decay) * w for e, w in zip(ema_variables, variables)]


def ema_numpy(ema_variables, variables, decay):
    for e, w in zip(ema_variables, variables):
        e.assign(decay.numpy() * e.numpy() + (1 - decay.numpy()) * w.numpy())


# ----------------------------------------------------------------------------- gradient_penalty


def gp(critic, real, fake, eps):
    x_hat = eps * real + (1 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat)
    grads = tape.gradient(scores, x_hat)
    norms = ops.sqrt(ops.sum(ops.square(grads), axis=tuple(range(1, len(grads.shape)))))
    return ops.mean(ops.square(norms - 1))


def gp_flat64(critic, real, fake, eps):
    """Flattened per-example gradients, the norm in float64, tf.norm."""
    x_hat = tf.convert_to_tensor(fake) + eps * (tf.convert_to_tensor(real) - fake)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        total = tf.reduce_sum(critic(x_hat, training=True))
    g = tf.cast(tf.reshape(tape.gradient(total, x_hat), (tf.shape(x_hat)[0], -1)), tf.float64)
    return tf.reduce_mean(tf.square(tf.norm(g, axis=1) - 1.0))


def gp_wrong(norm="example", power=2, at="mix", scale=1.0, reduce="mean", mean_scores=False, stop=False,
             own_eps=False, one_sided=False):
    """A penalty built from parts, so that each wrong variant differs from the reference in one way."""

    def f(critic, real, fake, eps):
        if own_eps:
            eps = tf.random.uniform(tf.shape(eps))
        x_hat = {"mix": eps * real + (1 - eps) * fake, "swap": eps * fake + (1 - eps) * real,
                 "real": real + 0.0, "fake": fake + 0.0}[at]
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            scores = critic(x_hat)
            if mean_scores:
                scores = tf.reduce_mean(scores)
        g = tape.gradient(scores, x_hat)
        if stop:
            g = tf.stop_gradient(g)
        if norm == "example":
            n = tf.sqrt(tf.reduce_sum(g**2, axis=list(range(1, len(g.shape)))))
        elif norm == "batch":
            n = tf.norm(g)
        elif norm == "last":
            n = tf.norm(g, axis=-1)
        else:  # "squared"
            n = tf.reduce_sum(g**2, axis=list(range(1, len(g.shape))))
        d = tf.maximum(n - 1, 0.0) if one_sided else n - 1
        terms = d**2 if power == 2 else (tf.abs(d) if power == "abs" else d)
        return scale * (tf.reduce_mean(terms) if reduce == "mean" else tf.reduce_sum(terms))

    return f


def gp_numpy(critic, real, fake, eps):  # right eagerly, but NumPy cannot run inside the compiled step
    x_hat = tf.constant(np.asarray(eps) * np.asarray(real) + (1 - np.asarray(eps)) * np.asarray(fake))
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat)
    g = tape.gradient(scores, x_hat).numpy().reshape(len(x_hat), -1)
    return float(np.mean((np.linalg.norm(g, axis=1) - 1) ** 2))


# --------------------------------------------------------------------------------------------- the tables

CHECKS = {
    "discriminator_loss": ch04.check_discriminator_loss,
    "generator_loss": ch04.check_generator_loss,
    "gan_train_step": ch04.check_gan_train_step,
    "mode_coverage": ch04.check_mode_coverage,
    "ema_update": ch04.check_ema_update,
    "gradient_penalty": ch04.check_gradient_penalty,
}

REFERENCES = {
    "discriminator_loss": [d_loss, d_loss_keras, d_loss_tf64],
    "generator_loss": [g_loss, g_loss_keras, g_loss_tf64],
    "gan_train_step": [make_step(), step_plain],
    "mode_coverage": [coverage, coverage_loop, metrics.mode_coverage],
    "ema_update": [ema, ema_assign_sub, ema_indexed],
    "gradient_penalty": [gp, gp_flat64],
}

WRONG = {
    "discriminator_loss": [
        (lambda r, f, smoothing=0.0: -d_loss(r, f, smoothing), "wrong sign"),
        (lambda r, f, smoothing=0.0: d_loss(r, f, smoothing) / 2, "averaged the two terms"),
        (lambda r, f, smoothing=0.0: ops.mean(ops.softplus(-r)), "only the real term"),
        (lambda r, f, smoothing=0.0: ops.mean(ops.softplus(f)), "only the fake term"),
        (lambda r, f, smoothing=0.0: d_loss(-r, -f, smoothing), "labels are swapped"),
        (lambda r, f, smoothing=0.0: 1.386, "expected"),  # a constant
        (d_per_example, "single number"),
        (lambda r, f, smoothing=0.0: d_loss(r, f) * len(r), "summed over the batch"),
        (lambda r, f, smoothing=0.0: d_loss(r, f), "made no difference"),  # smoothing ignored
        (d_two_sided, "smoothed the fake labels too"),
        (lambda r, f, smoothing=0.0: d_loss(r, f, 1 - smoothing if smoothing else 0.0), "not smoothing"),
        (d_keras_label_smoothing, "two-sided, towards"),
        (d_smoothing_scales_log, "log(1 - D(x)) is missing"),
        (d_probabilities, "takes the logits for probabilities"),
        (lambda r, f, smoothing=0.0: d_loss(ops.log(r), f, smoothing), "not a finite number"),  # log of a logit
        (d_clipped, "caps each term at about 16"),
        (d_log_sigmoid, "not a finite number"),
        (d_numpy, "inside a tf.function"),
    ],
    "generator_loss": [
        (lambda f: -ops.mean(ops.softplus(f)), "minimax (saturating)"),
        (lambda f: -ops.mean(ops.softplus(-f)), "wrong sign"),
        (lambda f: ops.sum(ops.softplus(-f)), "summed over the batch"),
        (lambda f: ops.sum(ops.softplus(-f)) / 256, "expected"),  # the notebook's batch size
        (lambda f: 0.693, "expected"),
        (lambda f: ops.softplus(-f), "single number"),
        (lambda f: ops.mean(ops.softplus(f)), "the discriminator's loss on the fakes"),
        (lambda f: keras.losses.BinaryCrossentropy()(ops.ones_like(f), f), "takes the logits for probabilities"),
        (lambda f: -ops.mean(ops.log(ops.clip(ops.sigmoid(f), EPS, 1 - EPS))), "caps each term at about 16"),
        (lambda f: -ops.mean(ops.log(ops.sigmoid(f))), "not a finite number"),
        (lambda f: -ops.mean(ops.log(ops.sigmoid(f) + EPS)), "caps each term at about 16"),
        (lambda f: ops.mean(ops.softplus(-ops.clip(f, -15.0, 15.0))), "expected"),  # logits clipped instead
        (lambda f: np.mean(np.logaddexp(0, -f)), "inside a tf.function"),  # NumPy
    ],
    "gan_train_step": [
        (make_step(simultaneous=True), "used the discriminator from before its update"),
        (make_step(d_in_g_step=True), "discriminator changed in the generator step"),
        (make_step(g_loss_fn=lambda f: -ops.mean(ops.softplus(f))), "saturating loss"),
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
        # a count fitted to one problem: the modes the check's problem used to leave uncovered, typed in
        (lambda s, m, std, c: (len(m) - 6, coverage(s, m, std, c)[1]), "modes_covered is"),
        (lambda s, m, std, c: (6, coverage(s, m, std, c)[1]), "modes_covered is"),  # one problem's count
    ],
}

# Each evaluation of the first three compiles a tf.function: fewer repeats keep this file within ~30 s. The long
# sweeps (hundreds of evaluations of each implementation, no wrong verdict) are run by hand, not here.
WRONG["ema_update"] = [
    (ema_wrong(lambda e, w, d: (1 - d) * e + d * w), "swapped"),
    (ema_wrong(target="weights"), "changed the generator's weights"),
    (ema_returned, "did not change"),
    (ema_wrong(lambda e, w, d: 0.999 * e + 0.001 * w), "fixed decay of 0.999"),
    (ema_wrong(lambda e, w, d: w), "became a copy"),
    (ema_wrong(lambda e, w, d: d * e + w), "(1 - decay) on the weights is missing"),
    (ema_wrong(first_only=True), "only 1 of the 3 variables"),
    (ema_numpy, "no .numpy()"),
    (ema_wrong(lambda e, w, d: (e + w) / 2), "differ from"),
    (ema_wrong(lambda e, w, d: d**2 * e + (1 - d**2) * w), "differ from"),
]

WRONG["gradient_penalty"] = [
    (gp_wrong(power=1), "without squaring"),
    (gp_wrong(power="abs"), "|(||grad|| - 1)|"),
    (gp_wrong(norm="squared"), "squared norm"),
    (gp_wrong(one_sided=True), "one-sided"),
    (gp_wrong(norm="batch"), "whole batch"),
    (gp_wrong(norm="last"), "last axis only"),
    (gp_wrong(mean_scores=True), "1/n of what it should be"),
    (gp_wrong(at="swap"), "eps * fake + (1 - eps) * real"),
    (gp_wrong(at="real"), "at the real examples"),
    (gp_wrong(at="fake"), "at the fakes"),
    (gp_wrong(scale=10.0), "10 times too large"),
    (gp_wrong(reduce="sum"), "summed over the batch"),
    (gp_wrong(own_eps=True), "draw no random numbers"),
    (gp_wrong(stop=True), "No gradient flows"),
    (gp_numpy, "inside a tf.function"),
    (lambda c, r, f, e: 1.0, "expected"),
]

REFERENCE_REPEATS = {"discriminator_loss": 3, "generator_loss": 3, "gan_train_step": 1, "gradient_penalty": 2}
WRONG_REPEATS = {"discriminator_loss": 2, "generator_loss": 2, "gan_train_step": 1, "gradient_penalty": 2}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name],
                                                  repeats=REFERENCE_REPEATS.get(name, 5))


@pytest.mark.parametrize("name, index", [(name, i) for name, wrongs in WRONG.items() for i in range(len(wrongs))])
def test_wrong_implementations_fail_with_a_specific_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message, repeats=WRONG_REPEATS.get(name, 3))
