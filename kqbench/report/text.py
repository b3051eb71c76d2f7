"""Report sections about file size: the headline findings, what each encoding costs and why, in PNG terms,
and (last) how the report was made.

Each function returns Markdown built only from the table. Every table names its one aggregation in its
caption (medians over the files of each cell, unless it says otherwise); a sentence that gives a median
beside a count takes both over the same files, and a range over them includes every value a table shows.
Where the data are missing for a comparison the section says so instead of guessing.
"""

from __future__ import annotations

import pandas as pd

from . import data, fmt
from .axes import pypng_bitdepth
from .data import Context
from ..encoders import PALETTE_PNG, TRUECOLOUR_PNG

TITLE = "# Why is my file this size? — kqbench report"


def title() -> str:
    return TITLE


def provisional(ctx: Context, progress: str) -> str:
    """The banner of a report rendered while its sweep still runs."""
    counts, _, pending = progress.partition(" ")
    done, _, total = counts.partition("/")
    return (f"> **Provisional:** {done} of {total} configurations finished so far ({len(ctx.table)} rows, those "
            "of a configuration still running included)"
            + (f"; still to run: {pending}" if pending else "") + ". This report is rewritten as rows arrive "
            "(without figures) and replaced by the final one when the sweep ends; its numbers cover the rows "
            "measured so far only.")


def excluded(ctx: Context) -> str:
    """One sentence: which ok rows the core sections leave out, and where they are reported."""
    n = ctx.excluded
    parts = []
    if n["dithered"]:
        parts.append(f"{fmt.count(n['dithered'], 'dithered row')} (`dither=true`)")
    if n["lossy"]:
        lossy = ctx.ok[ctx.ok["lossy"]]
        names = data.by_base(lossy["encoding_base"].unique(), data.ranks(lossy, "encoding"))
        parts.append(f"{fmt.count(n['lossy'], 'lossy-comparator row')} ({', '.join(names)})")
    if n["alpha_dropped"]:
        parts.append(f"{fmt.count(n['alpha_dropped'], 'row')} with transparency dropped (`alpha=drop`)")
    variants = len(ctx.variants) - len(ctx.files) if len(ctx.variants) else 0
    if variants:
        parts.append(f"{fmt.count(variants, 'file')} written at other encoder settings")
    if not parts:
        return ""
    return (f"The core sections (answer, sizes, quality, rate–distortion, time, contradictions) compare undithered "
            f"quantized pixels stored losslessly, transparency kept, each encoding at its default settings, so "
            f"they leave out {fmt.listing(parts)}; those have their own sections.")


def _by_kind(ctx: Context, rows: pd.DataFrame, of: pd.DataFrame) -> str:
    """``30 of 30 against JPEG originals (flower, grace_hopper), 15 of 30 against generated images``: a count
    of ``rows`` among ``of``, split by the kind of original file."""
    parts = []
    kinds = of["image"].map(ctx.kind)
    for kind in sorted(set(kinds), key=lambda k: (-int((rows["image"].map(ctx.kind) == k).sum()), k)):
        n_of = int((kinds == kind).sum())
        hit = rows[rows["image"].map(ctx.kind) == kind]
        imgs = sorted(set(hit["image"]))
        what = "generated images' lossless PNGs" if kind == "generated" else f"{kind} originals"
        named = ", ".join(imgs) if ctx.named(len(imgs)) else f"{len(imgs)} images"
        parts.append(f"{len(hit)} of {n_of} against {what}" + (f" ({named})" if imgs else ""))
    return "; ".join(parts)


