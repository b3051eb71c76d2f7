"""A 24 MP photo: kqbench's quantizers against libimagequant, and the memory of quantizing and of a sweep job.

``kqbench bench large [--width 6000] [--height 4000] [--k 256] [--repeats 3] [--jobs fast:png8 ...]``

A benchmark, not a test: it prints and never asserts. The image is generated, never downloaded: a 2 x 2
mosaic of four bundled photos (scikit-learn's ``china`` and ``flower``, scikit-image's ``astronaut`` and
``coffee``), each upscaled (bicubic, so with new in-between colours) to a quarter of the size.

1. Speed, in this process, on the same pixels: seconds of fit + assign (every pixel's label), the median
   of ``--repeats`` runs (the methods in turn, run by run) after an untimed warm-up on a small crop, and
   their ratio to libimagequant's time measured in the same run. libimagequant's time is the library's own quantize + remap (speed 4, no
   dithering: what pngquant does), not kqbench's wrapper around it (whose fit first counts the image's
   colours with numpy). Targets: fast <= 0.1x, wu <= 0.02x libimagequant.
2. Memory of quantizing: the most memory a fit + assign added to the process (kqbench's
   ``quantize_peak_bytes``: peak resident set size above the size before it, :class:`kqbench.measure.PeakMemory`),
   in MB and as a multiple of the raw image (width x height x 3 bytes).
3. Memory of whole sweep jobs (``--jobs``, quantizer:encoding; ``libimagequant:png8`` too, not by default): each
   in a fresh process, the job a sweep runs (read the PNG, count colours, quantize, every default quality column,
   write, decode and check the file, the rgb24 baseline, the cache), after a warm-up job on a small image (the
   compiled code loaded, as a sweep's background compile does); peak = most resident memory above the
   process's size before the job read the image, as a multiple of the raw image. Target: <= 6x.

Linux only for the memory columns (``/proc``); elsewhere they read n/a. The machine should be otherwise idle:
every method here uses all cores but libimagequant (one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from kqbench.cache import QuantizationCache
from kqbench.datasets import ImageFolder, bundled
from kqbench.encoders import RGB24PNG, SmallestPalettePNG
from kqbench.errors import NotInstalledError
from kqbench.measure import PeakMemory
from kqbench.quantizers import FastKMeansQuantizer, LibimagequantQuantizer, WuQuantizer
from kqbench.runner import run_configuration

from .quantizers import _load

MOSAIC = ("china", "flower", "astronaut", "coffee")
QUANTIZERS = {"fast": FastKMeansQuantizer, "wu": WuQuantizer}  # the conf/quantizer options measured here
JOB_QUANTIZERS = {**QUANTIZERS, "libimagequant": LibimagequantQuantizer}  # and those whose jobs can be
ENCODINGS = {"png8": SmallestPalettePNG, "rgb24": RGB24PNG}  # and conf/encoding options
JOBS = ("fast:png8", "wu:png8", "fast:rgb24")
MB = 1e6


def large_image(width: int, height: int) -> np.ndarray:
    """The benchmark's image: (height, width, 3) uint8, the :data:`MOSAIC` photos upscaled into its quarters."""
    photos = bundled(MOSAIC)
    half_w, half_h = width // 2, height // 2
    sizes = [(half_w, half_h), (width - half_w, half_h), (half_w, height - half_h), (width - half_w, height - half_h)]
    tiles = [np.asarray(Image.fromarray(photos[name].rgb).resize(size, Image.Resampling.BICUBIC))
             for name, size in zip(MOSAIC, sizes)]
    return np.ascontiguousarray(np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])]))


def methods(k: int):
    """(name, run) pairs: ``run(image)`` fits and assigns every pixel of the (h, w, 3) image."""
    liq = LibimagequantQuantizer(k)

    def libimagequant(image):
        liq._height, liq._width = image.shape[:2]  # what its fit records, before the colour count left out
        return liq._fit_centres(image.reshape(-1, 3), None, None, k)  # the library's quantize + remap

    yield "libimagequant", libimagequant
    for name, cls in QUANTIZERS.items():
        yield name, lambda image, cls=cls: cls(k).fit(image.reshape(-1, 3)).predict(image.reshape(-1, 3))


