"""Reference quantizers that are not k-means: Pillow's built-in methods and libimagequant.

They learn a palette their own way; pixels are then assigned to the nearest palette colour
by the base class, like every other quantizer here (so errors compare palettes, not each
library's own pixel mapping).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import ConfigurationError, NotInstalledError
from ._base import Quantizer

_PILLOW_FAMILIES = {"mediancut": "median cut", "maxcoverage": "maximum coverage", "fastoctree": "octree"}
_PILLOW_METHODS = {
    "mediancut": Image.Quantize.MEDIANCUT,
    "maxcoverage": Image.Quantize.MAXCOVERAGE,
    "fastoctree": Image.Quantize.FASTOCTREE,
}


class PillowQuantizer(Quantizer):
    """Palette from Pillow's ``Image.quantize`` (median cut, maximum coverage or fast octree).

    Only the palette is taken from Pillow (``dither=NONE``); pixels are assigned to their
    nearest palette colour by the base class, which can differ from Pillow's own mapping
    (e.g. fast octree maps a pixel to its octree leaf, not to the nearest colour).

    Parameters
    ----------
    n_colors : int
        Largest palette size (k); Pillow allows at most 256.
    method : {"mediancut", "maxcoverage", "fastoctree"}
        Pillow's quantization method.
    random_state : int or None
        Unused (the methods are deterministic); kept for a uniform interface.
    """

    alpha_support = "straight"  # fastoctree only: Pillow refuses RGBA for the other methods
    rank = 70

    @property
    def family(self) -> str:
        return _PILLOW_FAMILIES.get(self.method, self.method)

    @property
    def takes_alpha(self) -> bool:
        return self.method == "fastoctree"

    def __init__(self, n_colors=16, method="mediancut", random_state=0):
        self.n_colors = n_colors
        self.method = method
        self.random_state = random_state

    def _fit_centres(self, pixels, colours, counts, k):
        if self.method not in _PILLOW_METHODS:
            raise ValueError(f"method must be one of {sorted(_PILLOW_METHODS)}, got {self.method!r}")
        if k > 256:
            raise ConfigurationError(f"Pillow quantizes to at most 256 colours, asked for k={k}")
        channels = pixels.shape[1]
        if channels == 4 and self.method != "fastoctree":
            raise ConfigurationError(f"Pillow's {self.method} quantizes opaque RGB only, and this image has "
                                     f"transparency: use method fastoctree (pillow_fastoctree), or alpha=drop")
        # The methods work on the colour histogram, so the pixels' layout does not matter.
        mode = "RGBA" if channels == 4 else "RGB"
        image = Image.fromarray(pixels.reshape(1, -1, channels), mode=mode)
        quantized = image.quantize(colors=k, method=_PILLOW_METHODS[self.method], dither=Image.Dither.NONE)
        palette = np.asarray(quantized.getpalette(mode), dtype=np.uint8).reshape(-1, channels)
        # Pillow's palette may hold unused or repeated entries: keep the ones it used.
        return palette[np.unique(np.asarray(quantized))].astype(np.float64)


class LibimagequantQuantizer(Quantizer):
    """Palette from libimagequant (the library behind pngquant), via the ``imagequant`` package.

    Runs libimagequant's quantization and its (undithered) remapping, which refines the
    palette, then keeps that palette; pixels are assigned to their nearest palette colour
    by the base class. libimagequant works in a gamma-corrected, perceptually weighted
    colour space and weighs pixels by local contrast, so its palette does not minimise the
    RGB squared error that k-means does.

    Parameters
    ----------
    n_colors : int
        Largest palette size (k), 2..256.
    speed : int
        libimagequant's speed/quality trade-off, 1 (slow) .. 10 (fast); 4 is its default.
    max_quality : int
        Target quality 0..100 (100: use up to ``n_colors`` colours as needed).
    random_state : int or None
        Unused (libimagequant is deterministic); kept for a uniform interface.

    Raises
    ------
    NotInstalledError
        From ``fit`` when the ``imagequant`` package is missing.
    """

    alpha_support = "straight"  # libimagequant quantizes RGBA itself
    family = "libimagequant"
    rank = 80

    def __init__(self, n_colors=16, speed=4, max_quality=100, random_state=0):
        self.n_colors = n_colors
        self.speed = speed
        self.max_quality = max_quality
        self.random_state = random_state

    def fit(self, pixels) -> "LibimagequantQuantizer":
        # libimagequant weighs pixels by their neighbourhood, so it needs the image's shape.
        shape = np.shape(pixels)
        self._height, self._width = shape[:2] if len(shape) == 3 else (1, shape[0])
        return super().fit(pixels)

    def _fit_centres(self, pixels, colours, counts, k):
        try:
            from imagequant import ffi, lib
        except ImportError as exc:
            raise NotInstalledError("imagequant is not installed: pip install 'kqbench[peers]'") from exc
        if not 2 <= k <= 256:
            raise ConfigurationError(f"libimagequant makes palettes of 2..256 colours, asked for k={k}")
        rgba = np.full((len(pixels), 4), 255, np.uint8)
        rgba[:, :pixels.shape[1]] = pixels
        attr = lib.liq_attr_create()
        image = result = None
        result_p = ffi.new("liq_result**")
        try:
            for code in (lib.liq_set_max_colors(attr, k), lib.liq_set_speed(attr, self.speed),
                         lib.liq_set_quality(attr, 0, self.max_quality)):
                if code != lib.LIQ_OK:
                    raise ValueError(f"libimagequant rejected the settings (error {code})")
            image = lib.liq_image_create_rgba(attr, ffi.from_buffer(rgba), self._width, self._height, 0)
            code = lib.liq_image_quantize(image, attr, result_p)
            if code != lib.LIQ_OK:
                raise RuntimeError(f"libimagequant failed (error {code})")
            result = result_p[0]
            lib.liq_set_dithering_level(result, 0.0)
            # Remapping applies libimagequant's final palette refinement.
            remapped = ffi.new("unsigned char[]", len(pixels))
            lib.liq_write_remapped_image(result, image, remapped, len(pixels))
            palette = lib.liq_get_palette(result)
            centres = [(palette.entries[i].r, palette.entries[i].g, palette.entries[i].b, palette.entries[i].a)
                       for i in range(palette.count)]
        finally:
            if result is not None:
                lib.liq_result_destroy(result)
            if image is not None:
                lib.liq_image_destroy(image)
            lib.liq_attr_destroy(attr)
        return np.asarray(centres, dtype=np.float64)[:, :pixels.shape[1]]
