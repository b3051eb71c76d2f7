"""Measuring one configuration on one image: time the quantizer and the encoder, check the file,
and compute the quality columns the registry declares (:mod:`kqbench.columns`).

Timing: ``time.perf_counter`` around the call only, the median of ``repeats`` calls. The first
call of a quantizer, ditherer or encoder class in a process pays for imports, thread pools and JIT
compilation; each is warmed up once per process on a small image, untimed (:func:`warm_up`), so
no timed call includes a first-use cost and no full-size image is processed twice to avoid one.

Memory: the peak resident set size of the process while it fits and assigns (:class:`PeakMemory`),
read from the kernel between the timed calls, so it costs the timings nothing. Python's
``tracemalloc`` was measured and not used: on the default sample images it made ``fit_s`` 3% (fast)
to 53% (kmeans) longer, and wu's 2.3x (it hooks every Python allocation); and it does not see what
C code allocates with ``malloc`` (Pillow's images: the Pillow quantizers; Cython buffers).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import logging
import os
import signal
import statistics
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.base import clone

from . import columns, metrics
from .datasets import SourceImage
from .encoders import RGB24PNG, png_header
from .pixels import as_channels
from .quantizers import compact_palette
from .quantizers.dither import floyd_steinberg
from .settings import default_params, init_params

log = logging.getLogger(__name__)


@dataclass
class Quantized:
    """One image quantized: indices into a palette in which every colour is used, with its timings
    and the quantization-scope columns computed from its pixels (``values``)."""

    labels: np.ndarray  # (h, w) uint8, or uint16 beyond 256 colours
    palette: np.ndarray  # (m, 3) uint8, or (m, 4) RGBA
    fit_s: float
    assign_s: float
    values: dict  # palette_size, label_entropy_bpp, every quality column, and rgb24_bytes once known
    cached: bool = False

    @property
    def pixels(self) -> np.ndarray:
        return self.palette[self.labels]  # (not np.take: it copies the labels to 8-byte indices first)


class PeakMemory:
    """Most memory a block of code added to the process: its peak resident set size above the resident
    size at the start, in bytes (``peak_bytes``; None where the OS does not say: not Linux).

    Linux only: ``/proc/self/clear_refs`` resets the peak (``VmHWM``) to the current size, and
    ``/proc/self/status`` reports both. Resident size counts every page the process touches, whoever
    allocates it (numpy, numba in any thread, C libraries such as Pillow), and what is allocated but
    never touched not at all. Memory the C allocator kept after earlier frees would be reused without raising it, so
    that is handed back to the OS first (glibc's ``malloc_trim``), and the block's allocations count.
    """

    peak_bytes: int | None = None

    def __enter__(self) -> "PeakMemory":
        _release_free_heap()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self._start = _status_bytes("VmRSS")
        except (OSError, KeyError, ValueError):
            self._start = None
        return self

    def __exit__(self, *exc) -> None:
        if self._start is not None:
            try:
                self.peak_bytes = max(0, _status_bytes("VmHWM") - self._start)
            except (OSError, KeyError, ValueError):
                pass


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (VmRSS, VmHWM, ...), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _release_free_heap() -> None:
    """Return the C heap's free pages to the OS (glibc's ``malloc_trim(0)``; elsewhere nothing)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): no trim
        return None


_LIBC = _glibc()


def median_time(fn, repeats: int, single_threaded: bool = False) -> tuple[object, float]:
    """Call ``fn`` ``repeats`` times; its last result and the median seconds of a call. The sweep's
    background processes are paused meanwhile (:func:`pause_while_timed`) unless ``fn`` uses one core
    only (``single_threaded``: an encoder's write), so that none of them takes a core from a timed call."""
    times, result = [], None
    with contextlib.nullcontext() if single_threaded else _background_paused():
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


_WARM: set = set()


def warm_up(key, fn) -> None:
    """Run ``fn`` the first time ``key`` is seen in this process (untimed)."""
    if key not in _WARM:
        fn()
        _WARM.add(key)


def _sample(channels: int) -> np.ndarray:
    """A small image with more colours than any palette: what a warm-up runs on (32x32, RGB or
    RGBA with opaque, translucent and transparent pixels)."""
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, channels), dtype=np.uint8)
    if channels == 4:
        pixels[:8, :, 3] = 255
        pixels[8:12, :, 3] = 0
    return pixels


# The sweep's background compile (kqbench.callbacks starts it, compile_in_background runs in it): the
# process holds an flock on the file named by COMPILE_LOCK_ENV, whose content is its pid, and appends
# each stage it has compiled to that file's ".done" sibling.
COMPILE_LOCK_ENV = "KQBENCH_COMPILE_LOCK"


