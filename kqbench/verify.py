"""``kqbench verify RESULTS_DIR`` (or ``python -m kqbench.verify``): re-check every row of a finished sweep from its kept files.

The check is independent of the code that wrote the files: no kqbench encoder or runner is
imported, and files are decoded by decoders of its own (below). What it checks is read from the
column registry (:mod:`kqbench.columns`): every quality column is recomputed from the decoded file
with the registry's function (MSE with a formula of verify's own), every derived column from the
columns it is derived from. For each row with status ``ok`` and a ``path``:

- the file exists and ``bytes`` is its size on disk (the columns derived from it,
  ``bits_per_pixel`` and ``ratio_to_original``, agree with that size);
- it is a well-formed PNG (signature, chunk CRCs, IHDR, IEND) whose width, height, bit depth
  and colour type are the row's, and it decodes; 8-bit palette files are decoded with pypng,
  other PNGs by the small numpy decoder below (zlib + the five PNG row filters, vectorised
  along anti-diagonals), because pypng's pure-Python unfiltering and bit unpacking take
  ~0.1-0.5 s per photo. Neither is Pillow, which wrote and read the files during the sweep.
  ``--decoder pypng`` decodes every file with pypng instead (slower); the tests check that
  both decoders agree;
- the decoded RGB pixels, against the source image, give the row's ``mse``, ``psnr`` and every
  other quality column (``delta_e2000``, ``max_error``, ...) to a relative 1e-9; the image has
  exactly ``palette_size`` distinct colours. Rows of images with
  transparency (``has_alpha``) are compared as RGBA: a palette's tRNS chunk or an RGBA file's
  alpha channel, against the source's alpha, with the MSE over premultiplied RGBA;
- rows of the same quantization (image, k, quantizer and its parameters, seed, dither) decode
  to the same RGB pixels whatever the encoding.

WebP and JPEG files (``encoding_family`` WebP or JPEG) are decoded with
Pillow, the library that wrote them, and the summary says how many; whether a file is lossy
is read from the file itself (JPEG, or a WebP ``VP8 `` chunk; ``VP8L`` is lossless). Lossless
WebP is checked like a PNG. A lossy file stores the original image, not the quantization: its
``mse``/``psnr`` are recomputed from it against the source, its ``lossy_target_psnr`` must be
the ``psnr`` of the same quantization's lossless rows, and its ``psnr`` must reach that target
unless ``lossy_quality`` is the top quality, 100.

Label images (``encoding_family`` label PNG) hold palette indices, not colours: they must decode to integers below
``palette_size`` (all of them used), equal to the indices of a palette file of the same
quantization when there is one, each label standing for one colour of its RGB rows; their
``mse`` is compared with those rows' (it is not recomputed from the file).

Source pixels are rebuilt from the ``source`` column: the input file, read with
``kqbench.datasets.load_image_file`` (as the sweep read it), or for ``generated:<kind>:<w>x<h>:seed=<n>``
the same generated image from ``kqbench.datasets.SyntheticImages``. That is the data, not the
code under test. Relative source paths are taken from the folder the sweep ran in (Hydra's
``runtime.cwd``).

Prints one line per mismatch and a summary; exit status 0 when every checked row agrees,
1 when something does not, 2 when RESULTS_DIR or its table is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import columns
from .columns import LABEL_PNG

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPE_NAMES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
LEGAL_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
REL_TOL = 1e-9
PILLOW_SUFFIXES = (".webp", ".jpg", ".jpeg")  # not PNG: decoded with Pillow
REQUIRED_COLUMNS = ("image", "k", "quantizer", "encoding", "seed", "status", "path", "bytes", "mse", "psnr",
                    "source", "palette_size", "encoding_family")


class PNGError(ValueError):
    """The file is not a well-formed PNG, or does not decode."""


class UsageError(Exception):
    """No sweep to check: the folder or its table is missing or unreadable (exit status 2)."""


# --------------------------------------------------------------------------- PNG decoding


@dataclass
class DecodedPNG:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    samples: np.ndarray  # (h, w, channels): uint8, or uint16 at bit depth 16; palette: indices
    palette: np.ndarray | None = None  # (m, 3) uint8 from PLTE, or (m, 4) with the tRNS alphas
    has_alpha: bool = False  # an alpha channel, or a palette's tRNS chunk

    def rgb(self) -> np.ndarray:
        """The pixels as (h, w, 3) uint8 RGB, or (h, w, 4) straight RGBA when the file has alpha
        (16-bit keeps the high byte)."""
        s = self.samples
        if self.colour_type == 3:
            idx = s[..., 0].astype(np.intp)
            if idx.size and idx.max() >= len(self.palette):
                raise PNGError(f"palette index {int(idx.max())} but PLTE has {len(self.palette)} entries")
            return self.palette[idx]
        if self.bit_depth == 16:
            s = (s >> 8).astype(np.uint8)
        elif self.bit_depth < 8:  # greyscale below 8 bits: scale to 0..255
            s = (s.astype(np.uint16) * (255 // ((1 << self.bit_depth) - 1))).astype(np.uint8)
        if self.colour_type == 0:
            return np.repeat(s[..., :1], 3, axis=-1)
        if self.colour_type == 4:
            return np.ascontiguousarray(np.concatenate([np.repeat(s[..., :1], 3, axis=-1), s[..., 1:]], axis=-1))
        return np.ascontiguousarray(s)


def read_chunks(blob: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk up to IEND, checking lengths and CRCs."""
    if not blob.startswith(PNG_SIGNATURE):
        raise PNGError("not a PNG (bad signature)" if blob else "empty file")
    chunks, pos = [], len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(blob):
            raise PNGError(f"truncated at byte {pos} of {len(blob)} (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", blob[pos:pos + 8])
        end = pos + 12 + length
        if end > len(blob):
            raise PNGError(f"truncated: the {ctype.decode('latin-1')} chunk at byte {pos} needs {end} bytes, the file has {len(blob)}")
        data = blob[pos + 8:end - 4]
        if zlib.crc32(ctype + data) != struct.unpack(">I", blob[end - 4:end])[0]:
            raise PNGError(f"CRC mismatch in the {ctype.decode('latin-1')} chunk at byte {pos}")
        chunks.append((ctype, data))
        pos = end
        if ctype == b"IEND":
            return chunks


