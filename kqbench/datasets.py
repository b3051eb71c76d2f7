"""Image sets: photos that ship inside installed packages, generated images, or a folder.

A dataset is an iterable of :class:`ImageSource`; loading happens in ``ImageSource.load`` so
that one unreadable image becomes one failed row instead of stopping the sweep.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
import importlib.util
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ConfigurationError
from .pixels import BAND_PIXELS, as_array, has_transparency, pack_rgb

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@dataclass
class SourceImage:
    """An image ready to quantize: RGB pixels, alpha when it has transparency, and what is known
    of its original file."""

    name: str
    rgb: np.ndarray  # (h, w, 3) uint8
    original_mode: str
    original_bytes: int
    source: str
    alpha: np.ndarray | None = None  # (h, w) uint8, straight; None: opaque (no pixel below 255)

    @cached_property
    def pixels(self) -> np.ndarray:
        """What is quantized: (h, w, 3) RGB, or (h, w, 4) RGBA when the image has transparency."""
        if self.alpha is None:
            return self.rgb
        return np.ascontiguousarray(np.dstack([self.rgb, self.alpha]))

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None

    def without_alpha(self) -> "SourceImage":
        """The same image with its alpha dropped (the RGB under it kept, as Pillow's convert("RGB"))."""
        return replace(self, alpha=None) if self.alpha is not None else self

    @cached_property
    def unique_colours(self) -> int:
        """Distinct colours of :attr:`pixels` (RGB, or RGBA with transparency).

        Counted a band of pixels at a time, so the temporaries stay a few MB: RGB colours mark a table
        of every 24-bit colour (16 MB); RGBA ones, 32 bits, are merged band by band as sorted arrays
        (about 8 bytes per distinct colour).
        """
        pixels = self.pixels.reshape(-1, self.pixels.shape[-1])
        seen = np.zeros(1 << 24, bool) if self.alpha is None else np.empty(0, np.uint32)
        for start in range(0, len(pixels), BAND_PIXELS):
            packed = pack_rgb(pixels[start:start + BAND_PIXELS])
            if self.alpha is None:
                seen[packed] = True
            else:
                seen = np.union1d(seen, packed)
        return int(np.count_nonzero(seen)) if self.alpha is None else len(seen)

    @cached_property
    def digest(self) -> str:
        """Content hash of the pixels: the cache key, whatever the file was called."""
        h = hashlib.sha256(str(self.pixels.shape).encode())
        h.update(np.ascontiguousarray(self.pixels).data)
        return h.hexdigest()


@dataclass
class ImageSource:
    """An image not loaded yet: its row name, where it comes from, and how to load it."""

    name: str
    source: str
    loader: Callable[[], SourceImage] = field(repr=False)

    def load(self) -> SourceImage:
        """The image, read once per process while it fits in :data:`LOADED_BUDGET` bytes (every job
        of a sweep run in one process reads the same images: decode each once). A file that has
        changed since (size or time) is read again."""
        try:
            stat = os.stat(self.source)
            key = (self.name, self.source, stat.st_mtime_ns, stat.st_size)
        except (OSError, ValueError):
            key = (self.name, self.source)
        image = _LOADED.pop(key, None)
        if image is None:
            image = self.loader()
        _LOADED[key] = image  # most recently used last
        used = sum(i.rgb.nbytes + (0 if i.alpha is None else i.alpha.nbytes) for i in _LOADED.values())
        while used > LOADED_BUDGET and len(_LOADED) > 1:
            _, old = _LOADED.popitem(last=False)
            used -= old.rgb.nbytes + (0 if old.alpha is None else old.alpha.nbytes)
        return image


# Images kept in memory between jobs of one process, least recently used dropped first.
LOADED_BUDGET = 256 * 2**20
_LOADED: "OrderedDict[tuple, SourceImage]" = OrderedDict()


class ImageReadError(ConfigurationError):
    """An input image that cannot be used; the message names the file and what to do.

    A ConfigurationError, so the sweep's row shows the message as is (one line) and every
    other image and configuration keeps its rows.
    """


_FIX = "replace the file with a valid image, or remove it from the folder"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unreadable_message(path: Path, exc: BaseException) -> str:
    """One line: which file, what is wrong with it, what to do."""
    if isinstance(exc, FileNotFoundError):
        return f"cannot read image {path}: the file does not exist (moved or deleted during the sweep?)"
    if isinstance(exc, PermissionError):
        return f"cannot read image {path}: permission denied; make it readable (chmod a+r) or remove it from the folder"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        import re

        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found[1]):,}" if found else "more"
        return (f"image {path} has {pixels} pixels, above Pillow's safety limit {Image.MAX_IMAGE_PIXELS:,} "
                f"(decompression bomb guard); downscale it, or if you trust the file raise "
                f"PIL.Image.MAX_IMAGE_PIXELS")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError:
        head, size = b"", None
    kind = "PNG" if head.startswith(b"\x89PNG") else "JPEG" if head.startswith(b"\xff\xd8") else None
    if isinstance(exc, UnidentifiedImageError):
        if size == 0:
            return f"cannot read image {path}: the file is empty (0 bytes); {_FIX}"
        if kind:
            return f"cannot read image {path}: corrupt {kind} file (Pillow cannot identify it); {_FIX}"
        return f"cannot read image {path}: not an image file Pillow can read (it starts with {head[:8]!r}); {_FIX}"
    reason = _first_line(exc)
    if "truncated" in reason.lower() or isinstance(exc, EOFError):
        return f"cannot read image {path}: truncated or corrupt {kind or 'image'} file ({reason}); {_FIX}"
    if not isinstance(exc, OSError):
        reason = f"{type(exc).__name__}: {reason}"
    return f"cannot read image {path}: {reason}; {_FIX}"


