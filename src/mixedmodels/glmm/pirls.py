"""Penalised iteratively reweighted least squares for the conditional modes (lme4's ``pwrssUpdate``).

At given θ each PIRLS step solves the weighted penalised least-squares problem

    min_{u[, β]}  ‖W^{1/2}(z̃ − ZΛu [− Xβ])‖² + ‖u‖²

for the IRLS working weights W and working response z̃ (``family.irls``, :mod:`.families`). Its matrix, in the
unknowns x = [u_0, u_r, β] (term 0 = the term with most levels),

    [ P    Hᵀ ]    P = Λ_0ᵀZ_0ᵀWZ_0Λ_0 + I       block diagonal (ℓ_0 blocks p_0 × p_0)
    [ H    Q  ]    Q = EᵀWE + diag(I_{q_r}, 0_p),  E = [Z_rΛ_r  X],  H = EᵀWZ_0Λ_0

is factored blockwise, as :mod:`mixedmodels.cholesky` does for lmer: P_j = L_jL_jᵀ per level,
G = HL⁻ᵀ, and a dense Cholesky of the Schur complement S = Q − GGᵀ = L_SL_Sᵀ (order q_r + p).
log|L_θ|² = Σ_j log|P_j| + 2 Σ_{i<q_r} log (L_S)_ii: the u block of the factor of the whole
matrix is the factor of ΛᵀZᵀWZΛ + I. The sparsity pattern of H and of GGᵀ is fixed by the data,
so every entry is a ``bincount`` over precomputed slots; nothing of size n × q is formed.

The iteration (lme4): from the current η compute W and z̃ (Fisher scoring, or Newton steps for a
family with ``newton_iteration``, whose Laplace matrix is then factored once more at the mode with
the family's Laplace weights), solve for x, and halve the step
while the penalised deviance Σ dᵢ + ‖u‖² does not decrease; stop when the step is below
``tol``. Stage 2 of the fit solves for u only (β fixed, Xβ in the offset): ``with_beta=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from .families import Family

__all__ = ["PirlsSystem", "PirlsResult", "Factor"]

_PAIR_BUDGET = 4_000_000


@dataclass
class Factor:
    """The blockwise factor at one set of weights (see module docstring)."""

    L0: np.ndarray  # (ℓ_0, p_0, p_0) lower Cholesky factors of P_j
    G: np.ndarray  # (n_slots, p_0) values of G on H's pattern
    LS: np.ndarray  # (m, m) lower Cholesky factor of S
    logdet_L: float


@dataclass
class PirlsResult:
    """Converged PIRLS state: unknowns, linear predictor, mean, penalised deviance pieces."""

    x: np.ndarray  # [u (q,), β (p,)] (β only with with_beta)
    eta: np.ndarray
    mu: np.ndarray
    dev_resid: np.ndarray
    ussq: float
    factor: Factor
    iterations: int


class PirlsSystem:
    """The fixed structure of the PIRLS system for one design.

    Parameters
    ----------
    codes, z : list of ndarray
        Per random-effects term (lme4 order): level codes (n,) and model columns (n, p_k).
    n_levels : list of int
    X : ndarray (n, p) or None
        Fixed-effects matrix when β is among the unknowns (stage 1), else None.
    """

    def __init__(self, codes, z, n_levels, X: np.ndarray | None):
        self.codes, self.z = list(codes), [np.asarray(zk, float) for zk in z]
        self.n_levels = [int(l) for l in n_levels]
        self.sizes = [zk.shape[1] for zk in self.z]
        self.n = len(self.codes[0])
        self.X = X
        self.p = 0 if X is None else X.shape[1]
        self.l0, self.p0 = self.n_levels[0], self.sizes[0]
        self.q0 = self.l0 * self.p0
        self.q_r = sum(l * s for l, s in zip(self.n_levels[1:], self.sizes[1:]))
        self.q = self.q0 + self.q_r
        self.m = self.q_r + self.p
        # column of every row entry of E: rest terms (level-major, column-minor) then X
        cols, start = [], 0
        for c, l, s in zip(self.codes[1:], self.n_levels[1:], self.sizes[1:]):
            cols.append(start + c[:, None] * s + np.arange(s)[None, :])
            start += l * s
        if self.p:
            cols.append(np.broadcast_to(self.q_r + np.arange(self.p), (self.n, self.p)))
        self.E_cols = np.hstack(cols).astype(np.int64) if cols else np.zeros((self.n, 0), np.int64)
        n_e = self.E_cols.shape[1]
        self.Q_index = (self.E_cols[:, :, None] * self.m + self.E_cols[:, None, :]).ravel()
        # H's pattern: one slot per distinct (column of E, level of term 0)
        key = self.E_cols * self.l0 + self.codes[0][:, None]
        slots, self.slot_of = np.unique(key.ravel(), return_inverse=True)
        self.slot_of = self.slot_of.reshape(self.n, n_e)
        self.slot_col, self.slot_level = slots // self.l0, slots % self.l0
        self.n_slots = len(slots)
        counts = np.bincount(self.slot_level, minlength=self.l0)
        self.dense_schur = int(np.sum(counts.astype(np.int64) ** 2)) > _PAIR_BUDGET
        if not self.dense_schur:  # pairs of slots sharing a level: GGᵀ's entries
            order = np.argsort(self.slot_level, kind="stable")
            starts = np.concatenate([[0], np.cumsum(counts)])
            pa, pb = [], []
            for j in np.flatnonzero(counts):
                members = order[starts[j]:starts[j + 1]]
                pa.append(np.repeat(members, len(members)))
                pb.append(np.tile(members, len(members)))
            self.pair_a = np.concatenate(pa) if pa else np.zeros(0, np.int64)
            self.pair_b = np.concatenate(pb) if pb else np.zeros(0, np.int64)
            self.pair_target = self.slot_col[self.pair_a] * self.m + self.slot_col[self.pair_b]
        self.penalty = np.r_[np.ones(self.q_r), np.zeros(self.p)]

    # ------------------------------------------------------------------ θ-dependent columns
    def scaled_columns(self, templates: list[np.ndarray]):
        """ZΛ row entries: term 0 (n, p_0) and E (n, n_e) values for these T_k."""
        zt0 = self.z[0] @ templates[0]
        parts = [zk @ Tk for zk, Tk in zip(self.z[1:], templates[1:])]
        if self.p:
            parts.append(self.X)
        E = np.hstack(parts) if parts else np.zeros((self.n, 0))
        return zt0, E

    # ------------------------------------------------------------------ linear algebra
    def factor(self, zt0: np.ndarray, E: np.ndarray, w: np.ndarray) -> Factor | None:
        """Factor the system matrix for weights w; None when it is not positive definite."""
        p0, l0, m = self.p0, self.l0, self.m
        wz0 = zt0 * w[:, None]
        P = np.empty((l0, p0, p0))
        for a in range(p0):
            for b in range(a + 1):
                P[:, a, b] = P[:, b, a] = np.bincount(self.codes[0], wz0[:, a] * zt0[:, b], minlength=l0)
        P[:, np.arange(p0), np.arange(p0)] += 1.0
        if p0 == 1:
            L0 = np.sqrt(P)
        else:
            try:
                L0 = np.linalg.cholesky(P)
            except np.linalg.LinAlgError:
                return None
        logdet = 2.0 * float(np.sum(np.log(np.diagonal(L0, axis1=1, axis2=2))))
        if m == 0:
            return Factor(L0, np.zeros((0, p0)), np.zeros((0, 0)), logdet)
        wE = E * w[:, None]
        Q = np.bincount(self.Q_index, (wE[:, :, None] * E[:, None, :]).ravel(), minlength=m * m).reshape(m, m)
        Q[np.diag_indices(m)] += self.penalty
        H = np.empty((self.n_slots, p0))
        for a in range(p0):
            H[:, a] = np.bincount(self.slot_of.ravel(), (wE * zt0[:, a:a + 1]).ravel(), minlength=self.n_slots)
        if p0 == 1:
            G = H / L0[self.slot_level, 0]
        else:  # row r of G_j = L_j⁻¹ H_j[r]
            G = np.linalg.solve(L0[self.slot_level], H[:, :, None])[:, :, 0]
        if self.dense_schur:
            Gd = np.zeros((m, self.q0))
            Gd[self.slot_col[:, None], self.slot_level[:, None] * p0 + np.arange(p0)] = G
            Q -= Gd @ Gd.T
        else:
            Q -= np.bincount(self.pair_target, np.einsum("ij,ij->i", G[self.pair_a], G[self.pair_b]),
                             minlength=m * m).reshape(m, m)
        LS, info = dpotrf(Q, lower=1, clean=1, overwrite_a=1)  # LAPACK directly: scipy's wrapper costs more
        if info != 0:
            return None
        logdet += 2.0 * float(np.sum(np.log(np.diag(LS)[:self.q_r])))
        return Factor(L0, G, LS, logdet)

    def solve(self, factor: Factor, zt0: np.ndarray, E: np.ndarray, w: np.ndarray, rhs_y: np.ndarray) -> np.ndarray:
        """x = [u_0, u_r, β] minimising ‖W^{1/2}(rhs_y − ZΛu − Xβ)‖² + ‖u‖²."""
        p0, l0 = self.p0, self.l0
        wy = w * rhs_y
        r0 = np.column_stack([np.bincount(self.codes[0], wy * zt0[:, a], minlength=l0) for a in range(p0)])
        y0 = r0 / factor.L0[:, :, 0] if p0 == 1 else np.linalg.solve(factor.L0, r0[:, :, None])[:, :, 0]
        if self.m:
            rr = np.bincount(self.E_cols.ravel(), (E * wy[:, None]).ravel(), minlength=self.m)
            rr -= np.bincount(self.slot_col, np.einsum("ij,ij->i", factor.G, y0[self.slot_level]), minlength=self.m)
            xr, _ = dpotrs(factor.LS, rr, lower=1)
            Gt = np.column_stack([np.bincount(self.slot_level, factor.G[:, a] * xr[self.slot_col], minlength=l0)
                                  for a in range(p0)])
            y0 = y0 - Gt
        else:
            xr = np.zeros(0)
        x0 = y0 / factor.L0[:, :, 0] if p0 == 1 else \
            np.linalg.solve(np.swapaxes(factor.L0, 1, 2), y0[:, :, None])[:, :, 0]
        return np.concatenate([x0.ravel(), xr])

    def linear_predictor(self, x: np.ndarray, zt0: np.ndarray, E: np.ndarray) -> np.ndarray:
        """ZΛu (+ Xβ) for unknowns x."""
        x0 = x[:self.q0].reshape(self.l0, self.p0)
        eta = np.einsum("ij,ij->i", zt0, x0[self.codes[0]])
        if self.m:
            eta = eta + np.einsum("ij,ij->i", E, x[self.q0:][self.E_cols])
        return eta

    # ------------------------------------------------------------------ the iteration
    def run(self, family: Family, y: np.ndarray, weights: np.ndarray, offset: np.ndarray,
            templates: list[np.ndarray], x0: np.ndarray | None = None, eta0: np.ndarray | None = None,
            tol: float = 1e-10, max_iter: int = 100) -> PirlsResult | None:
        """PIRLS to convergence from unknowns ``x0`` (or, when ``x0`` is None or gives an invalid μ, with
        a first step from the linear predictor ``eta0``).

        ``offset`` is everything in η that is not an unknown (offset, plus Xβ in stage 2).
        Returns None when the system cannot be factored.
        """
        link = family.link
        iterate = family.newton if family.newton_iteration else family.irls
        zt0, E = self.scaled_columns(templates)

        def state(x):
            eta = offset + self.linear_predictor(x, zt0, E)
            mu = link.inverse(eta)
            dev = family.deviance_residuals(y, mu, weights)
            return eta, mu, dev, float(dev.sum() + x[:self.q] @ x[:self.q])

        if x0 is not None:
            x = x0
            eta, mu, dev, pdev = state(x)
        if x0 is None or not np.isfinite(pdev):  # no (valid) warm start: the first step from η₀
            x = None
            eta = eta0
            mu = link.inverse(eta)
            pdev = np.inf
        factor = None
        for iteration in range(1, max_iter + 1):
            w, resid = iterate(y, eta, mu, weights)
            working = eta - offset + resid
            factor = self.factor(zt0, E, w)
            if factor is None:
                return None
            x_new = self.solve(factor, zt0, E, w, working)
            if x is None:
                x = x_new
                eta, mu, dev, pdev = state(x)
                if not np.isfinite(pdev):
                    return None
                continue
            step = x_new - x
            for _ in range(12):  # step halving while the penalised deviance rises (or leaves the valid μ)
                eta_t, mu_t, dev_t, pdev_t = state(x + step)
                if pdev_t <= pdev + 1e-10 * (1 + abs(pdev)):
                    break
                step *= 0.5
            if not np.isfinite(pdev_t):  # no valid step left: x is as far as PIRLS gets
                break
            x = x + step
            eta, mu, dev, pdev = eta_t, mu_t, dev_t, pdev_t
            if np.max(np.abs(step), initial=0.0) < tol:
                break
        eta, mu, dev, pdev = state(x)
        if family.newton_iteration:  # the Laplace matrix at the mode with the family's Laplace weights
            factor = self.factor(zt0, E, family.laplace_weights(y, eta, mu, weights))
            if factor is None:
                return None
        return PirlsResult(x=x, eta=eta, mu=mu, dev_resid=dev, ussq=float(x[:self.q] @ x[:self.q]),
                           factor=factor, iterations=iteration)
