"""Chapter 10 checks: correct solutions written differently pass; learners' mistakes fail with a specific message.

CHECKS, REFERENCES and WRONG follow the convention of every tests/test_checks_chNN.py: the exercise's check,
its correct implementations, and (wrong implementation, a fragment of the message it must get).
"""

import numpy as np
import pytest
from conftest import assert_fails_with, assert_references_pass_and_stub_is_incomplete
from keras import ops
from scipy import linalg

from gdl.checks import ch10

# ----------------------------------------------------------------------------- frechet_distance


def sqrt_psd(c):
    values, vectors = np.linalg.eigh(c)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T


def fd_eigh(mu1, cov1, mu2, cov2):
    """The symmetric route: eigendecompositions and clipped eigenvalues."""
    s1 = sqrt_psd(cov1)
    cross = np.trace(sqrt_psd(s1 @ cov2 @ s1))
    return np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross


def fd_scipy(mu1, cov1, mu2, cov2):
    """scipy's sqrtm of the non-symmetric product, real part, as many FID implementations write it."""
    covmean = linalg.sqrtm(np.atleast_2d(cov1) @ np.atleast_2d(cov2))
    return float(np.sum((np.asarray(mu1) - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * np.real(covmean)))


def fd_float32_ops(mu1, cov1, mu2, cov2):
    """keras.ops in float32, the cross term from the eigenvalues of cov1^1/2 cov2 cov1^1/2."""
    c1, c2 = ops.convert_to_tensor(cov1, "float32"), ops.convert_to_tensor(cov2, "float32")
    values, vectors = ops.eigh(c1)
    s1 = vectors @ ops.diag(ops.sqrt(ops.maximum(values, 0.0))) @ ops.transpose(vectors)
    middle = s1 @ c2 @ s1
    cross = ops.sum(ops.sqrt(ops.maximum(ops.eigh((middle + ops.transpose(middle)) / 2)[0], 0.0)))
    mean = ops.sum((ops.convert_to_tensor(mu1, "float32") - ops.convert_to_tensor(mu2, "float32")) ** 2)
    return float(mean + ops.trace(c1) + ops.trace(c2) - 2 * cross)


def fd_unclipped(mu1, cov1, mu2, cov2):  # sqrt of slightly negative eigenvalues: NaN
    values, vectors = np.linalg.eigh(cov1)
    s1 = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    cross = np.sum(np.sqrt(np.linalg.eigvalsh(s1 @ cov2 @ s1)))
    return np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross


def fd_no_mean(mu1, cov1, mu2, cov2):
    return fd_eigh(mu1, cov1, mu2, cov2) - np.sum((mu1 - mu2) ** 2)


def fd_mean_not_squared(mu1, cov1, mu2, cov2):
    return fd_no_mean(mu1, cov1, mu2, cov2) + np.linalg.norm(mu1 - mu2)


def fd_no_factor_two(mu1, cov1, mu2, cov2):
    s1 = sqrt_psd(cov1)
    return np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - np.trace(sqrt_psd(s1 @ cov2 @ s1))


def fd_plus_cross(mu1, cov1, mu2, cov2):
    s1 = sqrt_psd(cov1)
    return np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) + 2 * np.trace(sqrt_psd(s1 @ cov2 @ s1))


def fd_w2_not_squared(mu1, cov1, mu2, cov2):
    return np.sqrt(max(fd_eigh(mu1, cov1, mu2, cov2), 0.0))


def fd_no_root(mu1, cov1, mu2, cov2):
    return np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(cov1 @ cov2)


def fd_elementwise_sqrt(mu1, cov1, mu2, cov2):
    with np.errstate(invalid="ignore"):
        cross = np.nansum(np.diag(np.sqrt(cov1 @ cov2)))
    return np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross


def fd_diagonal(mu1, cov1, mu2, cov2):
    return np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(np.diag(cov1)) - np.sqrt(np.diag(cov2))) ** 2)


