"""Denominator degrees of freedom for t and F tests of β: choose the method by name.

Kenward–Roger's module is imported when it is chosen (a summary with Satterthwaite's df, the
default, does not load it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..results import require_independent_residuals
from .satterthwaite import satterthwaite_f, satterthwaite_t, variance_df
from .varpar import require_linear_fit

__all__ = ["ddf_method", "t_test", "se_and_df", "f_test", "coef_table_ddf"]

_METHODS = {"satterthwaite": "satterthwaite", "kenward-roger": "kenward-roger", "kr": "kenward-roger",
            "kenward_roger": "kenward-roger"}


def ddf_method(ddf: str) -> str:
    """Normalise ``ddf`` ("Satterthwaite", "Kenward-Roger", "kr", ...) to one of two names."""
    method = _METHODS.get(str(ddf).lower())
    if method is None:
        raise ValueError(f"ddf must be 'satterthwaite' or 'kenward-roger', not {ddf!r}")
    return method


def t_test(fit, l, ddf: str) -> dict:
    """t test of lᵀβ = 0 with the chosen df."""
    require_independent_residuals(fit, "t tests")
    require_linear_fit(fit, "t tests")
    if ddf_method(ddf) == "satterthwaite":
        return satterthwaite_t(fit, l)
    from .kenward_roger import kr_t

    return kr_t(fit, l)


def se_and_df(fit, L, ddf: str) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors and df of lᵀβ̂ for every row l of ``L`` at once, as :func:`t_test` gives them
    one by one (Satterthwaite: √(lᵀVl); Kenward–Roger: the adjusted √(lᵀΦ_A l))."""
    require_independent_residuals(fit, "t tests")
    require_linear_fit(fit, "t tests")
    if ddf_method(ddf) == "satterthwaite":
        var, df = variance_df(fit, L)
        return np.sqrt(var), df
    from .kenward_roger import kr_rows

    return kr_rows(fit, L)


def f_test(fit, L, ddf: str) -> dict:
    """F test of Lβ = 0 with the chosen df."""
    require_independent_residuals(fit, "F tests")
    require_linear_fit(fit, "F tests")
    if ddf_method(ddf) == "satterthwaite":
        return satterthwaite_f(fit, L)
    from .kenward_roger import kr_f

    return kr_f(fit, L)


def coef_table_ddf(fit, ddf: str) -> pd.DataFrame:
    """Estimate, Std. Error, df, t value, Pr(>|t|) per coefficient (lmerTest ``summary``).

    For Kenward–Roger the Std. Error is the adjusted one, √(Φ_A)_jj, as lmerTest reports it.
    """
    p = len(fit.solution.beta)
    rows = [t_test(fit, np.eye(p)[j], ddf) for j in range(p)]
    return pd.DataFrame(rows, index=fit.spec.fixed.column_names,
                        columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])
