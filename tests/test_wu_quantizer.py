"""kqbench's Wu quantizer: palette contract, exact remap, the greedy cuts, RGBA refusal, config."""

import inspect
from importlib import resources

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import OmegaConf

from kqbench.errors import ConfigurationError
from kqbench.metrics import mse
from kqbench.quantizers import FastKMeansQuantizer, PillowQuantizer, Quantizer, WuQuantizer, unique_colours
from kqbench.quantizers import wu
from kqbench.quantizers.wu import nearest_labels
from kqbench.settings import describe


def brute_force_nearest(palette, pixels):
    """First index of the smallest squared RGB distance (np.argmin keeps the first of equals)."""
    d = ((pixels[:, None, :].astype(np.int64) - palette[None, :, :].astype(np.int64)) ** 2).sum(axis=2)
    return d.argmin(axis=1)


@pytest.mark.parametrize("k", [1, 2, 16, 64, 256])
def test_palette_is_at_most_k_distinct_uint8_colours(photo, k):
    q = WuQuantizer(n_colors=k).fit(photo)
    assert q.palette_.dtype == np.uint8 and q.palette_.ndim == 2 and q.palette_.shape[1] == 3
    assert 1 <= len(q.palette_) <= k
    assert len(unique_colours(q.palette_)[0]) == len(q.palette_)
    labels = q.predict(photo)
    assert labels.shape == (photo.shape[0] * photo.shape[1],) and labels.dtype == np.uint8
    assert labels.max() < len(q.palette_)


@pytest.mark.parametrize("k", [2, 16, 64])
def test_predict_is_the_exact_nearest_palette_colour(photo, k):
    q = WuQuantizer(n_colors=k).fit(photo)
    pixels = photo.reshape(-1, 3)
    np.testing.assert_array_equal(q.predict(photo), brute_force_nearest(q.palette_, pixels))


@pytest.fixture(params=["search", "map"])
def remap_path(request, monkeypatch):
    """predict's two exact searches: per pixel in its cell's list (small images), or through an
    inverse colour map of the occupied cells (large images), forced here on small ones."""
    monkeypatch.setattr(wu, "_MAP_PIXELS_PER_CELL", 1 << 40 if request.param == "search" else 0)
    return request.param


@pytest.mark.parametrize("m", [1, 7, 300])
def test_remap_matches_brute_force_anywhere_in_the_cube(m, remap_path):
    """Random colours over the whole cube, random palettes (more than 256 colours: uint16 labels)."""
    rng = np.random.default_rng(m)
    palette = unique_colours(rng.integers(0, 256, (m, 3), dtype=np.uint8))[0]
    pixels = rng.integers(0, 256, (8000, 3), dtype=np.uint8)
    labels = nearest_labels(palette, pixels)
    assert labels.dtype == (np.uint8 if len(palette) <= 256 else np.uint16)
    np.testing.assert_array_equal(labels, brute_force_nearest(palette, pixels))


def test_remap_of_a_photo_matches_brute_force(photo, remap_path):
    q = WuQuantizer(n_colors=256).fit(photo)
    np.testing.assert_array_equal(q.predict(photo), brute_force_nearest(q.palette_, photo.reshape(-1, 3)))


def test_remap_ties_go_to_the_lower_index(remap_path):
    palette = np.array([[10, 0, 0], [0, 0, 0], [6, 0, 0], [14, 0, 0]], np.uint8)
    pixels = np.array([[12, 0, 0], [3, 0, 0], [8, 0, 0], [1, 0, 0]], np.uint8)  # three ties, then not
    np.testing.assert_array_equal(nearest_labels(palette, pixels), [0, 1, 0, 1])


def test_an_image_with_at_most_k_colours_is_reproduced_exactly():
    rng = np.random.default_rng(0)
    colours = unique_colours(rng.integers(0, 256, (12, 3), dtype=np.uint8))[0]
    image = colours[rng.integers(0, len(colours), (40, 30))]
    for k in (len(colours), 16, 256):
        q = WuQuantizer(n_colors=k).fit(image)
        np.testing.assert_array_equal(q.palette_, colours)  # the base class's order: sorted 0xRRGGBB
        np.testing.assert_array_equal(q.palette_[q.predict(image)].reshape(image.shape), image)
        assert len(q.boxes_) == 0 and len(q.cut_errors_) == 0
    single = np.full((5, 7, 3), (200, 30, 90), np.uint8)
    np.testing.assert_array_equal(WuQuantizer(n_colors=4).fit(single).palette_, [[200, 30, 90]])


