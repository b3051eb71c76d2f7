"""``kqbench compare A B``: what changed from sweep A to sweep B, configuration by configuration (asv
``compare``-style), with an exit status a CI can use.

Rows are matched on their configuration: the input image (the ``image``-scope columns, except ``source``,
which is where the installed copy keeps the file) and the job's settings (the ``setting``-scope columns:
``k``, ``quantizer`` and its ``quantizer.<param>`` columns, ``encoding`` and its parameters, ``seed``,
``dither``, ``alpha``, ``repeats``; not the ``quantizer_*``/``encoding_*`` class metadata, which follow
from the option). A column that only one table has counts as missing in the other. For each matched
row, B/A is computed for ``bytes``, every quality column with a direction (``better`` in
:mod:`kqbench.columns`) and every timing column (unit ``s``; lower is better for bytes and seconds):

- ``bytes`` and quality: deterministic for a given configuration and seed, so any difference beyond
  ``--tolerance`` (relative, default 1e-9) is flagged;
- timings: noisy, so flagged only beyond ``--time-factor`` (default 1.2×) *and* ``--time-floor`` seconds
  apart (default 0.01 s); and a flagged timing is reported but fails only with ``--fail-on-time``: on a
  shared machine two runs of the same sweep differ by several times (see README.md);
- outcome: a row ``ok`` in A and not in B (or whose round trip stops matching) is a regression, the
  reverse an improvement.

A configuration in only one sweep is listed, not failed. Exit status: 0 no regression, 1 some,
2 unusable input (a one-line error naming the input and what to do).
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import columns

TOLERANCE = 1e-9
TIME_FACTOR = 1.2
TIME_FLOOR = 0.01
NOT_MATCHED = ("source",)  # the input file's path: differs between two installed copies of the same image
REQUIRED = ("image", "k", "quantizer", "encoding", "bytes", "status")
SEP = "\x1f"
WIDTH = 110  # the notes under the verdict line are wrapped to this
SHOWN_ONLY_IN = 12  # configurations listed per side, when only one sweep has them


class UsageError(Exception):
    """The inputs cannot be compared (exit status 2); the message is one line."""


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str  # "bytes", "quality" or "time"
    better: str  # "lower" or "higher"


def measures() -> list[Measure]:
    """What is compared, in table order: bytes, the quality columns with a direction, the timings."""
    found = [Measure("bytes", "bytes", "lower")]
    found += [Measure(c.name, "quality", c.better) for c in columns.quality_measures()]
    found += [Measure(c.name, "time", "lower") for c in columns.COLUMNS if c.unit == "s"]
    return found


def key_columns(*tables: pd.DataFrame) -> list[str]:
    """The configuration columns present in any of ``tables``, in table order (parameters after their option)."""
    present = set().union(*(t.columns for t in tables))
    key = []
    for c in columns.COLUMNS:
        if c.scope == "image" and c.name not in NOT_MATCHED and c.name in present:
            key.append(c.name)
        elif c.scope == "setting" and c.parameter_group:
            key += sorted(n for n in present if n.startswith(f"{c.parameter_group}."))
        elif c.scope == "setting" and not c.about_class and c.name in present:
            key.append(c.name)
    return key


def _canon(v) -> str:
    """One spelling per value, whatever the file type: 300, 300.0 and "300" match; missing is ""."""
    if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v)


def _canon_column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]`` spelled by :func:`_canon` (each distinct value once); all "" when ``df`` lacks it."""
    if name not in df.columns:
        return pd.Series("", index=df.index, dtype=object)
    codes, uniques = pd.factorize(df[name], use_na_sentinel=False)
    spelled = np.array([_canon(v) for v in uniques] or [""], dtype=object)
    return pd.Series(spelled[codes], index=df.index, dtype=object)


def _join(df: pd.DataFrame, key: list[str]) -> pd.Series:
    """One string per row: its ``key`` columns' spellings."""
    joined = pd.Series("", index=df.index, dtype=object)
    for i, c in enumerate(key):
        joined = joined + (SEP if i else "") + df[c]
    return joined


