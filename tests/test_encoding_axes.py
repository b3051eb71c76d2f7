"""The lossless PNG axes (issue #5): zlib level, scanline filter, palette order, bit depth, optimizer.

Every test writes real files and decodes them with Pillow.
"""

import shutil
import struct
import subprocess
import sys
import zlib
from importlib import resources

import numpy as np
import pytest
import yaml
from hydra.utils import instantiate
from PIL import Image

from kqbench.datasets import SyntheticImages
from kqbench.encoders import (
    FILTERS,
    ORDERS,
    palette_layout,
    permute_palette,
    LabelsPNG,
    PillowPalettePNG,
    PyPNGPalettePNG,
    RGB24PNG,
    SmallestPalettePNG,
    chain_distance,
    encode_png,
    filter_scanlines,
    minimal_bit_depth,
    optimize_png,
    palette_permutation,
    png_header,
    read_chunks,
    reorder_palette,
)
from kqbench.encoders.png import (
    AUTO_ORDERS,
    COMPRESSIBLE,
    SCREEN_BAND,
    SCREEN_PIXELS,
    SMALL_IMAGE_PIXELS,
    WINDOW_ROWS,
    Screen,
    layout_permutation,
    screen_rows,
)
from kqbench.encoders.pngwrite import FILTER_TYPES, pack_samples
from kqbench.errors import ConfigurationError, NotInstalledError
from kqbench.quantizers import KMeansQuantizer
from kqbench.cache import QuantizationCache
from kqbench.runner import run_configuration
from kqbench.verify import read_png

from helpers import SETTINGS

PNG8 = [PillowPalettePNG, PyPNGPalettePNG]


@pytest.fixture(scope="module")
def q16(photo):
    q = KMeansQuantizer(n_colors=16, random_state=0).fit(photo)
    return q.predict(photo).reshape(photo.shape[:2]), q.palette_


@pytest.fixture(scope="module")
def q4_q64(photo):
    out = {}
    for k in (4, 64):
        q = KMeansQuantizer(n_colors=k, random_state=0).fit(photo)
        out[k] = q.predict(photo).reshape(photo.shape[:2]), q.palette_
    return out


def round_trips(encoder, labels, palette, path):
    encoder.write(labels, palette, path)
    return np.array_equal(encoder.decode(path), encoder.expected(labels, palette))


def plte(path):
    return np.frombuffer([c for c in read_chunks(path) if c.type == "PLTE"][0].data, np.uint8).reshape(-1, 3)


def scanlines(path):
    """(filter type bytes, filtered rows) from the decompressed IDAT of an 8-bit PNG."""
    chunks = read_chunks(path)
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[0].data[:10])
    channels = {0: 1, 2: 3, 3: 1}[colour_type]
    assert depth == 8
    raw = np.frombuffer(zlib.decompress(b"".join(c.data for c in chunks if c.type == "IDAT")), np.uint8)
    rows = raw.reshape(height, 1 + width * channels)
    return rows[:, 0], rows[:, 1:]


# --- palette order -----------------------------------------------------------------------------

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("cls", [*PNG8, SmallestPalettePNG], ids=lambda c: c.__name__)
def test_every_order_is_a_permutation_and_round_trips(tmp_path, q16, cls, order):
    labels, palette = q16
    perm = palette_permutation(labels, palette, order)
    assert sorted(perm.tolist()) == list(range(len(palette)))
    new_labels, new_palette = reorder_palette(labels, palette, order)
    assert np.array_equal(new_palette[new_labels], palette[labels])
    path = tmp_path / "x.png"
    enc = cls(order=order)
    assert round_trips(enc, labels, palette, path)
    assert np.array_equal(plte(path), palette[perm])  # the file's palette is in the asked order


def test_frequency_and_luminance_orders(tmp_path, q16):
    labels, palette = q16
    counts = np.bincount(labels.ravel(), minlength=len(palette))
    freq = palette_permutation(labels, palette, "frequency")
    assert np.all(np.diff(counts[freq]) <= 0)
    assert freq[0] == np.argmax(counts)
    luma = palette.astype(int) @ [299, 587, 114]
    lum = palette_permutation(labels, palette, "luminance")
    assert np.all(np.diff(luma[lum]) >= 0)
    path = tmp_path / "x.png"
    PillowPalettePNG(order="luminance").write(labels, palette, path)
    assert np.all(np.diff(plte(path).astype(int) @ [299, 587, 114]) >= 0)


