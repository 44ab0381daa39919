"""mm.rePCA against lme4 1.1-31's rePCA (tests/reference/postfit)."""

from __future__ import annotations

import numpy as np
import pytest
from postfit_models import fit, reference

import mixedmodels as mm


@pytest.mark.parametrize("model_id", ["sleepstudy_slope", "sleepstudy_uncorr", "penicillin"])
def test_repca_matches_lme4(model_id):
    ref = reference()["repca"][model_id]
    result = mm.rePCA(fit(model_id))
    assert sorted(result) == sorted(ref)
    for name, expected in ref.items():
        pca = result[name]
        np.testing.assert_allclose(pca.sdev, np.atleast_1d(expected["sdev"]), rtol=1e-4)
        np.testing.assert_allclose(pca.proportion, np.atleast_1d(expected["proportion"]), rtol=1e-4, atol=1e-7)
        rotation = np.array(expected["rotation"], dtype=float).reshape(pca.rotation.shape)
        signs = np.sign(np.sum(rotation * pca.rotation.to_numpy(), axis=0))  # a component's sign is arbitrary
        np.testing.assert_allclose(pca.rotation.to_numpy() * signs, rotation, atol=1e-4)


def test_two_terms_on_one_factor_form_one_block():
    result = mm.rePCA(fit("sleepstudy_uncorr"))
    assert list(result) == ["Subject"] and list(result["Subject"].rotation.index) == ["(Intercept)", "Days"]


def test_singular_fit_has_a_zero_component():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        singular = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    pca = mm.rePCA(singular)["Batch"]
    assert pca.sdev[0] == 0.0 and pca.proportion[0] == 0.0


def test_prints_importance_of_components():
    text = repr(mm.rePCA(fit("sleepstudy_slope")))
    assert text.startswith("$Subject\nImportance of components:") and "Proportion of Variance" in text
