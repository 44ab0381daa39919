"""Bad input gives a clear MixedModelsError naming the problem; input data are never changed; NA rows,
rank-deficient X, polars, boolean and string factors behave as lme4 does with the equivalent R data."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from mixedmodels import DesignError, FormulaError, MixedModelsError, datasets, lmer

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return datasets.load("sleepstudy")


def _fit_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(*args, **kwargs)


def _with(frame: pd.DataFrame, **columns) -> pd.DataFrame:
    out = frame.copy()
    for name, values in columns.items():
        out[name] = values
    return out


def _set(frame: pd.DataFrame, rows, column, value) -> pd.DataFrame:
    out = frame.copy()
    out.loc[rows, column] = value
    return out


# case -> (formula, data transform, keyword arguments, error class, words the message must contain)
CASES = {
    "unparsable formula": ("Reaction ~ Days +* x + (1 | Subject)", None, {}, FormulaError, "cannot parse formula"),
    "no random term": ("Reaction ~ Days", None, {}, FormulaError, "no random-effects terms"),
    "missing fixed column": ("Reaction ~ Dayz + (1 | Subject)", None, {}, FormulaError,
                             "unknown column 'Dayz' in the fixed-effects formula"),
    "missing column in an expression": ("Reaction ~ log(Dayz) + (1 | Subject)", None, {}, FormulaError,
                                        "unknown column 'Dayz'"),
    "missing random column": ("Reaction ~ Days + (Dayz | Subject)", None, {}, FormulaError,
                              "unknown column 'Dayz' in random-effects term (Dayz | Subject)"),
    "missing grouping factor": ("Reaction ~ Days + (1 | Subj)", None, {}, FormulaError,
                                "grouping factor 'Subj': no column named 'Subj' in the data; the data have: "
                                "Reaction, Days, Subject"),
    "missing response": ("Reac ~ Days + (1 | Subject)", None, {}, FormulaError, "unknown column 'Reac' in the response"),
    "factor response": ("Subject ~ Days + (1 | Subject)", None, {}, FormulaError,
                        "response column 'Subject' is not numeric"),
    "string response": ("s ~ Days + (1 | Subject)", lambda d: _with(d, s=d["Subject"].astype(str)), {}, FormulaError,
                        "response column 's' is not numeric"),
    "one level per observation": ("Reaction ~ Days + (1 | obs)", lambda d: _with(d, obs=np.arange(len(d))), {},
                                  DesignError, "number of levels of grouping factor 'obs' (180) must be <"),
    "too many random effects": ("Reaction ~ Days + (Days | g)",
                                lambda d: _with(d.iloc[:20], g=np.arange(20) // 2), {}, DesignError,
                                "number of observations (20) <= number of random effects (20)"),
    "random term with no columns": ("Reaction ~ Days + (0 | Subject)", None, {}, FormulaError,
                                    "random-effects term (0 | Subject) has no columns"),
    "empty after NA removal": (FORMULA, lambda d: _with(d, Reaction=np.nan), {}, DesignError,
                               "no rows left after removing 180 rows with missing values"),
    "inf in a covariate": (FORMULA, lambda d: _set(d, 3, "Days", np.inf), {}, DesignError,
                           "column 'Days' has non-finite values"),
    "inf in the response": (FORMULA, lambda d: _set(d, 3, "Reaction", -np.inf), {}, DesignError,
                            "column 'Reaction' has non-finite values"),
    "single-level factor": ("Reaction ~ Days + f + (1 | Subject)", lambda d: _with(d, f="a"), {}, DesignError,
                            "factor 'f' has 1 level(s)"),
    "weights of wrong length": (FORMULA, None, {"weights": np.ones(10)}, DesignError,
                                "weights must have one value per row of the data (180)"),
    "offset of wrong length": (FORMULA, None, {"offset": np.ones(179)}, DesignError,
                               "offset must have one value per row of the data (180)"),
    "negative weights": (FORMULA, None, {"weights": np.r_[-1.0, np.ones(179)]}, DesignError,
                         "weights must be finite and non-negative; 1 are negative"),
    "infinite weights": (FORMULA, None, {"weights": np.r_[np.inf, np.ones(179)]}, DesignError,
                         "weights must be finite and non-negative"),
    "non-numeric weights": (FORMULA, None, {"weights": ["a"] * 180}, DesignError, "weights must be numeric"),
    "weights column missing": (FORMULA, None, {"weights": "w"}, DesignError, "weights: no column named 'w'"),
    "infinite offset": (FORMULA, None, {"offset": np.r_[np.inf, np.zeros(179)]}, DesignError,
                        "offset has non-finite values"),
    # degenerate data (issue 11, items 1 and 13): clear errors, not AttributeError / LinAlgError
    "constant response": (FORMULA, lambda d: _with(d, Reaction=250.0), {}, DesignError,
                          "the response 'Reaction' is constant (every value is 250)"),
    "response a linear function of X": (FORMULA, lambda d: _with(d, Reaction=3 + 2 * d["Days"]), {}, DesignError,
                                        "the fixed effects reproduce the response 'Reaction' exactly"),
    "zero residual variance": ("Reaction ~ 1 + (1 | Subject)",
                               lambda d: _with(d, Reaction=d.groupby("Subject", observed=True)["Reaction"].transform("mean")),
                               {}, DesignError, "the fixed and random effects reproduce the response 'Reaction' exactly"),
    "all weights zero": (FORMULA, None, {"weights": np.zeros(180)}, DesignError, "all 180 weights are zero"),
    "duplicated column names": (FORMULA, lambda d: d.set_axis(["Reaction", "Days", "Reaction"], axis=1).assign(
                                    Subject=d["Subject"]), {}, DesignError,
                                "more than one column named 'Reaction'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_named(case, sleep):
    formula, transform, kwargs, error, words = CASES[case]
    data = sleep if transform is None else transform(sleep)
    with pytest.raises(error, match=re.escape(words)) as info:
        _fit_quietly(formula, data, **kwargs)
    assert isinstance(info.value, (MixedModelsError, ValueError))


def test_data_of_unknown_type():
    with pytest.raises(DesignError, match="pandas or polars DataFrame, not list"):
        lmer(FORMULA, [[1, 2, 3]])


def _frame_with_na(sleep: pd.DataFrame) -> pd.DataFrame:
    data = sleep.copy()
    data.loc[[1, 5, 9], "Reaction"] = np.nan
    data.loc[20, "Days"] = np.nan
    data["Subject"] = data["Subject"].cat.add_categories([]).astype(object)
    data.loc[40, "Subject"] = None
    data["unused"] = np.nan  # a column outside the formula does not drop rows
    return data


def test_input_never_changed(sleep):
    data = _frame_with_na(sleep)
    data["w"] = 1.0 + (data["Days"].fillna(0) % 3)
    before = copy.deepcopy(data)
    _fit_quietly(FORMULA, data, weights="w", offset=0.5 * data["Days"].fillna(0))
    _fit_quietly("Reaction ~ Days + (1 | Subject)", data, reml=False)
    pd.testing.assert_frame_equal(data, before, check_exact=True)
    assert list(data.dtypes) == list(before.dtypes)


def test_na_rows_dropped_as_na_omit(sleep):
    data = _frame_with_na(sleep)
    with pytest.warns(UserWarning, match=r"5 row\(s\) with missing values removed"):
        fit = lmer(FORMULA, data)
    complete = sleep.drop(index=[1, 5, 9, 20, 40])
    reference = _fit_quietly(FORMULA, complete)
    assert fit.nobs == 175 == reference.nobs
    assert fit.design.n_dropped == 5
    assert fit.objective == pytest.approx(reference.objective, rel=1e-10)
    np.testing.assert_allclose(fit.theta, reference.theta, rtol=1e-7)
    np.testing.assert_allclose(fit.fixef, reference.fixef, rtol=1e-8)
    assert list(fit.fitted().index) == list(complete.index)


def test_rank_deficient_x_dropped_as_lme4(sleep):
    data = _with(sleep, Days2=2 * sleep["Days"], Hours=24 * sleep["Days"])
    with pytest.warns(UserWarning, match="fixed-effect model matrix is rank deficient so dropping 2 columns / coefficients"):
        fit = lmer("Reaction ~ Days + Days2 + Hours + (Days | Subject)", data)
    reference = _fit_quietly(FORMULA, sleep)
    assert fit.dropped_columns == ["Days2", "Hours"]
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    assert fit.objective == pytest.approx(reference.objective, rel=1e-10)
    np.testing.assert_allclose(fit.fixef, reference.fixef, rtol=1e-8)
    np.testing.assert_allclose(fit.theta, reference.theta, rtol=1e-7)
    assert "rank deficient so dropping 2 columns" in fit.summary()


def test_polars_gives_the_pandas_fit(sleep):
    fit = _fit_quietly(FORMULA, sleep)
    polars_fit = _fit_quietly(FORMULA, pl.from_pandas(sleep))
    assert polars_fit.objective == pytest.approx(fit.objective, rel=1e-12)
    np.testing.assert_allclose(polars_fit.theta, fit.theta, rtol=1e-10)
    assert list(polars_fit.ranef["Subject"].index) == list(fit.ranef["Subject"].index)


def test_polars_categorical_levels_sorted_as_r_factor():
    """A polars Categorical has no level order (pandas sees first-appearance order): sorted, as R's factor()."""
    oats = datasets.load("Oats")
    formula = "yield ~ nitro + Variety + (1 | Block)"
    fit = _fit_quietly(formula, oats)
    frame = pl.from_pandas(oats)
    assert frame.to_pandas()["Variety"].cat.categories[0] != "Golden Rain"  # the order polars hands over
    polars_fit = _fit_quietly(formula, frame)
    assert list(polars_fit.fixef.index) == ["(Intercept)", "nitro", "VarietyMarvellous", "VarietyVictory"]
    np.testing.assert_allclose(polars_fit.fixef, fit.fixef, rtol=1e-8)
    assert polars_fit.objective == pytest.approx(fit.objective, rel=1e-12)


