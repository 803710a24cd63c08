"""gdl.metrics, sample-quality section: Frechet distance, KID, the course classifier, class and mode coverage."""

import numpy as np
import pytest
from scipy import linalg

from gdl import data, metrics


def random_cov(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


# ----------------------------------------------------------------------------------- Frechet distance


def test_frechet_distance_of_1d_gaussians_is_the_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    assert metrics.frechet_distance([1.0], [[4.0]], [-2.0], [[0.25]]) == pytest.approx(9 + 1.5**2)


def test_frechet_distance_of_diagonal_gaussians_is_the_closed_form():
    rng = np.random.default_rng(0)
    v1, v2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    m1, m2 = rng.standard_normal(5), rng.standard_normal(5)
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
    assert metrics.frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    rng = np.random.default_rng(1)
    d = 6
    m1, m2, c1, c2 = rng.standard_normal(d), rng.standard_normal(d), random_cov(rng, d), random_cov(rng, d)
    expected = np.sum((m1 - m2) ** 2) + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
    got = metrics.frechet_distance(m1, c1, m2, c2)
    assert got == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-9)
    assert metrics.frechet_distance(m2, c2, m1, c1) == pytest.approx(got, rel=1e-8)  # symmetric


def test_frechet_distance_of_samples_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    f1 = rng.normal(0.0, 1.0, size=(20_000, 3))
    f2 = rng.normal(0.5, 2.0, size=(20_000, 3))
    assert metrics.frechet_distance_features(f1, f2) == pytest.approx(3 * 0.25 + 3 * 1.0, rel=0.03)


@pytest.mark.parametrize("args, message", [
    (([0.0, 1.0], np.eye(2), [0.0], np.eye(2)), "mu2 must have shape (2,)"),
    (([0.0, 1.0], np.eye(3), [0.0, 1.0], np.eye(2)), "cov1 must have shape (2, 2)"),
    (([0.0, np.nan], np.eye(2), [0.0, 1.0], np.eye(2)), "mu1 contains NaN"),
])
def test_frechet_distance_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        metrics.frechet_distance(*args)


def test_feature_metrics_reject_nan_and_wrong_shapes():
    good = np.ones((10, 4))
    bad = good.copy()
    bad[3, 1] = np.nan
    for fn in (metrics.frechet_distance_features, metrics.kernel_mmd2, metrics.kid_features):
        with pytest.raises(ValueError, match="f2 contain NaN"):
            fn(good, bad)
        with pytest.raises(ValueError, match=r"f1 must have shape \(n, d\)"):
            fn(np.ones(10), good)
    with pytest.raises(ValueError, match="same number of features"):
        metrics.frechet_distance_features(good, np.ones((10, 5)))


# ----------------------------------------------------------------------------------- KID


