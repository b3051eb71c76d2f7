"""The results table, tidied for the report, and every number the report states.

Nothing here quantizes or encodes: all values come from ``results.parquet``. Functions
return small DataFrames so that the text and the plots use exactly the same numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ReportError, check_folder

FILE_KEYS = ["image", "k", "quantizer", "encoding"]
QUANT_KEYS = ["image", "k", "quantizer"]
# Known encodings first, in the order of the story (big to small); any new one follows by name.
ENCODING_ORDER = ["rgb24", "labels", "png8_pypng", "png8_pillow"]
QUANTIZER_PREFERENCE = ["kmeans"]  # the question's quantizer: shown first when choosing one
CHANNELS = {"grey": 1, "palette": 1, "grey+alpha": 2, "RGB": 3, "RGBA": 4}
NUMERIC = ["width", "height", "pixels", "original_bytes", "unique_colours", "palette_size", "bytes",
           "bits_per_pixel", "ratio_to_original", "ratio_to_rgb24", "bit_depth", "mse", "psnr",
           "label_entropy_bpp", "fit_s", "assign_s", "encode_s"]
TEXT = ["colour_type", "original_mode", "path", "source"]


def load(sweep_dir) -> pd.DataFrame:
    """Read ``sweep_dir/results.parquet``; raise :class:`ReportError` with a one-line reason."""
    table = check_folder(sweep_dir) / "results.parquet"
    try:
        df = pd.read_parquet(table)
    except Exception as exc:  # a truncated or foreign file: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ReportError(f"{table}: unreadable ({type(exc).__name__}: {first})") from exc
    missing = [c for c in ("image", "k", "quantizer", "encoding", "status", "bytes") if c not in df.columns]
    if missing:
        raise ReportError(f"{table}: not a kqbench results table (missing columns: {', '.join(missing)})")
    return df


def ordered(values, preferred=()) -> list:
    """Distinct values, ``preferred`` ones first in that order, the rest sorted."""
    present = list(dict.fromkeys(v for v in values if v is not None and v == v))
    head = [v for v in preferred if v in present]
    return head + sorted((v for v in present if v not in head), key=str)


def _param_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def label_variants(df: pd.DataFrame, group: str) -> pd.DataFrame:
    """Name each parameter set of a quantizer (or encoding) apart, e.g. ``kmeans(n_init=10)``.

    A sweep such as ``quantizer.n_init=1,10`` gives rows that differ only in a parameter
    column; without this they would be pooled as one quantizer.
    """
    params = sorted(c for c in df.columns if c.startswith(f"{group}."))
    if not params:
        return df
    df = df.copy()
    labels = df[group].astype(object).copy()
    for name, rows in df.groupby(group, sort=True):
        varying = [c for c in params if rows[c].astype(str).nunique(dropna=False) > 1]
        if not varying:
            continue
        for idx, row in rows.iterrows():
            text = ",".join(f"{c.split('.', 1)[1]}={_param_text(row[c])}" for c in varying)
            labels.at[idx] = f"{name}({text})"
    df[group] = labels
    return df


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``status == "ok"`` and a known image and k; metric columns as floats."""
    ok = df[(df["status"] == "ok") & df["image"].notna() & df["k"].notna()].copy()
    for c in NUMERIC:
        if c in ok.columns:
            ok[c] = pd.to_numeric(ok[c], errors="coerce").astype(float)
    ok["k"] = ok["k"].astype(int)
    for c in ("image", "quantizer", "encoding"):
        ok[c] = ok[c].astype(str)
    ok = label_variants(label_variants(ok, "quantizer"), "encoding")
    if "seed" not in ok.columns:
        ok["seed"] = 0
    return ok.sort_values([*FILE_KEYS, "seed"], kind="stable").reset_index(drop=True)


