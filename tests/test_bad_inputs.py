"""Bad inputs: each gives a one-line error naming the input and what to do; everything else keeps its rows.

Unit level: ``kqbench.datasets.load_image_file`` on bad and unusual files (fast). One real sweep
(in-process) over a folder of all of them plus a good image, with good and bad values of k.
Property tests (hypothesis): every quantizer and the PNG-8 encoders on random small images.
"""

import io
import os
import struct
import zlib

import numpy as np
import pandas as pd
import png
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from kqbench.datasets import ImageReadError, load_image_file
from kqbench.encoders import PillowPalettePNG, PyPNGPalettePNG
from kqbench.quantizers import (
    KMeansQuantizer,
    MiniBatchKMeansQuantizer,
    SampledKMeansQuantizer,
    UniqueKMeansQuantizer,
)
from kqbench.verify import main as verify_main

from sweeps import QUIET, run
from kqbench.verify import read_png

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ENCODINGS = ["rgb24", "labels", "png8_pypng", "png8_pillow"]


# --------------------------------------------------------------------------- bad and unusual files


def _photo(h=6, w=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _png_bytes(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width=20_000, height=20_000) -> bytes:
    """A valid 1-bit greyscale PNG of width x height (400 M pixels) in ~50 KB: a decompression bomb."""
    row = b"\0" * (1 + (width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 1000) for _ in range(height // 1000)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


BAD_FILES = {  # name -> (bytes, words the one-line error must contain)
    "empty.png": (lambda: b"", "empty"),
    "truncated.png": (lambda: _png_bytes(_photo(40, 50))[:300], "truncated or corrupt PNG"),
    "truncated.jpg": (lambda: (lambda j: j[: len(j) // 2])(_jpeg_bytes(_photo(40, 50))), "truncated or corrupt JPEG"),
    "corrupt.jpg": (lambda: (lambda j: j[:2] + bytes(np.random.default_rng(1).integers(0, 256, len(j) - 2,
                                                                                        dtype=np.uint8)))(
        _jpeg_bytes(_photo(40, 50))), "corrupt JPEG"),
    "not_an_image.png": (lambda: b"this is not a PNG\n", "not an image file"),
}


def write_odd_images(folder) -> dict:
    """Unusual but valid images; returns name -> (expected RGB, expected original_mode)."""
    out = {}
    # CMYK JPEG: loads, converted to RGB (JPEG is lossy: compare loosely).
    Image.new("CMYK", (8, 6), (0, 255, 255, 0)).save(folder / "cmyk.jpg", quality=95)
    out["cmyk"] = (np.broadcast_to(np.array([255, 0, 0], np.uint8), (6, 8, 3)), "CMYK")
    # 16-bit greyscale PNG: the high byte of each sample, not Pillow's clipping to 255.
    grey16 = (np.arange(6 * 8, dtype=np.uint16).reshape(6, 8) * 1361)
    png.from_array(grey16.tolist(), "L;16").save(str(folder / "grey16.png"))
    out["grey16"] = (np.repeat((grey16 >> 8).astype(np.uint8)[..., None], 3, axis=2), "I;16")
    # 16-bit RGB PNG (Pillow keeps the high byte itself).
    rgb16 = np.random.default_rng(2).integers(0, 65536, size=(6, 8, 3), dtype=np.uint16)
    png.from_array(rgb16.reshape(6, -1).tolist(), "RGB;16").save(str(folder / "rgb16.png"))
    out["rgb16"] = ((rgb16 >> 8).astype(np.uint8), "RGB")
    # Greyscale, and greyscale + alpha (alpha dropped).
    grey = np.random.default_rng(3).integers(0, 256, size=(6, 8), dtype=np.uint8)
    Image.fromarray(grey, "L").save(folder / "grey.png")
    out["grey"] = (np.repeat(grey[..., None], 3, axis=2), "L")
    Image.fromarray(np.stack([grey, 255 - grey], axis=-1), "LA").save(folder / "grey_alpha.png")
    out["grey_alpha"] = (np.repeat(grey[..., None], 3, axis=2), "LA")
    # Palette PNG with a tRNS chunk (partial transparency in bytes): its palette colours.
    pal = np.array([[10, 20, 30], [200, 100, 0], [0, 0, 255]], np.uint8)
    idx = np.random.default_rng(4).integers(0, 3, size=(6, 8)).astype(np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.tobytes())
    im.save(folder / "palette_trns.png", transparency=b"\x00\x80\xff")
    out["palette_trns"] = (pal[idx], "P")
    # 1x1, and one colour.
    Image.fromarray(np.array([[[9, 8, 7]]], np.uint8)).save(folder / "one_pixel.png")
    out["one_pixel"] = (np.array([[[9, 8, 7]]], np.uint8), "RGB")
    Image.new("RGB", (7, 5), (40, 140, 240)).save(folder / "one_colour.png")
    out["one_colour"] = (np.broadcast_to(np.array([40, 140, 240], np.uint8), (5, 7, 3)), "RGB")
    return out


def assert_one_line_naming(message: str, path) -> None:
    assert "\n" not in message
    assert str(path) in message


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_a_one_line_error_naming_it(tmp_path, name):
    data, words = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(data())
    with pytest.raises(ImageReadError) as info:
        load_image_file(path)
    message = str(info.value)
    assert_one_line_naming(message, path)
    assert words in message
    assert "replace the file" in message or "remove it" in message  # what to do


@pytest.mark.skipif(IS_ROOT, reason="root reads a chmod 000 file anyway")
def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.png"
    path.write_bytes(_png_bytes(_photo()))
    path.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="permission denied") as info:
            load_image_file(path)
    finally:
        path.chmod(0o644)
    assert_one_line_naming(str(info.value), path)
    assert "chmod" in str(info.value)


def test_permission_error_message(tmp_path, monkeypatch):
    """The same message when Pillow's open fails with EACCES (runs as root too)."""
    path = tmp_path / "locked.png"
    path.write_bytes(_png_bytes(_photo()))

    def refuse(fp, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(fp))

    monkeypatch.setattr("kqbench.datasets.Image.open", refuse)
    with pytest.raises(ImageReadError, match="permission denied.*chmod") as info:
        load_image_file(path)
    assert_one_line_naming(str(info.value), path)


def test_odd_images_load_as_rgb_and_keep_their_mode(tmp_path, recwarn):
    expected = write_odd_images(tmp_path)
    for name, (rgb, mode) in expected.items():
        path = next(tmp_path.glob(f"{name}.*"))
        img = load_image_file(path)
        assert img.rgb.dtype == np.uint8 and img.rgb.shape == rgb.shape, name
        assert img.original_mode == mode, name
        assert img.original_bytes == path.stat().st_size
        if name == "cmyk":
            assert np.abs(img.rgb.astype(int) - rgb).max() <= 8
        else:
            assert np.array_equal(img.rgb, rgb), name
    assert not [w for w in recwarn if "Transparency" in str(w.message)]


@pytest.mark.parametrize("mode, array", [("I", np.array([[70000, 5]], np.int32)),
                                         ("F", np.array([[0.5, 300.0]], np.float32))])
def test_pixels_without_an_8_bit_scale_are_refused(tmp_path, mode, array):
    path = tmp_path / f"{mode}.tif"
    Image.fromarray(array).save(path)
    with pytest.raises(ImageReadError, match="convert it to 8-bit RGB") as info:
        load_image_file(path)
    assert_one_line_naming(str(info.value), path)


@pytest.mark.parametrize("size, limit", [((30, 20), 400),  # over the limit: Pillow warns
                                         ((30, 20), 200)])  # over twice the limit: Pillow raises
def test_decompression_bomb(tmp_path, monkeypatch, size, limit):
    path = tmp_path / "big.png"
    Image.new("RGB", size).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ImageReadError) as info:
        load_image_file(path)
    message = str(info.value)
    assert_one_line_naming(message, path)
    assert f"has {size[0] * size[1]:,} pixels, above Pillow's safety limit {limit:,}" in message
    assert "MAX_IMAGE_PIXELS" in message


# --------------------------------------------------------------------------- through a real sweep


@pytest.fixture(scope="module")
def bad_sweep(tmp_path_factory):
    """One sweep over a folder of every bad and odd file plus a good image, with good and bad k."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    folder = tmp / "images"
    folder.mkdir()
    for name, (data, _) in BAD_FILES.items():
        (folder / name).write_bytes(data())
    (folder / "bomb.png").write_bytes(bomb_png())
    odd = write_odd_images(folder)
    Image.fromarray(_photo(8, 6)).save(folder / "good.png")
    if not IS_ROOT:
        (folder / "locked.png").write_bytes(_png_bytes(_photo()))
        (folder / "locked.png").chmod(0)
    try:
        df, sweep_dir, out = run(tmp, "k=4,1,0,257,-3,abc", "quantizer=sampled", f"encoding={','.join(ENCODINGS)}",
                                 "dataset=folder", f"dataset.path={folder}", *QUIET)
    finally:
        if not IS_ROOT:
            (folder / "locked.png").chmod(0o644)
    return df, sweep_dir, out, odd


def _rows(df, image=None, k=None, encodings=None):
    sel = pd.Series(True, index=df.index)
    if image is not None:
        sel &= df["image"] == image
    if k is not None:
        sel &= df["k"].astype(str) == str(k)
    if encodings is not None:
        sel &= df["encoding"].isin(encodings)
    return df[sel]


def test_sweep_runs_to_the_end_without_a_traceback(bad_sweep):
    df, _, out, odd = bad_sweep
    assert "Traceback" not in out
    images = 1 + len(BAD_FILES) + 1 + len(odd) + (0 if IS_ROOT else 1)
    assert len(df) == images * 6 * len(ENCODINGS)


@pytest.mark.parametrize("name", sorted(BAD_FILES) + ["bomb.png"] + ([] if IS_ROOT else ["locked.png"]))
def test_each_bad_file_fails_alone_with_its_message(bad_sweep, name):
    df, _, _, _ = bad_sweep
    words = {"bomb.png": "above Pillow's safety limit", "locked.png": "permission denied"}.get(name) \
        or BAD_FILES[name][1]
    stem = name.rsplit(".", 1)[0]
    # Names are stems; truncated.png and truncated.jpg share one, so the folder names them in full.
    image = stem if sum(n.startswith(stem + ".") for n in BAD_FILES) <= 1 else name
    for k in (4, 257, 1):
        rows = _rows(df, image, k, ["rgb24", "labels"] + (["png8_pypng", "png8_pillow"] if k == 4 else []))
        assert len(rows) and (rows["status"] == "failed").all(), rows[["k", "encoding", "status"]]
        for error in rows["error"]:
            assert "\n" not in error and name in error and words in error, error


def test_good_and_odd_images_keep_their_rows(bad_sweep):
    df, _, _, odd = bad_sweep
    for image in ["good", *odd]:
        rows = _rows(df, image, 4)
        assert len(rows) == len(ENCODINGS) and (rows["status"] == "ok").all(), (image, rows["error"].tolist())
        assert rows["roundtrip_ok"].all()
        if image in odd:
            assert (rows["original_mode"] == odd[image][1]).all()
        # k=1 and k=257: rgb24 and labels run; a PNG-8 cannot, and says what to do.
        for k in (1, 257):
            assert (_rows(df, image, k, ["rgb24", "labels"])["status"] == "ok").all(), (image, k)
            png8 = _rows(df, image, k, ["png8_pypng", "png8_pillow"])
            assert len(png8) == 2 and (png8["status"] == "failed").all()
            assert png8["error"].str.contains("2..256").all() and png8["error"].str.contains(f"k={k}").all()
    assert (_rows(df, "one_pixel", 4)["palette_size"] == 1).all()
    assert (_rows(df, "one_colour", 4)["palette_size"] == 1).all()


@pytest.mark.parametrize("k", [0, -3, "abc"])
def test_k_that_is_not_a_whole_number_fails_every_row(bad_sweep, k):
    df, _, _, _ = bad_sweep
    rows = _rows(df, k=k)
    assert len(rows) == len(df) // 6
    assert (rows["status"] == "failed").all()
    assert rows["error"].str.startswith("k must be a whole number").all()
    assert rows["error"].str.endswith(f"k={k!r}").all()  # names the bad value


def test_the_sweep_verifies(bad_sweep, capsys):
    _, sweep_dir, _, _ = bad_sweep
    assert verify_main([str(sweep_dir)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("override, group, option", [("quantizer=nosuch", "quantizer", "sampled"),
                                                     ("encoding=rgb24,nosuch", "encoding", "png8_pillow")])
def test_unknown_option_lists_the_valid_ones(tmp_path, override, group, option):
    _, _, out = run(tmp_path, override, "k=4", "dataset=synthetic", "dataset.width=8", "dataset.height=8",
                    check=False)
    assert "kqbench:" not in out  # no job ran: Hydra stopped at composition
    assert f"Could not find '{group}/nosuch'" in out
    assert f"Available options in '{group}'" in out and option in out
    assert "Traceback" not in out and len(out.splitlines()) < 40


# --------------------------------------------------------------------------- property tests


@st.composite
def small_images(draw):
    h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    if draw(st.booleans()):  # many colours
        return draw(arrays(np.uint8, (h, w, 3)))
    colours = draw(arrays(np.uint8, (draw(st.integers(1, 6)), 3)))  # few colours
    return colours[draw(arrays(np.intp, (h, w), elements=st.integers(0, len(colours) - 1)))]


def _packed(rgb):
    p = rgb.reshape(-1, 3).astype(np.int64)
    return p[:, 0] << 16 | p[:, 1] << 8 | p[:, 2]


@pytest.mark.parametrize("quantizer", [KMeansQuantizer, SampledKMeansQuantizer, UniqueKMeansQuantizer,
                                       MiniBatchKMeansQuantizer])
@settings(max_examples=25, deadline=None)
@given(image=small_images(), k=st.integers(1, 40))
def test_quantizers_on_random_small_images(quantizer, image, k):
    q = quantizer(n_colors=k, random_state=0).fit(image)
    labels = np.asarray(q.predict(image))
    palette = q.palette_
    assert palette.dtype == np.uint8 and palette.ndim == 2 and palette.shape[1] == 3
    assert 1 <= len(palette) <= k
    assert len(np.unique(_packed(palette))) == len(palette)  # distinct colours
    assert labels.shape == (image.shape[0] * image.shape[1],)
    assert labels.min() >= 0 and labels.max() < len(palette)
    # Each pixel gets its nearest palette colour.
    pixels = image.reshape(-1, 3).astype(np.int64)
    d = ((pixels[:, None, :] - palette[None, :, :].astype(np.int64)) ** 2).sum(-1)
    assert np.array_equal(d[np.arange(len(pixels)), labels], d.min(axis=1))
    # No more distinct colours than k: the palette is those colours, lossless.
    if len(np.unique(_packed(image))) <= k:
        assert np.array_equal(palette[labels].reshape(image.shape), image)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("roundtrip")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(m=st.integers(2, 256), h=st.integers(1, 12), w=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_png8_encoders_round_trip(scratch, m, h, w, seed):
    rng = np.random.default_rng(seed)
    packed = rng.choice(1 << 24, size=m, replace=False)
    palette = np.stack([packed >> 16, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)
    labels = rng.integers(0, m, size=(h, w)).astype(np.uint8)
    labels.flat[: min(m, h * w)] = rng.permutation(m)[: min(m, h * w)]  # use as many entries as fit
    for encoder in (PillowPalettePNG(), PyPNGPalettePNG(), PyPNGPalettePNG(bitdepth="minimal")):
        encoder.check_k(m)
        path = scratch / f"{type(encoder).__name__}.png"
        encoder.write(labels, palette, path)
        expected = encoder.expected(labels, palette)
        assert np.array_equal(encoder.decode(path), expected), type(encoder).__name__
        assert np.array_equal(read_png(path).rgb(), expected)  # and by a decoder other than Pillow
