"""Estimated marginal means (R's emmeans: ``ref_grid``, ``emmeans``, ``joint_tests``).

Reference grid: every combination of the levels of the model's factors and of the values of its
covariates — a covariate at its mean over the rows used, unless ``at=`` gives values, or at its
unique values when it has at most two (emmeans' ``cov.keep = 2``). Each grid row g gets the row
x_g of the fixed-effects design (built by the fit's own design, as ``predict(newdata)`` does),
and ``n_g``, the number of observations in its cell. An mmrm fit's grid also holds its visit and
group factors when the fixed effects do not use them (as mmrm's ``recover_data`` puts them there):
x_g does not depend on them, they only join the averaged-over factors.

A marginal mean of the factors in ``specs`` (and ``by``) averages the grid rows over the other
variables: l = Σ_g w_g x_g / Σ_g w_g with equal weights w_g = 1 by default, or
``"proportional"``: w_g = the number of observations at the levels g has of the averaged-over
factors (their marginal frequencies); ``"cells"`` and ``"flat"``: n_g and [n_g > 0] within each
mean; ``"outer"``: products of the averaged factors' marginal proportions. Then

    emmean = lᵀβ̂,   SE = √(lᵀ V l),   df per row,

with V and the df of the chosen method: ``"kenward-roger"`` (V = Φ_A, pbkrtest's adjusted
covariance, df by ``Lb_ddf``; emmeans' default for lmer fits), ``"satterthwaite"``
(V = Var(β̂), lmerTest's df) or ``"asymptotic"`` (V = Var(β̂), df = ∞; always for GLMMs). For an
:class:`~mixedmodels.MmrmFit` V is the fit's own ``vcov`` (asymptotic, Kenward–Roger adjusted or
empirical, as fitted) and the df its own method (Satterthwaite, Kenward–Roger, residual or
between-within: mmrm's ``df_md``), as R's emmeans does through mmrm's ``emm_basis.mmrm``.
Intervals lᵀβ̂ ± t_{df,(1+level)/2} SE. For a GLMM and ``type="response"`` the mean is g⁻¹(lᵀβ̂)
with SE |dμ/dη| SE (the delta method) and the interval the back-transformed link interval.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .emmtable import EmmTable

__all__ = ["EMMeans", "emmeans", "joint_tests", "reference_grid", "ReferenceGrid", "GRID_LIMIT", "KR_LIMIT"]

GRID_LIMIT = 10_000
"""Largest reference grid built (emmeans' ``rg.limit``)."""

KR_LIMIT = 3_000
"""Default Kenward–Roger up to this many observations (emmeans' ``pbkrtest.limit``); Satterthwaite above."""

_DDF = {"kenward-roger": "kenward-roger", "kr": "kenward-roger", "kenward_roger": "kenward-roger",
        "satterthwaite": "satterthwaite", "asymptotic": "asymptotic"}
_WEIGHTS = ("equal", "proportional", "outer", "cells", "flat")
_IDENTIFIER = re.compile(r"`([^`]+)`|([A-Za-z_.][A-Za-z0-9_.]*)")


# ============================================================================ the reference grid
@dataclass(frozen=True)
class GridVariable:
    """One predictor of the reference grid: a factor (its levels) or a covariate (its values)."""

    name: str
    factor: bool
    values: tuple       # what the grid's data column holds (factor: the data's level values)
    labels: tuple       # what is printed (factor: R's labels; covariate: the numbers)


@dataclass(frozen=True)
class ReferenceGrid:
    """The grid: variables (first varies fastest, as R's ``expand.grid``), X rows and cell counts.

    Attributes
    ----------
    variables : tuple of GridVariable
    X : ndarray (G, p)       design rows of the grid
    counts : ndarray (G,)    observations in each grid cell (emmeans' ``.wgt.``)
    """

    variables: tuple
    X: np.ndarray
    counts: np.ndarray

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(len(v.values) for v in self.variables)

    def variable(self, name: str) -> GridVariable:
        for v in self.variables:
            if v.name == name:
                return v
        raise ValueError(f"no variable named {name!r} in the reference grid; it has: {', '.join(self.names)}")

    def as_array(self, values: np.ndarray) -> np.ndarray:
        """Grid-row values (G, ...) as an array indexed [level of var 1, ..., level of var k, ...]."""
        dims = self.dims
        rest = values.shape[1:]
        array = values.reshape(tuple(reversed(dims)) + rest)
        k = len(dims)
        return array.transpose(tuple(reversed(range(k))) + tuple(range(k, k + len(rest))))


def _predictor_names(fit) -> list[str]:
    """Data columns the fixed-effects formula uses, in order of appearance (R's ``all.vars``)."""
    frame = fit.design.frame
    names = []
    for quoted, bare in _IDENTIFIER.findall(fit.design.formula.fixed):
        name = quoted or bare
        if name in frame.columns and name not in names:
            names.append(name)
    return names


def _factor_columns(fit) -> dict[str, object]:
    """Factor variables of the fixed design (plain columns only), name → the design's variable."""
    factors = {}
    for term in fit.design.fixed._terms:
        for variable in term.variables:
            if variable.levels is not None:
                if not variable.lookup:
                    raise ValueError(f"marginal means need factors as plain columns; {variable.name!r} is an "
                                     "expression: make it a column of the data first")
                factors[variable.expr] = variable
    return factors


def is_mmrm(fit) -> bool:
    """True for a fit of :func:`mixedmodels.mmrm` (its tests carry their own df method and vcov)."""
    from ..mmrm.results import MmrmFit

    return isinstance(fit, MmrmFit)


def coefficients(fit) -> np.ndarray:
    """β̂ as an array, in the order of the fixed-effects design's columns."""
    return fit.fixef.to_numpy()


def _covariance_factors(fit, names: list[str]) -> dict[str, tuple[list, list]]:
    """An mmrm fit's visit (≥ 2 levels, not spatial) and group factors that the fixed effects do not use.

    R's emmeans puts them in an mmrm fit's reference grid all the same (mmrm's ``recover_data``): they
    leave X unchanged and only join the averaged-over factors. Name → (levels, labels).
    """
    if not is_mmrm(fit):
        return {}
    parsed, frame = fit.design.formula, fit.design.frame
    out = {}
    for name in ([] if parsed.spatial else [parsed.visit]) + ([parsed.group] if parsed.group else []):
        if name in names:
            continue
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels = [c for c in column.cat.categories if (column == c).any()]
        else:
            levels = sorted(pd.unique(column).tolist())
        if name != parsed.visit or len(levels) > 1:
            out[name] = (levels, [str(v) for v in levels])
    return out


def _check_fit(fit) -> None:
    if not getattr(fit, "in_memory", True) or getattr(fit.design, "frame", None) is None:
        raise ValueError("marginal means need the fit's rows in memory (cell counts, covariate values); "
                         "this fit was made from Parquet files or a Dask DataFrame")
    if fit.design.fixed.dropped:
        raise ValueError("marginal means of a rank-deficient fit (dropped columns: "
                         f"{', '.join(fit.design.fixed.dropped)}) are not supported: drop the aliased terms")
    if not is_mmrm(fit) and fit.design.offset is not None:  # mmrm has no offsets
        raise ValueError("marginal means of a fit with an offset are not supported")


def reference_grid(fit, at: dict | None = None, cov_reduce: str = "mean") -> ReferenceGrid:
    """The reference grid of a fit (R's ``ref_grid``).

    Parameters
    ----------
    fit : LmerFit, GlmerFit or MmrmFit
    at : dict, optional
        Variable name → value or values: covariate values, or a subset of a factor's levels.
    cov_reduce : {"mean", "meanint"}
        A covariate with more than two distinct values and not in ``at`` is put at its mean
        (``"mean"``) or at mean ± 1 (``"meanint"``, emmeans' ``joint_tests``).

    Raises
    ------
    ValueError
        Unknown variable or level in ``at``, or a grid larger than :data:`GRID_LIMIT` rows.
    """
    _check_fit(fit)
    frame = fit.design.frame
    at = {} if at is None else dict(at)
    names = _predictor_names(fit)
    factors = {name: (v.levels, v.labels) for name, v in _factor_columns(fit).items()}
    extra = _covariance_factors(fit, names)
    factors |= extra
    names += list(extra)
    unknown = [k for k in at if k not in names]
    if unknown:
        raise ValueError(f"at= names {unknown} are not variables of the fixed effects ({', '.join(names)})")
    variables, kept = [], []
    for name in names:
        column = frame[name]
        if name in factors:
            levels, labels = (list(v) for v in factors[name])
            if name in at:
                wanted = [at[name]] if np.isscalar(at[name]) else list(at[name])
                lookup = {str(lab): i for i, lab in enumerate(labels)} | {lev: i for i, lev in enumerate(levels)
                                                                         if isinstance(lev, (str, int, float, bool))}
                missing = [w for w in wanted if w not in lookup]
                if missing:
                    raise ValueError(f"at= levels {missing} are not levels of factor {name!r} ({labels})")
                index = [lookup[w] for w in wanted]
                levels, labels = [levels[i] for i in index], [labels[i] for i in index]
            variables.append(GridVariable(name, True, tuple(levels), tuple(labels)))
            kept.append(name)
            continue
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            raise ValueError(f"column {name!r} is used inside an expression but is not numeric")
        values = column.to_numpy(dtype=float)
        if name in at:
            wanted = np.atleast_1d(np.asarray(at[name], dtype=float))
            if not np.isfinite(wanted).all() or wanted.size == 0:
                raise ValueError(f"at= values of {name!r} must be finite numbers, got {at[name]!r}")
            grid_values = tuple(float(v) for v in wanted)
        else:
            unique = np.unique(values)
            if len(unique) <= 2:
                grid_values = tuple(float(v) for v in unique)
                kept.append(name)
            elif cov_reduce == "meanint":
                grid_values = (float(values.mean()) - 1.0, float(values.mean()) + 1.0)
            else:
                grid_values = (float(values.mean()),)
        variables.append(GridVariable(name, False, grid_values, grid_values))
    size = math.prod(len(v.values) for v in variables)
    if size > GRID_LIMIT:
        raise ValueError(f"the reference grid would have {size} rows (more than {GRID_LIMIT}); "
                         "restrict it with at=")
    grid = _grid_frame(variables, frame)
    X = fit.design.fixed.transform(grid)
    counts = _cell_counts(variables, kept, frame, grid)
    return ReferenceGrid(tuple(variables), X, counts)


def _grid_frame(variables: list[GridVariable], frame: pd.DataFrame) -> pd.DataFrame:
    """expand.grid of the variables' values (first fastest), typed like the data's columns."""
    combos = list(itertools.product(*(range(len(v.values)) for v in reversed(variables))))
    columns = {}
    for j, v in enumerate(variables):
        index = [c[len(variables) - 1 - j] for c in combos] if combos else []
        values = [v.values[i] for i in index]
        original = frame[v.name]
        if isinstance(original.dtype, pd.CategoricalDtype):
            columns[v.name] = pd.Categorical(values, categories=original.cat.categories,
                                             ordered=original.cat.ordered)
        elif v.factor:
            columns[v.name] = pd.Series(values, dtype=original.dtype)
        else:
            columns[v.name] = np.asarray(values, dtype=float)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(combos)))


