"""kqbench: benchmark colour quantization by k-means and the image encodings that follow it."""

__version__ = "0.1.0"
