"""Real sweeps for the tests: a Hydra multirun through kqbench's own entry point, in this process (no
new interpreter, imports and compiled code shared), or as a subprocess exactly as a user types it
(``cli=True``: for what only a command line shows: arguments as typed, exit status, launchers, kills)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

QUIET = ("report.enabled=false",)  # for sweeps whose report is not under test: it is the slow part


def run(tmp_path: Path, *overrides: str, cli: bool = False, cwd: Path | None = None, check: bool = True):
    """Sweep with ``overrides`` into ``tmp_path/results``; return (table, sweep folder, printed output)."""
    results = tmp_path / "results"
    args = [*overrides, f"results_dir={results}"]
    if cli:
        proc = subprocess.run([sys.executable, "-m", "kqbench", *args], cwd=cwd or tmp_path, capture_output=True,
                              text=True, timeout=900)
        out, ok = proc.stdout + proc.stderr, proc.returncode == 0
    else:
        out, ok = in_process(args, cwd or tmp_path)
    if check:
        assert ok, out[-3000:]
    sweep_dir = (results / "latest").resolve()
    table = pd.read_parquet(sweep_dir / "results.parquet") if (sweep_dir / "results.parquet").exists() else None
    return table, sweep_dir, out


def in_process(args: list[str], cwd: Path) -> tuple[str, bool]:
    """``python -m kqbench ARGS`` without a new interpreter: what it printed, and whether it succeeded."""
    from kqbench.__main__ import main

    root = logging.getLogger()
    saved = (root.level, root.handlers[:], {k: v for k, v in os.environ.items() if k.startswith("KQBENCH_")})
    out, old_cwd, ok = io.StringIO(), os.getcwd(), True
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(list(args))
    except SystemExit as exc:  # Hydra exits on a composition error, as the command line would
        ok = exc.code in (None, 0)
    finally:
        os.chdir(old_cwd)
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for key in [k for k in os.environ if k.startswith("KQBENCH_")]:
            del os.environ[key]
        os.environ.update(saved[2])
    return out.getvalue(), ok
