"""The compiled helpers of mixedmodels.glmm._kernels against scipy."""

from __future__ import annotations

import numpy as np
import scipy.special as sp

from mixedmodels.glmm._kernels import (EPS, LOG_EPS, SQRT2_M1, _exp, _log1p_unit, log_poisson_rows,
                                       logit_binomial_rows, trigamma)


def test_trigamma_is_scipys_polygamma():
    x = np.concatenate([np.logspace(-8, 8, 20_001), np.linspace(0.01, 40, 4001)])
    np.testing.assert_allclose(trigamma(x), sp.polygamma(1, x), rtol=5e-15)
    negative = -np.linspace(0.05, 30.3, 600) + 1e-3 * np.pi  # no poles
    np.testing.assert_allclose(trigamma(negative), sp.polygamma(1, negative), rtol=1e-9)
    np.testing.assert_array_equal(trigamma(np.array([0.0, -3.0, np.inf, np.nan])),
                                  sp.polygamma(1, np.array([0.0, -3.0, np.inf, np.nan])))
    assert trigamma(np.ones((2, 3))).shape == (2, 3)


def test_exp_and_log1p_polynomials_are_numpys_to_rounding():
    """The compiled rows' exp (−708 ≤ x ≤ 709) and log(1 + e) (0 ≤ e ≤ 1) are within 1 and 2.2 ulp
    of numpy's (module comment of mixedmodels.glmm._kernels)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-708, 709, 20_000), rng.uniform(-40, 40, 20_000), np.linspace(-1, 1, 2001),
                        [0.0, -708.0, 709.0, LOG_EPS]])
    np.testing.assert_allclose([_exp(v) for v in x], np.exp(x), rtol=2.3e-16, atol=0)
    e = np.concatenate([rng.uniform(0, 1, 20_000), np.exp(rng.uniform(-40, 0, 20_000)), [1.0, SQRT2_M1,
                        np.nextafter(SQRT2_M1, 1.0), np.nextafter(SQRT2_M1, 0.0), 1e-300]])
    np.testing.assert_allclose([_log1p_unit(v) for v in e], np.log1p(e), rtol=5e-16, atol=0)
    assert _log1p_unit(0.0) == 0.0


def test_rows_at_the_ends_of_the_range():
    """μ clamps at ε and overflows to +inf where numpy's exp does; the logit rows stay finite."""
    eta = np.array([-800.0, -36.0, 0.0, 36.0, 709.5, 800.0])
    y, w, zero = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 3.0]), np.ones(6), np.zeros(6)
    mu = log_poisson_rows(y, eta, zero, w, zero)[0]
    np.testing.assert_allclose(mu[:4], np.maximum(np.exp(eta[:4]), EPS), rtol=2.3e-16)
    assert np.isinf(mu[4:]).all()
    b = logit_binomial_rows(np.clip(y, 0, 1), eta, zero, w, zero)
    assert all(np.isfinite(a).all() for a in b)
