"""Confidence intervals for the parameters of a linear mixed model (lme4's ``confint.merMod``).

Rows in lme4's order and names: the sd/cor parameters of each term (``sd_(Intercept)|Subject``,
``cor_Days.(Intercept)|Subject``, ...), ``sigma`` (lmer fits only), then the fixed effects; columns named from
the level (``2.5 %``, ``97.5 %``).

* ``"wald"``: β̂_j ± z_{(1+level)/2} SE(β̂_j) for fixed effects; NaN for variance parameters.
* ``"profile"``: likelihood-profile intervals, exact roots of ζ (:mod:`.profile`).
* ``"boot"``: percentiles of a parametric bootstrap (:mod:`.bootstrap`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .bootstrap import bootstrap
from .parameters import is_linear, sdcor_names
from .profile import interval_columns, profile, select_parameters

__all__ = ["confint"]


def confint(fit, method: str = "profile", level: float = 0.95, parm=None, nsim: int = 500, seed=None,
            n_jobs: int = 1, progress: bool = False) -> pd.DataFrame:
    """Confidence intervals by Wald, likelihood profile or parametric bootstrap.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
        A GLMM's profile is that of its Laplace/AGQ deviance over (sd/cor, β) (:mod:`.profile`).
    method : {"profile", "wald", "boot"}
        lme4's default is ``"profile"``.
    level : float
        Coverage, in (0, 1).
    parm : sequence of str, "theta_" or "beta_", optional
        Parameters to report (lme4's ``parm``); all by default.
    nsim, seed, n_jobs, progress
        Bootstrap replicates, seed, worker processes and progress bar (``method="boot"``).

    Returns
    -------
    DataFrame
        Indexed by parameter, columns e.g. ``2.5 %`` and ``97.5 %``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), not {level!r}")
    method = method.lower()
    names = sdcor_names(fit) + list(fit.spec.fixed.column_names)
    n_beta = len(fit.solution.beta)
    chosen = select_parameters(names, n_beta, parm)
    columns = interval_columns(level)
    if method == "wald":
        z = stats.norm.ppf((1 + level) / 2)
        se = np.sqrt(np.diag(fit.solution.vcov_beta))
        table = pd.DataFrame(np.nan, index=names, columns=columns)
        table.iloc[len(names) - n_beta:, 0] = fit.solution.beta - z * se
        table.iloc[len(names) - n_beta:, 1] = fit.solution.beta + z * se
        return table.loc[chosen]
    if method == "profile":
        return profile(fit, which=chosen, level=max(level, 0.99)).confint(level)
    if method == "boot":
        replicates = bootstrap(fit, nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        alpha = (1 - level) / 2
        quantiles = np.nanquantile(replicates[chosen].to_numpy(), [alpha, 1 - alpha], axis=0)
        return pd.DataFrame(quantiles.T, index=chosen, columns=columns)
    raise ValueError(f"method must be 'profile', 'wald' or 'boot', not {method!r}")
