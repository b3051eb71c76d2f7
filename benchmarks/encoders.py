"""Benchmark kqbench's lossless PNG axes against zopflipng and pngquant (prints; never asserts).

    kqbench bench encoders                          # 3 photos + 4 RGBA images; k=16,64,256 (2: k=2,4,16,64,256)
    kqbench bench encoders --k 64 --pngquant-k 2 64 --images china sprite --keep /tmp/bench

For each image (the bundled photos, and the RGBA images of ``dataset=alpha_samples``, which
keep their transparency: RGBA palettes, PNG-8 with tRNS, 32-bit RGBA), quantized with
``KMeansQuantizer(n_colors=k)``:

1. kqbench PNG-8 grid: palette order x zlib level x writer (pillow, pypng at the minimal
   bit depth, png8) x optimizer (see ``grid()`` below); the smallest file is compared with
   ``zopflipng -m`` run on the ``png8_pillow`` file (same indices and palette). Target: best
   within 2% of zopflipng -m.
2. The config's default encoding ``png8`` (``order=auto``: it picks a palette order by a quick
   trial deflate; "auto picked" names it) and ``png8_pillow`` against ``pngquant --map
   palette.png --nofs`` on the same quantized pixels, at ``--pngquant-k`` (default
   k=2,4,16,64,256: bit depths 1, 2, 4, 8, 8): pngquant remaps them to our palette without
   dithering, so both files hold the same palette colours and pixels (checked by decoding),
   though pngquant writes the colours in its own order. Target: png8 / pngquant <= 1 in
   every case. To tell the writer from the palette order, png8 is also written with
   ``order=as_is`` (the quantizer's order), ``order=frequency`` (most used colour first, as
   libimagequant sorts its palette) and with the palette in pngquant's own order ("png8 pq
   order"). Write times of png8 (auto), png8 order=as_is and png8_pillow, each the fastest of
   ``TIME_REPEATS`` single calls, the three interleaved; their sums and png8 / png8_pillow are
   printed below the table, in all and for the photos at k >= 16 (the default sweep's k), the
   photos at k < 16 and the RGBA images (target: png8 <= 3x png8_pillow on the default sweep; the
   small RGBA images cost png8 relatively more). For reference only, pngquant
   quantizing the original photo itself at the same k (a different palette and pixels; its PSNR).
3. rgb24 scanline filters (same pixels as 24-bit RGB, or 32-bit RGBA).

Every file written is decoded with Pillow and checked against the quantized pixels.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from kqbench.encoders import (
    FILTERS,
    permute_palette,
    ORDERS,
    PillowPalettePNG,
    PyPNGPalettePNG,
    RGB24PNG,
    SmallestPalettePNG,
    read_chunks,
)
from kqbench.datasets import bundled
from kqbench.metrics import mse
from kqbench.pixels import as_channels, decoded_pixels
from kqbench.metrics import psnr as psnr_of

LEVELS = (1, 6, 9)
OXIPNG_LEVELS = (2, 4)
TARGET = 1.02
PNGQUANT_K = (2, 4, 16, 64, 256)
TIME_REPEATS = 3  # section 2's write times: the fastest of this many runs, png8 and png8_pillow interleaved
PQ_HEADER = ["image", "k", "colours", "png8 B", "bits", "auto picked", "s", "as_is s", "pillow s", "png8_pillow B",
             "pngquant --map B", "bits", "s", "exact", "png8/pngquant", "<=1", "pillow/pngquant", "png8 as_is",
             "png8 frequency", "png8 pq order", "kmeans PSNR", "pngquant own-k B", "own PSNR"]


ALPHA_IMAGES = ("logo2", "Minduka_Present_Blue_Pack", "sprite", "vignette")


def load_photos(names):
    """Pixels by name: the bundled photos (RGB) and the alpha_samples images (RGBA, their transparency kept)."""
    return {name: image.pixels for name, image in bundled(names).items()}


def grid():
    """(label, encoder) for every kqbench PNG-8 setting tried."""
    out = []
    for order, level in itertools.product(ORDERS, LEVELS):
        out.append((f"pillow {order} z{level}", PillowPalettePNG(compress_level=level, order=order)))
        out.append((f"pypng-min {order} z{level}",
                    PyPNGPalettePNG(bitdepth="minimal", compress_level=level, order=order)))
    for order in ORDERS:
        out.append((f"png8 {order} z9", SmallestPalettePNG(compress_level=9, order=order)))
    try:
        import oxipng  # noqa: F401
    except ImportError:
        print("(pyoxipng not installed: the grid has no oxipng pass; pip install 'kqbench[optimize]')")
        return out
    for order, olevel in itertools.product(ORDERS, OXIPNG_LEVELS):
        out.append((f"pillow {order} +oxipng-o{olevel}",
                    PillowPalettePNG(order=order, optimizer="oxipng", optimizer_level=olevel)))
    return out


def timed_write(encoder, labels, palette, path):
    t0 = time.perf_counter()
    encoder.write(labels, palette, path)
    seconds = time.perf_counter() - t0
    ok = np.array_equal(encoder.decode(path), encoder.expected(labels, palette))
    return path.stat().st_size, seconds, ok


def decode_rgb(path):
    """The file's pixels: RGB, or RGBA when it has transparency."""
    with Image.open(path) as im:
        return decoded_pixels(im)


