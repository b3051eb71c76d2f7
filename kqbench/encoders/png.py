"""PNG encodings of a quantized image (labels + palette).

Each encoder writes a real file and says what decoding that file must give back, so every
row of a sweep is checked by a round trip. Files are decoded with Pillow, which is
independent of pypng's writer (and of the bytes we compute for the palette).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import png
from PIL import Image

from ..errors import ConfigurationError


def minimal_bit_depth(n_colours: int) -> int:
    """Smallest legal PNG palette bit depth for ``n_colours`` entries (1, 2, 4 or 8)."""
    for bits in (1, 2, 4, 8):
        if n_colours <= 1 << bits:
            return bits
    raise ConfigurationError(f"a PNG palette holds at most 256 colours, got {n_colours}")


class Encoder:
    """Write ``(labels, palette)`` to a file and read it back.

    ``labels`` is an (h, w) integer array of palette indices, ``palette`` an (m, 3) uint8
    array. Subclasses implement :meth:`write`; :meth:`expected` and :meth:`decode` define
    the round-trip check.
    """

    suffix = ".png"
    k_range: tuple[int, int] | None = None  # the k this format can store, when limited
    format_name = "this format"

    def check_k(self, k: int) -> None:
        if self.k_range and not self.k_range[0] <= k <= self.k_range[1]:
            lo, hi = self.k_range
            raise ConfigurationError(
                f"{self.format_name} stores {lo}..{hi} colours, not k={k}: "
                f"use k in {lo}..{hi}, or encoding=rgb24 for more colours"
            )

    def write(self, labels: np.ndarray, palette: np.ndarray, path: Path) -> None:
        raise NotImplementedError

    def expected(self, labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
        """What decoding the written file must return: the quantized RGB pixels by default."""
        return palette[labels]

    def decode(self, path: Path) -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))


class RGB24PNG(Encoder):
    """The quantized pixels as a 24-bit truecolour PNG: 3 bytes per pixel before deflate.

    This is what made the original question's file bigger than its source.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9 (Pillow's default is 6).
    """

    def __init__(self, compress_level: int = 6):
        self.compress_level = compress_level

    def write(self, labels, palette, path):
        Image.fromarray(palette[labels], "RGB").save(path, format="PNG", compress_level=self.compress_level)

    def decode(self, path):
        with Image.open(path) as im:
            if im.mode != "RGB":
                raise ValueError(f"{path}: expected an RGB PNG, found mode {im.mode}")
            return np.asarray(im)


class LabelsPNG(Encoder):
    """The label array itself saved as a greyscale image (``io.imsave('out.png', labels)``).

    8-bit grey when the labels fit in a byte, else 16-bit. The palette is not stored at all:
    the file cannot be displayed as the quantized image without it.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9.
    """

    def __init__(self, compress_level: int = 6):
        self.compress_level = compress_level

    def write(self, labels, palette, path):
        if labels.max(initial=0) < 256:
            im = Image.fromarray(labels.astype(np.uint8), "L")
        else:
            im = Image.fromarray(labels.astype(np.uint16))  # Pillow mode I;16
        im.save(path, format="PNG", compress_level=self.compress_level)

    def expected(self, labels, palette):
        return labels

    def decode(self, path):
        with Image.open(path) as im:
            return np.asarray(im).astype(np.int64)


class PillowPalettePNG(Encoder):
    """PNG-8: one palette index per pixel, written by Pillow.

    Pillow packs the indices at the smallest legal depth for the palette length
    (<=2 colours: 1 bit, <=4: 2, <=16: 4, else 8) and writes a PLTE chunk of exactly
    the palette's colours (3 bytes each); the sweep reads the depth back from the file.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9.
    """

    k_range = (2, 256)
    format_name = "a PNG-8 palette"

    def __init__(self, compress_level: int = 6):
        self.compress_level = compress_level

    def write(self, labels, palette, path):
        im = Image.fromarray(labels.astype(np.uint8), "P")
        im.putpalette(palette.tobytes(), "RGB")
        im.save(path, format="PNG", compress_level=self.compress_level)


class PyPNGPalettePNG(Encoder):
    """PNG-8 written with pypng, as in the accepted answer to the original question.

    Parameters
    ----------
    bitdepth : {8, 4, 2, 1, "minimal"}
        Bits per index; 8 is what the answer used, "minimal" the smallest that holds
        the palette.
    compression : int
        zlib level 0-9.
    """

    k_range = (2, 256)
    format_name = "a PNG-8 palette"

    def __init__(self, bitdepth: int | str = 8, compression: int = 6):
        self.bitdepth = bitdepth
        self.compression = compression

    def write(self, labels, palette, path):
        height, width = labels.shape
        bitdepth = minimal_bit_depth(len(palette)) if self.bitdepth == "minimal" else self.bitdepth
        writer = png.Writer(width, height, palette=[tuple(int(v) for v in c) for c in palette],
                            bitdepth=bitdepth, compression=self.compression)
        with open(path, "wb") as f:
            writer.write_array(f, labels.astype(np.uint8).ravel())
