""""The question, reproduced": a user's reported sizes beside this sweep's measured ones.

The question is a plain dict from the experiment's config, e.g.::

    {"image": "china", "k": 64,
     "sizes_kb": {"original": 435, "labels or rgb24 as saved": 588, "png8 (pypng)": 269},
     "encodings": {"labels or rgb24 as saved": ["labels", "rgb24"], "png8 (pypng)": ["png8_pypng"]}}

``sizes_kb`` are the user's numbers under the user's own labels; a label that says "original" is the
input file, and ``encodings`` says which of the sweep's encodings each other label was (a label it
does not map is listed as unmatched).
"""

from __future__ import annotations

import pandas as pd

from . import data, fmt
from ..encoders import TRUECOLOUR_PNG
from .data import Context
from .findings import describe_original


def _is_original(label: str) -> bool:
    return "original" in label.lower()


def _explain(row: pd.Series) -> str:
    """One sentence on why this file has its size, from the PNG layout read back from it."""
    raw = data.raw_size(row["width"], row["height"], row["colour_type"], row["bit_depth"])
    depth, enc = int(row["bit_depth"]), row["encoding"]
    packed = f"{fmt.kb(raw)} KB before deflate, {fmt.kb(row['bytes'])} KB after: {fmt.pct(row['bytes'] / raw)}"
    if row["colour_type"] == "RGB":
        return (f"{enc} stores 3 × {depth}-bit values per pixel however few colours there are "
                f"({int(row['width'])}×{int(row['height'])} pixels: {packed}).")
    if row["colour_type"] == "palette":
        plte = 3 * row["palette_size"]
        return (f"{enc} stores one {depth}-bit index per pixel ({packed}), plus a PLTE chunk of "
                f"3 × {int(row['palette_size'])} = {int(plte)} bytes ({fmt.pct(plte / row['bytes'], 1)} of the file).")
    return (f"{enc} stores one {depth}-bit {row['colour_type']} value per pixel ({packed}) and no palette: it does "
            "not show the quantized colours on its own.")


def question(ctx: Context, q: dict, figure: str | None = None) -> str:
    image, k, user = q.get("image"), q.get("k"), dict(q.get("sizes_kb") or {})
    out = ["## The question, reproduced"] + ([f"![The question, reproduced]({figure})"] if figure else [])
    if user:
        out.append("Your numbers: " + "; ".join(f"{name}: {v} KB" for name, v in user.items()) + ".")
    if image not in ctx.order["image"]:
        return "\n\n".join(out + [f"Image {image!r} is not in this sweep (images: {', '.join(ctx.order['image'])})."])
    f = ctx.files[(ctx.files["image"] == image) & (ctx.files["k"] == k)]
    if f.empty:
        ks = sorted(ctx.files.loc[ctx.files["image"] == image, "k"].unique().tolist())
        return "\n\n".join(out + [f"k={k} is not in this sweep for {image} (k = {', '.join(map(str, ks))})."])
    quantizer = next(x for x in ctx.order["quantizer"] if x in set(f["quantizer"]))
    # each encoding at its reference settings (zlib level 6, ...), named by its base name
    f = f[(f["quantizer"] == quantizer) & f["encoding"].isin(set(ctx.refs.values()))]
    f = f.assign(encoding=f["encoding_base"]).set_index("encoding")
    original = float(f["original_bytes"].iloc[0])
    user_original = next((v for name, v in user.items() if _is_original(name)), None)
    named = {label: list(encs) for label, encs in dict(q.get("encodings") or {}).items()}
    used = {n for n in user if _is_original(n)}

    def yours(item):
        names = [n for n in user if (_is_original(n) if item == "original" else item in named.get(n, ()))]
        used.update(names)
        if not names:
            return ["–", "–", ""]
        v = user[names[0]]
        rel = fmt.ratio(v / user_original) if user_original else "–"
        return [f"{v:g}", rel, names[0]]

    items = ["original"] + [e for e in data.by_base(f.index, data.ranks(f.reset_index(), "encoding"))]
    rows = []
    for item in items:
        b = original if item == "original" else float(f.at[item, "bytes"])
        rows.append([f"{item} file" if item == "original" else item, fmt.kb(b), fmt.ratio(b / original), *yours(item)])
    out.append(f"This sweep, {image} at k={k} with {quantizer} (sizes in KB, 1 KB = 1000 bytes):")
    out.append(fmt.table(["file", "this sweep (KB)", "× original", "yours (KB)", "× your original", "your label"],
                         rows))
    unmatched = [n for n in user if n not in used]
    if unmatched:
        out.append("Not matched to a measured file: " + ", ".join(unmatched) + ".")
    out.append(_ordering(f, original, [e for e in ctx.order["encoding"] if e in f.index]))
    kind = ctx.kind(image)
    why = [f"The original is {describe_original(ctx.files, image, kind)}"
           + (": it already stores one byte per pixel, so the 24-bit RGB PNG, at three, loses to it, while the "
              "palette PNG at k=" + str(k) + " keeps one byte per pixel with fewer colours."
              if kind == "palette PNG" else ".")]
    out.append(" ".join(why + [_explain(_with_enc(f.loc[e], e)) for e in items[1:]]))
    return "\n\n".join(out)


