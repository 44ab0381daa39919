"""R² and intra-class correlations of a mixed model, as R's ``performance`` package computes them.

The variance decomposition is Nakagawa & Schielzeth (2013), with Johnson's (2014) extension for
random slopes and the GLMM variants of Nakagawa, Johnson & Schielzeth (2017), as
``insight::get_variance`` (insight 0.19, performance 0.10) implements it:

* σ²_f = var(Xβ̂), the sample variance (denominator n − 1) of the fixed part of the linear predictor;
* σ²_k = mean_i z_iᵀ Σ_k z_i for each random-effects term k (its covariance Σ_k, its model
  columns z_i); for a random intercept this is τ_k²; σ²_r = Σ_k σ²_k over the terms that are not
  observation-level;
* σ²_ε = σ²_d + σ²_o: the distribution-specific variance σ²_d (lmer: σ̂²; binomial: π²/3 for
  logit, 1 for probit, π²/6 for cloglog; Poisson, log link: the lognormal approximation
  ln(1 + 1/λ) with λ = exp(β̂₀ of the null model ``y ~ 1 + (random terms)``, refitted)) plus σ²_o,
  the variance of observation-level random effects (a GLMM term with one level per observation,
  such as grouseticks' ``(1 | INDEX)``), which performance counts as additive dispersion.

Then R²_m = σ²_f / (σ²_f + σ²_r + σ²_ε), R²_c = (σ²_f + σ²_r) / (σ²_f + σ²_r + σ²_ε),
ICC_adjusted = σ²_r / (σ²_r + σ²_ε) and ICC_conditional = σ²_r / (σ²_f + σ²_r + σ²_ε).

When some diagonal element of a T_k is below ``tolerance`` (lme4's ``isSingular(tol = 1e-5)``),
performance does not compute the random-effects variance: R²_c and the ICCs are NaN (with a
warning) and R²_m is σ²_f / (σ²_f + σ²_ε), as there.

Two documented differences from performance 0.10.2, both where performance drops a variance:
it takes z_i from the fixed-effects model matrix (a random slope without a matching fixed
column, or the first level of a factor in ``(0 + f | g)``, is left out), and it reads one
covariance matrix per grouping factor (the second term of ``(1 | g) + (0 + x | g)``, i.e. of
``(x || g)``, is left out). Here every term contributes with its own z_i. For models whose random
columns all appear among the fixed columns, with one term per grouping factor, the numbers agree.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import MixedModelsError

__all__ = ["R2", "VarianceDecomposition", "variance_decomposition", "r2", "icc"]

SINGULAR_TOL = 1e-5
"""performance's default ``tolerance``: a T_k diagonal below it makes the fit singular for R² and ICC."""



@dataclass(frozen=True)
class VarianceDecomposition:
    """The variances of the decomposition (see the module docstring), on the latent/link scale.

    Attributes
    ----------
    fixed : float              σ²_f = var(Xβ̂)
    terms : dict               σ²_k per random-effects term (lme4's names, "Subject", "Subject.1")
    observation_level : dict   σ²_k of GLMM terms with one level per observation (part of σ²_ε)
    distribution : float       σ²_d
    singular : bool            a T_k diagonal below the tolerance
    """

    fixed: float
    terms: dict[str, float]
    observation_level: dict[str, float]
    distribution: float
    singular: bool

    @property
    def random(self) -> float:
        """σ²_r = Σ_k σ²_k over the terms that are not observation-level."""
        return float(sum(self.terms.values()))

    @property
    def dispersion(self) -> float:
        """σ²_o, the observation-level random effects' variance (0 for an lmer fit)."""
        return float(sum(self.observation_level.values()))

    @property
    def residual(self) -> float:
        """σ²_ε = σ²_d + σ²_o."""
        return self.distribution + self.dispersion


@dataclass(frozen=True)
class R2:
    """Marginal and conditional R² of a mixed model (performance's ``r2_nakagawa``).

    Attributes
    ----------
    marginal : float      σ²_f / (σ²_f + σ²_r + σ²_ε): variance explained by the fixed effects
    conditional : float   (σ²_f + σ²_r) / (σ²_f + σ²_r + σ²_ε): by fixed and random effects
    variances : VarianceDecomposition
    """

    marginal: float
    conditional: float
    variances: VarianceDecomposition = field(repr=False)

    def __repr__(self) -> str:
        return ("# R2 for Mixed Models\n\n"
                f"  Conditional R2: {self.conditional:.3f}\n"
                f"     Marginal R2: {self.marginal:.3f}")

    def to_series(self) -> pd.Series:
        return pd.Series({"marginal": self.marginal, "conditional": self.conditional}, name="R2")


def _is_glmm(fit) -> bool:
    return getattr(fit, "family", None) is not None


def _term_variances(fit) -> dict[str, float]:
    """σ²_k = mean_i z_iᵀ Σ_k z_i = tr(Σ_k Σ_i z_i z_iᵀ) / n per term, keyed by lme4's term names (no rows needed)."""
    return {name: float(np.trace(cov @ zz)) / fit.nobs
            for name, zz, cov in zip(fit.group_names, fit.spec.zz, fit.covariance_matrices())}


