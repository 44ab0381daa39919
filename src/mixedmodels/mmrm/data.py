"""From an mmrm formula and a data frame to y, X, weights, visits, subjects and groups.

As R's ``mmrm`` (``h_mmrm_tmb_data``): rows with a missing value in any variable of the model
(response, fixed effects, visit, subject, group, weights) are dropped (``complete.cases``);
unused levels of the visit factor are dropped (``drop_visit_levels``); a subject may not have
the same visit twice; the visit must be a factor. Missing visits are simply absent rows.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..design import _drop_missing, to_pandas, used_columns
from ..design.fixed import FixedDesign, _is_factor, build_fixed_design, evaluate_response
from ..errors import DesignError, FormulaError
from .formula import MmrmFormula

__all__ = ["MmrmData", "build_mmrm_data", "factor_levels"]


@dataclass(frozen=True)
class MmrmData:
    """The model's arrays, NA rows removed, rows in the order of the input frame.

    Attributes
    ----------
    formula : MmrmFormula
    fixed : FixedDesign            X (n × p) and R's column names
    y : ndarray (n,)
    weights : ndarray (n,)         prior weights (ones when none are given)
    visit : ndarray of int (n,)    index into ``visit_levels``
    visit_levels : list of str     in the factor's order, unused levels dropped
    subject : ndarray of int (n,)  index into ``subject_labels``
    subject_labels : list
    group : ndarray of int (n_subjects,) or None   index into ``group_levels`` per subject
    group_levels : list of str or None
    rows : Index                   labels of the rows used
    n_dropped : int                rows removed because of missing values
    frame : DataFrame              the rows used
    """

    formula: MmrmFormula
    fixed: FixedDesign
    y: np.ndarray
    weights: np.ndarray
    visit: np.ndarray
    visit_levels: list
    subject: np.ndarray
    subject_labels: list
    group: np.ndarray | None
    group_levels: list | None
    rows: pd.Index
    n_dropped: int
    frame: pd.DataFrame = field(repr=False)

    @property
    def X(self) -> np.ndarray:
        return self.fixed.X

    @property
    def nobs(self) -> int:
        return len(self.y)

    @property
    def n_subjects(self) -> int:
        return len(self.subject_labels)


def factor_levels(series: pd.Series, what: str, name: str) -> tuple[np.ndarray, list]:
    """Codes and levels of a factor column as R orders them (categories' order, else sorted).

    Unused categories are dropped. A numeric column is not a factor: DesignError.
    """
    if not _is_factor(series):
        raise DesignError(
            f"the {what} variable {name!r} must be a factor (a pandas Categorical or strings), "
            f"not {series.dtype}: convert it, e.g. data[{name!r}].astype('category') (levels in sorted "
            "order) or pd.Categorical(values, categories=[...]) for your own order")
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = np.asarray(series.array.codes)
        present = np.bincount(codes, minlength=len(series.cat.categories)) > 0
        remap = np.cumsum(present) - 1
        return remap[codes], [str(c) for c in series.cat.categories[present]]
    values = series.to_numpy()
    levels = sorted(pd.unique(values).tolist())
    codes = pd.Index(levels).get_indexer(values)
    return codes, [str(v) for v in levels]


def _column(frame: pd.DataFrame, name: str, what: str) -> pd.Series:
    if name not in frame.columns:
        raise FormulaError(f"unknown {what} column {name!r}; the data have: {', '.join(map(str, frame.columns))}")
    return frame[name]


def _weights(weights, frame: pd.DataFrame) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        weights = _column(frame, weights, "weights")
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DesignError(f"weights must be numeric: {exc}") from None
    if w.shape != (len(frame),):
        raise DesignError(f"weights must have one value per row of the data ({len(frame)}), got shape {w.shape}")
    return w


def build_mmrm_data(parsed: MmrmFormula, data, weights=None) -> MmrmData:
    """Build the arrays of an mmrm model from ``data`` (never modified).

    Raises
    ------
    FormulaError
        A column of the formula is missing.
    DesignError
        Visit or group not a factor, a subject with the same visit twice, a subject in two
        groups, weights not positive, no rows left.
    """
    frame = to_pandas(data)
    for name, what in ((parsed.visit, "visit"), (parsed.subject, "subject"), (parsed.group, "group")):
        if name is not None:
            _column(frame, name, what)
    model_text = f"{parsed.response} ~ {parsed.fixed}"
    columns = used_columns(types.SimpleNamespace(formula=model_text), frame.columns)
    columns += [c for c in (parsed.visit, parsed.subject, parsed.group) if c is not None and c not in columns]
    w = _weights(weights, frame)
    keep = _drop_missing(frame, columns, [w])
    n_dropped = int((~keep).sum())
    if not keep.any():
        raise DesignError(f"no rows left after removing {n_dropped} rows with missing values in {columns}")
    if n_dropped:
        frame = frame.loc[keep]
        w = None if w is None else w[keep]
    if w is None:
        w = np.ones(len(frame))
    elif not (np.isfinite(w) & (w > 0)).all():
        bad = np.flatnonzero(~(np.isfinite(w) & (w > 0)))
        raise DesignError(f"weights must be positive and finite; {len(bad)} are not (first at row {frame.index[bad[0]]!r})")
    visit, visit_levels = factor_levels(frame[parsed.visit], "visit", parsed.visit)
    subject, subject_labels = pd.factorize(frame[parsed.subject], sort=True)
    if (subject < 0).any():
        raise DesignError(f"subject column {parsed.subject!r} has missing values")
    key = subject.astype(np.int64) * len(visit_levels) + visit
    duplicated = pd.Series(key).duplicated(keep=False).to_numpy()
    if duplicated.any():
        rows = frame.loc[duplicated, [parsed.subject, parsed.visit]].head(6)
        raise DesignError(
            f"time points have to be unique for each subject: {int(duplicated.sum())} rows share a "
            f"({parsed.subject}, {parsed.visit}) pair, e.g.\n{rows.to_string()}")
    group = group_levels = None
    if parsed.group is not None:
        codes, group_levels = factor_levels(frame[parsed.group], "group", parsed.group)
        first = np.full(len(subject_labels), -1)
        first[subject[::-1]] = codes[::-1]
        if (codes != first[subject]).any():
            bad = subject_labels[subject[np.flatnonzero(codes != first[subject])[0]]]
            raise DesignError(f"subject {bad!r} belongs to more than one level of the group {parsed.group!r}")
        group = first
    y = evaluate_response(parsed.response, frame)
    if y.ndim != 1 or not np.isfinite(y).all():
        raise DesignError(f"response {parsed.response!r} must be one numeric column with finite values")
    fixed = build_fixed_design(parsed.fixed, frame)
    return MmrmData(formula=parsed, fixed=fixed, y=y, weights=w, visit=visit, visit_levels=visit_levels,
                    subject=subject, subject_labels=list(subject_labels), group=group, group_levels=group_levels,
                    rows=frame.index, n_dropped=n_dropped, frame=frame)
