"""``kqbench reference`` (or ``python -m kqbench.reference``): regenerate the curated reference results in ``results/reference/``.

Runs the default sweep and the seed-question, transparency and encoding-axes experiments as a user
would (real subprocesses, fresh sweep folders in a temporary directory), then copies what a visitor
reads into ``results/reference/<study>/``: ``report.md`` with its PNG figures (``plots/``), ``report.html``
(self-contained; its links to the sweep's files become plain names, the files are not kept), a screenshot of
that page in headless Chromium (``report_screenshot.png``, when a Chromium is installed), the table as
``results.csv`` and the environment record. It prints the size of each study and of the whole folder
(the reference results are meant to stay under 5 MB).
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
SCREENSHOT = "report_screenshot.png"
BUDGET_BYTES = 5_000_000
CHROMIUM = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Without these (and a fresh profile) Chromium misbehaves on a machine with a closed network.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def screenshot(html: Path, out: Path, width: int = 1280, height: int = 1600) -> bool:
    """Save the top of ``html`` as rendered by headless Chromium to ``out`` (a palette PNG: the page's few
    colours); False when no Chromium is installed or it fails."""
    binary = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    if binary is None:
        return False
    with tempfile.TemporaryDirectory(prefix="kqbench-chromium-") as profile:
        raw = Path(profile) / "shot.png"
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}/user", f"--window-size={width},{height}",
               f"--screenshot={raw}", html.resolve().as_uri()]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        if not raw.is_file():
            return False
        from PIL import Image

        with Image.open(raw) as im:
            im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return True


def copy_study(sweep: Path, dest: Path) -> None:
    """What a visitor reads, from a finished sweep folder into ``dest``."""
    from .report.html import unlink_files

    shutil.rmtree(dest, ignore_errors=True)
    (dest / "plots").mkdir(parents=True)
    for f in KEEP:
        shutil.copy2(sweep / f, dest / f)
    for png in sorted((sweep / "plots").glob("*.png")):
        shutil.copy2(png, dest / "plots" / png.name)
    html = (sweep / "report.html").read_text(encoding="utf-8")
    (dest / "report.html").write_text(unlink_files(html), encoding="utf-8")
    if not screenshot(dest / "report.html", dest / SCREENSHOT):
        print(f"   no screenshot of {dest / 'report.html'}: no Chromium here (apt-get install chromium)", flush=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def regenerate(out: Path, studies=STUDIES) -> None:
    with tempfile.TemporaryDirectory(prefix="kqbench-reference-") as tmp:
        for name, overrides in studies.items():
            results = Path(tmp) / name
            cmd = [sys.executable, "-m", "kqbench", *overrides, f"results_dir={results}"]
            print("$", " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True, cwd=tmp)
            dest = out / name
            copy_study((results / "latest").resolve(), dest)
            print(f"-> {dest} ({folder_bytes(dest) / 1e6:.2f} MB)", flush=True)
    total = folder_bytes(out)
    print(f"{out}: {total / 1e6:.2f} MB" + ("" if total <= BUDGET_BYTES else
                                             f", over the {BUDGET_BYTES / 1e6:g} MB meant for it"), flush=True)


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
