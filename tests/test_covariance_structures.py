"""Structured random-effect covariances (diag, homdiag, cs, homcs, ar1, toep) against glmmTMB and
against equivalent unstructured models on data they were not tuned on."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels import datasets
from mixedmodels.covariance import (STRUCTURES, AutoRegressive, CompoundSymmetry, Diagonal, ThetaLayout, Toeplitz,
                                    structure_of)
from mixedmodels.errors import FormulaError
from mixedmodels.inference.varpar import richardson_jacobian, varpar_covariance

REF = Path(__file__).parent / "reference" / "structured"


def fit_quietly(formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, **kwargs)


@pytest.fixture(scope="module")
def orthodont():
    d = pd.read_csv(REF / "Orthodont_structured.csv")
    d["fage"] = pd.Categorical(d["fage"].astype(str), categories=["8", "10", "12", "14"])
    d["Sex"] = pd.Categorical(d["Sex"], categories=["Male", "Female"])
    return d


# ---------------------------------------------------------------- θ ↔ T_k
@pytest.mark.parametrize("keyword", list(STRUCTURES))
@pytest.mark.parametrize("p", [2, 3, 5])
def test_structure_round_trips_and_is_a_lower_cholesky_factor(keyword, p):
    s = structure_of(keyword, p)
    assert s.keyword == keyword and s.p == p
    T0 = s.template(s.initial())
    np.testing.assert_allclose(T0 @ T0.T, np.eye(p), atol=1e-12)  # the start is T_k = I
    rng = np.random.default_rng(p)
    lower = s.lower_bounds()
    assert len(lower) == s.n_theta == len(s.names("g", [f"c{i}" for i in range(p)]))
    for _ in range(20):
        theta = rng.normal(scale=1.5, size=s.n_theta)
        theta[lower == 0] = np.abs(theta[lower == 0])
        T = s.template(theta)
        np.testing.assert_array_equal(T, np.tril(T))
        assert np.all(np.linalg.eigvalsh(T @ T.T) > 0)  # every θ inside the bounds is a covariance
        np.testing.assert_allclose(s.theta_of(T), theta, rtol=1e-8, atol=1e-8)
        values = s.sdcor(theta, 1.7)
        np.testing.assert_allclose(s.theta_of_sdcor(values, 1.7), theta, rtol=1e-7, atol=1e-7)


def test_structures_give_their_correlation_patterns():
    p = 4
    lag = np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    ar1 = AutoRegressive(p)
    theta = ar1.theta_of_sdcor(np.array([2.0, -0.6]), 1.0)
    np.testing.assert_allclose(ar1.template(theta) @ ar1.template(theta).T, 4.0 * (-0.6) ** lag, atol=1e-12)
    cs = CompoundSymmetry(p)
    sd = np.array([1.0, 2.0, 0.5, 3.0])
    T = cs.template(cs.theta_of_sdcor(np.r_[sd, -0.3], 1.0))
    np.testing.assert_allclose(T @ T.T, np.outer(sd, sd) * np.where(lag == 0, 1, -0.3), atol=1e-12)
    assert cs.theta_of_sdcor(np.r_[sd, -0.34], 1.0) is None  # ρ ≤ −1/(p − 1): not positive definite
    toep = Toeplitz(p)
    rho = np.array([0.5, 0.1, -0.2])
    T = toep.template(toep.theta_of_sdcor(np.r_[sd, rho], 1.0))
    np.testing.assert_allclose(T @ T.T, np.outer(sd, sd) * np.r_[1.0, rho][lag], atol=1e-12)
    diag = Diagonal(p, homogeneous=True)
    assert diag.n_theta == 1 and diag.keyword == "homdiag"
    np.testing.assert_array_equal(diag.template(np.array([2.0])), 2.0 * np.eye(p))


def test_correlation_structures_need_two_columns():
    for keyword in ("cs", "homcs", "ar1"):
        with pytest.raises(FormulaError, match="at least 2 columns"):
            structure_of(keyword, 1)
    with pytest.raises(FormulaError, match="unknown covariance structure"):
        structure_of("ar2", 3)


def test_layout_mixes_structures():
    layout = ThetaLayout((2, 3), [Diagonal(2), AutoRegressive(3)])
    assert layout.n_theta == 4
    np.testing.assert_array_equal(layout.lower_bounds(), [0, 0, 0, -np.inf])
    assert layout != ThetaLayout((2, 3))
    assert layout.names(["g", "h"], [["a", "b"], ["x", "y", "z"]]) == ["g.a", "g.b", "h.sd", "h.t_rho"]


# ---------------------------------------------------------------- glmmTMB on Orthodont
@pytest.mark.parametrize("name", ["diag", "ar1", "cs"])
def test_orthodont_against_glmmtmb(orthodont, name):
    ref = json.loads((REF / f"orthodont_{name}.json").read_text())
    fit = fit_quietly(ref["formula"], orthodont)
    # a lower criterion than glmmTMB's is a better optimum (its cs fit reports false convergence)
    assert fit.objective <= ref["objective"] * (1 + 1e-6)
    assert fit.objective == pytest.approx(ref["objective"], rel=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["beta"].values()), rtol=1e-4)
    S = fit.covariance_matrices()[0]
    R = np.array(ref["re_cov"])
    np.testing.assert_allclose(S, R, atol=1e-4 * np.abs(R).max())
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    # glmmTMB's REML SEs add the uncertainty of the variance parameters to Var(β̂ | θ̂) (README);
    # lme4's σ²(R_XᵀR_X)⁻¹ is ours: the two agree once J A Jᵀ is added
    vp = varpar_covariance(fit)
    J = richardson_jacobian(lambda v: fit.problem.solve(v[:-1]).beta, vp.varpar)
    se_tmb = np.sqrt(np.diag(fit.vcov.to_numpy() + J @ vp.vcov @ J.T))
    np.testing.assert_allclose(se_tmb, list(ref["se_beta"].values()), rtol=1e-4)


def test_orthodont_varcorr_and_ranef_show_the_structure(orthodont):
    fit = fit_quietly("distance ~ age * Sex + diag(1 + age | Subject)", orthodont)
    vc = fit.varcorr
    assert vc["var2"].isna().all()  # diag: variances only, as glmmTMB prints them
    assert list(fit.ranef["Subject"].columns) == ["(Intercept)", "age"]
    ar1 = fit_quietly("distance ~ age * Sex + ar1(0 + fage | Subject)", orthodont)
    vc = ar1.varcorr
    sd = vc[(vc.grp == "Subject") & vc.var2.isna()].sdcor.to_numpy()
    np.testing.assert_allclose(sd, sd[0])  # one variance
    rho = vc[(vc.var1 == "fage8") & (vc.var2 == "fage10")].sdcor.iloc[0]
    assert vc[(vc.var1 == "fage8") & (vc.var2 == "fage14")].sdcor.iloc[0] == pytest.approx(rho**3)
    assert ar1.ranef["Subject"].shape == (27, 4)
    assert ar1.theta_names == ["Subject.sd", "Subject.t_rho"]
    text = ar1.summary()
    assert f"{rho:.2f} (ar1)" in text and "fage14" in text  # glmmTMB prints one correlation once
    assert "Corr" not in fit.summary().split("Number of obs")[0]


# ---------------------------------------------------------------- data not tuned on
def test_diag_equals_double_bar_on_sleepstudy():
    sleep = datasets.load("sleepstudy")
    diag = fit_quietly("Reaction ~ Days + diag(1 + Days | Subject)", sleep)
    bars = fit_quietly("Reaction ~ Days + (Days || Subject)", sleep)
    assert diag.objective == pytest.approx(bars.objective, rel=1e-12)
    np.testing.assert_allclose(diag.theta, bars.theta, rtol=1e-6)
    np.testing.assert_allclose(diag.vcov, bars.vcov, rtol=1e-6)
    d_table, b_table = diag.coef_table(ddf="satterthwaite"), bars.coef_table(ddf="satterthwaite")
    np.testing.assert_allclose(d_table["df"], b_table["df"], rtol=1e-4)  # Satterthwaite works in θ
    us = fit_quietly("Reaction ~ Days + us(Days | Subject)", sleep)
    plain = fit_quietly("Reaction ~ Days + (Days | Subject)", sleep)
    assert us.objective == plain.objective
    homdiag = fit_quietly("Reaction ~ Days + homdiag(1 + Days | Subject)", sleep)
    assert homdiag.objective >= diag.objective - 1e-8  # one variance is a special case


def _simulated_visits(n_subjects=60, n_visits=5, reps=2, seed=11):
    """Subjects × visits × replicates with ar1 subject-by-visit effects (ρ = 0.6, sd 1.5) and σ = 1."""
    rng = np.random.default_rng(seed)
    lag = np.abs(np.subtract.outer(np.arange(n_visits), np.arange(n_visits)))
    L = np.linalg.cholesky(1.5**2 * 0.6**lag)
    b = rng.normal(size=(n_subjects, n_visits)) @ L.T
    rows = []
    for i in range(n_subjects):
        for v in range(n_visits):
            for _ in range(reps):
                rows.append((f"s{i:03d}", f"v{v}", v, 2.0 + 0.5 * v + b[i, v] + rng.normal()))
    d = pd.DataFrame(rows, columns=["id", "visit", "time", "y"])
    d["visit"] = pd.Categorical(d["visit"], categories=[f"v{v}" for v in range(n_visits)])
    return d


def _dense_reml(fit, data, groups, columns):
    """−2 REML log-likelihood from V = Z Σ Zᵀ + σ² I formed densely (an independent evaluation)."""
    X = np.column_stack([np.ones(len(data)), data["time"].to_numpy(float)])
    y = data["y"].to_numpy(float)
    Sigma = fit.covariance_matrices()[0]
    codes = pd.Categorical(data[groups]).codes
    Zc = pd.get_dummies(data[columns]).to_numpy(float)
    same = codes[:, None] == codes[None, :]
    V = np.where(same, Zc @ Sigma @ Zc.T, 0.0) + fit.sigma**2 * np.eye(len(y))
    Vi = np.linalg.inv(V)
    XVX = X.T @ Vi @ X
    beta = np.linalg.solve(XVX, X.T @ Vi @ y)
    r = y - X @ beta
    n, p = X.shape
    return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XVX)[1] + r @ Vi @ r + (n - p) * np.log(2 * np.pi)), beta


def test_simulated_ar1_against_a_dense_criterion_and_nested_structures():
    data = _simulated_visits()
    ar1 = fit_quietly("y ~ time + ar1(0 + visit | id)", data)
    dense, beta = _dense_reml(ar1, data, "id", "visit")
    assert ar1.objective == pytest.approx(dense, rel=1e-9)
    np.testing.assert_allclose(ar1.fixef, beta, rtol=1e-7)
    assert ar1.spec.terms[0].column_names == [f"visitv{v}" for v in range(5)]
    rho = ar1.varcorr.query("var1 == 'visitv0' and var2 == 'visitv1'").sdcor.iloc[0]
    assert 0.4 < rho < 0.8  # the truth is 0.6
    # nested models: ar1 ⊂ toep, cs ⊂ toep, homcs ⊂ cs, toep ⊂ us (a lower criterion for the larger model)
    toep = fit_quietly("y ~ time + toep(0 + visit | id)", data)
    cs = fit_quietly("y ~ time + cs(0 + visit | id)", data)
    homcs = fit_quietly("y ~ time + homcs(0 + visit | id)", data)
    hetar1 = fit_quietly("y ~ time + hetar1(0 + visit | id)", data)
    us = fit_quietly("y ~ time + (0 + visit | id)", data)
    tol = 1e-6
    assert toep.objective <= hetar1.objective + tol and hetar1.objective <= ar1.objective + tol
    assert toep.objective <= cs.objective + tol
    assert cs.objective <= homcs.objective + tol and us.objective <= toep.objective + tol
    for fit in (toep, cs, homcs, hetar1):
        dense, _ = _dense_reml(fit, data, "id", "visit")
        assert fit.objective == pytest.approx(dense, rel=1e-9)


def test_homcs_equals_nested_intercepts_and_two_columns_agree():
    """homcs(0 + visit | id) with ρ > 0 is (1 | id) + (1 | id:visit); on two columns cs, toep and us
    are all the general 2 × 2 covariance."""
    data = _simulated_visits(n_subjects=40, n_visits=3, reps=3, seed=5)
    homcs = fit_quietly("y ~ time + homcs(0 + visit | id)", data)
    nested = fit_quietly("y ~ time + (1 | id) + (1 | id:visit)", data)
    assert homcs.objective == pytest.approx(nested.objective, rel=1e-8)
    two = data[data["visit"].isin(["v0", "v1"])].copy()
    two["visit"] = two["visit"].cat.remove_unused_categories()
    values = [fit_quietly(f"y ~ time + {s}(0 + visit | id)", two).objective for s in ("us", "cs", "toep")]
    np.testing.assert_allclose(values, values[0], rtol=1e-7)


def test_structured_term_from_parquet(tmp_path, orthodont):
    path = tmp_path / "orthodont.parquet"
    orthodont.to_parquet(path, row_group_size=30)
    formula = "distance ~ age * Sex + ar1(0 + fage | Subject)"
    memory = fit_quietly(formula, orthodont)
    large = fit_quietly(formula, str(path), progress=False)
    assert large.objective == pytest.approx(memory.objective, rel=1e-10)
    np.testing.assert_allclose(large.theta, memory.theta, rtol=1e-5)
    assert large.theta_names == memory.theta_names


def test_glmer_takes_structures():
    cbpp = datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + {}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diag = mm.glmer(formula.format("homdiag(1 | herd)"), cbpp, family="binomial")
        plain = mm.glmer(formula.format("(1 | herd)"), cbpp, family="binomial")
    assert diag.objective == pytest.approx(plain.objective, rel=1e-8)


def test_kenward_roger_refuses_structured_terms(orthodont):
    fit = fit_quietly("distance ~ age * Sex + ar1(0 + fage | Subject)", orthodont)
    with pytest.raises(ValueError, match="structured term"):
        fit.coef_table(ddf="kenward-roger")
    table = fit.coef_table(ddf="satterthwaite")
    assert np.all(np.isfinite(table["df"])) and np.all(table["df"] > 0)


def test_profile_and_bootstrap_intervals_work_through_the_structure(orthodont):
    sleep = datasets.load("sleepstudy")
    diag = fit_quietly("Reaction ~ Days + diag(1 + Days | Subject)", sleep).confint(method="profile")
    bars = fit_quietly("Reaction ~ Days + (Days || Subject)", sleep).confint(method="profile")
    pd.testing.assert_frame_equal(diag, bars, rtol=1e-5)
    ar1 = fit_quietly("distance ~ age * Sex + ar1(0 + fage | Subject)", orthodont)
    profile = ar1.confint(method="profile", parm="theta_")
    assert list(profile.index) == ["sd|Subject", "cor|Subject", "sigma"]
    lo, hi = profile.loc["cor|Subject"]
    assert 0.5 < lo < 0.96 and hi <= 1.0  # ρ̂ ≈ 0.96 (ML), inside its interval
    boot = ar1.confint(method="boot", nsim=20, seed=1)
    assert list(boot.index[:3]) == ["sd|Subject", "cor|Subject", "sigma"] and np.isfinite(boot.to_numpy()).all()


def test_bad_structured_terms_raise_clear_errors(orthodont):
    with pytest.raises(FormulaError, match=r"ar1\(...\) term needs at least 2 columns"):
        mm.lmer("distance ~ age + ar1(1 | Subject)", orthodont)
    # as many effects as rows: diag's variances are confounded with σ² (lme4's check), ar1's are not
    from mixedmodels.errors import DesignError
    with pytest.raises(DesignError, match="unidentifiable"):
        mm.lmer("distance ~ age + diag(0 + fage | Subject)", orthodont)
    with pytest.raises(DesignError, match="unidentifiable"):
        mm.lmer("distance ~ age + us(0 + fage | Subject)", orthodont)


def test_dask_simulate_predict_and_power_use_the_structure(orthodont):
    dd = pytest.importorskip("dask.dataframe")
    from mixedmodels.power import PowerDesign

    formula = "distance ~ age + ar1(0 + fage | Subject)"
    fit = fit_quietly(formula, orthodont)
    lazy = mm.lmer(formula, dd.from_pandas(orthodont, npartitions=3), progress=False)
    assert lazy.objective == pytest.approx(fit.objective, rel=1e-10)
    assert fit.simulate(nsim=2, seed=1).shape == (len(orthodont), 2)
    b = fit.ranef["Subject"].loc["F01"].to_numpy()
    fixed = fit.fixef["(Intercept)"] + fit.fixef["age"] * orthodont["age"].head(4).to_numpy()
    np.testing.assert_allclose(fit.predict(orthodont.head(4)), fixed + b, rtol=1e-10)
    truth = PowerDesign.from_fit(fit).build()
    np.testing.assert_allclose(truth.theta, fit.theta)
    wrong = PowerDesign(formula, orthodont, fit.fixef, {"Subject": np.eye(4) + 0.1}, 1.0)
    with pytest.raises(ValueError, match="does not have the covariance structure"):
        wrong.build()