def test_polars_enum_keeps_its_levels_unordered():
    oats = datasets.load("Oats")
    levels = ["Victory", "Golden Rain", "Marvellous"]
    frame = pl.from_pandas(oats).with_columns(pl.col("Variety").cast(pl.String).cast(pl.Enum(levels)))
    fit = _fit_quietly("yield ~ Variety + (1 | Block)", frame)
    assert list(fit.fixef.index) == ["(Intercept)", "VarietyGolden Rain", "VarietyMarvellous"]
    pandas = oats.assign(Variety=oats["Variety"].cat.reorder_categories(levels))
    assert fit.objective == pytest.approx(_fit_quietly("yield ~ Variety + (1 | Block)", pandas).objective, rel=1e-12)


def test_boolean_and_string_factors(sleep):
    """A boolean column is R's logical (level names FALSE/TRUE); a string grouping factor works as the categorical."""
    data = _with(sleep, late=sleep["Days"] > 4, subject=sleep["Subject"].astype(str),
                 late_text=np.where(sleep["Days"] > 4, "yes", "no"))
    fit = _fit_quietly("Reaction ~ Days + late + (1 | subject)", data)
    assert list(fit.fixef.index) == ["(Intercept)", "Days", "lateTRUE"]
    categorical = _fit_quietly("Reaction ~ Days + late_text + (1 | Subject)", data)
    assert list(categorical.fixef.index) == ["(Intercept)", "Days", "late_textyes"]
    np.testing.assert_allclose(categorical.fixef.to_numpy(), fit.fixef.to_numpy(), rtol=1e-8)
    assert categorical.objective == pytest.approx(fit.objective, rel=1e-12)
    assert fit.ngroups == {"subject": 18}


