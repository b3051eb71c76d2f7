"""Rows on disk: one small file per job, gathered into one tidy table per sweep.

Each row a job measures is appended to the job's journal (``rows.jsonl``, one JSON line per row, flushed
to the operating system at once): an interruption loses no finished row, and a row costs one line, not a
rewrite of the job's table. A job of :data:`TABLE_ROWS` rows or more ends by writing them as one table
(``rows.parquet``) and removing its journal; a smaller one keeps its journal as its row file. The sweep's
table is gathered from those files at the end. Tables are written atomically (temporary file, then
rename), so an interrupted sweep never leaves a half-written file that a later aggregation would trust; a
journal's torn line an interruption left is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import columns

JOURNAL = "rows.jsonl"
ROW_FILE = "rows.parquet"  # a finished job's rows when it has TABLE_ROWS or more
# (Reading a line of the journal costs about 60 us, writing a job's table about 8 ms, reading it back next
# to nothing: a table pays from about this many rows, the sweep's table being gathered once or more.)
TABLE_ROWS = 100
_UMASK = os.umask(0)
os.umask(_UMASK)

# Columns in reading order, as declared in the registry; quantizer.* and encoding.* parameter
# columns follow their option's name.
COLUMNS = columns.names()


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; others on a shared folder must read results
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    cols = []
    for c in COLUMNS:
        if c in df.columns:
            cols.append(c)
        if c in ("quantizer", "encoding"):
            cols += sorted(x for x in df.columns if x.startswith(f"{c}."))
    return df[cols + [c for c in df.columns if c not in cols]]


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """One type per column: a parameter that is "auto" for one quantizer and 10 for another
    becomes text, as Parquet needs."""
    for c in df.columns:
        if df[c].dtype == object:
            kinds = {type(v) for v in df[c] if v is not None and v == v}
            if len(kinds) > 1:
                df[c] = df[c].map(lambda v: v if v is None or v != v else str(v))
    return df


def _plain(value):
    return value.item() if isinstance(value, np.generic) else str(value)


class JobRows:
    """The rows of one job as it measures them: :meth:`append` each row (one line of the job's row file,
    flushed to the operating system at once); :meth:`close` at the end."""

    def __init__(self, job_dir):
        self.job_dir = Path(job_dir)
        self.rows: list[dict] = []
        self._journal = None

    def append(self, row: dict, *, measured: bool = True) -> None:
        """Add ``row``; ``measured=False`` for a row kept from an earlier run (already on disk)."""
        self.rows.append(row)
        if measured:
            if self._journal is None:
                self._journal = self._open()
            self._journal.write(json.dumps(row, default=_plain) + "\n")
            self._journal.flush()

    def _open(self):
        self.job_dir.mkdir(parents=True, exist_ok=True)
        journal = open(self.job_dir / JOURNAL, "a+", encoding="utf-8")
        if journal.tell() > 0:  # a resumed job: end the torn line an interruption may have left
            journal.seek(journal.tell() - 1)
            if journal.read(1) != "\n":
                journal.write("\n")
        return journal

    def __enter__(self) -> "JobRows":
        return self

    def __exit__(self, *exc) -> None:  # also when interrupted: the file holds every row finished
        self.close()

    def close(self) -> None:
        """End the job: a job of many rows (a folder of images) gets them as one table (``rows.parquet``,
        the journal removed), which reads faster than that many lines; a few rows stay in the journal,
        where writing a table would cost more than it saves."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None
            if len(self.rows) >= TABLE_ROWS:
                df = _tidy(order_columns(pd.DataFrame(self.rows)))
                _atomic(self.job_dir / ROW_FILE, lambda tmp: df.to_parquet(tmp, index=False))
                (self.job_dir / JOURNAL).unlink(missing_ok=True)


def _job_records(job_dir: Path) -> list[dict]:
    """A job's rows as records (of a finished, running or interrupted job): its table's, then its journal's,
    where a later row of the same (image, source) replaces an earlier one (a row measured again when the
    sweep was resumed), a torn line an interruption left skipped."""
    records = pd.read_parquet(job_dir / ROW_FILE).to_dict("records") if (job_dir / ROW_FILE).exists() else []
    if not (job_dir / JOURNAL).exists():
        return records
    with open(job_dir / JOURNAL, encoding="utf-8") as f:
        for line in f:
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    latest: dict = {}
    for record in records:
        key = (record.get("image"), record.get("source"))
        latest.pop(key, None)  # (the later row takes the later place)
        latest[key] = record
    return list(latest.values())


def _table(records: list[dict]) -> pd.DataFrame:
    if not records:
        return pd.DataFrame()
    df = pd.DataFrame(records)
    for c in df.columns[df.isna().all()]:
        if not any(isinstance(r.get(c), float) for r in records):  # a parameter no row set: nulls, not NaN
            df[c] = pd.Series([None] * len(df), index=df.index, dtype=object)
    return order_columns(_tidy(df))


def read_job(job_dir) -> pd.DataFrame:
    """A job's rows (of a finished, running or interrupted job), a later row of the same (image, source)
    replacing an earlier one (a row measured again when the sweep was resumed)."""
    return _table(_job_records(Path(job_dir)))


def job_dirs(sweep_dir) -> list[Path]:
    """The folders under ``sweep_dir`` where a job wrote rows (finished, running or interrupted)."""
    found = {p.parent for name in (ROW_FILE, JOURNAL) for p in Path(sweep_dir).glob(f"**/{name}")}
    return sorted(found)


def collect(sweep_dir) -> pd.DataFrame:
    """Every job's rows under ``sweep_dir``, in one table (whatever launcher ran the jobs). Built from all
    the jobs' records at once: a table per job, then joined, took 15 times as long (0.3 s for the default
    sweep, at the end of every sweep and in every provisional report)."""
    df = _table([record for d in job_dirs(sweep_dir) for record in _job_records(d)])
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    keys = [c for c in ("image", "quantizer", "k", "encoding", "seed") if c in df.columns]
    return df.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)


def aggregate(sweep_dir) -> tuple[pd.DataFrame, Path]:
    """Write ``results.parquet`` and ``results.csv`` in ``sweep_dir``; return the table and parquet path."""
    sweep_dir = Path(sweep_dir)
    df = collect(sweep_dir)
    parquet = sweep_dir / "results.parquet"
    _atomic(parquet, lambda tmp: df.to_parquet(tmp, index=False))
    _atomic(sweep_dir / "results.csv", lambda tmp: df.to_csv(tmp, index=False))
    return df, parquet


def timed_seconds(df: pd.DataFrame) -> float:
    """The table's timed work: fit and assign of every quantization computed (not reused from the
    cache), and every encode. (For a resumed sweep, rows kept from the first run count too.)"""
    if df.empty or "encode_s" not in df.columns:
        return 0.0
    encode = pd.to_numeric(df["encode_s"], errors="coerce").sum()
    computed = ~df["cached"].fillna(True).astype(bool) if "cached" in df.columns else pd.Series(False, df.index)
    fit = pd.to_numeric(df.loc[computed, ["fit_s", "assign_s"]].stack(), errors="coerce").sum()
    return float(encode + fit)


def main(argv=None) -> int:
    """``kqbench table SWEEP_DIR`` (or ``python -m kqbench.table``): (re)build the table of a sweep, e.g. after an interruption."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: kqbench table SWEEP_DIR  (a folder written by a kqbench sweep)", file=sys.stderr)
        return 2
    df, parquet = aggregate(argv[0])
    ok = int((df["status"] == "ok").sum()) if len(df) else 0
    print(f"{parquet}: {len(df)} rows, {ok} ok, {len(df) - ok} not ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