def per_file(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, k, quantizer, encoding): numbers are the median over seeds."""
    agg = {c: "median" for c in NUMERIC if c in ok.columns}
    agg.update({c: "first" for c in TEXT if c in ok.columns})  # first non-null (e.g. a kept path)
    agg["seed"] = "count"
    files = ok.groupby(FILE_KEYS, sort=True).agg(agg).rename(columns={"seed": "n_seeds"}).reset_index()
    files["runtime_s"] = files.get("fit_s", np.nan) + files.get("assign_s", np.nan)
    files["is_png8"] = (files.get("colour_type", pd.Series("", index=files.index)) == "palette") | \
        files["encoding"].str.startswith("png8")
    return files


def per_quantization(files: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, k, quantizer): the encodings of one quantization share its quality
    and timings, so they are counted once here (median across encodings, which are equal)."""
    cols = [c for c in ("psnr", "mse", "fit_s", "assign_s", "runtime_s", "label_entropy_bpp", "palette_size",
                        "pixels", "original_bytes") if c in files.columns]
    return files.groupby(QUANT_KEYS, sort=True)[cols].median().reset_index()


def order_of(files: pd.DataFrame) -> dict:
    """Display order of images, k, quantizers and encodings."""
    return {
        "image": ordered(files["image"]),
        "k": sorted(files["k"].unique().tolist()),
        "quantizer": ordered(files["quantizer"], QUANTIZER_PREFERENCE),
        "encoding": ordered(files["encoding"], ENCODING_ORDER),
    }


def _spread(values: pd.Series) -> dict:
    return {"median": float(values.median()), "min": float(values.min()), "max": float(values.max()),
            "n": int(values.notna().sum())}


def size_summary(files: pd.DataFrame) -> pd.DataFrame:
    """Per (encoding, k): median and range across images of bits per pixel and ratio to rgb24.

    Each image contributes one value, its median over quantizers, so an image counts once.
    """
    per_image = files.groupby(["encoding", "k", "image"])[["bits_per_pixel", "ratio_to_rgb24"]].median()
    out = []
    for (enc, k), g in per_image.groupby(level=[0, 1], sort=True):
        bpp, ratio = _spread(g["bits_per_pixel"]), _spread(g["ratio_to_rgb24"])
        out.append({"encoding": enc, "k": k, "n_images": bpp["n"],
                    **{f"bpp_{s}": bpp[s] for s in ("median", "min", "max")},
                    **{f"rgb24_{s}": ratio[s] for s in ("median", "min", "max")}})
    return pd.DataFrame(out)


def quality_summary(quant: pd.DataFrame) -> pd.DataFrame:
    """Per (quantizer, k): median PSNR and MSE across images, and how many were lossless."""
    g = quant.groupby(["quantizer", "k"], sort=True)
    return pd.DataFrame({
        "psnr_median": g["psnr"].median(),
        "mse_median": g["mse"].median(),
        "lossless": g["mse"].apply(lambda s: int((s == 0).sum())),
        "n_images": g["psnr"].count(),
    }).reset_index()


def runtime_summary(quant: pd.DataFrame) -> pd.DataFrame:
    """Per (quantizer, k): median and total seconds of fit + assign, one value per quantization."""
    g = quant.groupby(["quantizer", "k"], sort=True)["runtime_s"]
    return pd.DataFrame({"median_s": g.median(), "total_s": g.sum(), "n": g.count()}).reset_index()


def pareto_mask(bpp: np.ndarray, psnr: np.ndarray) -> np.ndarray:
    """True for points no other point beats: none has fewer (or equal) bits and more (or equal) PSNR
    with one of the two strictly better. Identical points are all kept."""
    bpp, psnr = np.asarray(bpp, float), np.asarray(psnr, float)
    keep = np.zeros(len(bpp), bool)
    for i in range(len(bpp)):
        dominated = (bpp <= bpp[i]) & (psnr >= psnr[i]) & ((bpp < bpp[i]) | (psnr > psnr[i]))
        keep[i] = not dominated.any()
    return keep


def pareto(files: pd.DataFrame) -> pd.DataFrame:
    """Per image, the files on the rate-distortion front (min bits per pixel for max PSNR)."""
    fronts = []
    for image, g in files.dropna(subset=["bits_per_pixel", "psnr"]).groupby("image", sort=True):
        front = g[pareto_mask(g["bits_per_pixel"].to_numpy(), g["psnr"].to_numpy())]
        fronts.append(front.sort_values(["bits_per_pixel", "psnr", "quantizer", "encoding"]))
    cols = ["image", "k", "quantizer", "encoding", "bits_per_pixel", "psnr"]
    return pd.concat(fronts, ignore_index=True)[cols] if fronts else pd.DataFrame(columns=cols)


