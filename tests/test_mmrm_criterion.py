"""The REML/ML criterion by visit pattern: value, gradient, the two contraction paths, identifiability."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DesignError
from mixedmodels.mmrm.criterion import MmrmCriterion
from mixedmodels.mmrm.data import build_mmrm_data
from mixedmodels.mmrm.formula import parse_mmrm_formula
from mmrm_reference import IDS, fev_data, reference


def _criterion(formula, reml=True, data=None):
    parsed = parse_mmrm_formula(formula)
    return MmrmCriterion(build_mmrm_data(parsed, fev_data() if data is None else data), parsed.structure, reml)


@pytest.mark.parametrize("model_id", IDS)
def test_value_at_r_theta(model_id):
    ref = reference(model_id)
    criterion = _criterion(ref["formula"], ref["REML"])
    assert 2 * criterion.objective(np.array(ref["theta"])) == pytest.approx(ref["objective"], rel=1e-12)


@pytest.mark.parametrize("name", ["us", "toeph", "adh", "cs"])
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_matches_central_differences(name, reml):
    criterion = _criterion(f"FEV1 ~ RACE + ARMCD * AVISIT + {name}(AVISIT | USUBJID)", reml)
    theta = criterion.start() + 0.1 * np.arange(criterion.n_theta) / criterion.n_theta + np.r_[[1.5] * criterion.structure.n_sd, [0.0] * criterion.structure.n_cor]
    g = criterion.gradient(theta)
    h = 1e-5
    numeric = [(criterion.objective(theta + h * e) - criterion.objective(theta - h * e)) / (2 * h)
               for e in np.eye(len(theta))]
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-5)


def test_embedded_products_equal_per_subject_sums():
    """Y_i = E_S Z_i on the embedded arrays gives Σ_i Z_iᵀ Σ_S⁻¹ Z_i summed subject by subject."""
    criterion = _criterion("FEV1 ~ RACE + ARMCD * AVISIT + toeph(AVISIT | USUBJID)")
    theta = criterion.start() + 0.2
    state = criterion.state(theta)
    q = criterion.p + 1
    M = criterion.Zf.reshape(-1, q).T @ state.Y.reshape(-1, q)
    Sigma = criterion.structure.sigma(theta)
    expected = np.zeros((q, q))
    for block in criterion.blocks:
        inv = np.linalg.inv(Sigma[np.ix_(block.visits, block.visits)])
        expected += np.einsum("iap,ab,ibq->pq", block.Z, inv, block.Z)
    np.testing.assert_allclose(M, expected, rtol=1e-12)


def test_patterns_group_subjects():
    criterion = _criterion("FEV1 ~ AVISIT + us(AVISIT | USUBJID)")
    assert sum(block.n for block in criterion.blocks) == 197
    assert sum(block.n * block.s for block in criterion.blocks) == 537
    assert len({tuple(b.visits) for b in criterion.blocks}) == len(criterion.blocks)


def test_not_positive_definite_is_infinite():
    criterion = _criterion("FEV1 ~ AVISIT + toep(AVISIT | USUBJID)")
    assert criterion.objective(np.array([0.0, 5.0, -5.0, 5.0])) == np.inf
    assert criterion.value_and_gradient(np.array([0.0, 5.0, -5.0, 5.0]))[0] == np.inf


def test_too_many_parameters():
    data = fev_data().iloc[:8].assign(FEV1=np.arange(8.0) ** 1.5)  # 2 subjects x 4 visits
    with pytest.raises(DesignError, match="the us covariance has 10 parameters and the fixed effects 1, but there are only 8"):
        _criterion("FEV1 ~ 1 + us(AVISIT | USUBJID)", data=data)


def test_unstructured_needs_more_subjects_than_the_visits_of_one_subject():
    """3 subjects with all 4 visits: the us likelihood has no maximum (R: "No optimizer led to a successful
    model fit"); a structured covariance is fine (R fits ar1 there: −2 log L 82.8104965)."""
    data = fev_data()
    complete = data.groupby("USUBJID", observed=True)["FEV1"].apply(lambda y: y.notna().all())
    three = data[data["USUBJID"].isin(complete[complete].index[:3])]
    with pytest.raises(DesignError, match="a subject has 4 visits but there are only 3 subjects; an unstructured"):
        _criterion("FEV1 ~ 1 + us(AVISIT | USUBJID)", data=three)
    assert mm.mmrm("FEV1 ~ 1 + ar1(AVISIT | USUBJID)", three).objective == pytest.approx(82.8104965, abs=1e-6)
    trt = data["ARMCD"] == "TRT"
    three_treated = data[~trt | data["USUBJID"].isin(complete[complete].index.intersection(data.loc[trt, "USUBJID"])[:3])]
    with pytest.raises(DesignError, match="a subject in group 'TRT' has 4 visits but there are only 3 subjects in group 'TRT'"):
        _criterion("FEV1 ~ 1 + us(AVISIT | ARMCD / USUBJID)", data=three_treated)


def test_correlation_needs_a_subject_with_two_visits():
    data = fev_data()
    data = data[data["FEV1"].notna()].groupby("USUBJID", observed=True).head(1)
    with pytest.raises(DesignError, match="no subject has two visits: the correlation parameters of the ar1"):
        _criterion("FEV1 ~ AVISIT + ar1(AVISIT | USUBJID)", data=data)


def test_unstructured_needs_each_pair_of_visits_observed_together():
    data = fev_data()
    data = data[~((data["AVISIT"] == "VIS4") & data["USUBJID"].isin(
        data.loc[data["AVISIT"] == "VIS1"].dropna(subset=["FEV1"])["USUBJID"]))]
    with pytest.raises(DesignError, match="no subject has both visits 'VIS1' and 'VIS4'"):
        _criterion("FEV1 ~ AVISIT + us(AVISIT | USUBJID)", data=data)
    _criterion("FEV1 ~ AVISIT + ar1(AVISIT | USUBJID)", data=data)  # a structured covariance is fine


def test_full_covariance_must_be_positive_definite():
    """Subjects seen at visits 1 and 2 or at 3 and 4 only: each Σ_S is positive definite, Σ is not."""
    data = fev_data()
    first = data["USUBJID"].cat.codes % 2 == 0
    data = data[(first & data["AVISIT"].isin(["VIS1", "VIS2"])) | (~first & data["AVISIT"].isin(["VIS3", "VIS4"]))]
    criterion = _criterion("FEV1 ~ AVISIT + toep(AVISIT | USUBJID)", data=data)
    theta = np.array([2.0, 2.0, -2.0, 0.0])  # ρ_1 = 0.89, ρ_2 = −0.89, ρ_3 = 0
    assert np.linalg.eigvalsh(criterion.structure.sigma(theta))[0] < 0
    assert all(np.linalg.eigvalsh(criterion.structure.sigma(theta)[np.ix_(b.visits, b.visits)])[0] > 0
               for b in criterion.blocks)
    assert criterion.objective(theta) == np.inf
