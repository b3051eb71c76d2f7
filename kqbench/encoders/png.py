"""PNG encodings of a quantized image (labels + palette).

Each encoder writes a real file and says what decoding that file must give back, so every
row of a sweep is checked by a round trip. Files are decoded with Pillow, which is
independent of pypng's writer (and of the bytes we compute for the palette).

The lossless PNG axes (every one keeps the decoded pixels identical):

- ``compress_level``: zlib level 0-9 on every PNG encoding (0 = stored, 9 = smallest);
- ``filter`` (``rgb24``): scanline filter, ``pillow`` (Pillow's own per-row choice) or
  ``none|sub|up|average|paeth|adaptive`` (see :mod:`.pngwrite`);
- ``order`` (PNG-8): palette order ``as_is|frequency|luminance|nearest_chain`` (see
  :mod:`.palette_order`); ``png8`` also ``auto``, its default (:class:`SmallestPalettePNG`);
- ``bitdepth`` (``png8_pypng``): ``8`` or ``minimal``; Pillow always writes the minimal depth;
- ``optimizer``/``optimizer_level`` (PNG-8): ``none|oxipng|zopflipng`` pass on the written
  file (see :mod:`.optimize`).

``png8`` (:class:`SmallestPalettePNG`, the config's default encoding) writes with kqbench's own
writer and keeps the smallest of a few candidates (bit depth x filter x zlib settings); its default
``order="auto"`` first picks a palette order by a quick trial deflate of each of :data:`AUTO_ORDERS`.
"""

from __future__ import annotations

import copy
import zlib
from pathlib import Path

import numpy as np
import png
from PIL import Image

from ..errors import ConfigurationError
from ..pixels import as_array, pillow_mode, quantized_image, row_bands
from ._base import LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG, Encoder, _differ
from .optimize import check_optimizer, optimize_png, require_optimizer
from .palette_order import ORDERS, check_order, palette_layout, palette_permutation, permute_palette
from .pngwrite import check_filter, deflate, filter_scanlines, pack_samples, png_bytes, write_png


def minimal_bit_depth(n_colours: int) -> int:
    """Smallest legal PNG palette bit depth for ``n_colours`` entries (1, 2, 4 or 8)."""
    for bits in (1, 2, 4, 8):
        if n_colours <= 1 << bits:
            return bits
    raise ConfigurationError(f"a PNG palette holds at most 256 colours, got {n_colours}")


class RGB24PNG(Encoder):
    """The quantized pixels as a 24-bit truecolour PNG: 3 bytes per pixel before deflate.

    This is what made the original question's file bigger than its source. An RGBA palette
    (an image with transparency) gives a 32-bit RGBA PNG (colour type 6), 4 bytes per pixel.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9 (Pillow's default is 6).
    filter : {"pillow", "none", "sub", "up", "average", "paeth", "adaptive"}
        Scanline filter. ``pillow`` (default) saves with Pillow, which has no filter option
        and picks a filter per row itself. The others write with kqbench's numpy + zlib
        writer (:func:`.pngwrite.write_png`): one filter type on every row, or ``adaptive``
        (per row, the smallest sum of absolute filtered bytes).
    """

    family = TRUECOLOUR_PNG
    writer = "Pillow"  # kqbench's own scanline writer when filter is not "pillow"
    rank = 10

    def __init__(self, compress_level: int = 6, filter: str = "pillow"):
        self.compress_level = compress_level
        self.filter = filter

    def check_k(self, k):
        super().check_k(k)
        if self.filter != "pillow":
            check_filter(self.filter)

    def write(self, labels, palette, path):
        if self.filter == "pillow":
            quantized_image(labels, palette).save(path, format="PNG", compress_level=self.compress_level)
        else:
            write_png(path, palette[labels].astype(np.uint8), colour=pillow_mode(palette).lower(), filter=self.filter,
                      compress_level=self.compress_level)

    def decode(self, path):
        with Image.open(path) as im:
            if im.mode not in ("RGB", "RGBA"):
                raise ValueError(f"{path}: expected an RGB or RGBA PNG, found mode {im.mode}")
            return as_array(im)


