"""The REML/ML criterion of a marginal model with a visit covariance, by visit pattern.

Model (DESIGN §6): y_i = X_i β + ε_i, ε_i ~ N(0, Σ_i), Σ_i = W_i^{-1/2} Σ[S_i, S_i] W_i^{-1/2}, where
S_i are the visits subject i has, Σ = Σ_g(θ_g) the covariance of the subject's group and W_i its
prior weights. Scaling the rows of [X y] by √w turns every subject into an unweighted one, so
subjects with the same group and visit pattern S share Σ_S = Σ[S, S]: it is factored once per
pattern (the patterns of one size in one batched call), and its inverse E_S is embedded in an
m × m matrix (zero outside S).

Every subject's scaled rows Z_i = [X_i y_i] are kept as an m × (p + 1) array with zero rows at its
missing visits, so that with Y_i = E_{S_i} Z_i (one batched product over all subjects)

    M = Σ_i Z_iᵀ Y_i = [[XᵀV⁻¹X, XᵀV⁻¹y], [·, yᵀV⁻¹y]],

β̂(θ) = (XᵀV⁻¹X)⁻¹XᵀV⁻¹y and r̃ᵀr̃ = yᵀV⁻¹y − (XᵀV⁻¹y)ᵀβ̂; mmrm's objective (the negative
log-likelihood, half of −2ℓ) is

    f(θ) = ½ (n − p) log 2π + ½ Σ_S n_S log|Σ_S| − ½ Σ log w + ½ log|XᵀV⁻¹X| + ½ r̃ᵀr̃    (REML)
    f(θ) = ½ n log 2π + ½ Σ_S n_S log|Σ_S| − ½ Σ log w + ½ r̃ᵀr̃                        (ML).

Its gradient is ∂f/∂θ_k = ½ tr(∂Σ_g/∂θ_k G_g) with
G_g = Σ_S n_S E_S − Σ_i Y_i (u uᵀ + [REML] diag(C, 0)) Y_iᵀ over the group's subjects,
u = (−β̂, 1), C = (XᵀV⁻¹X)⁻¹: one m × m matrix per group, one inner product per parameter. Cost of
an evaluation: O(n_subjects m² (p + 1) + n m (p + 1)) for the products and one Cholesky per pattern.
Kenward–Roger's P, Q, R and Satterthwaite's Jacobian of C contract ∂Σ and ∂²Σ with
T = Σ_i Y_i ⊗ Y_i (per group) and, for Q, with the per-pattern T_S and E_S
(:meth:`MmrmCriterion.derivative_terms`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DesignError
from .data import MmrmData
from .structures import CovarianceStructure, make_structure

__all__ = ["Block", "PatternBlock", "MmrmCriterion", "CriterionState"]

_LOG_2PI = np.log(2.0 * np.pi)


def batched_inverse(S: np.ndarray):
    """Lower Cholesky factors L, inverses S⁻¹ and ½ log|S| of a stack of matrices S (b, s, s).

    None unless every S is numerically positive definite (finite L with a positive diagonal).
    """
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        return None
    diag = np.diagonal(L, axis1=1, axis2=2)
    if not (np.all(np.isfinite(L)) and np.all(diag > 0)):
        return None
    Linv = np.linalg.inv(L)
    return L, Linv.transpose(0, 2, 1) @ Linv, np.log(diag).sum(axis=1)


@dataclass
class Block:
    """The subjects of one group that share one Σ_S (s × s).

    Attributes
    ----------
    group : int
    rows : ndarray of int (n, s)       data rows of each subject, in the pattern's order
    Z : ndarray (n, s, p + 1)          √w-scaled [X y] of those rows
    start, stop : int                  the block's subjects in the criterion's subject order
    """

    group: int
    rows: np.ndarray
    Z: np.ndarray
    start: int
    stop: int

    @property
    def n(self) -> int:
        return self.stop - self.start

    @property
    def s(self) -> int:
        return self.rows.shape[1]


@dataclass
class PatternBlock(Block):
    """The subjects of one group with one visit pattern: ``visits``, ndarray of int (s,), increasing."""

    visits: np.ndarray = None


@dataclass
class CriterionState:
    """Everything known at one θ.

    Attributes
    ----------
    theta, value : θ and f(θ)
    beta, C : β̂(θ) and (XᵀV⁻¹X)⁻¹
    sigmas : list of m × m Σ_g, one per group
    chol : list of L_S (lower Cholesky factor of Σ_S), one per pattern block
    E : ndarray (n_blocks, m, m)      Σ_S⁻¹ embedded (zero outside the pattern's visits)
    Y : ndarray (n_subjects, m, p + 1)  E_{S_i} Z_i
    """

    theta: np.ndarray
    value: float
    beta: np.ndarray
    C: np.ndarray
    sigmas: list
    chol: list
    E: np.ndarray
    Y: np.ndarray

    @property
    def inv(self) -> list:
        """Σ_S⁻¹ per pattern block (s × s)."""
        return [np.linalg.inv(L @ L.T) for L in self.chol]


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
        self.structure = self._make_structure(structure)
        self.n_groups = 1 if data.group_levels is None else len(data.group_levels)
        self.k = self.structure.n_theta
        self.n_theta = self.k * self.n_groups
        X, y, w = data.X, data.y, data.weights
        self.n, self.p = X.shape
        self.log_w = float(np.log(w).sum())
        self._layout(np.column_stack([X, y]) * np.sqrt(w)[:, None])
        self._check_identifiable()

    # -- set-up --------------------------------------------------------------------------------
    def _make_structure(self, name: str) -> CovarianceStructure:
        """The structure of the m visit levels (sets m, the number of time points)."""
        self.m = len(self.data.visit_levels)
        return make_structure(name, self.m)

    def _layout(self, Z: np.ndarray) -> None:
        """Patterns, the embedded per-subject arrays, and the batches of patterns by size."""
        d, m = self.data, self.m
        order = np.lexsort((d.visit, d.subject))  # rows by subject, then visit (as mmrm sorts)
        subj = d.subject[order]
        starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        n_subj = len(starts)
        groups = np.zeros(n_subj, int) if d.group is None else d.group[subj[starts]]
        owner = np.repeat(np.arange(n_subj), counts)
        mask = np.zeros((n_subj, m), bool)
        mask[owner, d.visit[order]] = True
        keys = np.column_stack([groups, np.packbits(mask, axis=1)])
        _, first, pattern = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        pattern = pattern.ravel()  # patterns sorted by (group, visits): a group's patterns are contiguous
        rank = np.argsort(np.lexsort((np.arange(n_subj), pattern)))  # subject → position, sorted by pattern
        self.pattern_of = np.sort(pattern)
        self.Zf = np.zeros((n_subj, m, Z.shape[1]))
        self.Zf[rank[owner], d.visit[order]] = Z[order]
        self.row_of = np.full((n_subj, m), -1)
        self.row_of[rank[owner], d.visit[order]] = order
        bounds = np.r_[np.flatnonzero(np.r_[True, self.pattern_of[1:] != self.pattern_of[:-1]]), n_subj]
        self.blocks = []
        for b in range(len(first)):
            lo, hi = bounds[b], bounds[b + 1]
            visits = np.flatnonzero(mask[first[b]])
            rows = self.row_of[lo:hi][:, visits]
            self.blocks.append(PatternBlock(int(groups[first[b]]), rows, Z[rows], int(lo), int(hi), visits=visits))
        self.block_group = np.array([b.group for b in self.blocks])
        self.block_n = np.array([b.n for b in self.blocks], dtype=float)
        self.by_size = {}
        for size in sorted({b.s for b in self.blocks}):
            idx = np.array([i for i, b in enumerate(self.blocks) if b.s == size])
            self.by_size[size] = (idx, np.stack([self.blocks[i].visits for i in idx]))
        self.group_range = []
        for g in range(self.n_groups):
            members = [b for b in self.blocks if b.group == g]
            self.group_range.append(slice(members[0].start, members[-1].stop) if members else slice(0, 0))

    def _check_counts(self) -> None:
        """At least as many observations as parameters (θ and β)."""
        if self.n_theta > self.n - self.p:
            raise DesignError(
                f"too many parameters for the data: the {self.structure.name} covariance has {self.n_theta} "
                f"parameters and the fixed effects {self.p}, but there are only {self.n} observations")

    def _where(self, g: int) -> str:
        """" in group 'X'" for grouped structures, else ""."""
        return f" in group {self.data.group_levels[g]!r}" if self.data.group_levels is not None else ""

    def _check_identifiable(self) -> None:
        d = self.data
        self._check_counts()
        for g in range(self.n_groups):
            seen = np.zeros((self.m, self.m), int)
            for block in self.blocks:
                if block.group == g:
                    seen[np.ix_(block.visits, block.visits)] += block.n
            where = self._where(g)
            if self.structure.n_cor and not np.any(np.tril(seen, -1)):
                raise DesignError(
                    f"no subject{where} has two visits: the correlation parameters of the {self.structure.name} "
                    "covariance cannot be estimated")
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
                n_subjects = sum(b.n for b in self.blocks if b.group == g)
                most = max(b.s for b in self.blocks if b.group == g)
                if most > n_subjects:
                    # Σ → c P_V + εI, V the span of the subjects' residuals (dim ≤ n_subjects): the
                    # likelihood grows without bound as ε → 0, because the pattern of `most` visits is singular
                    raise DesignError(
                        f"too many parameters for the data: a subject{where} has {most} visits but there are only "
                        f"{n_subjects} subjects{where}; an unstructured (us) covariance of their visits has no "
                        "maximum-likelihood estimate (it would be singular): use a structured covariance")

    @property
    def cov_labels(self) -> list[str]:
        """Row and column names of ``fit.cov``: the visit levels."""
        return list(self.data.visit_levels)

    def block_sigma(self, state: CriterionState, b: int) -> np.ndarray:
        """Σ_S of block ``b`` (s × s): the rows and columns of its group's Σ at the pattern's visits."""
        block = self.blocks[b]
        return state.sigmas[block.group][np.ix_(block.visits, block.visits)]

    def subject_sigma(self, state: CriterionState, group: int, where: np.ndarray) -> np.ndarray:
        """Σ of a subject of ``group`` observed at the visits ``where`` (indices into the visit levels)."""
        return state.sigmas[group][np.ix_(where, where)]

    def whiten(self, state: CriterionState, r: np.ndarray) -> np.ndarray:
        """L_i⁻¹ r_i for every subject (Σ_S = L_S L_Sᵀ, the subject's rows in visit order), r of length n."""
        out = np.empty(len(r))
        for block, L in zip(self.blocks, state.chol):
            out[block.rows] = np.linalg.solve(L, r[block.rows].T).T
        return out

    def split(self, theta: np.ndarray) -> list[np.ndarray]:
        """θ as one parameter vector per group (mmrm concatenates them in group-level order)."""
        theta = np.asarray(theta, dtype=float)
        return [theta[g * self.k:(g + 1) * self.k] for g in range(self.n_groups)]

    def start(self) -> np.ndarray:
        """mmrm's starting values (``std_start``), repeated per group."""
        return np.tile(self.structure.start(), self.n_groups)

    # -- the criterion -----------------------------------------------------------------------
    def _factor(self, theta: np.ndarray):
        """Σ_g per group, L_S per block, the embedded inverses E and Σ_S n_S log|Σ_S|.

        None unless every Σ_g is positive definite (mmrm factors the full Σ_g; a pattern's Σ_S being
        positive definite is not enough).
        """
        sigmas = [self.structure.sigma(t) for t in self.split(theta)]
        sig = np.stack(sigmas)
        try:
            np.linalg.cholesky(sig)
        except np.linalg.LinAlgError:
            return None
        m = self.m
        E = np.zeros((len(self.blocks), m, m))
        chol = [None] * len(self.blocks)
        logdet = 0.0
        for idx, V in self.by_size.values():
            factored = batched_inverse(sig[self.block_group[idx][:, None, None], V[:, :, None], V[:, None, :]])
            if factored is None:
                return None
            L, E[idx[:, None, None], V[:, :, None], V[:, None, :]], half_logdet = factored
            logdet += 2.0 * (self.block_n[idx] * half_logdet).sum()
            for j, b in enumerate(idx):
                chol[b] = L[j]
        return sigmas, chol, E, logdet

    def state(self, theta: np.ndarray) -> CriterionState | None:
        """f(θ), β̂(θ) and the factors at θ; None when some Σ_S is not positive definite."""
        theta = np.asarray(theta, dtype=float)
        factors = self._factor(theta)
        if factors is None:
            return None
        sigmas, chol, E, logdet = factors
        q = self.p + 1
        Y = np.matmul(E[self.pattern_of], self.Zf)
        M = self.Zf.reshape(-1, q).T @ Y.reshape(-1, q)
        solved = self._solve(M, logdet)
        return None if solved is None else CriterionState(theta, *solved, sigmas, chol, E, Y)

    def _solve(self, M: np.ndarray, logdet: float):
        """f, β̂ and C = (XᵀV⁻¹X)⁻¹ from M = [X y]ᵀV⁻¹[X y] and Σ_S n_S log|Σ_S|; None if not finite."""
        p = self.p
        try:
            R = np.linalg.cholesky(M[:p, :p])
        except np.linalg.LinAlgError:
            return None
        Rinv = np.linalg.inv(R)
        C = Rinv.T @ Rinv
        beta = C @ M[:p, p]
        rss = M[p, p] - M[:p, p] @ beta
        dof = self.n - p if self.reml else self.n
        value = 0.5 * (dof * _LOG_2PI + logdet - self.log_w + rss)
        if self.reml:
            value += np.log(np.diag(R)).sum()
        return (float(value), beta, C) if np.isfinite(value) else None

    def objective(self, theta: np.ndarray) -> float:
        """f(θ) = −log L (REML or ML); +inf where Σ is not positive definite."""
        state = self.state(theta)
        return np.inf if state is None else state.value

    def gradient(self, theta: np.ndarray, state: CriterionState | None = None) -> np.ndarray:
        """∂f/∂θ = ½ tr(∂Σ_g/∂θ_k G_g) (module docstring)."""
        state = self.state(theta) if state is None else state
        G = self._gradient_matrices(state)
        return np.concatenate([0.5 * np.einsum("kab,ab->k", self.structure.derivatives(t, 1)[1], G[g])
                               for g, t in enumerate(self.split(state.theta))])

    def value_and_gradient(self, theta: np.ndarray):
        """(f, ∂f/∂θ) for the optimiser: (inf, 0) where Σ is not positive definite."""
        state = self.state(theta)
        if state is None:
            return np.inf, np.zeros(self.n_theta)
        return state.value, self.gradient(theta, state)

    def hessian(self, theta: np.ndarray, state: CriterionState | None = None) -> np.ndarray:
        """The exact Hessian ∂²f/∂θ_k∂θ_l (what mmrm gets from TMB's automatic differentiation).

        With P = V⁻¹ − V⁻¹XCXᵀV⁻¹, V_k = ∂V/∂θ_k, V_kl = ∂²V/∂θ_k∂θ_l and Py = V⁻¹Zu,

            H_kl = ½ tr(P V_kl) − ½ tr(P V_k P V_l) + yᵀP V_k P V_l P y − ½ yᵀP V_kl P y      (REML)

        (ML: V⁻¹ in place of P in the two traces). Write C = U Uᵀ and Ŵ_i = Y_i [[U, −β], [0, 1]]
        = [W_i r̃_i] (m × (p + 1)). The terms collect into

            H_kl = ½ tr(∂²Σ_kl G) + Σ_S tr(∂Σ_k E_S ∂Σ_l (K_S − ½ n_S E_S)) − ½ tr(P̄_k P̄_l) − ĉ_kᵀĉ_l,

        G the gradient's matrix, K_S = Σ_{i∈S} Ŵ_i Ŵ_iᵀ (REML; r̃_i r̃_iᵀ only for ML), P̄_k = Σ_i W_iᵀ∂Σ_kW_i
        (REML only) and ĉ_k = Σ_i W_iᵀ ∂Σ_k r̃_i: O(n_subjects m² p² + n_patterns k² s²).
        """
        state = self.state(theta) if state is None else state
        p, k, m = self.p, self.k, self.m
        What = state.Y @ self._bhat(state)
        H = np.zeros((self.n_theta, self.n_theta))
        Pbar = np.zeros((self.n_theta, p + 1, p + 1))
        G = self._gradient_matrices(state)
        for g, t in enumerate(self.split(state.theta)):
            sl = slice(g * k, (g + 1) * k)
            _, dS, d2S = self.structure.derivatives(t, 2)
            H[sl, sl] += 0.5 * np.einsum("klab,ab->kl", d2S, G[g])
            Wt = What[self.group_range[g]].transpose(1, 2, 0).reshape(m * (p + 1), -1)
            T = (Wt @ Wt.T).reshape(m, p + 1, m, p + 1).transpose(0, 2, 1, 3).reshape(m * m, -1)
            Pbar[sl] = (dS.reshape(k, m * m) @ T).reshape(k, p + 1, p + 1)
            for b, block in enumerate(self.blocks):
                if block.group != g:
                    continue
                v = block.visits
                Wb = What[block.start:block.stop][:, v] if self.reml else What[block.start:block.stop][:, v, p:]
                Eb = state.E[b][np.ix_(v, v)]
                K = np.einsum("iaq,ibq->ab", Wb, Wb) - 0.5 * block.n * Eb
                dSv = dS[:, v][:, :, v]
                H[sl, sl] += np.einsum("kab,lba->kl", dSv, Eb @ dSv @ K)
        return self._hessian_end(H, Pbar)

    def _bhat(self, state: CriterionState) -> np.ndarray:
        """[[U, −β̂], [0, 1]] with U Uᵀ = C: Ŵ_i = Y_i B̂ = [W_i r̃_i] (:meth:`hessian`)."""
        p = self.p
        Bhat = np.zeros((p + 1, p + 1))
        Bhat[:p, :p] = np.linalg.cholesky(state.C)
        Bhat[:p, p] = -state.beta
        Bhat[p, p] = 1.0
        return Bhat

    def _hessian_end(self, H: np.ndarray, Pbar: np.ndarray) -> np.ndarray:
        """H − ĉĉᵀ − [REML] ½ tr(P̄_k P̄_l), symmetrised (:meth:`hessian`)."""
        p = self.p
        c = Pbar[:, :p, p]
        H = H - c @ c.T
        if self.reml:
            H -= 0.5 * np.einsum("kab,lba->kl", Pbar[:, :p, :p], Pbar[:, :p, :p])
        return (H + H.T) / 2

    def _gradient_matrices(self, state: CriterionState) -> list:
        """G_g = Σ_S n_S E_S − Σ_i Y_i (u uᵀ + [REML] diag(C, 0)) Y_iᵀ per group (m × m)."""
        p, m = self.p, self.m
        u = np.r_[-state.beta, 1.0]
        B = np.outer(u, u)
        if self.reml:
            B[:p, :p] += state.C
        YB = state.Y @ B
        out = []
        for g in range(self.n_groups):
            rows = self.group_range[g]
            in_group = self.block_group == g
            G = np.einsum("b,bij->ij", self.block_n[in_group], state.E[in_group])
            G -= (YB[rows] @ state.Y[rows].transpose(0, 2, 1)).sum(axis=0)  # batched: no copies of Y
            out.append(G)
        return out

    # -- derivative terms at θ̂ -------------------------------------------------------------------
    def derivative_terms(self, state: CriterionState) -> np.ndarray:
        """P̃_k = Xᵀ V⁻¹ ∂V/∂θ_k V⁻¹ X = Σ_i Y_ixᵀ ∂Σ_k Y_ix, shape (n_theta, p, p).

        mmrm's P_k = Xᵀ ∂V⁻¹/∂θ_k X is −P̃_k; ∂C/∂θ_k = C P̃_k C.
        """
        p, k, m = self.p, self.k, self.m
        P = np.zeros((self.n_theta, p, p))
        for g, t in enumerate(self.split(state.theta)):
            Yt = state.Y[self.group_range[g]][..., :p].transpose(1, 2, 0).reshape(m * p, -1)
            T = (Yt @ Yt.T).reshape(m, p, m, p).transpose(0, 2, 1, 3).reshape(m * m, p * p)
            P[g * k:(g + 1) * k] = (self.structure.derivatives(t, 1)[1].reshape(k, m * m) @ T).reshape(k, p, p)
        return P

    def kenward_roger_sums(self, state: CriterionState, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ_kl W_kl Q_kl and Σ_kl W_kl R_kl (p × p), Q and R as in Kenward–Roger (mmrm ``get_pqr``).

        Q_kl = Xᵀ V⁻¹ ∂V_k V⁻¹ ∂V_l V⁻¹ X and R_kl = Xᵀ V⁻¹ ∂²V_kl V⁻¹ X vanish between groups, so per
        group and pattern only Ω_S = Σ_kl W_kl ∂Σ_k E_S ∂Σ_l (s × s) and Σ_kl W_kl ∂²Σ_kl (m × m) are needed:
        Σ W Q = Σ_i Y_ixᵀ Ω_{S_i} Y_ix, Σ W R = Σ_i Y_ixᵀ (Σ W ∂²Σ) Y_ix.
        """
        p, k = self.p, self.k
        WQ = np.zeros((p, p))
        WR = np.zeros((p, p))
        Yx = state.Y[..., :p]
        for g, t in enumerate(self.split(state.theta)):
            sl = slice(g * k, (g + 1) * k)
            Wg = W[sl, sl]
            _, dS, d2S = self.structure.derivatives(t, 2)
            D2 = np.einsum("kl,klab->ab", Wg, d2S)
            Yg = Yx[self.group_range[g]]
            WR += Yg.reshape(-1, p).T @ (D2 @ Yg).reshape(-1, p)
            for b, block in enumerate(self.blocks):
                if block.group != g:
                    continue
                v = block.visits
                dSv = dS[:, v][:, :, v]
                Eb = state.E[b][np.ix_(v, v)]
                s = len(v)
                WEdS = np.tensordot(Wg, Eb @ dSv, axes=([1], [0]))  # Σ_l W_kl E_S ∂Σ_l, (k, s, s)
                Omega = dSv.transpose(1, 0, 2).reshape(s, -1) @ WEdS.reshape(-1, s)
                Yb = Yx[block.start:block.stop][:, v]
                WQ += Yb.reshape(-1, p).T @ (Omega @ Yb).reshape(-1, p)
        return WQ, WR
