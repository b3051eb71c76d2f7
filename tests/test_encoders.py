import numpy as np
import pytest
from PIL import Image

from kqbench.encoders import (
    LabelsPNG,
    PillowPalettePNG,
    PyPNGPalettePNG,
    RGB24PNG,
    SmallestPalettePNG,
    minimal_bit_depth,
    png_header,
    read_chunks,
)
from kqbench.errors import ConfigurationError
from kqbench.quantizers import KMeansQuantizer


def quantized(img, k):
    q = KMeansQuantizer(n_colors=k, random_state=0).fit(img)
    return q.predict(img).reshape(img.shape[:2]), q.palette_


@pytest.mark.parametrize("k, depth", [(2, 1), (4, 2), (16, 4), (64, 8)])
def test_pillow_png8_uses_smallest_bit_depth(tmp_path, photo, k, depth):
    labels, palette = quantized(photo, k)
    assert len(palette) == k  # the photo has far more colours than k
    path = tmp_path / "x.png"
    PillowPalettePNG().write(labels, palette, path)
    assert png_header(path) == {"width": 96, "height": 64, "bit_depth": depth, "colour_type": "palette",
                                "trns_bytes": 0}
    plte = [c for c in read_chunks(path) if c.type == "PLTE"][0]
    assert plte.length == 3 * k  # no padding entries


@pytest.mark.parametrize("bitdepth, k, expected", [(8, 4, 8), ("minimal", 4, 2), ("minimal", 16, 4)])
def test_pypng_bit_depth(tmp_path, photo, bitdepth, k, expected):
    labels, palette = quantized(photo, k)
    path = tmp_path / "x.png"
    PyPNGPalettePNG(bitdepth=bitdepth).write(labels, palette, path)
    assert png_header(path)["bit_depth"] == expected


@pytest.mark.parametrize("encoder", [RGB24PNG(), LabelsPNG(), PillowPalettePNG(), PyPNGPalettePNG(),
                                     SmallestPalettePNG()], ids=lambda e: type(e).__name__)
def test_round_trip_is_exact(tmp_path, photo, encoder):
    labels, palette = quantized(photo, 16)
    path = tmp_path / "x.png"
    encoder.write(labels, palette, path)
    assert np.array_equal(encoder.decode(path), encoder.expected(labels, palette))


def test_png8_smaller_than_rgb24_on_a_photo(tmp_path, photo):
    labels, palette = quantized(photo, 64)
    sizes = {}
    for enc in (RGB24PNG(), PillowPalettePNG(), PyPNGPalettePNG()):
        path = tmp_path / f"{type(enc).__name__}.png"
        enc.write(labels, palette, path)
        sizes[type(enc).__name__] = path.stat().st_size
    assert sizes["PillowPalettePNG"] < sizes["RGB24PNG"]
    assert sizes["PyPNGPalettePNG"] < sizes["RGB24PNG"]


def test_labels_image_is_grey_without_palette(tmp_path, photo):
    labels, palette = quantized(photo, 16)
    path = tmp_path / "labels.png"
    LabelsPNG().write(labels, palette, path)
    assert png_header(path)["colour_type"] == "grey"
    assert not any(c.type == "PLTE" for c in read_chunks(path))


def test_round_trip_detects_a_wrong_file(tmp_path, photo):
    labels, palette = quantized(photo, 16)
    path = tmp_path / "x.png"
    PillowPalettePNG().write(labels, palette, path)
    shuffled = palette[::-1].copy()
    assert not np.array_equal(PillowPalettePNG().decode(path), PillowPalettePNG().expected(labels, shuffled))


@pytest.mark.parametrize("encoder", [PillowPalettePNG(), PyPNGPalettePNG(), SmallestPalettePNG()],
                         ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("k", [1, 257, 1000])
def test_png8_refuses_k_outside_2_256(encoder, k):
    with pytest.raises(ConfigurationError, match="2..256"):
        encoder.check_k(k)


def test_minimal_bit_depth():
    assert [minimal_bit_depth(n) for n in (1, 2, 3, 4, 5, 16, 17, 256)] == [1, 1, 2, 2, 4, 4, 8, 8]
    with pytest.raises(ConfigurationError):
        minimal_bit_depth(257)


def test_read_chunks_rejects_non_png(tmp_path):
    p = tmp_path / "fake.png"
    p.write_text("not a png")
    with pytest.raises(ValueError, match="not a PNG"):
        read_chunks(p)
    Image.new("RGB", (4, 4)).save(p)
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(ValueError, match="truncated|corrupt"):
        read_chunks(p)
