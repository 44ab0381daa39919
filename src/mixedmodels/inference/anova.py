"""Mixed-model ANOVA tables (lmerTest ``anova``) and dispatch to likelihood-ratio tests.

One fitted model: an F test per fixed-effect term with the hypothesis matrices of
:mod:`.contrasts` (type 1, 2 or 3) and Satterthwaite or Kenward–Roger denominator df.
Two or more models: ``mixedmodels.inference.lrt.likelihood_ratio_test`` (lme4 ``anova``).
"""

from __future__ import annotations

import pandas as pd

from .contrasts import term_contrasts
from .ddf import f_test
from .varpar import require_linear_fit

__all__ = ["anova"]

COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
_TYPES = {1: 1, 2: 2, 3: 3, "1": 1, "2": 2, "3": 3, "I": 1, "II": 2, "III": 3}


def anova(fit, *others, type=3, ddf: str = "satterthwaite") -> pd.DataFrame:
    """ANOVA table of the fixed-effect terms, or a likelihood-ratio test of several fits.

    Parameters
    ----------
    fit : LmerFit
    *others : LmerFit
        With one or more further fits, compare the models by likelihood ratio instead.
    type : 1, 2, 3 or "I", "II", "III"
        Sequential, marginal (type II) or type III hypotheses, as lmerTest builds them.
    ddf : {"satterthwaite", "kenward-roger"}

    Returns
    -------
    DataFrame
        Indexed by term (R's labels), columns Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F);
        Mean Sq = F σ̂² and Sum Sq = NumDF · Mean Sq, as lmerTest reports them.
    """
    if others:
        from .lrt import likelihood_ratio_test

        return likelihood_ratio_test(fit, *others)
    require_linear_fit(fit, "ANOVA F tests")
    if type not in _TYPES:
        raise ValueError(f"type must be 1, 2, 3, 'I', 'II' or 'III', not {type!r}")
    rows = {term: f_test(fit, L, ddf) for term, L in term_contrasts(fit, _TYPES[type]).items() if len(L)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS)
