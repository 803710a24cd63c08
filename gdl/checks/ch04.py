"""Checks for the Chapter 4 exercises (``exercises/04_gans.ipynb``).

The discriminator outputs logits a (any real number; D(x) = sigmoid(a)), as in the chapter.

- ``check_discriminator_loss(f)``: ``f(real_logits, fake_logits, smoothing=0.0)`` returns the binary
  cross-entropy mean[(1 - s) softplus(-a_real) + s softplus(a_real)] + mean[softplus(a_fake)], that is
  -mean[(1 - s) log D(x) + s log(1 - D(x))] - mean[log(1 - D(G(z)))] (one-sided smoothing s), exact and with
  exact gradients for logits at +-200 (where sigmoid rounds to 0 or 1), and differentiable inside a
  ``tf.function`` (the train step calls it there).
- ``check_generator_loss(f)``: ``f(fake_logits)`` returns the non-saturating loss mean[softplus(-a)] =
  -mean[log D(G(z))], with the same requirements; its gradient at a = -200 is -1/n, not 0.
- ``check_gan_train_step(f)``: ``f(generator, discriminator, g_optimizer, d_optimizer, real_images, z,
  smoothing=0.0)`` takes one discriminator step, then one generator step against the updated
  discriminator, with the same noise ``z``; returns ``(d_loss, g_loss)`` computed before each update. The
  check compiles it with ``tf.function`` (as the notebook does) and gives the two optimizers different
  learning rates, so that each model's update tells which optimizer made it.
- ``check_mode_coverage(f)``: ``f(samples, means, std, min_count)`` returns ``(modes_covered,
  high_quality_fraction)`` for 2-D samples of a Gaussian mixture: a sample is high quality when its
  distance to its nearest mean is strictly below 3 std; a mode is covered with at least min_count of them.
- ``check_gradient_penalty(f)``: ``f(critic, real, fake, eps)`` returns mean[(||grad critic(x_hat)|| - 1)^2] at
  x_hat = eps real + (1 - eps) fake, one norm per example over all its axes; on vectors and on images every
  run; its gradient with respect to the critic's weights (through the inner gradient) is checked inside a
  ``tf.function``.
- ``check_ema_update(f)``: ``f(ema_variables, variables, decay)`` assigns decay * ema + (1 - decay) * w to each
  averaged variable and leaves the trained ones alone; compiled with ``tf.function`` and called twice with
  different tensor decays, on a bias, a dense kernel and a convolution kernel.
"""

import numpy as np

from gdl.checks import (
    _learner_line,
    _short,
    as_array,
    expect_close,
    expect_finite,
    expect_shape,
    fail,
    make_check,
    new_rng,
)

EPS = 1e-7  # the clipping of Chapter 4's earlier version: a wrong answer now, recognised in the messages
EXTREME = 200.0  # |logit| where sigmoid rounds to 0 or 1 in float32: log(sigmoid(a)) is -inf there
_NUMPY_HINT = ("Use keras.ops (ops.softplus, ops.mean) rather than NumPy, and no .numpy() or float(): "
               "inside a compiled train step the outputs are symbolic tensors.")
_LOGIT_HINT = ("The discriminator outputs logits a (any real number), D = sigmoid(a): write -log D = softplus(-a) "
               "and -log(1 - D) = softplus(a) (ops.softplus), or use a cross-entropy with from_logits=True.")


def _softplus(a):
    return np.logaddexp(0.0, np.asarray(a, dtype="float64"))


def _sigmoid(a):
    return np.exp(-_softplus(-np.asarray(a, dtype="float64")))


def _bce_terms(real, fake, smoothing):
    """The two terms of the discriminator loss on logits, in float64."""
    t = 1.0 - smoothing
    real_term = np.mean(t * _softplus(-real) + (1 - t) * _softplus(real))
    fake_term = np.mean(_softplus(fake))
    return real_term, fake_term


def _log_terms(p_real, p_fake, smoothing):
    """The cross-entropy terms from probabilities clipped to [1e-7, 1 - 1e-7] in float32, as Keras computes them."""
    lo, hi = np.float32(EPS), np.float32(1 - EPS)
    r = np.clip(np.asarray(p_real, dtype="float32"), lo, hi)
    f = np.clip(np.asarray(p_fake, dtype="float32"), lo, hi)
    t = 1.0 - smoothing
    one = np.float32(1)
    return (-np.mean(t * np.log(r).astype("float64") + (1 - t) * np.log(one - r).astype("float64")),
            -np.mean(np.log(one - f).astype("float64")))


def _prob_bce_terms(real, fake, smoothing):
    """The terms with the logits taken for probabilities (a cross-entropy with from_logits=False)."""
    return _log_terms(real, fake, smoothing)


def _clipped_terms(real, fake, smoothing):
    """The terms computed as logs of sigmoid probabilities clipped to [1e-7, 1 - 1e-7]."""
    return _log_terms(_sigmoid(real), _sigmoid(fake), smoothing)


def _scalar(value, what):
    arr = as_array(value, what)
    if arr.size != 1:
        fail(f"{what} should be a single number (the mean over the batch), got shape {arr.shape}.")
    arr = arr.reshape(())
    if not np.isfinite(arr):
        fail(f"{what} is {float(arr)}, not a finite number. {_LOGIT_HINT} (log(sigmoid(a)) underflows to "
             "log(0) for large |a|, and the log of a negative logit is NaN.)")
    return float(arr)


def _logits(rng, n):
    """Discriminator logits as a fair discriminator gives them: mostly positive for real images, negative for fakes,
    with a few on the wrong side (negative real logits catch logs of logits taken for probabilities)."""
    real = rng.uniform(-1.5, 4.0, size=(n, 1)).astype("float32")
    fake = rng.uniform(-4.0, 1.5, size=(n, 1)).astype("float32")
    real[0], fake[0] = -1.0, -2.0
    return real, fake