def load(path) -> tuple[pd.DataFrame, str]:
    """The table of a sweep folder (``results.parquet``, else ``results.csv``) or of a table file."""
    p = Path(path).expanduser()
    if p.is_dir():
        table = next((p / n for n in ("results.parquet", "results.csv") if (p / n).is_file()), None)
        if table is None:
            raise UsageError(f"{path}: no results.parquet or results.csv in this folder: not a finished sweep? "
                             f"(kqbench table {path} rebuilds the table from its jobs' rows)")
    elif p.is_file():
        table = p
        if p.suffix not in (".parquet", ".csv"):
            raise UsageError(f"{path}: not a results table: give a sweep folder (results/<date>/<time>) or its "
                             f"results.parquet or results.csv")
    else:
        raise UsageError(f"{path}: no such file or folder: give a sweep folder (results/<date>/<time>, "
                         f"results/latest) or its results.parquet")
    try:
        df = pd.read_parquet(table) if table.suffix == ".parquet" else pd.read_csv(table, low_memory=False)
    except Exception as exc:  # noqa: BLE001 - pyarrow and the csv reader raise several types
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UsageError(f"{table}: cannot read it ({type(exc).__name__}: {first}); "
                         f"kqbench table {table.parent} rebuilds it from the jobs' rows") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise UsageError(f"{table}: lacks the columns {', '.join(missing)}: not a kqbench results table")
    if df.empty:
        raise UsageError(f"{table}: has no rows: nothing to compare")
    return df.reset_index(drop=True), str(table)


@dataclass
class Comparison:
    """The outcome of :func:`compare`: one row per matched configuration, and what only one sweep had."""

    a_name: str
    b_name: str
    key: list[str]
    shown: list[str]  # the key columns that tell the configurations apart (the table's label columns)
    measures: list[Measure]
    rows: pd.DataFrame  # shown columns, then per measure: A, B, ratio, flag ("+" worse, "-" better, "")
    only_a: pd.DataFrame
    only_b: pd.DataFrame
    ignored: dict[str, tuple[str, str]] = field(default_factory=dict)  # column: (A's values, B's values)
    differing: dict[str, tuple[str, str]] = field(default_factory=dict)  # key columns whose values differ
    not_compared: dict[str, str] = field(default_factory=dict)  # measure: which sweep has it
    settings: dict = field(default_factory=dict)

    @property
    def regressed(self) -> pd.Series:
        return self.rows["verdict"] == "+"

    @property
    def improved(self) -> pd.Series:
        return self.rows["verdict"] == "-"

    def timing(self, flag: str) -> pd.Series:
        """Rows with a timing flagged ``flag`` ("+" slower, "-" faster)."""
        cols = [f"{m.name}:flag" for m in self.measures if m.kind == "time"]
        return self.rows[cols].eq(flag).any(axis=1) if cols else pd.Series(False, index=self.rows.index)

    def flag_counts(self, flag: str) -> dict[str, int]:
        """Per column, the rows flagged ``flag`` ("+" or "-") that count for the verdict."""
        counted = [m for m in self.measures if m.kind != "time" or self.settings.get("fail_on_time")]
        counts = {m.name: int((self.rows[f"{m.name}:flag"] == flag).sum()) for m in counted}
        counts["outcome"] = int((self.rows["outcome:flag"] == flag).sum())
        return {k: v for k, v in counts.items() if v}


def _values(series: pd.Series, limit: int = 4) -> str:
    vals = sorted(set(series), key=lambda v: (len(v), v))
    shown = ", ".join(v if v else "(none)" for v in vals[:limit])
    return shown + (f", ... ({len(vals)} values)" if len(vals) > limit else "")


def _ratio(a: float, b: float) -> float:
    if a == b:
        return 1.0
    if a == 0:
        return math.inf
    if math.isinf(a):
        return 0.0
    return b / a


def _flag_exact(a: float, b: float, better: str, tolerance: float) -> str:
    if a == b:
        return ""
    scale = max(abs(a), abs(b))
    if not math.isinf(scale) and abs(b - a) <= tolerance * scale:
        return ""
    worse = b > a if better == "lower" else b < a
    return "+" if worse else "-"


def _flag_time(a: float, b: float, factor: float, floor: float) -> str:
    if abs(b - a) <= floor:
        return ""
    r = _ratio(a, b)
    if r > factor:
        return "+"
    if r < 1 / factor:
        return "-"
    return ""


