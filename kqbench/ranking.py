"""Where two quality columns rank the quantizers differently (e.g. a perceptual column against MSE).

Pure functions of a results table (no plotting, no Hydra): the report calls them to say where the
perceptual ranking of quantizers differs from the MSE one, or that it does not. Which way each
column is better comes from the registry (:mod:`kqbench.columns`, ``better``).
"""

from __future__ import annotations

import itertools

import pandas as pd

from . import columns

# What a quantization is compared within: the same image, palette size, seed and assignment.
WITHIN = ("image", "k", "seed", "dither", "alpha")


def items(table: pd.DataFrame) -> list[str]:
    """The columns that name a quantizer setting: ``quantizer`` and each ``quantizer.<param>`` column
    whose values differ between rows of one quantizer (a swept parameter)."""
    swept = [c for c in table.columns if columns.column(c) is not None and columns.column(c).parameter_group
             == "quantizer" and (table.groupby("quantizer", dropna=False)[c].nunique(dropna=False) > 1).any()]
    return ["quantizer", *sorted(swept)]


def quantizations(table: pd.DataFrame, measures) -> pd.DataFrame:
    """One row per quantization with ``measures`` known: ok rows of lossless encodings (a lossy
    comparator's quality columns are its own file's), the first of each quantization's rows."""
    rows = table
    if "status" in rows:
        rows = rows[rows["status"] == "ok"]
    if "encoding_lossy" in rows:
        rows = rows[~rows["encoding_lossy"].fillna(False).astype(bool)]
    rows = rows.dropna(subset=list(measures))
    keys = [c for c in WITHIN if c in rows] + items(rows)
    return rows.drop_duplicates(subset=keys)[keys + [m for m in measures if m not in keys]]


def _better(name: str) -> str:
    col = columns.column(name)
    if col is None or col.better is None:
        raise ValueError(f"{name!r} is not a quality column with a direction (better=higher|lower)")
    return col.better


def _label(row, keys) -> str:
    return " ".join(str(row[k]) if k == "quantizer" else f"{k.split('.', 1)[1]}={row[k]}" for k in keys)


def rank_disagreements(table: pd.DataFrame, column: str, reference: str = "mse") -> pd.DataFrame:
    """The pairs of quantizer settings that ``column`` and ``reference`` order oppositely.

    Within each group of quantizations of the same image, k, seed, dither and alpha (those of
    these columns the table has), every pair of quantizer settings (``quantizer`` and its swept
    parameters, see :func:`items`) is compared by both columns, each in its own better direction
    (registry ``better``). A pair is a disagreement when one column says A is better than B and the
    other that B is better than A (a tie on either side is not). An empty frame means the two
    columns rank every group alike.

    Returns one row per disagreement: the group's columns, ``better_by_reference`` and
    ``better_by_column`` (the setting each column prefers, as "quantizer param=value ..."), and both
    settings' values of each column (``<reference>_better``, ``<reference>_worse``: the reference's
    preferred setting first, likewise for ``column``, keyed by the reference's order).
    """
    directions = {reference: _better(reference), column: _better(column)}
    rows = quantizations(table, [reference, column])
    group_keys = [c for c in WITHIN if c in rows]
    keys = items(rows)
    out = []
    for group, members in rows.groupby(group_keys, dropna=False, sort=True) if group_keys else [((), rows)]:
        group = group if isinstance(group, tuple) else (group,)
        records = members.to_dict("records")
        for a, b in itertools.combinations(records, 2):
            signs = {}
            for name, better in directions.items():
                diff = a[name] - b[name]
                signs[name] = 0 if diff == 0 else (1 if (diff < 0) == (better == "lower") else -1)  # 1: a better
            if signs[reference] * signs[column] < 0:
                first, second = (a, b) if signs[reference] > 0 else (b, a)  # first: better by the reference
                out.append({**dict(zip(group_keys, group)),
                            "better_by_reference": _label(first, keys), "better_by_column": _label(second, keys),
                            f"{reference}_better": first[reference], f"{reference}_worse": second[reference],
                            f"{column}_better": first[column], f"{column}_worse": second[column]})
    result = pd.DataFrame(out, columns=[*group_keys, "better_by_reference", "better_by_column",
                                        f"{reference}_better", f"{reference}_worse",
                                        f"{column}_better", f"{column}_worse"])
    result.attrs.update(reference=reference, column=column,
                        groups=int(rows.groupby(group_keys, dropna=False).ngroups) if group_keys else 1,
                        pairs=int(sum(len(m) * (len(m) - 1) // 2 for _, m in
                                      (rows.groupby(group_keys, dropna=False) if group_keys else [((), rows)]))))
    return result


def median_ranks(table: pd.DataFrame, column: str, reference: str = "mse") -> pd.DataFrame:
    """Each quantizer setting's median of ``reference`` and ``column`` over the images, and its rank by
    each (1 = best, ties share the lower rank), within each k, seed, dither and alpha.

    Only images every setting of the group has are counted, so each median is over the same images
    (``images``). ``differs``: the two ranks of that setting differ.
    """
    directions = {reference: _better(reference), column: _better(column)}
    rows = quantizations(table, [reference, column])
    keys = items(rows)
    group_keys = [c for c in WITHIN if c in rows and c != "image"]
    out = []
    for group, members in rows.groupby(group_keys, dropna=False, sort=True) if group_keys else [((), rows)]:
        group = group if isinstance(group, tuple) else (group,)
        settings = members.groupby(keys, dropna=False)
        n_settings = settings.ngroups
        shared = members.groupby("image")["image"].transform("size") == n_settings if "image" in members else True
        common = members[shared]
        medians = common.groupby(keys, dropna=False)[[reference, column]].median()
        images = common.groupby(keys, dropna=False).size()
        ranked = medians.copy()
        for name, better in directions.items():
            ranked[f"rank_by_{name}"] = medians[name].rank(method="min", ascending=better == "lower").astype(int)
        ranked["images"] = images
        ranked = ranked.reset_index()
        for k, v in zip(group_keys, group):
            ranked[k] = v
        out.append(ranked)
    if not out:
        return pd.DataFrame(columns=[*group_keys, *keys, reference, column, f"rank_by_{reference}",
                                     f"rank_by_{column}", "images", "differs"])
    result = pd.concat(out, ignore_index=True)
    result["differs"] = result[f"rank_by_{reference}"] != result[f"rank_by_{column}"]
    order = [*group_keys, *keys, reference, column, f"rank_by_{reference}", f"rank_by_{column}", "images", "differs"]
    return result[order].sort_values([*group_keys, f"rank_by_{column}"], ignore_index=True)
