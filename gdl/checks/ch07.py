"""Checks for the Chapter 7 exercises (``exercises/07_autoregressive.ipynb``).

- ``check_causal_mask(f)``: ``f(n)`` returns the (n, n) causal attention mask, True (or 1) where position i (row)
  may attend to position j (column), that is j <= i.
- ``check_pixelcnn_mask(f)``: ``f(kernel_size, mask_type)`` returns the (k, k) PixelCNN mask: 1 on the rows above
  the centre and left of the centre in its row; the centre itself is 0 for type "A", 1 for type "B".
- ``check_image_nll(f)``: ``f(x, logits)`` returns -log p(x) in nats per image for independent Bernoulli pixels
  with the given logits, summed over every axis but the first.
- ``check_bits_per_character(f)``: ``f(logits, targets)`` returns the mean of -log2 softmax(logits)[target] over
  every position.
- ``check_sample_next(f)``: ``f(logits, temperature, rng, top_k=None)`` draws one index per row from
  softmax(logits / temperature), keeping only the top_k largest logits when top_k is given.
- ``check_generate(f)``: ``f(next_logits, prompt, n_new, temperature, rng, top_k=None)`` appends n_new tokens to
  each row of prompt, one at a time, each drawn from next_logits(the sequence so far).
"""

import numpy as np

from gdl.checks import as_array, expect_close, expect_finite, expect_shape, fail, make_check, new_rng

_LN2 = np.log(2.0)


def _same(a, b):
    return a.shape == b.shape and np.array_equal(a, b)


# --------------------------------------------------------------------------------------------- causal mask


def _as_mask(value, n, what):
    arr = expect_shape(value, (n, n), what)
    if not np.all((arr == 0) | (arr == 1)):
        fail(f"{what} should hold booleans or 0/1 (True where row i may attend to column j), got values such as "
             f"{arr[(arr != 0) & (arr != 1)][0]:g}. The -inf/0 form is added to the scores later; return the mask "
             "itself.")
    return arr.astype(bool)


def _test_causal_mask(f):
    rng = new_rng()
    for n in (int(rng.integers(9, 17)), int(rng.integers(2, 7)), 1):
        what = f"causal_mask({n})"
        got = _as_mask(f(n), n, what)
        want = np.tril(np.ones((n, n), bool))
        if _same(got, want):
            continue
        if _same(got, want.T):
            fail(f"{what}: row i must allow columns j <= i (the past), not j >= i: you built the upper triangle; "
                 "transpose it, or use j <= i.")
        if _same(got, np.tril(want, -1)) or (not got.diagonal().all() and _same(got | np.eye(n, dtype=bool), want)):
            fail(f"{what}: the diagonal must be True: position i attends to itself (its own token is the newest "
                 "thing it knows when it predicts token i + 1).")
        if (got & ~want).any():
            i, j = np.argwhere(got & ~want)[0]
            fail(f"{what}: position {i} may attend to position {j}, which comes after it: only j <= i is allowed.")
        i, j = np.argwhere(~got & want)[0]
        fail(f"{what}: position {i} must be allowed to attend to position {j} (j <= i), but your mask forbids it.")


check_causal_mask = make_check("causal_mask", _test_causal_mask)


# --------------------------------------------------------------------------------------------- pixelcnn mask


def _mask(k, kind):
    c = k // 2
    m = np.zeros((k, k))
    m[:c] = 1
    m[c, :c] = 1
    m[c, c] = kind == "B"
    return m


def _test_pixelcnn_mask(f):
    rng = new_rng()
    for k in (1, 3, int(rng.choice([5, 7, 9]))):
        for kind in "AB":
            what = f"pixelcnn_mask({k}, {kind!r})"
            got = expect_shape(f(k, kind), (k, k), what)
            want = _mask(k, kind)
            if np.array_equal(got, want):
                continue
            if not np.all((got == 0) | (got == 1)):
                fail(f"{what} should hold only 0s and 1s.")
            c = k // 2
            if got[c, c] != want[c, c]:
                fail(f"{what}: the centre must be {int(want[c, c])}: type A hides the pixel being predicted (the "
                     "first layer must not see x_i), type B keeps it (hidden features at i depend on x_<i only).")
            if (got[c + 1:] != 0).any():
                fail(f"{what}: the rows below the centre come later in raster order: they must be 0.")
            if (got[c, c + 1:] != 0).any():
                fail(f"{what}: in the centre row, the pixels right of the centre come later: they must be 0.")
            if (got[:c] != 1).any():
                fail(f"{what}: every row above the centre comes earlier in raster order, including its right-hand "
                     "part: those rows must be all 1.")
            fail(f"{what}: in the centre row, the pixels left of the centre come earlier: they must be 1.")


