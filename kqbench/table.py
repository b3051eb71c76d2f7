"""Rows on disk: one small file per job, gathered into one tidy table per sweep.

Everything is written atomically (temporary file, then rename), so an interrupted sweep
never leaves a half-written file that a later aggregation would trust.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from . import columns

ROW_FILE = "rows.parquet"
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


def write_rows(path, rows: list[dict]) -> None:
    df = _tidy(order_columns(pd.DataFrame(rows)))
    _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def collect(sweep_dir) -> pd.DataFrame:
    """Every job's rows under ``sweep_dir``, in one table (whatever launcher ran the jobs)."""
    files = sorted(Path(sweep_dir).glob(f"**/{ROW_FILE}"))
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    df = _tidy(pd.concat(frames, ignore_index=True))
    df = order_columns(df)
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
