"""Responses simulated from a fitted linear mixed model (lme4's ``simulate.merMod``).

    y* = X β̂ + offset + Z b* + ε*,   ε* ~ N(0, σ̂² W⁻¹)

with b* = Λ_θ̂ u*, u* ~ N(0, σ̂² I_q) (new random effects, ``use_re=True``), or b* = b̂, the
conditional modes (``use_re=False``, lme4's ``use.u = TRUE``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate", "simulate_responses"]


def simulate_responses(fit, nsim: int, rng: np.random.Generator, use_re: bool = True) -> np.ndarray:
    """An (n, nsim) array of simulated responses (see the module docstring)."""
    design, sigma = fit.design, fit.sigma
    n = design.nobs
    eta = design.X @ fit.solution.beta
    if design.offset is not None:
        eta = eta + design.offset
    Y = np.repeat(eta[:, None], nsim, axis=1)
    templates = fit.problem.layout.templates(fit.theta)
    for term, T, b_hat in zip(design.terms, templates, fit.solution.b):
        if use_re:
            u = rng.standard_normal((nsim, term.n_levels, T.shape[0]))
            b = sigma * u @ T.T  # (nsim, ℓ_k, p_k): rows b_j = σ T u_j
            Y += np.einsum("ij,sij->is", term.z, b[:, term.codes, :])
        else:
            Y += np.einsum("ij,ij->i", term.z, b_hat[term.codes])[:, None]
    noise = sigma * rng.standard_normal((n, nsim))
    if design.weights is not None:
        noise /= np.sqrt(design.weights)[:, None]
    return Y + noise


def simulate(fit, nsim: int = 1, seed=None, use_re: bool = True) -> pd.DataFrame:
    """Simulate responses from the fitted model.

    Parameters
    ----------
    fit : LmerFit
    nsim : int
        Number of simulated response vectors.
    seed : int, numpy Generator or None
        Passed to ``numpy.random.default_rng``: the same seed gives the same draws.
    use_re : bool
        True: draw new random effects b* ~ N(0, σ̂²ΛΛᵀ) (lme4's default). False: keep the
        conditional modes b̂ and draw only the residuals (lme4's ``use.u = TRUE``).

    Returns
    -------
    DataFrame
        Shape (n, nsim), columns ``sim_1`` ... ``sim_<nsim>``, indexed like the rows used in the fit.
    """
    if int(nsim) != nsim or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
    Y = simulate_responses(fit, int(nsim), np.random.default_rng(seed), use_re)
    return pd.DataFrame(Y, index=fit.design.rows, columns=[f"sim_{i + 1}" for i in range(int(nsim))])
