"""One report section per swept setting: what changing it did, measured file by file.

Each section pairs every file with the file that differs from it in that one setting only (same
image, k, quantizer, dithering and every other setting), taken at the reference setting: the
configured default when the sweep has it (zlib level 6, palette order ``as_is``, no optimizer,
Pillow's filter choice, pypng's 8 bits, ``rgb``, undithered), else the most common value. Sizes are
ratios per pair, quality changes are differences per pair; a table cell and a sentence give the median
over their pairs with the range over the same pairs and count them, so a median and its count never
point different ways and a range holds every value a table shows.

A section is left out when its setting has a single value in the table. Every number comes from the
table; the sentences only describe what the numbers show (including when an effect is mixed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import data, fmt
from ..encoders import LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG
from .data import Context

# What stays fixed for an encoding setting: the quantization, and the encoder (its family and the library
# it is built on; an optimizer pass is a setting, so optimized files pair with their writer's plain ones).
ENC_IDENT = ["image", "k", "quantizer", "dither", "alpha", "encoding_family", "encoding_writer"]
QUANT_IDENT = ["image", "k", "quantizer_base", "encoding", "dither", "alpha"]  # ... for a quantizer setting
METRICS = ["bytes", "bits_per_pixel", "encode_s", "psnr", "mse", "delta_e2000", "bit_depth", "lossy_quality"]
TOL = 1e-9
NAN = math.nan


def _diff(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a - b``, with 0 where both are the same infinity (lossless on both sides: no change)."""
    d = a - b
    return d.mask(np.isinf(a) & np.isinf(b) & (a == b), 0.0)


# Settings that are not class parameters, and the value others are compared with: no dithering, and the
# image with its alpha dropped ("what does keeping transparency cost?").
BASELINES = {"dither": "false", "alpha": "drop"}


def compare(files: pd.DataFrame, axis: str, ident: list[str], family: str, value=None,
            exclude=()) -> pd.DataFrame:
    """Every file beside its reference file (columns suffixed ``_ref``).

    ``axis`` is the setting's column (``encoding.compress_level``, ``quantizer.colour_space``,
    ``dither``); ``value(files)`` may build the setting's text instead (e.g. optimizer and level).
    The reference file has the same ``ident`` columns, the same other settings of the axis's group
    (``encoding.*`` or ``quantizer.*`` but ``axis`` and ``exclude``), and the reference value: of the
    values its ``family`` has, the default of the class that wrote the file (or :data:`BASELINES`) when
    present, else the most common (:func:`data.reference_value`). Families with a single value are dropped. Adds
    ``value``, ``ref_value``, ``is_ref``, ``size_ratio``, ``time_ratio`` and the differences ``d_psnr``,
    ``d_de`` (CIEDE2000) and ``d_mse``.
    """
    if files is None or files.empty or (value is None and axis not in files.columns):
        return pd.DataFrame()
    f = files.copy()
    f["value"] = value(f) if value is not None else f[axis].map(data.param_text)
    f = f[f["value"] != ""]
    group = axis.split(".", 1)[0] if "." in axis else None
    others = [c for c in data.params(f, group) if c != axis and c not in exclude] if group else []
    keys = list(ident) + others
    n_values = f.groupby(family)["value"].nunique()
    f = f[f[family].isin(n_values.index[n_values > 1])].copy()
    if f.empty:
        return pd.DataFrame()
    f["default"] = data.defaults(f, axis) if axis not in BASELINES else BASELINES[axis]
    values = f.groupby(family)["value"].agg(list)
    f["ref_value"] = [data.reference_value(values[fam], d) for fam, d in zip(f[family], f["default"])]
    cols = keys + [c for c in METRICS if c in f.columns]
    ref = f.loc[f["value"] == f["ref_value"], cols].drop_duplicates(keys)
    out = f.merge(ref, on=keys, suffixes=("", "_ref"))
    if out.empty:
        return pd.DataFrame()
    out["is_ref"] = out["value"] == out["ref_value"]
    # a reference file is shown only where something is compared with it
    compared = out.loc[~out["is_ref"], keys].drop_duplicates()
    used = out[keys].merge(compared.assign(_used=1), on=keys, how="left")["_used"].notna().to_numpy(bool)
    out = out[~out["is_ref"].to_numpy(bool) | used]
    if out.empty:
        return pd.DataFrame()
    out["size_ratio"] = out["bytes"] / out["bytes_ref"]
    if "encode_s" in out.columns:
        out["time_ratio"] = out["encode_s"] / out["encode_s_ref"].where(out["encode_s_ref"] > 0)
    for col, d in (("psnr", "d_psnr"), ("delta_e2000", "d_de"), ("mse", "d_mse")):
        if col in out.columns:
            out[d] = _diff(out[col], out[f"{col}_ref"])
    return out.reset_index(drop=True)


