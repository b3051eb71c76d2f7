"""The report's figures, chosen for the sweep (:func:`plan`) and drawn with matplotlib from the tidy tables
of :mod:`.data`.

A figure is drawn only when it has something to compare (never a single point): file size against k when
the sweep has several k, else a KB bar chart with the original; quality against the baseline quantizer
(ΔPSNR) when there are several quantizers, else PSNR against k; rate–distortion when an image has more than
one quality level; quantizing time when there are several quantizers; encode time when there are several
encodings or encoder settings; and the user's own sizes beside the reproduction for a question. Every
figure is one PNG under ``plots/`` (the HTML report embeds them), closed at once.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    # Headless by default; a session that already chose a backend (e.g. a notebook) keeps it,
    # since every figure here is saved and closed, never shown.
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from . import data  # noqa: E402

DPI = 90
PSNR_LABEL = "PSNR (dB, higher is closer to the original)"
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd"]
ORIGINAL = "0.35"  # grey of the original file's line or bar


def colours(names: list) -> dict:
    """A fixed colour per name, in display order."""
    return {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)}


def save(fig, plots_dir: Path, name: str) -> Path:
    """Write ``name.png`` and return its path: drawn once (the layout is fixed in inches, no tight bounding box)
    and stored as a palette PNG, 256 colours without dithering: a chart's flat colours and their
    antialiased edges, at a quarter of the bytes of the RGBA PNG (the contact sheet, which shows
    quantization itself, is not drawn here and stays truecolour)."""
    from PIL import Image

    plots_dir.mkdir(parents=True, exist_ok=True)
    png = plots_dir / f"{name}.png"
    fig.set_dpi(DPI)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(256, method=Image.Quantize.FASTOCTREE,
                                                                dither=Image.Dither.NONE)
    image.save(png, format="PNG", compress_level=9)
    return png


def lossless_psnr(psnr: pd.Series) -> float:
    """Where to draw PSNR = inf (lossless): a little above the best finite value."""
    finite = psnr[np.isfinite(psnr)]
    return float(math.ceil(finite.max()) + 3) if len(finite) else 60.0


def _log_axis(ax, axis: str = "y") -> None:
    """Log scale with plain tick labels at 1, 2 and 5 times powers of ten (0.1, 0.2, 0.5, 1, ...)."""
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_minor_locator(ticker.NullLocator())
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _k_axis(ax, ks) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    ax.set_xlim(min(ks) / 2 ** 0.4, max(ks) * 2 ** 0.4)


def _panels(n: int, width: float = 3.0, height: float = 2.2, sharex=False, sharey=False, legend: float = 1.9,
            left: float = 0.7, cols: int = 3, title: bool = True):
    """A grid of ``n`` panels of ``width`` x ``height`` inches, ``cols`` per row, with fixed margins in inches
    (``legend``: room on the right for the legend); unused panels hidden."""
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    gap_w, gap_h, bottom, top = 0.6, 0.75, 0.55, 0.6 if title else 0.35
    fig_w = left + cols * width + (cols - 1) * gap_w + legend + 0.15
    fig_h = top + rows * height + (rows - 1) * gap_h + bottom
    fig, axes = plt.subplots(rows, cols, figsize=(fig_w, fig_h), squeeze=False, sharex=sharex, sharey=sharey)
    fig.subplots_adjust(left=left / fig_w, right=1 - (legend + 0.15) / fig_w, bottom=bottom / fig_h,
                        top=1 - top / fig_h, wspace=gap_w / width, hspace=gap_h / height)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legend(fig, handles, labels, title=None) -> None:
    """The legend in the room :func:`_panels` left on the right."""
    right = fig.subplotpars.right
    fig.legend(handles, labels, title=title, loc="center left", bbox_to_anchor=(right + 0.1 / fig.get_figwidth(), 0.5),
               frameon=False, fontsize=8, title_fontsize=8)


def _finish(fig, title: str) -> None:
    fig.suptitle(title, fontsize=10, y=1 - 0.12 / fig.get_figheight(), va="top")


MANY_POINTS = 40  # more values than this in one place: a quartile box, not a dot each


def _spread_marks(ax, at: float, values: pd.Series, colour, width: float, horizontal: bool = False) -> None:
    """The values at position ``at``: a dot each (spread over ``width``) when few, else their quartile box;
    and a bar at the median. ``horizontal``: values along x (one row per name)."""
    v = values.to_numpy(float)
    v = v[np.isfinite(v)]
    if not len(v):
        return
    if len(v) <= MANY_POINTS:
        jitter = np.linspace(-width * 0.25, width * 0.25, len(v)) if len(v) > 1 else np.zeros(1)
        xs, ys = (v, at + jitter) if horizontal else (at + jitter, v)
        ax.scatter(xs, ys, s=10, color=colour, alpha=0.5, lw=0)
    else:
        q1, q3 = np.percentile(v, [25, 75])
        if horizontal:
            ax.fill_betweenx([at - width * 0.3, at + width * 0.3], q1, q3, color=colour, alpha=0.3, lw=0)
        else:
            ax.fill_between([at - width * 0.3, at + width * 0.3], q1, q3, color=colour, alpha=0.3, lw=0)
    med = float(np.median(v))
    (ax.vlines if horizontal else ax.hlines)(med, at - width * 0.4, at + width * 0.4, color=colour, lw=2.2)


def _marks_words(counts) -> str:
    """What :func:`_spread_marks` drew, for a title: dots, or quartile boxes when some place had many values."""
    return "box: quartiles" if max(counts, default=0) > MANY_POINTS else "dots"


def _quality_axis(ax, measure) -> None:
    """Better quality upwards whatever the column's direction (the registry's ``better``), the axis label
    saying so when it is reversed."""
    if not measure.higher:
        ax.invert_yaxis()
        ax.set_ylabel(ax.get_ylabel() + "\n(lower is better: axis reversed)", fontsize=8)


def _panels_of(order: dict, groups: dict | None, group_order: list | None) -> list[tuple[str, list]]:
    """The figure's panels: one per image, or per image group when ``groups`` (image -> group) is given:
    ``[(title, images), ...]``."""
    if not groups:
        return [(image, [image]) for image in order["image"]]
    members: dict = {}
    for image in order["image"]:
        members.setdefault(groups[image], []).append(image)
    return [(f"{g} ({len(members[g])} image{'s' if len(members[g]) > 1 else ''})", members[g])
            for g in group_order if g in members]


# --- file size --------------------------------------------------------------------------------------------

def size_vs_k(files: pd.DataFrame, order: dict, plots_dir: Path, groups: dict | None = None,
              group_order: list | None = None) -> Path:
    """KB vs k per encoding, one panel per image (each its own scale); the dashed line is the original. With
    ``groups``, one panel per image group and bits per pixel (images differ in size): the median over the
    group's files, a band from the first to the third quartile, the originals' median dashed."""
    enc = order["encoding"]
    col = colours(enc)
    panels = _panels_of(order, groups, group_order)
    fig, axes = _panels(len(panels))
    several_q = len(order["quantizer"]) > 1
    value, unit = ("bits_per_pixel", 1.0) if groups else ("bytes", 1000.0)
    for ax, (title, images) in zip(axes, panels):
        sub = files[files["image"].isin(images)]
        originals = sub.groupby("image")[["original_bytes", "pixels"]].first()
        original = float((8 * originals["original_bytes"] / originals["pixels"]).median()) if groups else \
            float(originals["original_bytes"].iloc[0]) / 1000
        values = [original]
        for e in enc:
            v = sub[sub["encoding"] == e].groupby("k")[value]
            if not len(sub[sub["encoding"] == e]):
                continue
            if groups:
                g = pd.DataFrame({"median": v.median(), "min": v.quantile(0.25), "max": v.quantile(0.75)})
            else:
                g = v.agg(["median", "min", "max"]) / unit
            ax.plot(g.index, g["median"], marker="o", ms=4, lw=1.4, color=col[e])
            if several_q or groups:
                ax.fill_between(g.index, g["min"], g["max"], color=col[e], alpha=0.15, lw=0)
            values += g["max"].tolist() + g["min"].tolist()
        ax.axhline(original, ls="--", lw=1, color=ORIGINAL, zorder=0)
        _k_axis(ax, order["k"])
        if max(values) / max(min(values), 1e-9) > 8:
            _log_axis(ax)
        ax.set_title(title if groups else f"{title} (original {original:.1f} KB)", fontsize=9)
        ax.set_xlabel("k (palette colours)", fontsize=8)
        ax.set_ylabel("bits per pixel" if groups else "file size (KB)", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color=col[e], marker="o", ms=4) for e in enc]
    _legend(fig, handles + [Line2D([], [], ls="--", color=ORIGINAL)],
            enc + ["original files (median)" if groups else "original file"], "encoding")
    _finish(fig, "File size vs k per image group (line: median over the files, band: quartiles)" if groups else
            "File size vs k" + (" (line: median over quantizers, band: their range)" if several_q else ""))
    return save(fig, plots_dir, "size_vs_k")


def size_bars(files: pd.DataFrame, order: dict, plots_dir: Path, groups: dict | None = None,
              group_order: list | None = None) -> Path:
    """One k: KB per encoding beside the original file, one panel per image, each bar labelled (with
    ``groups``: one panel per image group, the median bits per pixel of its files)."""
    enc = order["encoding"]
    col = colours(enc)
    panels = _panels_of(order, groups, group_order)
    fig, axes = _panels(len(panels), width=2.6, height=0.32 * (len(enc) + 1) + 0.2, legend=0.2, left=1.1)
    several_q = len(order["quantizer"]) > 1
    for ax, (title, images) in zip(axes, panels):
        sub = files[files["image"].isin(images)]
        names = ["original"] + [e for e in enc if (sub["encoding"] == e).any()]
        if groups:
            originals = sub.groupby("image")[["original_bytes", "pixels"]].first()
            values = [float((8 * originals["original_bytes"] / originals["pixels"]).median())] + \
                [float(sub.loc[sub["encoding"] == e, "bits_per_pixel"].median()) for e in names[1:]]
        else:
            values = [float(sub["original_bytes"].iloc[0]) / 1000] + [
                float(sub.loc[sub["encoding"] == e, "bytes"].median()) / 1000 for e in names[1:]]
        y = np.arange(len(names))[::-1]
        ax.barh(y, values, color=[ORIGINAL] + [col[e] for e in names[1:]], height=0.7)
        for yi, v in zip(y, values):
            ax.text(v, yi, f" {v:.1f}" if not groups else f" {v:.2f}", va="center", fontsize=7)
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlim(0, max(values) * 1.3)
        ax.set_xlabel("bits per pixel (median)" if groups else "KB (1000 bytes)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(title, fontsize=9)
    k = order["k"][0]
    _finish(fig, f"File size at k={k}" + (" (median over quantizers)" if several_q and not groups else ""))
    return save(fig, plots_dir, "size_kb")


# --- quality ---------------------------------------------------------------------------------------------

def quality_delta(delta: pd.DataFrame, order: dict, plots_dir: Path, baseline: str, measure) -> Path:
    """``measure`` of each quantizer minus the baseline's on the same image and k (column ``d``): a dot per
    image (a quartile box when there are many), a bar at the median, one group per k; better is up."""
    others = [q for q in order["quantizer"] if q != baseline]
    col = colours(others)
    ks = order["k"]
    fig, (ax,) = _panels(1, width=max(4.5, 0.45 * len(others) * len(ks)), height=2.6)
    width = 0.8 / max(len(others), 1)
    finite = delta[np.isfinite(delta["d"])]
    counts = []
    for i, q in enumerate(others):
        for j, k in enumerate(ks):
            v = finite.loc[(finite["quantizer"] == q) & (finite["k"] == k), "d"]
            counts.append(len(v))
            _spread_marks(ax, j - 0.4 + width * (i + 0.5), v, col[q], width)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
    unit = f" ({measure.unit})" if measure.unit else ""
    ax.set_ylabel(f"{measure.shown} minus {baseline}'s{unit}", fontsize=8)
    _quality_axis(ax, measure)
    ax.tick_params(labelsize=8)
    handles = [Line2D([], [], color=col[q], marker="o", lw=2.2) for q in others]
    _legend(fig, handles, others, "quantizer")
    _finish(fig, f"{measure.shown} against {baseline}, the baseline ({_marks_words(counts)} over images, bar: "
            "median; up is better)")
    return save(fig, plots_dir, "quality_delta")


def quality_vs_k(quant: pd.DataFrame, order: dict, plots_dir: Path, threshold: float | None, measure,
                 groups: dict | None = None, group_order: list | None = None) -> Path:
    """One quantizer, several k: ``measure`` vs k, a line per image (per image group with ``groups``: the
    median, a band over the quartiles), and the threshold when given (a PSNR in dB)."""
    m = measure.name
    panels = _panels_of(order, groups, group_order)
    names = [title for title, _ in panels]
    col = colours(names)
    cap = lossless_psnr(quant[m])
    fig, (ax,) = _panels(1, width=4.5, height=2.6, legend=2.6 if groups else 1.9)
    for title, images in panels:
        values = quant[quant["image"].isin(images)]
        v = values[m].where(np.isfinite(values[m]), cap)
        g = v.groupby(values["k"]).median()
        ax.plot(g.index, g, marker="o", ms=4, color=col[title])
        if groups:
            lo, hi = data.quantiles(v, values["k"])
            ax.fill_between(g.index, lo, hi, color=col[title], alpha=0.15, lw=0)
    handles = [Line2D([], [], color=col[n], marker="o", ms=4) for n in names]
    labels = list(names)
    if threshold is not None:
        ax.axhline(threshold, ls="--", lw=1, color="tab:red")
        handles.append(Line2D([], [], ls="--", color="tab:red"))
        labels.append(f"threshold {threshold:g} {measure.unit}".strip())
    _k_axis(ax, order["k"])
    ax.set_xlabel("k (palette colours)", fontsize=8)
    ax.set_ylabel(measure.words, fontsize=8)
    _quality_axis(ax, measure)
    if (~np.isfinite(quant[m])).any():
        labels.append(f"(lossless: drawn at {cap:g} {measure.unit})")
        handles.append(Line2D([], [], lw=0))
    _legend(fig, handles, labels, "image group" if groups else "image")
    _finish(fig, f"Quality vs k ({order['quantizer'][0]}" + ("; line: median, band: quartiles)" if groups else ")"))
    return save(fig, plots_dir, "quality_vs_k")


MARKERS = "os^Dvp*"


def rd_points(files: pd.DataFrame, order: dict, measure, groups: dict | None = None,
              group_order: list | None = None) -> pd.DataFrame:
    """The points of the rate–distortion figure: each file of each image (``panel`` = image); with ``groups``,
    per image group and (encoding, quantizer, k), the median bits per pixel and median ``measure`` over the
    group's images, with their quartiles (``x_lo``, ``x_hi``, ``y_lo``, ``y_hi``)."""
    m = measure.name
    df = files.dropna(subset=["bits_per_pixel", m])
    if not groups:
        return df.assign(panel=df["image"], x=df["bits_per_pixel"], y=df[m])[
            ["panel", "encoding", "quantizer", "k", "x", "y"]]
    df = df.assign(panel=df["image"].map(groups))
    keys = ["panel", "encoding", "quantizer", "k"]
    g = df.groupby(keys, sort=False)
    by = [df[c] for c in keys]
    x_lo, x_hi = data.quantiles(df["bits_per_pixel"], by)
    y_lo, y_hi = data.quantiles(df[m], by)
    out = pd.DataFrame({"x": g["bits_per_pixel"].median(), "y": g[m].median(), "x_lo": x_lo, "x_hi": x_hi,
                        "y_lo": y_lo, "y_hi": y_hi, "images": g["image"].nunique()})
    return out.reset_index()


