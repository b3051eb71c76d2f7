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
from ..pixels import pillow_mode
from ._base import LABEL_PNG, PALETTE_PNG, TRUECOLOUR_PNG, Encoder
from .optimize import check_optimizer, optimize_png, require_optimizer
from .palette_order import ORDERS, check_order, palette_layout
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
        pixels = palette[labels].astype(np.uint8)
        mode = pillow_mode(palette)
        if self.filter == "pillow":
            Image.fromarray(pixels, mode).save(path, format="PNG", compress_level=self.compress_level)
        else:
            write_png(path, pixels, colour=mode.lower(), filter=self.filter, compress_level=self.compress_level)

    def decode(self, path):
        with Image.open(path) as im:
            if im.mode not in ("RGB", "RGBA"):
                raise ValueError(f"{path}: expected an RGB or RGBA PNG, found mode {im.mode}")
            return np.asarray(im)


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
            return np.asarray(im).astype(np.int64)


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


# The zlib settings png8 tries at its compress_level, as (memLevel, strategy). memLevel 5 with
# the default strategy is what pngquant (libpng) uses at level 9, 9 is Pillow's, 8 zlib's
# default; memLevel also sets how many symbols a deflate block holds (2**(memLevel + 6)), so it
# moves block boundaries and changes the size by up to ~1% either way. Z_FILTERED (fewer short
# matches) often wins on 1/2/4-bit indices.
ZLIB_VARIANTS = ((9, zlib.Z_DEFAULT_STRATEGY), (8, zlib.Z_DEFAULT_STRATEGY), (5, zlib.Z_DEFAULT_STRATEGY),
                 (8, zlib.Z_FILTERED))
# A higher zlib level is not always smaller (lazy matching is greedy): above level 6, the filter
# "none" candidates are also deflated at level 6 with pypng's settings (memLevel 8) and Pillow's
# (memLevel 9), so png8 never loses to the stream png8_pypng or png8_pillow writes at 8 bits
# (or png8_pypng at bitdepth=minimal) with their default level.
REFERENCE_LEVEL = 6
REFERENCE_VARIANTS = ((8, zlib.Z_DEFAULT_STRATEGY), (9, zlib.Z_DEFAULT_STRATEGY))
# (bit depth, filter) of png8's candidates, in tie-break order; "minimal" only when below 8 bits.
# Filter "up" on packed 1/2-bit rows wins on some photos (a few %); the adaptive filter on
# 8-bit indices rarely wins on quantized photos, so it gets zlib's defaults only.
PNG8_CANDIDATES = (("minimal", "none"), ("minimal", "up"), (8, "none"), (8, "adaptive"))
# png8's order="auto": the palette orders it screens (ties: the first), and how. Each order's indices
# at the minimal bit depth are deflated once per filter of AUTO_SCREEN_FILTERS ("up" only below 8
# bits, where it is a candidate) at zlib level AUTO_SCREEN_LEVEL; only the order with the smallest
# of those gets the full candidate set. The order decides which colour is index 0, the byte a
# filter-none row starts with (most used first: runs of 0 bytes), and, below 8 bits, which indices
# share a byte. On the 640x427 benchmark photos frequency wins ~5% at k=2, nearest_chain ~2% at k=16
# (filter up); at 8 bits the orders differ by <0.2%. Level 3 picks as well as level 6 there, at a
# fraction of the cost, level 1 worse; adding luminance changes no pick. Not screened: the 8-bit
# adaptive filter, where a smooth order can win ~5% on small images with many colours (it would
# cost ~50 ms more per 8-bit 640x427 photo, up to ~25% of its write).
AUTO_ORDER = "auto"
AUTO_ORDERS = ("as_is", "frequency", "nearest_chain")
AUTO_SCREEN_FILTERS = ("none", "up")
AUTO_SCREEN_LEVEL = 3
PNG8_ORDERS = (AUTO_ORDER, *ORDERS)


