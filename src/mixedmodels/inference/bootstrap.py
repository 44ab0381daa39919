"""Parametric bootstrap of a linear or generalized linear mixed model (lme4's ``bootMer``, MixedModels.jl
``parametricbootstrap``).

A GLMM replicate simulates y* from its family (``GlmerFit.simulate``) and refits from the
estimates (:func:`mixedmodels.glmm.fit.refit`). For a linear model:

Each replicate simulates y* from the fitted model (:mod:`mixedmodels.simulate`) and refits the
same model to it. Only y changes, so of A = [Z X y]ᵀ[Z X y] only the y-row changes:

    Z_0ᵀ y*,  Z_rᵀ y*,  Xᵀ y*,  y*ᵀ y*        (one sparse product for a batch of replicates)

and each refit costs one optimisation, started at θ̂ and without the finite-difference checks.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from ..blocks import CrossProducts
from ..control import DEFAULT_CONTROL
from ..fitting import fit_problem
from ..objective import DevianceProblem
from ..sources import with_responses
from .parameters import is_linear, sdcor_names, sdcor_of_theta

__all__ = ["bootstrap", "default_statistic", "default_names", "ResponseRefitter", "refit_batch", "refit_replicates",
           "glmm_replicates"]


def default_statistic(fit) -> np.ndarray:
    """β̂, then the sd/cor parameters and σ̂ (a GLMM: the nbinom1 dispersion, or nothing) (names:
    :func:`default_names`).

    Plain arrays: building pandas objects would cost as much as the refit itself.
    """
    values = sdcor_of_theta(fit.problem.layout, fit.theta, fit.sigma)
    if not is_linear(fit):  # a GLMM: no σ among its parameters, a jointly estimated dispersion instead
        values = np.r_[values[:-1], [fit.dispersion] * fit.problem.n_extra]
    return np.concatenate([fit.solution.beta, values])


def default_names(fit) -> list[str]:
    """Names of :func:`default_statistic`: fixed effects, then lme4's ``sd_(Intercept)|Subject``, ..., ``sigma``."""
    return list(fit.spec.fixed.column_names) + sdcor_names(fit)


class ResponseRefitter:
    """Refit one model to new responses, reusing every part of A that does not involve y.

    Parameters
    ----------
    spec : ModelSpec
    problem : DevianceProblem
        The model's criterion; each refit replaces the y-row of its A.
    rows : row handle
        The rows (:mod:`mixedmodels.sources`); a refit's rows carry the new response.
    theta0 : ndarray
        Where each refit starts: θ̂ of the fit (bootstrap), the true θ (power simulations).
    data_name : str
    check : bool
        lme4's convergence checks after each refit (off for the bootstrap).
    """

    def __init__(self, spec, problem: DevianceProblem, rows, theta0: np.ndarray, data_name: str = "",
                 check: bool = False):
        self.spec, self.problem, self.rows, self.data_name = spec, problem, rows, data_name
        self.theta0, self.check = np.array(theta0, dtype=float), bool(check)

    @classmethod
    def from_fit(cls, fit) -> "ResponseRefitter":
        """Refits of ``fit``'s model started at its θ̂, without convergence checks."""
        return cls(fit.spec, fit.problem, fit.rows, fit.theta, fit.data_name)

    def cross_products(self, Y: np.ndarray) -> list[CrossProducts]:
        """The cross-products of A for each column of Y (n × k, rows in memory)."""
        return with_responses(self.problem.cross, *self.rows.response_products(None, Y))  # in memory: no fit needed

    def refit(self, y: np.ndarray | None, cross: CrossProducts):
        """The fit of the same model to response ``y`` (None: not in memory) whose cross-products are ``cross``."""
        problem = self.problem
        new_problem = DevianceProblem(cross, problem.layout.sizes, problem.term_levels, problem.p, reml=problem.reml,
                                       structures=problem.layout.structures)
        rows = self.rows.with_response(y) if y is not None else None
        # each refit starts at a nearby optimum (θ̂, or the truth), so a small first step suffices
        return fit_problem(self.spec, new_problem, rows, self.data_name, check=self.check, theta0=self.theta0,
                           warn=False, initial_step=DEFAULT_CONTROL.refit_initial_step)


def refit_batch(refitter: ResponseRefitter, Y: np.ndarray | None, g: np.ndarray, yy: np.ndarray,
                statistic) -> tuple[list, int]:
    """``statistic`` of the refit to each simulated response of a batch (None where it failed), and the failures.

    ``g`` and ``yy`` are the batch's y-rows of A (:meth:`mixedmodels.sources.InMemoryRows.response_products`).
    """
    rows, failures = [], 0
    for s, cross in enumerate(with_responses(refitter.problem.cross, g, yy)):
        try:
            rows.append(np.asarray(statistic(refitter.refit(None if Y is None else Y[:, s], cross)), dtype=float))
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):
            rows.append(None)
            failures += 1
    return rows, failures


