"""A plain-language report (``report.md`` and ``report.html``) and its figures from a sweep's saved table.

``render(sweep_dir)`` reads ``sweep_dir/results.parquet`` (never re-running a quantization), draws the
figures chosen for the sweep into ``sweep_dir/plots/*.png`` and writes ``sweep_dir/report.md`` and the
self-contained ``sweep_dir/report.html``. The same table always gives the same ``report.md``, byte for byte.

The report opens with the answer (:mod:`.answer`: why the files differ, the fix as code, the saving, the
recommendation), then the sweep's findings in short, then the core sections (sizes, PNG terms, quality,
rate–distortion, time, contradictions), which compare undithered quantized pixels stored losslessly, each
encoding at its default settings; then one section per setting that varies in the table (zlib level, rgb24
filter, palette order, optimizer, bit depth, dithering, transparency, colour space, lossy comparators), from
:mod:`.axes`; the contact sheet; and, last, how the report was made.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ReportError, check_folder

__all__ = ["render", "ReportError"]


def render(sweep_dir, psnr_threshold: float = 30.0, contact_images: list[str] | None = None,
           question: dict | None = None, provisional: str | None = None, figures: bool = True,
           quality: str = "psnr") -> Path:
    """Write the figures, ``report.md`` and ``report.html`` of a sweep folder.

    Parameters
    ----------
    sweep_dir : str or path-like
        A folder written by a kqbench sweep (holding ``results.parquet``; ``environment.json``,
        ``multirun.yaml`` and the kept files under ``path`` are used when present).
    psnr_threshold : float
        Quality target in dB: the recommendation, and the smallest k reaching it per image.
    contact_images : list of str, optional
        Images for the contact sheet; default: the first image whose ``source`` file exists.
    question : dict, optional
        ``{"image": name, "k": int, "sizes_kb": {label: KB}, "encodings": {label: [encoding, ...]}}``: adds
        "The question, reproduced" and its chart, comparing those numbers with this sweep's. Default: the
        ``report.question`` the sweep was run with (its ``multirun.yaml``), if any.
    provisional : str, optional
        ``"done/total"`` configurations while a sweep still runs: the report is rendered from the rows
        its jobs have written so far (no ``results.parquet`` yet), as text only (no figures, no HTML), under
        a banner that says it is provisional and what is still to run. The final report replaces it.
    figures : bool
        Draw the figures (the final report); False writes the text only.
    quality : str
        The quality column (of the registry, with a direction ``better``) of the quality section and figures
        and of the rate–distortion front: ``psnr`` (default), or e.g. ``ssimulacra2`` for a sweep run with
        ``metrics=[ssimulacra2]``. The recommendation stays on PSNR (``psnr_threshold``).

    Returns
    -------
    pathlib.Path
        The path of ``report.md``.

    Raises
    ------
    ReportError
        When the folder or its table is missing or unreadable, or ``quality`` is not a quality column of
        the registry and of the table.
    """
    sweep_dir = check_folder(sweep_dir) if not provisional else _folder(sweep_dir)
    # Imported here so that `python -m kqbench.report` and `import kqbench.report` stay light.
    from . import answer, axes, data, findings, perceptual, text
    from .data import Context
    from .question import question as _question

    if provisional:
        from ..table import collect

        table = collect(sweep_dir)
    else:
        table = data.load(sweep_dir)
    if question is None:
        question = sweep_question(sweep_dir)
    ctx = Context(table, sweep_dir, psnr_threshold, quality)
    draw = figures and not provisional and len(ctx.files) > 0
    jobs = plan(ctx, sweep_dir, contact_images, question) if draw else []
    drawing = Drawing([job[2:] for job in jobs])  # in the background: the text is written meanwhile
    paths = {role: f"plots/{name}.png" for role, name, *_ in jobs if role != "sheet"}
    sections = [text.title()]
    if provisional:
        sections.append(text.provisional(ctx, provisional))
    if ctx.ok.empty:
        sections.append("No row of this table is ok: there is nothing to measure or plot.")
    elif ctx.files.empty:
        sections.append("Every ok row is a lossy comparator: there are no quantized files to measure or plot.")
    else:
        axis_sections = axes.sections(ctx)
        perceived = perceptual.perceptual(ctx)
        sections.append(answer.answer(ctx, question))
        sections.append(text.in_short(ctx, [getattr(s, "headline", "") for s in (perceived, *axis_sections)]))
        if question:
            sections.append(_question(ctx, question, paths.get("question")))
        sections += [text.by_group(ctx), text.sizes(ctx, paths.get("size")), text.png_terms(ctx),
                     findings.quality(ctx, paths.get("quality")), perceived, findings.pareto(ctx, paths.get("rd")),
                     findings.runtime(ctx, paths), findings.contradictions(ctx), *axis_sections]
    results = drawing.results()
    for (role, *_), result in zip(jobs, results):
        if role == "sheet":
            sections.append(findings.contact(result))
    sections.append(text.provenance(ctx))
    body = "\n\n".join(s for s in sections if s) + "\n"
    report = sweep_dir / "report.md"
    tmp = report.with_name(f".{report.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, report)  # a reader never sees half a report, nor a provisional one after the final
    if not provisional:
        from . import html

        html.write(ctx, body, sweep_dir)
    return report


def _folder(sweep_dir) -> Path:
    path = Path(sweep_dir)
    if not path.is_dir():
        raise ReportError(f"{path}: no such folder (expected a kqbench sweep folder)")
    return path


def sweep_question(sweep_dir) -> dict | None:
    """The ``report.question`` a sweep was run with (from its ``multirun.yaml``), or None."""
    path = Path(sweep_dir) / "multirun.yaml"
    try:
        import yaml

        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except Exception:  # no file, or not YAML we can read: no question
        return None
    q = (config.get("report") or {}).get("question") if isinstance(config, dict) else None
    return q if isinstance(q, dict) else None


def plan(ctx, sweep_dir: Path, contact_images=None, question=None) -> list[tuple]:
    """The figures for this sweep, as ``(role, file name, function, *args)``, slowest first: none that would
    show a single point (see :mod:`.plots`)."""
    from . import answer, data, plots, text
    from .contact import contact_sheet
    from .question import chart

    plots_dir = sweep_dir / "plots"
    o, f, q = ctx.order, ctx.files, ctx.quant
    jobs = []
    fix = answer.fix_encoding(ctx)
    ex = answer.example(ctx, question)
    sheet_files = data_for_sheet(ctx)
    if {"source", "path"} <= set(sheet_files.columns):  # tables written by a sweep have both
        jobs.append(("sheet", "contact_sheet", contact_sheet, sheet_files, o, sweep_dir, plots_dir,
                     contact_images or ([ex["image"]] if ex and ctx.kind(ex["image"]) not in ("generated", "unknown")
                                        else None), [fix] + [e for e in ctx.png8_refs if e != fix] if fix else [],
                     ctx.truecolour, ex["k"] if ex else None))
    m = ctx.measure
    groups = (ctx.group_of, ctx.group_order) if ctx.grouped else (None, None)
    if len(o["k"]) > 1:
        jobs.append(("size", "size_vs_k", plots.size_vs_k, f, o, plots_dir, *groups))
    elif len(o["encoding"]) > 1 or len(o["image"]) > 1:
        jobs.append(("size", "size_kb", plots.size_bars, f, o, plots_dir, *groups))
    if (f.groupby("image")[m.name].nunique() > 1).any():
        jobs.append(("rd", "rate_distortion", plots.rate_distortion, f, o, plots_dir, m, *groups))
    if len(o["quantizer"]) > 1:
        d = text.delta(ctx)
        if int((d["quantizer"] != ctx.baseline).sum()) >= 2:
            jobs.append(("quality", "quality_delta", plots.quality_delta, d, o, plots_dir, ctx.baseline, m))
        jobs.append(("runtime", "runtime_vs_k", plots.runtime_vs_k, q, o, plots_dir))
    elif len(o["k"]) > 1:
        threshold = ctx.threshold if m.name == data.THRESHOLD_COLUMN else None
        jobs.append(("quality", "quality_vs_k", plots.quality_vs_k, q, o, plots_dir, threshold, m, *groups))
    variants = ctx.variants
    names = list(dict.fromkeys(variants.sort_values(["encoding_rank", "encoding"])["encoding"]))
    if len(names) > 1 and "encode_s" in variants.columns and variants["encode_s"].notna().sum() >= 2:
        jobs.append(("encode", "encode_time", plots.encode_time, variants, names, plots_dir))
    if question:
        c = chart(ctx, question)
        if c is not None:
            jobs.append(("question", "question", plots.question_chart, c[0], c[1], plots_dir))
    return jobs


def data_for_sheet(ctx):
    """The files the contact sheet may show: every lossless file (dithered ones too) of each encoding at its
    reference settings, named by its base name, transparency kept."""
    af = ctx.all_files
    f = af[~af["lossy"].astype(bool) & af["encoding"].isin(set(ctx.variant_refs.values()))]
    if (f["alpha"] == "keep").any():
        f = f[f["alpha"] == "keep"]
    return f.assign(encoding=f["encoding_base"]).reset_index(drop=True)


class Drawing:
    """Call each ``(function, *args)`` that draws a figure in two forked processes, started at once, where
    this machine has two cores and fork (the figures are independent; a sweep's report is drawn after its
    last timed job), else one after the other when :meth:`results` is called."""

    def __init__(self, figures: list[tuple]):
        import multiprocessing

        self.figures, self.pool, self.futures = figures, None, None
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if cores >= 2 and len(figures) >= 2 and "fork" in multiprocessing.get_all_start_methods():
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork"))
            self.futures = [self.pool.submit(fn, *args) for fn, *args in figures]

    def results(self) -> list:
        """Each figure's result, in order (waiting for them)."""
        if self.pool is None:
            return [fn(*args) for fn, *args in self.figures]
        try:
            return [f.result() for f in self.futures]
        finally:
            self.pool.shutdown()
