"""Quality measures of a quantized image against its source.

Each reads the images a band of :data:`kqbench.pixels.BAND_PIXELS` pixels at a time, so its temporaries
stay a few MB whatever the image's size (the values are those of the whole-image formulas, exactly).
"""

from __future__ import annotations

import functools
import math
import weakref
from collections import OrderedDict

import numpy as np

from .pixels import BAND_PIXELS, label_counts, pack_rgb


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
    total = 0  # int64 in bands: exact, without 8 bytes per value of the whole image at once
    for i in range(0, a.size, BAND_PIXELS):
        diff = a[i:i + BAND_PIXELS].astype(np.int64) - b[i:i + BAND_PIXELS].astype(np.int64)
        total += int(np.vdot(diff, diff))
    return total / a.size if a.size else 0.0


def _premultiplied_mse(a: np.ndarray, b: np.ndarray) -> float:
    """Premultiplied RGBA MSE on the 0-255 scale, summed as integers: (c·A - c'·A')² / 255² per colour channel."""
    total = 0
    for x, y in _bands(a, b, step=BAND_PIXELS // 4):
        x, y = x.astype(np.int64), y.astype(np.int64)
        colour = x[:, :3] * x[:, 3:] - y[:, :3] * y[:, 3:]
        alpha = (x[:, 3] - y[:, 3]) * 255
        total += int(np.vdot(colour, colour)) + int(np.vdot(alpha, alpha))
    return total / (255 * 255 * 4 * len(a)) if len(a) else 0.0


def _bands(*images: np.ndarray, step: int = BAND_PIXELS):
    """The images' pixels as (n, channels) arrays, ``step`` pixels at a time, side by side."""
    flat = [im.reshape(-1, im.shape[-1]) for im in images]
    for i in range(0, len(flat[0]), step):
        yield tuple(f[i:i + step] for f in flat)


def max_error(original: np.ndarray, quantized: np.ndarray) -> float:
    """The largest difference of any channel of any pixel (0-255 scale): the worst pixel, which a mean hides.

    RGBA ((..., 4), straight alpha): over premultiplied RGBA, as :func:`mse` (|c·A - c'·A'| / 255
    per colour channel, |A - A'| for alpha).
    """
    if original.shape != quantized.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {quantized.shape}")
    if original.size == 0:
        return 0.0
    worst = 0.0
    for a, b in _bands(original, quantized):
        if a.shape[-1] == 4:
            a, b = a.astype(np.int32), b.astype(np.int32)
            colour = np.abs(a[:, :3] * a[:, 3:] - b[:, :3] * b[:, 3:]).max()
            worst = max(worst, float(colour) / 255, float(np.abs(a[:, 3] - b[:, 3]).max()))
        else:
            worst = max(worst, float(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()))
    return worst


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
    counts = label_counts(labels)
    p = counts[counts > 0] / labels.size
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


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
    # One BLAS thread: its only BLAS calls here (a 3x3 colour matrix product, a dot of the pair counts) gain
    # nothing from two, and OpenBLAS's idle threads spin after each call, taking the core a sweep's background
    # work (its numba compile) gets between timed calls: 40 ms of CPU per 20 ms call on 0.27 MP. One thread
    # also sums the pairs in the same order on every machine.
    with _thread_pools().limit(limits=1, user_api="blas"):
        return _mean_delta_e2000(original_rgb, quantized_rgb)


@functools.cache
def _thread_pools():
    """The process's thread pools (threadpoolctl), found once: finding them reads the loaded libraries' files,
    0.7 ms a call against 0.015 ms for limiting the ones found. (The BLAS that matters here is numpy's, loaded
    with numpy, so always among them.)"""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _mean_delta_e2000(original_rgb: np.ndarray, quantized_rgb: np.ndarray) -> float:
    import pandas as pd
    from skimage.color import deltaE_ciede2000

    if original_rgb.shape != quantized_rgb.shape:
        raise ValueError(f"shapes differ: {original_rgb.shape} vs {quantized_rgb.shape}")
    n_pixels = original_rgb.size // original_rgb.shape[-1] if original_rgb.ndim else 0
    if n_pixels == 0:
        raise ValueError("the images have no pixels")
    pairs = _pairs_by_source_colour(original_rgb, quantized_rgb) if n_pixels <= BAND_PIXELS else None
    if pairs is None:
        pairs, counts = _differing_pairs(original_rgb, quantized_rgb)
        a_colours, b_colours, lab_a = (pairs >> np.uint64(24)).astype(np.uint32), (pairs & np.uint64(0xFFFFFF)).astype(np.uint32), None
    else:
        a_colours, b_colours, lab_a, counts = pairs
    if len(counts) == 0:
        return 0.0
    # Quantized colours repeat across pairs (a palette has few): convert each once.
    b_codes, b_unique = pd.factorize(b_colours)
    lab_b = _packed_to_lab(np.asarray(b_unique, dtype=np.uint32))
    de = np.empty(len(counts))
    for i in range(0, len(counts), _LAB_PAIRS):  # CIELAB and ΔE00 are per pair: bands bound the temporaries
        band_a = lab_a[i:i + _LAB_PAIRS] if lab_a is not None else _packed_to_lab(a_colours[i:i + _LAB_PAIRS])
        de[i:i + _LAB_PAIRS] = deltaE_ciede2000(band_a, lab_b[b_codes[i:i + _LAB_PAIRS]], channel_axis=-1)
    return float(np.dot(de, counts) / n_pixels)


_LAB_PAIRS = 1 << 16


class _SourceColours:
    """What ΔE00 needs of an image, the same for every quantization of it: its distinct colours (RGBA:
    composited on black) in order of first appearance, each pixel's index among them, how many pixels
    have each, and their CIELAB."""

    def __init__(self, image: np.ndarray):
        import pandas as pd

        codes, colours = pd.factorize(_packed_visible(image.reshape(-1, image.shape[-1])))
        self.codes = codes.astype(np.int32)
        self.colours = np.asarray(colours, np.uint32)
        self.counts = np.bincount(codes, minlength=len(colours)).astype(float)
        self.lab = np.concatenate([np.empty((0, 3)), *(_packed_to_lab(self.colours[i:i + _LAB_PAIRS])
                                                       for i in range(0, len(colours), _LAB_PAIRS))])


# The last few images' _SourceColours, by the identity of their pixel array (a sweep measures every
# quantization of an image against the same array: kqbench.datasets keeps each loaded image).
_SOURCE_COLOURS: "OrderedDict[int, tuple[weakref.ref, _SourceColours]]" = OrderedDict()
_SOURCE_COLOURS_KEPT = 8


def _source_colours(image: np.ndarray) -> _SourceColours:
    entry = _SOURCE_COLOURS.pop(id(image), None)
    if entry is None or entry[0]() is not image:  # (an id is reused once its array is gone)
        entry = (weakref.ref(image), _SourceColours(image))
    _SOURCE_COLOURS[id(image)] = entry
    while len(_SOURCE_COLOURS) > _SOURCE_COLOURS_KEPT:
        _SOURCE_COLOURS.popitem(last=False)
    return entry[1]


def _pairs_by_source_colour(original: np.ndarray, quantized: np.ndarray):
    """When every pixel of one original colour has the same quantized colour (no dithering): the pairs of
    :func:`_differing_pairs` in the same order, as (original colours, quantized colours, the originals'
    CIELAB, pixel counts), from the original's :class:`_SourceColours` rather than from every pixel's
    pair. Otherwise None."""
    source = _source_colours(original)
    packed = _packed_visible(quantized.reshape(-1, quantized.shape[-1]))
    became = np.empty(len(source.colours), np.uint32)
    became[source.codes] = packed
    if not np.array_equal(became[source.codes], packed):
        return None
    # a pair first appears where its original colour first appears: the order of source.colours
    differ = np.flatnonzero(became != source.colours)
    return source.colours[differ], became[differ], source.lab[differ], source.counts[differ]


def _packed_visible(pixels: np.ndarray) -> np.ndarray:
    """(n, 3|4) pixels as ``0xRRGGBB`` uint32, RGBA composited on black first: the colours ΔE00 compares."""
    return pack_rgb(composite_on_black(pixels) if pixels.shape[-1] == 4 else pixels)


def _packed_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The (a colour, b colour) pairs of the pixels where ``a`` and ``b`` differ, packed as int64
    ``0xRRGGBB << 24 | 0xRRGGBB``; RGBA composited on black first."""
    pa, pb = _packed_visible(a), _packed_visible(b)
    differ = pa != pb
    return (pa[differ].astype(np.int64) << 24) | pb[differ]


def _differing_pairs(original_rgb: np.ndarray, quantized_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (original colour, quantized colour) pairs of the pixels that differ, packed as
    ``0xRRGGBB << 24 | 0xRRGGBB`` (uint64) in the order they first appear (as ``pd.factorize`` orders
    them), and how many pixels have each (float64). RGBA: composited on black first.

    Up to :data:`BAND_PIXELS` pixels, one ``pd.factorize`` (temporaries at most 44 MB; 4x faster than
    the band loop on a 0.27 MP photo). Larger images are counted band by band in one hash table of
    pandas' (pair -> its index), which each band's new pairs join in order of first appearance: memory
    follows the distinct pairs, not the pixels. (pandas' incremental Factorizer copies all the pairs so
    far at every call.)
    """
    import pandas as pd
    from pandas._libs.hashtable import Int64HashTable

    flat = [im.reshape(-1, im.shape[-1]) for im in (original_rgb, quantized_rgb)]
    if len(flat[0]) <= BAND_PIXELS:
        codes, pairs = pd.factorize(_packed_pairs(*flat))
        return np.asarray(pairs, np.int64).view(np.uint64), np.bincount(codes, minlength=len(pairs)).astype(float)
    step = BAND_PIXELS // 4  # (each band's temporaries: 11 MB)
    bands = (_packed_pairs(a, b) for a, b in _bands(*flat, step=step))
    index = Int64HashTable(BAND_PIXELS)
    found, n_found = [], 0
    counts = np.zeros(step)
    for pairs in bands:
        codes = index.lookup(pairs)
        if (codes < 0).any():
            new = pd.unique(pairs[codes < 0])  # in order of first appearance
            index.map_keys_to_values(new, np.arange(n_found, n_found + len(new)))
            found.append(new)
            n_found += len(new)
            codes = index.lookup(pairs)
            if n_found > len(counts):  # room for twice as many: grown a few times, not every band
                counts = np.pad(counts, (0, 2 * n_found - len(counts)))
        counts[:n_found] += np.bincount(codes, minlength=n_found)
    return np.concatenate([np.empty(0, np.int64), *found]).view(np.uint64), counts[:n_found]


# --- SSIMULACRA 2.1 ---------------------------------------------------------------------------------------------
#
# Written for kqbench from the published description of the metric (Jon Sneyers, Cloudinary, 2022-2023; the
# reference is the BSD-licensed ``ssimulacra2`` tool of libjxl and cloudinary/ssimulacra2) and of the blur it
# uses (D. Charalampidis, "Recursive implementation of the Gaussian filter using truncated cosine functions",
# IEEE Trans. Signal Processing 64(14), 2016). The 108 weights and the final polynomial are the metric's
# published constants (version 2.1, April 2023).

_S2_WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0, 0.0004371155730107379, 0.0,
    1.1041726426657346, 0.00066284834129271, 0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0,
    1.8422455520539298, 11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
    1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072, 0.9677937080626833, 0.0,
    0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0,
    0.0013648766163243398, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0, 0.0,
    34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0008680556573291698, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0004179171803251336, 0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0, 8.826982764996862,
    23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493,
    171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
])
_S2_SCALES = 6
_S2_C2 = 0.0009
# XYB (JPEG XL's opsin absorbance): linear sRGB → LMS-like mix plus a bias, cube root, bias's cube root removed.
_OPSIN = np.array([[0.30, 0.622, 0.078],
                   [0.23, 0.692, 0.078],
                   [0.24342268924547819, 0.20476744424496821, 0.55180986650955360]], dtype=np.float32)
