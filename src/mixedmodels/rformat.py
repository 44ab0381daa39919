"""R's number formatting, so printed results read exactly as lme4 prints them.

``format_numbers`` follows R's ``formatReal`` (src/main/format.c): each value is rounded to
``digits`` significant digits, trailing zeros dropped, and the whole vector is then written with
the largest number of decimals any element needs, right-justified to a common width.
``abbreviate`` follows R's ``abbreviate`` (drop lower-case vowels from the end, then lower-case
letters, then truncate), used for the correlation-of-fixed-effects header.
``format_pvalues`` is R's ``format.pval``, ``format_anova_table`` R's ``print.anova`` (through
``printCoefmat``), and :class:`RTable` a DataFrame that prints itself that way, with a heading
and a footer (ANOVA and likelihood-ratio tables; any table of estimates and tests).
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["decimals_needed", "format_numbers", "format_table", "abbreviate", "format_pvalues", "stars",
           "anova_cells", "format_anova_table", "RTable", "SIGNIF_LEGEND"]

EPS = 2.220446049250313e-16
"""R's ``.Machine$double.eps``, below which p-values print as ``< 2e-16``."""


def decimals_needed(x: float, digits: int) -> int:
    """Digits right of the point R shows for ``x`` at ``digits`` significant digits."""
    if not math.isfinite(x) or x == 0:
        return 0
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    significant = mantissa.replace(".", "").rstrip("0") or "0"
    return max(0, len(significant) - (int(exponent) + 1))


def _significant(x: float, digits: int) -> int:
    """Significant digits (≤ digits) R needs to show ``x``."""
    if not math.isfinite(x) or x == 0:
        return 1
    return len(f"{abs(x):.{digits - 1}e}".split("e")[0].replace(".", "").rstrip("0") or "0")


def format_numbers(values: Iterable[float], digits: int, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits = digits, nsmall = nsmall)`` for a numeric vector.

    Fixed notation with the decimals the most demanding element needs, unless that is wider than
    scientific notation with the mantissa digits the most demanding element needs (R's
    ``formatReal`` with ``scipen = 0``): 1.338e-12 and 4.5 print as ``1.338e-12``, ``4.500e+00``.
    """
    values = [float(v) for v in values]
    finite = [v for v in values if math.isfinite(v)]
    needed = [decimals_needed(v, digits) for v in values]
    fixed_decimals = min(max(needed, default=0), 15)
    if finite:
        negative = any(v < 0 for v in finite)
        left = max(len(str(int(abs(round(v, fixed_decimals))))) for v in finite)
        width_fixed = negative + left + fixed_decimals + (fixed_decimals > 0)
        mantissa = max(_significant(v, digits) for v in finite)
        big_exponent = any(v != 0 and abs(math.floor(math.log10(abs(v)))) >= 100 for v in finite)
        width_sci = negative + (mantissa > 1) + (mantissa - 1) + 4 + (2 if big_exponent else 1)
        if width_fixed > width_sci:
            strings = ["NaN" if math.isnan(v) else f"{v:.{mantissa - 1}e}" for v in values]
            width = max(len(s) for s in strings)
            return [s.rjust(width) for s in strings]
    decimals = min(max(needed + [nsmall]), 15)
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


SIGNIF_LEGEND = "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


def stars(p: float) -> str:
    """R's significance symbol of a p-value (``symnum`` cut points 0.001, 0.01, 0.05, 0.1); "" for NA."""
    if not math.isfinite(p):
        return ""
    for cut, symbol in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p <= cut:
            return symbol
    return " "


def _format_scientific(values: np.ndarray, digits: int) -> list[str]:
    """R's scientific format of a vector: the fewest mantissa digits (≤ digits) any element needs."""
    needed = 1
    for v in values:
        mantissa = f"{v:.{digits - 1}e}".split("e")[0].replace(".", "").rstrip("0")
        needed = max(needed, len(mantissa))
    return [f"{v:.{needed - 1}e}" for v in values]


