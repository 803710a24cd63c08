"""Chapter 4's MLP GAN train step, several ways in one run: eager, tf.function, and the chapter's.

    .venv/bin/python benchmarks/gan_train_step.py [--steps 320] [--batch 64]

All variants train the chapter's own models with the chapter's own losses (its `model-definition` cells,
run by tools/model_cells.py), on the same data:

1. eager: the TensorFlow-tutorial loop, a Python function with two GradientTapes, run op by op;
2. tf.function: the same function traced into a graph, one call per step;
3. XLA, one step per call: the chapter's `GAN.train_step`, compiled with `jit_compile=True`,
   driven by `fit` with `steps_per_execution=1` (the chapter's choice: the fastest here);
4. as 3, with 16 steps per call.

Variants 3 and 4 keep the chapter's moving average of the generator (one more update per step), so they do a
little more work than 1 and 2. They leave out the chapter's R1 penalty (`r1_weight`, a second differentiation
on the discriminator's step), which the tutorial loop does not have either: every variant computes the same
losses.

Tracing and compiling are excluded (each variant warms up first). It prints steps/s and the ratio to eager.
Absolute numbers depend on the machine and its load; the ratios are the result.
"""

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tools import model_cells  # noqa: E402  (run with PYTHONPATH=. from the repository root)

ROOT = Path(__file__).resolve().parent.parent

LATENT_DIM = 100
EMA_DECAY = 0.999  # as in the chapter's sizes cell


def chapter():
    """The chapter's model-definition cells (they take every setting as an argument)."""
    return model_cells.load(ROOT / "chapters" / "04_gans.ipynb")


def tutorial_step(ns):
    """The TensorFlow-tutorial train step, built from the chapter's models and losses."""
    generator, discriminator = ns["mlp_generator"](LATENT_DIM), ns["mlp_discriminator"]()
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)

    def step(real):
        z = tf.random.normal((tf.shape(real)[0], LATENT_DIM))
        with tf.GradientTape() as tape:
            d_loss = ns["discriminator_loss"](discriminator(real, training=True),
                                              discriminator(generator(z, training=True), training=True))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights),
                                  discriminator.trainable_weights))
        z = tf.random.normal((tf.shape(real)[0], LATENT_DIM))
        with tf.GradientTape() as tape:
            g_loss = ns["generator_loss"](discriminator(generator(z, training=True), training=True))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
        return d_loss

    return step


def time_loop(step, batches, warmup):
    for batch in batches[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches:
        out = step(batch)
    np.asarray(out)  # wait for the last step
    return len(batches) / (time.perf_counter() - start)


def time_fit(steps_per_execution, dataset, steps):
    ns = chapter()
    gan = ns["make_gan"](ns["mlp_generator"](LATENT_DIM), ns["mlp_discriminator"](), LATENT_DIM, label_smoothing=0.1,
                         ema_decay=EMA_DECAY, jit_compile=True, steps_per_execution=steps_per_execution)
    gan.fit(dataset.take(2 * steps_per_execution), epochs=1, verbose=0, shuffle=False)  # trace and compile
    start = time.perf_counter()
    gan.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=320, help="timed steps per variant (eager runs a quarter)")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(-1, 1, (args.steps * args.batch, 784)).astype("float32")
    batches = [tf.constant(x[i * args.batch : (i + 1) * args.batch]) for i in range(args.steps)]
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(args.batch).cache()  # the same batches, in memory
    for _ in dataset:  # fill the cache before timing
        pass

    ns = chapter()
    results = {
        "eager GradientTape (tutorial)": time_loop(tutorial_step(ns), batches[: max(args.steps // 4, 10)], 3),
        "tf.function, one step per call": time_loop(tf.function(tutorial_step(ns)), batches, 5),
        "chapter: XLA + EMA, one step per call": time_fit(1, dataset, args.steps),
        "XLA + EMA, 16 steps per call": time_fit(16, dataset, args.steps),
    }
    eager = results["eager GradientTape (tutorial)"]
    print(f"MLP GAN train step, batch {args.batch}, {os.cpu_count()} CPU cores")
    for name, rate in results.items():
        print(f"  {name:40s} {rate:8.1f} steps/s   {rate / eager:5.1f}x eager")
    return results


if __name__ == "__main__":
    main()
