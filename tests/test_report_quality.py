"""The report on any quality column (``report.quality``, ``--quality``; direction from the registry), and its
section on where a perceptual ranking of the quantizers differs from the MSE one (:mod:`kqbench.ranking`),
checked against tables with planted (dis)agreements and a real sweep with ``metrics=[ssimulacra2,dssim]``."""

import math
import subprocess
import sys

import pandas as pd
import pytest

from kqbench import ranking
from kqbench.report import ReportError, render
from kqbench.report import data as rdata

from helpers import metadata
from sweeps import run

IMAGES = ("a", "b", "c")
# per k and quantizer: MSE (kmeans better everywhere), and bytes of the palette PNG (kmeans smaller)
MSE = {16: {"kmeans": 40.0, "sampled": 50.0}, 64: {"kmeans": 10.0, "sampled": 12.0}}
# planted: at k=16 ssimulacra2 prefers sampled, the opposite of MSE; dssim agrees with MSE everywhere
SSIMULACRA2 = {16: {"kmeans": 55.0, "sampled": 60.0}, 64: {"kmeans": 80.0, "sampled": 75.0}}
DSSIM = {16: {"kmeans": 0.020, "sampled": 0.030}, 64: {"kmeans": 0.005, "sampled": 0.008}}


def _table(ssimulacra2=SSIMULACRA2, perceptual=True) -> pd.DataFrame:
    rows = []
    for i, image in enumerate(IMAGES):
        for k in MSE:
            for q in ("kmeans", "sampled"):
                mse = MSE[k][q] * (1 + 0.1 * i)
                for enc, bpp in (("rgb24", 6.0), ("png8_pillow", 2.0 if q == "kmeans" else 2.2)):
                    size = bpp * 100 * 80 / 8
                    row = {"image": image, "width": 100, "height": 80, "pixels": 8000, "original_mode": "RGB",
                           "original_bytes": 5000.0, "unique_colours": 5000, "k": k, "palette_size": k,
                           "quantizer": q, "encoding": enc, "seed": 0, "bytes": size, "bits_per_pixel": bpp,
                           "ratio_to_original": size / 5000, "ratio_to_rgb24": bpp / 6.0, "bit_depth": 8,
                           "colour_type": "RGB" if enc == "rgb24" else "palette", "mse": mse,
                           "psnr": 10 * math.log10(255 ** 2 / mse), "delta_e2000": 2.0, "fit_s": 0.1,
                           "assign_s": 0.01, "encode_s": 0.01, "repeats": 1, "cached": False, "roundtrip_ok": True,
                           "status": "ok", "error": None, "path": None,
                           "source": f"generated:kind{i}:100x80:seed=0", **metadata(q, enc)}
                    if perceptual:
                        row.update(ssimulacra2=ssimulacra2[k][q] - i, dssim=DSSIM[k][q] * (1 + 0.1 * i))
                    rows.append(row)
    return pd.DataFrame(rows)


def _report(tmp_path, table, **kwargs) -> str:
    table.to_parquet(tmp_path / "results.parquet", index=False)
    return render(tmp_path, figures=False, **kwargs).read_text(encoding="utf-8")


def _section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + 3)
    return text[start:end if end >= 0 else len(text)]


def test_a_planted_disagreement_is_reported_with_its_numbers(tmp_path):
    text = _report(tmp_path, _table())
    s = _section(text, "## Perceptual quality against MSE")
    assert ("**ssimulacra2** (higher is better) ranks the quantizers differently from MSE: at k=16 ssimulacra2 "
            "ranks sampled, kmeans where MSE ranks kmeans, sampled (medians over 3 images).") in s
    # medians over the three images: MSE 40, 44, 48 (kmeans) and 50, 55, 60; ssimulacra2 55, 54, 53 and 60, 59, 58
    assert "| kmeans | 44.0 (#1), 54.0 (#2) ← | 11.0 (#1), 79.0 (#1) |" in s
    assert "| sampled | 55.0 (#2), 59.0 (#1) ← | 13.2 (#2), 74.0 (#2) |" in s
    assert ("Image by image, ssimulacra2 orders 3 of 6 pairs of quantizations (same image and k) opposite to MSE "
            "(50%); most often (3 of them) MSE prefers kmeans and ssimulacra2 sampled") in s
    assert "**DSSIM** (lower is better) ranks the quantizers as MSE does at every k (medians over 3 images)." in s
    assert "DSSIM orders all 6 pairs" not in s and "Image by image, DSSIM and MSE order all 6 pairs" in s
    short = _section(text, "## In short")
    assert ("- Perceptual quality: ssimulacra2 ranks the quantizers differently from MSE at k=16: sampled first, "
            "where MSE puts kmeans first; DSSIM ranks the quantizers as MSE does at every k.") in short
    # the recommendation (kmeans at k=16, the smallest files reaching 30 dB) gets one sentence, in the first 25 lines
    head = "\n".join(text.splitlines()[:25])
    assert "kmeans needs k=16 for a, b and c" in head
    assert ("By ssimulacra2, though, sampled scores better than kmeans at k=16 (median 59.0 against 54.0; MSE has "
            "it the other way)") in head


