"""The analytic gradient and average information of the profiled criterion (crossed scalar terms),
and the scoring path of the optimiser that uses them.

The gradient is checked against central differences of the criterion (REML and ML, interior
points and points with a variance at its bound of 0); the information against the Hessian at
the optimum; and fits on the scoring path against the same fits by BOBYQA alone — an equal or
lower criterion (a lower one is a better optimum) and the same θ̂.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from conftest import reference_data
from mixedmodels.gradient import ScalarCrossedGradient
from mixedmodels.optimize import optimize_theta


def _central(f, theta, h=1e-5):
    grad = np.empty(len(theta))
    for i in range(len(theta)):
        e = np.zeros(len(theta))
        e[i] = h
        if theta[i] - h < 0:  # one-sided, second order, at a bound
            grad[i] = (-3 * f(theta) + 4 * f(theta + e) - f(theta + 2 * e)) / (2 * h)
        else:
            grad[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return grad


def _crossed(n=8000, n_g=1000, n_h=150, n_k=9, sd_k=0.4, seed=3):
    """y ~ x + (1 | g) + (1 | h) + (1 | k), g × h crossed, k nested in h (codes h mod n_k)."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_g, n)
    h = rng.integers(0, n_h, n)
    g[:n_g], h[:n_h] = np.arange(n_g), np.arange(n_h)
    k = h % n_k
    x = rng.standard_normal(n)
    y = (1.0 + 0.5 * x + rng.normal(0, 0.8, n_g)[g] + rng.normal(0, 0.5, n_h)[h]
         + rng.normal(0, sd_k, n_k)[k] * (sd_k > 0) + rng.standard_normal(n))
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{i}" for i in g]),
                         "h": pd.Categorical([f"h{i}" for i in h]), "k": pd.Categorical([f"k{i}" for i in k])})


FORMULA = "y ~ x + (1 | g) + (1 | h) + (1 | k)"


@pytest.fixture(scope="module")
def crossed_fit():
    return mm.lmer(FORMULA, _crossed(), control=mm.LmerControl(use_gradient=False))


@pytest.fixture(scope="module")
def penicillin():
    return mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", reference_data("Penicillin.csv"))


@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_central_differences(crossed_fit, reml):
    problem = crossed_fit.problem.with_reml(reml)
    derivatives = ScalarCrossedGradient(problem)
    for theta in (np.ones(3), crossed_fit.theta, np.array([0.6, 0.0, 0.3]), np.array([0.0, 0.5, 0.2]),
                  np.array([0.7, 0.4, 0.0])):
        value, grad, _ = derivatives(theta)
        assert value == pytest.approx(problem.deviance(theta), rel=1e-13)
        np.testing.assert_allclose(grad, _central(problem.deviance, theta), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("reml", [True, False])
def test_gradient_on_penicillin(penicillin, reml):
    """A small model of the compiled path: the gradient goes through the blocked factor all the same."""
    problem = penicillin.problem.with_reml(reml)
    derivatives = ScalarCrossedGradient(problem)
    for theta in (np.ones(2), penicillin.theta, np.array([0.0, 2.0])):
        value, grad, _ = derivatives(theta)
        assert value == pytest.approx(problem.deviance(theta), rel=1e-11)  # the compiled path sums in another order
        np.testing.assert_allclose(grad, _central(problem.deviance, theta), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g) + (0 + x | h) + (1 | k)", "y ~ x + (1 | g) + (0 + x | g) + (1 | h)",
                                     "y ~ 0 + (1 | g) + (1 | h)"])
def test_gradient_of_slopes_and_shared_groupings(formula):
    """Scalar terms need not be intercepts nor have their own grouping factor; no fixed effects."""
    fit = mm.lmer(formula, _crossed(), control=mm.LmerControl(use_gradient=False))
    derivatives = ScalarCrossedGradient(fit.problem)
    for theta in (fit.theta, 1.3 * fit.theta + 0.05):
        value, grad, _ = derivatives(theta)
        assert value == pytest.approx(fit.problem.deviance(theta), rel=1e-13)
        np.testing.assert_allclose(grad, _central(fit.problem.deviance, theta), rtol=1e-5, atol=1e-4)


def test_information_approximates_the_hessian_at_the_optimum(crossed_fit):
    """The average information is positive definite everywhere and close to the Hessian at θ̂."""
    derivatives = ScalarCrossedGradient(crossed_fit.problem)
    theta = crossed_fit.theta
    _, _, info = derivatives(theta)
    hess = np.column_stack([_central(lambda t: derivatives(t)[1][i], theta, 1e-4) for i in range(3)])
    np.testing.assert_allclose(info, hess, rtol=0.15, atol=0.05 * np.abs(hess).max())
    for start in (np.ones(3), np.array([3.0, 0.1, 2.0])):
        assert np.all(np.linalg.eigvalsh(derivatives(start)[2]) > 0)


def test_applies_only_to_scalar_unstructured_terms(penicillin):
    sleep = mm.lmer("Reaction ~ Days + (Days | Subject)", reference_data("sleepstudy.csv"))
    dyestuff = mm.lmer("Yield ~ 1 + (1 | Batch)", reference_data("Dyestuff.csv"))
    assert ScalarCrossedGradient.applies(penicillin.problem)
    assert not ScalarCrossedGradient.applies(sleep.problem)
    assert not ScalarCrossedGradient.applies(dyestuff.problem)  # one term: nothing crossed
    with pytest.raises(ValueError, match="scalar unstructured"):
        ScalarCrossedGradient(sleep.problem)