def rate_distortion(files: pd.DataFrame, order: dict, plots_dir: Path, measure, groups: dict | None = None,
                    group_order: list | None = None) -> Path:
    """``measure`` vs bits per pixel, one panel per image on one shared log x axis, colour = encoding, with
    each image's Pareto front as a step line; better quality is up whatever the column's direction. With
    ``groups``: one panel per image group, a point per (encoding, quantizer, k) at the medians over the group's
    images, its whiskers the quartiles, marker = quantizer, and the front of those medians."""
    enc = order["encoding"]
    col = colours(enc)
    pts = rd_points(files, order, measure, groups, group_order)
    cap = lossless_psnr(pts["y"])
    pts = pts.assign(y_plot=pts["y"].where(np.isfinite(pts["y"]), cap))
    marker = {q: MARKERS[i % len(MARKERS)] for i, q in enumerate(order["quantizer"])}
    panels = _panels_of(order, groups, group_order)
    fig, axes = _panels(len(panels), sharex=True)
    for ax, (title, images) in zip(axes, panels):
        sub = pts[pts["panel"] == (groups[images[0]] if groups else images[0])]
        for e in enc:
            g = sub[sub["encoding"] == e]
            if groups:
                for q in order["quantizer"]:
                    h = g[g["quantizer"] == q]
                    if h.empty:
                        continue
                    ax.errorbar(h["x"], h["y_plot"], xerr=[h["x"] - h["x_lo"], h["x_hi"] - h["x"]],
                                yerr=[(h["y_plot"] - h["y_lo"].clip(upper=cap)).clip(lower=0),
                                      (h["y_hi"].clip(upper=cap) - h["y_plot"]).clip(lower=0)],
                                fmt=marker[q], ms=4, color=col[e], alpha=0.8, lw=0.8, capsize=0)
            else:
                ax.scatter(g["x"], g["y_plot"], s=14, color=col[e], alpha=0.75, lw=0)
        front = sub[data.pareto_mask(sub["x"], sub["y_plot"], measure.better)].sort_values("x")
        ax.plot(front["x"], front["y_plot"], drawstyle="steps-post", color="black", lw=1, zorder=0)
        if (~np.isfinite(sub["y"])).any():
            ax.axhline(cap, ls=":", lw=1, color="0.4", zorder=0)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("bits per pixel (log scale)", fontsize=8)
        ax.set_ylabel(f"{measure.shown}" + (f" ({measure.unit})" if measure.unit else ""), fontsize=8)
        _quality_axis(ax, measure)
    _log_axis(axes[0], "x")
    handles = [Line2D([], [], color=col[e], marker="o", lw=0, ms=5) for e in enc]
    labels = list(enc)
    if groups:
        handles += [Line2D([], [], color="0.3", marker=marker[q], lw=0, ms=5) for q in order["quantizer"]]
        labels += list(order["quantizer"])
    handles.append(Line2D([], [], color="black", lw=1, drawstyle="steps-post"))
    labels.append("Pareto front")
    if (~np.isfinite(pts["y"])).any():
        handles.append(Line2D([], [], ls=":", color="0.4"))
        labels.append(f"lossless (drawn at {cap:g} {measure.unit})".replace(" )", ")"))
    _legend(fig, handles, labels, "encoding" + (", quantizer" if groups else ""))
    _finish(fig, f"Rate–distortion on {measure.shown}: up and to the left is better"
            + (" (medians per image group, whiskers: quartiles)" if groups else ""))
    return save(fig, plots_dir, "rate_distortion")


