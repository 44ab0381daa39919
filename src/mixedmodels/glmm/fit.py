"""``glmer``: fit a generalized linear mixed model as lme4's ``glmer`` does.

    spec, rows = FrameSource(data).rows_of(formula)   # glFormula (cbind response allowed): the same spec as lmer
    y, w    = family.response(y, weights)            # family$initialize (checked)
    stage 1 = BOBYQA over θ, β inside PIRLS          # nAGQ = 0 stops here; Var(β̂) from R_X
    stage 2 = BOBYQA over (θ, β), Laplace or AGQ     # nAGQ ≥ 1, lme4's checkConv
    fit     = GlmerFit(...)                           # Var(β̂) from the Hessian over (θ, β)

A dispersion estimated jointly (nbinom1) is one more parameter, log φ, of both stages. So is the
negative binomial θ of ``glmer_nb`` (log θ), whose stage 2 starts from lme4's start, the Poisson
fit and MASS's theta.ml (:mod:`.negbin`): its fit is then reported at θ̂ held fixed, as lme4's
``glmer.nb`` reports its final refit.

Stage 2 starts BOBYQA with a first step of at most each fixed effect's stage-1 standard error
(nlopt rescales each variable by its step): the criterion is then about equally curved in every
direction, where one step for all and a slope of standard error 0.003 cost hundreds of evaluations.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import warnings

import numpy as np

from .._threads import blas_threads_for
from ..control import DEFAULT_CONTROL
from ..covariance import relative_effects, term_structures
from ..design import data_name_of
from ..largedata.sources import is_large_data
from ..results import SINGULAR_MESSAGE
from ..sources import FrameSource
from ..errors import ConvergenceWarning, MixedModelsError, SingularFitWarning
from ..objective import PlsSolution
from ..optimize import optimize_theta
from .families import Family, NegativeBinomial, Poisson, get_family
from .laplace import GlmmProblem
from .negbin import theta_ml
from .results import GlmerFit

__all__ = ["glmer", "glmer_nb", "refit"]


def _check_agq(design, n_agq: int, family: Family) -> None:
    if isinstance(n_agq, bool) or int(n_agq) != n_agq or n_agq < 0:
        raise MixedModelsError(f"nAGQ must be a non-negative integer, not {n_agq!r}")
    if n_agq > 1 and (len(design.terms) != 1 or design.terms[0].z.shape[1] != 1):
        raise MixedModelsError("nAGQ > 1 is only available for models with a single, scalar random-effects "
                               "term such as (1 | group); use nAGQ=1 (Laplace)")
    if n_agq > 1 and not family.supports_agq:
        raise MixedModelsError(f"nAGQ > 1 is not available for the {family.label} family; use nAGQ=1 (Laplace) "
                               "or nAGQ=0")


def glmer(formula: str, data, family="binomial", nAGQ: int = 1, weights=None, offset=None, *,
          data_name: str | None = None, functions: dict | None = None) -> GlmerFit:
    """Fit a generalized linear mixed model by maximum likelihood (Laplace or adaptive Gauss–Hermite).

    Parameters
    ----------
    formula : str
        lme4 formula; a binomial response may be ``cbind(successes, failures)``, 0/1, or a
        proportion with ``weights`` = number of trials.
    data : pandas or polars DataFrame
    family : str or Family
        "binomial", "poisson", "negative_binomial", "nbinom1", "Gamma", "inverse_gaussian" (default
        links) or a family object from :mod:`mixedmodels.families`, e.g. ``Gamma(link="log")``,
        ``NegativeBinomial(theta=None)`` (θ estimated as lme4's ``glmer.nb``; a number fixes it).
    nAGQ : int
        0 = lme4's fast fit (β inside PIRLS, only θ — and a jointly estimated dispersion —
        optimised); 1 = Laplace approximation; > 1 = adaptive Gauss–Hermite quadrature with nAGQ
        nodes (single scalar random-effects term; families with a known dispersion).
    weights, offset : array-like or column name, optional
        Prior weights (binomial: trials for a proportion response) and an offset on the link scale.
    functions : dict, optional
        Functions the formula may call besides the allowed ones, as for :func:`mixedmodels.lmer`.

    Returns
    -------
    GlmerFit
        ``objective`` is −2 log-likelihood including the saturated model's part for every nAGQ;
        lme4 reports the nAGQ > 1 criterion without it (see :mod:`mixedmodels.glmm.agq`).

    Raises
    ------
    MixedModelsError
        Unknown family or link, a response outside the family's support (negative or non-integer
        counts, non-positive Gamma/inverse Gaussian responses), nAGQ not available.

    Examples
    --------
    >>> from mixedmodels import glmer, datasets
    >>> fit = glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", datasets.load("cbpp"))
    >>> round(fit.objective, 2)
    184.05
    """
    fam: Family = get_family(family)
    if is_large_data(data):
        raise TypeError("glmer() fits data in memory (pandas or polars); Dask DataFrames and Parquet files are "
                        "for lmer, whose criterion needs A alone (PIRLS needs the rows at every iteration)")
    spec, rows = FrameSource(data, functions).rows_of(formula, weights, offset, check_levels=False)
    design = rows.design
    _check_agq(design, nAGQ, fam)
    y, prior, trials = fam.response(design.y, design.weights)
    offset_v = np.zeros(len(y)) if design.offset is None else design.offset
    name = data_name if data_name is not None else data_name_of(data, sys._getframe(1))
    problem = GlmmProblem(fam, y, prior, trials, offset_v, design.X, [t.codes for t in design.terms],
                          [t.z for t in design.terms], [t.n_levels for t in design.terms], nAGQ,
                          structures=term_structures(design.terms))
    n_dispersion = problem.n_extra + int(fam.has_scale)
    if fam.estimates_dispersion == "profile" and fam.dispersion is None:  # lme4's glmer.nb
        optimum, extra = _optimise_negative_binomial(problem, int(nAGQ))
        problem, optimum = _at_dispersion(problem, optimum, extra)
        extra = np.zeros(0)
    else:
        optimum, extra = _optimise(problem, int(nAGQ))
    return _make_fit(spec, rows, problem, optimum, extra, name, int(nAGQ), n_dispersion=n_dispersion)


def glmer_nb(formula: str, data, nAGQ: int = 1, weights=None, offset=None, *, link: str = "log",
             data_name: str | None = None) -> GlmerFit:
    """Negative binomial (NB2) GLMM with θ estimated, as lme4's ``glmer.nb``.

    V(μ) = μ + μ²/θ; θ̂ minimises −2 log L over (θ_RE, β, log θ) in one optimisation from
    lme4's start (:mod:`mixedmodels.glmm.negbin`): the minimum of lme4's profile over θ. The fit
    is reported at θ̂ as known, as lme4's: Var(β̂) from the Hessian over (θ_RE, β) alone, and
    ``refit``/``bootstrap`` keep θ̂ fixed. The fit's family is ``NegativeBinomial(θ̂)``, printed
    as lme4 does ("Negative Binomial(3.3034)"); ``fit.family.theta`` is θ̂.

    Parameters
    ----------
    formula, data, nAGQ, weights, offset, data_name
        As :func:`glmer`.
    link : str
        "log" (default), "sqrt" or "identity".
    """
    name = data_name if data_name is not None else data_name_of(data, sys._getframe(1))
    return glmer(formula, data, family=NegativeBinomial(theta=None, link=link), nAGQ=nAGQ, weights=weights,
                 offset=offset, data_name=name)


#: BOBYQA's tolerances for a refit from a nearby optimum (bootstrap): tight enough that a refit to
#: the fit's own response returns its estimates to ~1e-6 without the Newton refinements of a checked fit.
REFIT_CONTROL = dataclasses.replace(DEFAULT_CONTROL, ftol_abs=1e-11, xtol_abs=1e-10)


#: BOBYQA's first step in stage 2 for θ and a dispersion (β's at most their standard errors,
#: :func:`_stage2_steps`), which starts from stage 1's (θ, β) near its optimum: from the default
#: (0.75 on θ's diagonal, 1 elsewhere) the first evaluations leave that neighbourhood and come back
#: (the 10⁵-row problems of benchmarks/bench_glmm.py: 74, 57, 73 evaluations → 41, 28, 40, the same
#: optimum to 1e-10).
STAGE2_STEP = 0.05


#: BOBYQA's tolerances and PIRLS's step tolerance for stage 1 when it is only stage 2's start
#: (nAGQ ≥ 1): stage 2 optimises over (θ, β) again, from first steps of 0.05 and β's standard errors,
#: and stops where it stops whatever the start; stage 1 went on for another 10–20 PIRLS runs below a
#: change of 0.01 in the criterion, and each run for another step below 1e-6 (the 10⁵-row problems
#: of benchmarks/bench_glmm.py: 513, 251, 399 PIRLS steps → 442, 230, 315, the same optimum to
#: 1e-9). nAGQ = 0 keeps lme4's tolerances: its stage 1 is the fit.
STAGE1_START_CONTROL = dataclasses.replace(DEFAULT_CONTROL, ftol_abs=1e-2)
STAGE1_START_PIRLS_TOL = 1e-6


def refit(fit: GlmerFit, y: np.ndarray) -> GlmerFit:
    """The same model fitted to the response ``y`` (binomial: proportions of the same trials), started
    at ``fit``'s estimates, without convergence checks (lme4's ``refit(fit, newresp)``, as ``bootMer``
    uses it). The family is the fit's: a ``glmer_nb`` fit keeps θ̂ fixed, as lme4's refit does; a
    jointly estimated dispersion (nbinom1) is re-estimated.

    BOBYQA's first step is ``refit_initial_step`` (0.05) for θ and the dispersion and the fit's
    standard error for each β: a replicate's estimates lie about that far from the fit's (on
    grouseticks 30–40% of the PIRLS runs of a step of 0.05 for all)."""
    problem = fit.problem.with_response(np.asarray(y, float))
    start = None if fit.n_agq == 0 else fit.optimum.theta
    steps = _first_steps(problem, np.sqrt(np.diag(fit.solution.vcov_beta)), DEFAULT_CONTROL.refit_initial_step)
    optimum, extra = _optimise(problem, fit.n_agq, start=start, check=False,
                               options={"initial_step": steps, "control": REFIT_CONTROL})
    return _make_fit(fit.spec, fit.rows, problem, optimum, extra, fit.data_name, fit.n_agq, fit.n_dispersion,
                     warn=False)


def _optimise(problem: GlmmProblem, n_agq: int, start: np.ndarray | None = None, check: bool = True,
              options: dict | None = None, stage1_start: np.ndarray | None = None):
    """(OptSummary, extra parameters) of lme4's two stages; ``start`` = [θ, β, extra] skips stage 1
    (lme4's ``refit``), ``options`` go to the stage-2 optimiser, ``stage1_start`` = [θ, extra] is
    stage 1's start (default T_k = I, extra 0). For nAGQ = 0 the summary is stage 1's, over
    [θ, extra].

    Stage 2's first BOBYQA step is ``STAGE2_STEP`` for θ and extra and at most the stage-1
    standard error for each β (:func:`_stage2_steps`) unless ``options`` say otherwise. Neither stage takes the
    fourth-order refinement after the checks' Newton step (``refine=False``: it would move the
    estimates by ~1e-6 of their standard errors, at 4k + 1 more PIRLS runs). A stage 1 that is only
    stage 2's start (nAGQ ≥ 1) stops at :data:`STAGE1_START_CONTROL`'s tolerance, its PIRLS at a step
    of :data:`STAGE1_START_PIRLS_TOL`."""
    layout = problem.layout
    k, n_extra = layout.n_theta, problem.n_extra
    lower = layout.lower_bounds()
    options = dict(options or {})
    with blas_threads_for(problem.joint.m):
        if start is None:
            if stage1_start is None:
                stage1_start = np.r_[layout.initial(), np.zeros(n_extra)]
            criterion = problem.deviance_theta if n_agq == 0 else functools.partial(problem.deviance_theta,
                                                                                    tol=STAGE1_START_PIRLS_TOL)
            stage1 = optimize_theta(criterion, stage1_start, np.r_[lower, np.full(n_extra, -np.inf)],
                                    check=check and n_agq == 0, refine=False,
                                    control=None if n_agq == 0 else STAGE1_START_CONTROL)
            if n_agq == 0:
                return stage1, stage1.theta[k:]
            modes = problem.joint_modes(stage1.theta)
            start = np.r_[stage1.theta[:k], modes.x[problem.joint.q:], stage1.theta[k:]]
            options.setdefault("initial_step", _stage2_steps(problem, modes))
        bounds = np.r_[lower, np.full(problem.p + n_extra, -np.inf)]
        optimum = optimize_theta(problem.deviance, start, bounds, check=check, refine=False, **options)
    return optimum, optimum.theta[k + problem.p:]


def _stage2_steps(problem: GlmmProblem, modes) -> np.ndarray:
    """Stage 2's first BOBYQA steps: ``STAGE2_STEP`` for θ and extra; for β the smaller of that and
    its stage-1 standard error √(φ [(R_XᵀR_X)⁻¹]_jj), φ = Σdᵢ/n for a family with a scale (the
    Laplace criterion's curvature in β is then R_XᵀR_X/φ), else 1. (The SE alone, where it is
    larger than the step, cost cbpp 20% more runs.)"""
    unscaled = np.diag(modes.problem.unscaled_vcov(modes.factor))
    phi = float(modes.dev_resid.sum()) / problem.n if problem.family.has_scale else 1.0
    return _first_steps(problem, np.minimum(np.sqrt(np.maximum(phi * unscaled, 0.0)), STAGE2_STEP), STAGE2_STEP)


def _first_steps(problem: GlmmProblem, beta_steps: np.ndarray, step: float) -> np.ndarray:
    """BOBYQA's first steps over [θ, β, extra]: ``step`` for θ and extra, ``beta_steps`` for β where
    they are finite and positive (``step`` elsewhere)."""
    beta_steps = np.where(np.isfinite(beta_steps) & (beta_steps > 0), beta_steps, step)
    return np.r_[np.full(problem.n_theta, step), beta_steps, np.full(problem.n_extra, step)]


def _optimise_negative_binomial(problem: GlmmProblem, n_agq: int):
    """:func:`_optimise` of a ``glmer_nb`` problem (extra = log θ_NB) from lme4's start: the Poisson
    GLMM (log link; its nAGQ = 0 fit) and θ_NB = MASS's ``theta.ml`` at its conditional means (1 if
    theta.ml truncates at 0). With nAGQ ≥ 1 stage 2 starts there at once (its first steps from the
    Poisson fit's R_X): a stage 1 of the negative binomial would cost more PIRLS runs than it
    saves in stage 2 (grouseticks: 234 instead of 195)."""
    poisson = problem.with_family(Poisson())
    stage1, _ = _optimise(poisson, 0, check=False)
    modes = poisson.joint_modes(stage1.theta)
    theta_nb = theta_ml(problem.y, modes.mu, problem.weights)
    log_theta = np.log(theta_nb) if theta_nb > 0 else 0.0
    if n_agq == 0:
        return _optimise(problem, 0, stage1_start=np.r_[stage1.theta, log_theta])
    start = np.r_[stage1.theta, modes.x[poisson.joint.q:], log_theta]
    return _optimise(problem, n_agq, start=start, options={"initial_step": _stage2_steps(problem, modes)})


def _at_dispersion(problem: GlmmProblem, optimum, extra):
    """The problem with the family at its estimated dispersion held fixed, and the optimum over
    the remaining parameters (the estimated dispersion's row and column dropped from the Hessian:
    Var(β̂) treats it as known, as lme4's ``glmer.nb`` does)."""
    fixed = problem.with_family(problem.family_at(extra))
    keep = slice(0, len(optimum.theta) - problem.n_extra)
    return fixed, dataclasses.replace(optimum, theta_initial=optimum.theta_initial[keep], theta=optimum.theta[keep],
                                      lower=optimum.lower[keep], gradient=optimum.gradient[keep],
                                      hessian=optimum.hessian[keep, keep])


def _final_state(problem: GlmmProblem, optimum, n_agq: int):
    """(β̂, PIRLS state for u at (θ̂, β̂), joint PIRLS state or None): for nAGQ = 0, β̂ comes from the
    joint PIRLS at the stage-1 optimum [θ, extra]."""
    theta, joint = optimum.theta[:problem.n_theta], None
    if n_agq == 0:
        joint = problem.joint_modes(optimum.theta)
        beta, extra = joint.x[problem.joint.q:].copy(), optimum.theta[problem.n_theta:]
    else:
        _, beta, extra = problem.split(optimum.theta)
        beta = beta.copy()
    return beta, problem.conditional_modes(theta, beta, extra), joint


def _make_fit(spec, rows, problem: GlmmProblem, optimum, extra, name: str, n_agq: int, n_dispersion: int,
              warn: bool = True) -> GlmerFit:
    layout = problem.layout
    k = layout.n_theta
    theta = optimum.theta[:k]
    family = problem.family_at(extra)
    beta, state, joint = _final_state(problem, optimum, n_agq)
    y, prior = problem.y, problem.weights
    sigma = 1.0
    if family.has_scale:  # lme4: σ̂² = (Pearson χ² + ‖û‖²)/n
        pearson = float(np.sum(prior * (y - state.mu) ** 2 / family.variance(state.mu)))
        sigma = float(np.sqrt((pearson + state.ussq) / len(y)))
    if n_agq == 0:
        vcov = sigma**2 * joint.problem.unscaled_vcov(joint.factor)  # lme4's unsc(): (R_XᵀR_X)⁻¹
    else:
        vcov = _hessian_vcov(optimum.hessian, k, problem.p)
    u_terms = problem.u_only.spherical_effects(state.x)
    solution = PlsSolution(beta=beta, u=u_terms, b=relative_effects(u_terms, layout.templates(theta)), sigma=sigma,
                           vcov_beta=vcov, factor=state.factor)
    fit = GlmerFit(spec=spec, problem=problem, optimum=optimum, solution=solution, data_name=name, rows=rows,
                   family=family, n_agq=n_agq, y=y, prior_weights=prior, trials=problem.trials, state=state,
                   n_dispersion=n_dispersion)
    if not warn:
        return fit
    for message in optimum.messages:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    if optimum.singular:
        warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
    return fit


def _hessian_vcov(hessian: np.ndarray, n_theta: int, p: int) -> np.ndarray:
    """Var(β̂) = [2 H⁻¹]_ββ, H the Hessian of −2 log L over (θ, β[, extra]) (lme4 ``vcov(use.hessian = TRUE)``)."""
    H = 0.5 * (hessian + hessian.T)
    try:
        V = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError as err:
        raise MixedModelsError("the Hessian of the deviance at the optimum is singular; "
                               "Var(beta) is not available") from err
    return V[n_theta:n_theta + p, n_theta:n_theta + p]
