"""The memory column: every row says how much memory its quantization took, and a larger image takes more."""

import sys

import numpy as np
import pytest

from helpers import SETTINGS
from kqbench.cache import QuantizationCache
from kqbench.datasets import SyntheticImages, generated_image
from kqbench.encoders import SmallestPalettePNG
from kqbench.measure import PeakMemory, quantize
from kqbench.quantizers import FastKMeansQuantizer, SampledKMeansQuantizer, WuQuantizer
from kqbench.runner import run_configuration

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak RSS is read from /proc (Linux)")


@linux_only
def test_every_row_has_the_quantization_peak_memory(tmp_path):
    rows = run_configuration(SyntheticImages(kinds=("noise", "flat"), width=64, height=48), "wu", WuQuantizer(),
                             "png8", SmallestPalettePNG(), k=16, seed=0, out_dir=tmp_path,
                             cache=QuantizationCache(tmp_path / "cache"), **SETTINGS)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(isinstance(r["quantize_peak_bytes"], int) and r["quantize_peak_bytes"] > 0 for r in rows)


@linux_only
@pytest.mark.parametrize("quantizer", [FastKMeansQuantizer(16), WuQuantizer(16), SampledKMeansQuantizer(16)],
                         ids=["fast", "wu", "sampled"])
def test_a_larger_image_takes_more_memory_to_quantize(quantizer):
    # 1.6 MP: large enough that what grows with the image outweighs what does not (wu's tables, 2-4 MB,
    # against 0.8 MP's labels: the two peaks came within a page of each other)
    small, large = (generated_image("noise", w, h, seed=0) for w, h in ((64, 48), (1536, 1024)))
    quantize(small, quantizer)  # compiled and warmed up: neither measure includes a first use
    peak = {name: quantize(image, quantizer).values["quantize_peak_bytes"]
            for name, image in (("small", small), ("large", large))}
    assert 0 < peak["small"] < peak["large"]
    assert peak["large"] >= large.pixels.shape[0] * large.pixels.shape[1]  # at least one byte of label per pixel


@linux_only
def test_peak_memory_counts_native_allocations():
    """Pillow allocates its images in C, where Python's tracemalloc does not see them; the resident set does."""
    from PIL import Image

    with PeakMemory() as memory:
        image = Image.new("RGB", (4000, 2000), (1, 2, 3))  # 4 bytes per pixel: 32 MB
    assert memory.peak_bytes >= 30e6
    del image
