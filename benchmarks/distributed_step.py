"""One device against two replicas (MirroredStrategy on the CPU split into 2 logical devices), in one run.

Both train Chapter 3's VAE (the chapter's own model-definition cells) with the same global batch on the same
data; the second under ``tf.distribute.MirroredStrategy`` over two logical CPU devices, as the appendix
"Training on many devices" does. It prints steps per second for each and their ratio.

Two logical devices of one CPU share its cores: each replica computes half the batch, but the cores are the
same, and the replicas add an all-reduce of every gradient and the work of splitting each batch. No speed-up is
expected there; the ratio measures that overhead. On two GPUs the same comparison measures data parallelism.

    PYTHONPATH=. .venv/bin/python benchmarks/distributed_step.py [--steps 200] [--batch-size 256]
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from gdl import devices  # noqa: E402 (run with PYTHONPATH=. from the repository root)

devices.split_cpu(2)  # before TensorFlow starts

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tools import model_cells  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def steps_per_second(strategy, ns, x, steps, batch_size, latent_dim):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        vae = ns["VAE"](ns["build_encoder"](latent_dim), ns["build_decoder"](latent_dim))
        vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices(x).repeat().batch(batch_size, drop_remainder=True)
    vae.fit(data, steps_per_epoch=10, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    vae.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--latent-dim", type=int, default=16)
    args = parser.parse_args()

    ns = model_cells.load(ROOT / "chapters" / "03_vae.ipynb")
    x = (np.random.default_rng(0).uniform(size=(4096, 784)) < 0.2).astype("float32")
    two = devices.strategy()
    assert two.num_replicas_in_sync == 2, two
    rates = {}
    for name, strategy in (("one device", tf.distribute.get_strategy()), ("two replicas", two)):
        rates[name] = steps_per_second(strategy, ns, x, args.steps, args.batch_size, args.latent_dim)
    print(f"VAE (chapter 3, d_z = {args.latent_dim}), global batch {args.batch_size}, {args.steps} steps, "
          f"{os.cpu_count()} CPU cores; {devices.describe()}")
    for name, rate in rates.items():
        print(f"  {name:13s} {rate:8.1f} steps/s")
    print(f"  ratio (two replicas / one device): {rates['two replicas'] / rates['one device']:.2f}")


if __name__ == "__main__":
    main()
