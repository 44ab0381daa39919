"""θ ↔ Λ: the relative covariance factor of each random-effects term.

Term k has a lower-triangular p_k × p_k template T_k; Λ = ⊕_k (I_{ℓ_k} ⊗ T_k) and the
random-effects covariance is Σ_k = σ² T_k T_kᵀ. θ concatenates, term by term, the lower
triangle of T_k in column-major order (lme4's ``getME(fit, "theta")``). Diagonal elements are
bounded below by 0, the others are free; the optimisation starts at T_k = I.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ThetaLayout"]


@dataclass(frozen=True)
class ThetaLayout:
    """Where each term's T_k lives in θ.

    Parameters
    ----------
    sizes : tuple of int
        p_k, the number of columns of each term.
    """

    sizes: tuple[int, ...]

    def __post_init__(self):
        counts = [p * (p + 1) // 2 for p in self.sizes]
        object.__setattr__(self, "offsets", np.concatenate([[0], np.cumsum(counts)]).astype(int))
        # column-major lower triangle = row-major upper triangle with the indices swapped
        object.__setattr__(self, "_tril_indices", [tuple(reversed(np.triu_indices(p))) for p in self.sizes])

    @property
    def n_theta(self) -> int:
        return int(self.offsets[-1])

    def _tril(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of T_k's lower triangle in column-major order."""
        return self._tril_indices[k]

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The T_k for a given θ."""
        out = []
        for k, p in enumerate(self.sizes):
            T = np.zeros((p, p))
            T[self._tril_indices[k]] = theta[self.offsets[k]:self.offsets[k + 1]]
            out.append(T)
        return out

    def theta_of(self, templates: list[np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`templates`."""
        return np.concatenate([T[self._tril(k)] for k, T in enumerate(templates)])

    def lower_bounds(self) -> np.ndarray:
        """0 for diagonal elements of each T_k, -inf otherwise (lme4's ``theta_lower``)."""
        return np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in (self._tril(k) for k in range(len(self.sizes)))])

    def initial(self) -> np.ndarray:
        """T_k = I for every term."""
        return np.where(self.lower_bounds() == 0.0, 1.0, 0.0)

    def diagonal_mask(self) -> np.ndarray:
        return self.lower_bounds() == 0.0

    def names(self, group_names: list[str], column_names: list[list[str]]) -> list[str]:
        """lme4's θ names: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``, ``Subject.Days``."""
        out = []
        for k, group in enumerate(group_names):
            rows, cols = self._tril(k)
            for r, c in zip(rows, cols):
                cn = column_names[k]
                out.append(f"{group}.{cn[r]}" if r == c else f"{group}.{cn[r]}.{cn[c]}")
        return out
