"""Confidence intervals against lme4's confint(fit, method = "Wald" / "profile") (tests/reference)."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import fitted, reference, reference_data, reference_ids
from test_lmer_reference import _param_rtol
from mixedmodels import lmer

LMM_IDS = reference_ids("lmm")
PROFILED = [i for i in LMM_IDS if reference(i).get("confint_profile")]
FAST_PROFILED = {"sleepstudy_slope_reml", "dyestuff2_singular", "dyestuff_reml", "seed_rats_slope", "orthodont"}


def _expected(record: dict, key: str) -> pd.DataFrame:
    rows = {name: [v["lower"], v["upper"]] for name, v in record[key].items() if not name.startswith("_")}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["2.5 %", "97.5 %"]).astype(float)


@pytest.mark.parametrize("model_id", [pytest.param(i, marks=pytest.mark.slow) if i == "insteval" else i for i in LMM_IDS])
def test_wald_matches_lme4(model_id):
    """β̂ ± z SE exactly; equal to lme4's within the tolerance of β̂ and SE themselves (lme4 stops
    at its optimiser's tolerance, so the last digits of its β̂ and SE are not exact)."""
    fit = fitted(model_id)
    expected = _expected(reference(model_id), "confint_wald")
    ours = fit.confint(method="wald")
    assert list(ours.index) == list(expected.index)
    assert list(ours.columns) == ["2.5 %", "97.5 %"]
    np.testing.assert_array_equal(np.isnan(ours.to_numpy()), np.isnan(expected.to_numpy()))
    half = stats.norm.ppf(0.975) * np.sqrt(np.diag(fit.vcov))
    np.testing.assert_allclose(ours.loc[fit.fixef.index, "97.5 %"], fit.fixef + half, rtol=1e-12)
    # an error in β̂ or SE of relative size r moves a bound by at most r (|β̂| + z SE)
    rtol = max(1e-6, _param_rtol(model_id))
    scale = (np.abs(fit.fixef) + half).to_numpy()
    diff = np.abs(ours.loc[fit.fixef.index].to_numpy() - expected.loc[fit.fixef.index].to_numpy())
    assert np.all(diff <= rtol * scale[:, None]), ours.compare(expected)


@pytest.mark.parametrize("model_id", [i if i in FAST_PROFILED else pytest.param(i, marks=pytest.mark.slow) for i in PROFILED])
def test_profile_matches_lme4(model_id):
    """lme4 interpolates ζ with splines; ours are exact roots: 2e-2 (sd/cor/σ) and 2e-3 (β) relative."""
    expected = _expected(reference(model_id), "confint_profile")
    ours = fitted(model_id).confint(method="profile")
    assert list(ours.index) == list(expected.index)
    n_beta = len(fitted(model_id).fixef)
    width = (expected["97.5 %"] - expected["2.5 %"]).to_numpy()[:, None]
    atol = 1e-3 * width  # bounds near 0 (an sd at the edge) are compared on the interval's scale
    varpar, beta = slice(0, len(expected) - n_beta), slice(len(expected) - n_beta, None)
    diff = np.abs(ours.to_numpy() - expected.to_numpy())
    assert np.all(diff[varpar] <= 2e-2 * np.abs(expected.to_numpy()[varpar]) + atol[varpar]), ours.compare(expected)
    assert np.all(diff[beta] <= 2e-3 * np.abs(expected.to_numpy()[beta]) + atol[beta]), ours.compare(expected)


@pytest.fixture(scope="module")
def slope_profile():
    return fitted("sleepstudy_slope_reml").profile()


@pytest.mark.parametrize("level", [0.95, 0.9])
def test_profile_bounds_are_exact_roots(slope_profile, level):
    """At each bound the profiled deviance is the ML optimum plus the χ²₁ quantile."""
    target = stats.chi2.ppf(level, 1)
    dev_min = slope_profile.fit_ml.objective
    ci = slope_profile.confint(level)
    for name, (lower, upper) in ci.iterrows():
        for bound in (lower, upper):
            if name.startswith("cor_") and abs(bound) == 1:
                continue
            assert slope_profile.deviance(name, bound) == pytest.approx(dev_min + target, rel=1e-6)
            assert slope_profile.zeta(name, bound) ** 2 == pytest.approx(target, rel=1e-6)


def test_fixed_effect_bound_by_an_independent_refit(slope_profile):
    """Fixing β_Days at its bound = an ML fit with offset Days·β and no Days column."""
    data = reference_data("sleepstudy.csv")
    lower, upper = slope_profile.confint().loc["Days"]
    for bound in (lower, upper):
        refit = lmer("Reaction ~ 1 + (Days | Subject)", data, reml=False, offset=bound * data["Days"].to_numpy())
        assert refit.objective == pytest.approx(slope_profile.fit_ml.objective + stats.chi2.ppf(0.95, 1), rel=1e-6)


def test_profile_zeta_is_monotone_and_signed(slope_profile):
    data = slope_profile.data
    for name, part in data.groupby("parameter"):
        part = part.sort_values("value")
        assert np.all(np.diff(part["zeta"].to_numpy()) >= -1e-6), name
        assert part["zeta"].abs().min() == 0.0
    assert set(data["parameter"]) == set(slope_profile.names)


def test_profile_plot_returns_figure(slope_profile):
    import matplotlib.pyplot as plt

    fig = slope_profile.plot()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(slope_profile.names) == 6
    assert visible[0].get_title() == "sd_(Intercept)|Subject"
    assert len(visible[0].lines[0].get_xdata()) >= 5
    plt.close(fig)


def test_singular_fit_lower_bound_is_zero():
    ci = fitted("dyestuff2_singular").confint(method="profile", parm="theta_")
    assert ci.loc["sd_(Intercept)|Batch", "2.5 %"] == 0.0
    assert list(ci.index) == ["sd_(Intercept)|Batch", "sigma"]


def test_parm_and_level():
    fit = fitted("sleepstudy_slope_reml")
    ci = fit.confint(method="wald", level=0.9, parm="beta_")
    assert list(ci.columns) == ["5 %", "95 %"]
    assert list(ci.index) == ["(Intercept)", "Days"]
    se = np.sqrt(np.diag(fit.vcov))
    np.testing.assert_allclose(ci["95 %"] - fit.fixef, stats.norm.ppf(0.95) * se)
    assert list(fit.confint(method="wald", parm=["sigma", "Days"]).index) == ["sigma", "Days"]
    with pytest.raises(ValueError, match="unknown parameter"):
        fit.confint(method="wald", parm=["nope"])
    with pytest.raises(ValueError, match="method"):
        fit.confint(method="magic")
    with pytest.raises(ValueError, match="level"):
        fit.confint(method="wald", level=95)


def test_boot_intervals_are_percentiles_near_profile():
    fit = fitted("sleepstudy_slope_reml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = fit.confint(method="boot", nsim=300, seed=11)
        again = fit.confint(method="boot", nsim=300, seed=11)
    pd.testing.assert_frame_equal(boot, again)
    expected = _expected(reference("sleepstudy_slope_reml"), "confint_profile")
    assert list(boot.index) == list(expected.index)
    # bootstrap and profile intervals agree roughly for β and σ (Monte Carlo error of 300 replicates)
    for name in ["(Intercept)", "Days", "sigma"]:
        width = expected.loc[name].diff().iloc[1]
        np.testing.assert_allclose(boot.loc[name], expected.loc[name], atol=0.15 * width)
