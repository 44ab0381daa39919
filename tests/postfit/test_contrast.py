"""Contrast methods, their labels and defaults, and bad input (numbers against R: test_postfit_emmeans.py)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.postfit.contrast import contrast_coefficients


@pytest.fixture(scope="module")
def petri_means():
    fit = mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))
    return mm.emmeans(fit, "group")


def test_coefficients_of_each_method():
    levels = ["a", "b", "c", "d"]
    C, names, pairs = contrast_coefficients("pairwise", levels)
    assert pairs and names[:3] == ["a - b", "a - c", "a - d"] and C.shape == (6, 4)
    C, names, _ = contrast_coefficients("revpairwise", levels)
    assert names[:3] == ["b - a", "c - a", "c - b"]
    C, names, pairs = contrast_coefficients("trt.vs.ctrl", levels, ref="c")
    assert not pairs and names == ["a - c", "b - c", "d - c"]
    C, names, _ = contrast_coefficients("trt.vs.ctrl", levels, ref=[1, 2])
    assert names == ["c - avg(a,b)", "d - avg(a,b)"] and np.allclose(C[0], [-0.5, -0.5, 1, 0])
    C, names, _ = contrast_coefficients("poly", levels)
    assert names == ["linear", "quadratic", "cubic"]
    np.testing.assert_array_equal(C, [[-3, -1, 1, 3], [1, -1, -1, 1], [-1, 3, -3, 1]])  # R: poly.emmc(1:4)
    C, names, _ = contrast_coefficients("eff", levels)
    assert names[0] == "a effect" and np.allclose(C.sum(axis=1), 0)
    C, names, _ = contrast_coefficients("consec", levels)
    assert names == ["b - a", "c - b", "d - c"]


def test_defaults_and_shortcuts(petri_means):
    assert petri_means.pairs().adjust == "tukey"
    assert mm.contrast(petri_means, "trt.vs.ctrl").adjust == "dunnettx"
    assert mm.contrast(petri_means, "eff").adjust == "fdr"
    assert mm.contrast(petri_means, "poly").adjust == "none"
    reverse = petri_means.pairs(reverse=True)
    assert list(reverse.frame["contrast"])[0] == "AntibioticA - Control"
    assert np.allclose(reverse.frame["estimate"].iloc[0], -petri_means.pairs().frame["estimate"].iloc[0])
    dunnett = mm.contrast(petri_means, "trt.vs.ctrl", adjust="dunnett")
    assert dunnett.adjust == "mvt"


def test_bad_input(petri_means):
    with pytest.raises(ValueError, match="unknown contrast method 'pairs'"):
        mm.contrast(petri_means, "pairs")
    with pytest.raises(ValueError, match="unknown adjust method 'scheffe'"):
        mm.contrast(petri_means, "pairwise", adjust="scheffe")
    with pytest.raises(ValueError, match="ref 'Placebo' is not one of the levels"):
        mm.contrast(petri_means, "trt.vs.ctrl", ref="Placebo")
    with pytest.raises(ValueError, match="ref= applies to method 'trt.vs.ctrl' only"):
        mm.contrast(petri_means, "pairwise", ref=1)
    with pytest.raises(ValueError, match="custom contrast 'x' needs 3 weights"):
        mm.contrast(petri_means, {"x": [1, -1]})
    with pytest.raises(ValueError, match="by variables \\['dish_id'\\]"):
        mm.contrast(petri_means, "pairwise", by="dish_id")
    with pytest.raises(TypeError, match="needs marginal means"):
        mm.contrast(petri_means.frame, "pairwise")
    with pytest.raises(ValueError, match="level must be in"):
        petri_means.pairs().confint(level=95)


def test_contrast_plot(petri_means):
    ax = petri_means.pairs().plot()
    assert len(ax.containers) == 1 and len(ax.get_yticklabels()) == 3
