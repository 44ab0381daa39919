"""lme4's glmer.nb (mixedmodels.glmm.negbin and glmer_nb's joint fit in mixedmodels.glmm.fit):
MASS's theta.ml as lme4's start, and the fit against lme4 on data sets held out from the rest."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

import mixedmodels as mm
from mixedmodels.datasets import read_csv_with_schema
from mixedmodels.families import NegativeBinomial
from mixedmodels.glmm.negbin import theta_ml

Y = np.array([0, 1, 3, 8, 20, 2, 5, 0, 1, 4], float)
MU = np.array([0.5, 2, 3, 4, 9, 2.5, 3, 1, 1.5, 6])


def test_theta_ml_as_mass():
    # R: MASS::theta.ml(y, mu, limit = 20, eps = 1e-4) = 4.7335274089845223
    theta = theta_ml(Y, MU, np.ones(10))
    assert theta == pytest.approx(4.7335274089845223, rel=1e-12)
    score = np.sum(special.digamma(theta + Y) - special.digamma(theta) + np.log(theta) + 1 - np.log(theta + MU)
                   - (Y + theta) / (MU + theta))
    assert abs(score) < 1e-8



# ---------------------------------------------------------------------------------------- glmer_nb's joint fit
# Held-out references (tests/reference/glmer_nb, make_glmer_nb_reference.R): lme4's glmer.nb on
# glmmTMB's Owls (with an offset) and Salamanders, and on MASS's epil with nAGQ = 0 (PIRLS converged:
# lme4's default tolPwrss leaves ~1e-4 of noise in β of a nAGQ = 0 fit).
HERE = Path(__file__).parent / "reference" / "glmer_nb"
REFERENCE = json.loads((HERE / "glmer_nb_reference.json").read_text())["fits"]
EPIL = "y ~ lbase * trt + lage + V4 + (1 | subject)"


@lru_cache(maxsize=None)
def data(name: str) -> pd.DataFrame:
    return read_csv_with_schema(HERE / name)


@lru_cache(maxsize=None)
def fit_of(model_id: str, n_agq: int | None = None) -> mm.GlmerFit:
    record = REFERENCE[model_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer_nb(record["formula"], data(record["dataset"]), offset=record["offset"],
                           nAGQ=record["nAGQ"] if n_agq is None else n_agq)


@pytest.mark.parametrize("model_id, theta_rtol", [("owls_nb", 1e-4), ("salamanders_nb", 1e-4),
                                                  ("epil_nb_nagq0_tight", 1e-3)])
def test_glmer_nb_against_lme4_held_out(model_id, theta_rtol):
    fit, record = fit_of(model_id), REFERENCE[model_id]
    ours, theirs = fit.objective, record["objective"]
    assert ours <= theirs + 1e-6 * abs(theirs)  # lower is a win: owls −7.7e-5, salamanders −4.2e-5, epil −2.0e-6
    assert ours == pytest.approx(theirs, rel=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(record["beta"].values()), atol=1e-4)
    np.testing.assert_allclose(fit.coef_table()["Std. Error"].to_numpy(), list(record["se_beta"].values()), rtol=1e-3)
    # nAGQ = 0: the criterion is flat in θ (a change of 3e-4 relative moves it by 2e-6); lme4's Brent
    # search stops there, ours at the minimum
    assert fit.family.theta == pytest.approx(record["nb_theta"], rel=theta_rtol)
    assert fit.npar == record["npar"] and fit.converged
    line = fit.summary().splitlines()[2]
    assert line == record["family_line"] if theta_rtol <= 1e-4 else line.split("(")[0] == record["family_line"].split("(")[0]


@pytest.mark.parametrize("n_agq", [1, 0, 5])
def test_glmer_nb_is_the_minimum_of_lme4s_profile_with_theta_known(n_agq):
    """The joint optimum over (θ_RE, β, log θ) is the minimum over θ of the fits at θ held fixed, and
    the fit is that fixed-θ fit (lme4's glmer.nb reports its last refit): the same criterion, β and
    Var(β̂) — the Hessian over (θ_RE, β) alone."""
    fit = fit_of("epil_nb_nagq0_tight", n_agq)
    theta = fit.family.theta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at = {s: mm.glmer(EPIL, data("epil.csv"), family=NegativeBinomial(theta * s), nAGQ=n_agq)
              for s in (0.98, 1.0, 1.02)}
    assert at[1.0].objective == pytest.approx(fit.objective, rel=1e-10, abs=1e-9)
    assert min(at[0.98].objective, at[1.02].objective) > fit.objective + 1e-4
    np.testing.assert_allclose(at[1.0].fixef.to_numpy(), fit.fixef.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(at[1.0].coef_table()["Std. Error"].to_numpy(),
                               fit.coef_table()["Std. Error"].to_numpy(), rtol=1e-4)
    assert fit.problem.n_extra == 0 and fit.n_dispersion == 1 and fit.n_agq == n_agq


def test_refit_of_glmer_nb_keeps_theta_fixed():
    fit = fit_of("salamanders_nb")
    again = fit.refit(fit.y)
    assert again.family == fit.family  # NegativeBinomial(θ̂), not re-estimated (lme4's refit)
    assert again.objective == pytest.approx(fit.objective, rel=1e-9)
    np.testing.assert_allclose(again.fixef, fit.fixef, atol=1e-5)
    table = mm.bootstrap(fit, nsim=2, seed=5, progress=False)
    assert "dispersion" not in table.columns and table.notna().all().all()