def _outcome(a_status, b_status, a_round, b_round) -> tuple[str, str]:
    """(description, flag) of a row's outcome from A to B."""
    a_ok, b_ok = a_status == "ok", b_status == "ok"
    if a_ok and not b_ok:
        return f"ok→{b_status}", "+"
    if b_ok and not a_ok:
        return f"{a_status}→ok", "-"
    if not a_ok:
        return f"{b_status}", ""
    if a_round is True and b_round is False:
        return "round trip fails", "+"
    if a_round is False and b_round is True:
        return "round trip fixed", "-"
    return "", ""


def _bool_or_none(v):
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return None
    if isinstance(v, str):
        return {"True": True, "False": False}.get(v)
    return bool(v)


def compare(a: pd.DataFrame, b: pd.DataFrame, *, a_name: str = "A", b_name: str = "B", ignore=(),
            tolerance: float = TOLERANCE, time_factor: float = TIME_FACTOR, time_floor: float = TIME_FLOOR,
            fail_on_time: bool = False) -> Comparison:
    """Match ``a`` and ``b`` on their configuration columns (less ``ignore``) and compare every measure.

    A row's ``verdict`` is "+" (a regression), "-" (an improvement, and no regression), "~" (only its
    timings are flagged, which count as regressions and improvements with ``fail_on_time``) or "".
    """
    all_key = key_columns(a, b)
    unknown = [c for c in ignore if c not in all_key]
    if unknown:
        raise UsageError(f"--ignore {', '.join(unknown)}: not a configuration column of {a_name} or {b_name} "
                         f"(those are: {', '.join(all_key)})")
    key = [c for c in all_key if c not in ignore]
    canon = {name: pd.DataFrame({c: _canon_column(df, c) for c in all_key}, index=df.index)
             for name, df in (("a", a), ("b", b))}
    ka, kb = (_join(canon[name], key) for name in ("a", "b"))
    for name, keys, df in ((a_name, ka, canon["a"]), (b_name, kb, canon["b"])):
        dup = keys.duplicated(keep=False)
        if dup.any():
            first = df.loc[dup[dup].index[0], key]
            example = " ".join(f"{c}={v}" for c, v in first.items() if v and c in ("image", "quantizer", "k",
                                                                                  "encoding", "seed"))
            hint = (f"--ignore {','.join(ignore)} merges configurations: compare without it, or on sweeps "
                    f"that do not vary it" if ignore else "compare needs one row per configuration: is this "
                    "table several sweeps in one?")
            raise UsageError(f"{name}: {int(dup.sum())} rows share their configuration with another row "
                             f"(e.g. {example}): {hint}")
    in_b = ka.isin(set(kb))
    in_a = kb.isin(set(ka))
    differing = {c: (_values(canon["a"][c]), _values(canon["b"][c])) for c in all_key
                 if c not in ignore and set(canon["a"][c]) != set(canon["b"][c])}
    ignored = {c: (_values(canon["a"][c]), _values(canon["b"][c])) for c in ignore}
    if not in_b.any():
        hint = "; ".join(f"{c}: {a_name} has {va}, {b_name} has {vb}" for c, (va, vb) in list(differing.items())[:4])
        raise UsageError(f"{b_name}: no configuration in common with {a_name}"
                         + (f" ({hint}); --ignore COLUMN compares rows that differ only there" if hint else ""))

    # label columns: the image, the settings that vary, and a parameter only where it varies for one option
    union = pd.concat([canon["a"], canon["b"]], ignore_index=True)
    image_scope = {c.name for c in columns.COLUMNS if c.scope == "image"}

    def varies(c):
        head, dot, _ = c.partition(".")
        if dot and head in union:
            return bool(union.groupby(head)[c].nunique().gt(1).any())
        return union[c].nunique() > 1

    shown = [c for c in key if c == "image" or (c not in image_scope and varies(c))]

    found = [m for m in measures() if m.name in a.columns and m.name in b.columns]
    not_compared = {m.name: (a_name if m.name in a.columns else b_name) for m in measures()
                    if (m.name in a.columns) != (m.name in b.columns)}
    ia = pd.Series(a.index, index=ka.values)
    ib = pd.Series(b.index, index=kb.values)
    matched = ka[in_b]
    ra = a.loc[ia[matched.values].values].reset_index(drop=True)
    rb = b.loc[ib[matched.values].values].reset_index(drop=True)
    out = canon["a"].loc[ia[matched.values].values, shown].reset_index(drop=True)
    out["outcome"], out["outcome:flag"] = "", ""
    outcomes = [_outcome(sa, sb, _bool_or_none(x), _bool_or_none(y)) for sa, sb, x, y in zip(
        ra["status"], rb["status"],
        ra["roundtrip_ok"] if "roundtrip_ok" in ra else [None] * len(ra),
        rb["roundtrip_ok"] if "roundtrip_ok" in rb else [None] * len(rb))]
    out["outcome"] = [o for o, _ in outcomes]
    out["outcome:flag"] = [f for _, f in outcomes]
    both_ok = ((ra["status"] == "ok") & (rb["status"] == "ok")).to_numpy()
    for m in found:
        va = pd.to_numeric(ra[m.name], errors="coerce").to_numpy(float)
        vb = pd.to_numeric(rb[m.name], errors="coerce").to_numpy(float)
        ratios, flags = [], []
        for x, y, ok in zip(va, vb, both_ok):
            if not ok or math.isnan(x) or math.isnan(y):
                ratios.append(math.nan)
                flags.append("")
                continue
            ratios.append(_ratio(x, y))
            flags.append(_flag_time(x, y, time_factor, time_floor) if m.kind == "time"
                         else _flag_exact(x, y, m.better, tolerance))
        out[f"{m.name}:A"], out[f"{m.name}:B"] = va, vb
        out[f"{m.name}:ratio"], out[f"{m.name}:flag"] = ratios, flags
    times = [f"{m.name}:flag" for m in found if m.kind == "time"]
    gating = [c for c in out.columns if c.endswith(":flag") and (fail_on_time or c not in times)]
    flags, timed = out[gating], out[times]
    out["verdict"] = np.select([flags.eq("+").any(axis=1), flags.eq("-").any(axis=1), timed.ne("").any(axis=1)],
                               ["+", "-", "~"], "")
    def only(side: str, mask: pd.Series) -> pd.DataFrame:  # a side's unmatched configurations, image and settings
        return canon[side].loc[mask, [c for c in key if c == "image" or c not in image_scope]].reset_index(drop=True)

    return Comparison(
        a_name, b_name, key, shown, found, out, only("a", ~in_b), only("b", ~in_a),
        ignored=ignored, differing=differing, not_compared=not_compared,
        settings=dict(tolerance=tolerance, time_factor=time_factor, time_floor=time_floor,
                      fail_on_time=fail_on_time))


