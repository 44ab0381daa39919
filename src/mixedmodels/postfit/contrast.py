"""Contrasts of estimated marginal means (R's emmeans ``contrast``, ``pairs``, ``confint``).

A contrast method gives coefficient vectors c over the k means of each ``by`` group; the contrast
c ᵀ(Kβ̂) = (cᵀK)β̂ is a linear function of β̂, so its SE and df come from the same machinery as the
means (Kenward–Roger, Satterthwaite or asymptotic). Methods (emmeans' ``*.emmc``) and their
default adjustments:

=============== ============================================ ==========
method          contrasts                                     adjust
=============== ============================================ ==========
"pairwise"      μ_i − μ_j, i < j                              "tukey"
"revpairwise"   μ_j − μ_i, i < j                              "tukey"
"trt.vs.ctrl"   μ_i − μ_ref (``ref``: level or 1-based index) "dunnettx"
"consec"        μ_{i+1} − μ_i                                 "mvt"
"poly"          orthogonal polynomials, integer-scaled        "none"
"eff"           μ_i − mean of all                             "fdr"
dict            {name: weights}                               "none"
=============== ============================================ ==========

emmeans' default for "trt.vs.ctrl" is its "dunnettx" approximation; ``adjust="dunnett"`` (or
"mvt") gives the exact multivariate-t (Dunnett) probabilities. Labels combine the levels with
" - " (levels that look numeric are prefixed with their variable's name, levels holding
-, +, / or * are parenthesised, as emmeans does). For a GLMM with ``type="response"`` means,
logit-link contrasts are reported as odds ratios exp(cᵀη̂) and log-link ones as ratios (SE by the
delta method, tests on the log scale), as emmeans does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .adjust import adjust_p, critical_values, normalize_adjust
from .emmeans import EMMeans, consec_matrix, estimate_rows, is_mmrm, link_of, vcov_for
from .emmtable import EmmTable

__all__ = ["Contrasts", "contrast", "contrast_coefficients", "METHODS"]

METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "consec", "poly", "eff")
_DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx", "consec": "mvt",
                   "poly": "none", "eff": "fdr", "custom": "none"}
_POLY_NAMES = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]


def _poly(k: int) -> tuple[np.ndarray, list[str]]:
    """emmeans' ``poly.emmc``: R's ``poly(1:k)`` columns scaled to small integers."""
    from ..design.fixed import contr_poly

    P = contr_poly(k)[:, :min(6, k - 1)]
    out = np.empty_like(P)
    for j in range(P.shape[1]):
        con = P[:, j]
        con = con / np.min(con[con > 0.01])
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        out[:, j] = np.round(con)
    return out.T, _POLY_NAMES[:P.shape[1]]


def contrast_coefficients(method, levels: list[str], ref=None) -> tuple[np.ndarray, list[str], bool]:
    """Coefficient rows (m × k), their names and whether they are a family of pairwise comparisons."""
    k = len(levels)
    if ref is not None and method != "trt.vs.ctrl":
        raise ValueError(f"ref= applies to method 'trt.vs.ctrl' only, not {method!r}")
    if isinstance(method, dict):
        rows, names = [], []
        for name, weights in method.items():
            w = np.asarray(weights, dtype=float)
            if w.shape != (k,):
                raise ValueError(f"custom contrast {name!r} needs {k} weights (one per mean), got {len(w)}")
            rows.append(w)
            names.append(str(name))
        if not rows:
            raise ValueError("a custom contrast dict needs at least one entry")
        return np.array(rows), names, False
    if method in ("pairwise", "revpairwise"):
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)] if method == "pairwise" else \
            [(j, i) for j in range(1, k) for i in range(j)]
        C = np.zeros((len(pairs), k))
        for r, (a, b) in enumerate(pairs):
            C[r, a], C[r, b] = 1, -1
        return C, [f"{levels[a]} - {levels[b]}" for a, b in pairs], True
    if method == "trt.vs.ctrl":
        refs = [1] if ref is None else ([ref] if np.isscalar(ref) else list(ref))
        index = []
        for r in refs:
            if isinstance(r, str):
                if r not in levels:
                    raise ValueError(f"ref {r!r} is not one of the levels {levels}")
                index.append(levels.index(r))
            elif isinstance(r, (int, np.integer)) and 1 <= r <= k:
                index.append(int(r) - 1)
            else:
                raise ValueError(f"ref must be a level or a 1-based index in 1..{k}, not {r!r}")
        label = levels[index[0]] if len(index) == 1 else f"avg({','.join(levels[i] for i in index)})"
        rows, names = [], []
        for i in range(k):
            if i in index:
                continue
            c = np.zeros(k)
            c[index] = -1 / len(index)
            c[i] = 1
            rows.append(c)
            names.append(f"{levels[i]} - {label}")
        return np.array(rows), names, False
    if method == "consec":
        return consec_matrix(k), [f"{levels[i + 1]} - {levels[i]}" for i in range(k - 1)], False
    if method == "poly":
        C, names = _poly(k)
        return C, names, False
    if method == "eff":
        C = np.eye(k) - 1.0 / k
        return C, [f"{lev} effect" for lev in levels], False
    raise ValueError(f"unknown contrast method {method!r}; use one of {', '.join(METHODS)} or a dict of weights")


def _looks_numeric(labels) -> bool:
    try:
        [float(v) for v in labels]
    except ValueError:
        return False
    return True


def _level_labels(labels: pd.DataFrame, variables: list[str]) -> list[str]:
    """emmeans' level labels: values pasted with " ", numeric-looking ones prefixed with the name."""
    parts = []
    for name in variables:
        column = labels[name]
        values = [_number_label(v) if not isinstance(column.dtype, pd.CategoricalDtype) else str(v) for v in column]
        if _looks_numeric(values):
            values = [f"{name}{v}" for v in values]
        parts.append(values)
    out = [" ".join(p) for p in zip(*parts)]
    return [f"({s})" if any(ch in s for ch in "-+/*") else s for s in out]


