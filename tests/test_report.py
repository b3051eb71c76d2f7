"""The report from a hand-built results table: every number checked against what was planted."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kqbench.report import ReportError, render
from kqbench.report import data as rdata
from kqbench.report.contact import contact_sheet
from kqbench.report.findings import contact

from helpers import metadata

W, H = 200, 160
PIXELS = W * H
PLOTS = ["size_vs_k", "rate_distortion", "runtime_vs_k", "quality_vs_k", "contact_sheet"]

# Bits per pixel of each file: BPP[image][encoding][k] = (kmeans, sampled).
BPP = {
    "photo": {"rgb24": {16: (6.0, 6.4), 64: (10.0, 10.0)}, "labels": {16: (2.5, 2.7), 64: (5.0, 5.0)},
              "png8_pypng": {16: (2.0, 2.2), 64: (4.0, 4.4)},
              "png8_pillow": {16: (2.4, 2.6), 64: (4.1, 4.5)}},  # 4-bit at k=16 yet larger than pypng
    "grad": {"rgb24": {16: (2.0, 2.0), 64: (3.0, 3.0)}, "labels": {16: (1.3, 1.3), 64: (2.0, 2.0)},
             "png8_pypng": {16: (1.0, 1.2), 64: (1.5, 1.5)},
             "png8_pillow": {16: (0.8, 0.9), 64: (1.6, 3.2)}},  # planted: sampled k=64 above rgb24
}
PSNR = {"photo": {16: (28.0, 27.0), 64: (33.0, 31.0)}, "grad": {16: (25.0, 26.0), 64: (29.0, 29.5)}}
FIT = {"kmeans": {16: 0.5, 64: 1.0}, "sampled": {16: 0.1, 64: 0.2}}
ORIGINAL_BPP = {"photo": 10.0, "grad": 0.75}  # grad: a tiny generated PNG, smaller than every PNG-8
QUANTIZERS = ["kmeans", "sampled"]


def _table(source_dir, keep_paths=True) -> pd.DataFrame:
    rows = []
    for image, encodings in BPP.items():
        source = str(source_dir / "photo.png") if image == "photo" else "generated:gradient:200x160:seed=0"
        for enc, by_k in encodings.items():
            for k, values in by_k.items():
                for qi, (q, bpp) in enumerate(zip(QUANTIZERS, values)):
                    rgb24 = BPP[image]["rgb24"][k][qi] * PIXELS / 8
                    size = bpp * PIXELS / 8
                    psnr = PSNR[image][k][qi]
                    palette = 40 if (image, k) == ("grad", 64) else k
                    depth = 4 if enc == "png8_pillow" and palette <= 16 else 8
                    path = f"{qi}/files/{image}_{k}.png" if keep_paths and image == "photo" and \
                        enc == "png8_pypng" else None
                    rows.append({
                        "image": image, "width": W, "height": H, "pixels": PIXELS, "original_mode": "RGB",
                        "original_bytes": ORIGINAL_BPP[image] * PIXELS / 8, "unique_colours": 5000, "k": k,
                        "palette_size": palette, "quantizer": q, "encoding": enc, "seed": 0, "bytes": size,
                        "bits_per_pixel": bpp, "ratio_to_original": size / (ORIGINAL_BPP[image] * PIXELS / 8),
                        "ratio_to_rgb24": size / rgb24, "bit_depth": depth,
                        "colour_type": {"rgb24": "RGB", "labels": "grey"}.get(enc, "palette"),
                        "mse": 255 ** 2 / 10 ** (psnr / 10), "psnr": psnr,
                        "label_entropy_bpp": 3.5 if k == 16 else 5.0, "fit_s": FIT[q][k], "assign_s": 0.01,
                        "encode_s": 0.001, "repeats": 1, "cached": False, "roundtrip_ok": True, "status": "ok",
                        "error": None, "path": path, "source": source, **metadata(q, enc)})
    rows.append({"image": "photo", "k": 300, "quantizer": "kmeans", "encoding": "png8_pypng", "seed": 0,
                 "status": "failed", "error": "a PNG-8 palette stores 2..256 colours, not k=300",
                 "roundtrip_ok": False, "source": str(source_dir / "photo.png")})
    return pd.DataFrame(rows)


def _write_files(sweep):
    """A real source photo and real quantized PNG-8 files for the rows that name a path."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (16, 20, 3), dtype=np.uint8), "RGB")
    (sweep / "in").mkdir()
    photo.save(sweep / "in" / "photo.png")
    for qi in (0, 1):
        (sweep / str(qi) / "files").mkdir(parents=True)
        for k in (16, 64):
            photo.quantize(k).save(sweep / str(qi) / "files" / f"photo_{k}.png")


