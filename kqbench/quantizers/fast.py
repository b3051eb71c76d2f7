"""kqbench's own fast k-means colour quantizer.

Same objective as scikit-learn ``KMeans`` on every pixel (pixel-weighted sum of squared
RGB errors), reached with far less work:

1. One pass over the pixels builds the exact colour histogram, sorted in Morton (octree)
   order, so every octree cell -- 4x4x4 bins, 8x8x8 cells, ... -- is a contiguous range.
   Each cell keeps its bounding box, pixel count, colour sum and sum of squares.
2. Greedy weighted k-means++ (scikit-learn's seeding) runs on the means of the 8x8x8
   cells (on the bin means if there are too few cells for k, on the colours if there are
   too few bins). A point can only get closer to a new centre if the new centre is nearer
   than its current one, so whole cells are skipped by a box-distance test; after the
   first few centres only the cells around a candidate are visited.
3. Lloyd's iterations are exact on the distinct colours but walk the octree: a cell whose
   box is nearer to one centre than any other centre can be (per a min/max box-distance
   test) gives all its pixels to that centre in O(1), using its stored sums; only cells
   of side 8 on a Voronoi boundary are split into single colours. Steps are over-relaxed
   (centres moved twice as far as plain Lloyd would), which roughly halves the number of
   iterations, with a safeguard that falls back to the plain step whenever the over-relaxed
   one does not lower the error -- so the error never increases. When there are at most 16
   distinct colours per centre (icons, logos, sprites), Lloyd's fixed points are often poor
   (a colour that weighs in its cluster holds its centre near itself) and Hartigan's
   single-colour moves follow (:func:`_hartigan`, m k distances a pass), then Lloyd again:
   each move lowers the error too (3-5% lower at k=256 on the icons of alpha_samples).
   With many colours to each cube of side 2 (upscaled or large photos), Lloyd runs on those
   cubes first, each a point at its pixels' mean with their exact sums, then on the colours
   from the cubes' means (:data:`_COLOURS_PER_CUBE`): a few passes on the colours instead of
   dozens, and the error still never rises.
4. ``predict`` is exact, Wu's quantizer's (:func:`kqbench.quantizers.wu.nearest_labels`):
   each occupied cell of the colour cube gets the short list of palette colours that can be
   nearest to a point inside it; on large images every colour of those cells is answered
   once (an inverse colour map) and each pixel is a table look-up. Labels are uint8 up to
   256 colours (integer arithmetic, ties to the lower index).

Other spaces, transparency, other seeds. The tree is a hierarchy of the colours, the boxes
are where they lie: nothing above needs RGB. With ``colour_space="oklab"`` (or ``"lab"``) the
histogram's distinct colours are converted once, and clustered in fixed point (coordinates
times a power of two, rounded: :func:`_fixed_point`), so the sums stay exact integers, and
steps 2-3 run unchanged on an octree of that space: its bins are cubes of Oklab (or Lab), the
colours sorted into them by a radix sort (:func:`_space_bins`), which gives compact cells
where the RGB cube's are stretched (Oklab's cube root stretches the dark ones) -- 30% less
time at k=256 than the RGB octree with boxes in Oklab; ``predict`` converts
each distinct colour and searches candidate lists per bin with a float bound
(:func:`_nearest_in_space`), giving exactly the brute-force answer. Images with transparency
are clustered in premultiplied RGBA, 4-D: their distinct colours come from numpy's sort (on large
images, that of the opaque pixels from the RGB tables, :func:`_rgba_parts`), in bins of side 8
of premultiplied RGBA in 4-D Morton order, a tree of 16 children per cell; the
kernels take 3 or 4 coordinates (the 3-D inner loops are unchanged). ``init="wu"`` seeds
Lloyd's iterations with Wu's palette (:class:`kqbench.quantizers.WuQuantizer`) instead of
k-means++.

The loops are compiled with numba (``cache=True``): the first use in an installation compiles
them, about 5.5 s of CPU time for ``fit`` and 1.5 s for ``predict`` (:func:`precompile` does
it ahead of time); later processes load the cached code in about 0.25 s. Compile time shaped
the code: the kernels are called from Python, not from one another (numba compiles a
compiled callee again into each compiled caller); no ``parallel=True`` (threads are plain
Python threads, below); and numpy conveniences that compile for seconds on first use
(array-to-array slice assignment, stable argsort, np.zeros in many signatures) are written as
loops.

Threads: Lloyd's assignment passes, the counting of the colours, the bins of the trees and the
per-pixel part of ``predict`` run on all the available cores (``n_threads``), in static lanes
(the work split is decided before the threads start), each lane a compiled function that
releases the GIL, on a Python thread of its own (:func:`run_lanes`). The results are
bit-identical for any number of threads: Lloyd's per-lane sums are sums of integers, exact in
float64, and a pixel's nearest colour does not depend on its lane; every other lane writes rows
of its own, each computed as one lane would. On a machine busy with other work, threads that
wait for a time slice make things slower than one thread; Lloyd's loop times its passes and then
uses one thread (:class:`_Pace`), and so do the histogram, the trees and ``predict`` of the next
fit on as much work. Seeding stays serial: k-means++ is a sequence of small steps (a few
microseconds each), shorter than the time to wake a second thread.
"""

from __future__ import annotations

import mmap
import numbers
import os
import time
from functools import partial

import numpy as np
import numba
from numba import njit

from ._base import (COMPILED_PIXELS, Quantizer, centres_to_palette, check_pixels, clear_transparent, pack_rgb,
                    unique_colours)
from ._lanes import finished, in_background, run_lanes
from .colour import PREMULTIPLIED, from_space, to_space
from .wu import WuQuantizer, compile_remap, fit_cells_hint, nearest_labels, same_pixels_key
from ..errors import ConfigurationError

# Over-relaxation factor: 1 is plain Lloyd; 2 moves each centre to its mean plus the last
# step again. In our tests 2 needed about half the passes of plain Lloyd for the same error;
# 1.7-3 did about as well, and Anderson acceleration did worse.
_RELAX = 2.0
# Points a leaf scan compares with its centres in one batch (_nearest_of_list): a cell of side 8
# holds at most 512 colours, one of side 16 at most 512 cubes of side 2; larger cells (Lab, Oklab)
# go in several batches.
_SCAN = 512


# --------------------------------------------------------------------------- histogram


@njit(cache=True, nogil=True, inline="always")
def _morton_spread(bits):
    """Table v -> v with its bits spread three apart (bit i moves to bit 3i), int32."""
    table = np.empty(1 << bits, np.int32)
    for v in range(1 << bits):
        s = 0
        for i in range(bits):
            s |= ((v >> i) & 1) << (3 * i)
        table[v] = s
    return table


@njit(cache=True, nogil=True, inline="always")
def _zeros(a):
    """``a`` (any shape) filled with zeros, returned. ``np.empty`` then this instead of
    ``np.zeros``: each ``np.zeros`` signature is a separate compilation (0.1-0.4 s) on
    first use."""
    a[...] = 0
    return a


@njit(cache=True, nogil=True)
def _sorted_histogram(pixels, bin_bits):
    """Distinct colours and their counts, grouped by bin, bins in Morton order (inside a bin,
    in the order the pixels first show them): :func:`_colour_histogram` of small images.

    A bin is the set of colours sharing the top ``bin_bits`` bits of each channel. Counting
    sort on the bin's Morton key, then a dense count of the low bits inside each bin:
    O(n_pixels + n_bins) and no 2**24 table. Returns colours (m, 3) uint8, counts (m,),
    bin_key (n_bins,) Morton keys ascending, bin_start (n_bins + 1,) offsets into colours.
    """
    low = 8 - bin_bits
    mask = (1 << low) - 1
    spread = _morton_spread(bin_bits)
    n = pixels.shape[0]
    start = _zeros(np.empty((1 << (3 * bin_bits)) + 1, np.int64))
    key = np.empty(n, np.int32)  # narrow types: these arrays are streamed through memory
    for i in range(n):
        kk = (spread[pixels[i, 0] >> low] << 2) | (spread[pixels[i, 1] >> low] << 1) | spread[pixels[i, 2] >> low]
        key[i] = kk
        start[kk + 1] += 1
    n_bins = 0
    for j in range(start.shape[0] - 1):
        n_bins += start[j + 1] > 0
        start[j + 1] += start[j]
    # Scatter each pixel's low bits into its bin's segment.
    fill = start[:-1].copy()
    sub = np.empty(n, np.uint16)
    for i in range(n):
        r, g, b = pixels[i, 0], pixels[i, 1], pixels[i, 2]
        sub[fill[key[i]]] = ((r & mask) << (2 * low)) | ((g & mask) << low) | (b & mask)
        fill[key[i]] += 1
    local = _zeros(np.empty(1 << (3 * low), np.int64))
    colours = np.empty((n, 3), np.uint8)
    counts = np.empty(n, np.int64)
    bin_key = np.empty(n_bins, np.int64)
    bin_start = np.empty(n_bins + 1, np.int64)
    m = 0
    nb = 0
    for kk in range(start.shape[0] - 1):
        a, z = start[kk], start[kk + 1]
        if a == z:
            continue
        # Undo the Morton interleave to get the bin's high bits per channel.
        hr = hg = hb = 0
        for i in range(bin_bits):
            hr |= ((kk >> (3 * i + 2)) & 1) << i
            hg |= ((kk >> (3 * i + 1)) & 1) << i
            hb |= ((kk >> (3 * i)) & 1) << i
        bin_key[nb] = kk
        bin_start[nb] = m
        nb += 1
        for t in range(a, z):
            local[sub[t]] += 1
        for t in range(a, z):
            s = sub[t]
            if local[s] > 0:  # first pixel of this colour: emit it once
                colours[m, 0] = (hr << low) | (s >> (2 * low))
                colours[m, 1] = (hg << low) | ((s >> low) & mask)
                colours[m, 2] = (hb << low) | (s & mask)
                counts[m] = local[s]
                local[s] = 0
                m += 1
    bin_start[nb] = m
    return colours[:m], counts[:m], bin_key, bin_start


@njit(cache=True, nogil=True)
def _count_lane(t, pixels, lanes, table, used, morton):
    """Count the colours of pixels lanes[t]:lanes[t + 1] in ``table[t]``, indexed by their
    24-bit Morton keys (morton[0, R] | morton[1, G] | morton[2, B]: :data:`_MORTON`), and flag
    each block of 64 keys (a cube of side 4) touched in ``used[t]``: see :func:`_table_histogram`."""
    counts, flags = table[t], used[t]
    for i in range(lanes[t], lanes[t + 1]):
        key = morton[0, pixels[i, 0]] | morton[1, pixels[i, 1]] | morton[2, pixels[i, 2]]
        counts[key] += 1
        flags[key >> 6] = 1


@njit(cache=True, nogil=True)
def _merge_lane(t, table, used, blocks, bin_bits, sizes):
    """Lane t of :func:`_table_histogram`'s second step, on the blocks of 64 keys
    blocks[t]:blocks[t + 1]: the other lanes' counts added into the first table, and the
    colours, bins and cubes of side 2 there counted into sizes[t] (the lane's ranges start
    where a bin does, so each starts a bin and a cube)."""
    shift = 3 * (8 - bin_bits)
    m = n_bins = n_cubes = 0
    prev = prev_cube = -1
    for blk in range(blocks[t], blocks[t + 1]):
        for u in range(1, table.shape[0]):
            if used[u, blk]:
                used[0, blk] = 1
                for key in range(blk << 6, (blk + 1) << 6):
                    table[0, key] += table[u, key]
        if used[0, blk]:
            for key in range(blk << 6, (blk + 1) << 6):
                if table[0, key] > 0:
                    m += 1
                    n_bins += key >> shift != prev
                    prev = key >> shift
                    n_cubes += key >> 3 != prev_cube
                    prev_cube = key >> 3
    sizes[t, 0], sizes[t, 1], sizes[t, 2] = m, n_bins, n_cubes


