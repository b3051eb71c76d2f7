"""``kqbench``: the one entry point. ``python -m kqbench k=16,64,256`` sweeps; ``kqbench <tool> ...`` runs a tool.

Each Hydra job is one (dataset, quantizer, k, encoding, seed) configuration; the primary
config sets ``hydra.mode: MULTIRUN`` so a comma list sweeps as typed, without ``-m``. This and
:mod:`kqbench.callbacks` are the only modules that use Hydra.

The tools (:data:`TOOLS`) are also ``python -m kqbench.<module>``; each is imported only when asked for.
"""

from __future__ import annotations

import time

_LOADED_AT = time.monotonic()  # before the imports below: a sweep's wall time includes them

import importlib
import sys
from datetime import datetime
from pathlib import Path

import hydra
import hydra_plugins
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from . import environment

# kqbench's sweeper and launcher (hydra_plugins/hydra_kqbench) ship in the wheel; from a source checkout
# (an editable install, or python -m kqbench in the clone) Hydra finds them only if the checkout's
# hydra_plugins folder is part of the namespace it scans.
_checkout_plugins = Path(__file__).resolve().parent.parent / "hydra_plugins"
if (_checkout_plugins / "hydra_kqbench").is_dir() and str(_checkout_plugins) not in list(hydra_plugins.__path__):
    hydra_plugins.__path__.append(str(_checkout_plugins))

_STARTUP_LIMIT_S = 30.0  # a module loaded longer ago than this before a sweep was not loaded for it

# kqbench <tool> [args]: module (with a main(argv) -> exit status) and what it does
TOOLS = {
    "report": ("kqbench.report.__main__", "re-render report.md, report.html and the plots of a sweep folder"),
    "verify": ("kqbench.verify", "re-check every row of a sweep from its kept files, with independent decoders"),
    "explain": ("kqbench.explain", "why is this image file this size, and what would PNG-8 weigh"),
    "table": ("kqbench.table", "(re)build a sweep's results table from its jobs' rows"),
    "images": ("kqbench.datasets", "write a folder of N varied images for a large study"),
    "bench": ("kqbench.bench", "the quantizer, encoder and 24 MP benchmarks against their peers"),
    "reference": ("kqbench.reference", "regenerate the curated reference results in results/reference/"),
    "columns": ("kqbench.columns", "the results table's columns, as README.md shows them"),
    "compare": ("kqbench.compare", "what changed from sweep A to sweep B, per configuration; regressions flagged"),
}


def sweep_dir(results_dir: str, resume) -> str:
    """A new ``results_dir/<date>/<time>``, or with ``resume``, the sweep to finish.

    ``resume=true`` continues the newest sweep (``results_dir/latest``); ``resume=PATH`` that one.
    """
    if resume in (None, False):
        return f"{results_dir}/{datetime.now():%Y-%m-%d/%H-%M-%S}"
    target = Path(f"{results_dir}/latest" if resume is True else str(resume)).expanduser()
    if not target.is_dir():
        raise ValueError(f"resume={resume}: no sweep folder at {target}; run without resume to start one")
    return str(target.resolve())


# Cached like Hydra's ${now:}: every job of a sweep, in any process, gets the same folder.
OmegaConf.register_new_resolver("kqbench_sweep_dir", sweep_dir, use_cache=True, replace=True)


_CACHES: dict = {}


def _cache(directory):
    """One cache per folder per process: jobs run in one process share its in-memory entries."""
    from .cache import QuantizationCache

    if directory not in _CACHES:
        _CACHES[directory] = QuantizationCache(directory)
    return _CACHES[directory]


def run_job(cfg: DictConfig) -> int:
    from .runner import failed_row, run_configuration
    from .table import JobRows

    hc = HydraConfig.get()
    out_dir = hc.runtime.output_dir
    choices = hc.runtime.choices
    quantizer_name, encoding_name = choices.get("quantizer"), choices.get("encoding")
    try:
        dataset = instantiate(cfg.dataset)
        quantizer = instantiate(cfg.quantizer, n_colors=cfg.k, random_state=cfg.seed)
        encoder = instantiate(cfg.encoding)
    except Exception as exc:  # a bad parameter fails this configuration only
        config = {"k": cfg.k, "quantizer": quantizer_name, "encoding": encoding_name, "seed": cfg.seed}
        with JobRows(out_dir) as written:
            written.append(failed_row({"image": None, **config}, exc))
        return 0
    rows = run_configuration(
        dataset, quantizer_name, quantizer, encoding_name, encoder,
        k=cfg.k, seed=cfg.seed, out_dir=out_dir, cache=_cache(cfg.cache_dir if cfg.cache else None),
        repeats=cfg.repeats, keep_files=cfg.keep_files, dither=cfg.dither, alpha=cfg.alpha,
        metrics=tuple(cfg.metrics),
        root=hc.sweep.dir if str(hc.mode) == "RunMode.MULTIRUN" else out_dir,
    )
    return sum(r["status"] == "ok" for r in rows)


@hydra.main(version_base="1.3", config_path="pkg://kqbench.conf", config_name="config")
def sweep(cfg: DictConfig) -> int:
    return run_job(cfg)


def main(argv: list[str] | None = None):
    """``kqbench <tool> ...`` runs a tool (:data:`TOOLS`); anything else is a sweep's Hydra arguments."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in TOOLS:
        sys.argv[0] = f"kqbench {args[0]}"
        return importlib.import_module(TOOLS[args[0]][0]).main(args[1:])
    if argv is not None:
        sys.argv[1:] = argv
    # the sweep started when this module was loaded (its imports are the sweep's) if this process was started
    # for it, else now (a later sweep in this process, or a notebook that imported it long before)
    global _LOADED_AT
    now = time.monotonic()
    environment.sweep_started = _LOADED_AT if now - _LOADED_AT < _STARTUP_LIMIT_S else now
    _LOADED_AT = float("-inf")
    return sweep()


if __name__ == "__main__":
    raise SystemExit(main())
