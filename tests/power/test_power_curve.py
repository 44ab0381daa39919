"""mm.power_curve: one power per size, own seeds, monotone in expectation, the plot and the summary."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mixedmodels as mm  # noqa: E402


@pytest.fixture(scope="module")
def curve():
    design = mm.design("y ~ group + (1 | dish_id)", groups={"group": ["Control", "A", "B"]}, clusters=3, per_cluster=5,
                       fixef={"(Intercept)": 100, "groupA": -8, "groupB": -16}, varcorr={"dish_id": 64.0}, sigma=5.0)
    return mm.power_curve(design, "group", along="dish_id", within="group", sizes=[2, 4, 8], nsim=60, seed=4,
                          progress=False)


def test_sizes_rows_and_power(curve):
    table = curve.table()
    assert table["size"].tolist() == [2, 4, 8] and table["nrow"].tolist() == [30, 60, 120]
    assert np.all(np.diff(curve.power) > 0)  # 0.3 → 0.9 expected: far apart at nsim 60
    assert (table["lower"] <= table["power"]).all() and (table["power"] <= table["upper"]).all()
    np.testing.assert_allclose(curve.ci, table[["lower", "upper"]].to_numpy())
    assert curve.smallest(0.5) in (4, 8) and curve.smallest(1.01) is None


def test_reproducible_and_points_are_independent_runs(curve):
    design = mm.design("y ~ group + (1 | dish_id)", groups={"group": ["Control", "A", "B"]}, clusters=3, per_cluster=5,
                       fixef={"(Intercept)": 100, "groupA": -8, "groupB": -16}, varcorr={"dish_id": 64.0}, sigma=5.0)
    again = mm.power_curve(design, "group", along="dish_id", within="group", sizes=[2, 4, 8], nsim=60, seed=4,
                           progress=False)
    np.testing.assert_array_equal(curve.power, again.power)
    seeds = np.random.SeedSequence(4).spawn(3)
    single = mm.power(mm.extend(design, along="dish_id", within="group", n=4), "group", nsim=60, seed=seeds[1],
                      progress=False)
    np.testing.assert_array_equal(single.pvalues, curve.results[1].pvalues)


def test_summary_and_plot(curve):
    text = curve.summary()
    assert text.splitlines()[:2] == ["Power for predictor 'group', (95% confidence interval),",
                                     "by levels of dish_id per group:"]
    assert "      2: " in text and "- 30 rows" in text
    ax = curve.plot()
    assert isinstance(ax, matplotlib.axes.Axes) and ax.get_xlabel() == "levels of dish_id per group"
    assert len(ax.lines) >= 2  # the curve and the 80 % line
    plt.close(ax.figure)


def test_bad_curves():
    fit = mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))
    with pytest.raises(TypeError, match="sizes"):
        mm.power_curve(fit, "group", along="dish_id", nsim=5)
    with pytest.raises(ValueError, match="no column named 'dish'"):
        mm.power_curve(fit, "group", along="dish", sizes=[3], nsim=5, progress=False)