def test_kernel_mmd2_is_unbiased_and_grows_with_the_shift():
    rng = np.random.default_rng(3)
    same = [metrics.kernel_mmd2(rng.standard_normal((200, 4)), rng.standard_normal((200, 4))) for _ in range(50)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(50)  # unbiased: zero on average, both signs occur
    assert min(same) < 0 < max(same)
    x = rng.standard_normal((200, 4))
    shifts = [metrics.kernel_mmd2(x, rng.standard_normal((200, 4)) + s) for s in (0.5, 1.0, 2.0)]
    assert shifts[0] < shifts[1] < shifts[2]


def test_kernel_mmd2_matches_a_direct_double_loop():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((5, 3)) + 1

    def k(u, v):
        return (u @ v / 3 + 1) ** 3

    kaa = sum(k(a[i], a[j]) for i in range(6) for j in range(6) if i != j) / 30
    kbb = sum(k(b[i], b[j]) for i in range(5) for j in range(5) if i != j) / 20
    kab = sum(k(a[i], b[j]) for i in range(6) for j in range(5)) / 30
    assert metrics.kernel_mmd2(a, b) == pytest.approx(kaa + kbb - 2 * kab, rel=1e-10)


# ----------------------------------------------------------------------------------- coverage


def test_coverage_from_labels_counts_classes_and_evenness():
    uniform = metrics.coverage_from_labels(np.arange(1000) % 10, 10)
    assert uniform["covered"] == 10 and uniform["evenness"] == pytest.approx(1.0)
    collapsed = metrics.coverage_from_labels(np.full(500, 3), 10)
    assert collapsed["covered"] == 1 and collapsed["evenness"] == pytest.approx(0.0)
    assert collapsed["largest_share"] == 1.0 and collapsed["counts"][3] == 500
    # 2 of 1,000 samples are a 0.2 % share: below a fifth of the fair share (2 %), so not covered.
    labels = np.concatenate([np.arange(990) % 9, [9, 9]])
    assert metrics.coverage_from_labels(labels, 10)["covered"] == 9
    with pytest.raises(ValueError, match="0..9"):
        metrics.coverage_from_labels([0, 10], 10)
    with pytest.raises(ValueError, match="integers"):
        metrics.coverage_from_labels([0.5, 1], 10)


def test_mode_coverage_on_the_ring():
    means = data.ring_means()
    x, _ = data.gaussian_mixture(4000, std=0.05)
    # In 2-D, P(|x - mu| < 3 sigma) = 1 - exp(-9/2) = 0.989 for a Gaussian sample.
    assert metrics.mode_coverage(x, means, 0.05) == (8, pytest.approx(1 - np.exp(-4.5), abs=0.006))
    collapsed = means[2] + 0.05 * np.random.default_rng(0).standard_normal((1000, 2))
    assert metrics.mode_coverage(collapsed, means, 0.05)[0] == 1
    assert metrics.mode_coverage(np.zeros((100, 2)), means, 0.05) == (0, 0.0)
    with pytest.raises(ValueError, match="samples contain NaN"):
        metrics.mode_coverage(np.full((3, 2), np.nan), means, 0.05)
    with pytest.raises(ValueError, match=r"samples must have shape \(n, 2\)"):
        metrics.mode_coverage(np.zeros((3, 3)), means, 0.05)


def test_nearest_mode_shares_count_every_sample_once():
    means = data.ring_means()
    x, _ = data.gaussian_mixture(4000, std=0.05)
    np.testing.assert_allclose(metrics.nearest_mode_shares(x, means), np.full(8, 1 / 8), atol=0.03)
    # Far off the ring a sample still counts for its nearest mode (no 3-sigma rule here).
    far = 10 * means[[2, 2, 2, 5]]
    np.testing.assert_allclose(metrics.nearest_mode_shares(far, means), np.eye(8)[[2, 5]].T @ [0.75, 0.25])
    with pytest.raises(ValueError, match="samples contain NaN"):
        metrics.nearest_mode_shares(np.array([[np.nan, 0.0]]), means)


# ----------------------------------------------------------------------------------- the course classifier


@pytest.fixture(scope="module")
def mnist():
    return data.mnist()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, mnist):
    mp = pytest.MonkeyPatch()
    mp.setenv(metrics.CACHE_VAR, str(tmp_path_factory.mktemp("gdl_cache")))
    yield metrics.mnist_classifier(n_train=2000, epochs=3)
    mp.undo()


def test_classifier_is_cached_and_deterministic(classifier, mnist, tmp_path, monkeypatch, capsys):
    x = mnist[1][0][:200]
    features = metrics.classifier_features(x, classifier)
    assert features.shape == (200, 64)
    # Loaded from the cache: the same model.
    again = metrics.mnist_classifier(n_train=2000, epochs=3)
    assert "loaded from" in capsys.readouterr().out
    np.testing.assert_allclose(metrics.classifier_features(x, again), features, rtol=1e-5, atol=1e-5)
    # Trained afresh in an empty cache: the same recipe gives the same model.
    monkeypatch.setenv(metrics.CACHE_VAR, str(tmp_path))
    fresh = metrics.mnist_classifier(n_train=2000, epochs=3)
    assert "trained on 2,000 images" in capsys.readouterr().out
    assert list(tmp_path.glob("*.keras")), "the classifier was not saved in $GDL_CACHE"
    np.testing.assert_allclose(metrics.classifier_features(x, fresh), features, rtol=1e-3, atol=1e-3)


