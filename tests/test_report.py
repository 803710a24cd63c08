"""gdl.report: cards written atomically per profile, read back as written, bad input refused clearly."""

import json

import numpy as np
import pytest

from gdl import report


@pytest.fixture(autouse=True)
def _cards_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv(report.CARDS_VAR, str(tmp_path / "cards"))
    monkeypatch.setenv("GDL_PROFILE", "smoke")


def _images(n=7, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 28, 28)).astype("float32")


def test_a_card_is_read_back_as_written(tmp_path):
    x = _images()
    nll = report.likelihood(95.5, "nats", "estimate", "binarized")
    path = report.card("VAE", chapter=3, family="VAE", samples=x, likelihood=nll, parameters=1234,
                       train_seconds=12.5, sample_ms=0.25, note="decoder means")
    assert path.parent == tmp_path / "cards" / "smoke"
    got = report.cards()["VAE"]
    assert got["chapter"] == 3 and got["n_samples"] == 7 and got["parameters"] == 1234
    assert got["likelihood"] == {"value": 95.5, "unit": "nats", "kind": "estimate", "data": "binarized"}
    assert got["train_seconds"] == 12.5 and got["sample_ms"] == 0.25 and got["note"] == "decoder means"
    assert got["samples"].shape == (7, 28, 28) and got["samples"].dtype == np.float32
    assert np.max(np.abs(got["samples"] - x)) <= 0.5 / 255 + 1e-6  # uint8: within half a grey level


@pytest.mark.parametrize("shape", [(5, 784), (5, 28, 28, 1)])
def test_flat_and_channel_images_are_accepted(shape):
    report.card("RBM", chapter=8, family="RBM", samples=np.zeros(shape))
    assert report.cards()["RBM"]["samples"].shape == (5, 28, 28)


def test_profiles_do_not_mix_and_a_card_written_again_replaces_the_old_one():
    report.card("PixelCNN", chapter=7, family="autoregressive", samples=_images(3))
    report.card("PixelCNN", chapter=7, family="autoregressive", samples=_images(4))
    report.card("PixelCNN", chapter=7, family="autoregressive", samples=_images(2), profile="cpu")
    assert report.cards()["PixelCNN"]["n_samples"] == 4
    assert report.cards("cpu")["PixelCNN"]["n_samples"] == 2
    assert report.cards("gpu") == {}
    assert not [p for p in report.folder().iterdir() if p.name.startswith(".")]  # no temporary left


def test_cards_come_in_bench_order_and_missing_names_the_chapter():
    report.card("RBM", chapter=8, family="RBM", samples=_images(2))
    report.card("autoencoder", chapter=2, family="autoencoder", samples=_images(2))
    report.card("a new model", chapter=11, family="other", samples=_images(2))
    assert list(report.cards()) == ["autoencoder", "RBM", "a new model"]
    left = report.missing()
    assert left["VAE"] == 3 and left["flow matching"] == 9 and "RBM" not in left


def test_unmeasured_numbers_are_none():
    report.card("MLP GAN", chapter=4, family="GAN", samples=_images(2))
    got = report.cards()["MLP GAN"]
    assert got["likelihood"] is None and got["parameters"] is None and got["sample_ms"] is None


@pytest.mark.parametrize("samples, message", [
    (np.full((3, 28, 28), 1.5), r"values in \[0, 1\]"),
    (np.full((3, 28, 28), -0.5), r"pass \(x \+ 1\) / 2"),
    (np.zeros((3, 32, 32)), "shape"),
    (np.zeros((0, 28, 28)), "n > 0"),
    (np.zeros((3, 28, 28, 3)), "shape"),
    (np.full((3, 784), np.nan), "NaN"),
])
def test_bad_samples_are_refused(samples, message):
    with pytest.raises(ValueError, match=message):
        report.card("VAE", chapter=3, family="VAE", samples=samples)


@pytest.mark.parametrize("args, message", [
    ((1.0, "nat", "exact", "binarized"), "unit"),
    ((1.0, "nats", "upper", "binarized"), "kind"),
    ((1.0, "bits/dim", "exact", "grey"), "data"),
    ((float("nan"), "nats", "exact", "binarized"), "finite"),
    ((None, "nats", "exact", "binarized"), "got None"),
])
def test_bad_likelihoods_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        report.likelihood(*args)


@pytest.mark.parametrize("kwargs, message", [
    ({"chapter": "3"}, "chapter"),
    ({"family": ""}, "family"),
    ({"parameters": 10.5}, "whole"),
    ({"train_seconds": -1}, ">= 0"),
    ({"sample_ms": "fast"}, "number or None"),
    ({"likelihood": {"value": 1.0, "unit": "nats"}}, "report.likelihood"),
    ({"likelihood": {"value": 1.0, "unit": "nats", "kind": "guess", "data": "binarized"}}, "kind"),
    ({"profile": "laptop"}, "profile"),
])
def test_bad_fields_are_refused(kwargs, message):
    args = {"chapter": 3, "family": "VAE", "samples": _images(2)} | kwargs
    with pytest.raises(ValueError, match=message):
        report.card("VAE", **args)


def test_a_broken_file_is_named():
    (report.folder() / "junk.npz").write_bytes(b"not a card")
    with pytest.raises(ValueError, match="junk.npz is not a report card"):
        report.cards()


def test_the_meta_data_is_plain_json():
    path = report.card("VAE", chapter=3, family="VAE", samples=_images(2), parameters=np.int64(5))
    with np.load(path) as stored:
        assert json.loads(str(stored["meta"]))["parameters"] == 5
