"""Why is this image file this size, and what should it be? ``kqbench explain FILE [--write OUT]``
(or ``python -m kqbench.explain``).

Reads one image (PNG, JPEG, WebP, GIF, BMP, TIFF), leads with a verdict (what to save it as, and
the size that gives), describes how it is stored (for a PNG: chunk by chunk), writes the same
pixels as PNG-8 (lossless when the image has at most 256 colours, and quantized at each k with
kqbench's fast k-means) and as a 24-bit RGB PNG into a temporary folder, measures those real files,
says in plain words where the bytes go, and prints the code that writes the smaller file.
``--write OUT`` writes the recommended file: the smallest PNG-8 reaching ``--min-psnr`` (lossless
when the image has at most 256 colours). Sizes are in KB of 1000 bytes, as in the reports.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from PIL import Image

from .datasets import load_image_file
from .encoders import PillowPalettePNG, RGB24PNG, png_header, read_chunks
from .encoders.pngfile import PNG_SIGNATURE
from .metrics import mse, psnr
from .pixels import as_channels, has_transparency, pillow_mode
from .report import snippet

SAMPLE_SIZE = 50_000  # images with transparency: k-means (scikit-learn) is fitted on at most this many pixels
MIN_PSNR = 30.0  # dB: the recommended PNG-8 is the smallest reaching this (the reports' default threshold)
CHANNELS = {"grey": 1, "RGB": 3, "palette": 1, "grey+alpha": 2, "RGBA": 4}
MODE_TYPES = {"1": "grey", "L": "grey", "I;16": "grey", "I": "grey", "LA": "grey+alpha", "P": "palette",
              "PA": "palette+alpha", "RGB": "RGB", "RGBA": "RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr"}
METADATA_NOTE_SHARE = 0.05  # metadata is worth a sentence from this share of the file on
LABEL_MAP_FILL = 0.9  # a grey image from 0 whose values fill at least this share of 0..max: a label map
PROGRESS_AFTER_S = 1.0  # a step that runs longer than this is announced on stderr
COMPILE_NOTE_AFTER_S = 3.0  # waiting this long for the fast k-means: it is being compiled, not loaded


# --- measuring ---------------------------------------------------------------------------

def _read(path: Path):
    """Check the file, then read its pixels and what Pillow knows of it; ValueError if unusable."""
    if not path.exists():
        raise ValueError(f"{path}: no such file - check the path")
    if not path.is_file():
        raise ValueError(f"{path}: not a file - give the path of an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: the file is empty (0 bytes) - re-export or re-download the image")
    with open(path, "rb") as f:
        is_png = f.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    chunks = None
    if is_png:
        try:
            chunks = read_chunks(path)
        except ValueError as exc:
            raise ValueError(f"{exc} - the file is damaged or incomplete: re-export or re-download it") from exc
        if chunks[-1].type != "IEND":
            raise ValueError(f"{path}: truncated PNG (no IEND chunk) - the file is incomplete: "
                             "re-export or re-download it")
    try:
        image = load_image_file(path)
        with Image.open(path) as im:
            info = {"format": im.format or "unknown", "mode": im.mode, "frames": getattr(im, "n_frames", 1),
                    "has_alpha": has_transparency(im)}
            if im.mode == "P":
                info["palette_entries"] = len(im.getpalette() or ()) // 3
                info["palette_used"] = len(np.unique(np.asarray(im)))
            if info["has_alpha"]:
                info["translucent_pixels"] = int((np.asarray(im.convert("RGBA"))[..., 3] < 255).sum())
    except Exception as exc:  # Pillow raises many kinds of errors on damaged files
        reason = exc.__cause__ or exc  # load_image_file wraps Pillow's error: show Pillow's
        raise ValueError(f"{path}: cannot read it as an image ({reason}) - "
                         "give a PNG, JPEG, WebP, GIF, BMP or TIFF file") from exc
    return image, chunks, info


def _png_structure(path: Path, chunks, file_bytes: int, width: int, height: int) -> dict:
    """Chunk sizes by group (each with its 12 bytes of length, type and CRC), raw size, deflate ratio."""
    header = png_header(path)
    groups = {"IDAT": 0, "PLTE": 0, "tRNS": 0, "metadata": 0, "overhead": len(PNG_SIGNATURE)}
    metadata = {}
    for c in chunks:
        size = c.length + 12
        if c.type in ("IHDR", "IEND"):
            groups["overhead"] += size
        elif c.type in ("IDAT", "PLTE", "tRNS"):
            groups[c.type] += size
        else:
            groups["metadata"] += size
            metadata[c.type] = metadata.get(c.type, 0) + size
    groups["after IEND"] = file_bytes - sum(groups.values())
    bits = CHANNELS[header["colour_type"]] * header["bit_depth"]
    raw = height * math.ceil(width * bits / 8)  # rows of packed samples, before filtering and deflate
    idat_data = sum(c.length for c in chunks if c.type == "IDAT")
    plte = [c for c in chunks if c.type == "PLTE"]
    return {
        **header,
        "interlaced": chunks[0].data[12] == 1,
        "bits_per_pixel_raw": bits,
        "chunks": groups,
        "metadata_chunks": metadata,
        "idat_chunks": sum(c.type == "IDAT" for c in chunks),
        "idat_data_bytes": idat_data,
        "raw_bytes": raw,
        "deflate_ratio": raw / idat_data if idat_data else math.nan,
        "plte_entries": plte[0].length // 3 if plte else None,
    }


def label_map(colours: np.ndarray) -> dict | None:
    """``{"values": n, "max": m}`` when the distinct colours look like palette indices saved as a grey
    image (``io.imsave(labels)``): opaque greys whose values start at 0 and fill 0..m (m < 255) almost
    without gaps; else None. (A grey photo rarely uses every level from black up to a level below white
    and none above it; one with levels 0-255 all used is not called a label map.)"""
    if colours.shape[1] != 3 or len(colours) < 2:
        return None
    grey = (colours[:, 0] == colours[:, 1]) & (colours[:, 1] == colours[:, 2])
    if not grey.all():
        return None
    values = colours[:, 0].astype(int)
    top = int(values.max())
    if values.min() != 0 or top >= 255 or len(values) < LABEL_MAP_FILL * (top + 1):
        return None
    return {"values": len(values), "max": top}


def _measure(name, encoder, labels, palette, rgb, path, input_bytes, **extra) -> dict:
    """Write ``(labels, palette)`` with ``encoder``, decode it back, and measure the file.

    PSNR is against ``rgb``, the input's decoded pixels.
    """
    encoder.write(labels, palette, path)
    decoded = as_channels(encoder.decode(path), rgb.shape[-1])
    size = path.stat().st_size
    error = mse(rgb, decoded)
    chunks = read_chunks(path)
    return {
        "name": name,
        "file": path.name,
        **extra,
        "bytes": size,
        "bits_per_pixel": 8 * size / (rgb.shape[0] * rgb.shape[1]),
        "ratio_to_input": size / input_bytes,
        "mse": error,
        "psnr": psnr(error),
        "bit_depth": png_header(path)["bit_depth"],
        "plte_bytes": sum(c.length for c in chunks if c.type == "PLTE"),
        "trns_bytes": sum(c.length for c in chunks if c.type == "tRNS"),
        "idat_bytes": sum(c.length for c in chunks if c.type == "IDAT"),
        "roundtrip_ok": bool(np.array_equal(decoded, encoder.expected(labels, palette))),
    }


class Progress:
    """Say on a stream what a step is doing when it takes longer than ``after`` seconds (a quick run prints
    nothing): ``step(text)`` starts a step, ``done()`` ends the last one."""

    def __init__(self, stream=None, after: float = PROGRESS_AFTER_S):
        self.stream, self.after, self._timer, self._t0 = stream, after, None, time.perf_counter()

    def step(self, text: str, after: float | None = None) -> None:
        self.done()
        if self.stream is None:
            return
        self._timer = threading.Timer(self.after if after is None else after, self._say, (text,))
        self._timer.daemon = True
        self._timer.start()

    def _say(self, text: str) -> None:
        print(f"kqbench explain: {text}... ({time.perf_counter() - self._t0:.0f} s so far)", file=self.stream,
              flush=True)

    def done(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _Warm(threading.Thread):
    """Import the quantizers (scikit-learn's base class comes with them: about a second) and, for an opaque
    image, load the fast k-means' compiled code from numba's cache (or compile it, the first time), while the
    main thread reads, counts and writes the image; :meth:`ready` waits for it."""

    def __init__(self, alpha: bool):
        super().__init__(name="kqbench-explain-warm", daemon=False)
        self.alpha, self.error = alpha, None

    def run(self):
        try:
            from .quantizers import FastKMeansQuantizer

            if not self.alpha:  # (an RGB image's stages: the fit, Hartigan's moves, the remap)
                for stage in FastKMeansQuantizer().compile_needs(np.zeros((1, 3), np.uint8)):
                    FastKMeansQuantizer.compile_ahead(stage)
        except BaseException as exc:  # re-raised in the main thread
            self.error = exc

    def ready(self) -> None:
        self.join()
        if self.error is not None:
            raise self.error


def _quantizer(k: int, alpha: bool, random_state: int):
    """kqbench's fast k-means (numba, all pixels) for RGB; scikit-learn's KMeans on a sample for RGBA
    (premultiplied), which the fast one does not take."""
    if alpha:
        from .quantizers import KMeansQuantizer

        return KMeansQuantizer(n_colors=k, random_state=random_state)
    from .quantizers import FastKMeansQuantizer

    return FastKMeansQuantizer(n_colors=k, random_state=random_state)


def explain(path, ks=(16, 64, 256), sample_size: int = SAMPLE_SIZE, random_state: int = 0,
            out_dir=None, min_psnr: float = MIN_PSNR, write=None, progress: Progress | None = None) -> dict:
    """Measure how an image file is stored, what the same pixels weigh in other PNG encodings, and which
    file to write instead.

    Parameters
    ----------
    path : str or Path
        The image file (PNG, JPEG, WebP, GIF, BMP, TIFF: anything Pillow reads).
    ks : sequence of int
        Palette sizes (2..256) to quantize to: kqbench's fast k-means (same objective as scikit-learn's
        ``KMeans``, every pixel) for opaque images, ``KMeans`` on a sample for images with transparency.
        A k not below the image's number of colours is skipped: quantizing would be lossless.
    sample_size : int
        Images with transparency and more pixels have k-means fitted on a random sample of this many
        pixels (every pixel is still mapped to the palette; sizes and PSNR are for the whole image).
    random_state : int
        Seed of the sample and of k-means.
    out_dir : str or Path, optional
        Folder to keep the written files in; by default a temporary folder, deleted once measured.
    min_psnr : float
        The recommended file is the smallest PNG-8 whose PSNR reaches this (dB); lossless when the
        image has at most 256 colours. When no k reaches it, the one with the highest PSNR.
    write : str or Path, optional
        Write the recommended file here (the very file measured).
    progress : Progress, optional
        Told each step, to announce the slow ones.

    Returns
    -------
    dict
        ``path``, ``format``, ``mode``, ``colour_type``, ``bit_depth``, ``width``, ``height``,
        ``pixels``, ``unique_colours``, ``file_bytes``, ``bits_per_pixel``, ``lossy``,
        ``has_alpha``, ``translucent_pixels``, ``frames``, ``palette_entries`` and
        ``palette_used`` (palette images, else None), ``label_map`` (``{"values", "max"}`` when the
        file looks like palette indices saved as a grey image, else None), ``out_dir``, ``png`` (PNG
        structure, else None: chunk bytes by group, which add up to ``file_bytes``, raw pixel bytes and
        deflate ratio), ``sampled`` (the sample size, or None), ``quantizer`` (what quantized),
        ``estimates``, ``skipped`` (``k`` and ``reason``), ``min_psnr``, ``recommended`` (one of the
        estimates, or None), ``written`` (``path`` and ``bytes``, or None) and ``seconds``. Each estimate
        is one written file: ``name``, ``file``, ``kind`` ("png8-lossless", "rgb24" or "png8"), ``k``,
        ``colours``, ``bytes``, ``bits_per_pixel``, ``ratio_to_input``, ``mse`` and ``psnr`` (against
        the input's decoded pixels), ``bit_depth``, ``plte_bytes``, ``trns_bytes``, ``idat_bytes``,
        ``roundtrip_ok`` and ``rgb24_bytes`` (the same pixels as a 24-bit RGB PNG, written for the quantized
        estimates the text compares with it, the recommended one and k=64; else None).

    Raises
    ------
    ValueError
        The file is missing, empty, damaged or not an image, or a k is outside 2..256; the
        message names the file and what to do.
    """
    t0 = time.perf_counter()
    progress = progress or Progress()
    path = Path(path)
    ks = sorted({int(k) for k in ks})
    for k in ks:
        if not 2 <= k <= 256:
            raise ValueError(f"k={k}: a PNG-8 palette holds 2 to 256 colours - choose each k in 2..256")
    progress.step("reading the file")
    image, chunks, info = _read(path)
    rgb = image.pixels  # RGBA when some pixel is not opaque: every estimate keeps the transparency
    height, width = rgb.shape[:2]
    pixels = rgb.reshape(-1, rgb.shape[-1])
    warm = _Warm(alpha=rgb.shape[-1] == 4)
    warm.start()
    progress.step("counting its colours")
    colours, inverse = _colours(pixels)
    n_colours = len(colours)
    png = _png_structure(path, chunks, image.original_bytes, width, height) if chunks else None
    if png and png["plte_entries"] is not None:
        info["palette_entries"] = png["plte_entries"]
    labels_like = label_map(colours)
    alpha = rgb.shape[-1] == 4
    d = {
        "path": str(path),
        "format": info["format"],
        "mode": info["mode"],
        "colour_type": png["colour_type"] if png else MODE_TYPES.get(info["mode"], info["mode"]),
        "bit_depth": png["bit_depth"] if png else {"1": 1, "I;16": 16, "I": 32, "F": 32}.get(info["mode"], 8),
        "width": width,
        "height": height,
        "pixels": width * height,
        "unique_colours": n_colours,
        "file_bytes": image.original_bytes,
        "bits_per_pixel": 8 * image.original_bytes / (width * height),
        "lossy": _is_lossy(path, info["format"]),
        "has_alpha": info["has_alpha"],
        "translucent_pixels": info.get("translucent_pixels", 0),
        "frames": info["frames"],
        "palette_entries": info.get("palette_entries"),
        "palette_used": info.get("palette_used"),
        "label_map": labels_like,
        "png": png,
        "sampled": None,
        "quantizer": None,
        "out_dir": None if out_dir is None else str(out_dir),
        "estimates": [],
        "skipped": [],
        "min_psnr": float(min_psnr),
        "recommended": None,
        "written": None,
    }
    measure = dict(rgb=rgb, input_bytes=image.original_bytes)
    folder = tempfile.TemporaryDirectory(prefix="kqbench-explain-") if out_dir is None else nullcontext(out_dir)
    # Files are written and measured in two threads (Pillow's encoder and zlib release the GIL) while the main
    # thread quantizes the next k.
    with folder as tmp, ThreadPoolExecutor(max_workers=2) as pool:
        tmp = Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        labels = inverse.reshape(height, width) if inverse is not None else None
        jobs = []
        if n_colours <= 256:
            name = (f"PNG-8 of these {n_colours} indices" if labels_like else
                    f"PNG-8, its {_plural(n_colours, 'colour')} (lossless)")
            jobs.append(pool.submit(
                _measure, name, PillowPalettePNG(), labels.astype(np.uint8), colours, path=tmp / "png8-lossless.png",
                kind="png8-lossless", k=None, colours=n_colours, rgb24_bytes=None, **measure))
        quantized = {}
        if labels_like:  # indices, not colours: neither RGB nor quantizing them means anything
            d["skipped"] += [{"k": k, "reason": "the file holds palette indices, not colours"} for k in ks]
        else:
            jobs.append(pool.submit(_measure, f"{_truecolour(d)} (lossless)", _Truecolour(), rgb, None,
                                    path=tmp / "rgb24.png", kind="rgb24", k=None, colours=n_colours,
                                    rgb24_bytes=None, **measure))
            fit_on = pixels
            todo = [k for k in ks if k < n_colours]
            if alpha and todo and len(pixels) > sample_size:
                d["sampled"] = sample_size
                rng = np.random.default_rng(random_state)
                fit_on = pixels[rng.choice(len(pixels), size=sample_size, replace=False)]
            if todo:
                d["quantizer"] = ("k-means (scikit-learn KMeans, premultiplied RGBA)" if alpha else
                                  "k-means (kqbench's fast k-means, every pixel)")
            for k in ks:
                if k >= n_colours:
                    d["skipped"].append({"k": k, "reason": f"the image has only {_plural(n_colours, 'colour')} "
                                                           "(the lossless PNG-8 above is exact)"})
                    continue
                if not quantized:  # loading takes a second; compiling (the first run only) 20 s or more
                    progress.step("compiling the fast k-means (once per installation: 20 s or more; then it is "
                                  "loaded from numba's cache)" if not alpha else "loading the quantizers",
                                  after=COMPILE_NOTE_AFTER_S)
                    warm.ready()
                progress.step(f"quantizing to k={k}")
                from .quantizers import compact_palette

                quantizer = _quantizer(k, alpha, random_state).fit(fit_on)
                k_labels, palette = compact_palette(quantizer.predict(pixels), quantizer.palette_)
                k_labels = k_labels.reshape(height, width)
                quantized[k] = (k_labels, palette)
                jobs.append(pool.submit(
                    _measure, f"PNG-8, k={k} (k-means)", PillowPalettePNG(), k_labels, palette, path=tmp / f"png8-k{k}.png",
                    kind="png8", k=k, colours=len(palette), rgb24_bytes=None, **measure))
        progress.step("writing and measuring the files")
        d["estimates"] = [job.result() for job in jobs]
        warm.join()  # (nothing to quantize: the import is not needed, but the thread must end before we do)
        # the same quantized pixels as truecolour, for the PNG-8 files the text compares with it
        shown = {e["k"] for e in (recommend(d["estimates"], min_psnr), _reference(d["estimates"])) if e and e["k"]}
        sizes = {k: pool.submit(_truecolour_size, *quantized[k], tmp / f"rgb24-k{k}.png") for k in sorted(shown)}
        for e in d["estimates"]:
            if e["k"] in sizes:
                e["rgb24_bytes"] = sizes[e["k"]].result()
        d["recommended"] = recommend(d["estimates"], min_psnr)
        if write is not None and d["recommended"] is not None:
            out = Path(write)
            if out.parent != Path(""):
                out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp / d["recommended"]["file"], out)
            d["written"] = {"path": str(out), "bytes": out.stat().st_size}
    progress.done()
    d["seconds"] = time.perf_counter() - t0
    return d


def _colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The distinct colours of ``(n, 3|4)`` pixels, sorted by their packed value as
    :func:`kqbench.quantizers.unique_colours` sorts them, and each
    pixel's index into them when there are at most 256 (else None: no lossless PNG-8 needs it). RGB is
    counted with one ``bincount`` over the 2**24 colours (no sort: a 24-megapixel photo in well under a
    second); RGBA with one sort."""
    if pixels.shape[1] != 3:
        values, inverse = np.unique(_pack(pixels), return_inverse=True)
        return _unpack(values, 4), inverse.ravel() if len(values) <= 256 else None
    packed = _pack(pixels)
    present = np.flatnonzero(np.bincount(packed, minlength=1 << 24))
    colours = _unpack(present, 3)
    if len(present) > 256:
        return colours, None
    lut = np.zeros(1 << 24, np.uint16)
    lut[present] = np.arange(len(present))
    return colours, lut[packed]


def _pack(pixels: np.ndarray) -> np.ndarray:
    """One uint32 per colour, 0xRRGGBB or 0xRRGGBBAA, as :func:`kqbench.quantizers.unique_colours` packs them
    (here without importing the quantizers, which the thread :class:`_Warm` imports meanwhile)."""
    packed = np.zeros(len(pixels), np.uint32)
    for channel in range(pixels.shape[1]):
        packed <<= 8
        packed |= pixels[:, channel]
    return packed


def _unpack(packed: np.ndarray, channels: int) -> np.ndarray:
    shifts = (16, 8, 0) if channels == 3 else (24, 16, 8, 0)
    return np.stack([(packed >> s) & 255 for s in shifts], axis=1).astype(np.uint8)


class _Truecolour(RGB24PNG):
    """The image's own pixels as a truecolour PNG, as :class:`RGB24PNG` writes them: ``labels`` are the
    (h, w, 3|4) pixels themselves, ``palette`` is unused."""

    def write(self, labels, palette, path):
        Image.fromarray(labels, pillow_mode(labels)).save(path, format="PNG", compress_level=self.compress_level)

    def expected(self, labels, palette):
        return labels


def _truecolour_size(labels, palette, path: Path) -> int:
    """Bytes of ``(labels, palette)`` written as a 24-bit RGB PNG (32-bit RGBA with an alpha column)."""
    RGB24PNG().write(labels, palette, path)
    return path.stat().st_size


def _reference(estimates: list[dict]) -> dict | None:
    """The quantized estimate the explanation works through: k=64, else the middle one."""
    quantized = [e for e in estimates if e["kind"] == "png8"]
    return next((e for e in quantized if e["k"] == 64), quantized[len(quantized) // 2] if quantized else None)


def recommend(estimates: list[dict], min_psnr: float) -> dict | None:
    """The PNG-8 to write: the lossless one when there is one, else the smallest reaching ``min_psnr``,
    else the one with the highest PSNR (ties: the smaller)."""
    png8 = [e for e in estimates if e["kind"] in ("png8", "png8-lossless")]
    if not png8:
        return None
    lossless = [e for e in png8 if e["kind"] == "png8-lossless"]
    if lossless:
        return lossless[0]
    good = [e for e in png8 if e["psnr"] >= min_psnr]
    if good:
        return min(good, key=lambda e: (e["bytes"], e["k"]))
    return max(png8, key=lambda e: (e["psnr"], -e["bytes"]))


def _is_lossy(path: Path, fmt: str) -> bool | None:
    """True for JPEG and lossy WebP, False for lossless formats, None when unknown."""
    if fmt in ("JPEG", "MPO"):
        return True
    if fmt == "WEBP":  # walk the RIFF chunks to the image data: VP8 is lossy, VP8L lossless
        blob, pos = path.read_bytes(), 12
        while pos + 8 <= len(blob):
            tag, size = blob[pos:pos + 4], int.from_bytes(blob[pos + 4:pos + 8], "little")
            if tag in (b"VP8 ", b"VP8L"):
                return tag == b"VP8 "
            pos += 8 + size + (size & 1)
        return None
    return False


# --- reporting ---------------------------------------------------------------------------

def _lossiness(d: dict) -> str:
    if d["lossy"]:
        return " (lossy)"
    return " (lossless)" if d["format"] == "WEBP" and d["lossy"] is False else ""


def _kb(n: float) -> str:
    """A size in bytes, KB (1000 bytes) or MB (1000 KB), as the reports give it."""
    if n < 10_000:
        return f"{n:,} bytes"
    return f"{n / 1000:.1f} KB" if n < 1000 ** 2 else f"{n / 1000 ** 2:.2f} MB"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%"


def _db(value: float) -> str:
    return "inf (exact)" if math.isinf(value) else f"{value:.1f}"


def _quality(e: dict) -> str:
    return "lossless" if math.isinf(e["psnr"]) else f"PSNR {e['psnr']:.1f} dB"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _what(d: dict) -> str:
    """The file in a few words: ``a JPEG (lossy)``, ``a 24-bit RGB PNG``, ``a palette PNG``."""
    if d["png"]:
        kind = {"palette": "a palette PNG (PNG-8)", "RGB": f"a {3 * d['bit_depth']}-bit RGB PNG",
                "RGBA": f"a {4 * d['bit_depth']}-bit RGBA PNG", "grey": f"a {d['bit_depth']}-bit greyscale PNG",
                "grey+alpha": "a greyscale PNG with alpha"}.get(d["colour_type"], "a PNG")
        return kind
    article = "an" if d["format"][:1] in "AEIOU" else "a"
    return f"{article} {d['format']}{_lossiness(d)}"


def verdict(d: dict) -> list[str]:
    """The answer first: what this file is, what to write instead, and the size that gives."""
    size = _kb(d["file_bytes"])
    rec, lm = d["recommended"], d["label_map"]
    by_kind = {e["kind"]: e for e in d["estimates"] if e["kind"] != "png8"}
    rgb24 = by_kind.get("rgb24")
    out = [f"{Path(d['path']).name}: {_what(d)}, {d['width']} x {d['height']}, {size}, "
           f"{_plural(d['unique_colours'], 'colour')}."]
    if lm:
        out.append(
            f"Verdict: this file holds palette indices, not colours: a label map (grey values 0-{lm['max']}, "
            f"{lm['values']} of them used), as saving k-means labels as an image (io.imsave(labels)) writes. "
            "It shows no colours, and a PSNR against it would mean nothing. Save the labels with their palette "
            f"as a PNG-8 (code below): the same indices with the colours, {_kb(rec['bytes'])} here "
            f"({rec['ratio_to_input']:.2f}x this file, with a grey placeholder palette of 3 bytes per entry).")
        return out
    if rec is None:
        out.append("Verdict: no PNG-8 was written (every k asked for was skipped).")
        return out
    saved = d["file_bytes"] - rec["bytes"]
    change = (f"{_kb(saved)} smaller" if saved > 0 else f"{_kb(-saved)} larger") + f" ({rec['ratio_to_input']:.2f}x)"
    if rec["kind"] == "png8-lossless":
        if d["colour_type"] in ("palette", "palette+alpha"):
            out.append(f"Verdict: already a palette PNG with {_plural(d['unique_colours'], 'colour')} used; "
                       f"rewritten as PNG-8 it is {_kb(rec['bytes'])}, {change} than this file, lossless.")
        else:
            out.append(f"Verdict: only {_plural(d['unique_colours'], 'colour')}, so a PNG-8 holds this image "
                       f"exactly (lossless): {_kb(rec['bytes'])}, {change} than this file"
                       + (f"; as {_truecolour(d)} the same pixels weigh {_kb(rgb24['bytes'])}." if rgb24 else "."))
        return out
    reach = (f"the smallest PNG-8 reaching PSNR >= {d['min_psnr']:g} dB" if rec["psnr"] >= d["min_psnr"] else
             f"no k here reaches PSNR {d['min_psnr']:g} dB; the closest PNG-8")
    as_rgb = (f"; the same {rec['colours']}-colour pixels saved as {_truecolour(d)} would weigh "
              f"{_kb(rec['rgb24_bytes'])} ({rec['rgb24_bytes'] / rec['bytes']:.1f}x the PNG-8)")
    if d["lossy"]:
        lossless = (f" As a lossless {_truecolour(d).removesuffix(' PNG')} PNG its decoded pixels weigh "
                    f"{_kb(rgb24['bytes'])} ({rgb24['ratio_to_input']:.1f}x).") if rgb24 else ""
        keep = ("so keep the " + d["format"] + " unless you need a palette image or exact colours"
                if rec["bytes"] >= d["file_bytes"] else "smaller than the " + d["format"] + " itself")
        out.append(f"Verdict: {d['format']} is lossy and already compact ({d['bits_per_pixel']:.2f} bits per pixel)."
                   f"{lossless} As a PNG, {reach} is k={rec['k']}: {_kb(rec['bytes'])} "
                   f"({rec['ratio_to_input']:.2f}x the {d['format']}, {_quality(rec)}), {keep}{as_rgb}.")
        return out
    out.append(f"Verdict: save it as a palette PNG. {reach[0].upper() + reach[1:]} is k={rec['k']}: "
               f"{_kb(rec['bytes'])}, {change} than this file ({_quality(rec)}){as_rgb}.")
    return out


def format_report(d: dict) -> str:
    """The measurements of :func:`explain` as a plain-language report.

    Parameters
    ----------
    d : dict
        What :func:`explain` returned.

    Returns
    -------
    str
        The verdict, the code that writes the PNG-8, the file (and its PNG structure, for PNGs), the
        estimates table, and a paragraph on why the sizes are what they are.
    """
    wrap = dict(width=100, break_on_hyphens=False, break_long_words=False)
    lines = [textwrap.fill(v, subsequent_indent="  ", **wrap) for v in verdict(d)]
    if d["written"]:
        rec = d["recommended"]
        lines.append(f"Wrote {d['written']['path']}: {_kb(d['written']['bytes'])} ({rec['name']}, {_quality(rec)}).")
    elif d["recommended"] is not None:
        lines.append(f"Write it with: kqbench explain {d['path']} --write out.png")
    lines += ["", "The fix in code (labels: the palette index of each pixel; palette: its colours):", "",
              textwrap.indent(snippet.fix(d["has_alpha"] and bool(d["translucent_pixels"])), "    "), ""]
    lines += [
        f"{d['path']}",
        f"  format           {d['format']}{_lossiness(d)}, {d['colour_type']} "
        f"(Pillow mode {d['mode']}), {d['bit_depth']}-bit",
        f"  dimensions       {d['width']} x {d['height']} = {d['pixels']:,} pixels",
        f"  unique colours   {d['unique_colours']:,}",
        f"  file size        {d['file_bytes']:,} bytes ({_kb(d['file_bytes'])}), "
        f"{d['bits_per_pixel']:.2f} bits per pixel",
    ]
    if d["palette_entries"] is not None:
        lines.append(f"  palette          {d['palette_entries']} entries, {d['palette_used']} used by pixels")
    png = d["png"]
    if png:
        total = d["file_bytes"]
        lines += ["", "PNG structure (sizes include each chunk's 12 bytes of length, type and CRC)",
                  f"  colour type      {png['colour_type']}, bit depth {png['bit_depth']}, "
                  f"{'interlaced (Adam7)' if png['interlaced'] else 'not interlaced'}"]
        meta = ", ".join(f"{t} {n:,}" for t, n in sorted(png["metadata_chunks"].items(), key=lambda x: -x[1]))
        labels = {"IDAT": f"IDAT ({png['idat_chunks']} chunk{'s' * (png['idat_chunks'] != 1)})", "PLTE": "PLTE",
                  "tRNS": "tRNS", "metadata": f"metadata{f' ({meta})' if meta else ''}",
                  "overhead": "fixed overhead (signature, IHDR, IEND)", "after IEND": "bytes after IEND"}
        for group, n in png["chunks"].items():
            if n or group in ("IDAT", "metadata", "overhead"):
                lines.append(f"  {labels[group]:<40} {n:>12,} bytes  {_pct(n, total):>6}")
        lines.append(f"  raw pixel data   {png['raw_bytes']:,} bytes ({png['bits_per_pixel_raw']} bits per pixel, "
                     f"before filtering and deflate); deflate ratio {png['deflate_ratio']:.2f}:1 "
                     f"(IDAT data {png['idat_data_bytes']:,} bytes)")
    quality = "PSNR against the input's decoded pixels" if not d["label_map"] else "no PSNR: the values are indices"
    lines += ["", f"The same pixels written as (real files, measured; KB = 1000 bytes; {quality}):",
              f"  {'encoding':<36} {'bytes':>12} {'KB':>9} {'bits/px':>8} {'x input':>8} {'PSNR dB':>12}"]
    for e in d["estimates"]:
        mark = "  <- recommended" if e is d["recommended"] else ""
        shown = "-" if d["label_map"] else _db(e["psnr"])
        lines.append(f"  {e['name']:<36} {e['bytes']:>12,} {e['bytes'] / 1000:>9.1f} {e['bits_per_pixel']:>8.2f} "
                     f"{e['ratio_to_input']:>8.2f} {shown:>12}{mark}")
    for s in d["skipped"]:
        lines.append(f"  PNG-8, k={s['k']}: skipped, {s['reason']}")
    if d["quantizer"]:
        lines.append(f"  (quantized by {d['quantizer']}; written by Pillow, as the code above does)")
    if d["sampled"]:
        lines.append(f"  (k-means fitted on a random sample of {d['sampled']:,} of the {d['pixels']:,} pixels; "
                     "every pixel then mapped to the palette)")
    if d["out_dir"]:
        lines.append(f"  (files kept in {d['out_dir']})")
    lines += ["", "Why:"]
    lines += textwrap.wrap(" ".join(_why(d)), initial_indent="  ", subsequent_indent="  ", **wrap)
    return "\n".join(lines)


def _truecolour(d: dict) -> str:
    """What the truecolour estimate is: 32-bit RGBA for an image with translucent pixels."""
    return "32-bit RGBA PNG" if d["translucent_pixels"] else "24-bit RGB PNG"


def _short(e: dict, d: dict) -> str:
    return {"rgb24": _truecolour(d), "png8-lossless": "lossless PNG-8"}.get(e["kind"], f"PNG-8 at k={e['k']}")


def _why(d: dict) -> list[str]:
    """Sentences explaining the sizes, every number taken from the measurements."""
    by_kind = {e["kind"]: e for e in d["estimates"] if e["kind"] != "png8"}
    rgb24, lossless = by_kind.get("rgb24"), by_kind.get("png8-lossless")
    quantized = [e for e in d["estimates"] if e["kind"] == "png8"]
    png, n, says = d["png"], d["pixels"], []
    if png:
        channels = CHANNELS[png["colour_type"]]
        layout = (f"one {png['bit_depth']}-bit palette index" if png["colour_type"] == "palette" else
                  f"{channels} channel{'s' * (channels > 1)} x {png['bit_depth']} bits")
        says.append(
            f"Before deflate this {png['colour_type']} PNG stores {png['bits_per_pixel_raw']} bits per pixel "
            f"({layout}, {_kb(png['raw_bytes'])} in all); deflate packs that {png['deflate_ratio']:.1f}:1, "
            f"so the file costs {d['bits_per_pixel']:.2f} bits per pixel.")
    elif d["lossy"] and rgb24:
        smaller = [e for e in d["estimates"] if e["bytes"] < d["file_bytes"]]
        says.append(
            f"{d['format']} is lossy: it keeps an approximation of the pixels and spends only "
            f"{d['bits_per_pixel']:.2f} bits per pixel, while every PNG is lossless on the pixels it is given: "
            f"the decoded image as {_truecolour(d)} is {rgb24['ratio_to_input']:.1f}x the {d['format']} file.")
        if smaller:
            says.append(f"Smaller than the {d['format']} here: " + ", ".join(
                f"{_short(e, d)} ({_pct(e['bytes'], d['file_bytes'])} of it, {_quality(e)})" for e in smaller)
                + f"; PSNR is against the decoded {d['format']}, itself already an approximation.")
        else:
            best = min(d["estimates"], key=lambda e: e["bytes"])
            says.append(f"None of the PNGs here is smaller than the {d['format']} (the smallest, {_short(best, d)}, "
                        f"is {best['ratio_to_input']:.2f}x it): keeping the {d['format']} is the lighter choice.")
    else:
        says.append(f"This {d['format']} file costs {d['bits_per_pixel']:.2f} bits per pixel.")
    if d["label_map"]:
        says.append("A label map stores one index per pixel, exactly what a PNG-8 stores; what it lacks is the "
                    "palette (3 bytes per colour in a PLTE chunk) that turns indices into colours. Saved with "
                    "it, the file is the quantized image itself, at the same size within those bytes.")
        return says
    ref = _reference(d["estimates"]) or lossless
    if ref is not None and rgb24 is not None:
        index_raw = d["height"] * math.ceil(d["width"] * ref["bit_depth"] / 8)
        label = f"k={ref['k']}" if ref["k"] else f"its {_plural(ref['colours'], 'colour')}"
        as_rgb = ref["rgb24_bytes"] or rgb24["bytes"]
        per_pixel = 4 if d["translucent_pixels"] else 3
        truecolour = _truecolour(d).removesuffix(" PNG")
        trns = (f" and a tRNS of 1 alpha byte per entry up to the last translucent one ({ref['trns_bytes']:,} bytes)"
                if ref["trns_bytes"] else "")
        says.append(
            f"A PNG-8 stores one palette index of {_plural(ref['bit_depth'], 'bit')} per pixel "
            f"({_kb(index_raw)} before deflate, against {_kb(per_pixel * n)} for {truecolour} at {per_pixel} bytes "
            f"per pixel) plus a PLTE of 3 bytes per colour ({ref['plte_bytes']:,} bytes at {label}){trns}: measured, "
            f"PNG-8 at {label} is {_kb(ref['bytes'])}, while the very same {ref['colours']}-colour pixels "
            f"saved as {truecolour} weigh {_kb(as_rgb)} ({as_rgb / ref['bytes']:.1f}x the PNG-8).")
    if lossless and d["colour_type"] not in ("palette", "palette+alpha"):
        says.append(f"The image has only {_plural(d['unique_colours'], 'colour')}, so PNG-8 holds it exactly: "
                    f"{_kb(lossless['bytes'])}, {lossless['ratio_to_input']:.2f}x the input, at no loss.")
    if d["palette_entries"] is not None:
        unused = d["palette_entries"] - d["palette_used"]
        waste = f"; the {unused} unused PLTE entries waste {3 * unused} bytes" if unused > 0 and png else ""
        says.append(f"The file is already a palette image ({d['palette_entries']} entries, "
                    f"{d['palette_used']} used{waste}): each pixel is already one index, so re-quantizing "
                    "can only shrink the palette and the index bits.")
        if quantized:
            best = min(quantized, key=lambda e: e["bytes"])
            says.append(f"The smallest re-quantized file, at k={best['k']}, is "
                        f"{_pct(best['bytes'], d['file_bytes'])} of the input ({_quality(best)}).")
    if not quantized and d["skipped"]:
        says.append(f"Every k asked for is at least the image's {_plural(d['unique_colours'], 'colour')}, "
                    "so k-means would change nothing.")
    if png and png["chunks"]["metadata"] >= METADATA_NOTE_SHARE * d["file_bytes"]:
        says.append(f"Metadata chunks ({', '.join(png['metadata_chunks'])}) are "
                    f"{_pct(png['chunks']['metadata'], d['file_bytes'])} of the file: they are not pixels, and "
                    f"stripping them saves {png['chunks']['metadata']:,} bytes without changing the image.")
    if d["has_alpha"]:
        t = d["translucent_pixels"]
        if t:
            says.append(f"The image has transparency ({t:,} of {n:,} pixels, {_pct(t, n)}, are not fully opaque), "
                        "and every estimate keeps it: k-means clusters premultiplied RGBA, PNG-8 stores the "
                        "palette's alphas in a tRNS chunk, truecolour is 32-bit RGBA, and PSNR is over "
                        "premultiplied RGBA (colour under full transparency costs nothing).")
        else:
            says.append("The file has an alpha channel but every pixel is opaque: the estimates drop it and "
                        "lose nothing.")
    if png and png["bit_depth"] == 16:
        says.append("The PNG has 16 bits per sample; the comparison works on its 8-bit conversion.")
    if d["frames"] > 1:
        says.append(f"Only the first of its {d['frames']} frames is compared.")
    best = min(d["estimates"], key=lambda e: e["bytes"])
    says.append(f"Smallest written here: {_short(best, d)}, {_kb(best['bytes'])} "
                f"({best['ratio_to_input']:.2f}x the input, {_quality(best)}).")
    return says


# --- command line ------------------------------------------------------------------------

def main(argv=None) -> int:
    """Print the report for one file; 0 on success, 2 (and one line on stderr) when it cannot.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code.
    """
    parser = argparse.ArgumentParser(prog="kqbench explain",
                                     description="Why is this image file this size, and what should it be? "
                                                 "The verdict, the code, and the same pixels measured as PNG-8 "
                                                 "and 24-bit RGB PNG (KB = 1000 bytes).")
    parser.add_argument("file", help="an image file: PNG, JPEG, WebP, GIF, BMP or TIFF")
    parser.add_argument("--k", type=int, nargs="+", default=[16, 64, 256], metavar="K",
                        help="palette sizes to quantize to, 2..256 (default: 16 64 256)")
    parser.add_argument("--min-psnr", type=float, default=MIN_PSNR, metavar="DB",
                        help=f"the recommended PNG-8 is the smallest reaching this PSNR (default: {MIN_PSNR:g} dB)")
    parser.add_argument("--write", metavar="OUT", help="write the recommended PNG-8 to OUT")
    parser.add_argument("--keep", metavar="DIR", help="keep every written file in DIR (default: deleted)")
    args = parser.parse_args(argv)
    progress = Progress(sys.stderr)
    try:
        report = format_report(explain(args.file, ks=args.k, out_dir=args.keep, min_psnr=args.min_psnr,
                                       write=args.write, progress=progress))
    except (ValueError, OSError, MemoryError) as exc:
        progress.done()
        message = " ".join(str(exc).split()) or type(exc).__name__
        if args.file not in message:
            message = f"{args.file}: {message}"
        print(f"kqbench.explain: error: {message}", file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