check_pixelcnn_mask = make_check("pixelcnn_mask", _test_pixelcnn_mask)


# --------------------------------------------------------------------------------------------- image nll


def _nll(x, logits):
    per = np.logaddexp(0.0, logits) - x * logits
    return per.reshape(len(x), -1).sum(axis=1)


def _test_image_nll(f):
    rng = new_rng()
    n = int(rng.integers(3, 9))
    for shape in [(n, int(rng.integers(10, 30))), (n + 1, 6, 5, 1)]:
        x = (rng.uniform(size=shape) < 0.4).astype("float32")
        logits = rng.normal(0, 3, size=shape)
        flat = logits.reshape(len(x), -1)
        flat[0, 0], flat[1, 0] = (-60.0, 60.0)  # confident: a naive log(sigmoid) gives log(0)
        x.reshape(len(x), -1)[0, 0], x.reshape(len(x), -1)[1, 0] = 1.0, 0.0  # and wrong: 60 nats each
        what = f"image_nll(x, logits) for x of shape {shape}"
        out = as_array(f(x, logits), what)
        want = _nll(x.astype("float64"), logits)
        if out.shape == (len(x),) and np.all(np.isfinite(out)) and np.allclose(out, want, rtol=1e-4, atol=1e-3):
            continue
        if out.ndim == 0:
            fail(f"{what}: return one value per image (shape ({len(x)},)), not a single number for the batch.")
        if out.shape != (len(x),):
            fail(f"{what} has shape {out.shape}: sum over every axis but the first (pixels of an image may have "
                 f"several axes), to get one value per image, shape ({len(x)},).")
        if not np.all(np.isfinite(out)):
            fail(f"{what} is not finite for a confident wrong logit (60 or -60): log(sigmoid(l)) rounds to log(0). "
                 "Use the stable form log(1 + exp(l)) - x * l (softplus, or np.logaddexp(0, l)).")
        d = x[0].size
        for value, message in [
            (want / d, "You averaged over the pixels: sum them (nats per image, not per pixel)."),
            (want / _LN2, "That is in bits: use natural logarithms (nats)."),
            (-want, "The sign is flipped: return the negative log-likelihood, a positive number."),
            (_nll(1 - x.astype("float64"), logits), "You scored 1 - x: a logit l gives p(x_i = 1) = sigmoid(l)."),
            (np.sum((np.logaddexp(0.0, -logits) * x).reshape(len(x), -1), axis=1),
             "The pixels that are 0 are missing: add -log(1 - sigmoid(l)) = log(1 + exp(l)) for them."),
        ]:
            if np.allclose(out, value, rtol=1e-4, atol=1e-3):
                fail(message)
        expect_close(out, want, what, rtol=1e-4, atol=1e-3,
                     hint="-log p(x) = sum_i [log(1 + exp(l_i)) - x_i l_i], over the pixels of each image.")


check_image_nll = make_check("image_nll", _test_image_nll)


# --------------------------------------------------------------------------------------------- bits per character


def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _bpc(logits, targets):
    lp = _log_softmax(logits)
    return float(-np.mean(np.take_along_axis(lp, targets[..., None], axis=-1)) / _LN2)


