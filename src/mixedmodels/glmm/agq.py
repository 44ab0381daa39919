"""Adaptive Gauss–Hermite quadrature of a GLMM with one scalar random-effects term (lme4's ``glmerAGQ``).

With one scalar term the integral over u factorises over the ℓ levels. For level j let
devc_j(u) = Σ_{i∈j} dᵢ(u) + u² (deviance residuals plus penalty), û_j the PIRLS mode and
s_j = 1/L_jj (L_jj² = 1 + θ² Σ_{i∈j} wᵢ zᵢ²). Substituting u = û_j + s_j z,

    −2 log ∫ p(y_j | u) φ(u) du = S_j + devc_j(û_j) + log L_jj² − 2 log Σ_k w_k exp(−Δ_jk/2 + z_k²/2)

with Δ_jk = devc_j(û_j + s_j z_k) − devc_j(û_j), (z_k, w_k) the Gauss–Hermite rule for the
standard normal density (Σ w_k = 1) and S_j = Σ_{i∈j} −2 log p(yᵢ | μᵢ = yᵢ), the saturated model.
For nAGQ = 1 (z = 0, w = 1) this is the Laplace approximation.

lme4 reports this criterion without S = Σ_j S_j, i.e. relative to the saturated model (lme4
issue #161: 100.01 for cbpp, nAGQ = 25); we report −2 log-likelihood including S, on the same
scale as the Laplace deviance (183.97 = 100.01 + 83.957 for cbpp).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["gauss_hermite", "agq_deviance"]


@lru_cache(maxsize=None)
def gauss_hermite(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point rule for ∫ f(z) φ(z) dz (lme4's ``GHrule``)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return z, w / np.sqrt(2 * np.pi)


AGQ_CELLS = 1 << 20
"""Nodes × rows evaluated at once (8 MB per array): the nodes are taken in chunks of this size."""


def agq_deviance(family, y, weights, eta_fixed, codes, z_theta, u_hat, L_diag, n_agq: int,
                 saturated_part=None) -> float:
    """The AGQ criterion without S (see module docstring), summed over levels.

    devc_j is evaluated at the mode and at every node at once (a nodes × rows array, in chunks of
    :data:`AGQ_CELLS`), its sums per level by one ``bincount``.

    Parameters
    ----------
    eta_fixed : ndarray (n,)     offset + Xβ
    codes : ndarray (n,)         level of each row
    z_theta : ndarray (n,)       θ zᵢ, so that η = eta_fixed + z_theta u_{codes}
    u_hat, L_diag : ndarray (ℓ,) conditional modes and diagonal of L_θ
    saturated_part             ``family.saturated_deviance_part(y, weights)``, when the caller keeps it
    """
    n_levels, n = len(u_hat), len(y)
    nodes, node_weights = gauss_hermite(n_agq)
    if saturated_part is None:
        saturated_part = family.saturated_deviance_part(y, weights)
    points = np.r_[0.0, nodes]  # the mode first: Δ_jk is relative to it
    u = u_hat + np.outer(points, 1.0 / L_diag)  # (1 + K, ℓ)
    devc = np.empty_like(u)
    chunk = max(1, AGQ_CELLS // max(n, 1))
    for start in range(0, len(points), chunk):
        uk = u[start:start + chunk]
        mu = family.link.inverse(eta_fixed + z_theta * uk[:, codes])
        dev = family.deviance_residuals(y, mu, weights, saturated_part)
        index = (codes + n_levels * np.arange(len(uk))[:, None]).ravel()
        devc[start:start + chunk] = np.bincount(index, dev.ravel(), minlength=len(uk) * n_levels).reshape(
            len(uk), n_levels) + uk * uk
    devc0 = devc[0]
    total = node_weights @ np.exp(-(devc[1:] - devc0) / 2 + (nodes * nodes / 2)[:, None])
    return float(np.sum(devc0) + 2 * np.sum(np.log(L_diag)) - 2 * np.sum(np.log(total)))
