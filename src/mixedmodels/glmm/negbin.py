"""The negative binomial θ of lme4's ``glmer.nb``: its starting value.

lme4's ``glmer.nb`` (R/glmer.nb.R) estimates θ of NB2 (V(μ) = μ + μ²/θ) by alternation: it fits
the Poisson GLMM, takes θ₀ = MASS's ``theta.ml(y, μ̂)`` (:func:`theta_ml`, Newton's method on the
score of the NB log-likelihood in θ at the Poisson GLMM's conditional means μ̂), and then
minimises the profile d(θ) = −2 log L of the GLMM refitted at θ over log θ ∈ log θ₀ ± 3 by
Brent's method, a full refit per step.

The minimum of that profile is the minimum of −2 log L over (θ_RE, β, log θ) jointly:
``glmer_nb`` (:mod:`.fit`) finds it by one optimisation with log θ as one more parameter, started
from the Poisson GLMM's (θ_RE, β) and θ₀ (a tenth of the PIRLS runs, and no tolerance of inner
fits to make the profile rough). The fit is reported at θ̂, Var(β̂) treating θ̂ as known, as lme4's.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

__all__ = ["theta_ml"]


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
