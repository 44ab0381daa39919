"""Simulation-based scaled (quantile) residuals, as R's DHARMa defines them (Hartig 2022).

From the fitted model, ``nsim`` response vectors y*⁽¹⁾ … y*⁽ˢ⁾ are simulated with new random
effects (DHARMa's default for lme4 fits, ``simulate(fit, use.u = FALSE)``), or with the
conditional modes b̂ kept (``conditional=True``, DHARMa's ``re.form = NULL``). For observation i,
with a_i = #{s : y*ᵢ⁽ˢ⁾ < yᵢ}/s and b_i = #{s : y*ᵢ⁽ˢ⁾ ≤ yᵢ}/s, the scaled residual is

    r_i = a_i                 when a_i = b_i (no ties: a continuous response),
    r_i ~ U(a_i, b_i)         otherwise (ties of a discrete response: DHARMa's randomised PIT).

Under a correctly specified model the r_i are uniform on (0, 1): 0.5 is the median expectation,
values near 0 or 1 are observations below or above nearly all simulations. The tests:

* uniformity: Kolmogorov–Smirnov test of the r_i against U(0, 1) (``testUniformity``);
* dispersion: DHARMa's non-parametric test: the statistic T(y) = var(y − μ̂) / v̄, μ̂ the fitted
  values and v̄ the variance of all simulated values, for the data and for each simulation; the
  ratio T(y)/mean T(y*) is reported, and the two-sided p-value is 2 min(P(T* ≥ T), P(T* ≤ T))
  over the simulations, capped at 1 (``testDispersion(type = "DHARMa")``). μ̂ is conditional on
  b̂, so with simulations that draw new random effects the simulated spread is inflated by the
  random-effects variance and the ratio falls below 1 (DHARMa documents the same loss of power);
  simulate with ``conditional=True`` for this test;
* outliers: observations outside the range of all their simulations (r_i = 0 or 1 with no ties),
  whose number under H0 is Binomial(n, 2/(s + 1)); exact two-sided binomial test
  (``testOutliers(type = "binomial")``).

DHARMa is not available as a Debian package (checked with ``apt-cache search dharma``), so these
definitions are validated by property tests (uniformity under a correct model; the dispersion
test detects overdispersion), not against DHARMa's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ScaledResiduals", "TestResult", "simulate_residuals"]


@dataclass(frozen=True)
class TestResult:
    """A test's statistic and p-value (``method`` says which test)."""

    statistic: float
    p_value: float
    method: str

    def __repr__(self) -> str:
        return f"{self.method}: statistic = {self.statistic:.5g}, p-value = {self.p_value:.4g}"