def fd_product_of_roots(mu1, cov1, mu2, cov2):  # right only when the covariances commute
    return (np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2)
            - 2 * np.trace(sqrt_psd(cov1) @ sqrt_psd(cov2)))


def fd_per_coordinate_vector(mu1, cov1, mu2, cov2):  # one number per coordinate
    return (mu1 - mu2) ** 2 + np.diag(cov1) + np.diag(cov2)


FD_WRONG = [
    (fd_unclipped, "clip them to 0"),
    (fd_no_mean, "mean term"),
    (fd_mean_not_squared, "Square the distance between the means"),
    (fd_no_factor_two, "factor 2"),
    (fd_plus_cross, "Subtract the cross term"),
    (fd_w2_not_squared, "return its square"),
    (fd_no_root, "matrix square root"),
    (fd_elementwise_sqrt, "each entry"),
    (fd_diagonal, "diagonal covariances only"),
    (fd_product_of_roots, "commute"),
    (fd_per_coordinate_vector, "one number"),
]


# ----------------------------------------------------------------------------- mmd2_unbiased


def k(a, b):
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_vectorised(f1, f2):
    m, n = len(f1), len(f2)
    k11, k22 = k(f1, f1), k(f2, f2)
    return ((k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1))
            - 2 * k(f1, f2).mean())


def mmd2_loops(f1, f2):
    """Pairs of different points by loops, float32 inputs."""
    f1, f2 = np.asarray(f1, "float32").astype("float64"), np.asarray(f2, "float32").astype("float64")
    d = f1.shape[1]

    def kern(a, b):
        return (a @ b / d + 1) ** 3

    def within(f):
        pairs = [kern(f[i], f[j]) for i in range(len(f)) for j in range(len(f)) if i != j]
        return sum(pairs) / len(pairs)

    cross = sum(kern(a, b) for a in f1 for b in f2) / (len(f1) * len(f2))
    return within(f1) + within(f2) - 2 * cross


def mmd2_ops(f1, f2):
    a, b = ops.convert_to_tensor(f1, "float64"), ops.convert_to_tensor(f2, "float64")
    d = ops.cast(ops.shape(a)[1], "float64")
    m, n = ops.cast(ops.shape(a)[0], "float64"), ops.cast(ops.shape(b)[0], "float64")
    kaa, kbb = (a @ ops.transpose(a) / d + 1) ** 3, (b @ ops.transpose(b) / d + 1) ** 3
    kab = (a @ ops.transpose(b) / d + 1) ** 3
    within = (ops.sum(kaa) - ops.trace(kaa)) / (m * (m - 1)) + (ops.sum(kbb) - ops.trace(kbb)) / (n * (n - 1))
    return within - 2 * ops.mean(kab)


def mmd2_biased(f1, f2):
    return k(f1, f1).mean() + k(f2, f2).mean() - 2 * k(f1, f2).mean()


def mmd2_squares(f1, f2):
    m, n = len(f1), len(f2)
    k11, k22 = k(f1, f1), k(f2, f2)
    return (k11.sum() - np.trace(k11)) / m**2 + (k22.sum() - np.trace(k22)) / n**2 - 2 * k(f1, f2).mean()


def mmd2_no_two(f1, f2):
    return mmd2_vectorised(f1, f2) + k(f1, f2).mean()


def mmd2_plus(f1, f2):
    return mmd2_vectorised(f1, f2) + 4 * k(f1, f2).mean()


def mmd2_no_d(f1, f2):
    m, n = len(f1), len(f2)
    k11, k22, k12 = (f1 @ f1.T + 1) ** 3, (f2 @ f2.T + 1) ** 3, (f1 @ f2.T + 1) ** 3
    return (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1)) - 2 * k12.mean()


