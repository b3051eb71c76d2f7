"""Pixel arrays and Pillow images: modes, channels and transparency.

The lowest layer: datasets read images with these helpers and encoders write and decode files
with them, so neither imports the other.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def has_transparency(im: Image.Image) -> bool:
    """Whether a Pillow image carries alpha in any form: an alpha channel, a tRNS chunk, a colour key."""
    return im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info


# Pixels converted at a time by :func:`as_array`: its temporaries stay a few MB whatever the image's size.
BAND_PIXELS = 1 << 20


def row_bands(height: int, width: int) -> list[slice]:
    """Slices of consecutive rows, about :data:`BAND_PIXELS` pixels each, covering ``height`` rows of
    ``width`` pixels: what the band-at-a-time loops here and in :mod:`kqbench.measure` walk."""
    rows = max(1, BAND_PIXELS // max(width, 1))
    return [slice(top, min(top + rows, height)) for top in range(0, height, rows)]


def as_array(im: Image.Image, mode: str | None = None) -> np.ndarray:
    """``np.asarray(im.convert(mode))`` (``mode`` None: ``im``'s own), converted and copied a band of rows
    at a time: the image's array plus a few MB, where converting it whole would add Pillow's converted
    copy (4 bytes a pixel for RGB) and numpy's two (``tobytes`` then its join) of the array."""
    im.load()
    width, height = im.size
    bands = row_bands(height, width)
    if len(bands) == 1:
        return np.asarray(im if mode in (None, im.mode) else im.convert(mode))
    out = None
    for rows in bands:
        band = im.crop((0, rows.start, width, rows.stop))  # keeps the palette and transparency
        band = np.asarray(band if mode in (None, im.mode) else band.convert(mode))
        if out is None:
            out = np.empty((height, *band.shape[1:]), band.dtype)
        out[rows] = band
    return out


def decoded_pixels(im: Image.Image) -> np.ndarray:
    """An open image's pixels as (h, w, 3) RGB, or (h, w, 4) straight RGBA when it has transparency."""
    return as_array(im, "RGBA" if has_transparency(im) else "RGB")


def quantized_image(labels: np.ndarray, palette: np.ndarray) -> Image.Image:
    """``palette[labels]`` as a Pillow RGB image (RGBA for an (m, 4) palette), filled a band of rows at a
    time: Pillow's image (4 bytes a pixel) and a few MB, without the (h, w, 3) array as well."""
    palette = np.asarray(palette).astype(np.uint8, copy=False)
    mode = pillow_mode(palette)
    height, width = np.shape(labels)
    image = Image.new(mode, (width, height))
    for rows in row_bands(height, width):
        image.paste(Image.fromarray(palette[labels[rows]], mode), (0, rows.start))
    return image


def label_counts(labels: np.ndarray, minlength: int = 0) -> np.ndarray:
    """``np.bincount(labels.ravel(), minlength)``, counted :data:`BAND_PIXELS` labels at a time: bincount
    copies its input to 8-byte integers first, 8 bytes a pixel of an image's uint8 labels."""
    flat = np.asarray(labels).reshape(-1)
    counts = np.bincount(flat[:BAND_PIXELS], minlength=minlength)
    for start in range(BAND_PIXELS, flat.size, BAND_PIXELS):
        more = np.bincount(flat[start:start + BAND_PIXELS], minlength=len(counts))
        if len(more) > len(counts):
            counts = np.pad(counts, (0, len(more) - len(counts)))
        counts += more
    return counts


def pillow_mode(pixels: np.ndarray) -> str:
    """Pillow's mode for (..., 3) RGB or (..., 4) RGBA arrays: palettes and pixels alike."""
    return "RGBA" if np.shape(pixels)[-1] == 4 else "RGB"


def pack_rgb(pixels: np.ndarray) -> np.ndarray:
    """One uint32 per colour (0xRRGGBB; RGBA: 0xRRGGBBAA), so colours can be sorted and counted as integers."""
    packed = pixels[:, 0].astype(np.uint32) << 16  # channel by channel: no (n, 3) uint32 copy
    packed |= pixels[:, 1].astype(np.uint32) << 8
    packed |= pixels[:, 2]
    if pixels.shape[1] == 4:
        packed <<= 8
        packed |= pixels[:, 3]
    return packed


def as_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """RGB pixels as RGBA (alpha 255) when ``channels`` is 4, RGBA whose every alpha is 255 as RGB
    when it is 3; anything else unchanged (a real difference stays visible to the caller)."""
    have = pixels.shape[-1]
    if have == 3 and channels == 4:
        return np.concatenate([pixels, np.full(pixels.shape[:-1] + (1,), 255, pixels.dtype)], axis=-1)
    if have == 4 and channels == 3 and (pixels[..., 3] == 255).all():
        return pixels[..., :3]
    return pixels
