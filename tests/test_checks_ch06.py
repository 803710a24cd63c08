"""Chapter 6 checks: correct solutions written differently pass; learners' mistakes fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl.checks import ch06

# ----------------------------------------------------------------------------- alpha_bar


def alpha_bar(betas):
    return np.cumprod(1 - betas)


def alpha_bar_loop32(betas):
    """A loop, in float32."""
    out, running = [], np.float32(1.0)
    for b in np.asarray(betas, dtype="float32"):
        running = running * (np.float32(1.0) - b)
        out.append(running)
    return np.array(out)


def alpha_bar_log(betas):
    """exp of a cumulative sum of logs, with keras.ops."""
    return ops.exp(ops.cumsum(ops.log1p(-ops.convert_to_tensor(np.asarray(betas, dtype="float64")))))


# ----------------------------------------------------------------------------- q_sample


def _a(alpha_bar, t, x0):
    return alpha_bar[t].reshape((-1,) + (1,) * (np.ndim(x0) - 1))


def q_sample(x0, t, alpha_bar, eps):
    a = _a(alpha_bar, t, x0)
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps


def q_sample_loop32(x0, t, alpha_bar, eps):
    """One example at a time, in float32."""
    out = np.empty(np.shape(x0), dtype="float32")
    for i, ti in enumerate(t):
        a = np.float32(alpha_bar[ti])
        out[i] = np.sqrt(a) * np.float32(1) * x0[i].astype("float32") + np.sqrt(np.float32(1) - a) * eps[i]
    return out


def q_sample_ops(x0, t, alpha_bar, eps):
    a = ops.take(ops.convert_to_tensor(alpha_bar), ops.convert_to_tensor(t))
    a = ops.reshape(a, (-1,) + (1,) * (len(np.shape(x0)) - 1))
    return ops.sqrt(a) * x0 + ops.sqrt(1 - a) * eps


def q_no_reshape(x0, t, ab, e):  # coefficients of shape (n, 1): right for points, broken for images
    a = ab[t][:, None]
    return np.sqrt(a) * x0 + np.sqrt(1 - a) * e


def q_own_noise(x0, t, ab, e):  # draws its own noise instead of using eps
    return q_sample(x0, t, ab, np.random.default_rng().standard_normal(np.shape(x0)))


# ----------------------------------------------------------------------------- diffusion_loss


def loss(model, x0, t, alpha_bar, eps):
    return np.mean((eps - model(q_sample(x0, t, alpha_bar, eps), t)) ** 2)


def loss_ops(model, x0, t, alpha_bar, eps):
    x_t = q_sample_ops(x0, t, alpha_bar, eps)
    return ops.mean(ops.square(ops.convert_to_tensor(eps) - model(ops.convert_to_numpy(x_t), t)))


def loss_per_example(model, x0, t, alpha_bar, eps):
    """The per-example means, then their mean (the same number: every example has as many coordinates)."""
    err = (eps - model(q_sample_loop32(x0, t, alpha_bar, eps).astype("float64"), t)).reshape(len(x0), -1)
    return float(np.mean([np.mean(row**2) for row in err]))


def dl(m, x0, t, ab, e, pred_from=None, target=None, reduce=np.mean):
    """The loss built from parts, so that each wrong variant differs from the reference in one way."""
    x_t = q_sample(x0, t, ab, e)
    pred = m(x_t if pred_from is None else pred_from(x0, x_t), t)
    return reduce((e if target is None else target(x0, x_t, e)) - pred)


# ----------------------------------------------------------------------------- reverse_step


def step(x_t, t, eps_pred, betas, alpha_bar, z):
    mean = (x_t - betas[t] / np.sqrt(1 - alpha_bar[t]) * eps_pred) / np.sqrt(1 - betas[t])
    return mean + np.sqrt(betas[t]) * z if t > 0 else mean


def step_ops32(x_t, t, eps_pred, betas, alpha_bar, z):
    """keras.ops in float32, written with alpha_t and a noise scale that is 0 at t = 0."""
    alpha = np.float32(1 - betas[t])
    coef = np.float32(betas[t] / np.sqrt(1 - alpha_bar[t]))
    sigma = np.float32(np.sqrt(betas[t])) * float(t > 0)
    x = ops.cast(x_t, "float32")
    return (x - coef * ops.cast(eps_pred, "float32")) / ops.sqrt(alpha) + sigma * ops.cast(z, "float32")


def mean_part(x, t, e, b, ab):
    return (x - b[t] / np.sqrt(1 - ab[t]) * e) / np.sqrt(1 - b[t])


def step_noise_from(t_min=1, std=lambda b, ab, t: np.sqrt(b[t])):
    """The reference mean plus noise of the given std, added from index t_min on."""

    def f(x, t, e, b, ab, z):
        return mean_part(x, t, e, b, ab) + (std(b, ab, t) * z if t >= t_min else 0.0)

    return f


def noise(t, b, z):
    return np.sqrt(b[t]) * z if t > 0 else 0.0


def beta_tilde(b, ab, t):
    return np.sqrt((1 - ab[t - 1]) / (1 - ab[t]) * b[t]) if t > 0 else 0.0


def step_own_noise(x, t, e, b, ab, z):  # draws its own noise instead of using z
    return step(x, t, e, b, ab, np.random.default_rng().standard_normal(np.shape(x)))


def step_off_by_one(x, t, e, b, ab, z):  # betas[t - 1], alpha_bar[t - 1]: wraps to the last timestep at t = 0
    return step(x, t - 1, e, b, ab, z) if t > 0 else mean_part(x, -1, e, b, ab)


# ----------------------------------------------------------------------------- cosine_betas


def cosine_betas(T, s=0.008):
    f = np.cos((np.arange(T + 1) / T + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.clip(1 - alpha_bar[1:] / alpha_bar[:-1], 0, 0.999)


def cosine_betas_loop32(T, s=0.008):
    """A loop over t in float32, with the ratio of neighbouring cos^2 values (f(0) cancels)."""
    out = []
    for t in range(1, T + 1):
        now = np.cos(np.float32((t / T + s) / (1 + s) * np.pi / 2)) ** 2
        before = np.cos(np.float32(((t - 1) / T + s) / (1 + s) * np.pi / 2)) ** 2
        out.append(min(np.float32(1) - now / before, np.float32(0.999)))
    return np.array(out, dtype="float32")


def cosine_betas_ops(T, s=0.008):
    t = ops.arange(T + 1, dtype="float64")
    f = ops.cos((t / T + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar = f / f[0]
    return ops.minimum(1 - alpha_bar[1:] / alpha_bar[:-1], 0.999)


def cos_parts(T, s, power=2, offset=True, grid=None, clip=0.999, what="betas"):
    """The schedule built from parts, so that each wrong variant differs from the reference in one way."""
    t = np.arange(T + 1) if grid is None else grid(T)
    f = np.cos(((t / T + s) / (1 + s) if offset else (t / T + s)) * np.pi / 2) ** power
    a = f / f[0]
    betas = 1 - a[1:] / a[:-1]
    if clip is not None:
        betas = np.minimum(betas, clip)
    return {"betas": betas, "alpha_bar": a[1:], "alphas": 1 - betas}[what]


def cos_grid_T(T, s):  # evaluates the cosine at 0..T-1 only
    f = np.cos((np.arange(T) / T + s) / (1 + s) * np.pi / 2) ** 2
    a = f / f[0]
    return np.minimum(1 - a / np.concatenate([[1.0], a[:-1]]), 0.999)


# ----------------------------------------------------------------------------- ddim_step


def ddim(x_t, t, t_prev, eps_pred, alpha_bar):
    a = alpha_bar[t]
    a_prev = alpha_bar[t_prev] if t_prev >= 0 else 1.0
    x0 = (x_t - np.sqrt(1 - a) * eps_pred) / np.sqrt(a)
    return np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps_pred


def ddim_ops32(x_t, t, t_prev, eps_pred, alpha_bar):
    """keras.ops in float32, with alpha_bar extended by 1 at the front (index t_prev + 1)."""
    padded = ops.concatenate([ops.ones((1,), "float32"), ops.cast(alpha_bar, "float32")])
    a, a_prev = padded[t + 1], padded[t_prev + 1]
    x, e = ops.cast(x_t, "float32"), ops.cast(eps_pred, "float32")
    return ops.sqrt(a_prev / a) * x + (ops.sqrt(1 - a_prev) - ops.sqrt(a_prev / a) * ops.sqrt(1 - a)) * e


def ddim_parts(x, t, tp, e, ab, wrap=False, sq=True, sign=1.0, back=1.0, est_sign=-1.0, est_div=True, last=False):
    a = ab[t]
    a_prev = ab[tp] if (tp >= 0 or wrap) else 1.0
    root = np.sqrt if sq else (lambda v: v)
    x0 = (x + est_sign * root(1 - a) * e) / (root(a) if est_div else 1.0)
    if last:
        return x0
    return root(a_prev) * x0 + sign * back * root(1 - a_prev) * e


# --------------------------------------------------------------------------------------------- the tables

CHECKS = {
    "alpha_bar": ch06.check_alpha_bar,
    "q_sample": ch06.check_q_sample,
    "diffusion_loss": ch06.check_diffusion_loss,
    "reverse_step": ch06.check_reverse_step,
    "cosine_betas": ch06.check_cosine_betas,
    "ddim_step": ch06.check_ddim_step,
}

REFERENCES = {
    "alpha_bar": [alpha_bar, alpha_bar_loop32, alpha_bar_log],
    "q_sample": [q_sample, q_sample_loop32, q_sample_ops],
    "diffusion_loss": [loss, loss_ops, loss_per_example],
    "reverse_step": [step, step_ops32],
    "cosine_betas": [cosine_betas, cosine_betas_loop32, cosine_betas_ops],
    "ddim_step": [ddim, ddim_ops32],
}

WRONG = {
    "alpha_bar": [
        (lambda b: np.cumprod(b), "not the betas"),
        (lambda b: 1 - np.cumprod(b), "not the betas"),
        (lambda b: 1 - np.cumsum(b), "not a sum"),
        (lambda b: np.cumsum(1 - b), "not a sum"),
        (lambda b: np.exp(-np.cumsum(b)), "only approximates"),
        (lambda b: 1 - b, "itself"),
        (lambda b: np.concatenate([[1.0], np.cumprod(1 - b)[:-1]]), "Off by one"),
        (lambda b: np.sqrt(np.cumprod(1 - b)), "sqrt(alpha_bar)"),
        (lambda b: np.cumprod((1 - b)[::-1])[::-1], "Multiply from the first timestep"),
        (lambda b: np.full(len(b), np.prod(1 - b)), "not the product of all of them"),
        (lambda b: np.cumprod(1 - b)[1:], "has shape"),
        (lambda b: np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)), "has shape"),  # the notebook's schedule
        (lambda b: np.full(len(b), 0.5), "at index"),
    ],
    "q_sample": [
        (lambda x0, t, ab, e: _a(ab, t, x0) * x0 + (1 - _a(ab, t, x0)) * e, "square roots"),
        (lambda x0, t, ab, e: _a(ab, t, x0) * x0 + np.sqrt(1 - _a(ab, t, x0)) * e, "not alpha_bar_t"),
        (lambda x0, t, ab, e: np.sqrt(_a(ab, t, x0)) * x0 + (1 - _a(ab, t, x0)) * e, "not by the variance"),
        (lambda x0, t, ab, e: np.sqrt(1 - _a(ab, t, x0)) * x0 + np.sqrt(_a(ab, t, x0)) * e, "swapped"),
        (lambda x0, t, ab, e: x0 + np.sqrt(1 - _a(ab, t, x0)) * e, "Scale x0 down"),
        (lambda x0, t, ab, e: q_sample(x0, np.maximum(t - 1, 0), ab, e), "Off by one"),
        (lambda x0, t, ab, e: q_sample(x0, t - 1, ab, e), "Off by one"),  # wraps to the last index at t = 0
        (lambda x0, t, ab, e: q_sample(x0, t + 1, ab, e), "IndexError"),
        (lambda x0, t, ab, e: q_sample(x0, np.full_like(t, t[0]), ab, e), "its own alpha_bar"),
        (lambda x0, t, ab, e: q_sample(x0, t, ab, e[:1]), "its own noise eps[i]"),  # one eps shared by the rows
        (q_own_noise, "draws noise of its own"),
        (q_no_reshape, "Reshape the per-example coefficients"),
        (lambda x0, t, ab, e: q_sample(x0, t, ab, e)[0], "has shape"),
    ],
    "diffusion_loss": [
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, pred_from=lambda x0, x_t: x0, reduce=lambda r: np.mean(r**2)),
         "not the clean x0"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, target=lambda x0, x_t, e: x0, reduce=lambda r: np.mean(r**2)),
         "not x0"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, target=lambda x0, x_t, e: x_t, reduce=lambda r: np.mean(r**2)),
         "not with x_t"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, reduce=lambda r: np.sum(r**2)), "summed the squared errors"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, reduce=lambda r: np.mean(np.sum(r.reshape(len(r), -1)**2, 1))),
         "summed over the coordinates"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, reduce=lambda r: np.mean(np.abs(r))), "absolute error"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, reduce=lambda r: np.sqrt(np.mean(r**2))), "square root"),
        (lambda m, x0, t, ab, e: dl(m, x0, t, ab, e, reduce=lambda r: np.mean(r.reshape(len(r), -1)**2, axis=1)),
         "one number"),
        (lambda m, x0, t, ab, e: np.mean((e - m(q_sample(x0, t, ab, e), t / len(ab))) ** 2), "not t / T"),
        (lambda m, x0, t, ab, e: np.mean((e - m(q_sample(x0, t, ab, e), t / 1000)) ** 2), "not t / 1000"),
        (lambda m, x0, t, ab, e: np.mean((e - m(q_sample(x0, t, ab, e[:1]), t)) ** 2), "use all of eps"),
        (lambda m, x0, t, ab, e: loss(m, x0, t, ab, np.random.default_rng().standard_normal(np.shape(x0))),
         "draws noise or timesteps of its own"),
        (lambda m, x0, t, ab, e: 0.1, "expected"),
    ],
    "reverse_step": [
        (step_noise_from(t_min=10**9), "add the noise"),  # no noise at all
        (step_noise_from(t_min=2), "add the noise"),  # no noise at index 1 either (t > 1)
        (step_noise_from(t_min=0), "add no noise"),  # noise at index 0 too
        (lambda x, t, e, b, ab, z: (x - b[t] / np.sqrt(1 - ab[t]) * e) / np.sqrt(ab[t]) + noise(t, b, z),
         "not by sqrt(alpha_bar_t)"),
        (lambda x, t, e, b, ab, z: (x - b[t] / np.sqrt(1 - ab[t]) * e) / (1 - b[t]) + noise(t, b, z),
         "not by alpha_t itself"),
        (lambda x, t, e, b, ab, z: (x - b[t] / np.sqrt(1 - ab[t]) * e) * np.sqrt(1 - b[t]) + noise(t, b, z),
         "do not multiply by it"),
        (lambda x, t, e, b, ab, z: (x - np.sqrt(1 - ab[t]) * e) / np.sqrt(1 - b[t]) + noise(t, b, z),
         "noise coefficient"),
        (lambda x, t, e, b, ab, z: (x - b[t] / (1 - ab[t]) * e) / np.sqrt(1 - b[t]) + noise(t, b, z),
         "the square root is missing"),
        (lambda x, t, e, b, ab, z: (x + b[t] / np.sqrt(1 - ab[t]) * e) / np.sqrt(1 - b[t]) + noise(t, b, z),
         "Subtract the predicted noise"),
        (step_noise_from(std=lambda b, ab, t: b[t]), "not beta_t"),
        (step_noise_from(std=beta_tilde), "posterior variance"),
        (lambda x, t, e, b, ab, z: step(x, t, e, b, ab, z[:1]), "use all of z"),  # one z shared by the rows
        (step_own_noise, "draws noise of its own"),
        (step_off_by_one, "Off by one"),
        (lambda x, t, e, b, ab, z: x - e, "reverse_step(x_t, t="),
    ],
    "cosine_betas": [
        (lambda T, s: cos_parts(T, s, what="alpha_bar"), "You returned alpha_bar_t"),
        (lambda T, s: cos_parts(T, s, what="alphas"), "You returned alpha_t"),
        (lambda T, s: np.minimum(1 - cos_parts(T, s, what="alpha_bar"), 0.999), "a ratio of neighbours"),
        (lambda T, s: cos_parts(T, s, clip=None), "Clip beta_t at 0.999"),
        (lambda T, s: cos_parts(T, 0.008), "Use the offset s"),  # the default instead of the argument
        (lambda T, s: cos_parts(T, 0.0), "Use the offset s"),
        (lambda T, s: cos_parts(T, s, power=1), "square of the cosine"),
        (lambda T, s: cos_parts(T, s, offset=False), "Divide (t / T + s) by (1 + s)"),
        (lambda T, s: cos_parts(T, s, clip=0.99), "not 0.99"),
        # clips the schedule does not have: beta_t from below, alpha_bar from below
        (lambda T, s: np.clip(cos_parts(T, s), 1e-4, 0.999), "You clipped beta_t from below"),
        (lambda T, s: np.clip(cos_parts(T, s), 1e-5, 0.999), "You clipped beta_t from below"),
        (lambda T, s: np.minimum(1 - np.clip(cos_parts(T, s, what="alpha_bar"), 1e-4, 1)
                                 / np.clip(np.concatenate([[1.0], cos_parts(T, s, what="alpha_bar")[:-1]]), 1e-4, 1),
                                 0.999), "expected"),
        (cos_grid_T, "np.arange(T + 1)"),
        (lambda T, s: cos_parts(T, s)[:-1], "has shape"),
        (lambda T, s: cos_parts(1000, s), "has shape"),  # the notebook's T
        (lambda T, s: np.full(T, 0.02), "expected"),
    ],
    "ddim_step": [
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, last=True), "estimate of x_0"),
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, wrap=True), "LAST timestep"),
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, sq=False), "square roots"),
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, est_div=False), "Divide by sqrt(alpha_bar_t)"),
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, est_sign=1.0), "Subtract the predicted noise"),
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, sign=-1.0), "plus sign"),
        (lambda x, t, tp, e, ab: ddim_parts(x, t, tp, e, ab, back=0.0), "at the level of t_prev"),
        (lambda x, t, tp, e, ab: ddim(x, t, tp - 1, e, ab) if tp >= 1 else ddim(x, t, tp, e, ab) * 2,
         "index alpha_bar with t_prev"),
        (lambda x, t, tp, e, ab: ddim(x, t - 1, tp, e, ab) if t >= 1 else ddim(x, t, tp, e, ab) * 2,
         "index alpha_bar with t itself"),
        (lambda x, t, tp, e, ab: ddim(x, t, tp, e + 0.1 * np.random.default_rng().standard_normal(np.shape(e)), ab),
         "deterministic"),
        (lambda x, t, tp, e, ab: ddim(x, t, tp, e, ab)[0], "has shape"),
        (lambda x, t, tp, e, ab: ddim(x, t, tp, e[:1], ab), "expected"),  # one eps shared by the rows
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, index", [(name, i) for name, wrongs in WRONG.items() for i in range(len(wrongs))])
def test_wrong_implementations_fail_with_a_specific_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message)
