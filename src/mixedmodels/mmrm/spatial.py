"""The REML/ML criterion of an mmrm model with a spatial covariance (``sp_exp``, ``sp_gau``).

Model: y_i = X_i β + ε_i, ε_i ~ N(0, Σ_i), Σ_i = W_i^{-1/2} Σ(θ_g; D_i) W_i^{-1/2}, where D_i are the
Euclidean distances between the coordinates of subject i's observations
(:class:`~mixedmodels.mmrm.structures.SpatialStructure`). There is no visit factor, so there is no
m × m matrix that every Σ_i is a part of: subjects with the same group and the same coordinates (after
sorting their rows by coordinates, which permutes Σ_i and changes nothing) share one Σ_S — with a
visit number as coordinate, as for mmrm's ``fev_data``, that is a handful of patterns; with irregular
measurement times every subject is its own pattern. The patterns are batched by their size s.

With Z_i = √w [X_i y_i] and Y_i = Σ_S⁻¹ Z_i the criterion is that of :mod:`.criterion`,

    f(θ) = ½ (n − p) log 2π + ½ Σ_S n_S log|Σ_S| − ½ Σ log w + ½ log|XᵀV⁻¹X| + ½ r̃ᵀr̃   (REML; ML: n, no log|·|),

and every sum over the m × m matrix of a group there is a sum over the patterns here:

* gradient: ∂f/∂θ_k = ½ Σ_S tr(∂Σ_S/∂θ_k G_S), G_S = n_S Σ_S⁻¹ − Σ_{i∈S} Y_i (u uᵀ + [REML] diag(C, 0)) Y_iᵀ;
* Hessian: H_kl = ½ Σ_S tr(∂²Σ_S,kl G_S) + Σ_S tr(∂Σ_k Σ_S⁻¹ ∂Σ_l (K_S − ½ n_S Σ_S⁻¹)) − ½ tr(P̄_k P̄_l) − ĉ_kᵀĉ_l
  with K_S, P̄_k, ĉ_k as in :meth:`MmrmCriterion.hessian`;
* P̃_k = Σ_i Y_ixᵀ ∂Σ_k Y_ix, Σ W Q = Σ_i Y_ixᵀ Ω_S Y_ix, Σ W R = Σ_i Y_ixᵀ (Σ_kl W_kl ∂²Σ_S,kl) Y_ix.

Cost of an evaluation: one batched Cholesky per pattern size, O(n_patterns s³ + n s (p + 1)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DesignError
from .criterion import Block, CriterionState, MmrmCriterion, batched_inverse
from .structures import make_spatial_structure

__all__ = ["SpatialBlock", "SpatialCriterion"]

_MEMORY_LIMIT = 4 * 2 ** 30
"""Bytes the per-pattern matrices may take (Σ_S and its 2 + 4 derivatives, 8 bytes each)."""

_UNIT = np.array([[0.0], [1.0]])
"""Two points at distance 1: mmrm reports Σ of them as the covariance estimate (``VarCorr``)."""


@dataclass
class SpatialBlock(Block):
    """The subjects of one group with the same coordinates: ``coordinates``, ndarray (s, dim), sorted
    (``rows`` are each subject's rows at those points)."""

    coordinates: np.ndarray = None


@dataclass
class _SizeClass:
    """The patterns of one size s, batched (consecutive in ``blocks``): their D^a and their subjects' Z."""

    Da: np.ndarray        # (n_blocks, s, s)
    group: np.ndarray     # (n_blocks,)
    count: np.ndarray     # (n_blocks,) subjects per block
    owner: np.ndarray     # (n_subjects,) block of each subject, 0-based within the class
    Z: np.ndarray         # (n_subjects, s, p + 1)
    onehot: np.ndarray    # (n_groups, n_subjects): subject's group


class SpatialCriterion(MmrmCriterion):
    """f(θ) of an mmrm model with a spatial covariance, its gradient, Hessian and the df terms.

    Same interface as :class:`~mixedmodels.mmrm.criterion.MmrmCriterion` (module docstring).

    Parameters
    ----------
    data : MmrmData          with ``coordinates``
    structure : str          "sp_exp" or "sp_gau"
    reml : bool
    """

    # -- set-up --------------------------------------------------------------------------------
    def _make_structure(self, name: str):
        """The spatial structure (m, the most observations of a subject, is set by :meth:`_layout`)."""
        return make_spatial_structure(name)

    def _layout(self, Z: np.ndarray) -> None:
        d = self.data
        coords = d.coordinates
        order = np.lexsort(tuple(coords[:, j] for j in reversed(range(coords.shape[1]))) + (d.subject,))
        subj = d.subject[order]
        starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        groups = np.zeros(len(starts), int) if d.group is None else d.group[subj[starts]]
        self.m = int(counts.max())
        self.blocks, self.classes = [], []
        position, need = 0, 0
        for s in np.unique(counts):
            members = np.flatnonzero(counts == s)
            rows = order[starts[members][:, None] + np.arange(s)]  # (n_s, s) data rows, by coordinates
            key = np.column_stack([groups[members], coords[rows].reshape(len(members), -1)])
            _, first, owner = np.unique(key, axis=0, return_index=True, return_inverse=True)
            need += 7 * 8 * len(first) * int(s) ** 2
            if need > _MEMORY_LIMIT:
                largest = d.subject_labels[subj[starts[np.argmax(counts)]]]
                raise DesignError(
                    f"the spatial covariance needs one {self.m} x {self.m} matrix (and its derivatives) per subject "
                    f"pattern, more than {_MEMORY_LIMIT / 2 ** 30:g} GiB here: subject {largest!r} has {self.m} rows. "
                    f"Is {d.formula.subject!r} the subject identifier?")
            owner = owner.ravel()
            by_block = np.argsort(owner, kind="stable")
            rows, owner = rows[by_block], owner[by_block]
            count = np.bincount(owner, minlength=len(first))
            bounds = np.r_[0, np.cumsum(count)]
            for b in range(len(first)):
                r = rows[bounds[b]:bounds[b + 1]]
                self.blocks.append(SpatialBlock(int(groups[members[first[b]]]), r, Z[r], position + int(bounds[b]),
                                                position + int(bounds[b + 1]), coordinates=coords[r[0]]))
            position += len(members)
            block_group = groups[members[first]]
            subject_group = block_group[owner]
            self.classes.append(_SizeClass(
                Da=self.structure.scaled_distances(coords[rows[bounds[:-1]]]),
                group=block_group, count=count.astype(float), owner=owner, Z=Z[rows],
                onehot=(subject_group[None, :] == np.arange(self.n_groups)[:, None]).astype(float)))

    def _check_identifiable(self) -> None:
        self._check_counts()
        for g in range(self.n_groups):
            if max(b.s for b in self.blocks if b.group == g) < 2:
                raise DesignError(
                    f"no subject{self._where(g)} has two observations: the correlation parameter of the "
                    f"{self.structure.name} covariance cannot be estimated")

    @property
    def cov_labels(self) -> list[str]:
        """Row and column names of ``fit.cov``: mmrm's "0" and "1" (two points at unit distance)."""
        return ["0", "1"]

    def _theta_blocks(self, theta: np.ndarray, group: np.ndarray) -> np.ndarray:
        """θ of each block's group, (n_blocks, 2)."""
        return np.stack(self.split(theta))[group]

    # -- the criterion -----------------------------------------------------------------------
    def state(self, theta: np.ndarray) -> CriterionState | None:
        """f(θ), β̂(θ) and the factors at θ; None when some Σ_S is not positive definite.

        In the state, ``sigmas`` are mmrm's covariance estimate per group (two points at unit
        distance), ``chol`` the Cholesky factor of each pattern, and ``E`` and ``Y`` lists with one
        array per size class (Σ_S⁻¹ of its patterns, Σ_S⁻¹ Z_i of its subjects).
        """
        theta = np.asarray(theta, dtype=float)
        q = self.p + 1
        M = np.zeros((q, q))
        logdet = 0.0
        chol, E, Y = [], [], []
        for c in self.classes:
            factored = batched_inverse(self.structure.derivatives(self._theta_blocks(theta, c.group), c.Da, 0)[0])
            if factored is None:
                return None
            L, Ec, half_logdet = factored
            Yc = np.matmul(Ec[c.owner], c.Z)
            M += c.Z.reshape(-1, q).T @ Yc.reshape(-1, q)
            logdet += 2.0 * (c.count * half_logdet).sum()
            chol.extend(L)
            E.append(Ec)
            Y.append(Yc)
        solved = self._solve(M, logdet)
        if solved is None:
            return None
        unit = [self.structure.sigma_at(t, _UNIT) for t in self.split(theta)]
        return CriterionState(theta, *solved, unit, chol, E, Y)

    def block_sigma(self, state: CriterionState, b: int) -> np.ndarray:
        """Σ_S of block ``b`` (s × s), rows and columns in the order of ``blocks[b].rows``."""
        return state.chol[b] @ state.chol[b].T

    def subject_sigma(self, state: CriterionState, group: int, where: np.ndarray) -> np.ndarray:
        """Σ of a subject of ``group`` observed at the points ``where`` (s, dim)."""
        return self.structure.sigma_at(self.split(state.theta)[group], where)

    def whiten(self, state: CriterionState, r: np.ndarray) -> np.ndarray:
        """L_i⁻¹ r_i for every subject with Σ_i = L_i L_iᵀ taken in the order of the subject's rows in the
        data (mmrm sorts a spatial model's rows by subject only), r of length n."""
        out = np.empty(len(r))
        for b, block in enumerate(self.blocks):
            perm = np.argsort(block.rows, axis=1)  # data order of each subject's rows
            S = self.block_sigma(state, b)
            L = np.linalg.cholesky(S[perm[:, :, None], perm[:, None, :]])
            rows = np.take_along_axis(block.rows, perm, axis=1)
            out[rows] = np.linalg.solve(L, r[rows][..., None])[..., 0]
        return out

    def _gradient_matrices(self, state: CriterionState) -> list:
        """G_S = n_S Σ_S⁻¹ − Σ_{i∈S} Y_i (u uᵀ + [REML] diag(C, 0)) Y_iᵀ per pattern, one array per size class."""
        p = self.p
        u = np.r_[-state.beta, 1.0]
        B = np.outer(u, u)
        if self.reml:
            B[:p, :p] += state.C
        out = []
        for c, Ec, Yc in zip(self.classes, state.E, state.Y):
            G = c.count[:, None, None] * Ec
            np.subtract.at(G, c.owner, (Yc @ B) @ Yc.transpose(0, 2, 1))
            out.append(G)
        return out

    def _to_theta(self, values: np.ndarray, group: np.ndarray) -> np.ndarray:
        """Sum per-block values (n_blocks, k, ...) into θ's layout (n_theta, ...) by the blocks' groups."""
        out = np.zeros((self.n_groups,) + values.shape[1:])
        np.add.at(out, group, values)
        return out.reshape((self.n_theta,) + values.shape[2:])

    def gradient(self, theta: np.ndarray, state: CriterionState | None = None) -> np.ndarray:
        """∂f/∂θ = ½ Σ_S tr(∂Σ_S/∂θ_k G_S) (module docstring)."""
        state = self.state(theta) if state is None else state
        grad = np.zeros(self.n_theta)
        for c, G in zip(self.classes, self._gradient_matrices(state)):
            dS = self.structure.derivatives(self._theta_blocks(state.theta, c.group), c.Da, 1)[1]
            grad += self._to_theta(0.5 * np.einsum("bkij,bij->bk", dS, G), c.group)
        return grad

    def _sandwich(self, c: _SizeClass, W: np.ndarray, A: np.ndarray) -> np.ndarray:
        """Σ_i W_iᵀ A_{S_i} W_i summed within each group: A (n_blocks, ..., s, s), W (n_subjects, s, r)."""
        per_subject = np.einsum("iaq,i...ab,ibr->i...qr", W, A[c.owner], W, optimize=True)
        return np.tensordot(c.onehot, per_subject, axes=([1], [0]))  # (n_groups, ..., r, r)

    def hessian(self, theta: np.ndarray, state: CriterionState | None = None) -> np.ndarray:
        """The exact Hessian ∂²f/∂θ_k∂θ_l (module docstring; the terms of :meth:`MmrmCriterion.hessian`)."""
        state = self.state(theta) if state is None else state
        p, k = self.p, self.k
        Bhat = self._bhat(state)
        H = np.zeros((self.n_theta, self.n_theta))
        Pbar = np.zeros((self.n_theta, p + 1, p + 1))
        for c, G, Ec, Yc in zip(self.classes, self._gradient_matrices(state), state.E, state.Y):
            _, dS, d2S = self.structure.derivatives(self._theta_blocks(state.theta, c.group), c.Da, 2)
            What = Yc @ Bhat
            Wk = What if self.reml else What[..., p:]
            K = -0.5 * c.count[:, None, None] * Ec
            np.add.at(K, c.owner, Wk @ Wk.transpose(0, 2, 1))
            X = Ec[:, None] @ dS @ K[:, None]  # Σ_S⁻¹ ∂Σ_l (K_S − ½ n_S Σ_S⁻¹)
            per_block = 0.5 * np.einsum("bklij,bij->bkl", d2S, G) + np.einsum("bkij,blji->bkl", dS, X)
            blocks = np.zeros((self.n_groups, k, k))
            np.add.at(blocks, c.group, per_block)
            for g in range(self.n_groups):
                H[g * k:(g + 1) * k, g * k:(g + 1) * k] += blocks[g]
            Pbar += self._sandwich(c, What, dS).reshape(self.n_theta, p + 1, p + 1)
        return self._hessian_end(H, Pbar)

    # -- derivative terms at θ̂ -------------------------------------------------------------------
    def derivative_terms(self, state: CriterionState) -> np.ndarray:
        """P̃_k = Σ_i Y_ixᵀ ∂Σ_k Y_ix, shape (n_theta, p, p) (as :meth:`MmrmCriterion.derivative_terms`)."""
        p = self.p
        P = np.zeros((self.n_theta, p, p))
        for c, Yc in zip(self.classes, state.Y):
            dS = self.structure.derivatives(self._theta_blocks(state.theta, c.group), c.Da, 1)[1]
            P += self._sandwich(c, Yc[..., :p], dS).reshape(self.n_theta, p, p)
        return P

    def kenward_roger_sums(self, state: CriterionState, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Σ_kl W_kl Q_kl and Σ_kl W_kl R_kl (p × p): Ω_S = Σ_kl W_kl ∂Σ_k Σ_S⁻¹ ∂Σ_l and Σ_kl W_kl ∂²Σ_S,kl
        per pattern, with W restricted to the pattern's group (Q and R vanish between groups)."""
        p, k = self.p, self.k
        WQ = np.zeros((p, p))
        WR = np.zeros((p, p))
        Wg = np.stack([W[g * k:(g + 1) * k, g * k:(g + 1) * k] for g in range(self.n_groups)])
        for c, Ec, Yc in zip(self.classes, state.E, state.Y):
            _, dS, d2S = self.structure.derivatives(self._theta_blocks(state.theta, c.group), c.Da, 2)
            Wb = Wg[c.group]  # (n_blocks, k, k)
            Omega = np.einsum("bkij,bkl,bljm->bim", dS, Wb, Ec[:, None] @ dS, optimize=True)
            D2 = np.einsum("bkl,bklij->bij", Wb, d2S)
            Yx = Yc[..., :p]
            WQ += self._sandwich(c, Yx, Omega).sum(axis=0)
            WR += self._sandwich(c, Yx, D2).sum(axis=0)
        return WQ, WR
