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

import dataclasses
import os
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..blocks import CrossProducts, term_matrix
from ..lmm import fit_problem
from ..objective import DevianceProblem
from ..simulate import simulate_responses
from .parameters import is_linear, sdcor_names, sdcor_of_theta

__all__ = ["bootstrap", "default_statistic", "default_names", "ResponseRefitter", "GlmmRefitter"]

REFIT_INITIAL_STEP = 0.05  # BOBYQA's first step for refits from θ̂ (70 → 47 evaluations for sleepstudy)

BATCH = 50  # replicates simulated together; fixed, so a seed gives the same draws for any n_jobs


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
    return list(fit.design.fixed.column_names) + sdcor_names(fit)


class ResponseRefitter:
    """Refit one model to new responses, reusing every part of A that does not involve y."""

    def __init__(self, fit):
        design = self.design = fit.design
        self.fit = fit
        root = None if design.weights is None else np.sqrt(design.weights)
        self.root = root
        weighted = [t.z if root is None else t.z * root[:, None] for t in design.terms]
        X = design.X if root is None else design.X * root[:, None]
        blocks = [term_matrix(t.codes, z, t.n_levels).T for t, z in zip(design.terms, weighted)]
        # rows: Z_0ᵀ, Z_rᵀ, Xᵀ — the y-column of A is this times y*
        self.G = sp.vstack(blocks + [sp.csr_matrix(X.T)], format="csr")
        self.q0 = blocks[0].shape[0]
        self.p = X.shape[1]

    def cross_products(self, Y: np.ndarray) -> list[CrossProducts]:
        """The cross-products of A for each column of Y (n × k)."""
        base = self.fit.problem.cross
        V = Y if self.design.offset is None else Y - self.design.offset[:, None]
        if self.root is not None:
            V = V * self.root[:, None]
        g = self.G @ V
        yy = np.einsum("ij,ij->j", V, V)
        out = []
        for s in range(Y.shape[1]):
            Bw = base.Bw.copy()
            Bw[-1] = g[:self.q0, s].reshape(Bw.shape[1:])
            C = base.C.copy()
            C[:-1, -1] = C[-1, :-1] = g[self.q0:, s]
            C[-1, -1] = yy[s]
            out.append(dataclasses.replace(base, Bw=Bw, C=C))
        return out

    def refit(self, y: np.ndarray, cross: CrossProducts):
        """The fit of the same model to response ``y`` whose cross-products are ``cross``."""
        problem = self.fit.problem
        new_problem = DevianceProblem(cross, problem.layout.sizes, problem.term_levels, problem.p, reml=problem.reml)
        design = dataclasses.replace(self.design, y=y)
        # each refit starts at θ̂ of the original fit, so a small first step suffices
        return fit_problem(design, new_problem, self.fit.data_name, check=False, theta0=self.fit.theta, warn=False,
                           initial_step=REFIT_INITIAL_STEP)


class GlmmRefitter:
    """Refit a GLMM to new responses (``GlmerFit.refit``, :func:`mixedmodels.glmm.fit.refit`); the same
    interface as :class:`ResponseRefitter`, with no cross-products to share."""

    def __init__(self, fit):
        self.fit = fit

    def cross_products(self, Y: np.ndarray) -> list[None]:
        return [None] * Y.shape[1]

    def refit(self, y: np.ndarray, cross=None):
        return self.fit.refit(y)


def _run_batch(refitter: ResponseRefitter, Y: np.ndarray, statistic) -> tuple[list, int]:
    rows, failures = [], 0
    for s, cross in enumerate(refitter.cross_products(Y)):
        try:
            rows.append(np.asarray(statistic(refitter.refit(Y[:, s], cross)), dtype=float))
        except (np.linalg.LinAlgError, ValueError, ArithmeticError):
            rows.append(None)
            failures += 1
    return rows, failures


def _batches(fit, nsim: int, rng: np.random.Generator, use_re: bool):
    for start in range(0, nsim, BATCH):
        size = min(BATCH, nsim - start)
        yield simulate_responses(fit, size, rng, use_re) if is_linear(fit) else \
            fit.simulate(size, seed=rng, use_re=use_re).to_numpy()


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
    refitter = ResponseRefitter(fit) if is_linear(fit) else GlmmRefitter(fit)
    rng = np.random.default_rng(seed)
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    rows, failures = [], 0
    with tqdm(total=nsim, disable=not progress, desc="bootstrap") as bar:
        if n_jobs == 1:
            for Y in _batches(fit, nsim, rng, use_re):
                batch_rows, batch_failures = _run_batch(refitter, Y, statistic)
                rows += batch_rows
                failures += batch_failures
                bar.update(Y.shape[1])
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                futures = [pool.submit(_run_batch, refitter, Y, statistic) for Y in _batches(fit, nsim, rng, use_re)]
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
