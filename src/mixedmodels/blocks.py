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

__all__ = ["TermData", "CrossProducts", "build_cross_products", "term_matrix"]


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


def _rest_matrix(terms: list[TermData]) -> sp.csr_matrix:
    """Z_r = [Z_1 … Z_{K-1}] as one CSR matrix (n × q_r)."""
    if not terms:
        return None
    return sp.hstack([term_matrix(t.codes, t.z, t.n_levels) for t in terms], format="csr")


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
    Cost O(n Σ p_k²) with bincount / sparse products; nothing of size n × q is formed densely.
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
    D0 = np.empty((l0, p0, p0))
    for a in range(p0):
        for b in range(a + 1):
            D0[:, a, b] = D0[:, b, a] = np.bincount(first.codes, z0[:, a] * z0[:, b], minlength=l0)
    Z0 = term_matrix(first.codes, z0, l0)
    Bw = np.asarray((Z0.T @ W)).T.reshape(W.shape[1], l0, p0)
    Zr = _rest_matrix(rest)
    if Zr is None:
        C, Bz = W.T @ W, None
    else:
        q_r = Zr.shape[1]
        C = np.empty((q_r + W.shape[1],) * 2)
        C[:q_r, :q_r] = (Zr.T @ Zr).toarray()
        C[:q_r, q_r:] = Zr.T @ W
        C[q_r:, :q_r] = C[:q_r, q_r:].T
        C[q_r:, q_r:] = W.T @ W
        Bz = (Zr.T @ Z0).tocsr()
    sum_log_weights = 0.0 if weights is None else float(np.sum(np.log(weights[weights > 0])))
    return CrossProducts(D0=D0, Bz=Bz, Bw=Bw, C=C, n=len(y), sum_log_weights=sum_log_weights)
