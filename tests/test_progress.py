"""gdl.progress: one line per training run."""

import numpy as np

from gdl import progress


def test_line_shows_first_and_last_values_and_validation():
    text = progress.line("ae", 40, 52.3, {"loss": 0.27, "val_loss": 0.3}, {"loss": 0.093, "val_loss": 0.095})
    assert text == "ae: 40 epochs in 52 s; loss 0.27 -> 0.093 (val 0.095)"
    assert progress.line("m", 1, 2.04, {"a": 1.0}, {"a": 0.5}) == "m: 1 epoch in 2.0 s; a 1 -> 0.5"


def test_fit_prints_exactly_one_line(capsys):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    history = model.fit(x, x[:, :1], epochs=3, verbose=0, validation_split=0.25,
                        callbacks=[progress.OneLine("tiny")])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("tiny: 3 epochs in ")
    assert f"loss {history.history['loss'][0]:.4g} -> {history.history['loss'][-1]:.4g}" in out[0]
    assert f"(val {history.history['val_loss'][-1]:.4g})" in out[0]
    assert progress.seconds("tiny") > 0 and progress.seconds("never trained") is None
