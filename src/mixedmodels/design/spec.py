"""The model specification: everything about a model that holds no rows (lme4's ``lFormula`` minus the data).

A :class:`ModelSpec` is the same object whatever the data source: built from a data frame
(:func:`spec_of_design`) or from the first pass over chunked data (:mod:`mixedmodels.largedata`).
It holds the parsed formula, the fixed-effects template (columns, contrasts, levels, the rank
decision), each random-effects term's grouping levels and column template, the roles of weights
and offset, the number of rows used and dropped, and one summary of the data that the
hypothesis tests need: the unweighted Gram matrix X_allᵀX_all of every fixed-effects column.
Everything else a fit needs from the data is A = [Z X y]ᵀ[Z X y] (:mod:`mixedmodels.blocks`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..formula import ParsedFormula
from .fixed import FixedTemplate
from .random import TermTemplate

__all__ = ["ModelSpec", "RowSums", "spec_of_design", "variable_prototype"]

PROTOTYPE_ROWS = 20_000
"""Rows of the synthetic prototype above which level combinations are drawn at random."""


@dataclass(frozen=True)
class ModelSpec:
    """A model without its rows.

    Attributes
    ----------
    formula : ParsedFormula
    fixed : FixedTemplate          X's columns (aliased columns already set aside)
    terms : list of TermTemplate   random-effects terms in lme4's order (most levels first)
    weights, offset : str or None  what the prior weights / offset are: a column name, "a vector", or None
    nobs : int                     rows used (after ``na.omit``)
    n_dropped : int                rows dropped for missing values
    gram : ndarray (p_all, p_all)  X_allᵀX_all, unweighted, of every fixed-effects column
    xsum : ndarray (p_all,)        Σ_i x_i of every fixed-effects column
    zz : list of ndarray (p_k, p_k)  Σ_i z_i z_iᵀ of each term, unweighted
    """

    formula: ParsedFormula
    fixed: FixedTemplate
    terms: list[TermTemplate]
    weights: str | None
    offset: str | None
    nobs: int
    n_dropped: int
    gram: np.ndarray = field(repr=False)
    xsum: np.ndarray = field(repr=False)
    zz: list[np.ndarray] = field(repr=False)

    @property
    def response(self) -> str:
        return self.formula.response

    def fixed_effects_variance(self, beta: np.ndarray) -> float:
        """The sample variance of Xβ over the rows used, from the row sums alone.

        var(Xβ) = (βᵀXᵀXβ − (1ᵀXβ)²/n) / (n − 1)  (what ``var(X %*% beta)`` gives in R).
        """
        kept = self.fixed._kept
        gram, total = self.gram[np.ix_(kept, kept)], float(self.xsum[kept] @ beta)
        if self.nobs < 2:
            return 0.0
        return max(0.0, float(beta @ gram @ beta - total**2 / self.nobs) / (self.nobs - 1))

    def linear_predictor(self, frame, beta: np.ndarray, b: list[np.ndarray] | None,
                         allow_new_levels: bool = False, where: str = "newdata") -> np.ndarray:
        """Xβ (+ Zb when ``b`` is given) of the rows of ``frame`` (no offset).

        Levels of a grouping factor not seen in the fit contribute b = 0 when ``allow_new_levels``;
        otherwise they raise a :class:`~mixedmodels.errors.DesignError` naming them.
        """
        eta = self.fixed.transform(frame) @ beta
        for term, bk in zip(self.terms, b or []):
            codes = term.codes(frame, allow_new=allow_new_levels, where=where)
            known = codes >= 0
            z = term.z_design.transform(frame)
            eta[known] += np.einsum("ij,ij->i", z[known], bk[codes[known]])
        return eta

    @property
    def group_names(self) -> list[str]:
        """Names of the terms as lme4 labels them in VarCorr ("Subject", "Subject.1")."""
        seen: dict[str, int] = {}
        out = []
        for term in self.terms:
            count = seen.get(term.name, 0)
            out.append(term.name if count == 0 else f"{term.name}.{count}")
            seen[term.name] = count + 1
        return out


def _role(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else "a vector"


@dataclass(frozen=True)
class RowSums:
    """The unweighted sums over rows that the specification keeps (add with ``+``, None is zero).

    ``gram`` = Σ_i x_i x_iᵀ and ``xsum`` = Σ_i x_i over every fixed-effects column, ``zz[k]`` =
    Σ_i z_i z_iᵀ of term k.
    """

    gram: np.ndarray
    xsum: np.ndarray
    zz: list[np.ndarray]

    @classmethod
    def of_rows(cls, X_all: np.ndarray, z: list[np.ndarray]) -> "RowSums":
        return cls(X_all.T @ X_all, X_all.sum(axis=0), [term_cross_product(zk) for zk in z])

    def __add__(self, other: "RowSums | None") -> "RowSums":
        if other is None:
            return self
        return RowSums(self.gram + other.gram, self.xsum + other.xsum, [a + b for a, b in zip(self.zz, other.zz)])

    __radd__ = __add__


def spec_of_design(design, weights=None, offset=None) -> ModelSpec:
    """The :class:`ModelSpec` of an in-memory :class:`~mixedmodels.design.ModelDesign`."""
    return ModelSpec(formula=design.formula, fixed=design.fixed.template(),
                     terms=[t.template() for t in design.terms], weights=_role(weights), offset=_role(offset),
                     nobs=design.nobs, n_dropped=design.n_dropped, gram=design.fixed.gram, xsum=design.fixed.colsum,
                     zz=[term_cross_product(t.z) for t in design.terms])


def term_cross_product(z: np.ndarray) -> np.ndarray:
    """Σ_i z_i z_iᵀ of a term's columns (n × p_k, p_k small), without BLAS.

    A 1 × n by n × 1 product went to OpenBLAS's threaded gemm: 15–40 ms for InstEval's 73,421
    rows while another process held a core, against 0.1 ms here.
    """
    return np.einsum("ia,ib->ab", z, z)


def variable_prototype(template: FixedTemplate, seed: int = 20240607) -> dict[str, np.ndarray]:
    """Values of every variable of the fixed formula on a synthetic set of rows.

    Factors take every combination of their levels (at most :data:`PROTOTYPE_ROWS` rows; beyond,
    combinations drawn at random), numeric variables independent standard normal values. Any
    design built from the same template has full column rank on these rows, so a linear relation
    between two codings of the same terms (X_b = X_a T) found here holds on every data set:
    it depends on the coding alone, never on the data.
    """
    variables = {v.name: v for term in template._terms for v in term.variables}
    factors = [v for v in variables.values() if v.levels is not None]
    numerics = [v for v in variables.values() if v.levels is None]
    sizes = [len(v.levels) for v in factors]
    cells = int(np.prod(sizes)) if sizes else 1
    rng = np.random.default_rng(seed)
    p_all = len(template.column_names) + len(template.dropped)
    repeat = max(2, -(-4 * p_all // cells)) if numerics else 1
    if cells * repeat <= PROTOTYPE_ROWS:
        combos = np.array(list(itertools.product(*(range(k) for k in sizes))), dtype=np.int64).reshape(cells, -1)
        combos = np.repeat(combos, repeat, axis=0)
    else:
        combos = np.column_stack([rng.integers(0, k, PROTOTYPE_ROWS) for k in sizes]).astype(np.int64)
    n = len(combos)
    values = {v.name: combos[:, j] for j, v in enumerate(factors)}
    values.update({v.name: rng.standard_normal(n) for v in numerics})
    return values