class SmallestPalettePNG(PalettePNG):
    """PNG-8 written the way a careful encoder does: several candidate files, the smallest kept.

    kqbench's own numpy + zlib writer (:mod:`.pngwrite`) builds each candidate in memory
    (:data:`PNG8_CANDIDATES`): the indices at the minimal bit depth when it is below 8 (<=2
    colours: 1 bit, <=4: 2, <=16: 4) with filter ``none`` or ``up`` on every row, and at 8 bits
    with filter ``none`` or the ``adaptive`` per-row choice; each deflated at ``compress_level``
    with a few zlib settings (:data:`ZLIB_VARIANTS`, among them pngquant's; ``adaptive`` with
    zlib's defaults only), and above level 6 the ``none`` ones also at level 6 as pypng and
    Pillow deflate (:data:`REFERENCE_VARIANTS`). Only the smallest is written (ties: the first
    in that order): 7 zlib runs per image when the palette needs 8 bits, 17 below (those on
    1/2/4-bit rows are quick). Every candidate holds the same indices and palette (a PLTE chunk
    of exactly the palette's colours, one IDAT chunk, no other chunk), so the choice never
    changes the decoded pixels; the sweep reads the chosen bit depth back from the file
    (``bit_depth``).

    The palette order matters too (where png8 with the quantizer's order was larger than
    ``pngquant --map`` on the same pixels, the order was the cause), so by default
    (``order="auto"``) png8 first screens the orders
    :data:`AUTO_ORDERS`: each one's indices at the minimal bit depth, filter ``none`` (and ``up``
    below 8 bits), deflated once at zlib level :data:`AUTO_SCREEN_LEVEL` (:meth:`choose_order`:
    tens of ms, against the candidates' 0.2-2 s on a 640x427 photo; measured in
    ``benchmarks/encoders.py``). The file is then exactly what png8 writes with the
    order that screened smallest (ties: the first). The screen is a heuristic: auto is not
    guaranteed to be the smallest of the three orders' full candidate sets, nor never larger
    than ``as_is``; measured, it was never larger than ``as_is`` on the 15 benchmark cases (3
    photos x 5 k) and larger by at most 0.3% in 3 of 30 small crops and downscales of them.
    An explicit order means exactly that order.

    Parameters
    ----------
    compress_level : int
        zlib level 0-9 of the candidates (default 9, as pngquant and optipng use); above 6,
        the filter ``none`` candidates are also deflated at 6.
    order : {"auto", "as_is", "frequency", "luminance", "nearest_chain"}
        Palette order (:mod:`.palette_order`), or ``auto`` (the default): the order
        :meth:`choose_order` picks. The decoded pixels do not change.
    """

    writer = "kqbench"
    rank = 45

    def __init__(self, compress_level: int = 9, order: str = AUTO_ORDER):
        self.compress_level = compress_level
        self.order = order

    def choose_order(self, labels, palette) -> str:
        """The order ``order="auto"`` writes: of :data:`AUTO_ORDERS`, the one whose indices at the
        minimal bit depth deflate smallest at :data:`AUTO_SCREEN_LEVEL` with a filter of
        :data:`AUTO_SCREEN_FILTERS` (``up`` only below 8 bits)."""
        depth = minimal_bit_depth(len(palette))
        filters = AUTO_SCREEN_FILTERS if depth < 8 else AUTO_SCREEN_FILTERS[:1]

        def screened(order):
            new_labels, _ = palette_layout(labels, palette, order)  # as write lays it out
            packed = pack_samples(np.asarray(new_labels).astype(np.uint8), depth)
            return min(len(deflate(filter_scanlines(packed, 1, f).tobytes(), AUTO_SCREEN_LEVEL)) for f in filters)

        return min(AUTO_ORDERS, key=screened)  # the first of the smallest

    def _explicit(self, labels=None, palette=None) -> "SmallestPalettePNG":
        """This encoder with an explicit order: itself, or for ``auto`` a copy with the order
        :meth:`choose_order` picks (without pixels, as for :meth:`check_k`: the first of
        :data:`AUTO_ORDERS`), so every check and step of :class:`PalettePNG` still applies."""
        if self.order not in PNG8_ORDERS:
            raise ConfigurationError(f"unknown palette order {self.order!r} for png8: use one of {', '.join(PNG8_ORDERS)}")
        if self.order != AUTO_ORDER:
            return self
        explicit = copy.copy(self)
        explicit.order = AUTO_ORDERS[0] if labels is None else self.choose_order(labels, palette)
        return explicit

    def check_k(self, k):
        PalettePNG.check_k(self._explicit(), k)

    def write(self, labels, palette, path):
        PalettePNG.write(self._explicit(labels, palette), labels, palette, path)

    def candidates(self, labels, palette):
        """Yield (description, PNG bytes) of every candidate, in tie-break order."""
        height, width = labels.shape
        minimal = minimal_bit_depth(len(palette))
        for depth, filter in PNG8_CANDIDATES:
            if depth == "minimal":
                if minimal == 8:
                    continue
                depth = minimal
            scanlines = filter_scanlines(pack_samples(labels, depth), 1, filter).tobytes()
            settings = [(self.compress_level, mem, strategy)
                        for mem, strategy in (ZLIB_VARIANTS if filter != "adaptive" else ZLIB_VARIANTS[1:2])]
            if filter == "none" and self.compress_level > REFERENCE_LEVEL:
                settings += [(REFERENCE_LEVEL, mem, strategy) for mem, strategy in REFERENCE_VARIANTS]
            for level, mem_level, strategy in settings:
                idat = deflate(scanlines, level, mem_level, strategy)
                yield (f"{depth}-bit filter={filter} level={level} memLevel={mem_level} strategy={strategy}",
                       png_bytes(width, height, depth, 3, idat, palette))

    def _write_indices(self, labels, palette, path):
        if not 0 <= self.compress_level <= 9:
            raise ConfigurationError(f"zlib compress_level must be 0..9, got {self.compress_level}")
        labels = np.asarray(labels).astype(np.uint8)
        palette = np.asarray(palette, dtype=np.uint8)
        best = min(self.candidates(labels, palette), key=lambda c: len(c[1]))  # first of the smallest
        Path(path).write_bytes(best[1])
