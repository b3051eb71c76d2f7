"""Every launcher gives the serial table (rows are gathered from the sweep folder), the SLURM
example config composes, and a sweep is deterministic given its seed."""

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

import kqbench.__main__  # noqa: F401  registers the kqbench_sweep_dir resolver for in-process composition

from helpers import TIMING
from sweeps import run

needs_submitit = pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
                                    reason='needs hydra-submitit-launcher: pip install ".[test]"')

TINY = ["dataset=synthetic", "dataset.width=48", "dataset.height=32", "report.enabled=false"]


def sweep(folder: Path, *overrides: str, cli: bool = False) -> tuple[pd.DataFrame, Path, str]:
    """A sweep into ``folder/results`` (in-process, or as a command line); the table, sweep folder and output."""
    folder.mkdir(parents=True, exist_ok=True)
    return run(folder, *overrides, cli=cli)


@needs_submitit
def test_submitit_local_gives_the_serial_table(tmp_path):
    grid = [*TINY, "k=4", "quantizer=sampled,kmeans", "encoding=rgb24,png8_pillow", "cache=false"]
    serial, _, _ = sweep(tmp_path / "serial", *grid)
    # submitit_local ignores cpus_per_task and starts every job at once; one task per job (the default)
    df, sweep_dir, out = sweep(tmp_path / "submitit", *grid, "hydra/launcher=submitit_local",
                               "hydra.launcher.timeout_min=5", "hydra.launcher.tasks_per_node=1", cli=True)

    assert len(serial) == 2 * 2 * 3 and (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(serial.drop(columns=TIMING), df.drop(columns=TIMING))
    # the jobs really ran as submitit jobs, each in its own process, all in the one sweep folder
    # (the sweep dir resolver's cached value travels with the pickled config)
    assert len(list((sweep_dir / ".submitit").glob("*/*_result.pkl"))) == 4
    assert sorted(p.parent.name for p in sweep_dir.glob("*/rows.jsonl")) == ["0", "1", "2", "3"]
    # the submitting process prints the start and the summary; each job logs its progress line
    assert "kqbench sweep: 4 configurations" in out
    assert "kqbench: 12 rows (12 ok, 0 not ok)" in out and f"{sweep_dir.name}/results.parquet" in out
    for num in range(4):
        assert f"[{num + 1}/4, {3 - num} to go]" in (sweep_dir / str(num) / "kqbench.log").read_text()
    assert (sweep_dir / "results.csv").is_file() and (sweep_dir / "environment.json").is_file()


@pytest.fixture
def cfg_of(tmp_path):
    def _compose(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_module("kqbench.conf", version_base="1.3"):
            return compose("config", overrides=[f"results_dir={tmp_path}", *overrides], return_hydra_config=True)
    yield _compose
    GlobalHydra.instance().clear()


@needs_submitit
def test_slurm_example_config_composes(cfg_of):
    launcher = cfg_of("hydra/launcher=slurm", "hydra.launcher.partition=cpu").hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher.partition == "cpu" and launcher.tasks_per_node == 1
    assert launcher.timeout_min > 0 and launcher.cpus_per_task >= 1 and launcher.mem_gb >= 1
    assert cfg_of("hydra/launcher=slurm").hydra.launcher.partition is None  # the cluster's default
    local = cfg_of("hydra/launcher=submitit_local").hydra.launcher
    assert local._target_.endswith("submitit_launcher.LocalLauncher")


@needs_submitit
def test_slurm_example_config_gives_the_sbatch_options(cfg_of, monkeypatch):
    """Launch with the example config up to the point of submission (no cluster needed)."""
    import submitit
    from submitit.slurm.slurm import SlurmExecutor

    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # "srun is available"
    submitted = {}

    def map_array(executor, fn, *args):
        submitted.update(executor=executor, jobs=len(args[0]))
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    cfg = cfg_of("hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.mem_gb=8")
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    launcher.launch([["k=16"], ["k=64"], ["k=256"]], initial_job_idx=0)

    assert submitted["jobs"] == 3
    script = submitted["executor"]._executor._make_submission_file_text("python -m submitit.core._submit x", "u")
    for option in ["--partition=cpu", "--time=60", "--cpus-per-task=2", "--mem=8GB", "--ntasks-per-node=1",
                   "--job-name=kqbench"]:
        assert f"#SBATCH {option}\n" in script
    assert f"{cfg.hydra.sweep.dir}/.submitit/" in script  # logs and pickles inside the sweep folder


def test_same_seed_same_table_other_seed_other_palettes(tmp_path):
    # 128x96 = 12,288 pixels: more than sampled's 10,000, so its sample depends on the seed too
    grid = ["dataset=synthetic", "dataset.width=128", "dataset.height=96", "report.enabled=false",
            "k=4", "quantizer=kmeans,sampled,unique,minibatch", "encoding=png8_pillow", "seed=0,1"]
    a, dir_a, _ = sweep(tmp_path / "a", *grid)
    b, dir_b, _ = sweep(tmp_path / "b", *grid)

    assert len(a) == 4 * 2 * 3 and (a["status"] == "ok").all()
    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))
    assert not a["path"].str.startswith("/").any()  # relative to the sweep folder, hence equal
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert [digest(dir_a / p) for p in a["path"]] == [digest(dir_b / p) for p in b["path"]]

    by_seed = a.pivot_table(index=["image", "quantizer"], columns="seed", values="mse")
    for quantizer in ["sampled", "minibatch"]:
        mse = by_seed.xs(quantizer, level="quantizer")
        assert (mse[0] != mse[1]).any(), f"seed does not change {quantizer}'s palettes:\n{mse}"
    assert a.groupby("image")["source"].nunique().eq(1).all()  # the images themselves do not depend on it
