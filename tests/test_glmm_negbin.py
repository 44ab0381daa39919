"""lme4's glmer.nb pieces (mixedmodels.glmm.negbin): MASS's theta.ml and the Brent search over log θ."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from mixedmodels.glmm.negbin import minimise_log_theta, theta_ml

Y = np.array([0, 1, 3, 8, 20, 2, 5, 0, 1, 4], float)
MU = np.array([0.5, 2, 3, 4, 9, 2.5, 3, 1, 1.5, 6])


def test_theta_ml_as_mass():
    # R: MASS::theta.ml(y, mu, limit = 20, eps = 1e-4) = 4.7335274089845223
    theta = theta_ml(Y, MU, np.ones(10))
    assert theta == pytest.approx(4.7335274089845223, rel=1e-12)
    score = np.sum(special.digamma(theta + Y) - special.digamma(theta) + np.log(theta) + 1 - np.log(theta + MU)
                   - (Y + theta) / (MU + theta))
    assert abs(score) < 1e-8


def test_minimise_log_theta_finds_the_profile_minimum():
    calls = []

    def profile(log_theta):
        calls.append(log_theta)
        return (log_theta - np.log(3.3)) ** 2

    assert minimise_log_theta(profile, 2.0) == pytest.approx(3.3, rel=1e-4)
    assert min(calls) >= np.log(2.0) - 3 and max(calls) <= np.log(2.0) + 3
