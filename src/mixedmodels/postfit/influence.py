"""Deletion diagnostics: refit without each observation or each group (lme4's ``influence.merMod``).

For each deleted unit i (a row, or all rows of one level of ``group``) the model is refitted to
the remaining rows, by the same criterion (REML or ML), starting from θ̂ of the full fit (glmer
fits: by glmer's two stages from its own start). With
β̂ the full fit's fixed effects, β̂₍₋ᵢ₎ the refit's, V̂ = Var(β̂) of the full fit, V̂₍₋ᵢ₎ the refit's,
n the number of deleted units and p the number of fixed effects (lme4 1.1-27+, via ``car``):

    dfbeta_i  = β̂₍₋ᵢ₎ − β̂
    dfbetas_i = dfbeta_i / sqrt(diag V̂₍₋ᵢ₎)
    D_i       = (n − p) / (n p) · dfbeta_iᵀ V̂⁻¹ dfbeta_i       (Cook's distance)

The refits run in ``n_jobs`` worker processes (one BLAS thread each) with a tqdm progress bar.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Influence", "influence"]


@dataclass(frozen=True)
class Influence:
    """Deletion diagnostics of a fit (see the module docstring).

    Attributes
    ----------
    group : str                   the deleted unit ("case" for single rows)
    fixef : Series                β̂ of the full fit
    fixef_deleted : DataFrame     β̂₍₋ᵢ₎, one row per deleted unit
    vcov : DataFrame              V̂ of the full fit
    se_deleted : DataFrame        sqrt(diag V̂₍₋ᵢ₎), one row per deleted unit
    converged : Series            whether each refit met lme4's convergence checks
    n_evaluations : Series        objective evaluations of each refit
    """

    group: str
    fixef: pd.Series
    fixef_deleted: pd.DataFrame
    vcov: pd.DataFrame
    se_deleted: pd.DataFrame = field(repr=False)
    converged: pd.Series = field(repr=False)
    n_evaluations: pd.Series = field(repr=False)

    @property
    def dfbeta(self) -> pd.DataFrame:
        """β̂₍₋ᵢ₎ − β̂."""
        return self.fixef_deleted - self.fixef

    @property
    def dfbetas(self) -> pd.DataFrame:
        """(β̂₍₋ᵢ₎ − β̂) / sqrt(diag V̂₍₋ᵢ₎), lme4's ``dfbetas(influence(...))``."""
        return self.dfbeta / self.se_deleted

    @property
    def cooks_distance(self) -> pd.Series:
        """(n − p)/(n p) · dfbetaᵀ V̂⁻¹ dfbeta, lme4's ``cooks.distance(influence(...))``."""
        db = self.dfbeta.to_numpy()
        n, p = db.shape
        inverse = np.linalg.inv(self.vcov.to_numpy())
        values = (n - p) / (n * p) * np.einsum("ij,jk,ik->i", db, inverse, db)
        return pd.Series(values, index=self.fixef_deleted.index, name="cooks_distance")


