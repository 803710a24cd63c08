"""The figures the chapters draw again and again (Matplotlib).

Each function draws into ``ax`` (a new figure when ``ax`` is None) and returns the axes, so
figures compose: ``fig, axes = plt.subplots(1, 2)`` then ``plot.scatter_2d(x, ax=axes[0])``.

- ``histogram``: samples as a density-normalised histogram, with a density curve on top (Chapter 1).
- ``scatter_2d``: 2-D points, optionally coloured by label (Chapter 1).
- ``density_heatmap``: a 2-D density p(x) = exp(log p(x)) evaluated on a grid (Chapter 1).
- ``image_grid``: a grid of grey-scale images, e.g. samples or reconstructions (Chapter 2 onwards).
- ``training_curves``: the metrics of a Keras ``History`` (or a dict of lists) against the epoch.
"""

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax, figsize=(5, 4)):
    return plt.subplots(figsize=figsize)[1] if ax is None else ax


def _points_2d(x, what="x"):
    x = np.asarray(x, dtype="float64")
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{what} must have shape (n, 2), got {x.shape}")
    return x


def histogram(samples, density=None, ax=None, bins=50, label="samples", title=None):
    """Histogram of 1-D ``samples`` scaled to a density, with ``density(grid)`` drawn on top."""
    samples = np.asarray(samples, dtype="float64").ravel()
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        raise ValueError("samples must be a non-empty array of finite numbers")
    ax = _axes(ax)
    ax.hist(samples, bins=bins, density=True, alpha=0.5, color="C0", label=f"{label} (n={samples.size:,})")
    if density is not None:
        lo, hi = samples.min(), samples.max()
        pad = 0.1 * (hi - lo + 1e-12)
        grid = np.linspace(lo - pad, hi + pad, 400)
        ax.plot(grid, density(grid), color="C3", lw=2, label="density")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend(loc="upper right", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def scatter_2d(x, labels=None, ax=None, title=None, s=4, alpha=0.5):
    """Scatter plot of 2-D points ``x`` (n, 2), coloured by integer ``labels`` when given."""
    x = _points_2d(x)
    ax = _axes(ax)
    if labels is None:
        ax.scatter(x[:, 0], x[:, 1], s=s, alpha=alpha)
    else:
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ValueError(f"labels must have shape ({len(x)},), got {labels.shape}")
        ax.scatter(x[:, 0], x[:, 1], c=labels, cmap="tab10", s=s, alpha=alpha, vmin=0, vmax=9)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def density_heatmap(log_density, xlim, ylim, ax=None, resolution=200, title=None):
    """Heat map of exp(log_density(points)) on a grid; ``log_density`` maps (m, 2) to (m,)."""
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    values = np.asarray(log_density(grid), dtype="float64")
    if values.shape != (len(grid),):
        raise ValueError(f"log_density must return one value per point, shape ({len(grid)},), got {values.shape}")
    ax = _axes(ax)
    ax.imshow(
        np.exp(values).reshape(resolution, resolution),
        extent=(*xlim, *ylim),
        origin="lower",
        cmap="magma",
        aspect="equal",
    )
    if title:
        ax.set_title(title)
    return ax


def image_grid(images, ncols=10, ax=None, title=None, vmin=0.0, vmax=1.0, row_labels=None):
    """Show grey-scale ``images`` (n, h, w) or (n, h, w, 1) in a grid with ``ncols`` columns.

    Values are shown on the fixed scale [vmin, vmax] (use vmin=-1 for images scaled to [-1, 1]), so
    grids from different models are comparable. ``row_labels`` names each row on the left.
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must have shape (n, h, w) or (n, h, w, 1) with n > 0, got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise ValueError("images contain NaN or infinity")
    n, h, w = images.shape
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    canvas = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1), vmax, dtype="float32")
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = image
    ax = _axes(ax, figsize=(min(1.0 * ncols, 12), min(1.0 * nrows, 12)))
    ax.imshow(canvas, cmap="gray_r" if vmin >= 0 else "gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([(h + 1) * r + 1 + h / 2 for r in range(nrows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels)
    if title:
        ax.set_title(title)
    return ax


def training_curves(history, keys=None, ax=None, title=None, logy=False):
    """Plot metrics per epoch from a Keras ``History`` or a dict ``{name: [values]}``."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("history must be a Keras History or a non-empty dict of lists")
    keys = list(logs) if keys is None else keys
    missing = [k for k in keys if k not in logs]
    if missing:
        raise ValueError(f"no metric {missing[0]!r} in the history; it has {sorted(logs)}")
    ax = _axes(ax, figsize=(6, 3.5))
    for key in keys:
        values = np.asarray(logs[key], dtype="float64")
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=key)
    ax.set_xlabel("epoch")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