class LabelsPNG(Encoder):
    """The label array itself saved as a greyscale image (``io.imsave('out.png', labels)``).

    8-bit grey when the labels fit in a byte, else 16-bit. The palette is not stored at all:
    the file cannot be displayed as the quantized image without it.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9.
    """

    family = LABEL_PNG
    writer = "Pillow"
    rank = 20

    def __init__(self, compress_level: int = 6):
        self.compress_level = compress_level

    def write(self, labels, palette, path):
        if labels.max(initial=0) < 256:
            im = Image.fromarray(labels.astype(np.uint8), "L")
        else:
            im = Image.fromarray(labels.astype(np.uint16))  # Pillow mode I;16
        im.save(path, format="PNG", compress_level=self.compress_level)

    def expected(self, labels, palette):
        return labels

    def decode(self, path):
        with Image.open(path) as im:
            return as_array(im)  # uint8, or 16-bit: the labels' values


class PalettePNG(Encoder):
    """Shared behaviour of the PNG-8 encoders: palette order and an optimizer pass.

    Subclasses implement :meth:`_write_indices` for labels already in the chosen order. An
    RGBA palette is written as PLTE (its colours) plus tRNS (its alphas): its not-opaque
    entries are moved first (:func:`.palette_order.palette_layout`), each group kept in ``order``.
    """

    k_range = (2, 256)
    format_name = "a PNG-8 palette"
    family = PALETTE_PNG
    order = "as_is"
    optimizer = "none"
    optimizer_level = None

    @property
    def single_threaded(self) -> bool:
        return self.optimizer != "oxipng"  # (oxipng tries its filters on every core)

    def check_k(self, k):
        super().check_k(k)
        check_order(self.order)
        check_optimizer(self.optimizer, self.optimizer_level)
        require_optimizer(self.optimizer)  # a missing tool is "not installed" before any quantization

    def write(self, labels, palette, path):
        check_order(self.order)
        check_optimizer(self.optimizer, self.optimizer_level)
        labels, palette = palette_layout(labels, palette, self.order)
        self._write_indices(labels, palette, path)
        optimize_png(path, self.optimizer, self.optimizer_level)

    def _write_indices(self, labels, palette, path):
        raise NotImplementedError

    def mismatch(self, path, labels, palette):
        """As :meth:`Encoder.mismatch`, compared by palette index: each entry of the file's palette is
        matched to the entry of ``palette`` with its colour, and the pixels' indices compared (a
        fifth of the time of decoding to RGB and comparing colours). A file an optimizer rewrote in
        another colour type, or whose palette has other channels, is compared by colour."""
        with Image.open(path) as im:
            entries = _palette_entries(im) if im.mode == "P" else None
            if entries is None or entries.shape[1] != palette.shape[1]:
                return super().mismatch(path, labels, palette)
            indices = as_array(im)
        if indices.shape != labels.shape:
            return "shape differs"
        ours = {colour.tobytes(): i for i, colour in enumerate(np.asarray(palette, np.uint8))}
        match = np.array([ours.get(colour.tobytes(), -1) for colour in entries], np.int32)
        differing = sum(int((match[indices[rows]] != labels[rows]).sum()) for rows in row_bands(*labels.shape))
        return _differ(differing)


def _palette_entries(im: Image.Image) -> np.ndarray:
    """A palette image's entries as (n, 3) RGB, or (n, 4) straight RGBA when it has a tRNS chunk."""
    rgb = np.frombuffer(bytes(im.getpalette("RGB") or []), np.uint8).reshape(-1, 3)
    transparency = im.info.get("transparency")
    if transparency is None:
        return rgb
    alpha = np.full(len(rgb), 255, np.uint8)
    if isinstance(transparency, int):
        alpha[transparency] = 0
    else:
        alpha[:len(transparency)] = np.frombuffer(transparency, np.uint8)[:len(rgb)]
    return np.column_stack([rgb, alpha])


