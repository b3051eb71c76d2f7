"""The results table's columns, declared once: name, type, unit, scope, meaning and how it is computed.

Everything else derives from :data:`COLUMNS`: the runner's rows (quality metrics are computed by
looping over :func:`quality_columns`), the table's column order and types (:mod:`kqbench.table`),
the report's numeric columns, what ``kqbench verify`` recomputes from the files, and the column
table in README.md (:func:`markdown_table`; a test holds the README to it).

Adding a quality metric is one function of ``(source_pixels, result_pixels)`` (in
:mod:`kqbench.metrics`) and one ``Column(..., quality=that_function)`` entry below: the runner
computes it once per quantization (cached like the rest) and on every lossy file, the table
stores it, the report lists it among its numbers and ``verify`` recomputes it from the kept files.

Scopes say what a value belongs to, i.e. which rows share it:

- ``setting``: the job's configuration (quantizer, encoding and their parameters, k, seed, ...)
  and what the quantizer and encoder classes say they are (``*_family``, ``encoding_lossy``, ...);
- ``image``: the input image, whatever the configuration;
- ``quantization``: one (image, k, quantizer, seed, dither, alpha): every encoding of it shares
  these, except the lossy comparators, whose quality columns are their own file's;
- ``file``: the written file;
- ``outcome``: whether the row was measured, and if not why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import metrics

SCOPES = ("setting", "image", "quantization", "file", "outcome")

# The values of ``encoding_family`` (what an encoder's file is, ``Encoder.family``): the report and
# ``verify`` are built on these, never on option names.
PALETTE_PNG = "palette PNG"  # one index per pixel plus a palette (PNG-8): the fix
TRUECOLOUR_PNG = "truecolour PNG"  # the quantized colours, 3 (or 4) bytes per pixel: the question's file
LABEL_PNG = "label PNG"  # the label array as a greyscale image, palette not stored
WEBP = "WebP"
JPEG = "JPEG"
DTYPES = ("int", "float", "str", "bool")


@dataclass(frozen=True)
class Column:
    """One column of the results table.

    Parameters
    ----------
    name : str
        Column name; ``quantizer.<param>`` / ``encoding.<param>`` stand for one column per parameter.
    dtype : {"int", "float", "str", "bool"}
        Value type; numbers may be missing (NaN) on rows that do not have them.
    scope : {"setting", "image", "quantization", "file", "outcome"}
        What the value belongs to (see the module docstring).
    meaning : str
        One line, as the README's column table shows it.
    unit : str
        Unit of a number ("" when it has none).
    quality : callable, optional
        ``quality(source, result) -> float``: a quality measure of the result's pixels against the
        source image's (uint8 arrays, (h, w, 3) RGB or (h, w, 4) RGBA). The runner computes it per
        quantization, and per file for lossy encodings; ``verify`` recomputes it from each file.
    derive : callable, optional
        ``derive(row) -> value`` from the columns named in ``inputs`` (e.g. PSNR from MSE); applied
        once the row has them, and rechecked by ``verify`` from the values it has checked.
    inputs : tuple of str
        The columns ``derive`` reads.
    better : {"higher", "lower"}, optional
        For quality columns: which way is better (the report's fronts and rankings).
    optional : bool
        A quality column computed only when a sweep asks for it (``metrics=[name]``): an expensive measure.
    about_class : bool
        What the quantizer or encoder class says it is (``quantizer_family``, ``encoding_rank``, ...):
        recorded with the setting, but not itself a setting to match rows on.
    """

    name: str
    dtype: str
    scope: str
    meaning: str
    unit: str = ""
    quality: Callable[[Any, Any], float] | None = None
    derive: Callable[[Mapping], Any] | None = None
    inputs: tuple[str, ...] = ()
    better: str | None = None
    optional: bool = False
    about_class: bool = False

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ValueError(f"column {self.name}: scope must be one of {SCOPES}, got {self.scope!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name}: dtype must be one of {DTYPES}, got {self.dtype!r}")
        if (self.derive is None) != (not self.inputs):
            raise ValueError(f"column {self.name}: a derived column names its inputs, and only it")
        if self.better not in (None, "higher", "lower"):
            raise ValueError(f"column {self.name}: better must be higher or lower, got {self.better!r}")

    @property
    def numeric(self) -> bool:
        return self.dtype in ("int", "float")

    @property
    def parameter_group(self) -> str | None:
        """``quantizer`` or ``encoding`` for the ``<group>.<param>`` pattern columns, else None."""
        head, _, tail = self.name.partition(".")
        return head if tail == "<param>" else None


def _bits_per_pixel(row: Mapping) -> float:
    return 8 * row["bytes"] / row["pixels"]


def _ratio_to_original(row: Mapping) -> float:
    return row["bytes"] / row["original_bytes"]


def _ratio_to_rgb24(row: Mapping) -> float:
    return row["bytes"] / row["rgb24_bytes"]


def _psnr(row: Mapping) -> float:
    return metrics.psnr(row["mse"])


COLUMNS: tuple[Column, ...] = (
    # --- the input image
    Column("image", "str", "image", "the input image's name"),
    Column("width", "int", "image", "image width", "px"),
    Column("height", "int", "image", "image height", "px"),
    Column("pixels", "int", "image", "width × height", "px"),
    Column("original_mode", "str", "image", "Pillow mode of the input file (RGB, P, RGBA, L, CMYK, ...)"),
    Column("original_bytes", "int", "image", "size on disk of the input file (generated images: their lossless "
           "RGB or RGBA PNG)", "bytes"),
    Column("has_alpha", "bool", "image", "the quantized pixels have transparency (the input has some pixel below "
           "full opacity, and `alpha=keep`)"),
    Column("unique_colours", "int", "image", "distinct colours of the input (RGB, or RGBA when `has_alpha`)"),
    # --- the configuration
    Column("k", "int", "setting", "requested palette size (colours)"),
    Column("palette_size", "int", "quantization", "colours actually in the palette (≤ k; every one is used)"),
    Column("quantizer", "str", "setting", "quantizer option (`conf/quantizer/<name>.yaml`)"),
    Column("quantizer.<param>", "str", "setting", "each parameter of the quantizer, as configured"),
    Column("encoding", "str", "setting", "encoding option (`conf/encoding/<name>.yaml`)"),
    Column("encoding.<param>", "str", "setting", "each parameter of the encoding, as configured"),
    Column("seed", "int", "setting", "random state of the quantizer"),
    Column("dither", "bool", "setting", "pixels assigned by Floyd–Steinberg onto the undithered palette (`fit_s` "
           "is the undithered fit's, `assign_s` the dithering's)"),
    Column("alpha", "str", "setting", "`keep` or `drop`: what was done with an input's transparency"),
    # --- the written file
    Column("bytes", "int", "file", "size of the written file on disk", "bytes"),
    Column("bits_per_pixel", "float", "file", "8 × bytes / pixels", "bpp", derive=_bits_per_pixel,
           inputs=("bytes", "pixels")),
    Column("ratio_to_original", "float", "file", "bytes / original_bytes", derive=_ratio_to_original,
           inputs=("bytes", "original_bytes")),
    Column("ratio_to_rgb24", "float", "file", "bytes / rgb24_bytes", derive=_ratio_to_rgb24,
           inputs=("bytes", "rgb24_bytes")),
    Column("rgb24_bytes", "int", "quantization", "size of the same quantized pixels as a default 24-bit RGB PNG "
           "(32-bit RGBA when `has_alpha`): the baseline of ratio_to_rgb24", "bytes"),
    Column("bit_depth", "int", "file", "bits per sample, read back from the written PNG's IHDR chunk", "bits"),
    Column("colour_type", "str", "file", "PNG colour type read back from the IHDR chunk (palette, RGB, RGBA, grey)"),
    Column("trns_bytes", "int", "file", "length of the written PNG's tRNS chunk data (the palette's alphas; 0 "
           "when it has none)", "bytes"),
    # --- quality (per quantization; per file for the lossy comparators)
    Column("mse", "float", "quantization", "mean squared error over RGB channels (0–255 scale) against the input, "
           "over the four channels of premultiplied RGBA when `has_alpha`; for `jpeg_matched`/`webp_matched`, "
           "of the decoded lossy file", quality=metrics.mse, better="lower"),
    Column("psnr", "float", "quantization", "10 log10(255² / mse) (`inf` when lossless)", "dB", derive=_psnr,
           inputs=("mse",), better="higher"),
    Column("delta_e2000", "float", "quantization", "mean CIEDE2000 colour difference (CIELAB D65) between the "
           "input and the result (composited on black when `has_alpha`); 0 when lossless, about 1 is barely "
           "visible", quality=metrics.mean_delta_e2000, better="lower"),
    Column("max_error", "float", "quantization", "largest difference of any channel of any pixel from the input "
           "(0–255; premultiplied RGBA when `has_alpha`): the worst pixel, where the means hide it",
           quality=metrics.max_error, better="lower"),
    Column("ssimulacra2", "float", "quantization", "SSIMULACRA 2.1 perceptual score against the input (kqbench's "
           "implementation, within 0.1 of the reference tool): 100 identical, 90 visually lossless, 70 high, 50 "
           "medium, 30 low quality, below 0 extremely low; RGBA as the reference tool: the lower score of the "
           "images blended on 10% and 90% grey. Optional: `metrics=[ssimulacra2]`",
           quality=metrics.ssimulacra2, better="higher", optional=True),
    Column("dssim", "float", "quantization", "DSSIM-style: 1/MS-SSIM - 1, the multi-scale SSIM of input and "
           "result in CIELAB (L*, a*, b*; Gaussian window σ=1.5; 5 scales with MS-SSIM's weights); 0 identical, "
           "lower is better (composited on black when `has_alpha`). Optional: `metrics=[dssim]`",
           quality=metrics.dssim, better="lower", optional=True),
    Column("label_entropy_bpp", "float", "quantization", "Shannon entropy of the label histogram: what an ideal "
           "order-0 coder would spend per index", "bpp"),
    # --- time
    Column("fit_s", "float", "quantization", "seconds to learn the palette (`time.perf_counter`, median of "
           "`repeats` after a warm-up)", "s"),
    Column("assign_s", "float", "quantization", "seconds to map every pixel to the palette", "s"),
    Column("quantize_peak_bytes", "int", "quantization", "most memory fitting and assigning added to the process: "
           "its peak resident set size during `fit_s` and `assign_s`'s calls above the size before them (Linux "
           "VmHWM; freed C heap returned to the OS first), so it counts what any code touched: numpy, numba, and "
           "C libraries' buffers (Pillow's), which Python's tracemalloc misses; the labels included, the input "
           "image not. "
           "Dithered rows: the larger of the undithered quantization's and the dithering's. Empty where the OS "
           "does not report it (not Linux)", "bytes"),
    Column("encode_s", "float", "file", "seconds to write the file (for the lossy comparators: the whole "
           "quality search)", "s"),
    Column("lossy_quality", "int", "file", "`jpeg_matched`/`webp_matched`: the quality chosen (100 when the "
           "target is out of reach)"),
    Column("lossy_target_psnr", "float", "file", "`jpeg_matched`/`webp_matched`: the PSNR it had to reach (the "
           "quantization's)", "dB"),
    Column("repeats", "int", "setting", "timed repetitions (the median is reported)"),
    Column("cached", "bool", "quantization", "the quantization was reused from an earlier job of the sweep (its "
           "timings are those of the run that computed it)"),
    # --- outcome
    Column("roundtrip_ok", "bool", "file", "the written file, decoded with Pillow, gives back exactly the "
           "quantized pixels (labels: exactly the labels; lossy files: the MSE the quality search measured)"),
    Column("status", "str", "outcome", "`ok`, `failed` or `not installed`"),
    Column("error", "str", "outcome", "a one-line reason when status is not ok"),
    # --- what the classes say they are
    Column("quantizer_family", "str", "setting", "what kind of quantizer: k-means, median cut, octree, ...", about_class=True),
    Column("quantizer_takes_alpha", "bool", "setting", "the quantizer can quantize images with transparency", about_class=True),
    Column("quantizer_rank", "int", "setting", "display order of quantizers (the question's KMeans first)", about_class=True),
    Column("quantizer_defaults", "str", "setting", "the quantizer's parameter defaults (JSON): the reference a "
           "swept parameter is compared with", about_class=True),
    Column("encoding_family", "str", "setting", f"what the file is: {PALETTE_PNG}, {TRUECOLOUR_PNG}, {LABEL_PNG}, "
           f"{WEBP} or {JPEG}", about_class=True),
    Column("encoding_writer", "str", "setting", "the library that writes the bytes (kqbench, Pillow, pypng, "
           "libwebp, libjpeg)", about_class=True),
    Column("encoding_lossy", "bool", "setting", "the encoding stores the original image lossily, not the "
           "quantization (a comparator)", about_class=True),
    Column("encoding_takes_alpha", "bool", "setting", "the encoding can store transparency", about_class=True),
    Column("encoding_rank", "int", "setting", "display order of encodings (from the question's RGB PNG to the "
           "palette PNG fix, then the comparators)", about_class=True),
    Column("encoding_defaults", "str", "setting", "the encoding's parameter defaults (JSON): the reference a "
           "swept parameter is compared with", about_class=True),
    Column("path", "str", "file", "the written file, relative to the sweep folder"),
    Column("source", "str", "image", "the input file (or `generated:<kind>:<size>:seed=<n>`)"),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}


def names() -> list[str]:
    """Every fixed column name, in table order (without the ``<group>.<param>`` patterns)."""
    return [c.name for c in COLUMNS if c.parameter_group is None]


def column(name: str) -> Column | None:
    """The declaration of ``name``; ``quantizer.n_init`` gives the ``quantizer.<param>`` entry."""
    if name in BY_NAME:
        return BY_NAME[name]
    head, dot, _ = name.partition(".")
    return BY_NAME.get(f"{head}.<param>") if dot else None


def about_class() -> list[str]:
    """The columns that say what the quantizer and encoder classes are, in table order."""
    return [c.name for c in COLUMNS if c.about_class]


def numeric() -> list[str]:
    return [c.name for c in COLUMNS if c.numeric]


def quality_columns(metrics=()) -> list[Column]:
    """Columns computed from (source pixels, result pixels), in table order: every one that is not
    optional, and the optional ones named in ``metrics``."""
    return [c for c in COLUMNS if c.quality is not None and (not c.optional or c.name in metrics)]


def check_metrics(metrics) -> tuple[str, ...]:
    """``metrics`` (the optional quality columns a sweep asks for) as a tuple; ConfigurationError, naming
    the choices, for a name that is not one."""
    from .errors import ConfigurationError

    optional = [c.name for c in COLUMNS if c.optional]
    for name in metrics:
        if name not in optional:
            raise ConfigurationError(f"metrics: {name!r} is not an optional quality column; choose from "
                                     f"{', '.join(optional) or '(none)'}")
    return tuple(metrics)


def derived(reading: str | None = None) -> list[Column]:
    """Columns computed from other columns of the row (those reading column ``reading`` when given), in
    table order."""
    return [c for c in COLUMNS if c.derive is not None and (reading is None or reading in c.inputs)]


def of_scope(scope: str) -> list[str]:
    return [c.name for c in COLUMNS if c.scope == scope and c.parameter_group is None]


def quality_measures() -> list[Column]:
    """Columns with a direction (``better``): what the report can rank or draw a front on."""
    return [c for c in COLUMNS if c.better is not None]


def markdown_table() -> str:
    """The README's column table: one line per column, its unit and meaning."""
    lines = ["| column | unit | scope | meaning |", "| --- | --- | --- | --- |"]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | {c.unit} | {c.scope} | {c.meaning} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """``kqbench columns``: print the column table README.md shows (generated from :data:`COLUMNS`)."""
    import argparse

    argparse.ArgumentParser(prog="kqbench columns", description=main.__doc__.split(": ", 1)[1]).parse_args(argv)
    print(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
