"""Variance parameters on lme4's standard-deviation / correlation scale.

Term k has covariance Σ_k = σ² T_k T_kᵀ = D_k R_k D_k (D_k the standard deviations, R_k the
correlations). lme4's ``profile`` and ``confint`` name the parameters, in θ's order (the lower
triangle of Σ_k column-major, term by term, then σ):

    sd_<column>|<group>             diagonal elements of D_k
    cor_<row>.<column>|<group>      off-diagonal elements of R_k
    sigma

:func:`sdcor_of_theta` and :func:`theta_of_sdcor` convert between (θ, σ) and this vector.
"""

from __future__ import annotations

import numpy as np

from ..objective import DevianceProblem

__all__ = ["is_linear", "sdcor_names", "sdcor_of_theta", "theta_of_sdcor", "psd_cholesky"]


def is_linear(fit) -> bool:
    """True for a linear mixed model (lmer; criterion a :class:`DevianceProblem`), False for a GLMM."""
    return isinstance(fit.problem, DevianceProblem)


def sdcor_names(fit) -> list[str]:
    """lme4's names of the sd/cor parameters, in θ's order, and ``sigma`` (linear models) or
    ``dispersion`` (a GLMM whose dispersion is estimated jointly, nbinom1)."""
    layout = fit.problem.layout
    names = []
    for k, term in enumerate(fit.spec.terms):
        rows, cols = layout._tril(k)
        cn = term.column_names
        names += [f"sd_{cn[r]}|{term.name}" if r == c else f"cor_{cn[r]}.{cn[c]}|{term.name}"
                  for r, c in zip(rows, cols)]
    return names + ["sigma"] if is_linear(fit) else names + ["dispersion"] * getattr(fit.problem, "n_extra", 0)


def sdcor_of_theta(layout, theta: np.ndarray, sigma: float) -> np.ndarray:
    """(sd, cor, ..., σ) from θ and σ; a correlation with a zero sd is NaN."""
    out = []
    for k, T in enumerate(layout.templates(np.asarray(theta, float))):
        cov = sigma**2 * T @ T.T
        sd = np.sqrt(np.diag(cov))
        for r, c in zip(*layout._tril(k)):
            if r == c:
                out.append(sd[r])
            else:
                out.append(cov[r, c] / (sd[r] * sd[c]) if sd[r] * sd[c] > 0 else np.nan)
    return np.array(out + [sigma])


def psd_cholesky(S: np.ndarray) -> np.ndarray | None:
    """Lower-triangular L with L Lᵀ = S for a positive semi-definite S (zero pivots allowed).

    numpy's Cholesky rejects singular matrices, which occur on the boundary of the parameter
    space (an sd of 0, a correlation of ±1). Returns None when S is not positive semi-definite.
    """
    p = S.shape[0]
    L = np.zeros_like(S, dtype=float)
    scale = max(float(np.max(np.abs(np.diag(S)))), 1e-300)
    for j in range(p):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10 * scale:
            return None
        if d <= 1e-14 * scale:
            # zero pivot: column j of L must vanish below the diagonal too, or S is not PSD
            rest = S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]
            if np.any(np.abs(rest) > 1e-7 * scale):
                return None
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (S[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def theta_of_sdcor(layout, values: np.ndarray) -> np.ndarray | None:
    """θ from (sd, cor, ..., σ): T_k = chol(D_k R_k D_k) / σ; None if some R_k is not PSD."""
    values = np.asarray(values, float)
    sigma = values[-1]
    templates = []
    for k, p in enumerate(layout.sizes):
        chunk = values[layout.offsets[k]:layout.offsets[k + 1]]
        R = np.eye(p)
        sd = np.empty(p)
        for (r, c), v in zip(zip(*layout._tril(k)), chunk):
            if r == c:
                sd[r] = v
            else:
                R[r, c] = R[c, r] = v
        L = psd_cholesky(sd[:, None] * R * sd[None, :])
        if L is None:
            return None
        templates.append(L / sigma)
    return layout.theta_of(templates)
