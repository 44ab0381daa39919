"""lme4 formula syntax: split ``y ~ fixed + (expr | group)`` into its parts.

Only the random-effects ("bar") syntax is parsed here; the fixed part is handed to formulaic
(:mod:`mixedmodels.design.fixed`). The expansions follow lme4's ``findbars``/``expandDoubleVerts``
and ``expandSlash``:

* ``(x || g)``  →  ``(1 | g) + (0 + x | g)``  (one uncorrelated term per column of ``x``)
* ``(1 | a/b)`` →  ``(1 | b:a) + (1 | a)``    (lme4 names the nested factor ``b:a``)
* ``(1 | a:b)`` is a term whose grouping factor is the interaction of ``a`` and ``b``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import FormulaError

__all__ = ["RandomTermSpec", "ParsedFormula", "parse_formula"]


@dataclass(frozen=True)
class RandomTermSpec:
    """One ``(expr | group)`` term after expansion.

    Attributes
    ----------
    expr : str
        The left of the bar, a formula right-hand side for the columns of Z_k ("1", "Days", "0 + x").
    group : str
        The grouping factor: a column name or an interaction ``"a:b"`` of column names.
    """

    expr: str
    group: str

    @property
    def group_factors(self) -> list[str]:
        """Column names whose interaction makes the grouping factor."""
        return [part.strip() for part in self.group.split(":")]

    def __str__(self) -> str:
        return f"({self.expr} | {self.group})"


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4 formula split into response, fixed right-hand side and random terms."""

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTermSpec, ...]


def _split_top_level(text: str, separators: str = "+") -> list[str]:
    """Split ``text`` at ``separators`` that are not inside parentheses, keeping sign tokens."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced parentheses in {text!r}")
        if depth == 0 and char in separators:
            parts.append("".join(current))
            current = [char]
        else:
            current.append(char)
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in {text!r}")
    parts.append("".join(current))
    return [p for p in (part.strip() for part in parts) if p]


def _expand_groups(group: str) -> list[str]:
    """``a/b/c`` → ``["c:b:a", "b:a", "a"]`` (innermost first, as lme4 orders and names them)."""
    pieces = [p.strip() for p in group.split("/")]
    if any(not p for p in pieces):
        raise FormulaError(f"empty grouping factor in {group!r}")
    return [":".join(reversed(pieces[: i + 1])) for i in range(len(pieces) - 1, -1, -1)]


def _uncorrelated_exprs(expr: str) -> list[str]:
    """``x + z`` in ``(x + z || g)`` → ``["1", "0 + x", "0 + z"]`` (intercept unless removed)."""
    has_intercept = True
    variables = []
    for token in _split_top_level(expr, "+-"):
        negative = token.startswith("-")
        name = token.lstrip("+-").strip()
        if name == "0" or (negative and name == "1"):
            has_intercept = False
        elif name == "1":
            has_intercept = True
        elif not negative:
            variables.append(name)
    return (["1"] if has_intercept else []) + [f"0 + {v}" for v in variables]


_BAR = re.compile(r"^\((?P<expr>.*?)(?P<bar>\|\|?)(?P<group>[^|]*)\)$", re.DOTALL)
_NESTED_BAR = re.compile(r"(?<![\w.])\([^()]*\|[^()]*\)")


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and expanded random-effects terms.

    Parameters
    ----------
    formula : str
        For example ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    ParsedFormula
        ``fixed`` is "1" when only bars (or nothing) stand right of ``~``; it keeps "0"/"-1".

    Raises
    ------
    FormulaError
        No ``~``, an empty side, an empty bar expression or grouping factor, unbalanced parentheses,
        a bar term that is subtracted or used inside another term (``x * (1 | g)``).
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"a formula needs exactly one '~' (response ~ terms); got {formula!r}")
    lhs, rhs = (side.strip() for side in formula.split("~"))
    if not lhs:
        raise FormulaError(f"the formula {formula!r} has no response left of '~'")
    if not rhs:
        raise FormulaError(f"the formula {formula!r} has no terms right of '~'")
    fixed_parts, random_terms = [], []
    for token in _split_top_level(rhs, "+-"):
        sign, body = ("-", token[1:].strip()) if token.startswith("-") else ("+", token.lstrip("+").strip())
        match = _BAR.match(body)
        if match is None:
            if _NESTED_BAR.search(body):
                raise FormulaError(f"a random-effects term must be added to the formula with '+', "
                                   f"not used inside {body!r}")
            fixed_parts.append(f"{sign} {body}")
            continue
        if sign == "-":
            raise FormulaError(f"a random-effects term cannot be subtracted: {token!r}")
        expr, group = match["expr"].strip(), match["group"].strip()
        if not expr or not group:
            raise FormulaError(f"empty side in random-effects term {body!r}; write (expr | group)")
        expressions = _uncorrelated_exprs(expr) if match["bar"] == "||" else [expr]
        for grp in _expand_groups(group):
            random_terms.extend(RandomTermSpec(e, grp) for e in expressions)
    fixed = " ".join(fixed_parts).strip()
    fixed = fixed[1:].strip() if fixed.startswith("+") else fixed
    if not fixed or fixed.startswith("-"):
        fixed = "1" if not fixed else f"1 {fixed}"
    return ParsedFormula(formula=formula, response=lhs, fixed=fixed, random=tuple(random_terms))
