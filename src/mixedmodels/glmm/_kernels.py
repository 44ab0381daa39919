"""Compiled per-row work of a PIRLS step for the canonical binomial and Poisson models.

A PIRLS step evaluates, at the linear predictor η, the mean μ, the deviance residuals dᵢ, the
IRLS weights Wᵢ and the working response less the offset, z̃ᵢ − oᵢ = ηᵢ − oᵢ + (yᵢ − μᵢ)/(dμ/dη)
(what A(W)'s pass reads as its response). Here that is one compiled loop per family, which reads
η, o, y, w and Sᵢ once and writes the four outputs: on 10⁵ rows the separate numpy passes (|η|, the
clamp, exp, log1p, z̃) cost more in memory traffic than the arithmetic. exp and log1p are evaluated
inside the loop (:func:`_exp`, :func:`_log1p_unit`: polynomials within 1 and 2.2 ulp of numpy's),
so that LLVM vectorises the loop; fused multiply–adds are allowed (``fastmath={"contract"}``).
The formulas are those of :mod:`.families` (same clamping, same values to rounding).

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
EXP_MIN, EXP_MAX = -708.0, 709.0
"""The range of :func:`_exp`; above it exp(x) is taken as +inf (numpy's overflows at 709.78)."""

# exp(x) = 2^k exp(r), k = round(x / log 2), r = x − k log 2 in two parts (Cody and Waite: k·LN2_HI
# is exact for |k| < 2¹¹), |r| ≤ log(2)/2; exp(r) by its Taylor polynomial of degree 13, whose
# remainder r¹⁴/14! < 6e-18 relative; 2^k from a table (a gather, which vectorises).
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
POW2 = np.ldexp(1.0, np.arange(-1022, 1024))
EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))  # 1/13!, …, 1/1!, 1/0!
# log(1 + e) = 2 atanh(s) with s = e/(2 + e), or, above e = √2 − 1, log 2 + 2 atanh((e − 1)/(e + 3)), so that
# |s| ≤ (√2 − 1)/(√2 + 1) < 0.172: 2 atanh(s) = s Σ_k 2 s^{2k}/(2k + 1), truncated after s²⁴ (s²⁶ < 1e-19).
LN2 = math.log(2.0)
SQRT2_M1 = math.sqrt(2.0) - 1.0
ATANH_SERIES = tuple(2.0 / (2 * k + 1) for k in range(12, -1, -1))  # 2/25, …, 2/3, 2
FUSED = {"contract"}


@njit(inline="always", fastmath=FUSED)
def _horner(x, coefficients):  # pragma: no cover - compiled
    """Σ_k c_k x^(n−k) for coefficients (c_0, …, c_n), highest power first (unrolled: a constant tuple)."""
    p = 0.0
    for c in coefficients:
        p = p * x + c
    return p


@njit(inline="always", fastmath=FUSED)
def _exp(x):  # pragma: no cover - compiled
    """exp(x) for −708 ≤ x ≤ 709, within 1 ulp (module comment above)."""
    k = math.floor(x * LOG2E + 0.5)
    r = (x - k * LN2_HI) - k * LN2_LO
    return _horner(r, EXP_TAYLOR) * POW2[int(k) + 1022]


@njit(inline="always", fastmath=FUSED)
def _log1p_unit(e):  # pragma: no cover - compiled
    """log(1 + e) for 0 ≤ e ≤ 1, within 2.2 ulp (module comment above)."""
    big = e > SQRT2_M1
    s = (e - 1.0 if big else e) / (e + 3.0 if big else e + 2.0)
    return s * _horner(s * s, ATANH_SERIES) + (LN2 if big else 0.0)


@njit(cache=True, nogil=True, fastmath=FUSED)
def _logit_binomial(eta, offset, y, w, sat, mu, dev, W, working, eps, thresh):  # pragma: no cover
    for i in range(eta.shape[0]):  # branch-free (selects), so that the loop vectorises
        x = eta[i]
        ec = min(max(x, -thresh), thresh)
        e = _exp(-abs(ec))
        r = 1.0 / (1.0 + e)
        er = e * r
        m = r if ec >= 0 else er
        mu[i] = m
        dev[i] = sat[i] + 2.0 * w[i] * (max(ec, 0.0) + _log1p_unit(e) - y[i] * ec)
        d = er * r if x == ec else 0.0  # dμ/dη at the unclamped η (|η| > log(1/ε): below ε anyway)
        d = max(d, eps)
        W[i] = w[i] * d
        working[i] = (x - offset[i]) + (y[i] - m) / d


@njit(cache=True, nogil=True, fastmath=FUSED)
def _log_poisson(eta, offset, y, w, sat, mu, dev, W, working, log_eps, eps):  # pragma: no cover
    for i in range(eta.shape[0]):
        x = eta[i]
        m = max(_exp(min(max(x, EXP_MIN), EXP_MAX)), eps) if x <= EXP_MAX else math.inf
        log_mu = max(x, log_eps)
        mu[i] = m
        dev[i] = sat[i] + 2.0 * w[i] * (m - y[i] * log_mu)
        W[i] = w[i] * m
        working[i] = (x - offset[i]) + (y[i] - m) / m


def _rows(kernel, y, eta, offset, weights, saturated_part, out, *constants):
    n = len(eta)
    sat = np.ascontiguousarray(np.broadcast_to(np.asarray(saturated_part, dtype=float), (n,)))
    offset = np.ascontiguousarray(np.broadcast_to(np.asarray(offset, dtype=float), (n,)))
    out = tuple(np.empty(n) for _ in range(4)) if out is None else tuple(out)
    kernel(np.ascontiguousarray(eta, dtype=float), offset, y, weights, sat, *out, *constants)
    return out


def logit_binomial_rows(y, eta, offset, weights, saturated_part, out=None):
    """(μ, dᵢ, Wᵢ, z̃ᵢ − oᵢ) of the binomial family with logit link at η, offset o (module docstring),
    written into the four contiguous arrays ``out`` when given."""
    return _rows(_logit_binomial, y, eta, offset, weights, saturated_part, out, EPS, LOGIT_THRESH)


def log_poisson_rows(y, eta, offset, weights, saturated_part, out=None):
    """(μ, dᵢ, Wᵢ, z̃ᵢ − oᵢ) of the Poisson family with log link at η, offset o (module docstring),
    written into the four contiguous arrays ``out`` when given."""
    return _rows(_log_poisson, y, eta, offset, weights, saturated_part, out, LOG_EPS, EPS)


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
