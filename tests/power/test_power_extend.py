"""mm.extend and the layouts of power curves: levels added by copying, kept in order, rows per cell."""

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.power.extend import resize_layout


@pytest.fixture(scope="module")
def petri_fit():
    return mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))


def test_more_dishes_per_group(petri_fit):
    design = mm.extend(petri_fit, along="dish_id", within="group", n=15)
    data = design.data
    assert design.nrow == 3 * 15 * 5
    assert data.groupby("group", observed=True)["dish_id"].nunique().tolist() == [15, 15, 15]
    assert data["dish_id"].nunique() == 45 and (data.groupby("dish_id", observed=True).size() == 5).all()
    # new dishes are numbered after the last one, and the truth is the fit's
    assert set(map(int, data["dish_id"].cat.categories)) == set(range(1, 46))
    assert design.fixef.equals(petri_fit.fixef.rename(None)) and design.sigma == petri_fit.sigma


def test_fewer_levels_keep_the_first(petri_fit):
    frame = petri_fit.design.frame
    smaller = resize_layout(frame, "dish_id", 4, within="group")
    first = frame.groupby("group", observed=True)["dish_id"].unique().apply(lambda v: list(v[:4]))
    assert smaller.groupby("group", observed=True)["dish_id"].unique().apply(list).equals(first)
    assert len(smaller) == 60


def test_rows_per_cell(petri_fit):
    design = mm.extend(petri_fit, within="dish_id", n=8)
    assert (design.data.groupby("dish_id", observed=True).size() == 8).all() and design.nrow == 240
    fewer = resize_layout(petri_fit.design.frame, None, 2, within="dish_id")
    assert len(fewer) == 60


def test_along_alone_copies_levels_in_turn():
    frame = pd.DataFrame({"g": np.repeat(["s1", "s2", "s3"], 2), "x": np.tile([0.0, 1.0], 3), "y": 0.0})
    out = resize_layout(frame, "g", 5)
    assert list(pd.unique(out["g"])) == ["s1", "s2", "s3", "new1", "new2"]
    np.testing.assert_array_equal(out["x"], np.tile([0.0, 1.0], 5))
    numeric = resize_layout(frame.assign(g=np.repeat([10, 11, 12], 2)), "g", 4)
    assert list(pd.unique(numeric["g"])) == [10, 11, 12, 13]


def test_sleepstudy_more_subjects_keeps_the_truth():
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    design = mm.extend(fit, along="Subject", n=30)
    assert design.nrow == 300
    np.testing.assert_allclose(design.build().theta, fit.theta, rtol=1e-10)


def test_bad_extensions(petri_fit):
    with pytest.raises(ValueError, match="no column named 'dish'"):
        mm.extend(petri_fit, along="dish", n=3)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        mm.extend(petri_fit, along="dish_id", n=0)
    with pytest.raises(TypeError, match="needs n="):
        mm.extend(petri_fit, along="dish_id")
    with pytest.raises(TypeError, match="along= .* or within="):
        mm.extend(petri_fit, n=3)
    with pytest.raises(ValueError, match="cannot also be"):
        mm.extend(petri_fit, along="group", within="group", n=3)
    with pytest.raises(ValueError, match="group"):  # the first 3 dishes are all in one group
        mm.extend(petri_fit, along="dish_id", n=3)
