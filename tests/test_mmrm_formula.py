"""The mmrm formula parser: fixed part and the one covariance term."""

from __future__ import annotations

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.mmrm.formula import parse_mmrm_formula

CASES = {
    "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)":
        ("FEV1", "RACE + SEX + ARMCD * AVISIT", "us", "AVISIT", "USUBJID", None),
    "FEV1 ~ us(AVISIT | USUBJID) + ARMCD": ("FEV1", "ARMCD", "us", "AVISIT", "USUBJID", None),
    "FEV1 ~ ARMCD + toeph(AVISIT|USUBJID) + SEX": ("FEV1", "ARMCD + SEX", "toeph", "AVISIT", "USUBJID", None),
    "y ~ ar1h(visit | id)": ("y", "1", "ar1h", "visit", "id", None),
    "y ~ 0 + x + csh(visit | arm / id)": ("y", "0 + x", "csh", "visit", "id", "arm"),
    "log(y) ~ x + ad( visit | `my id` )": ("log(y)", "x", "ad", "visit", "my id", None),
}


@pytest.mark.parametrize("formula", CASES)
def test_parts(formula):
    parsed = parse_mmrm_formula(formula)
    assert (parsed.response, parsed.fixed, parsed.structure, parsed.visit, parsed.subject, parsed.group) == CASES[formula]


def test_covariance_term_text():
    assert parse_mmrm_formula("y ~ x + us(v | g / id)").covariance_term == "us(v | g / id)"


@pytest.mark.parametrize("formula, coordinates, group", [
    ("FEV1 ~ ARMCD * AVISIT + sp_exp(VISITN | USUBJID)", ("VISITN",), None),
    ("FEV1 ~ ARMCD + sp_exp(VISITN, VISITN2 | USUBJID)", ("VISITN", "VISITN2"), None),
    ("y ~ sp_gau(t | arm / id) + x", ("t",), "arm"),
])
def test_spatial_terms_take_coordinates(formula, coordinates, group):
    parsed = parse_mmrm_formula(formula)
    assert parsed.spatial and parsed.visit is None
    assert (parsed.coordinates, parsed.group) == (coordinates, group)
    assert parsed.covariance_term.startswith(f"{parsed.structure}({', '.join(coordinates)} | ")
    assert not parse_mmrm_formula("y ~ us(v | id)").spatial


@pytest.mark.parametrize("formula, message", [
    ("y ~ x", "exactly one covariance term"),
    ("y ~ us(v | id) + ar1(v | id)", "exactly one covariance term"),
    ("y ~ x + us(v)", "must read"),
    ("y ~ x + us(t1, t2 | id)", "takes one visit variable, not 2 .*spatial structures"),
    ("y ~ x + us(v | 2 * id)", "must be a column name"),
    ("x + us(v | id)", "formula must be"),
    (" ~ x + us(v | id)", "no response"),
    ("y ~ x * us(v | id)", "with '\\+'"),
    ("y ~ x + us(v | id) * z", "with '\\+'"),
])
def test_errors(formula, message):
    with pytest.raises(FormulaError, match=message):
        parse_mmrm_formula(formula)


def test_structure_name_inside_a_column_name_is_not_a_term():
    parsed = parse_mmrm_formula("y ~ focus(x) + cs(v | id)")
    assert parsed.structure == "cs" and parsed.fixed == "focus(x)"
