"""mm.power against power known in closed form, reproducibility, the three kinds of test, bad input.

Balanced random-intercept designs where the refit's test is an exact test:

* between-cluster treatment (g groups × k clusters × m observations): the type III F test of the
  treatment equals the ANOVA of the cluster means, F ~ F'(g − 1, g(k − 1), λ) with
  λ = k Σ_i (μ_i − μ̄)² / (τ² + σ²/m) (when τ̂² > 0; here P(τ̂² = 0) < 1e-6);
* within-cluster covariate x (the same centred values in every cluster): t ~ t'(G(m − 1) − 1, δ)
  with δ = β √Sxx / σ, Sxx = G Σ_j x_j².

The simulated power is within 3 binomial standard errors of the exact power over a grid of effects.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedmodels as mm

G_GROUPS, CLUSTERS, PER, TAU, SIGMA = 3, 4, 5, 8.0, 5.0
NSIM = 300


def _between(delta):
    return mm.design("y ~ group + (1 | dish_id)", groups={"group": ["A", "B", "C"]}, clusters=CLUSTERS,
                     per_cluster=PER, fixef={"(Intercept)": 100, "groupB": delta, "groupC": 2 * delta},
                     varcorr={"dish_id": TAU**2}, sigma=SIGMA)


def _exact_between(delta):
    mu = np.array([0.0, delta, 2 * delta])
    lam = CLUSTERS * np.sum((mu - mu.mean()) ** 2) / (TAU**2 + SIGMA**2 / PER)
    d1, d2 = G_GROUPS - 1, G_GROUPS * (CLUSTERS - 1)
    return float(stats.ncf.sf(stats.f.ppf(0.95, d1, d2), d1, d2, lam)) if lam > 0 else 0.05


X_WITHIN = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
N_CLUSTERS = 12


def _within(beta):
    return mm.design("y ~ x + (1 | cluster)", clusters=N_CLUSTERS, per_cluster=len(X_WITHIN), covariates={"x": X_WITHIN},
                     fixef={"(Intercept)": 10.0, "x": beta}, varcorr={"cluster": TAU**2}, sigma=SIGMA)


def _exact_within(beta):
    df = N_CLUSTERS * (len(X_WITHIN) - 1) - 1
    ncp = beta * np.sqrt(N_CLUSTERS * np.sum(X_WITHIN**2)) / SIGMA
    crit = stats.t.ppf(0.975, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def _within_3se(result, exact):
    se = np.sqrt(exact * (1 - exact) / result.nsim)
    assert abs(result.power - exact) <= 3 * se, (result.power, exact, se)


@pytest.mark.parametrize("delta", [0.0, 6.0, 10.0, 14.0])
def test_between_cluster_F_matches_noncentral_F(delta):
    result = mm.power(_between(delta), "group", nsim=NSIM, seed=10, progress=False)
    _within_3se(result, _exact_between(delta))
    # the Satterthwaite df of the balanced design are the cluster-means ANOVA's exactly
    np.testing.assert_allclose(result.statistics["df_den"], G_GROUPS * (CLUSTERS - 1), atol=1e-4)
    assert (result.statistics["df_num"] == 2).all() and result.failed == 0


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.5])
def test_within_cluster_covariate_matches_noncentral_t(beta):
    result = mm.power(_within(beta), "x", nsim=NSIM, seed=11, progress=False)
    _within_3se(result, _exact_within(beta))
    np.testing.assert_allclose(result.statistics["df_den"], N_CLUSTERS * (len(X_WITHIN) - 1) - 1, atol=1e-4)


def test_same_seed_same_result_whatever_n_jobs():
    design = _between(8.0)
    one = mm.power(design, "groupB", nsim=60, seed=3, progress=False)
    again = mm.power(design, "groupB", nsim=60, seed=3, progress=False)
    two = mm.power(design, "groupB", nsim=60, seed=3, progress=False, n_jobs=2)
    np.testing.assert_array_equal(one.pvalues, again.pvalues)
    np.testing.assert_allclose(one.statistics, two.statistics, rtol=1e-12)
    other = mm.power(design, "groupB", nsim=60, seed=4, progress=False)
    assert not np.allclose(one.pvalues, other.pvalues)


def test_effects_change_the_truth_and_fit_is_a_truth():
    fit = mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))
    null = mm.power(fit, "groupAntibioticA", nsim=80, seed=1, progress=False, effects={"groupAntibioticA": 0.0})
    strong = mm.power(fit, "groupAntibioticA", nsim=80, seed=1, progress=False)
    assert null.power < 0.2 and strong.power == 1.0
    assert null.effect == 0.0 and strong.effect == pytest.approx(fit.fixef["groupAntibioticA"])
    # the estimates of t tests centre on the truth
    assert abs(null.statistics["estimate"].mean()) < 4 * null.statistics["estimate"].std() / np.sqrt(80)


def test_likelihood_ratio_test_uses_ml_refits_of_both_models():
    design = _between(8.0)
    result = mm.power(design, "y ~ 1 + (1 | dish_id)", nsim=40, seed=2, progress=False)
    assert (result.statistics["df_num"] == 2).all() and (result.statistics["statistic"] >= 0).all()
    np.testing.assert_allclose(result.pvalues, stats.chi2.sf(result.statistics["statistic"], 2))
    assert result.title == "Power for model comparison"
    # one replicate by hand: lme4's anova(m0, m) on the same response
    from mixedmodels.power.design import as_design
    from mixedmodels.power.simulation import _batches

    truth = as_design(design).build()
    y = next(_batches(truth, 40, np.random.default_rng(2)))[0][:, 0]  # the first replicate
    data = design.data.assign(y=y)
    table = mm.anova(mm.lmer("y ~ 1 + (1 | dish_id)", data, reml=False), mm.lmer("y ~ group + (1 | dish_id)", data,
                                                                                  reml=False))
    assert result.statistics["statistic"].iloc[0] == pytest.approx(table["Chisq"].iloc[1], rel=1e-4, abs=1e-6)


def test_kenward_roger_equals_satterthwaite_in_balanced_design():
    kr = mm.power(_within(1.0), "x", nsim=10, seed=5, progress=False, ddf="kenward-roger")
    sat = mm.power(_within(1.0), "x", nsim=10, seed=5, progress=False)
    np.testing.assert_allclose(kr.pvalues, sat.pvalues, rtol=1e-4)
    assert "Kenward-Roger" in kr.description


def test_singular_refits_are_counted():
    design = mm.design("y ~ x + (1 | cluster)", clusters=6, per_cluster=5, covariates={"x": X_WITHIN},
                       fixef={"(Intercept)": 0.0, "x": 0.3}, varcorr={"cluster": 0.0}, sigma=1.0)
    result = mm.power(design, "x", nsim=40, seed=1, progress=False)
    assert 0.2 < result.singular < 0.9  # τ² = 0: about half the REML fits are on the boundary
    assert f"({int(round(result.singular * 40))} singular" in result.summary()


def test_bad_input():
    design = _between(5.0)
    with pytest.raises(ValueError, match="neither a coefficient"):
        mm.power(design, "groupZ", nsim=5, progress=False)
    with pytest.raises(ValueError, match="nsim"):
        mm.power(design, "group", nsim=0, progress=False)
    with pytest.raises(ValueError, match="alpha"):
        mm.power(design, "group", nsim=5, alpha=1.5, progress=False)
    with pytest.raises(ValueError, match="no coefficient named 'groupZ'"):
        mm.power(design, "group", nsim=5, progress=False, effects={"groupZ": 1.0})
    with pytest.raises(ValueError, match="not fewer"):
        mm.power(design, "y ~ group + (1 | dish_id)", nsim=5, progress=False)
    with pytest.raises(ValueError, match="ddf"):
        mm.power(design, "group", nsim=5, progress=False, ddf="wald")
    with pytest.raises(ValueError, match="ddf"):
        mm.power(design, "y ~ 1 + (1 | dish_id)", nsim=5, progress=False, ddf="wald")
    with pytest.raises(TypeError):
        mm.power(design, "group", nsim=5, progress=False, n_sim=3)
    with pytest.raises(TypeError, match="PowerDesign"):
        mm.power("not a model", "group", nsim=5, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a tiny binomial fit: singular, which does not matter here
        glmm = mm.glmer("r ~ 1 + (1 | g)", pd.DataFrame({"r": [0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1],
                                                          "g": list("aabbccddeeff")}), family="binomial")
    with pytest.raises(ValueError, match="glmer"):
        mm.power(glmm, "(Intercept)", nsim=5, progress=False)