@dataclass(frozen=True)
class ScaledResiduals:
    """DHARMa's scaled residuals of a fit and the simulations they came from.

    Attributes
    ----------
    scaled : Series          r_i, in (0, 1), indexed like the fitted rows
    observed : ndarray       the response (binomial: proportion of the trials)
    fitted : ndarray         μ̂ (conditional fitted values on the response scale)
    simulated : ndarray      (n, nsim) simulated responses
    """

    scaled: pd.Series
    observed: np.ndarray = field(repr=False)
    fitted: np.ndarray = field(repr=False)
    simulated: np.ndarray = field(repr=False)

    @property
    def nsim(self) -> int:
        return self.simulated.shape[1]

    def test_uniformity(self) -> TestResult:
        """One-sample Kolmogorov–Smirnov test of the scaled residuals against U(0, 1)."""
        result = stats.kstest(self.scaled.to_numpy(), "uniform")
        return TestResult(float(result.statistic), float(result.pvalue), "asymptotic one-sample Kolmogorov-Smirnov test")

    def test_dispersion(self, alternative: str = "two.sided") -> TestResult:
        """DHARMa's non-parametric dispersion test (statistic: observed / mean simulated spread).

        ``alternative``: "two.sided" (2 min(P(T* ≥ T), P(T* ≤ T)), capped at 1), "greater"
        (overdispersion, P(T* ≥ T)) or "less" (P(T* ≤ T)). With conditional simulations the
        fitted values have absorbed part of the noise, so a correct model shows a ratio a little
        below 1; "greater" is the test for overdispersion.
        """
        if alternative not in ("two.sided", "greater", "less"):
            raise ValueError(f"alternative must be 'two.sided', 'greater' or 'less', not {alternative!r}")
        expected = float(np.var(self.simulated, ddof=1))
        observed = float(np.var(self.observed - self.fitted, ddof=1)) / expected
        simulated = np.var(self.simulated - self.fitted[:, None], axis=0, ddof=1) / expected
        greater, less = float(np.mean(simulated >= observed)), float(np.mean(simulated <= observed))
        p = {"greater": greater, "less": less, "two.sided": min(1.0, 2.0 * min(greater, less))}[alternative]
        return TestResult(observed / float(np.mean(simulated)), p,
                          "DHARMa nonparametric dispersion test via sd of residuals fitted vs. simulated")

    def outliers(self) -> np.ndarray:
        """Boolean mask of observations below or above all of their simulations."""
        below = np.all(self.simulated > self.observed[:, None], axis=1)
        above = np.all(self.simulated < self.observed[:, None], axis=1)
        return below | above

    def test_outliers(self) -> TestResult:
        """Exact binomial test of the number of outliers against the expected frequency 2/(nsim + 1)."""
        count, n = int(self.outliers().sum()), len(self.observed)
        expected = 2.0 / (self.nsim + 1)
        result = stats.binomtest(count, n, expected)
        return TestResult(count / n / expected, float(result.pvalue), "DHARMa outlier test based on exact binomial test")

    def plot(self, figsize=(10, 4.5)):
        """QQ plot of the scaled residuals against U(0, 1) (with the KS p-value) and the residuals against
        the rank-transformed predictions, with the 0.25/0.5/0.75 reference lines; returns the Figure."""
        import matplotlib.pyplot as plt

        r = np.sort(self.scaled.to_numpy())
        n = len(r)
        figure, (qq, spread) = plt.subplots(1, 2, figsize=figsize)
        expected = (np.arange(1, n + 1) - 0.5) / n
        qq.plot(expected, r, ".", markersize=3, color="#1f77b4")
        qq.plot([0, 1], [0, 1], color="#d62728", linewidth=1)
        qq.set(xlabel="Expected", ylabel="Observed", title="QQ plot of scaled residuals")
        ks, dispersion, outliers = self.test_uniformity(), self.test_dispersion(), self.test_outliers()
        qq.text(0.03, 0.97, f"KS test: p = {ks.p_value:.3g}\nDispersion test: p = {dispersion.p_value:.3g}\n"
                            f"Outlier test: p = {outliers.p_value:.3g}", transform=qq.transAxes, va="top", fontsize=8)
        rank = stats.rankdata(self.fitted) / n
        mask = self.outliers()
        spread.plot(rank[~mask], self.scaled.to_numpy()[~mask], ".", markersize=3, color="#1f77b4")
        spread.plot(rank[mask], self.scaled.to_numpy()[mask], "*", markersize=6, color="#d62728")
        for level in (0.25, 0.5, 0.75):
            spread.axhline(level, color="#888888", linestyle="--", linewidth=0.8)
        spread.set(xlabel="Model predictions (rank transformed)", ylabel="Scaled residual", ylim=(-0.02, 1.02),
                   title="Residual vs. predicted")
        figure.tight_layout()
        return figure


def simulate_residuals(fit, nsim: int = 250, seed=None, conditional: bool = False) -> ScaledResiduals:
    """DHARMa's ``simulateResiduals``: scaled residuals from ``nsim`` simulations of the fit.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    nsim : int
        Number of simulated response vectors (DHARMa's default 250).
    seed : int, numpy Generator or None
        Seeds both the simulations and the randomisation of ties.
    conditional : bool
        False (DHARMa's default): simulate new random effects. True: keep the conditional modes
        b̂ and simulate only the observation level (DHARMa's ``re.form = NULL``); the dispersion
        test needs this, as y − μ̂ with μ̂ conditional on b̂ is compared with y* − μ̂.

    Returns
    -------
    ScaledResiduals
        ``.scaled``, ``.test_uniformity()``, ``.test_dispersion()``, ``.test_outliers()``, ``.plot()``.

    Raises
    ------
    ValueError
        ``nsim`` below 2, or a fit whose data are not in memory (Parquet/Dask).
    """
    if int(nsim) != nsim or nsim < 2:
        raise ValueError(f"nsim must be an integer of at least 2, not {nsim!r}")
    if not fit.in_memory:
        raise ValueError("scaled residuals need the data in memory; this fit (Parquet/Dask) does not hold them")
    rng = np.random.default_rng(seed)
    simulated = fit.simulate(nsim=int(nsim), seed=rng, use_re=not conditional).to_numpy()
    observed = np.asarray(getattr(fit, "y", None) if getattr(fit, "family", None) is not None else fit.design.y,
                          dtype=float)
    lower = np.mean(simulated < observed[:, None], axis=1)
    upper = np.mean(simulated <= observed[:, None], axis=1)
    ties = upper > lower
    scaled = lower.copy()
    scaled[ties] = rng.uniform(lower[ties], upper[ties])
    return ScaledResiduals(scaled=pd.Series(scaled, index=fit.design.rows, name="scaled_residual"),
                           observed=observed, fitted=fit.fitted().to_numpy(), simulated=simulated)
