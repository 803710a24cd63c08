"""Checks for the Chapter 9 exercises (``exercises/09_flow_matching.ipynb``).

Time runs from noise (t = 0) to data (t = 1), as in Chapter 9.

- ``check_interpolate(f)``: ``f(x0, x1, t)`` returns ``(x_t, target)``: the straight path
  x_t = (1 - t) x0 + t x1, one t per example, and its velocity x1 - x0.
- ``check_flow_matching_loss(f)``: ``f(velocity, x0, x1, t)`` returns mean((velocity(x_t, t) - (x1 - x0))^2) over
  examples and coordinates, with the given noise and times; it also runs and differentiates in a ``tf.function``.
- ``check_euler(f)``: ``f(velocity, x0, steps)`` integrates dx/dt = velocity(x, t) from t = 0 to 1 with ``steps``
  equal Euler steps (``steps`` evaluations) and returns x at t = 1.
- ``check_heun(f)``: the same with Heun's method (2 * ``steps`` evaluations, the corrector at every step).
- ``check_guided_velocity(f)``: ``f(v_cond, v_uncond, w)`` returns v_uncond + w (v_cond - v_uncond).

Every run tries points (n, d) and image batches (n, h, w, c), and the times t = 0 and t = 1.
"""

import numpy as np

from gdl.checks import (
    _learner_line,
    _short,
    as_array,
    batch_shapes,
    compiled_errors,
    expect_close,
    expect_finite,
    expect_shape,
    fail,
    make_check,
    new_rng,
    same_values,
)

_TF_HINT = ("Write it with operations that work on tensors too (arithmetic, keras.ops.mean): no NumPy calls on the "
            "velocity's output, no .numpy(), no float() of a tensor.")


def _times(rng, n):
    """One time per example in [0, 1], always including 0 and 1, in random places."""
    return rng.permutation(np.concatenate([[0.0, 1.0], rng.uniform(0.05, 0.95, size=n - 2)]))


def _col(t, x):
    return np.asarray(t, dtype="float64").reshape((-1,) + (1,) * (np.ndim(x) - 1))


def _call(f, args, what):
    """Call the learner's function; turn a broadcasting error into advice."""
    try:
        return f(*args)
    except NotImplementedError:
        raise  # the exercise stub: "not yet complete"
    except ValueError as err:
        if "broadcast" not in str(err) and "shape" not in str(err).lower():
            raise
        fail(f"{what} raised ValueError: {_short(err, 150)}{_learner_line(err, (f,))}. Reshape t, one time per "
             "example, to (n, 1, ..., 1) so that it broadcasts over points and images alike, e.g. "
             "t.reshape((-1,) + (1,) * (x1.ndim - 1)).")


# ----------------------------------------------------------------------------- interpolate


def _pair(out, what):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{what} should return two arrays, (x_t, target); got {type(out).__name__}.")
    return out


def _test_interpolate(f):
    rng = new_rng()
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        x0, x1 = rng.normal(size=shape), rng.uniform(-1, 1, size=shape)
        t = _times(rng, shape[0])
        what = f"interpolate(x0, x1, t) for {kind} of shape {shape}"
        x_t, target = _pair(_call(f, (x0, x1, t), what), what)
        x_t = expect_shape(x_t, shape, f"x_t from {what}")
        target = expect_shape(target, shape, f"the target from {what}")
        expect_finite(x_t, "x_t")
        expect_finite(target, "the target")
        c = _col(t, x1)
        ref = (1 - c) * x0 + c * x1
        if not same_values(x_t, ref):
            candidates = [
                (c * x0 + (1 - c) * x1, "The path runs from noise at t = 0 to data at t = 1: x_t = (1 - t) x0 + t x1 "
                                        "(you have the two ends swapped)."),
                (x0 + c * x1, "x_t = (1 - t) x0 + t x1: the noise fades out as t grows."),
                ((1 - c) * x1 + c * x0, "The path runs from noise at t = 0 to data at t = 1: x_t = (1 - t) x0 + t x1 "
                                        "(you have the two ends swapped)."),
                (np.sqrt(1 - c) * x0 + np.sqrt(c) * x1, "This is a straight line, not a variance-preserving path: "
                                                        "the weights are 1 - t and t, without square roots."),
                ((1 - t[0]) * x0 + t[0] * x1, "Each example has its own time t[i]: do not use the first one for all."),
            ]
            for value, message in candidates:
                if same_values(x_t, value):
                    fail(f"With {kind}: {message}")
            expect_close(x_t, ref, f"x_t from {what}", hint="x_t[i] = (1 - t[i]) x0[i] + t[i] x1[i].")
        ref_target = x1 - x0
        if not same_values(target, ref_target):
            candidates = [
                (x0 - x1, "The velocity points from the noise to the data: d x_t / dt = x1 - x0, not x0 - x1."),
                (x1, "The target is the velocity of the path, d x_t / dt = x1 - x0, not the data itself."),
                ((x1 - ref) / np.maximum(1 - c, 1e-12), "Use the constant velocity x1 - x0 of the line, not "
                                                        "(x1 - x_t) / (1 - t), which blows up at t = 1."),
                (c * (x1 - x0), "The velocity of the straight path does not depend on t: it is x1 - x0."),
            ]
            for value, message in candidates:
                if same_values(target, value):
                    fail(f"With {kind}: {message}")
            expect_close(target, ref_target, f"the target from {what}", hint="target = x1 - x0.")


