"""lme4 formula syntax: split ``y ~ fixed + (expr | group)`` into its parts.

Only the random-effects ("bar") syntax is parsed here; the fixed part is handed to formulaic
(:mod:`mixedmodels.design.fixed`). The expansions follow lme4's ``findbars``/``expandDoubleVerts``
and ``expandSlash``:

* ``(x || g)``  →  ``(1 | g) + (0 + x | g)``  (one uncorrelated term per column of ``x``)
* ``(1 | a/b)`` →  ``(1 | b:a) + (1 | a)``    (lme4 names the nested factor ``b:a``)
* ``(1 | a:b)`` is a term whose grouping factor is the interaction of ``a`` and ``b``.

A bar may carry a covariance structure as lme4 2.0 and glmmTMB spell it: ``us(x | g)`` (the
same as ``(x | g)``), ``diag``, ``homdiag``, ``cs``, ``homcs``, ``ar1``, ``hetar1``, ``toep``
(:mod:`mixedmodels.covariance`); ``diag(x | a/b)`` gives every nested term the structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

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
    structure : str
        The covariance structure's keyword ("us" unless written, e.g. ``ar1(0 + visit | id)``).
    """

    expr: str
    group: str
    structure: str = "us"

    @property
    def group_factors(self) -> list[str]:
        """Column names whose interaction makes the grouping factor."""
        return [part.strip() for part in self.group.split(":")]

    def separates_residual(self, n_cols: int) -> bool:
        """True when the structure keeps the term's variances apart from the residual variance even
        with as many random effects as observations (``cs``, ``ar1``, ``hetar1``, ``toep`` on ≥ 3 columns:
        their correlation pattern is not that of σ²I), so lme4's check of observations against
        random effects does not apply (glmmTMB fits such terms, e.g. ``ar1(0 + visit | id)``)."""
        return self.structure in ("cs", "ar1", "hetar1", "toep") and n_cols >= 3

    def __str__(self) -> str:
        text = f"({self.expr} | {self.group})"
        return text if self.structure == "us" else self.structure + text


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


STRUCTURE_KEYWORDS = ("us", "diag", "homdiag", "cs", "homcs", "ar1", "hetar1", "toep")
"""Covariance-structure keywords allowed around a bar (:data:`mixedmodels.covariance.STRUCTURES`)."""

_BAR = re.compile(r"^(?P<structure>[A-Za-z_][\w.]*)?\((?P<expr>.*?)(?P<bar>\|\|?)(?P<group>[^|]*)\)$", re.DOTALL)
_NESTED_BAR = re.compile(r"(?<![\w.])\([^()]*\|[^()]*\)")
_UNSUPPORTED_STRUCTURES = ("ou", "exp", "gau", "mat", "rr", "propto", "equalto", "toeph", "csh", "ar1h",
                           "ad", "adh", "sp_exp")
"""Structures of glmmTMB / mmrm that a random-effects term cannot have here (a clear error)."""


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
    return _parse_formula(formula)


@lru_cache(maxsize=512)
def _parse_formula(formula: str) -> ParsedFormula:
    """:func:`parse_formula` of a string with one '~', cached (the result is immutable)."""
    lhs, rhs = (side.strip() for side in formula.split("~"))
    if not lhs:
        raise FormulaError(f"the formula {formula!r} has no response left of '~'")
    if not rhs:
        raise FormulaError(f"the formula {formula!r} has no terms right of '~'")
    fixed_parts, random_terms = [], []
    for token in _split_top_level(rhs, "+-"):
        sign, body = ("-", token[1:].strip()) if token.startswith("-") else ("+", token.lstrip("+").strip())
        match = _BAR.match(body)
        if match is not None and match["structure"] in _UNSUPPORTED_STRUCTURES:
            raise FormulaError(f"the covariance structure {match['structure']!r} in {body!r} is not supported for "
                               f"random-effects terms; the structures are {', '.join(STRUCTURE_KEYWORDS)}")
        if match is not None and match["structure"] and match["structure"] not in STRUCTURE_KEYWORDS:
            match = None  # a function of the fixed part such as I(a | b)
        if match is None:
            if _NESTED_BAR.search(body):
                raise FormulaError(f"a random-effects term must be added to the formula with '+', "
                                   f"not used inside {body!r}")
            fixed_parts.append(f"{sign} {body}")
            continue
        if sign == "-":
            raise FormulaError(f"a random-effects term cannot be subtracted: {token!r}")
        expr, group = match["expr"].strip(), match["group"].strip()
        structure = match["structure"] or "us"
        if not expr or not group:
            raise FormulaError(f"empty side in random-effects term {body!r}; write (expr | group)")
        if match["bar"] == "||" and match["structure"]:
            raise FormulaError(f"{body!r}: '||' already makes the effects uncorrelated; write "
                               f"{structure}({expr} | {group}) or ({expr} || {group})")
        expressions = _uncorrelated_exprs(expr) if match["bar"] == "||" else [expr]
        for grp in _expand_groups(group):
            random_terms.extend(RandomTermSpec(e, grp, structure) for e in expressions)
    fixed = " ".join(fixed_parts).strip()
    fixed = fixed[1:].strip() if fixed.startswith("+") else fixed
    if not fixed or fixed.startswith("-"):
        fixed = "1" if not fixed else f"1 {fixed}"
    return ParsedFormula(formula=formula, response=lhs, fixed=fixed, random=tuple(random_terms))