def test_a_cached_classifier_that_cannot_be_loaded_is_trained_again(tmp_path, monkeypatch, capsys):
    """Another Keras version's file (or a damaged one) under our name: retrained, never a crash."""
    import keras

    monkeypatch.setenv(metrics.CACHE_VAR, str(tmp_path))
    metrics.mnist_classifier(n_train=200, epochs=1, verbose=False)
    (path,) = tmp_path.glob("*.keras")
    assert f"keras{keras.__version__}" in path.name  # one file per Keras version: they do not share a cache
    path.write_bytes(b"saved by some other Keras")
    model = metrics.mnist_classifier(n_train=200, epochs=1, verbose=False)
    assert "could not be loaded" in capsys.readouterr().out
    assert model.output_shape == (None, 10)
    keras.models.load_model(path)  # replaced by a loadable model


def test_fid_floor_is_small_and_noise_is_large(classifier, mnist):
    (x_train, _), (x_test, _) = mnist
    floor = metrics.fid(x_train[:1000], x_test, classifier)
    noise = metrics.fid(np.random.default_rng(0).uniform(0, 1, (1000, 28, 28)), x_test, classifier)
    one_digit = metrics.fid(x_test[mnist[1][1] == 1], x_test, classifier)
    assert 0 <= floor < 0.05 * noise and floor < 0.05 * one_digit
    kid_floor, _ = metrics.kid(x_train[:1000], x_test, classifier)
    kid_noise, _ = metrics.kid(np.random.default_rng(0).uniform(0, 1, (1000, 28, 28)), x_test, classifier)
    assert kid_floor < 0.05 * kid_noise


def test_class_coverage_of_real_and_collapsed_digits(classifier, mnist):
    x_test, y_test = mnist[1]
    assert metrics.class_coverage(x_test, classifier)["covered"] == 10
    sevens = metrics.class_coverage(x_test[y_test == 7], classifier)
    assert sevens["covered"] < 10 and sevens["largest_share"] > 0.8 and sevens["evenness"] < 0.3


def test_image_metrics_reject_bad_images(classifier, mnist):
    x = mnist[1][0][:20]
    with pytest.raises(ValueError, match="NaN"):
        metrics.fid(np.where(x > 0.5, np.nan, x), x, classifier)
    with pytest.raises(ValueError, match=r"must have shape \(n, 28, 28\)"):
        metrics.class_coverage(x[:, :14], classifier)
    with pytest.raises(ValueError, match=r"pass \(x \+ 1\) / 2"):
        metrics.kid(x * 2 - 1, x, classifier)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        metrics.fid(x * 255, x, classifier)


# ------------------------------------------------------------------ confident rate, memorisation, the report


def test_confident_rate_is_high_for_digits_and_low_for_noise(classifier, mnist):
    x_test = mnist[1][0][:500]
    noise = np.random.default_rng(1).uniform(0, 1, (500, 28, 28))
    real = metrics.confident_rate(x_test, classifier)
    # (the test classifier is small: 2,000 digits, 3 epochs; the course one reads about 0.95 of real digits)
    assert real > 0.5 and metrics.confident_rate(noise, classifier) < 0.5 * real
    # It is the share whose largest softmax probability reaches the threshold.
    logits = np.asarray(classifier(x_test[..., None], training=False), "float64")
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert metrics.confident_rate(x_test, classifier, threshold=0.6) == pytest.approx(np.mean(p.max(1) >= 0.6))
    with pytest.raises(ValueError, match="threshold"):
        metrics.confident_rate(x_test, classifier, threshold=1.0)


def test_nearest_distances_match_brute_force(mnist):
    x_train, x_test = mnist[0][0][:300], mnist[1][0][:70]
    brute = np.sqrt(((x_test.reshape(70, 1, -1).astype("float64") - x_train.reshape(1, 300, -1)) ** 2).sum(-1))
    np.testing.assert_allclose(metrics.nearest_distances(x_test, x_train, batch_size=32), brute.min(1), atol=1e-6)
    assert np.allclose(metrics.nearest_distances(x_train[:10], x_train), 0, atol=1e-5)
    distances, index = metrics.nearest_distances(x_test, x_train, batch_size=32, return_index=True)
    np.testing.assert_array_equal(index, brute.argmin(1))
    np.testing.assert_allclose(distances, brute.min(1), atol=1e-6)


