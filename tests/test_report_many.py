"""The report of a sweep of many images: summarised per image group (derived from the table's columns, not
from file names), medians and quartiles instead of a dot per image, a bounded text, a bounded per-image
part and a paginated results table in report.html."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from kqbench.report import data as rdata
from kqbench.report import html as rhtml
from kqbench.report import plots, render

from helpers import metadata

# (source suffix, has alpha, width, height, unique colours): the groups the table's columns put images in
KINDS = [(".jpg", False, 60, 40, 5000),      # JPEG, < 0.01 MP
         (".jpg", False, 200, 150, 20000),   # JPEG, 0.01–0.1 MP
         (".png", False, 200, 150, 20000),   # truecolour PNG, 0.01–0.1 MP
         (".png", True, 200, 150, 20000),    # truecolour PNG with alpha, 0.01–0.1 MP
         (".png", False, 400, 300, 100)]     # truecolour PNG, ≤ 256 colours (whatever its size)
N_IMAGES = 60
QUANTIZERS = ("kmeans", "sampled")
ENCODINGS = ("rgb24", "png8_pillow")
KS = (16, 64)


def many_images_table() -> pd.DataFrame:
    """60 images in 5 groups x 2 quantizers x 2 k x 2 encodings (480 rows). Image names say nothing of the
    group: a JPEG is named like a PNG and the other way round."""
    rng = np.random.default_rng(7)
    rows = []
    for i in range(N_IMAGES):
        suffix, alpha, w, h, colours = KINDS[i % len(KINDS)]
        image = f"img{i:02d}" + (".png" if suffix == ".jpg" else ".jpg")  # misleading names on purpose
        pixels = w * h
        original = pixels * rng.uniform(0.5, 3) / 8
        for k in KS:
            for qi, q in enumerate(QUANTIZERS):
                psnr = np.inf if colours <= k else 24 + 3 * np.log2(k / 16) + rng.uniform(0, 4) - 0.5 * qi
                mse = 0.0 if np.isinf(psnr) else 255 ** 2 / 10 ** (psnr / 10)
                rgb24 = pixels * rng.uniform(4, 10) / 8
                for enc in ENCODINGS:
                    size = rgb24 if enc == "rgb24" else rgb24 * rng.uniform(0.3, 0.5)
                    rows.append({
                        "image": image, "width": w, "height": h, "pixels": pixels,
                        "original_mode": "RGBA" if alpha else "RGB", "original_bytes": original,
                        "has_alpha": alpha, "unique_colours": colours, "k": k, "palette_size": min(k, colours),
                        "quantizer": q, "encoding": enc, "seed": 0, "dither": False, "alpha": "keep",
                        "bytes": round(size), "bits_per_pixel": 8 * round(size) / pixels,
                        "ratio_to_original": round(size) / original, "ratio_to_rgb24": round(size) / rgb24,
                        "rgb24_bytes": rgb24, "bit_depth": 8, "colour_type": "RGBA" if enc == "rgb24" and alpha
                        else "RGB" if enc == "rgb24" else "palette", "mse": mse, "psnr": psnr,
                        "delta_e2000": 2.0, "fit_s": 0.01 * (1 + qi), "assign_s": 0.001, "encode_s": 0.002,
                        "repeats": 1, "cached": False, "roundtrip_ok": True, "status": "ok", "error": None,
                        "path": None, "source": f"/nowhere/{image.rsplit('.', 1)[0]}{suffix}",
                        **metadata(q, enc)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("many")
    table = many_images_table()
    table.to_parquet(sweep / "results.parquet", index=False)
    render(sweep)
    return sweep, table, (sweep / "report.md").read_text(encoding="utf-8")


def test_image_groups_come_from_the_table_not_the_names(many):
    sweep, table, _ = many
    ctx = rdata.Context(table, sweep, 30.0)
    assert ctx.grouped and len(ctx.group_order) == len(KINDS)
    assert ctx.group_of["img00.png"] == "JPEG, < 0.01 MP"  # named .png, its source is a JPEG
    assert ctx.group_of["img01.png"] == "JPEG, 0.01–0.1 MP"
    assert ctx.group_of["img02.jpg"] == "truecolour PNG, 0.01–0.1 MP"
    assert ctx.group_of["img03.jpg"] == "truecolour PNG with alpha, 0.01–0.1 MP"
    assert ctx.group_of["img04.jpg"] == "truecolour PNG, ≤ 256 colours"


def test_the_text_summarises_per_group_and_names_few_images(many):
    sweep, table, text = many
    section = text[text.index("## By image group"):text.index("\n## ", text.index("## By image group") + 3)]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(KINDS) and sum(int(r.split(" | ")[1]) for r in rows) == N_IMAGES
    # the palette PNG's bits per pixel at the middle k, median (quartiles) over the group: recomputed here
    group = table[table["source"].str.endswith(".jpg") & (table["pixels"] < 10_000)]
    bpp = group[(group["encoding"] == "png8_pillow") & (group["k"] == KS[len(KS) // 2])]["bits_per_pixel"]
    expected = f"{bpp.median():.2f} ({bpp.quantile(0.25):.2f}–{bpp.quantile(0.75):.2f})"
    assert next(r for r in rows if r.startswith("| JPEG, < 0.01 MP")).split(" | ")[2] == expected
    named = {img for img in table["image"].unique() if img in text}
    assert len(named) <= 4, named  # a few examples, never a list of every image
    assert len(text.split()) <= 1800


def test_figures_summarise_groups_with_medians_and_quartiles(many):
    sweep, table, _ = many
    ctx = rdata.Context(table, sweep, 30.0)
    pts = plots.rd_points(ctx.files, ctx.order, ctx.measure, ctx.group_of, ctx.group_order)
    assert len(pts) == len(KINDS) * len(QUANTIZERS) * len(KS) * len(ENCODINGS)  # not one point per file
    one = pts[(pts["panel"] == "JPEG, 0.01–0.1 MP") & (pts["encoding"] == "rgb24") & (pts["quantizer"] == "kmeans")
              & (pts["k"] == 16)].iloc[0]
    f = ctx.files[(ctx.files["image"].map(ctx.group_of) == "JPEG, 0.01–0.1 MP") & (ctx.files["encoding"] == "rgb24")
                  & (ctx.files["quantizer"] == "kmeans") & (ctx.files["k"] == 16)]
    assert one["x"] == pytest.approx(f["bits_per_pixel"].median())
    assert (one["x_lo"], one["x_hi"]) == pytest.approx(tuple(f["bits_per_pixel"].quantile([0.25, 0.75])))
    assert one["images"] == N_IMAGES // len(KINDS)
    assert {p.name for p in (sweep / "plots").glob("*.png")} >= {"size_vs_k.png", "rate_distortion.png",
                                                                "quality_delta.png"}


def test_html_pages_the_table_and_shows_a_few_telling_images(many):
    sweep, table, _ = many
    page = (sweep / "report.html").read_text(encoding="utf-8")
    spec = json.loads(re.search(r'<script id="results-data" type="application/json">(.*?)</script>', page,
                                re.S).group(1))
    assert len(spec["rows"]) == len(table) and spec["page"] == rhtml.PAGE_ROWS < len(table)
    results = page[page.index('<table id="results"'):page.index("</table>", page.index('<table id="results"'))]
    assert results.count("<tr>") == 1 + rhtml.PAGE_ROWS  # the header and the first page
    sections = re.findall(r'<h3 id="image-', page)
    assert 1 <= len(sections) <= rhtml.MAX_IMAGE_SECTIONS
    assert "Shown because" in page and "the hardest to quantize" in page
