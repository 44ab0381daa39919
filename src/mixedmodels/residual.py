"""Residual correlation and variance structures inside ``lmer`` (nlme's ``correlation=`` and ``weights=``).

The model (shared/DESIGN.md §6) is y = Xβ + Zb + ε, b ~ N(0, σ²ΛΛᵀ), and within each residual
group i (a subject)

    Var(ε_i) = σ² R_i(ρ, δ),   R_i = V_i^{1/2} C_i(ρ) V_i^{1/2},

C_i a correlation matrix of the group's visits (:class:`AR1`, :class:`CompoundSymmetry`) and
V_i = diag(δ²_{g(j)}) one variance ratio per level of a stratifying factor (:class:`VarIdent`,
the first level's δ = 1). With the Cholesky factor R_i = L_iL_iᵀ the whitened rows
ỹ_i = L_i⁻¹y_i, X̃_i = L_i⁻¹X_i, Z̃_i = L_i⁻¹Z_i have independent residuals of variance σ², so for
fixed (ρ, δ) the model is the standard one: A(ρ, δ) = [Z̃ X̃ ỹ]ᵀ[Z̃ X̃ ỹ] and the profiled criterion
of :class:`~mixedmodels.objective.DevianceProblem`, plus the Jacobian of the whitening,

    d(θ, ρ, δ) = d_A(ρ,δ)(θ) + Σ_i log|R_i(ρ, δ)|

(entered as ``sum_log_weights = −Σ_i log|R_i|``, exactly as prior weights enter through Σ log wᵢ:
R = diag(1/w) is the special case). θ, ρ̃ = log((1 + ρ)/(1 − ρ)) (nlme's unconstrained AR(1)
parameter) and log δ are optimised jointly by the BOBYQA machinery of
:mod:`mixedmodels.optimize`. One evaluation costs one O(n Σ p_k²) pass to form A(ρ, δ) plus the
whitening: subjects are grouped by visit pattern so that each pattern's L is factored once, and
the rows of all subjects of a pattern are whitened by one triangular solve.

Supported (everything else raises :class:`~mixedmodels.errors.DesignError` or ``TypeError``):

* ``residual="ar1(visit | subject)"``: corr(ε_ij, ε_ik) = ρ^|t_j − t_k|, t the visit's position
  among the visit variable's levels (a pandas Categorical in its category order — from polars,
  an Enum; a polars Categorical has no order and arrives with sorted levels — or a numeric
  column whose distinct values are the levels in increasing order; consecutive = adjacent
  levels; a missing visit leaves a gap);
* ``residual="cs(visit | subject)"``: corr = ρ for every pair of visits of a subject,
  −1/(m_max − 1) < ρ < 1 (nlme's ``corCompSymm``); with a random intercept for the same subject
  the two are confounded (as in nlme): pair it with a coarser random effect;
* ``residual_variance="~ 1 | g"``: one residual standard deviation ratio δ_g per level of g
  (nlme's ``varIdent``), g's levels in its category order (sorted values otherwise);
* either or both (``residual_variance="~ 1 | visit"`` with ``ar1``/``cs`` gives the heterogeneous
  ``ar1h``/``csh`` structures); REML or ML; any random-effects terms whose grouping factors are constant
  within each subject (the subject itself or a factor it is nested in); data in memory only;
  an offset; no prior weights; duplicated visits within a subject are an error.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as la

from .blocks import TermData, build_cross_products
from .errors import SINGULAR_MESSAGE, ConvergenceWarning, DesignError, SingularFitWarning
from .fitting import problem_of
from .objective import DevianceProblem
from .optimize import OptSummary, optimize_theta
from .results import LmerFit

__all__ = ["AR1", "CompoundSymmetry", "VarIdent", "ResidualModel", "StructuredLmerFit", "fit_structured",
           "parse_residual", "parse_residual_variance"]

_CORRELATION = re.compile(r"^\s*(ar1|cs)\s*\(\s*([A-Za-z_.][\w.]*)\s*\|\s*([A-Za-z_.][\w.]*)\s*\)\s*$")
_VARIANCE = re.compile(r"^\s*~\s*1\s*\|\s*([A-Za-z_.][\w.]*)\s*$")


def parse_residual(text: str) -> tuple[str, str, str]:
    """``"ar1(visit | subject)"`` → ``("ar1", "visit", "subject")``; also ``cs``."""
    if not isinstance(text, str):
        raise TypeError(f"residual must be a string such as 'ar1(visit | subject)', not {type(text).__name__}")
    match = _CORRELATION.match(text)
    if match is None:
        raise DesignError(f"residual={text!r} is not supported: give 'ar1(visit | subject)' or "
                          "'cs(visit | subject)' (one visit factor and one subject column)")
    return match.group(1), match.group(2), match.group(3)


def parse_residual_variance(text: str) -> str:
    """``"~ 1 | g"`` → ``"g"`` (nlme's ``varIdent(form = ~ 1 | g)``)."""
    if not isinstance(text, str):
        raise TypeError(f"residual_variance must be a string such as '~ 1 | group', not {type(text).__name__}")
    match = _VARIANCE.match(text)
    if match is None:
        raise DesignError(f"residual_variance={text!r} is not supported: give '~ 1 | group' (one residual "
                          "variance per level of one column, nlme's varIdent)")
    return match.group(1)


class AR1:
    """AR(1) correlation ρ^|t_j − t_k| between the visits (level positions t) of one subject.

    One parameter, unconstrained x = log((1 + ρ)/(1 − ρ)), ρ = tanh(x / 2) (nlme's ``corAR1``).
    """

    name = "ar1"
    title = "AR(1)"
    n_params = 1

    def __init__(self, max_visits: int):
        self.max_visits = int(max_visits)

    def parameters(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(np.asarray(x, float) / 2.0)

    def correlation(self, positions: np.ndarray, rho: np.ndarray) -> np.ndarray:
        lag = np.abs(positions[:, None] - positions[None, :])
        return rho[0] ** lag


class CompoundSymmetry:
    """Compound symmetry: correlation ρ between every two visits of a subject (nlme's ``corCompSymm``).

    One parameter: ρ = a + (1 − a)(1 + tanh(x/2))/2 maps the real line onto (a, 1),
    a = −1/(m_max − 1) with m_max the most visits of a subject, so that every C_i is positive definite.
    """

    name = "cs"
    title = "Compound symmetry"
    n_params = 1

    def __init__(self, max_visits: int):
        self.max_visits = int(max_visits)
        self.lower = -1.0 / (self.max_visits - 1) if self.max_visits > 1 else -1.0

    def parameters(self, x: np.ndarray) -> np.ndarray:
        return self.lower + (1.0 - self.lower) * (1.0 + np.tanh(np.asarray(x, float) / 2.0)) / 2.0

    def correlation(self, positions: np.ndarray, rho: np.ndarray) -> np.ndarray:
        m = len(positions)
        return np.full((m, m), rho[0]) + (1.0 - rho[0]) * np.eye(m)


class VarIdent:
    """One residual standard-deviation ratio δ_g per level g of a factor, δ of the first level 1 (nlme's ``varIdent``).

    Parameters x = log δ of the levels after the first.
    """

    def __init__(self, column: str, levels: list[str]):
        self.column = column
        self.levels = list(levels)
        self.n_params = len(self.levels) - 1

    def ratios(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([[1.0], np.exp(np.asarray(x, float))])


def _levels_of(values: pd.Series, column: str, ordered: bool) -> tuple[np.ndarray, list]:
    """Integer codes and levels of a column: category order for a Categorical, sorted values otherwise.

    ``ordered``: the levels must have a natural order (numbers or a Categorical); strings are refused.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = values.cat.remove_unused_categories()
        return present.cat.codes.to_numpy().astype(np.int64), [str(c) for c in present.cat.categories]
    if ordered and not pd.api.types.is_numeric_dtype(values):
        raise DesignError(f"the visit variable {column!r} must be a pandas Categorical (its category order gives "
                          "the order of the visits) or numeric; strings have no natural order")
    levels, codes = np.unique(values.to_numpy(), return_inverse=True)
    return codes.astype(np.int64), [str(v) for v in levels]


@dataclass(frozen=True)
class _Pattern:
    """The subjects sharing one visit pattern: their rows (n_subjects, m), visit positions and variance levels."""

    rows: np.ndarray
    positions: np.ndarray
    strata: np.ndarray


class ResidualModel:
    """R_i(ρ, δ) for every subject of an in-memory design, and the whitened A(ρ, δ).

    Parameters
    ----------
    design : ModelDesign
        The rows (y, X, the terms' codes and columns, offset); its ``frame`` (the rows used)
        gives the visit, subject and stratum columns.
    residual : str or None
        ``"ar1(visit | subject)"`` or ``"cs(visit | subject)"``.
    residual_variance : str or None
        ``"~ 1 | g"``.
    """

    def __init__(self, design, residual: str | None, residual_variance: str | None):
        self.design = design
        self.residual, self.residual_variance = residual, residual_variance
        n = len(design.y)
        used = design.frame
        for column in self._columns():
            if column not in used.columns:
                raise DesignError(f"no column named {column!r} in the data (used by the residual structure)")
            if used[column].isna().any():
                raise DesignError(f"column {column!r} of the residual structure has missing values in rows the "
                                  "model uses")
        self.correlation = None
        if residual is not None:
            kind, visit, subject = parse_residual(residual)
            self.visit, self.subject = visit, subject
            positions, self.visit_levels = _levels_of(used[visit], visit, ordered=True)
            groups, self.subject_levels = _levels_of(used[subject], subject, ordered=False)
            pairs = pd.DataFrame({"g": groups, "t": positions})
            duplicated = pairs.duplicated()
            if duplicated.any():
                j = int(np.flatnonzero(duplicated)[0])
                raise DesignError(f"subject {self.subject_levels[groups[j]]!r} has visit "
                                  f"{self.visit_levels[positions[j]]!r} more than once ({visit!r} within {subject!r}):"
                                  " each visit of a subject must be one row")
            counts = np.bincount(groups)
            self.correlation = (AR1 if kind == "ar1" else CompoundSymmetry)(int(counts.max()))
            for term in design.terms:
                constant = pd.Series(term.codes).groupby(groups).nunique().to_numpy()
                if np.any(constant > 1):
                    raise DesignError(f"the random-effects term {term.name!r} varies within {subject!r}: a residual "
                                      "structure within subjects needs random-effect grouping factors that are "
                                      f"constant within each {subject!r} (the subject itself or a factor it is "
                                      "nested in)")
        else:
            groups, positions = np.arange(n), np.zeros(n, dtype=np.int64)
        self.variance = None
        strata = np.zeros(n, dtype=np.int64)
        if residual_variance is not None:
            column = parse_residual_variance(residual_variance)
            strata, levels = _levels_of(used[column], column, ordered=False)
            self.variance = VarIdent(column, levels)
        self.patterns = self._patterns(groups, positions, strata)
        self.n_params = (0 if self.correlation is None else self.correlation.n_params) + \
            (0 if self.variance is None else self.variance.n_params)
        y = design.y if design.offset is None else design.y - design.offset
        self._rows = np.column_stack([design.X, y] + [t.z for t in design.terms])

    def _columns(self) -> list[str]:
        out = []
        if self.residual is not None:
            out += list(parse_residual(self.residual)[1:])
        if self.residual_variance is not None:
            out.append(parse_residual_variance(self.residual_variance))
        return out

    @staticmethod
    def _patterns(groups: np.ndarray, positions: np.ndarray, strata: np.ndarray) -> list[_Pattern]:
        """Subjects grouped by (visit positions, variance levels); rows in visit order within a subject."""
        order = np.lexsort((positions, groups))
        starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0])
        by_key: dict[tuple, list[np.ndarray]] = {}
        for rows in np.split(order, starts[1:]):
            key = (tuple(positions[rows]), tuple(strata[rows]))
            by_key.setdefault(key, []).append(rows)
        return [_Pattern(np.vstack(rows), np.array(key[0]), np.array(key[1])) for key, rows in by_key.items()]

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The unconstrained vector → (ρ, δ): correlation parameters and the ratio of every variance level."""
        x = np.asarray(x, float)
        k = 0 if self.correlation is None else self.correlation.n_params
        rho = np.zeros(0) if self.correlation is None else self.correlation.parameters(x[:k])
        delta = np.ones(1) if self.variance is None else self.variance.ratios(x[k:])
        return rho, delta

    def covariance(self, pattern: _Pattern, rho: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """R = V^{1/2} C(ρ) V^{1/2} of one visit pattern."""
        sd = delta[pattern.strata]
        C = np.eye(len(sd)) if self.correlation is None else self.correlation.correlation(pattern.positions, rho)
        return sd[:, None] * C * sd[None, :]

    def cross_products(self, x: np.ndarray):
        """A(ρ, δ) of the whitened rows, with ``sum_log_weights = −Σ_i log|R_i|``; None if some R_i is not positive definite."""
        rho, delta = self.split(x)
        white = np.empty_like(self._rows)
        logdet = 0.0
        for pattern in self.patterns:
            try:
                L = la.cholesky(self.covariance(pattern, rho, delta), lower=True)
            except la.LinAlgError:
                return None
            s, m = pattern.rows.shape
            block = self._rows[pattern.rows]  # (s, m, c)
            solved = la.solve_triangular(L, block.transpose(1, 0, 2).reshape(m, -1), lower=True, check_finite=False)
            white[pattern.rows] = solved.reshape(m, s, -1).transpose(1, 0, 2)
            logdet += 2.0 * s * float(np.sum(np.log(np.diag(L))))
        p = self.design.X.shape[1]
        terms, start = [], p + 1
        for term in self.design.terms:
            k = term.z.shape[1]
            terms.append(TermData(term.codes, white[:, start:start + k], term.n_levels))
            start += k
        cross = build_cross_products(terms, white[:, :p], white[:, p])
        return dataclasses.replace(cross, sum_log_weights=-logdet)

    def row_sd_ratios(self, x: np.ndarray) -> np.ndarray:
        """δ_{g(j)} of every row (1 without a variance function)."""
        _, delta = self.split(x)
        out = np.ones(len(self.design.y))
        for pattern in self.patterns:
            out[pattern.rows] = delta[pattern.strata][None, :]
        return out

    def describe(self, x: np.ndarray) -> str:
        """The lines nlme prints for the correlation structure and the variance function."""
        rho, delta = self.split(x)
        lines = []
        if self.correlation is not None:
            label = "Phi" if self.correlation.name == "ar1" else "Rho"
            lines += [f"Correlation Structure: {self.correlation.title}",
                      f" Formula: ~{self.visit} | {self.subject}", " Parameter estimate(s):",
                      f"{label:>12}", f"{rho[0]:12.7g}"]
        if self.variance is not None:
            names = self.variance.levels
            width = max(10, *(len(n) + 2 for n in names))
            lines += ["Variance function:", " Structure: Different standard deviations per stratum",
                      f" Formula: ~1 | {self.variance.column}", " Parameter estimates:",
                      "".join(f"{n:>{width}}" for n in names), "".join(f"{d:>{width}.6f}" for d in delta)]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the fit

INDEPENDENT_ONLY = ("{what} is not available for an lmer fit with a residual structure ({structure}): it assumes "
                    "independent residuals with one variance; use Wald inference (coef_table(), "
                    "confint(method='wald')), or mm.mmrm for repeated measures with df")


@dataclass(frozen=True, eq=False)
class StructuredLmerFit(LmerFit):
    """An :class:`~mixedmodels.LmerFit` with a residual correlation and/or variance structure.

    ``problem``, ``solution`` and the fit's β̂, Var(β̂), σ̂, b̂ are those of the whitened model at
    (ρ̂, δ̂); ``objective`` includes Σ_i log|R_i|; σ̂ (the "Residual" row of ``varcorr``) is the
    residual standard deviation of the variance factor's first level, as nlme's ``sigma``;
    ``npar`` counts the correlation and variance parameters too (AIC, BIC). Extra attributes:

    Attributes
    ----------
    structure : ResidualModel
    residual_parameters : ndarray   the unconstrained (ρ̃, log δ) at the optimum
    joint_optimum : OptSummary      the optimisation over (θ, ρ̃, log δ)

    Inference that assumes independent residuals of one variance (Satterthwaite, Kenward–Roger,
    t and F tests with df, profiles and profile/bootstrap intervals, the parametric bootstrap,
    simulation, influence, likelihood-ratio tests and compare(), R², ICC, prediction intervals)
    raises :class:`~mixedmodels.errors.DesignError`; β̂, Wald standard errors and intervals
    (``confint(method="wald")``), fitted values, residuals and predict() are right. ``summary()``,
    ``tidy()`` and ``to_dict()`` default to ``ddf=None`` (Wald, no df).
    """

    structure: ResidualModel = None
    residual_parameters: np.ndarray = None
    joint_optimum: OptSummary = None

    @property
    def correlation_parameter(self) -> float | None:
        """φ of AR(1) or ρ of compound symmetry (None without a correlation structure)."""
        rho, _ = self.structure.split(self.residual_parameters)
        return float(rho[0]) if len(rho) else None

    @property
    def variance_ratios(self) -> pd.Series | None:
        """δ per level of the variance factor (first level 1), nlme's ``coef(varStruct, allCoef = TRUE)``."""
        if self.structure.variance is None:
            return None
        _, delta = self.structure.split(self.residual_parameters)
        return pd.Series(delta, index=self.structure.variance.levels, name="ratio")

    @property
    def npar(self) -> int:
        return super().npar + self.structure.n_params

    def _unavailable(self, what: str):
        described = " and ".join(repr(s) for s in (self.structure.residual, self.structure.residual_variance) if s)
        raise DesignError(INDEPENDENT_ONLY.format(what=what, structure=described))

    def residuals(self, type: str = "response"):
        """``"response"`` y − ŷ; ``"pearson"`` (y − ŷ)/δ_g and ``"scaled"`` (y − ŷ)/(σ̂ δ_g) (nlme's Pearson)."""
        raw = super().residuals("response")
        if type == "response":
            return raw
        if type not in ("pearson", "scaled"):
            raise ValueError(f"type must be 'response', 'pearson' or 'scaled', not {type!r}")
        out = raw / self.structure.row_sd_ratios(self.residual_parameters)
        return out / self.sigma if type == "scaled" else out

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False, *, se_fit: bool = False,
                interval: str = "none", level: float = 0.95):
        """Xβ̂ (+ Zb̂) for new data; standard errors and intervals are not available with a residual structure."""
        if se_fit or interval != "none":
            self._unavailable("predict(se_fit=..., interval=...)")
        return super().predict(newdata, re_form, allow_new_levels)

    def tidy(self, conf_level: float = 0.95, ddf: str | None = None) -> pd.DataFrame:
        """:meth:`LmerFit.tidy` with Wald intervals by default (df methods raise, see the class)."""
        return super().tidy(conf_level=conf_level, ddf=ddf)

    def to_dict(self, ddf: str | None = None) -> dict:
        """:meth:`LmerFit.to_dict` (icc None) plus residual, residual_variance, correlation_parameter, variance_ratios."""
        out = super().to_dict(ddf=ddf)
        out["residual"] = self.structure.residual
        out["residual_variance"] = self.structure.residual_variance
        out["correlation_parameter"] = self.correlation_parameter
        ratios = self.variance_ratios
        out["variance_ratios"] = None if ratios is None else {k: float(v) for k, v in ratios.items()}
        return out

    def to_json(self, ddf: str | None = None, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(ddf=ddf), indent=indent, allow_nan=False)

    def summary(self, ddf: str | None = None) -> str:
        """lme4's summary text (Wald table) with nlme's lines for the correlation structure and variance function."""
        text = super().summary(ddf=ddf)
        head, sep, tail = text.partition("Fixed effects:")
        return f"{head}{self.structure.describe(self.residual_parameters)}\n{sep}{tail}"

    def __repr__(self) -> str:
        return self.summary()


def fit_structured(design, spec, rows, reml: bool, residual: str | None, residual_variance: str | None,
                   data_name: str, control=None) -> StructuredLmerFit:
    """Fit θ, ρ and δ jointly (BOBYQA on (θ, ρ̃, log δ)) and assemble the fit at the optimum.

    Each criterion evaluation whitens the rows for (ρ, δ) and forms A(ρ, δ) (one O(n) pass), then
    evaluates the profiled criterion of :class:`~mixedmodels.objective.DevianceProblem` at θ
    plus Σ_i log|R_i|.
    """
    if design.weights is not None:
        raise DesignError("prior weights cannot be combined with residual= or residual_variance= (the residual "
                          "variance is modelled by the structure); give one or the other")
    structure = ResidualModel(design, residual, residual_variance)
    base = problem_of(spec, build_cross_products([TermData(t.codes, t.z, t.n_levels) for t in design.terms],
                                                 design.X, design.y, None, design.offset), reml)
    k = base.layout.n_theta
    cache: dict[bytes, DevianceProblem | None] = {}

    def problem_at(x: np.ndarray) -> DevianceProblem | None:
        key = np.asarray(x, float).tobytes()
        if key not in cache:
            if len(cache) > 64:
                cache.clear()
            cross = structure.cross_products(x)
            cache[key] = None if cross is None else problem_of(spec, cross, reml)
        return cache[key]

    def criterion(z: np.ndarray) -> float:
        problem = problem_at(z[k:])
        return np.inf if problem is None else problem.deviance(z[:k])

    start = np.concatenate([base.layout.initial(), np.zeros(structure.n_params)])
    lower = np.concatenate([base.layout.lower_bounds(), np.full(structure.n_params, -np.inf)])
    joint = optimize_theta(criterion, start, lower, control=control)
    theta, x = joint.theta[:k], joint.theta[k:]
    problem = problem_at(x)
    optimum = dataclasses.replace(joint, theta_initial=start[:k], theta=theta, lower=lower[:k],
                                  gradient=joint.gradient[:k], hessian=joint.hessian[:k, :k])
    fit = StructuredLmerFit(spec=spec, problem=problem, optimum=optimum, solution=problem.solve(theta),
                            data_name=data_name, rows=rows, structure=structure, residual_parameters=x.copy(),
                            joint_optimum=joint)
    for message in joint.messages:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    if joint.singular:
        warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
    return fit
