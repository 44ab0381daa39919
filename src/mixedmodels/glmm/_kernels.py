"""Compiled per-row work of a PIRLS step for the canonical binomial and Poisson models.

A PIRLS step evaluates, at the linear predictor η, the mean μ, the deviance residuals dᵢ, the
IRLS weights Wᵢ and the working residual z̃ᵢ − ηᵢ. As separate numpy expressions that is some
thirty passes over the rows; here the transcendental functions stay whole-array numpy calls
(vectorised) and one compiled loop does the arithmetic around them. The formulas are those of
:mod:`.families` (same clamping, same values).

Binomial, logit link, η clamped to ηc = clip(η, ±log(1/ε)), e = exp(−|ηc|):

    μ = 1/(1 + e) (η ≥ 0) or e/(1 + e),   log(1 + e^{ηc}) = max(ηc, 0) + log(1 + e),
    dᵢ = Sᵢ + 2wᵢ[log(1 + e^{ηc}) − yᵢηc]  (= Sᵢ − 2wᵢ[y log μ + (1 − y) log(1 − μ)]),
    Wᵢ = wᵢ m²/V = wᵢ m,  z̃ᵢ − ηᵢ = (yᵢ − μᵢ)/m,  m = dμ/dη = max(e/(1 + e)², ε) at the unclamped η,
    V = μ(1 − μ) = e/(1 + e)² (the canonical link: m = V, formed without the cancellation in 1 − μ).

Poisson, log link, μ = max(exp(η), ε), log μ = max(η, log ε) (the log of that, without a pass of log):

    dᵢ = Sᵢ + 2wᵢ[μᵢ − yᵢ log μᵢ],  Wᵢ = wᵢ μᵢ,  z̃ᵢ − ηᵢ = (yᵢ − μᵢ)/μᵢ.

Sᵢ is the family's ``saturated_deviance_part``.
"""

from __future__ import annotations

import math

import numpy as np

from .._jit import njit

__all__ = ["logit_binomial_rows", "log_poisson_rows", "trigamma"]

EPS = np.finfo(float).eps
LOGIT_THRESH = -np.log(EPS)
LOG_EPS = float(np.log(EPS))


@njit(cache=True, nogil=True)
def _logit_binomial(eta, e_abs, log1pe, y, w, sat, mu, dev, W, resid, eps, thresh):  # pragma: no cover
    for i in range(eta.shape[0]):  # branch-free (selects), so that the loop vectorises
        x = eta[i]
        ec = min(max(x, -thresh), thresh)
        e = e_abs[i]  # exp(−|ηc|)
        r = 1.0 / (1.0 + e)
        er = e * r
        m = r if ec >= 0 else er
        mu[i] = m
        dev[i] = sat[i] + 2.0 * w[i] * (max(ec, 0.0) + log1pe[i] - y[i] * ec)
        d = er * r if x == ec else 0.0  # dμ/dη at the unclamped η (|η| > log(1/ε): below ε anyway)
        d = max(d, eps)
        W[i] = w[i] * d
        resid[i] = (y[i] - m) / d


def logit_binomial_rows(y, eta, weights, saturated_part):
    """(μ, dᵢ, Wᵢ, z̃ᵢ − ηᵢ) of the binomial family with logit link at η (module docstring)."""
    n = len(eta)
    e = np.abs(eta)
    np.minimum(e, LOGIT_THRESH, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)  # exp(−|ηc|), in place
    log1pe = np.log1p(e)
    sat = np.broadcast_to(np.asarray(saturated_part, dtype=float), (n,))
    mu, dev, W, resid = (np.empty(n) for _ in range(4))
    _logit_binomial(eta, e, log1pe, y, weights, np.ascontiguousarray(sat), mu, dev, W, resid, EPS, LOGIT_THRESH)
    return mu, dev, W, resid


@njit(cache=True, nogil=True)
def _log_poisson(eta, mu, y, w, sat, dev, W, resid, log_eps):  # pragma: no cover
    for i in range(mu.shape[0]):
        m = mu[i]
        dev[i] = sat[i] + 2.0 * w[i] * (m - y[i] * max(eta[i], log_eps))
        W[i] = w[i] * m
        resid[i] = (y[i] - m) / m


def log_poisson_rows(y, eta, weights, saturated_part):
    """(μ, dᵢ, Wᵢ, z̃ᵢ − ηᵢ) of the Poisson family with log link at η (module docstring)."""
    n = len(eta)
    mu = np.exp(eta)
    np.maximum(mu, EPS, out=mu)
    sat = np.broadcast_to(np.asarray(saturated_part, dtype=float), (n,))
    dev, W, resid = (np.empty(n) for _ in range(3))
    _log_poisson(eta, mu, y, weights, np.ascontiguousarray(sat), dev, W, resid, LOG_EPS)
    return mu, dev, W, resid


TRIGAMMA_SHIFT = 20.0
"""x from which ψ′ is taken from its asymptotic series (truncation error below 1e-17)."""


@njit(cache=True, nogil=True)
def _trigamma_positive(v):  # pragma: no cover - compiled
    """ψ′(v), v > 0: the recurrence up to :data:`TRIGAMMA_SHIFT`, then the asymptotic series."""
    total = 0.0
    while v < TRIGAMMA_SHIFT:  # ψ′(v) = 1/v² + ψ′(v + 1)
        total += 1.0 / (v * v)
        v += 1.0
    r = 1.0 / v
    r2 = r * r
    return total + r + 0.5 * r2 + r * r2 * (1.0 / 6.0 + r2 * (-1.0 / 30.0 + r2 * (1.0 / 42.0 + r2 * (
        -1.0 / 30.0 + r2 * 5.0 / 66.0))))


@njit(cache=True, nogil=True)
def _trigamma(x, out):  # pragma: no cover - compiled
    for i in range(x.shape[0]):
        v = x[i]
        if v > 0.0:
            out[i] = _trigamma_positive(v)
        elif v != v or v == math.floor(v):  # NaN, or a pole
            out[i] = v if v != v else math.inf
        else:  # reflection: ψ′(1 − v) + ψ′(v) = π² / sin²(πv)
            s = math.sin(math.pi * v)
            out[i] = math.pi * math.pi / (s * s) - _trigamma_positive(1.0 - v)


def trigamma(x) -> np.ndarray:
    """ψ′(x) = d²log Γ(x)/dx² elementwise (scipy's ``polygamma(1, x)`` to ~1e-15 relative for x > 0, without
    its Hurwitz ζ: the negative binomial's Laplace weights need it at every PIRLS step).

    ψ′(x) = Σ_{j<J} 1/(x + j)² + ψ′(x + J) with x + J ≥ 20, and there
    ψ′(z) ≈ 1/z + 1/(2z²) + 1/(6z³) − 1/(30z⁵) + 1/(42z⁷) − 1/(30z⁹) + 5/(66z¹¹);
    negative non-integers by the reflection ψ′(1 − x) + ψ′(x) = π²/sin²(πx); +∞ at the poles x = 0, −1, …
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _trigamma(x.reshape(-1), out.reshape(-1))
    return out
