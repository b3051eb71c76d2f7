"""kqbench's sweeper and launcher: Hydra's basic ones, with less of the harness on the critical path.

Part of kqbench's entry point (with ``kqbench/__main__.py`` and ``kqbench/callbacks.py``): the only
places that use Hydra. Hydra requires its plugins to live under ``hydra_plugins``.

``KqbenchSweeper`` (``hydra/sweeper=kqbench``, the default) is the basic sweeper (the same jobs, in
the same order), but it checks that the sweep composes with one job per distinct value of each swept
key instead of every job: a composition error (an unknown option, a bad override) is caught before any
job runs, as with the basic sweeper, at the cost of a handful of compositions rather than one per job.

``KqbenchLauncher`` (``hydra/launcher=kqbench``, the default) runs the jobs in this process one after
the other, as the basic launcher does, but a forked process composes them ahead: first the sweeper's
handful (while this process imports what the jobs need; no job starts before they all composed), then
every job in order (a job that differs from one composed before only in plain values, ``k=64`` for
``k=16``, and in options of config groups composed for other jobs, ``encoding=labels``, is that one with
the values and the options' nodes set: :func:`_job_config`), each saved in its folder's ``.hydra/`` and
prepared as Hydra's ``run_job`` would prepare it (the job's Hydra config, the task's config without its
``hydra`` node), so that here each job only runs. A job it has not sent yet is composed here (the same
way) while it goes on to the next: where short jobs follow each other, two cores composing beat one
composing and one waiting. A job that does not compose fails here with Hydra's own error, as with the
basic launcher.
"""

# No "from __future__ import annotations": Hydra's plugin scanner runs this module before it is in
# sys.modules, where dataclasses cannot resolve string annotations.
import contextlib
import copy
import functools
import logging
import os
import pickle
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra import version
from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import OverrideType
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (JobReturn, JobRuntime, JobStatus, _flush_loggers, configure_log, env_override,
                              filter_overrides, setup_globals)
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf._utils import get_omega_conf_dumper
import yaml

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


def representative_indices(batch: Sequence[Sequence[str]]) -> List[int]:
    """The positions in ``batch`` of the jobs that bring a ``key=value`` no earlier job has: together they
    hold every value of every key (the first job, then one job per other value)."""
    seen: set = set()
    chosen = []
    for i, job in enumerate(batch):
        new = set(job) - seen
        if new:
            chosen.append(i)
            seen |= new
    return chosen


def representatives(batch: Sequence[Sequence[str]]) -> List[Sequence[str]]:
    """The jobs of :func:`representative_indices`."""
    return [batch[i] for i in representative_indices(batch)]


class KqbenchSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if isinstance(self.launcher, KqbenchLauncher):  # it composes them beside its own start-up
            self.launcher.to_validate = representative_indices(batch)
        else:
            super().validate_batch_is_legal(representatives(batch))


_VALIDATED = -1  # what the composing process sends once the sweeper's handful of jobs composed
# A job is composed in the launching process rather than waited for when the composing process got less
# than this share of a core over the last STARVED_CHECK_S seconds.
STARVED_SHARE = 0.3
STARVED_CHECK_S = 0.2
AHEAD_JOBS = 2  # the composing process keeps this many jobs ready, then composes later jobs' configs
PREPARED_FILE = ".prepared.pickle"  # a prepared job, in its folder until the launcher takes it
JOB_WAIT_S = 0.03  # how long the launcher waits for a job not ready before composing it itself