class Section(str):
    """A section's Markdown, with its one-line finding for *In short* (``headline``)."""

    headline = ""


def section(text: str, headline: str = "") -> Section:
    s = Section(text)
    s.headline = headline
    return s


def over_pairs(g: pd.DataFrame, col: str) -> tuple[float, float, float]:
    """(median, min, max) of ``col`` over the pairs (rows) of ``g``: the same pairs a count beside it
    counts, so a median and its count never point different ways, and the range holds every pair."""
    if col not in g.columns:
        return NAN, NAN, NAN
    s = g[col].dropna()
    if s.empty:
        return NAN, NAN, NAN
    return float(s.median()), float(s.min()), float(s.max())


def spread(g: pd.DataFrame, col: str, f=fmt.ratio) -> str:
    """``median (min–max)`` over pairs, as the report prints it."""
    return fmt.spread(*over_pairs(g, col), f)


def median(g: pd.DataFrame, col: str) -> float:
    return over_pairs(g, col)[0]


def counts(s: pd.Series, centre: float = 1.0) -> tuple[int, int, int]:
    """Pairs below and above ``centre`` (1 for ratios, 0 for differences), and all pairs."""
    s = s.dropna()
    return int((s < centre - TOL).sum()), int((s > centre + TOL).sum()), len(s)


def _value_order(values, ref: str) -> list[str]:
    """The reference first, then numbers in numeric order, then words by name."""
    def key(v):
        try:
            return (v != ref, 0, float(v), v)
        except ValueError:
            return (v != ref, 1, 0.0, v)
    return sorted(set(values), key=key)


PAIRS_NOTE = ("Each pair is one file against the file that differs from it in this setting only (same image, k, "
              "quantizer, dithering and other settings).")
IMAGES_NOTE = "Each cell: the median over its pairs, their range in brackets."


# --- encoder settings: zlib level, scanline filter, palette order, optimizer -----------------------------------

def _optimizer_value(files: pd.DataFrame) -> pd.Series:
    """``none``, ``oxipng``, ``oxipng level 4``: the optimizer with its level when set."""
    if "encoding.optimizer" not in files.columns:
        return pd.Series("", index=files.index)
    level = files["encoding.optimizer_level"] if "encoding.optimizer_level" in files.columns else \
        pd.Series("", index=files.index)
    opt = files["encoding.optimizer"]
    return opt.where((opt == "none") | (opt == "") | (level == ""), opt + " level " + level)


SETTINGS = [
    # axis column, heading, explanation, how a value is named, value builder, settings not held fixed
    ("encoding.compress_level", "## zlib level (`encoding.compress_level`)",
     "`compress_level` sets how hard zlib's deflate searches for repeated strings (0 stores, 1 is fastest, 9 "
     "searches longest). Pixels, palette and filters stay the same; only the compressed bytes and the time "
     "change.", lambda v: f"level {v}", None, ()),
    ("encoding.filter", "## Truecolour scanline filter (`encoding.filter`)",
     "Before deflate, a PNG replaces each row's bytes by their difference from a prediction: `none`, `sub` "
     "(the pixel to the left), `up` (the row above), `average`, `paeth`, `adaptive` (a choice per row); "
     "`pillow` is Pillow's own per-row choice. The pixels are the same; the bytes deflate sees differ.",
     str, None, ()),
    ("encoding.order", "## PNG-8 palette order (`encoding.order`)",
     "The same palette colours on other indices: `as_is` (the quantizer's order), `frequency` (most used "
     "first), `luminance`, `nearest_chain` (each colour next to its nearest). Same pixels and palette; the "
     "index bytes, and so what the row filters and deflate see, change.", str, None, ()),
    ("encoding.optimizer", "## Optimizer pass (`encoding.optimizer`: oxipng, zopflipng)",
     "An optimizer rewrites the finished PNG losslessly (other filters, a longer deflate search, sometimes a "
     "smaller bit depth or another palette order) and its result is kept only when smaller. Each optimized "
     "file pairs with the unoptimized file of the same writer at the same level and palette order.",
     lambda v: "no optimizer" if v == "none" else v, _optimizer_value,
     ("encoding.optimizer_level",)),
]


