"""Speed and quality of kqbench's fast k-means and Wu against scikit-learn and the usual peers.

``kqbench bench [quantizers] [--k 16 64 256] [--quick] [--plot PATH]``

A benchmark, not a test: it prints tables and never asserts. All methods run in this one
process on the same images, loaded through :func:`kqbench.datasets.bundled`: scikit-learn's
``china.jpg`` and ``flower.jpg`` and scikit-image's ``astronaut``, ``coffee`` and ``chelsea``.
The methods (:func:`methods`): scikit-learn ``KMeans`` on all pixels (the baseline; ``n_init=1``)
in RGB and in Oklab, ``KMeans`` on a 10,000-pixel sample, kqbench's ``wu`` and ``fast`` (RGB,
Oklab, ``init="wu"``), Pillow's median cut, libimagequant at speed 1, 4 (its default; quality
0-100, its default too) and 10, and the ``pngquant`` command (``--nofs --speed 4``) when installed.

* seconds: sum over the images; per image the median of ``--repeats`` runs (one run for the
  scikit-learn ``KMeans`` rows on all pixels, which are slow). A run is ``fit`` on the image
  plus mapping every pixel to its nearest palette colour with the same exact mapper for every
  method (:func:`kqbench.quantizers.wu.nearest_labels`; fast's Oklab mapper for the Oklab
  rows), so the times compare how the palettes are made. ``pngquant`` is the whole
  command-line run (reading and writing PNGs included), and its quality is that of its output.
* quality of the quantized image (``palette[labels]``) against the original, per image:
  MSE (per channel, RGB 0-255), Oklab MSE (mean squared Oklab distance per pixel, x 10^4),
  and the registry's optional quality columns ``ssimulacra2`` (higher is better) and
  ``dssim`` (lower is better), i.e. :func:`kqbench.metrics.ssimulacra2` and
  :func:`kqbench.metrics.dssim`. The table shows the mean over images of the MSEs and the
  median over images of SSIMULACRA2 and DSSIM.
* ratios, all within this run: speed-up over sklearn full, time over libimagequant's default,
  MSE over sklearn full's, Oklab MSE over sklearn-in-Oklab's.
* threads: scikit-learn ``KMeans``, fast, Wu and the mapper use all the cores (OpenMP and numba
  threads), the others one; the machine should be otherwise idle.

Then: a quality-vs-time frontier plot (``--plot``, default ``kqbench-bench-quantizers.png`` in
the temporary directory; its path is printed): seconds (log) against the SSIMULACRA2 median
and the MSE, one point per method, one column of panels per k, the non-dominated points
joined; the goal lines at the largest k, computed from the table (never
asserted); and the scaling of fast on upscaled photos, each size in a fresh process.

``--quick`` uses the images at half width and height, k = 16 and 64 unless ``--k`` is
given, one run each and a smaller scaling section: about 35 s of CPU time (the full run: about 250 s,
most of it scikit-learn ``KMeans`` on all pixels).
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

from kqbench.columns import column
from kqbench.datasets import bundled
from kqbench.errors import ConfigurationError, NotInstalledError
from kqbench.metrics import mse
from kqbench.quantizers import (
    FastKMeansQuantizer,
    KMeansQuantizer,
    LibimagequantQuantizer,
    PillowQuantizer,
    SampledKMeansQuantizer,
    WuQuantizer,
    to_space,
)
from kqbench.quantizers.wu import nearest_labels

PHOTOS = ("china", "flower", "astronaut", "coffee", "chelsea")
NOT_INSTALLED = "not installed"
FULL, FULL_OKLAB, LIQ = "sklearn KMeans full", "sklearn KMeans full Oklab", "libimagequant speed 4 (default)"
FAST_OKLAB = "fast Oklab"


def oklab_mse(original: np.ndarray, quantized: np.ndarray) -> float:
    """Mean squared Oklab distance per pixel (Oklab's ΔE², what fast and KMeans minimise in Oklab), x 10^4."""
    diff = to_space(original.reshape(-1, 3), "oklab") - to_space(quantized.reshape(-1, 3), "oklab")
    return 1e4 * float(np.mean(np.einsum("ij,ij->i", diff, diff)))


# Quality measures: name -> (function of (original, quantized), how the table aggregates over images).
QUALITY = {
    "MSE": (mse, np.mean),
    "Oklab MSE": (oklab_mse, np.mean),
    "SSIMULACRA2": (column("ssimulacra2").quality, np.median),
    "DSSIM": (column("dssim").quality, np.median),
}


def methods(k: int) -> dict:
    """name -> (factory of a quantizer, or a runner of ``image -> (seconds, quantized)``; the space its
    palette is mapped in; whether to repeat it). None when the method is not installed."""
    liq = lambda **kw: lambda: LibimagequantQuantizer(k, **kw)  # noqa: E731
    has_liq = _importable("imagequant")
    return {
        FULL: (lambda: KMeansQuantizer(k, n_init=1), "rgb", False),
        FULL_OKLAB: (lambda: KMeansQuantizer(k, n_init=1, colour_space="oklab"), "oklab", False),
        "sklearn sampled 10k": (lambda: SampledKMeansQuantizer(k), "rgb", True),
        "wu": (lambda: WuQuantizer(k), "rgb", True),
        "fast": (lambda: FastKMeansQuantizer(k), "rgb", True),
        FAST_OKLAB: (lambda: FastKMeansQuantizer(k, colour_space="oklab"), "oklab", True),
        "fast init=wu": (lambda: FastKMeansQuantizer(k, init="wu"), "rgb", True),
        "Pillow median cut": (lambda: PillowQuantizer(k, "mediancut"), "rgb", True),
        "libimagequant speed 1": (liq(speed=1) if has_liq else None, "rgb", True),
        LIQ: (liq() if has_liq else None, "rgb", True),
        "libimagequant speed 10": (liq(speed=10) if has_liq else None, "rgb", True),
        "pngquant CLI": ((lambda image: run_pngquant(k, image)) if shutil.which("pngquant") else None, None, True),
    }


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def load_images(quick: bool) -> dict[str, np.ndarray]:
    images = {name: image.rgb for name, image in bundled(PHOTOS).items()}
    if quick:
        images = {name: np.ascontiguousarray(im[::2, ::2]) for name, im in images.items()}
    return images


def nearest(palette: np.ndarray, image: np.ndarray, space: str) -> np.ndarray:
    """Exact nearest palette colour of every pixel in ``space``, by fast's mappers whoever made the palette."""
    if space == "rgb":
        return nearest_labels(palette, image)
    mapper = FastKMeansQuantizer(len(palette), colour_space=space)
    mapper.palette_ = palette
    return mapper.predict(image)


def run_pngquant(k: int, image: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds for ``pngquant --nofs --speed 4 K`` on the image as a PNG file, and its output pixels."""
    with tempfile.TemporaryDirectory(prefix="kqbench-bench-") as tmp:
        source, target = Path(tmp) / "in.png", Path(tmp) / "out.png"
        Image.fromarray(image).save(source, compress_level=1)
        cmd = ["pngquant", "--nofs", "--speed", "4", "--force", "--output", str(target), str(k), "--", str(source)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        with Image.open(target) as out:
            return seconds, np.asarray(out.convert("RGB"))


def run(make, space: str | None, image: np.ndarray) -> tuple[float, np.ndarray]:
    """Seconds for fit + exact nearest-colour mapping in ``space``, and the quantized image."""
    if space is None:  # a runner of its own (a command)
        return make(image)
    start = time.perf_counter()
    palette = make().fit(image).palette_
    labels = nearest(palette, image, space)
    seconds = time.perf_counter() - start
    return seconds, palette[labels].reshape(image.shape)


def bench_k(k: int, images: dict[str, np.ndarray], repeats: int) -> dict[str, dict[str, float] | str]:
    """Per method: seconds (summed over images) and each quality measure (aggregated over images), or
    why it has no numbers."""
    rows: dict[str, dict[str, float] | str] = {}
    for name, (make, space, repeatable) in methods(k).items():
        if make is None:
            rows[name] = NOT_INSTALLED
            continue
        seconds, per_image = 0.0, {q: [] for q in QUALITY}
        try:
            for image in images.values():
                runs = [run(make, space, image) for _ in range(repeats if repeatable else 1)]
                seconds += statistics.median(s for s, _ in runs)
                for q, (measure, _) in QUALITY.items():
                    per_image[q].append(measure(image, runs[0][1]))
        except (NotInstalledError, ConfigurationError) as exc:
            rows[name] = f"skipped: {exc}"
            continue
        rows[name] = {"seconds": seconds} | {q: float(QUALITY[q][1](v)) for q, v in per_image.items()}
    return rows


def _ratio(row, base, key: str, invert: bool = False, digits: int = 2) -> str:
    if not isinstance(base, dict):
        return "-"
    value = base[key] / row[key] if invert else row[key] / base[key]
    return f"{value:.{digits}f}x"


def print_table(k: int, rows, images, repeats: int) -> None:
    n_pixels = sum(im.shape[0] * im.shape[1] for im in images.values())
    print(f"\nk = {k}: {len(images)} images, {n_pixels / 1e6:.2f} Mpixel; seconds = sum over images (median of "
          f"{repeats} run{'s' if repeats > 1 else ''}, 1 for the sklearn full rows); MSE (RGB, 0-255) and Oklab MSE "
          f"(x 10^4) = mean over images; SSIMULACRA2 (higher is better) and DSSIM (lower is better) = median over "
          f"images. Ratios: speed-up = sklearn full's seconds / the method's; time/liq = seconds / libimagequant "
          f"default's; MSE/full = MSE / sklearn full's; /full Oklab = Oklab MSE / sklearn full Oklab's")
    full, full_oklab, liq = rows.get(FULL), rows.get(FULL_OKLAB), rows.get(LIQ)
    header = (f"{'method':<32}{'seconds':>9}{'speed-up':>10}{'time/liq':>10}{'MSE':>9}{'MSE/full':>10}"
              f"{'Oklab MSE':>11}{'/full Oklab':>12}{'SSIMULACRA2':>13}{'DSSIM':>9}")
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"{name:<32}{row:>9}")
            continue
        print(f"{name:<32}{row['seconds']:>9.3f}{_ratio(row, full, 'seconds', invert=True, digits=1):>10}"
              f"{_ratio(row, liq, 'seconds'):>10}{row['MSE']:>9.3f}{_ratio(row, full, 'MSE', digits=4):>10}"
              f"{row['Oklab MSE']:>11.3f}{_ratio(row, full_oklab, 'Oklab MSE', digits=4):>12}"
              f"{row['SSIMULACRA2']:>13.2f}{row['DSSIM']:>9.4f}")


def print_goals(k: int, rows) -> None:
    """The speed and quality goals for fast, from the measured numbers; says met or not, never asserts."""
    full, full_oklab, liq = rows.get(FULL), rows.get(FULL_OKLAB), rows.get(LIQ)
    fast = {name: row for name, row in rows.items() if name.startswith("fast") and isinstance(row, dict)}
    print(f"\ngoals for fast, at k = {k}, from the table above:")
    if fast and isinstance(full, dict) and isinstance(liq, dict):
        print("  goal: >= libimagequant's SSIMULACRA2 median at <= 0.4x its time, <= 1.01x sklearn full's MSE; "
              "best = most of the three met, then the highest SSIMULACRA2 median")
        lines = {}
        for name, row in fast.items():
            time_ratio, mse_ratio = row["seconds"] / liq["seconds"], row["MSE"] / full["MSE"]
            met = {"quality": row["SSIMULACRA2"] >= liq["SSIMULACRA2"], "time": time_ratio <= 0.4,
                   "MSE": mse_ratio <= 1.01}
            lines[name] = ((sum(met.values()), row["SSIMULACRA2"]),
                           f"SSIMULACRA2 median {row['SSIMULACRA2']:.2f} vs libimagequant {liq['SSIMULACRA2']:.2f}, "
                           f"time {time_ratio:.2f}x libimagequant's, MSE {mse_ratio:.4f}x sklearn full -- "
                           f"{_verdict(met)}")
        best = max(lines, key=lambda name: lines[name][0])
        for name in [best] + [n for n in lines if n != best]:
            label = f"best fast setting ({name})" if name == best else name
            print(f"  at k={k}, {label}: {lines[name][1]}")
    else:
        print("  fast, sklearn full or libimagequant has no numbers: no SSIMULACRA2/time/MSE goal line")
    oklab = rows.get(FAST_OKLAB)
    if isinstance(oklab, dict) and isinstance(full_oklab, dict):
        mse_ratio, speed_up = oklab["Oklab MSE"] / full_oklab["Oklab MSE"], full_oklab["seconds"] / oklab["seconds"]
        met = {"Oklab MSE": mse_ratio <= 1.01, "speed": speed_up >= 50}
        print(f"  goal: Oklab MSE <= 1.01x sklearn KMeans in Oklab, >= 50x faster\n"
              f"  at k={k}, {FAST_OKLAB}: Oklab MSE {mse_ratio:.4f}x sklearn KMeans in Oklab, {speed_up:.1f}x faster"
              f" -- {_verdict(met)}")


def _verdict(met: dict[str, bool]) -> str:
    missed = [name for name, ok in met.items() if not ok]
    return "goal met" if not missed else "goal not met: " + ", ".join(missed)


def plot_frontier(results: dict[int, dict], path: Path) -> Path:
    """Seconds (log) against SSIMULACRA2 median and MSE, one point per method, a column of panels per k,
    each panel's non-dominated points joined."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from kqbench.report.data import pareto_mask

    names = list(next(iter(results.values())))
    markers = "osD^v<>pP*Xh"
    palette = colormaps["tab20"].colors  # pairs of dark and light: the darks first
    style = {name: (palette[(2 * i) % 20 + (2 * i) // 20], markers[i % len(markers)]) for i, name in enumerate(names)}
    fig = Figure(figsize=(2.5 + 3.6 * len(results), 7.5), layout="constrained")
    axes = fig.subplots(2, len(results), squeeze=False, sharex="col")
    for col, (k, rows) in enumerate(results.items()):
        measured = {name: row for name, row in rows.items() if isinstance(row, dict)}
        seconds = np.array([row["seconds"] for row in measured.values()])
        for ax, (quality, sign) in zip(axes[:, col], (("SSIMULACRA2", 1), ("MSE", -1))):
            values = np.array([row[quality] for row in measured.values()])
            for name, x, y in zip(measured, seconds, values):
                ax.scatter(x, y, color=style[name][0], marker=style[name][1], s=36, label=name, zorder=2)
            front = pareto_mask(seconds, sign * values)
            order = np.argsort(seconds[front])
            ax.plot(seconds[front][order], values[front][order], color="black", lw=1, zorder=1)
            ax.set_xscale("log")
            ax.grid(True, which="both", lw=0.3, alpha=0.5)
            ax.set_ylabel(f"{quality}{' (RGB)' if quality == 'MSE' else ''} {'median' if sign > 0 else 'mean'} over images "
                          f"({'higher' if sign > 0 else 'lower'} is better)", fontsize=8)
            if quality == "MSE":
                ax.set_xlabel("seconds, sum over images (log)", fontsize=8)
            else:
                ax.set_title(f"k = {k}", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, title="method\n(line: non-dominated)")
    fig.suptitle("Quantizers: quality vs time (up and left is better)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


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
    parser.add_argument("--plot", type=Path, default=Path(tempfile.gettempdir()) / "kqbench-bench-quantizers.png",
                        help="where to write the quality-vs-time plot (default: %(default)s)")
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
    for make, space, _ in methods(8).values():  # numba compiles (or loads its cache), libraries load
        if make is not None:
            run(make, space, warm)
    print(f"warm-up (every method once on a 64x64 crop; fast and wu compile or load their numba code): "
          f"{time.perf_counter() - start:.2f} s, not in the timings below; {os.cpu_count()} cores, "
          f"{numba.get_num_threads()} numba threads; load average before: {_load()}")
    results = {}
    for k in ks:
        results[k] = bench_k(k, images, repeats)
        print_table(k, results[k], images, repeats)
    print(f"\nfrontier plot: {plot_frontier(results, args.plot)}")
    print_goals(max(ks), results[max(ks)])
    bench_scaling(args.quick, max(ks), repeats)
    print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
