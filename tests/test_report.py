"""The report from hand-built results tables: every number checked against what was planted, or recomputed
from the table here, independently of the report's code."""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kqbench.report import ReportError, plan, render, snippet
from kqbench.report import data as rdata
from kqbench.report.contact import contact_sheet, overlapping
from kqbench.report.findings import contact

from helpers import metadata

W, H = 200, 160
PIXELS = W * H

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
KEPT = ("png8_pypng", "png8_pillow", "rgb24")  # the photo's files written to disk (keep_paths)


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
                    path = f"{qi}/files/{image}_{k}_{enc}.png" if keep_paths and image == "photo" and \
                        enc in KEPT else None
                    rows.append({
                        "image": image, "width": W, "height": H, "pixels": PIXELS, "original_mode": "RGB",
                        "original_bytes": ORIGINAL_BPP[image] * PIXELS / 8, "unique_colours": 5000, "k": k,
                        "palette_size": palette, "quantizer": q, "encoding": enc, "seed": 0, "bytes": size,
                        "bits_per_pixel": bpp, "ratio_to_original": size / (ORIGINAL_BPP[image] * PIXELS / 8),
                        "ratio_to_rgb24": size / rgb24, "bit_depth": depth,
                        "colour_type": {"rgb24": "RGB", "labels": "grey"}.get(enc, "palette"),
                        "mse": 255 ** 2 / 10 ** (psnr / 10), "psnr": psnr,
                        "label_entropy_bpp": 3.5 if k == 16 else 5.0, "fit_s": FIT[q][k], "assign_s": 0.01,
                        "encode_s": 0.001 * (1 + qi + k / 16), "repeats": 1, "cached": False, "roundtrip_ok": True,
                        "status": "ok", "error": None, "path": path, "source": source, **metadata(q, enc)})
    rows.append({"image": "photo", "k": 300, "quantizer": "kmeans", "encoding": "png8_pypng", "seed": 0,
                 "status": "failed", "error": "a PNG-8 palette stores 2..256 colours, not k=300",
                 "roundtrip_ok": False, "source": str(source_dir / "photo.png")})
    return pd.DataFrame(rows)