def _extreme(real, fake):
    """The same logits with some at +-200: a discriminator that is sure, right or wrong."""
    real, fake = real.copy(), fake.copy()
    real[:2], real[2], fake[:2], fake[2] = -EXTREME, EXTREME, EXTREME, -EXTREME
    return real, fake


def _compiled(f, *arrays, **kwargs):
    """``f``'s value and its gradients with respect to ``arrays``, computed inside a ``tf.function``.

    Returns ``(value, grads)`` as NumPy, or fails with a message about NumPy in compiled code.
    """
    import tensorflow as tf

    name = getattr(f, "__name__", "your function")

    @tf.function
    def run(*tensors):
        with tf.GradientTape() as tape:
            for x in tensors:
                tape.watch(x)
            value = f(*tensors, **kwargs)
        value = tf.convert_to_tensor(value)
        grads = tape.gradient(value, list(tensors))
        return value, [tf.zeros_like(x) if g is None else g for x, g in zip(tensors, grads)], [
            g is None for g in grads]

    try:
        value, grads, missing = run(*(tf.constant(a) for a in arrays))
    except Exception as err:
        fail(f"Your {name} fails on TensorFlow tensors inside a tf.function, where the train step calls it: "
             f"{type(err).__name__}: {_short(err, 200)}{_learner_line(err, (f,))}. {_NUMPY_HINT}")
    if all(bool(m) for m in missing):
        fail(f"No gradient flows through your {name} to the discriminator's logits, so the train step could "
             f"not learn from it. {_NUMPY_HINT}")
    return np.asarray(value, dtype="float64"), [np.asarray(g, dtype="float64") for g in grads]


def _d_loss_diagnosis(got, real, fake, s):
    """A specific message for a discriminator loss that does not match, or None."""
    real_term, fake_term = _bce_terms(real, fake, s)
    ref = real_term + fake_term
    t = 1.0 - s
    keras_smooth = (np.mean((1 - s / 2) * _softplus(-real) + s / 2 * _softplus(real))
                    + np.mean((1 - s / 2) * _softplus(fake) + s / 2 * _softplus(-fake)))
    candidates = [
        (-ref, "Your loss has the wrong sign: the discriminator minimises -log D(x) - log(1 - D(G(z))) = "
               "softplus(-a_real) + softplus(a_fake), a positive number."),
        (ref / 2, "you averaged the two terms; the loss is their sum, -V(D, G) = -E[log D(x)] - E[log(1 - D(G(z)))]."),
        (real_term, "only the real term is there: add mean(softplus(a_fake)) = -mean(log(1 - D(G(z)))) for the "
                    "fake images (label 0)."),
        (fake_term, "only the fake term is there: add mean(softplus(-a_real)) = -mean(log D(x)) for the real "
                    "images (label 1)."),
        (np.mean(t * _softplus(real) + (1 - t) * _softplus(-real)) + np.mean(_softplus(-fake)),
         "the labels are swapped: real images have label 1 (softplus(-a) = -log D(x)), fakes label 0 "
         "(softplus(a) = -log(1 - D(G(z))))."),
        (ref * len(real), "you summed over the batch; take the mean of each term."),
        (sum(_prob_bce_terms(real, fake, s)), "your loss takes the logits for probabilities (a cross-entropy "
                                              "with from_logits=False, or logs of the raw outputs). " + _LOGIT_HINT),
    ]
    if s > 0:
        candidates += [
            (sum(_bce_terms(real, fake, 0.0)), f"smoothing={s:.3f} made no difference: with one-sided label "
                                               "smoothing the real target is 1 - smoothing."),
            (real_term + np.mean((1 - s) * _softplus(fake) + s * _softplus(-fake)),
             "you smoothed the fake labels too; smooth only the real ones (one-sided): the fake target stays 0."),
            (keras_smooth, "Keras's label_smoothing=s moves the targets to 1 - s/2 and s/2 (two-sided, towards "
                           "1/2); set the real target to 1 - smoothing yourself and keep the fake target 0."),
            (np.mean(t * _softplus(-real)) + fake_term,
             "the term smoothing * softplus(a_real) = -smoothing * log(1 - D(x)) is missing: with target 1 - s "
             "the cross-entropy of a real image is -[(1 - s) log D(x) + s log(1 - D(x))]."),
            (sum(_bce_terms(real, fake, 1 - s)), f"the real target is 1 - smoothing = {t:.3f}, not smoothing."),
        ]
    for value, message in candidates:
        if np.isclose(got, value, rtol=1e-4, atol=1e-5):
            return message
    return None


def _extreme_message(what, got, ref, clipped):
    if np.isclose(got, clipped, rtol=1e-3, atol=1e-3):
        return (f"With logits at +-{EXTREME:.0f} your {what} is {got:.4g}, expected {ref:.4g}: it clips the "
                "probabilities (or takes log(sigmoid(a)) with an epsilon), which caps each term at about 16 and "
                f"leaves no gradient where the discriminator is sure. {_LOGIT_HINT}")
    return (f"With logits at +-{EXTREME:.0f} your {what} is {got:.4g}, expected {ref:.4g} (a logit of "
            f"{EXTREME:.0f} on the wrong side costs {EXTREME:.0f} nats). {_LOGIT_HINT}")


