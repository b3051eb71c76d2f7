"""Encoders: write a quantized image (labels + palette) to a real file and read it back."""

from .optimize import OPTIMIZERS, optimize_png
from .palette_order import (
    ORDERS,
    chain_distance,
    palette_layout,
    palette_permutation,
    permute_palette,
    reorder_palette,
    translucent_first,
)
from ._base import JPEG, LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG, WEBP, Encoder
from .png import (
    LabelsPNG,
    PalettePNG,
    PillowPalettePNG,
    PyPNGPalettePNG,
    RGB24PNG,
    SmallestPalettePNG,
    minimal_bit_depth,
)
from .lossy import JPEGMatched, LossyMatched, WebPLossless, WebPMatched
from .pngfile import png_header, read_chunks
from .pngwrite import FILTERS, encode_png, filter_scanlines, pack_samples, write_png

__all__ = [
    "Encoder",
    "PALETTE_PNG",
    "TRUECOLOUR_PNG",
    "LABEL_PNG",
    "WEBP",
    "JPEG",
    "RGB24PNG",
    "LabelsPNG",
    "PalettePNG",
    "PillowPalettePNG",
    "PyPNGPalettePNG",
    "SmallestPalettePNG",
    "minimal_bit_depth",
    "WebPLossless",
    "LossyMatched",
    "JPEGMatched",
    "WebPMatched",
    "png_header",
    "translucent_first",
    "palette_layout",
    "permute_palette",
    "read_chunks",
    "ORDERS",
    "palette_permutation",
    "reorder_palette",
    "chain_distance",
    "FILTERS",
    "filter_scanlines",
    "write_png",
    "encode_png",
    "pack_samples",
    "OPTIMIZERS",
    "optimize_png",
]