def run_tool(args):
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    return proc, time.perf_counter() - t0


def pngquant_order(path, palette):
    """``perm`` such that ``palette[perm]`` is the PLTE of the PNG at ``path`` (the same colours)."""
    chunks = read_chunks(path)
    plte = np.frombuffer(next(c.data for c in chunks if c.type == "PLTE"), np.uint8).reshape(-1, 3)
    if palette.shape[1] == 4:  # RGBA: the alphas of tRNS, opaque past its end
        trns = next((c.data for c in chunks if c.type == "tRNS"), b"")
        alpha = np.full((len(plte), 1), 255, np.uint8)
        alpha[:len(trns), 0] = np.frombuffer(trns, np.uint8)
        plte = np.hstack([plte, alpha])
    index = {tuple(c): i for i, c in enumerate(palette.tolist())}
    perm = np.array([index[tuple(c)] for c in plte.tolist()])
    if sorted(perm.tolist()) != list(range(len(palette))):
        raise ValueError(f"{path.name}: its palette is not a permutation of ours")
    return perm


def psnr(a, b):
    """PSNR as the sweep measures it (over premultiplied RGBA for images with transparency)."""
    return psnr_of(mse(a, as_channels(b, a.shape[-1])))


def fmt_row(cells, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def print_table(title, header, rows):
    print(f"\n## {title}\n")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(fmt_row(header, widths))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt_row(r, widths))


def fastest_writes(writes):
    """(label, encoder, path) -> (bytes, seconds, round trip ok) for each, seconds the fastest of
    TIME_REPEATS single calls, the writers interleaved (so a busy machine slows them alike)."""
    out = {}
    for _ in range(TIME_REPEATS):
        for label, (encoder, labels, palette, path) in writes.items():
            size, seconds, ok = timed_write(encoder, labels, palette, path)
            out[label] = (size, min(seconds, out[label][1]) if label in out else seconds, ok)
    return out


