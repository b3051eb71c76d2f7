"""Report sections about quality, the Pareto front, runtime, exceptions to the usual story,
and the contact sheet. Numbers come from :mod:`.data`; wording adapts to what they show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import data, fmt
from ..encoders import TRUECOLOUR_PNG
from .data import Context


def quality(ctx: Context) -> str:
    q = data.quality_summary(ctx.quant)
    ks = ctx.order["k"]
    has_de = "de_median" in q.columns and q["de_median"].notna().any()
    rows = []
    for name in ctx.order["quantizer"]:
        g = q[q["quantizer"] == name].set_index("k")
        rows.append([name] + [f"{fmt.db(g.at[k, 'psnr_median'])} dB / {fmt.mse(g.at[k, 'mse_median'])}"
                              + (f" / {fmt.de(g.at[k, 'de_median'])}" if has_de else "")
                              if k in g.index else "–" for k in ks])
    measures = ("PSNR (dB, higher is better) / MSE (mean squared error per RGB channel, 0–255 scale; lower is "
                "better)")
    if has_de:
        measures += (" / ΔE2000 (mean CIEDE2000 colour difference; about 1 is barely visible, lower is better)")
    out = ["## Quality by quantizer and k", "![Quality vs k](plots/quality_vs_k.png)",
           f"Median over images of {measures}. Every encoding of a quantization decodes to the same pixels "
           "(except a label image, which holds indices), so quality depends on the quantizer and k only.",
           fmt.table(["quantizer", *[f"k={k}" for k in ks]], rows)]
    lossless = ctx.quant[ctx.quant["mse"] == 0]
    if len(lossless):
        which = [f"{img} (k={fmt.listing(sorted(set(g['k'])))})" for img, g in lossless.groupby("image", sort=True)]
        out.append(f"{len(lossless)} of {len(ctx.quant)} quantizations were lossless (PSNR = ∞: the image has no "
                   f"more colours than the palette): {fmt.listing(which)}.")
    return "\n\n".join(out + [threshold(ctx)])


def threshold(ctx: Context) -> str:
    t = data.smallest_k(ctx.quant, ctx.threshold)
    quantizers = ctx.order["quantizer"]
    rows, missed = [], []
    for image in ctx.order["image"]:
        g = t[t["image"] == image].set_index("quantizer")
        cells = []
        for q in quantizers:
            if q not in g.index:
                cells.append("–")
            elif g.at[q, "k"] == g.at[q, "k"]:
                cells.append(f"k={int(g.at[q, 'k'])} ({fmt.db(g.at[q, 'psnr'])} dB)")
            else:
                cells.append(f"none (best {fmt.db(g.at[q, 'best_psnr'])} dB at k={int(g.at[q, 'best_k'])})")
        best = g["k"].min()
        if best == best:
            who = sorted(g.index[g["k"] == best], key=quantizers.index)
            first = f"k={int(best)} ({', '.join(who)})"
        else:
            first = f"none up to k={int(g['max_k'].max())}"
            missed.append(image)
        rows.append([image, first, *cells])
    out = [f"### Smallest k reaching PSNR ≥ {ctx.threshold:g} dB",
           fmt.table(["image", "smallest k (any quantizer)", *quantizers], rows)]
    if missed:
        out.append(f"No k in this sweep reaches {ctx.threshold:g} dB for {fmt.listing(missed)}: a larger k (or a "
                   "lower threshold) is needed.")
    return "\n\n".join(out)


def pareto(ctx: Context) -> str:
    front = data.pareto(ctx.files)
    out = ["## Rate–distortion: which files are worth it", "![Rate–distortion](plots/rate_distortion.png)",
           "Per image, a file is on the Pareto front when no other file of that image is at least as small and "
           "at least as good (PSNR), and strictly better in one of the two. The front is the best quality you "
           "can buy at each file size; everything else is beaten by a file on it. (Panels whose sizes span more "
           "than 8× use a log x axis.)", ""]
    for image, g in front.groupby("image", sort=False):
        steps = [f"{_same_point(p, ctx.order)} ({fmt.bpp(b)} bpp, {fmt.db(q)} dB)"
                 for (b, q), p in g.groupby(["bits_per_pixel", "psnr"], sort=True)]
        out[-1] += f"- {image}: " + " → ".join(steps) + "\n"
    out[-1] = out[-1].rstrip("\n")
    for col in ("quantizer", "encoding"):
        counts = front.groupby(col)["image"].agg(["size", "nunique"])
        on = [f"{n} ({fmt.count(int(counts.at[n, 'size']), 'point')}, {int(counts.at[n, 'nunique'])} of "
              f"{fmt.count(len(ctx.order['image']), 'image')})" for n in ctx.order[col] if n in counts.index]
        off = [n for n in ctx.order[col] if n not in counts.index]
        out.append(f"{col.capitalize()}s on the front: {fmt.listing(on)}."
                   + (f" Never on the front: {fmt.listing(off)}." if off else ""))
    return "\n\n".join(out)


def _same_point(g: pd.DataFrame, order: dict) -> str:
    """The files at one (bpp, PSNR) point: "<quantizer> <encoding> k=16", or a compact product when
    several quantizers, encodings and k give the same point (e.g. a lossless image)."""
    if len(g) == 1:
        r = g.iloc[0]
        return f"{r['quantizer']} {r['encoding']} k={r['k']}"
    parts = {c: [v for v in order[c] if v in set(g[c])] for c in ("quantizer", "encoding", "k")}
    if len(g) == len(parts["quantizer"]) * len(parts["encoding"]) * len(parts["k"]):
        return (f"{'/'.join(parts['quantizer'])} {'/'.join(parts['encoding'])} "
                f"k={'/'.join(map(str, parts['k']))} (same size and PSNR)")
    return " = ".join(f"{r.quantizer} {r.encoding} k={r.k}" for r in g.itertuples())


def runtime(ctx: Context) -> str:
    r = data.runtime_summary(ctx.quant)
    ks = ctx.order["k"]
    totals = r.groupby("quantizer")["total_s"].sum()
    rows = []
    for name in ctx.order["quantizer"]:
        g = r[r["quantizer"] == name].set_index("k")
        rows.append([name, *[fmt.seconds(g.at[k, "median_s"]) if k in g.index else "–" for k in ks],
                     fmt.seconds(totals.get(name, np.nan))])
    fast, slow = totals.idxmin(), totals.idxmax()
    return "\n\n".join([
        "## Runtime",
        "![Runtime vs k](plots/runtime_vs_k.png)",
        "Seconds to learn the palette and map every pixel (fit + assign), one value per (image, k, quantizer): "
        "the encodings of one quantization share it, so it is counted once. Median over images per k, and the "
        "total over the sweep. (Rows marked `cached` report the timings of the run that computed them.)",
        fmt.table(["quantizer", *[f"median s, k={k}" for k in ks], "total s"], rows),
        f"Fastest in total: {fast} ({fmt.seconds(totals[fast])} s); slowest: {slow} ({fmt.seconds(totals[slow])} s)."
        if fast != slow else f"Total: {fmt.seconds(totals[fast])} s.",
    ])


def describe_original(files: pd.DataFrame, image: str) -> str:
    """What the input file of ``image`` is, in words, with its size."""
    row = files[files["image"] == image].iloc[0]
    src = row.get("source")
    size = f"{fmt.kb(row['original_bytes'])} KB, {fmt.bpp(8 * row['original_bytes'] / row['pixels'])} bpp"
    if isinstance(src, str) and src.startswith("generated:"):
        return f"generated, its original stored as a lossless RGB PNG ({size})"
    suffix = Path(src).suffix.lower().lstrip(".") if isinstance(src, str) else ""
    kind = {"jpg": "a JPEG", "jpeg": "a JPEG", "png": "a PNG", "webp": "a WebP", "gif": "a GIF"}.get(
        suffix, f"a {suffix.upper()} file" if suffix else "a file")
    return f"{kind} ({size})"


def _grouped(rows: pd.DataFrame, other: pd.Series, order: dict) -> str:
    """One table line per (image, k, encoding), naming the quantizers, with sizes and ratios."""
    rows = rows.assign(other=other, r=rows["bytes"] / other)
    lines = []
    for (image, k, enc), g in rows.groupby(["image", "k", "encoding"], sort=True):
        qs = [q for q in order["quantizer"] if q in set(g["quantizer"])]
        lines.append([image, k, enc, ", ".join(qs), fmt.spread(g["bytes"].median(), g["bytes"].min(),
                                                               g["bytes"].max(), fmt.kb),
                      fmt.spread(g["other"].median(), g["other"].min(), g["other"].max(), fmt.kb),
                      fmt.spread(g["r"].median(), g["r"].min(), g["r"].max(), fmt.ratio)])
    return fmt.table(["image", "k", "encoding", "quantizers", "file KB", "compared with, KB", "ratio"], lines)


def contradictions(ctx: Context) -> str:
    c = data.contradictions(ctx.files)
    out = ["## When the data contradict the usual story",
           "The usual story: PNG-8 is smaller than 24-bit RGB, and quantizing makes a file smaller than its "
           "original. The cases below are where this sweep measured otherwise."]
    a = c["png8_vs_rgb24"]
    out.append("**PNG-8 not smaller than 24-bit RGB PNG** (same pixels, the RGB PNG at its default settings): "
               + ("none; every PNG-8 file was smaller." if a.empty else f"{fmt.count(len(a), 'file')}.\n\n"
                  + _grouped(a, a["bytes"] / a["ratio_to_rgb24"], ctx.order)))
    b = c["png8_vs_original"]
    if b.empty:
        out.append("**PNG-8 larger than the original file**: none.")
    else:
        originals = [f"{img}: {describe_original(ctx.files, img)}" for img in sorted(set(b["image"]))]
        out.append(f"**PNG-8 larger than the original file**: {fmt.count(len(b), 'file')}.\n\n"
                   + _grouped(b, b["original_bytes"], ctx.order)
                   + "\n\nThe originals of these images: " + "; ".join(originals) + ". "
                   "A JPEG original uses lossy compression built for photos, which no lossless PNG matches; a "
                   "smooth generated image compresses to almost nothing as a lossless PNG (row filters predict each "
                   "pixel from its neighbours), while its quantized version has steps between palette colours "
                   "that predict less well.")
    r = c["rgb24_vs_original"]
    truecolour = int((ctx.files["encoding_family"] == TRUECOLOUR_PNG).sum())
    if truecolour:
        out.append("**24-bit RGB PNG larger than the original file** (the question's case): "
                   + ("none." if r.empty else f"{len(r)} of {fmt.count(truecolour, 'file')}."
                      "\n\n" + _grouped(r, r["original_bytes"], ctx.order)))
    return "\n\n".join(out)


def contact(sheet) -> str:
    out = ["## Contact sheet"]
    if sheet.png is None:
        out.append("Skipped: " + "; ".join(sheet.notes) + ".")
        return "\n\n".join(out)
    out.append("![Contact sheet](plots/contact_sheet.png)")
    shown = [f"{s['image']} ({s['quantizer']}, decoded from the kept {'/'.join(s['encodings'])} files)"
             for s in sheet.shown]
    text = (f"Each row: the original (read from `source`) and the sweep's own files for each k: {fmt.listing(shown)}. "
            "Titles give the size and PSNR of the file shown.")
    if any(s["downscaled"] for s in sheet.shown):
        text += " Panels wider than 480 px are downscaled for display (the same filter for every panel)."
    if sheet.notes:
        text += " Not shown: " + "; ".join(sheet.notes) + "."
    out.append(text)
    return "\n\n".join(out)
