"""Wu's colour quantizer: greedy variance-minimising cuts of the colour histogram.

Xiaolin Wu, "Efficient Statistical Computations for Optimal Color Quantization", Graphics
Gems II (1991). The colour cube is divided into ``2**bits`` cells per channel; one pass over
the pixels gives each cell its pixel count ``w``, channel sums ``s = (sr, sg, sb)`` and sum
of squared norms ``q`` (of the pixels' full 8-bit values, not of the cell's centre).
Cumulative (summed-volume) tables of these five moments give the moments of any
axis-aligned box of cells from its 8 corners, so a box's squared error about its mean,
``q - |s|**2 / w``, costs O(1). Starting from the whole cube, the box with the largest
squared error is cut in two by the plane -- any axis, any cell boundary -- that leaves the
smallest summed error in the two halves (the largest ``|s_lo|**2 / w_lo + |s_hi|**2 / w_hi``),
until there are ``k`` boxes. The palette is the boxes' mean colours.

Here the moments are exact integers (int64), the histogram pass is compiled with numba and
split among threads, and the cuts, O(k * 2**bits) table look-ups, take about a millisecond.
``predict`` is an exact nearest-palette-colour search (Wu's own remap gives a pixel its box's
colour, which is not always the nearest): each occupied cell of side 8 of the colour cube
gets the few palette entries that can be nearest to a colour in it; on large images the
answers for all 512 colours of each occupied cell are computed first (an inverse colour
map), and each pixel is then a table look-up.

Arrays are allocated by the Python callers, not inside the compiled functions: each numpy
allocation a numba function makes adds compile time (about 0.3 s each) on first use.
"""

from __future__ import annotations

import mmap
import numbers
import os
from functools import partial

import numpy as np
from numba import njit

from ._base import Quantizer, centres_to_palette, check_pixels, pack_rgb
from ._lanes import finished, in_background, run_tasks

_MOMENTS = 5  # per cell or box: pixel count, sum of R, G, B, sum of R**2 + G**2 + B**2
_MAP_PIXELS_PER_CELL = 256  # predict makes an inverse colour map from this many pixels per occupied cell
_LANE_PIXELS = 1 << 19  # fewest pixels worth a thread of their own (about 1 ms of work)
_PACKED_PIXELS = 1 << 24  # pixels whose summed channel values fit in 32 bits (255 * 2**24 < 2**32)
_BYTES = np.arange(256, dtype=np.uint32)  # every value of a channel
_STREAMS = 4  # places of the image a histogram pass takes pixels from in turn (3 to 8 do about as well)


# --------------------------------------------------------------------------- histogram and cuts


