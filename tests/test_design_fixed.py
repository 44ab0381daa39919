"""Tests of the fixed-effects model matrix against R's model.matrix and lme4's fixef names."""

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from mixedmodels.datasets import read_csv_with_schema
from mixedmodels.design.fixed import FixedDesign, build_fixed_design, contr_poly, evaluate_response
from mixedmodels.errors import DesignError, FormulaError

from conftest import REFERENCE, reference_data_path

LMM_FITS = sorted(
    p for p in (REFERENCE / "fits").glob("*.json") if json.loads(p.read_text()).get("family", "x") is None
)


def _split_formula(formula: str) -> tuple[str, str]:
    """Response and fixed part of an lme4 formula: drop the (...|...) terms."""
    lhs, rhs = formula.split("~", 1)
    fixed = [t.strip() for t in re.sub(r"\([^()]*\|[^()]*\)", "", rhs).split("+")]
    return lhs.strip(), " + ".join(t for t in fixed if t) or "1"


def _load(fit: dict) -> pd.DataFrame:
    data = read_csv_with_schema(reference_data_path(fit["dataset"]))
    na_rows = np.asarray(fit.get("na_omitted_rows") or [], dtype=int) - 1
    return data.drop(index=data.index[na_rows]).reset_index(drop=True)


@pytest.fixture(scope="module")
def cake() -> pd.DataFrame:
    return read_csv_with_schema(reference_data_path("cake.csv"))


@pytest.fixture
def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": list("xyxyxy"),
            "b": list("ppqqrr"),
            "x": [1.0, 2, 3, 4, 5, 7],
            "z": [1, 2, 3, 4, 5, 6],
            "flag": [True, False] * 3,
        }
    )


@pytest.mark.parametrize("path", LMM_FITS, ids=lambda p: p.stem)
def test_column_names_and_values_match_lme4(path):
    fit = json.loads(path.read_text())
    data = _load(fit)
    lhs, rhs = _split_formula(fit["formula"])
    design = build_fixed_design(rhs, data)
    assert design.column_names == list(fit["beta"])
    assert design.X.shape == (fit["nobs"], len(fit["beta"]))
    assert design.X.flags.f_contiguous and np.isfinite(design.X).all()
    # X beta reproduces predict(fit, re.form = NA): checks contrasts numerically too
    beta = np.array(list(fit["beta"].values()))
    rows = np.asarray(fit["fitted_head_rows"][: len(fit["predict_population_head"])]) - 1
    np.testing.assert_allclose(design.X[rows] @ beta, fit["predict_population_head"], rtol=1e-10)
    assert evaluate_response(lhs, data).shape == (fit["nobs"],)


def test_cake_terms_assign_and_full_rank_ols(cake):
    design = build_fixed_design("recipe * temperature", cake)
    assert design.terms == ["(Intercept)", "recipe", "temperature", "recipe:temperature"]
    assert design.assign.tolist() == [0, 1, 1] + [2] * 5 + [3] * 10
    assert design.X.shape == (270, 18) and design.dropped == []
    assert np.linalg.matrix_rank(design.X) == 18
    y = evaluate_response("angle", cake)
    beta, *_ = np.linalg.lstsq(design.X, y, rcond=None)
    # balanced split plot: OLS = lme4's GLS estimates
    ref = json.loads((REFERENCE / "fits" / "cake_anova.json").read_text())["beta"]
    np.testing.assert_allclose(beta, list(ref.values()), rtol=1e-9, atol=1e-9)


def test_contr_poly_matches_r():
    # R> contr.poly(3)
    r3 = [[-0.7071068, 0.4082483], [0.0, -0.8164966], [0.7071068, 0.4082483]]
    np.testing.assert_allclose(contr_poly(3), r3, atol=5e-8)
    # R> contr.poly(6)
    r6 = [
        [-0.5976143, 0.5455447, -0.3726780, 0.1889822, -0.06299408],
        [-0.3585686, -0.1091089, 0.5217492, -0.5669467, 0.31497039],
        [-0.1195229, -0.4364358, 0.2981424, 0.3779645, -0.62994079],
        [0.1195229, -0.4364358, -0.2981424, 0.3779645, 0.62994079],
        [0.3585686, -0.1091089, -0.5217492, -0.5669467, -0.31497039],
        [0.5976143, 0.5455447, 0.3726780, 0.1889822, 0.06299408],
    ]
    np.testing.assert_allclose(contr_poly(6), r6, atol=5e-8)
    np.testing.assert_allclose(contr_poly(6).T @ contr_poly(6), np.eye(5), atol=1e-12)