def _to_pixels(im: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels of an open image: (h, w, 3) uint8 RGB, and (h, w) uint8 alpha if any pixel is not opaque.

    16-bit greyscale (modes I;16*, and I from a PNG) keeps the high byte of each sample:
    Pillow's own ``convert("RGB")`` would clip every value above 255 to white. 16-bit RGB(A)
    PNGs are already reduced to 8 bits that way by Pillow. Transparency in any form (an alpha
    channel, a palette's tRNS, a transparent colour key) becomes the alpha plane; palette
    images become their palette colours.
    """
    mode = im.mode
    if mode.startswith("I;16") or (mode == "I" and im.format == "PNG"):
        grey = np.asarray(im).astype(np.uint32) >> 8
        if grey.max(initial=0) > 255:
            raise ImageReadError(f"image {path} has mode {mode} pixel values above 16 bits; "
                                 f"convert it to 8-bit RGB first")
        return np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2), None
    if mode in ("I", "F") or mode.startswith("I;32"):
        raise ImageReadError(f"image {path} has {'32-bit integer' if mode != 'F' else 'floating-point'} pixels "
                             f"(Pillow mode {mode}), with no fixed 8-bit scale; convert it to 8-bit RGB first")
    with warnings.catch_warnings():  # "Palette images with Transparency expressed in bytes should be ..."
        warnings.filterwarnings("ignore", message="Palette images with Transparency", category=UserWarning)
        if has_transparency(im):
            rgba = as_array(im, "RGBA")
            alpha = np.ascontiguousarray(rgba[:, :, 3])
            return np.ascontiguousarray(rgba[:, :, :3]), (alpha if alpha.min(initial=255) < 255 else None)
        return as_array(im, "RGB"), None


def load_image_file(path, name: str | None = None) -> SourceImage:
    """Read an image file with Pillow and convert it to 8-bit RGB, plus alpha if it has transparency.

    Raises :class:`ImageReadError` with a one-line message (the file, what is wrong, what to
    do) for a missing, empty, unreadable, truncated, corrupt or non-image file, an image over
    Pillow's decompression-bomb limit, or pixels with no 8-bit meaning (mode I or F).
    ``original_mode`` is Pillow's mode of the file (e.g. CMYK, I;16, P, LA).
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                mode = im.mode
                rgb, alpha = _to_pixels(im, path)
        size = path.stat().st_size
    except ImageReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types for bad files
        raise ImageReadError(_unreadable_message(path, exc)) from exc
    return SourceImage(name or path.stem, np.ascontiguousarray(rgb), mode, size, str(path), alpha)


def _png_size(pixels: np.ndarray) -> int:
    """Bytes of ``pixels`` ((h, w, 3) RGB or (h, w, 4) RGBA) as Pillow's default lossless PNG."""
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGBA" if pixels.shape[-1] == 4 else "RGB").save(buf, format="PNG")
    return buf.tell()


# --- photos shipped inside required packages -------------------------------------------

def _package_dir(package: str) -> Path:
    """Where an installed package's files are, found without importing it (importing matplotlib for the
    path of its sample data cost the sweep's first job about 0.1 s)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"{package} is not installed: pip install {package}")
    return Path(list(spec.submodule_search_locations)[0])


def _matplotlib_sample(file: str) -> Path:
    return _package_dir("matplotlib") / "mpl-data" / "sample_data" / file


def _photo_path(name: str) -> Path:
    if name in ("china", "flower"):
        return _package_dir("sklearn") / "datasets" / "images" / f"{name}.jpg"
    if name == "grace_hopper":
        return _matplotlib_sample("grace_hopper.jpg")
    raise ConfigurationError(f"unknown sample photo {name!r}: choose from china, flower, grace_hopper")


# --- generated images, deterministic ---------------------------------------------------

def _gradient(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth two-axis gradient: many colours, no edges; shows banding at small k."""
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, 0.5 * (1 - x) + 0.5 * y], axis=-1)
    return np.rint(rgb * 255).astype(np.uint8)


