"""The blocked Cholesky factor of ΛᵀAΛ + I for a given θ (MixedModels.jl ``updateL!``).

With Z = [Z_0 Z_r], W = [X y] and the blocks of :mod:`mixedmodels.blocks`, the factor of the
augmented system

    Ω = [Λ_0ᵀD0Λ_0 + I      ·                 ]
        [Λ̃_rᵀ[Bz; Bw]Λ_0    Λ̃_rᵀ C Λ̃_r + I_z ]        (Λ̃_r = Λ_r ⊕ I_{p+1})

is computed in two steps:

1. ``L0_j = chol(P_j)``, ``P_j = T_0ᵀ D0_j T_0 + I`` for each level j of term 0 (batched p_0 × p_0);
2. ``M = chol(Λ̃_rᵀ (C − B 𝒲 Bᵀ) Λ̃_r + I_z)`` with B = [Bz; Bw] and 𝒲 = ⊕_j T_0 P_j⁻¹ T_0ᵀ,
   a dense Cholesky of order m = q_r + p + 1 (the Schur complement of step 1).

Then log|L_θ|² = Σ_j log|P_j| + 2 Σ_{i<q_r} log M_ii, R_X is M's X block, and the penalised
residual sum of squares is r²_θ = M_{m,m}². An evaluation costs O(ℓ_0 p_0³ + nnz(Bz W Bzᵀ) + m³),
nothing in n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp

from .blocks import CrossProducts

__all__ = ["BlockedFactor", "RestLayout", "factorize", "scale_rows", "scale_columns"]


@dataclass(frozen=True)
class RestLayout:
    """Column slices of the terms 1..K-1 within the first q_r rows/columns of C."""

    sizes: tuple[int, ...]  # p_k
    n_levels: tuple[int, ...]  # ℓ_k

    @property
    def slices(self) -> list[slice]:
        out, start = [], 0
        for p, l in zip(self.sizes, self.n_levels):
            out.append(slice(start, start + p * l))
            start += p * l
        return out

    @property
    def q(self) -> int:
        return int(sum(p * l for p, l in zip(self.sizes, self.n_levels)))


def scale_columns(M: np.ndarray, layout: RestLayout, templates: list[np.ndarray]) -> None:
    """In place: M[:, term k] ← M[:, term k] (I ⊗ T_k), i.e. M ← M Λ_r on the first q_r columns."""
    for sl, p, l, T in zip(layout.slices, layout.sizes, layout.n_levels, templates):
        if p == 1:
            M[:, sl] *= T[0, 0]
        else:
            block = M[:, sl].reshape(M.shape[0], l, p)
            M[:, sl] = (block @ T).reshape(M.shape[0], l * p)


def scale_rows(M: np.ndarray, layout: RestLayout, templates: list[np.ndarray]) -> None:
    """In place: M ← Λ_rᵀ M on the first q_r rows (M may be a vector)."""
    matrix = M if M.ndim == 2 else M[:, None]
    scale_columns(matrix.T, layout, templates)


@dataclass
class BlockedFactor:
    """L_θ in two blocks, and the pieces of the profiled criterion.

    Attributes
    ----------
    P : ndarray (ℓ_0, p_0, p_0)      T_0ᵀ D0_j T_0 + I
    L0 : ndarray (ℓ_0, p_0, p_0)     chol(P_j)
    M : ndarray (m, m)               lower Cholesky factor of the Schur complement
    logdet_L : float                 log|L_θ|² (random-effects part)
    logdet_RX : float                log|R_X|²
    pwrss : float                    r²_θ, the penalised weighted residual sum of squares
    """

    P: np.ndarray
    L0: np.ndarray
    M: np.ndarray
    logdet_L: float
    logdet_RX: float
    pwrss: float


def _weight_operator(P: np.ndarray, T0: np.ndarray) -> np.ndarray:
    """𝒲_j = T_0 P_j⁻¹ T_0ᵀ for every level j, shape (ℓ_0, p_0, p_0)."""
    if P.shape[1] == 1:
        return (T0[0, 0] ** 2) / P
    return T0 @ np.linalg.inv(P) @ T0.T


def factorize(cp: CrossProducts, T0: np.ndarray, rest: RestLayout, rest_templates: list[np.ndarray],
              p: int) -> BlockedFactor | None:
    """Blocked Cholesky factor for the templates T_k of the current θ.

    Returns ``None`` when the Schur complement is not positive definite (X rank deficient for
    this θ in floating point), which the optimiser treats as an infinite deviance.
    """
    D0 = cp.D0
    l0, p0, _ = D0.shape
    if p0 == 1:
        P = (T0[0, 0] ** 2) * D0 + 1.0
        L0 = np.sqrt(P)
    else:
        P = np.swapaxes(T0, 0, 1)[None] @ D0 @ T0[None] + np.eye(p0)
        L0 = np.linalg.cholesky(P)
    logdet0 = 2.0 * float(np.sum(np.log(np.diagonal(L0, axis1=1, axis2=2))))
    Wop = _weight_operator(P, T0)
    n_w = cp.Bw.shape[0]
    G = (cp.Bw[:, :, None, :] @ Wop[None]).reshape(n_w, l0 * p0)  # Bw 𝒲, rows of Bw as row vectors
    Bw2 = cp.Bw.reshape(n_w, l0 * p0)
    S = cp.C.copy()
    q_r = rest.q
    S[q_r:, q_r:] -= G @ Bw2.T
    if q_r:
        BzW = G @ cp.Bz.T  # (n_w, q_r) = Bw 𝒲 Bzᵀ
        S[q_r:, :q_r] -= BzW
        S[:q_r, q_r:] -= BzW.T
        if p0 == 1:
            Wsp = sp.diags(Wop.ravel())
        else:
            Wsp = sp.bsr_matrix((Wop, np.arange(l0), np.arange(l0 + 1)), shape=(l0 * p0, l0 * p0))
        S[:q_r, :q_r] -= (cp.Bz @ Wsp @ cp.Bz.T).toarray()
        scale_columns(S, rest, rest_templates)
        scale_rows(S, rest, rest_templates)
        S[np.arange(q_r), np.arange(q_r)] += 1.0
    try:
        M = la.cholesky(S, lower=True, overwrite_a=True, check_finite=False)
    except la.LinAlgError:
        return None
    diag = np.diagonal(M)
    if not np.all(diag[:-1] > 0):
        return None
    return BlockedFactor(
        P=P,
        L0=L0,
        M=M,
        logdet_L=logdet0 + 2.0 * float(np.sum(np.log(diag[:q_r]))),
        logdet_RX=2.0 * float(np.sum(np.log(diag[q_r:q_r + p]))),
        pwrss=float(diag[-1] ** 2),
    )
