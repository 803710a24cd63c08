"""What the chapters measure. Two sections, each self-contained:

1. Likelihood, in nats (Chapter 3 onwards), of a latent-variable model with a Bernoulli decoder on
   binarized images::

       metrics.negative_elbo(x, encode, decoder)                   # -ELBO per example, >= -log p(x)
       metrics.importance_weighted_nll(x, encode, decoder, k=100)  # a tighter estimate of -log p(x)
       metrics.bits_per_dim(nats, d_x)                             # nats / (d_x ln 2)

   The model is given as two functions, so any implementation fits: ``encode(x)`` returns
   ``(z_mean, z_log_var)``, each (n, d_z), for the encoder q_phi(z | x) = N(z_mean, exp(z_log_var) I);
   ``decoder(z)`` returns the **logits** (n, d_x) of p_theta(x | z) = prod_j Bernoulli(x_j; sigmoid(logit_j)).
   The prior is p(z) = N(0, I). Sums are in float64 with noise from a seeded NumPy generator, so results
   are reproducible.

2. Sample quality (Chapter 4 onwards): a small MNIST classifier the course trains itself, the Frechet
   distance and KID in its feature space, class coverage of generated digits, the confident-digit rate, a
   memorisation check against the training digits, precision and recall (``precision_recall``), and mode
   coverage and shares of 2-D samples. One call gives the
   standard report of a chapter's samples, beside the same numbers for real held-out digits::

       rows = {"real": metrics.sample_quality(x_test[:500], x_test[500:], x_train),
               "model": metrics.sample_quality(samples, x_test[500:], x_train)}
       print(metrics.quality_table(rows))

3. Holes in a code space (Chapters 2 and 3): ``metrics.hole_fraction(train_codes, test_codes)``.
"""

import os
from pathlib import Path

import numpy as np

