"""Likelihood-ratio tests between nested mixed models (lme4's ``anova(m1, m2, ...)``).

For models ordered by their number of parameters, consecutive pairs are compared by

    χ² = max(0, 2 (ℓ_i − ℓ_{i−1})),   df = npar_i − npar_{i−1},   p = P(χ²_df > χ²)

with ℓ the maximised log-likelihood. The REML criterion is not a likelihood of comparable
models (it depends on X), so REML fits are first refitted by maximum likelihood, as lme4 does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..fitting import fit_problem
from ..rformat import RTable

__all__ = ["likelihood_ratio_test", "refit_ml"]

COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"


def refit_ml(fit):
    """The same model fitted by maximum likelihood (a REML fit is refitted; an ML fit is returned).

    A is shared with the REML problem (``DevianceProblem.with_reml``), so only the optimisation
    is repeated; it starts from the REML θ̂, as lme4's ``refitML``.
    """
    if not fit.reml:
        return fit
    return fit_problem(fit.spec, fit.problem.with_reml(False), fit.rows, fit.data_name, theta0=fit.theta, warn=False)


def _check_same_data(fits) -> None:
    """The models were fitted to the same rows: same n and the same response.

    With both fits' rows in memory the responses are compared value by value; otherwise (Parquet,
    Dask) by yᵀWy, the last element of A, to 1e-12 (the rounding of a Dask reduction).
    """
    first = fits[0]
    for other in fits[1:]:
        if other.nobs != first.nobs:
            raise ValueError(f"models were not all fitted to the same size of dataset "
                             f"({first.nobs} vs {other.nobs} observations)")
        if first.in_memory and other.in_memory:
            same = np.array_equal(first.design.y, other.design.y)
        else:
            a, b = first.problem.cross.C[-1, -1], other.problem.cross.C[-1, -1]
            same = abs(a - b) <= 1e-12 * max(abs(a), abs(b))
        if not same:
            raise ValueError("models were not all fitted to the same data: their responses differ")


def _default_names(fits) -> list[str]:
    formulas = [f.formula for f in fits]
    return formulas if len(set(formulas)) == len(formulas) else [f"m{i + 1}" for i in range(len(fits))]


def likelihood_ratio_test(*fits, names=None) -> pd.DataFrame:
    """Compare nested linear mixed models by likelihood ratio, as lme4's ``anova(m1, m2, ...)``.

    Parameters
    ----------
    *fits : LmerFit
        Two or more models fitted to the same data; REML fits are refitted by ML first (with a
        ``UserWarning`` "refitting model(s) with ML (instead of REML)", lme4's message).
    names : sequence of str, optional
        Row labels; the formulas by default (``m1``, ``m2``, ... when two formulas coincide).

    Returns
    -------
    RTable
        A DataFrame with one row per model, ordered by npar (stable), columns npar, AIC, BIC,
        logLik, deviance, Chisq, Df, Pr(>Chisq); the first row's test columns are NaN. It prints
        as lme4's table (heading "Data: ...", "Models:", one line per model; stars).

    Raises
    ------
    ValueError
        Fewer than two models, or models fitted to different data.
    """
    from ..results import require_independent_residuals

    for each in fits:
        require_independent_residuals(each, "a likelihood-ratio test")
    if len(fits) < 2:
        raise ValueError("a likelihood-ratio test needs at least two fitted models")
    names = list(_default_names(fits) if names is None else names)
    if len(names) != len(fits):
        raise ValueError(f"got {len(names)} names for {len(fits)} models")
    _check_same_data(fits)
    if any(f.reml for f in fits):
        warnings.warn(REFIT_MESSAGE, UserWarning, stacklevel=2)
        fits = [refit_ml(f) for f in fits]
    order = sorted(range(len(fits)), key=lambda i: fits[i].npar)
    rows = []
    for i in order:
        f = fits[i]
        deviance = f.objective
        rows.append([f.npar, deviance + 2 * f.npar, deviance + f.npar * math.log(f.nobs), -0.5 * deviance, deviance])
    table = pd.DataFrame(rows, index=[names[i] for i in order], columns=COLUMNS[:5])
    table["npar"] = table["npar"].astype(int)
    chisq = np.r_[np.nan, np.maximum(0.0, -np.diff(table["deviance"].to_numpy()))]
    df = np.r_[np.nan, np.diff(table["npar"].to_numpy())]
    with np.errstate(invalid="ignore"):
        table["Chisq"] = chisq
        table["Df"] = df
        table["Pr(>Chisq)"] = stats.chi2.sf(chisq, df)
    models = [name if name == fits[i].formula else f"{name}: {fits[i].formula}" for name, i in
              zip(table.index, order)]
    return RTable(table, heading="\n".join([f"Data: {fits[0].data_name}", "Models:", *models]))
