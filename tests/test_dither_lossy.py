"""Floyd-Steinberg dithering onto the same palette, and the WebP/JPEG comparators (issue #5)."""

import io
import shutil

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image, features
from sklearn.datasets import load_sample_image

from kqbench.datasets import SourceImage, SyntheticImages
from kqbench.encoders import JPEGMatched, WebPLossless, WebPMatched
from kqbench.errors import ConfigurationError
from kqbench.metrics import mse, psnr
from kqbench.quantizers import SampledKMeansQuantizer
from kqbench.measure import dither as floyd_steinberg, quantize
from kqbench.verify import main as verify_main
from kqbench.verify import verify

from sweeps import QUIET, run

pytestmark = pytest.mark.skipif(not features.check("webp"), reason="Pillow without WebP support")


def china_crop() -> SourceImage:
    rgb = np.ascontiguousarray(load_sample_image("china.jpg")[100:148, 200:264])  # 64x48, roof and leaves
    return SourceImage("china", rgb, "RGB", rgb.nbytes, "test:china")


def synthetic(kind) -> SourceImage:
    (src,) = SyntheticImages(kinds=[kind], width=64, height=48)
    return src.load()


def fit(image, k):
    return quantize(image, SampledKMeansQuantizer(n_colors=k, random_state=0))


def box_blur(rgb, r=4):
    """Mean over (2r+1)^2 windows (valid part): what an eye at a distance sees."""
    c = np.pad(rgb.astype(np.float64), ((1, 0), (1, 0), (0, 0))).cumsum(0).cumsum(1)
    n = 2 * r + 1
    return (c[n:, n:] - c[:-n, n:] - c[n:, :-n] + c[:-n, :-n]) / n ** 2


def test_dithering_reassigns_pixels_onto_the_same_palette():
    image = china_crop()
    q = fit(image, 16)
    d = floyd_steinberg(image, q)
    assert np.array_equal(d.palette, q.palette)  # every colour still used here, in the same order
    assert d.labels.dtype == np.uint8 and d.labels.shape == q.labels.shape
    assert int(d.labels.max()) < len(d.palette)
    assert (d.labels != q.labels).mean() > 0.05  # error diffusion moved pixels
    assert d.fit_s == q.fit_s  # the fit is reused, not redone
    assert d.values["mse"] == mse(image.rgb, d.palette[d.labels]) and not d.cached


def test_dithering_trades_pixel_error_for_local_average_error_on_a_gradient():
    # What error diffusion reliably buys: the image seen blurred (9x9 mean) is closer to the original,
    # at the cost of a larger per-pixel error. (The global mean colour is NOT reliably closer: error is
    # lost at the borders, by clipping and by Pillow's integer arithmetic; measured, it is often further.)
    image = synthetic("gradient")
    for k in (4, 16):
        q = fit(image, k)
        d = floyd_steinberg(image, q)
        blurred = box_blur(image.rgb)
        err_plain = ((box_blur(q.palette[q.labels]) - blurred) ** 2).mean()
        err_dither = ((box_blur(d.palette[d.labels]) - blurred) ** 2).mean()
        assert err_dither < 0.6 * err_plain, (k, err_plain, err_dither)
        assert d.values["mse"] > q.values["mse"]


def test_a_lossless_quantization_dithers_to_itself():
    image = synthetic("flat")  # 12 colours
    q = fit(image, 16)
    assert q.values["mse"] == 0
    d = floyd_steinberg(image, q)
    assert np.array_equal(d.labels, q.labels) and np.array_equal(d.palette, q.palette) and d.values["mse"] == 0