def _number_label(value) -> str:
    """R's ``paste`` of a number (15 significant digits)."""
    text = f"{float(value):.15g}"
    return text


class Contrasts(EmmTable):
    """Contrasts of marginal means with t (or z) tests: contrast, estimate, SE, df, t.ratio, p.value.

    ``.confint(level)`` gives the intervals with the same multiplicity adjustment; ``.L`` holds
    the contrasts' linear functions of β̂ and ``.adjust`` the adjustment used.
    """

    def __init__(self, em: EMMeans, C: np.ndarray, L, labels: pd.DataFrame, by: list[str], groups: list[np.ndarray],
                 family_size: int, pairs: bool, adjust: str, method_name: str):
        self.em, self.coefficients, self.L, self.groups = em, C, L, groups
        self.family_size, self.pairs, self.method = family_size, pairs, method_name
        self.requested_adjust = adjust
        fit = em.fit
        est, se, df = estimate_rows(fit, L, em.ddf)
        self.estimates, self.se, self.df = est, se, df
        t = est / se
        self._corr = None
        p = np.empty(len(est))
        messages, used = [], adjust
        for rows in groups:
            corr = self._correlation(rows) if normalize_adjust(adjust) == "mvt" else None
            p[rows], used, notes = adjust_p(t[rows], df[rows], adjust, family_size, pairs, corr)
            messages += notes
        self.adjust = used
        self._ratio = self._ratio_scale()
        if self._ratio is not None:
            labels = labels.copy()
            names = [str(c).replace(" - ", " / ") for c in labels["contrast"].cat.categories]
            labels["contrast"] = labels["contrast"].cat.rename_categories(names)
        self.labels = labels
        frame = labels.copy()
        statistic = "z.ratio" if np.all(~np.isfinite(df)) else "t.ratio"
        name = "estimate"
        header = self._header_messages()
        if self._ratio is not None:
            name = self._ratio[0]
            frame[name], frame["SE"] = np.exp(est), np.exp(est) * se
            frame["df"], frame["null"] = df, 1.0
        else:
            frame[name], frame["SE"], frame["df"] = est, se, df
        frame[statistic], frame["p.value"] = t, p
        tail = [f"Tests are performed on the {self._ratio[1]} scale"] if self._ratio is not None else []
        notes = [m for m in messages if m.startswith("Note:")]
        lines = [m for m in messages if not m.startswith("Note:")]
        super().__init__(frame, by, name, notes + header + lines + tail)

    def _correlation(self, rows) -> np.ndarray:
        V = vcov_for(self.em.fit, self.em.ddf)
        S = self.L[rows] @ V @ self.L[rows].T
        d = np.sqrt(np.diag(S))
        return S / np.outer(d, d)

    def _ratio_scale(self):
        link = link_of(self.em.fit)
        sums = np.abs(self.coefficients.sum(axis=1)) / (1e-6 + np.abs(self.coefficients).max(axis=1))
        if link is None or self.em.type != "response" or np.any(sums > 1e-6):
            return None
        return {"logit": ("odds.ratio", "log odds ratio"), "log": ("ratio", "log")}.get(link.name)

    def _header_messages(self) -> list[str]:
        em = self.em
        out = []
        if em.averaged:
            out.append(f"Results are averaged over the levels of: {', '.join(em.averaged)}")
        link = link_of(em.fit)
        if (link is None or em.ddf != "asymptotic") and not is_mmrm(em.fit):  # emmeans names no mmrm df method
            out.append(f"Degrees-of-freedom method: {em.ddf}")
        if link is not None and self._ratio is None:
            scale = {"logit": "log odds ratio", "log": "log"}.get(link.name, link.name)
            out.append(f"Results are given on the {scale} (not the response) scale.")
        return out

    def confint(self, level: float | None = None, adjust: str | None = None) -> EmmTable:
        """Intervals estimate ± c·SE, c adjusted for multiplicity as the tests (emmeans ``confint``).

        ``level`` defaults to that of the means; ``adjust`` to the tests' (p-value-only methods such
        as holm use the Bonferroni critical value, as emmeans does).
        """
        level = self.em.level if level is None else level
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), not {level!r}")
        adjust = self.requested_adjust if adjust is None else adjust
        cv = np.empty(len(self.estimates))
        messages = []
        for rows in self.groups:
            corr = self._correlation(rows) if normalize_adjust(adjust) == "mvt" else None
            cv[rows], _, notes = critical_values(level, self.df[rows], adjust, self.family_size, self.pairs, corr)
            messages += notes
        lower, upper = self.estimates - cv * self.se, self.estimates + cv * self.se
        asymptotic = np.all(~np.isfinite(self.df))
        limits = ("asymp.LCL", "asymp.UCL") if asymptotic else ("lower.CL", "upper.CL")
        frame = self.labels.copy()
        name = "estimate"
        tail = []
        if self._ratio is not None:
            name = self._ratio[0]
            frame[name], frame["SE"] = np.exp(self.estimates), np.exp(self.estimates) * self.se
            lower, upper = np.exp(lower), np.exp(upper)
            tail = [f"Intervals are back-transformed from the {self._ratio[1]} scale"]
        else:
            frame[name], frame["SE"] = self.estimates, self.se
        frame["df"], frame[limits[0]], frame[limits[1]] = self.df, lower, upper
        notes = [m for m in messages if m.startswith("Note:")]
        lines = [m for m in messages if not m.startswith("Note:")]
        return EmmTable(frame, self.by, name, notes + self._header_messages()
                        + [f"Confidence level used: {level:g}"] + lines + tail)

    def plot(self, ax=None, level: float | None = None):
        """The contrasts with their adjusted intervals (see :func:`mixedmodels.plots.emmeans`)."""
        from ..plots import emmeans as plot_emmeans

        return plot_emmeans(self.confint(level), ax=ax)


