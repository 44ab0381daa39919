"""From an lme4 formula and a data frame to the model's arrays (lme4's ``lFormula``).

Pipeline: :func:`mixedmodels.formula.parse_formula` → drop rows with NA in any used column
(``na.omit``) → response y, fixed-effects X (:mod:`.fixed`), random-effects terms (:mod:`.random`)
ordered as lme4 orders them.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import DesignError, FormulaError
from ..formula import ParsedFormula, parse_formula
from .fixed import FixedDesign, build_fixed_design, evaluate_response
from .random import RandomTerm, build_random_term, order_terms

__all__ = ["ModelDesign", "FrameColumns", "build_design", "to_pandas", "used_columns", "data_name_of"]

_IDENTIFIER = re.compile(r"`([^`]+)`|([A-Za-z_.][A-Za-z0-9_.]*)")


@dataclass(frozen=True)
class ModelDesign:
    """Everything the fit needs from the data, NA rows already removed.

    Attributes
    ----------
    y : ndarray, shape (n,)            response (offset not subtracted)
    fixed : FixedDesign                X and its column names
    terms : list of RandomTerm         in lme4's order (most levels first)
    weights : ndarray or None          prior weights
    offset : ndarray or None           known offset added to the linear predictor
    rows : pandas Index                labels of the rows used (from the input frame)
    n_dropped : int                    rows removed because of NA
    """

    formula: ParsedFormula
    y: np.ndarray
    fixed: FixedDesign
    terms: list[RandomTerm]
    weights: np.ndarray | None
    offset: np.ndarray | None
    rows: pd.Index
    n_dropped: int
    frame: pd.DataFrame = field(repr=False)

    @property
    def X(self) -> np.ndarray:
        return self.fixed.X

    @property
    def nobs(self) -> int:
        return len(self.y)


def to_pandas(data) -> pd.DataFrame:
    """Accept a pandas or polars DataFrame (or anything with ``to_pandas``) without copying pandas input.

    A polars ``Categorical`` column carries no level order (pandas would receive its levels in
    order of first appearance), so its levels are sorted, as R's ``factor()`` sorts strings; a
    polars ``Enum`` keeps its declared level order and is an unordered factor (treatment contrasts).
    """
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):
        frame = data.to_pandas()
        schema = getattr(data, "schema", {})
        for name, dtype in schema.items():
            kind = str(dtype)
            if kind.startswith("Categorical"):
                frame[name] = frame[name].cat.reorder_categories(sorted(frame[name].cat.categories), ordered=False)
            elif kind.startswith("Enum"):
                frame[name] = frame[name].cat.as_unordered()
        return frame
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise DesignError(f"data must be a pandas or polars DataFrame, not {type(data).__name__}")


def data_name_of(data, caller) -> str:
    """The name shown as "Data:": a built-in data set's name (``attrs["name"]``), else the name of the
    caller's variable that holds ``data`` (R's ``deparse(substitute(data))``), else "" (no line).

    ``caller`` is the frame of the user's call (``sys._getframe(1)`` inside ``lmer``).
    """
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict) and attrs.get("name"):
        return str(attrs["name"])
    names = [k for k, v in (caller.f_locals.items() if caller is not None else []) if v is data and not k.startswith("_")]
    return names[0] if names else ""


@lru_cache(maxsize=512)
def _identifiers(formula: str) -> tuple[str, ...]:
    """The distinct names (bare or back-quoted) in a formula's text, in order of appearance."""
    return tuple(dict.fromkeys(quoted or bare for quoted, bare in _IDENTIFIER.findall(formula)))


def used_columns(parsed: ParsedFormula, columns: pd.Index) -> list[str]:
    """Names of the data columns a formula refers to (R's ``all.vars``), in order of appearance."""
    return [name for name in _identifiers(parsed.formula) if name in columns]


class FrameColumns:
    """The columns of a frame, each taken out of it once.

    pandas makes a new Series at every ``frame[name]`` (about 20 µs), and building a design reads
    a column several times (missing values, the response, X, each random term). What the design
    functions use of a frame is here: ``columns``, ``len()`` and ``[name]``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not modified; ``frame`` is kept as the attribute of that name.
    """

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.columns = frame.columns
        self._series: dict = {}

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, name) -> pd.Series:
        try:
            return self._series[name]
        except KeyError:
            series = self._series[name] = self.frame[name]
            return series


def _optional_vector(value, frame: pd.DataFrame, what: str) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in frame.columns:
            raise DesignError(f"{what}: no column named {value!r} in the data; the data have: "
                              f"{', '.join(map(str, frame.columns))}")
        value = frame[value]
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DesignError(f"{what} must be numeric: {exc}") from None
    if array.shape != (len(frame),):
        raise DesignError(f"{what} must have one value per row of the data ({len(frame)}), got shape {array.shape}")
    return array


