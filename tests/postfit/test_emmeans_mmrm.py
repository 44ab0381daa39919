"""Marginal means, contrasts and joint tests of mmrm fits against R's emmeans on R's mmrm
(tests/reference/mmrm_emmeans/, made by make_mmrm_emmeans.R there).

emmeans uses an mmrm fit's own vcov (Kenward–Roger adjusted for a Kenward–Roger fit, empirical for
an empirical one) and its own df method (mmrm's ``df_md``). R's optimiser (L-BFGS-B) stops a
little short of the optimum (tests/reference/mmrm/README.md): our −2 log L is lower, and so the
tables are compared twice: at R's own θ with the issue's tolerances (estimates and SE 1e-6
relative, df 1e-4 relative, p-values 1e-4), and for our own fit, whose θ differs from R's, within
looser bounds that say how far the optimum moves them.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.mmrm.data import build_mmrm_data
from mixedmodels.mmrm.ddf import resolve_methods
from mixedmodels.mmrm.fit import build_criterion, fit_at
from mixedmodels.mmrm.formula import parse_mmrm_formula
from mmrm_reference import dataset

REFERENCE = json.loads((Path(__file__).parents[1] / "reference" / "mmrm_emmeans" / "mmrm_emmeans.json").read_text())
FITS = REFERENCE["fits"]
FULL = [k for k, v in FITS.items() if "joint_tests" in v]
TABLES = ("emmeans_trt_by_visit", "pairs", "trt_vs_ctrl", "emmeans_visit", "emmeans_visit_proportional",
          "emmeans_trt_proportional", "emmeans_trt_by_visit_at")


def _names(fit_id: str) -> tuple[str, str]:
    return ("ARMCD", "AVISIT") if FITS[fit_id]["dataset"] == "fev_data.csv" else ("ARM", "VISIT")


def _methods(ref: dict) -> tuple[str, str | None]:
    vcov = None if ref["vcov_method"] in ("Asymptotic", "Kenward-Roger") else ref["vcov_method"].lower()
    return ref["method"].lower(), vcov


@lru_cache(maxsize=None)
def _our_fit(fit_id: str):
    ref = FITS[fit_id]
    method, vcov = _methods(ref)
    return mm.mmrm(ref["formula"], dataset(ref["dataset"]), method=method, vcov=vcov)


@lru_cache(maxsize=None)
def _fit_at_r_theta(fit_id: str):
    """Our fit object evaluated at R's θ: everything but the optimiser."""
    ref = FITS[fit_id]
    criterion = build_criterion(build_mmrm_data(parse_mmrm_formula(ref["formula"]), dataset(ref["dataset"])), True)
    method, vcov = resolve_methods(*_methods(ref), True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R's θ is not exactly stationary
        return fit_at(criterion, np.array(ref["theta"]), method, vcov)


def _table(fit, fit_id: str, name: str) -> pd.DataFrame:
    trt, visit = _names(fit_id)
    em = mm.emmeans(fit, trt, by=visit)
    if name == "emmeans_trt_by_visit":
        return em.frame
    if name == "pairs":
        return em.pairs().frame
    if name == "trt_vs_ctrl":
        return mm.contrast(em, "trt.vs.ctrl").frame
    if name == "emmeans_visit":
        return mm.emmeans(fit, visit).frame
    if name == "emmeans_visit_proportional":
        return mm.emmeans(fit, visit, weights="proportional").frame
    if name == "emmeans_trt_proportional":
        return mm.emmeans(fit, trt, weights="proportional").frame
    if name == "emmeans_trt_by_visit_at":
        return mm.emmeans(fit, trt, by=visit, at=FITS[fit_id]["at"]).frame
    raise KeyError(name)


def _cases():
    return [pytest.param(fit_id, name, id=f"{fit_id}-{name}") for fit_id, ref in FITS.items() for name in TABLES
            if name in ref]


def _compare(ours: pd.DataFrame, theirs: list[dict], est: float, se: float, df: float, p: float) -> dict:
    """Columns of ``ours`` against R's rows; returns the largest relative differences (estimate, SE, df)."""
    theirs = pd.DataFrame(theirs)
    assert len(ours) == len(theirs)
    worst = {}
    for column in theirs.columns:
        assert column in ours.columns, column
        got = ours[column]
        if not pd.api.types.is_numeric_dtype(theirs[column].dtype):
            assert [str(v) for v in got] == list(theirs[column]), column
            continue
        got, want = got.to_numpy(dtype=float), theirs[column].to_numpy(dtype=float)
        if column in ("emmean", "estimate", "lower.CL", "upper.CL"):
            # relative to the scale of the column: a difference of means near 0 has no relative size
            scale = np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=est, atol=est * scale, err_msg=column)
        elif column == "SE":
            np.testing.assert_allclose(got, want, rtol=se, err_msg=column)
        elif column == "df":
            np.testing.assert_allclose(got, want, rtol=df, err_msg=column)
        elif column == "t.ratio":
            np.testing.assert_allclose(got, want, rtol=max(est, se), atol=max(est, se), err_msg=column)
        elif column == "p.value":
            np.testing.assert_allclose(got, want, rtol=0, atol=p, err_msg=column)
        else:  # covariate values of the grid
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=column)
        worst[column] = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))
    return worst


