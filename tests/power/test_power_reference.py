"""Agreement with R: lme4 + lmerTest refits in an R loop (tests/reference/power), within Monte-Carlo error.

Ours (400 replicates) and R's (1000 replicates) are independent simulations of the same truth,
so their powers differ by sampling alone: |p_ours − p_R| ≤ 3 √(p(1 − p)(1/400 + 1/1000)).
"""

import json
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "power" / "power_reference.json").read_text())
NSIM = 400


def _agree(ours, successes, n_r):
    p_r = successes / n_r
    pooled = (ours.successes + successes) / (ours.nsim + n_r)
    se = np.sqrt(pooled * (1 - pooled) * (1 / ours.nsim + 1 / n_r))
    assert abs(ours.power - p_r) <= 3 * se, (ours.power, p_r, se)


@pytest.fixture(scope="module")
def petri():
    ref = REFERENCE["petri"]
    return mm.design("y ~ group + (1 | dish_id)", groups={"group": ["Control", "A", "B"]}, clusters=4, per_cluster=5,
                     fixef=ref["fixef"], varcorr={"dish_id": ref["varcorr"]}, sigma=ref["sigma"])


def test_petri_type_III_F_test(petri):
    result = mm.power(petri, "group", nsim=NSIM, seed=101, progress=False)
    _agree(result, REFERENCE["petri"]["group_F"]["successes"], REFERENCE["nsim"])
    assert result.failed == 0


def test_petri_likelihood_ratio_test(petri):
    result = mm.power(petri, "y ~ 1 + (1 | dish_id)", nsim=NSIM, seed=102, progress=False)
    _agree(result, REFERENCE["petri"]["lrt"]["successes"], REFERENCE["nsim"])


def test_sleepstudy_t_test_of_days():
    ref = REFERENCE["sleepstudy"]
    theta, sigma = np.asarray(ref["theta"]), ref["sigma"]
    T = np.array([[theta[0], 0.0], [theta[1], theta[2]]])
    design = mm.design("Reaction ~ Days + (Days | Subject)", data=mm.datasets.load("sleepstudy"), fixef=ref["fixef"],
                       varcorr={"Subject": sigma**2 * T @ T.T}, sigma=sigma)
    result = mm.power(design, "Days", nsim=NSIM, seed=103, progress=False)
    _agree(result, ref["days_t"]["successes"], REFERENCE["nsim"])
    # singular refits are rare on both sides (R: 15 of 1000)
    assert result.singular < 0.05
