"""Satterthwaite's denominator degrees of freedom for contrasts of β (lmerTest ``contest``).

For one contrast l: v(ϑ) = lᵀV(ϑ)l with V = Var(β̂) and ϑ = (θ, σ), g = ∇_ϑ v, and

    ν = 2 v² / (gᵀ A g),   A = Var(ϑ̂) (see :mod:`.varpar`).

For a q-row contrast L (lmerTest ``contestMD``): LVLᵀ = P diag(d) Pᵀ; each direction
m = 1..q' (d_m > 1e-8·d_1) gets t²_m = (p_mᵀLβ̂)²/d_m and ν_m as above; F = Σ t²_m / q', and with
E = Σ ν_m/(ν_m − 2) the denominator df is 2E/(E − q') (2 if any ν_m ≤ 2; the common ν when all agree).
"""

from __future__ import annotations

import numpy as np

from .._distributions import t_pvalue
from .varpar import varpar_covariance

__all__ = ["satterthwaite_t", "satterthwaite_f", "combine_ddf", "variance_df"]


def variance_df(fit, L) -> tuple[np.ndarray, np.ndarray]:
    """lᵀVl and its Satterthwaite df for every row l of ``L`` (shape (r, p), or one l).

    The gradient g_k = lᵀ J_k l is formed as the row-wise products of L J_k with L (one matrix
    product per variance parameter, whatever the number of rows).
    """
    vc = varpar_covariance(fit)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    var = np.einsum("rj,rj->r", L @ fit.solution.vcov_beta, L)
    grad = np.column_stack([np.einsum("rj,rj->r", L @ J, L) for J in vc.jacobian])
    return var, 2 * var**2 / np.einsum("rk,kl,rl->r", grad, vc.vcov, grad)


def satterthwaite_t(fit, l) -> dict:
    """t test of lᵀβ = 0: estimate, se, df, t, p (lmerTest ``contest1D``)."""
    l = np.asarray(l, dtype=float)
    estimate = float(l @ fit.solution.beta)
    var, df = (float(v[0]) for v in variance_df(fit, l))
    t = estimate / np.sqrt(var)
    return {"Estimate": estimate, "Std. Error": np.sqrt(var), "df": df, "t value": t,
            "Pr(>|t|)": t_pvalue(t, df)}


def combine_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """One denominator df from per-direction ν_m (lmerTest ``get_Fstat_ddf``)."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - len(nu))


def f_row(F: float, ndf: int, ddf: float, sigma: float, scale: float = 1.0) -> dict:
    """One anova row as lmerTest's ``mk_Ftable``: Mean Sq = F σ², F scaled afterwards."""
    from scipy import stats

    mean_sq = F * sigma**2
    F = F * scale
    return {"Sum Sq": mean_sq * ndf, "Mean Sq": mean_sq, "NumDF": ndf, "DenDF": ddf, "F value": F,
            "Pr(>F)": float(stats.f.sf(F, ndf, ddf))}


def satterthwaite_f(fit, L, eps: float = np.sqrt(np.finfo(float).eps)) -> dict:
    """F test of Lβ = 0 with Satterthwaite df (lmerTest ``contestMD``)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] == 1:
        row = satterthwaite_t(fit, L[0])
        return f_row(row["t value"] ** 2, 1, row["df"], fit.sigma)
    d, P = np.linalg.eigh(L @ fit.solution.vcov_beta @ L.T)
    d, P = d[::-1], P[:, ::-1]
    q = int(np.sum(d > max(eps * d[0], 0)))
    PtL = P.T[:q] @ L
    if q == 1:
        row = satterthwaite_t(fit, PtL[0])
        return f_row(row["t value"] ** 2, 1, row["df"], fit.sigma)
    F = float(np.sum((PtL @ fit.solution.beta) ** 2 / d[:q]) / q)
    nu = variance_df(fit, PtL)[1]
    return f_row(F, q, combine_ddf(nu), fit.sigma)
