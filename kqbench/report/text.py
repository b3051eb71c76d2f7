"""Report sections about file size: what each encoding costs and why, in PNG terms.

Each function returns Markdown built only from the table; where the data are missing for a
comparison (e.g. a sweep without rgb24) the section says so instead of guessing.
"""

from __future__ import annotations

import pandas as pd

from . import data, fmt
from .axes import pypng_bitdepth
from ..encoders import TRUECOLOUR_PNG
from .data import Context


def overview(ctx: Context) -> str:
    t = ctx.table
    ok = int((t["status"] == "ok").sum())
    lines = [
        "# Why is my file this size? — kqbench report",
        "",
        f"This report reads this sweep's `results.parquet` ({len(t)} rows: {ok} ok, {len(t) - ok} not ok) and "
        "nothing else: every number below comes from that table. Sizes are in KB (1 KB = 1000 bytes) or in "
        "bits per pixel (bpp = 8 × bytes / pixels; uncompressed 24-bit RGB is 24 bpp).",
    ]
    if ok and ctx.order:
        o = ctx.order
        seeds = int(ctx.ok["seed"].nunique())
        lines += ["", f"Sweep: {len(o['image'])} images ({', '.join(o['image'])}), "
                  f"k = {', '.join(map(str, o['k']))}, quantizers {', '.join(o['quantizer'])}, "
                  f"encodings {', '.join(o['encoding'])}"
                  + (f"; values are medians over {seeds} seeds." if seeds > 1 else ".")]
    if ok and ctx.order and any(ctx.excluded.values()):
        lines += ["", excluded(ctx)]
    if ok and ctx.order and bool(ctx.files["dither"].any()):
        lines += ["", "Every quantized file of this sweep is dithered (`dither=true`): the sections below describe "
                  "dithered pixels."]
    return "\n".join(lines)


