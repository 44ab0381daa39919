"""MmrmFit: residuals, predictions, summary, tidy, JSON, ANOVA."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mmrm_reference import fev_data, our_fit

FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"


@pytest.fixture(scope="module")
def fit():
    return our_fit("fev_data_us")


def test_residual_types(fit):
    data = fev_data().loc[fit.design.rows]
    raw = fit.residuals()
    np.testing.assert_allclose(raw, data["FEV1"] - fit.fitted)
    sd = np.sqrt(np.diag(fit.cov.to_numpy()))
    visit = data["AVISIT"].cat.codes.to_numpy()
    np.testing.assert_allclose(fit.residuals("pearson"), raw / sd[visit])
    normalized = fit.residuals("normalized")
    subject = data["USUBJID"].iloc[0]
    rows = (data["USUBJID"] == subject).to_numpy()
    S = fit.cov.to_numpy()[np.ix_(visit[rows], visit[rows])]
    np.testing.assert_allclose(normalized[rows], np.linalg.solve(np.linalg.cholesky(S), raw[rows]))
    with pytest.raises(ValueError, match="type must be"):
        fit.residuals("deviance")


def test_normalized_residuals_give_the_weighted_residual_sum_of_squares(fit):
    state = fit._state
    u = np.r_[-state.beta, 1.0]
    q = fit.criterion.p + 1
    M = fit.criterion.Zf.reshape(-1, q).T @ state.Y.reshape(-1, q)
    assert (fit.residuals("normalized") ** 2).sum() == pytest.approx(u @ M @ u, rel=1e-10)


def test_predict_unconditional_and_conditional(fit):
    data = fev_data()
    plain = fit.predict(data)
    assert plain.index.equals(data.index)
    np.testing.assert_allclose(plain.loc[fit.design.rows], fit.fitted)
    cond = fit.predict(data, conditional=True)
    observed = data["FEV1"].notna()
    np.testing.assert_allclose(cond[observed], data.loc[observed, "FEV1"])
    # PT1 has VIS2 and VIS4 observed: VIS1 and VIS3 are predicted from them
    pt1 = data.index[data["USUBJID"] == "PT1"]
    S = fit.cov.to_numpy()
    obs, mis = [1, 3], [0, 2]
    mean = plain.loc[pt1].to_numpy()
    y = data.loc[pt1, "FEV1"].to_numpy()
    expected = mean[mis] + S[np.ix_(mis, obs)] @ np.linalg.solve(S[np.ix_(obs, obs)], y[obs] - mean[obs])
    np.testing.assert_allclose(cond.loc[pt1].to_numpy()[mis], expected)


def test_predict_needs_known_visits_and_columns(fit):
    data = fev_data().drop(columns=["USUBJID"])
    with pytest.raises(ValueError, match="lacks the column"):
        fit.predict(data, conditional=True)
    assert np.isfinite(fit.predict(data)).sum() == len(data)


def test_summary_layout(fit):
    text = fit.summary()
    assert text.startswith("mmrm fit\n\nFormula:     " + FORMULA)
    assert "used 537 observations from 197 subjects with maximum 4 timepoints" in text
    assert "Covariance:  unstructured (10 variance parameters)" in text
    assert "Method:      Satterthwaite\nVcov Method: Asymptotic\nInference:   REML" in text
    assert "Covariance estimate:" in text and "(263 rows with missing values were not used)" in text
    assert text.endswith("(3 subjects have no complete row and are left out: PT54, PT142, PT199)\n")
    assert fit.subjects_dropped == ["PT54", "PT142", "PT199"] and fit.n_subjects == 197
    assert "     AIC     BIC  logLik deviance\n  3406.4  3439.3 -1693.2   3386.4" in text
    assert repr(fit) == text
    grouped = our_fit("fev_data_us_by_arm").summary()
    assert "(20 variance parameters of 2 groups)" in grouped and "\nPBO:\n" in grouped


def test_tidy_and_json(fit):
    tidy = fit.tidy()
    assert list(tidy.columns) == ["term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]
    assert (tidy["conf_low"] < tidy["estimate"]).all()
    record = json.loads(fit.to_json())
    assert record["structure"] == "us" and record["nobs"] == 537 and record["n_dropped"] == 263
    assert record["cov"]["all"]["visits"] == ["VIS1", "VIS2", "VIS3", "VIS4"]
    assert record["fixef"]["SEXFemale"] == pytest.approx(fit.fixef["SEXFemale"])
    assert len(record["coef_table"]) == 11


def test_anova_dispatch(fit):
    table = mm.anova(fit)
    assert list(table.index) == ["RACE", "SEX", "ARMCD", "AVISIT", "ARMCD:AVISIT"]
    assert list(table.columns) == ["NumDF", "DenDF", "F value", "Pr(>F)"]
    sex = fit.coef_table().loc["SEXFemale"]
    assert table.loc["SEX", "F value"] == pytest.approx(sex["t value"] ** 2)
    assert table.loc["SEX", "DenDF"] == pytest.approx(sex["df"])
    assert list(table["NumDF"]) == [2, 1, 1, 3, 3]
    assert mm.anova(fit, type="II").shape == (5, 4)
    with pytest.raises(TypeError, match="chosen when fitting"):
        mm.anova(fit, ddf="kenward-roger")
    with pytest.raises(TypeError, match="not implemented"):
        mm.anova(fit, fit)
    with pytest.raises(ValueError, match="type must be"):
        fit.anova(type=1)


def test_bad_contrast_shape(fit):
    with pytest.raises(ValueError, match="needs 11 columns"):
        fit.t_test([1, 0])


def test_predict_rejects_unknown_levels():
    grouped = mm.mmrm("FEV1 ~ AVISIT + cs(AVISIT | ARMCD / USUBJID)", fev_data())
    data = fev_data().assign(ARMCD=lambda d: d["ARMCD"].astype(str).replace({"TRT": "NEW", "PBO": "NEW"}))
    with pytest.raises(ValueError, match="ARMCD levels the fit has not seen"):
        grouped.predict(data.iloc[:8], conditional=True)
    visits = fev_data().assign(AVISIT=lambda d: d["AVISIT"].astype(str).replace({"VIS4": "VIS9"}))
    with pytest.raises(ValueError, match="'AVISIT' has level.s. .'VIS9'. not seen"):
        our_fit("fev_data_us").predict(visits, conditional=True)


def test_left_out_line_names_the_first_subjects():
    from mixedmodels.mmrm.results import _left_out

    assert _left_out(["A"]) == "(1 subject has no complete row and is left out: A)"
    many = _left_out([f"S{i}" for i in range(13)])
    assert many == "(13 subjects have no complete row and are left out: S0, S1, S2, S3, S4, S5, S6, S7, S8, S9, ... (3 more))"


def test_subject_cov_is_the_rows_and_columns_of_its_visits(fit):
    S = fit.subject_cov("PT1")  # PT1 has VIS2 and VIS4
    assert list(S.index) == ["VIS2", "VIS4"] == list(S.columns)
    np.testing.assert_allclose(S.to_numpy(), fit.cov.loc[["VIS2", "VIS4"], ["VIS2", "VIS4"]].to_numpy())
    with pytest.raises(KeyError, match="'PT54' is not in the fit \\(it has no complete row\\)"):
        fit.subject_cov("PT54")
    with pytest.raises(KeyError, match="'nobody' is not in the fit"):
        fit.subject_cov("nobody")