QUESTION = {"image": "photo", "k": 16,
            "sizes_kb": {"original": 435, "labels or rgb24 as saved": 588, "png8 (pypng)": 269},
            "encodings": {"labels or rgb24 as saved": ["labels", "rgb24"], "png8 (pypng)": ["png8_pypng"]}}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("sweep")
    _write_files(sweep)
    _table(sweep / "in").to_parquet(sweep / "results.parquet", index=False)
    report = render(sweep, psnr_threshold=30, question=QUESTION)
    return sweep, report, report.read_text(encoding="utf-8")


def test_report_and_every_plot_written(sweep):
    folder, report, _ = sweep
    assert report == folder / "report.md"
    for name in PLOTS:
        for ext in ("png", "svg"):
            assert (folder / "plots" / f"{name}.{ext}").stat().st_size > 1000, (name, ext)
    with Image.open(folder / "plots" / "contact_sheet.png") as im:
        assert im.width > 500


def test_figures_are_linked_relatively(sweep):
    _, _, text = sweep
    for name in PLOTS:
        assert f"](plots/{name}.png)" in text


def test_size_summary_numbers_match_the_table(sweep):
    _, _, text = sweep
    # png8_pypng at k=16: per-image medians over quantizers 2.1 (photo) and 1.1 (grad) -> median 1.6.
    assert "| png8_pypng | 16 | 1.60 (1.10–2.10) |" in text
    # rgb24 ratio is exactly 1 for every file: printed once, without a range.
    assert "| rgb24 | 64 | 6.50 (3.00–10.00) | 1.00× | 2 |" in text


def test_bit_depth_comparison_reports_the_larger_4_bit_file(sweep):
    _, _, text = sweep
    # k=16: pillow/pypng = 2.4/2.0, 2.6/2.2, 0.8/1.0, 0.9/1.2 -> 2 of 4 smaller.
    assert "| 16 | 4 |" in text and "| 2 of 4 |" in text
    assert "smaller in 2 of 4" in text and "did not always pay" in text


def test_pareto_front_names_the_quantizers(sweep):
    _, _, text = sweep
    assert "- photo: kmeans png8_pypng k=16 (2.00 bpp, 28.0 dB) → kmeans png8_pypng k=64 (4.00 bpp, 33.0 dB)" in text
    assert ("Quantizers on the front: kmeans (3 points, 2 of 2 images) and sampled (2 points, 1 of 2 images)."
            in text)
    assert "Never on the front: rgb24 and labels." in text


def test_smallest_k_reaching_the_threshold(sweep):
    _, _, text = sweep
    assert "| photo | k=64 (kmeans, sampled) | k=64 (33.0 dB) | k=64 (31.0 dB) |" in text
    assert "| grad | none up to k=64 |" in text
    assert "none (best 29.5 dB at k=64)" in text
    assert "No k in this sweep reaches 30 dB for grad" in text


def test_runtime_counts_each_quantization_once(sweep):
    _, _, text = sweep
    # kmeans: (0.5 + 0.01) at k=16 and (1.0 + 0.01) at k=64, for 2 images: 3.04 s, not 4 encodings x that.
    assert "| kmeans | 0.510 | 1.01 | 3.04 |" in text