def _compose_ahead(loader, config, jobs, first_num, conn, wanted, validate) -> None:
    """In the forked process: compose the jobs of ``validate`` (positions in ``jobs``) and say whether they
    all composed (nothing is written if one did not), then the others in order, but for those the
    launching process composed itself (below ``wanted``). Each job is sent prepared (:func:`_prepared`),
    or as None if it does not compose: the launching process then composes it (and reports the error)."""

    from kqbench.callbacks import BACKGROUND_NICE

    with contextlib.suppress(AttributeError, OSError):  # (behind the jobs' process: see kqbench.callbacks)
        os.nice(BACKGROUND_NICE)

    templates: dict = {}  # (for _job_config)

    def compose(idx):
        try:
            return _prepared(_numbered(_job_config(loader, config, list(jobs[idx]), templates), first_num + idx))
        except Exception:
            return None

    def send(idx, job) -> None:  # (None: it does not compose)
        path = None
        if job is not None:  # in a file: a pipe holds one or two jobs, and would stop this process there
            path = Path(job.config.hydra.runtime.output_dir) / PREPARED_FILE
            path.write_bytes(pickle.dumps(_saved(job)))
        conn.send((idx, None if path is None else str(path)))

    first = {idx: compose(idx) for idx in validate}
    composed = all(job is not None for job in first.values())
    conn.send((_VALIDATED, composed))
    if not composed:
        conn.close()
        return
    for idx, job in first.items():
        send(idx, job)
    tried: set = set()  # later jobs looked at for composing ahead

    def compose_a_later_template(after: int) -> bool:
        """Compose the first job after ``after`` that needs a composition of its own; whether one did."""
        for later in range(after + 1, len(jobs)):
            if later in tried:
                continue
            tried.add(later)
            _, shape, groups = _shape(loader, config, list(jobs[later]))
            if _lacks(templates.get(shape), groups):
                with contextlib.suppress(Exception):  # (the job fails when it is composed; the launcher says why)
                    _template(loader, config, list(jobs[later]), shape, groups, templates)
                return True
        return False

    for idx in range(len(jobs)):
        if idx in first or idx < wanted.value:
            continue
        # far enough ahead: the compositions later jobs need first (a job of a known shape is cheap)
        while idx - wanted.value > AHEAD_JOBS and compose_a_later_template(idx):
            pass
        send(idx, compose(idx))
    conn.close()


def _job_config(loader, master, overrides: List[str], templates: dict):
    """The config Hydra composes for a job of the sweep (``loader.load_sweep_config``). A job that differs
    from one composed before only in plain values (``k=64`` where it had ``k=16``; not an addition or a
    Hydra setting) and in its choices of simple config group options (``encoding=labels`` where it had
    ``encoding=rgb24``: see :func:`_simple_option`) is that job's config with those values set as Hydra sets
    them, each chosen option's node as Hydra composed it for another job, and its record of choices and
    overrides rewritten: the same config (a test compares them), at a fifth of the cost. The default sweep
    composes 9 of its 75 jobs (one per quantizer and encoding)."""
    parsed, shape, groups = _shape(loader, master, overrides)
    template, composed = _template(loader, master, overrides, shape, groups, templates)
    if _lacks(template, groups):
        return copy.deepcopy(composed)  # (an option Hydra did not choose as asked: as composed; kept unchanged)
    job = copy.deepcopy(template["config"])
    chosen = {group: option for group, option in groups.items() if job.hydra.runtime.choices[group] != option}
    with read_write(job), open_dict(job):
        for group, option in chosen.items():
            job[group] = template["nodes"][group, option]  # (a copy: OmegaConf copies an assigned node)
    ConfigLoaderImpl._apply_overrides_to_config([o for o, key in zip(parsed, shape) if key == o.key_or_group], job)
    task = [o for o in parsed if not o.is_hydra_override()]
    with read_write(job.hydra), open_dict(job.hydra):
        job.hydra.runtime.choices.update(chosen)
        job.hydra.overrides.task = [o.input_line for o in task]
        job.hydra.job.override_dirname = get_overrides_dirname(
            overrides=task, kv_sep=job.hydra.job.config.override_dirname.kv_sep,
            item_sep=job.hydra.job.config.override_dirname.item_sep,
            exclude_keys=job.hydra.job.config.override_dirname.exclude_keys)
    OmegaConf.copy_cache(from_config=master, to_config=job)
    return job


