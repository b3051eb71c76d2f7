"""The contact sheet: each chosen image beside its quantized versions, decoded from the kept files.

Nothing is re-quantized: the quantized pixels are the sweep's own files (``path`` column),
and the original is read from ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..encoders import PALETTE_PNG, TRUECOLOUR_PNG
from ..pixels import has_transparency
from .plots import plt, save

MAX_WIDTH = 480  # px per panel: keeps the SVG (which embeds every image) small
# Files a viewer shows as the quantized image: PNG-8 first (the recommended format), then truecolour PNG.
SHOWN_FAMILIES = (PALETTE_PNG, TRUECOLOUR_PNG)
CHECKER = 8  # pixels per checkerboard square behind transparent images


@dataclass
class Sheet:
    """What the contact sheet shows, or why it could not be drawn."""

    png: Path | None = None
    shown: list[dict] = field(default_factory=list)  # image, quantizer, encodings, downscaled
    notes: list[str] = field(default_factory=list)


def source_path(source, sweep_dir: Path) -> Path | None:
    """The input file, if ``source`` names one that exists (as given, or relative to the sweep)."""
    if not isinstance(source, str) or not source or source.startswith("generated:"):
        return None
    for candidate in (Path(source), Path(sweep_dir) / source):
        if candidate.is_file():
            return candidate
    return None


def default_images(files: pd.DataFrame, order: dict, sweep_dir: Path) -> list[str]:
    """The first image (in table order) whose source is an existing file: a real photo."""
    for image in order["image"]:
        if source_path(files.loc[files["image"] == image, "source"].iloc[0], sweep_dir):
            return [image]
    return []


def _kept(files: pd.DataFrame, sweep_dir: Path) -> pd.DataFrame:
    """Displayable rows whose file is still on disk."""
    shown = files[files["encoding_family"].isin(SHOWN_FAMILIES)].copy()
    shown["file"] = shown["path"].map(
        lambda p: sweep_dir / p if isinstance(p, str) and p and (sweep_dir / p).is_file() else None)
    return shown[shown["file"].notna()]


def _choose(kept: pd.DataFrame, image: str, order: dict) -> tuple[str, pd.DataFrame] | None:
    """One quantizer (kmeans when it has the most k) and, per k, its most preferred kept file."""
    rows = kept[kept["image"] == image]
    if rows.empty:
        return None
    coverage = rows.groupby("quantizer")["k"].nunique()
    quantizer = max(order["quantizer"], key=lambda q: (coverage.get(q, 0), -order["quantizer"].index(q)))
    rows = rows[rows["quantizer"] == quantizer].copy()
    rows["family_rank"] = rows["encoding_family"].map(SHOWN_FAMILIES.index)
    rows = rows.sort_values(["k", "family_rank", "encoding_rank", "encoding"])
    return quantizer, rows.groupby("k", sort=True).head(1)


def _load(path: Path) -> tuple[np.ndarray, bool]:
    with Image.open(path) as im:
        im = im.convert("RGBA" if has_transparency(im) else "RGB")
        small = im.width > MAX_WIDTH
        if small:  # the same filter for original and quantized: a fair side-by-side
            im = im.resize((MAX_WIDTH, round(im.height * MAX_WIDTH / im.width)), Image.BOX)
        if im.mode == "RGBA":  # shown over a checkerboard, as image editors show transparency
            board = (np.indices((im.height, im.width)) // CHECKER).sum(axis=0) % 2
            backdrop = Image.fromarray(np.where(board, 255, 204).astype(np.uint8)).convert("RGBA")
            im = Image.alpha_composite(backdrop, im).convert("RGB")
        return np.asarray(im), small


def contact_sheet(files: pd.DataFrame, order: dict, sweep_dir: Path, plots_dir: Path,
                  images: list[str] | None = None) -> Sheet:
    """Draw ``plots/contact_sheet.{png,svg}``; the returned :class:`Sheet` says what it shows."""
    sheet = Sheet()
    sweep_dir = Path(sweep_dir)
    images = list(images) if images else default_images(files, order, sweep_dir)
    if not images:
        sheet.notes.append("no image of this sweep has an input file on disk (only generated images, "
                           "or the `source` files moved), so there is no original to show")
        return sheet
    kept = _kept(files, sweep_dir)
    panels = []
    for image in images:
        if image not in order["image"]:
            sheet.notes.append(f"image {image!r} is not in this sweep (images: {', '.join(order['image'])})")
            continue
        src = source_path(files.loc[files["image"] == image, "source"].iloc[0], sweep_dir)
        if src is None:
            sheet.notes.append(f"{image}: its input file (`source`) is not on disk")
            continue
        choice = _choose(kept, image, order)
        if choice is None:
            sheet.notes.append(f"{image}: no quantized file was kept (run with keep_files=true to keep them)")
            continue
        panels.append((image, src, *choice))
    if not panels:
        return sheet

    ncols = 1 + max(len(rows) for *_, rows in panels)
    fig, axes = plt.subplots(len(panels), ncols, figsize=(2.9 * ncols, 2.6 * len(panels)), squeeze=False)
    for r, (image, src, quantizer, rows) in enumerate(panels):
        original, small = _load(src)
        first = files[files["image"] == image].iloc[0]
        axes[r, 0].imshow(original, interpolation="none")
        axes[r, 0].set_title(f"{image}: original\n{first['original_bytes'] / 1000:.1f} KB, "
                             f"{8 * first['original_bytes'] / first['pixels']:.2f} bpp", fontsize=9)
        for c, (_, row) in enumerate(rows.iterrows(), start=1):
            pixels, small_q = _load(row["file"])
            small = small or small_q
            psnr = "∞ (lossless)" if not np.isfinite(row["psnr"]) else f"{row['psnr']:.1f} dB"
            axes[r, c].imshow(pixels, interpolation="none")
            axes[r, c].set_title(f"k={row['k']} ({quantizer}, {row['encoding']})\n"
                                 f"{row['bits_per_pixel']:.2f} bpp, PSNR {psnr}", fontsize=9)
        for ax in axes[r]:
            ax.set_axis_off()
        sheet.shown.append({"image": image, "quantizer": quantizer, "encodings": sorted(set(rows["encoding"])),
                            "downscaled": small})
    fig.suptitle("Original and quantized images (titles: file size and quality of the file shown)", y=1.0)
    fig.tight_layout()
    sheet.png = save(fig, plots_dir, "contact_sheet")
    return sheet