def _cell_counts(variables, kept: list[str], frame: pd.DataFrame, grid: pd.DataFrame) -> np.ndarray:
    """Observations per grid row, matching the factors and the kept covariates (emmeans' ``.wgt.``)."""
    if not kept:
        return np.ones(len(grid))
    key = pd.MultiIndex.from_frame(frame[kept].astype(object))
    counts = pd.Series(1.0, index=key).groupby(level=list(range(len(kept)))).sum()
    grid_key = pd.MultiIndex.from_frame(grid[kept].astype(object))
    return counts.reindex(grid_key).fillna(0.0).to_numpy()


def _check_nesting(grid: ReferenceGrid, fit) -> None:
    """Refuse grids with nested factors (emmeans' ``.find_nests``), which need nested marginal means."""
    multi = [v for v in grid.variables if len(v.values) > 1]
    if len(multi) < 2:
        return
    counts = grid.as_array(grid.counts)
    for i, v in enumerate(grid.variables):
        if len(v.values) < 2:
            continue
        for j, w in enumerate(grid.variables):
            if j == i or len(w.values) < 2:
                continue
            other_axes = tuple(a for a in range(counts.ndim) if a not in (i, j))
            present = counts.sum(axis=other_axes) > 0 if other_axes else counts > 0
            table = present if i < j else present.T
            if (table.sum(axis=1) <= 1).all():
                raise ValueError(f"factor {v.name!r} is nested in {w.name!r} in the data; marginal means of "
                                 "nested factors are not supported")
    main = {t.label for t in fit.design.fixed._terms} | set(_covariance_factors(fit, []))
    for v in multi:
        if v.factor and v.name not in main:
            raise ValueError(f"factor {v.name!r} has no main effect in the model (it is nested); marginal means "
                             "of nested factors are not supported")