@njit(cache=True, nogil=True)
def _emit_lane(t, table, used, blocks, bin_bits, offsets, colours, counts, bin_key, bin_start, cube_start):
    """Lane t of :func:`_table_histogram`'s last step: the colours of the blocks
    blocks[t]:blocks[t + 1] of the merged table, in key order, with their bins and cubes,
    written from offsets[t] = (colour, bin, cube) on (see :func:`_merge_lane`)."""
    table, used = table[0], used[0]
    shift = 3 * (8 - bin_bits)
    m, nb, nc = offsets[t, 0], offsets[t, 1], offsets[t, 2]
    prev = prev_cube = -1
    for blk in range(blocks[t], blocks[t + 1]):
        if not used[blk]:
            continue
        # Undo the Morton interleave of the block's key: the top 6 bits of each channel.
        hr = hg = hb = 0
        for i in range(6):
            hr |= ((blk >> (3 * i + 2)) & 1) << i
            hg |= ((blk >> (3 * i + 1)) & 1) << i
            hb |= ((blk >> (3 * i)) & 1) << i
        for s in range(64):
            key = (blk << 6) | s
            if table[key] == 0:
                continue
            if key >> shift != prev:
                prev = key >> shift
                bin_key[nb] = prev
                bin_start[nb] = m
                nb += 1
            if key >> 3 != prev_cube:
                prev_cube = key >> 3
                cube_start[nc] = m
                nc += 1
            colours[m, 0] = (hr << 2) | (((s >> 5) & 1) << 1) | ((s >> 2) & 1)
            colours[m, 1] = (hg << 2) | (((s >> 4) & 1) << 1) | ((s >> 1) & 1)
            colours[m, 2] = (hb << 2) | (((s >> 3) & 1) << 1) | (s & 1)
            counts[m] = table[key]
            m += 1


@njit(cache=True, nogil=True)
def _emit_packed_lane(t, table, used, blocks, offsets, colours, counts):
    """Lane t of :func:`table_colours`' last step: the colours of the blocks blocks[t]:blocks[t + 1] of the
    merged table, whose keys are 0xRRGGBB, in key order, written from offsets[t, 0] on; each colour's
    count in the table is then replaced by its index there (for :func:`_index_lane`)."""
    table, used = table[0], used[0]
    m = offsets[t, 0]
    for blk in range(blocks[t], blocks[t + 1]):
        if not used[blk]:
            continue
        for key in range(blk << 6, (blk + 1) << 6):
            if table[key] > 0:
                colours[m, 0], colours[m, 1], colours[m, 2] = key >> 16, (key >> 8) & 255, key & 255
                counts[m] = table[key]
                table[key] = m
                m += 1


@njit(cache=True, nogil=True)
def _index_lane(t, pixels, lanes, table, packed, inverse):
    """inverse[i] = the index of pixel i's colour among :func:`table_colours`' colours, for the pixels
    lanes[t]:lanes[t + 1]: read from the first table, where :func:`_emit_packed_lane` left it."""
    index = table[0]
    for i in range(lanes[t], lanes[t + 1]):
        inverse[i] = index[packed[0, pixels[i, 0]] | packed[1, pixels[i, 1]] | packed[2, pixels[i, 2]]]


# Each channel value's share of a colour's 24-bit Morton key, shifted to its place (R, G, B), unsigned:
# the key is then three look-ups and two ORs, and an unsigned index spares numba's test for a negative
# one (counting 24 MP: 107 ms instead of 125 on one thread).
_MORTON = np.array([[sum(((v >> i) & 1) << (3 * i + 2 - c) for i in range(8)) for v in range(256)] for c in range(3)],
                   np.uint32)
_PACKED = np.array([[v << (16 - 8 * c) for v in range(256)] for c in range(3)], np.uint32)  # the key 0xRRGGBB


def _sparse_zeros(shape, dtype) -> np.ndarray:
    """Zeros on fresh pages of the system's smallest size, of which only those written take memory and time.

    ``np.zeros`` of a large array asks Linux for huge pages (2 MB), and the colour count's writes are spread
    over its whole table: on a 24 MP photo, 112 MB of huge pages where 37 MB of small ones do. Worse, a
    huge page can wait for the kernel to free a 2 MB run of memory: the first counts in a process took
    195, 170 and 108 ms before settling at 52, against 55-65 ms every time here."""
    return np.frombuffer(mmap.mmap(-1, int(np.prod(shape)) * np.dtype(dtype).itemsize), dtype).reshape(shape)


def _colour_histogram(pixels, bin_bits, n_threads=1):
    """Distinct colours of (n, 3) uint8 pixels and their counts, grouped by bin, bins in Morton
    order: ``(colours, counts, bin_key, bin_start, cube_start)`` (see :func:`_table_histogram`).

    Below :data:`_TABLE_PIXELS` pixels, a counting sort (:func:`_sorted_histogram`; its
    colours are not in Morton order inside the bins, so cube_start is None: no coarse phase).
    From there, :func:`_table_histogram` counted by ``n_threads`` lanes (:func:`run_lanes`): the
    tables (2**24 uint32 a lane, zeros) come from :func:`_sparse_zeros`, and the system gives
    zeroed pages as they are first touched, so only the pages of the image's colours take memory
    and time (15-19 MB a lane on a 24 MP photo) -- for a small photo they are most of the
    time (8 ms against 2 for the sort on a 0.3 MP photo). (Counts are uint32: images of up to
    4 billion pixels.)"""
    if len(pixels) < _TABLE_PIXELS:
        return (*_sorted_histogram(pixels, bin_bits), None)
    return _table_histogram(pixels, bin_bits, n_threads)


def _even_lanes(n, n_lanes) -> np.ndarray:
    """Where each of ``n_lanes`` contiguous, nearly equal parts of range(n) starts, and n (int64)."""
    return np.arange(n_lanes + 1, dtype=np.int64) * n // n_lanes


