"""Simulation and parametric bootstrap: reproducibility, exact refits, moments, and coverage."""

import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import fitted
from mixedmodels import bootstrap, lmer
from mixedmodels.inference.bootstrap import ResponseRefitter


@pytest.fixture(scope="module")
def slope():
    return fitted("sleepstudy_slope_reml")


def test_simulate_shape_seed_and_names(slope):
    sims = slope.simulate(nsim=3, seed=42)
    assert sims.shape == (slope.nobs, 3)
    assert list(sims.columns) == ["sim_1", "sim_2", "sim_3"]
    pd.testing.assert_frame_equal(sims, slope.simulate(nsim=3, seed=42))
    assert not np.allclose(sims, slope.simulate(nsim=3, seed=43))
    with pytest.raises(ValueError, match="nsim"):
        slope.simulate(nsim=0)


def test_simulate_moments(slope):
    """Var(y*_i) = z_iᵀ Σ z_i + σ² with new random effects; mean Xβ̂. With b̂ kept: mean ŷ, var σ²."""
    sims = slope.simulate(nsim=4000, seed=1).to_numpy()
    z = slope.design.terms[0].z
    Sigma = slope.covariance_matrices()[0]
    expected_var = np.einsum("ij,jk,ik->i", z, Sigma, z) + slope.sigma**2
    np.testing.assert_allclose(sims.var(axis=1), expected_var, rtol=0.12)
    mean = slope.design.X @ slope.fixef.to_numpy()
    assert np.max(np.abs(sims.mean(axis=1) - mean) / np.sqrt(expected_var / 4000)) < 5
    kept = slope.simulate(nsim=4000, seed=2, use_re=False).to_numpy()
    np.testing.assert_allclose(kept.var(axis=1), slope.sigma**2, rtol=0.12)
    assert np.max(np.abs(kept.mean(axis=1) - slope.fitted().to_numpy())) < 5 * slope.sigma / np.sqrt(4000)


@pytest.mark.parametrize("model_id", ["sleepstudy_slope_reml", "penicillin_crossed", "sleepstudy_slope_ml"])
def test_refit_to_observed_response_reproduces_fit(model_id):
    fit = fitted(model_id)
    refitter = ResponseRefitter.from_fit(fit)
    y = fit.design.y
    cross = refitter.cross_products(y[:, None])[0]
    np.testing.assert_allclose(cross.C, fit.problem.cross.C, rtol=1e-12, atol=1e-9 * np.abs(fit.problem.cross.C).max())
    np.testing.assert_allclose(cross.Bw, fit.problem.cross.Bw, rtol=1e-12)
    refit = refitter.refit(y, cross)
    assert refit.objective == pytest.approx(fit.objective, rel=1e-8)
    np.testing.assert_allclose(refit.fixef, fit.fixef, rtol=1e-5)


def test_bootstrap_reproducible_and_named(slope):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = bootstrap(slope, nsim=20, seed=5, progress=False)
        again = bootstrap(slope, nsim=20, seed=5, progress=False)
        other = bootstrap(slope, nsim=20, seed=6, progress=False)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["Days"], other["Days"])
    assert list(first.columns) == ["(Intercept)", "Days", "sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                                   "sd_Days|Subject", "sigma"]
    assert first.attrs["t0"]["sigma"] == pytest.approx(slope.sigma)


def test_bootstrap_parallel_equals_serial(slope):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = bootstrap(slope, nsim=60, seed=3, progress=False)
        parallel = bootstrap(slope, nsim=60, seed=3, progress=False, n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)


def test_bootstrap_replicate_equals_full_refit(slope):
    """The cheap refit equals lmer on the simulated response."""
    stat = bootstrap(slope, nsim=2, seed=9, progress=False, statistic=lambda f: f.fixef)
    y = slope.simulate(nsim=2, seed=9)["sim_2"]
    data = slope.design.frame.assign(Reaction=y.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = lmer(slope.formula, data)
    np.testing.assert_allclose(stat.iloc[1].to_numpy(), full.fixef.to_numpy(), rtol=1e-5)


def test_bootstrap_custom_statistic_and_errors(slope):
    out = bootstrap(slope, nsim=4, seed=1, progress=False, statistic=lambda f: np.array([f.sigma, f.objective]))
    assert list(out.columns) == ["t1", "t2"] and out.shape == (4, 2)
    with pytest.raises(ValueError, match="nsim"):
        bootstrap(slope, nsim=0)


def test_percentile_intervals_cover_the_truth():
    """30 groups × 10, β = (1, 2), τ = 1.5, σ = 1: 95 % percentile intervals for β cover the truth
    in about 95 % of 30 simulated data sets (bounds 0.85–1.0 on 60 intervals), and are about as
    wide as Wald intervals (a variance error of either sign would fail)."""
    rng = np.random.default_rng(2024)
    beta, tau, sigma = np.array([1.0, 2.0]), 1.5, 1.0
    groups = np.repeat(np.arange(30), 10)
    covered, ratios = [], []
    for _ in range(30):
        x = rng.normal(size=300)
        y = beta[0] + beta[1] * x + tau * rng.normal(size=30)[groups] + sigma * rng.normal(size=300)
        data = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(groups.astype(str))})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = lmer("y ~ x + (1 | g)", data)
            ci = fit.confint(method="boot", nsim=100, seed=int(rng.integers(1 << 31)), parm="beta_")
        wald = fit.confint(method="wald", parm="beta_")
        covered += list((ci.iloc[:, 0] <= beta) & (beta <= ci.iloc[:, 1]))
        ratios += list((ci.iloc[:, 1] - ci.iloc[:, 0]) / (wald.iloc[:, 1] - wald.iloc[:, 0]))
    assert 0.85 <= np.mean(covered) <= 1.0
    assert 0.85 <= np.mean(ratios) <= 1.1
