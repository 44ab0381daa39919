"""mmrm's type II/III hypothesis matrices (car::Anova on an mmrm fit); the numbers against car are in
test_mmrm_heldout.py."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.inference.contrasts import term_contrasts
from mixedmodels.mmrm.anova import mmrm_contrasts
from mmrm_reference import our_fit


@pytest.fixture(scope="module")
def fit():
    return our_fit("fev_data_us")


@pytest.mark.parametrize("kind", [2, 3])
def test_same_hypotheses_as_lmertest(fit, kind):
    """The row spaces agree with lmerTest's type II/III (so do the F statistics); the rows differ."""
    ours, theirs = mmrm_contrasts(fit, kind), term_contrasts(fit.design.fixed, fit.design.fixed.gram, kind)
    assert list(ours) == list(theirs)
    for term in ours:
        both = np.vstack([ours[term], theirs[term]])
        assert np.linalg.matrix_rank(both) == np.linalg.matrix_rank(ours[term]) == len(ours[term])
        F = fit.f_test(ours[term])["F value"]
        assert F == pytest.approx(fit.f_test(theirs[term])["F value"], rel=1e-9)


def test_type3_is_sum_to_zero_coding(fit):
    """Type III of ARMCD in ARMCD * AVISIT with contr.sum: ARMCDTRT plus the mean of its interactions."""
    L = mmrm_contrasts(fit, 3)["ARMCD"]
    names = fit.design.fixed.column_names
    row = dict(zip(names, L[0] / L[0][names.index("ARMCDTRT")]))
    assert row["ARMCDTRT"] == 1
    for name in ("ARMCDTRT:AVISITVIS2", "ARMCDTRT:AVISITVIS3", "ARMCDTRT:AVISITVIS4"):
        assert row[name] == pytest.approx(0.25)
    assert row["RACEWhite"] == 0 and row["(Intercept)"] == 0


def test_type2_of_a_term_in_no_interaction_is_the_identity(fit):
    L = mmrm_contrasts(fit, 2)["RACE"]
    np.testing.assert_array_equal(L, np.eye(11)[[1, 2]])


def test_unknown_type(fit):
    with pytest.raises(ValueError, match="type 2"):
        mmrm_contrasts(fit, 1)
