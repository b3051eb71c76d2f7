"""The contact sheet: crops of the original beside the same crops of the sweep's own files, enlarged, so the
difference between k shows (banding in a smooth region, lost detail in a busy one).

Nothing is re-quantized: the quantized pixels are decoded from the sweep's kept files (``path`` column),
the original is read from ``source``. Per image, two regions are cropped from the original: the smoothest
window that still changes (a gradient, where banding shows) and the most detailed one. Each row is one
quantizer (or, with a single quantizer, one dither setting): the original crop, the palette PNG crop at each
k, and the 24-bit RGB PNG of the same pixels at one k, each titled with its file's size in KB. The sheet is
composed with Pillow, every pixel enlarged by an integer factor (nearest neighbour: no blur), and every
title is fitted into its own band above its panel, so titles never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ..pixels import has_transparency

CROP = 56  # px of the original per crop side
ZOOM = 3  # each pixel shown as ZOOM x ZOOM
GAP = 6  # px between panels
TITLE_LINES = 2
FONT_PX = 11
CHECKER = 8  # pixels per checkerboard square behind transparent images
MIN_CHANGE = 2.0  # a "smooth" region must vary by at least this (grey levels, standard deviation)
MAX_IMAGES = 3  # images on one sheet: its height grows with each


@dataclass
class Sheet:
    """What the contact sheet shows, or why it could not be drawn."""

    png: Path | None = None
    shown: list[dict] = field(default_factory=list)  # image, rows, ks, regions
    notes: list[str] = field(default_factory=list)
    titles: list[tuple] = field(default_factory=list)  # (text, (x0, y0, x1, y1)) of every title drawn
    caption: str = ""
    rgb_shown: bool = False


def source_path(source, sweep_dir: Path) -> Path | None:
    """The input file, if ``source`` names one that exists (as given, or relative to the sweep)."""
    if not isinstance(source, str) or not source or source.startswith("generated:"):
        return None
    for candidate in (Path(source), Path(sweep_dir) / source):
        if candidate.is_file():
            return candidate
    return None


def default_images(files: pd.DataFrame, order: dict, sweep_dir: Path) -> list[str]:
    """The first image (in display order) whose source is an existing file: a real photo."""
    for image in order["image"]:
        if source_path(files.loc[files["image"] == image, "source"].iloc[0], sweep_dir):
            return [image]
    return []


def _font(size: int = FONT_PX):
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:  # pragma: no cover - matplotlib always ships it
        return ImageFont.load_default()


def _pixels(path: Path) -> np.ndarray:
    """RGB pixels of an image file; transparency shown over a checkerboard, as image editors show it."""
    with Image.open(path) as im:
        im = im.convert("RGBA" if has_transparency(im) else "RGB")
        if im.mode == "RGBA":
            board = (np.indices((im.height, im.width)) // CHECKER).sum(axis=0) % 2
            backdrop = Image.fromarray(np.where(board, 255, 204).astype(np.uint8)).convert("RGBA")
            im = Image.alpha_composite(backdrop, im).convert("RGB")
        return np.asarray(im)


def regions(pixels: np.ndarray, size: int = CROP) -> list[tuple[str, int, int, int]]:
    """``[("smooth region", y, x, side), ("detailed region", y, x, side)]``: of the windows of side ``size``
    (half-overlapping), the smooth one is, among the half with the least mean gradient, the one that changes
    most (standard deviation of grey, at least :data:`MIN_CHANGE`: a sky's gradient, not a flat fill), where
    too few colours show as bands; the detailed one has the most mean gradient."""
    h, w = pixels.shape[:2]
    side = min(size, h, w)
    grey = pixels[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    grad = np.zeros_like(grey)
    grad[:, 1:] += np.abs(np.diff(grey, axis=1))
    grad[1:, :] += np.abs(np.diff(grey, axis=0))
    step = max(1, side // 2)
    windows = []
    for y in range(0, h - side + 1, step):
        for x in range(0, w - side + 1, step):
            g = grey[y:y + side, x:x + side]
            windows.append((float(grad[y:y + side, x:x + side].mean()), float(g.std()), y, x))
    calm = sorted(windows, key=lambda v: (v[0], v[2], v[3]))[:max(1, len(windows) // 2)]
    changing = [win for win in calm if win[1] >= MIN_CHANGE]
    smooth = max(changing, key=lambda v: (v[1] / (v[0] + 1.0), -v[2], -v[3])) if changing else calm[0]
    busy = max(windows, key=lambda v: (v[0], -v[2], -v[3]))
    return [("smooth region", smooth[2], smooth[3], side), ("detailed region", busy[2], busy[3], side)]


def _fit(draw, text: str, font, width: int) -> list[str]:
    """``text`` wrapped into at most :data:`TITLE_LINES` lines of at most ``width`` px (words that do not fit
    are cut with an ellipsis): a title never runs into its neighbour."""
    lines, current = [], ""
    for word in text.split(" "):
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not current:
            current = trial
        else:
            lines.append(current)
            current = word
    lines.append(current)
    if len(lines) > TITLE_LINES:
        lines = lines[:TITLE_LINES]
        lines[-1] += "…"
    out = []
    for line in lines:
        while draw.textlength(line, font=font) > width and len(line) > 1:
            line = line[:-2] + "…"
        out.append(line)
    return out


def _rows(files: pd.DataFrame, image: str, order: dict) -> tuple[str, list]:
    """What the rows are (``"quantizer"`` or ``"dither"``) and, per row, its label and its files."""
    f = files[files["image"] == image]
    quantizers = [q for q in order["quantizer"] if q in set(f["quantizer"])]
    if len(quantizers) > 1:
        undithered = f[~f["dither"]] if (~f["dither"]).any() else f
        return "quantizer", [(q, undithered[undithered["quantizer"] == q]) for q in quantizers]
    if f["dither"].nunique() > 1:
        return "dither", [(f"dither={str(v).lower()}", f[f["dither"] == v]) for v in (False, True)]
    return "quantizer", [(quantizers[0], f)]


def contact_sheet(files: pd.DataFrame, order: dict, sweep_dir: Path, plots_dir: Path,
                  images: list[str] | None = None, palettes: list[str] = (), truecolour: str | None = None,
                  rgb_k: int | None = None) -> Sheet:
    """Draw ``plots/contact_sheet.png``; the returned :class:`Sheet` says what it shows.

    ``files``: the sweep's files (dithered ones included), each encoding at its reference settings and named
    by its base name; ``palettes``: the palette PNG encodings that may be shown at each k, preferred first (the
    first with kept files is); ``truecolour``: the 24-bit RGB encoding shown once per row, at ``rgb_k``
    (default: the middle k).
    """
    sheet = Sheet()
    sweep_dir = Path(sweep_dir)
    if not palettes:
        sheet.notes.append("this sweep has no palette PNG files to show")
        return sheet
    images = list(images) if images else default_images(files, order, sweep_dir)
    if len(images) > MAX_IMAGES:
        sheet.notes.append(f"{len(images) - MAX_IMAGES} more images asked for (at most {MAX_IMAGES} on one sheet)")
        images = images[:MAX_IMAGES]
    if not images:
        sheet.notes.append("no image of this sweep has an input file on disk (only generated images, "
                           "or the `source` files moved), so there is no original to show")
        return sheet
    kept = files[files["path"].map(lambda p: isinstance(p, str) and bool(p) and (sweep_dir / p).is_file())]
    ks = order["k"]
    rgb_k = rgb_k if rgb_k in ks else ks[len(ks) // 2]
    blocks = []
    for image in images:
        if image not in order["image"]:
            sheet.notes.append(f"image {image!r} is not in this sweep (images: {', '.join(order['image'])})")
            continue
        src = source_path(files.loc[files["image"] == image, "source"].iloc[0], sweep_dir)
        if src is None:
            sheet.notes.append(f"{image}: its input file (`source`) is not on disk")
            continue
        palette = next((p for p in palettes if ((kept["image"] == image) & (kept["encoding"] == p)).any()), None)
        if palette is None:
            sheet.notes.append(f"{image}: no palette PNG file was kept (run with keep_files=true to keep them)")
            continue
        mine = kept[(kept["image"] == image) & kept["encoding"].isin([palette, truecolour])]
        blocks.append((image, src, palette, *_rows(mine, image, order)))
    if not blocks:
        return sheet

    font, bold = _font(), _font(FONT_PX + 1)
    cell = CROP * ZOOM
    band = TITLE_LINES * (FONT_PX + 3) + 4
    label_w = 120
    n_cols = 1 + len(ks) + (1 if truecolour else 0)
    heads = []  # (image, region name, y offset)
    y = 8
    layout = []
    for image, src, palette, kind, rows in blocks:
        original = _pixels(src)
        for name, ry, rx, side in regions(original):
            heads.append((f"{image}, {name} ({side}×{side} px of the original, each pixel shown {ZOOM}×{ZOOM})", y))
            y += FONT_PX + 10
            for label, g in rows:
                layout.append((y, label, image, original, (ry, rx, side), g, palette))
                y += band + side * ZOOM + GAP
            y += GAP
        sheet.shown.append({"image": image, "rows": [r[0] for r in rows], "row_kind": kind, "ks": ks,
                            "palette": palette})
    width = label_w + n_cols * (cell + GAP) + GAP
    canvas = Image.new("RGB", (width, y + 4), "white")
    draw = ImageDraw.Draw(canvas)
    for text, ty in heads:
        draw.text((GAP, ty), text, fill="black", font=bold)
    cache = {}

    def crop(path, box):
        if path not in cache:
            cache[path] = _pixels(path)
        ry, rx, side = box
        return cache[path][ry:ry + side, rx:rx + side]

    for ty, label, image, original, box, g, palette in layout:
        draw.text((GAP, ty + band + 4), _fit(draw, label, font, label_w - 2 * GAP)[0], fill="black", font=font)
        panels = [("original", original[box[0]:box[0] + box[2], box[1]:box[1] + box[2]],
                   f"original: {files.loc[files['image'] == image, 'original_bytes'].iloc[0] / 1000:.1f} KB")]
        for k in ks:
            r = g[(g["encoding"] == palette) & (g["k"] == k)]
            if r.empty:
                panels.append((None, None, f"k={k}: no file"))
                continue
            r = r.iloc[0]
            panels.append((k, crop(sweep_dir / r["path"], box), f"k={k} PNG-8: {r['bytes'] / 1000:.1f} KB"))
        if truecolour:
            r = g[(g["encoding"] == truecolour) & (g["k"] == rgb_k)]
            p8 = g[(g["encoding"] == palette) & (g["k"] == rgb_k)]
            if len(r):
                r = r.iloc[0]
                sheet.rgb_shown = True
                ratio = f" ({r['bytes'] / p8['bytes'].iloc[0]:.1f}× the PNG-8)" if len(p8) else ""
                kind = "RGBA" if bool(r.get("has_alpha", False)) else "RGB"
                panels.append(("rgb", crop(sweep_dir / r["path"], box),
                               f"k={rgb_k} as {kind} PNG: {r['bytes'] / 1000:.1f} KB{ratio}"))
            else:
                panels.append((None, None, f"no 24-bit RGB PNG at k={rgb_k}"))
        for c, (_, pixels, title) in enumerate(panels):
            x0 = label_w + GAP + c * (cell + GAP)
            lines = _fit(draw, title, font, cell)
            for i, line in enumerate(lines):
                ly = ty + i * (FONT_PX + 3)
                draw.text((x0, ly), line, fill="black", font=font)
                box_ = draw.textbbox((x0, ly), line, font=font)
                sheet.titles.append((line, box_))
            if pixels is not None:
                tile = Image.fromarray(np.ascontiguousarray(pixels)).resize(
                    (pixels.shape[1] * ZOOM, pixels.shape[0] * ZOOM), Image.NEAREST)
                canvas.paste(tile, (x0, ty + band))
    plots_dir.mkdir(parents=True, exist_ok=True)
    sheet.png = plots_dir / "contact_sheet.png"
    canvas.save(sheet.png, compress_level=6)
    rows_are = {s["row_kind"] for s in sheet.shown}
    sheet.caption = (
        f"Crops of {', '.join(s['image'] for s in sheet.shown)}, a smooth region (where too few colours show as "
        f"bands) and a detailed one, each pixel shown {ZOOM}×{ZOOM}; a row per "
        f"{'quantizer' if rows_are == {'quantizer'} else 'dither setting'}: the original, the "
        f"{'/'.join(sorted({s['palette'] for s in sheet.shown}))} file at each k"
        + (f", and the {truecolour} file of the same pixels at k={rgb_k}: it looks the same and weighs more"
           if sheet.rgb_shown else " (no 24-bit RGB PNG was kept)") + ". Decoded from the sweep's own files.")
    return sheet


def overlapping(boxes: list[tuple]) -> list[tuple]:
    """Pairs of title boxes that intersect (for the tests: there are none)."""
    out = []
    for i, (_, a) in enumerate(boxes):
        for _, b in boxes[i + 1:]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                out.append((a, b))
    return out
