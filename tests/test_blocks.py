"""The blocks of A = [Z X y]ᵀ W [Z X y] against a dense brute-force product.

Three terms (a vector term with the most levels, a crossed vector term, a crossed scalar term),
prior weights, and both ways of accumulating Bz (dense, and scipy's coordinate format).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp

from mixedmodels import blocks
from mixedmodels.blocks import TermData, build_cross_products


def _dense_term(codes, z, n_levels):
    out = np.zeros((len(codes), n_levels * z.shape[1]))
    for j in range(z.shape[1]):
        out[np.arange(len(codes)), codes * z.shape[1] + j] = z[:, j]
    return out


@pytest.mark.parametrize("dense_limit", [10**8, 0])
def test_blocks_match_brute_force(monkeypatch, dense_limit):
    monkeypatch.setattr(blocks, "DENSE_BZ_ALWAYS", dense_limit)
    monkeypatch.setattr(blocks, "DENSE_BZ_MAX", dense_limit)
    rng = np.random.default_rng(7)
    n = 2000
    g, h, k = rng.integers(0, 40, n), rng.integers(0, 7, n), rng.integers(0, 5, n)
    z_g = np.column_stack([np.ones(n), rng.normal(size=n)])
    z_h = np.column_stack([np.ones(n), rng.normal(size=n)])
    z_k = rng.normal(size=(n, 1))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y, w, offset = rng.normal(size=n), rng.uniform(0.5, 2.0, n), rng.normal(size=n)
    terms = [TermData(g, z_g, 40), TermData(h, z_h, 7), TermData(k, z_k, 5)]
    cross = build_cross_products(terms, X, y, weights=w, offset=offset)
    assert cross.bz_dense == (dense_limit > 0)

    full = np.hstack([_dense_term(g, z_g, 40), _dense_term(h, z_h, 7), _dense_term(k, z_k, 5),
                      X, (y - offset)[:, None]]) * np.sqrt(w)[:, None]
    A = full.T @ full
    q0, q_r = 80, 19
    np.testing.assert_allclose(la.block_diag(*cross.D0), A[:q0, :q0], atol=1e-9)
    np.testing.assert_allclose(cross.bz_sparse().toarray(), A[q0:q0 + q_r, :q0], atol=1e-9)
    np.testing.assert_allclose(cross.Bw.reshape(3, q0), A[q0 + q_r:, :q0], atol=1e-9)
    np.testing.assert_allclose(cross.C, A[q0:, q0:], atol=1e-9)
    assert cross.sum_log_weights == pytest.approx(np.log(w).sum())


@pytest.mark.parametrize("dense_limit", [10**8, 0])
def test_weights_of_any_sign_and_renewed_sums(monkeypatch, dense_limit):
    """PIRLS's Newton weights may be negative: A(W) = Σᵢ ωᵢ rᵢrᵢᵀ as it stands. A renewed accumulator
    starts from zero and leaves the sums it was renewed from (and their Bz) as they were."""
    monkeypatch.setattr(blocks, "DENSE_BZ_ALWAYS", dense_limit)
    monkeypatch.setattr(blocks, "DENSE_BZ_MAX", dense_limit)
    rng = np.random.default_rng(11)
    n = 500
    g, h = rng.integers(0, 30, n), rng.integers(0, 6, n)
    z_g, z_h = np.column_stack([np.ones(n), rng.normal(size=n)]), np.ones((n, 1))
    X, y = np.column_stack([np.ones(n), rng.normal(size=n)]), rng.normal(size=n)
    terms = [TermData(g, z_g, 30), TermData(h, z_h, 6)]
    codes0, rest_codes = blocks.stacked_codes(terms)
    z0, rest_z = blocks.stacked_columns(terms)
    rows = np.hstack([_dense_term(g, z_g, 30), _dense_term(h, z_h, 6), X, y[:, None]])
    accumulator = blocks.CrossProductsAccumulator.for_terms(terms, 2, n)
    first = accumulator.add_stacked(codes0, z0, rest_codes, rest_z, X, y, np.ones(n)).result()
    first_bz = first.bz_sparse().toarray().copy()
    omega = rng.normal(size=n)  # both signs
    cross = accumulator.renewed().add_stacked(codes0, z0, rest_codes, rest_z, X, y, omega).result()
    A = rows.T @ (omega[:, None] * rows)
    q0, q_r = 60, 6
    np.testing.assert_allclose(la.block_diag(*cross.D0), A[:q0, :q0], atol=1e-10)
    np.testing.assert_allclose(cross.bz_sparse().toarray(), A[q0:q0 + q_r, :q0], atol=1e-10)
    np.testing.assert_allclose(cross.Bw.reshape(3, q0), A[q0 + q_r:, :q0], atol=1e-10)
    np.testing.assert_allclose(cross.C, A[q0:, q0:], atol=1e-10)
    np.testing.assert_array_equal(first.bz_sparse().toarray(), first_bz)
    np.testing.assert_allclose(first_bz, (rows.T @ rows)[q0:q0 + q_r, :q0], atol=1e-10)


def test_no_bz_thread_without_a_free_core(monkeypatch):
    """One core held by another process: the Bz thread would only take turns with it."""
    monkeypatch.setattr(blocks, "CONCURRENT_BZ_ROWS", 0)
    monkeypatch.setattr(blocks, "free_cores", lambda: 1)
    terms = [TermData(np.arange(10) % 5, np.ones((10, 1)), 5), TermData(np.arange(10) % 2, np.ones((10, 1)), 2)]
    assert not blocks.CrossProductsAccumulator.for_terms(terms, 1, 10).concurrent


@pytest.mark.parametrize("concurrent_rows", [0, 10**9])
def test_accumulator_blocks_in_order_equal_one_pass(monkeypatch, concurrent_rows):
    """Rows added in blocks, in order (Bz on its own thread or not), give one pass's sums to the last bit."""
    monkeypatch.setattr(blocks, "CONCURRENT_BZ_ROWS", concurrent_rows)
    monkeypatch.setattr(blocks, "free_cores", lambda: 2)  # a second core is free
    rng = np.random.default_rng(11)
    n = 5000
    g, h = rng.integers(0, 300, n), rng.integers(0, 20, n)
    z_g = np.column_stack([np.ones(n), rng.normal(size=n)])
    terms = [TermData(g, z_g, 300), TermData(h, np.ones((n, 1)), 20)]
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = rng.normal(size=n) * 1e3 + 1e4  # large values: any change of summation order shows
    whole = build_cross_products(terms, X, y)
    accumulator = blocks.CrossProductsAccumulator.for_terms(terms, 2, n)
    assert accumulator.concurrent == (concurrent_rows == 0) and accumulator.dense_bz
    for rows in np.array_split(np.arange(n), 7):
        accumulator.add([TermData(t.codes[rows], t.z[rows], t.n_levels) for t in terms], X[rows], y[rows])
    blocked = accumulator.result()
    for name in ("D0", "Bz", "Bw", "C", "n"):
        np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name))


