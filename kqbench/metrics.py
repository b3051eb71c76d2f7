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


def _s2_blur(planes: np.ndarray) -> np.ndarray:
    """Blur (..., h, w) float32 planes along the last two axes, zero outside the image."""
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


def _half(linear: np.ndarray) -> np.ndarray:
    """(3, h, w) → (3, ⌈h/2⌉, ⌈w/2⌉): means of 2×2 blocks, the last row and column repeated when odd."""
    h, w = linear.shape[1:]
    if h % 2 or w % 2:
        linear = np.pad(linear, ((0, 0), (0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (linear[:, 0::2, 0::2] + linear[:, 1::2, 0::2] + linear[:, 0::2, 1::2] + linear[:, 1::2, 1::2])


def _s2_norms(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-plane 1-norm (mean) and 4-norm of non-negative maps (..., h, w), summed in float64."""
    m1 = maps.mean(axis=(-2, -1), dtype=np.float64)
    sq = maps * maps
    m4 = np.sqrt(np.sqrt(np.mean(sq * sq, axis=(-2, -1), dtype=np.float64)))
    return m1, m4


def _ssimulacra2_linear(lin1: np.ndarray, lin2: np.ndarray) -> float:
    """SSIMULACRA2 of two linear-sRGB images as (3, h, w) float32 planes."""
    norms = []  # per scale: (3 channels, 2 norms, 3 maps: ssim, ringing, blurring)
    for scale in range(_S2_SCALES):
        if min(lin1.shape[1:]) < 8:
            break
        if scale:
            lin1, lin2 = _half(lin1), _half(lin2)
        x1, x2 = _positive_xyb(lin1), _positive_xyb(lin2)
        mu1, mu2, s11, s22, s12 = _s2_blur(np.stack([x1, x2, x1 * x1, x2 * x2, x1 * x2]))
        mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
        # SSIM without the luminance term's denominator (2.1's correction), as an error: 1 - SSIM', clamped at 0
        num_m = 1.0 - (mu1 - mu2) ** 2
        num_s = 2.0 * (s12 - mu12) + _S2_C2
        den_s = (s11 - mu11) + (s22 - mu22) + _S2_C2
        ssim_err = np.maximum(1.0 - num_m * num_s / den_s, 0.0)
        # > 0: the result has edges where the source is smooth (ringing, banding); < 0: it lost them (blur)
        edge = (1.0 + np.abs(x2 - mu2)) / (1.0 + np.abs(x1 - mu1)) - 1.0
        per_map = [_s2_norms(ssim_err), _s2_norms(np.maximum(edge, 0.0)), _s2_norms(np.maximum(-edge, 0.0))]
        norms.append(np.array([[m[n] for m in per_map] for n in range(2)]).transpose(2, 0, 1))  # (3, 2, 3)
    # The weights run channel by channel over the scales computed (as the reference indexes them).
    values = np.abs(np.stack(norms, axis=1)).ravel()  # (channel, scale, norm, map)
    score = float(values @ _S2_WEIGHTS[:len(values)]) * 0.9562382616834844
    score = 2.326765642916932 * score - 0.020884521182843837 * score ** 2 + 6.248496625763138e-05 * score ** 3
    return 100.0 - 10.0 * score ** 0.6276336467831387 if score > 0 else 100.0


def ssimulacra2(original: np.ndarray, result: np.ndarray) -> float:
    """SSIMULACRA 2.1 score of ``result`` against ``original`` (uint8 sRGB; higher is better).

    100 for identical images; the reference's reading: 90 visually lossless, 80 very high, 70 high,
    50 medium, 30 low quality, 10 very low, negative extremely low. Multi-scale (6 scales, halved in
    linear light) SSIM and edge-difference (ringing, blurring) maps in a rescaled XYB, their 1- and
    4-norms weighted into one score. kqbench's own numpy/scipy implementation, checked against
    the reference tool's scores (tests/test_perceptual.py). NaN for an image smaller than 8×8 (the
    reference refuses those).

    RGBA ((..., 4), straight alpha): as the reference tool, both images are blended over a dark
    (10 %) and a light (90 %) grey in sRGB, and the lower of the two scores is the score.
    """
    if original.shape != result.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {result.shape}")
    if original.shape[0] < 8 or original.shape[1] < 8:
        return math.nan
    if original.shape[-1] == 4:
        return min(_ssimulacra2_linear(_blended_linear(original, bg), _blended_linear(result, bg))
                   for bg in (0.1, 0.9))
    return _ssimulacra2_linear(_LINEAR[np.moveaxis(original, -1, 0)], _LINEAR[np.moveaxis(result, -1, 0)])


def _blended_linear(rgba: np.ndarray, bg: float) -> np.ndarray:
    """Straight RGBA uint8 over a grey of sRGB value ``bg`` (0..1), blended in sRGB, as linear planes (3, h, w)."""
    planes = np.moveaxis(rgba, -1, 0).astype(np.float32) / np.float32(255)
    alpha = planes[3]
    c = planes[:3] * alpha + (1 - alpha) * np.float32(bg)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


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


def _mean_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of (c, h, w) float32 planes, averaged over channels: scikit-image's ``structural_similarity``
    with ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=100`` (a Gaussian window
    of 11 taps, image borders mirrored, the 5-pixel margin left out of the mean), in float32."""
    from scipy.ndimage import correlate1d

    stack = np.stack([x, y, x * x, y * y, x * y])
    correlate1d(stack, _SSIM_KERNEL, axis=-1, mode="reflect", output=stack)
    mx, my, mxx, myy, mxy = correlate1d(stack, _SSIM_KERNEL, axis=-2, mode="reflect", output=stack)
    c1, c2 = (0.01 * _LAB_RANGE) ** 2, (0.03 * _LAB_RANGE) ** 2
    mxy -= mx * my  # covariance
    mxx -= mx * mx
    myy -= my * my
    s = (2 * mx * my + c1) * (2 * mxy + c2) / ((mx * mx + my * my + c1) * (mxx + myy + c2))
    r = _SSIM_RADIUS
    return float(s[:, r:-r, r:-r].mean(dtype=np.float64))


def ms_ssim_lab(original: np.ndarray, result: np.ndarray) -> float:
    """Multi-scale SSIM in CIELAB: 1 for identical images.

    SSIM (Wang et al. 2004: Gaussian window σ = 1.5, constants for a data range of 100) of the L*,
    a* and b* planes (D65), averaged over the three, at 5 scales (each halving the previous by 2×2
    means), combined as the weighted mean with the scale weights of Wang, Simoncelli & Bovik's MS-SSIM
    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333; renormalised over the scales an image is large enough
    for: 11 pixels at least). At one scale it is scikit-image's ``structural_similarity`` of the Lab
    images. RGBA: both composited on black first (:func:`composite_on_black`), as for ΔE2000. NaN
    for an image smaller than 11×11.
    """
    if original.shape != result.shape:
        raise ValueError(f"shapes differ: {original.shape} vs {result.shape}")
    if original.shape[-1] == 4:
        original, result = composite_on_black(original), composite_on_black(result)
    x, y = _lab_planes(original), _lab_planes(result)
    total = weights = 0.0
    for scale, weight in enumerate(_MS_SSIM_WEIGHTS):
        if scale:
            x, y = _half(x), _half(y)
        if min(x.shape[1:]) < 2 * _SSIM_RADIUS + 1:
            break
        total += weight * _mean_ssim(x, y)
        weights += weight
    return total / weights if weights else math.nan


def dssim(original: np.ndarray, result: np.ndarray) -> float:
    """DSSIM-style dissimilarity: 1 / :func:`ms_ssim_lab` - 1 (0 for identical images, lower is better;
    ``inf`` when the structural similarity is 0 or below)."""
    ssim = ms_ssim_lab(original, result)
    return 1.0 / ssim - 1.0 if ssim > 0 else (math.nan if math.isnan(ssim) else math.inf)