def _flat(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A flat-colour illustration/screenshot: 12 colours, hard edges, large uniform areas."""
    colours = rng.integers(0, 256, size=(12, 3), dtype=np.uint8)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = colours[0]
    yy, xx = np.mgrid[:height, :width]
    for i in range(1, 12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        if i % 2:  # rectangles (windows, buttons)
            img[y0:y0 + rng.integers(1, height // 2 + 2), x0:x0 + rng.integers(1, width // 2 + 2)] = colours[i]
        else:  # discs (icons)
            r = rng.integers(1, min(width, height) // 4 + 2)
            img[(xx - x0) ** 2 + (yy - y0) ** 2 < r * r] = colours[i]
    return img


def _noise(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A noisy texture: smooth colour blobs plus strong per-pixel noise (hard for deflate)."""
    coarse = rng.uniform(0, 255, size=(height // 16 + 2, width // 16 + 2, 3))
    smooth = np.asarray(
        Image.fromarray(coarse.astype(np.uint8), "RGB").resize((width, height), Image.BICUBIC), float
    )
    return np.clip(smooth + rng.normal(0, 18, size=smooth.shape), 0, 255).astype(np.uint8)


GENERATORS = {"gradient": _gradient, "flat": _flat, "noise": _noise}


def _over(dst: np.ndarray, colour: np.ndarray, coverage: np.ndarray) -> None:
    """Paint ``colour`` ((h, w, 3) or (3,), 0-1) with ``coverage`` (h, w) over premultiplied ``dst`` (h, w, 4)."""
    dst[..., :3] = colour * coverage[..., None] + dst[..., :3] * (1 - coverage[..., None])
    dst[..., 3] = coverage + dst[..., 3] * (1 - coverage)


def _to_rgba8(premultiplied: np.ndarray) -> np.ndarray:
    alpha = premultiplied[..., 3:]
    rgb = np.divide(premultiplied[..., :3], alpha, out=np.zeros_like(premultiplied[..., :3]), where=alpha > 0)
    return np.rint(np.clip(np.concatenate([rgb, alpha], axis=-1), 0, 1) * 255).astype(np.uint8)


def _sprite(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A game sprite / icon: gradient-filled discs with anti-aliased edges and soft drop shadows, a
    translucent glass panel, on a fully transparent background. RGBA, many alpha levels."""
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    out = np.zeros((height, width, 4))
    side = min(width, height)
    panel = (np.abs(xx - width / 2) < width / 3) & (np.abs(yy - height * 0.7) < height / 8)
    _over(out, np.array([0.55, 0.8, 1.0]), panel * 0.45)
    for _ in range(4):
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        r = rng.uniform(0.12, 0.25) * side
        shadow = np.hypot(xx - cx - side / 30, yy - cy - side / 30)
        _over(out, np.zeros(3), 0.5 * np.clip((r + side / 25 - shadow) / (side / 12.5), 0, 1))
        top, bottom = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        t = np.clip((yy - cy + r) / (2 * r), 0, 1)[..., None]
        _over(out, top * (1 - t) + bottom * t, np.clip(r - np.hypot(xx - cx, yy - cy) + 0.5, 0, 1))
    return _to_rgba8(out)


def _vignette(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A photo (scikit-learn's china.jpg, resized) fading to transparent towards the corners: a soft
    elliptical alpha mask, as for a cut-out or a web overlay. RGBA."""
    with Image.open(_photo_path("china")) as im:
        rgb = np.asarray(im.convert("RGB").resize((width, height), Image.BICUBIC), np.float64) / 255
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    radius = np.hypot((xx + 0.5) / width - 0.5, (yy + 0.5) / height - 0.5) * 2
    alpha = np.clip((1.0 - radius) / 0.45, 0, 1)
    return np.rint(np.dstack([rgb, alpha]) * 255).astype(np.uint8)


ALPHA_GENERATORS = {"sprite": _sprite, "vignette": _vignette}


def _generated_spec(kind: str, width: int, height: int, seed: int) -> str:
    return f"generated:{kind}:{width}x{height}:seed={seed}"


def generated_image(kind: str, width: int, height: int, seed: int) -> SourceImage:
    """The generated image ``kind`` (a key of :data:`GENERATORS` or :data:`ALPHA_GENERATORS`).

    No file exists: the "original" is the image's own lossless PNG (RGB, or RGBA).
    """
    spec = _generated_spec(kind, width, height, seed)
    rng = np.random.default_rng(seed)
    if kind in ALPHA_GENERATORS:
        rgba = ALPHA_GENERATORS[kind](width, height, rng)
        return SourceImage(kind, np.ascontiguousarray(rgba[..., :3]), "RGBA", _png_size(rgba), spec,
                           np.ascontiguousarray(rgba[..., 3]))
    if kind not in GENERATORS:
        raise ConfigurationError(f"unknown generated image {kind!r}: choose from "
                                 f"{', '.join([*GENERATORS, *ALPHA_GENERATORS])}")
    rgb = GENERATORS[kind](width, height, rng)
    return SourceImage(kind, rgb, "RGB", _png_size(rgb), spec)


class SyntheticImages:
    """Deterministic generated images (gradient, flat illustration, noisy texture; with alpha: sprite, vignette).

    Parameters
    ----------
    kinds : list of str
        Any of "gradient", "flat", "noise", and the RGBA "sprite" and "vignette".
    width, height : int
        Size in pixels.
    seed : int
        Seed of the generators (fixed, independent of the sweep's seed).
    """

    def __init__(self, kinds=("gradient", "flat", "noise"), width=320, height=240, seed=0):
        self.kinds = kinds
        self.width = width
        self.height = height
        self.seed = seed

    def __iter__(self) -> Iterator[ImageSource]:
        for kind in self.kinds:
            yield ImageSource(kind, _generated_spec(kind, self.width, self.height, self.seed),
                              lambda kind=kind: generated_image(kind, self.width, self.height, self.seed))


class SampleImages(SyntheticImages):
    """The default image set: real photos bundled with installed packages, then generated images.

    Photos: scikit-learn's ``china.jpg`` and ``flower.jpg`` and matplotlib's
    ``grace_hopper.jpg``. Nothing is downloaded.
    """

    def __init__(self, photos=("china", "flower", "grace_hopper"), kinds=("gradient", "flat", "noise"),
                 width=320, height=240, seed=0):
        super().__init__(kinds=kinds, width=width, height=height, seed=seed)
        self.photos = photos

    def __iter__(self) -> Iterator[ImageSource]:
        for name in self.photos:
            path = _photo_path(name)
            yield ImageSource(name, str(path), lambda path=path, name=name: load_image_file(path, name))
        yield from super().__iter__()


class AlphaSamples(SyntheticImages):
    """Images with transparency: matplotlib's bundled RGBA PNGs, then generated RGBA images.

    Files: ``logo2.png`` (matplotlib's logo, 542x130, 69% fully transparent, anti-aliased
    edges) and ``Minduka_Present_Blue_Pack.png`` (a 128x128 icon with a soft shadow). Generated:
    ``sprite`` (shapes with soft shadows on a transparent background) and ``vignette`` (a photo
    fading to transparent). Nothing is downloaded.
    """

    def __init__(self, files=("logo2", "Minduka_Present_Blue_Pack"), kinds=("sprite", "vignette"),
                 width=320, height=240, seed=0):
        super().__init__(kinds=kinds, width=width, height=height, seed=seed)
        self.files = files

    def __iter__(self) -> Iterator[ImageSource]:
        for name in self.files:
            path = _matplotlib_sample(f"{name}.png")
            yield ImageSource(name, str(path), lambda path=path, name=name: load_image_file(path, name))
        yield from super().__iter__()


class PaletteSamples:
    """Bundled photos re-saved as 256-colour palette PNGs: the kind of "original" in the question.

    Each photo is reduced with Pillow's median cut (no dithering) and written as a PNG-8 to
    ``directory``; that file is the row's original (mode ``P``, its size on disk).

    Parameters
    ----------
    photos : list of str
        Bundled photos (china, flower, grace_hopper).
    colours : int
        Palette size of the original file.
    directory : str
        Where the palette originals are written.
    """

    def __init__(self, photos=("china",), colours=256, directory="originals"):
        self.photos = photos
        self.colours = colours
        self.directory = directory

    def _path(self, name: str) -> Path:
        return Path(self.directory) / f"{name}_{self.colours}colours.png"

    def _load(self, name: str) -> SourceImage:
        out = self._path(name)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        with Image.open(_photo_path(name)) as im:
            im.convert("RGB").quantize(self.colours, method=Image.Quantize.MEDIANCUT).save(tmp, format="PNG")
        os.replace(tmp, out)  # parallel jobs write the same bytes; none reads a partial file
        return load_image_file(out, name)

    def __iter__(self) -> Iterator[ImageSource]:
        for name in self.photos:
            yield ImageSource(name, str(self._path(name)), lambda name=name: self._load(name))


class ImageFolder:
    """Every PNG/JPEG/WebP/GIF/BMP/TIFF file in a folder (not recursive), sorted by name.

    Parameters
    ----------
    path : str
        The folder.
    """

    def __init__(self, path: str | None = None):
        self.path = path

    def __iter__(self) -> Iterator[ImageSource]:
        if not self.path:
            raise ConfigurationError("dataset=folder needs a folder: add dataset.path=DIR")
        folder = Path(self.path).expanduser()
        if not folder.is_dir():
            raise ConfigurationError(f"dataset.path={self.path} is not a folder: give a folder of images")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ConfigurationError(
                f"dataset.path={self.path} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        # Names must be unique per row: keep the suffix when two files share a stem.
        stems = [p.stem for p in files]
        for p in files:
            name = p.stem if stems.count(p.stem) == 1 else p.name
            yield ImageSource(name, str(p), lambda p=p, name=name: load_image_file(p, name))


class SkimageImages:
    """scikit-image's bundled colour photos, loaded with ``skimage.data`` and no network.

    Only photos whose file ships inside the scikit-image wheel (``skimage/data/``) are
    offered; the file is checked before loading, so a missing one is a one-line error, never
    a download. ``original_bytes`` and ``original_mode`` are that file's size and Pillow mode.

    Parameters
    ----------
    names : list of str
        ``skimage.data`` functions: astronaut (512x512), chelsea (300x451), coffee (400x600),
        rocket (427x640), immunohistochemistry (512x512), hubble_deep_field (872x1000),
        retina (1411x1411).
    """

    FILES = {  # skimage.data function -> its file in skimage/data/ (all RGB, 8 bits)
        "astronaut": "astronaut.png",
        "chelsea": "chelsea.png",
        "coffee": "coffee.png",
        "rocket": "rocket.jpg",
        "immunohistochemistry": "ihc.png",
        "hubble_deep_field": "hubble_deep_field.jpg",
        "retina": "retina.jpg",
    }

    def __init__(self, names=("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")):
        self.names = names

    @classmethod
    def path(cls, name: str) -> Path:
        """The bundled file of photo ``name`` (ConfigurationError if not one of :attr:`FILES`)."""
        if name not in cls.FILES:
            raise ConfigurationError(f"unknown scikit-image photo {name!r}: choose from {', '.join(cls.FILES)}")
        import skimage.data

        return Path(skimage.data.__file__).parent / cls.FILES[name]

    @classmethod
    def load(cls, name: str) -> SourceImage:
        path = cls.path(name)
        if not path.is_file():  # skimage.data would try to download it: refuse instead
            import skimage

            raise ConfigurationError(f"scikit-image {skimage.__version__} does not bundle {path.name} for "
                                     f"skimage.data.{name}() (it would be downloaded); choose another photo")
        import skimage.data

        rgb = np.asarray(getattr(skimage.data, name)())
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ImageReadError(f"skimage.data.{name}() gave {rgb.dtype} pixels of shape {rgb.shape}, "
                                 f"not 8-bit RGB")
        with Image.open(path) as im:
            mode = im.mode
        return SourceImage(name, np.ascontiguousarray(rgb), mode, path.stat().st_size, str(path))

    def __iter__(self) -> Iterator[ImageSource]:
        for name in self.names:  # an unknown name fails its own rows only (in load)
            source = str(self.path(name)) if name in self.FILES else f"skimage.data.{name}"
            yield ImageSource(name, source, lambda name=name: self.load(name))


def bundled(names) -> dict[str, SourceImage]:
    """Bundled images by name (the benchmarks' images): the photos of :class:`SampleImages`
    (china, flower, grace_hopper), of :class:`SkimageImages` (astronaut, coffee, ...) and the images
    of :class:`AlphaSamples` (logo2, sprite, ...); ConfigurationError for any other name."""
    sources = {s.name: s for s in [*SampleImages(kinds=()), *AlphaSamples()]}
    sources.update((n, ImageSource(n, n, lambda n=n: SkimageImages.load(n))) for n in SkimageImages.FILES)
    unknown = [n for n in names if n not in sources]
    if unknown:
        raise ConfigurationError(f"unknown bundled image {unknown[0]!r}: choose from {', '.join(sorted(sources))}")
    return {n: sources[n].load() for n in names}


# --- a study of many images ----------------------------------------------------------------------

STUDY_PHOTOS = ("china", "flower", "grace_hopper", "astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


def study_image(i: int, seed: int = 0) -> tuple[str, np.ndarray, str]:
    """Image ``i`` of a study set: ``(name, pixels, file format)``, deterministic in ``(i, seed)``.

    Four in five are crops of a bundled photo at another scale (longest side 64-480 px) with a colour
    shift (per-channel gain and gamma, sometimes desaturated), saved as JPEG (quality 70-95) or PNG;
    one in five is a generated graphic (flat illustration, gradient, noisy texture, or an RGBA sprite),
    saved as PNG. Varied as a real collection is, in size, content and format, at a few dozen KB each.
    """
    rng = np.random.default_rng([seed, i])
    if rng.random() < 0.2:
        kind = ("flat", "gradient", "noise", "sprite")[rng.integers(4)]
        width, height = (int(v) for v in rng.integers(64, 321, size=2))
        pixels = generated_image(kind, width, height, int(rng.integers(1 << 30))).pixels
        return f"{i:05d}-{kind}", pixels, "PNG"
    name = STUDY_PHOTOS[rng.integers(len(STUDY_PHOTOS))]
    photo = bundled([name])[name].rgb
    h, w = photo.shape[:2]
    ch, cw = int(rng.integers(h // 4, h + 1)), int(rng.integers(w // 4, w + 1))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    scale = min(1.0, float(rng.integers(64, 481)) / max(ch, cw))
    crop = Image.fromarray(np.ascontiguousarray(photo[y:y + ch, x:x + cw]))
    crop = crop.resize((max(8, round(cw * scale)), max(8, round(ch * scale))), Image.LANCZOS)
    rgb = np.asarray(crop, np.float64) / 255
    rgb = rgb ** rng.uniform(0.7, 1.4) * rng.uniform(0.8, 1.2, size=3)
    if rng.random() < 0.15:  # a faded, nearly grey print
        rgb = 0.8 * rgb.mean(axis=-1, keepdims=True) + 0.2 * rgb
    pixels = np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return f"{i:05d}-{name}", pixels, ("JPEG" if rng.random() < 0.5 else "PNG")


def write_study(folder, n: int, seed: int = 0) -> list[Path]:
    """Write :func:`study_image` 0..n-1 into ``folder`` (created); the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        name, pixels, fmt = study_image(i, seed)
        path = folder / f"{name}.{'jpg' if fmt == 'JPEG' else 'png'}"
        mode = "RGBA" if pixels.shape[-1] == 4 else "RGB"
        options = {"quality": int(np.random.default_rng([seed, i, 1]).integers(70, 96))} if fmt == "JPEG" else {}
        Image.fromarray(pixels, mode).save(path, format=fmt, **options)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    """``kqbench images DIR [--n 2000] [--seed 0]``: write a study set of N varied images into DIR."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="kqbench images", description="Write a folder of N varied images "
                                     "(crops, rescales and colour shifts of the bundled photos, and generated "
                                     "graphics) for a large study: python -m kqbench dataset=folder dataset.path=DIR")
    parser.add_argument("folder")
    parser.add_argument("--n", type=int, default=2000, help="how many images (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    paths = write_study(args.folder, args.n, args.seed)
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} images, {size / 1e6:.1f} MB, in {args.folder} ({time.perf_counter() - start:.1f} s)")
    return 0