@njit(cache=True, nogil=True, inline="always")
def _add_pixel(pixels, i, rows, packed):
    """Add pixel i's moments to its cell's three words of ``packed`` (see :func:`_histogram`)."""
    high = np.uint64(32)
    red, green, blue = pixels[i, 0], pixels[i, 1], pixels[i, 2]
    both = rows[0, red] + rows[1, green] + rows[2, blue]
    at = both >> high
    r, g, b = np.uint64(red), np.uint64(green), np.uint64(blue)
    packed[at] += (np.uint64(1) << high) | r
    packed[at + 1] += g | (b << high)
    packed[at + 2] += both & np.uint64(0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _histogram(pixels, rows, packed):
    """Add each pixel's moments to its cell's three words of ``packed`` ((3 * S**3,) uint64, S = 2**bits + 1):
    count << 32 | sum of R, sum of G | sum of B << 32, sum of R**2 + G**2 + B**2. The cell (r, g, b) has
    words 3 * ((r + 1) * S**2 + (g + 1) * S + b + 1) onwards. Three additions a pixel rather than five,
    a sixth less time; the halves hold the sums of up to :data:`_PACKED_PIXELS` pixels (:func:`_moments_of`).
    A pixel's first word and its squared norm come from one sum of three look-ups (:func:`_row_table`):
    a pass multiplied nothing, where four multiplications a pixel (one for the row) had kept the one
    port that multiplies busy (15 ms instead of 18 for 12 MP).

    The pixels are taken from :data:`_STREAMS` places of the image in turn: neighbouring pixels are
    mostly in one cell (71% on the 24 MP benchmark), and each addition would wait for the one before
    it to reach memory; from four places apart they overlap (18 ms instead of 25 for 12 MP)."""
    part = pixels.shape[0] // _STREAMS
    for i in range(part):
        for s in range(_STREAMS):
            _add_pixel(pixels, i + s * part, rows, packed)
    for i in range(_STREAMS * part, pixels.shape[0]):
        _add_pixel(pixels, i, rows, packed)


@njit(cache=True, nogil=True)
def _unpack(packed, m):
    """Add the moments held in ``packed`` (:func:`_histogram`) to ``m`` ((S**3, 5) int64), and zero it."""
    low = np.uint64(0xFFFFFFFF)
    high = np.uint64(32)
    for c in range(m.shape[0]):
        first, second = packed[3 * c], packed[3 * c + 1]
        m[c, 0] += np.int64(first >> high)
        m[c, 1] += np.int64(first & low)
        m[c, 2] += np.int64(second & low)
        m[c, 3] += np.int64(second >> high)
        m[c, 4] += np.int64(packed[3 * c + 2])
        packed[3 * c] = packed[3 * c + 1] = packed[3 * c + 2] = 0


def _moments_of(pixels, rows, side) -> np.ndarray:
    """The histogram of ``pixels``: (side, side, side, 5) int64, each cell's pixel count, sums of R, G, B
    and sum of squared norms (:func:`_histogram`, :data:`_PACKED_PIXELS` pixels at a time)."""
    m = np.zeros((side ** 3, _MOMENTS), np.int64)
    packed = np.zeros(3 * side ** 3, np.uint64)
    for start in range(0, len(pixels), _PACKED_PIXELS):
        _histogram(pixels[start:start + _PACKED_PIXELS], rows, packed)
        _unpack(packed, m)
    return m.reshape(side, side, side, _MOMENTS)


def _row_table(side, shift) -> np.ndarray:
    """(3, 256) uint64 for :func:`_histogram`: the sum of rows[0, R], rows[1, G] and rows[2, B] is the
    first word of the colour's cell in the packed histogram << 32 | R**2 + G**2 + B**2, the cell being
    ((R >> shift) + 1, (G >> shift) + 1, (B >> shift) + 1) of the padded cube of the given side.
    (The squares' sum is under 2**32 and never carries into the word's index.)"""
    values = _BYTES.astype(np.uint64)
    cell = (values >> np.uint64(shift)) + np.uint64(1)
    strides = (3 * side * side, 3 * side, 3)
    return np.stack([((cell * np.uint64(stride)) << np.uint64(32)) | values * values for stride in strides])


@njit(cache=True, nogil=True)
def _cumulate(m):
    """Turn the histogram ``m`` into cumulative moment tables, in place; return the number
    of occupied cells.

    Then m[r, g, b] holds the moments of the pixels in cells [0, r) x [0, g) x [0, b): index
    0 of each axis is zero padding, so a box's moments never need a bounds test.
    """
    s = m.shape[0]
    occupied = 0
    for r in range(1, s):
        for g in range(1, s):
            for b in range(1, s):
                occupied += m[r, g, b, 0] > 0
    # Summed-volume tables: prefix sums along b, then g, then r.
    for r in range(1, s):
        for g in range(1, s):
            for b in range(1, s):
                for t in range(_MOMENTS):
                    m[r, g, b, t] += m[r, g, b - 1, t]
    for r in range(1, s):
        for g in range(1, s):
            for b in range(1, s):
                for t in range(_MOMENTS):
                    m[r, g, b, t] += m[r, g - 1, b, t]
    for r in range(1, s):
        for g in range(1, s):
            for b in range(1, s):
                for t in range(_MOMENTS):
                    m[r, g, b, t] += m[r - 1, g, b, t]
    return occupied


@njit(cache=True, nogil=True)
def _box_moments(m, box, out):
    """Moments of the cells box[0] < r <= box[1], box[2] < g <= box[3], box[4] < b <= box[5]
    (inclusion-exclusion over the box's 8 corners), written to ``out`` (5,) int64."""
    r0, r1, g0, g1, b0, b1 = box[0], box[1], box[2], box[3], box[4], box[5]
    for t in range(_MOMENTS):
        out[t] = (m[r1, g1, b1, t] - m[r1, g1, b0, t] - m[r1, g0, b1, t] + m[r1, g0, b0, t]
                  - m[r0, g1, b1, t] + m[r0, g1, b0, t] + m[r0, g0, b1, t] - m[r0, g0, b0, t])


@njit(cache=True, nogil=True)
def _examine(m, box, moments, stats, cut, lower, part):
    """A box's squared error about its mean, and its best cut: the one that minimises the
    summed squared error of the two halves.

    Writes ``stats`` = (error, gain): the box's error and the error its best cut removes;
    ``cut`` = (axis, position): that cut's axis (0 = R, 1 = G, 2 = B) and cell boundary (the
    lower half keeps the cells up to it). Only cuts that leave pixels on both sides count:
    gain is -1 if there is none (all the box's pixels are in one cell). ``lower`` (6,) and
    ``part`` (5,) are scratch space. (Rows of arrays rather than a box index: numba would
    compile a version of this function for each literal index it is called with.)
    """
    w, sr, sg, sb = moments[0], float(moments[1]), float(moments[2]), float(moments[3])
    base = (sr * sr + sg * sg + sb * sb) / w  # the part of the error the box's mean removes
    stats[0] = max(float(moments[4]) - base, 0.0)
    stats[1] = -1.0
    cut[0] = cut[1] = -1
    for t in range(6):
        lower[t] = box[t]
    for a in range(3):
        for p in range(box[2 * a] + 1, box[2 * a + 1]):
            lower[2 * a + 1] = p
            _box_moments(m, lower, part)
            w_lo = part[0]
            if w_lo == 0:
                continue
            if w_lo == w:
                break  # the upper half is empty, and stays so at the later positions
            r, g, b = float(part[1]), float(part[2]), float(part[3])
            score = (r * r + g * g + b * b) / w_lo + ((sr - r) ** 2 + (sg - g) ** 2 + (sb - b) ** 2) / (w - w_lo)
            if score - base > stats[1]:
                stats[1] = score - base
                cut[0] = a
                cut[1] = p
        lower[2 * a + 1] = box[2 * a + 1]
    if cut[0] >= 0 and stats[1] < 0.0:
        stats[1] = 0.0  # rounding: a cut never raises the error


@njit(cache=True, nogil=True)
def _cut(m, boxes, mom, stats, cuts, totals, lower, part):
    """Wu's greedy cuts, from boxes[0] (the whole cube) to at most len(boxes) boxes; return
    how many were made (fewer if no box can be cut further).

    Fills, per box: ``boxes`` (cell bounds, lower bounds exclusive, as :func:`_box_moments`),
    ``mom`` its moments, ``stats`` and ``cuts`` as :func:`_examine`; and ``totals[i]``, the
    summed squared error of all boxes after i cuts.
    """
    k = boxes.shape[0]
    _box_moments(m, boxes[0], mom[0])
    _examine(m, boxes[0], mom[0], stats[0], cuts[0], lower, part)
    totals[0] = stats[0, 0]
    n = 1
    while n < k:
        # Wu's rule: cut the box with the largest squared error (among those that can be cut).
        pick = -1
        for i in range(n):
            if stats[i, 1] >= 0.0 and (pick < 0 or stats[i, 0] > stats[pick, 0]):
                pick = i
        if pick < 0:
            break
        a, p = cuts[pick, 0], cuts[pick, 1]
        for t in range(6):
            boxes[n, t] = boxes[pick, t]
        boxes[n, 2 * a] = p  # the upper half: cells above p
        boxes[pick, 2 * a + 1] = p  # the lower half keeps the box's slot
        for t in range(_MOMENTS):
            part[t] = mom[pick, t]  # the whole box
        _box_moments(m, boxes[pick], mom[pick])
        for t in range(_MOMENTS):
            mom[n, t] = part[t] - mom[pick, t]  # upper half = whole - lower (exact: integers)
        _examine(m, boxes[pick], mom[pick], stats[pick], cuts[pick], lower, part)
        _examine(m, boxes[n], mom[n], stats[n], cuts[n], lower, part)
        totals[n] = 0.0
        for i in range(n + 1):
            totals[n] += stats[i, 0]
        n += 1
    return n


@njit(cache=True, nogil=True)
def _few_colours(pixels, seen, out):
    """Write the distinct colours of ``pixels`` to ``out`` (k + 1, 3), stopping at k + 1;
    return how many. ``seen``: 2**18 uint64 zeros, one bit per 24-bit colour (2 MB)."""
    n = 0
    for i in range(pixels.shape[0]):
        key = (np.int64(pixels[i, 0]) << 16) | (np.int64(pixels[i, 1]) << 8) | np.int64(pixels[i, 2])
        bit = np.uint64(1) << np.uint64(key & 63)
        if seen[key >> 6] & bit:
            continue
        seen[key >> 6] |= bit
        for c in range(3):
            out[n, c] = pixels[i, c]
        n += 1
        if n == out.shape[0]:
            break
    return n


# --------------------------------------------------------------------------- exact remap


@njit(cache=True, nogil=True)
def _used_cells(pixels, used):
    """used[c] = 1 if a pixel is in cell c (side 8, index r/8 * 1024 + g/8 * 32 + b/8) of
    the colour cube."""
    for i in range(pixels.shape[0]):
        used[((pixels[i, 0] >> 3) << 10) | ((pixels[i, 1] >> 3) << 5) | (pixels[i, 2] >> 3)] = 1


@njit(cache=True, nogil=True)
def _reserve(a, n, extra):
    """``a``, or a larger copy of its first ``n`` entries, with room for ``n + extra``."""
    if n + extra <= a.shape[0]:
        return a
    b = np.empty(2 * a.shape[0] + extra, a.dtype)
    for i in range(n):  # (a loop: a slice assignment would compile numba's shape-error machinery)
        b[i] = a[i]
    return b


@njit(cache=True, nogil=True)
def _filter(palette, src, s0, s1, lo0, lo1, lo2, side, dst, at):
    """Write to dst[at:] the entries of src[s0:s1] that can be nearest to some point of the
    cube [lo, lo + side - 1]**3: those whose distance to it is at most the smallest
    farthest-corner distance (that entry is at least that near to every point of the cube).
    Ascending order is kept; return how many. Never too few, sometimes more than needed."""
    hi0, hi1, hi2 = lo0 + side - 1, lo1 + side - 1, lo2 + side - 1
    limit = np.int64(1) << 62
    for s in range(s0, s1):
        j = src[s]
        f0 = max(palette[j, 0] - lo0, hi0 - palette[j, 0])
        f1 = max(palette[j, 1] - lo1, hi1 - palette[j, 1])
        f2 = max(palette[j, 2] - lo2, hi2 - palette[j, 2])
        limit = min(limit, f0 * f0 + f1 * f1 + f2 * f2)
    n = 0
    for s in range(s0, s1):
        j = src[s]
        e0 = max(lo0 - palette[j, 0], 0, palette[j, 0] - hi0)
        e1 = max(lo1 - palette[j, 1], 0, palette[j, 1] - hi1)
        e2 = max(lo2 - palette[j, 2], 0, palette[j, 2] - hi2)
        if e0 * e0 + e1 * e1 + e2 * e2 <= limit:
            dst[at + n] = j
            n += 1
    return n


@njit(cache=True, nogil=True)
def _candidates(palette, used, used32, start, everyone, coarse_start):
    """For each used side-8 cell c of the colour cube (``used[c]``), the palette entries that
    can be nearest to some point of it (:func:`_filter`), as lists[start[c]:start[c + 1]];
    returns ``lists``. Filtered from the list of its side-32 cell (``used32``, index
    r/32 * 64 + g/32 * 8 + b/32), itself filtered from the whole palette: a few times less
    work than filtering the whole palette per cell. ``palette`` is int64 (m, 3);
    ``everyone`` is arange(m) and ``coarse_start`` (513,) int64 scratch space."""
    m = palette.shape[0]
    coarse = np.empty(4 * m + 64, np.int64)
    n = np.int64(0)  # (not the literal 0: numba would compile the callees once more for it)
    for p in range(512):
        coarse_start[p] = n
        if used32[p]:
            coarse = _reserve(coarse, n, m)
            n += _filter(palette, everyone, np.int64(0), m, (p >> 6) << 5, ((p >> 3) & 7) << 5, (p & 7) << 5,
                         np.int64(32), coarse, n)
    coarse_start[512] = n
    lists = np.empty(8 * m + 4096, np.int64)
    n = np.int64(0)
    for c in range(32768):
        start[c] = n
        if used[c]:
            p = ((c >> 12) << 6) | (((c >> 7) & 7) << 3) | ((c >> 2) & 7)
            lists = _reserve(lists, n, coarse_start[p + 1] - coarse_start[p])
            n += _filter(palette, coarse, coarse_start[p], coarse_start[p + 1],
                         (c >> 10) << 3, ((c >> 5) & 31) << 3, (c & 31) << 3, np.int64(8), lists, n)
    start[32768] = n
    return lists


@njit(cache=True, nogil=True)
def _remap(pixels, palette, start, lists, out):
    """out[i] = index of the palette entry nearest to pixel i, searched in the list of its
    side-8 cell (ascending: the first of equally near entries wins)."""
    last_key = -1
    last = 0
    for i in range(pixels.shape[0]):
        r, g, b = np.int64(pixels[i, 0]), np.int64(pixels[i, 1]), np.int64(pixels[i, 2])
        key = (r << 16) | (g << 8) | b
        if key != last_key:  # runs of one colour are common in images
            cell = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)
            best = np.int64(1) << 62
            for s in range(start[cell], start[cell + 1]):
                j = lists[s]
                d = (r - palette[j, 0]) ** 2 + (g - palette[j, 1]) ** 2 + (b - palette[j, 2]) ** 2
                if d < best:
                    best = d
                    last = j
            last_key = key
        out[i] = last


