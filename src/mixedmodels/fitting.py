"""Optimise a built problem and assemble the fit (lme4's ``optimizeLmer`` + ``mkMerMod``).

    spec, cross, rows = open_source(data).model(formula)     # lFormula (+ the one pass over the rows)
    problem = DevianceProblem(cross, ...)                     # mkLmerDevfun
    fit = fit_problem(spec, problem, rows)                    # optimizeLmer, checkConv, mkMerMod
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg.lapack import dposv, dpstrf, dtrtrs

from ._threads import blas_threads_for
from .control import LmerControl
from .covariance import term_structures
from .design.spec import ModelSpec
from .errors import ConvergenceWarning, DesignError, SingularFitWarning
from .objective import DevianceProblem
from .optimize import optimize_theta
from .results import SINGULAR_MESSAGE, LmerFit

__all__ = ["fit_problem", "problem_of", "check_response_variation"]

EPS = np.finfo(float).eps


EXACT_FIT_TOL = 1e-12
"""rss ≤ this × Σw(y − ȳ)² (plus the rounding of the sums) counts as a response reproduced exactly."""

DENSE_CHECK_EFFECTS = 1000
"""Random effects q up to which [Z X] is checked for reproducing the response (a pivoted Cholesky of order q + p)."""


def check_response_variation(spec: ModelSpec, cross) -> None:
    """Stop when the model reproduces the response exactly: there is no residual variance to estimate.

    A constant response, one that is an exact linear function of X, or one that X and Z together
    reproduce (y constant within every group of a random intercept) leaves the weighted
    least-squares residual of y at zero; the criterion then decreases without bound as σ → 0,
    so it has no optimum. Everything comes from A = [Z X y]ᵀW[Z X y] (any data source):

        spread² = yᵀWy − (1ᵀWy)²/1ᵀW1  (yᵀWy without an intercept column)
        rss_X   = the last pivot² of the Cholesky factor of [X y]ᵀW[X y]
        rss_XZ  = yᵀWy − ‖U_r⁻ᵀ(Pᵀg)_r‖²,  M = [Z X]ᵀW[Z X], PᵀMP = UᵀU (pivoted Cholesky, rank r),
                  g = [Z X]ᵀWy  (q ≤ 1000)

    and a residual sum of squares below 1e-12 spread², plus the rounding of A's sums
    (100 ε yᵀWy), counts as exact. rss_XZ is not checked when a term's structure separates its
    variances from σ² (:meth:`~mixedmodels.formula.RandomTermSpec.separates_residual`).

    Raises
    ------
    DesignError
        Naming the response (and its value when constant), or the fixed-effect column that the rows
        of non-zero weight cannot determine (XᵀWX singular although X has full rank).
    """
    response, p = spec.response, spec.fixed.n_columns
    q_r = cross.C.shape[0] - p - 1
    G = cross.C[q_r:, q_r:]
    yy = G[-1, -1]
    names = spec.fixed.column_names
    if "(Intercept)" in names:
        j = names.index("(Intercept)")
        spread2 = yy - G[j, -1] ** 2 / G[j, j]
        if spread2 <= 100 * EPS * yy and spec.offset is None:
            raise DesignError(f"the response {response!r} is constant (every value is {G[j, -1] / G[j, j]:g}): a "
                              "linear mixed model needs variation in the response")
    else:
        spread2 = yy
    floor = EXACT_FIT_TOL * spread2 + 100 * EPS * yy
    rss_x = yy
    if p:  # LAPACK's Cholesky solve directly (scipy.linalg.solve's checks cost more than the solve here)
        _, beta, info = dposv(G[:-1, :-1], G[:-1, -1])
        if info:  # X has full rank (aliased columns are dropped), XᵀWX does not: the weights leave a column out
            raise DesignError(f"the fixed effect {names[info - 1]!r} cannot be estimated with these weights: on the "
                              "rows of non-zero weight it is zero or a combination of the columns before it "
                              f"({', '.join(map(repr, names[:info - 1])) or 'none'}); check the weights or drop it")
        rss_x = float(yy - G[:-1, -1] @ beta)
    if rss_x <= floor:
        raise DesignError(f"the fixed effects reproduce the response {response!r} exactly (residual sum of "
                          "squares 0): there is no residual variance to estimate; is the response computed "
                          "from the predictors?")
    q = sum(t.n_levels * t.n_cols for t in spec.terms)
    if q > DENSE_CHECK_EFFECTS or any(t.spec.separates_residual(t.n_cols) for t in spec.terms):
        return  # such a term (ar1, cs, toep) keeps σ² apart even when [Z X] spans y
    ZtZ, ZtX, XtX = cross.dense(p)
    M = np.empty((q + p, q + p))
    M[:q, :q], M[:q, q:], M[q:, :q], M[q:, q:] = ZtZ, ZtX, ZtX.T, XtX
    l0, p0, _ = cross.D0.shape
    g = np.concatenate([cross.Bw[-1].reshape(l0 * p0), cross.C[:q_r, -1], G[:-1, -1]])
    U, piv, rank, _ = dpstrf(M, lower=0)  # pivoted Cholesky PᵀMP = UᵀU, rank r
    w, _ = dtrtrs(U[:rank, :rank], g[piv[:rank] - 1], lower=0, trans=1)  # U_rᵀ w = (Pᵀg)_r
    rss_xz = float(yy - w @ w)
    if rss_xz <= floor:
        groups = ", ".join(repr(t.name) for t in spec.terms)
        raise DesignError(f"the fixed and random effects reproduce the response {response!r} exactly (zero "
                          f"residual variance, e.g. the response is constant within each level of {groups}): "
                          "the criterion has no optimum; remove the random-effects term or check the response")


def problem_of(spec: ModelSpec, cross, reml: bool) -> DevianceProblem:
    """The profiled criterion over θ for a specification and its A (each term's covariance
    structure from its formula keyword, :func:`mixedmodels.covariance.structure_of`)."""
    return DevianceProblem(cross, [t.n_cols for t in spec.terms], [t.n_levels for t in spec.terms],
                           spec.fixed.n_columns, reml=reml, structures=term_structures(spec.terms))


def fit_problem(spec: ModelSpec, problem: DevianceProblem, rows, data_name: str = "", *, check: bool = True,
                theta0=None, warn: bool = True, initial_step: float | None = None,
                control: LmerControl | None = None) -> LmerFit:
    """Optimise θ for a built problem and assemble the fit (also used by refits and the bootstrap).

    Parameters
    ----------
    spec : ModelSpec
    problem : DevianceProblem
    rows : row handle or None
        Where row-wise results come from (:mod:`mixedmodels.sources`); None for a refit whose
        responses are not in memory.
    check : bool
        lme4's finite-difference convergence checks (off for bootstrap refits).
    theta0 : ndarray, optional
        Starting θ (default T_k = I).
    control : LmerControl, optional
        Optimiser settings and tolerances (default :class:`~mixedmodels.control.LmerControl`).
    """
    layout = problem.layout
    gradient = problem.gradient_function()
    with blas_threads_for(1):  # small BLAS calls on one thread; the factor's LAPACK calls take more where they pay
        optimum = optimize_theta(problem.deviance, layout.initial() if theta0 is None else theta0,
                                 layout.lower_bounds(), check=check, initial_step=initial_step, control=control,
                                 value_and_gradient=gradient,
                                 scoring_start=gradient.start() if gradient is not None and theta0 is None else None)
        solution = problem.solve(optimum.theta)
    fit = LmerFit(spec=spec, problem=problem, optimum=optimum, solution=solution, data_name=data_name, rows=rows)
    if warn:
        for message in optimum.messages:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if optimum.singular:
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
    return fit
