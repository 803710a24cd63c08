"""Chapter 6 checks: the reference solutions pass; wrong ones fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete

from gdl.checks import ch06


def alpha_bar(betas):
    return np.cumprod(1 - betas)


def _a(alpha_bar, t, x0):
    return alpha_bar[t].reshape((-1,) + (1,) * (np.ndim(x0) - 1))


def q_sample(x0, t, alpha_bar, eps):
    a = _a(alpha_bar, t, x0)
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


def loss(model, x0, t, alpha_bar, eps):
    return np.mean((eps - model(q_sample(x0, t, alpha_bar, eps), t)) ** 2)


def step(x_t, t, eps_pred, betas, alpha_bar, z):
    mean = (x_t - betas[t] / np.sqrt(1 - alpha_bar[t]) * eps_pred) / np.sqrt(1 - betas[t])
    return mean + np.sqrt(betas[t]) * z if t > 0 else mean


CASES = {
    "alpha_bar": (ch06.check_alpha_bar, alpha_bar),
    "q_sample": (ch06.check_q_sample, q_sample),
    "diffusion_loss": (ch06.check_diffusion_loss, loss),
    "reverse_step": (ch06.check_reverse_step, step),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_passes_and_stub_is_incomplete(name):
    check, reference = CASES[name]
    assert_references_pass_and_stub_is_incomplete(check, reference)


def step_mean_only(x_t, t, e, b, ab, z):
    return (x_t - b[t] / np.sqrt(1 - ab[t]) * e) / np.sqrt(1 - b[t])


WRONG = [
    # alpha_bar
    (ch06.check_alpha_bar, lambda b: np.cumprod(b), "not the betas"),
    (ch06.check_alpha_bar, lambda b: 1 - np.cumsum(b), "not a sum"),
    (ch06.check_alpha_bar, lambda b: 1 - b, "itself"),
    (ch06.check_alpha_bar, lambda b: np.concatenate([[1.0], np.cumprod(1 - b)[:-1]]), "Off by one"),
    (ch06.check_alpha_bar, lambda b: np.cumprod(1 - b)[1:], "has shape"),
    (ch06.check_alpha_bar, lambda b: np.full(len(b), 0.5), "alpha_bar at index"),
    # q_sample
    (ch06.check_q_sample, lambda x0, t, ab, e: _a(ab, t, x0) * x0 + (1 - _a(ab, t, x0)) * e, "square roots"),
    (ch06.check_q_sample, lambda x0, t, ab, e: np.sqrt(1 - _a(ab, t, x0)) * x0 + np.sqrt(_a(ab, t, x0)) * e,
     "swapped"),
    (ch06.check_q_sample, lambda x0, t, ab, e: x0 + np.sqrt(1 - _a(ab, t, x0)) * e, "Scale x0 down"),
    (ch06.check_q_sample, lambda x0, t, ab, e: q_sample(x0, np.maximum(t - 1, 0), ab, e), "Off by one"),
    (ch06.check_q_sample, lambda x0, t, ab, e: q_sample(x0, np.full_like(t, t[0]), ab, e), "its own alpha_bar"),
    (ch06.check_q_sample, lambda x0, t, ab, e: q_sample(x0, t, ab, e)[0], "has shape"),
    # diffusion_loss
    (ch06.check_diffusion_loss, lambda m, x0, t, ab, e: np.mean((e - m(x0, t)) ** 2), "not the clean x0"),
    (ch06.check_diffusion_loss, lambda m, x0, t, ab, e: np.mean((x0 - m(q_sample(x0, t, ab, e), t)) ** 2),
     "not x0"),
    (ch06.check_diffusion_loss, lambda m, x0, t, ab, e: np.sum((e - m(q_sample(x0, t, ab, e), t)) ** 2),
     "summed"),
    (ch06.check_diffusion_loss, lambda m, x0, t, ab, e: np.mean(np.abs(e - m(q_sample(x0, t, ab, e), t))),
     "squared error"),
    (ch06.check_diffusion_loss, lambda m, x0, t, ab, e: np.mean((e - m(q_sample(x0, t, ab, e), t)) ** 2, axis=1),
     "one number"),
    (ch06.check_diffusion_loss, lambda m, x0, t, ab, e: 0.1, "diffusion_loss(...) is"),
    # reverse_step
    (ch06.check_reverse_step, step_mean_only, "add the noise"),
    (ch06.check_reverse_step, lambda x, t, e, b, ab, z: step_mean_only(x, t, e, b, ab, z) + np.sqrt(b[t]) * z,
     "add no noise"),
    (ch06.check_reverse_step,
     lambda x, t, e, b, ab, z: (x - b[t] / np.sqrt(1 - ab[t]) * e) / np.sqrt(ab[t]) + (np.sqrt(b[t]) * z if t else 0),
     "not by sqrt(alpha_bar_t)"),
    (ch06.check_reverse_step,
     lambda x, t, e, b, ab, z: (x - np.sqrt(1 - ab[t]) * e) / np.sqrt(1 - b[t]) + (np.sqrt(b[t]) * z if t else 0),
     "noise coefficient"),
    (ch06.check_reverse_step, lambda x, t, e, b, ab, z: step_mean_only(x, t, e, b, ab, z) + (b[t] * z if t else 0),
     "not beta_t"),
    (ch06.check_reverse_step, lambda x, t, e, b, ab, z: x - e, "reverse_step(x_t, t="),
]


@pytest.mark.parametrize("check, wrong, message", WRONG)
def test_wrong_implementations_fail_with_a_specific_message(check, wrong, message):
    assert_fails_with(check, wrong, message)