def _with_enc(row: pd.Series, enc: str) -> pd.Series:
    row = row.copy()
    row["encoding"] = enc
    return row


def _ordering(f: pd.DataFrame, original: float, encodings: list[str]) -> str:
    """Does 24-bit RGB PNG > original > PNG-8 hold here, for each PNG-8 encoding?"""
    truecolour = [e for e in encodings if f.at[e, "encoding_family"] == TRUECOLOUR_PNG]
    if not truecolour:
        return ("This sweep has no 24-bit RGB PNG file for this image and k: the ordering RGB PNG > original > "
                "PNG-8 is not checked.")
    tc = truecolour[0]
    rgb = float(f.at[tc, "bytes"])
    parts = []
    for enc in [e for e in encodings if bool(f.at[e, "is_png8"])]:
        p8 = float(f.at[enc, "bytes"])
        holds = rgb > original > p8
        why = "" if holds else " (" + ", ".join(
            s for s, bad in [(f"{tc} is not larger than the original", rgb <= original),
                             (f"{enc} is not smaller than the original", p8 >= original)] if bad) + ")"
        parts.append(f"{tc} ({fmt.kb(rgb)} KB) > original ({fmt.kb(original)} KB) > {enc} ({fmt.kb(p8)} KB): "
                     + ("holds here." if holds else "does not hold here" + why + "."))
    return "Ordering: " + " ".join(parts) if parts else "No PNG-8 file for this image and k."


def chart(ctx: Context, q: dict) -> tuple[pd.DataFrame, str] | None:
    """The question's chart: per file (the original, then each encoding the user's labels map to, then the
    sweep's other encodings), the user's KB and this sweep's; None when the image or k is not in the sweep."""
    image, k, user = q.get("image"), q.get("k"), dict(q.get("sizes_kb") or {})
    if not ctx.order or image not in ctx.order["image"]:
        return None
    f = ctx.files[(ctx.files["image"] == image) & (ctx.files["k"] == k)]
    if f.empty:
        return None
    quantizer = next(x for x in ctx.order["quantizer"] if x in set(f["quantizer"]))
    f = f[f["quantizer"] == quantizer].set_index("encoding")
    named = {label: list(encs) for label, encs in dict(q.get("encodings") or {}).items()}
    original = next((v for name, v in user.items() if _is_original(name)), None)
    rows = [{"file": "original", "yours": original, "sweep": float(f["original_bytes"].iloc[0]) / 1000}]
    for enc in [e for e in ctx.order["encoding"] if e in f.index]:
        yours = next((v for name, v in user.items() if enc in named.get(name, ())), None)
        rows.append({"file": enc, "yours": yours, "sweep": float(f.at[enc, "bytes"]) / 1000})
    title = f"Your sizes and this sweep's: {image} at k={k} ({quantizer})"
    return pd.DataFrame(rows).astype({"yours": float}), title