def _test_discriminator_loss(f):
    rng = new_rng()
    n = int(rng.integers(8, 64))
    real, fake = _logits(rng, n)
    s = float(rng.uniform(0.05, 0.3))
    for smoothing in (0.0, s):
        if smoothing:
            got = _scalar(f(real, fake, smoothing=s), f"discriminator_loss(..., smoothing={s:.3f})")
        else:
            got = _scalar(f(real, fake), "discriminator_loss(real_logits, fake_logits)")
        ref = sum(_bce_terms(real, fake, smoothing))
        if not np.isclose(got, ref, rtol=1e-4, atol=1e-5):
            message = _d_loss_diagnosis(got, real, fake, smoothing)
            if message:
                fail(message)
            fail(f"discriminator_loss(..., smoothing={smoothing:.3f}) is {got:.6g}, expected {ref:.6g} = "
                 "mean((1 - s) softplus(-a_real) + s softplus(a_real)) + mean(softplus(a_fake)).")
    # Logits at +-200: a confident discriminator, right or wrong. The loss stays finite and exact.
    real_x, fake_x = _extreme(real, fake)
    got = _scalar(f(real_x, fake_x, smoothing=s), f"discriminator_loss with logits at +-{EXTREME:.0f}")
    ref = sum(_bce_terms(real_x, fake_x, s))
    if not np.isclose(got, ref, rtol=1e-4, atol=1e-4):
        fail(_extreme_message("discriminator loss", got, ref, sum(_clipped_terms(real_x, fake_x, s))))
    # Inside a tf.function, as the train step calls it: the value and its gradients, at ordinary and extreme logits.
    t = 1.0 - s
    for r, fk, where in ((real, fake, ""), (real_x, fake_x, f" with logits at +-{EXTREME:.0f}")):
        value, (g_real, g_fake) = _compiled(f, r, fk, smoothing=s)
        expect_close(value, sum(_bce_terms(r, fk, s)), "discriminator_loss inside a tf.function" + where, rtol=1e-4,
                     atol=1e-4)
        want_real = (-t * _sigmoid(-r) + (1 - t) * _sigmoid(r)) / n
        want_fake = _sigmoid(fk) / n
        for got_g, want, name in ((g_real, want_real, "real_logits"), (g_fake, want_fake, "fake_logits")):
            if not np.all(np.isfinite(got_g)):
                fail(f"The gradient of your discriminator_loss with respect to {name}{where} is not finite. "
                     + _LOGIT_HINT)
            expect_close(got_g, want, f"the gradient of discriminator_loss with respect to {name}{where}",
                         rtol=1e-3, atol=1e-6, hint=_LOGIT_HINT if where else "")


