"""The MLP GAN train step of Chapter 4, three ways in one run: eager GradientTape, tf.function, and the chapter's.

    PYTHONPATH=. .venv/bin/python benchmarks/gan_train_step.py [--steps 100] [--batch 64]

1. eager: the TensorFlow-tutorial loop, a Python function with two GradientTapes run op by op;
2. tf.function: the same function traced into a graph;
3. the chapter's: a `GAN(keras.Model)` whose `train_step` is compiled by `compile(jit_compile=True)` (XLA)
   and driven by `train_on_batch`.

Each variant gets warm-up steps (tracing and compiling are excluded), then `--steps` timed steps on the same
batch. It prints steps/s and the ratio to eager. Absolute numbers depend on the machine; the ratios are the result.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

LATENT_DIM, EPS = 100, 1e-7


def mlp_generator():
    return keras.Sequential([keras.Input((LATENT_DIM,)), layers.Dense(256), layers.LeakyReLU(0.2), layers.Dense(512),
                             layers.LeakyReLU(0.2), layers.Dense(1024), layers.LeakyReLU(0.2),
                             layers.Dense(784, activation="tanh")])


def mlp_discriminator():
    return keras.Sequential([keras.Input((784,)), layers.Dense(1024), layers.LeakyReLU(0.2), layers.Dense(512),
                             layers.LeakyReLU(0.2), layers.Dense(256), layers.LeakyReLU(0.2),
                             layers.Dense(1, activation="sigmoid")])


def discriminator_loss(real_output, fake_output):
    real_output, fake_output = ops.clip(real_output, EPS, 1 - EPS), ops.clip(fake_output, EPS, 1 - EPS)
    return -ops.mean(ops.log(real_output)) - ops.mean(ops.log(1 - fake_output))


def generator_loss(fake_output):
    return -ops.mean(ops.log(ops.clip(fake_output, EPS, 1 - EPS)))


def make_step(generator, discriminator, g_opt, d_opt):
    def step(real):
        z = tf.random.normal((tf.shape(real)[0], LATENT_DIM))
        with tf.GradientTape() as tape:
            d_loss = discriminator_loss(discriminator(real, training=True),
                                        discriminator(generator(z, training=True), training=True))
        d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_weights), discriminator.trainable_weights))
        z = tf.random.normal((tf.shape(real)[0], LATENT_DIM))
        with tf.GradientTape() as tape:
            g_loss = generator_loss(discriminator(generator(z, training=True), training=True))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_weights), generator.trainable_weights))
        return d_loss, g_loss

    return step


class GAN(keras.Model):
    """The chapter's GAN, reduced to what the step needs (no label smoothing, one generator step)."""

    def __init__(self, generator, discriminator):
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.seed_generator = keras.random.SeedGenerator(0)

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    def train_step(self, data):
        real, _, _ = keras.utils.unpack_x_y_sample_weight(data)  # train_on_batch passes (x, None, None)
        n = ops.shape(real)[0]
        fake = self.generator(keras.random.normal((n, LATENT_DIM), seed=self.seed_generator), training=True)
        with tf.GradientTape() as tape:
            d_loss = discriminator_loss(self.discriminator(real, training=True), self.discriminator(fake, training=True))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = keras.random.normal((n, LATENT_DIM), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = generator_loss(self.discriminator(self.generator(z, training=True), training=True))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


def adam():
    return keras.optimizers.Adam(2e-4, beta_1=0.5)


def timed(run, steps, warmup):
    for _ in range(warmup):
        out = run()
    np.asarray(out[0] if isinstance(out, tuple) else out["d_loss"])  # wait for the device
    start = time.perf_counter()
    for _ in range(steps):
        out = run()
    np.asarray(out[0] if isinstance(out, tuple) else out["d_loss"])
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    real = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.batch, 784)).astype("float32"))

    results = {}
    eager = make_step(mlp_generator(), mlp_discriminator(), adam(), adam())
    results["eager GradientTape"] = timed(lambda: eager(real), args.steps, args.warmup)
    graph = tf.function(make_step(mlp_generator(), mlp_discriminator(), adam(), adam()))
    results["tf.function"] = timed(lambda: graph(real), args.steps, args.warmup)
    gan = GAN(mlp_generator(), mlp_discriminator())
    gan.compile(d_optimizer=adam(), g_optimizer=adam(), jit_compile=True)
    results["chapter: train_step, jit_compile=True"] = timed(
        lambda: gan.train_on_batch(real, return_dict=True), args.steps, args.warmup)

    base = results["eager GradientTape"]
    print(f"MLP GAN train step, batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up steps "
          f"({os.cpu_count()} CPU cores visible, GPUs: {len(tf.config.list_physical_devices('GPU'))})")
    for name, rate in results.items():
        print(f"  {name:40s} {rate:8.1f} steps/s   {rate / base:5.1f}x eager")


if __name__ == "__main__":
    main()
