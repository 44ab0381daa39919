"""PIRLS's system (mixedmodels.glmm.pirls): its linear predictor and the state a run returns."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.covariance import ThetaLayout, relative_effects
from mixedmodels.glmm.families import Binomial, Poisson
from mixedmodels.glmm import pirls
from mixedmodels.glmm.pirls import PirlsSystem

from conftest import reference, reference_data


def _design(rng, n=400):
    """Three terms: a vector term (1 + x | g), a scalar term (1 | h) and a vector term (1 + x | k)."""
    x = rng.normal(size=n)
    codes = [rng.integers(0, 30, n), rng.integers(0, 7, n), rng.integers(0, 5, n)]
    z = [np.column_stack([np.ones(n), x]), np.ones((n, 1)), np.column_stack([np.ones(n), x])]
    X = np.column_stack([np.ones(n), x, rng.normal(size=n)])
    return codes, z, [30, 7, 5], X


def test_linear_predictor_is_offset_plus_x_beta_plus_z_b():
    rng = np.random.default_rng(3)
    codes, z, levels, X = _design(rng)
    system = PirlsSystem(codes, z, levels, X)
    layout = ThetaLayout((2, 1, 2))
    theta = np.r_[1.2, -0.3, 0.8, 0.5, 0.9, 0.2, 0.4]
    x = rng.normal(size=system.q + 3)
    offset = rng.normal(size=len(X))
    templates = layout.templates(theta)
    b = relative_effects(system.spherical_effects(x), templates)
    expected = offset + X @ x[system.q:]
    for c, zk, bk in zip(codes, z, b):
        expected += np.einsum("ia,ia->i", zk, bk[c])
    np.testing.assert_allclose(system.linear_predictor(x, templates, offset), expected, rtol=1e-13, atol=1e-13)
    without_x = PirlsSystem(codes, z, levels, None)
    np.testing.assert_allclose(without_x.linear_predictor(x[:system.q], templates, offset),
                               expected - X @ x[system.q:], rtol=1e-13, atol=1e-13)


def _poisson_system(seed: int):
    """(system, family, y, prior weights, offset, η₀) of a Poisson model on :func:`_design`."""
    rng = np.random.default_rng(seed)
    codes, z, levels, X = _design(rng)
    family = Poisson()
    y = rng.poisson(np.exp(0.3 + 0.2 * X[:, 1])).astype(float)
    w = np.ones(len(y))
    return PirlsSystem(codes, z, levels, X), family, y, w, np.zeros(len(y)), family.link.link(family.start_mu(y, w))


def test_a_run_keeps_its_state_when_the_system_runs_again():
    """Runs share the system's working arrays; each result owns copies of η, μ and dᵢ."""
    system, family, y, w, offset, eta0 = _poisson_system(5)
    layout = ThetaLayout((2, 1, 2))
    runs = []
    for theta in (np.r_[0.5, 0.1, 0.4, 0.3, 0.2, 0.0, 0.1], np.r_[0.9, -0.2, 0.6, 0.5, 0.3, 0.1, 0.2]):
        result = system.run(family, y, w, offset, theta, layout.templates(theta), None, eta0)
        runs.append((result, result.eta.copy(), result.mu.copy(), result.dev_resid.copy()))
    for result, eta, mu, dev in runs:
        np.testing.assert_array_equal(result.eta, eta)
        np.testing.assert_array_equal(result.mu, mu)
        np.testing.assert_array_equal(result.dev_resid, dev)
        np.testing.assert_allclose(result.mu, np.exp(result.eta), rtol=1e-15)
        np.testing.assert_allclose(result.dev_resid, family.deviance_residuals(y, result.mu, w), rtol=1e-12,
                                   atol=1e-12)
    assert not np.allclose(runs[0][1], runs[1][1])


def test_binomial_run_from_a_warm_start_reaches_the_same_mode():
    rng = np.random.default_rng(11)
    codes, z, levels, X = _design(rng)
    family = Binomial()
    y = (rng.random(len(X)) < 0.4).astype(float)
    w, offset = np.ones(len(y)), np.full(len(y), 0.1)
    system = PirlsSystem(codes, z, levels, X)
    theta = np.r_[0.5, 0.1, 0.4, 0.3, 0.2, 0.0, 0.1]
    templates = ThetaLayout((2, 1, 2)).templates(theta)
    eta0 = family.link.link(family.start_mu(y, w))
    cold = system.run(family, y, w, offset, theta, templates, None, eta0)
    warm = system.run(family, y, w, offset, theta, templates, cold.x + 0.05, eta0)
    np.testing.assert_allclose(warm.x, cold.x, atol=1e-9)
    np.testing.assert_allclose(warm.eta, cold.eta, atol=1e-9)


