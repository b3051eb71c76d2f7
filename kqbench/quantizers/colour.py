"""Colour spaces the k-means quantizers can cluster in: sRGB, CIELAB and Oklab.

Every function takes and returns ``(n, 3)`` arrays. sRGB is on the 0-255 scale (uint8 in,
float64 out); CIELAB (D65, 2° observer) is scikit-image's ``rgb2lab``/``lab2rgb``; Oklab is
Björn Ottosson's (https://bottosson.github.io/posts/oklab/): sRGB → linear sRGB → LMS
(matrix M1) → cube root → Oklab (matrix M2), and back through the inverse matrices.

Squared Euclidean distance in ``lab`` is the CIE76 ΔE² and in ``oklab`` is Oklab's ΔE²;
in ``rgb`` it is the plain RGB distance of the other quantizers.

Images with transparency are clustered in premultiplied RGBA (:func:`premultiply`, ``(n, 4)``),
the space pngquant/libimagequant also measure in: there, RGB under alpha 0 has no weight.
"""

from __future__ import annotations

import warnings

import numpy as np

COLOUR_SPACES = ("rgb", "lab", "oklab")

# Ottosson's matrices, as published: linear sRGB → LMS, and cube-rooted LMS → Oklab.
_M1 = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                [0.2119034982, 0.6806995451, 0.1073969566],
                [0.0883024619, 0.2817188376, 0.6299787005]])
_M2 = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                [1.9779984951, -2.4285922050, 0.4505937099],
                [0.0259040371, 0.7827717662, -0.8086757660]])
# The inverses are computed from them: Ottosson's published inverses agree to 6e-8, but being
# rounded they leave a round-trip error of ~4e-4 on the 0-255 scale; these leave ~1e-11.
_M1_INV = np.linalg.inv(_M1)
_M2_INV = np.linalg.inv(_M2)


def check_colour_space(name) -> str:
    """``name`` if it is a supported colour space, else ValueError naming the choices."""
    if name not in COLOUR_SPACES:
        raise ValueError(f"colour_space must be one of {', '.join(COLOUR_SPACES)}, got {name!r}")
    return name


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB transfer function inverted: encoded values in [0, 1] → linear light."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((np.abs(c) + 0.055) / 1.055) ** 2.4)


_SRGB_LINEAR = srgb_to_linear(np.arange(256) / 255.0)  # linear light of each 8-bit sRGB value


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """sRGB transfer function: linear light → encoded values (sign kept out of gamut)."""
    c = np.asarray(c, dtype=np.float64)
    a = np.abs(c)
    return np.sign(c) * np.where(a <= 0.0031308, 12.92 * a, 1.055 * a ** (1 / 2.4) - 0.055)


def _times(x, m) -> np.ndarray:
    """Rows of ``x`` (..., 3) times the 3x3 matrix ``m`` (``x @ m.T``), column by column.

    Not ``@``: for many rows BLAS splits this tiny product among threads, which costs far
    more than the arithmetic (30 ms for 100k rows on a busy machine, against 0.5 ms), and
    how a row is rounded could depend on the split; here every row is computed the same way.
    """
    return x[..., 0, None] * m[:, 0] + x[..., 1, None] * m[:, 1] + x[..., 2, None] * m[:, 2]


def rgb_to_oklab(rgb) -> np.ndarray:
    """sRGB (0-255) → Oklab (L in [0, 1], a and b about ±0.4)."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:  # the same values, looked up: the power function is most of the time
        linear = _SRGB_LINEAR[rgb]
    else:
        linear = srgb_to_linear(rgb.astype(np.float64) / 255.0)
    lms = _times(linear, _M1)
    return _times(np.cbrt(lms), _M2)


def oklab_to_rgb(lab) -> np.ndarray:
    """Oklab → sRGB (0-255, float, not clipped: out-of-gamut colours leave [0, 255])."""
    lms = _times(np.asarray(lab, dtype=np.float64), _M2_INV) ** 3
    return 255.0 * linear_to_srgb(_times(lms, _M1_INV))


def rgb_to_cielab(rgb) -> np.ndarray:
    """sRGB (0-255) → CIELAB (D65), via scikit-image."""
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb, dtype=np.float64).reshape(-1, 1, 3) / 255.0).reshape(-1, 3)


def cielab_to_rgb(lab) -> np.ndarray:
    """CIELAB (D65) → sRGB (0-255, float; scikit-image clips out-of-gamut colours)."""
    from skimage.color import lab2rgb

    with warnings.catch_warnings():  # "Color data out of range: Z < 0 in N pixels": clipped, as intended
        warnings.simplefilter("ignore", UserWarning)
        return 255.0 * lab2rgb(np.asarray(lab, dtype=np.float64).reshape(-1, 1, 3)).reshape(-1, 3)


def premultiply(rgba) -> np.ndarray:
    """Straight RGBA (0-255) → premultiplied (R·α, G·α, B·α, A) with α = A/255, float64 (n, 4).

    Squared distance here is what a compositor sees: colours under low alpha count little, and
    every fully transparent pixel is the same point (0, 0, 0, 0) whatever its RGB values.
    """
    rgba = np.asarray(rgba, dtype=np.float64).reshape(-1, 4)
    out = rgba.copy()
    out[:, :3] *= rgba[:, 3:] / 255.0
    return out


def unpremultiply(coords) -> np.ndarray:
    """Premultiplied RGBA → straight RGBA (0-255, float64, clipped); RGB is 0 where alpha rounds to 0."""
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 4)
    alpha = np.clip(coords[:, 3], 0.0, 255.0)
    out = np.zeros_like(coords)
    visible = np.rint(alpha) > 0
    out[visible, :3] = np.clip(coords[visible, :3] * (255.0 / alpha[visible, None]), 0.0, 255.0)
    out[:, 3] = alpha
    return out


# The space RGBA colours are clustered in; internal, chosen by the pixels' shape, not by a user.
PREMULTIPLIED = "premultiplied"


def to_space(rgb, space: str) -> np.ndarray:
    """sRGB colours (0-255) → coordinates in ``space`` (float64, shape (n, 3); (n, 4) for RGBA
    colours in :data:`PREMULTIPLIED`)."""
    if space == PREMULTIPLIED:
        return premultiply(rgb)
    check_colour_space(space)
    if space == "lab":
        return rgb_to_cielab(rgb)
    if space == "oklab":
        return rgb_to_oklab(rgb)
    return np.asarray(rgb, dtype=np.float64).reshape(-1, 3)


def from_space(coords, space: str) -> np.ndarray:
    """Coordinates in ``space`` → sRGB on the 0-255 scale (float64; round and clip to get uint8)."""
    if space == PREMULTIPLIED:
        return unpremultiply(coords)
    check_colour_space(space)
    if space == "lab":
        return cielab_to_rgb(coords)
    if space == "oklab":
        return oklab_to_rgb(coords)
    return np.asarray(coords, dtype=np.float64).reshape(-1, 3)


def nearest_in_space(points: np.ndarray, centres: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Index of the nearest centre for each point (squared Euclidean, float64, ties to the lower index).

    Computed directly, channel by channel (no ``|x|² - 2x·c + |c|²`` cancellation), so the
    answer is exactly the brute-force one.
    """
    points = np.asarray(points, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    out = np.empty(len(points), dtype=np.intp)
    for start in range(0, len(points), chunk):
        x = points[start:start + chunk]
        d = (x[:, 0, None] - centres[None, :, 0]) ** 2
        for channel in range(1, points.shape[1]):
            d += (x[:, channel, None] - centres[None, :, channel]) ** 2
        out[start:start + chunk] = d.argmin(axis=1)
    return out
