"""Built-in data sets (names, descriptions) and the lecture's simulators (reproducible, right design, recoverable)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixedmodels as mm
from mixedmodels import datasets

SHIPPED = ["sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes", "cake", "ergoStool", "Machines", "Oats",
           "Orthodont", "cbpp", "grouseticks", "InstEval", "seed_clusters", "seed_petri", "seed_rats"]


def test_list_is_list_datasets_and_holds_every_shipped_set():
    assert datasets.list() == datasets.list_datasets()
    assert sorted(datasets.list()) == sorted(SHIPPED)


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "InstEval"])
def test_every_column_is_described(name):
    frame = datasets.load(name)
    info = datasets.DESCRIPTIONS[name]
    assert list(info["columns"]) == list(frame.columns)
    text = datasets.describe(name.upper())
    assert text.startswith(f"{name}: {info['title']}") and f"{len(frame)} rows" in text
    for column, meaning in info["columns"].items():
        assert f"{column} " in text and meaning in text


def test_describe_unknown_name():
    with pytest.raises(ValueError, match="unknown data set 'nope'.*sleepstudy"):
        datasets.describe("nope")


SIMULATORS = [datasets.simulate_clusters, datasets.simulate_litters, datasets.simulate_petri]


@pytest.mark.parametrize("simulate", SIMULATORS)
def test_simulators_are_reproducible_with_a_seed(simulate):
    pd.testing.assert_frame_equal(simulate(seed=7), simulate(seed=7))
    assert not simulate(seed=7).equals(simulate(seed=8))


def test_simulate_clusters_design():
    data = datasets.simulate_clusters(n_clusters=7, n_per_cluster=3, seed=1)
    assert list(data.columns) == ["y", "cluster"] and data.shape == (21, 2)
    assert list(data["cluster"].cat.categories) == [str(j) for j in range(1, 8)]
    assert (data.groupby("cluster", observed=True).size() == 3).all()
    # sigma = 0: every row of a cluster is its cluster effect
    flat = datasets.simulate_clusters(sigma=0, seed=1)
    assert (flat.groupby("cluster", observed=True)["y"].nunique() == 1).all()


def test_simulate_litters_design_matches_seed_rats():
    data = datasets.simulate_litters(seed=3)
    shipped = datasets.load("seed_rats")
    assert list(data.columns) == list(shipped.columns)
    assert data.dtypes.astype(str).tolist() == shipped.dtypes.astype(str).tolist()
    assert list(data["LitterID"].cat.categories) == [str(j) for j in range(1, 16)]
    sizes = data.groupby("LitterID", observed=True).size()
    assert sizes.between(4, 8).all() and len(sizes) == 15
    assert data["Age"].between(8, 12).all()
    np.testing.assert_array_equal(data["FoodIntake"], data["FoodIntake"].round(3))


def test_simulate_petri_design_matches_seed_petri():
    data = datasets.simulate_petri(seed=3)
    shipped = datasets.load("seed_petri")
    assert data.shape == shipped.shape == (150, 3)
    assert list(data["group"].cat.categories) == ["Control", "AntibioticA", "AntibioticB"]
    pd.testing.assert_frame_equal(data[["group", "dish_id"]], shipped[["group", "dish_id"]])
    assert data["y"].dtype == np.int64
    custom = datasets.simulate_petri(n_dishes=2, n_counts=3, means={"a": 1.0, "b": 2.0}, seed=0)
    assert custom.shape == (12, 3) and list(custom["dish_id"].cat.categories) == ["1", "2", "3", "4"]


@pytest.mark.parametrize("call, message", [
    (lambda: datasets.simulate_clusters(n_clusters=0), "n_clusters"),
    (lambda: datasets.simulate_clusters(tau=-1), "tau"),
    (lambda: datasets.simulate_litters(litter_size=(8, 4)), "litter_size"),
    (lambda: datasets.simulate_petri(means={}), "means"),
])
def test_simulators_reject_bad_parameters(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _fit(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data)


def _sd(fit, group):
    varcorr = fit.varcorr  # a second term on the same factor is "group.1", as lme4 names it
    rows = varcorr["grp"].str.fullmatch(rf"{group}(\.\d+)?") & varcorr["var2"].isna()
    return varcorr.loc[rows, "sdcor"].to_numpy()


def test_fitting_simulated_clusters_recovers_tau_and_sigma():
    fit = _fit("y ~ (1 | cluster)", datasets.simulate_clusters(n_clusters=150, n_per_cluster=8, tau=100, sigma=2, seed=11))
    assert fit.sigma == pytest.approx(2, rel=0.1)
    assert _sd(fit, "cluster")[0] == pytest.approx(100, rel=0.2)
    assert fit.icc().iloc[0] > 0.999


def test_fitting_simulated_litters_recovers_slope_and_variances():
    data = datasets.simulate_litters(n_litters=150, litter_sd=3.0, food_sd=2.0, slope_sd=1.0, seed=5)
    fit = _fit("BodyWeight ~ FoodIntake + (1 | LitterID) + (0 + FoodIntake | LitterID)", data)
    assert fit.fixef["(Intercept)"] == pytest.approx(250, abs=1.0)
    assert fit.fixef["FoodIntake"] == pytest.approx(2, abs=0.35)
    assert fit.sigma == pytest.approx(4.5, rel=0.1)
    np.testing.assert_allclose(_sd(fit, "LitterID"), [3.0, 1.0], rtol=0.35)


def test_fitting_simulated_petri_recovers_group_means_and_sds():
    fit = _fit("y ~ group + (1 | dish_id)", datasets.simulate_petri(n_dishes=40, seed=9))
    np.testing.assert_allclose(fit.fixef.to_numpy(), [100, -20, -40], atol=4.0)
    assert fit.sigma == pytest.approx(5, rel=0.15)
    assert _sd(fit, "dish_id")[0] == pytest.approx(8, rel=0.25)


@settings(max_examples=25, deadline=None)
@given(n_groups=st.integers(1, 4), n_dishes=st.integers(1, 6), n_counts=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_simulate_petri_design_for_any_size(n_groups, n_dishes, n_counts, seed):
    means = {f"g{k}": 10.0 * k for k in range(n_groups)}
    data = datasets.simulate_petri(n_dishes=n_dishes, n_counts=n_counts, means=means, dish_sd=0, sigma=0, seed=seed)
    assert len(data) == n_groups * n_dishes * n_counts
    assert list(data["group"].cat.categories) == list(means)
    assert data.groupby("dish_id", observed=True)["group"].nunique().eq(1).all()
    assert data.groupby("dish_id", observed=True).size().eq(n_counts).all()
    # no noise: every count is its group's mean
    assert (data["y"] == data["group"].map(means).astype(float)).all()


@settings(max_examples=25, deadline=None)
@given(n_litters=st.integers(1, 20), low=st.integers(1, 5), spread=st.integers(0, 4), seed=st.integers(0, 2**32 - 1))
def test_simulate_litters_sizes_within_range(n_litters, low, spread, seed):
    data = datasets.simulate_litters(n_litters=n_litters, litter_size=(low, low + spread), seed=seed)
    sizes = data.groupby("LitterID", observed=True).size()
    assert len(sizes) == n_litters and sizes.between(low, low + spread).all()