# ============================================================================ linear functions
def _resolve_ddf(fit, ddf) -> str:
    from ..inference.parameters import is_linear

    if is_mmrm(fit):
        wanted = None if ddf is None else str(ddf).lower().replace("_", "-").replace(" ", "-")
        if wanted is not None and {"kr": "kenward-roger"}.get(wanted, wanted) != fit.method:
            raise ValueError(f"an mmrm fit's marginal means use the df method it was fitted with ({fit.method!r}), "
                             f"as emmeans does; for ddf={ddf!r} refit with mm.mmrm(..., method=...)")
        return fit.method
    if not is_linear(fit):
        if ddf not in (None, "asymptotic"):
            raise ValueError(f"a GLMM's marginal means are asymptotic (z); ddf={ddf!r} is for lmer fits")
        return "asymptotic"
    if ddf is None:
        return "kenward-roger" if fit.reml and fit.nobs <= KR_LIMIT and fit.design.weights is None \
            else "satterthwaite"
    method = _DDF.get(str(ddf).lower())
    if method is None:
        raise ValueError(f"ddf must be 'kenward-roger', 'satterthwaite' or 'asymptotic', not {ddf!r}")
    return method


def vcov_for(fit, ddf: str) -> np.ndarray:
    """V of the df method: Kenward–Roger's adjusted Φ_A, otherwise Var(β̂); an mmrm fit's own ``vcov``."""
    if is_mmrm(fit):
        return fit.vcov.to_numpy()
    if ddf == "kenward-roger":
        from ..inference.kenward_roger import kenward_roger

        return kenward_roger(fit).vcov_adjusted
    return fit.solution.vcov_beta


