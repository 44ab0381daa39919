"""Degrees of freedom and covariance of β̂ for mmrm fits (checks beyond the reference files)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import mixedmodels as mm
from mixedmodels.mmrm.ddf import resolve_methods
from mmrm_reference import fev_data, our_fit, reference

FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"


@pytest.mark.parametrize("method, vcov, expected", [
    ("satterthwaite", None, ("satterthwaite", "asymptotic")),
    ("Kenward-Roger", None, ("kenward-roger", "kenward-roger")),
    ("kenward-roger-linear", None, ("kenward-roger", "kenward-roger-linear")),
    ("residual", None, ("residual", "empirical")),
    ("between-within", None, ("between-within", "asymptotic")),
    ("satterthwaite", "Empirical-Jackknife", ("satterthwaite", "empirical-jackknife")),
])
def test_resolve_methods(method, vcov, expected):
    assert resolve_methods(method, vcov, True) == expected


@pytest.mark.parametrize("method, vcov, reml, message", [
    ("kenward-roger", None, False, "needs a REML fit"),
    ("kenward-roger", "empirical", True, "go with"),
    ("satterthwaite", "kenward-roger", True, "go with"),
    ("bogus", None, True, "method must be one of"),
    ("satterthwaite", "sandwich", True, "vcov must be one of"),
])
def test_bad_combinations(method, vcov, reml, message):
    with pytest.raises(ValueError, match=message):
        resolve_methods(method, vcov, reml)


def test_residual_and_between_within_df():
    data = fev_data()
    residual = mm.mmrm(FORMULA, data, method="residual", vcov="asymptotic")
    assert (residual.coef_table()["df"] == 537 - 11).all()
    bw = mm.mmrm(FORMULA, data, method="between-within")
    df = bw.coef_table()["df"]
    between, within = 197 - 4 - 1, 537 - 197 - 6  # RACE (2), SEX, ARMCD between; AVISIT and ARMCD:AVISIT within
    assert df["(Intercept)"] == within and df["RACEWhite"] == between and df["SEXFemale"] == between
    assert df["AVISITVIS2"] == within and df["ARMCDTRT:AVISITVIS3"] == within
    assert bw.f_test(np.eye(11)[[4, 5]])["DenDF"] == between  # ARMCDTRT and AVISITVIS2: the smaller df


def test_empirical_df_equals_mmrm_g_matrix_form():
    """mmrm builds g = (I − H) A X̃ C per subject (n_obs × p·n_subjects) and takes tr(M)²/‖M‖² with
    M = (g l)ᵀ(g l); we use the reduction M = diag(‖v_i‖²) − BᵀCB. Compare on the fev fit."""
    fit = our_fit("fev_data_us_empirical")
    crit, state = fit.criterion, fit._state
    C = state.C
    Xt_rows, starts = [], []
    for block, L in zip(crit.blocks, state.chol):
        W = np.linalg.solve(L, block.Z.transpose(1, 0, 2).reshape(block.s, -1)).reshape(block.s, block.n, -1)
        for i in range(block.n):
            starts.append(len(Xt_rows))
            Xt_rows.extend(W[:, i, :crit.p])
    Xt = np.array(Xt_rows)
    n = len(Xt)
    H = Xt @ C @ Xt.T
    sizes = np.diff(np.r_[starts, n])
    l = np.eye(crit.p)[4]
    columns = []
    for start, size in zip(starts, sizes):
        rows = slice(start, start + size)
        columns.append((np.eye(n) - H)[:, rows] @ Xt[rows] @ C @ l)
    A = np.column_stack(columns)
    M = A.T @ A
    expected = np.trace(M) ** 2 / (M * M).sum()
    assert fit._inference.df(l) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("vcov", ["empirical-jackknife", "empirical-bias-reduced"])
def test_small_sample_corrections_inflate_the_sandwich(vcov):
    plain = our_fit("fev_data_us_empirical")
    corrected = mm.mmrm(reference("fev_data_us_empirical")["formula"], fev_data(), vcov=vcov)
    ratio = corrected.coef_table()["Std. Error"] / plain.coef_table()["Std. Error"]
    assert (ratio > 1).all() and (ratio < 1.2).all()
    assert corrected.objective == pytest.approx(plain.objective, rel=1e-12)


def test_one_row_f_test_is_the_squared_t_test():
    for model_id in ("fev_data_us", "fev_data_us_kr", "fev_data_us_empirical"):
        fit = our_fit(model_id)
        l = np.eye(11)[5]
        t, f = fit.t_test(l), fit.f_test(l)
        assert f["F value"] == pytest.approx(t["t value"] ** 2) and f["DenDF"] == pytest.approx(t["df"])


def test_kenward_roger_f_of_a_full_rank_block_is_positive_and_scaled():
    fit = our_fit("fev_data_us_kr")
    L = np.eye(11)[[8, 9, 10]]
    res = fit.f_test(L)
    b = L @ fit.fixef.to_numpy()
    wald = b @ scipy.linalg.solve(L @ fit.vcov.to_numpy() @ L.T, b) / 3
    assert res["NumDF"] == 3 and 0.9 < res["F value"] / wald <= 1.0  # λ ≤ 1 scales the Wald F
    assert res["DenDF"] > 100
