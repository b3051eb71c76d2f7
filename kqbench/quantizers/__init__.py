"""Quantizers: learn a palette of at most k colours and map every pixel to it."""

from ._base import (
    Quantizer,
    centres_to_palette,
    check_pixels,
    compact_palette,
    nearest_palette_index,
    unique_colours,
)
from .colour import COLOUR_SPACES, from_space, to_space
from .fast import FastKMeansQuantizer
from .peers import LibimagequantQuantizer, PillowQuantizer
from .sklearn_kmeans import (
    BisectingKMeansQuantizer,
    KMeansQuantizer,
    MiniBatchKMeansQuantizer,
    SampledKMeansQuantizer,
    UniqueKMeansQuantizer,
)
from .wu import WuQuantizer

__all__ = [
    "Quantizer",
    "KMeansQuantizer",
    "SampledKMeansQuantizer",
    "UniqueKMeansQuantizer",
    "MiniBatchKMeansQuantizer",
    "BisectingKMeansQuantizer",
    "FastKMeansQuantizer",
    "PillowQuantizer",
    "LibimagequantQuantizer",
    "WuQuantizer",
    "COLOUR_SPACES",
    "from_space",
    "to_space",
    "centres_to_palette",
    "compact_palette",
    "check_pixels",
    "nearest_palette_index",
    "unique_colours",
]
