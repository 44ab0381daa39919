"""More (or fewer) clusters or observations in a design (simr's ``extend`` and the subsets of ``powerCurve``).

``along`` and ``n``: the factor ``along`` gets n levels in all — or, with ``within``, n levels
within each combination of the ``within`` columns (e.g. n dishes in each treatment group). With
fewer than n levels, the new levels copy the rows (covariates and all) of the existing ones in
turn; with more, the first n levels (in order of appearance) are kept.

``within`` alone and ``n``: every combination of the ``within`` columns gets n rows (e.g. n
counts per dish), copying its rows in turn, or keeping its first n.

The true parameters do not change; only the layout does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design import PowerDesign, as_design

__all__ = ["extend", "resize_layout"]


def _columns(frame: pd.DataFrame, spec, what: str) -> list[str]:
    if spec is None:
        return []
    names = [s.strip() for s in (spec.replace(",", "+").split("+") if isinstance(spec, str) else spec)]
    missing = [name for name in names if name not in frame.columns]
    if missing or not names:
        raise ValueError(f"{what}: no column named {', '.join(map(repr, missing)) or repr(spec)} in the layout "
                         f"(columns {list(frame.columns)})")
    return names


def _new_labels(existing: pd.Series, count: int) -> list:
    """``count`` labels not yet used: integers after the largest when the labels are integers."""
    values = existing.cat.categories if isinstance(existing.dtype, pd.CategoricalDtype) else pd.unique(existing)
    numeric = pd.to_numeric(pd.Index(values).astype(str), errors="coerce")
    if len(values) and not np.isnan(numeric).any() and np.all(numeric == np.round(numeric)):
        start = int(numeric.max()) + 1
        labels = list(range(start, start + count))
        return labels if pd.api.types.is_numeric_dtype(pd.Index(values).dtype) else [str(v) for v in labels]
    used = {str(v) for v in values}
    labels, k = [], 1
    while len(labels) < count:
        if f"new{k}" not in used:
            labels.append(f"new{k}")
        k += 1
    return labels


def _cells(frame: pd.DataFrame, within: list[str]) -> list[np.ndarray]:
    """Row positions of each combination of the ``within`` columns, in order of appearance."""
    if not within:
        return [np.arange(len(frame))]
    keys = pd.MultiIndex.from_frame(frame[within].astype(str)) if len(within) > 1 else frame[within[0]].astype(str)
    codes, _ = pd.factorize(keys)
    return [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]


def resize_layout(frame: pd.DataFrame, along: str | None, n: int, within=None) -> pd.DataFrame:
    """The layout with ``along`` at n levels (per ``within`` cell), or n rows per ``within`` cell (see module)."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, not {n!r}")
    n = int(n)
    cells_of = _columns(frame, within, "within")
    if along is None:
        if not cells_of:
            raise TypeError("give along= (a factor whose levels to add) or within= (columns whose cells get n rows)")
        rows = np.concatenate([cell[np.arange(n) % len(cell)] for cell in _cells(frame, cells_of)])
        return frame.iloc[rows].reset_index(drop=True)
    along = _columns(frame, along, "along")[0]
    if along in cells_of:
        raise ValueError(f"along={along!r} cannot also be one of within={cells_of}")
    column = frame[along]
    kept, copies = [], []  # row positions kept as they are; (rows, copy number) of new levels
    for cell in _cells(frame, cells_of):
        codes, levels = pd.factorize(column.iloc[cell])
        order = [cell[codes == j] for j in range(len(levels))]
        kept += order[:n]
        copies += [order[k % len(order)] for k in range(len(order), n)]
    labels = _new_labels(column, len(copies))
    out = frame.iloc[np.concatenate(kept)] if kept else frame.iloc[:0]
    if copies:
        added = frame.iloc[np.concatenate(copies)].copy()
        values = np.repeat(np.array(labels, dtype=object), [len(rows) for rows in copies])
        if isinstance(column.dtype, pd.CategoricalDtype):
            dtype = pd.CategoricalDtype(list(column.cat.categories) + labels)
            out = out.astype({along: dtype})
            added[along] = pd.Categorical(values, dtype=dtype)
        else:
            added[along] = values.astype(column.dtype) if column.dtype.kind in "iuf" else values
        out = pd.concat([out, added])
    return out.reset_index(drop=True)


def extend(model, along: str | None = None, n: int = None, within=None) -> PowerDesign:
    """The model on a larger (or smaller) layout: more levels of a factor, or more rows per cell (simr's ``extend``).

    Parameters
    ----------
    model : LmerFit or PowerDesign
        A fit (its estimates become the truth) or a design.
    along : str, optional
        The factor whose number of levels becomes ``n`` (in all, or per ``within`` cell).
    n : int
        Levels of ``along``; without ``along``, rows per ``within`` cell.
    within : str or list of str, optional
        Columns whose combinations are extended each (``"group"``, ``"group+dish_id"``).

    Returns
    -------
    PowerDesign
        The same true parameters on the new layout; a level of a fixed-effect factor that
        appears or disappears raises ValueError (the coefficients would change).

    Examples
    --------
    >>> import mixedmodels as mm
    >>> fit = mm.lmer("y ~ group + (1 | dish_id)", mm.datasets.load("seed_petri"))
    >>> mm.extend(fit, along="dish_id", within="group", n=15).nrow   # 15 dishes per group, 5 counts each
    225
    """
    if n is None:
        raise TypeError("extend needs n= (the number of levels, or of rows per cell)")
    spec = as_design(model)
    resized = spec.with_data(resize_layout(spec.data, along, n, within))
    resized.build()  # the coefficients and terms must still be those of the truth
    return resized
