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


def decoded_pixels(im: Image.Image) -> np.ndarray:
    """An open image's pixels as (h, w, 3) RGB, or (h, w, 4) straight RGBA when it has transparency."""
    return np.asarray(im.convert("RGBA" if has_transparency(im) else "RGB"))


def pillow_mode(pixels: np.ndarray) -> str:
    """Pillow's mode for (..., 3) RGB or (..., 4) RGBA arrays: palettes and pixels alike."""
    return "RGBA" if np.shape(pixels)[-1] == 4 else "RGB"


def as_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """RGB pixels as RGBA (alpha 255) when ``channels`` is 4, RGBA whose every alpha is 255 as RGB
    when it is 3; anything else unchanged (a real difference stays visible to the caller)."""
    have = pixels.shape[-1]
    if have == 3 and channels == 4:
        return np.concatenate([pixels, np.full(pixels.shape[:-1] + (1,), 255, pixels.dtype)], axis=-1)
    if have == 4 and channels == 3 and (pixels[..., 3] == 255).all():
        return pixels[..., :3]
    return pixels