def test_nearest_chain_puts_similar_colours_next_to_each_other():
    # A gradient palette (dark blue to orange), shuffled: the chain must walk it end to end.
    t = np.linspace(0, 1, 40)[:, None]
    gradient = np.round((1 - t) * [10, 20, 90] + t * [250, 160, 30]).astype(np.uint8)
    rng = np.random.default_rng(0)
    shuffled = gradient[rng.permutation(len(gradient))]
    labels = np.arange(len(shuffled)).reshape(5, 8)
    _, chained = reorder_palette(labels, shuffled, "nearest_chain")
    assert chain_distance(chained) <= chain_distance(shuffled)
    assert chain_distance(chained) == pytest.approx(chain_distance(gradient))  # the gradient itself
    assert np.array_equal(chained, gradient)  # starts at the darkest end, every step to the neighbour


def test_nearest_chain_beats_as_is_on_a_photo_palette(q16):
    labels, palette = q16
    shuffled = palette[np.random.default_rng(1).permutation(len(palette))]
    _, chained = reorder_palette(labels, shuffled, "nearest_chain")
    assert chain_distance(chained) < chain_distance(shuffled)


# --- scanline filters --------------------------------------------------------------------------

@pytest.mark.parametrize("filter", FILTERS)
def test_filters_round_trip_with_the_asked_filter_bytes(tmp_path, q16, filter):
    labels, palette = q16
    path = tmp_path / "x.png"
    enc = RGB24PNG(filter=filter)
    enc.check_k(16)
    assert round_trips(enc, labels, palette, path)
    assert png_header(path)["colour_type"] == "RGB"
    types, rows = scanlines(path)
    if filter != "adaptive":
        assert set(types.tolist()) == {FILTER_TYPES[filter]}
        return
    # adaptive: each row's filter has the smallest sum of |signed byte| among the five
    raw = palette[labels].astype(np.uint8).reshape(len(labels), -1)
    costs = np.stack([np.abs(filter_scanlines(raw, 3, f)[:, 1:].view(np.int8).astype(int)).sum(axis=1)
                      for f in FILTER_TYPES])
    assert set(types.tolist()) <= {0, 1, 2, 3, 4} and len(set(types.tolist())) > 1
    assert np.array_equal(types, np.argmin(costs, axis=0))
    assert np.array_equal(np.abs(rows.view(np.int8).astype(int)).sum(axis=1), costs.min(axis=0))


def test_pillow_filter_is_still_the_default(tmp_path, q16):
    labels, palette = q16
    assert RGB24PNG().filter == "pillow"
    assert round_trips(RGB24PNG(), labels, palette, tmp_path / "x.png")


def test_filters_are_exact_on_noise_edges():
    # Wrap-around arithmetic at 0/255 in every predictor: undo the filters by hand.
    rng = np.random.default_rng(3)
    raw = rng.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), size=(7, 15))
    for f in FILTER_TYPES:
        out = filter_scanlines(raw, 3, f, block_rows=2)  # blocks must chain rows correctly
        back = np.zeros(raw.shape, int)
        for y in range(raw.shape[0]):
            for x in range(raw.shape[1]):
                a = back[y, x - 3] if x >= 3 else 0
                b = back[y - 1, x] if y else 0
                c = back[y - 1, x - 3] if y and x >= 3 else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = [0, a, b, (a + b) // 2, a if pa <= pb and pa <= pc else (b if pb <= pc else c)][out[y, 0]]
                back[y, x] = (int(out[y, 1 + x]) + pred) % 256
        assert np.array_equal(back, raw), f


# --- zlib level and bit depth --------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda lvl: RGB24PNG(compress_level=lvl),
    lambda lvl: RGB24PNG(compress_level=lvl, filter="paeth"),
    lambda lvl: LabelsPNG(compress_level=lvl),
    lambda lvl: PillowPalettePNG(compress_level=lvl),
    lambda lvl: PyPNGPalettePNG(compress_level=lvl),
    lambda lvl: SmallestPalettePNG(compress_level=lvl),
], ids=["rgb24", "rgb24-paeth", "labels", "png8_pillow", "png8_pypng", "png8"])
def test_compress_level_0_is_larger_than_9(tmp_path, q16, make):
    labels, palette = q16
    sizes = {}
    for lvl in (0, 9):
        path = tmp_path / f"{lvl}.png"
        assert round_trips(make(lvl), labels, palette, path)
        sizes[lvl] = path.stat().st_size
    assert sizes[0] > sizes[9]