@njit(cache=True, nogil=True)
def _fill_cells(palette, start, lists, cells, answers):
    """The inverse colour map of the side-8 cells ``cells``: answers[c * 512 + (r % 8) * 64
    + (g % 8) * 8 + b % 8] = index of the palette entry nearest to colour (r, g, b) of cell
    c, for all 512 colours of the cell. Smallest squared distance, then lowest index: the
    minimum of distance << 32 | index over the cell's list.

    Each entry of the list is compared with the whole cell at once, a row of 8 blue values at a
    time, with no test: the compiler does each row in one vector instruction. Its two scratch
    arrays are allocated here, against the module's rule: passed in, they kept the loop scalar
    (9.9 ms instead of 5.8 for the 24 MP benchmark's 10,614 cells on one core).
    """
    best = np.empty((64, 8), np.int64)  # (r % 8) * 8 + g % 8, b % 8
    blue = np.empty(8, np.int64)  # squared distance along blue << 32 | index, of the entry in hand
    for c in cells:
        r0, g0, b0 = (c >> 10) << 3, ((c >> 5) & 31) << 3, (c & 31) << 3
        best[:, :] = np.int64(1) << 62
        for s in range(start[c], start[c + 1]):
            j = lists[s]
            for b in range(8):
                blue[b] = (((b0 + b - palette[j, 2]) ** 2) << 32) | j
            for rg in range(64):
                d = (((r0 + (rg >> 3) - palette[j, 0]) ** 2) + ((g0 + (rg & 7) - palette[j, 1]) ** 2)) << 32
                for b in range(8):
                    best[rg, b] = min(best[rg, b], d + blue[b])
        base = np.int64(c) << 9
        for rg in range(64):
            for b in range(8):
                answers[base + rg * 8 + b] = best[rg, b] & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _look_up(pixels, used, answers, spread, out):
    """out[i] = the inverse colour map's answer for pixel i (see :func:`_fill_cells`), at
    spread[0, R] | spread[1, G] | spread[2, B] (:data:`_SPREAD`); returns how many pixels are
    in cells not flagged in ``used`` (whose answers were not computed)."""
    outside = 0
    for i in range(pixels.shape[0]):
        at = spread[0, pixels[i, 0]] | spread[1, pixels[i, 1]] | spread[2, pixels[i, 2]]
        outside += used[at >> 9] == 0
        out[i] = answers[at]
    return outside


