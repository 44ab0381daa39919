"""Likelihood-ratio tests against lme4's anova(m_intercept, m_slope) (tests/reference/fits/sleepstudy_lrt.json)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import reference, reference_data
from mixedmodels import anova, lmer
from mixedmodels.inference.lrt import REFIT_MESSAGE, likelihood_ratio_test

COLUMNS = {"npar": "npar", "AIC": "AIC", "BIC": "BIC", "logLik": "logLik", "deviance": "deviance",
           "Chisq": "Chisq", "Df": "Df"}


@pytest.fixture(scope="module")
def models():
    record = reference("sleepstudy_lrt")
    data = reference_data(record["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: lmer(spec["formula"], data, reml=spec["REML"]) for name, spec in record["models"].items()}


def test_lrt_matches_lme4(models):
    record = reference("sleepstudy_lrt")
    with pytest.warns(UserWarning, match=r"refitting model\(s\) with ML \(instead of REML\)"):
        table = likelihood_ratio_test(models["m_slope"], models["m_intercept"], names=["m_slope", "m_intercept"])
    assert list(table.index) == ["m_intercept", "m_slope"]  # ordered by npar
    assert list(table.columns) == ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]
    for name, expected in record["table"].items():
        row = table.loc[name]
        for ours, theirs in COLUMNS.items():
            if expected[theirs] is None:
                assert np.isnan(row[ours])
            else:
                assert row[ours] == pytest.approx(expected[theirs], rel=1e-6)
        if expected["p"] is not None:
            assert row["Pr(>Chisq)"] == pytest.approx(expected["p"], rel=1e-4, abs=1e-4)
    assert record["messages"] == [REFIT_MESSAGE]


def test_anova_dispatches_to_lrt(models):
    with pytest.warns(UserWarning, match="refitting"):
        table = anova(models["m_intercept"], models["m_slope"])
    assert table["Chisq"].iloc[1] == pytest.approx(reference("sleepstudy_lrt")["Chisq"], rel=1e-6)
    assert list(table.index) == [models["m_intercept"].formula, models["m_slope"].formula]


def test_ml_fits_are_not_refitted(models):
    data = reference_data("sleepstudy.csv")
    m0 = lmer("Reaction ~ 1 + (Days | Subject)", data, reml=False)
    m1 = lmer("Reaction ~ Days + (Days | Subject)", data, reml=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = likelihood_ratio_test(m0, m1)
    assert table["deviance"].iloc[0] == pytest.approx(m0.objective)
    assert table["Df"].iloc[1] == 1
    assert table["Chisq"].iloc[1] == pytest.approx(m0.objective - m1.objective)


def test_different_data_is_an_error(models):
    data = reference_data("sleepstudy.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shorter = lmer("Reaction ~ Days + (1 | Subject)", data.iloc[:-10])
        shifted = lmer("Reaction ~ Days + (1 | Subject)", data.assign(Reaction=data["Reaction"] + 1.0))
    with pytest.raises(ValueError, match="same size"):
        likelihood_ratio_test(models["m_slope"], shorter)
    with pytest.raises(ValueError, match="responses differ"):
        likelihood_ratio_test(models["m_slope"], shifted)
    with pytest.raises(ValueError, match="at least two"):
        likelihood_ratio_test(models["m_slope"])


def test_returns_a_dataframe(models):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = likelihood_ratio_test(models["m_intercept"], models["m_slope"])
    assert isinstance(table, pd.DataFrame) and table["npar"].tolist() == [4, 6]