def test_colours_in_fewer_cells_than_k_give_at_most_one_colour_per_cell():
    """Wu's boxes are made of histogram cells: 40 colours in 2 cells of side 8 give 2 colours
    at bits=5, and more at bits=7 (cells of side 2)."""
    rng = np.random.default_rng(1)
    low = rng.integers(0, 8, (20, 3))
    image = np.concatenate([low, low + 200]).astype(np.uint8)[rng.integers(0, 40, 500)]
    assert len(unique_colours(image)[0]) > 16
    assert len(WuQuantizer(n_colors=16).fit(image).palette_) == 2
    assert len(WuQuantizer(n_colors=16, bits=7).fit(image).palette_) > 2


def test_deterministic_and_random_state_is_unused(photo):
    a = WuQuantizer(n_colors=32, random_state=0).fit(photo)
    b = WuQuantizer(n_colors=32, random_state=123).fit(photo)
    c = WuQuantizer(n_colors=32, random_state=None).fit(photo.copy())
    np.testing.assert_array_equal(a.palette_, b.palette_)
    np.testing.assert_array_equal(a.palette_, c.palette_)
    np.testing.assert_array_equal(a.predict(photo), c.predict(photo))


def test_input_layouts_give_the_same_palette(photo):
    flat = photo.reshape(-1, 3)
    frozen = flat.copy()
    frozen.flags.writeable = False
    palettes = [WuQuantizer(n_colors=16).fit(x).palette_ for x in (photo, flat, frozen)]
    for p in palettes[1:]:
        np.testing.assert_array_equal(p, palettes[0])


def box_labels(boxes, pixels):
    """Which box each pixel falls in (-1: none), from the boxes' inclusive value ranges."""
    inside = np.ones((len(pixels), len(boxes)), bool)
    for c in range(3):
        v = pixels[:, c:c + 1].astype(np.int64)
        inside &= (v >= boxes[None, :, c, 0]) & (v <= boxes[None, :, c, 1])
    assert (inside.sum(axis=1) == 1).all(), "every pixel in exactly one box"
    return inside.argmax(axis=1)


def test_each_greedy_cut_lowers_the_total_within_box_error(photo):
    q = WuQuantizer(n_colors=64).fit(photo)
    errors = q.cut_errors_
    assert len(errors) == len(q.boxes_) == 64
    assert (np.diff(errors) < 0).all()
    # The boxes partition the colour cube, and the last error is that of the pixels about
    # their box means, recomputed here from the pixels.
    volumes = np.prod(q.boxes_[:, :, 1] - q.boxes_[:, :, 0] + 1, axis=1)
    assert volumes.sum() == 256**3
    pixels = photo.reshape(-1, 3)
    which = box_labels(q.boxes_, pixels)
    sse = 0.0
    for j in np.unique(which):
        members = pixels[which == j].astype(np.float64)
        sse += ((members - members.mean(axis=0)) ** 2).sum()
    assert errors[-1] == pytest.approx(sse, rel=1e-9)
    # Each pixel to its nearest (rounded) colour: no worse than to its box mean, up to the
    # rounding (at most 3 * 0.5**2 per pixel).
    assert mse(photo, q.palette_[q.predict(photo)].reshape(photo.shape)) * pixels.size <= sse + 0.75 * len(pixels)


def _exact_moments(pixels, bits):
    side = (1 << bits) + 1
    p = pixels.astype(np.int64)
    cell = np.ravel_multi_index(tuple((p[:, c] >> (8 - bits)) + 1 for c in range(3)), (side,) * 3)
    values = [np.ones(len(p), np.int64), p[:, 0], p[:, 1], p[:, 2], (p * p).sum(axis=1)]
    return np.stack([np.bincount(cell, v, side ** 3).astype(np.int64) for v in values], axis=1)


@pytest.mark.parametrize("bits", [3, 5])
def test_the_histogram_moments_are_exact_across_packed_batches(photo, bits, monkeypatch):
    pixels = photo.reshape(-1, 3)[:5000]
    monkeypatch.setattr(wu, "_PACKED_PIXELS", 999)  # several batches, the last a partial one
    side = (1 << bits) + 1
    m = wu._moments_of(pixels, wu._row_table(side, 8 - bits), side)
    assert (m.reshape(-1, 5) == _exact_moments(pixels, bits)).all()


def test_a_full_packed_batch_of_white_pixels_does_not_overflow():
    pixels = np.full((wu._PACKED_PIXELS, 3), 255, np.uint8)  # the largest sums a batch's 32-bit halves hold
    m = wu._moments_of(pixels, wu._row_table(33, 3), 33)
    assert m[32, 32, 32].tolist() == [len(pixels)] + [255 * len(pixels)] * 3 + [3 * 255 ** 2 * len(pixels)]
    assert m.sum(axis=(0, 1, 2))[0] == len(pixels)


