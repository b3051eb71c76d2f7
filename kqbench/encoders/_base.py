"""The contract every encoder follows: write ``(labels, palette)`` to a real file, say what decoding
it must give back, and decode it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..columns import JPEG, LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG, WEBP  # noqa: F401 - re-exported
from ..errors import ConfigurationError
from ..pixels import decoded_pixels




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
        return palette[labels]

    def decode(self, path: Path) -> np.ndarray:
        """The file's pixels, decoded by Pillow: RGB, or RGBA when the file has transparency."""
        with Image.open(path) as im:
            return decoded_pixels(im)
