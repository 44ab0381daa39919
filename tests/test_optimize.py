"""The optimiser's edge cases: nlopt's roundoff-limited stop, and the refinement of θ̂."""

from __future__ import annotations

import nlopt
import numpy as np
import pytest

from mixedmodels.optimize import optimize_theta


def _quadratic(theta):
    return float(np.sum((np.asarray(theta) - [0.7, 0.2]) ** 2 * [3.0, 1.0]) + 10.0)


def test_roundoff_limited_returns_best_point(monkeypatch):
    """nlopt raises RoundoffLimited and drops the point; the best point evaluated is returned."""
    original_set = nlopt.opt.set_min_objective
    objectives = {}

    def set_min_objective(self, f):
        objectives[id(self)] = f
        return original_set(self, f)

    def optimize(self, x):
        f = objectives[id(self)]
        for point in ([0.9, 0.9], [0.69, 0.21], [0.5, 0.5]):
            f(np.array(point), np.empty(0))
        raise nlopt.RoundoffLimited("roundoff-limited")

    monkeypatch.setattr(nlopt.opt, "set_min_objective", set_min_objective)
    monkeypatch.setattr(nlopt.opt, "optimize", optimize)
    result = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([0.0, 0.0]), check=False)
    assert result.return_code == "ROUNDOFF_LIMITED"
    np.testing.assert_allclose(result.theta, [0.69, 0.21])
    assert result.objective == pytest.approx(_quadratic([0.69, 0.21]))


def test_refined_optimum_of_a_smooth_criterion():
    """The refinement removes the O(δ²) bias of the Newton step's central differences (≈1.5e-9 here)."""
    def f(theta):  # minimum at (0.7, 0.2), third derivatives 4 and 1 there
        a, b = theta[0] - 0.7, theta[1] - 0.2
        return float(4.0 * (np.exp(a) - a) + np.exp(b) - b + 0.3 * a * b)

    result = optimize_theta(f, np.array([1.0, 1.0]), np.array([0.0, -np.inf]))
    np.testing.assert_allclose(result.theta, [0.7, 0.2], atol=1e-11)
    assert result.converged