def test_halves_give_the_same_sums_on_one_thread_or_two(monkeypatch):
    """From HALVES_FROM rows on the rows are worked in two halves; whether the second half runs on
    the worker thread or not, the run's result is the same to the last bit."""
    rng = np.random.default_rng(13)
    n = pirls.HALVES_FROM + 1001
    x = rng.normal(size=n)
    codes = [rng.integers(0, 200, n), rng.integers(0, 9, n)]
    z = [np.column_stack([np.ones(n), x]), np.ones((n, 1))]
    X = np.column_stack([np.ones(n), x])
    y = (rng.random(n) < 1 / (1 + np.exp(0.3 - 0.5 * x))).astype(float)
    family, w, offset = Binomial(), np.ones(n), np.zeros(n)
    theta = np.r_[0.6, 0.1, 0.3, 0.4]
    templates = ThetaLayout((2, 1)).templates(theta)
    eta0 = family.link.link(family.start_mu(y, w))
    results = []
    for cores in (1, 2):
        monkeypatch.setattr(pirls, "free_cores", lambda: cores)
        system = PirlsSystem(codes, z, [200, 9], X)
        assert len(system.blocks) == 2
        results.append(system.run(family, y, w, offset, theta, templates, None, eta0))
        assert system._two_threads == (cores == 2)
    one, two = results
    np.testing.assert_array_equal(one.x, two.x)
    np.testing.assert_array_equal(one.dev_resid, two.dev_resid)
    assert one.factor.logdet_L == two.factor.logdet_L
    monkeypatch.setattr(pirls, "HALVES_FROM", n + 1)  # the same rows in one block: sums in another order
    whole = PirlsSystem(codes, z, [200, 9], X)
    assert len(whole.blocks) == 1
    single = whole.run(family, y, w, offset, theta, templates, None, eta0)
    np.testing.assert_allclose(single.x, one.x, rtol=1e-9, atol=1e-11)
    assert abs(single.factor.logdet_L - one.factor.logdet_L) < 1e-9


def test_a_run_not_kept_gives_its_deviance_sum_and_the_working_arrays():
    """keep=False (a criterion evaluation): η, μ, dᵢ are the system's working arrays, Σ dᵢ is the result's."""
    system, family, y, w, offset, eta0 = _poisson_system(17)
    theta = np.r_[0.5, 0.1, 0.4, 0.3, 0.2, 0.0, 0.1]
    templates = ThetaLayout((2, 1, 2)).templates(theta)
    kept = system.run(family, y, w, offset, theta, templates, None, eta0)
    light = system.run(family, y, w, offset, theta, templates, None, eta0, keep=False)
    assert light.dev_sum == kept.dev_sum == float(kept.dev_resid.sum())
    np.testing.assert_array_equal(light.x, kept.x)
    assert any(light.eta is block[0] for block in system.buffers[0])


@pytest.mark.parametrize("cores", [1, 2])
def test_fits_in_halves_are_lme4s(monkeypatch, cores):
    """With the rows in halves (HALVES_FROM lowered to reach the reference data sets) and the second
    half on the worker thread or not, glmer still gives lme4's estimates (tests/reference fits;
    the same tolerances as tests/test_glmm.py: −2 log L within 1e-5 relative or lower, β 1e-3)."""
    monkeypatch.setattr(pirls, "HALVES_FROM", 40)
    monkeypatch.setattr(pirls, "free_cores", lambda: cores)
    for model_id in ("cbpp_binomial", "grouseticks_poisson"):
        record = reference(model_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = mm.glmer(record["formula"], reference_data(record["dataset"]), family=record["family"],
                           nAGQ=record["nAGQ"])
        assert all(len(system.blocks) == 2 for system in (fit.problem.joint, fit.problem.u_only))
        assert fit.objective <= record["objective"] + 1e-5 * abs(record["objective"])  # lower is a win
        assert fit.objective == pytest.approx(record["objective"], rel=1e-5)
        np.testing.assert_allclose(fit.fixef.to_numpy(), list(record["beta"].values()), atol=1e-3)
