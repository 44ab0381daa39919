"""mm.design: the layout it builds, the truth it holds (θ from Σ_k and σ), from_fit, and its checks."""

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.power.design import PowerDesign, as_design

PETRI = dict(groups={"group": ["Control", "A", "B"]}, clusters=4, per_cluster=5,
             fixef={"(Intercept)": 100, "groupA": -20, "groupB": -40}, varcorr={"dish_id": 64.0}, sigma=5.0)


def test_layout_groups_clusters_observations():
    design = mm.design("y ~ group + (1 | dish_id)", **PETRI)
    data = design.data
    assert design.nrow == len(data) == 3 * 4 * 5
    assert list(data["group"].cat.categories) == ["Control", "A", "B"]
    assert data["dish_id"].nunique() == 12
    assert (data.groupby("dish_id", observed=True)["group"].nunique() == 1).all()  # dishes nested in groups
    assert (data.groupby("dish_id", observed=True).size() == 5).all()
    truth = design.build()
    assert list(truth.design.fixed.column_names) == ["(Intercept)", "groupA", "groupB"]
    np.testing.assert_allclose(truth.beta, [100, -20, -40])
    np.testing.assert_allclose(truth.theta, [8.0 / 5.0])  # θ = τ / σ


def test_random_slope_covariance_and_covariates():
    cov = np.array([[25.0, 3.0], [3.0, 4.0]])
    design = mm.design("y ~ time + (time | subject)", clusters=10, per_cluster=4, covariates={"time": [0, 1, 2, 3]},
                       fixef={"(Intercept)": 1.0, "time": 0.5}, varcorr={"subject": cov}, sigma=2.0)
    assert list(design.data["time"][:4]) == [0, 1, 2, 3]
    truth = design.build()
    T = truth.templates[0]
    np.testing.assert_allclose(truth.sigma**2 * T @ T.T, cov)
    assert T[0, 1] == 0  # lower triangular, θ as lme4 orders it


def test_zero_variance_gives_zero_theta():
    design = mm.design("y ~ 1 + (1 | g)", clusters=5, per_cluster=3, fixef={"(Intercept)": 0.0},
                       varcorr={"g": 0.0}, sigma=1.0)
    np.testing.assert_array_equal(design.build().theta, [0.0])


def test_from_fit_is_the_fit_s_estimates():
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    design = as_design(fit)
    assert isinstance(design, PowerDesign) and design.reml and design.nrow == 180
    truth = design.build()
    np.testing.assert_allclose(truth.theta, fit.theta, rtol=1e-10)
    np.testing.assert_allclose(truth.beta, fit.fixef.to_numpy())
    assert truth.sigma == fit.sigma
    changed = design.with_effects({"Days": 2.0})
    assert changed.fixef["Days"] == 2.0 and design.fixef["Days"] == pytest.approx(fit.fixef["Days"])


def test_data_layout_is_not_modified():
    data = pd.DataFrame({"g": np.repeat(list("abcdef"), 3), "x": np.tile([0.0, 1.0, 2.0], 6)})
    before = data.copy()
    design = mm.design("resp ~ x + (1 | g)", data=data, fixef={"(Intercept)": 0.0, "x": 1.0}, varcorr={"g": 1.0},
                       sigma=1.0)
    pd.testing.assert_frame_equal(data, before)
    assert "resp" in design.data.columns


@pytest.mark.parametrize("change, message", [
    ({"fixef": {"(Intercept)": 100, "groupA": -20}}, "missing \\['groupB'\\]"),
    ({"fixef": {"(Intercept)": 1, "groupA": 1, "groupB": 1, "groupZ": 1}}, "not in the model \\['groupZ'\\]"),
    ({"varcorr": {"dish": 64.0}}, "varcorr must give the covariance of each random-effects term \\['dish_id'\\]"),
    ({"varcorr": {"dish_id": [[1.0, 0.0], [0.0, 1.0]]}}, "must be 1 x 1"),
    ({"varcorr": {"dish_id": -1.0}}, "not positive semidefinite"),
    ({"sigma": 0.0}, "sigma must be a positive number"),
    ({"clusters": 0}, "clusters must be a positive integer"),
    ({"groups": {"group": ["A", "A"]}}, "distinct levels"),
])
def test_bad_designs_raise_naming_the_culprit(change, message):
    with pytest.raises(ValueError, match=message):
        mm.design("y ~ group + (1 | dish_id)", **{**PETRI, **change})


def test_layout_arguments_are_checked():
    with pytest.raises(TypeError, match="either as data"):
        mm.design("y ~ 1 + (1 | g)", data=pd.DataFrame({"g": list("aabb")}), clusters=3, fixef={"(Intercept)": 0},
                  varcorr={"g": 1.0}, sigma=1.0)
    with pytest.raises(TypeError, match="clusters= and per_cluster="):
        mm.design("y ~ 1 + (1 | g)", fixef={"(Intercept)": 0}, varcorr={"g": 1.0}, sigma=1.0)
    with pytest.raises(TypeError, match="name the cluster column"):
        mm.design("y ~ 1 + (1 | a) + (1 | b)", clusters=3, per_cluster=2, fixef={"(Intercept)": 0},
                  varcorr={"a": 1.0, "b": 1.0}, sigma=1.0)
    with pytest.raises(ValueError, match="one value per observation"):
        mm.design("y ~ x + (1 | g)", clusters=3, per_cluster=2, covariates={"x": [1, 2, 3]},
                  fixef={"(Intercept)": 0, "x": 1}, varcorr={"g": 1.0}, sigma=1.0)
    with pytest.raises(ValueError, match="plain name"):
        mm.design("log(y) ~ 1 + (1 | g)", clusters=3, per_cluster=2, fixef={"(Intercept)": 0}, varcorr={"g": 1.0},
                  sigma=1.0)