def setting(ctx: Context, axis: str, head: str, intro: str, name=str, value=None, exclude=()) -> str:
    """The section of one encoder setting: size and encode time relative to the reference setting."""
    p = compare(ctx.variants, axis, ENC_IDENT, "encoding_writer", value, exclude)
    if p.empty or bool(p["is_ref"].all()):
        return ""
    rows = []
    for enc in data.by_base(p["encoding_base"], data.ranks(p, "encoding")):
        g = p[p["encoding_base"] == enc]
        ref = g["ref_value"].iloc[0]
        for v in _value_order(g["value"], ref):
            h = g[g["value"] == v]
            if bool(h["is_ref"].iloc[0]):
                continue
            less, more, n = counts(h["size_ratio"])
            rows.append([enc, f"{name(v)} vs {name(ref)}", spread(h, "size_ratio"),
                         fmt.factor(median(h, "time_ratio")), f"{less} / {more} of {n}"])
    d = p[~p["is_ref"]]
    ref = _value_order(d["ref_value"], "")[0]
    parts = []
    for v in _value_order(d["value"], ref):
        h = d[d["value"] == v]
        parts.append(f"{name(v)} gave median {spread(h, 'size_ratio')} the size ({tally_files(*counts(h['size_ratio']))})"
                     f" in {fmt.factor(median(h, 'time_ratio'))} the encode time")
    label = head.removeprefix("## ").split(" (")[0]
    headline = f"{label}, against {name(ref)}: " + "; ".join(parts) + "."
    return section("\n\n".join([
        head, f"{intro} {PAIRS_NOTE} Encode time: the median over pairs of their ratio. {IMAGES_NOTE}",
        fmt.table(["encoding", "setting", "× reference size", "× reference encode time", "files smaller / larger"],
                  rows),
        "Over every encoding: " + (headline if headline[1:2].isupper() else headline[0].lower() + headline[1:]),
    ]), headline)


def tally_files(less: int, more: int, n: int) -> str:
    """:func:`fmt.tally` of file sizes: ``larger in all 12 files``, ``smaller in 5 of 12, larger in 7``."""
    text = fmt.tally(less, more, n)
    return text + " files" if " in all " in text and n > 1 else text


def settings(ctx: Context) -> list[str]:
    return [setting(ctx, axis, head, intro, name, value, exclude)
            for axis, head, intro, name, value, exclude in SETTINGS]


# --- bit depth: pypng's bitdepth=minimal vs 8 --------------------------------------------------------------

