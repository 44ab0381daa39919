"""``lmer`` on data larger than memory: two passes over the chunks, then the fit on A alone.

    pass 1   per chunk: column kinds, na.omit counts, levels present   → merged (tree reduce)
    plan     global levels → templates of X and Z (same columns in every chunk)
    pass 2   per chunk: A_c = [Z X y]ᵀ[Z X y] of its rows             → A = Σ_c A_c (tree reduce)
    rank     aliased columns of X found on XᵀX (R's rule), removed from A
    fit      DevianceProblem(A) + BOBYQA, as :func:`mixedmodels.lmm.fit_problem`

Chunks are the partitions of a Dask DataFrame (reduced by Dask, on whatever cluster the client
points at: nothing but summaries and A comes back) or, without Dask, the row groups of Parquet
files read one at a time with pyarrow behind a progress bar, so memory is bounded by a row group
and by A, not by n.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import scipy.linalg as la

from ..blocks import CrossProducts
from ..design import used_columns
from ..design.fixed import _aliased_columns
from ..design.random import RandomTerm
from ..errors import DesignError, FormulaError
from ..formula import parse_formula
from ..lmm import fit_problem
from ..objective import DevianceProblem
from .chunks import ChunkPlan, ChunkRows, add_cross_products, make_plan
from .levels import ChunkSummary, ModelColumns, global_levels, summarise_chunk
from .results import LargeDataDesign, LargeLmerFit
from .runners import DaskRunner, LocalRunner, active_client
from .sources import is_dask_frame, parquet_source

__all__ = ["fit_large"]


def _runner(data, client, progress: bool):
    client = client if client is not None else active_client()
    if is_dask_frame(data):
        return DaskRunner(data, client)
    source = parquet_source(data)
    if client is not None:
        import dask.dataframe as dd

        return DaskRunner(dd.read_parquet([str(f) for f in source.files]), client, source=source)
    return LocalRunner(source, progress)


def _drop_aliased(cross: CrossProducts, q_r: int, p: int) -> tuple[CrossProducts, np.ndarray]:
    """Columns of X that R's ``qr(X)`` would set aside, found from XᵀX; A without them.

    Any R with RᵀR = XᵀX has the column dependencies of X; R = diag(√s) Vᵀ from XᵀX = V diag(s) Vᵀ.
    """
    gram = cross.C[q_r:q_r + p, q_r:q_r + p]
    s, V = la.eigh(gram)
    aliased = _aliased_columns(np.sqrt(np.clip(s, 0.0, None))[:, None] * V.T) if p else np.empty(0, np.intp)
    if not aliased.size:
        return cross, aliased
    keep_w = np.setdiff1d(np.arange(p + 1), aliased)
    keep_c = np.concatenate([np.arange(q_r), q_r + keep_w])
    return replace(cross, C=cross.C[np.ix_(keep_c, keep_c)], Bw=cross.Bw[keep_w]), aliased


def _term_crossprods(cross: CrossProducts, plan: ChunkPlan, problem: DevianceProblem) -> list[np.ndarray]:
    """Σ_i z_i z_iᵀ of each term, read off the diagonal blocks of A."""
    out = [cross.D0.sum(axis=0)]
    for sl, p, l in zip(problem.rest.slices, problem.rest.sizes, problem.rest.n_levels):
        block = cross.C[sl, sl].reshape(l, p, l, p)
        out.append(np.einsum("iaib->ab", block))
    return out


def fit_large(formula: str, data, reml: bool = True, weights=None, offset=None, *, data_name: str | None = None,
              client=None, progress: bool = True) -> LargeLmerFit:
    """Fit a linear mixed model to a Dask DataFrame or Parquet files, as :func:`mixedmodels.lmer`.

    Parameters
    ----------
    formula, reml, data_name
        As :func:`mixedmodels.lmer`.
    data : Dask DataFrame, or str / Path / list of them
        A Parquet file (``.parquet``/``.pq``), a directory of them or a glob.
    weights, offset : str, optional
        Column names (vectors cannot be aligned with data that are not in memory).
    client : dask.distributed.Client, optional
        Cluster to run the passes on; default: the active client, if any. Parquet files without
        a client are read row group by row group in this process.
    progress : bool
        Progress bar of the row-group passes (Parquet without Dask).

    Returns
    -------
    LargeLmerFit
        θ̂, β̂, σ̂, the criterion and everything computed from A equal the in-memory fit of the
        same rows: to the last bit from Parquet without Dask (row groups added in row order), up
        to the rounding of A's sums from a Dask reduction.

    Raises
    ------
    DesignError
        Not Parquet, columns of different types in different chunks, levels outside the declared
        categories, no rows, too many levels for the data.
    """
    parsed = parse_formula(formula)
    if not parsed.random:
        raise FormulaError(f"no random-effects terms in {formula!r}; add a term such as (1 | group)")
    for what, value in (("weights", weights), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise DesignError(f"{what} must be a column name for data larger than memory, not {type(value).__name__}")
    runner = _runner(data, client, progress)
    for what, value in (("weights", weights), ("offset", offset)):
        if value is not None and value not in runner.columns:
            raise DesignError(f"{what}: no column named {value!r} in the data")
    cols = ModelColumns(used_columns(parsed, runner.columns), weights, offset,
                        list(dict.fromkeys(spec.group for spec in parsed.random)))
    missing = [p for p in cols.group_parts if p not in runner.columns]
    if missing:
        raise FormulaError(f"grouping factor column(s) {missing} not in the data")

    summary = runner.reduce(summarise_chunk, cols, cols.read, ChunkSummary.__add__, "reading levels")
    if summary.n_rows == 0:
        raise DesignError(f"no rows left after removing {summary.n_dropped} rows with missing values in {cols.used}")
    if summary.n_dropped:
        warnings.warn(f"{summary.n_dropped} row(s) with missing values removed (na.omit)", UserWarning, stacklevel=3)
    levels, ordered, groups = global_levels(summary, cols, runner.declared_categories(cols))
    plan = make_plan(parsed, cols, summary, levels, ordered, groups)
    n = summary.n_rows
    for term in plan.terms:
        size, p_k = len(term.labels), term.z_design.X.shape[1]
        if size >= n:
            raise DesignError(f"number of levels of grouping factor {term.spec.group!r} ({size}) must be < "
                              f"number of observations ({n}); each level needs more than one row")
        if p_k > 1 and size * p_k >= n:
            raise DesignError(f"number of observations ({n}) <= number of random effects ({size * p_k}) for "
                              f"term {term.spec}; the random-effects parameters and the residual variance are "
                              "probably unidentifiable")

    if isinstance(runner, LocalRunner):  # one running sum in this process, row groups added in order
        cross = runner.reduce(_chunk_rows, plan, cols.read, _add_rows, "forming A",
                              initial=plan.accumulator(n)).result()
    else:
        cross = runner.reduce(_chunk_cross_products, plan, cols.read, add_cross_products, "forming A")
    sizes = [t.z_design.X.shape[1] for t in plan.terms]
    n_levels = [len(t.labels) for t in plan.terms]
    q_r = sum(s * l for s, l in zip(sizes[1:], n_levels[1:]))
    p_full = plan.fixed.X.shape[1]
    cross, aliased = _drop_aliased(cross, q_r, p_full)
    fixed = plan.fixed
    if aliased.size:
        k = aliased.size
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {k} "
                      f"{'column / coefficient' if k == 1 else 'columns / coefficients'}", UserWarning, stacklevel=3)
    kept = np.setdiff1d(np.arange(p_full), aliased)
    fixed = replace(fixed, X=np.empty((0, kept.size), order="F"), column_names=[fixed.column_names[j] for j in kept],
                    assign=fixed.assign[kept], dropped=[fixed.column_names[j] for j in aliased],
                    _kept=fixed._kept[kept])
    problem = DevianceProblem(cross, sizes, n_levels, kept.size, reml=reml)
    terms = [RandomTerm(spec=t.spec, name=t.spec.group, levels=t.labels, codes=np.empty(0, np.int64),
                        z=np.empty((0, s)), z_design=t.z_design) for t, s in zip(plan.terms, sizes)]
    design = LargeDataDesign(formula=parsed, fixed=fixed, terms=terms, weights=weights, offset=offset, nobs=n,
                             n_dropped=summary.n_dropped, zz=_term_crossprods(cross, plan, problem))
    name = data_name if data_name is not None else runner.name
    fit = fit_problem(design, problem, name)
    return LargeLmerFit(design=design, problem=problem, optimum=fit.optimum, solution=fit.solution,
                        data_name=fit.data_name, source=runner.data, plan=replace(plan, fixed=fixed))


def _chunk_cross_products(frame, plan: ChunkPlan, where: str):
    return plan.cross_products(frame, where)


def _chunk_rows(frame, plan: ChunkPlan, where: str):
    return plan.rows(frame, where)


def _add_rows(accumulator, rows: ChunkRows | None):
    return accumulator if rows is None else rows.add_to(accumulator)
