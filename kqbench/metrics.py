"""Quality measures of a quantized image against its source."""

from __future__ import annotations

import math

import numpy as np


def mse(original: np.ndarray, quantized: np.ndarray) -> float:
    """Mean squared error over all pixels and the three RGB channels (0-255 scale)."""
    if original.shape != quantized.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {quantized.shape}")
    diff = original.astype(np.int64) - quantized.astype(np.int64)
    return float(np.vdot(diff, diff) / diff.size)  # int64 sum of squares: exact


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
