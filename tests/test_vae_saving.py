"""Chapter 3's VAE, defined by the chapter's own model-definition cells, saves to `.keras` and reloads intact."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
from conftest import ROOT, model_cells


@pytest.fixture(scope="module")
def chapter():
    return model_cells.load(ROOT / "chapters" / "03_vae.ipynb")


@pytest.fixture(scope="module")
def trained(chapter):
    keras.utils.set_random_seed(0)
    x = (np.random.default_rng(0).uniform(size=(64, 784)) < 0.3).astype("float32")
    vae = chapter["VAE"](chapter["build_encoder"](3, hidden=(32,)), chapter["build_decoder"](3, hidden=(32,)), beta=2.0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = vae.fit(x, batch_size=32, epochs=2, verbose=0)
    return vae, x, history


def test_train_step_reports_each_term(trained):
    vae, x, history = trained
    logs = history.history
    assert set(logs) == {"loss", "reconstruction", "kl"}
    assert np.allclose(logs["loss"], np.array(logs["reconstruction"]) + 2.0 * np.array(logs["kl"]), rtol=1e-4)
    reconstruction, kl = (float(v) for v in vae.vae_losses(x))
    assert reconstruction > 0 and kl > 0


def test_save_and_load_give_the_same_model(trained, tmp_path):
    vae, x, _ = trained
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded).__name__ == "VAE" and loaded.beta == 2.0
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(vae(x)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.encoder(x)[1]), np.asarray(vae.encoder(x)[1]), atol=1e-6)
    z = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded.decoder(z)), np.asarray(vae.decoder(z)), atol=1e-6)
    loaded.fit(x, batch_size=32, epochs=1, verbose=0)  # the optimizer came back too: training continues


def test_sampling_layer_draws_with_the_right_spread(chapter):
    layer = chapter["Sampling"](seed=0)
    mean = np.full((20_000, 2), 1.5, dtype="float32")
    log_var = np.tile(np.array([[np.log(4.0), np.log(0.25)]], dtype="float32"), (20_000, 1))
    z = np.asarray(layer([mean, log_var]))
    assert np.allclose(z.mean(0), 1.5, atol=0.05) and np.allclose(z.std(0), [2.0, 0.5], rtol=0.03)


def test_missing_tag_is_a_clear_error():
    with pytest.raises(ValueError, match="no code cell tagged"):
        model_cells.load(ROOT / "chapters" / "01_gaussian.ipynb")


def test_the_benchmark_runs_and_reports_the_ratio():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "benchmarks/vae_train_step.py", "--steps", "3", "--latent-dim", "2"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "steps/s" in result.stdout and "ratio compiled / eager" in result.stdout
