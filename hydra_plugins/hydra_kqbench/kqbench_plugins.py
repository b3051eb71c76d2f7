"""kqbench's sweeper and launcher: Hydra's basic ones, with less of the harness on the critical path.

Part of kqbench's entry point (with ``kqbench/__main__.py`` and ``kqbench/callbacks.py``): the only
places that use Hydra. Hydra requires its plugins to live under ``hydra_plugins``.

``KqbenchSweeper`` (``hydra/sweeper=kqbench``, the default) is the basic sweeper (the same jobs, in
the same order), but before launching it composes one job per distinct value of each swept key
instead of every job: a composition error (an unknown option, a bad override) is caught before any
job runs, as with the basic sweeper, at the cost of a handful of compositions rather than one per job.

``KqbenchLauncher`` (``hydra/launcher=kqbench``, the default) runs the jobs in this process one after
the other, as the basic launcher does, but composes each job's config ahead of time, and saves it in
the job's ``.hydra/`` folder, in a forked process stopped while a quantizer is timed (so it never takes
a core from a timed call); a job whose config is not ready yet is composed and saved here, as the basic launcher would.
"""

# No "from __future__ import annotations": Hydra's plugin scanner runs this module before it is in
# sys.modules, where dataclasses cannot resolve string annotations.
import contextlib
import copy
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, _save_config, configure_log, filter_overrides, run_job, setup_globals
from omegaconf import OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


@dataclass
class KqbenchSweeperConf:
    _target_: str = "hydra_plugins.hydra_kqbench.kqbench_plugins.KqbenchSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None


@dataclass
class KqbenchLauncherConf:
    _target_: str = "hydra_plugins.hydra_kqbench.kqbench_plugins.KqbenchLauncher"


ConfigStore.instance().store(group="hydra/sweeper", name="kqbench", node=KqbenchSweeperConf, provider="kqbench")
ConfigStore.instance().store(group="hydra/launcher", name="kqbench", node=KqbenchLauncherConf, provider="kqbench")


def representatives(batch: Sequence[Sequence[str]]) -> List[Sequence[str]]:
    """The jobs of ``batch`` that bring a ``key=value`` no earlier job has: together they hold every value
    of every key (the first job, then one job per other value)."""
    seen: set = set()
    chosen = []
    for job in batch:
        new = set(job) - seen
        if new:
            chosen.append(job)
            seen |= new
    return chosen


class KqbenchSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        super().validate_batch_is_legal(representatives(batch))


def _compose_ahead(loader, config, jobs, first_num, conn, wanted) -> None:
    """In the forked process: compose each job's config in order, skipping those already launched, and
    save it in the job's folder as ``run_job`` would (``.hydra/``), so that the job does not."""
    for idx, overrides in enumerate(jobs):
        if idx < wanted.value:
            continue
        try:
            job_config = _numbered(loader.load_sweep_config(config, list(overrides)), first_num + idx)
            _save_job_config(job_config)
            blob = pickle.dumps(job_config)
        except Exception:  # the launching process composes it, and reports any error itself
            blob = None
        conn.send((idx, blob))
    conn.close()


def _numbered(job_config, num: int):
    with open_dict(job_config):
        job_config.hydra.job.id = num
        job_config.hydra.job.num = num
    return job_config


def _save_job_config(job_config) -> None:
    """Write the job's ``config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` (what ``run_job`` saves, the
    same text), then clear ``hydra.output_subdir`` so that ``run_job`` does not write them again."""
    if job_config.hydra.output_subdir is None:
        return
    HydraConfig.instance().set_config(job_config)  # (this forked process's copy of the singleton)
    out = Path(str(OmegaConf.select(job_config, "hydra.sweep.dir")), str(OmegaConf.select(job_config, "hydra.sweep.subdir")))
    with read_write(job_config.hydra.runtime), open_dict(job_config.hydra.runtime):
        job_config.hydra.runtime.output_dir = os.path.abspath(out)
    HydraConfig.instance().set_config(job_config)
    task = copy.deepcopy(job_config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    folder = Path(job_config.hydra.runtime.output_dir) / job_config.hydra.output_subdir
    _save_config(task, "config.yaml", folder)
    _save_config(HydraConfig.instance().cfg, "hydra.yaml", folder)
    _save_config(job_config.hydra.overrides.task, "overrides.yaml", folder)
    with read_write(job_config.hydra), open_dict(job_config.hydra):
        job_config.hydra.output_subdir = None


class _Ahead:
    """Job configs composed in a background process; ``get(idx)`` is one if it is ready, else None."""

    def __init__(self, loader, config, jobs: Sequence[Sequence[str]], first_num: int):
        import multiprocessing

        self.ready: dict = {}
        self.proc = None
        if len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=False)
        self.wanted = ctx.Value("i", 1, lock=False)  # the first job is composed here, at once
        self.proc = ctx.Process(target=_compose_ahead, args=(loader, config, jobs, first_num, child, self.wanted),
                                daemon=True)
        self.proc.start()
        from kqbench.measure import pause_while_timed

        pause_while_timed(self.proc)
        child.close()

    def get(self, idx: int):
        if self.proc is None:
            return None
        self.wanted.value = idx + 1
        with contextlib.suppress(EOFError, OSError):
            while self.conn.poll():
                i, blob = self.conn.recv()
                self.ready[i] = blob
        blob = self.ready.pop(idx, None)
        return pickle.loads(blob) if blob is not None else None

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
        if self.proc is not None:
            self.proc.join()
            self.conn.close()


class KqbenchLauncher(BasicLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        loader = self.hydra_context.config_loader
        ahead = _Ahead(loader, self.config, job_overrides, initial_job_idx)
        runs: List[JobReturn] = []
        try:
            for i, overrides in enumerate(job_overrides):
                idx = initial_job_idx + i
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                sweep_config = ahead.get(i) or _numbered(loader.load_sweep_config(self.config, list(overrides)), idx)
                runs.append(run_job(hydra_context=self.hydra_context, task_function=self.task_function,
                                    config=sweep_config, job_dir_key="hydra.sweep.dir",
                                    job_subdir_key="hydra.sweep.subdir"))
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        finally:
            ahead.close()
        return runs
