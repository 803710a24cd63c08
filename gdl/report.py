"""Report cards: each chapter hands its best model's samples and numbers to Chapter 10's bench.

At the end of a chapter, one call writes a card::

    from gdl import report
    report.card("VAE", chapter=3, family="variational autoencoder", samples=images,
                likelihood=report.likelihood(iw_nll, "nats", "estimate", "binarized"),
                parameters=n_weights, train_seconds=seconds, sample_ms=None)

and Chapter 10 reads them all back with ``report.cards()``. ``samples`` are images in [0, 1] (shape
(n, 28, 28), (n, 28, 28, 1) or (n, 784)), stored as uint8; a number the chapter did not measure is None.
A card is one ``.npz`` file, written atomically, in ``$GDL_CARDS/<profile>/`` (default
``metrics.cache_dir() / "cards"``): cards of the smoke, cpu and gpu runs never mix.
``report.BENCH`` lists the rows the bench expects and the chapter that writes each.
"""

import json
import os
import re
from pathlib import Path

import numpy as np

CARDS_VAR = "GDL_CARDS"
UNITS = ("nats", "bits/dim")  # nats per image, or bits per dimension
KINDS = ("exact", "bound", "estimate")
DATA = ("binarized", "dequantized")

# The rows of Chapter 10's bench: card name -> the chapter that writes it.
BENCH = {
    "autoencoder": 2,
    "VAE": 3,
    "MLP GAN": 4,
    "DCGAN-style": 4,
    "DCGAN-style, clustered": 4,
    "DCGAN-style, conditional": 4,
    "RealNVP flow": 5,
    "pixel diffusion": 6,
    "latent diffusion": 6,
    "PixelCNN": 7,
    "RBM": 8,
    "flow matching": 9,
}


def folder(profile=None):
    """The folder of one profile's cards (created on first use); the active profile by default."""
    from gdl import metrics
    from gdl.budget import PROFILES
    from gdl.budget import profile as active

    profile = active() if profile is None else profile
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    root = Path(os.environ[CARDS_VAR]) if os.environ.get(CARDS_VAR) else metrics.cache_dir() / "cards"
    path = root / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def likelihood(value, unit, kind, data):
    """A likelihood for a card: ``value`` (a negative log-likelihood) in ``unit`` ("nats" per image or
    "bits/dim"), of ``kind`` "exact", "bound" (an upper bound on the NLL) or "estimate", on ``data``
    "binarized" or "dequantized" digits (the two are not comparable)."""
    for what, got, allowed in (("unit", unit, UNITS), ("kind", kind, KINDS), ("data", data, DATA)):
        if got not in allowed:
            raise ValueError(f"likelihood {what} must be one of {', '.join(map(repr, allowed))}, got {got!r}")
    if value is None:
        raise ValueError("likelihood value must be a number, got None")
    return {"value": _number(value, "likelihood value", signed=True), "unit": unit, "kind": kind, "data": data}


def _number(value, what, whole=False, signed=False):
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number or None, got {type(value).__name__}") from None
    if not np.isfinite(number) or (number < 0 and not signed):
        raise ValueError(f"{what} must be a finite number{'' if signed else ' >= 0'}, got {value!r}")
    if whole:
        if number != int(number):
            raise ValueError(f"{what} must be a whole number, got {value!r}")
        return int(number)
    return number


def _images(samples):
    x = np.asarray(samples, dtype="float64")
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (28, 28) or len(x) == 0:
        raise ValueError(f"samples must have shape (n, 28, 28), (n, 28, 28, 1) or (n, 784) with n > 0, "
                         f"got {np.shape(samples)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples contain NaN or infinity")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        hint = " (from a tanh generator? pass (x + 1) / 2)" if lo >= -1 else ""
        raise ValueError(f"samples must have values in [0, 1], got [{lo:.3g}, {hi:.3g}]{hint}")
    return np.round(x * 255).astype("uint8")


def _file_name(name):
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise ValueError(f"name must contain letters or digits, got {name!r}")
    return f"{slug}.npz"


def card(name, *, chapter, family, samples, likelihood=None, parameters=None, train_seconds=None,
         sample_ms=None, note=None, profile=None):
    """Write the report card ``name`` (a row of the bench) and return its path.

    ``chapter`` is the chapter's number, ``family`` the model family in words, ``samples`` the images the
    chapter drew, in [0, 1]. ``likelihood`` is None or ``report.likelihood(...)``; ``parameters`` the
    number of trained weights; ``train_seconds`` the training time in this profile; ``sample_ms`` the
    milliseconds to draw one image; ``note`` a short text (how the samples were drawn). A card written
    again replaces the old one.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if not (isinstance(chapter, (int, np.integer)) and 1 <= chapter <= 99):
        raise ValueError(f"chapter must be the chapter's number (1 to 99), got {chapter!r}")
    if not isinstance(family, str) or not family.strip():
        raise ValueError(f"family must be a non-empty string, got {family!r}")
    if likelihood is not None:
        if not (isinstance(likelihood, dict) and set(likelihood) == {"value", "unit", "kind", "data"}):
            raise ValueError("likelihood must be None or report.likelihood(value, unit, kind, data)")
        likelihood = globals()["likelihood"](**likelihood)  # validated again: a dict made by hand
    if note is not None and not isinstance(note, str):
        raise ValueError(f"note must be a string or None, got {type(note).__name__}")
    images = _images(samples)
    meta = {
        "name": name, "chapter": int(chapter), "family": family, "n_samples": len(images),
        "likelihood": likelihood, "parameters": _number(parameters, "parameters", whole=True),
        "train_seconds": _number(train_seconds, "train_seconds"), "sample_ms": _number(sample_ms, "sample_ms"),
        "note": note,
    }
    path = folder(profile) / _file_name(name)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, samples=images, meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)  # atomic: a reader never sees half a card
    print(f"Report card '{name}' (Chapter {chapter}): {len(images):,} samples, written to {path}")
    return path


def cards(profile=None):
    """Every card of ``profile`` (the active one by default): a dict name -> card, in ``BENCH`` order.

    A card is the dict that ``card`` wrote (``name``, ``chapter``, ``family``, ``n_samples``,
    ``likelihood``, ``parameters``, ``train_seconds``, ``sample_ms``, ``note``) plus ``samples``, float32
    images (n, 28, 28) in [0, 1].
    """
    found = {}
    for path in sorted(folder(profile).glob("*.npz")):
        if path.name.startswith("."):
            continue  # a card being written
        try:
            with np.load(path) as stored:
                meta = json.loads(str(stored["meta"]))
                meta["samples"] = stored["samples"].astype("float32") / 255
        except Exception as err:
            raise ValueError(f"{path} is not a report card ({type(err).__name__}: {err}); delete it and "
                             "rerun the chapter that writes it") from None
        found[meta["name"]] = meta
    order = list(BENCH)
    return dict(sorted(found.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in BENCH else len(order),
                                                       kv[1]["chapter"], kv[0])))


def missing(found=None, profile=None):
    """The bench rows with no card yet, as a dict name -> the chapter to run first."""
    found = cards(profile) if found is None else found
    return {name: chapter for name, chapter in BENCH.items() if name not in found}
