"""A = [Z X y]ᵀ[Z X y], formed once, in the blocks the blocked Cholesky uses.

The terms are in lme4's order, term 0 having the most levels. Write Z = [Z_0 Z_r] (Z_r the other
terms side by side) and W = [X y]. A is kept as

    D0  = Z_0ᵀZ_0        block diagonal: ℓ_0 blocks of p_0 × p_0, an (ℓ_0, p_0, p_0) array
    Bz  = Z_rᵀZ_0        q_r × q_0: sparse (CSR), or dense "level-major" (ℓ_0, q_r, p_0) when it
                         fills up (many rows per pair of levels)
    Bw  = WᵀZ_0          dense, stored (p + 1, ℓ_0, p_0)
    C   = [Z_r W]ᵀ[Z_r W] dense (m × m), m = q_r + p + 1

Every piece is a sum over rows. :class:`CrossProductsAccumulator` adds blocks of rows in place,
in order (a Parquet file read row group by row group gives the same sums, to the last bit, as
the data in memory), and :class:`CrossProducts` of disjoint row sets add up with ``+`` (a Dask
reduction). Prior weights w enter as √w times every row; an offset is subtracted from y.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._kernels import mirror_lower, row_accumulator
from ._lazy import lazy_module
from ._threads import free_cores, worker_thread

sp = lazy_module("scipy.sparse")  # sparse matrices only for crossed terms: not imported for the rest

__all__ = ["TermData", "CrossProducts", "CrossProductsAccumulator", "build_cross_products", "level_major_bz",
           "shallow_copy", "stacked_codes", "stacked_columns", "term_matrix"]

DENSE_BZ_ALWAYS = 20_000_000
"""Doubles (160 MB) up to which Bz is accumulated densely whatever its fill."""

DENSE_BZ_MAX = 2**28
"""Doubles (2 GiB) above which Bz is never dense."""

CONCURRENT_BZ_ROWS = 65_536
"""From this many expected rows on, dense Bz is allocated and added on a second thread (when a
second core is free, :func:`mixedmodels._threads.free_cores`)."""

MAX_PENDING_BZ = 3
"""Blocks whose Bz may still be being added when :meth:`CrossProductsAccumulator.add` returns."""

_NO_WEIGHTS = np.empty(0)  # what the unweighted kernels get (and do not read) as weights
_NO_ENTRIES = (np.empty(0, np.int64),) * 3  # rest_entries of a model with one term (empty: never written)


def shallow_copy(obj):
    """``copy.copy`` of an object whose state is its ``__dict__``, without the copy module's reduce
    protocol (four times faster: a PIRLS step renews the accumulator, the problem and its factor
    layout this way, thousands of times in a small GLMM's fit)."""
    twin = object.__new__(type(obj))
    twin.__dict__.update(obj.__dict__)
    return twin


def _zeros_faulted_in(shape: tuple[int, ...], threads: int = 2) -> np.ndarray:
    """A zero array whose pages are touched now, by two threads.

    Pages of ``np.zeros`` are mapped on first write; inside the compiled pass, in random order,
    that cost 4 s for the 1.6 GB Bz of 10⁵ × 10³ levels, against 0.1–2 s here.
    """
    out = np.empty(shape)
    parts = np.array_split(out.reshape(-1), threads)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda part: part.fill(0.0), parts))
    return out


@dataclass(frozen=True)
class TermData:
    """What the cross-products need of a random-effects term: level codes and columns."""

    codes: np.ndarray  # (n,) int64
    z: np.ndarray  # (n, p_k)
    n_levels: int


def term_matrix(codes: np.ndarray, z: np.ndarray, n_levels: int) -> sp.csr_matrix:
    """The sparse block Z_k (n × ℓ_k p_k) of one term: row i has z[i] at level codes[i]."""
    n, p = z.shape
    indices = (codes[:, None] * p + np.arange(p)[None, :]).ravel()
    return sp.csr_matrix((z.ravel(), indices, np.arange(0, n * p + 1, p)), shape=(n, n_levels * p))


