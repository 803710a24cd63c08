"""Chapter 4's model-definition cells run on their own (the benchmark uses them) and train."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
from conftest import ROOT, model_cells  # noqa: E402


def test_chapter_gan_cells_build_and_train_two_steps_per_call():
    ns = model_cells.load(ROOT / "chapters" / "04_gans.ipynb", SEED=0, LATENT_DIM=8, LEARNING_RATE=2e-4,
                          BETA_1=0.5, JIT=False, STEPS_PER_EXECUTION=2)
    generator, discriminator = ns["mlp_generator"](), ns["mlp_discriminator"]()
    assert generator.output_shape == (None, 784) and discriminator.output_shape == (None, 1)
    gan = ns["make_gan"](generator, discriminator, latent_dim=8, label_smoothing=0.1)
    before = [w.copy() for w in gan.generator.get_weights()]
    x = np.random.default_rng(0).uniform(-1, 1, (64, 784)).astype("float32")
    history = gan.fit(x, batch_size=16, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert any(not np.allclose(a, b) for a, b in zip(before, gan.generator.get_weights()))