def refit_replicates(refitter: ResponseRefitter, batches, nsim: int, statistic, n_jobs: int = 1,
                     progress: bool = True, desc: str = "bootstrap") -> tuple[list, int]:
    """:func:`refit_batch` of every batch ``(Y, g, yy)``, in order, on ``n_jobs`` processes, with a progress bar.

    The batches are drawn here, in the calling process, so the replicates do not depend on
    ``n_jobs``; at most two batches per worker are drawn ahead. Returns the statistics of the
    ``nsim`` replicates (None for a failed refit) and the number of failures.
    """
    from tqdm.auto import tqdm

    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    rows: list = []
    failures = 0
    with tqdm(total=nsim, disable=not progress, desc=desc) as bar:

        def collect(batch: tuple[list, int]) -> None:
            nonlocal failures
            rows.extend(batch[0])
            failures += batch[1]
            bar.update(len(batch[0]))

        if n_jobs == 1:
            for batch in batches:
                collect(refit_batch(refitter, *batch, statistic))
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                pending: deque = deque()
                for batch in batches:
                    pending.append(pool.submit(refit_batch, refitter, *batch, statistic))
                    while len(pending) >= 2 * n_jobs or (pending and pending[0].done()):
                        collect(pending.popleft().result())
                for future in pending:
                    collect(future.result())
    return rows, failures


GLMM_BATCH = 50  # GLMM replicates simulated together (fixed: a seed gives the same draws)


def glmm_replicates(fit, nsim: int, rng: np.random.Generator, use_re: bool, statistic,
                    progress: bool = True) -> tuple[list, int]:
    """``statistic`` of GLMM refits to responses drawn from the fitted family (``GlmerFit.simulate``),
    each started at the estimates (``GlmerFit.refit``, :func:`mixedmodels.glmm.fit.refit`), in this
    process; None for a failed refit. Returns the statistics and the number of failures."""
    from tqdm.auto import tqdm

    rows: list = []
    failures = 0
    with tqdm(total=nsim, disable=not progress, desc="bootstrap") as bar:
        for start in range(0, nsim, GLMM_BATCH):
            Y = fit.simulate(min(GLMM_BATCH, nsim - start), seed=rng, use_re=use_re).to_numpy()
            for s in range(Y.shape[1]):
                try:
                    rows.append(np.asarray(statistic(fit.refit(Y[:, s])), dtype=float))
                except (np.linalg.LinAlgError, ValueError, ArithmeticError):
                    rows.append(None)
                    failures += 1
                bar.update(1)
    return rows, failures


def bootstrap(fit, nsim: int = 1000, statistic=None, seed=None, n_jobs: int = 1, progress: bool = True,
              use_re: bool = True) -> pd.DataFrame:
    """Parametric bootstrap: statistics of the model refitted to responses simulated from it.

    Parameters
    ----------
    fit : LmerFit or GlmerFit
    nsim : int
        Number of replicates.
    statistic : callable, optional
        ``LmerFit -> Series or array`` (lme4's ``FUN``); default :func:`default_statistic`
        (β̂, sd/cor parameters, σ̂). Must be picklable when ``n_jobs > 1``.
    seed : int, numpy Generator or None
        The same seed gives the same replicates, whatever ``n_jobs``.
    n_jobs : int
        Worker processes (``-1``: all cores); a GLMM's replicates run in this process.
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
    from ..results import require_independent_residuals

    require_independent_residuals(fit, "the parametric bootstrap")
    if int(nsim) != nsim or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, not {nsim!r}")
    nsim = int(nsim)
    if statistic is None:
        statistic = default_statistic
        t0 = pd.Series(default_statistic(fit), index=default_names(fit))
    else:
        t0 = statistic(fit)
    names = list(t0.index) if isinstance(t0, pd.Series) else [f"t{i + 1}" for i in range(np.size(t0))]
    if is_linear(fit):
        batches = fit.rows.simulated_products(fit, nsim, np.random.default_rng(seed), use_re)
        rows, failures = refit_replicates(ResponseRefitter.from_fit(fit), batches, nsim, statistic, n_jobs, progress)
    else:
        rows, failures = glmm_replicates(fit, nsim, np.random.default_rng(seed), use_re, statistic, progress)
    if failures:
        warnings.warn(f"{failures} of {nsim} bootstrap refits failed; their rows are NaN", UserWarning, stacklevel=2)
    values = np.array([np.full(len(names), np.nan) if r is None else r for r in rows])
    table = pd.DataFrame(values, columns=names)
    table.attrs["t0"] = t0
    return table