def _test_generator_loss(f):
    rng = new_rng()
    n = int(rng.integers(8, 64))
    real, fake = _logits(rng, n)
    fake = np.concatenate([fake[: n // 2], real[: n - n // 2]])  # fakes the discriminator rejects and accepts
    got = _scalar(f(fake), "generator_loss(fake_logits)")
    ref = np.mean(_softplus(-fake))
    if not np.isclose(got, ref, rtol=1e-4, atol=1e-5):
        candidates = [
            (-np.mean(_softplus(fake)), "this is the minimax (saturating) loss mean(log(1 - D(G(z)))) = "
                                        "-mean(softplus(a)); use the non-saturating -mean(log D(G(z))) = "
                                        "mean(softplus(-a))."),
            (-ref, "your loss has the wrong sign: the generator minimises -log D(G(z)) = softplus(-a)."),
            (n * ref, "you summed over the batch; take the mean, so the loss does not depend on the batch size."),
            (np.mean(_softplus(fake)), "this is the discriminator's loss on the fakes (label 0); the generator "
                                       "wants D(G(z)) near 1: mean(softplus(-a)) = -mean(log D(G(z))), label 1."),
            (_log_terms(fake, np.zeros_like(fake), 0.0)[0],
             "your loss takes the logits for probabilities (a cross-entropy with from_logits=False, or the log of "
             "the raw outputs). " + _LOGIT_HINT),
        ]
        for value, message in candidates:
            if np.isclose(got, value, rtol=1e-4, atol=1e-5):
                fail(message)
        fail(f"generator_loss is {got:.6g}, expected {ref:.6g} = mean(softplus(-a)) = -mean(log D(G(z))).")
    fake_x, _ = _extreme(fake, fake)  # two logits at -200 (fakes the discriminator is sure of), one at +200
    got = _scalar(f(fake_x), f"generator_loss with logits at +-{EXTREME:.0f}")
    ref = np.mean(_softplus(-fake_x))
    if not np.isclose(got, ref, rtol=1e-4, atol=1e-4):
        fail(_extreme_message("generator loss", got, ref, _clipped_terms(fake_x, fake_x, 0.0)[0]))
    for logits, where in ((fake, ""), (fake_x, f" with logits at +-{EXTREME:.0f}")):
        value, (grad,) = _compiled(f, logits)
        expect_close(value, np.mean(_softplus(-logits)), "generator_loss inside a tf.function" + where, rtol=1e-4,
                     atol=1e-4)
        if not np.all(np.isfinite(grad)):
            fail(f"The gradient of your generator_loss{where} is not finite. " + _LOGIT_HINT)
        want = -_sigmoid(-logits) / n
        if where and np.allclose(grad[:2], 0.0, atol=1e-6):
            fail(f"At logits of -{EXTREME:.0f} (fakes the discriminator is sure of) the gradient of your "
                 "generator_loss is 0: the generator would learn nothing exactly when it is losing, which is what "
                 f"the non-saturating loss is for. The gradient there should be -1/n. {_LOGIT_HINT}")
        expect_close(grad, want, "the gradient of generator_loss with respect to fake_logits" + where, rtol=1e-3,
                     atol=1e-6, hint=_LOGIT_HINT if where else "")


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
         layers.Dense(1, kernel_initializer=init(3))], name="discriminator")  # logits
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
    from keras import ops

    a_real, a_fake = d(real), d(g(z))
    t = 1.0 - s
    return ops.mean(t * ops.softplus(-a_real) + (1 - t) * ops.softplus(a_real)) + ops.mean(ops.softplus(a_fake))


def _g_loss(g, d, z):
    from keras import ops

    return ops.mean(ops.softplus(-d(g(z))))


_STEP_ERRORS = [
    ("can only be called for the variables it was originally built with",
     "one optimizer updated both models (a Keras optimizer serves the variables it first updated): apply the "
     "discriminator's gradients with d_optimizer and the generator's with g_optimizer."),
    ("No gradients provided",
     "a model's weights got no gradient: compute generator(z) and the discriminator's outputs inside the "
     "GradientTape whose gradient you take (a tensor computed before the tape is a constant to it)."),
    ("symbolic", "NumPy does not work inside the compiled train step. " + _NUMPY_HINT),
    ("numpy", "NumPy does not work inside the compiled train step. " + _NUMPY_HINT),
]


def _run_step(f, g, d, lr_g, lr_d, real, z, s):
    """Call the learner's step compiled with tf.function, as the notebook does; turn errors into messages."""
    import keras
    import tensorflow as tf

    g_opt, d_opt = keras.optimizers.SGD(lr_g), keras.optimizers.SGD(lr_d)
    try:
        return tf.function(f)(g, d, g_opt, d_opt, real, z, smoothing=s)
    except NotImplementedError as err:
        if "symbolic" not in str(err):
            raise  # the exercise stub: "not yet complete"
        fail(f"NumPy does not work inside the compiled train step: {_short(err, 150)}{_learner_line(err, (f,))}. "
             + _NUMPY_HINT)
    except Exception as err:
        text = str(err)
        for key, message in _STEP_ERRORS:
            if key in text:
                fail(f"{message} (Under tf.function your step raised {type(err).__name__}{_learner_line(err, (f,))}.)")
        fail(f"Compiled with tf.function, as the notebook's training cell runs it, your gan_train_step raised "
             f"{type(err).__name__}: {_short(err, 300)}{_learner_line(err, (f,))}")


def _test_gan_train_step(f):
    import keras

    rng = new_rng()
    seed = int(rng.integers(1000))
    latent_dim, data_dim, n = int(rng.integers(2, 5)), int(rng.integers(3, 7)), int(rng.integers(8, 32))
    s = float(rng.uniform(0.05, 0.2))
    # Two optimizers with clearly different learning rates: each model's update tells which one made it.
    lr_d = float(rng.uniform(0.08, 0.12))
    lr_g = lr_d * float(rng.uniform(0.4, 0.6))
    real = rng.normal(1.0, 0.5, size=(n, data_dim)).astype("float32")
    z = rng.standard_normal((n, latent_dim)).astype("float32")

    def fresh():
        return _tiny_models(seed, latent_dim, data_dim)

    g0, d0 = fresh()
    w_g0, w_d0 = _weights(g0), _weights(d0)

    # The reference: a discriminator step, then a generator step against the updated discriminator.
    g, d = fresh()
    d_loss_ref = _sgd_step(d, lambda: _d_loss(g, d, real, z, s), lr_d)
    w_d1 = _weights(d)
    g_loss_ref = _sgd_step(g, lambda: _g_loss(g, d, z), lr_g)
    w_g1 = _weights(g)

    g, d = fresh()
    out = _run_step(f, g, d, lr_g, lr_d, real, z, s)
    w_g, w_d = _weights(g), _weights(d)

    def d_after(loss_fn, lr):
        g_, d_ = fresh()
        _sgd_step(d_, lambda: loss_fn(g_, d_), lr)
        return _weights(d_)

    def g_after(loss_fn, lr, d_weights):
        g_, d_ = fresh()
        d_.set_weights(d_weights)
        _sgd_step(g_, lambda: loss_fn(g_, d_), lr)
        return _weights(g_)

    if _same(w_d, w_d0):
        fail("the discriminator's weights did not change: apply its gradients with d_optimizer.")
    if _same(w_g, w_g0):
        fail("the generator's weights did not change: apply its gradients with g_optimizer.")
    if not _same(w_d, w_d1):
        if _same(w_d, d_after(lambda g_, d_: _d_loss(g_, d_, real, z, s), lr_g)):
            fail("the discriminator was updated with g_optimizer (the optimizers are swapped): apply the "
                 "discriminator's gradients with d_optimizer and the generator's with g_optimizer.")
        g2, d2 = fresh()
        d2.set_weights(w_d1)
        _sgd_step(d2, lambda: _g_loss(g2, d2, z), lr_d)
        if _same(w_d, _weights(d2)):
            fail("the discriminator changed in the generator step: differentiate the generator loss with respect to "
                 "generator.trainable_weights only.")
        if _same(w_d, d_after(lambda g_, d_: _d_loss(g_, d_, real, z, 0.0), lr_d)):
            fail(f"the discriminator step ignored smoothing={s:.3f}: pass it on to discriminator_loss.")
        if _same(w_d, d_after(lambda g_, d_: -_d_loss(g_, d_, real, z, s), lr_d)):
            fail("the discriminator moved up its loss: apply the gradients of discriminator_loss (a loss to minimise).")
        fail("after your step the discriminator's weights differ from one gradient step on discriminator_loss "
             "(real_images against generator(z), with the given z).")
    if not _same(w_g, w_g1):
        if _same(w_g, g_after(lambda g_, d_: _g_loss(g_, d_, z), lr_d, w_d1)):
            fail("the generator was updated with d_optimizer: apply the generator's gradients with g_optimizer.")
        if _same(w_g, g_after(lambda g_, d_: _g_loss(g_, d_, z), lr_g, w_d0)):
            fail("the generator step used the discriminator from before its update: update the discriminator first, "
                 "then compute the generator loss with the updated discriminator (alternating updates).")
        saturating = g_after(lambda g_, d_: -keras.ops.mean(keras.ops.softplus(d_(g_(z)))), lr_g, w_d1)
        if _same(w_g, saturating):
            fail("the generator step minimised the saturating loss log(1 - D(G(z))); use generator_loss, "
                 "-mean(log D(G(z))) = mean(softplus(-a)).")
        if _same(w_g, g_after(lambda g_, d_: -_g_loss(g_, d_, z), lr_g, w_d1)):
            fail("the generator moved up its loss: apply the gradients of generator_loss (a loss to minimise).")
        g_again, d_again = fresh()
        # A notebook that fixed TF's global seed gives unseeded ops the same noise on every trace: pick a new
        # global seed so that noise drawn inside the step differs between the two runs (this path fails anyway).
        import tensorflow as tf

        tf.random.set_seed(int(rng.integers(2**31 - 1)))
        _run_step(f, g_again, d_again, lr_g, lr_d, real, z, s)
        if not _same(_weights(g_again), w_g):
            fail("your step gives different generator weights from the very same inputs: it draws noise of its "
                 "own. Use the given z in both steps.")
        fail("after your step the generator's weights differ from one gradient step on generator_loss "
             "(discriminator(generator(z)) with the updated discriminator and the same z).")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"gan_train_step should return the pair (d_loss, g_loss), got {type(out).__name__}.")
    d_loss, g_loss = _scalar(out[0], "d_loss"), _scalar(out[1], "g_loss")
    g1, d1 = fresh()
    d1.set_weights(w_d1)
    g1.set_weights(w_g1)
    if not np.isclose(d_loss, d_loss_ref, rtol=1e-4, atol=1e-5):
        after = [float(_d_loss(g_, d1, real, z, s)) for g_ in (g0, g1)]  # after the discriminator's or both updates
        if any(np.isclose(d_loss, a, rtol=1e-4, atol=1e-5) for a in after):
            fail("the returned d_loss is the loss after the discriminator's update: return the loss computed "
                 "before it (the one whose gradients you applied).")
        expect_close(d_loss, d_loss_ref, "the returned d_loss", hint="Return the discriminator loss computed before "
                     "its update.")
    if not np.isclose(g_loss, g_loss_ref, rtol=1e-4, atol=1e-5):
        if np.isclose(g_loss, float(_g_loss(g1, d1, z)), rtol=1e-4, atol=1e-5):
            fail("the returned g_loss is the loss after the generator's update: return the loss computed "
                 "before it (the one whose gradients you applied).")
        expect_close(g_loss, g_loss_ref, "the returned g_loss", hint="Return the generator loss computed before its "
                     "update.")