@pytest.mark.parametrize(
    ("rhs", "names"),
    [
        ("1", ["(Intercept)"]),
        ("0 + x", ["x"]),
        ("x - 1", ["x"]),
        ("x + 0", ["x"]),
        ("flag", ["(Intercept)", "flagTRUE"]),
        ("0 + a + b", ["ax", "ay", "bq", "br"]),
        ("a * b", ["(Intercept)", "ay", "bq", "br", "ay:bq", "ay:br"]),
        ("x:a", ["(Intercept)", "x:ax", "x:ay"]),
        ("a + b:a", ["(Intercept)", "ay", "ax:bq", "ay:bq", "ax:br", "ay:br"]),
        ("I(x^2) + log(z)", ["(Intercept)", "I(x^2)", "log(z)"]),
        ("I(x / 100) + exp(x) + sqrt(z)", ["(Intercept)", "I(x/100)", "exp(x)", "sqrt(z)"]),
    ],
)
def test_r_names(small, rhs, names):
    assert build_fixed_design(rhs, small).column_names == names


def test_expressions_are_evaluated(small):
    design = build_fixed_design("I(x^2) + log(z)", small)
    np.testing.assert_allclose(design.X[:, 1], small["x"] ** 2)
    np.testing.assert_allclose(design.X[:, 2], np.log(small["z"]))


def test_rank_deficient_drops_aliased_column_with_lme4_message(small):
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column / coefficient"):
        design = build_fixed_design("x + I(2 * x)", small)
    assert design.column_names == ["(Intercept)", "x"]
    assert design.dropped == ["I(2 * x)"]
    assert design.X.shape == (6, 2) and design.terms == ["(Intercept)", "x", "I(2 * x)"]
    # R: model.matrix(~ a:b) has all 6 cells plus the intercept; lme4 drops the last one
    with pytest.warns(UserWarning, match="dropping 1 column"):
        cells = build_fixed_design("a:b", small)
    assert cells.dropped == ["ay:br"]
    assert cells.column_names == ["(Intercept)", "ax:bp", "ay:bp", "ax:bq", "ay:bq", "ax:br"]


