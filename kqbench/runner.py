"""Run one configuration (quantizer, k, encoding, seed) over a dataset: one row per image.

Plain Python, no Hydra: the entry point builds the objects, this module orders the work. What a
row holds is declared in :mod:`kqbench.columns`; measuring is :mod:`kqbench.measure`, reuse of
quantizations :mod:`kqbench.cache`, of an interrupted job's rows :mod:`kqbench.resume`.
"""

from __future__ import annotations

import collections
import logging
import numbers
import os
import time
from pathlib import Path

from . import columns
from .cache import Busy, QuantizationCache
from .errors import ConfigurationError, NotInstalledError, interruption
from .measure import complete, dither as dithered, measure_file, measure_lossy, quantize, with_rgb24_bytes
from .resume import finished_rows
from .settings import describe, init_params
from .table import JobRows

log = logging.getLogger(__name__)

ALPHA_CHOICES = ("keep", "drop")
PROGRESS_EVERY_S = 10.0


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigurationError(f"k must be a whole number >= 1, got k={k!r}")
    return int(k)


def check_settings(k, dither, alpha, metrics) -> None:
    """ConfigurationError for a k, dither, alpha or metrics setting no row can be measured with."""
    check_k(k)
    columns.check_metrics(metrics)
    if not isinstance(dither, bool):
        raise ConfigurationError(f"dither must be true or false, got dither={dither!r}")
    if alpha not in ALPHA_CHOICES:
        raise ConfigurationError(f"alpha must be one of {', '.join(ALPHA_CHOICES)}, got alpha={alpha!r}")


def failed_row(base: dict, exc: BaseException) -> dict:
    """``base`` with status ``failed`` (or ``not installed``) and a one-line error."""
    status = "not installed" if isinstance(exc, NotInstalledError) else "failed"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, (ConfigurationError, NotInstalledError)):
        message = f"{type(exc).__name__}: {message}"
    return {**base, "status": status, "error": message, "roundtrip_ok": False}


def image_columns(image) -> dict:
    h, w = image.rgb.shape[:2]
    return {"image": image.name, "width": w, "height": h, "pixels": w * h, "original_mode": image.original_mode,
            "original_bytes": image.original_bytes, "has_alpha": image.has_alpha,
            "unique_colours": image.unique_colours, "source": image.source}


def derive(row: dict) -> dict:
    """``row`` with every derived column (:func:`kqbench.columns.derived`) computed from its inputs."""
    for c in columns.derived():
        row[c.name] = c.derive(row)
    return row


