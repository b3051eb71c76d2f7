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

from .. import columns
from ..encoders import LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG
from . import fmt
from .errors import ReportError, check_folder

FILE_KEYS = ["image", "k", "quantizer", "encoding"]
THRESHOLD_COLUMN = "psnr"  # the column ``report.psnr_threshold`` (dB) applies to: the recommendation's
QUANT_KEYS = ["image", "k", "quantizer"]
CHANNELS = {"grey": 1, "palette": 1, "grey+alpha": 2, "RGB": 3, "RGBA": 4}
# Numbers the report reads (median over seeds per file): every numeric column the registry declares
# for an image, a quantization or a file.
NUMERIC = [c.name for c in columns.COLUMNS if c.numeric and c.scope != "setting"]
# What the classes say they are (columns.py); the report is built on these, never on option names.
METADATA = columns.about_class()
TEXT = ["colour_type", "original_mode", "path", "source", "encoding_base", "quantizer_base",
        *(c for c in METADATA if c != "encoding_lossy")]


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


def param_text(value) -> str:
    """A parameter value as text, the same whatever its stored type: ``6``, ``6.0`` and ``"6"`` give
    ``6``; a missing value (the encoding has no such parameter, or null) gives ``""``."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


_param_text = param_text


def params(df: pd.DataFrame, group: str) -> list[str]:
    """The ``group.*`` parameter columns of a table (``group`` is ``quantizer`` or ``encoding``)."""
    return sorted(c for c in df.columns if c.startswith(f"{group}."))


def defaults(files: pd.DataFrame, column: str) -> pd.Series:
    """Per file, the default of the parameter ``column`` (``encoding.compress_level``) of the class that
    wrote it, as text (:func:`param_text`; "" when it has no such parameter), from the
    ``<group>_defaults`` column the runner records."""
    group, _, param = column.partition(".")
    source = f"{group}_defaults"
    if not param or source not in files.columns:
        return pd.Series("", index=files.index, dtype=object)
    parsed = {j: json.loads(j) if isinstance(j, str) and j else {} for j in files[source].unique()}
    return files[source].map(lambda j: param_text(parsed.get(j, {}).get(param)))


def reference_value(values, default: str = "") -> str:
    """The setting others are compared with: ``default`` (the class's default) when present among
    ``values``, else the most common value (ties: the first by name). ``values`` are texts as from
    :func:`param_text`."""
    values = [v for v in values if v != ""] or list(values)
    if not values:
        return ""
    if default in values:
        return default
    counts = pd.Series(values).value_counts()
    return sorted(counts.index[counts == counts.max()])[0]


def _reference_of(files: pd.DataFrame, column: str) -> str:
    """:func:`reference_value` of ``column`` over ``files`` (files of one class: one default)."""
    d = defaults(files, column)
    return reference_value(files[column].tolist(), d.mode().iloc[0] if len(d) else "")


def _as_bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) if value == value and value is not None else False


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
            text = ",".join(f"{c.split('.', 1)[1]}={param_text(row[c]) or 'null'}" for c in varying)
            labels.at[idx] = f"{name}({text})"
    df[group] = labels
    return df


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with ``status == "ok"`` and a known image and k; metric columns as floats."""
    ok = df[(df["status"] == "ok") & df["image"].notna() & df["k"].notna()].copy()
    missing = [c for c in METADATA if c not in ok.columns]
    if len(ok) and missing:
        raise ReportError(f"this table has no {missing[0]} column: it was written by an older kqbench; run the "
                          f"sweep again to report on it")
    for c in NUMERIC:
        if c in ok.columns:
            ok[c] = pd.to_numeric(ok[c], errors="coerce").astype(float)
    ok["k"] = ok["k"].astype(int)
    for c in ("image", "quantizer", "encoding"):
        ok[c] = ok[c].astype(str)
    ok["dither"] = ok["dither"].map(_as_bool) if "dither" in ok.columns else False
    # tables from before the alpha setting: every image was read as RGB, as alpha=drop does
    ok["alpha"] = ok["alpha"].fillna("drop").astype(str) if "alpha" in ok.columns else "drop"
    ok["has_alpha"] = ok["has_alpha"].map(_as_bool) if "has_alpha" in ok.columns else False
    ok["quantizer_base"], ok["encoding_base"] = ok["quantizer"], ok["encoding"]
    ok["lossy"] = ok["encoding_lossy"].map(_as_bool)
    ok = label_variants(label_variants(ok, "quantizer"), "encoding")
    if "seed" not in ok.columns:
        ok["seed"] = 0
    return ok.sort_values([*FILE_KEYS, "dither", "alpha", "seed"], kind="stable").reset_index(drop=True)


def per_file(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, k, quantizer, encoding, dither, alpha): numbers are the median over seeds.

    Parameter columns (``quantizer.*``, ``encoding.*``) are kept, as text (:func:`param_text`), so
    that the sections on each swept setting can match files that differ in one setting only.
    """
    agg = {c: "median" for c in NUMERIC if c in ok.columns}
    agg.update({c: "first" for c in TEXT if c in ok.columns})  # first non-null (e.g. a kept path)
    agg["lossy"] = "first"
    agg["has_alpha"] = "max"
    ok = ok.copy()
    for c in params(ok, "quantizer") + params(ok, "encoding"):
        ok[c] = ok[c].map(param_text)  # "" for a parameter the encoding lacks: never null, never skipped
        agg[c] = "first"
    agg["seed"] = "count"
    files = ok.groupby([*FILE_KEYS, "dither", "alpha"], sort=True).agg(agg).rename(columns={"seed": "n_seeds"}).reset_index()
    files["runtime_s"] = files.get("fit_s", np.nan) + files.get("assign_s", np.nan)
    files["is_png8"] = files["encoding_family"] == PALETTE_PNG
    return files


def per_quantization(files: pd.DataFrame) -> pd.DataFrame:
    """One row per (image, k, quantizer): the encodings of one quantization share its quality
    and timings, so they are counted once here (median across encodings, which are equal)."""
    quality = [c.name for c in columns.quality_measures()]
    cols = [c for c in (*quality, "fit_s", "assign_s", "runtime_s", "label_entropy_bpp", "palette_size", "pixels",
                        "original_bytes") if c in files.columns]
    return files.groupby(QUANT_KEYS, sort=True)[cols].median().reset_index()


def base_name(label: str) -> str:
    """``name(compress_level=1)`` -> ``name``."""
    return str(label).split("(", 1)[0]


def by_base(values, rank: dict) -> list:
    """Distinct labels grouped by their base name, bases in ``rank`` order (base name -> rank; the rest
    last), ties by name; within a base the plain name first, then its variants by name."""
    present = list(dict.fromkeys(v for v in values if v is not None and v == v))
    return sorted(present, key=lambda v: (rank.get(base_name(v), math.inf), base_name(v), v != base_name(v),
                                          str(v)))


def ranks(files: pd.DataFrame, group: str) -> dict:
    """Base name -> display rank of a quantizer or encoding option, from its ``<group>_rank`` column."""
    return files.groupby(f"{group}_base")[f"{group}_rank"].min().to_dict()


def order_of(files: pd.DataFrame) -> dict:
    """Display order of images, k, quantizers and encodings."""
    return {
        "image": ordered(files["image"]),
        "k": sorted(files["k"].unique().tolist()),
        "quantizer": by_base(files["quantizer"], ranks(files, "quantizer")),
        "encoding": by_base(files["encoding"], ranks(files, "encoding")),
    }


def _spread(values: pd.Series) -> dict:
    return {"median": float(values.median()), "min": float(values.min()), "max": float(values.max()),
            "n": int(values.notna().sum())}


_HUGE = 1e300  # stands for infinity while quantiles interpolate


def quantiles(values: pd.Series, by=None, q=(0.25, 0.75)) -> list:
    """The quantiles ``q`` of ``values`` (per group of ``by`` when given: Series indexed by group) where infinity
    (a lossless PSNR) stays infinite: interpolating towards it gives infinity, not NaN (∞ − ∞)."""
    finite = values.clip(-_HUGE, _HUGE)
    grouped = finite.groupby(by) if by is not None else finite
    out = [grouped.quantile(p) for p in q]
    return [np.where(np.abs(v) > _HUGE * 1e-100, np.sign(v) * np.inf, v) if np.ndim(v) == 0 else
            v.mask(v > _HUGE * 1e-100, np.inf).mask(v < -_HUGE * 1e-100, -np.inf) for v in out]


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
    """Per (quantizer, k): median PSNR, MSE (and mean CIEDE2000 when measured) across images, and
    how many were lossless."""
    g = quant.groupby(["quantizer", "k"], sort=True)
    out = {
        "psnr_median": g["psnr"].median(),
        "mse_median": g["mse"].median(),
        "lossless": g["mse"].apply(lambda s: int((s == 0).sum())),
        "n_images": g["psnr"].count(),
    }
    if "delta_e2000" in quant.columns:
        out["de_median"] = g["delta_e2000"].median()
    return pd.DataFrame(out).reset_index()


def runtime_summary(quant: pd.DataFrame) -> pd.DataFrame:
    """Per (quantizer, k): median and total seconds of fit + assign, one value per quantization."""
    g = quant.groupby(["quantizer", "k"], sort=True)["runtime_s"]
    return pd.DataFrame({"median_s": g.median(), "total_s": g.sum(), "n": g.count()}).reset_index()


def pareto_mask(bpp: np.ndarray, quality: np.ndarray, better: str = "higher") -> np.ndarray:
    """True for points no other point beats: none has fewer (or equal) bits and better (or equal) quality
    with one of the two strictly better; ``better`` is the quality's direction (``higher`` or ``lower``, the
    registry's). Identical points are all kept."""
    return pareto_masks(bpp, quality, np.zeros(len(np.asarray(bpp))), better)


def pareto_masks(bpp, quality, groups, better: str = "higher") -> np.ndarray:
    """:func:`pareto_mask` within each group (e.g. image) at once, without a loop over the groups: a point is
    on its group's front when its quality is the best at its bits per pixel and better than the best of
    every point with fewer bits."""
    q = np.asarray(quality, float) * (-1.0 if better == "lower" else 1.0)
    df = pd.DataFrame({"g": np.asarray(groups), "x": np.asarray(bpp, float), "q": q})
    best = df.groupby(["g", "x"], sort=True)["q"].max().reset_index()
    best["before"] = best.groupby("g")["q"].cummax().groupby(best["g"]).shift()  # best of strictly fewer bits
    df = df.merge(best.rename(columns={"q": "best"}), on=["g", "x"], how="left")
    return ((df["q"] == df["best"]) & ~(df["before"] >= df["q"])).to_numpy(bool)


def pareto(files: pd.DataFrame, measure: str = "psnr") -> pd.DataFrame:
    """Per image, the files on the rate-distortion front (fewest bits per pixel for the best ``measure``, a
    quality column of the registry)."""
    better = columns.column(measure).better
    f = files.dropna(subset=["bits_per_pixel", measure])
    front = f[pareto_masks(f["bits_per_pixel"], f[measure], f["image"], better)]
    cols = ["image", "k", "quantizer", "encoding", "bits_per_pixel", measure]
    return front.sort_values(["image", "bits_per_pixel", measure, "quantizer", "encoding"]).reset_index(drop=True)[cols]


def smallest_k(quant: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (image, quantizer): the smallest k whose PSNR reaches ``threshold`` (NaN when none does),
    and the best PSNR seen, so "none" can say how far it fell short."""
    keys = ["image", "quantizer"]
    cols = [*keys, "k", "psnr", "best_psnr", "best_k", "max_k"]
    if quant.empty:
        return pd.DataFrame(columns=cols)
    q = quant[[*keys, "k", "psnr"]]
    out = q.groupby(keys, sort=True)["k"].max().rename("max_k").to_frame()
    best = q.sort_values([*keys, "psnr", "k"], ascending=[True, True, False, True]).groupby(keys).head(1)
    out = out.join(best.set_index(keys).rename(columns={"psnr": "best_psnr", "k": "best_k"}))
    reach = q[q["psnr"] >= threshold].sort_values([*keys, "k"]).groupby(keys).head(1)
    out = out.join(reach.set_index(keys)).reset_index()
    return out[cols].astype({"best_k": int, "max_k": int, "k": float})


def contradictions(files: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows against the usual story: a PNG-8 not smaller than rgb24, or larger than the original
    file; and (the question's own case) rgb24 larger than the original."""
    png8 = files[files["is_png8"]]
    truecolour = files[files["encoding_family"] == TRUECOLOUR_PNG]
    return {
        "png8_vs_rgb24": png8[png8["ratio_to_rgb24"] >= 1],
        "png8_vs_original": png8[png8["bytes"] > png8["original_bytes"]],
        "rgb24_vs_original": truecolour[truecolour["bytes"] > truecolour["original_bytes"]],
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


def _select(files: pd.DataFrame, name: str) -> pd.DataFrame:
    """Files of encoding ``name``: a label, or a base name (then every variant of it)."""
    base = files["encoding_base"] if "encoding_base" in files.columns else files["encoding"]
    return files[(files["encoding"] == name) | (base == name)]


def _has(files: pd.DataFrame, column: str) -> bool:
    """True when some file sets ``column`` (a parameter the encoding has)."""
    return column in files.columns and bool((files[column] != "").any())


def _at_reference(files: pd.DataFrame, settings: list[str], but: list[str]) -> pd.DataFrame:
    """The files at the reference value of each setting in ``settings`` except those in ``but``."""
    for c in settings:
        if c not in but and _has(files, c):
            files = files[files[c] == _reference_of(files, c)]
    return files


def pair(files: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Encodings ``a`` and ``b`` of the same quantization side by side (columns suffixed _a, _b).

    ``a`` and ``b`` are labels or base names. Files are matched on the settings both encodings have and
    sweep (e.g. ``compress_level``, ``order``); any other setting that varies is held at its reference value
    (:func:`reference_value`), e.g. pypng's ``bitdepth`` at 8. A setting each side has at one value (its
    own default, say zlib level 9 against 6) is not matched on.
    """
    left, right = _select(files, a), _select(files, b)
    keys = [*QUANT_KEYS, *(c for c in ("dither", "alpha") if c in files.columns)]
    settings = params(files, "encoding")
    shared = [c for c in settings if _has(left, c) and _has(right, c)
              and left[c].nunique() > 1 and right[c].nunique() > 1]
    left, right = _at_reference(left, settings, shared), _at_reference(right, settings, shared)
    cols = [*keys, *shared, "bytes", "bits_per_pixel", "bit_depth", "palette_size"]
    return left[cols].merge(right[cols], on=keys + shared, suffixes=("_a", "_b"))


def environment(sweep_dir) -> dict | None:
    """``environment.json`` of the sweep, or None when absent or unreadable."""
    try:
        return json.loads((Path(sweep_dir) / "environment.json").read_text())
    except (OSError, ValueError):
        return None


def core(all_files: pd.DataFrame) -> pd.DataFrame:
    """The files the core sections compare: quantized pixels stored losslessly, undithered (unless
    every file is dithered), with alpha kept (unless every file dropped it), without the lossy
    comparators."""
    f = all_files[~all_files["lossy"].astype(bool)]
    if bool((~f["dither"]).any()):
        f = f[~f["dither"]]
    if bool((f["alpha"] == "keep").any()):
        f = f[f["alpha"] == "keep"]
    return f.reset_index(drop=True)


def reference_variants(files: pd.DataFrame) -> dict[str, str]:
    """Per base encoding, the label of its files at the reference settings (:func:`reference_value`
    of each setting that varies), or its most common label when no file has all of them."""
    refs = {}
    for base, g in files.groupby("encoding_base", sort=True):
        sel = g
        for c in params(g, "encoding"):
            if g[c].nunique() > 1:
                sel = sel[sel[c] == _reference_of(g, c)]
        pool = sel if len(sel) else g
        counts = pool["encoding"].value_counts()
        refs[base] = sorted(counts.index[counts == counts.max()])[0]
    return refs


def defaults_first(files: pd.DataFrame, labels: list[str]) -> list[str]:
    """The quantizer names (in display order) with, within each base name, the variant whose parameters are
    the class's defaults moved first: the reference a quantizer's other settings are compared with."""
    params_ = params(files, "quantizer")
    if not params_:
        return labels

    def at_defaults(label) -> bool:
        rows = files[files["quantizer"] == label]
        if rows.empty:
            return False
        return all(str(rows[c].iloc[0]) == str(defaults(rows.iloc[:1], c).iloc[0]) for c in params_
                   if defaults(rows.iloc[:1], c).iloc[0] != "")

    out = list(labels)
    for base in dict.fromkeys(base_name(v) for v in labels):
        group = [v for v in out if base_name(v) == base]
        first = next((v for v in group if at_defaults(v)), None)
        if first is not None and group[0] != first:
            i = out.index(group[0])
            out.remove(first)
            out.insert(i, first)
    return out


def original_kind(source, mode) -> str:
    """What an input file is, in words a ratio to it needs: ``JPEG``, ``palette PNG``, ``truecolour PNG``,
    ``greyscale PNG``, ``generated`` (no file: its original is its lossless PNG), ``WebP``, ...; from the
    ``source`` and ``original_mode`` columns."""
    if not isinstance(source, str) or not source:
        return "unknown"
    if source.startswith("generated:"):
        return "generated"
    suffix = Path(source).suffix.lower().lstrip(".")
    if suffix in ("jpg", "jpeg"):
        return "JPEG"
    if suffix == "png":
        if mode in ("P", "PA"):
            return "palette PNG"
        if mode in ("L", "LA", "I;16", "I", "1"):
            return "greyscale PNG"
        return "truecolour PNG"
    return {"webp": "WebP", "gif": "GIF", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}.get(suffix, suffix.upper()
                                                                                          or "unknown")


class Measure:
    """The quality column the report's quality section, figures and rate–distortion front use
    (``report.quality``): its name, unit and direction come from the registry (``better``).

    Raises :class:`ReportError` when ``name`` is not a quality column with a direction, or when the table
    (given as its column names) has no value of it.
    """

    def __init__(self, name: str, table_columns=None):
        col = columns.column(name)
        choices = ", ".join(c.name for c in columns.quality_measures())
        if col is None or col.better is None:
            raise ReportError(f"quality {name!r} is not a quality column with a direction; choose from {choices}")
        if table_columns is not None and name not in table_columns:
            hint = f" (run the sweep with metrics=[{name}])" if col.optional else ""
            raise ReportError(f"quality {name!r}: this sweep's table has no {name} column{hint}")
        self.name, self.better, self.unit = name, col.better, col.unit
        # an acronym column (psnr, mse, dssim) is written in capitals, a named one (ssimulacra2) as is
        self.shown = name.upper() if name.isalpha() and len(name) <= 5 else name
        self.higher = col.better == "higher"

    @property
    def words(self) -> str:
        """``PSNR (dB, higher is better)``: the name, unit and direction, for a caption or an axis."""
        unit = f"{self.unit}, " if self.unit else ""
        return f"{self.shown} ({unit}{self.better} is better)"

    def value(self, x) -> str:
        """A value as the report prints it: 1 decimal in dB (``∞`` when lossless), else 3 significant digits."""
        if self.unit == "dB":
            return fmt.db(x)
        return "–" if x is None or x != x else fmt.seconds(x)

    def diff(self, x) -> str:
        """A difference, signed: 1 decimal in dB, else 3 significant digits."""
        if self.unit == "dB" or x is None or x != x or math.isinf(x) or x == 0:
            return fmt.ddb(x)
        return ("+" if x > 0 else "-") + fmt.seconds(abs(x))


# Image groups: what a sweep of many images is summarised by, derived from the table's image columns.
MANY_IMAGES = 12  # more images than this: figures and lists per image group, not per image
SIZE_BINS = (10_000, 100_000, 1_000_000)  # pixels: below 0.01 MP, 0.01–0.1 MP, 0.1–1 MP, 1 MP and more
FEW_COLOURS = 256  # an image with at most this many colours is its own group: a palette holds it exactly
FEW_NAMED = 3  # in a sweep of many images, a sentence names at most this many images


def _size_bin(pixels) -> tuple[int, str]:
    edges = [e / 1e6 for e in SIZE_BINS]
    i = int(np.searchsorted(SIZE_BINS, pixels, side="right")) if pixels == pixels else len(SIZE_BINS)
    if i == 0:
        return 0, f"< {edges[0]:g} MP"
    if i == len(SIZE_BINS):
        return i, f"≥ {edges[-1]:g} MP"
    return i, f"{edges[i - 1]:g}–{edges[i]:g} MP"


def image_groups(all_files: pd.DataFrame, kind) -> dict[str, tuple]:
    """Per image, ``(sort key, group label)``: the kind of its original (``kind(image)``), with transparency
    or not, and its size in megapixels, or ``≤ 256 colours`` for an image a 256-colour palette holds exactly
    (``unique_colours``): e.g. ``JPEG, 0.01–0.1 MP``, ``truecolour PNG with alpha, < 0.01 MP``."""
    first = all_files.groupby("image", sort=True).agg(
        pixels=("pixels", "first"), has_alpha=("has_alpha", "max"),
        colours=("unique_colours", "first") if "unique_colours" in all_files.columns else ("pixels", "first"))
    if "unique_colours" not in all_files.columns:
        first["colours"] = math.inf
    out = {}
    for image, r in first.iterrows():
        what = kind(image) + (" with alpha" if bool(r["has_alpha"]) else "")
        if r["colours"] == r["colours"] and r["colours"] <= FEW_COLOURS:
            size = (-1, f"≤ {FEW_COLOURS} colours")
        else:
            size = _size_bin(r["pixels"])
        out[image] = ((what, size[0]), f"{what}, {size[1]}")
    return out


def at_reference(files: pd.DataFrame, refs: dict[str, str]) -> pd.DataFrame:
    """The files of each encoding at its reference settings (``refs``: base name -> label), named by their
    base name; the label they had is kept in ``encoding_label``."""
    if files.empty:
        return files
    f = files[files["encoding"].isin(set(refs.values()))].copy()
    f["encoding_label"] = f["encoding"]
    f["encoding"] = f["encoding_base"]
    return f.reset_index(drop=True)


class Context:
    """Everything a report section needs: the table at each level of detail, and the settings.

    ``all_files``: every file (dithered, lossy comparators, every setting); ``variants``: the core files
    (:func:`core`) with every encoding setting, for the sections on each swept setting; ``files``: the
    core files of each encoding at its reference settings, named by the encoding's base name, which the
    core sections (answer, sizes, quality, rate-distortion, time, contradictions) and figures compare.
    """

    def __init__(self, table: pd.DataFrame, sweep_dir, threshold: float, quality: str = "psnr"):
        self.table = table
        self.sweep_dir = Path(sweep_dir)
        self.threshold = float(threshold)
        self.measure = Measure(quality, table.columns)
        self.ok = ok_rows(table)
        self.all_files = per_file(self.ok) if len(self.ok) else pd.DataFrame()
        self.variants = core(self.all_files) if len(self.ok) else pd.DataFrame()
        self.variant_refs = reference_variants(self.variants) if len(self.variants) else {}
        self.files = at_reference(self.variants, self.variant_refs)
        self.quant = per_quantization(self.files) if len(self.files) else pd.DataFrame()
        self.order = order_of(self.files) if len(self.files) else {}
        if self.order:
            self.order["quantizer"] = defaults_first(self.files, self.order["quantizer"])
        self.env = environment(sweep_dir)
        self.refs = {b: b for b in self.variant_refs}
        self.originals = ({img: original_kind(g["source"].iloc[0], g["original_mode"].iloc[0]
                                              if "original_mode" in g.columns else None)
                           for img, g in self.all_files.groupby("image", sort=True)}
                          if len(self.all_files) and "source" in self.all_files.columns else {})
        groups = image_groups(self.all_files, self.kind) if len(self.all_files) else {}
        self.group_of = {image: label for image, (_, label) in groups.items()}
        self.group_order = [label for _, label in sorted(set(groups.values()))]

    @property
    def grouped(self) -> bool:
        """More than :data:`MANY_IMAGES` images: figures, lists and the per-image HTML go by image group."""
        return len(self.order.get("image", ())) > MANY_IMAGES

    def named(self, n: int) -> bool:
        """Whether a sentence names ``n`` images one by one (else it counts them by group)."""
        return n <= (FEW_NAMED if self.grouped else MANY_IMAGES)

    def images(self, names, counted: bool = True, groups: bool = True) -> str:
        """Images named in a sentence: their names, or past :data:`MANY_IMAGES` (past :data:`FEW_NAMED` in a
        sweep of many images), their count by image group (the three largest groups): ``120 images (80 JPEG,
        < 0.01 MP; 40 ...)``, without ``120 images`` and the brackets when not ``counted`` (the sentence has
        said how many), only ``120 images`` without ``groups`` (for lists *By image group* breaks down)."""
        names = list(dict.fromkeys(names))
        if self.named(len(names)):
            return fmt.listing(names)
        if not groups:
            return fmt.count(len(names), "image")
        counts = pd.Series([self.group_of.get(n, "unknown") for n in names]).value_counts()
        top = "; ".join(f"{int(n)} {g}" for g, n in counts.head(3).items())
        if len(counts) > 3:
            top += f"; {len(counts) - 3} more groups"
        return f"{len(names)} images ({top})" if counted else top

    @property
    def baseline(self) -> str | None:
        """The quantizer others are compared with: the one of lowest ``quantizer_rank`` (the question's
        k-means first), or None."""
        return self.order["quantizer"][0] if self.order else None

    def kind(self, image: str) -> str:
        """:func:`original_kind` of ``image``'s input file."""
        return self.originals.get(image, "unknown")

    @property
    def excluded(self) -> dict:
        """Ok rows left out of the core sections: ``{"dithered": n, "lossy": n, "alpha_dropped": n}``
        (table rows; as in :func:`core`)."""
        if not len(self.ok):
            return {"dithered": 0, "lossy": 0, "alpha_dropped": 0}
        quantized = self.ok[~self.ok["lossy"]]
        dithered = int(quantized["dither"].sum()) if bool((~quantized["dither"]).any()) else 0
        if bool((~quantized["dither"]).any()):
            quantized = quantized[~quantized["dither"]]
        dropped = quantized["alpha"] == "drop"
        return {"dithered": dithered, "lossy": int(self.ok["lossy"].sum()),
                "alpha_dropped": int(dropped.sum()) if bool((~dropped).any()) else 0}

    def family_refs(self, family: str) -> list[str]:
        """The reference variant (default settings) of each encoding of ``family``, in display order."""
        if not len(self.files):
            return []
        names = set(self.files.loc[self.files["encoding_family"] == family, "encoding"])
        return [e for e in self.order["encoding"] if e in names]

    def ref(self, name: str) -> str | None:
        """The reference variant (default settings) of encoding ``name``, or None if absent."""
        return self.refs.get(name, name if name in self.order.get("encoding", []) else None)

    @property
    def png8_refs(self) -> list[str]:
        """The reference variant of each PNG-8 encoding, in display order."""
        return self.family_refs(PALETTE_PNG)

    @property
    def png8(self) -> list[str]:
        """Palette (PNG-8) encodings of this sweep, in display order."""
        names = set(self.files.loc[self.files["is_png8"], "encoding"])
        return [e for e in self.order["encoding"] if e in names]

    @property
    def truecolour(self) -> str | None:
        """The truecolour PNG encoding at its reference settings (the question's 24-bit file), if any."""
        refs = self.family_refs(TRUECOLOUR_PNG)
        return refs[0] if refs else None

    @property
    def label_image(self) -> str | None:
        """The encoding that saves the label array as an image, at its reference settings, if any."""
        refs = self.family_refs(LABEL_PNG)
        return refs[0] if refs else None

    def packing(self) -> tuple[str, str] | None:
        """Two PNG-8 encodings (reference variants) of which the first writes fewer than 8 bits per index
        when the palette allows it and the second always 8: the bit-depth comparison, or None."""
        f = self.files[self.files["encoding"].isin(self.png8_refs)]
        small = f[f["palette_size"] <= 16]
        packs = [e for e in self.png8_refs if (small.loc[small["encoding"] == e, "bit_depth"] < 8).any()]
        eight = [e for e in self.png8_refs if len(small[small["encoding"] == e])
                 and (small.loc[small["encoding"] == e, "bit_depth"] == 8).all()]
        return (packs[0], eight[0]) if packs and eight else None
