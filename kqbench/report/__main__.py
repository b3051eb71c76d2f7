"""``kqbench report RESULTS_DIR [--psnr-threshold 30] [--quality psnr]`` (or ``python -m kqbench.report``): re-render the figures, report.md and report.html."""

from __future__ import annotations

import argparse
import sys

from . import ReportError, render


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kqbench report",
                                     description="Figures, report.md and report.html from a sweep's results.parquet.")
    parser.add_argument("results_dir", help="a sweep folder, e.g. results/latest")
    parser.add_argument("--psnr-threshold", type=float, default=30.0, metavar="DB",
                        help="quality target in dB (default: 30)")
    parser.add_argument("--quality", default="psnr", metavar="COLUMN",
                        help="quality column of the quality section, its figures and the rate-distortion front "
                             "(default: psnr; e.g. ssimulacra2, dssim after metrics=[ssimulacra2,dssim]; "
                             "kqbench columns lists them)")
    parser.add_argument("--contact", nargs="+", metavar="IMAGE", help="images for the contact sheet")
    parser.add_argument("--provisional", metavar="DONE/TOTAL",
                        help="while the sweep runs: report the rows written so far (DONE of TOTAL configurations)")
    parser.add_argument("--pending", default="", help=argparse.SUPPRESS)  # with --provisional: what is left
    args = parser.parse_args(argv)
    try:
        progress = f"{args.provisional} {args.pending}".strip() if args.provisional else None
        report = render(args.results_dir, psnr_threshold=args.psnr_threshold, contact_images=args.contact,
                        provisional=progress, quality=args.quality)
    except ReportError as exc:
        print(f"kqbench.report: {exc}", file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