def _unfilter(raw: np.ndarray, height: int, row_bytes: int, bpp: int) -> np.ndarray:
    """Undo the PNG row filters of ``raw`` ((height, 1 + row_bytes) uint8); (height, row_bytes) uint8.

    Byte (y, x) depends on (y, x-bpp), (y-1, x) and (y-1, x-bpp) only, so all the bytes of one
    anti-diagonal (in units of bpp bytes) can be reconstructed at once: height + width steps of
    a few numpy operations instead of one Python step per byte. The image is stored skewed,
    ``S[x + y + 2, y + 1]`` for unit x, so that each diagonal is one contiguous slice; row 0 and
    the cells left of each row stay zero: the "outside the image" bytes of the standard.
    """
    ftype = raw[:, 0]
    if ftype.size and ftype.max() > 4:
        bad = int(np.argmax(ftype > 4))
        raise PNGError(f"unknown filter type {int(ftype[bad])} on row {bad}")
    if not ftype.any():
        return raw[:, 1:].copy()
    units = row_bytes // bpp
    yy, xx = np.indices((height, units))
    qq, rr = xx + yy + 2, yy + 1
    F = np.zeros((height + units + 2, height + 1, bpp), np.int16)
    F[qq, rr] = raw[:, 1:].reshape(height, units, bpp)
    S = np.zeros_like(F)
    masks = {t: np.concatenate([[0], ftype == t]).astype(np.int16)[:, None] for t in range(1, 5)
             if (ftype == t).any()}  # indexed by y + 1
    m1, m2, m3, m4 = (masks.get(t) for t in range(1, 5))
    for d in range(height + units - 1):  # d = x + y
        r0, r1 = max(1, d - units + 2), min(height, d + 1) + 1  # y + 1 of the diagonal's bytes
        q = d + 2
        a = S[q - 1, r0:r1]  # left
        b = S[q - 1, r0 - 1:r1 - 1]  # up
        c = S[q - 2, r0 - 1:r1 - 1]  # up-left
        acc = F[q, r0:r1].copy()
        if m1 is not None:
            acc += a * m1[r0:r1]
        if m2 is not None:
            acc += b * m2[r0:r1]
        if m3 is not None:
            acc += ((a + b) >> 1) * m3[r0:r1]
        if m4 is not None:
            ac, bc = a - c, b - c
            pa, pb, pc = np.abs(bc), np.abs(ac), np.abs(ac + bc)
            acc += np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)) * m4[r0:r1]
        np.bitwise_and(acc, 255, out=S[q, r0:r1])
    return S[qq, rr].reshape(height, row_bytes).astype(np.uint8)