# =========================================================================================================
# Likelihood (Chapter 3): negative ELBO and importance-weighted NLL, in nats
# =========================================================================================================
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
        raise ValueError(
            f"z_mean and z_log_var must both have shape (n, d_z), got {z_mean.shape} and {z_log_var.shape}"
        )
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
    returned estimate of -log p(x) is therefore an upper bound in expectation. ``encode`` is the encoder
    (``x -> (z_mean, z_log_var)``) or the pair itself, one row per image of ``x`` (a proposal fitted per
    image, as in Chapter 3's amortization gap). ``max_codes`` caps how many codes go through the decoder
    at once (memory).
    """
    x = _binary_images(x)
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    given = None if callable(encode) else tuple(np.asarray(v) for v in encode)  # per-image proposals
    rng = np.random.default_rng(seed)
    total = 0.0
    for b in _batches(len(x), max(1, max_codes // k)):
        xb = x[b]
        rows = encode if given is None else (lambda _, b=b: tuple(v[b] for v in given))
        z_mean, z_log_var = _encode(rows, xb)
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


# =========================================================================================================
# Sample quality (Chapter 4): the course classifier, Frechet distance ("FID"), KID, class and mode coverage
# =========================================================================================================
#
# FID and KID are usually computed in the feature space of an ImageNet Inception network. The course cannot
# download weights, so it trains a small MNIST classifier itself and measures distances in the 64-dimensional
# feature space of its last hidden layer. Numbers computed this way are comparable with each other (same
# classifier, same data), never with published Inception FIDs.

CACHE_VAR = "GDL_CACHE"
CLASSIFIER_VERSION = 1  # bump when the architecture or the training recipe changes (invalidates caches)
FEATURES_LAYER = "features"


def cache_dir():
    """The course cache folder: ``$GDL_CACHE`` if set, else ``~/.cache/gdl`` (created on first use)."""
    folder = Path(os.environ.get(CACHE_VAR) or Path.home() / ".cache" / "gdl")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _as_digit_images(images, what="images"):
    """Validate images in [0, 1] of shape (n, 28, 28), (n, 28, 28, 1) or (n, 784); return (n, 28, 28, 1)."""
    x = np.asarray(images, dtype="float32")
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"{what} must have shape (n, 28, 28), (n, 28, 28, 1) or (n, 784) with n > 0, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contain NaN or infinity")
    lo, hi = float(x.min()), float(x.max())
    if lo < -0.01 or hi > 1.01:
        hint = " (images in [-1, 1] from a tanh generator: pass (x + 1) / 2)" if lo >= -1.01 and hi <= 1.01 else ""
        raise ValueError(f"{what} must have values in [0, 1], got [{lo:.3g}, {hi:.3g}]{hint}")
    return x[..., None]


def _build_classifier(seed):
    import keras
    from keras import layers

    def init(i):
        return keras.initializers.GlorotUniform(seed=seed + i)

    inputs = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(16, 3, activation="relu", kernel_initializer=init(0))(inputs)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(32, 3, activation="relu", kernel_initializer=init(1))(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dense(64, activation="relu", kernel_initializer=init(2), name=FEATURES_LAYER)(h)
    outputs = layers.Dense(10, kernel_initializer=init(3), name="logits")(h)
    return keras.Model(inputs, outputs, name="course_mnist_classifier")


def mnist_classifier(n_train=None, epochs=None, seed=0, verbose=True):
    """The course's MNIST classifier (a small CNN), trained once and cached on disk.

    Trained on the first ``n_train`` training images of ``data.mnist()`` for ``epochs`` epochs, in a fixed
    order from fixed initial weights, so that a rerun gives the same classifier. The defaults follow the
    run profile (smoke: 1,000 images, 1 epoch; otherwise all training images, 8 epochs). The trained model
    is saved under ``cache_dir()`` (``$GDL_CACHE`` or ``~/.cache/gdl``), keyed by the data it saw, and
    loaded from there next time. Returns a Keras model whose outputs are the 10 class logits.
    """
    import keras

    from gdl import data
    from gdl.budget import budget

    n_train = budget(smoke=1_000, cpu=None, gpu=None) if n_train is None else n_train
    epochs = budget(smoke=1, cpu=8, gpu=8) if epochs is None else epochs
    (x_train, y_train), (x_test, y_test) = data.mnist(verbose=False)
    n = len(x_train) if n_train is None else min(int(n_train), len(x_train))
    # Keyed by the Keras version too: a model saved by one Keras version may not load in another (Colab's).
    name = f"mnist_classifier_v{CLASSIFIER_VERSION}_n{n}_of{len(x_train)}_e{epochs}_s{seed}_keras{keras.__version__}"
    path = cache_dir() / f"{name}.keras"
    model = None
    if path.exists():
        try:
            model = keras.models.load_model(path)
            where = f"loaded from {path}"
        except Exception as err:  # written by something else: train afresh and replace our own cache file
            print(f"Course MNIST classifier: {path} could not be loaded ({type(err).__name__}); training it again.")
    if model is None:
        model = _build_classifier(seed)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        order = np.random.default_rng(seed).permutation(len(x_train))[:n]
        model.fit(x_train[order, ..., None], y_train[order], batch_size=64, epochs=epochs, shuffle=False, verbose=0)
        tmp = path.with_suffix(".tmp.keras")
        model.save(tmp)
        os.replace(tmp, path)  # atomic: a half-written file never looks like a cached model
        where = f"trained on {n:,} images for {epochs} epochs, cached in {path}"
    if verbose:
        accuracy = float(np.mean(predict_classes(x_test, model) == y_test))
        print(f"Course MNIST classifier: {where}; test accuracy {accuracy:.3f} on {len(x_test):,} images.")
    return model


def _default(classifier):
    return mnist_classifier(verbose=False) if classifier is None else classifier


def _in_batches(model, x, batch_size):
    # Plain calls, no `predict`: nothing is traced, so many calls with different sizes cost no retracing.
    return np.concatenate(
        [
            np.asarray(model(x[i : i + batch_size], training=False), dtype="float64")
            for i in range(0, len(x), batch_size)
        ]
    )


def classifier_features(images, classifier=None, batch_size=500):
    """The classifier's 64 features (last hidden layer) of ``images`` in [0, 1]: float64 (n, 64)."""
    import keras

    x = _as_digit_images(images)
    classifier = _default(classifier)
    extractor = keras.Model(classifier.inputs[0], classifier.get_layer(FEATURES_LAYER).output)
    return _in_batches(extractor, x, batch_size)


def predict_classes(images, classifier=None, batch_size=500):
    """The digit (0..9) the classifier sees in each image of ``images`` in [0, 1]: int (n,)."""
    x = _as_digit_images(images)
    return np.argmax(_in_batches(_default(classifier), x, batch_size), axis=1)


def _as_features(f, what):
    f = np.asarray(f, dtype="float64")
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{what} must have shape (n, d) with n >= 2, got {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ValueError(f"{what} contain NaN or infinity")
    return f


def _sqrt_psd(c):
    values, vectors = np.linalg.eigh((c + c.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, cov1, mu2, cov2):
    """The Frechet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2):

    ``|mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1^1/2 cov2 cov1^1/2)^1/2)``.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, "float64")), np.atleast_1d(np.asarray(mu2, "float64"))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, "float64")), np.atleast_2d(np.asarray(cov2, "float64"))
    d = mu1.shape[0]
    for name, v, shape in (("mu1", mu1, (d,)), ("mu2", mu2, (d,)), ("cov1", cov1, (d, d)), ("cov2", cov2, (d, d))):
        if v.shape != shape:
            raise ValueError(f"{name} must have shape {shape} (mu1 has {d} dimensions), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains NaN or infinity")
    s1 = _sqrt_psd(cov1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ cov2 @ s1), 0, None)).sum()  # tr (C1^1/2 C2 C1^1/2)^1/2
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def frechet_distance_features(f1, f2):
    """The Frechet distance between Gaussians fitted to two feature sets (n1, d) and (n2, d)."""
    f1, f2 = _as_features(f1, "f1"), _as_features(f2, "f2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"f1 and f2 must have the same number of features, got {f1.shape[1]} and {f2.shape[1]}")
    return frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))


def fid(images1, images2, classifier=None):
    """FID with the course classifier: the Frechet distance of two image sets in its feature space.

    Lower is better; 0 only for identical statistics. Compare values computed with the same classifier and
    similar sample sizes (the estimate is biased upwards for small sets), never with Inception FIDs.
    """
    classifier = _default(classifier)
    return frechet_distance_features(classifier_features(images1, classifier), classifier_features(images2, classifier))


def kernel_mmd2(f1, f2):
    """Unbiased MMD^2 between feature sets with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3."""
    f1, f2 = _as_features(f1, "f1"), _as_features(f2, "f2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"f1 and f2 must have the same number of features, got {f1.shape[1]} and {f2.shape[1]}")
    d, m, n = f1.shape[1], len(f1), len(f2)
    k11, k22, k12 = ((a @ b.T / d + 1) ** 3 for a, b in ((f1, f1), (f2, f2), (f1, f2)))
    return float(
        (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1)) - 2 * k12.mean()
    )


def kid_features(f1, f2, subset_size=500, n_subsets=20, seed=0):
    """KID from two feature sets: the mean and standard deviation of ``kernel_mmd2`` over random subsets."""
    f1, f2 = _as_features(f1, "f1"), _as_features(f2, "f2")
    m = min(subset_size, len(f1), len(f2))
    rng = np.random.default_rng(seed)
    values = [
        kernel_mmd2(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)])
        for _ in range(n_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def kid(images1, images2, classifier=None, subset_size=500, n_subsets=20, seed=0):
    """KID with the course classifier: ``(mean, std)`` of the unbiased MMD^2 over subsets.

    Unlike FID it is unbiased, so it can be compared across sample sizes; about 0 for matching distributions
    (it can be slightly negative).
    """
    classifier = _default(classifier)
    f1, f2 = classifier_features(images1, classifier), classifier_features(images2, classifier)
    return kid_features(f1, f2, subset_size=subset_size, n_subsets=n_subsets, seed=seed)


def _knn_radii(f, k):
    """The distance from each row of ``f`` to its k-th nearest other row."""
    sq = np.sum(f**2, axis=1)
    d = np.sqrt(np.clip(sq[:, None] + sq[None] - 2 * f @ f.T, 0, None))
    np.fill_diagonal(d, np.inf)  # a point is not its own neighbour
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def _inside(points, centres, radii, batch_size=500):
    """For each point, whether it lies within its radius of at least one centre (balls are closed)."""
    c_sq = np.sum(centres**2, axis=1)
    out = np.empty(len(points), dtype=bool)
    for i in range(0, len(points), batch_size):
        p = points[i : i + batch_size]
        d = np.sqrt(np.clip(np.sum(p**2, axis=1)[:, None] + c_sq[None] - 2 * p @ centres.T, 0, None))
        out[i : i + batch_size] = np.any(d <= radii[None] * (1 + 1e-9), axis=1)
    return out


def precision_recall_features(f_samples, f_reference, k=3):
    """Precision and recall of generated features against real ones (Kynkaanniemi et al., 2019).

    Each set's manifold is the union of balls around its points, each ball reaching to the point's k-th
    nearest neighbour in its own set. **Precision** is the share of samples inside the reference's manifold
    (are the samples realistic?), **recall** the share of reference points inside the samples' manifold (is
    the data covered?). Returns ``(precision, recall)``; both need more than ``k`` points in each set.
    """
    f_samples, f_reference = _as_features(f_samples, "f_samples"), _as_features(f_reference, "f_reference")
    if f_samples.shape[1] != f_reference.shape[1]:
        raise ValueError(f"f_samples and f_reference must have the same number of features, got "
                         f"{f_samples.shape[1]} and {f_reference.shape[1]}")
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if min(len(f_samples), len(f_reference)) <= k:
        raise ValueError(f"each set needs more than k = {k} points, got {len(f_samples)} and {len(f_reference)}")
    precision = np.mean(_inside(f_samples, f_reference, _knn_radii(f_reference, k)))
    recall = np.mean(_inside(f_reference, f_samples, _knn_radii(f_samples, k)))
    return float(precision), float(recall)


def precision_recall(samples, reference, classifier=None, k=3):
    """Precision and recall of ``samples`` against held-out ``reference`` digits (both in [0, 1]) in the
    course classifier's 64 features: see ``precision_recall_features``."""
    classifier = _default(classifier)
    return precision_recall_features(classifier_features(samples, classifier),
                                     classifier_features(reference, classifier), k=k)


def coverage_from_labels(labels, num_classes, min_share=None):
    """How many of ``num_classes`` classes the integer ``labels`` cover, and how evenly.

    A class is covered when it holds at least ``min_share`` of the labels (default: a fifth of its fair share,
    ``0.2 / num_classes``). Returns a dict: ``counts`` (num_classes,), ``covered`` (an int), ``evenness``
    (the entropy of the class frequencies divided by log(num_classes): 1 for uniform, 0 for one class) and
    ``largest_share``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if not np.all(np.isfinite(labels.astype("float64"))) or np.any(labels != np.round(labels)):
        raise ValueError("labels must be integers")
    labels = labels.astype(int)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")
    min_share = 0.2 / num_classes if min_share is None else min_share
    counts = np.bincount(labels, minlength=num_classes)
    p = counts / counts.sum()
    nz = p[p > 0]
    return {
        "counts": counts,
        "covered": int(np.sum(p >= min_share)),
        "evenness": max(0.0, float(-(nz * np.log(nz)).sum() / np.log(num_classes))),
        "largest_share": float(p.max()),
    }


def class_coverage(images, classifier=None, min_share=None):
    """Which of the 10 digits generated ``images`` (in [0, 1]) show, by the course classifier's reading.

    Mode collapse shows up as few classes covered, low evenness and a large largest share.
    See ``coverage_from_labels`` for the dict returned.
    """
    return coverage_from_labels(predict_classes(images, classifier), 10, min_share)


def confident_rate(images, classifier=None, threshold=0.9, batch_size=500):
    """The share of ``images`` (in [0, 1]) that the classifier reads as some digit with probability >= threshold.

    Real test digits give the ceiling (about 0.95 for the course classifier); noise, blobs and half-formed
    strokes fall below the threshold.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}")
    logits = _in_batches(_default(classifier), _as_digit_images(images), batch_size)
    logits = logits - logits.max(axis=1, keepdims=True)
    top = 1 / np.exp(logits).sum(axis=1)  # the largest softmax probability (its logit is 0 after the shift)
    return float(np.mean(top >= threshold))


def nearest_distances(images, train, batch_size=500, return_index=False):
    """The Euclidean pixel distance from each image to its nearest image in ``train``: float64 (n,).

    Exact, in blocks of ``batch_size`` rows, so memory stays at ``batch_size * len(train)`` numbers. With
    ``return_index=True`` also returns, for each image, the index of that nearest training image.
    """
    x = _as_digit_images(images).reshape(-1, 784).astype("float64")
    t = _as_digit_images(train, "train").reshape(-1, 784).astype("float64")
    t_sq = (t**2).sum(axis=1)
    out, index = np.empty(len(x)), np.empty(len(x), dtype=int)
    for i in range(0, len(x), batch_size):
        block = x[i : i + batch_size]
        sq = (block**2).sum(axis=1)[:, None] + t_sq[None] - 2 * block @ t.T
        index[i : i + batch_size] = sq.argmin(axis=1)
        out[i : i + batch_size] = np.sqrt(np.clip(sq.min(axis=1), 0, None))
    return (out, index) if return_index else out


def memorised_fraction(samples, train, reference, quantile=5.0):
    """The share of ``samples`` closer to their nearest training image than held-out digits usually are.

    ``threshold`` is the ``quantile``-th percentile of the distances from the held-out ``reference`` digits to
    their nearest training image; returns ``(fraction, threshold)``. Other held-out digits score about
    ``quantile / 100``; a model that copies its training images scores near 1.
    """
    if not 0 < quantile < 100:
        raise ValueError(f"quantile must lie strictly between 0 and 100, got {quantile}")
    threshold = float(np.percentile(nearest_distances(reference, train), quantile))
    return float(np.mean(nearest_distances(samples, train) < threshold)), threshold


def sample_quality(samples, reference, train, classifier=None, kid_subset=None):
    """Every number the chapter standard asks of generated digits, as a dict.

    ``samples`` are compared with the held-out ``reference`` digits (FID, KID) and the ``train`` digits the
    model saw (memorisation). Keys: ``n``, ``confident`` (``confident_rate``), ``classes`` and ``evenness``
    (``class_coverage``), ``fid``, ``kid`` and ``kid_std`` (KID in the classifier's features: the mean and
    spread over 20 random subsets of ``kid_subset`` images, by default half the smaller set, so that the
    subsets differ), ``memorised`` (``memorised_fraction``). Call it for held-out real digits too, with as
    many images as samples, to get the ceiling each number should be read against.
    """
    classifier = _default(classifier)
    f_samples = classifier_features(samples, classifier)
    f_reference = classifier_features(reference, classifier)
    coverage = class_coverage(samples, classifier)
    if kid_subset is None:
        kid_subset = max(2, min(len(f_samples), len(f_reference)) // 2)
    kid_mean, kid_std = kid_features(f_samples, f_reference, subset_size=kid_subset)
    return {
        "n": len(f_samples),
        "confident": confident_rate(samples, classifier),
        "classes": coverage["covered"],
        "evenness": coverage["evenness"],
        "fid": frechet_distance_features(f_samples, f_reference),
        "kid": kid_mean,
        "kid_std": kid_std,
        "memorised": memorised_fraction(samples, train, reference)[0],
    }


def quality_table(rows):
    """A printable table of ``sample_quality`` dicts, one row per name in ``rows`` (a dict name -> dict)."""
    width = max(len(name) for name in rows)
    head = f"{'':{width}}  {'n':>5}  {'confident':>9}  {'classes':>7}  {'FID':>7}  {'KID':>17}  {'memorised':>9}"
    lines = [head]
    for name, r in rows.items():
        kid_text = f"{r['kid']:.4f} ± {r['kid_std']:.4f}"
        lines.append(
            f"{name:{width}}  {r['n']:>5}  {r['confident']:>9.3f}  {r['classes']:>4}/10  {r['fid']:>7.2f}  "
            f"{kid_text:>17}  {r['memorised']:>9.3f}"
        )
    return "\n".join(lines)


def mode_coverage(samples, means, std, min_count=20):
    """Mode coverage of 2-D samples from a mixture with ``means`` (k, 2) and component ``std``.

    Each sample is assigned to its nearest mean; it is *high quality* when it lies within 3 ``std`` of that
    mean. A mode is covered when at least ``min_count`` high-quality samples fall on it. Returns
    ``(modes_covered, high_quality_fraction)``, the two numbers used to diagnose mode collapse on toy data.
    """
    dist, nearest = _nearest_mode(samples, means)
    good = dist[np.arange(len(dist)), nearest] < 3 * std
    counts = np.bincount(nearest[good], minlength=dist.shape[1])
    return int(np.sum(counts >= min_count)), float(good.mean())


def nearest_mode_shares(samples, means):
    """The share of 2-D ``samples`` nearest to each of the ``means`` (k, 2): k numbers that sum to 1."""
    dist, nearest = _nearest_mode(samples, means)
    return np.bincount(nearest, minlength=dist.shape[1]) / len(nearest)


def _nearest_mode(samples, means):
    """Distances (n, k) from checked 2-D samples to the means, and each sample's nearest mean."""
    samples, means = np.asarray(samples, "float64"), np.asarray(means, "float64")
    if samples.ndim != 2 or samples.shape[1] != 2 or len(samples) == 0:
        raise ValueError(f"samples must have shape (n, 2) with n > 0, got {samples.shape}")
    if means.ndim != 2 or means.shape[1] != 2:
        raise ValueError(f"means must have shape (k, 2), got {means.shape}")
    if not np.all(np.isfinite(samples)):
        raise ValueError("samples contain NaN or infinity")
    dist = np.linalg.norm(samples[:, None, :] - means[None], axis=-1)
    return dist, dist.argmin(axis=1)


# =========================================================================================================
# Holes in a code space (Chapters 2 and 3)
# =========================================================================================================


def hole_fraction(train_codes, test_codes, n_probe=2_000, quantile=99.0, seed=0, return_probe=False):
    """The share of a code space that no training code covers: ``(fraction, radius)``.

    ``radius`` is the ``quantile``-th percentile of the distances from each test code to its nearest
    training code: the codes of nearly all real images lie within it of a training code. ``fraction`` is
    the share of ``n_probe`` points drawn uniformly in the box between the 1st and 99th percentiles of the
    training codes (per coordinate) that lie farther than ``radius`` from every training code: codes the
    decoder never learned to decode. A k-d tree finds nearest neighbours without a table of all distances,
    so full MNIST (60,000 codes) takes a fraction of a second. With ``return_probe=True`` it returns
    ``(fraction, radius, probe, in_hole)``: the probe codes and which of them lie in a hole, to decode them.
    """
    from scipy.spatial import cKDTree

    train_codes = np.asarray(train_codes, dtype="float64")
    test_codes = np.asarray(test_codes, dtype="float64")
    if train_codes.ndim != 2 or test_codes.ndim != 2 or train_codes.shape[1] != test_codes.shape[1]:
        raise ValueError(f"codes must be (n, d) arrays with the same d, got {train_codes.shape} and {test_codes.shape}")
    if len(train_codes) < 2 or len(test_codes) == 0:
        raise ValueError("need at least two training codes and one test code")
    if not (np.all(np.isfinite(train_codes)) and np.all(np.isfinite(test_codes))):
        raise ValueError("codes contain NaN or infinity")
    tree = cKDTree(train_codes)
    radius = float(np.percentile(tree.query(test_codes)[0], quantile))
    low, high = np.percentile(train_codes, [1, 99], axis=0)
    probe = np.random.default_rng(seed).uniform(low, high, size=(n_probe, train_codes.shape[1]))
    in_hole = tree.query(probe)[0] > radius
    if return_probe:
        return float(np.mean(in_hole)), radius, probe, in_hole
    return float(np.mean(in_hole)), radius