def _test_bits_per_character(f):
    rng = new_rng()
    V = int(rng.integers(5, 12))
    n, t = int(rng.integers(2, 5)), int(rng.integers(6, 11))
    cases = [((n, t, V), (n, t)), ((t + 1, V), (t + 1,))]
    for lshape, tshape in cases:
        logits = rng.normal(0, 2, size=lshape)
        logits += rng.choice([0.0, 1000.0], size=lshape[:-1] + (1,))  # a constant shift changes nothing
        targets = rng.integers(0, V, size=tshape)
        what = f"bits_per_character(logits, targets) for logits {lshape}, targets {tshape}"
        out = as_array(f(logits, targets), what)
        want = _bpc(logits, targets)
        if out.size != 1:
            fail(f"{what} has shape {out.shape}: return one number, the mean over every position.")
        out = float(out.reshape(()))
        if not np.isfinite(out):
            fail(f"{what} is not finite for logits around 1000: exp overflows. Subtract each row's maximum before "
                 "exponentiating (a log-softmax), which does not change the softmax.")
        if np.isclose(out, want, rtol=1e-5, atol=1e-6):
            continue
        lp = _log_softmax(logits)
        picked = -np.take_along_axis(lp, targets[..., None], axis=-1)[..., 0]
        p = np.exp(lp)
        for value, message in [
            (want * _LN2, "That is in nats: divide by ln 2 for bits (log2 p = ln p / ln 2)."),
            (want * _LN2 / np.log(10), "That is base 10: bits are log2."),
            (picked.sum() / _LN2, "Average over the positions (bits per character), do not sum."),
            (picked.sum() / _LN2 / (picked.shape[0] if picked.ndim > 1 else 1),
             "Average over every position, not only over the sequences."),
            (float(np.mean(-np.sum(p * lp, axis=-1)) / _LN2),
             "That is the entropy of the model's prediction; bpc scores the character that actually came: "
             "-log2 p(target)."),
            (float(-np.mean(np.max(lp, axis=-1)) / _LN2), "Score the target character, not the most likely one."),
        ]:
            if np.isclose(out, value, rtol=1e-5, atol=1e-6):
                fail(message)
        fail(f"{what} is {out:.6g}, expected {want:.6g}: the mean over positions of -log2 softmax(logits)[target], "
             "the softmax over the last axis (the characters), targets used as they are (already shifted).")


check_bits_per_character = make_check("bits_per_character", _test_bits_per_character)


# --------------------------------------------------------------------------------------------- sampling


def _probs(logits, temperature, top_k=None):
    z = np.asarray(logits, dtype="float64") / temperature
    if top_k is not None:
        kth = np.sort(z, axis=-1)[..., -top_k][..., None]
        z = np.where(z >= kth, z, -np.inf)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _as_indices(value, n, V, what):
    arr = expect_shape(value, (n,), what)
    if not np.all(arr == np.round(arr)) or arr.min() < 0 or arr.max() >= V:
        fail(f"{what} should be integer indices in 0..{V - 1} (one drawn character per row), got {arr[:5]} ...")
    return arr.astype(int)


def _frequencies_match(draws, p, what, hint):
    """Fail unless the draws of each category are within 6 standard errors of n p (rows share one p)."""
    n = len(draws)
    counts = np.bincount(draws, minlength=len(p))
    se = np.sqrt(n * p * (1 - p)) + 1.0
    bad = np.abs(counts - n * p) > 6 * se
    if bad.any():
        j = int(np.argmax(bad))
        fail(f"{what}: index {j} was drawn {counts[j] / n:.3f} of the time, but softmax gives {p[j]:.3f}. {hint}")


