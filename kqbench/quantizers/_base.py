"""The contract every quantizer follows, and the colour helpers they share."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import pairwise_distances_argmin

from .colour import PREMULTIPLIED, check_colour_space, from_space, nearest_in_space, to_space
from ..errors import ConfigurationError
from ..pixels import label_counts, pack_rgb  # noqa: F401 - pack_rgb: the quantizers' too


def check_pixels(pixels, alpha: bool = False) -> np.ndarray:
    """Return ``pixels`` as a C-contiguous ``(n, 3)`` uint8 array (``(n, 4)`` RGBA too when
    ``alpha``), or raise ValueError."""
    pixels = np.asarray(pixels)
    channels = (3, 4) if alpha else (3,)
    if pixels.ndim == 3 and pixels.shape[-1] in channels:
        pixels = pixels.reshape(-1, pixels.shape[-1])
    if pixels.ndim != 2 or pixels.shape[1] not in channels:
        shapes = "(n, 3), (n, 4), (h, w, 3) or (h, w, 4)" if alpha else "(n, 3) or (h, w, 3)"
        raise ValueError(f"pixels must have shape {shapes}, got {pixels.shape}")
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8 {'RGB(A)' if alpha else 'RGB'}, got dtype {pixels.dtype}")
    if len(pixels) == 0:
        raise ValueError("pixels is empty: the image has no pixels")
    return np.ascontiguousarray(pixels)


def unpack_rgb(packed: np.ndarray, channels: int = 3) -> np.ndarray:
    packed = packed.astype(np.uint32)
    shifts = (16, 8, 0) if channels == 3 else (24, 16, 8, 0)
    return np.stack([(packed >> s) & 255 for s in shifts], axis=1).astype(np.uint8)


def unique_colours(pixels: np.ndarray, return_inverse: bool = False):
    """Distinct colours of ``pixels`` (RGB or RGBA) with their pixel counts (and, optionally, each
    pixel's colour index)."""
    packed = pack_rgb(pixels)
    if return_inverse:
        values, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
        return unpack_rgb(values, pixels.shape[1]), counts, inverse.ravel()
    values, counts = np.unique(packed, return_counts=True)
    return unpack_rgb(values, pixels.shape[1]), counts


def clear_transparent(pixels: np.ndarray) -> np.ndarray:
    """RGBA pixels with the RGB of fully transparent ones set to 0: one invisible colour, not many.

    (RGB pixels are returned as they are.)
    """
    if pixels.shape[1] != 4:
        return pixels
    hidden = (pixels[:, 3] == 0) & pixels[:, :3].any(axis=1)
    if not hidden.any():
        return pixels
    pixels = pixels.copy()
    pixels[hidden, :3] = 0
    return pixels


def centres_to_palette(centres) -> np.ndarray:
    """Round cluster centres (RGB or straight RGBA) to uint8 colours; centres that round to the same
    colour merge (RGBA: every fully transparent one is (0, 0, 0, 0))."""
    palette = np.clip(np.rint(np.asarray(centres, dtype=np.float64)), 0, 255).astype(np.uint8)
    palette = clear_transparent(palette)
    _, first = np.unique(pack_rgb(palette), return_index=True)
    return palette[np.sort(first)]


def nearest_palette_index(palette: np.ndarray, pixels: np.ndarray, colour_space: str = "rgb") -> np.ndarray:
    """Index of the nearest palette colour (squared distance in ``colour_space``, ties to the lower index).

    Distances are computed once per distinct colour, then spread to the pixels: photos
    repeat colours, so this is several times less work than one distance per pixel.
    In RGB, squared distances between uint8 colours are integers below 2**24, so float32 is
    exact; in ``lab``/``oklab`` the distinct colours and the palette are converted once and
    compared in float64 (see :func:`kqbench.quantizers.colour.nearest_in_space`). An RGBA
    palette ((m, 4)) is searched in premultiplied RGBA, whatever ``colour_space``.
    """
    colours, _, inverse = unique_colours(pixels, return_inverse=True)
    space = PREMULTIPLIED if palette.shape[1] == 4 else check_colour_space(colour_space)
    if space == "rgb":
        nearest = pairwise_distances_argmin(colours.astype(np.float32), palette.astype(np.float32))
    else:
        nearest = nearest_in_space(to_space(colours, space), to_space(palette, space))
    return nearest[inverse]


# On opaque images of at least this many pixels, :meth:`Quantizer.fit` counts the colours and
# :meth:`Quantizer.predict` finds each pixel's palette colour with compiled code (numba, the stages of
# :func:`_large_stages`), not numpy's sort of the pixels: the same colours, counts and labels; at 24 MP in
# RGB the count 0.1 s instead of 0.4-1 s, the remap 0.05 s instead of 3.7-4.2 s, and a few hundred MB
# less. Below it, numpy takes a fraction of a second and nothing needs compiling.
COMPILED_PIXELS = 1 << 21
REMAP_STAGE = "rgb-remap"  # kqbench.quantizers.wu.nearest_labels (fast's stage of that name)
COUNT_STAGE = "fast-large"  # kqbench.quantizers.fast.table_colours (compiled with fast's large images)
SPACE_REMAP_STAGE = "fast-oklab"  # kqbench.quantizers.fast.labels_in_space (fast's Lab and Oklab stage)


def _large_stages(pixels, colour_space: str) -> tuple[str, ...]:
    """The compiled stages with which the base class counts and remaps ``pixels`` ((n, 3) or (h, w, 3)) in
    ``colour_space``; () where numpy does (small images, transparency)."""
    shape = np.shape(pixels)
    if len(shape) not in (2, 3) or shape[-1] != 3 or int(np.prod(shape[:-1])) < COMPILED_PIXELS:
        return ()
    return (REMAP_STAGE if colour_space == "rgb" else SPACE_REMAP_STAGE, COUNT_STAGE)


def compact_palette(labels: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop palette colours no pixel uses, renumbering labels (a PNG-8 should not store them)."""
    used = label_counts(labels, minlength=len(palette)) > 0
    dtype = np.uint8 if used.sum() <= 256 else np.uint16
    remap = (np.cumsum(used) - 1).astype(dtype)  # already the result's type: no 8 bytes a pixel on the way
    return remap[labels], palette[used]


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

    Transparency: RGBA pixels ((n, 4) uint8, straight alpha) give an RGBA palette. k-means
    subclasses cluster them in premultiplied RGBA (:func:`kqbench.quantizers.colour.premultiply`),
    where every fully transparent pixel is one point whatever its RGB, and centres go back to
    straight RGBA; :meth:`predict` assigns in that space too (see :attr:`alpha_support`).

    Attributes
    ----------
    palette_ : ndarray of shape (m, 3) or (m, 4), uint8
        The learnt palette, ``m <= n_colors``; distinct colours (RGBA for RGBA pixels; a fully
        transparent entry is (0, 0, 0, 0)).
    """

    # How a subclass handles RGBA pixels (images with transparency): "premultiplied" (its
    # _fit_centres clusters premultiplied RGBA coordinates, float32 (n, 4), like any colour
    # space), "straight" (it gets uint8 RGBA and returns straight RGBA centres), or None (it
    # cannot: fit raises ConfigurationError).
    alpha_support: str | None = "premultiplied"
    # What the quantizer is, written into every row (quantizer_family, quantizer_rank): the kind
    # of algorithm, and where it comes in the report's order (the question's KMeans first).
    family = "k-means"
    rank = 100
    # What the first fit in a process compiles (numba), in stages the sweep compiles ahead in a
    # background process, in this order (kqbench.measure.compile_in_background); () compiles nothing.
    compile_stages: tuple[str, ...] = ()

    @classmethod
    def compile_ahead(cls, stage: str | None = None) -> None:
        """Compile ``stage`` of :attr:`compile_stages` (None: every stage) on a small image, or load it
        from numba's cache (a no-op for a quantizer that compiles nothing); or one of the stages of the
        colour count and remap of large images (:meth:`fit`, :meth:`predict`: :func:`_large_stages`)."""
        pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        if stage == REMAP_STAGE:
            from .wu import compile_remap  # (wu.py imports this module)

            compile_remap(pixels.reshape(-1, 3))
        elif stage in (COUNT_STAGE, SPACE_REMAP_STAGE):
            from .fast import precompile  # (fast.py imports this module)

            precompile(stage)
        elif cls.compile_stages:
            cls(n_colors=16).fit(pixels).predict(pixels)

    def compile_needs(self, pixels=None, colours=None) -> tuple[str, ...]:
        """The stages of :attr:`compile_stages` that a fit and predict with these parameters use, on
        ``pixels`` when given (a job waits for these before its timed fit; ``colours``: their number of
        distinct colours, when known), else on any image (what a sweep compiles ahead); and the stages
        with which this class's :meth:`fit` counts a large image's colours and its :meth:`predict` remaps
        its pixels (:func:`_large_stages`; a sweep does not compile those ahead for it: its job loads or
        compiles them, untimed, when it meets such an image). A quantizer with a fit and predict of its
        own says what they need instead."""
        if pixels is None:
            return self.compile_stages
        return self.compile_stages + _large_stages(pixels, self._colour_space())

    @property
    def takes_alpha(self) -> bool:
        """Whether this quantizer, with these parameters, quantizes images with transparency."""
        try:
            self._check_alpha()
        except ConfigurationError:
            return False
        return True

    def __init__(self, n_colors: int = 16, random_state: int | None = 0, colour_space: str = "rgb"):
        self.n_colors = n_colors
        self.random_state = random_state
        self.colour_space = colour_space

    def _colour_space(self) -> str:
        return check_colour_space(getattr(self, "colour_space", "rgb"))

    def _check_alpha(self) -> None:
        """Raise ConfigurationError, naming what to do, when this quantizer cannot take RGBA pixels."""
        name = type(self).__name__
        if self.alpha_support is None:
            raise ConfigurationError(f"{name} quantizes opaque RGB only, and this image has transparency: "
                                     f"use a k-means quantizer (kmeans, unique, ...) or libimagequant, or alpha=drop")
        if self.alpha_support == "premultiplied" and self._colour_space() != "rgb":
            raise ConfigurationError(f"{name} clusters images with transparency in premultiplied RGBA, not "
                                     f"colour_space={self._colour_space()}: use colour_space=rgb, or alpha=drop")

    def fit(self, pixels) -> "Quantizer":
        """Learn the palette from ``pixels``: (n, 3) or (h, w, 3) uint8 RGB, or (n, 4) / (h, w, 4) RGBA."""
        k = self.n_colors
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"n_colors (k) must be a whole number >= 1, got {k!r}")
        pixels = check_pixels(pixels, alpha=True)
        if pixels.shape[1] == 4:
            self._check_alpha()
            pixels = clear_transparent(pixels)
            space = PREMULTIPLIED if self.alpha_support == "premultiplied" else "rgb"
        else:
            space = self._colour_space()
        count = unique_colours
        if _large_stages(pixels, space):
            from .fast import table_colours as count  # (fast.py imports this module)
        if space == "rgb":
            colours, counts = count(pixels)
            if len(colours) <= k:
                self.palette_ = colours
            else:
                self.palette_ = centres_to_palette(self._fit_centres(pixels, colours, counts, int(k)))
            return self
        colours, counts, inverse = count(pixels, return_inverse=True)
        if len(colours) <= k:
            self.palette_ = colours
            return self
        coords = to_space(colours, space).astype(np.float32)  # once per distinct colour
        centres = self._fit_centres(coords[inverse], coords, counts, int(k))
        self.palette_ = centres_to_palette(from_space(centres, space))
        return self

    def predict(self, pixels) -> np.ndarray:
        """Palette index of each pixel: the nearest palette colour (RGBA: in premultiplied RGBA)."""
        if not hasattr(self, "palette_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")
        pixels = check_pixels(pixels, alpha=True)
        if pixels.shape[1] != self.palette_.shape[1]:
            raise ValueError(f"pixels have {pixels.shape[1]} channels, the palette {self.palette_.shape[1]}")
        space = self._colour_space()
        if not _large_stages(pixels, space):
            return nearest_palette_index(self.palette_, pixels, space)
        if space == "rgb":
            from .wu import nearest_labels  # (wu.py imports this module)

            return nearest_labels(self.palette_, pixels)
        from .fast import labels_in_space

        return labels_in_space(self.palette_, pixels, space)

    def _fit_centres(self, pixels, colours, counts, k):  # pragma: no cover - abstract
        """Return k cluster centres (float, shape (k, 3)).

        ``pixels`` are all pixels; ``colours``/``counts`` the distinct colours and how many
        pixels have each (more colours than ``k`` by the time this is called). In RGB they
        are uint8; in another colour space, float32 coordinates in it, and the centres
        returned are in that space too.
        """
        raise NotImplementedError
