"""Multiplicity adjustments: identities between methods, R's p.adjust, and Tukey's family-wise error by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

import mixedmodels as mm
from mixedmodels.postfit.adjust import (adjust_p, critical_values, mvt_probability, normalize_adjust, p_adjust,
                                        ptukey_upper, qtukey)


def test_p_adjust_matches_r():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    # R: p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.2), m) for m in holm, hochberg, BH, BY, bonferroni
    expected = {
        "holm": [0.04, 0.09, 0.09, 0.025, 0.2],
        "hochberg": [0.04, 0.08, 0.08, 0.025, 0.2],
        "BH": [0.025, 0.05, 0.05, 0.025, 0.2],
        "BY": [0.05708333, 0.11416667, 0.11416667, 0.05708333, 0.45666667],
        "bonferroni": [0.05, 0.2, 0.15, 0.025, 1.0],
    }
    for method, values in expected.items():
        np.testing.assert_allclose(p_adjust(p, method), values, rtol=1e-6, err_msg=method)


def test_qtukey_inverts_ptukey():
    for k, df in [(3, 27.0), (4, 10.0), (2.56, np.inf)]:
        q = qtukey(0.95, k, df)
        assert abs(1 - ptukey_upper(q, k, df) - 0.95) < 1e-6


def test_mvt_pairwise_equals_tukey():
    """Pairwise differences of k independent equal-variance means: max |t| is the studentized range / √2."""
    k, df = 4, 20.0
    C = np.array([[1 if c == i else -1 if c == j else 0 for c in range(k)] for i in range(k) for j in range(i + 1, k)],
                 dtype=float)
    S = C @ C.T
    corr = S / np.sqrt(np.outer(np.diag(S), np.diag(S)))  # singular (rank 3)
    for t in (1.5, 2.5, 3.5):
        exact = 1 - ptukey_upper(math.sqrt(2) * t, k, df)
        assert abs(mvt_probability(t, corr, df) - exact) < 2e-5


def test_mvt_dunnett_equicorrelated_against_integral():
    """Dunnett with correlation ½: P(max|Z_j| < c) = ∫ φ(x)[Φ((c + x/√2)·√2) − Φ((−c + x/√2)·√2)]^m dx."""
    m, c = 3, 2.2
    corr = np.full((m, m), 0.5) + 0.5 * np.eye(m)
    s = math.sqrt(0.5)

    def integrand(x):
        return stats.norm.pdf(x) * (stats.norm.cdf((c - s * x) / s) - stats.norm.cdf((-c - s * x) / s)) ** m

    exact = integrate.quad(integrand, -10, 10, epsabs=1e-12)[0]
    assert abs(mvt_probability(c, corr, math.inf) - exact) < 1e-5


def test_adjust_names_and_switches():
    assert normalize_adjust("Dunnett") == "mvt"
    assert normalize_adjust("BONFERRONI") == "bonferroni"
    with pytest.raises(ValueError, match="unknown adjust method 'scheffe'"):
        normalize_adjust("scheffe")
    t, df = np.array([2.0, -1.0]), np.array([10.0, 10.0])
    p, used, messages = adjust_p(t, df, "tukey", family_size=3, pairs=False)
    assert used == "sidak" and "only appropriate for one set of pairwise comparisons" in messages[0]
    np.testing.assert_allclose(p, 1 - (1 - 2 * stats.t.sf(np.abs(t), 10)) ** 2)
    p, used, _ = adjust_p(t[:1], df[:1], "bonferroni", family_size=2, pairs=False)
    assert used == "none"
    cv, used, messages = critical_values(0.95, df, "holm", family_size=3, pairs=False)
    assert used == "bonferroni" and messages == ["Conf-level adjustment: bonferroni method for 2 estimates"]
    np.testing.assert_allclose(cv, stats.t.ppf(1 - 0.05 / 4, 10))


def test_tukey_family_wise_error_rate_by_simulation():
    """Under the null (equal means) Tukey-adjusted pairwise tests reject any pair in ≈5 % of data sets.

    250 simulated petri-dish experiments (3 groups × 5 dishes × 3 counts, dish sd 8, residual sd 5),
    Kenward–Roger df, fixed seed; the tolerance is 3 binomial standard errors (±0.041).
    """
    rng = np.random.default_rng(20240229)
    nsim, rejections = 250, 0
    means = {"A": 100.0, "B": 100.0, "C": 100.0}
    for _ in range(nsim):
        data = mm.datasets.simulate_petri(n_dishes=5, n_counts=3, means=means, seed=rng)
        fit = mm.lmer("y ~ group + (1 | dish_id)", data)
        p = mm.emmeans(fit, "group").pairs().frame["p.value"].to_numpy()
        rejections += bool(np.any(p < 0.05))
    rate = rejections / nsim
    se = math.sqrt(0.05 * 0.95 / nsim)
    assert abs(rate - 0.05) < 3 * se, rate


def test_ptukey_upper_matches_scipy_adaptive_quadrature():
    """Our Gauss–Legendre studentized range against scipy's adaptive integration (slow, independent)."""
    q = np.array([0.05, 0.3, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0])
    for k in (2, 3, 2.56, 10, 40, 200):
        for df in (1.5, 2.0, 4.0, 10.0, 27.0, 77.4, 250.0, 1960.0, 30000.0, np.inf):
            ours = ptukey_upper(q, k, df)
            np.testing.assert_allclose(ours, stats.studentized_range.sf(q, k, df), rtol=0, atol=1e-9,
                                       err_msg=f"k={k}, df={df}")


def test_ptukey_upper_vectorised_over_q_and_df_with_edge_values():
    q = np.array([[-1.0, 0.0, 3.0, np.inf, np.nan, 3.0]])
    df = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 0.0])
    out = ptukey_upper(q, 4, df)
    assert out.shape == (1, 6)
    assert out[0, 0] == 1.0 and out[0, 1] == 1.0 and out[0, 3] == 0.0
    assert np.isnan(out[0, 4]) and np.isnan(out[0, 5])  # df must be positive
    mixed = ptukey_upper(np.array([3.0, 3.5, 3.5]), 5, np.array([12.0, np.inf, 600.0]))
    single = [ptukey_upper(3.0, 5, 12.0), ptukey_upper(3.5, 5, np.inf), ptukey_upper(3.5, 5, 600.0)]
    np.testing.assert_allclose(mixed, np.ravel(single), rtol=1e-14)
