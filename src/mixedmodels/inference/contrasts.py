"""Hypothesis matrices of the type I, II and III tests of each fixed-effect term (lmerTest).

* Type I (sequential): rows of Uᵀ from the Doolittle decomposition XᵀX = LU, for the
  columns of each term (lmerTest ``get_contrasts_type1``).
* Type II: a term contained in no other (e.g. the highest interaction) is tested marginally
  (rows of I); any other term is tested after the terms not containing it, by Doolittle on
  XᵀX with the term and the terms containing it moved last (``get_contrasts_type2_unfolded``).
* Type III: with treatment-coded X, L = (X⁺ X̄)ᵀ where X̄ is the over-parametrised design
  (full indicator coding of every term); each term's columns of L are made orthogonal to
  the columns of the terms containing it, highest order first; rows of L are then those of
  X's parameters (``extract_contrasts_type3``). Other codings (``contr.poly``) are mapped
  through X_trt⁺ X, so the hypotheses do not depend on the coding (``get_contrasts_type3``).

A term F1 is contained in F2 when F2 has all of F1's variables and more, and both have the
same numeric variables (lmerTest ``containment``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..design.fixed import _aliased_columns, _materialize
from ..design.spec import variable_prototype

__all__ = ["term_contrasts", "doolittle_upper", "zapsmall"]


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest |x|."""
    mx = np.max(np.abs(x)) if x.size else 0.0
    if not mx > 0:
        return x
    return np.round(x, max(0, digits - int(np.ceil(np.log10(mx)))))


