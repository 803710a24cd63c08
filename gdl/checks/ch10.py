"""Checks for the Chapter 10 exercises (``exercises/10_evaluation.ipynb``).

- ``check_frechet_distance(f)``: ``f(mu1, cov1, mu2, cov2)`` returns the Frechet distance between
  N(mu1, cov1) and N(mu2, cov2), |mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1^1/2 cov2 cov1^1/2)^1/2), one
  number, for d = 1, 2 and more, covariances that do not commute, and rank-deficient ones.
- ``check_mmd2_unbiased(f)``: ``f(f1, f2)`` returns the unbiased estimate of MMD^2 between feature sets
  (m, d) and (n, d) with the kernel k(a, b) = (a.b / d + 1)^3 (KID), for m != n.
- ``check_precision_recall(f)``: ``f(f_real, f_fake, k)`` returns ``(precision, recall)``: the share of
  fake points within the k-th-nearest-neighbour radius of some real point (radii among the real points,
  the point itself excluded), and the share of real points within the radius of some fake point; a point
  exactly on a radius is inside.
- ``check_memorised_share(f)``: ``f(samples, train, reference, quantile)`` returns the share of samples
  whose nearest training image is closer (strictly) than the ``quantile``-th percentile of the reference
  images' nearest-training distances (Euclidean, each image flattened); the check's images are binary, so
  that a sample exactly at the threshold is exactly at it however the distances are computed.

Every run tries one, two and several dimensions (or two image shapes), sets of different sizes, and the
boundary cases the text names.
"""

import numpy as np

from gdl.checks import as_array, fail, make_check, new_rng

# ----------------------------------------------------------------------------- frechet_distance


def _sqrt_psd(c):
    values, vectors = np.linalg.eigh((c + c.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _fd(mu1, cov1, mu2, cov2):
    s1 = _sqrt_psd(cov1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ cov2 @ s1), 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross)


def _random_cov(rng, d, rank=None):
    if rank is None:
        a = rng.normal(size=(d, d))
        return a @ a.T / d + 0.05 * np.eye(d)
    # rank-deficient as a sample covariance from few points is: its zero eigenvalues come out of
    # floating point slightly negative
    vectors = np.linalg.qr(rng.normal(size=(d, d)))[0]
    values = np.concatenate([rng.uniform(0.5, 2.0, rank), -rng.uniform(1e-14, 1e-13, d - rank)])
    return (vectors * values) @ vectors.T


def _scalar(out, call):
    value = as_array(out, call)
    if value.size != 1:
        fail(f"{call} should be one number, got shape {value.shape}.")
    value = float(value.reshape(()))
    if not np.isfinite(value):
        fail(f"{call} is {value}: for a rank-deficient covariance some eigenvalues come out "
             "slightly negative in floating point; clip them to 0 before the square root.")
    return value


def _fd_problems(rng):
    d = int(rng.integers(3, 7))
    out = [("2-D Gaussians whose covariances do not commute", rng.normal(size=2),
            _random_cov(rng, 2), rng.normal(size=2), _random_cov(rng, 2))]
    out.append(("1-D Gaussians", rng.normal(size=1), _random_cov(rng, 1), rng.normal(size=1),
                _random_cov(rng, 1)))
    out.append((f"{d}-D Gaussians", rng.normal(size=d), _random_cov(rng, d), rng.normal(size=d),
                _random_cov(rng, d)))
    out.append((f"{d}-D Gaussians with rank-deficient covariances (rank 2)", rng.normal(size=d),
                _random_cov(rng, d, rank=2), rng.normal(size=d), _random_cov(rng, d, rank=2)))
    return out


def _fd_diagnosis(value, mu1, cov1, mu2, cov2, where):
    mean_term = np.sum((mu1 - mu2) ** 2)
    traces = np.trace(cov1) + np.trace(cov2)
    ref = _fd(mu1, cov1, mu2, cov2)
    cross = (mean_term + traces - ref) / 2
    product_cross = np.trace(_sqrt_psd(cov1) @ _sqrt_psd(cov2))
    with np.errstate(invalid="ignore"):
        elementwise = np.nansum(np.sqrt(cov1 @ cov2).diagonal())
    d1, d2 = np.diag(cov1), np.diag(cov2)
    candidates = [
        (ref - mean_term, "The mean term |mu1 - mu2|^2 is missing."),
        (ref - mean_term + np.sqrt(mean_term), "Square the distance between the means: "
         "|mu1 - mu2|^2, not |mu1 - mu2|."),
        (mean_term + traces - cross, "The cross term is 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2): the "
         "factor 2 is missing."),
        (mean_term + traces + 2 * cross, "Subtract the cross term: + tr(cov1) + tr(cov2) - 2 tr(...)."),
        (np.sqrt(max(ref, 0)), "That is the 2-Wasserstein distance itself: return its square (no "
         "square root around the whole)."),
        (mean_term + traces - 2 * np.trace(cov1 @ cov2), "The cross term needs a matrix square root: "
         "tr((cov1^1/2 cov2 cov1^1/2)^1/2), not tr(cov1 cov2)."),
        (mean_term + traces - 2 * elementwise, "np.sqrt of a matrix takes the square root of each "
         "entry; the cross term needs the matrix square root (from an eigendecomposition)."),
        (mean_term + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2), "That formula uses only the variances "
         "(the diagonals): it holds for diagonal covariances only; the off-diagonal covariances "
         "matter too."),
    ]
    if not np.isclose(product_cross, cross, rtol=1e-4, atol=1e-6):
        candidates.append((mean_term + traces - 2 * product_cross, "tr(cov1^1/2 cov2^1/2) equals the "
                           "cross term only when the covariances commute: take the square root of "
                           "cov1^1/2 cov2 cov1^1/2 (or of cov1 cov2), not the product of the roots."))
    return [f"For {where}: {message}" for wrong, message in candidates
            if np.isclose(value, wrong, rtol=1e-4, atol=1e-6)
            and not np.isclose(wrong, ref, rtol=1e-4, atol=1e-6)]


