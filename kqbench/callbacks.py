"""Hydra callbacks: what happens around the jobs of a sweep.

- At the start: ``environment.json``, and work that would otherwise make a job wait is started in
  the background: compiling the quantizers that compile on first use (numba), paused while a quantizer
  is timed (:meth:`SweepCallback._compile_ahead`); with a launcher that runs the jobs in this process,
  as its first job starts (the configs are checked and the classes imported by then).
- While jobs run: a progress line per job with an estimate of the time left, and a provisional
  ``report.md`` rendered in the background from the rows measured so far (marked provisional, with
  what is still to run), so the first answer does not wait for the slowest configuration.
- At the end: the rows are gathered from the sweep folder, not from memory (so this works the same
  for every launcher: in-process, joblib, submitit), the final report is written, and where the
  sweep's time went is printed and kept in ``environment.json`` (timed work vs harness).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import logging
import math
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from . import environment

log = logging.getLogger("kqbench")

_N_JOBS_ENV = "KQBENCH_N_JOBS"  # inherited by launcher worker processes
# launchers that run the jobs one at a time in this process
IN_PROCESS_LAUNCHERS = ("KqbenchLauncher", "BasicLauncher")
BACKGROUND_NICE = 10  # the niceness of the compile and the config composing beside an in-process launcher
LATER_REPORTS_NICE = 19  # the reporter's, once it has written the first answer: behind both of those
PROVISIONAL_EVERY_S = 20.0  # a provisional report at most this often (it renders in the background)
FINAL_SOON_S = 10.0  # none when the jobs left should take less than this: the final report is near
# At the end, how long the final report waits for a provisional one still rendering (its process then
# renders the final one too); past that, the process is stopped and the final report rendered here.
REPORTER_WAIT_S = 30.0


def sweep_values(config: DictConfig) -> dict[str, list[str]] | None:
    """The values each swept key takes (sweep params, then command-line overrides win), or None when
    the sweep uses a form this does not read (another sweeper)."""
    try:
        params = config.hydra.sweeper.get("params") or {}
        lines = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
        values: dict[str, list[str]] = {}
        for o in OverridesParser.create().parse_overrides(lines):
            key = o.get_key_element()
            values[key] = list(o.sweep_string_iterator()) if o.is_sweep_override() \
                else [o.get_value_element_as_str()]
        return values
    except Exception:  # another sweeper, or a sweep form we do not read: no total, no compile ahead
        return None


def _reports(config: DictConfig) -> bool:
    """Whether the sweep writes a report (``report.enabled``): then provisional ones too."""
    return bool(OmegaConf.select(config, "report.enabled", default=True))


def _in_process(config: DictConfig) -> bool:
    """Whether the sweep's launcher runs its jobs in this process, one at a time."""
    return str(config.hydra.launcher.get("_target_", "")).endswith(IN_PROCESS_LAUNCHERS)


def count_jobs(config: DictConfig) -> int | None:
    """How many jobs the basic sweeper will launch."""
    values = sweep_values(config)
    return math.prod(len(v) for v in values.values()) if values else None


# Run first in a background process: lowest CPU priority (SCHED_IDLE where there is one). Set by the
# child itself, so that starting it needs no fork-time hook (a hook forces a full fork of this process).
_IDLE = ("import contextlib, os\ntry:\n    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
         "except (AttributeError, OSError):\n    with contextlib.suppress(OSError):\n        os.nice(19)\n")


# Else, with an in-process launcher: below the sweep's own process (nice 10; paused while a quantizer is
# timed), so that where two background processes and the sweep's single-threaded harness want the two
# cores of a small machine, the sweep keeps one to itself.
_BEHIND = f"import contextlib, os\nwith contextlib.suppress(AttributeError, OSError):\n    os.nice({BACKGROUND_NICE})\n"


_PRIORITY = {"idle": _IDLE, "behind": _BEHIND, "normal": ""}


def _background(code: str, args: list[str], priority: str = "idle", **kwargs) -> subprocess.Popen:
    """``python -c CODE ARGS`` at ``priority`` (``idle``, ``behind`` this process, or ``normal``), detached from
    this process's output."""
    streams = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return subprocess.Popen([sys.executable, "-c", _PRIORITY[priority] + code, *args], **{**streams, **kwargs})


