"""Variance parameters on lme4's standard-deviation / correlation scale.

Term k has covariance Σ_k = σ² T_k T_kᵀ = D_k R_k D_k (D_k the standard deviations, R_k the
correlations). lme4's ``profile`` and ``confint`` name the parameters, in θ's order (the lower
triangle of Σ_k column-major, term by term, then σ; a structured term has its own sd/cor
parameters, :mod:`mixedmodels.covariance`):

    sd_<column>|<group>             diagonal elements of D_k
    cor_<row>.<column>|<group>      off-diagonal elements of R_k
    sigma

:func:`sdcor_of_theta` and :func:`theta_of_sdcor` convert between (θ, σ) and this vector.
"""

from __future__ import annotations

import numpy as np

from ..covariance import psd_cholesky
from ..objective import DevianceProblem

__all__ = ["is_linear", "sdcor_names", "sdcor_of_theta", "theta_of_sdcor", "psd_cholesky"]


def is_linear(fit) -> bool:
    """True for a linear mixed model (lmer; criterion a :class:`DevianceProblem`), False for a GLMM."""
    return isinstance(fit.problem, DevianceProblem)


def sdcor_names(fit) -> list[str]:
    """The names of the sd/cor parameters, in θ's order (lme4's for unstructured terms, ``sd|g``, ``cor|g``,
    ``cor_lag<k>|g`` for structured ones), then ``sigma`` (linear models) or ``dispersion`` (a GLMM whose
    dispersion is estimated jointly, nbinom1)."""
    layout = fit.problem.layout
    names = [name for s, term in zip(layout.structures, fit.spec.terms)
             for name in s.sdcor_names(term.name, term.column_names)]
    return names + ["sigma"] if is_linear(fit) else names + ["dispersion"] * getattr(fit.problem, "n_extra", 0)


def sdcor_of_theta(layout, theta: np.ndarray, sigma: float) -> np.ndarray:
    """(sd, cor, ..., σ) from θ and σ, term by term (each structure's ``sdcor``); a correlation
    with a zero sd is NaN."""
    theta = np.asarray(theta, float)
    parts = [s.sdcor(theta[layout.offsets[k]:layout.offsets[k + 1]], sigma) for k, s in enumerate(layout.structures)]
    return np.concatenate(parts + [[sigma]])


def theta_of_sdcor(layout, values: np.ndarray) -> np.ndarray | None:
    """θ from (sd, cor, ..., σ) (unstructured: T_k = chol(D_k R_k D_k) / σ); None if some R_k is not
    a correlation matrix of its structure."""
    values = np.asarray(values, float)
    sigma, parts = values[-1], []
    for k, s in enumerate(layout.structures):
        part = s.theta_of_sdcor(values[layout.offsets[k]:layout.offsets[k + 1]], sigma)
        if part is None:
            return None
        parts.append(part)
    return np.concatenate(parts)