def _drop_missing(frame: pd.DataFrame | FrameColumns, columns: list[str], extra: list[np.ndarray | None]):
    """Rows kept (boolean mask) after lme4's na.omit over the used columns and weights/offset."""
    keep = np.ones(len(frame), bool)
    for name in columns:  # column by column: a sub-frame's isna() costs more than the fit of small data
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            keep &= column.array.codes >= 0
        elif column.dtype.kind == "f":
            keep &= ~np.isnan(column.to_numpy())
        elif column.dtype.kind not in "iub":
            keep &= ~column.isna().to_numpy()
    for vector in extra:
        if vector is not None:
            keep &= ~np.isnan(vector)
    return keep


def _check_finite_columns(frame: FrameColumns, columns: list[str]) -> None:
    """Stop at a numeric (not boolean) column holding ±inf (NaN rows are already dropped)."""
    for name in columns:
        column = frame[name]
        dtype = column.dtype
        if isinstance(dtype, np.dtype):
            finite = dtype.kind != "f" or np.isfinite(column.to_numpy()).all()  # integers are finite
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            finite = np.isfinite(column.to_numpy(dtype=np.float64)).all()
        else:
            finite = True
        if not finite:
            raise DesignError(f"column {name!r} has non-finite values (inf); remove or recode them")


def build_design(formula: str, data, weights=None, offset=None, *, require_random: bool = True,
                 check_levels: bool = True, functions: dict | None = None) -> ModelDesign:
    """Parse ``formula`` and build y, X and the random-effects terms from ``data``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas or polars DataFrame
        Never modified.
    weights, offset : array-like or column name, optional
        Prior weights and offset, one per row of ``data``.
    check_levels : bool
        lmer's checks that each grouping factor has fewer levels than rows (off for glmer).
    functions : dict, optional
        Functions the formula may call besides the allowed ones (:mod:`.expressions`), by name.

    Raises
    ------
    FormulaError
        Unparsable formula, unknown column, non-numeric response, no random-effects term.
    DesignError
        No rows left after removing NA, non-finite values, too many levels for the data.
    """
    parsed = parse_formula(formula)
    if require_random and not parsed.random:
        raise FormulaError(
            f"no random-effects terms in {formula!r}; add a term such as (1 | group), "
            "or use an ordinary regression for a model without random effects"
        )
    frame = to_pandas(data)
    if not frame.columns.is_unique:
        duplicated = sorted(set(map(str, frame.columns[frame.columns.duplicated()])))
        raise DesignError(f"the data have more than one column named {', '.join(map(repr, duplicated))}; "
                          "rename them so that each name is used once")
    columns = used_columns(parsed, frame.columns)
    weights_v = _optional_vector(weights, frame, "weights")
    offset_v = _optional_vector(offset, frame, "offset")
    view = FrameColumns(frame)
    keep = _drop_missing(view, columns, [weights_v, offset_v])
    n_dropped = len(keep) - int(np.count_nonzero(keep))
    if n_dropped == len(keep):
        raise DesignError(f"no rows left after removing {n_dropped} rows with missing values in {columns}")
    if n_dropped:
        warnings.warn(f"{n_dropped} row(s) with missing values removed (na.omit)", UserWarning, stacklevel=3)
        frame = frame.loc[keep]
        view = FrameColumns(frame)
        weights_v = None if weights_v is None else weights_v[keep]
        offset_v = None if offset_v is None else offset_v[keep]
    _check_finite_columns(view, columns)
    if weights_v is not None and (not np.isfinite(weights_v).all() or (weights_v < 0).any()):
        n_bad = int((~np.isfinite(weights_v) | (weights_v < 0)).sum())
        raise DesignError(f"weights must be finite and non-negative; {n_bad} are negative or infinite")
    if weights_v is not None and not (weights_v > 0).any():
        raise DesignError(f"all {len(weights_v)} weights are zero: no observation carries information")
    if offset_v is not None and not np.isfinite(offset_v).all():
        raise DesignError("offset has non-finite values (inf)")
    y = evaluate_response(parsed.response, view, functions)  # finite, or a FormulaError naming it
    fixed = build_fixed_design(parsed.fixed, view, functions=functions)
    # a random term whose columns are the fixed part's ((Days | Subject) beside ~ Days) takes them from X
    terms = order_terms([build_random_term(spec, view, check_levels, functions, fixed if spec.expr == parsed.fixed
                                           else None) for spec in parsed.random])
    return ModelDesign(formula=parsed, y=y, fixed=fixed, terms=terms, weights=weights_v, offset=offset_v,
                       rows=frame.index, n_dropped=n_dropped, frame=frame)