def bench_speed(image: np.ndarray, k: int, repeats: int) -> None:
    raw = image.nbytes
    print(f"\n1-2. fit + assign at k={k}: seconds = median of {repeats} runs; quantize peak = most memory one run "
          f"added to the process")
    header = f"{'method':<15}{'seconds':>9}{'x libimagequant':>17}{'target':>8}{'quantize peak MB':>18}{'x raw':>7}"
    print(header)
    print("-" * len(header))
    ready = []
    for name, run in methods(k):
        try:
            run(np.ascontiguousarray(image[:64, :64]))  # compiled code, thread pools: untimed
        except NotInstalledError as exc:
            print(f"{name:<15}{'not installed':>9}  ({exc})")
            continue
        ready.append((name, run))
    times, peaks = {name: [] for name, _ in ready}, {name: [] for name, _ in ready}
    for _ in range(repeats):  # the methods in turn, run by run: a machine that drifts faster or slower meanwhile
        for name, run in ready:  # weighs on every method alike, not on the ratio
            with PeakMemory() as memory:
                start = time.perf_counter()
                run(image)
                times[name].append(time.perf_counter() - start)
            peaks[name].append(memory.peak_bytes)
    baseline = None
    for name, _ in ready:
        seconds = statistics.median(times[name])
        baseline = baseline or (seconds if name == "libimagequant" else None)
        ratio = f"{seconds / baseline:.3f}" if baseline else "-"
        target = {"fast": "0.1", "wu": "0.02"}.get(name, "")
        peak = max(peaks[name]) if None not in peaks[name] else None
        memory = f"{peak / MB:>18.0f}{peak / raw:>7.2f}" if peak is not None else f"{'n/a':>18}{'n/a':>7}"
        print(f"{name:<15}{seconds:>9.3f}{ratio:>17}{target:>8}{memory}")


def job_child(folder: str, job: str, k: int) -> None:
    """In a fresh process: one sweep job on the image(s) of ``folder``; prints its peak memory (JSON)."""
    quantizer_name, encoding_name = job.split(":")

    def run(dataset, out):
        return run_configuration(dataset, quantizer_name, JOB_QUANTIZERS[quantizer_name](k), encoding_name,
                                 ENCODINGS[encoding_name](), k=k, seed=0, out_dir=out,
                                 cache=QuantizationCache(Path(out) / "cache"), repeats=1, keep_files=False,
                                 dither=False, alpha="keep", metrics=())

    with tempfile.TemporaryDirectory(prefix="kqbench-large-") as tmp:
        small = Path(tmp) / "small"
        small.mkdir()
        Image.fromarray(large_image(64, 48)).save(small / "small.png")
        run(ImageFolder(str(small)), Path(tmp) / "warm")
        start = time.perf_counter()
        with PeakMemory() as memory:
            rows = run(ImageFolder(folder), Path(tmp) / "job")
        seconds = time.perf_counter() - start
    row = rows[0]
    print(json.dumps({"peak_bytes": memory.peak_bytes, "seconds": seconds, "status": row["status"],
                      "error": row.get("error"), "pixels": row.get("pixels")}))


def bench_jobs(image: np.ndarray, jobs, k: int) -> None:
    raw = image.nbytes
    print(f"\n3. whole sweep jobs at k={k}, each in a fresh process: peak = most memory above the process's size "
          f"before the job read the image (target: <= 6x raw = {6 * raw / MB:.0f} MB)")
    w = max([14] + [len(job) + 2 for job in jobs])
    header = f"{'job':<{w}}{'seconds':>9}{'peak MB':>9}{'x raw':>7}  status"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="kqbench-large-") as folder:
        Image.fromarray(image).save(Path(folder) / "large.png", compress_level=1)
        for job in jobs:
            cmd = [sys.executable, "-m", "kqbench.benchmarks.large", "--job-child", folder, job, "--k", str(k)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(f"{job:<{w}}  failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            peak = row["peak_bytes"]
            memory = f"{peak / MB:>9.0f}{peak / raw:>7.2f}" if peak is not None else f"{'n/a':>9}{'n/a':>7}"
            status = row["status"] + (f": {row['error']}" if row["error"] else "")
            print(f"{job:<{w}}{row['seconds']:>9.1f}{memory}  {status}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="kqbench bench large", description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (the median is printed)")
    parser.add_argument("--jobs", nargs="*", default=list(JOBS),
                        help=f"quantizer:encoding jobs of section 3 (of {', '.join(JOB_QUANTIZERS)} x "
                             f"{', '.join(ENCODINGS)}; 'none' or nothing: skip it); default {' '.join(JOBS)}")
    parser.add_argument("--job-child", nargs=2, metavar=("FOLDER", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job_child:
        job_child(*args.job_child, args.k)
        return
    if args.jobs == ["none"]:
        args.jobs = []
    for job in args.jobs:
        q, _, e = job.partition(":")
        if q not in JOB_QUANTIZERS or e not in ENCODINGS:
            parser.error(f"--jobs {job}: give quantizer:encoding, of {', '.join(JOB_QUANTIZERS)} and "
                         f"{', '.join(ENCODINGS)}")
    image = large_image(args.width, args.height)
    print(f"image: {args.width}x{args.height} ({image.shape[0] * image.shape[1] / 1e6:.1f} MP, raw RGB "
          f"{image.nbytes / MB:.0f} MB), a mosaic of {', '.join(MOSAIC)} upscaled; {os.cpu_count()} cores; "
          f"load average before: {_load()}")
    bench_speed(image, args.k, args.repeats)
    if args.jobs:
        bench_jobs(image, args.jobs, args.k)
    print(f"\nload average after: {_load()}")


if __name__ == "__main__":
    main()
