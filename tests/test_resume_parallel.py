"""Interrupted sweeps resume without loss or recomputation; parallel launchers give the same table."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from importlib import resources

from omegaconf import OmegaConf

import sweeps
from helpers import TIMING

# The default sweep's axes, as the packaged config defines them (each job: every image of the dataset).
_DEFAULT = OmegaConf.load(str(resources.files("kqbench.conf") / "config.yaml")).hydra.sweeper.params
JOBS_PER_K = len(_DEFAULT.quantizer.split(",")) * len(_DEFAULT.encoding.split(","))

KEY = ["image", "k", "quantizer", "encoding", "seed"]
SMALL = ["dataset=synthetic", "dataset.width=48", "dataset.height=32"]


def run(results, *overrides, base=SMALL, cli=False):
    """The table of a sweep into ``results`` (in-process, or as a command line with ``cli``)."""
    results.parent.mkdir(parents=True, exist_ok=True)
    df, _, _ = sweeps.run(results.parent, *base, *overrides, cli=cli)
    return df


def _rows(path) -> int:
    """Whole rows in a job's row file (the last line may be torn)."""
    try:
        return path.read_text().count("\n")
    except OSError:
        return 0


def _finished_jobs(paths) -> int:
    return sum(_rows(p) == 3 for p in paths)  # (3 images)


def test_sigkill_then_resume_finishes_every_row_once(tmp_path):
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "kqbench", "k=4,8", *SMALL, *sweeps.QUIET, f"results_dir={results}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while _finished_jobs(results.glob("*/*/*/rows.jsonl")) < 12 and time.time() < deadline:
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    sweep_dir = (results / "latest").resolve()
    assert not (sweep_dir / "results.parquet").exists()  # really interrupted
    complete = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/rows.jsonl") if _rows(p) == 3}
    assert complete

    # (resumed in this process: the killed sweep above is the command line under test)
    df = run(results, "k=4,8", "resume=true", *sweeps.QUIET)

    assert (results / "latest").resolve() == sweep_dir  # the same sweep, finished
    assert len(df) == 2 * JOBS_PER_K * 3 and not df.duplicated(KEY).any()  # k x jobs x 3 images
    assert (df["status"] == "ok").all() and df["roundtrip_ok"].all()
    assert all(p.stat().st_mtime_ns == t for p, t in complete.items())  # finished jobs not redone


def test_resume_without_a_sweep_is_a_clear_error(tmp_path):
    _, _, out = sweeps.run(tmp_path, "k=4", *SMALL, "resume=true", check=False)
    assert "resume=True: no sweep folder" in out and "kqbench:" not in out


@pytest.mark.parametrize("launcher", [["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]], ids=["joblib"])
def test_parallel_launcher_gives_the_serial_table(tmp_path, launcher):
    grid = ["k=4,16", "quantizer=sampled,kmeans,fast", "encoding=rgb24,png8,labels", *sweeps.QUIET]
    serial = run(tmp_path / "serial" / "results", *grid)
    parallel = run(tmp_path / "parallel" / "results", *grid, *launcher, cli=True)
    assert len(serial) == 2 * 3 * 3 * 3 and (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(serial.drop(columns=TIMING), parallel.drop(columns=TIMING))
    # the encodings of one quantization ran side by side, and it was computed once, not once per job
    computed = parallel[~parallel["cached"]].groupby(["image", "k", "quantizer"]).size()
    assert len(computed) == 2 * 3 * 3 and (computed == 1).all()


@pytest.mark.slow
def test_24_megapixel_photo_with_fast_kmeans_in_bounded_memory(tmp_path):
    """An upscaled bundled photo (6000 x 4000) at k=256: completes, exact, peak RSS under 4 GB."""
    import resource

    from PIL import Image
    from sklearn.datasets import load_sample_image

    folder = tmp_path / "big"
    folder.mkdir()
    Image.fromarray(load_sample_image("china.jpg")).resize((6000, 4000), Image.BICUBIC).save(folder / "china.png")
    df = run(tmp_path / "results", "k=256", "quantizer=fast", "encoding=png8_pillow", "dataset=folder",
             f"dataset.path={folder}", "report.enabled=false", base=[])
    assert df["pixels"].iloc[0] == 24_000_000 and df["roundtrip_ok"].all() and df["palette_size"].iloc[0] == 256
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    assert peak_gb < 4, f"peak RSS {peak_gb:.2f} GB"
