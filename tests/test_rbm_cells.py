"""Chapter 8's model-definition cells against exact answers on RBMs small enough to enumerate."""

import itertools

import numpy as np
import pytest
from conftest import ROOT, model_cells
from scipy.special import logsumexp
from scipy.stats import chisquare

CHAPTER = ROOT / "chapters" / "08_energy.ipynb"


@pytest.fixture(scope="module")
def ns():
    return model_cells.load(CHAPTER)


def tiny_rbm(d_v, d_h, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, scale, (d_v, d_h)), rng.normal(0, 1, d_v), rng.normal(0, 1, d_h)


def states(d):
    return np.array(list(itertools.product([0.0, 1.0], repeat=d)))


def exact_log_joint(W, b, c):
    """log p(v, h) over all states: rows are visible states, columns hidden states; and log Z."""
    V, H = states(len(b)), states(len(c))
    minus_energy = (V @ b)[:, None] + (H @ c)[None, :] + V @ W @ H.T
    log_z = logsumexp(minus_energy)
    return minus_energy - log_z, log_z


def test_free_energy_is_minus_log_sum_over_hidden_states_of_exp_minus_energy(ns):
    import tensorflow as tf

    W, b, c = tiny_rbm(6, 5, seed=0, scale=2.0)
    V, H = states(6), states(5)
    # the chapter's own energy, for every (v, h) pair
    pairs_v, pairs_h = np.repeat(V, len(H), axis=0), np.tile(H, (len(V), 1))
    energy = ns["rbm_energy"](*(tf.constant(a) for a in (pairs_v, pairs_h, W, b, c))).numpy()
    assert np.allclose(energy, -(pairs_v @ b) - pairs_h @ c - np.sum((pairs_v @ W) * pairs_h, axis=1))
    brute = -logsumexp(-energy.reshape(len(V), len(H)), axis=1)
    free = ns["free_energy"](*(tf.constant(a) for a in (V, W, b, c))).numpy()
    assert np.allclose(free, brute, rtol=1e-10, atol=1e-10)


def test_ais_recovers_the_exact_log_z_of_a_tiny_rbm_within_its_reported_error(ns):
    W, b, c = tiny_rbm(10, 4, seed=1)
    _, log_z = exact_log_joint(W, b, c)
    base = np.zeros(10)  # start from uniform pixels: a poor base, so AIS has work to do
    estimate, low, high = ns["ais_log_z"](W, b, c, base, n_betas=500, n_runs=200, seed=3)
    assert low <= log_z <= high, (log_z, estimate, low, high)
    assert high - low < 0.2  # the interval is narrow enough to mean something
    # a bridge with a single step is plain importance sampling from the base: its interval is much wider
    _, low1, high1 = ns["ais_log_z"](W, b, c, base, n_betas=1, n_runs=200, seed=3)
    assert high1 - low1 > 3 * (high - low)


def test_one_block_gibbs_step_leaves_the_rbm_distribution_invariant(ns):
    import keras
    import tensorflow as tf

    W, b, c = tiny_rbm(4, 3, seed=2, scale=1.5)
    log_joint, _ = exact_log_joint(W, b, c)
    p_joint = np.exp(log_joint)
    p_v = p_joint.sum(axis=1)
    V = states(4)
    rng = np.random.default_rng(0)
    n = 40_000
    seed = keras.random.SeedGenerator(7)

    def step_counts(v0):
        v1, _ = ns["gibbs_step"](tf.constant(v0), *(tf.constant(a) for a in (W, b, c)), seed)
        index = v1.numpy() @ (2 ** np.arange(3, -1, -1))  # the state's row in states(4)
        return np.bincount(index.astype(int), minlength=len(V))

    # start exactly at the RBM's distribution: one step keeps it
    start = rng.choice(p_joint.size, size=n, p=p_joint.ravel()) // p_joint.shape[1]
    counts = step_counts(V[start])
    assert chisquare(counts, n * p_v).pvalue > 1e-3
    # the test has power: from uniform pixels, one step is visibly not yet at the RBM's distribution
    counts_uniform = step_counts(V[rng.integers(0, len(V), size=n)])
    assert chisquare(counts_uniform, n * p_v).pvalue < 1e-6


def test_rbm_train_step_runs_compiled_for_cd_and_pcd(ns):
    x = np.random.default_rng(0).uniform(size=(40, 12)).astype("float32")
    for persistent in (False, True):
        rbm = ns["RBM"](12, 5, k=2, persistent=persistent, n_chains=8, weight_decay=1e-4, seed=0)
        import keras

        rbm.compile(optimizer=keras.optimizers.SGD(0.05))
        before = rbm.W.numpy().copy()
        history = rbm.fit(x, batch_size=10, epochs=1, verbose=0)
        assert set(history.history) == {"reconstruction", "free_energy_gap"}
        assert all(np.isfinite(v[-1]) for v in history.history.values())
        assert not np.allclose(before, rbm.W.numpy())
        assert np.any(rbm.chains.numpy() != 0) == persistent


def test_annealed_langevin_with_an_exact_gaussian_score_reaches_the_gaussian(ns):
    import tensorflow as tf

    mean, std = np.array([1.0, -2.0], "float32"), 0.5

    def score(x, sigma):  # N(mean, std^2 + sigma^2): the Gaussian noised by sigma
        return (mean - x) / (std**2 + sigma**2)

    x0 = np.random.default_rng(0).uniform(-4, 4, (4_000, 2)).astype("float32")
    x = ns["annealed_langevin"](x0, score, np.geomspace(2.0, 0.01, 5), 200, eps=0.5, seed=0)
    assert np.allclose(x.mean(axis=0), mean, atol=0.05)
    assert np.allclose(x.std(axis=0), std, rtol=0.1)
    del tf
