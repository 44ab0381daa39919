"""Principal components of the random-effects covariance of each grouping factor (lme4's ``rePCA``).

For a grouping factor g with relative covariance factor T_g (the block-diagonal combination of
the templates T_k of all terms on g, so ``(1 | g) + (0 + x | g)`` counts as one 2 × 2 factor),
Σ_g = σ² T_g T_gᵀ. The singular value decomposition T_g = U D Vᵀ gives the principal
components of Σ_g/σ²: standard deviations d_i (the singular values, in units of σ), directions
U (``rotation``), and the proportions d_i² / Σ_j d_j². A proportion near 0 means the covariance
matrix is (nearly) of lower rank: the model has more random-effects terms than the data support
(Bates, Kliegl, Vasishth & Baayen 2015).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import block_diag

__all__ = ["REPCA", "ComponentSummary", "rePCA"]


@dataclass(frozen=True)
class ComponentSummary:
    """The principal components of one grouping factor.

    Attributes
    ----------
    sdev : ndarray          singular values of T_g (standard deviations relative to σ)
    rotation : DataFrame    left singular vectors U, one column per component
    """

    sdev: np.ndarray
    rotation: pd.DataFrame

    @property
    def proportion(self) -> np.ndarray:
        """Share of the variance of each component, d_i² / Σ_j d_j² (0 for a zero factor)."""
        total = float(np.sum(self.sdev**2))
        return self.sdev**2 / total if total > 0 else np.zeros_like(self.sdev)

    @property
    def importance(self) -> pd.DataFrame:
        """R's ``summary(prcomp)`` "Importance of components" table."""
        columns = [f"[,{i + 1}]" for i in range(len(self.sdev))]
        return pd.DataFrame([self.sdev, self.proportion, np.cumsum(self.proportion)], columns=columns,
                            index=["Standard deviation", "Proportion of Variance", "Cumulative Proportion"])


class REPCA(Mapping):
    """Grouping factor name → :class:`ComponentSummary`, printed as lme4's ``summary(rePCA(fit))``."""

    def __init__(self, components: dict[str, ComponentSummary]):
        self._components = dict(components)

    def __getitem__(self, name: str) -> ComponentSummary:
        return self._components[name]

    def __iter__(self):
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)

    def __repr__(self) -> str:
        parts = []
        for name, pca in self._components.items():
            table = pca.importance.to_string(float_format=lambda v: f"{v:.4g}")
            parts.append(f"${name}\nImportance of components:\n{table}")
        return "\n\n".join(parts)


def rePCA(fit) -> REPCA:
    """Principal components of each grouping factor's random-effects covariance (see the module docstring).

    Parameters
    ----------
    fit : LmerFit or GlmerFit

    Returns
    -------
    REPCA
        A mapping from the grouping factor's name (lme4's order of first appearance among the
        terms) to its :class:`ComponentSummary` (``sdev``, ``proportion``, ``rotation``).
    """
    templates = fit.problem.layout.templates(fit.theta)
    grouped: dict[str, list[int]] = {}
    for k, term in enumerate(fit.spec.terms):
        grouped.setdefault(term.name, []).append(k)
    out = {}
    for name, ks in grouped.items():
        T = block_diag(*[templates[k] for k in ks])
        columns = [c for k in ks for c in fit.spec.terms[k].column_names]
        U, d, _ = np.linalg.svd(T)
        out[name] = ComponentSummary(sdev=d, rotation=pd.DataFrame(U, index=columns,
                                                                  columns=[f"PC{i + 1}" for i in range(len(d))]))
    return REPCA(out)
