"""What the chapters measure, in nats (Chapter 3 onwards).

Likelihood of a latent-variable model with a Bernoulli decoder on binarized images (Chapter 3)::

    metrics.negative_elbo(x, encode, decoder)              # -ELBO, nats per example (an upper bound on -log p(x))
    metrics.importance_weighted_nll(x, encode, decoder, k=100)  # a tighter estimate of -log p(x)
    metrics.bits_per_dim(nats, d_x)                         # nats / (d_x ln 2)

The model is described by two functions, so any implementation fits:

- ``encode(x)`` returns ``(z_mean, z_log_var)``, each of shape (n, d_z): the encoder
  q_phi(z | x) = N(z_mean, exp(z_log_var) I);
- ``decoder(z)`` returns the decoder's **logits**, one per pixel, n values of d_x: the decoder
  p_theta(x | z) = prod_j Bernoulli(x_j; sigmoid(logit_j)).

The prior is p(z) = N(0, I). All sums are computed in float64 with the noise drawn from a seeded NumPy
generator, so results are reproducible.
"""

import numpy as np

LOG_2PI = np.log(2 * np.pi)


def _binary_images(x):
    x = np.asarray(x, dtype="float64")
    if x.ndim < 2 or len(x) == 0:
        raise ValueError(f"x must be a batch of examples with shape (n, ...) and n > 0, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinity")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError(
            "x must be binarized (every value 0 or 1): these likelihoods are for a Bernoulli decoder; "
            "binarize the images first, e.g. (rng.uniform(size=x.shape) < x)"
        )
    return x


def _encode(encode, x):
    out = encode(x.astype("float32"))
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError("encode(x) must return the pair (z_mean, z_log_var)")
    z_mean, z_log_var = (np.asarray(v, dtype="float64") for v in out)
    if z_mean.ndim != 2 or len(z_mean) != len(x) or z_log_var.shape != z_mean.shape:
        raise ValueError(
            f"encode(x) must return z_mean and z_log_var of shape ({len(x)}, d_z), "
            f"got {z_mean.shape} and {z_log_var.shape}"
        )
    if not (np.all(np.isfinite(z_mean)) and np.all(np.isfinite(z_log_var))):
        raise ValueError("encode(x) returned NaN or infinity")
    return z_mean, z_log_var


def _log_bernoulli(x, decoder, z):
    """log p(x | z), summed over pixels: x (m, d_x), z (m, d_z) -> (m,)."""
    logits = np.asarray(decoder(z.astype("float32")), dtype="float64")
    if logits.size != x.size or len(logits) != len(x):
        raise ValueError(f"decoder(z) must return {x.shape[1]} logits per code (shape {x.shape}), got {logits.shape}")
    logits = logits.reshape(x.shape)
    if not np.all(np.isfinite(logits)):
        raise ValueError("decoder(z) returned NaN or infinity")
    # log sigmoid(l) for x = 1 and log(1 - sigmoid(l)) for x = 0, stably: x l - softplus(l)
    return np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)


def _log_normal(z, mean, log_var):
    """log N(z; mean, exp(log_var) I), summed over the last axis."""
    return -0.5 * np.sum(LOG_2PI + log_var + (z - mean) ** 2 / np.exp(log_var), axis=-1)


def gaussian_kl(z_mean, z_log_var):
    """KL(N(z_mean, exp(z_log_var) I) || N(0, I)) per example, in nats: shape (n, d_z) -> (n,)."""
    z_mean, z_log_var = np.asarray(z_mean, dtype="float64"), np.asarray(z_log_var, dtype="float64")
    if z_mean.shape != z_log_var.shape or z_mean.ndim != 2:
        raise ValueError(f"z_mean and z_log_var must both have shape (n, d_z), got {z_mean.shape} and {z_log_var.shape}")
    return 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1.0 - z_log_var, axis=1)


def _batches(n, size):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def negative_elbo(x, encode, decoder, samples=1, seed=0, batch_size=500):
    """The negative ELBO, averaged over the examples ``x``, in nats per example.

    -ELBO(x) = E_q[-log p_theta(x | z)] + KL(q_phi(z | x) || p(z)), with the expectation estimated from
    ``samples`` reparameterized draws z = z_mean + exp(z_log_var / 2) eps and the KL in closed form.
    It is an upper bound on -log p_theta(x) (in expectation). ``x`` must be binarized, shape (n, ...).
    """
    x = _binary_images(x)
    if not (isinstance(samples, (int, np.integer)) and samples >= 1):
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    rng = np.random.default_rng(seed)
    total = 0.0
    for b in _batches(len(x), batch_size):
        xb = x[b]
        z_mean, z_log_var = _encode(encode, xb)
        flat = np.repeat(xb.reshape(len(xb), -1), samples, axis=0)  # each example `samples` times
        mean, log_var = np.repeat(z_mean, samples, axis=0), np.repeat(z_log_var, samples, axis=0)
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
        reconstruction = -_log_bernoulli(flat, decoder, z).reshape(len(xb), samples).mean(axis=1)
        total += np.sum(reconstruction + gaussian_kl(z_mean, z_log_var))
    return total / len(x)


def importance_weighted_nll(x, encode, decoder, k=100, seed=0, max_codes=20_000):
    """An importance-weighted estimate of -log p_theta(x), averaged over ``x``, in nats per example.

    With k codes z_1..z_k drawn from q_phi(z | x) (Burda et al., 2016):

        log p(x) ~ log (1/k) sum_i p_theta(x | z_i) p(z_i) / q_phi(z_i | x),

    a lower bound on log p(x) in expectation that tightens as k grows (k = 1 gives the ELBO). The
    returned estimate of -log p(x) is therefore an upper bound in expectation. ``max_codes`` caps how
    many codes go through the decoder at once (memory).
    """
    x = _binary_images(x)
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    rng = np.random.default_rng(seed)
    total = 0.0
    for b in _batches(len(x), max(1, max_codes // k)):
        xb = x[b]
        z_mean, z_log_var = _encode(encode, xb)
        mean, log_var = np.repeat(z_mean, k, axis=0), np.repeat(z_log_var, k, axis=0)
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape)
        flat = np.repeat(xb.reshape(len(xb), -1), k, axis=0)
        log_w = _log_bernoulli(flat, decoder, z) + _log_normal(z, 0.0, 0.0) - _log_normal(z, mean, log_var)
        log_w = log_w.reshape(len(xb), k)
        top = log_w.max(axis=1, keepdims=True)  # log-mean-exp, stably
        log_px = top[:, 0] + np.log(np.mean(np.exp(log_w - top), axis=1))
        total -= np.sum(log_px)
    return total / len(x)


def bits_per_dim(nats, d_x):
    """Convert a negative log-likelihood in nats per example to bits per dimension: nats / (d_x ln 2)."""
    if not (isinstance(d_x, (int, np.integer)) and d_x >= 1):
        raise ValueError(f"d_x must be a positive integer (the number of dimensions), got {d_x!r}")
    return np.asarray(nats, dtype="float64") / (d_x * np.log(2))
