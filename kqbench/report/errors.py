"""The one error a report raises, importable without loading pandas or matplotlib."""

from pathlib import Path


class ReportError(Exception):
    """The sweep folder cannot be reported on (missing folder or table, unreadable table)."""


def check_folder(sweep_dir) -> Path:
    """``sweep_dir`` as a Path, if it is a folder holding ``results.parquet``; else :class:`ReportError`."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir}: no such folder (expected a kqbench sweep folder with results.parquet)")
    if not (sweep_dir / "results.parquet").is_file():
        raise ReportError(f"{sweep_dir / 'results.parquet'}: not found "
                          f"(rebuild it with: kqbench table {sweep_dir})")
    return sweep_dir
