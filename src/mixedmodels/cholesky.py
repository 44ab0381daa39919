"""The blocked Cholesky factor of ΛᵀAΛ + I for a given θ (MixedModels.jl ``updateL!``).

With Z = [Z_0 Z_r], W = [X y] and the blocks of :mod:`mixedmodels.blocks`, the factor of the
augmented system

    Ω = [Λ_0ᵀD0Λ_0 + I      ·                 ]
        [Λ̃_rᵀ[Bz; Bw]Λ_0    Λ̃_rᵀ C Λ̃_r + I_z ]        (Λ̃_r = Λ_r ⊕ I_{p+1})

is computed in two steps:

1. ``L0_j = chol(P_j)``, ``P_j = T_0ᵀ D0_j T_0 + I`` for each level j of term 0 (p_0 × p_0 blocks,
   one compiled loop over the levels);
2. ``M = chol(Λ̃_rᵀ (C − B 𝒲 Bᵀ) Λ̃_r + I_z)`` with B = [Bz; Bw] and 𝒲 = ⊕_j T_0 P_j⁻¹ T_0ᵀ,
   a dense Cholesky of order m = q_r + p + 1 (the Schur complement of step 1).

Then log|L_θ|² = Σ_j log|P_j| + 2 Σ_{i<q_r} log M_ii, R_X is M's X block, and the penalised
residual sum of squares is r²_θ = M_{m,m}². An evaluation costs nothing in n.

The product Bz 𝒲 Bzᵀ (crossed terms) is the costly part; :class:`BlockedCholesky` picks, once,
the cheaper of two ways to form it: a compiled loop over the pairs of non-zeros that share a
level of term 0 (cost Σ_j nnz_j², nothing to precompute — InstEval), or rank-k updates from the
dense level-major Bz, a chunk of levels at a time, when it is filled (many rows per pair of
levels — 10⁶ rows crossed with 200 levels, 10⁸ rows crossed 10⁵ × 10³).
Small models (one term, or scalar crossed terms whose m² q_0 is small) skip all of this: one
compiled call (:func:`._kernels.dense_factor_kernel`) does both steps, which is what makes an evaluation
of sleepstudy cost 8 µs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf

from ._kernels import (csc_times_rows, csc_transpose_times, dense_factor_kernel, first_term_kernel, level_rows_times_v,
                       scaled_schur_rest_block, subtract_crossed_lower)
from ._lazy import lazy_module
from ._threads import lapack_threads_for
from .blocks import CrossProducts, level_major_bz, shallow_copy
from .covariance import scale_columns, scale_rows

sp = lazy_module("scipy.sparse")  # sparse matrices only for crossed terms: not imported for the rest

__all__ = ["BlockedFactor", "BlockedCholesky", "RestLayout"]

# budgets for the one-off choice of how to form Bz 𝒲 Bzᵀ
_MAX_DENSE_BZ = 300_000_000  # doubles (2.4 GB) up to which a sparse Bz may be made dense for the rank-k updates
_SECONDS_PER_PAIR = 2e-9
_SECONDS_PER_FLOP = 3e-11
_MAX_COMPILED_WORK = 2_000_000  # m² q_0 multiply-adds up to which one compiled loop beats BLAS calls
_CHUNK_DOUBLES = 2**22  # temporaries of the dense crossed product (32 MB)


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


@dataclass
class BlockedFactor:
    """L_θ in two blocks, and the pieces of the profiled criterion.

    Attributes
    ----------
    P : ndarray (ℓ_0, p_0, p_0)      T_0ᵀ D0_j T_0 + I
    M : ndarray (m, m)               lower Cholesky factor of the Schur complement
    logdet_L : float                 log|L_θ|² (random-effects part)
    logdet_RX : float                log|R_X|²
    pwrss : float                    r²_θ, the penalised weighted residual sum of squares
    """

    P: np.ndarray
    M: np.ndarray
    logdet_L: float
    logdet_RX: float
    pwrss: float


class _FirstTerm:
    """Per-level quantities of term 0 for a given T_0, batched over its ℓ_0 levels.

    For every level j: P_j = T_0ᵀ D0_j T_0 + I, its lower Cholesky factor L_j, Σ_j log|P_j|, and
    V_j = T_0 L_j⁻ᵀ, so that 𝒲_j = T_0 P_j⁻¹ T_0ᵀ = V_j V_jᵀ; F = Bw V (rows of [X y]ᵀZ_0 times
    V, level by level) gives Bw 𝒲 Bwᵀ = F Fᵀ. One compiled loop (:mod:`._kernels`) does it all.
    """

    def __init__(self, D0: np.ndarray, Bw: np.ndarray):
        self.D0, self.Bw = np.ascontiguousarray(D0), np.ascontiguousarray(Bw)
        self.l0, self.p0 = D0.shape[0], D0.shape[1]

    def compute(self, T0: np.ndarray):
        """(P, Σ log|P_j|, V, F) for T_0; V is None when some P_j is not positive definite."""
        P = np.empty_like(self.D0)
        V = np.empty_like(self.D0)
        F = np.empty_like(self.Bw)
        logdet = first_term_kernel(self.p0)(self.D0, self.Bw, np.ascontiguousarray(T0, dtype=np.float64), P, V, F)
        if not np.isfinite(logdet):
            return P, np.nan, None, None
        return P, logdet, V, F.reshape(self.Bw.shape[0], self.l0 * self.p0)


def _level_major_positions(columns: np.ndarray, rows: np.ndarray, q_r: int, p0: int) -> np.ndarray:
    """Flat index, in the level-major (ℓ_0, q_r, p_0) Bz, of Bz's entry (row r, column c = j p_0 + a)."""
    return (columns // p0) * (q_r * p0) + rows * p0 + columns % p0


def _dense_bz_csc(Bz: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """The level-major (ℓ_0, q_r, p_0) Bz as a q_r × q_0 CSC matrix (row indices sorted), and the flat
    position in Bz of each stored value. One pass over Bz's non-zeros in column order: for p_0 = 1
    the level-major array is already that order (InstEval: 15 ms instead of 70 ms through a dense
    q_r × q_0 transpose)."""
    l0, q_r, p0 = Bz.shape
    by_column = Bz.reshape(l0, q_r) if p0 == 1 else np.ascontiguousarray(Bz.transpose(0, 2, 1)).reshape(-1, q_r)
    flat = by_column.reshape(-1)
    stored = np.flatnonzero(flat != 0)  # on a bool array: 3× faster than on the values
    columns, rows = np.divmod(stored, q_r)
    indptr = np.zeros(l0 * p0 + 1, dtype=np.int64)
    np.cumsum(np.bincount(columns, minlength=l0 * p0), out=indptr[1:])
    csc = sp.csc_matrix((flat[stored], rows, indptr), shape=(q_r, l0 * p0))
    csc.has_sorted_indices = True
    return csc, _level_major_positions(columns, rows, q_r, p0)


class _PairProduct:
    """Bz 𝒲 Bzᵀ (lower triangle) from the pairs of Bz's non-zeros that share a level of term 0.

    Keeps Bz in CSC form (columns of one level contiguous) for the compiled loops of
    :mod:`._kernels`; an evaluation costs Σ_j (non-zeros of level j)² multiply-adds.
    """

    def __init__(self, Bz_csc: sp.csc_matrix, p0: int):
        self.indptr = Bz_csc.indptr.astype(np.int64)
        self.indices = Bz_csc.indices.astype(np.int64)
        self.data = Bz_csc.data.astype(np.float64)
        self.p0, self.q_r = p0, Bz_csc.shape[0]

    def times_rows(self, G: np.ndarray) -> np.ndarray:
        """Bz Gᵀ (q_r × n_w) for G (n_w × q_0)."""
        out = np.empty((self.q_r, G.shape[0]))
        csc_times_rows(self.indptr, self.indices, self.data, np.ascontiguousarray(G), out)
        return out

    def transpose_times(self, v: np.ndarray) -> np.ndarray:
        """Bzᵀ v (q_0,)."""
        out = np.empty(len(self.indptr) - 1)
        csc_transpose_times(self.indptr, self.indices, self.data, np.ascontiguousarray(v, dtype=np.float64), out)
        return out

    def subtract_from(self, S: np.ndarray, weights: np.ndarray) -> None:
        """S[:q_r, :q_r] −= Bz 𝒲 Bzᵀ (lower triangle)."""
        subtract_crossed_lower(S, self.indptr, self.indices, self.data, self.p0, weights)

    def scaled_block(self, S: np.ndarray, C: np.ndarray, weights: np.ndarray, scale: np.ndarray) -> None:
        """Lower triangle of S[:q_r, :q_r] ← diag(s)(C − Bz 𝒲 Bzᵀ)diag(s) + I, fused (scalar terms)."""
        scaled_schur_rest_block(S, C, self.q_r, self.indptr, self.indices, self.data, self.p0, weights, scale)


class BlockedCholesky:
    """Everything about the factorisation that does not change with θ, fixed when A is formed.

    Parameters
    ----------
    cross : CrossProducts
    rest : RestLayout
        Terms 1..K-1.
    p : int
        Number of fixed-effect columns.
    """

    def __init__(self, cross: CrossProducts, rest: RestLayout, p: int):
        self.cross, self.rest, self.p = cross, rest, p
        self.l0, self.p0 = cross.D0.shape[0], cross.D0.shape[1]
        self.n_w = cross.Bw.shape[0]
        self.first = _FirstTerm(cross.D0, cross.Bw)
        self.q_r = rest.q
        self.diag_rest = np.arange(self.q_r)
        self.scalar_rest = all(size == 1 for size in rest.sizes)
        self.pairs = self.dense_Bz = self.upper_rest = self.bz_csr = self._pair_positions = None
        self.seconds_per_evaluation = 0.0  # estimated, for crossed terms (the Schur complement's work)
        if rest.q:
            self._choose_crossed_product(cross)
        # small enough for the compiled all-in-one factorisation (its C − FFᵀ loop is not BLAS)
        self.coupled = None
        self._free_buffers: list[tuple[np.ndarray, ...]] = []  # work arrays of criterion_parts
        m = cross.C.shape[0]
        if m * m * self.l0 * self.p0 <= _MAX_COMPILED_WORK and (not rest.q or (self.dense_Bz is not None
                                                                              and self.scalar_rest)):
            self.coupled = self._coupled_rows()

    def _coupled_rows(self) -> np.ndarray:
        """B = [Bz; Bw] as (m, ℓ_0, p_0), the rows coupled to term 0, for the compiled factorisation."""
        parts = ([self.dense_Bz.transpose(1, 0, 2)] if self.rest.q else []) + [self.cross.Bw]
        return np.ascontiguousarray(np.concatenate(parts, axis=0))

    def with_cross(self, cross: CrossProducts) -> "BlockedCholesky":
        """The same choices (how to form Bz 𝒲 Bzᵀ, compiled or not) for other cross-products of the same
        model: PIRLS forms A at new weights at every step and keeps the strategy chosen once."""
        twin = shallow_copy(self)
        twin.cross = cross
        twin.first = _FirstTerm(cross.D0, cross.Bw)
        if self.pairs is not None:
            twin.pairs, twin.bz_csr = self._renewed_pairs(cross), None
        elif self.dense_Bz is not None:
            twin.dense_Bz = cross.Bz if cross.bz_dense else level_major_bz(cross.Bz, self.p0)
        if self.coupled is not None:
            twin.coupled = twin._coupled_rows()
        return twin

    def _renewed_pairs(self, cross: CrossProducts) -> "_PairProduct":
        """The pair product of other cross-products of the same model. A dense Bz whose non-zeros
        all sit where this one's do (PIRLS: the same rows at new weights) is read at those
        positions; anything else is converted anew."""
        if cross.bz_dense and self._pair_positions is not None:
            flat = cross.Bz.reshape(-1)
            data = flat[self._pair_positions]
            if np.count_nonzero(data) == np.count_nonzero(flat):
                pairs = shallow_copy(self.pairs)
                pairs.data = data
                return pairs
        Bz_csc = cross.bz_sparse().tocsc()
        Bz_csc.sort_indices()
        return _PairProduct(Bz_csc, self.p0)

    def _choose_crossed_product(self, cross: CrossProducts) -> None:
        """Pick the cheapest way to form Bz 𝒲 Bzᵀ (see module docstring)."""
        q_r, q0 = cross.C.shape[0] - self.n_w, self.l0 * self.p0
        if cross.bz_dense:
            group_counts = np.count_nonzero(cross.Bz.reshape(self.l0, -1), axis=1)
        else:
            group_counts = np.diff(cross.Bz.tocsc().indptr[::self.p0])
        n_pairs = int(np.sum(group_counts.astype(np.int64) ** 2) // 2 + group_counts.sum())
        dense_flops = 1.0 * q_r * q_r * q0  # a symmetric rank-k update
        dense_ok = cross.bz_dense or q_r * q0 <= _MAX_DENSE_BZ
        m = cross.C.shape[0]
        self.seconds_per_evaluation = (min(n_pairs * _SECONDS_PER_PAIR, dense_flops * _SECONDS_PER_FLOP)
                                       + m**3 / 3.0 * _SECONDS_PER_FLOP)
        if not dense_ok or n_pairs * _SECONDS_PER_PAIR <= dense_flops * _SECONDS_PER_FLOP:
            if cross.bz_dense:  # where each stored value sits in the level-major (ℓ_0, q_r, p_0) Bz
                Bz_csc, self._pair_positions = _dense_bz_csc(cross.Bz)
                self.bz_csr = Bz_csc.tocsr()
            else:
                self.bz_csr = cross.bz_sparse()
                Bz_csc = self.bz_csr.tocsc()
                Bz_csc.sort_indices()
            self.pairs = _PairProduct(Bz_csc, self.p0)
        else:
            self.dense_Bz = cross.Bz if cross.bz_dense else level_major_bz(cross.Bz, self.p0)
        if (self.pairs is not None or self.dense_Bz is not None) and max(self.rest.sizes) > 1:
            self.upper_rest = np.triu_indices(q_r, 1)

    def _dense_crossed_terms(self, V: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bz 𝒲 Bzᵀ (lower triangle) and Bz 𝒲 Bwᵀ from the dense level-major Bz, levels in chunks.

        With F_j = Bz_j V_j (q_r × p_0) and F^w_j = Bw_j V_j, Bz 𝒲 Bzᵀ = Σ_j F_j F_jᵀ (a rank-k
        update per chunk of levels) and Bz 𝒲 Bwᵀ = Σ_j F_j F^w_jᵀ; no temporary is larger than
        :data:`_CHUNK_DOUBLES`, so a Bz of gigabytes is never copied.
        """
        Bz = self.dense_Bz
        l0, q_r, p0 = Bz.shape
        Fw = F.reshape(self.n_w, l0, p0)
        crossed = np.zeros((q_r, q_r), order="F")
        coupled = np.zeros((q_r, self.n_w))
        step = max(1, _CHUNK_DOUBLES // max(1, q_r * p0))
        buffer = np.empty((min(step, l0) * p0, q_r))
        for start in range(0, l0, step):
            stop = min(l0, start + step)
            M = buffer[:(stop - start) * p0]  # rows (j, b): F_jᵀ
            level_rows_times_v(Bz, V, start, stop, M)
            crossed = dsyrk(1.0, M.T, beta=1.0, c=crossed, lower=1, overwrite_c=1)
            coupled += M.T @ Fw[:, start:stop, :].transpose(1, 2, 0).reshape(-1, self.n_w)
        return crossed, coupled

    def _G(self, V: np.ndarray, F: np.ndarray) -> np.ndarray:
        """G = Bw 𝒲 = F Vᵀ level by level, laid out like Bz's columns (n_w × q_0)."""
        if self.p0 == 1:
            return F * V[:, 0, 0]
        return np.einsum("wjb,jab->wja", F.reshape(self.n_w, self.l0, self.p0), V).reshape(self.n_w, -1)

    def _fused_schur(self, V, F, rest_templates) -> np.ndarray:
        """Lower triangle of the Schur complement for scalar rest terms and the pair product.

        Large crossed designs (InstEval) spend their time here and in the Cholesky: one compiled
        pass builds the q_r × q_r block from C and the pairs, scaled by Λ_r, with I added.
        """
        q_r, C = self.rest.q, self.cross.C
        scale = np.repeat([T[0, 0] for T in rest_templates], self.rest.n_levels)
        S = np.empty_like(C)
        self.pairs.scaled_block(S, C, V * V if self.p0 == 1 else V @ np.swapaxes(V, 1, 2), scale)
        S[q_r:, :q_r] = (C[q_r:, :q_r] - self.pairs.times_rows(self._G(V, F)).T) * scale
        S[q_r:, q_r:] = C[q_r:, q_r:] - F @ F.T
        return S

    def _schur(self, V, F, rest_templates) -> np.ndarray:
        """The Schur complement (lower triangle valid) for every other case."""
        q_r = self.rest.q
        S = self.cross.C.copy()
        S[q_r:, q_r:] -= F @ F.T
        if self.pairs is not None:
            BzW = self.pairs.times_rows(self._G(V, F))  # Bz 𝒲 Bwᵀ
            self.pairs.subtract_from(S, V @ np.swapaxes(V, 1, 2))
        else:
            crossed, BzW = self._dense_crossed_terms(V, F)
            S[:q_r, :q_r] -= crossed
        S[:q_r, q_r:] -= BzW
        S[q_r:, :q_r] -= BzW.T
        if self.upper_rest is not None:  # Λ_r of a vector term mixes both triangles of a block
            S[self.upper_rest] = S.T[self.upper_rest]
        if self.scalar_rest:
            scale = np.repeat([T[0, 0] for T in rest_templates], self.rest.n_levels)
            S[:q_r] *= scale[:, None]
            S[:, :q_r] *= scale
        else:
            scale_columns(S, self.rest, rest_templates)
            scale_rows(S, self.rest, rest_templates)
        S[self.diag_rest, self.diag_rest] += 1.0
        return S

    def _compiled_buffers(self) -> tuple[np.ndarray, ...]:
        """New (P, V, F, M, scale) for :func:`._kernels.dense_factor_kernel`."""
        D0 = self.first.D0
        return (np.empty_like(D0), np.empty_like(D0), np.empty_like(self.coupled), np.empty_like(self.cross.C),
                np.ones(self.cross.C.shape[0]))

    def _compiled_call(self, T0: np.ndarray, rest_templates: list[np.ndarray], buffers) -> tuple[float, float, float]:
        P, V, F, M, scale = buffers
        if self.q_r:
            scale[:self.q_r] = np.repeat([T[0, 0] for T in rest_templates], self.rest.n_levels)
        kernel = dense_factor_kernel(self.p0)
        return kernel(self.first.D0, self.coupled, np.ascontiguousarray(T0, dtype=np.float64), self.cross.C,
                      scale, self.q_r, P, V, F, M)

    def _compiled_factor(self, T0: np.ndarray, rest_templates: list[np.ndarray]) -> BlockedFactor | None:
        """Small models (one term, or scalar crossed terms with a small dense Bz): one compiled call."""
        buffers = self._compiled_buffers()
        logdet, logdet_rx, pwrss = self._compiled_call(T0, rest_templates, buffers)
        if not np.isfinite(logdet):
            return None
        return BlockedFactor(P=buffers[0], M=buffers[3], logdet_L=logdet, logdet_RX=logdet_rx, pwrss=pwrss)

    def criterion_parts(self, T0: np.ndarray, rest_templates: list[np.ndarray]) -> tuple[float, float, float] | None:
        """(log|L_θ|², log|R_X|², r²_θ) without keeping the factor; None if not positive definite.

        On the compiled path the work arrays are reused from call to call (a pool, so that
        threads sharing the problem each get their own): their allocation was a third of an
        evaluation of sleepstudy.
        """
        if self.coupled is None:
            factor = self.factor(T0, rest_templates)
            return None if factor is None else (factor.logdet_L, factor.logdet_RX, factor.pwrss)
        try:
            buffers = self._free_buffers.pop()
        except IndexError:
            buffers = self._compiled_buffers()
        try:
            parts = self._compiled_call(T0, rest_templates, buffers)
        finally:
            self._free_buffers.append(buffers)
        return parts if math.isfinite(parts[0]) else None

    def factor(self, T0: np.ndarray, rest_templates: list[np.ndarray]) -> BlockedFactor | None:
        """Blocked factor for the templates T_k of the current θ; None if not positive definite."""
        if self.coupled is not None:
            return self._compiled_factor(T0, rest_templates)
        return self.blocked_factor(T0, rest_templates)

    def blocked_factor(self, T0: np.ndarray, rest_templates: list[np.ndarray]) -> BlockedFactor | None:
        """The factor by the two steps of the module docstring, also for models on the compiled
        all-in-one path (:attr:`coupled`): its M is LAPACK's, in place (Mᵀ the Fortran-ordered upper
        factor), which the analytic gradient of :mod:`mixedmodels.gradient` inverts in place.
        None when the system is not positive definite.
        """
        P, logdet0, V, F = self.first.compute(T0)
        if V is None:
            return None
        q_r = self.rest.q
        if not q_r:
            S = self.cross.C - F @ F.T
        elif self.pairs is not None and self.scalar_rest:
            S = self._fused_schur(V, F, rest_templates)
        else:
            S = self._schur(V, F, rest_templates)
        # S is row-major with its lower triangle filled: Sᵀ is the same matrix, column-major with the
        # upper triangle filled, so LAPACK factors it in place (no 10 MB copy for InstEval's order 1160)
        with lapack_threads_for(len(S)):
            U, info = dpotrf(S.T, lower=0, clean=1, overwrite_a=1)
        if info == len(S):  # only the response's pivot failed: a perfect fit (r² = 0 to rounding), L_θ is whole
            U[-1, -1] = 0.0
        elif info != 0:
            return None
        M = U.T
        diag = np.diagonal(M)
        if not np.all(diag[:-1] > 0):
            return None
        log_diag = np.log(diag[:-1])
        return BlockedFactor(
            P=P,
            M=M,
            logdet_L=logdet0 + 2.0 * float(log_diag[:q_r].sum()),
            logdet_RX=2.0 * float(log_diag[q_r:q_r + self.p].sum()),
            pwrss=float(diag[-1] ** 2),
        )
