"""The model specification: built from a frame or from chunks, it holds no rows."""

import warnings

import numpy as np
import pytest

from mixedmodels import datasets
from mixedmodels.design import build_design
from mixedmodels.design.fixed import _materialize
from mixedmodels.design.spec import ModelSpec, RowSums, spec_of_design, variable_prototype
from mixedmodels.sources import FrameSource


@pytest.mark.parametrize("dataset,rhs", [("cake", "recipe * temperature"), ("Orthodont", "age * Sex"),
                                         ("Oats", "nitro * Variety"), ("sleepstudy", "Days + I(Days^2)")])
def test_prototype_gives_full_column_rank(dataset, rhs):
    design = build_design(f"{'angle' if dataset == 'cake' else 'y'} ~ {rhs} + (1 | g)",
                          datasets.load(dataset).assign(y=1.0, g=np.arange(len(datasets.load(dataset))) % 3)
                          .assign(y=lambda d: np.random.default_rng(0).normal(size=len(d))))
    template = design.fixed
    X, _, _ = _materialize(template._terms, None, values=variable_prototype(template))
    assert np.linalg.matrix_rank(X) == X.shape[1]


def test_spec_holds_no_rows_and_the_row_sums():
    data = datasets.load("sleepstudy")
    spec, cross, rows = FrameSource(data).model("Reaction ~ Days + (Days | Subject)")
    assert isinstance(spec, ModelSpec)
    assert spec.nobs == 180 and spec.n_dropped == 0
    assert not hasattr(spec.fixed, "X") and not hasattr(spec.terms[0], "z")
    X = rows.design.X
    np.testing.assert_allclose(spec.gram, X.T @ X)
    z = rows.design.terms[0].z
    np.testing.assert_allclose(spec.zz[0], z.T @ z)
    np.testing.assert_allclose(spec.gram, cross.C[-3:-1, -3:-1])  # no weights, no aliased column: XᵀX is in A
    assert spec.group_names == ["Subject"]


def test_row_sums_add_over_chunks():
    rng = np.random.default_rng(1)
    X, z = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    whole = RowSums.of_rows(X, [z])
    parts = RowSums.of_rows(X[:20], [z[:20]]) + RowSums.of_rows(X[20:], [z[20:]])
    np.testing.assert_allclose(parts.gram, whole.gram)
    np.testing.assert_allclose(parts.zz[0], whole.zz[0])
    assert (None + whole) is whole


def test_linear_predictor_names_new_levels():
    data = datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = spec_of_design(build_design("Reaction ~ Days + (1 | Subject)", data))
    new = data.head(3).assign(Subject=["x1", "x2", "x1"])
    b = [np.zeros((18, 1))]
    with pytest.raises(Exception, match=r"new level\(s\) \['x1', 'x2'\] of 'Subject'"):
        spec.linear_predictor(new, np.zeros(2), b)
    np.testing.assert_allclose(spec.linear_predictor(new, np.array([1.0, 2.0]), b, allow_new_levels=True),
                               1.0 + 2.0 * new["Days"].to_numpy())
