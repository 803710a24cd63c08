"""Chapter 5 checks: the reference solutions pass; wrong ones fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete

from gdl.checks import PASSED, ch05

# ----------------------------------------------------------------------------- reference solutions


def forward(x, mask, scale_fn, translation_fn):
    s = scale_fn(x * mask) * (1 - mask)
    t = translation_fn(x * mask) * (1 - mask)
    return x * mask + (1 - mask) * (x * np.exp(s) + t), np.sum(s, axis=1)


def inverse(y, mask, scale_fn, translation_fn):
    s = scale_fn(y * mask) * (1 - mask)
    t = translation_fn(y * mask) * (1 - mask)
    return y * mask + (1 - mask) * ((y - t) * np.exp(-s))


def nll(z, log_det):
    return -np.mean(-0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=1) + log_det)


CASES = {
    "coupling_forward": (ch05.check_coupling_forward, forward),
    "coupling_inverse": (ch05.check_coupling_inverse, inverse),
    "flow_nll": (ch05.check_flow_nll, nll),
}


@pytest.mark.parametrize("name", CASES)
def test_reference_passes_and_stub_is_incomplete(name):
    check, reference = CASES[name]
    assert_references_pass_and_stub_is_incomplete(check, reference)


def test_keras_ops_and_a_pair_from_the_inverse_are_accepted():
    from keras import ops

    def forward_ops(x, mask, scale_fn, translation_fn):
        s = ops.convert_to_tensor(scale_fn(x * mask) * (1 - mask))
        t = ops.convert_to_tensor(translation_fn(x * mask) * (1 - mask))
        return x * mask + (1 - mask) * (x * ops.exp(s) + t), ops.sum(s, axis=1)

    assert ch05.check_coupling_forward.evaluate(forward_ops).status == PASSED

    def inverse_pair(y, mask, scale_fn, translation_fn):
        return inverse(y, mask, scale_fn, translation_fn), -np.sum(scale_fn(y * mask) * (1 - mask), axis=1)

    assert ch05.check_coupling_inverse.evaluate(inverse_pair).status == PASSED


def _s_t(x, mask, scale_fn, translation_fn):
    return scale_fn(x * mask) * (1 - mask), translation_fn(x * mask) * (1 - mask)


def forward_exp_minus(x, m, sf, tf):
    s, t = _s_t(x, m, sf, tf)
    return x * m + (1 - m) * (x * np.exp(-s) + t), s.sum(1)


def forward_translate_first(x, m, sf, tf):
    s, t = _s_t(x, m, sf, tf)
    return x * m + (1 - m) * ((x + t) * np.exp(s)), s.sum(1)


def forward_unmasked_input(x, m, sf, tf):
    s, t = sf(x) * (1 - m), tf(x) * (1 - m)
    return x * m + (1 - m) * (x * np.exp(s) + t), s.sum(1)


def forward_all_transformed(x, m, sf, tf):
    s, t = sf(x * m), tf(x * m)
    return x * np.exp(s) + t, s.sum(1)


def forward_log_det_all_coordinates(x, m, sf, tf):
    y, _ = forward(x, m, sf, tf)
    return y, sf(x * m).sum(1)


def inverse_exp_plus(y, m, sf, tf):
    s, t = _s_t(y, m, sf, tf)
    return y * m + (1 - m) * ((y - t) * np.exp(s))


def inverse_wrong_order(y, m, sf, tf):
    s, t = _s_t(y, m, sf, tf)
    return y * m + (1 - m) * (y * np.exp(-s) - t)


def inverse_unmasked_input(y, m, sf, tf):
    s, t = sf(y) * (1 - m), tf(y) * (1 - m)
    return y * m + (1 - m) * ((y - t) * np.exp(-s))


def log_p(z):
    return -0.5 * np.sum(z**2 + np.log(2 * np.pi), axis=1)


WRONG = [
    # coupling_forward
    (ch05.check_coupling_forward, lambda x, m, sf, tf: forward(x, m, sf, tf)[0], "should return a pair"),
    (ch05.check_coupling_forward, lambda x, m, sf, tf: (x[:, :1], np.zeros(len(x))), "has shape"),
    (ch05.check_coupling_forward, forward_exp_minus, "you used exp(-s)"),
    (ch05.check_coupling_forward, forward_translate_first, "not (x + t) * exp(s)"),
    (ch05.check_coupling_forward, forward_unmasked_input, "Feed `x * mask`"),
    (ch05.check_coupling_forward, forward_all_transformed, "must pass through unchanged"),
    (ch05.check_coupling_forward, lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], -forward(x, m, sf, tf)[1]),
     "wrong sign"),
    (ch05.check_coupling_forward, forward_log_det_all_coordinates, "transformed coordinates only"),
    (ch05.check_coupling_forward, lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], _s_t(x, m, sf, tf)[0]),
     "one number per example"),
    (ch05.check_coupling_forward,
     lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], np.exp(_s_t(x, m, sf, tf)[0]).sum(1)), "not of exp(s)"),
    (ch05.check_coupling_forward, lambda x, m, sf, tf: (forward(x, m, sf, tf)[0], np.zeros(len(x))),
     "log_det at index"),
    # coupling_inverse
    (ch05.check_coupling_inverse, lambda y, m, sf, tf: y, "coupling_inverse(coupling_forward(x)) at index"),
    (ch05.check_coupling_inverse, inverse_exp_plus, "Undo the scaling with exp(-s)"),
    (ch05.check_coupling_inverse, inverse_wrong_order, "reverse order"),
    (ch05.check_coupling_inverse, inverse_unmasked_input, "Feed `y * mask`"),
    (ch05.check_coupling_inverse, lambda y, m, sf, tf: forward(y, m, sf, tf)[0], "applied the forward pass"),
    (ch05.check_coupling_inverse, lambda y, m, sf, tf: inverse(y, m, sf, tf)[:, 1:], "has shape"),
    (ch05.check_coupling_inverse, lambda y, m, sf, tf: np.where(m == 1, 0.0, inverse(y, m, sf, tf)),
     "must pass through unchanged"),
    # flow_nll
    (ch05.check_flow_nll, lambda z, ld: -(log_p(z) + ld), "return their mean"),
    (ch05.check_flow_nll, lambda z, ld: -np.mean(log_p(z) - ld), "subtract log_det"),
    (ch05.check_flow_nll, lambda z, ld: np.mean(log_p(z) + ld), "returned the log-likelihood"),
    (ch05.check_flow_nll, lambda z, ld: -np.mean(-0.5 * np.sum(z**2, axis=1) + ld), "1/2 log(2 pi)"),
    (ch05.check_flow_nll, lambda z, ld: -np.sum(log_p(z) + ld), "summed over the examples"),
    (ch05.check_flow_nll, lambda z, ld: -np.mean(log_p(z) + ld) / z.shape[1], "divided by the dimension"),
    (ch05.check_flow_nll, lambda z, ld: 0.5 * np.mean(z**2), "flow_nll(z, log_det) is"),
]


@pytest.mark.parametrize("check, wrong, message", WRONG)
def test_wrong_implementations_fail_with_a_specific_message(check, wrong, message):
    assert_fails_with(check, wrong, message)