# --------------------------------------------------------------------------- text


def _fmt_ratio(r: float, flag: str) -> str:
    if math.isnan(r):
        return ""
    if math.isinf(r):
        text = "inf"
    elif flag and abs(r - 1) < 5e-4:
        text = f"{r:.6f}"
    elif 1e-3 <= r < 1e4:
        text = f"{r:.3f}"
    else:
        text = f"{r:.3g}"
    return f"{text}{flag or ' '}"


def _geomean(ratios: pd.Series) -> float:
    r = ratios[np.isfinite(ratios) & (ratios > 0)]
    return float(np.exp(np.log(r).mean())) if len(r) else math.nan


def _align(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
            .rstrip() for r in rows]


def _label(row: pd.Series, cols: list[str]) -> str:
    return " ".join(f"{c}={row[c]}" for c in cols if row[c] != "")


def _only_lines(df: pd.DataFrame, name: str) -> list[str]:
    if df.empty:
        return []
    settings = [c for c in df.columns if c != "image"]
    groups = df.groupby(settings, sort=False, dropna=False) if settings else [((), df)]
    lines = [f"only in {name} ({len(df)} rows, listed, not failed):"]
    varying = [c for c in settings if df[c].nunique() > 1] or settings[:3]
    for i, (_, g) in enumerate(groups):
        if i == SHOWN_ONLY_IN:
            lines.append(f"  ... and {len(groups) - SHOWN_ONLY_IN} more configurations")
            break
        images = sorted(g["image"].unique()) if "image" in g else []
        what = _label(g.iloc[0], varying) or "(every configuration)"
        lines.append(f"  {what}: {len(g)} rows ({', '.join(images[:4])}{', ...' if len(images) > 4 else ''})")
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def render(c: Comparison, show_all: bool = False) -> str:
    """The verdict line first, then what was matched and how, the table, and what only one sweep had."""
    n, s = len(c.rows), c.settings
    reg, imp = int(c.regressed.sum()), int(c.improved.sum())
    slower, faster = int(c.timing("+").sum()), int(c.timing("-").sum())
    same = n - reg - imp
    verdict = (f"kqbench compare: {_plural(reg, 'regression')}, {_plural(imp, 'improvement')}, {same} unchanged, "
               f"of {_plural(n, 'configuration')} compared (image × settings); "
               f"{len(c.only_a)} only in A, {len(c.only_b)} only in B")
    lines = [verdict]
    if slower or faster:
        lines.append(f"  timings: {_plural(slower, 'configuration')} slower, {faster} faster beyond "
                     f"{s['time_factor']:g}× and {s['time_floor']:g} s" + (
                         " (counted above: --fail-on-time)" if s["fail_on_time"] else
                         " (noisy: reported, not failed; --fail-on-time fails them)"))
    for flag, word in (("+", "regressions"), ("-", "improvements")):
        counts = c.flag_counts(flag)
        if counts:
            lines.append(f"  {word} by column: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    both_failed = int(((c.rows["outcome"] != "") & (c.rows["outcome:flag"] == "")).sum())
    if both_failed:
        lines.append(f"  {_plural(both_failed, 'configuration')} not ok in either sweep (not compared)")
    lines += [f"  A: {c.a_name}", f"  B: {c.b_name}"]
    params = [k for k in c.key if "." in k]
    lines.append(f"  matched on: {', '.join(k for k in c.key if '.' not in k)}"
                 + (f", and the parameters {', '.join(params)}" if params else ""))
    for col, (va, vb) in c.ignored.items():
        lines.append(f"  ignored (--ignore): {col} (A: {va}; B: {vb})")
    if (len(c.only_a) or len(c.only_b)) and c.differing:
        for col, (va, vb) in list(c.differing.items())[:6]:
            lines.append(f"  differs: {col} (A: {va}; B: {vb})")
    for name, side in c.not_compared.items():
        lines.append(f"  not compared: {name} (only {side} has it)")
    directions = {}
    for m in c.measures:
        directions.setdefault(m.better, []).append(m.name)
    better = ", ".join(f"{d} is better for {', '.join(names)}" for d, names in directions.items())
    lines.append(f"  ratios B/A; {better}. After a ratio: + worse, - better; before a row: its verdict, ~ when "
                 f"only timings are flagged")
    lines.append(f"  flagged: bytes and quality differing by more than {s['tolerance']:g} (relative); timings beyond "
                 f"{s['time_factor']:g}× and {s['time_floor']:g} s apart. Timings are noisy (other processes, CPU "
                 f"clocks): rerun a flagged one, or sweep with repeats=3, before believing it")

    lines = [lines[0], *(textwrap.fill(line, WIDTH, subsequent_indent="    ", break_on_hyphens=False)
                         for line in lines[1:])]
    shown_measures = [m for m in c.measures if c.rows[f"{m.name}:ratio"].notna().any()]
    ratio_cols = list(range(len(shown_measures)))

    # what the change did, at a glance: geometric means of B/A, overall and per option
    groups = [g for g in ("quantizer", "encoding") if g in c.shown]
    summary = [["", *groups, "rows", "worse", "better", *(m.name for m in shown_measures)]]

    def summarise(label: list[str], rows: pd.DataFrame):
        summary.append(["", *label, str(len(rows)), str(int((rows["verdict"] == "+").sum())),
                        str(int((rows["verdict"] == "-").sum())),
                        *(_fmt_ratio(_geomean(rows[f"{m.name}:ratio"]), "") for m in shown_measures)])

    summarise(["all", *[""] * (len(groups) - 1)] if groups else [], c.rows)
    for i, g in enumerate(groups):
        for value, rows in c.rows.groupby(g, sort=False):
            summarise([""] * i + [value] + [""] * (len(groups) - i - 1), rows)
    if len(summary) == 2 and not groups:
        summary[1][0] = "all"
    lines += ["", "geometric mean of B/A:"]
    lines += _align(summary, {len(groups) + 1 + i for i in range(3 + len(ratio_cols))})

    # the flagged configurations
    listed = ("+", "-", "~") if show_all or s["fail_on_time"] else ("+", "-")
    table = c.rows if show_all else c.rows[c.rows["verdict"].isin(listed)]
    order = table["verdict"].map({"+": 0, "-": 1, "~": 2, "": 3})
    table = table.iloc[np.argsort(order.to_numpy(), kind="stable")]
    show_outcome = (c.rows["outcome"] != "").any()
    header = ["", *c.shown, *(m.name for m in shown_measures)] + (["outcome"] if show_outcome else [])
    body = [header]
    for _, row in table.iterrows():
        cells = [row["verdict"], *(row[k] for k in c.shown)]
        cells += [_fmt_ratio(row[f"{m.name}:ratio"], row[f"{m.name}:flag"]) for m in shown_measures]
        if show_outcome:
            cells.append(row["outcome"])
        body.append(cells)
    lines.append("")
    hidden = {"unchanged": int((c.rows["verdict"] == "").sum()), "with only timings flagged":
              int((c.rows["verdict"] == "~").sum())}
    not_listed = " and ".join(f"{v} {k}" for k, v in hidden.items() if v and (show_all is False) and
                              (k == "unchanged" or "~" not in listed))
    if len(table) == 0:
        lines.append(f"no configuration changed beyond the thresholds ({not_listed}: --all lists them)")
    else:
        lines.append(f"{_plural(len(table), 'configuration')} " + ("compared:" if show_all else
                     f"flagged{f' ({not_listed} not listed: --all lists them)' if not_listed else ''}:"))
        right = set(range(1 + len(c.shown), 1 + len(c.shown) + len(shown_measures)))
        right |= {1 + i for i, k in enumerate(c.shown) if k in ("k", "seed")}
        lines += _align(body, right)
    for df, name in ((c.only_a, "A"), (c.only_b, "B")):
        only = _only_lines(df, name)
        if only:
            lines += ["", *only]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="kqbench compare",
        description="Compare sweep B with sweep A, configuration by configuration: ratios B/A of bytes, the "
                    "quality columns and the timings, regressions flagged. Exit status: 0 no regression, 1 some, "
                    "2 unusable input.")
    parser.add_argument("a", metavar="A", help="the baseline: a sweep folder (results/<date>/<time>) or its "
                                                "results.parquet / results.csv")
    parser.add_argument("b", metavar="B", help="the sweep to judge against A")
    parser.add_argument("--ignore", action="append", default=[], metavar="COLUMN",
                        help="match configurations without this column (repeat, or comma-separate), e.g. "
                             "quantizer.max_iter when that is the change being measured")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, metavar="REL",
                        help=f"relative difference of bytes and quality columns still counted equal "
                             f"(default {TOLERANCE:g}: deterministic, so equal)")
    parser.add_argument("--time-factor", type=float, default=TIME_FACTOR, metavar="X",
                        help=f"flag a timing when B/A is beyond this factor either way (default {TIME_FACTOR:g}; "
                             f"inf: never)")
    parser.add_argument("--time-floor", type=float, default=TIME_FLOOR, metavar="SECONDS",
                        help=f"... and the two differ by more than this (default {TIME_FLOOR:g} s)")
    parser.add_argument("--fail-on-time", action="store_true",
                        help="count flagged timings as regressions (exit status 1); by default they are reported "
                             "only, being noisy")
    parser.add_argument("--all", action="store_true", help="list unchanged configurations too")
    parser.add_argument("--csv", metavar="FILE", help="also write every matched configuration (A, B, ratio, flag "
                                                      "per column) to FILE")
    args = parser.parse_args(argv)
    ignore = [c.strip() for item in args.ignore for c in item.split(",") if c.strip()]
    try:
        if args.time_factor < 1 or args.time_floor < 0 or args.tolerance < 0:
            raise UsageError("--time-factor must be ≥ 1, --time-floor and --tolerance ≥ 0")
        a, a_name = load(args.a)
        b, b_name = load(args.b)
        result = compare(a, b, a_name=a_name, b_name=b_name, ignore=ignore, tolerance=args.tolerance,
                         time_factor=args.time_factor, time_floor=args.time_floor, fail_on_time=args.fail_on_time)
    except UsageError as exc:
        print(f"kqbench compare: error: {exc}", file=sys.stderr)
        return 2
    print(render(result, show_all=args.all))
    if args.csv:
        result.rows.to_csv(args.csv, index=False)
    return 1 if result.regressed.any() else 0


if __name__ == "__main__":
    raise SystemExit(main())