# ------------------------------------------------------------------------------------------- mode coverage


def _coverage(samples, means, std, min_count, threshold=None):
    """(modes covered, fraction high quality), with an optional other distance rule (for the diagnosis)."""
    d = np.linalg.norm(samples[:, None] - means[None], axis=-1)
    nearest = d.argmin(1)
    good = d.min(1) < 3 * std if threshold is None else threshold(samples - means[nearest], d.min(1))
    counts = np.bincount(nearest[good], minlength=len(means))
    return int(np.sum(counts >= min_count)), float(good.mean())


def _mode_problem(rng, k=None, std=None, min_count=None, uncovered=0):
    """Samples of a mixture built so that every threshold matters and each mistake gives another answer.

    Means and std are multiples of 1/64 (exact in floating point), so a sample at exactly 3 std from its
    mean is at exactly 3 std in any correct computation. The sizes avoid the notebook's (8 modes,
    std 0.05, min_count 20), so that a constant copied from there fails.
    """
    k = int(rng.integers(11, 15)) if k is None else k
    means = np.round(64 * _ring(k, float(rng.uniform(3.0, 4.0)))) / 64
    std = int(rng.integers(2, 7)) / 64 if std is None else std
    min_count = int(rng.integers(5, 15)) if min_count is None else min_count

    def around(j, count, low, high):
        r = std * rng.uniform(low, high, size=count)
        a = rng.uniform(0, 2 * np.pi, size=count)
        return means[j] + np.stack([r * np.cos(a), r * np.sin(a)], axis=1)

    def at(j, offsets):
        return means[j] + std * np.asarray(offsets, dtype="float64")

    axis = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])[rng.integers(4)]
    ladder = np.array([0.05, 0.2, 0.5, 0.9, 1.5, 2.2, 2.7, 3.1, 3.4, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    ladder = ladder[ladder * std < 0.6]  # radii (in std) that separate every wrong threshold from the others
    parts = [
        around(0, min_count, 0.0, 2.5),  # exactly min_count high-quality samples: covered
        around(1, min_count - 1, 0.0, 2.5),  # one too few: not covered
        around(2, min_count - 1, 0.0, 2.5),
        around(3, 3 * min_count, 3.3, 3.8),  # many samples, none high quality
        around(4, min_count - 1, 0.0, 2.5), at(4, [(3.0, 0.0), (0.0, -3.0)]),  # two at exactly 3 std
        around(5, min_count - 1, 0.0, 2.5), at(5, [(2.5, 2.5), (-2.5, 2.5), (2.5, -2.5)]),  # in the box, not the disc
        around(6, min_count + 1, 0.0, 2.5),  # covered, with fewer than 20
        # mode 7 gets no sample
        around(8, 3 * min_count, 0.0, 2.9), means[8] + std * ladder[:, None] * axis,
    ]
    # of the other modes, ``uncovered`` (at random) get too few high-quality samples, the rest many: the number
    # of covered modes is not fixed by k, std and min_count
    short = set(rng.permutation(np.arange(9, k))[:uncovered].tolist())
    for j in range(9, k):
        count = int(rng.integers(1, min_count)) if j in short else int(rng.integers(3 * min_count, 6 * min_count))
        parts.append(around(j, count, 0.0, 2.9))
    samples = rng.permutation(np.concatenate(parts))
    return samples, means, std, min_count


def _ring(k, radius):
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _test_mode_coverage(f):
    rng = new_rng()
    # two problems of the same size, std and min_count whose numbers of covered modes differ: a count typed in
    # (or computed from those sizes alone) fails one of them
    k, std, min_count = int(rng.integers(11, 15)), int(rng.integers(2, 7)) / 64, int(rng.integers(5, 15))
    for uncovered in rng.choice(k - 9 + 1, size=2, replace=False):
        _test_mode_coverage_once(f, *_mode_problem(rng, k, std, min_count, int(uncovered)))


def _test_mode_coverage_once(f, samples, means, std, min_count):
    out = f(samples, means, std, min_count)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"mode_coverage should return the pair (modes_covered, high_quality_fraction), got {type(out).__name__}.")
    covered = float(expect_shape(out[0], (), "modes_covered"))
    fraction = float(expect_shape(out[1], (), "high_quality_fraction"))
    expect_finite(np.array([covered, fraction]), "mode_coverage's result")
    ref_covered, ref_fraction = _coverage(samples, means, std, min_count)
    variants = {
        "disc": lambda diff, dist: dist <= 3 * std,
        "box": lambda diff, dist: np.all(np.abs(diff) < 3 * std, axis=1),
        "squared": lambda diff, dist: dist**2 < 3 * std,
        "variance": lambda diff, dist: dist < 3 * std**2,
        "one": lambda diff, dist: dist < std,
        "notebook": lambda diff, dist: dist < 3 * 0.05,
    }
    alt = {name: _coverage(samples, means, std, min_count, rule) for name, rule in variants.items()}
    if not np.isclose(fraction, ref_fraction, atol=1e-9):
        if np.isclose(fraction, 1.0):
            fail("every sample counted as high quality: only samples within 3 std of their nearest mean are.")
        if np.isclose(fraction, ref_fraction * len(samples)):
            fail("high_quality_fraction is a count; divide by the number of samples.")
        messages = {
            "disc": "a sample at exactly 3 std from its mean counted as high quality: high quality means strictly "
                    "closer than 3 std (distance < 3 * std).",
            "box": "a sample 2.5 std from its mean along both axes (3.5 std away) counted as high quality: use the "
                   "Euclidean distance to the mean, not each coordinate separately.",
            "squared": "you compared the squared distance with 3 * std: compare the distance itself (or its square "
                       "with (3 * std)**2).",
            "variance": "you compared the distance with 3 * std**2: the threshold is 3 standard deviations, 3 * std.",
            "one": "you counted samples within 1 std: the threshold is 3 * std.",
            "notebook": "your threshold is 3 * 0.05, the notebook's std: use the std argument.",
        }
        for name, message in messages.items():
            if np.isclose(fraction, alt[name][1], atol=1e-9):
                fail(message)
        fail(f"high_quality_fraction is {fraction:.4f}, expected {ref_fraction:.4f}: the fraction of all samples "
             "strictly closer than 3 std to their nearest mean.")
    if covered != ref_covered:
        d = np.linalg.norm(samples[:, None] - means[None], axis=-1)
        nearest, good = d.argmin(1), d.min(1) < 3 * std
        counts = np.bincount(nearest[good], minlength=len(means))
        if covered == np.sum(counts > min_count):
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: a mode with exactly min_count "
                 "high-quality samples is covered (at least min_count: >=, not >).")
        if covered == len(np.unique(nearest)):
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: a mode counts only when at least "
                 "min_count high-quality samples (within 3 std) fall on it.")
        if covered == np.sum(np.bincount(nearest, minlength=len(means)) >= min_count):
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: count only the high-quality samples "
                 "(within 3 std) of each mode.")
        if covered == np.sum(counts > 0):
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: a mode needs at least min_count "
                 f"(here {min_count}) high-quality samples, not just one.")
        if covered == np.sum(counts >= 20) and min_count != 20:
            fail(f"modes_covered is {int(covered)}, expected {ref_covered}: use the min_count argument "
                 f"(here {min_count}), not the notebook's 20.")
        fail(f"modes_covered is {int(covered)}, expected {ref_covered}.")