def _test_sample_next(f):
    rng = new_rng()
    V = int(rng.integers(6, 10))
    n = 6000
    base = np.sort(rng.normal(0, 1.2, size=V))[rng.permutation(V)]
    for temperature in (0.5, 2.0):
        logits = np.tile(base, (n, 1)) + 500.0  # the same row n times; large logits overflow a naive exp
        what = f"sample_next(logits, temperature={temperature}, rng)"
        draws = _as_indices(f(logits, temperature, np.random.default_rng(1)), n, V, what)
        if len(np.unique(draws)) == 1:
            fail(f"{what}: every row got the same index. Draw each row on its own (rng.choice per row, or one "
                 "uniform number per row), from the softmax, not the largest logit. (With logits around 500 a "
                 "softmax that does not subtract the row maximum first overflows to NaN.)")
        p, p1 = _probs(base, temperature), _probs(base, 1.0)
        counts = np.bincount(draws, minlength=V) / n
        if np.abs(counts - p1).max() < 0.02 < np.abs(p - p1).max() - 0.02:
            fail(f"{what}: the draws follow softmax(logits), as if the temperature were 1: divide the logits by "
                 "the temperature before the softmax.")
        if np.abs(counts - _probs(base, 1 / temperature)).max() < 0.02:
            fail(f"{what}: you multiplied the logits by the temperature; divide them (a high temperature must "
                 "flatten the distribution).")
        _frequencies_match(draws, p, what, "Draw from softmax(logits / temperature), over the last axis.")
    again = _as_indices(f(logits, 2.0, np.random.default_rng(1)), n, V, "sample_next")
    if not np.array_equal(again, draws):
        fail("sample_next with the same seeded rng gave different draws: draw from the rng you are given.")
    other = _as_indices(f(logits, 2.0, np.random.default_rng(2)), n, V, "sample_next")
    if np.array_equal(other, draws):
        fail("sample_next gave the same draws for two differently seeded rngs: draw from the rng you are given, "
             "not from a generator of your own.")
    # rows with different logits: each row uses its own
    rows = np.zeros((n, V))
    rows[np.arange(n), np.arange(n) % V] = 40.0
    what = "sample_next(logits, 1.0, rng) with a different certain index in each row"
    draws = _as_indices(f(rows, 1.0, np.random.default_rng(3)), n, V, what)
    if not np.array_equal(draws, np.arange(n) % V):
        fail(f"{what}: row i must be drawn from its own logits (the softmax over the last axis).")
    # top_k with a temperature far from 1, on logits whose top 3 are at least 0.5 apart: the temperature matters
    spread = rng.permutation(np.linspace(-2.0, 2.0, V))
    for k, temperature, row in ((1, 1.5, base), (3, 0.4, spread), (3, 1.5, base)):
        logits = np.tile(row, (n, 1))
        what = f"sample_next(logits, {temperature}, rng, top_k={k})"
        draws = _as_indices(f(logits, temperature, np.random.default_rng(4), top_k=k), n, V, what)
        allowed = np.argsort(row)[-k:]
        if not np.isin(draws, allowed).all():
            outside = int(draws[~np.isin(draws, allowed)][0])
            rank = int(np.sum(row > row[outside])) + 1
            fail(f"{what} drew index {outside}, whose logit is only the {rank}th largest: keep the {k} largest "
                 "logits and set the others to -inf before the softmax.")
        counts = np.bincount(draws, minlength=V) / n
        p, p1 = _probs(row, temperature, k), _probs(row, 1.0, k)
        if np.abs(counts - p1).max() < 0.02 and np.abs(p - p1).max() > 0.1:  # 0.08 is 12 standard errors
            fail(f"{what}: among the top {k} logits the draws follow the softmax at temperature 1: with top_k set "
                 "you ignored the temperature. Divide the logits by the temperature as well, then keep the top k.")
        _frequencies_match(draws, p, what, "Among the top_k logits, draw from the softmax of logits / temperature.")
    draws = _as_indices(f(np.tile(base, (n, 1)), 1.5, np.random.default_rng(5), top_k=None), n, V,
                        "sample_next(..., top_k=None)")
    _frequencies_match(draws, _probs(base, 1.5), "sample_next(logits, 1.5, rng, top_k=None)",
                       "top_k=None keeps every logit.")


check_sample_next = make_check("sample_next", _test_sample_next)