def _compile_in_fork(lock: str, stages: list[str], priority: str) -> None:
    """In a process forked from the sweep's: compile the ``class:stage`` ``stages`` (see
    :func:`kqbench.measure.compile_in_background`) at ``priority``, detached from the sweep's output. Forked,
    it starts with the modules the sweep has imported: a new interpreter spent about 1.9 CPU-s importing
    scikit-learn, numba and Hydra again before it compiled anything, on the one core the sweep's fits leave
    the compile now and then. (The child runs no OpenMP code: a fork of a process whose scikit-learn fits
    have started OpenMP's threads could not.)"""
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
    exec(_PRIORITY[priority])
    from .measure import compile_in_background

    compile_in_background(lock, [(get_class(path), stage) for path, stage in (s.rsplit(":", 1) for s in stages)])


def _compile_stages(config: DictConfig, values: dict[str, list[str]] | None) -> list[str]:
    """``class:stage`` for each stage of compiled code the sweep's quantizers need (their
    :meth:`compile_needs` for the option's parameters and each swept ``quantizer.*`` value), in the
    order their jobs run."""
    values = values or {}
    names = values.get("quantizer") or [config.hydra.runtime.choices.get("quantizer")]
    swept = {key.split(".", 1)[1]: [yaml.safe_load(v) for v in vs] for key, vs in values.items()
             if key.startswith("quantizer.") and vs}
    stages = []
    for name in names:
        with contextlib.suppress(Exception):  # an unknown option fails its own jobs, later
            option = OmegaConf.to_container(OmegaConf.load(_option_file(config, "quantizer", name)))
            path = option.pop("_target_")
            cls = get_class(path)
            if not cls.compile_stages:
                continue
            base = {**option, **{key: vs[0] for key, vs in swept.items()}}
            variants = [base] + [{**base, key: v} for key, vs in swept.items() for v in vs[1:]]
            for params in variants:
                try:
                    needs = cls(**params).compile_needs()
                except Exception:  # parameters only the job resolves: every stage
                    needs = cls.compile_stages
                stages += [f"{path}:{stage}" for stage in needs]
    return list(dict.fromkeys(stages))


def _option_file(config: DictConfig, group: str, name: str) -> Path:
    """The yaml file of option ``name`` of ``group``, from the sweep's config sources (packages, folders)."""
    from importlib import resources

    for source in config.hydra.runtime.config_sources:
        if source.schema == "pkg":
            base = Path(str(resources.files(source.path)))
        elif source.schema == "file":
            base = Path(source.path)
        else:
            continue
        if (base / group / f"{name}.yaml").is_file():
            return base / group / f"{name}.yaml"
    raise FileNotFoundError(f"{group}/{name}.yaml")