check_discriminator_loss = make_check("discriminator_loss", _test_discriminator_loss)
check_generator_loss = make_check("generator_loss", _test_generator_loss)
check_gan_train_step = make_check("gan_train_step", _test_gan_train_step, points=2)
check_mode_coverage = make_check("mode_coverage", _test_mode_coverage)


# ------------------------------------------------------------------------------------------- the moving average


def _test_ema_update(f):
    import tensorflow as tf

    rng = new_rng()
    shapes = [(int(rng.integers(2, 6)),), (int(rng.integers(2, 5)), int(rng.integers(2, 5))),
              (3, 3, 1, int(rng.integers(2, 4)))]  # a bias, a dense kernel, a convolution kernel
    w0 = [rng.normal(size=s).astype("float32") for s in shapes]
    e0 = [rng.normal(size=s).astype("float32") for s in shapes]
    weights = [tf.Variable(w) for w in w0]
    averages = [tf.Variable(e) for e in e0]
    step = tf.function(lambda decay: f(averages, weights, decay))
    expected = [e.astype("float64") for e in e0]
    for call, decay in enumerate((float(rng.uniform(0.55, 0.75)), float(rng.uniform(0.8, 0.95)))):
        before = [e.copy() for e in expected]
        try:
            step(tf.constant(decay, dtype="float32"))
        except NotImplementedError as err:
            if "symbolic" not in str(err):
                raise  # the exercise stub: "not yet complete"
            fail(f"NumPy does not work inside the compiled update: {_short(err, 150)}{_learner_line(err, (f,))}.")
        except Exception as err:
            fail(f"Compiled with tf.function, as the training cell runs it, your ema_update raised "
                 f"{type(err).__name__}: {_short(err, 200)}{_learner_line(err, (f,))}. Update each variable with "
                 "ema.assign(decay * ema + (1 - decay) * w), no NumPy and no .numpy(): decay is a tensor there.")
        got_w = [np.asarray(w.numpy(), dtype="float64") for w in weights]
        got = [np.asarray(e.numpy(), dtype="float64") for e in averages]
        if any(not np.allclose(g, w, rtol=1e-6, atol=1e-7) for g, w in zip(got_w, w0)):
            fail("your ema_update changed the generator's weights (the second argument); only the averaged copy "
                 "(the first argument) is updated, and the trained weights stay as they are.")
        w64 = [w.astype("float64") for w in w0]
        expected = [decay * e + (1 - decay) * w for e, w in zip(before, w64)]

        def same(values, got=got):
            return all(np.allclose(g, v, rtol=1e-5, atol=1e-5) for g, v in zip(got, values))

        if same(expected):
            continue
        if same(before):
            fail("the averaged variables did not change: assign the new value to each of them "
                 "(ema.assign(...)); a value you return or bind to a name is thrown away.")
        if same(w64):
            fail("the average became a copy of the weights: mix the two, decay * ema + (1 - decay) * w.")
        if same([(1 - decay) * e + decay * w for e, w in zip(before, w64)]):
            fail(f"decay and 1 - decay are swapped: with decay = {decay:.3f} the old average keeps weight decay "
                 "and the new weights get 1 - decay.")
        if same([0.999 * e + 0.001 * w for e, w in zip(before, w64)]):
            fail("you used a fixed decay of 0.999: use the decay argument (the chapter warms it up from small "
                 "values, so it changes from step to step).")
        if same([decay * e + w for e, w in zip(before, w64)]):
            fail("the factor (1 - decay) on the weights is missing: decay * ema + (1 - decay) * w, weights that "
                 "sum to 1.")
        changed = [not np.allclose(g, b, rtol=1e-6, atol=1e-7) for g, b in zip(got, before)]
        if not all(changed):
            fail(f"only {sum(changed)} of the {len(changed)} variables changed: update every pair of "
                 "(average, weight) (zip the two lists).")
        fail(f"after one call with decay = {decay:.3f} the averaged variables differ from "
             "decay * ema + (1 - decay) * w (call number "
             f"{call + 1} of the compiled update; the second call uses another decay).")