_OPSIN_BIAS = np.float32(0.0037930732552754493)


def _recursive_gaussian_kernel(sigma: float = 1.5) -> np.ndarray:
    """The blur of SSIMULACRA2: Charalampidis' recursive Gaussian as the finite kernel it is.

    The recursive filter is three second-order resonators (cosines of frequencies k·π/(2N),
    k = 1, 3, 5) fed with the input N+1 samples ahead and behind: its impulse response is exactly the
    truncated cosine sum h(m) = Σ β_k cos(ω_k m) for |m| ≤ N (zero at ±N) and 0 beyond, with N and
    β_k as the paper derives them (its equations 37-57). Applied by direct convolution, with the
    image zero outside its borders, as the recursion is.
    """
    n = round(3.2795 * sigma + 0.2546)  # the paper's (57)
    omega = np.pi / (2 * n) * np.array([1.0, 3.0, 5.0])
    sign = np.array([1.0, -1.0, 1.0])
    p = sign / np.tan(omega / 2)  # (37)
    r = sign * p * p / np.sin(omega)  # (44)
    rho = np.exp(-0.5 * sigma * sigma * omega * omega) / n  # (50)
    d13, d35, d51 = p[0] * r[1] - r[0] * p[1], p[1] * r[2] - r[1] * p[2], p[2] * r[0] - r[2] * p[0]  # (52)
    zeta = np.array([d35 / d13, d51 / d13, 1.0])
    beta = np.linalg.solve(np.array([p, r, zeta]), [1.0, n * n - sigma * sigma, zeta @ rho])  # (53)-(56)
    m = np.arange(-n + 1, n)
    return (beta[:, None] * np.cos(omega[:, None] * m)).sum(axis=0)