def _write_files(sweep):
    """A real source photo (with a smooth and a busy half) and real quantized files for the rows that name a path."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    pixels[:, :24] = np.linspace(60, 200, 24, dtype=np.uint8)[None, :, None]  # a smooth ramp on the left
    photo = Image.fromarray(pixels, "RGB")
    (sweep / "in").mkdir()
    photo.save(sweep / "in" / "photo.png")
    for qi in (0, 1):
        (sweep / str(qi) / "files").mkdir(parents=True)
        for k in (16, 64):
            quantized = photo.quantize(k)
            for enc in KEPT:
                (quantized.convert("RGB") if enc == "rgb24" else quantized).save(
                    sweep / str(qi) / "files" / f"photo_{k}_{enc}.png")


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


def _section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + 3)
    return text[start:end if end >= 0 else len(text)]


def _words(text: str) -> int:
    """Words as ``wc -w`` counts them."""
    return len(text.split())


# --- what is written ---------------------------------------------------------------------------------------

FIGURES = ["contact_sheet", "size_vs_k", "quality_delta", "runtime_vs_k", "rate_distortion", "encode_time",
           "question"]


def test_report_html_and_the_figures_for_this_sweep_are_written(sweep):
    folder, report, text = sweep
    assert report == folder / "report.md" and (folder / "report.html").stat().st_size > 10_000
    assert sorted(p.stem for p in (folder / "plots").iterdir()) == sorted(FIGURES)  # PNG only: no SVG copies
    for name in FIGURES:
        assert f"](plots/{name}.png)" in text
        with Image.open(folder / "plots" / f"{name}.png") as im:
            assert im.format == "PNG" and im.width > 300


def test_rendering_twice_gives_the_same_report(sweep):
    folder, report, text = sweep
    again = render(folder, psnr_threshold=30, question=QUESTION)
    assert again.read_bytes() == text.encode("utf-8")


def test_the_question_is_read_from_the_sweep_when_not_given(tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "photo.png")
    _table(tmp_path / "in", keep_paths=False).to_parquet(tmp_path / "results.parquet", index=False)
    import yaml
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump({"report": {"question": QUESTION}}, sort_keys=False))
    text = render(tmp_path, figures=False).read_text()
    assert "## The question, reproduced" in text and "Your numbers: original: 435 KB" in text


# --- the answer block ---------------------------------------------------------------------------------------

def test_answer_block_comes_first_with_the_fix_and_kb(sweep):
    _, _, text = sweep
    first = "\n".join(text.splitlines()[:25])
    assert first.startswith("# Why is my file this size?")
    assert "## The answer" in first and "```python" in first and "im.putpalette(" in first
    assert "png.Writer(" in first and "**Recommendation.**" in first
    assert re.search(r"\d+\.\d KB", first)
    assert "results.parquet" not in first  # plumbing goes to the end
    heads = re.findall(r"^## (.*)$", text, flags=re.M)
    assert heads[:2] == ["The answer", "In short"] and heads[-1] == "How this report was made"


def _kb(n_bytes) -> str:
    return f"{n_bytes / 1000:.1f} KB"


def test_answer_numbers_recomputed_from_the_table(sweep):
    """Every number of the answer block, recomputed here with pandas from the raw table."""
    folder, _, text = sweep
    answer = _section(text, "## The answer")
    t = _table(folder / "in")
    t = t[t["status"] == "ok"]
    key = ["image", "k", "quantizer"]
    # the example: the question's image and k, the baseline quantizer (kmeans: lowest quantizer_rank)
    assert t.groupby("quantizer")["quantizer_rank"].first().idxmin() == "kmeans"
    ex = t[(t["image"] == "photo") & (t["k"] == 16) & (t["quantizer"] == "kmeans")].set_index("encoding")
    original = ex["original_bytes"].iloc[0]
    # the palette PNG the snippet writes: the one Pillow writes
    fix = t.loc[(t["encoding_family"] == "palette PNG") & (t["encoding_writer"] == "Pillow"), "encoding"].iloc[0]
    why = answer.split("**The fix")[0]
    assert f"its original a {_kb(original)} truecolour PNG" in why
    assert f"weighs {_kb(ex.at['rgb24', 'bytes'])} ({ex.at['rgb24', 'bytes'] / original:.2f}× the original)" in why
    assert f"weigh {_kb(ex.at[fix, 'bytes'])} ({ex.at[fix, 'bytes'] / original:.2f}× the original)" in why
    assert f"grey image weighs {_kb(ex.at['labels', 'bytes'])}" in why
    pal = t[t["encoding"] == fix].set_index(key)["bytes"]
    rgb = t[t["encoding"] == "rgb24"].set_index(key)["bytes"]
    lab = t[t["encoding"] == "labels"].set_index(key)["bytes"]
    r = (pal / rgb).dropna()
    assert (f"Over all {len(r)} quantizations of this sweep, the palette PNG was median {r.median():.2f}× "
            f"({r.min():.2f}×–{r.max():.2f}×) the size of the 24-bit RGB PNG of the same pixels, smaller in "
            f"{int((r < 1).sum())} of {len(r)}.") in why
    saving = answer.split("**Expected saving")[1].split("**Recommendation")[0]
    saved, pct = rgb - pal, 1 - r
    assert (f"saves median {_kb(saved.median())} per file ({100 * pct.median():.0f}% of it; {100 * pct.min():.0f}% "
            f"to {100 * pct.max():.0f}%), {_kb(saved.sum())} over the {len(r)} files") in saving
    assert f"grey index image, median {_kb((lab - pal).median())} ({100 * (1 - pal / lab).median():.0f}%)" in saving
    rec = answer.split("**Recommendation.**")[1]
    good = t[t["psnr"] >= 30]
    picks = good.sort_values(["bytes", "k"]).groupby("image").head(1)
    assert list(picks["image"]) == ["photo"] and picks["encoding"].iloc[0] == "png8_pypng"
    assert "≥ 30 dB" in rec and "the smallest file was a png8_pypng file for 1 of 2 images" in rec
    assert "No file reaches 30 dB for grad." in rec
    # with png8_pypng, each quantizer at the smallest k reaching 30 dB on photo (k=64 for both)
    q = t[(t["encoding"] == "png8_pypng") & (t["image"] == "photo") & (t["k"] == 64)].set_index("quantizer")
    run = q["fit_s"] + q["assign_s"]
    assert f"kmeans needs k=64 for photo: {_kb(q.at['kmeans', 'bytes'])} in all over 1 image" in rec
    assert f"for {run['kmeans']:.2f} s of quantizing" in rec
    extra = 100 * (q.at["sampled", "bytes"] / q.at["kmeans", "bytes"] - 1)
    assert f"sampled, the fastest, {_kb(q.at['sampled', 'bytes'])} (+{extra:.1f}%) in {run['sampled']:.3f} s" in rec


def test_the_snippet_runs_and_writes_a_palette_png(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    for alpha in (False, True):
        labels = rng.integers(0, 40, (30, 50))
        palette = rng.random((40, 4 if alpha else 3)) * 255  # float centres, as KMeans gives them
        expected = palette.round().astype(np.uint8)[labels]
        code = snippet.fix(alpha)
        pillow, pypng = code.split("import png")
        for part in (pillow, pillow + "import png" + pypng.replace("import numpy as np", "")):
            namespace = {"labels": labels, "palette": palette}
            exec(compile(part, "snippet", "exec"), namespace)  # noqa: S102 - the report's own snippet
            with Image.open(tmp_path / "out.png") as im:
                assert im.mode == "P"
                assert np.array_equal(np.asarray(im.convert("RGBA" if alpha else "RGB")), expected)


# --- in short, aggregation, words --------------------------------------------------------------------------

def test_in_short_states_the_kind_of_each_original(sweep):
    _, _, text = sweep
    short = _section(text, "## In short")
    assert ("24-bit RGB PNG of the quantized pixels larger than the original file: 4 of 4 against generated images"
            in short) and "0 of 4 against truecolour PNG originals" in short
    assert "Smallest k reaching PSNR ≥ 30 dB (any quantizer): k=64 for photo; none for grad." in short


def _tables(text):
    """Each Markdown table with the paragraph before it."""
    blocks = text.split("\n\n")
    return [(blocks[i - 1], b) for i, b in enumerate(blocks) if b.startswith("| ") and i]


def test_every_table_names_its_aggregation(sweep, axes_report):
    for text in (sweep[2], axes_report):
        for caption, table in _tables(text):
            assert re.search(r"median over|total over|One row per|This sweep, \w+ at k=", caption), (caption, table)


def _ratio_claims(text):
    """``median M× (lo×–hi×) ... (smaller|larger) in a of n`` in sentences."""
    pat = (r"median (\d+\.\d+)×(?: \((\d+\.\d+)×–(\d+\.\d+)×\))?[^.;|]*?\((?:(smaller) in (\d+) of (\d+)|"
           r"(larger) in (?:all )?(\d+)(?: of (\d+))?)")
    return re.findall(pat, text)


def test_medians_agree_in_direction_with_their_counts(sweep, axes_report):
    claims = _ratio_claims(sweep[2]) + _ratio_claims(axes_report)
    assert len(claims) >= 5
    for m, lo, hi, smaller, n_small, of, larger, n_large, of2 in claims:
        m = float(m)
        if lo:
            assert float(lo) <= m <= float(hi)
        if smaller:
            assert (m < 1) <= (2 * int(n_small) >= int(of)), (m, n_small, of)
            assert (2 * int(n_small) > int(of)) <= (m <= 1), (m, n_small, of)
        if larger:
            assert m >= 1, (m, n_large)


def test_sentence_ranges_hold_every_value_of_their_table(axes_report):
    s = _section(axes_report, "## Dithering")
    lo, hi = map(float, re.search(r"dithered files were median [\d.]+× \(([\d.]+)×–([\d.]+)×\)", s).groups())
    cells = [float(v) for v in re.findall(r"\| ([\d.]+)×", s)]
    assert cells and all(lo <= v <= hi for v in cells)


def _default_like_table(n_images=6, seed=0) -> pd.DataFrame:
    """A table shaped like the default sweep: 6 images x k=16,64,256 x 5 k-means quantizers x 5 encodings."""
    rng = np.random.default_rng(seed)
    quantizers = ["kmeans", "sampled", "unique", "minibatch", "fast"]
    encodings = {"rgb24": 1.0, "labels": 0.6, "png8_pypng": 0.45, "png8_pillow": 0.47, "png8": 0.43}
    rows = []
    for i in range(n_images):
        generated = i >= n_images // 2
        image = f"img{i}"
        source = f"generated:kind{i}:320x240:seed=0" if generated else f"/nowhere/{image}.jpg"
        original = float(rng.uniform(2_000, 200_000))
        for k in (16, 64, 256):
            base_psnr = 22 + 5 * math.log2(k / 16) / 2 + rng.normal(0, 2)
            for q in quantizers:
                psnr = base_psnr + rng.normal(0, 0.2)
                rgb = original * rng.uniform(0.5, 3.0) * (k / 64) ** 0.5
                fit = float(rng.uniform(0.01, 5))
                for enc, scale in encodings.items():
                    size = rgb * scale * rng.uniform(0.95, 1.05)
                    rows.append({
                        "image": image, "width": 320, "height": 240, "pixels": 76_800, "original_mode": "RGB",
                        "original_bytes": original, "unique_colours": 30_000, "k": k, "palette_size": k,
                        "quantizer": q, "encoding": enc, "seed": 0, "bytes": size,
                        "bits_per_pixel": 8 * size / 76_800, "ratio_to_original": size / original,
                        "ratio_to_rgb24": size / rgb, "bit_depth": 8,
                        "colour_type": {"rgb24": "RGB", "labels": "grey"}.get(enc, "palette"),
                        "mse": 255 ** 2 / 10 ** (psnr / 10), "psnr": psnr, "delta_e2000": 3.0,
                        "label_entropy_bpp": 5.0, "fit_s": fit, "assign_s": 0.01, "encode_s": 0.01,
                        "repeats": 1, "cached": False, "roundtrip_ok": True, "status": "ok", "error": None,
                        "path": None, "source": source, **metadata(q, enc)})
    return pd.DataFrame(rows)


def test_a_default_sized_report_stays_under_1800_words(tmp_path):
    table = _default_like_table()
    assert len(table) == 450
    table.to_parquet(tmp_path / "results.parquet", index=False)
    text = render(tmp_path).read_text()  # with its figures' captions
    assert _words(text) <= 1800, _words(text)


def _axes_sweep_table() -> pd.DataFrame:
    """A table shaped like the encoding-axes experiment: 6 images x 3 k x 2 PNG-8 writers x zlib level 1/6/9 x
    palette order as_is/frequency/nearest_chain x dither false/true (648 rows)."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        original = float(rng.uniform(2_000, 200_000))
        for k in (16, 64, 256):
            psnr = 25 + 4 * math.log2(k / 16) / 2
            for enc in ("png8_pypng", "png8_pillow"):
                for level in (1, 6, 9):
                    for order in ("as_is", "frequency", "nearest_chain"):
                        for dither in (False, True):
                            size = original * (k / 64) ** 0.5 * {1: 1.1, 6: 1.0, 9: 0.98}[level] * \
                                rng.uniform(0.9, 1.1) * (1.2 if dither else 1.0)
                            rows.append({
                                "image": f"img{i}", "width": 320, "height": 240, "pixels": 76_800,
                                "original_mode": "RGB", "original_bytes": original, "unique_colours": 30_000, "k": k,
                                "palette_size": k, "quantizer": "fast", "encoding": enc, "seed": 0, "dither": dither,
                                "bytes": size, "bits_per_pixel": 8 * size / 76_800,
                                "ratio_to_original": size / original, "ratio_to_rgb24": 0.45, "bit_depth": 8,
                                "colour_type": "palette", "mse": 255 ** 2 / 10 ** ((psnr - 2 * dither) / 10),
                                "psnr": psnr - 2 * dither, "fit_s": 0.05, "assign_s": 0.01,
                                "encode_s": 0.01 * level, "repeats": 1, "cached": False, "roundtrip_ok": True,
                                "status": "ok", "error": None, "path": None,
                                "source": f"generated:kind{i}:320x240:seed=0", "encoding.compress_level": level,
                                "encoding.order": order, "encoding.optimizer": "none",
                                "encoding.optimizer_level": None, **metadata("fast", enc)})
    return pd.DataFrame(rows)