def test_dithering_needs_a_pillow_palette():
    labels = np.arange(300, dtype=np.uint16).reshape(15, 20)
    palette = np.stack([np.arange(300) % 256, np.arange(300) // 256, np.zeros(300)], 1).astype(np.uint8)
    image = SourceImage("x", palette[labels], "RGB", 1, "test")
    q = replace(fit(synthetic("flat"), 4), labels=labels, palette=palette, values={"mse": 1.0})
    with pytest.raises(ConfigurationError, match="at most 256"):
        floyd_steinberg(image, q)


@pytest.mark.parametrize("encoder", [JPEGMatched(), JPEGMatched(subsampling="4:4:4", optimize=False),
                                     WebPMatched()], ids=["jpeg", "jpeg444", "webp"])
def test_matched_quality_is_the_lowest_reaching_the_target(tmp_path, encoder):
    rgb = china_crop().rgb
    target = 30.0
    path = tmp_path / f"x{encoder.suffix}"
    quality, search_mse = encoder.write_matched(rgb, target, path)
    written = mse(rgb, encoder.decode(path))
    assert written == search_mse and psnr(written) >= target
    lo = encoder.quality_range[0]
    if quality > lo:  # one step lower misses the target (the search assumes PSNR grows with quality)
        below = encoder.encode(rgb, quality - 1)
        assert psnr(mse(rgb, np.asarray(Image.open(io.BytesIO(below)).convert("RGB")))) < target


def test_an_unreachable_target_writes_the_top_quality(tmp_path):
    rgb = china_crop().rgb
    for encoder in (JPEGMatched(), WebPMatched()):
        path = tmp_path / f"x{encoder.suffix}"
        quality, search_mse = encoder.write_matched(rgb, float("inf"), path)
        assert quality == 100 and search_mse == mse(rgb, encoder.decode(path)) > 0


def test_matched_encoders_check_their_parameters():
    with pytest.raises(ConfigurationError, match="subsampling"):
        JPEGMatched(subsampling=14520).check_k(16)  # what unquoted YAML makes of 4:2:0
    with pytest.raises(ConfigurationError, match="method"):
        WebPMatched(method=7).check_k(16)
    with pytest.raises(ConfigurationError, match="quality"):
        WebPLossless(quality=101).check_k(16)
    JPEGMatched().check_k(1000)  # no k limit: the palette is not stored


# --------------------------------------------------------------------------- a real sweep

ENCODINGS = "png8_pillow,webp_lossless,jpeg_matched,webp_matched"
KEYS = ["image", "k", "quantizer", "dither"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    df, sweep_dir, _ = run(tmp_path_factory.mktemp("dither_lossy"), "k=16", "quantizer=sampled",
                           f"encoding={ENCODINGS}", "dither=false,true", "dataset=synthetic", "dataset.width=64",
                           "dataset.height=48", *QUIET)
    return df, sweep_dir


def test_sweep_rows_are_all_ok_and_round_trip(sweep):
    df, _ = sweep
    assert len(df) == 3 * 4 * 2  # images x encodings x dither
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "error"].unique()
    assert df["roundtrip_ok"].all()
    assert set(df["dither"]) == {False, True}
    assert not df.duplicated([*KEYS, "encoding"]).any()


def test_dithered_rows_reuse_the_undithered_fit(sweep):
    df, _ = sweep
    fits = df.pivot_table(index=["image", "encoding"], columns="dither", values="fit_s")
    assert (fits[True] == fits[False]).all()
    png8 = df[df["encoding"] == "png8_pillow"].set_index(["image", "dither"])
    assert (png8["palette_size"].xs(True, level="dither") == png8["palette_size"].xs(False, level="dither")).all()
    for image in ("gradient", "noise"):  # lossy quantizations: dithering changes the pixels
        assert png8.loc[(image, True), "mse"] != png8.loc[(image, False), "mse"]
    assert png8.loc[("flat", True), "mse"] == png8.loc[("flat", False), "mse"] == 0  # lossless: unchanged


def test_webp_lossless_decodes_to_the_png8_pixels(sweep):
    df, sweep_dir = sweep
    lossless = df[df["encoding"].isin(["png8_pillow", "webp_lossless"])]
    for _, g in lossless.groupby(KEYS):
        pixels = [np.asarray(Image.open(sweep_dir / p).convert("RGB")) for p in g["path"]]
        assert len(pixels) == 2 and np.array_equal(*pixels)
        assert g["mse"].nunique() == 1 and g["palette_size"].nunique() == 1


def test_matched_rows_reach_the_quantizations_psnr_unless_lossless(sweep):
    df, _ = sweep
    png8 = df[df["encoding"] == "png8_pillow"].set_index(KEYS)
    for encoding in ("jpeg_matched", "webp_matched"):
        rows = df[df["encoding"] == encoding].set_index(KEYS)
        target = png8.loc[rows.index, "psnr"]
        assert (rows["lossy_target_psnr"] == target).all()
        reached = rows["psnr"] >= target
        # Unreachable: only the lossless quantization (flat, 12 colours <= k=16: PSNR inf), at quality 100.
        assert set(rows.index[~reached].get_level_values("image")) == {"flat"}
        assert (rows.loc[~reached, "lossy_quality"] == 100).all()
        assert (rows["palette_size"] == png8.loc[rows.index, "palette_size"]).all()  # the matched quantization's
        assert rows["bit_depth"].isna().all()
        assert (rows["delta_e2000"] > 0).all()  # the decoded lossy file's, not the quantization's


def test_verify_accepts_the_new_kinds_and_catches_a_swapped_lossy_file(sweep, tmp_path, capsys):
    _, sweep_dir = sweep
    assert verify_main([str(sweep_dir)]) == 0
    assert "decoded with Pillow" in capsys.readouterr().out
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    df = pd.read_parquet(copy / "results.parquet")
    row = df[(df["encoding"] == "jpeg_matched") & (df["image"] == "gradient")].iloc[0]
    original = np.asarray(Image.open(copy / row["path"]).convert("RGB"))
    (copy / row["path"]).write_bytes(JPEGMatched().encode(original, 50))  # re-encoded: other bytes, other pixels
    report = verify(copy, emit=lambda line: None)
    assert not report.ok and any("mse=" in m for m in report.mismatches)
