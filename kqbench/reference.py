"""``kqbench reference`` (or ``python -m kqbench.reference``): regenerate the curated reference results in ``results/reference/``.

Runs the default sweep and the seed-question, transparency and encoding-axes experiments as a user
would (real subprocesses, fresh sweep folders in a temporary directory), then copies what a visitor
reads, the report, its PNG plots, the table as CSV and the environment record, into
``results/reference/<study>/``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STUDIES = {
    "default": ["k=16,64,256"],
    "seed_question": ["+experiment=seed_question"],
    "transparency": ["+experiment=transparency"],
    "encoding_axes": ["+experiment=encoding_axes"],
}
KEEP = ["report.md", "results.csv", "environment.json"]


def regenerate(out: Path, studies=STUDIES) -> None:
    with tempfile.TemporaryDirectory(prefix="kqbench-reference-") as tmp:
        for name, overrides in studies.items():
            results = Path(tmp) / name
            cmd = [sys.executable, "-m", "kqbench", *overrides, f"results_dir={results}"]
            print("$", " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True, cwd=tmp)
            sweep = (results / "latest").resolve()
            dest = out / name
            shutil.rmtree(dest, ignore_errors=True)
            (dest / "plots").mkdir(parents=True)
            for f in KEEP:
                shutil.copy2(sweep / f, dest / f)
            for png in sorted((sweep / "plots").glob("*.png")):
                shutil.copy2(png, dest / "plots" / png.name)
            print(f"-> {dest}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kqbench reference", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/reference"),
                        help="where to write (default: results/reference)")
    parser.add_argument("--study", choices=sorted(STUDIES), action="append",
                        help="only this study (repeatable; default: all)")
    args = parser.parse_args(argv)
    studies = {s: STUDIES[s] for s in args.study} if args.study else STUDIES
    regenerate(args.out, studies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