@pytest.mark.parametrize("levels", [2, 4])
def test_beats_a_uniform_palette_on_a_photo(photo, levels):
    axis = (np.arange(levels) * 256 + 128) // levels  # centres of equal slices of each channel
    uniform = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.uint8)
    pixels = photo.reshape(-1, 3)
    q = WuQuantizer(n_colors=levels**3).fit(photo)
    wu_mse = mse(pixels, q.palette_[q.predict(photo)])
    assert wu_mse < 0.5 * mse(pixels, uniform[brute_force_nearest(uniform, pixels)])


def test_rgba_input_is_a_one_line_configuration_error(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
    q = WuQuantizer(n_colors=8)
    assert not q.takes_alpha and WuQuantizer.alpha_support is None
    with pytest.raises(ConfigurationError) as info:
        q.fit(rgba)
    message = str(info.value)
    assert "\n" not in message and "WuQuantizer" in message and "alpha=drop" in message


@pytest.mark.parametrize("params", [{"n_colors": 0}, {"n_colors": 2.5}, {"n_colors": True}, {"bits": 0},
                                    {"bits": 8}, {"bits": "5"}])
def test_bad_parameters_are_clear_errors(photo, params):
    with pytest.raises(ValueError, match=next(iter(params))):
        WuQuantizer(**params).fit(photo)


def test_unfitted_predict_is_an_error(photo):
    with pytest.raises(RuntimeError, match="not fitted"):
        WuQuantizer().predict(photo)


def test_class_metadata_places_wu_between_fast_kmeans_and_pillow():
    q = WuQuantizer(n_colors=8)
    assert isinstance(q, Quantizer) and q.family == "Wu"
    assert FastKMeansQuantizer.rank < q.rank == 65 < PillowQuantizer.rank
    row = describe("quantizer", "wu", q)
    assert row["quantizer_family"] == "Wu" and row["quantizer_takes_alpha"] is False
    assert row["quantizer.bits"] == 5 and "quantizer.random_state" not in row


def test_config_composes_and_its_defaults_are_the_class_defaults(photo):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module("kqbench.conf", version_base="1.3"):
            cfg = compose("config", overrides=["quantizer=wu", "k=8"])
    finally:
        GlobalHydra.instance().clear()
    q = instantiate(cfg.quantizer, n_colors=cfg.k, random_state=0)
    assert isinstance(q, WuQuantizer) and q.n_colors == 8
    assert len(q.fit(photo).palette_) == 8
    yaml = OmegaConf.to_container(OmegaConf.load(str(resources.files("kqbench.conf") / "quantizer" / "wu.yaml")))
    assert yaml.pop("_target_") == "kqbench.quantizers.WuQuantizer"
    defaults = {name: p.default for name, p in inspect.signature(WuQuantizer.__init__).parameters.items()
                if name not in ("self", "n_colors", "random_state")}
    assert yaml == defaults


def test_threads_do_not_change_the_result(photo):
    """Images of at least 2**20 pixels are split among threads (histogram and remap)."""
    big = np.tile(photo, (12, 12, 1))[:, :, :]  # 768 x 1152 = 884736 pixels ...
    big = np.concatenate([big, big[:, :, ::-1]])  # ... twice, the second half with other colours
    one = WuQuantizer(n_colors=64, n_threads=1).fit(big)
    two = WuQuantizer(n_colors=64, n_threads=2).fit(big)
    np.testing.assert_array_equal(one.palette_, two.palette_)
    np.testing.assert_array_equal(one.cut_errors_, two.cut_errors_)
    labels = one.predict(big)
    np.testing.assert_array_equal(labels, two.predict(big))
    sample = np.random.default_rng(0).integers(0, len(labels), 5000)
    np.testing.assert_array_equal(labels[sample], brute_force_nearest(one.palette_, big.reshape(-1, 3)[sample]))


@pytest.mark.parametrize("cls", [WuQuantizer, FastKMeansQuantizer])
def test_predict_on_the_fitted_pixels_is_exact_after_they_change_in_place(cls, photo, monkeypatch):
    """predict on the pixels of the last fit takes the cells the fit found occupied instead of
    finding them again; a pixel changed in place since, into a cell the fit never saw, is still
    answered exactly (and so is every other pixel)."""
    monkeypatch.setattr(wu, "_MAP_PIXELS_PER_CELL", 0)  # the inverse colour map: where the hint is used
    pixels = photo.reshape(-1, 3).copy()
    q = cls(16).fit(pixels)
    np.testing.assert_array_equal(q.predict(pixels), brute_force_nearest(q.palette_, pixels))
    occupied = set(((pixels[:, 0] >> 3).astype(int) << 10) | ((pixels[:, 1] >> 3).astype(int) << 5) | (pixels[:, 2] >> 3))
    new = next(c for c in range(32768) if c not in occupied)
    pixels[len(pixels) // 2] = ((new >> 10) << 3, ((new >> 5) & 31) << 3, (new & 31) << 3)
    np.testing.assert_array_equal(q.predict(pixels), brute_force_nearest(q.palette_, pixels))
