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
