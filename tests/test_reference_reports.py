"""The curated reports in ``results/reference/`` (``kqbench reference``): each opens with the answer block, and
every number of that block is recomputed here from the study's own ``results.csv``, with pandas, without the
report's code. A study whose report predates the answer block (not regenerated yet) is skipped, saying so.
``KQBENCH_REFERENCE_DIR`` points the test at another folder of studies (e.g. a fresh ``kqbench reference
--out DIR``)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(os.environ.get("KQBENCH_REFERENCE_DIR", Path(__file__).resolve().parents[1] / "results" / "reference"))
STUDIES = sorted(p.name for p in ROOT.iterdir() if (p / "report.md").is_file()) if ROOT.is_dir() else []


def kb(n_bytes: float) -> str:
    return f"{n_bytes / 1000:.1f} KB"


def _text(v) -> str:
    """A parameter as the report compares it: 6, 6.0 and "6" alike; missing as ""."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def core(table: pd.DataFrame) -> pd.DataFrame:
    """The files the core sections compare: ok, lossless, undithered, transparency kept, each encoding at its
    class's defaults (``encoding_defaults``), one row per file (median over seeds)."""
    t = table[table["status"] == "ok"].copy()
    t = t[~t["encoding_lossy"].astype(bool)]
    if "dither" in t.columns and (~t["dither"].astype(bool)).any():
        t = t[~t["dither"].astype(bool)]
    if "alpha" in t.columns and (t["alpha"] == "keep").any():
        t = t[t["alpha"] == "keep"]
    params = [c for c in t.columns if c.startswith("encoding.")]
    keep = []
    for _, r in t.iterrows():
        defaults = json.loads(r["encoding_defaults"]) if isinstance(r["encoding_defaults"], str) else {}
        keep.append(all(_text(r[c]) in ("", _text(defaults.get(c.split(".", 1)[1])))
                        for c in params if c.split(".", 1)[1] in defaults))
    t = t[keep]
    key = ["image", "k", "quantizer", "encoding"]
    num = ["bytes", "original_bytes", "psnr", "fit_s", "assign_s", "quantizer_rank"]
    first = ["encoding_family", "encoding_writer", "source"]
    return t.groupby(key, as_index=False).agg({**{c: "median" for c in num}, **{c: "first" for c in first}})


@pytest.fixture(scope="module", params=STUDIES or [None])
def study(request):
    if request.param is None:
        pytest.skip(f"no reference study in {ROOT}")
    folder = ROOT / request.param
    text = (folder / "report.md").read_text(encoding="utf-8")
    if "## The answer" not in text:
        pytest.skip(f"{folder}: its report predates the answer block: regenerate it with kqbench reference")
    table = pd.read_csv(folder / "results.csv")
    return request.param, text, table


def test_the_answer_block_is_within_the_first_25_lines(study):
    _, text, _ = study
    first = "\n".join(text.splitlines()[:25])
    assert "## The answer" in first and "```python" in first and "im.putpalette(" in first
    assert "png.Writer(" in first and "**Recommendation.**" in first
    assert re.search(r"\d+\.\d KB", first)


def test_the_default_report_stays_under_1800_words(study):
    name, text, _ = study
    if name != "default":
        pytest.skip("the word limit is the default sweep's")
    assert len(text.split()) <= 1800


