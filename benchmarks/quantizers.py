"""Speed and error of kqbench's fast k-means against scikit-learn and the usual peers.

``kqbench bench [quantizers] [--k 16 64 256] [--quick]``

A benchmark, not a test: it prints tables and never asserts. All methods run in this one
process on the same images, loaded through :func:`kqbench.datasets.bundled`: scikit-learn's
``china.jpg`` and ``flower.jpg`` and scikit-image's ``astronaut``, ``coffee`` and ``chelsea``.

* seconds: sum over the images; per image the median of ``--repeats`` runs (one run for
  scikit-learn ``KMeans`` on all pixels, which is slow). A run is ``fit`` on the image plus
  mapping every pixel to its nearest palette colour with the same exact mapper
  (:func:`kqbench.quantizers.fast.nearest_index`) for every method, so the times compare
  how the palettes are made. ``pngquant`` is the whole command-line run (reading and
  writing PNGs included), and its error is that of its own output image.
* MSE: per image, the mean squared error per channel (0-255 scale) between the image and
  its quantized version; the table shows the mean over images.
* threads: scikit-learn ``KMeans`` and fast use all the cores (OpenMP and numba threads;
  the mapper too), the others one; the machine should be otherwise idle.

``--quick`` uses the images at half width and height, k = 16 and 64 unless ``--k`` is
given, one run each and a smaller scaling section: well under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from PIL import Image

from kqbench.datasets import bundled
from kqbench.errors import ConfigurationError, NotInstalledError
from kqbench.metrics import mse as mse_of
from kqbench.quantizers import (
    FastKMeansQuantizer,
    KMeansQuantizer,
    LibimagequantQuantizer,
    PillowQuantizer,
    SampledKMeansQuantizer,
)
from kqbench.quantizers.fast import nearest_index

PHOTOS = ("china", "flower", "astronaut", "coffee", "chelsea")

NOT_INSTALLED = "not installed"


def load_images(quick: bool) -> dict[str, np.ndarray]:
    images = {name: image.rgb for name, image in bundled(PHOTOS).items()}
    if quick:
        images = {name: np.ascontiguousarray(im[::2, ::2]) for name, im in images.items()}
    return images


def mse(image: np.ndarray, palette: np.ndarray, labels: np.ndarray) -> float:
    return mse_of(image, palette[labels].reshape(image.shape))


def run_quantizer(make, image: np.ndarray) -> tuple[float, float]:
    """Seconds for fit + exact nearest-colour mapping, and the resulting MSE."""
    start = time.perf_counter()
    quantizer = make().fit(image)
    labels = nearest_index(quantizer.palette_, image)
    seconds = time.perf_counter() - start
    return seconds, mse(image, quantizer.palette_, labels)


def run_pngquant(k: int, image: np.ndarray) -> tuple[float, float]:
    """Seconds for ``pngquant --nofs --speed 4 K`` on the image as a PNG file, and its MSE."""
    with tempfile.TemporaryDirectory(prefix="kqbench-bench-") as tmp:
        source, target = Path(tmp) / "in.png", Path(tmp) / "out.png"
        Image.fromarray(image).save(source, compress_level=1)
        cmd = ["pngquant", "--nofs", "--speed", "4", "--force", "--output", str(target), str(k), "--", str(source)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        with Image.open(target) as out:
            quantized = np.asarray(out.convert("RGB"))
    return seconds, mse_of(image, quantized)


def methods(k: int):
    """(name, runner or None when unavailable, repeats are allowed)."""
    yield "sklearn KMeans full", lambda im: run_quantizer(lambda: KMeansQuantizer(k, n_init=1), im), False
    yield "sklearn sampled 10k", lambda im: run_quantizer(lambda: SampledKMeansQuantizer(k), im), True
    try:
        import imagequant  # noqa: F401
    except ImportError:
        yield "libimagequant", None, True
    else:
        yield "libimagequant", lambda im: run_quantizer(lambda: LibimagequantQuantizer(k), im), True
    if shutil.which("pngquant"):
        yield "pngquant CLI", lambda im: run_pngquant(k, im), True
    else:
        yield "pngquant CLI", None, True
    yield "Pillow median cut", lambda im: run_quantizer(lambda: PillowQuantizer(k, "mediancut"), im), True
    yield "fast (kqbench)", lambda im: run_quantizer(lambda: FastKMeansQuantizer(k), im), True
    yield "fast init=wu", lambda im: run_quantizer(lambda: FastKMeansQuantizer(k, init="wu"), im), True


def bench_k(k: int, images: dict[str, np.ndarray], repeats: int) -> dict[str, tuple[float, float] | str]:
    rows: dict[str, tuple[float, float] | str] = {}
    for name, runner, repeatable in methods(k):
        if runner is None:
            rows[name] = NOT_INSTALLED
            continue
        seconds, errors = 0.0, []
        try:
            for image in images.values():
                runs = [runner(image) for _ in range(repeats if repeatable else 1)]
                seconds += statistics.median(s for s, _ in runs)
                errors.append(runs[0][1])
        except (NotInstalledError, ConfigurationError) as exc:
            rows[name] = f"skipped: {exc}"
            continue
        rows[name] = (seconds, float(np.mean(errors)))
    return rows


def print_table(k: int, rows, images, repeats: int) -> None:
    n_pixels = sum(im.shape[0] * im.shape[1] for im in images.values())
    print(f"\nk = {k}: {len(images)} images, {n_pixels / 1e6:.2f} Mpixel; seconds = sum over images "
          f"(median of {repeats} runs, 1 for sklearn full); MSE = mean over images of per-channel MSE")
    full = rows.get("sklearn KMeans full")
    liq = rows.get("libimagequant")
    header = f"{'method':<22}{'seconds':>9}{'MSE':>9}{'speed-up vs full':>18}{'time vs liq':>13}{'MSE vs full':>13}"
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"{name:<22}{row:>9}")
            continue
        seconds, error = row
        speedup = f"{full[0] / seconds:.1f}x" if isinstance(full, tuple) else "-"
        vs_liq = f"{seconds / liq[0]:.2f}x" if isinstance(liq, tuple) else "-"
        vs_mse = f"{error / full[1]:.4f}" if isinstance(full, tuple) else "-"
        print(f"{name:<22}{seconds:>9.3f}{error:>9.3f}{speedup:>18}{vs_liq:>13}{vs_mse:>13}")


def _peak_tracker():
    """Return (reset, extra): reset the process's peak RSS, then MiB it rose above the RSS at
    reset. Linux only (``/proc/self/clear_refs``); elsewhere both are None."""

    def status(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
        raise KeyError(field)

    base = {}

    def reset():
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base["rss"] = status("VmRSS")

    def extra():
        return status("VmHWM") - base["rss"]

    try:
        reset()
    except OSError:
        return None, None
    return reset, extra


def scaling_child(factor: int, quick: bool, k: int, repeats: int) -> None:
    """Run in a fresh process: time and peak extra memory of fast on an upscaled photo."""
    image = bundled(["china"])["china"].rgb
    if quick:
        image = np.ascontiguousarray(image[::2, ::2])
    if factor > 1:  # bicubic upscaling: new in-between colours, not just repeated pixels
        side = int(round(factor**0.5))
        h, w = image.shape[:2]
        image = np.asarray(Image.fromarray(image).resize((w * side, h * side), Image.Resampling.BICUBIC))
    image = np.ascontiguousarray(image)
    FastKMeansQuantizer(k).fit(image[:64, :64]).predict(image[:64, :64])  # load the compiled code
    n_colours = len(np.unique(image.reshape(-1, 3).view(np.dtype((np.void, 3)))))
    reset, extra = _peak_tracker()
    times, peaks = [], []
    for _ in range(repeats):
        if reset:
            reset()
        start = time.perf_counter()
        quantizer = FastKMeansQuantizer(k).fit(image)
        labels = quantizer.predict(image)
        times.append(time.perf_counter() - start)
        if extra:
            peaks.append(extra())
        del quantizer, labels
    print(json.dumps({"pixels": image.shape[0] * image.shape[1], "colours": n_colours,
                      "seconds": statistics.median(times), "peak_mib": max(peaks) if peaks else None}))


def bench_scaling(quick: bool, k: int, repeats: int) -> None:
    factors = (1, 4) if quick else (1, 4, 16)
    print(f"\nscaling: fast at k = {k} on china.jpg{' (half size)' if quick else ''} upscaled (bicubic) "
          f"to {'/'.join(f'{f}x' for f in factors)} the pixels; fresh process per size; seconds = median "
          f"of {repeats}; peak = most memory fit + predict added to the process (peak RSS)")
    print(f"{'pixels':>10}{'colours':>10}{'seconds':>10}{'s/Mpixel':>10}{'peak MiB':>10}{'bytes/pixel':>13}")
    for factor in factors:
        cmd = [sys.executable, "-m", "kqbench.benchmarks.quantizers", "--scaling-child", str(factor), "--k", str(k),
               "--repeats", str(repeats)] + (["--quick"] if quick else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ}).stdout
        row = json.loads(out.strip().splitlines()[-1])
        mp = row["pixels"] / 1e6
        peak = row["peak_mib"]
        memory = f"{peak:>10.1f}{peak * 2**20 / row['pixels']:>13.1f}" if peak is not None else f"{'n/a':>10}{'n/a':>13}"
        print(f"{row['pixels']:>10}{row['colours']:>10}{row['seconds']:>10.3f}{row['seconds'] / mp:>10.3f}{memory}")


def _load() -> str:
    """The 1-minute load average, or "n/a" where the OS does not report it."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "n/a"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="kqbench bench quantizers", description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", help="palette sizes (default 16 64 256; quick: 16 64)")
    parser.add_argument("--quick", action="store_true", help="half-size images, fewer k and runs")
    parser.add_argument("--repeats", type=int, help="runs per image for the fast methods (default 3; quick: 1)")
    parser.add_argument("--scaling-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    if args.scaling_child:
        scaling_child(args.scaling_child, args.quick, args.k[0] if args.k else 256, repeats)
        return
    ks = args.k or ([16, 64] if args.quick else [16, 64, 256])
    images = load_images(args.quick)

    start = time.perf_counter()
    warm = next(iter(images.values()))[:64, :64]
    for init in ("kmeans++", "wu"):
        FastKMeansQuantizer(8, init=init).fit(warm).predict(warm)
    print(f"fast: numba code compiled or loaded from its cache in {time.perf_counter() - start:.2f} s "
          f"(once per process; not in the timings below); {os.cpu_count()} cores, "
          f"{numba.get_num_threads()} numba threads; load average before: {_load()}")
    for k in ks:
        rows = bench_k(k, images, repeats)
        print_table(k, rows, images, repeats)
    bench_scaling(args.quick, max(ks), repeats)


if __name__ == "__main__":
    main()