def provisional(ctx: Context, progress: str) -> str:
    """The banner of a report rendered while its sweep still runs."""
    counts, _, pending = progress.partition(" ")
    done, _, total = counts.partition("/")
    return (f"> **Provisional:** {done} of {total} configurations measured so far"
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
    return (f"The core sections (file size, PNG terms, quality, rate–distortion, runtime, contradictions) compare "
            f"undithered quantized pixels stored losslessly, transparency kept, so they leave out {fmt.listing(parts)}; those rows "
            "have their own sections below.")


def in_short(ctx: Context) -> str:
    """The headline numbers: smallest and largest encoding per k, PNG-8 vs rgb24, vs the original."""
    size = data.size_summary(ctx.files)
    bullets = []
    ends = {}  # k -> (smallest encoding row, largest encoding row)
    for k, g in size.groupby("k", sort=True):
        g = g.sort_values(["bpp_median", "encoding"])
        ends[k] = (g.iloc[0], g.iloc[-1])
    names = {(a["encoding"], b["encoding"]) for a, b in ends.values()}
    if len(ctx.order["encoding"]) < 2:
        pass  # one encoding: nothing to rank
    elif len(names) == 1 and len(ends) > 1:  # the same winner and loser at every k: one sentence
        (small, big), = names
        ks = fmt.listing(ends)
        per_k = lambda i: fmt.listing(fmt.bpp(v[i]["bpp_median"]) for v in ends.values())
        bullets.append(f"At every k the smallest files are {small} (median {per_k(0)} bpp at k={ks}) and the "
                       f"largest {big} (median {per_k(1)} bpp).")
    else:
        for k, (small, big) in ends.items():
            bullets.append(f"k={k}: the smallest files are {small['encoding']} (median {fmt.bpp(small['bpp_median'])} "
                           f"bpp), the largest {big['encoding']} (median {fmt.bpp(big['bpp_median'])} bpp).")
    for enc in ctx.png8_refs:
        g = size[size["encoding"] == enc].sort_values("k")
        parts = [f"{fmt.ratio(r)} at k={k}" for k, r in zip(g["k"], g["rgb24_median"])]
        bullets.append(f"{enc} files are median {fmt.listing(parts)} the size of the same pixels saved as "
                       f"24-bit RGB PNG{_rgba_note(ctx)}.")
    c = data.contradictions(ctx.files)
    truecolour = ctx.files[ctx.files["encoding_family"] == TRUECOLOUR_PNG]
    if len(truecolour):
        name = ctx.truecolour or truecolour["encoding"].iloc[0]
        bullets.append(f"The question's surprise, a quantized image saved as {name} that is larger than its "
                       f"original file, happened in {len(c['rgb24_vs_original'])} of {len(truecolour)} {name} files.")
    n8 = int(ctx.files["is_png8"].sum())
    if n8:
        listed = " (listed under *When the data contradict the usual story*)" \
            if len(c["png8_vs_original"]) or len(c["png8_vs_rgb24"]) else ""
        bullets.append(f"PNG-8 files were larger than the original in {len(c['png8_vs_original'])} of {n8} "
                       f"and not smaller than rgb24 in {len(c['png8_vs_rgb24'])} of {n8}{listed}.")
    reach = data.smallest_k(ctx.quant, ctx.threshold).groupby("image")["k"].min()
    reached = [f"{img} (k={int(k)})" for img, k in reach.items() if k == k]
    missed = [img for img, k in reach.items() if k != k]
    text = f"Reaching PSNR ≥ {ctx.threshold:g} dB, smallest k with any quantizer: "
    text += fmt.listing(reached) if reached else "no image"
    bullets.append(text + (f"; no k in this sweep reaches it for {fmt.listing(missed)}." if missed else "."))
    return "## In short\n\n" + "\n".join(f"- {b}" for b in bullets)


def _rgba_note(ctx: Context, detail: str = "") -> str:
    """`` (32-bit RGBA for images with transparency)`` when the sweep has such images, else nothing."""
    has = "has_alpha" in ctx.files.columns and bool(ctx.files["has_alpha"].any())
    return f" (32-bit RGBA{detail} for the images with transparency)" if has else ""


def sizes(ctx: Context) -> str:
    size = data.size_summary(ctx.files)
    enc_rank = {e: i for i, e in enumerate(ctx.order["encoding"])}
    size = size.sort_values(["encoding", "k"], key=lambda s: s.map(enc_rank) if s.name == "encoding" else s)
    rows = [[r.encoding, r.k, fmt.spread(r.bpp_median, r.bpp_min, r.bpp_max),
             fmt.spread(r.rgb24_median, r.rgb24_min, r.rgb24_max, fmt.ratio), r.n_images]
            for r in size.itertuples()]
    return "\n\n".join([
        "## File size by encoding and k",
        "![File size vs k](plots/size_vs_k.png)",
        "Median across images (each image counted once: the median over its quantizers), with the range across "
        "images in brackets. `× rgb24` is the file's size over the same quantized pixels saved as a default "
        f"24-bit RGB PNG{_rgba_note(ctx)}.",
        fmt.table(["encoding", "k", "bits per pixel", "× rgb24", "images"], rows),
    ])


def _layout(g: pd.DataFrame) -> str:
    parts = sorted({(int(c), int(b)) for c, b in zip(g["colour_type"].map(data.CHANNELS), g["bit_depth"])
                    if c == c and b == b})
    return ", ".join(f"{c} × {b}" for c, b in parts)


def png_terms(ctx: Context) -> str:
    """Why rgb24 is bigger than PNG-8: raw data per pixel, deflate, PLTE, label entropy."""
    f = ctx.files.dropna(subset=["width", "height", "bit_depth", "colour_type"]).copy()
    out = [
        "## Why 24-bit RGB is bigger than PNG-8, in PNG terms",
        "A PNG stores its pixels row by row, each row prefixed by one filter byte, and compresses the whole with "
        f"deflate (zlib). A 24-bit RGB PNG{f' (`{ctx.truecolour}`)' if ctx.truecolour else ''} stores 3 bytes per "
        "pixel (red, green, blue) before deflate, "
        f"even when the image has only k colours{_rgba_note(ctx, ', 4 bytes per pixel')}. A palette PNG (PNG-8) stores one index per pixel — 8 bits, or "
        "1, 2 or 4 bits when the palette is small enough and the writer packs them — plus a PLTE chunk listing "
        "the colours, 3 bytes each. Deflate then works on those indices: a third of the data, and simpler data, "
        "since a run of one colour is a run of one byte value instead of a repeating 3-byte pattern.",
    ]
    if f.empty:
        return "\n\n".join(out + ["The table has no PNG layout columns (bit_depth, colour_type): no breakdown."])
    f["raw_bpp"] = 8 * data.raw_bytes(f) / f["pixels"]
    f["deflated"] = f["bytes"] / data.raw_bytes(f)
    rows = []
    for enc in ctx.order["encoding"]:
        for k in ctx.order["k"]:
            g = f[(f["encoding"] == enc) & (f["k"] == k)]
            if len(g):
                rows.append([enc, k, _layout(g), fmt.bpp(g["raw_bpp"].median()), fmt.bpp(g["bits_per_pixel"].median()),
                             fmt.pct(g["deflated"].median())])
    out += ["Measured, per file: the image data before deflate (from width, height, channels and bit depth read "
            "back from the file) and the file on disk (medians over images and quantizers).",
            fmt.table(["encoding", "k", "channels × bits", "bpp before deflate", "bpp in the file",
                       "file / data before deflate"], rows)]
    out.append(_rgb24_gap(ctx))
    out.append(_plte(ctx))
    out.append(_entropy(ctx))
    return "\n\n".join(s for s in out if s)


def _rgb24_gap(ctx: Context) -> str:
    ref = ctx.png8_refs
    if not ref:
        return ""
    f = ctx.files[ctx.files["encoding"] == ref[0]]
    parts = []
    for k, g in f.groupby("k", sort=True):
        inv = 1 / g["ratio_to_rgb24"]
        parts.append(f"{fmt.spread(inv.median(), inv.min(), inv.max(), fmt.ratio)} at k={k}")
    return (f"After deflate, the 24-bit RGB file of the same pixels is {fmt.listing(parts)} the size of the "
            f"{ref[0]} file (median, range over images and quantizers).")


def _plte(ctx: Context) -> str:
    f = ctx.files[ctx.files["is_png8"]].dropna(subset=["palette_size"])
    if f.empty:
        return ""
    f = f.assign(plte=3 * f["palette_size"], share=3 * f["palette_size"] / f["bytes"])
    rows = []
    for k, g in f.groupby("k", sort=True):
        top = g.sort_values(["share", "image"], ascending=[False, True]).iloc[0]
        rows.append([k, fmt.spread(g["palette_size"].median(), g["palette_size"].min(), g["palette_size"].max(),
                                   fmt.int_or_dash),
                     fmt.spread(g["plte"].median(), g["plte"].min(), g["plte"].max(), fmt.int_or_dash),
                     fmt.pct(g["share"].median(), 1), f"{fmt.pct(top['share'], 1)} ({top['image']})"])
    return "\n\n".join([
        "**The palette (PLTE chunk)** costs 3 bytes per colour actually used (`palette_size`, at most k; merged "
        "or unused colours are dropped), so 3·k bytes at most. Its share of the PNG-8 file:",
        fmt.table(["k", "palette colours", "PLTE bytes (3 · palette_size)", "share of file (median)",
                   "largest share"], rows),
    ])


def _entropy(ctx: Context) -> str:
    if not ctx.png8_refs or "label_entropy_bpp" not in ctx.files.columns:
        return ""
    f = ctx.files[ctx.files["is_png8"]].dropna(subset=["label_entropy_bpp"])
    rows, below, total = [], 0, 0
    for k, g in f.groupby("k", sort=True):
        q = g.groupby(["image", "quantizer"])["label_entropy_bpp"].first()
        row = [k, fmt.spread(q.median(), q.min(), q.max())]
        for enc in ctx.png8_refs:
            row.append(fmt.bpp(g.loc[g["encoding"] == enc, "bits_per_pixel"].median()))
        n_below = int((g["bits_per_pixel"] < g["label_entropy_bpp"]).sum())
        below, total = below + n_below, total + len(g)
        rows.append(row + [f"{n_below} of {len(g)}"])
    verdict = {
        "all": "deflate beat an order-0 coder every time: it exploits repeats between neighbouring pixels (runs "
               "of one colour, repeated rows), which a histogram ignores",
        "most": "deflate mostly beat an order-0 coder: it exploits repeats between neighbouring pixels (runs of one "
                "colour, repeated rows), which a histogram ignores",
        "some": "deflate mostly did not reach it: with little repetition between neighbouring pixels, its "
                "byte-wise coding, block headers and the PLTE chunk cost more than the histogram alone",
        "none": "deflate never reached it: with little repetition between neighbouring pixels, its byte-wise "
                "coding, block headers and the PLTE chunk cost more than the histogram alone",
    }[fmt.how_many(below, total)]
    return "\n\n".join([
        "**What the indices cost.** The label entropy (`label_entropy_bpp`) is what an ideal coder that sees "
        "each index on its own (order 0) would spend per pixel: log₂(k) bits when all colours are equally "
        "common, less when a few dominate. Compare it with the PNG-8 files:",
        fmt.table(["k", "label entropy (bpp)", *[f"{e} (bpp)" for e in ctx.png8_refs], "PNG-8 below the entropy"],
                  rows),
        f"PNG-8 files were below the label entropy in {below} of {total} cases: {verdict}.",
    ])


def bit_depth(ctx: Context) -> str:
    """A PNG-8 writer that packs indices at the minimal bit depth against one that always writes 8 bits,
    on the same quantization."""
    head = "## Does the bit depth (1/2/4/8) matter?"
    pypng = pypng_bitdepth(ctx)
    pair = ctx.packing()
    if pair is None:
        return f"{head}\n\n{pypng}" if pypng else ""
    packer, eight = pair
    p = data.pair(ctx.files, packer, eight)
    if p.empty:
        return "\n\n".join([head, f"No {packer} file has a {eight} file of the same quantization and settings: "
                              "no comparison.", pypng]).rstrip()
    p["r"] = p["bytes_a"] / p["bytes_b"]
    rows, sentences = [], []
    packed_total = packed_smaller = 0
    for k, g in p.groupby("k", sort=True):
        depths = sorted({int(d) for d in g["bit_depth_a"].dropna()})
        smaller = int((g["r"] < 1).sum())
        rows.append([k, ", ".join(map(str, depths)), fmt.bpp(g["bits_per_pixel_a"].median()),
                     fmt.bpp(g["bits_per_pixel_b"].median()), fmt.spread(g["r"].median(), g["r"].min(), g["r"].max(),
                                                                         fmt.ratio), f"{smaller} of {len(g)}"])
        packed = g[g["bit_depth_a"] < 8]
        if len(packed):
            d = fmt.listing(sorted({int(x) for x in packed["bit_depth_a"]}))
            n_small = int((packed["r"] < 1).sum())
            imgs = sorted(set(packed["image"]))
            which = "" if len(packed) == len(g) else f" ({'image' if len(imgs) == 1 else 'images'} {', '.join(imgs)})"
            sentences.append(
                f"At k={k}, {len(packed)} {packer} files{which} used {d}-bit indices, "
                f"{fmt.ratio(float((packed['bit_depth_a'] / 8).median()))} the index data of {eight}'s 8 bits "
                f"before deflate; after deflate they were median {fmt.ratio(packed['r'].median())} the {eight} "
                f"size, smaller in {n_small} of {len(packed)}.")
            packed_total, packed_smaller = packed_total + len(packed), packed_smaller + n_small
        else:
            sentences.append(f"At k={k} both write 8-bit indices, so their difference (median "
                             f"{fmt.ratio(g['r'].median())}) comes from the writers alone.")
    if packed_total and packed_smaller < packed_total:
        sentences.append(
            ("So a smaller bit depth did not pay here" if packed_smaller == 0 else
             "So a smaller bit depth did not always pay")
            + ": fewer bits before deflate do not guarantee a smaller file, because deflate looks for repeated byte "
            "strings and packed indices split each pixel's pattern across byte boundaries; the two writers also "
            "differ in row filters and zlib settings.")
    elif packed_total:
        sentences.append("Here the smaller bit depth paid off every time.")
    return "\n\n".join(x for x in [
        head,
        f"{packer} packs indices at the smallest legal depth (≤2 colours: 1 bit, ≤4: 2, ≤16: 4, else 8); "
        f"{eight} writes 8 bits. Same quantization, same palette and settings (zlib level, palette order), "
        "compared file by file:",
        fmt.table(["k", f"{packer} bit depth", f"{packer} (bpp)", f"{eight} (bpp)",
                   f"{packer} / {eight} size", f"{packer} smaller"], rows),
        " ".join(sentences), pypng,
    ] if x)


def labels(ctx: Context) -> str:
    """The overhead of saving the label array as a greyscale image instead of a PNG-8."""
    head = "## Saving the labels as an image"
    ref, labels_name = ctx.png8_refs, ctx.label_image
    if labels_name is None or not ref:
        return f"{head}\n\nThis sweep lacks a label image or a PNG-8 encoding: no comparison."
    p = data.pair(ctx.files, labels_name, ref[0])
    p["r"] = p["bytes_a"] / p["bytes_b"]
    p["extra"] = p["bytes_a"] - p["bytes_b"]
    rows = [[k, fmt.bpp(g["bits_per_pixel_a"].median()), fmt.bpp(g["bits_per_pixel_b"].median()),
             fmt.spread(g["r"].median(), g["r"].min(), g["r"].max(), fmt.ratio), fmt.kb(g["extra"].median()),
             f"{int((g['r'] > 1).sum())} of {len(g)}"] for k, g in p.groupby("k", sort=True)]
    return "\n\n".join([
        head,
        f"Saving the label array itself (`io.imsave('out.png', labels)`) writes a greyscale PNG: one 8-bit value "
        f"per pixel (16-bit beyond 256 labels), the same raw data as an 8-bit PNG-8 but no palette, so the file "
        f"does not show the quantized colours unless the palette is kept elsewhere. Compared with {ref[0]} on "
        "the same quantization:",
        fmt.table(["k", f"{labels_name} (bpp)", f"{ref[0]} (bpp)", f"{labels_name} / {ref[0]}", "extra KB (median)",
                   f"{labels_name} larger"], rows),
        "With the same number of bits per pixel before deflate, the difference comes from how each writer "
        "prepares and compresses the rows (filters, zlib settings), minus the PLTE chunk only PNG-8 carries.",
    ])


def environment(ctx: Context) -> str:
    t = ctx.table
    counts = t["status"].fillna("missing").value_counts()
    lines = ["## Rows and environment", "",
             "Rows by status: " + ", ".join(f"{s}: {int(counts[s])}" for s in sorted(counts.index)) + "."]
    lines.append("")
    bad = t[t["status"] != "ok"]
    if len(bad):
        err = bad["error"] if "error" in bad.columns else pd.Series("", index=bad.index)
        bad = bad.assign(status=bad["status"].fillna("missing status"), error=err.fillna("(no message)"))
        groups = bad.groupby(["status", "error"], sort=True, dropna=False).size()
        lines += ["Rows that are not ok are left out of every number above:", ""]
        lines += [f"- {n} {status}: {error}" for (status, error), n in groups.items()] + [""]
    env = ctx.env
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