# ----------------------------------------------------------------------------- flow_matching_loss


def _velocity_np(rng, shape):
    """A stand-in velocity network for points and images: mixes coordinates and depends clearly on t."""
    size = int(np.prod(shape[1:]))
    w = rng.normal(size=(size, size)) / np.sqrt(size)
    phase = rng.uniform(0, 2 * np.pi, size=size)

    def velocity(x, t):
        x, t = np.asarray(x, dtype="float64"), np.asarray(t, dtype="float64")
        if t.shape != (len(x),):
            raise ValueError(f"velocity(x_t, t) expects one time per example, t of shape ({len(x)},), got {t.shape}")
        flat = x.reshape(len(x), -1)
        return (np.tanh(flat @ w) + np.sin(5.0 * t[:, None] + phase)).reshape(x.shape)

    return velocity, w, phase


def _test_flow_matching_loss(f):
    rng = new_rng()
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        velocity, w, phase = _velocity_np(rng, shape)
        x0, x1 = rng.normal(size=shape), rng.uniform(-1, 1, size=shape)
        t = _times(rng, shape[0])
        what = f"flow_matching_loss(velocity, x0, x1, t) for {kind} of shape {shape}"
        out = as_array(_call(f, (velocity, x0, x1, t), what), what)
        if out.shape != ():
            fail(f"{what} returned shape {out.shape}: average over examples and coordinates, one number.")
        out = float(out)
        expect_finite(np.asarray(out), what)
        c = _col(t, x1)
        x_t = (1 - c) * x0 + c * x1
        err = velocity(x_t, t) - (x1 - x0)
        ref = float(np.mean(err**2))
        if np.isclose(out, ref, rtol=1e-5, atol=1e-8):
            continue
        swapped = c * x0 + (1 - c) * x1
        candidates = [
            (np.mean((velocity(x1, t) - (x1 - x0)) ** 2), "Give the network the point on the path, x_t = (1 - t) x0 + "
                                                          "t x1, not the data x1."),
            (np.mean((velocity(x0, t) - (x1 - x0)) ** 2), "Give the network the point on the path, x_t = (1 - t) x0 + "
                                                          "t x1, not the noise x0."),
            (np.mean((velocity(swapped, t) - (x1 - x0)) ** 2), "x_t = (1 - t) x0 + t x1: noise at t = 0, data at t = 1 "
                                                               "(the ends are swapped)."),
            (np.mean((velocity(x_t, t) - (x0 - x1)) ** 2), "The target velocity is x1 - x0 (from noise to data), "
                                                           "not x0 - x1."),
            (np.mean((velocity(x_t, t) - x1) ** 2), "Regress onto the velocity x1 - x0, not onto the data x1."),
            (np.mean((velocity(x_t, 1 - t) - (x1 - x0)) ** 2), "Give the network the time t itself, not 1 - t."),
            (np.mean((velocity(x_t, t * 1000) - (x1 - x0)) ** 2), "Give the network the time t in [0, 1] as it is."),
            (np.sum(err**2), "You summed the squared errors: take their mean over everything."),
            (np.mean(np.sum(err.reshape(len(err), -1) ** 2, axis=1)), "You summed over the coordinates of each "
                                                                      "example: average over them too (one mean "
                                                                      "over everything)."),
            (np.mean(np.abs(err)), "Use the squared error, not the absolute error."),
            (np.sqrt(ref), "Return the mean squared error itself, not its square root."),
            (0.5 * ref, "No factor 1/2 here: the loss is the plain mean of the squared errors."),
        ]
        for value, message in candidates:
            if np.isclose(out, value, rtol=1e-5, atol=1e-8):
                fail(f"With {kind}: {message}")
        again = float(as_array(_call(f, (velocity, x0, x1, t), what), what).reshape(()))
        if not np.isclose(again, out, rtol=1e-9, atol=0):
            fail(f"With {kind}: your flow_matching_loss gives another value for the same inputs, so it draws noise or "
                 "times of its own: use the x0 and t arguments.")
        fail(f"{what} is {out:.6g}, expected {ref:.6g}: mean((velocity(x_t, t) - (x1 - x0))^2) with "
             "x_t = (1 - t) x0 + t x1 and the given x0 and t.")
    _test_loss_compiled(f, rng)


