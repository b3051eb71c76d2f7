"""Encoders: write a quantized image (labels + palette) to a real file and read it back."""

from .png import Encoder, LabelsPNG, PillowPalettePNG, PyPNGPalettePNG, RGB24PNG, minimal_bit_depth
from .pngfile import png_header, read_chunks

__all__ = [
    "Encoder",
    "RGB24PNG",
    "LabelsPNG",
    "PillowPalettePNG",
    "PyPNGPalettePNG",
    "minimal_bit_depth",
    "png_header",
    "read_chunks",
]
