"""The contract every quantizer follows, and the colour helpers they share."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import pairwise_distances_argmin

from .colour import check_colour_space, from_space, nearest_in_space, to_space


def check_pixels(pixels) -> np.ndarray:
    """Return ``pixels`` as a C-contiguous ``(n, 3)`` uint8 array, or raise ValueError."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        pixels = pixels.reshape(-1, 3)
    if pixels.ndim != 2 or pixels.shape[1] != 3:
        raise ValueError(f"pixels must have shape (n, 3) or (h, w, 3), got {pixels.shape}")
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8 RGB, got dtype {pixels.dtype}")
    if len(pixels) == 0:
        raise ValueError("pixels is empty: the image has no pixels")
    return np.ascontiguousarray(pixels)


def pack_rgb(pixels: np.ndarray) -> np.ndarray:
    """One uint32 per colour (0xRRGGBB), so colours can be sorted and counted as integers."""
    packed = pixels[:, 0].astype(np.uint32) << 16  # channel by channel: no (n, 3) uint32 copy
    packed |= pixels[:, 1].astype(np.uint32) << 8
    packed |= pixels[:, 2]
    return packed


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    packed = packed.astype(np.uint32)
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)


def unique_colours(pixels: np.ndarray, return_inverse: bool = False):
    """Distinct colours of ``pixels`` with their pixel counts (and, optionally, each pixel's colour index)."""
    packed = pack_rgb(pixels)
    if return_inverse:
        values, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
        return unpack_rgb(values), counts, inverse.ravel()
    values, counts = np.unique(packed, return_counts=True)
    return unpack_rgb(values), counts


def centres_to_palette(centres) -> np.ndarray:
    """Round cluster centres to uint8 colours; centres that round to the same colour merge."""
    palette = np.clip(np.rint(np.asarray(centres, dtype=np.float64)), 0, 255).astype(np.uint8)
    _, first = np.unique(pack_rgb(palette), return_index=True)
    return palette[np.sort(first)]


def nearest_palette_index(palette: np.ndarray, pixels: np.ndarray, colour_space: str = "rgb") -> np.ndarray:
    """Index of the nearest palette colour (squared distance in ``colour_space``, ties to the lower index).

    Distances are computed once per distinct colour, then spread to the pixels: photos
    repeat colours, so this is several times less work than one distance per pixel.
    In RGB, squared distances between uint8 colours are integers below 2**24, so float32 is
    exact; in ``lab``/``oklab`` the distinct colours and the palette are converted once and
    compared in float64 (see :func:`kqbench.quantizers.colour.nearest_in_space`).
    """
    colours, _, inverse = unique_colours(pixels, return_inverse=True)
    if check_colour_space(colour_space) == "rgb":
        nearest = pairwise_distances_argmin(colours.astype(np.float32), palette.astype(np.float32))
    else:
        nearest = nearest_in_space(to_space(colours, colour_space), to_space(palette, colour_space))
    return nearest[inverse]


def compact_palette(labels: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop palette colours no pixel uses, renumbering labels (a PNG-8 should not store them)."""
    used = np.bincount(labels, minlength=len(palette)) > 0
    remap = np.cumsum(used) - 1
    dtype = np.uint8 if used.sum() <= 256 else np.uint16
    return remap[labels].astype(dtype), palette[used]


class Quantizer(BaseEstimator):
    """Base class: learn a palette of at most ``n_colors`` colours, then map pixels to it.

    Subclasses set their parameters in ``__init__`` (scikit-learn style, no logic there)
    and implement :meth:`_fit_centres`. The base class handles what every quantizer must
    do the same way: input checks, images with no more distinct colours than
    ``n_colors`` (their palette is those colours, exactly), the colour space the
    clustering runs in, rounding centres to uint8, and nearest-colour assignment.

    Colour space: with ``colour_space="lab"`` or ``"oklab"``, the distinct colours are
    converted once, :meth:`_fit_centres` gets pixels and colours in that space (float32)
    and returns centres in it; they are converted back to sRGB, clipped to the gamut and
    rounded. :meth:`predict` assigns each pixel to the palette colour nearest *in that
    space*, so fitting and assignment minimise the same error. A subclass without a
    ``colour_space`` parameter clusters in RGB.

    Parameters
    ----------
    n_colors : int
        Largest palette size (the ``k`` of k-means).
    random_state : int or None
        Seed for every random choice the quantizer makes.
    colour_space : {"rgb", "lab", "oklab"}
        Space the clustering and the assignment measure distances in: sRGB values
        (0-255), CIELAB (D65), or Oklab.

    Attributes
    ----------
    palette_ : ndarray of shape (m, 3), uint8
        The learnt palette, ``m <= n_colors``; distinct colours.
    """

    def __init__(self, n_colors: int = 16, random_state: int | None = 0, colour_space: str = "rgb"):
        self.n_colors = n_colors
        self.random_state = random_state
        self.colour_space = colour_space

    def _colour_space(self) -> str:
        return check_colour_space(getattr(self, "colour_space", "rgb"))

    def fit(self, pixels) -> "Quantizer":
        """Learn the palette from ``pixels`` ((n, 3) or (h, w, 3) uint8 RGB)."""
        k = self.n_colors
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"n_colors (k) must be a whole number >= 1, got {k!r}")
        space = self._colour_space()
        pixels = check_pixels(pixels)
        if space == "rgb":
            colours, counts = unique_colours(pixels)
            if len(colours) <= k:
                self.palette_ = colours
            else:
                self.palette_ = centres_to_palette(self._fit_centres(pixels, colours, counts, int(k)))
            return self
        colours, counts, inverse = unique_colours(pixels, return_inverse=True)
        if len(colours) <= k:
            self.palette_ = colours
            return self
        coords = to_space(colours, space).astype(np.float32)  # once per distinct colour
        centres = self._fit_centres(coords[inverse], coords, counts, int(k))
        self.palette_ = centres_to_palette(from_space(centres, space))
        return self

    def predict(self, pixels) -> np.ndarray:
        """Palette index of each pixel: the nearest palette colour."""
        if not hasattr(self, "palette_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")
        return nearest_palette_index(self.palette_, check_pixels(pixels), self._colour_space())

    def _fit_centres(self, pixels, colours, counts, k):  # pragma: no cover - abstract
        """Return k cluster centres (float, shape (k, 3)).

        ``pixels`` are all pixels; ``colours``/``counts`` the distinct colours and how many
        pixels have each (more colours than ``k`` by the time this is called). In RGB they
        are uint8; in another colour space, float32 coordinates in it, and the centres
        returned are in that space too.
        """
        raise NotImplementedError