_S2_KERNEL = _recursive_gaussian_kernel(1.5)


# The two perceptual metrics work on horizontal strips of rows (with the rows their blur reads above and
# below), so their temporaries are bounded by the strip, not the image; the next scale's half-size planes are
# the only image-sized arrays (a quarter of the pixels, float32). The result is the same as on the whole image.
_STRIP_PIXELS = 1 << 15  # 32K pixels: fastest of 4K-64K and the whole image (0.27 and 1 MP photos)


def _row_strips(height: int, width: int, halo: int):
    """(first, stop) row ranges covering ``height`` rows: an even number of rows each (the last may be odd),
    about :data:`_STRIP_PIXELS` pixels, and at least ``4 * halo`` rows."""
    rows = max(4 * halo, _STRIP_PIXELS // max(width, 1))
    rows += rows % 2
    for first in range(0, height, rows):
        yield first, min(height, first + rows)


def _rows_of(planes: np.ndarray):
    """A row reader of (3, h, w) planes: ``read(first, stop)`` is the (3, stop - first, w) slice."""
    return lambda first, stop: planes[:, first:stop]


def _s2_blur(planes: np.ndarray) -> np.ndarray:
    """Blur (..., h, w) float32 planes along the last two axes, zero outside them."""
    from scipy.ndimage import correlate1d

    out = correlate1d(planes, _S2_KERNEL, axis=-1, mode="constant")
    return correlate1d(out, _S2_KERNEL, axis=-2, mode="constant", output=out)


def _srgb_to_linear_lut() -> np.ndarray:
    c = np.arange(256) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


_LINEAR = _srgb_to_linear_lut()


def _positive_xyb(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB planes (3, h, w) → SSIMULACRA2's XYB, shifted and scaled to about 0..1: (X, Y, B-Y)."""
    mixed = np.tensordot(_OPSIN, linear, axes=1)
    mixed += _OPSIN_BIAS
    np.maximum(mixed, 0, out=mixed)
    np.cbrt(mixed, out=mixed)
    mixed -= np.cbrt(_OPSIN_BIAS)
    l, m, s = mixed
    y = 0.5 * (l + m)
    return np.stack([0.5 * (l - m) * 14.0 + 0.42, y + 0.01, (s - y) + 0.55])


def _half(planes: np.ndarray) -> np.ndarray:
    """(3, h, w) → (3, ⌈h/2⌉, ⌈w/2⌉): means of 2×2 blocks, the last row and column repeated when odd."""
    h, w = planes.shape[1:]
    if h % 2 or w % 2:
        planes = np.pad(planes, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (planes[:, 0::2, 0::2] + planes[:, 1::2, 0::2] + planes[:, 0::2, 1::2] + planes[:, 1::2, 1::2])


def _sums(maps: np.ndarray) -> np.ndarray:
    """Per plane of non-negative maps (3, h, w): the sum and the sum of 4th powers, in float64, shape (3, 2)."""
    sq = maps * maps
    return np.stack([maps.sum(axis=(-2, -1), dtype=np.float64), (sq * sq).sum(axis=(-2, -1), dtype=np.float64)], -1)


def _s2_strip(lin1: np.ndarray, lin2: np.ndarray, keep: slice) -> np.ndarray:
    """The error sums of one strip of linear planes (3, rows, w) whose rows ``keep`` are its own (the others
    are read by the blur only): (3 channels, 3 maps: ssim, ringing, blurring, 2: sum, sum of 4th powers)."""
    x1, x2 = _positive_xyb(lin1), _positive_xyb(lin2)
    mu1, mu2, s11, s22, s12 = (b[:, keep] for b in _s2_blur(np.stack([x1, x2, x1 * x1, x2 * x2, x1 * x2])))
    x1, x2 = x1[:, keep], x2[:, keep]
    mu12 = mu1 * mu2
    # SSIM without the luminance term's denominator (2.1's correction), as an error: 1 - SSIM', clamped at 0
    num_m = 1.0 - (mu1 - mu2) ** 2
    num_s = 2.0 * (s12 - mu12) + _S2_C2
    den_s = (s11 - mu1 * mu1) + (s22 - mu2 * mu2) + _S2_C2
    ssim_err = np.maximum(1.0 - num_m * num_s / den_s, 0.0)
    # > 0: the result has edges where the source is smooth (ringing, banding); < 0: it lost them (blurring)
    edge = (1.0 + np.abs(x2 - mu2)) / (1.0 + np.abs(x1 - mu1)) - 1.0
    return np.stack([_sums(ssim_err), _sums(np.maximum(edge, 0.0)), _sums(np.maximum(-edge, 0.0))], axis=1)


def _ssimulacra2_scales(read1, read2, height: int, width: int) -> float:
    """SSIMULACRA2 of two images given as row readers of their linear-sRGB planes (``read(first, stop)`` →
    (3, stop - first, width) float32), strip by strip at each of the 6 scales."""
    halo = len(_S2_KERNEL) // 2
    norms = []  # per scale: (3 channels, 2 norms, 3 maps)
    for scale in range(_S2_SCALES):
        half_h, half_w = (height + 1) // 2, (width + 1) // 2
        # as the reference: a scale is computed when the one before is at least 8x8 (it may itself be smaller)
        more = scale + 1 < _S2_SCALES and min(height, width) >= 8
        if more:
            half1, half2 = (np.empty((3, half_h, half_w), np.float32) for _ in range(2))
        sums = np.zeros((3, 3, 2))
        for first, stop in _row_strips(height, width, halo):
            top, bottom = max(0, first - halo), min(height, stop + halo)
            lin1, lin2 = read1(top, bottom), read2(top, bottom)
            keep = slice(first - top, stop - top)
            sums += _s2_strip(lin1, lin2, keep)
            if more:
                half1[:, first // 2:(stop + 1) // 2] = _half(lin1[:, keep])
                half2[:, first // 2:(stop + 1) // 2] = _half(lin2[:, keep])
        n = height * width
        norms.append(np.stack([sums[..., 0] / n, np.sqrt(np.sqrt(sums[..., 1] / n))], axis=1))  # (3, 2, 3)
        if not more:
            break
        read1, read2 = _rows_of(half1), _rows_of(half2)
        height, width = half_h, half_w
    # The weights run channel by channel over the scales computed (as the reference indexes them).
    values = np.abs(np.stack(norms, axis=1)).ravel()  # (channel, scale, norm, map)
    score = float(values @ _S2_WEIGHTS[:len(values)]) * 0.9562382616834844
    score = 2.326765642916932 * score - 0.020884521182843837 * score ** 2 + 6.248496625763138e-05 * score ** 3
    return 100.0 - 10.0 * score ** 0.6276336467831387 if score > 0 else 100.0


def _ssimulacra2_linear(lin1: np.ndarray, lin2: np.ndarray) -> float:
    """SSIMULACRA2 of two linear-sRGB images as (3, h, w) float32 planes."""
    return _ssimulacra2_scales(_rows_of(lin1), _rows_of(lin2), *lin1.shape[1:])


def ssimulacra2(original: np.ndarray, result: np.ndarray) -> float:
    """SSIMULACRA 2.1 score of ``result`` against ``original`` (uint8 sRGB; higher is better).

    100 for identical images; the reference's reading: 90 visually lossless, 80 very high, 70 high,
    50 medium, 30 low quality, 10 very low, negative extremely low. Multi-scale (6 scales, halved in
    linear light) SSIM and edge-difference (ringing, blurring) maps in a rescaled XYB, their 1- and
    4-norms weighted into one score. kqbench's own numpy/scipy implementation, checked against
    the reference tool's scores (tests/test_perceptual.py). NaN for an image smaller than 8×8 (the
    reference refuses those). Computed in strips of rows: its temporaries are a few MB and the
    image-sized arrays about twice the RGB image's size (the second scale's planes, float32).

    RGBA ((..., 4), straight alpha): as the reference tool, both images are blended over a dark
    (10 %) and a light (90 %) grey in sRGB, and the lower of the two scores is the score.
    """
    if original.shape != result.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {result.shape}")
    height, width = original.shape[:2]
    if height < 8 or width < 8:
        return math.nan
    if original.shape[-1] == 4:
        return min(_ssimulacra2_scales(_blended_rows(original, bg), _blended_rows(result, bg), height, width)
                   for bg in (0.1, 0.9))
    return _ssimulacra2_scales(_linear_rows(original), _linear_rows(result), height, width)


def _linear_rows(rgb: np.ndarray):
    """Row reader of uint8 sRGB (h, w, 3) as linear planes (3, rows, w) float32."""
    return lambda first, stop: _LINEAR[np.moveaxis(rgb[first:stop], -1, 0)]


def _blended_linear(rgba: np.ndarray, bg: float) -> np.ndarray:
    """Straight RGBA uint8 over a grey of sRGB value ``bg`` (0..1), blended in sRGB, as linear planes (3, h, w)."""
    planes = np.moveaxis(rgba, -1, 0).astype(np.float32) / np.float32(255)
    alpha = planes[3]
    c = planes[:3] * alpha + (1 - alpha) * np.float32(bg)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _blended_rows(rgba: np.ndarray, bg: float):
    """Row reader of :func:`_blended_linear`."""
    return lambda first, stop: _blended_linear(rgba[first:stop], bg)


# --- DSSIM-style: multi-scale SSIM in CIELAB ----------------------------------------------------------------------

# Wang, Simoncelli & Bovik, "Multi-scale structural similarity for image quality assessment" (2003): the weights
# of the five scales, fitted to their subjective tests.
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_SSIM_RADIUS = 5  # the Gaussian window of Wang et al. (2004): σ = 1.5, 11 taps (scikit-image's truncate=3.5)
_SSIM_KERNEL = np.exp(-0.5 * (np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1) / 1.5) ** 2)
_SSIM_KERNEL /= _SSIM_KERNEL.sum()
_LAB_RANGE = 100.0  # data range of L*; a* and b* use the same constants
# sRGB (linear) → CIE XYZ, and the D65 (2°) white point: scikit-image's rgb2lab constants.
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_D65 = np.array([0.95047, 1.0, 1.08883])


def _lab_planes(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (h, w, 3) → CIELAB (D65) planes (3, h, w) float32: scikit-image's rgb2lab, in float32."""
    xyz = np.tensordot((_XYZ_FROM_RGB / _D65[:, None]).astype(np.float32), _LINEAR[np.moveaxis(rgb, -1, 0)], axes=1)
    small = xyz <= 0.008856
    f = np.cbrt(xyz)
    f[small] = 7.787 * xyz[small] + 16.0 / 116.0
    return np.stack([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def _ssim_strip(x: np.ndarray, y: np.ndarray, keep: slice) -> np.ndarray:
    """Sum over the rows ``keep`` of one strip (3, rows, w) of the SSIM map, per channel, with the image's
    5-pixel side margins left out (the rows outside ``keep`` are read by the window only)."""
    from scipy.ndimage import correlate1d

    stack = np.stack([x, y, x * x, y * y, x * y])
    correlate1d(stack, _SSIM_KERNEL, axis=-1, mode="reflect", output=stack)
    correlate1d(stack, _SSIM_KERNEL, axis=-2, mode="reflect", output=stack)
    r = _SSIM_RADIUS
    mx, my, mxx, myy, mxy = stack[:, :, keep, r:-r]
    c1, c2 = (0.01 * _LAB_RANGE) ** 2, (0.03 * _LAB_RANGE) ** 2
    mxy -= mx * my  # covariance
    mxx -= mx * mx
    myy -= my * my
    s = (2 * mx * my + c1) * (2 * mxy + c2) / ((mx * mx + my * my + c1) * (mxx + myy + c2))
    return s.sum(axis=(-2, -1), dtype=np.float64)


def _mean_ssim_scales(read1, read2, height: int, width: int) -> float:
    """:func:`ms_ssim_lab` of two images given as row readers of their CIELAB planes."""
    r = _SSIM_RADIUS
    total = weights = 0.0
    for scale, weight in enumerate(_MS_SSIM_WEIGHTS):
        if min(height, width) < 2 * r + 1:
            break
        half_h, half_w = (height + 1) // 2, (width + 1) // 2
        more = scale + 1 < len(_MS_SSIM_WEIGHTS) and min(half_h, half_w) >= 2 * r + 1
        if more:
            half1, half2 = (np.empty((3, half_h, half_w), np.float32) for _ in range(2))
        sums = np.zeros(3)
        for first, stop in _row_strips(height, width, r):
            top, bottom = max(0, first - r), min(height, stop + r)
            x, y = read1(top, bottom), read2(top, bottom)
            counted = slice(max(first, r) - top, min(stop, height - r) - top)  # the image's margins left out
            if counted.stop > counted.start:
                sums += _ssim_strip(x, y, counted)
            if more:
                keep = slice(first - top, stop - top)
                half1[:, first // 2:(stop + 1) // 2] = _half(x[:, keep])
                half2[:, first // 2:(stop + 1) // 2] = _half(y[:, keep])
        total += weight * float(sums.mean()) / ((height - 2 * r) * (width - 2 * r))
        weights += weight
        if more:
            read1, read2 = _rows_of(half1), _rows_of(half2)
        height, width = half_h, half_w
    return total / weights if weights else math.nan


def _mean_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of (3, h, w) float32 planes, averaged over channels: scikit-image's ``structural_similarity``
    with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=100`` (a Gaussian window
    of 11 taps, image borders mirrored, the 5-pixel margin left out of the mean), in float32."""
    r = _SSIM_RADIUS
    h, w = x.shape[1:]
    return float(_ssim_strip(x, y, slice(r, h - r)).mean()) / ((h - 2 * r) * (w - 2 * r))


def _lab_rows(rgb: np.ndarray):
    """Row reader of uint8 sRGB (h, w, 3), or RGBA composited on black, as CIELAB planes (3, rows, w)."""
    if rgb.shape[-1] == 4:
        return lambda first, stop: _lab_planes(composite_on_black(rgb[first:stop]))
    return lambda first, stop: _lab_planes(rgb[first:stop])


def ms_ssim_lab(original: np.ndarray, result: np.ndarray) -> float:
    """Multi-scale SSIM in CIELAB: 1 for identical images.

    SSIM (Wang et al. 2004: Gaussian window σ = 1.5, constants for a data range of 100) of the L*,
    a* and b* planes (D65), averaged over the three, at 5 scales (each halving the previous by 2×2
    means), combined as the weighted mean with the scale weights of Wang, Simoncelli & Bovik's MS-SSIM
    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333; renormalised over the scales an image is large enough
    for: 11 pixels at least). At one scale it is scikit-image's ``structural_similarity`` of the Lab
    images. RGBA: both composited on black first (:func:`composite_on_black`), as for ΔE2000. NaN
    for an image smaller than 11×11. Computed in strips of rows, as :func:`ssimulacra2`.
    """
    if original.shape != result.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {result.shape}")
    return _mean_ssim_scales(_lab_rows(original), _lab_rows(result), *original.shape[:2])


def dssim(original: np.ndarray, result: np.ndarray) -> float:
    """DSSIM-style dissimilarity: 1 / :func:`ms_ssim_lab` - 1 (0 for identical images, lower is better;
    ``inf`` when the structural similarity is 0 or below)."""
    ssim = ms_ssim_lab(original, result)
    return 1.0 / ssim - 1.0 if ssim > 0 else (math.nan if math.isnan(ssim) else math.inf)
