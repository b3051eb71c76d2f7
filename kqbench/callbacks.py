"""Hydra callbacks: progress while a sweep runs, and the aggregated table when it ends.

Rows are gathered from the sweep folder, not from memory, so this works the same for every
launcher (in-process, joblib, submitit).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from . import environment
from .table import aggregate

log = logging.getLogger("kqbench")

_N_JOBS_ENV = "KQBENCH_N_JOBS"  # inherited by launcher worker processes


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs the basic sweeper will launch: sweep params, then command-line overrides win."""
    try:
        params = config.hydra.sweeper.get("params") or {}
        lines = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
        sizes: dict[str, int] = {}
        for o in OverridesParser.create().parse_overrides(lines):
            sizes[o.get_key_element()] = len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1
        return math.prod(sizes.values())
    except Exception:  # another sweeper, or a sweep form we do not count: progress without a total
        return None


class SweepCallback(Callback):
    """Writes ``environment.json`` at the start; aggregates rows and reports at the end."""

    def __init__(self, results_dir: str = "results") -> None:
        self.results_dir = results_dir
        self._t0 = time.perf_counter()

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self._t0 = time.perf_counter()
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "environment.json").write_text(json.dumps(environment.collect(), indent=2))
        total = count_jobs(config)
        if total:
            os.environ[_N_JOBS_ENV] = str(total)
        log.info("kqbench sweep: %s configurations -> %s", total or "?", sweep_dir)

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        hc = config.hydra
        if hc.mode is None or str(hc.mode) != "RunMode.MULTIRUN":
            return
        if hc.job.num == 0:  # configs validated, work begins: an interrupted sweep can be resumed
            self._point_latest_at(Path(hc.sweep.dir))
        total = os.environ.get(_N_JOBS_ENV, "?")
        num = hc.job.num + 1
        remaining = f", {int(total) - num} to go" if total != "?" else ""
        log.info("[%s/%s%s] %s", num, total, remaining, " ".join(hc.overrides.task) or "(defaults)")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self._finish(Path(config.hydra.sweep.dir), config)

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        self._finish(Path(config.hydra.runtime.output_dir), config)

    def _finish(self, out_dir: Path, config: DictConfig) -> None:
        df, parquet = aggregate(out_dir)
        report = self._report(out_dir, config) if len(df) else None
        self._point_latest_at(out_dir)
        ok = int((df["status"] == "ok").sum()) if len(df) else 0
        print(f"\nkqbench: {len(df)} rows ({ok} ok, {len(df) - ok} not ok) in "
              f"{time.perf_counter() - self._t0:.1f} s\n  table: {parquet}\n         {parquet.with_suffix('.csv')}")
        if report:
            print(f"  report: {report}")
        if len(df) - ok:
            bad = df[df["status"] != "ok"].groupby(["status", "error"], dropna=False).size()
            for (status, error), n in list(bad.items())[:10]:
                print(f"  {n} row(s) {status}: {error}")
            if len(bad) > 10:
                print(f"  ... {len(bad) - 10} more kinds of error: see the status and error columns")

    def _point_latest_at(self, out_dir: Path) -> None:
        latest = Path(self.results_dir) / "latest"
        try:
            target = os.path.relpath(out_dir.resolve(), latest.parent.resolve())
            tmp = latest.with_name(".latest.tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target, target_is_directory=True)
            os.replace(tmp, latest)
        except OSError as exc:  # e.g. no symlinks on this file system: the table is still there
            log.warning("could not point %s at %s: %s", latest, out_dir, exc)

    @staticmethod
    def _report(out_dir: Path, config: DictConfig) -> Path | None:
        opts = OmegaConf.to_container(config.get("report") or {}, resolve=True)
        if not opts.pop("enabled", True):
            return None
        try:
            from .report import render

            return render(out_dir, **opts)
        except Exception as exc:  # the table is written already; a plotting problem must not hide it
            log.error("report not written (%s: %s); retry with: kqbench report %s",
                      type(exc).__name__, exc, out_dir)
            return None