def set_up_compiler() -> None:
    """Set numba's compiler up in this process (its typing and target contexts and LLVM's JIT, about 0.25
    CPU-s on first use), so that processes forked from it start with it set up: the sweep's background compile
    then spends its share of a core on the quantizers' code, and the job that needs that code first, here,
    has it set up already. (On cold default sweeps the first fast job waited 1.2 s instead of 1.4-1.5.)"""
    import numba
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
    numba.njit(lambda x: x + 1)(1)  # (not cached: the JIT itself is what is set up)


def compile_in_background(lock: str, stages) -> None:
    """Compile each ``(quantizer class, stage)`` of ``stages`` in order (:meth:`compile_ahead`), recording
    each stage in ``lock`` + ".done" as soon as it is compiled."""
    for cls, stage in stages:
        cls.compile_ahead(stage)
        with open(f"{lock}.done", "a") as f:
            f.write(stage + "\n")


# Processes the sweep runs beside its jobs in this process (the background compile, the launcher's
# config composition): stopped during timed calls that may use every core.
_PAUSED_WHILE_TIMED: list = []


def pause_while_timed(process) -> None:
    """Stop ``process`` (a child of this process: ``subprocess.Popen`` or ``multiprocessing.Process``)
    during every timed call that may use every core (:func:`median_time`), from now until it ends. A
    sweep's helpers can then run at normal priority, on the core that the single-threaded harness and
    encoders leave free (at idle priority they got almost none: scikit-learn's fits keep both cores
    busy), and never take a core from a timed call."""
    _PAUSED_WHILE_TIMED.append(process)


@contextlib.contextmanager
def _background_paused():
    stopped = []
    for process in list(_PAUSED_WHILE_TIMED):
        running = process.poll() is None if hasattr(process, "poll") else process.is_alive()
        if not running:  # (reaped: its pid may be reused)
            _PAUSED_WHILE_TIMED.remove(process)
            continue
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGSTOP)
            stopped.append(process.pid)
    try:
        yield
    finally:
        for pid in stopped:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)


#: Seconds this process's jobs have waited for compiled code (:func:`_wait_for_compile`), untimed: the sweep
#: reports them in where its time went (kqbench.callbacks).
compile_wait_s = 0.0


def _wait_for_compile(cls, stages) -> None:
    """Wait for the ``stages`` of quantizer class ``cls`` (:func:`_wait_for_background_compile`, compiling
    some here), counting the time in :data:`compile_wait_s` and saying so when it is noticeable."""
    global compile_wait_s
    start = time.perf_counter()
    _wait_for_background_compile(stages, cls.compile_ahead)
    waited = time.perf_counter() - start
    compile_wait_s += waited
    if waited >= 0.1:
        log.info("%.1f s waiting for %s's numba code to compile (first use: %s; untimed)", waited, cls.__name__,
                 ", ".join(stages))


def _wait_for_background_compile(stages=(), compile_here=None) -> None:
    """Block until the sweep's background compile has compiled ``stages`` (or has ended: its lock is
    released), while it makes progress: on a machine too busy to give that process a fifth of a core,
    return at once, so the caller compiles here (untimed) instead of waiting for a core to free up.

    Meanwhile, while two or more of ``stages`` are still to come, ``compile_here(stage)`` compiles the
    last of them in this process, which would otherwise wait on a core of its own (numba's cache then
    hands it to the background compile when that gets there): the two cores compile at once."""
    path = os.environ.get(COMPILE_LOCK_ENV)
    if not path:
        return
    try:
        import fcntl

        with open(path) as f:
            progress = CpuProgress(f.read().strip(), share=0.2, every_s=1.0)
            compiled_here = set()
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    done = _compiled_stages(path) | compiled_here  # (the file read once a poll)
                    left = [stage for stage in stages if stage not in done]
                    if stages and not left:  # (no stages: the whole compile)
                        return
                    if compile_here is not None and len(left) > 1:
                        compile_here(left[-1])
                        compiled_here.add(left[-1])
                        continue
                    time.sleep(0.05)
                if progress.starved():
                    log.info("the background compile is starved of CPU (a busy machine): compiling here")
                    return
    except (ImportError, OSError):  # no lock to wait for: compile here, untimed, as usual
        pass


class CpuProgress:
    """Whether a process waited for keeps getting at least ``share`` of a core: :meth:`starved` is True once
    a period of ``every_s`` seconds has passed with less (or its CPU time cannot be read)."""

    def __init__(self, pid, share: float, every_s: float):
        self.pid, self.share, self.every_s = str(pid), share, every_s
        self.since, self.cpu = time.monotonic(), cpu_seconds(self.pid)

    def starved(self) -> bool:
        now = time.monotonic()
        if now - self.since < self.every_s:
            return False
        cpu = cpu_seconds(self.pid)
        if cpu is None or self.cpu is None or cpu - self.cpu < self.share * (now - self.since):
            return True
        self.since, self.cpu = now, cpu
        return False


