"""``lmer``: fit a linear mixed model from an lme4 formula (lme4's four steps in one call).

    design  = build_design(formula, data)                  # lFormula
    problem = DevianceProblem(cross-products of design)    # mkLmerDevfun; problem.deviance(θ)
    optimum = optimize_theta(problem.deviance, ...)        # optimizeLmer + checkConv
    fit     = LmerFit(design, problem, optimum, solution)  # mkMerMod
"""

from __future__ import annotations

import sys
import warnings

from ._threads import blas_threads_for
from .blocks import TermData, build_cross_products
from .design import ModelDesign, build_design, check_response_variation, data_name_of
from .errors import SINGULAR_MESSAGE, ConvergenceWarning, SingularFitWarning
from .largedata import is_large_data
from .objective import DevianceProblem
from .optimize import optimize_theta
from .results import LmerFit

__all__ = ["lmer", "build_problem", "fit_problem"]


def build_problem(design: ModelDesign, reml: bool = True) -> DevianceProblem:
    """Form A = [Z X y]ᵀ[Z X y] once and wrap it as the objective over θ."""
    terms = [TermData(t.codes, t.z, t.n_levels) for t in design.terms]
    cross = build_cross_products(terms, design.X, design.y, design.weights, design.offset)
    return DevianceProblem(cross, [t.n_cols for t in design.terms], [t.n_levels for t in design.terms],
                           design.X.shape[1], reml=reml)


def fit_problem(design: ModelDesign, problem: DevianceProblem, data_name: str = "", *, check: bool = True,
                theta0=None, warn: bool = True, initial_step: float | None = None) -> LmerFit:
    """Optimise θ for a built problem and assemble the fit (used by refits and bootstrap)."""
    layout = problem.layout
    with blas_threads_for(problem.cross.C.shape[0]):
        optimum = optimize_theta(problem.deviance, layout.initial() if theta0 is None else theta0,
                                 layout.lower_bounds(), check=check, initial_step=initial_step)
        solution = problem.solve(optimum.theta)
    fit = LmerFit(design=design, problem=problem, optimum=optimum, solution=solution, data_name=data_name)
    if warn:
        for message in optimum.messages:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        if optimum.singular:
            warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=3)
    return fit


def lmer(formula: str, data, reml: bool | None = None, weights=None, offset=None, *, REML: bool | None = None,
         data_name: str | None = None, client=None, progress: bool | None = None,
         functions: dict | None = None) -> LmerFit:
    """Fit a linear mixed model by REML (default) or maximum likelihood, as lme4's ``lmer``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``: fixed part as in R, random
        terms ``(1|g)``, ``(x|g)``, ``(0+x|g)``, ``(x||g)``, ``(1|a/b)``, ``(1|a:b)``.
    data : pandas or polars DataFrame, Dask DataFrame, or Parquet path(s)
        Not modified. Rows with NA in a used column are dropped (counted in a warning). A Dask
        DataFrame, a ``.parquet``/``.pq`` path, a directory or glob of them is fitted without
        loading it (:func:`mixedmodels.largedata.fit.fit_large`).
    reml : bool, default True
        REML criterion (True) or ML deviance (False).
    REML : bool, optional
        lme4's spelling of ``reml`` (give one of the two, not both).
    weights, offset : array-like or column name, optional
        Prior weights (residual variance σ²/wᵢ) and a known offset.
    data_name : str, optional
        Shown as "Data:" in the summary; by default the data set's name when loaded from
        ``datasets``, else the name of the caller's variable holding ``data``, else no line.
    functions : dict, optional
        Functions the formula may call besides column names, arithmetic, ``I``, ``log``, ``exp``,
        ``sqrt``, ``scale``, ``center``, NumPy ufuncs ... (:mod:`mixedmodels.design.expressions`):
        ``functions={"logit": logit}``. A formula never runs any other code. In-memory data only.
    client : dask.distributed.Client, optional
        Dask/Parquet data only: where the reduction runs.
    progress : bool, default True
        Dask/Parquet data only: show a progress bar over the chunks.

    Returns
    -------
    LmerFit

    Raises
    ------
    TypeError
        Both ``reml`` and ``REML`` given, or ``client``/``progress`` given with in-memory data.

    Examples
    --------
    >>> from mixedmodels import lmer, datasets
    >>> fit = lmer("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy"))
    >>> round(fit.objective, 4)
    1743.6283
    """
    if reml is not None and REML is not None:
        raise TypeError("lmer() got both reml= and REML= (the same argument); give one")
    reml = True if reml is None and REML is None else bool(REML if reml is None else reml)
    if is_large_data(data):
        from .largedata.fit import fit_large

        if functions is not None:
            raise TypeError("lmer(): functions= applies to in-memory data only, not to Dask DataFrames or Parquet files")

        return fit_large(formula, data, reml, weights, offset, data_name=data_name, client=client,
                         progress=True if progress is None else progress)
    if client is not None or progress is not None:
        raise TypeError("lmer(): client= and progress= apply to Dask DataFrames and Parquet files only, "
                        f"not to in-memory data ({type(data).__name__})")
    design = build_design(formula, data, weights=weights, offset=offset, functions=functions)
    check_response_variation(design)
    name = data_name if data_name is not None else data_name_of(data, sys._getframe(1))
    return fit_problem(design, build_problem(design, reml), name)