def pypng_bitdepth(ctx: Context) -> str:
    """A PNG-8 writer's ``bitdepth`` setting (minimal against 8 bits), per k (for the bit depth section)."""
    p = compare(ctx.variants, "encoding.bitdepth", ENC_IDENT, "encoding_writer")
    if p.empty:
        return ""
    p = p[~p["is_ref"]]
    if p.empty:
        return ""
    rows, sentences = [], []
    for (enc, v), g in p.groupby(["encoding_base", "value"], sort=True):
        ref = g["ref_value"].iloc[0]
        for k, h in g.groupby("k", sort=True):
            depths = sorted({int(d) for d in h["bit_depth"].dropna()})
            less, more, n = counts(h["size_ratio"])
            rows.append([enc, f"{v} vs {ref}", k, ", ".join(map(str, depths)), spread(h, "size_ratio"),
                         f"{less} / {more} of {n}"])
        packed = g[g["bit_depth"] < g["bit_depth_ref"]]
        same = g[g["bit_depth"] == g["bit_depth_ref"]]
        text = f"{enc} with bitdepth={v}: "
        if len(packed):
            less, more, n = counts(packed["size_ratio"])
            text += (f"{fmt.count(n, 'file')} used fewer bits per index than {ref} "
                     f"(at k={fmt.listing(sorted(set(packed['k'])))}), median {spread(packed, 'size_ratio')} "
                     f"the size ({tally_files(less, more, n)})")
        if len(same):
            less, more, n = counts(same["size_ratio"])
            text += ("; " if len(packed) else "") + (
                f"{fmt.count(n, 'file')} kept the same depth (at k={fmt.listing(sorted(set(same['k'])))}), "
                f"median {spread(same, 'size_ratio')} the size ({tally_files(less, more, n)})")
        sentences.append(text + ".")
    return "\n\n".join([
        f"**{fmt.listing(sorted(set(p['encoding_base'])))}, `bitdepth` swept.** The same writer and settings, "
        "only the bits per index changed. " + IMAGES_NOTE,
        fmt.table(["encoding", "bitdepth", "k", "bit depth written", "× size at the reference bitdepth",
                   "files smaller / larger"], rows),
        " ".join(sentences),
    ])


# --- dithering ----------------------------------------------------------------------------------------------

def dithering(ctx: Context) -> str:
    f = ctx.all_files[~ctx.all_files["lossy"].astype(bool)] if len(ctx.all_files) else ctx.all_files
    if len(f) and ctx.variant_refs:  # each encoding at its reference settings: other settings have their own sections
        f = f[f["encoding"].isin(set(ctx.variant_refs.values()))]
        f = f.assign(encoding=f["encoding_base"])
    p = compare(f, "dither", ["image", "k", "quantizer", "encoding", "alpha"], "encoding")
    if p.empty:
        return ""
    d = p[~p["is_ref"]]
    if d.empty:
        return ""
    rows = []
    for enc in data.by_base(d["encoding"], data.ranks(d, "encoding")):
        for k, h in d[d["encoding"] == enc].groupby("k", sort=True):
            less, more, n = counts(h["size_ratio"])
            rows.append([enc, k, spread(h, "size_ratio"), spread(h, "d_psnr", fmt.ddb), spread(h, "d_de", fmt.dde),
                         f"{less} / {more} of {n}"])
    size = counts(d["size_ratio"])
    dpsnr = counts(d["d_psnr"], 0.0)
    dde = counts(d["d_de"], 0.0) if "d_de" in d.columns else (0, 0, 0)
    text = (f"Over all {fmt.count(len(d), 'pair')}, dithered files were median {spread(d, 'size_ratio')} the size of "
            f"undithered ones ({tally_files(*size)}); PSNR changed by median {spread(d, 'd_psnr', fmt.ddb)} dB "
            f"({fmt.tally(*dpsnr, less='lower', more='higher')})")
    if dde[2]:
        text += (f" and mean ΔE2000 by {spread(d, 'd_de', fmt.dde)} "
                 f"({fmt.tally(*dde, less='lower', more='higher')})")
    text += (". Both are per-pixel measures: error diffusion aims at the right average colour over an area, "
             "which neither of them credits.")
    out = ["## Dithering (`dither`)",
           "`dither=true` re-assigns each pixel by Floyd–Steinberg error diffusion onto the same palette as the "
           "undithered quantization (same fit). Pairs are the same image, k, quantizer and encoding (at its "
           "reference settings) with dither=true vs false; ΔPSNR and ΔΔE2000 are dithered minus undithered "
           "(ΔE2000: mean CIEDE2000, lower is better). " + IMAGES_NOTE,
           fmt.table(["encoding", "k", "× undithered size", "ΔPSNR (dB)", "ΔΔE2000", "files smaller / larger"],
                     rows),
           text]
    if bool((ctx.all_files["lossy"].astype(bool) & ctx.all_files["dither"]).any()):
        out.append("The lossy comparators are left out here: for them dithering only lowers the PSNR they must reach "
                   "(see *Should this be a PNG at all?*).")
    headline = (f"Dithering: files median {spread(d, 'size_ratio')} the size of undithered ones ({tally_files(*size)}), "
                f"PSNR median {spread(d, 'd_psnr', fmt.ddb)} dB.")
    return section("\n\n".join(out), headline)


