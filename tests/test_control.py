"""LmerControl: every tolerance and optimiser setting in one object, passed to lmer."""

import warnings

import numpy as np
import pytest

from mixedmodels import LmerControl, datasets, lmer

FORMULA = "Reaction ~ Days + (Days | Subject)"


def _fit(**control):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(FORMULA, datasets.load("sleepstudy"), control=LmerControl(**control))


def test_defaults_are_lme4s():
    c = LmerControl()
    assert (c.ftol_abs, c.xtol_abs, c.maxeval, c.gradient_tol, c.singular_tol, c.rank_tol) == \
        (1e-8, 1e-8, 100_000, 2e-3, 1e-4, 1e-7)


def test_maxeval_reaches_the_optimiser():
    fit = _fit(maxeval=5)
    assert fit.optimum.n_evaluations <= 5 + 60  # BOBYQA's stop, then the checks' finite differences
    assert any("maximum number of function evaluations (5)" in m for m in fit.messages)


def test_check_conv_off_skips_the_derivatives():
    fit = _fit(check_conv=False)
    assert np.isnan(fit.optimum.gradient).all()
    assert fit.objective == pytest.approx(1743.6282719, rel=1e-6)


def test_singular_tol_decides_the_flag():
    assert not _fit().is_singular
    assert _fit(singular_tol=0.5).is_singular  # θ for Days is 0.23: below 0.5 counts as on the boundary


@pytest.mark.parametrize("bad", [{"ftol_abs": -1.0}, {"maxeval": 0}, {"gradient_tol": "x"}])
def test_invalid_settings_are_refused(bad):
    with pytest.raises(ValueError, match="LmerControl"):
        LmerControl(**bad)


def test_unknown_setting_is_a_type_error():
    with pytest.raises(TypeError):
        LmerControl(tolerance=1e-3)
