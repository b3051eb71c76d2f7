"""The Ray launcher (``pip install ".[ray]"``: hydra-ray-launcher on a local Ray instance) gives the serial table.

Not in the ``test`` extra: Ray is a 79 MB wheel (about 50 s to install here, 240 MB installed) and this test
spends 30 s or more starting Ray and its workers, so CI (``.[test]``) skips it.
"""

import importlib.util

import pandas as pd
import pytest

from helpers import TIMING
from sweeps import run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None
    or importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
    reason='needs ray and hydra-ray-launcher: pip install ".[ray]"')

GRID = ["dataset=synthetic", "dataset.width=48", "dataset.height=32", "report.enabled=false", "k=4",
        "quantizer=sampled,kmeans", "encoding=rgb24,png8_pillow", "cache=false"]
# a local Ray instance of 2 CPUs (one job per CPU), without its dashboard
RAY = ["hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2", "+hydra.launcher.ray.init.include_dashboard=false"]


def test_ray_gives_the_serial_table(tmp_path, monkeypatch):
    (tmp_path / "serial").mkdir()
    (tmp_path / "ray").mkdir()
    serial, _, _ = run(tmp_path / "serial", *GRID)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent from a test
    # as a command line: the Ray instance starts in that process and stops when it exits
    df, sweep_dir, out = run(tmp_path / "ray", *GRID, *RAY, cli=True)

    assert len(serial) == 2 * 2 * 3 and (serial["status"] == "ok").all()
    pd.testing.assert_frame_equal(serial.drop(columns=TIMING), df.drop(columns=TIMING))
    # the jobs ran as Ray tasks (their progress lines come back prefixed by the worker), all in one sweep folder
    assert "Ray Launcher is launching 4 jobs" in out and "(_run_job pid=" in out
    assert sorted(p.parent.name for p in sweep_dir.glob("*/rows.jsonl")) == ["0", "1", "2", "3"]
    assert "kqbench: 12 rows (12 ok, 0 not ok)" in out and (sweep_dir / "environment.json").is_file()