def contrast(em: EMMeans, method="eff", adjust: str | None = None, ref=None, by=None) -> Contrasts:
    """Contrasts of marginal means within each ``by`` group (R's ``contrast(em, method, adjust, ref)``).

    Parameters
    ----------
    em : EMMeans
    method : str or dict
        One of :data:`METHODS` (module docstring) or ``{name: weights}`` with one weight per mean
        of a ``by`` group; ``"eff"`` by default, as in emmeans (``em.pairs()`` for pairwise).
    adjust : str, optional
        "tukey", "dunnettx", "dunnett" / "mvt", "sidak", "bonferroni", "holm", "hochberg",
        "fdr", "BY" or "none"; default: the method's (module docstring).
    ref : str, int or list, optional
        Reference level(s) of "trt.vs.ctrl" (a level, or a 1-based position); the first by default.
    by : str or list of str, optional
        Groups to contrast within; the means' own ``by`` by default.

    Returns
    -------
    Contrasts
    """
    if not isinstance(em, EMMeans):
        raise TypeError(f"contrast() needs marginal means from mixedmodels.emmeans(), not {type(em).__name__}")
    from .emmeans import _parse_names

    by = em.by_vars if by is None else _parse_names(by, "by")
    columns = list(em.labels.columns)
    unknown = [b for b in by if b not in columns]
    if unknown:
        raise ValueError(f"by variables {unknown} are not columns of the marginal means ({columns})")
    inner = [c for c in columns if c not in by]
    if not inner:
        raise ValueError("nothing left to contrast: every variable of the means is a by variable")
    labels = em.labels
    columns_by = [labels[b].astype(str).to_numpy() for b in by]
    keys = list(zip(*columns_by)) if by else [()] * len(labels)
    group_rows: dict[tuple, list[int]] = {}
    for i, key in enumerate(keys):
        group_rows.setdefault(key, []).append(i)
    blocks = list(group_rows.values())
    first = blocks[0]
    level_names = _level_labels(labels.iloc[first].reset_index(drop=True), inner)
    method_name = "custom" if isinstance(method, dict) else method
    C, names, pairs = contrast_coefficients(method, level_names, ref)
    adjust = _DEFAULT_ADJUST.get(method_name, "none") if adjust is None else adjust
    normalize_adjust(adjust)
    m = len(names)
    L = [C @ em.L[block] for block in blocks]
    groups = [np.arange(i * m, (i + 1) * m) for i in range(len(blocks))]
    firsts = np.repeat([block[0] for block in blocks], m)
    frame = pd.DataFrame({"contrast": np.tile(np.asarray(names, dtype=object), len(blocks))}
                         | {b: labels[b].iloc[firsts].reset_index(drop=True) for b in by})
    frame["contrast"] = pd.Categorical(frame["contrast"], categories=list(dict.fromkeys(names)))
    for b in by:
        if isinstance(labels[b].dtype, pd.CategoricalDtype):
            frame[b] = pd.Categorical(frame[b], categories=labels[b].cat.categories)
    family_size = len(first)
    return Contrasts(em, C, np.vstack(L), frame, by, groups, family_size, pairs, adjust, method_name)