# --- transparency ----------------------------------------------------------------------------------------------

def transparency(ctx: Context) -> str:
    """Images with transparency: what their tRNS chunks cost, and (when ``alpha`` is swept) the size of each
    file against the same image with its alpha dropped."""
    af = ctx.all_files
    if af.empty or "has_alpha" not in af.columns or not bool(af["has_alpha"].any()):
        return ""
    lossless = af[~af["lossy"].astype(bool)]
    kept = lossless[lossless["has_alpha"].astype(bool)]
    images = sorted(set(kept["image"]))
    out = ["## Transparency (`alpha`)",
           f"{fmt.count(len(images), 'image')} of this sweep have transparency ({ctx.images(images, counted=False)}). With "
           "`alpha=keep` (the default) they are quantized in premultiplied RGBA (colour under full transparency "
           "counts nothing, and every fully transparent pixel shares one palette entry), PNG-8 files carry the "
           "palette's alphas in a tRNS chunk (1 byte per entry up to the last translucent one), truecolour PNGs "
           "become 32-bit RGBA, and MSE/PSNR are over premultiplied RGBA. `alpha=drop` discards the alpha channel first "
           "(the colours under it kept), as reading the file as RGB does."]
    png8 = kept[kept["colour_type"] == "palette"] if "colour_type" in kept.columns else kept.iloc[0:0]
    if len(png8) and "trns_bytes" in png8.columns:
        share = png8["trns_bytes"] / png8["bytes"]
        out.append(f"In the {fmt.count(len(png8), 'PNG-8 file')} of these images, the tRNS chunk held median "
                   f"{int(round(float(png8['trns_bytes'].median())))} bytes "
                   f"({int(png8['trns_bytes'].min())}–{int(png8['trns_bytes'].max())}), "
                   f"{fmt.pct(float(share.median()), 1)} of the file (at most {fmt.pct(float(share.max()), 1)}): "
                   "the chunk itself is cheap; what transparency costs is the palette entries it takes and the "
                   "index patterns of soft edges.")
    f = lossless[lossless["image"].isin(images)]
    p = compare(f, "alpha", ["image", "k", "quantizer", "encoding", "dither"], "encoding")
    d = p[~p["is_ref"]] if len(p) else p
    if d.empty:
        return "\n\n".join(out)
    rows = []
    ks = sorted(set(d["k"]))
    for enc in data.by_base(d["encoding"], data.ranks(d, "encoding")):
        g = d[d["encoding"] == enc]
        cells = []
        for k in ks:
            h = g[g["k"] == k]
            less, more, n = counts(h["size_ratio"])
            cells.append(f"{fmt.ratio(median(h, 'size_ratio'))} ({less} / {more} of {n})" if n else "–")
        less, more, n = counts(g["size_ratio"])
        rows.append([enc, *cells, f"{spread(g, 'size_ratio')}, {tally_files(less, more, n)}"])
    every = counts(d["size_ratio"])
    headline = (f"Keeping transparency (`alpha=keep` vs `drop`): files median {spread(d, 'size_ratio')} the size "
                f"({tally_files(*every)}).")
    out += ["Pairs: the same image, k, quantizer and encoding with `alpha=keep` vs `alpha=drop`. Quality is not "
            "compared across them: the two measure error on different images (RGBA vs the RGB left once alpha is "
            "dropped). Each cell: the median over its pairs of the size with alpha kept over the size with alpha "
            "dropped (files smaller / larger); the last column: over all the encoding's pairs, with their range.",
            fmt.table(["encoding", *[f"k={k}: × size with alpha dropped" for k in ks], "every k"], rows),
            "Keeping alpha costs bytes where translucent edges need palette entries of "
            "their own, and saves them where transparency hides colours: every fully transparent pixel becomes one "
            "index, while `alpha=drop` must still store the colours under it."]
    return section("\n\n".join(out), headline)


