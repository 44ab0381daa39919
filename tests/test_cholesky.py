"""The ways of factorising agree: Bz 𝒲 Bzᵀ by the compiled pair loop or the dense rank-k update,
and the all-in-one compiled factorisation used for small models.

BlockedCholesky picks one by cost; each must give the same factor. Forced here on designs with
crossed scalar terms (Penicillin), nested terms (Pastes) and a crossed vector term, at random θ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from mixedmodels.blocks import level_major_bz
from mixedmodels.datasets import load
from mixedmodels.cholesky import BlockedCholesky, _PairProduct, _dense_bz_csc
from mixedmodels.design import build_design
from mixedmodels.fitting import problem_of
from mixedmodels.sources import FrameSource

from conftest import reference_data


def _crossed_vector_data(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, 25, n).astype(str),
                          "h": rng.integers(0, 8, n).astype(str)})
    frame["y"] = 1 + frame.x + rng.normal(size=n)
    return frame


CASES = [
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", lambda: reference_data("Penicillin.csv")),
    ("strength ~ 1 + (1 | batch/cask)", lambda: reference_data("Pastes.csv")),
    ("y ~ x + (1 + x | g) + (1 + x | h)", _crossed_vector_data),
    ("y ~ x + (1 | g) + (0 + x | h) + (1 | h)", _crossed_vector_data),
]


def _strategies(problem):
    """The problem's factorisation forced to each of the three strategies."""
    base = problem.cholesky
    out = []
    for kind in ("pairs", "dense"):
        chol = BlockedCholesky.__new__(BlockedCholesky)
        chol.__dict__.update(base.__dict__)
        chol.pairs = chol.dense_Bz = chol.coupled = None
        if kind == "pairs":
            chol.bz_csr = problem.cross.bz_sparse()
            csc = chol.bz_csr.tocsc()
            csc.sort_indices()
            chol.pairs = _PairProduct(csc, chol.p0)
        elif kind == "dense":
            chol.dense_Bz = level_major_bz(problem.cross.bz_sparse(), chol.p0)
        out.append(chol)
    if base.coupled is not None:
        out.append(base)
    return out


@pytest.mark.parametrize("formula,data", CASES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_strategies_agree(formula, data, seed):
    problem = problem_of(*FrameSource(data()).model(formula)[:2], reml=True)
    rng = np.random.default_rng(seed)
    theta = problem.layout.initial() + rng.uniform(-0.5, 0.5, problem.layout.n_theta)
    theta = np.maximum(theta, problem.layout.lower_bounds())
    T = problem.layout.templates(theta)
    factors = [chol.factor(T[0], T[1:]) for chol in _strategies(problem)]
    for other in factors[1:]:
        assert other.logdet_L == pytest.approx(factors[0].logdet_L, rel=1e-10)
        assert other.logdet_RX == pytest.approx(factors[0].logdet_RX, rel=1e-10)
        assert other.pwrss == pytest.approx(factors[0].pwrss, rel=1e-10)


@pytest.mark.parametrize("formula,data", CASES)
def test_with_cross_is_a_fresh_factorisation(formula, data):
    """BlockedCholesky.with_cross (PIRLS: A at new weights) factors as a BlockedCholesky made anew,
    whichever strategy the first cross-products chose; the first one is left as it was."""
    frame = data()
    spec, A, _ = FrameSource(frame).model(formula)
    problem = problem_of(spec, A, reml=True)
    weights = np.random.default_rng(7).uniform(0.2, 3.0, len(frame))
    spec_w, A_w, _ = FrameSource(frame.assign(w=weights)).model(formula, weights="w")
    fresh = problem_of(spec_w, A_w, reml=True)
    theta = problem.layout.initial() * 0.7
    T = problem.layout.templates(theta)
    before = problem.cholesky.factor(T[0], T[1:])
    for chol in _strategies(problem):
        got = chol.with_cross(A_w).factor(T[0], T[1:])
        want = fresh.cholesky.factor(T[0], T[1:])
        assert got.logdet_L == pytest.approx(want.logdet_L, rel=1e-10)
        assert got.pwrss == pytest.approx(want.pwrss, rel=1e-10)
        np.testing.assert_allclose(got.M, want.M, rtol=1e-9, atol=1e-12)
    assert problem.cholesky.factor(T[0], T[1:]).pwrss == before.pwrss


def test_with_cross_reads_a_dense_bz_at_the_pair_positions():
    """grouseticks (1 | BROOD) + (1 | LOCATION): the pair product from a dense Bz. Renewed for new
    weights it is read at the stored positions (no sparse conversion) and factors as anew."""
    frame = load("grouseticks")
    formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
    problem = problem_of(*FrameSource(frame).model(formula)[:2], reml=True)
    assert problem.cholesky._pair_positions is not None and problem.cholesky.coupled is None
    weights = np.random.default_rng(11).uniform(0.2, 3.0, len(frame))
    spec_w, A_w, _ = FrameSource(frame.assign(w=weights)).model(formula, weights="w")
    fresh = problem_of(spec_w, A_w, reml=True)
    T = problem.layout.templates(problem.layout.initial() * 0.8)
    got = problem.cholesky.with_cross(A_w).factor(T[0], T[1:])
    want = fresh.cholesky.factor(T[0], T[1:])
    assert got.logdet_L == pytest.approx(want.logdet_L, rel=1e-10)
    np.testing.assert_allclose(got.M, want.M, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p0", [1, 2])
def test_dense_bz_to_csc_in_one_pass(p0):
    """The level-major (ℓ_0, q_r, p_0) Bz as CSC (sorted rows) with each value's flat position: the
    same matrix as through the dense q_r × q_0 transpose, explicit zeros left out."""
    rng = np.random.default_rng(p0)
    Bz = rng.normal(size=(40, 13, p0)) * (rng.random((40, 13, p0)) < 0.3)
    csc, positions = _dense_bz_csc(Bz)
    want = sp.csr_matrix(Bz.transpose(1, 0, 2).reshape(13, 40 * p0)).tocsc()
    want.sort_indices()
    assert csc.has_sorted_indices and csc.nnz == want.nnz == np.count_nonzero(Bz)
    np.testing.assert_array_equal(csc.indptr, want.indptr)
    np.testing.assert_array_equal(csc.indices, want.indices)
    np.testing.assert_array_equal(csc.data, want.data)
    np.testing.assert_array_equal(Bz.reshape(-1)[positions], csc.data)