def in_short(ctx: Context, headlines: list[str] = ()) -> str:
    """This sweep's own findings, one line each: palette PNG against 24-bit RGB, against the originals (by
    their kind), the k each image needs, the quantizers, and one line per swept setting."""
    f = ctx.files
    bullets = []
    ratio = f.loc[f["is_png8"], ["encoding", "ratio_to_rgb24"]].dropna()
    if len(ratio) and ctx.truecolour:
        per = [f"{e} {fmt.ratio(ratio.loc[ratio['encoding'] == e, 'ratio_to_rgb24'].median())}"
               for e in ctx.png8_refs if (ratio["encoding"] == e).any()]
        less = int((ratio["ratio_to_rgb24"] < 1).sum())
        bullets.append(f"Palette PNG files were median {fmt.ratio(ratio['ratio_to_rgb24'].median())} the size of "
                       f"the 24-bit RGB PNG of the same pixels{_rgba(ctx)} ({'; '.join(per)}), smaller in {less} of "
                       f"{len(ratio)}.")
    sizes = f.groupby("encoding")["bytes"].median()
    family = f.groupby("encoding")["encoding_family"].first()
    if len(sizes) > 1 and (family[sizes.idxmin()] != PALETTE_PNG or family[sizes.idxmax()] != TRUECOLOUR_PNG):
        small, big = sizes.idxmin(), sizes.idxmax()  # only when not the usual story: the first line says that
        bullets.append(f"Smallest files: {small}, median {fmt.kb(sizes[small])} KB; largest: {big}, median "
                       f"{fmt.kb(sizes[big])} KB (medians over each encoding's "
                       f"{int((f['encoding'] == small).sum())} files).")
    c = data.contradictions(f)
    tc = f[f["encoding"] == ctx.truecolour] if ctx.truecolour else f.iloc[0:0]
    if len(tc):
        bullets.append(f"The question's surprise, a 24-bit RGB PNG{_rgba(ctx)} of the quantized pixels larger than the original "
                       f"file: {_by_kind(ctx, c['rgb24_vs_original'], tc)}.")
    png8 = f[f["is_png8"]]
    if len(png8):
        bullets.append(f"Palette PNG files larger than the original: {_by_kind(ctx, c['png8_vs_original'], png8)}.")
    reach = data.smallest_k(ctx.quant, ctx.threshold).groupby("image")["k"].min()
    by_k: dict = {}
    for img, k in reach.items():
        by_k.setdefault("none" if k != k else f"k={int(k)}", []).append(img)
    if by_k:
        parts = [f"{k} for {ctx.images(imgs, groups=False)}" for k, imgs in sorted(by_k.items(), key=lambda x: (x[0] == "none",
                                                                                                   len(x[0]), x[0]))]
        bullets.append(f"Smallest k reaching PSNR ≥ {ctx.threshold:g} dB (any quantizer): " + "; ".join(parts) + ".")
    q = quantizer_headline(ctx)
    if q:
        bullets.append(q)
    bullets += [h for h in headlines if h]
    return "## In short\n\n" + "\n".join(f"- {b}" for b in bullets)


def _rgba(ctx: Context) -> str:
    """`` (32-bit RGBA for images with transparency)`` when the sweep has such images, else nothing."""
    f = ctx.files
    return " (32-bit RGBA for images with transparency)" if "has_alpha" in f.columns and bool(f["has_alpha"].any()) \
        else ""


def quantizer_headline(ctx: Context) -> str:
    """How far the quantizers' quality (the report's quality column) is from the baseline's, and how much faster
    the fastest one was."""
    q = ctx.quant
    if len(ctx.order["quantizer"]) < 2:
        return ""
    base, m = ctx.baseline, ctx.measure
    d = delta(ctx)
    others = d[d["quantizer"] != base]
    if others.empty:
        return ""
    totals = q.groupby("quantizer")["runtime_s"].sum()
    fast = totals.idxmin()
    unit = f" {m.unit}" if m.unit else ""
    text = (f"Quantizers against {base} (same image and k): {m.shown} median {m.diff(others['d'].median())}{unit} "
            f"({m.diff(others['d'].min())} to {m.diff(others['d'].max())} over "
            f"{fmt.count(len(others), 'quantization')}" + ("" if m.unit == "dB" else f"; {m.better} is better") + ")")
    if fast != base and totals[fast] > 0:
        text += (f"; {fast} quantized {fmt.factor(totals[base] / totals[fast])} faster than {base} in total "
                 f"({fmt.seconds(totals[fast])} s against {fmt.seconds(totals[base])} s)")
    return text + "."


def delta(ctx: Context, column: str | None = None) -> pd.DataFrame:
    """Each quantization's ``column`` (default: the report's quality column) minus the baseline quantizer's on
    the same image and k (``d``; 0 when both are equal, e.g. both lossless)."""
    column = column or ctx.measure.name
    q = ctx.quant
    base = q[q["quantizer"] == ctx.baseline][["image", "k", column]]
    d = q.merge(base, on=["image", "k"], suffixes=("", "_base"))
    diff = d[column] - d[f"{column}_base"]
    d["d"] = diff.mask((d[column] == d[f"{column}_base"]), 0.0)
    return d