# --- colour space ---------------------------------------------------------------------------------------------

def png8_reference(ctx: Context) -> str | None:
    """The PNG-8 encoding other encodings are compared with: of the PNG-8 encodings at their reference
    settings, the one whose files are smallest (median over the quantizations all of them have; ties: the
    first in display order) — a comparator should beat the best PNG-8 of the sweep, not any."""
    refs = ctx.png8_refs
    if len(refs) < 2:
        return refs[0] if refs else None
    f = ctx.files[ctx.files["encoding"].isin(refs)]
    keys = ["image", "k", "quantizer", "dither", "alpha"]
    wide = f.pivot_table(index=keys, columns="encoding", values="bytes", aggfunc="median").dropna()
    if wide.empty:
        return refs[0]
    sizes = wide.median()
    return min(refs, key=lambda e: (sizes.get(e, math.inf), refs.index(e)))


def colour_space(ctx: Context) -> str:
    if ctx.files.empty or "quantizer.colour_space" not in ctx.files.columns:
        return ""
    # one encoding's files (quality does not depend on it): the first PNG-8 at its reference settings
    # whose files come in more than one colour space
    swept = ctx.files.groupby("encoding")["quantizer.colour_space"].nunique()
    enc = next((e for e in ctx.png8_refs if swept.get(e, 0) > 1), None) or ctx.order["encoding"][0]
    p = compare(ctx.files[ctx.files["encoding"] == enc], "quantizer.colour_space", QUANT_IDENT, "quantizer_base")
    if p.empty or bool(p["is_ref"].all()):
        return ""
    has_de = "delta_e2000" in p.columns and p["delta_e2000"].notna().any()
    rows = []
    for q in data.by_base(p["quantizer_base"], data.ranks(p, "quantizer")):
        g = p[p["quantizer_base"] == q]
        ref = g["ref_value"].iloc[0]
        for k in sorted(set(g["k"])):
            for v in _value_order(g["value"], ref):
                h = g[(g["k"] == k) & (g["value"] == v)]
                if h.empty:
                    continue
                is_ref = bool(h["is_ref"].iloc[0])
                rows.append([q, k, v + (" (reference)" if is_ref else ""), spread(h, "mse", fmt.mse),
                             spread(h, "psnr", fmt.db), *([spread(h, "delta_e2000", fmt.de)] if has_de else []),
                             "–" if is_ref else spread(h, "d_psnr", fmt.ddb),
                             *(["–" if is_ref else spread(h, "d_de", fmt.dde)] if has_de else []),
                             spread(h, "size_ratio")])
    sentences = []
    for (q, v), h in p[~p["is_ref"]].groupby(["quantizer_base", "value"], sort=True):
        ref = h["ref_value"].iloc[0]
        text = (f"{q} in {v} vs {ref}: PSNR {spread(h, 'd_psnr', fmt.ddb)} dB "
                f"({fmt.tally(*counts(h['d_psnr'], 0.0), less='lower', more='higher')})")
        if has_de:
            text += (f", ΔE2000 {spread(h, 'd_de', fmt.dde)} "
                     f"({fmt.tally(*counts(h['d_de'], 0.0), less='lower', more='higher')})")
        text += f", {enc} files {spread(h, 'size_ratio')} the size ({tally_files(*counts(h['size_ratio']))})."
        sentences.append(text)
    headers = ["quantizer", "k", "colour space", "MSE", "PSNR (dB)", *(["ΔE2000"] if has_de else []),
               "ΔPSNR vs reference", *(["ΔΔE2000 vs reference"] if has_de else []), f"× reference size ({enc})"]
    headline = "Colour space: " + " ".join(sentences)
    return section("\n\n".join([
        "## Colour space of the quantizer (`quantizer.colour_space`)",
        "Where k-means and the nearest-colour assignment measure distances: `rgb` (sRGB values, the distance "
        "MSE and PSNR measure), `lab` (CIELAB) or `oklab` (Oklab), whose distances follow perceived difference "
        "more closely, as ΔE2000 (mean CIEDE2000, lower is better) does. Pairs are the same image, k, quantizer "
        "settings and encoding in another colour space. " + IMAGES_NOTE,
        fmt.table(headers, rows),
        " ".join(sentences),
    ]), headline)