def test_contradictions_are_listed(sweep):
    _, _, text = sweep
    start = text.index("## When the data contradict")
    section = text[start:text.index("## ", start + 3)]
    assert ("**PNG-8 not smaller than 24-bit RGB PNG** (same pixels, the RGB PNG at its default settings): 1 file."
            in section)
    assert "| grad | 64 | png8_pillow | sampled | 12.8 | 12.0 | 1.07× |" in section
    assert "**PNG-8 larger than the original file**: 8 files." in section
    assert "| grad | 16 | png8_pypng | kmeans, sampled |" in section
    assert "grad: generated" in section
    assert "photo | 16 | png8" not in section  # the photo's PNG-8 files are all smaller than its original


def test_question_table_and_ordering(sweep):
    _, _, text = sweep
    assert "| original file | 40.0 | 1.00× | 435 | 1.00× | original |" in text
    assert "| rgb24 | 24.0 | 0.60× | 588 | 1.35× | labels or rgb24 as saved |" in text
    assert "| png8_pypng | 8.0 | 0.20× | 269 | 0.62× | png8 (pypng) |" in text
    assert "does not hold here (rgb24 is not larger than the original)" in text
    assert "PLTE chunk of 3 × 16 = 48 bytes" in text


def test_failed_rows_counted_and_left_out(sweep):
    _, _, text = sweep
    assert "(33 rows: 32 ok, 1 not ok)" in text
    assert "- 1 failed: a PNG-8 palette stores 2..256 colours, not k=300" in text
    assert "k = 16, 64," in text and "300" not in text.split("## In short")[0].split("k = ")[1]
    assert "Environment: not recorded" in text


def test_rendering_twice_gives_the_same_report(sweep):
    folder, report, text = sweep
    again = render(folder, psnr_threshold=30, question=QUESTION)
    assert again.read_bytes() == text.encode("utf-8")


def test_contact_sheet_skipped_without_kept_files(tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "photo.png")
    ctx = rdata.Context(_table(tmp_path / "in", keep_paths=False), tmp_path, 30)
    sheet = contact_sheet(ctx.files, ctx.order, tmp_path, tmp_path / "plots")
    assert sheet.png is None and not (tmp_path / "plots" / "contact_sheet.png").exists()
    assert "no quantized file was kept" in contact(sheet) and "keep_files=true" in contact(sheet)


def test_pareto_mask_keeps_ties_and_drops_dominated():
    bpp = np.array([1.0, 1.0, 2.0, 2.0, 3.0])
    psnr = np.array([20.0, 20.0, 25.0, 24.0, math.inf])
    assert rdata.pareto_mask(bpp, psnr).tolist() == [True, True, True, False, True]


def test_missing_folder_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="no such folder"):
        render(tmp_path / "nope")
    with pytest.raises(ReportError, match="results.parquet: not found"):
        render(tmp_path)


def test_command_line_on_a_missing_folder_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kqbench.report", str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "no such folder" in proc.stderr and proc.stdout == ""


# --- one section per swept setting (issue #5) -------------------------------------------------------------

PNG_PARAMS = {"encoding.compress_level": 6, "encoding.order": "as_is", "encoding.optimizer": "none",
              "encoding.optimizer_level": None}


def _row(image, encoding, size, psnr, de, *, quantizer_cs="rgb", dither=False, encode_s=0.02, bit_depth=8,
         colour_type="palette", **extra):
    """One ok row of a 100 x 80 image at k=16; ``extra`` sets parameter and lossy columns."""
    pixels = 100 * 80
    return {"image": image, "width": 100, "height": 80, "pixels": pixels, "original_mode": "RGB",
            "original_bytes": 50_000.0, "unique_colours": 900, "k": 16, "palette_size": 16, "quantizer": "kmeans",
            "quantizer.colour_space": quantizer_cs, "encoding": encoding, "seed": 0, "dither": dither,
            "bytes": float(size), "bits_per_pixel": 8 * size / pixels, "ratio_to_original": size / 50_000,
            "ratio_to_rgb24": size / 6000, "bit_depth": bit_depth, "colour_type": colour_type,
            "mse": 255 ** 2 / 10 ** (psnr / 10), "psnr": psnr, "delta_e2000": de, "label_entropy_bpp": 3.5,
            "fit_s": 0.5, "assign_s": 0.01, "encode_s": encode_s, "repeats": 1, "cached": False,
            "roundtrip_ok": True, "status": "ok", "error": None, "path": None,
            "source": f"generated:{image}:100x80:seed=0", **metadata("kmeans", encoding), **extra}