def test_model_without_fixed_effects_matches_lme4():
    # R: m <- lmer(Reaction ~ 0 + (1 | Subject), sleepstudy); REMLcrit(m); getME(m, "theta")
    #    1985.68 (1985.6796909...), 6.789687
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer("Reaction ~ 0 + (1 | Subject)", datasets.load("sleepstudy"))
    assert fit.objective == pytest.approx(1985.6797, abs=1e-3)
    assert fit.theta[0] == pytest.approx(6.789687, rel=1e-5)
    assert fit.fixef.empty and fit.vcov.shape == (0, 0)
    assert fit.summary(ddf=None).rstrip().endswith("No fixed effect coefficients")


def test_single_level_grouping_factor_is_rejected_as_lme4_does():
    # R: lmer(y ~ x + (1 | g), d) with one level of g -> "grouping factors must have > 1 sampled level"
    data = pd.DataFrame({"y": np.arange(20.0) % 7, "x": np.arange(20.0), "g": ["a"] * 20})
    with pytest.raises(DesignError, match="must have > 1 sampled level"):
        lmer("y ~ x + (1 | g)", data)


def test_huge_fixed_factor_stops_before_building_x():
    # 50,000 levels on 200,000 rows: a dense X of 73 GiB (the report reached 19 GiB before a
    # MemoryError); the size is checked from the number of levels, before anything large is built
    rng = np.random.default_rng(1)
    n = 200_000
    data = pd.DataFrame({"y": rng.normal(size=n), "f": [f"L{i}" for i in rng.integers(0, 50_000, n)],
                         "g": rng.integers(0, 100, n).astype(str)})
    with pytest.raises(DesignError, match=r"200,000 × 49,\d{3} model matrix \(73\.\d GiB.*factor 'f' has 49,\d{3} "
                                          r"levels.*\(1 \| f\)"):
        lmer("y ~ f + (1 | g)", data)


