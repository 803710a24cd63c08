"""The code space that Chapter 6's latent diffusion and Chapter 9's flow matching share.

A convolutional autoencoder (the kind Chapter 2 builds) compresses a 28 x 28 digit into ``code_dim``
numbers and decodes them again. Both chapters learn the distribution of these codes, so they use the very
same autoencoder: it is trained once, like the course classifier, and cached on disk (``metrics.cache_dir``),
keyed by what it saw. Codes are standardised per coordinate over the training digits (mean 0, variance 1),
so that Gaussian noise has the scale of the data::

    space = latent.mnist_autoencoder(code_dim=32)
    z = space.encode(x_train)         # (n, 32), standardised
    images = space.decode(z)          # (n, 28, 28) in [0, 1]
"""

import os
from dataclasses import dataclass

import numpy as np

VERSION = 1  # bump when the architecture or the training recipe changes (invalidates caches)


def build_autoencoder(code_dim=32):
    """A convolutional encoder, 28 x 28 x 1 -> ``code_dim`` numbers, and its decoder (sigmoid pixels)."""
    import keras
    from keras import layers

    x = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="silu")(x)  # 14 x 14
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="silu")(h)  # 7 x 7
    code = layers.Dense(code_dim)(layers.Flatten()(h))
    encoder = keras.Model(x, code, name="encoder")
    z = keras.Input(shape=(code_dim,))
    h = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="silu")(z))
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="silu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="silu")(h)
    image = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(h)  # in [0, 1]
    return encoder, keras.Model(z, image, name="decoder")


@dataclass
class CodeSpace:
    """A trained autoencoder and the statistics that standardise its codes."""

    encoder: object
    decoder: object
    code_mean: np.ndarray
    code_std: np.ndarray
    where: str

    @property
    def code_dim(self):
        return len(self.code_mean)

    def encode(self, images, batch_size=500):
        """Images in [0, 1], (n, 28, 28) or (n, 28, 28, 1) -> standardised codes, float32 (n, code_dim)."""
        from gdl.metrics import _as_digit_images

        x = _as_digit_images(images)
        codes = self.encoder.predict(x, batch_size=batch_size, verbose=0)
        return ((codes - self.code_mean) / self.code_std).astype("float32")

    def decode(self, z, batch_size=500):
        """Standardised codes (n, code_dim) -> images in [0, 1], float32 (n, 28, 28)."""
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.code_dim:
            raise ValueError(f"codes must have shape (n, {self.code_dim}), got {z.shape}")
        if not np.all(np.isfinite(z)):
            raise ValueError("codes contain NaN or infinity (did the sampler diverge?)")
        return self.decoder.predict(z * self.code_std + self.code_mean, batch_size=batch_size, verbose=0)[..., 0]

    def count_params(self):
        return self.encoder.count_params() + self.decoder.count_params()


def mnist_autoencoder(code_dim=32, n_train=None, epochs=None, seed=0, verbose=True):
    """The course's MNIST autoencoder in ``code_dim`` numbers, trained once and cached; returns a ``CodeSpace``.

    Trained with binary cross-entropy on the first ``n_train`` training digits of ``data.mnist()`` (the
    profile's default: 256 in smoke, all otherwise) for ``epochs`` epochs (smoke 1, otherwise 12), batch 64,
    Adam at 2e-3, from seed ``seed``.
    """
    import keras

    from gdl import data
    from gdl.budget import budget
    from gdl.metrics import cache_dir

    if int(code_dim) < 1:
        raise ValueError(f"code_dim must be a positive integer, got {code_dim}")
    n_train = budget(smoke=256, cpu=None, gpu=None) if n_train is None else n_train
    epochs = budget(smoke=1, cpu=12, gpu=30) if epochs is None else int(epochs)
    (x_train, _), _ = data.mnist(verbose=False)
    n = len(x_train) if n_train is None else min(int(n_train), len(x_train))
    x = x_train[:n, ..., None]
    name = f"mnist_autoencoder_v{VERSION}_d{code_dim}_n{n}_of{len(x_train)}_e{epochs}_s{seed}_keras{keras.__version__}"
    folder = cache_dir()
    paths = {part: folder / f"{name}_{part}.keras" for part in ("encoder", "decoder")}
    encoder = decoder = None
    if all(p.exists() for p in paths.values()):
        try:
            encoder, decoder = (keras.models.load_model(paths[part]) for part in ("encoder", "decoder"))
            where = f"loaded from {folder}"
        except Exception as err:  # written by something else: train afresh and replace our own files
            print(f"Course autoencoder: {paths['encoder']} could not be loaded ({type(err).__name__}); "
                  "training it again.")
            encoder = decoder = None
    if encoder is None:
        keras.utils.set_random_seed(seed)
        encoder, decoder = build_autoencoder(code_dim)
        model = keras.Sequential([encoder, decoder])
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="binary_crossentropy")
        model.fit(x, x, batch_size=64, epochs=epochs, verbose=0)
        for part, net in (("encoder", encoder), ("decoder", decoder)):
            tmp = paths[part].with_suffix(".tmp.keras")
            net.save(tmp)
            os.replace(tmp, paths[part])  # atomic: a half-written file never looks like a cached model
        where = f"trained on {n:,} digits for {epochs} epochs, cached in {folder}"
    codes = encoder.predict(x, batch_size=500, verbose=0).astype("float64")
    space = CodeSpace(encoder, decoder, codes.mean(axis=0), codes.std(axis=0) + 1e-6, where)
    if verbose:
        print(f"Course autoencoder ({code_dim} numbers per digit, {space.count_params():,} parameters): {where}.")
    return space