@pytest.mark.parametrize("fit_id, name", _cases())
def test_tables_at_r_theta_match_r(fit_id, name):
    fit = _fit_at_r_theta(fit_id)
    assert fit.objective == pytest.approx(FITS[fit_id]["objective"], rel=1e-10)
    _compare(_table(fit, fit_id, name), FITS[fit_id][name], est=1e-6, se=1e-6, df=1e-4, p=1e-4)


@pytest.mark.parametrize("fit_id, name", _cases())
def test_tables_of_our_fit_are_close_to_r(fit_id, name):
    # Our optimum is lower than R's (a win): ours <= R (by up to 7e-6). Our θ differs from R's where R
    # stopped short, which moves estimates by up to 4.2e-5 (of the column's largest), SE by 7e-5, df by
    # 1.8e-4 relative and p-values by 3.2e-5 (measured; at R's θ they agree to 1e-12, p-values to 1e-9).
    ref, fit = FITS[fit_id], _our_fit(fit_id)
    assert fit.objective <= ref["objective"] + 1e-6 * abs(ref["objective"])
    _compare(_table(fit, fit_id, name), ref[name], est=1e-4, se=2e-4, df=5e-4, p=1e-4)


def _joint(fit, fit_id: str, by: bool) -> pd.DataFrame:
    return mm.joint_tests(fit, by=_names(fit_id)[1] if by else None).frame


@pytest.mark.parametrize("by", [False, True], ids=["all", "by_visit"])
@pytest.mark.parametrize("fit_id", FULL)
def test_joint_tests_match_r(fit_id, by):
    ref = FITS[fit_id]
    theirs = pd.DataFrame(ref["joint_tests_by_visit" if by else "joint_tests"])
    for fit, p in ((_fit_at_r_theta(fit_id), 1e-4), (_our_fit(fit_id), 2e-4)):  # our fit: p moves by 9e-5
        table = _joint(fit, fit_id, by)
        assert list(table["model term"]) == list(theirs["model term"])
        if by:
            assert [str(v) for v in table[_names(fit_id)[1]]] == list(theirs[_names(fit_id)[1]])
        np.testing.assert_allclose(table["df1"], theirs["df1"])
        if p == 1e-4:  # emmeans prints df2 to 2 decimals and F to 3
            np.testing.assert_allclose(table["df2"], theirs["df2"], atol=0.0100001)
            np.testing.assert_allclose(table["F.ratio"], theirs["F.ratio"], atol=0.0010001)
        else:
            np.testing.assert_allclose(table["df2"], theirs["df2"], rtol=1e-3)
            np.testing.assert_allclose(table["F.ratio"], theirs["F.ratio"], rtol=1e-3)
        np.testing.assert_allclose(table["p.value"], theirs["p.value"], atol=p)


