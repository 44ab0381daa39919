"""From an mmrm formula and a data frame to y, X, weights, visits, subjects and groups.

As R's ``mmrm`` (``h_mmrm_tmb_data``): rows with a missing value in any variable of the model
(response, fixed effects, visit or coordinates, subject, group, weights) are dropped
(``complete.cases``); unused levels of the visit factor are dropped (``drop_visit_levels``); a
subject may not have the same visit twice; the visit must be a factor. Missing visits are simply
absent rows. A subject none of whose rows is complete is left out of the fit, as in R; unlike R,
the rows and subjects left out are recorded (``n_dropped``, ``subjects_dropped``) and the fit's
summary names them.

For a spatial structure the coordinates must be numeric and a subject may not have two rows at
the same coordinates (their correlation would be 1: R's mmrm fails there without saying why).
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

__all__ = ["MmrmData", "build_mmrm_data", "factor_levels", "check_distinct_coordinates"]


@dataclass(frozen=True)
class MmrmData:
    """The model's arrays, NA rows removed, rows in the order of the input frame.

    Attributes
    ----------
    formula : MmrmFormula
    fixed : FixedDesign            X (n × p) and R's column names
    y : ndarray (n,)
    weights : ndarray (n,)         prior weights (ones when none are given)
    visit : ndarray of int (n,) or None   index into ``visit_levels`` (None for a spatial structure)
    visit_levels : list of str or None    in the factor's order, unused levels dropped
    subject : ndarray of int (n,)  index into ``subject_labels``
    subject_labels : list
    group : ndarray of int (n_subjects,) or None   index into ``group_levels`` per subject
    group_levels : list of str or None
    rows : Index                   labels of the rows used
    n_dropped : int                rows removed because of missing values
    subjects_dropped : list        subjects none of whose rows is complete, in the order of the data
    frame : DataFrame              the rows used
    coordinates : ndarray (n, dim) or None   the coordinates of a spatial structure
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
    subjects_dropped: list
    frame: pd.DataFrame = field(repr=False)
    coordinates: np.ndarray | None = field(default=None, repr=False)

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


def _coordinates(frame: pd.DataFrame, names: tuple) -> np.ndarray:
    """The numeric coordinate columns of a spatial structure as an (n, dim) array."""
    out = np.empty((len(frame), len(names)))
    for j, name in enumerate(names):
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype.kind not in "iuf":
            raise DesignError(f"the coordinate {name!r} of a spatial covariance must be numeric, not {column.dtype} "
                              "(distances between time points are computed from it)")
        out[:, j] = column.to_numpy(dtype=float)
    if not np.isfinite(out).all():
        raise DesignError(f"the coordinates {list(names)} must be finite")
    return out


def check_distinct_coordinates(coordinates: np.ndarray, subject: np.ndarray, labels, names: tuple) -> None:
    """A subject may not have two rows at the same point: their correlation would be 1 (Σ_i singular)."""
    keys = np.column_stack([subject, coordinates])
    dup = pd.DataFrame(keys).duplicated(keep=False).to_numpy()
    if dup.any():
        first = np.flatnonzero(dup)[0]
        point = ", ".join(f"{n} = {v:g}" for n, v in zip(names, coordinates[first]))
        raise DesignError(
            f"subject {labels[subject[first]]!r} has {int((dup & (subject == subject[first])).sum())} rows at the "
            f"same coordinates ({point}); time points have to be unique for each subject "
            f"({int(dup.sum())} such rows in all)")


def _subjects_left_out(before: pd.Series, after: pd.Series) -> list:
    """Subjects (non-missing identifiers) of ``before`` that ``after`` does not have, in data order."""
    present = before.dropna()
    return present[~present.isin(after.unique())].drop_duplicates().tolist()


def build_mmrm_data(parsed: MmrmFormula, data, weights=None) -> MmrmData:
    """Build the arrays of an mmrm model from ``data`` (never modified).

    Raises
    ------
    FormulaError
        A column of the formula is missing.
    DesignError
        Visit or group not a factor, a spatial coordinate not numeric, a subject with the same
        visit (or the same coordinates) twice, a subject in two groups, weights not positive, no
        rows left.
    """
    frame = to_pandas(data)
    time_columns = [(c, "coordinate") for c in parsed.coordinates] or [(parsed.visit, "visit")]
    for name, what in (*time_columns, (parsed.subject, "subject"), (parsed.group, "group")):
        if name is not None:
            _column(frame, name, what)
    model_text = f"{parsed.response} ~ {parsed.fixed}"
    columns = used_columns(types.SimpleNamespace(formula=model_text), frame.columns)
    columns += [c for c in (*[t for t, _ in time_columns], parsed.subject, parsed.group)
                if c is not None and c not in columns]
    w = _weights(weights, frame)
    keep = _drop_missing(frame, columns, [w])
    n_dropped = int((~keep).sum())
    if not keep.any():
        raise DesignError(f"no rows left after removing {n_dropped} rows with missing values in {columns}: "
                          "no subject has a complete row")
    subjects_dropped = []
    if n_dropped:
        subjects_dropped = _subjects_left_out(frame[parsed.subject], frame.loc[keep, parsed.subject])
        frame = frame.loc[keep]
        w = None if w is None else w[keep]
    if w is None:
        w = np.ones(len(frame))
    elif not (np.isfinite(w) & (w > 0)).all():
        bad = np.flatnonzero(~(np.isfinite(w) & (w > 0)))
        raise DesignError(f"weights must be positive and finite; {len(bad)} are not (first at row {frame.index[bad[0]]!r})")
    subject, subject_labels = pd.factorize(frame[parsed.subject], sort=True)
    if (subject < 0).any():
        raise DesignError(f"subject column {parsed.subject!r} has missing values")
    visit = visit_levels = coordinates = None
    if parsed.spatial:
        coordinates = _coordinates(frame, parsed.coordinates)
        check_distinct_coordinates(coordinates, subject, subject_labels, parsed.coordinates)
    else:
        visit, visit_levels = factor_levels(frame[parsed.visit], "visit", parsed.visit)
        key = subject.astype(np.int64) * len(visit_levels) + visit
        duplicated = pd.Series(key).duplicated(keep=False).to_numpy()
        if duplicated.any():
            rows = frame.loc[duplicated, [parsed.subject, parsed.visit]].head(6)
            first = rows.iloc[0]
            raise DesignError(
                f"time points have to be unique for each subject: subject {first[parsed.subject]!r} has visit "
                f"{first[parsed.visit]!r} more than once ({int(duplicated.sum())} rows share a "
                f"({parsed.subject}, {parsed.visit}) pair), e.g.\n{rows.to_string()}")
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
                    rows=frame.index, n_dropped=n_dropped, subjects_dropped=subjects_dropped, frame=frame,
                    coordinates=coordinates)