def estimate_rows(fit, L: np.ndarray, ddf: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lᵀβ̂, SE and df of each row l of L under the df method (see the module docstring)."""
    beta = coefficients(fit)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    est = L @ beta
    if is_mmrm(fit):  # the fit's vcov and df method (mmrm's df_1d)
        rows = [fit.t_test(l) for l in L]
        return est, np.array([r["Std. Error"] for r in rows]), np.array([r["df"] for r in rows])
    if ddf == "asymptotic":
        V = fit.solution.vcov_beta
        return est, np.sqrt(np.einsum("ij,ij->i", L @ V, L)), np.full(len(L), np.inf)
    from ..inference.ddf import se_and_df

    se, df = se_and_df(fit, L, ddf)
    return est, se, df


def link_of(fit):
    """The GLMM's link (None for lmer fits)."""
    family = getattr(fit, "family", None)
    return None if family is None else family.link


def response_name(fit) -> str:
    """emmeans' back-transformed column: "prob" (binomial), "rate" (Poisson)."""
    return {"binomial": "prob", "poisson": "rate"}.get(fit.family.name, "response")


def _parse_names(value, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = [p for p in re.split(r"[+*:,\s]+", value.strip().lstrip("~")) if p]
        return parts
    try:
        names = list(value)
    except TypeError:
        raise ValueError(f"{what} must be a name or a list of names, not {value!r}") from None
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"{what} must hold variable names (strings), got {value!r}")
    return names


def parse_specs(specs, by) -> tuple[list[str], list[str]]:
    """``"a"``, ``["a", "b"]``, ``"a * b"``, ``"~ a | b"`` → (specs, by)."""
    if isinstance(specs, str) and "|" in specs:
        left, right = specs.split("|", 1)
        return _parse_names(left, "specs"), list(dict.fromkeys(_parse_names(right, "specs") + _parse_names(by, "by")))
    names = _parse_names(specs, "specs")
    if not names:
        raise ValueError("specs must name at least one factor of the model")
    return names, _parse_names(by, "by")


def _weights(grid: ReferenceGrid, facs: list[int], weights) -> np.ndarray:
    """Per-grid-row weights as an array over the grid's dims (see the module docstring)."""
    counts = grid.as_array(grid.counts)
    dims = grid.dims
    averaged = [i for i, d in enumerate(dims) if d > 1 and i not in facs]
    if isinstance(weights, str):
        kind = weights.lower()
        if kind not in _WEIGHTS:
            raise ValueError(f"weights must be one of {_WEIGHTS} or numbers, not {weights!r}")
        if kind == "equal" or not averaged:
            return np.ones(dims)
        if kind == "cells":
            return counts
        if kind == "flat":
            return (counts > 0).astype(float)
        others = tuple(i for i in range(len(dims)) if i not in averaged)
        margin = counts.sum(axis=others, keepdims=True)
        if kind == "proportional":
            return np.broadcast_to(margin, dims).copy()
        total = counts.sum()
        out = np.full(dims, total)
        for i in averaged:
            axes = tuple(a for a in range(len(dims)) if a != i)
            out = out * counts.sum(axis=axes, keepdims=True) / total
        return out
    raise ValueError(f"weights must be one of {_WEIGHTS}, not {weights!r}")


def average_grid(grid: ReferenceGrid, facs: list[str], weights="equal") -> tuple[np.ndarray, pd.DataFrame, list[str]]:
    """Rows L of the marginal means of ``facs`` (expand.grid order), their labels and the averaged-over names."""
    index = [grid.names.index(f) for f in facs]
    X = grid.as_array(grid.X)
    W = _weights(grid, index, weights)
    k = len(grid.dims)
    others = [i for i in range(k) if i not in index]
    # combinations of facs with the first fastest: C-order over the reversed facs
    order = list(reversed(index)) + others
    p = X.shape[-1]
    Xt = X.transpose(order + [k]).reshape(-1, math.prod(grid.dims[i] for i in others), p)
    Wt = W.transpose(order).reshape(Xt.shape[0], -1)
    sums = Wt.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        L = np.einsum("cr,crp->cp", Wt, Xt) / np.where(sums > 1e-8, sums, np.nan)[:, None]
    combos = list(itertools.product(*(range(grid.dims[i]) for i in reversed(index))))
    labels = {}
    for j, i in enumerate(index):
        variable = grid.variables[i]
        picks = [c[len(index) - 1 - j] for c in combos]
        if variable.factor:
            labels[variable.name] = pd.Categorical([variable.labels[t] for t in picks],
                                                   categories=list(dict.fromkeys(variable.labels)))
        else:
            labels[variable.name] = np.array([variable.labels[t] for t in picks], dtype=float)
    averaged = [grid.names[i] for i in range(k) if grid.dims[i] > 1 and i not in index]
    return L, pd.DataFrame(labels), averaged


def _interaction_note(fit, facs: list[str]) -> list[str]:
    """emmeans' note when a model term involves the factors and further variables."""
    for term in fit.design.fixed._terms:
        names = {v.name for v in term.variables}
        lookups = set()
        for v in term.variables:
            lookups |= {n for q, b in _IDENTIFIER.findall(v.expr) for n in (q or b,)}
        if set(facs) <= (names | lookups) and len(names | lookups) > len(set(facs)):
            return ["NOTE: Results may be misleading due to involvement in interactions"]
    return []


# ============================================================================ the result
class EMMeans(EmmTable):
    """Estimated marginal means: a table (``.frame``, emmeans' columns) and what made it.

    Columns: the ``specs`` and ``by`` variables, then ``emmean`` (``prob``/``rate`` for a GLMM on
    the response scale), ``SE``, ``df``, ``lower.CL``/``upper.CL`` (``asymp.LCL``/``asymp.UCL``
    when df = ∞). ``L`` holds the linear functions (one row per mean; emmeans' ``linfct``).
    """

    def __init__(self, fit, L, labels, specs, by, averaged, ddf, level, type, notes):
        self.fit, self.L, self.labels = fit, L, labels
        self.specs, self.by_vars, self.averaged = list(specs), list(by), list(averaged)
        self.ddf, self.level, self.type, self.notes = ddf, level, type, list(notes)
        est, se, df = estimate_rows(fit, L, ddf)
        self.estimates, self.se, self.df = est, se, df
        asymptotic = np.all(~np.isfinite(df))
        crit = stats.t.ppf(1 - (1 - level) / 2, df)
        lower, upper = est - crit * se, est + crit * se
        name, messages = "emmean", []
        if averaged:
            messages.append(f"Results are averaged over the levels of: {', '.join(averaged)}")
        if (ddf != "asymptotic" or link_of(fit) is None) and not is_mmrm(fit):  # emmeans names no mmrm df method
            messages.append(f"Degrees-of-freedom method: {ddf}")
        link = link_of(fit)
        if link is not None and type == "link":
            messages.append(f"Results are given on the {link.name} (not the response) scale.")
        messages.append(f"Confidence level used: {level:g}")
        if link is not None and type == "response":
            name = response_name(fit)
            lower, upper = link.inverse(lower), link.inverse(upper)
            lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)
            se = np.abs(link.mu_eta(est)) * se
            est = link.inverse(est)
            messages.append(f"Intervals are back-transformed from the {link.name} scale")
        limits = ("asymp.LCL", "asymp.UCL") if asymptotic else ("lower.CL", "upper.CL")
        frame = labels.copy()
        frame[name], frame["SE"], frame["df"] = est, se, df
        frame[limits[0]], frame[limits[1]] = lower, upper
        super().__init__(frame, by, name, messages + notes)

    def refitted(self, fit) -> "EMMeans":
        """The same means (grid, weights, df method) estimated from another fit of the same model on the same rows.

        The linear functions ``L`` depend on the design only, so a refit to a new response (a
        bootstrap or power replicate) needs no new reference grid.
        """
        return EMMeans(fit, self.L, self.labels, self.specs, self.by_vars, self.averaged, self.ddf, self.level,
                       self.type, self.notes)

    def contrast(self, method="eff", adjust=None, ref=None, by=None):
        """Contrasts of these means (see :func:`mixedmodels.postfit.contrast.contrast`)."""
        from .contrast import contrast

        return contrast(self, method=method, adjust=adjust, ref=ref, by=by)

    def pairs(self, adjust=None, reverse: bool = False, by=None):
        """All pairwise differences (``"pairwise"``, or ``"revpairwise"`` with ``reverse``), Tukey by default."""
        return self.contrast("revpairwise" if reverse else "pairwise", adjust=adjust, by=by)

    def plot(self, ax=None, horizontal: bool = True):
        """The means with their intervals (see :func:`mixedmodels.plots.emmeans`)."""
        from ..plots import emmeans as plot_emmeans

        return plot_emmeans(self, ax=ax, horizontal=horizontal)