def test_agreement_is_said_plainly(tmp_path):
    agree = {16: {"kmeans": 60.0, "sampled": 55.0}, 64: {"kmeans": 80.0, "sampled": 75.0}}
    text = _report(tmp_path, _table(agree))
    s = _section(text, "## Perceptual quality against MSE")
    assert "**ssimulacra2** (higher is better) ranks the quantizers as MSE does at every k" in s
    assert "← |" not in s and "though" not in text
    assert "- Perceptual quality: ssimulacra2 ranks the quantizers as MSE does at every k; DSSIM" in text


def test_no_perceptual_column_no_section(tmp_path):
    text = _report(tmp_path, _table(perceptual=False))
    assert "Perceptual" not in text


def test_ranking_numbers_follow_kqbench_ranking(tmp_path):
    table = _table()
    text = _report(tmp_path, table)
    ranks = ranking.median_ranks(table, "ssimulacra2")
    found = ranking.rank_disagreements(table, "ssimulacra2")
    s = _section(text, "## Perceptual quality against MSE")
    assert f"orders {len(found)} of {found.attrs['pairs']} pairs" in s
    for _, r in ranks.iterrows():
        assert f"{r['ssimulacra2']:.1f} (#{r['rank_by_ssimulacra2']})" in s


def test_quality_setting_draws_the_front_on_that_column(tmp_path):
    table = _table()
    text = _report(tmp_path, table, quality="dssim")
    q = _section(text, "## Quality")
    assert q.startswith("## Quality\n\nDSSIM (lower is closer to the original;")
    assert "| kmeans (baseline) | 0.0220 | 0.00550 |" in q  # medians of 0.020, 0.022, 0.024 and 0.005 ...
    assert "| sampled | 0.0330 (+0.0110) | 0.00880 (+0.00330) |" in q
    ctx = rdata.Context(table, tmp_path, 30.0, "dssim")
    front = rdata.pareto(ctx.files, "dssim")
    # lower is better: on each image, the smallest file (kmeans' palette PNG) also has the lowest DSSIM
    assert set(zip(front["quantizer"], front["encoding"], front["k"])) == {("kmeans", "png8_pillow", 64)}
    assert rdata.pareto_mask([1, 2, 3], [0.1, 0.05, 0.2], "lower").tolist() == [True, True, False]


def test_a_bad_quality_setting_is_one_line(tmp_path):
    table = _table(perceptual=False)
    table.to_parquet(tmp_path / "results.parquet", index=False)
    with pytest.raises(ReportError, match=r"quality 'bytes' is not a quality column with a direction; choose "
                                          r"from mse, psnr"):
        render(tmp_path, quality="bytes")
    with pytest.raises(ReportError, match=r"no ssimulacra2 column \(run the sweep with metrics=\[ssimulacra2\]\)"):
        render(tmp_path, quality="ssimulacra2")
    proc = subprocess.run([sys.executable, "-m", "kqbench.report", str(tmp_path), "--quality", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "nope" in proc.stderr


def test_a_real_sweep_with_perceptual_metrics(tmp_path):
    table, sweep, _ = run(tmp_path, "dataset.photos=[china]", "dataset.kinds=[gradient]", "dataset.width=96",
                          "dataset.height=64", "quantizer=sampled,pillow_mediancut", "k=16,64", "encoding=png8",
                          "metrics=[ssimulacra2,dssim]", "report.quality=ssimulacra2")
    assert table["ssimulacra2"].notna().all() and table["dssim"].notna().all()
    text = (sweep / "report.md").read_text(encoding="utf-8")
    assert "## The answer" in "\n".join(text.splitlines()[:25])
    q = _section(text, "## Quality")
    assert "ssimulacra2 (higher is closer to the original;" in q
    s = _section(text, "## Perceptual quality against MSE")
    for column in ("ssimulacra2", "dssim"):
        ranks = ranking.median_ranks(table, column)
        m = rdata.Measure(column)
        for _, r in ranks.iterrows():
            assert f"{m.value(r[column])} (#{r[f'rank_by_{column}']})" in s
        found = ranking.rank_disagreements(table, column)
        assert (f"orders {len(found)} of {found.attrs['pairs']} pairs" in s) == (len(found) > 0)
    assert (sweep / "plots" / "quality_delta.png").is_file()
