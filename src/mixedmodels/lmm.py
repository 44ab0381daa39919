"""``lmer``: fit a linear mixed model from an lme4 formula (lme4's four steps, one pipeline for every source).

    source             = open_source(data)                      # frame, Parquet files or Dask
    spec, cross, rows  = source.model(formula, weights, offset)  # lFormula + the one pass: A = [Z X y]ᵀ[Z X y]
    problem            = problem_of(spec, cross, reml)           # mkLmerDevfun; problem.deviance(θ)
    fit                = fit_problem(spec, problem, rows)        # optimizeLmer + checkConv + mkMerMod
"""

from __future__ import annotations

import sys

from .control import LmerControl
from .fitting import check_response_variation, fit_problem, problem_of
from .design import data_name_of
from .results import LmerFit
from .sources import open_source

__all__ = ["lmer"]


def lmer(formula: str, data, reml: bool | None = None, weights=None, offset=None, *, REML: bool | None = None,
         control: LmerControl | None = None, data_name: str | None = None, client=None, progress: bool | None = None,
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
        loading it: the same pipeline, with A summed over row groups or partitions.
    reml : bool, default True
        REML criterion (True) or ML deviance (False).
    REML : bool, optional
        lme4's spelling of ``reml`` (give one of the two, not both).
    weights, offset : array-like or column name, optional
        Prior weights (residual variance σ²/wᵢ) and a known offset (column names for data
        larger than memory).
    control : LmerControl, optional
        Tolerances and optimiser settings (lme4's ``lmerControl``).
    data_name : str, optional
        Shown as "Data:" in the summary; by default the data set's name when loaded from
        ``datasets`` (or the Parquet file's), else the name of the caller's variable holding
        ``data``, else no line.
    client : dask.distributed.Client, optional
        Dask/Parquet data only: where the reduction runs (default: the active client, if any).
    progress : bool, default True
        Dask/Parquet data only: show a progress bar over the chunks.
    functions : dict, optional
        Functions the formula may call besides column names, arithmetic, ``I``, ``log``, ``exp``,
        ``sqrt``, ``scale``, ``center``, NumPy ufuncs ... (:mod:`mixedmodels.design.expressions`):
        ``functions={"logit": logit}``. A formula never runs any other code. In-memory data only.

    Returns
    -------
    LmerFit

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
    source = open_source(data, client=client, progress=progress, functions=functions, caller="lmer")
    spec, cross, rows = source.model(formula, weights, offset)
    check_response_variation(spec, cross)
    name = data_name if data_name is not None else (source.name or data_name_of(data, sys._getframe(1)))
    return fit_problem(spec, problem_of(spec, cross, reml), rows, name, control=control)
