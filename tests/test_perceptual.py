"""The perceptual quality columns: ``ssimulacra2`` (kqbench's SSIMULACRA 2.1) and ``dssim`` (multi-scale SSIM in
CIELAB), and :mod:`kqbench.ranking` (where a perceptual ranking of quantizers differs from the MSE one).

The reference scores below are those of the reference tool (``ssimulacra2`` 2.1 of cloudinary/ssimulacra2,
built from its repository at commit 81feacf; the same tool scores the rust-av/ssimulacra2 test pair
``tank_source``/``tank_distorted`` 17.379, where that port's test expects 17.3985) on the pairs
:func:`pair` builds: scikit-image's bundled PNG photos with distortions computed in integer arithmetic,
so the pixels are the same on every machine. On 39 pairs of the bundled photos and alpha samples
(quantized by fast, wu and k-means, dithered, JPEG q30, noise, blur) kqbench's scores were within
0.09 of the tool's (median 0.011).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from skimage.color import rgb2lab
from skimage.metrics import structural_similarity

from kqbench import columns, metrics
from kqbench.datasets import SkimageImages
from kqbench.metrics import dssim, ms_ssim_lab, ssimulacra2
from kqbench.ranking import median_ranks, rank_disagreements

REFERENCE_TOLERANCE = 0.15  # SSIMULACRA2 points; measured: at most 0.09 on 39 pairs


def _photo(name: str) -> np.ndarray:
    return SkimageImages.load(name).pixels


def _posterize(rgb: np.ndarray, levels: int) -> np.ndarray:
    """Each channel to ``levels`` evenly spaced values (integer arithmetic): a fixed-palette quantization."""
    step = 255 // (levels - 1)
    return ((rgb.astype(np.int32) + step // 2) // step * step).clip(0, 255).astype(np.uint8)


def _pattern_noise(shape, amplitude: int) -> np.ndarray:
    """Deterministic pseudo-noise in [-amplitude, amplitude] from integer hashing (no RNG stream)."""
    i, j, c = np.indices(shape)
    return ((i * 7919 + j * 104729 + c * 1299709) * 2654435761 % 4294967296) % (2 * amplitude + 1) - amplitude


def _box_blur(rgb: np.ndarray) -> np.ndarray:
    """Mean of each pixel's 3x3 neighbourhood (edge pixels repeated), rounded half up, in integers."""
    p = np.pad(rgb.astype(np.int32), ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = rgb.shape[:2]
    total = sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    return ((total * 2 + 9) // 18).astype(np.uint8)


def _with_alpha(rgb: np.ndarray) -> np.ndarray:
    """RGBA: opaque left third, a horizontal alpha ramp, and a fully transparent band along the top."""
    h, w = rgb.shape[:2]
    alpha = np.clip((np.arange(w) * 3 * 255) // (2 * w) , 0, 255)[None, :].repeat(h, 0)
    alpha[:, : w // 3] = 255
    alpha[: h // 8] = 0
    return np.dstack([rgb, alpha.astype(np.uint8)])


def pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The (source, distorted) pair ``name`` of :data:`REFERENCE`."""
    if name == "astronaut_posterize6":
        src = _photo("astronaut")
        return src, _posterize(src, 6)
    if name == "chelsea_noise6":
        src = _photo("chelsea")
        return src, (src.astype(np.int32) + _pattern_noise(src.shape, 6)).clip(0, 255).astype(np.uint8)
    if name == "coffee_blur3":
        src = _photo("coffee")
        return src, _box_blur(src)
    if name == "astronaut_crop_posterize4":  # 64x48: 4 scales, the reference's weight order for small images
        src = _photo("astronaut")[200:248, 180:244]
        return src, _posterize(src, 4)
    if name == "chelsea_rgba_posterize8":  # straight RGBA, alpha distorted too
        src = _with_alpha(_photo("chelsea")[:200, :256])
        return src, _posterize(src, 8)
    raise KeyError(name)


# Scores of the reference tool on these pairs (written as PNG files).
REFERENCE = {
    "astronaut_posterize6": -21.39574989,
    "chelsea_noise6": 81.54203303,
    "coffee_blur3": 46.44131242,
    "astronaut_crop_posterize4": 18.89334990,
    "chelsea_rgba_posterize8": 24.46268790,
}


# --------------------------------------------------------------------------- the metrics


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_ssimulacra2_gives_the_reference_tools_scores(name):
    source, distorted = pair(name)
    assert ssimulacra2(source, distorted) == pytest.approx(REFERENCE[name], abs=REFERENCE_TOLERANCE)


def test_identical_images_score_perfect(photo):
    rgba = _with_alpha(photo)
    for image in (photo, rgba):
        assert ssimulacra2(image, image.copy()) == 100.0
        assert dssim(image, image.copy()) == 0.0
        assert ms_ssim_lab(image, image.copy()) == pytest.approx(1.0, abs=1e-6)


def test_a_worse_quantization_scores_worse(photo):
    from PIL import Image

    results = [np.asarray(Image.fromarray(photo).quantize(k, method=Image.Quantize.MEDIANCUT).convert("RGB"))
               for k in (4, 16, 64)]  # Pillow's median cut, fewer colours first
    results += [_posterize(photo, levels) for levels in (3, 5, 9)]
    for coarse, fine in [(0, 1), (1, 2), (3, 4), (4, 5)]:  # fewer colours, worse
        a, b = results[coarse], results[fine]
        assert ssimulacra2(photo, a) < ssimulacra2(photo, b)
        assert dssim(photo, a) > dssim(photo, b)
    assert dssim(photo, results[0]) > 0 and ssimulacra2(photo, results[0]) < 100


def test_rgba_as_documented(photo):
    opaque = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    worse = _posterize(photo, 5)
    worse_opaque = np.dstack([worse, opaque[..., 3]])
    # an opaque RGBA image scores as its RGB
    assert ssimulacra2(opaque, worse_opaque) == pytest.approx(ssimulacra2(photo, worse), abs=1e-4)
    assert dssim(opaque, worse_opaque) == dssim(photo, worse)
    # colour under full transparency is invisible: it costs nothing
    clear = _with_alpha(photo)
    hidden = clear.copy()
    hidden[clear[..., 3] == 0, :3] = 255 - hidden[clear[..., 3] == 0, :3]
    assert ssimulacra2(clear, hidden) == 100.0 and dssim(clear, hidden) == 0.0
    # ssimulacra2: the lower of the scores over 10% and 90% grey, as the reference tool
    distorted = _posterize(clear, 6)
    over = [metrics._ssimulacra2_linear(metrics._blended_linear(clear, bg), metrics._blended_linear(distorted, bg))
            for bg in (0.1, 0.9)]
    assert ssimulacra2(clear, distorted) == min(over) and over[0] != over[1]
    # dssim: composited on black, as delta_e2000
    assert dssim(clear, distorted) == dssim(metrics.composite_on_black(clear), metrics.composite_on_black(distorted))
    # alpha errors count
    less_alpha = clear.copy()
    less_alpha[..., 3] //= 2
    assert ssimulacra2(clear, less_alpha) < 90 and dssim(clear, less_alpha) > 0


def test_one_scale_of_ms_ssim_lab_is_scikit_images_ssim_on_lab(photo):
    worse = _posterize(photo, 5)
    expected = structural_similarity(rgb2lab(photo), rgb2lab(worse), channel_axis=-1, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False, data_range=100)
    got = metrics._mean_ssim(metrics._lab_planes(photo), metrics._lab_planes(worse))
    assert got == pytest.approx(expected, abs=1e-5)
    assert np.allclose(np.moveaxis(metrics._lab_planes(photo), 0, -1), rgb2lab(photo), atol=1e-3)


def test_the_blur_is_the_recursive_gaussian():
    """The finite kernel equals the impulse response of Charalampidis' recursion (three resonators fed
    N+1 samples ahead and behind, zero outside the signal)."""
    kernel = metrics._S2_KERNEL
    n = len(kernel) // 2 + 1  # the recursion's N: the kernel is zero at ±N
    assert n == 5 and kernel.sum() == pytest.approx(1.0, abs=1e-12) and np.allclose(kernel, kernel[::-1])
    sigma, omega = 1.5, np.pi / (2 * n) * np.array([1.0, 3.0, 5.0])
    beta = np.linalg.lstsq(np.cos(np.outer(np.arange(-n + 1, n), omega)), kernel, rcond=None)[0]
    signal = np.zeros(41)
    signal[20] = 1.0
    response = np.zeros(41)
    for b, w in zip(beta, omega):
        gain, feedback = -b * np.cos(w * (n + 1)), -2.0 * np.cos(w)
        prev = prev2 = 0.0
        for i in range(-n + 1, 41):
            left = signal[i - n - 1] if 0 <= i - n - 1 < 41 else 0.0
            right = signal[i + n - 1] if 0 <= i + n - 1 < 41 else 0.0
            prev, prev2 = gain * (left + right) - feedback * prev - prev2, prev
            if i >= 0:
                response[i] += prev
    assert np.allclose(response[20 - n + 1:20 + n], kernel, atol=1e-12)
    assert np.allclose(np.delete(response, range(20 - n + 1, 20 + n)), 0, atol=1e-12)
    # and it is close to a Gaussian of σ = 1.5
    gauss = np.exp(-0.5 * (np.arange(-n + 1, n) / sigma) ** 2)
    assert np.abs(kernel - gauss / gauss.sum()).max() < 0.01


def test_too_small_images_give_nan_and_shapes_must_match():
    tiny = np.zeros((7, 20, 3), np.uint8)
    assert math.isnan(ssimulacra2(tiny, tiny))
    small = np.zeros((10, 20, 3), np.uint8)
    assert math.isnan(dssim(small, small)) and ssimulacra2(small, small) == 100.0
    with pytest.raises(ValueError, match="shapes differ"):
        ssimulacra2(small, np.zeros((10, 21, 3), np.uint8))
    with pytest.raises(ValueError, match="shapes differ"):
        dssim(small, np.zeros((10, 21, 3), np.uint8))


def test_the_registry_declares_both_optional_with_a_direction():
    s2, ds = columns.column("ssimulacra2"), columns.column("dssim")
    assert (s2.quality, s2.better, s2.optional) == (metrics.ssimulacra2, "higher", True)
    assert (ds.quality, ds.better, ds.optional) == (metrics.dssim, "lower", True)
    assert {"ssimulacra2", "dssim"} <= {c.name for c in columns.quality_measures()}
    assert {"ssimulacra2", "dssim"}.isdisjoint(c.name for c in columns.quality_columns())
    assert columns.check_metrics(["ssimulacra2", "dssim"]) == ("ssimulacra2", "dssim")


# --------------------------------------------------------------------------- a sweep with metrics=[...], and verify


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from sweeps import QUIET, run

    df, sweep_dir, _ = run(tmp_path_factory.mktemp("perceptual"), "metrics=[ssimulacra2,dssim]", "k=16",
                           "quantizer=sampled", "encoding=png8_pillow,jpeg_matched", "dataset=synthetic",
                           "dataset.width=64", "dataset.height=48", *QUIET)
    return df, sweep_dir


def test_a_sweep_asked_for_them_has_both_columns(sweep):
    df, _ = sweep
    assert (df["status"] == "ok").all(), df["error"].unique()
    assert df["ssimulacra2"].notna().all() and df["dssim"].notna().all()
    png8 = df[df["encoding"] == "png8_pillow"].set_index("image")
    assert png8.loc["flat", "ssimulacra2"] == 100.0 and png8.loc["flat", "dssim"] == 0.0  # lossless
    assert (png8.loc[["gradient", "noise"], "ssimulacra2"] < 100).all()
    lossy = df[df["encoding"] == "jpeg_matched"].set_index("image")  # the lossy file's own scores
    assert (lossy.loc[["gradient", "noise"], "dssim"] != png8.loc[["gradient", "noise"], "dssim"]).all()


def test_verify_rechecks_them(sweep, tmp_path, capsys):
    import shutil

    from kqbench.verify import main as verify

    _, sweep_dir = sweep
    assert verify([str(sweep_dir)]) == 0, capsys.readouterr().out
    for name, change in (("ssimulacra2", -1.0), ("dssim", 0.01)):
        copy = tmp_path / name
        shutil.copytree(sweep_dir, copy)
        df = pd.read_parquet(copy / "results.parquet")
        row = df.index[(df["image"] == "gradient") & (df["encoding"] == "png8_pillow")][0]
        df.loc[row, name] += change
        df.to_parquet(copy / "results.parquet")
        capsys.readouterr()
        assert verify([str(copy)]) == 1
        out = capsys.readouterr().out
        assert f"{name}=" in out and "recomputed from the file" in out and "1 mismatch" in out


# --------------------------------------------------------------------------- rankings


def _table():
    """Two images, three quantizer settings (fast at two bin_bits, and wu), each with a lossless and a lossy
    row; the lossy rows' quality is their file's and must be ignored."""
    rows = []
    scores = {  # image -> setting -> (mse, ssimulacra2, dssim)
        "a": {("fast", "5"): (10.0, 60.0, 0.02), ("fast", "6"): (12.0, 70.0, 0.01), ("wu", None): (20.0, 50.0, 0.05)},
        "b": {("fast", "5"): (10.0, 70.0, 0.01), ("fast", "6"): (12.0, 60.0, 0.02), ("wu", None): (20.0, 50.0, 0.05)},
    }
    for image, settings in scores.items():
        for (quantizer, bin_bits), (mse, s2, ds) in settings.items():
            for encoding, lossy in (("png8", False), ("jpeg_matched", True)):
                factor = 3.0 if lossy else 1.0
                rows.append({"image": image, "k": 16, "seed": 0, "dither": False, "alpha": "keep",
                             "quantizer": quantizer, "quantizer.bin_bits": bin_bits, "encoding": encoding,
                             "encoding_lossy": lossy, "status": "ok", "mse": mse * factor,
                             "ssimulacra2": s2 / factor, "dssim": ds * factor})
    return pd.DataFrame(rows)


def test_rank_disagreements_names_the_pairs_ordered_oppositely():
    table = _table()
    found = rank_disagreements(table, "ssimulacra2")
    assert len(found) == 1 and found.attrs["pairs"] == 6 and found.attrs["groups"] == 2
    row = found.iloc[0]
    assert (row["image"], row["better_by_reference"], row["better_by_column"]) == ("a", "fast bin_bits=5",
                                                                                 "fast bin_bits=6")
    assert (row["mse_better"], row["mse_worse"], row["ssimulacra2_better"], row["ssimulacra2_worse"]) == (
        10.0, 12.0, 60.0, 70.0)
    assert rank_disagreements(table, "dssim").iloc[0]["better_by_column"] == "fast bin_bits=6"  # lower is better
    agree = table.assign(ssimulacra2=100 - table["mse"])
    assert rank_disagreements(agree, "ssimulacra2").empty
    with pytest.raises(ValueError, match="direction"):
        rank_disagreements(table, "k")


def test_median_ranks_over_images():
    ranks = median_ranks(_table(), "ssimulacra2").set_index(["quantizer", "quantizer.bin_bits"])
    assert ranks.loc[("fast", "5"), "ssimulacra2"] == 65.0 and ranks.loc[("fast", "6"), "ssimulacra2"] == 65.0
    assert list(ranks["rank_by_mse"]) == [1, 2, 3] and list(ranks["rank_by_ssimulacra2"]) == [1, 1, 3]
    assert list(ranks["differs"]) == [False, True, False] and (ranks["images"] == 2).all()


def test_rankings_on_a_real_sweep(sweep):
    df, _ = sweep
    found = rank_disagreements(df, "ssimulacra2")
    assert found.attrs["groups"] == 3 and found.attrs["pairs"] == 0  # one quantizer: nothing to order
    assert len(median_ranks(df, "dssim")) == 1


def test_strips_give_the_whole_images_scores(monkeypatch):
    """Computed in strips of rows (bounded memory), the scores are those of one strip holding the whole image."""
    source, distorted = pair("chelsea_rgba_posterize8")
    source, distorted = source[:150, :120], distorted[:150, :120]  # RGBA, odd-sized scales
    whole = {f: f(source, distorted) for f in (ssimulacra2, dssim)}
    whole[ssimulacra2.__name__ + " rgb"] = ssimulacra2(source[..., :3], distorted[..., :3])
    monkeypatch.setattr(metrics, "_STRIP_PIXELS", 1)  # strips of 4 x the blur's reach: 16 and 20 rows
    assert ssimulacra2(source, distorted) == pytest.approx(whole[ssimulacra2], rel=1e-9)
    assert dssim(source, distorted) == pytest.approx(whole[dssim], rel=1e-9)
    assert ssimulacra2(source[..., :3], distorted[..., :3]) == pytest.approx(whole["ssimulacra2 rgb"], rel=1e-9)