def _unpack(rows: np.ndarray, width: int, channels: int, bit_depth: int) -> np.ndarray:
    """Scanline bytes (h, row_bytes) → samples (h, w, channels)."""
    h = rows.shape[0]
    if bit_depth == 8:
        return rows.reshape(h, width, channels)
    if bit_depth == 16:
        return rows.view(">u2").astype(np.uint16).reshape(h, width, channels)
    per_byte = 8 // bit_depth
    shifts = np.arange(8 - bit_depth, -1, -bit_depth, dtype=np.uint8)  # leftmost pixel in the high bits
    vals = (rows[:, :, None] >> shifts) & ((1 << bit_depth) - 1)
    return vals.reshape(h, rows.shape[1] * per_byte)[:, :width, None].astype(np.uint8)


def _decode_numpy(idat: bytes, width: int, height: int, bit_depth: int, colour_type: int) -> np.ndarray:
    channels = CHANNELS[colour_type]
    bits = bit_depth * channels
    row_bytes = (width * bits + 7) // 8
    bpp = max(1, bits // 8)
    d = zlib.decompressobj()
    try:
        data = d.decompress(idat, height * (1 + row_bytes) + 1)
    except zlib.error as exc:
        raise PNGError(f"corrupt image data (zlib: {exc})") from None
    if not d.eof:
        raise PNGError("image data cut short (the zlib stream does not end)")
    if len(data) != height * (1 + row_bytes):
        raise PNGError(f"image data holds {len(data)} bytes, {height}x{width} at {bits} bits/pixel needs "
                       f"{height * (1 + row_bytes)}")
    raw = np.frombuffer(data, np.uint8).reshape(height, 1 + row_bytes)
    return _unpack(_unfilter(raw, height, row_bytes, bpp), width, channels, bit_depth)


def _decode_pypng(blob: bytes, channels: int, bit_depth: int) -> np.ndarray:
    import png  # pypng

    try:
        width, height, rows, info = png.Reader(bytes=blob).read()
        arr = np.array([np.asarray(r) for r in rows])
    except png.Error as exc:
        raise PNGError(f"pypng: {exc}") from None
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    return arr.astype(dtype).reshape(height, width, channels)


def read_png(path, decoder: str = "auto") -> DecodedPNG:
    """Decode the PNG at ``path``. ``decoder``: "auto" (pypng for 8-bit palette files, numpy
    otherwise), "pypng" or "numpy". Interlaced files always go to pypng."""
    blob = Path(path).read_bytes()
    chunks = read_chunks(blob)
    if chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise PNGError("the first chunk is not a 13-byte IHDR")
    width, height, bit_depth, colour_type, compression, filter_method, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1])
    if colour_type not in LEGAL_DEPTHS or bit_depth not in LEGAL_DEPTHS[colour_type]:
        raise PNGError(f"illegal colour type {colour_type} / bit depth {bit_depth}")
    if compression or filter_method or interlace not in (0, 1) or not width or not height:
        raise PNGError("unsupported or invalid IHDR fields")
    palette, trns = None, None
    for ctype, data in chunks:
        if ctype == b"PLTE":
            if len(data) % 3 or not 0 < len(data) <= 768:
                raise PNGError(f"PLTE chunk of {len(data)} bytes")
            palette = np.frombuffer(data, np.uint8).reshape(-1, 3)
        elif ctype == b"tRNS":
            trns = data
    if colour_type == 3 and palette is None:
        raise PNGError("palette image without a PLTE chunk")
    if trns is not None and colour_type != 3:
        raise PNGError("a tRNS chunk outside a palette image (kqbench writes colour keys nowhere)")
    if trns is not None:
        if len(trns) > len(palette):
            raise PNGError(f"tRNS holds {len(trns)} alphas, PLTE {len(palette)} entries")
        alpha = np.full((len(palette), 1), 255, np.uint8)  # entries past tRNS are opaque
        alpha[:len(trns), 0] = np.frombuffer(trns, np.uint8)
        palette = np.concatenate([palette, alpha], axis=1)
    idat = b"".join(data for ctype, data in chunks if ctype == b"IDAT")
    if not idat:
        raise PNGError("no IDAT chunk")
    # pypng unpacks 1/2/4-bit samples one by one in Python (~0.1 s per photo): numpy does those.
    use_pypng = decoder == "pypng" or interlace == 1 or (decoder == "auto" and colour_type == 3 and bit_depth == 8)
    if use_pypng:
        samples = _decode_pypng(blob, CHANNELS[colour_type], bit_depth)
    else:
        samples = _decode_numpy(idat, width, height, bit_depth, colour_type)
    return DecodedPNG(width, height, bit_depth, colour_type, samples, palette,
                      has_alpha=colour_type in (4, 6) or trns is not None)


