"""Encoders: write a quantized image (labels + palette) to a real file and read it back."""

from .optimize import OPTIMIZERS, optimize_png
from .palette_order import ORDERS, chain_distance, palette_permutation, reorder_palette
from .png import (
    Encoder,
    LabelsPNG,
    PalettePNG,
    PillowPalettePNG,
    PyPNGPalettePNG,
    RGB24PNG,
    minimal_bit_depth,
)
from .lossy import JPEGMatched, LossyMatched, WebPLossless, WebPMatched
from .pngfile import png_header, read_chunks
from .pngwrite import FILTERS, filter_scanlines, write_png

__all__ = [
    "Encoder",
    "RGB24PNG",
    "LabelsPNG",
    "PalettePNG",
    "PillowPalettePNG",
    "PyPNGPalettePNG",
    "minimal_bit_depth",
    "WebPLossless",
    "LossyMatched",
    "JPEGMatched",
    "WebPMatched",
    "png_header",
    "read_chunks",
    "ORDERS",
    "palette_permutation",
    "reorder_palette",
    "chain_distance",
    "FILTERS",
    "filter_scanlines",
    "write_png",
    "OPTIMIZERS",
    "optimize_png",
]
