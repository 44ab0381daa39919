"""Responses simulated from a fitted linear mixed model (lme4's ``simulate.merMod``).

    y* = X β̂ + offset + Z b* + ε*,   ε* ~ N(0, σ̂² W⁻¹)

with b* = Λ_θ̂ u*, u* ~ N(0, σ̂² I_q) (new random effects, ``use_re=True``), or b* = b̂, the
conditional modes (``use_re=False``, lme4's ``use.u = TRUE``). The random effects are drawn
first, then the residuals row by row, so rows simulated block by block in order (Parquet row
groups) are the rows simulated at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .covariance import relative_effects

__all__ = ["simulate", "random_effects_draw", "simulate_block", "draw_effects", "draw_responses"]


def random_effects_draw(fit, nsim: int, rng: np.random.Generator, use_re: bool) -> list[np.ndarray]:
    """b* per term, shape (nsim, ℓ_k, p_k): σ̂ T_k u*, or b̂ repeated when ``use_re`` is False."""
    if not use_re:
        return [np.broadcast_to(b_hat, (nsim,) + b_hat.shape) for b_hat in fit.solution.b]
    return draw_effects(fit.problem.layout.templates(fit.theta), fit.sigma, [t.n_levels for t in fit.spec.terms],
                        nsim, rng)


def draw_effects(templates: list[np.ndarray], sigma: float, n_levels: list[int], nsim: int,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """New random effects b* = σ T_k u, u ~ N(0, I), per term, shape (nsim, ℓ_k, p_k), from given T_k and σ."""
    u = [sigma * rng.standard_normal((nsim, levels, T.shape[0])) for levels, T in zip(n_levels, templates)]
    return relative_effects(u, templates)  # rows b_j = σ T u_j


def simulate_block(fit, X: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray]], offset, weights,
                   b: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Simulated responses (rows × nsim) of a block of rows given its X, (codes, z) per term and b*."""
    return draw_responses(fit.solution.beta, fit.sigma, X, terms, offset, weights, b, rng)


def draw_responses(beta: np.ndarray, sigma: float, X: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray]], offset,
                   weights, b: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """y* = Xβ + offset + Σ_k Z_k b*_k + ε*, ε* ~ N(0, σ² W⁻¹), (rows × nsim), from given β and σ.

    With :func:`draw_effects` it simulates a model specified by its parameters (:mod:`mixedmodels.power`).
    """
    nsim = b[0].shape[0] if b else 1
    eta = X @ beta
    if offset is not None:
        eta = eta + offset
    Y = np.repeat(eta[:, None], nsim, axis=1)
    for (codes, z), bk in zip(terms, b):
        Y += np.einsum("ij,sij->is", z, bk[:, codes, :])
    noise = sigma * rng.standard_normal((len(eta), nsim))
    if weights is not None:
        noise /= np.sqrt(weights)[:, None]
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
        Shape (n, nsim), columns ``sim_1`` ... ``sim_<nsim>``, indexed like the rows used in the
        fit; for a fit of Parquet files or a Dask DataFrame a lazy Dask DataFrame of the same.
    """
    from .results import require_independent_residuals

    require_independent_residuals(fit, "simulate()")
    if int(nsim) != nsim or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
    return fit.rows.simulate(fit, int(nsim), np.random.default_rng(seed), use_re)
