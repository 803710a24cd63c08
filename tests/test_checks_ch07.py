"""Chapter 7 checks: correct solutions written differently pass; learners' mistakes fail with a specific message."""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops

from gdl.checks import ch07

# ----------------------------------------------------------------------------- causal_mask


def causal_mask(n):
    return np.tril(np.ones((n, n), dtype=bool))


def causal_mask_ops(n):
    i = ops.arange(n)
    return ops.cast(i[None, :] <= i[:, None], "float32")


def causal_mask_loop(n):
    return [[int(j <= i) for j in range(n)] for i in range(n)]


def mask_upper(n):
    return np.triu(np.ones((n, n), dtype=bool))


def mask_strict(n):
    return np.tril(np.ones((n, n)), -1)


def mask_ones(n):
    return np.ones((n, n))


def mask_eye(n):
    return np.eye(n)


def mask_one_ahead(n):
    return np.tril(np.ones((n, n)), 1)


def mask_fixed(n):
    return np.tril(np.ones((8, 8)))[:n, :n] if n <= 8 else np.tril(np.ones((8, 8)))


def mask_additive(n):
    return np.where(np.tril(np.ones((n, n))) > 0, 0.0, -np.inf)


def mask_flipped(n):
    return np.tril(np.ones((n, n)))[::-1]


def mask_first_column(n):
    m = np.zeros((n, n))
    m[:, 0] = 1
    return m


# ----------------------------------------------------------------------------- pixelcnn_mask


def pixelcnn_mask(k, mask_type):
    c = k // 2
    m = np.zeros((k, k))
    m[:c, :] = 1
    m[c, :c] = 1
    if mask_type == "B":
        m[c, c] = 1
    return m


