"""The report's figures, drawn with seaborn from the tidy tables of :mod:`.data`.

Every figure is saved as PNG and SVG under ``plots/`` and closed at once, so rendering many
reports never accumulates open figures.
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
import seaborn as sns  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from seaborn.utils import adjust_legend_subtitles  # noqa: E402

from . import data  # noqa: E402

# Fixed salt and no dates: the same table gives the same SVG bytes.
RC = {"svg.hashsalt": "kqbench", "svg.fonttype": "path", "figure.dpi": 100}
K_LABEL = "k (palette colours, log$_2$ scale)"
BPP_LABEL = "file size (bits per pixel)"
PSNR_LABEL = "PSNR (dB, higher is better)"


def save(fig, plots_dir: Path, name: str) -> Path:
    """Write ``name.png`` and ``name.svg``; return the PNG path."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    png = plots_dir / f"{name}.png"
    with plt.rc_context(RC):
        fig.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(plots_dir / f"{name}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return png


def lossless_psnr(psnr: pd.Series) -> float:
    """Where to draw PSNR = inf (lossless): a little above the best finite value."""
    finite = psnr[np.isfinite(psnr)]
    return float(math.ceil(finite.max()) + 3) if len(finite) else 60.0


def _k_axis(ax, ks) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.minorticks_off()
    lo, hi = min(ks), max(ks)
    ax.set_xlim(lo / 2 ** 0.4, hi * 2 ** 0.4)  # room for the dodged markers at both ends


def _dodge(df: pd.DataFrame, by: str, names: list, width: float = 0.12) -> pd.Series:
    """k shifted a little per ``by`` value (in log2 units) so overlapping markers stay visible."""
    step = {n: (i - (len(names) - 1) / 2) * width for i, n in enumerate(names)}
    return df["k"] * np.exp2(df[by].map(step).astype(float))


def _log_axis(ax, axis: str = "y") -> None:
    """Log scale with plain tick labels at 1, 2 and 5 times powers of ten (0.1, 0.2, 0.5, 1, ...)."""
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    target.set_minor_locator(ticker.NullLocator())
    target.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _wide(values, ratio: float = 8.0) -> bool:
    """True when positive values span more than ``ratio``: then a log axis keeps small ones visible."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(len(v)) and v.max() / v.min() > ratio


def _legend_outside(g, extra_handles=(), extra_labels=()) -> None:
    """Move a FacetGrid's in-axes legend to the right of the panels, adding reference lines.

    The grids are built with ``legend_out=False`` (a cheap in-axes legend), then laid out
    tightly, and the legend is placed outside; ``bbox_inches="tight"`` keeps it in the file.
    """
    handles, labels = [], []
    legend = g.axes.flat[0].get_legend()
    if legend is not None:
        handles, labels = list(legend.legend_handles), [t.get_text() for t in legend.texts]
        legend.remove()
    g.tight_layout()
    fig_legend = g.figure.legend(handles + list(extra_handles), labels + list(extra_labels), loc="center left",
                                 bbox_to_anchor=(1.0, 0.5), frameon=False)
    adjust_legend_subtitles(fig_legend)  # "quantizer", "encoding", "k" as headings, not entries


def _grid(df, order, **facet_kws):
    n = len(order["image"])
    return dict(data=df, col="image", col_order=order["image"], col_wrap=min(3, n), height=3.6 if n == 1 else 2.9,
                aspect=1.4 if n == 1 else 1.25,
                facet_kws={"legend_out": False, **facet_kws})


def size_vs_k(files: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """Bits per pixel vs k per encoding, one panel per image; the dashed line is the original file."""
    df = files.assign(k_plot=_dodge(files, "encoding", order["encoding"], width=0.06))
    originals = df.groupby("image").apply(lambda g: 8 * g["original_bytes"].iloc[0] / g["pixels"].iloc[0])
    g = sns.relplot(kind="line", x="k_plot", y="bits_per_pixel", hue="encoding", hue_order=order["encoding"],
                    marker="o", markersize=6, estimator="median", errorbar=("pi", 100), **_grid(df, order))
    wide = _wide([*df["bits_per_pixel"], *originals])
    for image, ax in g.axes_dict.items():
        ax.axhline(originals[image], ls="--", lw=1, color="0.35", zorder=0)
        _k_axis(ax, order["k"])
        if wide:
            _log_axis(ax)
    g.set_titles("{col_name}")
    g.set_axis_labels(K_LABEL, BPP_LABEL + (", log scale" if wide else ""))
    g.figure.suptitle("File size vs k by encoding (line: median over quantizers, band: their min–max)", y=1.01)
    _legend_outside(g, [Line2D([], [], ls="--", color="0.35")], ["original file"])
    return save(g.figure, plots_dir, "size_vs_k")


def rate_distortion(files: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """PSNR vs bits per pixel per image, with each image's Pareto front as a step line."""
    df = files.copy()
    cap = lossless_psnr(df["psnr"])
    df["psnr_plot"] = df["psnr"].where(np.isfinite(df["psnr"]), cap)
    g = sns.relplot(kind="scatter", x="bits_per_pixel", y="psnr_plot", hue="quantizer",
                    hue_order=order["quantizer"], style="encoding", style_order=order["encoding"],
                    size="k", sizes=(25, 110), size_order=order["k"], legend="full", alpha=0.8,
                    **_grid(df, order, sharex=False, sharey=False))
    for image, ax in g.axes_dict.items():
        sub = df[df["image"] == image]
        front = sub[data.pareto_mask(sub["bits_per_pixel"], sub["psnr_plot"])].sort_values("bits_per_pixel")
        ax.plot(front["bits_per_pixel"], front["psnr_plot"], drawstyle="steps-post", color="black", lw=1.1,
                zorder=0)
        if (~np.isfinite(sub["psnr"])).any():
            ax.axhline(cap, ls=":", lw=1, color="0.4", zorder=0)
        if _wide(sub["bits_per_pixel"]):
            _log_axis(ax, "x")
    g.set_titles("{col_name}")
    g.set_axis_labels(BPP_LABEL, PSNR_LABEL)
    g.figure.suptitle("Rate–distortion: up and to the left is better (smaller file, higher PSNR)", y=1.01)
    extra = [Line2D([], [], color="black", lw=1.1, drawstyle="steps-post")], ["Pareto front"]
    if (~np.isfinite(df["psnr"])).any():
        extra[0].append(Line2D([], [], ls=":", color="0.4"))
        extra[1].append(f"lossless (PSNR = ∞,\ndrawn at {cap:g} dB)")
    _legend_outside(g, *extra)
    return save(g.figure, plots_dir, "rate_distortion")


def runtime_vs_k(quant: pd.DataFrame, order: dict, plots_dir: Path) -> Path:
    """Fit + assign seconds vs k per quantizer: one value per quantization (encodings share it)."""
    df = quant[quant["runtime_s"] > 0]  # a log axis cannot show zero
    df = df.assign(k_plot=_dodge(df, "quantizer", order["quantizer"]))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(data=df, x="k_plot", y="runtime_s", hue="quantizer", hue_order=order["quantizer"], marker="o",
                 markersize=8, estimator="median", errorbar=None, ax=ax)
    sns.scatterplot(data=df, x="k_plot", y="runtime_s", hue="quantizer", hue_order=order["quantizer"],
                    alpha=0.45, s=16, legend=False, ax=ax)
    _k_axis(ax, order["k"])
    _log_axis(ax)
    ax.set_xlabel(K_LABEL)
    ax.set_ylabel("fit + assign time (s, log scale)")
    ax.set_title("Quantization time vs k (line: median over images, dots: each image)")
    ax.legend(title="quantizer", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    return save(fig, plots_dir, "runtime_vs_k")


def quality_vs_k(quant: pd.DataFrame, order: dict, plots_dir: Path, threshold: float) -> Path:
    """PSNR vs k per quantizer, one panel per image, with the threshold line."""
    df = quant.assign(k_plot=_dodge(quant, "quantizer", order["quantizer"], width=0.06))
    cap = lossless_psnr(df["psnr"])
    df["psnr_plot"] = df["psnr"].where(np.isfinite(df["psnr"]), cap)
    g = sns.relplot(kind="line", x="k_plot", y="psnr_plot", hue="quantizer", hue_order=order["quantizer"],
                    style="quantizer", style_order=order["quantizer"], markers=True, dashes=False,
                    markersize=7, errorbar=None, **_grid(df, order))
    for image, ax in g.axes_dict.items():
        ax.axhline(threshold, ls="--", lw=1, color="tab:red", zorder=0)
        if (~np.isfinite(df.loc[df["image"] == image, "psnr"])).any():
            ax.axhline(cap, ls=":", lw=1, color="0.4", zorder=0)
        _k_axis(ax, order["k"])
    g.set_titles("{col_name}")
    g.set_axis_labels(K_LABEL, PSNR_LABEL)
    g.figure.suptitle("Quality vs k by quantizer", y=1.01)
    extra = [Line2D([], [], ls="--", color="tab:red")], [f"threshold {threshold:g} dB"]
    if (~np.isfinite(df["psnr"])).any():
        extra[0].append(Line2D([], [], ls=":", color="0.4"))
        extra[1].append(f"lossless (PSNR = ∞,\ndrawn at {cap:g} dB)")
    _legend_outside(g, *extra)
    return save(g.figure, plots_dir, "quality_vs_k")
