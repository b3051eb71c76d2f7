"""A small PNG writer (numpy + zlib) that applies a chosen scanline filter.

Pillow (up to 13 at least) has no save option for the filter: it uses filter 0 for 8-bit
palette indices and picks one per row itself for truecolour and for 1/2/4-bit palette
indices. This writer makes the filter an explicit choice, for 8-bit samples (RGB, grey, or
palette indices):

- ``none``, ``sub``, ``up``, ``average``, ``paeth``: that filter type (0-4) on every row;
- ``adaptive``: per row, the filter whose output has the smallest sum of absolute values
  (bytes read as signed), the heuristic the PNG specification suggests (and libpng uses).

Every predictor reads the *unfiltered* bytes (left ``a``, up ``b``, up-left ``c``, zero
outside the image), so blocks of rows are filtered at once with numpy.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import ConfigurationError
from .pngfile import PNG_SIGNATURE

FILTER_TYPES = {"none": 0, "sub": 1, "up": 2, "average": 3, "paeth": 4}
FILTERS = (*FILTER_TYPES, "adaptive")

_COLOUR_TYPES = {("grey", 1): 0, ("rgb", 3): 2, ("palette", 1): 3}


def check_filter(name: str) -> None:
    if name not in FILTERS:
        raise ConfigurationError(f"unknown PNG filter {name!r}: use one of {', '.join(FILTERS)}")


def _candidates(block: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    """The five filtered versions of ``block`` (rows, stride) uint8, whose row above is ``prior``."""
    x = block.astype(np.int16)
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]
    b = np.empty_like(x)
    b[0] = prior
    b[1:] = x[:-1]
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    predictors = (np.zeros_like(x), a, b, (a + b) >> 1, paeth)
    return np.stack([(x - pred).astype(np.uint8) for pred in predictors])  # wraps mod 256


def filter_scanlines(raw: np.ndarray, bpp: int, filter: str, block_rows: int = 256) -> np.ndarray:
    """Filtered scanlines with their filter-type byte: (h, 1 + stride) uint8.

    ``raw`` is (h, stride) uint8, ``bpp`` the bytes per pixel (the distance to the left
    neighbour). Rows are processed in blocks to bound memory on large images.
    """
    check_filter(filter)
    h, stride = raw.shape
    out = np.empty((h, 1 + stride), dtype=np.uint8)
    if filter == "none":
        out[:, 0] = 0
        out[:, 1:] = raw
        return out
    for start in range(0, h, block_rows):
        block = raw[start:start + block_rows]
        prior = raw[start - 1] if start else np.zeros(stride, dtype=np.uint8)
        cands = _candidates(block, prior, bpp)
        if filter == "adaptive":
            cost = np.abs(cands.view(np.int8).astype(np.int32)).sum(axis=2)  # (5, rows)
            types = np.argmin(cost, axis=0)  # ties: the lower filter type
            out[start:start + len(block), 1:] = cands[types, np.arange(len(block))]
            out[start:start + len(block), 0] = types
        else:
            out[start:start + len(block), 1:] = cands[FILTER_TYPES[filter]]
            out[start:start + len(block), 0] = FILTER_TYPES[filter]
    return out


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def write_png(path, samples: np.ndarray, *, colour: str = "rgb", palette: np.ndarray | None = None,
              filter: str = "adaptive", compress_level: int = 6) -> None:
    """Write 8-bit ``samples`` ((h, w, 3) for ``rgb``, (h, w) for ``grey`` or ``palette`` indices)."""
    samples = np.asarray(samples)
    if samples.dtype != np.uint8:
        raise ValueError(f"write_png writes 8-bit samples, got dtype {samples.dtype}")
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    try:
        colour_type = _COLOUR_TYPES[(colour, channels)]
    except KeyError:
        raise ValueError(f"cannot write {channels}-channel samples as {colour!r}") from None
    if not 0 <= compress_level <= 9:
        raise ConfigurationError(f"zlib compress_level must be 0..9, got {compress_level}")
    scanlines = filter_scanlines(samples.reshape(height, width * channels), channels, filter)
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))]
    if colour == "palette":
        if palette is None or not 1 <= len(palette) <= 256:
            raise ValueError("a palette PNG needs a palette of 1..256 colours")
        chunks.append(_chunk(b"PLTE", np.asarray(palette, dtype=np.uint8).tobytes()))
    chunks.append(_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), compress_level)))
    chunks.append(_chunk(b"IEND", b""))
    Path(path).write_bytes(PNG_SIGNATURE + b"".join(chunks))