def _strip(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


@pytest.mark.parametrize("fit_id", ["fev_us", "heldout_us_kr"])
def test_printed_like_emmeans(fit_id):
    fit, (trt, visit) = _fit_at_r_theta(fit_id), _names(fit_id)
    em = mm.emmeans(fit, trt, by=visit)
    assert _strip(str(em)) == _strip(FITS[fit_id]["print_emmeans_trt_by_visit"])
    assert _strip(str(em.pairs())) == _strip(FITS[fit_id]["print_pairs"])


# ---------------------------------------------------------------------------- the fit's own df, options
def test_df_method_is_the_fits_own():
    fit = _fit_at_r_theta("fev_us_kr")
    assert mm.emmeans(fit, "ARMCD").ddf == "kenward-roger"
    assert mm.emmeans(fit, "ARMCD", ddf="kenward-roger").ddf == "kenward-roger"
    with pytest.raises(ValueError, match=r"fitted with \('kenward-roger'\).*method="):
        mm.emmeans(fit, "ARMCD", ddf="satterthwaite")
    with pytest.raises(ValueError, match=r"fitted with \('satterthwaite'\)"):
        mm.joint_tests(_fit_at_r_theta("fev_us"), ddf="asymptotic")
    # Kenward–Roger: the means' SE come from the adjusted vcov, as emmeans takes mmrm's beta_vcov
    em = mm.emmeans(fit, "ARMCD", by="AVISIT")
    np.testing.assert_allclose(em.se, np.sqrt(np.einsum("ij,jk,ik->i", em.L, fit.vcov.to_numpy(), em.L)))
    assert not np.allclose(em.se, np.sqrt(np.einsum("ij,jk,ik->i", em.L, fit.vcov_asymptotic.to_numpy(), em.L)))


def test_type_response_is_a_no_op_and_a_transformed_response_an_error():
    fit = _fit_at_r_theta("fev_us")
    link = mm.emmeans(fit, "ARMCD", by="AVISIT")
    response = mm.emmeans(fit, "ARMCD", by="AVISIT", type="response")
    pd.testing.assert_frame_equal(link.frame, response.frame)
    logged = mm.mmrm("log(FEV1) ~ ARMCD * AVISIT + us(AVISIT | USUBJID)", dataset("fev_data.csv"))
    with pytest.raises(ValueError, match="transformed response of a linear model"):
        mm.emmeans(logged, "ARMCD", type="response")
    with pytest.raises(TypeError):
        mm.emmeans(fit, "ARMCD", adjust="tukey")


def test_visit_outside_the_fixed_effects_joins_the_grid():
    # R's mmrm puts the visit factor into emmeans' reference grid even when the fixed effects do not use
    # it (mmrm's recover_data): the means are averaged over it too and say so; X does not change.
    data = dataset("fev_data.csv")
    fit = mm.mmrm("FEV1 ~ RACE + SEX + ARMCD + us(AVISIT | USUBJID)", data)
    em = mm.emmeans(fit, "ARMCD")
    assert em.averaged == ["RACE", "SEX", "AVISIT"]
    assert "Results are averaged over the levels of: RACE, SEX, AVISIT" in str(em)
    flat = mm.emmeans(fit, "ARMCD", weights="flat")
    np.testing.assert_allclose(flat.estimates, em.estimates)
    # additive model: the joint test of each term has the type-3 F (R's joint_tests fails on this model);
    # df2 is emmeans' smallest single-row df, mmrm's Anova a multi-row Satterthwaite df: equal for 1-df terms
    joint = mm.joint_tests(fit).frame.set_index("model term")
    anova = mm.anova(fit, type=3).loc[joint.index]
    np.testing.assert_allclose(joint["F.ratio"], anova["F value"], atol=0.0010001)
    one = (joint["df1"] == 1).to_numpy()
    assert one.sum() == 2
    np.testing.assert_allclose(joint["df2"][one], anova["DenDF"][one], atol=0.0100001)
    np.testing.assert_allclose(joint["p.value"][one], anova["Pr(>F)"][one], rtol=1e-6)


def test_grouped_covariance_means():
    data = dataset("fev_data.csv")
    fit = mm.mmrm("FEV1 ~ RACE + ARMCD + us(AVISIT | SEX / USUBJID)", data)
    em = mm.emmeans(fit, "ARMCD")
    assert em.averaged == ["RACE", "AVISIT", "SEX"]
    rows = [fit.t_test(l) for l in em.L]
    np.testing.assert_allclose(em.df, [r["df"] for r in rows])
    with pytest.raises(ValueError, match="not levels of factor 'AVISIT'"):
        mm.emmeans(fit, "ARMCD", at={"AVISIT": ["VIS9"]})
