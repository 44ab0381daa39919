"""Mixed-model ANOVA tables (lmerTest ``anova``) and dispatch to likelihood-ratio tests.

One fitted model: an F test per fixed-effect term with the hypothesis matrices of
:mod:`.contrasts` (type 1, 2 or 3) and Satterthwaite or Kenward–Roger denominator df.
Two or more models: ``mixedmodels.inference.lrt.likelihood_ratio_test`` (lme4 ``anova``).
"""

from __future__ import annotations

import warnings

import pandas as pd

from ..rformat import RTable
from .contrasts import term_contrasts
from .ddf import ddf_method, f_test
from .varpar import require_linear_fit

__all__ = ["anova"]

COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
TYPES = {1: 1, 2: 2, 3: 3, "1": 1, "2": 2, "3": 3, "I": 1, "II": 2, "III": 3}


def anova(fit, *others, type=3, ddf: str | None = None) -> pd.DataFrame:
    """ANOVA table of the fixed-effect terms, or a likelihood-ratio test of several fits.

    Parameters
    ----------
    fit : LmerFit or MmrmFit
        For an :class:`~mixedmodels.MmrmFit` the table is its :meth:`~mixedmodels.MmrmFit.anova`
        (NumDF, DenDF, F value, Pr(>F)), with the df method chosen when fitting.
    *others : LmerFit
        With one or more further fits, compare the models by likelihood ratio instead.
    type : 1, 2, 3 or "I", "II", "III"
        Sequential, marginal (type II) or type III hypotheses, as lmerTest builds them.
    ddf : {"satterthwaite", "kenward-roger"}, default "satterthwaite"

    Returns
    -------
    RTable
        A DataFrame indexed by term (R's labels), columns Sum Sq, Mean Sq, NumDF, DenDF, F value,
        Pr(>F); Mean Sq = F σ̂² and Sum Sq = NumDF · Mean Sq, as lmerTest reports them. It prints
        as lmerTest's table ("Type III Analysis of Variance Table with Satterthwaite's method",
        R's rounding, stars). With ``others``: :func:`.lrt.likelihood_ratio_test`'s table.
    """
    from ..mmrm.results import MmrmFit

    if isinstance(fit, MmrmFit):  # its own F tests
        if others:
            raise TypeError("likelihood-ratio tests of mmrm fits are not implemented")
        if ddf is not None:
            raise TypeError("the df method of an mmrm fit is chosen when fitting: mm.mmrm(..., method=...)")
        return fit.anova(type=type)
    ddf = "satterthwaite" if ddf is None else ddf
    if others:
        from .lrt import likelihood_ratio_test

        with warnings.catch_warnings(record=True) as caught:  # the ML-refit warning, at the caller's line
            warnings.simplefilter("always")
            table = likelihood_ratio_test(fit, *others)
        for warning in caught:
            warnings.warn(warning.message, warning.category, stacklevel=2)
        return table
    require_linear_fit(fit, "ANOVA F tests")
    if type not in TYPES:
        raise ValueError(f"type must be 1, 2, 3, 'I', 'II' or 'III', not {type!r}")
    rows = {term: f_test(fit, L, ddf) for term, L in term_contrasts(fit.spec.fixed, fit.spec.gram, TYPES[type]).items() if len(L)}
    method = "Satterthwaite's" if ddf_method(ddf) == "satterthwaite" else "Kenward-Roger's"
    heading = f"Type {'I' * TYPES[type]} Analysis of Variance Table with {method} method"
    return RTable(pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS), heading=heading)