def level_major_bz(Bz: sp.spmatrix, p0: int) -> np.ndarray:
    """A sparse q_r × q_0 Bz as the dense (ℓ_0, q_r, p_0) array, its non-zeros written in place.

    No dense q_r × q_0 intermediate: a Dask reduction at 10⁵ × 10³ levels returns a sparse Bz
    of 1.5 GiB, and a toarray-then-transpose would hold three copies of it at once.
    """
    q_r, q0 = Bz.shape
    coo = Bz.tocsr().tocoo()  # a new matrix, duplicates summed
    out = np.zeros((q0 // p0, q_r, p0))
    out[coo.col // p0, coo.row, coo.col % p0] = coo.data
    return out


@dataclass
class CrossProducts:
    """The blocks of A (see module docstring), plus n and Σ log w_i."""

    D0: np.ndarray
    Bz: sp.csr_matrix | np.ndarray | None
    Bw: np.ndarray
    C: np.ndarray
    n: int
    sum_log_weights: float

    @property
    def bz_dense(self) -> bool:
        """Bz is held as the dense level-major (ℓ_0, q_r, p_0) array."""
        return isinstance(self.Bz, np.ndarray)

    def bz_levels(self, start: int, stop: int) -> np.ndarray:
        """The columns of Bz of levels ``start … stop − 1`` of term 0, dense, shape (q_r, stop − start, p_0)."""
        p0 = self.D0.shape[1]
        if self.bz_dense:
            return self.Bz[start:stop].transpose(1, 0, 2)
        return self.Bz[:, start * p0:stop * p0].toarray().reshape(self.Bz.shape[0], stop - start, p0)

    def bz_transpose_times(self, v: np.ndarray) -> np.ndarray:
        """Bzᵀ v for v of length q_r (a vector of length q_0)."""
        if self.bz_dense:
            return np.einsum("jra,r->ja", self.Bz, v).ravel()
        return self.Bz.T @ v

    def bz_sparse(self) -> sp.csr_matrix:
        """Bz as a q_r × q_0 CSR matrix."""
        if not self.bz_dense:
            return self.Bz
        l0, q_r, p0 = self.Bz.shape
        return sp.csr_matrix(self.Bz.transpose(1, 0, 2).reshape(q_r, l0 * p0))

    def dense(self, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ZᵀWZ (q × q), ZᵀWX (q × p) and XᵀWX (p × p) as dense arrays, Z = [Z_0 Z_r] (q = q_0 + q_r).

        For the few computations that need Z's cross-products as one matrix (Kenward–Roger);
        q × q doubles, so the caller checks q first.
        """
        l0, p0, _ = self.D0.shape
        q0 = l0 * p0
        q_r = self.C.shape[0] - p - 1
        q = q0 + q_r
        ZtZ = np.zeros((q, q))
        first = np.arange(0, q0, p0)[:, None, None]  # level j's block: rows and columns j p0 .. j p0 + p0 - 1
        ZtZ[first + np.arange(p0)[:, None], first + np.arange(p0)] = self.D0
        if q_r:
            Bz = self.bz_sparse().toarray()
            ZtZ[q0:, :q0] = Bz
            ZtZ[:q0, q0:] = Bz.T
            ZtZ[q0:, q0:] = self.C[:q_r, :q_r]
        ZtX = np.vstack([self.Bw[:p].reshape(p, q0).T, self.C[:q_r, q_r:q_r + p]])
        return ZtZ, ZtX, self.C[q_r:q_r + p, q_r:q_r + p].copy()

    def __add__(self, other: "CrossProducts") -> "CrossProducts":
        if self.Bz is None:
            Bz = None
        elif self.bz_dense or other.bz_dense:
            p0 = self.D0.shape[1]
            Bz = (self.Bz if self.bz_dense else level_major_bz(self.Bz, p0)) + \
                (other.Bz if other.bz_dense else level_major_bz(other.Bz, p0))
        else:
            Bz = (self.Bz + other.Bz).tocsr()
        return CrossProducts(self.D0 + other.D0, Bz, self.Bw + other.Bw, self.C + other.C,
                             self.n + other.n, self.sum_log_weights + other.sum_log_weights)


class CrossProductsAccumulator:
    """A running sum of A over blocks of rows, added in place by one compiled pass per block.

    The sums are laid out for the pass, one record per level j of term 0 holding D0_j and
    (WᵀZ_0)_j side by side, Z_rᵀW as (q_r, n_w) and Bz level-major, so that a row touches a few
    cache lines; :meth:`result` rearranges them into :class:`CrossProducts`.

    Parameters
    ----------
    n_levels, sizes : sequence of int
        ℓ_k and p_k of every term, term 0 first.
    n_w : int
        Columns of W = [X y].
    expected_rows : int
        Rows that will be added in all: Bz is dense when q_r q_0 ≤ :data:`DENSE_BZ_ALWAYS`, or
        ≤ :data:`DENSE_BZ_MAX` and at most twice the non-zeros the rows could create; otherwise
        each block's Bz goes through scipy's coordinate format and the blocks' CSR matrices add.
    concurrent : bool
        Whether Bz of many rows may be added on a second thread (PIRLS, adding the same rows again
        and again, does not pay the hand-over).
    """

    def __init__(self, n_levels, sizes, n_w: int, expected_rows: int, concurrent: bool = True):
        self.n_levels, self.sizes = [int(l) for l in n_levels], [int(p) for p in sizes]
        self.l0, self.p0 = self.n_levels[0], self.sizes[0]
        self.n_w = int(n_w)
        rest = list(zip(self.n_levels[1:], self.sizes[1:]))
        self.s = sum(p for _, p in rest)
        self.q_r = sum(l * p for l, p in rest)
        self.entries = rest_entries(self.n_levels, self.sizes)
        cells = self.q_r * self.l0 * self.p0
        self.dense_bz = 0 < cells <= DENSE_BZ_ALWAYS or (
            0 < cells <= DENSE_BZ_MAX and cells <= 2 * expected_rows * self.s * self.p0)
        self.kernels = row_accumulator(self.p0, self.n_w, self.s)
        self.weighted_kernels = row_accumulator(self.p0, self.n_w, self.s, True)
        self.concurrent = concurrent
        self._new_sums(expected_rows)

    def _new_sums(self, expected_rows: int) -> None:
        """Zeroed sums (new arrays: the results of earlier sums may share Bz)."""
        self.records = np.zeros((self.l0, self.p0 * self.p0 + self.n_w * self.p0))
        self.rest_rest = np.zeros((self.q_r, self.q_r))
        self.rest_w = np.zeros((self.q_r, self.n_w))
        self.ww = np.zeros((self.n_w, self.n_w))
        shape = (self.l0, self.q_r, self.p0) if self.dense_bz else (0, 0, 0)
        # a large Bz is faulted in on the Bz thread while the first blocks are read and added —
        # when a second core is free (another process holding it would only take turns with both)
        self.concurrent = (self.concurrent and self.dense_bz and expected_rows >= CONCURRENT_BZ_ROWS
                           and free_cores() >= 2)
        self._bz = worker_thread("bz").submit(_zeros_faulted_in, shape) if self.concurrent else np.zeros(shape)
        self._pending: deque[Future] = deque()
        self._sparse_bz: sp.csr_matrix | None = None  # the blocks' Bz summed, when Bz is not dense
        self.n = 0
        self.sum_log_weights = 0.0

    def renewed(self) -> "CrossProductsAccumulator":
        """An empty accumulator of the same layout (PIRLS adds the same rows at new weights at every
        step): the layout, Bz's storage choice and the kernels are kept, the sums are new."""
        twin = shallow_copy(self)
        twin._new_sums(self.n)
        return twin

    @classmethod
    def for_terms(cls, terms: list[TermData], p: int, expected_rows: int) -> "CrossProductsAccumulator":
        return cls([t.n_levels for t in terms], [t.z.shape[1] for t in terms], p + 1, expected_rows)

    def add(self, terms: list[TermData], X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
            offset: np.ndarray | None = None) -> "CrossProductsAccumulator":
        """Add the rows (codes and columns of every term, X, y, optional weights and offset).

        Level counts of ``terms`` must be those the accumulator was made for.
        """
        y = y if offset is None else y - offset
        codes0, rest_codes = stacked_codes(terms)
        z0, rest_z = stacked_columns(terms)
        if weights is not None:
            self.sum_log_weights += float(np.sum(np.log(weights[weights > 0])))
        return self.add_stacked(codes0, z0, rest_codes, rest_z, X, y, weights)

    def add_stacked(self, codes0: np.ndarray, z0: np.ndarray, rest_codes: np.ndarray, rest_z: np.ndarray,
                    X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> "CrossProductsAccumulator":
        """:meth:`add` for rows already laid out by :func:`stacked_codes` and :func:`stacked_columns`:
        PIRLS adds the same rows at new weights (of any sign) at every iteration. Adds ωᵢ times
        each row's products for weights ω (1 when None); ``sum_log_weights`` is not touched."""
        n = len(y)
        codes0 = np.ascontiguousarray(codes0, dtype=np.int64)
        z0 = np.ascontiguousarray(z0, dtype=np.float64)
        rest_args = (np.ascontiguousarray(rest_codes, dtype=np.int64), np.ascontiguousarray(rest_z, dtype=np.float64),
                *self.entries)
        omega = _NO_WEIGHTS if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        rows_kernel, bz_kernel = self.kernels if weights is None else self.weighted_kernels
        if self.concurrent:  # the two kernels share no sum: Bz is added on its thread, blocks in order
            self._pending.append(worker_thread("bz").submit(lambda: bz_kernel(codes0, z0, *rest_args, omega, self.bz)))
        elif self.dense_bz:
            bz_kernel(codes0, z0, *rest_args, omega, self.bz)
        rows_kernel(codes0, z0, *rest_args, np.asfortranarray(X, dtype=np.float64),
                    np.ascontiguousarray(y, dtype=np.float64), omega, self.records, self.rest_rest, self.rest_w,
                    self.ww)
        while len(self._pending) > MAX_PENDING_BZ:  # bounds the blocks held for the Bz thread
            self._pending.popleft().result()
        if self.q_r and not self.dense_bz:
            term_of, base, size = self.entries
            rest_index = base + rest_codes[:, term_of] * size
            rows = np.repeat(rest_index, self.p0, axis=1).ravel()
            cols = (codes0[:, None, None] * self.p0 + np.arange(self.p0)).repeat(self.s, axis=1).ravel()
            scaled_rest = rest_z if weights is None else rest_z * omega[:, None]
            values = (scaled_rest[:, :, None] * z0[:, None, :]).ravel()
            block = sp.coo_matrix((values, (rows, cols)), shape=(self.q_r, self.l0 * self.p0)).tocsr()
            self._sparse_bz = block if self._sparse_bz is None else (self._sparse_bz + block).tocsr()
        self.n += n
        return self

    def absorb(self, other: "CrossProductsAccumulator") -> "CrossProductsAccumulator":
        """Add the sums of ``other`` (an accumulator of the same layout, over other rows) to these:
        A over both sets of rows. PIRLS sums the halves of its rows this way, in the same order
        whether one thread or two added them, so that the criterion does not depend on it."""
        while other._pending:
            other._pending.popleft().result()
        self.records += other.records
        self.rest_rest += other.rest_rest
        self.rest_w += other.rest_w
        self.ww += other.ww
        if self.dense_bz and self.q_r:
            np.add(self.bz, other.bz, out=self.bz)
        elif other._sparse_bz is not None:
            self._sparse_bz = other._sparse_bz if self._sparse_bz is None else (self._sparse_bz + other._sparse_bz).tocsr()
        self.n += other.n
        self.sum_log_weights += other.sum_log_weights
        return self

    @property
    def bz(self) -> np.ndarray:
        """The dense level-major Bz (once it is allocated, on the Bz thread for large ones)."""
        return self._bz.result() if isinstance(self._bz, Future) else self._bz

    def result(self) -> CrossProducts:
        """The sums as :class:`CrossProducts` (symmetric blocks filled; Bz shared, not copied)."""
        while self._pending:
            self._pending.popleft().result()
        l0, p0, q_r, n_w = self.l0, self.p0, self.q_r, self.n_w
        D0 = self.records[:, :p0 * p0].reshape(l0, p0, p0)
        D0 = D0.copy() if p0 == 1 else D0 + np.triu(np.swapaxes(D0, 1, 2), 1)
        Bw = np.ascontiguousarray(self.records[:, p0 * p0:].reshape(l0, n_w, p0).transpose(1, 0, 2))
        C = np.zeros((q_r + n_w,) * 2)
        C[:q_r, :q_r] = self.rest_rest
        C[q_r:, :q_r] = self.rest_w.T
        C[q_r:, q_r:] = self.ww
        mirror_lower(C)  # in place: np.tril(C) + np.tril(C, -1).T made three copies of InstEval's 10 MB
        if not q_r:
            Bz = None
        elif self.dense_bz:
            Bz = self.bz
        else:
            Bz = self._sparse_bz if self._sparse_bz is not None else sp.csr_matrix((q_r, l0 * p0))
        return CrossProducts(D0=D0, Bz=Bz, Bw=Bw, C=C, n=self.n, sum_log_weights=self.sum_log_weights)


def stacked_codes(terms: list[TermData]) -> tuple[np.ndarray, np.ndarray]:
    """Level codes of term 0 (n,) and of the other terms side by side (n, K − 1), as the compiled pass reads them."""
    n = len(terms[0].codes)
    rest = terms[1:]
    rest_codes = np.column_stack([t.codes for t in rest]) if rest else np.empty((n, 0), dtype=np.int64)
    return np.ascontiguousarray(terms[0].codes, dtype=np.int64), np.ascontiguousarray(rest_codes, dtype=np.int64)


def rest_entries(n_levels, sizes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the other terms' columns land in Z_r (the terms after term 0, side by side):
    (entry_term, entry_base, entry_size), one entry t per column a of a rest term k, such that
    row i's value ``rest_z[i, t]`` is in Z_r's column entry_base[t] + rest_codes[i, entry_term[t]] ·
    entry_size[t] = start_k + a + code · p_k (Z_r's columns, and u_r, level-major within each term)."""
    rest = list(zip(n_levels[1:], sizes[1:]))
    if not rest:  # one term (most models): nothing to place
        return _NO_ENTRIES
    starts = np.cumsum([0] + [l * p for l, p in rest])[:-1]
    term_of = np.repeat(np.arange(len(rest)), [p for _, p in rest])
    column_of = np.concatenate([np.arange(p) for _, p in rest])
    return (term_of.astype(np.int64), (starts[term_of] + column_of).astype(np.int64),
            np.array([p for _, p in rest], dtype=np.int64)[term_of])


def stacked_columns(terms: list[TermData]) -> tuple[np.ndarray, np.ndarray]:
    """Model columns of term 0 (n, p_0) and of the other terms side by side (n, Σ p_k)."""
    n = len(terms[0].codes)
    rest = terms[1:]
    # one rest term (the usual case): its columns are passed as they are
    rest_z = rest[0].z if len(rest) == 1 else np.hstack([t.z for t in rest] or [np.empty((n, 0))])
    return terms[0].z, rest_z


def build_cross_products(terms: list[TermData], X: np.ndarray, y: np.ndarray,
                         weights: np.ndarray | None = None, offset: np.ndarray | None = None) -> CrossProducts:
    """One pass over the rows: the blocks of A for these rows.

    Parameters
    ----------
    terms : list of TermData
        In lme4 order (term 0 has the most levels); level counts must be those of the whole data.
    X : ndarray, shape (n, p)
    y : ndarray, shape (n,)
    weights, offset : ndarray, shape (n,), optional

    Notes
    -----
    One compiled pass over the rows (:class:`CrossProductsAccumulator`), cost O(n Σ p_k²);
    nothing of size n × q is formed.
    """
    accumulator = CrossProductsAccumulator.for_terms(terms, X.shape[1], len(y))
    return accumulator.add(terms, X, y, weights, offset).result()