def emmeans(fit, specs, by=None, at: dict | None = None, weights="equal", ddf: str | None = None,
            level: float = 0.95, type: str = "link") -> EMMeans:
    """Estimated marginal means of ``specs`` (R's ``emmeans(fit, specs, by, at, weights)``).

    Parameters
    ----------
    fit : LmerFit, GlmerFit or MmrmFit
    specs : str or list of str
        Factors (or covariates given several values in ``at``) to estimate means for:
        ``"group"``, ``["recipe", "temperature"]``, ``"recipe * temperature"``, ``"recipe | temperature"``.
    by : str or list of str, optional
        Variables whose levels split the table (and the families of contrasts).
    at : dict, optional
        Covariate values (``{"nitro": 0.6}`` or several) or factor levels to keep.
    weights : {"equal", "proportional", "outer", "cells", "flat"}
        How grid rows are averaged (module docstring); emmeans' default ``"equal"``.
    ddf : {None, "kenward-roger", "satterthwaite", "asymptotic"}
        None: Kenward–Roger for REML lmer fits of at most :data:`KR_LIMIT` observations without
        prior weights (emmeans' default), else Satterthwaite; GLMMs are always asymptotic (z); an
        mmrm fit always uses the df method and vcov it was fitted with (None or that method's name).
    level : float
        Confidence level of the intervals.
    type : {"link", "response"}
        GLMMs: means on the link scale, or back-transformed (delta-method SE); for a linear model
        (lmer, mmrm) with an untransformed response both are the same table, as in emmeans.

    Returns
    -------
    EMMeans
        Prints as emmeans prints; ``.frame`` is the table, ``.L`` the linear functions.

    Raises
    ------
    ValueError
        Unknown variable, bad option, nested factors, rank-deficient fit, a grid that is too large,
        a ``ddf`` other than an mmrm fit's own method.
    """
    _check_fit(fit)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level!r}")
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    method = _resolve_ddf(fit, ddf)
    if type == "response" and link_of(fit) is None and fit.design.formula.response.strip() not in fit.design.frame:
        raise ValueError("type='response' back-transforms GLMM means; a transformed response of a linear model "
                         f"({fit.design.formula.response!r}) is not supported")
    specs, by = parse_specs(specs, by)
    grid = reference_grid(fit, at=at)
    facs = list(dict.fromkeys(specs + by))
    for name in facs:
        grid.variable(name)
    _check_nesting(grid, fit)
    L, labels, averaged = average_grid(grid, facs, weights)
    notes = _interaction_note(fit, facs)
    return EMMeans(fit, L, labels, specs, by, averaged, method, level, type, notes)