# --- time ----------------------------------------------------------------------------------------------------

def runtime_vs_k(quant: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """Fit + assign seconds vs k per quantizer: a dot per image (a band over the quartiles when there are
    many), a line through the medians."""
    qs = order["quantizer"]
    col = colours(qs)
    df = quant[quant["runtime_s"] > 0]
    fig, (ax,) = _panels(1, width=4.5, height=2.6)
    step = {q: (i - (len(qs) - 1) / 2) * 0.1 for i, q in enumerate(qs)}
    many = df.groupby(["quantizer", "k"]).size().max() > MANY_POINTS if len(df) else False
    for q in qs:
        g = df[df["quantizer"] == q]
        x = g["k"] * np.exp2(step[q])
        by_k = g.groupby("k")["runtime_s"]
        m = by_k.median()
        if many:
            ax.fill_between(m.index * np.exp2(step[q]), by_k.quantile(0.25), by_k.quantile(0.75), color=col[q],
                            alpha=0.2, lw=0)
        else:
            ax.scatter(x, g["runtime_s"], s=10, color=col[q], alpha=0.4, lw=0)
        ax.plot(m.index * np.exp2(step[q]), m, marker="o", ms=4, color=col[q])
    _k_axis(ax, order["k"])
    _log_axis(ax)
    ax.set_xlabel("k (palette colours)", fontsize=8)
    ax.set_ylabel("fit + assign (s, log scale)", fontsize=8)
    _legend(fig, [Line2D([], [], color=col[q], marker="o", ms=4) for q in qs], qs, "quantizer")
    _finish(fig, "Quantizing time (" + ("band: quartiles over images" if many else "dots: images") + ", line: median)")
    return save(fig, plots_dir, "runtime_vs_k")


def encode_time(files: pd.DataFrame, order: list, plots_dir: Path) -> Path:
    """Seconds to write one file, per encoding (and setting): a dot per file (a quartile box when there are
    many), a bar at the median."""
    names = list(order)
    fig, (ax,) = _panels(1, width=4.5, height=0.1 + 0.22 * len(names), legend=0.2,
                         left=0.3 + 0.068 * max(len(n) for n in names))
    y = {n: len(names) - 1 - i for i, n in enumerate(names)}
    col = colours(sorted({data.base_name(n) for n in names}, key=[data.base_name(n) for n in names].index))
    df = files[files["encode_s"] > 0]
    counts = []
    for n in names:
        v = df.loc[df["encoding"] == n, "encode_s"]
        counts.append(len(v))
        _spread_marks(ax, y[n], v, col[data.base_name(n)], 1.0, horizontal=True)
    ax.set_yticks(list(y.values()), list(y), fontsize=7)
    _log_axis(ax, "x")
    ax.set_xlabel("seconds to write one file (log scale)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    _finish(fig, f"Encode time ({_marks_words(counts)} over files, bar: median)")
    return save(fig, plots_dir, "encode_time")


# --- the question -------------------------------------------------------------------------------------------

def question_chart(rows: pd.DataFrame, title: str, plots_dir: Path) -> Path:
    """The user's own sizes beside this sweep's, per file: ``rows`` has ``file``, ``yours`` and ``sweep``
    (KB; NaN where there is none)."""
    fig, (ax,) = _panels(1, width=4.5, height=0.2 + 0.45 * len(rows), legend=0.2,
                         left=0.25 + 0.06 * max(len(str(n)) for n in rows["file"]))
    y = np.arange(len(rows))[::-1]
    for offset, colname, colour, label in ((0.2, "yours", "#d62728", "your numbers"),
                                           (-0.2, "sweep", "#1f77b4", "this sweep")):
        v = rows[colname].to_numpy(float)
        ax.barh(y + offset, np.nan_to_num(v), height=0.38, color=colour, label=label)
        for yi, vi in zip(y, v):
            if vi == vi:
                ax.text(vi, yi + offset, f" {vi:.0f}" if vi >= 100 else f" {vi:.1f}", va="center", fontsize=7)
    ax.set_yticks(y, rows["file"], fontsize=8)
    ax.set_xlim(0, np.nanmax(rows[["yours", "sweep"]].to_numpy(float)) * 1.2)
    ax.set_xlabel("KB (1000 bytes)", fontsize=8)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    _finish(fig, title)
    return save(fig, plots_dir, "question")
