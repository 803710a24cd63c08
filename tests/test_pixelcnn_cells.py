"""Chapter 7's model-definition cells: masked convolutions, the PixelCNN and causal attention never see the future.

Each test changes the input after a position and requires the output at (and before) that position to stay the
same, and requires that changing the allowed inputs does change it (so a network that ignores its input fails).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import ROOT, model_cells  # noqa: E402

CHAPTER = ROOT / "chapters" / "07_autoregressive.ipynb"


@pytest.fixture(scope="module")
def ns():
    return model_cells.load(CHAPTER)


def _raster_positions(rng, size, n=6):
    """Pixels to test: the first, the last, and random ones, as (row, column)."""
    flat = [0, size * size - 1, *rng.integers(1, size * size - 1, size=n - 2)]
    return [divmod(int(i), size) for i in flat]


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_masked_conv_output_at_i_ignores_pixels_it_must_not_see(ns, mask_type, kernel_size):
    import keras

    rng = np.random.default_rng(kernel_size)
    size, channels = 9, 2
    layer = ns["MaskedConv2D"](3, kernel_size, mask_type)
    layer.build((None, size, size, channels))
    layer.bias.assign(rng.normal(size=3).astype("float32"))
    x = rng.normal(size=(1, size, size, channels)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    for r, c in _raster_positions(rng, size):
        i = r * size + c
        first_hidden = i if mask_type == "A" else i + 1  # type A: pixels >= i are hidden; type B: > i
        changed = x.reshape(1, size * size, channels).copy()
        changed[0, first_hidden:] = rng.normal(size=changed[0, first_hidden:].shape)
        new = keras.ops.convert_to_numpy(layer(changed.reshape(x.shape)))
        np.testing.assert_allclose(new[0, r, c], out[0, r, c], rtol=1e-5, atol=1e-5)
        # the pixels it may see do matter: the one above, the one to the left, and (type B) the centre
        visible = [(r - 1, c)] * (r > 0) + [(r, c - 1)] * (c > 0) + [(r, c)] * (mask_type == "B")
        for rr, cc in visible:
            seen = x.copy()
            seen[0, rr, cc] += 3.0
            moved = keras.ops.convert_to_numpy(layer(seen))
            assert not np.allclose(moved[0, r, c], out[0, r, c])


def test_mask_type_a_hides_the_centre_and_b_keeps_it(ns):
    a, b = ns["pixelcnn_mask"](5, "A"), ns["pixelcnn_mask"](5, "B")
    assert a[2, 2] == 0 and b[2, 2] == 1
    assert (a[:2] == 1).all() and (a[2, :2] == 1).all() and (a[2, 3:] == 0).all() and (a[3:] == 0).all()
    np.testing.assert_array_equal(b - a, np.eye(5)[2][:, None] * np.eye(5)[2][None, :])


def test_pixelcnn_logit_at_i_depends_only_on_pixels_before_i(ns):
    import keras

    keras.utils.set_random_seed(0)
    model = ns["build_pixelcnn"](8, 2, image_shape=(10, 10, 1))
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(1, 10, 10, 1)) < 0.5).astype("float32")
    out = keras.ops.convert_to_numpy(model(x))
    for r, c in _raster_positions(rng, 10):
        i = r * 10 + c
        changed = x.reshape(1, 100).copy()
        changed[0, i:] = 1.0 - changed[0, i:]  # flip pixel i and every later pixel
        new = keras.ops.convert_to_numpy(model(changed.reshape(x.shape)))
        np.testing.assert_allclose(new[0, r, c], out[0, r, c], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(new.reshape(100)[:i], out.reshape(100)[:i], rtol=1e-5, atol=1e-5)
    flipped = keras.ops.convert_to_numpy(model(1.0 - x))
    assert not np.allclose(flipped.reshape(100)[1:], out.reshape(100)[1:])  # it does read the past


def test_image_nll_is_the_summed_bernoulli_cross_entropy(ns):
    rng = np.random.default_rng(2)
    x = (rng.uniform(size=(3, 4, 4, 1)) < 0.5).astype("float32")
    logits = rng.normal(0, 30, size=x.shape).astype("float32")
    l64 = logits.astype("float64")
    want = np.sum((np.logaddexp(0.0, l64) - x * l64).reshape(3, -1), axis=1)  # -log sigmoid(+-l), stably
    np.testing.assert_allclose(np.asarray(ns["image_nll"](x, logits)), want, rtol=1e-5)


def test_sampler_keeps_known_pixels_and_fills_the_rest(ns):
    import keras

    keras.utils.set_random_seed(0)
    model = ns["build_pixelcnn"](4, 1, image_shape=(6, 6, 1))
    sample = ns["make_pixel_sampler"](model, height=6, width=6)
    known = np.zeros((2, 6, 6, 1), "float32")
    known[:, :3] = 1.0
    x = np.zeros((2, 6, 6, 1), "float32")
    x[:, :3] = 1.0
    out = sample(x, known, np.array([0, 1], "int32")).numpy()
    assert set(np.unique(out)) <= {0.0, 1.0}
    np.testing.assert_array_equal(out[:, :3], 1.0)
    a = sample(np.zeros_like(x), np.zeros_like(known), np.array([0, 1], "int32")).numpy()
    b = sample(np.zeros_like(x), np.zeros_like(known), np.array([0, 2], "int32")).numpy()
    assert not np.array_equal(a, b)  # fresh randomness for a new seed


@pytest.mark.parametrize("n_blocks", [1, 2])
def test_windowed_sampler_draws_exactly_what_the_whole_image_sampler_draws(ns, n_blocks):
    """The window of reach + 1 rows and 2 reach + 1 columns holds all that pixel i's logit reads."""
    import keras

    keras.utils.set_random_seed(n_blocks)
    size = 12
    model = ns["build_pixelcnn"](6, n_blocks, first_kernel=5)
    for layer in model.layers:  # biases away from 0, so that zero padding would show if it leaked in
        for w in layer.weights:
            if "bias" in w.path:
                w.assign(np.random.default_rng(0).normal(0, 0.5, w.shape).astype("float32"))
    reach = ns["pixelcnn_reach"](5, n_blocks)
    whole = ns["make_pixel_sampler"](model, height=size, width=size)
    windowed = ns["make_pixel_sampler"](model, height=size, width=size, reach=reach)
    x = np.zeros((8, size, size, 1), "float32")
    known = np.zeros_like(x)
    known[4:, : size // 2] = 1.0  # half the batch completes a given top half
    x[4:, : size // 2] = (np.random.default_rng(1).uniform(size=(4, size // 2, size, 1)) < 0.4).astype("float32")
    seed = np.array([3, 4], "int32")
    a, b = whole(x, known, seed).numpy(), windowed(x, known, seed).numpy()
    np.testing.assert_array_equal(a, b)
    assert 0 < a[:, size // 2 :].mean() < 1  # it drew something in the free pixels
    # a window one pixel smaller each way changes the logit: the reach is not over-generous
    logits = model(a, training=False).numpy()
    window = a[:, size - reach : size, : 2 * reach - 1]  # what the short sampler sees for pixel (size-1, reach-1)
    assert not np.allclose(model(window, training=False).numpy()[:, -1, reach - 1], logits[:, -1, reach - 1])


@pytest.mark.parametrize("length", [1, 5, 12])
def test_causal_mask_is_lower_triangular(ns, length):
    import keras

    mask = keras.ops.convert_to_numpy(ns["causal_mask"](length))
    np.testing.assert_array_equal(mask, np.tril(np.ones((length, length), bool)))


def test_attention_and_transformer_output_at_t_ignore_tokens_after_t(ns):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(3)
    attention = ns["CausalSelfAttention"](16, 4)
    h = rng.normal(size=(2, 12, 16)).astype("float32")
    out = keras.ops.convert_to_numpy(attention(h))
    model = ns["build_char_transformer"](20, 12, 16, 4, 2)
    tokens = rng.integers(0, 20, size=(2, 12)).astype("int32")
    logits = keras.ops.convert_to_numpy(model(tokens))
    for t in [0, 4, 10]:
        h2 = h.copy()
        h2[:, t + 1:] = rng.normal(size=h2[:, t + 1:].shape)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(attention(h2))[:, : t + 1], out[:, : t + 1],
                                   rtol=1e-5, atol=1e-5)
        tokens2 = tokens.copy()
        tokens2[:, t + 1:] = (tokens2[:, t + 1:] + 1 + rng.integers(0, 18, size=tokens2[:, t + 1:].shape)) % 20
        logits2 = keras.ops.convert_to_numpy(model(tokens2))
        np.testing.assert_allclose(logits2[:, : t + 1], logits[:, : t + 1], rtol=1e-4, atol=1e-4)
        assert not np.allclose(logits2[:, t + 1:], logits[:, t + 1:])  # later positions do see them
    h3 = h.copy()
    h3[:, 0] += 1.0  # position 0 is seen by every later position
    assert not np.allclose(keras.ops.convert_to_numpy(attention(h3))[:, 1:], out[:, 1:])
