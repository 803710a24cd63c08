"""Chapter 9 checks: correct solutions written differently pass; learners' mistakes fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl.checks import ch09


def _col(t, x):
    return np.reshape(t, (-1,) + (1,) * (np.ndim(x) - 1))


# ----------------------------------------------------------------------------- interpolate


def interpolate(x0, x1, t):
    t = _col(t, x1)
    return (1 - t) * x0 + t * x1, x1 - x0


def interpolate_ops(x0, x1, t):
    """keras.ops, float32, written as x0 + t (x1 - x0)."""
    x0, x1 = ops.convert_to_tensor(x0, "float32"), ops.convert_to_tensor(x1, "float32")
    t = ops.reshape(ops.convert_to_tensor(t, "float32"), (-1,) + (1,) * (len(x1.shape) - 1))
    d = x1 - x0
    return x0 + t * d, d


def interpolate_loop(x0, x1, t):
    """One example at a time."""
    x_t = np.stack([(1 - ti) * a + ti * b for a, b, ti in zip(x0, x1, t)])
    return x_t, np.stack([b - a for a, b in zip(x0, x1)])


# ----------------------------------------------------------------------------- flow_matching_loss


def fm_loss(velocity, x0, x1, t):
    x_t, target = interpolate(x0, x1, t)
    return np.mean((velocity(x_t, t) - target) ** 2)


def fm_loss_ops(velocity, x0, x1, t):
    x_t, target = interpolate_ops(x0, x1, t)
    return ops.mean(ops.square(velocity(x_t, t) - target))


def fm_loss_sum(velocity, x0, x1, t):
    """A sum divided by the number of elements, written with plain arithmetic (works on tensors too)."""
    tt = ops.reshape(t, (-1,) + (1,) * (len(x1.shape) - 1))
    err = velocity((1 - tt) * x0 + tt * x1, t) - (x1 - x0)
    return ops.sum(err * err) / ops.cast(ops.size(err), err.dtype)


# ----------------------------------------------------------------------------- samplers


def euler(velocity, x0, steps):
    x, h = x0, 1.0 / steps
    for k in range(steps):
        x = x + h * velocity(x, k * h)
    return x


def euler_grid(velocity, x0, steps):
    times = np.linspace(0.0, 1.0, steps + 1)
    x = np.array(x0, dtype="float32")
    for t, t_next in zip(times[:-1], times[1:]):
        x = x + np.float32(t_next - t) * np.asarray(velocity(x, t), dtype="float32")
    return x


def heun(velocity, x0, steps):
    x, h = x0, 1.0 / steps
    for k in range(steps):
        t = k * h
        v1 = velocity(x, t)
        v2 = velocity(x + h * v1, t + h)
        x = x + h * (v1 + v2) / 2
    return x


def heun_ops(velocity, x0, steps):
    """keras.ops, the predictor kept as a variable."""
    x = ops.convert_to_tensor(x0, "float64")
    times = np.linspace(0.0, 1.0, steps + 1)
    for t, t_next in zip(times[:-1], times[1:]):
        slope = ops.convert_to_tensor(velocity(x, t), "float64")
        predicted = x + (t_next - t) * slope
        slope_next = ops.convert_to_tensor(velocity(predicted, t_next), "float64")
        x = x + 0.5 * (t_next - t) * (slope + slope_next)
    return x


# ----------------------------------------------------------------------------- guided_velocity


def guided(v_cond, v_uncond, w):
    return v_uncond + w * (v_cond - v_uncond)


def guided_mix(v_cond, v_uncond, w):
    return (1 - w) * ops.convert_to_tensor(v_uncond, "float32") + w * ops.convert_to_tensor(v_cond, "float32")


CHECKS = {
    "interpolate": ch09.check_interpolate,
    "flow_matching_loss": ch09.check_flow_matching_loss,
    "euler": ch09.check_euler,
    "heun": ch09.check_heun,
    "guided_velocity": ch09.check_guided_velocity,
}
REFERENCES = {
    "interpolate": [interpolate, interpolate_ops, interpolate_loop],
    "flow_matching_loss": [fm_loss_ops, fm_loss_sum],
    "euler": [euler, euler_grid],
    "heun": [heun, heun_ops],
    "guided_velocity": [guided, guided_mix],
}


def _loss_from(make_xt=None, target=None, t_in=None, reduce=None):
    def loss(velocity, x0, x1, t):
        tt = _col(t, x1)
        x_t = (1 - tt) * x0 + tt * x1 if make_xt is None else make_xt(x0, x1, tt)
        goal = x1 - x0 if target is None else target(x0, x1)
        err = velocity(x_t, t if t_in is None else t_in(t)) - goal
        return np.mean(err**2) if reduce is None else reduce(err)

    return loss


def _euler_at(times_of):
    def run(velocity, x0, steps):
        x, h = x0, 1.0 / steps
        for t in times_of(steps):
            x = x + h * velocity(x, t)
        return x

    return run


def _euler_from_x0(velocity, x0, steps):
    x, h = x0, 1.0 / steps
    for k in range(steps):
        x = x + h * velocity(x0, k * h)
    return x


def _heun_variant(kind):
    def run(velocity, x0, steps):
        x, h = x0, 1.0 / steps
        for k in range(steps):
            t = k * h
            v1 = velocity(x, t)
            if kind == "midpoint":
                x = x + h * velocity(x + h / 2 * v1, t + h / 2)
            elif kind == "second":
                x = x + h * velocity(x + h * v1, t + h)
            elif kind == "same_point":
                x = x + h / 2 * (v1 + velocity(x, t + h))
            elif kind == "extra_call":
                velocity(x, t)
                x = x + h / 2 * (v1 + velocity(x + h * v1, t + h))
            elif kind == "last_euler":  # Karras's last step without a corrector: 2 steps - 1 evaluations
                x = x + h * v1 if k == steps - 1 else x + h / 2 * (v1 + velocity(x + h * v1, t + h))
        return x

    return run


def _heun_first_order(velocity, x0, steps):
    """Right on most fields, but its corrector uses the start slope twice on linear fields: first order."""
    x, h = x0, 1.0 / steps
    for k in range(steps):
        t = k * h
        v1 = velocity(x, t)
        v2 = velocity(x + h * v1, t + h) if np.ndim(x) > 2 or np.shape(x)[0] != 5 else v1
        x = x + h / 2 * (v1 + v2)
    return x


WRONG = {
    "interpolate": [
        (lambda x0, x1, t: ((1 - _col(t, x1)) * x1 + _col(t, x1) * x0, x1 - x0), "ends swapped"),
        (lambda x0, x1, t: (x0 + _col(t, x1) * x1, x1 - x0), "noise fades out"),
        (lambda x0, x1, t: (np.sqrt(1 - _col(t, x1)) * x0 + np.sqrt(_col(t, x1)) * x1, x1 - x0), "square roots"),
        (lambda x0, x1, t: ((1 - t[0]) * x0 + t[0] * x1, x1 - x0), "its own time"),
        (lambda x0, x1, t: (interpolate(x0, x1, t)[0], x0 - x1), "not x0 - x1"),
        (lambda x0, x1, t: (interpolate(x0, x1, t)[0], x1), "not the data itself"),
        (lambda x0, x1, t: (interpolate(x0, x1, t)[0], _col(t, x1) * (x1 - x0)), "does not depend on t"),
        (lambda x0, x1, t: (interpolate(x0, x1, t)[0],
                            (x1 - interpolate(x0, x1, t)[0]) / np.maximum(1 - _col(t, x1), 1e-12)), "blows up"),
        (lambda x0, x1, t: interpolate(x0, x1, t)[0], "two arrays"),
        (lambda x0, x1, t: (interpolate(x0, x1, t)[0][:, :1], x1 - x0), "has shape"),
        (lambda x0, x1, t: ((1 - t) * x0 + t * x1, x1 - x0), "Reshape t"),  # t (n,) against (n, d): broadcast error
    ],
    "flow_matching_loss": [
        (_loss_from(make_xt=lambda x0, x1, tt: x1), "not the data x1"),
        (_loss_from(make_xt=lambda x0, x1, tt: x0), "not the noise x0"),
        (_loss_from(make_xt=lambda x0, x1, tt: tt * x0 + (1 - tt) * x1), "ends are swapped"),
        (_loss_from(target=lambda x0, x1: x0 - x1), "not x0 - x1"),
        (_loss_from(target=lambda x0, x1: x1), "not onto the data"),
        (_loss_from(t_in=lambda t: 1 - t), "not 1 - t"),
        (_loss_from(t_in=lambda t: t * 1000), "in [0, 1] as it is"),
        (_loss_from(reduce=lambda e: np.sum(e**2)), "summed the squared errors"),
        (_loss_from(reduce=lambda e: np.mean(np.sum(e.reshape(len(e), -1) ** 2, axis=1))),
         "summed over the coordinates"),
        (_loss_from(reduce=lambda e: np.mean(np.abs(e))), "absolute error"),
        (_loss_from(reduce=lambda e: np.sqrt(np.mean(e**2))), "square root"),
        (_loss_from(reduce=lambda e: 0.5 * np.mean(e**2)), "No factor 1/2"),
        (lambda v, x0, x1, t: fm_loss(v, np.random.default_rng().normal(size=np.shape(x0)), x1, t), "noise or times of "
         "its own"),
        (fm_loss, "compiled training step"),  # NumPy on tensors: fails in the compiled step
        (lambda v, x0, x1, t: fm_loss_ops(v, x0, x1, t) * ops.ones((2,)), "one number"),
    ],
    "euler": [
        (_euler_at(lambda s: np.linspace(0, 1, s + 1)[1:]), "not at its end"),
        (_euler_at(lambda s: np.linspace(1, 0, s + 1)[:-1]), "start at t = 0"),
        (lambda v, x0, s: x0 + v(x0, 0.0), "not one step of size 1"),
        (_euler_from_x0, "not always at the starting noise"),
        (lambda v, x0, s: x0 - (euler(v, x0, s) - x0), "Add h * velocity"),
        (lambda v, x0, s: euler(v, x0, s + 1), "Take exactly"),
        (lambda v, x0, s: (v(x0, 0.5), euler(v, x0, s))[1], "makes exactly"),  # one evaluation too many
        (lambda v, x0, s: euler(v, x0[:1], s), "has shape"),
        (lambda v, x0, s: heun(v, x0, s), "expected"),
    ],
    "heun": [
        (_heun_variant("midpoint"), "midpoint method"),
        (_heun_variant("second"), "not with the second slope alone"),
        (_heun_variant("same_point"), "where the Euler step lands"),
        (euler, "That is Euler's method"),
        (lambda v, x0, s: euler(v, x0, 2 * s), "2 * steps steps"),
        (_heun_variant("extra_call"), "exactly"),
        (_heun_variant("last_euler"), "corrector"),
        (lambda v, x0, s: heun(v, x0, s + 1), "expected"),
        (lambda v, x0, s: heun(v, x0[:1], s), "has shape"),
    ],
    "guided_velocity": [
        (lambda c, u, w: c + w * (c - u), "Start from the unconditional"),
        (lambda c, u, w: c + w * (u - c), "move towards the conditional"),
        (lambda c, u, w: (1 + w) * c - w * u, "w' = w - 1"),  # the same as c + w (c - u)
        (lambda c, u, w: w * c, "Keep the unconditional part"),
        (lambda c, u, w: u + w * c, "not along v_cond"),
        (lambda c, u, w: (u + w * c) / (1 + w), "No normalisation"),
        (lambda c, u, w: u + min(w, 1.0) * (c - u), "expected"),  # clipped at w = 1: no extrapolation
        (lambda c, u, w: c, "expected"),
        (lambda c, u, w: guided(c, u, w)[:1], "has shape"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, index", [(name, i) for name, wrongs in WRONG.items() for i in range(len(wrongs))])
def test_wrong_implementations_fail_with_a_specific_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message)


def test_heun_order_is_checked():
    """A Heun that degrades to first order on the linear field dx/dt = x is caught by the order test."""
    assert_fails_with(ch09.check_heun, _heun_first_order, "second order")
