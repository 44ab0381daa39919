"""lmer's arguments: lme4's REML= spelling, and no keyword argument is silently ignored."""

import pytest

import mixedmodels as mm
from mixedmodels import datasets, lmer

SLEEP = datasets.load("sleepstudy")
FORMULA = "Reaction ~ Days + (Days | Subject)"


def test_lme4_spelling_REML_false_fits_by_maximum_likelihood():
    # the ML deviance of lme4 (tests/reference/fits/sleepstudy_slope_ml.json: 1751.939344), not the REML criterion
    assert lmer(FORMULA, SLEEP, REML=False).objective == pytest.approx(1751.939344, rel=1e-6)
    assert lmer(FORMULA, SLEEP, REML=True).objective == pytest.approx(1743.628272, rel=1e-6)


def test_reml_and_REML_together_is_an_error():
    with pytest.raises(TypeError, match="both reml= and REML="):
        lmer(FORMULA, SLEEP, reml=False, REML=False)


@pytest.mark.parametrize("keyword", ["Reml", "na_action", "subset"])
def test_unknown_keyword_raises(keyword):
    with pytest.raises(TypeError, match=keyword):
        lmer(FORMULA, SLEEP, **{keyword: False})


@pytest.mark.parametrize("options", [{"client": object()}, {"progress": False}])
def test_large_data_options_with_in_memory_data_raise(options):
    with pytest.raises(TypeError, match="Dask DataFrames and Parquet files only"):
        lmer(FORMULA, SLEEP, **options)


FIT = lmer(FORMULA, SLEEP)


@pytest.mark.parametrize("function, args", [
    (mm.glmer, ("cbind(incidence, size - incidence) ~ period + (1 | herd)", datasets.load("cbpp"))),
    (datasets.load, ("sleepstudy",)),
    (mm.anova, (FIT,)),
    (mm.bootstrap, (FIT, 2)),
    (FIT.confint, ()),
    (FIT.profile, ()),
    (FIT.predict, ()),
    (FIT.simulate, ()),
    (FIT.tidy, ()),
    (FIT.summary, ()),
    (FIT.to_json, ()),
], ids=lambda v: getattr(v, "__name__", "")[:20])
def test_other_public_functions_reject_unknown_keywords(function, args):
    # the audit of issue 11, item 0: no public function swallows keywords it does not use
    with pytest.raises(TypeError, match="REML"):
        function(*args, REML=False)
