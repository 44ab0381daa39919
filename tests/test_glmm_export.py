"""tidy() / to_dict() / to_json() of a glmer fit (cbpp) against the lme4 reference cbpp_binomial.json."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

import mixedmodels as mm
from conftest import reference, reference_data


@pytest.fixture(scope="module")
def cbpp():
    record = reference("cbpp_binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mm.glmer(record["formula"], reference_data("cbpp.csv"), family="binomial", data_name="cbpp")
    return fit, record


def test_tidy_glmer_matches_lme4(cbpp):
    fit, record = cbpp
    table = fit.tidy()
    assert list(table["term"]) == list(record["beta"]) + ["sd__(Intercept)"]
    assert list(table["effect"]) == ["fixed"] * 4 + ["ran_pars"] and table["group"].iloc[-1] == "herd"
    fixed = table[table["effect"] == "fixed"].set_index("term")
    np.testing.assert_allclose(fixed["estimate"], list(record["beta"].values()), atol=1e-3)
    # lme4's Laplace SEs carry its PIRLS tolerance (see test_glmm.test_standard_errors_cbpp_laplace)
    np.testing.assert_allclose(fixed["std_error"], list(record["se_beta"].values()), rtol=1.5e-2)
    z = fixed["estimate"] / fixed["std_error"]
    np.testing.assert_allclose(fixed["statistic"], z, rtol=1e-12)
    np.testing.assert_allclose(fixed["p_value"], 2 * stats.norm.sf(np.abs(z)), rtol=1e-10)
    assert fixed["df"].isna().all()  # z tests: no denominator df
    half = stats.norm.ppf(0.975) * fixed["std_error"]
    np.testing.assert_allclose(fixed["conf_low"], fixed["estimate"] - half, rtol=1e-12)
    np.testing.assert_allclose(fixed["conf_high"], fixed["estimate"] + half, rtol=1e-12)
    # lme4's Wald bounds: 1.96 × (SE differences up to 1.2 %, 5e-3 for period4) → 1.5e-2
    wald = record["confint_wald"]
    np.testing.assert_allclose(fixed["conf_low"], [wald[n]["lower"] for n in fixed.index], atol=1.5e-2)
    np.testing.assert_allclose(fixed["conf_high"], [wald[n]["upper"] for n in fixed.index], atol=1.5e-2)
    assert table["estimate"].iloc[-1] == pytest.approx(record["varcorr"][0]["sdcor"], abs=1e-3)
    assert math.isnan(table["std_error"].iloc[-1])
    with pytest.raises(ValueError, match="linear mixed models"):
        fit.tidy(ddf="satterthwaite")


def test_to_dict_glmer_is_plain_json_and_matches_lme4(cbpp):
    fit, record = cbpp
    out = json.loads(fit.to_json())
    assert out == fit.to_dict()
    assert (out["family"], out["link"], out["reml"], out["nobs"], out["ngroups"], out["npar"]) == \
        ("binomial", "logit", False, record["nobs"], record["ngrps"], record["npar"])
    assert out["objective"] <= record["objective"] + 1e-6  # Laplace −2 log L: ours at most lme4's 184.0531
    assert out["objective"] == pytest.approx(record["objective"], rel=1e-5)
    assert out["aic"] == pytest.approx(record["AIC"], rel=1e-5) and out["bic"] == pytest.approx(record["BIC"], rel=1e-5)
    assert list(out["theta"]) == list(record["theta"])
    np.testing.assert_allclose(list(out["theta"].values()), list(record["theta"].values()), atol=1e-3)
    np.testing.assert_allclose(list(out["fixef"].values()), list(record["beta"].values()), atol=1e-3)
    assert [row["group"] for row in out["varcorr"]] == ["herd"]  # no Residual row for a GLMM
    assert out["varcorr"][0]["vcov"] == pytest.approx(record["varcorr"][0]["vcov"], abs=1e-3)
    tau2 = record["varcorr"][0]["vcov"]
    assert out["icc"]["herd"] == pytest.approx(tau2 / (tau2 + math.pi**2 / 3), abs=2e-4)  # latent scale
    modes = [row["(Intercept)"] for row in out["ranef"]["herd"]]
    np.testing.assert_allclose(modes, [m[0] for m in record["ranef"]["herd"]["modes"]], atol=2e-3)
    assert [row["level"] for row in out["ranef"]["herd"]] == record["ranef"]["herd"]["levels"]