def _named(named, possible):
    """Fail with the one mistake that explains a wrong value; where several do, keep those that explained
    every earlier problem too, and return them (the next problem may tell them apart)."""
    if len(named) == 1:
        fail(named[0])
    return named if possible is None else [m for m in possible if any(m.split(": ", 1)[-1] in n for n in named)]


def _test_frechet_distance(f):
    rng = new_rng()
    unexplained = possible = None
    for where, mu1, cov1, mu2, cov2 in _fd_problems(rng):
        d = len(mu1)
        call = f"frechet_distance(mu1, cov1, mu2, cov2) for {where}"
        try:
            out = f(mu1, cov1, mu2, cov2)
        except np.linalg.LinAlgError as err:
            fail(f"{call} raised LinAlgError ({err}): with rank-deficient covariances some eigenvalues "
                 "come out slightly negative in floating point and their square roots are NaN; clip them "
                 "to 0 before the square root.")
        value = _scalar(out, call)
        ref = _fd(mu1, cov1, mu2, cov2)
        # float32 is allowed: the square roots of near-zero eigenvalues amplify its rounding
        if not np.isclose(value, ref, rtol=1e-3, atol=1e-4):
            possible = _named(_fd_diagnosis(value, mu1, cov1, mu2, cov2, where), possible)
            unexplained = unexplained or f"{call} is {value:.6g}, expected {ref:.6g}."
            continue
        same = _scalar(f(mu1, cov1, mu1.copy(), cov1.copy()), f"frechet_distance for two identical "
                       f"{d}-D Gaussians")
        if abs(same) > 1e-3 * max(1.0, np.trace(cov1)):
            possible = _named(_fd_diagnosis(same, mu1, cov1, mu1.copy(), cov1.copy(),
                                            f"two identical {d}-D Gaussians"), possible)
            unexplained = unexplained or (f"Two identical {d}-D Gaussians are at distance {same:.3g}; "
                                          "it should be 0.")
    if unexplained:
        fail(possible[0] if possible else unexplained)
    # far apart in the mean, nothing else different: the mean term alone
    mu, cov = rng.normal(size=2), _random_cov(rng, 2)
    shift = np.array([40.0, -30.0])
    value = _scalar(f(mu, cov, mu + shift, cov), "frechet_distance for shifted Gaussians")
    if not np.isclose(value, 2500.0, rtol=1e-4):
        fail(f"Two Gaussians with the same covariance and means 50 apart should be at distance "
             f"2500 (= 50^2), got {value:.6g}.")


check_frechet_distance = make_check("frechet_distance", _test_frechet_distance, points=2)

# ----------------------------------------------------------------------------- mmd2_unbiased


def _kernel(a, b, d):
    return (a @ b.T / d + 1) ** 3


def _mmd2(f1, f2, kernel=_kernel, unbiased=True, d=None):
    d = f1.shape[1] if d is None else d
    m, n = len(f1), len(f2)
    k11, k22, k12 = kernel(f1, f1, d), kernel(f2, f2, d), kernel(f1, f2, d)
    if unbiased:
        return ((k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1))
                - 2 * k12.mean())
    return k11.mean() + k22.mean() - 2 * k12.mean()


