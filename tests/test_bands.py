"""Band by band is the same as the whole image at once.

The metrics, colour counting, decoding, label counting and the round-trip check work a band of pixels at a
time (``kqbench.pixels.BAND_PIXELS``: 1M pixels) so that a 24 MP image needs a few MB of temporaries. Here the
bands are made a few hundred pixels, so small images have many, and every value is compared, exactly, with
the whole-image formula each replaced.
"""

import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kqbench import metrics, pixels
from kqbench.datasets import SourceImage, generated_image
from kqbench.encoders import RGB24PNG, PillowPalettePNG, SmallestPalettePNG
from kqbench.measure import Quantized, measure_file
from kqbench.quantizers import WuQuantizer, compact_palette


@pytest.fixture(autouse=True)
def small_bands(monkeypatch):
    """Bands of 300 pixels (not a divisor of the images' sizes) in every kqbench module, ΔE pairs 7 at a time."""
    for module in [m for name, m in sys.modules.items() if name.startswith("kqbench")]:
        if isinstance(getattr(module, "BAND_PIXELS", None), int):
            monkeypatch.setattr(module, "BAND_PIXELS", 300)
    monkeypatch.setattr(metrics, "_LAB_PAIRS", 7)


def _images():
    """(original, quantized) pairs: a photo-like RGB image and an RGBA sprite, each against a 12-colour version."""
    out = []
    for kind in ("noise", "sprite"):
        image = generated_image(kind, 53, 37, seed=1).pixels
        flat = image.reshape(-1, image.shape[-1])
        quantized = (flat // 64 * 64 + 32).astype(np.uint8)  # few colours, many (original, result) pairs
        if image.shape[-1] == 4:
            quantized[:, 3] = flat[:, 3] // 128 * 255
        out.append((image, quantized.reshape(image.shape)))
    return out


# --- the whole-image formulas the banded code replaced (kqbench before bounding its memory) ---------------------

def _whole_mse(a, b):
    if a.shape[-1] == 4:
        x, y = a.reshape(-1, 4).astype(np.int64), b.reshape(-1, 4).astype(np.int64)
        colour = x[:, :3] * x[:, 3:] - y[:, :3] * y[:, 3:]
        alpha = (x[:, 3] - y[:, 3]) * 255
        return (int(np.vdot(colour, colour)) + int(np.vdot(alpha, alpha))) / (255 * 255 * 4 * len(x))
    diff = a.reshape(-1).astype(np.int64) - b.reshape(-1).astype(np.int64)
    return int(np.vdot(diff, diff)) / diff.size


def _whole_max_error(a, b):
    if a.shape[-1] == 4:
        x, y = a.reshape(-1, 4).astype(np.int32), b.reshape(-1, 4).astype(np.int32)
        colour = np.abs(x[:, :3] * x[:, 3:] - y[:, :3] * y[:, 3:]).max()
        return max(float(colour) / 255, float(np.abs(x[:, 3] - y[:, 3]).max()))
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _pack(rgb):
    p = np.asarray(rgb).reshape(-1, 3).astype(np.uint32)
    return (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]


def _whole_delta_e2000(a, b):
    from skimage.color import deltaE_ciede2000

    if a.shape[-1] == 4:
        a, b = metrics.composite_on_black(a), metrics.composite_on_black(b)
    pa, pb = _pack(a), _pack(b)
    differ = pa != pb
    codes, pairs = pd.factorize((pa[differ].astype(np.uint64) << np.uint64(24)) | pb[differ])
    counts = np.bincount(codes, minlength=len(pairs)).astype(np.float64)
    pairs = np.asarray(pairs, dtype=np.uint64)
    lab_a = metrics._packed_to_lab((pairs >> np.uint64(24)).astype(np.uint32))
    b_codes, b_colours = pd.factorize((pairs & np.uint64(0xFFFFFF)).astype(np.uint32))
    lab_b = metrics._packed_to_lab(np.asarray(b_colours, dtype=np.uint32))[b_codes]
    return float(np.dot(deltaE_ciede2000(lab_a, lab_b, channel_axis=-1), counts) / len(pa))


@pytest.mark.parametrize("which", [0, 1], ids=["rgb", "rgba"])
def test_banded_metrics_equal_the_whole_image_formulas(which):
    original, quantized = _images()[which]
    assert metrics.mse(original, quantized) == _whole_mse(original, quantized)
    assert metrics.max_error(original, quantized) == _whole_max_error(original, quantized)
    assert metrics.mean_delta_e2000(original, quantized) == _whole_delta_e2000(original, quantized) > 0
    labels = np.random.default_rng(0).integers(0, 40, (37, 53)).astype(np.uint8)
    counts = np.bincount(labels.ravel())
    p = counts[counts > 0] / labels.size
    assert metrics.label_entropy(labels) == float(-(p * np.log2(p)).sum())
    assert np.array_equal(pixels.label_counts(labels, minlength=50), np.bincount(labels.ravel(), minlength=50))


@pytest.mark.parametrize("which", [0, 1], ids=["rgb", "rgba"])
def test_delta_e2000_from_the_images_colours_equals_the_per_pair_formula(which):
    original, quantized = _images()[which]
    coarser = np.where(original < 128, 0, 255).astype(np.uint8)
    for result in (quantized, coarser):  # the second reuses the first's colours of the image
        if which == 0:  # (RGBA: colours that composite alike may be quantized apart; then counted pair by pair)
            assert metrics._pairs_by_source_colour(original, result) is not None
        assert metrics.mean_delta_e2000(original, result) == _whole_delta_e2000(original, result) > 0
    # one colour quantized two ways (as dithering does): counted pair by pair, still the same formula
    flat = original.reshape(-1, original.shape[-1])
    _, first, counts = np.unique(_pack(flat[:, :3]), return_index=True, return_counts=True)
    dithered = coarser.copy().reshape(flat.shape)
    dithered[first[counts > 1][0]] = 128
    dithered = dithered.reshape(original.shape)
    assert metrics._pairs_by_source_colour(original, dithered) is None
    assert metrics.mean_delta_e2000(original, dithered) == _whole_delta_e2000(original, dithered) > 0


def test_banded_colour_count_and_compaction_equal_numpys():
    for image, _ in _images():
        source = SourceImage("x", np.ascontiguousarray(image[..., :3]), "RGB", 0, "x",
                             np.ascontiguousarray(image[..., 3]) if image.shape[-1] == 4 else None)
        flat = image.reshape(-1, image.shape[-1])
        assert source.unique_colours == len(np.unique(flat, axis=0))
    labels = np.random.default_rng(1).integers(0, 30, 53 * 37) * 2  # every odd colour unused
    palette = np.random.default_rng(2).integers(0, 256, (64, 3), dtype=np.uint8)
    used = np.bincount(labels, minlength=64) > 0
    new_labels, new_palette = compact_palette(labels, palette)
    assert new_labels.dtype == np.uint8 and np.array_equal(new_labels, (np.cumsum(used) - 1)[labels])
    assert np.array_equal(new_palette, palette[used])


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "P+tRNS", "I;16"])
def test_banded_decoding_equals_pillows_whole_image_conversion(tmp_path, mode):
    rgba = generated_image("sprite", 53, 37, seed=2).pixels
    im = Image.fromarray(rgba, "RGBA")
    if mode == "P+tRNS":
        im = im.convert("RGB").quantize(16)
        im.info["transparency"] = 3
    elif mode == "I;16":
        im = Image.fromarray((rgba[..., 0].astype(np.uint16) << 8) | rgba[..., 1])
    else:
        im = im.convert(mode)
    path = tmp_path / "im.png"
    im.save(path)
    with Image.open(path) as opened:
        assert np.array_equal(pixels.as_array(opened), np.asarray(opened))
        expected = np.asarray(opened.convert("RGBA" if pixels.has_transparency(opened) else "RGB"))
        assert np.array_equal(pixels.decoded_pixels(opened), expected)