def _compiled_stages(path: str) -> set:
    try:
        with open(f"{path}.done") as f:
            return set(f.read().split())
    except OSError:
        return set()


def cpu_seconds(pid: str) -> float | None:
    """CPU time process ``pid`` has used (Linux ``/proc``), or None where it cannot be read."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def quality_values(source: np.ndarray, result: np.ndarray, requested=()) -> dict:
    """The quality columns (:func:`kqbench.columns.quality_columns`: every one that is not optional, and
    the optional ones ``requested``) of ``result`` against ``source``."""
    return {c.name: c.quality(source, result) for c in columns.quality_columns(requested)}


def quantization_values(source: np.ndarray, labels: np.ndarray, palette: np.ndarray, requested=()) -> dict:
    """The quantization-scope columns computed from the quantized image's pixels."""
    return {"palette_size": len(palette), "label_entropy_bpp": metrics.label_entropy(labels),
            **quality_values(source, palette[labels], requested)}


def complete(q: Quantized, image: SourceImage, requested=()) -> Quantized:
    """``q`` with any quality column it lacks computed (a cached quantization from before a metric was
    added to the registry, or from a sweep that did not ask for an optional one)."""
    missing = [c for c in columns.quality_columns(requested) if c.name not in q.values]
    if not missing:
        return q
    result = q.pixels
    return replace(q, values={**q.values, **{c.name: c.quality(image.pixels, result) for c in missing}})


def _rgb24_bytes(labels: np.ndarray, palette: np.ndarray) -> int:
    buf = io.BytesIO()
    RGB24PNG().write(labels, palette, buf)
    return buf.tell()


def _is_rgb24_baseline(encoder) -> bool:
    """Whether ``encoder`` writes exactly the ratio_to_rgb24 baseline (a default RGB24PNG)."""
    return type(encoder) is RGB24PNG and init_params(encoder) == default_params(encoder)


def with_rgb24_bytes(q: Quantized, encoder, row: dict) -> Quantized:
    """``q`` with its ``rgb24_bytes`` (the same pixels as a default 24-bit PNG): as known, or the file
    ``encoder`` just wrote (``row``) when it is that very file, else written to memory now."""
    if "rgb24_bytes" in q.values:
        return q
    if _is_rgb24_baseline(encoder) and row.get("status") == "ok":
        size = row["bytes"]
    else:
        size = _rgb24_bytes(q.labels, q.palette)
    return replace(q, values={**q.values, "rgb24_bytes": size})


def _compact(image: SourceImage, labels, palette) -> tuple[np.ndarray, np.ndarray]:
    """(labels, palette) with the palette's unused colours dropped, the labels as an (h, w) image of 1 byte a
    pixel (2 beyond 256 colours). The caller rebinds its labels to these: a quantizer's labels may take 8
    bytes a pixel, and should not stay alive while the quality columns are computed."""
    labels, palette = compact_palette(np.asarray(labels).ravel(), palette)
    return labels.reshape(image.pixels.shape[:2]), palette


def _quantized(image: SourceImage, labels, palette, fit_s: float, assign_s: float, peak_bytes: int | None,
               requested) -> Quantized:
    """``labels`` and ``palette`` (compacted: :func:`_compact`) as a :class:`Quantized`, its values computed."""
    return Quantized(labels=labels, palette=palette, fit_s=fit_s, assign_s=assign_s,
                     values={**quantization_values(image.pixels, labels, palette, requested),
                             "quantize_peak_bytes": peak_bytes})


def quantize(image: SourceImage, quantizer, repeats: int = 1, requested=()) -> Quantized:
    """Fit ``quantizer`` on the image and assign every pixel, timing both; ``requested``: the optional
    quality columns to compute too."""
    # (h, w, channels), RGB or RGBA with transparency: quantizers get the image, not a row of its pixels
    # (libimagequant weighs each pixel by its neighbours)
    source = image.pixels
    channels = source.shape[-1]

    def warm():
        sample = _sample(channels)
        small = clone(quantizer).set_params(n_colors=min(int(quantizer.n_colors), 256))
        small.fit(sample).predict(sample)

    needs = quantizer.compile_needs(source, image.unique_colours)
    if needs:  # compiled in the background since the sweep started: wait for it, once
        warm_up(("compiled", needs), lambda: _wait_for_compile(type(quantizer), needs))
    warm_up(("quantizer", type(quantizer), channels, getattr(quantizer, "colour_space", None)), warm)
    if needs:  # a large image's own code, which the warm-up's small image never reaches: loaded here, untimed
        small = quantizer.compile_needs(_sample(channels))
        for stage in [stage for stage in needs if stage not in small]:
            warm_up(("stage", type(quantizer), stage), partial(type(quantizer).compile_ahead, stage))
    with PeakMemory() as memory:
        fitted, fit_s = median_time(lambda: clone(quantizer).fit(source), repeats)
        labels, assign_s = median_time(lambda: fitted.predict(source), repeats)
    labels, palette = _compact(image, labels, fitted.palette_)
    return _quantized(image, labels, palette, fit_s, assign_s, memory.peak_bytes, requested)