# Undithered rgb quantization of each image: PSNR and mean CIEDE2000.
QUALITY = {"a": (30.0, 3.0), "b": (26.0, 4.0)}


def _axes_rows(lossy=True, dithered=True) -> list[dict]:
    rows = []
    for img, (psnr, de) in QUALITY.items():
        pillow = lambda size, level=6, **kw: _row(  # noqa: E731
            img, "png8_pillow", size, psnr, de, bit_depth=4, **{**PNG_PARAMS, "encoding.compress_level": level, **kw})
        # zlib level on png8_pillow: a 1.20x / 0.95x, b 1.10x / 1.05x the level-6 size; 0.5x / 2.5x the time
        rows += [pillow({"a": 1200, "b": 2200}[img], 1, encode_s=0.01), pillow({"a": 1000, "b": 2000}[img]),
                 pillow({"a": 950, "b": 2100}[img], 9, encode_s=0.05)]
        # optimizer: png8_opt (png8_pillow + oxipng) at 0.80x / 0.90x, 10x the time
        rows.append(_row(img, "png8_opt", {"a": 800, "b": 1800}[img], psnr, de, bit_depth=4, encode_s=0.2,
                         **{**PNG_PARAMS, "encoding.optimizer": "oxipng", "encoding.optimizer_level": 4}))
        # png8_pypng: reference (8 bits, as_is), palette order nearest_chain, bitdepth minimal (4 bits)
        for order, depth, size in (("as_is", "8", {"a": 1000, "b": 2000}),
                                   ("nearest_chain", "8", {"a": 900, "b": 2000}),
                                   ("as_is", "minimal", {"a": 900, "b": 2200})):
            rows.append(_row(img, "png8_pypng", size[img], psnr, de, bit_depth=4 if depth == "minimal" else 8,
                             **{**PNG_PARAMS, "encoding.order": order, "encoding.bitdepth": depth}))
        # rgb24 scanline filter: none at 0.80x (a) and 1.10x (b) Pillow's choice
        for flt, size in (("pillow", {"a": 5000, "b": 8000}), ("none", {"a": 4000, "b": 8800})):
            rows.append(_row(img, "rgb24", size[img], psnr, de, colour_type="RGB",
                             **{"encoding.compress_level": 6, "encoding.filter": flt}))
        # webp_lossless: the same pixels, 0.90x / 0.96x the png8_pillow file
        rows.append(_row(img, "webp_lossless", {"a": 900, "b": 1920}[img], psnr, de, bit_depth=None,
                         colour_type=None, **{"encoding.quality": 80, "encoding.method": 4}))
        # colour space: lab gives -1.0 / -0.5 dB, -0.50 / -0.40 ΔE2000, 1.10x / 0.95x the png8_pillow size
        rows.append(_row(img, "png8_pillow", {"a": 1100, "b": 1900}[img], psnr - {"a": 1.0, "b": 0.5}[img],
                         de - {"a": 0.5, "b": 0.4}[img], quantizer_cs="lab", bit_depth=4, **PNG_PARAMS))
        if dithered:  # dithering: 1.30x / 1.20x the size, -2 / -1 dB, +0.50 / +0.20 ΔE2000
            rows.append(_row(img, "png8_pillow", {"a": 1300, "b": 2400}[img], psnr - {"a": 2.0, "b": 1.0}[img],
                             de + {"a": 0.5, "b": 0.2}[img], dither=True, bit_depth=4, **PNG_PARAMS))
        if lossy:  # jpeg: a 0.40x at quality 50; b unreachable (quality 100, 24 dB < 26 dB). webp: 0.30x / 0.50x
            jpeg = {"a": (400, 30.2, 50.0, 2.0), "b": (5000, 24.0, 100.0, 5.0)}[img]
            webp = {"a": (300, 30.1, 40.0, 2.5), "b": (1000, 26.5, 60.0, 3.0)}[img]
            for enc, (size, p, q, d) in (("jpeg_matched", jpeg), ("webp_matched", webp)):
                rows.append(_row(img, enc, size, p, d, bit_depth=None, colour_type=None, lossy_quality=q,
                                 lossy_target_psnr=psnr, **{"encoding.method": 4}))
    return rows