def test_every_number_of_the_answer_block_from_the_table(study):
    _, text, table = study
    answer = text.split("## The answer", 1)[1].split("\n## ", 1)[0]
    f = core(table)
    why = answer.split("**The fix")[0]
    m = re.search(r"\*\*Why the files differ\.\*\* (\S+) \(.*?\), quantized to k=(\d+) colours by (\S+?):", why)
    image, k, quantizer = m.group(1), int(m.group(2)), m.group(3)
    # the example uses the baseline quantizer (lowest rank)
    assert f.groupby("quantizer")["quantizer_rank"].min().idxmin() == quantizer
    ex = f[(f["image"] == image) & (f["k"] == k) & (f["quantizer"] == quantizer)].set_index("encoding")
    original = ex["original_bytes"].iloc[0]
    assert f"{kb(original)} " in why.split("quantized to")[0]
    family = ex["encoding_family"]
    truecolour = family.index[family == "truecolour PNG"]
    labels = family.index[family == "label PNG"]
    palette = f[f["encoding_family"] == "palette PNG"]
    writers = palette.groupby("encoding")["encoding_writer"].first()
    pillow = [e for e in writers.index if writers[e] == "Pillow"]
    fix = pillow[0] if pillow else None
    if len(truecolour):
        b = ex.at[truecolour[0], "bytes"]
        assert f"it weighs {kb(b)} ({b / original:.2f}× the original)" in why
    if fix in ex.index:
        b = ex.at[fix, "bytes"]
        assert f"weigh {kb(b)} ({b / original:.2f}× the original)" in why
    if len(labels):
        assert f"grey image weighs {kb(ex.at[labels[0], 'bytes'])}" in why
    key = ["image", "k", "quantizer"]
    saving = answer.split("**Expected saving")[1].split("**Recommendation")[0]
    if fix and len(truecolour):
        pal = f[f["encoding"] == fix].set_index(key)["bytes"]
        rgb = f[f["encoding"] == truecolour[0]].set_index(key)["bytes"]
        r = (pal / rgb).dropna()
        assert (f"median {r.median():.2f}× ({r.min():.2f}×–{r.max():.2f}×) the size of the 24-bit RGB PNG"
                in why) and f"smaller in {int((r < 1).sum())} of {len(r)}." in why
        saved = (rgb - pal).dropna()
        pct = 1 - r
        assert (f"saves median {kb(saved.median())} per file ({100 * pct.median():.0f}% of it; "
                f"{100 * pct.min():.0f}% to {100 * pct.max():.0f}%), {kb(saved.sum())} over the {len(r)} files"
                in saving)
    recommendation = answer.split("**Recommendation.**")[1]
    threshold = float(re.search(r"≥ ([\d.]+) dB, the report's threshold", recommendation).group(1))
    good = f[f["psnr"] >= threshold]
    picks = good.sort_values(["bytes", "k"]).groupby("image").head(1)
    if picks.empty:
        assert "no file of this sweep reaches it" in recommendation
        return
    wins = picks["encoding"].value_counts()
    m = re.search(r"the smallest file was a (\S+) file for (\d+) of (\d+) images", recommendation)
    enc = m.group(1)
    assert int(m.group(2)) == wins[enc] == wins.max() and int(m.group(3)) == f["image"].nunique()
    m = re.search(r"With it, (\S+) needs (.*?): ([\d.]+ KB) in all over (\d+) images?", recommendation)
    if m is None:
        return
    best, n_images = m.group(1), int(m.group(4))
    e = f[f["encoding"] == enc]
    reached = e[e["psnr"] >= threshold].sort_values("k").groupby(["image", "quantizer"]).head(1)
    chosen = reached[reached["quantizer"] == best]
    assert len(chosen) == n_images and kb(chosen["bytes"].sum()) == m.group(3)
    for part in m.group(2).split("; "):  # "k=64 for china, flower and grace_hopper"
        k_, imgs = part.split(" for ")
        names = re.split(r", | and ", imgs)
        assert sorted(chosen.loc[chosen["k"] == int(k_[2:]), "image"]) == sorted(names)
    seconds = (chosen["fit_s"] + chosen["assign_s"]).sum()
    assert re.search(rf"for {seconds:.3g}\d* s of quantizing|for {seconds:.2f} s of quantizing|"
                     rf"for {seconds:.1f} s of quantizing|for {round(seconds):d} s of quantizing", recommendation)
    m = re.search(r"; (\S+), the fastest, ([\d.]+ KB) \(([+-][\d.]+)%\)", recommendation)
    if m:
        fast = reached[(reached["quantizer"] == m.group(1)) & reached["image"].isin(chosen["image"])]
        assert kb(fast["bytes"].sum()) == m.group(2)
        assert f"{100 * (fast['bytes'].sum() / chosen['bytes'].sum() - 1):+.1f}" == m.group(3)