def compare_pngquant(pngquant, name, k, img, labels, palette, stem, pillow_bytes, failures):
    """Section 2's row: png8 and png8_pillow vs pngquant --map on the same palette and pixels."""
    quantized = palette[labels]
    png8 = stem.with_suffix(".png8.png")
    as_is = stem.with_suffix(".png8-as_is.png")
    timed = fastest_writes({"png8": (SmallestPalettePNG(), labels, palette, png8),
                            "as_is": (SmallestPalettePNG(order="as_is"), labels, palette, as_is),
                            "pillow": (PillowPalettePNG(), labels, palette, stem.with_suffix(".png8_pillow-t.png"))})
    (p8_bytes, p8_s, ok), (a_bytes, a_s, a_ok), pillow_s = timed["png8"], timed["as_is"], timed["pillow"][1]
    stem.with_suffix(".png8_pillow-t.png").unlink()
    if not ok:
        failures.append(f"{png8.name}: round trip")
    if not a_ok:
        failures.append(f"{as_is.name}: round trip")
    depth = read_chunks(png8)[0].data[8]
    picked = SmallestPalettePNG().choose_order(labels, palette)
    mode = "RGBA" if palette.shape[1] == 4 else "RGB"
    rgb_in = stem.with_suffix(".quantized-rgb.png")
    Image.fromarray(quantized, mode).save(rgb_in, compress_level=1)
    pal_png = stem.with_suffix(".palette.png")
    Image.fromarray(palette[None, :, :], mode).save(pal_png)
    pq_map = stem.with_suffix(".pngquant-map.png")
    pq_map.unlink(missing_ok=True)
    proc, pq_s = run_tool([pngquant, "--map", str(pal_png), "--nofs", "--strip", "--force",
                           "--output", str(pq_map), str(rgb_in)])
    pq_bytes, exact, pq_depth, in_pq_order, by_frequency, by_as_is = None, False, "-", "-", "-", "-"
    if proc.returncode == 0:
        pq_bytes = pq_map.stat().st_size
        exact = np.array_equal(decode_rgb(pq_map), quantized)
        pq_depth = read_chunks(pq_map)[0].data[8]
        freq = stem.with_suffix(".png8-frequency.png")
        f_bytes, _, ok = timed_write(SmallestPalettePNG(order="frequency"), labels, palette, freq)
        if not ok:
            failures.append(f"{freq.name}: round trip")
        by_frequency = f"{f_bytes / pq_bytes:.4f}"
        by_as_is = f"{a_bytes / pq_bytes:.4f}"
        # png8 with the palette in pngquant's order: what is left is the writer, not the order
        try:
            perm = pngquant_order(pq_map, palette)
        except (ValueError, KeyError):
            perm = None
        if perm is not None:
            reordered = stem.with_suffix(".png8-pq-order.png")
            r_bytes, _, ok = timed_write(SmallestPalettePNG(order="as_is"), *permute_palette(labels, palette, perm),
                                         reordered)
            if not ok:
                failures.append(f"{reordered.name}: round trip")
            in_pq_order = f"{r_bytes / pq_bytes:.4f}"
    if not exact:
        failures.append(f"{pq_map.name}: pngquant --map did not keep the pixels")
    orig_in = stem.with_suffix(".original-rgb.png")
    Image.fromarray(img, mode).save(orig_in, compress_level=1)
    pq_own = stem.with_suffix(".pngquant-own.png")
    proc2, own_s = run_tool([pngquant, str(k), "--nofs", "--strip", "--force",
                             "--output", str(pq_own), str(orig_in)])
    own_bytes = pq_own.stat().st_size if proc2.returncode == 0 else None
    own_psnr = psnr(decode_rgb(pq_own), img) if own_bytes else float("nan")
    ratio = p8_bytes / pq_bytes if pq_bytes else float("nan")
    return [name, k, len(palette), p8_bytes, depth, picked, f"{p8_s:.3f}", f"{a_s:.3f}", f"{pillow_s:.3f}",
            pillow_bytes, pq_bytes or "-",
            pq_depth, f"{pq_s:.3f}", "yes" if exact else "NO", f"{ratio:.4f}", "yes" if ratio <= 1 else "NO",
            f"{pillow_bytes / pq_bytes:.4f}" if pq_bytes else "-", by_as_is, by_frequency, in_pq_order,
            f"{psnr(quantized, img):.2f}", own_bytes or "-", f"{own_psnr:.2f}"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="kqbench bench encoders", description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, nargs="+", default=[16, 64, 256], help="k of comparisons 1 and 3")
    ap.add_argument("--pngquant-k", type=int, nargs="+", default=list(PNGQUANT_K), help="k of comparison 2")
    ap.add_argument("--images", nargs="+", default=["china", "flower", "grace_hopper", *ALPHA_IMAGES],
                    help="bundled photos (china, flower, grace_hopper) and RGBA images (" + ", ".join(ALPHA_IMAGES)
                         + "); default: all")
    ap.add_argument("--keep", type=Path, default=None, help="keep the written files in this folder")
    args = ap.parse_args(argv)

    from kqbench.quantizers import KMeansQuantizer

    zopflipng, pngquant = shutil.which("zopflipng"), shutil.which("pngquant")
    tmp = tempfile.TemporaryDirectory()
    work = args.keep or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    settings = grid()
    print(f"kqbench PNG-8 grid: {len(settings)} settings per (image, k): orders {', '.join(ORDERS)} x "
          f"zlib {LEVELS} x writers pillow / pypng(bitdepth=minimal); png8 (zlib 9) per order; "
          f"+ oxipng -o{OXIPNG_LEVELS} after each order (oxipng recompresses, so the zlib level of its input is moot)")
    print(f"zopflipng: {zopflipng or 'not installed'}; pngquant: {pngquant or 'not installed'}")

    best_rows, pq_rows, filter_rows, axis = [], [], [], {}
    failures = []
    for name, img in load_photos(args.images).items():
        for k in sorted(set(args.k) | set(args.pngquant_k if pngquant else [])):
            t0 = time.perf_counter()
            q = KMeansQuantizer(n_colors=k).fit(img)
            labels = q.predict(img).reshape(img.shape[:2])
            palette = q.palette_.astype(np.uint8)
            fit_s = time.perf_counter() - t0
            quantized = palette[labels]
            stem = work / f"{name}-k{k}"
            print(f"{name} k={k}: {len(palette)} colours, KMeans fit+predict {fit_s:.1f} s", file=sys.stderr)

            default = stem.with_suffix(".png8_pillow.png")
            d_bytes, d_s, ok = timed_write(PillowPalettePNG(), labels, palette, default)
            if not ok:
                failures.append(f"{default.name}: round trip")
            if k in args.pngquant_k and pngquant:
                pq_rows.append(compare_pngquant(pngquant, name, k, img, labels, palette, stem, d_bytes, failures))
            if k not in args.k:
                continue

            # 1. the grid, zopflipng -m
            results = []
            for i, (label, enc) in enumerate(settings):
                path = stem.with_suffix(f".grid{i}.png")
                size, seconds, ok = timed_write(enc, labels, palette, path)
                if not ok:
                    failures.append(f"{path.name} ({label}): round trip")
                results.append((size, seconds, label))
                axis.setdefault(label, []).append(size / d_bytes)
                if not args.keep:
                    path.unlink()
            kq_best = min(r for r in results if "oxipng" not in r[2])
            best = min(results)
            if zopflipng:
                zpath = stem.with_suffix(".zopflipng-m.png")
                zpath.unlink(missing_ok=True)
                proc, z_s = run_tool([zopflipng, "-y", "-m", str(default), str(zpath)])
                z_bytes = zpath.stat().st_size if proc.returncode == 0 else None
                if z_bytes and not np.array_equal(decode_rgb(zpath), quantized):
                    failures.append(f"{zpath.name}: round trip")
            else:
                z_bytes, z_s = None, float("nan")
            ratio = best[0] / z_bytes if z_bytes else float("nan")
            best_rows.append([name, k, len(palette), d_bytes, f"{d_s:.3f}",
                              kq_best[0], kq_best[2], f"{kq_best[1]:.3f}",
                              best[0], best[2], f"{best[1]:.3f}",
                              z_bytes or "-", f"{z_s:.2f}", f"{ratio:.4f}",
                              "yes" if ratio <= TARGET else "NO"])

            # 3. rgb24 filters
            sizes = []
            for flt in ("pillow", *FILTERS):
                path = stem.with_suffix(f".rgb24-{flt}.png")
                size, seconds, ok = timed_write(RGB24PNG(filter=flt), labels, palette, path)
                if not ok:
                    failures.append(f"{path.name}: round trip")
                sizes.append(f"{size} ({seconds:.2f}s)")
            filter_rows.append([name, k, *sizes])

    print_table(
        "1. Smallest kqbench PNG-8 vs zopflipng -m on the png8_pillow file "
        f"(target: best / zopflipng <= {TARGET})",
        ["image", "k", "colours", "png8_pillow B", "s", "best w/o optimizer B", "setting", "s",
         "best B", "setting", "s", "zopflipng -m B", "s", "best/zopfli", "<=2%"],
        best_rows)

    if axis:
        print("\n## Mean size relative to png8_pillow (order as_is, zlib 6), over all images and k\n")
        for label, ratios in sorted(axis.items(), key=lambda kv: np.mean(kv[1])):
            print(f"  {label:<36} {np.mean(ratios):.4f}   (min {min(ratios):.4f}, max {max(ratios):.4f})")

    if pq_rows:
        print_table(
            "2. Default png8 (order=auto) and png8_pillow vs pngquant --map palette.png --nofs (same palette colours "
            "and pixels; 'exact' = pngquant's file decodes to our quantized pixels; 'bits' = bit depth of the file; "
            "'auto picked' = the order png8's auto wrote; 's' = png8 (auto) write, 'as_is s' = png8 order=as_is write, "
            "'pillow s' = png8_pillow write (each the fastest of a few interleaved runs); "
            "'png8 as_is', 'png8 frequency', 'png8 pq order' = png8 with order=as_is, order=frequency or with the "
            "palette in pngquant's order, / pngquant). Right: pngquant "
            "quantizing the original itself at the same k (different pixels, for reference)",
            PQ_HEADER, pq_rows)
        col = PQ_HEADER.index
        ratios = [float(r[col("png8/pngquant")]) for r in pq_rows if r[col("png8/pngquant")] != "nan"]
        over = [f"{r[0]} k={r[1]} ({r[col('png8/pngquant')]})" for r in pq_rows if r[col("<=1")] != "yes"]
        print(f"\npng8 <= pngquant --map in {len(pq_rows) - len(over)} of {len(pq_rows)} cases"
              + (f" (png8/pngquant {min(ratios):.4f}..{max(ratios):.4f})" if ratios else "")
              + (f"; larger (or pngquant failed): {', '.join(over)}" if over else ""))
        auto_s, as_is_s, pillow_s = (sum(float(r[col(c)]) for r in pq_rows) for c in ("s", "as_is s", "pillow s"))
        print(f"write time, all cases (each the fastest of {TIME_REPEATS} runs, interleaved): png8 (order=auto) "
              f"{auto_s:.2f} s, png8 order=as_is {as_is_s:.2f} s, png8_pillow {pillow_s:.2f} s; "
              f"png8 / png8_pillow {auto_s / pillow_s:.2f}x")
        groups = {"photos at k >= 16 (the default sweep's k)": lambda r: r[0] not in ALPHA_IMAGES and r[1] >= 16,
                  "photos at k < 16": lambda r: r[0] not in ALPHA_IMAGES and r[1] < 16,
                  "RGBA images": lambda r: r[0] in ALPHA_IMAGES}
        for what, member in groups.items():
            rows = [r for r in pq_rows if member(r)]
            if rows:
                png8_s, pil_s = (sum(float(r[col(c)]) for r in rows) for c in ("s", "pillow s"))
                print(f"  {what}: png8 {png8_s:.2f} s, png8_pillow {pil_s:.2f} s ({png8_s / pil_s:.2f}x)")
        for name, what in (("png8 as_is", "png8 order=as_is"), ("png8 frequency", "png8 order=frequency"),
                           ("png8 pq order", "png8 with pngquant's palette order")):
            values = [float(r[col(name)]) for r in pq_rows if r[col(name)] != "-"]
            if values:
                print(f"{what} / pngquant: {min(values):.4f}..{max(values):.4f}, "
                      f"<= 1 in {sum(x <= 1 for x in values)} of {len(values)}")
    else:
        print("\n(pngquant not installed: comparison 2 skipped)")

    print_table("3. rgb24 (same quantized pixels, 24-bit RGB) by scanline filter, zlib 6: bytes (write s)",
                ["image", "k", "pillow", *FILTERS], filter_rows)

    print(f"\nTimes are one run each (wall clock, s): kqbench writes include the optimizer pass; "
          f"tool times include process start. Files in {work if args.keep else 'a temporary folder'}.")
    print("Round trips: all exact" if not failures else "ROUND-TRIP FAILURES:\n  " + "\n  ".join(failures))
    tmp.cleanup()


if __name__ == "__main__":
    main()