# ============================================================================ joint tests
def joint_test(fit, L: np.ndarray, ddf: str) -> dict:
    """F test of Lβ = 0 as emmeans' ``test(joint = TRUE)``.

    With QᵀR the QR of Lᵀ (rank r), z = Qᵀβ̂ and F = zᵀ(QᵀVQ)⁻¹z / r; df1 = r and df2 the smallest
    single-row df of the rows of Qᵀ. df1 and df2 are rounded to 2 decimals and F to 3, as emmeans
    reports them; the p-value uses the unrounded F and df2.
    """
    L = np.asarray(L, dtype=float)
    L = L[~np.all(L == 0, axis=1)]
    zapped = np.where(np.abs(L) < 1e-7, 0.0, L)
    Q, R = np.linalg.qr(zapped.T)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > 1e-7 * max(diag.max(initial=0.0), 1e-300)))
    if rank == 0:
        return {"df1": 0, "df2": np.nan, "F.ratio": np.nan, "p.value": np.nan, "note": "d"}
    Qt = Q[:, :rank].T
    z = Qt @ coefficients(fit)
    V = vcov_for(fit, ddf)
    F = float(z @ np.linalg.solve(Qt @ V @ Qt.T, z)) / rank
    _, _, dfs = estimate_rows(fit, Qt, ddf)
    df2 = float(np.min(dfs))
    p = float(stats.chi2.sf(F * rank, rank)) if not np.isfinite(df2) else float(stats.f.sf(F, rank, df2))
    return {"df1": round(float(rank), 2), "df2": round(df2, 2) if np.isfinite(df2) else np.inf,
            "F.ratio": round(F, 3), "p.value": p, "note": "d" if rank < len(L) else ""}


