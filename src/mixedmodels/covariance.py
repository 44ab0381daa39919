"""θ ↔ Λ: the covariance parameterisation of the random effects, in one place.

Term k has a p_k × p_k template T_k; the relative covariance factor is Λ = ⊕_k (I_{ℓ_k} ⊗ T_k),
b = Λu, and the covariance of term k's effects at one level is Σ_k = σ² T_k T_kᵀ. A *structure*
maps the term's share θ_k of θ to T_k and says which θ_k are bounded, where they start and
what they are called; :class:`ThetaLayout` concatenates the terms' θ_k (lme4's order). The
blocked Cholesky, the PLS solution, simulation and the inference only ever see T_k (and the
helpers below that apply Λ), so a new structure is a new class here and nothing else changes.

Structures: :class:`Unstructured` (lme4's default ``(x | g)``: T_k lower triangular, θ_k its
lower triangle column-major, diagonal ≥ 0, start T_k = I).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as la

__all__ = ["Unstructured", "ThetaLayout", "scale_columns", "scale_rows", "relative_effects", "lambda_matrix",
           "covariance_matrices", "varcorr_table"]


@dataclass(frozen=True)
class Unstructured:
    """A general p × p covariance: T lower triangular with a non-negative diagonal (lme4's ``(x | g)``).

    θ_k is T's lower triangle in column-major order; the start is T = I.
    """

    p: int

    def __post_init__(self):
        # column-major lower triangle = row-major upper triangle with the indices swapped
        object.__setattr__(self, "_tril", tuple(reversed(np.triu_indices(self.p))))

    @property
    def n_theta(self) -> int:
        return self.p * (self.p + 1) // 2

    def template(self, theta_k: np.ndarray) -> np.ndarray:
        p = self.p
        if p == 1:
            return theta_k.reshape(1, 1).copy()
        T = np.zeros((p, p))
        T[self._tril] = theta_k
        return T

    def theta_of(self, T: np.ndarray) -> np.ndarray:
        return T[self._tril]

    def lower_bounds(self) -> np.ndarray:
        rows, cols = self._tril
        return np.where(rows == cols, 0.0, -np.inf)

    def initial(self) -> np.ndarray:
        rows, cols = self._tril
        return np.where(rows == cols, 1.0, 0.0)

    def names(self, group: str, columns: list[str]) -> list[str]:
        """lme4's θ names: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, ``Subject.Days``."""
        return [f"{group}.{columns[r]}" if r == c else f"{group}.{columns[r]}.{columns[c]}" for r, c in zip(*self._tril)]


class ThetaLayout:
    """Where each term's θ_k lives in θ, and θ ↦ (T_k).

    Parameters
    ----------
    sizes : tuple of int
        p_k of each term; every term :class:`Unstructured` unless ``structures`` are given.
    structures : sequence, optional
        One structure per term (objects with ``p``, ``n_theta``, ``template``, ``theta_of``,
        ``lower_bounds``, ``initial``, ``names``).
    """

    def __init__(self, sizes, structures=None):
        self.structures = tuple(Unstructured(int(p)) for p in sizes) if structures is None else tuple(structures)
        self.sizes = tuple(s.p for s in self.structures)
        self.offsets = [0, *np.cumsum([s.n_theta for s in self.structures]).tolist()]
        self._slices = [(s.template, lo, hi) for s, lo, hi in zip(self.structures, self.offsets, self.offsets[1:])]

    def __eq__(self, other) -> bool:
        return isinstance(other, ThetaLayout) and self.structures == other.structures

    __hash__ = None

    @property
    def n_theta(self) -> int:
        return self.offsets[-1]

    def _tril(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices in T_k of term k's θ_k (an unstructured term: its lower triangle)."""
        return self.structures[k]._tril

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The T_k for a given θ (called once per evaluation of the criterion: kept lean)."""
        theta = np.asarray(theta, dtype=float)
        return [template(theta[lo:hi]) for template, lo, hi in self._slices]

    def theta_of(self, templates: list[np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`templates`."""
        return np.concatenate([s.theta_of(T) for s, T in zip(self.structures, templates)])

    def lower_bounds(self) -> np.ndarray:
        """Lower bounds of θ (lme4's ``theta_lower``: 0 for the diagonal of each T_k, -inf otherwise)."""
        return np.concatenate([s.lower_bounds() for s in self.structures])

    def initial(self) -> np.ndarray:
        """The start of the optimisation (T_k = I for unstructured terms)."""
        return np.concatenate([s.initial() for s in self.structures])

    def diagonal_mask(self) -> np.ndarray:
        return self.lower_bounds() == 0.0

    def names(self, group_names: list[str], column_names: list[list[str]]) -> list[str]:
        """lme4's θ names, term by term."""
        return [name for s, g, c in zip(self.structures, group_names, column_names) for name in s.names(g, c)]


def scale_columns(M: np.ndarray, layout, templates: list[np.ndarray]) -> None:
    """In place: M[:, term k] ← M[:, term k] (I ⊗ T_k), i.e. M ← MΛ on the columns of the given terms.

    ``layout`` has the terms' column ``slices``, ``sizes`` p_k and ``n_levels`` ℓ_k
    (:class:`mixedmodels.cholesky.RestLayout`).
    """
    for sl, p, l, T in zip(layout.slices, layout.sizes, layout.n_levels, templates):
        if p == 1:
            M[:, sl] *= T[0, 0]
        else:
            block = M[:, sl].reshape(M.shape[0], l, p)
            M[:, sl] = (block @ T).reshape(M.shape[0], l * p)


def scale_rows(M: np.ndarray, layout, templates: list[np.ndarray]) -> None:
    """In place: M ← ΛᵀM on the rows of the given terms (M may be a vector)."""
    matrix = M if M.ndim == 2 else M[:, None]
    scale_columns(matrix.T, layout, templates)


def relative_effects(u: list[np.ndarray], templates: list[np.ndarray]) -> list[np.ndarray]:
    """b = Λu per term: rows b_j = T_k u_j, arrays (ℓ_k, p_k) (also batched: (..., ℓ_k, p_k))."""
    return [uk @ Tk.T for uk, Tk in zip(u, templates)]


def lambda_matrix(templates: list[np.ndarray], n_levels: list[int]) -> np.ndarray:
    """Λ = ⊕_k (I_{ℓ_k} ⊗ T_k) as a dense q × q matrix (for the few dense computations)."""
    return la.block_diag(*[np.kron(np.eye(l), T) for T, l in zip(templates, n_levels)])


def covariance_matrices(templates: list[np.ndarray], sigma: float) -> list[np.ndarray]:
    """Σ_k = σ² T_k T_kᵀ, the covariance of term k's effects at one level."""
    return [sigma**2 * T @ T.T for T in templates]


def varcorr_table(group_names: list[str], column_names: list[list[str]], covariances: list[np.ndarray],
                  sigma: float | None) -> pd.DataFrame:
    """R's ``as.data.frame(VarCorr(fit))``: grp, var1, var2, vcov, sdcor (a Residual row when σ is given)."""
    rows = []
    for name, cols, cov in zip(group_names, column_names, covariances):
        sd = np.sqrt(np.diag(cov))
        rows += [(name, c, None, cov[i, i], sd[i]) for i, c in enumerate(cols)]
        for j in range(len(cols)):
            for i in range(j + 1, len(cols)):
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else float("nan")
                rows.append((name, cols[j], cols[i], cov[i, j], corr))
    if sigma is not None:
        rows.append(("Residual", None, None, sigma**2, sigma))
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
