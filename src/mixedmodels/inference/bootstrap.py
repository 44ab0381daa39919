"""Parametric bootstrap of a linear mixed model (lme4's ``bootMer``, MixedModels.jl ``parametricbootstrap``).

Each replicate simulates y* from the fitted model (:mod:`mixedmodels.simulate`) and refits the
same model to it. Only y changes, so of A = [Z X y]ᵀ[Z X y] only the y-row changes:

    Z_0ᵀ y*,  Z_rᵀ y*,  Xᵀ y*,  y*ᵀ y*        (one sparse product for a batch of replicates)

and each refit costs one optimisation, started at θ̂ and without the finite-difference checks.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from ..blocks import CrossProducts
from ..control import DEFAULT_CONTROL
from ..fitting import fit_problem
from ..objective import DevianceProblem
from ..sources import with_responses
from .parameters import sdcor_names, sdcor_of_theta

__all__ = ["bootstrap", "default_statistic", "default_names", "ResponseRefitter"]



def default_statistic(fit) -> np.ndarray:
    """β̂, then the sd/cor parameters and σ̂ (names: :func:`default_names`).

    Plain arrays: building pandas objects would cost as much as the refit itself.
    """
    return np.concatenate([fit.solution.beta, sdcor_of_theta(fit.problem.layout, fit.optimum.theta, fit.sigma)])


def default_names(fit) -> list[str]:
    """Names of :func:`default_statistic`: fixed effects, then lme4's ``sd_(Intercept)|Subject``, ..., ``sigma``."""
    return list(fit.spec.fixed.column_names) + sdcor_names(fit)


class ResponseRefitter:
    """Refit one model to new responses, reusing every part of A that does not involve y."""

    def __init__(self, fit):
        self.fit = fit

    def cross_products(self, Y: np.ndarray) -> list[CrossProducts]:
        """The cross-products of A for each column of Y (n × k, rows in memory)."""
        return with_responses(self.fit.problem.cross, *self.fit.rows.response_products(self.fit, Y))

    def refit(self, y: np.ndarray | None, cross: CrossProducts):
        """The fit of the same model to response ``y`` (None: not in memory) whose cross-products are ``cross``."""
        problem = self.fit.problem
        new_problem = DevianceProblem(cross, problem.layout.sizes, problem.term_levels, problem.p, reml=problem.reml)
        rows = self.fit.rows.with_response(y) if y is not None else None
        # each refit starts at θ̂ of the original fit, so a small first step suffices
        return fit_problem(self.fit.spec, new_problem, rows, self.fit.data_name, check=False, theta0=self.fit.theta,
                           warn=False, initial_step=DEFAULT_CONTROL.refit_initial_step)


def _run_batch(refitter: ResponseRefitter, Y: np.ndarray | None, g: np.ndarray, yy: np.ndarray,
               statistic) -> tuple[list, int]:
    rows, failures = [], 0
    for s, cross in enumerate(with_responses(refitter.fit.problem.cross, g, yy)):
        try:
            rows.append(np.asarray(statistic(refitter.refit(None if Y is None else Y[:, s], cross)), dtype=float))
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):
            rows.append(None)
            failures += 1
    return rows, failures


def bootstrap(fit, nsim: int = 1000, statistic=None, seed=None, n_jobs: int = 1, progress: bool = True,
              use_re: bool = True) -> pd.DataFrame:
    """Parametric bootstrap: statistics of the model refitted to responses simulated from it.

    Parameters
    ----------
    fit : LmerFit
    nsim : int
        Number of replicates.
    statistic : callable, optional
        ``LmerFit -> Series or array`` (lme4's ``FUN``); default :func:`default_statistic`
        (β̂, sd/cor parameters, σ̂). Must be picklable when ``n_jobs > 1``.
    seed : int, numpy Generator or None
        The same seed gives the same replicates, whatever ``n_jobs``.
    n_jobs : int
        Worker processes (``-1``: all cores).
    progress : bool
        Show a tqdm progress bar (``tqdm.auto``, so also in Jupyter).
    use_re : bool
        Draw new random effects (True, bootMer's default) or keep b̂ (see :func:`mixedmodels.simulate.simulate`).

    Returns
    -------
    DataFrame
        ``nsim`` rows (replicates), one column per statistic; a replicate whose refit failed is
        a row of NaN (counted in a warning). ``.attrs["t0"]`` holds the statistic of ``fit``.
    """
    from tqdm.auto import tqdm

    if int(nsim) != nsim or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
    nsim = int(nsim)
    if statistic is None:
        statistic = default_statistic
        t0 = pd.Series(default_statistic(fit), index=default_names(fit))
    else:
        t0 = statistic(fit)
    names = list(t0.index) if isinstance(t0, pd.Series) else [f"t{i + 1}" for i in range(np.size(t0))]
    refitter = ResponseRefitter(fit)
    rng = np.random.default_rng(seed)
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    rows, failures = [], 0
    with tqdm(total=nsim, disable=not progress, desc="bootstrap") as bar:
        if n_jobs == 1:
            for batch in fit.rows.simulated_products(fit, nsim, rng, use_re):
                batch_rows, batch_failures = _run_batch(refitter, *batch, statistic)
                rows += batch_rows
                failures += batch_failures
                bar.update(len(batch_rows))
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                futures = [pool.submit(_run_batch, refitter, *batch, statistic)
                           for batch in fit.rows.simulated_products(fit, nsim, rng, use_re)]
                for future in futures:
                    batch_rows, batch_failures = future.result()
                    rows += batch_rows
                    failures += batch_failures
                    bar.update(len(batch_rows))
    if failures:
        warnings.warn(f"{failures} of {nsim} bootstrap refits failed; their rows are NaN", UserWarning, stacklevel=2)
    values = np.array([np.full(len(names), np.nan) if r is None else r for r in rows])
    table = pd.DataFrame(values, columns=names)
    table.attrs["t0"] = t0
    return table