def test_level_major_from_sparse_sums_duplicates_and_leaves_input():
    coo = sp.coo_matrix((np.array([1.0, 2.0, 3.0, 4.0]), ([1, 1, 2, 3], [5, 5, 0, 7])), shape=(4, 8))
    out = blocks.level_major_bz(coo, 2)
    np.testing.assert_array_equal(out, coo.toarray().reshape(4, 4, 2).transpose(1, 0, 2))
    assert out[2, 1, 1] == 3.0 and coo.nnz == 4  # 1 + 2 at row 1, column 5 = level 2, column 1


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_accumulator_in_a_forked_child_after_the_parent_used_the_bz_thread(monkeypatch):
    """The Bz thread of the parent does not exist in a forked child; the child must not wait on it."""
    import multiprocessing as mp

    monkeypatch.setattr(blocks, "CONCURRENT_BZ_ROWS", 0)
    rng = np.random.default_rng(5)
    n = 400
    terms = [TermData(rng.integers(0, 30, n), np.ones((n, 1)), 30), TermData(rng.integers(0, 6, n), np.ones((n, 1)), 6)]
    X, y = np.ones((n, 1)), rng.normal(size=n)
    expected = build_cross_products(terms, X, y).Bz  # the parent's Bz thread now exists
    with mp.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(build_cross_products, (terms, X, y)).get(timeout=60)
    np.testing.assert_array_equal(result.Bz, expected)