def test_a_big_sweep_summarises_per_axis(tmp_path):
    table = _axes_sweep_table()
    assert len(table) == 648
    table.to_parquet(tmp_path / "results.parquet", index=False)
    text = render(tmp_path, figures=False).read_text()
    short = _section(text, "## In short")
    assert "- zlib level, against level 6: level 1 gave median" in short
    assert "- PNG-8 palette order, against as_is:" in short and "- Dithering: files median" in short
    # the core sections compare each encoding at its default settings, named plainly
    assert "png8_pypng(" not in _section(text, "## File size by encoding")
    contradictions = _section(text, "## When the data contradict")
    assert contradictions.count("\n| ") - 1 <= 15
    assert _words(text) <= 2600, _words(text)


def test_contradictions_are_grouped_per_image_with_their_originals(sweep):
    _, _, text = sweep
    s = _section(text, "## When the data contradict")
    assert ("| grad (generated, its original a lossless PNG of 3.0 KB) | 1 of 8: k=64, 1.07× | "
            "8 of 8: k=16,64, 1.80× (1.07×–4.27×) | 4 of 4: k=16,64, 3.33× (2.67×–4.00×) |") in s
    assert "| photo" not in s  # every photo file follows the usual story
    assert "a smooth generated image compresses to almost nothing" in s