@pytest.fixture(scope="module")
def axes_report(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("axes")
    pd.DataFrame(_axes_rows()).to_parquet(sweep / "results.parquet", index=False)
    text = render(sweep).read_text(encoding="utf-8")
    return text


def _section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + 3)
    return text[start:end if end >= 0 else len(text)]


def test_zlib_level_section(axes_report):
    s = _section(axes_report, "## zlib level (`encoding.compress_level`)")
    assert "| png8_pillow | level 6 (reference) | 1.00× |" in s
    assert "| png8_pillow | level 1 | 1.15× (1.10×–1.20×) |" in s and "| 0.500× | 0 / 2 of 2 |" in s
    assert "| png8_pillow | level 9 | 1.00× (0.95×–1.05×) |" in s and "| 2.50× | 1 / 1 of 2 |" in s
    assert "level 1 gave median 1.15× (1.10×–1.20×) the size with level 6 (larger in all 2 files)" in s
    assert "(smaller in 1 of 2, larger in 1: mixed)" in s
    assert "png8_opt" not in s  # only at level 6: nothing to compare


def test_filter_order_and_optimizer_sections(axes_report):
    s = _section(axes_report, "## Truecolour scanline filter")
    assert "| rgb24 | none | 0.95× (0.80×–1.10×) |" in s and "mixed" in s
    s = _section(axes_report, "## PNG-8 palette order")
    assert "| png8_pypng | nearest_chain | 0.95× (0.90×–1.00×) |" in s
    assert "smaller in 1 of 2, the same in 1" in s and "png8_pillow" not in s
    s = _section(axes_report, "## Optimizer pass")
    assert "| png8_pillow | no optimizer (reference) | 1.00× |" in s
    assert "| png8_opt | oxipng level 4 | 0.85× (0.80×–0.90×) |" in s and "| 10.0× | 2 / 0 of 2 |" in s
    assert ("oxipng level 4 gave median 0.85× (0.80×–0.90×) the size with no optimizer (smaller in all 2 files)"
            in s)


def test_bit_depth_section_pairs_like_settings(axes_report):
    s = _section(axes_report, "## Does the bit depth")
    # pillow (4-bit) vs pypng at its reference settings (8 bits, as_is, level 6): 1000/1000 and 2000/2000
    assert "| 16 | 4 | 1.50 | 1.50 | 1.00× | 0 of 2 |" in s
    assert "| png8_pypng | minimal vs 8 | 16 | 4 | 1.00× (0.90×–1.10×) | 1 / 1 of 2 |" in s


def test_dithering_section(axes_report):
    s = _section(axes_report, "## Dithering (`dither`)")
    assert ("| png8_pillow(compress_level=6) | 16 | 1.25× (1.20×–1.30×) | -1.5 (-2.0 to -1.0) | "
            "+0.35 (+0.20 to +0.50) | 0 / 2 of 2 |") in s
    assert ("dithered files were median 1.25× (1.20×–1.30×) the size of undithered ones (larger in all 2 files)"
            in s)
    assert "PSNR changed by median -1.5 (-2.0 to -1.0) dB (lower in all 2)" in s
    assert "lossy comparators are left out" not in s  # no dithered lossy row here


def test_colour_space_section(axes_report):
    s = _section(axes_report, "## Colour space of the quantizer")
    assert "| kmeans | 16 | rgb (reference) | " in s
    assert "| kmeans | 16 | lab |" in s and "| 27.2 (25.5–29.0) | 3.05 (2.50–3.60) | -0.8 (-1.0 to -0.5) |" in s
    assert "| -0.45 (-0.50 to -0.40) | 1.02× (0.95×–1.10×) |" in s
    assert "kmeans in lab vs rgb: PSNR -0.8 (-1.0 to -0.5) dB (lower in all 2)" in s