# --------------------------------------------------------------------------- source images


_GENERATED = re.compile(r"^generated:(?P<kind>[^:]+):(?P<w>\d+)x(?P<h>\d+):seed=(?P<seed>-?\d+)$")


def sweep_cwd(results_dir: Path) -> Path | None:
    """The folder the sweep ran in (relative source paths are relative to it), from Hydra's record."""
    import yaml

    candidates = [results_dir / "multirun.yaml", *sorted(results_dir.glob("*/.hydra/hydra.yaml"))[:1]]
    for f in candidates:
        try:
            cfg = yaml.safe_load(f.read_text())
            cwd = cfg["hydra"]["runtime"]["cwd"]
            if cwd:
                return Path(cwd)
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            continue
    return None


def load_source(source: str, cwd: Path | None, alpha: bool = False) -> tuple[np.ndarray, int | None]:
    """The source's pixels, RGB, or RGBA when ``alpha`` and it has transparency; and its file size
    (None for generated images)."""
    from .datasets import generated_image, load_image_file

    def pixels(image):
        return image.pixels if alpha else image.rgb

    m = _GENERATED.match(source)
    if m:
        return pixels(generated_image(m["kind"], int(m["w"]), int(m["h"]), int(m["seed"]))), None
    path = Path(source).expanduser()
    if not path.is_absolute() and not path.exists() and cwd is not None and (cwd / path).exists():
        path = cwd / path
    if not path.exists():
        raise FileNotFoundError(f"source image {source} not found (run from the folder the sweep ran in, "
                                f"or restore the file)")
    return pixels(load_image_file(path)), path.stat().st_size


# --------------------------------------------------------------------------- the check


def _isclose(a, b) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return False
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    """Over the RGB channels; RGBA: over the four channels of premultiplied RGBA (0-255 scale)."""
    if a.shape[-1] == 4:
        a, b = (np.concatenate([x[..., :3] * (x[..., 3:] / 255.0), x[..., 3:]], axis=-1)
                for x in (a.astype(np.float64), b.astype(np.float64)))
        diff = a - b
    else:
        diff = a.astype(np.int64) - b.astype(np.int64)
    return float(np.vdot(diff, diff)) / diff.size