def _test_loss_compiled(f, rng):
    """The notebook trains with the loss inside a tf.function: it must run there and pass gradients."""
    import tensorflow as tf

    n, d = int(rng.integers(6, 12)), int(rng.integers(2, 5))
    A = rng.normal(0, 0.5, size=(d, d))
    bias = rng.normal(0, 0.5, size=d)
    x0, x1, t = rng.normal(size=(n, d)), rng.uniform(-1, 1, size=(n, d)), _times(rng, n)
    A_var, b_var = tf.Variable(A, dtype=tf.float32), tf.Variable(bias, dtype=tf.float32)

    def velocity(x, s):
        return x @ A_var + b_var * tf.reshape(tf.cast(s, tf.float32), (-1, 1))

    @tf.function
    def step(x0_, x1_, t_):
        with tf.GradientTape() as tape:
            loss = f(velocity, x0_, x1_, t_)
        return loss, tape.gradient(loss, [A_var, b_var])

    with compiled_errors(f, "flow_matching_loss", "a compiled training step (a tf.function)", _TF_HINT):
        loss, grads = step(*(tf.constant(a, tf.float32) for a in (x0, x1, t)))
    if any(g is None for g in grads):
        fail("No gradient reaches the network's weights through your flow_matching_loss: compute it with tensor "
             "operations on the velocity's output (no NumPy, no .numpy()).")
    c = t[:, None]
    x_t = (1 - c) * x0 + c * x1
    r = x_t @ A + bias * c - (x1 - x0)
    expect_close(np.asarray(loss).reshape(()), np.mean(r**2), "flow_matching_loss(...) inside a tf.function",
                 rtol=1e-3, atol=1e-5)
    expect_close(grads[0], 2 * x_t.T @ r / r.size, "the gradient of flow_matching_loss with respect to the "
                 "network's weights", rtol=1e-3, atol=1e-5)


# ----------------------------------------------------------------------------- euler and heun


class _Counted:
    """A velocity field for the samplers' checks: records every time it is called at, and checks its inputs."""

    def __init__(self, rng, shape):
        size = int(np.prod(shape[1:]))
        self.w = rng.normal(size=(size, size)) / np.sqrt(size)
        self.phase = rng.uniform(0, 2 * np.pi, size=size)
        self.shape, self.times = shape, []

    def __call__(self, x, t):
        x = np.asarray(x, dtype="float64")
        if x.shape != self.shape:
            raise ValueError(f"velocity(x, t) was called with x of shape {x.shape}, expected {self.shape}")
        t = float(np.asarray(t).reshape(-1)[0]) if np.size(t) >= 1 else float(t)
        self.times.append(t)
        flat = x.reshape(len(x), -1)
        return (np.tanh(flat @ self.w) * (1 + t) + np.cos(3.0 * t + self.phase)).reshape(x.shape)

    def pure(self, x, t):  # the same field, without recording
        flat = np.asarray(x, dtype="float64").reshape(len(x), -1)
        return (np.tanh(flat @ self.w) * (1 + t) + np.cos(3.0 * t + self.phase)).reshape(np.shape(x))