def test_transform_reproduces_x(cake, small):
    design = build_fixed_design("recipe * temperature", cake)
    np.testing.assert_array_equal(design.transform(cake), design.X)
    np.testing.assert_array_equal(design.transform(cake.iloc[::-1]), design.X[::-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dropped = build_fixed_design("x * a + I(2 * x)", small)
    np.testing.assert_array_equal(dropped.transform(small), dropped.X)
    with pytest.raises(ValueError, match="not seen"):
        dropped.transform(small.assign(a=list("xyzxyz")))


def test_input_frame_not_mutated(cake):
    before = cake.copy()
    build_fixed_design("recipe * temperature + log(angle)", cake)
    pd.testing.assert_frame_equal(cake, before)


@pytest.mark.parametrize(
    ("rhs", "match"),
    [
        ("nosuch", "unknown column 'nosuch'"),
        ("log(nosuch)", "unknown column 'nosuch'"),
        ("x + (", "cannot parse"),
        ("x +", "cannot parse"),
        ("", "empty"),
    ],
)
def test_bad_formula(small, rhs, match):
    with pytest.raises(FormulaError, match=match):
        build_fixed_design(rhs, small)


def test_non_finite_numeric_column(small):
    with pytest.raises(FormulaError, match="non-finite values .* 'x'"):
        build_fixed_design("x", small.assign(x=[1.0, np.inf, 2, 3, 4, 5]))


def test_single_level_factor(small):
    with pytest.raises(DesignError, match="2 or more levels"):
        build_fixed_design("a", small.assign(a="x"))


def test_evaluate_response(small):
    np.testing.assert_array_equal(evaluate_response("z", small), small["z"].to_numpy(float))
    np.testing.assert_allclose(evaluate_response("log(x)", small), np.log(small["x"]))
    np.testing.assert_allclose(evaluate_response("I(x/100)", small), small["x"] / 100)
    both = evaluate_response("cbind(z, x - z)", small)
    assert both.shape == (6, 2) and both.dtype == np.float64
    np.testing.assert_array_equal(both[:, 1], small["x"] - small["z"])


def test_cbind_on_cbpp():
    data = read_csv_with_schema(reference_data_path("cbpp.csv"))
    y = evaluate_response("cbind(incidence, size - incidence)", data)
    np.testing.assert_array_equal(y.sum(axis=1), data["size"])


@pytest.mark.parametrize("lhs", ["a", "log(a)"])
def test_non_numeric_response(small, lhs):
    with pytest.raises(FormulaError, match="'a'"):
        evaluate_response(lhs, small)


def test_unknown_response_column(small):
    with pytest.raises(FormulaError, match="unknown column 'nosuch'"):
        evaluate_response("nosuch", small)


def test_large_numeric_design_is_fast():
    import time

    data = pd.DataFrame({"x": np.random.default_rng(0).normal(size=10**6)})
    build_fixed_design("x", data)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        design = build_fixed_design("x", data)
        times.append(time.perf_counter() - start)
    assert isinstance(design, FixedDesign) and design.X.shape == (10**6, 2)
    assert np.median(times) < 0.1


@pytest.mark.parametrize("rhs", ["x", "0 + x", "1 + x", "1", "0", "x + z", "z + x", "0 + z + x", "1 + x + z",
                                 "x + x", "x + 1", "a_b + C1", " x+z ", "x + 0", "1 + 1", "C", "pi", "x + z + x"])
@pytest.mark.parametrize("ordering", ["degree", "none"])
def test_a_sum_of_names_is_read_as_formulaic_reads_it(rhs, ordering):
    from formulaic import Formula

    from mixedmodels.design.fixed import _sum_of_names

    expected = tuple(tuple((str(f.expr), f.eval_method.value) for f in term.factors)
                     for term in Formula(rhs, _ordering=ordering))
    assert _sum_of_names(rhs) == expected


@pytest.mark.parametrize("rhs", ["x * z", "x:z", "log(x)", "I(x^2)", "x - 1", "-1 + x", "0 + x + 1", "x.y",
                                 "`my x`", "True + x", "(x + z)^2", "x %in% z"])
def test_anything_but_a_sum_of_names_goes_to_formulaic(rhs):
    from mixedmodels.design.fixed import _sum_of_names

    assert _sum_of_names(rhs) is None


def test_a_random_term_on_the_fixed_part_takes_its_columns_from_x():
    import mixedmodels as mm
    from mixedmodels.design import build_design

    data = mm.datasets.load("sleepstudy")
    design = build_design("Reaction ~ Days + (Days | Subject)", data)
    (term,) = design.terms
    np.testing.assert_array_equal(term.z, design.X)
    assert term.z.flags.c_contiguous and term.column_names == ["(Intercept)", "Days"]
    assert term.z_design._context == "random-effects term (Days | Subject)"  # its own errors for new data
    apart = build_design("Reaction ~ Days + (0 + Days | Subject)", data).terms[0]
    np.testing.assert_array_equal(apart.z, design.X[:, 1:])


def test_a_random_term_on_an_aliased_fixed_part_keeps_every_column():
    from mixedmodels.design import build_design

    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.normal(size=40), "x": np.arange(40.0), "g": np.repeat(list("abcd"), 10)})
    data["x2"] = 2 * data["x"]
    with pytest.warns(UserWarning, match="rank deficient"):
        design = build_design("y ~ x + x2 + (x + x2 | g)", data, check_levels=False)
    assert design.fixed.column_names == ["(Intercept)", "x"]
    assert design.terms[0].column_names == ["(Intercept)", "x", "x2"]  # lme4 never drops a term's columns


def test_frame_columns_takes_each_column_once():
    from mixedmodels.design import FrameColumns

    data = pd.DataFrame({"a": [1.0, 2.0], "b": ["u", "v"]})
    view = FrameColumns(data)
    assert view["a"] is view["a"] and len(view) == 2 and list(view.columns) == ["a", "b"]
    pd.testing.assert_series_equal(view["b"], data["b"])


def test_full_rank_is_recognised_from_the_gram_matrix_and_anything_close_goes_to_the_qr_rule():
    from mixedmodels.design.fixed import _aliased_columns, _clearly_full_rank

    rng = np.random.default_rng(3)
    X = np.column_stack([np.ones(50), rng.normal(size=50), rng.normal(size=50)])
    assert _clearly_full_rank(X.T @ X) and _aliased_columns(X, X.T @ X).size == 0
    for eps, dropped in [(0.0, [2]), (1e-9, [2]), (1e-6, [])]:  # x2 = x1 + eps·noise: aliased below 1e-7
        Y = X.copy()
        Y[:, 2] = X[:, 1] + eps * rng.normal(size=50)
        assert not _clearly_full_rank(Y.T @ Y)  # within the margin: decided by the QR rule
        assert _aliased_columns(Y, Y.T @ Y).tolist() == _aliased_columns(Y).tolist() == dropped
    Z = X.copy()
    Z[:, 1] = 0.0
    assert not _clearly_full_rank(Z.T @ Z) and _aliased_columns(Z, Z.T @ Z).tolist() == [1]
