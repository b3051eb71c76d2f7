"""Run one configuration (quantizer, k, encoding, seed) over a dataset and measure every image.

Plain Python, no Hydra: the entry point builds the objects, this module turns them into rows.
Quantization results are cached on disk by image content and quantizer parameters, so
sweeping encodings (or rerunning) quantizes each (image, k, quantizer, seed) once.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import logging
import numbers
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.base import clone

from .datasets import SourceImage
from .encoders import RGB24PNG, as_channels, png_header
from .errors import ConfigurationError, NotInstalledError
from .quantizers import compact_palette, unique_colours
from .quantizers.dither import floyd_steinberg_rgba
from .metrics import label_entropy, mean_delta_e2000, mse, psnr
from .table import write_rows

log = logging.getLogger(__name__)


@dataclass
class Quantized:
    """One image quantized: indices into a palette in which every colour is used."""

    labels: np.ndarray  # (h, w) uint8, or uint16 beyond 256 colours
    palette: np.ndarray  # (m, 3) uint8
    unique_colours: int  # distinct colours of the source image
    fit_s: float
    assign_s: float
    mse: float
    rgb24_bytes: int  # the same pixels as a default 24-bit PNG: the ratio_to_rgb24 baseline
    delta_e2000: float  # mean CIEDE2000 difference from the source image, over pixels
    cached: bool = False


def init_params(obj) -> dict:
    """An object's constructor parameters and their values (scikit-learn convention)."""
    names = [p for p in inspect.signature(type(obj).__init__).parameters if p not in ("self", "args", "kwargs")]
    return {name: _scalar(getattr(obj, name)) for name in names}


def _scalar(value):
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return value
    return str(list(value)) if isinstance(value, (list, tuple)) else str(value)


ALPHA_CHOICES = ("keep", "drop")


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigurationError(f"k must be a whole number >= 1, got k={k!r}")
    return int(k)


def median_time(fn, repeats: int) -> tuple[object, float]:
    """Call ``fn`` ``repeats`` times (after the caller's warm-up); its last result and median seconds."""
    times, result = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


def _png_bytes(labels, palette) -> int:
    buf = io.BytesIO()
    RGB24PNG().write(labels, palette, buf)
    return buf.tell()


def quantize(image: SourceImage, quantizer, repeats: int = 1) -> Quantized:
    """Fit ``quantizer`` on the image and assign every pixel, timing both."""
    source = image.pixels  # RGB, or RGBA with transparency
    pixels = source.reshape(-1, source.shape[-1])
    # Warm-up on a corner: imports, thread pools and JIT compilation are paid here, untimed,
    # without doubling the cost of a large k-means fit.
    warm = clone(quantizer).fit(source[:64, :64])
    warm.predict(source[:64, :64])
    fitted, fit_s = median_time(lambda: clone(quantizer).fit(pixels), repeats)
    labels, assign_s = median_time(lambda: fitted.predict(pixels), repeats)
    labels, palette = compact_palette(np.asarray(labels), fitted.palette_)
    labels = labels.reshape(source.shape[:2])
    return Quantized(
        labels=labels,
        palette=palette,
        unique_colours=len(unique_colours(pixels)[0]),
        fit_s=fit_s,
        assign_s=assign_s,
        mse=mse(source, palette[labels]),
        rgb24_bytes=_png_bytes(labels, palette),
        delta_e2000=mean_delta_e2000(source, palette[labels]),
    )


# What a dithered variant recomputes from its own pixels, and what it keeps from the undithered
# quantization (same image, same fit). A new Quantized field must be put in one of the two sets
# (a per-pixel quality measure is recomputed in floyd_steinberg), or dithered rows fail loudly.
_DITHER_RECOMPUTES = {"labels", "palette", "assign_s", "mse", "rgb24_bytes", "delta_e2000", "cached"}
_DITHER_KEEPS = {"unique_colours", "fit_s"}


