"""GLMM inference beyond the fit: profile intervals against lme4, the latent-scale ICC, and clear
errors for the linear-model-only F/t tests (cbpp_binomial, grouseticks_poisson references)."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.glmm import Family

from conftest import reference, reference_data


@lru_cache(maxsize=None)
def glmm_fit(model_id: str, link: str | None = None) -> mm.GlmerFit:
    record = reference(model_id)
    family = record["family"] if link is None else Family(record["family"], link)
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
    fit = glmm_fit("grouseticks_poisson")
    variances = dict(zip(fit.varcorr["grp"], fit.varcorr["vcov"]))
    total = sum(variances.values())
    lam = math.exp(fit.fixef["(Intercept)"] + total / 2)
    residual = math.log(1 + 1 / lam)
    icc = fit.icc()
    for group, v in variances.items():
        np.testing.assert_allclose(icc[group], v / (v + residual), rtol=1e-10)
    np.testing.assert_allclose(icc["adjusted"], total / (total + residual), rtol=1e-10)
    assert 0 < icc["adjusted"] < 1 and set(icc.index) == {"BROOD", "INDEX", "LOCATION", "adjusted"}
