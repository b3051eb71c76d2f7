"""Floyd–Steinberg error diffusion onto a fixed palette: the pixels re-assigned, the palette unchanged.

:func:`floyd_steinberg` dithers opaque RGB with Pillow's C implementation (``Image.quantize`` with
a palette image of exactly the given colours). Pillow takes RGB images only, so images with
transparency are dithered here (:func:`floyd_steinberg_rgba`), the way pngquant does it: the error of each pixel, measured
in premultiplied RGBA (where colour under low alpha weighs little), is spread to its neighbours
with Floyd and Steinberg's weights (7/16 right, 3/16 down-left, 5/16 down, 1/16 down-right),
rows left to right, and each pixel takes the exactly nearest palette entry (squared distance in
premultiplied RGBA, ties to the lower index) of its value plus the error it received. Values are
clipped to the valid range (0..255, colour at most alpha) before the search, so the error cannot
run away in flat areas.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from PIL import Image

from ..errors import ConfigurationError
from .colour import premultiply


@njit(cache=True, nogil=True)
def _diffuse(source, palette):  # pragma: no cover - compiled
    height, width, channels = source.shape
    m = palette.shape[0]
    labels = np.empty((height, width), np.int32)
    here = np.zeros((width + 2, channels))
    below = np.zeros((width + 2, channels))
    value = np.empty(channels)
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                value[c] = source[y, x, c] + here[x + 1, c]
            alpha = min(max(value[channels - 1], 0.0), 255.0)
            value[channels - 1] = alpha
            for c in range(channels - 1):
                value[c] = min(max(value[c], 0.0), alpha)
            best, best_d = 0, np.inf
            for j in range(m):
                d = 0.0
                for c in range(channels):
                    t = value[c] - palette[j, c]
                    d += t * t
                if d < best_d:
                    best, best_d = j, d
            labels[y, x] = best
            for c in range(channels):
                e = value[c] - palette[best, c]
                here[x + 2, c] += e * (7.0 / 16.0)
                below[x, c] += e * (3.0 / 16.0)
                below[x + 1, c] += e * (5.0 / 16.0)
                below[x + 2, c] += e * (1.0 / 16.0)
        here, below = below, here
        below[:] = 0.0
    return labels


def floyd_steinberg_rgba(rgba: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Palette index of each pixel of ``rgba`` ((h, w, 4) uint8, straight alpha) after error diffusion
    onto ``palette`` ((m, 4) uint8 RGBA); (h, w) int32."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or np.shape(palette)[1:] != (4,):
        raise ValueError(f"need (h, w, 4) RGBA pixels and an (m, 4) palette, got {rgba.shape} and {np.shape(palette)}")
    h, w = rgba.shape[:2]
    source = premultiply(rgba.reshape(-1, 4)).reshape(h, w, 4)
    return _diffuse(source, premultiply(palette))


def floyd_steinberg(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Palette index of each pixel after Floyd–Steinberg error diffusion onto exactly ``palette``.

    ``pixels`` is (h, w, 3) uint8 RGB, dithered by Pillow, or (h, w, 4) straight RGBA, dithered in
    premultiplied RGBA (:func:`floyd_steinberg_rgba`); ``palette`` is (m, 3) or (m, 4) uint8, at most
    256 colours (Pillow's palette). Returns (h, w) labels, checked to index ``palette`` only.
    """
    m = len(palette)
    if m > 256:
        raise ConfigurationError(f"dither=true needs a palette of at most 256 colours (Pillow's), this one has {m}")
    if pixels.shape[-1] == 4:
        labels = floyd_steinberg_rgba(pixels, palette)
    else:
        target = Image.new("P", (1, 1))
        target.putpalette(np.asarray(palette, np.uint8).tobytes(), "RGB")
        out = Image.fromarray(np.ascontiguousarray(pixels), "RGB").quantize(
            palette=target, dither=Image.Dither.FLOYDSTEINBERG)
        got = np.asarray(out.getpalette("RGB") or [], np.uint8).reshape(-1, 3)
        if len(got) < m or not np.array_equal(got[:m], palette):
            raise RuntimeError("Pillow's dithered image does not carry the palette it was given")
        labels = np.asarray(out)
    if labels.size and int(labels.max()) >= m:
        raise RuntimeError(f"dithering used palette index {int(labels.max())}, the palette has {m} colours")
    return labels
