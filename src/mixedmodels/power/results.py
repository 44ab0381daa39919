"""What a power simulation found: the share of significant replicates and its binomial interval.

With x of n replicates significant (p < α; a failed refit counts in n, not in x, as simr), the
power estimate is x/n and its interval the Clopper–Pearson ("exact") one that simr reports:

    lower = B⁻¹(a/2; x, n − x + 1),   upper = B⁻¹(1 − a/2; x + 1, n − x),   a = 1 − level,

with B⁻¹ the beta quantile (lower = 0 when x = 0, upper = 1 when x = n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["PowerResult", "clopper_pearson"]


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper–Pearson interval for a binomial proportion (see the module docstring)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    a = 1.0 - level
    x, n = int(successes), int(trials)
    lower = 0.0 if x == 0 else float(stats.beta.ppf(a / 2, x, n - x + 1))
    upper = 1.0 if x == n else float(stats.beta.ppf(1 - a / 2, x + 1, n - x))
    return lower, upper


def _percent(value: float) -> str:
    return "100.0" if value == 1 else f"{100 * value:5.2f}"


@dataclass(frozen=True, eq=False)
class PowerResult:
    """The result of :func:`mixedmodels.power`.

    Attributes
    ----------
    statistics : DataFrame
        One row per replicate: ``estimate`` (t tests), ``statistic`` (t, F or χ²), ``df_num``,
        ``df_den``, ``p_value``, ``singular`` and ``converged`` (0/1); NaN where a refit failed.
    alpha : float
        Significance level of the test.
    title, description : str
        What was tested ("Power for predictor 'groupB'") and how.
    coefficient : str or None
        The tested coefficient (t tests).
    effect : float or None
        Its true value.
    nrow : int
        Rows of the simulated data.
    elapsed : float
        Seconds taken.
    contrasts : DataFrame or None
        Contrast tests (:func:`mixedmodels.contrast_test`): one row per replicate and contrast,
        ``replicate``, ``contrast``, ``estimate``, ``SE``, ``df``, ``t.ratio`` and the adjusted
        ``p.value`` (NaN where a refit failed); their powers in :meth:`contrast_power`.
    """

    statistics: pd.DataFrame
    alpha: float
    title: str
    description: str
    coefficient: str | None
    effect: float | None
    nrow: int
    elapsed: float
    contrasts: pd.DataFrame | None = None

    @property
    def nsim(self) -> int:
        return len(self.statistics)

    @property
    def pvalues(self) -> pd.Series:
        return self.statistics["p_value"]

    @property
    def successes(self) -> int:
        """Replicates with p < α."""
        return int(np.sum(self.pvalues.to_numpy() < self.alpha))

    @property
    def power(self) -> float:
        """Share of the replicates in which the test rejected at level α."""
        return self.successes / self.nsim

    @property
    def ci(self) -> tuple[float, float]:
        """95 % Clopper–Pearson interval of the power."""
        return self.confint(0.95)

    def confint(self, level: float = 0.95) -> tuple[float, float]:
        """Clopper–Pearson interval of the power at ``level``."""
        return clopper_pearson(self.successes, self.nsim, level)

    @property
    def failed(self) -> float:
        """Share of the replicates whose refit or test failed (their p-value is NaN)."""
        return float(self.pvalues.isna().mean())

    @property
    def singular(self) -> float:
        """Share of the replicates whose refit was singular (a variance estimated as 0, lme4's isSingular)."""
        return float(np.nansum(self.statistics["singular"].to_numpy()) / self.nsim)

    @property
    def not_converged(self) -> float:
        """Share of the replicates whose refit drew one of lme4's convergence warnings."""
        converged = self.statistics["converged"].to_numpy()
        return float(np.sum(converged == 0) / self.nsim)

    def contrast_power(self, level: float = 0.95) -> pd.DataFrame:
        """Power of each contrast (share of replicates with adjusted p < α) and its Clopper–Pearson interval.

        Raises
        ------
        ValueError
            The test was not a family of contrasts.
        """
        if self.contrasts is None:
            raise ValueError(f"contrast_power() is for contrast tests (mixedmodels.contrast_test); this was: "
                             f"{self.description}")
        rows = {}
        for name, group in self.contrasts.groupby("contrast", sort=False, observed=True):
            x = int(np.sum(group["p.value"].to_numpy() < self.alpha))
            lower, upper = clopper_pearson(x, self.nsim, level)
            rows[name] = {"power": x / self.nsim, "lower": lower, "upper": upper}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("contrast")

    def interval_text(self, level: float = 0.95) -> str:
        """``80.30% (77.70, 82.72)``, as simr prints it."""
        lower, upper = self.confint(level)
        return f"{_percent(self.power)}% ({_percent(lower)}, {_percent(upper)})"

    def summary(self, level: float = 0.95) -> str:
        """The result as simr's ``print(powerSim(...))``."""
        counts = self.statistics
        lines = [f"{self.title}, ({100 * level:g}% confidence interval):", f"      {self.interval_text(level)}", "",
                 f"Test: {self.description}"]
        if self.effect is not None:
            lines.append(f"      Effect size for {self.coefficient} is {self.effect:.4g}")
        if self.contrasts is not None:
            lines.append(f"Power of each contrast, ({100 * level:g}% confidence interval):")
            for name, row in self.contrast_power(level).iterrows():
                lines.append(f"      {name}: {_percent(row['power'])}% ({_percent(row['lower'])}, "
                             f"{_percent(row['upper'])})")
        singular = int(np.nansum(counts["singular"].to_numpy()))
        unconverged = int(np.sum(counts["converged"].to_numpy() == 0))
        failed = int(self.pvalues.isna().sum())
        lines += ["", f"Based on {self.nsim} simulations, ({singular} singular, {unconverged} not converged, "
                      f"{failed} failed)",
                  f"alpha = {self.alpha:g}, nrow = {self.nrow}", "",
                  f"Time elapsed: {int(self.elapsed // 3600)} h {int(self.elapsed // 60) % 60} m "
                  f"{int(self.elapsed) % 60} s"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<PowerResult {self.title}: {self.interval_text()} from {self.nsim} simulations>"