def _test_mmd2_unbiased(f):
    rng = new_rng()
    for d in (1, 2, int(rng.integers(3, 9))):
        m, n = int(rng.integers(6, 12)), int(rng.integers(13, 20))  # m != n, both small: bias shows
        f1 = rng.normal(size=(m, d))
        f2 = rng.normal(0.6, 1.3, size=(n, d))
        call = f"mmd2_unbiased(f1, f2) for {m} and {n} points in {d}-D"
        value = _scalar(f(f1, f2), call)
        ref = _mmd2(f1, f2)
        k11, k22, k12 = _kernel(f1, f1, d), _kernel(f2, f2, d), _kernel(f1, f2, d)
        atol = 1e-5 * max(np.abs(k11).mean(), np.abs(k22).mean())  # float32 inputs are allowed
        if np.isclose(value, ref, rtol=1e-5, atol=atol):
            continue
        within = (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1))
        candidates = [
            (_mmd2(f1, f2, unbiased=False), "That is the plug-in (biased) estimate: leave out the "
             "diagonal terms k(x_i, x_i) and divide the within-set sums by m (m - 1) and n (n - 1)."),
            ((k11.sum() - np.trace(k11)) / m**2 + (k22.sum() - np.trace(k22)) / n**2 - 2 * k12.mean(),
             "With the diagonal left out there are m (m - 1) pairs, not m^2: divide by m (m - 1)."),
            (within - k12.mean(), "The cross term is -2 times the mean of k(x_i, y_j)."),
            (within + 2 * k12.mean(), "Subtract the cross term: ... - 2 mean k(x_i, y_j)."),
            (_mmd2(f1, f2, kernel=lambda a, b, _: (a @ b.T + 1) ** 3), "The kernel divides the dot "
             "product by the number of features d: (a.b / d + 1)^3."),
            (_mmd2(f1, f2, kernel=lambda a, b, dd: (a @ b.T / dd + 1) ** 2), "The kernel is cubic: "
             "(a.b / d + 1)^3."),
            (_mmd2(f1, f2, kernel=lambda a, b, dd: a @ b.T / dd), "Use the cubic kernel "
             "(a.b / d + 1)^3, not the plain dot product (which compares only the means)."),
            ((k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (m * (m - 1))
             - 2 * k12.mean(), "The two sets can have different sizes: divide the second within-set "
             "sum by n (n - 1), with n = len(f2)."),
            (within - 2 * (k12.sum() - np.trace(k12)) / (m * n - min(m, n)),
             "Every pair (x_i, y_j) counts in the cross term, i = j included: x_i and y_j are "
             "independent. Only the within-set terms drop the diagonal."),
        ]
        for wrong, message in candidates:
            if np.isclose(value, wrong, rtol=1e-5, atol=atol):
                fail(f"For {m} and {n} points in {d}-D: {message}")
        fail(f"{call} is {value:.6g}, expected {ref:.6g}.")


check_mmd2_unbiased = make_check("mmd2_unbiased", _test_mmd2_unbiased)

# ----------------------------------------------------------------------------- precision_recall


def _distances(a, b):
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def _radii(points, k):
    return np.sort(_distances(points, points), axis=1)[:, k]  # column 0: the point itself


def _inside(points, centres, radii):
    return (_distances(points, centres) <= radii[None]).any(axis=1)


def _pr(real, fake, k):
    return float(_inside(fake, real, _radii(real, k)).mean()), float(_inside(real, fake, _radii(fake, k)).mean())


def _pair(out, call):
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"{call} should return the pair (precision, recall).")
    return tuple(_scalar(v, call) for v in out)


def _pr_problems(rng):
    """Sets of different sizes in d = 1, 2 and more dimensions; the fake points partly off the real ones."""
    out = []
    for d in (1, 2, int(rng.integers(3, 6))):
        n_real, n_fake = int(rng.integers(20, 30)), int(rng.integers(31, 40))
        real = rng.normal(size=(n_real, d))
        fake = rng.normal(0.8, 0.8, size=(n_fake, d))  # covers part of the real points only
        out.append((real, fake, int(rng.integers(2, 5)), f"{n_real} real and {n_fake} fake points in {d}-D"))
    return out


def _boundary_problem():
    """A fake point exactly on a real point's radius, the only way it is inside (k = 1)."""
    real = np.array([[0.0, 0.0], [3.0, 4.0], [-20.0, 0.0], [-20.0, 7.0]])  # radii 5, 5, 7, 7
    # the first on 5 exactly; (10, 0) is 8.06 from (3, 4): outside, though inside the squared radius 25
    fake = np.array([[0.0, -5.0], [10.0, 0.0], [40.0, 1.0], [41.0, 0.0]])
    return real, fake, 1