def test_every_png_encoding_option_names_its_zlib_level_compress_level():
    folder = resources.files("kqbench.conf") / "encoding"
    for entry in folder.iterdir():
        if entry.name.endswith(".yaml"):
            cfg = yaml.safe_load(entry.read_text())
            if instantiate(cfg).suffix == ".png":
                assert "compress_level" in cfg, entry.name


def test_bit_depth_minimal_and_8_are_both_reachable(tmp_path, q16):
    labels, palette = q16
    depths = {}
    for name, enc in {"pillow": PillowPalettePNG(), "pypng-8": PyPNGPalettePNG(bitdepth=8),
                      "pypng-minimal": PyPNGPalettePNG(bitdepth="minimal")}.items():
        path = tmp_path / f"{name}.png"
        assert round_trips(enc, labels, palette, path)
        depths[name] = png_header(path)["bit_depth"]
    assert depths == {"pillow": 4, "pypng-8": 8, "pypng-minimal": 4}


# --- optimizer passes ----------------------------------------------------------------------------

@pytest.mark.parametrize("order", ["as_is", "nearest_chain"])
@pytest.mark.parametrize("cls", PNG8, ids=lambda c: c.__name__)
def test_oxipng_never_larger_and_round_trips(tmp_path, q4_q64, cls, order):
    pytest.importorskip("oxipng")  # the optional extra: pip install 'kqbench[optimize]'
    for k, (labels, palette) in q4_q64.items():
        plain, opt = tmp_path / "plain.png", tmp_path / "opt.png"
        cls(order=order).write(labels, palette, plain)
        enc = cls(order=order, optimizer="oxipng", optimizer_level=2)
        enc.check_k(k)
        assert round_trips(enc, labels, palette, opt)
        assert opt.stat().st_size <= plain.stat().st_size
        before = opt.stat().st_size
        optimize_png(opt, "oxipng", 6)  # a second pass on an optimized file: never larger
        assert opt.stat().st_size <= before
        assert np.array_equal(enc.decode(opt), palette[labels])


def test_oxipng_missing_is_not_installed(tmp_path, q16, monkeypatch):
    monkeypatch.setitem(sys.modules, "oxipng", None)  # import oxipng raises ImportError
    enc = PillowPalettePNG(optimizer="oxipng")
    with pytest.raises(NotInstalledError, match="pyoxipng is not installed"):
        enc.check_k(16)
    with pytest.raises(NotInstalledError):
        enc.write(*q16, tmp_path / "x.png")


def test_zopflipng_works_or_is_not_installed(tmp_path, q16):
    labels, palette = q16
    plain, opt = tmp_path / "plain.png", tmp_path / "opt.png"
    PillowPalettePNG().write(labels, palette, plain)
    enc = PillowPalettePNG(optimizer="zopflipng", optimizer_level=2)
    if shutil.which("zopflipng") is None:
        with pytest.raises(NotInstalledError, match="zopflipng is not installed"):
            enc.write(labels, palette, opt)
        return
    enc.check_k(16)
    assert round_trips(enc, labels, palette, opt)
    assert opt.stat().st_size <= plain.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["opt.png", "plain.png"]  # no temp file left


def test_zopflipng_missing_raises_not_installed(tmp_path, q16, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **kw: None)
    enc = PyPNGPalettePNG(optimizer="zopflipng")
    with pytest.raises(NotInstalledError, match=r"zopflipng is not installed: apt-get install zopfli"):
        enc.check_k(16)
    with pytest.raises(NotInstalledError):
        enc.write(*q16, tmp_path / "x.png")