def format_pvalues(p_values, digits: int = 3, eps: float = EPS) -> list[str]:
    """R's ``format.pval``: p ≥ 1e-4 jointly in fixed notation, smaller ones in scientific,
    p < eps as ``< 2e-16`` (with ``digits − 2`` digits, fewer and no space when the column is narrow)."""
    p_values = np.asarray(p_values, dtype=float)
    out = ["NA"] * len(p_values)
    finite = np.isfinite(p_values)
    tiny = finite & (p_values < eps)
    rest = finite & ~tiny
    exponent = np.floor(np.log10(np.where(p_values > 0, p_values, 1e-50)))
    fixed = rest & ((exponent >= -3) | ((exponent == -4) & (digits > 1)))
    scientific = rest & ~fixed
    for mask, strings in ((fixed, lambda v: [s.strip() for s in format_numbers(v, digits)]),
                          (scientific, lambda v: _format_scientific(v, digits))):
        if mask.any():
            for i, s in zip(np.flatnonzero(mask), strings(p_values[mask])):
                out[i] = s
    if tiny.any():
        small_digits = max(1, digits - 2)
        if rest.any():
            width = max(len(out[i]) for i in np.flatnonzero(rest))
            if small_digits > 1 and small_digits + 6 > width:
                small_digits = max(1, width - 7)
            sep = "" if small_digits == 1 and width <= 6 else " "
        else:
            sep = "" if small_digits == 1 else " "
        for i in np.flatnonzero(tiny):
            out[i] = f"<{sep}{eps:.{small_digits - 1}e}"
    return out


def _zapsmall(values: np.ndarray, digits: int) -> np.ndarray:
    """R's ``zapsmall(x, digits)``: round to ``digits − log10(max|x|)`` decimals (R rounds that to an integer)."""
    finite = values[np.isfinite(values)]
    biggest = np.max(np.abs(finite)) if finite.size else 0.0
    decimals = max(0.0, digits - math.log10(biggest)) if biggest > 0 else digits
    return np.round(values, int(math.floor(decimals + 0.5)))


def _format_column(values: np.ndarray, digits: int) -> list[str]:
    """``format(x, digits)`` of the finite values; NaN/NA as ""; a non-zero shown as 0 gets digits − 1 alone."""
    out = [""] * len(values)
    finite = np.flatnonzero(np.isfinite(values))
    for i, text in zip(finite, format_numbers(values[finite], digits)):
        out[i] = text
    for i in finite:  # printCoefmat's not.both.0
        if values[i] != 0 and float(out[i]) == 0:
            out[i] = format_numbers([values[i]], max(1, digits - 1))[0]
    return out


def _is_p_column(name) -> bool:
    return str(name).startswith(("Pr(", "P("))


def anova_cells(frame: pd.DataFrame, digits: int = 5, signif_stars: bool = True) -> tuple[list[str], list[list[str]], bool]:
    """The header, the rows of cell texts and whether stars are shown, as R's ``print.anova``.

    R's rules (``printCoefmat(cs.ind = NULL, na.print = "")``): a last column named ``Pr(...)``
    holds p-values (``format.pval`` with ``digits − 1`` digits, stars when any p < 0.1); test
    statistics (``F value``, ``Chisq``, ``* value``) are rounded to ``digits − 1`` decimals; columns
    named ``...Df`` are formatted as they are; the others are ``zapsmall``-ed first; all with
    ``format(x, digits)`` (common decimals per column), NA as blank. Text columns print as they are.
    """
    names = list(frame.columns)
    has_p = bool(names) and _is_p_column(names[-1])
    dig_test = max(1, min(5, digits - 1))
    columns: list[list[str]] = []
    shown_stars = False
    for j, name in enumerate(names):
        column = frame.iloc[:, j]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            columns.append(["" if pd.isna(v) else str(v) for v in column])
            continue
        values = column.to_numpy(dtype=float, na_value=np.nan)
        if has_p and j == len(names) - 1:
            texts = ["" for _ in values]
            ok = np.flatnonzero(np.isfinite(values))
            for i, text in zip(ok, format_pvalues(values[ok], dig_test)):
                texts[i] = text
            columns.append(texts)
            shown_stars = signif_stars and ok.size > 0 and bool(np.nanmin(values) < 0.1)
        elif str(name).endswith(" value") or str(name) in ("F", "Cp", "Chisq"):
            columns.append(_format_column(np.round(values, dig_test), digits))
        elif str(name).endswith("Df"):
            columns.append(_format_column(values, digits))
        else:
            columns.append(_format_column(_zapsmall(values, digits), digits))
    header = [str(n) for n in names]
    if shown_stars:
        header.append("")
        columns.append([stars(p).ljust(3) for p in frame.iloc[:, -1].to_numpy(dtype=float, na_value=np.nan)])
    rows = [list(r) for r in zip(*columns)] if len(frame) else []
    return header, rows, shown_stars