def floyd_steinberg(image: SourceImage, q: Quantized, repeats: int = 1) -> Quantized:
    """``q`` with its pixels re-assigned by Floyd-Steinberg error diffusion onto the SAME palette.

    The fit is not redone: palette and ``fit_s`` are the undithered quantization's, and
    ``assign_s`` times the dithering: for RGB, Pillow's C implementation (``Image.quantize`` with a
    palette image of exactly our colours); for an image with transparency, which Pillow cannot
    dither, kqbench's error diffusion in premultiplied RGBA
    (:func:`kqbench.quantizers.dither.floyd_steinberg_rgba`). The result is checked to use only our
    palette's indices and colours, then compacted as for undithered rows (a colour dithering no
    longer uses is dropped). A lossless quantization (mse 0) keeps its labels: there is no error to
    diffuse, and Pillow's nearest-colour lookup (a cache of 4x4x4-value cells) would otherwise
    move some exact colours to a close neighbour.
    """
    unknown = {f.name for f in fields(Quantized)} - _DITHER_RECOMPUTES - _DITHER_KEEPS
    if unknown:
        raise NotImplementedError(f"floyd_steinberg does not say how to dither Quantized.{', '.join(sorted(unknown))}")
    m = len(q.palette)
    if m > 256:
        raise ConfigurationError(f"dither=true needs a palette of at most 256 colours (Pillow's), this one has {m}")
    pixels = image.pixels
    if image.has_alpha:
        def assign():
            return None, q.labels.copy() if q.mse == 0 else floyd_steinberg_rgba(pixels, q.palette)
    else:
        source = Image.fromarray(np.ascontiguousarray(image.rgb), "RGB")
        target = Image.new("P", (1, 1))
        target.putpalette(q.palette.astype(np.uint8).tobytes(), "RGB")

        def assign():
            if q.mse == 0:
                return None, q.labels.copy()
            out = source.quantize(palette=target, dither=Image.Dither.FLOYDSTEINBERG)
            return out, np.asarray(out)

    assign()  # warm-up, untimed
    (out, labels), assign_s = median_time(assign, repeats)
    if out is not None:
        got = np.asarray(out.getpalette("RGB") or [], np.uint8).reshape(-1, 3)
        if len(got) < m or not np.array_equal(got[:m], q.palette):
            raise RuntimeError("Pillow's dithered image does not carry the quantization's palette")
    if labels.size and int(labels.max()) >= m:
        raise RuntimeError(f"dithering used palette index {int(labels.max())}, the palette has {m} colours")
    labels, palette = compact_palette(labels.ravel(), q.palette)
    labels = labels.reshape(pixels.shape[:2])
    return replace(q, labels=labels, palette=palette, assign_s=assign_s, mse=mse(pixels, palette[labels]),
                   rgb24_bytes=_png_bytes(labels, palette),
                   delta_e2000=mean_delta_e2000(pixels, palette[labels]), cached=False)


class QuantizationCache:
    """Quantization results on disk, keyed by image content + quantizer name and parameters."""

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory else None

    def key(self, image: SourceImage, quantizer_name: str, params: dict) -> str:
        blob = json.dumps({"image": image.digest, "quantizer": quantizer_name, "params": params},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(self, key: str) -> Quantized | None:
        if self.directory is None:
            return None
        path = self.directory / f"{key}.npz"
        try:
            with np.load(path) as z:
                scalars = json.loads(str(z["meta"]))
                return Quantized(labels=z["labels"], palette=z["palette"], cached=True, **scalars)
        except (FileNotFoundError, OSError, ValueError, KeyError, TypeError):
            return None  # absent, unreadable, or written before a field existed (TypeError): recompute

    def put(self, key: str, q: Quantized) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {k: getattr(q, k) for k in ("unique_colours", "fit_s", "assign_s", "mse", "rgb24_bytes",
                                           "delta_e2000")}
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, labels=q.labels, palette=q.palette, meta=json.dumps(meta))
        os.replace(tmp, self.directory / f"{key}.npz")  # atomic: parallel jobs never read half a file


def _image_columns(image: SourceImage, q: Quantized | None) -> dict:
    h, w = image.rgb.shape[:2]
    return {
        "image": image.name,
        "width": w,
        "height": h,
        "pixels": w * h,
        "original_mode": image.original_mode,
        "original_bytes": image.original_bytes,
        "has_alpha": image.has_alpha,
        "unique_colours": q.unique_colours if q else None,
        "source": image.source,
    }


