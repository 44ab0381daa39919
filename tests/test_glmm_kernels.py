"""The compiled helpers of mixedmodels.glmm._kernels against scipy."""

from __future__ import annotations

import numpy as np
import scipy.special as sp

from mixedmodels.glmm._kernels import trigamma


def test_trigamma_is_scipys_polygamma():
    x = np.concatenate([np.logspace(-8, 8, 20_001), np.linspace(0.01, 40, 4001)])
    np.testing.assert_allclose(trigamma(x), sp.polygamma(1, x), rtol=5e-15)
    negative = -np.linspace(0.05, 30.3, 600) + 1e-3 * np.pi  # no poles
    np.testing.assert_allclose(trigamma(negative), sp.polygamma(1, negative), rtol=1e-9)
    np.testing.assert_array_equal(trigamma(np.array([0.0, -3.0, np.inf, np.nan])),
                                  sp.polygamma(1, np.array([0.0, -3.0, np.inf, np.nan])))
    assert trigamma(np.ones((2, 3))).shape == (2, 3)
