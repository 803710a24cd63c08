"""One line per training run instead of a wall of per-epoch logs (every chapter).

    model.fit(x, y, epochs=EPOCHS, verbose=0, callbacks=[progress.OneLine("autoencoder")])

prints, when training ends, ``autoencoder: 40 epochs in 52 s; loss 0.271 -> 0.093, val_loss 0.095``. The
full history stays in the ``History`` that ``fit`` returns, for the loss-curve figure.
``progress.seconds("autoencoder")`` gives that run's wall time later (a report card's training seconds).
"""

import time

import keras

_SECONDS = {}  # run name -> wall seconds of its last fit


class OneLine(keras.callbacks.Callback):
    """Print one summary line when ``fit`` ends: epochs, wall time, first and last value of each loss."""

    def __init__(self, name, keys=None):
        super().__init__()
        self.name, self.keys = name, keys

    def on_train_begin(self, logs=None):
        self.start, self.first, self.last, self.epochs = time.perf_counter(), None, {}, 0

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        if self.first is None:
            self.first = logs
        self.last, self.epochs = logs, epoch + 1

    def on_train_end(self, logs=None):
        seconds = time.perf_counter() - self.start
        _SECONDS[self.name] = seconds
        print(line(self.name, self.epochs, seconds, self.first or {}, self.last, self.keys))


def seconds(name):
    """The wall seconds of the last ``fit`` run with ``OneLine(name)`` in this session, or None."""
    return _SECONDS.get(name)


def line(name, epochs, seconds, first, last, keys=None):
    """The summary line: ``name: E epochs in T s; key first -> last, val_key last``."""
    keys = [k for k in last if k in first and not k.startswith("val_")] if keys is None else keys
    parts = []
    for key in keys:
        part = f"{key} {first[key]:.4g} -> {last[key]:.4g}"
        if f"val_{key}" in last:
            part += f" (val {last[f'val_{key}']:.4g})"
        parts.append(part)
    took = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    return f"{name}: {epochs} epoch{'s' if epochs != 1 else ''} in {took}; " + ", ".join(parts)