def _template(loader, master, overrides: List[str], shape: tuple, groups: dict, templates: dict) -> tuple:
    """What the job of ``overrides`` (of ``shape``, choosing ``groups``: :func:`_shape`) is derived from
    (:func:`_job_config`), kept in ``templates`` by shape: the first config composed for a job of its shape
    (``config``), and the node of each option of its shape's config groups from the configs composed for
    them (``nodes``, by (group, option); where Hydra chose that option). Composed now for ``overrides`` when
    there is none, or when it lacks one of the job's options: (that, the config composed now or None)."""
    template, config = templates.get(shape), None
    if _lacks(template, groups):
        config = loader.load_sweep_config(master, overrides)
        template = templates.setdefault(shape, {"config": config, "nodes": {}})
        for group, option in groups.items():
            if config.hydra.runtime.choices.get(group) == option:
                template["nodes"].setdefault((group, option), config[group])
    return template, config


def _lacks(template: Optional[dict], groups: dict) -> bool:
    """Whether a job choosing ``groups`` cannot be derived from ``template`` (none yet, or an option's node
    missing): it needs a composition of its own."""
    return template is None or any(choice not in template["nodes"] for choice in groups.items())


def _shape(loader, master, overrides: List[str]) -> tuple:
    """A job's parsed overrides, its shape and its choices of simple config group options ({group: option}).
    The shape: the keys of its plain-value overrides, ``group=`` for those choices, and the whole text of
    the others (additions, Hydra settings, other group choices). Jobs of one shape differ only in plain values
    and simple options."""
    parsed = [_parsed(o) for o in overrides]
    choices = master.hydra.runtime.choices
    kinds, groups = [], {}
    for o in parsed:
        if o.type != OverrideType.CHANGE or o.package is not None or o.is_hydra_override():
            kinds.append(o.input_line)
        elif o.key_or_group in choices:
            option = o.value()
            if isinstance(option, str) and _simple_option(loader, o.key_or_group, option):
                kinds.append(o.key_or_group + "=")
                groups[o.key_or_group] = option
            else:
                kinds.append(o.input_line)
        elif _repository_has_group(loader.repository, o.key_or_group):
            kinds.append(o.input_line)
        else:
            kinds.append(o.key_or_group)
    return parsed, tuple(kinds), groups


# Kept by the composing process (or the launcher's) rather than asked again for every job: an override's
# parse, and what the config repository says of a group or option (each a look-up in the config sources).
@functools.lru_cache(maxsize=None)
def _parsed(override: str):
    [parsed] = _parser().parse_overrides([override])
    return parsed


@functools.lru_cache(maxsize=None)
def _parser() -> OverridesParser:
    return OverridesParser.create()


@functools.lru_cache(maxsize=None)
def _repository_has_group(repository, group: str) -> bool:
    return repository.group_exists(group)


def _simple_option(loader, group: str, option: str) -> bool:
    """Whether ``option`` of top-level config ``group`` is one yaml or structured config that only fills its
    group's node: no defaults list of its own, no package header, not a schema; choosing it then changes
    that node and the record of choices, nothing else."""
    return "/" not in group and not group.startswith("hydra") and _fills_its_node(loader.repository, group, option)


@functools.lru_cache(maxsize=None)
def _fills_its_node(repository, group: str, option: str) -> bool:
    with contextlib.suppress(Exception):  # (an option that does not load fails its job, composed)
        found = repository.load_config(f"{group}/{option}")
        return (found is not None and not found.defaults_list and found.header.get("package") is None
                and not found.is_schema_source)
    return False


def _numbered(job_config, num: int):
    with open_dict(job_config):
        job_config.hydra.job.id = num
        job_config.hydra.job.num = num
    return job_config


@dataclass
class _Prepared:
    """A job as Hydra's ``run_job`` prepares it before calling the task: its config with
    ``hydra.runtime.output_dir`` set, the singleton's view of it (``HydraConfig.instance().cfg``), and the
    copies ``run_job`` hands to the task and to its ``JobReturn``. Pickled as one, so that ``hydra_view``
    keeps pointing into ``config``."""

    config: object
    hydra_view: object
    task_cfg: object
    hydra_cfg: object


