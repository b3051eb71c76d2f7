"""Report sections about quality, the rate–distortion front, time, exceptions to the usual story, and the
contact sheet. Numbers come from :mod:`.data`; wording adapts to what they show."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import data, fmt
from .data import Context
from .text import delta

MAX_CONTRADICTION_ROWS = 15


def _figure(alt: str, path: str | None) -> list[str]:
    return [f"![{alt}]({path})"] if path else []


def quality(ctx: Context, figure: str | None = None) -> str:
    """The report's quality column per quantizer and k (median over images), and the difference from the
    baseline quantizer."""
    q = ctx.quant
    ks = ctx.order["k"]
    base, m = ctx.baseline, ctx.measure
    what = f"{m.shown} ({m.unit + ', ' if m.unit else ''}{m.better} is closer to the original)"
    if len(ks) == 1 and len(ctx.order["quantizer"]) == 1:
        return "\n\n".join(["## Quality", f"{base} at k={ks[0]}: {what} median {m.value(q[m.name].median())} over "
                             f"the {fmt.count(len(q), 'image')} ({m.value(q[m.name].min())} to "
                             f"{m.value(q[m.name].max())})."])
    several = len(ctx.order["quantizer"]) > 1
    d = delta(ctx)
    rows = []
    for name in ctx.order["quantizer"]:
        cells = []
        for k in ks:
            g = q[(q["quantizer"] == name) & (q["k"] == k)]
            if g.empty:
                cells.append("–")
                continue
            cell = m.value(g[m.name].median())
            if several and name != base:
                h = d[(d["quantizer"] == name) & (d["k"] == k)]
                cell += f" ({m.diff(h['d'].median())})"
            cells.append(cell)
        rows.append([name + (" (baseline)" if several and name == base else ""), *cells])
    delta_words = (f"; in brackets, the median over the images of the difference from {base}, the baseline, on the "
                   "same image and k" if several else "")
    unit = f" ({m.unit})" if m.unit else ""
    out = ["## Quality", *_figure("Quality", figure),
           f"{m.shown}{' in ' + m.unit if m.unit else ''} ({m.better} is closer to the original; the same for every "
           f"encoding of a quantization): each cell is the median over the images{delta_words}.",
           fmt.table(["quantizer", *[f"k={k}{unit}" for k in ks]], rows)]
    lossless = q[q["mse"] == 0] if "mse" in q.columns else q.iloc[0:0]
    if len(lossless):
        which = ([f"{img} (k={fmt.listing(sorted(set(g['k'])))})" for img, g in lossless.groupby("image", sort=True)]
                 if ctx.named(lossless["image"].nunique()) else [ctx.images(lossless["image"])])
        out.append(f"{len(lossless)} of {len(q)} quantizations were lossless (the image has no more colours than the "
                   f"palette): {fmt.listing(which)}.")
    return "\n\n".join(out)


def pareto(ctx: Context, figure: str | None = None) -> str:
    m = ctx.measure
    if not (ctx.files.groupby("image")[m.name].nunique() > 1).any():
        return ""  # one quality level per image: the smallest file is the whole story (see the sizes)
    front = data.pareto(ctx.files, m.name)
    out = ["## Rate–distortion: which files are worth it", *_figure("Rate–distortion", figure),
           f"A file is on its image's front when no other file of that image is both at least as small and at least as "
           f"close to the original ({m.shown}): the best quality each size buys."
           + (" The figure shows each image group's medians; the counts below are per image." if ctx.grouped else "")]
    parts = []
    for col in ("encoding", "quantizer"):
        counts = front.groupby(col)["image"].agg(["size", "nunique"])
        on = [f"{n} ({fmt.count(int(counts.at[n, 'size']), 'file')}, {int(counts.at[n, 'nunique'])} of "
              f"{len(ctx.order['image'])} images)" for n in ctx.order[col] if n in counts.index]
        off = [n for n in ctx.order[col] if n not in counts.index]
        parts.append(f"{col.capitalize()}s on the front: {fmt.listing(on)}."
                     + (f" Never on it: {fmt.listing(off)}." if off else ""))
    out.append(" ".join(parts))
    return "\n\n".join(out)


def runtime(ctx: Context, figures: dict) -> str:
    """Quantizing time per quantizer (when several) and encoding time per encoding."""
    out = ["## Time"]
    ks = ctx.order["k"]
    r = data.runtime_summary(ctx.quant)
    if len(ctx.order["quantizer"]) > 1:
        out += _figure("Quantization time", figures.get("runtime"))
        totals = r.groupby("quantizer")["total_s"].sum()
        rows = [[name, *[fmt.seconds(r.loc[(r["quantizer"] == name) & (r["k"] == k), "median_s"].median())
                         if ((r["quantizer"] == name) & (r["k"] == k)).any() else "–" for k in ks],
                 fmt.seconds(totals.get(name, np.nan))] for name in ctx.order["quantizer"]]
        out += ["Seconds to learn the palette and map every pixel (fit + assign): each cell is the median over the "
                "images, the last column the total over the sweep.",
                fmt.table(["quantizer", *[f"k={k}" for k in ks], "total s"], rows)]
    elif len(ctx.quant):
        out.append(f"Quantizing ({ctx.order['quantizer'][0]}, fit + assign) took {fmt.seconds(ctx.quant['runtime_s'].sum())} s "
                   f"over the sweep's {fmt.count(len(ctx.quant), 'quantization')}.")
    f = ctx.files
    if "encode_s" in f.columns and f["encode_s"].notna().any():
        out += _figure("Encode time", figures.get("encode"))
        per = [f"{enc} {fmt.seconds(f.loc[f['encoding'] == enc, 'encode_s'].median())}" for enc in ctx.order["encoding"]]
        n = f.groupby("encoding").size()
        out.append("Median seconds to write one file: " + ", ".join(per)
                   + (f" (over each encoding's {int(n.iloc[0])} files)." if n.nunique() == 1 else
                      " (over each encoding's files)."))
    return "\n\n".join(out)


def describe_original(files: pd.DataFrame, image: str, kind: str) -> str:
    """What the input file of ``image`` is, in words, with its size."""
    row = files[files["image"] == image].iloc[0]
    size = fmt.kb(row["original_bytes"]) + " KB"
    if kind == "generated":
        return f"generated, its original a lossless PNG of {size}"
    colours = row.get("unique_colours")
    if kind == "palette PNG" and colours == colours and colours is not None:
        return f"a {int(colours)}-colour palette PNG of {size}"
    return f"a {kind} of {size}"


def contradictions(ctx: Context) -> str:
    """Where this sweep measured against the usual story, one row per image (at most
    :data:`MAX_CONTRADICTION_ROWS`), with the kind of each original."""
    c = data.contradictions(ctx.files)
    f = ctx.files
    out = ["## When the data contradict the usual story",
           "The usual story: a palette PNG is smaller than the RGB PNG of the same pixels, and smaller than the "
           "original."]
    kinds = {"png8_vs_rgb24": ("palette PNG not smaller than 24-bit RGB", f["is_png8"],
                               lambda g: g["ratio_to_rgb24"]),
             "png8_vs_original": ("palette PNG larger than the original", f["is_png8"],
                                  lambda g: g["bytes"] / g["original_bytes"]),
             "rgb24_vs_original": ("24-bit RGB PNG larger than the original", f["encoding"] == ctx.truecolour,
                                   lambda g: g["bytes"] / g["original_bytes"])}
    kinds = {key: v for key, v in kinds.items() if bool(v[1].any()) and len(c[key])}
    hit = sorted(set().union(*[set(c[key]["image"]) for key in kinds])) if kinds else []
    if not hit:
        return "\n\n".join(out + ["This sweep measured no exception: every file followed it."])
    if ctx.grouped:
        out += _contradictions_by_group(ctx, c, kinds)
    else:
        out += _contradictions_by_image(ctx, c, kinds)
    why = []
    hit_kinds = {ctx.kind(i) for i in hit}
    if "JPEG" in hit_kinds:
        why.append("a JPEG original is lossy compression built for photos, which no lossless PNG of the pixels "
                   "matches")
    if "generated" in hit_kinds:
        why.append("a smooth generated image compresses to almost nothing as a lossless PNG, while its quantized "
                   "version has steps between palette colours that predict less well")
    if "palette PNG" in hit_kinds:
        why.append("a palette PNG original already stores one byte per pixel, which a 24-bit RGB PNG triples")
    if why:
        out.append("Why: " + "; ".join(why) + ".")
    return "\n\n".join(out)


def _contradictions_by_group(ctx: Context, c: dict, kinds: dict) -> list[str]:
    """A sweep of many images: one row per image group, each cell the files and images with that exception
    and the median size ratio with its quartiles."""
    f = ctx.files
    group = f["image"].map(ctx.group_of)
    rows = []
    for g in ctx.group_order:
        in_group = group == g
        cells, any_hit = [], False
        for key, (_, mask, ratio) in kinds.items():
            hit = c[key][c[key]["image"].map(ctx.group_of) == g]
            n = int((mask & in_group).sum())
            if hit.empty:
                cells.append(f"0 of {n}")
                continue
            any_hit = True
            r = ratio(hit)
            cells.append(f"{len(hit)} of {n} ({fmt.count(hit['image'].nunique(), 'image')}), "
                         f"{fmt.spread(r.median(), r.quantile(0.25), r.quantile(0.75), fmt.ratio)}")
        if any_hit:
            rows.append([f"{g} ({fmt.count(f.loc[in_group, 'image'].nunique(), 'image')})", *cells])
    return ["One row per image group with an exception; each cell: how many of the group's files (in how many "
            "images), and the median size ratio over those files (first to third quartile).",
            fmt.table(["image group", *[v[0] for v in kinds.values()]], rows)]


def _contradictions_by_image(ctx: Context, c: dict, kinds: dict) -> list[str]:
    """One row per image with an exception (at most :data:`MAX_CONTRADICTION_ROWS`)."""
    f = ctx.files
    out = []
    hit = sorted(set().union(*[set(c[key]["image"]) for key in kinds]))
    by_image = {key: dict(list(c[key].groupby("image", sort=False))) for key in kinds}
    n_files = {key: f.loc[mask, "image"].value_counts() for key, (_, mask, _) in kinds.items()}
    total = {image: sum(len(by_image[key].get(image, ())) for key in kinds) for image in hit}
    ranked = sorted(hit, key=lambda image: (-total[image], image))
    shown, rest = ranked[:MAX_CONTRADICTION_ROWS], ranked[MAX_CONTRADICTION_ROWS:]
    rows = []
    for image in shown:
        cells = []
        for key, (_, _, ratio) in kinds.items():
            g = by_image[key].get(image)
            n = int(n_files[key].get(image, 0))
            if g is None:
                cells.append(f"0 of {n}")
                continue
            r = ratio(g)
            cells.append(f"{len(g)} of {n}: k={','.join(map(str, sorted(set(g['k']))))}, "
                         f"{fmt.spread(r.median(), r.min(), r.max(), fmt.ratio)}")
        rows.append([f"{image} ({describe_original(f, image, ctx.kind(image))})", *cells])
    out.append("One row per image with an exception; each cell: how many of the image's files, at which k, and "
               "the median size ratio (range over those files).")
    out.append(fmt.table(["image (original)", *[v[0] for v in kinds.values()]], rows))
    if rest:
        out.append(f"And {ctx.images(rest)}.")
    return out


def contact(sheet) -> str:
    out = ["## Contact sheet"]
    if sheet.png is None:
        out.append("Skipped: " + "; ".join(sheet.notes) + ".")
        return "\n\n".join(out)
    out.append(f"![Contact sheet](plots/{sheet.png.name})")
    out.append(sheet.caption + (" Not shown: " + "; ".join(sheet.notes) + "." if sheet.notes else ""))
    return "\n\n".join(out)
