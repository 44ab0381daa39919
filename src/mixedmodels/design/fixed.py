"""Fixed-effects model matrix X, with R's column names, order and contrasts.

The fixed part of an lme4 formula (random bars already removed) is parsed by formulaic into
terms (a sum of column names such as ``Days`` or ``0 + x + z`` is read without it); this module
codes each term as R's ``model.matrix`` does (lme4 ``lFormula``):

* numeric columns enter as they are; ``I(x^2)``, ``log(x)``, ... are evaluated by
  :mod:`.expressions` without ``eval`` (R's ``^`` becomes Python's ``**``; formulaic only parses)
  but keep R's deparsed name;
* factors (categorical, string, object and boolean columns) use treatment contrasts, ordered
  categoricals R's ``contr.poly``; unused levels are dropped first (``drop.unused.levels``);
* in an interaction, a factor whose margin (the term without it) is absent gets full indicator
  coding, and without an intercept so does the first factor of the model (R ``TermCode``);
* columns of an interaction vary fastest in the first variable (``recipeB:temperature.L``,
  ``recipeC:temperature.L``, ...);
* aliased columns are dropped as lme4 ``chkRank.X`` does, by R's sequential QR rule
  (tolerance 1e-7 relative to the column norm), with lme4's message.

Plain column names are read from the data directly, so a numeric design on 10^6 rows costs
about one copy of the data.
"""

from __future__ import annotations

from functools import lru_cache

import itertools
import keyword
import math
import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg.lapack

from mixedmodels.control import DEFAULT_CONTROL
from mixedmodels.errors import DesignError, FormulaError

from .expressions import check_expression, evaluate_expression, is_stateful

__all__ = ["FixedDesign", "FixedTemplate", "build_fixed_design", "evaluate_response", "contr_poly"]


