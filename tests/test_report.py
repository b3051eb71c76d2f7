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
                        "error": None, "path": path, "source": source})
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
            "sizes_kb": {"original": 435, "labels or rgb24 as saved": 588, "png8 (pypng)": 269}}


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
    assert "**PNG-8 not smaller than rgb24** (same pixels): 1 file." in section
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
