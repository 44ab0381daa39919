"""``glmer``: fit a generalized linear mixed model as lme4's ``glmer`` does.

    design  = build_design(formula, data)            # glFormula (cbind response allowed)
    y, w    = response and prior weights             # family$initialize (checked)
    stage 1 = BOBYQA over θ, β inside PIRLS          # nAGQ = 0
    stage 2 = BOBYQA over (θ, β), Laplace or AGQ     # nAGQ ≥ 1, lme4's checkConv
    fit     = GlmerFit(...)                           # Var(β̂) from the Hessian over (θ, β)
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from .._threads import blas_threads_for
from ..covariance import relative_effects, term_structures
from ..design import build_design, data_name_of
from ..design.spec import spec_of_design
from ..results import SINGULAR_MESSAGE
from ..sources import InMemoryRows
from ..errors import ConvergenceWarning, MixedModelsError, SingularFitWarning
from ..objective import PlsSolution
from ..optimize import optimize_theta
from .families import Family, get_family
from .laplace import GlmmProblem
from .results import GlmerFit

__all__ = ["glmer", "binomial_response"]


def binomial_response(y: np.ndarray, weights: np.ndarray | None):
    """(proportion, trials) from a cbind(successes, failures), 0/1 or proportion response.

    Raises
    ------
    MixedModelsError
        Negative counts, proportions outside [0, 1], proportions without trials (``weights``).
    """
    if y.ndim == 2:
        if (y < 0).any():
            raise MixedModelsError("binomial response cbind(successes, failures) has negative counts")
        trials = y.sum(axis=1)
        if not (trials > 0).any():
            raise MixedModelsError("binomial response has no trials: every successes + failures is 0")
        prop = np.divide(y[:, 0], trials, out=np.zeros(len(y)), where=trials > 0)
        return prop, trials if weights is None else trials * weights
    if ((y < 0) | (y > 1)).any():
        raise MixedModelsError("binomial response must be 0/1 or a proportion in [0, 1] (or use "
                               "cbind(successes, failures)); found values outside [0, 1]")
    if weights is None:
        if not np.isin(y, (0.0, 1.0)).all():
            raise MixedModelsError("binomial response given as proportions needs the number of trials: "
                                   "pass weights= (trials) or use cbind(successes, failures)")
        return y, np.ones(len(y))
    if not (weights > 0).any():
        raise MixedModelsError("binomial response has no trials: all weights are 0")
    if not np.allclose(weights * y, np.round(weights * y), atol=1e-7):
        warnings.warn("non-integer #successes in a binomial glm!", UserWarning, stacklevel=3)
    return y, weights


def _poisson_response(y: np.ndarray) -> np.ndarray:
    if y.ndim == 2:
        raise MixedModelsError("cbind() responses are for the binomial family")
    if (y < 0).any():
        raise MixedModelsError("negative counts in the response of a Poisson model")
    if not np.array_equal(y, np.round(y)):
        raise MixedModelsError("non-integer counts in the response of a Poisson model")
    return y


def _check_agq(design, n_agq: int) -> None:
    if int(n_agq) != n_agq or n_agq < 1:
        raise MixedModelsError(f"nAGQ must be a positive integer, not {n_agq!r}")
    if n_agq > 1 and (len(design.terms) != 1 or design.terms[0].z.shape[1] != 1):
        raise MixedModelsError("nAGQ > 1 is only available for models with a single, scalar random-effects "
                               "term such as (1 | group); use nAGQ=1 (Laplace)")


def glmer(formula: str, data, family="binomial", nAGQ: int = 1, weights=None, offset=None, *,
          data_name: str | None = None, functions: dict | None = None) -> GlmerFit:
    """Fit a generalized linear mixed model by maximum likelihood (Laplace or adaptive Gauss–Hermite).

    Parameters
    ----------
    formula : str
        lme4 formula; a binomial response may be ``cbind(successes, failures)``, 0/1, or a
        proportion with ``weights`` = number of trials.
    data : pandas or polars DataFrame
    family : "binomial", "poisson" or Family
        ``Family("binomial", "probit")`` etc.; links logit, probit, cloglog, log.
    nAGQ : int
        1 = Laplace approximation; > 1 = adaptive Gauss–Hermite quadrature with nAGQ nodes
        (single scalar random-effects term only).
    weights, offset : array-like or column name, optional
        Prior weights (binomial: trials for a proportion response) and an offset on the link scale.
    functions : dict, optional
        Functions the formula may call besides the allowed ones, as for :func:`mixedmodels.lmer`.

    Returns
    -------
    GlmerFit
        ``objective`` is −2 log-likelihood including the saturated model's part for every nAGQ;
        lme4 reports the nAGQ > 1 criterion without it (see :mod:`mixedmodels.glmm.agq`).

    Examples
    --------
    >>> from mixedmodels import glmer, datasets
    >>> fit = glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", datasets.load("cbpp"))
    >>> round(fit.objective, 2)
    184.05
    """
    fam: Family = get_family(family)
    design = build_design(formula, data, weights=weights, offset=offset, check_levels=False, functions=functions)
    _check_agq(design, nAGQ)
    if fam.name == "binomial":
        y, prior = binomial_response(design.y, design.weights)
        trials = design.y.sum(axis=1) if design.y.ndim == 2 else prior
    else:
        y = _poisson_response(design.y)
        prior = np.ones(len(y)) if design.weights is None else design.weights
        trials = np.ones(len(y))
    offset_v = np.zeros(len(y)) if design.offset is None else design.offset
    problem = GlmmProblem(fam, y, prior, trials, offset_v, design.X, [t.codes for t in design.terms],
                          [t.z for t in design.terms], [t.n_levels for t in design.terms], nAGQ,
                          structures=term_structures(design.terms))
    layout = problem.layout
    lower = layout.lower_bounds()
    with blas_threads_for(problem.joint.m):
        stage1 = optimize_theta(problem.deviance_theta, layout.initial(), lower, check=False)
        beta1 = problem.beta_at(stage1.theta)
        bounds = np.r_[lower, np.full(problem.p, -np.inf)]
        optimum = optimize_theta(problem.deviance, np.r_[stage1.theta, beta1], bounds, check=True)
        theta, beta = optimum.theta[:layout.n_theta], optimum.theta[layout.n_theta:]
        state = problem.conditional_modes(theta, beta)
    vcov = _hessian_vcov(optimum.hessian, layout.n_theta)
    u = state.x
    T = layout.templates(theta)
    u_terms, start = [], 0
    for term in design.terms:
        size = term.n_levels * term.z.shape[1]
        u_terms.append(u[start:start + size].reshape(term.n_levels, term.z.shape[1]))
        start += size
    solution = PlsSolution(beta=beta.copy(), u=u_terms, b=relative_effects(u_terms, T), sigma=1.0,
                           vcov_beta=vcov, factor=state.factor)
    name = data_name if data_name is not None else data_name_of(data, sys._getframe(1))
    fit = GlmerFit(spec=spec_of_design(design, weights, offset), problem=problem, optimum=optimum, solution=solution,
                   data_name=name, rows=InMemoryRows(design), family=fam, n_agq=int(nAGQ), y=y, prior_weights=prior, trials=trials, state=state)
    for message in optimum.messages:
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    if optimum.singular:
        warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=2)
    return fit


def _hessian_vcov(hessian: np.ndarray, n_theta: int) -> np.ndarray:
    """Var(β̂) = [2 H⁻¹]_ββ, H the Hessian of −2 log L over (θ, β) (lme4 ``vcov(use.hessian = TRUE)``)."""
    H = 0.5 * (hessian + hessian.T)
    try:
        V = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError as err:
        raise MixedModelsError("the Hessian of the deviance at the optimum is singular; "
                               "Var(beta) is not available") from err
    return V[n_theta:, n_theta:]
