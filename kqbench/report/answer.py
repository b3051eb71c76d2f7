"""The answer block at the top of every report: why the files differ (in this sweep's KB), the fix as code,
the saving it gives here, and which quantizer, k and encoding to use.

:func:`facts` computes every number the block states (the tests recompute them from the table);
:func:`answer` words them. Encodings are found by what their classes say (family and writer), never by
option name: the fix is the palette PNG written as the snippet writes it (Pillow, then pypng).
"""

from __future__ import annotations

import math

import pandas as pd

from . import data, fmt, snippet
from .data import Context
from .perceptual import against_recommendation

# The snippet writes with Pillow (then pypng): the palette PNG whose measured files the saving quotes.
SNIPPET_WRITERS = ("Pillow", "pypng")
PSNR_WORDS = "PSNR (how close the quantized pixels are to the original, in dB; higher is closer)"


def fix_encoding(ctx: Context) -> str | None:
    """The palette PNG encoding (at its reference settings) that writes files as the snippet does: Pillow's,
    else pypng's, without an optimizer pass; else the first palette PNG encoding; None without one."""
    refs = ctx.png8_refs
    if not refs:
        return None
    f = ctx.files[ctx.files["encoding"].isin(refs)]
    writer = f.groupby("encoding")["encoding_writer"].first()
    plain = (f.groupby("encoding")["encoding.optimizer"].first().isin(["none", ""])
             if "encoding.optimizer" in f.columns else pd.Series(True, index=writer.index))
    for w in SNIPPET_WRITERS:
        hits = [e for e in refs if writer.get(e) == w and bool(plain.get(e, True))]
        if hits:
            return hits[0]
    return refs[0]


