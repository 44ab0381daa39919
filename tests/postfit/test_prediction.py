"""fit.predict(se_fit=True, interval=...): standard errors against Henderson's prediction-error covariance
computed densely and independently here (lme4 1.1-31's predict.merMod has no se.fit: tests/reference/postfit,
``predict_has_se_fit``), and the coverage of the intervals by simulation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from postfit_models import reference
from scipy import stats

import mixedmodels as mm
from mixedmodels.postfit.prediction import predict_interval


def _quiet(fun, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(*args, **kwargs)


def _dense_z_lambda(fit) -> np.ndarray:
    """ZΛ of the fitted rows, column blocks per term and level (lme4's layout)."""
    blocks = []
    for term, T in zip(fit.design.terms, fit.problem.layout.templates(fit.theta)):
        p = term.z.shape[1]
        Z = np.zeros((fit.nobs, term.n_levels * p))
        for a in range(p):
            Z[np.arange(fit.nobs), term.codes * p + a] = term.z[:, a]
        blocks.append(Z @ np.kron(np.eye(term.n_levels), T))
    return np.hstack(blocks)


def _dense_se(fit, weights) -> np.ndarray:
    """sqrt(σ² vᵀΩ⁻¹v), Ω = [[ΛᵀZᵀWZΛ + I, ΛᵀZᵀWX], [XᵀWZΛ, XᵀWX]], v = [Λᵀz; x], by a dense inverse."""
    ZL, X = _dense_z_lambda(fit), fit.design.X
    q = ZL.shape[1]
    V = np.hstack([ZL, X])
    omega = V.T @ (V * weights[:, None])
    omega[:q, :q] += np.eye(q)
    return np.sqrt(fit.sigma**2 * np.einsum("ij,jk,ik->i", V, np.linalg.inv(omega), V))


@pytest.mark.parametrize("formula, dataset", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    ("score ~ Machine + (1 | Worker:Machine) + (Machine | Worker)", "Machines"),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
])
def test_conditional_se_is_hendersons_prediction_error(formula, dataset):
    fit = _quiet(mm.lmer, formula, mm.datasets.load(dataset))
    out = fit.predict(se_fit=True)
    np.testing.assert_allclose(out["se_fit"].to_numpy(), _dense_se(fit, np.ones(fit.nobs)), rtol=1e-8)
    np.testing.assert_allclose(out["fit"].to_numpy(), fit.fitted().to_numpy(), rtol=1e-12)


def test_weighted_fit_uses_the_prior_weights():
    data = mm.datasets.load("sleepstudy")
    weights = np.linspace(0.5, 2.0, len(data))
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", data, weights=weights)
    np.testing.assert_allclose(fit.predict(se_fit=True)["se_fit"].to_numpy(), _dense_se(fit, weights), rtol=1e-8)


def test_glmm_conditional_se_uses_the_irls_weights():
    fit = _quiet(mm.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", mm.datasets.load("cbpp"))
    mu, eta = fit.state.mu, fit.state.eta
    weights = fit.prior_weights * fit.family.link.mu_eta(eta) ** 2 / fit.family.variance(mu)
    link = fit.predict(se_fit=True)
    np.testing.assert_allclose(link["se_fit"].to_numpy(), _dense_se(fit, weights), rtol=1e-8)
    response = fit.predict(se_fit=True, type="response", interval="confidence")
    np.testing.assert_allclose(response["fit"].to_numpy(), mu, rtol=1e-10)
    np.testing.assert_allclose(response["se_fit"].to_numpy(), mu * (1 - mu) * link["se_fit"].to_numpy(), rtol=1e-8)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(response["lwr"].to_numpy(), 1 / (1 + np.exp(-(eta - z * link["se_fit"].to_numpy()))),
                               rtol=1e-8)
    assert (response["lwr"] < response["fit"]).all() and (response["fit"] < response["upr"]).all()


def test_population_se_is_x_v_xt():
    """lme4 1.1-31 has no se.fit (checked by the R script); the SE is sqrt(x Var(β̂) xᵀ) from fit.vcov."""
    assert reference()["predict_has_se_fit"] is False
    data = mm.datasets.load("sleepstudy")
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    newdata = pd.DataFrame({"Days": [0.0, 4.5, 9.0]})
    out = fit.predict(newdata, re_form="~0", interval="confidence", level=0.9)
    X = np.column_stack([np.ones(3), newdata["Days"]])
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, fit.vcov.to_numpy(), X))
    np.testing.assert_allclose(out["se_fit"].to_numpy(), se, rtol=1e-12)
    np.testing.assert_allclose(out["upr"] - out["fit"], stats.norm.ppf(0.95) * se, rtol=1e-12)
    np.testing.assert_allclose(out["fit"].to_numpy(), fit.predict(newdata, re_form="~0").to_numpy(), rtol=1e-12)
    vc = fit.covariance_matrices()[0]
    prediction = fit.predict(newdata, re_form="~0", interval="prediction")
    var_new = se**2 + np.einsum("ij,jk,ik->i", X, vc, X) + fit.sigma**2
    np.testing.assert_allclose(prediction["upr"] - prediction["fit"], stats.norm.ppf(0.975) * np.sqrt(var_new),
                               rtol=1e-12)


