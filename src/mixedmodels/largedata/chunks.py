"""Second pass: each chunk's share of A = [Z X y]ᵀ[Z X y], against the levels of the whole data.

A :class:`ChunkPlan` is built once from the first pass and sent to every worker. For a chunk it
applies lme4's ``na.omit`` and builds y, X (all columns of the global design: same levels and
contrasts in every chunk, the rank is checked later on XᵀX) and each term's level codes and
columns (:class:`ChunkRows`), which a :class:`mixedmodels.blocks.CrossProductsAccumulator` adds
to A. The same plan reads y, the weights and the offset of a chunk's rows again for the row-wise results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..blocks import CrossProducts, CrossProductsAccumulator, TermData
from ..design.fixed import FixedTemplate, build_fixed_design, evaluate_response
from ..errors import DesignError, FormulaError
from ..formula import ParsedFormula, RandomTermSpec
from .levels import ChunkSummary, GroupLevels, ModelColumns, complete_rows, split_group

__all__ = ["TermPlan", "ChunkPlan", "ChunkRows", "make_plan", "add_cross_products"]


@dataclass(frozen=True)
class ChunkRows:
    """A chunk's rows kept by ``na.omit``, in the form :meth:`CrossProductsAccumulator.add` takes."""

    terms: list[TermData]
    X: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None
    offset: np.ndarray | None

    def add_to(self, accumulator: CrossProductsAccumulator) -> CrossProductsAccumulator:
        return accumulator.add(self.terms, self.X, self.y, self.weights, self.offset)


@dataclass(frozen=True)
class TermPlan:
    """A random-effects term: its grouping factor's global levels and the template of its columns."""

    spec: RandomTermSpec
    levels: GroupLevels
    labels: list[str]
    z_design: FixedTemplate

    def codes(self, frame: pd.DataFrame, where: str, allow_new: bool = False) -> np.ndarray:
        codes = self.levels.codes(frame, split_group(self.spec.group))
        if not allow_new and (codes < 0).any():
            bad = frame.loc[codes < 0, split_group(self.spec.group)].drop_duplicates().head(5)
            raise DesignError(f"grouping factor {self.spec.group!r} has level(s) "
                              f"{bad.astype(str).agg(':'.join, axis=1).tolist()} in {where} that were not "
                              "seen in the first pass over the data")
        return codes


@dataclass(frozen=True)
class ChunkPlan:
    """What a worker needs to turn a chunk into cross-products or predictions (small, picklable)."""

    cols: ModelColumns
    response: str
    fixed: FixedTemplate
    terms: list[TermPlan]

    def _X(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        try:
            return self.fixed.transform(frame)
        except (DesignError, FormulaError) as exc:
            raise type(exc)(f"{exc} (in {where})") from exc

    def _vector(self, frame: pd.DataFrame, name: str | None) -> np.ndarray | None:
        return None if name is None else frame[name].to_numpy(dtype=np.float64)

    def rows(self, frame: pd.DataFrame, where: str) -> ChunkRows | None:
        """The chunk's rows for the accumulator (None when no row survives ``na.omit``)."""
        frame = complete_rows(frame, self.cols)
        if not len(frame):
            return None
        weights = self._vector(frame, self.cols.weights)
        if weights is not None and (not np.isfinite(weights).all() or (weights < 0).any()):
            raise DesignError(f"weights must be finite and non-negative (in {where})")
        try:
            y = evaluate_response(self.response, frame)
        except FormulaError as exc:
            raise FormulaError(f"{exc} (in {where})") from exc
        X = self._X(frame, where)
        terms = [TermData(t.codes(frame, where), np.ascontiguousarray(t.z_design.transform(frame)), len(t.labels))
                 for t in self.terms]
        return ChunkRows(terms, X, y, weights, self._vector(frame, self.cols.offset))

    def accumulator(self, expected_rows: int) -> CrossProductsAccumulator:
        """An empty running sum of A for this model's columns."""
        return CrossProductsAccumulator([len(t.labels) for t in self.terms],
                                        [t.z_design.n_columns for t in self.terms], self.fixed.n_columns + 1,
                                        expected_rows)

    def fitted_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` that ``na.omit`` keeps."""
        return complete_rows(frame, self.cols)

    def offset_values(self, frame: pd.DataFrame) -> np.ndarray | float:
        """The offset of the rows of ``frame`` (0 without an offset)."""
        return 0.0 if self.cols.offset is None else self._vector(frame, self.cols.offset)

    def response_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """y and the prior weights of the rows of ``frame`` (kept by ``na.omit``; weights 1 when absent)."""
        weights = self._vector(frame, self.cols.weights)
        return pd.DataFrame({"y": evaluate_response(self.response, frame),
                             "w": 1.0 if weights is None else weights}, index=frame.index)


def add_cross_products(a: CrossProducts | None, b: CrossProducts | None) -> CrossProducts | None:
    """``a + b`` where None (a chunk without rows) is the zero."""
    if a is None or b is None:
        return a if b is None else b
    return a + b


def _prototype(summary: ChunkSummary, levels: dict, ordered: dict) -> pd.DataFrame:
    """Complete rows of the data, repeated so that every level of every factor column appears.

    Only templates are built from it (column names, levels, contrasts): numeric values are real
    ones, so expressions such as ``log(x)`` evaluate as on the data.
    """
    sample = summary.sample
    factors = [c for c in sample.columns if summary.kinds[c][0] != "numeric" and c in levels]
    size = max([len(sample)] + [len(levels[c]) for c in factors])
    frame = sample.iloc[np.arange(size) % len(sample)].reset_index(drop=True)
    for c in factors:
        values = levels[c][np.arange(size) % len(levels[c])]
        frame[c] = values.to_numpy(dtype=bool) if summary.kinds[c][0] == "bool" else \
            pd.Categorical(values, categories=levels[c], ordered=ordered[c])
    return frame


def _refuse_stateful(design: FixedTemplate) -> None:
    """scale()/center() need the mean and sd of all rows, which a chunked fit never holds at once."""
    if design.stateful_variables:
        raise FormulaError(f"{', '.join(design.stateful_variables)}: scale() and center() need all rows at once; "
                           "for Parquet/Dask data add the scaled column to the data first")


def make_plan(parsed: ParsedFormula, cols: ModelColumns, summary: ChunkSummary, levels: dict, ordered: dict,
              groups: dict) -> ChunkPlan:
    """Templates of X and of each term's columns for the global levels; terms in lme4's order."""
    proto = _prototype(summary, levels, ordered)
    fixed = build_fixed_design(parsed.fixed, proto, check_rank=False).template()
    _refuse_stateful(fixed)
    terms = []
    for spec in parsed.random:
        z_design = build_fixed_design(spec.expr, proto, check_rank=False).template()
        _refuse_stateful(z_design)
        if z_design.n_columns == 0:
            raise FormulaError(f"random-effects term {spec} has no columns")
        terms.append(TermPlan(spec, groups[spec.group], groups[spec.group].labels, z_design))
    terms.sort(key=lambda t: -len(t.labels))  # lme4's order; stable for ties
    return ChunkPlan(cols=cols, response=parsed.response, fixed=fixed, terms=terms)
