"""Formula expressions are interpreted from their syntax tree: allowed pieces work, nothing else runs."""

import numpy as np
import pandas as pd
import pytest

from mixedmodels.design.expressions import check_expression, evaluate_expression, is_stateful
from mixedmodels.errors import FormulaError

DATA = pd.DataFrame({"x": [1.0, 2.0, 4.0, 8.0], "z": [0.5, 1.5, 2.5, 3.5], "sex": ["F", "M", "F", "M"]})


@pytest.mark.parametrize("expr, expected", [
    ("I(x ** 2)", DATA.x ** 2),
    ("log(x)", np.log(DATA.x)),
    ("log(x, 2)", np.log2(DATA.x)),
    ("sqrt(x) + exp(z) - abs(-z) * 2 / x % 3", np.sqrt(DATA.x) + np.exp(DATA.z) - DATA.z * 2 / DATA.x % 3),
    ("arcsinh(x)", np.arcsinh(DATA.x)),  # any NumPy ufunc by name
    ("ceiling(z) + floor(z) + round(z)", np.ceil(DATA.z) + np.floor(DATA.z) + np.round(DATA.z)),
    ("I(sex == 'F')", [1.0, 0.0, 1.0, 0.0]),
    ("I((x > 1) & (z < 3))", [0.0, 1.0, 1.0, 0.0]),
    ("I(-x + pi)", np.pi - DATA.x),
    ("center(x)", DATA.x - DATA.x.mean()),
    ("scale(x)", (DATA.x - DATA.x.mean()) / DATA.x.std(ddof=1)),  # R's scale: sd with n - 1
    ("scale(x, center=FALSE)", DATA.x / np.sqrt((DATA.x ** 2).sum() / 3)),
])
def test_allowed_expressions(expr, expected):
    np.testing.assert_allclose(evaluate_expression(expr, DATA), np.asarray(expected, dtype=float))


@pytest.mark.parametrize("expr, piece", [
    ("I(__import__('os').system('touch pwned'))", "__import__('os').system"),
    ("__import__('os')", "__import__"),
    ("I(x.__class__)", "x.__class__"),
    ("np.log(x)", "np.log"),
    ("I(x[0])", "x[0]"),
    ("I((lambda: 1)())", "lambda: 1"),
    ("I([v for v in x])", "[v for v in x]"),
    ("open('f')", "open"),
    ("eval('1')", "eval"),
    ("getattr(x, 'real')", "getattr"),
    ("I(*x)", "I(*x)"),
    ("I(__builtins__)", "__builtins__"),
    ("I(b'x')", "b'x'"),
])
def test_refused_pieces_are_named(expr, piece):
    with pytest.raises(FormulaError) as caught:
        evaluate_expression(expr, DATA)
    assert piece in str(caught.value)


def test_unknown_names_are_unknown_columns():
    with pytest.raises(FormulaError, match="unknown column 'y'.*the data have: sex, x, z"):
        check_expression("log(y)", DATA.columns)


def test_a_text_column_in_arithmetic_is_named():
    with pytest.raises(FormulaError, match="column 'sex' used in 'log\\(sex\\)'.*not numeric"):
        evaluate_expression("log(sex)", DATA)


def test_caller_functions_are_opt_in():
    def logit(p):
        return np.log(p / (1 - p))

    with pytest.raises(FormulaError, match="function not allowed: 'logit'"):
        evaluate_expression("logit(x / 10)", DATA)
    np.testing.assert_allclose(evaluate_expression("logit(x / 10)", DATA, {"logit": logit}), logit(DATA.x / 10))


def test_scale_keeps_the_fitted_mean_and_sd_for_new_data():
    state: dict = {}
    evaluate_expression("scale(x)", DATA, state=state)
    new = pd.DataFrame({"x": [3.75]})  # the mean of DATA.x: 0 on the fitted scale, whatever new rows hold
    assert evaluate_expression("scale(x)", new, state=state)[0] == pytest.approx(0.0)
    assert is_stateful("I(scale(x) ** 2)") and not is_stateful("log(x)")