def smallest_k(quant: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (image, quantizer): the smallest k whose PSNR reaches ``threshold`` (NaN when none does),
    and the best PSNR seen, so "none" can say how far it fell short."""
    out = []
    for (image, q), g in quant.groupby(["image", "quantizer"], sort=True):
        reach = g[g["psnr"] >= threshold].sort_values("k")
        best = g.sort_values(["psnr", "k"], ascending=[False, True]).iloc[0]
        out.append({"image": image, "quantizer": q,
                    "k": int(reach["k"].iloc[0]) if len(reach) else math.nan,
                    "psnr": float(reach["psnr"].iloc[0]) if len(reach) else math.nan,
                    "best_psnr": float(best["psnr"]), "best_k": int(best["k"]), "max_k": int(g["k"].max())})
    return pd.DataFrame(out)


def contradictions(files: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows against the usual story: a PNG-8 not smaller than rgb24, or larger than the original
    file; and (the question's own case) rgb24 larger than the original."""
    png8 = files[files["is_png8"]]
    return {
        "png8_vs_rgb24": png8[png8["ratio_to_rgb24"] >= 1],
        "png8_vs_original": png8[png8["bytes"] > png8["original_bytes"]],
        "rgb24_vs_original": files[(files["encoding"] == "rgb24") & (files["bytes"] > files["original_bytes"])],
    }


def raw_bytes(files: pd.DataFrame) -> pd.Series:
    """Bytes of the image data before deflate, from the PNG's own layout: each row is one filter
    byte plus width x channels x bit depth bits, rounded up to whole bytes."""
    channels = files["colour_type"].map(CHANNELS)
    row_bits = files["width"] * channels * files["bit_depth"]
    return files["height"] * (1 + np.ceil(row_bits / 8))


def raw_size(width, height, colour_type, bit_depth) -> float:
    """:func:`raw_bytes` of one file."""
    channels = CHANNELS.get(colour_type)
    if channels is None or bit_depth != bit_depth:
        return math.nan
    return float(height * (1 + math.ceil(width * channels * bit_depth / 8)))


def pair(files: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Encodings ``a`` and ``b`` of the same quantization side by side (columns suffixed _a, _b)."""
    cols = [*QUANT_KEYS, "bytes", "bits_per_pixel", "bit_depth", "palette_size"]
    left = files.loc[files["encoding"] == a, cols]
    right = files.loc[files["encoding"] == b, cols]
    return left.merge(right, on=QUANT_KEYS, suffixes=("_a", "_b"))


def environment(sweep_dir) -> dict | None:
    """``environment.json`` of the sweep, or None when absent or unreadable."""
    try:
        return json.loads((Path(sweep_dir) / "environment.json").read_text())
    except (OSError, ValueError):
        return None


class Context:
    """Everything a report section needs: the table at each level of detail, and the settings."""

    def __init__(self, table: pd.DataFrame, sweep_dir, threshold: float):
        self.table = table
        self.sweep_dir = Path(sweep_dir)
        self.threshold = float(threshold)
        self.ok = ok_rows(table)
        self.files = per_file(self.ok) if len(self.ok) else pd.DataFrame()
        self.quant = per_quantization(self.files) if len(self.ok) else pd.DataFrame()
        self.order = order_of(self.files) if len(self.ok) else {}
        self.env = environment(sweep_dir)

    def encodings(self, *names) -> list[str]:
        """The named encodings this sweep has, in that order."""
        return [n for n in names if n in self.order.get("encoding", [])]

    @property
    def png8(self) -> list[str]:
        """Palette (PNG-8) encodings of this sweep, in display order."""
        names = set(self.files.loc[self.files["is_png8"], "encoding"])
        return [e for e in self.order["encoding"] if e in names]