def _as_rgba(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels with alpha 255 (an opaque file of an image that has transparency elsewhere)."""
    if pixels.shape[-1] == 4:
        return pixels
    return np.concatenate([pixels, np.full(pixels.shape[:-1] + (1,), 255, np.uint8)], axis=-1)


def _packed(rgb: np.ndarray) -> np.ndarray:
    p = rgb.reshape(-1, rgb.shape[-1]).astype(np.int64)
    packed = np.zeros(len(p), np.int64)
    for channel in range(p.shape[1]):
        packed = (packed << 8) | p[:, channel]
    return packed


def _n_distinct(values: np.ndarray) -> int:
    """Distinct values of a small non-negative integer array (labels, palette indices)."""
    return int(np.count_nonzero(np.bincount(values.ravel()))) if values.size else 0


def _maps(a: np.ndarray, b: np.ndarray) -> bool:
    """Each value of ``a`` (small non-negative integers) goes with a single value of ``b``."""
    a, b = a.ravel(), b.ravel()
    if not a.size:
        return True
    table = np.zeros(int(a.max()) + 1, b.dtype)
    table[a] = b
    return bool(np.array_equal(table[a], b))


def _distinct_colours(png: "DecodedPNG | None", rgb: np.ndarray) -> int:
    if png is not None and png.colour_type == 3:  # a palette file: the distinct colours of the indices it uses
        used = np.flatnonzero(np.bincount(png.samples.ravel().astype(np.intp)))
        return len(np.unique(_packed(png.palette[used])))
    return len(np.unique(_packed(rgb)))


def _count(v):
    """An integer-valued table cell (stored as float next to NaN) without its ".0"."""
    return int(v) if not _missing(v) and float(v).is_integer() else v


def _num(v) -> str:
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return repr(v)


def _lossy_format(blob: bytes) -> bool:
    """True for JPEG and lossy (VP8) WebP, False for lossless (VP8L) WebP, from the file's own bytes."""
    if blob.startswith(b"\xff\xd8\xff"):
        return True
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WEBP":
        raise ValueError("neither a JPEG nor a WebP file")
    pos = 12
    while pos + 8 <= len(blob):  # RIFF chunks: VP8X, ICCP, ALPH... then the image: VP8L or "VP8 "
        fourcc, size = blob[pos:pos + 4], struct.unpack("<I", blob[pos + 4:pos + 8])[0]
        if fourcc in (b"VP8L", b"VP8 "):
            return fourcc == b"VP8 "
        pos += 8 + size + (size & 1)
    raise ValueError("a WebP file without a VP8 or VP8L chunk")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _truthy(v) -> bool:
    """A boolean table cell (``has_alpha``); missing (tables from before the column) is False."""
    return not _missing(v) and bool(v)


@dataclass
class Report:
    checked: int = 0
    skipped: int = 0
    mismatches: list[str] = field(default_factory=list)
    rows_with_mismatch: set = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


class _Verifier:
    def __init__(self, results_dir: Path, df: pd.DataFrame, decoder: str, emit):
        self.dir = results_dir
        self.df = df
        self.decoder = decoder
        self.emit = emit
        self.report = Report()
        self.cwd = sweep_cwd(results_dir)
        self._source_key = None
        self._source = None
        self._mse_ok: set = set()
        self._quality: dict = {}
        self._pillow_decoded = 0

    def mismatch(self, idx, row, message: str) -> None:
        desc = (f"{row['image']} k={row['k']} {row['quantizer']} {row['encoding']} seed={row['seed']}"
                f" ({row['path']})")
        line = f"MISMATCH row {idx}: {desc}: {message}"
        self.report.mismatches.append(line)
        self.report.rows_with_mismatch.add(idx)
        self.emit(line)

    def source(self, source: str, alpha: bool = False):
        if (source, alpha) != self._source_key:  # rows are visited grouped by source: keep one in memory
            self._source_key = (source, alpha)
            try:
                self._source = load_source(source, self.cwd, alpha)
            except Exception as exc:  # noqa: BLE001 - reported on each of its rows
                self._source = exc
        return self._source

    def run(self) -> Report:
        df = self.df
        ok = (df["status"] == "ok") & df["path"].map(lambda p: not _missing(p))
        self.report.skipped = int((~ok).sum())
        todo = df[ok]
        qcols = sorted(c for c in df.columns if c.startswith("quantizer."))
        keys = ["source", "image", "k", "quantizer", *qcols, "seed",
                *(c for c in ("dither", "alpha") if c in df.columns)]
        groups: dict[tuple, list[int]] = {}
        for idx, row in todo.iterrows():
            key = tuple(None if _missing(row[c]) else str(row[c]) for c in keys)
            groups.setdefault(key, []).append(idx)
        labels_unmatched = 0
        for key in sorted(groups, key=lambda k: tuple("" if v is None else v for v in k)):
            labels_unmatched += self.check_group(groups[key])
        self.report.checked = len(todo)
        n_labels = int((todo["encoding_family"] == LABEL_PNG).sum())
        if n_labels:
            self.report.notes.append(
                f"{n_labels} label-image rows: the file holds palette indices, not colours, so their mse is not "
                f"recomputed from it; it is compared with a colour file of the same quantization"
                + (f" ({labels_unmatched} had no such row)" if labels_unmatched else ""))
        if self._pillow_decoded:
            self.report.notes.append(
                f"{self._pillow_decoded} WebP/JPEG files decoded with Pillow (the library that wrote them; these "
                f"decoders are not independent): lossless WebP must give the quantization's pixels, lossy files "
                f"are checked by mse/psnr against the source and their target psnr")
        return self.report

    def check_group(self, indices: list[int]) -> int:
        """Check the rows of one quantization; returns how many labels rows had no RGB sibling."""
        decoded = {}  # idx -> ("rgb" | "indices" | "lossy", array, png or None)
        for idx in indices:
            row = self.df.loc[idx]
            result = self.check_file(idx, row)
            if result is not None:
                decoded[idx] = result
        # Every RGB decoding of one quantization must be the same pixels.
        rgb_rows = [i for i, (kind, _, _) in decoded.items() if kind == "rgb"]
        if rgb_rows:
            # The reference is a row whose file gave its mse back, so a tampered file is the one blamed.
            rgb_rows.sort(key=lambda i: i not in self._mse_ok)
            ref = rgb_rows[0]
            ref_rgb = decoded[ref][1]
            # Every palette colour is used: the pixels hold palette_size colours (one count per
            # quantization; the other rows must decode to the same pixels).
            n_colours = _distinct_colours(decoded[ref][2], ref_rgb)
            for i in rgb_rows:
                size = self.df.loc[i, "palette_size"]
                if _missing(size) or int(size) != n_colours:
                    self.mismatch(i, self.df.loc[i], f"palette_size={_count(size)}, the "
                                  f"{'file has' if i == ref else self.df.loc[ref, 'encoding'] + ' file has'} "
                                  f"{n_colours} distinct colours")
            for i in rgb_rows[1:]:
                other = decoded[i][1]
                if other.shape != ref_rgb.shape:
                    self.mismatch(i, self.df.loc[i], f"decodes to shape {other.shape}, the "
                                  f"{self.df.loc[ref, 'encoding']} row to {ref_rgb.shape}")
                elif not np.array_equal(other, ref_rgb):
                    n = int(np.any(other != ref_rgb, axis=-1).sum())
                    self.mismatch(i, self.df.loc[i], f"decodes to other pixels than the "
                                  f"{self.df.loc[ref, 'encoding']} row of the same quantization ({n} pixels differ)")
        # Lossy rows store the original at the quality matching the quantization's PSNR (their mse/psnr
        # were recomputed from the file): the target is that PSNR, and it is reached unless at quality 100.
        for i, (kind, _, _) in decoded.items():
            if kind != "lossy":
                continue
            row = self.df.loc[i]
            target, quality = row.get("lossy_target_psnr"), row.get("lossy_quality")
            if _missing(target):
                self.mismatch(i, row, "a lossy file, but no lossy_target_psnr in the table")
                continue
            if rgb_rows and not _isclose(target, self.df.loc[rgb_rows[0], "psnr"]):
                self.mismatch(i, row, f"lossy_target_psnr={_num(target)}, the {self.df.loc[rgb_rows[0], 'encoding']} "
                              f"row of the same quantization has psnr {_num(self.df.loc[rgb_rows[0], 'psnr'])}")
            if not float(row["psnr"]) >= float(target) and (_missing(quality) or float(quality) != 100):
                self.mismatch(i, row, f"psnr={_num(row['psnr'])} below lossy_target_psnr={_num(target)} at "
                              f"lossy_quality={_count(quality)} (only the top quality, 100, may miss it)")
        # labels rows: indices, checked against the RGB and palette rows of the same quantization.
        unmatched = 0
        for i, (kind, labels, _) in decoded.items():
            if kind != "indices":
                continue
            row = self.df.loc[i]
            siblings = rgb_rows
            if not siblings:
                unmatched += 1
                continue
            j = siblings[0]
            if not _isclose(row["mse"], self.df.loc[j, "mse"]):
                self.mismatch(i, row, f"mse={_num(row['mse'])}, the {self.df.loc[j, 'encoding']} row of the same "
                              f"quantization has {_num(self.df.loc[j, 'mse'])}")
            # A palette file of the same quantization holds the same indices, up to a renumbering
            # (an optimiser may reorder the palette): label <-> index must be one-to-one.
            bad_palette_row = None
            for p in siblings:
                png = decoded[p][2]
                if png is None or png.colour_type != 3:
                    continue
                indices = png.samples[..., 0].astype(np.int64)
                if indices.shape != labels.shape or not (_maps(labels, indices) and _maps(indices, labels)):
                    bad_palette_row = p
                    break
            if bad_palette_row is not None:
                self.mismatch(i, row, f"labels do not match the palette indices of the "
                              f"{self.df.loc[bad_palette_row, 'encoding']} row of the same quantization")
                continue
            rgb = decoded[j][1]
            if rgb.shape[:2] != labels.shape:
                self.mismatch(i, row, f"labels are {labels.shape}, the RGB pixels {rgb.shape[:2]}")
                continue
            if not _maps(labels, _packed(rgb)):
                self.mismatch(i, row, f"a label stands for more than one colour in the "
                              f"{self.df.loc[j, 'encoding']} row of the same quantization")
        return unmatched

    def check_file(self, idx, row):
        path = self.dir / str(row["path"])
        if not path.is_file():
            self.mismatch(idx, row, "file missing")
            return None
        size = path.stat().st_size
        if _missing(row["bytes"]) or float(row["bytes"]) != size:
            self.mismatch(idx, row, f"bytes={_count(row['bytes'])} in the table, {size} on disk")
        self.check_derived(idx, row, "bytes", size)
        orig = row.get("original_bytes")
        if path.suffix.lower() in PILLOW_SUFFIXES:
            return self.check_pillow_file(idx, row, path, orig)
        if path.suffix.lower() != ".png":
            self.mismatch(idx, row, f"not a PNG, WebP or JPEG ({path.suffix}): kqbench.verify checks those only")
            return None
        try:
            png = read_png(path, self.decoder)
        except (PNGError, OSError) as exc:
            self.mismatch(idx, row, f"does not decode: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - whatever a damaged file provokes, it is this row's mismatch
            self.mismatch(idx, row, f"does not decode: {type(exc).__name__}: {exc}")
            return None
        # The header, as the table reports it.
        for col, value in (("width", png.width), ("height", png.height), ("bit_depth", png.bit_depth),
                           ("colour_type", COLOUR_TYPE_NAMES[png.colour_type])):
            if col in row.index and not _missing(row[col]) and str(row[col]) != str(value) \
                    and not (isinstance(value, int) and _isclose(row[col], value)):
                self.mismatch(idx, row, f"{col}={_count(row[col]) if isinstance(value, int) else row[col]} in the table, "
                                        f"{value} in the file")
        palette_size = None if _missing(row["palette_size"]) else int(row["palette_size"])
        if row["encoding_family"] == LABEL_PNG:
            if png.colour_type != 0:
                self.mismatch(idx, row, f"a labels file should be greyscale, this one is "
                              f"{COLOUR_TYPE_NAMES[png.colour_type]}")
                return None
            labels = png.samples[..., 0].astype(np.int64)
            top = int(labels.max(initial=0))
            if palette_size is not None and labels.size and top >= palette_size:
                self.mismatch(idx, row, f"label {top} in the file, palette_size={palette_size}")
            elif palette_size is not None and _n_distinct(labels) != palette_size:
                self.mismatch(idx, row, f"{_n_distinct(labels)} distinct labels in the file, "
                              f"palette_size={palette_size}")
            return ("indices", labels, png)
        try:
            rgb = png.rgb()
        except PNGError as exc:
            self.mismatch(idx, row, f"does not decode: {exc}")
            return None
        if _truthy(row.get("has_alpha")):
            rgb = _as_rgba(rgb)
        elif png.has_alpha:
            self.mismatch(idx, row, "the file has transparency, the table says the image has none (has_alpha)")
            return None
        self.check_against_source(idx, row, rgb, orig)
        return ("rgb", rgb, png)

    def check_pillow_file(self, idx, row, path: Path, orig):
        """A WebP or JPEG file, decoded with Pillow; lossy or lossless is read from the file itself."""
        from PIL import Image

        try:
            kind = "lossy" if _lossy_format(path.read_bytes()) else "rgb"
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGBA" if _truthy(row.get("has_alpha")) else "RGB"))
        except Exception as exc:  # noqa: BLE001 - whatever a damaged file provokes, it is this row's mismatch
            self.mismatch(idx, row, f"does not decode: {type(exc).__name__}: {exc}")
            return None
        self._pillow_decoded += 1
        for col, value in (("width", rgb.shape[1]), ("height", rgb.shape[0])):
            if col in row.index and not _missing(row[col]) and not _isclose(row[col], value):
                self.mismatch(idx, row, f"{col}={_count(row[col])} in the table, {value} in the file")
        self.check_against_source(idx, row, rgb, orig)
        return (kind, rgb, None)

    def check_against_source(self, idx, row, rgb: np.ndarray, orig) -> None:
        """The decoded pixels, against the source image, give the row's mse and psnr."""
        source = self.source(str(row["source"]), _truthy(row.get("has_alpha")))
        if isinstance(source, Exception):
            self.mismatch(idx, row, f"cannot recheck mse/psnr: {str(source).splitlines()[0]}")
            return
        src, src_bytes = source
        if src.shape != rgb.shape:
            self.mismatch(idx, row, f"decodes to {rgb.shape[1]}x{rgb.shape[0]}, the source {row['source']} is "
                          f"{src.shape[1]}x{src.shape[0]}")
            return
        if src_bytes is not None and not _missing(orig) and int(orig) != src_bytes:
            self.mismatch(idx, row, f"original_bytes={_count(orig)}, the source file now has {src_bytes} bytes "
                          f"(changed since the sweep?)")
        mse = _mse(src, rgb)
        if _missing(row["mse"]) or not _isclose(row["mse"], mse):
            self.mismatch(idx, row, f"mse={_num(row['mse'])} in the table, {mse!r} recomputed from the file")
        else:
            self._mse_ok.add(idx)
        for name, value in self.quality(row, src, rgb).items():
            if name == "mse":  # checked above, by a formula of verify's own
                continue
            if name in row.index and (_missing(row[name]) or not _isclose(row[name], value)):
                self.mismatch(idx, row, f"{name}={_num(row[name])} in the table, {value!r} recomputed from the file")
        self.check_derived(idx, row, "mse", mse)

    def quality(self, row, src: np.ndarray, pixels: np.ndarray) -> dict:
        """Every quality column of the registry, recomputed from decoded ``pixels`` against ``src``: once
        per distinct decoded image of a source (the files of one quantization decode alike)."""
        key = (str(row["source"]), src.shape, hashlib.blake2b(np.ascontiguousarray(pixels).data).hexdigest())
        measured = [c for c in columns.quality_columns([c.name for c in columns.COLUMNS])
                    if c.name in row.index and not _missing(row[c.name])]  # optional ones where the sweep asked
        done = self._quality.setdefault(key, {})
        for c in measured:
            if c.name not in done:
                done[c.name] = c.quality(src, pixels)
        return {c.name: done[c.name] for c in measured}

    def check_derived(self, idx, row, name: str, value) -> None:
        """The columns derived from ``name`` (registry ``derive``), recomputed from its verified ``value``."""
        given = {**row.to_dict(), name: value}
        for c in columns.derived(reading=name):
            if c.name not in row.index or any(_missing(given.get(i)) for i in c.inputs):
                continue
            expected = c.derive(given)
            if _missing(row[c.name]) or not _isclose(row[c.name], expected):
                self.mismatch(idx, row, f"{c.name}={_num(row[c.name])} in the table, {expected!r} recomputed from "
                                        f"the file")


def verify(results_dir, decoder: str = "auto", emit=print) -> Report:
    """Check every row of the sweep table in ``results_dir``; ``emit`` gets each mismatch line.

    Raises :class:`UsageError` (one line) when the folder or its ``results.parquet`` is missing
    or unreadable, or the table lacks the columns needed.
    """
    results_dir = Path(results_dir).expanduser()
    if not results_dir.is_dir():
        raise UsageError(f"{results_dir} is not a folder: give a sweep folder (e.g. results/latest)")
    table = results_dir / "results.parquet"
    if not table.is_file():
        raise UsageError(f"no results.parquet in {results_dir}: not a finished sweep? "
                         f"(kqbench table {results_dir} rebuilds it from the jobs' rows)")
    try:
        df = pd.read_parquet(table)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise UsageError(f"cannot read {table} ({type(exc).__name__}: {str(exc).strip().splitlines()[0]}); "
                         f"kqbench table {results_dir} rebuilds it") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UsageError(f"{table} lacks the columns {', '.join(missing)}: not a kqbench results table")
    return _Verifier(results_dir, df.reset_index(drop=True), decoder, emit).run()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="kqbench verify",
        description="Re-check every row of a finished kqbench sweep from its kept files.")
    parser.add_argument("results_dir", help="a sweep folder (results/<date>/<time>, or results/latest)")
    parser.add_argument("--decoder", choices=("auto", "pypng", "numpy"), default="auto",
                        help="PNG decoder: auto (pypng for 8-bit palette files, numpy otherwise; default), "
                             "pypng for every file (slow), or numpy for every file")
    args = parser.parse_args(argv)
    try:
        report = verify(args.results_dir, args.decoder)
    except UsageError as exc:
        print(f"kqbench.verify: error: {exc}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}")
    summary = f"{report.checked} rows checked, {len(report.mismatches)} mismatches"
    if report.mismatches:
        summary += f" (in {len(report.rows_with_mismatch)} rows)"
    if report.skipped:
        summary += f"; {report.skipped} rows skipped (status not ok, or no kept file)"
    print(summary)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
