"""Row sources: where a model's rows come from, behind one small interface.

A source turns a formula into the three things every fit is made of (:func:`open_source`, then
``source.model(formula, weights, offset)``):

    spec   ModelSpec — the model without rows (:mod:`mixedmodels.design.spec`)
    cross  CrossProducts — A = [Z X y]ᵀ[Z X y], from one accumulator (:mod:`mixedmodels.blocks`)
    rows   a handle on the rows for what needs them (fitted values, residuals, simulation)

Sources: an in-memory pandas/polars frame (:class:`FrameSource`, rows in a
:class:`~mixedmodels.design.ModelDesign`), Parquet files read row group by row group and Dask
DataFrames reduced by the cluster (:class:`mixedmodels.largedata.model.ChunkedSource`, rows
read again lazily). Row handles share one interface:

    lazy                          False when the rows are in memory
    design                        the in-memory rows (lazy handles raise RowsNotInMemory)
    fitted(fit) / residuals(fit, type)   Series (lazy Dask Series for lazy handles)
    simulate(fit, nsim, rng, use_re)     simulated responses
    simulated_products(fit, nsim, rng, use_re)   batches of simulated responses and the y-row of A
    with_response(y)                     the rows of a refit (None where rows are not in memory)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ._lazy import lazy_module
from .blocks import CrossProducts, TermData, build_cross_products, term_matrix
from .design import ModelDesign, build_design
from .design.spec import spec_of_design
from .errors import MixedModelsError

sp = lazy_module("scipy.sparse")  # sparse matrices only for crossed terms: not imported for the rest

__all__ = ["FrameSource", "InMemoryRows", "RowsNotInMemory", "open_source", "with_responses", "SIMULATION_BATCH"]

SIMULATION_BATCH = 50
"""Replicates simulated together; fixed, so a seed gives the same draws whatever the parallelism."""


class RowsNotInMemory(MixedModelsError):
    """A result needs the rows of a fit whose data are not in memory."""


def open_source(data, *, client=None, progress: bool | None = None, functions: dict | None = None,
                caller: str = "lmer"):
    """The source of ``data``: a frame in memory, Parquet path(s) or a Dask DataFrame.

    Raises
    ------
    TypeError
        ``client``/``progress`` given for data in memory (they are for data larger than memory),
        or ``functions`` for data larger than memory (formulas there use the built-in functions only).
    """
    from .largedata.sources import is_large_data

    if is_large_data(data):
        if functions is not None:
            raise TypeError(f"{caller}(): functions= applies to in-memory data only, not to Dask DataFrames or "
                            "Parquet files")
        from .largedata.model import ChunkedSource

        return ChunkedSource(data, client=client, progress=True if progress is None else progress)
    if client is not None or progress is not None:
        raise TypeError(f"{caller}(): client= and progress= apply to Dask DataFrames and Parquet files only, "
                        f"not to in-memory data ({type(data).__name__})")
    return FrameSource(data, functions)


class FrameSource:
    """A pandas or polars DataFrame in memory (``functions``: what its formulas may call besides the built-ins)."""

    def __init__(self, data, functions: dict | None = None):
        self.data = data
        self.functions = functions
        self.name = str(getattr(data, "attrs", {}).get("name", ""))  # lmer/glmer fall back to the caller's variable

    def rows_of(self, formula: str, weights=None, offset=None, *, check_levels: bool = True):
        """``(spec, rows)`` of ``formula`` on the frame, without A (glmer's PIRLS works on the rows).

        ``check_levels=False`` skips lmer's level-count checks (an observation-level random effect
        is identifiable in a GLMM).
        """
        design = build_design(formula, self.data, weights=weights, offset=offset, check_levels=check_levels,
                              functions=self.functions)
        return spec_of_design(design, weights, offset), InMemoryRows(design)

    def model(self, formula: str, weights=None, offset=None):
        """``(spec, cross, rows)`` of ``formula`` on the frame (rows: :class:`InMemoryRows`)."""
        spec, rows = self.rows_of(formula, weights, offset)
        design = rows.design
        terms = [TermData(t.codes, t.z, t.n_levels) for t in design.terms]
        return spec, build_cross_products(terms, design.X, design.y, design.weights, design.offset), rows


class InMemoryRows:
    """The rows of an in-memory fit: y, X, each term's codes and columns, weights, offset.

    Parameters
    ----------
    design : ModelDesign
    """

    lazy = False

    def __init__(self, design: ModelDesign):
        self.design = design
        self._G = None

    def with_response(self, y: np.ndarray) -> "InMemoryRows":
        """The same rows with another response (a refit to simulated data)."""
        return InMemoryRows(dataclasses.replace(self.design, y=y))

    def linear_predictor(self, beta: np.ndarray, b: list[np.ndarray] | None, offset: bool = True) -> np.ndarray:
        """Xβ + Zb (+ offset) of the rows (Zb left out when ``b`` is None)."""
        design = self.design
        eta = design.X @ beta
        for term, bk in zip(design.terms, b or []):
            eta += np.einsum("ij,ij->i", term.z, bk[term.codes])
        return eta if design.offset is None or not offset else eta + design.offset

    def fitted(self, fit) -> pd.Series:
        """Xβ̂ + Zb̂ (+ offset), indexed like the rows used."""
        return pd.Series(self.linear_predictor(fit.solution.beta, fit.solution.b), index=self.design.rows,
                         name="fitted")

    def predict_fitted(self, fit, b: list[np.ndarray] | None) -> pd.Series:
        """Xβ̂ (+ Zb̂ when ``b`` is given) of the rows used, without the offset (``predict(re_form=...)``)."""
        return pd.Series(self.linear_predictor(fit.solution.beta, b, offset=False), index=self.design.rows,
                         name="predicted")

    def residuals(self, fit, type: str) -> pd.Series:
        """y − ŷ, scaled by √w (``"pearson"``) and by 1/σ̂ (``"scaled"``)."""
        raw = self.design.y - self.linear_predictor(fit.solution.beta, fit.solution.b)
        if type in ("pearson", "scaled"):
            raw = raw * (1.0 if self.design.weights is None else np.sqrt(self.design.weights))
            raw = raw / fit.sigma if type == "scaled" else raw
        return pd.Series(raw, index=self.design.rows, name="residuals")

    def simulate(self, fit, nsim: int, rng: np.random.Generator, use_re: bool) -> pd.DataFrame:
        """An (n, nsim) frame of responses simulated from ``fit`` (:func:`mixedmodels.simulate.simulate`)."""
        from .simulate import random_effects_draw, simulate_block

        b = random_effects_draw(fit, nsim, rng, use_re)
        Y = simulate_block(fit, self.design.X, [(t.codes, t.z) for t in self.design.terms], self.design.offset,
                           self.design.weights, b, rng)
        return pd.DataFrame(Y, index=self.design.rows, columns=[f"sim_{i + 1}" for i in range(nsim)])

    def response_products(self, fit, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The y-row of A for each column of Y: g = [Z_0 Z_r X]ᵀW(y* − offset) and y*ᵀWy* (one sparse product)."""
        design = self.design
        if self._G is None:
            root = None if design.weights is None else np.sqrt(design.weights)
            weighted = [t.z if root is None else t.z * root[:, None] for t in design.terms]
            X = design.X if root is None else design.X * root[:, None]
            blocks = [term_matrix(t.codes, z, t.n_levels).T for t, z in zip(design.terms, weighted)]
            self._G = sp.vstack(blocks + [sp.csr_matrix(X.T)], format="csr")
        V = Y if design.offset is None else Y - design.offset[:, None]
        if design.weights is not None:
            V = V * np.sqrt(design.weights)[:, None]
        return self._G @ V, np.einsum("ij,ij->j", V, V)

    def simulated_products(self, fit, nsim: int, rng: np.random.Generator, use_re: bool):
        """Yield ``(Y, g, yy)`` for batches of :data:`SIMULATION_BATCH` simulated responses (see :meth:`response_products`)."""
        for start in range(0, nsim, SIMULATION_BATCH):
            Y = self.simulate(fit, min(SIMULATION_BATCH, nsim - start), rng, use_re).to_numpy()
            yield (Y, *self.response_products(fit, Y))


def with_responses(base: CrossProducts, g: np.ndarray, yy: np.ndarray) -> list[CrossProducts]:
    """Copies of A whose y-row is replaced: ``g[:, s]`` = [Z_0 Z_r X]ᵀy*_s, ``yy[s]`` = y*_sᵀy*_s."""
    q0 = base.Bw.shape[1] * base.Bw.shape[2]
    out = []
    for s in range(g.shape[1]):
        Bw = base.Bw.copy()
        Bw[-1] = g[:q0, s].reshape(Bw.shape[1:])
        C = base.C.copy()
        C[:-1, -1] = C[-1, :-1] = g[q0:, s]
        C[-1, -1] = yy[s]
        out.append(dataclasses.replace(base, Bw=Bw, C=C))
    return out