def test_size_limit_applies_to_random_effect_columns(monkeypatch):
    from mixedmodels.design import fixed  # mm.design is the power function; the subpackage is reached this way

    monkeypatch.setattr(fixed, "MAX_X_BYTES", 1000)
    data = datasets.load("sleepstudy")
    with pytest.raises(DesignError, match=r"random-effects term \(Days \| Subject\) would need a dense 180 × 2"):
        lmer("Reaction ~ 0 + (Days | Subject)", data)


def test_text_column_numeric_but_for_a_typo_warns_with_row_and_value():
    rats = datasets.load("seed_rats").astype({"Age": str})
    rats.loc[[3, 40], "Age"] = ["7,5", "n/a"]
    with pytest.warns(UserWarning, match=r"column 'Age' is text because 2 of its 89 values are not numbers: "
                                         r"'7,5' \(index 3\), 'n/a' \(index 40\); it is used as a factor"):
        _fit_quietly_but("Age", "BodyWeight ~ Age + (1 | LitterID)", rats)


def _fit_quietly_but(column, formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("always", message=f"column '{column}'")
        return lmer(formula, data)


def test_real_factors_with_numeric_labels_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lmer("Reaction ~ Days + (1 | Subject)", datasets.load("sleepstudy"))  # Subject "308", "309", ...


def test_non_numeric_response_names_the_values_and_rows():
    rats = datasets.load("seed_rats").astype({"BodyWeight": str})
    rats.loc[5, "BodyWeight"] = "25O.1"
    with pytest.raises(FormulaError, match=r"response column 'BodyWeight' is not numeric .*'25O.1' \(index 5\) is not"):
        lmer("BodyWeight ~ FoodIntake + (1 | LitterID)", rats)


def test_singular_fit_message_points_to_our_documentation():
    from mixedmodels import LmerFit, SingularFitWarning

    with pytest.warns(SingularFitWarning, match=re.escape("see help(mixedmodels.LmerFit.is_singular)")) as caught:
        fit = lmer("Yield ~ 1 + (1 | Batch)", datasets.load("Dyestuff2"))
    assert caught[0].filename == __file__  # at the caller's line
    assert "isSingular" in LmerFit.is_singular.__doc__ and "boundary" in LmerFit.is_singular.__doc__
    assert fit.messages == ["boundary (singular) fit: see help(mixedmodels.LmerFit.is_singular)"]


def test_new_levels_in_newdata_are_named(sleep):
    fit = _fit_quietly("Reaction ~ Days + (1 | Subject)", sleep)
    new = pd.DataFrame({"Days": [1.0, 2.0, 3.0], "Subject": ["308", "999", "1000"]})
    with pytest.raises(DesignError, match=r"new level\(s\) \['999', '1000'\] of 'Subject' in newdata; pass allow_new_levels"):
        fit.predict(new)


def test_weights_that_leave_a_fixed_effect_undetermined_name_it():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"y": rng.normal(size=60), "x": np.r_[np.zeros(30), rng.normal(size=30)],
                         "g": np.repeat(list("abcdef"), 10)})
    weights = np.r_[np.ones(30), np.zeros(30)]  # x is 0 wherever a row carries weight
    with pytest.raises(DesignError, match=r"fixed effect 'x' cannot be estimated with these weights.*'\(Intercept\)'"):
        lmer("y ~ x + (1 | g)", data, weights=weights)