def _test_precision_recall(f):
    rng = new_rng()
    unexplained = possible = None
    for real, fake, k, where in _pr_problems(rng):
        call = f"precision_recall(f_real, f_fake, k={k}) for {where}"
        got = _pair(f(real, fake, k), call)
        ref = _pr(real, fake, k)
        if np.allclose(got, ref, atol=1e-9):
            continue
        if np.allclose(got, ref[::-1], atol=1e-9):
            fail(f"For {where}: precision and recall are swapped. Precision is the share of FAKE points "
                 "inside the real manifold; recall the share of REAL points inside the fake manifold.")
        wrong = [
            (_pr(real, fake, k - 1), "The k-th nearest neighbour excludes the point itself: sorting a "
             "point's distances to its own set puts 0 (itself) first, so take index k, not k - 1."),
            (_pr(real, fake, k + 1), "The radius is the distance to the k-th nearest neighbour (index k "
             "after sorting, where index 0 is the point itself), not the (k + 1)-th."),
            ((float(_inside(fake, real, np.sort(_distances(real, fake), 1)[:, k - 1]).mean()),
              float(_inside(real, fake, np.sort(_distances(fake, real), 1)[:, k - 1]).mean())),
             "Each ball's radius comes from the point's neighbours in its OWN set (real radii among the "
             "real points), not from the other set."),
            ((float(_inside(fake, real, np.full(len(real), _radii(real, k).mean())).mean()),
              float(_inside(real, fake, np.full(len(fake), _radii(fake, k).mean())).mean())),
             "Each point has its own radius, the distance to ITS k-th nearest neighbour, not one "
             "radius for all."),
            ((float((_distances(fake, real) <= _radii(real, k)[None] ** 2).any(1).mean()),
              float((_distances(real, fake) <= _radii(fake, k)[None] ** 2).any(1).mean())),
             "Compare distances with radii in the same units (both plain or both squared)."),
            ((float((_distances(fake, real) <= _radii(real, k)[None]).all(1).mean()),
              float((_distances(real, fake) <= _radii(fake, k)[None]).all(1).mean())),
             "A point is inside the manifold when it is inside ANY one ball (np.any), not all of them."),
            ((float((_distances(fake, real) < _radii(real, k)[None]).any(1).mean()),
              float((_distances(real, fake) < _radii(fake, k)[None]).any(1).mean())),
             "A point exactly on a ball's edge (distance = radius) is inside: the balls are closed, "
             "use <=."),
            ((float(_inside(fake, real, _radii(real, k)).sum()), float(_inside(real, fake, _radii(fake, k)).sum())),
             "Return shares (a fraction of the points), not counts."),
        ]
        named = [message for values, message in wrong if np.allclose(got, values, atol=1e-9)]
        if len(named) == 1:  # two mistakes that agree here: the next problem tells
            fail(f"For {where}: {named[0]}")
        possible = named if possible is None else [m for m in possible if m in named]
        unexplained = unexplained or f"{call} is {got}, expected ({ref[0]:.6g}, {ref[1]:.6g})."
    if unexplained:
        fail(possible[0] if possible else unexplained)
    real, fake, k = _boundary_problem()
    got = _pair(f(real, fake, k), "precision_recall for a fake point exactly on a ball's edge")
    if np.isclose(got[0], 0.0):
        fail("A fake point exactly on a real point's radius (distance = radius) was counted outside: "
             "the balls are closed, use <=.")
    if np.isclose(got[0], _pr(real, fake, k + 1)[0]):
        fail("The radius is the distance to the k-th nearest neighbour (index k after sorting, where "
             "index 0 is the point itself), not the (k + 1)-th.")
    if not np.isclose(got[0], 0.25):
        fail(f"With the real points (0, 0), (3, 4), (-20, 0), (-20, 7), k = 1, only the fake point "
             f"(0, -5) is inside (on the edge of (0, 0)'s ball of radius 5): precision 0.25, got {got[0]:.6g}.")


check_precision_recall = make_check("precision_recall", _test_precision_recall, points=2)

# ----------------------------------------------------------------------------- memorised_share


def _nearest(x, train):
    return _distances(x.reshape(len(x), -1), train.reshape(len(train), -1)).min(axis=1)


def _mean_distance(x, train):
    return _distances(x.reshape(len(x), -1), train.reshape(len(train), -1)).mean(axis=1)


def _share(samples, train, reference, quantile):
    threshold = np.percentile(_nearest(reference, train), quantile)
    return float(np.mean(_nearest(samples, train) < threshold))


