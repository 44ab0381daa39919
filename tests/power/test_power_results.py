"""PowerResult: power, Clopper–Pearson interval as simr (binom.confint "exact"), shares and summary."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mixedmodels.power.hypotheses import COLUMNS
from mixedmodels.power.results import PowerResult, clopper_pearson


def _result(pvalues, singular=None, converged=None):
    n = len(pvalues)
    table = pd.DataFrame(np.full((n, len(COLUMNS)), np.nan), columns=COLUMNS)
    table["p_value"] = pvalues
    table["singular"] = np.zeros(n) if singular is None else singular
    table["converged"] = np.ones(n) if converged is None else converged
    return PowerResult(table, 0.05, "Power for predictor 'x'", "t test of the coefficient x with Satterthwaite's df",
                       "x", 0.24, 30, 50.4)


def test_clopper_pearson_values():
    # R: binom::binom.confint(803, 1000, methods = "exact"): 0.7770 0.8272 (simr's printout 80.30% (77.70, 82.72))
    lower, upper = clopper_pearson(803, 1000)
    assert (round(100 * lower, 2), round(100 * upper, 2)) == (77.70, 82.72)
    assert clopper_pearson(0, 10)[0] == 0.0 and clopper_pearson(10, 10)[1] == 1.0
    # the defining property: the tail probabilities at the bounds are (1 − level)/2
    lower, upper = clopper_pearson(7, 20, 0.9)
    assert stats.binom.sf(6, 20, lower) == pytest.approx(0.05) and stats.binom.cdf(7, 20, upper) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="level"):
        clopper_pearson(1, 2, 1.2)


def test_power_counts_failures_in_n_not_in_successes():
    pvalues = np.r_[np.full(803, 0.01), np.full(190, 0.5), np.full(7, np.nan)]
    result = _result(pvalues, singular=np.r_[np.ones(3), np.zeros(997)], converged=np.r_[0.0, np.ones(999)])
    assert result.power == pytest.approx(0.803) and result.successes == 803 and result.nsim == 1000
    assert result.failed == pytest.approx(0.007) and result.singular == pytest.approx(0.003)
    assert result.not_converged == pytest.approx(0.001)
    text = result.summary()
    assert text.splitlines()[:2] == ["Power for predictor 'x', (95% confidence interval):", "      80.30% (77.70, 82.72)"]
    assert "Effect size for x is 0.24" in text and "(3 singular, 1 not converged, 7 failed)" in text
    assert "alpha = 0.05, nrow = 30" in text and "Time elapsed: 0 h 0 m 50 s" in text
    assert "80.30%" in repr(result) and str(result) == text


def test_full_power_prints_as_simr():
    assert _result(np.zeros(10)).interval_text() == "100.0% (69.15, 100.0)"
