"""The fit of data larger than memory: everything lme4 reports, from A and the solution alone.

:class:`LargeLmerFit` is an :class:`~mixedmodels.results.LmerFit` whose design holds no
n-length array. θ̂, β̂, σ̂, the criterion, Var(β̂), VarCorr, ranef (with conditional variances),
coef and the summary come from A = [Z X y]ᵀ[Z X y] and the penalised least-squares solution, so
they equal the in-memory fit of the same rows. The row-wise results are lazy: ``fitted()``,
``residuals()`` and ``predict(dask_frame)`` return Dask Series computed partition by partition
(Parquet data are opened with ``dask.dataframe.read_parquet``). The summary leaves out the
"Scaled residuals" quantiles, which would need a sort of all n residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design.fixed import FixedDesign
from ..design.random import RandomTerm
from ..formula import ParsedFormula
from ..results import LmerFit, _is_population_level
from .chunks import ChunkPlan
from .sources import ParquetSource, is_dask_frame

__all__ = ["LargeDataDesign", "LargeLmerFit"]


@dataclass(frozen=True)
class LargeDataDesign:
    """The model's design without the data: global levels and column templates.

    Has the attributes of :class:`~mixedmodels.design.ModelDesign` that need no row
    (``formula``, ``fixed``, ``terms`` with empty ``codes``/``z``, ``nobs``, ``n_dropped``);
    ``weights`` and ``offset`` are column names. ``zz[k]`` is Σ_i z_i z_iᵀ of term k (from A).
    """

    formula: ParsedFormula
    fixed: FixedDesign
    terms: list[RandomTerm]
    weights: str | None
    offset: str | None
    nobs: int
    n_dropped: int
    zz: list[np.ndarray]


@dataclass(frozen=True, eq=False)
class LargeLmerFit(LmerFit):
    """:func:`mixedmodels.lmer` fitted to a Dask DataFrame or Parquet files.

    Attributes (besides LmerFit's)
    ------------------------------
    source : Dask DataFrame or ParquetSource   the data, read again only for row-wise results
    plan : ChunkPlan                           how a chunk becomes X, Z and predictions
    """

    source: object = None
    plan: ChunkPlan = None

    in_memory = False

    def _frame(self):
        if is_dask_frame(self.source):
            return self.source
        import dask.dataframe as dd

        assert isinstance(self.source, ParquetSource)
        return dd.read_parquet([str(f) for f in self.source.files], columns=self.plan.cols.read)

    def _lazy(self, frame, population: bool, drop_missing: bool, allow_new_levels: bool = False, name="fitted"):
        from dask import delayed

        b = None if population else self.solution.b
        params = delayed((self.plan, self.solution.beta, b), pure=True)
        return frame.map_partitions(_predict_partition, params, drop_missing, allow_new_levels, name,
                                    meta=pd.Series(dtype=np.float64, name=name))

    def fitted(self):
        """Fitted values Xβ̂ + Zb̂ (+ offset) of the rows used, a lazy Dask Series."""
        return self._lazy(self._frame(), population=False, drop_missing=True)

    def residuals(self, type: str = "response"):
        """Residuals of the rows used, a lazy Dask Series: ``"response"``, ``"pearson"`` (√w scaled) or
        ``"scaled"`` (√w / σ̂ scaled), as :meth:`LmerFit.residuals`."""
        if type not in ("response", "pearson", "scaled"):
            raise ValueError(f"type must be 'response', 'pearson' or 'scaled', not {type!r}")
        from dask import delayed

        scale = {"response": None, "pearson": 1.0, "scaled": 1.0 / self.sigma}[type]
        params = delayed((self.plan, self.solution.beta, self.solution.b), pure=True)
        return self._frame().map_partitions(_residual_partition, params, scale,
                                            meta=pd.Series(dtype=np.float64, name="residuals"))

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False):
        """Predictions; lazy (Dask Series) for the fitted data or Dask ``newdata``, else as LmerFit."""
        population = _is_population_level(re_form)
        if newdata is None:
            return self._lazy(self._frame(), population, drop_missing=True, name="predicted")
        if is_dask_frame(newdata):
            return self._lazy(newdata, population, drop_missing=False, allow_new_levels=allow_new_levels,
                              name="predicted")
        return super().predict(newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    def icc(self) -> pd.Series:
        """As :meth:`LmerFit.icc`, with mean_i z_iᵀΣ_k z_i = tr(Σ_k Σ_i z_i z_iᵀ) / n taken from A."""
        sigma2 = self.sigma**2
        values = {name: float(np.trace(cov @ zz)) / self.nobs
                  for name, zz, cov in zip(self.group_names, self.design.zz, self.covariance_matrices())}
        out = {name: v / (v + sigma2) for name, v in values.items()}
        total = sum(values.values())
        out["adjusted"] = total / (total + sigma2)
        return pd.Series(out, name="ICC")


def _predict_partition(frame, params, drop_missing, allow_new_levels, name):
    plan, beta, b = params
    return plan.linear_predictor(frame, beta, b, drop_missing, allow_new_levels).rename(name)


def _residual_partition(frame, params, scale):
    plan, beta, b = params
    fitted = plan.linear_predictor(frame, beta, b, drop_missing=True)
    values = plan.response_values(frame)
    raw = values["y"] - fitted
    if scale is not None:
        raw = raw * scale * np.sqrt(values["w"])
    return raw.rename("residuals")