class PillowPalettePNG(PalettePNG):
    """PNG-8: one palette index per pixel, written by Pillow.

    Pillow packs the indices at the smallest legal depth for the palette length
    (<=2 colours: 1 bit, <=4: 2, <=16: 4, else 8; it has no option for 8 bits with a short
    palette: use ``png8_pypng`` with ``bitdepth: 8`` for that) and writes a PLTE chunk of
    exactly the palette's colours (3 bytes each); the sweep reads the depth back from the
    file. Pillow 13 uses filter type 0 on every row of 8-bit indices but picks a filter per
    row for 1/2/4-bit indices, which makes its files ~15% larger than pypng's
    ``bitdepth: minimal`` (always filter 0) at k=16 on the bundled photos.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9.
    order : {"as_is", "frequency", "luminance", "nearest_chain"}
        Palette order (:mod:`.palette_order`); the decoded pixels do not change.
    optimizer : {"none", "oxipng", "zopflipng"}
        Lossless pass run on the written file (:mod:`.optimize`); it may change bit depth,
        colour type and palette order, and never makes the file larger.
    optimizer_level : int or None
        oxipng preset 0-6 (None: 2); zopflipng 0 = ``-q``, 1 = default, 2 = ``-m`` (None: 1).
    """

    writer = "Pillow"

    @property
    def rank(self) -> int:
        return 40 if self.optimizer == "none" else 48  # an optimizer pass comes after the plain writers

    def __init__(self, compress_level: int = 6, order: str = "as_is", optimizer: str = "none",
                 optimizer_level: int | None = None):
        self.compress_level = compress_level
        self.order = order
        self.optimizer = optimizer
        self.optimizer_level = optimizer_level

    def _write_indices(self, labels, palette, path):
        im = Image.fromarray(labels.astype(np.uint8), "P")
        im.putpalette(palette.astype(np.uint8).tobytes(), pillow_mode(palette))
        im.save(path, format="PNG", compress_level=self.compress_level)


class PyPNGPalettePNG(PalettePNG):
    """PNG-8 written with pypng, as in the accepted answer to the original question.

    Parameters
    ----------
    bitdepth : {8, 4, 2, 1, "minimal"}
        Bits per index; 8 is what the answer used, "minimal" the smallest that holds
        the palette (as Pillow always does).
    compress_level : int
        zlib level 0-9 (pypng's ``compression``).
    order, optimizer, optimizer_level
        As in :class:`PillowPalettePNG`.
    """

    writer = "pypng"
    rank = 30

    def __init__(self, bitdepth: int | str = 8, compress_level: int = 6, order: str = "as_is",
                 optimizer: str = "none", optimizer_level: int | None = None):
        self.bitdepth = bitdepth
        self.compress_level = compress_level
        self.order = order
        self.optimizer = optimizer
        self.optimizer_level = optimizer_level

    def _write_indices(self, labels, palette, path):
        height, width = labels.shape
        bitdepth = minimal_bit_depth(len(palette)) if self.bitdepth == "minimal" else self.bitdepth
        # pypng writes tRNS from 4-tuples (which must come first); opaque entries as 3-tuples
        entries = [tuple(int(v) for v in (c if len(c) == 3 or c[3] < 255 else c[:3])) for c in palette]
        writer = png.Writer(width, height, palette=entries,
                            bitdepth=bitdepth, compression=self.compress_level)
        with open(path, "wb") as f:
            writer.write_array(f, labels.astype(np.uint8).ravel())


