"""The source of data larger than memory: two passes over the chunks give the spec and A.

    pass 1   per chunk: column kinds, na.omit counts, levels present   → merged (tree reduce)
    plan     global levels → templates of X and Z (same columns in every chunk)
    pass 2   per chunk: A_c = [Z X y]ᵀ[Z X y] of its rows, and the unweighted row sums XᵀX, Σ zzᵀ
             → A = Σ_c A_c (tree reduce)
    rank     aliased columns of X found on XᵀX (R's rule), removed from A
    then     the same pipeline as data in memory (:func:`mixedmodels.lmer`)

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
from ..design.fixed import FixedTemplate, _aliased_columns
from ..design.random import TermTemplate
from ..design.spec import ModelSpec, RowSums
from ..errors import DesignError, FormulaError
from ..formula import parse_formula
from .chunks import ChunkPlan, ChunkRows, add_cross_products, make_plan
from .levels import ChunkSummary, ModelColumns, global_levels, summarise_chunk
from .rows import ChunkedRows
from .runners import DaskRunner, LocalRunner, active_client
from .sources import is_dask_frame, parquet_source

__all__ = ["ChunkedSource"]


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


class ChunkedSource:
    """Parquet files (row groups read in this process) or a Dask DataFrame (partitions reduced by Dask).

    Parameters
    ----------
    data : Dask DataFrame, or str / Path / list of them
        A Parquet file (``.parquet``/``.pq``), a directory of them or a glob.
    client : dask.distributed.Client, optional
        Cluster to run the passes on; default: the active client, if any. Parquet files without
        a client are read row group by row group in this process.
    progress : bool
        Progress bar of the row-group passes (Parquet without Dask).
    """

    def __init__(self, data, *, client=None, progress: bool = True):
        self.runner = _runner(data, client, progress)
        self.name = self.runner.name

    def model(self, formula: str, weights=None, offset=None):
        """``(spec, cross, rows)`` of ``formula``: two passes over the chunks (levels, then A).

        θ̂, β̂, σ̂, the criterion and everything computed from A and the spec equal the in-memory
        fit of the same rows: to the last bit from Parquet without Dask (row groups added in row
        order), up to the rounding of A's sums from a Dask reduction.

        Raises
        ------
        DesignError
            Not Parquet, columns of different types in different chunks, levels outside the declared
            categories, no rows, too many levels for the data; weights/offset not column names.
        """
        runner = self.runner
        parsed = parse_formula(formula)
        if not parsed.random:
            raise FormulaError(f"no random-effects terms in {formula!r}; add a term such as (1 | group)")
        for what, value in (("weights", weights), ("offset", offset)):
            if value is not None and not isinstance(value, str):
                raise DesignError(f"{what} must be a column name for data larger than memory, not "
                                  f"{type(value).__name__}")
            if value is not None and value not in runner.columns:
                raise DesignError(f"{what}: no column named {value!r} in the data; the data have: "
                                  f"{', '.join(map(str, runner.columns))}")
        cols = ModelColumns(used_columns(parsed, runner.columns), weights, offset,
                            list(dict.fromkeys(spec.group for spec in parsed.random)))
        missing = [p for p in cols.group_parts if p not in runner.columns]
        if missing:
            raise FormulaError(f"grouping factor column(s) {missing} not in the data")

        summary = runner.reduce(summarise_chunk, cols, cols.read, ChunkSummary.__add__, "reading levels")
        if summary.n_rows == 0:
            raise DesignError(f"no rows left after removing {summary.n_dropped} rows with missing values in "
                              f"{cols.used}")
        if summary.n_dropped:
            warnings.warn(f"{summary.n_dropped} row(s) with missing values removed (na.omit)", UserWarning,
                          stacklevel=4)
        levels, ordered, groups = global_levels(summary, cols, runner.declared_categories(cols))
        plan = make_plan(parsed, cols, summary, levels, ordered, groups)
        n = summary.n_rows
        for term in plan.terms:
            size, p_k = len(term.labels), term.z_design.n_columns
            if size >= n:
                raise DesignError(f"number of levels of grouping factor {term.spec.group!r} ({size}) must be < "
                                  f"number of observations ({n}); each level needs more than one row")
            if p_k > 1 and size * p_k >= n and not term.spec.separates_residual(p_k):
                raise DesignError(f"number of observations ({n}) <= number of random effects ({size * p_k}) for "
                                  f"term {term.spec}; the random-effects parameters and the residual variance are "
                                  "probably unidentifiable")

        if isinstance(runner, LocalRunner):  # one running sum in this process, row groups added in order
            accumulator, sums = runner.reduce(_chunk_rows, plan, cols.read, _add_rows, "forming A",
                                              initial=(plan.accumulator(n), None))
            cross = accumulator.result()
        else:
            cross, sums = runner.reduce(_chunk_cross_products, plan, cols.read, _add_pairs, "forming A")
        sizes = [t.z_design.n_columns for t in plan.terms]
        n_levels = [len(t.labels) for t in plan.terms]
        q_r = sum(s * l for s, l in zip(sizes[1:], n_levels[1:]))
        full = plan.fixed
        cross, aliased = _drop_aliased(cross, q_r, full.n_columns)
        if aliased.size:
            k = aliased.size
            warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {k} "
                          f"{'column / coefficient' if k == 1 else 'columns / coefficients'}", UserWarning,
                          stacklevel=4)
        kept = np.setdiff1d(np.arange(full.n_columns), aliased)
        fixed = FixedTemplate(column_names=[full.column_names[j] for j in kept], terms=full.terms,
                              assign=full.assign[kept], dropped=[full.column_names[j] for j in aliased],
                              _terms=full._terms, _kept=full._kept[kept], _context=full._context)
        terms = [TermTemplate(spec=t.spec, name=t.spec.group, levels=t.labels, z_design=t.z_design, coder=t.levels)
                 for t in plan.terms]
        spec = ModelSpec(formula=parsed, fixed=fixed, terms=terms, weights=weights, offset=offset, nobs=n,
                         n_dropped=summary.n_dropped, gram=sums.gram, xsum=sums.xsum, zz=sums.zz)
        return spec, cross, ChunkedRows(runner, replace(plan, fixed=fixed))


def _row_sums(rows: ChunkRows) -> RowSums:
    return RowSums.of_rows(rows.X, [t.z for t in rows.terms])


def _chunk_cross_products(frame, plan: ChunkPlan, where: str):
    rows = plan.rows(frame, where)
    if rows is None:
        return None
    return rows.add_to(plan.accumulator(len(rows.y))).result(), _row_sums(rows)


def _chunk_rows(frame, plan: ChunkPlan, where: str):
    return plan.rows(frame, where)


def _add_rows(total, rows: ChunkRows | None):
    accumulator, sums = total
    return total if rows is None else (rows.add_to(accumulator), _row_sums(rows) + sums)


def _add_pairs(a, b):
    """(A, row sums) of two disjoint sets of rows added; None (a chunk without rows) is the zero."""
    if a is None or b is None:
        return a if b is None else b
    return add_cross_products(a[0], b[0]), a[1] + b[1]