def doolittle_upper(A: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Lᵀ of the unpivoted Doolittle LU of A (unit diagonal), entries < eps set to 0 (lmerTest)."""
    n = len(A)
    L, U = np.eye(n), np.zeros((n, n))
    for i in range(n):
        U[i] = A[i] - L[i, :i] @ U[:i]
        for j in range(i + 1, n):
            value = A[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else value / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L.T


class _TermStructure:
    """Terms (without the intercept), their X columns, variables and containment."""

    def __init__(self, fixed):
        self.fixed = fixed
        self.intercept = "(Intercept)" in fixed.terms
        self.labels = [t for t in fixed.terms if t != "(Intercept)"]
        self.columns = {label: np.flatnonzero(np.asarray(fixed.terms)[fixed.assign] == label)
                        for label in fixed.terms}
        variables = {t.label: {v.name for v in t.variables} for t in fixed._terms}
        numerics = {t.label: {v.name for v in t.variables if v.levels is None} for t in fixed._terms}
        self.contained_in = {
            a: [b for b in self.labels
                if variables[a] < variables[b] and numerics[a] == numerics[b]]
            for a in self.labels
        }
        self.order = {t.label: len(t.variables) for t in fixed._terms}


def _type1(gram: np.ndarray, s: _TermStructure) -> dict[str, np.ndarray]:
    Lt = doolittle_upper(gram) if len(gram) > 1 else np.ones((1, 1))
    return {t: Lt[s.columns[t]] for t in s.labels}


def _type2(gram: np.ndarray, s: _TermStructure) -> dict[str, np.ndarray]:
    out = {}
    p = len(gram)
    for term in s.labels:
        if not s.contained_in[term]:
            out[term] = np.eye(p)[s.columns[term]]
            continue
        last = np.concatenate([s.columns[t] for t in [term] + s.contained_in[term]])
        order = np.concatenate([np.setdiff1d(np.arange(p), last), last])
        Lt = doolittle_upper(gram[np.ix_(order, order)])
        rows = np.flatnonzero(np.isin(order, s.columns[term]))
        L = np.empty((len(rows), p))
        L[:, order] = Lt[rows]
        out[term] = L
    return out


def _recode(fixed, coding: str | None):
    """The fixed terms with every factor treatment-coded (coding None) or fully indicator-coded."""
    terms = []
    for term in fixed._terms:
        variables = tuple(dataclasses.replace(v, ordered=False) for v in term.variables)
        codings = term.codings if coding is None else tuple("numeric" if c == "numeric" else coding
                                                            for c in term.codings)
        terms.append(dataclasses.replace(term, variables=variables, codings=codings))
    return tuple(terms)


def _coding_maps(fixed) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, list[str]]:
    """Treatment-coded X_trt = X_all R and over-parametrised X̄ = X_all T, with R, T from the coding alone.

    X_all is X with every column (the aliased ones included) in the fit's coding. Each column of
    X_trt and X̄ is a linear combination of X_all's columns that depends only on how the factors
    are coded, so R and T are solved on synthetic rows (:func:`variable_prototype`) where X_all
    has full column rank, and hold on any data.

    Returns R, the names and assign of X_trt's columns, T, and X̄'s names.
    """
    values = variable_prototype(fixed)
    X_all, _, _ = _materialize(fixed._terms, None, values=values)
    X_trt, names, assign = _materialize(_recode(fixed, None), None, values=values)
    over = [t for t in _recode(fixed, "indicator") if t.variables]
    if over:
        X_bar, bar_names, _ = _materialize(tuple(over), None, values=values)
    else:
        X_bar, bar_names = np.empty((len(X_all), 0)), []
    if "(Intercept)" in fixed.terms:
        X_bar, bar_names = np.column_stack([np.ones(len(X_all)), X_bar]), ["(Intercept)"] + list(bar_names)
    targets = np.column_stack([X_trt, X_bar])
    coef, *_ = np.linalg.lstsq(X_all, targets, rcond=None)
    if np.linalg.matrix_rank(X_all) < X_all.shape[1] or \
            np.abs(X_all @ coef - targets).max() > 1e-8 * max(1.0, np.abs(targets).max()):
        raise ValueError("the type III hypotheses of this fixed-effects formula cannot be formed (its terms are "
                         "not a reparametrisation of the cell means); use type=1 or type=2")
    p_trt = X_trt.shape[1]
    return coef[:, :p_trt], list(names), assign, coef[:, p_trt:], list(bar_names)


def _pinv_times(gram: np.ndarray, R: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(X_all R)⁺ (X_all B) = (RᵀGR)⁻¹ RᵀGB for G = X_allᵀX_all and X_all R of full column rank."""
    RG = R.T @ gram
    return np.linalg.solve(RG @ R, RG @ B)


def _type3(fixed, gram: np.ndarray, s: _TermStructure) -> dict[str, np.ndarray]:
    """lmerTest's type III hypotheses, from XᵀX of the data and the coding alone (no rows).

    With X_trt = X_all R (columns aliased in the data set aside: R_k), X̄ = X_all T and the fit's
    X = X_all S (S selects its columns), the pseudo-inverses of lmerTest's construction are
    X_trt⁺X̄ = (R_kᵀGR_k)⁻¹R_kᵀGT and X_trt⁺X = (R_kᵀGR_k)⁻¹R_kᵀGS, G = X_allᵀX_all.
    """
    R, names, assign, T, rd_names = _coding_maps(fixed)
    gram_trt = R.T @ gram @ R
    keep = np.setdiff1d(np.arange(R.shape[1]), _aliased_columns(_gram_root(gram_trt)))
    R, names, assign = R[:, keep], [names[j] for j in keep], assign[keep]
    labels = np.asarray(fixed.terms)[assign]
    columns = {t: np.flatnonzero(labels == t) for t in fixed.terms}
    L = zapsmall(_pinv_times(gram, R, T).T)
    for term in sorted(s.labels, key=lambda t: -s.order[t]):
        if s.contained_in[term]:
            others = np.concatenate([columns[t] for t in s.contained_in[term]])
            B = L[:, others]
            coef, *_ = np.linalg.lstsq(B, L[:, columns[term]], rcond=None)
            L[:, columns[term]] = zapsmall(L[:, columns[term]] - B @ coef)
    position = {name: i for i, name in enumerate(rd_names)}
    L = L[[position[name] for name in names]]
    S = np.eye(len(gram))[:, fixed._kept]
    mapping = zapsmall(_pinv_times(gram, R, S))
    out = {}
    for term in s.labels:
        Lt = L[:, columns[term]].T
        out[term] = Lt[np.abs(Lt).sum(axis=1) > 1e-8] @ mapping
    return out


def _gram_root(gram: np.ndarray) -> np.ndarray:
    """A matrix R' with R'ᵀR' = G (diag(√s) Vᵀ from G = V diag(s) Vᵀ): it has the column dependencies of X."""
    s, V = np.linalg.eigh(gram)
    return np.sqrt(np.clip(s, 0.0, None))[:, None] * V.T


def term_contrasts(fixed, gram: np.ndarray, type: int) -> dict[str, np.ndarray]:
    """Hypothesis matrix L (rows × p) of each fixed-effect term for an anova of ``type`` 1, 2 or 3.

    Parameters
    ----------
    fixed : FixedTemplate
        The fixed-effects columns (``fit.spec.fixed``).
    gram : ndarray (p_all, p_all)
        X_allᵀX_all of every column, aliased ones included (``fit.spec.gram``).

    Computed from the template and XᵀX alone (no rows), so a fit of Parquet files or a Dask
    DataFrame gets the hypotheses of the same rows in memory.
    """
    s = _TermStructure(fixed)
    kept = gram[np.ix_(fixed._kept, fixed._kept)]
    if type == 1 or len(kept) <= 1 or len(s.labels) <= 1:
        return _type1(kept, s)
    if type == 2:
        return _type2(kept, s)
    if type == 3:
        return _type3(fixed, gram, s)
    raise ValueError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), not {type!r}")
