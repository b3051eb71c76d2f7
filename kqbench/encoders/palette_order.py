"""Palette order for PNG-8: which index each colour gets.

Reordering only renames colours (the palette is permuted, the labels remapped through the
inverse permutation), so the decoded RGB image is unchanged. It matters for the file size
because deflate sees the index bytes: with similar colours on nearby indices, neighbouring
pixels of a smooth region get nearby (often repeated) byte patterns.

Orders
------
as_is
    The palette as the quantizer returned it.
frequency
    Most used colour first (ties: original index).
luminance
    Darkest first, by Rec. 601 luma 0.299 R + 0.587 G + 0.114 B (ties: original index).
nearest_chain
    Greedy nearest-neighbour chain: start from the darkest colour, then repeatedly append
    the unused colour closest (squared RGB distance; ties: original index) to the last one,
    so consecutive indices hold similar colours.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigurationError
from ..pixels import label_counts

ORDERS = ("as_is", "frequency", "luminance", "nearest_chain")


def check_order(order: str) -> None:
    if order not in ORDERS:
        raise ConfigurationError(f"unknown palette order {order!r}: use one of {', '.join(ORDERS)}")


def _luma(palette: np.ndarray) -> np.ndarray:
    return palette[:, :3].astype(np.int64) @ np.array([299, 587, 114], dtype=np.int64)


def palette_permutation(labels: np.ndarray, palette: np.ndarray, order: str) -> np.ndarray:
    """``perm`` such that ``palette[perm]`` is the palette in ``order`` (new index i = old perm[i])."""
    check_order(order)
    m = len(palette)
    if order == "as_is" or m <= 1:
        return np.arange(m)
    if order == "frequency":
        counts = label_counts(labels, minlength=m)
        return np.argsort(-counts, kind="stable")
    luma = _luma(palette)
    if order == "luminance":
        return np.argsort(luma, kind="stable")
    # nearest_chain
    colours = palette.astype(np.int64)
    used = np.zeros(m, dtype=bool)
    perm = np.empty(m, dtype=np.int64)
    current = int(np.argmin(luma))  # first darkest colour
    for i in range(m):
        perm[i] = current
        used[current] = True
        if i == m - 1:
            break
        d = ((colours - colours[current]) ** 2).sum(axis=1)
        d[used] = np.iinfo(np.int64).max
        current = int(np.argmin(d))  # first index among equally close colours
    return perm


def permute_palette(labels: np.ndarray, palette: np.ndarray, perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, palette[perm])`` with the labels renumbered so the pixels stay the same colours."""
    inverse = np.empty(len(perm), np.uint8 if len(perm) <= 256 else np.intp)  # new labels: 1 byte a pixel for PNG-8
    inverse[perm] = np.arange(len(perm))
    return inverse[labels], palette[perm]


def reorder_palette(labels: np.ndarray, palette: np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, palette)`` with the palette in ``order``; ``new_palette[new_labels] == palette[labels]``."""
    perm = palette_permutation(labels, palette, order)
    if order == "as_is":
        return labels, palette
    return permute_palette(labels, palette, perm)


def translucent_first(labels: np.ndarray, palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An RGBA palette with its not-opaque entries first, each group in its order (a stable move).

    A PNG's tRNS chunk gives the alpha of the first entries only (the rest are opaque), so with
    the translucent ones first it stops at the last of them; pypng requires this order. An RGB
    palette is returned as it is.
    """
    if palette.shape[1] != 4:
        return labels, palette
    perm = np.argsort(palette[:, 3] == 255, kind="stable")
    if (perm == np.arange(len(perm))).all():
        return labels, palette
    return permute_palette(labels, palette, perm)


def palette_layout(labels: np.ndarray, palette: np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray]:
    """The palette as a PNG-8 writer lays it out: in ``order``, translucent entries (if any) first."""
    return translucent_first(*reorder_palette(labels, palette, order))


def chain_distance(palette: np.ndarray) -> float:
    """Sum of Euclidean RGB distances between consecutive palette entries (smaller: smoother order)."""
    steps = np.diff(palette.astype(np.float64), axis=0)
    return float(np.sqrt((steps ** 2).sum(axis=1)).sum())
