"""The rows of a fit of data larger than memory: read again, lazily, only for row-wise results.

Everything lme4 reports that is not row by row (θ̂, β̂, σ̂, the criterion, Var(β̂), VarCorr,
ranef, every test and interval) comes from the specification and A, and equals the in-memory
fit of the same rows. The row-wise results are computed from the source:

* ``fitted()``, ``residuals()``, ``predict()``, ``simulate()``: lazy Dask objects computed
  partition by partition (Parquet files are opened with ``dask.dataframe.read_parquet``);
* the parametric bootstrap: one streamed pass over the chunks per batch of replicates, which
  adds up the y-row of A of each simulated response (Z_0ᵀy*, Z_rᵀy*, Xᵀy*, y*ᵀy*) — the only
  part of A that changes — without holding n rows.

Simulated residuals are drawn chunk by chunk from a stream seeded by the batch's generator and
the chunk's name, so a seed reproduces the replicates, but not the draws of the same seed on the
same rows in memory (there all rows are drawn from one stream).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from ..blocks import term_matrix
from ..simulate import random_effects_draw, simulate_block
from .chunks import ChunkPlan
from .sources import ParquetSource, is_dask_frame

__all__ = ["ChunkedRows", "lazy_linear_predictor"]


class ChunkedRows:
    """Row handle of a fit of Parquet files or a Dask DataFrame (see the module docstring).

    Parameters
    ----------
    runner : LocalRunner or DaskRunner
        Maps a function over the chunks and reduces the results.
    plan : ChunkPlan
        How a chunk becomes y, X (the columns of the fit), codes and z.
    """

    lazy = True

    def __init__(self, runner, plan: ChunkPlan):
        self.runner = runner
        self.plan = plan

    def with_response(self, y):
        return None

    def _frame(self):
        data = self.runner.data
        if is_dask_frame(data):
            return data
        import dask.dataframe as dd

        assert isinstance(data, ParquetSource)
        return dd.read_parquet([str(f) for f in data.files], columns=self.plan.cols.read)

    def _map(self, fit, func, meta, *args):
        from dask import delayed

        params = delayed((fit.spec, self.plan, fit.solution.beta, fit.solution.b, fit.sigma), pure=True)
        return self._frame().map_partitions(func, params, *args, meta=meta)

    def fitted(self, fit):
        """Fitted values Xβ̂ + Zb̂ (+ offset) of the rows used, a lazy Dask Series."""
        return self._map(fit, _partition_fitted, pd.Series(dtype=np.float64, name="fitted"), True, True)

    def predict_fitted(self, fit, b):
        """Xβ̂ (+ Zb̂) of the rows used, without offset, a lazy Dask Series."""
        return self._map(fit, _partition_fitted, pd.Series(dtype=np.float64, name="predicted"), b is not None, False)

    def residuals(self, fit, type: str):
        """Residuals of the rows used, a lazy Dask Series (types as :meth:`LmerFit.residuals`)."""
        return self._map(fit, _partition_residuals, pd.Series(dtype=np.float64, name="residuals"), type)

    def simulate(self, fit, nsim: int, rng: np.random.Generator, use_re: bool):
        """Responses simulated from ``fit``, a lazy Dask DataFrame of the rows used (one column per replicate)."""
        from dask import delayed

        b = delayed(random_effects_draw(fit, nsim, rng, use_re), pure=True)
        seed = int(rng.integers(2**63))
        columns = [f"sim_{i + 1}" for i in range(nsim)]
        meta = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns})
        parts = self._frame().to_delayed()
        import dask.dataframe as dd

        pieces = [delayed(_partition_simulate)(part, fit, self.plan, b, seed, f"partition {i}", columns)
                  for i, part in enumerate(parts)]
        return dd.from_delayed(pieces, meta=meta)

    def simulated_products(self, fit, nsim: int, rng: np.random.Generator, use_re: bool):
        """Yield ``(None, g, yy)`` per batch: the y-row of A of simulated responses, one pass over the chunks.

        See :meth:`mixedmodels.sources.InMemoryRows.response_products` for ``g`` and ``yy``.
        """
        from ..sources import SIMULATION_BATCH

        for start in range(0, nsim, SIMULATION_BATCH):
            size = min(SIMULATION_BATCH, nsim - start)
            b = random_effects_draw(fit, size, rng, use_re)
            context = (fit, self.plan, b, int(rng.integers(2**63)))
            total = self.runner.reduce(_chunk_products, context, self.plan.cols.read, _add_products,
                                       "simulating")
            yield None, total[0], total[1]


def _partition_fitted(frame, params, random: bool, with_offset: bool):
    spec, plan, beta, b, _ = params
    frame = plan.fitted_rows(frame)
    eta = spec.linear_predictor(frame, beta, b if random else None, where="the data")
    if with_offset:
        eta = eta + plan.offset_values(frame)
    return pd.Series(eta, index=frame.index)


def _partition_residuals(frame, params, type: str):
    spec, plan, beta, b, sigma = params
    frame = plan.fitted_rows(frame)
    values = plan.response_values(frame)
    raw = values["y"] - (spec.linear_predictor(frame, beta, b, where="the data") + plan.offset_values(frame))
    if type in ("pearson", "scaled"):
        raw = raw * np.sqrt(values["w"]) / (sigma if type == "scaled" else 1.0)
    return raw.rename("residuals")


def _chunk_generator(seed: int, where: str) -> np.random.Generator:
    """The residual draws of one chunk: independent of the order in which chunks are processed."""
    return np.random.default_rng([seed, zlib.crc32(where.encode())])


def _chunk_simulation(frame, fit, plan: ChunkPlan, b, seed: int, where: str):
    rows = plan.rows(frame, where)
    if rows is None:
        return None, None
    X = rows.X  # the plan's X has the columns of the fit (aliased ones set aside)
    Y = simulate_block(fit, X, [(t.codes, t.z) for t in rows.terms], rows.offset, rows.weights, b,
                       _chunk_generator(seed, where))
    return rows, (X, Y)


def _partition_simulate(frame, fit, plan, b, seed, where, columns):
    kept_frame = plan.fitted_rows(frame)
    rows, simulated = _chunk_simulation(frame, fit, plan, b, seed, where)
    if rows is None:
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in columns})
    return pd.DataFrame(simulated[1], index=kept_frame.index, columns=columns)


def _chunk_products(frame, context, where: str):
    fit, plan, b, seed = context
    rows, simulated = _chunk_simulation(frame, fit, plan, b, seed, where)
    if rows is None:
        return None
    X, Y = simulated
    V = Y if rows.offset is None else Y - rows.offset[:, None]
    if rows.weights is not None:
        root = np.sqrt(rows.weights)
        V = V * root[:, None]
        X = X * root[:, None]
    blocks = [term_matrix(t.codes, t.z if rows.weights is None else t.z * root[:, None], t.n_levels).T @ V
              for t in rows.terms]
    return np.vstack(blocks + [X.T @ V]), np.einsum("ij,ij->j", V, V)


def _add_products(a, b):
    if a is None or b is None:
        return a if b is None else b
    return a[0] + b[0], a[1] + b[1]


def lazy_linear_predictor(spec, newdata, beta: np.ndarray, b, allow_new_levels: bool):
    """Xβ̂ (+ Zb̂) of a Dask DataFrame ``newdata``, a lazy Dask Series."""
    from dask import delayed

    params = delayed((spec, beta, b), pure=True)
    return newdata.map_partitions(_partition_predict, params, allow_new_levels,
                                  meta=pd.Series(dtype=np.float64, name="predicted"))


def _partition_predict(frame, params, allow_new_levels):
    spec, beta, b = params
    return pd.Series(spec.linear_predictor(frame, beta, b, allow_new_levels), index=frame.index, name="predicted")