# png8 (SmallestPalettePNG) works in two steps: a cheap screen on a sample of rows picks the palette
# order and the filter, then only the picked stream (and, for a small image, its 8-bit version) is
# deflated at a high level, with one or two zlib settings. The numbers below were measured on the
# default sweep's 90 quantizations (6 images x 5 quantizers x k=16/64/256; time: png8's CPU time over
# png8_pillow's, summed) and the 35 cases of benchmarks/encoders.py section 2 (7 images x
# k=2/4/16/64/256, against pngquant --map), against the previous png8, which deflated 7-17 candidates
# at level 9 after a full-image screen of three orders (36x png8_pillow's write time). With the
# constants as they are: 2.3x, never larger than pngquant (35 of 35) nor than png8_pypng / png8_pillow
# (90 of 90); the sweep's files 0.15% smaller than the previous png8's in all (each -0.9%..+1.3%).
#
# - Level 9 is what costs: on the indices of a 640x427 photo, level 9 takes 5-15x level 6 at 1/2
#   bits (k=2/4), 6x at 4 bits (k=16), 4x at k=64, 1.8x at k=256 (level 8: 2.6-4.9x, 3.4x, 3x,
#   1.6x). The indices of an image over SMALL_IMAGE_PIXELS (320x240 is under) are deflated once, at
#   LARGE_STREAM_LEVEL (8, when compress_level is higher) if compressible (below), else at
#   LARGE_OTHER_LEVEL (7); a smaller image's at compress_level. Level 9 for the large ones: 2.7x,
#   files 0.1% smaller; level 7: larger than pngquant in 6 cases (photos, by up to 3%); level 8 for
#   the less compressible ones too: 2.4x, 0.02% smaller. Every image treated as a small one (level
#   9, two settings, 32 KB window): 8.9x; every one as a large one: larger than pngquant in 5 cases
#   (the small RGBA images, by up to 3%).
# - The indices of a large image whose sample deflates to under COMPRESSIBLE of its size (many long
#   matches, so zlib walks long hash chains) get a window of about WINDOW_ROWS rows instead of 32 KB
#   (2 KB for 1-bit rows of a 640-wide photo, 8 KB for 4-bit ones, 16 KB for 8-bit ones): with 32 KB
#   everywhere, 2.8x and larger than pngquant in 3 cases (photos at k=2/4). The less compressible
#   ones (the photos at k=256: 42-65%) keep 32 KB: with the smaller window they were larger than
#   png8_pypng in 2 of the 90 cases. The same window for a small image's first setting made files
#   0.2% smaller on average, but with other screen samples (16,000 or 64,000 pixels, level 1)
#   logo2 at k=64 came out 0.02% larger than pngquant; not used.
# - memLevel sets both the hash size and how many symbols a deflate block holds (2**(memLevel + 6)),
#   so it moves block boundaries and changes the size by up to ~1.5% either way, and no cheap screen
#   (levels 1-3, or a sample of rows) predicts which one wins at level 8-9. memLevel 6 is the best
#   single choice (0.4% over the best of memLevel 4-9 x strategy, on average), so a large image gets
#   it alone; a small compressible one also gets pngquant's memLevel 5 (libpng's at level 9 there):
#   with memLevel 6 alone png8 was larger than pngquant in 3 of the 35 cases (by up to 0.8%). Four
#   more settings (zlib's default 8, 7, 4, Z_FILTERED): 2.5x, files 0.1% smaller.
# - Filter "up" on packed 1/2/4-bit rows, with Z_FILTERED (fewer short matches; UP_VARIANTS), wins on
#   some photos (flower at k=16: 1.3-2.9%), loses 3-25% on the others. It is deflated when its screen
#   is within UP_MARGIN of filter none's (the smaller first); with "only if smaller" png8 was larger
#   than pngquant once (flower k=4, by 3.5%). The screen ranks the two only roughly (its up/none
#   ratio is 0.5-10% off the final one), so with other sample sizes flower k=16 lost "up" (files up
#   to 4% larger than the previous png8's; the counts above unchanged).
# - Below 8 bits, the 8-bit indices (filter none, the first setting only) are a candidate too for a
#   small compressible image: at level 9 they beat the 1/2/4-bit ones by 2-8% on the small generated
#   and RGBA images (the screen at level 3 says the opposite), never on the 640x427 photos; without
#   them files were 0.3% larger on average (at most 8%).
ZLIB_VARIANTS = ((6, zlib.Z_DEFAULT_STRATEGY), (5, zlib.Z_DEFAULT_STRATEGY))  # (memLevel, strategy)
UP_VARIANTS = ((8, zlib.Z_FILTERED), (6, zlib.Z_FILTERED))
SMALL_IMAGE_PIXELS = 80_000
LARGE_STREAM_LEVEL = 8
LARGE_OTHER_LEVEL = 7
COMPRESSIBLE = 0.45
WINDOW_ROWS = 24
UP_MARGIN = 1.03
# order="as_is" also writes pypng's default stream (8 bits, filter none, level 6, zlib's defaults) as a
# candidate when compress_level >= 6, so it is never larger than png8_pypng at its defaults.
REFERENCE_LEVEL = 6
REFERENCE_VARIANT = (8, zlib.Z_DEFAULT_STRATEGY)
# The screen: the indices at the minimal bit depth on a sample of rows (bands of SCREEN_BAND rows
# spread evenly, about SCREEN_PIXELS pixels: 1 row in 12 of a 640x427 photo, every row of an image up
# to 24,000 pixels), deflated at SCREEN_LEVEL. order="auto" writes the order of AUTO_ORDERS whose
# sample deflates smallest with filter none or, below 8 bits, up (ties: the first; picking by filter
# none alone missed nearest_chain + up, 10% smaller, on a flower crop at k=16). The order decides
# which colour is index 0, the byte a filter-none row starts with (most used first: runs of 0 bytes),
# and, below 8 bits, which indices share a byte: on the 640x427 benchmark photos frequency wins ~5%
# at k=2, nearest_chain ~2% at k=16; at 8 bits the orders differ by <0.2% on the photos, but
# frequency wins up to 6% on the RGBA images. Screen levels 1, 2 and 6, samples of 16,000-64,000
# pixels and bands of 4-16 rows gave the same counts (35 of 35, 90 of 90; files within 0.1% on
# average). Screening every row cost 1.5x png8_pillow's whole write, this sample 0.35x (0.1x of it
# palette_permutation's nearest_chain, a Python loop over the colours). Adding luminance to
# AUTO_ORDERS changes no count.
AUTO_ORDER = "auto"
AUTO_ORDERS = ("as_is", "frequency", "nearest_chain")
SCREEN_LEVEL = 3
SCREEN_PIXELS = 24_000
SCREEN_BAND = 8
PNG8_ORDERS = (AUTO_ORDER, *ORDERS)


