"""The tests applied to each refit equal the project's own t tests, ANOVA and likelihood-ratio test."""

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.inference.ddf import coef_table_ddf
from mixedmodels.power.design import as_design
from mixedmodels.power.hypotheses import CoefficientTest, ComparisonTest, TermTest, make_test


@pytest.fixture(scope="module")
def fit():
    data = mm.datasets.load("seed_petri")
    return mm.lmer("y ~ group + (1 | dish_id)", data)


def _setup(fit, test, ddf="satterthwaite"):
    spec = as_design(fit)
    return make_test(test, spec, spec.build(), ddf)


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_coefficient_test_is_the_coefficient_table(fit, ddf):
    test = _setup(fit, "groupAntibioticB", ddf)
    assert isinstance(test, CoefficientTest)
    estimate, t, _, df, p, singular, converged = test(fit)
    row = coef_table_ddf(fit, ddf).loc["groupAntibioticB"]
    assert (estimate, t, df, p) == pytest.approx((row["Estimate"], row["t value"], row["df"], row["Pr(>|t|)"]))
    assert singular == 0 and converged == 1


def test_term_test_is_the_type_III_anova(fit):
    test = _setup(fit, "group")
    assert isinstance(test, TermTest)
    _, F, ndf, ddf, p, _, _ = test(fit)
    row = mm.anova(fit, type=3).loc["group"]
    assert (F, ndf, ddf, p) == pytest.approx((row["F value"], row["NumDF"], row["DenDF"], row["Pr(>F)"]))


def test_comparison_is_lme4_anova_of_ml_fits(fit):
    test = _setup(fit, "y ~ 1 + (1 | dish_id)")
    assert isinstance(test, ComparisonTest) and test.reml is False
    data = fit.design.frame
    full = mm.lmer("y ~ group + (1 | dish_id)", data, reml=False)
    _, chisq, df, _, p, _, converged = test(full)
    with pytest.warns(UserWarning, match="refitting"):
        table = mm.anova(mm.lmer("y ~ 1 + (1 | dish_id)", data), fit)
    assert (chisq, df) == pytest.approx((table["Chisq"].iloc[1], table["Df"].iloc[1]), rel=1e-6)
    assert p == pytest.approx(table["Pr(>Chisq)"].iloc[1], rel=1e-5) and converged == 1


def test_a_dropped_random_term_starts_at_the_identity():
    sleep = mm.datasets.load("sleepstudy")
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    test = _setup(fit, "Reaction ~ Days + (1 | Subject)")
    np.testing.assert_array_equal(test.refitter.theta0, [1.0])
    assert test.df == 2
    shared = _setup(fit, "Reaction ~ 1 + (Days | Subject)")
    np.testing.assert_allclose(shared.refitter.theta0, fit.theta)  # the same term: its true θ
    with pytest.raises(ValueError, match="response 'Days' is not the model's"):
        _setup(fit, "Days ~ 1 + (1 | Subject)")


def test_unknown_test_names_what_there_is(fit):
    with pytest.raises(ValueError, match=r"neither a coefficient \['\(Intercept\)', 'groupAntibioticA'"):
        _setup(fit, "dose")
    with pytest.raises(TypeError, match="coefficient name"):
        _setup(fit, 3)
    with pytest.raises(ValueError, match="unknown column 'z'"):
        _setup(fit, "z ~ 1 + (1 | dish_id)")
