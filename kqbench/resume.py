"""Resuming an interrupted job: the rows it already measured with the same configuration."""

from __future__ import annotations

import numbers
from pathlib import Path

from .table import read_job


def _same(a, b) -> bool:
    if isinstance(a, numbers.Number) and isinstance(b, numbers.Number) and not isinstance(a, bool):
        return float(a) == float(b) or (a != a and b != b)
    return (a is None and b is None) or str(a) == str(b)


def finished_rows(job_dir: Path, config: dict, root: Path, measured=()) -> dict:
    """Rows an earlier (interrupted) run of this job completed (its row file in ``job_dir``),
    by (image, source): status ok, the same configuration (every column of ``config``), every column
    of ``measured`` measured, and the file it wrote still intact (present, with the size the row
    says; ``path`` is relative to ``root``)."""
    try:
        previous = read_job(job_dir).to_dict("records")
    except Exception:  # unreadable: recompute everything
        return {}
    finished = {}
    for row in previous:
        if row.get("status") != "ok" or not all(_same(row.get(c), v) for c, v in config.items()):
            continue
        if any(row.get(c) is None or row.get(c) != row.get(c) for c in measured):
            continue
        kept = row.get("path")
        if kept and not ((root / kept).is_file() and (root / kept).stat().st_size == row["bytes"]):
            continue
        finished[(row["image"], row.get("source"))] = row
    return finished
