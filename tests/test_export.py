"""fit.tidy() and fit.to_dict()/to_json() against the lme4 reference fits.

Tolerances: 1e-4 relative on parameters, as the core reference tests (our optimum sits ~1e-9
below lme4's, which moves standard errors by ~1e-5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import fitted, reference

MODEL = "sleepstudy_slope_reml"


def _varcorr_value(record, group, var1, var2=None):
    (row,) = [r for r in record["varcorr"] if r["group"] == group and r["var1"] == var1 and r["var2"] == var2]
    return row["sdcor"]


def test_tidy_matches_lme4_and_broom_names():
    ref = reference(MODEL)
    table = fitted(MODEL).tidy(ddf=None)  # lme4's Wald intervals, no df
    assert list(table.columns) == ["effect", "group", "term", "estimate", "std_error", "statistic", "df",
                                   "p_value", "conf_low", "conf_high"]
    # broom.mixed::tidy(lmer(Reaction ~ Days + (Days | Subject), sleepstudy)) lists exactly these rows
    assert list(table["term"]) == ["(Intercept)", "Days", "sd__(Intercept)", "cor__(Intercept).Days", "sd__Days",
                                   "sd__Observation"]
    assert list(table["effect"]) == ["fixed"] * 2 + ["ran_pars"] * 4
    assert list(table["group"].iloc[2:]) == ["Subject"] * 3 + ["Residual"]
    fixed = table[table["effect"] == "fixed"].set_index("term")
    for name in ("(Intercept)", "Days"):
        assert fixed.loc[name, "estimate"] == pytest.approx(ref["beta"][name], rel=1e-4)
        assert fixed.loc[name, "std_error"] == pytest.approx(ref["se_beta"][name], rel=1e-4)
        assert fixed.loc[name, "conf_low"] == pytest.approx(ref["confint_wald"][name]["lower"], rel=1e-4)
        assert fixed.loc[name, "conf_high"] == pytest.approx(ref["confint_wald"][name]["upper"], rel=1e-4)
        assert fixed.loc[name, "statistic"] == pytest.approx(ref["satterthwaite"][name]["t"], rel=1e-4)
    assert fixed["df"].isna().all() and fixed["p_value"].isna().all()
    ran = table[table["effect"] == "ran_pars"].set_index("term")
    assert ran.loc["sd__(Intercept)", "estimate"] == pytest.approx(_varcorr_value(ref, "Subject", "(Intercept)"), rel=1e-5)
    assert ran.loc["sd__Days", "estimate"] == pytest.approx(_varcorr_value(ref, "Subject", "Days"), rel=1e-5)
    assert ran.loc["cor__(Intercept).Days", "estimate"] == pytest.approx(
        _varcorr_value(ref, "Subject", "(Intercept)", "Days"), abs=1e-4)
    assert ran.loc["sd__Observation", "estimate"] == pytest.approx(ref["sigma"], rel=1e-4)
    assert ran[["std_error", "conf_low", "conf_high"]].isna().all().all()


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=0.5, max_value=0.999))
def test_tidy_wald_interval_is_estimate_plus_minus_z_se(level):
    fixed = fitted(MODEL).tidy(conf_level=level, ddf=None).iloc[:2]
    z = stats.norm.ppf(0.5 + level / 2)
    np.testing.assert_allclose(fixed["conf_high"] - fixed["estimate"], z * fixed["std_error"], rtol=1e-12)
    np.testing.assert_allclose(fixed["estimate"] - fixed["conf_low"], z * fixed["std_error"], rtol=1e-12)


def test_tidy_rejects_bad_conf_level():
    with pytest.raises(ValueError, match="conf_level"):
        fitted(MODEL).tidy(conf_level=95)


def test_tidy_with_satterthwaite_df_and_p():
    ref = reference(MODEL)["satterthwaite"]
    fixed = fitted(MODEL).tidy(ddf="satterthwaite").set_index("term").iloc[:2]
    for name, row in ref.items():
        assert fixed.loc[name, "df"] == pytest.approx(row["df"], rel=1e-3)
        assert fixed.loc[name, "p_value"] == pytest.approx(row["p"], rel=1e-2)
        half = stats.t.ppf(0.975, row["df"]) * row["se"]
        assert fixed.loc[name, "conf_high"] == pytest.approx(row["estimate"] + half, rel=1e-5)


def test_tidy_names_nested_groups_and_two_terms_on_one_factor():
    table = fitted("pastes_nested").tidy()
    assert list(zip(table["group"].iloc[1:], table["term"].iloc[1:])) == [
        ("cask:batch", "sd__(Intercept)"), ("batch", "sd__(Intercept)"), ("Residual", "sd__Observation")]
    table = fitted("sleepstudy_uncorr").tidy()
    assert list(zip(table["group"].iloc[2:], table["term"].iloc[2:])) == [
        ("Subject", "sd__(Intercept)"), ("Subject.1", "sd__Days"), ("Residual", "sd__Observation")]


def test_to_dict_is_plain_json_and_matches_lme4():
    ref = reference(MODEL)
    fit = fitted(MODEL)
    out = json.loads(fit.to_json())
    assert out == fit.to_dict()
    assert out["formula"] == ref["formula"] and out["reml"] is True
    assert out["nobs"] == ref["nobs"] and out["ngroups"] == ref["ngrps"]
    for key, ref_key in [("objective", "objective"), ("loglik", "logLik"), ("aic", "AIC"), ("bic", "BIC")]:
        assert out[key] == pytest.approx(ref[ref_key], rel=1e-8)
    assert out["npar"] == ref["npar"]
    assert out["sigma"] == pytest.approx(ref["sigma"], rel=1e-4)
    assert list(out["theta"]) == list(ref["theta"])
    np.testing.assert_allclose(list(out["theta"].values()), list(ref["theta"].values()), rtol=1e-4, atol=1e-6)
    assert out["fixef"] == pytest.approx(ref["beta"], rel=1e-4)
    assert [r["term"] for r in out["coef_table"]] == list(ref["beta"])
    assert [r["std_error"] for r in out["coef_table"]] == pytest.approx(list(ref["se_beta"].values()), rel=1e-4)
    assert [(r["group"], r["var1"], r["var2"]) for r in out["varcorr"]] == [
        (r["group"], r["var1"], r["var2"]) for r in ref["varcorr"]]
    assert [r["sdcor"] for r in out["varcorr"]] == pytest.approx([r["sdcor"] for r in ref["varcorr"]], rel=1e-4)
    modes = out["ranef"]["Subject"]
    assert [m["level"] for m in modes] == ref["ranef"]["Subject"]["levels"]
    np.testing.assert_allclose([[m[c] for c in ref["ranef"]["Subject"]["columns"]] for m in modes],
                               ref["ranef"]["Subject"]["modes"], rtol=1e-4, atol=1e-4)
    assert out["singular"] is False and out["converged"] is True and out["messages"] == []


def test_to_dict_reports_singular_fit():
    out = fitted("dyestuff2_singular").to_dict()
    assert out["singular"] is True
    assert out["theta"] == {"Batch.(Intercept)": 0.0}
    assert any("singular" in m for m in out["messages"])


def test_exports_default_to_the_summarys_satterthwaite_df():
    # one default everywhere (issue 11, item 3): summary(), tidy(), to_dict() and the CLI's csv/json
    fit = fitted(MODEL)
    default, explicit = fit.tidy(), fit.tidy(ddf="satterthwaite")
    pd.testing.assert_frame_equal(default, explicit)
    assert default["df"].iloc[:2].notna().all() and default["p_value"].iloc[:2].notna().all()
    assert fit.to_dict()["ddf"] == "satterthwaite"
    assert fit.to_dict()["coef_table"][1]["p_value"] == pytest.approx(reference(MODEL)["satterthwaite"]["Days"]["p"],
                                                                     rel=1e-2)
    assert "Satterthwaite" in fit.summary()
