"""WebP and JPEG: "should this be a PNG at all?"

Two kinds of comparator, written with Pillow:

- :class:`WebPLossless` stores the quantized pixels (``palette[labels]``) as lossless WebP:
  an ordinary encoder of the quantization, checked by an exact round trip like the PNGs.
- :class:`JPEGMatched` and :class:`WebPMatched` (``lossy = True``) ignore the palette: they
  store the ORIGINAL image at the smallest quality whose decoded pixels are at least as close
  to the original (PSNR) as the quantization of the same row. The runner calls
  :meth:`LossyMatched.write_matched` instead of :meth:`Encoder.write`; the row's ``mse``/``psnr``
  are then those of the decoded lossy file against the original (what the user gets).

The quality search is a binary search that assumes PSNR grows with quality (it nearly always
does; ~7 encodes for 1..100): it finds the lowest quality whose file reaches the target, and
the smallest of the files it tried that reach it is written. When even the top quality does
not reach the target (e.g. a lossless quantization: PSNR inf; or lossy WebP, always 4:2:0
chroma, against a k=256 palette) the top quality is written and the row says so by its
``psnr`` < ``lossy_target_psnr``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, features

from ..errors import ConfigurationError, NotInstalledError
from ..metrics import mse as mse_of
from ..metrics import psnr as psnr_of
from ..pixels import as_channels, decoded_pixels, pillow_mode, quantized_image
from ._base import JPEG, WEBP, Encoder

JPEG_SUBSAMPLING = ("4:4:4", "4:2:2", "4:2:0")


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ConfigurationError(f"{name} must be a whole number in {lo}..{hi}, got {value!r}")


def _require_webp() -> None:
    if not features.check("webp"):
        raise NotInstalledError("this Pillow has no WebP support (install a Pillow wheel built with libwebp)")


def _decode(source) -> np.ndarray:
    """Pixels of a WebP/JPEG file (a path or bytes), decoded by Pillow: (h, w, 3) uint8 RGB, or
    (h, w, 4) RGBA when the file has transparency."""
    with Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source) as im:
        return decoded_pixels(im)



class WebPLossless(Encoder):
    """The quantized pixels as lossless WebP (libwebp's VP8L; it finds the palette itself).

    Parameters
    ----------
    quality : int
        0-100. In lossless mode this is effort, not fidelity: higher spends more time to make
        the file smaller (Pillow's default: 80).
    method : int
        0-6, speed/size trade-off of the encoder (6 = slowest, smallest; Pillow's default: 4).
    """

    suffix = ".webp"
    format_name = "lossless WebP"
    family = WEBP
    writer = "libwebp"
    rank = 60

    def __init__(self, quality: int = 80, method: int = 4):
        self.quality = quality
        self.method = method

    def check_k(self, k):
        super().check_k(k)
        _check_int("quality", self.quality, 0, 100)
        _check_int("method", self.method, 0, 6)
        _require_webp()

    def write(self, labels, palette, path):
        quantized_image(labels, palette).save(path, format="WEBP", lossless=True, quality=self.quality,
                                              method=self.method, exact=True)

    def decode(self, path):
        return _decode(path)


class LossyMatched(Encoder):
    """The original image, lossy, at the smallest quality matching a quantization's PSNR.

    Subclasses set ``quality_range`` and implement :meth:`encode` (pixels at one quality →
    file bytes). :meth:`write` is not used: a lossy row does not store the quantization.
    """

    lossy = True
    quality_range = (1, 100)

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        raise NotImplementedError

    def write(self, labels, palette, path):
        raise TypeError(f"{type(self).__name__} encodes the original image: use write_matched")

    def decode(self, path):
        return _decode(path)

    def write_matched(self, original: np.ndarray, target_psnr: float, path) -> tuple[int, float]:
        """Write ``original`` at the smallest quality whose PSNR against it is >= ``target_psnr``.

        Returns (quality written, MSE of the written bytes decoded, as :func:`kqbench.metrics.mse`
        computes it); the top quality when the target is out of reach.
        """
        original = np.ascontiguousarray(original, dtype=np.uint8)
        tried = {}

        def trial(quality):
            blob = self.encode(original, quality)
            tried[quality] = (blob, mse_of(original, as_channels(_decode(blob), original.shape[-1])))
            return psnr_of(tried[quality][1]) >= target_psnr

        lo, hi = self.quality_range
        if trial(hi):  # reachable: the lowest quality that still reaches the target lies in lo..hi
            while lo < hi:
                mid = (lo + hi) // 2
                if trial(mid):
                    hi = mid
                else:
                    lo = mid + 1
            reaching = [q for q in tried if psnr_of(tried[q][1]) >= target_psnr]
            quality = min(reaching, key=lambda q: (len(tried[q][0]), q))
        else:
            quality = hi
        blob, mse = tried[quality]
        Path(path).write_bytes(blob)
        return quality, mse


class JPEGMatched(LossyMatched):
    """The original image as baseline JPEG (libjpeg via Pillow), quality searched in 1..100.

    Parameters
    ----------
    subsampling : {"4:2:0", "4:2:2", "4:4:4"}
        Chroma subsampling ("4:2:0" is what most encoders use by default).
    optimize : bool
        Optimised Huffman tables (smaller file, same pixels).
    """

    suffix = ".jpg"
    format_name = "JPEG"
    quality_range = (1, 100)
    family = JPEG
    writer = "libjpeg"
    takes_alpha = False
    rank = 70

    def __init__(self, subsampling: str = "4:2:0", optimize: bool = True):
        self.subsampling = subsampling
        self.optimize = optimize

    def check_k(self, k):
        super().check_k(k)
        if self.subsampling not in JPEG_SUBSAMPLING:
            raise ConfigurationError(f"subsampling must be one of {', '.join(JPEG_SUBSAMPLING)} (quoted in "
                                     f"YAML), got {self.subsampling!r}")
        if not isinstance(self.optimize, bool):
            raise ConfigurationError(f"optimize must be true or false, got {self.optimize!r}")

    def encode(self, rgb, quality):
        if rgb.shape[-1] == 4:
            raise ConfigurationError("JPEG cannot store transparency, and this image has it: use webp_matched, "
                                     "or alpha=drop")
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, format="JPEG", quality=quality, subsampling=self.subsampling,
                                         optimize=self.optimize)
        return buf.getvalue()


class WebPMatched(LossyMatched):
    """The original image as lossy WebP (VP8, always 4:2:0 chroma), quality searched in 0..100.

    Parameters
    ----------
    method : int
        0-6, speed/size trade-off of the encoder (6 = slowest, smallest; Pillow's default: 4).
    """

    suffix = ".webp"
    format_name = "lossy WebP"
    quality_range = (0, 100)
    family = WEBP
    writer = "libwebp"
    rank = 80

    def __init__(self, method: int = 4):
        self.method = method

    def check_k(self, k):
        super().check_k(k)
        _check_int("method", self.method, 0, 6)
        _require_webp()

    def encode(self, rgb, quality):
        buf = io.BytesIO()  # with alpha: lossy colour, lossless alpha (libwebp's alpha_quality 100)
        Image.fromarray(rgb, pillow_mode(rgb)).save(buf, format="WEBP", lossless=False, quality=quality,
                                              method=self.method)
        return buf.getvalue()
