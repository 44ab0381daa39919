"""Adaptive Gauss–Hermite quadrature (mixedmodels.glmm.agq) against lme4 on held-out fits, and its
evaluation in chunks of nodes.

References: tests/reference/glmer_agq (made by make_glmer_agq_reference.R: lme4 1.1-31's glmer with
nAGQ = 9, 15 and 5 on grouseticks and epil, which the AGQ code was not tuned on). Tolerances: the
criterion within 1e-6 relative, or lower (a lower criterion than lme4's is a win: asserted as
ours <= R + tol), θ and β within 1e-4, standard errors within 1e-3 relative.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

import mixedmodels as mm
from mixedmodels.datasets import read_csv_with_schema
from mixedmodels.glmm import agq

REFERENCE_DIR = Path(__file__).parent / "reference"
REFERENCE = json.loads((REFERENCE_DIR / "glmer_agq" / "glmer_agq_reference.json").read_text())
DATA = {"grouseticks": REFERENCE_DIR / "glmm_families" / "grouseticks.csv", "epil": REFERENCE_DIR / "glmer_nb" / "epil.csv"}


def _fit(model_id: str):
    record = REFERENCE[model_id]
    data = read_csv_with_schema(DATA[model_id.split("_")[0]])
    formula = record["formula"]
    if "I(TICKS > 2)" in formula:  # lme4's logical response, as a 0/1 column
        data = data.assign(ticks3=(data["TICKS"] > 2).astype(float))
        formula = formula.replace("I(TICKS > 2)", "ticks3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer(formula, data, family=record["family"], nAGQ=record["nAGQ"]), record


@pytest.mark.parametrize("model_id", sorted(REFERENCE))
def test_agq_fit_is_lme4s(model_id):
    fit, record = _fit(model_id)
    ours = fit.objective - fit.saturated_minus_two_loglik  # lme4's scale for nAGQ > 1
    assert ours <= record["objective"] + 1e-6 * abs(record["objective"])  # lower is a win
    assert ours == pytest.approx(record["objective"], rel=1e-6)
    np.testing.assert_allclose(fit.theta, record["theta"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(record["fixef"].values()), rtol=1e-4, atol=1e-4)
    se = np.sqrt(np.diag(fit.vcov.to_numpy() if hasattr(fit.vcov, "to_numpy") else fit.vcov))
    np.testing.assert_allclose(se, list(record["se"].values()), rtol=1e-3)


def test_nodes_in_chunks_give_the_same_criterion(monkeypatch):
    fit, record = _fit("grouseticks_poisson_agq9")
    problem = fit.problem
    params = np.r_[fit.theta, fit.fixef.to_numpy()]
    whole = problem.deviance(params)
    monkeypatch.setattr(agq, "AGQ_CELLS", 3 * problem.n)  # three nodes at a time
    assert problem.deviance(params) == pytest.approx(whole, rel=1e-14)


def test_agq_is_the_integral_per_level():
    """−2 log ∫ Π p(yᵢ | u) φ(u) du by adaptive quadrature equals scipy's quad of the same integral."""
    rng = np.random.default_rng(2)
    codes = np.repeat(np.arange(4), 6)
    y = rng.poisson(2.0, len(codes)).astype(float)
    weights, eta_fixed, z_theta = np.ones(len(y)), np.full(len(y), 0.5), np.full(len(y), 0.8)
    family = mm.families.Poisson()
    u_hat, L_diag = np.zeros(4), np.ones(4)
    for _ in range(50):  # the modes by Newton's method, and L_jj² = 1 + θ² Σ μᵢ
        mu = np.exp(eta_fixed + z_theta * u_hat[codes])
        grad = np.bincount(codes, z_theta * (mu - y)) + u_hat
        hess = np.bincount(codes, z_theta**2 * mu) + 1
        u_hat -= grad / hess
    L_diag = np.sqrt(hess)
    value = agq.agq_deviance(family, y, weights, eta_fixed, codes, z_theta, u_hat, L_diag, 25)
    saturated = family.saturated(y, weights, np.ones(len(y)))
    exact = 0.0
    for j in range(4):
        rows = codes == j

        def integrand(u):
            return np.exp(np.sum(stats.poisson.logpmf(y[rows], np.exp(eta_fixed[rows] + z_theta[rows] * u)))) \
                * stats.norm.pdf(u)

        exact += -2 * np.log(integrate.quad(integrand, -10, 10, epsabs=0, epsrel=1e-12)[0])
    assert value + saturated == pytest.approx(exact, rel=1e-9)
