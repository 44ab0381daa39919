"""predict() on new data (conditional, population level, new levels), icc(), and the summary of a model
with three correlated random effects, against lme4 (R 4.2, lme4; numbers pasted with the R code)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import fitted, reference

from mixedmodels import DesignError, datasets, lmer

FORMULA = "Reaction ~ Days + (Days | Subject)"

# f <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy); options(digits = 15)
# nd <- data.frame(Days = c(0, 1, 2), Subject = c("308", "999", "309"))
# predict(f, newdata = nd, allow.new.levels = TRUE); predict(f, newdata = nd, re.form = NA)
LME4_NEW_LEVELS = [253.663655798386, 261.872390808081, 214.701577458385]
LME4_POPULATION = [251.405104848485, 261.872390808081, 272.339676767677]


@pytest.fixture(scope="module")
def sleep_fit():
    return lmer(FORMULA, datasets.load("sleepstudy"))


def _newdata(subjects) -> pd.DataFrame:
    return pd.DataFrame({"Days": [0.0, 1.0, 2.0], "Subject": subjects})


def test_predict_new_data_with_random_effects(sleep_fit):
    predicted = sleep_fit.predict(_newdata(["308", "999", "309"]), allow_new_levels=True)
    np.testing.assert_allclose(predicted.to_numpy(), LME4_NEW_LEVELS, rtol=1e-6)


@pytest.mark.parametrize("re_form", ["~0", False, "NA"])
def test_predict_population_level(sleep_fit, re_form):
    predicted = sleep_fit.predict(_newdata(["308", "999", "309"]), re_form=re_form)
    np.testing.assert_allclose(predicted.to_numpy(), LME4_POPULATION, rtol=1e-9)


def test_predict_population_level_needs_no_grouping_column(sleep_fit):
    newdata = pd.DataFrame({"Days": [0.0, 1.0, 2.0]})
    np.testing.assert_allclose(sleep_fit.predict(newdata, re_form="~0").to_numpy(), LME4_POPULATION, rtol=1e-9)


def test_unseen_level_is_a_clear_error(sleep_fit):
    with pytest.raises(DesignError, match=r"new level\(s\) \['999'\] of 'Subject' in newdata; pass allow_new_levels=True"):
        sleep_fit.predict(_newdata(["308", "999", "309"]))


def test_unseen_fixed_factor_level_is_a_clear_error():
    cake = datasets.load("cake")
    fit = lmer("angle ~ recipe + temperature + (1 | recipe:replicate)", cake)
    newdata = cake.iloc[:3].copy()
    newdata["recipe"] = ["Z", "A", "B"]
    with pytest.raises(DesignError, match=r"factor 'recipe' has level\(s\) \['Z'\] not seen"):
        fit.predict(newdata, re_form="~0")


def test_predict_on_fitted_data_equals_fitted(sleep_fit):
    data = datasets.load("sleepstudy")
    np.testing.assert_allclose(sleep_fit.predict().to_numpy(), sleep_fit.fitted().to_numpy())
    np.testing.assert_allclose(sleep_fit.predict(data).to_numpy(), sleep_fit.fitted().to_numpy(), rtol=1e-12)
    shuffled = data.sample(frac=1.0, random_state=1)
    np.testing.assert_allclose(sleep_fit.predict(shuffled).to_numpy(), sleep_fit.fitted()[shuffled.index].to_numpy(),
                               rtol=1e-12)


def test_predict_string_levels_of_a_categorical_factor(sleep_fit):
    as_category = _newdata(pd.Categorical(["308", "309", "310"]))
    as_string = _newdata(["308", "309", "310"])
    np.testing.assert_allclose(sleep_fit.predict(as_category).to_numpy(), sleep_fit.predict(as_string).to_numpy())
    fitted = sleep_fit.fitted()
    data = datasets.load("sleepstudy")
    first_rows = [data.index[(data["Subject"] == s) & (data["Days"] == d)][0] for s, d in [("308", 0), ("309", 1),
                                                                                          ("310", 2)]]
    np.testing.assert_allclose(sleep_fit.predict(as_string).to_numpy(), fitted[first_rows].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("model_id", ["seed_clusters", "seed_rats_null"])
def test_icc_of_a_random_intercept_from_varcorr(model_id):
    """τ²/(τ²+σ²) from lme4's VarCorr, checked against our own varcorr too."""
    fit = fitted(model_id)
    ref = reference(model_id)["varcorr"]
    tau2, sigma2 = ref[0]["vcov"], ref[1]["vcov"]
    icc = fit.icc()
    assert icc.iloc[0] == pytest.approx(tau2 / (tau2 + sigma2), rel=1e-4)
    assert icc["adjusted"] == pytest.approx(icc.iloc[0], rel=1e-12)
    ours = fit.varcorr["vcov"].to_numpy()
    assert icc.iloc[0] == pytest.approx(ours[0] / (ours[0] + ours[-1]), rel=1e-12)


def test_icc_seed_clusters_is_near_one():
    assert fitted("seed_clusters").icc().iloc[0] > 0.999


def test_adjusted_icc_of_a_random_slope(sleep_fit):
    """v = mean_i (σ₀² + 2σ₀₁ Days_i + σ₁² Days_i²), ICC = v / (v + σ²) (Nakagawa et al. 2017)."""
    data = datasets.load("sleepstudy")
    vc = sleep_fit.varcorr
    s00, s11 = vc["vcov"].iloc[0], vc["vcov"].iloc[1]
    s01, sigma2 = vc["vcov"].iloc[2], vc["vcov"].iloc[3]
    days = data["Days"].to_numpy()
    v = np.mean(s00 + 2 * s01 * days + s11 * days**2)
    assert sleep_fit.icc()["adjusted"] == pytest.approx(v / (v + sigma2), rel=1e-12)
    assert sleep_fit.icc()["Subject"] == pytest.approx(v / (v + sigma2), rel=1e-12)
    assert sleep_fit.icc()["adjusted"] == pytest.approx(0.7217, abs=5e-4)


# Three correlated random effects. R:
#   data(Machines, package = "nlme"); options(digits = 15)
#   f <- lmer(score ~ Machine + (Machine | Worker), Machines)
#   REMLcrit(f); getME(f, "theta"); options(digits = 7); print(summary(f))
LME4_MACHINES_THETA = [4.24223895812946, 2.958344822721, -1.40062545834787, 5.34900126965905, 2.07559788465722,
                       2.90779697503792]
LME4_MACHINES_OBJECTIVE = 208.311218336274
LME4_MACHINES_RANDOM = """\
Random effects:
 Groups   Name        Variance Std.Dev. Corr       
 Worker   (Intercept) 16.6402  4.0792              
          MachineB    34.5476  5.8777    0.48      
          MachineC    13.6154  3.6899   -0.36  0.30
 Residual              0.9246  0.9616              
Number of obs: 54, groups:  Worker, 6"""


def test_summary_with_three_correlated_random_effects():
    """The Corr block's layout; printed at lme4's θ, as BOBYQA stops within 1e-8 of lme4's objective but
    shifts the 4th digit of the variances on this flat optimum."""
    from dataclasses import replace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer("score ~ Machine + (Machine | Worker)", datasets.load("Machines"), data_name="Machines")
    assert fit.objective == pytest.approx(LME4_MACHINES_OBJECTIVE, rel=1e-8)
    theta = np.array(LME4_MACHINES_THETA)
    at_lme4 = replace(fit, optimum=replace(fit.optimum, theta=theta, objective=fit.problem.deviance(theta)),
                      solution=fit.problem.solve(theta))
    assert LME4_MACHINES_RANDOM in at_lme4.summary()