def _measure(image, q, encoder, path: Path, repeats: int, keep_files: bool, root: Path) -> dict:
    encoder.write(q.labels, q.palette, path)  # warm-up
    _, encode_s = median_time(lambda: encoder.write(q.labels, q.palette, path), repeats)
    size = path.stat().st_size
    expected = encoder.expected(q.labels, q.palette)
    decoded = encoder.decode(path)
    if expected.ndim == 3:  # an RGB file holds an RGBA image whose every pixel is opaque
        decoded = as_channels(decoded, expected.shape[-1])
    ok = decoded.shape == expected.shape and bool(np.array_equal(decoded, expected))
    header = png_header(path) if path.suffix == ".png" else {}
    if not keep_files:
        path.unlink()
    pixels = q.labels.size
    row = {
        "bytes": size,
        "bits_per_pixel": 8 * size / pixels,
        "ratio_to_original": size / image.original_bytes,
        "ratio_to_rgb24": size / q.rgb24_bytes,
        "bit_depth": header.get("bit_depth"),
        "colour_type": header.get("colour_type"),
        "trns_bytes": header.get("trns_bytes"),
        "encode_s": encode_s,
        "roundtrip_ok": ok,
        "path": os.path.relpath(path, root) if keep_files else None,
        "status": "ok",
        "error": None,
    }
    if not ok:
        differ = "shape differs" if decoded.shape != expected.shape else \
            f"{int(np.any(decoded != expected, axis=-1).sum() if decoded.ndim == 3 else (decoded != expected).sum())} pixels differ"
        row.update(status="failed", error=f"round-trip mismatch: decoding {path.name} gives other pixels ({differ})")
    return row


def _measure_lossy(image, q, encoder, path: Path, repeats: int, keep_files: bool, root: Path) -> dict:
    """A lossy encoder (``encoder.lossy``): the ORIGINAL image at the smallest quality reaching q's PSNR.

    ``encode_s`` times the whole quality search. ``mse``/``psnr``/``delta_e2000`` are the written
    file's, decoded, against the original; the round trip holds when that MSE is the one the search
    measured and the target is reached (or out of reach even at the top quality, then written).
    """
    target = psnr(q.mse)
    original = image.pixels
    encoder.write_matched(original, target, path)  # warm-up
    (quality, search_mse), encode_s = median_time(lambda: encoder.write_matched(original, target, path), repeats)
    size = path.stat().st_size
    decoded = encoder.decode(path)
    file_mse = mse(original, as_channels(decoded, original.shape[-1]))
    ok = file_mse == search_mse and (psnr(file_mse) >= target or quality == encoder.quality_range[1])
    if not keep_files:
        path.unlink()
    row = {"mse": file_mse, "psnr": psnr(file_mse),
           "delta_e2000": mean_delta_e2000(original, as_channels(decoded, original.shape[-1])),
           "lossy_quality": quality, "lossy_target_psnr": target,
           "bytes": size, "bits_per_pixel": 8 * size / q.labels.size, "ratio_to_original": size / image.original_bytes,
           "ratio_to_rgb24": size / q.rgb24_bytes, "bit_depth": None, "colour_type": None, "encode_s": encode_s,
           "roundtrip_ok": ok, "path": os.path.relpath(path, root) if keep_files else None, "status": "ok",
           "error": None}
    if not ok:
        row.update(status="failed", error=f"round-trip mismatch: decoding {path.name} gives mse {file_mse!r}, the "
                                          f"quality search measured {search_mse!r} at quality {quality} "
                                          f"(target psnr {target!r})")
    return row


def failed_row(base: dict, exc: BaseException) -> dict:
    status = "not installed" if isinstance(exc, NotInstalledError) else "failed"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, (ConfigurationError, NotInstalledError)):
        message = f"{type(exc).__name__}: {message}"
    return {**base, "status": status, "error": message, "roundtrip_ok": False}


def _same(a, b) -> bool:
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number) and not isinstance(a, bool):
        return float(a) == float(b) or (a != a and b != b)
    return (a is None and b is None) or str(a) == str(b)


def _finished_rows(path: Path, config: dict, root: Path) -> dict:
    """Rows an earlier (interrupted) run of this job completed: ok, same configuration, file intact."""
    if not path.exists():
        return {}
    try:
        previous = pd.read_parquet(path).to_dict("records")
    except Exception:  # unreadable: recompute everything
        return {}
    finished = {}
    for row in previous:
        if row.get("status") != "ok" or not all(_same(row.get(c), v) for c, v in config.items()):
            continue
        if row.get("path") and not ((root / row["path"]).is_file() and (root / row["path"]).stat().st_size == row["bytes"]):
            continue
        finished[(row["image"], row.get("source"))] = row
    return finished