# --- the core sections -------------------------------------------------------------------------------------

def test_size_table_numbers_match_the_table(sweep):
    _, _, text = sweep
    s = _section(text, "## File size by encoding")
    assert "Each cell: the median over its 4 files (2 images × 2 quantizers)" in s
    # png8_pypng at k=16: 2.0, 2.2, 1.0, 1.2 bpp -> median 1.60; ratios 2/6, 2.2/6.4, 1/2, 1.2/2 -> 0.42
    assert "| png8_pypng | 1.60, 0.42× | 2.75, 0.47× |" in s
    assert "| rgb24 | 4.00, 1.00× | 6.50, 1.00× |" in s


def test_bit_depth_comparison_reports_the_larger_4_bit_file(sweep):
    _, _, text = sweep
    # k=16: pillow/pypng = 2.4/2.0, 2.6/2.2, 0.8/1.0, 0.9/1.2 -> 2 of 4 smaller
    assert ("**Bit depth.** Where png8_pillow packed indices into 4 bits and png8_pypng wrote 8 (same pixels), "
            "png8_pillow files were median 0.99× (0.75×–1.20×) the size, smaller in 2 of 4") in text


def test_pareto_front_names_encodings_and_quantizers(sweep):
    _, _, text = sweep
    s = _section(text, "## Rate–distortion")
    assert "Encodings on the front: png8_pypng (3 files, 2 of 2 images) and png8_pillow (2 files, 1 of 2 images)." in s
    assert "Never on it: rgb24 and labels." in s