def test_memorised_fraction_flags_copies_and_not_new_digits(mnist):
    (x_train, _), (x_test, _) = mnist
    train, reference, fresh = x_train[:2000], x_test[:300], x_test[300:600]
    new_digits, threshold = metrics.memorised_fraction(fresh, train, reference)
    assert threshold > 0 and new_digits < 0.15  # other held-out digits: about 5 %
    noisy_copies = np.clip(train[:300] + np.random.default_rng(0).normal(0, 0.01, train[:300].shape), 0, 1)
    assert metrics.memorised_fraction(noisy_copies, train, reference)[0] > 0.95
    with pytest.raises(ValueError, match="quantile"):
        metrics.memorised_fraction(fresh, train, reference, quantile=0)


def test_sample_quality_separates_real_digits_from_copies_and_collapse(classifier, mnist):
    (x_train, _), (x_test, y_test) = mnist
    reference, train = x_test[:500], x_train[:2000]
    real = metrics.sample_quality(x_test[500:1000], reference, train, classifier)
    copies = metrics.sample_quality(train[:500], reference, train, classifier)
    ones = metrics.sample_quality(x_test[y_test == 1][:200], reference, train, classifier, kid_subset=200)
    assert real["n"] == 500 and real["classes"] == 10 and real["memorised"] < 0.15
    assert copies["memorised"] == 1.0 and copies["fid"] < 0.2 * ones["fid"]  # copies look real: only memorised tells
    assert ones["classes"] < 3 and ones["kid"] > 10 * max(real["kid"], 1e-4)
    assert real["kid_std"] > 0  # subsets of half the images: they differ, so the spread is informative
    table = metrics.quality_table({"real digits": real, "copies": copies})
    assert table.count("\n") == 2 and "copies" in table and "10/10" in table


# ----------------------------------------------------------------------------------- precision and recall


def test_precision_and_recall_of_a_hand_computed_1d_case():
    # k = 1. Real radii: 0 -> 1, 1 -> 1, 2 -> 1, 10 -> 8; samples 0.5 (in 0's ball), 5 and 3.5 (in 10's ball),
    # 20 (outside): precision 3/4. Sample radii: 0.5 -> 3, 3.5 -> 1.5, 5 -> 1.5, 20 -> 15; real 0, 1, 2 lie
    # in 0.5's ball and 10 in 20's: recall 1.
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [5.0], [20.0], [3.5]])
    assert metrics.precision_recall_features(fake, real, k=1) == (0.75, 1.0)
    # with k = 2 the real radii grow to 2, 1, 2, 9: 20 is still outside, the others inside
    assert metrics.precision_recall_features(fake, real, k=2)[0] == 0.75


def test_a_point_exactly_on_a_radius_is_inside():
    real = np.array([[0.0, 0.0], [5.0, 0.0], [-100.0, 0.0]])  # radii 5, 5 and 100
    fake = np.array([[0.0, 5.0], [0.0, 5.0001], [0.0, -50.0]])  # on the first ball's edge, just off, far
    precision, _ = metrics.precision_recall_features(fake, real, k=1)
    assert precision == pytest.approx(1 / 3)


def test_precision_and_recall_match_a_loop_and_see_a_collapsed_model():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((60, 3))
    fake = rng.standard_normal((50, 3)) * 0.3  # a model that covers only the centre
    k = 3

    def loop(points, centres):
        radii = [sorted(np.linalg.norm(centres - c, axis=1))[k] for c in centres]  # [0] is itself
        return np.mean([any(np.linalg.norm(p - c) <= r for c, r in zip(centres, radii)) for p in points])

    precision, recall = metrics.precision_recall_features(fake, real, k=k)
    assert precision == pytest.approx(loop(fake, real)) and recall == pytest.approx(loop(real, fake))
    assert precision > 0.9 and recall < 0.5
    assert metrics.precision_recall_features(real, real, k=k) == (1.0, 1.0)


@pytest.mark.parametrize("fake, real, k, message", [
    (np.zeros((5, 2)), np.zeros((5, 3)), 3, "same number of features"),
    (np.zeros((3, 2)), np.zeros((5, 2)), 3, "more than k"),
    (np.zeros((5, 2)), np.zeros((5, 2)), 0, "positive integer"),
])
def test_precision_recall_refuses_bad_input(fake, real, k, message):
    with pytest.raises(ValueError, match=message):
        metrics.precision_recall_features(fake, real, k=k)