class _Refitter:
    """Refit the model of ``fit`` to a subset of its rows, from θ̂ (picklable for the worker processes)."""

    def __init__(self, fit):
        design = fit.design
        self.formula, self.frame, self.reml = fit.formula, design.frame, fit.reml
        self.weights, self.offset, self.theta = design.weights, design.offset, fit.theta
        self.names = list(design.fixed.column_names)
        self.family, self.n_agq = getattr(fit, "family", None), getattr(fit, "n_agq", 1)

    def refit(self, keep: np.ndarray):
        """(β̂, se(β̂), converged, evaluations) of the refit to the rows ``keep``, aligned to the full fit's names."""
        from ..fitting import fit_problem, problem_of
        from ..glmm import glmer
        from ..sources import FrameSource

        weights = None if self.weights is None else self.weights[keep]
        offset = None if self.offset is None else self.offset[keep]
        if self.family is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lme4 suppresses the refits' warnings too
                refit = glmer(self.formula, self.frame.loc[keep], family=self.family, nAGQ=self.n_agq,
                              weights=weights, offset=offset)
        else:
            spec, cross, rows = FrameSource(self.frame.loc[keep]).model(self.formula, weights, offset)
            refit = fit_problem(spec, problem_of(spec, cross, self.reml), rows, theta0=self.theta, warn=False)
        names = refit.spec.fixed.column_names
        beta = pd.Series(refit.solution.beta, index=names).reindex(self.names)
        se = pd.Series(np.sqrt(np.diag(refit.solution.vcov_beta)), index=names).reindex(self.names)
        return beta.to_numpy(), se.to_numpy(), refit.converged, refit.optimum.n_evaluations

    def run(self, masks: list[np.ndarray]) -> list:
        """Refits of one worker process, with one BLAS thread: the processes are the parallelism
        (each refit would otherwise see the idle core of a machine whose other workers are still
        starting and take BLAS threads too: 2 workers × 2 threads on 2 cores spin, InstEval's
        14 group deletions took 337 s of CPU instead of about 40)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return [self.refit(keep) for keep in masks]


def _units(fit, group: str | None) -> tuple[list, list[np.ndarray]]:
    """Labels of the deleted units (order of first appearance, as R's ``unique``) and the rows each keeps."""
    frame = fit.design.frame
    if group is None:
        labels = list(frame.index)
        n = len(frame)
        return labels, [np.arange(n) != i for i in range(n)]
    if not isinstance(group, str):
        raise TypeError(f"group must be a column name or None, not {type(group).__name__}")
    if group not in frame.columns:
        raise ValueError(f"group: no column named {group!r} in the data of the fit")
    values = frame[group].astype(str).to_numpy() if isinstance(frame[group].dtype, pd.CategoricalDtype) \
        else frame[group].to_numpy()
    labels = list(pd.unique(values))
    if len(labels) < 2:
        raise ValueError(f"group {group!r} has a single value; deleting it leaves no data")
    return labels, [values != label for label in labels]


def influence(fit, group: str | None = None, n_jobs: int = 1, progress: bool = True) -> Influence:
    """Refit without each observation (``group=None``) or each level of ``group`` (lme4's ``influence``).

    Parameters
    ----------
    fit : LmerFit or GlmerFit
        lmer refits start from θ̂ (lme4's ``start``); glmer refits run glmer's two stages from
        its default start (this package's glmer takes no start values), to the same optimum.
    group : str, optional
        A column of the data whose levels are deleted one at a time (lme4's ``groups``).
    n_jobs : int
        Worker processes (``-1``: all cores).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    Influence
        ``.cooks_distance``, ``.dfbetas``, ``.dfbeta``, the refits' fixed effects and convergence.

    Raises
    ------
    ValueError
        An out-of-memory (Parquet/Dask) fit, an unknown column, a group with one value.
    """
    from ..results import require_independent_residuals

    require_independent_residuals(fit, "influence()")
    from tqdm.auto import tqdm

    if not fit.in_memory:
        raise ValueError("influence() needs the data in memory; this fit (Parquet/Dask) does not hold them")
    labels, masks = _units(fit, group)
    refitter = _Refitter(fit)
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    results = []
    with tqdm(total=len(masks), disable=not progress, desc="influence") as bar:
        if n_jobs == 1:
            for keep in masks:
                results.append(refitter.refit(keep))
                bar.update(1)
        else:
            size = max(1, -(-len(masks) // (4 * n_jobs)))
            chunks = [masks[i:i + size] for i in range(0, len(masks), size)]
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                for chunk_results in pool.map(refitter.run, chunks):
                    results += chunk_results
                    bar.update(len(chunk_results))
    names = refitter.names
    index = pd.Index(labels, name=group or "case")
    return Influence(group=group or "case", fixef=fit.fixef, vcov=fit.vcov,
                     fixef_deleted=pd.DataFrame([r[0] for r in results], index=index, columns=names),
                     se_deleted=pd.DataFrame([r[1] for r in results], index=index, columns=names),
                     converged=pd.Series([r[2] for r in results], index=index, name="converged"),
                     n_evaluations=pd.Series([r[3] for r in results], index=index, name="n_evaluations"))