def test_quality_against_the_baseline(sweep):
    _, _, text = sweep
    s = _section(text, "## Quality")
    assert "| kmeans (baseline) | 26.5 | 31.0 |" in s
    assert "| sampled | 26.5 (+0.0) | 30.2 (-0.8) |" in s  # (27-28, 26-25) -> 0.0; (31-33, 29.5-29) -> -0.75


def test_runtime_counts_each_quantization_once(sweep):
    _, _, text = sweep
    # kmeans: (0.5 + 0.01) at k=16 and (1.0 + 0.01) at k=64, for 2 images: 3.04 s, not 4 encodings x that.
    assert "| kmeans | 0.510 | 1.01 | 3.04 |" in text


def test_question_table_and_ordering(sweep):
    _, _, text = sweep
    assert "| original file | 40.0 | 1.00× | 435 | 1.00× | original |" in text
    assert "| rgb24 | 24.0 | 0.60× | 588 | 1.35× | labels or rgb24 as saved |" in text
    assert "| png8_pypng | 8.0 | 0.20× | 269 | 0.62× | png8 (pypng) |" in text
    assert "does not hold here (rgb24 is not larger than the original)" in text
    assert "PLTE chunk of 3 × 16 = 48 bytes" in text


def test_failed_rows_counted_and_left_out(sweep):
    _, _, text = sweep
    s = _section(text, "## How this report was made")
    assert "(33 rows: 32 ok, 1 not ok)" in s
    assert "- 1 failed: a PNG-8 palette stores 2..256 colours, not k=300" in s
    assert "k = 16, 64," in s and "300" not in text.split("## How this report")[0]
    assert "Environment: not recorded" in s