def test_missing_optimizer_becomes_a_not_installed_row(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **kw: None)
    rows = run_configuration(SyntheticImages(kinds=("gradient",), width=32, height=24), "kmeans",
                             KMeansQuantizer(n_colors=8, random_state=0), "png8_zopfli",
                             PillowPalettePNG(optimizer="zopflipng", optimizer_level=2), k=8, seed=0,
                             out_dir=tmp_path, cache=QuantizationCache(None), **SETTINGS)
    assert [r["status"] for r in rows] == ["not installed"]
    assert rows[0]["error"] == "zopflipng is not installed: apt-get install zopfli"
    assert rows[0]["encoding.optimizer"] == "zopflipng" and rows[0]["encoding.optimizer_level"] == 2


@pytest.mark.parametrize("bad", [
    lambda: PillowPalettePNG(order="zigzag"),
    lambda: PyPNGPalettePNG(optimizer="pngcrush"),
    lambda: PillowPalettePNG(optimizer="oxipng", optimizer_level=9),
    lambda: PillowPalettePNG(optimizer="zopflipng", optimizer_level=3),
    lambda: RGB24PNG(filter="median"),
    lambda: SmallestPalettePNG(order="zigzag"),
    lambda: PillowPalettePNG(order="auto"),
    lambda: PyPNGPalettePNG(order="auto"),
], ids=["order", "optimizer", "oxipng-level", "zopflipng-level", "filter", "png8-order", "pillow-auto", "pypng-auto"])
def test_unknown_choices_are_configuration_errors(bad):
    with pytest.raises(ConfigurationError, match="use one of|must be"):
        bad().check_k(16)


def test_unknown_png8_order_names_every_choice(tmp_path, q16):
    message = "unknown palette order 'zigzag' for png8: use one of auto, as_is, frequency, luminance, nearest_chain"
    with pytest.raises(ConfigurationError, match=f"^{message}$"):
        SmallestPalettePNG(order="zigzag").write(*q16, tmp_path / "x.png")
    with pytest.raises(ConfigurationError, match="^unknown palette order 'auto': use one of as_is, "):
        PillowPalettePNG(order="auto").write(*q16, tmp_path / "x.png")  # auto is png8's only


# --- png8: the smallest of a careful encoder's candidates ----------------------------------------

def quantize(rgb, k):
    q = KMeansQuantizer(n_colors=k, random_state=0).fit(rgb)
    return q.predict(rgb).reshape(rgb.shape[:2]), q.palette_.astype(np.uint8)


@pytest.fixture(scope="module")
def flat():
    """The generated flat illustration (12 colours, hard edges), small."""
    (src,) = SyntheticImages(kinds=("flat",), width=96, height=64)
    return src.load().rgb