def test_lossy_section(axes_report):
    s = _section(axes_report, "## Should this be a PNG at all?")
    # compared with the smallest PNG-8 of the sweep: png8_opt, 800 (a) and 1800 (b) bytes
    assert "compared with the png8_opt file of the same quantization" in s
    assert "| webp_lossless | 16 | 1.10× (1.07×–1.12×) | – (lossless) |" in s
    assert "| jpeg_matched | 16 | 0.50× | 50 | 2.00 / 3.00 | 1 / 0 of 1 | 1 of 2 |" in s
    assert "| webp_matched | 16 | 0.47× (0.38×–0.56×) | 50 (40–60) | 2.75 (" not in s  # ΔE cell is file / png8
    assert "| webp_matched | 16 | 0.47× (0.38×–0.56×) | 50 (40–60) | 2.75 / 3.50 | 2 / 0 of 2 | 2 of 2 |" in s
    assert "unreachable" in s and "jpeg_matched 1 of 2: b (k=16)" in s
    assert "smaller than the PNG-8 for 2 of 2 quantizations" in s


def test_quality_table_shows_delta_e2000(axes_report):
    s = _section(axes_report, "## Quality by quantizer and k")
    # rgb quantization: PSNR 30 / 26 -> 28.0, ΔE2000 3.0 / 4.0 -> 3.50; lossy and dithered rows ignored
    assert "| kmeans(colour_space=rgb) | 28.0 dB / " in s and " / 3.50 |" in s


def test_core_sections_ignore_dithered_and_lossy_rows():
    from kqbench.report import findings, text
    full = rdata.Context(pd.DataFrame(_axes_rows()), ".", 30)
    plain = rdata.Context(pd.DataFrame(_axes_rows(lossy=False, dithered=False)), ".", 30)
    assert full.excluded == {"dithered": 2, "lossy": 4, "alpha_dropped": 0}
    assert plain.excluded == {"dithered": 0, "lossy": 0, "alpha_dropped": 0}
    for section in (text.sizes, text.in_short, findings.quality, findings.pareto, findings.runtime,
                    findings.contradictions):
        assert section(full) == section(plain), section.__name__
    # per image, the median over the rgb and lab quantizations: a (1000 + 1100) / 2, b (2000 + 1900) / 2 bytes
    assert "| png8_pillow(compress_level=6) | 16 | 1.50 (1.05–1.95) |" in text.sizes(full)
    assert "2 dithered rows (`dither=true`) and 4 lossy-comparator rows (jpeg_matched, webp_matched)" in \
        text.overview(full)
    assert "leave out" not in text.overview(plain)


def test_absent_axes_give_no_section(sweep):
    _, _, text = sweep
    for heading in ("## zlib level", "## Truecolour scanline filter", "## PNG-8 palette order", "## Optimizer pass",
                    "## Dithering", "## Colour space", "## Should this be a PNG at all", "**png8_pypng, `bitdepth`"):
        assert heading not in text
    # a parameter column with one value is no axis either
    from kqbench.report import axes
    rows = [r for r in _axes_rows(lossy=False, dithered=False) if r["encoding"] == "png8_pillow"
            and r["encoding.compress_level"] == 6 and r["quantizer.colour_space"] == "rgb"]
    assert axes.sections(rdata.Context(pd.DataFrame(rows), ".", 30)) == []


def test_a_sweep_of_dithered_files_only_keeps_them_in_the_core():
    rows = [r for r in _axes_rows(lossy=True) if r["dither"] or r["encoding"] in ("jpeg_matched",)]
    for r in rows:
        r["dither"] = True
    ctx = rdata.Context(pd.DataFrame(rows), ".", 30)
    assert set(ctx.files["encoding"]) == {"png8_pillow"} and ctx.excluded == {"dithered": 0, "lossy": 2, "alpha_dropped": 0}
    from kqbench.report import text
    assert "Every quantized file of this sweep is dithered" in text.overview(ctx)
