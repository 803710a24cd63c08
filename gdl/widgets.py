"""Interactive controls that still leave a figure in the built book (Chapter 1 onwards).

``explore(draw, mu=(-2.0, 2.0, 0.0), ...)`` shows sliders and, below them, the figure ``draw`` makes
with their values, redrawn when a slider moves. The figure drawn with the default values is saved with
the widget's state when the notebook is executed, so the built web page (which has no Python behind it)
shows the sliders and that figure. Without ipywidgets it draws the default figure alone.

``explore_latent(decode, latent_dim=2)`` is ``explore`` for a decoder: one slider per latent coordinate,
showing the decoded image (Chapter 3).
"""

import matplotlib.pyplot as plt


def _validate(name, spec):
    if not (isinstance(spec, tuple) and len(spec) == 3):
        raise ValueError(f"{name}: give (low, high, default), got {spec!r}")
    low, high, default = spec
    if not low <= default <= high:
        raise ValueError(f"{name}: default {default} is not in [{low}, {high}]")
    return spec


def _slider(name, spec):
    import ipywidgets as widgets

    low, high, default = spec
    style = {"description_width": "initial"}
    if all(isinstance(v, int) for v in spec):
        return widgets.IntSlider(value=default, min=low, max=high, description=name, style=style)
    step = (high - low) / 100
    return widgets.FloatSlider(value=default, min=low, max=high, step=step, description=name, style=style)


def explore(draw, **controls):
    """Show one slider per control and the figure ``draw(**values)`` below them, redrawn on change.

    Each control is ``name=(low, high, default)``; integers give an integer slider. ``draw`` makes a
    Matplotlib figure from keyword arguments.
    """
    if not controls:
        raise ValueError("explore needs at least one control, e.g. sigma=(0.1, 2.0, 1.0)")
    controls = {name: _validate(name, spec) for name, spec in controls.items()}
    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError:
        draw(**{name: spec[2] for name, spec in controls.items()})
        plt.show()
        print("(Install ipywidgets to change these values with sliders.)")
        return
    sliders = {name: _slider(name, spec) for name, spec in controls.items()}
    out = widgets.interactive_output(lambda **kw: (draw(**kw), plt.show()), sliders)
    title = widgets.HTML("<b>Move the sliders to redraw the figure:</b>")
    display(widgets.VBox([title, widgets.HBox(list(sliders.values())), out]))


def explore_latent(decode, latent_dim=2, limit=3.0, image_shape=(28, 28), title="decoded image"):
    """A latent explorer: one slider per latent coordinate, showing the decoded image (Chapter 3).

    ``decode(z)`` maps codes of shape (m, latent_dim) to m images with values in [0, 1] (e.g.
    probabilities, the sigmoid of a decoder's logits). The sliders run over [-limit, limit], in units of
    the prior's standard deviation, and start at the prior's mean, z = 0.
    """
    import numpy as np

    if not (isinstance(latent_dim, int) and 1 <= latent_dim <= 8):
        raise ValueError(f"latent_dim must be an integer from 1 to 8 (one slider each), got {latent_dim!r}")
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit!r}")

    def draw(**z):
        code = np.array([[z[f"z{i + 1}"] for i in range(latent_dim)]], dtype="float32")
        image = np.asarray(decode(code), dtype="float32")
        if image.size != int(np.prod(image_shape)):
            raise ValueError(f"decode(z) must return one image of shape {image_shape}, got shape {image.shape}")
        _, ax = plt.subplots(figsize=(2.5, 2.5))
        ax.imshow(image.reshape(image_shape), cmap="gray_r", vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{title}\nz = ({', '.join(f'{v:.1f}' for v in code[0])})", fontsize="small")

    explore(draw, **{f"z{i + 1}": (-float(limit), float(limit), 0.0) for i in range(latent_dim)})
