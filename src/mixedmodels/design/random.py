"""Random-effects terms: level codes and model columns of each ``(expr | group)``.

Term k contributes the block ``Z_k`` (n × ℓ_k p_k) of Z: row i holds the row ``z_k[i]`` of
``expr``'s model matrix in the p_k columns of level ``codes[i]``. Z is never formed; the
cross-products of :mod:`mixedmodels.blocks` are built straight from ``codes`` and ``z``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DesignError, FormulaError
from ..formula import RandomTermSpec
from .fixed import FixedDesign, FixedTemplate, build_fixed_design

__all__ = ["RandomTerm", "TermTemplate", "build_random_term", "grouping_factor", "order_terms"]


@dataclass(frozen=True)
class TermTemplate:
    """One random-effects term without rows: its grouping factor's levels and its columns' template.

    Attributes
    ----------
    spec : RandomTermSpec
        The term as written (after ``||`` and ``/`` expansion).
    name : str
        Its grouping factor's name as lme4 reports it ("Subject", "cask:batch").
    levels : list of str
        Levels of the grouping factor present in the data, in R's order.
    z_design : FixedTemplate
        How the term's columns are built from rows.
    coder : object, optional
        ``coder.codes(frame, names)``: level codes of rows (-1 for unseen levels); by default
        the levels are matched by label (:func:`grouping_factor` with ``known_levels``).
    """

    spec: RandomTermSpec
    name: str
    levels: list[str]
    z_design: FixedTemplate
    coder: object = field(default=None, repr=False, compare=False)

    @property
    def column_names(self) -> list[str]:
        return self.z_design.column_names

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_cols(self) -> int:
        return len(self.z_design.column_names)

    def template(self) -> "TermTemplate":
        """The term without rows."""
        return TermTemplate(self.spec, self.name, self.levels, self.z_design.template(), self.coder)

    def codes(self, frame: pd.DataFrame, allow_new: bool = False, where: str = "newdata") -> np.ndarray:
        """Level index of each row of ``frame``; levels not in the fit are -1 (``allow_new``) or an error.

        Raises
        ------
        DesignError
            ``frame`` holds levels the fit has not seen and ``allow_new`` is False; the message names them.
        """
        parts = [p.strip() for p in self.spec.group.split(":")]
        if self.coder is not None:
            missing = [p for p in parts if p not in frame.columns]
            if missing:
                raise FormulaError(f"grouping factor {self.spec.group!r}: no column named "
                                   f"{', '.join(map(repr, missing))} in {where}")
            codes = self.coder.codes(frame, parts)
        else:
            codes, _ = grouping_factor(self.spec.group, frame, known_levels=self.levels)
        if not allow_new and (codes < 0).any():
            unseen = frame.loc[codes < 0, parts].astype(str).drop_duplicates().head(10)
            labels = unseen.agg(":".join, axis=1).tolist()
            raise DesignError(f"new level(s) {labels} of {self.name!r} in {where}; pass allow_new_levels=True "
                              "to predict them at the population level (b = 0)")
        return codes


@dataclass(frozen=True)
class RandomTerm(TermTemplate):
    """A :class:`TermTemplate` with the rows it was built from.

    Attributes
    ----------
    codes : ndarray of int64, shape (n,)
        Level index of each row.
    z : ndarray of float64, shape (n, p_k)
        Model columns of ``expr`` (Z_k's values).
    """

    codes: np.ndarray = field(default=None, kw_only=True, repr=False)
    z: np.ndarray = field(default=None, kw_only=True, repr=False)


def _factor_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes and labels of one column taken as an R factor (categorical order kept)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categorical = column.array
    elif pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        categorical = pd.Categorical(column.to_numpy())
    else:
        categorical = pd.Categorical(column.astype(str).to_numpy())
    labels = [str(c) for c in categorical.categories.tolist()]  # tolist: no Index element access per level
    return np.asarray(categorical.codes, dtype=np.int64), labels


def grouping_factor(group: str, data: pd.DataFrame, known_levels: list[str] | None = None):
    """Codes and levels of a grouping factor ``"g"`` or interaction ``"a:b"``.

    As R's ``factor(a:b)``: levels are ``"la:lb"`` with the first factor varying slowest, and
    levels absent from the data are dropped. With ``known_levels`` (new data for prediction),
    codes index into those levels and unseen levels get code -1.

    Returns
    -------
    codes : ndarray of int64, shape (n,)
    levels : list of str
    """
    parts = [p.strip() for p in group.split(":")]
    missing = [p for p in parts if p not in data.columns]
    if missing:
        raise FormulaError(f"grouping factor {group!r}: no column named {', '.join(map(repr, missing))} in the data; "
                           f"the data have: {', '.join(map(str, data.columns))}")
    combined = np.zeros(len(data), dtype=np.int64)
    labels = [""]
    for i, part in enumerate(parts):
        codes, part_labels = _factor_codes(data[part])
        combined = combined * len(part_labels) + codes
        labels = [f"{a}:{b}" if i else b for a in labels for b in part_labels]
    if known_levels is not None:
        lookup = {label: i for i, label in enumerate(known_levels)}
        translate = np.array([lookup.get(label, -1) for label in labels], dtype=np.int64)
        return translate[combined], list(known_levels)
    present = np.flatnonzero(np.bincount(combined, minlength=len(labels)))  # the codes used, ascending
    if len(present) == len(labels):  # every level occurs: the codes stand
        return combined, labels
    remap = np.full(len(labels), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    return remap[combined], [labels[i] for i in present]


def build_random_term(spec: RandomTermSpec, data: pd.DataFrame, check_levels: bool = True,
                      functions: dict | None = None, fixed: FixedDesign | None = None) -> RandomTerm:
    """Build one term's codes and model columns from (NA-free) data.

    ``check_levels=False`` skips the level-count checks below (glmer: an observation-level
    random effect is identifiable when there is no residual variance). ``fixed``: the fixed-effects
    design of the same rows when its right-hand side is this term's expression (``(Days | Subject)``
    beside ``~ Days``); the term's columns are then its X, built once, unless X lost aliased columns.

    Raises
    ------
    DesignError
        When the grouping factor has as many levels as there are rows (lme4's
        ``check.nlev.gtreq.5``/``check.nobs.vs.nlev``: the term would be confounded with the
        residual), or when the term has at least as many random effects as observations.
    """
    codes, levels = grouping_factor(spec.group, data)
    context = f"random-effects term {spec}"
    if fixed is not None and not fixed.dropped:
        z_design = FixedDesign(list(fixed.column_names), list(fixed.terms), fixed.assign.copy(), [], fixed._terms,
                               fixed._kept.copy(), context, X=fixed.X)
    else:
        z_design = build_fixed_design(spec.expr, data, check_rank=False, context=context, functions=functions)
    if z_design.X.shape[1] == 0:
        raise FormulaError(f"random-effects term {spec} has no columns")
    n = len(data)
    if len(levels) < 2:  # lme4's mkReTrms, for lmer and glmer alike
        raise DesignError(f"grouping factor {spec.group!r} has {len(levels)} level(s) in the data; grouping "
                          "factors must have > 1 sampled level")
    if check_levels and len(levels) >= n:
        raise DesignError(
            f"number of levels of grouping factor {spec.group!r} ({len(levels)}) must be < number of "
            f"observations ({n}); each level needs more than one row"
        )
    n_effects = len(levels) * z_design.X.shape[1]
    if check_levels and z_design.X.shape[1] > 1 and n_effects >= n and not spec.separates_residual(z_design.X.shape[1]):
        raise DesignError(
            f"number of observations ({n}) <= number of random effects ({n_effects}) for term {spec}; "
            "the random-effects parameters and the residual variance are probably unidentifiable"
        )
    return RandomTerm(spec=spec, name=spec.group, levels=levels, z_design=z_design.template(), codes=codes,
                      z=np.ascontiguousarray(z_design.X, dtype=np.float64))


def order_terms(terms: list[RandomTerm]) -> list[RandomTerm]:
    """Order terms as lme4 does: by number of levels, largest first; ties keep formula order."""
    return sorted(terms, key=lambda term: -term.n_levels)
