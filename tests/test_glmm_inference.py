"""GLMM inference beyond the fit: profile intervals against lme4, the latent-scale ICC, and clear
errors for the linear-model-only F/t tests (cbpp_binomial, grouseticks_poisson references)."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pytest
from scipy import optimize, stats

import mixedmodels as mm
from mixedmodels.families import get_family

from conftest import reference, reference_data


@lru_cache(maxsize=None)
def glmm_fit(model_id: str, link: str | None = None) -> mm.GlmerFit:
    record = reference(model_id)
    family = record["family"] if link is None else get_family(record["family"], link)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer(record["formula"], reference_data(record["dataset"]), family=family,
                        nAGQ=record["nAGQ"], data_name=record["data_object"])


# ---------------------------------------------------------------------- F/t tests are for LMMs
@pytest.mark.parametrize("call", [
    lambda fit: mm.anova(fit),
    lambda fit: mm.anova(fit, type=1),
    lambda fit: mm.anova(fit, type="II", ddf="kenward-roger"),
    lambda fit: fit.coef_table(ddf="satterthwaite"),
    lambda fit: fit.coef_table(ddf="kenward-roger"),
    lambda fit: mm.inference.coef_table_ddf(fit, "kr"),
    lambda fit: fit.summary(ddf="satterthwaite"),
])
def test_denominator_df_tests_on_a_glmm_raise_a_clear_error(call):
    with pytest.raises(ValueError, match=r"linear mixed models.*anova\(m1, m2\)"):
        call(glmm_fit("cbpp_binomial"))


def test_anova_of_two_glmms_is_still_the_likelihood_ratio_test():
    fit = glmm_fit("cbpp_binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = mm.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", reference_data("cbpp.csv"))
    table = mm.anova(null, fit)
    assert table["Df"].iloc[1] == 3
    np.testing.assert_allclose(table["Chisq"].iloc[1], null.objective - fit.objective, rtol=1e-12)


# ---------------------------------------------------------------------- latent-scale ICC
@pytest.mark.parametrize("link, residual", [("logit", math.pi**2 / 3), ("probit", 1.0), ("cloglog", math.pi**2 / 6)])
def test_icc_binomial_latent_scale(link, residual):
    fit = glmm_fit("cbpp_binomial", link)
    tau2 = float(fit.varcorr["vcov"].iloc[0])
    icc = fit.icc()
    np.testing.assert_allclose(icc["herd"], tau2 / (tau2 + residual), rtol=1e-12)
    np.testing.assert_allclose(icc["adjusted"], icc["herd"], rtol=1e-12)
    if link == "logit":  # lme4's variance 0.41225 (reference cbpp_binomial): 0.41225 / (0.41225 + π²/3)
        tau2_lme4 = reference("cbpp_binomial")["varcorr"][0]["vcov"]
        np.testing.assert_allclose(icc["herd"], tau2_lme4 / (tau2_lme4 + math.pi**2 / 3), atol=2e-4)


def test_icc_poisson_lognormal_approximation():
    """performance's definition (tests/postfit/test_r2.py checks it against R): σ²_d = ln(1 + 1/λ), λ = exp(β̂₀ of
    the null model TICKS ~ 1 + (same random terms)); INDEX, one level per row, is dispersion (part of σ²_ε)."""
    fit = glmm_fit("grouseticks_poisson")
    variances = dict(zip(fit.varcorr["grp"], fit.varcorr["vcov"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = mm.glmer("TICKS ~ 1 + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", fit.design.frame, family="poisson")
    residual = math.log(1 + 1 / math.exp(null.fixef.iloc[0])) + variances["INDEX"]
    random = variances["BROOD"] + variances["LOCATION"]
    icc = fit.icc()
    for group in ("BROOD", "LOCATION"):
        np.testing.assert_allclose(icc[group], variances[group] / (variances[group] + residual), rtol=1e-10)
    np.testing.assert_allclose(icc["adjusted"], random / (random + residual), rtol=1e-10)
    assert 0 < icc["adjusted"] < 1 and set(icc.index) == {"BROOD", "LOCATION", "adjusted", "conditional"}


# ---------------------------------------------------------------------- profile intervals
# R 4.2.2, lme4 1.1-31:
#   m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
#   print(confint(m, method = "profile"), digits = 10)
#   print(confint(m, method = "profile", level = 0.9), digits = 10)
LME4_PROFILE = {
    0.95: {"sd_(Intercept)|herd": (0.3460732033, 1.0999746482), "(Intercept)": (-1.9012119549, -0.9477540060),
           "period2": (-1.6167832557, -0.4077630678), "period3": (-1.8010243656, -0.5115360713),
           "period4": (-2.5007505630, -0.8007553153)},
    0.90: {"sd_(Intercept)|herd": (0.3889222956, 1.0076376839), "(Intercept)": (-1.8116501268, -1.0225087371),
           "period2": (-1.5128258592, -0.4998543134), "period3": (-1.6880529823, -0.6080643719),
           "period4": (-2.3400313527, -0.9193203318)},
}


@lru_cache(maxsize=None)
def cbpp_profile():
    return glmm_fit("cbpp_binomial").profile()


@pytest.mark.parametrize("level", [0.95, 0.90])
def test_profile_confint_cbpp_against_lme4(level):
    ci = cbpp_profile().confint(level)
    expected = LME4_PROFILE[level]
    assert list(ci.index) == list(expected)  # lme4's names and order: sd, then the fixed effects
    assert list(ci.columns) == (["2.5 %", "97.5 %"] if level == 0.95 else ["5 %", "95 %"])
    # lme4 interpolates a spline through its coarse profile: sd bounds within 2e-2, fixed effects within 2e-3
    np.testing.assert_allclose(ci.iloc[0].to_numpy(), expected["sd_(Intercept)|herd"], atol=2e-2)
    np.testing.assert_allclose(ci.iloc[1:].to_numpy(), [expected[n] for n in ci.index[1:]], atol=2e-3)
    if level != 0.95:
        return
    # the reference's lme4 profile intervals (95 %), too
    for name, bounds in reference("cbpp_binomial")["confint_profile"].items():
        np.testing.assert_allclose(ci.loc[name].to_numpy(), [bounds["lower"], bounds["upper"]], atol=2e-2)


def test_fit_confint_defaults_to_profile_and_selects_parameters():
    fit = glmm_fit("cbpp_binomial")
    ci = fit.confint(parm="theta_")
    assert list(ci.index) == ["sd_(Intercept)|herd"]
    np.testing.assert_allclose(ci.to_numpy()[0], cbpp_profile().confint().iloc[0].to_numpy(), rtol=1e-6)
    wald = fit.confint(method="Wald")
    assert wald.iloc[0].isna().all() and "sigma" not in wald.index
    boot = fit.confint(method="boot", nsim=8, seed=1, progress=False)  # GLMM refits (issue 14)
    assert list(boot.index) == list(wald.index) and np.isfinite(boot.to_numpy()).all()
    assert (boot.iloc[1:, 0] < fit.fixef.to_numpy()).all() and (fit.fixef.to_numpy() < boot.iloc[1:, 1]).all()


def _profiled_deviance(fit, index: int, value: float) -> float:
    """min over the other (θ, β) of the Laplace deviance with parameter ``index`` held at ``value``,
    by scipy's Powell method (independent of the BOBYQA search in mixedmodels.inference.profile)."""
    start = np.asarray(fit.optimum.theta, float)
    free = np.arange(len(start)) != index
    bounds = [(0.0, None) if i < fit.problem.layout.n_theta else (None, None) for i in np.flatnonzero(free)]

    def f(others):
        params = start.copy()
        params[free], params[index] = others, value
        return fit.problem.deviance(params)

    best = optimize.minimize(f, start[free], method="Powell", bounds=bounds,
                             options={"xtol": 1e-9, "ftol": 1e-13, "maxfev": 20_000})
    return float(best.fun)