def sizes(ctx: Context, figure: str | None) -> str:
    """Bits per pixel and size relative to 24-bit RGB, per encoding (rows) and k (columns)."""
    f = ctx.files
    ks = ctx.order["k"]
    rows = []
    for enc in ctx.order["encoding"]:
        cells = []
        for k in ks:
            g = f[(f["encoding"] == enc) & (f["k"] == k)]
            cells.append("–" if g.empty else f"{fmt.bpp(g['bits_per_pixel'].median())}, "
                         f"{fmt.ratio(g['ratio_to_rgb24'].median())}")
        rows.append([enc, *cells])
    n = f.groupby(["encoding", "k"]).size()
    per_cell = (f"its {int(n.iloc[0])} files" if n.nunique() == 1 else "its files") + \
        (f" ({len(ctx.order['image'])} images × {len(ctx.order['quantizer'])} quantizers)"
         if n.nunique() == 1 and len(ctx.order["quantizer"]) > 1 else "")
    rgba = _rgba(ctx)
    out = ["## File size by encoding"]
    if figure:
        out.append(f"![File size]({figure})")
    out += [f"Each cell: the median over {per_cell} of bits per pixel (bpp = 8 × bytes / pixels: an uncompressed "
            f"24-bit RGB image is 24 bpp) and of the file's size over the 24-bit RGB PNG of the same pixels{rgba}.",
            fmt.table(["encoding", *[f"k={k}: bpp, × RGB" for k in ks]], rows)]
    return "\n\n".join(out)


def _quartiles(values: pd.Series, f) -> str:
    """``median (first quartile–third quartile)``."""
    v = values.dropna()
    if v.empty:
        return "–"
    q1, q3 = (float(x) for x in data.quantiles(v))
    return fmt.spread(v.median(), q1, q3, f).replace(" to ", "–")