class SweepCallback(Callback):
    """Environment and background work at the start; progress and provisional reports while jobs run;
    the table, the final report and the time breakdown at the end."""

    def __init__(self, results_dir: str = "results") -> None:
        self.results_dir = results_dir
        # the sweep's wall time starts where the entry point was loaded (imports included) or called, on
        # the monotonic clock (a process's start time read from /proc once came out 30 s early, on the
        # first run after an install on a virtual machine, and a wall-clock step would do the same)
        self._t0 = environment.sweep_started or time.monotonic()
        self._first_job = None
        self._compile_wait_s0 = 0.0
        self._frozen = False
        self._done = 0
        self._jobs_s = 0.0  # summed wall time inside jobs (in-process launcher only)
        self._total = None
        self._compiling: multiprocessing.Process | None = None
        self._reporter: _Reporter | None = None  # renders the provisional reports, then the final one
        self._provisional_at = -math.inf
        self._job_t0 = None
        self._values: dict[str, list[str]] | None = None
        self._started: set[tuple] = set()

    def __getstate__(self) -> dict:
        # launchers pickle the callbacks into their workers; background processes stay with this one
        return {**self.__dict__, "_compiling": None, "_reporter": None}

    # --- start ------------------------------------------------------------------------------------------

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / "environment.json").write_text(json.dumps(environment.collect(), indent=2))
        values = self._values = sweep_values(config)
        self._total = math.prod(len(v) for v in values.values()) if values else None
        if self._total:
            os.environ[_N_JOBS_ENV] = str(self._total)
        if not _in_process(config):  # (in this process, at the first job: see on_job_start)
            self._compile_ahead(config, sweep_dir, _compile_stages(config, values))
        log.info("kqbench sweep: %s configurations -> %s", self._total or "?", sweep_dir)

    def _compile_ahead(self, config: DictConfig, sweep_dir: Path, stages: list[str]) -> None:
        """Start compiling, in the background, the ``class:stage`` stages of the quantizers of the sweep
        that compile on first use; a job that needs one waits for its stage (kqbench.measure) instead of
        compiling it again.

        With an in-process launcher the compile runs at nice 10 and is paused while a quantizer is timed
        (:func:`kqbench.measure.pause_while_timed`): on the core the timed fits leave free it comes after the
        sweep's own process and its first report, before later provisional reports (:class:`_Reporter`).
        With a launcher that runs jobs side by side or elsewhere, whose pauses would not add up, it runs at
        idle priority."""
        if not stages:
            return
        try:
            import fcntl
        except ImportError:  # no file locks here (Windows): each job compiles on first use, as before
            return
        from .measure import COMPILE_LOCK_ENV, pause_while_timed, set_up_compiler

        lock = sweep_dir / ".compiling"
        Path(f"{lock}.done").unlink(missing_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held by the child (it inherits the descriptor) until it exits
        in_process = _in_process(config)
        priority = "behind" if in_process else "idle"
        set_up_compiler()  # (inherited by the fork)
        # (fork is there wherever fcntl is; the child inherits the lock's descriptor)
        self._compiling = multiprocessing.get_context("fork").Process(
            target=_compile_in_fork, args=(str(lock), stages, priority), daemon=True)
        self._compiling.start()
        if in_process:
            pause_while_timed(self._compiling)
        os.ftruncate(fd, 0)
        os.write(fd, str(self._compiling.pid).encode())  # a waiting job checks that it gets CPU time
        os.close(fd)
        os.environ[COMPILE_LOCK_ENV] = str(lock)

    # --- while jobs run ---------------------------------------------------------------------------------

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        hc = config.hydra
        if hc.mode is None or str(hc.mode) != "RunMode.MULTIRUN":
            return
        now = time.monotonic()
        if hc.job.num == 0:  # configs validated, work begins: an interrupted sweep can be resumed
            self._point_latest_at(Path(hc.sweep.dir))
            if _in_process(config):  # its classes are imported by now, and the config checks no longer need the core
                self._compile_ahead(config, Path(hc.sweep.dir), _compile_stages(config, self._values))
        if self._first_job is None:  # (a process may run several sweeps: what this one waits from here)
            self._compile_wait_s0 = _compile_wait_s()
        self._first_job = self._first_job or now
        self._job_t0 = now
        self._started.add(tuple(sorted(hc.overrides.task)))
        total = os.environ.get(_N_JOBS_ENV, "?")
        num = hc.job.num + 1
        remaining = ""
        if total != "?":
            left = int(total) - num
            remaining = f", {left} to go"
            if self._done and left > 0:  # the mean job so far, times the jobs left
                remaining += f", about {_duration((now - self._first_job) / self._done * (left + 1))} left"
        log.info("[%s/%s%s] %s", num, total, remaining, " ".join(hc.overrides.task) or "(defaults)")

    def on_job_end(self, config: DictConfig, job_return=None, **kwargs) -> None:
        now = time.monotonic()
        self._done += 1
        if self._job_t0 is not None:
            self._jobs_s += now - self._job_t0
            if self._done == 1 and _in_process(config):  # (see _freeze_what_is_loaded)
                _freeze_what_is_loaded()
                self._frozen = True
        # the first provisional report once the first quantization has every encoding of the sweep (its jobs
        # come first), then at most every PROVISIONAL_EVERY_S, unless the final one is due within seconds
        # (it would wait for a provisional one still rendering)
        first = len((self._values or {}).get("encoding", [None]))
        due = self._done == first or (self._done > first and now - self._provisional_at >= PROVISIONAL_EVERY_S)
        left_s = ((now - self._first_job) / self._done * (self._total - self._done)
                  if self._total and self._first_job is not None else math.inf)
        if self._total and self._done < self._total and due and left_s > FINAL_SOON_S and _reports(config):
            self._refresh_provisional(Path(config.hydra.sweep.dir), config)

    def _refresh_provisional(self, sweep_dir: Path, config: DictConfig) -> None:
        if self._reporter is None:
            self._reporter = _Reporter(idle=not _in_process(config))
        progress = f"{self._done}/{self._total} {self._pending()}".strip()
        if self._reporter.ask(sweep_dir=str(sweep_dir), provisional=progress):  # (not while the last one renders)
            self._provisional_at = time.monotonic()

    def _pending(self) -> str:
        """The configurations not started yet, per swept key: ``quantizer=kmeans,fast k=256 (20 configurations)``."""
        if not self._values:
            return ""
        keys = list(self._values)
        left = [combo for combo in itertools.product(*self._values.values())
                if tuple(sorted(f"{k}={v}" for k, v in zip(keys, combo))) not in self._started]
        if not left:
            return ""
        parts = []
        for i, key in enumerate(keys):
            values = list(dict.fromkeys(combo[i] for combo in left))
            if len(self._values[key]) > 1:
                parts.append(f"{key}={','.join(values)}" if len(values) < len(self._values[key]) else f"every {key}")
        return f"{' '.join(parts)} ({len(left)} configurations)"

    # --- end --------------------------------------------------------------------------------------------

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        try:
            self._finish(Path(config.hydra.sweep.dir), config)
        finally:
            if self._frozen:  # given back: a process that runs sweep after sweep keeps no cycle of a finished one
                gc.unfreeze()
                self._frozen = False

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        self._finish(Path(config.hydra.runtime.output_dir), config)

    def _finish(self, out_dir: Path, config: DictConfig) -> None:
        if self._compiling is not None and self._compiling.is_alive():
            self._compiling.kill()  # (SIGKILL: a compile paused by an interrupted job would not act on SIGTERM)
            self._compiling.join()
        reporter, self._reporter = self._reporter, None
        if reporter is not None and not reporter.idle(wait=REPORTER_WAIT_S):  # nothing may write after the final
            reporter.close()
            reporter = None
        if self._compiling is not None:
            from .measure import COMPILE_LOCK_ENV

            for path in (out_dir / ".compiling", out_dir / ".compiling.done"):
                path.unlink(missing_ok=True)
            os.environ.pop(COMPILE_LOCK_ENV, None)
        end_of_jobs = time.monotonic()
        self._update_environment(out_dir, thread_pools=environment.thread_pools())
        from .table import aggregate, timed_seconds  # (pandas: not before the launcher's config composer is started)

        df, parquet = aggregate(out_dir)
        report = self._report(out_dir, config, reporter) if len(df) else None
        if reporter is not None:
            reporter.close()
        self._point_latest_at(out_dir)
        breakdown = self._breakdown(timed_seconds(df), end_of_jobs)
        self._update_environment(out_dir, time={k: round(v, 3) for k, v in breakdown.items()})
        ok = int((df["status"] == "ok").sum()) if len(df) else 0
        print(f"\nkqbench: {len(df)} rows ({ok} ok, {len(df) - ok} not ok) in {breakdown['wall_s']:.1f} s\n"
              f"  time:   {_describe(breakdown)}\n"
              f"  table:  {parquet}\n          {parquet.with_suffix('.csv')}")
        if report:
            print(f"  report: {report}")
        if len(df) - ok:
            bad = df[df["status"] != "ok"].groupby(["status", "error"], dropna=False).size()
            for (status, error), n in list(bad.items())[:10]:
                print(f"  {n} row(s) {status}: {error}")
            if len(bad) > 10:
                print(f"  ... {len(bad) - 10} more kinds of error: see the status and error columns")

    def _breakdown(self, timed: float, end_of_jobs: float) -> dict:
        """Where the sweep's wall time went: the table's ``timed`` work (fit and assign of the quantizations
        computed here, every encode) and the rest (the harness), split into start, between and after
        the jobs where this process saw them."""
        now = time.monotonic()
        wall = now - self._t0
        out = {"wall_s": wall, "timed_s": timed, "end_s": now - end_of_jobs}
        if self._first_job is not None:  # jobs ran one at a time in this process: where the harness time went
            out.update(harness_s=wall - timed, harness_share=(wall - timed) / wall if wall > 0 else math.nan,
                       start_s=self._first_job - self._t0, in_jobs_s=self._jobs_s,
                       compile_wait_s=_compile_wait_s() - self._compile_wait_s0,
                       between_jobs_s=end_of_jobs - self._first_job - self._jobs_s)
        return out

    @staticmethod
    def _update_environment(out_dir: Path, **entries) -> None:
        path = out_dir / "environment.json"
        try:
            env = json.loads(path.read_text())
        except (OSError, ValueError):
            env = {}
        path.write_text(json.dumps({**env, **entries}, indent=2))

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
    def _report(out_dir: Path, config: DictConfig, reporter: _Reporter | None = None) -> Path | None:
        """The final report: rendered by the sweep's reporter when it has one (its imports done), else here."""
        opts = OmegaConf.to_container(config.get("report") or {}, resolve=True)
        if not opts.pop("enabled", True):
            return None
        answer = reporter.render(sweep_dir=str(out_dir), **opts) if reporter is not None else None
        if answer is not None and "report" in answer:
            return Path(answer["report"])
        error = answer.get("error") if answer is not None else None
        if error is None:  # no reporter, or it ended without an answer: render here
            try:
                from .report import render

                return render(out_dir, **opts)
            except Exception as exc:  # the table is written already; a plotting problem must not hide it
                error = f"{type(exc).__name__}: {exc}"
        log.error("report not written (%s); retry with: kqbench report %s", error, out_dir)
        return None


class _Reporter:
    """The sweep's report renderer (:mod:`kqbench.report.serve`) in a background process, started with the
    first provisional report: later ones, and the final report, then pay no imports. Beside an in-process
    launcher it runs at normal priority until its first report is written (the sweep's first answer), then
    at nice 19, behind the background compile and the config composing (nice 10), which jobs wait for (the
    final report, rendered when they are done, has a core anyway); paused while a quantizer is timed. At
    idle priority (``idle``) with a launcher that runs the jobs elsewhere. Its answers are read by a thread,
    so asking never blocks a job."""

    def __init__(self, idle: bool):
        import queue
        import threading

        code = f"from kqbench.report.serve import serve\nserve(nice_after_first={0 if idle else LATER_REPORTS_NICE})\n"
        self.proc = _background(code, [], "idle" if idle else "normal", stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        if not idle:
            from .measure import pause_while_timed

            pause_while_timed(self.proc)
        self.answers: queue.Queue = queue.Queue()
        self.pending = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.answers.put(json.loads(line))
        self.answers.put(None)  # it ended

    def idle(self, wait: float = 0.0) -> bool:
        """Whether it is up and rendering nothing now (or within ``wait`` seconds)."""
        import queue

        deadline = time.monotonic() + wait
        while self.pending:
            try:
                answer = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if answer is None:
                return False
            self.pending -= 1
        return self.proc.poll() is None

    def ask(self, **request) -> bool:
        """Send ``request`` (:func:`kqbench.report.render`'s arguments) if it is idle; whether it was sent."""
        if not self.idle():
            return False
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError:
            return False
        self.pending += 1
        return True

    def render(self, **request) -> dict | None:
        """Render ``request`` and wait: its answer (``report`` or ``error``), or None if it ended first."""
        if not self.ask(**request):
            return None
        answer = self.answers.get()
        self.pending -= answer is not None
        return answer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _describe(b: dict) -> str:
    if "harness_s" not in b:  # the launcher ran the jobs elsewhere, maybe side by side: no one harness figure
        return (f"timed work {b['timed_s']:.1f} s (fit, assign, encode) in the launcher's jobs, "
                f"{b['timed_s'] / b['wall_s']:.2f} s per second of wall time; {b['end_s']:.1f} s for the table "
                f"and report")
    return (f"timed work {b['timed_s']:.1f} s (fit, assign, encode), harness {b['harness_s']:.1f} s "
            f"({100 * b['harness_share']:.0f}%): {b['start_s']:.1f} s before the first job, "
            f"{b['in_jobs_s'] - b['timed_s']:.1f} s in jobs around the timed calls{_of_it_compiling(b)}, "
            f"{b['between_jobs_s']:.1f} s between jobs, {b['end_s']:.1f} s for the table and report")


def _freeze_what_is_loaded() -> None:
    """Leave the objects that exist once the first job has run (the modules of scikit-learn, scikit-image,
    numba, pandas, Hydra, the sweep's configs) out of the garbage collector's later passes, which went through
    all of them each time: in the default sweep's process full passes of 65-100 ms, 0.49 s in all, between
    jobs or inside a timed call; 21-35 ms once they are left out, 0.29 s with this collection. Collected once
    first, so that no garbage is kept; the sweep's end gives them back (``gc.unfreeze``)."""
    gc.collect()
    gc.freeze()


def _compile_wait_s() -> float:
    """Seconds this process's jobs have waited for compiled code so far (:data:`kqbench.measure.compile_wait_s`)."""
    return getattr(sys.modules.get("kqbench.measure"), "compile_wait_s", 0.0)


def _of_it_compiling(b: dict) -> str:
    waited = b.get("compile_wait_s", 0.0)
    return f" ({waited:.1f} s of it waiting for first-use numba code)" if waited >= 0.05 else ""