# --- figures chosen for the sweep ---------------------------------------------------------------------------

def _points(role, args) -> int:
    """How many data points a planned figure would show."""
    if role in ("size", "rd", "runtime"):
        return len(args[0])
    if role == "quality":
        return int((args[0]["quantizer"] != args[-1]).sum()) if "d_psnr" in args[0] else len(args[0])
    if role == "encode":
        return len(args[0])
    if role == "question":
        return len(args[0])
    return 2


def test_no_figure_shows_a_single_point(tmp_path):
    t = _table(tmp_path, keep_paths=False)
    t = t[t["status"] == "ok"]
    one = t[(t["k"] == 16) & (t["quantizer"] == "kmeans")]  # one k, one quantizer: the seed question's shape
    ctx = rdata.Context(one, tmp_path, 30)
    roles = [job[0] for job in plan(ctx, tmp_path)]
    assert "size" in roles and [j[1] for j in plan(ctx, tmp_path) if j[0] == "size"] == ["size_kb"]
    assert not {"quality", "runtime", "rd"} & set(roles)  # nothing to compare: no line of single points
    two_q = t[(t["k"] == 16) & (t["image"] == "photo")]
    ctx = rdata.Context(two_q, tmp_path, 30)
    jobs = plan(ctx, tmp_path)
    assert "quality" not in [j[0] for j in jobs]  # one ΔPSNR point (sampled - kmeans) is no plot
    for role, _, fn, *args in plan(rdata.Context(t, tmp_path, 30), tmp_path):
        assert _points(role, args) >= 2, role


def test_a_sweep_with_one_k_gets_a_kb_bar_chart(tmp_path):
    t = _table(tmp_path, keep_paths=False)
    t[(t["status"] == "ok") & (t["k"] == 64)].to_parquet(tmp_path / "results.parquet", index=False)
    text = render(tmp_path).read_text()
    assert "![File size](plots/size_kb.png)" in text and "size_vs_k" not in text
    with Image.open(tmp_path / "plots" / "size_kb.png") as im:
        assert im.width > 300


# --- the contact sheet ---------------------------------------------------------------------------------------

def test_contact_sheet_shows_enlarged_crops_with_kb_and_the_rgb_panel(sweep):
    folder, _, text = sweep
    ctx = rdata.Context(_table(folder / "in"), folder, 30)
    from kqbench.report import data_for_sheet
    sheet = contact_sheet(data_for_sheet(ctx), ctx.order, folder, folder / "plots", ["photo"],
                          ["png8_pillow", "png8_pypng"], "rgb24", 16)
    assert sheet.png is not None and sheet.rgb_shown
    assert sheet.shown[0]["rows"] == ["kmeans", "sampled"] and sheet.shown[0]["palette"] == "png8_pillow"
    titles = [t for t, _ in sheet.titles]
    panels = [t for t in titles if t.startswith(("original", "k="))]
    assert panels and all(re.search(r"\d+\.\d KB", t) for t in panels)
    # 2 regions x 2 quantizers x (original + 2 k + the RGB PNG)
    assert len([t for t in titles if t.startswith("original")]) == 4
    assert len([t for t in titles if " as RGB PNG: " in t]) == 4
    assert not overlapping(sheet.titles)
    with Image.open(sheet.png) as im:
        assert im.height > 4 * 2 * 40  # crops shown enlarged
    s = _section(text, "## Contact sheet")
    assert "each pixel shown 3×3" in s and "rgb24 file of the same pixels at k=16" in s


