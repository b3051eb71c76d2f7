"""kqbench under a real SLURM scheduler: ``hydra/launcher=slurm`` on a single-node cluster on this machine.

``.ci/run`` brings the cluster up around the tests with ``.ci/slurm.sh up`` (munged, MariaDB + slurmdbd,
slurmctld, slurmd; one node with 2 CPUs, partition ``ci``) and tears it down afterwards. Without that
cluster these tests skip, with the reason ``.ci/slurm.sh`` recorded when it could not start one.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from kqbench.__main__ import main as kqbench_main
from kqbench.table import collect, read_job
from helpers import TIMING
from sweeps import run

DIR = Path(os.environ.get("KQBENCH_SLURM_DIR", "/run/kqbench-slurm"))  # as in .ci/slurm.sh
PARTITION = "ci"
# 2 quantizers x 2 encodings = 4 jobs of 3 tiny images each
GRID = ["dataset=synthetic", "dataset.width=48", "dataset.height=32", "report.enabled=false", "k=4",
        "quantizer=sampled,kmeans", "encoding=rgb24,png8_pillow", "cache=false"]
JOBS, IMAGES = 4, 3
# one CPU per job: 2 jobs at a time on the 2-CPU node
SLURM = ["hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=5"]
FINAL = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"}


def _unavailable() -> str | None:
    """Why there is no cluster to test with, or None."""
    if (DIR / "unavailable").is_file():
        return f"SLURM could not start on this machine (.ci/slurm.sh up): {(DIR / 'unavailable').read_text().strip()}"
    if not (DIR / "slurm.conf").is_file():
        return f"no single-node SLURM in {DIR}: start one with .ci/slurm.sh up (as root; .ci/run does)"
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:
        return 'needs hydra-submitit-launcher: pip install ".[test]"'
    proc = subprocess.run(["sinfo", "-h", "-p", PARTITION, "-o", "%T"], capture_output=True, text=True,
                          env={**os.environ, "SLURM_CONF": str(DIR / "slurm.conf")}, timeout=30)
    if proc.returncode or not {"idle", "mixed", "allocated"} & set(proc.stdout.split()):
        return f"the SLURM in {DIR} does not answer: sinfo: {(proc.stdout + proc.stderr).strip()!r}"
    return None


@pytest.fixture
def slurm(monkeypatch):
    """This machine's SLURM, for every command (sbatch, sacct, scancel) and sweep the test starts."""
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("SLURM_CONF", str(DIR / "slurm.conf"))
    return DIR


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The serial table of a grid (in-process, the basic launcher), computed once per grid."""
    tables = {}

    def of(grid: tuple[str, ...]) -> pd.DataFrame:
        if grid not in tables:
            tables[grid], _, _ = run(tmp_path_factory.mktemp("serial"), *grid)
            assert (tables[grid]["status"] == "ok").all()
        return tables[grid]
    return of


def arrays(sweep_dir: Path) -> dict[str, list[int]]:
    """The job arrays of a sweep (submitit's folders ``.submitit/<array>_<task>``): array id -> task indices."""
    out: dict[str, list[int]] = {}
    for folder in (sweep_dir / ".submitit").iterdir():
        if m := re.fullmatch(r"(\d+)_(\d+)", folder.name):
            out.setdefault(m[1], []).append(int(m[2]))
    return {a: sorted(t) for a, t in out.items()}


def jobs(sweep_dir: Path) -> list[str]:
    """SLURM ids of a sweep's jobs, ``<array>_<task>`` (a sweep of one job is a plain job: ``<job>``)."""
    return sorted(p.name.removesuffix("_submitted.pkl") for p in (sweep_dir / ".submitit").glob("*/*_submitted.pkl"))


def sacct(job: str, expect: set[str] = frozenset(), timeout: float = 90) -> list[dict]:
    """``sacct`` lines of a job or job array (its tasks and their steps) once every task listed has ended and
    every id in ``expect`` is listed; also printed."""
    fields = "JobID,JobName,Partition,AllocCPUS,State,ExitCode,Start,End,Elapsed,NodeList"
    deadline = time.time() + timeout
    while True:
        out = subprocess.run(["sacct", "-j", job, "--parsable2", "-o", "JobID,State"], capture_output=True,
                             text=True, check=True).stdout.splitlines()[1:]
        rows = dict(line.split("|", 1) for line in out)
        states = [state.split()[0] for id_, state in rows.items() if "." not in id_]  # "CANCELLED by 0"
        if states and set(states) <= FINAL and expect <= rows.keys() or time.time() > deadline:
            break
        # slurmctld sends a job's end, and an array task's own record, to slurmdbd a moment after the job
        # ends: CI once listed tasks 0, 1 and 3 of 4 as COMPLETED before task 2 was listed at all
        time.sleep(0.5)
    print(subprocess.run(["sacct", "-j", job, "-o", fields.replace("JobID", "JobID%12")], capture_output=True,
                         text=True).stdout)
    lines = subprocess.run(["sacct", "-j", job, "--parsable2", "-o", fields], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    names = lines[0].split("|")
    return [dict(zip(names, line.split("|"))) for line in lines[1:]]


def tasks(lines: list[dict]) -> dict[str, str]:
    """Job or task -> state (``CANCELLED by 0`` -> ``CANCELLED``), without the steps."""
    return {row["JobID"]: row["State"].split()[0] for row in lines if "." not in row["JobID"]}


def start(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    """``python -m kqbench OVERRIDES`` into ``tmp_path/results``, in the background."""
    cmd = [sys.executable, "-m", "kqbench", *overrides, f"results_dir={tmp_path / 'results'}"]
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_rows(proc: subprocess.Popen, tmp_path: Path, job: int, rows: int = 1) -> Path:
    """Wait until job ``job`` of the sweep has written ``rows`` rows; its sweep folder."""
    deadline = time.time() + 180
    while True:
        assert proc.poll() is None, f"the sweep ended too early:\n{proc.stdout.read()[-3000:]}"
        assert time.time() < deadline, f"job {job} did not write {rows} rows in 180 s"
        found = [d for d in (tmp_path / "results").glob(f"*/*/{job}") if (d / "files").is_dir()]
        if found and len(read_job(found[0])) >= rows:
            return found[0].parent
        time.sleep(0.05)


def on_disk(sweep_dir: Path) -> pd.DataFrame:
    """Every row the sweep's jobs have written so far."""
    return collect(sweep_dir)


def assert_kept(kept: pd.DataFrame, table: pd.DataFrame) -> None:
    """Every row of ``kept`` is in ``table`` as it was, timings included: reused, not measured again."""
    key = ["image", "quantizer", "k", "encoding", "seed"]
    kept = kept.set_index(key)
    pd.testing.assert_frame_equal(kept, table.set_index(key).loc[kept.index, kept.columns], check_dtype=False)


def test_sweep_is_a_job_array_under_slurmd_that_gives_the_serial_table(slurm, serial, tmp_path):
    t0 = time.time()
    df, sweep_dir, out = run(tmp_path, *GRID, *SLURM, cli=True)
    took = time.time() - t0

    pd.testing.assert_frame_equal(serial(tuple(GRID)).drop(columns=TIMING), df.drop(columns=TIMING))
    assert f"kqbench: {JOBS * IMAGES} rows ({JOBS * IMAGES} ok, 0 not ok)" in out
    # one sbatch: one job array, a task per Hydra job, in Hydra's order
    [(array, indices)] = arrays(sweep_dir).items()
    assert indices == list(range(JOBS))
    lines = sacct(array, expect={f"{array}_{i}{step}" for i in range(JOBS) for step in ("", ".0")})
    node = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    assert tasks(lines) == {f"{array}_{i}": "COMPLETED" for i in range(JOBS)}
    for i in range(JOBS):  # each task's job ran as a step (srun) on the node: under slurmd
        [step] = [row for row in lines if row["JobID"] == f"{array}_{i}.0"]
        assert step["JobName"] == Path(sys.executable).name and step["State"] == "COMPLETED"
        assert step["NodeList"] == node
        assert [row["Partition"] for row in lines if row["JobID"] == f"{array}_{i}"] == [PARTITION]
    # where README.md says each job's logs are: SLURM's output in .submitit/, kqbench's progress in <job>/
    for i in range(JOBS):
        slurm_log = (sweep_dir / ".submitit" / f"{array}_{i}" / f"{array}_{i}_0_log.out").read_text()
        assert f"Starting with JobEnvironment(job_id={array}_{i}, hostname={node}" in slurm_log
        assert "Job completed successfully" in slurm_log
        assert f"[{i + 1}/{JOBS}, {JOBS - 1 - i} to go]" in slurm_log
        assert f"[{i + 1}/{JOBS}, {JOBS - 1 - i} to go]" in (sweep_dir / str(i) / "kqbench.log").read_text()
    assert (sweep_dir / ".submitit" / array / f"{array}_submission.sh").is_file()
    print(f"SLURM sweep of {JOBS} jobs: {took:.1f} s")


def test_scancel_loses_no_finished_row_and_resume_finishes_through_slurm(slurm, serial, tmp_path):
    # 2 jobs of 5 tiny images, one job at a time: cancelled after job 0's first image, job 1 not started
    images = 5
    grid = [*GRID[:4], "dataset.kinds=[gradient,flat,noise,sprite,vignette]", "k=4", "quantizer=kmeans,sampled",
            "encoding=png8_pillow", "cache=false"]
    proc = start(tmp_path, *grid, *SLURM, "hydra.launcher.array_parallelism=1")
    sweep_dir = wait_for_rows(proc, tmp_path, job=0)
    [array] = arrays(sweep_dir)
    subprocess.run(["scancel", array], check=True)
    out = proc.communicate(timeout=180)[0]

    # the submitting process stops without a table; sacct says what happened (job 0 may finish its
    # images in the KillWait seconds between SIGTERM, which submitit ignores, and SIGKILL)
    assert proc.returncode != 0 and "CANCELLED" in out and not (sweep_dir / "results.parquet").exists(), out[-3000:]
    states = tasks(sacct(array, expect={f"{array}_0"}))  # (job 0 ran: accounting lists it, maybe late)
    # job 1 never started: sacct lists it CANCELLED, or (depending on timing) not at all
    assert states[f"{array}_0"] == "CANCELLED" and states.get(f"{array}_1", "CANCELLED") == "CANCELLED", states
    # every row finished before the job was killed is on disk, and kqbench table gathers them
    kept = on_disk(sweep_dir)
    assert 1 <= len(kept) <= images and (kept["status"] == "ok").all()
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        assert kqbench_main(["table", str(tmp_path / "results" / "latest")]) == 0
    assert f"{len(kept)} rows, {len(kept)} ok" in table.getvalue()
    print(f"after scancel: {len(kept)} of {2 * images} rows on disk")

    # resume=true: a second job array finishes the sweep in the same folder, without measuring a kept row
    # again (submitted from this process: its command line is the one above)
    df, resumed, _ = run(tmp_path, *grid, *SLURM, "resume=true")
    assert resumed == sweep_dir.resolve()
    pd.testing.assert_frame_equal(serial(tuple(grid)).drop(columns=TIMING), df.drop(columns=TIMING))
    [second] = [a for a in arrays(sweep_dir) if a != array]
    # every task of the second submission that accounting lists completed (the table equal to the serial
    # one above is what shows the sweep finished). Accounting has listed only task 1 of 2 once, and once
    # only the plain job id "<id>" (causes not found)
    states = tasks(sacct(second))
    assert states and set(states) <= {second, *(f"{second}_{i}" for i in range(2))}, states
    assert set(states.values()) == {"COMPLETED"}, states
    assert_kept(kept, df)


def test_time_limit_warning_ends_the_job_without_a_failed_row_and_resume_finishes(slurm, tmp_path):
    """SLURM warns a job ``signal_delay_s`` before ``timeout_min`` (``--signal=USR2@120``); submitit then
    ends it (``max_num_timeout: 0``): the image being measured is not a failed row, only not measured yet.
    The warning is sent here by hand (``scancel --signal=USR2``, as submitit's own tests do) while the
    job measures a photo that takes seconds, between two tiny images."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    folder = tmp_path / "images"
    folder.mkdir()
    photo = load_sample_image("china.jpg")
    Image.fromarray(photo[:32, :48]).save(folder / "a.png")
    Image.fromarray(photo).resize((1280, 854)).save(folder / "b.png")
    Image.fromarray(photo[200:232, 300:348]).save(folder / "c.png")
    grid = ["dataset=folder", f"dataset.path={folder}", "report.enabled=false", "k=4", "quantizer=kmeans",
            "encoding=png8_pillow", "cache=false"]
    # timeout_min=5 (SLURM): under 10 minutes, submitit takes any USR2 for the time limit's, not a
    # preemption's; SLURM's own warning comes 120 s (signal_delay_s) to 180 s before that: after 2 min
    proc = start(tmp_path, *grid, *SLURM)
    sweep_dir = wait_for_rows(proc, tmp_path, job=0)  # a.png measured: the job is measuring b.png
    [job] = jobs(sweep_dir)  # one job: submitit submits it as a plain job, not an array
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    out = proc.communicate(timeout=180)[0]

    log = (sweep_dir / ".submitit" / job / f"{job}_0_log.out").read_text()
    assert "Caught signal SIGUSR2 on" in log and "this job is timed-out" in log, log[-3000:]
    assert "Job not requeued because: timed-out too many times" in log
    # the job ended there, its result the error: no row for b.png (not a failed one), c.png not started
    kept = on_disk(sweep_dir)
    assert kept["image"].tolist() == ["a"] and (kept["status"] == "ok").all(), kept[["image", "status", "error"]]
    # the submitting process stops without a table; for SLURM the job COMPLETED (submitit saved the error)
    assert proc.returncode != 0 and "timed-out too many times" in out, out[-3000:]
    assert not (sweep_dir / "results.parquet").exists()
    assert tasks(sacct(job)) == {job: "COMPLETED"}

    # resume=true measures the rest (here without SLURM: the test above resumes through it)
    df, resumed, _ = run(tmp_path, *grid, "resume=true")
    assert resumed == sweep_dir.resolve() and df["image"].tolist() == ["a", "b", "c"]
    assert (df["status"] == "ok").all()
    assert_kept(kept, df)
