import matplotlib.pyplot as plt
import numpy as np
import pytest

from gdl import plot, widgets


def teardown_function():
    plt.close("all")


def test_histogram_is_density_normalised():
    x = np.random.default_rng(0).normal(size=5000)
    ax = plot.histogram(x, density=lambda g: np.exp(-g**2 / 2) / np.sqrt(2 * np.pi))
    heights = np.array([p.get_height() for p in ax.patches])
    widths = np.array([p.get_width() for p in ax.patches])
    assert np.isclose((heights * widths).sum(), 1.0)
    assert len(ax.lines) == 1


@pytest.mark.parametrize("bad", [[], [1.0, np.nan]])
def test_histogram_rejects_bad_samples(bad):
    with pytest.raises(ValueError, match="finite numbers"):
        plot.histogram(bad)


def test_scatter_checks_shapes():
    plot.scatter_2d(np.zeros((5, 2)), labels=np.arange(5))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        plot.scatter_2d(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"labels must have shape \(5,\)"):
        plot.scatter_2d(np.zeros((5, 2)), labels=np.arange(4))


def test_density_heatmap_evaluates_on_grid():
    ax = plot.density_heatmap(lambda g: -0.5 * (g**2).sum(1), (-2, 2), (-1, 1), resolution=50)
    image = ax.images[0].get_array()
    assert image.shape == (50, 50) and np.isclose(image.max(), np.exp(-0.5 * (2 * (1 / 49) ** 2)), rtol=0.1)
    with pytest.raises(ValueError, match="one value per point"):
        plot.density_heatmap(lambda g: g, (-1, 1), (-1, 1))


def test_explore_draws_the_defaults_then_shows_the_widget(monkeypatch):
    calls = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: calls.append("widget"))
    widgets.explore(lambda mu, n: calls.append((mu, n)), mu=(-1.0, 1.0, 0.5), n=(1, 10, 3))
    assert calls[0] == (0.5, 3) and calls[-1] == "widget"


@pytest.mark.parametrize("spec, message", [((0.0, 1.0), "give \\(low, high, default\\)"), ((0.0, 1.0, 2.0), "not in")])
def test_explore_rejects_bad_controls(spec, message):
    with pytest.raises(ValueError, match=message):
        widgets.explore(lambda x: None, x=spec)


def test_image_grid_layout_and_scale():
    images = np.random.default_rng(0).uniform(size=(23, 28, 28, 1))
    ax = plot.image_grid(images, ncols=10)
    canvas = ax.images[0].get_array()
    assert canvas.shape == (3 * 29 + 1, 10 * 29 + 1)
    assert np.allclose(canvas[1:29, 1:29], images[0, ..., 0])
    assert ax.images[0].get_clim() == (0.0, 1.0)


@pytest.mark.parametrize("bad, message", [(np.zeros((0, 28, 28)), "n > 0"), (np.zeros((2, 28)), "shape"),
                                           (np.full((2, 4, 4), np.nan), "NaN")])
def test_image_grid_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        plot.image_grid(bad)


def test_training_curves():
    ax = plot.training_curves({"loss": [3.0, 2.0, 1.5], "kl": [0.1, 0.2, 0.3]})
    assert len(ax.lines) == 2 and list(ax.lines[0].get_ydata()) == [3.0, 2.0, 1.5]
    with pytest.raises(ValueError, match="no metric 'acc'"):
        plot.training_curves({"loss": [1.0]}, keys=["acc"])


def test_explore_without_ipywidgets_draws_the_defaults(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ipywidgets", None)
    calls = []
    widgets.explore(lambda sigma: calls.append(sigma), sigma=(0.1, 2.0, 1.0))
    assert calls == [1.0]
    assert "Install ipywidgets" in capsys.readouterr().out


def test_explore_latent_decodes_the_prior_mean_first(monkeypatch):
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    codes = []

    def decode(z):
        codes.append(np.array(z))
        return np.full((1, 28, 28), 0.5)

    widgets.explore_latent(decode, latent_dim=3)
    assert codes[0].shape == (1, 3) and np.all(codes[0] == 0)  # the static figure: z = 0
    image = plt.gcf().axes[0].images[0].get_array()
    assert image.shape == (28, 28) and np.allclose(image, 0.5)


@pytest.mark.parametrize("kwargs, message", [({"latent_dim": 0}, "latent_dim"), ({"limit": -1.0}, "limit"),
                                              ({"image_shape": (5, 5)}, "one image of shape")])
def test_explore_latent_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        widgets.explore_latent(lambda z: np.zeros((1, 28, 28)), **kwargs)


def test_explore_builds_the_same_widgets_and_redraws_on_ipywidgets_7_and_8(monkeypatch):
    """Colab ships ipywidgets 7, the book builds with 8 (`make test-colab` runs this file on Colab's versions):
    the sliders, their ranges (here outside a slider's default 0 to 100) and the redraw on a change hold on both."""
    ipywidgets = pytest.importorskip("ipywidgets")
    shown, calls = [], []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: shown.extend(a))
    widgets.explore(lambda mu, n: calls.append((mu, n)), mu=(-300.0, -100.0, -200.0), n=(200, 400, 250))
    (box,) = shown
    title, row, out = box.children
    assert isinstance(title, ipywidgets.HTML) and isinstance(out, ipywidgets.Output)
    mu, n = row.children
    assert isinstance(mu, ipywidgets.FloatSlider) and isinstance(n, ipywidgets.IntSlider)
    assert (mu.description, mu.min, mu.max, mu.value, mu.step) == ("mu", -300.0, -100.0, -200.0, 2.0)
    assert (n.description, n.min, n.max, n.value) == ("n", 200, 400, 250)
    mu.value = -150.0
    n.value = 399
    assert calls == [(-200.0, 250), (-150.0, 250), (-150.0, 399)]
