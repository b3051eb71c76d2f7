"""The k-means axes: colour space (rgb/lab/oklab), bisecting k-means, ΔE2000, the skimage dataset."""

import socket
from importlib import resources

import numpy as np
import pytest
import yaml
from skimage.color import deltaE_ciede2000, rgb2lab
from sklearn.datasets import load_sample_image

from kqbench.datasets import SkimageImages, SourceImage
from kqbench.metrics import mean_delta_e2000, mse
from kqbench.quantizers import (
    COLOUR_SPACES,
    BisectingKMeansQuantizer,
    KMeansQuantizer,
    MiniBatchKMeansQuantizer,
    SampledKMeansQuantizer,
    UniqueKMeansQuantizer,
    from_space,
    to_space,
)
from kqbench.quantizers.colour import _M1_INV, _M2_INV, rgb_to_oklab
from kqbench.cache import QuantizationCache
from kqbench.measure import quantize

ALL = [KMeansQuantizer, SampledKMeansQuantizer, UniqueKMeansQuantizer, MiniBatchKMeansQuantizer,
       BisectingKMeansQuantizer]


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A 64x48 crop of scikit-learn's china.jpg (2,000+ distinct colours)."""
    return np.ascontiguousarray(load_sample_image("china.jpg")[200:248, 300:364])


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_round_trip_through_the_colour_space(space):
    colours = np.random.default_rng(0).integers(0, 256, size=(10_000, 3)).astype(np.uint8)
    back = from_space(to_space(colours, space), space)
    assert np.abs(back - colours).max() <= 1e-6  # far inside the 0.5 that rounding forgives
    assert np.array_equal(np.rint(back).astype(np.uint8), colours)


def test_oklab_matches_ottossons_published_values():
    # sRGB red, white and black (red as in CSS Color 4: oklab(62.796% 0.22486 0.12585)).
    got = rgb_to_oklab(np.array([[255, 0, 0], [255, 255, 255], [0, 0, 0]], np.uint8))
    assert got == pytest.approx(np.array([[0.627955, 0.224863, 0.125846], [1, 0, 0], [0, 0, 0]]), abs=1e-5)
    # The inverse matrices computed from the forward ones are Ottosson's published inverses.
    published_m2_inv = [[1.0, 0.3963377774, 0.2158037573], [1.0, -0.1055613458, -0.0638541728],
                        [1.0, -0.0894841775, -1.2914855480]]
    published_m1_inv = [[4.0767416621, -3.3077115913, 0.2309699292], [-1.2684380046, 2.6097574011, -0.3413193965],
                        [-0.0041960863, -0.7034186147, 1.7076147010]]
    assert np.abs(_M2_INV - published_m2_inv).max() < 1e-7
    assert np.abs(_M1_INV - published_m1_inv).max() < 1e-8


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("space", COLOUR_SPACES)
def test_palette_labels_and_nearest_in_the_same_space(cls, space, crop):
    k = 8
    q = cls(n_colors=k, random_state=0, colour_space=space).fit(crop)
    labels = q.predict(crop)
    assert q.palette_.dtype == np.uint8 and 1 <= len(q.palette_) <= k
    assert len(np.unique(q.palette_, axis=0)) == len(q.palette_)
    assert labels.shape == (crop.shape[0] * crop.shape[1],) and labels.min() >= 0 and labels.max() < len(q.palette_)
    # Brute force: every pixel against every palette colour, distances in the clustering's space.
    x = to_space(crop.reshape(-1, 3), space)
    p = to_space(q.palette_, space)
    d = ((x[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(d[np.arange(len(x)), labels], d.min(1))


@pytest.mark.parametrize("space", ["lab", "oklab"])
def test_k_above_distinct_colours_stays_exact_in_every_space(space):
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [10, 20, 30], [200, 200, 200]], np.uint8)
    img = colours[np.arange(40 * 30).reshape(40, 30) % 5]
    q = KMeansQuantizer(n_colors=64, colour_space=space).fit(img)
    assert np.array_equal(q.palette_[q.predict(img)].reshape(img.shape), img)


def test_unknown_colour_space_is_a_clear_error(crop):
    with pytest.raises(ValueError, match="colour_space must be one of rgb, lab, oklab"):
        KMeansQuantizer(n_colors=4, colour_space="hsv").fit(crop)


def test_lab_clustering_lowers_delta_e2000_and_rgb_lowers_mse(crop):
    """Each space wins on its own error: CIELAB on ΔE2000 (a CIELAB-based measure), RGB on MSE."""
    out = {}
    for space in ("rgb", "lab"):
        q = KMeansQuantizer(n_colors=16, random_state=0, colour_space=space).fit(crop)
        quantized = q.palette_[q.predict(crop)].reshape(crop.shape)
        out[space] = (mean_delta_e2000(crop, quantized), mse(crop, quantized))
    assert out["lab"][0] < out["rgb"][0]
    assert out["rgb"][1] < out["lab"][1]


def test_mean_delta_e2000_is_the_per_pixel_mean(crop):
    q = UniqueKMeansQuantizer(n_colors=16).fit(crop)
    quantized = q.palette_[q.predict(crop)].reshape(crop.shape)
    per_pixel = deltaE_ciede2000(rgb2lab(crop), rgb2lab(quantized)).mean()
    assert mean_delta_e2000(crop, quantized) == pytest.approx(per_pixel, rel=1e-9)
    # Not only quantizations: any two images (a source colour may pair with many others).
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(30, 20, 3)).astype(np.uint8)
    b = a.copy()
    b[::2] = rng.integers(0, 256, size=b[::2].shape)
    assert mean_delta_e2000(a, b) == pytest.approx(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean(), rel=1e-9)
    assert mean_delta_e2000(crop, crop) == 0.0


