"""Power against sample size (simr's ``powerCurve``) and its plot.

For each size n the layout is resized by :func:`.extend.resize_layout` (``along`` at n levels,
per ``within`` cell when given; or n rows per ``within`` cell) and :func:`.simulation.power`
is run on it with its own seed, spawned from ``seed`` (``numpy.random.SeedSequence.spawn``):
the curve is reproducible, each point independent of the others and of ``n_jobs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import as_design
from .extend import resize_layout
from .results import PowerResult
from .simulation import check_settings, power

__all__ = ["PowerCurve", "power_curve"]


@dataclass(frozen=True, eq=False)
class PowerCurve:
    """The result of :func:`mixedmodels.power_curve`: one :class:`PowerResult` per size.

    Attributes
    ----------
    sizes : list of int
    results : list of PowerResult
    along, within : str or None
        What was varied (for the axis label and the summary).
    """

    sizes: list
    results: list
    along: str | None
    within: str | None

    @property
    def power(self) -> np.ndarray:
        return np.array([r.power for r in self.results])

    @property
    def ci(self) -> np.ndarray:
        """95 % Clopper–Pearson intervals, shape (len(sizes), 2)."""
        return np.array([r.ci for r in self.results])

    @property
    def label(self) -> str:
        if self.along is None:
            return f"rows per {self.within}"
        return f"levels of {self.along}" + ("" if self.within is None else f" per {self.within}")

    def table(self, level: float = 0.95) -> pd.DataFrame:
        """size, nrow, successes, nsim, power, lower, upper (one row per size)."""
        rows = [(n, r.nrow, r.successes, r.nsim, r.power, *r.confint(level)) for n, r in zip(self.sizes, self.results)]
        return pd.DataFrame(rows, columns=["size", "nrow", "successes", "nsim", "power", "lower", "upper"])

    def smallest(self, target: float = 0.8) -> int | None:
        """The smallest size whose estimated power reaches ``target`` (None if none does)."""
        reached = [n for n, p in zip(self.sizes, self.power) if p >= target]
        return min(reached) if reached else None

    def summary(self) -> str:
        """As simr's ``print(powerCurve(...))``."""
        first: PowerResult = self.results[0]
        lines = [f"{first.title}, (95% confidence interval),", f"by {self.label}:"]
        lines += [f"{n:>7}: {r.interval_text()} - {r.nrow} rows" for n, r in zip(self.sizes, self.results)]
        elapsed = sum(r.elapsed for r in self.results)
        lines += ["", f"Time elapsed: {int(elapsed // 3600)} h {int(elapsed // 60) % 60} m {int(elapsed) % 60} s"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<PowerCurve over {self.label}: sizes {list(self.sizes)}>"

    def plot(self, ax=None, target: float | None = 0.8, level: float = 0.95):
        """Power against size with its Clopper–Pearson intervals (and a line at ``target``); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 4.4))
        table = self.table(level)
        x, y = table["size"].to_numpy(dtype=float), table["power"].to_numpy()
        ax.errorbar(x, y, yerr=[y - table["lower"], table["upper"] - y], fmt="o-", capsize=3, color="C0",
                    label=f"power ({100 * level:g}% interval)")
        if target is not None:
            ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"{100 * target:g}% power")
        if len(x) <= 15:
            ax.set_xticks(x, [str(n) for n in self.sizes])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(self.label)
        ax.set_ylabel("power")
        ax.set_title(self.results[0].title)
        ax.legend(loc="lower right")
        return ax


def power_curve(model, test: str, along: str | None = None, sizes=None, within=None, nsim: int = 1000,
                alpha: float = 0.05, seed=None, n_jobs: int = 1, progress: bool = True, effects: dict | None = None,
                ddf: str = "satterthwaite") -> PowerCurve:
    """Power at a range of sample sizes (simr's ``powerCurve``).

    Parameters
    ----------
    model : LmerFit or PowerDesign
    test : str
        As :func:`mixedmodels.power`.
    along : str, optional
        The factor whose number of levels is varied (per ``within`` cell when given).
    sizes : sequence of int
        Numbers of levels of ``along`` (or, without ``along``, rows per ``within`` cell).
        Smaller than the layout's: its first levels are kept; larger: levels are added by
        copying the existing ones (see :func:`mixedmodels.extend`).
    within : str or list of str, optional
    nsim, alpha, seed, n_jobs, progress, effects, ddf
        As :func:`mixedmodels.power`; each size gets its own seed spawned from ``seed``.

    Returns
    -------
    PowerCurve
        ``.power``, ``.ci``, ``.table()``, ``.smallest(0.8)``, ``.plot()``.
    """
    check_settings(nsim, alpha)
    if sizes is None or len(sizes) == 0:
        raise TypeError("power_curve needs sizes=[...] (levels of along, or rows per within cell)")
    sizes = [int(n) for n in sizes]
    spec = as_design(model).with_effects(effects)
    layouts = [resize_layout(spec.data, along, n, within) for n in sizes]  # every layout checked before simulating
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seeds = root.spawn(len(sizes))
    results = []
    for n, data, child in zip(sizes, layouts, seeds):
        results.append(power(spec.with_data(data), test, nsim=nsim, alpha=alpha, seed=child, n_jobs=n_jobs,
                             progress=progress, ddf=ddf))
    within_text = within if within is None or isinstance(within, str) else "+".join(within)
    return PowerCurve(sizes=sizes, results=results, along=along, within=within_text)
