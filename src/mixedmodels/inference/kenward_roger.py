"""Kenward–Roger adjusted covariance of β̂ and denominator df (pbkrtest ``vcovAdj``, ``Lb_ddf``).

Marginal covariance Σ = Σ_i γ_i G_i with γ = (every variance and covariance of each term's Σ_k,
lower triangle column-major, then σ²): G_i = Z_k (I ⊗ E_i) Z_kᵀ, E_i the symmetric indicator
of one element of Σ_k, and G = I for σ². With S = Σ⁻¹, Φ = (XᵀSX)⁻¹ and (Kenward & Roger 1997)

    P_i = −XᵀS G_i S X,   Q_ij = XᵀS G_i S G_j S X,   K_ij = tr(S G_i S G_j),
    I_ij = K_ij − 2 tr(Φ Q_ij) + tr(Φ P_i Φ P_j),   W = 2 I⁻¹,
    Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j)] Φ.

Because G_i = Z D_i Zᵀ (Z = [Z_1 … Z_K], D_i block-sparse), everything is formed from
M = ZᵀSZ, N = ZᵀS²Z, C = ZᵀSX and products with X, which Woodbury's identity turns into products
of ZᵀZ, ZᵀX and XᵀX — blocks of A (:func:`kenward_roger`): dense in q, the number of random
effects (q ≤ 8,000), never in n.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la

from .._distributions import t_pvalue
from ..covariance import lambda_matrix
from .satterthwaite import f_row

__all__ = ["KenwardRoger", "kenward_roger", "kr_rows", "kr_t", "kr_f", "MAX_EFFECTS"]

MAX_EFFECTS = 8_000
"""Random effects q above which the dense q × q matrices (0.5 GB each) are refused."""
REML_ONLY = "Kenward-Roger's method is only available for REML model fits"


@dataclass(frozen=True)
class KenwardRoger:
    """Φ_A and the pieces the df need.

    Attributes
    ----------
    vcov : ndarray (p, p)        Φ, the usual Var(β̂)
    vcov_adjusted : ndarray      Φ_A
    P : ndarray (m, p, p)        P_i
    W : ndarray (m, m)           W = 2 I⁻¹ (asymptotic covariance of γ̂)
    """

    vcov: np.ndarray
    vcov_adjusted: np.ndarray
    P: np.ndarray
    W: np.ndarray


def _structure(fit) -> tuple[list[tuple[int, np.ndarray]], np.ndarray]:
    """The γ-structure [(offset_k, E) per γ_i] over Z = [Z_0 Z_r] (lme4's term order) and γ (without σ²)."""
    structure, gamma, offset = [], [], 0
    for term, cov in zip(fit.spec.terms, fit.covariance_matrices()):
        p_k, l_k = term.n_cols, term.n_levels
        for c in range(p_k):
            for r in range(c, p_k):
                E = np.zeros((p_k, p_k))
                E[r, c] = E[c, r] = 1.0
                structure.append((offset, np.kron(np.eye(l_k), E)))
                gamma.append(cov[r, c])
        offset += l_k * p_k
    return structure, np.array(gamma)


def _d_times(structure, i: int, A: np.ndarray, q: int) -> np.ndarray:
    """D_i A for A with q rows (D_i nonzero only on its term's block)."""
    start, E = structure[i]
    out = np.zeros((q,) + A.shape[1:])
    out[start:start + E.shape[0]] = E @ A[start:start + E.shape[0]]
    return out


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def kenward_roger(fit) -> KenwardRoger:
    """Φ_A for a REML fit (cached per fit), from A alone.

    With Σ = σ²(I + ZΛΛᵀZᵀ) and H = Λ(ΛᵀZᵀZΛ + I)⁻¹Λᵀ (q × q), S = Σ⁻¹ = σ⁻²(I − ZHZᵀ) by
    Woodbury, and every product of the formulas above reduces to ZᵀZ, ZᵀX, XᵀX and n
    (K = I − ZᵀZ H):

        M = ZᵀSZ = σ⁻²(ZᵀZ − ZᵀZ H ZᵀZ)      C = ZᵀSX = σ⁻² K ZᵀX
        N = ZᵀS²Z = σ⁻⁴ K ZᵀZ Kᵀ            ZᵀS²X = σ⁻² K C
        XᵀSX = σ⁻²(XᵀX − XᵀZ H ZᵀX)         XᵀS²X = σ⁻⁴(XᵀX − 2XᵀZHZᵀX + XᵀZHZᵀZHZᵀX)
        XᵀS³X = σ⁻²(XᵀS²X − CᵀHC)           tr S² = σ⁻⁴(n − 2 tr HZᵀZ + tr (HZᵀZ)²)

    so the cost is that of dense q × q matrices, whatever n (and whatever the data source).
    """
    if not fit.reml:
        raise ValueError(REML_ONLY)
    structured = [str(t.spec) for t, s in zip(fit.spec.terms, fit.problem.layout.structures) if s.keyword != "us"]
    if structured:
        raise ValueError(f"Kenward-Roger here takes the elements of each unstructured Σ_k as the covariance "
                         f"parameters; the structured term(s) {', '.join(structured)} have other parameters. "
                         "Use ddf='satterthwaite' (which works in θ for any structure)")
    if fit in _CACHE:
        return _CACHE[fit]
    if fit.spec.weights is not None:
        raise ValueError("Kenward-Roger is not implemented for fits with prior weights")
    q = sum(t.n_levels * t.n_cols for t in fit.spec.terms)
    if q > MAX_EFFECTS:
        raise ValueError(f"Kenward-Roger forms dense q x q matrices of the random effects; q = {q} exceeds "
                         f"{MAX_EFFECTS}. Use ddf='satterthwaite' for this model")
    p = fit.spec.fixed.n_columns
    ZtZ, ZtX, XtX = fit.problem.cross.dense(p)
    n = fit.nobs
    structure, gamma = _structure(fit)
    sigma2 = fit.sigma**2
    Lam = lambda_matrix(fit.problem.layout.templates(fit.theta), [t.n_levels for t in fit.spec.terms])
    inner = Lam.T @ ZtZ @ Lam + np.eye(q)
    H = Lam @ la.cho_solve(la.cho_factor(inner), Lam.T)
    HZtZ = H @ ZtZ
    K = np.eye(q) - HZtZ.T  # I − ZᵀZ H
    M = (ZtZ - ZtZ @ HZtZ) / sigma2
    N = K @ ZtZ @ K.T / sigma2**2
    C = K @ ZtX / sigma2
    ZtS2X = K @ C / sigma2
    HZtX = H @ ZtX
    XtS2X = (XtX - 2 * ZtX.T @ HZtX + HZtX.T @ ZtZ @ HZtX) / sigma2**2
    XtS3X = (XtS2X - C.T @ H @ C) / sigma2
    trace_S2 = (n - 2 * np.trace(HZtZ) + np.sum(HZtZ * HZtZ.T)) / sigma2**2
    Phi = fit.solution.vcov_beta
    m = len(gamma) + 1
    DC = [_d_times(structure, i, C, q) for i in range(m - 1)]
    DM = [_d_times(structure, i, M, q) for i in range(m - 1)]
    P = np.array([-C.T @ dc for dc in DC] + [-XtS2X])
    Q = np.empty((m, m, len(Phi), len(Phi)))
    K_info = np.empty((m, m))
    for i in range(m - 1):
        for j in range(m - 1):
            Q[i, j] = DC[i].T @ M @ DC[j]
            K_info[i, j] = np.sum(DM[i] * DM[j].T)
        Q[i, m - 1] = DC[i].T @ ZtS2X
        Q[m - 1, i] = Q[i, m - 1].T
        K_info[i, m - 1] = K_info[m - 1, i] = np.trace(_d_times(structure, i, N, q))
    Q[m - 1, m - 1] = XtS3X
    K_info[m - 1, m - 1] = trace_S2
    PhiP = Phi @ P  # (m, p, p)
    info = K_info - 2 * np.einsum("ab,ijab->ij", Phi, Q) + np.einsum("iab,jba->ij", PhiP, PhiP)
    eig = np.linalg.eigvalsh(info)
    W = 2 * (np.linalg.inv(info) if np.min(np.abs(eig)) > 1e-10 else np.linalg.pinv(info))
    U = sum(W[i, j] * (Q[i, j] - P[i] @ Phi @ P[j]) for i in range(m) for j in range(m))
    result = KenwardRoger(vcov=Phi, vcov_adjusted=Phi + 2 * Phi @ U @ Phi, P=P, W=W)
    _CACHE[fit] = result
    return result


def _a1_a2(kr: KenwardRoger, L: np.ndarray) -> tuple[float, float]:
    """A₁ = Σ W_ij tr(ΘΦP_iΦ) tr(ΘΦP_jΦ), A₂ = Σ W_ij tr(ΘΦP_iΦ ΘΦP_jΦ), Θ = Lᵀ(LΦLᵀ)⁻¹L."""
    Phi = kr.vcov
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    u = Theta @ Phi @ kr.P @ Phi  # (m, p, p)
    traces = np.trace(u, axis1=1, axis2=2)
    A1 = float(traces @ kr.W @ traces)
    A2 = float(np.einsum("ij,iab,jba->", kr.W, u, u))
    return A1, A2


def _kr_adjust(A1, A2, q: int):
    """Denominator df and F scaling λ from A₁, A₂ (pbkrtest ``.KR_adjust``); scalars or arrays."""
    A1, A2 = np.asarray(A1, dtype=float), np.asarray(A2, dtype=float)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    V0 = 1 + c1 * B
    V0 = np.where(np.abs(V0) < 1e-10, 0.0, V0)
    V1, V2 = 1 - c2 * B, 1 - c3 * B
    x = 1 - A2 / q
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((np.abs(x) < 1e-14) & (np.abs(V1) < 1e-14), 1.0, x / V1)
    rho = ratio**2 * V0 / V2 / q
    df = 4 + (q + 2) / (q * rho - 1)
    scale = np.where(np.abs(df - 2) < 0.01, 1.0, df * (1 - A2 / q) / (df - 2))
    return df, scale


def _ddf_and_scale(kr: KenwardRoger, L: np.ndarray, q: int) -> tuple[float, float]:
    """Denominator df and F scaling λ of the hypothesis Lβ = 0 of rank q."""
    df, scale = _kr_adjust(*_a1_a2(kr, L), q)
    return float(df), float(scale)


def kr_rows(fit, L) -> tuple[np.ndarray, np.ndarray]:
    """KR-adjusted SE √(lᵀΦ_A l) and df of every row l of ``L`` (shape (r, p), or one l).

    For one row Θ = l lᵀ / v with v = lᵀΦl, so tr(ΘΦP_iΦ) = lᵀΦP_iΦl / v =: t_i and
    tr(ΘΦP_iΦ ΘΦP_jΦ) = t_i t_j: A₁ = A₂ = tᵀWt, one product with each ΦP_iΦ for all rows.
    """
    kr = kenward_roger(fit)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    Phi = kr.vcov
    v = np.einsum("rj,rj->r", L @ Phi, L)
    t = np.column_stack([np.einsum("rj,rj->r", L @ (Phi @ P @ Phi), L) for P in kr.P]) / v[:, None]
    A = np.einsum("ri,ij,rj->r", t, kr.W, t)
    df, _ = _kr_adjust(A, A, 1)
    return np.sqrt(np.einsum("rj,rj->r", L @ kr.vcov_adjusted, L)), df


def kr_t(fit, l) -> dict:
    """t test of lᵀβ = 0 with the KR-adjusted se and df (lmerTest ``get_KR1D``)."""
    l = np.asarray(l, dtype=float)
    estimate = float(l @ fit.solution.beta)
    se, df = (float(v[0]) for v in kr_rows(fit, l))
    t = estimate / se
    return {"Estimate": estimate, "Std. Error": se, "df": df, "t value": t,
            "Pr(>|t|)": t_pvalue(t, df)}


def kr_f(fit, L) -> dict:
    """F test of Lβ = 0 (pbkrtest ``KRmodcomp``, reported as lmerTest's anova row)."""
    kr = kenward_roger(fit)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = int(np.linalg.matrix_rank(L))
    df, scale = _ddf_and_scale(kr, L, q)
    Lb = L @ fit.solution.beta
    wald = float(Lb @ np.linalg.solve(L @ kr.vcov_adjusted @ L.T, Lb))
    return f_row(wald / q, q, df, fit.sigma, scale)