@pytest.fixture(scope="module")
def crop():
    """A 160x120 crop of a bundled photo (flower.jpg: petals, leaves, a dark background)."""
    from sklearn.datasets import load_sample_image

    return np.ascontiguousarray(load_sample_image("flower.jpg")[150:270, 240:400])


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
@pytest.mark.parametrize("width", [1, 3, 7, 8, 13])
def test_pack_samples_round_trips_through_pillow_and_numpy(tmp_path, depth, width):
    rng = np.random.default_rng(width * 10 + depth)
    labels = rng.integers(0, 1 << depth, size=(5, width), dtype=np.uint8)
    assert pack_samples(labels, depth).shape == (5, -(-width * depth // 8))
    palette = rng.integers(0, 256, size=(1 << depth, 3), dtype=np.uint8)
    for flt in FILTERS:  # every filter on packed rows: the left neighbour is the previous byte
        path = tmp_path / f"{flt}.png"
        path.write_bytes(encode_png(labels, colour="palette", palette=palette, bit_depth=depth, filter=flt))
        with Image.open(path) as im:
            assert im.mode == "P" and np.array_equal(np.asarray(im), labels), flt
        decoded = read_png(path, "numpy")  # kqbench.verify's own decoder
        assert decoded.bit_depth == depth and np.array_equal(decoded.samples[:, :, 0], labels), flt


def test_pack_samples_puts_the_leftmost_pixel_in_the_high_bits():
    assert pack_samples(np.array([[1, 0, 1, 1, 0, 0, 0, 1, 1]]), 1).tolist() == [[0b10110001, 0b10000000]]
    assert pack_samples(np.array([[3, 0, 2]]), 2).tolist() == [[0b11001000]]
    assert pack_samples(np.array([[15, 1, 7]]), 4).tolist() == [[0xF1, 0x70]]
    with pytest.raises(ValueError, match="0..3"):
        pack_samples(np.array([[4]]), 2)


@pytest.mark.parametrize("k", [2, 4, 16, 64, 256])
def test_png8_round_trips_and_keeps_its_smallest_candidate(tmp_path, photo, k):
    labels, palette = quantize(photo, k)
    enc = SmallestPalettePNG()
    enc.check_k(k)
    path = tmp_path / "x.png"
    assert round_trips(enc, labels, palette, path)
    header = png_header(path)
    assert header["colour_type"] == "palette"
    assert header["bit_depth"] in {minimal_bit_depth(len(palette)), 8}  # never a needlessly deep 2 or 4
    assert [c.type for c in read_chunks(path)] == ["IHDR", "PLTE", "IDAT", "IEND"]
    order = enc.choose_order(labels, palette)  # the default order is auto
    assert order in AUTO_ORDERS
    labels, palette = reorder_palette(labels, palette, order)
    assert np.array_equal(plte(path), palette)  # exactly the palette, in the order auto picked
    decoded = read_png(path, "numpy")  # an independent decoder: the indices themselves
    assert np.array_equal(decoded.samples[:, :, 0], labels)
    sizes = [len(b) for _, b in enc.candidates(labels.astype(np.uint8), palette)]
    assert len(sizes) == len(set(d for d, _ in enc.candidates(labels.astype(np.uint8), palette)))
    assert path.stat().st_size == min(sizes)


@pytest.mark.parametrize("k", [2, 4, 16, 64])
@pytest.mark.parametrize("image", ["photo", "flat", "crop"])
def test_png8_auto_writes_the_order_it_picks_and_is_never_larger_than_as_is(tmp_path, request, image, k):
    labels, palette = quantize(request.getfixturevalue(image), k)
    auto = SmallestPalettePNG()
    assert auto.order == "auto"
    path = tmp_path / "auto.png"
    assert round_trips(auto, labels, palette, path)
    sizes = {}
    for order in AUTO_ORDERS:
        assert round_trips(SmallestPalettePNG(order=order), labels, palette, tmp_path / f"{order}.png")
        sizes[order] = (tmp_path / f"{order}.png").stat().st_size
    picked = auto.choose_order(labels, palette)
    # By construction: the very file png8 writes with the order it picked (and the pixels: round trip).
    assert path.read_bytes() == (tmp_path / f"{picked}.png").read_bytes()
    # The pick is a quick screen, not the smallest of the three full candidate sets (on the crop at
    # k=4 nearest_chain is 5% smaller than the as_is it picks); measured on these images, it is never
    # larger than the previous default, as_is.
    assert sizes[picked] <= sizes["as_is"], sizes


def test_png8_auto_puts_the_dominant_colour_first_when_that_is_smaller(tmp_path):
    # Mostly the bright colour, at index 1: rows of 0xFF bytes after each filter byte 0. Most used
    # first (frequency) turns them into runs of zeros; nearest_chain starts from the dark colour.
    labels = np.ones((64, 96), np.uint8)
    labels[8:20, 10:30] = 0
    labels[40:44, 50:90] = 0
    palette = np.array([[10, 20, 30], [250, 240, 0]], np.uint8)
    auto = SmallestPalettePNG()
    assert auto.choose_order(labels, palette) == "frequency"
    path = tmp_path / "auto.png"
    assert round_trips(auto, labels, palette, path)
    assert np.array_equal(plte(path), palette[::-1])
    assert round_trips(SmallestPalettePNG(order="as_is"), labels, palette, tmp_path / "as_is.png")
    assert path.stat().st_size < (tmp_path / "as_is.png").stat().st_size


def test_png8_at_two_colours_can_be_one_bit(tmp_path):
    # Two colours in big blocks: 1 bit per index wins over 8.
    labels = np.zeros((64, 96), np.uint8)
    labels[16:48, 24:72] = 1
    palette = np.array([[10, 20, 30], [250, 240, 0]], np.uint8)
    path = tmp_path / "x.png"
    assert round_trips(SmallestPalettePNG(), labels, palette, path)
    assert png_header(path)["bit_depth"] == 1


@pytest.mark.parametrize("k", [2, 4, 16, 64])
@pytest.mark.parametrize("image", ["photo", "flat"])
def test_png8_never_larger_than_png8_pillow_and_png8_pypng(tmp_path, request, image, k):
    labels, palette = quantize(request.getfixturevalue(image), k)
    sizes = {}
    for name, enc in {"png8": SmallestPalettePNG(), "png8_pillow": PillowPalettePNG(),
                      "png8_pypng": PyPNGPalettePNG(), "png8_pypng-minimal": PyPNGPalettePNG(bitdepth="minimal"),
                      "png8_pillow-z9": PillowPalettePNG(compress_level=9)}.items():
        path = tmp_path / f"{name}.png"
        assert round_trips(enc, labels, palette, path), name
        sizes[name] = path.stat().st_size
    assert all(sizes["png8"] <= size for size in sizes.values()), sizes


def pngquant_map(labels, palette, folder):
    """Size of ``pngquant --map palette.png --nofs`` on the quantized pixels; it must hold them exactly."""
    rgb = palette[labels]
    Image.fromarray(rgb).save(folder / "rgb.png")
    Image.fromarray(palette[None]).save(folder / "palette.png")
    out = folder / "pngquant.png"
    subprocess.run([shutil.which("pngquant"), "--map", str(folder / "palette.png"), "--nofs", "--strip", "--force",
                    "--output", str(out), str(folder / "rgb.png")], check=True, capture_output=True)
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), rgb)  # the same palette and pixels
    return out.stat().st_size