# --- lossy comparators: should this be a PNG at all? --------------------------------------------------------

# Should this be a PNG at all? Every encoding that is not a PNG: lossy WebP and JPEG of the original, and
# lossless WebP of the quantized pixels.
PNG_FAMILIES = (PALETTE_PNG, TRUECOLOUR_PNG, LABEL_PNG)
KEYS = ["image", "k", "quantizer", "dither", "alpha"]


def lossy_pairs(ctx: Context) -> tuple[pd.DataFrame, str | None]:
    """Each comparator file beside the reference PNG-8 file of the same quantization (suffix ``_png8``),
    with ``size_ratio``, ``reached`` (the lossy file reached its target PSNR) and ``floor`` (already more
    than 1 dB above it at quality ≤ 1, the bottom of the search)."""
    af = ctx.all_files
    if af.empty:
        return pd.DataFrame(), None
    comps = af[~af["encoding_family"].isin(PNG_FAMILIES)]
    ref = png8_reference(ctx)
    if comps.empty or ref is None:
        return pd.DataFrame(), ref
    cols = [c for c in ("bytes", "psnr", "delta_e2000") if c in af.columns]
    base = af.loc[af["encoding"] == ctx.variant_refs.get(ref, ref), KEYS + cols]
    p = comps.merge(base, on=KEYS, suffixes=("", "_png8"))
    p["size_ratio"] = p["bytes"] / p["bytes_png8"]
    lossy = p["lossy"].astype(bool)
    target = p["lossy_target_psnr"] if "lossy_target_psnr" in p.columns else pd.Series(NAN, index=p.index)
    quality = p["lossy_quality"] if "lossy_quality" in p.columns else pd.Series(NAN, index=p.index)
    p["reached"] = ~lossy | ~(p["psnr"] < target - TOL)
    p["floor"] = lossy & (quality <= 1) & (p["psnr"] > target + 1)
    return p, ref


def _where(rows: pd.DataFrame) -> str:
    if rows["image"].nunique() > data.MANY_IMAGES:
        return f"{rows['image'].nunique()} images"
    parts = [f"{img} (k={fmt.listing(sorted(set(g['k'])))})" for img, g in rows.groupby("image", sort=True)]
    return fmt.listing(parts)