def test_contact_sheet_skipped_without_kept_files(tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "photo.png")
    ctx = rdata.Context(_table(tmp_path / "in", keep_paths=False), tmp_path, 30)
    from kqbench.report import data_for_sheet
    sheet = contact_sheet(data_for_sheet(ctx), ctx.order, tmp_path, tmp_path / "plots", None,
                          ["png8_pillow"], "rgb24", 16)
    assert sheet.png is None and not (tmp_path / "plots" / "contact_sheet.png").exists()
    assert "no palette PNG file was kept" in contact(sheet) and "keep_files=true" in contact(sheet)


def test_contact_sheet_regions_find_the_ramp_and_the_noise():
    from kqbench.report.contact import regions
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
    pixels[:, :64] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None]
    (name_a, _, xa, side), (name_b, _, xb, _) = regions(pixels, 32)
    assert (name_a, name_b) == ("smooth region", "detailed region")
    assert xa + side <= 64 and xb >= 64


# --- provisional, errors ---------------------------------------------------------------------------------------

def _running_sweep(tmp_path):
    """A sweep folder whose one job has written its rows, no table yet: what a provisional report reads."""
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "photo.png")
    (tmp_path / "0").mkdir()
    t = _table(tmp_path / "in", keep_paths=False)
    t[t["status"] == "ok"].to_parquet(tmp_path / "0" / "rows.parquet", index=False)
    return t


def test_provisional_report_answers_first_without_figures(tmp_path):
    t = _running_sweep(tmp_path)
    report = render(tmp_path, provisional="1/3 quantizer=fast (2 configurations)")
    text = report.read_text()
    first = "\n".join(text.splitlines()[:25])
    rows = int((t["status"] == "ok").sum())
    assert f"> **Provisional:** 1 of 3 configurations finished so far ({rows} rows," in first
    assert "## The answer" in first
    assert "```python" in first and "KB" in first
    assert "![" not in text and not (tmp_path / "plots").exists() and not (tmp_path / "report.html").exists()


def test_the_sweeps_reporter_renders_each_request_in_one_process_and_answers_errors(tmp_path):
    import io
    import json

    from kqbench.report.serve import serve

    _running_sweep(tmp_path)
    requests = [{"sweep_dir": str(tmp_path), "provisional": "1/3"}, {"sweep_dir": str(tmp_path / "nope")}]
    answers = io.StringIO()
    serve(io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), answers)
    first, second = (json.loads(line) for line in answers.getvalue().splitlines())
    assert first == {"report": str(tmp_path / "report.md")}
    assert "**Provisional:** 1 of 3" in (tmp_path / "report.md").read_text()
    assert second["error"].startswith("ReportError: ") and "nope" in second["error"]


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the niceness from /proc (Linux)")
def test_the_reporter_writes_the_first_answer_at_its_priority_and_yields_after_it(tmp_path):
    # a sweep's reporter is started at normal priority for its first answer, then lowers it (behind the
    # background compile the jobs wait for); a request is answered only once rendered, so the niceness
    # read after an answer is the one the next report renders at
    import json

    _running_sweep(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "from kqbench.report.serve import serve\nserve(nice_after_first=7)"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path)

    def niceness():
        return int(open(f"/proc/{proc.pid}/stat").read().rsplit(")", 1)[1].split()[16])

    try:
        before = niceness()
        assert before == os.nice(0)  # started at this process's priority
        for _ in range(2):
            proc.stdin.write(json.dumps({"sweep_dir": str(tmp_path), "provisional": "1/3"}) + "\n")
            proc.stdin.flush()
            assert json.loads(proc.stdout.readline()) == {"report": str(tmp_path / "report.md")}
        assert niceness() == min(19, before + 7)  # lowered once, after the first answer
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


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
    return render(sweep, figures=False).read_text(encoding="utf-8")


def test_zlib_level_section(axes_report):
    s = _section(axes_report, "## zlib level (`encoding.compress_level`)")
    assert "| png8_pillow | level 1 vs level 6 | 1.15× (1.10×–1.20×) | 0.500× | 0 / 2 of 2 |" in s
    assert "| png8_pillow | level 9 vs level 6 | 1.00× (0.95×–1.05×) | 2.50× | 1 / 1 of 2 |" in s
    assert "level 1 gave median 1.15× (1.10×–1.20×) the size (larger in all 2 files) in 0.500× the encode time" in s
    assert "(smaller in 1 of 2, larger in 1)" in s and "mixed" not in s
    assert "png8_opt" not in s  # only at level 6: nothing to compare
    assert "- zlib level, against level 6: level 1 gave median 1.15×" in _section(axes_report, "## In short")


