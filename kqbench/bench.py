"""``kqbench bench [quantizers|encoders|large] [options]``: the benchmarks of ``benchmarks/``.

A benchmark prints ratios against baselines measured in the same run and never asserts; tests never
time anything. ``quantizers`` (the default): kqbench's fast k-means against scikit-learn, libimagequant,
pngquant and Pillow. ``encoders``: kqbench's PNG-8 writers against zopflipng and ``pngquant --map``.
``large``: fast and wu against libimagequant on a 24 MP image, and the peak memory of quantizing it and
of whole sweep jobs on it.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("quantizers", "encoders", "large")


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip() + "\n\nkqbench bench NAME --help: the options of benchmark NAME.")
        return 0
    name = args.pop(0) if args and args[0] in BENCHMARKS else BENCHMARKS[0]
    return importlib.import_module(f"kqbench.benchmarks.{name}").main(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