def _null_model_intercept(fit) -> float:
    """β̂₀ of ``y ~ 1 + (random terms)`` refitted to the same rows, family, weights and offset."""
    from ..glmm import glmer

    design = fit.design
    formula = f"{design.formula.response} ~ 1 + " + " + ".join(str(t.spec) for t in fit.spec.terms)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # performance refits quietly too
        null = glmer(formula, design.frame, family=fit.family, nAGQ=fit.n_agq, weights=design.weights,
                     offset=design.offset)
    return float(null.fixef.iloc[0])


def _distribution_variance(fit) -> float:
    if not _is_glmm(fit):
        return float(fit.sigma**2)
    family = fit.family  # the family's own σ²_d (mixedmodels.glmm.families), λ = exp(β̂₀ of the null model)
    lam = math.exp(_null_model_intercept(fit)) if family.link_name == "log" else math.nan
    try:
        return family.latent_variance(lam, fit.sigma)
    except MixedModelsError as err:
        raise ValueError(f"no distribution-specific variance for the {family} family: {err}") from err


def variance_decomposition(fit, tolerance: float = SINGULAR_TOL) -> VarianceDecomposition:
    """σ²_f, σ²_k, σ²_d and σ²_o of a fit (see the module docstring).

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    tolerance : float
        A diagonal element of some T_k below it marks the fit singular (performance's ``tolerance``).

    Raises
    ------
    ValueError
        An unsupported family. σ²_f and σ²_k come from the specification's row sums, so Parquet
        and Dask fits have them too.
    """
    fixed = fit.spec.fixed_effects_variance(fit.solution.beta)
    variances = _term_variances(fit)
    observation = {}
    if _is_glmm(fit):
        observation = {name: v for (name, v), term in zip(variances.items(), fit.spec.terms)
                       if term.n_levels == fit.nobs}
    terms = {name: v for name, v in variances.items() if name not in observation}
    theta, diagonal = fit.theta, fit.problem.layout.diagonal_mask()
    singular = bool(np.any(theta[diagonal] < tolerance))
    return VarianceDecomposition(fixed=fixed, terms=terms, observation_level=observation,
                                 distribution=_distribution_variance(fit), singular=singular)


def _warn_singular(what: str) -> None:
    warnings.warn(f"Can't compute {what}. Some variance components equal zero (singular fit); "
                  "the random-effects variance is not used.", UserWarning, stacklevel=3)


def r2(fit, tolerance: float = SINGULAR_TOL) -> R2:
    """Marginal and conditional R² (Nakagawa & Schielzeth; performance's ``r2_nakagawa``).

    Parameters
    ----------
    fit : LmerFit or GlmerFit
        Binomial (logit, probit, cloglog) and Poisson (log) GLMMs use the latent-scale
        distribution-specific variances of the module docstring; a Poisson fit refits its null model.
    tolerance : float
        Singularity tolerance (performance's default 1e-5).

    Returns
    -------
    R2
        ``.marginal`` and ``.conditional``; for a singular fit the conditional R² is NaN and the
        marginal one σ²_f / (σ²_f + σ²_ε), as performance.

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    >>> round(mm.r2(fit).conditional, 4)
    0.7992
    """
    from ..results import require_independent_residuals

    require_independent_residuals(fit, "r2()")
    v = variance_decomposition(fit, tolerance)
    if v.singular:
        _warn_singular("r-squared")
        return R2(marginal=v.fixed / (v.fixed + v.residual), conditional=float("nan"), variances=v)
    total = v.fixed + v.random + v.residual
    return R2(marginal=v.fixed / total, conditional=(v.fixed + v.random) / total, variances=v)


def icc(fit, tolerance: float | None = None) -> pd.Series:
    """Intra-class correlations: one per random-effects term, ``adjusted`` and ``conditional``.

    * per term k: σ²_k / (σ²_k + σ²_ε);
    * ``adjusted`` = σ²_r / (σ²_r + σ²_ε)  (performance's ``ICC_adjusted``);
    * ``conditional`` = σ²_r / (σ²_f + σ²_r + σ²_ε)  (performance's ``ICC_conditional``).

    Observation-level terms of a GLMM are part of σ²_ε and have no entry of their own.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    tolerance : float, optional
        With a tolerance, a fit with a T_k diagonal below it gives NaN ICCs (with a warning), as
        performance's ``icc(tolerance = 1e-5)``; by default the ICCs are computed as they are.
    """
    from ..results import require_independent_residuals

    require_independent_residuals(fit, "icc()")
    v = variance_decomposition(fit, SINGULAR_TOL if tolerance is None else tolerance)
    residual = v.residual
    out = {name: value / (value + residual) for name, value in v.terms.items()}
    out["adjusted"] = v.random / (v.random + residual)
    out["conditional"] = v.random / (v.fixed + v.random + residual)
    if tolerance is not None and v.singular:
        _warn_singular("ICC")
        out = {name: float("nan") for name in out}
    return pd.Series(out, name="ICC")