def consec_matrix(k: int) -> np.ndarray:
    """Differences of successive levels, (k − 1) × k: row i is μ_{i+1} − μ_i (emmeans' ``consec.emmc``)."""
    C = np.zeros((k - 1, k))
    C[np.arange(k - 1), np.arange(k - 1)] = -1
    C[np.arange(k - 1), np.arange(1, k)] = 1
    return C


def _consec_interaction(L: np.ndarray, dims: list[int]) -> np.ndarray:
    """Interaction contrasts "consec" of means on a grid (first factor fastest), emmeans' row order."""
    # row (i_1, ..., i_k) of the contrast has the first factor's contrast fastest: kron(C_k, ..., C_1)
    C = np.ones((1, 1))
    for d in dims:
        C = np.kron(consec_matrix(d), C)
    return C @ L


def _refuse_confounded(fit, grid: ReferenceGrid, facs: list[str], by: list[str], frame: pd.DataFrame) -> None:
    """Raise when the terms' tests miss degrees of freedom of the cell means (emmeans' "(confounded)" row)."""
    L, _, _ = average_grid(grid, facs + by)
    cells = math.prod(len(grid.variable(n).values) for n in facs)
    for b in range(len(L) // cells):
        block = L[b * cells:(b + 1) * cells]
        total = int(np.linalg.matrix_rank(consec_matrix(cells) @ block, tol=1e-7 * max(1.0, np.abs(block).max())))
        tested = frame["df1"].to_numpy()[b::len(L) // cells].sum() if by else frame["df1"].sum()
        if total > tested:
            raise ValueError(f"{total - tested:g} df of the fixed effects belong to no single term's marginal means "
                             "(emmeans reports them as '(confounded)'); joint tests of such models are not supported")


def joint_tests(fit, by=None, ddf: str | None = None) -> EmmTable:
    """F tests of every model term through its marginal means (R's ``joint_tests``).

    For each set of variables that some model term contains, the marginal means of those variables
    (covariates at mean ± 1, emmeans' ``cov.reduce = meanint``) give the interaction contrasts of
    successive levels, tested jointly (:func:`joint_test`). Rows are ordered by the number of
    variables, as emmeans orders them.

    Parameters
    ----------
    fit : LmerFit, GlmerFit or MmrmFit
    by : str or list of str, optional
        Test within each level of these variables.
    ddf : as for :func:`emmeans`

    Returns
    -------
    EmmTable
        Columns "model term", df1, df2, F.ratio, p.value (and the ``by`` variables); as emmeans,
        the printed table does not name the df method.
    """
    _check_fit(fit)
    method = _resolve_ddf(fit, ddf)
    by = _parse_names(by, "by")
    grid = reference_grid(fit, cov_reduce="meanint")
    for name in by:
        grid.variable(name)
    _check_nesting(grid, fit)
    facs = [n for n in grid.names if n not in by]
    if not facs:
        raise ValueError("there are no factors to test")
    contains = []
    for term in fit.design.fixed._terms:
        variables = set()
        for v in term.variables:
            variables |= {q or b for q, b in _IDENTIFIER.findall(v.expr)}
        contains.append(variables)

    def subsets(these: list[str], last: int):
        out = []
        if these and any(set(these) <= c for c in contains):
            out.append(list(these))
        for i in range(last, len(facs)):
            out += subsets(these + [facs[i]], i + 1)
        return out

    tests = sorted(subsets([], 0), key=len)
    rows = []
    for these in tests:
        L, labels, _ = average_grid(grid, these + by)
        dims = [len(grid.variable(n).values) for n in these]
        n_by = len(L) // math.prod(dims)
        for b in range(n_by):
            block = L[b * math.prod(dims):(b + 1) * math.prod(dims)]
            result = joint_test(fit, _consec_interaction(block, dims), method)
            row = {"model term": ":".join(these)}
            for name in by:
                row[name] = labels[name].iloc[b * math.prod(dims)]
            rows.append(row | result)
    frame = pd.DataFrame(rows)
    _refuse_confounded(fit, grid, facs, by, frame)
    frame = frame[frame["df1"] > 0].reset_index(drop=True)
    notes = frame.pop("note")
    messages = []
    if (notes != "").any():
        frame["note"] = notes.map(lambda n: f" {n}" if n else "")
        messages.append("d: df1 reduced due to linear dependence")
    columns = by + ["model term", "df1", "df2", "F.ratio", "p.value"] + (["note"] if "note" in frame else [])
    return EmmTable(frame[[c for c in ["model term"] + by + columns[len(by) + 1:]]], by, "F.ratio", messages)
