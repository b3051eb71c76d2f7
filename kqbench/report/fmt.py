"""Number formatting and Markdown tables: one rounding per quantity, used everywhere in the report
(and by the tests, which check the printed numbers against the table)."""

from __future__ import annotations

import math


def bpp(x) -> str:
    """Bits per pixel, 2 decimals."""
    return "–" if x is None or x != x else f"{x:.2f}"


def ratio(x) -> str:
    """A size ratio, 2 decimals and a times sign."""
    return "–" if x is None or x != x else f"{x:.2f}×"


def factor(x) -> str:
    """A speed-up or slow-down factor (times), 3 significant digits: ``0.37×``, ``5.10×``, ``53.0×``."""
    if x is None or x != x:
        return "–"
    return seconds(x) + "×"


def db(x) -> str:
    """PSNR in dB, 1 decimal; infinity (lossless) spelled out."""
    if x is None or x != x:
        return "–"
    return "∞" if math.isinf(x) else f"{x:.1f}"


def mse(x) -> str:
    return "–" if x is None or x != x else f"{x:.1f}"


def de(x) -> str:
    """Mean CIEDE2000 colour difference, 2 decimals."""
    return "–" if x is None or x != x else f"{x:.2f}"


def signed(x, digits: int = 1) -> str:
    """A difference with its sign: ``+1.2``, ``-0.4``, ``+0.0`` (never ``-0.0``), ``+∞``."""
    if x is None or x != x:
        return "–"
    if math.isinf(x):
        return "+∞" if x > 0 else "-∞"
    text = f"{x:+.{digits}f}"
    return "+" + text[1:] if float(text) == 0 else text


def ddb(x) -> str:
    """A PSNR difference in dB, signed, 1 decimal."""
    return signed(x, 1)


def dde(x) -> str:
    """A CIEDE2000 difference, signed, 2 decimals."""
    return signed(x, 2)


def seconds(x) -> str:
    """Seconds with 3 significant digits in plain notation."""
    if x is None or x != x:
        return "–"
    if x == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:.{digits}f}"


def kb(n_bytes) -> str:
    """Kilobytes (1 KB = 1000 bytes), 1 decimal."""
    return "–" if n_bytes is None or n_bytes != n_bytes else f"{n_bytes / 1000:.1f}"


def pct(x, digits: int = 0) -> str:
    return "–" if x is None or x != x else f"{100 * x:.{digits}f}%"


def spread(median, lo, hi, f=bpp) -> str:
    """``median (min–max)``, or just the value when all are equal; signed values read
    ``median (min to max)``."""
    if f(lo) == f(hi):
        return f(median)
    sep = " to " if f(lo)[:1] in "+-" or f(hi)[:1] in "+-" else "–"
    return f"{f(median)} ({f(lo)}{sep}{f(hi)})"


def tally(n_less: int, n_more: int, n: int, less: str = "smaller", more: str = "larger") -> str:
    """How many of ``n`` pairs went each way: ``smaller in all 12``, ``smaller in 5 of 12, larger in 7``,
    ``the same in all 3`` (the counts say how mixed it is)."""
    if n == 0:
        return "no pairs"
    every = "in 1 of 1" if n == 1 else f"in all {n}"
    if n_less == n:
        return f"{less} {every}"
    if n_more == n:
        return f"{more} {every}"
    if n_less == 0 and n_more == 0:
        return f"the same {every}"
    parts = [f"{less} in {n_less} of {n}" if n_less else "", f"{more} in {n_more}" + ("" if n_less else f" of {n}")
             if n_more else ""]
    same = n - n_less - n_more
    text = ", ".join(p for p in parts if p) + (f", the same in {same}" if same else "")
    return text


def int_or_dash(x) -> str:
    return "–" if x is None or x != x else str(int(x))


def listing(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table (every cell as text)."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def how_many(n: int, total: int) -> str:
    """``all``, ``most``, ``some`` or ``none`` of ``total``: the word that fits ``n``."""
    if total and n == total:
        return "all"
    if n == 0:
        return "none"
    return "most" if 2 * n > total else "some"


def count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
