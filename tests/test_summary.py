"""summary() text against lme4's ``capture.output(summary(fit))`` in the reference fits."""

from __future__ import annotations

import pytest

from conftest import fitted, reference
from mixedmodels.errors import SINGULAR_MESSAGE

# lines that legitimately differ: our optimiser's name in the convergence line
OPTIMIZER_LINE = "optimizer ("


def _same_numbers(mine: str, theirs: str) -> bool:
    """Same words, numbers equal up to one unit in lme4's last printed digit.

    A value a hair from a rounding boundary (dyestuff's t = 78.80450 here, 78.80449 in lme4)
    prints differently although both fits agree to 1e-7; the layout is still checked by the
    other lines.
    """
    ours, ref = mine.split(), theirs.split()
    if len(ours) != len(ref):
        return False
    for a, b in zip(ours, ref):
        try:
            x, y = float(a), float(b)
        except ValueError:
            if a != b:
                return False
            continue
        decimals = len(b.split(".")[1]) if "." in b else 0
        if abs(x - y) > 1.01 * 10.0 ** -decimals:
            return False
    return True


@pytest.mark.parametrize("model_id", ["sleepstudy_slope_reml", "sleepstudy_uncorr", "cake_anova", "machines",
                                      "seed_petri", "dyestuff2_singular", "dyestuff_reml", "ergostool"])
def test_summary_text_matches_lme4(model_id):
    ours = fitted(model_id).summary(ddf=None).rstrip("\n").split("\n")
    expected = reference(model_id)["summary_text"].rstrip("\n").split("\n")
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected):
        if theirs.startswith(OPTIMIZER_LINE):
            assert mine.startswith(OPTIMIZER_LINE)
            continue
        if theirs == "boundary (singular) fit: see help('isSingular')":  # ours points to our documentation
            assert mine == SINGULAR_MESSAGE
            continue
        assert mine == theirs or _same_numbers(mine, theirs), f"\nours: {mine!r}\nlme4: {theirs!r}"


def test_sleepstudy_summary_lines():
    # our optimum is 1.5e-9 below lme4's (θ within 9e-6), which moves the last printed digit of the
    # intercept variance (612.09 against 612.10): numbers are compared to one unit in that digit
    lines = fitted("sleepstudy_slope_reml").summary(ddf=None).split("\n")
    assert "REML criterion at convergence: 1743.6" in lines
    for expected in [" Subject  (Intercept) 612.10   24.741       ", "          Days         35.07    5.922   0.07",
                     "Days          10.467      1.546   6.771"]:
        assert any(line == expected or _same_numbers(line, expected) for line in lines), expected


def test_ml_summary_header():
    lines = fitted("sleepstudy_slope_ml").summary(ddf=None).split("\n")
    assert lines[0] == "Linear mixed model fit by maximum likelihood  ['lmerMod']"
    assert lines[4] == "     AIC      BIC   logLik deviance df.resid "
    assert lines[5] == "  1763.9   1783.1   -876.0   1751.9      174 "


def test_html_repr_has_tables():
    html = fitted("sleepstudy_slope_reml")._repr_html_()
    assert html.count("<table") == 2 and "Subject" in html


@pytest.mark.parametrize("model_id", ["sleepstudy_slope_reml", "seed_petri", "cake_anova", "ergostool",
                                      "dyestuff2_singular", "machines"])
def test_satterthwaite_summary_matches_lmertest(model_id):
    """summary(ddf="satterthwaite") against lmerTest's ``summary(fit)`` text (df, p, stars, legend)."""
    ours = fitted(model_id).summary(ddf="satterthwaite").rstrip("\n").split("\n")
    expected = reference(model_id)["summary_text_lmertest"].rstrip("\n").split("\n")
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected):
        if theirs.startswith(OPTIMIZER_LINE):
            continue
        if theirs == "boundary (singular) fit: see help('isSingular')":  # ours points to our documentation
            assert mine == SINGULAR_MESSAGE
            continue
        assert mine == theirs or _same_numbers(mine, theirs), f"\nours: {mine!r}\nlmerTest: {theirs!r}"


def test_pvalue_format_follows_r():
    from mixedmodels.summary import format_pvalues

    # R: format.pval(c(0.53878, 1.07e-07, 0.04782, 0.00454), digits = 3)
    assert format_pvalues([0.538781, 1.0712e-07, 0.047823, 0.0045412]) == ["0.53878", "1.07e-07", "0.04782", "0.00454"]
    # R: format.pval(c(1e-20, 3.26e-06), digits = 3)
    assert format_pvalues([1e-20, 3.2611e-06]) == ["< 2e-16", "3.26e-06"]


def test_satterthwaite_summary_ml_header_wraps_as_lmertest():
    # our ML optimum of sleepstudy is 2.4e-8 below lme4's, which moves a variance's 4th digit,
    # so only the wrapped header and the table layout are compared here
    ours = fitted("sleepstudy_slope_ml").summary(ddf="satterthwaite").split("\n")
    expected = reference("sleepstudy_slope_ml")["summary_text_lmertest"].split("\n")
    assert ours[:2] == expected[:2]
    assert [line for line in ours if line.startswith("Days ")] == [line for line in expected if line.startswith("Days ")]


def test_pvalue_format_fixed_down_to_1e_4():
    from mixedmodels.summary import format_pvalues

    # R: format.pval(c(1.362e-10, 9.753e-08, 0.00025629, 0.21095119), digits = 3)
    assert format_pvalues([1.362122864747772e-10, 9.753419973111105e-08, 0.00025629271675290153,
                           0.2109511890493036]) == ["1.36e-10", "9.75e-08", "0.000256", "0.210951"]


def test_summary_defaults_to_satterthwaite_and_repr_to_lme4():
    fit = fitted("seed_petri")
    assert fit.summary() == fit.summary(ddf="satterthwaite")
    assert "t-tests use Satterthwaite's method" in fit.summary()
    assert repr(fit) == fit.summary(ddf=None)


def test_long_formula_wraps_as_lme4():
    # seed_rats_slope's formula is longer than R's deparse cutoff: lme4 breaks it after "|"
    ours = fitted("seed_rats_slope").summary(ddf=None).split("\n")[:4]
    assert ours == reference("seed_rats_slope")["summary_text"].split("\n")[:4]


def test_data_line_names_the_callers_variable_or_is_omitted():
    import warnings

    import pandas as pd

    import mixedmodels as mm

    rats = pd.DataFrame(mm.datasets.load("seed_rats"))
    rats.attrs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        named = mm.lmer("BodyWeight ~ FoodIntake + (1 | LitterID)", rats)
        anonymous = mm.lmer("BodyWeight ~ FoodIntake + (1 | LitterID)", rats.copy())
    assert "   Data: rats" in named.summary().split("\n")
    assert not any(line.lstrip().startswith("Data:") for line in anonymous.summary().split("\n"))
    assert "Data: data" not in anonymous.summary()
