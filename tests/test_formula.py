"""The lme4 bar syntax: expansion of ``||`` and ``/``, the fixed part left for formulaic, and errors."""

from __future__ import annotations

import re

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula import RandomTermSpec, parse_formula

# formula -> (response, fixed part, [(expr, group), ...]) as lme4's findbars/expandDoubleVerts/expandSlash give
PARSED = {
    "y ~ x + (1 | g)": ("y", "x", [("1", "g")]),
    "y ~ x + (x | g)": ("y", "x", [("x", "g")]),
    "y ~ x + (1 + x | g)": ("y", "x", [("1 + x", "g")]),
    "y ~ x + (0 + x | g)": ("y", "x", [("0 + x", "g")]),
    "y ~ x + (x || g)": ("y", "x", [("1", "g"), ("0 + x", "g")]),
    "y ~ (x + z || g)": ("y", "1", [("1", "g"), ("0 + x", "g"), ("0 + z", "g")]),
    "y ~ (0 + x || g)": ("y", "1", [("0 + x", "g")]),
    "y ~ (x - 1 || g)": ("y", "1", [("0 + x", "g")]),
    "y ~ (1 | a/b)": ("y", "1", [("1", "b:a"), ("1", "a")]),
    "y ~ x + (1 | a/b/c)": ("y", "x", [("1", "c:b:a"), ("1", "b:a"), ("1", "a")]),
    "y ~ (1 | a:b)": ("y", "1", [("1", "a:b")]),
    "y ~ 0 + x + (1 | g)": ("y", "0 + x", [("1", "g")]),
    "y ~ x - 1 + (1 | g)": ("y", "x - 1", [("1", "g")]),
    "y ~ -1 + x + (1 | g)": ("y", "1 - 1 + x", [("1", "g")]),
    "y ~ (1 | g)": ("y", "1", [("1", "g")]),
    "y ~ x * f + I(x^2) + (1 | g) + (1 | h) + (0 + x | k)": (
        "y", "x * f + I(x^2)", [("1", "g"), ("1", "h"), ("0 + x", "k")]),
    "log(y) ~ x + (1|g)+(1|h)": ("log(y)", "x", [("1", "g"), ("1", "h")]),
    "y ~ x + (1 | g) + z": ("y", "x + z", [("1", "g")]),
    "cbind(s, f) ~ x + (1 | g)": ("cbind(s, f)", "x", [("1", "g")]),
}


@pytest.mark.parametrize("formula", list(PARSED))
def test_parse(formula):
    response, fixed, random = PARSED[formula]
    parsed = parse_formula(formula)
    assert parsed.response == response
    assert parsed.fixed == fixed
    assert parsed.random == tuple(RandomTermSpec(e, g) for e, g in random)


def test_nested_group_factors_and_names():
    spec = parse_formula("y ~ (1 | a/b)").random[0]
    assert spec.group_factors == ["b", "a"]
    assert str(spec) == "(1 | b:a)"


# formula -> words the error message must contain
ERRORS = {
    "y ~": "no terms right of '~'",
    "~ x": "no response left of '~'",
    "y ~ x ~ z": "exactly one '~'",
    "y x": "exactly one '~'",
    "y ~ (1|)": "empty side",
    "y ~ (|g)": "empty side",
    "y ~ x + (1 | a//b)": "empty grouping factor",
    "y ~ x + (1 | g": "unbalanced parentheses",
    "y ~ x) + (1 | g)": "unbalanced parentheses",
    "y ~ x - (1 | g)": "cannot be subtracted",
    "y ~ x * (1 | g)": "added to the formula with '+'",
}


@pytest.mark.parametrize("formula", list(ERRORS))
def test_parse_errors(formula):
    with pytest.raises(FormulaError, match=re.escape(ERRORS[formula])) as info:
        parse_formula(formula)
    assert isinstance(info.value, ValueError)


def test_formula_must_be_a_string():
    with pytest.raises(FormulaError, match="exactly one '~'"):
        parse_formula(None)


# ---- formulas run no code (issue 11, item 12) -------------------------------------------------

INJECTION = "I(__import__('os').system('touch pwned'))"


@pytest.mark.parametrize("where", [
    "Reaction ~ Days + {} + (1 | Subject)",                  # a fixed-effect term
    "{} ~ Days + (1 | Subject)",                             # the response
    "Reaction ~ Days + (1 + {} | Subject)",                  # a random-effects term
    "Reaction ~ Days + {{__import__('os').system('touch pwned')}} + (1 | Subject)",  # formulaic's {python}
])
def test_formula_injection_raises_and_runs_nothing(tmp_path, monkeypatch, where):
    import mixedmodels as mm

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FormulaError, match="__import__|system"):
        mm.lmer(where.format(INJECTION), mm.datasets.load("sleepstudy"))
    assert not (tmp_path / "pwned").exists()