def dither(image: SourceImage, q: Quantized, repeats: int = 1, requested=()) -> Quantized:
    """``q`` with its pixels re-assigned by Floyd-Steinberg error diffusion onto the SAME palette.

    The fit is not redone: palette and ``fit_s`` are the undithered quantization's, and
    ``assign_s`` times the dithering (:func:`kqbench.quantizers.dither.floyd_steinberg`: Pillow's for
    RGB, kqbench's in premultiplied RGBA for an image with transparency); ``quantize_peak_bytes``
    is the larger of the undithered quantization's and the dithering's. The result is compacted
    as for undithered rows (a colour dithering no longer uses is dropped). A lossless quantization
    (mse 0) keeps its labels: there is no error to diffuse, and Pillow's nearest-colour lookup (a
    cache of 4x4x4-value cells) would otherwise move some exact colours to a close neighbour.
    """
    pixels = image.pixels
    if q.values["mse"] == 0:
        def assign():
            return q.labels.copy()
    else:
        channels = pixels.shape[-1]
        warm_up(("dither", channels), lambda: floyd_steinberg(_sample(channels), _sample(channels)[0, :4]))

        def assign():
            return floyd_steinberg(pixels, q.palette)
    with PeakMemory() as memory:
        labels, assign_s = median_time(assign, repeats)
    fitted = q.values.get("quantize_peak_bytes")
    peak = None if fitted is None or memory.peak_bytes is None else max(fitted, memory.peak_bytes)
    labels, palette = _compact(image, labels, q.palette)
    return _quantized(image, labels, palette, q.fit_s, assign_s, peak, requested)


def measure_file(image: SourceImage, q: Quantized, encoder, path: Path, repeats: int, requested=()) -> dict:
    """Write ``q`` with ``encoder`` to ``path`` (timed), read it back, and return the file columns.
    (``requested`` is for a call like :func:`measure_lossy`'s: a lossless file's quality is its
    quantization's.)"""
    channels = q.palette.shape[1]
    warm_up(("encoder", type(encoder), channels),
            lambda: encoder.write(np.arange(16, dtype=np.uint8).reshape(4, 4) % 4, _sample(channels)[0, :4], path))
    _, encode_s = median_time(lambda: encoder.write(q.labels, q.palette, path), repeats, encoder.single_threaded)
    size = path.stat().st_size
    differ = encoder.mismatch(path, q.labels, q.palette)
    ok = differ is None
    header = png_header(path) if path.suffix == ".png" else {}
    row = {"bytes": size, "bit_depth": header.get("bit_depth"),
           "colour_type": header.get("colour_type"), "trns_bytes": header.get("trns_bytes"),
           "encode_s": encode_s, "roundtrip_ok": ok, "status": "ok", "error": None}
    if not ok:
        row.update(status="failed", error=f"round-trip mismatch: decoding {path.name} gives other pixels ({differ})")
    return row


def measure_lossy(image: SourceImage, q: Quantized, encoder, path: Path, repeats: int, requested=()) -> dict:
    """A lossy encoder (``encoder.lossy``): the ORIGINAL image at the smallest quality reaching q's PSNR.

    ``encode_s`` times the whole quality search. The quality columns are the written file's,
    decoded, against the original; the round trip holds when its MSE is the one the search
    measured and the target is reached (or out of reach even at the top quality, then written).
    """
    target = metrics.psnr(q.values["mse"])
    original = image.pixels
    warm_up(("encoder", type(encoder), original.shape[-1]),
            lambda: encoder.write_matched(_sample(original.shape[-1]), 30.0, path))
    (quality, search_mse), encode_s = median_time(lambda: encoder.write_matched(original, target, path), repeats,
                                                  encoder.single_threaded)
    size = path.stat().st_size
    decoded = as_channels(encoder.decode(path), original.shape[-1])
    row = {**quality_values(original, decoded, requested), "lossy_quality": quality, "lossy_target_psnr": target,
           "bytes": size, "bit_depth": None, "colour_type": None,
           "encode_s": encode_s, "status": "ok", "error": None}
    file_mse = row["mse"]
    row["roundtrip_ok"] = ok = file_mse == search_mse and (metrics.psnr(file_mse) >= target
                                                          or quality == encoder.quality_range[1])
    if not ok:
        row.update(status="failed", error=f"round-trip mismatch: decoding {path.name} gives mse {file_mse!r}, the "
                                          f"quality search measured {search_mse!r} at quality {quality} "
                                          f"(target psnr {target!r})")
    return row
