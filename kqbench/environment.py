"""What a sweep ran on: Python, package versions, CPU, cores and threads."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

PACKAGES = ["kqbench", "numpy", "scikit-learn", "Pillow", "pypng", "pandas", "pyarrow", "hydra-core",
            "omegaconf", "seaborn", "matplotlib", "scipy", "threadpoolctl", "joblib"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# When the sweep this process runs started (time.monotonic()), set by the entry point (kqbench.__main__)
# before anything else: the start of the sweep's wall time, imports included. None where no entry point
# set it (a launcher's worker process).
sweep_started: float | None = None


def collect() -> dict:
    """What the sweep runs on, as known before any job: Python, platform, CPU, cores, thread settings and
    package versions (the thread pools are :func:`thread_pools`, read once the jobs have loaded them)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                  "OPENBLAS_CORETYPE") if k in os.environ},
        "packages": {name: _version(name) for name in PACKAGES},
    }


def thread_pools() -> list[dict]:
    """The BLAS and OpenMP thread pools the quantizers use (``threadpoolctl``), with their sizes. Loading
    them costs about a second (scikit-learn's import), so a sweep reads them at its end, when its jobs
    have loaded them already."""
    import sklearn.cluster  # noqa: F401 - loads the pools, where no job of this process has
    from threadpoolctl import threadpool_info

    return [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version")} for p in threadpool_info()]