def _test_generate(f):
    rng = new_rng()
    V = int(rng.integers(7, 12))
    n, t0, n_new = int(rng.integers(3, 6)), int(rng.integers(2, 5)), int(rng.integers(4, 8))
    prompt = rng.integers(0, V, size=(n, t0))
    calls = []

    def next_sum(tokens):  # the next token is the sum of all tokens so far, mod V, with certainty
        tokens = np.asarray(tokens)
        calls.append(tokens.shape)
        if tokens.ndim != 2 or len(tokens) != n:
            fail(f"generate called next_logits with an array of shape {tokens.shape}: pass the whole batch of "
                 f"sequences so far, shape ({n}, current length).")
        out = np.zeros((n, V))
        out[np.arange(n), tokens.sum(axis=1) % V] = 50.0
        return out

    want = prompt.copy()
    for _ in range(n_new):
        want = np.concatenate([want, (want.sum(axis=1) % V)[:, None]], axis=1)
    what = f"generate(next_logits, prompt of shape {prompt.shape}, n_new={n_new}, temperature=1.0, rng)"
    got = as_array(f(next_sum, prompt.copy(), n_new, 1.0, np.random.default_rng(0)), what)
    if got.shape == (n, n_new) and np.array_equal(got, want[:, t0:]):
        fail(f"{what} returned only the new tokens: return the prompt followed by them, shape {want.shape}.")
    if got.shape != want.shape:
        fail(f"{what} has shape {got.shape}, expected {want.shape}: the prompt ({t0} tokens) followed by "
             f"{n_new} new tokens.")
    if not np.array_equal(got[:, :t0], prompt):
        fail(f"{what}: the first {t0} tokens of each row must be the prompt, unchanged.")
    if not np.array_equal(got, want):
        lengths = [s[1] for s in calls]
        if lengths and len(set(lengths)) == 1:
            fail(f"{what}: next_logits was called on sequences of length {lengths[0]} every time: append each "
                 "new token and call next_logits on the sequence so far (the new tokens are its input).")
        i = int(np.argmax((got != want).any(axis=0)))
        fail(f"{what}: token {i} differs from what next_logits(sequence so far) makes certain. Feed the whole "
             "sequence so far, including the tokens generated before, to next_logits at every step.")
    if len(calls) != n_new:
        fail(f"{what} called next_logits {len(calls)} times: one call per new token ({n_new}).")
    # temperature, top_k and rng are passed on: a flat-ish next_logits, the first new token's frequencies
    base = np.sort(rng.normal(0, 1.2, size=V))[rng.permutation(V)]
    m = 6000

    def next_fixed(tokens):
        return np.tile(base, (len(tokens), 1))

    spread = rng.permutation(np.linspace(-2.0, 2.0, V))  # top logits 0.4 apart or more: the temperature shows

    def next_spread(tokens):
        return np.tile(spread, (len(tokens), 1))

    start = np.zeros((m, 1), dtype=int)
    for temperature, k in ((0.5, None), (2.0, None), (1.0, 2), (0.4, 3)):
        what = f"generate(next_logits, prompt, 1, temperature={temperature}, rng, top_k={k})"
        source = next_spread if temperature == 0.4 else next_fixed
        base_now = spread if temperature == 0.4 else base
        out = as_array(f(source, start, 1, temperature, np.random.default_rng(7), top_k=k), what)
        if out.shape != (m, 2):
            fail(f"{what} has shape {out.shape}, expected {(m, 2)}.")
        draws = out[:, 1].astype(int)
        expect_finite(out, what)
        if k is not None and not np.isin(draws, np.argsort(base_now)[-k:]).all():
            fail(f"{what} drew outside the {k} largest logits: pass top_k on to sample_next.")
        counts = np.bincount(draws, minlength=V) / m
        p, p1 = _probs(base_now, temperature, k), _probs(base_now, 1.0, k)
        if k is not None and np.abs(counts - p1).max() < 0.02 and np.abs(p - p1).max() > 0.1:
            fail(f"{what}: among the top {k} logits the draws follow the softmax at temperature 1: with top_k set "
                 "the temperature was ignored. Pass both temperature and top_k on to sample_next.")
        _frequencies_match(draws, p, what, "Pass temperature (and top_k) on to sample_next at every step.")
    a = as_array(f(next_fixed, start, 3, 1.0, np.random.default_rng(8)), "generate")
    again = as_array(f(next_fixed, start, 3, 1.0, np.random.default_rng(8)), "generate")
    if not np.array_equal(a, again):
        fail("generate gave different tokens for two generators seeded alike: draw every token from the rng you "
             "are given (pass it on to sample_next), not from np.random or a new generator per draw, so that "
             "results are reproducible.")
    b = as_array(f(next_fixed, start, 3, 1.0, np.random.default_rng(9)), "generate")
    if np.array_equal(a, b):
        fail("generate gave the same tokens for two differently seeded rngs: pass the rng you are given on to "
             "sample_next.")
    if np.array_equal(a[:, 1], a[:, 2]) and np.array_equal(a[:, 2], a[:, 3]):
        fail("generate drew the same token at every step: draw a fresh one at each step.")


check_generate = make_check("generate", _test_generate, points=2)