check_ema_update = make_check("ema_update", _test_ema_update)


# ------------------------------------------------------------------------------------------- the gradient penalty


def _gp_critic(rng, shape):
    """A small critic on inputs of ``shape``: Flatten, Dense(tanh), Dense(1), with random weights. Returns the
    Keras model and its weights in float64 (W1, b1, w2, b2)."""
    import keras

    d = int(np.prod(shape))
    hidden = int(rng.integers(5, 9))
    critic = keras.Sequential([keras.Input(shape=shape), keras.layers.Flatten(),
                               keras.layers.Dense(hidden, activation="tanh"), keras.layers.Dense(1)])
    w1 = rng.normal(0.0, 1.0 / np.sqrt(d), size=(d, hidden))
    b1 = rng.normal(0.0, 0.5, size=hidden)
    w2 = rng.normal(0.0, 1.0, size=(hidden, 1))
    b2 = rng.normal(0.0, 0.1, size=1)
    return critic, [w1, b1, w2, b2]


def _gp_grads(weights, x):
    """Per-example gradients of the critic's score at x (n, ...), flattened: (n, d), float64."""
    w1, b1, w2, _ = weights
    flat = x.reshape(len(x), -1)
    slope = 1.0 - np.tanh(flat @ w1 + b1) ** 2
    return (slope * w2[:, 0]) @ w1.T


