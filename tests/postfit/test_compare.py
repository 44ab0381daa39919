"""mm.compare against lme4 1.1-31's anova(m0, m1) table (tests/reference/postfit)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from postfit_models import reference

import mixedmodels as mm


@pytest.fixture(scope="module")
def sleep_models():
    data = mm.datasets.load("sleepstudy")
    return (mm.lmer("Reaction ~ Days + (1 | Subject)", data), mm.lmer("Reaction ~ Days + (Days | Subject)", data),
            mm.lmer("Reaction ~ 1 + (Days | Subject)", data))


def test_ml_refit_matches_lme4_anova(sleep_models):
    ref = reference()["compare"]["sleepstudy"]
    with pytest.warns(UserWarning, match="refitting model"):
        result = mm.compare(*sleep_models[:2], refit=True)
    table = result.table
    assert list(table["npar"]) == ref["npar"]
    for column in ("AIC", "BIC", "logLik", "deviance"):
        np.testing.assert_allclose(table[column].to_numpy(), ref[column], rtol=1e-6)
    text = repr(result)
    assert "Models:\nReaction ~ Days + (1 | Subject)\nReaction ~ Days + (Days | Subject)\n" in text
    # lme4's printed rows (print.anova's rounding: BIC 1814.85 prints as 1814.8)
    printed = " ".join(ref["text"].split())
    for row in ("4 1802.1 1814.8 -897.04 1794.1", "6 1763.9 1783.1 -875.97 1751.9"):
        assert row in printed and row in " ".join(text.split())


def test_same_fixed_effects_compares_reml_criteria(sleep_models):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no refit, no message
        result = mm.compare(*sleep_models[:2], names=["m0", "m1"])
    assert result.criterion == "REML"
    np.testing.assert_allclose(result.table["deviance"], [m.objective for m in sleep_models[:2]], rtol=1e-12)
    np.testing.assert_allclose(result.table["AIC"], [m.aic for m in sleep_models[:2]], rtol=1e-12)
    assert repr(result).splitlines()[2] == "m0: Reaction ~ Days + (1 | Subject)"


def test_different_fixed_effects_are_refitted_by_ml(sleep_models):
    with pytest.warns(UserWarning, match="refitting model"):
        result = mm.compare(sleep_models[1], sleep_models[2])
    assert result.criterion == "ML"
    ml = mm.lmer("Reaction ~ 1 + (Days | Subject)", mm.datasets.load("sleepstudy"), reml=False)
    assert result.table["deviance"].iloc[1] == pytest.approx(ml.objective, rel=1e-8)
    with pytest.raises(ValueError, match="REML criteria are comparable only"):
        mm.compare(sleep_models[1], sleep_models[2], refit=False)


def test_bad_input_is_a_clear_error(sleep_models):
    with pytest.raises(ValueError, match="at least two"):
        mm.compare(sleep_models[0])
    other = mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy").iloc[:100])
    with pytest.raises(ValueError, match="same size of dataset"):
        mm.compare(sleep_models[0], other)
    with pytest.raises(ValueError, match="got 1 names for 2 models"):
        mm.compare(*sleep_models[:2], names=["a"])


def test_glmm_fits_are_compared_by_their_laplace_criterion():
    cbpp = mm.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = mm.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp)
        full = mm.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ML fits: nothing to refit
        result = mm.compare(null, full)
    assert result.criterion == "ML"
    np.testing.assert_allclose(result.table["AIC"], [null.aic, full.aic], rtol=1e-12)
    np.testing.assert_allclose(result.table["logLik"], [null.loglik, full.loglik], rtol=1e-12)
    assert list(result.table["npar"]) == [2, 5]
    with pytest.raises(ValueError, match="lmer fits or glmer fits, not both"):
        mm.compare(null, mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy")))