def mmd2_quadratic(f1, f2):
    d, m, n = f1.shape[1], len(f1), len(f2)
    k11, k22, k12 = (f1 @ f1.T / d + 1) ** 2, (f2 @ f2.T / d + 1) ** 2, (f1 @ f2.T / d + 1) ** 2
    return (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1)) - 2 * k12.mean()


def mmd2_linear(f1, f2):
    d, m, n = f1.shape[1], len(f1), len(f2)
    k11, k22, k12 = f1 @ f1.T / d, f2 @ f2.T / d, f1 @ f2.T / d
    return (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1)) - 2 * k12.mean()


def mmd2_same_m(f1, f2):  # the first set's size used for both
    m = len(f1)
    k11, k22 = k(f1, f1), k(f2, f2)
    within = (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (m * (m - 1))
    return within - 2 * k(f1, f2).mean()


def mmd2_cross_diagonal(f1, f2):  # drops the i = j terms of the cross sum too
    m, n = len(f1), len(f2)
    k11, k22, k12 = k(f1, f1), k(f2, f2), k(f1, f2)
    within = (k11.sum() - np.trace(k11)) / (m * (m - 1)) + (k22.sum() - np.trace(k22)) / (n * (n - 1))
    return within - 2 * (k12.sum() - np.trace(k12)) / (m * n - min(m, n))


def mmd2_per_row(f1, f2):  # no final reduction
    return k(f1, f1).mean(1)[: min(len(f1), len(f2))] - k(f1, f2).mean(1)[: min(len(f1), len(f2))]


MMD_WRONG = [
    (mmd2_biased, "plug-in (biased)"),
    (mmd2_squares, "not m^2"),
    (mmd2_no_two, "-2 times the mean"),
    (mmd2_plus, "Subtract the cross term"),
    (mmd2_no_d, "number of features d"),
    (mmd2_quadratic, "The kernel is cubic"),
    (mmd2_linear, "plain dot product"),
    (mmd2_same_m, "different sizes"),
    (mmd2_cross_diagonal, "i = j included"),
    (mmd2_per_row, "one number"),
]


# ----------------------------------------------------------------------------- precision_recall


def dist(a, b):
    return np.linalg.norm(a[:, None] - b[None], axis=-1)


def pr_vectorised(f_real, f_fake, k):
    def manifold(points, centres):
        radii = np.sort(dist(centres, centres), axis=1)[:, k]
        return np.mean(np.any(dist(points, centres) <= radii, axis=1))

    return manifold(f_fake, f_real), manifold(f_real, f_fake)


def pr_loops(f_real, f_fake, k):
    """Loops, squared distances compared with squared radii, the point itself removed explicitly."""
    f_real, f_fake = np.asarray(f_real, "float64"), np.asarray(f_fake, "float64")

    def radius(points, i):
        others = [np.sum((points[i] - points[j]) ** 2) for j in range(len(points)) if j != i]
        return sorted(others)[k - 1]

    def share(points, centres):
        r2 = [radius(centres, i) for i in range(len(centres))]
        inside = [any(np.sum((p - c) ** 2) <= r for c, r in zip(centres, r2)) for p in points]
        return sum(inside) / len(points)

    return share(f_fake, f_real), share(f_real, f_fake)


def pr_expansion(f_real, f_fake, k):
    """Distances from |a|^2 + |b|^2 - 2 a.b, as the solutions notebook computes them."""
    def distances(a, b):
        return np.sqrt(np.clip((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T, 0, None))

    def share(points, centres):
        radii = np.sort(distances(centres, centres), axis=1)[:, k]
        return float(np.mean(np.any(distances(points, centres) <= radii[None], axis=1)))

    return share(f_fake, f_real), share(f_real, f_fake)


def pr_swapped(f_real, f_fake, k):
    return pr_vectorised(f_real, f_fake, k)[::-1]


def pr_self_counted(f_real, f_fake, k):
    return pr_vectorised(f_real, f_fake, k - 1) if k > 1 else (0.0, 0.0)


def pr_k_plus_one(f_real, f_fake, k):
    return pr_vectorised(f_real, f_fake, k + 1)


def pr_strict(f_real, f_fake, k):
    def manifold(points, centres):
        radii = np.sort(dist(centres, centres), axis=1)[:, k]
        return np.mean(np.any(dist(points, centres) < radii, axis=1))

    return manifold(f_fake, f_real), manifold(f_real, f_fake)


def pr_cross_radii(f_real, f_fake, k):  # radii from the other set
    def manifold(points, centres):
        radii = np.sort(dist(centres, points), axis=1)[:, k - 1]
        return np.mean(np.any(dist(points, centres) <= radii, axis=1))

    return manifold(f_fake, f_real), manifold(f_real, f_fake)


def pr_mean_radius(f_real, f_fake, k):
    def manifold(points, centres):
        radius = np.sort(dist(centres, centres), axis=1)[:, k].mean()
        return np.mean(np.any(dist(points, centres) <= radius, axis=1))

    return manifold(f_fake, f_real), manifold(f_real, f_fake)


def pr_squared_vs_plain(f_real, f_fake, k):
    def manifold(points, centres):
        radii = np.sort(dist(centres, centres), axis=1)[:, k]
        return np.mean(np.any(dist(points, centres) <= radii**2, axis=1))

    return manifold(f_fake, f_real), manifold(f_real, f_fake)


def pr_all_balls(f_real, f_fake, k):
    def manifold(points, centres):
        radii = np.sort(dist(centres, centres), axis=1)[:, k]
        return np.mean(np.all(dist(points, centres) <= radii, axis=1))

    return manifold(f_fake, f_real), manifold(f_real, f_fake)


def pr_counts(f_real, f_fake, k):
    p, r = pr_vectorised(f_real, f_fake, k)
    return p * len(f_fake), r * len(f_real)


def pr_one_number(f_real, f_fake, k):
    return np.mean(pr_vectorised(f_real, f_fake, k))


PR_WRONG = [
    (pr_swapped, "swapped"),
    (pr_self_counted, "excludes the point itself"),
    (pr_k_plus_one, "not the (k + 1)-th"),
    (pr_strict, "use <="),
    (pr_cross_radii, "OWN set"),
    (pr_mean_radius, "its own radius"),
    (pr_squared_vs_plain, "same units"),
    (pr_all_balls, "ANY one ball"),
    (pr_counts, "not counts"),
    (pr_one_number, "the pair (precision, recall)"),
]


# ----------------------------------------------------------------------------- memorised_share


def nearest(x, train):
    x, train = x.reshape(len(x), -1), train.reshape(len(train), -1)
    return dist(x, train).min(axis=1)


def memorised_vectorised(samples, train, reference, quantile):
    threshold = np.percentile(nearest(reference, train), quantile)
    return np.mean(nearest(samples, train) < threshold)


def memorised_squared_loop(samples, train, reference, quantile):
    """Squared distances in a loop over the images (the same order, so the same share), float32 copies."""
    flat_train = np.asarray(train, "float64").reshape(len(train), -1)

    def nearest_sq(images):
        return np.array([np.min(np.sum((flat_train - np.ravel(x)) ** 2, axis=1)) for x in images])

    threshold = np.percentile(nearest_sq(reference), quantile)
    below = [d < threshold for d in nearest_sq(samples)]
    return sum(below) / len(below)


def memorised_expansion(samples, train, reference, quantile):
    """Distances from |x|^2 + |t|^2 - 2 x.t in one matrix product, as the solutions notebook computes them."""
    t = np.asarray(train, "float64").reshape(len(train), -1)

    def nearest_expansion(images):
        x = np.asarray(images, "float64").reshape(len(images), -1)
        return np.sqrt(np.clip((x**2).sum(1)[:, None] + (t**2).sum(1)[None] - 2 * x @ t.T, 0, None)).min(1)

    return np.mean(nearest_expansion(samples) < np.percentile(nearest_expansion(reference), quantile))


def memorised_le(samples, train, reference, quantile):
    return np.mean(nearest(samples, train) <= np.percentile(nearest(reference, train), quantile))


def memorised_upper(samples, train, reference, quantile):
    return np.mean(nearest(samples, train) < np.percentile(nearest(reference, train), 100 - quantile))


def memorised_fraction_quantile(samples, train, reference, quantile):
    return np.mean(nearest(samples, train) < np.percentile(nearest(reference, train), quantile / 100))


def memorised_threshold_from_samples(samples, train, reference, quantile):
    return np.mean(nearest(samples, train) < np.percentile(nearest(samples, train), quantile))


def memorised_to_reference(samples, train, reference, quantile):
    return np.mean(nearest(samples, reference) < np.percentile(nearest(reference, train), quantile))


def memorised_mean_distance(samples, train, reference, quantile):
    def mean_d(x):
        return dist(x.reshape(len(x), -1), train.reshape(len(train), -1)).mean(axis=1)

    return np.mean(mean_d(samples) < np.percentile(mean_d(reference), quantile))


def memorised_count(samples, train, reference, quantile):
    return np.sum(nearest(samples, train) < np.percentile(nearest(reference, train), quantile))


def memorised_reference_share(samples, train, reference, quantile):
    d_ref = nearest(reference, train)
    return np.mean(d_ref < np.percentile(d_ref, quantile))


def memorised_mean_threshold(samples, train, reference, quantile):
    return np.mean(nearest(samples, train) < np.mean(nearest(reference, train)))


MEMORISED_WRONG = [
    (memorised_le, "strictly"),
    (memorised_upper, "the close end"),
    (memorised_fraction_quantile, "not quantile / 100"),
    (memorised_threshold_from_samples, "REFERENCE images' distances"),
    (memorised_to_reference, "nearest TRAINING image"),
    (memorised_mean_distance, "not the mean distance"),
    (memorised_count, "not a count"),
    (memorised_reference_share, "share of the SAMPLES"),
    (memorised_mean_threshold, "not their mean"),
]

CHECKS = {
    "frechet_distance": ch10.check_frechet_distance,
    "mmd2_unbiased": ch10.check_mmd2_unbiased,
    "precision_recall": ch10.check_precision_recall,
    "memorised_share": ch10.check_memorised_share,
}

REFERENCES = {
    "frechet_distance": [fd_eigh, fd_scipy, fd_float32_ops],
    "mmd2_unbiased": [mmd2_vectorised, mmd2_loops, mmd2_ops],
    "precision_recall": [pr_vectorised, pr_loops, pr_expansion],
    "memorised_share": [memorised_vectorised, memorised_squared_loop, memorised_expansion],
}

WRONG = {
    "frechet_distance": FD_WRONG,
    "mmd2_unbiased": MMD_WRONG,
    "precision_recall": PR_WRONG,
    "memorised_share": MEMORISED_WRONG,
}


@pytest.mark.parametrize("name", CHECKS)
def test_references_pass_and_stub_is_incomplete(name):
    assert_references_pass_and_stub_is_incomplete(CHECKS[name], *REFERENCES[name])


@pytest.mark.parametrize("name, wrong, message", [(n, w, m) for n in CHECKS for w, m in WRONG[n]],
                         ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_mistakes_are_named(name, wrong, message):
    assert_fails_with(CHECKS[name], wrong, message)


def test_the_boundary_sample_sits_exactly_on_the_threshold():
    problem = ch10._memorised_problem(np.random.default_rng(3), (8, 8))
    samples, train, reference, quantile = problem
    threshold = np.percentile(ch10._nearest(reference, train), quantile)
    assert threshold in ch10._nearest(samples, train)
    assert 0.1 < memorised_vectorised(*problem) < 0.9  # copies and non-copies both present
