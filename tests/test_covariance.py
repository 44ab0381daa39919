"""θ ↔ Λ in one module: structures, the layout, and the helpers that apply Λ."""

import numpy as np
import pytest

from mixedmodels.cholesky import RestLayout
from mixedmodels.covariance import (ThetaLayout, Unstructured, covariance_matrices, lambda_matrix, relative_effects,
                                    scale_columns, scale_rows, varcorr_table)


def test_unstructured_is_lme4s_parameterisation():
    s = Unstructured(2)
    assert s.n_theta == 3
    T = s.template(np.array([1.0, 0.5, 2.0]))  # column-major lower triangle: T11, T21, T22
    np.testing.assert_array_equal(T, [[1.0, 0.0], [0.5, 2.0]])
    np.testing.assert_array_equal(s.theta_of(T), [1.0, 0.5, 2.0])
    np.testing.assert_array_equal(s.lower_bounds(), [0.0, -np.inf, 0.0])
    np.testing.assert_array_equal(s.initial(), [1.0, 0.0, 1.0])
    assert s.names("Subject", ["(Intercept)", "Days"]) == ["Subject.(Intercept)", "Subject.Days.(Intercept)",
                                                            "Subject.Days"]


def test_layout_concatenates_terms():
    layout = ThetaLayout((2, 1))
    assert layout.n_theta == 4 and layout.sizes == (2, 1)
    theta = np.array([1.0, 0.5, 2.0, 3.0])
    T = layout.templates(theta)
    np.testing.assert_array_equal(T[1], [[3.0]])
    np.testing.assert_array_equal(layout.theta_of(T), theta)
    assert layout.names(["g", "h"], [["a", "b"], ["(Intercept)"]]) == ["g.a", "g.b.a", "g.b", "h.(Intercept)"]
    assert layout == ThetaLayout((2, 1)) and layout != ThetaLayout((1, 2))


def test_lambda_helpers_agree_with_the_dense_lambda():
    rng = np.random.default_rng(3)
    layout = ThetaLayout((2, 1))
    T = layout.templates(np.array([1.2, -0.4, 0.7, 0.3]))
    n_levels = [3, 4]
    Lam = lambda_matrix(T, n_levels)
    u = [rng.normal(size=(3, 2)), rng.normal(size=(4, 1))]
    b = relative_effects(u, T)
    np.testing.assert_allclose(np.concatenate([bk.ravel() for bk in b]), Lam @ np.concatenate([uk.ravel() for uk in u]))
    rest = RestLayout((2, 1), (3, 4))
    M = rng.normal(size=(5, 10))
    expected = M @ Lam
    scale_columns(M, rest, T)
    np.testing.assert_allclose(M, expected)
    v = rng.normal(size=10)
    expected_v = Lam.T @ v
    scale_rows(v, rest, T)
    np.testing.assert_allclose(v, expected_v)


def test_varcorr_table():
    cov = covariance_matrices([np.array([[2.0, 0.0], [1.0, 1.0]])], sigma=0.5)[0]
    np.testing.assert_allclose(cov, 0.25 * np.array([[4.0, 2.0], [2.0, 2.0]]))
    table = varcorr_table(["g"], [["a", "b"]], [cov], sigma=0.5)
    assert list(table["grp"]) == ["g", "g", "g", "Residual"]
    assert table.loc[2, "sdcor"] == pytest.approx(2.0 / np.sqrt(8.0))
    assert len(varcorr_table(["g"], [["a", "b"]], [cov], sigma=None)) == 3
