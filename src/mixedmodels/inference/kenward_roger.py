"""Kenward–Roger adjusted covariance of β̂ and denominator df (pbkrtest ``vcovAdj``, ``Lb_ddf``).

Marginal covariance Σ = Σ_i γ_i G_i with γ = (every variance and covariance of each term's Σ_k,
lower triangle column-major, then σ²): G_i = Z_k (I ⊗ E_i) Z_kᵀ, E_i the symmetric indicator
of one element of Σ_k, and G = I for σ². With S = Σ⁻¹, Φ = (XᵀSX)⁻¹ and (Kenward & Roger 1997)

    P_i = −XᵀS G_i S X,   Q_ij = XᵀS G_i S G_j S X,   K_ij = tr(S G_i S G_j),
    I_ij = K_ij − 2 tr(Φ Q_ij) + tr(Φ P_i Φ P_j),   W = 2 I⁻¹,
    Φ_A = Φ + 2 Φ [Σ_ij W_ij (Q_ij − P_i Φ P_j)] Φ.

Because G_i = Z̃ D_i Z̃ᵀ (Z̃ = [Z_1 … Z_K] dense, D_i block-sparse), everything is formed from
S (n × n), M = Z̃ᵀSZ̃, N = Z̃ᵀS²Z̃, C = Z̃ᵀSX: dense in n, so only for n ≤ 10,000.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
from scipy import stats

from .satterthwaite import f_row

__all__ = ["KenwardRoger", "kenward_roger", "kr_t", "kr_f", "MAX_NOBS"]

MAX_NOBS = 10_000
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


def _dense_z(fit) -> tuple[np.ndarray, list[tuple[int, np.ndarray]], np.ndarray]:
    """Z̃ (n × q), the γ-structure [(offset_k, E) per γ_i] and γ (without σ²)."""
    n = fit.nobs
    blocks, structure, gamma, offset = [], [], [], 0
    for term, cov in zip(fit.design.terms, fit.covariance_matrices()):
        p_k, l_k = term.n_cols, term.n_levels
        Z = np.zeros((n, l_k * p_k))
        for j in range(p_k):
            Z[np.arange(n), term.codes * p_k + j] = term.z[:, j]
        blocks.append(Z)
        for c in range(p_k):
            for r in range(c, p_k):
                E = np.zeros((p_k, p_k))
                E[r, c] = E[c, r] = 1.0
                structure.append((offset, np.kron(np.eye(l_k), E)))
                gamma.append(cov[r, c])
        offset += l_k * p_k
    return np.hstack(blocks), structure, np.array(gamma)


def _d_times(structure, i: int, A: np.ndarray, q: int) -> np.ndarray:
    """D_i A for A with q rows (D_i nonzero only on its term's block)."""
    start, E = structure[i]
    out = np.zeros((q,) + A.shape[1:])
    out[start:start + E.shape[0]] = E @ A[start:start + E.shape[0]]
    return out


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def kenward_roger(fit) -> KenwardRoger:
    """Φ_A for a REML fit (cached per fit)."""
    if not fit.reml:
        raise ValueError(REML_ONLY)
    if fit in _CACHE:
        return _CACHE[fit]
    n = fit.nobs
    if n > MAX_NOBS:
        raise ValueError(f"Kenward-Roger forms dense n x n matrices; n = {n} exceeds {MAX_NOBS}. "
                         "Use ddf='satterthwaite' for large data")
    if fit.design.weights is not None:
        raise ValueError("Kenward-Roger is not implemented for fits with prior weights")
    Z, structure, gamma = _dense_z(fit)
    q = Z.shape[1]
    X = fit.design.X
    sigma2 = fit.sigma**2
    Sigma = sigma2 * np.eye(n)
    for i, g in enumerate(gamma):
        Sigma += g * Z @ _d_times(structure, i, Z.T, q)
    S = la.cho_solve(la.cho_factor(Sigma), np.eye(n))
    SZ, SX = S @ Z, S @ X
    M, N, C = Z.T @ SZ, SZ.T @ SZ, Z.T @ SX
    Phi = fit.solution.vcov_beta
    m = len(gamma) + 1
    DC = [_d_times(structure, i, C, q) for i in range(m - 1)]
    DM = [_d_times(structure, i, M, q) for i in range(m - 1)]
    SZtSX = SZ.T @ SX  # Z̃ᵀS²X
    P = np.array([-C.T @ dc for dc in DC] + [-SX.T @ SX])
    Q = np.empty((m, m, len(Phi), len(Phi)))
    K = np.empty((m, m))
    for i in range(m - 1):
        for j in range(m - 1):
            Q[i, j] = DC[i].T @ M @ DC[j]
            K[i, j] = np.sum(DM[i] * DM[j].T)
        Q[i, m - 1] = DC[i].T @ SZtSX
        Q[m - 1, i] = Q[i, m - 1].T
        K[i, m - 1] = K[m - 1, i] = np.trace(_d_times(structure, i, N, q))
    Q[m - 1, m - 1] = SX.T @ S @ SX
    K[m - 1, m - 1] = np.sum(S * S)
    PhiP = Phi @ P  # (m, p, p)
    info = K - 2 * np.einsum("ab,ijab->ij", Phi, Q) + np.einsum("iab,jba->ij", PhiP, PhiP)
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


def _ddf_and_scale(kr: KenwardRoger, L: np.ndarray, q: int) -> tuple[float, float]:
    """Denominator df and F scaling λ (pbkrtest ``.KR_adjust``)."""
    A1, A2 = _a1_a2(kr, L)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    V0 = 1 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    V1, V2 = 1 - c2 * B, 1 - c3 * B
    x = 1 - A2 / q
    ratio = 1.0 if abs(x) < 1e-14 and abs(V1) < 1e-14 else x / V1
    rho = ratio**2 * V0 / V2 / q
    df = 4 + (q + 2) / (q * rho - 1)
    scale = 1.0 if abs(df - 2) < 0.01 else df * (1 - A2 / q) / (df - 2)
    return df, scale


def kr_t(fit, l) -> dict:
    """t test of lᵀβ = 0 with the KR-adjusted se and df (lmerTest ``get_KR1D``)."""
    kr = kenward_roger(fit)
    l = np.asarray(l, dtype=float)
    estimate = float(l @ fit.solution.beta)
    se = float(np.sqrt(l @ kr.vcov_adjusted @ l))
    df, _ = _ddf_and_scale(kr, l[None, :], 1)
    t = estimate / se
    return {"Estimate": estimate, "Std. Error": se, "df": df, "t value": t,
            "Pr(>|t|)": 2 * stats.t.sf(abs(t), df)}


def kr_f(fit, L) -> dict:
    """F test of Lβ = 0 (pbkrtest ``KRmodcomp``, reported as lmerTest's anova row)."""
    kr = kenward_roger(fit)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = int(np.linalg.matrix_rank(L))
    df, scale = _ddf_and_scale(kr, L, q)
    Lb = L @ fit.solution.beta
    wald = float(Lb @ np.linalg.solve(L @ kr.vcov_adjusted @ L.T, Lb))
    return f_row(wald / q, q, df, fit.sigma, scale)
