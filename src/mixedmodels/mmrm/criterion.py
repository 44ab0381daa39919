"""The REML/ML criterion of a marginal model with a visit covariance, by visit pattern.

Model (DESIGN §6): y_i = X_i β + ε_i, ε_i ~ N(0, Σ_i), Σ_i = W_i^{-1/2} Σ[S_i, S_i] W_i^{-1/2}, where
S_i are the visits subject i has, Σ = Σ_g(θ_g) the covariance of the subject's group and W_i its
prior weights. Scaling the rows of [X y] by √w turns every subject into an unweighted one, so
subjects with the same group and visit pattern S share Σ_S = Σ[S, S] and its Cholesky factor.

Each pattern block keeps its scaled rows Z_i = [X_i y_i] (|S| × (p + 1)) and, when it has more
subjects than |S|(p + 1), the cross-product tensor T_S = Σ_i Z_i ⊗ Z_i instead, so that the two
contractions everything needs,

    quad(A)  = Σ_i Z_iᵀ A Z_i   ((p + 1) × (p + 1), for |S| × |S| matrices A),
    outer(B) = Σ_i Z_i B Z_iᵀ   (|S| × |S|,        for (p + 1) × (p + 1) matrices B),

cost O(|S|²(p + 1)²) per pattern, whatever the number of subjects. With M = Σ_S quad(Σ_S⁻¹),
M = [[XᵀV⁻¹X, XᵀV⁻¹y], [·, yᵀV⁻¹y]], β̂(θ) = (XᵀV⁻¹X)⁻¹XᵀV⁻¹y and r̃ᵀr̃ = yᵀV⁻¹y − (XᵀV⁻¹y)ᵀβ̂,
mmrm's objective (the negative log-likelihood, half of −2ℓ) is

    f(θ) = ½ (n − p) log 2π + ½ Σ_S n_S log|Σ_S| − ½ Σ log w + ½ log|XᵀV⁻¹X| + ½ r̃ᵀr̃    (REML)
    f(θ) = ½ n log 2π + ½ Σ_S n_S log|Σ_S| − ½ Σ log w + ½ r̃ᵀr̃                        (ML).

Its gradient is ∂f/∂θ_k = ½ Σ_S tr(∂Σ_S/∂θ_k G_S) with
G_S = n_S Σ_S⁻¹ − Σ_S⁻¹ outer(u uᵀ + [REML] diag(C, 0)) Σ_S⁻¹, u = (−β̂, 1), C = (XᵀV⁻¹X)⁻¹:
the G_S are added into one m × m matrix per group, so the gradient costs one inner product
per parameter. Kenward–Roger's P, Q, R and Satterthwaite's Jacobian of C are quad() of
Σ_S⁻¹ ∂Σ_S Σ_S⁻¹ and its products (:meth:`MmrmCriterion.derivative_terms`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dtrtri

from ..errors import DesignError
from .data import MmrmData
from .structures import CovarianceStructure, make_structure

__all__ = ["PatternBlock", "MmrmCriterion", "CriterionState"]

_LOG_2PI = np.log(2.0 * np.pi)


class PatternBlock:
    """The subjects of one group with one visit pattern.

    Attributes
    ----------
    group : int
    visits : ndarray of int (s,)       visit indices of the pattern, increasing
    rows : ndarray of int (n_S, s)     data rows of each subject at those visits
    Z : ndarray (n_S, s, p + 1)        √w-scaled [X y]
    """

    def __init__(self, group: int, visits: np.ndarray, rows: np.ndarray, Z: np.ndarray):
        self.group, self.visits, self.rows, self.Z = group, visits, rows, Z
        n, s, q = Z.shape
        self.n, self.s, self.q = n, s, q
        self.T = np.einsum("iap,ibq->abpq", Z, Z).reshape(s * s, q * q) if n > s * q else None

    def quad(self, A: np.ndarray) -> np.ndarray:
        """Σ_i Z_iᵀ A_k Z_i for a stack A of shape (k, s, s): shape (k, p + 1, p + 1)."""
        k, s, q = len(A), self.s, self.q
        if self.T is not None:
            return (A.reshape(k, s * s) @ self.T).reshape(k, q, q)
        Zt = self.Z.transpose(1, 0, 2)  # (s, n, q)
        AZ = (A.reshape(k * s, s) @ Zt.reshape(s, -1)).reshape(k, s, self.n, q)
        return np.einsum("kaiq,aip->kpq", AZ, Zt)

    def outer(self, B: np.ndarray) -> np.ndarray:
        """Σ_i Z_i B Z_iᵀ for one (p + 1) × (p + 1) matrix B: shape (s, s)."""
        if self.T is not None:
            return (self.T @ B.ravel()).reshape(self.s, self.s)
        ZB = self.Z @ B
        return np.einsum("iap,ibp->ab", ZB, self.Z)


@dataclass
class CriterionState:
    """Everything known at one θ: f(θ), β̂, C = (XᵀV⁻¹X)⁻¹, the per-pattern Σ_S⁻¹ and Cholesky factors."""

    theta: np.ndarray
    value: float
    beta: np.ndarray
    C: np.ndarray
    sigmas: list          # Σ_g per group, m × m
    chol: list            # L_S per block (lower)
    inv: list             # Σ_S⁻¹ per block


class MmrmCriterion:
    """f(θ) of an mmrm model, its gradient and the derivative terms of the df methods.

    Parameters
    ----------
    data : MmrmData
    structure : str
        mmrm's structure name ("us", "toep", ...).
    reml : bool
    """

    def __init__(self, data: MmrmData, structure: str, reml: bool):
        self.data, self.reml = data, bool(reml)
        self.m = len(data.visit_levels)
        self.structure: CovarianceStructure = make_structure(structure, self.m)
        self.n_groups = 1 if data.group_levels is None else len(data.group_levels)
        self.k = self.structure.n_theta
        self.n_theta = self.k * self.n_groups
        X, y, w = data.X, data.y, data.weights
        self.n, self.p = X.shape
        self.log_w = float(np.log(w).sum())
        Z = np.column_stack([X, y]) * np.sqrt(w)[:, None]
        self.blocks = self._blocks(Z)
        self._check_identifiable()

    # -- set-up --------------------------------------------------------------------------------
    def _blocks(self, Z: np.ndarray) -> list[PatternBlock]:
        d = self.data
        order = np.lexsort((d.visit, d.subject))  # by subject, then visit (as mmrm sorts)
        subj = d.subject[order]
        starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        groups = np.zeros(len(starts), int) if d.group is None else d.group[subj[starts]]
        mask = np.zeros((len(starts), self.m), bool)
        mask[np.repeat(np.arange(len(starts)), counts), d.visit[order]] = True
        keys = np.packbits(mask, axis=1)
        keys = np.column_stack([groups, keys])
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        blocks = []
        for b in np.argsort(first):  # blocks in order of first appearance
            members = np.flatnonzero(inverse == b)
            s = counts[members[0]]
            rows = order[starts[members][:, None] + np.arange(s)[None, :]]
            blocks.append(PatternBlock(int(groups[members[0]]), np.flatnonzero(mask[members[0]]), rows, Z[rows]))
        return blocks

    def _check_identifiable(self) -> None:
        d = self.data
        if self.n_theta > self.n - self.p:
            raise DesignError(
                f"too many parameters for the data: the {self.structure.name} covariance has {self.n_theta} "
                f"parameters and the fixed effects {self.p}, but there are only {self.n} observations")
        for g in range(self.n_groups):
            seen = np.zeros((self.m, self.m), int)
            for block in self.blocks:
                if block.group == g:
                    seen[np.ix_(block.visits, block.visits)] += block.n
            where = f" in group {d.group_levels[g]!r}" if d.group_levels is not None else ""
            missing = np.flatnonzero(np.diag(seen) == 0)
            if len(missing):
                raise DesignError(f"visit {d.visit_levels[missing[0]]!r} has no observation{where}; "
                                  "its variance cannot be estimated")
            if self.structure.name == "us":
                a, b = np.nonzero(np.tril(seen == 0, -1))
                if len(a):
                    raise DesignError(
                        f"no subject{where} has both visits {d.visit_levels[b[0]]!r} and {d.visit_levels[a[0]]!r}: "
                        "their covariance cannot be estimated with an unstructured (us) covariance")

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        """θ as one parameter vector per group (mmrm concatenates them in group-level order)."""
        theta = np.asarray(theta, dtype=float)
        return [theta[g * self.k:(g + 1) * self.k] for g in range(self.n_groups)]

    def start(self) -> np.ndarray:
        """mmrm's starting values (``std_start``), repeated per group."""
        return np.tile(self.structure.start(), self.n_groups)

    # -- the criterion -----------------------------------------------------------------------
    def state(self, theta: np.ndarray) -> CriterionState | None:
        """f(θ), β̂(θ) and the factors at θ; None when some Σ_S is not positive definite."""
        theta = np.asarray(theta, dtype=float)
        sigmas = [self.structure.sigma(t) for t in self.split(theta)]
        p = self.p
        M = np.zeros((p + 1, p + 1))
        logdet = 0.0
        chols, invs = [], []
        for block in self.blocks:
            S = sigmas[block.group][np.ix_(block.visits, block.visits)]
            try:
                L = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                return None
            if not np.all(np.isfinite(L)):
                return None
            Linv = dtrtri(L, lower=1)[0]
            inv = Linv.T @ Linv
            chols.append(L)
            invs.append(inv)
            logdet += 2.0 * block.n * np.log(np.diag(L)).sum()
            M += block.quad(inv[None])[0]
        try:
            R = np.linalg.cholesky(M[:p, :p])
        except np.linalg.LinAlgError:
            return None
        Rinv = dtrtri(R, lower=1)[0]
        C = Rinv.T @ Rinv
        beta = C @ M[:p, p]
        rss = M[p, p] - M[:p, p] @ beta
        dof = self.n - p if self.reml else self.n
        value = 0.5 * (dof * _LOG_2PI + logdet - self.log_w + rss)
        if self.reml:
            value += np.log(np.diag(R)).sum()
        if not np.isfinite(value):
            return None
        return CriterionState(theta, float(value), beta, C, sigmas, chols, invs)

    def objective(self, theta: np.ndarray) -> float:
        """f(θ) = −log L (REML or ML); +inf where Σ is not positive definite."""
        state = self.state(theta)
        return np.inf if state is None else state.value

    def gradient(self, theta: np.ndarray, state: CriterionState | None = None) -> np.ndarray:
        """∂f/∂θ = ½ tr(∂Σ_g/∂θ_k G_g), G_g the sum over the group's patterns of G_S (module docstring)."""
        state = self.state(theta) if state is None else state
        p = self.p
        u = np.r_[-state.beta, 1.0]
        B = np.outer(u, u)
        if self.reml:
            B[:p, :p] += state.C
        G = np.zeros((self.n_groups, self.m, self.m))
        for block, inv in zip(self.blocks, state.inv):
            G_S = block.n * inv - inv @ block.outer(B) @ inv
            G[block.group][np.ix_(block.visits, block.visits)] += G_S
        grad = [0.5 * np.einsum("kab,ab->k", self.structure.derivatives(t, 1)[1], G[g])
                for g, t in enumerate(self.split(state.theta))]
        return np.concatenate(grad)

    def value_and_gradient(self, theta: np.ndarray):
        """(f, ∂f/∂θ) for the optimiser: (inf, 0) where Σ is not positive definite."""
        state = self.state(theta)
        if state is None:
            return np.inf, np.zeros(self.n_theta)
        return state.value, self.gradient(theta, state)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """∂²f/∂θ∂θᵀ by Richardson-extrapolated central differences of the analytic gradient.

        D(h) = (∇f(θ + h e_k) − ∇f(θ − h e_k))/2h at h = 10⁻³·max(1, |θ_k|) and h/2, combined as
        (4 D(h/2) − D(h))/3 (error O(h⁴)); the result is symmetrised.
        """
        theta = np.asarray(theta, dtype=float)
        H = np.empty((self.n_theta, self.n_theta))
        for k in range(self.n_theta):
            h = 1e-3 * max(1.0, abs(theta[k]))
            est = []
            for step in (h, h / 2):
                e = np.zeros_like(theta)
                e[k] = step
                est.append((self.gradient(theta + e) - self.gradient(theta - e)) / (2 * step))
            H[k] = (4 * est[1] - est[0]) / 3
        return (H + H.T) / 2

    # -- derivative terms at θ̂ -------------------------------------------------------------------
    def derivative_terms(self, state: CriterionState, second: bool = False):
        """P̃_k = Xᵀ V⁻¹ ∂V/∂θ_k V⁻¹ X and, with ``second``, Q_kl and R_kl.

        Q_kl = Xᵀ V⁻¹ ∂V_k V⁻¹ ∂V_l V⁻¹ X and R_kl = Xᵀ V⁻¹ ∂²V_kl V⁻¹ X for θ_k, θ_l of the same group
        (zero across groups). mmrm's P_k = Xᵀ ∂V⁻¹/∂θ_k X is −P̃_k; ∂C/∂θ_k = C P̃_k C.

        Returns
        -------
        P : ndarray (n_theta, p, p)
        Q, R : ndarray (n_theta, n_theta, p, p), only with ``second``
        """
        p, k = self.p, self.k
        derivs = [self.structure.derivatives(t, 2 if second else 1) for t in self.split(state.theta)]
        P = np.zeros((self.n_theta, p, p))
        Q = np.zeros((self.n_theta, self.n_theta, p, p)) if second else None
        R = np.zeros_like(Q) if second else None
        for block, inv in zip(self.blocks, state.inv):
            g, idx = block.group, np.ix_(block.visits, block.visits)
            sl = slice(g * k, (g + 1) * k)
            dS = derivs[g][1][(slice(None),) + idx]
            A = inv @ dS @ inv  # Σ⁻¹ ∂Σ_k Σ⁻¹, (k, s, s)
            P[sl] += block.quad(A)[:, :p, :p]
            if second:
                S = state.sigmas[g][idx]
                AA = np.einsum("kab,bc,lcd->klad", A, S, A).reshape(k * k, block.s, block.s)
                Q[sl, sl] += block.quad(AA)[:, :p, :p].reshape(k, k, p, p)
                d2 = derivs[g][2][(slice(None), slice(None)) + idx].reshape(k * k, block.s, block.s)
                R[sl, sl] += block.quad(inv @ d2 @ inv)[:, :p, :p].reshape(k, k, p, p)
        return (P, Q, R) if second else P