def test_delta_e2000_is_the_same_whatever_blas_threads_the_caller_runs():
    # A sweep, verify and a notebook get the same value to the last bit: with two BLAS threads the sum of the
    # pairs came out in another order (7.765220698598543 against ...545 on china posterized).
    from threadpoolctl import threadpool_limits

    photo = load_sample_image("china.jpg")
    posterized = photo & 0xE0
    with threadpool_limits(1, "blas"):
        one = mean_delta_e2000(photo, posterized)
    with threadpool_limits(2, "blas"):
        assert mean_delta_e2000(photo, posterized) == one


def test_quantize_stores_delta_e2000_and_the_cache_keeps_it(crop, tmp_path):
    image = SourceImage("crop", crop, "RGB", 1, "test")
    q = quantize(image, KMeansQuantizer(n_colors=8, colour_space="lab"))
    assert q.values["delta_e2000"] == pytest.approx(mean_delta_e2000(crop, q.palette[q.labels]), rel=1e-12)
    cache = QuantizationCache(tmp_path)
    cache.put("key", q)
    assert cache.get("key").values["delta_e2000"] == q.values["delta_e2000"]
    assert QuantizationCache(tmp_path).get("key").values == q.values  # from disk, in another process


@pytest.mark.parametrize("strategy", ["biggest_inertia", "largest_cluster"])
def test_bisecting_invariants(strategy, crop):
    q = BisectingKMeansQuantizer(n_colors=16, bisecting_strategy=strategy, random_state=3).fit(crop)
    assert 1 <= len(q.palette_) <= 16 and len(np.unique(q.palette_, axis=0)) == len(q.palette_)
    assert q.predict(crop).max() < len(q.palette_)
    again = BisectingKMeansQuantizer(n_colors=16, bisecting_strategy=strategy, random_state=3).fit(crop)
    assert np.array_equal(q.palette_, again.palette_)
    assert set(q.get_params()) >= {"bisecting_strategy", "n_init", "max_iter", "init", "algorithm",
                                   "random_state", "colour_space"}
    single = np.full((5, 7, 3), 9, np.uint8)
    assert BisectingKMeansQuantizer(n_colors=4).fit(single).palette_.tolist() == [[9, 9, 9]]


def test_every_quantizer_yaml_exposes_the_kmeans_axes():
    folder = resources.files("kqbench.conf") / "quantizer"
    for name in ("kmeans", "sampled", "unique", "minibatch", "bisecting"):
        cfg = yaml.safe_load((folder / f"{name}.yaml").read_text())
        assert cfg["colour_space"] == "rgb" and {"init", "n_init", "max_iter"} <= set(cfg), name
        assert name == "minibatch" or cfg["algorithm"] == "lloyd", name


def test_skimage_photos_load_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    loaded = [source.load() for source in SkimageImages()]
    assert len(loaded) >= 3
    for image in loaded:
        assert image.rgb.dtype == np.uint8 and image.rgb.ndim == 3 and image.rgb.shape[2] == 3
        assert image.original_mode == "RGB"
        assert image.original_bytes == SkimageImages.path(image.name).stat().st_size > 0
    assert {"astronaut", "coffee", "chelsea"} <= {image.name for image in loaded}