# A colour's place in the inverse colour map, cell * 512 + (R % 8) * 64 + (G % 8) * 8 + B % 8 with cell =
# (R // 8) * 1024 + (G // 8) * 32 + B // 8, as spread[0, R] | spread[1, G] | spread[2, B]: three look-ups
# instead of a dozen operations a pixel (unsigned, so that numba leaves out the test for negative indices: a
# fifth less time).
_SPREAD = np.stack([((_BYTES >> 3) << (19 - 5 * c)) | ((_BYTES & 7) << (6 - 3 * c)) for c in range(3)])


def _pixels(pixels) -> np.ndarray:
    """``check_pixels``, plus a copy of read-only input (numba would compile another version
    of each function for read-only arrays, seconds on first use)."""
    pixels = check_pixels(pixels)
    return pixels if pixels.flags.writeable else pixels.copy()


def _thread_count(n_threads) -> int:
    """``n_threads``, or if None the cores this process may run on."""
    if n_threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be None or a whole number >= 1, got {n_threads!r}")
    return int(n_threads)


def _lanes(n, n_threads) -> list:
    """``n_threads`` contiguous, nearly equal parts (lo, hi) of range(n); fewer for small
    inputs, where a thread costs more than it saves."""
    lanes = max(1, min(n_threads, n // _LANE_PIXELS))
    return [(n * t // lanes, n * (t + 1) // lanes) for t in range(lanes)]


def same_pixels_key(pixels) -> tuple:
    """What tells ``predict`` that its (checked, (n, 3)) pixels are those of the last fit, whose
    occupied cells it may then take as :func:`nearest_labels`' hint: their memory and shape.
    (Pixels changed in place since, or another array at the same address, are still answered
    exactly: the hint is checked.)"""
    return pixels.__array_interface__["data"][0], pixels.shape


def fit_cells_hint(fitted, pixels):
    """The occupied side-8 cells ``fitted`` kept from its fit (``_fit_cells``: :func:`same_pixels_key` of
    its pixels and the cells) when ``pixels`` are that fit's, as :func:`nearest_labels`' hint; else None."""
    key, cells = getattr(fitted, "_fit_cells", None) or (None, None)
    return cells if key == same_pixels_key(pixels) else None


def nearest_labels(palette, pixels, n_threads=None, cells=None) -> np.ndarray:
    """Index of the exactly nearest ``palette`` colour of each pixel (squared RGB distance,
    ties to the lower index), as the smallest unsigned integer type that holds it (uint8 up
    to 256 colours).

    Each occupied cell of side 8 of the colour cube gets the short list of palette entries
    that can be nearest to a point in it (:func:`_candidates`; about 6 of 256 on photos).
    Small images compare each pixel with its cell's list. Large ones (at least
    ``_MAP_PIXELS_PER_CELL`` pixels per occupied cell) first compute the answer for every
    colour of every occupied cell -- an inverse colour map, 512 bytes per cell, each entry of
    the cell's list compared with all of them at once -- and then look each pixel up: far fewer distance
    computations than pixels, and no branches per pixel. Passes over the pixels are split
    among ``n_threads`` threads (None: all available cores); the result does not depend on
    it.

    ``cells``, optional: (32768,) uint8 flags of the side-8 cells (r >> 3, g >> 3, b >> 3,
    flattened) that hold the pixels, from a fit on the same pixels, which saves the pass that
    finds them. A hint only: a pixel outside them is counted by the look-up, and if there is
    any, the labels are all made again without it -- exact either way.
    """
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) == 0 or palette.dtype != np.uint8:
        raise ValueError(f"palette must be uint8 of shape (m, 3) with m >= 1, got {palette.dtype} {palette.shape}")
    threads = _thread_count(n_threads)
    pixels = _pixels(pixels)
    entries = palette.astype(np.int64)
    m, n = len(palette), len(pixels)
    lanes = _lanes(n, threads)

    def used_cells(lo, hi):
        used = np.zeros(32768, np.uint8)
        _used_cells(pixels[lo:hi], used)
        return used

    # (Only the look-up checks that each pixel's cell is flagged: the hint is for the map.)
    if cells is not None and n >= _MAP_PIXELS_PER_CELL * np.count_nonzero(cells):
        used = np.ascontiguousarray(cells, np.uint8)
    else:
        used = np.bitwise_or.reduce(run_tasks([partial(used_cells, lo, hi) for lo, hi in lanes]))
    used32 = used.reshape(8, 4, 8, 4, 8, 4).any(axis=(1, 3, 5)).ravel()
    start = np.empty(32769, np.int64)
    out = np.empty(n, np.uint8 if m <= 256 else np.uint16 if m <= 65536 else np.uint32)
    occupied = np.flatnonzero(used)
    mapped = n >= _MAP_PIXELS_PER_CELL * len(occupied)
    # indexed by the cell directly (a slot per occupied cell would cost the look-up a dependent load); only
    # the occupied cells' pages are written, so only they take memory
    answers = np.empty(512 * 32768, out.dtype) if mapped else None
    touching = in_background(_first_touch, out, answers, occupied) if mapped and len(lanes) > 1 else None
    lists = _candidates(entries, used, used32, start, np.arange(m), np.empty(513, np.int64))
    finished(touching)
    if not mapped:
        run_tasks([partial(_remap, pixels[lo:hi], entries, start, lists, out[lo:hi]) for lo, hi in lanes])
        return out
    # Cells dealt out among the threads in turn: neighbouring cells have lists of similar
    # lengths. Each thread writes the answers of its own cells only.
    run_tasks([partial(_fill_cells, entries, start, lists, np.ascontiguousarray(occupied[t::len(lanes)]), answers)
               for t in range(len(lanes))])
    outside = sum(run_tasks([partial(_look_up, pixels[lo:hi], used, answers, _SPREAD, out[lo:hi]) for lo, hi in lanes]))
    if outside:  # the hint missed some pixels' cells: made again from the pixels' own cells
        return nearest_labels(palette, pixels, n_threads)
    return out


def _first_touch(out, answers, occupied) -> None:
    """Write to every page of the labels ``out`` and of the occupied cells' ``answers``, as the look-up and
    the inverse map will: the system gives a page its memory on its first write. Done on another core while
    :func:`nearest_labels` makes its candidate lists (serial), it spares their lanes that wait: at 24 MP the
    look-up 24 -> 21 ms, the map 7.4 -> 5.7 ms."""
    out.view(np.uint8)[::mmap.PAGESIZE] = 0
    answers[occupied << 9] = 0


def compile_remap(pixels) -> None:
    """Compile :func:`nearest_labels`' numba code (or load it from numba's cache) on ``pixels``, a small
    (n, 3) uint8 image of many colours: the search per pixel in its cell's list, and the inverse colour
    map of images with many pixels per cell. The ``predict`` of every quantizer that remaps in RGB with
    it (``wu``; ``fast`` in RGB)."""
    palette = pixels[:4]
    nearest_labels(palette, pixels, n_threads=1)
    nearest_labels(palette, pixels >> 5, n_threads=1)


# --------------------------------------------------------------------------- estimator


class WuQuantizer(Quantizer):
    """Wu's colour quantizer: greedy orthogonal cuts of the colour histogram (numba).

    Xiaolin Wu's algorithm (Graphics Gems II, 1991): the colour cube is split into
    ``2**bits`` cells per channel, and cumulative tables of each cell's pixel count, colour
    sum and sum of squares give the squared error of any box of cells in O(1). Starting
    from the whole cube, the box with the largest squared error is cut in two at the
    axis-aligned plane that minimises the summed squared error of the halves, until there
    are ``n_colors`` boxes; the palette is their mean colours (means of the pixels' full
    8-bit values). Deterministic, one pass over the pixels plus O(k * 2**bits) work: far
    faster than k-means, at a higher error, since cuts are never revised and boxes cannot
    follow the shapes of colour clusters. The classic fast baseline between median cut
    (which cuts at the median, not at the error-minimising plane) and k-means.

    ``predict`` gives every pixel its exactly nearest palette colour (squared RGB distance,
    ties to the lower index), like every kqbench quantizer, not its box's colour; labels are
    uint8 for palettes of up to 256 colours. RGB only: an image with transparency raises
    ConfigurationError (use ``alpha=drop``, or a quantizer that takes alpha).

    Parameters
    ----------
    n_colors : int, default=16
        Largest palette size (k). The palette has fewer colours when the pixels occupy
        fewer than k histogram cells (and the image has more than k distinct colours);
        raise ``bits`` for such images.
    bits : int, default=5
        Histogram bits per channel, 1 to 7: boxes are made of cells of side ``2**(8 - bits)``
        colour values. 5 is Wu's (32**3 cells, 33**3 cumulative moments, 1.4 MB, and 0.9 MB
        more while counting); each step up gives cuts finer positions and multiplies the
        tables' size by about 8 (7: 86 + 51 MB).
    random_state : int or None, default=0
        Unused (Wu's algorithm is deterministic); kept for the uniform interface.
    n_threads : int or None, default=None
        Threads for the passes over the pixels (histogram, ``predict``) of large images;
        None: all cores this process may run on. The palette and labels are the same for
        any value.

    Attributes
    ----------
    palette_ : ndarray of shape (m, 3), uint8
        The learnt palette, ``m <= n_colors``: distinct colours, in the order the boxes were
        made (boxes whose means round to the same colour give one entry). An image with at
        most ``n_colors`` distinct colours gets exactly those colours (sorted as 0xRRGGBB).
    boxes_ : ndarray of shape (n_boxes, 3, 2), int64
        Each box's inclusive range of values per channel (R, G, B; low, high); the boxes
        partition the colour cube. Empty when no cut was needed (at most ``n_colors``
        distinct colours).
    cut_errors_ : ndarray of shape (n_boxes,), float64
        Summed squared error of the pixels about their box means (over pixels and channels)
        after 0, 1, ..., n_boxes - 1 cuts; each cut lowers it. Divided by 3 * n_pixels, the
        last is the boxes' MSE (assigning each pixel its nearest palette colour instead can
        only lower it, up to rounding the means). Empty when no cut was needed.
    """

    alpha_support = None  # the histogram and the cuts are 3-D (RGB)
    family = "Wu"
    rank = 65
    compile_stages = ("wu",)  # numba: compiled ahead in the background by a sweep

    @classmethod
    def compile_ahead(cls, stage: str | None = None) -> None:
        pixels = np.random.default_rng(0).integers(0, 256, (2048, 3), dtype=np.uint8)
        cls(4, n_threads=1).fit(pixels)
        cls(2, n_threads=1).fit(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], np.uint8))  # few cells: the other path
        compile_remap(pixels)

    def compile_needs(self, pixels=None, colours=None) -> tuple[str, ...]:
        return self.compile_stages  # its own fit and predict, on any image

    def __init__(self, n_colors=16, bits=5, random_state=0, n_threads=None):
        self.n_colors = n_colors
        self.bits = bits
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, pixels) -> "WuQuantizer":
        """Learn the palette from ``pixels`` ((n, 3) or (h, w, 3) uint8 RGB)."""
        k = self.n_colors
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"n_colors (k) must be a whole number >= 1, got {k!r}")
        bits = self.bits
        if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 1 <= bits <= 7:
            raise ValueError(f"bits must be a whole number from 1 to 7, got {bits!r}")
        if np.ndim(pixels) in (2, 3) and np.shape(pixels)[-1] == 4:
            self._check_alpha()
        threads = _thread_count(self.n_threads)
        pixels = _pixels(pixels)
        k, bits = int(k), int(bits)
        side = (1 << bits) + 1

        rows = _row_table(side, 8 - bits)
        # Tables per thread (2.3 MB at bits=5), summed; one thread from bits=7 (137 MB).
        lanes = _lanes(len(pixels), threads if bits < 7 else 1)
        moments, *others = run_tasks([partial(_moments_of, pixels[lo:hi], rows, side) for lo, hi in lanes])
        for m in others:
            moments += m
        self._fit_cells = None  # predict's hint (see nearest_labels): the occupied cells of side 8
        if bits >= 5:
            f = 1 << (bits - 5)
            cells = moments[1:, 1:, 1:, 0].reshape(32, f, 32, f, 32, f).any(axis=(1, 3, 5)).ravel()
            self._fit_cells = same_pixels_key(pixels), cells.astype(np.uint8)
        occupied = _cumulate(moments)
        if occupied <= k:  # (more occupied cells than k means more than k colours)
            colours = np.empty((min(k, len(pixels)) + 1, 3), np.uint8)
            colours = colours[:_few_colours(pixels, np.zeros(1 << 18, np.uint64), colours)]
            if len(colours) <= k:  # lossless: the image's colours, in the base class's order
                self.palette_ = colours[np.argsort(pack_rgb(colours))]
                self.boxes_ = np.zeros((0, 3, 2), np.int64)
                self.cut_errors_ = np.zeros(0)
                return self
        k = min(k, occupied)  # every box holds pixels, and the boxes are disjoint
        boxes = np.zeros((k, 6), np.int64)
        boxes[0, 1::2] = side - 1  # the whole cube
        box_moments = np.zeros((k, _MOMENTS), np.int64)
        totals = np.zeros(k)
        n = _cut(moments, boxes, box_moments, np.zeros((k, 2)), np.zeros((k, 2), np.int64), totals,
                 np.zeros(6, np.int64), np.zeros(_MOMENTS, np.int64))
        shift = 8 - bits
        self.boxes_ = np.stack([boxes[:n, 0::2] << shift, (boxes[:n, 1::2] << shift) - 1], axis=2)
        self.cut_errors_ = totals[:n]
        self.palette_ = centres_to_palette(box_moments[:n, 1:4] / box_moments[:n, :1])
        return self

    def predict(self, pixels) -> np.ndarray:
        """Index of the exactly nearest palette colour of each pixel (ties to the lower index)."""
        if not hasattr(self, "palette_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")
        pixels = check_pixels(pixels)
        return nearest_labels(self.palette_, pixels, self.n_threads, fit_cells_hint(self, pixels))
