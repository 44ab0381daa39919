"""Compiled per-row work of a PIRLS step for glmmTMB's ``nbinom1`` (log link, :class:`.families.NBinom1`).

With k = μ/φ and a count y, the rows need (the formulas of :class:`.families.NBinom1`)

    log p = log Γ(y + k) − log Γ(k) − log y! − k log(1 + φ) + y log(φ/(1 + φ)),
    dᵢ    = Sᵢ − 2wᵢ log p                                   (Sᵢ the saturated part),
    score = k[ψ(y + k) − ψ(k) − log(1 + φ)]                  (∂log p/∂η),
    info  = −k²[ψ′(y + k) − ψ′(k)] − score                   (−∂²log p/∂η², the observed information),
    Wᵢ    = wᵢ info,  z̃ᵢ − ηᵢ = wᵢ score / Wᵢ                (a Newton step).

The digamma and trigamma differences are finite sums for a count y:

    ψ(y + k) − ψ(k) = Σ_{j<y} 1/(k + j),    ψ′(k) − ψ′(y + k) = Σ_{j<y} 1/(k + j)²,

exact to rounding and in the one compiled pass over the rows. Counts above ``SUM_LIMIT`` take
scipy's ψ and :func:`._kernels.trigamma` instead (a sum of y terms per row would then cost more
than they do).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._jit import njit
from ._kernels import trigamma

__all__ = ["nbinom1_rows", "SUM_LIMIT"]

#: counts up to this take the finite sums; above it the digamma/trigamma differences
SUM_LIMIT = 256


@njit(cache=True, nogil=True)
def _nbinom1(mu, y, w, sat, phi, big_s1, big_s2, limit, dev, W, resid):  # pragma: no cover
    log1p_phi = math.log1p(phi)
    log_ratio = math.log(phi / (1.0 + phi))
    for i in range(mu.shape[0]):
        k = mu[i] / phi
        yi = y[i]
        if yi <= limit:
            s1 = 0.0
            s2 = 0.0
            for j in range(int(yi)):
                r = 1.0 / (k + j)
                s1 += r
                s2 += r * r
        else:
            s1 = big_s1[i]
            s2 = big_s2[i]
        log_p = math.lgamma(yi + k) - math.lgamma(k) - math.lgamma(yi + 1.0) - k * log1p_phi + yi * log_ratio
        dev[i] = sat[i] - 2.0 * w[i] * log_p
        score = k * (s1 - log1p_phi)
        W[i] = w[i] * (k * k * s2 - score)
        resid[i] = w[i] * score / W[i]


def nbinom1_rows(y: np.ndarray, mu: np.ndarray, weights: np.ndarray, saturated_part, phi: float):
    """(dᵢ, Wᵢ, z̃ᵢ − ηᵢ) of nbinom1 at means μ (module docstring); W is the observed information.

    ``saturated_part`` is the family's ``saturated_deviance_part`` (an array or a scalar).
    """
    n = len(mu)
    big = y > SUM_LIMIT
    big_s1, big_s2 = np.zeros(n), np.zeros(n)
    if big.any():
        k, yb = mu[big] / phi, y[big]
        big_s1[big] = special.digamma(yb + k) - special.digamma(k)
        big_s2[big] = trigamma(k) - trigamma(yb + k)
    sat = np.ascontiguousarray(np.broadcast_to(np.asarray(saturated_part, dtype=float), (n,)))
    dev, W, resid = (np.empty(n) for _ in range(3))
    _nbinom1(np.ascontiguousarray(mu, dtype=float), np.ascontiguousarray(y, dtype=float),
             np.ascontiguousarray(weights, dtype=float), sat, float(phi), big_s1, big_s2, float(SUM_LIMIT), dev, W,
             resid)
    return dev, W, resid
