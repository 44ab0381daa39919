"""lmer against every linear mixed model in tests/reference (R lme4 1.1-31).

Tolerances: objective within 1e-6 relative *or lower than lme4's* (a lower REML criterion /
deviance is a better optimum, not an error); variance components, fixed effects, standard errors
and sigma within 1e-4 relative; conditional modes within 1e-3. Where our optimum is lower than
lme4's by more than 1e-8, lme4 stopped short on a flat optimum (orthodont: 5.6e-6 lower,
sleepstudy ML: 2.4e-8 lower), and the parameters are compared within the accuracy lme4's own
stopping point allows (5e-3 relative; orthodont's intercept variance moves by 2e-3).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import fitted, reference, reference_ids

LMM_IDS = [i for i in reference_ids("lmm") if i not in ("insteval", "sleepstudy_lrt")]
SLOW_IDS = ["insteval"]
OBJECTIVE_RTOL = 1e-6
PARAM_RTOL = 1e-4


def _better_optimum(model_id: str) -> bool:
    """Our criterion is below lme4's by more than its tolerance: lme4 stopped early."""
    ref = reference(model_id)
    return fitted(model_id).objective < ref["objective"] - 1e-8


def _param_rtol(model_id: str) -> float:
    return 5e-3 if _better_optimum(model_id) else PARAM_RTOL


def check_objective(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    # ours <= lme4 + tol: a lower criterion is a better optimum (a win), never a failure
    assert fit.objective <= ref["objective"] + OBJECTIVE_RTOL * abs(ref["objective"])
    assert fit.objective == pytest.approx(ref["objective"], rel=1e-4)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_objective(model_id):
    check_objective(model_id)


@pytest.mark.slow
@pytest.mark.parametrize("model_id", SLOW_IDS)
def test_objective_slow(model_id):
    check_objective(model_id)
    ref, fit = reference(model_id), fitted(model_id)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["beta"].values()), rtol=1e-4)
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=1e-4)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_fixed_effects_and_standard_errors(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    rtol = _param_rtol(model_id)
    assert list(fit.fixef.index) == list(ref["beta"])
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["beta"].values()), rtol=rtol, atol=1e-8)
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    np.testing.assert_allclose(se, list(ref["se_beta"].values()), rtol=rtol)
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.array(ref["vcov_beta"]["rows"]), rtol=rtol, atol=1e-10)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_sigma_and_variance_components(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    rtol = _param_rtol(model_id)
    np.testing.assert_allclose(fit.sigma, ref["sigma"], rtol=rtol)
    ours = fit.varcorr
    expected = ref["varcorr"]
    assert list(ours["grp"]) == [row["group"] for row in expected]
    assert [v if isinstance(v, str) else None for v in ours["var1"]] == [row["var1"] for row in expected]
    assert [v if isinstance(v, str) else None for v in ours["var2"]] == [row["var2"] for row in expected]
    ref_vcov = np.array([row["vcov"] for row in expected])
    ref_sdcor = np.array([row["sdcor"] for row in expected])
    if model_id == "seed_rats_slope":  # lme4 stops at θ = 3e-4 for the slope; we reach the boundary 0
        np.testing.assert_allclose(ours["vcov"].to_numpy(), ref_vcov, rtol=1e-3, atol=1e-5)
        return
    scale = np.maximum(np.abs(ref_vcov), 1e-6 * ref_vcov.max())  # a zero variance is compared absolutely
    assert np.all(np.abs(ours["vcov"].to_numpy() - ref_vcov) <= rtol * scale + 1e-10)
    np.testing.assert_allclose(ours["sdcor"].to_numpy(), ref_sdcor, rtol=rtol, atol=1e-8)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_theta(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    assert fit.theta_names == list(ref["theta"])
    atol = 5e-4 if model_id == "seed_rats_slope" else 0
    np.testing.assert_allclose(fit.theta, list(ref["theta"].values()), rtol=_param_rtol(model_id) * 10, atol=atol)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_singular_flag(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    if model_id == "seed_rats_slope":
        # lme4 stops at θ = 3.0e-4 (not singular); reaching θ = 0 (singular) is as good or better
        assert fit.objective <= ref["objective"] + 1e-8
        return
    assert fit.is_singular == ref["isSingular"]


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_conditional_modes_and_variances(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    atol = 1e-3 * (10 if _better_optimum(model_id) else 1)
    for group, expected in ref["ranef"].items():
        ours = fit.ranef[group]
        assert list(ours.index) == expected["levels"]
        assert list(ours.columns) == expected["columns"]
        modes = np.array(expected["modes"], dtype=float)
        scale = max(1.0, np.abs(modes).max())
        np.testing.assert_allclose(ours.to_numpy(), modes, atol=atol * scale)
        condsd = np.sqrt(np.diagonal(fit.ranef_condvar[group], axis1=1, axis2=2))
        # seed_rats_slope: lme4's slope sd 3e-4 gives condsd 1.5e-3 where our boundary fit gives 0
        atol_sd = 2e-3 if model_id == "seed_rats_slope" else 1e-6
        np.testing.assert_allclose(condsd, np.array(expected["condsd"], dtype=float), rtol=10 * _param_rtol(model_id),
                                   atol=atol_sd)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_fitted_residuals_and_population_predictions(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    rows = np.array(ref["fitted_head_rows"]) - 1
    rtol = _param_rtol(model_id)
    np.testing.assert_allclose(fit.fitted().to_numpy()[rows], ref["fitted_head"], rtol=rtol)
    np.testing.assert_allclose(fit.residuals().to_numpy()[rows], ref["residuals_head"], rtol=10 * rtol, atol=1e-3)
    population = fit.predict(re_form="~0").to_numpy()[: len(ref["predict_population_head"])]
    np.testing.assert_allclose(population, ref["predict_population_head"], rtol=rtol)


@pytest.mark.parametrize("model_id", LMM_IDS)
def test_likelihood_summaries(model_id):
    ref, fit = reference(model_id), fitted(model_id)
    assert fit.nobs == ref["nobs"]
    assert fit.npar == ref["npar"]
    assert fit.df_resid == ref["df_resid"]
    assert fit.ngroups == ref["ngrps"]
    np.testing.assert_allclose([fit.loglik, fit.aic, fit.bic], [ref["logLik"], ref["AIC"], ref["BIC"]], rtol=1e-6)


@pytest.mark.parametrize("model_id", ["sleepstudy_uncorr", "pastes_nested"])
def test_equivalent_formulations_agree(model_id):
    twin = {"sleepstudy_uncorr": "sleepstudy_dblbar", "pastes_nested": "pastes_explicit"}[model_id]
    a, b = fitted(model_id), fitted(twin)
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-7)
