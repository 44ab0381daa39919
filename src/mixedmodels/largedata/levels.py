"""First pass over the chunks: column types, NA counts and the levels of every factor.

Each chunk is summarised by a :class:`ChunkSummary` (rows, rows dropped by lme4's ``na.omit``,
the kind of each used column, the values present in factor and grouping columns, the
combinations present for interactions ``a:b``, a few complete rows). Summaries merge with
``+`` (associative), so Dask reduces them in a tree. :func:`global_levels` then orders the
levels as R's ``factor()`` does on the whole data: as ``pandas.concat`` of the chunks would give,
the first chunk's categorical order when every chunk has the same set of categories, sorted
values otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..design import _drop_missing
from ..errors import DesignError

__all__ = ["ModelColumns", "ChunkSummary", "summarise_chunk", "global_levels", "column_kind", "complete_rows"]

SAMPLE_ROWS = 64
"""Complete rows kept from the first pass, to build the column templates of X and Z."""


@dataclass(frozen=True)
class ModelColumns:
    """The columns a model reads, by role.

    Attributes
    ----------
    used : list of str          data columns of the formula (R's ``all.vars``)
    weights, offset : str or None   names of the prior-weights and offset columns
    groups : list of str        grouping factors of the random terms ("g", "a:b"), distinct
    """

    used: list[str]
    weights: str | None
    offset: str | None
    groups: list[str]

    @property
    def read(self) -> list[str]:
        """Every column to read from the data."""
        extra = [c for c in (self.weights, self.offset) if c is not None and c not in self.used]
        return list(self.used) + extra

    @property
    def group_parts(self) -> list[str]:
        return list(dict.fromkeys(p for g in self.groups for p in split_group(g)))


def split_group(group: str) -> list[str]:
    return [p.strip() for p in group.split(":")]


def column_kind(series: pd.Series) -> str:
    """``"numeric"``, ``"bool"`` or ``"factor"`` (categorical, string, object)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "factor"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "factor"


def complete_rows(frame: pd.DataFrame, cols: ModelColumns) -> pd.DataFrame:
    """The rows lme4's ``na.omit`` keeps: no NA in a used column, the weights or the offset."""
    extra = [None if c is None else frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
             for c in (cols.weights, cols.offset)]
    keep = _drop_missing(frame, cols.used, extra)
    return frame if keep.all() else frame.loc[keep]


@dataclass
class ChunkSummary:
    """What the first pass learns from some chunks (merge with ``+``).

    ``categories[c]`` is the first chunk's tuple of categories when every chunk seen holds ``c``
    as a categorical with the same set of categories, ``None`` otherwise.
    """

    n_rows: int = 0
    n_dropped: int = 0
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (kind, where seen)
    categories: dict[str, tuple | None] = field(default_factory=dict)
    ordered: dict[str, bool] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    combos: dict[str, pd.DataFrame] = field(default_factory=dict)
    sample: pd.DataFrame | None = None

    def __add__(self, other: "ChunkSummary") -> "ChunkSummary":
        if other is None:
            return self
        kinds = dict(self.kinds)
        for name, (kind, where) in other.kinds.items():
            if name in kinds and kinds[name][0] != kind:
                raise DesignError(
                    f"column {name!r} is {kinds[name][0]} in {kinds[name][1]} but {kind} in {where}; "
                    "every partition must hold the same column types")
            kinds.setdefault(name, (kind, where))
        categories = {**other.categories, **self.categories}
        for c in self.categories.keys() & other.categories.keys():
            if self.categories[c] is None or other.categories[c] is None \
                    or set(self.categories[c]) != set(other.categories[c]):
                categories[c] = None
        values = {c: _union(self.values.get(c), other.values.get(c)) for c in self.values.keys() | other.values.keys()}
        combos = {g: pd.concat([f for f in (self.combos.get(g), other.combos.get(g)) if f is not None],
                               ignore_index=True).drop_duplicates(ignore_index=True)
                  for g in self.combos.keys() | other.combos.keys()}
        sample = self.sample if self.sample is not None and len(self.sample) else other.sample
        return ChunkSummary(self.n_rows + other.n_rows, self.n_dropped + other.n_dropped, kinds, categories,
                            {**other.ordered, **self.ordered}, values, combos, sample)

    __radd__ = __add__


def _union(a, b):
    if a is None or b is None:
        return a if b is None else b
    return pd.unique(np.concatenate([a, b]))


def summarise_chunk(frame: pd.DataFrame, cols: ModelColumns, where: str) -> ChunkSummary:
    """Summarise one chunk: kinds of the used columns, NA rows, the values present (after ``na.omit``)."""
    missing = [c for c in cols.read if c not in frame.columns]
    if missing:
        raise DesignError(f"column(s) {missing} not found in {where}")
    kinds = {c: (column_kind(frame[c]), where) for c in cols.read}
    kept = complete_rows(frame, cols)
    summary = ChunkSummary(n_rows=len(kept), n_dropped=len(frame) - len(kept), kinds=kinds)
    parts = cols.group_parts
    for c in cols.used:
        if kinds[c][0] == "numeric" and c not in parts:
            continue
        series = kept[c]
        if isinstance(series.dtype, pd.CategoricalDtype):
            summary.categories[c] = tuple(series.cat.categories)
            summary.ordered[c] = bool(series.cat.ordered)
            present = np.bincount(series.cat.codes.to_numpy(), minlength=len(series.cat.categories)) > 0
            summary.values[c] = np.asarray(series.cat.categories[present], dtype=object)
        else:
            summary.categories[c] = None
            summary.values[c] = pd.unique(series.to_numpy())
    for group in cols.groups:
        names = split_group(group)
        if len(names) > 1:
            summary.combos[group] = kept[names].astype(object).drop_duplicates(ignore_index=True)
    summary.sample = kept[cols.read].head(SAMPLE_ROWS)
    return summary


def _ordered_levels(name: str, summary: ChunkSummary, declared: pd.CategoricalDtype | None) -> tuple[pd.Index, bool]:
    """The levels of column ``name`` present in the data, in R's order, and whether ordered."""
    present = summary.values[name]
    if declared is not None and declared.categories is not None:
        categories = pd.Index(declared.categories)
        unseen = pd.Index(present).difference(categories)
        if len(unseen):
            raise DesignError(f"column {name!r} holds level(s) {sorted(map(str, unseen))[:10]} that are not among "
                              f"its declared categories {list(map(str, categories))[:10]}")
        ordered = bool(declared.ordered)
    elif summary.categories.get(name) is not None:
        categories, ordered = pd.Index(summary.categories[name]), summary.ordered.get(name, False)
    else:
        try:
            return pd.Index(sorted(present.tolist())), False
        except TypeError as exc:
            raise DesignError(f"column {name!r} mixes values of different types") from exc
    return categories[categories.isin(present)], ordered


@dataclass(frozen=True)
class GroupLevels:
    """Levels of a grouping factor over the whole data.

    ``parts`` are the levels of each of its columns; ``present`` the sorted combined codes
    (Σ code_i × stride_i, first column slowest) of the combinations present — R's
    ``factor(a:b)`` with unused levels dropped — or None when every code is present (one column).
    """

    parts: list[pd.Index]
    present: np.ndarray | None

    @property
    def labels(self) -> list[str]:
        if self.present is None:
            return [str(v) for v in self.parts[0]]
        out = []
        for code in self.present:
            pieces = []
            for levels in reversed(self.parts):
                code, i = divmod(int(code), len(levels))
                pieces.append(str(levels[i]))
            out.append(":".join(reversed(pieces)))
        return out

    def codes(self, frame: pd.DataFrame, names: list[str]) -> np.ndarray:
        """Level index of each row, -1 where the combination was not seen in the first pass."""
        if len(names) == 1 and self.present is None:
            return level_codes(frame[names[0]], self.parts[0])
        combined = np.zeros(len(frame), dtype=np.int64)
        unseen = np.zeros(len(frame), dtype=bool)
        for name, levels in zip(names, self.parts):
            codes = level_codes(frame[name], levels)
            unseen |= codes < 0
            combined = combined * len(levels) + codes
        if self.present is not None:
            index = np.minimum(np.searchsorted(self.present, combined), len(self.present) - 1)
            unseen |= self.present[index] != combined
            combined = index
        combined[unseen] = -1
        return combined


def level_codes(series: pd.Series, levels: pd.Index) -> np.ndarray:
    """Index of each value of ``series`` in ``levels`` (-1 if absent), through the categories when categorical."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        table = np.append(levels.get_indexer(series.cat.categories), -1)
        return table[series.cat.codes.to_numpy()]
    values = series.to_numpy()
    if values.dtype.kind in "iu" and _consecutive_integers(levels):  # integer ids 0…ℓ-1 (or a…a+ℓ-1)
        codes = values.astype(np.int64) - int(levels[0])
        codes[(codes < 0) | (codes >= len(levels))] = -1
        return codes
    return levels.get_indexer(values)


def _consecutive_integers(levels: pd.Index) -> bool:
    """The levels are the integers a, a + 1, …, a + ℓ − 1 in order (then a code is a subtraction)."""
    return (len(levels) > 0 and levels.dtype.kind in "iu" and levels.is_monotonic_increasing and levels.is_unique
            and int(levels[-1]) - int(levels[0]) == len(levels) - 1)


def global_levels(summary: ChunkSummary, cols: ModelColumns, declared: dict) -> tuple[dict, dict, dict]:
    """Levels of every factor column and grouping factor of the whole data.

    Parameters
    ----------
    summary : ChunkSummary      merged over all chunks
    declared : dict             column -> CategoricalDtype known before reading (Dask ``meta``)

    Returns
    -------
    levels : dict column -> pandas Index (R's order)
    ordered : dict column -> bool
    groups : dict grouping factor -> GroupLevels
    """
    levels, ordered = {}, {}
    for name in summary.values:
        levels[name], ordered[name] = _ordered_levels(name, summary, declared.get(name))
    groups = {}
    for group in cols.groups:
        names = split_group(group)
        parts = [levels[n] for n in names]
        if len(names) == 1:
            groups[group] = GroupLevels(parts, None)
            continue
        combos = summary.combos[group]
        combined = np.zeros(len(combos), dtype=np.int64)
        for name, part in zip(names, parts):
            combined = combined * len(part) + part.get_indexer(combos[name].to_numpy())
        groups[group] = GroupLevels(parts, np.unique(combined))
    return levels, ordered, groups
