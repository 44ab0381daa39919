"""A = [Z X y]ᵀ[Z X y], formed once, in the blocks the blocked Cholesky uses.

The terms are in lme4's order, term 0 having the most levels. Write Z = [Z_0 Z_r] (Z_r the other
terms side by side) and W = [X y]. A is kept as

    D0  = Z_0ᵀZ_0        block diagonal: ℓ_0 blocks of p_0 × p_0, an (ℓ_0, p_0, p_0) array
    Bz  = Z_rᵀZ_0        sparse (q_r × q_0)
    Bw  = WᵀZ_0          dense, stored (p + 1, ℓ_0, p_0)
    C   = [Z_r W]ᵀ[Z_r W] dense (m × m), m = q_r + p + 1

Every piece is a sum over rows, so :class:`CrossProducts` from row chunks add up (``+``) to
the cross-products of all rows: this is what lets the fit run on data read in pieces or on a
Dask cluster. Prior weights w enter as √w times every row; an offset is subtracted from y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._kernels import accumulate_cross_products

__all__ = ["TermData", "CrossProducts", "build_cross_products", "term_matrix"]

_MAX_DENSE_BZ_ACCUMULATOR = 20_000_000  # doubles (160 MB) of a dense Bz while accumulating


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


@dataclass
class CrossProducts:
    """The blocks of A (see module docstring), plus n and Σ log w_i."""

    D0: np.ndarray
    Bz: sp.csr_matrix | None
    Bw: np.ndarray
    C: np.ndarray
    n: int
    sum_log_weights: float

    def __add__(self, other: "CrossProducts") -> "CrossProducts":
        Bz = None if self.Bz is None else (self.Bz + other.Bz).tocsr()
        return CrossProducts(self.D0 + other.D0, Bz, self.Bw + other.Bw, self.C + other.C,
                             self.n + other.n, self.sum_log_weights + other.sum_log_weights)


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
    One compiled pass over the rows (:func:`._kernels.accumulate_cross_products`), cost
    O(n Σ p_k²); nothing of size n × q is formed. Bz is accumulated densely when q_r · q_0 is
    small enough (then stored sparse), otherwise through scipy's coordinate format.
    """
    W = np.empty((len(y), X.shape[1] + 1))
    W[:, :-1] = X
    W[:, -1] = y if offset is None else y - offset
    first, rest = terms[0], terms[1:]
    z0 = first.z
    if weights is not None:
        root = np.sqrt(weights)
        W *= root[:, None]
        z0 = z0 * root[:, None]
        rest = [TermData(t.codes, t.z * root[:, None], t.n_levels) for t in rest]
    p0, l0 = z0.shape[1], first.n_levels
    q0 = l0 * p0
    sizes = [t.z.shape[1] for t in rest]
    q_r = sum(t.n_levels * size for t, size in zip(rest, sizes))
    # each row's rest-term entries: position in Z_r's columns and value
    starts = np.concatenate([[0], np.cumsum([t.n_levels * size for t, size in zip(rest, sizes)])]).astype(np.int64)
    rest_index = np.empty((len(y), sum(sizes)), dtype=np.int64)
    rest_z = np.empty((len(y), sum(sizes)))
    column = 0
    for t, size, start in zip(rest, sizes, starts):
        rest_index[:, column:column + size] = start + t.codes[:, None] * size + np.arange(size)
        rest_z[:, column:column + size] = t.z
        column += size
    D0 = np.zeros((l0, p0, p0))
    Bw = np.zeros((W.shape[1], l0, p0))
    C = np.zeros((q_r + W.shape[1],) * 2)
    dense_bz = 0 < q_r * q0 <= _MAX_DENSE_BZ_ACCUMULATOR
    Bz_dense = np.zeros((q_r, q0) if dense_bz else (0, 0))
    accumulate_cross_products(np.ascontiguousarray(first.codes, dtype=np.int64), np.ascontiguousarray(z0),
                              rest_index, rest_z, W, D0, Bw, C, Bz_dense, dense_bz)
    D0 = D0 + np.triu(np.swapaxes(D0, 1, 2), 1)
    C[q_r:, q_r:] = W.T @ W
    C = np.tril(C) + np.tril(C, -1).T
    if not q_r:
        Bz = None
    elif dense_bz:
        Bz = sp.csr_matrix(Bz_dense)
    else:  # too large to accumulate densely: coordinate form, duplicates summed by scipy
        entries = [(rest_index[:, t], first.codes * p0 + b, rest_z[:, t] * z0[:, b])
                   for t in range(rest_index.shape[1]) for b in range(p0)]
        rows, cols, values = (np.concatenate(parts) for parts in zip(*entries))
        Bz = sp.coo_matrix((values, (rows, cols)), shape=(q_r, q0)).tocsr()
    sum_log_weights = 0.0 if weights is None else float(np.sum(np.log(weights[weights > 0])))
    return CrossProducts(D0=D0, Bz=Bz, Bw=Bw, C=C, n=len(y), sum_log_weights=sum_log_weights)
