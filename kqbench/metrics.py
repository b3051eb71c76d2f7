"""Quality measures of a quantized image against its source."""

from __future__ import annotations

import math

import numpy as np


def mse(original: np.ndarray, quantized: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (0-255 scale).

    RGB: over the three channels. RGBA ((..., 4), straight alpha): over the four channels of
    premultiplied RGBA (R·α, G·α, B·α, A with α = A/255), the error a compositor sees, and what
    the quantizers minimise for such images: colour differences under full transparency cost
    nothing. Exact in both cases (integer sums).
    """
    if original.shape != quantized.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {quantized.shape}")
    if original.ndim >= 2 and original.shape[-1] == 4:
        return _premultiplied_mse(original.reshape(-1, 4), quantized.reshape(-1, 4))
    a, b = original.reshape(-1), quantized.reshape(-1)
    total, step = 0, 1 << 22  # int64 in blocks: exact, without 8 bytes per value of a 24 MP image at once
    for i in range(0, a.size, step):
        diff = a[i:i + step].astype(np.int64) - b[i:i + step].astype(np.int64)
        total += int(np.vdot(diff, diff))
    return total / a.size if a.size else 0.0


def _premultiplied_mse(a: np.ndarray, b: np.ndarray) -> float:
    """Premultiplied RGBA MSE on the 0-255 scale, summed as integers: (c·A - c'·A')² / 255² per colour channel."""
    total, step = 0, 1 << 20
    for i in range(0, len(a), step):
        x, y = a[i:i + step].astype(np.int64), b[i:i + step].astype(np.int64)
        colour = x[:, :3] * x[:, 3:] - y[:, :3] * y[:, 3:]
        alpha = (x[:, 3] - y[:, 3]) * 255
        total += int(np.vdot(colour, colour)) + int(np.vdot(alpha, alpha))
    return total / (255 * 255 * 4 * len(a)) if len(a) else 0.0


def max_error(original: np.ndarray, quantized: np.ndarray) -> float:
    """The largest difference of any channel of any pixel (0-255 scale): the worst pixel, which a mean hides.

    RGBA ((..., 4), straight alpha): over premultiplied RGBA, as :func:`mse` (|c·A - c'·A'| / 255
    per colour channel, |A - A'| for alpha).
    """
    if original.shape != quantized.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {quantized.shape}")
    if original.size == 0:
        return 0.0
    if original.shape[-1] == 4:
        a, b = original.reshape(-1, 4).astype(np.int32), quantized.reshape(-1, 4).astype(np.int32)
        colour = np.abs(a[:, :3] * a[:, 3:] - b[:, :3] * b[:, 3:]).max()
        return max(float(colour) / 255, float(np.abs(a[:, 3] - b[:, 3]).max()))
    return float(np.abs(original.astype(np.int16) - quantized.astype(np.int16)).max())


def composite_on_black(rgba: np.ndarray) -> np.ndarray:
    """RGBA (..., 4) uint8 → the RGB seen over black (premultiplied, rounded), (..., 3) uint8."""
    rgba = np.asarray(rgba)
    visible = (rgba[..., :3].astype(np.uint32) * rgba[..., 3:] + 127) // 255
    return visible.astype(np.uint8)


def psnr(mse_value: float, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for a lossless result."""
    return math.inf if mse_value == 0 else 10.0 * math.log10(peak * peak / mse_value)


def label_entropy(labels: np.ndarray) -> float:
    """Shannon entropy of the label histogram, in bits per pixel.

    What an ideal order-0 coder would spend per index: a reference for the PNG-8 IDAT.
    """
    counts = np.bincount(np.asarray(labels).ravel())
    p = counts[counts > 0] / labels.size
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def _pack(rgb: np.ndarray) -> np.ndarray:
    p = np.asarray(rgb).reshape(-1, 3).astype(np.uint32)
    return (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]


def _packed_to_lab(packed: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    rgb = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=-1)
    return rgb2lab((rgb.astype(np.float64) / 255.0).reshape(-1, 1, 3)).reshape(-1, 3)


def mean_delta_e2000(original_rgb: np.ndarray, quantized_rgb: np.ndarray) -> float:
    """Mean CIEDE2000 colour difference (ΔE00) between two RGB images, over pixels.

    Both are uint8 sRGB, converted to CIELAB (D65) with scikit-image; RGBA images are first
    composited over black (:func:`composite_on_black`), so alpha errors count as the darkening
    or lightening they cause. ΔE00 is computed once
    per distinct (original colour, quantized colour) pair and weighted by how many pixels
    have that pair: the same mean as one ΔE00 per pixel (up to float rounding), at the cost
    of the image's distinct colours rather than its pixels. Pairs of identical colours
    count 0, so a lossless result gives exactly 0.
    """
    import pandas as pd
    from skimage.color import deltaE_ciede2000

    if original_rgb.shape != quantized_rgb.shape:
        raise ValueError(f"shapes differ: {original_rgb.shape} vs {quantized_rgb.shape}")
    if original_rgb.shape[-1] == 4:
        original_rgb, quantized_rgb = composite_on_black(original_rgb), composite_on_black(quantized_rgb)
    pa, pb = _pack(original_rgb), _pack(quantized_rgb)
    if len(pa) == 0:
        raise ValueError("the images have no pixels")
    differ = pa != pb
    # Distinct (original, quantized) pairs and their pixel counts; hashing, not sorting.
    codes, pairs = pd.factorize((pa[differ].astype(np.uint64) << np.uint64(24)) | pb[differ])
    if len(pairs) == 0:
        return 0.0
    counts = np.bincount(codes, minlength=len(pairs)).astype(np.float64)
    pairs = np.asarray(pairs, dtype=np.uint64)
    lab_a = _packed_to_lab((pairs >> np.uint64(24)).astype(np.uint32))
    # Quantized colours repeat across pairs (a palette has few): convert each once.
    b_codes, b_colours = pd.factorize((pairs & np.uint64(0xFFFFFF)).astype(np.uint32))
    lab_b = _packed_to_lab(np.asarray(b_colours, dtype=np.uint32))[b_codes]
    de = deltaE_ciede2000(lab_a, lab_b, channel_axis=-1)
    return float(np.dot(de, counts) / len(pa))
