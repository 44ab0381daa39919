"""A table of estimates printed as emmeans prints it (``print.summary_emm``).

Numbers: each numeric column is ``zapsmall``-ed, df rounded to 2 decimals, test statistics to 3
(always 3 decimals shown), p-values to 4 (``<.0001`` below); the other numeric columns are shown
with d significant digits, d the largest over rows of emmeans' ``.opt.dig`` of
(estimate − 2 SE, estimate, estimate + 2 SE) (at least 3). Label columns are left-justified,
numbers right-justified; a ``by`` variable splits the table into blocks headed ``by = level:``;
the annotation lines follow.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import pandas as pd

from ..rformat import format_numbers
from .adjust import zapsmall

__all__ = ["EmmTable"]

_STATISTICS = ("t.ratio", "z.ratio", "F.ratio")


def _optimal_digits(row: np.ndarray) -> int:
    """emmeans' ``.opt.dig`` for (est − 2SE, est, est + 2SE)."""
    scale = np.max(np.abs(row))
    if not np.isfinite(scale) or scale == 0:
        return 3
    z = np.array([row.min(), row.max()]) / scale
    dz = zapsmall(np.array([z[1] - z[0], z[0], z[1]]), digits=8)[0]
    if dz <= 0:
        return 3
    return max(int(np.round(1.51 - math.log10(dz))), 3)


def _format_column(values: pd.Series, name: str, digits: int) -> list[str]:
    if name in _STATISTICS:
        return [f"{round(v, 3):.3f}" if np.isfinite(v) else str(v) for v in values]
    if name == "p.value":
        return ["<.0001" if f"{round(v, 4):.4f}" == "0.0000" else f"{round(v, 4):.4f}" for v in values]
    numbers = values.to_numpy(dtype=float)
    if name == "df":
        numbers = np.round(numbers, 2)
    finite = np.isfinite(numbers)
    strings = ["" for _ in numbers]
    for i, s in zip(np.flatnonzero(finite), format_numbers(numbers[finite], digits) if finite.any() else []):
        strings[i] = s.strip()
    for i in np.flatnonzero(~finite):
        strings[i] = "NA" if np.isnan(numbers[i]) else ("Inf" if numbers[i] > 0 else "-Inf")
    return strings


class EmmTable:
    """A DataFrame of estimates with emmeans' printing.

    Attributes
    ----------
    frame : DataFrame       the numbers (a copy is returned by :meth:`to_frame`)
    by : list of str        variables that split the printed table into blocks
    estimate_name : str     the estimate column ("emmean", "estimate", "prob", "odds.ratio", ...)
    messages : list of str  the lines printed under the table
    """

    def __init__(self, frame: pd.DataFrame, by: list[str], estimate_name: str, messages: list[str]):
        self.frame = frame
        self.by = list(by)
        self.estimate_name = estimate_name
        self.messages = list(dict.fromkeys(messages))

    def to_frame(self) -> pd.DataFrame:
        """The table as a new DataFrame."""
        return self.frame.copy()

    def __getitem__(self, key):
        return self.frame[key]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns

    # ------------------------------------------------------------------ text
    def text_cells(self) -> tuple[list[str], list[list[str]]]:
        """Column names and the printed text of every cell (numbers formatted as in ``print``)."""
        names, cells, _ = self._cells()
        return names, [[cells[n][i] for n in names] for i in range(len(self.frame))]

    def _digits(self) -> int | None:
        frame = self.frame
        if "SE" not in frame or self.estimate_name not in frame:
            return 4
        est, se = frame[self.estimate_name].to_numpy(float), frame["SE"].to_numpy(float)
        rows = [np.array([e - 2 * s, e, e + 2 * s]) for e, s in zip(est, se) if np.isfinite(e) and np.isfinite(s)]
        return max([_optimal_digits(r) for r in rows] + [3])

    def _cells(self) -> tuple[list[str], dict[str, list[str]], dict[str, bool]]:
        frame = self.frame
        digits = self._digits()
        cells, right = {}, {}
        for name in frame.columns:
            column = frame[name]
            numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)
            if numeric:
                zapped = pd.Series(zapsmall(column.to_numpy(dtype=float)), index=column.index)
                cells[name] = _format_column(zapped, name, digits)
            else:
                cells[name] = [str(v) for v in column]
            right[name] = numeric
        return list(frame.columns), cells, right

    def __str__(self) -> str:
        names, cells, right = self._cells()
        shown = [n for n in names if n not in self.by]
        widths = {n: max([len(n)] + [len(c) for c in cells[n]]) for n in shown}

        def line(values: dict[str, str]) -> str:
            return "".join(" " + (values[n].rjust(widths[n]) if right[n] else values[n].ljust(widths[n]))
                           for n in shown)

        header = "".join(" " + (n.rjust(widths[n]) if right[n] else n.ljust(widths[n])) for n in shown)
        blocks = []
        if not self.by:
            rows = range(len(self.frame))
            blocks.append("\n".join([header] + [line({n: cells[n][i] for n in shown}) for i in rows]))
        else:
            keys = [tuple(cells[b][i] for b in self.by) for i in range(len(self.frame))]
            order = sorted(range(len(self.frame)), key=lambda i: tuple(self._by_rank(b, i) for b in reversed(self.by)))
            seen: dict[tuple, list[int]] = {}
            for i in order:
                seen.setdefault(keys[i], []).append(i)
            for key, rows in seen.items():
                title = ", ".join(f"{b} = {cells[b][rows[0]]}" for b in self.by)
                blocks.append("\n".join([f"{title}:", header] + [line({n: cells[n][i] for n in shown})
                                                                  for i in rows]))
        text = "\n\n".join(blocks) + "\n"
        if self.messages:
            text += "\n" + "\n".join(self.messages)
        return text

    def _by_rank(self, name: str, i: int):
        column = self.frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            return column.cat.codes.iloc[i]
        return column.iloc[i]

    def __repr__(self) -> str:
        return str(self)

    # ------------------------------------------------------------------ HTML
    def _repr_html_(self) -> str:
        names, cells, right = self._cells()
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        body = "".join("<tr>" + "".join(
            f"<td style='text-align:{'right' if right[n] else 'left'}'>{escape(cells[n][i])}</td>" for n in names)
            + "</tr>" for i in range(len(self.frame)))
        notes = "".join(f"<br><small>{escape(m)}</small>" for m in self.messages)
        return f"<div><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>"
