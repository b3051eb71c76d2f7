"""Where a perceptual quality column ranks the quantizers differently from MSE, or that it does not.

For each optional quality column a sweep measured (``metrics=[ssimulacra2,dssim]``; the registry's
``optional`` columns with a direction ``better``), :mod:`kqbench.ranking` ranks the quantizer settings by their
median over the images, at each k, by that column and by MSE, and counts the pairs of quantizations of one
image and k that the two columns order oppositely. The section states both, with the numbers; the answer
block gets one sentence when a perceptual column reverses MSE's order of the recommended quantizer and
another one at a k the recommendation uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import columns, ranking
from . import data, fmt
from .axes import section
from .data import Context

REFERENCE = "mse"  # what a perceptual ranking is compared with


@dataclass
class Ranked:
    """One perceptual column against MSE: ``ranks`` (:func:`ranking.median_ranks`), ``pairs``
    (:func:`ranking.rank_disagreements`) and how many pairs were compared."""

    column: str
    ranks: pd.DataFrame
    pairs: pd.DataFrame
    compared: int


def perceptual_columns(ctx: Context) -> list[str]:
    """The optional quality columns (with a direction) this sweep measured, in registry order."""
    t = ctx.ok
    return [c.name for c in columns.quality_measures()
            if c.optional and c.name in t.columns and REFERENCE in t.columns and t[c.name].notna().any()]


def rankings(ctx: Context) -> list[Ranked]:
    """Each perceptual column ranked against MSE, on the core quantizations (undithered, alpha kept, lossless
    encodings), quantizers named as the rest of the report names them (``kmeans(colour_space=lab)``)."""
    if getattr(ctx, "_rankings", None) is not None:  # the section and the answer block ask for them
        return ctx._rankings
    names = perceptual_columns(ctx)
    if not names:
        return []
    rows = data.core(ctx.ok)  # the report's labels already name swept parameters: rank on those labels
    rows = rows.drop(columns=data.params(rows, "quantizer"))
    out = []
    for name in names:
        pairs = ranking.rank_disagreements(rows, name, REFERENCE)
        out.append(Ranked(name, ranking.median_ranks(rows, name, REFERENCE), pairs, int(pairs.attrs["pairs"])))
    ctx._rankings = out
    return out


def _order(ranks: pd.DataFrame, by: str) -> list[str]:
    """The quantizers best first by ``rank_by_<by>`` (ties by name), ``a = b`` where they tie."""
    ranked = ranks.sort_values([f"rank_by_{by}", "quantizer"])
    out: list[str] = []
    last = None
    for name, rank in zip(ranked["quantizer"], ranked[f"rank_by_{by}"]):
        if rank == last:
            out[-1] += f" = {name}"
        else:
            out.append(str(name))
        last = rank
    return out


def _group_name(keys: dict, several: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in keys.items() if k == "k" or several.get(k))


def _groups(ranks: pd.DataFrame):
    """(name, rows) per k (and seed, dither, alpha where they vary) of a :func:`ranking.median_ranks` frame."""
    keys = [c for c in ("k", "seed", "dither", "alpha") if c in ranks.columns]
    several = {k: ranks[k].nunique() > 1 for k in keys}
    for values, g in ranks.groupby(keys, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        yield _group_name(dict(zip(keys, values)), several), g


def reversals(r: Ranked) -> list[dict]:
    """Per k (group) where the two columns order the quantizers differently: the orders and medians."""
    out = []
    for name, g in _groups(r.ranks):
        if bool(g["differs"].any()):
            out.append({"group": name, "by_reference": _order(g, REFERENCE), "by_column": _order(g, r.column),
                        "rows": g})
    return out


def _table(r: Ranked, ref, m) -> str:
    groups = list(_groups(r.ranks))
    quantizers = list(dict.fromkeys(r.ranks.sort_values(["rank_by_" + REFERENCE, "quantizer"])["quantizer"]))
    rows = []
    for q in quantizers:
        cells = [q]
        for _, g in groups:
            row = g[g["quantizer"] == q]
            if row.empty:
                cells.append("–")
                continue
            row = row.iloc[0]
            cells.append(f"{ref.value(row[REFERENCE])} (#{int(row['rank_by_' + REFERENCE])}), "
                         f"{m.value(row[r.column])} (#{int(row['rank_by_' + r.column])})"
                         + (" ←" if bool(row["differs"]) else ""))
        rows.append(cells)
    return fmt.table(["quantizer", *[f"{name}: {ref.shown}, {m.shown}" for name, _ in groups]], rows)


def _pairs_sentence(r: Ranked, ref, m) -> str:
    p = r.pairs
    if not r.compared:
        return ""
    if p.empty:
        return (f"Image by image, {m.shown} and MSE order all {fmt.count(r.compared, 'pair')} of quantizations "
                "(same image and k) the same way, or one of them ties.")
    common = p.groupby(["better_by_reference", "better_by_column"]).size().sort_values(ascending=False, kind="stable")
    (a, b), n = common.index[0], int(common.iloc[0])
    c = r.column
    e = p[(p["better_by_reference"] == a) & (p["better_by_column"] == b)]
    e = e.loc[(e[f"{c}_better"] - e[f"{c}_worse"]).abs().idxmax()]  # the clearest case
    return (f"Image by image, {m.shown} orders {len(p)} of {r.compared} pairs of quantizations (same image and k) "
            f"opposite to MSE ({fmt.pct(len(p) / r.compared)}); " + (f"most often ({n} of them) " if n > 1 else "")
            + f"MSE prefers {a} and {m.shown} {b}, e.g. {e['image']} at k={e['k']}: MSE {ref.value(e[REFERENCE + '_better'])} "
            f"against {ref.value(e[REFERENCE + '_worse'])}, {m.shown} {m.value(e[c + '_better'])} against "
            f"{m.value(e[c + '_worse'])}.")


def perceptual(ctx: Context):
    """The section (a :class:`.axes.Section` with its headline for *In short*), or "" when the sweep measured
    no perceptual column."""
    ranked = rankings(ctx)
    if not ranked:
        return ""
    ref = data.Measure(REFERENCE)
    out = ["## Perceptual quality against MSE",
           "The perceptual columns measured here rank the quantizers by their median over the images at each k "
           "(the images every quantizer has), beside MSE's ranking (`kqbench.ranking`); #1 is the best, ← marks a "
           "rank that differs from MSE's."]
    headlines = []
    for r in ranked:
        m = data.Measure(r.column)
        if r.ranks.empty or r.ranks.groupby([c for c in ("k", "seed", "dither", "alpha") if c in r.ranks.columns])[
                "quantizer"].nunique().max() < 2:
            out.append(f"**{m.shown}**: this sweep has one quantizer setting, so there is no ranking to compare.")
            continue
        rev = reversals(r)
        images = int(r.ranks["images"].min())
        if rev:
            parts = [f"at {x['group']} {m.shown} ranks {', '.join(x['by_column'])} where MSE ranks "
                     f"{', '.join(x['by_reference'])}" for x in rev]
            verdict = (f"**{m.shown}** ({m.better} is better) ranks the quantizers differently from MSE: "
                       + "; ".join(parts) + f" (medians over {fmt.count(images, 'image')}).")
            headlines.append(f"{m.shown} ranks the quantizers differently from MSE at "
                             f"{fmt.listing(x['group'] for x in rev)}: {rev[0]['by_column'][0]} first, where MSE "
                             f"puts {rev[0]['by_reference'][0]} first")
        else:
            verdict = (f"**{m.shown}** ({m.better} is better) ranks the quantizers as MSE does at every k (medians "
                       f"over {fmt.count(images, 'image')}).")
            headlines.append(f"{m.shown} ranks the quantizers as MSE does at every k")
        out += [verdict, _table(r, ref, m), _pairs_sentence(r, ref, m)]
    headline = "Perceptual quality: " + "; ".join(headlines) + "." if headlines else ""
    return section("\n\n".join(s for s in out if s), headline)


def against_recommendation(ctx: Context, recommended: str, ks) -> str:
    """One sentence for the answer block when a perceptual column orders ``recommended`` (the recommended
    quantizer) below another quantizer that MSE orders below it, at a k in ``ks`` (those the recommendation
    uses), with the medians; else ""."""
    for r in rankings(ctx):
        m = data.Measure(r.column)
        for x in reversals(r):
            g = x["rows"]
            if int(g["k"].iloc[0]) not in set(ks) or recommended not in set(g["quantizer"]):
                continue
            mine = g[g["quantizer"] == recommended].iloc[0]
            better = g[(g[f"rank_by_{r.column}"] < mine[f"rank_by_{r.column}"])
                       & (g[f"rank_by_{REFERENCE}"] > mine[f"rank_by_{REFERENCE}"])]
            if better.empty:
                continue
            other = better.sort_values(f"rank_by_{r.column}").iloc[0]
            return (f" By {m.shown}, though, {other['quantizer']} scores better than {recommended} at {x['group']} "
                    f"(median {m.value(other[r.column])} against {m.value(mine[r.column])}; MSE has it the other "
                    f"way): see *Perceptual quality against MSE*.")
    return ""