def _gp_case(rng, images):
    """Inputs for one call: a critic whose gradient norms at x_hat straddle 1, real, fake, eps."""
    n = int(rng.choice([6, 7, 8, 9, 11, 12]))  # not 10: a sum over 10 examples would look like lambda = 10
    shape = (int(rng.integers(3, 6)), int(rng.integers(3, 6)), 1) if images else (int(rng.integers(2, 6)),)
    real = rng.normal(0.5, 1.0, size=(n, *shape))
    fake = rng.normal(-0.5, 1.0, size=(n, *shape))
    eps = rng.uniform(0.1, 0.9, size=(n,) + (1,) * len(shape))
    eps[0], eps[1] = 0.95, 0.05  # far from 1/2: swapping eps and 1 - eps changes x_hat
    critic, weights = _gp_critic(rng, shape)
    x_hat = eps * real + (1 - eps) * fake
    norms = np.sort(np.linalg.norm(_gp_grads(weights, x_hat), axis=1))
    # The norm is linear in w2: put 1 between the two middle norms, so that half the examples lie above 1 and
    # half below (a one-sided penalty or a missing square shows), none at 1.
    weights[2] = weights[2] / np.sqrt(norms[n // 2 - 1] * norms[n // 2])
    critic.set_weights([w.astype("float32") for w in weights])
    arrays = [a.astype("float32") for a in (real, fake, eps)]
    return critic, [w.astype("float32").astype("float64") for w in weights], arrays


def _gp_value(weights, real, fake, eps):
    x_hat = eps * real + (1 - eps) * fake
    norms = np.linalg.norm(_gp_grads(weights, x_hat), axis=1)
    return float(np.mean((norms - 1) ** 2))


def _gp_diagnosis(got, weights, real, fake, eps):
    """A specific message for a gradient penalty that does not match, or None."""
    n = len(real)
    x_hat = eps * real + (1 - eps) * fake
    grads = _gp_grads(weights, x_hat)
    norms = np.linalg.norm(grads, axis=1)
    images = real.ndim == 4
    ref = np.mean((norms - 1) ** 2)
    candidates = [
        (np.mean(norms - 1), "you averaged ||grad|| - 1 without squaring it: the penalty is mean((||grad|| - 1)**2)."),
        (np.mean(np.abs(norms - 1)), "you took |(||grad|| - 1)|: the penalty squares it, mean((||grad|| - 1)**2)."),
        (np.mean((norms**2 - 1) ** 2), "you used the squared norm: the penalty is (||grad|| - 1)**2 with the norm "
                                       "itself, sqrt(sum(grad**2)) over each example's coordinates."),
        (np.mean(norms**2), "you penalised ||grad||**2: the penalty pulls the norm towards 1, (||grad|| - 1)**2."),
        (np.mean(np.maximum(norms - 1, 0) ** 2), "you penalised only norms above 1 (the one-sided variant): the "
                                                 "exercise asks for the two-sided (||grad|| - 1)**2."),
        ((np.linalg.norm(grads) - 1) ** 2, "you took one norm over the whole batch: compute one gradient norm per "
                                           "example (sum the squares over all axes but the first), then average."),
        (np.mean((norms / n - 1) ** 2), "the gradient is 1/n of what it should be: differentiate the critic's "
                                        "scores themselves (their sum), not their mean, so that each example's "
                                        "gradient is the gradient of its own score."),
        (_gp_value(weights, fake, real, eps), "x_hat is eps * fake + (1 - eps) * real: the exercise mixes "
                                              "eps * real + (1 - eps) * fake."),
        (_gp_value(weights, real, real, eps), "the gradient is taken at the real examples: take it at the mixtures "
                                              "x_hat = eps * real + (1 - eps) * fake."),
        (_gp_value(weights, fake, fake, eps), "the gradient is taken at the fakes: take it at the mixtures "
                                              "x_hat = eps * real + (1 - eps) * fake."),
        (10 * ref, "your penalty is 10 times too large: the weight lambda = 10 is applied by the train step, not "
                   "inside gradient_penalty."),
        (n * ref, "you summed over the batch: take the mean of (||grad|| - 1)**2 over the examples."),
    ]
    if images:
        last = np.abs(grads)  # one channel: a norm over the last axis is |grad| of each pixel
        candidates += [
            (np.mean((last - 1) ** 2), "your norm runs over the last axis only (the channels): for images the "
                                       "gradient norm of an example runs over all its axes, height, width and "
                                       "channels (axis=(1, 2, 3), or flatten each example first)."),
        ]
        g = grads.reshape(real.shape)
        for axis in (1, 2):
            per = np.sqrt(np.sum(g**2, axis=axis))
            candidates.append((np.mean((per - 1) ** 2), f"your norm runs over axis {axis} only: for images the "
                               "gradient norm of an example runs over all its axes but the first."))
    for value, message in candidates:
        if np.isclose(got, value, rtol=1e-4, atol=1e-6):
            return message
    return None


def _gp_reference(critic, real, fake, eps):
    """The penalty in TensorFlow, for the gradient with respect to the critic's weights."""
    import tensorflow as tf

    x_hat = eps * real + (1 - eps) * fake
    with tf.GradientTape() as inner:
        inner.watch(x_hat)
        scores = critic(x_hat)
    g = tf.reshape(inner.gradient(scores, x_hat), (tf.shape(x_hat)[0], -1))
    return tf.reduce_mean((tf.norm(g, axis=1) - 1) ** 2)


def _gp_compiled(fn, critic, inputs):
    """``fn``'s penalty and its gradients with respect to the critic's weights, inside a ``tf.function``."""
    import tensorflow as tf

    variables = critic.trainable_variables

    @tf.function
    def outer(real_t, fake_t, eps_t):
        with tf.GradientTape() as tape:
            value = tf.convert_to_tensor(fn(critic, real_t, fake_t, eps_t))
        grads = tape.gradient(value, variables)
        return value, [tf.zeros_like(v) if g is None else g for v, g in zip(variables, grads)], [
            g is None for g in grads]

    value, grads, missing = outer(*inputs)
    return np.asarray(value), [np.asarray(g) for g in grads], [bool(m) for m in missing]


def _test_gradient_penalty_on(f, rng, images):
    import tensorflow as tf

    kind = "images (n, h, w, 1)" if images else "vectors (n, d)"
    critic, weights, (real, fake, eps) = _gp_case(rng, images)
    r64, f64, e64 = (a.astype("float64") for a in (real, fake, eps))
    ref = _gp_value(weights, r64, f64, e64)
    inputs = (tf.constant(real), tf.constant(fake), tf.constant(eps))
    got = _scalar(f(critic, *inputs), f"gradient_penalty on {kind}")
    if not np.isclose(got, ref, rtol=1e-4, atol=1e-6):
        message = _gp_diagnosis(got, weights, r64, f64, e64)
        if message:
            fail(f"On {kind}: {message}")
        got2 = _scalar(f(critic, *inputs), f"gradient_penalty on {kind}")
        if not np.isclose(got, got2, rtol=1e-5, atol=1e-7):
            fail(f"Two calls with the same inputs gave {got:.6g} and {got2:.6g}: use the given eps for the "
                 "mixtures, draw no random numbers of your own.")
        fail(f"On {kind}: gradient_penalty is {got:.6g}, expected {ref:.6g} = mean((||grad critic(x_hat)|| - 1)**2) "
             "at x_hat = eps * real + (1 - eps) * fake, one norm per example.")
    # Inside a tf.function, as the critic's train step calls it: the value and its gradient with respect to the
    # critic's weights (the penalty trains the critic, so the gradient must flow through the inner gradient).
    try:
        value, grads, missing = _gp_compiled(f, critic, inputs)
    except Exception as err:
        fail(f"Your gradient_penalty fails inside a tf.function, where the critic's train step calls it: "
             f"{type(err).__name__}: {_short(err, 200)}{_learner_line(err, (f,))}. Use tf.GradientTape and "
             "keras.ops / TensorFlow operations, no NumPy and no .numpy().")
    expect_close(value.reshape(()), ref, f"gradient_penalty on {kind} inside a tf.function", rtol=1e-4, atol=1e-6)
    if all(missing) or all(np.allclose(g, 0.0, atol=1e-9) for g in grads):
        fail("No gradient flows from your penalty to the critic's weights, so the critic could not learn from it: "
             "compute the inner gradient inside a GradientTape (tape.gradient of the scores with respect to "
             "x_hat) and keep it a tensor (no tf.stop_gradient, NumPy or .numpy()), so that the outer tape "
             "differentiates through it.")
    want = _gp_compiled(_gp_reference, critic, inputs)[1]
    for got_g, want_g, v in zip(grads, want, critic.trainable_variables):
        expect_close(got_g, want_g, f"the gradient of your penalty with respect to the critic's {v.name} ({kind})",
                     rtol=2e-3, atol=1e-5)


def _test_gradient_penalty(f):
    rng = new_rng()
    for images in (False, True):  # every run: vectors (n, d) and images (n, h, w, 1)
        _test_gradient_penalty_on(f, rng, images)


check_gradient_penalty = make_check("gradient_penalty", _test_gradient_penalty)