def test_filter_order_and_optimizer_sections(axes_report):
    s = _section(axes_report, "## Truecolour scanline filter")
    assert "| rgb24 | none vs pillow | 0.95× (0.80×–1.10×) |" in s
    s = _section(axes_report, "## PNG-8 palette order")
    assert "| png8_pypng | nearest_chain vs as_is | 0.95× (0.90×–1.00×) |" in s
    assert "smaller in 1 of 2, the same in 1" in s and "png8_pillow" not in s
    s = _section(axes_report, "## Optimizer pass")
    assert "| png8_opt | oxipng level 4 vs no optimizer | 0.85× (0.80×–0.90×) | 10.0× | 2 / 0 of 2 |" in s


def test_bit_depth_section_pairs_like_settings(axes_report):
    s = _section(axes_report, "## Why, in PNG terms")
    # pillow (4-bit) vs pypng at its reference settings (8 bits, as_is, level 6): 1000/1000 and 2000/2000
    assert "png8_pillow files were median 1.00× the size, smaller in 0 of 2" in s
    assert "| png8_pypng | minimal vs 8 | 16 | 4 | 1.00× (0.90×–1.10×) | 1 / 1 of 2 |" in s


def test_dithering_section(axes_report):
    s = _section(axes_report, "## Dithering (`dither`)")
    assert ("| png8_pillow | 16 | 1.25× (1.20×–1.30×) | -1.5 (-2.0 to -1.0) | +0.35 (+0.20 to +0.50) | "
            "0 / 2 of 2 |") in s
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
    assert "| webp_matched | 16 | 0.47× (0.38×–0.56×) | 50 (40–60) | 2.75 / 3.50 | 2 / 0 of 2 | 2 of 2 |" in s
    assert "unreachable" in s and "jpeg_matched 1 of 2: b (k=16)" in s
    assert "smaller than the PNG-8 for 2 of 2 quantizations" in s
    assert "- Lossy comparators: a lossy file at the same PSNR" in _section(axes_report, "## In short")


def test_quality_baseline_is_the_quantizer_at_its_defaults(axes_report):
    s = _section(axes_report, "## Quality")
    # the rgb quantization (colour_space's default) is the baseline, lab is compared with it: -1.0 / -0.5 dB
    assert "| kmeans(colour_space=rgb) (baseline) | 28.0 |" in s
    assert "| kmeans(colour_space=lab) | 27.2 (-0.8) |" in s


def test_core_sections_ignore_dithered_and_lossy_rows():
    from kqbench.report import findings, text
    full = rdata.Context(pd.DataFrame(_axes_rows()), ".", 30)
    plain = rdata.Context(pd.DataFrame(_axes_rows(lossy=False, dithered=False)), ".", 30)
    assert full.excluded == {"dithered": 2, "lossy": 4, "alpha_dropped": 0}
    assert plain.excluded == {"dithered": 0, "lossy": 0, "alpha_dropped": 0}
    for section in (lambda c: text.sizes(c, None), text.in_short, findings.quality, findings.pareto,
                    lambda c: findings.runtime(c, {}), findings.contradictions):
        assert section(full) == section(plain)
    # per cell, the median over its files: png8_pillow at its defaults (level 6), rgb and lab quantizations
    assert "| png8_pillow | 1.50, 0.25× |" in text.sizes(full, None)
    assert ("2 dithered rows (`dither=true`), 4 lossy-comparator rows (jpeg_matched, webp_matched) and 10 files "
            "written at other encoder settings") in text.excluded(full)
    assert "lossy" not in text.excluded(plain)


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
    assert set(ctx.files["encoding"]) == {"png8_pillow"}
    assert ctx.excluded == {"dithered": 0, "lossy": 2, "alpha_dropped": 0}
    from kqbench.report import text
    assert "Every quantized file of this sweep is dithered" in text.provenance(ctx)
