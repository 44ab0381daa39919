"""The compiled PIRLS rows of glmmTMB's nbinom1 (mixedmodels.glmm._nbinom1) against scipy's
digamma/trigamma formulas of the family (mixedmodels.glmm.families.NBinom1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from mixedmodels.glmm._nbinom1 import SUM_LIMIT, nbinom1_rows
from mixedmodels.glmm.families import NBinom1


def scipy_rows(y, mu, w, phi):
    k = mu / phi
    score = k * (special.digamma(y + k) - special.digamma(k) - np.log1p(phi))
    info = -(k**2) * (special.polygamma(1, y + k) - special.polygamma(1, k)) - score
    return w * info, score / info


@pytest.mark.parametrize("phi", [0.05, 0.7, 12.0])
def test_rows_are_the_digamma_formulas(phi):
    # counts from 0 to beyond SUM_LIMIT (finite sums below it, scipy's ψ/ψ′ above), means from 1e-3 to 1e3
    y = np.r_[0, 1, 2, 5, 17, 64, SUM_LIMIT, SUM_LIMIT + 1, 300, 2500].astype(float)
    mu = np.r_[1e-3, 0.4, 3.0, 5.0, 20.0, 40.0, 300.0, 250.0, 1e3, 2e3]
    w = np.r_[1.0, 2.0, 0.5, 1.0, 1.0, 3.0, 1.0, 1.0, 0.25, 1.0]
    family = NBinom1(phi=phi)
    part = family.saturated_deviance_part(y, w)
    dev, W, resid = nbinom1_rows(y, mu, w, part, phi)
    W_ref, resid_ref = scipy_rows(y, mu, w, phi)
    np.testing.assert_allclose(W, W_ref, rtol=1e-11)
    np.testing.assert_allclose(W * resid, W_ref * resid_ref, rtol=1e-10, atol=1e-12)  # w × score
    np.testing.assert_allclose(dev, family.deviance_residuals(y, mu, w), rtol=1e-12, atol=1e-9)


def test_family_uses_the_compiled_rows():
    family, y, w = NBinom1(phi=0.7), np.array([0.0, 1, 3, 8, 20, 400]), np.ones(6)
    eta = np.log(np.array([0.5, 2.0, 3.0, 4.0, 9.0, 350.0]))
    part = family.saturated_deviance_part(y, w)
    mu, dev, W, working = family.working_state(y, eta, 0.5, w, part)
    resid = working - (eta - 0.5)
    np.testing.assert_allclose(mu, np.exp(eta))
    np.testing.assert_allclose(W, scipy_rows(y, mu, w, 0.7)[0], rtol=1e-11)
    np.testing.assert_allclose(family.laplace_weights(y, eta, mu, w), W)
    np.testing.assert_allclose(family.newton(y, eta, mu, w)[1], resid)