def test_glmer_formula_injection_raises_and_runs_nothing(tmp_path, monkeypatch):
    import mixedmodels as mm

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FormulaError, match="__import__"):
        mm.glmer(f"cbind(incidence, size - incidence) ~ {INJECTION} + (1 | herd)", mm.datasets.load("cbpp"))
    assert not (tmp_path / "pwned").exists()


def test_parquet_formula_injection_raises_and_runs_nothing(tmp_path, monkeypatch):
    import mixedmodels as mm

    monkeypatch.chdir(tmp_path)
    mm.datasets.load("sleepstudy").to_parquet(tmp_path / "sleep.parquet")
    with pytest.raises(FormulaError, match="__import__"):
        mm.lmer(f"Reaction ~ {INJECTION} + (1 | Subject)", str(tmp_path / "sleep.parquet"))
    assert not (tmp_path / "pwned").exists()


def test_scale_is_refused_for_parquet_data(tmp_path):
    import mixedmodels as mm

    mm.datasets.load("sleepstudy").to_parquet(tmp_path / "sleep.parquet")
    with pytest.raises(FormulaError, match="scale\\(Days\\): scale\\(\\) and center\\(\\) need all rows"):
        mm.lmer("Reaction ~ scale(Days) + (1 | Subject)", str(tmp_path / "sleep.parquet"))


def test_own_functions_are_opt_in():
    import numpy as np

    import mixedmodels as mm

    data = mm.datasets.load("sleepstudy")
    with pytest.raises(FormulaError, match="function not allowed: 'half'"):
        mm.lmer("Reaction ~ half(Days) + (1 | Subject)", data)
    fit = mm.lmer("Reaction ~ half(Days) + (1 | Subject)", data, functions={"half": lambda x: x / 2})
    same = mm.lmer("Reaction ~ I(Days/2) + (1 | Subject)", data)
    np.testing.assert_allclose(fit.fixef.to_numpy(), same.fixef.to_numpy(), rtol=1e-10)


def test_scaled_predictor_predicts_new_data_on_the_fitted_scale():
    import mixedmodels as mm

    data = mm.datasets.load("sleepstudy")
    fit = mm.lmer("Reaction ~ scale(Days) + (1 | Subject)", data)
    one_row = fit.predict(data.iloc[[5]], re_form="~0").iloc[0]
    assert one_row == pytest.approx(fit.predict(data, re_form="~0").iloc[5], rel=1e-12)


@pytest.mark.parametrize("formula, terms", [
    ("y ~ x + diag(1 + x | g)", [RandomTermSpec("1 + x", "g", "diag")]),
    ("y ~ x + us(x | g)", [RandomTermSpec("x", "g", "us")]),
    ("y ~ ar1(0 + visit | id) + (1 | site)", [RandomTermSpec("0 + visit", "id", "ar1"), RandomTermSpec("1", "site")]),
    ("y ~ 1 + cs(0 + visit | a/b)", [RandomTermSpec("0 + visit", "b:a", "cs"), RandomTermSpec("0 + visit", "a", "cs")]),
    ("y ~ toep(0 + v | g) + homcs(0 + v | h) + homdiag(1 + x | k)",
     [RandomTermSpec("0 + v", "g", "toep"), RandomTermSpec("0 + v", "h", "homcs"), RandomTermSpec("1 + x", "k", "homdiag")]),
])
def test_structure_keywords(formula, terms):
    parsed = parse_formula(formula)
    assert list(parsed.random) == terms
    assert parsed.fixed in ("x", "1")


def test_structure_is_shown_and_defaults_to_us():
    assert RandomTermSpec("x", "g") == RandomTermSpec("x", "g", "us")
    assert str(RandomTermSpec("0 + visit", "id", "ar1")) == "ar1(0 + visit | id)"
    assert str(RandomTermSpec("x", "g")) == "(x | g)"


@pytest.mark.parametrize("formula, message", [
    ("y ~ diag(x || g)", "already makes the effects uncorrelated"),
    ("y ~ csh(0 + v | g)", "not supported for random-effects terms"),
    ("y ~ ou(0 + v | g)", "not supported for random-effects terms"),
    ("y ~ x - ar1(0 + v | g)", "cannot be subtracted"),
    ("y ~ ar1( | g)", "empty side"),
])
def test_structure_errors(formula, message):
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse_formula(formula)


def test_a_function_call_with_a_bar_stays_in_the_fixed_part():
    parsed = parse_formula("y ~ I(a | b) + (1 | g)")
    assert parsed.fixed == "I(a | b)" and parsed.random == (RandomTermSpec("1", "g"),)


def test_parsing_is_cached_and_still_checks_its_input():
    first = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert parse_formula("Reaction ~ Days + (Days | Subject)") is first  # immutable, so shared
    with pytest.raises(FormulaError, match="exactly one '~'"):
        parse_formula(["Reaction ~ Days + (Days | Subject)"])  # unhashable: the check comes first