def test_quantized_image_and_the_files_are_the_whole_arrays(tmp_path):
    image = generated_image("noise", 53, 37, seed=3)
    quantizer = WuQuantizer(16).fit(image.pixels)
    labels, palette = compact_palette(quantizer.predict(image.pixels), quantizer.palette_)
    labels = labels.reshape(37, 53)
    assert np.array_equal(np.asarray(pixels.quantized_image(labels, palette)), palette[labels])
    Image.fromarray(palette[labels]).save(tmp_path / "whole.png")
    RGB24PNG().write(labels, palette, tmp_path / "banded.png")
    assert (tmp_path / "whole.png").read_bytes() == (tmp_path / "banded.png").read_bytes()


class _OffByOnePalette(PillowPalettePNG):
    """Writes the first ``wrong`` pixels of every row with the next palette index: a round trip that fails
    (checked by palette index)."""

    wrong = 2

    def _write_indices(self, labels, palette, path):
        labels = labels.copy()
        labels[:, :self.wrong] = (labels[:, :self.wrong] + 1) % len(palette)
        super()._write_indices(labels, palette, path)


class _OffByOneColour(RGB24PNG):
    """Decodes its file with the first ``wrong`` pixels of every row changed (checked by colour)."""

    wrong = 2

    def decode(self, path):
        decoded = super().decode(path).copy()
        decoded[:, :self.wrong, 0] ^= 1
        return decoded


def test_the_banded_round_trip_check_counts_every_differing_pixel(tmp_path):
    image = generated_image("noise", 53, 37, seed=4)
    quantizer = WuQuantizer(16).fit(image.pixels)
    labels, palette = compact_palette(quantizer.predict(image.pixels), quantizer.palette_)
    q = Quantized(labels.reshape(37, 53), palette, 0.0, 0.0, {"mse": 1.0})
    for encoder in (SmallestPalettePNG(), RGB24PNG()):
        assert measure_file(image, q, encoder, tmp_path / "ok.png", 1)["roundtrip_ok"]
    for bad in (_OffByOnePalette(), _OffByOneColour()):
        row = measure_file(image, q, bad, tmp_path / "bad.png", 1)
        assert not row["roundtrip_ok"] and row["error"].endswith(f"({37 * 2} pixels differ)")
