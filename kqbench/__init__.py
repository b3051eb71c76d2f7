"""kqbench: benchmark colour quantization by k-means and the image encodings that follow it."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# Installed, the configs ship inside the package as kqbench.conf and kqbench.experiments. Run from the
# repository root, `python -m kqbench` imports this source folder instead of the installed copy, and
# there the configs are the top-level conf/ and experiments/ folders: let the package find them there.
_checkout = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "conf").is_dir() and (_checkout / "conf" / "config.yaml").is_file():
    __path__.append(str(_checkout))