def pixelcnn_mask_raster(k, mask_type):
    """Raster positions: a kernel entry is allowed when it comes before the centre (or is it, for B)."""
    order = np.arange(k * k).reshape(k, k)
    centre = order[k // 2, k // 2]
    return (order < centre) | ((order == centre) & (mask_type == "B"))


def pk_swapped(k, mask_type):
    return pixelcnn_mask(k, "B" if mask_type == "A" else "A")


def pk_always_a(k, mask_type):
    return pixelcnn_mask(k, "A")


def pk_always_b(k, mask_type):
    return pixelcnn_mask(k, "B")


def pk_full_centre_row(k, mask_type):
    m = pixelcnn_mask(k, mask_type)
    m[k // 2, k // 2 + 1:] = 1
    return m


def pk_half_rows_above(k, mask_type):
    m = pixelcnn_mask(k, mask_type)
    m[: k // 2, k // 2 + 1:] = 0
    return m


def pk_transposed(k, mask_type):
    return pixelcnn_mask(k, mask_type).T


def pk_rows_below(k, mask_type):
    return pixelcnn_mask(k, mask_type)[::-1]


def pk_tril(k, mask_type):
    return np.tril(np.ones((k, k)), -1 if mask_type == "A" else 0)


def pk_no_left(k, mask_type):
    m = pixelcnn_mask(k, mask_type)
    m[k // 2, : k // 2] = 0
    return m


def pk_twos(k, mask_type):
    return 2 * pixelcnn_mask(k, mask_type)


# ----------------------------------------------------------------------------- image_nll


def image_nll(x, logits):
    per = np.logaddexp(0.0, logits) - x * logits
    return per.reshape(len(x), -1).sum(axis=1)


def image_nll_ops(x, logits):
    x = ops.convert_to_tensor(np.asarray(x, "float32"))
    logits = ops.convert_to_tensor(np.asarray(logits, "float32"))
    per = ops.binary_crossentropy(x, logits, from_logits=True)
    return ops.sum(ops.reshape(per, (ops.shape(x)[0], -1)), axis=1)


def nll_mean_pixels(x, logits):
    return image_nll(x, logits) / x[0].size


def nll_bits(x, logits):
    return image_nll(x, logits) / np.log(2)


def nll_sign(x, logits):
    return -image_nll(x, logits)


def nll_naive(x, logits):
    s = 1 / (1 + np.exp(-logits))
    per = -(x * np.log(s) + (1 - x) * np.log(1 - s))
    return per.reshape(len(x), -1).sum(axis=1)


def nll_last_axis(x, logits):
    return np.sum(np.logaddexp(0.0, logits) - x * logits, axis=-1)


def nll_batch_total(x, logits):
    return np.sum(np.logaddexp(0.0, logits) - x * logits)


def nll_ones_only(x, logits):
    return (x * np.logaddexp(0.0, -logits)).reshape(len(x), -1).sum(axis=1)


def nll_flipped_x(x, logits):
    return image_nll(1 - x, logits)


def nll_batch_mean(x, logits):
    return np.mean(image_nll(x, logits))


# ----------------------------------------------------------------------------- bits_per_character


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def bpc(logits, targets):
    lp = _log_softmax(np.asarray(logits, "float64"))
    return -np.mean(np.take_along_axis(lp, np.asarray(targets)[..., None], axis=-1)) / np.log(2)


def bpc_ops(logits, targets):
    logits = ops.convert_to_tensor(np.asarray(logits, "float32"))
    ce = ops.sparse_categorical_crossentropy(np.asarray(targets), logits, from_logits=True)
    return ops.mean(ce) / np.log(2)


def bpc_nats(logits, targets):
    return bpc(logits, targets) * np.log(2)


def bpc_log10(logits, targets):
    return bpc(logits, targets) * np.log(2) / np.log(10)


def bpc_sum(logits, targets):
    return bpc(logits, targets) * np.size(targets)


def bpc_naive(logits, targets):
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    return -np.mean(np.log2(np.take_along_axis(p, np.asarray(targets)[..., None], axis=-1)))


def bpc_per_row(logits, targets):
    lp = _log_softmax(logits)
    return -np.mean(np.take_along_axis(lp, targets[..., None], axis=-1)[..., 0], axis=-1) / np.log(2)


def bpc_entropy(logits, targets):
    lp = _log_softmax(logits)
    return np.mean(-np.sum(np.exp(lp) * lp, axis=-1)) / np.log(2)


def bpc_argmax(logits, targets):
    return -np.mean(np.max(_log_softmax(logits), axis=-1)) / np.log(2)


def bpc_shifted(logits, targets):
    return bpc(logits[..., :-1, :], targets[..., 1:])


def bpc_wrong_axis(logits, targets):
    z = logits - logits.max(axis=0, keepdims=True)
    lp = z - np.log(np.exp(z).sum(axis=0, keepdims=True))
    return -np.mean(np.take_along_axis(lp, targets[..., None], axis=-1)) / np.log(2)


# ----------------------------------------------------------------------------- sample_next


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _top(z, top_k):
    if top_k is None:
        return z
    kth = np.sort(z, axis=-1)[:, -top_k][:, None]
    return np.where(z >= kth, z, -np.inf)


def sample_next(logits, temperature, rng, top_k=None):
    p = _softmax(_top(np.asarray(logits, "float64") / temperature, top_k))
    u = rng.uniform(size=(len(p), 1))
    return np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)


def sample_next_gumbel(logits, temperature, rng, top_k=None):
    """The Gumbel-max trick: argmax of logits / temperature plus Gumbel noise, in float32."""
    z = np.asarray(logits, "float32") / np.float32(temperature)
    if top_k is not None:
        idx = np.argsort(z, axis=-1)[:, :-top_k]
        np.put_along_axis(z, idx, -np.inf, axis=-1)
    return np.argmax(z + rng.gumbel(size=z.shape), axis=-1)


def sample_next_choice(logits, temperature, rng, top_k=None):
    """One rng.choice per row."""
    out = []
    for row in np.asarray(logits, "float64"):
        z = row / temperature
        if top_k is not None:
            z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
        out.append(rng.choice(len(z), p=_softmax(z)))
    return np.array(out)


def sn_times(logits, temperature, rng, top_k=None):
    return sample_next(logits, 1 / temperature, rng, top_k)


def sn_ignore_t(logits, temperature, rng, top_k=None):
    return sample_next(logits, 1.0, rng, top_k)


def sn_argmax(logits, temperature, rng, top_k=None):
    return np.argmax(logits, axis=-1)


def sn_shared_u(logits, temperature, rng, top_k=None):
    p = _softmax(_top(np.asarray(logits, "float64") / temperature, top_k))
    u = rng.uniform()
    return np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)


def sn_own_rng(logits, temperature, rng, top_k=None):
    return sample_next(logits, temperature, np.random.default_rng(0), top_k)


def sn_global_rng(logits, temperature, rng, top_k=None):
    return sample_next_gumbel(logits, temperature, np.random, top_k)


def sn_naive(logits, temperature, rng, top_k=None):
    z = np.asarray(logits, "float64") / temperature
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    u = rng.uniform(size=(len(p), 1))
    return (np.cumsum(p, axis=-1) < u).sum(axis=-1)


def sn_top_k_plus_one(logits, temperature, rng, top_k=None):
    return sample_next(logits, temperature, rng, None if top_k is None else top_k + 1)


def sn_top_k_smallest(logits, temperature, rng, top_k=None):
    z = np.asarray(logits, "float64") / temperature
    if top_k is not None:
        z = np.where(z <= np.sort(z, axis=-1)[:, top_k - 1][:, None], z, -np.inf)
    return sample_next(z, 1.0, rng)


def sn_ignore_top_k(logits, temperature, rng, top_k=None):
    return sample_next(logits, temperature, rng)


def sn_first_row(logits, temperature, rng, top_k=None):
    p = _softmax(_top(np.asarray(logits, "float64")[:1] / temperature, top_k))[0]
    return rng.choice(len(p), size=len(logits), p=p)


def sn_top_k_before_temperature_probs(logits, temperature, rng, top_k=None):
    """Top-k on probabilities at temperature 1, then the temperature ignored."""
    return sample_next(_top(np.asarray(logits, "float64"), top_k), 1.0, rng)


def sn_top_k_ignores_temperature(logits, temperature, rng, top_k=None):
    """With top_k set, the temperature is forgotten (only the top-k branch is wrong)."""
    return sample_next(logits, 1.0 if top_k is not None else temperature, rng, top_k)


# ----------------------------------------------------------------------------- generate


def generate(next_logits, prompt, n_new, temperature, rng, top_k=None):
    tokens = np.asarray(prompt)
    for _ in range(n_new):
        new = sample_next(next_logits(tokens), temperature, rng, top_k)
        tokens = np.concatenate([tokens, new[:, None]], axis=1)
    return tokens


def generate_prealloc(next_logits, prompt, n_new, temperature, rng, top_k=None):
    """A preallocated array, filled column by column, with the Gumbel sampler."""
    n, t0 = np.shape(prompt)
    out = np.zeros((n, t0 + n_new), dtype="int64")
    out[:, :t0] = prompt
    for t in range(t0, t0 + n_new):
        out[:, t] = sample_next_gumbel(next_logits(out[:, :t]), temperature, rng, top_k)
    return out


def gen_no_feedback(next_logits, prompt, n_new, temperature, rng, top_k=None):
    new = [sample_next(next_logits(prompt), temperature, rng, top_k) for _ in range(n_new)]
    return np.concatenate([prompt, np.stack(new, axis=1)], axis=1)


def gen_only_new(next_logits, prompt, n_new, temperature, rng, top_k=None):
    return generate(next_logits, prompt, n_new, temperature, rng, top_k)[:, np.shape(prompt)[1]:]


def gen_one_short(next_logits, prompt, n_new, temperature, rng, top_k=None):
    return generate(next_logits, prompt, n_new - 1, temperature, rng, top_k)


def gen_ignore_t(next_logits, prompt, n_new, temperature, rng, top_k=None):
    return generate(next_logits, prompt, n_new, 1.0, rng, top_k)


def gen_ignore_top_k(next_logits, prompt, n_new, temperature, rng, top_k=None):
    return generate(next_logits, prompt, n_new, temperature, rng)


def gen_argmax(next_logits, prompt, n_new, temperature, rng, top_k=None):
    tokens = np.asarray(prompt)
    for _ in range(n_new):
        tokens = np.concatenate([tokens, np.argmax(next_logits(tokens), axis=-1)[:, None]], axis=1)
    return tokens


def gen_own_rng(next_logits, prompt, n_new, temperature, rng, top_k=None):
    return generate(next_logits, prompt, n_new, temperature, np.random.default_rng(0), top_k)


def gen_top_k_ignores_temperature(next_logits, prompt, n_new, temperature, rng, top_k=None):
    return generate(next_logits, prompt, n_new, 1.0 if top_k is not None else temperature, rng, top_k)


def gen_global_rng(next_logits, prompt, n_new, temperature, rng, top_k=None):  # NumPy's global generator
    tokens = np.asarray(prompt)
    for _ in range(n_new):
        new = sample_next(next_logits(tokens), temperature, np.random.default_rng(np.random.randint(2**31)), top_k)
        tokens = np.concatenate([tokens, new[:, None]], axis=1)
    return tokens


def gen_fresh_rng_per_draw(next_logits, prompt, n_new, temperature, rng, top_k=None):  # an unseeded one per token
    tokens = np.asarray(prompt)
    for _ in range(n_new):
        new = sample_next(next_logits(tokens), temperature, np.random.default_rng(), top_k)
        tokens = np.concatenate([tokens, new[:, None]], axis=1)
    return tokens


def gen_last_window(next_logits, prompt, n_new, temperature, rng, top_k=None):
    tokens = np.asarray(prompt)
    for _ in range(n_new):
        new = sample_next(next_logits(tokens[:, -2:]), temperature, rng, top_k)
        tokens = np.concatenate([tokens, new[:, None]], axis=1)
    return tokens


def gen_repeat_first(next_logits, prompt, n_new, temperature, rng, top_k=None):
    new = sample_next(next_logits(np.asarray(prompt)), temperature, rng, top_k)
    return np.concatenate([prompt, np.repeat(new[:, None], n_new, axis=1)], axis=1)


def gen_one_extra_call(next_logits, prompt, n_new, temperature, rng, top_k=None):
    tokens = np.asarray(prompt)
    for _ in range(n_new):
        next_logits(tokens)
        new = sample_next(next_logits(tokens), temperature, rng, top_k)
        tokens = np.concatenate([tokens, new[:, None]], axis=1)
    return tokens


CHECKS = {
    "causal_mask": ch07.check_causal_mask,
    "pixelcnn_mask": ch07.check_pixelcnn_mask,
    "image_nll": ch07.check_image_nll,
    "bits_per_character": ch07.check_bits_per_character,
    "sample_next": ch07.check_sample_next,
    "generate": ch07.check_generate,
}
REFERENCES = {
    "causal_mask": [causal_mask, causal_mask_ops, causal_mask_loop],
    "pixelcnn_mask": [pixelcnn_mask, pixelcnn_mask_raster],
    "image_nll": [image_nll, image_nll_ops],
    "bits_per_character": [bpc, bpc_ops],
    "sample_next": [sample_next, sample_next_gumbel, sample_next_choice],
    "generate": [generate, generate_prealloc],
}
WRONG = {
    "causal_mask": [
        (mask_upper, "upper triangle"),
        (mask_strict, "the diagonal must be True"),
        (mask_ones, "comes after it"),
        (mask_eye, "must be allowed to attend"),
        (mask_one_ahead, "comes after it"),
        (mask_fixed, "has shape"),
        (mask_additive, "booleans or 0/1"),
        (mask_flipped, "comes after it"),
        (mask_first_column, "must be allowed to attend"),
    ],
    "pixelcnn_mask": [
        (pk_swapped, "the centre must be"),
        (pk_always_a, "the centre must be 1"),
        (pk_always_b, "the centre must be 0"),
        (pk_full_centre_row, "right of the centre"),
        (pk_half_rows_above, "must be all 1"),
        (pk_transposed, "rows below the centre"),
        (pk_rows_below, "rows below the centre"),
        (pk_tril, "rows below the centre"),
        (pk_no_left, "left of the centre"),
        (pk_twos, "only 0s and 1s"),
    ],
    "image_nll": [
        (nll_mean_pixels, "averaged over the pixels"),
        (nll_bits, "in bits"),
        (nll_sign, "sign is flipped"),
        (nll_naive, "not finite"),
        (nll_last_axis, "sum over every axis but the first"),
        (nll_batch_total, "not a single number"),
        (nll_ones_only, "pixels that are 0 are missing"),
        (nll_flipped_x, "You scored 1 - x"),
        (nll_batch_mean, "not a single number"),
    ],
    "bits_per_character": [
        (bpc_nats, "in nats"),
        (bpc_log10, "base 10"),
        (bpc_sum, "do not sum"),
        (bpc_naive, "not finite"),
        (bpc_per_row, "return one number"),
        (bpc_entropy, "entropy"),
        (bpc_argmax, "not the most likely one"),
        (bpc_shifted, "already shifted"),
        (bpc_wrong_axis, "softmax over the last axis"),
    ],
    "sample_next": [
        (sn_times, "multiplied the logits by the temperature"),
        (sn_ignore_t, "as if the temperature were 1"),
        (sn_argmax, "every row got the same index"),
        (sn_shared_u, "every row got the same index"),
        (sn_own_rng, "two differently seeded rngs"),
        (sn_global_rng, "same seeded rng gave different draws"),
        (sn_naive, "overflows"),
        (sn_top_k_plus_one, "keep the 1 largest"),
        (sn_top_k_smallest, "largest logits"),
        (sn_ignore_top_k, "keep the 1 largest"),
        (sn_first_row, "its own logits"),
        (sn_top_k_before_temperature_probs, "as if the temperature were 1"),
        (sn_top_k_ignores_temperature, "with top_k set you ignored the temperature"),
    ],
    "generate": [
        (gen_no_feedback, "every time"),
        (gen_only_new, "only the new tokens"),
        (gen_one_short, "has shape"),
        (gen_ignore_t, "Pass temperature"),
        (gen_ignore_top_k, "pass top_k on"),
        (gen_argmax, "of the time, but softmax gives"),
        (gen_own_rng, "two differently seeded rngs"),
        (gen_last_window, "every time"),
        (gen_repeat_first, "every time"),
        (gen_one_extra_call, "one call per new token"),
        (gen_top_k_ignores_temperature, "with top_k set the temperature was ignored"),
        (gen_global_rng, "two generators seeded alike"),
        (gen_fresh_rng_per_draw, "two generators seeded alike"),
    ],
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, index", [(n, i) for n in WRONG for i in range(len(WRONG[n]))])
def test_wrong_implementations_fail_with_their_message(name, index):
    wrong, message = WRONG[name][index]
    assert_fails_with(CHECKS[name], wrong, message)