@pytest.mark.parametrize("reml", [True, False])
def test_scoring_reaches_the_bobyqa_optimum(crossed_fit, reml):
    problem = crossed_fit.problem.with_reml(reml)
    lower = problem.layout.lower_bounds()
    bobyqa = optimize_theta(problem.deviance, problem.layout.initial(), lower)
    scoring = optimize_theta(problem.deviance, problem.layout.initial(), lower,
                             value_and_gradient=ScalarCrossedGradient(problem))
    assert scoring.optimizer == "scoring" and bobyqa.optimizer == "LN_BOBYQA"
    assert scoring.converged and not scoring.singular
    # ours <= BOBYQA's + rounding: a lower criterion is a better optimum
    assert scoring.objective <= bobyqa.objective + 1e-10 * abs(bobyqa.objective)
    np.testing.assert_allclose(scoring.theta, bobyqa.theta, rtol=1e-6)
    assert scoring.n_evaluations < bobyqa.n_evaluations / 3
    assert np.max(np.abs(scoring.gradient)) < 1e-5
    np.testing.assert_allclose(scoring.hessian, bobyqa.hessian, rtol=1e-3, atol=1e-3 * np.abs(bobyqa.hessian).max())


def test_moment_start_is_near_the_optimum(crossed_fit):
    """Henderson's method I from A starts scoring within a few per cent of θ̂ (θ = 1 is 30–100 %
    away), and from there scoring needs a handful of evaluations, with BOBYQA's optimum."""
    problem = crossed_fit.problem
    derivatives = ScalarCrossedGradient(problem)
    start = derivatives.start()
    np.testing.assert_allclose(start, crossed_fit.theta, rtol=0.05)
    lower = problem.layout.lower_bounds()
    from_ones = optimize_theta(problem.deviance, problem.layout.initial(), lower, value_and_gradient=derivatives)
    scored = optimize_theta(problem.deviance, problem.layout.initial(), lower, value_and_gradient=derivatives,
                            scoring_start=start)
    assert scored.optimizer == "scoring" and scored.n_evaluations <= 4 < from_ones.n_evaluations
    np.testing.assert_array_equal(scored.theta_initial, start)
    assert scored.objective <= crossed_fit.objective + 1e-10 * abs(crossed_fit.objective)
    np.testing.assert_allclose(scored.theta, crossed_fit.theta, rtol=1e-6)


def test_moment_start_clipped_or_lme4s():
    """A variance estimated at 0 starts at START_MIN (θ_k = 0 would keep scoring at the bound: the
    gradient of a scalar term vanishes there); without a usable solution (no intercept, so the
    mean correction gives σ̃² < 0) lme4's θ = 1."""
    from mixedmodels.gradient import START_MIN

    weak = mm.lmer(FORMULA, _crossed(sd_k=0.0, seed=5), control=mm.LmerControl(use_gradient=False))
    start = ScalarCrossedGradient(weak.problem).start()
    assert start[2] == START_MIN and np.all(start[:2] > START_MIN)
    no_intercept = mm.lmer("y ~ 0 + (1 | g) + (1 | h)", _crossed(seed=8), control=mm.LmerControl(use_gradient=False))
    np.testing.assert_array_equal(ScalarCrossedGradient(no_intercept.problem).start(), [1.0, 1.0])


def test_lmer_uses_scoring_where_it_pays(crossed_fit):
    """A crossed design too large for the compiled path: lmer scores, with BOBYQA's optimum."""
    fit = mm.lmer(FORMULA, _crossed())
    assert fit.optimum.optimizer == "scoring"
    np.testing.assert_array_equal(fit.optimum.theta_initial, ScalarCrossedGradient(fit.problem).start())
    assert fit.objective <= crossed_fit.objective + 1e-10 * abs(crossed_fit.objective)
    np.testing.assert_allclose(fit.theta, crossed_fit.theta, rtol=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), crossed_fit.fixef.to_numpy(), rtol=1e-7)
    assert crossed_fit.optimum.optimizer == "LN_BOBYQA"


def test_a_variance_at_its_bound_hands_over_to_bobyqa():
    """k has no variance in the data: scoring stops near θ_k = 0 and BOBYQA finishes, as without it."""
    data = _crossed(sd_k=0.0, seed=5)
    reference = mm.lmer(FORMULA, data, control=mm.LmerControl(use_gradient=False))
    fit = mm.lmer(FORMULA, data)
    assert reference.optimum.singular and fit.optimum.singular
    assert fit.optimum.optimizer == "LN_BOBYQA"
    assert fit.objective <= reference.objective + 1e-10 * abs(reference.objective)
    np.testing.assert_allclose(fit.theta, reference.theta, atol=1e-4)
    assert fit.theta[2] == 0.0


def test_not_positive_definite_hands_over(crossed_fit):
    """A criterion that is not finite on the scoring path: BOBYQA from the start, same optimum."""
    problem = crossed_fit.problem
    real = ScalarCrossedGradient(problem)

    def failing(theta):
        return (np.inf, None, None) if theta[0] > 0.9 else real(theta)

    lower = problem.layout.lower_bounds()
    result = optimize_theta(problem.deviance, problem.layout.initial(), lower, value_and_gradient=failing)
    assert result.optimizer == "LN_BOBYQA"
    assert result.objective == pytest.approx(crossed_fit.objective, rel=1e-10)


def test_control_switches_scoring_off():
    with pytest.raises(ValueError, match="use_gradient"):
        mm.LmerControl(use_gradient=1)
    with pytest.raises(ValueError, match="scoring_halvings"):
        mm.LmerControl(scoring_halvings=0)
