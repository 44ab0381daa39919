"""Optimise a built problem and assemble the fit (lme4's ``optimizeLmer`` + ``mkMerMod``).

    spec, cross, rows = open_source(data).model(formula)     # lFormula (+ the one pass over the rows)
    problem = DevianceProblem(cross, ...)                     # mkLmerDevfun
    fit = fit_problem(spec, problem, rows)                    # optimizeLmer, checkConv, mkMerMod
"""

from __future__ import annotations

import warnings

from ._threads import blas_threads_for
from .control import LmerControl
from .design.spec import ModelSpec
from .errors import ConvergenceWarning, SingularFitWarning
from .objective import DevianceProblem
from .optimize import optimize_theta
from .results import SINGULAR_MESSAGE, LmerFit

__all__ = ["fit_problem", "problem_of"]


def problem_of(spec: ModelSpec, cross, reml: bool) -> DevianceProblem:
    """The profiled criterion over θ for a specification and its A."""
    return DevianceProblem(cross, [t.n_cols for t in spec.terms], [t.n_levels for t in spec.terms],
                           spec.fixed.n_columns, reml=reml)


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
    with blas_threads_for(problem.cross.C.shape[0]):
        optimum = optimize_theta(problem.deviance, layout.initial() if theta0 is None else theta0,
                                 layout.lower_bounds(), check=check, initial_step=initial_step, control=control)
        solution = problem.solve(optimum.theta)
    fit = LmerFit(spec=spec, problem=problem, optimum=optimum, solution=solution, data_name=data_name, rows=rows)
    if warn:
        for message in optimum.messages:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if optimum.singular:
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
    return fit
