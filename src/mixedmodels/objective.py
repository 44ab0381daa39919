"""The profiled ML deviance and REML criterion as functions of θ (lme4's ``mkLmerDevfun``).

For given θ the penalised least-squares problem min_{u,β} ‖y − Xβ − ZΛu‖² + ‖u‖² is solved
through the blocked factor of :mod:`mixedmodels.cholesky`, and (Bates et al. 2015, eqs. 34, 41)

    ML:    d(θ)   = log|L_θ|² + n (1 + log(2π r²_θ / n))
    REML:  d_R(θ) = log|L_θ|² + log|R_X|² + (n − p)(1 + log(2π r²_θ / (n − p)))

minus Σ log wᵢ with prior weights. β and σ are profiled out: σ̂² = r²_θ / n (ML) or
r²_θ / (n − p) (REML), Var(β̂) = σ̂² (R_XᵀR_X)⁻¹, b̂ = Λ_θ û.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
from scipy.linalg.blas import dtrsv
from scipy.linalg.lapack import dtrtri

from ._kernels import solve_levels
from ._threads import blas_threads_for
from .blocks import CrossProducts, shallow_copy
from .cholesky import BlockedCholesky, BlockedFactor, RestLayout
from .covariance import ThetaLayout, relative_effects, scale_rows
from .gradient import ScalarCrossedGradient

__all__ = ["DevianceProblem", "PlsSolution", "SCORING_MIN_SECONDS"]

SCORING_MIN_SECONDS = 1e-4
"""Estimated seconds per evaluation from which crossed scalar terms are fitted by scoring."""


@dataclass(frozen=True)
class PlsSolution:
    """The penalised least-squares solution at one θ.

    Attributes
    ----------
    beta : ndarray (p,)
    u : list of ndarray (ℓ_k, p_k)      spherical random effects per term
    b : list of ndarray (ℓ_k, p_k)      conditional modes b = T_k u per term
    sigma : float
    vcov_beta : ndarray (p, p)          σ̂² (R_XᵀR_X)⁻¹
    factor : BlockedFactor
    """

    beta: np.ndarray
    u: list[np.ndarray]
    b: list[np.ndarray]
    sigma: float
    vcov_beta: np.ndarray
    factor: BlockedFactor


class DevianceProblem:
    """The objective to minimise over θ, built once from the cross-products A.

    Parameters
    ----------
    cross : CrossProducts
    term_sizes, term_levels : sequence of int
        p_k and ℓ_k of each term, in lme4 order (term 0 has the most levels).
    p : int
        Number of fixed-effect columns.
    reml : bool
    structures : sequence, optional
        The covariance structure of each term (:mod:`mixedmodels.covariance`); all unstructured
        by default.
    """

    def __init__(self, cross: CrossProducts, term_sizes, term_levels, p: int, reml: bool = True, structures=None):
        self.cross = cross
        self.layout = ThetaLayout(tuple(int(s) for s in term_sizes), structures)
        if self.layout.sizes != tuple(int(s) for s in term_sizes):
            raise ValueError(f"the structures' sizes {self.layout.sizes} differ from the terms' {tuple(term_sizes)}")
        self.rest = RestLayout(tuple(int(s) for s in term_sizes[1:]), tuple(int(l) for l in term_levels[1:]))
        self.term_levels = tuple(int(l) for l in term_levels)
        self.p = int(p)
        self.n = int(cross.n)
        self.reml = bool(reml)
        self.cholesky = BlockedCholesky(cross, self.rest, self.p)

    def with_cross(self, cross: CrossProducts) -> "DevianceProblem":
        """The same model with other cross-products of the same layout (PIRLS: the rows at new weights)."""
        twin = shallow_copy(self)
        twin.cross = cross
        twin.n = int(cross.n)
        twin.cholesky = self.cholesky.with_cross(cross)
        return twin

    def with_reml(self, reml: bool) -> "DevianceProblem":
        """The same data and model with the other criterion (A is shared, not copied)."""
        twin = shallow_copy(self)
        twin.reml = bool(reml)
        return twin

    def factor(self, theta: np.ndarray) -> BlockedFactor | None:
        T = self.layout.templates(np.asarray(theta, dtype=float))
        return self.cholesky.factor(T[0], T[1:])

    def criterion(self, factor: BlockedFactor | None, reml: bool | None = None) -> float:
        """−2 log-likelihood (ML) or REML criterion from a factor; +inf if not positive definite."""
        if factor is None:
            return np.inf
        return self._criterion_of(factor.logdet_L, factor.logdet_RX, factor.pwrss, self.reml if reml is None else reml)

    def _criterion_of(self, logdet_L: float, logdet_RX: float, pwrss: float, reml: bool) -> float:
        if not pwrss > 0:
            return np.inf
        n = self.n - self.p if reml else self.n
        value = logdet_L + n * (1.0 + math.log(2.0 * math.pi * pwrss / n))
        if reml:
            value += logdet_RX
        return float(value - self.cross.sum_log_weights)

    def gradient_function(self):
        """θ ↦ (criterion, analytic gradient), or None where there is none or it would not pay.

        Crossed scalar terms (:class:`~mixedmodels.gradient.ScalarCrossedGradient`) whose
        evaluation takes long enough (:data:`SCORING_MIN_SECONDS`, as estimated when A was formed):
        smaller models evaluate in microseconds, BOBYQA's extra evaluations cost less than the
        gradient's overhead there, and their fits stay exactly those of BOBYQA.
        """
        if (self.cholesky.coupled is not None or self.cholesky.seconds_per_evaluation < SCORING_MIN_SECONDS
                or not ScalarCrossedGradient.applies(self)):
            return None
        return ScalarCrossedGradient(self)

    def deviance(self, theta: np.ndarray) -> float:
        """The objective at θ: REML criterion when ``reml`` else ML deviance."""
        T = self.layout.templates(theta)
        parts = self.cholesky.criterion_parts(T[0], T[1:])
        return np.inf if parts is None else self._criterion_of(*parts, self.reml)

    def sigma(self, factor: BlockedFactor) -> float:
        return float(np.sqrt(factor.pwrss / (self.n - self.p if self.reml else self.n)))

    def modes(self, theta: np.ndarray) -> tuple[BlockedFactor, list[np.ndarray], np.ndarray]:
        """(factor at θ, û per term, β̂): what a PIRLS step needs of :meth:`solve`.

        Raises
        ------
        numpy.linalg.LinAlgError
            The penalised system is not positive definite at θ.
        """
        T = self.layout.templates(theta)
        factor = self.cholesky.factor(T[0], T[1:])
        if factor is None:
            raise np.linalg.LinAlgError("the penalised system is not positive definite at this theta")
        u, beta = self.spherical_modes(factor, T)
        return factor, u, beta

    def solve(self, theta: np.ndarray) -> PlsSolution:
        """β̂, û, b̂, σ̂ and Var(β̂) at θ (back-substitution through both blocks)."""
        theta = np.asarray(theta, dtype=float)
        factor, u, beta = self.modes(theta)
        b = relative_effects(u, self.layout.templates(theta))
        sigma = self.sigma(factor)
        vcov = sigma**2 * self.unscaled_vcov(factor)
        return PlsSolution(beta=beta, u=u, b=b, sigma=sigma, vcov_beta=vcov, factor=factor)

    def spherical_modes(self, factor: BlockedFactor, T: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """û per term, shape (ℓ_k, p_k) each, and β̂, by back-substitution through both blocks of the factor."""
        M, q_r, p = factor.M, self.rest.q, self.p
        # M_{-1}ᵀ x = M[-1, :-1] through the whole upper factor Mᵀ (Fortran order, as LAPACK returned
        # it: no copy of the order-m block), the right-hand side padded with a 0 for the y row
        pivot = M[-1, -1]
        if pivot == 0.0:  # a perfect fit's zero response pivot (cholesky.py): x's last entry is 0/1, not 0/0
            M[-1, -1] = 1.0
        x_r = dtrsv(M.T, np.append(M[-1, :-1], 0.0), lower=0)[:-1]
        M[-1, -1] = pivot
        u_rest, beta = x_r[:q_r].copy(), x_r[q_r:].copy()
        b_rest = u_rest.copy()
        scale_rows(b_rest, self.rest, T[1:])
        l0, p0 = self.term_levels[0], self.layout.sizes[0]
        Bw2 = self.cross.Bw.reshape(p + 1, l0 * p0)
        v = Bw2[p] - Bw2[:p].T @ beta
        if q_r:  # the sparse Bz of the pair product when there is one (InstEval: 0.2 ms, not 7 ms dense)
            pairs = self.cholesky.pairs
            v = v - (pairs.transpose_times(b_rest) if pairs is not None else self.cross.bz_transpose_times(b_rest))
        rhs = (v.reshape(l0, p0) @ T[0])  # T_0ᵀ v_j as rows
        if p0 > 1:
            u0 = np.empty_like(rhs)
            solve_levels(factor.P, np.ascontiguousarray(rhs), u0)
        else:
            u0 = rhs / factor.P[:, :, 0]
        return [u0] + [u_rest[sl].reshape(-1, s) for sl, s in zip(self.rest.slices, self.rest.sizes)], beta

    def unscaled_vcov(self, factor: BlockedFactor) -> np.ndarray:
        """(R_XᵀR_X)⁻¹, so that Var(β̂) = σ² (R_XᵀR_X)⁻¹ at the θ of ``factor``."""
        q_r, p = self.rest.q, self.p
        if p == 0:  # no fixed effects (y ~ 0 + (1 | g))
            return np.zeros((0, 0))
        RX_inv, _ = dtrtri(factor.M[q_r:q_r + p, q_r:q_r + p], lower=1)
        return RX_inv.T @ RX_inv

    def conditional_covariances(self, theta: np.ndarray, factor: BlockedFactor, chunk: int = 4096) -> list[np.ndarray]:
        """Diagonal blocks of Λ(L_θL_θᵀ)⁻¹Λᵀ per term and level, shape (ℓ_k, p_k, p_k) each.

        Multiplied by σ̂² they are lme4's ``attr(ranef(fit, condVar = TRUE)[[g]], "postVar")``.
        With L_θ = [[L0, 0], [L_r0, L_r]] the inverse has blocks L_r⁻ᵀL_r⁻¹ (rest terms) and
        P⁻¹ + GᵀG (term 0), G = L_r⁻¹ Λ_rᵀ Bz Λ_0 P⁻¹, formed ``chunk`` levels at a time.
        """
        with blas_threads_for(self.cross.C.shape[0]):
            return self._conditional_covariances(theta, factor, chunk)

    def _conditional_covariances(self, theta, factor, chunk):
        T = self.layout.templates(np.asarray(theta, dtype=float))
        q_r = self.rest.q
        P_inv = np.linalg.inv(factor.P)
        inner0 = P_inv.copy()
        out_rest = []
        if q_r:
            L_r = factor.M[:q_r, :q_r]
            l0, p0 = self.term_levels[0], self.layout.sizes[0]
            right = T[0] @ P_inv  # Λ_0 P⁻¹ per level, (ℓ_0, p_0, p_0)
            for start in range(0, l0, chunk):
                stop = min(l0, start + chunk)
                H = self.cross.bz_levels(start, stop)
                H = np.einsum("rja,jab->rjb", H, right[start:stop]).reshape(q_r, (stop - start) * p0)
                scale_rows(H, self.rest, T[1:])
                G = la.solve_triangular(L_r, H, lower=True, check_finite=False).reshape(q_r, stop - start, p0)
                inner0[start:stop] += np.einsum("rja,rjb->jab", G, G)
            L_r_inv, _ = dtrtri(L_r, lower=1)
            for sl, p, l, Tk in zip(self.rest.slices, self.rest.sizes, self.rest.n_levels, T[1:]):
                cols = L_r_inv[:, sl].reshape(q_r, l, p)
                inner = np.einsum("rja,rjb->jab", cols, cols)
                out_rest.append(Tk[None] @ inner @ Tk.T[None])
        return [T[0][None] @ inner0 @ T[0].T[None]] + out_rest