def run_configuration(dataset, quantizer_name: str, quantizer, encoding_name: str, encoder, *, k, seed,
                      out_dir, cache: QuantizationCache, repeats: int = 1, keep_files: bool = True,
                      root=None, dither: bool = False, alpha: str = "keep") -> list[dict]:
    """Quantize and encode every image of ``dataset``; one row per image.

    ``alpha``: ``keep`` quantizes an image with transparency as RGBA (PNG-8 with a tRNS chunk,
    RGBA truecolour, ...); ``drop`` discards its alpha first (the RGB under it kept), as the
    original question's code did. Opaque images are the same either way.

    ``dither``: re-assign the pixels by Floyd-Steinberg onto the undithered quantization's palette
    (:func:`floyd_steinberg`; the fit is the cached undithered one).

    ``path`` columns are relative to ``root`` (the sweep folder, where the table is written).

    Rows are written to ``out_dir/rows.parquet`` after each image (atomically), so an
    interrupted run keeps what it finished, and running the job again in the same folder
    reuses those rows instead of recomputing them. No exception escapes: a failure is a row.
    """
    out_dir = Path(out_dir)
    files = out_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    qparams = {k_: v for k_, v in init_params(quantizer).items() if k_ not in ("n_colors", "random_state")}
    config = {
        "k": k,
        "quantizer": quantizer_name,
        **{f"quantizer.{p}": v for p, v in qparams.items()},
        "encoding": encoding_name,
        **{f"encoding.{p}": v for p, v in init_params(encoder).items()},
        "seed": seed,
        "dither": dither,
        "alpha": alpha,
        "repeats": repeats,
    }
    rows: list[dict] = []
    try:
        sources = list(dataset)
    except Exception as exc:  # an empty or missing folder: one row says why
        rows.append(failed_row({"image": None, **config}, exc))
        write_rows(out_dir / "rows.parquet", rows)
        return rows
    finished = _finished_rows(out_dir / "rows.parquet", config, Path(root or out_dir))
    for source in sources:
        done = finished.get((source.name, source.source))
        if done is not None:  # resumed sweep: this image was measured with this very configuration
            rows.append(done)
            continue
        base = {"image": source.name, **config}
        try:
            check_k(k)
            if not isinstance(dither, bool):
                raise ConfigurationError(f"dither must be true or false, got dither={dither!r}")
            if alpha not in ALPHA_CHOICES:
                raise ConfigurationError(f"alpha must be one of {', '.join(ALPHA_CHOICES)}, got alpha={alpha!r}")
            encoder.check_k(k)
            image = source.load()
            if alpha == "drop":
                image = image.without_alpha()
            base = {**_image_columns(image, None), **config}
            key = cache.key(image, quantizer_name, init_params(quantizer))
            q = cache.get(key)
            if q is None:
                q = quantize(image, quantizer, repeats)
                cache.put(key, q)
            if dither:  # same fit and palette, pixels re-assigned; cached apart from the undithered result
                dkey = cache.key(image, quantizer_name, {**init_params(quantizer), "dither": "floyd-steinberg"})
                q_dithered = cache.get(dkey)
                if q_dithered is None:
                    q_dithered = floyd_steinberg(image, q, repeats)
                    cache.put(dkey, q_dithered)
                q = q_dithered
            row = {**_image_columns(image, q), **config, "palette_size": len(q.palette), "mse": q.mse,
                   "psnr": psnr(q.mse), "delta_e2000": q.delta_e2000, "label_entropy_bpp": label_entropy(q.labels),
                   "fit_s": q.fit_s, "assign_s": q.assign_s, "cached": q.cached}
            measure = _measure_lossy if getattr(encoder, "lossy", False) else _measure
            row.update(measure(image, q, encoder, files / f"{source.name}{encoder.suffix}", repeats,
                               keep_files, Path(root or out_dir)))
        except Exception as exc:  # noqa: BLE001 - a failed configuration is a row, never a crash
            log.warning("%s k=%s %s %s: %s", source.name, k, quantizer_name, encoding_name, exc)
            row = failed_row(base, exc)
        rows.append(row)
        write_rows(out_dir / "rows.parquet", rows)
    return rows