def example(ctx: Context, question: dict | None = None) -> dict | None:
    """The quantization the block shows in KB: the question's image and k when given, else the first image
    with an input file (a photo, not a generated image) at the middle k; the baseline quantizer."""
    o = ctx.order
    if not o:
        return None
    image = (question or {}).get("image")
    if image not in o["image"]:
        real = [i for i in o["image"] if ctx.kind(i) not in ("generated", "unknown")]
        image = (real or o["image"])[0]
    ks = sorted(set(ctx.files.loc[ctx.files["image"] == image, "k"]))
    k = (question or {}).get("k")
    if k not in ks:
        k = ks[len(ks) // 2]
    f = ctx.files[(ctx.files["image"] == image) & (ctx.files["k"] == k)]
    quantizer = next(q for q in o["quantizer"] if q in set(f["quantizer"]))
    f = f[f["quantizer"] == quantizer].set_index("encoding")
    return {"image": image, "k": int(k), "quantizer": quantizer, "files": f, "kind": ctx.kind(image),
            "original_bytes": float(f["original_bytes"].iloc[0]), "unique_colours": f["unique_colours"].iloc[0]
            if "unique_colours" in f.columns else math.nan}


def _pairs(ctx: Context, a: str | None, b: str | None) -> pd.DataFrame:
    """Files of encoding ``a`` beside ``b`` of the same quantization, with ``ratio`` (a / b) and ``saved``
    (b - a bytes)."""
    if a is None or b is None:
        return pd.DataFrame()
    p = data.pair(ctx.files, a, b)
    return p.assign(ratio=p["bytes_a"] / p["bytes_b"], saved=p["bytes_b"] - p["bytes_a"])


def recommendation(ctx: Context) -> dict:
    """At the report's PSNR threshold: per image, the smallest file reaching it (on that image's
    rate-distortion front); the encoding that gave it most often; and for that encoding, per quantizer, the
    total bytes and quantizing seconds at each image's smallest k reaching the threshold, over the images
    every quantizer reaches."""
    t = ctx.threshold
    good = ctx.files[ctx.files["psnr"] >= t]
    picks = (good.sort_values(["bytes", "k"]).groupby("image", sort=True).head(1).set_index("image")
             if len(good) else pd.DataFrame())
    missed = [i for i in ctx.order["image"] if i not in picks.index]
    out = {"threshold": t, "picks": picks, "missed": missed, "encoding": None, "totals": pd.DataFrame()}
    if picks.empty:
        return out
    counts = picks["encoding"].value_counts()
    out["encoding"] = enc = next(e for e in ctx.order["encoding"] if counts.get(e, 0) == counts.max())
    out["encoding_wins"] = int(counts[enc])
    reach = data.smallest_k(ctx.quant, t).dropna(subset=["k"])
    f = ctx.files[ctx.files["encoding"] == enc]
    rows = reach.merge(f[["image", "quantizer", "k", "bytes", "runtime_s"]], on=["image", "quantizer", "k"])
    # the quantizers compared: those reaching the threshold on every image one reaches it on, else those
    # reaching it on the most images (compared on the images they all reach)
    reached = {q: set(g["image"]) for q, g in rows.groupby("quantizer")}
    if not reached:
        return out
    most = max(len(v) for v in reached.values())
    kept = [q for q in ctx.order["quantizer"] if len(reached.get(q, ())) == most]
    common = sorted(set.intersection(*(reached[q] for q in kept)))
    out["short"] = {q: sorted(set(picks.index) - reached.get(q, set())) for q in ctx.order["quantizer"]
                    if q not in kept}
    rows = rows[rows["quantizer"].isin(kept) & rows["image"].isin(common)]
    if rows.empty:
        return out
    totals = rows.groupby("quantizer").agg(bytes=("bytes", "sum"), seconds=("runtime_s", "sum"))
    totals = totals.loc[[q for q in ctx.order["quantizer"] if q in totals.index]]
    out.update(totals=totals, images=common, ks=rows.set_index(["quantizer", "image"])["k"])
    out["smallest"] = totals["bytes"].idxmin()
    out["fastest"] = totals["seconds"].idxmin()
    return out


def facts(ctx: Context, question: dict | None = None) -> dict:
    """Every number of the answer block."""
    ex = example(ctx, question)
    fix, tc, lab = fix_encoding(ctx), ctx.truecolour, ctx.label_image
    return {"example": ex, "fix": fix, "truecolour": tc, "index_image": lab,
            "vs_truecolour": _pairs(ctx, fix, tc), "vs_labels": _pairs(ctx, fix, lab),
            "recommendation": recommendation(ctx)}


def _kb(n) -> str:
    return f"{fmt.kb(n)} KB"


def _why(ctx: Context, f: dict) -> str:
    ex, fix, tc, lab = f["example"], f["fix"], f["truecolour"], f["index_image"]
    files = ex["files"]
    colours = f" with {int(ex['unique_colours'])} colours" if ex["kind"] == "palette PNG" and \
        ex["unique_colours"] == ex["unique_colours"] else ""
    original = (f"a generated image whose original is a {_kb(ex['original_bytes'])} lossless PNG"
                if ex["kind"] == "generated" else
                f"its original a {_kb(ex['original_bytes'])} {ex['kind']}{colours}")
    head = f"**Why the files differ.** {ex['image']} ({original}), quantized to k={ex['k']} colours by {ex['quantizer']}: "
    parts = []
    if tc in files.index:
        b = float(files.at[tc, "bytes"])
        rgba = bool(files.at[tc, "has_alpha"]) if "has_alpha" in files.columns else False
        parts.append(f"saved as a {'32-bit RGBA' if rgba else '24-bit RGB'} PNG it weighs {_kb(b)} "
                     f"({fmt.ratio(b / ex['original_bytes'])} the original), because that format stores "
                     f"{4 if rgba else 3} bytes per pixel however few colours there are")
    if fix in files.index:
        b = float(files.at[fix, "bytes"])
        parts.append(f"the same pixels as a palette PNG (PNG-8: one index of at most a byte per pixel, plus "
                     f"3 bytes per colour) weigh {_kb(b)} ({fmt.ratio(b / ex['original_bytes'])} the original)")
    if lab in files.index:
        b = float(files.at[lab, "bytes"])
        parts.append(f"the index array saved alone as a grey image weighs {_kb(b)} and shows no colours")
    text = head + "; ".join(parts) + "." if parts else head + "this sweep has no file of it to compare."
    p = f["vs_truecolour"]
    if len(p):
        less = int((p["ratio"] < 1).sum())
        text += (f" Over all {len(p)} quantizations of this sweep, the palette PNG was median "
                 f"{fmt.spread(p['ratio'].median(), p['ratio'].min(), p['ratio'].max(), fmt.ratio)} the size of the "
                 f"24-bit RGB PNG of the same pixels{_rgba(ctx)}, smaller in {less} of {len(p)}.")
    return text


def _rgba(ctx: Context) -> str:
    """`` (32-bit RGBA for images with transparency)`` when the sweep has such images."""
    return " (32-bit RGBA for images with transparency)" if bool(ctx.files["has_alpha"].any()) else ""


def _saving(ctx: Context, f: dict) -> str:
    p, q, fix = f["vs_truecolour"], f["vs_labels"], f["fix"]
    if fix is None:
        return ("**Expected saving.** Not measured: this sweep has no palette PNG encoding; add one "
                "(`encoding=...`, see `conf/encoding/`) to measure it.")
    writer = ctx.files.loc[ctx.files["encoding"] == fix, "encoding_writer"].iloc[0]
    parts = []
    if len(p):
        pct = 1 - p["ratio"]
        parts.append(f"instead of the 24-bit RGB PNG{_rgba(ctx)} saves median {_kb(p['saved'].median())} per file "
                     f"({fmt.pct(pct.median())} of it; {fmt.pct(pct.min())} to {fmt.pct(pct.max())}), "
                     f"{_kb(p['saved'].sum())} over the {len(p)} files")
    if len(q):
        pct = 1 - q["ratio"]
        parts.append(f"instead of the grey index image, median {_kb(q['saved'].median())} ({fmt.pct(pct.median())}) "
                     "and the colours come with it")
    if not parts:
        return f"**Expected saving.** This sweep has no 24-bit RGB PNG or grey index image to compare {fix} with."
    how = (f"as the code does ({writer}'s writer, {fix} here)" if writer in SNIPPET_WRITERS else
           f"({fix} here, {writer}'s writer; the code above uses Pillow's, whose files may differ a little)")
    return f"**Expected saving in this sweep.** Writing the palette PNG {how} " + "; ".join(parts) + "."


def _recommend(ctx: Context, f: dict) -> str:
    r = f["recommendation"]
    head = f"**Recommendation.** At {PSNR_WORDS} ≥ {r['threshold']:g} dB, the report's threshold"
    if r["encoding"] is None:
        return head + (": no file of this sweep reaches it; lower it (`kqbench report DIR --psnr-threshold 25`) or "
                       "add a larger k.")
    n_img = len(ctx.order["image"])
    text = (f"{head}, the smallest file was a {r['encoding']} file for {r['encoding_wins']} of {n_img} images (on "
            "its image's rate–distortion front: no file is smaller and at least as close).")
    totals = r["totals"]
    if len(totals):
        best, fast = r["smallest"], r["fastest"]
        ks = r["ks"].loc[best]
        by_k = {}
        for img, k in ks.items():
            by_k.setdefault(int(k), []).append(img)
        where = "; ".join(f"k={k} for {ctx.images(imgs, groups=False)}" for k, imgs in sorted(by_k.items()))
        b = totals.loc[best]
        text += (f" With it, {best} needs {where}: {_kb(b['bytes'])} in all over {fmt.count(len(ks), 'image')}"
                 + (f", the smallest total of the {len(totals)} quantizers" if len(totals) > 1 else "")
                 + f", for {fmt.seconds(b['seconds'])} s of quantizing")
        if fast != best:
            c = totals.loc[fast]
            text += (f"; {fast}, the fastest, {_kb(c['bytes'])} ({fmt.signed(100 * (c['bytes'] / b['bytes'] - 1))}%) "
                     f"in {fmt.seconds(c['seconds'])} s")
        text += "." + against_recommendation(ctx, best, sorted(by_k))
        short = [f"{q} ({ctx.images(imgs)})" for q, imgs in r.get("short", {}).items() if imgs]
        if short:
            text += f" Left out, not reaching {r['threshold']:g} dB on every image: {fmt.listing(short)}."
    if r["missed"]:
        text += f" No file reaches {r['threshold']:g} dB for {ctx.images(r['missed'])}."
    return text


def answer(ctx: Context, question: dict | None = None) -> str:
    """The answer block, Markdown."""
    if not ctx.order:
        return "## The answer\n\nThis table has no quantized file yet: nothing to answer from."
    f = facts(ctx, question)
    alpha = bool(ctx.files["has_alpha"].any()) if "has_alpha" in ctx.files.columns else False
    lines = ["## The answer", _why(ctx, f),
             "**The fix:** save the palette indices and the palette as a palette PNG, not the quantized pixels as "
             "RGB, nor the indices alone" + (" (for images with transparency the palette has an alpha column, "
                                             "written as the PNG's tRNS chunk)" if alpha else "") + ":",
             snippet.markdown(alpha), _saving(ctx, f), _recommend(ctx, f)]
    return "\n\n".join(lines)