def lossy(ctx: Context) -> str:
    p, ref = lossy_pairs(ctx)
    head = "## Should this be a PNG at all? (lossy comparators)"
    if len(ctx.all_files) and ref is None and (~ctx.all_files["encoding_family"].isin(PNG_FAMILIES)).any():
        return f"{head}\n\nThis sweep has comparator encodings but no PNG-8 file to compare them with."
    if p.empty:
        return ""
    split = [c for c in ("dither", "alpha") if p[c].nunique() > 1]  # shown as columns when swept
    has_de = "delta_e2000" in p.columns and p["delta_e2000"].notna().any()
    rows = []
    for enc in data.by_base(p["encoding"], data.ranks(p, "encoding")):
        g = p[p["encoding"] == enc]
        for key, h in g.groupby(["k", *split], sort=True):
            key = key if isinstance(key, tuple) else (key,)
            is_lossy = bool(h["lossy"].iloc[0])
            ok = h[h["reached"]]
            less, more, n = counts(ok["size_ratio"])
            rows.append([enc, key[0], *(str(v).lower() for v in key[1:]), spread(ok, "size_ratio"),
                         spread(ok, "lossy_quality", _quality) if is_lossy else "– (lossless)",
                         *([f"{fmt.de(median(ok, 'delta_e2000'))} / {fmt.de(median(ok, 'delta_e2000_png8'))}"]
                           if has_de else []),
                         f"{less} / {more} of {n}",
                         f"{int(h['reached'].sum())} of {len(h)}" if is_lossy else "–"])
    sentences, missed, floors = [], [], []
    for enc in data.by_base(p["encoding"], data.ranks(p, "encoding")):
        g = p[p["encoding"] == enc]
        ok = g[g["reached"]]
        less, more, n = counts(ok["size_ratio"])
        if not bool(g["lossy"].iloc[0]):
            sentences.append(f"{enc}, the same quantized pixels stored losslessly, was median "
                             f"{spread(ok, 'size_ratio')} the size of the {ref} file ({tally_files(less, more, n)}).")
            continue
        if n == 0:
            sentences.append(f"{enc} never reached the PNG-8's PSNR.")
        else:
            text = (f"At the PNG-8 file's PSNR, {enc} files were median {spread(ok, 'size_ratio')} the size of the "
                    f"{ref} file ({tally_files(less, more, n)})")
            if has_de:
                below, above, m = counts(ok["delta_e2000"] - ok["delta_e2000_png8"], 0.0)
                text += f", with a mean ΔE2000 below the PNG-8's in {below} of {m}"
                text += f" (above in {above})" if above else ""
            sentences.append(text + ".")
        miss, floor = g[~g["reached"]], g[g["floor"]]
        if len(miss):
            missed.append(f"{enc} {len(miss)} of {len(g)}: {_where(miss)}")
        if len(floor):
            floors.append(f"{enc} {len(floor)} of {len(g)}: {_where(floor)}")
    if missed:
        sentences.append("The target was unreachable (quality 100 and still below the PNG-8's PSNR, as for a lossless "
                         "quantization, PSNR = ∞) for " + "; ".join(missed) + "; these are left out of the ratios.")
    if floors:
        sentences.append("Already more than 1 dB above the target at the lowest quality, so better (and bigger) than "
                         "needed: " + "; ".join(floors) + ".")
    verdict = ""
    lo = p[p["lossy"].astype(bool) & p["reached"]]
    if len(lo):
        best = lo.groupby(KEYS)["size_ratio"].min()
        won = int((best < 1 - TOL).sum())
        png_wins = sorted({i[0] for i, r in best.items() if r >= 1 - TOL})
        verdict = (f"So a lossy file at the same PSNR was smaller than the PNG-8 for {won} of {len(best)} "
                   "quantizations (image, k, quantizer" + (", dithering" if "dither" in split else "")
                   + (", alpha" if "alpha" in split else "")
                   + ") where one reached the target")
        verdict += (f"; the PNG-8 was the smaller file for {ctx.images(png_wins)}." if png_wins else ".")
        verdict += (" The lossy files are of the original image, not of the quantized one: the same PSNR, but "
                    "other kinds of error (blocks and blur instead of palette steps).")
    headers = ["encoding", "k", *split, f"× {ref} size", "quality",
               *([f"ΔE2000 (file / {ref})"] if has_de else []), "files smaller / larger", "target reached"]
    headline = ("Lossy comparators: " + verdict.split(" The lossy files are")[0].removeprefix("So ")) if verdict else ""
    return section("\n\n".join(s for s in [
        head,
        _comparators(p) + f" Each is compared with "
        f"the {ref} file of the same quantization (image, k, quantizer, dithering). Lossy files that missed "
        "their target are left out of the size, quality and ΔE2000 columns. " + IMAGES_NOTE,
        fmt.table(headers, rows), " ".join(sentences), verdict] if s), headline)


def _comparators(p: pd.DataFrame) -> str:
    """What the comparators of this sweep store, naming them."""
    lossy = p["lossy"].astype(bool)
    ranks = data.ranks(p, "encoding")
    parts = []
    for names, what in ((data.by_base(p.loc[lossy, "encoding_base"], ranks),
                         "the **original** image at the lowest quality whose PSNR reaches that of the quantization"),
                        (data.by_base(p.loc[~lossy, "encoding_base"], ranks), "the quantized pixels losslessly")):
        if names:
            verb = "stores" if len(names) == 1 else "store"
            parts.append(f"{fmt.listing(f'`{n}`' for n in names)} {verb} {what}")
    return "; ".join(parts) + "."


def _quality(x) -> str:
    return "–" if x is None or x != x else f"{x:g}"


def sections(ctx: Context) -> list[str]:
    """Every axis section this table has, in report order (empty ones left out)."""
    out = settings(ctx) + [dithering(ctx), transparency(ctx), colour_space(ctx), lossy(ctx)]
    return [s for s in out if s]
