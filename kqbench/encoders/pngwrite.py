"""A small PNG writer (numpy + zlib) that applies a chosen scanline filter.

Pillow (up to 13 at least) has no save option for the filter: it uses filter 0 for 8-bit
palette indices and picks one per row itself for truecolour and for 1/2/4-bit palette
indices. This writer makes the filter an explicit choice, for 8-bit samples (RGB, grey, or
palette indices) and for grey or palette samples packed at 1, 2 or 4 bits (``bit_depth``;
:func:`pack_samples`: leftmost pixel in the high bits, rows padded to a whole byte):

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
BIT_DEPTHS = (1, 2, 4, 8)

_COLOUR_TYPES = {("grey", 1): 0, ("rgb", 3): 2, ("palette", 1): 3, ("rgba", 4): 6}


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


def pack_samples(samples: np.ndarray, bit_depth: int) -> np.ndarray:
    """(h, w) samples (each < 2**bit_depth) packed into PNG scanline bytes: (h, ceil(w * bit_depth / 8)) uint8.

    The leftmost pixel takes the most significant bits of its byte, and the last byte of a row
    is padded with zero bits, as the PNG specification lays out 1, 2 and 4-bit samples.
    """
    samples = np.asarray(samples)
    if bit_depth not in BIT_DEPTHS:
        raise ValueError(f"PNG sample bit depth must be one of {BIT_DEPTHS}, got {bit_depth}")
    if samples.ndim != 2:
        raise ValueError(f"pack_samples packs (h, w) samples, got shape {samples.shape}")
    if samples.size and (samples.min() < 0 or samples.max() >= 1 << bit_depth):
        raise ValueError(f"samples must be in 0..{(1 << bit_depth) - 1} for bit depth {bit_depth}")
    values = samples.astype(np.uint8, copy=False)
    if bit_depth == 8:
        return np.ascontiguousarray(values)
    per_byte = 8 // bit_depth
    pad = -values.shape[1] % per_byte
    if pad:
        values = np.pad(values, ((0, 0), (0, pad)))
    packed = values[:, 0::per_byte] << (8 - bit_depth)  # e.g. 4 bits: the first pixel << 4 | the second
    for i in range(1, per_byte):
        packed |= values[:, i::per_byte] << (8 - bit_depth * (i + 1))
    return packed


def deflate(data: bytes, compress_level: int = 6, mem_level: int = 8, strategy: int = zlib.Z_DEFAULT_STRATEGY,
            window_bits: int = 15) -> bytes:
    """A zlib stream of ``data``; ``mem_level`` 1-9 (zlib's default 8), ``strategy`` as zlib's own and
    ``window_bits`` 9-15 (the match window: 2**window_bits bytes; zlib's default 15)."""
    if not 0 <= compress_level <= 9:
        raise ConfigurationError(f"zlib compress_level must be 0..9, got {compress_level}")
    z = zlib.compressobj(compress_level, zlib.DEFLATED, window_bits, mem_level, strategy)
    return z.compress(data) + z.flush()


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes,
              palette: np.ndarray | None = None) -> bytes:
    """A whole PNG file: signature, IHDR, PLTE (when ``palette`` is given), one IDAT of the zlib
    stream ``idat`` and IEND; no other chunk but tRNS for an RGBA ((m, 4)) palette: the alphas
    up to its last entry that is not opaque (the PNG rule: later entries are opaque)."""
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))]
    if palette is not None:
        palette = np.asarray(palette, dtype=np.uint8)
        if not 1 <= len(palette) <= min(256, 1 << bit_depth):
            raise ValueError(f"a {bit_depth}-bit palette PNG holds 1..{min(256, 1 << bit_depth)} colours, "
                             f"got {len(palette)}")
        chunks.append(_chunk(b"PLTE", palette[:, :3].tobytes()))
        if palette.shape[1] == 4:
            translucent = np.flatnonzero(palette[:, 3] < 255)
            if len(translucent):
                chunks.append(_chunk(b"tRNS", palette[:translucent[-1] + 1, 3].tobytes()))
    chunks.append(_chunk(b"IDAT", idat))
    chunks.append(_chunk(b"IEND", b""))
    return PNG_SIGNATURE + b"".join(chunks)


def _scanlines(samples: np.ndarray, colour: str, bit_depth: int, filter: str) -> tuple[np.ndarray, int]:
    """(filtered scanlines with their filter bytes, colour type) of 8-bit or packed samples."""
    samples = np.asarray(samples)
    if samples.dtype != np.uint8:
        raise ValueError(f"write_png writes uint8 samples, got dtype {samples.dtype}")
    if samples.ndim == 2:
        samples = samples[:, :, None]
    height, width, channels = samples.shape
    try:
        colour_type = _COLOUR_TYPES[(colour, channels)]
    except KeyError:
        raise ValueError(f"cannot write {channels}-channel samples as {colour!r}") from None
    if bit_depth != 8 and colour in ("rgb", "rgba"):
        raise ValueError(f"{colour.upper()} samples are written at 8 bits, not {bit_depth}")
    if bit_depth == 8:
        raw = samples.reshape(height, width * channels)
    else:
        raw = pack_samples(samples[:, :, 0], bit_depth)
    # below 8 bits the filters' left neighbour is the previous byte (PNG: bpp rounded up to 1)
    return filter_scanlines(raw, channels, filter), colour_type


def encode_png(samples: np.ndarray, *, colour: str = "rgb", palette: np.ndarray | None = None,
               filter: str = "adaptive", compress_level: int = 6, bit_depth: int = 8, mem_level: int = 8,
               strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    """The bytes of a PNG of ``samples``: (h, w, 3) uint8 for ``rgb``, (h, w, 4) for ``rgba``; (h, w)
    uint8 for ``grey`` or ``palette`` indices, at ``bit_depth`` 8 or packed at 1, 2 or 4 bits.
    ``palette`` ((m, 3) uint8, or (m, 4) RGBA, m <= 2**bit_depth) is required for ``palette`` and
    written as the PLTE chunk (and tRNS, see :func:`png_bytes`)."""
    if colour == "palette" and palette is None:
        raise ValueError("a palette PNG needs a palette of 1..256 colours")
    scanlines, colour_type = _scanlines(samples, colour, bit_depth, filter)
    height, width = np.asarray(samples).shape[:2]
    idat = deflate(scanlines.tobytes(), compress_level, mem_level, strategy)
    return png_bytes(width, height, bit_depth, colour_type, idat, palette if colour == "palette" else None)


def write_png(path, samples: np.ndarray, *, colour: str = "rgb", palette: np.ndarray | None = None,
              filter: str = "adaptive", compress_level: int = 6, bit_depth: int = 8) -> None:
    """Write ``samples`` as a PNG file at ``path`` (see :func:`encode_png`)."""
    data = encode_png(samples, colour=colour, palette=palette, filter=filter, compress_level=compress_level,
                      bit_depth=bit_depth)
    Path(path).write_bytes(data)
