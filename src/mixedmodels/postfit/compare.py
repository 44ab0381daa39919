"""An information-criterion table of several models fitted to the same data (``mm.compare``).

For each model: npar, AIC = d + 2 npar, BIC = d + npar log n, logLik = −d/2 and the criterion d
(−2 log-likelihood; for REML fits the REML criterion), printed as lme4's ``anova(m1, m2, ...)``
prints its table. REML criteria of models with different fixed effects are not comparable (the
restricted likelihood depends on X), so REML fits are then refitted by maximum likelihood first,
with lme4's message; when every model is a REML fit with the same fixed-effects matrix the REML
criteria are compared as they are (lme4's ``anova(..., refit = FALSE)``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..inference.lrt import REFIT_MESSAGE, _check_same_data, _default_names, refit_ml
from ..rformat import RTable

__all__ = ["ModelComparison", "compare"]

COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance"]


@dataclass(frozen=True)
class ModelComparison:
    """The table of :func:`compare` and what it was computed from.

    Attributes
    ----------
    table : RTable        npar, AIC, BIC, logLik, deviance; one row per model, in the order given; prints
                          as lme4's ``anova`` table (print.anova rounding, "Data:"/"Models:" heading)
    formulas : dict       row name → formula
    criterion : str       "ML" (maximum likelihood, refitted where needed) or "REML"
    data_name : str
    """

    table: pd.DataFrame
    formulas: dict[str, str]
    criterion: str
    data_name: str

    def __repr__(self) -> str:
        return str(self.table)


def _same_fixed_effects(fits) -> bool:
    """Same columns of X on the same rows: equal names and equal XᵀX and Σx (from the specification)."""
    first = fits[0].spec
    return all(f.spec.fixed.column_names == first.fixed.column_names and np.array_equal(f.spec.gram, first.gram)
               and np.array_equal(f.spec.xsum, first.xsum) for f in fits[1:])


def compare(*fits, names=None, refit: bool | None = None) -> ModelComparison:
    """Compare models fitted to the same data by AIC, BIC and log-likelihood.

    Parameters
    ----------
    *fits : LmerFit or GlmerFit
        Two or more models fitted to the same rows of the same response (all lmer or all glmer).
    names : sequence of str, optional
        Row names; the formulas, or m1, m2, ... when two formulas coincide.
    refit : bool, optional
        Refit REML fits by ML (True), never (False: only allowed when the fixed effects agree),
        or, by default, exactly when the REML fits differ in their fixed effects.

    Returns
    -------
    ModelComparison
        ``.table`` (DataFrame) and an anova-like printout.

    Raises
    ------
    ValueError
        Fewer than two models, different data, a mix of lmer and glmer fits, or ``refit=False``
        for REML fits with different fixed effects.
    """
    from ..results import require_independent_residuals

    for each in fits:
        require_independent_residuals(each, "compare()")
    if len(fits) < 2:
        raise ValueError("compare() needs at least two fitted models")
    if len({getattr(f, "family", None) is None for f in fits}) > 1:
        raise ValueError("compare() needs all models of one kind: lmer fits or glmer fits, not both")
    names = list(_default_names(fits) if names is None else names)
    if len(names) != len(fits):
        raise ValueError(f"got {len(names)} names for {len(fits)} models")
    _check_same_data(fits)
    any_reml = any(f.reml for f in fits)
    same_fixed = _same_fixed_effects(fits)
    if refit is False and any_reml and not (same_fixed and all(f.reml for f in fits)):
        raise ValueError("REML criteria are comparable only between REML fits with the same fixed effects; "
                         "use refit=True (or the default) to compare by maximum likelihood")
    do_refit = any_reml and (refit is True or (refit is None and not (same_fixed and all(f.reml for f in fits))))
    if do_refit:
        warnings.warn(REFIT_MESSAGE, UserWarning, stacklevel=2)
        fits = [refit_ml(f) for f in fits]
    rows = [[f.npar, f.objective + 2 * f.npar, f.objective + f.npar * math.log(f.nobs), -0.5 * f.objective,
             f.objective] for f in fits]
    criterion = "REML" if any(f.reml for f in fits) else "ML"
    models = [name if name == f.formula else f"{name}: {f.formula}" for name, f in zip(names, fits)]
    footer = "(REML fits with the same fixed effects: deviance is the REML criterion)" if criterion == "REML" else None
    table = RTable(pd.DataFrame(rows, index=names, columns=COLUMNS).astype({"npar": int}),
                   heading="\n".join([f"Data: {fits[0].data_name}", "Models:", *models]), footer=footer)
    return ModelComparison(table=table, formulas=dict(zip(names, (f.formula for f in fits))), criterion=criterion,
                           data_name=fits[0].data_name)
