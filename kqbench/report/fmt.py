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


def db(x) -> str:
    """PSNR in dB, 1 decimal; infinity (lossless) spelled out."""
    if x is None or x != x:
        return "–"
    return "∞" if math.isinf(x) else f"{x:.1f}"


def mse(x) -> str:
    return "–" if x is None or x != x else f"{x:.1f}"


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
    """``median (min–max)``, or just the value when all are equal."""
    if f(lo) == f(hi):
        return f(median)
    return f"{f(median)} ({f(lo)}–{f(hi)})"


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
