"""The distribution functions a fit's summary, tidy table and JSON need, without :mod:`scipy.stats`.

:mod:`scipy.stats` takes about half a second to import, longer than fitting and summarising a
small model. These functions call the special functions that :mod:`scipy.stats` itself calls, so
they return the same numbers to the last bit, edge cases (ν ≤ 0, NaN, ±∞, p = 0 or 1) included;
``tests/test_distributions.py`` compares them with :mod:`scipy.stats`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["t_pvalue", "t_quantile", "norm_quantile"]


def t_pvalue(t, df):
    """Two-sided p-value of a t statistic: 2 P(T_ν > |t|) = 2 F_ν(−|t|), ν = ``df``.

    Equal to ``2 * scipy.stats.t.sf(abs(t), df)`` (``special.stdtr(ν, −|t|)``; NaN for ν ≤ 0).
    """
    return 2 * special.stdtr(df, -abs(t))


def t_quantile(p, df):
    """The p-quantile of Student's t with ν = ``df`` degrees of freedom, F_ν⁻¹(p).

    Equal to ``scipy.stats.t.ppf(p, df)``: ``special.stdtrit(ν, p)``, except F_ν⁻¹(0) = −∞ (where
    the special function alone returns +∞); NaN for ν ≤ 0 or p outside [0, 1].
    """
    p, df = np.asarray(p, dtype=float), np.asarray(df, dtype=float)
    return np.where((p == 0) & (df > 0), -np.inf, special.stdtrit(df, p))[()]


def norm_quantile(p):
    """The p-quantile of the standard normal, Φ⁻¹(p); equal to ``scipy.stats.norm.ppf(p)`` (``special.ndtri``)."""
    return special.ndtri(p)
