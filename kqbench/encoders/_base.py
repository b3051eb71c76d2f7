"""The contract every encoder follows: write ``(labels, palette)`` to a real file, say what decoding
it must give back, and decode it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..columns import JPEG, LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG, WEBP  # noqa: F401 - re-exported
from ..errors import ConfigurationError
from ..pixels import as_channels, decoded_pixels, row_bands




class Encoder:
    """Write ``(labels, palette)`` to a file and read it back.

    ``labels`` is an (h, w) integer array of palette indices, ``palette`` an (m, 3) uint8
    array, or (m, 4) straight RGBA for an image with transparency. Subclasses implement
    :meth:`write`; :meth:`expected` and :meth:`decode` define the round-trip check.

    Subclasses also say what they are (written into every row as ``encoding_*`` columns):
    ``family`` (what the file is: :data:`PALETTE_PNG`, :data:`TRUECOLOUR_PNG`, :data:`LABEL_PNG`,
    :data:`WEBP`, :data:`JPEG`), ``writer`` (the library that writes the bytes), ``lossy`` (it stores
    the original image lossily instead of the quantization), ``takes_alpha`` and ``rank`` (the
    report's order: the question's mistakes, then the palette PNG writers, then the comparators).
    """

    suffix = ".png"
    k_range: tuple[int, int] | None = None  # the k this format can store, when limited
    format_name = "this format"
    family = ""
    writer = ""
    lossy = False
    takes_alpha = True
    rank = 100
    # Its write uses one core: the sweep's background work (kqbench.measure.pause_while_timed) may use
    # another meanwhile.
    single_threaded = True

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
        """What decoding the written file must return: the quantized RGB(A) pixels by default."""
        return np.take(palette, labels, axis=0)  # palette[labels], 3x faster (on a band: its 8-byte indices stay small)

    def decode(self, path: Path) -> np.ndarray:
        """The file's pixels, decoded by Pillow: RGB, or RGBA when the file has transparency."""
        with Image.open(path) as im:
            return decoded_pixels(im)

    def mismatch(self, path: Path, labels: np.ndarray, palette: np.ndarray) -> str | None:
        """How the file at ``path`` decodes differently from :meth:`expected` for ``(labels, palette)``
        ("shape differs", "N pixels differ"), or None when it does not. Compared a band of rows at a
        time, so the expected image is never whole in memory."""
        decoded = self.decode(path)
        if decoded.shape[:2] != labels.shape:
            return "shape differs"
        differing = 0
        for rows in row_bands(*labels.shape):
            expected = self.expected(labels[rows], palette)
            got = decoded[rows]
            if expected.ndim == 3:  # an RGB file holds an RGBA image whose every pixel is opaque
                got = as_channels(got, expected.shape[-1])
            if got.shape != expected.shape:
                return "shape differs"
            if np.array_equal(got, expected):  # (the usual case: counting differing pixels costs 50x more)
                continue
            unequal = got != expected
            differing += int((np.any(unequal, axis=-1) if unequal.ndim == 3 else unequal).sum())
        return _differ(differing)


def _differ(pixels: int) -> str | None:
    return f"{pixels} pixels differ" if pixels else None
