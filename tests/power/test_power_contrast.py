"""Power of contrasts of marginal means (mm.contrast_test): the contrasts are mm.contrast's on every refit."""

import numpy as np
import pytest
from scipy import stats

import mixedmodels as mm
from mixedmodels.power.design import as_design
from mixedmodels.power.hypotheses import make_test
from mixedmodels.power.results import clopper_pearson


@pytest.fixture(scope="module")
def fit():
    return mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))


@pytest.fixture(scope="module")
def null_design():
    """Four groups with equal means: every pairwise difference is 0."""
    return mm.design("y ~ group + (1 | dish_id)", groups={"group": ["C", "A", "B", "D"]}, clusters=4, per_cluster=3,
                     fixef={"(Intercept)": 10.0, "groupA": 0.0, "groupB": 0.0, "groupD": 0.0},
                     varcorr={"dish_id": 1.0}, sigma=1.0)


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_the_test_on_a_fit_is_mm_contrast(fit, ddf):
    spec = as_design(fit)
    test = make_test(mm.contrast_test("group", method="pairwise", which="any"), spec, spec.build(), ddf,
                     layout_fit=lambda: fit)
    row = np.array(test(fit))
    table = mm.contrast(mm.emmeans(fit, "group", ddf=ddf), "pairwise").frame
    per_contrast = row[7:].reshape(3, 5)  # estimate, SE, df, t.ratio, p.value
    np.testing.assert_allclose(per_contrast, table[["estimate", "SE", "df", "t.ratio", "p.value"]].to_numpy(),
                               rtol=1e-12)
    assert row[4] == table["p.value"].min()  # family-wise: some contrast significant iff min p < alpha
    assert test.labels == [str(c) for c in table["contrast"]]


def test_treatment_vs_control_without_adjustment_is_the_coefficient_t_test(fit):
    effects = {"groupAntibioticA": -6.0, "groupAntibioticB": -9.0}  # powers strictly between 0 and 1
    coefficient = mm.power(fit, "groupAntibioticB", nsim=150, seed=11, progress=False, effects=effects)
    family = mm.power(fit, mm.contrast_test("group", method="trt.vs.ctrl", adjust="none",
                                            which="AntibioticB - Control"),
                      nsim=150, seed=11, progress=False, effects=effects)
    # the same replicates, the same test: identical p-values, estimates, t and df in every replicate
    np.testing.assert_array_equal(family.pvalues.to_numpy(), coefficient.pvalues.to_numpy())
    columns = ["estimate", "statistic", "df_den"]
    np.testing.assert_allclose(family.statistics[columns].to_numpy(), coefficient.statistics[columns].to_numpy(),
                               rtol=1e-12)
    assert family.power == coefficient.power and 0 < family.power < 1
    assert family.contrast_power().loc["AntibioticB - Control", "power"] == coefficient.power
    assert family.contrast_power().index.tolist() == ["AntibioticA - Control", "AntibioticB - Control"]
    assert "Power for contrast 'AntibioticB - Control'" in str(family)


def test_tukey_family_wise_power_under_the_null_is_at_most_alpha(null_design):
    nsim, alpha = 400, 0.05
    result = mm.power(null_design, mm.contrast_test("group", method="pairwise", adjust="tukey", which="any"),
                      nsim=nsim, seed=5, progress=False)
    # family-wise error rate (any of the 6 pairwise contrasts significant) within 3 binomial SE of alpha
    assert result.power <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / nsim)
    rows = result.contrasts
    assert len(rows) == 6 * nsim and rows["contrast"].nunique() == 6
    # .power is the share of replicates whose smallest adjusted p is below alpha
    smallest = rows.groupby("replicate")["p.value"].min().to_numpy()
    assert result.power == np.mean(smallest < alpha)
    # Tukey's p-values are never below the unadjusted ones, and without the adjustment the
    # family-wise error rate clearly exceeds alpha
    raw = 2 * stats.t.sf(np.abs(rows["t.ratio"]), rows["df"])
    assert np.all(rows["p.value"].to_numpy() >= raw - 1e-12)
    unadjusted = np.mean(np.reshape(raw, (nsim, 6)).min(axis=1) < alpha)
    assert unadjusted > alpha + 3 * np.sqrt(alpha * (1 - alpha) / nsim)
    print(f"Tukey family-wise power under the null: {result.power:.3f}; unadjusted: {unadjusted:.3f}")


def test_per_contrast_power_counts_each_contrast(fit):
    result = mm.power(fit, mm.contrast_test("group", which="any"), nsim=40, seed=2, progress=False,
                      effects={"groupAntibioticA": -3.0, "groupAntibioticB": -6.0})
    table = result.contrast_power()
    for name, row in table.iterrows():
        p = result.contrasts.loc[result.contrasts["contrast"] == name, "p.value"].to_numpy()
        assert row["power"] == np.mean(p < 0.05)
        assert (row["lower"], row["upper"]) == clopper_pearson(int(np.sum(p < 0.05)), 40)
    assert result.power >= table["power"].max()  # any ≥ each
    assert "Power of each contrast" in result.summary()


def test_same_seed_same_result_on_two_processes(fit):
    test = mm.contrast_test("group", method="trt.vs.ctrl", which="any")
    one = mm.power(fit, test, nsim=60, seed=4, progress=False)
    two = mm.power(fit, test, nsim=60, seed=4, progress=False, n_jobs=2)
    np.testing.assert_array_equal(one.contrasts["p.value"].to_numpy(), two.contrasts["p.value"].to_numpy())


def test_bad_input_is_a_clear_error(fit):
    with pytest.raises(ValueError, match="'grp'"):
        mm.power(fit, mm.contrast_test("grp", which="any"), nsim=5, progress=False)
    with pytest.raises(ValueError, match="unknown contrast method 'pairs'"):
        mm.contrast_test("group", method="pairs")
    with pytest.raises(ValueError, match="tukeyy"):
        mm.power(fit, mm.contrast_test("group", adjust="tukeyy", which="any"), nsim=5, progress=False)
    with pytest.raises(ValueError, match="'Placebo'"):
        mm.power(fit, mm.contrast_test("group", method="trt.vs.ctrl", ref="Placebo", which="any"), nsim=5,
                 progress=False)
    with pytest.raises(ValueError, match="3 contrasts .*which="):
        mm.power(fit, mm.contrast_test("group"), nsim=5, progress=False)
    with pytest.raises(ValueError, match="which='B - A' is neither 'any' nor one of the contrasts"):
        mm.power(fit, mm.contrast_test("group", which="B - A"), nsim=5, progress=False)
    with pytest.raises(TypeError, match="contrast_test"):
        mm.power(fit, {"specs": "group", "method": "pairwise"}, nsim=5, progress=False)
    with pytest.raises(TypeError):
        mm.contrast_test("group", level=0.9)  # unknown keyword
    with pytest.raises(ValueError, match="contrast tests"):
        mm.power(fit, "groupAntibioticA", nsim=5, progress=False).contrast_power()