def _euler(v, x, steps):
    times = np.linspace(0, 1, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        x = x + (t_next - t) * v(x, t)
    return x


def _heun(v, x, steps, corrector="trapezoid"):
    times = np.linspace(0, 1, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        h = t_next - t
        k1 = v(x, t)
        if corrector == "trapezoid":
            x = x + h / 2 * (k1 + v(x + h * k1, t_next))
        elif corrector == "midpoint":
            x = x + h * v(x + h / 2 * k1, t + h / 2)
        elif corrector == "second":
            x = x + h * v(x + h * k1, t_next)
        elif corrector == "same_point":
            x = x + h / 2 * (k1 + v(x, t_next))
    return x


def _sampler_test(f, name, steps_factor, reference, candidates_for):
    rng = new_rng()
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        for steps in (int(rng.integers(3, 8)), 1):
            field = _Counted(rng, shape)
            x0 = rng.normal(size=shape)
            what = f"{name}(velocity, x0, steps={steps}) for {kind} of shape {shape}"
            out = expect_shape(_call(f, (field, x0, steps), what), shape, what)
            expect_finite(out, what)
            ref = reference(field.pure, x0, steps)
            if same_values(out, ref, atol=1e-5, rtol=1e-5):
                calls = len(field.times)
                if calls != steps_factor * steps:
                    fail(f"{what} gives the right x at t = 1 but called the velocity {calls} times; {name} with "
                         f"{steps} steps makes exactly {steps_factor * steps} evaluations.")
                if steps_factor == 1 and calls and max(field.times) > 1 - 1.0 / steps + 1e-9:
                    fail(f"{what}: Euler evaluates the velocity at the start of each step, never at t = 1.")
                continue
            for value, message in candidates_for(field.pure, x0, steps):
                if same_values(out, value, atol=1e-5, rtol=1e-5):
                    fail(f"With {kind} and {steps} steps: {message}")
            if field.times and min(field.times) > 1e-9:
                fail(f"{what}: the first evaluation should be at t = 0, where the noise x0 starts; your first was at "
                     f"t = {min(field.times):.3g}.")
            expect_close(out, ref, what, atol=1e-5,
                         hint=f"{steps} equal steps of h = 1 / steps from t = 0 to t = 1.")


def _euler_candidates(v, x0, steps):
    times = np.linspace(0, 1, steps + 1)
    h = 1.0 / steps

    def run(step_times, dt=h, n=steps):
        x = x0
        for t in step_times[:n]:
            x = x + dt * v(x, t)
        return x

    return [
        (run(times[1:]), "Evaluate the velocity at the start of each step, t_k = k / steps, not at its end "
                         "(your first step used t = 1 / steps)."),
        (run(np.linspace(1, 0, steps + 1)[:-1]), "Time runs from t = 0 (noise) to t = 1 (data): start at t = 0."),
        (run(np.linspace(0, 1, steps + 2), 1.0 / (steps + 1), steps + 1), "Take exactly `steps` steps of size "
                                                                          "1 / steps."),
        (run(times, 1.0 / (steps + 1)), "The step size is 1 / steps (the steps cover [0, 1] exactly)."),
        (x0 + v(x0, 0.0), "Take `steps` steps of size 1 / steps, each with the velocity at the current x and t, not "
                          "one step of size 1."),
        (x0 + sum(h * v(x0, t) for t in times[:-1]), "Evaluate the velocity at the current point x, which moves "
                                                      "after every step, not always at the starting noise x0."),
        (x0 - (_euler(v, x0, steps) - x0), "Add h * velocity: the ODE moves x along the velocity, dx/dt = v."),
    ]


def _heun_candidates(v, x0, steps):
    return [
        (_heun(v, x0, steps, "midpoint"), "That is the midpoint method; Heun averages the slopes at both ends of the "
                                          "step: x + h / 2 (v(x, t) + v(x + h v(x, t), t + h))."),
        (_heun(v, x0, steps, "second"), "Move with the average of the two slopes, h / 2 (v1 + v2), not with the "
                                        "second slope alone."),
        (_heun(v, x0, steps, "same_point"), "Evaluate the second slope where the Euler step lands, x + h v(x, t), "
                                            "not at x."),
        (_euler(v, x0, steps), "That is Euler's method: Heun adds a corrector, a second evaluation at the end of the "
                               "step, and moves with the average of the two slopes."),
        (_euler(v, x0, 2 * steps), "That is Euler's method with 2 * steps steps (the same number of evaluations): "
                                   "Heun averages two slopes per step."),
        (_heun_last_euler(v, x0, steps), "Apply the corrector at every step, the last one included: unlike a "
                                         "diffusion model's score at zero noise, the velocity is defined at t = 1, "
                                         "and Heun with `steps` steps makes 2 * steps evaluations."),
    ]


def _heun_last_euler(v, x, steps):  # Karras et al.'s sampler skips the corrector at the last step
    times = np.linspace(0, 1, steps + 1)
    for k, (t, t_next) in enumerate(zip(times[:-1], times[1:])):
        h, k1 = t_next - t, v(x, t)
        x = x + h * k1 if k == steps - 1 else x + h / 2 * (k1 + v(x + h * k1, t_next))
    return x


def _test_euler(f):
    _sampler_test(f, "euler", 1, _euler, _euler_candidates)


def _test_heun(f):
    _sampler_test(f, "heun", 2, _heun, _heun_candidates)
    # the order: on a field with a known flow (dx/dt = x: x(1) = e x0), Heun's error falls as 1 / steps^2
    rng = new_rng()
    x0 = rng.normal(size=(5, 3))
    errors = []
    for steps in (4, 8):
        out = as_array(_call(f, (lambda x, t: x, x0, steps), f"heun(velocity, x0, {steps})"), "heun")
        errors.append(float(np.max(np.abs(out - np.e * x0))))
    if not errors[1] < errors[0] / 3:
        fail(f"On dx/dt = x, doubling the steps from 4 to 8 should divide Heun's error by about 4 (second order); "
             f"yours went from {errors[0]:.2g} to {errors[1]:.2g}.")


# ----------------------------------------------------------------------------- guided_velocity


def _test_guided_velocity(f):
    rng = new_rng()
    for shape in batch_shapes(rng):
        kind = "points" if len(shape) == 2 else "images"
        v_cond, v_uncond = rng.normal(size=shape), rng.normal(size=shape)
        for w in (float(rng.uniform(1.5, 6.0)), float(rng.uniform(0.1, 0.9)), 0.0, 1.0):
            what = f"guided_velocity(v_cond, v_uncond, w={w:.3g}) for {kind} of shape {shape}"
            out = expect_shape(_call(f, (v_cond, v_uncond, w), what), shape, what)
            expect_finite(out, what)
            ref = v_uncond + w * (v_cond - v_uncond)
            if same_values(out, ref):
                continue
            candidates = [
                (v_cond + w * (v_cond - v_uncond), "Start from the unconditional prediction: v_uncond + w (v_cond - "
                                                   "v_uncond), so that w = 0 gives v_uncond and w = 1 gives v_cond. "
                                                   "(Yours is Ho and Salimans' (1 + w') v_cond - w' v_uncond, whose "
                                                   "w' = w - 1.)"),
                (v_cond + w * (v_uncond - v_cond), "Start from the unconditional prediction and move towards the "
                                                   "conditional one: v_uncond + w (v_cond - v_uncond)."),
                (w * v_cond, "Keep the unconditional part: v_uncond + w (v_cond - v_uncond)."),
                (v_uncond + w * v_cond, "Guidance moves along the difference v_cond - v_uncond, not along v_cond."),
                ((v_uncond + w * v_cond) / (1 + w), "No normalisation: v_uncond + w (v_cond - v_uncond) extrapolates "
                                                    "for w > 1."),
            ]
            for value, message in candidates:
                if same_values(out, value):
                    fail(f"With {kind}, w = {w:.3g}: {message}")
            expect_close(out, ref, what, hint="v_uncond + w (v_cond - v_uncond).")


check_interpolate = make_check("interpolate", _test_interpolate)
check_flow_matching_loss = make_check("flow_matching_loss", _test_flow_matching_loss, points=2)
check_euler = make_check("euler", _test_euler, points=2)
check_heun = make_check("heun", _test_heun, points=2)
check_guided_velocity = make_check("guided_velocity", _test_guided_velocity)