def test_profile_bounds_are_exact_roots():
    # at each bound the deviance minimised over the other parameters is the optimum + χ²₁(0.95)
    fit = glmm_fit("cbpp_binomial")
    ci = cbpp_profile().confint(0.95)
    target = fit.objective + stats.chi2.ppf(0.95, 1)
    for index, name in enumerate(ci.index):  # θ (= sd for the scalar herd term), then β in order
        for value in ci.loc[name]:
            np.testing.assert_allclose(_profiled_deviance(fit, index, value), target, atol=2e-5)


@pytest.mark.slow  # about 50 s: 7 parameters, 403 observations, three random intercepts
def test_profile_confint_grouseticks_against_lme4():
    ci = glmm_fit("grouseticks_poisson").confint(method="profile")
    expected = reference("grouseticks_poisson")["confint_profile"]
    assert list(ci.index) == list(expected)
    assert ci.loc["sd_(Intercept)|LOCATION", "2.5 %"] == 0.0  # |ζ| < 1.96 down to sd = 0: lme4's bound too
    n_sd = 3
    values = ci.to_numpy()
    ref = np.array([[b["lower"], b["upper"]] for b in expected.values()])
    np.testing.assert_allclose(values[:n_sd], ref[:n_sd], atol=2e-2)
    np.testing.assert_allclose(values[n_sd:], ref[n_sd:], atol=2e-3)
