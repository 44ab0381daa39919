"""Covariance structures: mmrm's parameterisations of Σ(θ) and exact derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.mmrm.structures import STRUCTURES, make_structure

RNG = np.random.default_rng(3)


def _theta(structure):
    return RNG.normal(scale=0.4, size=structure.n_theta)


@pytest.mark.parametrize("name", list(STRUCTURES))
@pytest.mark.parametrize("m", [2, 4, 5])
def test_derivatives_match_central_differences(name, m):
    s = make_structure(name, m)
    theta = _theta(s)
    sigma, jac, hess = s.derivatives(theta, 2)
    h = 1e-6
    for k in range(s.n_theta):
        e = np.zeros(s.n_theta)
        e[k] = h
        np.testing.assert_allclose(jac[k], (s.sigma(theta + e) - s.sigma(theta - e)) / (2 * h), atol=1e-7)
        d_jac = (s.derivatives(theta + e, 1)[1] - s.derivatives(theta - e, 1)[1]) / (2 * h)
        np.testing.assert_allclose(hess[k], d_jac, atol=1e-6)
    np.testing.assert_allclose(hess, hess.transpose(1, 0, 2, 3), atol=1e-12)
    np.testing.assert_allclose(sigma, sigma.T)


@pytest.mark.parametrize("name", [n for n in STRUCTURES if n != "toep" and n != "toeph"])
def test_positive_definite_everywhere(name):
    """us (by construction), ar1, ad and cs (by their maps) are positive definite for every θ."""
    s = make_structure(name, 5)
    for _ in range(20):
        assert np.linalg.eigvalsh(s.sigma(RNG.normal(scale=3, size=s.n_theta)))[0] > 0


def test_unstructured_is_mmrm_cholesky():
    """mmrm get_unstructured: L_ii = exp(θ_i), L_ij = exp(θ_i) θ_k (k running row by row), Σ = L Lᵀ."""
    m = 4
    s = make_structure("us", m)
    theta = _theta(s)
    L = np.zeros((m, m))
    k = m
    for i in range(m):
        L[i, i] = np.exp(theta[i])
        for j in range(i):
            L[i, j] = np.exp(theta[i]) * theta[k]
            k += 1
    np.testing.assert_allclose(s.sigma(theta), L @ L.T)
    assert s.n_theta == 10 and s.theta_names()[4] == "chol[2,1]"


def test_closed_forms():
    rho = lambda t: t / np.sqrt(1 + t * t)  # mmrm map_to_cor
    ar1 = make_structure("ar1", 4).sigma([np.log(2.0), 0.7])
    assert ar1[3, 0] == pytest.approx(4 * rho(0.7) ** 3)
    adh = make_structure("adh", 3).sigma([0.1, 0.2, 0.3, 0.5, -0.4])
    assert adh[2, 0] == pytest.approx(np.exp(0.1 + 0.3) * rho(0.5) * rho(-0.4))
    toep = make_structure("toep", 3).sigma([0.0, 0.5, 0.2])
    assert toep[2, 0] == pytest.approx(rho(0.2)) and toep[1, 0] == pytest.approx(rho(0.5))
    cs = make_structure("cs", 3).sigma([0.0, 0.0])  # logit⁻¹(0)(1 + 1/2) − 1/2 = 1/4
    assert cs[1, 0] == pytest.approx(0.25)
    assert make_structure("cs", 3).sigma([0.0, -50.0])[1, 0] == pytest.approx(-0.5)


def test_starts_and_sizes_follow_mmrm():
    m = 4
    sizes = {"us": 10, "toep": 4, "toeph": 7, "ar1": 2, "ar1h": 5, "ad": 4, "adh": 7, "cs": 2, "csh": 5}
    for name, size in sizes.items():
        s = make_structure(name, m)
        assert s.n_theta == size == len(s.theta_names()) == len(s.start())
    assert make_structure("ar1h", m).start()[-1] == 0.5


def test_unknown_structure():
    with pytest.raises(ValueError, match="unknown covariance structure"):
        make_structure("un", 3)