def _memorised_problem(rng, shape):
    """Binary train, reference and sample images of ``shape`` (squared distances are whole numbers, so
    every way of computing them agrees exactly); some samples are near-copies, and the ten reference
    images closest to the training set are samples too, the one exactly at the threshold among them."""
    n_ref, quantile = 21, 10.0  # the 10th percentile of 21 values is the 3rd smallest: no interpolation
    size = int(np.prod(shape))

    def flipped(images, rate):
        return np.abs(images - (rng.uniform(size=images.shape) < rate))

    train = (rng.uniform(size=(int(rng.integers(30, 40)), size)) < 0.3).astype("float64")
    while True:  # the smallest reference distances distinct: the percentiles around them differ
        reference = flipped(train[rng.integers(0, len(train), n_ref)],
                            rng.uniform(0.03, 0.35, size=(n_ref, 1)))
        if len(np.unique(np.sort(_nearest(reference, train))[:4])) == 4:
            break
    n_samples = int(rng.integers(60, 80))
    samples = (rng.uniform(size=(n_samples, size)) < 0.5).astype("float64")  # far from everything
    copies = rng.choice(n_samples, n_samples // 3, replace=False)
    samples[copies] = flipped(train[rng.integers(0, len(train), len(copies))], 0.01)
    alike = np.setdiff1d(np.arange(n_samples), copies)[: n_samples // 3]  # from near-copies to
    rates = rng.uniform(0.03, 0.25, size=(len(alike), 1))  # reference-like
    samples[alike] = flipped(train[rng.integers(0, len(train), len(alike))], rates)
    order = np.argsort(_nearest(reference, train))
    samples[-10:] = reference[order[:10]]  # a sample exactly at the threshold is not memorised
    return tuple(a.reshape((len(a), *shape)) for a in (samples, train, reference)) + (quantile,)


def _test_memorised_share(f):
    rng = new_rng()
    unexplained = possible = None
    for shape in ((8, 8), (int(rng.integers(80, 120)),), (10, 10)):
        samples, train, reference, quantile = _memorised_problem(rng, shape)
        where = (f"{len(samples)} samples of shape {shape}, {len(train)} training and {len(reference)} "
                 f"reference images, quantile={quantile:g}")
        call = f"memorised_share(samples, train, reference, quantile) for {where}"
        value = _scalar(f(samples, train, reference, quantile), call)
        ref = _share(samples, train, reference, quantile)
        if np.isclose(value, ref, atol=1e-9):
            continue
        d_samples, d_ref = _nearest(samples, train), _nearest(reference, train)
        threshold = np.percentile(d_ref, quantile)
        wrong = [
            (float(np.mean(d_samples <= threshold)), "A sample exactly at the threshold is not closer than "
             "it: use <, strictly."),
            (float(np.mean(d_samples < np.percentile(d_ref, 100 - quantile))), f"The threshold is the "
             f"{quantile:g}th percentile of the reference distances (the close end), not the "
             f"{100 - quantile:g}th."),
            (float(np.mean(d_samples < np.percentile(d_ref, quantile / 100))), "np.percentile takes a "
             "percentage (0 to 100): pass quantile itself, not quantile / 100."),
            (float(np.mean(_nearest(samples, reference) < threshold)), "Measure each sample's distance to "
             "its nearest TRAINING image: memorising means copying the training set."),
            (float(np.mean(d_samples < np.percentile(d_samples, quantile))), "The threshold comes from the "
             "REFERENCE images' distances to the training set, not from the samples'."),
            (float(np.mean(_mean_distance(samples, train)
                           < np.percentile(_mean_distance(reference, train), quantile))),
             "Use the distance to the NEAREST training image (the minimum), not the mean distance."),
            (float(np.sum(d_samples < threshold)), "Return the share of samples (a fraction), not a count."),
            (float(np.mean(d_ref < threshold)), "Return the share of the SAMPLES below the threshold."),
            (float(np.mean(d_samples < np.mean(d_ref))), "The threshold is a percentile of the reference "
             "distances (np.percentile(..., quantile)), not their mean."),
        ]
        named = [message for values, message in wrong if np.isclose(value, values, atol=1e-9)]
        if len(named) == 1:  # two mistakes that give the same share here: the next problem tells
            fail(f"For {where}: {named[0]}")
        possible = named if possible is None else [m for m in possible if m in named]
        unexplained = unexplained or f"{call} is {value:.6g}, expected {ref:.6g}."
    if unexplained:
        fail(possible[0] if possible else unexplained)


check_memorised_share = make_check("memorised_share", _test_memorised_share)