def _prepared(job_config) -> _Prepared:
    """What ``run_job`` computes before it runs the task, computed here."""
    # While the job's folder is resolved, the ``hydra:`` resolver reads the job's own node, as run_job has it
    # read set_config's copy of it (the same values): one copy of the Hydra node a job, not two (a copy is
    # most of the cost of preparing a job). (This forked process's copy of the singleton.)
    HydraConfig.instance().cfg = job_config
    out = Path(str(OmegaConf.select(job_config, "hydra.sweep.dir")), str(OmegaConf.select(job_config, "hydra.sweep.subdir")))
    with read_write(job_config.hydra.runtime), open_dict(job_config.hydra.runtime):
        job_config.hydra.runtime.output_dir = os.path.abspath(out)
    HydraConfig.instance().set_config(job_config)
    task = copy.deepcopy(job_config, {id(job_config._get_node("hydra")): DictConfig({})})  # (not the Hydra node it drops)
    with read_write(task), open_dict(task):
        del task["hydra"]
    # The JobReturn's Hydra config is set_config's copy itself, which run_job copies once more: nothing
    # changes it once the job is prepared (it is read-only), and a copy was a fifth of a job's preparing.
    view = HydraConfig.instance().cfg
    return _Prepared(job_config, view, task, view)


class _OmegaConfCDumper(getattr(yaml, "CDumper", yaml.Dumper)):
    """OmegaConf's YAML dumper on libyaml's emitter (where PyYAML has it): the same text, in a third of the time."""


for _type, _represent in get_omega_conf_dumper().yaml_representers.items():
    _OmegaConfCDumper.add_representer(_type, _represent)


def _yaml(cfg) -> str:
    """``OmegaConf.to_yaml(cfg)`` (the text Hydra writes to a job's ``.hydra/`` files), with :class:`_OmegaConfCDumper`."""
    return yaml.dump(OmegaConf.to_container(cfg, resolve=False, enum_to_str=True), Dumper=_OmegaConfCDumper,
                     default_flow_style=False, allow_unicode=True, sort_keys=False)


def _saved(job: _Prepared) -> _Prepared:
    """``job``, its ``.hydra/`` files written as ``run_job`` writes them (``config.yaml``, ``hydra.yaml``,
    ``overrides.yaml``: the same text)."""
    config = job.config
    if config.hydra.output_subdir is not None:
        folder = Path(config.hydra.runtime.output_dir) / config.hydra.output_subdir
        folder.mkdir(parents=True, exist_ok=True)
        for name, node in (("config.yaml", job.task_cfg), ("hydra.yaml", job.hydra_cfg),
                           ("overrides.yaml", config.hydra.overrides.task)):
            (folder / name).write_text(_yaml(node), encoding="utf-8")
    return job


class _Ahead:
    """Job configs composed in a background process; ``get(idx)`` is one if it is ready, else None."""

    def __init__(self, loader, config, jobs: Sequence[Sequence[str]], first_num: int, validate: Sequence[int]):
        import multiprocessing

        self.ready: dict = {}
        self.proc = None
        if len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=False)
        self.wanted = ctx.Value("i", 0, lock=False)  # the first job not composed here
        self.proc = ctx.Process(target=_compose_ahead,
                                args=(loader, config, jobs, first_num, child, self.wanted, list(validate)), daemon=True)
        self.proc.start()
        child.close()

    def _receive(self, until, within: Optional[float] = None) -> bool:
        """Take what the composing process sends until ``until`` has come: True. False if it ends first, if
        ``within`` seconds pass (when given), or else if it gets too little CPU to be worth waiting for (a
        busy machine: at nice 10 it yields to everything)."""
        from kqbench.measure import CpuProgress

        deadline = None if within is None else time.monotonic() + within
        progress = CpuProgress(self.proc.pid, STARVED_SHARE, STARVED_CHECK_S) if deadline is None else None
        with contextlib.suppress(EOFError, OSError):
            while until not in self.ready:
                if self.conn.poll(0.05 if deadline is None else max(0.0, deadline - time.monotonic())):
                    i, blob = self.conn.recv()
                    self.ready[i] = blob
                elif deadline is not None or progress.starved():
                    return False
            return True
        return False

    def validated(self) -> bool:
        """Whether every job the sweeper chose composed (waits for them); False when that is unknown."""
        if self.proc is None or not self._receive(until=_VALIDATED):
            return False
        return bool(self.ready.pop(_VALIDATED))

    def get(self, idx: int) -> Optional[_Prepared]:
        """Job ``idx``, prepared, if the composing process has it ready (or sends it within JOB_WAIT_S);
        else None, and that process skips it: the caller composes it meanwhile (two cores composing
        beat one composing and one waiting, where short jobs follow each other), or reports its error."""
        if self.proc is None:
            return None
        self.wanted.value = idx
        self._receive(until=idx, within=JOB_WAIT_S)
        for i in [i for i in self.ready if i < idx]:  # (jobs composed by the caller meanwhile)
            _forget(self.ready.pop(i))
        path = self.ready.pop(idx, None)
        if path is None:
            self.wanted.value = idx + 1
            return None
        job = pickle.loads(Path(path).read_bytes())
        _forget(path)
        return job

    def close(self) -> None:
        for path in self.ready.values():
            _forget(path)
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            with contextlib.suppress(OSError):  # (a stopped process acts on SIGTERM once continued)
                os.kill(self.proc.pid, signal.SIGCONT)
        if self.proc is not None:
            self.proc.join()
            self.conn.close()


