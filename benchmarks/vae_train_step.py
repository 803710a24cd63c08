"""Compiled `train_step` against an eager GradientTape loop, for Chapter 3's VAE, in one run.

Both train the same model (built from the chapter's own model-definition cells) on the same batches of
binarized MNIST-sized data with the same loss, `VAE.vae_losses`:

- compiled: `vae.fit`, which wraps the chapter's `train_step` in a `tf.function` (Keras's default);
- eager: a plain Python loop with `tf.GradientTape`, running every operation one by one.

It prints steps per second for each and their ratio (the course's target: at least 3x). Absolute
times depend on the machine; compare the ratio.

    PYTHONPATH=. .venv/bin/python benchmarks/vae_train_step.py [--steps 200] [--batch-size 100]
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from tools import model_cells  # (run with PYTHONPATH=. from the repository root)

ROOT = Path(__file__).resolve().parent.parent


def make_vae(ns, latent_dim):
    keras.utils.set_random_seed(0)
    vae = ns["VAE"](ns["build_encoder"](latent_dim), ns["build_decoder"](latent_dim))
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    return vae


def time_compiled(vae, x, steps, batch_size):
    vae.fit(x[: batch_size * 5], batch_size=batch_size, epochs=1, verbose=0)  # trace and warm up
    data = tf.data.Dataset.from_tensor_slices(x).repeat().batch(batch_size, drop_remainder=True)
    start = time.perf_counter()
    vae.fit(data, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - start)


def time_eager(vae, x, steps, batch_size):
    optimizer = keras.optimizers.Adam(1e-3)

    def step(batch):
        with tf.GradientTape() as tape:
            reconstruction, kl = vae.vae_losses(batch)
            total = reconstruction + vae.beta * kl
        grads = tape.gradient(total, vae.trainable_weights)
        optimizer.apply(grads, vae.trainable_weights)
        return total

    batches = [tf.constant(x[i * batch_size:(i + 1) * batch_size]) for i in range(len(x) // batch_size)]
    for batch in batches[:5]:  # warm up (optimizer variables, kernels)
        step(batch)
    start = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--latent-dim", type=int, default=16)
    args = parser.parse_args()

    ns = model_cells.load(ROOT / "chapters" / "03_vae.ipynb")
    x = (np.random.default_rng(0).uniform(size=(4000, 784)) < 0.2).astype("float32")
    compiled = time_compiled(make_vae(ns, args.latent_dim), x, args.steps, args.batch_size)
    eager = time_eager(make_vae(ns, args.latent_dim), x, args.steps, args.batch_size)
    devices = ", ".join(d.device_type for d in tf.config.list_logical_devices()) or "cpu"
    print(f"VAE (chapter 3, d_z = {args.latent_dim}), batch {args.batch_size}, {args.steps} steps, devices: {devices}")
    print(f"  compiled train_step (model.fit): {compiled:8.1f} steps/s")
    print(f"  eager GradientTape loop:         {eager:8.1f} steps/s")
    print(f"  ratio compiled / eager:          {compiled / eager:8.2f}x   (target: >= 3x)")


if __name__ == "__main__":
    main()
