"""Images with transparency: read with their alpha, quantized in premultiplied RGBA, written with it."""

import struct
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kqbench.datasets import AlphaSamples, ImageFolder, SourceImage, load_image_file
from kqbench.encoders import (
    JPEGMatched,
    LabelsPNG,
    PillowPalettePNG,
    PyPNGPalettePNG,
    RGB24PNG,
    SmallestPalettePNG,
    WebPLossless,
    WebPMatched,
    png_header,
    read_chunks,
)
from kqbench.errors import ConfigurationError
from kqbench.metrics import mse
from kqbench.quantizers import (
    FastKMeansQuantizer,
    KMeansQuantizer,
    LibimagequantQuantizer,
    PillowQuantizer,
    UniqueKMeansQuantizer,
    WuQuantizer,
)
from kqbench.cache import QuantizationCache
from kqbench.runner import run_configuration
from kqbench.table import aggregate
from kqbench.verify import verify

from helpers import SETTINGS


def sprite(width=48, height=32, seed=0) -> np.ndarray:
    """A small RGBA image: a soft-edged disc over a transparent background whose hidden RGB is noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    alpha = np.clip(12 - np.hypot(xx - width / 2, yy - height / 2), 0, 1) * 255
    alpha[2:6, 2:20] = 128  # a translucent bar
    rgba = np.empty((height, width, 4), np.uint8)
    rgba[..., :3] = rng.integers(0, 256, (height, width, 3))  # invisible wherever alpha is 0
    rgba[yy + xx < width, :3] = (200, 40, 40)
    rgba[..., 3] = np.rint(alpha)
    return rgba


def source(rgba, name="sprite") -> SourceImage:
    return SourceImage(name, np.ascontiguousarray(rgba[..., :3]), "RGBA", 1000, f"test:{name}",
                       np.ascontiguousarray(rgba[..., 3]))


# --- reading --------------------------------------------------------------------------------------------------

def test_rgba_palette_and_colour_key_files_keep_their_alpha(tmp_path):
    rgba = sprite()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgba[..., [0, 3]].copy(), "LA").save(tmp_path / "la.png")
    p = Image.fromarray(np.arange(48 * 32).reshape(32, 48).astype(np.uint8) % 4, "P")
    p.putpalette(bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]))
    p.info["transparency"] = 0
    p.save(tmp_path / "trns.png")
    for name in ("rgba", "la", "trns"):
        image = load_image_file(tmp_path / f"{name}.png")
        assert image.has_alpha and image.pixels.shape == (32, 48, 4), name
    assert np.array_equal(load_image_file(tmp_path / "rgba.png").pixels, rgba)
    assert (load_image_file(tmp_path / "trns.png").alpha == 0).sum() == 48 * 32 // 4


def test_an_opaque_rgba_file_is_read_as_rgb(tmp_path):
    rgba = sprite()
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    image = load_image_file(tmp_path / "opaque.png")
    assert not image.has_alpha and image.pixels.shape == (32, 48, 3) and image.original_mode == "RGBA"


def test_alpha_samples_are_bundled_or_generated_and_have_transparency():
    images = [s.load() for s in AlphaSamples(width=64, height=48)]
    assert [im.name for im in images] == ["logo2", "Minduka_Present_Blue_Pack", "sprite", "vignette"]
    for im in images:
        assert im.has_alpha and (im.alpha == 0).any() and ((im.alpha > 0) & (im.alpha < 255)).any(), im.name


# --- quantizing and measuring ---------------------------------------------------------------------------------

def test_premultiplied_mse_ignores_colour_under_full_transparency():
    a = np.array([[[10, 20, 30, 0], [100, 100, 100, 255], [200, 0, 0, 51]]], np.uint8)
    b = np.array([[[250, 0, 9, 0], [100, 100, 100, 255], [0, 0, 0, 51]]], np.uint8)
    # only the third pixel differs visibly: red 200 at alpha 0.2 -> premultiplied 40, against 0
    assert mse(a, b) == pytest.approx(40.0 ** 2 / 12)
    c = b.copy()
    c[0, 1, 3] = 0  # an opaque pixel made transparent: all four premultiplied channels change
    assert mse(a, c) == pytest.approx((40.0 ** 2 + 3 * 100.0 ** 2 + 255.0 ** 2) / 12)


@pytest.mark.parametrize("quantizer", [KMeansQuantizer(8), UniqueKMeansQuantizer(8), FastKMeansQuantizer(8),
                                       PillowQuantizer(8, method="fastoctree"), LibimagequantQuantizer(8)],
                         ids=["kmeans", "unique", "fast", "pillow_fastoctree", "libimagequant"])
def test_quantizers_give_an_rgba_palette_with_one_transparent_entry(quantizer):
    pytest.importorskip("imagequant") if isinstance(quantizer, LibimagequantQuantizer) else None
    rgba = sprite()
    q = quantizer.fit(rgba)
    labels = q.predict(rgba)
    assert q.palette_.shape[1] == 4
    transparent = rgba[..., 3].ravel() == 0
    entries = np.unique(labels[transparent])
    # every invisible pixel, whatever its hidden RGB, gets the one (0, 0, 0, 0) entry
    assert len(entries) == 1 and q.palette_[entries[0]].tolist() == [0, 0, 0, 0]
    assert ((q.palette_[:, 3] > 0) & (q.palette_[:, 3] < 255)).any()  # the soft edges keep partial alpha


@pytest.mark.parametrize("k", [16, 256])
def test_fast_on_an_icon_is_as_good_as_kmeans(k):
    # logo2 (1,226 distinct RGBA colours): at k=256 about five colours a centre, where Lloyd's
    # fixed points are poor -- fast, with Hartigan's moves after Lloyd's, must not be behind
    # scikit-learn's KMeans on all pixels (it was 2.6% behind with Lloyd's alone).
    pixels = next(s for s in AlphaSamples(kinds=()) if s.name == "logo2").load().pixels

    def error(q):
        return mse(pixels, q.palette_[q.predict(pixels)].reshape(pixels.shape))

    assert error(FastKMeansQuantizer(k).fit(pixels)) <= 1.01 * error(KMeansQuantizer(k).fit(pixels))


def test_few_colours_quantize_losslessly_with_alpha():
    rgba = sprite()
    rgba[..., :3] = np.where(rgba[..., 3:] == 0, rgba[..., :3], (200, 40, 40))
    image = source(rgba)
    q = UniqueKMeansQuantizer(256).fit(image.pixels)
    assert mse(image.pixels, q.palette_[q.predict(image.pixels)].reshape(rgba.shape)) == 0


def _block_error(palette, labels, pixels, block=4):
    """Mean |error| of 4x4 block averages in premultiplied RGBA: what error diffusion keeps small."""
    from kqbench.quantizers.colour import premultiply

    h, w = labels.shape
    diff = (premultiply(palette[labels].reshape(-1, 4)) - premultiply(pixels.reshape(-1, 4))).reshape(h, w, 4)
    return np.abs(diff.reshape(h // block, block, w // block, block, 4).mean(axis=(1, 3))).mean()


def test_dithering_with_alpha_diffuses_premultiplied_error_onto_the_same_palette():
    from kqbench.quantizers.dither import floyd_steinberg_rgba

    yy, xx = np.mgrid[:32, :64]
    rgba = np.dstack([xx * 4, yy * 8, np.full_like(xx, 90), np.clip(xx * 5, 0, 255)]).astype(np.uint8)
    q = KMeansQuantizer(6).fit(rgba)
    plain = q.predict(rgba).reshape(32, 64)
    dithered = floyd_steinberg_rgba(rgba, q.palette_)
    assert dithered.shape == (32, 64) and 0 <= dithered.min() and dithered.max() < len(q.palette_)
    assert np.array_equal(dithered, floyd_steinberg_rgba(rgba, q.palette_))  # deterministic
    assert _block_error(q.palette_, dithered, rgba) < 0.8 * _block_error(q.palette_, plain, rgba)


def test_rgba_dithering_of_an_opaque_image_is_as_good_as_pillows():
    from kqbench.quantizers.dither import floyd_steinberg_rgba

    yy, xx = np.mgrid[:32, :64]
    rgb = np.dstack([xx * 4, yy * 8, np.full_like(xx, 90)]).astype(np.uint8)
    q = KMeansQuantizer(6).fit(rgb)
    opaque = np.dstack([rgb, np.full_like(xx, 255)]).astype(np.uint8)
    palette = np.hstack([q.palette_, np.full((len(q.palette_), 1), 255, np.uint8)])
    target = Image.new("P", (1, 1))
    target.putpalette(q.palette_.tobytes())
    pillow = np.asarray(Image.fromarray(rgb).quantize(palette=target, dither=Image.Dither.FLOYDSTEINBERG))
    ours = _block_error(palette, floyd_steinberg_rgba(opaque, palette), opaque)
    assert ours < 0.7 * _block_error(palette, q.predict(rgb).reshape(32, 64), opaque)
    assert ours < 1.05 * _block_error(palette, pillow, opaque)


def test_rgb_only_quantizers_and_settings_say_what_to_do_instead():
    rgba = sprite()
    for quantizer, words in ((WuQuantizer(8), "alpha=drop"), (FastKMeansQuantizer(8, init="wu"), "alpha=drop"),
                             (PillowQuantizer(8), "fastoctree"),
                             (KMeansQuantizer(8, colour_space="lab"), "colour_space=rgb")):
        with pytest.raises(ConfigurationError, match=words):
            quantizer.fit(rgba)


# --- writing --------------------------------------------------------------------------------------------------

def quantized(k=8):
    rgba = sprite()
    q = KMeansQuantizer(k).fit(rgba)
    return q.predict(rgba).reshape(rgba.shape[:2]).astype(np.uint8), q.palette_


@pytest.mark.parametrize("encoder", [SmallestPalettePNG(), PillowPalettePNG(), PyPNGPalettePNG(),
                                     PyPNGPalettePNG(bitdepth="minimal"), PillowPalettePNG(order="nearest_chain"),
                                     SmallestPalettePNG(order="luminance")],
                         ids=["png8", "png8_pillow", "png8_pypng", "png8_pypng-minimal", "pillow-chain",
                              "png8-luminance"])
def test_png8_writes_a_trns_chunk_and_round_trips_rgba(encoder, tmp_path):
    labels, palette = quantized()
    path = tmp_path / "out.png"
    encoder.write(labels, palette, path)
    chunks = {c.type: c for c in read_chunks(path)}
    assert png_header(path)["colour_type"] == "palette" and "tRNS" in chunks
    with Image.open(path) as im:
        decoded = np.asarray(im.convert("RGBA"))
    assert np.array_equal(decoded, palette[labels])
    assert np.array_equal(encoder.decode(path), encoder.expected(labels, palette))


def test_png8_puts_translucent_entries_first_so_trns_is_as_short_as_it_can_be(tmp_path):
    labels, palette = quantized()
    translucent = int((palette[:, 3] < 255).sum())
    assert 0 < translucent < len(palette)
    SmallestPalettePNG().write(labels, palette, tmp_path / "out.png")
    chunks = {c.type: c for c in read_chunks(tmp_path / "out.png")}
    assert chunks["tRNS"].length == translucent
    assert (np.frombuffer(chunks["tRNS"].data, np.uint8) < 255).all()


def test_opaque_rgba_palette_writes_no_trns(tmp_path):
    labels, palette = quantized()
    palette = palette.copy()
    palette[:, 3] = 255
    SmallestPalettePNG().write(labels, palette, tmp_path / "out.png")
    assert "tRNS" not in {c.type for c in read_chunks(tmp_path / "out.png")}


@pytest.mark.parametrize("encoder", [RGB24PNG(), RGB24PNG(filter="paeth"), WebPLossless()],
                         ids=["rgb24", "rgb24-paeth", "webp_lossless"])
def test_truecolour_and_webp_keep_alpha(encoder, tmp_path):
    labels, palette = quantized()
    path = tmp_path / f"out{encoder.suffix}"
    encoder.write(labels, palette, path)
    decoded = encoder.decode(path)
    assert decoded.shape[-1] == 4 and np.array_equal(decoded, palette[labels])
    if path.suffix == ".png":
        assert png_header(path)["colour_type"] == "RGBA"


def test_lossy_comparators_with_alpha(tmp_path):
    image = source(sprite())
    with pytest.raises(ConfigurationError, match="JPEG cannot store transparency"):
        JPEGMatched().write_matched(image.pixels, 30.0, tmp_path / "x.jpg")
    quality, search_mse = WebPMatched().write_matched(image.pixels, 30.0, tmp_path / "x.webp")
    decoded = WebPMatched().decode(tmp_path / "x.webp")
    assert decoded.shape[-1] == 4 and mse(image.pixels, decoded) == search_mse


# --- a configuration over a dataset ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alpha_rows(tmp_path_factory):
    root = tmp_path_factory.mktemp("alpha")
    (root / "images").mkdir()
    Image.fromarray(sprite(), "RGBA").save(root / "images" / "sprite.png")
    images = ImageFolder(str(root / "images"))
    cache = QuantizationCache(root / "cache")
    rows = []
    for alpha in ("keep", "drop"):
        for name, enc in (("png8", SmallestPalettePNG()), ("png8_pypng", PyPNGPalettePNG()), ("rgb24", RGB24PNG()),
                          ("labels", LabelsPNG()), ("webp_lossless", WebPLossless()), ("webp_matched", WebPMatched()),
                          ("jpeg_matched", JPEGMatched())):
            rows += run_configuration(images, "kmeans", KMeansQuantizer(), name, enc, k=8, seed=0,
                                      out_dir=root / f"{alpha}-{name}", cache=cache, root=root,
                                      **{**SETTINGS, "alpha": alpha})
        rows += run_configuration(images, "wu", WuQuantizer(), "png8", SmallestPalettePNG(), k=8,
                                  seed=0, out_dir=root / f"{alpha}-wu", cache=cache, root=root,
                                  **{**SETTINGS, "alpha": alpha})
        rows += run_configuration(images, "kmeans", KMeansQuantizer(), "png8", SmallestPalettePNG(), k=8,
                                  seed=0, out_dir=root / f"{alpha}-dither", cache=cache, root=root,
                                  **{**SETTINGS, "alpha": alpha, "dither": True})
    aggregate(root)
    return pd.DataFrame(rows), root


def test_alpha_keep_and_drop_rows(alpha_rows):
    df, _ = alpha_rows
    ok = df[df["status"] == "ok"]
    assert ok["roundtrip_ok"].all()
    kept, dropped = ok[ok["alpha"] == "keep"], ok[ok["alpha"] == "drop"]
    assert kept["has_alpha"].all() and not dropped["has_alpha"].any()
    assert set(kept.loc[kept["encoding"] == "rgb24", "colour_type"]) == {"RGBA"}
    assert set(dropped.loc[dropped["encoding"] == "rgb24", "colour_type"]) == {"RGB"}
    png8 = kept[(kept["encoding"] == "png8") & (kept["quantizer"] == "kmeans") & ~kept["dither"]]
    assert (png8["trns_bytes"] > 0).all()
    assert (dropped.loc[dropped["encoding"] == "png8", "trns_bytes"] == 0).all()


def test_what_cannot_take_alpha_fails_its_rows_only_with_the_way_out(alpha_rows):
    df, _ = alpha_rows
    failed = df[df["status"] != "ok"]
    assert set(zip(failed["alpha"], failed["encoding"], failed["quantizer"], failed["dither"])) == {
        ("keep", "jpeg_matched", "kmeans", False), ("keep", "png8", "wu", False)}
    assert failed["error"].str.contains("alpha=drop").all()
    dropped = df[df["alpha"] == "drop"]
    assert (dropped["status"] == "ok").all(), dropped["error"].tolist()


def test_verify_rechecks_alpha_rows_and_catches_a_changed_trns(alpha_rows):
    df, root = alpha_rows
    report = verify(root, emit=lambda line: None)
    assert report.ok, report.mismatches
    row = df[(df["alpha"] == "keep") & (df["encoding"] == "png8") & (df["status"] == "ok")].iloc[0]
    path = root / row["path"]
    blob = bytearray(path.read_bytes())
    at = blob.index(b"tRNS")
    length = struct.unpack(">I", blob[at - 4:at])[0]
    blob[at + 4] = 255 if blob[at + 4] != 255 else 0  # one palette entry's alpha changed, CRC made valid
    blob[at + 4 + length:at + 8 + length] = struct.pack(">I", zlib.crc32(bytes(blob[at:at + 4 + length])))
    path.write_bytes(bytes(blob))
    report = verify(root, emit=lambda line: None)
    assert not report.ok and any(row["path"] in m for m in report.mismatches)


# --- a real sweep -----------------------------------------------------------------------------------------------

def test_alpha_sweep_reports_transparency(tmp_path):
    from sweeps import run

    _, sweep_dir, _ = run(tmp_path, "dataset=alpha_samples", "dataset.files=[Minduka_Present_Blue_Pack]",
                          "dataset.kinds=[sprite]", "dataset.width=64", "dataset.height=48", "k=4,16",
                          "quantizer=kmeans,wu", "encoding=png8,rgb24", "alpha=keep,drop")
    df = pd.read_parquet(sweep_dir / "results.parquet")
    assert len(df) == 2 * 2 * 2 * 2 * 2  # images x k x quantizers x encodings x alpha
    failed = df[df["status"] != "ok"]
    assert set(zip(failed["quantizer"], failed["alpha"])) == {("wu", "keep")}
    ok = df[df["status"] == "ok"]
    assert ok["roundtrip_ok"].all() and (ok.loc[ok["alpha"] == "keep", "has_alpha"]).all()
    report = (sweep_dir / "report.md").read_text()
    assert "## Transparency (`alpha`)" in report and "× size with alpha dropped" in report
    assert verify(sweep_dir, emit=lambda line: None).ok