@pytest.mark.skipif(shutil.which("pngquant") is None, reason="pngquant is not installed")
@pytest.mark.parametrize("k", [2, 4, 16, 64, 256])
def test_png8_never_larger_than_pngquant_map_on_the_same_pixels(tmp_path, crop, k):
    labels, palette = quantize(crop, k)
    path = tmp_path / "png8.png"
    assert round_trips(SmallestPalettePNG(), labels, palette, path)
    assert path.stat().st_size <= pngquant_map(labels, palette, tmp_path)


def idat(path):
    return b"".join(c.data for c in read_chunks(path) if c.type == "IDAT")


@pytest.mark.parametrize("order", ORDERS)
def test_layout_permutation_is_palette_layouts(q16, order):
    # png8's screen renumbers the labels itself: the same layout PalettePNG.write makes, RGB and RGBA
    labels, palette = q16
    rgba = np.hstack([palette, np.where(np.arange(len(palette)) % 3 == 1, 128, 255)[:, None]])
    for pal in (palette, rgba):
        expected = palette_layout(labels, pal, order)
        got = permute_palette(labels, pal, layout_permutation(labels, pal, order))
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def test_screen_rows_are_bands_spread_over_the_image():
    assert np.array_equal(screen_rows(100, 200), np.arange(100))  # 20,000 pixels: every row
    rows = screen_rows(427, 640)
    assert np.all(np.diff(rows) > 0) and rows[0] >= 0 and rows[-1] < 427
    assert len(rows) % SCREEN_BAND == 0 and SCREEN_PIXELS / 2 <= len(rows) * 640 <= SCREEN_PIXELS
    starts = rows[::SCREEN_BAND]
    assert np.all(rows.reshape(-1, SCREEN_BAND) == starts[:, None] + np.arange(SCREEN_BAND))
    assert starts[0] < 427 / len(starts) and starts[-1] > 427 * (1 - 2 / len(starts))  # top to bottom
    assert len(screen_rows(5, 10**6)) == 5  # at least one band