def test_unseen_level_adds_its_prior_variance():
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    newdata = pd.DataFrame({"Days": [3.0, 3.0], "Subject": ["308", "new"]})
    out = fit.predict(newdata, allow_new_levels=True, se_fit=True)
    x = np.array([1.0, 3.0])
    population_var = x @ fit.vcov.to_numpy() @ x
    assert out["se_fit"].iloc[1] ** 2 == pytest.approx(population_var + x @ fit.covariance_matrices()[0] @ x, rel=1e-10)
    assert out["fit"].iloc[1] == pytest.approx(fit.predict(newdata.iloc[1:], re_form="~0").iloc[0], rel=1e-12)
    assert out["se_fit"].iloc[0] < out["se_fit"].iloc[1]


def test_bad_arguments_are_clear_errors():
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match="interval must be one of"):
        fit.predict(interval="credible")
    with pytest.raises(ValueError, match="level must be in"):
        fit.predict(se_fit=True, level=95)
    with pytest.raises(ValueError, match="type='response' is for glmer"):
        predict_interval(fit, type="response")
    with pytest.raises(TypeError):
        fit.predict(se=True)
    glmm = _quiet(mm.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", mm.datasets.load("cbpp"))
    with pytest.raises(ValueError, match="prediction intervals are for linear mixed models"):
        glmm.predict(interval="prediction")


def _simulate(rng, n_groups, n_per, beta, tau, sigma):
    days = np.tile(np.arange(n_per, dtype=float), n_groups)
    group = np.repeat(np.arange(n_groups), n_per)
    b = rng.normal(size=(n_groups, 2)) * tau
    y = beta[0] + b[group, 0] + (beta[1] + b[group, 1]) * days + rng.normal(scale=sigma, size=len(days))
    return pd.DataFrame({"y": y, "x": days, "g": pd.Categorical(group.astype(str))}), b


def test_prediction_intervals_cover_new_observations():
    """Nominal 95 % prediction intervals, conditional (a new observation of a seen group, its true b) and
    population level (a new observation of a new group), cover ~95 % of 200 data sets x 20 new observations;
    tolerance 4 binomial SEs widened by 2 for the correlation within a data set (θ̂ is estimated, so
    slight under-coverage is expected: measured 94.3 % conditional, 93.4 % population level)."""
    rng = np.random.default_rng(20261129)
    beta, tau, sigma = np.array([10.0, 1.0]), np.array([2.0, 0.5]), 1.5
    hits = {"conditional": [], "population": []}
    for _ in range(200):
        data, b = _simulate(rng, 20, 6, beta, tau, sigma)
        fit = _quiet(mm.lmer, "y ~ x + (x | g)", data)
        x_new = rng.uniform(0, 5, size=20)
        groups = np.arange(20)
        y_seen = beta[0] + b[groups, 0] + (beta[1] + b[groups, 1]) * x_new + rng.normal(scale=sigma, size=20)
        newdata = pd.DataFrame({"x": x_new, "g": groups.astype(str)})
        seen = fit.predict(newdata, interval="prediction")
        hits["conditional"] += list((seen["lwr"] <= y_seen) & (y_seen <= seen["upr"]))
        b_new = rng.normal(size=(20, 2)) * tau
        y_new = beta[0] + b_new[:, 0] + (beta[1] + b_new[:, 1]) * x_new + rng.normal(scale=sigma, size=20)
        population = fit.predict(newdata, re_form="~0", interval="prediction")
        hits["population"] += list((population["lwr"] <= y_new) & (y_new <= population["upr"]))
    for kind, values in hits.items():
        coverage = np.mean(values)
        tolerance = 2 * 4 * np.sqrt(0.95 * 0.05 / len(values))
        assert abs(coverage - 0.95) < tolerance, (kind, coverage)


def test_parquet_fit_population_level_and_clear_error_for_conditional(tmp_path):
    data = mm.datasets.load("sleepstudy")
    path = tmp_path / "sleep.parquet"
    data.to_parquet(path)
    large = mm.lmer("Reaction ~ Days + (Days | Subject)", str(path), progress=False)
    memory = mm.lmer("Reaction ~ Days + (Days | Subject)", data)
    newdata = data.iloc[:4]
    np.testing.assert_allclose(large.predict(newdata, re_form="~0", se_fit=True).to_numpy(),
                               memory.predict(newdata, re_form="~0", se_fit=True).to_numpy(), rtol=1e-8)
    with pytest.raises(mm.MixedModelsError, match="not in memory"):
        large.predict(newdata, se_fit=True)


def test_dask_newdata_with_se_fit_is_a_clear_error():
    import dask.dataframe as dd

    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    newdata = dd.from_pandas(mm.datasets.load("sleepstudy").iloc[:10], npartitions=2)
    with pytest.raises(ValueError, match="need newdata in memory"):
        fit.predict(newdata, se_fit=True)