def _memory_limit() -> int:
    """A quarter of the machine's physical memory (4 GiB when it cannot be read): X and its QR copy fit in half."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


MAX_X_BYTES = _memory_limit()
"""Largest model matrix (n × p × 8 bytes) built; a larger one stops with a DesignError first."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m|[\u29da\u29db]")
_CALL = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*\s*\(")
_TOKEN = re.compile(
    r"\s*(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|[A-Za-z_.][A-Za-z0-9_.]*"
    r"|\"[^\"]*\"|'[^']*'|%[^%]*%|\*\*|==|!=|<=|>=|&&|\|\||[-+*/^<>&|!=(),:])"
)
FIXED_CONTEXT = "the fixed-effects formula"
"""Where a column is used, named in error messages (random terms pass their own)."""
_SPACED = {"+", "-", "*", "==", "!=", "<=", ">=", "<", ">", "&", "|", "&&", "||", "=", "%in%"}


@dataclass(frozen=True)
class _Variable:
    """One variable of the formula: a data column or an expression, numeric or a factor."""

    name: str  # R's name, e.g. "Days", "I(x^2)"
    expr: str  # formulaic's (Python) expression
    lookup: bool  # a plain column of the data
    levels: tuple | None = None  # factor levels (original values); None for numeric
    labels: tuple[str, ...] | None = None
    ordered: bool = False
    functions: tuple = ()  # (name, function) pairs the caller allowed in expressions
    state: dict = field(default_factory=dict, compare=False)  # scale()/center() of the fitted data


@dataclass(frozen=True)
class _Term:
    """A term: its R label and, per variable, the coding ("numeric", "contrast", "indicator")."""

    label: str
    variables: tuple[_Variable, ...]
    codings: tuple[str, ...]


@dataclass(frozen=True)
class FixedTemplate:
    """How the fixed-effects columns are built: names, terms, levels and contrasts, no rows.

    Attributes
    ----------
    column_names : list of str
        R's names, e.g. ``"(Intercept)"``, ``"recipeB"``, ``"temperature.L"``, ``"age:SexFemale"``.
    terms : list of str
        R's term labels in model order, ``"(Intercept)"`` first when there is an intercept.
    assign : ndarray of int, shape (p,)
        Index into ``terms`` of each column (R's ``attr(X, "assign")``, 0-based over ``terms``).
    dropped : list of str
        Names of the aliased columns removed because X was rank deficient.
    """

    column_names: list[str]
    terms: list[str]
    assign: np.ndarray
    dropped: list[str]
    _terms: tuple[_Term, ...] = field(repr=False, default=())
    _kept: np.ndarray = field(repr=False, default=None)
    _context: str = field(repr=False, default=FIXED_CONTEXT)

    @property
    def n_columns(self) -> int:
        return len(self.column_names)

    @property
    def stateful_variables(self) -> list[str]:
        """R names of the expressions that call ``scale``/``center`` (their mean and sd come from the data built on)."""
        names = {v.name for t in self._terms for v in t.variables if not v.lookup and is_stateful(v.expr)}
        return sorted(names)

    def transform(self, newdata: pd.DataFrame) -> np.ndarray:
        """Build X for ``newdata`` with the same columns, levels and contrasts.

        Raises
        ------
        DesignError
            A factor holds a level not seen when the design was built, or values are missing.
        FormulaError
            A column is missing or holds non-finite numbers.
        """
        return np.asfortranarray(self.transform_all(newdata)[:, self._kept])

    def transform_all(self, newdata: pd.DataFrame) -> np.ndarray:
        """X for ``newdata`` with every column, the aliased ones included (their order in ``_terms``)."""
        X, _, _ = _materialize(self._terms, newdata, context=self._context)
        return X

    def template(self) -> "FixedTemplate":
        """The template alone (no rows)."""
        return FixedTemplate(self.column_names, self.terms, self.assign, self.dropped, self._terms, self._kept,
                             self._context)


@dataclass(frozen=True)
class FixedDesign(FixedTemplate):
    """A :class:`FixedTemplate` with the model matrix of the rows it was built from.

    Attributes
    ----------
    X : ndarray, shape (n, p)
        float64, Fortran-contiguous, finite; aliased columns already removed.
    gram : ndarray, shape (p_all, p_all)
        X_allᵀX_all of every column, the aliased ones included (unweighted): what the type I–III
        hypotheses need of the data.
    colsum : ndarray, shape (p_all,)
        Σ_i x_i of every column (with ``gram``, the variance of Xβ without the rows).
    """

    X: np.ndarray = field(default=None, kw_only=True, repr=False)
    gram: np.ndarray = field(default=None, kw_only=True, repr=False)
    colsum: np.ndarray = field(default=None, kw_only=True, repr=False)


def contr_poly(k: int) -> np.ndarray:
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts for an ordered factor.

    Column j is the degree-(j+1) orthogonal polynomial in the scores 1..k, scaled to unit norm,
    signed so its leading coefficient is positive (Q of the QR of the centred Vandermonde matrix
    times sign(diag R), as R's ``make.poly``).

    Returns
    -------
    ndarray, shape (k, k - 1)
    """
    scores = np.arange(1, k + 1, dtype=float)
    vander = np.vander(scores - scores.mean(), k, increasing=True)
    q, r = np.linalg.qr(vander)
    z = q * np.sign(np.diag(r))
    return z[:, 1:]


def _poly_suffixes(k: int) -> list[str]:
    """R's names of ``contr.poly(k)`` columns: ``.L``, ``.Q``, ``.C``, ``^4``, ``^5``, ..."""
    return [".L", ".Q", ".C"][: k - 1] + [f"^{d}" for d in range(4, k)]


def _deparse(text: str) -> str:
    """Normalise an R expression's spacing as R's ``deparse`` prints it (``I(x/100)``, ``log(x + 1)``)."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    prev = None
    for tok in tokens:
        unary = tok in "+-!" and (prev is None or prev in "(,=" or prev in _SPACED or prev in "/^:")
        if tok == ",":
            out.append(", ")
        elif tok in _SPACED and not unary:
            out.append(f" {tok} ")
        else:
            out.append(tok)
        prev = tok
    return "".join(out)


def _to_python(text: str) -> str:
    """Translate R arithmetic inside a call to Python (``^`` -> ``**``, ``%%`` -> ``%``)."""
    return text.replace("^", "**").replace("%/%", "//").replace("%%", "%")


def _translate(rhs: str) -> tuple[str, dict[str, str]]:
    """Rewrite the calls of an R formula in Python; map formulaic's expression to R's name."""
    names: dict[str, str] = {}
    pieces: list[str] = []
    pos = 0
    for match in _CALL.finditer(rhs):
        if match.start() < pos:
            continue
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(rhs)):
            depth += {"(": 1, ")": -1}.get(rhs[end], 0)
            if depth == 0:
                break
        if depth:
            raise FormulaError(f"unbalanced parentheses in formula {rhs!r}")
        call = rhs[match.start() : end + 1]
        python = _to_python(call)
        names[_formulaic_expr(python)] = _deparse(call)
        pieces += [rhs[pos : match.start()], python]
        pos = end + 1
    pieces.append(rhs[pos:])
    return "".join(pieces), names


def _formulaic_expr(python: str) -> str:
    """formulaic's normalised spelling of one factor expression."""
    terms = _parse(f"0 + {python}")
    return terms[0][0][0] if len(terms) == 1 else python


LOOKUP, PYTHON, LITERAL = "lookup", "python", "literal"
"""How a factor of a parsed term is evaluated: a data column, an expression, or a number (0, 1)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _sum_of_names(rhs: str) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    """The terms of a right-hand side that only adds column names and 0 or 1, else None.

    ``"Days"`` → ((("1", literal),), (("Days", lookup),)); ``"0 + x + z"`` → x, z without the
    intercept. This is what formulaic returns for such a sum (in either ordering: every term has
    degree 1), without importing it (a tenth of a second): a plain model needs no formula algebra.
    """
    tokens = [token.strip() for token in rhs.split("+")]
    names = [t for t in tokens if t not in ("0", "1")]
    if not all(_NAME.fullmatch(t) and not keyword.iskeyword(t) for t in names) or {"0", "1"} <= set(tokens):
        return None
    intercept = ((("1", LITERAL),),) if "0" not in tokens else ()
    return intercept + tuple(((name, LOOKUP),) for name in dict.fromkeys(names))


@lru_cache(maxsize=512)
def _parse(rhs: str, ordering: str = "degree") -> tuple[tuple[tuple[str, str], ...], ...]:
    """The terms of a right-hand side, each a tuple of (expression, :data:`LOOKUP`/:data:`PYTHON`/
    :data:`LITERAL`) factors; ``ordering="degree"`` sorts terms by degree as R does.

    Parsed by formulaic, which is imported only when the formula is more than a sum of column
    names (:func:`_sum_of_names`). Cached: parsing costs about a millisecond, more than building X
    for small data, and the same right-hand sides recur (refits, bootstrap, random-term
    expressions). The result is immutable.
    """
    simple = _sum_of_names(rhs)
    if simple is not None:
        return simple
    from formulaic import Formula
    from formulaic.errors import FormulaicError
    from formulaic.parser.types.factor import Factor

    kinds = {Factor.EvalMethod.LOOKUP: LOOKUP, Factor.EvalMethod.PYTHON: PYTHON, Factor.EvalMethod.LITERAL: LITERAL}
    try:
        formula = Formula(rhs, _ordering=ordering)
    except (FormulaicError, SyntaxError, ValueError) as exc:
        raise FormulaError(f"cannot parse formula {rhs!r}: {_first_line(exc)}") from exc
    return tuple(tuple((str(f.expr), kinds[f.eval_method]) for f in term.factors) for term in formula)


def _first_line(exc: Exception) -> str:
    """formulaic's message without its coloured pointer to the offending token."""
    return _ANSI.sub("", str(exc)).strip().splitlines()[0]


def _not_numbers(series: pd.Series) -> pd.Series:
    """The values of a text column that do not read as numbers (missing values aside).

    A categorical column is read level by level (InstEval: 0.1 s for 73,421 rows otherwise).
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = pd.Series(np.asarray(series.cat.categories, dtype=object)).astype(str).str.strip()
        bad_codes = np.flatnonzero(pd.to_numeric(levels, errors="coerce").isna().to_numpy())
        return series[np.isin(series.cat.codes.to_numpy(), bad_codes)].astype(object)
    values = series.astype(object)
    present = values.notna()
    numbers = pd.to_numeric(values[present].astype(str).str.strip(), errors="coerce")
    return values[present][numbers.isna().to_numpy()]


def _rows_text(bad: pd.Series, limit: int = 5) -> str:
    shown = ", ".join(f"{v!r} (index {i})" for i, v in list(bad.items())[:limit])
    return shown + (f" and {len(bad) - limit} more" if len(bad) > limit else "")


def warn_if_mostly_numeric(name: str, series: pd.Series) -> None:
    """Warn when a text column is numbers in all but a few rows: a typo (``0.1O``) made it a factor.

    "A few": at least one and at most max(3, 5 % of the rows) values do not read as numbers.
    """
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return
    if isinstance(series.dtype, pd.CategoricalDtype) and not (
            pd.api.types.is_object_dtype(series.cat.categories.dtype)
            or pd.api.types.is_string_dtype(series.cat.categories.dtype)):
        return
    bad = _not_numbers(series)
    n = int(series.notna().sum())
    if 0 < len(bad) <= max(3, 0.05 * n) and len(bad) < n:
        verb = "is not a number" if len(bad) == 1 else "are not numbers"
        warnings.warn(f"column {name!r} is text because {len(bad)} of its {n} values {verb}: "
                      f"{_rows_text(bad)}; it is used as a factor with {series.nunique()} levels — correct the "
                      "value(s) or convert the column with pd.to_numeric if it is meant to be numeric",
                      UserWarning, stacklevel=2)


def _factor_variable(name: str, expr: str, series: pd.Series) -> _Variable:
    """Describe a factor column: levels actually present, in R's order."""
    warn_if_mostly_numeric(name, series)
    if isinstance(series.dtype, pd.CategoricalDtype):
        cat = series.array
        if (cat.codes < 0).any():
            raise DesignError(f"factor column {name!r} has missing values")
        present = np.bincount(cat.codes, minlength=len(cat.categories)) > 0
        levels = tuple(cat.categories[present])
        ordered = bool(series.dtype.ordered)
    else:
        if series.isna().any():
            raise DesignError(f"factor column {name!r} has missing values")
        values = pd.unique(series.to_numpy())
        levels = tuple(sorted(values.tolist()))
        ordered = False
    if pd.api.types.is_bool_dtype(series.dtype) or all(isinstance(v, (bool, np.bool_)) for v in levels):
        labels = tuple("TRUE" if v else "FALSE" for v in levels)
    else:
        labels = tuple(str(v) for v in levels)
    if len(levels) < 2:
        raise DesignError(
            f"factor {name!r} has {len(levels)} level(s); contrasts need 2 or more levels"
        )
    return _Variable(name, expr, True, levels, labels, ordered)


def _is_factor(series: pd.Series) -> bool:
    dtype = series.dtype
    if isinstance(dtype, np.dtype):  # NumPy's own: booleans, objects and strings are factors
        return dtype.kind in "bOSU"
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    )


def _column(data: pd.DataFrame, name: str, context: str) -> pd.Series:
    if name not in data.columns:
        raise FormulaError(
            f"unknown column {name!r} in {context}; the data have: {', '.join(map(str, data.columns))}"
        )
    return data[name]


def _float_values(series: pd.Series) -> np.ndarray:
    """The column as float64, without a copy when it already is a float64 NumPy column."""
    if isinstance(series.dtype, np.dtype):
        return series.to_numpy(dtype=np.float64, copy=False)
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _numeric_values(var: _Variable, data: pd.DataFrame, context: str) -> np.ndarray:
    if var.lookup:
        values = _float_values(_column(data, var.expr, context))
    else:
        values = evaluate_expression(var.expr, data, dict(var.functions), var.state, context)
    if not np.isfinite(values).all():
        raise FormulaError(f"non-finite values (NaN or Inf) in {var.name!r} used in {context}")
    return values


def _factor_codes(var: _Variable, data: pd.DataFrame, context: str) -> np.ndarray:
    """Codes of ``data[var.expr]`` over the stored levels; unseen levels are an error."""
    series = _column(data, var.expr, context)
    if isinstance(series.dtype, pd.CategoricalDtype):
        # recode the category codes through a small table instead of re-hashing every value
        table = np.append(pd.Index(list(var.levels)).get_indexer(series.cat.categories), -1)
        codes = table[series.cat.codes.to_numpy()]
    else:
        codes = pd.Index(list(var.levels)).get_indexer(series.to_numpy())
    if (codes < 0).any():
        bad = series[codes < 0]
        if bad.isna().any():
            raise DesignError(f"factor column {var.name!r} has missing values")
        raise DesignError(
            f"factor {var.name!r} has level(s) {sorted(map(str, pd.unique(bad.to_numpy())))} "
            f"not seen when the model was built (levels: {list(var.labels)})"
        )
    return codes


def _coding_matrix(var: _Variable, coding: str) -> tuple[np.ndarray, list[str]]:
    """Contrast (or indicator) matrix, shape (levels, columns), and R's column suffixes.

    ``coding="sum"`` is R's ``contr.sum`` (last level −1), for hypotheses built on it.
    """
    k = len(var.levels)
    if coding == "indicator":
        return np.eye(k), list(var.labels)
    if coding == "sum":
        return np.vstack([np.eye(k - 1), -np.ones(k - 1)]), [str(i) for i in range(1, k)]
    if var.ordered:
        return contr_poly(k), _poly_suffixes(k)
    return np.eye(k)[:, 1:], list(var.labels[1:])


def _materialize(terms: tuple[_Term, ...], data: pd.DataFrame | None, *, context: str = FIXED_CONTEXT,
                 values: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Evaluate the terms on ``data``: X (Fortran order), column names and assign.

    ``values`` gives the variables' values directly (numeric values, or level codes of factors),
    by R name, instead of evaluating them on ``data``.
    """
    cache: dict[str, np.ndarray] = dict(values or {})
    n = len(next(iter(cache.values()))) if cache else (1 if data is None else len(data))
    blocks: list[tuple[int, list[tuple[np.ndarray, np.ndarray | None]], list[str]]] = []
    for t, term in enumerate(terms):
        parts, names = [], [""]
        for i, (var, coding) in enumerate(zip(term.variables, term.codings)):
            if var.name not in cache:
                cache[var.name] = (
                    _numeric_values(var, data, context) if var.levels is None else _factor_codes(var, data, context)
                )
            if coding == "numeric":
                parts.append((cache[var.name], None))
                suffixes = [var.name]
            else:
                matrix, labels = _coding_matrix(var, coding)
                parts.append((cache[var.name], matrix))
                suffixes = [var.name + s for s in labels]
            sep = ":" if i else ""
            names = [f"{prefix}{sep}{s}" for s in suffixes for prefix in names]
        blocks.append((t, parts, names if term.variables else ["(Intercept)"]))
    p = sum(len(b[2]) for b in blocks)
    X = np.empty((n, p), order="F")
    column_names: list[str] = []
    assign = np.empty(p, dtype=np.intp)
    col = 0
    for t, parts, names in blocks:
        widths = [1 if m is None else m.shape[1] for _, m in parts]
        # first variable varies fastest, as in R
        for combo in itertools.product(*(range(w) for w in reversed(widths))):
            out = X[:, col]
            out[:] = 1.0
            for (values, matrix), j in zip(parts, reversed(combo)):
                np.multiply(out, values if matrix is None else matrix[values, j], out=out)
            col += 1
        column_names += names
        assign[col - len(names) : col] = t
    return X, column_names, assign


FULL_RANK_MARGIN = 1000.0
"""How far above the aliasing tolerance X's columns must be from collinear to skip the QR of X."""


def _clearly_full_rank(gram: np.ndarray) -> bool:
    """True when no column of X can be aliased, judged from its Gram matrix G = XᵀX alone.

    With C = D^-½ G D^-½ (D = diag G, columns scaled to unit norm), the norm of column j after
    projecting out the columns before it, relative to its own, is the Cholesky pivot L̃_jj of C,
    and L̃_jj² = 1 / ((C_{≤j})⁻¹)_jj ≥ λ_min(C_{≤j}) ≥ λ_min(C) (Cauchy interlacing). So
    λ_min(C) ≥ (:data:`FULL_RANK_MARGIN` × tolerance)² means every such ratio is at least 1000
    times the tolerance, and the QR rule of :func:`_aliased_columns` keeps every column; the
    computed eigenvalue is accurate to about ε p, far below that bound. Anything closer (or a zero
    column) is decided by that rule.
    """
    norms = np.sqrt(np.diagonal(gram))
    if not (norms > 0).all():
        return False
    try:
        smallest = np.linalg.eigvalsh(gram / np.outer(norms, norms))[0]
    except np.linalg.LinAlgError:
        return False
    return bool(smallest >= (FULL_RANK_MARGIN * DEFAULT_CONTROL.rank_tol) ** 2)


def _aliased_columns(X: np.ndarray, gram: np.ndarray | None = None) -> np.ndarray:
    """Indices of the columns R's ``qr(X, tol = 1e-7)`` (LINPACK dqrdc2) sets aside, ascending.

    dqrdc2 keeps columns in their order and moves a column to the end when its norm, after
    projecting out the columns kept before it, falls below 1e-7 times its original norm. The
    same decisions are made on the triangular factor R of one unpivoted QR of X (X = QR, so
    the column dependencies are R's), which costs O(n p^2) once and O(p^3) afterwards. With
    ``gram`` = XᵀX at hand, an X that is clearly of full rank (:func:`_clearly_full_rank`, the
    usual case) needs no QR at all.
    """
    p = X.shape[1]
    if p == 0 or (gram is not None and _clearly_full_rank(gram)):
        return np.empty(0, dtype=np.intp)
    if X.shape[0] > p:
        factored = scipy.linalg.lapack.dgeqrf(X)[0]
        R = np.triu(factored[:p])
    else:
        R = X
    norms = np.linalg.norm(R, axis=0)
    norms[norms == 0] = 1.0
    kept: list[int] = []
    dropped: list[int] = []
    basis = np.empty((R.shape[0], 0))
    for j in range(p):
        v = R[:, j] - basis @ (basis.T @ R[:, j])
        v = v - basis @ (basis.T @ v)  # re-orthogonalise once for stability
        length = np.linalg.norm(v)
        if length < DEFAULT_CONTROL.rank_tol * norms[j]:
            dropped.append(j)
        else:
            kept.append(j)
            basis = np.column_stack([basis, v / length])
    return np.asarray(dropped, dtype=np.intp)


def _variables(formula: tuple, data: pd.DataFrame, names: dict[str, str], context: str,
               functions: tuple = ()) -> dict[str, _Variable]:
    """One :class:`_Variable` per distinct factor of the parsed terms (:func:`_parse`), in order of appearance."""
    variables: dict[str, _Variable] = {}
    for term in formula:
        for expr, kind in term:
            if expr in variables or kind == LITERAL:
                continue
            if kind == LOOKUP:
                name = expr.strip("`")
                series = _column(data, name, context)
                if not (_is_factor(series) or pd.api.types.is_numeric_dtype(series.dtype)):
                    raise FormulaError(f"column {name!r} has unsupported dtype {series.dtype}")
                variables[expr] = (
                    _factor_variable(name, name, series) if _is_factor(series) else _Variable(name, name, True)
                )
            else:
                check_expression(expr, data.columns, dict(functions), context)
                variables[expr] = _Variable(names.get(expr, expr), expr, False, functions=functions)
    return variables


def _terms(rhs: str, data: pd.DataFrame, context: str = FIXED_CONTEXT, functions: tuple = ()) -> tuple[_Term, ...]:
    """Parse ``rhs`` and assign each factor its coding by R's rule (``TermCode``)."""
    python, names = _translate(rhs)
    formula = _parse(python)
    unordered = _parse(python, ordering="none")
    variables = _variables(unordered, data, names, context, functions)
    order = {expr: i for i, expr in enumerate(variables)}
    raw = []
    for term in formula:
        exprs = [expr for expr, kind in term if kind != LITERAL]
        for expr, kind in term:
            if kind == LITERAL and expr not in ("0", "1"):
                raise FormulaError(f"unsupported literal {expr!r} in formula {rhs!r}")
        raw.append(tuple(sorted(exprs, key=order.__getitem__)))
    present = {frozenset(t) for t in raw}
    intercept = frozenset() in present
    first_factor_done = intercept
    terms = []
    for exprs in raw:
        codings = []
        for e in exprs:
            var = variables[e]
            if var.levels is None:
                codings.append("numeric")
            elif not first_factor_done:
                codings.append("indicator")
                first_factor_done = True
            else:
                margin = frozenset(exprs) - {e}
                codings.append("contrast" if len(exprs) == 1 or margin in present else "indicator")
        vs = tuple(variables[e] for e in exprs)
        label = ":".join(v.name for v in vs) if vs else "(Intercept)"
        terms.append(_Term(label, vs, tuple(codings)))
    return tuple(terms)


def _width(var: _Variable, coding: str) -> int:
    return 1 if coding == "numeric" else len(var.levels) - (coding == "contrast")


def _check_size(terms: tuple[_Term, ...], n: int, context: str) -> None:
    """Stop before building an X of more than :data:`MAX_X_BYTES` (n × p × 8 bytes), naming the widest factor."""
    p = sum(math.prod(_width(v, c) for v, c in zip(t.variables, t.codings)) for t in terms)
    size = n * p * 8
    if size <= MAX_X_BYTES:
        return
    factors = [v for t in terms for v in t.variables if v.levels is not None]
    widest = max(factors, key=lambda v: len(v.levels), default=None)
    culprit = "" if widest is None else (
        f"; factor {widest.name!r} has {len(widest.levels):,} levels — as a random effect, "
        f"(1 | {widest.name}), it costs one column per level in a sparse Z instead")
    raise DesignError(f"{context} would need a dense {n:,} × {p:,} model matrix ({size / 2**30:.1f} GiB, more "
                      f"than the {MAX_X_BYTES / 2**30:.1f} GiB allowed){culprit}")


def build_fixed_design(rhs: str, data: pd.DataFrame, *, check_rank: bool = True,
                       context: str = FIXED_CONTEXT, functions: dict | None = None) -> FixedDesign:
    """Build the fixed-effects model matrix X from the right-hand side of an R formula.

    Parameters
    ----------
    rhs : str
        Fixed part of the formula as R writes it, random-effects bars removed, e.g. ``"Days"``,
        ``"0 + x"``, ``"recipe * temperature"``, ``"I(x^2) + log(z)"``.
    data : DataFrame
        Rows already free of missing values; never modified.
    check_rank : bool
        Drop aliased columns (True, lme4's default). False keeps every column, for a design whose
        rank is checked elsewhere (the cross-products of data read in chunks) or for the columns
        of a random-effects term, which lme4 never drops.
    context : str
        Where the formula comes from, for error messages ("random-effects term (x | g)").
    functions : dict, optional
        Functions the formula may call besides the allowed ones (:mod:`.expressions`), by name.

    Returns
    -------
    FixedDesign

    Raises
    ------
    FormulaError
        Unparsable formula, unknown column, non-finite values in a numeric column used, an
        expression with anything but columns, numbers, arithmetic and allowed functions.
    DesignError
        A factor with fewer than two levels or with missing values.

    Warns
    -----
    UserWarning
        "fixed-effect model matrix is rank deficient so dropping k columns / coefficients",
        lme4's message, when aliased columns are removed.

    Notes
    -----
    lme4 ``lFormula`` (``model.matrix``) and ``chkRank.X``; MixedModels.jl ``FeTerm``.
    """
    if not rhs.strip():
        raise FormulaError("the fixed-effects formula is empty; use '1' for an intercept only")
    terms = _terms(rhs, data, context, tuple(sorted((functions or {}).items())))
    _check_size(terms, len(data), context)
    X, names, assign = _materialize(terms, data, context=context)
    gram = X.T @ X if check_rank else None
    colsum = X.sum(axis=0) if check_rank else None
    aliased = _aliased_columns(X, gram) if check_rank else np.empty(0, dtype=np.intp)
    kept = np.delete(np.arange(X.shape[1]), aliased) if aliased.size else np.arange(X.shape[1])  # aliased: ascending
    if aliased.size:
        k = aliased.size
        noun = "column / coefficient" if k == 1 else "columns / coefficients"
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {k} {noun}", UserWarning, stacklevel=2
        )
        X = np.asfortranarray(X[:, kept])
    return FixedDesign(
        X=X,
        column_names=[names[j] for j in kept],
        terms=[t.label for t in terms],
        assign=assign[kept],
        dropped=[names[j] for j in aliased],
        _terms=terms,
        _kept=kept,
        _context=context,
        gram=gram,
        colsum=colsum,
    )


def _split_arguments(text: str) -> list[str]:
    """Split the arguments of a call at its top-level commas."""
    args, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            args.append(text[start:i])
            start = i + 1
    args.append(text[start:])
    return [a.strip() for a in args]


def _response_column(expr: str, data: pd.DataFrame, functions: dict | None) -> np.ndarray:
    context = "the response"
    name = expr.strip().strip("`")
    if name in data.columns:
        series = data[name]
        if _is_factor(series) and not pd.api.types.is_bool_dtype(series.dtype):
            bad = _not_numbers(series)
            which = f": {_rows_text(bad)} {'is' if len(bad) == 1 else 'are'} not numbers" if len(bad) else ""
            raise FormulaError(f"response column {name!r} is not numeric (dtype {series.dtype}){which}")
        values = _float_values(series)
    else:
        python = _to_python(expr.strip())
        if re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", python):
            _column(data, python, context)
        values = evaluate_expression(f"I({python})", data, functions, None, context)
    if not np.isfinite(values).all():
        raise FormulaError(f"non-finite values (NaN or Inf) in response {expr.strip()!r}")
    return values


def evaluate_response(lhs: str, data: pd.DataFrame, functions: dict | None = None) -> np.ndarray:
    """Evaluate the left-hand side of an R formula.

    Parameters
    ----------
    lhs : str
        ``"Reaction"``, an expression (``"log(y)"``, ``"I(y/100)"``), or
        ``"cbind(successes, failures)"`` for a binomial response.
    data : DataFrame
    functions : dict, optional
        Functions the expression may call besides the allowed ones (:mod:`.expressions`).

    Returns
    -------
    ndarray, shape (n,) or (n, 2)
        float64; two columns for ``cbind``.

    Raises
    ------
    FormulaError
        Unknown or non-numeric column, unevaluable expression, non-finite values.
    """
    text = lhs.strip()
    match = re.fullmatch(r"cbind\s*\((.*)\)", text, flags=re.S)
    if match:
        args = _split_arguments(match.group(1))
        if len(args) != 2 or not all(args):
            raise FormulaError(f"cbind() in the response needs two arguments, got {text!r}")
        return np.column_stack([_response_column(a, data, functions) for a in args])
    return _response_column(text, data, functions)