def test_png8_zlib_settings_by_image_size_and_screen():
    enc = SmallestPalettePNG()
    small, large, row = SMALL_IMAGE_PIXELS, SMALL_IMAGE_PIXELS + 1, 641
    # a small image: compress_level, the full window; pngquant's memLevel 5 too if compressible
    assert enc.zlib_settings(small, row, "none", COMPRESSIBLE / 2) == [(9, 15, 6, 0), (9, 15, 5, 0)]
    assert enc.zlib_settings(small, row, "none", COMPRESSIBLE) == [(9, 15, 6, 0)]
    assert enc.zlib_settings(small, row, "up", 0.1)[0] == (9, 15, 8, zlib.Z_FILTERED)
    # a large one: one deflate; compressible: level 8 and a window of at least WINDOW_ROWS rows
    ((level, window_bits, mem_level, _),) = enc.zlib_settings(large, row, "none", COMPRESSIBLE / 2)
    assert (level, mem_level) == (8, 6) and 2 ** (window_bits - 1) < WINDOW_ROWS * row <= 2 ** window_bits
    assert enc.zlib_settings(large, 81, "none", 0.1)[0][1] == 11  # 1-bit rows of a 640-wide image
    assert enc.zlib_settings(large, row, "none", COMPRESSIBLE) == [(7, 15, 6, 0)]
    assert SmallestPalettePNG(compress_level=6).zlib_settings(large, row, "none", 0.1)[0][0] == 6
    assert SmallestPalettePNG(compress_level=0).zlib_settings(small, row, "none", 0.1) == [(0, 15, 6, 0)]


def test_png8_screen_picks_filter_up_where_it_wins(tmp_path):
    # 4-bit rows, each the row above plus 1 in every byte: filter up leaves runs of 0x01 bytes, the
    # rows themselves never repeat (filter none finds nothing to match)
    rng = np.random.default_rng(5)
    packed = (rng.integers(0, 256, size=(1, 120), dtype=np.uint8) + np.arange(90, dtype=np.uint8)[:, None])
    labels = np.stack([packed >> 4, packed & 15], axis=2).reshape(90, 240).astype(np.uint8)
    palette = rng.integers(0, 256, size=(16, 3), dtype=np.uint8)
    enc = SmallestPalettePNG(order="as_is")
    order, filters, _ = enc.choose(labels, palette)
    assert (order, filters) == ("as_is", ("up",))
    screen = Screen(labels, palette)
    assert screen.size(np.arange(16), "up") < screen.size(np.arange(16), "none") / 2
    path = tmp_path / "x.png"
    assert round_trips(enc, labels, palette, path)
    assert png_header(path)["bit_depth"] == 4
    rows = np.frombuffer(zlib.decompress(idat(path)), np.uint8).reshape(90, 121)
    assert set(rows[:, 0].tolist()) == {FILTER_TYPES["up"]}


@pytest.mark.parametrize("level", [6, 9])
@pytest.mark.parametrize("k", [2, 16, 64])
@pytest.mark.parametrize("image", ["photo", "flat", "crop"])
def test_png8_as_is_holds_pypngs_default_stream(tmp_path, request, image, k, level):
    # The one guarantee by construction: with order=as_is, pypng's default stream is a candidate.
    labels, palette = quantize(request.getfixturevalue(image), k)
    png8, pypng = tmp_path / "png8.png", tmp_path / "pypng.png"
    enc = SmallestPalettePNG(compress_level=level, order="as_is")
    assert round_trips(enc, labels, palette, png8)
    assert round_trips(PyPNGPalettePNG(), labels, palette, pypng)
    assert png8.stat().st_size <= pypng.stat().st_size
    candidates = tmp_path / "candidate.png"
    streams = set()
    for _, data in enc.candidates(*palette_layout(labels, palette, "as_is")):
        candidates.write_bytes(data)
        streams.add(idat(candidates))
    assert idat(pypng) in streams


def test_png8_rejects_a_zlib_level_outside_0_9(tmp_path, q16):
    with pytest.raises(ConfigurationError, match="0..9"):
        SmallestPalettePNG(compress_level=10).write(*q16, tmp_path / "x.png")


def test_png8_is_the_default_encoding_and_in_the_default_sweep():
    cfg = yaml.safe_load((resources.files("kqbench.conf") / "config.yaml").read_text())
    assert {"encoding": "png8"} in cfg["defaults"]
    assert "png8" in cfg["hydra"]["sweeper"]["params"]["encoding"].split(",")
    enc = instantiate(yaml.safe_load((resources.files("kqbench.conf") / "encoding" / "png8.yaml").read_text()))
    assert isinstance(enc, SmallestPalettePNG) and (enc.compress_level, enc.order) == (9, "auto")
