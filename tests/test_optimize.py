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


def test_refine_false_stops_after_the_newton_step():
    """Without the refinement the Newton step's O(δ²) bias remains (≈1e-9), and its 4k + 1
    evaluations are saved."""
    def f(theta):
        calls.append(1)
        a, b = theta[0] - 0.7, theta[1] - 0.2
        return float(4.0 * (np.exp(a) - a) + np.exp(b) - b + 0.3 * a * b)

    calls: list[int] = []
    refined = optimize_theta(f, np.array([1.0, 1.0]), np.array([0.0, -np.inf]))
    n_refined, calls[:] = len(calls), []
    plain = optimize_theta(f, np.array([1.0, 1.0]), np.array([0.0, -np.inf]), refine=False)
    assert n_refined - len(calls) == 4 * 2 + 1
    np.testing.assert_allclose(plain.theta, [0.7, 0.2], atol=1e-7)
    assert np.max(np.abs(plain.theta - refined.theta)) > 1e-11 and plain.converged


def test_per_component_initial_steps_rescale_a_badly_scaled_problem():
    """An array of first steps, one per component of the size of its curvature's scale, is BOBYQA
    on a well scaled problem: far fewer evaluations than one step for all, the same optimum."""
    scale = np.array([1.0, 1e-3, 0.2])

    def f(x):
        z = (np.asarray(x) - [0.5, 0.001, -0.3]) / scale
        return float(z @ z + 0.3 * z[0] * z[1] + 0.1 * z[1] * z[2] + 100.0)

    start, lower = np.array([1.0, 0.004, 0.1]), np.array([0.0, -np.inf, -np.inf])
    one = optimize_theta(f, start, lower, check=False, initial_step=0.5)
    each = optimize_theta(f, start, lower, check=False, initial_step=0.5 * scale)
    assert each.n_evaluations < one.n_evaluations / 2
    assert each.objective <= one.objective + 1e-8
    np.testing.assert_allclose(each.theta, [0.5, 0.001, -0.3], atol=1e-4 * scale.max())
