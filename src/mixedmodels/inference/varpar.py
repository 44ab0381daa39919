"""Asymptotic covariance of the variance parameters (θ, σ) and the gradient of Var(β̂) in them.

Satterthwaite's approximation (lmerTest ``as_lmerModLT``) needs, at the optimum,

* A = 2 H⁻¹, where H is the Hessian of the non-profiled criterion in varpar = (θ, σ):
  d(θ, σ) = log|L_θ|² + r²_θ/σ² + n' log(2πσ²) [+ log|R_X|² for REML], n' = n − p (REML) or n (ML);
  H is inverted on its positive eigenvalues only, as lmerTest does;
* J_i = ∂V/∂varpar_i of V(θ, σ) = σ² (R_XᵀR_X)⁻¹(θ), the covariance of β̂.

Both are taken by Richardson-extrapolated central differences as numDeriv's (four halvings of
the step d·|x| + d·[|x| < 1.8e-5]) but with d = 0.03 rather than numDeriv's 1e-4: r²_θ comes from
the cross-products A formed once, so the criterion carries rounding noise of about
1e-16·yᵀy/σ², which steps of 1e-4·θ turn into errors of 1e-3 in H (the extrapolation removes
the truncation error of the larger steps; measured against lmerTest's A in the tests).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from .parameters import is_linear

__all__ = ["VarparCovariance", "varpar_covariance", "require_linear_fit", "richardson_jacobian", "richardson_hessian"]

_EPS, _D, _R = 0.03, 0.03, 4
_ZERO_TOL = np.sqrt(np.finfo(float).eps / 7e-7)


def _steps(x: np.ndarray) -> np.ndarray:
    return np.abs(_D * x) + _EPS * (np.abs(x) < _ZERO_TOL)


def _extrapolate(approx: list) -> np.ndarray:
    """Richardson extrapolation of estimates at steps h, h/2, h/4, ... (error O(h²), O(h⁴), ...)."""
    a = [np.asarray(v, dtype=float) for v in approx]
    for m in range(1, len(a)):
        a = [(a[k + 1] * 4**m - a[k]) / (4**m - 1) for k in range(len(a) - 1)]
    return a[0]


def richardson_jacobian(func, x) -> np.ndarray:
    """Jacobian of a vector function, shape (len(f), len(x)) (numDeriv ``jacobian``)."""
    x = np.asarray(x, dtype=float)
    columns = []
    for i in range(len(x)):
        h, approx = _steps(x), []
        for _ in range(_R):
            e = np.zeros_like(x)
            e[i] = h[i]
            approx.append((np.ravel(func(x + e)) - np.ravel(func(x - e))) / (2 * h[i]))
            h = h / 2
        columns.append(_extrapolate(approx))
    return np.column_stack(columns)


def richardson_hessian(func, x) -> np.ndarray:
    """Hessian of a scalar function (numDeriv ``hessian``, i.e. ``genD``)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = func(x)
    h0 = _steps(x)
    H = np.zeros((n, n))
    for i in range(n):
        h, approx = h0.copy(), []
        for _ in range(_R):
            e = np.zeros(n)
            e[i] = h[i]
            approx.append((func(x + e) - 2 * f0 + func(x - e)) / h[i] ** 2)
            h = h / 2
        H[i, i] = _extrapolate(approx)
    for i in range(n):
        for j in range(i):
            h, approx = h0.copy(), []
            for _ in range(_R):
                e = np.zeros(n)
                e[i], e[j] = h[i], h[j]
                f1, f2 = func(x + e), func(x - e)
                approx.append((f1 - 2 * f0 + f2 - H[i, i] * h[i] ** 2 - H[j, j] * h[j] ** 2) / (2 * h[i] * h[j]))
                h = h / 2
            H[i, j] = H[j, i] = _extrapolate(approx)
    return H


@dataclass(frozen=True)
class VarparCovariance:
    """What Satterthwaite's method needs about the variance parameters.

    Attributes
    ----------
    varpar : ndarray (k,)            (θ̂, σ̂)
    hessian : ndarray (k, k)         H, Hessian of the non-profiled criterion
    vcov : ndarray (k, k)            A = 2 H⁻¹ (lmerTest ``vcov_varpar``)
    jacobian : ndarray (k, p, p)     ∂Var(β̂)/∂varpar_i (lmerTest ``Jac_list``)
    """

    varpar: np.ndarray
    hessian: np.ndarray
    vcov: np.ndarray
    jacobian: np.ndarray


def _criterion(problem, varpar: np.ndarray) -> float:
    """Non-profiled −2 log-likelihood (or REML criterion) at (θ, σ) (lmerTest ``devfun_vp``)."""
    theta, sigma2 = varpar[:-1], varpar[-1] ** 2
    factor = problem.factor(theta)
    if factor is None:
        return np.inf
    n = problem.n - problem.p if problem.reml else problem.n
    value = factor.logdet_L + factor.pwrss / sigma2 + n * np.log(2 * np.pi * sigma2)
    return float(value + factor.logdet_RX) if problem.reml else float(value)


def _vcov_beta(problem, varpar: np.ndarray) -> np.ndarray:
    return varpar[-1] ** 2 * problem.unscaled_vcov(problem.factor(varpar[:-1]))


def _pseudo_inverse(H: np.ndarray, tol: float = 1e-8) -> np.ndarray:
    """Inverse on the eigenvalues > tol (lmerTest drops the others)."""
    values, vectors = np.linalg.eigh(H)
    keep = values > tol
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def require_linear_fit(fit, what: str) -> None:
    """Raise ValueError unless ``fit`` is a linear mixed model (lmer).

    Denominator-df methods (Satterthwaite, Kenward–Roger) need the Gaussian likelihood with its σ;
    a GLMM (``glmer``) has Wald z tests in ``coef_table()`` and likelihood-ratio tests by
    ``anova(m1, m2)``.
    """
    if not is_linear(fit):
        raise ValueError(f"{what} with denominator degrees of freedom (Satterthwaite, Kenward-Roger) are for "
                         "linear mixed models (lmer); for a glmer fit use coef_table() (Wald z tests) or "
                         "anova(m1, m2) for the likelihood-ratio test of nested models")


def varpar_covariance(fit) -> VarparCovariance:
    """A = 2 H⁻¹ and ∂Var(β̂)/∂(θ, σ) at the fit's optimum (cached per fit).

    Cost: about 2k(k + 1)·4 factorisations for k = n_θ + 1 parameters.
    """
    require_linear_fit(fit, "t and F tests")
    if fit in _CACHE:
        return _CACHE[fit]
    problem = fit.problem
    varpar = np.append(fit.theta, fit.sigma)
    H = richardson_hessian(lambda v: _criterion(problem, v), varpar)
    p = problem.p
    J = richardson_jacobian(lambda v: _vcov_beta(problem, v), varpar)
    result = VarparCovariance(varpar=varpar, hessian=H, vcov=2 * _pseudo_inverse(H),
                              jacobian=J.T.reshape(len(varpar), p, p))
    _CACHE[fit] = result
    return result
