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


# --- file size --------------------------------------------------------------------------------------------

def size_vs_k(files: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """KB vs k per encoding, one panel per image (each its own scale); the dashed line is the original."""
    enc = order["encoding"]
    col = colours(enc)
    fig, axes = _panels(len(order["image"]))
    several_q = len(order["quantizer"]) > 1
    for ax, image in zip(axes, order["image"]):
        sub = files[files["image"] == image]
        original = float(sub["original_bytes"].iloc[0]) / 1000
        values = [original]
        for e in enc:
            g = sub[sub["encoding"] == e].groupby("k")["bytes"].agg(["median", "min", "max"]) / 1000
            if g.empty:
                continue
            ax.plot(g.index, g["median"], marker="o", ms=4, lw=1.4, color=col[e])
            if several_q:
                ax.fill_between(g.index, g["min"], g["max"], color=col[e], alpha=0.15, lw=0)
            values += g["max"].tolist() + g["min"].tolist()
        ax.axhline(original, ls="--", lw=1, color=ORIGINAL, zorder=0)
        _k_axis(ax, order["k"])
        if max(values) / max(min(values), 1e-9) > 8:
            _log_axis(ax)
        ax.set_title(f"{image} (original {original:.1f} KB)", fontsize=9)
        ax.set_xlabel("k (palette colours)", fontsize=8)
        ax.set_ylabel("file size (KB)", fontsize=8)
        ax.tick_params(labelsize=7)
    handles = [Line2D([], [], color=col[e], marker="o", ms=4) for e in enc]
    _legend(fig, handles + [Line2D([], [], ls="--", color=ORIGINAL)], enc + ["original file"], "encoding")
    _finish(fig, "File size vs k" + (" (line: median over quantizers, band: their range)" if several_q else ""))
    return save(fig, plots_dir, "size_vs_k")


def size_bars(files: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """One k: KB per encoding beside the original file, one panel per image, each bar labelled."""
    enc = order["encoding"]
    col = colours(enc)
    fig, axes = _panels(len(order["image"]), width=2.6, height=0.32 * (len(enc) + 1) + 0.2, legend=0.2,
                        left=1.1)
    several_q = len(order["quantizer"]) > 1
    for ax, image in zip(axes, order["image"]):
        sub = files[files["image"] == image]
        names = ["original"] + [e for e in enc if (sub["encoding"] == e).any()]
        kb = [float(sub["original_bytes"].iloc[0]) / 1000] + [float(sub.loc[sub["encoding"] == e, "bytes"].median())
                                                              / 1000 for e in names[1:]]
        y = np.arange(len(names))[::-1]
        ax.barh(y, kb, color=[ORIGINAL] + [col[e] for e in names[1:]], height=0.7)
        for yi, v in zip(y, kb):
            ax.text(v, yi, f" {v:.1f}", va="center", fontsize=7)
        ax.set_yticks(y, names, fontsize=8)
        ax.set_xlim(0, max(kb) * 1.3)
        ax.set_xlabel("KB (1000 bytes)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(image, fontsize=9)
    k = order["k"][0]
    _finish(fig, f"File size at k={k}" + (" (median over quantizers)" if several_q else ""))
    return save(fig, plots_dir, "size_kb")


# --- quality ---------------------------------------------------------------------------------------------

def quality_delta(delta: pd.DataFrame, order: dict, plots_dir: Path, baseline: str) -> Path:
    """PSNR of each quantizer minus the baseline's on the same image and k: a dot per image, a bar at the
    median, one group per k."""
    others = [q for q in order["quantizer"] if q != baseline]
    col = colours(others)
    ks = order["k"]
    fig, (ax,) = _panels(1, width=max(4.5, 0.45 * len(others) * len(ks)), height=2.6)
    width = 0.8 / max(len(others), 1)
    finite = delta[np.isfinite(delta["d_psnr"])]
    for i, q in enumerate(others):
        for j, k in enumerate(ks):
            v = finite.loc[(finite["quantizer"] == q) & (finite["k"] == k), "d_psnr"]
            if v.empty:
                continue
            x = j - 0.4 + width * (i + 0.5)
            jitter = np.linspace(-width * 0.25, width * 0.25, len(v)) if len(v) > 1 else np.zeros(1)
            ax.scatter(x + jitter, v, s=12, color=col[q], alpha=0.6, lw=0)
            ax.hlines(v.median(), x - width * 0.4, x + width * 0.4, color=col[q], lw=2.2)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
    ax.set_ylabel(f"PSNR minus {baseline}'s (dB)", fontsize=8)
    ax.tick_params(labelsize=8)
    handles = [Line2D([], [], color=col[q], marker="o", lw=2.2) for q in others]
    _legend(fig, handles, others, "quantizer")
    _finish(fig, f"Quality against {baseline}, the baseline (dots: images, bar: median; above 0 is closer)")
    return save(fig, plots_dir, "quality_delta")


def quality_vs_k(quant: pd.DataFrame, order: dict, plots_dir: Path, threshold: float) -> Path:
    """One quantizer, several k: PSNR vs k, a line per image, and the threshold."""
    col = colours(order["image"])
    cap = lossless_psnr(quant["psnr"])
    fig, (ax,) = _panels(1, width=4.5, height=2.6)
    for image in order["image"]:
        g = quant[quant["image"] == image].groupby("k")["psnr"].median()
        ax.plot(g.index, g.where(np.isfinite(g), cap), marker="o", ms=4, color=col[image])
    ax.axhline(threshold, ls="--", lw=1, color="tab:red")
    _k_axis(ax, order["k"])
    ax.set_xlabel("k (palette colours)", fontsize=8)
    ax.set_ylabel(PSNR_LABEL, fontsize=8)
    handles = [Line2D([], [], color=col[i], marker="o", ms=4) for i in order["image"]]
    labels = list(order["image"])
    handles.append(Line2D([], [], ls="--", color="tab:red"))
    labels.append(f"threshold {threshold:g} dB")
    if (~np.isfinite(quant["psnr"])).any():
        labels.append(f"(lossless: drawn at {cap:g} dB)")
        handles.append(Line2D([], [], lw=0))
    _legend(fig, handles, labels, "image")
    _finish(fig, f"Quality vs k ({order['quantizer'][0]})")
    return save(fig, plots_dir, "quality_vs_k")


def rate_distortion(files: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """PSNR vs bits per pixel, one panel per image on one shared log x axis, colour = encoding, with each
    image's Pareto front as a step line."""
    enc = order["encoding"]
    col = colours(enc)
    cap = lossless_psnr(files["psnr"])
    df = files.assign(psnr_plot=files["psnr"].where(np.isfinite(files["psnr"]), cap))
    fig, axes = _panels(len(order["image"]), sharex=True)
    for ax, image in zip(axes, order["image"]):
        sub = df[df["image"] == image]
        for e in enc:
            g = sub[sub["encoding"] == e]
            ax.scatter(g["bits_per_pixel"], g["psnr_plot"], s=14, color=col[e], alpha=0.75, lw=0)
        front = sub[data.pareto_mask(sub["bits_per_pixel"], sub["psnr_plot"])].sort_values("bits_per_pixel")
        ax.plot(front["bits_per_pixel"], front["psnr_plot"], drawstyle="steps-post", color="black", lw=1, zorder=0)
        if (~np.isfinite(sub["psnr"])).any():
            ax.axhline(cap, ls=":", lw=1, color="0.4", zorder=0)
        ax.set_title(image, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("bits per pixel (log scale)", fontsize=8)
        ax.set_ylabel("PSNR (dB)", fontsize=8)
    _log_axis(axes[0], "x")
    handles = [Line2D([], [], color=col[e], marker="o", lw=0, ms=5) for e in enc]
    labels = list(enc)
    handles.append(Line2D([], [], color="black", lw=1, drawstyle="steps-post"))
    labels.append("Pareto front")
    if (~np.isfinite(files["psnr"])).any():
        handles.append(Line2D([], [], ls=":", color="0.4"))
        labels.append(f"lossless (drawn at {cap:g} dB)")
    _legend(fig, handles, labels, "encoding")
    _finish(fig, "Rate–distortion: up and to the left is better")
    return save(fig, plots_dir, "rate_distortion")


# --- time ----------------------------------------------------------------------------------------------------

def runtime_vs_k(quant: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """Fit + assign seconds vs k per quantizer: a dot per image, a line through the medians."""
    qs = order["quantizer"]
    col = colours(qs)
    df = quant[quant["runtime_s"] > 0]
    fig, (ax,) = _panels(1, width=4.5, height=2.6)
    step = {q: (i - (len(qs) - 1) / 2) * 0.1 for i, q in enumerate(qs)}
    for q in qs:
        g = df[df["quantizer"] == q]
        x = g["k"] * np.exp2(step[q])
        ax.scatter(x, g["runtime_s"], s=10, color=col[q], alpha=0.4, lw=0)
        m = g.groupby("k")["runtime_s"].median()
        ax.plot(m.index * np.exp2(step[q]), m, marker="o", ms=4, color=col[q])
    _k_axis(ax, order["k"])
    _log_axis(ax)
    ax.set_xlabel("k (palette colours)", fontsize=8)
    ax.set_ylabel("fit + assign (s, log scale)", fontsize=8)
    _legend(fig, [Line2D([], [], color=col[q], marker="o", ms=4) for q in qs], qs, "quantizer")
    _finish(fig, "Quantizing time (dots: images, line: median)")
    return save(fig, plots_dir, "runtime_vs_k")


def encode_time(files: pd.DataFrame, order: list, plots_dir: Path) -> Path:
    """Seconds to write one file, per encoding (and setting): a dot per file, a bar at the median."""
    names = list(order)
    fig, (ax,) = _panels(1, width=4.5, height=0.1 + 0.22 * len(names), legend=0.2,
                         left=0.3 + 0.068 * max(len(n) for n in names))
    y = {n: len(names) - 1 - i for i, n in enumerate(names)}
    col = colours(sorted({data.base_name(n) for n in names}, key=[data.base_name(n) for n in names].index))
    df = files[files["encode_s"] > 0]
    for n in names:
        v = df.loc[df["encoding"] == n, "encode_s"]
        if v.empty:
            continue
        jitter = np.linspace(-0.25, 0.25, len(v)) if len(v) > 1 else np.zeros(1)
        ax.scatter(v, y[n] + jitter, s=6, alpha=0.35, lw=0, color=col[data.base_name(n)])
        ax.vlines(v.median(), y[n] - 0.35, y[n] + 0.35, color=col[data.base_name(n)], lw=2.2)
    ax.set_yticks(list(y.values()), list(y), fontsize=7)
    _log_axis(ax, "x")
    ax.set_xlabel("seconds to write one file (log scale)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    _finish(fig, "Encode time (dots: files, bar: median)")
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