def run_configuration(dataset, quantizer_name: str, quantizer, encoding_name: str, encoder, *, k, seed,
                      out_dir, cache: QuantizationCache, repeats: int, keep_files: bool, dither: bool,
                      alpha: str, metrics, root=None) -> list[dict]:
    """Quantize and encode every image of ``dataset``; one row per image.

    ``alpha``: ``keep`` quantizes an image with transparency as RGBA (PNG-8 with a tRNS chunk,
    RGBA truecolour, ...); ``drop`` discards its alpha first (the RGB under it kept), as the
    original question's code did. Opaque images are the same either way.

    ``dither``: re-assign the pixels by Floyd-Steinberg onto the undithered quantization's palette
    (:func:`kqbench.measure.dither`; the fit is the cached undithered one).

    ``metrics``: the optional quality columns to compute as well (``optional`` in the registry).

    ``path`` columns are relative to ``root`` (the sweep folder, where the table is written).

    Each row goes to the job's row file as soon as it is measured (:class:`kqbench.table.JobRows`:
    ``out_dir/rows.jsonl``), so an interrupted run
    keeps what it finished, and running the job again in the same folder reuses those rows
    instead of recomputing them. No exception escapes: a failure is a row.
    """
    out_dir = Path(out_dir)
    root = Path(root or out_dir)
    files = out_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    setting = {"k": k, **describe("quantizer", quantizer_name, quantizer),
               **describe("encoding", encoding_name, encoder), "seed": seed, "dither": dither, "alpha": alpha,
               "repeats": repeats}
    rows: list[dict] = []
    try:
        sources = list(dataset)
    except Exception as exc:  # an empty or missing folder: one row says why
        if interruption(exc):
            raise interruption(exc) from None
        rows.append(failed_row({"image": None, **setting}, exc))
        with JobRows(out_dir) as written:
            written.append(rows[0])
        return rows
    finished = finished_rows(out_dir, setting, root, measured=metrics)
    with JobRows(out_dir) as written:  # each row on disk as soon as measured, the job's table at the end
        progress = _Progress(f"{quantizer_name} k={k} {encoding_name}", len(sources))
        # (image, wait): an image whose quantization another job is computing comes back at the end
        queue = collections.deque((source, False) for source in sources)
        while queue:
            source, wait = queue.popleft()
            done = finished.get((source.name, source.source))
            if done is not None:  # resumed sweep: this image was measured with this very configuration
                written.append(done, measured=False)
                progress.tick()
                continue
            row = {"image": source.name, **setting}
            try:
                check_settings(k, dither, alpha, metrics)
                encoder.check_k(k)
                image = source.load()
                if alpha == "drop":
                    image = image.without_alpha()
                row = {**image_columns(image), **setting}
                key, q = _quantization(image, quantizer_name, quantizer, cache, repeats, dither, metrics, wait)
                row.update(q.values, fit_s=q.fit_s, assign_s=q.assign_s, cached=q.cached)
                path = files / f"{source.name}{encoder.suffix}"
                measure = measure_lossy if encoder.lossy else measure_file
                row.update(measure(image, q, encoder, path, repeats, metrics))
                if "rgb24_bytes" not in q.values:  # measured once: the quantization's other encodings reuse it
                    q = with_rgb24_bytes(q, encoder, row)
                    cache.put(key, q)
                row["rgb24_bytes"] = q.values["rgb24_bytes"]
                if keep_files:
                    row["path"] = os.path.relpath(path, root)
                else:
                    path.unlink()
                    row["path"] = None
                derive(row)
            except Busy:
                queue.append((source, True))
                continue
            except Exception as exc:  # noqa: BLE001 - a failed configuration is a row, never a crash
                if interruption(exc):  # the job is out of time (SLURM): end it; the rows so far are on disk
                    raise interruption(exc) from None
                log.warning("%s k=%s %s %s: %s", source.name, k, quantizer_name, encoding_name, exc)
                row = failed_row(row, exc)
            written.append(row)
            progress.tick()
    return written.rows


class _Progress:
    """Logs how far a long job (many images) is, at most every ``PROGRESS_EVERY_S``."""

    def __init__(self, what: str, total: int):
        self.what, self.total, self.done = what, total, 0
        self.start = self.last_said = time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.done and now - self.last_said >= PROGRESS_EVERY_S:
            left = (now - self.start) / self.done * (self.total - self.done)
            log.info("%s: %d of %d images, about %.0f s left", self.what, self.done, self.total, left)
            self.last_said = now


def _quantization(image, quantizer_name, quantizer, cache: QuantizationCache, repeats: int, dither: bool,
                  metrics, wait: bool):
    """The image's quantization (from the cache when an earlier job made it), dithered if asked, and its
    cache key. :class:`kqbench.cache.Busy` when another process computes it now and not ``wait``."""
    params = init_params(quantizer)
    key = cache.key(image.digest, quantizer_name, params)
    q = cache.get_or_compute(key, lambda: quantize(image, quantizer, repeats, metrics), wait=wait)
    q = complete(q, image, metrics)
    if not dither:
        return key, q
    # same fit and palette, pixels re-assigned; cached apart from the undithered result
    dkey = cache.key(image.digest, quantizer_name, {**params, "dither": "floyd-steinberg"})
    qd = cache.get_or_compute(dkey, lambda: dithered(image, q, repeats, metrics), wait=wait)
    return dkey, complete(qd, image, metrics)
