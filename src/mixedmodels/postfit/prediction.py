"""Predictions with standard errors and confidence/prediction intervals (``fit.predict(se_fit=True)``).

For a row with fixed-effects columns x and random-effects columns z_k (term k, level j_k) the
prediction is η̂ = xᵀβ̂ + Σ_k z_kᵀ b̂_{k j_k} (conditional, ``re_form=None``) or η̂ = xᵀβ̂
(population level, ``re_form="~0"``).

Standard errors
---------------
* Population level: Var(xᵀβ̂) = xᵀ V̂ x with V̂ = ``fit.vcov`` (lmer: σ̂²(R_XᵀR_X)⁻¹; glmer: lme4's
  Hessian-based Var(β̂)).
* Conditional: the joint conditional covariance of (β̂ − β, b̂ − b), i.e. Henderson's
  prediction-error covariance, σ̂² Ω⁻¹ in the spherical parametrisation b = Λu, with

      Ω = [ΛᵀZᵀWZΛ + I   ΛᵀZᵀWX]
          [XᵀWZΛ         XᵀWX  ]

  the matrix of the penalised least-squares system at θ̂. For a row, with v = [Λᵀz; x],
  Var = σ̂² vᵀΩ⁻¹v = σ̂² ‖L⁻¹v‖², L the blocked Cholesky factor of Ω (per level of the first
  term, then the dense Schur complement, :mod:`mixedmodels.cholesky`). It includes the
  conditional variance of the random effects, Var(β̂) and their covariance. For a glmer fit W
  holds the IRLS weights at the fitted η̂ and σ = 1: the curvature of the Laplace approximation
  in (u, β) at θ̂. The uncertainty of θ̂ itself is not included (as lme4, merTools, emmeans).
* A level not seen in the fit (``allow_new_levels=True``) has b = 0 in the prediction and adds
  its prior variance z_kᵀ Σ̂_k z_k.

Intervals (normal quantile z = Φ⁻¹((1 + level)/2))
--------------------------------------------------
* ``"confidence"``: η̂ ± z·se_fit.
* ``"prediction"`` (lmer only), for a new observation with weight 1: η̂ ± z·√(se_fit² + σ̂²) when
  conditional; at the population level the new observation belongs to a new group, so its random
  effects' variance is added: η̂ ± z·√(se_fit² + Σ_k z_kᵀ Σ̂_k z_k + σ̂²).
* glmer, ``type="response"``: fit = g⁻¹(η̂), se_fit = |dμ/dη| se_η (delta method), and the
  interval's ends are g⁻¹ of the link-scale ends.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from scipy.linalg import solve_triangular

from ..design import to_pandas
from ..covariance import scale_rows
from ..glmm.pirls import PirlsSystem
from ..results import _is_population_level

__all__ = ["predict_interval", "joint_prediction_variance"]

INTERVALS = ("none", "confidence", "prediction")
_CHUNK_DOUBLES = 2**22


def _is_glmm(fit) -> bool:
    return getattr(fit, "family", None) is not None


def _joint_factor(fit):
    """The penalised least-squares problem of the fit's design with X among the unknowns, its blocked
    factor of Ω at θ̂, the templates T_k and the scale σ̂² (1 for glmer)."""
    design = fit.design
    system = PirlsSystem([t.codes for t in design.terms], [t.z for t in design.terms],
                         [t.n_levels for t in design.terms], design.X, fit.problem.layout.structures)
    if _is_glmm(fit):
        link, mu = fit.family.link, fit.state.mu
        weights = fit.prior_weights * link.mu_eta(fit.state.eta) ** 2 / fit.family.variance(mu)
        scale = 1.0
    else:
        weights = np.ones(design.nobs) if design.weights is None else design.weights
        scale = fit.sigma**2
    problem = system.problem(weights, np.zeros(design.nobs))
    factor = problem.factor(fit.theta)
    if factor is None:
        raise ValueError("the penalised system of the fit is not positive definite at theta-hat; "
                         "conditional standard errors are not available")
    return problem, factor, problem.layout.templates(fit.theta), scale


def joint_prediction_variance(fit, X: np.ndarray, terms_data) -> np.ndarray:
    """σ̂² vᵢᵀΩ⁻¹vᵢ for each new row i, v = [Λᵀzᵢ; xᵢ] (see the module docstring).

    With the blocked factor of Ω (:mod:`mixedmodels.cholesky`: L_j = chol(P_j) per level of term 0,
    M_r the dense factor of the rest and X, and L_r0 = Λ̃_rᵀ B Λ_0 L_0⁻ᵀ, B = [Z_rᵀWZ_0; XᵀWZ_0]),
    ‖L⁻¹v‖² = ‖w_0‖² + ‖M_r⁻¹(v_r − Λ̃_rᵀ B Λ_0 P_j⁻¹ v_0)‖², w_0 = L_j⁻¹ v_0, for the row's level j.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    X : ndarray (n_new, p)
        Fixed-effects columns of the new rows.
    terms_data : list of (codes, z)
        Per term (lme4 order): level codes of the new rows (−1: unseen level, contributes 0 here)
        and their model columns.
    """
    problem, factor, T, scale = _joint_factor(fit)
    cross, rest = problem.cross, problem.rest
    n_new, p, q_r = X.shape[0], problem.p, rest.q
    l0, p0 = problem.term_levels[0], problem.layout.sizes[0]
    codes0, z0 = terms_data[0]
    known0 = codes0 >= 0
    level0 = np.where(known0, codes0, 0)
    v0 = (z0 @ T[0]) * known0[:, None]  # rows (Λ_0ᵀ z)ᵀ
    P = factor.P[level0]
    L0 = np.linalg.cholesky(P)
    w0 = np.linalg.solve(L0, v0[:, :, None])[:, :, 0]  # L_j⁻¹ v per row
    out = np.sum(w0**2, axis=1)
    m = q_r + p
    if not m:
        return scale * out
    g0 = np.linalg.solve(P, v0[:, :, None])[:, :, 0] @ T[0].T  # rows (Λ_0 P_j⁻¹ v_0)ᵀ
    Mr = factor.M[:m, :m]
    Bx = cross.Bw[:p].reshape(p, l0 * p0)
    Bz = cross.bz_sparse() if q_r else None
    step = max(1, _CHUNK_DOUBLES // m)
    for start in range(0, n_new, step):
        rows = np.arange(start, min(n_new, start + step))
        G = sp.csc_matrix((g0[rows].ravel(), ((level0[rows][:, None] * p0 + np.arange(p0)).ravel(),
                                               np.repeat(np.arange(len(rows)), p0))), shape=(l0 * p0, len(rows)))
        V = np.zeros((m, len(rows)))
        V[q_r:] = X[rows].T - (G.T @ Bx.T).T
        if q_r:
            H = np.asarray((Bz @ G).todense())
            scale_rows(H, rest, T[1:])
            offset = 0
            for (codes, z), Tk, levels, size in zip(terms_data[1:], T[1:], rest.n_levels, rest.sizes):
                c = codes[rows]
                known = np.flatnonzero(c >= 0)
                values = z[rows] @ Tk
                for a in range(size):
                    V[offset + c[known] * size + a, known] = values[known, a]
                offset += levels * size
            V[:q_r] -= H
        wr = solve_triangular(Mr, V, lower=True, check_finite=False)
        out[rows] += np.sum(wr**2, axis=0)
    return scale * out


def _prior_variance(fit, terms_data, unseen_only: bool) -> np.ndarray:
    """Σ_k z_kᵀ Σ̂_k z_k per row, over all terms or (``unseen_only``) the terms whose level the fit did not see."""
    total = 0.0
    for (codes, z), cov in zip(terms_data, fit.covariance_matrices()):
        contribution = np.einsum("ij,jk,ik->i", z, cov, z)
        total = total + (np.where(codes < 0, contribution, 0.0) if unseen_only else contribution)
    return total


def predict_interval(fit, newdata=None, *, re_form=None, allow_new_levels: bool = False, interval: str = "none",
                     level: float = 0.95, type: str = "link") -> pd.DataFrame:
    """Predictions with standard errors and intervals (see the module docstring for the formulas).

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    newdata : DataFrame, optional
        The fitted rows when omitted.
    re_form : None, False or "~0"
        Conditional on the random effects (None) or population level.
    allow_new_levels : bool
        Unseen levels predict with b = 0 and add their prior variance; otherwise a DesignError.
    interval : {"none", "confidence", "prediction"}
    level : float
        Coverage, in (0, 1).
    type : {"link", "response"}
        glmer fits: the scale of the result.

    Returns
    -------
    DataFrame
        Columns ``fit``, ``se_fit`` and, with an interval, ``lwr``, ``upr``; indexed like ``newdata``.

    Raises
    ------
    ValueError
        Unknown interval, level outside (0, 1), a prediction interval for a glmer fit, or
        ``type="response"`` for an lmer fit.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, not {interval!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level!r}")
    glmm = _is_glmm(fit)
    if glmm and interval == "prediction":
        raise ValueError("prediction intervals are for linear mixed models; a GLMM's new observation is discrete "
                         "(use interval='confidence' for the mean, or simulate from the fit)")
    if not glmm and type != "link":
        raise ValueError("type='response' is for glmer fits; an lmer fit predicts on the response scale")
    population = _is_population_level(re_form)
    if newdata is None:
        frame = fit.design.frame  # RowsNotInMemory for Parquet/Dask fits
    else:
        from ..largedata.sources import is_dask_frame

        if is_dask_frame(newdata):
            raise ValueError("se_fit and intervals need newdata in memory (a pandas or polars frame), not a Dask "
                             "DataFrame")
        frame = to_pandas(newdata)
    X = fit.spec.fixed.transform(frame)
    vcov = fit.solution.vcov_beta
    eta = X @ fit.solution.beta
    if population:
        variance = np.einsum("ij,jk,ik->i", X, vcov, X)
    else:
        terms_data = fit._newdata_terms(frame, allow_new_levels)
        eta = eta + fit._random_part(terms_data)
        variance = joint_prediction_variance(fit, X, terms_data)
        variance = variance + _prior_variance(fit, terms_data, unseen_only=True)
    se = np.sqrt(np.maximum(variance, 0.0))
    out = pd.DataFrame({"fit": eta, "se_fit": se}, index=frame.index)
    if interval == "none" and type == "link":
        return out
    z = stats.norm.ppf(0.5 + level / 2)
    half = z * se
    if interval == "prediction":
        extra = fit.sigma**2
        if population:
            columns = [(None, term.z_design.transform(frame)) for term in fit.spec.terms]
            extra = extra + _prior_variance(fit, columns, unseen_only=False)
        half = z * np.sqrt(variance + extra)
    if interval != "none":
        out["lwr"], out["upr"] = eta - half, eta + half
    if type == "response":
        link = fit.family.link
        out["fit"] = link.inverse(eta)
        out["se_fit"] = np.abs(link.mu_eta(eta)) * se
        if interval != "none":
            out["lwr"], out["upr"] = link.inverse(eta - half), link.inverse(eta + half)
    return out
