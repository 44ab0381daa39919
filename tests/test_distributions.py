"""mixedmodels._distributions equals scipy.stats to the last bit, edge cases included."""

from __future__ import annotations

import numpy as np
from scipy import stats

from mixedmodels._distributions import norm_quantile, t_pvalue, t_quantile

DF = [0.0, -1.0, np.nan, np.inf, -np.inf, 1e-300, 0.5, 1.0, 2.0, 3.7, 17.0, 1e6, 1e300]
P = [0.0, 1e-300, 1e-10, 0.025, 0.5, 0.975, 0.995, 1 - 1e-16, 1.0, 1.5, -0.1, np.nan, np.inf]
T = [0.0, -0.0, 1e-300, 0.5, -2.1, 3.0, 36.8, 1e10, np.inf, -np.inf, np.nan]


def identical(ours, theirs) -> bool:
    return (type(ours) is type(theirs) and np.shape(ours) == np.shape(theirs)
            and np.array_equal(ours, theirs, equal_nan=True))


def test_scalars_equal_scipy_stats():
    for df in DF:
        for p in P:
            assert identical(t_quantile(p, df), stats.t.ppf(p, df)), (p, df)
        for t in T:
            assert identical(t_pvalue(t, df), 2 * stats.t.sf(abs(t), df)), (t, df)
    for p in P:
        assert identical(norm_quantile(p), stats.norm.ppf(p)), p


def test_arrays_equal_scipy_stats():
    p, df, t = np.array(P)[:, None], np.array(DF)[None, :], np.array(T)[:, None]
    assert identical(t_quantile(p, df), stats.t.ppf(p, df))
    assert identical(t_quantile(0.975, np.array(DF)), stats.t.ppf(0.975, np.array(DF)))
    assert identical(t_pvalue(t, df), 2 * stats.t.sf(abs(t), df))
    assert identical(norm_quantile(np.array(P)), stats.norm.ppf(np.array(P)))
