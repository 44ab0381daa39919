"""Hypothesis matrices of the type II and III F tests of an mmrm fit, as R's mmrm builds them for
``car::Anova`` (``h_type2_contrast``, ``h_type3_contrasts``).

The F statistic of a term depends only on the row space of its L, but mmrm's multi-row
Satterthwaite df (``df_md``: an eigen-decomposition of LΦLᵀ) depends on the rows themselves, so
the rows are built exactly as mmrm builds them:

* Type III: every factor re-coded with ``contr.sum`` (X_sum); L_T = the rows of term T of
  X_sum⁺ X, i.e. the hypothesis "T's sum-to-zero coefficients vanish" in X's own coding.
* Type II: for term T with columns c, L has the identity on c and, on the columns of every term
  T' that contains T (with only factors added), (x_cᵀ M x_c)⁻¹ x_cᵀ M x_{T'}, M = I − x₀(x₀ᵀx₀)⁺x₀ᵀ
  the projection off all other columns x₀. Without an intercept the first term with a factor holds
  it: its first row is subtracted from the others and one row is dropped.

Entries below √ε are set to zero, as mmrm does.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..design.fixed import _materialize

__all__ = ["mmrm_contrasts"]

_TOL = np.sqrt(np.finfo(float).eps)


def _term_info(fixed):
    labels = [t.label for t in fixed._terms if t.variables]
    variables = {t.label: {v.name for v in t.variables} for t in fixed._terms}
    factors = {t.label: {v.name for v in t.variables if v.levels is not None} for t in fixed._terms}
    columns = {label: np.flatnonzero(np.asarray(fixed.terms)[fixed.assign] == label) for label in fixed.terms}
    return labels, variables, factors, columns


def _type3(fixed, frame) -> dict[str, np.ndarray]:
    terms = tuple(dataclasses.replace(t, codings=tuple("sum" if c == "contrast" else c for c in t.codings))
                  for t in fixed._terms)
    X_sum, _, assign = _materialize(terms, frame)
    X_sum = X_sum[:, fixed._kept] if fixed._kept is not None else X_sum
    assign = assign[fixed._kept] if fixed._kept is not None else assign
    correction = np.linalg.solve(X_sum.T @ X_sum, X_sum.T @ fixed.X)
    correction[np.abs(correction) < _TOL] = 0.0
    labels = [t.label for t in fixed._terms]
    return {label: correction[assign == t] for t, label in enumerate(labels) if label != "(Intercept)"}


def _type2(fixed) -> dict[str, np.ndarray]:
    X = fixed.X
    labels, variables, factors, columns = _term_info(fixed)
    intercept = "(Intercept)" in fixed.terms
    first_factor_term = next((t for t in labels if factors[t]), None)
    out = {}
    for effect in labels:
        cols = columns[effect]
        holds_intercept = not intercept and factors[effect] and effect == first_factor_term
        n_rows = len(cols) - int(holds_intercept)
        L = np.zeros((n_rows, X.shape[1]))
        if n_rows == 0:
            out[effect] = L
            continue
        L[:, cols] = np.column_stack([np.eye(n_rows), -np.ones(n_rows)]) if holds_intercept else np.eye(n_rows)
        for other in labels:
            added = variables[other] - variables[effect]
            if other == effect or not variables[effect] <= variables[other] or not added <= factors[other]:
                continue
            current = columns[other]
            rest = np.setdiff1d(np.arange(X.shape[1]), np.r_[cols, current])
            x0, x1, x2 = X[:, rest], X[:, cols], X[:, current]
            project = lambda a: a - x0 @ (np.linalg.pinv(x0.T @ x0) @ (x0.T @ a))  # noqa: E731  M a
            m_x1 = project(x1)
            ret = np.linalg.solve(x1.T @ m_x1, m_x1.T @ x2)
            L[:, current] = ret[1:] - ret[0] if holds_intercept else ret
        L[np.abs(L) < _TOL] = 0.0
        out[effect] = L
    return out


def mmrm_contrasts(fit, type: int) -> dict[str, np.ndarray]:
    """L (rows × p) of each fixed-effect term for mmrm's ``car::Anova`` of ``type`` 2 or 3."""
    fixed = fit.design.fixed
    if type == 3:
        return _type3(fixed, fit.design.frame)
    if type == 2:
        return _type2(fixed)
    raise ValueError(f"mmrm's Anova has type 2 (II) or 3 (III), not {type!r}")