def by_group(ctx: Context) -> str:
    """A sweep of many images, summarised per image group (the kind of original, transparency, size, or few
    colours; :func:`data.image_groups`): the palette PNG's bits per pixel and its size against 24-bit RGB, the
    quality of the baseline quantizer at each k, and how many images reach the PSNR threshold."""
    if not ctx.grouped:
        return ""
    f, q, m = ctx.files, ctx.quant, ctx.measure
    from .answer import fix_encoding

    png8 = fix_encoding(ctx)
    ks = ctx.order["k"]
    mid = ks[len(ks) // 2]
    base = q[q["quantizer"] == ctx.baseline]
    reach = data.smallest_k(ctx.quant, ctx.threshold).groupby("image")["k"].min()
    groups = pd.Series(ctx.group_of)
    rows = []
    for g in ctx.group_order:
        images = set(groups.index[groups == g])
        cells = [g, str(len(images))]
        if png8:
            p = f[(f["encoding"] == png8) & (f["k"] == mid) & f["image"].isin(images)]
            cells += [_quartiles(p["bits_per_pixel"], fmt.bpp), _quartiles(p["ratio_to_rgb24"], fmt.ratio)]
        for k in ks:
            cells.append(_quartiles(base.loc[(base["k"] == k) & base["image"].isin(images), m.name], m.value))
        r = reach[reach.index.isin(images)]
        cells.append(f"{int(r.notna().sum())} of {len(r)}")
        rows.append(cells)
    unit = f" {m.unit}" if m.unit else ""
    head = ["image group", "images"] + ([f"{png8} bpp, k={mid}", "× 24-bit RGB"] if png8 else []) + \
        [f"{m.shown}{unit}, k={k}" for k in ks] + [f"reach {ctx.threshold:g} dB"]
    return "\n\n".join([
        "## By image group",
        f"{len(ctx.order['image'])} images, grouped by what the table says of each (its original's kind, "
        f"transparency, and size in megapixels, or at most {data.FEW_COLOURS} colours): the figures summarise these "
        f"groups. Each cell: the median, the first and third quartiles in brackets, over the group's "
        + (f"{png8} files at k={mid} (every quantizer) or " if png8 else "")
        + f"images ({m.shown} of {ctx.baseline}, the baseline); the last column counts the images some file of "
        f"which reaches PSNR ≥ {ctx.threshold:g} dB. The HTML report's table has every file.",
        fmt.table(head, rows)])


def _layout(g: pd.DataFrame) -> str:
    parts = sorted({(int(c), int(b)) for c, b in zip(g["colour_type"].map(data.CHANNELS), g["bit_depth"])
                    if c == c and b == b})
    return ", ".join(f"{c} × {b}" for c, b in parts)


def png_terms(ctx: Context) -> str:
    """Why 24-bit RGB is bigger than PNG-8: raw data per pixel, deflate, the palette, the bit depth, the
    grey index image."""
    f = ctx.files.dropna(subset=["width", "height", "bit_depth", "colour_type"]).copy()
    out = ["## Why, in PNG terms",
           "A PNG compresses its rows of pixels with deflate (zlib). Before deflate, a 24-bit RGB PNG holds 3 bytes "
           "per pixel however few colours there are; a palette PNG holds one index per pixel (8 bits, or 1, 2 or "
           "4 for small palettes) plus 3 bytes per palette colour: a third of the data" + (" (a quarter of a 32-bit "
           "RGBA PNG's)" if _rgba(ctx) else "") + ", and simpler: a run of one colour is a run of one byte value."]
    if f.empty:
        return "\n\n".join(out)
    f["raw_bpp"] = 8 * data.raw_bytes(f) / f["pixels"]
    f["deflated"] = f["bytes"] / data.raw_bytes(f)
    rows = []
    for enc in ctx.order["encoding"]:
        g = f[f["encoding"] == enc]
        if g.empty:
            continue
        rows.append([enc, _layout(g), fmt.bpp(g["raw_bpp"].median()), fmt.pct(g["deflated"].median())])
    out += ["Each cell: the median over the encoding's files of the data before deflate (from the layout read back "
            "from each file) and of the file's size over it.",
            fmt.table(["encoding", "channels × bits", "bpp before deflate", "file / data"], rows)]
    out += [s for s in (_plte(ctx), bit_depth(ctx), labels(ctx)) if s]
    return "\n\n".join(out)


def _plte(ctx: Context) -> str:
    f = ctx.files[ctx.files["is_png8"]].dropna(subset=["palette_size"])
    if f.empty:
        return ""
    share = 3 * f["palette_size"] / f["bytes"]
    top = f.assign(share=share).sort_values(["share", "image"], ascending=[False, True]).iloc[0]
    return (f"**The palette** costs 3 bytes per colour used (at most {int(3 * f['palette_size'].max())} bytes here): "
            f"median {fmt.pct(share.median(), 1)} of a palette PNG file over its {len(f)} files, at most "
            f"{fmt.pct(top['share'], 1)} ({top['image']}, k={top['k']}).")


def bit_depth(ctx: Context) -> str:
    """A PNG-8 writer that packs indices at the minimal bit depth against one that always writes 8 bits,
    on the same quantization: only where packing happened."""
    pypng = pypng_bitdepth(ctx)
    pair = ctx.packing()
    text = ""
    if pair is not None:
        packer, eight = pair
        p = data.pair(ctx.files, packer, eight)
        packed = p[p["bit_depth_a"] < p["bit_depth_b"]] if len(p) else p
        if len(packed):
            r = packed["bytes_a"] / packed["bytes_b"]
            depths = fmt.listing(sorted({int(d) for d in packed["bit_depth_a"]}))
            smaller = int((r < 1).sum())
            text = (f"**Bit depth.** Where {packer} packed indices into {depths} bits and {eight} wrote 8 (same pixels), "
                    f"{packer} files were median {fmt.spread(r.median(), r.min(), r.max(), fmt.ratio)} the size, "
                    f"smaller in {smaller} of {len(packed)}"
                    + (": deflate looks for repeated bytes, and packing splits each pixel's pattern across byte "
                       "boundaries." if smaller < len(packed) else "."))
    return "\n\n".join(s for s in (text, pypng) if s)


def labels(ctx: Context) -> str:
    """The overhead of saving the label array as a greyscale image instead of a PNG-8."""
    ref, labels_name = ctx.png8_refs, ctx.label_image
    if labels_name is None or not ref:
        return ""
    p = data.pair(ctx.files, labels_name, ref[0])
    if p.empty:
        return ""
    r = p["bytes_a"] / p["bytes_b"]
    return (f"**The grey index image** ({labels_name}, as `io.imsave('out.png', labels)` writes it) holds the same "
            f"8-bit indices as a PNG-8 but no palette, so it shows no colours; its files were median "
            f"{fmt.spread(r.median(), r.min(), r.max(), fmt.ratio)} the size of {ref[0]}'s (larger in "
            f"{int((r > 1).sum())} of {len(p)}).")


def provenance(ctx: Context) -> str:
    """How the report was made: the table, the sweep, the conventions, the rows left out, the environment."""
    t = ctx.table
    counts = t["status"].fillna("missing").value_counts()
    ok = int((t["status"] == "ok").sum())
    lines = ["## How this report was made", "",
             f"Every number comes from this sweep's `results.parquet` ({len(t)} rows: {ok} ok, {len(t) - ok} not "
             "ok) and nothing else; `kqbench report DIR` re-renders it, `kqbench verify DIR` re-checks every file. "
             "Sizes are in KB of 1000 bytes." + ("" if ok == len(t) else " Rows by status: "
                                                + ", ".join(f"{s}: {int(counts[s])}" for s in sorted(counts.index)) + ".")]
    if ok and ctx.order:
        o = ctx.order
        seeds = int(ctx.ok["seed"].nunique())
        enc = sweep_encodings(ctx)
        images = (", ".join(f"{i}: {ctx.kind(i)}" for i in o["image"]) if not ctx.grouped else
                  f"in {len(ctx.group_order)} groups, see *By image group*")
        lines += ["", f"Sweep: {len(o['image'])} images ({images}), k = {', '.join(map(str, o['k']))}, "
                  f"quantizers {', '.join(o['quantizer'])}, encodings {enc}"
                  + (f"; values are medians over {seeds} seeds." if seeds > 1 else ".")]
        ex = excluded(ctx)
        if ex:
            lines += ["", ex]
        if bool(ctx.files["dither"].any()):
            lines += ["", "Every quantized file of this sweep is dithered (`dither=true`): the core sections "
                      "describe dithered pixels."]
    bad = t[t["status"] != "ok"]
    if len(bad):
        err = bad["error"] if "error" in bad.columns else pd.Series("", index=bad.index)
        bad = bad.assign(status=bad["status"].fillna("missing status"), error=err.fillna("(no message)"))
        groups = bad.groupby(["status", "error"], sort=True, dropna=False).size()
        lines += ["", "Rows that are not ok are left out of every number above:", ""]
        lines += [f"- {n} {status}: {error}" for (status, error), n in groups.items()]
    env = ctx.env
    lines.append("")
    if env:
        pk = env.get("packages", {})
        threads = sorted({p.get("num_threads") for p in env.get("thread_pools", []) if p.get("num_threads")})
        versions = ", ".join(f"{n} {pk[n]}" for n in ("numpy", "scikit-learn", "Pillow", "pypng", "pandas")
                             if n in pk)
        lines += [f"Environment: {env.get('cpu_model', '?')}, {env.get('usable_cores', env.get('cpu_count', '?'))} "
                  f"usable cores (of {env.get('cpu_count', '?')})"
                  + (f", thread pools of {'/'.join(map(str, threads))} threads" if threads else "")
                  + f"; Python {env.get('python', '?')}" + (f", {versions}" if versions else "")
                  + f"; {env.get('platform', '?')}."]
    else:
        lines += ["Environment: not recorded (no readable environment.json in the sweep folder)."]
    return "\n".join(lines)


def sweep_encodings(ctx: Context) -> str:
    """The encodings, each with the settings swept for it: ``png8_pillow (compress_level 1, 6, 9; order
    as_is, frequency)``."""
    af = ctx.all_files
    parts = []
    for base in data.by_base(af["encoding_base"].unique(), data.ranks(af, "encoding")):
        g = af[af["encoding_base"] == base]
        swept = [f"{c.split('.', 1)[1]} {', '.join(sorted(set(g[c]), key=_num))}" for c in data.params(g, "encoding")
                 if g[c].nunique() > 1]
        parts.append(base + (f" ({'; '.join(swept)})" if swept else ""))
    return ", ".join(parts)


def _num(v):
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, str(v))
