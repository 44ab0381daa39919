"""The negative binomial θ of lme4's ``glmer.nb``: a starting value and the profile search.

lme4's ``glmer.nb`` (R/glmer.nb.R) estimates θ of NB2 (V(μ) = μ + μ²/θ) by alternation:

1. fit the Poisson GLMM and take θ₀ = MASS's ``theta.ml(y, μ̂)`` (:func:`theta_ml`, Newton's method
   on the score of the NB log-likelihood in θ at the Poisson GLMM's conditional means μ̂);
2. fit the GLMM with the family ``negative.binomial(θ₀)``;
3. minimise the profile d(θ) = −2 log L of the GLMM refitted at θ (each refit starts from the
   previous one's (θ_RE, β)) over log θ ∈ log θ₀ ± 3 by Brent's method (R's ``optimize``,
   tolerance 5e-5 on log θ) (:func:`minimise_log_theta`).

The reported fit is the refit at θ̂; Var(β̂) treats θ̂ as known, as lme4 does.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, special

__all__ = ["theta_ml", "minimise_log_theta"]


def theta_ml(y: np.ndarray, mu: np.ndarray, weights: np.ndarray, limit: int = 20, eps: float = 1e-4) -> float:
    """MASS's ``theta.ml``: the ML θ of NB2 at known means μ by Newton's method.

    score(θ) = Σ wᵢ[ψ(θ + yᵢ) − ψ(θ) + log θ + 1 − log(θ + μᵢ) − (yᵢ + θ)/(μᵢ + θ)],
    info(θ)  = Σ wᵢ[−ψ′(θ + yᵢ) + ψ′(θ) − 1/θ + 2/(μᵢ + θ) − (yᵢ + θ)/(μᵢ + θ)²],
    from θ = n / Σ wᵢ(yᵢ/μᵢ − 1)², stepping θ ← |θ| + score/info until |step| ≤ ``eps`` or
    ``limit`` iterations (lme4 passes ``limit = 20``, ``eps = 2 × 5e-5``).
    """
    n = weights.sum()
    t0 = n / np.sum(weights * (y / mu - 1) ** 2)
    it, delta = 0, 1.0
    while True:
        it += 1
        if not (it < limit and abs(delta) > eps):
            break
        t0 = abs(t0)
        score = np.sum(weights * (special.digamma(t0 + y) - special.digamma(t0) + np.log(t0) + 1
                                  - np.log(t0 + mu) - (y + t0) / (mu + t0)))
        info = np.sum(weights * (-special.polygamma(1, t0 + y) + special.polygamma(1, t0) - 1 / t0
                                 + 2 / (mu + t0) - (y + t0) / (mu + t0) ** 2))
        delta = score / info
        t0 = t0 + delta
    if t0 < 0:
        warnings.warn("theta.ml: estimate truncated at zero", UserWarning, stacklevel=2)
        t0 = 0.0
    if it == limit:
        warnings.warn("theta.ml: iteration limit reached", UserWarning, stacklevel=2)
    return float(t0)


def minimise_log_theta(profile, theta0: float, half_width: float = 3.0, tol: float = 5e-5) -> float:
    """argmin of ``profile(log θ)`` over log θ₀ ± ``half_width`` by Brent's method with absolute
    tolerance ``tol`` (R's ``optimize``; scipy's ``fminbound`` is the same Forsythe–Malcolm–Moler
    algorithm with the same stopping rule tol₁ = √ε|x| + tol/3)."""
    centre = np.log(theta0)
    log_theta = optimize.fminbound(profile, centre - half_width, centre + half_width, xtol=tol)
    return float(np.exp(log_theta))
