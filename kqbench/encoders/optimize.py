"""Lossless PNG optimizer passes, run in place on a written file.

``oxipng``
    The Rust optimizer through its Python binding ``pyoxipng`` (``pip install
    'kqbench[optimize]'``). ``optimizer_level`` is oxipng's preset 0-6 (None: 2, oxipng's
    default). It tries filters, bit depths, colour types and palette orders, recompresses
    with libdeflate, and strips metadata chunks that do not change the rendered image
    (``StripChunks.safe``).
``zopflipng``
    Google's zopflipng command-line tool (``apt-get install zopfli``), run as a subprocess.
    ``optimizer_level``: 0 = ``-q`` (quick), 1 or None = its default, 2 = ``-m`` (more
    iterations).

Either may change the colour type, bit depth or palette order: only the decoded pixels
are kept. The result replaces the file only when it is smaller, so a pass never makes
the file larger.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigurationError, NotInstalledError

OPTIMIZERS = ("none", "oxipng", "zopflipng")
LEVELS = {"oxipng": range(0, 7), "zopflipng": range(0, 3)}
ZOPFLIPNG_FLAGS = {0: ["-q"], 1: [], 2: ["-m"]}


def check_optimizer(optimizer: str, level: int | None) -> None:
    """ConfigurationError for an unknown optimizer or a level it does not have."""
    if optimizer not in OPTIMIZERS:
        raise ConfigurationError(f"unknown PNG optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
    if level is None or optimizer == "none":
        return
    allowed = LEVELS[optimizer]
    if isinstance(level, bool) or not isinstance(level, int) or level not in allowed:
        raise ConfigurationError(f"{optimizer} optimizer_level must be {allowed.start}..{allowed.stop - 1} "
                                 f"or null, got {level!r}")


def require_optimizer(optimizer: str):
    """The oxipng module or the zopflipng executable path; NotInstalledError when missing."""
    if optimizer == "oxipng":
        try:
            import oxipng
        except ImportError:
            raise NotInstalledError("pyoxipng is not installed: pip install 'kqbench[optimize]'") from None
        return oxipng
    if optimizer == "zopflipng":
        exe = shutil.which("zopflipng")
        if exe is None:
            raise NotInstalledError("zopflipng is not installed: apt-get install zopfli")
        return exe
    return None


def optimize_png(path, optimizer: str, level: int | None = None) -> None:
    """Run ``optimizer`` on the PNG at ``path`` in place (no-op for ``none``)."""
    check_optimizer(optimizer, level)
    if optimizer == "none":
        return
    path = Path(path)
    tool = require_optimizer(optimizer)
    if optimizer == "oxipng":
        data = path.read_bytes()
        out = tool.optimize_from_memory(data, level=2 if level is None else level,
                                        strip=tool.StripChunks.safe())
        if len(out) < len(data):
            path.write_bytes(out)
        return
    # zopflipng: write to a sibling file (it never overwrites an existing smaller output), keep if smaller
    tmp = path.with_name(f".{path.name}.zopflipng.png")
    tmp.unlink(missing_ok=True)
    try:
        proc = subprocess.run([tool, "-y", *ZOPFLIPNG_FLAGS[1 if level is None else level], str(path), str(tmp)],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not tmp.exists():
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(f"zopflipng failed on {path.name} (exit {proc.returncode})"
                               + (f": {detail[-1]}" if detail else ""))
        if tmp.stat().st_size < path.stat().st_size:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