def _counted_tables(pixels, keys, bin_bits, n_threads):
    """The first two steps of :func:`_table_histogram` (colours keyed by ``keys``: :data:`_MORTON` or
    :data:`_PACKED`): the lanes' tables merged into the first, the blocks of 64 keys each lane emits, and
    (colours, bins, cubes) from where each lane's range starts (bins and cubes mean something for
    Morton keys only)."""
    n_lanes = max(1, min(n_threads, len(pixels) >> 20))
    lanes = _even_lanes(len(pixels), n_lanes)
    table, used = _sparse_zeros((n_lanes, 1 << 24), np.uint32), np.zeros((n_lanes, 1 << 18), np.uint8)
    run_lanes(n_lanes, _count_lane, pixels, lanes, table, used, keys)
    step = 1 << max(0, 3 * (8 - bin_bits) - 6)  # blocks per bin
    touched = np.cumsum(used.any(axis=0).reshape(-1, step).sum(axis=1))
    blocks = np.searchsorted(touched, touched[-1] * np.arange(n_lanes + 1) // n_lanes, side="right") * step
    blocks[0], blocks[-1] = 0, used.shape[1]
    sizes = np.zeros((n_lanes, 3), np.int64)
    run_lanes(n_lanes, _merge_lane, table, used, blocks, bin_bits, sizes)
    offsets = np.zeros((n_lanes + 1, 3), np.int64)
    np.cumsum(sizes, axis=0, out=offsets[1:])
    return table, used, blocks, offsets


def table_colours(pixels, n_threads=None, return_inverse=False):
    """The distinct colours of (n, 3) uint8 pixels, ascending as 0xRRGGBB, and their pixel counts (int64):
    numpy's ``np.unique`` of the packed colours, counted in tables as :func:`_table_histogram` counts
    (compiled: stage ``"fast-large"``). At 24 MP 0.1 s and the tables' touched pages against numpy's 0.4-1 s
    and 288 MB: what the base class's ``fit`` uses on large images. With ``return_inverse``, also each
    pixel's index into the colours (uint32; numpy's ``return_inverse``), one more pass over the pixels."""
    threads = _Pace.outside(_thread_count(n_threads), len(pixels))
    table, used, blocks, offsets = _counted_tables(pixels, _PACKED, 6, threads)
    n_lanes, m = len(blocks) - 1, offsets[-1, 0]
    colours, counts = np.empty((m, 3), np.uint8), np.empty(m, np.int64)
    run_lanes(n_lanes, _emit_packed_lane, table, used, blocks, offsets, colours, counts)
    if not return_inverse:
        return colours, counts
    inverse = np.empty(len(pixels), np.uint32)
    run_lanes(n_lanes, _index_lane, pixels, _even_lanes(len(pixels), n_lanes), table, _PACKED, inverse)
    return colours, counts, inverse


def _table_histogram(pixels, bin_bits, n_threads=1):
    """Distinct colours of (n, 3) uint8 pixels and their counts, grouped by bin, bins in Morton
    order (and colours in Morton order inside them), counted by ``n_threads`` lanes (one below
    2**20 pixels): see :func:`_colour_histogram`. Returns colours (m, 3) uint8, counts (m,)
    int64, bin_key (n_bins,) Morton keys ascending, bin_start (n_bins + 1,) offsets into
    colours, and cube_start likewise for the occupied cubes of side 2 (see
    :data:`_COLOURS_PER_CUBE`).

    A bin is the set of colours sharing the top ``bin_bits`` bits of each channel. The
    tables, one a lane, count each colour at its 24-bit Morton key, so that every bin of any
    size is a range of keys. The same lanes then share out the blocks of 64 keys (ranges
    holding about as many touched blocks each, cut where a bin starts): each adds the other
    tables' counts into the first and counts its colours (:func:`_merge_lane`), then writes
    them from where the lanes before it end (:func:`_emit_lane`) -- the same arrays for any
    number of lanes.
    """
    table, used, blocks, offsets = _counted_tables(pixels, _MORTON, bin_bits, n_threads)
    n_lanes = len(blocks) - 1
    m, n_bins, n_cubes = offsets[-1]
    colours, counts = np.empty((m, 3), np.uint8), np.empty(m, np.int64)
    bin_key, bin_start, cube_start = (np.empty(n, np.int64) for n in (n_bins, n_bins + 1, n_cubes + 1))
    run_lanes(n_lanes, _emit_lane, table, used, blocks, bin_bits, offsets, colours, counts, bin_key, bin_start,
              cube_start)
    bin_start[-1] = cube_start[-1] = m
    return colours, counts, bin_key, bin_start, cube_start


@njit(cache=True, nogil=True)
def _space_bins(X, bits):
    """Bins for coordinates X (m, 3) that are whole numbers (fixed point): cubes of a power-of-two
    side, the smallest for which ``2**bits`` of them span every axis of X's bounding box, in
    Morton order. Returns (order, bin_key, bin_start): X[order] is binned, bin b holding rows
    bin_start[b]:bin_start[b + 1] of it, with Morton key bin_key[b] (3 * bits bits), as
    :func:`_table_histogram` returns for RGB -- so :func:`_points_tree` builds the tree of cells of this
    space from them. A stable radix sort on the keys, O(m)."""
    m = X.shape[0]
    lo = np.empty(3)
    extent = 0.0
    for c in range(3):
        a, z = np.inf, -np.inf
        for p in range(m):
            a = min(a, X[p, c])
            z = max(z, X[p, c])
        lo[c] = a
        extent = max(extent, z - a)
    shift = 0
    while (np.int64(extent) >> shift) >= (1 << bits):
        shift += 1
    spread = _morton_spread(bits)
    key = np.empty(m, np.int64)
    for p in range(m):
        q0 = np.int64(X[p, 0] - lo[0]) >> shift
        q1 = np.int64(X[p, 1] - lo[1]) >> shift
        q2 = np.int64(X[p, 2] - lo[2]) >> shift
        key[p] = (np.int64(spread[q0]) << 2) | (np.int64(spread[q1]) << 1) | np.int64(spread[q2])
    # Least significant digit first, 12 bits a digit: each pass stable.
    order = np.arange(m)
    other = np.empty(m, np.int64)
    count = np.empty(4097, np.int64)
    for d in range(0, 3 * bits, 12):
        count[...] = 0
        for p in range(m):
            count[((key[p] >> d) & 4095) + 1] += 1
        for j in range(4096):
            count[j + 1] += count[j]
        for i in range(m):
            p = order[i]
            digit = (key[p] >> d) & 4095
            other[count[digit]] = p
            count[digit] += 1
        order, other = other, order
    n_bins = 0
    for i in range(m):
        n_bins += i == 0 or key[order[i]] != key[order[i - 1]]
    bin_key = np.empty(n_bins, np.int64)
    bin_start = np.empty(n_bins + 1, np.int64)
    b = 0
    for i in range(m):
        if i == 0 or key[order[i]] != key[order[i - 1]]:
            bin_key[b] = key[order[i]]
            bin_start[b] = i
            b += 1
    bin_start[n_bins] = m
    return order, bin_key, bin_start


@njit(cache=True, nogil=True)
def _levels(bin_key, bin_bits, D):
    """level_start of :func:`_points_tree`'s tree: where each level of cells begins in the flat
    arrays (level 0, the whole space, .. bin_bits, the bins; D bits of the Morton keys a level),
    and at the end their total."""
    B = bin_bits
    n_bins = bin_key.shape[0]
    size = _zeros(np.empty(B + 1, np.int64))
    size[B] = n_bins
    for L in range(B - 1, -1, -1):
        prev = -1
        for j in range(n_bins):
            kk = bin_key[j] >> (D * (B - L))
            if kk != prev:
                size[L] += 1
                prev = kk
    level_start = _zeros(np.empty(B + 2, np.int64))
    for L in range(B + 1):
        level_start[L + 1] = level_start[L] + size[L]
    return level_start


@njit(cache=True, nogil=True)
def _leaves_lane(t, bins, groups, X, counts, group_start, bin_key, bin_start, level_start, key, first, last, lo, hi,
                 W, S, Q, P, pw, ps, pq):
    """Lane t of :func:`_points_tree`: the bins bins[t]:bins[t + 1] (their first group is
    groups[t]) and their points -- each group of colours a point at its pixels' mean -- with
    their sums, written to the bins' rows of the tree's arrays and the groups' rows of the
    points' (see there); each lane writes only its own rows."""
    # A bin's sums and box are kept in local variables (one per axis, the fourth unused in 3-D) and
    # written once: added up in its rows, each point waited for the last one's stores (24 MP photo: 15 ms
    # for the colours' tree on 2 lanes, against 5).
    four = X.shape[1] == 4
    n = group_start.shape[0] - 1
    single = ps.shape[0] == 0
    g = groups[t]
    for j in range(bins[t], bins[t + 1]):
        i = level_start[level_start.shape[0] - 2] + j  # the bins' level
        key[i] = bin_key[j]
        first[i] = g
        bin_w = bin_q = s0 = s1 = s2 = s3 = 0.0
        l0 = l1 = l2 = l3 = np.inf
        h0 = h1 = h2 = h3 = -np.inf
        while g < n and group_start[g] < bin_start[j + 1]:
            w = q = a0 = a1 = a2 = a3 = 0.0
            for r in range(group_start[g], group_start[g + 1]):
                wt = float(counts[r])
                v0, v1, v2 = X[r, 0], X[r, 1], X[r, 2]
                v3 = X[r, 3] if four else 0.0
                a0 += wt * v0
                a1 += wt * v1
                a2 += wt * v2
                a3 += wt * v3
                qt = v0 * v0 + v1 * v1 + v2 * v2
                if four:
                    qt += v3 * v3
                w += wt
                q += wt * qt
            pw[g] = w
            pq[g] = q
            if not single:
                ps[g, 0], ps[g, 1], ps[g, 2] = a0, a1, a2
                P[g, 0], P[g, 1], P[g, 2] = a0 / w, a1 / w, a2 / w
                if four:
                    ps[g, 3], P[g, 3] = a3, a3 / w
            l0, l1, l2 = min(l0, P[g, 0]), min(l1, P[g, 1]), min(l2, P[g, 2])
            h0, h1, h2 = max(h0, P[g, 0]), max(h1, P[g, 1]), max(h2, P[g, 2])
            s0 += a0
            s1 += a1
            s2 += a2
            if four:
                l3, h3 = min(l3, P[g, 3]), max(h3, P[g, 3])
                s3 += a3
            bin_w += w
            bin_q += q
            g += 1
        last[i] = g
        lo[i, 0], lo[i, 1], lo[i, 2] = l0, l1, l2
        hi[i, 0], hi[i, 1], hi[i, 2] = h0, h1, h2
        S[i, 0], S[i, 1], S[i, 2] = s0, s1, s2
        if four:
            lo[i, 3], hi[i, 3], S[i, 3] = l3, h3, s3
        W[i] = bin_w
        Q[i] = bin_q


@njit(cache=True, nogil=True)
def _cells_above(level_start, key, first, last, lo, hi, W, S, Q):
    """The cells above the bins of :func:`_points_tree`'s tree, from the bins up (each cell's
    children are the cells of the next level that share its key), and every cell's range of
    points; returns the tree's tuple (see there)."""
    D = lo.shape[1]
    B = level_start.shape[0] - 2
    for L in range(B - 1, -1, -1):
        p = level_start[L] - 1
        prev = -1
        for ch in range(level_start[L + 1], level_start[L + 2]):
            if key[ch] >> D != prev:
                p += 1
                prev = key[ch] >> D
                key[p] = prev
                first[p] = ch
            last[p] = ch + 1
            W[p] += W[ch]
            Q[p] += Q[ch]
            for c in range(D):
                S[p, c] += S[ch, c]
                lo[p, c] = min(lo[p, c], lo[ch, c])
                hi[p, c] = max(hi[p, c], hi[ch, c])
    # The colours of any cell form a contiguous range too.
    first_col = first.copy()
    last_col = last.copy()
    for i in range(level_start[B] - 1, -1, -1):
        first_col[i], last_col[i] = first_col[first[i]], last_col[last[i] - 1]
    return level_start, first, last, lo, hi, W, S, Q, first_col, last_col


def _points_tree(X, counts, group_start, bin_key, bin_start, bin_bits, n_threads=1):
    """The tree of cells over the points to cluster, and the points: returns ``(tree, P, pw,
    ps, pq)``.

    The points are groups of consecutive distinct colours (group g: rows
    group_start[g]:group_start[g + 1] of X, the colours' coordinates (m, D) in the space the
    clustering runs in; one colour a group, or the colours of a small cube), each at its
    pixels' mean. Cells of levels 0 (whole space) .. bin_bits (bins), flat, level by level:
    the hierarchy comes from the bins' Morton keys (D bits per level: an octree for RGB keys,
    16 children per cell for RGBA keys; bin b holds colours bin_start[b]:bin_start[b + 1],
    whole groups), the boxes from the points: a cell's box bounds the coordinates of its
    points, whatever space they are in. The points' means P, pixel counts pw, coordinate sums
    ps and sums of squared norms pq are sums of integers, exact in float64 (a group's error
    about any centre is pq - 2 c.ps + pw |c|^2, the error of its pixels); if every group is one
    colour, P is X and ps has no rows (a colour's sums are pw * X, exact). The tree: cell i of
    level L < bin_bits has child cells first[i]:last[i] (flat indices); a bin's first:last are
    its points. Each cell stores the bounding box of its points (lo, hi), pixel count W,
    coordinate sum S and sum of squared norms Q, and its points' range
    first_col[i]:last_col[i]. level_start[L] is where level L begins.

    The bins and their points are made by ``n_threads`` lanes (:func:`_leaves_lane`, on
    ranges of bins holding about as many colours each), the cells above them in one
    (:func:`_cells_above`): the same arrays for any number of lanes. Arrays are allocated
    here, not in the compiled code: numpy asks the system for huge pages, which the first
    writes fill ten times faster than numba's small ones (30 MB: 2 ms against 11 ms here), and
    each allocation compiled in adds to the compile time.
    """
    n, D = len(group_start) - 1, X.shape[1]
    single = n == len(X)  # single colours: their own coordinates, and no sums kept
    P, ps = (X, np.empty((0, D))) if single else (np.empty((n, D)), np.empty((n, D)))
    pw, pq = np.empty(n), np.empty(n)
    level_start = _levels(bin_key, bin_bits, D)
    N = level_start[-1]
    key, first, last = np.empty(N, np.int64), np.empty(N, np.int64), np.empty(N, np.int64)
    lo, hi = np.full((N, D), np.inf), np.full((N, D), -np.inf)
    W, S, Q = np.zeros(N), np.zeros((N, D)), np.zeros(N)
    n_lanes = max(1, min(n_threads, len(X) // _TREE_LANE_COLOURS))
    bins = np.searchsorted(bin_start, len(X) * np.arange(n_lanes + 1) // n_lanes)
    bins[-1] = len(bin_key)
    groups = np.searchsorted(group_start, bin_start[bins])
    run_lanes(n_lanes, _leaves_lane, bins, groups, X, counts, group_start, bin_key, bin_start, level_start, key,
              first, last, lo, hi, W, S, Q, P, pw, ps, pq)
    return _cells_above(level_start, key, first, last, lo, hi, W, S, Q), P, pw, ps, pq


@njit(cache=True, nogil=True, inline="always")
def _box_near2(lo, hi, i, x0, x1, x2, x3):
    """Squared distance from a point to box i (0 inside); x3 counts only if the boxes are 4-D."""
    e0 = max(lo[i, 0] - x0, 0.0, x0 - hi[i, 0])
    e1 = max(lo[i, 1] - x1, 0.0, x1 - hi[i, 1])
    e2 = max(lo[i, 2] - x2, 0.0, x2 - hi[i, 2])
    d = e0 * e0 + e1 * e1 + e2 * e2
    if lo.shape[1] == 4:
        e3 = max(lo[i, 3] - x3, 0.0, x3 - hi[i, 3])
        d += e3 * e3
    return d


# --------------------------------------------------------------------------- seeding


@njit(cache=True, nogil=True, inline="always")
def _dist2(P, p, x0, x1, x2, x3):
    """Squared distance from point p of P to (x0, x1, x2[, x3]): x3 counts only if P is 4-D."""
    d = (P[p, 0] - x0) ** 2 + (P[p, 1] - x1) ** 2 + (P[p, 2] - x2) ** 2
    if P.shape[1] == 4:
        d += (P[p, 3] - x3) ** 2
    return d


@njit(cache=True, nogil=True)
def _kmeanspp(tree, P, pw, top, base, k, uniforms, C0):
    """Greedy weighted k-means++ on points P (m, D) (weights pw), pruned with the tree.

    Cells of level ``top`` have points as children (point index = child - ``base``); cells
    above have cells. Each cell keeps the largest squared distance from one of its points to
    its nearest centre (``far``) and the weighted sum of those distances (``pot``); a
    candidate centre can only help points of a cell whose box is nearer than ``far``.
    ``uniforms`` (k, n_trials) are the caller's seeded draws, so the result depends only on
    ``random_state``. As scikit-learn: each step samples n_trials candidates with
    probability proportional to weight * squared distance and keeps the one that lowers the
    total error most. The first ``len(C0)`` centres are given (C0, e.g. Wu's palette; none for
    plain k-means++): they are taken as they are, and the others are drawn around them.
    """
    level_start, first, last, lo, hi, W = tree[0], tree[1], tree[2], tree[3], tree[4], tree[5]
    D = P.shape[1]
    n0 = C0.shape[0]
    n_cells = level_start[top + 1]
    leaf = level_start[top]  # cells >= leaf have points as children
    d1 = np.empty(P.shape[0])
    d1[...] = np.inf
    far = np.empty(n_cells)
    far[...] = np.inf
    pot = W[:n_cells].copy()  # first centre: probability proportional to weight
    C = np.empty((k, D))
    stack = np.empty((1 << D) * (top + 2), np.int64)
    visited = np.empty(n_cells, np.int64)
    x3 = 0.0
    for c in range(k):
        if c < n0:
            for i in range(D):
                C[c, i] = C0[c, i]
        else:
            best = -1
            best_gain = -1.0
            for t in range(uniforms.shape[1] if c > 0 else 1):
                # Sample a point: walk down choosing children in proportion to their pot.
                target = uniforms[c, t] * pot[0]
                node = 0
                while node < leaf:
                    pick = -1
                    acc = 0.0
                    for ch in range(first[node], last[node]):
                        if pot[ch] > 0:
                            pick = ch
                            acc += pot[ch]
                            if acc > target:
                                break
                    target -= acc - pot[pick]
                    node = pick
                cand = -1
                acc = 0.0
                for p in range(first[node] - base, last[node] - base):
                    v = pw[p] * (d1[p] if c > 0 else 1.0)
                    if v > 0:
                        cand = p
                        acc += v
                        if acc > target:
                            break
                if c == 0:
                    best = cand
                    break
                # Error decrease if cand became a centre; cells it cannot help are skipped.
                x0, x1, x2 = P[cand, 0], P[cand, 1], P[cand, 2]
                if D == 4:
                    x3 = P[cand, 3]
                gain = 0.0
                sp = 1
                stack[0] = 0
                while sp > 0:
                    sp -= 1
                    node = stack[sp]
                    if node >= leaf:
                        for p in range(first[node] - base, last[node] - base):
                            d = _dist2(P, p, x0, x1, x2, x3)
                            gain += pw[p] * max(d1[p] - d, 0.0)
                    else:
                        for ch in range(first[node], last[node]):
                            if _box_near2(lo, hi, ch, x0, x1, x2, x3) < far[ch]:
                                stack[sp] = ch
                                sp += 1
                if gain > best_gain:
                    best_gain = gain
                    best = cand
            for i in range(D):  # (a row copy compiles for seconds)
                C[c, i] = P[best, i]
        # Commit: update the points the new centre is nearest to, then their cells' summaries
        # (children before parents: reverse visiting order).
        x0, x1, x2 = C[c, 0], C[c, 1], C[c, 2]
        if D == 4:
            x3 = C[c, 3]
        n_vis = 0
        sp = 1
        stack[0] = 0
        while sp > 0:
            sp -= 1
            node = stack[sp]
            visited[n_vis] = node
            n_vis += 1
            if node >= leaf:
                for p in range(first[node] - base, last[node] - base):
                    d1[p] = min(d1[p], _dist2(P, p, x0, x1, x2, x3))
            else:
                for ch in range(first[node], last[node]):
                    if _box_near2(lo, hi, ch, x0, x1, x2, x3) < far[ch]:
                        stack[sp] = ch
                        sp += 1
        for v in range(n_vis - 1, -1, -1):
            node = visited[v]
            f = 0.0
            s = 0.0
            if node >= leaf:
                for p in range(first[node] - base, last[node] - base):
                    f = max(f, d1[p])
                    s += pw[p] * d1[p]
            else:
                for ch in range(first[node], last[node]):
                    f = max(f, far[ch])
                    s += pot[ch]
            far[node] = f
            pot[node] = s
    return C


# --------------------------------------------------------------------------- Lloyd


@njit(cache=True, nogil=True, inline="always")
def _filter(C, lo, hi, cell, src, n, out):
    """Write to ``out`` the centres of ``src[:n]`` that can be nearest to some point of box
    ``cell``; return how many. A centre qualifies if its distance to the box is at most the
    smallest farthest-point distance over ``src`` (that centre is at least that close to
    every point of the box). The list is never too short, only sometimes longer than needed."""
    # Box as centre and half-widths: distance to it and to its farthest corner.
    m0, m1, m2 = 0.5 * (lo[cell, 0] + hi[cell, 0]), 0.5 * (lo[cell, 1] + hi[cell, 1]), 0.5 * (lo[cell, 2] + hi[cell, 2])
    r0, r1, r2 = 0.5 * (hi[cell, 0] - lo[cell, 0]), 0.5 * (hi[cell, 1] - lo[cell, 1]), 0.5 * (hi[cell, 2] - lo[cell, 2])
    four = C.shape[1] == 4  # premultiplied RGBA: a fourth axis
    m3 = r3 = 0.0
    if four:
        m3, r3 = 0.5 * (lo[cell, 3] + hi[cell, 3]), 0.5 * (hi[cell, 3] - lo[cell, 3])
    limit = np.inf
    for q in range(n):
        a0, a1, a2 = abs(C[src[q], 0] - m0), abs(C[src[q], 1] - m1), abs(C[src[q], 2] - m2)
        f = (a0 + r0) ** 2 + (a1 + r1) ** 2 + (a2 + r2) ** 2
        if four:
            f += (abs(C[src[q], 3] - m3) + r3) ** 2
        limit = min(limit, f)
    m = 0
    for q in range(n):
        e0 = max(abs(C[src[q], 0] - m0) - r0, 0.0)
        e1 = max(abs(C[src[q], 1] - m1) - r1, 0.0)
        e2 = max(abs(C[src[q], 2] - m2) - r2, 0.0)
        e = e0 * e0 + e1 * e1 + e2 * e2
        if four:
            e3 = max(abs(C[src[q], 3] - m3) - r3, 0.0)
            e += e3 * e3
        if e <= limit:
            out[m] = src[q]
            m += 1
    return m


@njit(cache=True, nogil=True, inline="always")
def _give(Wc, Sc, Qc, j, W, S, Q, cell):
    """Add a whole cell's sums to centre j."""
    Wc[j] += W[cell]
    Sc[j, 0] += S[cell, 0]
    Sc[j, 1] += S[cell, 1]
    Sc[j, 2] += S[cell, 2]
    if Sc.shape[1] == 4:
        Sc[j, 3] += S[cell, 3]
    Qc[j] += Q[cell]


@njit(cache=True, nogil=True, inline="always")
def _move(LW, LS, LQ, j, sign, X, xw, xs, xq, p):
    """Add (sign 1) or remove (sign -1) point p's sums to centre j's point-by-point sums (its
    coordinate sums xs[p], or xw[p] X[p] if xs has no rows: see :func:`_points_tree`)."""
    w = sign * xw[p]
    LW[j] += w
    LQ[j] += sign * xq[p]
    for c in range(LS.shape[1]):
        LS[j, c] += w * X[p, c] if xs.shape[0] == 0 else sign * xs[p, c]


@njit(cache=True, nogil=True, inline="always")
def _uncount(cell, leaf0, first_col, last_col, col_lab, counted, leaf_lo, leaf_hi, X, xw, xs, xq, LW, LS, LQ):
    """Cell ``cell`` went to one centre as a whole: take the colours of its side-8 cells that
    were counted colour by colour out of the kept sums (the cell's own sums replace them)."""
    for c in range(leaf_lo[cell], leaf_hi[cell]):
        if counted[c]:
            counted[c] = False
            for t in range(first_col[leaf0 + c], last_col[leaf0 + c]):
                _move(LW, LS, LQ, col_lab[t], -1.0, X, xw, xs, xq, t)
                col_lab[t] = -1


def _assign_sums(C, tree, points, state, n_threads):
    """Exact Lloyd assignment of every distinct colour to its nearest centre in C. From the
    per-centre count, colour sum and sum of squares it returns the error of the assignment,
    its means M (a centre without pixels stays where it is) and the error at M; and the
    work done below the cells of side 64 (centres looked at).

    Walks the octree depth-first with, for each cell, the centres that can be nearest to some
    point of its box, filtered from its parent's list. A cell left with one centre hands all
    its sums to it at once. Cells of side 8 left with several (on a Voronoi boundary) are
    resolved colour by colour -- testing their 4x4x4 bins first costs more than it saves.
    Those colours' sums are kept across passes in ``state`` (each colour's centre, and
    which such cells are currently counted colour by colour), so a colour costs a distance
    scan but its sums move only when its centre changes.

    Threads: the cells of side 64 are shared out among ``n_threads`` lanes
    (:func:`_share_cells`), and :func:`_walk_lane` runs each lane on a thread of its own
    (:func:`run_lanes`): every lane walks the few cells above side 64 (cheap) and below
    them only its own cells, adding into its own sums. Every sum is of integers (pixel
    counts, counts times integer colours and squared norms), exact in float64, so the
    totals -- and everything computed from them -- are bit-identical whatever the number of
    lanes or the order the cells ran in. The kept colour-by-colour sums are per lane too (a
    colour may be added by one lane and removed by another; only their total means
    anything); they are folded into the first slot after each pass (:func:`_assign_totals`),
    so no partial sum grows without bound.

    A Python function calling three compiled ones (a few microseconds each) rather than one
    compiled function calling the others: numba compiles a callee again into every caller,
    and a first use would pay for that.
    """
    level_start, first, last, lo, hi, W, S, Q, first_col, last_col = tree
    X, xw, xs, xq = points
    col_lab, counted, leaf_lo, leaf_hi, LW, LS, LQ, cell_work, owner, lane_work, Wt, St, Qt, cand, stack, cbuf, leaf = state
    _share_cells(level_start, first_col, last_col, C.shape[0], cell_work, owner, lane_work, Wt, St, Qt, n_threads)
    run_lanes(n_threads, _walk_lane, n_threads, owner, cell_work, lane_work, C, level_start, first, last, lo, hi,
              W, S, Q, first_col, last_col, X, xw, xs, xq, col_lab, counted, leaf_lo, leaf_hi, Wt, St, Qt, LW, LS,
              LQ, cand, stack, cbuf, leaf)
    return _assign_totals(C, lane_work, Wt, St, Qt, LW, LS, LQ)


@njit(cache=True, nogil=True)
def _share_cells(level_start, first_col, last_col, k, cell_work, owner, lane_work, Wt, St, Qt, n_threads):
    """Before a pass of :func:`_assign_sums`: zero the per-lane sums Wt, St, Qt and work, and
    give each cell c of side 64 (level 2) to a lane, ``owner[c - level_start[2]]``.

    Static lanes, balanced greedily (largest first, each to the least loaded lane, the first
    of equals) by the work below each cell in the previous pass -- the centres move little
    from one pass to the next -- or, for a cell not walked yet, its colours times k.
    (Dynamic scheduling -- numba's parallel_chunksize -- cost more than it saved here.)
    """
    Wt[...] = 0.0
    St[...] = 0.0
    Qt[...] = 0.0
    lane_work[...] = 0.0
    if n_threads == 1:
        return
    unit0 = level_start[2]
    n = level_start[3] - unit0
    cost = np.empty(n)
    for u in range(n):
        c = unit0 + u
        cost[u] = cell_work[c] if cell_work[c] >= 0 else float(last_col[c] - first_col[c]) * k
    # Cells by decreasing cost, equal costs in tree order (a stable sort; an insertion sort
    # as there are at most 64 cells, and np.argsort's stable kind compiles for seconds).
    order = np.empty(n, np.int64)
    for u in range(n):
        i = u
        while i > 0 and cost[order[i - 1]] < cost[u]:
            order[i] = order[i - 1]
            i -= 1
        order[i] = u
    load = np.empty(n_threads)
    load[...] = 0.0
    for i in range(n):
        t = 0  # the least loaded lane, the first of equals
        for s in range(1, n_threads):
            if load[s] < load[t]:
                t = s
        owner[order[i]] = t
        load[t] += cost[order[i]]


@njit(cache=True, nogil=True)
def _assign_totals(C, lane_work, Wt, St, Qt, LW, LS, LQ):
    """The end of :func:`_assign_sums`: the lanes' sums added up, in a fixed order (exact
    anyway: integers), the kept colour-by-colour sums folded into their first slot; the
    error at C, the means M, the error at M and the work done below the cells of side 64."""
    work = 0.0
    for t in range(lane_work.shape[0]):
        work += lane_work[t]
    k, D = St.shape[1], St.shape[2]
    Wc, Sc, Qc = _zeros(np.empty(k)), _zeros(np.empty((k, D))), _zeros(np.empty(k))
    for t in range(LW.shape[0]):
        for j in range(k):
            Wc[j] += LW[t, j]
            Qc[j] += LQ[t, j]
            for c in range(D):
                Sc[j, c] += LS[t, j, c]
            if t > 0:
                LW[0, j] += LW[t, j]
                LQ[0, j] += LQ[t, j]
                LW[t, j] = 0.0
                LQ[t, j] = 0.0
                for c in range(D):
                    LS[0, j, c] += LS[t, j, c]
                    LS[t, j, c] = 0.0
    for t in range(Wt.shape[0]):
        for j in range(k):
            Wc[j] += Wt[t, j]
            Qc[j] += Qt[t, j]
            for c in range(D):
                Sc[j, c] += St[t, j, c]
    M = _means(C, Wc, Sc)
    return _error(C, Wc, Sc, Qc), M, _error(M, Wc, Sc, Qc), work


@njit(cache=True, nogil=True, inline="always")
def _nearest_of_list(x0, x1, x2, cnt, c0, c1, c2, n, best_d, best):
    """best[i] = the position in the list c0, c1, c2 (n centres, by axis) of the centre nearest to
    point (x0[i], x1[i], x2[i]), for i < cnt, the first of equals, as a test of each centre in turn
    would find it; best_d[i] its squared distance.

    Centre by centre over all the points, in straight loops with no test: the compiler runs them on
    several points at once (SIMD). The same distances, rounded the same way, as one point at a time:
    a 24 MP photo's coarse passes took 1.9 ms instead of 3.7 (medians of 28). (The arrays start at
    the first point: indexed from an offset, numba's code for negative indices keeps the loops scalar.
    Two centres at a time saved another tenth of a coarse pass but took 0.3 s more to compile; reading
    the coarse phase's points in place, from a copy by axis, saved nothing measurable.)"""
    for i in range(cnt):
        best_d[i] = np.inf
        best[i] = 0
    for q in range(n):
        a0, a1, a2 = c0[q], c1[q], c2[q]
        for i in range(cnt):
            d = (x0[i] - a0) ** 2 + (x1[i] - a1) ** 2 + (x2[i] - a2) ** 2
            better = d < best_d[i]
            best_d[i] = d if better else best_d[i]
            best[i] = q if better else best[i]


@njit(cache=True, nogil=True)
def _walk_lane(t, n_lanes, owner, cell_work, lane_work, C, level_start, first, last, lo, hi, W, S, Q,
               first_col, last_col, X, xw, xs, xq, col_lab, counted, leaf_lo, leaf_hi, Wt, St, Qt, LW, LS, LQ,
               cand, stack, cbuf, leaf):
    """Lane t of ``n_lanes`` in :func:`_assign_sums`: exact assignment of the colours below the
    cells of side 64 that are the lane's (``owner``), adding into slot t of the sums and using
    row t of the scratch space. Releases the GIL: lanes run on threads of their own
    (:func:`run_lanes`).

    Depth first from the root, each cell's list of possible centres filtered from its
    parent's and pushed above it in ``cand[t]``. Every lane walks the cells above side 64
    (at most 8), and lane 0 alone hands out those that go to one centre as a whole. Below,
    a lane writes only to colours and cells below its own cells, so lanes can run at the
    same time. Whole cells' sums go to Wt[t], St[t], Qt[t], single colours' are kept in
    LW[t], LS[t], LQ[t]. The work done below each cell of side 64 (centres looked at) goes
    to ``cell_work``, to balance the next pass's lanes, and the lane's total to
    ``lane_work[t]``.
    """
    k = C.shape[0]
    leaf0 = level_start[leaf]
    unit0, unit1 = level_start[2], level_start[3]  # the cells of side 64
    cand = cand[t]
    stack, s_off, s_len = stack[t, 0], stack[t, 1], stack[t, 2]
    four = X.shape[1] == 4  # premultiplied RGBA: a fourth axis
    c0, c1, c2, c3 = cbuf[t, 0], cbuf[t, 1], cbuf[t, 2], cbuf[t, cbuf.shape[1] - 1]
    Wc, Sc, Qc, LW, LS, LQ = Wt[t], St[t], Qt[t], LW[t], LS[t], LQ[t]
    # The leaf scans' batches (_nearest_of_list): allocated here, not passed in, so that the compiler
    # knows they overlap no other array (as rows of one array passed in, the loops stayed scalar).
    x0, x1, x2, best_d, best_at = np.empty(_SCAN), np.empty(_SCAN), np.empty(_SCAN), np.empty(_SCAN), np.empty(
        _SCAN, np.int64)
    for j in range(k):
        cand[j] = j
    stack[0], s_off[0], s_len[0] = 0, 0, k
    sp = 1
    unit = -1  # the cell of side 64 being walked, its work so far and the lane's total
    work = 0
    total = 0
    while sp > 0:
        sp -= 1
        node, off, n = stack[sp], s_off[sp], s_len[sp]
        top = off + n  # everything above this cell's list belongs to finished cells
        if node < leaf0:
            if node >= unit0:
                if node < unit1:  # the walk below a cell of side 64 starts
                    if unit >= 0:
                        cell_work[unit] = work
                    total += work
                    unit, work = node, 0
                work += n * (last[node] - first[node])
            for ch in range(first[node], last[node]):
                if ch < unit1 and ch >= unit0 and n_lanes > 1 and owner[ch - unit0] != t:
                    continue  # another lane's
                m = _filter(C, lo, hi, ch, cand[off:], n, cand[top:])
                if m > 1:
                    stack[sp], s_off[sp], s_len[sp] = ch, top, m
                    sp += 1
                    top += m
                    continue
                if ch < unit0 and t > 0:
                    continue  # lane 0's
                if ch < unit1 and ch >= unit0:
                    cell_work[ch] = 0.0
                _give(Wc, Sc, Qc, cand[top], W, S, Q, ch)
                _uncount(ch, leaf0, first_col, last_col, col_lab, counted, leaf_lo, leaf_hi, X, xw, xs, xq,
                         LW, LS, LQ)
            continue
        for q in range(n):  # the list's centres, one array per axis
            j = cand[off + q]
            c0[q], c1[q], c2[q] = C[j, 0], C[j, 1], C[j, 2]
            if four:
                c3[q] = C[j, 3]
        counted[node - leaf0] = True
        work += n * (last_col[node] - first_col[node])
        if not four:  # the cell's points in batches of _SCAN, by axis
            for a in range(first_col[node], last_col[node], _SCAN):
                cnt = min(_SCAN, last_col[node] - a)
                for i in range(cnt):
                    x0[i], x1[i], x2[i] = X[a + i, 0], X[a + i, 1], X[a + i, 2]
                _nearest_of_list(x0, x1, x2, cnt, c0, c1, c2, n, best_d, best_at)
                for i in range(cnt):
                    p = a + i
                    j, was = cand[off + best_at[i]], col_lab[p]
                    if j != was:
                        if was >= 0:
                            _move(LW, LS, LQ, was, -1.0, X, xw, xs, xq, p)
                        _move(LW, LS, LQ, j, 1.0, X, xw, xs, xq, p)
                        col_lab[p] = j
            continue
        for p in range(first_col[node], last_col[node]):  # premultiplied RGBA: a point at a time
            y0, y1, y2, y3 = X[p, 0], X[p, 1], X[p, 2], X[p, 3]
            best = 0
            nearest = np.inf
            for q in range(n):
                d = (y0 - c0[q]) ** 2 + (y1 - c1[q]) ** 2 + (y2 - c2[q]) ** 2 + (y3 - c3[q]) ** 2
                if d < nearest:
                    nearest = d
                    best = q
            j, was = cand[off + best], col_lab[p]
            if j != was:
                if was >= 0:
                    _move(LW, LS, LQ, was, -1.0, X, xw, xs, xq, p)
                _move(LW, LS, LQ, j, 1.0, X, xw, xs, xq, p)
                col_lab[p] = j
    if unit >= 0:
        cell_work[unit] = work
    lane_work[t] = total + work


@njit(cache=True, nogil=True, inline="always")
def _grow(a):
    """``a`` in an array twice as long (the first len(a) entries copied)."""
    b = np.empty(2 * a.shape[0], a.dtype)
    for i in range(a.shape[0]):  # (``b[:len(a)] = a`` compiles for seconds)
        b[i] = a[i]
    return b


def _lloyd_state(tree, m, k, n_slots, leaf):
    """Empty colour-by-colour state for :func:`_assign_sums` (see there), and its scratch
    space; kept sums and scratch space for ``n_slots`` threads."""
    level_start, first, last = tree[0], tree[1], tree[2]
    D = tree[3].shape[1]  # dimensions: 3, or 4 for premultiplied RGBA
    children = 1 << D  # at most, per cell
    n_up, n_leaves = level_start[leaf], level_start[leaf + 1] - level_start[leaf]
    leaf_lo = np.empty(n_up + n_leaves, np.int64)  # leaf cells below each cell: a range
    leaf_hi = np.empty(n_up + n_leaves, np.int64)
    leaf_lo[n_up:] = np.arange(n_leaves)
    leaf_hi[n_up:] = leaf_lo[n_up:] + 1
    for L in range(leaf - 1, -1, -1):  # a cell's children are on the next level
        cells = slice(level_start[L], level_start[L + 1])
        leaf_lo[cells] = leaf_lo[first[cells]]
        leaf_hi[cells] = leaf_hi[last[cells] - 1]
    depth = level_start.shape[0]
    return (np.full(m, -1, np.int64), np.zeros(n_leaves, np.bool_), leaf_lo, leaf_hi,
            np.zeros((n_slots, k)), np.zeros((n_slots, k, D)), np.zeros((n_slots, k)),
            np.full(level_start[-1], -1.0),  # per cell: work below it last pass (-1: unknown)
            np.zeros(level_start[3] - level_start[2], np.int64),  # lane of each cell of side 64
            # Per lane: work, sums of whole cells (Wt, St, Qt), candidate lists, stack,
            # centres by axis.
            np.zeros(n_slots), np.empty((n_slots, k)), np.empty((n_slots, k, D)), np.empty((n_slots, k)),
            np.empty((n_slots, (depth + 1) * children * k + k), np.int64),
            np.empty((n_slots, 3, (depth + 1) * children + 1), np.int64), np.empty((n_slots, D, k)), leaf)


@njit(cache=True, nogil=True, inline="always")
def _error(C, Wc, Sc, Qc):
    """Total squared error of an assignment (given by its sums) with centres C."""
    e = 0.0
    for j in range(C.shape[0]):
        n2 = C[j, 0] ** 2 + C[j, 1] ** 2 + C[j, 2] ** 2
        dot = C[j, 0] * Sc[j, 0] + C[j, 1] * Sc[j, 1] + C[j, 2] * Sc[j, 2]
        if C.shape[1] == 4:
            n2 += C[j, 3] ** 2
            dot += C[j, 3] * Sc[j, 3]
        e += Qc[j] + Wc[j] * n2
        e -= 2.0 * dot
    return e


@njit(cache=True, nogil=True, inline="always")
def _means(C, Wc, Sc):
    """Each centre's mean (its centre in C if it has no pixels)."""
    M = C.copy()  # an empty cluster keeps its centre
    for j in range(C.shape[0]):
        if Wc[j] > 0:
            for c in range(C.shape[1]):
                M[j, c] = Sc[j, c] / Wc[j]
    return M


def _lloyd(C, tree, points, max_iter, tol_shift, n_threads, leaf):
    """Over-relaxed Lloyd from centres C; returns the final means and the passes made.

    Each step tries P = M + (RELAX - 1) (M - C), M the means of the current assignment and C
    the centres it was made with, and keeps it only if its error is below the error at M;
    otherwise it takes the plain step P = M. Either way the error decreases. Stops when the
    means move by at most ``tol_shift`` (summed squared shift) or after ``max_iter`` passes.

    A Python loop (a call costs microseconds; a pass, a millisecond or more) so that each
    pass can be timed: see :class:`_Pace`.
    """
    state = _lloyd_state(tree, points[0].shape[0], C.shape[0], n_threads, leaf)
    pace = _Pace(n_threads, points[0].shape[0])

    def assign(centres):
        """The assignment to ``centres``: its error, its means M and the error at M."""
        lanes = pace.lanes()
        start = time.perf_counter()
        err, M, err_m, work = _assign_sums(centres, tree, points, state, lanes)
        pace.record(lanes, time.perf_counter() - start, work)
        return err, M, err_m

    _, M, err_m = assign(C)
    passes = 1
    while passes < max_iter:
        P = M + (_RELAX - 1.0) * (M - C)
        err_p, M_p, err_mp = assign(P)
        passes += 1
        if err_p < err_m:
            C, M_new, err_new = P, M_p, err_mp
        elif passes < max_iter:  # over-relaxation did not pay: plain step from the same means
            C = M
            _, M_new, err_new = assign(C)
            passes += 1
        else:
            break
        shift = ((M_new - M) ** 2).sum()
        M = M_new
        err_m = err_new
        if shift <= tol_shift:
            break
    return M, passes


@njit(cache=True, nogil=True)
def _hartigan(C, X, xw, max_passes):
    """Hartigan's single-colour moves from centres C, on the distinct colours X (weights xw):
    returns the means of the partition they end in, the partition (each colour's cluster) and
    the passes made.

    Lloyd's fixed points can be poor when clusters hold few colours: a colour that is a large
    share of its cluster pulls its centre towards itself, so it never looks closer to another
    centre, although moving it would lower the error once both means follow. Hartigan's test
    counts that: moving colour x (weight w) from cluster A (weight W_A, mean a) to B lowers the
    error by w W_A / (W_A - w) |x - a|^2 - w W_B / (W_B + w) |x - b|^2, and the move is made,
    both means updated, whenever that is positive (by a relative margin of 1e-9, which covers
    the rounding). Every move lowers the error; the partition's sums are integers (fixed point),
    exact. Passes over all colours until none moves or ``max_passes``: each costs m k distances,
    the price of a Lloyd pass without the tree.
    """
    m, D = X.shape
    k = C.shape[0]
    W = _zeros(np.empty(k))
    S = _zeros(np.empty((k, D)))
    lab = np.empty(m, np.int64)
    for p in range(m):  # start from the nearest centres
        best, best_d = 0, np.inf
        for j in range(k):
            d = 0.0
            for c in range(D):
                d += (X[p, c] - C[j, c]) ** 2
            if d < best_d:
                best, best_d = j, d
        lab[p] = best
        W[best] += xw[p]
        for c in range(D):
            S[best, c] += xw[p] * X[p, c]
    M = _means(C, W, S)
    passes = 0
    moved = 1
    while moved > 0 and passes < max_passes:
        moved = 0
        passes += 1
        for p in range(m):
            a, w = lab[p], xw[p]
            if W[a] <= w:  # alone in its cluster: moving it cannot lower the error
                continue
            d = 0.0
            for c in range(D):
                d += (X[p, c] - M[a, c]) ** 2
            limit = w * W[a] / (W[a] - w) * d * (1.0 - 1e-9)  # the error it leaves behind
            best, best_cost = -1, limit
            for j in range(k):
                if j == a:
                    continue
                d = 0.0
                for c in range(D):
                    d += (X[p, c] - M[j, c]) ** 2
                cost = w * W[j] / (W[j] + w) * d  # the error it adds there
                if cost < best_cost:
                    best, best_cost = j, cost
            if best < 0:
                continue
            moved += 1
            lab[p] = best
            W[a] -= w
            W[best] += w
            for c in range(D):
                S[a, c] -= w * X[p, c]
                S[best, c] += w * X[p, c]
                M[a, c] = S[a, c] / W[a]
                M[best, c] = S[best, c] / W[best]
    return M, lab, passes


class _Pace:
    """Picks, pass by pass, ``n_threads`` lanes or one for Lloyd's assignment passes.

    Threads pay off only when they get a core at once: a pass lasts about a millisecond,
    and on a machine busy with other work a thread that has to wait for a time slice holds
    up the whole pass -- we measured two threads at 1.5-2x the time of one there. So every
    32nd pass of the process (starting with its third) runs the other way as a probe, and
    a fit that has timed both ways uses the faster per unit of work (best pass of each);
    until then, the way the last such comparison on as many points preferred (within a
    factor of 4: :func:`_size_class`). On an idle machine that costs one single-threaded pass
    in 32. The result is the same either way; only the time differs.

    Per size, because a thread's wake-up weighs on a pass of microseconds and not on one of
    milliseconds: a 24 MP photo's first fit in a process, after a warm-up fit on a small
    sample (where one thread won), ran all its passes, its colour count and its trees on one
    thread (0.51 s against 0.31 s).
    """

    #: Per :func:`_size_class` of the points: whether several threads beat one in the last
    #: comparison at that size (shared by the process: used by fits that have not compared
    #: yet, and for the work outside Lloyd's loop); not there: yes.
    threads_pay: dict = {}
    #: Passes run so far by the process, offset so that its third pass is a probe.
    clock = 30

    def __init__(self, n_threads, size):
        self.n = n_threads
        self.size = _size_class(size)
        self.best = {1: np.inf, n_threads: np.inf}  # seconds per unit of work, this fit
        self.passes = 0

    @staticmethod
    def outside(n_threads, size) -> int:
        """Threads for work outside Lloyd's loop on ``size`` points, colours or pixels (the colour
        count, the trees, ``predict``): ``n_threads``, or one if the last comparison at that size
        found one faster."""
        return n_threads if _Pace.threads_pay.get(_size_class(size), True) else 1

    def preferred(self) -> int:
        if np.isfinite(self.best[1]) and np.isfinite(self.best[self.n]):
            return 1 if self.best[1] < self.best[self.n] else self.n
        return self.n if _Pace.threads_pay.get(self.size, True) else 1

    def lanes(self) -> int:
        if self.n == 1:
            return 1
        preferred = self.preferred()
        # Not on a fit's first pass: cold caches, every colour assigned for the first time.
        if self.passes >= 1 and _Pace.clock % 32 == 0:
            return self.n if preferred == 1 else 1
        return preferred

    def record(self, lanes, seconds, work) -> None:
        if self.n > 1:
            if self.passes >= 1 and work > 0:
                self.best[lanes] = min(self.best[lanes], seconds / work)
                if np.isfinite(self.best[1]) and np.isfinite(self.best[self.n]):
                    _Pace.threads_pay[self.size] = self.best[self.n] < self.best[1]
            _Pace.clock += 1
        self.passes += 1


def _size_class(size) -> int:
    """Sizes within a factor of 4 of each other share a class (see :class:`_Pace`)."""
    return int(size).bit_length() // 2


# --------------------------------------------------------------------------- exact remap in another space


@njit(cache=True, nogil=True, inline="always")
def _space_box(X, a, z, lo, hi):
    """lo, hi (D,) = the bounding box of points X[a:z]."""
    for c in range(X.shape[1]):
        lo[c] = np.inf
        hi[c] = -np.inf
    for p in range(a, z):
        for c in range(X.shape[1]):
            lo[c] = min(lo[c], X[p, c])
            hi[c] = max(hi[c], X[p, c])


@njit(cache=True, nogil=True, inline="always")
def _space_candidates(P, lo, hi, src, n, out):
    """Write to ``out`` the entries of ``src[:n]`` (rows of palette P, float) that can be nearest
    to some point of the box lo, hi; return how many, in src's order. As :func:`_filter`, with
    a relative slack of 1e-9 on the bound: the distances are rounded floats here, and the
    entry whose *computed* distance is smallest (or ties with it) must never be left out --
    the rounding of any of these sums of squares is below 1e-15 relative."""
    D = P.shape[1]
    limit = np.inf
    for q in range(n):
        f = 0.0
        for c in range(D):
            a = max(P[src[q], c] - lo[c], hi[c] - P[src[q], c])
            f += a * a
        limit = min(limit, f)
    limit *= 1.0 + 1e-9
    m = 0
    for q in range(n):
        e = 0.0
        for c in range(D):
            v = max(lo[c] - P[src[q], c], 0.0, P[src[q], c] - hi[c])
            e += v * v
        if e <= limit:
            out[m] = src[q]
            m += 1
    return m


@njit(cache=True, nogil=True)
def _nearest_lane(t, lanes, X, bin_start, group_start, P, out):
    """Lane t of :func:`_nearest_in_space`: out[p] = index of the row of P nearest to X[p]
    (squared Euclidean distance computed as :func:`kqbench.quantizers.colour.nearest_in_space`
    does, first of equals), for the points of groups lanes[t]:lanes[t + 1].

    Points come in bins (X[bin_start[b]:bin_start[b + 1]]) and bins in groups (bins
    group_start[g]:group_start[g + 1]); each group's box filters the whole palette, each bin's
    box that list, and each point is compared with its bin's list only. Its scratch space is its
    own: rows of arrays shared by the lanes would share cache lines, which the lanes' writes then
    pass back and forth (2 lanes took 3.4x one lane's time).
    """
    m = P.shape[0]
    glist, blist, everyone = np.empty(m, np.int64), np.empty(m, np.int64), np.arange(m)
    lo, hi = np.empty(X.shape[1]), np.empty(X.shape[1])
    four = X.shape[1] == 4
    for g in range(lanes[t], lanes[t + 1]):
        b0, b1 = group_start[g], group_start[g + 1]
        _space_box(X, bin_start[b0], bin_start[b1], lo, hi)
        ng = _space_candidates(P, lo, hi, everyone, m, glist)
        for b in range(b0, b1):
            _space_box(X, bin_start[b], bin_start[b + 1], lo, hi)
            nb = _space_candidates(P, lo, hi, glist, ng, blist)
            for p in range(bin_start[b], bin_start[b + 1]):
                x0, x1, x2 = X[p, 0], X[p, 1], X[p, 2]
                best = blist[0]
                best_d = np.inf
                for q in range(nb):
                    j = blist[q]
                    d = (x0 - P[j, 0]) ** 2 + (x1 - P[j, 1]) ** 2 + (x2 - P[j, 2]) ** 2
                    if four:
                        d += (X[p, 3] - P[j, 3]) ** 2
                    if d < best_d:
                        best_d = d
                        best = j
                out[p] = best


def _nearest_in_space(X, bin_start, bin_key, levels_up, P, n_threads):
    """Exact index of the row of P (palette coordinates, float64 (m, D)) nearest to each row of
    X (distinct colours' coordinates in the same space, in bins of consecutive rows, bins in
    Morton order with keys ``bin_key``), ties to the lower index: the same answers as
    :func:`kqbench.quantizers.colour.nearest_in_space` gives on these coordinates, from
    candidate lists per group of bins (bins whose keys agree but for the last ``levels_up``
    levels) and per bin. Groups are shared among ``n_threads`` lanes by their colour counts."""
    D = X.shape[1]
    n_bins = len(bin_key)
    group = bin_key >> (D * levels_up)
    group_start = np.concatenate([[0], np.flatnonzero(group[1:] != group[:-1]) + 1, [n_bins]]).astype(np.int64)
    before = bin_start[group_start]  # colours before each group
    cut = np.searchsorted(before, np.arange(n_threads + 1) * (len(X) / n_threads), side="left")
    lanes = np.clip(cut, 0, len(group_start) - 1).astype(np.int64)
    lanes[0], lanes[-1] = 0, len(group_start) - 1
    out = np.empty(len(X), np.int64)
    run_lanes(n_threads, _nearest_lane, lanes, X, bin_start, group_start, np.ascontiguousarray(P, np.float64), out)
    return out


@njit(cache=True, nogil=True)
def _look_up_lane(t, pixels, lanes, slot, table, out):
    """out[i] = the label of pixel i's colour for the pixels of lane t: ``table[slot[b] * 64 +
    s]``, b the colour's top 6 bits per channel (r, g, b as an 18-bit number) and s its low 2."""
    last_key = -1
    last = 0
    for i in range(lanes[t], lanes[t + 1]):
        r, g, b = np.int64(pixels[i, 0]), np.int64(pixels[i, 1]), np.int64(pixels[i, 2])
        key = (r << 16) | (g << 8) | b
        if key != last_key:  # runs of one colour are common in images
            high = ((r >> 2) << 12) | ((g >> 2) << 6) | (b >> 2)
            last = table[(slot[high] << 6) | ((r & 3) << 4) | ((g & 3) << 2) | (b & 3)]
            last_key = key
        out[i] = last


def labels_in_space(palette, pixels, space, n_threads=None) -> np.ndarray:
    """Exact index of the palette colour nearest to each RGB pixel ((n, 3) uint8) in ``space`` (lab
    or oklab): the same as :func:`kqbench.quantizers.nearest_palette_index` with that space, as the
    smallest unsigned type that holds it (uint8 up to 256 colours). ``predict`` in that space, and the
    base class's on large images.

    The distinct colours come from :func:`_table_histogram` (bins of side 4, in Morton order), are
    converted once (:func:`kqbench.quantizers.colour.to_space`, as the base class does), and
    each gets its nearest palette entry (:func:`_nearest_in_space`); a table of 64 labels per
    occupied bin then gives each pixel its colour's label in one look-up (:func:`_look_up_lane`).
    """
    n_threads = _Pace.outside(_thread_count(n_threads), len(pixels))
    pixels = pixels if pixels.flags.writeable else pixels.copy()  # (see wu._pixels)
    colours, _, bin_key, bin_start, _ = _colour_histogram(pixels, 6, n_threads)
    labels = _nearest_in_space(to_space(colours, space), bin_start, bin_key, 3, to_space(palette, space), n_threads)
    c = colours.astype(np.int64)
    n_bins = len(bin_key)
    first = c[bin_start[:-1]]
    slot = np.empty(1 << 18, np.int64)  # read only where written: the occupied bins
    slot[((first[:, 0] >> 2) << 12) | ((first[:, 1] >> 2) << 6) | (first[:, 2] >> 2)] = np.arange(n_bins)
    table = np.empty(64 * n_bins, np.int64)
    table[(np.repeat(np.arange(n_bins), np.diff(bin_start)) << 6)
          | ((c[:, 0] & 3) << 4) | ((c[:, 1] & 3) << 2) | (c[:, 2] & 3)] = labels
    out = np.empty(len(pixels), np.min_scalar_type(len(palette) - 1))  # as wu.nearest_labels: uint8 up to 256
    run_lanes(n_threads, _look_up_lane, pixels, _even_lanes(len(pixels), n_threads), slot, table, out)
    return out


_SPREAD4 = np.array([sum(((v >> i) & 1) << (4 * i) for i in range(8)) for v in range(256)], np.int64)
_RGBA_BITS = 5  # bits per axis of the bins of premultiplied RGBA colours: cells of side 8


def _rgba_bins(coords):
    """Order premultiplied RGBA coordinates (m, 4) into bins of side 8 (the top 5 bits of each
    axis), bins in 4-D Morton order, so that every cell of the 16-ary tree above them holds a
    contiguous range. Returns (order, bin_key, bin_start): coords[order] is binned."""
    q = np.minimum(coords, 255.0).astype(np.int64) >> (8 - _RGBA_BITS)  # coordinates are in [0, 255]
    key = (_SPREAD4[q[:, 0]] << 3) | (_SPREAD4[q[:, 1]] << 2) | (_SPREAD4[q[:, 2]] << 1) | _SPREAD4[q[:, 3]]
    order = np.argsort(key, kind="stable")
    bin_key, bin_start = np.unique(key[order], return_index=True)
    return order, bin_key.astype(np.int64), np.append(bin_start, len(key)).astype(np.int64)


def _labels_rgba(palette, pixels, n_threads) -> np.ndarray:
    """Exact index of the palette colour nearest to each straight-RGBA pixel in premultiplied
    RGBA (fully transparent pixels count as (0, 0, 0, 0)), ties to the lower index: the same
    as :func:`kqbench.quantizers.nearest_palette_index` for RGBA, as the smallest unsigned integer
    type that holds it (uint8 up to 256 colours). Found for each distinct colour of each part of
    the image (:func:`_rgba_parts`) as :func:`labels_in_space` finds them."""
    out = np.empty(len(pixels), np.min_scalar_type(len(palette) - 1))
    target = to_space(palette, PREMULTIPLIED)
    for rows, colours, _, inverse in _rgba_parts(pixels, n_threads, return_inverse=True):
        coords = to_space(colours, PREMULTIPLIED)
        order, bin_key, bin_start = _rgba_bins(coords)
        labels = np.empty(len(colours), out.dtype)
        labels[order] = _nearest_in_space(coords[order], bin_start, bin_key, 2, target, n_threads)
        out[rows] = labels[inverse]
    return out


def _rgba_colours(pixels, n_threads):
    """``unique_colours(clear_transparent(pixels))`` of RGBA ``pixels``: the distinct colours, ascending as
    0xRRGGBBAA, and their pixel counts, from :func:`_rgba_parts`."""
    parts = _rgba_parts(pixels, n_threads)
    if len(parts) == 1:
        return parts[0][1], parts[0][2]
    colours = np.concatenate([colours for _, colours, _ in parts])  # (no colour is in two parts)
    counts = np.concatenate([counts for _, _, counts in parts])
    order = np.argsort(pack_rgb(colours))
    return colours[order], counts[order]


def _rgba_parts(pixels, n_threads, return_inverse=False) -> list:
    """The distinct colours of RGBA ``pixels`` that ``unique_colours(clear_transparent(pixels))`` finds, by
    part of the image: [(rows, colours, counts)] (and each pixel's index into its part's colours, with
    ``return_inverse``: for the one-colour part, 0), ``rows`` a boolean mask of the part's pixels, or a slice
    of all of them.

    Images with at least ``COMPILED_PIXELS`` opaque pixels come in up to three parts, by alpha: the opaque
    pixels' colours counted by their RGB in compiled tables (:func:`table_colours`), the fully transparent
    ones as the one colour (0, 0, 0, 0), the others by numpy's sort. Smaller ones come whole, from numpy's
    sort. (At 24 MP, half of it an opaque photo: predict 0.7-2.1 s instead of 11-13 s, 302 MB instead of 1,054.)"""
    alpha = pixels[:, 3]
    opaque = alpha == 255
    if np.count_nonzero(opaque) < COMPILED_PIXELS:
        return [(slice(None), *unique_colours(clear_transparent(pixels), return_inverse))]
    counted = table_colours(pixels[opaque, :3], n_threads, return_inverse)
    parts = [(opaque, np.hstack([counted[0], np.full((len(counted[0]), 1), 255, np.uint8)]), *counted[1:])]
    clear = alpha == 0
    n_clear = np.count_nonzero(clear)
    if n_clear:
        part = (clear, np.zeros((1, 4), np.uint8), np.array([n_clear]))
        parts.append(part + (0,) if return_inverse else part)
    rest = ~(opaque | clear)
    if rest.any():
        parts.append((rest, *unique_colours(pixels[rest], return_inverse)))  # (none of them fully transparent)
    return parts


# --------------------------------------------------------------------------- threads


def _thread_count(n_threads) -> int:
    """Threads to use: ``n_threads``, or if None all the cores this process may run on
    (``os.sched_getaffinity``, not the machine's count), never more than numba allows
    (``numba.get_num_threads()``: NUMBA_NUM_THREADS or ``numba.set_num_threads``)."""
    if n_threads is None:
        n_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    elif isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral) or n_threads < 1:
        raise ValueError(f"n_threads must be None or a whole number >= 1, got {n_threads!r}")
    return max(1, min(int(n_threads), numba.get_num_threads()))


# --------------------------------------------------------------------------- estimator


class FastKMeansQuantizer(Quantizer):
    """k-means colour quantization on an octree of the colour histogram, compiled with numba.

    Minimises the same objective as scikit-learn ``KMeans`` on every pixel (pixel-weighted
    squared error in ``colour_space``, or in premultiplied RGBA for images with transparency)
    with the same seeding (greedy k-means++, ``2 + log(k)`` candidates per step), here
    weighted and on cell means, or from Wu's palette (``init="wu"``). Lloyd's iterations are
    exact on the distinct colours; an octree lets whole cells of colours be assigned at once,
    and over-relaxed steps (with a fall-back that keeps the error decreasing) cut the number
    of passes. ``predict`` is an exact nearest-palette-colour search in the same space, not
    an approximation.

    Other spaces than RGB: the distinct colours are converted once
    (:func:`kqbench.quantizers.colour.to_space`, as for the scikit-learn quantizers) and
    clustered in *fixed point*: coordinates times a power of two (:func:`_fixed_point`),
    rounded to integers, so that every sum Lloyd's passes keep stays an exact integer in
    float64 -- the guarantees of RGB hold unchanged (the error never rises; the same result
    for any number of threads). The scale is the largest that keeps the sums exact for the
    image's pixel count: for Oklab 2**14 at 24 MP, 2**17-2**19 on photos of 0.3-0.5 MP (a
    rounding of at most 3e-5 of Oklab's unit, against about 3e-3 between neighbouring sRGB
    colours); for premultiplied RGBA (0-255 scale) 2**9 at 77k pixels, 2**5 at 24 MP. The
    centres go back to sRGB (:func:`kqbench.quantizers.colour.from_space`), clipped and
    rounded, as the scikit-learn quantizers do. ``predict`` then compares unrounded float64
    coordinates, exactly as :func:`kqbench.quantizers.nearest_palette_index` does.

    Images with transparency ((n, 4) / (h, w, 4) uint8, straight alpha; ``colour_space="rgb"``
    only, like the scikit-learn quantizers): clustered in premultiplied RGBA, where every fully
    transparent pixel is the point (0, 0, 0, 0); their distinct colours come from numpy's
    sort rather than the histogram, and the tree over them has 16 children per cell.

    Parameters
    ----------
    n_colors : int, default=16
        Largest palette size (k).
    max_iter : int, default=300
        Most assignment passes of Lloyd's algorithm, in each of its phases (on cubes of side
        2, on the colours, after Hartigan's moves).
    tol : float, default=1e-3
        Stop when the summed squared shift of the centres in one step is at most ``tol``
        times the mean per-channel variance of the pixels (scikit-learn's convention and
        scale; its default, 1e-4, costs about twice the passes here for a few tenths of a
        percent lower error).
    bin_bits : int, default=6
        Bits per channel of the octree's finest cells (bins): 5, 6 or 7. k-means++ runs
        on the means of the cells of side 8 (5 bits) if there are at least 4k of them,
        else on the bin means. (RGBA: always 5 bits per axis of premultiplied RGBA; Lab and
        Oklab: cubes of that space, 128 or 32 across the colours' widest axis.)
    random_state : int or None, default=0
        Seed for k-means++; the result is deterministic for a given seed.
    n_threads : int or None, default=None
        Threads for Lloyd's iterations and ``predict``; None: all cores this process may
        run on (capped by numba's ``NUMBA_NUM_THREADS``). The palette and labels are the
        same for any value.
    init : {"kmeans++", "wu"}, default="kmeans++"
        Seeding: greedy k-means++ (``"k-means++"``, scikit-learn's spelling, is the same), or
        the palette of :class:`kqbench.quantizers.WuQuantizer` (Wu's cuts, in RGB; in another
        colour space its colours converted there), completed by k-means++ if it has fewer
        than k colours. ``"wu"`` takes RGB images only.
    colour_space : {"rgb", "lab", "oklab"}, default="rgb"
        Space the clustering and ``predict`` measure distances in (see above).

    Attributes
    ----------
    palette_ : ndarray of shape (m, 3) or (m, 4), uint8
        The learnt palette, ``m <= n_colors``; distinct colours (RGBA for RGBA pixels).
    n_iter_ : int
        Assignment passes made by Lloyd's algorithm, and by Hartigan's moves where they run
        (0 when no clustering was needed).
    scale_ : float
        The fixed-point scale the clustering ran at (1 in RGB).
    """

    alpha_support = "premultiplied"
    rank = 60
    compile_stages = ("fast-seed", "fast-rgb", "fast-oklab", "rgb-remap", "fast-hartigan", "fast-wu", "fast-large",
                      "fast-rgba")  # precompile's

    @classmethod
    def compile_ahead(cls, stage: str | None = None) -> None:
        precompile(stage)

    def compile_needs(self, pixels=None, colours=None) -> tuple[str, ...]:
        channels = np.shape(pixels)[-1] if pixels is not None and np.ndim(pixels) in (2, 3) else None
        # The fit's seeding (every space) and the rest of it, predict in RGB and Hartigan's moves are stages
        # of their own, about as long as each other: a job waiting for the background compile compiles the
        # last of them meanwhile. Hartigan's moves follow Lloyd's only where an image has few colours a
        # centre (fit): any image, unless its colours are counted (RGB)
        needs = ("fast-seed", "fast-rgb" if self.colour_space == "rgb" else "fast-oklab")
        if self.colour_space == "rgb" and channels != 4:
            needs += ("rgb-remap",)
        k = self.n_colors if isinstance(self.n_colors, numbers.Integral) else None
        if channels != 3 or colours is None or k is None or _hartigan_follows(colours, k):
            needs += ("fast-hartigan",)
        if self.init == "wu":
            needs += ("fast-wu",)
        # The colours counted in a table: RGB (:func:`_colour_histogram`), RGBA's opaque pixels (:func:`_rgba_parts`)
        if channels is None or np.size(pixels) // channels >= (_TABLE_PIXELS if channels == 3 else COMPILED_PIXELS):
            needs += ("fast-large",)
        if channels is None or channels == 4:
            needs += ("fast-rgba",)
        return needs

    def __init__(self, n_colors=16, max_iter=300, tol=1e-3, bin_bits=6, random_state=0, n_threads=None,
                 init="kmeans++", colour_space="rgb"):
        self.n_colors = n_colors
        self.max_iter = max_iter
        self.tol = tol
        self.bin_bits = bin_bits
        self.random_state = random_state
        self.n_threads = n_threads
        self.init = init
        self.colour_space = colour_space

    def _wu(self) -> bool:
        if self.init not in _INITS:
            raise ValueError(f"init must be one of {', '.join(_INITS)}, got {self.init!r}")
        return self.init == "wu"

    def _check_alpha(self) -> None:
        super()._check_alpha()
        if self._wu():
            raise ConfigurationError("FastKMeansQuantizer(init='wu') seeds from Wu's cuts of the RGB cube, and this "
                                     "image has transparency: use init=kmeans++, or alpha=drop")

    def fit(self, pixels) -> "FastKMeansQuantizer":
        """Learn the palette from ``pixels``: (n, 3) or (h, w, 3) uint8 RGB, or (n, 4) / (h, w, 4) RGBA."""
        k = self.n_colors
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"n_colors (k) must be a whole number >= 1, got {k!r}")
        if self.bin_bits not in (5, 6, 7):
            raise ValueError(f"bin_bits must be 5, 6 or 7, got {self.bin_bits!r}")
        wu = self._wu()
        space = self._colour_space()
        if np.ndim(pixels) in (2, 3) and np.shape(pixels)[-1] == 4:
            self._check_alpha()
        pixels = check_pixels(pixels, alpha=True)
        k = int(k)
        threads = _thread_count(self.n_threads)  # check it before the work
        self.n_iter_ = 0
        self.scale_ = 1.0
        self._fit_cells = None  # predict's hint in RGB (see wu.nearest_labels)
        if pixels.shape[1] == 4:
            space = PREMULTIPLIED
            colours, counts = _rgba_colours(pixels, threads)  # the base class's order
            if len(colours) <= k:
                self.palette_ = colours
                return self
            coords = to_space(colours, space)
            order, bin_key, bin_start = _rgba_bins(coords)
            coords, counts, B = coords[order], counts[order], _RGBA_BITS
        else:
            key = same_pixels_key(pixels)
            pixels = pixels if pixels.flags.writeable else pixels.copy()  # see wu._pixels
            # The base class's np.unique sort costs more than this whole fit; the histogram
            # gives the same distinct colours and counts in one pass over the pixels.
            colours, counts, bin_key, bin_start, cubes = _colour_histogram(pixels, self.bin_bits,
                                                                           _Pace.outside(threads, len(pixels)))
            if space == "rgb":
                self._fit_cells = key, _side8_cells(bin_key, self.bin_bits)
            if len(colours) <= k:
                # Lossless: the palette is the image's colours, in the base class's order.
                self.palette_ = colours[np.argsort(pack_rgb(colours))]
                return self
            coords, B = (colours.astype(np.float64) if space == "rgb" else to_space(colours, space)), self.bin_bits
        D = coords.shape[1]
        scale = 1.0
        if space != "rgb":
            scale, coords = _fixed_point(coords, counts)
        if D == 3 and space != "rgb":  # the tree of this space's cells, not of the RGB cube's
            B = _SPACE_BITS[space]
            order, bin_key, bin_start = _space_bins(coords, B)
            coords, counts = coords[order], counts[order]
        self.scale_ = scale

        # Coarse to fine: with many colours to a cube of side 2 of RGB (large photos), Lloyd
        # runs first on the cubes, each a point at its pixels' mean, then from its means on the
        # colours themselves (see _COLOURS_PER_CUBE); else on the colours only.
        phases = [np.arange(len(coords) + 1)]
        if space == "rgb" and cubes is not None and (len(cubes) - 1) * _COLOURS_PER_CUBE <= len(coords):
            phases.insert(0, cubes)
        # The colours' tree first: seeding on cells needs only the cells above the bins, the same in
        # the cubes' tree, whose boxes differ but only let seeding skip work (the same centres). So the
        # cubes' tree is built meanwhile on another thread, where there is one (24 MP: 20 ms less).
        lanes = _Pace.outside(threads, len(coords))
        trees = [None] * (len(phases) - 1) + [_points_tree(coords, counts, phases[-1], bin_key, bin_start, B, lanes)]
        tree = trees[-1][0]
        # Lloyd resolves the cells of this level colour by colour: in RGB those of side 8 (with
        # transparency, the bins), in Lab/Oklab those of two bins a side -- 30% less time for
        # Lloyd at k=256 on the bench's photos than the bins themselves or cells of four.
        leaf = B - 1 if D == 3 and space != "rgb" else min(5, B)
        W_all, S_all, Q_all = tree[5][0], tree[6][0], tree[7][0]  # root cell: whole image
        variance = (Q_all - (S_all**2).sum() / W_all) / W_all / D
        rng = np.random.default_rng(self.random_state)
        uniforms = rng.random((k, 2 + int(np.log(k))))  # scikit-learn's n_trials

        given = np.empty((0, D))
        if wu:
            palette = WuQuantizer(k, n_threads=self.n_threads).fit(pixels).palette_
            given = palette.astype(np.float64) if space == "rgb" else to_space(palette, space) * scale
        level_start = tree[0]
        if len(phases) > 1:
            cube_tree = partial(_points_tree, coords, counts, phases[0], bin_key, bin_start, B)
            trees[0] = in_background(cube_tree, 1) if lanes > 1 else cube_tree(1)
        # Seed on the means of the side-8 cells when there are plenty of them (at least 4k):
        # several times fewer points than bins, so seeding costs half as much, for an error
        # after Lloyd within a few tenths of a percent either way on the bench's photos.
        # Otherwise on the bin means (at least 2k of them), else on the colours themselves
        # (simple images).
        # In Lab/Oklab, on the bins of that space (:data:`_SPACE_BITS`). With
        # transparency the bins are the cells of side 8 already, and seeding on their means
        # unless there are at least 4k of them cost up to 20% in error at k=256 on the icons of
        # alpha_samples (700 bins, 2,000 colours): those seed on the colours.
        L = min(5, B) if space == "rgb" else B
        if level_start[L + 1] - level_start[L] < 4 * k:
            L = B if D == 3 else -1
        if len(given) >= k:
            C = given
        elif L >= 0 and level_start[L + 1] - level_start[L] >= 2 * k:
            cells = slice(level_start[L], level_start[L + 1])
            P = tree[6][cells] / tree[5][cells, None]
            C = _kmeanspp(tree, P, tree[5][cells], L - 1, level_start[L], k, uniforms, given)
        else:  # on the first phase's points
            first_tree, *points = finished(trees[0])
            C = _kmeanspp(first_tree, points[0], points[1], B, 0, k, uniforms, given)
        for phase in range(len(phases)):
            tree, *points = finished(trees[phase])
            trees[phase] = None  # (its memory goes with the phase)
            # (The cubes are resolved one by one in cells of side 16, not 8: 10% less time at 24 MP.)
            coarse = phase < len(phases) - 1
            C, passes = _lloyd(C, tree, points, self.max_iter, self.tol * variance, threads, leaf - coarse)
            self.n_iter_ += passes
        if _hartigan_follows(len(coords), k):
            C, _, passes = _hartigan(C, coords, points[1], self.max_iter)
            C, more = _lloyd(C, tree, points, self.max_iter, self.tol * variance, threads, leaf)
            self.n_iter_ += passes + more
        self.palette_ = centres_to_palette(C if space == "rgb" else from_space(C / scale, space))
        return self

    def predict(self, pixels) -> np.ndarray:
        """Index of the exactly nearest palette colour of each pixel (ties to the lower index),
        in the space the palette was learnt in (RGBA: premultiplied RGBA)."""
        if not hasattr(self, "palette_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit first")
        pixels = check_pixels(pixels, alpha=True)
        if pixels.shape[1] != self.palette_.shape[1]:
            raise ValueError(f"pixels have {pixels.shape[1]} channels, the palette {self.palette_.shape[1]}")
        space = self._colour_space()
        threads = _thread_count(self.n_threads)
        threads = _Pace.outside(threads, len(pixels))
        if pixels.shape[1] == 4:
            return _labels_rgba(self.palette_, pixels, threads)
        if space == "rgb":
            return nearest_labels(self.palette_, pixels, threads, fit_cells_hint(self, pixels))
        return labels_in_space(self.palette_, pixels, space, threads)


_INITS = ("kmeans++", "k-means++", "wu")
# Bins of the tree in Lab or Oklab: 2**bits of them span the colours' widest axis. Oklab's L
# is about 4 times as wide as its a and b, Lab's three axes about equal: 128 and 32 bins give
# the fastest fits of those tried (32-256) at k=64 and 256 on the bench's photos.
_SPACE_BITS = {"oklab": 7, "lab": 5}
# Hartigan's moves (:func:`_hartigan`) follow Lloyd's when there are at most this many distinct
# colours per centre: there single colours weigh in their clusters, and a pass costs m k <= 16 k^2.
_HARTIGAN_COLOURS_PER_CENTRE = 16


def _hartigan_follows(colours: int, k: int) -> bool:
    """Whether a fit of ``k`` centres on ``colours`` distinct colours runs Hartigan's moves (fewer
    colours than centres: the fit is lossless, no moves)."""
    return k < colours <= _HARTIGAN_COLOURS_PER_CENTRE * k


# Images of at least this many pixels have their colours counted in a table (_colour_histogram), which
# gives the Morton order the coarse phase needs. On the bench's mosaic the table alone is faster than the
# counting sort from about 6 MP (24 MP: 72 ms against 220), 50% slower at 2-3 MP, where the coarse phase
# can start to pay (3 MP: 13% less time for the fit); smaller photos rarely have enough colours a cube.
_TABLE_PIXELS = 1 << 21
# Coarse to fine. With at least this many distinct colours to an occupied cube of side 2 of RGB,
# ``fit`` runs Lloyd's passes on the cubes first, each a point at its pixels' mean with their exact
# sums (the error of an assignment is its pixels' own), then from their means on the colours. Each
# phase's passes are exact for its points, so the error never rises within a phase, and the first
# assignment of the colours -- each to its own nearest centre, where its cube went to the one
# nearest to the cube's mean -- can only lower it. On the 24 MP benchmark (1.9 million colours in
# 390 thousand cubes) the colours then take 3 passes instead of 27, and Lloyd half the time, for
# an error 0.05% above (cubes of side 4 first as well took longer: the colours needed 12 passes).
_COLOURS_PER_CUBE = 3
# Fewest colours per lane for building the tree's bins on threads (:func:`_points_tree`): a few ms of work.
_TREE_LANE_COLOURS = 1 << 18


def _side8_cells(bin_key, bin_bits):
    """(32768,) uint8 flags of the cells of side 8 of the RGB cube (r >> 3, g >> 3, b >> 3,
    flattened) that hold the bins with these Morton keys."""
    r, g, b = (sum(((bin_key >> (3 * i + c)) & 1) << i for i in range(bin_bits)) >> (bin_bits - 5) for c in (2, 1, 0))
    cells = np.zeros(32768, np.uint8)
    cells[(r << 10) | (g << 5) | b] = 1
    return cells


def _fixed_point(coords, counts):
    """(scale, coordinates * scale rounded to integers, float64) for clustering in a space whose
    coordinates are not integers: the largest power of two (at most 2**20) for which the
    pixel-weighted sum of squared norms stays below 2**52. Every sum Lloyd's passes keep --
    pixel counts, coordinate sums, sums of squared norms, each at most the whole image's -- is
    then an exact integer in float64, as in RGB: independent of the order of addition."""
    w = counts.astype(np.float64)  # (sums, not ``w @``: BLAS threads cost more than they save here)
    norm2 = (w * np.einsum("ij,ij->i", coords, coords)).sum()
    scale = 2.0 ** min(20, int(np.floor(np.log2(np.sqrt(2.0**50 / max(norm2, 1e-300))))))
    while True:
        X = np.rint(coords * scale)
        if (w * np.einsum("ij,ij->i", X, X)).sum() < 2.0**52:
            return scale, X
        scale /= 2.0


def _compile_seed(pixels, rng) -> None:  # what the fit runs before Lloyd's passes, in any space: as fit calls it
    colours, counts, bin_key, bin_start, _ = _colour_histogram(pixels, 6)
    coords = colours.astype(np.float64)
    tree, *points = _points_tree(coords, counts, np.arange(len(coords) + 1), bin_key, bin_start, 6, 1)
    _kmeanspp(tree, points[0], points[1], 6, 0, 4, rng.random((4, 3)), np.empty((0, 3)))


def _compile_rgb(pixels, rng) -> None:  # the rest of the fit; predict in RGB is wu's remap (rgb-remap)
    FastKMeansQuantizer(4, n_threads=1).fit(pixels)


def _compile_hartigan(pixels, rng) -> None:  # few colours per centre (any space): as fit calls it
    colours = np.ascontiguousarray(pixels[:32], np.float64)
    _hartigan(colours[:4].copy(), colours, np.ones(len(colours)), 300)


def _compile_remap(pixels, rng) -> None:
    compile_remap(pixels)


def _compile_large(pixels, rng) -> None:  # images of _TABLE_PIXELS or more, in any colour space
    _table_histogram(pixels, 6)
    table_colours(pixels, n_threads=1, return_inverse=True)  # (the base class's fit, on such images)


def _compile_rgba(pixels, rng) -> None:
    rgba = np.hstack([pixels, rng.integers(0, 256, (len(pixels), 1), dtype=np.uint8)])
    FastKMeansQuantizer(4, n_threads=1).fit(rgba).predict(rgba)


def _compile_oklab(pixels, rng) -> None:  # Lab too: the same kernels on other coordinates
    FastKMeansQuantizer(4, n_threads=1, colour_space="oklab").fit(pixels).predict(pixels)


def _compile_wu(pixels, rng) -> None:
    WuQuantizer.compile_ahead()
    FastKMeansQuantizer(4, n_threads=1, init="wu").fit(pixels)


# precompile's stages (a sweep's background compile runs those its jobs may need, in compile_needs' order)
_STAGES = dict(zip(FastKMeansQuantizer.compile_stages,
                   (_compile_seed, _compile_rgb, _compile_oklab, _compile_remap, _compile_hartigan, _compile_wu,
                    _compile_large, _compile_rgba)))


def precompile(stage: str | None = None) -> None:
    """Compile every numba function that ``fit`` and ``predict`` use, for the argument types
    they get in real use, or load them from numba's cache.

    The first fit in a fresh installation compiles for several seconds (see the module
    docstring); numba keeps the result in its cache, so later processes only load it. A
    harness can call this in a background process to have that done before the first real
    fit::

        python -c "from kqbench.quantizers.fast import precompile; precompile()"

    It runs fits and predicts on a small generated image: the seeding of any fit (stage
    ``"fast-seed"``: the colour count, the tree, k-means++), fits in RGB (``"fast-rgb"``), fits and
    predicts in Oklab (``"fast-oklab"``), predicts in RGB (``"rgb-remap"``,
    :func:`kqbench.quantizers.wu.compile_remap`), Hartigan's moves of fits with few colours a
    centre (``"fast-hartigan"``), fits from Wu's palette (``"fast-wu"``), counts colours as for an
    image of ``_TABLE_PIXELS`` or more (``"fast-large"``), fits and predicts with transparency
    (``"fast-rgba"``), or all of them (``stage=None``): every kernel is called, with the same
    types as for any image, any k, bin_bits, seed, thread count, init and colour space
    (:meth:`FastKMeansQuantizer.compile_needs` says which stages an image needs). Once
    compiled, it takes a fraction of a second.
    """
    if stage is not None and stage not in _STAGES:
        raise ValueError(f"stage must be one of {', '.join(_STAGES)} or None, got {stage!r}")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2048, 3), dtype=np.uint8)  # more colours than k: the whole fit runs
    for name, compile_stage in _STAGES.items():
        if stage in (None, name):
            compile_stage(pixels, rng)
