"""R's number formatting, so printed results read exactly as lme4 prints them.

``format_numbers`` follows R's ``formatReal`` (src/main/format.c): each value is rounded to
``digits`` significant digits, trailing zeros dropped, and the whole vector is then written with
the largest number of decimals any element needs, right-justified to a common width.
``abbreviate`` follows R's ``abbreviate`` (drop lower-case vowels from the end, then lower-case
letters, then truncate), used for the correlation-of-fixed-effects header.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

__all__ = ["decimals_needed", "format_numbers", "format_table", "abbreviate"]


def decimals_needed(x: float, digits: int) -> int:
    """Digits right of the point R shows for ``x`` at ``digits`` significant digits."""
    if not math.isfinite(x) or x == 0:
        return 0
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    significant = mantissa.replace(".", "").rstrip("0") or "0"
    return max(0, len(significant) - (int(exponent) + 1))


def format_numbers(values: Iterable[float], digits: int, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` for a numeric vector (fixed notation)."""
    values = [float(v) for v in values]
    decimals = max([decimals_needed(v, digits) for v in values] + [nsmall])
    decimals = min(decimals, 15)
    strings = ["NaN" if math.isnan(v) else f"{v:.{decimals}f}" for v in values]
    width = max((len(s) for s in strings), default=0)
    return [s.rjust(width) for s in strings]


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], row_names: Sequence[str] | None = None,
                 right: bool = False) -> str:
    """Print a character matrix as R's ``print(m, quote = FALSE, right = right)`` does."""
    columns = list(zip(*([list(header)] + [list(r) for r in rows]))) if rows else [[h] for h in header]
    widths = [max(len(cell) for cell in col) for col in columns]
    names = list(row_names) if row_names is not None else [""] * len(rows)
    name_width = max([len(n) for n in names] + [0])
    justify = (lambda s, w: s.rjust(w)) if right else (lambda s, w: s.ljust(w))
    lines = [" " * name_width + "".join(" " + justify(h, w) for h, w in zip(header, widths))]
    for name, row in zip(names, rows):
        lines.append(name.ljust(name_width) + "".join(" " + justify(c, w) for c, w in zip(row, widths)))
    return "\n".join(lines)


def abbreviate(name: str, minlength: int) -> str:
    """R's ``abbreviate(name, minlength)`` (default method, no ``use.classes`` subtleties beyond R's)."""
    if len(name) <= minlength:
        return name
    chars = list(name)

    def drop_from_end(predicate) -> None:
        i = len(chars) - 1
        while len(chars) > minlength and i > 0:
            if predicate(chars[i]) and chars[i - 1] != " ":
                del chars[i]
            i -= 1

    drop_from_end(lambda c: c in "aeiou")
    drop_from_end(lambda c: c.islower())
    return "".join(chars[:max(minlength, 0)]) if len(chars) > minlength else "".join(chars)


def quantiles(values: np.ndarray) -> np.ndarray:
    """Min, 1Q, median, 3Q, max (R's ``quantile`` type 7)."""
    return np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
