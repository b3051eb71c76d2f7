"""Plots and a plain-language Markdown report from a sweep's saved table.

``render(sweep_dir)`` reads ``sweep_dir/results.parquet`` (never re-running a quantization),
writes ``sweep_dir/plots/*.png`` and ``*.svg`` and ``sweep_dir/report.md``. The same table
always gives the same ``report.md``, byte for byte.

The core sections (sizes, PNG terms, quality, Pareto front, runtime, contradictions) compare undithered
quantized pixels stored losslessly; dithered rows and the lossy comparators (encodings whose class
says ``lossy``) are left out of them. Then comes one section per setting that varies in the table
(zlib level, rgb24 filter, palette order, optimizer, bit depth, dithering, colour space, lossy
comparators), from :mod:`.axes`.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ReportError, check_folder

__all__ = ["render", "ReportError"]


def render(sweep_dir, psnr_threshold: float = 30.0, contact_images: list[str] | None = None,
           question: dict | None = None, provisional: str | None = None) -> Path:
    """Write the plots and ``report.md`` of a sweep folder.

    Parameters
    ----------
    sweep_dir : str or path-like
        A folder written by a kqbench sweep (holding ``results.parquet``; ``environment.json``
        and the kept files under ``path`` are used when present).
    psnr_threshold : float
        Quality target in dB: the report names the smallest k reaching it per image.
    contact_images : list of str, optional
        Images for the contact sheet; default: the first image whose ``source`` file exists.
    provisional : str, optional
        ``"done/total"`` configurations while a sweep still runs: the report is rendered from the rows
        its jobs have written so far (no ``results.parquet`` yet), without figures, under a banner that
        says it is provisional and what is still to run. The final report replaces it.
    question : dict, optional
        ``{"image": name, "k": int, "sizes_kb": {label: KB}}``: adds "The question, reproduced",
        comparing those numbers with this sweep's.

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.

    Raises
    ------
    ReportError
        When the folder or its table is missing or unreadable.
    """
    sweep_dir = check_folder(sweep_dir)  # before the heavy imports: a wrong path fails fast
    # Imported here so that `python -m kqbench.report` and `import kqbench.report` stay light.
    from . import axes, data, findings, plots, text
    from .contact import contact_sheet
    from .data import Context
    from .question import question as _question

    if provisional:
        from ..table import collect

        table = collect(sweep_dir)
    else:
        table = data.load(sweep_dir)
    ctx = Context(table, sweep_dir, psnr_threshold)
    plots_dir = sweep_dir / "plots"
    sections = [text.provisional(ctx, provisional)] if provisional else []
    sections.append(text.overview(ctx))
    if ctx.ok.empty:
        sections.append("No row of this table is ok: there is nothing to measure or plot.")
    elif ctx.files.empty:
        sections.append("Every ok row is a lossy comparator: there are no quantized files to measure or plot.")
    else:
        if not provisional:
            sheet = _draw([(plots.size_vs_k, ctx.files, ctx.order, plots_dir),
                           (plots.rate_distortion, ctx.files, ctx.order, plots_dir),
                           (plots.runtime_vs_k, ctx.quant, ctx.order, plots_dir),
                           (plots.quality_vs_k, ctx.quant, ctx.order, plots_dir, ctx.threshold),
                           (contact_sheet, ctx.files, ctx.order, sweep_dir, plots_dir, contact_images)])[-1]
        sections.append(text.in_short(ctx))
        if question:
            sections.append(_question(ctx, question))
        sections += [text.sizes(ctx), text.png_terms(ctx), text.bit_depth(ctx), text.labels(ctx),
                     findings.quality(ctx), findings.pareto(ctx), findings.runtime(ctx),
                     findings.contradictions(ctx), *axes.sections(ctx)]
        if not provisional:
            sections.append(findings.contact(sheet))
    sections.append(text.environment(ctx))
    report = sweep_dir / "report.md"
    body = "\n\n".join(sections) + "\n"
    if provisional:  # figures are drawn for the final report only: drop their links from this one
        body = "\n".join(line for line in body.split("\n") if not line.startswith("![")) 
    tmp = report.with_name(f".{report.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, report)  # a reader never sees half a report, nor a provisional one after the final
    return report


def _draw(figures: list[tuple]) -> list:
    """Call each ``(function, *args)`` that draws a figure, in two forked processes where this machine
    has two cores to spare (the figures are independent; a sweep's report is drawn after its last timed
    job), else one after the other; their results, in order."""
    import multiprocessing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [fn(*args) for fn, *args in figures]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(fn, *args) for fn, *args in figures]
        return [f.result() for f in futures]