def format_anova_table(frame: pd.DataFrame, digits: int = 5, signif_stars: bool = True) -> tuple[str, bool]:
    """The table's text as R's ``print.anova`` prints it (see :func:`anova_cells`), and whether stars were shown."""
    header, rows, shown_stars = anova_cells(frame, digits, signif_stars)
    return format_table(header, rows, row_names=[str(i) for i in frame.index], right=True), shown_stars


class RTable(pd.DataFrame):
    """A DataFrame that prints as R prints an ANOVA-type table: heading, R's rounding, stars, blanks.

    Programs use it as the DataFrame it is (columns, ``.loc``, arithmetic); ``print(table)`` and
    notebooks (``_repr_html_``) show it as lmerTest / lme4 print theirs. ``pandas_string()`` gives
    pandas' own text.

    Parameters
    ----------
    data : DataFrame or anything ``pandas.DataFrame`` accepts
    heading : str, optional
        Lines printed above the table ("Type III Analysis of Variance Table with Satterthwaite's method").
    footer : str, optional
        Lines printed below it (after the significance legend).
    digits : int
        Significant digits of R's ``print.anova`` (``getOption("digits") − 2`` = 5).
    """

    _metadata = ["heading", "footer", "digits"]

    def __init__(self, data=None, *args, heading: str | None = None, footer: str | None = None, digits: int = 5,
                 **kwargs):
        super().__init__(data, *args, **kwargs)
        self.heading = heading
        self.footer = footer
        self.digits = digits

    @property
    def _constructor(self):
        return RTable

    def pandas_string(self) -> str:
        """pandas' own text of the table (full precision)."""
        return pd.DataFrame(self).to_string()

    def __str__(self) -> str:
        body, shown_stars = format_anova_table(self, self.digits)
        parts = [self.heading] if self.heading else []
        parts.append(body)
        if shown_stars:
            parts += ["---", SIGNIF_LEGEND]
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        header, rows, shown_stars = anova_cells(self, self.digits)
        head = "".join(f"<th>{escape(h)}</th>" for h in ["", *header])
        body = "".join(
            f"<tr><th>{escape(str(name))}</th>"
            + "".join(f'<td style="text-align:right">{escape(cell)}</td>' for cell in row) + "</tr>"
            for name, row in zip(self.index, rows))
        out = []
        if self.heading:
            out.append("<p><b>" + "<br>".join(escape(h) for h in self.heading.splitlines()) + "</b></p>")
        out.append(f'<table class="dataframe"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
        if shown_stars:
            out.append(f"<p><small>{escape(SIGNIF_LEGEND)}</small></p>")
        if self.footer:
            out.append("<p>" + "<br>".join(escape(f) for f in self.footer.splitlines()) + "</p>")
        return "\n".join(out)


# ---- R's deparse() of a formula, with its line breaking -----------------------------------------

_R_TOKEN = re.compile(r"\s*(`[^`]*`|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[A-Za-z_.][A-Za-z0-9_.]*"
                      r"|\"[^\"]*\"|'[^']*'|%[^%]*%|\|\||&&|==|!=|<=|>=|[-+*/^~:|&!<>(),=])")
# binary operators by precedence (R's ?Syntax, lowest first) and whether deparse spaces them (PP_BINARY)
_R_BINARY = [({"~"}, True), ({"||", "|"}, True), ({"&&", "&"}, True), ({"==", "!=", "<", ">", "<=", ">="}, True),
             ({"+", "-"}, True), ({"*"}, True), ({"/"}, False), ({"%"}, True), ({":"}, False), ({"^"}, False)]


def _r_parse(text: str):
    """A small R expression parser: nested tuples ("bin", op, l, r), ("un", op, x), ("paren", x),
    ("call", name, args) or a leaf string. Raises ValueError on text it does not understand."""
    tokens, pos = [], 0
    while pos < len(text):
        match = _R_TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise ValueError(f"cannot tokenise {text[pos:]!r}")
            break
        tokens.append(match.group(1))
        pos = match.end()
    at = [0]

    def peek():
        return tokens[at[0]] if at[0] < len(tokens) else None

    def take():
        at[0] += 1
        return tokens[at[0] - 1]

    def level_of(token):
        for i, (ops, _) in enumerate(_R_BINARY):
            if token in ops or (i == 7 and token is not None and token.startswith("%") and len(token) > 1):
                return i
        return None

    def primary():
        token = take()
        if token == "(":
            inner = expression(0)
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return ("paren", inner)
        if token in ("-", "+", "!", "~"):
            return ("un", token, expression(8 if token in "+-" else (3 if token == "!" else 0)))
        if peek() == "(":
            take()
            args = []
            while peek() != ")":
                args.append(expression(0))
                if peek() == ",":
                    take()
                elif peek() != ")":
                    raise ValueError("bad call")
            take()
            return ("call", token, args)
        return token

    def expression(minimum):
        left = primary()
        while True:
            level = level_of(peek())
            if level is None or level < minimum:
                return left
            op = take()
            right = expression(level if op == "^" else level + 1)  # ^ is right-associative
            left = ("bin", op, left, right)

    tree = expression(0)
    if at[0] != len(tokens):
        raise ValueError("trailing tokens")
    return tree


def deparse(text: str, cutoff: int = 60) -> list[str]:
    """R's ``deparse()`` of an expression (a formula): R's spacing, lines broken after a spaced
    binary operator once a line is longer than ``cutoff`` bytes, continuation lines indented by 4
    spaces per open break. Text it cannot parse comes back as one line, unchanged."""
    try:
        tree = _r_parse(text)
    except (ValueError, IndexError):
        return [text]
    lines: list[str] = []
    state = {"buffer": "", "indent": 0}

    def put(s):
        if not state["buffer"]:
            state["buffer"] = "    " * state["indent"]
        state["buffer"] += s

    def linebreak(opened):
        if len(state["buffer"]) > cutoff:
            if not opened:
                state["indent"] += 1
            lines.append(state["buffer"])
            state["buffer"] = ""
            return True
        return opened

    def emit(node):
        if isinstance(node, str):
            put(node)
        elif node[0] == "paren":
            put("(")
            emit(node[1])
            put(")")
        elif node[0] == "un":
            put(node[1])
            emit(node[2])
        elif node[0] == "call":
            put(node[1] + "(")
            opened = False
            for i, arg in enumerate(node[2]):
                if i:
                    put(", ")
                    opened = linebreak(opened)
                emit(arg)
            put(")")
            if opened:
                state["indent"] -= 1
        else:
            _, op, left, right = node
            spaced = next(s for ops, s in _R_BINARY if op in ops or (op.startswith("%") and len(op) > 1))
            emit(left)
            if spaced:
                put(f" {op} ")
                opened = linebreak(False)
                emit(right)
                if opened:
                    state["indent"] -= 1
            else:
                put(op)
                emit(right)

    emit(tree)
    if state["buffer"]:
        lines.append(state["buffer"])
    return lines


def cat_fill(items: Sequence[str], fill: int = 80) -> list[str]:
    """R's ``cat(..., fill = fill)``: items joined by " ", a new line before an item that would
    pass column ``fill`` (the separator stays at the end of the line before)."""
    lines, current = [], ""
    for i, item in enumerate(items):
        if i == 0:
            current = item
        elif len(current) + 1 + len(item) > fill:
            lines.append(current + " ")
            current = item
        else:
            current += " " + item
    return lines + [current]
