"""The GLMM family registry (mixedmodels.glmm.families) and the fits it enables, against R.

References (tests/reference/glmm_families, made by make_families_reference.R): lme4's glmer.nb,
glmer with Gamma / inverse.gaussian and nAGQ = 0, glmmTMB's nbinom1. Tolerances: −2 log L within
1e-6 relative or lower (a lower criterion is a win: asserted as ours <= R + tol), β within 1e-4,
standard errors within 1e-3 relative, dispersion within 1e-4 relative.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedmodels as mm
from mixedmodels.datasets import load, read_csv_with_schema
from mixedmodels.errors import MixedModelsError
from mixedmodels.families import Binomial, Gamma, InverseGaussian, NBinom1, NegativeBinomial, Poisson, get_family
from mixedmodels.glmm import families
from mixedmodels.glmm.families import LINKS, Link

HERE = Path(__file__).parent / "reference" / "glmm_families"
REFERENCE = json.loads((HERE / "families_reference.json").read_text())["fits"]
R_FAMILY = {"Gamma": "Gamma", "inverse.gaussian": "inverse_gaussian", "binomial": "binomial", "poisson": "poisson",
            "nbinom1": "nbinom1"}


@lru_cache(maxsize=None)
def data(name: str) -> pd.DataFrame:
    return load("cbpp") if name == "cbpp" else read_csv_with_schema(HERE / name)


@lru_cache(maxsize=None)
def fit_of(model_id: str) -> mm.GlmerFit:
    record = REFERENCE[model_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if record["kind"] == "glmer.nb":
            return mm.glmer_nb(record["formula"], data(record["dataset"]))
        family = get_family(R_FAMILY[record["family"]], record["link"])
        return mm.glmer(record["formula"], data(record["dataset"]), family=family, nAGQ=record.get("nAGQ", 1))


def values(mapping) -> np.ndarray:
    return np.array(list(mapping.values()), float)


def assert_matches(fit, record, rel=1e-6):
    """−2 log L within ``rel`` (or lower: a win), β within 1e-4, SEs within 1e-3, npar equal."""
    ours, theirs = fit.objective, record["objective"]
    assert ours <= theirs + rel * abs(theirs)  # lower is a win
    assert ours == pytest.approx(theirs, rel=rel)
    np.testing.assert_allclose(fit.fixef.to_numpy(), values(record["beta"]), atol=1e-4)
    np.testing.assert_allclose(fit.coef_table()["Std. Error"].to_numpy(), values(record["se_beta"]), rtol=1e-3)
    assert fit.npar == record["npar"]


# ---------------------------------------------------------------------------------------- against R
# lme4 glmer.nb: ours minimises −2 log L over (θ_RE, β, log θ) at once, lme4's profile over θ is made
# of refits that stop early (~1e-4 of noise), so our −2 log L is lower (by 3.6e-4 and 1.2e-4) and θ̂
# agrees to ~2e-5.
@pytest.mark.parametrize("model_id", ["grouseticks_nb", "epil_nb"])
def test_glmer_nb_against_lme4(model_id):
    fit, record = fit_of(model_id), REFERENCE[model_id]
    assert_matches(fit, record)
    assert fit.family.theta == pytest.approx(record["nb_theta"], rel=1e-4)
    assert fit.dispersion == fit.family.theta
    np.testing.assert_allclose(fit.varcorr["sdcor"].to_numpy(), [v["sdcor"] for v in record["varcorr"]], rtol=1e-3)
    assert fit.sigma == 1.0
    assert str(fit.family) == f"Negative Binomial({round(fit.family.theta, 4):.7g})  ( log )"
    assert fit.summary().splitlines()[2] == f" Family: {fit.family}"


def test_glmer_nb_family_line_as_lme4():
    assert fit_of("grouseticks_nb").summary().splitlines()[2] == REFERENCE["grouseticks_nb"]["family_line"]


# lme4's PIRLS stops at a relative change of 1e-7 of the penalised deviance; for Gamma and inverse
# Gaussian its criterion takes the deviance through the dispersion Σd/n, so that stop moves lme4's
# −2 log L by up to ~3e-3 and β by ~4e-4 (gamma_log_slope). The strict references are lme4's fits
# with PIRLS converged (glmerControl(tolPwrss = 1e-12), ids *_tight); the default fits are checked
# at the size of that noise (1e-5 relative, β 1e-3).
STRICT_DISPERSION = ["gamma_log_int_tight", "gamma_log_slope_tight", "gamma_inverse_int_tight", "ig_log_int_tight"]


@pytest.mark.parametrize("model_id", STRICT_DISPERSION + ["gamma_log_nagq0_tight", "cbpp_nagq0",
                                                          "grouseticks_poisson_nagq0"])
def test_dispersion_families_and_nagq0_against_lme4(model_id):
    fit, record = fit_of(model_id), REFERENCE[model_id]
    assert_matches(fit, record)
    assert fit.sigma == pytest.approx(record["sigma"], rel=1e-4)
    np.testing.assert_allclose(fit.varcorr["sdcor"].to_numpy(), [v["sdcor"] for v in record["varcorr"]], rtol=1e-3,
                               atol=1e-4)
    assert fit.summary().splitlines()[2] == record["family_line"]


@pytest.mark.parametrize("model_id", ["gamma_log_int", "gamma_log_slope", "gamma_inverse_int", "gamma_log_nagq0",
                                      "ig_log_int"])
def test_dispersion_families_against_lme4_defaults(model_id):
    # (lme4's default inverse Gaussian fit also stops short of convergence: max|grad| 0.049)
    fit, record = fit_of(model_id), REFERENCE[model_id]
    assert fit.objective == pytest.approx(record["objective"], rel=1e-5)
    np.testing.assert_allclose(fit.fixef.to_numpy(), values(record["beta"]), atol=1e-3)
    assert fit.sigma == pytest.approx(record["sigma"], rel=1e-3)


IG_MODES = json.loads((HERE.parent / "ig_modes" / "ig_modes_reference.json").read_text())


def test_inverse_gaussian_slope_with_converged_modes():
    # A hard criterion for Fisher scoring: lme4's PIRLS stops ~4e-5 from the modes (max|grad| 6.3 with
    # tolPwrss = 1e-12), which lowers its reported −2 log L at its estimates by 1.3e-3 below the Laplace
    # criterion with converged modes (reference/ig_modes: u taken to the mode by Newton's method in R).
    # Our PIRLS takes Newton steps: the criterion at lme4's estimates is R's with converged modes, our
    # optimum is below it and within 1.5e-7 relative of lme4's report, and it passes the checks.
    fit = fit_of("ig_log_slope_tight")
    at_lme4 = np.r_[values(IG_MODES["theta"]), values(IG_MODES["beta"])]
    assert fit.problem.deviance(at_lme4) == pytest.approx(IG_MODES["laplace_converged_modes"], rel=1e-10)
    assert fit.objective <= IG_MODES["laplace_converged_modes"]
    assert fit.objective == pytest.approx(IG_MODES["objective_reported"], rel=1e-6)
    assert fit.converged
    np.testing.assert_allclose(fit.fixef.to_numpy(), values(REFERENCE["ig_log_slope_tight"]["beta"]), atol=2e-3)


@pytest.mark.parametrize("model_id", ["grouseticks_nbinom1", "epil_nbinom1"])
def test_nbinom1_against_glmmtmb(model_id):
    fit, record = fit_of(model_id), REFERENCE[model_id]
    assert_matches(fit, record)
    assert fit.dispersion == pytest.approx(record["dispersion"], rel=1e-4)
    sds = [sd for term in record["re_sd"].values() for sd in term.values()]
    np.testing.assert_allclose(fit.varcorr["sdcor"].to_numpy(), sds, rtol=1e-3)
    assert f"Dispersion parameter for nbinom1 family (): {fit.dispersion:.3g}" in fit.summary()


# ---------------------------------------------------------------------------------------- nAGQ = 0
@pytest.mark.parametrize("family, response", [
    ("negative_binomial", "y_count"), ("nbinom1", "y_count"), (Gamma(link="log"), "y_gamma"),
    (InverseGaussian(link="log"), "y_ig"), ("poisson", "y_count")])
def test_nagq0_for_every_family(family, response):
    sim = data("gamma_sim.csv").copy()
    sim["y_count"] = np.round(sim["y_gamma"]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = mm.glmer(f"{response} ~ x + (1 | g)", sim, family=family, nAGQ=0)
        full = mm.glmer(f"{response} ~ x + (1 | g)", sim, family=family, nAGQ=1)
    # nAGQ = 0 evaluates the same Laplace criterion at β(θ) from PIRLS: never below the full optimum
    assert full.objective <= fast.objective + 1e-6 * abs(fast.objective)
    assert (np.abs(fast.fixef - full.fixef) < 2 * full.coef_table()["Std. Error"]).all()
    assert fast.n_agq == 0 and "Laplace" in fast.summary().splitlines()[0]


# ---------------------------------------------------------------------------------------- the registry
FAMILY_OBJECTS = [Binomial(), Binomial(link="probit"), Poisson(), NegativeBinomial(theta=2.5), NBinom1(phi=0.7),
                  Gamma(), Gamma(link="log"), InverseGaussian(), InverseGaussian(link="log")]


@pytest.mark.parametrize("name, cls", [("binomial", Binomial), ("poisson", Poisson), ("negative_binomial",
                                       NegativeBinomial), ("nbinom1", NBinom1), ("Gamma", Gamma),
                                       ("gamma", Gamma), ("inverse_gaussian", InverseGaussian)])
def test_names_and_objects(name, cls):
    family = get_family(name)
    assert type(family) is cls and family.link_name == cls.links[0]
    assert get_family(family) is family
    assert mm.families.Gamma(link="log") == get_family("Gamma", "log")


def test_links_invert_and_differentiate():
    eta = {"logit": 0.3, "probit": -0.4, "cloglog": 0.2, "log": 1.1, "identity": 2.0, "inverse": 0.7,
           "sqrt": 1.3, "1/mu^2": 0.8}
    for name in LINKS:
        link = Link(name)
        e = np.array([eta[name]])
        assert link.link(link.inverse(e)) == pytest.approx(e, rel=1e-12)
        numeric = (link.inverse(e + 1e-6) - link.inverse(e - 1e-6)) / 2e-6
        assert link.mu_eta(e) == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize("family", FAMILY_OBJECTS, ids=repr)
def test_deviance_residuals_vanish_at_the_data_and_irls_is_the_score(family):
    rng = np.random.default_rng(3)
    y = {Binomial: rng.integers(0, 2, 30).astype(float), Gamma: rng.gamma(2.0, 1.0, 30),
         InverseGaussian: rng.wald(1.5, 2.0, 30)}.get(type(family), rng.poisson(3.0, 30).astype(float))
    w = np.ones(30)
    positive = np.maximum(y, 0.3) if type(family) is not Binomial else np.clip(y, 0.2, 0.8)
    if not isinstance(family, (Binomial,)):
        assert np.allclose(family.deviance_residuals(y, np.maximum(y, 1e-300) if y.min() > 0 else positive, w)[y > 0],
                           0.0, atol=1e-9)
    # the IRLS weight × working residual is the score ∂ log p/∂η (−½ ∂d/∂η), checked numerically
    eta = family.link.link(positive)
    W, resid = family.irls(y, eta, family.link.inverse(eta), w)
    h = 1e-6
    d_plus = family.deviance_residuals(y, family.link.inverse(eta + h), w)
    d_minus = family.deviance_residuals(y, family.link.inverse(eta - h), w)
    np.testing.assert_allclose(W * resid, -(d_plus - d_minus) / (4 * h), rtol=1e-5, atol=1e-7)
    W, resid = family.newton(y, eta, family.link.inverse(eta), w)
    np.testing.assert_allclose(W * resid, -(d_plus - d_minus) / (4 * h), rtol=1e-5, atol=1e-7)
    assert (W > 0).all()
    if family.newton_iteration and not isinstance(family, NBinom1):  # Newton: W = −½ ∂²d/∂η²
        d = [family.deviance_residuals(y, family.link.inverse(eta + s), w) for s in (-1e-4, 0.0, 1e-4)]
        np.testing.assert_allclose(W, (d[2] - 2 * d[1] + d[0]) / (2 * 1e-8), rtol=1e-5, atol=1e-6)


def test_observed_information_of_nbinom1():
    family, y, w = NBinom1(phi=0.7), np.array([0.0, 1, 3, 8, 20]), np.ones(5)
    eta, h = np.log(np.array([0.5, 2.0, 3.0, 4.0, 9.0])), 1e-4
    ll = [-family.minus_two_loglik(y, np.exp(eta + s), w, w) / 2 for s in (-h, 0.0, h)]
    numeric = -(ll[2] - 2 * ll[1] + ll[0]) / h**2
    np.testing.assert_allclose(family.laplace_weights(y, eta, np.exp(eta), w), numeric, rtol=1e-5)


def test_log_likelihoods_against_scipy():
    rng = np.random.default_rng(7)
    y, mu, w = rng.poisson(4.0, 40).astype(float), rng.uniform(1, 8, 40), np.ones(40)
    np.testing.assert_allclose(NegativeBinomial(theta=2.5).minus_two_loglik(y, mu, w, w),
                               -2 * stats.nbinom.logpmf(y, 2.5, 2.5 / (2.5 + mu)))
    np.testing.assert_allclose(NBinom1(phi=0.7).minus_two_loglik(y, mu, w, w),
                               -2 * stats.nbinom.logpmf(y, mu / 0.7, 1 / 1.7))
    np.testing.assert_allclose(Poisson().minus_two_loglik(y, mu, w, w), -2 * stats.poisson.logpmf(y, mu))
    # Gamma and inverse Gaussian: lme4's aic() with φ = Σd/n, plus 2
    yg = rng.gamma(3.0, 1.0, 40)
    family = Gamma(link="log")
    dev = family.deviance_residuals(yg, mu, w)
    phi = dev.sum() / 40
    expected = -2 * stats.gamma.logpdf(yg, 1 / phi, scale=mu * phi).sum() + 2
    assert family.data_term(yg, mu, w, dev.sum(), np.nan) == pytest.approx(expected, rel=1e-12)
    family = InverseGaussian(link="log")
    dev = family.deviance_residuals(yg, mu, w)
    phi = dev.sum() / 40
    expected = -2 * stats.invgauss.logpdf(yg, mu * phi, scale=1 / phi).sum() + 2
    assert family.data_term(yg, mu, w, dev.sum(), np.nan) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("family, var", [
    (NegativeBinomial(theta=2.0), lambda m: m + m * m / 2.0), (NBinom1(phi=0.5), lambda m: 1.5 * m),
    (Poisson(), lambda m: m), (Gamma(), lambda m: 0.25 * m * m), (InverseGaussian(), lambda m: 0.25 * m**3)])
def test_simulators_have_the_family_moments(family, var):
    mu = np.full((200_000, 1), 3.0)
    y = family.simulate(mu, np.ones(len(mu)), np.random.default_rng(11), sigma=0.5)
    assert y.mean() == pytest.approx(3.0, rel=1e-2)
    assert y.var() == pytest.approx(var(3.0), rel=3e-2)
    if not family.has_scale:
        np.testing.assert_allclose(family.variance(np.array([3.0])), var(3.0))


# ---------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("family, response, message", [
    ("negative_binomial", [-1, 2, 3, 1], "negative counts in the response of a negative_binomial model "
                                         "\\(first at row 0: -1\\)"),
    ("nbinom1", [1, 2, 3.5, 1], "non-integer counts .* nbinom1 model \\(first at row 2: 3.5\\)"),
    ("poisson", [1, 2, -3, 1], "negative counts .* poisson model \\(first at row 2"),
    ("Gamma", [1.0, 0.0, 2.0, 3.0], "the Gamma family needs a positive response; row 1 has 0"),
    ("inverse_gaussian", [1.0, 2.0, -2.0, 3.0], "inverse_gaussian family needs a positive response; row 2 has -2"),
    ("tweedie", [1, 2, 3, 4], "unknown family 'tweedie'"),
])
def test_bad_responses_name_the_culprit(family, response, message):
    frame = pd.DataFrame({"y": response * 5, "g": list("abcde") * 4})
    with pytest.raises(MixedModelsError, match=message):
        mm.glmer("y ~ 1 + (1 | g)", frame, family=family)


def test_bad_links_and_parameters():
    with pytest.raises(MixedModelsError, match="link 'logit' is not available for the Gamma family"):
        Gamma(link="logit")
    with pytest.raises(MixedModelsError, match="link 'probit' is not available for the negative_binomial family"):
        get_family("negative_binomial", "probit")
    with pytest.raises(MixedModelsError, match="theta must be a positive number"):
        NegativeBinomial(theta=-1.0)
    with pytest.raises(MixedModelsError, match="unknown link 'logt'"):
        Link("logt")
    with pytest.raises(MixedModelsError, match="nAGQ > 1 is not available for the Gamma family"):
        mm.glmer("y_gamma ~ x + (1 | g)", data("gamma_sim.csv"), family="Gamma", nAGQ=5)
    with pytest.raises(MixedModelsError, match="nAGQ must be a non-negative integer"):
        mm.glmer("y_gamma ~ x + (1 | g)", data("gamma_sim.csv"), family="Gamma", nAGQ=-1)


# ---------------------------------------------------------------------------------------- the rest of the surface
@pytest.mark.parametrize("model_id", ["epil_nb", "gamma_log_int_tight", "epil_nbinom1", "ig_log_int_tight"])
def test_simulate_predict_residuals_plots_for_every_family(model_id):
    fit = fit_of(model_id)
    sims = fit.simulate(nsim=2, seed=1)
    assert sims.shape == (fit.nobs, 2) and sims.equals(fit.simulate(nsim=2, seed=1))
    assert (sims.to_numpy() >= 0).all()
    mu = fit.predict(type="response").to_numpy()
    np.testing.assert_allclose(mu, fit.fitted().to_numpy())
    pearson = fit.residuals("pearson").to_numpy()
    np.testing.assert_allclose(pearson, (fit.y - mu) / np.sqrt(fit.family.variance(mu)))
    fig = fit.plot_diagnostics()
    assert fig.axes[0].get_ylabel() == "Pearson residual"
    plt.close("all")
    assert np.isfinite(fit.icc()["adjusted"])


def test_profile_of_nbinom1_includes_the_dispersion():
    fit = fit_of("epil_nbinom1")
    ci = fit.confint(parm=["dispersion", "V4"], method="profile")
    assert list(ci.index) == ["dispersion", "V4"]
    lo, hi = ci.loc["dispersion"]
    assert lo < fit.dispersion < hi
    wald = fit.confint(parm="V4", method="wald").loc["V4"].to_numpy()
    np.testing.assert_allclose(ci.loc["V4"].to_numpy(), wald, atol=0.02)


def test_profile_of_a_gamma_fit():
    fit = fit_of("gamma_log_int_tight")
    ci = fit.confint(parm="beta_", method="profile")
    np.testing.assert_allclose(ci.to_numpy(), fit.confint(parm="beta_", method="wald").to_numpy(), atol=0.02)
    with pytest.raises(ValueError, match="profiles of the variance parameters of a Gamma GLMM are not available"):
        fit.profile(which="theta_")


def test_bootstrap_of_a_glmm_refits_each_family():
    fit = fit_of("epil_nbinom1")
    table = mm.bootstrap(fit, nsim=4, seed=3, progress=False)
    assert list(table.columns) == list(fit.fixef.index) + ["sd_(Intercept)|subject", "dispersion"]
    assert table.notna().all().all() and table.equals(mm.bootstrap(fit, nsim=4, seed=3, progress=False))
    np.testing.assert_allclose(table.attrs["t0"].to_numpy(), np.r_[fit.fixef, fit.varcorr["sdcor"], fit.dispersion])
    # a refit to the fit's own response returns the fit
    again = fit.refit(fit.y)
    assert again.objective == pytest.approx(fit.objective, rel=1e-9)
    np.testing.assert_allclose(again.fixef, fit.fixef, atol=1e-5)
    gamma = fit_of("gamma_log_int_tight")
    boot = mm.bootstrap(gamma, nsim=3, seed=1, progress=False)
    assert list(boot.columns) == ["(Intercept)", "x", "sd_(Intercept)|g"] and boot.notna().all().all()


def test_emmeans_on_the_response_scale_for_a_new_family():
    fit = fit_of("epil_nbinom1")
    link, response = mm.emmeans(fit, "trt"), mm.emmeans(fit, "trt", type="response")
    np.testing.assert_allclose(response.frame["response"].to_numpy(), np.exp(link.frame["emmean"].to_numpy()))


@pytest.mark.parametrize("family, y, weights", [
    (families.Binomial(), np.r_[0.0, 1.0, 0.25, 1.0, 0.0, 0.5, 1.0, 0.0], np.r_[1.0, 1.0, 4.0, 2.0, 1.0, 2.0, 1.0, 3.0]),
    (families.Poisson(), np.r_[0.0, 3.0, 1.0, 7.0, 0.0, 2.0, 40.0, 1.0], np.r_[1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 1.0, 3.0]),
])
def test_compiled_working_state_is_the_family_formulas(family, y, weights):
    """The compiled PIRLS rows (binomial/logit, Poisson/log) give the generic formulas' μ, dᵢ, W and
    z̃ − offset, also where the link clamps (|η| beyond log(1/ε), μ at ε)."""
    eta = np.r_[-40.0, 37.0, -3.0, 0.0, 2.5, -0.7, 36.5, -36.5]
    offset = np.r_[0.0, 1.0, -2.0, 0.5, 0.0, 3.0, -1.0, 0.25]
    part = family.saturated_deviance_part(y, weights)
    fast = family.working_state(y, eta, offset, weights, part)
    generic = families.Family.working_state(family, y, eta, offset, weights, part)
    for a, b in zip(fast, generic):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(fast[1], family.deviance_residuals(y, fast[0], weights), rtol=1e-12, atol=1e-12)