def _forget(path) -> None:
    """Remove a prepared job's file (what the composing process sent; True for its validation)."""
    if isinstance(path, str):
        with contextlib.suppress(OSError):
            os.unlink(path)


class KqbenchLauncher(BasicLauncher):
    to_validate: Sequence[int] = ()  # set by KqbenchSweeper: jobs that must compose before any runs

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs locally")
        loader = self.hydra_context.config_loader
        ahead = _Ahead(loader, self.config, job_overrides, initial_job_idx, self.to_validate)
        from kqbench.measure import pause_while_timed  # (and what every job imports: while it composes)

        runs: List[JobReturn] = []
        templates: dict = {}  # (_job_config's, for the jobs composed here)
        try:
            if not ahead.validated():  # compose them here: the first that fails raises Hydra's own error
                for i in self.to_validate:
                    loader.load_sweep_config(self.config, list(job_overrides[i]))
            if ahead.proc is not None:
                pause_while_timed(ahead.proc)
            for i, overrides in enumerate(job_overrides):
                idx = initial_job_idx + i
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                job = ahead.get(i) or _saved(_prepared(_numbered(
                    _job_config(loader, self.config, list(overrides), templates), idx)))
                runs.append(_run_prepared(self.hydra_context, self.task_function, job))
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        finally:
            ahead.close()
        return runs


def _run_prepared(hydra_context, task_function, job: _Prepared) -> JobReturn:
    """Hydra's ``run_job`` on a prepared job (:func:`_prepared`): the same steps from the output folder
    on (working directory, job logging, callbacks, the task, its ``JobReturn``), without composing,
    copying or saving its config again."""
    config, hydra_cfg = job.config, job.hydra_cfg
    old_cwd, orig_hydra_cfg = os.getcwd(), HydraConfig.instance().cfg
    HydraConfig.instance().cfg = job.hydra_view
    chdir = hydra_cfg.hydra.job.chdir
    if chdir is None:  # (unset: what run_job does for the version_base in use)
        chdir = not version.base_at_least("1.2")
    output_dir = str(config.hydra.runtime.output_dir)
    try:
        ret = JobReturn(cfg=job.task_cfg, hydra_cfg=hydra_cfg, overrides=OmegaConf.to_container(config.hydra.overrides.task))
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        if chdir:
            os.chdir(output_dir)
        ret.working_dir = os.getcwd()
        configure_log(config.hydra.job_logging, config.hydra.verbose)
        with env_override(hydra_cfg.hydra.job.env_set):
            hydra_context.callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(job.task_cfg)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        hydra_context.callbacks.on_job_end(config=config, job_return=ret)
        return ret
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg
        if chdir:
            os.chdir(old_cwd)