def screen_rows(height: int, width: int) -> np.ndarray:
    """The rows png8's screen deflates: bands of :data:`SCREEN_BAND` rows, evenly spread, about
    :data:`SCREEN_PIXELS` pixels in all (at least one band); every row of a smaller image."""
    bands = -(-height // SCREEN_BAND)
    keep = max(1, SCREEN_PIXELS // (SCREEN_BAND * max(width, 1)))
    if keep >= bands:
        return np.arange(height)
    every = -(-bands // keep)
    starts = np.arange((every - 1) // 2 * SCREEN_BAND, height, every * SCREEN_BAND)
    rows = (starts[:, None] + np.arange(SCREEN_BAND)).ravel()
    return rows[rows < height]


def layout_permutation(labels: np.ndarray, palette: np.ndarray, order: str) -> np.ndarray:
    """``perm`` such that :func:`.palette_order.palette_layout` is ``permute_palette(labels, palette, perm)``:
    the palette in ``order``, then its translucent entries (if any) moved first."""
    perm = palette_permutation(labels, palette, order)
    palette = np.asarray(palette)
    if palette.ndim == 2 and palette.shape[1] == 4:
        perm = perm[np.argsort(palette[perm, 3] == 255, kind="stable")]
    return perm


class Screen:
    """png8's screen of one image: the rows :func:`screen_rows` of its indices at the minimal bit depth,
    in a palette order, with a filter, deflated at :data:`SCREEN_LEVEL`.

    With filter ``up``, the first row of each band of the sample (whose row above is not in the
    sample) is written with filter ``none``, the same bytes as with filter ``none`` itself, so the
    two compare the same rows.
    """

    def __init__(self, labels, palette):
        self.labels, self.palette = np.asarray(labels), np.asarray(palette)
        self.depth = minimal_bit_depth(len(self.palette))
        self.rows = screen_rows(*self.labels.shape)
        self.band_starts = np.flatnonzero(np.diff(self.rows, prepend=-2) != 1)
        self.raw_bytes = self.rows.size * (1 + -(-self.labels.shape[1] * self.depth // 8))

    def permutation(self, order: str) -> np.ndarray:
        return layout_permutation(self.labels, self.palette, order)

    def size(self, perm: np.ndarray, filter: str = "none") -> int:
        """Bytes of the sample deflated, its indices renumbered by ``perm`` (:func:`layout_permutation`)."""
        inverse = np.empty(len(perm), dtype=np.uint8)
        inverse[perm] = np.arange(len(perm))
        packed = pack_samples(inverse[self.labels[self.rows]], self.depth)
        scanlines = filter_scanlines(packed, 1, filter)
        if filter != "none":
            scanlines[self.band_starts] = filter_scanlines(packed[self.band_starts], 1, "none")
        return len(deflate(scanlines.tobytes(), SCREEN_LEVEL))


class SmallestPalettePNG(PalettePNG):
    """PNG-8 written the way a careful encoder does: a quick screen, then the smallest of a few deflates.

    kqbench's own numpy + zlib writer (:mod:`.pngwrite`) builds each candidate in memory. A screen
    (:meth:`choose`: about 24,000 pixels in bands of rows, deflated at zlib level 3) picks the palette
    order (``order="auto"``, the default: of :data:`AUTO_ORDERS`) and, below 8 bits, the filter:
    ``none`` on every row, ``up``, or both when their screens are within 3%. The indices are written
    at the minimal bit depth (<=2 colours: 1 bit, <=4: 2, <=16: 4, else 8) and deflated at
    ``compress_level`` with memLevel 6 and, if the screen compressed them below 45%, with pngquant's
    memLevel 5 too (:data:`ZLIB_VARIANTS`; for ``up``, Z_FILTERED: :data:`UP_VARIANTS`). Those of an
    image over :data:`SMALL_IMAGE_PIXELS` (80,000: a 640x427 photo is over, 320x240 under) are
    deflated once, with memLevel 6, at level 8 with a window of about 24 rows if the screen
    compressed them below 45%, else at level 7 with the full 32 kB window (levels capped by
    ``compress_level``; level 9 costs 1.8-15x level 6 there). Below 8 bits, a small compressible
    image's 8-bit indices (filter ``none``, memLevel 6) are one more candidate; with
    ``order="as_is"`` and ``compress_level >= 6``, so is pypng's default stream (8 bits, filter
    none, level 6, zlib's defaults). Only the smallest is written (ties: the first). Every candidate
    holds the same indices and palette (a PLTE chunk of exactly the palette's colours, one IDAT
    chunk, no other chunk), so the choice never changes the decoded pixels; the sweep reads the
    chosen bit depth back from the file (``bit_depth``). The comments above this class record what
    was measured for each of these choices.

    The palette order matters (where png8 with the quantizer's order was larger than ``pngquant
    --map`` on the same pixels, the order was the cause), so ``auto`` writes exactly what png8 writes
    with the order that screened smallest (ties: the first). An explicit order means exactly that
    order.

    Guarantees and measurements. By construction, only one: with ``order="as_is"`` (and
    ``compress_level >= 6``) png8 is never larger than ``png8_pypng`` at its defaults, whose stream
    is one of its candidates. The rest is measured, not guaranteed (the screen and the settings are
    heuristics). On the default sweep (``k=16,64,256``: 6 images x 5 quantizers, 90 files) png8's
    writes took 2.1-2.5x as long as ``png8_pillow``'s (summed wall clock, three runs on a busy
    machine; 2.3x in CPU time; the previous png8, which deflated 7-17 candidates at level 9: 36x),
    and png8 was never larger than ``png8_pypng`` or ``png8_pillow`` (90 of 90, at most 0.9973x);
    it was never larger than ``pngquant --map palette.png --nofs`` on the same pixels in the 35
    cases of ``benchmarks/encoders.py`` (0.869-1.000x), where it took 4.4x ``png8_pillow``'s write
    time (photos at k >= 16: 2.5x, at k=2/4: 5x; the small RGBA images, which Pillow writes in about
    1 ms: 19x). The sweep's files are 0.15% smaller than
    the previous png8's in all (each -0.9% to +1.3%). ``auto`` is not the smallest of the three
    orders' files in every case, nor always no larger than ``as_is``: larger in 3 of those 125
    cases, by at most 0.21%.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9 of the candidates (default 9, as pngquant and optipng use); for an image over
        :data:`SMALL_IMAGE_PIXELS`, at most level 8 (:data:`LARGE_STREAM_LEVEL`), or 7
        (:data:`LARGE_OTHER_LEVEL`) when the screen compressed its indices to 45% or more.
    order : {"auto", "as_is", "frequency", "luminance", "nearest_chain"}
        Palette order (:mod:`.palette_order`), or ``auto`` (the default): the order
        :meth:`choose` picks. The decoded pixels do not change.
    """

    writer = "kqbench"
    rank = 45
    _screened = None  # on the copy _explicit makes: (filters, ratio, perm) of its order, from the screen
    _auto = False     # on that copy: the order was picked by "auto" (so no as_is reference stream)

    def __init__(self, compress_level: int = 9, order: str = AUTO_ORDER):
        self.compress_level = compress_level
        self.order = order

    def choose(self, labels, palette) -> tuple[str, tuple[str, ...], float]:
        """(order, filters, ratio) the screen picks for png8. ``order``: of :data:`AUTO_ORDERS` (for
        ``auto``) or this encoder's order, the one whose sample (:class:`Screen`) deflates smallest
        with filter ``none`` (or ``up``, below 8 bits; ties: the first order). ``filters``:
        ``("none",)`` at 8 bits; below, ``none`` and ``up`` by their screens of that order, smaller
        first (ties: ``none``), the second only if within :data:`UP_MARGIN`. ``ratio``: that order's
        filter-none sample, deflated / raw bytes."""
        return self._choose(labels, palette)[:3]

    def _choose(self, labels, palette):
        """:meth:`choose`, and the permutation of the order it picks (:func:`layout_permutation`)."""
        orders = AUTO_ORDERS if self.order == AUTO_ORDER else (self.order,)
        screen = Screen(labels, palette)
        perms = {order: screen.permutation(order) for order in orders}
        sizes = {order: {f: screen.size(perm, f) for f in (("none", "up") if screen.depth < 8 else ("none",))}
                 for order, perm in perms.items()}
        order = min(orders, key=lambda o: min(sizes[o].values()))  # the first of the smallest
        ranked = sorted(sizes[order], key=sizes[order].get)  # stable: none first on a tie
        filters = tuple(f for f in ranked if sizes[order][f] <= sizes[order][ranked[0]] * UP_MARGIN)
        return order, filters, sizes[order]["none"] / max(screen.raw_bytes, 1), perms[order]

    def choose_order(self, labels, palette) -> str:
        """The order png8 writes (for ``auto``: the one :meth:`choose` picks)."""
        return self.choose(labels, palette)[0] if self.order == AUTO_ORDER else self.order

    def _explicit(self, labels=None, palette=None) -> "SmallestPalettePNG":
        """This encoder with an explicit order: itself, or for ``auto`` a copy with the order (and
        what the screen found) :meth:`choose` picks (without pixels, as for :meth:`check_k`: the first
        of :data:`AUTO_ORDERS`), so every check and step of :class:`PalettePNG` still applies."""
        if self.order not in PNG8_ORDERS:
            raise ConfigurationError(f"unknown palette order {self.order!r} for png8: use one of {', '.join(PNG8_ORDERS)}")
        if self.order != AUTO_ORDER:
            return self
        explicit = copy.copy(self)
        explicit._auto = True
        if labels is None:
            explicit.order = AUTO_ORDERS[0]
        else:
            explicit.order, *screened = self._choose(labels, palette)
            explicit._screened = tuple(screened)
        return explicit

    def check_k(self, k):
        PalettePNG.check_k(self._explicit(), k)

    def write(self, labels, palette, path):
        explicit = self._explicit(labels, palette)
        if explicit._screened is None:
            PalettePNG.write(explicit, labels, palette, path)
            return
        # PalettePNG.write, with the permutation the screen computed (palette_layout's, not computed again)
        check_order(explicit.order)
        check_optimizer(self.optimizer, self.optimizer_level)
        explicit._write_indices(*permute_palette(np.asarray(labels), np.asarray(palette), explicit._screened[2]), path)
        optimize_png(path, self.optimizer, self.optimizer_level)

    def zlib_settings(self, pixels: int, row_bytes: int, filter: str, ratio: float
                      ) -> list[tuple[int, int, int, int]]:
        """(level, windowBits, memLevel, strategy) of the deflates of the indices of an image of
        ``pixels`` pixels, in rows of ``row_bytes`` filtered with ``filter``; ``ratio``: their screen's
        deflated / raw bytes."""
        variants = UP_VARIANTS if filter == "up" else ZLIB_VARIANTS
        compressible = ratio < COMPRESSIBLE
        if pixels <= SMALL_IMAGE_PIXELS:
            one = self.compress_level == 0 or not compressible
            return [(self.compress_level, 15, *variant) for variant in variants[:1 if one else None]]
        window_bits = max(9, min(15, (WINDOW_ROWS * row_bytes - 1).bit_length())) if compressible else 15
        level = min(self.compress_level, LARGE_STREAM_LEVEL if compressible else LARGE_OTHER_LEVEL)
        return [(level, window_bits, *variants[0])]

    def candidates(self, labels, palette):
        """Yield (description, PNG bytes) of every candidate for indices already laid out (as
        ``write`` lays them out), in tie-break order."""
        labels = np.asarray(labels, dtype=np.uint8)
        palette = np.asarray(palette, dtype=np.uint8)
        height, width = labels.shape
        minimal = minimal_bit_depth(len(palette))
        if self._screened is not None:
            filters, ratio, _ = self._screened
        else:  # no screen yet: screen these indices as they are laid out
            as_laid = copy.copy(self)
            as_laid.order = "as_is"
            _, filters, ratio = as_laid.choose(labels, palette)
        streams = [(minimal, filter, None) for filter in filters]
        if minimal < 8 and height * width <= SMALL_IMAGE_PIXELS and ratio < COMPRESSIBLE:
            streams.append((8, "none", 1))  # the 8-bit indices of a small image: the first setting only
        if self.order == "as_is" and not self._auto and self.compress_level >= REFERENCE_LEVEL:
            streams.append((8, "none", "reference"))
        scanlines = {}
        tried = set()
        for depth, filter, which in streams:
            if (depth, filter) not in scanlines:
                scanlines[(depth, filter)] = filter_scanlines(pack_samples(labels, depth), 1, filter).tobytes()
            data = scanlines[(depth, filter)]
            if which == "reference":
                settings = [(REFERENCE_LEVEL, 15, *REFERENCE_VARIANT)]
            else:
                settings = self.zlib_settings(height * width, len(data) // max(height, 1), filter, ratio)[:which]
            for level, window_bits, mem_level, strategy in settings:
                if (depth, filter, level, window_bits, mem_level, strategy) in tried:
                    continue
                tried.add((depth, filter, level, window_bits, mem_level, strategy))
                idat = deflate(data, level, mem_level, strategy, window_bits)
                yield (f"{depth}-bit filter={filter} level={level} windowBits={window_bits} memLevel={mem_level} "
                       f"strategy={strategy}", png_bytes(width, height, depth, 3, idat, palette))

    def _write_indices(self, labels, palette, path):
        if not 0 <= self.compress_level <= 9:
            raise ConfigurationError(f"zlib compress_level must be 0..9, got {self.compress_level}")
        best = None
        for candidate in self.candidates(labels, palette):
            if best is None or len(candidate[1]) < len(best[1]):  # the first of the smallest
                best = candidate
        Path(path).write_bytes(best[1])
